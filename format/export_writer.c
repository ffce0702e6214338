/*
 * export_writer.c - writes an export file (design/export-format.md).
 *
 * Call sequence: open (writes the header, in frame 0) -> for each package
 * begin_section / write... / end_section -> finish (end map in a frame of
 * its own, end index, fsync, rename, directory fsync) or abort.
 *
 * Every byte of the stream D passes through emit(): it is hashed into the
 * digest it belongs to (the section digest for record bytes, the file
 * digest for the maps), counted, and staged for zstd.  msgpack-c's packer
 * writes through the same function.  Staged bytes are compressed with
 * ZSTD_e_continue once STAGE_BYTES have gathered; large values bypass the
 * stage and go to zstd straight from the caller's memory, so the writer's
 * memory does not grow with value size.  Frames end at record boundaries
 * (ZSTD_e_end), at positions that depend only on the records, so the same
 * records always give the same bytes.
 *
 * Errors are sticky: the first failure is kept in w->fail and returned by
 * every later call.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <msgpack.h>
#include <zstd.h>

#include "kvm/export.h"
#include "export_int.h"
#include "failpoint.h"
#include "tmpname.h"

/* Staged uncompressed bytes are handed to zstd in chunks of this size:
 * large enough that the per-call overhead of ZSTD_compressStream2 does not
 * show, small enough to stay in L2. */
#define STAGE_BYTES (128u << 10)
/* Written bytes whose writeback is started at once (write_behind). */
#define BEHIND_BYTES (64u << 20)

enum hash_target { HASH_NONE, HASH_FILE, HASH_SECTION };

struct kvm_export_writer {
	char *path;              /* final name, or "-" */
	char *tmp_path;          /* NULL when writing to stdout */
	int fd;
	int fsync_fd;            /* 0 when the output is not a regular file */
	uint64_t behind;         /* file bytes whose writeback was started */

	ZSTD_CCtx *cctx;
	msgpack_packer pk;
	uint8_t *stage;          /* STAGE_BYTES of pending input */
	size_t staged;
	uint8_t *out;            /* zstd output chunk */
	size_t out_cap;
	size_t frame_bytes;      /* frame policy */
	uint64_t frame_raw;      /* uncompressed bytes in the current frame */

	enum hash_target target;
	XXH64_state_t *file_hash;
	XXH64_state_t *frames_hash;    /* of the compressed bytes written */
	XXH64_state_t *sec_hash;

	char **packages;         /* owned copies of the header's names */
	size_t npackages;
	struct kvm_export_section_info *sections;
	size_t next_section;     /* index of the next section to begin */
	int in_section;

	struct kvm_export_stats stats;
	uint64_t end_frame_offset;

	struct kvm_error fail;   /* fail.code != 0: sticky error */
};

static int sticky(const kvm_export_writer *w, struct kvm_error *err)
{
	if (err != NULL && err != &w->fail)
		*err = w->fail;
	return w->fail.code;
}

/* Record the first failure; later ones keep the first message. */
static int writer_fail(kvm_export_writer *w, struct kvm_error *err, int code,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int writer_fail(kvm_export_writer *w, struct kvm_error *err, int code,
                       const char *fmt, ...)
{
	va_list ap;

	if (w->fail.code == 0) {
		w->fail.code = code;
		va_start(ap, fmt);
		vsnprintf(w->fail.msg, sizeof(w->fail.msg), fmt, ap);
		va_end(ap);
	}
	return sticky(w, err);
}

static const char *out_name(const kvm_export_writer *w)
{
	return w->tmp_path != NULL ? w->tmp_path : "standard output";
}

/*
 * Start the writeback of what was written since the last call, so that
 * the disk works while the tables are read instead of all of it at the
 * final fsync.  Only a hint: a failure here shows again at the fsync.
 */
static void write_behind(kvm_export_writer *w)
{
	uint64_t n = w->stats.file_bytes - w->behind;

	if (!w->fsync_fd || n < BEHIND_BYTES)
		return;
	(void)sync_file_range(w->fd, (off_t)w->behind, (off_t)n,
	                      SYNC_FILE_RANGE_WRITE);
	w->behind += n;
}

static int write_all(kvm_export_writer *w, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n > 0) {
		ssize_t k = write(w->fd, p, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return writer_fail(w, NULL, errno, "cannot write '%s': %s",
			                   out_name(w), strerror(errno));
		}
		XXH64_update(w->frames_hash, p, (size_t)k);
		p += k;
		n -= (size_t)k;
		w->stats.file_bytes += (uint64_t)k;
	}
	write_behind(w);
	return 0;
}

