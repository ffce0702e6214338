/*
 * test_db.c - connecting (lib/db.c): libpq's ways of naming a database,
 * application_name, bounded retries of transient failures only, and
 * messages that never carry the password; server notices never printed;
 * the cancel flag, set from another thread as a signal handler would set
 * it, ending a statement waiting for a lock in the server, a COPY waiting
 * for rows, and the retries, with the connection usable afterwards.
 */
#include "kvmt.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "db.h"

#define SECRET "S3cr3t-Pw-42"

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* The value of @kw in conninfo @ci, copied into @out. */
static void conninfo_value(const char *ci, const char *kw, char *out, size_t n)
{
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(ci, &perr);

	assert_non_null(opts);
	out[0] = '\0';
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, kw) == 0 && o->val != NULL)
			snprintf(out, n, "%s", o->val);
	PQconninfoFree(opts);
}

static void assert_no_secret(const char *msg)
{
	if (strstr(msg, SECRET) != NULL || strstr(msg, "S3cr3t") != NULL)
		fail_msg("the password shows in '%s'", msg);
}

static void test_db__redaction_finds_the_password_in_every_form(void **state)
{
	static const char *const conninfos[] = {
		"host=h password=" SECRET " dbname=d",
		"host=h password = '" SECRET "' dbname=d",
		"postgresql://u:" SECRET "@h:5432/d",
		"postgresql://u:" SECRET "@h:5432/d?sslmode=disable",
		"postgres://u@h/d?password=" SECRET,
		/* libpq cannot parse these, and quotes parts of them back */
		"postgresql://u:" SECRET "@[::1/d",
		"host=h password='" SECRET,
		"postgresql://u:S3cr3t%2DPw%2D42@h/d",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(conninfos) / sizeof(conninfos[0]); i++) {
		char msg[KVM_ERROR_MSG_MAX], *perr = NULL;
		PQconninfoOption *o;

		/* libpq's own message for the string, plus the string itself */
		o = PQconninfoParse(conninfos[i], &perr);
		snprintf(msg, sizeof(msg), "%s | \"%s\" | " SECRET,
		         perr ? perr : "parsed", conninfos[i]);
		PQconninfoFree(o);
		PQfreemem(perr);
		kvm_db_redact_conninfo(conninfos[i], msg, sizeof(msg));
		assert_no_secret(msg);
	}
}

static void test_db__redaction_leaves_other_text_alone(void **state)
{
	char msg[KVM_ERROR_MSG_MAX] = "relation \"a\" does not exist; x";
	(void)state;

	kvm_db_redact_conninfo("host=h dbname=d", msg, sizeof(msg));
	assert_string_equal(msg, "relation \"a\" does not exist; x");
	/* a short password is masked only where it stands alone */
	snprintf(msg, sizeof(msg), "pw ab in about");
	kvm_db_redact_conninfo("password=ab", msg, sizeof(msg));
	assert_string_equal(msg, "pw ******** in about");
}

static void test_db__application_name_is_kvmigrate(void **state)
{
	char ci[KVMT_CONNINFO_MAX];
	struct kvm_db_opts o = { 0 };
	struct kvm_error err = { 0 };
	struct kvm_db *db = NULL;
	PGresult *res = NULL;
	(void)state;

	snprintf(ci, sizeof(ci), "%s application_name=other", kvmt_db());
	o.conninfo = ci;
	assert_int_equal(kvm_db_open(&db, &o, &err), 0);
	assert_int_equal(kvm_db_query(db, &res, "SHOW application_name", 0, NULL,
	                              &err), 0);
	assert_string_equal(PQgetvalue(res, 0, 0), "kvmigrate");
	PQclear(res);
	assert_non_null(strstr(kvm_db_target(db), "database 'postgres'"));
	kvm_db_close(db);
}

/* A URI works as well as keywords, and NULL means libpq's PG* variables. */
static void test_db__uri_and_pg_variables(void **state)
{
	char host[512], port[32], user[64], uri[1024];
	struct kvm_db_opts o = { 0 };
	struct kvm_error err = { 0 };
	struct kvm_db *db = NULL;
	(void)state;

	conninfo_value(kvmt_db_tcp(), "host", host, sizeof(host));
	conninfo_value(kvmt_db_tcp(), "port", port, sizeof(port));
	conninfo_value(kvmt_db_tcp(), "user", user, sizeof(user));
	snprintf(uri, sizeof(uri), "postgresql://%s:kvmigrate-test-password@%s:%s/"
	         "postgres", user, host, port);
	o.conninfo = uri;
	assert_int_equal(kvm_db_open(&db, &o, &err), 0);
	assert_null(strstr(kvm_db_target(db), "kvmigrate-test-password"));
	kvm_db_close(db);

	setenv("PGHOST", host, 1);
	setenv("PGPORT", port, 1);
	setenv("PGUSER", user, 1);
	setenv("PGPASSWORD", "kvmigrate-test-password", 1);
	setenv("PGDATABASE", "postgres", 1);
	o.conninfo = NULL;
	assert_int_equal(kvm_db_open(&db, &o, &err), 0);
	kvm_db_close(db);
	unsetenv("PGHOST");
	unsetenv("PGPORT");
	unsetenv("PGUSER");
	unsetenv("PGPASSWORD");
	unsetenv("PGDATABASE");
}

