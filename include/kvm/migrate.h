/*
 * kvm/migrate.h - the engine: `up` and `status` as library calls.
 *
 * The CLI (kvmigrate up, kvmigrate status) and the service's upgrade
 * command call the same functions:
 *
 *     struct kvm_up_opts o = KVM_UP_OPTS_INIT;
 *     o.conninfo = "postgresql://...";  o.on_event = print_line;
 *     rc = kvm_up(&o, &result, &err);
 *
 *     rc = kvm_status(&status_opts, &status, &err);
 *
 * The engine never prints: what a person should see while it works comes
 * through the event callback (a retry, a wait for the lock, one event per
 * SQL version), and the outcome through the result struct and the
 * struct kvm_error.
 *
 * The SQL versions and the version table.  The schema version lives in
 * golang-migrate's table, schema_migrations(version bigint primary key,
 * dirty boolean) in the connection's current schema, holding one row, so
 * a database migrated by that tool is picked up where it stands.  Each
 * pending version is applied in one transaction together with the update
 * of that row: a version is either wholly applied and recorded clean, or
 * not at all.  Transaction-control statements in a version file (BEGIN,
 * COMMIT, END, START TRANSACTION) are skipped for that reason; a file that
 * uses ROLLBACK or a two-phase command is refused.  A version table marked
 * dirty (left by another tool after a failure) is reported, never touched.
 *
 * The migration lock.  Every call that writes holds a session-level
 * advisory lock for its whole run; it dies with the session, so no reset
 * command exists or is needed.  Its key is golang-migrate's for the same
 * table (see kvm_lock_key), so kvmigrate and golang-migrate never migrate
 * one database at the same time.
 */
#ifndef KVM_MIGRATE_H
#define KVM_MIGRATE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/error.h"
#include "kvm/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Default bound on retrying a transient connection failure, in ms. */
#define KVM_DEFAULT_CONNECT_RETRY_MS 30000u

/** Default wait for the migration lock, in seconds. */
#define KVM_DEFAULT_LOCK_WAIT_S 10u

/** The name of the version table (golang-migrate's default). */
#define KVM_VERSION_TABLE "schema_migrations"

/** Longest text kept for a database target ("database 'x' on ..."). */
#define KVM_TARGET_MAX 512

/**
 * The session holding the migration lock, from pg_locks and
 * pg_stat_activity.  Strings are empty when the server does not show them
 * (a role without pg_read_all_stats sees little of other roles' sessions).
 */
struct kvm_lock_holder {
	int pid;                    /**< 0: not found (it just went away) */
	char application_name[64];
	char user[64];
	char client[64];            /**< client address, or "local" */
	char backend_start[40];     /**< session start, "2026-11-21 10:00:01+00" */
	int64_t seconds;            /**< seconds since backend_start, -1 unknown */
	char state[32];             /**< "active", "idle", ... */
};

/**
 * Describe @h in one line for messages: "pid 4242 (application_name
 * 'kvmigrate', user 'u', from local, connected since 2026-11-21 10:00:01
 * UTC, 12 s ago, state 'active')".
 */
void kvm_lock_holder_describe(const struct kvm_lock_holder *h, char *out,
                              size_t size);

/** What an event reports. */
enum kvm_event_kind {
	/** A connection attempt failed in a way that may pass; retrying. */
	KVM_EVENT_CONNECT_RETRY = 1,
	/** The migration lock is held by another session; waiting. */
	KVM_EVENT_LOCK_WAIT,
	/** One SQL version was applied and recorded. */
	KVM_EVENT_VERSION_APPLIED,
	/** Dry run: this SQL version would be applied. */
	KVM_EVENT_VERSION_PENDING,
	/** A step of the KV migration begins (name: "export", "import",
	 *  "bump", "drop"). */
	KVM_EVENT_KV_STEP,
	/** Work on one package advanced (name: the phase, "export" or
	 *  "import"; package, done, total, bytes, finished).  Sent when a
	 *  package begins, every few thousand records, and when it ends;
	 *  the receiver decides how often to show it. */
	KVM_EVENT_PROGRESS,
};

