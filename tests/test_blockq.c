/*
 * test_blockq.c - the bounded queue of byte blocks (lib/blockq.c): every
 * byte arrives in order across real threads, the producer waits at the
 * bound and goes on when a block comes back, blocks are reused, an
 * oversized block fits its record and is freed, idle spares never hold
 * the producer up, a cancel wakes both sides, and the producer's result
 * reaches the consumer after the blocks it shipped.
 */
#include "kvmt.h"
#include "blockq.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BS 4096u

static size_t inflight(struct kvm_blockq *q)
{
	size_t n;

	pthread_mutex_lock(&q->mu);
	n = q->inflight;
	pthread_mutex_unlock(&q->mu);
	return n;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* --- a producer on a thread ---------------------------------------------- */

struct prod {
	struct kvm_blockq *q;
	unsigned records;          /* records to write, numbered from 0 */
	int fail_with;             /* close with this rc (0: a clean end) */
	int rc;                    /* what take or ship last returned */
	int waiting_done;          /* set (atomically) after the extra take */
};

/* Record i: 4 bytes of i, then (i * 37) % 5000 bytes of (i & 0xff), so
 * some records are larger than a block. */
static size_t rec_len(unsigned i)
{
	return 4 + (size_t)(i * 37u) % 5000u;
}

static void *produce(void *arg)
{
	struct prod *p = arg;
	struct kvm_error err = { 0 };
	struct kvm_block *b = NULL;
	int rc = 0;

	for (unsigned i = 0; i < p->records && rc == 0; i++) {
		size_t need = rec_len(i);

		if (b != NULL && b->cap - b->used < need) {
			rc = kvm_blockq_ship(p->q, b, &err);
			b = NULL;
		}
		if (rc == 0 && b == NULL)
			rc = kvm_blockq_take(p->q, need, &b, &err);
		if (rc != 0)
			break;
		memcpy(b->data + b->used, &i, 4);
		memset(b->data + b->used + 4, (int)(i & 0xff), need - 4);
		b->used += need;
	}
	if (rc == 0 && b != NULL)
		rc = kvm_blockq_ship(p->q, b, &err);
	p->rc = rc;
	if (rc == 0 && p->fail_with != 0) {
		kvm_error_set(&err, p->fail_with, "the producer failed at %u",
		              p->records);
		rc = p->fail_with;
	}
	kvm_blockq_close(p->q, rc, &err);
	return NULL;
}

/* --- tests ---------------------------------------------------------------- */

static void test_blockq__every_byte_arrives_in_order(void **state)
{
	struct kvm_blockq q;
	struct kvm_error err = { 0 };
	struct prod p = { .q = &q, .records = 20000 };
	struct kvm_block *b;
	pthread_t t;
	unsigned next = 0;
	int rc;

	(void)state;
	assert_int_equal(kvm_blockq_init(&q, BS, 4 * BS, &err), 0);
	assert_int_equal(pthread_create(&t, NULL, produce, &p), 0);
	while ((rc = kvm_blockq_next(&q, &b, &err)) == 0) {
		size_t pos = 0;

		assert_true(b->used > 0 && b->used <= b->cap);
		while (pos < b->used) {
			unsigned i;
			size_t len;

			memcpy(&i, b->data + pos, 4);
			assert_int_equal(i, next);
			len = rec_len(i);
			assert_true(pos + len <= b->used);
			for (size_t k = 4; k < len; k++)
				if (b->data[pos + k] != (unsigned char)(i & 0xff))
					fail_msg("record %u: byte %zu differs", i, k);
			pos += len;
			next++;
		}
		/* at most the limit plus the one block being filled */
		assert_true(inflight(&q) <= 4 * BS + 5004);
		kvm_blockq_give_back(&q, b);
	}
	assert_int_equal(rc, KVM_END);
	assert_int_equal(next, 20000);
	/* the end is stable */
	assert_int_equal(kvm_blockq_next(&q, &b, &err), KVM_END);
	assert_null(b);
	pthread_join(t, NULL);
	assert_int_equal(p.rc, 0);
	assert_int_equal(inflight(&q), 0);
	kvm_blockq_release(&q);
}

struct taker {
	struct kvm_blockq *q;
	size_t need;
	struct kvm_block *got;
	int rc;
	int done;
};

static void *take_one(void *arg)
{
	struct taker *t = arg;
	struct kvm_error err = { 0 };

	t->rc = kvm_blockq_take(t->q, t->need, &t->got, &err);
	__atomic_store_n(&t->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void test_blockq__the_producer_waits_at_the_bound(void **state)
{
	struct kvm_blockq q;
	struct kvm_error err = { 0 };
	struct kvm_block *b[3], *out;
	struct taker tk = { .q = &q, .need = 10 };
	pthread_t t;

	(void)state;
	assert_int_equal(kvm_blockq_init(&q, BS, 3 * BS, &err), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(kvm_blockq_take(&q, 10, &b[i], &err), 0);
		assert_int_equal(b[i]->cap, BS);
		assert_int_equal(b[i]->used, 0);
		b[i]->used = 1;
		assert_int_equal(kvm_blockq_ship(&q, b[i], &err), 0);
	}
	assert_int_equal(inflight(&q), 3 * BS);
	assert_int_equal(pthread_create(&t, NULL, take_one, &tk), 0);
	sleep_ms(100);
	assert_int_equal(__atomic_load_n(&tk.done, __ATOMIC_SEQ_CST), 0);
	/* the consumer gives one back: the producer gets that very block */
	assert_int_equal(kvm_blockq_next(&q, &out, &err), 0);
	assert_ptr_equal(out, b[0]);
	kvm_blockq_give_back(&q, out);
	pthread_join(t, NULL);
	assert_int_equal(tk.rc, 0);
	assert_ptr_equal(tk.got, b[0]);
	assert_int_equal(tk.got->used, 0);
	assert_int_equal(inflight(&q), 3 * BS);
	kvm_blockq_give_back(&q, tk.got);
	kvm_blockq_close(&q, 0, NULL);
	kvm_blockq_release(&q);
}

static void test_blockq__an_oversized_block_fits_and_is_freed(void **state)
{
	struct kvm_blockq q;
	struct kvm_error err = { 0 };
	struct kvm_block *b, *out;

	(void)state;
	assert_int_equal(kvm_blockq_init(&q, BS, 2 * BS, &err), 0);
	assert_int_equal(kvm_blockq_take(&q, 3 * BS, &b, &err), 0);
	assert_int_equal(b->cap, 3 * BS);
	assert_int_equal(inflight(&q), 3 * BS);
	b->used = 3 * BS;
	assert_int_equal(kvm_blockq_ship(&q, b, &err), 0);
	assert_int_equal(kvm_blockq_next(&q, &out, &err), 0);
	assert_ptr_equal(out, b);
	kvm_blockq_give_back(&q, out);
	assert_int_equal(inflight(&q), 0);
	kvm_blockq_close(&q, 0, NULL);
	kvm_blockq_release(&q);
}

/* Spares fill the bound; a take larger than a block must not wait for
 * them (no one would give anything back). */
static void test_blockq__idle_spares_never_hold_the_producer(void **state)
{
	struct kvm_blockq q;
	struct kvm_error err = { 0 };
	struct kvm_block *b[2], *big;

	(void)state;
	assert_int_equal(kvm_blockq_init(&q, BS, 2 * BS, &err), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(kvm_blockq_take(&q, 1, &b[i], &err), 0);
	for (int i = 0; i < 2; i++)
		kvm_blockq_give_back(&q, b[i]);
	assert_int_equal(inflight(&q), 2 * BS);
	assert_int_equal(kvm_blockq_take(&q, BS + 1, &big, &err), 0);
	assert_int_equal(inflight(&q), BS + 1);
	/* an empty block shipped is given back, not queued */
	assert_int_equal(kvm_blockq_ship(&q, big, &err), 0);
	assert_int_equal(inflight(&q), 0);
	kvm_blockq_close(&q, 0, NULL);
	assert_int_equal(kvm_blockq_next(&q, &big, &err), KVM_END);
	kvm_blockq_release(&q);
}

struct nexter {
	struct kvm_blockq *q;
	struct kvm_block *got;
	struct kvm_error err;
	int rc;
};

static void *next_one(void *arg)
{
	struct nexter *n = arg;

	n->rc = kvm_blockq_next(n->q, &n->got, &n->err);
	return NULL;
}

static void test_blockq__a_cancel_wakes_both_sides(void **state)
{
	struct kvm_blockq q, q2;
	struct kvm_error err = { 0 };
	struct kvm_block *b, *extra;
	struct taker tk = { .q = &q, .need = 1 };
	struct nexter nx = { .q = &q2 };
	pthread_t t1, t2;

	(void)state;
	/* a producer waiting for room */
	assert_int_equal(kvm_blockq_init(&q, BS, BS, &err), 0);
	assert_int_equal(kvm_blockq_take(&q, 1, &b, &err), 0);
	assert_int_equal(pthread_create(&t1, NULL, take_one, &tk), 0);
	/* a consumer waiting for a block */
	assert_int_equal(kvm_blockq_init(&q2, BS, BS, &err), 0);
	assert_int_equal(pthread_create(&t2, NULL, next_one, &nx), 0);
	sleep_ms(50);
	kvm_blockq_cancel(&q);
	kvm_blockq_cancel(&q2);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	assert_int_equal(tk.rc, KVM_ECANCELED);
	assert_null(tk.got);
	assert_int_equal(nx.rc, KVM_ECANCELED);
	assert_null(nx.got);
	assert_string_equal(nx.err.msg, "canceled");
	/* after a cancel: ship frees the block, take refuses */
	b->used = 1;
	assert_int_equal(kvm_blockq_ship(&q, b, &err), KVM_ECANCELED);
	assert_int_equal(kvm_blockq_take(&q, 1, &extra, &err), KVM_ECANCELED);
	assert_int_equal(inflight(&q), 0);
	kvm_blockq_release(&q);
	kvm_blockq_release(&q2);
}

static void test_blockq__the_producers_error_comes_after_its_blocks(void **state)
{
	struct kvm_blockq q;
	struct kvm_error err = { 0 };
	struct prod p = { .q = &q, .records = 50, .fail_with = KVM_EDB };
	struct kvm_block *b;
	unsigned records = 0;
	pthread_t t;
	int rc;

	(void)state;
	assert_int_equal(kvm_blockq_init(&q, BS, 2 * BS, &err), 0);
	assert_int_equal(pthread_create(&t, NULL, produce, &p), 0);
	while ((rc = kvm_blockq_next(&q, &b, &err)) == 0) {
		for (size_t pos = 0; pos < b->used; records++) {
			unsigned i;

			memcpy(&i, b->data + pos, 4);
			pos += rec_len(i);
		}
		kvm_blockq_give_back(&q, b);
	}
	pthread_join(t, NULL);
	assert_int_equal(records, 50);
	assert_int_equal(rc, KVM_EDB);
	assert_string_equal(err.msg, "the producer failed at 50");
	/* sticky, and the result is there for anyone to read */
	memset(&err, 0, sizeof(err));
	assert_int_equal(kvm_blockq_next(&q, &b, &err), KVM_EDB);
	assert_string_equal(err.msg, "the producer failed at 50");
	rc = 0;
	assert_int_equal(kvm_blockq_result(&q, &rc, &err), 1);
	assert_int_equal(rc, KVM_EDB);
	assert_int_equal(inflight(&q), 0);
	kvm_blockq_release(&q);
}

static void test_blockq__the_result_is_unknown_until_closed(void **state)
{
	struct kvm_blockq q;
	struct kvm_error err = { 0 };
	int rc = 12345;

	(void)state;
	assert_int_equal(kvm_blockq_init(&q, BS, BS, &err), 0);
	assert_int_equal(kvm_blockq_result(&q, &rc, &err), 0);
	assert_int_equal(rc, 12345);
	kvm_blockq_close(&q, 0, NULL);
	assert_int_equal(kvm_blockq_result(&q, &rc, &err), 1);
	assert_int_equal(rc, 0);
	kvm_blockq_release(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blockq__every_byte_arrives_in_order),
		cmocka_unit_test(test_blockq__the_producer_waits_at_the_bound),
		cmocka_unit_test(test_blockq__an_oversized_block_fits_and_is_freed),
		cmocka_unit_test(test_blockq__idle_spares_never_hold_the_producer),
		cmocka_unit_test(test_blockq__a_cancel_wakes_both_sides),
		cmocka_unit_test(test_blockq__the_producers_error_comes_after_its_blocks),
		cmocka_unit_test(test_blockq__the_result_is_unknown_until_closed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
