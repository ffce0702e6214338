/*
 * fuzz_import.c - libFuzzer target for the import: export file -> KV store.
 *
 * Each input is written as an export file into a scratch directory (one
 * per process, under $TMPDIR or /tmp) and kvm_import_file() loads it twice
 * with a 4 MiB map (given, so that nothing is reserved from what the
 * trailer declares; small, so that a run stays fast and the scratch
 * small, yet larger than a few blocks of the import's reading thread):
 *
 *   1. into a KV path where nothing is, with progress events (which make
 *      the import read the file's trailer first, as the CLI's do);
 *   2. with force over a store an earlier import built, without events.
 *
 * Every run must end in one of two ways.  Failed: the KV path is as it
 * was (absent, or the earlier store byte for byte), the directory holds
 * nothing else than before (no temporary or lock file), and the message
 * is one line that names the input file.  Succeeded: the KV path holds
 * the records the result reports, each with its value, plus the three
 * metadata entries, and a later import can tell it is a store kvmigrate
 * built.
 *
 * Which of the two, and with which code, is decided beforehand from the
 * same bytes read from memory by the export reader: its records go
 * through the import's rules in order (a negative KV version first, then
 * per record LMDB's key limit, a key of the metadata's, a key twice), and
 * the first rule that applies, or else the reader's error, is the code
 * the import must return.  A full map is the one outcome allowed anywhere,
 * and only once the records come to an eighth of the map.  Both runs end
 * alike.  A violation aborts, so that libFuzzer keeps the input.
 *
 * Mutating the file's bytes rarely gets past the zstd checksums and the
 * digests, so the import would see little but refused files.  The custom
 * mutator therefore reads an input back into its header and records,
 * changes those (a record's bytes, a record twice, moved, dropped, a key
 * at LMDB's size limit, the metadata's own keys, the KV version, the
 * package list, the frame size) and writes a valid file again with the
 * export writer; one time in four it mutates the bytes as they are.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>
#include <xxhash.h>

#include "kvm/export.h"
#include "kvm/kvkey.h"
#include "kvm/migrate.h"
#include "kvtarget.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
                               unsigned int seed);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* The map of every import.  An explicit map is not reserved in the
 * file and only the pages used are written, so a large map costs
 * nothing until it fills. */
#define MAP_SIZE (4u << 20)
/* Entries the import adds to the records (design/kv-store.md). */
#define META_ENTRIES 3
/* Longest LMDB key this target handles; LMDB's own limit (511 in its
 * default build) is asked at start. */
#define KEY_BUF 2048
/* No map is full before the records' bytes (keys, values and a node's
 * overhead) come to this share of it: LMDB's pages are at least half
 * full, overflow pages at least half used, and branch pages few. */
#define MAP_FULL_SHARE 8

/* Caps of the mutator's model: mutants stay small.  A value may be
 * larger, to fill the map and to be larger than a block of the import's
 * reading thread (1 MiB); such a value is all one byte, and compresses
 * to little.  Records in all stay below MODEL_MAX_BYTES: more than the
 * map, and than the eight blocks the reading thread may hold. */
#define MODEL_MAX_RECORDS 4096
#define MODEL_MAX_FIELD   8192
#define MODEL_MAX_VALUE   ((4u << 20) + (64u << 10))
#define MODEL_MAX_BYTES   (16u << 20)

struct scratch {
	char dir[4096];
	char input[4200];          /* the input, as an export file */
	char kv[4200];             /* the KV path of both runs */
	unsigned char *prev;       /* the earlier store, byte for byte */
	size_t prev_len;
	size_t maxkey;             /* LMDB's longest key */
	char mdir[4096];           /* the mutator's own directory */
	char mutant[4200];
};

static struct scratch S;

static void cleanup(void);

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_import: %s: %s\n", what, detail);
	cleanup();
	abort();
}

/* A broken invariant: say which, for the crash report.  The input
 * reproduces it; the scratch directories go. */
