/*
 * test_up.c - kvm_up() and kvm_status() against the harness's PostgreSQL:
 * the built-in versions build exactly the old schema (testdata/
 * old-schema.expected, written from the service's facts), from an empty
 * database and from every intermediate version a golang-migrate run could
 * have left; a second run changes nothing; a failing version leaves no
 * trace; the states no run may continue from are refused untouched; the
 * migration lock names its holder.
 */
#include "kvmt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "kvm/migrate.h"
#include "kvm/schema.h"

/* --- helpers -------------------------------------------------------------- */

/* The rows of a one-column query joined by '\n', malloc'd. */
static char *rows(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	size_t cap = 1, n = 0;
	char *out;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
		PQclear(r);
		fail_msg("%s: %s", sql, msg);
	}
	for (int i = 0; i < PQntuples(r); i++)
		cap += strlen(PQgetvalue(r, i, 0)) + 1;
	out = malloc(cap);
	assert_non_null(out);
	for (int i = 0; i < PQntuples(r); i++)
		n += (size_t)sprintf(out + n, "%s\n", PQgetvalue(r, i, 0));
	out[n] = '\0';
	PQclear(r);
	return out;
}

/* "version|dirty" of the version table, or "none" without the table. */
static char *version_row(PGconn *c)
{
	char *exists = rows(c, "SELECT to_regclass('schema_migrations') IS NOT NULL");
	char *r;

	if (strcmp(exists, "t\n") != 0) {
		free(exists);
		return strdup("none\n");
	}
	free(exists);
	r = rows(c, "SELECT version || '|' || CASE WHEN dirty THEN 't' ELSE 'f' END FROM schema_migrations");
	return r;
}

static void want_version_row(PGconn *c, const char *want)
{
	char *v = version_row(c);

	assert_string_equal(v, want);
	free(v);
}

static int table_exists(PGconn *c, const char *name)
{
	char sql[256];
	char *r;
	int yes;

	snprintf(sql, sizeof(sql), "SELECT to_regclass('%s') IS NOT NULL", name);
	r = rows(c, sql);
	yes = strcmp(r, "t\n") == 0;
	free(r);
	return yes;
}

/* The schema as testdata/describe-schema.sql describes it. */
static char *describe(PGconn *c)
{
	size_t n = 0;
	char *sql = kvmt_read_file("testdata/describe-schema.sql", &n);
	char *out;

	assert_non_null(sql);
	out = rows(c, sql);
	free(sql);
	return out;
}

static void assert_old_schema(PGconn *c)
{
	size_t n = 0;
	char *want = kvmt_read_file("testdata/old-schema.expected", &n);
	char *got = describe(c);

	assert_non_null(want);
	if (strcmp(want, got) != 0) {
		/* show the first differing line */
		const char *w = want, *g = got;

		while (*w && *w == *g)
			w++, g++;
		while (w > want && w[-1] != '\n')
			w--, g--;
		fail_msg("schema differs from testdata/old-schema.expected:\n"
		         "  want: %.120s\n  got:  %.120s", w, g);
	}
	free(want);
	free(got);
}

static int up(const char *conninfo, const char *dir, struct kvm_up_result *r,
              struct kvm_error *err)
{
	struct kvm_up_opts o = KVM_UP_OPTS_INIT;

	o.conninfo = conninfo;
	o.schema_dir = dir;
	o.connect_retry_ms = 0;
	o.lock_wait_s = 0;
	return kvm_up(&o, r, err);
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(kvmt_write_file(path, text, strlen(text)), 0);
}

static void assert_contains(const char *msg, const char *needle)
{
	if (strstr(msg, needle) == NULL)
		fail_msg("message '%s' lacks '%s'", msg, needle);
}

/* --- the built-in versions ------------------------------------------------ */

