/*
 * test_db.c - connecting (lib/db.c): libpq's ways of naming a database,
 * application_name, bounded retries of transient failures only, and
 * messages that never carry the password; server notices never printed.
 */
#include "kvmt.h"

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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
