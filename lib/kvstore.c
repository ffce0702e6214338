/*
 * kvstore.c - what is at the KV path, read-only.
 *
 * A KV store kvmigrate created holds its version under
 * (KVM_KV_META_PARTITION, KVM_KV_META_SCHEMA_VERSION); an LMDB file
 * without that entry was made by something else, and later commands
 * refuse to replace it.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "kvm/kvkey.h"
#include "kvstore.h"

void kvm_kv_probe(const char *path, struct kvm_status *st)
{
	static const char part[] = KVM_KV_META_PARTITION;
	static const char key[] = KVM_KV_META_SCHEMA_VERSION;
	unsigned char kbuf[sizeof(part) + sizeof(key) + 2];
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k, v;
	struct stat sb;
	int rc;

	st->kv.path = path;
	st->kv.detail[0] = '\0';
	if (path == NULL) {
		st->kv.state = KVM_KV_NOT_SET;
		return;
	}
	if (stat(path, &sb) != 0) {
		if (errno == ENOENT) {
			st->kv.state = KVM_KV_ABSENT;
		} else {
			st->kv.state = KVM_KV_UNREADABLE;
			snprintf(st->kv.detail, sizeof(st->kv.detail), "%s",
			         strerror(errno));
		}
		return;
	}
	st->kv.size = (uint64_t)sb.st_size;
	if (!S_ISREG(sb.st_mode)) {
		st->kv.state = KVM_KV_NOT_FILE;
		snprintf(st->kv.detail, sizeof(st->kv.detail), "%s",
		         S_ISDIR(sb.st_mode) ? "a directory" : "not a regular file");
		return;
	}
	if (sb.st_size == 0) {
		st->kv.state = KVM_KV_EMPTY;
		return;
	}
	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK,
	                       0600)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0) {
		st->kv.state = rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ?
		               KVM_KV_NOT_LMDB : KVM_KV_UNREADABLE;
		snprintf(st->kv.detail, sizeof(st->kv.detail), "%s", mdb_strerror(rc));
		goto out;
	}
	k.mv_size = kvm_kv_key_encode(kbuf, part, sizeof(part) - 1, key,
	                              sizeof(key) - 1);
	k.mv_data = kbuf;
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND) {
		st->kv.state = KVM_KV_FOREIGN;
	} else if (rc != 0) {
		st->kv.state = KVM_KV_UNREADABLE;
		snprintf(st->kv.detail, sizeof(st->kv.detail), "%s", mdb_strerror(rc));
	} else if (kvm_kv_decode_uint(v.mv_data, v.mv_size, &st->kv.version) != 0) {
		st->kv.state = KVM_KV_UNREADABLE;
		snprintf(st->kv.detail, sizeof(st->kv.detail), "its recorded "
		         "version is not a msgpack integer");
	} else {
		st->kv.state = KVM_KV_PRESENT;
		st->kv.has_version = 1;
	}
out:
	mdb_txn_abort(txn);
	if (env != NULL)
		mdb_env_close(env);
}

int kvm_kv_lock(const char *kv_path, int *fd, struct kvm_error *err)
{
	char copy[PATH_MAX];
	const char *dir;
	int d, e;

	*fd = -1;
	if (snprintf(copy, sizeof(copy), "%s", kv_path) >= (int)sizeof(copy))
		return kvm_error_set(err, KVM_EINVAL, "the KV path '%s' is too "
		                     "long", kv_path);
	dir = dirname(copy);
	if ((d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return kvm_error_set(err, errno, "cannot open the KV store's "
		                     "directory '%s': %s", dir, strerror(errno));
	if (flock(d, LOCK_EX | LOCK_NB) != 0) {
		e = errno;
		close(d);
		if (e == EWOULDBLOCK)
			return kvm_error_set(err, KVM_EKVLOCKED, "another kvmigrate "
			                     "run (an up or an import) is writing a KV "
			                     "store in '%s'; nothing was done", dir);
		return kvm_error_set(err, e, "cannot lock the KV store's directory "
		                     "'%s': %s", dir, strerror(e));
	}
	*fd = d;
	return 0;
}

void kvm_kv_unlock(int fd)
{
	if (fd >= 0)
		close(fd);         /* the flock goes with the last descriptor */
}
