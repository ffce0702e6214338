/*
 * kvstore.h - the engine's view of the KV store (internal to lib/).
 *
 * In this version: a read-only look at what is at the KV path, for
 * `status`.  Building and publishing the store come with the import.
 */
#ifndef KVM_KVSTORE_H
#define KVM_KVSTORE_H

#include "kvm/migrate.h"

/**
 * Fill @st->kv for @path (NULL: KVM_KV_NOT_SET).  Never writes anything:
 * the LMDB file is opened read-only without a lock file (MDB_NOLOCK), so
 * no "-lock" file appears beside a store that has none.
 */
void kvm_kv_probe(const char *path, struct kvm_status *st);

/**
 * Take the lock of the directory of @kv_path: while one kvmigrate run
 * builds or replaces a KV store there (an up from its export to its
 * version bump, an import), another fails at once with KVM_EKVLOCKED
 * instead of removing the first one's files as leftovers or renaming over
 * its store.  An flock(2) on the directory itself: nothing is created,
 * and the lock ends with the process, however it ends.  *@fd is the lock,
 * for kvm_kv_unlock().
 */
int kvm_kv_lock(const char *kv_path, int *fd, struct kvm_error *err);
void kvm_kv_unlock(int fd);

/** kvm_import_file() for a caller that holds kvm_kv_lock() already, with
 * @o's input and kv_path set (kvm_import_file() checks them). */
int kvm_import_file_locked(const struct kvm_import_opts *o,
                           struct kvm_import_result *r, struct kvm_error *err);

#endif /* KVM_KVSTORE_H */