/* Feed @n bytes to zstd with @mode; ZSTD_e_end also ends the frame. */
static int compress(kvm_export_writer *w, const void *src, size_t n,
                    ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = { src, n, 0 };
	int done;

	do {
		ZSTD_outBuffer out = { w->out, w->out_cap, 0 };
		size_t rem = ZSTD_compressStream2(w->cctx, &out, &in, mode);

		if (ZSTD_isError(rem))
			return writer_fail(w, NULL, KVM_EINTERNAL,
			                   "cannot compress '%s': %s", out_name(w),
			                   ZSTD_getErrorName(rem));
		if (out.pos > 0 && write_all(w, w->out, out.pos) != 0)
			return w->fail.code;
		done = mode == ZSTD_e_end ? rem == 0 : in.pos == in.size;
	} while (!done);
	return 0;
}

static int flush_stage(kvm_export_writer *w, ZSTD_EndDirective mode)
{
	size_t n = w->staged;

	w->staged = 0;
	return compress(w, w->stage, n, mode);
}

/* The one door into the stream D: hash, count, stage or compress. */
static int emit(kvm_export_writer *w, const void *data, size_t n)
{
	if (w->fail.code != 0)
		return w->fail.code;
	if (w->target == HASH_SECTION)
		XXH64_update(w->sec_hash, data, n);
	else if (w->target == HASH_FILE)
		XXH64_update(w->file_hash, data, n);
	w->stats.raw_bytes += n;
	w->frame_raw += n;

	if (n >= STAGE_BYTES) {
		/* A large value: pass it to zstd in place, after what is staged. */
		if (flush_stage(w, ZSTD_e_continue) != 0)
			return w->fail.code;
		return compress(w, data, n, ZSTD_e_continue);
	}
	if (w->staged + n > STAGE_BYTES && flush_stage(w, ZSTD_e_continue) != 0)
		return w->fail.code;
	memcpy(w->stage + w->staged, data, n);
	w->staged += n;
	return 0;
}

static int pack_cb(void *data, const char *buf, size_t len)
{
	return emit(data, buf, len) == 0 ? 0 : -1;
}

static int end_frame(kvm_export_writer *w)
{
	if (flush_stage(w, ZSTD_e_end) != 0)
		return w->fail.code;
	w->frame_raw = 0;
	w->stats.frames++;
	return 0;
}

static void pack_str(kvm_export_writer *w, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(&w->pk, n);
	msgpack_pack_str_body(&w->pk, s, n);
}

static void pack_kv_str(kvm_export_writer *w, const char *k, const char *v)
{
	pack_str(w, k);
	pack_str(w, v);
}

static void pack_kv_u64(kvm_export_writer *w, const char *k, uint64_t v)
{
	pack_str(w, k);
	msgpack_pack_uint64(&w->pk, v);
}

static void pack_kv_i64(kvm_export_writer *w, const char *k, int64_t v)
{
	pack_str(w, k);
	msgpack_pack_int64(&w->pk, v);
}

/* {package, records, bytes, digest}: the shared tail of section_end and
 * of each entry of end.sections. */
