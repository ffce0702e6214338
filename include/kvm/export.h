/*
 * kvm/export.h - the export file: a writer and a reader.
 *
 * An export file carries the records the package migrators produced, from
 * PostgreSQL to the KV store.  It is a plain zstd stream whose decompressed
 * bytes are a sequence of msgpack objects:
 *
 *     header map
 *     per package:  section map, records [partition, key, value], section_end map
 *     end map (the file trailer)
 *
 * followed by one zstd skippable frame that points at the trailer's frame.
 * `zstd -dc FILE | <any msgpack decoder>` reads it; the byte-level
 * specification is design/export-format.md.  zstd and msgpack stay behind
 * this API: nothing outside format/ includes their headers.
 *
 * Writing:
 *
 *     kvm_export_writer_open(&w, path, &opts, &err)
 *     for each package in opts.header->packages, in that order:
 *         kvm_export_writer_begin_section(w, name, &err)
 *         kvm_export_writer_write(w, part, plen, key, klen, val, vlen, &err)...
 *         kvm_export_writer_end_section(w, &info, &err)
 *     kvm_export_writer_finish(w, &stats, &err)   -- or kvm_export_writer_abort(w)
 *
 * The file is written under a temporary name in the target's directory
 * (mode 0600: it holds credentials as they were stored), then flushed,
 * fsynced, renamed over the target and the directory fsynced.  Until
 * finish returns 0 nothing exists under the target name; after a failure
 * or an abort the temporary file is removed.
 *
 * Errors are sticky: once a call has failed, every later call on the same
 * writer returns the same code and message, so a producer may check once
 * per batch.  finish and abort always release the writer.
 *
 * Reading:
 *
 *     kvm_export_reader_open(&r, path, &opts, &err)    -- reads the header
 *     hdr = kvm_export_reader_header(r)
 *     while ((rc = kvm_export_reader_next(r, &rec, &err)) == 0)
 *         use rec (valid until the next call)
 *     rc == KVM_END: every section trailer, the file trailer and the
 *                    end index checked; kvm_export_reader_trailer(r)
 *     kvm_export_reader_close(r)
 *
 * The reader trusts nothing the file declares: every length is checked
 * against the caps in kvm_export_reader_opts before anything is allocated,
 * so its memory stays bounded by those caps whatever the input.
 */
#ifndef KVM_EXPORT_H
#define KVM_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The header's "magic" string. */
#define KVM_EXPORT_MAGIC "kvmigrate-export"

/** The format version this build writes, and the only one it reads. */
#define KVM_EXPORT_FORMAT_VERSION 1

/** Default zstd level of the writer: zstd's third fast level, chosen by
 *  measurement (design/performance.md). 0 cannot be given: it means this
 *  default. */
#define KVM_EXPORT_DEFAULT_LEVEL (-3)
/** The levels the writer accepts. */
#define KVM_EXPORT_MIN_LEVEL (-7)
#define KVM_EXPORT_MAX_LEVEL 19

/** Default uncompressed size after which the writer ends a zstd frame
 *  (at the next record boundary). */
#define KVM_EXPORT_DEFAULT_FRAME_BYTES (4u << 20)

/**
 * The longest partition, key and value an export file carries (format
 * version 1, design/export-format.md section 7).  The writer refuses a
 * longer one and a reader's caps default to them.  They are the format's,
 * not a KV target's: a target may hold less (LMDB's keys are at most 511
 * bytes, PostgreSQL's index entries 2704), which its import checks.
 */
#define KVM_EXPORT_MAX_PARTITION (64u << 10)
#define KVM_EXPORT_MAX_KEY       (64u << 10)
#define KVM_EXPORT_MAX_VALUE     (64u << 20)

/** Default reader caps: the format's limits. */
#define KVM_EXPORT_DEFAULT_MAX_PARTITION KVM_EXPORT_MAX_PARTITION
#define KVM_EXPORT_DEFAULT_MAX_KEY       KVM_EXPORT_MAX_KEY
#define KVM_EXPORT_DEFAULT_MAX_VALUE     KVM_EXPORT_MAX_VALUE
#define KVM_EXPORT_DEFAULT_WINDOW_LOG    24

