/*
 * test_format.c - the export file writer and reader (format/), on real
 * files in a scratch directory.
 *
 * Every round trip compares what the reader returns, byte by byte, with
 * what was written; every failure path is reached with real inputs (a
 * real RLIMIT_FSIZE for a full disk, real truncated and damaged bytes).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zstd.h>

#include "kvm/export.h"
#include "kvm/kvkey.h"
#include "kvmt.h"

/* A record as the tests keep it. */
struct rec {
	size_t section;
	uint8_t *p, *k, *v;
	size_t pn, kn, vn;
};

struct recs {
	struct rec *r;
	size_t n, cap;
};

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint8_t *dup_bytes(const void *src, size_t n)
{
	uint8_t *p = malloc(n > 0 ? n : 1);

	assert_non_null(p);
	if (n > 0)
		memcpy(p, src, n);
	return p;
}

static void recs_add(struct recs *rs, size_t section, const void *p, size_t pn,
                     const void *k, size_t kn, const void *v, size_t vn)
{
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 64;
		rs->r = realloc(rs->r, rs->cap * sizeof(*rs->r));
		assert_non_null(rs->r);
	}
	rs->r[rs->n++] = (struct rec){ section, dup_bytes(p, pn), dup_bytes(k, kn),
	                               dup_bytes(v, vn), pn, kn, vn };
}

static void recs_free(struct recs *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		free(rs->r[i].p);
		free(rs->r[i].k);
		free(rs->r[i].v);
	}
	free(rs->r);
	memset(rs, 0, sizeof(*rs));
}

static struct kvm_export_header header_of(const char *const *pk, size_t n)
{
	return (struct kvm_export_header){
		.kv_migration_version = 8, .source_schema_version = 7,
		.source_database = "system_identifier=1 dbname=test",
		.snapshot_time = { 1700000000, 123456000 },
		.packages = pk, .npackages = n,
	};
}

/* Write @rs (sorted by section) to @path; returns the writer's result. */
static int write_file(const char *path, const char *const *pk, size_t npk,
                      const struct recs *rs, size_t frame_bytes,
                      struct kvm_export_stats *st, struct kvm_error *err)
{
	struct kvm_export_header h = header_of(pk, npk);
	struct kvm_export_writer_opts o = { .header = &h, .frame_bytes = frame_bytes };
	kvm_export_writer *w;
	size_t i = 0;
	int rc;

	if ((rc = kvm_export_writer_open(&w, path, &o, err)) != 0)
		return rc;
	for (size_t s = 0; s < npk; s++) {
		if ((rc = kvm_export_writer_begin_section(w, pk[s], err)) != 0)
			goto fail;
		for (; i < rs->n && rs->r[i].section == s; i++) {
			const struct rec *r = &rs->r[i];

			rc = kvm_export_writer_write(w, r->p, r->pn, r->k, r->kn, r->v, r->vn, err);
			if (rc != 0)
				goto fail;
		}
		if ((rc = kvm_export_writer_end_section(w, NULL, err)) != 0)
			goto fail;
	}
	return kvm_export_writer_finish(w, st, err);
fail:
	kvm_export_writer_abort(w);
	return rc;
}

/* Read @path and compare every record with @rs. */
static void assert_reads_back(const char *path, const char *const *pk, size_t npk,
                              const struct recs *rs)
{
	kvm_export_reader *r;
	struct kvm_export_record rec;
	struct kvm_error err = { 0 };
	const struct kvm_export_header *h;
	const struct kvm_export_trailer *t;
	size_t i = 0;
	int rc;

	rc = kvm_export_reader_open(&r, path, NULL, &err);
	if (rc != 0)
		fail_msg("open: %s", err.msg);
	h = kvm_export_reader_header(r);
	assert_int_equal(h->format_version, KVM_EXPORT_FORMAT_VERSION);
	assert_int_equal(h->npackages, npk);
	for (size_t s = 0; s < npk; s++)
		assert_string_equal(h->packages[s], pk[s]);
	assert_int_equal(h->kv_migration_version, 8);
	assert_int_equal(h->snapshot_time.nsec, 123456000);
	assert_null(kvm_export_reader_trailer(r));
	while ((rc = kvm_export_reader_next(r, &rec, &err)) == 0) {
		const struct rec *want;

		assert_true(i < rs->n);
		want = &rs->r[i];
		assert_int_equal(rec.number, i);
		assert_int_equal(rec.section, want->section);
		assert_int_equal(rec.partition_len, want->pn);
		assert_int_equal(rec.key_len, want->kn);
		assert_int_equal(rec.value_len, want->vn);
		assert_memory_equal(rec.partition, want->p, want->pn ? want->pn : 0);
		if (want->kn)
			assert_memory_equal(rec.key, want->k, want->kn);
		if (want->vn)
			assert_memory_equal(rec.value, want->v, want->vn);
		i++;
	}
	if (rc != KVM_END)
		fail_msg("next: %s", err.msg);
	assert_int_equal(i, rs->n);
	t = kvm_export_reader_trailer(r);
	assert_non_null(t);
	assert_int_equal(t->records, rs->n);
	assert_int_equal(t->nsections, npk);
	/* KVM_END is sticky too. */
	assert_int_equal(kvm_export_reader_next(r, &rec, &err), KVM_END);
	kvm_export_reader_close(r);
}

