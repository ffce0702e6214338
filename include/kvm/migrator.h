/*
 * kvm/migrator.h - the package migrators and their registry.
 *
 * Each package of the service (auth, refs, staging, actions, multiparts)
 * has one migrator: a const struct in pkg-migrators/<package>.c that names
 * the package, the old tables it reads, and its sources.  The registry
 * (pkg-migrators/registry.c) lists them in export order; the engine looks
 * them up there and nowhere else.
 *
 * A source is one query over the old tables and one row function.  The
 * engine (lib/export*.c), not the migrator, opens the snapshot, checks that
 * the tables exist, runs each query as COPY (...) TO STDOUT (FORMAT binary),
 * parses the rows, and calls the row function once per row.  The row
 * function turns the row into zero or more records with kvm_row_emit();
 * the engine checks each record's sizes against what an export file
 * carries and its order, counts it and hands it to the export writer.
 * The engine knows no KV target: a key the export carries may still be
 * too long for one (LMDB's 511 bytes), which that target's import says.
 *
 * Order.  The records of a section must come out in byte order of their
 * LMDB keys (partition bytes, then key bytes), so the import can append.
 * A source's query orders its rows so that this holds (text columns
 * ordered COLLATE "C", bytea columns as they are), and the sources of a
 * migrator are listed in that order too.  The engine checks every record
 * against the previous one of its section and stops the export when the
 * order breaks or a key repeats.
 *
 * Split sources.  A source with a split query runs once per value that
 * query returns (for staging: once per staging token).  The engine sorts
 * the values by their bytes and runs the main query with "$1" replaced by
 * each value as a quoted literal; the value is passed to the row function.
 * Each run is a unit of work that --jobs spreads over the workers.
 *
 * Adding a package is one new file pkg-migrators/<package>.c defining
 * `const struct kvm_migrator kvm_migrator_<package>`, plus its name in the
 * list of registry.c (design/migrators.md).
 */
#ifndef KVM_MIGRATOR_H
#define KVM_MIGRATOR_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The version of struct kvm_migrator; its first field. */
#define KVM_MIGRATOR_ABI 1

/* Defined in format/pgcopy.h and format/kvvalue.h (internal). */
struct kvm_pgcopy;
struct kvm_pgcopy_field;
typedef struct kvm_value kvm_value;

/** A piece of a partition or key: bytes and their length. */
struct kvm_bytes {
	const void *p;
	size_t len;
};

/** What a row function gets: one row of its source. */
struct kvm_row {
	/** The parser, for the kvm_pgcopy_* decoders' messages. */
	const struct kvm_pgcopy *copy;
	/** The row's fields, as many as the source's ncols. */
	const struct kvm_pgcopy_field *f;
	/** The split value of the unit (split sources), else NULL and 0. */
	const unsigned char *split;
	size_t split_len;
	/** A value builder owned by the engine; the row function resets it
	 *  before building each value. */
	kvm_value *value;
	/** The row's table, for messages: the source's, set by the engine
	 *  for each unit; the row function of a UNION source sets the table
	 *  of each row before emitting. */
	const char *table;
	/** Engine state; not for migrators. */
	void *engine;
};

/**
 * Emit one record: the partition is the concatenation of @npart pieces,
 * the key that of @nkey pieces, the value the bytes built in row->value.
 *
 * @return 0; KVM_EKEYSIZE when the partition or the key is longer than an
 *         export file carries (KVM_EXPORT_MAX_PARTITION, KVM_EXPORT_MAX_KEY),
 *         KVM_EVALUESIZE when the value is (KVM_EXPORT_MAX_VALUE) (the
 *         message names the table, the partition and the key);
 *         KVM_ENOMEM; a writer error; KVM_ECANCELED.
 */
int kvm_row_emit(struct kvm_row *row, const struct kvm_bytes *part, size_t npart,
                 const struct kvm_bytes *key, size_t nkey, struct kvm_error *err);

/**
 * Describe a field for a message: its text as a quoted, escaped string
 * (or "NULL"), at most about 80 bytes of it, into @out.
 */
void kvm_row_describe(const struct kvm_pgcopy_field *f, char *out, size_t size);

/** Turns one row into records; returns 0 or an error (err filled). */
typedef int (*kvm_row_fn)(struct kvm_row *row, struct kvm_error *err);

/** One query of a migrator. */
struct kvm_source {
	/** The table the rows come from (or the first of a UNION), for
	 *  messages and row counts. */
	const char *table;
	/** A SELECT whose rows come out in the order the records must have;
	 *  for a split source it holds "$1" once, where the value goes. */
	const char *query;
	/** Number of columns the query returns. */
	unsigned ncols;
	kvm_row_fn row;
	/** NULL, or a SELECT of one column whose values split the source
	 *  into units (each value at most once). */
	const char *split_query;
};

struct kvm_migrator {
	/** KVM_MIGRATOR_ABI, so the struct can grow. */
	unsigned abi;
	/** The package name, [a-z0-9_-]{1,64}: the export's section name. */
	const char *name;
	/** The old tables the migrator reads, NULL-terminated, in the order
	 *  it reads them.  Partitions are not listed: their parent is. */
	const char *const *tables;
	/** Its sources, in the order their records go into the section. */
	const struct kvm_source *sources;
	size_t nsources;
};

/** Number of registered migrators. */
size_t kvm_migrator_count(void);

/** Migrator @i in export order, or NULL when out of range. */
const struct kvm_migrator *kvm_migrator_get(size_t i);

/** The migrator named @name, or NULL. */
const struct kvm_migrator *kvm_migrator_find(const char *name);

/**
 * The names of the registered migrators, in export order, joined with
 * ", " ("auth, refs, ..."), for messages.
 *
 * @param buf   where the list goes; may be NULL when @size is 0
 * @param size  bytes at @buf; a longer list is cut, and the result is
 *              NUL-terminated whenever @size is not 0
 * @return the length of the whole list, without the NUL (as snprintf
 *         returns): the list was cut when it is @size or more.
 */
size_t kvm_migrator_names(char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* KVM_MIGRATOR_H */
