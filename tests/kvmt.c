/*
 * kvmt.c - helpers shared by the cmocka test programs (see kvmt.h).
 *
 * Everything here talks to real things: the harness's PostgreSQL server over
 * libpq, the file system through POSIX calls. Helpers that a test cannot go
 * on without fail the test; the others return a status, so that tests can
 * also exercise failures with them.
 */
#include "kvmt.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

/* Reading the harness's environment ------------------------------------------ */

/*
 * Fail rather than skip when the harness is missing: a suite that skipped
 * every database test would still report success.
 */
static const char *harness_env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || v[0] == '\0') {
		fail_msg("%s is not set: these tests need the throwaway PostgreSQL "
			 "cluster of tests/tools/pg-harness.sh; run them through "
			 "'make check'", name);
		return NULL;
	}
	return v;
}

const char *kvmt_db(void)
{
	return harness_env("KVMIGRATE_TEST_DB");
}

const char *kvmt_db_tcp(void)
{
	return harness_env("KVMIGRATE_TEST_DB_TCP");
}

PGconn *kvmt_connect(const char *conninfo)
{
	PGconn *conn = PQconnectdb(conninfo);

	if (conn == NULL) {
		fail_msg("cannot connect to '%s': out of memory", conninfo);
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		/* Copy the message: PQfinish frees it, and fail_msg does not return. */
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
		PQfinish(conn);
		fail_msg("cannot connect to '%s': %s", conninfo, msg);
		return NULL;
	}
	return conn;
}

void kvmt_exec(PGconn *conn, const char *sql)
{
	PGresult *r = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
		PQclear(r);
		fail_msg("%s: %s", sql, msg);
	}
	PQclear(r);
}

/* Databases --------------------------------------------------------------------- */

/*
 * Append printf-style text at *off in out[n]; -1 once it does not fit, so a
 * caller can chain appends and check once.
 */
static int append(char *out, size_t n, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int append(char *out, size_t n, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int len;

	if (*off >= n)
		return -1;
	va_start(ap, fmt);
	len = vsnprintf(out + *off, n - *off, fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= n - *off) {
		*off = n;
		return -1;
	}
	*off += (size_t)len;
	return 0;
}

/* Append " keyword='value'" with the quoting libpq's conninfo parser expects. */
static int append_kv(char *out, size_t n, size_t *off, const char *kw, const char *val)
{
	int rc = append(out, n, off, " %s='", kw);

	for (const char *p = val; rc == 0 && *p != '\0'; p++) {
		if (*p == '\'' || *p == '\\')
			rc = append(out, n, off, "\\");
		if (rc == 0)
			rc = append(out, n, off, "%c", *p);
	}
	return rc == 0 ? append(out, n, off, "'") : rc;
}

/*
 * The harness's conninfo with dbname replaced. The string is parsed and
 * written again rather than appended to: an appended "dbname=" would also
 * win (libpq keeps the last value of a keyword), but only in keyword/value
 * form, not in a postgresql:// URI.
 */
static int conninfo_with_dbname(char *out, size_t n, const char *base, const char *dbname)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(base, &err);
	size_t off = 0;
	int rc = 0;

	if (opts == NULL) {
		print_error("kvmt: cannot parse conninfo '%s': %s\n", base,
			    err ? err : "out of memory");
		PQfreemem(err);
		return -1;
	}
	out[0] = '\0';
	for (PQconninfoOption *o = opts; rc == 0 && o->keyword != NULL; o++) {
		if (o->val == NULL || strcmp(o->keyword, "dbname") == 0)
			continue;
		rc = append_kv(out, n, &off, o->keyword, o->val);
	}
	if (rc == 0)
		rc = append_kv(out, n, &off, "dbname", dbname);
	PQconninfoFree(opts);
	if (rc != 0)
		print_error("kvmt: conninfo for database '%s' does not fit in %zu bytes\n",
			    dbname, n);
	return rc;
}

/* The value of dbname in a conninfo string, malloc'd; NULL if absent. */
static char *conninfo_dbname(const char *conninfo)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
	char *name = NULL;

	if (opts == NULL) {
		PQfreemem(err);
		return NULL;
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "dbname") == 0 && o->val != NULL)
			name = strdup(o->val);
	PQconninfoFree(opts);
	return name;
}

