/*
 * migrate.c - kvm_up() and kvm_status(): the SQL versions, the version
 * table, the migration lock.
 *
 *     kvm_up:     schema source -> connect -> session facts -> lock
 *                 -> read version -> check -> apply pending versions
 *     kvm_status: schema source -> KV probe -> connect -> session facts
 *                 -> read version, old tables, lock holder -> next step
 *
 * "Session facts" are current_database() and current_schema(): the
 * version table lives in the current schema (as golang-migrate keeps it),
 * and both go into the lock key.  The table's name is quoted once and
 * used qualified from then on, so a version file that changes search_path
 * cannot move it.
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
 * runs, so a syntax problem the splitter sees, or a ROLLBACK in a file,
 * stops the run before anything changes.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "kvm/migrate.h"
#include "kvm/migrator.h"
#include "kvm/schema.h"
#include "clock.h"
#include "db.h"
#include "failpoint.h"
#include "kvstore.h"
#include "sqlsplit.h"

/* What the engine knows about one session. */
struct session {
	struct kvm_db *db;
	char *table;           /* "schema"."schema_migrations", quoted */
	char database[256];
	char schema[256];      /* "" when search_path names no schema */
	int64_t lock_key;
};

/* The version table as read. */
struct version_row {
	int table;             /* the table exists */
	int has;               /* it holds a row */
	uint64_t version;
	int dirty;
};

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

static void event(kvm_event_fn fn, void *ctx, const struct kvm_event *ev)
{
	if (fn != NULL)
		fn(ctx, ev);
}

static int load_schema(const char *dir, kvm_schema **out, struct kvm_error *err)
{
	return dir != NULL ? kvm_schema_load_dir(out, dir, err)
	                   : kvm_schema_builtin(out, err);
}

static void session_close(struct session *s)
{
	PQfreemem(s->table);
	kvm_db_close(s->db);
	memset(s, 0, sizeof(*s));
}

/* Connect and learn the session facts. */
static int session_open(struct session *s, const char *conninfo,
                        unsigned retry_ms, kvm_event_fn fn, void *ctx,
                        struct kvm_error *err)
{
	struct kvm_db_opts dbo = { .conninfo = conninfo, .retry_ms = retry_ms,
	                           .on_event = fn, .event_ctx = ctx };
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
	PQfreemem(schema_q);
	return 0;
fail:
	session_close(s);
	return rc;
}

/* A version table needs a schema to live in. */
static int need_schema(const struct session *s, struct kvm_error *err)
{
	if (s->schema[0] != '\0')
		return 0;
	return kvm_error_set(err, KVM_EDB, "%s: no current schema: the "
	                     "search_path names no schema that exists, so "
	                     "there is no place for the version table",
	                     kvm_db_target(s->db));
}

static int read_version(struct session *s, struct version_row *row,
                        struct kvm_error *err)
{
	const char *param[1] = { s->table };
	char sql[600];
	PGresult *res;
	int rc;

	memset(row, 0, sizeof(*row));
	if (s->table == NULL)
		return 0;
	rc = kvm_db_query(s->db, &res, "SELECT to_regclass($1) IS NOT NULL",
	                  1, param, err);
	if (rc != 0)
		return rc;
	row->table = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!row->table)
		return 0;
	snprintf(sql, sizeof(sql), "SELECT version, dirty, count(*) OVER () "
	         "FROM %s LIMIT 1", s->table);
	if ((rc = kvm_db_query(s->db, &res, sql, 0, NULL, err)) != 0)
		return rc;
	if (PQntuples(res) == 1) {
		const char *v = PQgetvalue(res, 0, 0);
		long long n = atoll(PQgetvalue(res, 0, 2));

		if (n > 1 || PQgetisnull(res, 0, 0) || v[0] == '-') {
			rc = kvm_error_set(err, KVM_EUNKNOWNVERSION, "%s: the version "
			                   "table %s holds %s; it must hold one row "
			                   "with a version of 0 or more", kvm_db_target(s->db),
			                   s->table, n > 1 ? "more than one row"
			                                   : "a negative or NULL version");
			PQclear(res);
			return rc;
		}
		row->has = 1;
		row->version = strtoull(v, NULL, 10);
		row->dirty = PQgetvalue(res, 0, 1)[0] == 't';
	}
	PQclear(res);
	return 0;
}

