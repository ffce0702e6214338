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
 * Canceling: a statement is sent with PQsendQuery/PQsendQueryParams and
 * its result awaited with poll() on the connection's socket, at most
 * KVM_DB_WAIT_SLICE_MS at a time, the cancel flag read between (a signal
 * also ends a poll early).  Once it is set: PQcancel, then the rest of the
 * statement's output is read and dropped, for at most
 * KVM_DB_CANCEL_WAIT_MS; a server that has not answered by then gets its
 * connection shut down, which libpq then reports as lost, exactly as a
 * connection that broke.  The last result decides: a statement that
 * completed before the cancel reached the server is not reported
 * canceled.  PQcancel blocks while it connects to the server, which is
 * quick where the connection itself works.
 *
 * Passwords: libpq does not put the password into its messages, except
 * that a conninfo it cannot parse may be quoted back.  Every message made
 * here goes through kvm_db_redact_conninfo(), which removes the password
 * it can find in the conninfo (parsed by libpq, or found by hand when
 * libpq cannot parse the string) and, for an unparsable string, every
 * quoted fragment of it.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "db.h"

struct kvm_db {
	PGconn *conn;
	char *conninfo;              /* copy, for redaction; NULL when none */
	char target[KVM_TARGET_MAX];
	const volatile sig_atomic_t *cancel;  /* NULL: none */
	char head[80];               /* the statement last sent, for messages */
};

#define MASK "********"
/* A password shorter than this is masked only where it stands alone:
 * masking every "a" of a message would make it unreadable. */
#define SHORT_SECRET 4

/* An atomic read: a signal handler sets the flag, but so may another
 * thread of a program that links the library. */
static int canceled(const struct kvm_db *db)
{
	return db->cancel != NULL &&
	       __atomic_load_n(db->cancel, __ATOMIC_RELAXED) != 0;
}