static void violated(const char *what, const struct kvm_error *err)
{
	fprintf(stderr, "fuzz_import: invariant broken: %s\n", what);
	if (err != NULL)
		fprintf(stderr, "fuzz_import: the import said %d: %s\n", err->code,
		        err->msg);
	cleanup();
	abort();
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const unsigned char *p = data;

	if (fd < 0)
		die(path, strerror(errno));
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die(path, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) != 0)
		die(path, strerror(errno));
}

/* The whole file into a malloc'd buffer; NULL when it does not exist. */
static unsigned char *read_file(const char *path, size_t *len)
{
	struct stat sb;
	unsigned char *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENOENT)
			return NULL;
		die(path, strerror(errno));
	}
	if (fstat(fd, &sb) != 0)
		die(path, strerror(errno));
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL)
		die(path, "out of memory");
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die(path, n == 0 ? "shorter than its size" : strerror(errno));
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return buf;
}

/* Whether @dir holds exactly the names of @names (NULL-terminated). */
static int dir_holds_only(const char *dir, const char *const *names)
{
	size_t want = 0, seen = 0;
	struct dirent *de;
	DIR *d;
	int ok = 1;

	while (names[want] != NULL)
		want++;
	if ((d = opendir(dir)) == NULL)
		die(dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		size_t i;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		for (i = 0; names[i] != NULL; i++)
			if (strcmp(de->d_name, names[i]) == 0)
				break;
		if (names[i] == NULL) {
			fprintf(stderr, "fuzz_import: '%s' left in %s\n", de->d_name, dir);
			ok = 0;
		} else {
			seen++;
		}
	}
	closedir(d);
	return ok && seen == want;
}

