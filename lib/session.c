/*
 * session.c - one connection of the engine to the service's database:
 * the session facts, the version table's row, the migration lock and
 * who holds it.
 *
 *     kvm_session_open -> [kvm_session_need_schema] -> kvm_session_lock
 *     -> kvm_session_read_version ... -> kvm_session_close
 *
 * "Session facts" are current_database() and current_schema(): the
 * version table lives in the current schema (as golang-migrate keeps it),
 * and both go into the lock key.  The table's name is quoted once and
 * used qualified from then on, so a version file that changes search_path
 * cannot move it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/migrate.h"
#include "kvm/migrator.h"
#include "catalog.h"
#include "session.h"

static uint32_t crc32_ieee(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

int64_t kvm_lock_key(const char *database, const char *schema,
                     const char *table)
{
	static const char nul = '\0';
	uint32_t crc = 0;

	/* golang-migrate: strings.Join([schema, table, database], "\x00") */
	crc = crc32_ieee(crc, schema, strlen(schema));
	crc = crc32_ieee(crc, &nul, 1);
	crc = crc32_ieee(crc, table, strlen(table));
	crc = crc32_ieee(crc, &nul, 1);
	crc = crc32_ieee(crc, database, strlen(database));
	return (int64_t)(uint32_t)(crc * 1486364155u);
}

void kvm_event_emit(kvm_event_fn fn, void *ctx, const struct kvm_event *ev)
{
	if (fn != NULL)
		fn(ctx, ev);
}

int kvm_schema_open(const char *dir, kvm_schema **out, struct kvm_error *err)
{
	return dir != NULL ? kvm_schema_load_dir(out, dir, err)
	                   : kvm_schema_builtin(out, err);
}

void kvm_session_close(struct session *s)
{
	free(s->table);
	kvm_db_close(s->db);
	memset(s, 0, sizeof(*s));
}