static void test_up__from_empty_builds_the_old_schema(void **state)
{
	char ci[KVMT_CONNINFO_MAX];
	struct kvm_up_result r;
	struct kvm_error err = { 0 };
	PGconn *c;
	(void)state;

	assert_int_equal(kvmt_db_create(ci, sizeof(ci), "up_empty"), 0);
	assert_int_equal(up(ci, NULL, &r, &err), 0);
	assert_int_equal(r.outcome, KVM_UP_APPLIED);
	assert_false(r.had_version);
	assert_int_equal(r.applied, 8);
	assert_int_equal(r.version, 8);
	assert_int_equal(r.kv_version, 9);
	assert_true(r.kv_skipped);
	assert_null(strstr(r.target, "password"));
	c = kvmt_connect(ci);
	assert_old_schema(c);
	want_version_row(c, "8|f\n");
	PQfinish(c);
	kvmt_db_drop(ci);
}

/*
 * A database golang-migrate left at version k (its table, its row, each
 * file run as one multi-statement query) is picked up where it stands.
 */
static void test_up__from_every_intermediate_version(void **state)
{
	struct kvm_error err = { 0 };
	kvm_schema *s = NULL;
	(void)state;

	assert_int_equal(kvm_schema_builtin(&s, &err), 0);
	for (size_t k = 1; k < kvm_schema_count(s); k++) {
		char ci[KVMT_CONNINFO_MAX], sql[256];
		struct kvm_up_result r;
		PGconn *c;

		assert_int_equal(kvmt_db_create(ci, sizeof(ci), "up_mid"), 0);
		c = kvmt_connect(ci);
		kvmt_exec(c, "CREATE TABLE IF NOT EXISTS \"public\".\"schema_migrations\" "
		        "(version bigint not null primary key, dirty boolean not null)");
		for (size_t i = 0; i < k; i++)
			kvmt_exec(c, kvm_schema_get(s, i)->sql);
		snprintf(sql, sizeof(sql), "INSERT INTO schema_migrations VALUES "
		         "(%zu, false)", k);
		kvmt_exec(c, sql);

		assert_int_equal(up(ci, NULL, &r, &err), 0);
		assert_int_equal(r.outcome, KVM_UP_APPLIED);
		assert_true(r.had_version);
		assert_int_equal(r.from_version, k);
		assert_int_equal(r.applied, 8 - k);
		assert_old_schema(c);
		want_version_row(c, "8|f\n");
		PQfinish(c);
		kvmt_db_drop(ci);
	}
	kvm_schema_free(s);
}

static void test_up__second_run_changes_nothing(void **state)
{
	char ci[KVMT_CONNINFO_MAX];
	struct kvm_up_result r;
	struct kvm_error err = { 0 };
	PGconn *c;
	char *before, *after;
	(void)state;

	assert_int_equal(kvmt_db_create(ci, sizeof(ci), "up_twice"), 0);
	assert_int_equal(up(ci, NULL, &r, &err), 0);
	c = kvmt_connect(ci);
	/* xmin changes whenever the row is rewritten */
	before = rows(c, "SELECT xmin::text || '|' || version FROM schema_migrations");
	assert_int_equal(up(ci, NULL, &r, &err), 0);
	assert_int_equal(r.outcome, KVM_UP_CURRENT);
	assert_int_equal(r.applied, 0);
	assert_int_equal(r.version, 8);
	after = rows(c, "SELECT xmin::text || '|' || version FROM schema_migrations");
	assert_string_equal(before, after);
	free(before);
	free(after);
	PQfinish(c);
	kvmt_db_drop(ci);
}

static void test_up__dry_run_changes_nothing(void **state)
{
	char ci[KVMT_CONNINFO_MAX];
	struct kvm_up_opts o = KVM_UP_OPTS_INIT;
	struct kvm_up_result r;
	struct kvm_error err = { 0 };
	PGconn *c;
	(void)state;

	assert_int_equal(kvmt_db_create(ci, sizeof(ci), "up_dry"), 0);
	o.conninfo = ci;
	o.dry_run = 1;
	assert_int_equal(kvm_up(&o, &r, &err), 0);
	assert_int_equal(r.outcome, KVM_UP_DRY_RUN);
	assert_int_equal(r.applied, 8);
	c = kvmt_connect(ci);
	assert_false(table_exists(c, "schema_migrations"));
	assert_false(table_exists(c, "auth_users"));
	PQfinish(c);
	kvmt_db_drop(ci);
}

