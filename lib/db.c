/*
 * db.c - connecting to PostgreSQL, one query-and-check helper, and
 * messages that never carry the password.
 *
 * Connecting: PQconnectdbParams with the user's conninfo as an expanded
 * "dbname" and application_name after it, so the caller's string cannot
 * rename the session the lock holder is recognised by.  A connect_timeout
 * of 10 s goes before it, so a conninfo or PGCONNECT_TIMEOUT that sets one
 * wins.  A failure is retried only when PQpingParams says the server did
 * not answer or is not accepting connections yet (starting, shutting
 * down, recovering); an answer such as "password authentication failed"
 * or "database does not exist" will not change by waiting.
 *
 * Passwords: libpq does not put the password into its messages, except
 * that a conninfo it cannot parse may be quoted back.  Every message made
 * here goes through kvm_db_redact_conninfo(), which removes the password
 * it can find in the conninfo (parsed by libpq, or found by hand when
 * libpq cannot parse the string) and, for an unparsable string, every
 * quoted fragment of it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "db.h"

struct kvm_db {
	PGconn *conn;
	char *conninfo;              /* copy, for redaction; NULL when none */
	char target[KVM_TARGET_MAX];
};

#define MASK "********"
/* A password shorter than this is masked only where it stands alone:
 * masking every "a" of a message would make it unreadable. */
#define SHORT_SECRET 4

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Make @s one line: newlines become "; ", trailing blanks go. */
static void one_line(char *s)
{
	size_t n = strlen(s), o = 0;

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n') {
			/* "; " replaces the newline and the indentation after it */
			while (i + 1 < n && (s[i + 1] == ' ' || s[i + 1] == '\t'))
				i++;
			if (o + 2 <= i + 1) {
				s[o++] = ';';
				s[o++] = ' ';
			} else {
				s[o++] = ' ';
			}
		} else if (s[i] == '\r' || s[i] == '\t') {
			s[o++] = ' ';
		} else {
			s[o++] = s[i];
		}
	}
	s[o] = '\0';
}

static int is_word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

/* Replace every occurrence of @secret (@len bytes) in @msg by MASK. */
static void mask(char *msg, size_t size, const char *secret, size_t len)
{
	char out[KVM_ERROR_MSG_MAX];
	size_t o = 0, i = 0, n = strlen(msg);

	if (len == 0 || size > sizeof(out))
		return;
	while (i < n && o + 1 < size) {
		int hit = i + len <= n && memcmp(msg + i, secret, len) == 0;

		if (hit && len < SHORT_SECRET)
			hit = (i == 0 || !is_word_char(msg[i - 1])) &&
			      (i + len == n || !is_word_char(msg[i + len]));
		if (hit) {
			for (const char *m = MASK; *m != '\0' && o + 1 < size; m++)
				out[o++] = *m;
			i += len;
		} else {
			out[o++] = msg[i++];
		}
	}
	out[o] = '\0';
	memcpy(msg, out, o + 1);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Mask @s[0..len) as written and, if it holds %XX escapes, decoded. */
static void mask_raw_and_decoded(char *msg, size_t size, const char *s, size_t len)
{
	char dec[KVM_ERROR_MSG_MAX];
	size_t o = 0;

	mask(msg, size, s, len);
	if (len >= sizeof(dec))
		return;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			dec[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			dec[o++] = s[i];
		}
	}
	if (o != len)
		mask(msg, size, dec, o);
}

/*
 * The passwords a conninfo may hold, found without libpq's parser (which
 * fails on exactly the strings whose fragments it then quotes): the
 * userinfo password of a URI, and any "password=" value.
 */
static void mask_by_hand(const char *ci, char *msg, size_t size)
{
	const char *p = strstr(ci, "://");

	if (p != NULL) {
		const char *rest = p + 3, *at = strrchr(rest, '@');

		if (at != NULL) {
			const char *colon = memchr(rest, ':', (size_t)(at - rest));

			if (colon != NULL)
				mask_raw_and_decoded(msg, size, colon + 1,
				                     (size_t)(at - colon - 1));
		}
	}
	for (p = ci; (p = strstr(p, "password")) != NULL; ) {
		const char *v = p + strlen("password");
		size_t len;

		p = v;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v != '=')
			continue;
		v++;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v == '\'') {
			const char *e = ++v;

			while (*e != '\0' && *e != '\'')
				e += (*e == '\\' && e[1] != '\0') ? 2 : 1;
			len = (size_t)(e - v);
		} else {
			len = strcspn(v, " \t\n&");
		}
		mask_raw_and_decoded(msg, size, v, len);
	}
}

