/*
 * test_schema.c - schema sources (lib/schema.c): the built-in versions
 * and --schema-dir directories in golang-migrate's layout.
 */
#include "kvmt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm/schema.h"

/* Write @name in @dir with @text. */
static void put(const char *dir, const char *name, const char *text)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(kvmt_write_file(path, text, strlen(text)), 0);
}

static void test_schema__builtin_is_ascending_and_ends_at_8(void **state)
{
	struct kvm_error err = { 0 };
	kvm_schema *s = NULL;
	(void)state;

	assert_int_equal(kvm_schema_builtin(&s, &err), 0);
	assert_non_null(s);
	assert_int_equal(kvm_schema_count(s), 8);
	for (size_t i = 0; i < kvm_schema_count(s); i++) {
		const struct kvm_schema_version *v = kvm_schema_get(s, i);
		char prefix[32];

		assert_int_equal(v->version, i + 1);
		snprintf(prefix, sizeof(prefix), "%06zu_", i + 1);
		assert_true(strncmp(v->name, prefix, 7) == 0);
		assert_true(strlen(v->sql) == v->len);
		assert_true(v->len > 0);
		assert_int_equal(kvm_schema_index(s, v->version), (long)i);
	}
	assert_null(kvm_schema_get(s, 8));
	assert_int_equal(kvm_schema_last(s), 8);
	assert_int_equal(kvm_schema_kv_version(s), 9);
	assert_null(kvm_schema_dir(s));
	assert_string_equal(kvm_schema_origin(s), "the built-in schema");
	/* the embedded text is the file's text */
	{
		size_t n = 0;
		char *f = kvmt_read_file("pkg-migrators/schema/000003_graveler_staging.up.sql", &n);

		assert_non_null(f);
		assert_int_equal(kvm_schema_get(s, 2)->len, n);
		assert_memory_equal(kvm_schema_get(s, 2)->sql, f, n);
		free(f);
	}
	kvm_schema_free(s);
}

static void test_schema__dir_orders_numerically_and_ignores_others(void **state)
{
	struct kvm_error err = { 0 };
	kvm_schema *s = NULL;
	char *dir = kvmt_tmpdir();
	(void)state;

	put(dir, "20210314093000_late.up.sql", "SELECT 3;");
	put(dir, "2_second.up.sql", "SELECT 2;");
	put(dir, "000001_first.up.sql", "SELECT 1;");
	put(dir, "000001_first.down.sql", "this is not SQL");
	put(dir, "README.md", "notes");
	put(dir, ".000009_hidden.up.sql", "SELECT 9;");
	put(dir, "000004_other.up.json", "{}");
	assert_int_equal(kvm_schema_load_dir(&s, dir, &err), 0);
	assert_int_equal(kvm_schema_count(s), 3);
	assert_int_equal(kvm_schema_get(s, 0)->version, 1);
	assert_int_equal(kvm_schema_get(s, 1)->version, 2);
	assert_int_equal(kvm_schema_get(s, 2)->version, 20210314093000ull);
	assert_string_equal(kvm_schema_get(s, 1)->name, "2_second.up.sql");
	assert_string_equal(kvm_schema_get(s, 2)->sql, "SELECT 3;");
	assert_int_equal(kvm_schema_kv_version(s), 20210314093001ull);
	assert_int_equal(kvm_schema_index(s, 3), -1);
	assert_string_equal(kvm_schema_dir(s), dir);
	assert_non_null(strstr(kvm_schema_origin(s), dir));
	kvm_schema_free(s);
	kvmt_rmtree(dir);
	free(dir);
}

/* Load @dir expecting @code and a message holding @needle. */
static void expect_refused(const char *dir, int code, const char *needle)
{
	struct kvm_error err = { 0 };
	kvm_schema *s = (kvm_schema *)&err;   /* must be reset to NULL */

	assert_int_equal(kvm_schema_load_dir(&s, dir, &err), code);
	assert_null(s);
	assert_int_equal(err.code, code);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static void test_schema__dir_refuses_what_would_be_skipped(void **state)
{
	char *dir = kvmt_tmpdir();
	char sub[4096], path[4096];
	(void)state;

	/* empty */
	expect_refused(dir, KVM_ESCHEMA, "holds no version file");
	/* a misnamed up file is an error, never skipped */
	put(dir, "000001_ok.up.sql", "SELECT 1;");
	put(dir, "init.up.sql", "SELECT 1;");
	expect_refused(dir, KVM_ESCHEMA, "'init.up.sql'");
	snprintf(path, sizeof(path), "%s/init.up.sql", dir);
	unlink(path);
	put(dir, "000002-dash.up.sql", "SELECT 1;");
	expect_refused(dir, KVM_ESCHEMA, "followed by '_'");
	snprintf(path, sizeof(path), "%s/000002-dash.up.sql", dir);
	unlink(path);
	/* two files, one version */
	put(dir, "1_again.up.sql", "SELECT 1;");
	expect_refused(dir, KVM_ESCHEMA, "same version 1");
	snprintf(path, sizeof(path), "%s/1_again.up.sql", dir);
	unlink(path);
	/* a version the version table cannot hold, with its successor */
	put(dir, "9223372036854775807_max.up.sql", "SELECT 1;");
	expect_refused(dir, KVM_ESCHEMA, "too large");
	snprintf(path, sizeof(path), "%s/9223372036854775807_max.up.sql", dir);
	unlink(path);
	/* a NUL byte */
	snprintf(path, sizeof(path), "%s/000003_nul.up.sql", dir);
	assert_int_equal(kvmt_write_file(path, "SELECT\0 1;", 10), 0);
	expect_refused(dir, KVM_ESCHEMA, "NUL byte at offset 6");
	unlink(path);
	/* a directory named like a version */
	snprintf(sub, sizeof(sub), "%s/000004_dir.up.sql", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	expect_refused(dir, KVM_ESCHEMA, "not a regular file");
	rmdir(sub);
	/* a missing directory is the OS's error, naming it */
	snprintf(sub, sizeof(sub), "%s/nosuch", dir);
	expect_refused(sub, ENOENT, "nosuch");
	kvmt_rmtree(dir);
	free(dir);
}

static void test_schema__free_accepts_null(void **state)
{
	(void)state;
	kvm_schema_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema__builtin_is_ascending_and_ends_at_8),
		cmocka_unit_test(test_schema__dir_orders_numerically_and_ignores_others),
		cmocka_unit_test(test_schema__dir_refuses_what_would_be_skipped),
		cmocka_unit_test(test_schema__free_accepts_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
