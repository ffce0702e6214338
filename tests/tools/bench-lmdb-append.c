/*
 * bench-lmdb-append.c - how long LMDB alone takes to store the entries of
 * an export: the lower bound "B2" of tests/bench/bench.py.
 *
 *     bench-lmdb-append [--flags fast|default] EXPORT LMDBFILE
 *
 * EXPORT is read with the library's reader first (not timed), keeping only
 * the size of each record's LMDB key (kvm_kv_key_size(): the encoded
 * partition, 2 bytes, the key) and of its value.  Then, timed with
 * CLOCK_MONOTONIC, the program creates the LMDB file LMDBFILE, which must
 * not exist, puts as many entries of the same sizes with MDB_APPEND in one
 * write transaction, commits, calls mdb_env_sync(env, 1) and fsyncs the
 * file.  Keys are an 8-byte big-endian counter followed by filler, so each
 * one sorts after the last; values are slices of one random buffer.  What
 * is left to LMDB is exactly its share of an import: no decompression, no
 * msgpack, no key encoding, no order check.
 *
 * --flags fast (the default) opens the file as the import does:
 * MDB_NOSUBDIR | MDB_NOLOCK | MDB_WRITEMAP | MDB_NOSYNC.  --flags default
 * leaves out MDB_WRITEMAP and MDB_NOSYNC, so the commit itself writes and
 * syncs the pages, as LMDB does unless told otherwise.
 *
 * The map size is twice the entries' bytes plus 64 MiB, the rule of the
 * import.  Keys shorter than the 8-byte counter are made 8 bytes long
 * (their number goes to stderr); exports of the service have none.
 *
 * stdout: one JSON line,
 *     {"entries":N,"bytes":B,"seconds":S,"file_bytes":F}
 * with B the key and value bytes put and F the bytes of LMDBFILE that hold
 * pages (LMDB's last page number + 1, times the page size): with
 * MDB_WRITEMAP, LMDB extends the file to the map size, sparse, so its
 * length says nothing.  Exit status: 0 done, 1 failed (one line on stderr),
 * 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "kvm/export.h"
#include "kvm/kvkey.h"

#define PROG "bench-lmdb-append"

/* The counter that makes keys increase; shorter keys cannot hold it. */
#define COUNTER_BYTES 8
/* Values start at varying offsets of the random buffer, so that not every
 * put copies the same cache lines. */
#define VALUE_SPREAD 4096
/* Map size: the import's rule, so both runs have the same room. */
#define MAP_FACTOR 2
#define MAP_EXTRA (64ull << 20)

/* What is kept of one record; the reader's caps (64 KiB keys, 64 MiB
 * values) keep both sizes within 32 bits. */
struct entry_size {
	uint32_t key;
	uint32_t value;
};

/* Every record's sizes, and what they add up to. */
struct sizes {
	struct entry_size *e;
	size_t n, cap;
	uint64_t bytes;
	uint32_t max_key, max_value;
	uint64_t lengthened;   /* keys made COUNTER_BYTES long */
};

static void usage(void)
{
	fprintf(stderr, "usage: " PROG " [--flags fast|default] EXPORT LMDBFILE\n");
}

static int fail(const char *what, const char *why)
{
	fprintf(stderr, PROG ": %s: %s\n", what, why);
	return 1;
}

static int lmdb_fail(const char *what, int rc)
{
	return fail(what, mdb_strerror(rc));
}

static int sizes_add(struct sizes *s, size_t key, size_t value)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 65536;
		struct entry_size *e = realloc(s->e, cap * sizeof(*e));

		if (e == NULL)
			return -1;
		s->e = e;
		s->cap = cap;
	}
	if (key < COUNTER_BYTES) {
		key = COUNTER_BYTES;
		s->lengthened++;
	}
	s->e[s->n].key = (uint32_t)key;
	s->e[s->n].value = (uint32_t)value;
	s->n++;
	s->bytes += key + value;
	if (key > s->max_key)
		s->max_key = (uint32_t)key;
	if (value > s->max_value)
		s->max_value = (uint32_t)value;
	return 0;
}

/* Read the export through (checking it, as the import does) and keep the
 * sizes.  Not timed: reading is not LMDB's work. */
static int read_sizes(const char *path, struct sizes *s)
{
	struct kvm_error err = { 0 };
	struct kvm_export_record rec;
	kvm_export_reader *r = NULL;
	int rc;

	if (kvm_export_reader_open(&r, path, NULL, &err) != 0)
		return fail("cannot read the export", err.msg);
	while ((rc = kvm_export_reader_next(r, &rec, &err)) == 0) {
		size_t key = kvm_kv_key_size(rec.partition, rec.partition_len,
		                             rec.key_len);

		if (sizes_add(s, key, rec.value_len) != 0) {
			kvm_export_reader_close(r);
			return fail("cannot keep the record sizes", "out of memory");
		}
	}
	kvm_export_reader_close(r);
	if (rc != KVM_END)
		return fail("cannot read the export", err.msg);
	return 0;
}

