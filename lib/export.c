/*
 * export.c - the export engine: old tables -> one export file.
 *
 * The leader connection opens a REPEATABLE READ READ ONLY transaction,
 * checks the schema version and the tables, lists the units of work (one
 * per source, or one per split value of a split source) and, with more
 * than one job, exports its snapshot.  Each unit runs its source's query
 * as COPY (...) TO STDOUT (FORMAT binary) and turns the rows into records
 * through the migrator's row function.
 *
 * With one job the leader runs the units itself and writes each record
 * straight into the export writer.  With N jobs, N worker threads, each
 * with its own connection in the leader's snapshot, take units in order
 * and fill per-unit queues of blocks of encoded records; the leader
 * drains the queues strictly in unit order into the writer.  The writer
 * sees the same records in the same order either way, so the file is the
 * same byte for byte whatever N is.  A queue holds at most QUEUE_BYTES, so
 * memory stays bounded by the number of jobs, not by the tables.
 *
 * The leader checks every record against the previous one of its section
 * (byte order of partition, then key): the queries promise that order,
 * and the import relies on it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm/export.h"
#include "kvm/kvkey.h"
#include "kvm/migrate.h"
#include "kvm/migrator.h"
#include "kvm/schema.h"
#include "clock.h"
#include "db.h"
#include "failpoint.h"
#include "kvvalue.h"
#include "pgcopy.h"
#include "readprog.h"
#include "show.h"

/* Records are handed from workers to the leader in blocks of this size
 * (a larger record gets a block of its own). */
#define BLOCK_BYTES (1u << 20)
/* A unit's queue blocks its worker at this many bytes. */
#define QUEUE_BYTES (8u << 20)
/* Rows between two looks at the cancel flag. */
#define CANCEL_EVERY 1024u
/* Records between two progress events (a power of two). */
#define PROGRESS_EVERY 4096u
/* Longest partition or key the engine builds: anything longer cannot
 * fit in an LMDB key anyway. */
#define PIECE_MAX KVM_KV_MAX_KEY

struct block {
	struct block *next;
	size_t len, cap;
	unsigned char data[];
};

struct unit {
	const struct kvm_source *src;
	size_t section;            /* index into the header's packages */
	unsigned char *split;      /* owned; NULL for a plain source */
	size_t split_len;

	/* filled by whoever runs the unit; guarded by engine.mu in jobs mode */
	struct block *head, *tail;
	size_t queued;             /* bytes in the queue */
	int done;
	int rc;
	struct kvm_error err;
	uint64_t rows;
	uint64_t t_start;
};

struct section {
	const struct kvm_migrator *m;
	size_t first_unit, nunits;
	uint64_t estimate;         /* rows by the catalog; 0: not known */
	uint64_t done, bytes;      /* records written so far, their bytes */
};

/* The check of the order of records, on the leader. */
struct order {
	unsigned char part[PIECE_MAX], key[PIECE_MAX];
	size_t plen, klen;
	int any;
};

struct engine {
	const struct kvm_export_db_opts *o;
	struct kvm_export_db_result *r;
	struct kvm_db *leader;
	char snapshot[64];

	struct section sections[KVM_EXPORT_MAX_PACKAGES];
	size_t nsections;
	struct unit *units;
	size_t nunits, units_cap;

	kvm_export_writer *w;
	struct order ord;
	size_t cur;                /* the section being written */
	uint64_t written;          /* records handed to the writer */

	/* jobs mode */
	pthread_mutex_t mu;
	pthread_cond_t cv;         /* any change: data, space, done, abort */
	size_t next_unit;          /* next unit a worker takes */
	int abort;                 /* set under mu; read without it by producers */
	int worker_rc;             /* first failure outside a unit */
	struct kvm_error worker_err;
};

/* What runs a unit: the leader (writing directly) or a worker. */
struct producer {
	struct engine *e;
	struct kvm_db *db;
	struct unit *u;
	kvm_value *value;
	int direct;                /* 1: straight into the writer */
	struct block *cur;         /* jobs mode: the block being filled */
	unsigned char part[PIECE_MAX], key[PIECE_MAX];
};

static int canceled(const struct engine *e)
{
	return e->o->cancel != NULL && *e->o->cancel != 0;
}

/* Tell the caller how section @s is going (on the leader's thread). */
static void progress(const struct engine *e, size_t s, int finished)
{
	const struct section *sec = &e->sections[s];
	struct kvm_event ev = { .kind = KVM_EVENT_PROGRESS, .name = "export" };

	if (e->o->on_event == NULL)
		return;
	ev.package = sec->m->name;
	ev.done = sec->done;
	ev.bytes = sec->bytes;
	ev.finished = finished;
	ev.total = finished ? sec->done : sec->estimate;
	ev.total_exact = finished;
	e->o->on_event(e->o->event_ctx, &ev);
}

/* ------------------------------------------------------------------ */
/* Describing bytes in messages                                         */
/* ------------------------------------------------------------------ */

#define SHOW_MAX 80

void kvm_row_describe(const struct kvm_pgcopy_field *f, char *out, size_t size)
{
	char buf[SHOW_MAX * 4 + 8];

	if (f->len < 0) {
		snprintf(out, size, "NULL");
		return;
	}
	kvm_show_bytes(buf, sizeof(buf), f->data, (size_t)f->len, SHOW_MAX);
	snprintf(out, size, "'%s'", buf);
}

static void show_record(char *out, size_t size, const void *part, size_t plen,
                        const void *key, size_t klen)
{
	char p[SHOW_MAX * 4 + 8], k[SHOW_MAX * 4 + 8];
	int n;

	kvm_show_bytes(p, sizeof(p), part, plen, SHOW_MAX);
	kvm_show_bytes(k, sizeof(k), key, klen, SHOW_MAX);
	n = snprintf(out, size, "partition '%s' key '%s'", p, k);
	(void)n;   /* a long key is cut: the message stays one line */
}

