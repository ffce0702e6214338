/*
 * status.c - kvm_status(): where the migration stands, read-only.
 *
 *     schema source -> KV probe -> connect -> session facts
 *     -> read version, old tables, lock holder -> next step
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/migrate.h"
#include "kvm/migrator.h"
#include "kvm/schema.h"
#include "kvtarget.h"
#include "session.h"
#include "sqlversions.h"

const char *kvm_sql_state_name(enum kvm_sql_state s)
{
	switch (s) {
	case KVM_SQL_FRESH:    return "fresh";
	case KVM_SQL_BEHIND:   return "behind";
	case KVM_SQL_CURRENT:  return "current";
	case KVM_SQL_MIGRATED: return "migrated";
	case KVM_SQL_DIRTY:    return "dirty";
	case KVM_SQL_TOO_NEW:  return "too-new";
	case KVM_SQL_UNKNOWN:  return "unknown";
	}
	return "invalid";
}

const char *kvm_kv_state_name(enum kvm_kv_state s)
{
	switch (s) {
	case KVM_KV_NOT_SET:    return "not-set";
	case KVM_KV_ABSENT:     return "absent";
	case KVM_KV_PRESENT:    return "present";
	case KVM_KV_FOREIGN:    return "foreign";
	case KVM_KV_EMPTY:      return "empty";
	case KVM_KV_NOT_LMDB:   return "not-lmdb";
	case KVM_KV_NOT_FILE:   return "not-a-file";
	case KVM_KV_UNREADABLE: return "unreadable";
	}
	return "invalid";
}

/* Which of the migrators' tables exist in the version table's schema. */
static int read_tables(struct session *s, struct kvm_status *st,
                       struct kvm_error *err)
{
	struct old_table *t;
	size_t n;
	int rc;

	if ((rc = kvm_session_old_tables(s, &t, &n, err)) != 0)
		return rc;
	for (size_t i = 0; i < n && st->tables < KVM_STATUS_MAX_TABLES; i++) {
		st->table_name[st->tables] = t[i].name;
		st->table_present[st->tables++] = (unsigned char)t[i].present;
		st->tables_present += (size_t)t[i].present;
	}
	free(t);
	return 0;
}

/* The next step, from everything else in @st. */
static enum kvm_next_step next_step(const struct kvm_status *st)
{
	switch (st->state) {
	case KVM_SQL_FRESH:
	case KVM_SQL_BEHIND:
		return KVM_NEXT_UP;
	case KVM_SQL_CURRENT:
		return KVM_NEXT_UP_KV;
	case KVM_SQL_MIGRATED:
		return st->tables_present > 0 ? KVM_NEXT_DROP_TABLES : KVM_NEXT_NONE;
	default:
		return KVM_NEXT_NONE;
	}
}

int kvm_status(const struct kvm_status_opts *o, struct kvm_status *st,
               struct kvm_error *err)
{
	struct session s;
	struct version_row row;
	kvm_schema *sch = NULL;
	int rc;

	memset(st, 0, sizeof(*st));
	st->kv_enabled = o->kv_enabled;
	if ((rc = kvm_schema_open(o->schema_dir, &sch, err)) != 0)
		return rc;
	snprintf(st->schema_origin, sizeof(st->schema_origin), "%s",
	         kvm_schema_origin(sch));
	st->last_sql_version = kvm_schema_last(sch);
	st->kv_version = kvm_schema_kv_version(sch);
	kvm_kv_status(o->kv_path, st);
	rc = kvm_session_open(&s, o->conninfo, o->connect_retry_ms, NULL,
	                      o->on_event, o->event_ctx, err);
	if (rc != 0) {
		kvm_schema_free(sch);
		return rc;
	}
	snprintf(st->target, sizeof(st->target), "%s", kvm_db_target(s.db));
	st->lock_key = s.lock_key;
	if ((rc = kvm_session_read_version(&s, &row, err)) != 0 ||
	    (rc = read_tables(&s, st, err)) != 0 ||
	    (rc = kvm_session_find_holder(&s, &st->holder, err)) != 0)
		goto out;
	st->lock_held = st->holder.pid != 0;
	st->version_table = row.table;
	st->has_version = row.has;
	st->version = row.version;
	st->dirty = row.dirty;
	if (!row.has)
		st->state = KVM_SQL_FRESH;
	else if (row.dirty)
		st->state = KVM_SQL_DIRTY;
	else if (row.version > st->kv_version)
		st->state = KVM_SQL_TOO_NEW;
	else if (row.version == st->kv_version)
		st->state = KVM_SQL_MIGRATED;
	else if (kvm_schema_index(sch, row.version) < 0)
		st->state = KVM_SQL_UNKNOWN;
	else if (row.version == st->last_sql_version)
		st->state = KVM_SQL_CURRENT;
	else
		st->state = KVM_SQL_BEHIND;
	if (st->state == KVM_SQL_FRESH || st->state == KVM_SQL_BEHIND) {
		size_t i = kvm_sql_first_pending(sch, &row);

		st->pending = kvm_schema_count(sch) - i;
		st->first_pending = kvm_schema_get(sch, i)->version;
	}
	st->next = next_step(st);
out:
	kvm_session_close(&s);
	kvm_schema_free(sch);
	return rc;
}
