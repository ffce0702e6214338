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
#include "kvstore.h"
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

/* Which of the migrators' tables exist in the current schema. */
static int read_tables(struct session *s, struct kvm_status *st,
                       struct kvm_error *err)
{
	for (size_t m = 0; m < kvm_migrator_count(); m++)
		for (const char *const *t = kvm_migrator_get(m)->tables; *t; t++)
			if (st->tables < KVM_STATUS_MAX_TABLES)
				st->table_name[st->tables++] = *t;
	if (s->schema[0] == '\0')
		return 0;
	for (size_t i = 0; i < st->tables; i++) {
		const char *param[2] = { s->schema, st->table_name[i] };
		PGresult *res;
		int rc;

		rc = kvm_db_query(s->db, &res, "SELECT EXISTS (SELECT 1 FROM pg_class "
		                  "c JOIN pg_namespace n ON n.oid = c.relnamespace "
		                  "WHERE n.nspname = $1 AND c.relname = $2 AND "
		                  "c.relkind IN ('r', 'p'))", 2, param, err);
		if (rc != 0)
			return rc;
		st->table_present[i] = PQgetvalue(res, 0, 0)[0] == 't';
		st->tables_present += st->table_present[i];
		PQclear(res);
	}
	return 0;
}

/* The next command and why, from everything else in @st. */
static void next_step(struct kvm_status *st, const char *table)
{
	const char *kv = st->kv_enabled ? " --kv-enabled" : "";

	switch (st->state) {
	case KVM_SQL_FRESH:
	case KVM_SQL_BEHIND:
		snprintf(st->next, sizeof(st->next), "kvmigrate up%s", kv);
		snprintf(st->reason, sizeof(st->reason), "%zu SQL version%s to "
		         "apply, from version %" PRIu64, st->pending,
		         st->pending == 1 ? "" : "s", st->first_pending);
		break;
	case KVM_SQL_CURRENT:
		snprintf(st->next, sizeof(st->next), "kvmigrate up --kv-enabled%s",
		         st->kv.path == NULL ? " --kv PATH" : "");
		if (st->kv.state == KVM_KV_PRESENT)
			snprintf(st->reason, sizeof(st->reason), "a KV migration was "
			         "interrupted before the version bump: the KV store at "
			         "the KV path is not in use, and the next run builds it "
			         "anew from the old tables");
		else
			snprintf(st->reason, sizeof(st->reason), st->kv_enabled ?
			         "the SQL schema is current; the KV migration is next" :
			         "the SQL schema is current; the KV migration runs once "
			         "the KV flag is on");
		break;
	case KVM_SQL_MIGRATED:
		if (st->tables_present > 0) {
			snprintf(st->next, sizeof(st->next), "kvmigrate drop-tables");
			snprintf(st->reason, sizeof(st->reason), "migrated to the KV "
			         "store; %zu of the old tables are still there, to be "
			         "dropped once nothing needs them", st->tables_present);
		} else {
			snprintf(st->reason, sizeof(st->reason), "nothing to do: the "
			         "metadata lives in the KV store and the old tables "
			         "are gone");
		}
		break;
	case KVM_SQL_DIRTY:
		snprintf(st->reason, sizeof(st->reason), "a migration failed "
		         "half-way under another tool: repair the schema by hand, "
		         "then mark the version clean in %s (UPDATE ... SET dirty "
		         "= false), then run kvmigrate up", table);
		break;
	case KVM_SQL_TOO_NEW:
		snprintf(st->reason, sizeof(st->reason), "the database is newer "
		         "than this kvmigrate (version %" PRIu64 " > %" PRIu64
		         "): use the kvmigrate of the release that wrote it",
		         st->version, st->kv_version);
		break;
	case KVM_SQL_UNKNOWN:
		snprintf(st->reason, sizeof(st->reason), "version %" PRIu64 " is "
		         "not in %s: use the schema versions the database was "
		         "migrated with", st->version, st->schema_origin);
		break;
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
	kvm_kv_probe(o->kv_path, st);
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
	next_step(st, s.table ? s.table : KVM_VERSION_TABLE);
out:
	kvm_session_close(&s);
	kvm_schema_free(sch);
	return rc;
}
