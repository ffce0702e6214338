/*
 * verify.c - compare a KV store with an export file and with the tables.
 *
 * Every record of the export is looked up in the store: a missing entry
 * or a different value is a difference named by partition and key.  Then
 * the store is walked once and its entries counted per partition (the
 * metadata partition aside): a partition holding more entries than the
 * export gave it has entries the export lacks.  Against the tables, a
 * fresh export of them (in the same snapshot rules as any export) is
 * compared the same way and removed.
 *
 * The store is read through the KV-target interface (kvtarget.h), under
 * the target's lock: no `up` or import can replace it, or remove the
 * fresh export of the tables as a leftover, while it is compared.
 *
 * With both, the tables are exported first: an export file read from
 * another database (its header's source_database) is refused before
 * anything is compared, rather than reported as a store full of
 * differences.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm/export.h"
#include "kvm/kvkey.h"
#include "kvtarget.h"
#include "kvm/migrate.h"
#include "clock.h"
#include "db.h"
#include "readprog.h"
#include "show.h"
#include "tmpname.h"

/* Entries per partition: the export's and the store's. */
struct part {
	unsigned char *p;
	size_t len;
	uint64_t exported, stored;
};

struct verify {
	const struct kvm_verify_opts *o;
	struct kvm_verify_result *r;
	kvm_kv_target *t;
	struct part *parts;
	size_t nparts, cap;
};

static void add_diff(struct verify *v, const char *what, const uint8_t *part,
                     size_t plen, const uint8_t *key, size_t klen,
                     const char *detail)
{
	struct kvm_verify_result *r = v->r;
	struct kvm_verify_diff *d;

	r->differences++;
	if (r->ndiffs == KVM_VERIFY_MAX_DIFFS)
		return;
	/* the first one named makes room for all that are: a failure only
	 * leaves the differences counted, not named */
	if (r->diffs == NULL &&
	    (r->diffs = calloc(KVM_VERIFY_MAX_DIFFS, sizeof(*r->diffs))) == NULL)
		return;
	d = &r->diffs[r->ndiffs++];
	snprintf(d->what, sizeof(d->what), "%s", what);
	kvm_show_bytes(d->partition, sizeof(d->partition), part, plen, 100);
	kvm_show_bytes(d->key, sizeof(d->key), key, klen, 100);
	snprintf(d->detail, sizeof(d->detail), "%s", detail);
}

static int part_cmp(const struct part *a, const uint8_t *p, size_t len)
{
	size_t n = a->len < len ? a->len : len;
	int c = n > 0 ? memcmp(a->p, p, n) : 0;

	return c != 0 ? c : a->len < len ? -1 : a->len > len;
}

/* The counts of partition @p, added when new; NULL when out of memory. */
static struct part *part_of(struct verify *v, const uint8_t *p, size_t len)
{
	size_t lo = 0, hi = v->nparts;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = part_cmp(&v->parts[mid], p, len);