static char *path_in(const char *dir, const char *name)
{
	char *p = malloc(strlen(dir) + strlen(name) + 2);

	assert_non_null(p);
	sprintf(p, "%s/%s", dir, name);
	return p;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static const char *const PK3[] = { "auth", "refs", "staging" };

/* The LMDB key of an entry (design.md, "The KV store"), byte for byte:
 * every 0x00 of the partition doubled as 0x00 0xFF, wherever it is. */
static void test_format__kv_key_escapes_every_zero_of_the_partition(void **state)
{
	static const struct {
		const char *part;
		size_t plen;
		const char *key;
		size_t klen;
		const char *want;
		size_t wlen;
	} cases[] = {
		{ "", 0, "", 0, "\x00\x01", 2 },
		{ "auth", 4, "users/a", 7, "auth\x00\x01users/a", 13 },
		{ "a\x00" "b", 3, "k", 1, "a\x00\xff" "b\x00\x01k", 7 },
		{ "\x00", 1, "", 0, "\x00\xff\x00\x01", 4 },
		{ "\x00\xff\x00", 3, "\x00", 1,
		  "\x00\xff\xff\x00\xff\x00\x01\x00", 8 },
		{ "ab\x00\x00", 4, "\x00\x01", 2,
		  "ab\x00\xff\x00\xff\x00\x01\x00\x01", 10 },
	};
	unsigned char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = kvm_kv_key_size(cases[i].part, cases[i].plen,
		                           cases[i].klen);

		assert_int_equal(n, cases[i].wlen);
		memset(out, 0xAA, sizeof(out));
		assert_int_equal(kvm_kv_key_encode(out, cases[i].part, cases[i].plen,
		                                   cases[i].key, cases[i].klen),
		                 cases[i].wlen);
		assert_memory_equal(out, cases[i].want, cases[i].wlen);
		assert_int_equal(out[n], 0xAA);     /* nothing written past it */
	}
	/* a longer partition, a zero every 7 bytes, against a plain loop */
	{
		unsigned char part[300], want[700], got[700];
		size_t w = 0;

		for (size_t i = 0; i < sizeof(part); i++) {
			part[i] = i % 7 == 3 ? 0x00 : (unsigned char)(i + 1);
			want[w++] = part[i];
			if (part[i] == 0x00)
				want[w++] = 0xFF;
		}
		want[w++] = 0x00;
		want[w++] = 0x01;
		want[w++] = 'k';
		assert_int_equal(kvm_kv_key_size(part, sizeof(part), 1), w);
		assert_int_equal(kvm_kv_key_encode(got, part, sizeof(part), "k", 1), w);
		assert_memory_equal(got, want, w);
	}
}