/**
 * One event.  Only the fields of its kind are set; pointers are valid
 * during the callback only.
 */
struct kvm_event {
	enum kvm_event_kind kind;
	/* KVM_EVENT_CONNECT_RETRY */
	unsigned attempt;           /**< the attempt that failed, from 1 */
	unsigned delay_ms;          /**< wait before the next attempt */
	const char *reason;         /**< libpq's reason, one line */
	/* KVM_EVENT_LOCK_WAIT */
	const struct kvm_lock_holder *holder;
	unsigned wait_s;            /**< the longest it will wait */
	/* KVM_EVENT_VERSION_* */
	uint64_t version;
	const char *name;           /**< the file name */
	uint64_t ms;                /**< time to apply, with the commit */
	unsigned statements;        /**< statements executed */
	unsigned skipped;           /**< transaction-control statements skipped */
	/* KVM_EVENT_PROGRESS (name: the phase) */
	const char *package;        /**< the package being worked on */
	uint64_t done;              /**< its records so far */
	uint64_t total;             /**< expected records; 0: not known */
	int total_exact;            /**< total is a count, not an estimate */
	uint64_t bytes;             /**< its record bytes so far */
	int finished;               /**< the package is done: done is final */
};

/** The event callback; it must not call back into the engine. */
typedef void (*kvm_event_fn)(void *ctx, const struct kvm_event *ev);

/** Options of kvm_up(). */
struct kvm_up_opts {
	/** libpq conninfo or URI; NULL: libpq's PG* variables alone. */
	const char *conninfo;
	/** Bound on connection retries in ms (0: one attempt). */
	unsigned connect_retry_ms;
	/** Directory of NNNNNN_name.up.sql files; NULL: the built-in ones. */
	const char *schema_dir;
	/** Run the KV migration after the SQL versions. */
	int kv_enabled;
	/** The KV store (LMDB file); needed with kv_enabled. */
	const char *kv_path;
	/** Change nothing; report what would be done. */
	int dry_run;
	/** Seconds to wait for the migration lock (0: fail at once). */
	unsigned lock_wait_s;
	/** With kv_enabled: drop the old tables after the version bump. */
	int drop_tables;
	/** With kv_enabled: keep the export at this path (else a temporary
	 *  file beside kv_path, removed at the end). */
	const char *keep_export;
	/** Export workers, as kvm_export_db_opts.jobs. */
	unsigned jobs;
	/** Optional cancel flag, read and never written: once non-zero (a
	 *  signal handler sets it), the run stops within a fraction of a
	 *  second wherever it is (retrying a connection, waiting for the
	 *  migration lock or a table lock, inside a SQL version, the export,
	 *  the import, the drop), cancels the statement it waits for in the
	 *  server, and fails with KVM_ECANCELED: the SQL version in progress
	 *  rolled back (those before it stay applied), the KV path and the
	 *  tables as they were.  A connection attempt in progress ends first
	 *  (at most libpq's connect_timeout, 10 s unless the conninfo or
	 *  PGCONNECT_TIMEOUT says otherwise).  Once the KV migration version
	 *  is recorded nothing is undone: a cancel of the drop returns
	 *  KVM_ECANCELED with result->drop_failed, as a failed drop does. */
	const volatile sig_atomic_t *cancel;
	/** Optional event callback and its context. */
	kvm_event_fn on_event;
	void *event_ctx;
};

#define KVM_UP_OPTS_INIT { .connect_retry_ms = KVM_DEFAULT_CONNECT_RETRY_MS, \
                           .lock_wait_s = KVM_DEFAULT_LOCK_WAIT_S }

/** How kvm_up() ended. */
enum kvm_up_outcome {
	/** Failed (the error says why); the fields say how far it got. */
	KVM_UP_FAILED = 0,
	/** SQL versions were applied; the KV migration was skipped (flag off). */
	KVM_UP_APPLIED,
	/** Nothing to apply: the schema was at the last SQL version. */
	KVM_UP_CURRENT,
	/** The database is at the KV migration version already. */
	KVM_UP_MIGRATED,
	/** Dry run: nothing was changed. */
	KVM_UP_DRY_RUN,
	/** The KV migration ran: export, import, version bump (and the old
	 *  tables dropped when asked, unless result->drop_failed). */
	KVM_UP_KV_MIGRATED,
};

