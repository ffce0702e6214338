/*
 * db.h - the engine's connection to PostgreSQL (internal to lib/).
 *
 *     struct kvm_db *db;
 *     kvm_db_open(&db, &opts, &err)            -- connects, with retries
 *     kvm_db_exec(db, "BEGIN", &err) ...       -- one query-and-check helper
 *     kvm_db_query(db, &res, sql, n, params, &err)
 *     kvm_db_run(db, sql, n, params, &res, &err)  -- the result, unchecked
 *     kvm_db_copy_data(db, &buf, &err) ...     -- the rows of a COPY TO STDOUT
 *     kvm_db_close(db)
 *
 * Connecting follows libpq: the conninfo (a keyword/value string or a
 * postgresql:// URI) may be NULL, and libpq's PG* variables, ~/.pgpass and
 * service files fill in what it does not say.  application_name is always
 * "kvmigrate", so the lock holder is recognisable in pg_stat_activity.
 *
 * Canceling: with opts.cancel set, every statement is sent without
 * blocking and waited for in slices of at most KVM_DB_WAIT_SLICE_MS, the
 * flag looked at in between.  Once the flag is non-zero (a signal handler
 * sets it), the statement waiting in the server (for a lock, say) is
 * canceled there (PQcancel) and the call returns KVM_ECANCELED; a call
 * made after that returns KVM_ECANCELED without sending anything, except
 * kvm_db_cleanup(), which is for the way out.  A statement the server
 * completed before the cancel reached it counts as done: a COMMIT is
 * never reported canceled when it committed.  When the server does not
 * answer the cancel within KVM_DB_CANCEL_WAIT_MS, the connection is shut
 * down, as if it were lost (PQstatus() is CONNECTION_BAD).  The retries
 * of kvm_db_open() stop too; one connection attempt in progress is not
 * interrupted (it lasts at most connect_timeout, 10 s by default).
 *
 * Every message a call leaves in a struct kvm_error is one line, names the
 * database (host, port, database, user; never the password) or the failed
 * statement, and has the password removed wherever libpq might have
 * echoed it.
 */
#ifndef KVM_DB_H
#define KVM_DB_H

#include <signal.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "kvm/error.h"
#include "kvm/migrate.h"

struct kvm_db_opts {
	/** libpq conninfo or URI; NULL or "": libpq's defaults alone. */
	const char *conninfo;
	/** Keep retrying a transient failure for this long (ms); 0: once. */
	unsigned retry_ms;
	/** Told about each retry; optional. */
	kvm_event_fn on_event;
	void *event_ctx;
	/** Optional: when *cancel becomes non-zero, the statement in progress
	 *  is canceled in the server and calls return KVM_ECANCELED (see the
	 *  top of this file).  Read, never written, with an atomic load (a
	 *  signal handler or another thread may set it); it must outlive
	 *  the connection. */
	const volatile sig_atomic_t *cancel;
};

/** The longest the flag goes unread while a statement runs (ms). */
#define KVM_DB_WAIT_SLICE_MS 100
/** How long the server has to answer a cancel before the connection is
 *  shut down (ms). */
#define KVM_DB_CANCEL_WAIT_MS 1000

struct kvm_db;

/**
 * Connect.  A failure that looks transient (no answer from the server, or
 * a server that is starting or shutting down, as PQpingParams tells) is
 * retried with growing delays for at most opts->retry_ms; one that is not
 * (authentication, no such database, a bad conninfo) fails at once.
 *
 * @return 0; KVM_ECONNECT (the message names the target and libpq's
 *         reason, and how long it retried); KVM_ECANCELED (the cancel
 *         flag was set before or between attempts); KVM_ENOMEM
 */
int kvm_db_open(struct kvm_db **out, const struct kvm_db_opts *opts,
                struct kvm_error *err);

/** Close the connection (which also releases its session locks). NULL ok. */
void kvm_db_close(struct kvm_db *db);

/** The libpq connection, owned by @db. */
PGconn *kvm_db_conn(struct kvm_db *db);

/**
 * "database 'app' on host 'h' port 5432 as user 'u'": the target for
 * messages, without the password.  Owned by @db.
 */
const char *kvm_db_target(const struct kvm_db *db);

/**
 * Replace the cancel flag (NULL: none); returns the one it replaces.  For
 * a few statements that must run after a cancel and cannot wait in the
 * server (reading the catalog, say).
 */