static void test_format__round_trip_of_edge_records(void **state)
{
	char *dir = kvmt_tmpdir(), *path = path_in(dir, "edge.kvm");
	struct recs rs = { 0 };
	struct kvm_error err = { 0 };
	struct kvm_export_stats st;
	uint8_t bin[] = { 0x00, 0xff, 0x00, 0x01, 0xfe, 0x80, 0x7f };
	uint8_t *longkey = malloc(KVM_EXPORT_DEFAULT_MAX_KEY);
	struct stat sb;
	(void)state;

	assert_non_null(longkey);
	memset(longkey, 0xab, KVM_EXPORT_DEFAULT_MAX_KEY);
	recs_add(&rs, 0, "auth", 4, "", 0, "", 0);                       /* empty key and value */
	recs_add(&rs, 0, "", 0, "k", 1, "v", 1);                         /* empty partition */
	recs_add(&rs, 0, bin, sizeof(bin), bin, sizeof(bin), bin, sizeof(bin));
	recs_add(&rs, 0, "auth", 4, "users/a/b", 9, "\xc3\xa9t\xc3\xa9", 5);
	recs_add(&rs, 1, "repo/x", 6, longkey, 511, "v", 1);              /* LMDB-size key */
	recs_add(&rs, 1, "repo/x", 6, longkey, KVM_EXPORT_DEFAULT_MAX_KEY, "", 0);
	recs_add(&rs, 1, "p", 1, "k31", 3, longkey, 31);                  /* fixstr/bin boundaries */
	recs_add(&rs, 1, "p", 1, "k32", 3, longkey, 32);
	recs_add(&rs, 1, "p", 1, "k255", 4, longkey, 255);
	recs_add(&rs, 1, "p", 1, "k256", 4, longkey, 256);
	recs_add(&rs, 1, "p", 1, "k65535", 6, longkey, 65535);
	recs_add(&rs, 1, "p", 1, "k65536", 6, longkey, 65536);
	/* section 2 ("staging") stays empty */

	if (write_file(path, PK3, 3, &rs, 0, &st, &err) != 0)
		fail_msg("write: %s", err.msg);
	assert_int_equal(st.records, rs.n);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal((uint64_t)sb.st_size, st.file_bytes);
	assert_int_equal(count_entries(dir), 1);      /* no temporary file left */
	assert_reads_back(path, PK3, 3, &rs);

	free(longkey);
	recs_free(&rs);
	free(path);
	kvmt_rmtree(dir);
	free(dir);
}

static void test_format__round_trip_of_10mb_and_largest_values(void **state)
{
	char *dir = kvmt_tmpdir(), *path = path_in(dir, "big.kvm");
	const size_t big = 10u << 20;
	uint8_t *v = malloc(big);
	struct recs rs = { 0 };
	struct kvm_error err = { 0 };
	uint64_t seed = 42;
	(void)state;

	assert_non_null(v);
	for (size_t i = 0; i < big; i += 8) {
		uint64_t x = rng_next(&seed);

		memcpy(v + i, &x, 8);
	}
	recs_add(&rs, 0, "p", 1, "a", 1, v, big);
	recs_add(&rs, 0, "p", 1, "b", 1, "small", 5);
	v[0] ^= 1;
	recs_add(&rs, 1, "q", 1, "c", 1, v, big);
	/* The largest value the default caps allow, alone in its frame: the
	 * writer must not pick a zstd window the reader refuses. */
	{
		uint8_t *max = calloc(1, KVM_EXPORT_DEFAULT_MAX_VALUE);

		assert_non_null(max);
		max[KVM_EXPORT_DEFAULT_MAX_VALUE - 1] = 1;
		recs_add(&rs, 2, "s", 1, "max", 3, max, KVM_EXPORT_DEFAULT_MAX_VALUE);
		free(max);
	}
	if (write_file(path, PK3, 3, &rs, 0, NULL, &err) != 0)
		fail_msg("write: %s", err.msg);
	assert_reads_back(path, PK3, 3, &rs);
	free(v);
	recs_free(&rs);
	free(path);
	kvmt_rmtree(dir);
	free(dir);
}

static void test_format__zero_records_and_many_packages(void **state)
{
	char *dir = kvmt_tmpdir(), *path = path_in(dir, "many.kvm");
	char names[KVM_EXPORT_MAX_PACKAGES][8];
	const char *pk[KVM_EXPORT_MAX_PACKAGES];
	struct recs rs = { 0 };
	struct kvm_error err = { 0 };
	(void)state;

	/* One package, no record at all. */
	if (write_file(path, PK3, 1, &rs, 0, NULL, &err) != 0)
		fail_msg("write: %s", err.msg);
	assert_reads_back(path, PK3, 1, &rs);

	/* The most packages a file may hold; every third one empty. */
	for (size_t i = 0; i < KVM_EXPORT_MAX_PACKAGES; i++) {
		snprintf(names[i], sizeof(names[i]), "p%03zu", i);
		pk[i] = names[i];
		for (size_t j = 0; i % 3 != 0 && j < i % 5 + 1; j++) {
			char key[16];

			snprintf(key, sizeof(key), "k%zu", j);
			recs_add(&rs, i, names[i], 4, key, strlen(key), "v", 1);
		}
	}
	if (write_file(path, pk, KVM_EXPORT_MAX_PACKAGES, &rs, 0, NULL, &err) != 0)
		fail_msg("write: %s", err.msg);
	assert_reads_back(path, pk, KVM_EXPORT_MAX_PACKAGES, &rs);
	recs_free(&rs);
	free(path);
	kvmt_rmtree(dir);
	free(dir);
}

