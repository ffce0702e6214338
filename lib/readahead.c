/*
 * readahead.c - an export reader on a thread of its own (readahead.h).
 *
 * One producer (the thread, which owns the reader) and one consumer (the
 * caller).  Full blocks go on a list under one mutex; the consumer gives
 * each block back when it moves on, and the producer reuses it, so after
 * the first few blocks nothing is allocated.  A record larger than a
 * block gets a block of its own size, freed when given back.
 *
 * An entry in a block is a struct entry followed by the partition, key
 * and value bytes, copied with memcpy in both directions (blocks are byte
 * arrays: no alignment is assumed).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "readahead.h"

#define BLOCK_BYTES (1u << 20)
/* Blocks in flight (filled, being read, or being filled): 8 MiB. */
#define READAHEAD_BLOCKS 8u

struct entry {
	uint64_t number;
	uint64_t section;
	uint64_t plen, klen, vlen;
};

struct block {
	struct block *next;
	size_t used, cap;
	unsigned char data[];
};

struct kvm_readahead {
	kvm_export_reader *rd;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;          /* any change below */
	struct block *full, *last;  /* filled blocks, oldest first */
	struct block *spare;        /* given back, BLOCK_BYTES each */
	unsigned inflight;          /* blocks allocated, not freed */
	int stop;                   /* the consumer wants no more */
	int done;                   /* the thread ended with rc, err */
	int rc;
	struct kvm_error err;
	struct block *cur;          /* the consumer's block */
	size_t pos;                 /* its next entry */
};

/* The producer's next empty block for at least @need bytes; NULL when
 * asked to stop or out of memory (*rc says which). */
static struct block *take_block(struct kvm_readahead *ra, size_t need, int *rc)
{
	struct block *b = NULL;
	size_t cap = need > BLOCK_BYTES ? need : BLOCK_BYTES;

	pthread_mutex_lock(&ra->mu);
	while (!ra->stop && ra->spare == NULL && ra->inflight >= READAHEAD_BLOCKS)
		pthread_cond_wait(&ra->cv, &ra->mu);
	if (ra->stop) {
		*rc = KVM_ECANCELED;
	} else if (ra->spare != NULL && cap == BLOCK_BYTES) {
		b = ra->spare;
		ra->spare = b->next;
	} else {
		ra->inflight++;
	}
	pthread_mutex_unlock(&ra->mu);
	if (*rc != 0)
		return NULL;
	if (b == NULL && (b = malloc(sizeof(*b) + cap)) == NULL) {
		pthread_mutex_lock(&ra->mu);
		ra->inflight--;
		pthread_mutex_unlock(&ra->mu);
		*rc = KVM_ENOMEM;
		return NULL;
	}
	b->cap = cap;
	b->next = NULL;
	b->used = 0;
	return b;
}

/* Give a block back: kept for reuse when of the common size. */
static void give_back(struct kvm_readahead *ra, struct block *b)
{
	pthread_mutex_lock(&ra->mu);
	if (b->cap == BLOCK_BYTES) {
		b->next = ra->spare;
		ra->spare = b;
	} else {
		free(b);
		ra->inflight--;
	}
	pthread_cond_broadcast(&ra->cv);
	pthread_mutex_unlock(&ra->mu);
}

static void ship(struct kvm_readahead *ra, struct block *b)
{
	pthread_mutex_lock(&ra->mu);
	if (ra->last != NULL)
		ra->last->next = b;
	else
		ra->full = b;
	ra->last = b;
	pthread_cond_broadcast(&ra->cv);
	pthread_mutex_unlock(&ra->mu);
}

static void append(struct block *b, const struct kvm_export_record *rec)
{
	struct entry e = {
		rec->number, rec->section, rec->partition_len, rec->key_len,
		rec->value_len,
	};
	unsigned char *p = b->data + b->used;

	memcpy(p, &e, sizeof(e));
	p += sizeof(e);
	memcpy(p, rec->partition, rec->partition_len);
	p += rec->partition_len;
	memcpy(p, rec->key, rec->key_len);
	p += rec->key_len;
	memcpy(p, rec->value, rec->value_len);
	b->used += sizeof(e) + rec->partition_len + rec->key_len + rec->value_len;
}

