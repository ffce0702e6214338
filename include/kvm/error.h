/*
 * kvm/error.h - the one error vocabulary of libkvmigrate.
 *
 * Every library call that can fail returns an int:
 *
 *   0         success;
 *   > 0       an errno value, passed through where the cause is the
 *             operating system (ENOENT, ENOSPC, EACCES, ...), as LMDB does;
 *   < 0       one of the KVM_E* codes below.
 *
 * and fills a caller-owned struct kvm_error with the same code and a
 * one-line message that names the subject (file, table, row key, version):
 *
 *   cannot read 'export.kvm': zstd frame 3 at offset 1048601: checksum mismatch
 *
 * Messages are lowercase, carry no trailing period and no newline.  The
 * library never prints and never exits; only cmd/ talks to the terminal.
 *
 * The numeric values are pinned: they may appear in scripts and JSON
 * output.  New codes get new numbers; an existing number never changes
 * meaning.  Ranges: -1..-99 general, -100..-199 export file,
 * -200..-299 database, -300..-399 KV store, -400..-499 migration state.
 */
#ifndef KVM_ERROR_H
#define KVM_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Library error codes (negative).  See kvm_strerror() for the text. */
enum kvm_errcode {
	KVM_OK = 0,

	/* general */
	/** An argument to a library call is invalid (a bug in the caller). */
	KVM_EINVAL = -1,
	/** Memory could not be allocated. */
	KVM_ENOMEM = -2,
	/** A call was made in the wrong order (write after finish, ...). */
	KVM_ESTATE = -3,
	/** An internal consistency check failed (a bug in kvmigrate). */
	KVM_EINTERNAL = -4,
	/** Not an error: the end of a sequence was reached (for example
	 *  kvm_export_reader_next() after the verified trailer). */
	KVM_END = -5,
	/** The caller asked the work to stop (a signal); nothing was kept. */
	KVM_ECANCELED = -6,

	/* export file */
	/** The file is not a kvmigrate export (wrong zstd or header magic). */
	KVM_ENOTEXPORT = -100,
	/** The export's format version is not one this build reads. */
	KVM_EVERSION = -101,
	/** The file ends before its trailer: truncated. */
	KVM_ETRUNCATED = -102,
	/** The bytes are damaged: zstd frame or checksum error, bad msgpack,
	 *  a malformed header, section or trailer. */
	KVM_ECORRUPT = -103,
	/** A section or file digest does not match the bytes read. */
	KVM_EDIGEST = -104,
	/** A trailer's record or byte count does not match what was read. */
	KVM_ECOUNT = -105,
	/** A declared length exceeds the reader's configured cap. */
	KVM_ELIMIT = -106,
	/** There are bytes after the end of the export. */
	KVM_ETRAILING = -107,
	/** The export file was read from another database than the one
	 *  given; the message names both. */
	KVM_EOTHERDB = -108,

	/* database */
	/** A statement failed on the server; the message carries the
	 *  server's error and says which statement. */
	KVM_EDB = -200,
	/** No connection to the database could be made (after retries where
	 *  the failure looked transient). */
	KVM_ECONNECT = -201,
	/** A schema version file could not be read, split or applied; the
	 *  message names the file (and the server's error). */
	KVM_ESCHEMA = -202,

	/* KV store */
	/** The KV path holds something kvmigrate did not create; it is left
	 *  as it is. */
	KVM_EKVFOREIGN = -300,
	/** The KV path holds a store kvmigrate created; replacing it needs
	 *  --force (import) or a restarted up. */
	KVM_EKVEXISTS = -301,
	/** A process has the KV store open (a live LMDB reader). */
	KVM_EKVBUSY = -302,
	/** The LMDB map is full; the message names the sizes. */
	KVM_EMAPFULL = -303,
	/** LMDB failed; the message names the call and LMDB's reason. */
	KVM_EKV = -304,
	/** Another kvmigrate run (an up or an import) is writing a KV store in
	 *  the same directory; the message names the directory. */
	KVM_EKVLOCKED = -305,

