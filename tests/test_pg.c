/*
 * test_pg.c - the PostgreSQL test harness keeps its promises.
 *
 * Every other test relies on tests/tools/pg-harness.sh and on the database
 * helpers of kvmt.c; these tests check what they promise (design/testing.md):
 * a PostgreSQL 15 or newer server reachable by the unix socket named in
 * KVMIGRATE_TEST_DB with trust, by TCP on 127.0.0.1 with a password only,
 * not running as root, and fresh databases made and dropped on demand.
 */
#include "kvmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

/* The single value of a one-row, one-column query, malloc'd (NULL for SQL NULL). */
static char *query_value(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	char *v = NULL;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
		PQclear(res);
		fail_msg("%s: %s", sql, msg);
		return NULL;
	}
	assert_int_equal(PQntuples(res), 1);
	assert_int_equal(PQnfields(res), 1);
	if (!PQgetisnull(res, 0, 0))
		v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

/* The value of one keyword of a conninfo string, malloc'd; fails if absent. */
static char *conninfo_value(const char *conninfo, const char *keyword)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
	char *v = NULL;

	if (opts == NULL) {
		PQfreemem(err);
		fail_msg("cannot parse conninfo '%s'", conninfo);
		return NULL;
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, keyword) == 0 && o->val != NULL)
			v = strdup(o->val);
	PQconninfoFree(opts);
	if (v == NULL)
		fail_msg("conninfo '%s' has no %s", conninfo, keyword);
	return v;
}

static void test_pg__server_is_postgresql_15_or_newer(void **state)
{
	PGconn *conn = kvmt_connect(kvmt_db());
	char *num = query_value(conn, "SHOW server_version_num");

	(void)state;
	assert_non_null(num);
	assert_true(atol(num) >= 150000);
	assert_int_equal(PQserverVersion(conn), atol(num));
	free(num);
	PQfinish(conn);
}

/*
 * The server behind the socket is the harness's own: it listens in the
 * private socket directory and on the port that KVMIGRATE_TEST_DB names, not
 * some system cluster found by a default.
 */
static void test_pg__socket_dir_and_port_match_conninfo(void **state)
{
	char *host = conninfo_value(kvmt_db(), "host");
	char *port = conninfo_value(kvmt_db(), "port");
	PGconn *conn = kvmt_connect(kvmt_db());
	char *dirs = query_value(conn, "SHOW unix_socket_directories");
	char *srv_port = query_value(conn, "SHOW port");
	char *addr = query_value(conn, "SELECT inet_server_addr()::text");

	(void)state;
	assert_true(host[0] == '/');
	assert_string_equal(dirs, host);
	assert_string_equal(srv_port, port);
	assert_string_equal(PQhost(conn), host);
	/* NULL means: this connection came in through a unix socket. */
	assert_null(addr);
	free(host);
	free(port);
	free(dirs);
	free(srv_port);
	free(addr);
	PQfinish(conn);
}

/*
 * PostgreSQL refuses to start as root; the harness must have handed the
 * server to another user when run by root. A superuser can ask the server's
 * OS user directly: COPY ... FROM PROGRAM runs as that user.
 */
static void test_pg__server_does_not_run_as_root(void **state)
{
	PGconn *conn = kvmt_connect(kvmt_db());
	PGresult *res = PQexec(conn, "CREATE TEMP TABLE os_uid (uid text); "
				     "COPY os_uid FROM PROGRAM 'id -u'");
	char *uid;

	(void)state;
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	uid = query_value(conn, "SELECT uid FROM os_uid");
	assert_non_null(uid);
	assert_true(strspn(uid, "0123456789") == strlen(uid) && uid[0] != '\0');
	assert_string_not_equal(uid, "0");
	free(uid);
	PQfinish(conn);
}

static void test_pg__tcp_with_password_reaches_loopback(void **state)
{
	PGconn *conn = kvmt_connect(kvmt_db_tcp());
	char *addr = query_value(conn, "SELECT host(inet_server_addr())");
	char *user = query_value(conn, "SELECT current_user");
	char *method = query_value(conn, "SELECT auth_method FROM pg_hba_file_rules "
					 "WHERE type = 'host' AND address = '127.0.0.1' "
					 "ORDER BY line_number LIMIT 1");

	(void)state;
	assert_non_null(addr);
	assert_string_equal(addr, "127.0.0.1");
	assert_string_equal(user, "kvmigrate");
	assert_true(PQconnectionUsedPassword(conn));
	assert_non_null(method);
	assert_string_equal(method, "scram-sha-256");
	free(addr);
	free(user);
	free(method);
	PQfinish(conn);
}

