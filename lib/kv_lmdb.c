/*
 * kv_lmdb.c - the LMDB target: one LMDB environment in one file
 * (MDB_NOSUBDIR), one unnamed database, the entries under the LMDB keys
 * of format/kvkey.c.  The only file of the library that includes
 * <lmdb.h>.
 *
 * Building.  The store is built in a temporary file beside the target
 * (tmpname.h), opened with MDB_NOLOCK (nobody else knows the file) and
 * MDB_NOSYNC (one sync at the end).  When the export's trailer gives the
 * size, the file is first given its whole map with fallocate(2), so that
 * a full disk is an error up front rather than a short write gigabytes
 * later.  Pages go through write(2) in transactions of at most 8,192
 * records or 4 MiB of records, which bound the dirty pages LMDB holds in
 * memory, and every 32 MiB the writeback of what is committed is started,
 * so that the disk works during the load rather than all at the final
 * sync.  Publishing commits, syncs, renames the file over the target and
 * syncs the directory.
 *
 * Records come in byte order of their LMDB keys within a section, and the
 * sections mostly follow each other (auth, graveler, repo/, staging/): a
 * record whose key is above every key so far is put with MDB_APPEND, any
 * other (a section that shares partitions with an earlier one, such as
 * actions' entries in repo/{id}) with a plain put that refuses to
 * overwrite, so a key occurring twice is an error, never a silent loss.
 *
 * Who has the store open.  Every process with an LMDB environment open
 * holds POSIX record locks on its lock file ("PATH-lock"); closing *any*
 * descriptor of that file drops all of the process's locks on it, which
 * is how LMDB tells live readers from dead ones.  So this file never
 * opens the lock file of a store it may have to leave alone: who holds
 * locks on it is read from /proc/locks by the file's device and inode.
 * A store some process has open is never replaced; one this process has
 * open is never opened a second time (LMDB allows one environment per
 * file per process).
 *
 * The lock between kvmigrate runs is an flock(2) on the directory of the
 * store: nothing is created, and it ends with the process however it
 * ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <lmdb.h>

#include "kvm/kvkey.h"
#include "failpoint.h"
#include "kvtarget.h"
#include "kvvalue.h"
#include "tmpname.h"

/* Map size: the export's record bytes twice (B-tree pages are partly
 * empty, keys grow by their partition) plus room for the metadata. */
#define MAP_FACTOR 2
#define MAP_EXTRA (64ull << 20)
/* A write transaction ends at whichever comes first.  Its dirty pages
 * are LMDB's memory until it commits (one transaction for 5 million
 * records held 541 MB); at this size it holds about 8 MB, and commits
 * often enough cost nothing measurable (design/kv-store.md). */
#define TXN_RECORDS 8192u
#define TXN_BYTES (4u << 20)
/* Record bytes between two starts of the writeback. */
#define WRITE_BEHIND_BYTES (32u << 20)
/* Starts of the writeback after which the pages written before one are
 * dropped from the page cache (write_behind). */
#define DROP_LAG 2
/* Longest LMDB key this code handles, whatever LMDB's own limit is. */
#define KEY_MAX 2048

struct lmdb {
	int lock_fd;               /* the directory's flock, or -1 */

	/* the store being built */
	struct kvm_kv_stats *stats;    /* &t->stats */
	const char *input;         /* named in messages */
	char *tmp;                 /* the new file until it is renamed */
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	int maxkey;
	int reserved;              /* the map is reserved in the file */
	uint64_t txn_records;      /* records put in this write transaction */
	uint64_t txn_bytes;        /* and their partition, key and value bytes */
	uint64_t behind_bytes;     /* record bytes since the writeback started */
	size_t psize;              /* LMDB's page size */
	off_t ends[DROP_LAG];      /* the file's end at the last DROP_LAG
	                            * starts of the writeback, oldest first */
	off_t dropped;             /* pages below are out of the page cache */
	/* The key being put and the largest key so far: one of keys[] each,
	 * swapped after an append rather than copied. */
	unsigned char *key, *last;
	size_t last_len;
	int any;
	unsigned char keys[2][KEY_MAX];