const volatile sig_atomic_t *kvm_db_set_cancel(struct kvm_db *db,
                                               const volatile sig_atomic_t *cancel);

/**
 * Run @sql, a command or query whose result is not needed.  It may hold
 * several statements (the simple query protocol, as PQexec).
 * @return 0; KVM_EDB with "<target>: '<what>': <server error>" where
 *         <what> is @sql shortened to one line; KVM_ECANCELED with
 *         "<target>: '<what>': canceled"
 */
int kvm_db_exec(struct kvm_db *db, const char *sql, struct kvm_error *err);

/**
 * Run @sql with @nparams text parameters, expecting rows.
 * @param[out] res  the result, freed by the caller with PQclear()
 * @return 0; KVM_EDB; KVM_ECANCELED
 */
int kvm_db_query(struct kvm_db *db, PGresult **res, const char *sql,
                 int nparams, const char *const *params, struct kvm_error *err);

/**
 * Run @sql and hand back its result whatever its status, as PQexec (with
 * @params NULL: the simple protocol, several statements allowed; the
 * result of the last, or of the one that failed) or PQexecParams would,
 * for a caller that looks at a failed result itself, or starts a COPY.
 *
 * @param[out] res  the result (PQresultStatus() tells), freed by the
 *                  caller with PQclear(); NULL unless 0 is returned
 * @return 0; KVM_ECANCELED; KVM_EDB when there is no result at all (the
 *         connection failed before the statement was sent)
 */
int kvm_db_run(struct kvm_db *db, const char *sql, int nparams,
               const char *const *params, PGresult **res, struct kvm_error *err);

/**
 * The next row of a COPY ... TO STDOUT that kvm_db_run() started
 * (PGRES_COPY_OUT), as PQgetCopyData, but waiting for it in slices, so
 * that the cancel flag is looked at.
 *
 * @param[out] buf  the row, freed by the caller with PQfreemem()
 * @return its length (> 0); 0 when the COPY ended (PQgetResult() then
 *         gives its status); KVM_EDB (the connection failed);
 *         KVM_ECANCELED (the COPY was canceled in the server, and what
 *         was on its way read and dropped)
 */
int kvm_db_copy_data(struct kvm_db *db, char **buf, struct kvm_error *err);

/**
 * Run @sql, a statement for the way out of a failure (ROLLBACK, a RESET),
 * whatever the cancel flag says, and ignore its result.  Nothing is sent
 * on a connection that is lost.
 */
void kvm_db_cleanup(struct kvm_db *db, const char *sql);

/**
 * Put the server's error of failed result @res (or of the connection when
 * @res is NULL) into @err as one line: "<primary> (SQLSTATE x); detail:
 * ...; hint: ...", password removed.  Returns @code.
 */
int kvm_db_error(struct kvm_db *db, const PGresult *res, int code,
                 struct kvm_error *err);

/** The SQLSTATE of failed result @res, or "" when there is none. */
const char *kvm_db_sqlstate(const PGresult *res);

/**
 * The SQL expression of the database's identity, as an export header's
 * source_database holds it: "NAME@SYSTEM_IDENTIFIER", or "NAME" alone
 * when the role may not call pg_control_system().
 */
#define KVM_DB_IDENTITY_SQL                                             \
	"current_database() || coalesce('@' || (SELECT "                \
	"system_identifier::text FROM pg_control_system() WHERE "       \
	"has_function_privilege('pg_control_system()', 'execute')), '')"

/**
 * The identity of the connected database (KVM_DB_IDENTITY_SQL) into @out.
 *
 * @return 0; the errors of kvm_db_query
 */
int kvm_db_identity(struct kvm_db *db, char *out, size_t size,
                    struct kvm_error *err);

/**
 * Whether two identities name the same database: the same name, and the
 * same system identifier when both carry one (a role without the
 * privilege reads the name alone).
 */
int kvm_db_same_identity(const char *a, const char *b);

/** Remove the connection's password from @msg (in place). */
void kvm_db_redact(const struct kvm_db *db, char *msg, size_t size);

/**
 * Remove from @msg whatever in @conninfo may be a password.  Exposed for
 * the tests, and for messages made before a connection exists.
 */
void kvm_db_redact_conninfo(const char *conninfo, char *msg, size_t size);

#endif /* KVM_DB_H */