/** Most packages one export may hold. */
#define KVM_EXPORT_MAX_PACKAGES 256
/** Longest string in a header, section or trailer map, in bytes. */
#define KVM_EXPORT_MAX_STRING 1024

/** A point in time: seconds since the Unix epoch and nanoseconds. */
struct kvm_timestamp {
	int64_t  sec;
	uint32_t nsec;   /**< 0 .. 999999999 */
};

/**
 * What the file header says about the export.
 *
 * Writer: filled by the caller; format_version and tool_version are
 * ignored (the library writes its own).  The pointers need to stay valid
 * only during kvm_export_writer_open().
 *
 * Reader: filled by the reader; every pointer is owned by the reader and
 * valid until kvm_export_reader_close().
 */
struct kvm_export_header {
	uint32_t format_version;
	const char *tool_version;
	/** The SQL schema version the KV store stands for. */
	int64_t kv_migration_version;
	/** The SQL schema version of the database the export was read from. */
	int64_t source_schema_version;
	/** Identity of the source database (system identifier and name). */
	const char *source_database;
	/** When the snapshot the export was read from was taken. */
	struct kvm_timestamp snapshot_time;
	/** Package names, in the order their sections follow. */
	const char *const *packages;
	size_t npackages;
};

/** What a section trailer says (and what the writer wrote). */
struct kvm_export_section_info {
	const char *package;  /**< owned by the writer or reader */
	uint64_t records;
	uint64_t bytes;       /**< decompressed bytes of its records */
	uint64_t digest;      /**< XXH64 (seed 0) of those bytes */
};

/** What the file trailer says. */
struct kvm_export_trailer {
	uint64_t records;     /**< all records of all sections */
	uint64_t bytes;       /**< decompressed bytes before the trailer */
	uint64_t digest;      /**< the file digest (design/export-format.md) */
	size_t nsections;
	/** One per package, in header order; owned by the reader. */
	const struct kvm_export_section_info *sections;
};

/**
 * The rule for package names: 1 to 64 bytes of [a-z0-9_-].
 *
 * @param name  the name, not necessarily NUL-terminated; NULL is invalid
 * @param len   its length in bytes
 * @return 1 when valid, 0 otherwise.
 */
int kvm_export_package_name_ok(const char *name, size_t len);

/* ------------------------------------------------------------------ */
/* Writer                                                              */
/* ------------------------------------------------------------------ */

typedef struct kvm_export_writer kvm_export_writer;

/** Options for kvm_export_writer_open(); zero means the default. */
struct kvm_export_writer_opts {
	/** Required: the header to write. */
	const struct kvm_export_header *header;
	/** zstd compression level, KVM_EXPORT_MIN_LEVEL..KVM_EXPORT_MAX_LEVEL
	 *  (negative: zstd's fast levels); 0 = KVM_EXPORT_DEFAULT_LEVEL. */
	int level;
	/** End a frame at the first record boundary past this many
	 *  uncompressed bytes; 0 = KVM_EXPORT_DEFAULT_FRAME_BYTES. */
	size_t frame_bytes;
};

/** Running totals of a writer. */
struct kvm_export_stats {
	uint64_t records;          /**< records written */
	uint64_t raw_bytes;        /**< decompressed stream bytes so far */
	uint64_t file_bytes;       /**< compressed bytes handed to the file */
	uint32_t frames;           /**< zstd frames completed */
	uint64_t digest;           /**< file digest; set by finish only */
};

/**
 * Create an export file and write its header.
 *
 * @param[out] out   the new writer; NULL on failure
 * @param[in]  path  the final name; "-" writes to standard output (no
 *                   temporary file, no rename; fsync only if stdout is a
 *                   regular file)
 * @param[in]  opts  options; opts->header is required and checked: at
 *                   least one and at most KVM_EXPORT_MAX_PACKAGES package
 *                   names of [a-z0-9_-], 1..64 bytes, no duplicates
 * @param[out] err   details on failure
 * @return 0; KVM_EINVAL for bad options; KVM_ENOMEM; an errno value when
 *         the temporary file cannot be created or written.
 */
