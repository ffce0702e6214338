/*
 * export_workers.c - jobs mode: N worker threads, each with its own
 * connection in the leader's snapshot, take units in order and fill the
 * units' queues with blocks of records; the leader drains the queues
 * strictly in unit order into the writer (export.c), so the file is the
 * same whatever N is.  A queue holds at most QUEUE_BYTES, so memory stays
 * bounded by the number of jobs, not by the tables.
 *
 * When a unit fails its worker marks the run aborted; the others stop at
 * their next block or within CANCEL_EVERY rows, and the leader reports
 * the first failed unit in unit order.
 *
 *     kvm_exp_run_jobs: connect the workers one by one, start them,
 *                       kvm_exp_write_sections (which drains), abort,
 *                       join
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_engine.h"

/* Hand the filled block to the leader; wait while the queue is full. */
int kvm_exp_ship_block(struct producer *pr)
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
	if ((rc = kvm_exp_connect(e, db, 5000, err)) != 0)
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
		rc = kvm_exp_run_unit(&pr, &err);
		if (rc == 0 && (rc = kvm_exp_ship_block(&pr)) != 0)
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

int kvm_exp_drain_unit(struct engine *e, struct unit *u, struct kvm_error *err)
{
	struct block *b;
	int rc;

	while ((b = next_block(e, u, &rc, err)) != NULL) {
		const unsigned char *p = b->data, *end = b->data + b->len;

		while (rc == 0 && p < end) {
			size_t plen = kvm_exp_get_u32(p), klen = kvm_exp_get_u32(p + 4);
			size_t vlen = kvm_exp_get_u32(p + 8);
			const unsigned char *part = p + 12;

			rc = kvm_exp_put_record(e, u, part, plen, part + plen, klen,
			                        part + plen + klen, vlen, err);
			p += 12 + plen + klen + vlen;
		}
		free(b);
		if (rc == 0 && kvm_exp_canceled(e))
			rc = kvm_error_set(err, KVM_ECANCELED, "canceled");
		if (rc != 0)
			return rc;
	}
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
int kvm_exp_run_jobs(struct engine *e, unsigned jobs, struct kvm_error *err)
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
		return kvm_exp_write_sections(e, 1, err);   /* the leader alone */
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
		rc = kvm_exp_write_sections(e, 0, err);
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

