/*
 * kvvalue.h - building the msgpack value of a KV entry, one field at a time.
 *
 * A KV value is a msgpack map keyed by column names (old-schema.md, "The KV
 * layout"): text as str, bytea as bin, integers as int, booleans as bool,
 * timestamptz as the msgpack timestamp extension (type -1), jsonb as str
 * holding its text, text[] as an array of str, NULL as nil.  The builder
 * writes the smallest msgpack encoding of each item (msgpack-c's packer),
 * so the same row always gives the same bytes.
 *
 *     kvm_value *v;
 *     kvm_value_create(&v, &err);
 *     per row:
 *         kvm_value_reset(v);
 *         kvm_value_map(v, 3);
 *         kvm_value_key(v, "v");     kvm_value_int(v, 1);
 *         kvm_value_key(v, "name");  kvm_value_str(v, name, len);
 *         kvm_value_key(v, "when");  kvm_value_timestamp(v, sec, nsec);
 *         if (kvm_value_bytes(v, &buf, &len, &err) != 0) fail
 *     kvm_value_free(v);
 *
 * Errors (out of memory) are sticky until kvm_value_reset and reported by
 * kvm_value_bytes.  The handle hides msgpack: only format/ includes its
 * header.  The buffer is reused across rows: no allocation per row once it
 * has grown to the largest value.
 */
#ifndef KVM_KVVALUE_H
#define KVM_KVVALUE_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/error.h"

typedef struct kvm_value kvm_value;

/** A new, empty builder, freed with kvm_value_free.
 *  @return 0; KVM_ENOMEM */
int kvm_value_create(kvm_value **out, struct kvm_error *err);

/** Free @v and its buffer.  NULL is allowed. */
void kvm_value_free(kvm_value *v);

/** Empty the buffer (keeping its memory) and clear a sticky error. */
void kvm_value_reset(kvm_value *v);

/** A map of @n pairs follows: @n keys, each followed by its value. */
void kvm_value_map(kvm_value *v, uint32_t n);
/** An array of @n items follows. */
void kvm_value_array(kvm_value *v, uint32_t n);
/** A map key: a NUL-terminated column name, as str. */
void kvm_value_key(kvm_value *v, const char *name);
void kvm_value_str(kvm_value *v, const void *s, size_t len);
void kvm_value_bin(kvm_value *v, const void *p, size_t len);
void kvm_value_int(kvm_value *v, int64_t i);
/** An unsigned integer (a digest, say): positive fixint or uint 8-64. */
void kvm_value_uint(kvm_value *v, uint64_t u);
void kvm_value_bool(kvm_value *v, int b);
void kvm_value_nil(kvm_value *v);
/** The timestamp extension (type -1), in its smallest form (32, 64 or 96
 *  bits); @nsec below 1e9. */
void kvm_value_timestamp(kvm_value *v, int64_t sec, uint32_t nsec);

/**
 * The bytes built since the last reset, valid until the next call on @v.
 * @return 0; KVM_ENOMEM when a write failed since the last reset
 */
int kvm_value_bytes(kvm_value *v, const void **buf, size_t *len,
                    struct kvm_error *err);

#endif /* KVM_KVVALUE_H */