int kvm_export_writer_open(kvm_export_writer **out, const char *path,
                           const struct kvm_export_writer_opts *opts,
                           struct kvm_error *err);

/**
 * Start the section of the next package.
 *
 * @param package  must equal the next name of the header's package list
 * @return 0; KVM_ESTATE when a section is open or @package is not the
 *         next one; a sticky error.
 */
int kvm_export_writer_begin_section(kvm_export_writer *w, const char *package,
                                    struct kvm_error *err);

/**
 * Append one record to the open section.
 *
 * The bytes are copied (compressed) before the call returns.  Empty
 * partitions, keys and values are allowed.
 *
 * @return 0; KVM_ESTATE outside a section; KVM_EINVAL when a length
 *         exceeds the format's limits (KVM_EXPORT_MAX_PARTITION, _KEY,
 *         _VALUE: a file a default reader refuses is never written); an
 *         errno value on write failure; a sticky error.
 */
int kvm_export_writer_write(kvm_export_writer *w,
                            const void *partition, size_t partition_len,
                            const void *key, size_t key_len,
                            const void *value, size_t value_len,
                            struct kvm_error *err);

/**
 * Close the open section: write its trailer and end the zstd frame.
 *
 * @param[out] info  may be NULL; info->package is owned by the writer
 *                   and valid until finish or abort
 * @return 0; KVM_ESTATE when no section is open; a sticky error.
 */
int kvm_export_writer_end_section(kvm_export_writer *w,
                                  struct kvm_export_section_info *info,
                                  struct kvm_error *err);

/** Copy the running totals into @stats (cheap; for progress reports). */
void kvm_export_writer_stats(const kvm_export_writer *w,
                             struct kvm_export_stats *stats);

/**
 * Write the trailer and the end index, flush, fsync, rename the
 * temporary file over the target and fsync the directory.
 *
 * Every section of the header must have been written.  The writer is
 * released whatever the outcome; on failure the temporary file is removed
 * and the target name is untouched.
 *
 * @param[out] stats  may be NULL; the final totals, digest included
 * @return 0; KVM_ESTATE when sections are missing or one is open; an errno
 *         value naming the step that failed (write, fsync, close, rename,
 *         directory fsync); a sticky error.
 */
int kvm_export_writer_finish(kvm_export_writer *w, struct kvm_export_stats *stats,
                             struct kvm_error *err);

/** Discard the export: remove the temporary file and release the
 *  writer.  NULL is allowed. */
void kvm_export_writer_abort(kvm_export_writer *w);

/* ------------------------------------------------------------------ */
/* Reader                                                              */
/* ------------------------------------------------------------------ */

typedef struct kvm_export_reader kvm_export_reader;

/** Caps of the reader; zero means the default. */
struct kvm_export_reader_opts {
	size_t max_partition;      /**< KVM_EXPORT_DEFAULT_MAX_PARTITION */
	size_t max_key;            /**< KVM_EXPORT_DEFAULT_MAX_KEY */
	size_t max_value;          /**< KVM_EXPORT_DEFAULT_MAX_VALUE */
	/** Largest zstd window accepted, as log2; KVM_EXPORT_DEFAULT_WINDOW_LOG. */
	unsigned window_log_max;
};

/** One record, as kvm_export_reader_next() returns it. */
struct kvm_export_record {
	/** Point into the reader's buffer: valid until the next call. */
	const uint8_t *partition;
	size_t partition_len;
	const uint8_t *key;
	size_t key_len;
	const uint8_t *value;
	size_t value_len;
	/** Index of the record's package in the header's list. */
	size_t section;
	/** 0-based number of the record in the file. */
	uint64_t number;
};