static void test_up__kv_flag_without_a_usable_kv_path_changes_nothing(void **state)
{
	char ci[KVMT_CONNINFO_MAX];
	struct kvm_up_opts o = KVM_UP_OPTS_INIT;
	struct kvm_up_result r;
	struct kvm_error err = { 0 };
	PGconn *c;
	(void)state;

	assert_int_equal(kvmt_db_create(ci, sizeof(ci), "up_kv"), 0);
	o.conninfo = ci;
	o.kv_enabled = 1;
	assert_int_equal(kvm_up(&o, &r, &err), KVM_EINVAL);
	o.kv_path = "/nonexistent/kv.mdb";
	assert_int_equal(kvm_up(&o, &r, &err), ENOENT);
	assert_non_null(strstr(err.msg, "'/nonexistent'"));
	c = kvmt_connect(ci);
	assert_false(table_exists(c, "schema_migrations"));
	PQfinish(c);
	kvmt_db_drop(ci);
}

/* --- failing and odd version files ---------------------------------------- */

static void test_up__failing_version_leaves_no_trace(void **state)
{
	char ci[KVMT_CONNINFO_MAX];
	char *dir = kvmt_tmpdir();
	struct kvm_up_result r;
	struct kvm_error err = { 0 };
	PGconn *c;
	(void)state;

	put(dir, "000001_a.up.sql", "CREATE TABLE t1 (x int);\n");
	put(dir, "000002_b.up.sql", "-- adds t2\nCREATE TABLE t2 (x int);\n"
	    "INSERT INTO t2\n  SELECT * FROM nosuch;\n");
	put(dir, "000003_c.up.sql", "CREATE TABLE t3 (x int);\n");
	assert_int_equal(kvmt_db_create(ci, sizeof(ci), "up_fail"), 0);
	assert_int_equal(up(ci, dir, &r, &err), KVM_ESCHEMA);
	assert_int_equal(err.code, KVM_ESCHEMA);
	assert_contains(err.msg, "'000002_b.up.sql'");
	assert_contains(err.msg, "line 4");
	assert_contains(err.msg, "relation \"nosuch\" does not exist");
	assert_contains(err.msg, "42P01");
	assert_int_equal(r.outcome, KVM_UP_FAILED);
	assert_int_equal(r.applied, 1);
	assert_true(r.has_version);
	assert_int_equal(r.version, 1);
	c = kvmt_connect(ci);
	assert_true(table_exists(c, "t1"));
	assert_false(table_exists(c, "t2"));
	assert_false(table_exists(c, "t3"));
	want_version_row(c, "1|f\n");
	PQfinish(c);
	kvmt_db_drop(ci);
	kvmt_rmtree(dir);
	free(dir);
}

static void test_up__commit_and_end_in_a_file_do_not_split_it(void **state)
{
	char ci[KVMT_CONNINFO_MAX];
	char *dir = kvmt_tmpdir();
	struct kvm_up_result r;
	struct kvm_error err = { 0 };
	PGconn *c;
	(void)state;

	/* The first version fails after its own COMMIT and END: nothing of
	 * it may remain, not even the version table it would have made. */
	put(dir, "000001_a.up.sql", "BEGIN;\nCREATE TABLE a (x int);\nCOMMIT;\n"
	    "begin;\nCREATE TABLE b (x int);\nEND;\nSELECT 1/0;\n");
	assert_int_equal(kvmt_db_create(ci, sizeof(ci), "up_commit"), 0);
	assert_int_equal(up(ci, dir, &r, &err), KVM_ESCHEMA);
	assert_contains(err.msg, "division by zero");
	assert_contains(err.msg, "line 7");
	assert_false(r.has_version);
	c = kvmt_connect(ci);
	assert_false(table_exists(c, "a"));
	assert_false(table_exists(c, "b"));
	want_version_row(c, "none\n");

	/* The same shape without the error applies whole. */
	put(dir, "000001_a.up.sql", "BEGIN;\nCREATE TABLE a (x int);\nCOMMIT;\n"
	    "START TRANSACTION;\nCREATE TABLE b (x int);\nend transaction;\n");
	assert_int_equal(up(ci, dir, &r, &err), 0);
	assert_int_equal(r.applied, 1);
	assert_true(table_exists(c, "a"));
	assert_true(table_exists(c, "b"));
	want_version_row(c, "1|f\n");
	PQfinish(c);
	kvmt_db_drop(ci);
	kvmt_rmtree(dir);
	free(dir);
}