static void pack_section_counts(kvm_export_writer *w,
                                const struct kvm_export_section_info *s)
{
	pack_kv_str(w, "package", s->package);
	pack_kv_u64(w, "records", s->records);
	pack_kv_u64(w, "bytes", s->bytes);
	pack_kv_u64(w, "digest", s->digest);
}

static int write_header(kvm_export_writer *w, const struct kvm_export_header *h)
{
	msgpack_timestamp ts = { .tv_sec = h->snapshot_time.sec,
	                         .tv_nsec = h->snapshot_time.nsec };

	w->target = HASH_FILE;
	msgpack_pack_map(&w->pk, 8);
	pack_kv_str(w, "magic", KVM_EXPORT_MAGIC);
	pack_kv_u64(w, "format_version", KVM_EXPORT_FORMAT_VERSION);
	pack_kv_str(w, "tool_version", KVM_VERSION);
	pack_kv_i64(w, "kv_migration_version", h->kv_migration_version);
	pack_kv_i64(w, "source_schema_version", h->source_schema_version);
	pack_kv_str(w, "source_database", h->source_database);
	pack_str(w, "snapshot_time");
	msgpack_pack_timestamp(&w->pk, &ts);
	pack_str(w, "packages");
	msgpack_pack_array(&w->pk, w->npackages);
	for (size_t i = 0; i < w->npackages; i++)
		pack_str(w, w->packages[i]);
	w->target = HASH_NONE;
	if (w->fail.code != 0)
		return w->fail.code;
	return end_frame(w);
}

static int check_header(const struct kvm_export_header *h, struct kvm_error *err)
{
	if (h->npackages == 0 || h->npackages > KVM_EXPORT_MAX_PACKAGES)
		return kvm_error_set(err, KVM_EINVAL,
		                     "an export holds 1 to %d packages, not %zu",
		                     KVM_EXPORT_MAX_PACKAGES, h->npackages);
	if (h->packages == NULL)
		return kvm_error_set(err, KVM_EINVAL, "no package list");
	for (size_t i = 0; i < h->npackages; i++) {
		const char *p = h->packages[i];

		if (!kvm_export_package_name_ok(p, p != NULL ? strlen(p) : 0))
			return kvm_error_set(err, KVM_EINVAL,
			                     "invalid package name '%s': use 1 to 64 of [a-z0-9_-]",
			                     p != NULL ? p : "(null)");
		for (size_t j = 0; j < i; j++)
			if (strcmp(h->packages[j], p) == 0)
				return kvm_error_set(err, KVM_EINVAL,
				                     "package '%s' listed twice", p);
	}
	if (h->source_database == NULL ||
	    strlen(h->source_database) > KVM_EXPORT_MAX_STRING)
		return kvm_error_set(err, KVM_EINVAL,
		                     "the source database identity is missing or longer than %d bytes",
		                     KVM_EXPORT_MAX_STRING);
	if (h->kv_migration_version < 0 || h->source_schema_version < 0)
		return kvm_error_set(err, KVM_EINVAL,
		                     "schema versions are never negative: KV migration "
		                     "version %" PRId64 ", source version %" PRId64,
		                     h->kv_migration_version, h->source_schema_version);
	if (h->snapshot_time.nsec > 999999999u)
		return kvm_error_set(err, KVM_EINVAL, "snapshot time has %u nanoseconds",
		                     h->snapshot_time.nsec);
	return 0;
}

/* The file holds credentials as they were stored: mode 0600. */
static int open_tmp(kvm_export_writer *w, const char *path, struct kvm_error *err)
{
	int rc = kvm_tmp_create(path, 0600, &w->tmp_path, &w->fd, err);

	if (rc == 0)
		w->fsync_fd = 1;
	return rc;
}

