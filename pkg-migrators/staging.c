/*
 * staging.c - staged objects: each staging token's entries go to
 * partition "staging/{staging_token}", keyed by their key bytes.
 *
 * The table is by far the largest, so the source is split by staging
 * token: each token is one unit of work, read in order of the unique
 * index on (staging_token, key).  The tokens themselves come from a loose
 * index scan (one index probe per distinct token) instead of a scan of
 * the whole table.  Tokens no branch refers to are migrated too.
 *
 * A NULL staging token or key (the old schema's NOT NULL dropped) has no
 * place in the KV layout.  A NULL key is refused where it is read; rows
 * with a NULL token are in no unit, so a source of their own finds them
 * and refuses the first, instead of leaving them out.
 */
#include <stdio.h>

#include "kvm/migrator.h"
#include "rowval.h"

static const char *const staging_tables[] = { "graveler_staging_kv", NULL };

/* A NULL identity is a staged delete: it stays, as nil. */
static const struct kvm_rowval_col staged_cols[] = {
	{ "identity", 1, KVM_RV_BYTEA },
	{ "data", 2, KVM_RV_BYTEA },
};

static int staged_row(struct kvm_row *row, struct kvm_error *err)
{
	struct kvm_bytes part[] = {
		KVM_RV_LIT("staging/"), { row->split, row->split_len },
	};
	struct kvm_bytes key[] = { kvm_rowval_field(row, 0) };
	char what[400], token[360];
	int rc;

	if (kvm_rowval_null(row, 0)) {
		struct kvm_pgcopy_field tok = {
			.data = row->split, .len = (int32_t)row->split_len,
		};

		kvm_row_describe(&tok, token, sizeof(token));
		snprintf(what, sizeof(what), "staging_token %s", token);
		return kvm_rowval_null_key(row, "key", what, err);
	}
	rc = kvm_rowval_build(row, staged_cols, KVM_RV_COUNT(staged_cols), err);
	if (rc != 0)
		return rc;
	return kvm_row_emit(row, part, KVM_RV_COUNT(part), key, 1, err);
}

/* A row of the query for NULL tokens: there should be none. */
static int null_token_row(struct kvm_row *row, struct kvm_error *err)
{
	char key[360], what[400];

	kvm_row_describe(&row->f[0], key, sizeof(key));
	snprintf(what, sizeof(what), "key %s", key);
	return kvm_rowval_null_key(row, "staging_token", what, err);
}

static const struct kvm_source staging_sources[] = {
	{
		.table = "graveler_staging_kv", .ncols = 1, .row = null_token_row,
		/* nothing to read while the column is NOT NULL (the planner
		 * knows); else the index of the one partition NULL goes to */
		.query = "SELECT key FROM graveler_staging_kv "
		         "WHERE staging_token IS NULL LIMIT 1",
	},
	{
		.table = "graveler_staging_kv", .ncols = 3, .row = staged_row,
		/* bytea orders by its bytes: no collation involved */
		.query = "SELECT key, identity, data FROM graveler_staging_kv "
		         "WHERE staging_token = $1 ORDER BY key",
		.split_query =
			"WITH RECURSIVE t(tok) AS ("
			"(SELECT staging_token FROM graveler_staging_kv "
			"ORDER BY staging_token LIMIT 1) "
			"UNION ALL "
			"SELECT (SELECT s.staging_token FROM graveler_staging_kv s "
			"WHERE s.staging_token > t.tok "
			"ORDER BY s.staging_token LIMIT 1) "
			"FROM t WHERE t.tok IS NOT NULL"
			") SELECT tok FROM t WHERE tok IS NOT NULL",
	},
};

const struct kvm_migrator kvm_migrator_staging = {
	.abi = KVM_MIGRATOR_ABI,
	.name = "staging",
	.tables = staging_tables,
	.sources = staging_sources,
	.nsources = KVM_RV_COUNT(staging_sources),
};
