/*
 * refs.c - repositories (partition "graveler") and each repository's
 * branches, commits and tags (partition "repo/{repository_id}").
 *
 * Branches, commits and tags share their partitions, so one UNION ALL
 * query reads all three and orders them together by repository, then by
 * the key, which the query computes.  A kind column says which table a
 * row comes from; typed NULLs fill the columns the other tables lack.
 */
#include "kvm/migrator.h"
#include "rowval.h"

static const char *const refs_tables[] = {
	"graveler_repositories", "graveler_branches", "graveler_tags",
	"graveler_commits", NULL,
};

static const struct kvm_rowval_col repo_cols[] = {
	{ "id", 0, KVM_RV_TEXT },
	{ "storage_namespace", 1, KVM_RV_TEXT },
	{ "creation_date", 2, KVM_RV_TS },
	{ "default_branch", 3, KVM_RV_TEXT },
};

static const struct kvm_rowval_record repo_rec = {
	.part = KVM_RV_LIT("graveler"), .part_field = -1,
	.key = KVM_RV_LIT("repos/"), .key_field = 0,
	.cols = repo_cols, .ncols = KVM_RV_COUNT(repo_cols),
};

static int repo_row(struct kvm_row *row, struct kvm_error *err)
{
	return kvm_rowval_emit(row, &repo_rec, err);
}

/* Fields of the UNION query, in its column order. */
enum {
	F_KIND, F_REPO, F_KEY, F_ID, F_STAGING_TOKEN, F_COMMIT_ID, F_COMMITTER,
	F_MESSAGE, F_CREATION_DATE, F_META_RANGE_ID, F_METADATA, F_PARENTS,
	F_VERSION, F_GENERATION, F_COUNT
};

static const struct kvm_rowval_col branch_cols[] = {
	{ "repository_id", F_REPO, KVM_RV_TEXT },
	{ "id", F_ID, KVM_RV_TEXT },
	{ "staging_token", F_STAGING_TOKEN, KVM_RV_TEXT },
	{ "commit_id", F_COMMIT_ID, KVM_RV_TEXT },
};

static const struct kvm_rowval_col commit_cols[] = {
	{ "repository_id", F_REPO, KVM_RV_TEXT },
	{ "id", F_ID, KVM_RV_TEXT },
	{ "committer", F_COMMITTER, KVM_RV_TEXT },
	{ "message", F_MESSAGE, KVM_RV_TEXT },
	{ "creation_date", F_CREATION_DATE, KVM_RV_TS },
	{ "meta_range_id", F_META_RANGE_ID, KVM_RV_TEXT },
	{ "metadata", F_METADATA, KVM_RV_JSONB },
	{ "parents", F_PARENTS, KVM_RV_TEXT_ARRAY },
	{ "version", F_VERSION, KVM_RV_INT },
	{ "generation", F_GENERATION, KVM_RV_INT },
};

static const struct kvm_rowval_col tag_cols[] = {
	{ "repository_id", F_REPO, KVM_RV_TEXT },
	{ "id", F_ID, KVM_RV_TEXT },
	{ "commit_id", F_COMMIT_ID, KVM_RV_TEXT },
};

/* Partition "repo/" + repository_id; the key comes whole from the query. */
#define REPO_RECORD(c) {                                                \
	.part = KVM_RV_LIT("repo/"), .part_field = F_REPO,              \
	.key = KVM_RV_LIT(""), .key_field = F_KEY,                      \
	.cols = (c), .ncols = KVM_RV_COUNT(c), .key_col = "id",         \
}

static const struct kvm_rowval_record branch_rec = REPO_RECORD(branch_cols);
static const struct kvm_rowval_record commit_rec = REPO_RECORD(commit_cols);
static const struct kvm_rowval_record tag_rec = REPO_RECORD(tag_cols);

static int ref_row(struct kvm_row *row, struct kvm_error *err)
{
	const struct kvm_pgcopy_field *kind = &row->f[F_KIND];

	if (kind->len == 1) {
		switch (kind->data[0]) {
		case 'b':
			row->table = "graveler_branches";
			return kvm_rowval_emit(row, &branch_rec, err);
		case 'c':
			row->table = "graveler_commits";
			return kvm_rowval_emit(row, &commit_rec, err);
		case 't':
			row->table = "graveler_tags";
			return kvm_rowval_emit(row, &tag_rec, err);
		}
	}
	return kvm_error_set(err, KVM_EINTERNAL, "table '%s': a row of unknown "
	                     "kind", row->table);
}

static const struct kvm_source refs_sources[] = {
	{
		.table = "graveler_repositories", .ncols = 4, .row = repo_row,
		.query = "SELECT id, storage_namespace, creation_date, "
		         "default_branch "
		         "FROM graveler_repositories "
		         "ORDER BY id COLLATE \"C\"",
	},
	{
		.table = "graveler_branches", .ncols = F_COUNT, .row = ref_row,
		.query = "SELECT * FROM ("
		         "SELECT 'b' AS kind, repository_id, "
		         "'branches/' || id AS k, id, staging_token, commit_id, "
		         "NULL::text AS committer, NULL::text AS message, "
		         "NULL::timestamptz AS creation_date, "
		         "NULL::text AS meta_range_id, NULL::jsonb AS metadata, "
		         "NULL::text[] AS parents, NULL::int AS version, "
		         "NULL::int AS generation "
		         "FROM graveler_branches "
		         "UNION ALL "
		         "SELECT 'c', repository_id, 'commits/' || id, id, "
		         "NULL::text, NULL::text, committer, message, "
		         "creation_date, meta_range_id, metadata, parents, "
		         "version, generation "
		         "FROM graveler_commits "
		         "UNION ALL "
		         "SELECT 't', repository_id, 'tags/' || id, id, "
		         "NULL::text, commit_id, NULL::text, NULL::text, "
		         "NULL::timestamptz, NULL::text, NULL::jsonb, "
		         "NULL::text[], NULL::int, NULL::int "
		         "FROM graveler_tags"
		         ") r "
		         "ORDER BY repository_id COLLATE \"C\", k COLLATE \"C\"",
	},
};

const struct kvm_migrator kvm_migrator_refs = {
	.abi = KVM_MIGRATOR_ABI,
	.name = "refs",
	.tables = refs_tables,
	.sources = refs_sources,
	.nsources = KVM_RV_COUNT(refs_sources),
};
