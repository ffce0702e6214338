/*
 * test_kvmt.c - the file helpers of kvmt.c do what kvmt.h promises.
 *
 * The other tests build their fixtures with these helpers; a helper that
 * silently wrote short files or left directories behind would make them
 * pass or fail for the wrong reason.
 */
#include "kvmt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* path + "/" + name, malloc'd. */
static char *join(const char *dir, const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static void test_kvmt__tmpdir_is_private_and_rmtree_removes_it(void **state)
{
	char *dir = kvmt_tmpdir();
	char *sub, *file, *link;
	struct stat st;

	(void)state;
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_non_null(strstr(dir, "/kvmt."));

	/* A tree with a subdirectory, files and a symbolic link out of it. */
	sub = join(dir, "sub");
	file = join(sub, "f");
	link = join(dir, "link-to-root");
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(kvmt_write_file(file, "x", 1), 0);
	assert_int_equal(symlink("/", link), 0);

	kvmt_rmtree(dir);
	assert_int_equal(lstat(dir, &st), -1);
	assert_int_equal(errno, ENOENT);
	/* The link was removed, not followed. */
	assert_int_equal(stat("/", &st), 0);

	free(link);
	free(file);
	free(sub);
	free(dir);
}

static void test_kvmt__tmpdirs_are_distinct(void **state)
{
	char *a = kvmt_tmpdir();
	char *b = kvmt_tmpdir();

	(void)state;
	assert_string_not_equal(a, b);
	kvmt_rmtree(a);
	kvmt_rmtree(b);
	free(a);
	free(b);
}

static void test_kvmt__write_then_read_round_trips(void **state)
{
	char *dir = kvmt_tmpdir();
	char *path = join(dir, "data");
	size_t big_n = 1u << 20, n = 0;
	unsigned char *big = malloc(big_n);
	unsigned char *back;
	struct stat st;

	(void)state;
	assert_non_null(big);
	/* Every byte value, and a size past any single read() of the helper. */
	for (size_t i = 0; i < big_n; i++)
		big[i] = (unsigned char)(i * 7 + i / 256);
	assert_int_equal(kvmt_write_file(path, big, big_n), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0077, 0);

	back = kvmt_read_file(path, &n);
	assert_non_null(back);
	assert_int_equal(n, big_n);
	assert_memory_equal(back, big, big_n);
	assert_int_equal(back[n], 0);
	free(back);

	/* Rewriting truncates; an empty file reads as an empty string. */
	assert_int_equal(kvmt_write_file(path, NULL, 0), 0);
	back = kvmt_read_file(path, &n);
	assert_non_null(back);
	assert_int_equal(n, 0);
	assert_string_equal((char *)back, "");
	free(back);

	kvmt_rmtree(dir);
	free(big);
	free(path);
	free(dir);
}

static void test_kvmt__missing_file_and_directory_fail_with_errno(void **state)
{
	char *dir = kvmt_tmpdir();
	char *missing = join(dir, "missing");
	char *nodir = join(missing, "file");
	size_t n = 12345;

	(void)state;
	errno = 0;
	assert_null(kvmt_read_file(missing, &n));
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_int_equal(kvmt_write_file(nodir, "x", 1), -1);
	assert_int_equal(errno, ENOENT);

	kvmt_rmtree(dir);
	free(nodir);
	free(missing);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kvmt__tmpdir_is_private_and_rmtree_removes_it),
		cmocka_unit_test(test_kvmt__tmpdirs_are_distinct),
		cmocka_unit_test(test_kvmt__write_then_read_round_trips),
		cmocka_unit_test(test_kvmt__missing_file_and_directory_fail_with_errno),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