/* Connect and learn the session facts. */
int kvm_session_open(struct session *s, const char *conninfo,
                     unsigned retry_ms, const volatile sig_atomic_t *cancel,
                     kvm_event_fn fn, void *ctx, struct kvm_error *err)
{
	struct kvm_db_opts dbo = { .conninfo = conninfo, .retry_ms = retry_ms,
	                           .on_event = fn, .event_ctx = ctx,
	                           .cancel = cancel };
	PGresult *res;
	char *schema_q;
	int rc;

	memset(s, 0, sizeof(*s));
	if ((rc = kvm_db_open(&s->db, &dbo, err)) != 0)
		return rc;
	rc = kvm_db_query(s->db, &res, "SELECT current_database(), "
	                  "current_schema()", 0, NULL, err);
	if (rc != 0)
		goto fail;
	snprintf(s->database, sizeof(s->database), "%s", PQgetvalue(res, 0, 0));
	if (!PQgetisnull(res, 0, 1))
		snprintf(s->schema, sizeof(s->schema), "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	s->lock_key = kvm_lock_key(s->database, s->schema, KVM_VERSION_TABLE);
	/* If kvmigrate is killed during a long statement, the server would
	 * otherwise run it to its end, holding the lock, before noticing; with
	 * this (PostgreSQL 14 and later) it checks the client every second,
	 * rolls back and releases the lock. */
	if (PQserverVersion(kvm_db_conn(s->db)) >= 140000 &&
	    (rc = kvm_db_exec(s->db, "SET client_connection_check_interval = "
	                      "1000", err)) != 0)
		goto fail;
	if (s->schema[0] == '\0')
		return 0;
	schema_q = PQescapeIdentifier(kvm_db_conn(s->db), s->schema,
	                              strlen(s->schema));
	if (schema_q == NULL) {
		rc = kvm_db_error(s->db, NULL, KVM_EDB, err);
		goto fail;
	}
	s->table = malloc(strlen(schema_q) + sizeof(KVM_VERSION_TABLE) + 4);
	if (s->table == NULL) {
		PQfreemem(schema_q);
		rc = kvm_error_set(err, KVM_ENOMEM, "out of memory");
		goto fail;
	}
	sprintf(s->table, "%s.\"%s\"", schema_q, KVM_VERSION_TABLE);
	snprintf(s->vschema, sizeof(s->vschema), "%s", s->schema);
	PQfreemem(schema_q);
	return 0;
fail:
	kvm_session_close(s);
	return rc;
}

/* A version table needs a schema to live in. */
int kvm_session_need_schema(const struct session *s, struct kvm_error *err)
{
	if (s->schema[0] != '\0')
		return 0;
	return kvm_error_set(err, KVM_EDB, "%s: no current schema: the "
	                     "search_path names no schema that exists, so "
	                     "there is no place for the version table",
	                     kvm_db_target(s->db));
}

int kvm_session_read_version(struct session *s, struct version_row *row,
                             struct kvm_error *err)
{
	struct kvm_catalog_version cv;
	char *table;
	int rc;

	memset(row, 0, sizeof(*row));
	if (s->table == NULL)
		return 0;
	if ((rc = kvm_catalog_read_version(s->db, &cv, err)) != 0)
		return rc;
	if (!cv.exists)
		return 0;
	/* Where the server finds the table (the first schema of search_path
	 * that holds it), the export reads it too: from now on every name
	 * is qualified with that schema. */
	if (strcmp(cv.schema, s->vschema) != 0) {
		if ((rc = kvm_catalog_quote(s->db, cv.schema, KVM_VERSION_TABLE,
		                            &table, err)) != 0)
			return rc;
		free(s->table);
		s->table = table;
		snprintf(s->vschema, sizeof(s->vschema), "%s", cv.schema);
	}
	row->table = 1;
	row->has = cv.has_row;
	row->version = cv.version;
	row->dirty = cv.dirty;
	return 0;
}

/* The session holding the lock, or holder->pid 0 when none is seen. */
int kvm_session_find_holder(struct session *s, struct kvm_lock_holder *h,
                       struct kvm_error *err)
{
	static const char sql[] =
		"SELECT a.pid, coalesce(a.application_name, ''), "
		"coalesce(a.usename::text, ''), "
		"coalesce(host(a.client_addr), CASE WHEN a.backend_start IS NULL "
		"THEN '' ELSE 'local' END), "
		"coalesce(to_char(a.backend_start AT TIME ZONE 'UTC', "
		"'YYYY-MM-DD HH24:MI:SS') || ' UTC', ''), "
		"coalesce(extract(epoch FROM now() - a.backend_start)::bigint, -1), "
		"coalesce(a.state, ''), l.pid "
		"FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
		"WHERE l.locktype = 'advisory' AND l.granted "
		"AND l.database = (SELECT oid FROM pg_database "
		"WHERE datname = current_database()) "
		"AND l.classid::bigint = ($1::bigint >> 32) "
		"AND l.objid::bigint = ($1::bigint & 4294967295) "
		"AND l.objsubid = 1 AND l.pid <> pg_backend_pid() LIMIT 1";
	char key[24];
	const char *param[1] = { key };
	PGresult *res;
	int rc;

	memset(h, 0, sizeof(*h));
	h->seconds = -1;
	snprintf(key, sizeof(key), "%" PRId64, s->lock_key);
	if ((rc = kvm_db_query(s->db, &res, sql, 1, param, err)) != 0)
		return rc;
	if (PQntuples(res) == 1) {
		h->pid = atoi(PQgetvalue(res, 0, 7));
		snprintf(h->application_name, sizeof(h->application_name), "%s",
		         PQgetvalue(res, 0, 1));
		snprintf(h->user, sizeof(h->user), "%s", PQgetvalue(res, 0, 2));
		snprintf(h->client, sizeof(h->client), "%s", PQgetvalue(res, 0, 3));
		snprintf(h->backend_start, sizeof(h->backend_start), "%s",
		         PQgetvalue(res, 0, 4));
		h->seconds = atoll(PQgetvalue(res, 0, 5));
		snprintf(h->state, sizeof(h->state), "%s", PQgetvalue(res, 0, 6));
	}
	PQclear(res);
	return 0;
}

void kvm_lock_holder_describe(const struct kvm_lock_holder *h, char *out,
                              size_t size)
{
	if (h->pid == 0) {
		snprintf(out, size, "a session that has just ended");
		return;
	}
	if (h->backend_start[0] == '\0') {
		snprintf(out, size, "pid %d (application_name '%s'; this role "
		         "may not see more of other roles' sessions)", h->pid,
		         h->application_name);
		return;
	}
	snprintf(out, size, "pid %d (application_name '%s', user '%s', from %s, "
	         "connected since %s, %" PRId64 " s ago, state '%s')", h->pid,
	         h->application_name, h->user, h->client, h->backend_start,
	         h->seconds, h->state);
}

static int locked_error(struct session *s, unsigned wait_s,
                        struct kvm_error *err)
{
	struct kvm_lock_holder h;
	char who[512];
	int rc;

	if ((rc = kvm_session_find_holder(s, &h, err)) != 0)
		return rc;
	kvm_lock_holder_describe(&h, who, sizeof(who));
	return kvm_error_set(err, KVM_ELOCKED, "%s: the migration lock (advisory "
	                     "lock %" PRId64 ") is held by %s; gave up after "
	                     "%u s", kvm_db_target(s->db), s->lock_key, who, wait_s);
}

/* Take the session-level migration lock, waiting at most @wait_s. */
int kvm_session_lock(struct session *s, unsigned wait_s, kvm_event_fn fn,
                     void *ctx, struct kvm_error *err)
{
	char key[24], sql[96];
	const char *param[1] = { key };
	struct kvm_lock_holder h;
	PGresult *res;
	int rc, got;

	snprintf(key, sizeof(key), "%" PRId64, s->lock_key);
	rc = kvm_db_query(s->db, &res, "SELECT pg_try_advisory_lock($1::bigint)",
	                  1, param, err);
	if (rc != 0)
		return rc;
	got = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (got)
		return 0;
	if (wait_s == 0)
		return locked_error(s, 0, err);
	if ((rc = kvm_session_find_holder(s, &h, err)) != 0)
		return rc;
	{
		struct kvm_event ev = { .kind = KVM_EVENT_LOCK_WAIT, .holder = &h,
		                        .wait_s = wait_s };

		kvm_event_emit(fn, ctx, &ev);
	}
	/* lock_timeout bounds the wait inside the server: the lock is granted
	 * the moment it is released, with no polling delay.  A cancel ends
	 * the wait there too (db.c). */
	snprintf(sql, sizeof(sql), "SET lock_timeout = %u", wait_s * 1000u);
	if ((rc = kvm_db_exec(s->db, sql, err)) != 0)
		return rc;
	rc = kvm_db_run(s->db, "SELECT pg_advisory_lock($1::bigint)", 1, param,
	                &res, err);
	if (rc != 0)
		return kvm_error_prefix(err, "taking the migration lock");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		int timeout = strcmp(kvm_db_sqlstate(res), "55P03") == 0;

		if (!timeout) {
			kvm_db_error(s->db, res, KVM_EDB, err);
			PQclear(res);
			return kvm_error_prefix(err, "%s: taking the migration lock",
			                        kvm_db_target(s->db));
		}
		PQclear(res);
		return locked_error(s, wait_s, err);
	}
	PQclear(res);
	return kvm_db_exec(s->db, "RESET lock_timeout", err);
}

