/*
 * sqlversions.c - the SQL schema versions: which are pending, whether the
 * version read is one to go on from, and applying one.
 *
 * A version is applied as
 *
 *     BEGIN
 *     [CREATE TABLE IF NOT EXISTS schema_migrations ...]   first one only
 *     each statement of the file, transaction control skipped
 *     DELETE FROM schema_migrations; INSERT (version, false)
 *     COMMIT
 *
 * and on any failure ROLLBACK: the database stays at the previous version,
 * clean.  Every pending file is split completely before the first one
 * runs (kvm_sql_check_file), so a syntax problem the splitter sees, or a
 * ROLLBACK in a file, stops the run before anything changes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/migrate.h"
#include "clock.h"
#include "session.h"
#include "sqlsplit.h"
#include "sqlversions.h"

/* The file line of 1-based character position @pos of a statement that
 * starts at @line. */
static unsigned position_line(const char *stmt, size_t len, unsigned line,
                              long pos)
{
	long chars = 0;

	for (size_t i = 0; i < len && chars < pos - 1; i++) {
		if (((unsigned char)stmt[i] & 0xC0) != 0x80)
			chars++;
		if (stmt[i] == '\n' && chars < pos - 1)
			line++;
	}
	return line;
}

/* Split the whole file; refuse what cannot run inside our transaction. */
int kvm_sql_check_file(const struct kvm_schema_version *v, unsigned *count,
                      struct kvm_error *err)
{
	struct kvm_sql_splitter sp;
	struct kvm_sql_stmt st;
	int rc;

	*count = 0;
	kvm_sql_splitter_init(&sp, v->sql, v->len);
	while ((rc = kvm_sql_next(&sp, &st, err)) == 0) {
		(*count)++;
		if (st.kind == KVM_SQL_ROLLBACK || st.kind == KVM_SQL_TWOPHASE)
			return kvm_error_set(err, KVM_ESCHEMA, "version %" PRIu64
			                     ": '%s' line %u: a version file cannot "
			                     "use %s: kvmigrate runs each version in "
			                     "one transaction with its version row",
			                     v->version, v->name, st.line,
			                     kvm_sql_kind_name(st.kind));
	}
	if (rc != KVM_END)
		return kvm_error_prefix(err, "version %" PRIu64 ": '%s'", v->version,
		                        v->name);
	return 0;
}

static int exec_statement(struct session *s, const struct kvm_schema_version *v,
                          const struct kvm_sql_stmt *st, unsigned index,
                          struct kvm_error *err)
{
	char *sql = malloc(st->len + 1);
	PGresult *res;
	ExecStatusType es;
	const char *pos;
	unsigned line = st->line;
	int rc;

	if (sql == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	memcpy(sql, v->sql + st->offset, st->len);
	sql[st->len] = '\0';
	if ((rc = kvm_db_run(s->db, sql, 0, NULL, &res, err)) != 0) {
		free(sql);
		if (rc == KVM_ECANCELED)
			return kvm_error_prefix(err, "version %" PRIu64 ": '%s' line "
			                        "%u (statement %u)", v->version,
			                        v->name, line, index);
		/* the connection was lost before the statement went out */
		kvm_error_prefix(err, "version %" PRIu64 " failed: '%s' line %u "
		                 "(statement %u)", v->version, v->name, line, index);
		return err->code = KVM_ESCHEMA;
	}
	es = PQresultStatus(res);
	if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
		PQclear(res);
		free(sql);
		return 0;
	}
	pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
	if (pos != NULL)
		line = position_line(sql, st->len, st->line, atol(pos));
	kvm_db_error(s->db, res, KVM_ESCHEMA, err);
	PQclear(res);
	free(sql);
	return kvm_error_prefix(err, "version %" PRIu64 " failed: '%s' line %u "
	                        "(statement %u)", v->version, v->name, line, index);
}

/* Apply one version with its version row, in one transaction. */
int kvm_sql_apply_version(struct session *s, const struct kvm_schema_version *v,
                         int create_table, struct kvm_event *ev,
                         struct kvm_error *err)
{
	struct kvm_sql_splitter sp;
	struct kvm_sql_stmt st;
	char sql[700];
	unsigned index = 0;
	uint64_t t0 = kvm_now_ms();
	int rc;