	/* the published store, read back */
	MDB_env *renv;
	MDB_txn *rtxn;
	MDB_dbi rdbi;
	MDB_cursor *cur;
	int scanning;
	unsigned char rkey[KEY_MAX];
	unsigned char rpart[KEY_MAX];
};

static struct lmdb *L(kvm_kv_target *t)
{
	return t->data;
}

static int kv_fail(struct kvm_error *err, int rc, const char *what,
                   const char *path)
{
	struct statvfs sv;

	/* LMDB turns a write(2) cut short by a full disk into EIO: say how
	 * much room is left, so that the cause can be told from a bad disk. */
	if (rc == EIO && statvfs(path, &sv) == 0)
		return kvm_error_set(err, KVM_EKV, "%s '%s': %s (a short write; "
		                     "its file system has %" PRIu64 " bytes free)",
		                     what, path, mdb_strerror(rc),
		                     (uint64_t)sv.f_bavail * sv.f_frsize);
	return kvm_error_set(err, KVM_EKV, "%s '%s': %s", what, path,
	                     mdb_strerror(rc));
}

/* ------------------------------------------------------------------ */
/* The target's name, sizes and place                                  */
/* ------------------------------------------------------------------ */

static int lmdb_init(kvm_kv_target *t, struct kvm_error *err)
{
	struct lmdb *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	l->lock_fd = -1;
	l->key = l->keys[0];
	l->last = l->keys[1];
	t->data = l;
	return 0;
}

static size_t lmdb_key_size(size_t plen, const uint8_t *part, size_t klen)
{
	return kvm_kv_key_size(part, plen, klen);
}

/* LMDB's own limit, as built (511 with the defaults); an environment is
 * needed to ask, none to be opened. */
static size_t lmdb_key_max(const kvm_kv_target *t)
{
	MDB_env *env;
	int n = 511;

	(void)t;
	if (mdb_env_create(&env) == 0) {
		n = mdb_env_get_maxkeysize(env);
		mdb_env_close(env);
	}
	return n > KEY_MAX ? KEY_MAX : (size_t)n;
}

static uint64_t lmdb_estimate(uint64_t record_bytes)
{
	if (record_bytes > (UINT64_MAX - MAP_EXTRA) / MAP_FACTOR)
		return UINT64_MAX;
	return record_bytes * MAP_FACTOR + MAP_EXTRA;
}

static uint64_t lmdb_free_bytes(const kvm_kv_target *t)
{
	return kvm_free_beside(t->where);
}

/* The store is built beside its path: that directory must exist and be
 * writable. */
static int lmdb_check_writable(kvm_kv_target *t, struct kvm_error *err)
{
	char *dir = kvm_dir_of(t->where);
	int e;

	if (dir == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	if (access(dir, W_OK | X_OK) != 0) {
		e = errno;
		kvm_error_set(err, e, "the KV store's directory '%s' cannot be "
		              "written: %s; nothing was done", dir, strerror(e));
		free(dir);
		return e;
	}
	free(dir);
	return 0;
}

/* ------------------------------------------------------------------ */
/* What is there, and who has it open                                  */
/* ------------------------------------------------------------------ */

static int lmdb_probe(kvm_kv_target *t, struct kvm_kv_info *info,
                      struct kvm_error *err)
{
	static const char part[] = KVM_KV_META_PARTITION;
	static const char key[] = KVM_KV_META_SCHEMA_VERSION;
	unsigned char kbuf[sizeof(part) + sizeof(key) + 2];
	const char *path = t->where;
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k, v;
	struct stat sb;
	int rc;

	(void)err;
	memset(info, 0, sizeof(*info));
	if (stat(path, &sb) != 0) {
		if (errno == ENOENT) {
			info->state = KVM_KV_ABSENT;
		} else {
			info->state = KVM_KV_UNREADABLE;
			snprintf(info->detail, sizeof(info->detail), "%s",
			         strerror(errno));
		}
		return 0;
	}
	info->size = (uint64_t)sb.st_size;
	if (!S_ISREG(sb.st_mode)) {
		info->state = KVM_KV_NOT_FILE;
		snprintf(info->detail, sizeof(info->detail), "%s",
		         S_ISDIR(sb.st_mode) ? "a directory" : "not a regular file");
		return 0;
	}
	if (sb.st_size == 0) {
		info->state = KVM_KV_EMPTY;
		return 0;
	}
	/* Without a lock file (MDB_NOLOCK): the lock file is never opened,
	 * so no process's locks on it are disturbed and none is created. */
	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK,
	                       0600)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0) {
		info->state = rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ?
		              KVM_KV_NOT_LMDB : KVM_KV_UNREADABLE;
		snprintf(info->detail, sizeof(info->detail), "%s", mdb_strerror(rc));
		goto out;
	}
	k.mv_size = kvm_kv_key_encode(kbuf, part, sizeof(part) - 1, key,
	                              sizeof(key) - 1);
	k.mv_data = kbuf;
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND) {
		info->state = KVM_KV_FOREIGN;
	} else if (rc != 0) {
		info->state = KVM_KV_UNREADABLE;
		snprintf(info->detail, sizeof(info->detail), "%s", mdb_strerror(rc));
	} else if (kvm_kv_decode_uint(v.mv_data, v.mv_size, &info->version) != 0) {
		info->state = KVM_KV_UNREADABLE;
		snprintf(info->detail, sizeof(info->detail), "its recorded "
		         "version is not a msgpack integer");
	} else {
		info->state = KVM_KV_PRESENT;
		info->has_version = 1;
	}