/* Random records of @n, seeded. */
static void random_recs(struct recs *rs, size_t n, uint64_t seed, size_t nsections)
{
	uint8_t buf[600];

	for (size_t i = 0; i < n; i++) {
		size_t kn = rng_next(&seed) % 100, vn = rng_next(&seed) % 600;

		for (size_t j = 0; j < sizeof(buf); j++)
			buf[j] = (uint8_t)rng_next(&seed);
		recs_add(rs, i * nsections / n, "part", 4, buf, kn, buf + 100, vn < 500 ? vn : 0);
	}
}

static void test_format__output_is_deterministic_whatever_the_framing(void **state)
{
	char *dir = kvmt_tmpdir();
	char *a = path_in(dir, "a.kvm"), *b = path_in(dir, "b.kvm"), *c = path_in(dir, "c.kvm");
	struct recs rs = { 0 };
	struct kvm_error err = { 0 };
	struct kvm_export_stats sa, sb, sc;
	size_t na, nb;
	void *ba, *bb;
	(void)state;

	random_recs(&rs, 3000, 7, 3);
	assert_int_equal(write_file(a, PK3, 3, &rs, 0, &sa, &err), 0);
	assert_int_equal(write_file(b, PK3, 3, &rs, 0, &sb, &err), 0);
	assert_int_equal(write_file(c, PK3, 3, &rs, 4096, &sc, &err), 0);
	ba = kvmt_read_file(a, &na);
	bb = kvmt_read_file(b, &nb);
	assert_int_equal(na, nb);
	assert_memory_equal(ba, bb, na);          /* same records, same bytes */
	assert_true(sc.frames > sa.frames + 10);  /* many more frames ... */
	assert_true(sc.digest == sa.digest);      /* ... same stream digest */
	assert_int_equal(sc.raw_bytes, sa.raw_bytes);
	assert_reads_back(c, PK3, 3, &rs);
	free(ba);
	free(bb);
	recs_free(&rs);
	free(a);
	free(b);
	free(c);
	kvmt_rmtree(dir);
	free(dir);
}