static void test_db__wrong_password_fails_at_once_without_showing_it(void **state)
{
	char host[512], port[32], uri[1024];
	struct kvm_db_opts o = { 0 };
	struct kvm_error err = { 0 };
	struct kvm_db *db = NULL;
	double t0;
	(void)state;

	conninfo_value(kvmt_db_tcp(), "host", host, sizeof(host));
	conninfo_value(kvmt_db_tcp(), "port", port, sizeof(port));
	snprintf(uri, sizeof(uri), "postgresql://kvmigrate:" SECRET "@%s:%s/postgres",
	         host, port);
	o.conninfo = uri;
	o.retry_ms = 20000;
	t0 = now_s();
	assert_int_equal(kvm_db_open(&db, &o, &err), KVM_ECONNECT);
	assert_null(db);
	/* authentication does not get better by waiting: no retries */
	assert_true(now_s() - t0 < 5);
	assert_non_null(strstr(err.msg, "password authentication failed"));
	assert_non_null(strstr(err.msg, "as user 'kvmigrate'"));
	assert_null(strstr(err.msg, "attempts"));
	assert_no_secret(err.msg);
}

static void retry_counter(void *ctx, const struct kvm_event *ev)
{
	if (ev->kind == KVM_EVENT_CONNECT_RETRY)
		(*(int *)ctx)++;
}

static void test_db__unreachable_server_is_retried_for_a_bounded_time(void **state)
{
	struct kvm_db_opts o = { 0 };
	struct kvm_error err = { 0 };
	struct kvm_db *db = NULL;
	int retries = 0;
	double t0, spent;
	(void)state;

	/* port 1 on the loopback: nothing listens, the refusal is immediate */
	o.conninfo = "host=127.0.0.1 port=1 user=u password=" SECRET " dbname=d";
	o.retry_ms = 1500;
	o.on_event = retry_counter;
	o.event_ctx = &retries;
	t0 = now_s();
	assert_int_equal(kvm_db_open(&db, &o, &err), KVM_ECONNECT);
	spent = now_s() - t0;
	assert_true(spent >= 0.7);
	assert_true(spent < 5);
	assert_true(retries >= 3);
	assert_non_null(strstr(err.msg, "attempts in"));
	assert_non_null(strstr(err.msg, "port 1"));
	assert_no_secret(err.msg);

	/* no bound: one attempt */
	retries = 0;
	o.retry_ms = 0;
	assert_int_equal(kvm_db_open(&db, &o, &err), KVM_ECONNECT);
	assert_int_equal(retries, 0);
}

static void test_db__server_errors_are_one_line_with_sqlstate(void **state)
{
	struct kvm_db_opts o = { 0 };
	struct kvm_error err = { 0 };
	struct kvm_db *db = NULL;
	(void)state;

	o.conninfo = kvmt_db();
	assert_int_equal(kvm_db_open(&db, &o, &err), 0);
	assert_int_equal(kvm_db_exec(db, "SELECT *\nFROM no_such_table", &err),
	                 KVM_EDB);
	assert_non_null(strstr(err.msg, "relation \"no_such_table\" does not exist"));
	assert_non_null(strstr(err.msg, "SQLSTATE 42P01"));
	assert_non_null(strstr(err.msg, "'SELECT * FROM no_such_table'"));
	assert_null(strchr(err.msg, '\n'));
	kvm_db_close(db);
}

/*
 * The library never prints: a server NOTICE or WARNING, which libpq's
 * default notice processor would write to stderr, reaches no stderr.
 */
static void test_db__server_notices_are_not_printed(void **state)
{
	struct kvm_db_opts o = { 0 };
	struct kvm_error err = { 0 };
	struct kvm_db *db = NULL;
	char path[] = "/tmp/kvmt-stderr.XXXXXX";
	int fd, saved, rc;
	char *text;
	size_t n;
	(void)state;

	o.conninfo = kvmt_db();
	assert_int_equal(kvm_db_open(&db, &o, &err), 0);
	assert_true((fd = mkstemp(path)) >= 0);
	fflush(stderr);
	assert_true((saved = dup(2)) >= 0);
	assert_true(dup2(fd, 2) == 2);
	rc = kvm_db_exec(db, "DO $$BEGIN RAISE NOTICE 'kvmt notice'; "
	                 "RAISE WARNING 'kvmt warning'; END$$", &err);
	fflush(stderr);
	assert_true(dup2(saved, 2) == 2);
	close(saved);
	close(fd);
	assert_int_equal(rc, 0);
	assert_non_null(text = kvmt_read_file(path, &n));
	unlink(path);
	if (n != 0)
		fail_msg("stderr got: %s", text);
	free(text);
	kvm_db_close(db);
}

