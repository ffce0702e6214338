/*
 * test_import.c - kvm_import_file(): an export file into one LMDB file.
 *
 * Inputs are real export files made with the writer (format/) or taken
 * from testdata/; outputs are read back with the LMDB API alone and, as a
 * cross-check that shares no code with kvmigrate, with LMDB's own
 * `mdb_dump -n -p`.  Every entry is compared byte for byte: each record
 * (partition, key, value) must be the LMDB entry kvm_kv_key_encode(
 * partition, key) -> value, plus exactly three metadata entries.
 *
 * Every refusal (a foreign file, an existing store without force, a live
 * reader, a full map, a key too long for LMDB, a key twice, a corrupt
 * export, a cancel) must leave the KV path as it was, byte for byte and
 * the same inode, and the directory without a temporary or lock file.
 *
 * Needs no database; run from the repository root (testdata/).
 */
#include "kvmt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "kvm/export.h"
#include "kvm/kvkey.h"
#include "kvm/migrate.h"

/* --- records and export files --------------------------------------------- */

/* A record as the tests keep it: the section (index in the package list)
 * and its three byte strings. */
struct rec {
	size_t section;
	uint8_t *p, *k, *v;
	size_t pn, kn, vn;
};

struct recs {
	struct rec *r;
	size_t n, cap;
};

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

/* recs_add() with C strings for partition and key. */
static void recs_adds(struct recs *rs, size_t section, const char *p,
                      const char *k, const void *v, size_t vn)
{
	recs_add(rs, section, p, strlen(p), k, strlen(k), v, vn);
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

/* The LMDB key of a record, malloc'd. */
static uint8_t *lmdb_key(const struct rec *r, size_t *n)
{
	uint8_t *k = malloc(kvm_kv_key_size(r->p, r->pn, r->kn));

	assert_non_null(k);
	*n = kvm_kv_key_encode(k, r->p, r->pn, r->k, r->kn);
	assert_int_equal(*n, kvm_kv_key_size(r->p, r->pn, r->kn));
	return k;
}

/* LMDB's default order of keys: bytes, then the shorter first. */
static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn;
}

/* For sorting the records of one section by their LMDB key. */
struct keyed {
	const struct rec *r;
	uint8_t *k;
	size_t kn;
};

static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;

	return bytes_cmp(x->k, x->kn, y->k, y->kn);
}

static const char *const PK3[] = { "auth", "refs", "actions" };

/*
 * Write @rs as an export file at @path: packages @pk, header
 * kv_migration_version @kv_version.  Each section holds the records of its
 * index, sorted by LMDB key (as the migrators emit them); the order of
 * @rs across sections does not matter.  Fails the test when the writer
 * fails.  Returns the file digest.
 */
static uint64_t make_export(const char *path, const char *const *pk, size_t npk,
                            const struct recs *rs, int64_t kv_version)
{
	struct kvm_export_header h = {
		.kv_migration_version = kv_version, .source_schema_version = 7,
		.source_database = "system_identifier=1 dbname=test",
		.snapshot_time = { 1700000000, 5000 },
		.packages = pk, .npackages = npk,
	};
	/* small frames: many zstd frames even for a few records */
	struct kvm_export_writer_opts o = { .header = &h, .frame_bytes = 4096 };
	struct kvm_export_stats st;
	struct kvm_error err = { 0 };
	struct keyed *sec = calloc(rs->n + 1, sizeof(*sec));
	kvm_export_writer *w;

	assert_non_null(sec);
	if (kvm_export_writer_open(&w, path, &o, &err) != 0)
		fail_msg("writer open: %s", err.msg);
	for (size_t s = 0; s < npk; s++) {
		size_t m = 0;

		if (kvm_export_writer_begin_section(w, pk[s], &err) != 0)
			fail_msg("begin %s: %s", pk[s], err.msg);
		for (size_t i = 0; i < rs->n; i++)
			if (rs->r[i].section == s) {
				sec[m].r = &rs->r[i];
				sec[m].k = lmdb_key(&rs->r[i], &sec[m].kn);
				m++;
			}
		qsort(sec, m, sizeof(*sec), keyed_cmp);
		for (size_t i = 0; i < m; i++) {
			const struct rec *r = sec[i].r;

			if (kvm_export_writer_write(w, r->p, r->pn, r->k, r->kn, r->v,
			                            r->vn, &err) != 0)
				fail_msg("write: %s", err.msg);
			free(sec[i].k);
		}
		if (kvm_export_writer_end_section(w, NULL, &err) != 0)
			fail_msg("end %s: %s", pk[s], err.msg);
	}
	if (kvm_export_writer_finish(w, &st, &err) != 0)
		fail_msg("finish: %s", err.msg);
	free(sec);
	return st.digest;
}

/* --- LMDB entries ---------------------------------------------------------- */

struct entry {
	uint8_t *k, *v;
	size_t kn, vn;
};

struct entries {
	struct entry *e;
	size_t n, cap;
};

static void entries_add(struct entries *es, const void *k, size_t kn,
                        const void *v, size_t vn)
{
	if (es->n == es->cap) {
		es->cap = es->cap ? es->cap * 2 : 64;
		es->e = realloc(es->e, es->cap * sizeof(*es->e));
		assert_non_null(es->e);
	}
	es->e[es->n++] = (struct entry){ dup_bytes(k, kn), dup_bytes(v, vn), kn, vn };
}

static void entries_free(struct entries *es)
{
	for (size_t i = 0; i < es->n; i++) {
		free(es->e[i].k);
		free(es->e[i].v);
	}
	free(es->e);
	memset(es, 0, sizeof(*es));
}

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return bytes_cmp(x->k, x->kn, y->k, y->kn);
}

/* The entries @rs must give, in LMDB order, without the metadata. */
static void want_entries(const struct recs *rs, struct entries *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < rs->n; i++) {
		size_t kn;
		uint8_t *k = lmdb_key(&rs->r[i], &kn);

		entries_add(out, k, kn, rs->r[i].v, rs->r[i].vn);
		free(k);
	}
	if (out->n > 1)
		qsort(out->e, out->n, sizeof(*out->e), entry_cmp);
}

/* What LMDB says about a store, besides its entries. */
struct store_info {
	size_t mapsize;
	size_t entries;       /* ms_entries of the unnamed database */
	unsigned dbi_flags;
	size_t last_txnid;    /* write transactions the store was built in */
};

/*
 * Read every entry of the store at @path, in cursor order, with the LMDB
 * API alone (@out NULL: only @info).  Opened read-only and without a lock file (MDB_NOLOCK), so
 * reading leaves the directory as it was.
 */