/* ------------------------------------------------------------------ */
/* The leader's side: order check, writer                              */
/* ------------------------------------------------------------------ */

static int bytes_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n > 0 ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int put_record(struct engine *e, const struct unit *u,
                      const void *part, size_t plen, const void *key,
                      size_t klen, const void *val, size_t vlen,
                      struct kvm_error *err)
{
	struct order *o = &e->ord;
	struct section *sec;

	if (o->any) {
		int c = bytes_cmp(o->part, o->plen, part, plen);

		if (c == 0)
			c = bytes_cmp(o->key, o->klen, key, klen);
		if (c >= 0) {
			char now[800], before[800];

			show_record(now, sizeof(now), part, plen, key, klen);
			show_record(before, sizeof(before), o->part, o->plen,
			            o->key, o->klen);
			if (c == 0)
				kvm_error_set(err, KVM_EORDER, "table '%s': two rows "
				              "give the same KV entry (%s); names that "
				              "contain '/' can collide this way",
				              u->src->table, now);
			else
				kvm_error_set(err, KVM_EORDER, "table '%s': record (%s) "
				              "comes after (%s), out of byte order",
				              u->src->table, now, before);
			kvm_error_where(err, e->sections[u->section].m->name,
			                u->src->table, now);
			return KVM_EORDER;
		}
	}
	/* Both fit: kvm_row_emit refuses anything longer than an LMDB key. */
	memcpy(o->part, part, plen);
	memcpy(o->key, key, klen);
	o->plen = plen;
	o->klen = klen;
	o->any = 1;
	sec = &e->sections[e->cur];
	sec->bytes += plen + klen + vlen;
	if ((++sec->done & (PROGRESS_EVERY - 1)) == 0)
		progress(e, e->cur, 0);
	if (KVM_FAIL_EVERY("export.records", ++e->written, err) != 0)
		return err->code;
	return kvm_export_writer_write(e->w, part, plen, key, klen, val, vlen, err);
}

/* ------------------------------------------------------------------ */
/* Emitting records (the producers' side)                              */
/* ------------------------------------------------------------------ */

static size_t join(unsigned char *out, const struct kvm_bytes *pc, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		if (pc[i].len > 0)
			memcpy(out + len, pc[i].p, pc[i].len);
		len += pc[i].len;
	}
	return len;
}

/* join(), keeping the first PIECE_MAX bytes. */
static size_t join_cut(unsigned char *out, const struct kvm_bytes *pc, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n && len < PIECE_MAX; i++) {
		size_t take = pc[i].len < PIECE_MAX - len ? pc[i].len : PIECE_MAX - len;

		if (take > 0)
			memcpy(out + len, pc[i].p, take);
		len += take;
	}
	return len;
}

static size_t total(const struct kvm_bytes *pc, size_t n, size_t *zeros)
{
	size_t len = 0;

	*zeros = 0;
	for (size_t i = 0; i < n; i++) {
		const unsigned char *b = pc[i].p;

		len += pc[i].len;
		for (size_t j = 0; j < pc[i].len; j++)
			*zeros += b[j] == 0x00;
	}
	return len;
}