static void test_up__rollback_in_a_file_is_refused_before_it_runs(void **state)
{
	char ci[KVMT_CONNINFO_MAX];
	char *dir = kvmt_tmpdir();
	struct kvm_up_result r;
	struct kvm_error err = { 0 };
	PGconn *c;
	(void)state;

	put(dir, "000001_a.up.sql", "CREATE TABLE r1 (x int);\nROLLBACK;\n");
	assert_int_equal(kvmt_db_create(ci, sizeof(ci), "up_rollback"), 0);
	assert_int_equal(up(ci, dir, &r, &err), KVM_ESCHEMA);
	assert_contains(err.msg, "'000001_a.up.sql' line 2");
	assert_contains(err.msg, "rollback");
	c = kvmt_connect(ci);
	assert_false(table_exists(c, "r1"));
	PQfinish(c);

	/* an unterminated string is found before anything runs, too */
	put(dir, "000001_a.up.sql", "CREATE TABLE r2 (x int);\nSELECT 'oops;\n");
	assert_int_equal(up(ci, dir, &r, &err), KVM_ESCHEMA);
	assert_contains(err.msg, "'000001_a.up.sql'");
	assert_contains(err.msg, "line 2");
	c = kvmt_connect(ci);
	assert_false(table_exists(c, "r2"));
	PQfinish(c);
	kvmt_db_drop(ci);
	kvmt_rmtree(dir);
	free(dir);
}

/* --- states no run continues from ----------------------------------------- */

static void test_up__dirty_too_new_and_unknown_are_refused_untouched(void **state)
{
	char ci[KVMT_CONNINFO_MAX];
	char *dir = kvmt_tmpdir();
	struct kvm_up_result r;
	struct kvm_error err = { 0 };
	PGconn *c;
	char *before, *after;
	(void)state;

	assert_int_equal(kvmt_db_create(ci, sizeof(ci), "up_refuse"), 0);
	assert_int_equal(up(ci, NULL, &r, &err), 0);
	c = kvmt_connect(ci);

	kvmt_exec(c, "UPDATE schema_migrations SET dirty = true");
	before = rows(c, "SELECT xmin::text || version || dirty FROM schema_migrations");
	assert_int_equal(up(ci, NULL, &r, &err), KVM_EDIRTY);
	assert_contains(err.msg, "dirty at version 8");
	assert_contains(err.msg, "SET version = 7, dirty = false");
	after = rows(c, "SELECT xmin::text || version || dirty FROM schema_migrations");
	assert_string_equal(before, after);
	free(before);
	free(after);

	kvmt_exec(c, "UPDATE schema_migrations SET dirty = false, version = 12");
	assert_int_equal(up(ci, NULL, &r, &err), KVM_ETOONEW);
	assert_contains(err.msg, "schema version 12, newer");
	assert_contains(err.msg, "last SQL version is 8");
	assert_contains(err.msg, "KV migration version 9");

	/* at the KV migration version: done, nothing to do */
	kvmt_exec(c, "UPDATE schema_migrations SET version = 9");
	assert_int_equal(up(ci, NULL, &r, &err), 0);
	assert_int_equal(r.outcome, KVM_UP_MIGRATED);

	/* a version the source does not have */
	put(dir, "1_a.up.sql", "SELECT 1;");
	put(dir, "2_b.up.sql", "SELECT 1;");
	put(dir, "10_c.up.sql", "SELECT 1;");
	kvmt_exec(c, "UPDATE schema_migrations SET version = 5");
	assert_int_equal(up(ci, dir, &r, &err), KVM_EUNKNOWNVERSION);
	assert_contains(err.msg, "version 5, which schema directory");
	before = version_row(c);
	assert_string_equal(before, "5|f\n");
	free(before);

	/* more than one row is not golang-migrate's table */
	kvmt_exec(c, "INSERT INTO schema_migrations VALUES (6, false)");
	assert_int_equal(up(ci, dir, &r, &err), KVM_EUNKNOWNVERSION);
	assert_contains(err.msg, "more than one row");
	PQfinish(c);
	kvmt_db_drop(ci);
	kvmt_rmtree(dir);
	free(dir);
}

