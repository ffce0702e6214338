/*
 * kvkey.c - the LMDB key of an entry, and the one msgpack integer the
 * tool reads back from a KV store (its recorded version).
 */
#include <string.h>

#include "kvm/kvkey.h"

/*
 * Both walk the partition from one 0x00 byte to the next with memchr:
 * partitions are text and hardly ever hold one, so a partition is one
 * memchr and one memcpy rather than a loop over its bytes (the import
 * encodes a key per record, on the thread that fills the store).
 */
size_t kvm_kv_key_size(const void *part, size_t plen, size_t klen)
{
	const unsigned char *p = part, *zero;
	size_t n = plen + 2 + klen;

	while (plen > 0 && (zero = memchr(p, 0x00, plen)) != NULL) {
		n++;
		plen -= (size_t)(zero - p) + 1;
		p = zero + 1;
	}
	return n;
}

size_t kvm_kv_key_encode(void *out, const void *part, size_t plen,
                         const void *key, size_t klen)
{
	const unsigned char *p = part;
	unsigned char *o = out;
	size_t n = 0;

	while (plen > 0) {
		const unsigned char *zero = memchr(p, 0x00, plen);
		size_t run = zero != NULL ? (size_t)(zero - p) + 1 : plen;

		memcpy(o + n, p, run);
		n += run;
		if (zero != NULL)
			o[n++] = 0xFF;
		p += run;
		plen -= run;
	}
	o[n++] = 0x00;
	o[n++] = 0x01;
	if (klen > 0)
		memcpy(o + n, key, klen);
	return n + klen;
}

int kvm_kv_key_decode(const void *lkey, size_t len, void *part, size_t *plen,
                      size_t *key_off)
{
	const unsigned char *k = lkey;
	unsigned char *o = part;
	size_t n = 0;

	for (size_t i = 0; i + 1 < len; i++) {
		if (k[i] != 0x00) {
			o[n++] = k[i];
			continue;
		}
		if (k[i + 1] == 0x01) {
			*plen = n;
			*key_off = i + 2;
			return 0;
		}
		if (k[i + 1] != 0xFF)
			return -1;
		o[n++] = 0x00;
		i++;
	}
	return -1;
}

static uint64_t be(const unsigned char *b, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | b[i];
	return v;
}

int kvm_kv_decode_uint(const void *buf, size_t len, uint64_t *out)
{
	const unsigned char *b = buf;
	size_t need;
	int is_signed = 0;

	if (len == 0)
		return -1;
	if (b[0] <= 0x7f) {
		if (len != 1)
			return -1;
		*out = b[0];
		return 0;
	}
	switch (b[0]) {
	case 0xcc: need = 1; break;
	case 0xcd: need = 2; break;
	case 0xce: need = 4; break;
	case 0xcf: need = 8; break;
	case 0xd0: need = 1; is_signed = 1; break;
	case 0xd1: need = 2; is_signed = 1; break;
	case 0xd2: need = 4; is_signed = 1; break;
	case 0xd3: need = 8; is_signed = 1; break;
	default: return -1;
	}
	if (len != 1 + need)
		return -1;
	/* a signed encoding of a non-negative value is still a valid count */
	if (is_signed && (b[1] & 0x80))
		return -1;
	*out = be(b + 1, need);
	return 0;
}
