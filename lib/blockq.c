/*
 * blockq.c - a bounded queue of byte blocks from one producer thread to
 * one consumer thread (blockq.h): the export's workers hand their records
 * to the leader through one per unit of work, the import's reading thread
 * hands the records it read to the import through one.
 *
 * One mutex and one condition per queue; every change is broadcast (there
 * are two parties, and each waits for one thing at a time).  The bound
 * counts the bytes of every block allocated and not freed, spares
 * included: a spare is memory the queue holds.  Taking a block larger
 * than the common size frees the spares first, so idle spares never keep
 * the producer waiting.
 */
#include <stdlib.h>
#include <string.h>

#include "blockq.h"

int kvm_blockq_init(struct kvm_blockq *q, size_t block_bytes, size_t limit,
                    struct kvm_error *err)
{
	int rc;

	memset(q, 0, sizeof(*q));
	q->block_bytes = block_bytes;
	q->limit = limit;
	if ((rc = pthread_mutex_init(&q->mu, NULL)) != 0)
		return kvm_error_set(err, rc, "cannot make a mutex: %s",
		                     strerror(rc));
	if ((rc = pthread_cond_init(&q->cv, NULL)) != 0) {
		pthread_mutex_destroy(&q->mu);
		return kvm_error_set(err, rc, "cannot make a condition variable: "
		                     "%s", strerror(rc));
	}
	return 0;
}

static void free_list(struct kvm_block *b)
{
	while (b != NULL) {
		struct kvm_block *next = b->next;

		free(b);
		b = next;
	}
}

void kvm_blockq_release(struct kvm_blockq *q)
{
	free_list(q->head);
	free_list(q->spare);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	memset(q, 0, sizeof(*q));
}

/* Free the spares; called with q->mu held. */
static void drop_spares(struct kvm_blockq *q)
{
	while (q->spare != NULL) {
		struct kvm_block *b = q->spare;

		q->spare = b->next;
		q->inflight -= b->cap;
		free(b);
	}
}

int kvm_blockq_take(struct kvm_blockq *q, size_t need, struct kvm_block **out,
                    struct kvm_error *err)
{
	size_t cap = need > q->block_bytes ? need : q->block_bytes;
	struct kvm_block *b = NULL;
	int rc = 0;

	*out = NULL;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		if (q->canceled) {
			rc = KVM_ECANCELED;
			break;
		}
		if (cap == q->block_bytes && q->spare != NULL) {
			b = q->spare;
			q->spare = b->next;
			break;
		}
		if (cap > q->block_bytes)
			drop_spares(q);
		if (q->inflight < q->limit) {
			q->inflight += cap;    /* allocated below, unlocked */
			break;
		}
		pthread_cond_wait(&q->cv, &q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	if (rc != 0)
		return kvm_error_set(err, rc, "canceled");
	if (b == NULL && (b = malloc(sizeof(*b) + cap)) == NULL) {
		pthread_mutex_lock(&q->mu);
		q->inflight -= cap;
		pthread_cond_broadcast(&q->cv);
		pthread_mutex_unlock(&q->mu);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory for a block "
		                     "of %zu bytes", cap);
	}
	b->next = NULL;
	b->used = 0;
	b->cap = cap;
	*out = b;
	return 0;
}

/* Free @b, or keep it as a spare; called with q->mu held. */
static void put_back(struct kvm_blockq *q, struct kvm_block *b)
{
	if (b->cap == q->block_bytes && !q->closed && !q->canceled) {
		b->next = q->spare;
		q->spare = b;
	} else {
		q->inflight -= b->cap;
		free(b);
	}
	pthread_cond_broadcast(&q->cv);
}

int kvm_blockq_ship(struct kvm_blockq *q, struct kvm_block *b,
                    struct kvm_error *err)
{
	int rc = 0;

	pthread_mutex_lock(&q->mu);
	if (q->canceled) {
		rc = KVM_ECANCELED;
		put_back(q, b);
	} else if (b->used == 0) {
		put_back(q, b);
	} else {
		b->next = NULL;
		if (q->tail != NULL)
			q->tail->next = b;
		else
			q->head = b;
		q->tail = b;
		pthread_cond_broadcast(&q->cv);
	}
	pthread_mutex_unlock(&q->mu);
	return rc != 0 ? kvm_error_set(err, rc, "canceled") : 0;
}

void kvm_blockq_close(struct kvm_blockq *q, int rc,
                      const struct kvm_error *err)
{
	pthread_mutex_lock(&q->mu);
	q->closed = 1;
	q->rc = rc;
	if (rc != 0 && err != NULL)
		q->err = *err;
	drop_spares(q);
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

int kvm_blockq_next(struct kvm_blockq *q, struct kvm_block **out,
                    struct kvm_error *err)
{
	int rc, stopped = 0;

	*out = NULL;
	pthread_mutex_lock(&q->mu);
	while (q->head == NULL && !q->closed && !q->canceled)
		pthread_cond_wait(&q->cv, &q->mu);
	if (q->head != NULL) {
		*out = q->head;
		q->head = q->head->next;
		if (q->head == NULL)
			q->tail = NULL;
		rc = 0;
	} else if (q->closed) {
		rc = q->rc != 0 ? q->rc : KVM_END;
		if (q->rc != 0)
			*err = q->err;
	} else {
		rc = KVM_ECANCELED;
		stopped = 1;
	}
	pthread_mutex_unlock(&q->mu);
	if (stopped)
		kvm_error_set(err, rc, "canceled");
	return rc;
}

void kvm_blockq_give_back(struct kvm_blockq *q, struct kvm_block *b)
{
	if (b == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	put_back(q, b);
	pthread_mutex_unlock(&q->mu);
}

void kvm_blockq_cancel(struct kvm_blockq *q)
{
	pthread_mutex_lock(&q->mu);
	q->canceled = 1;
	drop_spares(q);
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

int kvm_blockq_result(struct kvm_blockq *q, int *rc, struct kvm_error *err)
{
	int closed;

	pthread_mutex_lock(&q->mu);
	closed = q->closed;
	if (closed) {
		*rc = q->rc;
		if (q->rc != 0)
			*err = q->err;
	}
	pthread_mutex_unlock(&q->mu);
	return closed;
}
