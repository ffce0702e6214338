/*
 * export_int.h - what the export writer and reader share inside format/.
 *
 * Not installed, not part of the API: the end index layout, the caps of
 * maps and the digest, kept in one place so writer and reader cannot drift.
 */
#ifndef KVM_EXPORT_INT_H
#define KVM_EXPORT_INT_H

#include <stddef.h>
#include <stdint.h>

/* Every digest of the file is XXH64 with seed 0 (export-format.md, 4), from
 * libxxhash: XXH64_reset(s, 0), XXH64_update(), XXH64_digest() (which leaves
 * the state usable).  The states stay opaque, made by XXH64_createState():
 * xxhash.h reserves the struct layout (XXH_STATIC_LINKING_ONLY) for static
 * linking, as it may change between releases of the shared library.
 * On such a state XXH64_reset() and XXH64_update() always return XXH_OK,
 * so their results are not checked. */
#include <xxhash.h>

/* The end index: a zstd skippable frame of 24 bytes (export-format.md, 5). */
#define KVM_EXPORT_INDEX_SIZE   24
#define KVM_EXPORT_INDEX_MAGIC  0x184D2A5Eu
#define KVM_EXPORT_INDEX_TAG    "KVMGEND1"

/* Largest header, section or end map, encoded: 256 sections of 4 short
 * fields fit with room to spare, and no map may make the reader allocate
 * more than this. */
#define KVM_EXPORT_MAX_MAP_BYTES (256u << 10)
/* Most keys in one map and deepest nesting of a value the reader skips. */
#define KVM_EXPORT_MAX_MAP_KEYS  32
#define KVM_EXPORT_MAX_DEPTH     8

/* Write the 24-byte end index that points at @end_frame_offset. */
void kvm_export_index_encode(uint8_t out[KVM_EXPORT_INDEX_SIZE],
                             uint64_t end_frame_offset);

/* 1 when @buf is a valid end index; its offset goes to *end_frame_offset. */
int kvm_export_index_decode(const uint8_t buf[KVM_EXPORT_INDEX_SIZE],
                            uint64_t *end_frame_offset);

#endif /* KVM_EXPORT_INT_H */