/* --- the lock ------------------------------------------------------------- */

struct events {
	int lock_waits;
	int applied;
};

static void count_events(void *ctx, const struct kvm_event *ev)
{
	struct events *e = ctx;

	if (ev->kind == KVM_EVENT_LOCK_WAIT)
		e->lock_waits++;
	if (ev->kind == KVM_EVENT_VERSION_APPLIED)
		e->applied++;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_up__lock_is_golang_migrates_and_names_its_holder(void **state)
{
	char ci[KVMT_CONNINFO_MAX], sql[256], pid[256];
	struct kvm_up_opts o = KVM_UP_OPTS_INIT;
	struct kvm_up_result r;
	struct kvm_error err = { 0 };
	struct events ev = { 0 };
	struct timespec t0;
	PGconn *holder, *c;
	char *dbname;
	int64_t key;
	pid_t child;
	int status;
	(void)state;

	/* reference values from CRC-32 and golang-migrate's salt, computed
	 * independently of this code */
	assert_int_equal(kvm_lock_key("postgres", "public", "schema_migrations"),
	                 143310882);
	assert_int_equal(kvm_lock_key("meta", "meta_schema", "schema_migrations"),
	                 2740676256ll);

	assert_int_equal(kvmt_db_create(ci, sizeof(ci), "up_lock"), 0);
	holder = kvmt_connect(ci);
	dbname = rows(holder, "SELECT current_database()");
	dbname[strlen(dbname) - 1] = '\0';
	key = kvm_lock_key(dbname, "public", "schema_migrations");
	free(dbname);
	kvmt_exec(holder, "SET application_name = 'holder-test'");
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%lld)", (long long)key);
	kvmt_exec(holder, sql);
	snprintf(pid, sizeof(pid), "pid %d ", PQbackendPID(holder));

	o.conninfo = ci;
	o.connect_retry_ms = 0;
	o.lock_wait_s = 0;
	assert_int_equal(kvm_up(&o, &r, &err), KVM_ELOCKED);
	assert_contains(err.msg, pid);
	assert_contains(err.msg, "'holder-test'");

	/* a bounded wait, reported once, then the same refusal */
	o.lock_wait_s = 1;
	o.on_event = count_events;
	o.event_ctx = &ev;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(kvm_up(&o, &r, &err), KVM_ELOCKED);
	assert_true(seconds_since(&t0) >= 0.9);
	assert_int_equal(ev.lock_waits, 1);
	assert_contains(err.msg, "gave up after 1 s");
	c = kvmt_connect(ci);
	assert_false(table_exists(c, "schema_migrations"));

	PQfinish(holder);   /* the lock dies with the session */

	/* a wait that ends when the holder's session ends: a child process
	 * holds the lock for a second */
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		PGconn *h = PQconnectdb(ci);
		PGresult *res = PQexec(h, sql);

		PQclear(res);
		usleep(1000 * 1000);
		PQfinish(h);
		_exit(0);
	}
	snprintf(pid, sizeof(pid), "SELECT count(*) FROM pg_locks WHERE "
	         "locktype = 'advisory' AND objid = %lld", (long long)key);
	for (int i = 0; i < 500; i++) {
		char *n = rows(c, pid);
		int held = strcmp(n, "1\n") == 0;

		free(n);
		if (held)
			break;
		usleep(10 * 1000);
	}
	o.lock_wait_s = 20;
	ev.lock_waits = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(kvm_up(&o, &r, &err), 0);
	assert_int_equal(ev.lock_waits, 1);
	assert_int_equal(ev.applied, 8);
	assert_true(seconds_since(&t0) < 10);
	waitpid(child, &status, 0);
	assert_true(WIFEXITED(status));
	assert_true(table_exists(c, "schema_migrations"));
	PQfinish(c);
	kvmt_db_drop(ci);
}

/* --- status --------------------------------------------------------------- */

static void status_of(const char *ci, const char *dir, const char *kv,
                      struct kvm_status *st)
{
	struct kvm_status_opts o = KVM_STATUS_OPTS_INIT;
	struct kvm_error err = { 0 };