/** One old table in a dry run's plan. */
struct kvm_up_plan_table {
	const char *package;    /**< static strings */
	const char *table;
	int present;            /**< in the version table's schema */
	uint64_t rows;          /**< count(*) of the table now */
	uint64_t bytes;         /**< pg_table_size, its partitions' summed */
};

/** A dry run's look at the KV migration it would run (kvm_up_result.plan). */
struct kvm_up_plan {
	int ready;                  /**< 1: filled (dry run with the KV flag) */
	size_t ntables;
	struct kvm_up_plan_table *tables;   /**< ntables entries, owned */
	char kv_state[24];          /**< what is at the KV path (status words) */
	int kv_refused;             /**< a real run would refuse the KV path */
	char *export_path;          /**< where the export would go; owned */
	int export_kept;            /**< --keep-export */
	uint64_t export_estimate;   /**< bytes, an upper bound (the tables' size) */
	uint64_t kv_estimate;       /**< bytes, an upper bound: what the KV
	                             *   target reserves for that (LMDB: 2 x +
	                             *   64 MiB) */
	uint64_t kv_free;           /**< free bytes where the store is built */
	uint64_t export_free;       /**< free bytes where the export goes */
	int enough;                 /**< both fit, by those estimates */
	int drop_tables;            /**< the old tables would be dropped */
};

/** What one package's section holds. */
struct kvm_export_db_package {
	char name[65];
	uint64_t rows;         /**< source rows read */
	uint64_t records;      /**< records written */
	uint64_t bytes;        /**< decompressed bytes of its records */
	uint64_t digest;       /**< the section digest */
	uint64_t ms;           /**< from its first query to its last record */
	unsigned units;        /**< queries run (one per split value) */
};

/** What kvm_up() did; filled on failure too, as far as it got. */
struct kvm_up_result {
	enum kvm_up_outcome outcome;
	char target[KVM_TARGET_MAX];  /**< the database, without password */
	int had_version;        /**< the database had a version before */
	uint64_t from_version;  /**< the version before (if had_version) */
	int has_version;        /**< the database has a version now */
	uint64_t version;       /**< the version now: always clean */
	uint64_t last_sql_version;
	uint64_t kv_version;    /**< the KV migration version */
	size_t applied;         /**< SQL versions applied (or pending, dry run) */
	uint64_t ms;            /**< time spent applying them */
	int kv_skipped;         /**< the KV migration was skipped: flag off */
	int version_failed;     /**< a version file failed (failed_version) */
	uint64_t failed_version;

	/* The KV migration (kv_enabled) */
	int kv_step;            /**< the step reached: enum kvm_kv_step */
	int leftovers;          /**< files of an interrupted run removed */
	int kv_replaced;        /**< a store of an interrupted run was rebuilt */
	int kv_removed;         /**< the bump failed: the new store was removed */
	int kv_published;       /**< the new store was put at the KV path (not
	                         *   in use until the version bump) */
	uint64_t kv_records;    /**< records exported and imported */
	uint64_t export_ms, import_ms;
	uint64_t export_bytes;  /**< the export file's size */
	uint64_t kv_bytes;      /**< the KV store's size */
	uint64_t export_digest;
	char migration_id[40];
	unsigned jobs;          /**< export workers used */
	size_t tables_dropped;  /**< old tables dropped by this run */
	int drop_failed;        /**< the bump is done, the drop failed */
	size_t tables_left;     /**< old tables still there */
	char tables_left_names[512]; /**< their names, ", "-separated */
	struct kvm_up_plan plan;    /**< dry run with the KV flag */
	/** Per package, as far as the export got: rows, records, bytes
	 *  and ms of the export; import_ms[i] the import of the same one. */
	size_t npackages;
	struct kvm_export_db_package *packages;   /**< npackages, owned */
	uint64_t *package_import_ms;              /**< npackages, owned */
};

