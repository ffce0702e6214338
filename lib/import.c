/*
 * import.c - an export file -> a KV target, through the KV-target
 * interface (kvtarget.h).
 *
 * The export is read and verified in the same pass as the store is
 * built: the reader checks every frame, count and digest, and only once
 * it reported the verified end are the metadata entries put (KV migration
 * version, a fresh migration id, the export's digest).  The caller then
 * publishes (kvm_import_file() at once; `up` just before its version
 * bump) or aborts, and the target is as it was.
 *
 *     kvm_import_file: open target -> lock -> kvm_import_load -> publish
 *     kvm_import_load: check the target -> begin -> put each record
 *                      -> put_meta
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "kvm/export.h"
#include "kvm/kvkey.h"
#include "kvm/migrate.h"
#include "clock.h"
#include "failpoint.h"
#include "kvtarget.h"
#include "readahead.h"
#include "readprog.h"
#include "show.h"

/* Records between two looks at the cancel flag. */
#define CANCEL_EVERY 1024u

struct build {
	const struct kvm_import_opts *o;
	struct kvm_import_result *r;
	kvm_kv_target *t;
	kvm_export_reader *rd;     /* while loading */
	const struct kvm_export_info *info;   /* header and trailer, or NULL */
};

/* What is at the target now: nothing or an empty file (built), a store
 * kvmigrate built (replaced with --force, unless some process has it
 * open), anything else (refused, left as it is). */
static int check_target(struct build *b, int *replacing, struct kvm_error *err)
{
	const char *path = b->t->where;
	struct kvm_kv_info info;
	int rc;

	*replacing = 0;
	if ((rc = b->t->ops->probe(b->t, &info, err)) != 0)
		return rc;
	switch (info.state) {
	case KVM_KV_ABSENT:
		return 0;
	case KVM_KV_EMPTY:
		*replacing = 1;
		return 0;
	case KVM_KV_PRESENT:
		if (!b->o->force)
			return kvm_error_set(err, KVM_EKVEXISTS, "'%s' holds a KV "
			                     "store kvmigrate built (KV version %" PRIu64
			                     "); it is left as it is: --force "
			                     "replaces it", path, info.version);
		*replacing = 1;
		return b->t->ops->check_unused(b->t, err);
	case KVM_KV_FOREIGN:
		return kvm_error_set(err, KVM_EKVFOREIGN, "'%s' is an LMDB store "
		                     "kvmigrate did not build (no %s entry); it is "
		                     "left as it is", path,
		                     KVM_KV_META_SCHEMA_VERSION);
	case KVM_KV_NOT_LMDB:
		return kvm_error_set(err, KVM_EKVFOREIGN, "'%s' is not an LMDB "
		                     "store (%s); it is left as it is", path,
		                     info.detail);
	case KVM_KV_NOT_FILE:
		return kvm_error_set(err, KVM_EKVFOREIGN, "'%s' is not a regular "
		                     "file; it is left as it is", path);
	default:
		return kvm_error_set(err, KVM_EKV, "cannot read '%s': %s", path,
		                     info.detail);
	}
}

/* The most a zstd file of @file_bytes can decompress to: at best a
 * 4-byte block (an RLE block) stands for a whole block, and no more than
 * the map's arithmetic can hold. */
static uint64_t max_decompressed(uint64_t file_bytes)
{
	const uint64_t ratio = ZSTD_BLOCKSIZE_MAX / 4;
	const uint64_t most = UINT64_MAX / 4;

	return file_bytes > most / ratio ? most : file_bytes * ratio;
}

/* The export's header and trailer only: a few KiB whatever the file's
 * size, read once for the map size and the progress totals.  NULL for
 * standard input, or for a file they do not describe: the full read then
 * names what is wrong, the way `inspect --verify` would. */
static struct kvm_export_info *inspect_input(const char *input)
{
	struct kvm_export_info *info;
	struct kvm_error scratch;

	if (strcmp(input, "-") == 0 ||
	    kvm_export_inspect(input, 0, NULL, &info, &scratch) != 0)
		return NULL;
	return info;
}

/* How big the store will be, from the export's trailer when it can be
 * read first. */