/* Replace each "quoted" fragment of @msg that occurs in @ci by "...". */
static void mask_quoted_fragments(const char *ci, char *msg, size_t size)
{
	char out[KVM_ERROR_MSG_MAX];
	size_t o = 0, n = strlen(msg);

	if (size > sizeof(out))
		return;
	for (size_t i = 0; i < n && o + 1 < size; ) {
		const char *close = msg[i] == '"' ? strchr(msg + i + 1, '"') : NULL;
		size_t flen = close ? (size_t)(close - (msg + i + 1)) : 0;
		int hit = 0;

		if (close != NULL && flen >= 2) {
			char frag[KVM_ERROR_MSG_MAX];

			memcpy(frag, msg + i + 1, flen);
			frag[flen] = '\0';
			hit = strstr(ci, frag) != NULL;
		}
		if (hit) {
			for (const char *m = "\"...\""; *m != '\0' && o + 1 < size; m++)
				out[o++] = *m;
			i += flen + 2;
		} else {
			out[o++] = msg[i++];
		}
	}
	out[o] = '\0';
	memcpy(msg, out, o + 1);
}

void kvm_db_redact_conninfo(const char *conninfo, char *msg, size_t size)
{
	PQconninfoOption *opts;
	char *perr = NULL;

	if (conninfo == NULL || conninfo[0] == '\0' || size == 0)
		return;
	opts = PQconninfoParse(conninfo, &perr);
	if (opts != NULL) {
		for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
			if (strcmp(o->keyword, "password") == 0 && o->val != NULL)
				mask(msg, size, o->val, strlen(o->val));
		PQconninfoFree(opts);
	} else {
		PQfreemem(perr);
		mask_quoted_fragments(conninfo, msg, size);
	}
	mask_by_hand(conninfo, msg, size);
}

void kvm_db_redact(const struct kvm_db *db, char *msg, size_t size)
{
	kvm_db_redact_conninfo(db->conninfo, msg, size);
}

/* Describe the target from a connection object, connected or not. */
static void describe(PGconn *conn, char *out, size_t size)
{
	const char *host = PQhost(conn), *port = PQport(conn);
	const char *db = PQdb(conn), *user = PQuser(conn);

	if (host == NULL || host[0] == '\0')
		host = "the default socket";
	snprintf(out, size, "database '%s' on %s%s%s as user '%s'",
	         db ? db : "", host, port && port[0] ? " port " : "",
	         port && port[0] ? port : "", user ? user : "");
}

/*
 * libpq's default notice processor writes to stderr: a server NOTICE (a
 * SQL version's DDL may raise one), or the FATAL that follows an error a
 * query already returned when the server ends the session.  The library
 * never prints, and every failure reaches the caller as its error.
 */
static void drop_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

int kvm_db_open(struct kvm_db **out, const struct kvm_db_opts *opts,
                struct kvm_error *err)
{
	const char *ci = opts->conninfo != NULL ? opts->conninfo : "";
	const char *timeout = getenv("PGCONNECT_TIMEOUT") ? NULL : "10";
	const char *kw[] = { "connect_timeout", "dbname", "application_name", NULL };
	const char *val[] = { timeout, ci, "kvmigrate", NULL };
	uint64_t start = kvm_now_ms();
	unsigned delay = 100;
	struct kvm_db *db;

