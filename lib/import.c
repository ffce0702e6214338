/*
 * import.c - an export file -> a new LMDB store, published atomically.
 *
 * The store is built in a temporary file beside the target, opened with
 * MDB_NOLOCK (nobody else knows the file) and MDB_NOSYNC (one sync at the
 * end).  When the export's trailer gives the map size, the file is first
 * given its whole map with fallocate(2), so that a full disk is an error
 * up front rather than a short write gigabytes later.  Pages go through
 * write(2) in transactions of at most 8,192 records or 4 MiB of records,
 * which bound the dirty pages LMDB holds in memory, and every 32 MiB the
 * writeback of what is committed is started, so that the disk works
 * during the load rather than all at the final sync.  The export is read
 * and verified in the same pass: the reader checks every frame, count and
 * digest, and only once it reported the verified end are the metadata
 * entries written, the last transaction committed, the file synced and
 * renamed over the target.
 *
 * Records come in byte order of their LMDB keys within a section, and the
 * sections mostly follow each other (auth, graveler, repo/, staging/):
 * a record whose key is above every key so far is put with MDB_APPEND,
 * any other (a section that shares partitions with an earlier one, such
 * as actions' entries in repo/{id}) with a plain put that refuses to
 * overwrite, so a key occurring twice is an error, never a silent loss.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <lmdb.h>
#include <zstd.h>

#include "kvm/export.h"
#include "kvm/kvkey.h"
#include "kvm/migrate.h"
#include "clock.h"
#include "failpoint.h"
#include "kvstore.h"
#include "kvvalue.h"
#include "readahead.h"
#include "readprog.h"
#include "show.h"

/* Map size: the export's record bytes twice (B-tree pages are partly
 * empty, keys grow by their partition) plus room for the metadata. */
#define MAP_FACTOR 2
#define MAP_EXTRA (64ull << 20)
/* Records between two looks at the cancel flag. */
#define CANCEL_EVERY 1024u
/* A write transaction ends at whichever comes first.  Its dirty pages
 * are LMDB's memory until it commits (one transaction for 5 million
 * records held 541 MB); at this size it holds about 8 MB, and commits
 * often enough cost nothing measurable (design/kv-store.md). */
#define TXN_RECORDS 8192u
#define TXN_BYTES (4u << 20)
/* Record bytes between two starts of the writeback. */
#define WRITE_BEHIND_BYTES (32u << 20)
/* Starts of the writeback after which the pages written before one are
 * dropped from the page cache (write_behind). */
#define DROP_LAG 2
/* Longest LMDB key this code handles, whatever LMDB's own limit is. */
#define KEY_MAX 2048

struct build {
	const struct kvm_import_opts *o;
	struct kvm_import_result *r;
	char *tmp;                 /* the new store until it is renamed */
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	int maxkey;
	int reserved;              /* the map is reserved in the file */
	uint64_t txn_records;      /* records put in this write transaction */
	uint64_t txn_bytes;        /* and their partition, key and value bytes */
	uint64_t behind_bytes;     /* record bytes since the writeback started */
	size_t psize;              /* LMDB's page size */
	off_t ends[DROP_LAG];      /* the file's end at the last DROP_LAG
	                            * starts of the writeback, oldest first */
	off_t dropped;             /* pages below are out of the page cache */
	/* The key being put and the largest key so far: one of keys[] each,
	 * swapped after an append rather than copied. */
	unsigned char *key, *last;
	size_t last_len;
	int any;
	unsigned char keys[2][KEY_MAX];
	kvm_export_reader *rd;     /* while loading */
	const struct kvm_export_info *info;   /* header and trailer, or NULL */
};

static int kv_fail(struct kvm_error *err, int rc, const char *what,
                   const char *path)
{
	struct statvfs sv;

	/* LMDB turns a write(2) cut short by a full disk into EIO: say how
	 * much room is left, so that the cause can be told from a bad disk. */
	if (rc == EIO && statvfs(path, &sv) == 0)
		return kvm_error_set(err, KVM_EKV, "%s '%s': %s (a short write; "
		                     "its file system has %" PRIu64 " bytes free)",
		                     what, path, mdb_strerror(rc),
		                     (uint64_t)sv.f_bavail * sv.f_frsize);
	return kvm_error_set(err, KVM_EKV, "%s '%s': %s", what, path,
	                     mdb_strerror(rc));
}