	/* migration state */
	/** The migration lock is held by another session; the message names
	 *  the holder. */
	KVM_ELOCKED = -400,
	/** The version table is marked dirty (a version failed half-way
	 *  under another tool); the database is not touched. */
	KVM_EDIRTY = -401,
	/** The database's schema version is newer than this build knows. */
	KVM_ETOONEW = -402,
	/** The database's schema version is not one of the known versions. */
	KVM_EUNKNOWNVERSION = -403,
	/** The requested work is not part of this version of kvmigrate. */
	KVM_ENOTSUP = -404,
	/** The KV migration is done (the store is live, the version bumped)
	 *  but the old tables could not be dropped: kvmigrate drop-tables. */
	KVM_EDROP = -405,
	/** verify found the KV store different from its source. */
	KVM_EMISMATCH = -406,

	/* source rows (export) */
	/** A KV key is too long: its partition or key is longer than an
	 *  export file carries (the export; the message names the table and
	 *  the row), or its LMDB key is longer than LMDB's maximum key size
	 *  (the LMDB import; the message names the record's partition and
	 *  key). */
	KVM_EKEYSIZE = -500,
	/** A row refers to a user, group or policy that does not exist; the
	 *  message names the table and the row. */
	KVM_EDANGLING = -501,
	/** Records came out of byte order, or a KV key repeats; the message
	 *  names the table and both keys. */
	KVM_EORDER = -502,
	/** An old table the export reads does not exist. */
	KVM_ENOTABLE = -503,
	/** A row is NULL in a column its KV partition or key is made of
	 *  (a NOT NULL dropped from the old schema); the message names the
	 *  table, the column and the row. */
	KVM_ENULL = -504,
	/** A record's value is longer than an export file holds (64 MiB);
	 *  the message names the table, the row and the size. */
	KVM_EVALUESIZE = -505,
};

/** Longest message kept in a struct kvm_error, including the NUL. */
#define KVM_ERROR_MSG_MAX 1024

/**
 * Error details filled by a failing library call.
 *
 * Owned by the caller, usually on its stack; the library only writes
 * into it.  On success a call leaves it untouched.
 */
struct kvm_error {
	int  code;                     /**< same value the call returned */
	char msg[KVM_ERROR_MSG_MAX];   /**< one line, NUL-terminated */
	/** Where, for machine-readable output ("" when not known; the
	 *  message names the same things): the package, the old table and
	 *  the row's KV key (or the row, when it has no key yet), shown
	 *  printable. */
	char package[65];
	char table[64];
	char key[256];
};

/**
 * Text for a code: kvm_errcode values, or strerror() for errno values.
 *
 * @return a static string; never NULL.
 */
const char *kvm_strerror(int code);

/**
 * Symbolic name of a code, for machine-readable output: "KVM_ECORRUPT"
 * for a library code, "ENOENT" for a common errno value.
 *
 * @return a static string, or NULL for a code without a name here (a new
 *         code must be added to the table in lib/error.c).
 */
const char *kvm_errname(int code);

/**
 * Fill @err with @code and a printf-style message (truncated to fit).
 *
 * @err may be NULL (the call then does nothing).
 * @return @code, so that callers can write `return kvm_error_set(...)`.
 */
int kvm_error_set(struct kvm_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * Record where a failure was (kvm_error.package, .table, .key).  A NULL
 * argument, or a field already set by a deeper call, is left as it is.
 * kvm_error_set() clears all three.  @err may be NULL.
 */
void kvm_error_where(struct kvm_error *err, const char *package,
                     const char *table, const char *key);

/**
 * Put context in front of an existing message: "ctx: old message".
 *
 * Used when a failure propagates upward (habit: context is added on the
 * way up, never printed on the way).  @err may be NULL.
 * @return err->code (or KVM_EINVAL when @err is NULL).
 */
int kvm_error_prefix(struct kvm_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif

#endif /* KVM_ERROR_H */
