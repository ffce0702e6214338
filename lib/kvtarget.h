/*
 * kvtarget.h - the KV-target interface: what the engine asks of a store,
 * as one const table of operations per kind of store (internal to lib/).
 *
 * In the manner of pg_dump's archive format handlers: the engine (import,
 * up, verify, status, the dry run) never knows which store it writes;
 * kvm_kv_open() picks the table from the target's name, and every call
 * goes through it.  Each operation is marked Mandatory or Optional; an
 * Optional one may be NULL and the engine then does without.
 *
 * Writing a store, under the target's lock:
 *
 *     kvm_kv_open(&t, where)
 *     t->ops->lock(t)                   one writer at a time
 *     t->ops->remove_leftovers(t)       what a killed run left
 *     t->ops->probe(t, &info)           what is there: refused, or replaced
 *     t->ops->begin(t, &opts)           a new store under names no reader uses
 *     t->ops->put(t, &entry) ...        every entry, in the export's order
 *     t->ops->put_meta(t, &meta)        the metadata entries, last
 *     t->ops->publish(t, db)            the new store becomes the target's
 *     [t->ops->abort(t)]                on any failure before publish
 *     [t->ops->retire(t)]               undo a publish (the bump failed)
 *     t->ops->unlock(t); kvm_kv_close(t)
 *
 * Reading it back (verify, and later rollback --from-kv):
 *
 *     t->ops->read_begin(t) -> get(t, ...) / scan_next(t, ...) -> read_end(t)
 *
 * Entries are (partition, key, value) bytes, the same on every target;
 * the metadata entries live in partition KVM_KV_META_PARTITION.
 */
#ifndef KVM_KVTARGET_H
#define KVM_KVTARGET_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/migrate.h"

struct kvm_db;

/* One entry of a store.  Pointers borrowed: valid until the next call on
 * the target. */
struct kvm_kv_entry {
	const uint8_t *partition;
	size_t partition_len;
	const uint8_t *key;
	size_t key_len;
	const uint8_t *value;
	size_t value_len;
	/* scan_next only: the store holds this under a key kvmigrate never
	 * writes; key/key_len are its raw bytes, partition_len is 0. */
	int foreign;
};

/* The metadata entries every store kvmigrate builds holds. */
struct kvm_kv_meta {
	int64_t kv_version;            /* the KV migration version */
	const char *migration_id;      /* 32 hex digits */
	uint64_t digest;               /* the export's file digest */
};

/* What is at the target (probe). */
struct kvm_kv_info {
	enum kvm_kv_state state;
	int has_version;               /* state PRESENT */
	uint64_t version;
	uint64_t size;                 /* bytes the store takes, if known */
	char detail[256];              /* why UNREADABLE / NOT_LMDB, or "" */
};

/* How to build (begin). */
struct kvm_kv_build_opts {
	/* Bytes of the records to load as the export's trailer declares
	 * them, or 0 when not known (an export read from a pipe). */
	uint64_t record_bytes;
	/* record_bytes is known: the export's trailer gave it. */
	int sized;
	/* The store's size chosen by the operator (--map-size), or 0. */
	uint64_t map_size;
	/* Named in messages: where the records come from. */
	const char *input;
};

/* What a build did, for the results (filled by begin, put, publish). */
struct kvm_kv_stats {
	uint64_t records;              /* entries put, metadata aside */
	uint64_t appended;             /* of them, appended at the end */
	uint64_t map_size;             /* LMDB: the map size used */
	uint64_t store_bytes;          /* the published store's size */
};

typedef struct kvm_kv_target kvm_kv_target;

struct kvm_kv_ops {
	const char *name;              /* "lmdb" */
	/* Mandatory.  The library behind the target and its version, for
	 * --version ("lmdb 0.9.24"). */
	void (*lib_version)(char *out, size_t size);

	/* Mandatory.  Set up t->data for t->where; touches nothing there. */
	int (*init)(kvm_kv_target *t, struct kvm_error *err);
	/* Mandatory.  Free t->data, closing whatever is still open (an
	 * unfinished build is aborted first). */
	void (*release)(kvm_kv_target *t);

	/* Mandatory.  The size of an entry's key as the target stores it,
	 * and the largest it takes: an entry above is refused by put with
	 * KVM_EKEYSIZE (and named by the pre-flight). */
	size_t (*key_size)(size_t partition_len, const uint8_t *partition,
	                   size_t key_len);
	size_t (*key_max)(const kvm_kv_target *t);
	/* Mandatory.  The bytes a store of @record_bytes of entries takes at
	 * most: what begin reserves and the dry run reports. */
	uint64_t (*estimate)(uint64_t record_bytes);
	/* Optional.  Bytes free where the store is built; 0 when unknown. */
	uint64_t (*free_bytes)(const kvm_kv_target *t);

