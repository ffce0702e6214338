/*
 * export_workers.c - jobs mode: N worker threads, each with its own
 * connection in the leader's snapshot, take units in order and fill the
 * units' queues (one block queue, blockq.h, per unit) with blocks of
 * records; the leader drains the queues strictly in unit order into the
 * writer (export.c), so the file is the same whatever N is.  A queue
 * holds at most QUEUE_BYTES, so a large table waits for the leader
 * instead of filling memory.
 *
 * A worker closes its unit's queue with the unit's result.  When a unit
 * fails its worker marks the run aborted and cancels every queue; the
 * others stop at their next block or within CANCEL_EVERY rows, and the
 * leader reports the first failed unit in unit order.
 *
 *     kvm_exp_run_jobs: connect the workers one by one, start them,
 *                       kvm_exp_write_sections (which drains), abort,
 *                       join
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_engine.h"

struct worker {
	struct engine *e;
	struct kvm_db *db;         /* joined the snapshot; owned by the worker */
	pthread_t thread;
	int started;
};

/* Stop the run: no unit is taken any more, and every queue is canceled,
 * which wakes a worker waiting for room and the leader waiting for a
 * block.  A no-op when every unit is done and drained. */
static void abort_run(struct engine *e)
{
	__atomic_store_n(&e->abort, 1, __ATOMIC_RELAXED);
	for (size_t i = 0; i < e->nunits; i++)
		kvm_blockq_cancel(&e->queues[i]);
}

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
	if ((rc = kvm_db_exec(*db, e->search_path_sql, err)) != 0 ||
	    (rc = kvm_db_exec(*db, "BEGIN ISOLATION LEVEL REPEATABLE READ "
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
		pthread_mutex_unlock(&e->mu);
		abort_run(e);
		goto out;
	}
	for (;;) {
		size_t i;

		pthread_mutex_lock(&e->mu);
		if (__atomic_load_n(&e->abort, __ATOMIC_RELAXED) ||
		    e->next_unit == e->nunits) {
			pthread_mutex_unlock(&e->mu);
			break;
		}
		i = e->next_unit++;
		pthread_mutex_unlock(&e->mu);

		pr.u = &e->units[i];
		pr.q = &e->queues[i];
		rc = kvm_exp_run_unit(&pr, &err);
		if (rc == 0 && pr.cur != NULL)
			rc = kvm_blockq_ship(pr.q, pr.cur, &err);
		else
			kvm_blockq_give_back(pr.q, pr.cur);
		pr.cur = NULL;
		kvm_blockq_close(pr.q, rc, &err);
		if (rc != 0) {
			abort_run(e);
			break;
		}
	}
out:
	kvm_db_close(pr.db);
	kvm_value_free(pr.value);
	return NULL;
}

/* Why the workers stopped: the first unit (in order) that failed other
 * than by being stopped, else a worker's own failure, else a cancel. */
static int abort_reason(struct engine *e, struct kvm_error *err)
{
	int rc;

	for (size_t i = 0; i < e->nunits; i++)
		if (kvm_blockq_result(&e->queues[i], &rc, err) && rc != 0 &&
		    rc != KVM_ECANCELED)
			return rc;
	pthread_mutex_lock(&e->mu);
	rc = e->worker_rc;
	if (rc != 0)
		*err = e->worker_err;
	pthread_mutex_unlock(&e->mu);
	if (rc != 0)
		return rc;
	return kvm_error_set(err, KVM_ECANCELED, "canceled");
}

int kvm_exp_drain_unit(struct engine *e, struct unit *u, struct kvm_error *err)
{
	struct kvm_blockq *q = &e->queues[u - e->units];
	struct kvm_block *b;
	int rc;

	while ((rc = kvm_blockq_next(q, &b, err)) == 0) {
		const unsigned char *p = b->data, *end = b->data + b->used;

		while (rc == 0 && p < end) {
			size_t plen = kvm_exp_get_u32(p), klen = kvm_exp_get_u32(p + 4);
			size_t vlen = kvm_exp_get_u32(p + 8);
			const unsigned char *part = p + 12;

			rc = kvm_exp_put_record(e, u, part, plen, part + plen, klen,
			                        part + plen + klen, vlen, err);
			p += 12 + plen + klen + vlen;
		}
		kvm_blockq_give_back(q, b);
		if (rc == 0 && kvm_exp_canceled(e))
			rc = kvm_error_set(err, KVM_ECANCELED, "canceled");
		if (rc != 0)
			return rc;
	}
	if (rc == KVM_END)
		return 0;
	/* Stopped because another unit failed: report that one. */
	if (rc == KVM_ECANCELED)
		rc = abort_reason(e, err);
	return rc;
}

/* One queue per unit, before any worker starts. */
static int make_queues(struct engine *e, struct kvm_error *err)
{
	int rc = 0;
	size_t i;

	if ((e->queues = calloc(e->nunits, sizeof(*e->queues))) == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	for (i = 0; i < e->nunits; i++)
		if ((rc = kvm_blockq_init(&e->queues[i], BLOCK_BYTES, QUEUE_BYTES,
		                          err)) != 0)
			break;
	if (rc != 0) {
		while (i-- > 0)
			kvm_blockq_release(&e->queues[i]);
		free(e->queues);
		e->queues = NULL;
	}
	return rc;
}

static void free_queues(struct engine *e)
{
	for (size_t i = 0; i < e->nunits; i++)
		kvm_blockq_release(&e->queues[i]);
	free(e->queues);
	e->queues = NULL;
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
	rc = make_queues(e, err);
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
	if (e->queues != NULL)
		abort_run(e);    /* a no-op when every unit is done */
	for (unsigned i = 0; i < n; i++) {
		if (wk[i].started)
			pthread_join(wk[i].thread, NULL);
		kvm_db_close(wk[i].db);    /* of a worker never started */
	}
	if (e->queues != NULL)
		free_queues(e);
	free(wk);
	return rc;
}