static void writer_free(kvm_export_writer *w)
{
	if (w == NULL)
		return;
	if (w->fd >= 0 && w->tmp_path != NULL)
		close(w->fd);
	if (w->tmp_path != NULL)
		unlink(w->tmp_path);
	free(w->tmp_path);
	free(w->path);
	ZSTD_freeCCtx(w->cctx);
	XXH64_freeState(w->file_hash);
	XXH64_freeState(w->frames_hash);
	XXH64_freeState(w->sec_hash);
	free(w->stage);
	free(w->out);
	for (size_t i = 0; i < w->npackages; i++)
		free(w->packages[i]);
	free(w->packages);
	free(w->sections);
	free(w);
}

int kvm_export_writer_open(kvm_export_writer **out, const char *path,
                           const struct kvm_export_writer_opts *opts,
                           struct kvm_error *err)
{
	kvm_export_writer *w = NULL;
	const struct kvm_export_header *h;
	int level, rc;

	*out = NULL;
	if (path == NULL || opts == NULL || opts->header == NULL)
		return kvm_error_set(err, KVM_EINVAL, "export writer: path and header are required");
	h = opts->header;
	if ((rc = check_header(h, err)) != 0)
		return kvm_error_prefix(err, "cannot write '%s'", path);
	level = opts->level != 0 ? opts->level : KVM_EXPORT_DEFAULT_LEVEL;
	if (level < KVM_EXPORT_MIN_LEVEL || level > KVM_EXPORT_MAX_LEVEL)
		return kvm_error_set(err, KVM_EINVAL, "zstd level %d is outside %d..%d",
		                     level, KVM_EXPORT_MIN_LEVEL, KVM_EXPORT_MAX_LEVEL);

	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	w->fd = -1;
	w->frame_bytes = opts->frame_bytes != 0 ? opts->frame_bytes
	                                        : KVM_EXPORT_DEFAULT_FRAME_BYTES;
	w->path = strdup(path);
	w->stage = malloc(STAGE_BYTES);
	w->out_cap = ZSTD_CStreamOutSize();
	w->out = malloc(w->out_cap);
	w->packages = calloc(h->npackages, sizeof(*w->packages));
	w->sections = calloc(h->npackages, sizeof(*w->sections));
	w->cctx = ZSTD_createCCtx();
	w->file_hash = XXH64_createState();
	w->frames_hash = XXH64_createState();
	w->sec_hash = XXH64_createState();
	if (w->path == NULL || w->stage == NULL || w->out == NULL ||
	    w->packages == NULL || w->sections == NULL || w->cctx == NULL ||
	    w->file_hash == NULL || w->frames_hash == NULL || w->sec_hash == NULL) {
		rc = kvm_error_set(err, KVM_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < h->npackages; i++) {
		w->packages[i] = strdup(h->packages[i]);
		w->npackages = i + 1;
		if (w->packages[i] == NULL) {
			rc = kvm_error_set(err, KVM_ENOMEM, "out of memory");
			goto fail;
		}
		w->sections[i].package = w->packages[i];
	}
	if (ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1))) {
		/* Levels 1..19 use windows of at most 2^23 bytes, within the
		 * reader's default cap of 2^KVM_EXPORT_DEFAULT_WINDOW_LOG. */
		rc = kvm_error_set(err, KVM_EINTERNAL, "cannot set zstd parameters");
		goto fail;
	}
	msgpack_packer_init(&w->pk, w, pack_cb);
	XXH64_reset(w->file_hash, 0);
	XXH64_reset(w->frames_hash, 0);
	XXH64_reset(w->sec_hash, 0);

	if (strcmp(path, "-") == 0) {
		struct stat st;

		w->fd = STDOUT_FILENO;
		w->fsync_fd = fstat(w->fd, &st) == 0 && S_ISREG(st.st_mode);
	} else if ((rc = open_tmp(w, path, err)) != 0) {
		goto fail;
	}
	if ((rc = write_header(w, h)) != 0) {
		sticky(w, err);
		goto fail;
	}
	*out = w;
	return 0;