/** The steps of the KV migration, in order (kvm_up_result.kv_step). */
enum kvm_kv_step {
	KVM_KV_STEP_NONE = 0,
	KVM_KV_STEP_EXPORT,     /**< writing the export file */
	KVM_KV_STEP_IMPORT,     /**< building the KV store */
	KVM_KV_STEP_BUMP,       /**< recording the KV migration version */
	KVM_KV_STEP_DROP,       /**< dropping the old tables */
	KVM_KV_STEP_DONE,
};

/**
 * The upgrade.  Connects, takes the migration lock (waiting at most
 * lock_wait_s), reads the version table, and applies every pending SQL
 * version, each in its own transaction with its version-row update.
 * Without kv_enabled it stops there and never touches kv_path.
 *
 * With kv_enabled, still holding the lock (design/kv-flow.md): removes
 * the files an interrupted run left beside kv_path, refuses a kv_path
 * kvmigrate did not create, exports the old tables (kvm_export_db), builds
 * the store (kvm_import_file, replacing a store an interrupted run left),
 * and only then records the KV migration version; with drop_tables it
 * then drops the old tables in one transaction.  A failure before the
 * bump leaves the tables, the version and any previous store as they
 * were, and the next run starts over.  A failure of the drop returns
 * KVM_EDROP: the store is live and complete, result->tables_left names
 * what is left, and kvm_drop_tables() finishes the job.
 *
 * @return 0 (result->outcome says which success);
 *         KVM_ECONNECT; KVM_ELOCKED (the message names the holder);
 *         KVM_EDIRTY; KVM_ETOONEW (message: both versions);
 *         KVM_EUNKNOWNVERSION; KVM_ESCHEMA (a version file failed: the
 *         message names the file, the line and the server's error; that
 *         version left no trace and result->version is the clean version
 *         the database is at); KVM_EDB; KVM_ENOTSUP (kv_enabled: the KV
 *         migration is not in this version; nothing was done);
 *         KVM_EOTHERDB (keep_export holds an export of another
 *         database, left as it is; nothing was done);
 *         KVM_ECANCELED (opts->cancel was set; result->version is the
 *         clean version the database is at);
 *         errno values and KVM_ESCHEMA from loading schema_dir;
 *         KVM_EINVAL; KVM_ENOMEM
 */
int kvm_up(const struct kvm_up_opts *opts, struct kvm_up_result *result,
           struct kvm_error *err);

/**
 * Free what @result owns (its packages, their import times, the plan's
 * tables and export path) and zero those fields.  kvm_up() fills @result
 * afresh, whatever it held: release it after each call.  Safe on a zeroed
 * result and twice.
 */
void kvm_up_result_release(struct kvm_up_result *result);

/** Options of kvm_drop_tables(). */
struct kvm_drop_opts {
	const char *conninfo;
	unsigned connect_retry_ms;
	unsigned lock_wait_s;
	/** The SQL schema versions in use, as kvm_up_opts.schema_dir: their
	 *  last + 1 is the KV migration version.  NULL: the built-in ones. */
	const char *schema_dir;
	/** Optional cancel flag, as in kvm_up_opts: the DROP waiting for a
	 *  table lock is canceled, and nothing is dropped. */
	const volatile sig_atomic_t *cancel;
	kvm_event_fn on_event;
	void *event_ctx;
};

#define KVM_DROP_OPTS_INIT { .connect_retry_ms = KVM_DEFAULT_CONNECT_RETRY_MS, \
                             .lock_wait_s = KVM_DEFAULT_LOCK_WAIT_S }

/**
 * Drop the old tables of a finished KV migration, in one transaction,
 * under the migration lock.  Refuses unless the schema version is the KV
 * migration version (built-in versions).  Idempotent: with the tables
 * gone it succeeds and drops nothing.
 *
 * @param[out] dropped  the number of tables dropped
 * @return 0; KVM_ESTATE when the database is not migrated (nothing is
 *         dropped); KVM_EDROP (the message has the server's reason);
 *         KVM_ECANCELED (nothing is dropped); the errors of connecting
 *         and locking
 */