	/* kvm_up has split and checked the file (check_file) already */
	memset(ev, 0, sizeof(*ev));
	ev->kind = KVM_EVENT_VERSION_APPLIED;
	ev->version = v->version;
	ev->name = v->name;
	if ((rc = kvm_db_exec(s->db, "BEGIN", err)) != 0)
		return rc;
	if (create_table) {
		snprintf(sql, sizeof(sql), "CREATE TABLE IF NOT EXISTS %s (version "
		         "bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)",
		         s->table);
		if ((rc = kvm_db_exec(s->db, sql, err)) != 0)
			goto fail;
	}
	kvm_sql_splitter_init(&sp, v->sql, v->len);
	while ((rc = kvm_sql_next(&sp, &st, err)) == 0) {
		index++;
		if (st.kind == KVM_SQL_BEGIN || st.kind == KVM_SQL_COMMIT) {
			ev->skipped++;
			continue;
		}
		if ((rc = exec_statement(s, v, &st, index, err)) != 0)
			goto fail;
		ev->statements++;
	}
	if (rc != KVM_END)
		goto fail;
	snprintf(sql, sizeof(sql), "DELETE FROM %s; INSERT INTO %s (version, "
	         "dirty) VALUES (%" PRIu64 ", false)", s->table, s->table,
	         v->version);
	if ((rc = kvm_db_exec(s->db, sql, err)) != 0)
		goto fail;
	if ((rc = kvm_db_exec(s->db, "COMMIT", err)) != 0) {
		/* A cancel: not sent, or the server said it did not commit. */
		if (rc == KVM_ECANCELED) {
			kvm_error_prefix(err, "version %" PRIu64 ": '%s' at commit",
			                 v->version, v->name);
		} else {
			kvm_error_prefix(err, "version %" PRIu64 " failed at commit: "
			                 "'%s'", v->version, v->name);
			err->code = rc = KVM_ESCHEMA;
		}
		kvm_session_rollback(s);
		return rc;
	}
	ev->ms = kvm_now_ms() - t0;
	return 0;
fail:
	kvm_session_rollback(s);
	return rc;
}

/* Refuse the states no run may continue from; 0 when the version is one
 * to go on from (or none). */
int kvm_sql_check_version(const struct session *s, const kvm_schema *sch,
                         const struct version_row *row, struct kvm_error *err)
{
	const char *t = kvm_db_target(s->db);

	if (!row->has)
		return 0;
	if (row->dirty) {
		long i = kvm_schema_index(sch, row->version);
		char prev[64] = "the version before it";

		if (i > 0)
			snprintf(prev, sizeof(prev), "%" PRIu64,
			         kvm_schema_get(sch, (size_t)i - 1)->version);
		return kvm_error_set(err, KVM_EDIRTY, "%s: the version table %s is "
		                     "dirty at version %" PRIu64 ": a migration "
		                     "failed half-way under another tool, and "
		                     "kvmigrate changes nothing in that state; repair "
		                     "the schema by hand, then mark it clean with "
		                     "'UPDATE %s SET dirty = false' if version %" PRIu64
		                     " is complete, or 'UPDATE %s SET version = %s, "
		                     "dirty = false' if it is not, and run kvmigrate "
		                     "up again", t, s->table, row->version, s->table,
		                     row->version, s->table, prev);
	}
	if (row->version > kvm_schema_kv_version(sch))
		return kvm_error_set(err, KVM_ETOONEW, "%s: the database is at "
		                     "schema version %" PRIu64 ", newer than this "
		                     "kvmigrate knows (its last SQL version is %"
		                     PRIu64 " and its KV migration version %" PRIu64
		                     "); use the kvmigrate of the release that wrote "
		                     "version %" PRIu64, t, row->version,
		                     kvm_schema_last(sch), kvm_schema_kv_version(sch),
		                     row->version);
	if (row->version != kvm_schema_kv_version(sch) &&
	    kvm_schema_index(sch, row->version) < 0)
		return kvm_error_set(err, KVM_EUNKNOWNVERSION, "%s: the database is "
		                     "at schema version %" PRIu64 ", which %s does "
		                     "not have (its versions run from %" PRIu64
		                     " to %" PRIu64 "); use the schema versions the "
		                     "database was migrated with", t, row->version,
		                     kvm_schema_origin(sch),
		                     kvm_schema_get(sch, 0)->version,
		                     kvm_schema_last(sch));
	return 0;
}

/* Index of the first pending version. */
size_t kvm_sql_first_pending(const kvm_schema *sch, const struct version_row *row)
{
	return row->has ? (size_t)kvm_schema_index(sch, row->version) + 1 : 0;
}