static void *read_main(void *arg)
{
	struct kvm_readahead *ra = arg;
	struct kvm_export_record rec;
	struct kvm_error err = { 0 };
	struct block *b = NULL;
	int rc;

	while ((rc = kvm_export_reader_next(ra->rd, &rec, &err)) == 0) {
		size_t need = sizeof(struct entry) + rec.partition_len +
		              rec.key_len + rec.value_len;

		if (b != NULL && b->used + need > b->cap) {
			ship(ra, b);
			b = NULL;
		}
		if (b == NULL && (b = take_block(ra, need, &rc)) == NULL) {
			if (rc == KVM_ENOMEM)
				kvm_error_set(&err, KVM_ENOMEM, "out of memory");
			break;
		}
		append(b, &rec);
	}
	if (b != NULL && b->used > 0)
		ship(ra, b);
	else if (b != NULL)
		give_back(ra, b);
	pthread_mutex_lock(&ra->mu);
	ra->done = 1;
	ra->rc = rc;
	ra->err = err;
	pthread_cond_broadcast(&ra->cv);
	pthread_mutex_unlock(&ra->mu);
	return NULL;
}

int kvm_readahead_start(struct kvm_readahead **out, kvm_export_reader *rd,
                        struct kvm_error *err)
{
	struct kvm_readahead *ra = calloc(1, sizeof(*ra));
	int rc;

	*out = NULL;
	if (ra == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	ra->rd = rd;
	pthread_mutex_init(&ra->mu, NULL);
	pthread_cond_init(&ra->cv, NULL);
	if ((rc = pthread_create(&ra->thread, NULL, read_main, ra)) != 0) {
		pthread_cond_destroy(&ra->cv);
		pthread_mutex_destroy(&ra->mu);
		free(ra);
		return kvm_error_set(err, rc, "cannot start a thread: %s",
		                     strerror(rc));
	}
	*out = ra;
	return 0;
}

/* The consumer's next block, or NULL once the thread is done and every
 * block it filled was taken. */
static struct block *next_full(struct kvm_readahead *ra)
{
	struct block *b;

	pthread_mutex_lock(&ra->mu);
	while (ra->full == NULL && !ra->done)
		pthread_cond_wait(&ra->cv, &ra->mu);
	b = ra->full;
	if (b != NULL) {
		ra->full = b->next;
		if (ra->full == NULL)
			ra->last = NULL;
	}
	pthread_mutex_unlock(&ra->mu);
	return b;
}

int kvm_readahead_next(struct kvm_readahead *ra, struct kvm_export_record *rec,
                       struct kvm_error *err)
{
	struct entry e;
	const unsigned char *p;

	if (ra->cur != NULL && ra->pos == ra->cur->used) {
		give_back(ra, ra->cur);
		ra->cur = NULL;
	}
	if (ra->cur == NULL) {
		if ((ra->cur = next_full(ra)) == NULL) {
			/* done is set and read under the mutex in next_full */
			if (ra->rc != KVM_END)
				*err = ra->err;
			return ra->rc;
		}
		ra->pos = 0;
	}
	p = ra->cur->data + ra->pos;
	memcpy(&e, p, sizeof(e));
	p += sizeof(e);
	rec->number = e.number;
	rec->section = (size_t)e.section;
	rec->partition = p;
	rec->partition_len = (size_t)e.plen;
	rec->key = p + e.plen;
	rec->key_len = (size_t)e.klen;
	rec->value = p + e.plen + e.klen;
	rec->value_len = (size_t)e.vlen;
	ra->pos += sizeof(e) + e.plen + e.klen + e.vlen;
	return 0;
}

static void free_list(struct block *b)
{
	while (b != NULL) {
		struct block *next = b->next;

		free(b);
		b = next;
	}
}

void kvm_readahead_stop(struct kvm_readahead *ra)
{
	if (ra == NULL)
		return;
	pthread_mutex_lock(&ra->mu);
	ra->stop = 1;
	pthread_cond_broadcast(&ra->cv);
	pthread_mutex_unlock(&ra->mu);
	pthread_join(ra->thread, NULL);
	free(ra->cur);
	free_list(ra->full);
	free_list(ra->spare);
	pthread_cond_destroy(&ra->cv);
	pthread_mutex_destroy(&ra->mu);
	free(ra);
}