fail:
	writer_free(w);
	return rc;
}

int kvm_export_writer_begin_section(kvm_export_writer *w, const char *package,
                                    struct kvm_error *err)
{
	if (w->fail.code != 0)
		return sticky(w, err);
	if (w->in_section)
		return writer_fail(w, err, KVM_ESTATE,
		                   "cannot begin section '%s': section '%s' is still open",
		                   package, w->packages[w->next_section - 1]);
	if (w->next_section >= w->npackages ||
	    strcmp(package, w->packages[w->next_section]) != 0)
		return writer_fail(w, err, KVM_ESTATE,
		                   "cannot begin section '%s': the header lists '%s' next",
		                   package, w->next_section < w->npackages
		                   ? w->packages[w->next_section] : "no more packages");

	w->target = HASH_FILE;
	msgpack_pack_map(&w->pk, 3);
	pack_kv_str(w, "type", "section");
	pack_kv_str(w, "package", package);
	pack_kv_u64(w, "index", w->next_section);
	w->target = HASH_SECTION;
	XXH64_reset(w->sec_hash, 0);
	w->in_section = 1;
	w->next_section++;
	return w->fail.code != 0 ? sticky(w, err) : 0;
}

int kvm_export_writer_write(kvm_export_writer *w,
                            const void *partition, size_t partition_len,
                            const void *key, size_t key_len,
                            const void *value, size_t value_len,
                            struct kvm_error *err)
{
	struct kvm_export_section_info *s;
	uint64_t before;

	if (w->fail.code != 0)
		return sticky(w, err);
	if (!w->in_section)
		return writer_fail(w, err, KVM_ESTATE, "cannot write a record outside a section");
	s = &w->sections[w->next_section - 1];
	if (partition_len > KVM_EXPORT_MAX_PARTITION ||
	    key_len > KVM_EXPORT_MAX_KEY ||
	    value_len > KVM_EXPORT_MAX_VALUE)
		return writer_fail(w, err, KVM_EINVAL,
		                   "record %" PRIu64 " of package '%s': partition, key or value "
		                   "longer than the export limits (%zu, %zu, %zu bytes; limits %u, %u, %u)",
		                   s->records, s->package, partition_len, key_len, value_len,
		                   KVM_EXPORT_MAX_PARTITION, KVM_EXPORT_MAX_KEY,
		                   KVM_EXPORT_MAX_VALUE);

	before = w->stats.raw_bytes;
	msgpack_pack_array(&w->pk, 3);
	msgpack_pack_bin(&w->pk, partition_len);
	msgpack_pack_bin_body(&w->pk, partition, partition_len);
	msgpack_pack_bin(&w->pk, key_len);
	msgpack_pack_bin_body(&w->pk, key, key_len);
	msgpack_pack_bin(&w->pk, value_len);
	msgpack_pack_bin_body(&w->pk, value, value_len);
	if (w->fail.code != 0)
		return sticky(w, err);
	s->records++;
	s->bytes += w->stats.raw_bytes - before;
	w->stats.records++;
	if (w->frame_raw >= w->frame_bytes && end_frame(w) != 0)
		return sticky(w, err);
	return 0;
}

int kvm_export_writer_end_section(kvm_export_writer *w,
                                  struct kvm_export_section_info *info,
                                  struct kvm_error *err)
{
	struct kvm_export_section_info *s;

	if (w->fail.code != 0)
		return sticky(w, err);
	if (!w->in_section)
		return writer_fail(w, err, KVM_ESTATE, "cannot end a section: none is open");
	s = &w->sections[w->next_section - 1];
	s->digest = XXH64_digest(w->sec_hash);

	w->target = HASH_FILE;
	msgpack_pack_map(&w->pk, 5);
	pack_kv_str(w, "type", "section_end");
	pack_section_counts(w, s);
	w->target = HASH_NONE;
	w->in_section = 0;
	if (w->fail.code != 0 || end_frame(w) != 0)
		return sticky(w, err);
	if (info != NULL)
		*info = *s;
	return 0;
}