int kvm_drop_tables(const struct kvm_drop_opts *opts, size_t *dropped,
                    struct kvm_error *err);

/** Options of kvm_status(). */
struct kvm_status_opts {
	const char *conninfo;
	unsigned connect_retry_ms;
	const char *schema_dir;   /**< NULL: the built-in versions */
	const char *kv_path;      /**< NULL: no KV store to look at */
	int kv_enabled;           /**< the KV flag, as the caller sees it */
	kvm_event_fn on_event;
	void *event_ctx;
};

#define KVM_STATUS_OPTS_INIT { .connect_retry_ms = KVM_DEFAULT_CONNECT_RETRY_MS }

/** Where the SQL schema stands. */
enum kvm_sql_state {
	KVM_SQL_FRESH = 1,      /**< no version recorded: nothing applied */
	KVM_SQL_BEHIND,         /**< SQL versions pending */
	KVM_SQL_CURRENT,        /**< at the last SQL version; KV migration due */
	KVM_SQL_MIGRATED,       /**< at the KV migration version */
	KVM_SQL_DIRTY,          /**< marked dirty by another tool */
	KVM_SQL_TOO_NEW,        /**< newer than this kvmigrate knows */
	KVM_SQL_UNKNOWN,        /**< a version this schema source lacks */
};

/** What is at the KV path. */
enum kvm_kv_state {
	KVM_KV_NOT_SET = 1,     /**< no KV path given */
	KVM_KV_ABSENT,          /**< nothing at the path */
	KVM_KV_PRESENT,         /**< a KV store kvmigrate created */
	KVM_KV_FOREIGN,         /**< an LMDB file without kvmigrate's metadata */
	KVM_KV_EMPTY,           /**< an empty file */
	KVM_KV_NOT_LMDB,        /**< a file that is not LMDB */
	KVM_KV_NOT_FILE,        /**< a directory or other non-file */
	KVM_KV_UNREADABLE,      /**< cannot be read (detail says why) */
};

/** Most old tables kvm_status() reports. */
#define KVM_STATUS_MAX_TABLES 64

/** The answer of kvm_status(); plain data, nothing to free. */
/** The step a status says comes next (kvm_status.next). */
enum kvm_next_step {
	KVM_NEXT_NONE = 0,      /**< nothing: done, or a state kvmigrate
	                         *   cannot go on from (dirty, too new, unknown
	                         *   version: the state says which) */
	KVM_NEXT_UP,            /**< `up`: SQL versions pending (with the KV
	                         *   flag when it is on) */
	KVM_NEXT_UP_KV,         /**< `up --kv-enabled`: the KV migration */
	KVM_NEXT_DROP_TABLES,   /**< `drop-tables`: migrated, old tables left */
};

struct kvm_status {
	char target[KVM_TARGET_MAX];
	char schema_origin[KVM_TARGET_MAX];
	enum kvm_sql_state state;
	int version_table;          /**< the version table exists */
	int has_version;            /**< it holds a version */
	uint64_t version;
	int dirty;
	uint64_t last_sql_version;
	uint64_t kv_version;
	size_t pending;             /**< SQL versions not yet applied */
	uint64_t first_pending;     /**< the first of them (if pending) */
	int kv_enabled;
	struct {
		const char *path;       /**< opts->kv_path */
		enum kvm_kv_state state;
		int has_version;        /**< state PRESENT: version recorded */
		uint64_t version;
		uint64_t size;          /**< bytes of the file */
		char detail[256];       /**< why UNREADABLE / NOT_LMDB, or "" */
	} kv;
	size_t tables;              /**< old tables known to the migrators */
	size_t tables_present;
	const char *table_name[KVM_STATUS_MAX_TABLES]; /**< static strings */
	unsigned char table_present[KVM_STATUS_MAX_TABLES];
	int64_t lock_key;
	int lock_held;              /**< another session holds the lock now */
	struct kvm_lock_holder holder;
	/** What to do next; the caller words it (with the facts above:
	 *  the state, the pending versions, the KV store, the tables). */
	enum kvm_next_step next;
};