/* Sleep @ms, in slices; 1 as soon as the cancel flag is set. */
static int sleep_or_cancel(const struct kvm_db *db, unsigned ms)
{
	uint64_t end = kvm_now_ms() + ms;

	for (;;) {
		uint64_t now = kvm_now_ms(), left;
		struct timespec ts;

		if (canceled(db))
			return 1;
		if (now >= end)
			return 0;
		left = end - now < KVM_DB_WAIT_SLICE_MS ? end - now
		                                        : KVM_DB_WAIT_SLICE_MS;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000L;
		/* EINTR: a signal came, perhaps the one that sets the flag */
		nanosleep(&ts, NULL);
	}
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

/* The retries of kvm_db_open stop: close @db and say so. */
static int connect_canceled(struct kvm_db *db, unsigned attempts,
                            uint64_t start, const char *reason,
                            struct kvm_error *err)
{
	kvm_error_set(err, KVM_ECANCELED, "cannot connect to %s: canceled after "
	              "%u attempt%s in %.1f s; the last one failed: %s",
	              db->target, attempts, attempts == 1 ? "" : "s",
	              (double)(kvm_now_ms() - start) / 1000.0, reason);
	kvm_db_close(db);
	return KVM_ECANCELED;
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
	db->cancel = opts->cancel;
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

		if (attempt == 1 && canceled(db)) {
			kvm_db_close(db);
			return kvm_error_set(err, KVM_ECANCELED, "connecting to the "
			                     "database: canceled");
		}
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
		if (canceled(db))
			return connect_canceled(db, attempt, start, reason, err);
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
		if (sleep_or_cancel(db, delay))
			return connect_canceled(db, attempt, start, reason, err);
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

const volatile sig_atomic_t *kvm_db_set_cancel(struct kvm_db *db,
                                               const volatile sig_atomic_t *cancel)
{
	const volatile sig_atomic_t *old = db->cancel;

	db->cancel = cancel;
	return old;
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

/* Wait at most @ms for input on the connection.  A failure (EINTR: a
 * signal came) ends it early, as does a lost socket: the caller looks at
 * the flag, and PQconsumeInput at the connection. */
static void wait_input(PGconn *conn, int ms)
{
	struct pollfd p = { .fd = PQsocket(conn), .events = POLLIN };

	if (p.fd >= 0)
		(void)poll(&p, 1, ms);
}

/* Make libpq see the connection as lost: its next read finds the end. */
static void shut_down(struct kvm_db *db)
{
	if (PQsocket(db->conn) >= 0)
		shutdown(PQsocket(db->conn), SHUT_RDWR);
}

enum { READY, FLAG_SET, TOO_LATE };

/*
 * Read input until a result is ready (PQgetResult will not block): READY,
 * also when the input failed (PQgetResult reports it).  With @watch,
 * FLAG_SET as soon as the cancel flag is; with @deadline, TOO_LATE once
 * the clock passes it.
 */
static int await(struct kvm_db *db, int watch, uint64_t deadline)
{
	while (PQisBusy(db->conn)) {
		if (watch && canceled(db))
			return FLAG_SET;
		if (deadline != 0 && kvm_now_ms() >= deadline)
			return TOO_LATE;
		wait_input(db->conn, KVM_DB_WAIT_SLICE_MS);
		if (!PQconsumeInput(db->conn))
			break;
	}
	return READY;
}

/* Ask the server to cancel the statement in progress: the deadline for
 * its answer.  Without a way to ask, the connection is shut down. */
static uint64_t send_cancel(struct kvm_db *db)
{
	PGcancel *c = PQgetCancel(db->conn);
	char why[256];

	if (c == NULL || !PQcancel(c, why, sizeof(why)))
		shut_down(db);
	PQfreeCancel(c);
	return kvm_now_ms() + KVM_DB_CANCEL_WAIT_MS;
}

/*
 * After a cancel: read and drop what the statement still sends (the rest
 * of a COPY's rows too) until the connection is idle, shutting it down at
 * @deadline.  Returns the last result, NULL when none came.
 */
static PGresult *drain(struct kvm_db *db, uint64_t deadline)
{
	PGresult *last = NULL, *r;

	for (;;) {
		if (await(db, 0, deadline) == TOO_LATE)
			shut_down(db);
		if ((r = PQgetResult(db->conn)) == NULL)
			return last;
		if (PQresultStatus(r) == PGRES_COPY_OUT) {
			char *buf;
			int n;

			while ((n = PQgetCopyData(db->conn, &buf, 1)) >= 0) {
				if (n > 0) {
					PQfreemem(buf);
					continue;
				}
				if (kvm_now_ms() >= deadline)
					shut_down(db);
				wait_input(db->conn, KVM_DB_WAIT_SLICE_MS);
				if (!PQconsumeInput(db->conn))
					break;
			}
			if (n == -2)
				shut_down(db);
		} else if (PQresultStatus(r) == PGRES_COPY_IN ||
		           PQresultStatus(r) == PGRES_COPY_BOTH) {
			PQputCopyEnd(db->conn, "canceled");
		}
		PQclear(last);
		last = r;
	}
}

static int canceled_error(const struct kvm_db *db, struct kvm_error *err)
{
	return kvm_error_set(err, KVM_ECANCELED, "%s: '%s': canceled",
	                     db->target, db->head);
}

/*
 * Send @sql (@extended: PQsendQueryParams, else PQsendQuery) and take its
 * results as PQexec would: the last one, stopping at a COPY or a lost
 * connection.  The cancel flag is read while waiting (see the top).
 */
static int run(struct kvm_db *db, const char *sql, int extended, int nparams,
               const char *const *params, PGresult **res, struct kvm_error *err)
{
	PGresult *last = NULL, *r;
	ExecStatusType st;
	int sent;

	*res = NULL;
	sql_head(sql, db->head, sizeof(db->head));
	if (canceled(db))
		return canceled_error(db, err);
	sent = extended ? PQsendQueryParams(db->conn, sql, nparams, NULL, params,
	                                    NULL, NULL, 0)
	                : PQsendQuery(db->conn, sql);
	if (!sent) {
		kvm_db_error(db, NULL, KVM_EDB, err);
		return kvm_error_prefix(err, "%s: '%s'", db->target, db->head);
	}
	for (;;) {
		if (await(db, 1, 0) == FLAG_SET) {
			r = drain(db, send_cancel(db));
			if (r != NULL) {
				PQclear(last);
				last = r;
			}
			st = PQresultStatus(last);
			if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
				break;     /* done before the cancel reached it */
			PQclear(last);
			return canceled_error(db, err);
		}
		if ((r = PQgetResult(db->conn)) == NULL)
			break;
		PQclear(last);
		last = r;
		st = PQresultStatus(r);
		if (st == PGRES_COPY_OUT || st == PGRES_COPY_IN ||
		    st == PGRES_COPY_BOTH || PQstatus(db->conn) == CONNECTION_BAD)
			break;
	}
	if (last == NULL) {
		kvm_db_error(db, NULL, KVM_EDB, err);
		return kvm_error_prefix(err, "%s: '%s'", db->target, db->head);
	}
	*res = last;
	return 0;
}

int kvm_db_run(struct kvm_db *db, const char *sql, int nparams,
               const char *const *params, PGresult **res, struct kvm_error *err)
{
	return run(db, sql, params != NULL, nparams, params, res, err);
}

/* @res failed: its error, with the statement, into @err. */
static int failed(struct kvm_db *db, PGresult *res, struct kvm_error *err)
{
	kvm_db_error(db, res, KVM_EDB, err);
	PQclear(res);
	return kvm_error_prefix(err, "%s: '%s'", db->target, db->head);
}

int kvm_db_exec(struct kvm_db *db, const char *sql, struct kvm_error *err)
{
	PGresult *res;
	ExecStatusType st;
	int rc;

	if ((rc = run(db, sql, 0, 0, NULL, &res, err)) != 0)
		return rc;
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		return failed(db, res, err);
	PQclear(res);
	return 0;
}

int kvm_db_query(struct kvm_db *db, PGresult **res, const char *sql,
                 int nparams, const char *const *params, struct kvm_error *err)
{
	PGresult *r;
	int rc;

	*res = NULL;
	if ((rc = run(db, sql, 1, nparams, params, &r, err)) != 0)
		return rc;
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		return failed(db, r, err);
	*res = r;
	return 0;
}

int kvm_db_copy_data(struct kvm_db *db, char **buf, struct kvm_error *err)
{
	for (;;) {
		int n = PQgetCopyData(db->conn, buf, 1);

		if (n > 0)
			return n;
		if (n == -1)
			return 0;
		if (n == 0 && canceled(db)) {
			PQclear(drain(db, send_cancel(db)));
			return canceled_error(db, err);
		}
		if (n == 0) {
			wait_input(db->conn, KVM_DB_WAIT_SLICE_MS);
			if (PQconsumeInput(db->conn))
				continue;
		}
		kvm_db_error(db, NULL, KVM_EDB, err);
		return kvm_error_prefix(err, "%s: '%s'", db->target, db->head);
	}
}

void kvm_db_cleanup(struct kvm_db *db, const char *sql)
{
	const volatile sig_atomic_t *flag;
	struct kvm_error ignored;
	PGresult *res;

	if (db == NULL || PQstatus(db->conn) != CONNECTION_OK)
		return;
	flag = kvm_db_set_cancel(db, NULL);
	if (run(db, sql, 0, 0, NULL, &res, &ignored) == 0)
		PQclear(res);
	kvm_db_set_cancel(db, flag);
}