void kvm_session_rollback(struct session *s)
{
	kvm_db_cleanup(s->db, "ROLLBACK");
}

int kvm_session_old_tables(struct session *s, struct old_table **out,
                           size_t *n, struct kvm_error *err)
{
	const char **names = NULL;
	struct old_table *t = NULL;
	int *present = NULL, rc = 0;
	size_t count = 0, i = 0;

	*out = NULL;
	*n = 0;
	for (size_t m = 0; m < kvm_migrator_count(); m++)
		for (const char *const *name = kvm_migrator_get(m)->tables; *name;
		     name++)
			count++;
	if ((t = calloc(count + 1, sizeof(*t))) == NULL ||
	    (names = calloc(count + 1, sizeof(*names))) == NULL ||
	    (present = calloc(count + 1, sizeof(*present))) == NULL) {
		rc = kvm_error_set(err, KVM_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t m = 0; m < kvm_migrator_count(); m++)
		for (const char *const *name = kvm_migrator_get(m)->tables; *name;
		     name++, i++) {
			t[i].package = kvm_migrator_get(m)->name;
			t[i].name = names[i] = *name;
		}
	/* No schema to look in: none of them can be there. */
	if (s->vschema[0] != '\0' &&
	    (rc = kvm_catalog_tables(s->db, s->vschema, names, count, present,
	                             err)) != 0)
		goto out;
	for (i = 0; i < count; i++)
		t[i].present = present[i];
	*out = t;
	*n = count;
	t = NULL;
out:
	free(t);
	free(names);
	free(present);
	return rc;
}

int kvm_session_qualify(struct session *s, const char *name, char **out,
                        struct kvm_error *err)
{
	return kvm_catalog_quote(s->db, s->vschema, name, out, err);
}
