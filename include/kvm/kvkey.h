/*
 * kvm/kvkey.h - how an entry (partition, key) becomes one LMDB key.
 *
 * The KV store is one LMDB database.  The LMDB key of an entry is
 *
 *     partition, with every 0x00 byte written as 0x00 0xFF
 *     0x00 0x01
 *     key, unchanged
 *
 * so byte order of LMDB keys is the order of (partition, key), every
 * partition is one contiguous range, and anyone can decode a key: the
 * first 0x00 not followed by 0xFF ends the partition.  The LMDB value is
 * the entry's msgpack value, unchanged.
 */
#ifndef KVM_KVKEY_H
#define KVM_KVKEY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The partition where kvmigrate keeps its own metadata. */
#define KVM_KV_META_PARTITION "kv-internal-metadata"

/** The key, in KVM_KV_META_PARTITION, of the KV migration version
 *  (a msgpack unsigned integer). */
#define KVM_KV_META_SCHEMA_VERSION "kv-schema-version"

/** The key, in KVM_KV_META_PARTITION, of the migration id: a msgpack str
 *  of 32 hex digits, new for every store kvmigrate builds. */
#define KVM_KV_META_MIGRATION_ID "kv-migration-id"

/** The key, in KVM_KV_META_PARTITION, of the file digest of the export
 *  the store was built from: a msgpack uint. */
#define KVM_KV_META_EXPORT_DIGEST "kv-export-digest"

/**
 * Bytes the LMDB key of (@part of @plen bytes, a key of @klen bytes)
 * takes.
 */
size_t kvm_kv_key_size(const void *part, size_t plen, size_t klen);

/**
 * Write the LMDB key of (@part, @key) to @out, which must hold
 * kvm_kv_key_size(part, plen, klen) bytes.
 *
 * @return the bytes written
 */
size_t kvm_kv_key_encode(void *out, const void *part, size_t plen,
                         const void *key, size_t klen);

/**
 * The partition and key of LMDB key @lkey (@len bytes), the way back of
 * kvm_kv_key_encode(): the partition into @part (room for @len bytes),
 * its length into *@plen, and where the key starts in @lkey into
 * *@key_off.  Returns 0, or -1 when @lkey is not a key kvmigrate writes.
 */
int kvm_kv_key_decode(const void *lkey, size_t len, void *part, size_t *plen,
                      size_t *key_off);

/**
 * Decode a msgpack value that is exactly one non-negative integer (any
 * of msgpack's integer encodings) filling all @len bytes.
 *
 * @return 0 and *@out; -1 when the bytes are anything else
 */
int kvm_kv_decode_uint(const void *buf, size_t len, uint64_t *out);

#ifdef __cplusplus
}
#endif

#endif /* KVM_KVKEY_H */
