/*
 * test_error.c - the error vocabulary (lib/error.c): every code has a
 * name and a text, messages gain context on the way up, and a message
 * too long for the buffer keeps its beginning.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "kvm/error.h"

static const int CODES[] = {
	KVM_EINVAL, KVM_ENOMEM, KVM_ESTATE, KVM_EINTERNAL, KVM_END, KVM_ECANCELED,
	KVM_ENOTEXPORT, KVM_EVERSION, KVM_ETRUNCATED, KVM_ECORRUPT,
	KVM_EDIGEST, KVM_ECOUNT, KVM_ELIMIT, KVM_ETRAILING, KVM_EOTHERDB,
	KVM_EDB, KVM_ECONNECT, KVM_ESCHEMA, KVM_EKVFOREIGN, KVM_EKVEXISTS,
	KVM_EKVBUSY, KVM_EMAPFULL, KVM_EKV, KVM_ELOCKED, KVM_EDIRTY,
	KVM_ETOONEW, KVM_EUNKNOWNVERSION, KVM_ENOTSUP, KVM_EDROP, KVM_EMISMATCH,
	KVM_EKEYSIZE, KVM_EDANGLING, KVM_EORDER, KVM_ENOTABLE, KVM_ENULL,
	KVM_EVALUESIZE, KVM_EKVLOCKED,
};

static void test_error__every_code_has_a_name_and_a_text(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(CODES) / sizeof(CODES[0]); i++) {
		const char *name = kvm_errname(CODES[i]);

		assert_non_null(name);
		assert_true(strncmp(name, "KVM_", 4) == 0);
		assert_string_not_equal(kvm_strerror(CODES[i]), "unknown error");
		for (size_t j = 0; j < i; j++) {
			assert_string_not_equal(name, kvm_errname(CODES[j]));
			assert_string_not_equal(kvm_strerror(CODES[i]), kvm_strerror(CODES[j]));
		}
	}
	/* pinned values: scripts and JSON output rely on them */
	assert_int_equal(KVM_END, -5);
	assert_int_equal(KVM_ENOTEXPORT, -100);
	assert_int_equal(KVM_ETRAILING, -107);
	assert_int_equal(KVM_EDB, -200);
	assert_int_equal(KVM_EKVFOREIGN, -300);
	assert_int_equal(KVM_EKV, -304);
	assert_int_equal(KVM_EKVLOCKED, -305);
	assert_int_equal(KVM_ELOCKED, -400);
	assert_int_equal(KVM_ENOTSUP, -404);
	assert_int_equal(KVM_ECANCELED, -6);
	assert_int_equal(KVM_EKEYSIZE, -500);
	assert_int_equal(KVM_ENOTABLE, -503);
	assert_int_equal(KVM_EOTHERDB, -108);
	assert_int_equal(KVM_ENULL, -504);
	assert_int_equal(KVM_EVALUESIZE, -505);
	assert_string_equal(kvm_errname(ENOSPC), "ENOSPC");
	assert_string_equal(kvm_strerror(ENOENT), strerror(ENOENT));
	assert_null(kvm_errname(-9999));
	assert_string_equal(kvm_strerror(-9999), "unknown error");
}

static void test_error__context_is_added_in_front(void **state)
{
	struct kvm_error err = { 0 };
	(void)state;

	assert_int_equal(kvm_error_set(&err, KVM_ECORRUPT, "bad byte %d", 7), KVM_ECORRUPT);
	assert_int_equal(kvm_error_prefix(&err, "table '%s'", "auth_users"), KVM_ECORRUPT);
	assert_int_equal(kvm_error_prefix(&err, "migrator 'auth'"), KVM_ECORRUPT);
	assert_string_equal(err.msg, "migrator 'auth': table 'auth_users': bad byte 7");
	assert_int_equal(err.code, KVM_ECORRUPT);
	/* a NULL error is allowed and ignored */
	assert_int_equal(kvm_error_set(NULL, KVM_EINVAL, "x"), KVM_EINVAL);
	assert_int_equal(kvm_error_prefix(NULL, "x"), KVM_EINVAL);
}

static void test_error__long_messages_keep_their_beginning(void **state)
{
	struct kvm_error err = { 0 };
	char big[3 * KVM_ERROR_MSG_MAX];
	(void)state;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	kvm_error_set(&err, KVM_EINVAL, "%s", big);
	assert_int_equal(strlen(err.msg), KVM_ERROR_MSG_MAX - 1);
	kvm_error_prefix(&err, "file 'a.kvm'");
	assert_int_equal(strlen(err.msg), KVM_ERROR_MSG_MAX - 1);
	assert_true(strncmp(err.msg, "file 'a.kvm': xxx", 17) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error__every_code_has_a_name_and_a_text),
		cmocka_unit_test(test_error__context_is_added_in_front),
		cmocka_unit_test(test_error__long_messages_keep_their_beginning),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
