/*
 * kvm/schema.h - the numbered SQL schema versions of the old tables.
 *
 * A schema source is an ordered list of versions, each one SQL file named
 * as golang-migrate names them:
 *
 *     NNNNNN_name.up.sql        NNNNNN: the version, a decimal number
 *
 * Versions are unsigned integers compared as numbers; they need not be
 * contiguous (000001, 000002, ... and 20210314093000 are both common).
 * Two sources exist:
 *
 *   - the built-in one: pkg-migrators/schema/NNNNNN_name.up.sql, embedded in the
 *     binary when it is built, so an installed kvmigrate needs no file
 *     beside it (kvm_schema_builtin);
 *   - a directory in golang-migrate's layout (kvm_schema_load_dir), for
 *     --schema-dir.  Files ending in .down.sql and files that do not end in
 *     .up.sql are ignored; an .up.sql file whose name does not parse is an
 *     error, so that a misnamed version is never silently skipped.
 *
 * The last SQL version is the highest version of the source.  The KV
 * migration version, which the version table holds once the metadata lives
 * in the KV store, is the last SQL version plus one.
 *
 *     kvm_schema *s;
 *     kvm_schema_builtin(&s, &err)  or  kvm_schema_load_dir(&s, dir, &err)
 *     for (i = 0; i < kvm_schema_count(s); i++)
 *         v = kvm_schema_get(s, i)       -- ascending version order
 *     kvm_schema_free(s)
 */
#ifndef KVM_SCHEMA_H
#define KVM_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest size of one version file, in bytes. */
#define KVM_SCHEMA_MAX_FILE (16u << 20)

/** Most versions one source may hold. */
#define KVM_SCHEMA_MAX_VERSIONS 100000u

/**
 * Largest version number: the version table stores a bigint, and the KV
 * migration version (last plus one) must fit too.
 */
#define KVM_SCHEMA_MAX_VERSION (INT64_MAX - 1)

/** One version of a source.  Owned by the source; valid until it is freed. */
struct kvm_schema_version {
	uint64_t version;   /**< the number of the file name */
	const char *name;   /**< the file name, "000001_auth.up.sql" */
	const char *sql;    /**< the file's bytes, NUL-terminated */
	size_t len;         /**< bytes of sql, without the terminating NUL */
};

/** A schema source: an opaque, immutable list of versions. */
typedef struct kvm_schema kvm_schema;

/**
 * The versions built into this binary (pkg-migrators/schema/).
 *
 * @param[out] out  the source, freed with kvm_schema_free()
 * @return 0; KVM_ENOMEM; KVM_EINTERNAL when the embedded files break the
 *         rules of kvm_schema_load_dir (a build error)
 */
int kvm_schema_builtin(kvm_schema **out, struct kvm_error *err);

/**
 * The versions of directory @dir (golang-migrate's layout).
 *
 * @param[out] out  the source, freed with kvm_schema_free()
 * @return 0; an errno value when @dir or a file cannot be read (the
 *         message names it); KVM_ESCHEMA when an .up.sql file's name does
 *         not parse, two files have the same version, a version exceeds
 *         KVM_SCHEMA_MAX_VERSION, a file holds a NUL byte or is larger than
 *         KVM_SCHEMA_MAX_FILE, or the directory holds no version at all;
 *         KVM_ENOMEM
 */
int kvm_schema_load_dir(kvm_schema **out, const char *dir,
                        struct kvm_error *err);

/** Free a source and every string it handed out.  NULL is allowed. */
void kvm_schema_free(kvm_schema *s);

/** Number of versions (at least 1). */
size_t kvm_schema_count(const kvm_schema *s);

/** Version @i (0-based, ascending order), or NULL when out of range. */
const struct kvm_schema_version *kvm_schema_get(const kvm_schema *s, size_t i);

/**
 * The index of version @version, or -1 when the source has no such version.
 */
long kvm_schema_index(const kvm_schema *s, uint64_t version);

/** The last SQL version: the highest version of the source. */
uint64_t kvm_schema_last(const kvm_schema *s);

/** The KV migration version: kvm_schema_last() + 1. */
uint64_t kvm_schema_kv_version(const kvm_schema *s);

/**
 * Where the versions come from, for messages: "the built-in schema" or
 * "schema directory 'DIR'".  Owned by the source.
 */
const char *kvm_schema_origin(const kvm_schema *s);

/** The directory of a source loaded with kvm_schema_load_dir, else NULL. */
const char *kvm_schema_dir(const kvm_schema *s);

#ifdef __cplusplus
}
#endif

#endif /* KVM_SCHEMA_H */