		if (c == 0)
			return &v->parts[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (v->nparts == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		struct part *n = realloc(v->parts, cap * sizeof(*n));

		if (n == NULL)
			return NULL;
		v->parts = n;
		v->cap = cap;
	}
	memmove(&v->parts[lo + 1], &v->parts[lo], (v->nparts - lo) * sizeof(*v->parts));
	v->nparts++;
	memset(&v->parts[lo], 0, sizeof(v->parts[lo]));
	if ((v->parts[lo].p = malloc(len ? len : 1)) == NULL) {
		memmove(&v->parts[lo], &v->parts[lo + 1],
		        (--v->nparts - lo) * sizeof(*v->parts));
		return NULL;
	}
	if (len > 0)
		memcpy(v->parts[lo].p, p, len);
	v->parts[lo].len = len;
	return &v->parts[lo];
}

static int open_store(struct verify *v, struct kvm_error *err)
{
	int rc;

	if ((rc = kvm_kv_open(&v->t, v->o->kv_path, err)) != 0 ||
	    (rc = v->t->ops->lock(v->t, err)) != 0)
		return rc;
	return v->t->ops->read_begin(v->t, err);
}

/* Every record of the export, looked up in the store.  @source, when
 * known, is the identity of the database the tables are read from: an
 * export of another one is refused before its records are read. */
static int compare_records(struct verify *v, const char *path,
                           const char *source, struct kvm_error *err)
{
	const struct kvm_export_header *h;
	struct kvm_export_record rec;
	struct kvm_readprog prog;
	kvm_export_reader *rd;
	int rc;

	if ((rc = kvm_export_reader_open(&rd, path, NULL, err)) != 0)
		return rc;
	h = kvm_export_reader_header(rd);
	if (source != NULL && !kvm_db_same_identity(h->source_database, source)) {
		kvm_error_set(err, KVM_EOTHERDB, "the export '%s' was read from "
		              "database '%s', not from '%s' (--db): it cannot "
		              "confirm this KV store", strcmp(path, "-") == 0 ?
		              "standard input" : path, h->source_database, source);
		kvm_export_reader_close(rd);
		return KVM_EOTHERDB;
	}
	kvm_readprog_init(&prog, "compare", v->o->on_event, v->o->event_ctx,
	                  h, NULL);
	while ((rc = kvm_export_reader_next(rd, &rec, err)) == 0) {
		struct kvm_kv_entry e;
		struct part *pt;
		int found;

		kvm_readprog_record(&prog, &rec);
		v->r->records++;
		if ((pt = part_of(v, rec.partition, rec.partition_len)) == NULL) {
			rc = kvm_error_set(err, KVM_ENOMEM, "out of memory");
			break;
		}
		pt->exported++;
		if ((rc = v->t->ops->get(v->t, rec.partition, rec.partition_len,
		                         rec.key, rec.key_len, &e, &found,
		                         err)) != 0)
			break;
		if (!found) {
			add_diff(v, "missing", rec.partition, rec.partition_len,
			         rec.key, rec.key_len, "in the source, not in the store");
		} else if (e.value_len != rec.value_len ||
		           (rec.value_len > 0 &&
		            memcmp(e.value, rec.value, rec.value_len) != 0)) {
			add_diff(v, "different", rec.partition, rec.partition_len,
			         rec.key, rec.key_len, "the values differ");
		}
		rc = 0;
		if (v->o->cancel != NULL && *v->o->cancel) {
			rc = kvm_error_set(err, KVM_ECANCELED, "canceled");
			break;
		}
	}
	if (rc == KVM_END)
		kvm_readprog_end(&prog);
	kvm_export_reader_close(rd);
	return rc == KVM_END ? 0 : rc;
}

/* The store's entries per partition, against the export's. */
static int compare_counts(struct verify *v, struct kvm_error *err)
{
	static const uint8_t meta[] = KVM_KV_META_PARTITION;
	struct kvm_kv_entry e;
	int rc;

	/* A scan of its own: from the first entry again. */
	v->t->ops->read_end(v->t);
	if ((rc = v->t->ops->read_begin(v->t, err)) != 0)
		return rc;
	while ((rc = v->t->ops->scan_next(v->t, &e, err)) == 0) {
		struct part *pt;

		if (e.foreign) {
			add_diff(v, "extra", e.key, e.key_len, NULL, 0,
			         "an LMDB key kvmigrate does not write");
			continue;
		}
		if (e.partition_len == sizeof(meta) - 1 &&
		    memcmp(e.partition, meta, e.partition_len) == 0)
			continue;
		v->r->store_entries++;
		if ((pt = part_of(v, e.partition, e.partition_len)) == NULL)
			return kvm_error_set(err, KVM_ENOMEM, "out of memory");
		pt->stored++;
	}
	if (rc != KVM_END)
		return rc;
	for (size_t i = 0; i < v->nparts; i++) {
		const struct part *pt = &v->parts[i];
		char detail[96];

		if (pt->stored <= pt->exported)
			continue;   /* fewer: the missing keys are named already */
		snprintf(detail, sizeof(detail), "%" PRIu64 " entries in the store, "
		         "%" PRIu64 " in the source", pt->stored, pt->exported);
		add_diff(v, "extra", pt->p, pt->len, NULL, 0, detail);
	}
	return 0;
}

static void reset_counts(struct verify *v)
{
	for (size_t i = 0; i < v->nparts; i++)
		free(v->parts[i].p);
	v->nparts = 0;
}

static int compare_with(struct verify *v, const char *path, const char *source,
                        struct kvm_error *err)
{
	int rc;

