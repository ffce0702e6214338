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

#endif /* KVM_KVSTORE_H */