out:
	mdb_txn_abort(txn);
	if (env != NULL)
		mdb_env_close(env);
	return 0;
}

/*
 * Which processes hold locks on the store's lock file: *@self when this
 * one does, *@others when another does.  Read from /proc/locks, whose
 * lines name the device (major:minor, in hex) and inode of each locked
 * file; the lock file itself is not opened (see the top of this file).
 */
static int lock_holders(const char *path, int *self, int *others,
                        struct kvm_error *err)
{
	char lock[PATH_MAX + 8], line[256];
	struct stat sb;
	pid_t me = getpid();
	FILE *f;

	*self = *others = 0;
	if (snprintf(lock, sizeof(lock), "%s-lock", path) >= (int)sizeof(lock))
		return kvm_error_set(err, KVM_EINVAL, "the KV path '%s' is too "
		                     "long", path);
	if (stat(lock, &sb) != 0)
		return 0;          /* no lock file: nobody has it open */
	if ((f = fopen("/proc/locks", "re")) == NULL)
		return kvm_error_set(err, errno, "cannot tell whether the KV store "
		                     "'%s' is open: /proc/locks: %s", path,
		                     strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned maj, mnr;
		unsigned long long ino;
		long pid;
		char *p = strstr(line, "ADVISORY");

		/* "1: POSIX  ADVISORY  READ 1234 fe:00:10953058 0 0", the pid
		 * is -1 for an open file description lock */
		if (p == NULL)
			p = strstr(line, "MANDATORY");
		if (p == NULL || sscanf(p, "%*s %*s %ld %x:%x:%llu", &pid, &maj,
		                        &mnr, &ino) != 4)
			continue;
		if (ino != (unsigned long long)sb.st_ino ||
		    maj != major(sb.st_dev) || mnr != minor(sb.st_dev))
			continue;
		if (pid == (long)me)
			*self = 1;
		else
			*others = 1;
	}
	fclose(f);
	return 0;
}

static int lmdb_check_unused(kvm_kv_target *t, struct kvm_error *err)
{
	int self, others, rc;

	if ((rc = lock_holders(t->where, &self, &others, err)) != 0)
		return rc;
	if (self || others)
		return kvm_error_set(err, KVM_EKVBUSY, "the KV store '%s' is open "
		                     "in %s; stop it before replacing the store",
		                     t->where, self ? "this process" :
		                     "a process (a running service?)");
	return 0;
}