	/* Mandatory.  Whether a store can be built there at all (LMDB: its
	 * directory exists and can be written), before anything is done. */
	int (*check_writable)(kvm_kv_target *t, struct kvm_error *err);
	/* Mandatory.  What is at the target.  Read-only: creates nothing,
	 * and never disturbs a process that has the store open. */
	int (*probe)(kvm_kv_target *t, struct kvm_kv_info *info,
	             struct kvm_error *err);
	/* Mandatory.  Whether some process (this one included) has the
	 * store open: KVM_EKVBUSY when so, 0 when not. */
	int (*check_unused)(kvm_kv_target *t, struct kvm_error *err);
	/* Mandatory.  Exclusive among kvmigrate runs that write this target
	 * or read it back; KVM_EKVLOCKED at once when another holds it. */
	int (*lock)(kvm_kv_target *t, struct kvm_error *err);
	void (*unlock)(kvm_kv_target *t);
	/* Mandatory.  Remove what a run killed before its publish left;
	 * *@removed counts it. */
	int (*remove_leftovers)(kvm_kv_target *t, int *removed,
	                        struct kvm_error *err);

	/* Mandatory.  Start a new store under names no reader of the target
	 * uses; t->stats is filled as the build goes. */
	int (*begin)(kvm_kv_target *t, const struct kvm_kv_build_opts *o,
	             struct kvm_error *err);
	/* Mandatory.  One entry, in the export's order (byte order within a
	 * section).  KVM_EKEYSIZE, KVM_EORDER (the entry is there already),
	 * KVM_EMAPFULL, KVM_EKV. */
	int (*put)(kvm_kv_target *t, const struct kvm_kv_entry *e,
	           struct kvm_error *err);
	/* Mandatory.  The metadata entries, after the last put. */
	int (*put_meta)(kvm_kv_target *t, const struct kvm_kv_meta *m,
	                struct kvm_error *err);
	/* Mandatory.  Make the new store durable and the target's, at once.
	 * @txn is a session the caller has a transaction open on and commits
	 * afterwards (the version bump), or NULL; a target in that database
	 * publishes inside it, any other ignores it.  On failure the target
	 * is as before, unless *@published says the store is in place all
	 * the same (a failure after the switch: a directory sync). */
	int (*publish)(kvm_kv_target *t, struct kvm_db *txn, int *published,
	               struct kvm_error *err);
	/* Mandatory.  Drop the store begin started; the target as it was. */
	void (*abort)(kvm_kv_target *t);
	/* Mandatory.  Remove the store this target holds (undo a publish). */
	int (*retire)(kvm_kv_target *t, struct kvm_error *err);

	/* Mandatory.  Read the published store: a consistent view until
	 * read_end.  KVM_EKVBUSY when reading would disturb this process's
	 * own use of the store. */
	int (*read_begin)(kvm_kv_target *t, struct kvm_error *err);
	/* Mandatory.  The value at (partition, key): 0 and *@found 1 with
	 * e->value set, or 0 and *@found 0. */
	int (*get)(kvm_kv_target *t, const uint8_t *partition,
	           size_t partition_len, const uint8_t *key, size_t key_len,
	           struct kvm_kv_entry *e, int *found, struct kvm_error *err);
	/* Mandatory.  Every entry in byte order, metadata included; KVM_END
	 * after the last. */
	int (*scan_next)(kvm_kv_target *t, struct kvm_kv_entry *e,
	                 struct kvm_error *err);
	void (*read_end)(kvm_kv_target *t);
};

struct kvm_kv_target {
	const struct kvm_kv_ops *ops;
	char *where;                   /* the path or URI, owned */
	struct kvm_kv_stats stats;     /* of the last build */
	void *data;                    /* the target's own state: ops own it */
};

/* The targets, in the order --version lists them; the LMDB one is in
 * kv_lmdb.c. */
extern const struct kvm_kv_ops kvm_kv_lmdb_ops;

/**
 * Open the target named by @where: a path is an LMDB file.  Touches
 * nothing at @where.  KVM_EINVAL for an empty name; KVM_ENOTSUP for a
 * kind of target this version does not have.  kvm_kv_close() frees it.
 */
int kvm_kv_open(kvm_kv_target **out, const char *where, struct kvm_error *err);
void kvm_kv_close(kvm_kv_target *t);

/*
 * Load the export @o->input into @t, which the caller has locked: checks
 * what is at the target (replacing only what @o->force allows, never a
 * store some process has open), begins, puts every record while the
 * export is read and verified, and, once its verified end is reached,
 * puts the metadata entries.  Does not publish: the caller does, with
 * t->ops->publish(), possibly inside its own transaction; or aborts.
 * r->replaced says whether publishing replaces a store.
 */
int kvm_import_load(kvm_kv_target *t, const struct kvm_import_opts *o,
                    struct kvm_import_result *r, struct kvm_error *err);

/* Fill a status' kv part from @path's target (NULL: KVM_KV_NOT_SET). */
void kvm_kv_status(const char *path, struct kvm_status *st);

#endif /* KVM_KVTARGET_H */