/**
 * Open an export file and read and check its header.
 *
 * @param path  a file name, or "-" for standard input (read as a stream)
 * @param opts  may be NULL for the defaults
 * @return 0; an errno value when the file cannot be opened or read;
 *         KVM_ENOTEXPORT, KVM_EVERSION, KVM_ETRUNCATED, KVM_ECORRUPT,
 *         KVM_ELIMIT for a bad header; KVM_ENOMEM.
 */
int kvm_export_reader_open(kvm_export_reader **out, const char *path,
                           const struct kvm_export_reader_opts *opts,
                           struct kvm_error *err);

/**
 * Like kvm_export_reader_open(), from memory.
 *
 * @param buf   the file's bytes; must stay valid until close
 * @param name  used in messages in place of a file name
 */
int kvm_export_reader_open_mem(kvm_export_reader **out, const void *buf,
                               size_t len, const char *name,
                               const struct kvm_export_reader_opts *opts,
                               struct kvm_error *err);

/** The header read by open; owned by the reader. */
const struct kvm_export_header *kvm_export_reader_header(const kvm_export_reader *r);

/**
 * Read the next record.
 *
 * Section headers and trailers are consumed on the way and checked: the
 * sections follow the header's package list, and each trailer's count,
 * byte count and digest match what was read.
 *
 * @return 0 with @rec filled; KVM_END after the file trailer and the end
 *         index were read and checked and nothing follows them;
 *         otherwise an error (KVM_ETRUNCATED, KVM_ECORRUPT, KVM_EDIGEST,
 *         KVM_ECOUNT, KVM_ELIMIT, KVM_ETRAILING, an errno value), which
 *         is sticky.  Messages name the file and the compressed offset
 *         or the record number.
 */
int kvm_export_reader_next(kvm_export_reader *r, struct kvm_export_record *rec,
                           struct kvm_error *err);

/** The file trailer; NULL until kvm_export_reader_next() returned KVM_END. */
const struct kvm_export_trailer *kvm_export_reader_trailer(const kvm_export_reader *r);

/** Compressed bytes consumed so far and zstd frames completed. */
void kvm_export_reader_position(const kvm_export_reader *r, uint64_t *offset,
                                uint32_t *frames);

/**
 * Bytes of memory the reader holds now: its buffers and the zstd context.
 * Bounded by the caps of kvm_export_reader_opts (about max_partition +
 * max_key + max_value + 2^window_log_max + 1 MiB), whatever the file says.
 */
size_t kvm_export_reader_memory(const kvm_export_reader *r);

/** Release the reader and everything it owns.  NULL is allowed. */
void kvm_export_reader_close(kvm_export_reader *r);

/* ------------------------------------------------------------------ */
/* Inspect                                                             */
/* ------------------------------------------------------------------ */

/** What kvm_export_inspect() found. */
struct kvm_export_info {
	struct kvm_export_header header;    /**< as the reader's */
	struct kvm_export_trailer trailer;  /**< from the trailer frame */
	uint64_t file_bytes;                /**< size of the file */
	uint32_t frames;                    /**< zstd frames, when verified */
	int verified;                       /**< 1 when every byte was checked */
};

/**
 * Read an export's header and trailer.
 *
 * Without @verify, only the header frame, the end index and the trailer
 * frame are read (a few KiB, whatever the file's size); their zstd
 * checksums and structure are checked, the records are not.  With
 * @verify, or when the input cannot seek (standard input), every record
 * is read and every frame checksum, count and digest checked.
 *
 * @param[out] out  freed with kvm_export_info_free(); NULL on failure
 * @return 0, or any error kvm_export_reader_open()/next() return.
 */
int kvm_export_inspect(const char *path, int verify,
                       const struct kvm_export_reader_opts *opts,
                       struct kvm_export_info **out, struct kvm_error *err);

/** Release what kvm_export_inspect() returned.  NULL is allowed. */
void kvm_export_info_free(struct kvm_export_info *info);

#ifdef __cplusplus
}
#endif

#endif /* KVM_EXPORT_H */
