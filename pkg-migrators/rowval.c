/*
 * rowval.c - a record's msgpack value from a list of columns.
 *
 * The decoders of pgcopy.c refuse NULL fields, so NULL is handled here,
 * once, as nil; everything else goes through the decoder of its type,
 * whose error (KVM_EDB, message filled) is returned as it is.  A NULL in
 * a field a partition or key is made of is refused (KVM_ENULL): the
 * layout has no NULL name, and an empty one could be another row's.
 */
#include <inttypes.h>
#include <stdio.h>

#include "kvvalue.h"
#include "rowval.h"

static int put_text_array(const struct kvm_row *row,
                          const struct kvm_pgcopy_field *f,
                          struct kvm_error *err)
{
	struct kvm_pgcopy_array a;
	struct kvm_pgcopy_field elem;
	int rc;

	if ((rc = kvm_pgcopy_array(row->copy, f, &a, err)) != 0)
		return rc;
	kvm_value_array(row->value, (uint32_t)a.count);
	while ((rc = kvm_pgcopy_array_next(row->copy, &a, &elem, err)) == 0) {
		if (elem.len < 0)
			kvm_value_nil(row->value);
		else
			kvm_value_str(row->value, elem.data, (size_t)elem.len);
	}
	return rc == KVM_END ? 0 : rc;
}

static int put_field(const struct kvm_row *row,
                     const struct kvm_pgcopy_field *f,
                     enum kvm_rowval_type type, struct kvm_error *err)
{
	kvm_value *v = row->value;
	const char *text;
	size_t len;
	int64_t i;
	uint32_t nsec;
	int b, rc;

	if (f->len < 0) {
		kvm_value_nil(v);
		return 0;
	}
	switch (type) {
	case KVM_RV_TEXT:
		kvm_value_str(v, f->data, (size_t)f->len);
		return 0;
	case KVM_RV_BYTEA:
		kvm_value_bin(v, f->data, (size_t)f->len);
		return 0;
	case KVM_RV_INT:
		if ((rc = kvm_pgcopy_int(row->copy, f, &i, err)) == 0)
			kvm_value_int(v, i);
		return rc;
	case KVM_RV_BOOL:
		if ((rc = kvm_pgcopy_bool(row->copy, f, &b, err)) == 0)
			kvm_value_bool(v, b);
		return rc;
	case KVM_RV_TS:
		if ((rc = kvm_pgcopy_timestamptz(row->copy, f, &i, &nsec, err)) == 0)
			kvm_value_timestamp(v, i, nsec);
		return rc;
	case KVM_RV_JSONB:
		if ((rc = kvm_pgcopy_jsonb(row->copy, f, &text, &len, err)) == 0)
			kvm_value_str(v, text, len);
		return rc;
	case KVM_RV_TEXT_ARRAY:
		return put_text_array(row, f, err);
	}
	return kvm_error_set(err, KVM_EINTERNAL, "table '%s': column type %d "
	                     "unknown", row->table, (int)type);
}

int kvm_rowval_build(struct kvm_row *row, const struct kvm_rowval_col *cols,
                     size_t ncols, struct kvm_error *err)
{
	int rc;

	kvm_value_reset(row->value);
	kvm_value_map(row->value, (uint32_t)ncols + 1);
	kvm_value_key(row->value, "v");
	kvm_value_int(row->value, 1);
	for (size_t c = 0; c < ncols; c++) {
		kvm_value_key(row->value, cols[c].name);
		rc = put_field(row, &row->f[cols[c].field], cols[c].type, err);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int kvm_rowval_null_key(struct kvm_row *row, const char *column,
                        const char *what, struct kvm_error *err)
{
	char where[400];

	if (what == NULL)
		snprintf(where, sizeof(where), "%s IS NULL", column);
	else
		snprintf(where, sizeof(where), "%s", what);
	kvm_error_set(err, KVM_ENULL, "table '%s': %s%s%s has NULL in column "
	              "'%s', which its KV key is made of; the KV store cannot "
	              "carry it", row->table, what ? "row (" : "a row",
	              what ? what : "", what ? ")" : "", column);
	kvm_error_where(err, NULL, NULL, where);
	return KVM_ENULL;
}

/* The column field @field of @rec comes from, for a message. */
static const char *column_of(const struct kvm_rowval_record *rec, int field)
{
	for (size_t c = 0; c < rec->ncols; c++)
		if ((int)rec->cols[c].field == field)
			return rec->cols[c].name;
	return "?";
}

static int null_piece(struct kvm_row *row, const struct kvm_rowval_record *rec,
                      int field, struct kvm_error *err)
{
	const struct kvm_rowval_col *id = rec->row_id;
	const char *column = field == rec->key_field && rec->key_col != NULL ?
	                     rec->key_col : column_of(rec, field);
	char what[400], shown[360];
	int64_t i;

	if (id == NULL || kvm_rowval_null(row, id->field))
		return kvm_rowval_null_key(row, column, NULL, err);
	if (id->type == KVM_RV_INT &&
	    kvm_pgcopy_int(row->copy, &row->f[id->field], &i, err) == 0)
		snprintf(what, sizeof(what), "%s %" PRId64, id->name, i);
	else {
		kvm_row_describe(&row->f[id->field], shown, sizeof(shown));
		snprintf(what, sizeof(what), "%s %s", id->name, shown);
	}
	return kvm_rowval_null_key(row, column, what, err);
}

int kvm_rowval_emit(struct kvm_row *row, const struct kvm_rowval_record *rec,
                    struct kvm_error *err)
{
	struct kvm_bytes part[2] = { rec->part }, key[2] = { rec->key };
	size_t npart = 1, nkey = 1;
	int rc;

	if (rec->part_field >= 0 && kvm_rowval_null(row, (unsigned)rec->part_field))
		return null_piece(row, rec, rec->part_field, err);
	if (rec->key_field >= 0 && kvm_rowval_null(row, (unsigned)rec->key_field))
		return null_piece(row, rec, rec->key_field, err);
	if (rec->part_field >= 0)
		part[npart++] = kvm_rowval_field(row, (unsigned)rec->part_field);
	if (rec->key_field >= 0)
		key[nkey++] = kvm_rowval_field(row, (unsigned)rec->key_field);
	if ((rc = kvm_rowval_build(row, rec->cols, rec->ncols, err)) != 0)
		return rc;
	return kvm_row_emit(row, part, npart, key, nkey, err);
}