static int lmdb_lock(kvm_kv_target *t, struct kvm_error *err)
{
	struct lmdb *l = L(t);
	char *dir = kvm_dir_of(t->where);
	int d, e;

	if (dir == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	if ((d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		e = errno;
		kvm_error_set(err, e, "cannot open the KV store's directory '%s': "
		              "%s", dir, strerror(e));
		free(dir);
		return e;
	}
	if (flock(d, LOCK_EX | LOCK_NB) != 0) {
		e = errno;
		close(d);
		if (e == EWOULDBLOCK)
			kvm_error_set(err, KVM_EKVLOCKED, "another kvmigrate run (an "
			              "up or an import) is writing a KV store in '%s' "
			              "(or a verify is reading it); nothing was done",
			              dir);
		else
			kvm_error_set(err, e, "cannot lock the KV store's directory "
			              "'%s': %s", dir, strerror(e));
		free(dir);
		return e == EWOULDBLOCK ? KVM_EKVLOCKED : e;
	}
	free(dir);
	l->lock_fd = d;
	return 0;
}

static void lmdb_unlock(kvm_kv_target *t)
{
	struct lmdb *l = L(t);

	if (l->lock_fd >= 0)
		close(l->lock_fd);   /* the flock goes with the last descriptor */
	l->lock_fd = -1;
}

static int lmdb_remove_leftovers(kvm_kv_target *t, int *removed,
                                 struct kvm_error *err)
{
	return kvm_tmp_remove_of(t->where, removed, err);
}

/* ------------------------------------------------------------------ */
/* Building a new store                                                */
/* ------------------------------------------------------------------ */

/*
 * Give the new file its whole map up front when @reserve, so that a full
 * disk is this error rather than a short write after gigabytes.  Sets
 * l->reserved when the space is reserved; a file system that cannot
 * reserve (EOPNOTSUPP) leaves it 0, and a full disk is then LMDB's EIO.
 */
static int reserve_map(kvm_kv_target *t, int fd, uint64_t map, int reserve,
                       struct kvm_error *err)
{
	struct lmdb *l = L(t);
	int e = 0;

	l->reserved = 0;
	if (!reserve)
		return 0;
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)map) != 0)
		e = errno;
	if (e == 0) {
		l->reserved = 1;
		return 0;
	}
	if (e == EOPNOTSUPP || e == ENOSYS)
		return 0;
	return kvm_error_set(err, e, "cannot reserve the LMDB map of %" PRIu64
	                     " bytes in '%s' for '%s': %s; free some space there "
	                     "or give a smaller --map-size BYTES", map, l->tmp,
	                     t->where, strerror(e));
}

static int lmdb_begin(kvm_kv_target *t, const struct kvm_kv_build_opts *o,
                      struct kvm_error *err)
{
	struct kvm_kv_stats *stats = &t->stats;
	struct lmdb *l = L(t);
	uint64_t map;
	MDB_stat st;
	int rc, fd, reserve = 0;

	memset(stats, 0, sizeof(*stats));
	l->stats = stats;
	l->input = o->input;
	l->any = 0;
	l->last_len = 0;
	l->txn_records = l->txn_bytes = l->behind_bytes = 0;
	memset(l->ends, 0, sizeof(l->ends));
	l->dropped = 0;
	if (o->map_size != 0) {
		map = o->map_size;
	} else if (o->sized) {
		map = lmdb_estimate(o->record_bytes);
		reserve = 1;
	} else {
		map = KVM_IMPORT_DEFAULT_STREAM_MAP;
	}
	stats->map_size = map;
	if ((rc = kvm_tmp_create(t->where, 0600, &l->tmp, &fd, err)) != 0)
		return rc;
	rc = reserve_map(t, fd, map, reserve, err);
	close(fd);
	if (rc != 0)
		return rc;
	if ((rc = mdb_env_create(&l->env)) != 0 ||
	    (rc = mdb_env_set_mapsize(l->env, (size_t)map)) != 0 ||
	    (rc = mdb_env_open(l->env, l->tmp, MDB_NOSUBDIR | MDB_NOLOCK |
	                       MDB_NOSYNC, 0600)) != 0 ||
	    (rc = mdb_txn_begin(l->env, NULL, 0, &l->txn)) != 0 ||
	    (rc = mdb_dbi_open(l->txn, NULL, 0, &l->dbi)) != 0)
		return kv_fail(err, rc, "cannot create the KV store", l->tmp);
	if ((rc = mdb_env_stat(l->env, &st)) != 0)
		return kv_fail(err, rc, "cannot create the KV store", l->tmp);
	l->psize = st.ms_psize;
	l->maxkey = mdb_env_get_maxkeysize(l->env);
	if (l->maxkey > KEY_MAX)
		l->maxkey = KEY_MAX;
	return KVM_FAIL("import.opened", err);
}