	o.conninfo = ci;
	o.schema_dir = dir;
	o.kv_path = kv;
	o.connect_retry_ms = 0;
	if (kvm_status(&o, st, &err) != 0)
		fail_msg("kvm_status: %s", err.msg);
}

static void test_up__status_follows_each_state(void **state)
{
	char ci[KVMT_CONNINFO_MAX];
	struct kvm_status st;
	struct kvm_up_result r;
	struct kvm_error err = { 0 };
	PGconn *c;
	(void)state;

	assert_int_equal(kvmt_db_create(ci, sizeof(ci), "up_status"), 0);
	status_of(ci, NULL, NULL, &st);
	assert_int_equal(st.state, KVM_SQL_FRESH);
	assert_false(st.version_table);
	assert_int_equal(st.pending, 8);
	assert_int_equal(st.first_pending, 1);
	assert_int_equal(st.next, KVM_NEXT_UP);
	assert_int_equal(st.kv.state, KVM_KV_NOT_SET);
	assert_int_equal(st.tables, 17);
	assert_int_equal(st.tables_present, 0);
	assert_false(st.lock_held);

	assert_int_equal(up(ci, NULL, &r, &err), 0);
	status_of(ci, NULL, "/nonexistent-dir/kv.mdb", &st);
	assert_int_equal(st.state, KVM_SQL_CURRENT);
	assert_int_equal(st.version, 8);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.tables_present, 17);
	assert_int_equal(st.kv.state, KVM_KV_ABSENT);
	assert_int_equal(st.next, KVM_NEXT_UP_KV);

	c = kvmt_connect(ci);
	kvmt_exec(c, "UPDATE schema_migrations SET version = 9");
	kvmt_exec(c, "DROP TABLE gateway_multiparts");
	status_of(ci, NULL, NULL, &st);
	assert_int_equal(st.state, KVM_SQL_MIGRATED);
	assert_int_equal(st.tables_present, 16);
	assert_int_equal(st.next, KVM_NEXT_DROP_TABLES);
	kvmt_exec(c, "UPDATE schema_migrations SET version = 3, dirty = true");
	status_of(ci, NULL, NULL, &st);
	assert_int_equal(st.state, KVM_SQL_DIRTY);
	assert_true(st.dirty);
	assert_int_equal(st.next, KVM_NEXT_NONE);
	kvmt_exec(c, "UPDATE schema_migrations SET version = 3, dirty = false");
	status_of(ci, NULL, NULL, &st);
	assert_int_equal(st.state, KVM_SQL_BEHIND);
	assert_int_equal(st.pending, 5);
	assert_int_equal(st.first_pending, 4);
	kvmt_exec(c, "UPDATE schema_migrations SET version = 10");
	status_of(ci, NULL, NULL, &st);
	assert_int_equal(st.state, KVM_SQL_TOO_NEW);
	PQfinish(c);
	kvmt_db_drop(ci);
}

/*
 * A schema first in the database's search_path holds tables named as old
 * tables (and no version table): status, the dry run, up --kv-enabled and
 * its drop all work on the version table's schema, public, and never
 * read, count or drop the other schema's tables.
 */
