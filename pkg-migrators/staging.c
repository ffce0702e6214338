/*
 * staging.c - staged objects: each staging token's entries go to
 * partition "staging/{staging_token}", keyed by their key bytes.
 *
 * The table is by far the largest, so the source is split by staging
 * token: each token is one unit of work, read in order of the unique
 * index on (staging_token, key).  The tokens themselves come from a loose
 * index scan (one index probe per distinct token) instead of a scan of
 * the whole table.  Tokens no branch refers to are migrated too.
 */
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
	int rc;

	rc = kvm_rowval_build(row, staged_cols, KVM_RV_COUNT(staged_cols), err);
	if (rc != 0)
		return rc;
	return kvm_row_emit(row, part, KVM_RV_COUNT(part), key, 1, err);
}

static const struct kvm_source staging_sources[] = {
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