static void test_format__writer_refuses_calls_out_of_order(void **state)
{
	char *dir = kvmt_tmpdir(), *path = path_in(dir, "x.kvm");
	struct kvm_export_header h = header_of(PK3, 2);
	struct kvm_export_writer_opts o = { .header = &h };
	struct kvm_error err = { 0 };
	kvm_export_writer *w;
	(void)state;

	assert_int_equal(kvm_export_writer_open(&w, path, &o, &err), 0);
	assert_int_equal(count_entries(dir), 1);        /* the temporary file */
	assert_int_equal(access(path, F_OK), -1);       /* nothing under the name yet */
	assert_int_equal(kvm_export_writer_write(w, "p", 1, "k", 1, "v", 1, &err), KVM_ESTATE);
	assert_non_null(strstr(err.msg, "outside a section"));
	/* sticky: a correct call now returns the first error */
	memset(&err, 0, sizeof(err));
	assert_int_equal(kvm_export_writer_begin_section(w, "auth", &err), KVM_ESTATE);
	assert_non_null(strstr(err.msg, "outside a section"));
	assert_int_equal(kvm_export_writer_finish(w, NULL, &err), KVM_ESTATE);
	assert_int_equal(count_entries(dir), 0);        /* temporary file removed */

	/* Sections in the wrong order, then finish with one missing. */
	assert_int_equal(kvm_export_writer_open(&w, path, &o, &err), 0);
	assert_int_equal(kvm_export_writer_begin_section(w, "refs", &err), KVM_ESTATE);
	assert_non_null(strstr(err.msg, "'auth' next"));
	kvm_export_writer_abort(w);
	assert_int_equal(kvm_export_writer_open(&w, path, &o, &err), 0);
	assert_int_equal(kvm_export_writer_begin_section(w, "auth", &err), 0);
	assert_int_equal(kvm_export_writer_end_section(w, NULL, &err), 0);
	assert_int_equal(kvm_export_writer_finish(w, NULL, &err), KVM_ESTATE);
	assert_non_null(strstr(err.msg, "1 of 2 sections"));
	assert_int_equal(count_entries(dir), 0);

	/* Bad headers never create a file. */
	h.npackages = 0;
	assert_int_equal(kvm_export_writer_open(&w, path, &o, &err), KVM_EINVAL);
	{
		const char *bad[] = { "auth", "Auth" };
		const char *twice[] = { "auth", "auth" };

		h = header_of(bad, 2);
		assert_int_equal(kvm_export_writer_open(&w, path, &o, &err), KVM_EINVAL);
		assert_non_null(strstr(err.msg, "'Auth'"));
		h = header_of(twice, 2);
		assert_int_equal(kvm_export_writer_open(&w, path, &o, &err), KVM_EINVAL);
		assert_non_null(strstr(err.msg, "twice"));
	}
	/* A negative schema version, which no store could record. */
	h = header_of(PK3, 2);
	h.kv_migration_version = -1;
	assert_int_equal(kvm_export_writer_open(&w, path, &o, &err), KVM_EINVAL);
	assert_non_null(strstr(err.msg, "KV migration version -1"));
	h = header_of(PK3, 2);
	h.source_schema_version = -8;
	assert_int_equal(kvm_export_writer_open(&w, path, &o, &err), KVM_EINVAL);
	assert_non_null(strstr(err.msg, "source version -8"));
	assert_int_equal(count_entries(dir), 0);
	/* So do zstd levels outside the accepted range; its ends are taken. */
	h = header_of(PK3, 2);
	o.level = KVM_EXPORT_MAX_LEVEL + 1;
	assert_int_equal(kvm_export_writer_open(&w, path, &o, &err), KVM_EINVAL);
	assert_non_null(strstr(err.msg, "zstd level 20 is outside -7..19"));
	o.level = KVM_EXPORT_MIN_LEVEL - 1;
	assert_int_equal(kvm_export_writer_open(&w, path, &o, &err), KVM_EINVAL);
	assert_int_equal(count_entries(dir), 0);
	o.level = KVM_EXPORT_MIN_LEVEL;
	assert_int_equal(kvm_export_writer_open(&w, path, &o, &err), 0);
	kvm_export_writer_abort(w);
	o.level = KVM_EXPORT_MAX_LEVEL;
	assert_int_equal(kvm_export_writer_open(&w, path, &o, &err), 0);
	kvm_export_writer_abort(w);
	assert_int_equal(count_entries(dir), 0);
	free(path);
	kvmt_rmtree(dir);
	free(dir);
}

static void test_format__writer_refuses_records_over_the_caps(void **state)
{
	char *dir = kvmt_tmpdir(), *path = path_in(dir, "x.kvm");
	struct kvm_export_header h = header_of(PK3, 1);
	struct kvm_export_writer_opts o = { .header = &h };
	struct kvm_error err = { 0 };
	kvm_export_writer *w;
	size_t n = KVM_EXPORT_DEFAULT_MAX_KEY + 1;
	char *key = calloc(1, n);
	(void)state;

	assert_int_equal(kvm_export_writer_open(&w, path, &o, &err), 0);
	assert_int_equal(kvm_export_writer_begin_section(w, "auth", &err), 0);
	assert_int_equal(kvm_export_writer_write(w, "p", 1, key, n, "", 0, &err), KVM_EINVAL);
	assert_non_null(strstr(err.msg, "package 'auth'"));
	kvm_export_writer_abort(w);
	assert_int_equal(count_entries(dir), 0);
	free(key);
	free(path);
	kvmt_rmtree(dir);
	free(dir);
}

