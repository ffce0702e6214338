/*
 * db.h - the engine's connection to PostgreSQL (internal to lib/).
 *
 *     struct kvm_db *db;
 *     kvm_db_open(&db, &opts, &err)            -- connects, with retries
 *     kvm_db_exec(db, "BEGIN", &err) ...       -- one query-and-check helper
 *     kvm_db_query(db, &res, sql, n, params, &err)
 *     kvm_db_close(db)
 *
 * Connecting follows libpq: the conninfo (a keyword/value string or a
 * postgresql:// URI) may be NULL, and libpq's PG* variables, ~/.pgpass and
 * service files fill in what it does not say.  application_name is always
 * "kvmigrate", so the lock holder is recognisable in pg_stat_activity.
 *
 * Every message a call leaves in a struct kvm_error is one line, names the
 * database (host, port, database, user; never the password) or the failed
 * statement, and has the password removed wherever libpq might have
 * echoed it.
 */
#ifndef KVM_DB_H
#define KVM_DB_H

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
};

struct kvm_db;

/**
 * Connect.  A failure that looks transient (no answer from the server, or
 * a server that is starting or shutting down, as PQpingParams tells) is
 * retried with growing delays for at most opts->retry_ms; one that is not
 * (authentication, no such database, a bad conninfo) fails at once.
 *
 * @return 0; KVM_ECONNECT (the message names the target and libpq's
 *         reason, and how long it retried); KVM_ENOMEM
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
 * Run @sql, a command or query whose result is not needed.
 * @return 0; KVM_EDB with "<what>: <server error>" where <what> is @sql
 *         shortened to one line
 */
int kvm_db_exec(struct kvm_db *db, const char *sql, struct kvm_error *err);

/**
 * Run @sql with @nparams text parameters, expecting rows.
 * @param[out] res  the result, freed by the caller with PQclear()
 * @return 0; KVM_EDB
 */
int kvm_db_query(struct kvm_db *db, PGresult **res, const char *sql,
                 int nparams, const char *const *params, struct kvm_error *err);

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