/* The session holding the lock, or holder->pid 0 when none is seen. */
static int find_holder(struct session *s, struct kvm_lock_holder *h,
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

	if ((rc = find_holder(s, &h, err)) != 0)
		return rc;
	kvm_lock_holder_describe(&h, who, sizeof(who));
	return kvm_error_set(err, KVM_ELOCKED, "%s: the migration lock (advisory "
	                     "lock %" PRId64 ") is held by %s; gave up after "
	                     "%u s", kvm_db_target(s->db), s->lock_key, who, wait_s);
}

/* Take the session-level migration lock, waiting at most @wait_s. */
static int take_lock(struct session *s, unsigned wait_s, kvm_event_fn fn,
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
	if ((rc = find_holder(s, &h, err)) != 0)
		return rc;
	{
		struct kvm_event ev = { .kind = KVM_EVENT_LOCK_WAIT, .holder = &h,
		                        .wait_s = wait_s };

		event(fn, ctx, &ev);
	}
	/* lock_timeout bounds the wait inside the server: the lock is granted
	 * the moment it is released, with no polling delay. */
	snprintf(sql, sizeof(sql), "SET lock_timeout = %u", wait_s * 1000u);
	if ((rc = kvm_db_exec(s->db, sql, err)) != 0)
		return rc;
	res = PQexecParams(kvm_db_conn(s->db), "SELECT pg_advisory_lock($1::bigint)",
	                   1, NULL, param, NULL, NULL, 0);
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
static int check_file(const struct kvm_schema_version *v, unsigned *count,
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

	if (sql == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	memcpy(sql, v->sql + st->offset, st->len);
	sql[st->len] = '\0';
	res = PQexec(kvm_db_conn(s->db), sql);
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

static void rollback(struct session *s)
{
	PGresult *res = PQexec(kvm_db_conn(s->db), "ROLLBACK");

	PQclear(res);
}

/* Apply one version with its version row, in one transaction. */
static int apply_version(struct session *s, const struct kvm_schema_version *v,
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
		kvm_error_prefix(err, "version %" PRIu64 " failed at commit: '%s'",
		                 v->version, v->name);
		err->code = KVM_ESCHEMA;
		rollback(s);
		return KVM_ESCHEMA;
	}
	ev->ms = kvm_now_ms() - t0;
	return 0;
fail:
	rollback(s);
	return rc;
}

/* Refuse the states no run may continue from; 0 when the version is one
 * to go on from (or none). */
static int check_version(const struct session *s, const kvm_schema *sch,
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

/* ------------------------------------------------------------------ */
/* The KV migration (design/kv-flow.md)                                */
/* ------------------------------------------------------------------ */

/* A path built from a directory and a file name. */
#define KV_PATH_MAX (PATH_MAX + NAME_MAX + 32)

static const char *const kv_step_names[] = {
	"", "export", "import", "bump", "drop", "done",
};

static void kv_step(const struct kvm_up_opts *o, struct kvm_up_result *r,
                    enum kvm_kv_step step)
{
	struct kvm_event ev;

	r->kv_step = step;
	memset(&ev, 0, sizeof(ev));
	ev.kind = KVM_EVENT_KV_STEP;
	ev.name = kv_step_names[step];
	event(o->on_event, o->event_ctx, &ev);
}

/* The directory and name of a path, copied. */
static void split_path(const char *path, char *dir, char *base)
{
	char a[PATH_MAX], b[PATH_MAX];

	snprintf(a, sizeof(a), "%s", path);
	snprintf(b, sizeof(b), "%s", path);
	snprintf(dir, PATH_MAX, "%s", dirname(a));
	snprintf(base, NAME_MAX + 1, "%s", basename(b));
}

/* Where a run keeps its export when no --keep-export is given: beside the
 * store, under a name the next run recognizes. */
static void temp_export_path(const char *kv_path, char *out)
{
	char dir[PATH_MAX], base[NAME_MAX + 1];

	split_path(kv_path, dir, base);
	snprintf(out, KV_PATH_MAX, "%s/.%s.export.kvm", dir, base);
}

static int starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Remove, in the directory of @path, the temporary files a killed run of
 * the export writer or the import left for @path (".NAME.tmp.*"). */
static int remove_temps_of(const char *path, int *removed, struct kvm_error *err)
{
	char dir[PATH_MAX], base[NAME_MAX + 1], prefix[NAME_MAX + 16];
	struct dirent *de;
	DIR *d;

	split_path(path, dir, base);
	snprintf(prefix, sizeof(prefix), ".%s.tmp.", base);
	if ((d = opendir(dir)) == NULL)
		return kvm_error_set(err, errno, "cannot read the directory '%s': "
		                     "%s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char full[PATH_MAX + NAME_MAX + 2];

		if (!starts_with(de->d_name, prefix))
			continue;
		snprintf(full, sizeof(full), "%s/%s", dir, de->d_name);
		if (unlink(full) == 0)
			(*removed)++;
	}
	closedir(d);
	return 0;
}

/* What an interrupted run left: temporary files of the store and of the
 * export, and the temporary export itself; and the export of the tables
 * a killed verify left (".NAME.verify.kvm", lib/verify.c). */
static int remove_leftovers(const struct kvm_up_opts *o, struct kvm_up_result *r,
                            struct kvm_error *err)
{
	char tmp_export[KV_PATH_MAX], verify_export[KV_PATH_MAX];
	char dir[PATH_MAX], base[NAME_MAX + 1];
	int rc;

	temp_export_path(o->kv_path, tmp_export);
	split_path(o->kv_path, dir, base);
	snprintf(verify_export, sizeof(verify_export), "%s/.%s.verify.kvm", dir,
	         base);
	if ((rc = remove_temps_of(o->kv_path, &r->leftovers, err)) != 0 ||
	    (rc = remove_temps_of(tmp_export, &r->leftovers, err)) != 0 ||
	    (rc = remove_temps_of(verify_export, &r->leftovers, err)) != 0)
		return rc;
	if (o->keep_export != NULL &&
	    (rc = remove_temps_of(o->keep_export, &r->leftovers, err)) != 0)
		return rc;
	if (unlink(tmp_export) == 0)
		r->leftovers++;
	if (unlink(verify_export) == 0)
		r->leftovers++;
	return 0;
}

/* The old tables that exist, as a quoted list for DROP TABLE and as
 * plain names for messages. */
static int old_tables(struct session *s, char *drop, size_t dsize, char *names,
                      size_t nsize, size_t *count, struct kvm_error *err)
{
	size_t dn = 0, nn = 0;

	*count = 0;
	drop[0] = names[0] = '\0';
	for (size_t m = 0; m < kvm_migrator_count(); m++) {
		for (const char *const *t = kvm_migrator_get(m)->tables; *t; t++) {
			const char *param[1] = { *t };
			PGresult *res;
			char *q;
			int rc, there;

			rc = kvm_db_query(s->db, &res, "SELECT to_regclass(quote_ident("
			                  "$1)) IS NOT NULL", 1, param, err);
			if (rc != 0)
				return rc;
			there = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
			PQclear(res);
			if (!there)
				continue;
			q = PQescapeIdentifier(kvm_db_conn(s->db), *t, strlen(*t));
			if (q == NULL)
				return kvm_db_error(s->db, NULL, KVM_EDB, err);
			dn += (size_t)snprintf(drop + dn, dn < dsize ? dsize - dn : 0,
			                       "%s%s", *count ? ", " : "", q);
			nn += (size_t)snprintf(names + nn, nn < nsize ? nsize - nn : 0,
			                       "%s%s", *count ? ", " : "", *t);
			PQfreemem(q);
			(*count)++;
		}
	}
	if (dn >= dsize)
		return kvm_error_set(err, KVM_EINTERNAL, "the list of old tables "
		                     "is too long");
	return 0;
}

/* Drop the old tables that exist, in one transaction.  DROP waits for
 * every other session's lock on them: bounded by lock_wait_s. */
static int drop_old_tables(struct session *s, unsigned wait_s, size_t *dropped,
                           struct kvm_error *err)
{
	char list[4096], names[1024], sql[4200];
	size_t n;
	int rc;

	*dropped = 0;
	if ((rc = old_tables(s, list, sizeof(list), names, sizeof(names), &n,
	                     err)) != 0 || n == 0)
		return rc;
	snprintf(sql, sizeof(sql), "SET lock_timeout = '%us'", wait_s ? wait_s : 1);
	if ((rc = kvm_db_exec(s->db, "BEGIN", err)) != 0 ||
	    (rc = kvm_db_exec(s->db, sql, err)) != 0)
		goto fail;
	snprintf(sql, sizeof(sql), "DROP TABLE %s", list);
	if ((rc = kvm_db_exec(s->db, sql, err)) != 0 ||
	    (rc = KVM_FAIL("drop.uncommitted", err)) != 0 ||
	    (rc = kvm_db_exec(s->db, "COMMIT", err)) != 0)
		goto fail;
	*dropped = n;
	return KVM_FAIL("drop.committed", err);
fail:
	rollback(s);
	kvm_db_exec(s->db, "SET lock_timeout = 0", NULL);
	{
		char why[KVM_ERROR_MSG_MAX];

		snprintf(why, sizeof(why), "%s", err->msg);
		return kvm_error_set(err, KVM_EDROP, "dropping the %zu old tables "
		                     "failed: %s", n, why);
	}
}

static void note_tables_left(struct session *s, struct kvm_up_result *r)
{
	char list[4096];
	struct kvm_error e;

	if (old_tables(s, list, sizeof(list), r->tables_left_names,
	               sizeof(r->tables_left_names), &r->tables_left, &e) != 0)
		r->tables_left = 0;
}

/* Record the KV migration version: the last step before the old tables
 * may go, and only after the store is durable. */
static int bump_version(struct session *s, uint64_t version,
                        struct kvm_error *err)
{
	char sql[700];
	int rc;

	snprintf(sql, sizeof(sql), "DELETE FROM %s; INSERT INTO %s (version, "
	         "dirty) VALUES (%" PRIu64 ", false)", s->table, s->table, version);
	if ((rc = KVM_FAIL("bump.begin", err)) != 0 ||
	    (rc = kvm_db_exec(s->db, "BEGIN", err)) != 0 ||
	    (rc = kvm_db_exec(s->db, sql, err)) != 0 ||
	    (rc = KVM_FAIL("bump.uncommitted", err)) != 0 ||
	    (rc = kvm_db_exec(s->db, "COMMIT", err)) != 0) {
		rollback(s);
		return kvm_error_prefix(err, "recording version %" PRIu64, version);
	}
	return 0;
}

/* What is at the KV path before a run: nothing, an empty file or a store
 * an interrupted run built (rebuilt), or something else (refused before
 * anything happens). */
static int check_kv_path(const char *path, struct kvm_up_result *r,
                         struct kvm_error *err)
{
	struct kvm_status *st = calloc(1, sizeof(*st));
	int rc = 0;

	if (st == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	kvm_kv_probe(path, st);
	switch (st->kv.state) {
	case KVM_KV_ABSENT:
	case KVM_KV_EMPTY:
		break;
	case KVM_KV_PRESENT:
		r->kv_replaced = 1;
		break;
	case KVM_KV_UNREADABLE:
		rc = kvm_error_set(err, KVM_EKV, "cannot read the KV path '%s': %s",
		                   path, st->kv.detail);
		break;
	case KVM_KV_NOT_FILE:
		rc = kvm_error_set(err, KVM_EKVFOREIGN, "the KV path '%s' is %s, "
		                   "not a KV store file; it is left as it is", path,
		                   st->kv.detail);
		break;
	default:
		rc = kvm_error_set(err, KVM_EKVFOREIGN, "the KV path '%s' holds %s "
		                   "kvmigrate did not create; it is left as it is",
		                   path, st->kv.state == KVM_KV_FOREIGN ?
		                   "an LMDB store" : "a file");
	}
	free(st);
	return rc;
}

/* The run writes its export over --keep-export FILE.  An export of
 * another database there may be the only copy of that database's old
 * tables: refused, left as it is.  Anything else (nothing, this
 * database's export of an earlier run, a file that is not an export) is
 * replaced, as export -o does. */
static int check_keep_export(struct session *s, const char *path,
                             struct kvm_error *err)
{
	const struct kvm_export_header *h;
	kvm_export_reader *rd;
	struct kvm_error ignored;
	char self[1100];
	int rc;

	if (kvm_export_reader_open(&rd, path, NULL, &ignored) != 0)
		return 0;
	h = kvm_export_reader_header(rd);
	rc = kvm_db_identity(s->db, self, sizeof(self), err);
	if (rc == 0 && !kvm_db_same_identity(h->source_database, self))
		rc = kvm_error_set(err, KVM_EOTHERDB, "the --keep-export file '%s' "
		                   "holds an export of database '%s', not of '%s'; "
		                   "it is left as it is", path, h->source_database,
		                   self);
	kvm_export_reader_close(rd);
	return rc;
}

static int kv_export(const struct kvm_up_opts *o, struct kvm_up_result *r,
                     const char *path, struct kvm_error *err)
{
	struct kvm_export_db_opts eo = KVM_EXPORT_DB_OPTS_INIT;
	struct kvm_export_db_result *er = malloc(sizeof(*er));
	uint64_t t0 = kvm_now_ms();
	int rc;

	if (er == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	eo.conninfo = o->conninfo;
	eo.connect_retry_ms = o->connect_retry_ms;
	eo.output = path;
	eo.jobs = o->jobs;
	/* The import reads the whole file next and checks every frame, count
	 * and digest before the store is published: a read-back here would
	 * be the same check twice. */
	eo.no_read_back = 1;
	eo.cancel = o->cancel;
	eo.on_event = o->on_event;
	eo.event_ctx = o->event_ctx;
	rc = kvm_export_db(&eo, er, err);
	r->export_ms = kvm_now_ms() - t0;
	r->npackages = er->npackages;
	memcpy(r->packages, er->packages, er->npackages * sizeof(er->packages[0]));
	if (rc == 0) {
		r->kv_records = er->records;
		r->export_bytes = er->file_bytes;
		r->export_digest = er->digest;
		r->jobs = er->jobs;
	}
	free(er);
	return rc;
}

static int kv_import(const struct kvm_up_opts *o, struct kvm_up_result *r,
                     const char *path, struct kvm_error *err)
{
	struct kvm_import_opts io = { 0 };
	struct kvm_import_result ir;
	uint64_t t0 = kvm_now_ms();
	int rc;

	io.input = path;
	io.kv_path = o->kv_path;
	io.force = 1;          /* checked above: empty, or an earlier run's */
	io.cancel = o->cancel;
	io.on_event = o->on_event;
	io.event_ctx = o->event_ctx;
	rc = kvm_import_file_locked(&io, &ir, err);
	r->import_ms = kvm_now_ms() - t0;
	for (size_t i = 0; i < ir.npackages; i++)
		for (size_t j = 0; j < r->npackages; j++)
			if (strcmp(ir.packages[i].name, r->packages[j].name) == 0)
				r->package_import_ms[j] = ir.packages[i].ms;
	if (rc == 0) {
		r->kv_bytes = ir.kv_bytes;
		snprintf(r->migration_id, sizeof(r->migration_id), "%s",
		         ir.migration_id);
	}
	return rc;
}

/* What a dry run with the KV flag reports: the tables and their rows, the
 * KV path, where the export would go, and whether the space looks enough.
 * Reads only. */
static int kv_plan(struct session *s, const struct kvm_up_opts *o,
                   struct kvm_up_result *r, struct kvm_error *err)
{
	struct kvm_up_plan *p = &r->plan;
	struct kvm_status *st = calloc(1, sizeof(*st));
	struct statvfs sv;
	char dir[PATH_MAX], base[NAME_MAX + 1];
	uint64_t bytes = 0;

	if (st == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	p->ready = 1;
	p->drop_tables = o->drop_tables;
	for (size_t m = 0; m < kvm_migrator_count(); m++) {
		const struct kvm_migrator *mg = kvm_migrator_get(m);

		for (const char *const *t = mg->tables; *t; t++) {
			const char *param[1] = { *t };
			PGresult *res;
			int rc;

			if (p->ntables == KVM_UP_PLAN_MAX_TABLES)
				break;
			p->tables[p->ntables].package = mg->name;
			p->tables[p->ntables].table = *t;
			rc = kvm_db_query(s->db, &res, "SELECT to_regclass(quote_ident("
			                  "$1)) IS NOT NULL", 1, param, err);
			if (rc != 0) {
				free(st);
				return rc;
			}
			p->tables[p->ntables].present =
				strcmp(PQgetvalue(res, 0, 0), "t") == 0;
			PQclear(res);
			if (p->tables[p->ntables].present) {
				char *q = PQescapeIdentifier(kvm_db_conn(s->db), *t,
				                             strlen(*t));
				char sql[256];

				/* a partitioned table's own size is 0: add its parts */
				snprintf(sql, sizeof(sql), "SELECT count(*), (SELECT coalesce("
				         "sum(pg_table_size(relid)), 0) FROM pg_partition_tree("
				         "'%s'::regclass)) FROM %s", q ? q : *t, q ? q : *t);
				PQfreemem(q);
				if ((rc = kvm_db_query(s->db, &res, sql, 0, NULL, err)) != 0) {
					free(st);
					return rc;
				}
				p->tables[p->ntables].rows =
					strtoull(PQgetvalue(res, 0, 0), NULL, 10);
				p->tables[p->ntables].bytes =
					strtoull(PQgetvalue(res, 0, 1), NULL, 10);
				bytes += p->tables[p->ntables].bytes;
				PQclear(res);
			}
			p->ntables++;
		}
	}
	kvm_kv_probe(o->kv_path, st);
	snprintf(p->kv_state, sizeof(p->kv_state), "%s",
	         kvm_kv_state_name(st->kv.state));
	p->kv_refused = st->kv.state != KVM_KV_ABSENT &&
	                st->kv.state != KVM_KV_EMPTY &&
	                st->kv.state != KVM_KV_PRESENT;
	free(st);
	p->export_kept = o->keep_export != NULL;
	if (o->keep_export != NULL)
		snprintf(p->export_path, sizeof(p->export_path), "%s", o->keep_export);
	else
		temp_export_path(o->kv_path, p->export_path);
	p->export_estimate = bytes;
	p->kv_estimate = bytes + bytes / 2;
	split_path(o->kv_path, dir, base);
	if (statvfs(dir, &sv) == 0)
		p->kv_free = (uint64_t)sv.f_bavail * sv.f_frsize;
	split_path(p->export_path, dir, base);
	if (statvfs(dir, &sv) == 0)
		p->export_free = (uint64_t)sv.f_bavail * sv.f_frsize;
	/* Both files exist at once while the store is built; on one file
	 * system they share its free space. */
	p->enough = p->kv_free >= p->kv_estimate &&
	            p->export_free >= p->export_estimate &&
	            (p->kv_free != p->export_free ||
	             p->kv_free >= p->kv_estimate + p->export_estimate);
	return 0;
}

/* Export, import, bump, drop: the KV migration of a database at the last
 * SQL version, under the lock. */
static int kv_migrate(struct session *s, const struct kvm_up_opts *o,
                      struct kvm_up_result *r, struct kvm_error *err)
{
	char tmp_export[KV_PATH_MAX];
	const char *export_path;
	int rc;

	temp_export_path(o->kv_path, tmp_export);
	export_path = o->keep_export != NULL ? o->keep_export : tmp_export;
	if ((rc = remove_leftovers(o, r, err)) != 0 ||
	    (rc = check_kv_path(o->kv_path, r, err)) != 0 ||
	    (o->keep_export != NULL &&
	     (rc = check_keep_export(s, o->keep_export, err)) != 0) ||
	    (rc = KVM_FAIL("kv.begin", err)) != 0)
		return rc;
	kv_step(o, r, KVM_KV_STEP_EXPORT);
	if ((rc = kv_export(o, r, export_path, err)) != 0 ||
	    (rc = KVM_FAIL("kv.exported", err)) != 0) {
		if (o->keep_export == NULL)
			unlink(export_path);
		return kvm_error_prefix(err, "export");
	}
	kv_step(o, r, KVM_KV_STEP_IMPORT);
	rc = kv_import(o, r, export_path, err);
	if (o->keep_export == NULL)
		unlink(export_path);
	if (rc == 0)
		rc = KVM_FAIL("kv.imported", err);
	if (rc != 0)
		return kvm_error_prefix(err, "import");
	kv_step(o, r, KVM_KV_STEP_BUMP);
	if ((rc = bump_version(s, r->kv_version, err)) != 0) {
		/* With the session still up, the bump surely did not commit:
		 * take the new store away again, so the KV path is as it was
		 * when it held nothing (a store an interrupted run left is
		 * gone either way).  With the session lost, whether the COMMIT
		 * took is unknown: the store stays, and the next run looks. */
		if (PQstatus(kvm_db_conn(s->db)) == CONNECTION_OK &&
		    !r->kv_replaced && unlink(o->kv_path) == 0)
			r->kv_removed = 1;
		return rc;
	}
	r->has_version = 1;
	r->version = r->kv_version;
	r->outcome = KVM_UP_KV_MIGRATED;
	if ((rc = KVM_FAIL("bump.committed", err)) != 0)
		return rc;
	if (o->drop_tables) {
		kv_step(o, r, KVM_KV_STEP_DROP);
		rc = drop_old_tables(s, o->lock_wait_s, &r->tables_dropped, err);
	}
	note_tables_left(s, r);
	if (rc != 0) {
		r->drop_failed = 1;
		return rc;
	}
	kv_step(o, r, KVM_KV_STEP_DONE);
	return 0;
}

/* The KV store is built beside its path: that directory must exist and
 * be writable before anything else is done. */
static int check_kv_dir(const char *kv_path, struct kvm_error *err)
{
	char dir[PATH_MAX], base[NAME_MAX + 1];

	split_path(kv_path, dir, base);
	if (access(dir, W_OK | X_OK) != 0)
		return kvm_error_set(err, errno, "the KV store's directory '%s' "
		                     "cannot be written: %s; nothing was done", dir,
		                     strerror(errno));
	return 0;
}

/* Index of the first pending version. */
static size_t first_pending(const kvm_schema *sch, const struct version_row *row)
{
	return row->has ? (size_t)kvm_schema_index(sch, row->version) + 1 : 0;
}

int kvm_up(const struct kvm_up_opts *o, struct kvm_up_result *r,
           struct kvm_error *err)
{
	struct session s;
	struct version_row row;
	kvm_schema *sch = NULL;
	uint64_t t0;
	size_t i;
	int rc, kv_lock = -1;

	memset(r, 0, sizeof(*r));
	if (o->kv_enabled && (o->kv_path == NULL || o->kv_path[0] == '\0'))
		return kvm_error_set(err, KVM_EINVAL, "the KV migration needs a KV "
		                     "path; nothing was done");
	if (o->kv_enabled && !o->dry_run &&
	    (rc = check_kv_dir(o->kv_path, err)) != 0)
		return rc;
	if ((rc = load_schema(o->schema_dir, &sch, err)) != 0)
		return rc;
	r->last_sql_version = kvm_schema_last(sch);
	r->kv_version = kvm_schema_kv_version(sch);
	rc = session_open(&s, o->conninfo, o->connect_retry_ms, o->on_event,
	                  o->event_ctx, err);
	if (rc != 0) {
		kvm_schema_free(sch);
		return rc;
	}
	snprintf(r->target, sizeof(r->target), "%s", kvm_db_target(s.db));
	if ((rc = need_schema(&s, err)) != 0)
		goto out;
	if (!o->dry_run &&
	    (rc = take_lock(&s, o->lock_wait_s, o->on_event, o->event_ctx, err)) != 0)
		goto out;
	/* The KV directory's lock too, before anything changes, and until
	 * the end: no import can remove this run's files as leftovers or
	 * rename over its store before the version says it is in use. */
	if (o->kv_enabled && !o->dry_run &&
	    (rc = kvm_kv_lock(o->kv_path, &kv_lock, err)) != 0)
		goto out;
	if (!o->dry_run && (rc = KVM_FAIL("up.locked", err)) != 0)
		goto out;
	if ((rc = read_version(&s, &row, err)) != 0 ||
	    (rc = check_version(&s, sch, &row, err)) != 0)
		goto out;
	r->had_version = r->has_version = row.has;
	r->from_version = r->version = row.version;
	if (row.has && row.version == r->kv_version) {
		r->outcome = KVM_UP_MIGRATED;
		/* An earlier run's drop may have failed: say what is left, and
		 * drop it now when asked to. */
		if (o->kv_enabled && o->drop_tables && !o->dry_run) {
			kv_step(o, r, KVM_KV_STEP_DROP);
			rc = drop_old_tables(&s, o->lock_wait_s, &r->tables_dropped,
			                     err);
			r->drop_failed = rc != 0;
		}
		note_tables_left(&s, r);
		goto out;
	}
	r->kv_skipped = !o->kv_enabled;
	/* Every pending file is split and checked before the first one
	 * runs: a refused file stops the run before anything changes. */
	for (i = first_pending(sch, &row); i < kvm_schema_count(sch); i++) {
		unsigned n;

		if ((rc = check_file(kvm_schema_get(sch, i), &n, err)) != 0)
			goto out;
	}
	t0 = kvm_now_ms();
	for (i = first_pending(sch, &row); i < kvm_schema_count(sch); i++) {
		const struct kvm_schema_version *v = kvm_schema_get(sch, i);
		struct kvm_event ev;

		if (o->dry_run) {
			unsigned n;

			check_file(v, &n, err);
			memset(&ev, 0, sizeof(ev));
			ev.kind = KVM_EVENT_VERSION_PENDING;
			ev.version = v->version;
			ev.name = v->name;
			ev.statements = n;
		} else {
			rc = apply_version(&s, v, !row.table && r->applied == 0, &ev, err);
			if (rc != 0) {
				r->version_failed = 1;
				r->failed_version = v->version;
				goto out;
			}
			r->has_version = 1;
			r->version = v->version;
			if ((rc = KVM_FAIL("sql.applied", err)) != 0)
				goto out;
		}
		r->applied++;
		r->ms = kvm_now_ms() - t0;
		event(o->on_event, o->event_ctx, &ev);
	}
	r->outcome = o->dry_run ? KVM_UP_DRY_RUN
	           : r->applied > 0 ? KVM_UP_APPLIED : KVM_UP_CURRENT;
	if (o->kv_enabled && !o->dry_run)
		rc = kv_migrate(&s, o, r, err);
	else if (o->kv_enabled)
		rc = kv_plan(&s, o, r, err);
out:
	kvm_kv_unlock(kv_lock);
	session_close(&s);
	kvm_schema_free(sch);
	return rc;
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
	if ((rc = load_schema(o->schema_dir, &sch, err)) != 0)
		return rc;
	snprintf(st->schema_origin, sizeof(st->schema_origin), "%s",
	         kvm_schema_origin(sch));
	st->last_sql_version = kvm_schema_last(sch);
	st->kv_version = kvm_schema_kv_version(sch);
	kvm_kv_probe(o->kv_path, st);
	rc = session_open(&s, o->conninfo, o->connect_retry_ms, o->on_event,
	                  o->event_ctx, err);
	if (rc != 0) {
		kvm_schema_free(sch);
		return rc;
	}
	snprintf(st->target, sizeof(st->target), "%s", kvm_db_target(s.db));
	st->lock_key = s.lock_key;
	if ((rc = read_version(&s, &row, err)) != 0 ||
	    (rc = read_tables(&s, st, err)) != 0 ||
	    (rc = find_holder(&s, &st->holder, err)) != 0)
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
		size_t i = first_pending(sch, &row);

		st->pending = kvm_schema_count(sch) - i;
		st->first_pending = kvm_schema_get(sch, i)->version;
	}
	next_step(st, s.table ? s.table : KVM_VERSION_TABLE);
out:
	session_close(&s);
	kvm_schema_free(sch);
	return rc;
}

int kvm_drop_tables(const struct kvm_drop_opts *o, size_t *dropped,
                    struct kvm_error *err)
{
	struct session s;
	struct version_row row;
	kvm_schema *sch = NULL;
	uint64_t kv;
	int rc;

	*dropped = 0;
	if ((rc = kvm_schema_builtin(&sch, err)) != 0)
		return rc;
	kv = kvm_schema_kv_version(sch);
	kvm_schema_free(sch);
	rc = session_open(&s, o->conninfo, o->connect_retry_ms, o->on_event,
	                  o->event_ctx, err);
	if (rc != 0)
		return rc;
	if ((rc = need_schema(&s, err)) != 0 ||
	    (rc = take_lock(&s, o->lock_wait_s, o->on_event, o->event_ctx,
	                    err)) != 0 ||
	    (rc = read_version(&s, &row, err)) != 0)
		goto out;
	if (!row.has || row.dirty || row.version != kv) {
		char now[64];

		if (row.has)
			snprintf(now, sizeof(now), "version %" PRIu64 "%s", row.version,
			         row.dirty ? " (dirty)" : "");
		else
			snprintf(now, sizeof(now), "no version");
		rc = kvm_error_set(err, KVM_ESTATE, "%s is at %s, not at the KV "
		                   "migration version %" PRIu64 ": its old tables "
		                   "still hold the metadata; nothing was dropped",
		                   kvm_db_target(s.db), now, kv);
		goto out;
	}
	rc = drop_old_tables(&s, o->lock_wait_s, dropped, err);
out:
	session_close(&s);
	return rc;
}