static void test_up__old_tables_are_the_version_tables_schemas(void **state)
{
	char ci[KVMT_CONNINFO_MAX], sql[512], dbname[128], kv[600];
	struct kvm_up_opts o = KVM_UP_OPTS_INIT;
	struct kvm_error err = { 0 };
	struct kvm_up_result *r = calloc(1, sizeof(*r));
	struct kvm_status st;
	const char *name;
	char *dir = kvmt_tmpdir(), *got;
	PGconn *c;
	(void)state;

	assert_non_null(r);
	assert_int_equal(kvmt_db_create(ci, sizeof(ci), "up_schema"), 0);
	assert_int_equal(up(ci, NULL, r, &err), 0);
	c = kvmt_connect(ci);
	kvmt_exec(c, "CREATE SCHEMA shadow;"
	          /* no defaults: nothing of public's is used by them */
	          "CREATE TABLE shadow.auth_users (LIKE public.auth_users);"
	          "CREATE TABLE shadow.graveler_tags (LIKE public.graveler_tags);"
	          "INSERT INTO shadow.auth_users (id, created_at, display_name) "
	          "  VALUES (1, now(), 'shadow-user');"
	          "INSERT INTO public.auth_users (created_at, display_name) "
	          "  VALUES (now(), 'public-user')");
	name = strstr(ci, "dbname=") + 7;
	name += *name == '\'';
	snprintf(dbname, sizeof(dbname), "%.*s", (int)strcspn(name, " '"), name);
	snprintf(sql, sizeof(sql), "ALTER DATABASE \"%s\" SET search_path = "
	         "shadow, public", dbname);
	kvmt_exec(c, sql);

	/* status: the version of public, its 17 tables */
	status_of(ci, NULL, NULL, &st);
	assert_int_equal(st.state, KVM_SQL_CURRENT);
	assert_int_equal(st.version, 8);
	assert_int_equal(st.tables_present, 17);
	kvmt_exec(c, "DROP TABLE public.graveler_tags");
	status_of(ci, NULL, NULL, &st);
	assert_int_equal(st.tables_present, 16);

	/* the dry run counts public's rows, not shadow's */
	o.conninfo = ci;
	o.connect_retry_ms = 0;
	o.kv_enabled = 1;
	o.dry_run = 1;
	snprintf(kv, sizeof(kv), "%s/kv.mdb", dir);
	o.kv_path = kv;
	kvm_up_result_release(r);
	if (kvm_up(&o, r, &err) != 0)
		fail_msg("dry run: %s", err.msg);
	for (size_t i = 0; i < r->plan.ntables; i++)
		if (strcmp(r->plan.tables[i].table, "graveler_tags") == 0)
			assert_false(r->plan.tables[i].present);
		else if (strcmp(r->plan.tables[i].table, "auth_users") == 0)
			assert_int_equal(r->plan.tables[i].rows, 1);

	/* up --kv-enabled --drop-tables: public's migrated and dropped */
	kvmt_exec(c, "CREATE TABLE public.graveler_tags (LIKE shadow.graveler_tags)");
	o.dry_run = 0;
	o.drop_tables = 1;
	kvm_up_result_release(r);
	if (kvm_up(&o, r, &err) != 0)
		fail_msg("up --kv-enabled --drop-tables: %s", err.msg);
	assert_int_equal(r->outcome, KVM_UP_KV_MIGRATED);
	assert_int_equal(r->tables_dropped, 17);
	assert_false(table_exists(c, "public.auth_users"));
	assert_true(table_exists(c, "shadow.auth_users"));
	assert_true(table_exists(c, "shadow.graveler_tags"));
	got = rows(c, "SELECT display_name FROM shadow.auth_users");
	assert_string_equal(got, "shadow-user\n");
	free(got);
	want_version_row(c, "9|f\n");
	status_of(ci, NULL, NULL, &st);
	assert_int_equal(st.state, KVM_SQL_MIGRATED);
	assert_int_equal(st.tables_present, 0);
	PQfinish(c);
	kvmt_db_drop(ci);
	kvmt_rmtree(dir);
	free(dir);
	kvm_up_result_release(r);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_up__from_empty_builds_the_old_schema),
		cmocka_unit_test(test_up__from_every_intermediate_version),
		cmocka_unit_test(test_up__second_run_changes_nothing),
		cmocka_unit_test(test_up__dry_run_changes_nothing),
		cmocka_unit_test(test_up__kv_flag_without_a_usable_kv_path_changes_nothing),
		cmocka_unit_test(test_up__failing_version_leaves_no_trace),
		cmocka_unit_test(test_up__commit_and_end_in_a_file_do_not_split_it),
		cmocka_unit_test(test_up__rollback_in_a_file_is_refused_before_it_runs),
		cmocka_unit_test(test_up__dirty_too_new_and_unknown_are_refused_untouched),
		cmocka_unit_test(test_up__lock_is_golang_migrates_and_names_its_holder),
		cmocka_unit_test(test_up__status_follows_each_state),
		cmocka_unit_test(test_up__old_tables_are_the_version_tables_schemas),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