static void read_store(const char *path, struct entries *out,
                       struct store_info *info)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	MDB_stat ms;
	MDB_envinfo ei;
	int rc;

	assert_int_equal(mdb_env_create(&env), 0);
	rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0600);
	if (rc != 0)
		fail_msg("mdb_env_open '%s': %s", path, mdb_strerror(rc));
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	assert_int_equal(mdb_dbi_flags(txn, dbi, &info->dbi_flags), 0);
	assert_int_equal(mdb_stat(txn, dbi, &ms), 0);
	assert_int_equal(mdb_env_info(env, &ei), 0);
	info->entries = ms.ms_entries;
	info->mapsize = ei.me_mapsize;
	info->last_txnid = ei.me_last_txnid;
	if (out != NULL) {
		memset(out, 0, sizeof(*out));
		assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
			entries_add(out, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
		assert_int_equal(rc, MDB_NOTFOUND);
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

static void hexdump(char *out, size_t size, const uint8_t *p, size_t n)
{
	size_t i = 0;

	for (; i < n && 2 * i + 3 < size; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * i] = '\0';
}

/* @got equal to @want, entry by entry, in the same order. */
static void assert_entries_equal(const struct entries *got,
                                 const struct entries *want)
{
	size_t n = got->n < want->n ? got->n : want->n;

	for (size_t i = 0; i < n; i++) {
		const struct entry *g = &got->e[i], *w = &want->e[i];
		char gk[129], wk[129];

		hexdump(gk, sizeof(gk), g->k, g->kn);
		hexdump(wk, sizeof(wk), w->k, w->kn);
		if (g->kn != w->kn || memcmp(g->k, w->k, w->kn) != 0)
			fail_msg("entry %zu: key %s, want %s", i, gk, wk);
		if (g->vn != w->vn || (w->vn > 0 && memcmp(g->v, w->v, w->vn) != 0))
			fail_msg("entry %zu (key %s): value of %zu bytes differs from "
			         "the %zu bytes written", i, wk, g->vn, w->vn);
	}
	if (got->n != want->n)
		fail_msg("%zu entries, want %zu", got->n, want->n);
}

/* The metadata a store records. */
struct meta {
	uint64_t version;
	uint64_t digest;
	char id[33];
};

static size_t meta_key(uint8_t *out, const char *key)
{
	static const char part[] = KVM_KV_META_PARTITION;

	return kvm_kv_key_encode(out, part, sizeof(part) - 1, key, strlen(key));
}

/*
 * Take the entries of KVM_KV_META_PARTITION out of @es (the rest keep
 * their order) and check there are exactly the three of the contract, in
 * their encodings: the version a msgpack integer, the migration id a
 * msgpack str of 32 hex digits, the digest a msgpack uint.
 */
static void take_meta(struct entries *es, struct meta *m)
{
	static const char *const names[3] = {
		KVM_KV_META_SCHEMA_VERSION, KVM_KV_META_MIGRATION_ID,
		KVM_KV_META_EXPORT_DIGEST,
	};
	uint8_t prefix[64];
	size_t pn = meta_key(prefix, "");
	const struct entry *found[3] = { NULL, NULL, NULL };
	struct entry meta[3];
	size_t nmeta = 0, j = 0;

	for (size_t i = 0; i < es->n; i++) {
		struct entry *e = &es->e[i];

		if (e->kn < pn || memcmp(e->k, prefix, pn) != 0) {
			es->e[j++] = *e;
			continue;
		}
		if (nmeta == 3)
			fail_msg("more than three entries in partition '%s'",
			         KVM_KV_META_PARTITION);
		meta[nmeta++] = *e;
	}
	es->n = j;
	for (size_t i = 0; i < nmeta; i++)
		for (size_t t = 0; t < 3; t++)
			if (meta[i].kn == pn + strlen(names[t]) &&
			    memcmp(meta[i].k + pn, names[t], strlen(names[t])) == 0)
				found[t] = &meta[i];
	for (size_t t = 0; t < 3; t++)
		if (found[t] == NULL)
			fail_msg("no metadata entry '%s' (%zu in the partition)",
			         names[t], nmeta);

	if (kvm_kv_decode_uint(found[0]->v, found[0]->vn, &m->version) != 0)
		fail_msg("'%s' is not a msgpack integer", names[0]);

	/* 32 bytes do not fit a fixstr: str 8, 16 or 32 */
	{
		const uint8_t *v = found[1]->v;
		size_t hdr = 0;

		if (found[1]->vn == 34 && v[0] == 0xd9 && v[1] == 32)
			hdr = 2;
		else if (found[1]->vn == 35 && v[0] == 0xda && v[1] == 0 && v[2] == 32)
			hdr = 3;
		else if (found[1]->vn == 37 && v[0] == 0xdb && v[1] == 0 && v[2] == 0 &&
		         v[3] == 0 && v[4] == 32)
			hdr = 5;
		if (hdr == 0)
			fail_msg("'%s' is not a msgpack str of 32 bytes", names[1]);
		memcpy(m->id, v + hdr, 32);
		m->id[32] = '\0';
		if (strspn(m->id, "0123456789abcdefABCDEF") != 32)
			fail_msg("migration id '%s' is not 32 hex digits", m->id);
	}

	/* a uint: positive fixint or uint 8/16/32/64, not an int encoding */
	if (found[2]->vn == 0 || (found[2]->v[0] > 0x7f &&
	    (found[2]->v[0] < 0xcc || found[2]->v[0] > 0xcf)) ||
	    kvm_kv_decode_uint(found[2]->v, found[2]->vn, &m->digest) != 0)
		fail_msg("'%s' is not a msgpack uint", names[2]);
	for (size_t i = 0; i < nmeta; i++) {
		free(meta[i].k);
		free(meta[i].v);
	}
}

/* --- mdb_dump --------------------------------------------------------------- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Run LMDB's own `mdb_dump -n` on @path (Debian lmdb-utils) and return
 * its entries.  Two runs: the default "bytevalue" format, whose data lines
 * are the bytes in hex and so decode without ambiguity (the printable
 * format of lmdb 0.9.24 writes a backslash unescaped), and `-p`, whose
 * data lines are only counted: one per key, one per value.
 */
static void mdb_dump_store(const char *path, struct entries *out,
                           size_t *mapsize)
{
	memset(out, 0, sizeof(*out));
	*mapsize = 0;
	for (int printable = 0; printable <= 1; printable++) {
		char cmd[1200], *line = NULL;
		size_t cap = 0, lines = 0, kn = 0;
		ssize_t len;
		FILE *p;
		int in_data = 0, done = 0, status;
		uint8_t *key = NULL;

		assert_null(strchr(path, '\''));
		snprintf(cmd, sizeof(cmd), "mdb_dump -n %s'%s' 2>&1",
		         printable ? "-p " : "", path);
		p = popen(cmd, "r");
		assert_non_null(p);
		while ((len = getline(&line, &cap, p)) >= 0) {
			if (len > 0 && line[len - 1] == '\n')
				line[--len] = '\0';
			if (!in_data) {
				if (!printable && strncmp(line, "mapsize=", 8) == 0)
					*mapsize = strtoull(line + 8, NULL, 10);
				else if (strcmp(line, "HEADER=END") == 0)
					in_data = 1;
				continue;
			}
			if (strcmp(line, "DATA=END") == 0) {
				done = 1;
				break;
			}
			if (line[0] != ' ')
				fail_msg("%s: unexpected line '%s'", cmd, line);
			lines++;
			if (printable)
				continue;
			if ((len - 1) % 2 != 0)
				fail_msg("%s: odd hex line '%s'", cmd, line);
			{
				size_t n = (size_t)(len - 1) / 2;
				uint8_t *b = malloc(n + 1);

				assert_non_null(b);
				for (size_t i = 0; i < n; i++) {
					int hi = hexval(line[1 + 2 * i]);
					int lo = hexval(line[2 + 2 * i]);

					if (hi < 0 || lo < 0)
						fail_msg("%s: bad hex line '%s'", cmd, line);
					b[i] = (uint8_t)(hi << 4 | lo);
				}
				if (key == NULL) {
					key = b;
					kn = n;
				} else {
					entries_add(out, key, kn, b, n);
					free(key);
					free(b);
					key = NULL;
				}
			}
		}
		free(line);
		status = pclose(p);
		if (!done || key != NULL)
			fail_msg("%s: output ends before DATA=END (is lmdb-utils "
			         "installed?)", cmd);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("%s failed (status %d)", cmd, status);
		if (lines != 2 * out->n)
			fail_msg("%s: %zu data lines for %zu entries", cmd, lines,
			         out->n);
	}
}

/* --- files and directories ------------------------------------------------- */

struct fixture {
	char *dir;
	char in[512];      /* the export file */
	char kv[512];      /* the KV store */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = kvmt_tmpdir();
	snprintf(f->in, sizeof(f->in), "%s/in.kvm", f->dir);
	snprintf(f->kv, sizeof(f->kv), "%s/store.lmdb", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kvmt_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/*
 * The directory holds exactly the names given (NULL-terminated): nothing
 * else (no ".NAME.tmp.XXXXXX", no "-lock" file), and each of them.
 */
static void assert_dir_holds(const char *dir, ...)
{
	const char *names[8];
	int seen[8] = { 0 };
	size_t n = 0;
	va_list ap;
	DIR *d;
	struct dirent *de;

	va_start(ap, dir);
	while (n < 8 && (names[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t i;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		for (i = 0; i < n && strcmp(de->d_name, names[i]) != 0; i++)
			;
		if (i == n) {
			closedir(d);
			fail_msg("left behind in the directory: '%s'", de->d_name);
		}
		seen[i] = 1;
	}
	closedir(d);
	for (size_t i = 0; i < n; i++)
		if (!seen[i])
			fail_msg("'%s' is missing from the directory", names[i]);
}

/* A file as it was: its bytes and its inode. */
struct snap {
	char *bytes;
	size_t n;
	ino_t ino;
};

static struct snap snap_take(const char *path)
{
	struct snap s;
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	s.ino = sb.st_ino;
	s.bytes = kvmt_read_file(path, &s.n);
	assert_non_null(s.bytes);
	return s;
}

/* @path is the same file, byte for byte; @s is released. */
static void assert_unchanged(const char *path, struct snap *s)
{
	struct stat sb;
	size_t n;
	char *now;

	if (stat(path, &sb) != 0)
		fail_msg("'%s' is gone", path);
	if (sb.st_ino != s->ino)
		fail_msg("'%s' was replaced (another inode)", path);
	now = kvmt_read_file(path, &n);
	assert_non_null(now);
	if (n != s->n || memcmp(now, s->bytes, n) != 0)
		fail_msg("'%s' changed: %zu bytes, was %zu", path, n, s->n);
	free(now);
	free(s->bytes);
	s->bytes = NULL;
}

static int exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

/* --- the call ---------------------------------------------------------------- */

/* Canary in the error struct: a success must leave it untouched. */
#define ERR_CANARY 12345

/*
 * kvm_import_file(@input -> f->kv).  The result is filled with junk first,
 * so a field the call does not set shows.  On failure the error struct
 * must carry the code returned and a one-line message.
 */
static int import(struct fixture *f, const char *input, int force,
                  uint64_t map_size, const volatile sig_atomic_t *cancel,
                  struct kvm_import_result *r, struct kvm_error *err)
{
	struct kvm_import_opts o = {
		.input = input, .kv_path = f->kv, .force = force,
		.map_size = map_size, .cancel = cancel,
	};
	int rc;

	memset(r, 0x5a, sizeof(*r));
	memset(err, 0, sizeof(*err));
	err->code = ERR_CANARY;
	rc = kvm_import_file(&o, r, err);
	kvm_import_result_release(r);      /* its packages are not looked at */
	if (rc == 0) {
		assert_int_equal(err->code, ERR_CANARY);
	} else {
		assert_int_equal(err->code, rc);
		assert_true(err->msg[0] != '\0');
		assert_null(strchr(err->msg, '\n'));
	}
	return rc;
}

/* import() that must succeed. */
static void import_ok(struct fixture *f, const char *input, int force,
                      uint64_t map_size, struct kvm_import_result *r)
{
	struct kvm_error err;

	if (import(f, input, force, map_size, NULL, r, &err) != 0)
		fail_msg("import '%s': %s", input, err.msg);
}

/*
 * The store at f->kv holds exactly @rs plus the metadata of an import of
 * an export with @kv_version and @digest, as @r reported it; LMDB's view
 * of it agrees.  Returns the metadata.
 */
static struct meta assert_store_holds(struct fixture *f, const struct recs *rs,
                                      int64_t kv_version, uint64_t digest,
                                      const struct kvm_import_result *r)
{
	struct entries got, want;
	struct store_info info;
	struct meta m;
	struct stat sb;

	read_store(f->kv, &got, &info);
	assert_int_equal(info.dbi_flags, 0);
	assert_int_equal(info.entries, rs->n + 3);
	assert_int_equal(got.n, rs->n + 3);
	take_meta(&got, &m);
	want_entries(rs, &want);
	assert_entries_equal(&got, &want);
	assert_int_equal(m.version, (uint64_t)kv_version);
	assert_true(m.digest == digest);

	assert_int_equal(r->records, rs->n);
	assert_true(r->appended <= r->records);
	assert_int_equal(r->kv_version, kv_version);
	assert_true(r->digest == digest);
	assert_string_equal(r->migration_id, m.id);
	assert_int_equal(r->map_size, info.mapsize);
	assert_int_equal(stat(f->kv, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(r->kv_bytes, (uint64_t)sb.st_size);
	assert_true(r->map_size >= r->kv_bytes);
	entries_free(&got);
	entries_free(&want);
	return m;
}

/* A value of @n bytes derived from @seed (every byte value occurs). */
static void fill_value(uint8_t *v, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		v[i] = (uint8_t)x;
	}
}

/* @n records of @vlen-byte values in one partition of section 0. */
static void many_records(struct recs *rs, size_t n, size_t vlen)
{
	uint8_t *v = malloc(vlen);
	char key[32];

	assert_non_null(v);
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "users/%06zu", i);
		fill_value(v, vlen, (uint32_t)i);
		recs_adds(rs, 0, "auth", key, v, vlen);
	}
	free(v);
}

/* A store made by LMDB, not by kvmigrate: one entry, no metadata. */
static void make_foreign_store(const char *path)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 5, "hello" }, v = { 5, "world" };

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_mapsize(env, 1 << 20), 0);
	/* no lock file: the directory holds only the store afterwards */
	assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOLOCK, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* The edge records of the first test: empty strings, 0x00 bytes in
 * partitions, non-ASCII, a backslash (escaped by mdb_dump), a value on
 * overflow pages, and sections that share partitions. */
static void edge_records(struct recs *rs)
{
	static const uint8_t nulpart[] = { 'a', 0x00, 'b' };
	static const uint8_t nulpart2[] = { 0x00, 0xff, 0x00 };
	uint8_t all[256], *big = malloc(100000), longkey[400];

	assert_non_null(big);
	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i;
	fill_value(big, 100000, 7);
	memset(longkey, 'k', sizeof(longkey));

	recs_add(rs, 0, "", 0, "", 0, "", 0);
	recs_add(rs, 0, "", 0, "k", 1, "v", 1);
	recs_add(rs, 0, nulpart, sizeof(nulpart), "k", 1, all, sizeof(all));
	recs_add(rs, 0, nulpart2, sizeof(nulpart2), "\x00\x01", 2, "x", 1);
	recs_adds(rs, 0, "auth", "", "empty key", 9);
	recs_adds(rs, 0, "auth", "users/a", "\x81\xa1" "a\\b", 5);
	recs_adds(rs, 0, "auth", "users/b", "", 0);
	recs_adds(rs, 0, "auth", "users/jos\xc3\xa9", "\xc3\xa9", 2);
	recs_adds(rs, 1, "a", "zz", "before a\\0b", 11);
	recs_adds(rs, 1, "repo/1", "branch/main", "\x92\x01\x02", 3);
	recs_add(rs, 1, "repo/1", 6, longkey, sizeof(longkey), "long key", 8);
	recs_adds(rs, 2, "auth", "users/a0", "between a and b", 15);
	recs_adds(rs, 2, "repo/1", "actions/1", "\x00", 1);
	recs_adds(rs, 2, "zz", "last", big, 100000);
	free(big);
}

/* --- tests ------------------------------------------------------------------- */

static void test_import__every_record_and_the_metadata(void **state)
{
	struct fixture *f = *state;
	struct recs rs = { 0 };
	struct kvm_import_result r;
	struct entries got, dumped;
	struct store_info info;
	struct stat sb;
	uint64_t digest;
	size_t dump_mapsize;
	mode_t old;

	edge_records(&rs);
	digest = make_export(f->in, PK3, 3, &rs, 9);
	/* the mode must not come from the umask */
	old = umask(0);
	import_ok(f, f->in, 0, 0, &r);
	umask(old);
	assert_dir_holds(f->dir, "in.kvm", "store.lmdb", (const char *)NULL);
	assert_int_equal(stat(f->kv, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(r.replaced, 0);
	assert_store_holds(f, &rs, 9, digest, &r);

	/* LMDB's own tool sees the same entries in the same order */
	read_store(f->kv, &got, &info);
	mdb_dump_store(f->kv, &dumped, &dump_mapsize);
	assert_int_equal(dumped.n, rs.n + 3);
	assert_entries_equal(&dumped, &got);
	assert_int_equal(dump_mapsize, r.map_size);
	entries_free(&got);
	entries_free(&dumped);
	recs_free(&rs);
}

static void test_import__the_map_size_given_is_used(void **state)
{
	struct fixture *f = *state;
	struct recs rs = { 0 };
	struct kvm_import_result r;
	uint64_t digest;

	many_records(&rs, 100, 50);
	digest = make_export(f->in, PK3, 1, &rs, 8);
	import_ok(f, f->in, 0, 32u << 20, &r);
	assert_int_equal(r.map_size, 32u << 20);
	assert_store_holds(f, &rs, 8, digest, &r);
	recs_free(&rs);
}

static void test_import__golden_exports_load_exactly_their_records(void **state)
{
	static const char *const names[] = { "small", "multiframe", "empty" };
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[256], rpath[256];
		struct kvm_export_info *info;
		struct kvm_error err = { 0 };
		struct kvm_import_result r;
		struct recs rs = { 0 };
		char *lines, *line, *save = NULL;

		snprintf(path, sizeof(path), "testdata/good/%s.kvm", names[i]);
		snprintf(rpath, sizeof(rpath), "testdata/good/%s.records", names[i]);
		if (kvm_export_inspect(path, 1, NULL, &info, &err) != 0)
			fail_msg("%s: %s (run the tests from the repository root)",
			         path, err.msg);
		/* the records as an independent writer listed them */
		lines = kvmt_read_file(rpath, NULL);
		assert_non_null(lines);
		for (line = strtok_r(lines, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			char hx[3][4096];
			uint8_t b[3][2048];
			size_t bn[3], section;

			if (sscanf(line, "%zu %4095s %4095s %4095s", &section, hx[0],
			           hx[1], hx[2]) != 4)
				fail_msg("%s: bad line '%s'", rpath, line);
			for (int j = 0; j < 3; j++) {
				bn[j] = strcmp(hx[j], "-") == 0 ? 0 : strlen(hx[j]) / 2;
				assert_true(bn[j] <= sizeof(b[j]));
				for (size_t k = 0; k < bn[j]; k++)
					b[j][k] = (uint8_t)(hexval(hx[j][2 * k]) << 4 |
					                    hexval(hx[j][2 * k + 1]));
			}
			recs_add(&rs, section, b[0], bn[0], b[1], bn[1], b[2], bn[2]);
		}
		free(lines);
		assert_int_equal(rs.n, info->trailer.records);

		import_ok(f, path, 1, 0, &r);
		assert_store_holds(f, &rs, info->header.kv_migration_version,
		                   info->trailer.digest, &r);
		assert_int_equal(r.replaced, i > 0);
		assert_dir_holds(f->dir, "store.lmdb", (const char *)NULL);
		kvm_export_info_free(info);
		recs_free(&rs);
	}
}

/*
 * Three sections, 20,000 records.  "refs" and "actions" share the
 * partitions repo/NNNN and every actions key sorts before every refs key
 * of its partition, so section 2 goes in between the entries of section
 * 1: it cannot be appended.  actions also has partitions refs has not.
 */
static void test_import__interleaved_sections_all_load(void **state)
{
	struct fixture *f = *state;
	struct recs rs = { 0 };
	struct kvm_import_result r;
	uint64_t digest;
	uint8_t v[80];
	char part[32], key[32];

	many_records(&rs, 2000, 40);
	for (size_t repo = 0; repo < 100; repo++)
		for (size_t i = 0; i < 90; i++) {
			snprintf(part, sizeof(part), "repo/%04zu", repo);
			snprintf(key, sizeof(key), "branches/%04zu", i);
			fill_value(v, 10 + i % 70, (uint32_t)(repo * 1000 + i));
			recs_adds(&rs, 1, part, key, v, 10 + i % 70);
		}
	for (size_t repo = 0; repo < 150; repo++)
		for (size_t i = 0; i < 60; i++) {
			snprintf(part, sizeof(part), "repo/%04zu", repo);
			snprintf(key, sizeof(key), "actions/%04zu", i);
			fill_value(v, 5 + i % 60, (uint32_t)(repo * 7777 + i));
			recs_adds(&rs, 2, part, key, v, 5 + i % 60);
		}
	assert_int_equal(rs.n, 20000);
	digest = make_export(f->in, PK3, 3, &rs, 8);
	import_ok(f, f->in, 0, 0, &r);
	assert_store_holds(f, &rs, 8, digest, &r);
	assert_true(r.appended > 0);
	assert_true(r.appended < r.records);
	assert_dir_holds(f->dir, "in.kvm", "store.lmdb", (const char *)NULL);
	recs_free(&rs);
}

static void test_import__reads_standard_input(void **state)
{
	struct fixture *f = *state;
	struct recs rs = { 0 };
	struct kvm_import_result r;
	uint64_t digest;
	int pfd[2], saved;
	pid_t child;

	many_records(&rs, 300, 200);
	digest = make_export(f->in, PK3, 1, &rs, 8);
	/* a pipe, so the size of the input cannot be known first */
	assert_int_equal(pipe(pfd), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		size_t n, off = 0;
		char *b = kvmt_read_file(f->in, &n);

		close(pfd[0]);
		while (b != NULL && off < n) {
			ssize_t w = write(pfd[1], b + off, n - off);

			if (w <= 0)
				_exit(1);
			off += (size_t)w;
		}
		_exit(b == NULL);
	}
	close(pfd[1]);
	saved = dup(0);
	assert_true(saved >= 0);
	assert_int_equal(dup2(pfd[0], 0), 0);
	close(pfd[0]);
	import_ok(f, "-", 0, 0, &r);
	assert_int_equal(dup2(saved, 0), 0);
	close(saved);
	assert_int_equal(waitpid(child, NULL, 0), child);
	assert_int_equal(r.map_size, KVM_IMPORT_DEFAULT_STREAM_MAP);
	assert_store_holds(f, &rs, 8, digest, &r);
	assert_dir_holds(f->dir, "in.kvm", "store.lmdb", (const char *)NULL);
	recs_free(&rs);
}

static void test_import__an_empty_file_is_replaced(void **state)
{
	struct fixture *f = *state;
	struct recs rs = { 0 };
	struct kvm_import_result r;
	uint64_t digest;

	many_records(&rs, 10, 10);
	digest = make_export(f->in, PK3, 1, &rs, 8);
	assert_int_equal(kvmt_write_file(f->kv, NULL, 0), 0);
	import_ok(f, f->in, 0, 0, &r);
	assert_store_holds(f, &rs, 8, digest, &r);
	assert_dir_holds(f->dir, "in.kvm", "store.lmdb", (const char *)NULL);
	recs_free(&rs);
}

/* Refused with KVM_EKVFOREIGN, with and without force, left as it was. */
static void assert_foreign_kept(struct fixture *f)
{
	struct kvm_import_result r;
	struct kvm_error err;

	for (int force = 0; force <= 1; force++) {
		struct snap s = snap_take(f->kv);

		assert_int_equal(import(f, f->in, force, 0, NULL, &r, &err),
		                 KVM_EKVFOREIGN);
		assert_unchanged(f->kv, &s);
		assert_dir_holds(f->dir, "in.kvm", "store.lmdb", (const char *)NULL);
	}
}

static void test_import__a_file_that_is_not_lmdb_is_foreign(void **state)
{
	struct fixture *f = *state;
	struct recs rs = { 0 };
	static const char text[] = "keep me: not an LMDB file\n";

	many_records(&rs, 10, 10);
	make_export(f->in, PK3, 1, &rs, 8);
	assert_int_equal(kvmt_write_file(f->kv, text, sizeof(text) - 1), 0);
	assert_foreign_kept(f);
	/* one byte is not empty either */
	assert_int_equal(kvmt_write_file(f->kv, "\0", 1), 0);
	assert_foreign_kept(f);
	recs_free(&rs);
}

static void test_import__an_lmdb_store_without_metadata_is_foreign(void **state)
{
	struct fixture *f = *state;
	struct recs rs = { 0 };

	many_records(&rs, 10, 10);
	make_export(f->in, PK3, 1, &rs, 8);
	make_foreign_store(f->kv);
	assert_foreign_kept(f);
	recs_free(&rs);
}

static void test_import__an_existing_store_needs_force(void **state)
{
	struct fixture *f = *state;
	struct recs a = { 0 }, b = { 0 };
	struct kvm_import_result r1, r2;
	struct kvm_error err;
	struct meta m1, m2;
	struct snap s;
	uint64_t da, db;

	many_records(&a, 50, 30);
	recs_adds(&b, 0, "auth", "only/in/b", "b", 1);
	recs_adds(&b, 1, "repo/9", "branches/x", "bx", 2);
	da = make_export(f->in, PK3, 1, &a, 8);
	import_ok(f, f->in, 0, 0, &r1);
	assert_int_equal(r1.replaced, 0);
	m1 = assert_store_holds(f, &a, 8, da, &r1);

	db = make_export(f->in, PK3, 2, &b, 10);
	s = snap_take(f->kv);
	assert_int_equal(import(f, f->in, 0, 0, NULL, &r2, &err), KVM_EKVEXISTS);
	assert_unchanged(f->kv, &s);
	assert_dir_holds(f->dir, "in.kvm", "store.lmdb", (const char *)NULL);

	import_ok(f, f->in, 1, 0, &r2);
	assert_int_equal(r2.replaced, 1);
	/* the old records are gone, the new ones all there */
	m2 = assert_store_holds(f, &b, 10, db, &r2);
	assert_string_not_equal(m1.id, m2.id);
	assert_dir_holds(f->dir, "in.kvm", "store.lmdb", (const char *)NULL);
	recs_free(&a);
	recs_free(&b);
}

/*
 * The store keeps its KV version as a msgpack uint: an export whose
 * header has a negative one (the writer makes none; the file is the
 * fuzzer's, testdata/fuzz-regressions/fuzz_import/) is refused before
 * anything is built, and version 0, the smallest, makes a store a later
 * import recognises.
 */
static void test_import__a_negative_kv_version_is_refused(void **state)
{
	static const char neg[] =
		"testdata/fuzz-regressions/fuzz_import/negative-kv-version.kvm";
	struct fixture *f = *state;
	struct recs rs = { 0 };
	struct kvm_import_result r;
	struct kvm_error err;
	unsigned char *bytes;
	size_t n;
	struct snap s;

	assert_non_null(bytes = kvmt_read_file(neg, &n));
	assert_int_equal(kvmt_write_file(f->in, bytes, n), 0);
	assert_int_equal(import(f, f->in, 0, 0, NULL, &r, &err), KVM_ECORRUPT);
	assert_non_null(strstr(err.msg, "version -1 is negative"));
	assert_non_null(strstr(err.msg, f->in));
	assert_false(exists(f->kv));
	assert_dir_holds(f->dir, "in.kvm", (const char *)NULL);

	many_records(&rs, 20, 10);
	make_export(f->in, PK3, 1, &rs, 0);
	import_ok(f, f->in, 0, 0, &r);
	assert_int_equal(r.kv_version, 0);
	/* recognised as kvmigrate's: refused without --force, not unreadable */
	assert_int_equal(import(f, f->in, 0, 0, NULL, &r, &err), KVM_EKVEXISTS);

	/* over that store with --force: refused, the store kept */
	assert_int_equal(kvmt_write_file(f->in, bytes, n), 0);
	s = snap_take(f->kv);
	assert_int_equal(import(f, f->in, 1, 0, NULL, &r, &err), KVM_ECORRUPT);
	assert_unchanged(f->kv, &s);
	assert_dir_holds(f->dir, "in.kvm", "store.lmdb", (const char *)NULL);
	free(bytes);
	recs_free(&rs);
}

/*
 * A record at one of the keys the import writes its metadata under is
 * refused where it is read, naming it, not taken for a key twice at the
 * end.
 */
static void test_import__a_record_at_a_metadata_key_is_refused(void **state)
{
	static const char *const meta[] = {
		KVM_KV_META_SCHEMA_VERSION, KVM_KV_META_MIGRATION_ID,
		KVM_KV_META_EXPORT_DIGEST,
	};
	struct fixture *f = *state;
	struct kvm_import_result r;
	struct kvm_error err;

	for (size_t i = 0; i < sizeof(meta) / sizeof(meta[0]); i++) {
		struct recs rs = { 0 };

		many_records(&rs, 20, 10);
		recs_adds(&rs, 1, KVM_KV_META_PARTITION, meta[i], "\x07", 1);
		make_export(f->in, PK3, 2, &rs, 8);
		assert_int_equal(import(f, f->in, 0, 0, NULL, &r, &err), KVM_EORDER);
		assert_non_null(strstr(err.msg, "record 20 "));
		assert_non_null(strstr(err.msg, meta[i]));
		assert_non_null(strstr(err.msg, "its own metadata"));
		assert_string_equal(err.package, "refs");
		assert_false(exists(f->kv));
		assert_dir_holds(f->dir, "in.kvm", (const char *)NULL);
		recs_free(&rs);
	}
}

static int reader_line(const char *msg, void *ctx)
{
	char *out = ctx;

	strncat(out, msg, 255 - strlen(out));
	return 0;
}

/* The reader table of @path's lock file, as the service's first open sees
 * it: no slot left (LMDB starts the table afresh when one process has the
 * file alone), and no dead process to clear. */
static void assert_no_readers(const char *path)
{
	MDB_env *env;
	char list[256] = "";
	int dead = -1;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_reader_check(env, &dead), 0);
	assert_int_equal(dead, 0);
	assert_int_equal(mdb_reader_list(env, reader_line, list), 0);
	mdb_env_close(env);
	if (strstr(list, "(no active readers)") == NULL)
		fail_msg("readers left in the lock file of '%s': %s", path, list);
}

/* A read transaction held in this process keeps the store: a service
 * whose upgrade command calls kvm_import_file() may hold its readers in
 * the same process. */
static void test_import__a_live_reader_in_this_process_keeps_the_store(void **state)
{
	struct fixture *f = *state;
	struct recs rs = { 0 };
	struct kvm_import_result r;
	struct kvm_error err;
	MDB_env *env;
	MDB_txn *txn;
	struct snap s;
	uint64_t digest;

	many_records(&rs, 20, 20);
	digest = make_export(f->in, PK3, 1, &rs, 8);
	import_ok(f, f->in, 0, 0, &r);

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, f->kv, MDB_NOSUBDIR | MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	s = snap_take(f->kv);
	assert_int_equal(import(f, f->in, 1, 0, NULL, &r, &err), KVM_EKVBUSY);
	assert_unchanged(f->kv, &s);
	/* the lock file is the reader's, made by this test */
	assert_dir_holds(f->dir, "in.kvm", "store.lmdb", "store.lmdb-lock",
	                 (const char *)NULL);
	mdb_txn_abort(txn);
	mdb_env_close(env);

	/* the reader gone, force replaces the store */
	import_ok(f, f->in, 1, 0, &r);
	assert_int_equal(r.replaced, 1);
	assert_store_holds(f, &rs, 8, digest, &r);
	assert_no_readers(f->kv);
	recs_free(&rs);
}

/* Asking whether the store is open must not drop this process's own
 * locks on its lock file: closing any descriptor of that file does, and a
 * second forced import, or a verify in between, would then replace or
 * reopen the live store. */
static void test_import__a_store_open_in_this_process_stays_kept(void **state)
{
	struct fixture *f = *state;
	struct recs rs = { 0 };
	struct kvm_import_result r;
	struct kvm_verify_opts vo = { 0 };
	struct kvm_verify_result vr;
	struct kvm_error err;
	MDB_env *env;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	MDB_dbi dbi;
	struct snap s;

	many_records(&rs, 20, 20);
	make_export(f->in, PK3, 1, &rs, 8);
	import_ok(f, f->in, 0, 0, &r);

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, f->kv, MDB_NOSUBDIR | MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	for (int i = 0; i < 3; i++) {
		s = snap_take(f->kv);
		assert_int_equal(import(f, f->in, 1, 0, NULL, &r, &err), KVM_EKVBUSY);
		assert_unchanged(f->kv, &s);
	}
	vo.kv_path = f->kv;
	vo.export_path = f->in;
	assert_int_equal(kvm_verify(&vo, &vr, &err), KVM_EKVBUSY);
	assert_non_null(strstr(err.msg, "this process"));
	s = snap_take(f->kv);
	assert_int_equal(import(f, f->in, 1, 0, NULL, &r, &err), KVM_EKVBUSY);
	assert_unchanged(f->kv, &s);
	/* the reader this process holds still reads the store it opened */
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
	assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	recs_free(&rs);
}

/* A child process holding a read transaction until told to stop. */
static pid_t start_reader(const char *path, int *release_fd)
{
	int ready[2], release[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(release), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		MDB_env *env;
		MDB_txn *txn;

		close(ready[0]);
		close(release[1]);
		if (mdb_env_create(&env) != 0 ||
		    mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY, 0600) != 0 ||
		    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		/* until the parent closes its end (or kills this process) */
		while (read(release[0], &c, 1) > 0)
			;
		mdb_txn_abort(txn);
		mdb_env_close(env);
		_exit(0);
	}
	close(ready[1]);
	close(release[0]);
	if (read(ready[0], &c, 1) != 1)
		fail_msg("the reader process could not open '%s'", path);
	close(ready[0]);
	*release_fd = release[1];
	return pid;
}

/* A reader in another process keeps the store; once that process is
 * gone (killed, leaving a stale slot in the lock file) it does not. */
static void test_import__a_live_reader_in_another_process_keeps_the_store(void **state)
{
	struct fixture *f = *state;
	struct recs rs = { 0 };
	struct kvm_import_result r;
	struct kvm_error err;
	struct snap s;
	uint64_t digest;
	int release, status;
	pid_t pid;

	many_records(&rs, 20, 20);
	digest = make_export(f->in, PK3, 1, &rs, 8);
	import_ok(f, f->in, 0, 0, &r);

	pid = start_reader(f->kv, &release);
	s = snap_take(f->kv);
	assert_int_equal(import(f, f->in, 1, 0, NULL, &r, &err), KVM_EKVBUSY);
	assert_unchanged(f->kv, &s);
	assert_dir_holds(f->dir, "in.kvm", "store.lmdb", "store.lmdb-lock",
	                 (const char *)NULL);
	/* a second try while the reader is still there: still busy */
	s = snap_take(f->kv);
	assert_int_equal(import(f, f->in, 1, 0, NULL, &r, &err), KVM_EKVBUSY);
	assert_unchanged(f->kv, &s);

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	close(release);
	import_ok(f, f->in, 1, 0, &r);
	assert_int_equal(r.replaced, 1);
	assert_store_holds(f, &rs, 8, digest, &r);
	assert_no_readers(f->kv);
	recs_free(&rs);
}

static void test_import__a_full_map_names_map_size(void **state)
{
	struct fixture *f = *state;
	struct recs rs = { 0 };
	struct kvm_import_result r;
	struct kvm_error err;
	struct snap s;

	many_records(&rs, 3000, 300);
	make_export(f->in, PK3, 1, &rs, 8);
	assert_int_equal(import(f, f->in, 0, 64u << 10, NULL, &r, &err), KVM_EMAPFULL);
	if (strstr(err.msg, "--map-size") == NULL)
		fail_msg("message does not name --map-size: %s", err.msg);
	assert_false(exists(f->kv));
	assert_dir_holds(f->dir, "in.kvm", (const char *)NULL);

	/* over an existing store, with force: the store stays */
	import_ok(f, f->in, 0, 0, &r);
	s = snap_take(f->kv);
	assert_int_equal(import(f, f->in, 1, 64u << 10, NULL, &r, &err), KVM_EMAPFULL);
	assert_unchanged(f->kv, &s);
	assert_dir_holds(f->dir, "in.kvm", "store.lmdb", (const char *)NULL);
	recs_free(&rs);
}

/*
 * The file is read on a thread of its own that stays at most a few MiB
 * ahead: an export of many times that, with a value larger than the
 * thread's blocks, loads whole; cut short, it fails at the cut and leaves
 * nothing, whatever the thread had read ahead.
 */
static void test_import__more_than_the_reading_thread_holds(void **state)
{
	struct fixture *f = *state;
	struct recs rs = { 0 };
	struct kvm_import_result r;
	struct kvm_error err;
	struct stat sb;
	uint64_t digest;
	uint8_t *big = malloc(3u << 20);
	int rc;

	assert_non_null(big);
	many_records(&rs, 12000, 2000);                 /* 24 MB */
	fill_value(big, 3u << 20, 11);
	recs_adds(&rs, 1, "graveler", "repos/big", big, 3u << 20);
	digest = make_export(f->in, PK3, 3, &rs, 8);
	import_ok(f, f->in, 0, 0, &r);
	assert_store_holds(f, &rs, 8, digest, &r);
	assert_int_equal(unlink(f->kv), 0);

	assert_int_equal(stat(f->in, &sb), 0);
	assert_int_equal(truncate(f->in, sb.st_size * 2 / 3), 0);
	rc = import(f, f->in, 0, 0, NULL, &r, &err);
	if (rc != KVM_ETRUNCATED && rc != KVM_ECORRUPT)
		fail_msg("a cut export: %d %s", rc, err.msg);
	assert_non_null(strstr(err.msg, f->in));
	assert_false(exists(f->kv));
	assert_dir_holds(f->dir, "in.kvm", (const char *)NULL);
	free(big);
	recs_free(&rs);
}

/*
 * A write transaction ends after 8,192 records or 4 MiB of records,
 * whichever comes first (lib/import.c): its dirty pages are held in
 * memory until it commits.  More records are loaded in several, by
 * either bound, and the store holds every one of them.  The last
 * transaction is the one the metadata is committed in.
 */
static void test_import__many_records_in_several_transactions(void **state)
{
	struct fixture *f = *state;
	struct recs small = { 0 }, large = { 0 };
	struct kvm_import_result r;
	struct store_info info;
	uint64_t digest;

	/* 20,000 records of 4 bytes: 80 KB, bounded by the count */
	many_records(&small, 20000, 4);
	digest = make_export(f->in, PK3, 1, &small, 8);
	import_ok(f, f->in, 0, 0, &r);
	assert_int_equal(r.appended, small.n);
	assert_store_holds(f, &small, 8, digest, &r);
	read_store(f->kv, NULL, &info);
	assert_true(info.last_txnid >= 3);
	assert_int_equal(unlink(f->kv), 0);

	/* 40 records of 256 KiB: 10 MiB, bounded by the bytes */
	many_records(&large, 40, 256 << 10);
	digest = make_export(f->in, PK3, 1, &large, 8);
	import_ok(f, f->in, 0, 0, &r);
	assert_store_holds(f, &large, 8, digest, &r);
	read_store(f->kv, NULL, &info);
	assert_true(info.last_txnid >= 3);
	recs_free(&small);
	recs_free(&large);
}

/* Bytes of the file at @path in the page cache. */
static uint64_t cached_bytes(const char *path)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *vec;
	struct stat st;
	uint64_t n = 0;
	size_t pages;
	void *map;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	pages = ((size_t)st.st_size + (size_t)page - 1) / (size_t)page;
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	vec = malloc(pages);
	assert_non_null(vec);
	assert_int_equal(mincore(map, (size_t)st.st_size, vec), 0);
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	munmap(map, (size_t)st.st_size);
	close(fd);
	return n * (uint64_t)page;
}

/*
 * The store's pages leave the page cache once written back, two starts
 * of the writeback (of 32 MiB of records each) behind the import: a store
 * of 160 MiB keeps far less of itself cached.  Pages still being written
 * back when their turn comes stay, so only one window's worth is asked
 * for.  tmpfs keeps every page in memory whatever it is told.
 */
static void test_import__a_large_store_leaves_the_page_cache(void **state)
{
	struct fixture *f = *state;
	struct recs big = { 0 };
	struct kvm_import_result r;
	struct statfs fs;
	struct stat st;
	uint64_t digest, cached;

	assert_int_equal(statfs(f->dir, &fs), 0);
	if (fs.f_type == TMPFS_MAGIC)
		skip();
	many_records(&big, 640, 256 << 10);
	digest = make_export(f->in, PK3, 1, &big, 8);
	import_ok(f, f->in, 0, 0, &r);
	/* before anything reads the store back into the cache */
	cached = cached_bytes(f->kv);
	assert_int_equal(stat(f->kv, &st), 0);
	assert_true(st.st_size > (off_t)(160u << 20));
	assert_true(cached + (32u << 20) <= (uint64_t)st.st_size);
	/* and what was dropped reads back from the disk unchanged */
	assert_store_holds(f, &big, 8, digest, &r);
	recs_free(&big);
}

static void test_import__a_key_longer_than_lmdb_allows(void **state)
{
	struct fixture *f = *state;
	static const uint8_t nulpart[] = { 'p', 0x00 };   /* encodes as 3 bytes */
	struct recs ok = { 0 }, big = { 0 }, edge = { 0 };
	struct kvm_import_result r;
	struct kvm_error err;
	uint8_t key[600];
	MDB_env *env;
	size_t max;
	uint64_t digest;

	assert_int_equal(mdb_env_create(&env), 0);
	max = (size_t)mdb_env_get_maxkeysize(env);
	mdb_env_close(env);
	assert_true(max > 5 && max < sizeof(key));
	memset(key, 'k', sizeof(key));

	/* encoded: 3 + 2 + (max - 5) = max bytes: fits */
	recs_adds(&ok, 0, "auth", "a", "a", 1);
	recs_add(&ok, 0, nulpart, sizeof(nulpart), key, max - 5, "v", 1);
	digest = make_export(f->in, PK3, 1, &ok, 8);
	import_ok(f, f->in, 0, 0, &r);
	assert_store_holds(f, &ok, 8, digest, &r);
	assert_int_equal(unlink(f->kv), 0);

	/* one byte more, counting the 0x00 escape */
	recs_adds(&edge, 0, "auth", "a", "a", 1);
	recs_add(&edge, 0, nulpart, sizeof(nulpart), key, max - 4, "v", 1);
	make_export(f->in, PK3, 1, &edge, 8);
	assert_int_equal(import(f, f->in, 0, 0, NULL, &r, &err), KVM_EKEYSIZE);
	assert_dir_holds(f->dir, "in.kvm", (const char *)NULL);

	/* 600 bytes, in the last section */
	recs_adds(&big, 0, "auth", "a", "a", 1);
	recs_add(&big, 1, "repo/1", 6, key, sizeof(key), "v", 1);
	make_export(f->in, PK3, 2, &big, 8);
	assert_int_equal(import(f, f->in, 0, 0, NULL, &r, &err), KVM_EKEYSIZE);
	assert_dir_holds(f->dir, "in.kvm", (const char *)NULL);
	recs_free(&ok);
	recs_free(&edge);
	recs_free(&big);
}

static void test_import__a_key_twice_is_refused(void **state)
{
	struct fixture *f = *state;
	struct recs across = { 0 }, within = { 0 };
	struct kvm_import_result r;
	struct kvm_error err;

	/* in two sections */
	many_records(&across, 100, 10);
	recs_adds(&across, 1, "repo/1", "branches/main", "1", 1);
	recs_adds(&across, 2, "auth", "users/000050", "again", 5);
	make_export(f->in, PK3, 3, &across, 8);
	assert_int_equal(import(f, f->in, 0, 0, NULL, &r, &err), KVM_EORDER);
	assert_false(exists(f->kv));
	assert_dir_holds(f->dir, "in.kvm", (const char *)NULL);

	/* twice in a row in one section */
	many_records(&within, 100, 10);
	recs_adds(&within, 0, "auth", "users/000099", "again", 5);
	make_export(f->in, PK3, 1, &within, 8);
	assert_int_equal(import(f, f->in, 0, 0, NULL, &r, &err), KVM_EORDER);
	assert_false(exists(f->kv));
	assert_dir_holds(f->dir, "in.kvm", (const char *)NULL);
	recs_free(&across);
	recs_free(&within);
}

static const struct {
	const char *name;
	int code;
} CODES[] = {
	{ "KVM_ENOTEXPORT", KVM_ENOTEXPORT }, { "KVM_EVERSION", KVM_EVERSION },
	{ "KVM_ETRUNCATED", KVM_ETRUNCATED }, { "KVM_ECORRUPT", KVM_ECORRUPT },
	{ "KVM_EDIGEST", KVM_EDIGEST },       { "KVM_ECOUNT", KVM_ECOUNT },
	{ "KVM_ELIMIT", KVM_ELIMIT },         { "KVM_ETRAILING", KVM_ETRAILING },
};

/* The code on line 1 of testdata/broken/NAME.expect. */
static int expected_code(const char *name)
{
	char path[256], codename[64];
	char *expect;

	snprintf(path, sizeof(path), "testdata/broken/%s.expect", name);
	expect = kvmt_read_file(path, NULL);
	if (expect == NULL)
		fail_msg("cannot read '%s': run the tests from the repository root",
		         path);
	if (sscanf(expect, "%63[^\n]", codename) != 1)
		fail_msg("%s: no code on line 1", path);
	free(expect);
	for (size_t i = 0; i < sizeof(CODES) / sizeof(CODES[0]); i++)
		if (strcmp(CODES[i].name, codename) == 0)
			return CODES[i].code;
	fail_msg("%s: unknown code '%s'", path, codename);
	return 0;
}

/* The names NAME of testdata/broken/NAME.kvm, sorted; NULL-terminated. */
static char **broken_names(size_t *n)
{
	DIR *d = opendir("testdata/broken");
	struct dirent *de;
	char **names = NULL;

	*n = 0;
	if (d == NULL)
		fail_msg("cannot open 'testdata/broken': run the tests from the "
		         "repository root");
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (l > 4 && strcmp(de->d_name + l - 4, ".kvm") == 0) {
			names = realloc(names, (*n + 2) * sizeof(*names));
			assert_non_null(names);
			names[(*n)++] = strndup(de->d_name, l - 4);
			names[*n] = NULL;
		}
	}
	closedir(d);
	return names;
}

/*
 * Every broken golden file is refused with the code its .expect names
 * (the reader's), whether the KV path is free or holds a store (with
 * force); either way the path is as it was and no file is left behind.
 * All files are tried before the test fails, so one run names them all.
 */
static void test_import__a_broken_export_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct recs rs = { 0 };
	struct kvm_import_result r;
	struct kvm_error err;
	char path[256];
	size_t n, wrong = 0;
	char **broken = broken_names(&n);

	assert_true(n >= 10);
	for (int over_store = 0; over_store <= 1; over_store++) {
		if (over_store) {
			many_records(&rs, 10, 10);
			make_export(f->in, PK3, 1, &rs, 8);
			import_ok(f, f->in, 0, 0, &r);
		}
		for (size_t i = 0; i < n; i++) {
			int want = expected_code(broken[i]), rc;
			struct snap s = { 0 };

			if (over_store)
				s = snap_take(f->kv);
			snprintf(path, sizeof(path), "testdata/broken/%s.kvm", broken[i]);
			rc = import(f, path, over_store, 0, NULL, &r, &err);
			if (rc != want) {
				print_error("%s%s: got %d (%s), want %d (the reader's)\n",
				            path, over_store ? " over a store" : "", rc,
				            err.msg, want);
				wrong++;
			}
			if (over_store) {
				assert_unchanged(f->kv, &s);
				assert_dir_holds(f->dir, "in.kvm", "store.lmdb",
				                 (const char *)NULL);
			} else {
				assert_false(exists(f->kv));
				assert_dir_holds(f->dir, (const char *)NULL);
			}
		}
	}
	if (wrong > 0)
		fail_msg("%zu imports of broken files gave another code than the "
		         "reader's (listed above)", wrong);
	/* an input that does not exist */
	assert_int_equal(unlink(f->kv), 0);
	assert_int_equal(import(f, "testdata/broken/no-such-file.kvm", 0, 0, NULL,
	                        &r, &err), ENOENT);
	assert_dir_holds(f->dir, "in.kvm", (const char *)NULL);
	for (size_t i = 0; i < n; i++)
		free(broken[i]);
	free(broken);
	recs_free(&rs);
}

/*
 * The map is sized from the trailer: a byte count no file of its size
 * could decompress to is refused before any map is reserved or record
 * read (unchecked, twice it overflows to a small map, or a false size is
 * reserved on disk).
 */
static void test_import__a_trailer_byte_count_past_the_file(void **state)
{
	static const char path[] = "testdata/broken/bytes-beyond-file.kvm";
	struct fixture *f = *state;
	struct kvm_import_result r;
	struct kvm_error err;

	assert_int_equal(import(f, path, 0, 0, NULL, &r, &err), KVM_ECOUNT);
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "18446744073709551615 bytes, more than "
	                                "a file of"));
	assert_int_equal(r.records, 0);
	assert_int_equal(r.map_size, 0);
	assert_false(exists(f->kv));
	assert_dir_holds(f->dir, (const char *)NULL);
}