/* Sets *flag after ms, from its own thread, as a signal handler would. */
struct later {
	volatile sig_atomic_t *flag;
	unsigned ms;
	pthread_t thread;
};

static void *set_later(void *arg)
{
	struct later *l = arg;
	struct timespec ts = { l->ms / 1000, (long)(l->ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
	__atomic_store_n(l->flag, SIGTERM, __ATOMIC_RELAXED);
	return NULL;
}

static void start_later(struct later *l, volatile sig_atomic_t *flag,
                        unsigned ms)
{
	l->flag = flag;
	l->ms = ms;
	assert_int_equal(pthread_create(&l->thread, NULL, set_later, l), 0);
}

/* A fresh database with table t, locked ACCESS EXCLUSIVE by *holder
 * (in an open transaction), and a kvm_db on it with @flag. */
static struct kvm_db *locked_table(char *ci, size_t n, PGconn **holder,
                                   volatile sig_atomic_t *flag)
{
	struct kvm_db_opts o = { 0 };
	struct kvm_error err = { 0 };
	struct kvm_db *db = NULL;

	assert_int_equal(kvmt_db_create(ci, n, "kvmt_db"), 0);
	*holder = kvmt_connect(ci);
	kvmt_exec(*holder, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)");
	kvmt_exec(*holder, "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
	o.conninfo = ci;
	o.cancel = flag;
	assert_int_equal(kvm_db_open(&db, &o, &err), 0);
	return db;
}

/* What backend @pid is doing, by another connection. */
static void backend_state(PGconn *c, int pid, char *out, size_t n)
{
	char sql[160];
	PGresult *res;

	snprintf(sql, sizeof(sql), "SELECT state || ' ' || coalesce("
	         "wait_event_type, '-') FROM pg_stat_activity WHERE pid = %d", pid);
	res = PQexec(c, sql);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(res), 1);
	snprintf(out, n, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
}

static int backend_pid(struct kvm_db *db)
{
	struct kvm_error err = { 0 };
	PGresult *res;
	int pid;

	assert_int_equal(kvm_db_query(db, &res, "SELECT pg_backend_pid()", 0,
	                              NULL, &err), 0);
	pid = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return pid;
}

/*
 * A statement waiting for a table lock returns KVM_ECANCELED soon after
 * the flag is set, and the server has stopped it (the session idle, not
 * waiting); the other session's lock is untouched.  With the flag still
 * set nothing more is sent; kvm_db_cleanup() still runs; with the flag
 * cleared the connection works.
 */
static void test_db__a_statement_waiting_for_a_lock_is_canceled(void **state)
{
	char ci[KVMT_CONNINFO_MAX], what[64];
	volatile sig_atomic_t flag = 0;
	struct kvm_error err = { 0 };
	struct later l;
	struct kvm_db *db;
	PGconn *holder;
	PGresult *res;
	double t0, spent;
	int pid;
	(void)state;

	db = locked_table(ci, sizeof(ci), &holder, &flag);
	pid = backend_pid(db);
	assert_int_equal(kvm_db_exec(db, "BEGIN", &err), 0);
	start_later(&l, &flag, 300);
	t0 = now_s();
	assert_int_equal(kvm_db_exec(db, "SELECT count(*) FROM t", &err),
	                 KVM_ECANCELED);
	spent = now_s() - t0;
	pthread_join(l.thread, NULL);
	assert_true(spent >= 0.25);
	assert_true(spent < 0.3 + 1.0);
	assert_non_null(strstr(err.msg, "'SELECT count(*) FROM t': canceled"));
	assert_non_null(strstr(err.msg, "database 'kvmt_db_"));
	backend_state(holder, pid, what, sizeof(what));
	/* the failed statement aborted the transaction: idle, not waiting */
	assert_string_equal(what, "idle in transaction (aborted) Client");
	kvmt_exec(holder, "SELECT 1");

	/* nothing is sent once the flag is set ... */
	t0 = now_s();
	assert_int_equal(kvm_db_exec(db, "SELECT 1", &err), KVM_ECANCELED);
	assert_true(now_s() - t0 < 0.1);
	/* ... but the way out still runs */
	kvm_db_cleanup(db, "ROLLBACK");
	assert_int_equal(PQtransactionStatus(kvm_db_conn(db)), PQTRANS_IDLE);
	flag = 0;
	assert_int_equal(kvm_db_query(db, &res, "SELECT 42", 0, NULL, &err), 0);
	assert_string_equal(PQgetvalue(res, 0, 0), "42");
	PQclear(res);

	kvm_db_close(db);
	kvmt_exec(holder, "COMMIT");
	PQfinish(holder);
	kvmt_db_drop(ci);
}

/* The same for a COPY: waiting for its lock, and waiting for its rows. */
static void test_db__a_copy_is_canceled_waiting_for_a_lock_or_rows(void **state)
{
	char ci[KVMT_CONNINFO_MAX];
	volatile sig_atomic_t flag = 0;
	struct kvm_error err = { 0 };
	struct later l;
	struct kvm_db *db;
	PGconn *holder;
	PGresult *res = NULL;
	char *buf = NULL;
	double t0;
	int n;
	(void)state;

	db = locked_table(ci, sizeof(ci), &holder, &flag);
	start_later(&l, &flag, 300);
	t0 = now_s();
	assert_int_equal(kvm_db_run(db, "COPY (SELECT x FROM t) TO STDOUT", 0,
	                            NULL, &res, &err), KVM_ECANCELED);
	assert_null(res);
	assert_true(now_s() - t0 < 0.3 + 1.0);
	pthread_join(l.thread, NULL);
	assert_non_null(strstr(err.msg, "'COPY (SELECT x FROM t) TO STDOUT': "
	                       "canceled"));
	kvmt_exec(holder, "COMMIT");

	/* rows enough to fill the server's send buffer many times (it sends
	 * them at once), then one after 30 s */
	flag = 0;
	assert_int_equal(kvm_db_run(db, "COPY (SELECT repeat('x', 99) FROM "
	                            "generate_series(1, 1000) UNION ALL SELECT "
	                            "pg_sleep(30)::text) TO STDOUT", 0, NULL,
	                            &res, &err), 0);
	assert_int_equal(PQresultStatus(res), PGRES_COPY_OUT);
	PQclear(res);
	assert_int_equal(kvm_db_copy_data(db, &buf, &err), 100);
	PQfreemem(buf);
	start_later(&l, &flag, 300);
	t0 = now_s();
	while ((n = kvm_db_copy_data(db, &buf, &err)) > 0)
		PQfreemem(buf);
	assert_int_equal(n, KVM_ECANCELED);
	assert_true(now_s() - t0 < 0.3 + 1.5);
	pthread_join(l.thread, NULL);
	assert_non_null(strstr(err.msg, "canceled"));
	flag = 0;
	assert_int_equal(kvm_db_exec(db, "SELECT 1", &err), 0);

	kvm_db_close(db);
	PQfinish(holder);
	kvmt_db_drop(ci);
}

/* Retrying a server that is not there stops at the flag. */
static void test_db__the_retries_stop_at_the_flag(void **state)
{
	volatile sig_atomic_t flag = 0;
	struct kvm_db_opts o = { 0 };
	struct kvm_error err = { 0 };
	struct kvm_db *db = NULL;
	struct later l;
	double t0;
	(void)state;

	o.conninfo = "host=127.0.0.1 port=1 user=u dbname=d";
	o.retry_ms = 30000;
	o.cancel = &flag;
	start_later(&l, &flag, 500);
	t0 = now_s();
	assert_int_equal(kvm_db_open(&db, &o, &err), KVM_ECANCELED);
	assert_true(now_s() - t0 < 0.5 + 1.0);
	pthread_join(l.thread, NULL);
	assert_null(db);
	assert_non_null(strstr(err.msg, "canceled after"));
	assert_non_null(strstr(err.msg, "port 1"));

	/* set before: no attempt at all */
	assert_int_equal(kvm_db_open(&db, &o, &err), KVM_ECANCELED);
	assert_null(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_db__redaction_finds_the_password_in_every_form),
		cmocka_unit_test(test_db__redaction_leaves_other_text_alone),
		cmocka_unit_test(test_db__application_name_is_kvmigrate),
		cmocka_unit_test(test_db__uri_and_pg_variables),
		cmocka_unit_test(test_db__wrong_password_fails_at_once_without_showing_it),
		cmocka_unit_test(test_db__unreachable_server_is_retried_for_a_bounded_time),
		cmocka_unit_test(test_db__server_errors_are_one_line_with_sqlstate),
		cmocka_unit_test(test_db__server_notices_are_not_printed),
		cmocka_unit_test(test_db__a_statement_waiting_for_a_lock_is_canceled),
		cmocka_unit_test(test_db__a_copy_is_canceled_waiting_for_a_lock_or_rows),
		cmocka_unit_test(test_db__the_retries_stop_at_the_flag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