/**
 * Where the migration stands.  Reads only: takes no lock, writes nothing,
 * and opens the KV store read-only without a lock file.
 *
 * @return 0; KVM_ECONNECT; KVM_EDB; errno values and KVM_ESCHEMA from
 *         loading schema_dir; KVM_ENOMEM
 */
int kvm_status(const struct kvm_status_opts *opts, struct kvm_status *status,
               struct kvm_error *err);

/** "fresh", "behind", "current", "migrated", "dirty", "too-new", "unknown". */
const char *kvm_sql_state_name(enum kvm_sql_state s);

/** "not-set", "absent", "present", "foreign", "empty", "not-lmdb",
 *  "not-a-file", "unreadable". */
const char *kvm_kv_state_name(enum kvm_kv_state s);

/**
 * The libraries behind the KV targets and their versions, one line each
 * ("lmdb 0.9.24"), into @out (NUL-terminated, cut at @size).
 */
void kvm_kv_versions(char *out, size_t size);

/**
 * The migration lock's key for a database, computed as golang-migrate
 * (v4, postgres driver) computes its advisory lock id:
 *
 *     CRC-32 (IEEE) of  schema "\0" table "\0" database
 *     times 1486364155, modulo 2^32
 *
 * with schema the connection's current_schema(), table
 * KVM_VERSION_TABLE and database current_database().  The lock is
 * pg_advisory_lock(key) on that bigint.
 */
int64_t kvm_lock_key(const char *database, const char *schema,
                     const char *table);

/* ------------------------------------------------------------------ */
/* Export                                                              */
/* ------------------------------------------------------------------ */

/** Most workers an export uses. */
#define KVM_EXPORT_MAX_JOBS 64
/** Workers when opts.jobs is 0: the number of cores, at most this. */
#define KVM_EXPORT_DEFAULT_JOBS_CAP 8

/** Options of kvm_export_db(). */
struct kvm_export_db_opts {
	/** libpq conninfo or URI; NULL: libpq's PG* variables alone. */
	const char *conninfo;
	/** Bound on connection retries in ms (0: one attempt). */
	unsigned connect_retry_ms;
	/** The export file to write; "-" for standard output. */
	const char *output;
	/** Package names to export, in any order (they are written in
	 *  registry order); none: every registered package. */
	const char *const *packages;
	size_t npackages;
	/** Connections reading the tables, 1..KVM_EXPORT_MAX_JOBS; 0: the
	 *  number of cores, at most KVM_EXPORT_DEFAULT_JOBS_CAP.  The file
	 *  is the same, byte for byte, whatever the number. */
	unsigned jobs;
	/** zstd level; 0: KVM_EXPORT_DEFAULT_LEVEL. */
	int level;
	/** Optional: when it becomes non-zero (a signal handler sets it) the
	 *  export stops soon, also while a query waits in the server (which
	 *  is canceled there), removes its temporary file and fails with
	 *  KVM_ECANCELED. */
	const volatile sig_atomic_t *cancel;
	/** Also read a database already at the KV migration version whose
	 *  old tables are still there (verify does). */
	int accept_migrated;
	/** Do not read the written file back: the caller reads all of it
	 *  next and checks it the same way (up's import does). */
	int no_read_back;
	/** Directory of NNNNNN_name.up.sql files (golang-migrate's layout)
	 *  the database's schema versions come from, as kvm_up_opts.schema_dir;
	 *  NULL: the built-in versions.  The database must be at the last
	 *  version of that source, and the header's kv_migration_version is
	 *  that version plus one. */
	const char *schema_dir;
	kvm_event_fn on_event;
	void *event_ctx;
};

#define KVM_EXPORT_DB_OPTS_INIT { .connect_retry_ms = KVM_DEFAULT_CONNECT_RETRY_MS }


