/*
 * blockq.h - a bounded queue of byte blocks from one producer thread to
 * one consumer thread (internal to lib/).
 *
 * The producer takes an empty block, fills it, ships it; the consumer
 * takes the full blocks in the order they were shipped and gives each
 * back when it is done with it.  Blocks of the queue's common size are
 * kept and handed out again, so after the first few nothing is
 * allocated; a block asked for larger than that is allocated to fit and
 * freed when given back.
 *
 *     producer                              consumer
 *     kvm_blockq_take(q, need, &b, err)     kvm_blockq_next(q, &b, err)
 *     ...fill b->data, b->used...           ...read b->data[0 .. b->used)...
 *     kvm_blockq_ship(q, b, err)            kvm_blockq_give_back(q, b)
 *     kvm_blockq_close(q, rc, err)          (KVM_END, or the producer's rc)
 *
 * Bound: take waits while the blocks in flight (taken and not given back:
 * being filled, queued, being read, kept for reuse) add up to the queue's
 * limit in bytes, so memory stays at most the limit plus one oversized
 * block, whatever the producer makes.
 *
 * Stopping: kvm_blockq_cancel(), from either side or a third thread,
 * wakes every waiter; take and ship then return KVM_ECANCELED, and next
 * returns KVM_ECANCELED once the blocks already queued are taken (unless
 * the producer closed the queue first: then its result).
 *
 * The block layout inside data[] is the users' business: the queue only
 * moves the blocks.  Thread-safety: every call may run concurrently with
 * the other side's; init and release must not.
 */
#ifndef KVM_BLOCKQ_H
#define KVM_BLOCKQ_H

#include <pthread.h>
#include <stddef.h>

#include "kvm/error.h"

/* One block: the producer fills data[] and sets used. */
struct kvm_block {
	struct kvm_block *next;   /* the queue's link; not for the users */
	size_t used;              /* bytes of data[] filled (set by the producer) */
	size_t cap;               /* bytes of data[] */
	unsigned char data[];
};

/* A queue, embedded by value in its owner (kvm_blockq_init/_release).
 * The fields are the queue's own, guarded by mu. */
struct kvm_blockq {
	pthread_mutex_t mu;
	pthread_cond_t cv;               /* any change below */
	size_t block_bytes;              /* the common size, kept for reuse */
	size_t limit;                    /* bytes in flight before take waits */
	size_t inflight;                 /* bytes of blocks allocated, not freed */
	struct kvm_block *head, *tail;   /* shipped, oldest first */
	struct kvm_block *spare;         /* given back, block_bytes each */
	int canceled;
	int closed;                      /* the producer is done: rc, err */
	int rc;
	struct kvm_error err;
};

/*
 * Set up an empty queue of blocks of @block_bytes, with at most @limit
 * bytes of blocks in flight (at least one block is always allowed).
 *
 * @return 0; an errno value when the mutex or condition cannot be made
 */
int kvm_blockq_init(struct kvm_blockq *q, size_t block_bytes, size_t limit,
                    struct kvm_error *err);

/* Free every block the queue holds and its mutex.  Neither side may use
 * it any more; blocks taken and not shipped or given back are the
 * caller's to give back first. */
void kvm_blockq_release(struct kvm_blockq *q);

/*
 * Producer: an empty block (used 0) of at least @need bytes, waiting
 * while the limit is reached.  The block is the producer's until shipped
 * or given back.
 *
 * @return 0 with *out set; KVM_ECANCELED; KVM_ENOMEM (*out NULL)
 */
int kvm_blockq_take(struct kvm_blockq *q, size_t need, struct kvm_block **out,
                    struct kvm_error *err);

/*
 * Producer: queue @b for the consumer.  An empty block (used 0) is given
 * back instead.  Never waits: the bound is kept by take.
 *
 * @return 0; KVM_ECANCELED, with @b freed
 */
int kvm_blockq_ship(struct kvm_blockq *q, struct kvm_block *b,
                    struct kvm_error *err);

/*
 * Producer: no more blocks.  @rc is the producer's result: 0 for a
 * complete run, else its error, whose message @err holds (NULL when rc
 * is 0).  Blocks kept for reuse are freed.
 */
void kvm_blockq_close(struct kvm_blockq *q, int rc,
                      const struct kvm_error *err);

/*
 * Consumer: the next shipped block, waiting for one.  The block is the
 * consumer's until given back.
 *
 * @return 0 with *out set; once the queue is closed and drained, KVM_END
 *         when the producer closed it with 0, else the producer's error
 *         with its message (every later call returns the same);
 *         KVM_ECANCELED when canceled and drained before it was closed
 */
int kvm_blockq_next(struct kvm_blockq *q, struct kvm_block **out,
                    struct kvm_error *err);

/* Either side: return a block the queue handed out; kept for reuse while
 * the producer may take more, else freed.  NULL is allowed. */
void kvm_blockq_give_back(struct kvm_blockq *q, struct kvm_block *b);

/* Anyone: stop both sides (see above).  Idempotent. */
void kvm_blockq_cancel(struct kvm_blockq *q);

/*
 * Anyone: whether the producer has closed the queue; when it has, its
 * result into *rc and, when *rc is not 0, its message into @err.
 *
 * @return 1 when closed, else 0 (*rc and @err untouched)
 */
int kvm_blockq_result(struct kvm_blockq *q, int *rc, struct kvm_error *err);

#endif /* KVM_BLOCKQ_H */
