/*
 * test_kvvalue.c - KV values (format/kvvalue.c) come out as the msgpack
 * specification encodes them, byte for byte: the expected bytes below are
 * written from the specification, not from any encoder.
 */
#include "kvmt.h"

#include <stdlib.h>
#include <string.h>

#include "kvvalue.h"

static void expect(kvm_value *v, const unsigned char *want, size_t n)
{
	struct kvm_error err = { 0 };
	const void *buf;
	size_t len;

	assert_int_equal(kvm_value_bytes(v, &buf, &len, &err), 0);
	assert_int_equal(len, n);
	assert_memory_equal(buf, want, n);
}

static void test_kvvalue__scalars_in_their_smallest_form(void **state)
{
	static const unsigned char want[] = {
		0x8c,                               /* fixmap of 12 pairs */
		0xa1, 'v', 0x01,                    /* "v": 1 */
		0xa1, 'a', 0xff,                    /* -1: negative fixint */
		0xa1, 'b', 0xcc, 0xc8,              /* 200: uint8 */
		0xa1, 'c', 0xd1, 0xff, 0x38,        /* -200: int16 */
		0xa1, 'd', 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0, /* INT64_MIN: int64 */
		0xa1, 'e', 0xc0,                    /* nil */
		0xa1, 'f', 0xc3,                    /* true */
		0xa1, 'g', 0xc2,                    /* false */
		0xa1, 'h', 0xc4, 0x03, 0x00, 0xff, 0x10, /* bin8 */
		0xa1, 'i', 0x92, 0xa1, 'x', 0xc0,   /* ["x", nil] */
		0xa1, 'j', 0x07,                    /* unsigned 7: positive fixint */
		0xa1, 'k', 0xcf, 0xf0, 0, 0, 0, 0, 0, 0, 0x01, /* 2^64 - 2^60 + 1: uint64 */
	};
	struct kvm_error err = { 0 };
	kvm_value *v;
	(void)state;

	assert_int_equal(kvm_value_create(&v, &err), 0);
	kvm_value_map(v, 12);
	kvm_value_key(v, "v"); kvm_value_int(v, 1);
	kvm_value_key(v, "a"); kvm_value_int(v, -1);
	kvm_value_key(v, "b"); kvm_value_int(v, 200);
	kvm_value_key(v, "c"); kvm_value_int(v, -200);
	kvm_value_key(v, "d"); kvm_value_int(v, INT64_MIN);
	kvm_value_key(v, "e"); kvm_value_nil(v);
	kvm_value_key(v, "f"); kvm_value_bool(v, 1);
	kvm_value_key(v, "g"); kvm_value_bool(v, 0);
	kvm_value_key(v, "h"); kvm_value_bin(v, "\x00\xff\x10", 3);
	kvm_value_key(v, "i"); kvm_value_array(v, 2);
	kvm_value_str(v, "x", 1); kvm_value_nil(v);
	kvm_value_key(v, "j"); kvm_value_uint(v, 7);
	kvm_value_key(v, "k"); kvm_value_uint(v, UINT64_C(0xf000000000000001));
	expect(v, want, sizeof(want));
	kvm_value_free(v);
}

static void test_kvvalue__strings_by_length(void **state)
{
	struct kvm_error err = { 0 };
	unsigned char want[3 + 300];
	char text[300];
	kvm_value *v;
	(void)state;

	memset(text, 'q', sizeof(text));
	assert_int_equal(kvm_value_create(&v, &err), 0);
	kvm_value_str(v, text, 31);                 /* the longest fixstr */
	want[0] = 0xbf;
	memcpy(want + 1, text, 31);
	expect(v, want, 32);
	kvm_value_reset(v);
	kvm_value_str(v, text, 32);                 /* str8 */
	want[0] = 0xd9;
	want[1] = 32;
	memcpy(want + 2, text, 32);
	expect(v, want, 34);
	kvm_value_reset(v);
	kvm_value_str(v, text, 300);                /* str16 */
	want[0] = 0xda;
	want[1] = 0x01;
	want[2] = 0x2c;
	memcpy(want + 3, text, 300);
	expect(v, want, 303);
	kvm_value_reset(v);
	kvm_value_str(v, "", 0);
	expect(v, (const unsigned char *)"\xa0", 1);
	kvm_value_free(v);
}

static void test_kvvalue__timestamps_in_the_three_forms(void **state)
{
	/* timestamp 32: seconds only, below 2^32 */
	static const unsigned char t32[] = { 0xd6, 0xff, 0x65, 0x53, 0xf1, 0x00 };
	/* timestamp 64: nsec << 34 | sec, sec below 2^34 */
	static const unsigned char t64[] = {
		0xd7, 0xff, 0x00, 0x01, 0x38, 0x80, 0x65, 0x53, 0xf1, 0x00,
	};
	/* timestamp 96: before 1970 */
	static const unsigned char t96[] = {
		0xc7, 0x0c, 0xff, 0x1d, 0xcd, 0x65, 0x00,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	struct kvm_error err = { 0 };
	kvm_value *v;
	(void)state;

	assert_int_equal(kvm_value_create(&v, &err), 0);
	kvm_value_timestamp(v, 1700000000, 0);
	expect(v, t32, sizeof(t32));
	kvm_value_reset(v);
	/* 20 microseconds: 20000 ns = 0x4e20; 0x4e20 << 34 = 0x0001388000000000 */
	kvm_value_timestamp(v, 1700000000, 20000);
	expect(v, t64, sizeof(t64));
	kvm_value_reset(v);
	kvm_value_timestamp(v, -1, 500000000);
	expect(v, t96, sizeof(t96));
	/* a nanosecond count of a second or more is refused, sticky until reset */
	kvm_value_reset(v);
	kvm_value_timestamp(v, 0, 1000000000u);
	kvm_value_nil(v);
	{
		const void *buf;
		size_t len;

		assert_int_equal(kvm_value_bytes(v, &buf, &len, &err), KVM_ENOMEM);
	}
	kvm_value_reset(v);
	kvm_value_nil(v);
	expect(v, (const unsigned char *)"\xc0", 1);
	kvm_value_free(v);
	kvm_value_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kvvalue__scalars_in_their_smallest_form),
		cmocka_unit_test(test_kvvalue__strings_by_length),
		cmocka_unit_test(test_kvvalue__timestamps_in_the_three_forms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
