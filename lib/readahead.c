/*
 * readahead.c - an export reader on a thread of its own (readahead.h).
 *
 * One producer (the thread, which owns the reader) and one consumer (the
 * caller), joined by a block queue (blockq.h): the thread copies records
 * into blocks, the caller reads them and gives each block back when it
 * moves on, and the thread reuses it, so after the first few blocks
 * nothing is allocated.  A record larger than a block gets a block of its
 * own size, freed when given back.
 *
 * An entry in a block is a struct entry followed by the partition, key
 * and value bytes, copied with memcpy in both directions (blocks are byte
 * arrays: no alignment is assumed).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blockq.h"
#include "readahead.h"

#define BLOCK_BYTES (1u << 20)
/* Blocks in flight (filled, being read, or being filled): 8 MiB. */
#define READAHEAD_BLOCKS 8u

struct entry {
	uint64_t number;
	uint64_t section;
	uint64_t plen, klen, vlen;
};

struct kvm_readahead {
	kvm_export_reader *rd;
	pthread_t thread;
	struct kvm_blockq q;
	struct kvm_block *cur;      /* the consumer's block */
	size_t pos;                 /* its next entry */
};

static void append(struct kvm_block *b, const struct kvm_export_record *rec)
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
	struct kvm_block *b = NULL;
	int rc;

	while ((rc = kvm_export_reader_next(ra->rd, &rec, &err)) == 0) {
		size_t need = sizeof(struct entry) + rec.partition_len +
		              rec.key_len + rec.value_len;

		if (b != NULL && b->used + need > b->cap) {
			rc = kvm_blockq_ship(&ra->q, b, &err);
			b = NULL;
		}
		if (rc != 0 ||
		    (b == NULL && (rc = kvm_blockq_take(&ra->q, need, &b,
		                                        &err)) != 0))
			break;
		append(b, &rec);
	}
	if (b != NULL) {
		struct kvm_error ignored;

		/* the end's KVM_END or the error stays what the reader said */
		kvm_blockq_ship(&ra->q, b, &ignored);
	}
	kvm_blockq_close(&ra->q, rc == KVM_END ? 0 : rc, &err);
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
	if ((rc = kvm_blockq_init(&ra->q, BLOCK_BYTES,
	                          READAHEAD_BLOCKS * BLOCK_BYTES, err)) != 0) {
		free(ra);
		return rc;
	}
	if ((rc = pthread_create(&ra->thread, NULL, read_main, ra)) != 0) {
		kvm_blockq_release(&ra->q);
		free(ra);
		return kvm_error_set(err, rc, "cannot start a thread: %s",
		                     strerror(rc));
	}
	*out = ra;
	return 0;
}

int kvm_readahead_next(struct kvm_readahead *ra, struct kvm_export_record *rec,
                       struct kvm_error *err)
{
	struct entry e;
	const unsigned char *p;
	int rc;

	if (ra->cur != NULL && ra->pos == ra->cur->used) {
		kvm_blockq_give_back(&ra->q, ra->cur);
		ra->cur = NULL;
	}
	if (ra->cur == NULL) {
		/* KVM_END after the verified end, or the reader's error */
		if ((rc = kvm_blockq_next(&ra->q, &ra->cur, err)) != 0)
			return rc;
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

void kvm_readahead_stop(struct kvm_readahead *ra)
{
	if (ra == NULL)
		return;
	kvm_blockq_cancel(&ra->q);
	pthread_join(ra->thread, NULL);
	kvm_blockq_give_back(&ra->q, ra->cur);
	kvm_blockq_release(&ra->q);
	free(ra);
}
