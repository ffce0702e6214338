/*
 * xxh64.c - XXH64, written from the xxHash specification
 * (doc/xxhash_spec.md of the xxHash project).  Little-endian reads are
 * done with memcpy and an explicit byte order, so the result is the same
 * on any host.
 */
#include <endian.h>
#include <string.h>

#include "xxh64.h"

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static uint64_t rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t read64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static uint32_t read32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t round64(uint64_t acc, uint64_t lane)
{
	acc += lane * P2;
	acc = rotl(acc, 31);
	return acc * P1;
}

static uint64_t merge(uint64_t acc, uint64_t v)
{
	acc ^= round64(0, v);
	return acc * P1 + P4;
}

void kvm_xxh64_init(struct kvm_xxh64 *h, uint64_t seed)
{
	memset(h, 0, sizeof(*h));
	h->seed = seed;
	h->v[0] = seed + P1 + P2;
	h->v[1] = seed + P2;
	h->v[2] = seed;
	h->v[3] = seed - P1;
}

/* @v is the caller's local copy of the lanes: the state itself could
 * alias the input, which would keep every lane in memory. */
static void stripe(uint64_t v[4], const uint8_t *p)
{
	v[0] = round64(v[0], read64(p));
	v[1] = round64(v[1], read64(p + 8));
	v[2] = round64(v[2], read64(p + 16));
	v[3] = round64(v[3], read64(p + 24));
}

void kvm_xxh64_update(struct kvm_xxh64 *h, const void *data, size_t len)
{
	const uint8_t *p = data;
	const uint8_t *end = p + len;
	uint64_t v[4];

	if (len == 0)
		return;
	h->total += len;
	if (h->buffered + len < 32) {
		memcpy(h->buf + h->buffered, p, len);
		h->buffered += (uint32_t)len;
		return;
	}
	memcpy(v, h->v, sizeof(v));
	if (h->buffered > 0) {
		size_t fill = 32 - h->buffered;

		memcpy(h->buf + h->buffered, p, fill);
		stripe(v, h->buf);
		p += fill;
		h->buffered = 0;
	}
	while (end - p >= 32) {
		stripe(v, p);
		p += 32;
	}
	memcpy(h->v, v, sizeof(v));
	if (p < end) {
		memcpy(h->buf, p, (size_t)(end - p));
		h->buffered = (uint32_t)(end - p);
	}
}

uint64_t kvm_xxh64_digest(const struct kvm_xxh64 *h)
{
	const uint8_t *p = h->buf;
	const uint8_t *end = p + h->buffered;
	uint64_t acc;

	if (h->total >= 32) {
		acc = rotl(h->v[0], 1) + rotl(h->v[1], 7) + rotl(h->v[2], 12) +
		      rotl(h->v[3], 18);
		acc = merge(acc, h->v[0]);
		acc = merge(acc, h->v[1]);
		acc = merge(acc, h->v[2]);
		acc = merge(acc, h->v[3]);
	} else {
		acc = h->seed + P5;
	}
	acc += h->total;
	while (end - p >= 8) {
		acc ^= round64(0, read64(p));
		acc = rotl(acc, 27) * P1 + P4;
		p += 8;
	}
	if (end - p >= 4) {
		acc ^= (uint64_t)read32(p) * P1;
		acc = rotl(acc, 23) * P2 + P3;
		p += 4;
	}
	while (p < end) {
		acc ^= (uint64_t)*p * P5;
		acc = rotl(acc, 11) * P1;
		p++;
	}
	acc ^= acc >> 33;
	acc *= P2;
	acc ^= acc >> 29;
	acc *= P3;
	acc ^= acc >> 32;
	return acc;
}

uint64_t kvm_xxh64(const void *data, size_t len, uint64_t seed)
{
	struct kvm_xxh64 h;

	kvm_xxh64_init(&h, seed);
	kvm_xxh64_update(&h, data, len);
	return kvm_xxh64_digest(&h);
}