/* ------------------------------------------------------------------ */
/* What is at the target now                                           */
/* ------------------------------------------------------------------ */

/*
 * Whether a process has the store open.  Every process with an LMDB
 * environment open holds a shared fcntl lock on its lock file for as long
 * as it has it open; asking for an open-file-description write lock on a
 * new descriptor conflicts with it, also when the holder is this process
 * (a service that calls the library with its store open).  The store
 * itself is not opened: a second environment on the same file in one
 * process would reset that process's reader table.
 */
static int check_open(const char *path, struct kvm_error *err)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
	                    .l_start = 0, .l_len = 1 };
	char lock[4096];
	int fd, rc;

	snprintf(lock, sizeof(lock), "%s-lock", path);
	if ((fd = open(lock, O_RDWR | O_CLOEXEC)) < 0)
		return 0;          /* no lock file: nobody has it open */
	rc = fcntl(fd, F_OFD_GETLK, &fl);
	close(fd);
	if (rc != 0)
		return kvm_error_set(err, errno, "cannot test the lock of '%s': %s",
		                     lock, strerror(errno));
	if (fl.l_type != F_UNLCK)
		return kvm_error_set(err, KVM_EKVBUSY, "the KV store '%s' is open in "
		                     "a process%s; stop it before replacing the store",
		                     path, fl.l_pid > 0 ? " (a running service?)" : "");
	return 0;
}

static int check_target(const struct kvm_import_opts *o, int *replacing,
                        struct kvm_error *err)
{
	struct kvm_status st;

	*replacing = 0;
	memset(&st, 0, sizeof(st));
	kvm_kv_probe(o->kv_path, &st);
	switch (st.kv.state) {
	case KVM_KV_ABSENT:
		return 0;
	case KVM_KV_EMPTY:
		*replacing = 1;
		return 0;
	case KVM_KV_PRESENT:
		if (!o->force)
			return kvm_error_set(err, KVM_EKVEXISTS, "'%s' holds a KV "
			                     "store kvmigrate built (KV version %" PRIu64
			                     "); it is left as it is: --force "
			                     "replaces it", o->kv_path, st.kv.version);
		*replacing = 1;
		return check_open(o->kv_path, err);
	case KVM_KV_FOREIGN:
		return kvm_error_set(err, KVM_EKVFOREIGN, "'%s' is an LMDB store "
		                     "kvmigrate did not build (no %s entry); it is "
		                     "left as it is", o->kv_path,
		                     KVM_KV_META_SCHEMA_VERSION);
	case KVM_KV_NOT_LMDB:
		return kvm_error_set(err, KVM_EKVFOREIGN, "'%s' is not an LMDB "
		                     "store (%s); it is left as it is", o->kv_path,
		                     st.kv.detail);
	case KVM_KV_NOT_FILE:
		return kvm_error_set(err, KVM_EKVFOREIGN, "'%s' is not a regular "
		                     "file; it is left as it is", o->kv_path);
	default:
		return kvm_error_set(err, KVM_EKV, "cannot read '%s': %s",
		                     o->kv_path, st.kv.detail);
	}
}

/* ------------------------------------------------------------------ */
/* The new store                                                       */
/* ------------------------------------------------------------------ */

/* The most a zstd file of @file_bytes can decompress to: at best a
 * 4-byte block (an RLE block) stands for a whole block, and no more than
 * the map's arithmetic can hold. */
