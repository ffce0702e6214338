/*
 * rowval.h - shared pieces of the package migrators: a record's value from
 * a list of columns, and the pieces of its partition and key.
 *
 * Every record value is a msgpack map: "v": 1 first, then the columns in
 * the table's order, each under its column name (old-schema.md, "The KV
 * layout").  A migrator describes a record kind once, as const data, and
 * its row function emits each row with one call:
 *
 *     static const struct kvm_rowval_col group_cols[] = {
 *         { "created_at",   0, KVM_RV_TS },
 *         { "display_name", 1, KVM_RV_TEXT },
 *     };
 *     static const struct kvm_rowval_record group_rec = {
 *         .part = KVM_RV_LIT("auth"),    .part_field = -1,
 *         .key  = KVM_RV_LIT("groups/"), .key_field = 1,
 *         .cols = group_cols, .ncols = KVM_RV_COUNT(group_cols),
 *     };
 *     return kvm_rowval_emit(row, &group_rec, err);
 *
 * Records of another shape build their value with kvm_rowval_build and
 * call kvm_row_emit themselves.  Internal to pkg-migrators/.
 */
#ifndef KVM_ROWVAL_H
#define KVM_ROWVAL_H

#include <stddef.h>

#include "kvm/migrator.h"
#include "pgcopy.h"

/** How a column's binary COPY field becomes a msgpack item; a NULL
 *  field is nil whatever the type. */
enum kvm_rowval_type {
	KVM_RV_TEXT,        /**< text, varchar: str */
	KVM_RV_BYTEA,       /**< bytea: bin, the bytes as stored */
	KVM_RV_INT,         /**< int2, int4, int8: int */
	KVM_RV_BOOL,        /**< boolean: bool */
	KVM_RV_TS,          /**< timestamptz: timestamp extension */
	KVM_RV_JSONB,       /**< jsonb: str holding the JSON text */
	KVM_RV_TEXT_ARRAY,  /**< text[]: array of str (nil for a NULL element) */
};

/** One pair of a value: map key, field index in the row, type. */
struct kvm_rowval_col {
	const char *name;
	unsigned field;
	enum kvm_rowval_type type;
};

/** Number of elements of a static array (columns, sources). */
#define KVM_RV_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/**
 * Reset row->value and build {"v": 1, cols[0].name: ..., ...} in it from
 * the row's fields.  @ncols may be 0: the value is then {"v": 1}.
 *
 * @return 0; KVM_EDB when a field is malformed for its type (the
 *         decoder's message names the table and the row)
 */
int kvm_rowval_build(struct kvm_row *row, const struct kvm_rowval_col *cols,
                     size_t ncols, struct kvm_error *err);

/** A literal piece of a key or partition, as an initializer. */
#define KVM_RV_LIT(s) { (s), sizeof(s) - 1 }

/** Field @i of the row as a piece of a key or partition: its raw bytes,
 *  empty when the field is NULL. */
static inline struct kvm_bytes kvm_rowval_field(const struct kvm_row *row,
                                                unsigned i)
{
	const struct kvm_pgcopy_field *f = &row->f[i];

	if (f->len < 0)
		return (struct kvm_bytes){ "", 0 };
	return (struct kvm_bytes){ f->data, (size_t)f->len };
}

/** Whether field @i of the row is SQL NULL. */
static inline int kvm_rowval_null(const struct kvm_row *row, unsigned i)
{
	return row->f[i].len < 0;
}

/**
 * A record kind whose partition and key are each a literal prefix followed
 * by at most one field of the row (-1: none), and whose value is built
 * from @cols.  Most records are of this shape:
 *
 *     partition "auth",                   key "users/" + display_name
 *     partition "repo/" + repository_id, key "" + a key computed in SQL
 */
struct kvm_rowval_record {
	struct kvm_bytes part;
	int part_field;
	struct kvm_bytes key;
	int key_field;
	const struct kvm_rowval_col *cols;
	size_t ncols;
	/** For the message about a NULL key field: the column the key is
	 *  made of when the query computes it (NULL: the column of @cols
	 *  read from @key_field), and a column naming the row (int or
	 *  text; NULL: none). */
	const char *key_col;
	const struct kvm_rowval_col *row_id;
};

/**
 * Build the value of @rec from the row and emit the record.  A NULL
 * partition or key field is refused: the KV layout has no NULL name, and
 * an empty one would be another entry's key.
 *
 * @return 0; KVM_ENULL (kvm_rowval_null_key); the errors of
 *         kvm_rowval_build and kvm_row_emit
 */
int kvm_rowval_emit(struct kvm_row *row, const struct kvm_rowval_record *rec,
                    struct kvm_error *err);

/**
 * Refuse a row that is NULL in @column, which its KV partition or key is
 * made of (the old schema's NOT NULL dropped): KVM_ENULL, the message
 * naming the table, the column and the row.  @what names the row, as
 * "id 3" (NULL: the row is named by the column being NULL).
 *
 * @return KVM_ENULL
 */
int kvm_rowval_null_key(struct kvm_row *row, const char *column,
                        const char *what, struct kvm_error *err);

#endif /* KVM_ROWVAL_H */
