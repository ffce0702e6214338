/*
 * kvmt.h - helpers shared by the cmocka test programs of kvmigrate.
 *
 * Every tests/test_<module>.c is linked with tests/kvmt.c. The helpers give
 * the tests what they need from the outside world, for real: a PostgreSQL
 * server (started by tests/tools/pg-harness.sh, never mocked), fresh
 * databases on it, private temporary directories, whole files.
 *
 * Failure conventions (the same for every helper):
 *  - Helpers that cannot sensibly go on when the world is broken (no server,
 *    no temporary directory) fail the current test themselves through
 *    cmocka's fail_msg(), which does not return. They are marked "fails the
 *    test" below.
 *  - Helpers whose failure a test may want to provoke or check return an
 *    int status (0 on success, -1 on failure) or NULL, with errno set where
 *    the cause is the OS, and print the reason with cmocka's print_error().
 *
 * Environment read (exported by tests/tools/pg-harness.sh; see
 * design/testing.md): KVMIGRATE_TEST_DB, KVMIGRATE_TEST_DB_TCP, TMPDIR.
 *
 * This header includes cmocka.h together with the headers cmocka.h needs
 * before it, so a test file starts with #include "kvmt.h". It does not
 * include libpq-fe.h: a test that talks to the server includes it itself.
 */
#ifndef KVMT_H
#define KVMT_H

/* cmocka.h uses these without including them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>

/*
 * libpq's connection type is "typedef struct pg_conn PGconn", so a test that
 * includes libpq-fe.h can pass a PGconn * wherever struct pg_conn * appears.
 */
struct pg_conn;

/* The longest conninfo string kvmt_db_create() writes; size buffers so. */
#define KVMT_CONNINFO_MAX 1024

/* --- PostgreSQL ------------------------------------------------------------ */

/*
 * kvmt_db - the conninfo of the harness's database.
 *
 * Returns getenv("KVMIGRATE_TEST_DB"): a libpq keyword/value conninfo string
 * that reaches the throwaway cluster through its unix socket as the
 * superuser "kvmigrate", with trust authentication, database "postgres".
 * The string belongs to the environment; do not free or modify it.
 *
 * Fails the test, telling to run the tests through "make check", when the
 * variable is not set (the binary was started outside the harness).
 */
const char *kvmt_db(void);

/*
 * kvmt_db_tcp - the conninfo of the harness's database over TCP.
 *
 * Returns getenv("KVMIGRATE_TEST_DB_TCP"): host 127.0.0.1, the same port,
 * user "kvmigrate" with its password (scram-sha-256 authentication).
 * Same ownership and failure as kvmt_db().
 */
const char *kvmt_db_tcp(void);

/*
 * kvmt_connect - open a libpq connection or fail the test.
 *
 * conninfo: in, any libpq conninfo string or URI.
 * Returns a connection in state CONNECTION_OK, owned by the caller, who
 * closes it with PQfinish(). On failure fails the test with libpq's message
 * (use PQconnectdb() directly to test a connection failure).
 */
struct pg_conn *kvmt_connect(const char *conninfo);

/*
 * kvmt_exec - run SQL (one or more statements) or fail the test.
 *
 * conn: in, an open connection; sql: in, the statements.
 * Fails the test with the statement and the server's message unless the
 * last result is a command or rows.
 */
void kvmt_exec(struct pg_conn *conn, const char *sql);

/*
 * kvmt_db_create - create a fresh, empty database for one test.
 *
 * conninfo_out: out, receives the conninfo of the new database: the
 *               harness's conninfo (kvmt_db()) with its dbname replaced.
 *               It stays valid after this call returns (it is the caller's
 *               buffer).
 * n:            in, size of conninfo_out; KVMT_CONNINFO_MAX is always enough.
 * prefix:       in, start of the database name: 1 to 32 characters of
 *               [a-z0-9_]. The name is "<prefix>_<pid>_<counter>", unique in
 *               the cluster across the test programs of one run (they run
 *               one after the other, each with its own pid).
 *
 * The database is created from template1 with CREATE DATABASE (the name
 * quoted with PQescapeIdentifier()), so it holds no tables of its own.
 *
 * Returns 0 on success; -1 with a message printed when the prefix is
 * invalid, the buffer too small or the server refuses. Fails the test when
 * the harness's database cannot be reached at all.
 * Drop the database with kvmt_db_drop(conninfo_out).
 */
int kvmt_db_create(char *conninfo_out, size_t n, const char *prefix);

/*
 * kvmt_db_drop - drop a database made by kvmt_db_create().
 *
 * conninfo: in, the string kvmt_db_create() wrote.
 *
 * Drops the database named by its dbname with DROP DATABASE IF EXISTS ...
 * WITH (FORCE), so connections the test left open do not stop it. Dropping
 * a database that no longer exists is not an error. Refuses (fails the
 * test) to drop the harness's own database or a conninfo without dbname;
 * fails the test when the server refuses.
 */
void kvmt_db_drop(const char *conninfo);

/* --- files ----------------------------------------------------------------- */

/*
 * kvmt_tmpdir - make a private temporary directory.
 *
 * Creates "$TMPDIR/kvmt.XXXXXX" (or under /tmp when TMPDIR is unset or
 * empty) with mkdtemp(), mode 0700. Returns its path, malloc'd: the caller
 * frees it with free(), normally after kvmt_rmtree(path).
 * Fails the test when the directory cannot be created.
 */
char *kvmt_tmpdir(void);

/*
 * kvmt_rmtree - remove a directory tree made under kvmt_tmpdir().
 *
 * path: in, the directory; NULL does nothing.
 *
 * Removes everything below path and path itself, without following
 * symbolic links (nftw(FTW_DEPTH | FTW_PHYS)). As a guard against a test
 * bug removing the wrong tree, path must contain a component starting with
 * "kvmt." (as every path below kvmt_tmpdir() does); otherwise nothing is
 * removed and the test fails. Entries that cannot be removed are reported
 * with print_error() and skipped.
 */
void kvmt_rmtree(const char *path);

/*
 * kvmt_write_file - write a whole file.
 *
 * path: in, created with mode 0600 (umask applies) or truncated.
 * buf, n: in, the bytes to write; buf may be NULL when n is 0.
 *
 * Returns 0 when all n bytes were written and the file closed without
 * error; -1 with errno set (and a message printed) otherwise.
 */
int kvmt_write_file(const char *path, const void *buf, size_t n);

/*
 * kvmt_read_file - read a whole file.
 *
 * path: in, the file.
 * n:    out, receives the number of bytes read; may be NULL.
 *
 * Returns a malloc'd buffer holding the file's bytes followed by one extra
 * 0 byte (not counted in *n), so a text file can be used as a string; the
 * caller frees it with free(). Returns NULL with errno set (and a message
 * printed) when the file cannot be opened or read.
 */
void *kvmt_read_file(const char *path, size_t *n);

#endif /* KVMT_H */