static uint64_t max_decompressed(uint64_t file_bytes)
{
	const uint64_t ratio = ZSTD_BLOCKSIZE_MAX / 4;
	const uint64_t most = (UINT64_MAX - MAP_EXTRA) / MAP_FACTOR;

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

/* The map size; *@from_trailer says whether the export's trailer gave it
 * (only then is it reserved in the file, see reserve_map). */
static int map_size(const struct kvm_import_opts *o,
                    const struct kvm_export_info *info, uint64_t *out,
                    int *from_trailer, struct kvm_error *err)
{
	*from_trailer = 0;
	if (o->map_size != 0) {
		*out = o->map_size;
		return 0;
	}
	if (info == NULL) {
		*out = KVM_IMPORT_DEFAULT_STREAM_MAP;
		return 0;
	}
	/* The trailer's checksum holds only against damage, not a crafted
	 * file: its byte count must be one the file could decompress to, or
	 * the map would overflow, or a false size be reserved on disk. */
	if (info->trailer.bytes > max_decompressed(info->file_bytes))
		return kvm_error_set(err, KVM_ECOUNT, "'%s': byte count "
		                     "mismatch: the trailer says %" PRIu64 " bytes, "
		                     "more than a file of %" PRIu64 " can hold",
		                     o->input, info->trailer.bytes,
		                     info->file_bytes);
	*out = info->trailer.bytes * MAP_FACTOR + MAP_EXTRA;
	*from_trailer = 1;
	return 0;
}

static int create_tmp(struct build *b, struct kvm_error *err)
{
	char *copy = strdup(b->o->kv_path), *base = NULL;
	const char *dir;
	size_t n;
	int fd;

	if (copy == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	base = strdup(basename(copy));
	strcpy(copy, b->o->kv_path);
	dir = dirname(copy);
	n = strlen(dir) + (base != NULL ? strlen(base) : 0) + 16;
	if (base == NULL || (b->tmp = malloc(n)) == NULL) {
		free(copy);
		free(base);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	snprintf(b->tmp, n, "%s/.%s.tmp.XXXXXX", dir, base);
	free(copy);
	free(base);
	if ((fd = mkstemp(b->tmp)) < 0) {
		int e = errno;

		kvm_error_set(err, e, "cannot create a file beside '%s': %s",
		              b->o->kv_path, strerror(e));
		free(b->tmp);
		b->tmp = NULL;
		return e;
	}
	fchmod(fd, 0600);
	close(fd);
	return 0;
}

/*
 * Give the new file its whole map up front when @reserve, so that a full
 * disk is this error rather than a short write after gigabytes.  Sets
 * b->reserved when the space is reserved; a file system that cannot
 * reserve (EOPNOTSUPP) leaves it 0, and a full disk is then LMDB's EIO.
 */
static int reserve_map(struct build *b, uint64_t map, int reserve,
                       struct kvm_error *err)
{
	int fd, e = 0;

	b->reserved = 0;
	if (!reserve)
		return 0;
	if ((fd = open(b->tmp, O_RDWR)) < 0 || fallocate(fd, FALLOC_FL_KEEP_SIZE, 0,
	                            (off_t)map) != 0)
		e = errno;
	if (fd >= 0)
		close(fd);
	if (e == 0) {
		b->reserved = 1;
		return 0;
	}
	if (e == EOPNOTSUPP || e == ENOSYS)
		return 0;
	return kvm_error_set(err, e, "cannot reserve the LMDB map of %" PRIu64
	                     " bytes in '%s' for '%s': %s; free some space there "
	                     "or give a smaller --map-size BYTES", map, b->tmp,
	                     b->o->kv_path, strerror(e));
}

static int open_store(struct build *b, uint64_t map, int reserve,
                      struct kvm_error *err)
{
	MDB_stat st;
	int rc;

	if ((rc = reserve_map(b, map, reserve, err)) != 0)
		return rc;
	if ((rc = mdb_env_create(&b->env)) != 0 ||
	    (rc = mdb_env_set_mapsize(b->env, (size_t)map)) != 0 ||
	    (rc = mdb_env_open(b->env, b->tmp, MDB_NOSUBDIR | MDB_NOLOCK |
	                       MDB_NOSYNC, 0600)) != 0 ||
	    (rc = mdb_txn_begin(b->env, NULL, 0, &b->txn)) != 0 ||
	    (rc = mdb_dbi_open(b->txn, NULL, 0, &b->dbi)) != 0)
		return kv_fail(err, rc, "cannot create the KV store", b->tmp);
	if ((rc = mdb_env_stat(b->env, &st)) != 0)
		return kv_fail(err, rc, "cannot create the KV store", b->tmp);
	b->psize = st.ms_psize;
	b->maxkey = mdb_env_get_maxkeysize(b->env);
	if (b->maxkey > KEY_MAX)
		b->maxkey = KEY_MAX;
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

/* Whether b->key (of @len bytes) sorts after every key so far. */
static int above_last(const struct build *b, size_t len)
{
	size_t n = len < b->last_len ? len : b->last_len;
	int c = n > 0 ? memcmp(b->key, b->last, n) : 0;

	return !b->any || c > 0 || (c == 0 && len > b->last_len);
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

/* Put one entry: appended when its key is above every key so far.
 * Returns 1 when appended, 0 when put in the middle, or an error. */
static int put(struct build *b, const struct kvm_export_record *rec,
               uint64_t map, struct kvm_error *err)
{
	size_t len = kvm_kv_key_size(rec->partition, rec->partition_len,
	                             rec->key_len);
	MDB_val k, v;
	int rc, append;

	if (len > (size_t)b->maxkey) {
		char why[128];

		snprintf(why, sizeof(why), "an LMDB key of %zu bytes; LMDB's "
		         "maximum key size is %d", len, b->maxkey);
		return record_error(b, rec, KVM_EKEYSIZE, why, err);
	}
	kvm_kv_key_encode(b->key, rec->partition, rec->partition_len, rec->key,
	                  rec->key_len);
	append = above_last(b, len);
	k.mv_data = b->key;
	k.mv_size = len;
	v.mv_data = (void *)rec->value;
	v.mv_size = rec->value_len;
	rc = mdb_put(b->txn, b->dbi, &k, &v, append ? MDB_APPEND :
	             MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST)
		return record_error(b, rec, KVM_EORDER, "this KV entry occurs "
		                    "twice in the export", err);
	if (rc == MDB_MAP_FULL)
		return kvm_error_set(err, KVM_EMAPFULL, "the LMDB map of %" PRIu64
		                     " bytes is full after %" PRIu64 " records of "
		                     "'%s'; give a larger one with --map-size BYTES",
		                     map, b->r->records, b->o->input);
	if (rc != 0)
		return kv_fail(err, rc, "cannot write into the KV store", b->tmp);
	if (append) {
		unsigned char *was = b->last;

		b->last = b->key;
		b->key = was;
		b->last_len = len;
		b->any = 1;
	}
	return append;
}

static int put_meta(struct build *b, const char *name, kvm_value *v,
                    uint64_t map, struct kvm_error *err)
{
	struct kvm_export_record rec = { 0 };
	const void *val;
	size_t vlen;
	int rc;

	if ((rc = kvm_value_bytes(v, &val, &vlen, err)) != 0)
		return rc;
	rec.partition = (const uint8_t *)KVM_KV_META_PARTITION;
	rec.partition_len = strlen(KVM_KV_META_PARTITION);
	rec.key = (const uint8_t *)name;
	rec.key_len = strlen(name);
	rec.value = val;
	rec.value_len = vlen;
	rec.number = b->r->records;
	rc = put(b, &rec, map, err);
	return rc < 0 || rc > 1 ? rc : 0;
}

static int write_meta(struct build *b, const kvm_export_reader *rd,
                      uint64_t map, struct kvm_error *err)
{
	const struct kvm_export_trailer *t = kvm_export_reader_trailer(rd);
	const struct kvm_export_header *h = kvm_export_reader_header(rd);
	unsigned char id[16];
	kvm_value *v;
	int rc;

	if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id))
		return kvm_error_set(err, errno, "cannot make a migration id: %s",
		                     strerror(errno));
	for (size_t i = 0; i < sizeof(id); i++)
		snprintf(b->r->migration_id + 2 * i, 3, "%02x", id[i]);
	b->r->kv_version = h->kv_migration_version;
	b->r->digest = t->digest;
	if ((rc = kvm_value_create(&v, err)) != 0)
		return rc;
	kvm_value_int(v, h->kv_migration_version);
	rc = put_meta(b, KVM_KV_META_SCHEMA_VERSION, v, map, err);
	kvm_value_reset(v);
	kvm_value_str(v, b->r->migration_id, strlen(b->r->migration_id));
	if (rc == 0)
		rc = put_meta(b, KVM_KV_META_MIGRATION_ID, v, map, err);
	kvm_value_reset(v);
	kvm_value_uint(v, t->digest);
	if (rc == 0)
		rc = put_meta(b, KVM_KV_META_EXPORT_DIGEST, v, map, err);
	kvm_value_free(v);
	return rc;
}

/*
 * Committed pages would otherwise reach the disk only at the final sync,
 * all at once; starting their writeback as the store grows lets the disk
 * work while the export is read.  Pages written again later (branch
 * pages, the meta pages) are simply written again.
 *
 * The pages written before the start DROP_LAG starts ago are then
 * dropped from the page cache: those whose writeback is done, the others
 * stay.  Kept, the store would take as much of the page cache as it is
 * large (2.56 GB at 5m), memory the kernel first has to take from
 * elsewhere: other files' pages, PostgreSQL's among them, or on a virtual
 * machine the host's, which is slow to touch the first time.  Dropped,
 * the import goes on reusing the same few windows of memory.  LMDB reads
 * a page again through its map, from the disk; pages it has mapped are
 * not dropped.  Only hints: a failure of either shows again at the sync.
 */
static void write_behind(struct build *b)
{
	MDB_envinfo info;
	off_t upto;
	int fd;

	if (mdb_env_get_fd(b->env, &fd) != 0 || mdb_env_info(b->env, &info) != 0)
		return;
	(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	upto = b->ends[0];
	memmove(b->ends, b->ends + 1, sizeof(b->ends) - sizeof(b->ends[0]));
	b->ends[DROP_LAG - 1] = ((off_t)info.me_last_pgno + 1) * (off_t)b->psize;
	if (upto > b->dropped) {
		(void)posix_fadvise(fd, b->dropped, upto - b->dropped,
		                    POSIX_FADV_DONTNEED);
		b->dropped = upto;
	}
}

/* Commit what is loaded and go on in a new transaction: the file is
 * still unpublished, and a transaction's dirty pages stay in memory until
 * it commits. */
static int next_txn(struct build *b, struct kvm_error *err)
{
	int rc = mdb_txn_commit(b->txn);

	b->txn = NULL;
	b->txn_records = b->txn_bytes = 0;
	if (rc == 0 && b->behind_bytes >= WRITE_BEHIND_BYTES) {
		write_behind(b);
		b->behind_bytes = 0;
	}
	if (rc == 0)
		rc = mdb_txn_begin(b->env, NULL, 0, &b->txn);
	if (rc == MDB_MAP_FULL)
		return kvm_error_set(err, KVM_EMAPFULL, "the LMDB map of %" PRIu64
		                     " bytes is full after %" PRIu64 " records of "
		                     "'%s'; give a larger one with --map-size BYTES",
		                     b->r->map_size, b->r->records, b->o->input);
	if (rc != 0)
		return kv_fail(err, rc, "cannot write into the KV store", b->tmp);
	return 0;
}

static int load(struct build *b, uint64_t map, struct kvm_error *err)
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
		if ((rc = put(b, &rec, map, err)) != 0 && rc != 1)
			break;
		b->r->appended += (uint64_t)rc;
		b->r->records++;
		b->txn_records++;
		b->txn_bytes += rec.partition_len + rec.key_len + rec.value_len;
		b->behind_bytes += rec.partition_len + rec.key_len + rec.value_len;
		if ((rc = KVM_FAIL_EVERY("import.records", b->r->records, err)) != 0)
			break;
		if ((b->txn_records >= TXN_RECORDS || b->txn_bytes >= TXN_BYTES) &&
		    (rc = next_txn(b, err)) != 0)
			break;
		if (b->r->records % CANCEL_EVERY == 0 && b->o->cancel != NULL &&
		    *b->o->cancel) {
			rc = kvm_error_set(err, KVM_ECANCELED, "canceled");
			break;
		}
	}
	kvm_readahead_stop(ra);
	if (rc == KVM_END) {
		kvm_readprog_end(&prog);
		rc = write_meta(b, rd, map, err);
	}
	b->rd = NULL;
	kvm_export_reader_close(rd);
	return rc;
}

/* Make the new store durable and put it in place. */
static int publish(struct build *b, struct kvm_error *err)
{
	MDB_envinfo info;
	char *copy;
	struct stat sb;
	off_t used;
	int rc, fd;

	if ((rc = KVM_FAIL("import.loaded", err)) != 0)
		return rc;
	rc = mdb_txn_commit(b->txn);
	b->txn = NULL;
	if (rc == MDB_MAP_FULL)
		return kvm_error_set(err, KVM_EMAPFULL, "the LMDB map of %" PRIu64
		                     " bytes is full at the commit of %" PRIu64
		                     " records of '%s'; give a larger one with "
		                     "--map-size BYTES", b->r->map_size,
		                     b->r->records, b->o->input);
	if (rc == 0 && (rc = KVM_FAIL("import.committed", err)) != 0)
		return rc;
	if (rc != 0 || (rc = mdb_env_sync(b->env, 1)) != 0 ||
	    (rc = mdb_env_info(b->env, &info)) != 0)
		return kv_fail(err, rc, "cannot commit the KV store", b->tmp);
	if ((rc = KVM_FAIL("import.synced", err)) != 0)
		return rc;
	mdb_env_close(b->env);
	b->env = NULL;
	/* The blocks reserved past the last page are given back (truncating
	 * a file drops what fallocate kept beyond its end). */
	used = ((off_t)info.me_last_pgno + 1) * (off_t)b->psize;
	if ((fd = open(b->tmp, O_RDWR)) < 0 ||
	    (b->reserved && ftruncate(fd, used) != 0) || fsync(fd) != 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return kvm_error_set(err, e, "cannot sync '%s': %s", b->tmp,
		                     strerror(e));
	}
	close(fd);
	if ((rc = KVM_FAIL("import.fsynced", err)) != 0)
		return rc;
	if (rename(b->tmp, b->o->kv_path) != 0) {
		int e = errno;

		return kvm_error_set(err, e, "cannot rename '%s' to '%s': %s",
		                     b->tmp, b->o->kv_path, strerror(e));
	}
	free(b->tmp);
	b->tmp = NULL;
	if (stat(b->o->kv_path, &sb) == 0)
		b->r->kv_bytes = (uint64_t)sb.st_size;
	if ((rc = KVM_FAIL("import.renamed", err)) != 0)
		return rc;
	if ((copy = strdup(b->o->kv_path)) == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
	rc = fd >= 0 && fsync(fd) == 0 ? 0 : errno;
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		kvm_error_set(err, rc, "'%s' is in place, but syncing its "
		              "directory failed: %s", b->o->kv_path, strerror(rc));
	free(copy);
	return rc;
}

int kvm_import_file(const struct kvm_import_opts *o, struct kvm_import_result *r,
                    struct kvm_error *err)
{
	int rc, lock;

	memset(r, 0, sizeof(*r));
	if (o->input == NULL || o->kv_path == NULL || o->kv_path[0] == '\0')
		return kvm_error_set(err, KVM_EINVAL, "import: no export file or "
		                     "no KV path");
	if ((rc = kvm_kv_lock(o->kv_path, &lock, err)) != 0)
		return rc;
	rc = kvm_import_file_locked(o, r, err);
	kvm_kv_unlock(lock);
	return rc;
}

int kvm_import_file_locked(const struct kvm_import_opts *o,
                           struct kvm_import_result *r, struct kvm_error *err)
{
	struct kvm_export_info *info = NULL;
	struct build *b;
	uint64_t t0 = kvm_now_ms(), map = 0;
	int rc, replacing, reserve = 0;

	memset(r, 0, sizeof(*r));
	if ((rc = check_target(o, &replacing, err)) != 0)
		return rc;
	info = inspect_input(o->input);
	if ((rc = map_size(o, info, &map, &reserve, err)) != 0) {
		kvm_export_info_free(info);
		return rc;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		kvm_export_info_free(info);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	b->o = o;
	b->r = r;
	b->info = info;
	b->key = b->keys[0];
	b->last = b->keys[1];
	r->map_size = map;
	if ((rc = create_tmp(b, err)) == 0 &&
	    (rc = open_store(b, map, reserve, err)) == 0 &&
	    (rc = KVM_FAIL("import.opened", err)) == 0 &&
	    (rc = load(b, map, err)) == 0)
		rc = publish(b, err);
	if (b->txn != NULL)
		mdb_txn_abort(b->txn);
	if (b->env != NULL)
		mdb_env_close(b->env);
	if (b->tmp != NULL) {
		unlink(b->tmp);
		free(b->tmp);
	}
	free(b);
	kvm_export_info_free(info);
	r->replaced = rc == 0 && replacing;
	r->ms = kvm_now_ms() - t0;
	return rc;
}