	*out = NULL;
	db = calloc(1, sizeof(*db));
	if (db == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	if (ci[0] != '\0' && (db->conninfo = strdup(ci)) == NULL) {
		free(db);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	if (ci[0] != '\0') {
		char *perr = NULL;
		PQconninfoOption *o = PQconninfoParse(ci, &perr);

		if (o == NULL) {
			kvm_error_set(err, KVM_ECONNECT, "cannot use the connection "
			              "string: %s", perr ? perr : "out of memory");
			PQfreemem(perr);
			one_line(err->msg);
			kvm_db_redact(db, err->msg, sizeof(err->msg));
			kvm_db_close(db);
			return KVM_ECONNECT;
		}
		PQconninfoFree(o);
	}
	for (unsigned attempt = 1;; attempt++) {
		char reason[KVM_ERROR_MSG_MAX];
		PGPing ping;
		uint64_t spent;

		db->conn = PQconnectdbParams(kw, val, 1);
		if (db->conn == NULL) {
			kvm_db_close(db);
			return kvm_error_set(err, KVM_ENOMEM, "out of memory");
		}
		describe(db->conn, db->target, sizeof(db->target));
		kvm_db_redact(db, db->target, sizeof(db->target));
		if (PQstatus(db->conn) == CONNECTION_OK)
			break;
		snprintf(reason, sizeof(reason), "%s", PQerrorMessage(db->conn));
		one_line(reason);
		kvm_db_redact(db, reason, sizeof(reason));
		PQfinish(db->conn);
		db->conn = NULL;
		ping = PQpingParams(kw, val, 1);
		spent = kvm_now_ms() - start;
		if ((ping != PQPING_NO_RESPONSE && ping != PQPING_REJECT) ||
		    spent + delay > opts->retry_ms) {
			if (attempt > 1)
				kvm_error_set(err, KVM_ECONNECT, "cannot connect to %s "
				              "(%u attempts in %.1f s): %s", db->target,
				              attempt, (double)spent / 1000.0, reason);
			else
				kvm_error_set(err, KVM_ECONNECT, "cannot connect to %s: %s",
				              db->target, reason);
			kvm_db_close(db);
			return KVM_ECONNECT;
		}
		if (opts->on_event != NULL) {
			struct kvm_event ev = { .kind = KVM_EVENT_CONNECT_RETRY,
			                        .attempt = attempt, .delay_ms = delay,
			                        .reason = reason };

			opts->on_event(opts->event_ctx, &ev);
		}
		sleep_ms(delay);
		delay = delay * 2 > 2000 ? 2000 : delay * 2;
	}
	PQsetNoticeProcessor(db->conn, drop_notice, NULL);
	*out = db;
	return 0;
}

void kvm_db_close(struct kvm_db *db)
{
	if (db == NULL)
		return;
	PQfinish(db->conn);
	free(db->conninfo);
	free(db);
}

PGconn *kvm_db_conn(struct kvm_db *db)
{
	return db->conn;
}

const char *kvm_db_target(const struct kvm_db *db)
{
	return db->target;
}

const char *kvm_db_sqlstate(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return s ? s : "";
}

int kvm_db_identity(struct kvm_db *db, char *out, size_t size,
                    struct kvm_error *err)
{
	PGresult *res;
	int rc;

	rc = kvm_db_query(db, &res, "SELECT " KVM_DB_IDENTITY_SQL, 0, NULL, err);
	if (rc != 0)
		return rc;
	snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/* The length of the name in identity @id, and where its system
 * identifier starts (NULL: none): after the last '@', all digits. */
static size_t identity_split(const char *id, const char **sysid)
{
	const char *at = strrchr(id, '@');

	*sysid = NULL;
	if (at == NULL || at[1] == '\0' || strspn(at + 1, "0123456789") !=
	    strlen(at + 1))
		return strlen(id);
	*sysid = at + 1;
	return (size_t)(at - id);
}

int kvm_db_same_identity(const char *a, const char *b)
{
	const char *sa, *sb;
	size_t la = identity_split(a, &sa), lb = identity_split(b, &sb);

	if (la != lb || memcmp(a, b, la) != 0)
		return 0;
	return sa == NULL || sb == NULL || strcmp(sa, sb) == 0;
}

int kvm_db_error(struct kvm_db *db, const PGresult *res, int code,
                 struct kvm_error *err)
{
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	const char *state = kvm_db_sqlstate(res);

	if (primary == NULL) {
		/* no server error: the connection's own (lost connection, ...) */
		kvm_error_set(err, code, "%s", PQerrorMessage(db->conn));
		if (err != NULL && err->msg[0] == '\0')
			kvm_error_set(err, code, "unknown error from libpq");
	} else {
		kvm_error_set(err, code, "%s%s%s%s%s%s%s%s", primary,
		              state[0] ? " (SQLSTATE " : "", state, state[0] ? ")" : "",
		              detail ? "; detail: " : "", detail ? detail : "",
		              hint ? "; hint: " : "", hint ? hint : "");
	}
	if (err != NULL) {
		one_line(err->msg);
		kvm_db_redact(db, err->msg, sizeof(err->msg));
	}
	return code;
}

/* The start of @sql as one short line, for messages. */
static void sql_head(const char *sql, char *out, size_t size)
{
	size_t o = 0;

	for (; *sql != '\0' && o + 4 < size; sql++)
		out[o++] = (*sql == '\n' || *sql == '\t') ? ' ' : *sql;
	if (*sql != '\0')
		out[o++] = '.', out[o++] = '.', out[o++] = '.';
	out[o] = '\0';
}

int kvm_db_exec(struct kvm_db *db, const char *sql, struct kvm_error *err)
{
	PGresult *res = PQexec(db->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	char head[80];

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		PQclear(res);
		return 0;
	}
	kvm_db_error(db, res, KVM_EDB, err);
	PQclear(res);
	sql_head(sql, head, sizeof(head));
	return kvm_error_prefix(err, "%s: '%s'", db->target, head);
}

int kvm_db_query(struct kvm_db *db, PGresult **res, const char *sql,
                 int nparams, const char *const *params, struct kvm_error *err)
{
	PGresult *r = PQexecParams(db->conn, sql, nparams, NULL, params, NULL,
	                           NULL, 0);
	char head[80];

	*res = NULL;
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		*res = r;
		return 0;
	}
	kvm_db_error(db, r, KVM_EDB, err);
	PQclear(r);
	sql_head(sql, head, sizeof(head));
	return kvm_error_prefix(err, "%s: '%s'", db->target, head);
}
