/*
 * test_format_golden.c - the committed golden files in testdata/.
 *
 * testdata/good/NAME.kvm must read back to exactly the records listed in
 * NAME.records (written by an independent implementation of the format,
 * tests/tools/kvmexport.py).  testdata/broken/NAME.kvm must be rejected
 * with the error code named on line 1 of NAME.expect and a one-line
 * message that names the file and contains line 2 of NAME.expect; it is
 * read both from its file and from memory, and the message must also name
 * the offset or the record number where the damage was found.
 *
 * The records of each good file, written again with the library's writer,
 * must give the section counts, byte counts and XXH64 digests of the
 * file's trailer: known values, computed by the independent
 * implementation (Python's xxhash), for the writer's digests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/export.h"
#include "kvmt.h"

static const struct {
	const char *name;
	int code;
} CODES[] = {
	{ "KVM_ENOTEXPORT", KVM_ENOTEXPORT }, { "KVM_EVERSION", KVM_EVERSION },
	{ "KVM_ETRUNCATED", KVM_ETRUNCATED }, { "KVM_ECORRUPT", KVM_ECORRUPT },
	{ "KVM_EDIGEST", KVM_EDIGEST },       { "KVM_ECOUNT", KVM_ECOUNT },
	{ "KVM_ELIMIT", KVM_ELIMIT },         { "KVM_ETRAILING", KVM_ETRAILING },
};

static int code_of(const char *name)
{
	for (size_t i = 0; i < sizeof(CODES) / sizeof(CODES[0]); i++)
		if (strcmp(CODES[i].name, name) == 0)
			return CODES[i].code;
	fail_msg("unknown error code name '%s'", name);
	return 0;
}

/* Read a whole export; returns its result, the records as dump lines. */
static int read_all(kvm_export_reader *r, FILE *lines, struct kvm_error *err)
{
	struct kvm_export_record rec;
	int rc;

	while ((rc = kvm_export_reader_next(r, &rec, err)) == 0) {
		const uint8_t *parts[3] = { rec.partition, rec.key, rec.value };
		size_t lens[3] = { rec.partition_len, rec.key_len, rec.value_len };

		fprintf(lines, "%zu", rec.section);
		for (int i = 0; i < 3; i++) {
			fputc(' ', lines);
			if (lens[i] == 0)
				fputc('-', lines);
			for (size_t j = 0; j < lens[i]; j++)
				fprintf(lines, "%02x", parts[i][j]);
		}
		fputc('\n', lines);
	}
	return rc == KVM_END ? 0 : rc;
}

static char **list(const char *dir, const char *suffix, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;

	*n = 0;
	if (d == NULL)
		fail_msg("cannot open '%s': run the tests from the repository root", dir);
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name), s = strlen(suffix);

		if (l > s && strcmp(e->d_name + l - s, suffix) == 0) {
			names = realloc(names, (*n + 1) * sizeof(*names));
			assert_non_null(names);
			names[(*n)++] = strndup(e->d_name, l - s);
		}
	}
	closedir(d);
	return names;
}

static void test_format_golden__good_files_read_back_exactly(void **state)
{
	size_t n;
	char **names = list("testdata/good", ".kvm", &n);
	(void)state;

	assert_true(n >= 3);
	for (size_t i = 0; i < n; i++) {
		char path[512], want_path[512];
		struct kvm_error err = { 0 };
		kvm_export_reader *r;
		char *got = NULL, *want;
		size_t got_n = 0, want_n;
		FILE *f = open_memstream(&got, &got_n);

		snprintf(path, sizeof(path), "testdata/good/%s.kvm", names[i]);
		snprintf(want_path, sizeof(want_path), "testdata/good/%s.records", names[i]);
		if (kvm_export_reader_open(&r, path, NULL, &err) != 0 ||
		    read_all(r, f, &err) != 0)
			fail_msg("%s: %s", path, err.msg);
		fclose(f);
		kvm_export_reader_close(r);
		want = kvmt_read_file(want_path, &want_n);
		assert_int_equal(got_n, want_n);
		assert_memory_equal(got, want, want_n);
		free(got);
		free(want);
		free(names[i]);
	}
	free(names);
}

/* Begin sections in header order up to @want, ending the open one each
 * time; *open is the open section, or @n when none is. */
static void writer_move_to(kvm_export_writer *w, const struct kvm_export_header *h,
                           size_t *open, size_t want,
                           struct kvm_export_section_info *info)
{
	struct kvm_error err = { 0 };

	while (*open != want) {
		if (*open != h->npackages &&
		    kvm_export_writer_end_section(w, &info[*open], &err) != 0)
			fail_msg("end_section: %s", err.msg);
		*open = *open == h->npackages ? 0 : *open + 1;
		if (kvm_export_writer_begin_section(w, h->packages[*open], &err) != 0)
			fail_msg("begin_section: %s", err.msg);
	}
}

