/*
 * kvvalue.c - the msgpack value of a KV entry, with msgpack-c's packer
 * writing into one reused msgpack_sbuffer.
 */
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "kvvalue.h"

struct kvm_value {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int failed;            /* a write failed since the last reset */
};

/* Each packer call returns -1 when the buffer cannot grow. */
#define PACK(v, call) do { if ((call) != 0) (v)->failed = 1; } while (0)

int kvm_value_create(kvm_value **out, struct kvm_error *err)
{
	kvm_value *v = calloc(1, sizeof(*v));

	*out = NULL;
	if (v == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	msgpack_sbuffer_init(&v->sb);
	msgpack_packer_init(&v->pk, &v->sb, msgpack_sbuffer_write);
	*out = v;
	return 0;
}

void kvm_value_free(kvm_value *v)
{
	if (v == NULL)
		return;
	msgpack_sbuffer_destroy(&v->sb);
	free(v);
}

void kvm_value_reset(kvm_value *v)
{
	msgpack_sbuffer_clear(&v->sb);
	v->failed = 0;
}

void kvm_value_map(kvm_value *v, uint32_t n)
{
	PACK(v, msgpack_pack_map(&v->pk, n));
}

void kvm_value_array(kvm_value *v, uint32_t n)
{
	PACK(v, msgpack_pack_array(&v->pk, n));
}

void kvm_value_key(kvm_value *v, const char *name)
{
	kvm_value_str(v, name, strlen(name));
}

void kvm_value_str(kvm_value *v, const void *s, size_t len)
{
	if (len > UINT32_MAX) {
		v->failed = 1;
		return;
	}
	PACK(v, msgpack_pack_str(&v->pk, len));
	PACK(v, msgpack_pack_str_body(&v->pk, s, len));
}

void kvm_value_bin(kvm_value *v, const void *p, size_t len)
{
	if (len > UINT32_MAX) {
		v->failed = 1;
		return;
	}
	PACK(v, msgpack_pack_bin(&v->pk, len));
	PACK(v, msgpack_pack_bin_body(&v->pk, p, len));
}

void kvm_value_int(kvm_value *v, int64_t i)
{
	PACK(v, msgpack_pack_int64(&v->pk, i));
}

void kvm_value_uint(kvm_value *v, uint64_t u)
{
	PACK(v, msgpack_pack_uint64(&v->pk, u));
}

void kvm_value_bool(kvm_value *v, int b)
{
	PACK(v, b ? msgpack_pack_true(&v->pk) : msgpack_pack_false(&v->pk));
}

void kvm_value_nil(kvm_value *v)
{
	PACK(v, msgpack_pack_nil(&v->pk));
}

void kvm_value_timestamp(kvm_value *v, int64_t sec, uint32_t nsec)
{
	msgpack_timestamp ts = { .tv_sec = sec, .tv_nsec = nsec };

	if (nsec >= 1000000000u) {
		v->failed = 1;
		return;
	}
	PACK(v, msgpack_pack_timestamp(&v->pk, &ts));
}

int kvm_value_bytes(kvm_value *v, const void **buf, size_t *len,
                    struct kvm_error *err)
{
	if (v->failed)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory (or a value "
		                     "too large) while encoding a KV value");
	*buf = v->sb.data;
	*len = v->sb.size;
	return 0;
}