static void test_import__cancel_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct recs rs = { 0 };
	struct kvm_import_result r;
	struct kvm_error err;
	volatile sig_atomic_t stop = 1;
	struct snap s;

	many_records(&rs, 5000, 100);
	make_export(f->in, PK3, 1, &rs, 8);
	assert_int_equal(import(f, f->in, 0, 0, &stop, &r, &err), KVM_ECANCELED);
	assert_false(exists(f->kv));
	assert_dir_holds(f->dir, "in.kvm", (const char *)NULL);

	import_ok(f, f->in, 0, 0, &r);
	s = snap_take(f->kv);
	assert_int_equal(import(f, f->in, 1, 0, &stop, &r, &err), KVM_ECANCELED);
	assert_unchanged(f->kv, &s);
	assert_dir_holds(f->dir, "in.kvm", "store.lmdb", (const char *)NULL);
	recs_free(&rs);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_import__every_record_and_the_metadata),
		T(test_import__the_map_size_given_is_used),
		T(test_import__golden_exports_load_exactly_their_records),
		T(test_import__interleaved_sections_all_load),
		T(test_import__reads_standard_input),
		T(test_import__an_empty_file_is_replaced),
		T(test_import__a_file_that_is_not_lmdb_is_foreign),
		T(test_import__an_lmdb_store_without_metadata_is_foreign),
		T(test_import__an_existing_store_needs_force),
		T(test_import__a_negative_kv_version_is_refused),
		T(test_import__a_record_at_a_metadata_key_is_refused),
		T(test_import__a_store_open_in_this_process_stays_kept),
		T(test_import__a_live_reader_in_this_process_keeps_the_store),
		T(test_import__a_live_reader_in_another_process_keeps_the_store),
		T(test_import__a_full_map_names_map_size),
		T(test_import__more_than_the_reading_thread_holds),
		T(test_import__many_records_in_several_transactions),
		T(test_import__a_large_store_leaves_the_page_cache),
		T(test_import__a_key_longer_than_lmdb_allows),
		T(test_import__a_key_twice_is_refused),
		T(test_import__a_broken_export_leaves_nothing),
		T(test_import__a_trailer_byte_count_past_the_file),
		T(test_import__cancel_leaves_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