static void test_format_golden__writer_gives_the_golden_section_digests(void **state)
{
	size_t n;
	char **names = list("testdata/good", ".kvm", &n);
	char *dir = kvmt_tmpdir();
	(void)state;

	assert_true(n >= 3);
	for (size_t i = 0; i < n; i++) {
		char path[512], out[512];
		struct kvm_error err = { 0 };
		kvm_export_reader *r;
		kvm_export_writer *w;
		const struct kvm_export_header *h;
		const struct kvm_export_trailer *t;
		struct kvm_export_section_info *info;
		struct kvm_export_record rec;
		size_t open;
		int rc;

		snprintf(path, sizeof(path), "testdata/good/%s.kvm", names[i]);
		snprintf(out, sizeof(out), "%s/%s.kvm", dir, names[i]);
		if (kvm_export_reader_open(&r, path, NULL, &err) != 0)
			fail_msg("%s: %s", path, err.msg);
		h = kvm_export_reader_header(r);
		info = calloc(h->npackages, sizeof(*info));
		assert_non_null(info);
		if (kvm_export_writer_open(&w, out,
		                           &(struct kvm_export_writer_opts){ .header = h },
		                           &err) != 0)
			fail_msg("%s: %s", out, err.msg);
		open = h->npackages;
		while ((rc = kvm_export_reader_next(r, &rec, &err)) == 0) {
			writer_move_to(w, h, &open, rec.section, info);
			if (kvm_export_writer_write(w, rec.partition, rec.partition_len,
			                            rec.key, rec.key_len, rec.value,
			                            rec.value_len, &err) != 0)
				fail_msg("%s: %s", out, err.msg);
		}
		if (rc != KVM_END)
			fail_msg("%s: %s", path, err.msg);
		writer_move_to(w, h, &open, h->npackages - 1, info);
		if (kvm_export_writer_end_section(w, &info[open], &err) != 0)
			fail_msg("%s: %s", out, err.msg);
		t = kvm_export_reader_trailer(r);
		assert_int_equal(t->nsections, h->npackages);
		for (size_t s = 0; s < t->nsections; s++) {
			if (info[s].records != t->sections[s].records ||
			    info[s].bytes != t->sections[s].bytes ||
			    info[s].digest != t->sections[s].digest)
				fail_msg("%s, section %zu: the writer gives %" PRIu64
				         " records, %" PRIu64 " bytes, digest %016" PRIx64
				         "; the file says %" PRIu64 ", %" PRIu64 ", %016"
				         PRIx64, path, s, info[s].records, info[s].bytes,
				         info[s].digest, t->sections[s].records,
				         t->sections[s].bytes, t->sections[s].digest);
		}
		/* The file digest covers the header, whose tool_version is the
		 * writer's own, so only the sections can match. */
		kvm_export_writer_abort(w);
		kvm_export_reader_close(r);
		free(info);
		free(names[i]);
	}
	free(names);
	kvmt_rmtree(dir);
	free(dir);
}

/* 1 when @msg names an offset or a record number ("offset 194"). */
static int has_location(const char *msg)
{
	static const char *const words[] = { "offset ", "record " };

	for (size_t i = 0; i < 2; i++)
		for (const char *p = msg; (p = strstr(p, words[i])) != NULL; p++)
			if (p[strlen(words[i])] >= '0' && p[strlen(words[i])] <= '9')
				return 1;
	return 0;
}

static void check_broken(const char *name, int from_memory)
{
	char path[512], expect_path[512], codename[64], substring[256];
	struct kvm_error err = { 0 };
	kvm_export_reader *r = NULL;
	char *expect, *data = NULL;
	size_t expect_n, data_n;
	FILE *sink = fopen("/dev/null", "w");
	int rc;

	snprintf(path, sizeof(path), "testdata/broken/%s.kvm", name);
	snprintf(expect_path, sizeof(expect_path), "testdata/broken/%s.expect", name);
	expect = kvmt_read_file(expect_path, &expect_n);
	assert_non_null(expect);
	if (sscanf(expect, "%63[^\n]\n%255[^\n]", codename, substring) != 2)
		fail_msg("%s: expected two lines", expect_path);
	if (from_memory) {
		data = kvmt_read_file(path, &data_n);
		rc = kvm_export_reader_open_mem(&r, data, data_n, path, NULL, &err);
	} else {
		rc = kvm_export_reader_open(&r, path, NULL, &err);
	}
	if (rc == 0)
		rc = read_all(r, sink, &err);
	kvm_export_reader_close(r);
	fclose(sink);
	if (rc != code_of(codename))
		fail_msg("%s: got %d (%s), expected %s", path, rc, err.msg, codename);
	if (strstr(err.msg, substring) == NULL || strstr(err.msg, path) == NULL ||
	    strchr(err.msg, '\n') != NULL)
		fail_msg("%s: message '%s' lacks '%s' or the file name", path, err.msg,
		         substring);
	if (!has_location(err.msg))
		fail_msg("%s: message '%s' names no offset or record number", path, err.msg);
	free(expect);
	free(data);
}

/* One test per broken file: @state carries its name. */
static void test_format_golden__broken_file_is_rejected(void **state)
{
	const char *name = *state;

	check_broken(name, 0);
	check_broken(name, 1);
}

int main(void)
{
	size_t n;
	char **names = list("testdata/broken", ".kvm", &n);
	struct CMUnitTest *tests = calloc(n + 2, sizeof(*tests));
	char (*titles)[128] = calloc(n, sizeof(*titles));
	int failed;

	if (tests == NULL || titles == NULL || n < 10) {
		fprintf(stderr, "test_format_golden: expected at least 10 files in "
		        "testdata/broken, found %zu\n", n);
		return 1;
	}
	tests[0] = (struct CMUnitTest)cmocka_unit_test(
		test_format_golden__good_files_read_back_exactly);
	tests[1] = (struct CMUnitTest)cmocka_unit_test(
		test_format_golden__writer_gives_the_golden_section_digests);
	for (size_t i = 0; i < n; i++) {
		snprintf(titles[i], sizeof(titles[i]), "test_format_golden__broken_%s",
		         names[i]);
		tests[i + 2] = (struct CMUnitTest){
			.name = titles[i],
			.test_func = test_format_golden__broken_file_is_rejected,
			.initial_state = names[i],
		};
	}
	failed = _cmocka_run_group_tests("test_format_golden", tests, n + 2, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(tests);
	free(titles);
	return failed;
}