/** What kvm_export_db() did; filled as far as it got. */
struct kvm_export_db_result {
	char target[KVM_TARGET_MAX];     /**< the database, as messages name it */
	int64_t source_version;          /**< the database's schema version */
	int64_t kv_version;              /**< the KV migration version */
	unsigned jobs;                   /**< workers used */
	size_t npackages;
	/** npackages entries, owned by the result: kvm_export_db_result_release(). */
	struct kvm_export_db_package *packages;
	uint64_t records;
	uint64_t raw_bytes;              /**< decompressed stream bytes */
	uint64_t file_bytes;             /**< bytes of the file */
	uint64_t digest;                 /**< the file digest */
	uint64_t ms;                     /**< the whole export, verify included */
	uint64_t verify_ms;              /**< re-reading the file */
	int verified;                    /**< 1: the written file was re-read */
};

/**
 * Write an export file of the database's old tables.
 *
 * Needs the database at the last SQL version of its schema source
 * (opts->schema_dir, else the built-in versions), clean.  Every package is
 * read inside one REPEATABLE READ READ ONLY transaction; workers join its
 * snapshot (pg_export_snapshot, SET TRANSACTION SNAPSHOT).  The file is
 * written under a temporary name beside the target, synced and renamed
 * (kvm/export.h), then read again in full and checked against what was
 * written before the call returns 0.  Nothing in the database changes;
 * on failure nothing exists under the target name.
 *
 * @return 0; errno values and KVM_ESCHEMA from loading schema_dir;
 *         KVM_ECONNECT, KVM_EDB; KVM_EUNKNOWNVERSION when the database
 *         is not at the last SQL version; KVM_EDIRTY; KVM_ENOTABLE;
 *         KVM_EINVAL for an unknown package; KVM_EKEYSIZE, KVM_EDANGLING,
 *         KVM_ENULL, KVM_EVALUESIZE, KVM_EORDER (the message names the
 *         table and the row);
 *         KVM_ECANCELED; a writer or reader error; an errno value.
 */
int kvm_export_db(const struct kvm_export_db_opts *opts,
                  struct kvm_export_db_result *result, struct kvm_error *err);

/** Free what @result owns (its packages); as kvm_up_result_release(). */
void kvm_export_db_result_release(struct kvm_export_db_result *result);


/* ------------------------------------------------------------------ */
/* Import                                                              */
/* ------------------------------------------------------------------ */

/** Map size when the export's size cannot be read first (standard
 *  input) and none is given. */
#define KVM_IMPORT_DEFAULT_STREAM_MAP (16ull << 30)

/** Options of kvm_import_file(). */
struct kvm_import_opts {
	/** The export file; "-" reads standard input. */
	const char *input;
	/** The KV store to create or replace: one LMDB file. */
	const char *kv_path;
	/** Replace a KV store kvmigrate created (never a foreign file). */
	int force;
	/** LMDB map size in bytes; 0: from the export's declared size. */
	uint64_t map_size;
	/** Optional cancel flag, as in kvm_export_db_opts. */
	const volatile sig_atomic_t *cancel;
	/** Optional: KVM_EVENT_PROGRESS events ("import"), per package. */
	kvm_event_fn on_event;
	void *event_ctx;
};

/** What kvm_import_file() did. */
struct kvm_import_result {
	size_t npackages;        /**< sections loaded, in file order */
	/** npackages entries, owned by the result: kvm_import_result_release(). */
	struct kvm_export_db_package *packages;
	uint64_t records;        /**< records loaded */
	uint64_t appended;       /**< of them, put with MDB_APPEND */
	int64_t kv_version;      /**< the KV migration version recorded */
	uint64_t digest;         /**< the export's file digest, recorded */
	char migration_id[40];   /**< recorded in the store */
	uint64_t map_size;       /**< the map size used */
	uint64_t kv_bytes;       /**< size of the published file */
	int replaced;            /**< 1: a previous store was replaced */
	/** 1: the new store is at kv_path, also when the call failed after
	 *  the switch (the directory's sync): then it is in place but may not
	 *  survive a crash of the machine. */
	int published;
	uint64_t ms;
};