/* Connect with the TCP conninfo plus extra keywords; later keywords win. */
static PGconn *connect_tcp_with(const char *extra)
{
	char conninfo[KVMT_CONNINFO_MAX];
	int len = snprintf(conninfo, sizeof(conninfo), "%s %s", kvmt_db_tcp(), extra);

	assert_true(len > 0 && (size_t)len < sizeof(conninfo));
	return PQconnectdb(conninfo);
}

static void test_pg__tcp_wrong_password_is_rejected(void **state)
{
	PGconn *conn = connect_tcp_with("password=not-the-password");

	(void)state;
	assert_non_null(conn);
	assert_int_equal(PQstatus(conn), CONNECTION_BAD);
	assert_non_null(strstr(PQerrorMessage(conn), "password authentication failed"));
	PQfinish(conn);
}

/*
 * Over TCP, no password means no connection, whatever the environment
 * around the test holds (the harness points PGPASSFILE at a missing file).
 */
static void test_pg__tcp_without_password_is_rejected(void **state)
{
	char *host = conninfo_value(kvmt_db_tcp(), "host");
	char *port = conninfo_value(kvmt_db_tcp(), "port");
	char conninfo[KVMT_CONNINFO_MAX];
	PGconn *conn;

	(void)state;
	snprintf(conninfo, sizeof(conninfo), "host=%s port=%s user=kvmigrate dbname=postgres",
		 host, port);
	conn = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(conn), CONNECTION_BAD);
	assert_non_null(strstr(PQerrorMessage(conn), "no password supplied"));
	PQfinish(conn);
	free(host);
	free(port);
}

/* Whether a database of that name exists, asked through the harness's database. */
static int database_exists(const char *name)
{
	PGconn *conn = kvmt_connect(kvmt_db());
	const char *params[1] = { name };
	PGresult *res = PQexecParams(conn, "SELECT count(*) FROM pg_database WHERE datname = $1",
				     1, NULL, params, NULL, NULL, 0);
	int n;

	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	n = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(conn);
	return n;
}

static void test_pg__db_create_gives_empty_database_and_drop_removes_it(void **state)
{
	char conninfo[KVMT_CONNINFO_MAX];
	PGconn *conn;
	char *name, *tables, *dbname;

	(void)state;
	assert_int_equal(kvmt_db_create(conninfo, sizeof(conninfo), "kvmt_pg"), 0);
	dbname = conninfo_value(conninfo, "dbname");
	assert_true(strncmp(dbname, "kvmt_pg_", 8) == 0);

	conn = kvmt_connect(conninfo);
	name = query_value(conn, "SELECT current_database()");
	assert_string_equal(name, dbname);
	tables = query_value(conn, "SELECT count(*) FROM pg_class c "
				   "JOIN pg_namespace n ON n.oid = c.relnamespace "
				   "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
				   "AND n.nspname NOT LIKE 'pg_toast%'");
	assert_string_equal(tables, "0");
	assert_int_equal(database_exists(dbname), 1);

	/* An open connection must not stop the drop (WITH (FORCE)). */
	kvmt_db_drop(conninfo);
	assert_int_equal(database_exists(dbname), 0);
	PQfinish(conn);

	free(name);
	free(tables);
	free(dbname);
}

static void test_pg__db_create_names_are_unique(void **state)
{
	char a[KVMT_CONNINFO_MAX], b[KVMT_CONNINFO_MAX];

	(void)state;
	assert_int_equal(kvmt_db_create(a, sizeof(a), "kvmt_pg"), 0);
	assert_int_equal(kvmt_db_create(b, sizeof(b), "kvmt_pg"), 0);
	assert_string_not_equal(a, b);
	kvmt_db_drop(a);
	kvmt_db_drop(b);
}

static void test_pg__db_create_rejects_bad_prefix_and_small_buffer(void **state)
{
	char small[16];
	char conninfo[KVMT_CONNINFO_MAX];

	(void)state;
	assert_int_equal(kvmt_db_create(conninfo, sizeof(conninfo), "Bad-Prefix"), -1);
	assert_int_equal(kvmt_db_create(conninfo, sizeof(conninfo), ""), -1);
	assert_int_equal(kvmt_db_create(small, sizeof(small), "kvmt_pg"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pg__server_is_postgresql_15_or_newer),
		cmocka_unit_test(test_pg__socket_dir_and_port_match_conninfo),
		cmocka_unit_test(test_pg__server_does_not_run_as_root),
		cmocka_unit_test(test_pg__tcp_with_password_reaches_loopback),
		cmocka_unit_test(test_pg__tcp_wrong_password_is_rejected),
		cmocka_unit_test(test_pg__tcp_without_password_is_rejected),
		cmocka_unit_test(test_pg__db_create_gives_empty_database_and_drop_removes_it),
		cmocka_unit_test(test_pg__db_create_names_are_unique),
		cmocka_unit_test(test_pg__db_create_rejects_bad_prefix_and_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