static void test_format__abort_leaves_an_existing_file_alone(void **state)
{
	char *dir = kvmt_tmpdir(), *path = path_in(dir, "keep.kvm");
	struct kvm_export_header h = header_of(PK3, 1);
	struct kvm_export_writer_opts o = { .header = &h };
	struct kvm_error err = { 0 };
	kvm_export_writer *w;
	size_t n;
	char *back;
	(void)state;

	assert_int_equal(kvmt_write_file(path, "precious", 8), 0);
	assert_int_equal(kvm_export_writer_open(&w, path, &o, &err), 0);
	assert_int_equal(kvm_export_writer_begin_section(w, "auth", &err), 0);
	assert_int_equal(kvm_export_writer_write(w, "p", 1, "k", 1, "v", 1, &err), 0);
	kvm_export_writer_abort(w);
	back = kvmt_read_file(path, &n);
	assert_int_equal(n, 8);
	assert_memory_equal(back, "precious", 8);
	assert_int_equal(count_entries(dir), 1);
	free(back);
	free(path);
	kvmt_rmtree(dir);
	free(dir);
}

static void test_format__open_in_a_missing_directory_names_the_file(void **state)
{
	struct kvm_export_header h = header_of(PK3, 1);
	struct kvm_export_writer_opts o = { .header = &h };
	struct kvm_error err = { 0 };
	kvm_export_writer *w;
	kvm_export_reader *r;
	(void)state;

	assert_int_equal(kvm_export_writer_open(&w, "/nonexistent-dir/x.kvm", &o, &err), ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent-dir/x.kvm"));
	assert_int_equal(kvm_export_reader_open(&r, "/nonexistent-dir/x.kvm", NULL, &err), ENOENT);
	assert_non_null(strstr(err.msg, "'/nonexistent-dir/x.kvm'"));
	assert_int_equal(kvm_export_reader_open(&r, "/", NULL, &err), EISDIR);
}

/*
 * A full disk, for real: the child lowers RLIMIT_FSIZE, so write(2) fails
 * with EFBIG past 64 KiB.  The export must fail naming the file, and
 * leave neither the target nor a temporary file.
 */
static void test_format__full_disk_leaves_nothing_behind(void **state)
{
	char *dir = kvmt_tmpdir(), *path = path_in(dir, "full.kvm");
	pid_t pid;
	int status;
	(void)state;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { 64 << 10, 64 << 10 };
		struct recs rs = { 0 };
		struct kvm_error err = { 0 };
		int rc;

		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(10);
		random_recs(&rs, 5000, 99, 1);
		rc = write_file(path, PK3, 1, &rs, 0, NULL, &err);
		if (rc != EFBIG)
			_exit(11);
		if (strstr(err.msg, "full.kvm") == NULL || strstr(err.msg, "File too large") == NULL)
			_exit(12);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(count_entries(dir), 0);
	free(path);
	kvmt_rmtree(dir);
	free(dir);
}

/* Read a whole in-memory file; returns the result and fills @err. */
static int read_all_mem(const void *buf, size_t n, const struct kvm_export_reader_opts *o,
                        uint64_t *records, uint64_t *digest, size_t *peak,
                        struct kvm_error *err)
{
	kvm_export_reader *r;
	struct kvm_export_record rec;
	int rc;

	*records = 0;
	if ((rc = kvm_export_reader_open_mem(&r, buf, n, "mem.kvm", o, err)) != 0)
		return rc;
	while ((rc = kvm_export_reader_next(r, &rec, err)) == 0) {
		(*records)++;
		if (peak != NULL && kvm_export_reader_memory(r) > *peak)
			*peak = kvm_export_reader_memory(r);
	}
	if (rc == KVM_END) {
		*digest = kvm_export_reader_trailer(r)->digest;
		rc = 0;
	}
	if (peak != NULL && kvm_export_reader_memory(r) > *peak)
		*peak = kvm_export_reader_memory(r);
	kvm_export_reader_close(r);
	return rc;
}

static void test_format__reader_memory_stays_within_its_caps(void **state)
{
	char *dir = kvmt_tmpdir(), *path = path_in(dir, "caps.kvm");
	struct kvm_export_reader_opts o = { .max_value = 256 << 10, .window_log_max = 20 };
	struct recs rs = { 0 };
	struct kvm_error err = { 0 };
	uint8_t *v = calloc(1, 1 << 20);
	uint64_t nrec, digest;
	size_t n, peak = 0;
	void *buf;
	(void)state;

	/* 200 records of 200 KiB: memory must not grow with the file. */
	for (int i = 0; i < 200; i++) {
		char key[16];

		snprintf(key, sizeof(key), "%04d", i);
		v[i] = (uint8_t)i;
		recs_add(&rs, 0, "p", 1, key, 4, v, 200 << 10);
	}
	assert_int_equal(write_file(path, PK3, 1, &rs, 0, NULL, &err), 0);
	buf = kvmt_read_file(path, &n);
	assert_int_equal(read_all_mem(buf, n, &o, &nrec, &digest, &peak, &err), 0);
	assert_int_equal(nrec, 200);
	/* caps: partition + key 128 KiB, value 256 KiB, window 1 MiB; plus
	 * the fixed buffers and zstd's context */
	assert_true(peak < (6u << 20));
	free(buf);

	/* One 1 MiB value: over the 256 KiB cap, refused before it is read. */
	recs_free(&rs);
	recs_add(&rs, 0, "p", 1, "k", 1, v, 1 << 20);
	assert_int_equal(write_file(path, PK3, 1, &rs, 0, NULL, &err), 0);
	buf = kvmt_read_file(path, &n);
	peak = 0;
	assert_int_equal(read_all_mem(buf, n, &o, &nrec, &digest, &peak, &err), KVM_ELIMIT);
	assert_non_null(strstr(err.msg, "value length 1048576 exceeds the limit of 262144"));
	assert_non_null(strstr(err.msg, "record 0 (package 'auth')"));
	assert_true(peak < (4u << 20));
	free(buf);
	free(v);
	recs_free(&rs);
	free(path);
	kvmt_rmtree(dir);
	free(dir);
}

/*
 * Every truncation of a real file fails, and every single flipped byte
 * either fails or leaves the records and digest as they were (a flip in a
 * zstd header field that does not change the content is harmless): the
 * reader never returns different data.
 */
static void test_format__every_truncation_and_flip_is_caught(void **state)
{
	char *dir = kvmt_tmpdir(), *path = path_in(dir, "sweep.kvm");
	struct recs rs = { 0 };
	struct kvm_error err = { 0 };
	uint64_t nrec, digest, want_digest, want_rec;
	size_t n;
	uint8_t *buf, *copy;
	(void)state;

	random_recs(&rs, 40, 3, 2);
	assert_int_equal(write_file(path, PK3, 2, &rs, 512, NULL, &err), 0);
	buf = kvmt_read_file(path, &n);
	assert_int_equal(read_all_mem(buf, n, NULL, &want_rec, &want_digest, NULL, &err), 0);
	copy = malloc(n);
	assert_non_null(copy);
	for (size_t cut = 0; cut < n; cut++) {
		int rc = read_all_mem(buf, cut, NULL, &nrec, &digest, NULL, &err);

		if (rc == 0)
			fail_msg("a file cut at %zu of %zu bytes was accepted", cut, n);
		assert_true(rc == KVM_ETRUNCATED || rc == KVM_ENOTEXPORT || rc == KVM_ECORRUPT);
		assert_non_null(strstr(err.msg, "mem.kvm"));
	}
	for (size_t at = 0; at < n; at++) {
		int rc;

		memcpy(copy, buf, n);
		copy[at] ^= 0x20;
		rc = read_all_mem(copy, n, NULL, &nrec, &digest, NULL, &err);
		if (rc == 0)
			fail_msg("a flip of byte %zu of %zu was accepted", at, n);
		assert_non_null(strstr(err.msg, "mem.kvm"));
	}
	(void)want_rec;
	(void)want_digest;
	free(copy);
	free(buf);
	recs_free(&rs);
	free(path);
	kvmt_rmtree(dir);
	free(dir);
}

/*
 * Every bit of every zstd frame header, in a file whose big frame has a
 * Window_Descriptor: zstd decodes such a frame the same with any window
 * large enough and ignores a reserved bit, so only the end map's
 * frames_digest can tell.
 */
static void test_format__every_frame_header_bit_is_caught(void **state)
{
	char *dir = kvmt_tmpdir(), *path = path_in(dir, "bits.kvm");
	struct recs rs = { 0 };
	struct kvm_error err = { 0 };
	uint64_t nrec, digest;
	size_t n, off = 0, frames = 0, windows = 0, tried = 0;
	uint8_t *buf;
	(void)state;

	random_recs(&rs, 2000, 5, 2);
	assert_int_equal(write_file(path, PK3, 2, &rs, 0, NULL, &err), 0);
	buf = kvmt_read_file(path, &n);
	assert_int_equal(read_all_mem(buf, n, NULL, &nrec, &digest, NULL, &err), 0);
	while (off < n - 24) {      /* the end index: a skippable frame of 24 */
		static const size_t did[4] = { 0, 1, 2, 4 }, fcs[4] = { 0, 2, 4, 8 };
		size_t size = ZSTD_findFrameCompressedSize(buf + off, n - off);
		uint8_t fhd = buf[off + 4];
		size_t head = 5 + !(fhd & 0x20) + did[fhd & 3] +
		              (fhd >> 6 == 0 && (fhd & 0x20) ? 1 : fcs[fhd >> 6]);

		assert_false(ZSTD_isError(size));
		if (!(fhd & 0x20))
			windows++;          /* no Single_Segment: a Window_Descriptor */
		for (size_t at = off; at < off + head; at++) {
			for (int bit = 0; bit < 8; bit++) {
				buf[at] ^= (uint8_t)(1u << bit);
				if (read_all_mem(buf, n, NULL, &nrec, &digest, NULL, &err) == 0)
					fail_msg("bit %d of byte %zu (frame %zu's header) flipped "
					         "was accepted", bit, at, frames);
				assert_non_null(strstr(err.msg, "mem.kvm"));
				buf[at] ^= (uint8_t)(1u << bit);
				tried++;
			}
		}
		off += size;
		frames++;
	}
	assert_true(frames >= 4);
	assert_true(windows >= 1);
	assert_true(tried >= frames * 6 * 8);
	free(buf);
	recs_free(&rs);
	free(path);
	kvmt_rmtree(dir);
	free(dir);
}

static void test_format__inspect_reads_header_and_trailer(void **state)
{
	char *dir = kvmt_tmpdir(), *path = path_in(dir, "i.kvm");
	struct recs rs = { 0 };
	struct kvm_error err = { 0 };
	struct kvm_export_stats st;
	struct kvm_export_info *info;
	(void)state;

	random_recs(&rs, 500, 11, 3);
	assert_int_equal(write_file(path, PK3, 3, &rs, 2048, &st, &err), 0);
	for (int verify = 0; verify <= 1; verify++) {
		uint64_t sum = 0;

		if (kvm_export_inspect(path, verify, NULL, &info, &err) != 0)
			fail_msg("inspect: %s", err.msg);
		assert_int_equal(info->verified, verify);
		assert_int_equal(info->trailer.records, 500);
		assert_true(info->trailer.digest == st.digest);
		assert_int_equal(info->file_bytes, st.file_bytes);
		assert_int_equal(info->trailer.nsections, 3);
		for (size_t i = 0; i < 3; i++) {
			assert_string_equal(info->trailer.sections[i].package, PK3[i]);
			sum += info->trailer.sections[i].records;
		}
		assert_int_equal(sum, 500);
		assert_string_equal(info->header.source_database, "system_identifier=1 dbname=test");
		if (verify)
			assert_int_equal(info->frames, st.frames);
		kvm_export_info_free(info);
	}
	recs_free(&rs);
	free(path);
	kvmt_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format__kv_key_escapes_every_zero_of_the_partition),
		cmocka_unit_test(test_format__round_trip_of_edge_records),
		cmocka_unit_test(test_format__round_trip_of_10mb_and_largest_values),
		cmocka_unit_test(test_format__zero_records_and_many_packages),
		cmocka_unit_test(test_format__output_is_deterministic_whatever_the_framing),
		cmocka_unit_test(test_format__writer_refuses_calls_out_of_order),
		cmocka_unit_test(test_format__writer_refuses_records_over_the_caps),
		cmocka_unit_test(test_format__abort_leaves_an_existing_file_alone),
		cmocka_unit_test(test_format__open_in_a_missing_directory_names_the_file),
		cmocka_unit_test(test_format__full_disk_leaves_nothing_behind),
		cmocka_unit_test(test_format__reader_memory_stays_within_its_caps),
		cmocka_unit_test(test_format__every_truncation_and_flip_is_caught),
		cmocka_unit_test(test_format__every_frame_header_bit_is_caught),
		cmocka_unit_test(test_format__inspect_reads_header_and_trailer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