/* Whether l->key (of @len bytes) sorts after every key so far. */
static int above_last(const struct lmdb *l, size_t len)
{
	size_t n = len < l->last_len ? len : l->last_len;
	int c = n > 0 ? memcmp(l->key, l->last, n) : 0;

	return !l->any || c > 0 || (c == 0 && len > l->last_len);
}

static int map_full(kvm_kv_target *t, const char *when, struct kvm_error *err)
{
	struct lmdb *l = L(t);

	return kvm_error_set(err, KVM_EMAPFULL, "the LMDB map of %" PRIu64
	                     " bytes is full %s %" PRIu64 " records of '%s'; "
	                     "give a larger one with --map-size BYTES",
	                     l->stats->map_size, when, l->stats->records,
	                     l->input);
}

/*
 * Committed pages would otherwise reach the disk only at the final sync,
 * all at once; starting their writeback as the store grows lets the disk
 * work while the export is read.  Pages written again later (branch
 * pages, the meta pages) are simply written again.
 *
 * The pages written before the start DROP_LAG starts ago are then
 * dropped from the page cache: those whose writeback is done, the others
 * stay.  Kept, the store would take as much of the page cache as it is
 * large (2.56 GB at 5m), memory the kernel first has to take from
 * elsewhere: other files' pages, PostgreSQL's among them, or on a virtual
 * machine the host's, which is slow to touch the first time.  Dropped,
 * the import goes on reusing the same few windows of memory.  LMDB reads
 * a page again through its map, from the disk; pages it has mapped are
 * not dropped.  Only hints: a failure of either shows again at the sync.
 */
