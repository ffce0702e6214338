/*
 * xxh64.h - XXH64 (the xxHash specification, 64-bit variant), streaming.
 *
 * The export file's section and file digests are XXH64 with seed 0, so
 * that anyone can recompute them with a stock xxHash (see
 * design/export-format.md, section 4).  Internal to format/.
 *
 *     struct kvm_xxh64 h;
 *     kvm_xxh64_init(&h, 0);
 *     kvm_xxh64_update(&h, p, n);   ... any number of times
 *     uint64_t d = kvm_xxh64_digest(&h);   (h stays usable)
 */
#ifndef KVM_XXH64_H
#define KVM_XXH64_H

#include <stddef.h>
#include <stdint.h>

struct kvm_xxh64 {
	uint64_t total;      /* bytes hashed so far */
	uint64_t v[4];       /* the four lanes */
	uint8_t  buf[32];    /* bytes not yet forming a full stripe */
	uint32_t buffered;   /* 0..31 */
	uint64_t seed;
};

void kvm_xxh64_init(struct kvm_xxh64 *h, uint64_t seed);
void kvm_xxh64_update(struct kvm_xxh64 *h, const void *data, size_t len);
uint64_t kvm_xxh64_digest(const struct kvm_xxh64 *h);
/** One-shot convenience. */
uint64_t kvm_xxh64(const void *data, size_t len, uint64_t seed);

#endif /* KVM_XXH64_H */