void kvm_export_writer_stats(const kvm_export_writer *w, struct kvm_export_stats *stats)
{
	*stats = w->stats;
}

static int write_end(kvm_export_writer *w)
{
	uint8_t idx[KVM_EXPORT_INDEX_SIZE];
	uint64_t before_end = w->stats.raw_bytes;

	w->stats.digest = XXH64_digest(w->file_hash);
	w->end_frame_offset = w->stats.file_bytes;
	w->target = HASH_NONE;
	msgpack_pack_map(&w->pk, 6);
	pack_kv_str(w, "type", "end");
	pack_kv_u64(w, "records", w->stats.records);
	pack_kv_u64(w, "bytes", before_end);
	pack_kv_u64(w, "digest", w->stats.digest);
	/* The file's bytes before this frame: a flipped bit that zstd ignores
	 * or that decodes to the same content still shows here. */
	pack_kv_u64(w, "frames_digest", XXH64_digest(w->frames_hash));
	pack_str(w, "sections");
	msgpack_pack_array(&w->pk, w->npackages);
	for (size_t i = 0; i < w->npackages; i++) {
		msgpack_pack_map(&w->pk, 4);
		pack_section_counts(w, &w->sections[i]);
	}
	if (w->fail.code != 0 || end_frame(w) != 0)
		return w->fail.code;
	kvm_export_index_encode(idx, w->end_frame_offset);
	return write_all(w, idx, sizeof(idx));
}

int kvm_export_writer_finish(kvm_export_writer *w, struct kvm_export_stats *stats,
                             struct kvm_error *err)
{
	struct kvm_error dir_err;
	int rc;

	if (w->fail.code != 0) {
		rc = sticky(w, err);
		goto out;
	}
	if (w->in_section || w->next_section != w->npackages) {
		rc = writer_fail(w, err, KVM_ESTATE,
		                 "cannot finish '%s': %zu of %zu sections written%s",
		                 w->path, w->next_section - (size_t)w->in_section,
		                 w->npackages, w->in_section ? ", one still open" : "");
		goto out;
	}
	if ((rc = write_end(w)) != 0) {
		sticky(w, err);
		goto out;
	}
	if ((rc = KVM_FAIL("export.fsync.before", err)) != 0)
		goto out;
	if (w->fsync_fd && fsync(w->fd) != 0) {
		rc = writer_fail(w, err, errno, "cannot fsync '%s': %s", out_name(w),
		                 strerror(errno));
		goto out;
	}
	if ((rc = KVM_FAIL("export.fsync.after", err)) != 0)
		goto out;
	if (w->tmp_path == NULL) {
		rc = 0;
		goto out;
	}
	rc = close(w->fd);
	w->fd = -1;
	if (rc != 0) {
		rc = writer_fail(w, err, errno, "cannot close '%s': %s", w->tmp_path,
		                 strerror(errno));
		goto out;
	}
	if (rename(w->tmp_path, w->path) != 0) {
		rc = writer_fail(w, err, errno, "cannot rename '%s' to '%s': %s",
		                 w->tmp_path, w->path, strerror(errno));
		goto out;
	}
	free(w->tmp_path);
	w->tmp_path = NULL;         /* published: nothing left to remove */
	if ((rc = KVM_FAIL("export.renamed", err)) != 0)
		goto out;
	if ((rc = kvm_sync_dir_of(w->path, &dir_err)) != 0) {
		rc = writer_fail(w, err, rc, "'%s' is in place, but %s", w->path,
		                 dir_err.msg);
		goto out;
	}
out:
	if (rc == 0 && stats != NULL)
		*stats = w->stats;
	writer_free(w);
	return rc;
}

void kvm_export_writer_abort(kvm_export_writer *w)
{
	writer_free(w);
}