static void write_behind(struct lmdb *l)
{
	MDB_envinfo info;
	off_t upto;
	int fd;

	if (mdb_env_get_fd(l->env, &fd) != 0 || mdb_env_info(l->env, &info) != 0)
		return;
	(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	upto = l->ends[0];
	memmove(l->ends, l->ends + 1, sizeof(l->ends) - sizeof(l->ends[0]));
	l->ends[DROP_LAG - 1] = ((off_t)info.me_last_pgno + 1) * (off_t)l->psize;
	if (upto > l->dropped) {
		(void)posix_fadvise(fd, l->dropped, upto - l->dropped,
		                    POSIX_FADV_DONTNEED);
		l->dropped = upto;
	}
}

/* Commit what is loaded and go on in a new transaction: the file is
 * still unpublished, and a transaction's dirty pages stay in memory until
 * it commits. */
static int next_txn(kvm_kv_target *t, struct kvm_error *err)
{
	struct lmdb *l = L(t);
	int rc = mdb_txn_commit(l->txn);

	l->txn = NULL;
	l->txn_records = l->txn_bytes = 0;
	if (rc == 0 && l->behind_bytes >= WRITE_BEHIND_BYTES) {
		write_behind(l);
		l->behind_bytes = 0;
	}
	if (rc == 0)
		rc = mdb_txn_begin(l->env, NULL, 0, &l->txn);
	if (rc == MDB_MAP_FULL)
		return map_full(t, "after", err);
	if (rc != 0)
		return kv_fail(err, rc, "cannot write into the KV store", l->tmp);
	return 0;
}

/* One entry: appended when its key is above every key so far. */
static int put_entry(kvm_kv_target *t, const struct kvm_kv_entry *e,
                     int *appended, struct kvm_error *err)
{
	struct lmdb *l = L(t);
	size_t len = kvm_kv_key_size(e->partition, e->partition_len,
	                             e->key_len);
	MDB_val k, v;
	int rc, append;

	if (len > (size_t)l->maxkey)
		return kvm_error_set(err, KVM_EKEYSIZE, "an LMDB key of %zu bytes; "
		                     "LMDB's maximum key size is %d", len, l->maxkey);
	kvm_kv_key_encode(l->key, e->partition, e->partition_len, e->key,
	                  e->key_len);
	append = above_last(l, len);
	k.mv_data = l->key;
	k.mv_size = len;
	v.mv_data = (void *)e->value;
	v.mv_size = e->value_len;
	rc = mdb_put(l->txn, l->dbi, &k, &v, append ? MDB_APPEND :
	             MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST)
		return kvm_error_set(err, KVM_EORDER, "this KV entry occurs twice "
		                     "in the export");
	if (rc == MDB_MAP_FULL)
		return map_full(t, "after", err);
	if (rc != 0)
		return kv_fail(err, rc, "cannot write into the KV store", l->tmp);
	if (append) {
		unsigned char *was = l->last;

		l->last = l->key;
		l->key = was;
		l->last_len = len;
		l->any = 1;
	}
	*appended = append;
	return 0;
}

static int lmdb_put(kvm_kv_target *t, const struct kvm_kv_entry *e,
                    struct kvm_error *err)
{
	struct lmdb *l = L(t);
	size_t bytes = e->partition_len + e->key_len + e->value_len;
	int rc, appended;

	if ((rc = put_entry(t, e, &appended, err)) != 0)
		return rc;
	l->stats->appended += (uint64_t)appended;
	l->stats->records++;
	l->txn_records++;
	l->txn_bytes += bytes;
	l->behind_bytes += bytes;
	if ((rc = KVM_FAIL_EVERY("import.records", l->stats->records, err)) != 0)
		return rc;
	if (l->txn_records >= TXN_RECORDS || l->txn_bytes >= TXN_BYTES)
		return next_txn(t, err);
	return 0;
}

static int put_meta_one(kvm_kv_target *t, const char *name, kvm_value *v,
                        struct kvm_error *err)
{
	struct kvm_kv_entry e = { 0 };
	const void *val;
	size_t vlen;
	int rc, appended;

	if ((rc = kvm_value_bytes(v, &val, &vlen, err)) != 0)
		return rc;
	e.partition = (const uint8_t *)KVM_KV_META_PARTITION;
	e.partition_len = strlen(KVM_KV_META_PARTITION);
	e.key = (const uint8_t *)name;
	e.key_len = strlen(name);
	e.value = val;
	e.value_len = vlen;
	return put_entry(t, &e, &appended, err);
}

static int lmdb_put_meta(kvm_kv_target *t, const struct kvm_kv_meta *m,
                         struct kvm_error *err)
{
	kvm_value *v;
	int rc;

	if ((rc = kvm_value_create(&v, err)) != 0)
		return rc;
	kvm_value_int(v, m->kv_version);
	rc = put_meta_one(t, KVM_KV_META_SCHEMA_VERSION, v, err);
	kvm_value_reset(v);
	kvm_value_str(v, m->migration_id, strlen(m->migration_id));
	if (rc == 0)
		rc = put_meta_one(t, KVM_KV_META_MIGRATION_ID, v, err);
	kvm_value_reset(v);
	kvm_value_uint(v, m->digest);
	if (rc == 0)
		rc = put_meta_one(t, KVM_KV_META_EXPORT_DIGEST, v, err);
	kvm_value_free(v);
	return rc;
}

/* Commit, sync, and give back the blocks reserved past the last page
 * (truncating a file drops what fallocate kept beyond its end). */
static int make_durable(kvm_kv_target *t, struct kvm_error *err)
{
	struct lmdb *l = L(t);
	MDB_envinfo info;
	off_t used;
	int rc, fd;

	if ((rc = KVM_FAIL("import.loaded", err)) != 0)
		return rc;
	rc = mdb_txn_commit(l->txn);
	l->txn = NULL;
	if (rc == MDB_MAP_FULL)
		return map_full(t, "at the commit of", err);
	if (rc == 0 && (rc = KVM_FAIL("import.committed", err)) != 0)
		return rc;
	if (rc != 0 || (rc = mdb_env_sync(l->env, 1)) != 0 ||
	    (rc = mdb_env_info(l->env, &info)) != 0)
		return kv_fail(err, rc, "cannot commit the KV store", l->tmp);
	if ((rc = KVM_FAIL("import.synced", err)) != 0)
		return rc;
	mdb_env_close(l->env);
	l->env = NULL;
	used = ((off_t)info.me_last_pgno + 1) * (off_t)l->psize;
	if ((fd = open(l->tmp, O_RDWR | O_CLOEXEC)) < 0 ||
	    (l->reserved && ftruncate(fd, used) != 0) || fsync(fd) != 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return kvm_error_set(err, e, "cannot sync '%s': %s", l->tmp,
		                     strerror(e));
	}
	close(fd);
	return KVM_FAIL("import.fsynced", err);
}

static int lmdb_publish(kvm_kv_target *t, struct kvm_db *txn, int *published,
                        struct kvm_error *err)
{
	struct lmdb *l = L(t);
	struct stat sb;
	int rc;

	(void)txn;           /* an LMDB file is no part of a SQL transaction */
	*published = 0;
	if ((rc = make_durable(t, err)) != 0)
		return rc;
	if (rename(l->tmp, t->where) != 0) {
		int e = errno;

		return kvm_error_set(err, e, "cannot rename '%s' to '%s': %s",
		                     l->tmp, t->where, strerror(e));
	}
	/* From here on the store is in place, whatever fails next. */
	*published = 1;
	free(l->tmp);
	l->tmp = NULL;
	if (stat(t->where, &sb) == 0)
		l->stats->store_bytes = (uint64_t)sb.st_size;
	if ((rc = KVM_FAIL("import.renamed", err)) != 0)
		return rc;
	if ((rc = kvm_sync_dir_of(t->where, err)) != 0)
		kvm_error_prefix(err, "'%s' is in place, but not yet durable",
		                 t->where);
	return rc;
}

static void lmdb_abort(kvm_kv_target *t)
{
	struct lmdb *l = L(t);

	if (l->txn != NULL)
		mdb_txn_abort(l->txn);
	l->txn = NULL;
	if (l->env != NULL)
		mdb_env_close(l->env);
	l->env = NULL;
	if (l->tmp != NULL) {
		unlink(l->tmp);
		free(l->tmp);
	}
	l->tmp = NULL;
}

static int lmdb_retire(kvm_kv_target *t, struct kvm_error *err)
{
	if (unlink(t->where) != 0 && errno != ENOENT)
		return kvm_error_set(err, errno, "cannot remove the KV store '%s': "
		                     "%s", t->where, strerror(errno));
	return kvm_sync_dir_of(t->where, err);
}

/* ------------------------------------------------------------------ */
/* Reading the published store                                         */
/* ------------------------------------------------------------------ */

static int lmdb_read_begin(kvm_kv_target *t, struct kvm_error *err)
{
	struct lmdb *l = L(t);
	char lock[PATH_MAX + 8];
	int rc, dead, had_lock, self, others;

	/* A second environment on the file in this process would reset the
	 * process's own reader locks, and with them its readers' safety. */
	if ((rc = lock_holders(t->where, &self, &others, err)) != 0)
		return rc;
	if (self)
		return kvm_error_set(err, KVM_EKVBUSY, "the KV store '%s' is open "
		                     "in this process, which LMDB allows once per "
		                     "file: read it from another process", t->where);
	snprintf(lock, sizeof(lock), "%s-lock", t->where);
	had_lock = access(lock, F_OK) == 0;
	if ((rc = mdb_env_create(&l->renv)) != 0 ||
	    (rc = mdb_env_open(l->renv, t->where, MDB_NOSUBDIR | MDB_RDONLY,
	                       0600)) != 0) {
		/* LMDB makes the lock file before it looks at the path: none is
		 * left beside a directory or a file that is not a store. */
		if (!had_lock)
			unlink(lock);
		return kvm_error_set(err, KVM_EKV, "cannot open the KV store '%s': "
		                     "%s", t->where, mdb_strerror(rc));
	}
	mdb_reader_check(l->renv, &dead);
	if ((rc = mdb_txn_begin(l->renv, NULL, MDB_RDONLY, &l->rtxn)) != 0 ||
	    (rc = mdb_dbi_open(l->rtxn, NULL, 0, &l->rdbi)) != 0)
		return kvm_error_set(err, KVM_EKV, "cannot read the KV store '%s': "
		                     "%s", t->where, mdb_strerror(rc));
	l->scanning = 0;
	return 0;
}

static int lmdb_get(kvm_kv_target *t, const uint8_t *part, size_t plen,
                    const uint8_t *key, size_t klen, struct kvm_kv_entry *e,
                    int *found, struct kvm_error *err)
{
	struct lmdb *l = L(t);
	size_t len = kvm_kv_key_size(part, plen, klen);
	MDB_val k, v;
	int rc;

	*found = 0;
	if (len > KEY_MAX)
		return 0;          /* no LMDB store holds such a key */
	k.mv_size = kvm_kv_key_encode(l->rkey, part, plen, key, klen);
	k.mv_data = l->rkey;
	rc = mdb_get(l->rtxn, l->rdbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return kvm_error_set(err, KVM_EKV, "reading '%s': %s", t->where,
		                     mdb_strerror(rc));
	memset(e, 0, sizeof(*e));
	e->partition = part;
	e->partition_len = plen;
	e->key = key;
	e->key_len = klen;
	e->value = v.mv_data;
	e->value_len = v.mv_size;
	*found = 1;
	return 0;
}

static int lmdb_scan_next(kvm_kv_target *t, struct kvm_kv_entry *e,
                          struct kvm_error *err)
{
	struct lmdb *l = L(t);
	size_t plen, off;
	MDB_val k, v;
	int rc;

	if (l->cur == NULL &&
	    (rc = mdb_cursor_open(l->rtxn, l->rdbi, &l->cur)) != 0)
		return kvm_error_set(err, KVM_EKV, "reading '%s': %s", t->where,
		                     mdb_strerror(rc));
	rc = mdb_cursor_get(l->cur, &k, &v, l->scanning ? MDB_NEXT : MDB_FIRST);
	l->scanning = 1;
	if (rc == MDB_NOTFOUND)
		return KVM_END;
	if (rc != 0)
		return kvm_error_set(err, KVM_EKV, "reading '%s': %s", t->where,
		                     mdb_strerror(rc));
	memset(e, 0, sizeof(*e));
	e->value = v.mv_data;
	e->value_len = v.mv_size;
	if (k.mv_size > KEY_MAX ||
	    kvm_kv_key_decode(k.mv_data, k.mv_size, l->rpart, &plen, &off) != 0) {
		e->foreign = 1;
		e->key = k.mv_data;
		e->key_len = k.mv_size;
		return 0;
	}
	e->partition = l->rpart;
	e->partition_len = plen;
	e->key = (const uint8_t *)k.mv_data + off;
	e->key_len = k.mv_size - off;
	return 0;
}

static void lmdb_read_end(kvm_kv_target *t)
{
	struct lmdb *l = L(t);

	if (l->cur != NULL)
		mdb_cursor_close(l->cur);
	l->cur = NULL;
	if (l->rtxn != NULL)
		mdb_txn_abort(l->rtxn);
	l->rtxn = NULL;
	if (l->renv != NULL)
		mdb_env_close(l->renv);
	l->renv = NULL;
}

static void lmdb_release(kvm_kv_target *t)
{
	if (t->data == NULL)
		return;
	lmdb_abort(t);
	lmdb_read_end(t);
	lmdb_unlock(t);
	free(t->data);
	t->data = NULL;
}

static void lmdb_lib_version(char *out, size_t size)
{
	int major, minor, patch;

	mdb_version(&major, &minor, &patch);
	snprintf(out, size, "lmdb %d.%d.%d", major, minor, patch);
}

const struct kvm_kv_ops kvm_kv_lmdb_ops = {
	.name = "lmdb",
	.lib_version = lmdb_lib_version,
	.init = lmdb_init,
	.release = lmdb_release,
	.key_size = lmdb_key_size,
	.key_max = lmdb_key_max,
	.estimate = lmdb_estimate,
	.free_bytes = lmdb_free_bytes,
	.check_writable = lmdb_check_writable,
	.probe = lmdb_probe,
	.check_unused = lmdb_check_unused,
	.lock = lmdb_lock,
	.unlock = lmdb_unlock,
	.remove_leftovers = lmdb_remove_leftovers,
	.begin = lmdb_begin,
	.put = lmdb_put,
	.put_meta = lmdb_put_meta,
	.publish = lmdb_publish,
	.abort = lmdb_abort,
	.retire = lmdb_retire,
	.read_begin = lmdb_read_begin,
	.get = lmdb_get,
	.scan_next = lmdb_scan_next,
	.read_end = lmdb_read_end,
};
