/*
 * sqlsplit.h - split an SQL script into statements, as psql does.
 *
 * A schema version file (golang-migrate style, "000012_name.up.sql") is
 * applied statement by statement inside one transaction, together with
 * the update of the version table.  The splitter finds where each
 * statement begins and ends, following PostgreSQL's lexical rules the way
 * psql's lexer applies them (sqlsplit.c tells the one place where it
 * follows the server instead), and says which statements are transaction
 * control: a file written for golang-migrate may carry its own BEGIN and
 * COMMIT, which the caller skips (a COMMIT inside the file would commit
 * half a version), and ROLLBACK or two-phase commands, for which the
 * caller refuses the file.
 *
 *     struct kvm_sql_splitter sp;
 *     struct kvm_sql_stmt st;
 *
 *     kvm_sql_splitter_init(&sp, text, text_len);
 *     while ((rc = kvm_sql_next(&sp, &st, &err)) == 0)
 *         switch (st.kind): skip, refuse, or run the st.len bytes at
 *                           text + st.offset
 *     rc == KVM_END: every statement was returned
 *     otherwise rc == KVM_ESCHEMA: err.msg names the unterminated
 *                                  construct and its line
 *
 * Internal to the library; no allocation, no global state: any number of
 * splitters may run at once, in any threads.
 */
#ifndef KVM_SQLSPLIT_H
#define KVM_SQLSPLIT_H

#include <stddef.h>

#include "kvm/error.h"

/** What a statement is, as far as the caller's transaction is concerned. */
enum kvm_sql_kind {
	/** Any statement to execute (SAVEPOINT, RELEASE, SET TRANSACTION,
	 *  DO, CREATE FUNCTION, ROLLBACK TO SAVEPOINT, PREPARE name AS ...). */
	KVM_SQL_OTHER = 0,
	/** BEGIN [WORK | TRANSACTION] [modes], START TRANSACTION [modes];
	 *  not BEGIN ATOMIC, which belongs inside a function body. */
	KVM_SQL_BEGIN,
	/** COMMIT or END [WORK | TRANSACTION] [AND [NO] CHAIN];
	 *  not COMMIT PREPARED. */
	KVM_SQL_COMMIT,
	/** ROLLBACK or ABORT [WORK | TRANSACTION] [AND [NO] CHAIN]; not
	 *  ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name (that is
	 *  KVM_SQL_OTHER) and not ROLLBACK PREPARED. */
	KVM_SQL_ROLLBACK,
	/** PREPARE TRANSACTION, COMMIT PREPARED, ROLLBACK PREPARED. */
	KVM_SQL_TWOPHASE,
};

/** One statement of the script, as offsets into the caller's bytes. */
struct kvm_sql_stmt {
	/** Offset of the statement's first significant byte: whitespace,
	 *  comments and empty statements before it are skipped. */
	size_t offset;
	/** Bytes from offset up to, not including, the terminating ';' (or
	 *  the end of the script), trailing whitespace trimmed.  Comments
	 *  inside are kept, so the text may end with a "--" comment: append
	 *  nothing to it on the same line.  Never 0.  The bytes may include
	 *  NUL bytes; a caller that needs a C string checks with memchr(). */
	size_t len;
	/** 1-based line number of the byte at offset. */
	unsigned line;
	/** Told from the first words: transaction control or not. */
	enum kvm_sql_kind kind;
};

/**
 * The state of one pass over a script.
 *
 * Owned by the caller, usually on its stack; nothing is allocated.  The
 * script is not copied: it must stay valid and unchanged while the
 * splitter is used.  The fields are the splitter's own; read them, do
 * not write them.
 */
struct kvm_sql_splitter {
	const char *sql;   /**< the script, not necessarily NUL-terminated */
	size_t len;        /**< its length in bytes */
	size_t pos;        /**< offset of the first byte not yet split */
	unsigned line;     /**< 1-based line number of the byte at pos */
};

/**
 * Start splitting a script.
 *
 * @param[out] s    the splitter to set up
 * @param[in]  sql  the script: any bytes, NUL bytes included; it must
 *                  outlive @s.  NULL is taken as an empty script.
 * @param[in]  len  its length in bytes
 */
void kvm_sql_splitter_init(struct kvm_sql_splitter *s, const char *sql,
                           size_t len);

/**
 * Find the next statement.
 *
 * A statement ends at a ';' outside every string, quoted identifier,
 * dollar-quoted string and comment, outside parentheses, and outside the
 * BEGIN ... END block of an SQL-standard function body (CREATE FUNCTION
 * or PROCEDURE ... BEGIN ATOMIC).  The last statement may lack its ';'.
 * Empty statements are skipped.
 *
 * @param[in,out] s    the splitter
 * @param[out]    st   the statement, on success only; its offsets point
 *                     into the script given to kvm_sql_splitter_init()
 * @param[out]    err  details on failure; may be NULL
 * @return 0 with *st filled;
 *         KVM_END when no statement is left (*st untouched);
 *         KVM_ESCHEMA when a string, quoted identifier, dollar-quoted
 *         string or block comment is not closed before the end of the
 *         script.  The message names the construct and the line where it
 *         starts ("unterminated string starting at line 9"); the caller
 *         puts the file name in front.  The splitter stays where it was,
 *         so a further call reports the same error again;
 *         KVM_EINVAL when @s or @st is NULL, or when @s was written
 *         to (its position lies past the end of the script).
 */
int kvm_sql_next(struct kvm_sql_splitter *s, struct kvm_sql_stmt *st,
                 struct kvm_error *err);

/**
 * Short lowercase name of a kind, for messages: "statement", "begin",
 * "commit", "rollback", "two-phase command".
 *
 * @return a static string; "unknown" for a value outside the enum;
 *         never NULL.
 */
const char *kvm_sql_kind_name(enum kvm_sql_kind kind);

#endif /* KVM_SQLSPLIT_H */