static int build_opts(const struct kvm_import_opts *o,
                      const struct kvm_export_info *info,
                      struct kvm_kv_build_opts *bo, struct kvm_error *err)
{
	memset(bo, 0, sizeof(*bo));
	bo->map_size = o->map_size;
	bo->input = o->input;
	if (info == NULL)
		return 0;
	/* The trailer's checksum holds only against damage, not a crafted
	 * file: its byte count must be one the file could decompress to, or
	 * the store's size would overflow, or a false size be reserved. */
	if (info->trailer.bytes > max_decompressed(info->file_bytes))
		return kvm_error_set(err, KVM_ECOUNT, "'%s': byte count "
		                     "mismatch: the trailer says %" PRIu64 " bytes, "
		                     "more than a file of %" PRIu64 " can hold",
		                     o->input, info->trailer.bytes,
		                     info->file_bytes);
	bo->record_bytes = info->trailer.bytes;
	bo->sized = 1;
	return 0;
}

static int record_error(struct build *b, const struct kvm_export_record *rec,
                        int code, const char *why, struct kvm_error *err)
{
	char p[400], k[400];

	const struct kvm_export_header *h;

	kvm_show_bytes(p, sizeof(p), rec->partition, rec->partition_len, 80);
	kvm_show_bytes(k, sizeof(k), rec->key, rec->key_len, 80);
	kvm_error_set(err, code, "'%s': record %" PRIu64 " (partition '%s' key "
	              "'%s'): %s", b->o->input, rec->number, p, k, why);
	h = b->rd != NULL ? kvm_export_reader_header(b->rd) : NULL;
	kvm_error_where(err, h != NULL && rec->section < h->npackages ?
	                h->packages[rec->section] : NULL, NULL, k);
	return code;
}

/* Whether @rec is at one of the keys the import writes its metadata under. */
static int meta_key(const struct kvm_export_record *rec)
{
	static const char *const keys[] = {
		KVM_KV_META_SCHEMA_VERSION, KVM_KV_META_MIGRATION_ID,
		KVM_KV_META_EXPORT_DIGEST,
	};

	if (rec->partition_len != strlen(KVM_KV_META_PARTITION) ||
	    memcmp(rec->partition, KVM_KV_META_PARTITION, rec->partition_len) != 0)
		return 0;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (rec->key_len == strlen(keys[i]) &&
		    memcmp(rec->key, keys[i], rec->key_len) == 0)
			return 1;
	return 0;
}

static int put(struct build *b, const struct kvm_export_record *rec,
               struct kvm_error *err)
{
	struct kvm_kv_entry e = {
		.partition = rec->partition, .partition_len = rec->partition_len,
		.key = rec->key, .key_len = rec->key_len,
		.value = rec->value, .value_len = rec->value_len,
	};
	int rc = b->t->ops->put(b->t, &e, err);

	/* The target says what is wrong with the entry; the message names
	 * the record. */
	if (rc == KVM_EKEYSIZE || rc == KVM_EORDER) {
		char why[KVM_ERROR_MSG_MAX];

		snprintf(why, sizeof(why), "%s", err->msg);
		return record_error(b, rec, rc, why, err);
	}
	return rc;
}

static int write_meta(struct build *b, const kvm_export_reader *rd,
                      struct kvm_error *err)
{
	const struct kvm_export_trailer *t = kvm_export_reader_trailer(rd);
	const struct kvm_export_header *h = kvm_export_reader_header(rd);
	struct kvm_kv_meta m;
	unsigned char id[16];

	if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id))
		return kvm_error_set(err, errno, "cannot make a migration id: %s",
		                     strerror(errno));
	for (size_t i = 0; i < sizeof(id); i++)
		snprintf(b->r->migration_id + 2 * i, 3, "%02x", id[i]);
	b->r->kv_version = h->kv_migration_version;
	b->r->digest = t->digest;
	m.kv_version = h->kv_migration_version;
	m.migration_id = b->r->migration_id;
	m.digest = t->digest;
	return b->t->ops->put_meta(b->t, &m, err);
}

