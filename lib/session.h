/*
 * session.h - the engine's connection to the service's database, with
 * the facts learnt on it, the version table's row and the migration lock
 * (internal to lib/).  The SQL versions (sqlversions.c), the KV flow of
 * `up` (up.c), the dry-run plan (plan.c), status (status.c) and the table
 * drop (droptables.c) all work on one.
 */
#ifndef KVM_SESSION_H
#define KVM_SESSION_H

#include <stdint.h>

#include "kvm/migrate.h"
#include "kvm/schema.h"
#include "db.h"

/* What the engine knows about one session. */
struct session {
	struct kvm_db *db;
	char *table;           /* "schema"."schema_migrations", quoted;
	                        * malloc'd */
	char database[256];
	char schema[256];      /* current_schema(); "" when search_path names
	                        * no schema */
	/* The version table's schema: current_schema() until the table is
	 * found in another schema of search_path (kvm_session_read_version).
	 * Every old table is read and dropped qualified with it. */
	char vschema[256];
	int64_t lock_key;
};

/* The version table as read. */
struct version_row {
	int table;             /* the table exists */
	int has;               /* it holds a row */
	uint64_t version;
	int dirty;
};

/* Call @fn, when there is one. */
void kvm_event_emit(kvm_event_fn fn, void *ctx, const struct kvm_event *ev);

/* The schema source: the versions of @dir, or the built-in ones (NULL). */
int kvm_schema_open(const char *dir, kvm_schema **out, struct kvm_error *err);

/* Connect and learn the session facts; kvm_session_close() always.
 * @cancel (NULL: none) stops a retry or a statement in progress
 * (KVM_ECANCELED, db.h). */
int kvm_session_open(struct session *s, const char *conninfo,
                     unsigned retry_ms, const volatile sig_atomic_t *cancel,
                     kvm_event_fn fn, void *ctx, struct kvm_error *err);
void kvm_session_close(struct session *s);

/* KVM_EDB when there is no current schema for a version table. */
int kvm_session_need_schema(const struct session *s, struct kvm_error *err);

/* The version table's one row; row->table 0 when there is none. */
int kvm_session_read_version(struct session *s, struct version_row *row,
                             struct kvm_error *err);

/* The session holding the migration lock, or h->pid 0 when none is seen. */
int kvm_session_find_holder(struct session *s, struct kvm_lock_holder *h,
                            struct kvm_error *err);

/* Take the session-level migration lock, waiting at most @wait_s;
 * KVM_ELOCKED names the holder; KVM_ECANCELED when the wait was canceled
 * (the session is then to be closed: the lock may have come just as the
 * cancel did). */
int kvm_session_lock(struct session *s, unsigned wait_s, kvm_event_fn fn,
                     void *ctx, struct kvm_error *err);

/* One old table of a migrator, and whether it exists. */
struct old_table {
	const char *package;   /* static strings of the registry */
	const char *name;
	int present;           /* in the version table's schema */
};

/* Every migrator's tables, in registry order, each looked up in
 * s->vschema alone (never through search_path).  *@out is malloc'd:
 * the caller frees it. */
int kvm_session_old_tables(struct session *s, struct old_table **out,
                           size_t *n, struct kvm_error *err);

/* @name qualified with s->vschema and quoted; malloc'd, free(). */
int kvm_session_qualify(struct session *s, const char *name, char **out,
                        struct kvm_error *err);

/* ROLLBACK, whatever state the session is in, a cancel included. */
void kvm_session_rollback(struct session *s);

#endif /* KVM_SESSION_H */