/**
 * Build a KV store from an export file.
 *
 * The store is built in a new file beside @kv_path (".NAME.tmp.XXXXXX",
 * mode 0600) while the export is read and verified (every frame, count
 * and digest); only after the whole file checked out are the metadata
 * entries written (KV migration version, migration id, export digest),
 * the store synced, renamed over @kv_path and the directory synced.  At
 * no moment does @kv_path hold a half-built store; on failure the new
 * file is removed and @kv_path is untouched.
 *
 * An existing non-empty @kv_path is refused unless kvmigrate created it
 * (its metadata says so) and opts->force is set; a store some process
 * has open (it holds the lock of the store's lock file; the calling
 * process included) is never replaced.
 *
 * @return 0; KVM_EKVFOREIGN, KVM_EKVEXISTS, KVM_EKVBUSY; KVM_EMAPFULL
 *         (the message names the sizes and --map-size); KVM_EKV (LMDB);
 *         KVM_EKEYSIZE; KVM_EORDER (a KV entry twice, or a record at one
 *         of the metadata keys); KVM_ECORRUPT also for a header whose KV
 *         migration version is negative; any reader error;
 *         KVM_ECANCELED; an errno value.
 */
int kvm_import_file(const struct kvm_import_opts *opts,
                    struct kvm_import_result *result, struct kvm_error *err);

/** Free what @result owns (its packages); as kvm_up_result_release(). */
void kvm_import_result_release(struct kvm_import_result *result);


/* ------------------------------------------------------------------ */
/* Verify                                                              */
/* ------------------------------------------------------------------ */

/** Options of kvm_verify(). */
struct kvm_verify_opts {
	const char *conninfo;
	unsigned connect_retry_ms;
	/** The KV store. */
	const char *kv_path;
	/** An export file to compare with, or NULL. */
	const char *export_path;
	/** Compare with the old tables too, while they exist. */
	int tables;
	/** The SQL schema versions in use, as kvm_up_opts.schema_dir: the
	 *  tables are read at their last version.  NULL: the built-in ones. */
	const char *schema_dir;
	unsigned jobs;
	/** Optional cancel flag, as in kvm_export_db_opts. */
	const volatile sig_atomic_t *cancel;
	/** Optional: progress events of the fresh export ("export",
	 *  "check") and of the comparisons ("compare"). */
	kvm_event_fn on_event;
	void *event_ctx;
};

/** Differences named in a result; more are counted only. */
#define KVM_VERIFY_MAX_DIFFS 20

struct kvm_verify_diff {
	char what[16];         /**< "missing", "different" or "extra" */
	char partition[420];   /**< shown with \xNN escapes, cut at 100 bytes */
	char key[420];         /**< "" for a partition-wide difference */
	char detail[96];
};

struct kvm_verify_result {
	int export_checked;    /**< compared with the export file */
	int tables_checked;    /**< compared with the old tables */
	int tables_gone;       /**< the old tables are dropped: not compared */
	uint64_t records;      /**< source records of the last comparison */
	uint64_t store_entries; /**< data entries of the store (no metadata) */
	uint64_t differences;  /**< all differences found */
	uint64_t table_differences;
	size_t ndiffs;
	/** ndiffs entries (at most KVM_VERIFY_MAX_DIFFS), owned by the
	 *  result: kvm_verify_result_release(). */
	struct kvm_verify_diff *diffs;
	uint64_t ms;
};

/**
 * Compare a KV store with an export file and/or the old tables.
 *
 * Each source record is looked up in the store (missing, different); the
 * store's entries are counted per partition (extra).  The tables are read
 * through a fresh export beside the store, removed afterwards.  Changes
 * nothing else.
 *
 * @return 0 when equal; KVM_EMISMATCH with result->diffs naming the
 *         first differences; KVM_EOTHERDB when the export file was read
 *         from another database than the tables (nothing compared);
 *         KVM_EKV; reader and export errors; KVM_EINVAL
 *         when there is nothing to compare with (no export file, and the
 *         tables not asked for or gone)
 */
int kvm_verify(const struct kvm_verify_opts *opts, struct kvm_verify_result *result,
               struct kvm_error *err);

/** Free what @result owns (its differences); as kvm_up_result_release(). */
void kvm_verify_result_release(struct kvm_verify_result *result);


#ifdef __cplusplus
}
#endif

#endif /* KVM_MIGRATE_H */