/* Run one utility statement; 0 or -1 with the server's message in msg. */
static int exec_command(PGconn *conn, const char *sql, char *msg, size_t msgsize)
{
	PGresult *res = PQexec(conn, sql);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(msg, msgsize, "%s", PQerrorMessage(conn));
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/*
 * Names only need to be unique within one cluster, and test programs run one
 * at a time, each in its own process: pid plus a per-process counter does.
 */
static unsigned kvmt_db_counter;

int kvmt_db_create(char *conninfo_out, size_t n, const char *prefix)
{
	char name[64], sql[160], msg[512];
	size_t plen = prefix ? strlen(prefix) : 0;
	PGconn *conn;
	char *ident;
	int rc;

	/* Short and plain, so that the name fits PostgreSQL's 63 bytes with pid
	 * and counter and reads as-is in the server log. */
	if (plen == 0 || plen > 32 || strspn(prefix, "abcdefghijklmnopqrstuvwxyz0123456789_") != plen) {
		print_error("kvmt_db_create: invalid prefix '%s': want 1 to 32 of [a-z0-9_]\n",
			    prefix ? prefix : "(null)");
		return -1;
	}
	snprintf(name, sizeof(name), "%s_%ld_%u", prefix, (long)getpid(), ++kvmt_db_counter);
	if (conninfo_with_dbname(conninfo_out, n, kvmt_db(), name) != 0)
		return -1;

	conn = kvmt_connect(kvmt_db());
	ident = PQescapeIdentifier(conn, name, strlen(name));
	if (ident == NULL) {
		print_error("kvmt_db_create: cannot quote '%s': %s", name, PQerrorMessage(conn));
		PQfinish(conn);
		return -1;
	}
	/* Named explicitly: the test wants template1's emptiness, whatever the
	 * cluster's default template is. */
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s TEMPLATE template1", ident);
	PQfreemem(ident);
	rc = exec_command(conn, sql, msg, sizeof(msg));
	if (rc != 0)
		print_error("kvmt_db_create: %s: %s", sql, msg);
	PQfinish(conn);
	return rc;
}

void kvmt_db_drop(const char *conninfo)
{
	char sql[160], msg[512];
	char *name = conninfo_dbname(conninfo);
	char *harness = conninfo_dbname(kvmt_db());
	int same = name != NULL && harness != NULL && strcmp(name, harness) == 0;
	PGconn *conn;
	char *ident;
	int rc;

	free(harness);
	/* Never drop what the whole suite runs on, whatever a test passes: a
	 * wrong conninfo here would fail every later test in the run. */
	if (name == NULL || same || strcmp(name, "postgres") == 0 ||
	    strncmp(name, "template", 8) == 0) {
		fail_msg("kvmt_db_drop: refusing to drop database '%s' of '%s'",
			 name ? name : "(none)", conninfo);
		free(name);
		return;
	}
	conn = kvmt_connect(kvmt_db());
	ident = PQescapeIdentifier(conn, name, strlen(name));
	if (ident == NULL || strlen(ident) > 100) {
		PQfreemem(ident);
		PQfinish(conn);
		fail_msg("kvmt_db_drop: cannot quote database name '%s'", name);
		free(name);
		return;
	}
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", ident);
	PQfreemem(ident);
	free(name);
	rc = exec_command(conn, sql, msg, sizeof(msg));
	PQfinish(conn);
	if (rc != 0)
		fail_msg("kvmt_db_drop: %s: %s", sql, msg);
}

/* Files --------------------------------------------------------------------------- */

char *kvmt_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	/* mkdtemp: mode 0700 and a name nobody can predict, so two test
	 * programs (or a plain and an ASan build) never share a directory. */
	if (asprintf(&path, "%s/kvmt.XXXXXX", base) < 0) {
		fail_msg("kvmt_tmpdir: out of memory");
		return NULL;
	}
	if (mkdtemp(path) == NULL) {
		int e = errno;

		free(path);
		fail_msg("kvmt_tmpdir: cannot create a directory under '%s': %s", base,
			 strerror(e));
		return NULL;
	}
	return path;
}

/* nftw gives the callback no user pointer; report and go on with the rest. */
static int rmtree_entry(const char *fpath, const struct stat *sb, int typeflag,
			struct FTW *ftwbuf)
{
	(void)sb;
	(void)typeflag;
	(void)ftwbuf;
	if (remove(fpath) != 0)
		print_error("kvmt_rmtree: cannot remove '%s': %s\n", fpath, strerror(errno));
	return 0;
}

void kvmt_rmtree(const char *path)
{
	if (path == NULL)
		return;
	if (strncmp(path, "kvmt.", 5) != 0 && strstr(path, "/kvmt.") == NULL) {
		fail_msg("kvmt_rmtree: refusing to remove '%s': not below kvmt_tmpdir()", path);
		return;
	}
	/* FTW_DEPTH: children before their directory; FTW_PHYS: never follow links. */
	if (nftw(path, rmtree_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
		print_error("kvmt_rmtree: cannot walk '%s': %s\n", path, strerror(errno));
}

int kvmt_write_file(const char *path, const void *buf, size_t n)
{
	const char *p = buf;
	/* 0600 like the tool's own outputs: fixtures may hold credentials. */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int e;

	if (fd < 0)
		goto fail;
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail_close;
		p += w;
		n -= (size_t)w;
	}
	/* close() can report a deferred write error (NFS, quota): check it. */
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	return 0;

fail_close:
	e = errno;
	close(fd);
	errno = e;
fail:
	e = errno;
	print_error("kvmt_write_file: cannot write '%s': %s\n", path, strerror(e));
	errno = e;
	return -1;
}

void *kvmt_read_file(const char *path, size_t *n)
{
	size_t cap = 4096, len = 0;
	char *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int e;

	if (fd < 0)
		goto fail;
	/* Read to EOF rather than trusting st_size: also works for pipes and /proc. */
	for (;;) {
		ssize_t r;

		if (buf == NULL || len + 1 >= cap) {
			char *nb;

			if (buf != NULL)
				cap *= 2;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				errno = ENOMEM;
				goto fail_close;
			}
			buf = nb;
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail_close;
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	if (n != NULL)
		*n = len;
	return buf;

fail_close:
	e = errno;
	close(fd);
	errno = e;
fail:
	e = errno;
	free(buf);
	print_error("kvmt_read_file: cannot read '%s': %s\n", path, strerror(e));
	errno = e;
	return NULL;
}