/* xorshift64: the values only need to be incompressible-looking bytes. */
static void fill_random(uint8_t *buf, size_t len)
{
	uint64_t x = UINT64_C(0x9E3779B97F4A7C15);

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)(x >> 24);
	}
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int put_all(MDB_txn *txn, MDB_dbi dbi, const struct sizes *s,
                   uint8_t *key, uint8_t *value)
{
	MDB_val k, v;
	int rc;

	for (size_t i = 0; i < s->n; i++) {
		uint64_t c = i;

		/* big-endian, so byte order is numeric order */
		for (int b = COUNTER_BYTES - 1; b >= 0; b--, c >>= 8)
			key[b] = (uint8_t)c;
		k.mv_data = key;
		k.mv_size = s->e[i].key;
		v.mv_data = value + (i * 64) % VALUE_SPREAD;
		v.mv_size = s->e[i].value;
		rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The timed part: everything from creating the environment to the data
 * being on disk.  The environment is left open for the caller to close,
 * outside the time. */
static int build(const char *path, unsigned flags, const struct sizes *s,
                 uint8_t *key, uint8_t *value, MDB_env **envp)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	int rc, fd;

	if ((rc = mdb_env_create(&env)) != 0)
		return lmdb_fail("mdb_env_create", rc);
	*envp = env;
	if ((rc = mdb_env_set_mapsize(env, s->bytes * MAP_FACTOR + MAP_EXTRA)) != 0)
		return lmdb_fail("mdb_env_set_mapsize", rc);
	if ((rc = mdb_env_open(env, path, flags, 0600)) != 0)
		return lmdb_fail(path, rc);
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
		return lmdb_fail("mdb_txn_begin", rc);
	if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0) {
		mdb_txn_abort(txn);
		return lmdb_fail("mdb_dbi_open", rc);
	}
	if ((rc = put_all(txn, dbi, s, key, value)) != 0) {
		mdb_txn_abort(txn);
		return lmdb_fail("mdb_put", rc);
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return lmdb_fail("mdb_txn_commit", rc);
	if ((rc = mdb_env_sync(env, 1)) != 0)
		return lmdb_fail("mdb_env_sync", rc);
	if ((rc = mdb_env_get_fd(env, &fd)) != 0)
		return lmdb_fail("mdb_env_get_fd", rc);
	if (fsync(fd) != 0)
		return fail("fsync", strerror(errno));
	return 0;
}

/* Buffers sized for the largest key and value, then the timed build. */
static int run(const char *path, unsigned flags, const struct sizes *s)
{
	uint8_t *key = malloc(s->max_key + 1);
	uint8_t *value = malloc((size_t)s->max_value + VALUE_SPREAD);
	struct timespec t0;
	MDB_envinfo info;
	MDB_stat st;
	MDB_env *env = NULL;
	double secs;
	int rc = 1;

	if (key == NULL || value == NULL) {
		rc = fail("cannot allocate the buffers", "out of memory");
		goto out;
	}
	memset(key, 'k', s->max_key + 1);
	fill_random(value, (size_t)s->max_value + VALUE_SPREAD);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = build(path, flags, s, key, value, &env);
	secs = seconds_since(&t0);
	if (rc == 0 && ((rc = mdb_env_info(env, &info)) != 0 ||
	                (rc = mdb_env_stat(env, &st)) != 0))
		rc = lmdb_fail("cannot read the size of the store", rc);
	mdb_env_close(env);
	if (rc != 0)
		goto out;
	printf("{\"entries\":%zu,\"bytes\":%" PRIu64 ",\"seconds\":%.6f,"
	       "\"file_bytes\":%" PRIu64 "}\n", s->n, s->bytes, secs,
	       ((uint64_t)info.me_last_pgno + 1) * st.ms_psize);
	if (fflush(stdout) != 0)
		rc = fail("stdout", strerror(errno));
out:
	free(key);
	free(value);
	return rc;
}

static int parse_flags(const char *arg, unsigned *flags)
{
	*flags = MDB_NOSUBDIR | MDB_NOLOCK;
	if (strcmp(arg, "fast") == 0)
		*flags |= MDB_WRITEMAP | MDB_NOSYNC;
	else if (strcmp(arg, "default") != 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "flags", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct sizes s = { .e = NULL };
	unsigned flags;
	int opt, rc;

	parse_flags("fast", &flags);
	while ((opt = getopt_long(argc, argv, "f:", options, NULL)) != -1) {
		if (opt != 'f' || parse_flags(optarg, &flags) != 0) {
			usage();
			return 2;
		}
	}
	if (optind != argc - 2) {
		usage();
		return 2;
	}
	/* a fresh file, as the import builds; never one someone else owns */
	if (access(argv[optind + 1], F_OK) == 0)
		return fail(argv[optind + 1], "exists; give a path that does not");
	rc = read_sizes(argv[optind], &s);
	if (rc == 0 && s.lengthened > 0)
		fprintf(stderr, PROG ": %" PRIu64 " keys shorter than %d bytes "
		        "were made %d bytes long\n", s.lengthened,
		        COUNTER_BYTES, COUNTER_BYTES);
	if (rc == 0)
		rc = run(argv[optind + 1], flags, &s);
	free(s.e);
	return rc;
}