/* Hand the filled block to the leader; wait while the queue is full. */
static int ship_block(struct producer *pr)
{
	struct engine *e = pr->e;
	struct unit *u = pr->u;
	struct block *b = pr->cur;
	int rc = 0;

	pr->cur = NULL;
	if (b == NULL || b->len == 0) {
		free(b);
		return 0;
	}
	pthread_mutex_lock(&e->mu);
	while (u->queued >= QUEUE_BYTES && !e->abort)
		pthread_cond_wait(&e->cv, &e->mu);
	if (e->abort) {
		rc = KVM_ECANCELED;
		free(b);
	} else {
		if (u->tail != NULL)
			u->tail->next = b;
		else
			u->head = b;
		u->tail = b;
		u->queued += b->len;
		pthread_cond_broadcast(&e->cv);
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static int queue_record(struct producer *pr, size_t plen, size_t klen,
                        const void *val, size_t vlen, struct kvm_error *err)
{
	size_t need = 12 + plen + klen + vlen;
	unsigned char *p;

	if (pr->cur != NULL && pr->cur->cap - pr->cur->len < need) {
		int rc = ship_block(pr);

		if (rc != 0)
			return kvm_error_set(err, rc, "canceled");
	}
	if (pr->cur == NULL) {
		size_t cap = need > BLOCK_BYTES ? need : BLOCK_BYTES;

		pr->cur = malloc(sizeof(*pr->cur) + cap);
		if (pr->cur == NULL)
			return kvm_error_set(err, KVM_ENOMEM, "out of memory for a "
			                     "block of %zu bytes", cap);
		pr->cur->next = NULL;
		pr->cur->len = 0;
		pr->cur->cap = cap;
	}
	p = pr->cur->data + pr->cur->len;
	put_u32(p, (uint32_t)plen);
	put_u32(p + 4, (uint32_t)klen);
	put_u32(p + 8, (uint32_t)vlen);
	memcpy(p + 12, pr->part, plen);
	memcpy(p + 12 + plen, pr->key, klen);
	if (vlen > 0)
		memcpy(p + 12 + plen + klen, val, vlen);
	pr->cur->len += need;
	return 0;
}

int kvm_row_emit(struct kvm_row *row, const struct kvm_bytes *part, size_t npart,
                 const struct kvm_bytes *key, size_t nkey, struct kvm_error *err)
{
	struct producer *pr = row->engine;
	size_t pz, kz, plen = total(part, npart, &pz), klen = total(key, nkey, &kz);
	size_t size = plen + pz + 2 + klen;
	const void *val;
	size_t vlen;
	int rc;

	if (size > KVM_KV_MAX_KEY) {
		char what[800];

		/* The buffers hold PIECE_MAX bytes: the start of each is shown. */
		show_record(what, sizeof(what), pr->part,
		            join_cut(pr->part, part, npart), pr->key,
		            join_cut(pr->key, key, nkey));
		kvm_error_set(err, KVM_EKEYSIZE, "table '%s': the row with %s "
		              "gives an LMDB key of %zu bytes; LMDB's maximum key "
		              "size is %d", row->table, what, size, KVM_KV_MAX_KEY);
		kvm_error_where(err, NULL, NULL, what);
		return KVM_EKEYSIZE;
	}
	join(pr->part, part, npart);
	join(pr->key, key, nkey);
	if ((rc = kvm_value_bytes(row->value, &val, &vlen, err)) != 0)
		return rc;
	if (vlen > KVM_EXPORT_DEFAULT_MAX_VALUE) {
		char what[800];

		show_record(what, sizeof(what), pr->part, plen, pr->key, klen);
		kvm_error_set(err, KVM_EVALUESIZE, "table '%s': the row with %s "
		              "gives a value of %zu bytes; an export file holds "
		              "values of at most %u bytes", row->table, what, vlen,
		              KVM_EXPORT_DEFAULT_MAX_VALUE);
		kvm_error_where(err, NULL, NULL, what);
		return KVM_EVALUESIZE;
	}
	if (pr->direct)
		return put_record(pr->e, pr->u, pr->part, plen, pr->key, klen,
		                  val, vlen, err);
	return queue_record(pr, plen, klen, val, vlen, err);
}

/* ------------------------------------------------------------------ */
/* Running a unit                                                      */
/* ------------------------------------------------------------------ */

static int unit_query(struct producer *pr, char **out, struct kvm_error *err)
{
	const struct kvm_source *s = pr->u->src;
	PGconn *conn = kvm_db_conn(pr->db);
	const char *at;
	char *lit = NULL;
	size_t n;

	*out = NULL;
	at = pr->u->split != NULL ? strstr(s->query, "$1") : NULL;
	if (pr->u->split != NULL) {
		if (at == NULL)
			return kvm_error_set(err, KVM_EINTERNAL, "the query of table "
			                     "'%s' has no $1", s->table);
		lit = PQescapeLiteral(conn, (const char *)pr->u->split,
		                      pr->u->split_len);
		if (lit == NULL)
			return kvm_db_error(pr->db, NULL, KVM_EDB, err);
	}
	n = strlen(s->query) + (lit != NULL ? strlen(lit) : 0) + 64;
	if ((*out = malloc(n)) == NULL) {
		PQfreemem(lit);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	if (lit != NULL)
		snprintf(*out, n, "COPY (%.*s%s%s) TO STDOUT (FORMAT binary)",
		         (int)(at - s->query), s->query, lit, at + 2);
	else
		snprintf(*out, n, "COPY (%s) TO STDOUT (FORMAT binary)", s->query);
	PQfreemem(lit);
	return 0;
}

static int copy_rows(struct producer *pr, struct kvm_pgcopy *cp,
                     struct kvm_pgcopy_field *f, struct kvm_error *err)
{
	struct unit *u = pr->u;
	struct kvm_row row = {
		.copy = cp, .f = f, .split = u->split, .split_len = u->split_len,
		.value = pr->value, .table = u->src->table, .engine = pr,
	};
	char *buf;
	int len, rc;

	while ((len = kvm_db_copy_data(pr->db, &buf, err)) > 0) {
		rc = kvm_pgcopy_row(cp, buf, (size_t)len, f, u->src->ncols, err);
		if (rc == 0) {
			u->rows++;
			rc = u->src->row(&row, err);
			if (rc == 0 && u->rows % CANCEL_EVERY == 0 &&
			    (canceled(pr->e) ||
			     __atomic_load_n(&pr->e->abort, __ATOMIC_RELAXED)))
				rc = kvm_error_set(err, KVM_ECANCELED, "canceled");
		} else if (rc == KVM_END) {
			rc = 0;
		}
		PQfreemem(buf);
		if (rc != 0)
			return rc;
	}
	return len < 0 ? len : 0;
}

static int run_unit_copy(struct producer *pr, struct kvm_error *err);

/* Run one unit; a failure is marked with its package and table. */
static int run_unit(struct producer *pr, struct kvm_error *err)
{
	int rc = run_unit_copy(pr, err);

	if (rc != 0 && rc != KVM_ECANCELED)
		kvm_error_where(err, pr->e->sections[pr->u->section].m->name,
		                pr->u->src->table, NULL);
	return rc;
}

static int run_unit_copy(struct producer *pr, struct kvm_error *err)
{
	struct unit *u = pr->u;
	struct kvm_pgcopy_field *f;
	struct kvm_pgcopy cp;
	char subject[128], *sql;
	PGresult *res;
	int rc;

	u->t_start = kvm_now_ms();
	snprintf(subject, sizeof(subject), "table '%s'", u->src->table);
	if ((rc = unit_query(pr, &sql, err)) != 0)
		return rc;
	if ((f = calloc(u->src->ncols, sizeof(*f))) == NULL) {
		free(sql);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	rc = kvm_db_run(pr->db, sql, 0, NULL, &res, err);
	free(sql);
	if (rc != 0 || PQresultStatus(res) != PGRES_COPY_OUT) {
		if (rc == 0)
			rc = kvm_db_error(pr->db, res, KVM_EDB, err);
		kvm_error_prefix(err, "reading table '%s'", u->src->table);
		PQclear(res);
		free(f);
		return rc;
	}
	PQclear(res);
	kvm_pgcopy_init(&cp, subject);
	rc = copy_rows(pr, &cp, f, err);
	free(f);
	if (rc != 0)
		return rc;   /* the connection is closed, mid-COPY, by the caller */
	res = PQgetResult(kvm_db_conn(pr->db));
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = kvm_db_error(pr->db, res, KVM_EDB, err);
		kvm_error_prefix(err, "reading table '%s'", u->src->table);
	} else if (!cp.ended) {
		rc = kvm_error_set(err, KVM_EDB, "reading table '%s': the COPY "
		                   "ended without its trailer", u->src->table);
	}
	PQclear(res);
	while ((res = PQgetResult(kvm_db_conn(pr->db))) != NULL)
		PQclear(res);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Sessions                                                            */
/* ------------------------------------------------------------------ */

/* Settings of every connection of an export: text as stored (no
 * encoding conversion), no timeout ending a long read or the leader's
 * wait, a killed client noticed within a second, and no JIT: compiling
 * each staging token's query cost more than it saved (design/migrators.md). */
static int session_setup(struct kvm_db *db, struct kvm_error *err)
{
	PGresult *res;
	char sql[160];
	int rc;

	rc = kvm_db_query(db, &res, "SELECT current_setting('server_encoding')",
	                  0, NULL, err);
	if (rc != 0)
		return rc;
	snprintf(sql, sizeof(sql), "SET client_encoding = '%s'",
	         PQgetvalue(res, 0, 0));
	PQclear(res);
	if ((rc = kvm_db_exec(db, sql, err)) != 0 ||
	    (rc = kvm_db_exec(db, "SET statement_timeout = 0", err)) != 0 ||
	    (rc = kvm_db_exec(db, "SET idle_in_transaction_session_timeout = 0",
	                      err)) != 0)
		return rc;
	if (PQserverVersion(kvm_db_conn(db)) >= 110000 &&
	    (rc = kvm_db_exec(db, "SET jit = off", err)) != 0)
		return rc;
	if (PQserverVersion(kvm_db_conn(db)) >= 140000)
		rc = kvm_db_exec(db, "SET client_connection_check_interval = 1000",
		                 err);
	return rc;
}

static int export_connect(struct engine *e, struct kvm_db **db, unsigned retry_ms,
                   struct kvm_error *err)
{
	struct kvm_db_opts dbo = {
		.conninfo = e->o->conninfo, .retry_ms = retry_ms,
		.on_event = e->o->on_event, .event_ctx = e->o->event_ctx,
		.cancel = e->o->cancel,
	};
	int rc = kvm_db_open(db, &dbo, err);

	if (rc == 0 && (rc = session_setup(*db, err)) != 0) {
		kvm_db_close(*db);
		*db = NULL;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Workers (jobs mode)                                                 */
/* ------------------------------------------------------------------ */

struct worker {
	struct engine *e;
	struct kvm_db *db;         /* joined the snapshot; owned by the worker */
	pthread_t thread;
	int started;
};

static int worker_join(struct engine *e, struct kvm_db **db,
                       struct kvm_error *err)
{
	char sql[128];
	int rc;

	/* The leader's snapshot is in use already; a slow connection is
	 * retried only briefly. */
	if ((rc = export_connect(e, db, 5000, err)) != 0)
		return rc;
	snprintf(sql, sizeof(sql), "SET TRANSACTION SNAPSHOT '%s'", e->snapshot);
	if ((rc = kvm_db_exec(*db, "BEGIN ISOLATION LEVEL REPEATABLE READ "
	                      "READ ONLY", err)) != 0 ||
	    (rc = kvm_db_exec(*db, sql, err)) != 0)
		kvm_error_prefix(err, "joining the export's snapshot");
	return rc;
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct engine *e = wk->e;
	struct producer pr = { .e = e, .db = wk->db };
	struct kvm_error err = { 0 };
	int rc;

	wk->db = NULL;
	if ((rc = kvm_value_create(&pr.value, &err)) != 0) {
		pthread_mutex_lock(&e->mu);
		if (e->worker_rc == 0) {
			e->worker_rc = rc;
			e->worker_err = err;
		}
		__atomic_store_n(&e->abort, 1, __ATOMIC_RELAXED);
		pthread_cond_broadcast(&e->cv);
		pthread_mutex_unlock(&e->mu);
		goto out;
	}
	for (;;) {
		struct unit *u;

		pthread_mutex_lock(&e->mu);
		if (e->abort || e->next_unit == e->nunits) {
			pthread_mutex_unlock(&e->mu);
			break;
		}
		u = &e->units[e->next_unit++];
		pthread_mutex_unlock(&e->mu);

		pr.u = u;
		rc = run_unit(&pr, &err);
		if (rc == 0 && (rc = ship_block(&pr)) != 0)
			kvm_error_set(&err, rc, "canceled");
		free(pr.cur);
		pr.cur = NULL;
		pthread_mutex_lock(&e->mu);
		u->done = 1;
		u->rc = rc;
		if (rc != 0) {
			u->err = err;
			__atomic_store_n(&e->abort, 1, __ATOMIC_RELAXED);
		}
		pthread_cond_broadcast(&e->cv);
		pthread_mutex_unlock(&e->mu);
		if (rc != 0)
			break;
	}
out:
	kvm_db_close(pr.db);
	kvm_value_free(pr.value);
	return NULL;
}

/* Why the workers stopped: the first unit (in order) that failed other
 * than by being stopped, else a worker's own failure, else a cancel.
 * Called with e->mu held. */
static int abort_reason(struct engine *e, struct kvm_error *err)
{
	for (size_t i = 0; i < e->nunits; i++) {
		const struct unit *u = &e->units[i];

		if (u->done && u->rc != 0 && u->rc != KVM_ECANCELED) {
			*err = u->err;
			return u->rc;
		}
	}
	if (e->worker_rc != 0) {
		*err = e->worker_err;
		return e->worker_rc;
	}
	return kvm_error_set(err, KVM_ECANCELED, "canceled");
}

/* Take the next block of unit @u, waiting for it; NULL when the unit is
 * done and drained, or on abort (*rc set). */
static struct block *next_block(struct engine *e, struct unit *u, int *rc,
                                struct kvm_error *err)
{
	struct block *b = NULL;

	*rc = 0;
	pthread_mutex_lock(&e->mu);
	for (;;) {
		if (u->head != NULL) {
			b = u->head;
			u->head = b->next;
			if (u->head == NULL)
				u->tail = NULL;
			u->queued -= b->len;
			pthread_cond_broadcast(&e->cv);
			break;
		}
		if (u->done && u->rc != 0) {
			/* Stopped because another unit failed: report that one. */
			if (u->rc == KVM_ECANCELED)
				*rc = abort_reason(e, err);
			else {
				*rc = u->rc;
				*err = u->err;
			}
			break;
		}
		if (u->done)
			break;
		if (e->abort) {
			*rc = abort_reason(e, err);
			break;
		}
		pthread_cond_wait(&e->cv, &e->mu);
	}
	pthread_mutex_unlock(&e->mu);
	return b;
}

static int drain_unit(struct engine *e, struct unit *u, struct kvm_error *err)
{
	struct block *b;
	int rc;

	while ((b = next_block(e, u, &rc, err)) != NULL) {
		const unsigned char *p = b->data, *end = b->data + b->len;

		while (rc == 0 && p < end) {
			size_t plen = get_u32(p), klen = get_u32(p + 4);
			size_t vlen = get_u32(p + 8);
			const unsigned char *part = p + 12;

			rc = put_record(e, u, part, plen, part + plen, klen,
			                part + plen + klen, vlen, err);
			p += 12 + plen + klen + vlen;
		}
		free(b);
		if (rc == 0 && canceled(e))
			rc = kvm_error_set(err, KVM_ECANCELED, "canceled");
		if (rc != 0)
			return rc;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Planning                                                            */
/* ------------------------------------------------------------------ */

static struct unit *add_unit(struct engine *e, const struct kvm_source *src,
                             size_t section, struct kvm_error *err)
{
	if (e->nunits == e->units_cap) {
		size_t cap = e->units_cap ? e->units_cap * 2 : 32;
		struct unit *n = realloc(e->units, cap * sizeof(*n));

		if (n == NULL) {
			kvm_error_set(err, KVM_ENOMEM, "out of memory");
			return NULL;
		}
		e->units = n;
		e->units_cap = cap;
	}
	memset(&e->units[e->nunits], 0, sizeof(e->units[0]));
	e->units[e->nunits].src = src;
	e->units[e->nunits].section = section;
	return &e->units[e->nunits++];
}

static int split_cmp(const void *a, const void *b)
{
	const struct unit *x = a, *y = b;

	return bytes_cmp(x->split, x->split_len, y->split, y->split_len);
}

/* One unit per value of the split query, in byte order of the values. */
static int plan_split(struct engine *e, const struct kvm_source *src,
                      size_t section, struct kvm_error *err)
{
	size_t first = e->nunits;
	PGresult *res;
	int rc, n;

	rc = kvm_db_query(e->leader, &res, src->split_query, 0, NULL, err);
	if (rc != 0)
		return kvm_error_prefix(err, "listing the units of table '%s'",
		                        src->table);
	n = PQntuples(res);
	for (int i = 0; i < n && rc == 0; i++) {
		struct unit *u = add_unit(e, src, section, err);
		size_t len = (size_t)PQgetlength(res, i, 0);

		if (u == NULL || (u->split = malloc(len + 1)) == NULL) {
			rc = kvm_error_set(err, KVM_ENOMEM, "out of memory");
			break;
		}
		memcpy(u->split, PQgetvalue(res, i, 0), len + 1);
		u->split_len = len;
	}
	PQclear(res);
	if (rc == 0)
		qsort(e->units + first, e->nunits - first, sizeof(e->units[0]),
		      split_cmp);
	return rc;
}

static int plan(struct engine *e, struct kvm_error *err)
{
	for (size_t s = 0; s < e->nsections; s++) {
		const struct kvm_migrator *m = e->sections[s].m;

		e->sections[s].first_unit = e->nunits;
		for (size_t i = 0; i < m->nsources; i++) {
			const struct kvm_source *src = &m->sources[i];
			int rc = 0;

			if (src->split_query != NULL)
				rc = plan_split(e, src, s, err);
			else if (add_unit(e, src, s, err) == NULL)
				rc = KVM_ENOMEM;
			if (rc != 0)
				return rc;
		}
		e->sections[s].nunits = e->nunits - e->sections[s].first_unit;
		e->r->packages[s].units = (unsigned)e->sections[s].nunits;
	}
	return 0;
}

/*
 * The rows each package will read, by the catalog (pg_class.reltuples,
 * which ANALYZE and VACUUM keep up to date, summed over the partitions of
 * a partitioned table): for progress only, so a table never analyzed
 * counts as empty (-1 there) rather than costing a scan, and a package
 * whose tables all look empty has no estimate (0).
 */
static int estimate(struct engine *e, struct kvm_error *err)
{
	for (size_t s = 0; s < e->nsections; s++) {
		struct section *sec = &e->sections[s];

		for (const char *const *t = sec->m->tables; *t; t++) {
			const char *param[1] = { *t };
			PGresult *res;
			int rc;

			rc = kvm_db_query(e->leader, &res, "SELECT coalesce(sum("
			                  "greatest(c.reltuples, 0)), 0)::bigint "
			                  "FROM pg_partition_tree(to_regclass(quote_ident("
			                  "$1))) p JOIN pg_class c ON c.oid = p.relid "
			                  "WHERE p.isleaf", 1, param, err);
			if (rc != 0)
				return kvm_error_prefix(err, "estimating the rows of "
				                        "table '%s'", *t);
			sec->estimate += strtoull(PQgetvalue(res, 0, 0), NULL, 10);
			PQclear(res);
		}
	}
	return 0;
}

static int pick_packages(struct engine *e, struct kvm_error *err)
{
	const struct kvm_export_db_opts *o = e->o;

	for (size_t i = 0; i < o->npackages; i++)
		if (kvm_migrator_find(o->packages[i]) == NULL) {
			char names[400] = "";
			size_t n = 0;

			for (size_t j = 0; j < kvm_migrator_count(); j++)
				n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s",
				                      j ? ", " : "", kvm_migrator_get(j)->name);
			return kvm_error_set(err, KVM_EINVAL, "unknown package '%s'; "
			                     "the packages are %s", o->packages[i], names);
		}
	for (size_t j = 0; j < kvm_migrator_count(); j++) {
		const struct kvm_migrator *m = kvm_migrator_get(j);
		int want = o->npackages == 0;

		for (size_t i = 0; i < o->npackages && !want; i++)
			want = strcmp(o->packages[i], m->name) == 0;
		if (!want)
			continue;
		e->sections[e->nsections].m = m;
		snprintf(e->r->packages[e->nsections].name,
		         sizeof(e->r->packages[0].name), "%s", m->name);
		e->nsections++;
	}
	e->r->npackages = e->nsections;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The snapshot and what is checked in it                              */
/* ------------------------------------------------------------------ */

static int check_version(struct engine *e, int64_t last, struct kvm_error *err)
{
	PGresult *res;
	int rc;

	rc = kvm_db_query(e->leader, &res, "SELECT to_regclass('"
	                  KVM_VERSION_TABLE "') IS NOT NULL", 0, NULL, err);
	if (rc != 0)
		return rc;
	rc = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!rc)
		return kvm_error_set(err, KVM_EUNKNOWNVERSION, "%s has no schema "
		                     "version table (%s): the export needs the old "
		                     "tables at version %lld; run kvmigrate up first",
		                     kvm_db_target(e->leader), KVM_VERSION_TABLE,
		                     (long long)last);
	rc = kvm_db_query(e->leader, &res, "SELECT version, dirty FROM "
	                  KVM_VERSION_TABLE, 0, NULL, err);
	if (rc != 0)
		return rc;
	if (PQntuples(res) != 1) {
		rc = kvm_error_set(err, KVM_EUNKNOWNVERSION, "%s: the version table "
		                   "has %d rows, not 1", kvm_db_target(e->leader),
		                   PQntuples(res));
	} else {
		int64_t v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		int dirty = strcmp(PQgetvalue(res, 0, 1), "t") == 0;

		e->r->source_version = v;
		if (dirty)
			rc = kvm_error_set(err, KVM_EDIRTY, "%s is at schema version "
			                   "%lld, marked dirty; see kvmigrate status",
			                   kvm_db_target(e->leader), (long long)v);
		else if (v != last && !(e->o->accept_migrated && v == last + 1))
			rc = kvm_error_set(err, KVM_EUNKNOWNVERSION, "%s is at schema "
			                   "version %lld; the export reads the old tables "
			                   "at version %lld%s", kvm_db_target(e->leader),
			                   (long long)v, (long long)last, v < last ?
			                   ": run kvmigrate up first" : " (the KV "
			                   "migration is already done)");
	}
	PQclear(res);
	return rc;
}

static int check_tables(struct engine *e, struct kvm_error *err)
{
	for (size_t s = 0; s < e->nsections; s++) {
		for (const char *const *t = e->sections[s].m->tables; *t; t++) {
			const char *param[1] = { *t };
			PGresult *res;
			int rc, ok;

			rc = kvm_db_query(e->leader, &res, "SELECT to_regclass("
			                  "quote_ident($1)) IS NOT NULL", 1, param, err);
			if (rc != 0)
				return rc;
			ok = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
			PQclear(res);
			if (!ok)
				return kvm_error_set(err, KVM_ENOTABLE, "%s: table '%s' of "
				                     "package '%s' does not exist",
				                     kvm_db_target(e->leader), *t,
				                     e->sections[s].m->name);
		}
	}
	return 0;
}

/* Start the snapshot and read what the header says about it. */
static int open_snapshot(struct engine *e, unsigned jobs,
                         struct kvm_export_header *h, char *dbname,
                         size_t dbsize, struct kvm_error *err)
{
	PGresult *res;
	int rc;

	if ((rc = kvm_db_exec(e->leader, "BEGIN ISOLATION LEVEL REPEATABLE READ "
	                      "READ ONLY", err)) != 0)
		return rc;
	/* The snapshot is taken by the first query: export it right then. */
	rc = kvm_db_query(e->leader, &res, jobs > 1 ?
	                  "SELECT pg_export_snapshot()" : "SELECT ''", 0, NULL, err);
	if (rc != 0)
		return rc;
	snprintf(e->snapshot, sizeof(e->snapshot), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	rc = kvm_db_query(e->leader, &res, "SELECT " KVM_DB_IDENTITY_SQL ", "
	                  "floor(extract(epoch FROM now()))::bigint, "
	                  "(extract(microseconds FROM now())::bigint % 1000000)",
	                  0, NULL, err);
	if (rc != 0)
		return rc;
	snprintf(dbname, dbsize, "%s", PQgetvalue(res, 0, 0));
	h->source_database = dbname;
	h->snapshot_time.sec = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	h->snapshot_time.nsec = (uint32_t)strtoul(PQgetvalue(res, 0, 2), NULL,
	                                          10) * 1000;
	PQclear(res);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Writing the sections                                                */
/* ------------------------------------------------------------------ */

static void section_done(struct engine *e, size_t s,
                         const struct kvm_export_section_info *info)
{
	struct kvm_export_db_package *p = &e->r->packages[s];
	const struct section *sec = &e->sections[s];
	uint64_t start = 0;

	for (size_t i = 0; i < sec->nunits; i++) {
		const struct unit *u = &e->units[sec->first_unit + i];

		p->rows += u->rows;
		if (u->t_start != 0 && (start == 0 || u->t_start < start))
			start = u->t_start;
	}
	p->records = info->records;
	p->bytes = info->bytes;
	p->digest = info->digest;
	p->ms = start ? kvm_now_ms() - start : 0;
}

/* Write every section: @direct, the leader runs the units itself;
 * otherwise it drains the queues the worker threads fill. */
static int write_sections(struct engine *e, int direct, struct kvm_error *err)
{
	struct producer pr = { .e = e, .db = e->leader, .direct = 1 };
	int rc = 0;

	if (direct && (rc = kvm_value_create(&pr.value, err)) != 0)
		return rc;
	for (size_t s = 0; s < e->nsections && rc == 0; s++) {
		const struct section *sec = &e->sections[s];
		struct kvm_export_section_info info;

		rc = kvm_export_writer_begin_section(e->w, sec->m->name, err);
		memset(&e->ord, 0, sizeof(e->ord));
		e->cur = s;
		progress(e, s, 0);
		for (size_t i = 0; i < sec->nunits && rc == 0; i++) {
			struct unit *u = &e->units[sec->first_unit + i];

			if (direct) {
				pr.u = u;
				rc = run_unit(&pr, err);
			} else {
				rc = drain_unit(e, u, err);
			}
			if (rc == 0 && canceled(e))
				rc = kvm_error_set(err, KVM_ECANCELED, "canceled");
		}
		if (rc == 0 && (rc = kvm_export_writer_end_section(e->w, &info,
		                                                    err)) == 0) {
			section_done(e, s, &info);
			progress(e, s, 1);
			rc = KVM_FAIL("export.section", err);
		}
	}
	kvm_value_free(pr.value);
	return rc;
}

/*
 * The workers' connections are opened here, one after the other, before
 * any thread starts: a worker that cannot connect (a role's or the
 * server's connection limit, say) leaves its share to the others, and
 * with none the leader reads everything itself.  One at a time, because
 * backends starting together each count the others against a connection
 * limit and may all be refused.
 */
static int run_jobs(struct engine *e, unsigned jobs, struct kvm_error *err)
{
	struct worker *wk = calloc(jobs, sizeof(*wk));
	unsigned n = 0;
	int rc = 0;

	if (wk == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	for (unsigned i = 0; i < jobs; i++) {
		struct kvm_error jerr;
		struct kvm_db *db = NULL;

		if (worker_join(e, &db, &jerr) != 0) {
			kvm_db_close(db);
			continue;
		}
		wk[n].e = e;
		wk[n++].db = db;
	}
	e->r->jobs = n > 0 ? n : 1;
	if (n == 0) {
		free(wk);
		return write_sections(e, 1, err);   /* the leader alone */
	}
	for (unsigned i = 0; i < n && rc == 0; i++) {
		if ((rc = pthread_create(&wk[i].thread, NULL, worker_main,
		                         &wk[i])) != 0)
			kvm_error_set(err, rc, "cannot start worker %u: %s", i + 1,
			              strerror(rc));
		else
			wk[i].started = 1;
	}
	if (rc == 0)
		rc = write_sections(e, 0, err);
	pthread_mutex_lock(&e->mu);
	/* a no-op when every unit is done */
	__atomic_store_n(&e->abort, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
	for (unsigned i = 0; i < n; i++) {
		if (wk[i].started)
			pthread_join(wk[i].thread, NULL);
		kvm_db_close(wk[i].db);    /* of a worker never started */
	}
	free(wk);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Verifying the written file                                          */
/* ------------------------------------------------------------------ */

static int verify_file(struct engine *e, const char *path,
                       const struct kvm_export_stats *st, struct kvm_error *err)
{
	const struct kvm_export_trailer *t;
	struct kvm_export_record rec;
	kvm_export_reader *rd;
	int rc;

	struct kvm_export_section_info written[KVM_EXPORT_MAX_PACKAGES];
	struct kvm_export_trailer counts = { .nsections = e->nsections,
	                                     .sections = written };
	struct kvm_readprog prog;

	if ((rc = kvm_export_reader_open(&rd, path, NULL, err)) != 0)
		goto fail;
	/* what was written gives the totals of the re-read */
	for (size_t s = 0; s < e->nsections; s++)
		written[s].records = e->r->packages[s].records;
	kvm_readprog_init(&prog, "check", e->o->on_event, e->o->event_ctx,
	                  kvm_export_reader_header(rd), &counts);
	while ((rc = kvm_export_reader_next(rd, &rec, err)) == 0) {
		kvm_readprog_record(&prog, &rec);
		if (rec.number % CANCEL_EVERY == 0 && canceled(e)) {
			rc = kvm_error_set(err, KVM_ECANCELED, "canceled");
			break;
		}
	}
	if (rc != KVM_END) {
		kvm_export_reader_close(rd);
		goto fail;
	}
	kvm_readprog_end(&prog);
	rc = 0;
	t = kvm_export_reader_trailer(rd);
	if (t->records != st->records || t->digest != st->digest ||
	    t->nsections != e->nsections)
		rc = kvm_error_set(err, KVM_EDIGEST, "re-reading '%s': %llu records "
		                   "with digest %016llx, but %llu with %016llx were "
		                   "written", path, (unsigned long long)t->records,
		                   (unsigned long long)t->digest,
		                   (unsigned long long)st->records,
		                   (unsigned long long)st->digest);
	for (size_t s = 0; rc == 0 && s < t->nsections; s++)
		if (t->sections[s].digest != e->r->packages[s].digest ||
		    t->sections[s].records != e->r->packages[s].records)
			rc = kvm_error_set(err, KVM_EDIGEST, "re-reading '%s': section "
			                   "'%s' differs from what was written", path,
			                   e->r->packages[s].name);
	kvm_export_reader_close(rd);
	if (rc == 0)
		return 0;
fail:
	/* The file is published but wrong: take it away again. */
	if (rc != KVM_ECANCELED)
		kvm_error_prefix(err, "the export was written but does not read "
		                 "back; it was removed");
	unlink(path);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Entry point                                                         */
/* ------------------------------------------------------------------ */

static unsigned pick_jobs(const struct kvm_export_db_opts *o, size_t nunits)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned jobs = o->jobs;

	if (jobs == 0)
		jobs = cores < 1 ? 1 : cores > KVM_EXPORT_DEFAULT_JOBS_CAP ?
		       KVM_EXPORT_DEFAULT_JOBS_CAP : (unsigned)cores;
	if (jobs > nunits)
		jobs = nunits > 0 ? (unsigned)nunits : 1;
	return jobs;
}

static int export_in_snapshot(struct engine *e, struct kvm_error *err)
{
	const struct kvm_export_db_opts *o = e->o;
	struct kvm_export_header h = { 0 };
	const char *names[KVM_EXPORT_MAX_PACKAGES];
	struct kvm_export_writer_opts wo = { .header = &h, .level = o->level };
	struct kvm_export_stats st;
	struct kvm_error scratch;
	char dbname[256];
	kvm_schema *sch;
	unsigned jobs;
	uint64_t t0;
	int rc;

	if ((rc = kvm_schema_builtin(&sch, err)) != 0)
		return rc;
	h.source_schema_version = (int64_t)kvm_schema_last(sch);
	h.kv_migration_version = (int64_t)kvm_schema_kv_version(sch);
	kvm_schema_free(sch);
	e->r->kv_version = h.kv_migration_version;

	/* The units are listed inside the snapshot, so the number of jobs is
	 * known only then; the snapshot is exported whenever more than one
	 * job could be used. */
	jobs = o->jobs == 1 ? 1 : pick_jobs(o, SIZE_MAX);
	if ((rc = open_snapshot(e, jobs, &h, dbname, sizeof(dbname), err)) != 0 ||
	    (rc = check_version(e, h.source_schema_version, err)) != 0 ||
	    (rc = check_tables(e, err)) != 0 ||
	    (rc = plan(e, err)) != 0 ||
	    (rc = estimate(e, err)) != 0 ||
	    (rc = KVM_FAIL("export.snapshot", err)) != 0)
		return rc;
	if (jobs > 1)
		jobs = pick_jobs(o, e->nunits);
	e->r->jobs = jobs;

	for (size_t s = 0; s < e->nsections; s++)
		names[s] = e->sections[s].m->name;
	h.packages = names;
	h.npackages = e->nsections;
	if ((rc = kvm_export_writer_open(&e->w, o->output, &wo, err)) != 0)
		return rc;
	rc = jobs == 1 ? write_sections(e, 1, err) : run_jobs(e, jobs, err);
	if (jobs == 1)
		e->r->jobs = 1;
	if (rc != 0) {
		kvm_export_writer_abort(e->w);
		e->w = NULL;
		return rc;
	}
	rc = kvm_export_writer_finish(e->w, &st, err);
	e->w = NULL;
	if (rc != 0)
		return rc;
	e->r->records = st.records;
	e->r->raw_bytes = st.raw_bytes;
	e->r->file_bytes = st.file_bytes;
	e->r->digest = st.digest;
	/* The snapshot is no longer needed; end it before the re-read (a
	 * failure here changes nothing: the transaction only read). */
	kvm_db_exec(e->leader, "COMMIT", &scratch);
	if (strcmp(o->output, "-") == 0 || o->no_read_back)
		return 0;
	t0 = kvm_now_ms();
	rc = verify_file(e, o->output, &st, err);
	e->r->verify_ms = kvm_now_ms() - t0;
	e->r->verified = rc == 0;
	return rc;
}

int kvm_export_db(const struct kvm_export_db_opts *o,
                  struct kvm_export_db_result *r, struct kvm_error *err)
{
	struct engine *e;
	uint64_t t0 = kvm_now_ms();
	int rc;

	memset(r, 0, sizeof(*r));
	if (o->output == NULL || o->output[0] == '\0' ||
	    o->jobs > KVM_EXPORT_MAX_JOBS)
		return kvm_error_set(err, KVM_EINVAL, "export: no output file, or "
		                     "more than %d jobs", KVM_EXPORT_MAX_JOBS);
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	e->o = o;
	e->r = r;
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cv, NULL);
	if ((rc = pick_packages(e, err)) == 0 &&
	    (rc = export_connect(e, &e->leader, o->connect_retry_ms, err)) == 0) {
		snprintf(r->target, sizeof(r->target), "%s",
		         kvm_db_target(e->leader));
		rc = export_in_snapshot(e, err);
	}
	kvm_db_close(e->leader);
	for (size_t i = 0; i < e->nunits; i++) {
		struct block *b = e->units[i].head, *next;

		for (; b != NULL; b = next) {
			next = b->next;
			free(b);
		}
		free(e->units[i].split);
	}
	free(e->units);
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->mu);
	free(e);
	r->ms = kvm_now_ms() - t0;
	return rc;
}
