/*
 * export_row.c - the row API the migrators call (kvm/migrator.h):
 * kvm_row_emit joins the pieces of a partition and a key, checks their
 * sizes and the value's against what an export file carries (not against
 * any KV target's limits: the import of each target checks its own), and
 * hands the record on: straight to the
 * leader's order check and writer (jobs 1), or into the producer's block
 * for the leader to drain (jobs mode); kvm_row_describe shows a field in
 * a message.
 *
 * A record in a block is three u32 lengths (partition, key, value, in
 * the machine's byte order: the block never leaves the process) followed
 * by the bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_engine.h"
#include "pgcopy.h"
#include "show.h"

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

void kvm_exp_show_record(char *out, size_t size, const void *part, size_t plen,
                         const void *key, size_t klen)
{
	char p[SHOW_MAX * 4 + 8], k[SHOW_MAX * 4 + 8];
	int n;

	kvm_show_bytes(p, sizeof(p), part, plen, SHOW_MAX);
	kvm_show_bytes(k, sizeof(k), key, klen, SHOW_MAX);
	n = snprintf(out, size, "partition '%s' key '%s'", p, k);
	(void)n;   /* a long key is cut: the message stays one line */
}

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

/* join(), keeping the first @max bytes. */
static size_t join_cut(unsigned char *out, size_t max,
                       const struct kvm_bytes *pc, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n && len < max; i++) {
		size_t take = pc[i].len < max - len ? pc[i].len : max - len;

		if (take > 0)
			memcpy(out + len, pc[i].p, take);
		len += take;
	}
	return len;
}

static size_t total(const struct kvm_bytes *pc, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++)
		len += pc[i].len;
	return len;
}

int kvm_exp_queue_record(struct producer *pr, size_t plen, size_t klen,
                         const void *val, size_t vlen, struct kvm_error *err)
{
	size_t need = 12 + plen + klen + vlen;
	unsigned char *p;
	int rc;

	if (pr->cur != NULL && pr->cur->cap - pr->cur->used < need) {
		rc = kvm_blockq_ship(pr->q, pr->cur, err);
		pr->cur = NULL;
		if (rc != 0)
			return rc;
	}
	if (pr->cur == NULL &&
	    (rc = kvm_blockq_take(pr->q, need, &pr->cur, err)) != 0)
		return rc;
	p = pr->cur->data + pr->cur->used;
	kvm_exp_put_u32(p, (uint32_t)plen);
	kvm_exp_put_u32(p + 4, (uint32_t)klen);
	kvm_exp_put_u32(p + 8, (uint32_t)vlen);
	memcpy(p + 12, pr->part, plen);
	memcpy(p + 12 + plen, pr->key, klen);
	if (vlen > 0)
		memcpy(p + 12 + plen + klen, val, vlen);
	pr->cur->used += need;
	return 0;
}

int kvm_row_emit(struct kvm_row *row, const struct kvm_bytes *part, size_t npart,
                 const struct kvm_bytes *key, size_t nkey, struct kvm_error *err)
{
	struct producer *pr = row->engine;
	size_t plen = total(part, npart), klen = total(key, nkey);
	const void *val;
	size_t vlen;
	int rc;

	if (plen > PART_MAX || klen > KEY_MAX) {
		int is_part = plen > PART_MAX;
		char what[800];

		/* The buffers hold PART_MAX and KEY_MAX bytes: the start of each
		 * is shown. */
		kvm_exp_show_record(what, sizeof(what), pr->part,
		                    join_cut(pr->part, PART_MAX, part, npart), pr->key,
		                    join_cut(pr->key, KEY_MAX, key, nkey));
		kvm_error_set(err, KVM_EKEYSIZE, "table '%s': the row with %s "
		              "gives a %s of %zu bytes; an export file holds %ss of "
		              "at most %u bytes", row->table, what,
		              is_part ? "partition" : "key", is_part ? plen : klen,
		              is_part ? "partition" : "key",
		              is_part ? PART_MAX : KEY_MAX);
		kvm_error_where(err, NULL, NULL, what);
		return KVM_EKEYSIZE;
	}
	join(pr->part, part, npart);
	join(pr->key, key, nkey);
	if ((rc = kvm_value_bytes(row->value, &val, &vlen, err)) != 0)
		return rc;
	if (vlen > KVM_EXPORT_MAX_VALUE) {
		char what[800];

		kvm_exp_show_record(what, sizeof(what), pr->part, plen, pr->key, klen);
		kvm_error_set(err, KVM_EVALUESIZE, "table '%s': the row with %s "
		              "gives a value of %zu bytes; an export file holds "
		              "values of at most %u bytes", row->table, what, vlen,
		              KVM_EXPORT_MAX_VALUE);
		kvm_error_where(err, NULL, NULL, what);
		return KVM_EVALUESIZE;
	}
	if (pr->direct)
		return kvm_exp_put_record(pr->e, pr->u, pr->part, plen, pr->key, klen,
		                          val, vlen, err);
	return kvm_exp_queue_record(pr, plen, klen, val, vlen, err);
}