static void remove_dir(const char *dir)
{
	struct dirent *de;
	char path[8300];
	DIR *d;

	if (dir[0] == '\0' || (d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static void cleanup(void)
{
	remove_dir(S.dir);
	remove_dir(S.mdir);
	S.dir[0] = S.mdir[0] = '\0';
	free(S.prev);
	S.prev = NULL;
}

static void make_dir(char *out, size_t size, const char *what)
{
	const char *tmp = getenv("TMPDIR");

	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	snprintf(out, size, "%s/kvfuzz-%s.XXXXXX", tmp, what);
	if (mkdtemp(out) == NULL)
		die(out, strerror(errno));
}

/* ------------------------------------------------------------------ */
/* The store an import built                                           */
/* ------------------------------------------------------------------ */

/*
 * The store at S.kv against the records of @data: every record is there
 * with its value, nothing else is but the metadata, and the result's
 * counts are the file's.
 */
static void check_store(const uint8_t *data, size_t size,
                        const struct kvm_import_result *r)
{
	struct kvm_export_record rec;
	struct kvm_error err;
	struct kvm_status st;
	kvm_export_reader *rd;
	unsigned char key[KEY_BUF];
	uint64_t n = 0, sum = 0;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat ms;
	int rc;

	if (mdb_env_create(&env) != 0 ||
	    mdb_env_open(env, S.kv, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK,
	                  0600) != 0 ||
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0 ||
	    mdb_dbi_open(txn, NULL, 0, &dbi) != 0 ||
	    mdb_stat(txn, dbi, &ms) != 0)
		violated("the published store cannot be opened", NULL);
	if (ms.ms_entries != r->records + META_ENTRIES)
		violated("the store's entries are not the records plus the metadata",
		         NULL);
	if (kvm_export_reader_open_mem(&rd, data, size, "fuzz", NULL, &err) != 0)
		violated("imported a file the reader refuses", &err);
	while ((rc = kvm_export_reader_next(rd, &rec, &err)) == 0) {
		MDB_val k, v;
		size_t len = kvm_kv_key_size(rec.partition, rec.partition_len,
		                             rec.key_len);

		if (len > S.maxkey)
			violated("imported a key over LMDB's limit", NULL);
		k.mv_size = kvm_kv_key_encode(key, rec.partition, rec.partition_len,
		                              rec.key, rec.key_len);
		k.mv_data = key;
		if (mdb_get(txn, dbi, &k, &v) != 0)
			violated("a record of the file is not in the store", NULL);
		if (v.mv_size != rec.value_len || (rec.value_len > 0 &&
		    memcmp(v.mv_data, rec.value, rec.value_len) != 0))
			violated("a record's value in the store is not the file's", NULL);
		n++;
	}
	if (rc != KVM_END)
		violated("imported a file the reader refuses", &err);
	if (n != r->records || r->appended > r->records)
		violated("the result's record counts are not the file's", NULL);
	if (r->npackages != kvm_export_reader_header(rd)->npackages)
		violated("the result does not list every package", NULL);
	for (size_t i = 0; i < r->npackages; i++)
		sum += r->packages[i].records;
	if (sum != r->records)
		violated("the packages' records do not add up to the records", NULL);
	if (r->kv_version != kvm_export_reader_header(rd)->kv_migration_version ||
	    r->digest != kvm_export_reader_trailer(rd)->digest)
		violated("the result's version or digest is not the file's", NULL);
	kvm_export_reader_close(rd);
	mdb_txn_abort(txn);
	mdb_env_close(env);

	/* What the next import (and status) will see at the path. */
	memset(&st, 0, sizeof(st));
	kvm_kv_status(S.kv, &st);
	if (st.kv.state != KVM_KV_PRESENT)
		violated("the published store is not one kvmigrate built", NULL);
	if ((int64_t)st.kv.version != r->kv_version)
		violated("the store's recorded version is not the result's", NULL);
}

/* ------------------------------------------------------------------ */
/* How the import must end                                             */
/* ------------------------------------------------------------------ */

/* The LMDB keys seen so far: open addressing over a byte arena. */
struct keyset {
	struct slot { uint64_t hash; size_t off, len; } *slots;
	size_t cap, n;
	unsigned char *arena;
	size_t used, arena_cap;
};

static struct slot *keyset_find(struct keyset *ks, const void *k, size_t len,
                                uint64_t hash)
{
	for (size_t i = hash & (ks->cap - 1);; i = (i + 1) & (ks->cap - 1)) {
		struct slot *sl = &ks->slots[i];

		if (sl->len == 0 ||
		    (sl->hash == hash && sl->len - 1 == len &&
		     memcmp(ks->arena + sl->off, k, len) == 0))
			return sl;
	}
}

/* Add a key; 1 when it was there already. */
static int keyset_add(struct keyset *ks, const void *k, size_t len)
{
	uint64_t hash = XXH64(k, len, 0);
	struct slot *sl;

	if (2 * (ks->n + 1) > ks->cap) {
		struct keyset bigger = *ks;

		bigger.cap = ks->cap != 0 ? 2 * ks->cap : 1024;
		if ((bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots))) == NULL)
			die("key set", "out of memory");
		for (size_t i = 0; i < ks->cap; i++)
			if (ks->slots[i].len != 0)
				*keyset_find(&bigger, ks->arena + ks->slots[i].off,
				             ks->slots[i].len - 1, ks->slots[i].hash) =
					ks->slots[i];
		free(ks->slots);
		*ks = bigger;
	}
	sl = keyset_find(ks, k, len, hash);
	if (sl->len != 0)
		return 1;
	if (ks->used + len > ks->arena_cap) {
		size_t cap = 2 * (ks->used + len) + 4096;

		if ((ks->arena = realloc(ks->arena, cap)) == NULL)
			die("key set", "out of memory");
		ks->arena_cap = cap;
	}
	if (len > 0)
		memcpy(ks->arena + ks->used, k, len);
	sl->hash = hash;
	sl->off = ks->used;
	sl->len = len + 1;              /* 0 marks a free slot */
	ks->used += len;
	ks->n++;
	return 0;
}

static void keyset_free(struct keyset *ks)
{
	free(ks->slots);
	free(ks->arena);
}

struct verdict {
	int code;        /* what the import returns: 0 or an error */
	int may_fill;    /* a full map is possible too */
};

/* Whether @key (@len bytes) is one the import writes its metadata under. */
static int meta_key(const unsigned char *key, size_t len)
{
	static const char *const names[] = {
		KVM_KV_META_SCHEMA_VERSION, KVM_KV_META_MIGRATION_ID,
		KVM_KV_META_EXPORT_DIGEST,
	};
	unsigned char m[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (kvm_kv_key_encode(m, KVM_KV_META_PARTITION,
		                      strlen(KVM_KV_META_PARTITION), names[i],
		                      strlen(names[i])) == len &&
		    memcmp(m, key, len) == 0)
			return 1;
	return 0;
}

/* How the import of @data must end (see the top of this file). */
static struct verdict verdict(const uint8_t *data, size_t size)
{
	struct verdict v = { 0, 0 };
	struct kvm_export_record rec;
	struct kvm_error err;
	struct keyset ks = { 0 };
	unsigned char key[KEY_BUF];
	uint64_t bytes = 0;
	kvm_export_reader *rd;
	int rc;

	rc = kvm_export_reader_open_mem(&rd, data, size, "fuzz", NULL, &err);
	if (rc != 0) {
		v.code = rc;
		return v;
	}
	if (kvm_export_reader_header(rd)->kv_migration_version < 0) {
		kvm_export_reader_close(rd);
		v.code = KVM_ECORRUPT;
		return v;
	}
	while ((rc = kvm_export_reader_next(rd, &rec, &err)) == 0) {
		size_t len = kvm_kv_key_size(rec.partition, rec.partition_len,
		                             rec.key_len);

		bytes += len + rec.value_len + 64;
		if (len > S.maxkey) {
			rc = KVM_EKEYSIZE;
			break;
		}
		kvm_kv_key_encode(key, rec.partition, rec.partition_len, rec.key,
		                  rec.key_len);
		if (meta_key(key, len) || keyset_add(&ks, key, len)) {
			rc = KVM_EORDER;
			break;
		}
	}
	if (rc == KVM_END)
		rc = 0;
	kvm_export_reader_close(rd);
	keyset_free(&ks);
	v.code = rc;
	v.may_fill = bytes * MAP_FULL_SHARE >= MAP_SIZE;
	return v;
}

/* ------------------------------------------------------------------ */
/* The target                                                          */
/* ------------------------------------------------------------------ */

static void on_event(void *ctx, const struct kvm_event *ev)
{
	(void)ctx;
	if (ev->kind != KVM_EVENT_PROGRESS || ev->name == NULL ||
	    strcmp(ev->name, "import") != 0 || ev->package == NULL ||
	    !kvm_export_package_name_ok(ev->package, strlen(ev->package)))
		violated("an event that is not an import's progress", NULL);
}

/* One import of S.input into S.kv; @prev: the bytes S.kv holds before
 * (NULL: nothing is there).  Returns the import's code. */
static int run(const uint8_t *data, size_t size, const struct verdict *v,
               const unsigned char *prev, size_t prev_len)
{
	static const char *const only_input[] = { "input.kvm", NULL };
	static const char *const input_and_kv[] = { "input.kvm", "kv.mdb", NULL };
	struct kvm_import_opts o = {
		.input = S.input, .kv_path = S.kv, .force = prev != NULL,
		.map_size = MAP_SIZE, .on_event = prev == NULL ? on_event : NULL,
	};
	struct kvm_import_result *r = calloc(1, sizeof(*r));
	struct kvm_error err;
	int rc;

	if (r == NULL)
		die("result", "out of memory");
	memset(&err, 0, sizeof(err));
	rc = kvm_import_file(&o, r, &err);
	if (rc == KVM_EMAPFULL ? !v->may_fill : rc != v->code) {
		fprintf(stderr, "fuzz_import: the reader's records say %d\n", v->code);
		violated("the import ends otherwise than the file's records say",
		         rc != 0 ? &err : NULL);
	}
	if (rc != 0) {
		unsigned char *now;
		size_t now_len = 0;

		if (err.code != rc || err.msg[0] == '\0' ||
		    strchr(err.msg, '\n') != NULL)
			violated("the error is not one line with the code returned", &err);
		if (strstr(err.msg, S.input) == NULL)
			violated("the error does not name the export file", &err);
		now = read_file(S.kv, &now_len);
		if (prev == NULL && now != NULL)
			violated("a failed import left a file at the KV path", &err);
		if (prev != NULL && (now == NULL || now_len != prev_len ||
		                     memcmp(now, prev, prev_len) != 0))
			violated("a failed import changed the store at the KV path", &err);
		free(now);
		if (!dir_holds_only(S.dir, prev != NULL ? input_and_kv : only_input))
			violated("a failed import left a file behind", &err);
	} else {
		if (r->map_size != MAP_SIZE || r->replaced != (prev != NULL))
			violated("the result's map size or replaced flag is wrong", NULL);
		if (!dir_holds_only(S.dir, input_and_kv))
			violated("an import left a file beside the store", NULL);
		check_store(data, size, r);
	}
	if (unlink(S.kv) != 0 && errno != ENOENT)
		die(S.kv, strerror(errno));
	kvm_import_result_release(r);
	free(r);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct verdict v = verdict(data, size);
	int rc1, rc2;

	write_file(S.input, data, size);
	rc1 = run(data, size, &v, NULL, 0);
	write_file(S.kv, S.prev, S.prev_len);
	rc2 = run(data, size, &v, S.prev, S.prev_len);
	if (rc1 != rc2)
		violated("the import ends otherwise over an earlier store", NULL);
	if (unlink(S.input) != 0)
		die(S.input, strerror(errno));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Setup                                                               */
/* ------------------------------------------------------------------ */

/* The earlier store of the second run: one package, two records. */
static void make_prev(void)
{
	static const char *const pkgs[] = { "auth" };
	struct kvm_export_header h = {
		.kv_migration_version = 9, .source_schema_version = 8,
		.source_database = "earlier", .packages = pkgs, .npackages = 1,
	};
	struct kvm_export_writer_opts wo = { .header = &h };
	struct kvm_import_opts io = { .input = S.input, .kv_path = S.kv,
	                              .map_size = MAP_SIZE };
	struct kvm_import_result *r = calloc(1, sizeof(*r));
	struct kvm_error err;
	kvm_export_writer *w;

	if (r == NULL)
		die("result", "out of memory");
	if (kvm_export_writer_open(&w, S.input, &wo, &err) != 0 ||
	    kvm_export_writer_begin_section(w, "auth", &err) != 0 ||
	    kvm_export_writer_write(w, "users", 5, "alice", 5, "\x01", 1, &err) != 0 ||
	    kvm_export_writer_write(w, "users", 5, "bob", 3, "\x02", 1, &err) != 0 ||
	    kvm_export_writer_end_section(w, NULL, &err) != 0 ||
	    kvm_export_writer_finish(w, NULL, &err) != 0 ||
	    kvm_import_file(&io, r, &err) != 0)
		die("the earlier store", err.msg);
	if ((S.prev = read_file(S.kv, &S.prev_len)) == NULL)
		die(S.kv, "missing");
	unlink(S.kv);
	unlink(S.input);
	kvm_import_result_release(r);
	free(r);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	MDB_env *env;

	(void)argc;
	(void)argv;
	if (mdb_env_create(&env) != 0)
		die("LMDB", "cannot create an environment");
	S.maxkey = (size_t)mdb_env_get_maxkeysize(env);
	mdb_env_close(env);
	if (S.maxkey >= KEY_BUF)
		die("LMDB", "its longest key is longer than this target handles");
	make_dir(S.dir, sizeof(S.dir), "import");
	make_dir(S.mdir, sizeof(S.mdir), "mutate");
	atexit(cleanup);
	snprintf(S.input, sizeof(S.input), "%s/input.kvm", S.dir);
	snprintf(S.kv, sizeof(S.kv), "%s/kv.mdb", S.dir);
	snprintf(S.mutant, sizeof(S.mutant), "%s/mutant.kvm", S.mdir);
	make_prev();
	return 0;
}

/* ------------------------------------------------------------------ */
/* The mutator                                                         */
/* ------------------------------------------------------------------ */

struct mrec {
	size_t section;
	unsigned char *f[3];       /* partition, key, value */
	size_t len[3];
};

struct model {
	struct kvm_export_header h;
	char db[KVM_EXPORT_MAX_STRING + 1];
	char names[KVM_EXPORT_MAX_PACKAGES][65];
	const char *pkgs[KVM_EXPORT_MAX_PACKAGES];
	struct mrec *recs;
	size_t nrecs;
	size_t frame_bytes;
	int level;
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: the seed libFuzzer gives makes a mutation repeatable */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static size_t below(size_t n)
{
	return n == 0 ? 0 : (size_t)(rnd() % n);
}

static unsigned char *dup_bytes(const void *p, size_t n)
{
	unsigned char *b = malloc(n > 0 ? n : 1);

	if (b == NULL)
		die("mutator", "out of memory");
	if (n > 0)
		memcpy(b, p, n);
	return b;
}

static void model_free(struct model *m)
{
	for (size_t i = 0; i < m->nrecs; i++)
		for (int j = 0; j < 3; j++)
			free(m->recs[i].f[j]);
	free(m->recs);
	m->recs = NULL;
	m->nrecs = 0;
}

/* The header and as many records as the reader gives (a damaged file
 * keeps what comes before the damage), up to the model's caps.  0, or -1
 * without a header. */
static int model_read(struct model *m, const uint8_t *data, size_t size)
{
	struct kvm_export_reader_opts caps = {
		.max_partition = MODEL_MAX_FIELD, .max_key = MODEL_MAX_FIELD,
		.max_value = MODEL_MAX_VALUE,
	};
	struct kvm_export_record rec;
	struct kvm_error err;
	const struct kvm_export_header *h;
	kvm_export_reader *rd;
	size_t total = 0;

	memset(m, 0, sizeof(*m));
	if (kvm_export_reader_open_mem(&rd, data, size, "mutant", &caps, &err) != 0)
		return -1;
	h = kvm_export_reader_header(rd);
	m->h = *h;
	snprintf(m->db, sizeof(m->db), "%s", h->source_database);
	m->h.source_database = m->db;
	for (size_t i = 0; i < h->npackages; i++) {
		snprintf(m->names[i], sizeof(m->names[i]), "%s", h->packages[i]);
		m->pkgs[i] = m->names[i];
	}
	m->h.packages = m->pkgs;
	if ((m->recs = calloc(MODEL_MAX_RECORDS + 1, sizeof(*m->recs))) == NULL)
		die("mutator", "out of memory");
	while (m->nrecs < MODEL_MAX_RECORDS && total <= MODEL_MAX_BYTES &&
	       kvm_export_reader_next(rd, &rec, &err) == 0) {
		struct mrec *r = &m->recs[m->nrecs++];

		total += rec.partition_len + rec.key_len + rec.value_len;
		r->section = rec.section;
		r->f[0] = dup_bytes(rec.partition, r->len[0] = rec.partition_len);
		r->f[1] = dup_bytes(rec.key, r->len[1] = rec.key_len);
		r->f[2] = dup_bytes(rec.value, r->len[2] = rec.value_len);
	}
	kvm_export_reader_close(rd);
	return 0;
}

/* A new record at @at (0..nrecs) in @section; takes the field buffers. */
static struct mrec *insert(struct model *m, size_t at, size_t section)
{
	if (m->nrecs >= MODEL_MAX_RECORDS)
		return NULL;
	memmove(&m->recs[at + 1], &m->recs[at],
	        (m->nrecs - at) * sizeof(*m->recs));
	m->nrecs++;
	memset(&m->recs[at], 0, sizeof(*m->recs));
	m->recs[at].section = section;
	return &m->recs[at];
}

/* @p may be the field itself. */
static void set_field(struct mrec *r, int j, const void *p, size_t n)
{
	unsigned char *b = dup_bytes(p, n);

	free(r->f[j]);
	r->f[j] = b;
	r->len[j] = n;
}

static void mutate_field(struct mrec *r, int j)
{
	size_t cap = r->len[j] * 2 + 16;
	unsigned char *b;

	if (cap > MODEL_MAX_FIELD)
		cap = MODEL_MAX_FIELD;
	if (r->len[j] > cap)
		return;
	if ((b = malloc(cap)) == NULL)
		die("mutator", "out of memory");
	if (r->len[j] > 0)
		memcpy(b, r->f[j], r->len[j]);
	r->len[j] = LLVMFuzzerMutate(b, r->len[j], cap);
	free(r->f[j]);
	r->f[j] = b;
}

/* A key that makes the LMDB key just fit LMDB's limit, or miss it by one. */
static void key_at_limit(struct mrec *r)
{
	size_t base = kvm_kv_key_size(r->f[0], r->len[0], 0);
	size_t want = S.maxkey + below(2);
	unsigned char k[KEY_BUF];

	if (base > want)
		return;
	memset(k, 'k', sizeof(k));
	set_field(r, 1, k, want - base);
}

static void mutate_model(struct model *m)
{
	static const char *const meta_keys[] = {
		KVM_KV_META_SCHEMA_VERSION, KVM_KV_META_MIGRATION_ID,
		KVM_KV_META_EXPORT_DIGEST, "kv-other",
	};
	static const int64_t versions[] = {
		0, 1, 9, -1, INT64_MIN, INT64_MAX, (int64_t)UINT32_MAX + 1,
	};
	size_t n = m->nrecs, i = below(n), j = below(n);
	struct mrec *r = n > 0 ? &m->recs[i] : NULL, *q;
	size_t np = m->h.npackages;

	switch (below(16)) {
	case 0: case 1: case 2:             /* a record's bytes */
		if (r != NULL)
			mutate_field(r, (int)below(3));
		break;
	case 3:                             /* a record twice */
		if (r != NULL && (q = insert(m, below(n + 1), below(np))) != NULL) {
			r = &m->recs[i < (size_t)(q - m->recs) ? i : i + 1];
			for (int f = 0; f < 3; f++)
				set_field(q, f, r->f[f], r->len[f]);
		}
		break;
	case 4:                             /* one record fewer */
		if (r != NULL) {
			for (int f = 0; f < 3; f++)
				free(r->f[f]);
			memmove(r, r + 1, (n - i - 1) * sizeof(*r));
			m->nrecs--;
		}
		break;
	case 5:                             /* two records swapped */
		if (r != NULL) {
			struct mrec t = m->recs[i];

			m->recs[i] = m->recs[j];
			m->recs[j] = t;
		}
		break;
	case 6:                             /* a record in another section */
		if (r != NULL)
			r->section = below(np);
		break;
	case 7:                             /* another record's partition */
		if (r != NULL)
			set_field(r, 0, m->recs[j].f[0], m->recs[j].len[0]);
		break;
	case 8:                             /* at LMDB's key limit */
		if (r != NULL)
			key_at_limit(r);
		break;
	case 9:                             /* the metadata's partition */
		if ((q = insert(m, below(n + 1), below(np))) != NULL) {
			const char *k = meta_keys[below(4)];

			set_field(q, 0, KVM_KV_META_PARTITION,
			          strlen(KVM_KV_META_PARTITION));
			set_field(q, 1, k, strlen(k));
			set_field(q, 2, "\x07", 1);
		}
		break;
	case 10:                            /* the KV migration version */
		m->h.kv_migration_version = below(2) ? versions[below(7)]
		                                     : (int64_t)rnd();
		break;
	case 11:                            /* a package more, or fewer */
		if (np < KVM_EXPORT_MAX_PACKAGES && below(2)) {
			snprintf(m->names[np], sizeof(m->names[np]), "p%zu", np);
			m->pkgs[np] = m->names[np];
			m->h.npackages++;
		} else if (np > 1) {
			m->h.npackages--;
		}
		break;
	case 12:                            /* a partition with 0x00 bytes */
		if (r != NULL) {
			unsigned char p[4] = { 0, 0xff, 0, 0 };

			set_field(r, 0, p, 1 + below(4));
		}
		break;
	case 13:                            /* a large value, rarely: slow */
		if (r != NULL && below(4) == 0) {
			static const size_t sizes[] = {
				(1u << 20) - 64, (1u << 20) + 1, 3u << 20, (4u << 20) + 1,
			};
			size_t len = below(2) ? sizes[below(4)] : below(MODEL_MAX_VALUE);
			unsigned char *v = malloc(len > 0 ? len : 1);

			if (v == NULL)
				die("mutator", "out of memory");
			memset(v, (int)below(256), len);
			free(r->f[2]);
			r->f[2] = v;
			r->len[2] = len;
		}
		break;
	case 14:                            /* many records with new keys */
		if (r != NULL) {
			struct mrec orig = *r;
			size_t k = 1 + below(1000);
			/* a large value copied whole only at times, and only a few */
			size_t vlen = orig.len[2] < 256 || below(4) == 0 ? orig.len[2]
			                                                : 256;

			if (k > MODEL_MAX_BYTES / (vlen + 1))
				k = MODEL_MAX_BYTES / (vlen + 1);
			for (size_t c = 0; c < k; c++) {
				unsigned char key[MODEL_MAX_FIELD + 24];
				size_t kl = orig.len[1] < MODEL_MAX_FIELD ? orig.len[1]
				                                         : MODEL_MAX_FIELD;

				if ((q = insert(m, i + 1 + c, orig.section)) == NULL)
					break;
				if (kl > 0)
					memcpy(key, orig.f[1], kl);
				kl += (size_t)snprintf((char *)key + kl, 24, "/%zu", c);
				set_field(q, 0, orig.f[0], orig.len[0]);
				set_field(q, 1, key, kl);
				set_field(q, 2, orig.f[2], vlen);
			}
		}
		break;
	default:                            /* how the file is cut into frames */
		m->frame_bytes = 1 + below(1024);
		m->level = below(2) ? -7 + (int)below(10) : 0;
		break;
	}
}

/* Write @m with the export writer into S.mutant; its bytes into @out
 * when they fit in @max.  Returns their size, or 0. */
static size_t model_write(const struct model *m, uint8_t *out, size_t max)
{
	struct kvm_export_writer_opts wo = {
		.header = &m->h, .frame_bytes = m->frame_bytes, .level = m->level,
	};
	struct kvm_error err;
	kvm_export_writer *w;
	unsigned char *bytes;
	size_t len = 0, total = 0;

	for (size_t i = 0; i < m->nrecs; i++)
		total += m->recs[i].len[0] + m->recs[i].len[1] + m->recs[i].len[2];
	if (total > MODEL_MAX_BYTES ||
	    kvm_export_writer_open(&w, S.mutant, &wo, &err) != 0)
		return 0;
	for (size_t s = 0; s < m->h.npackages; s++) {
		kvm_export_writer_begin_section(w, m->h.packages[s], &err);
		for (size_t i = 0; i < m->nrecs; i++) {
			const struct mrec *r = &m->recs[i];

			if (r->section == s)
				kvm_export_writer_write(w, r->f[0], r->len[0], r->f[1],
				                        r->len[1], r->f[2], r->len[2], &err);
		}
		kvm_export_writer_end_section(w, NULL, &err);
	}
	if (kvm_export_writer_finish(w, NULL, &err) != 0)
		return 0;
	bytes = read_file(S.mutant, &len);
	unlink(S.mutant);
	if (bytes == NULL || len > max) {
		free(bytes);
		return 0;
	}
	memcpy(out, bytes, len);
	free(bytes);
	return len;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
                               unsigned int seed)
{
	struct model m;
	size_t out = 0;

	rng_state = (uint64_t)seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
	if (below(4) == 0 || model_read(&m, data, size) != 0)
		return LLVMFuzzerMutate(data, size, max_size);
	for (size_t k = 1 + below(3); k > 0; k--)
		mutate_model(&m);
	out = model_write(&m, data, max_size);
	model_free(&m);
	return out != 0 ? out : LLVMFuzzerMutate(data, size, max_size);
}