	reset_counts(v);
	if ((rc = compare_records(v, path, source, err)) != 0)
		return rc;
	return compare_counts(v, err);
}

/* A fresh export of the tables into @path, beside the store; the
 * identity of its database into @source. */
static int export_tables(struct verify *v, const char *path, char *source,
                         size_t size, struct kvm_error *err)
{
	struct kvm_export_db_opts eo = KVM_EXPORT_DB_OPTS_INIT;
	struct kvm_export_db_result *er;
	kvm_export_reader *rd;
	int rc;

	if ((er = malloc(sizeof(*er))) == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	eo.conninfo = v->o->conninfo;
	eo.connect_retry_ms = v->o->connect_retry_ms;
	eo.output = path;
	eo.jobs = v->o->jobs;
	eo.schema_dir = v->o->schema_dir;
	eo.cancel = v->o->cancel;
	eo.accept_migrated = 1;
	eo.on_event = v->o->on_event;
	eo.event_ctx = v->o->event_ctx;
	rc = kvm_export_db(&eo, er, err);
	kvm_export_db_result_release(er);
	free(er);
	if (rc == 0 && (rc = kvm_export_reader_open(&rd, path, NULL, err)) == 0) {
		snprintf(source, size, "%s",
		         kvm_export_reader_header(rd)->source_database);
		kvm_export_reader_close(rd);
	}
	return rc;
}

void kvm_verify_result_release(struct kvm_verify_result *r)
{
	free(r->diffs);
	r->diffs = NULL;
	r->ndiffs = 0;
}

int kvm_verify(const struct kvm_verify_opts *o, struct kvm_verify_result *r,
               struct kvm_error *err)
{
	struct verify v = { .o = o, .r = r };
	char fresh[PATH_MAX + 32], source[1100];
	uint64_t t0 = kvm_now_ms();
	int rc, exported = 0, have_fresh = 0;

	memset(r, 0, sizeof(*r));
	if (o->kv_path == NULL || (!o->tables && o->export_path == NULL))
		return kvm_error_set(err, KVM_EINVAL, "verify: a KV store and "
		                     "something to compare it with are needed");
	if ((rc = kvm_companion_path(o->kv_path, KVM_VERIFY_EXPORT_SUFFIX, fresh,
	                             sizeof(fresh), err)) != 0)
		return rc;
	if ((rc = open_store(&v, err)) == 0 && o->tables) {
		exported = 1;
		rc = export_tables(&v, fresh, source, sizeof(source), err);
		have_fresh = rc == 0;
		if (rc == KVM_ENOTABLE) {
			r->tables_gone = 1;
			rc = o->export_path != NULL ? 0 : kvm_error_set(err,
			     KVM_EINVAL, "the old tables are gone and no export file "
			     "was given: nothing to compare the KV store with");
		}
	}
	if (rc == 0 && o->export_path != NULL) {
		rc = compare_with(&v, o->export_path, have_fresh ? source : NULL,
		                  err);
		r->export_checked = rc == 0;
	}
	if (rc == 0 && have_fresh) {
		uint64_t before = r->differences;

		r->records = r->store_entries = 0;
		rc = compare_with(&v, fresh, NULL, err);
		r->tables_checked = rc == 0;
		r->table_differences = r->differences - before;
	}
	if (exported)
		unlink(fresh);
	kvm_kv_close(v.t);
	reset_counts(&v);
	free(v.parts);
	r->ms = kvm_now_ms() - t0;
	if (rc == 0 && r->differences > 0)
		rc = kvm_error_set(err, KVM_EMISMATCH, "the KV store '%s' differs "
		                   "from its source in %" PRIu64 " place%s", o->kv_path,
		                   r->differences, r->differences == 1 ? "" : "s");
	return rc;
}
