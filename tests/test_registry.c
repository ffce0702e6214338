/*
 * test_registry.c - the registry of the package migrators
 * (pkg-migrators/registry.c): the packages in the documented order, each
 * with a valid, unique name and what the engine needs, lookup by name,
 * and the list of names for messages, cut to any buffer without writing
 * past it.
 */
#include "kvmt.h"

#include <stdio.h>
#include <string.h>

#include "kvm/export.h"
#include "kvm/migrator.h"

#define ALL "auth, refs, staging, actions, multiparts"

static void test_registry__packages_in_the_documented_order(void **state)
{
	static const char *const want[] = {
		"auth", "refs", "staging", "actions", "multiparts",
	};

	(void)state;
	assert_int_equal(kvm_migrator_count(), 5);
	for (size_t i = 0; i < kvm_migrator_count(); i++) {
		const struct kvm_migrator *m = kvm_migrator_get(i);

		assert_non_null(m);
		assert_string_equal(m->name, want[i]);
		assert_int_equal(m->abi, KVM_MIGRATOR_ABI);
		assert_true(kvm_export_package_name_ok(m->name, strlen(m->name)));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(kvm_migrator_get(j)->name, m->name);
		/* what the engine needs of every migrator */
		assert_non_null(m->tables);
		assert_non_null(m->tables[0]);
		assert_true(m->nsources > 0);
		for (size_t s = 0; s < m->nsources; s++) {
			assert_non_null(m->sources[s].table);
			assert_non_null(m->sources[s].query);
			assert_non_null(m->sources[s].row);
			assert_true(m->sources[s].ncols > 0);
		}
		assert_ptr_equal(kvm_migrator_find(m->name), m);
	}
	assert_null(kvm_migrator_get(kvm_migrator_count()));
	assert_null(kvm_migrator_find("nosuch"));
	assert_null(kvm_migrator_find(""));
}

static void test_registry__the_names_in_a_large_buffer(void **state)
{
	char buf[128];

	(void)state;
	assert_int_equal(kvm_migrator_names(buf, sizeof(buf)), strlen(ALL));
	assert_string_equal(buf, ALL);
	/* exactly the room it needs */
	assert_int_equal(kvm_migrator_names(buf, strlen(ALL) + 1), strlen(ALL));
	assert_string_equal(buf, ALL);
	/* nothing at all: the length alone */
	assert_int_equal(kvm_migrator_names(NULL, 0), strlen(ALL));
}

/* Every size from 1 to the list's length: the list is cut to size - 1
 * bytes, NUL-terminated, and nothing after the buffer is written. */
static void test_registry__the_names_cut_to_a_small_buffer(void **state)
{
	char buf[256];

	(void)state;
	for (size_t size = 1; size <= strlen(ALL); size++) {
		memset(buf, 'X', sizeof(buf));
		assert_int_equal(kvm_migrator_names(buf, size), strlen(ALL));
		assert_int_equal(strlen(buf), size - 1);
		assert_memory_equal(buf, ALL, size - 1);
		for (size_t i = size; i < sizeof(buf); i++)
			if (buf[i] != 'X')
				fail_msg("size %zu: byte %zu written", size, i);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry__packages_in_the_documented_order),
		cmocka_unit_test(test_registry__the_names_in_a_large_buffer),
		cmocka_unit_test(test_registry__the_names_cut_to_a_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