static int load(struct build *b, struct kvm_error *err)
{
	struct kvm_export_record rec;
	struct kvm_readprog prog;
	struct kvm_readahead *ra = NULL;
	kvm_export_reader *rd;
	int rc;

	if ((rc = kvm_export_reader_open(&rd, b->o->input, NULL, err)) != 0)
		return rc;
	/* The store keeps the version as a msgpack uint, which is what status
	 * and a later import read back: a store with a negative one would be
	 * one kvmigrate no longer recognises, and never replaces. */
	if (kvm_export_reader_header(rd)->kv_migration_version < 0) {
		rc = kvm_error_set(err, KVM_ECORRUPT, "'%s': the header's KV "
		                   "migration version %" PRId64 " is negative; a KV "
		                   "store records 0 or more", b->o->input,
		                   kvm_export_reader_header(rd)->kv_migration_version);
		kvm_export_reader_close(rd);
		return rc;
	}
	b->rd = rd;
	/* The file is read on a thread of its own while this one fills the
	 * store: the two take about as long. */
	if ((rc = kvm_readahead_start(&ra, rd, err)) != 0) {
		b->rd = NULL;
		kvm_export_reader_close(rd);
		return rc;
	}
	/* The trailer's counts make the progress totals exact; a file whose
	 * trailer cannot be read fails the full read below anyway. */
	kvm_readprog_init(&prog, "import", b->o->on_event, b->o->event_ctx,
	                  kvm_export_reader_header(rd),
	                  b->info != NULL ? &b->info->trailer : NULL);
	b->r->packages = calloc(kvm_export_reader_header(rd)->npackages + 1,
	                        sizeof(*b->r->packages));
	if (b->r->packages == NULL) {
		kvm_readahead_stop(ra);
		b->rd = NULL;
		kvm_export_reader_close(rd);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	prog.out = b->r->packages;
	prog.nout = &b->r->npackages;
	while ((rc = kvm_readahead_next(ra, &rec, err)) == 0) {
		kvm_readprog_record(&prog, &rec);
		/* Refused here, where the message can name the record, rather
		 * than as a key twice when the metadata is written at the end. */
		if (meta_key(&rec)) {
			rc = record_error(b, &rec, KVM_EORDER, "kvmigrate writes its "
			                  "own metadata under this key", err);
			break;
		}
		if ((rc = put(b, &rec, err)) != 0)
			break;
		b->r->records++;
		if (b->r->records % CANCEL_EVERY == 0 && b->o->cancel != NULL &&
		    *b->o->cancel) {
			rc = kvm_error_set(err, KVM_ECANCELED, "canceled");
			break;
		}
	}
	kvm_readahead_stop(ra);
	if (rc == KVM_END) {
		kvm_readprog_end(&prog);
		rc = write_meta(b, rd, err);
	}
	b->rd = NULL;
	kvm_export_reader_close(rd);
	return rc;
}

void kvm_import_result_release(struct kvm_import_result *r)
{
	free(r->packages);
	r->packages = NULL;
	r->npackages = 0;
}

int kvm_import_load(kvm_kv_target *t, const struct kvm_import_opts *o,
                    struct kvm_import_result *r, struct kvm_error *err)
{
	struct kvm_kv_build_opts bo;
	struct kvm_kv_stats *stats = &t->stats;
	struct build b = { .o = o, .r = r, .t = t };
	int rc, replacing;

	memset(r, 0, sizeof(*r));
	if ((rc = check_target(&b, &replacing, err)) != 0)
		return rc;
	r->replaced = replacing;
	b.info = inspect_input(o->input);
	if ((rc = build_opts(o, b.info, &bo, err)) == 0 &&
	    (rc = t->ops->begin(t, &bo, err)) == 0)
		rc = load(&b, err);
	kvm_export_info_free((struct kvm_export_info *)b.info);
	r->map_size = stats->map_size;
	r->appended = stats->appended;
	if (rc != 0)
		t->ops->abort(t);
	return rc;
}

int kvm_import_file(const struct kvm_import_opts *o, struct kvm_import_result *r,
                    struct kvm_error *err)
{
	kvm_kv_target *t = NULL;
	uint64_t t0 = kvm_now_ms();
	int rc, published = 0;

	memset(r, 0, sizeof(*r));
	if (o->input == NULL || o->kv_path == NULL || o->kv_path[0] == '\0')
		return kvm_error_set(err, KVM_EINVAL, "import: no export file or "
		                     "no KV path");
	if ((rc = kvm_kv_open(&t, o->kv_path, err)) != 0)
		return rc;
	if ((rc = t->ops->lock(t, err)) == 0 &&
	    (rc = kvm_import_load(t, o, r, err)) == 0) {
		rc = t->ops->publish(t, NULL, &published, err);
		if (rc != 0 && !published)
			t->ops->abort(t);
	}
	if (t != NULL)
		r->kv_bytes = t->stats.store_bytes;
	r->replaced = r->replaced && published;
	r->published = published;
	r->ms = kvm_now_ms() - t0;
	kvm_kv_close(t);
	return rc;
}
