/*
 * actions.c - action runs and their hooks, in partition
 * "repo/{repository_id}": per run its row and two index entries (runs by
 * branch, runs by commit), per hook its row.
 *
 * All four kinds of record share the partitions, so one UNION ALL query
 * produces them and orders them by repository, then by the key, which the
 * query computes.  A kind column says what a row is: 'r' a run, 'h' a
 * hook, 'b' and 'c' an index entry by branch and by commit (its value is
 * {"v": 1}, its columns but run_id NULL).
 */
#include "kvm/migrator.h"
#include "rowval.h"

static const char *const actions_tables[] = {
	"actions_runs", "actions_run_hooks", NULL,
};

/* Fields of the query, in its column order. */
enum {
	F_KIND, F_REPO, F_KEY, F_RUN_ID, F_HOOK_RUN_ID, F_EVENT_TYPE,
	F_ACTION_NAME, F_HOOK_ID, F_START_TIME, F_END_TIME, F_BRANCH_ID,
	F_SOURCE_REF, F_COMMIT_ID, F_PASSED, F_COUNT
};

static const struct kvm_rowval_col run_cols[] = {
	{ "repository_id", F_REPO, KVM_RV_TEXT },
	{ "run_id", F_RUN_ID, KVM_RV_TEXT },
	{ "event_type", F_EVENT_TYPE, KVM_RV_TEXT },
	{ "start_time", F_START_TIME, KVM_RV_TS },
	{ "end_time", F_END_TIME, KVM_RV_TS },
	{ "branch_id", F_BRANCH_ID, KVM_RV_TEXT },
	{ "source_ref", F_SOURCE_REF, KVM_RV_TEXT },
	{ "commit_id", F_COMMIT_ID, KVM_RV_TEXT },
	{ "passed", F_PASSED, KVM_RV_BOOL },
};

static const struct kvm_rowval_col hook_cols[] = {
	{ "repository_id", F_REPO, KVM_RV_TEXT },
	{ "run_id", F_RUN_ID, KVM_RV_TEXT },
	{ "hook_run_id", F_HOOK_RUN_ID, KVM_RV_TEXT },
	{ "action_name", F_ACTION_NAME, KVM_RV_TEXT },
	{ "hook_id", F_HOOK_ID, KVM_RV_TEXT },
	{ "start_time", F_START_TIME, KVM_RV_TS },
	{ "end_time", F_END_TIME, KVM_RV_TS },
	{ "passed", F_PASSED, KVM_RV_BOOL },
};

/* Names the row in the message about a NULL in its key. */
static const struct kvm_rowval_col run_id = { "run_id", F_RUN_ID, KVM_RV_TEXT };

/* Partition "repo/" + repository_id; the key comes whole from the query,
 * made of column @kc besides the primary key. */
#define REPO_RECORD(c, n, kc) {                                         \
	.part = KVM_RV_LIT("repo/"), .part_field = F_REPO,              \
	.key = KVM_RV_LIT(""), .key_field = F_KEY,                      \
	.cols = (c), .ncols = (n), .key_col = (kc), .row_id = &run_id,  \
}

static const struct kvm_rowval_record run_rec =
	REPO_RECORD(run_cols, KVM_RV_COUNT(run_cols), "run_id");
static const struct kvm_rowval_record hook_rec =
	REPO_RECORD(hook_cols, KVM_RV_COUNT(hook_cols), "hook_run_id");
static const struct kvm_rowval_record branch_index_rec =
	REPO_RECORD(NULL, 0, "branch_id");
static const struct kvm_rowval_record commit_index_rec =
	REPO_RECORD(NULL, 0, "commit_id");

static int action_row(struct kvm_row *row, struct kvm_error *err)
{
	const struct kvm_pgcopy_field *kind = &row->f[F_KIND];

	if (kind->len == 1) {
		switch (kind->data[0]) {
		case 'r':
			row->table = "actions_runs";
			return kvm_rowval_emit(row, &run_rec, err);
		case 'h':
			row->table = "actions_run_hooks";
			return kvm_rowval_emit(row, &hook_rec, err);
		case 'b':
			row->table = "actions_runs";
			return kvm_rowval_emit(row, &branch_index_rec, err);
		case 'c':
			row->table = "actions_runs";
			return kvm_rowval_emit(row, &commit_index_rec, err);
		}
	}
	return kvm_error_set(err, KVM_EINTERNAL, "table '%s': a row of unknown "
	                     "kind", row->table);
}

/* The columns an index entry leaves NULL, after kind, repository, key,
 * run_id. */
#define INDEX_NULLS "NULL::text, NULL::text, NULL::text, "               \
	"NULL::text, NULL::timestamptz, NULL::timestamptz, NULL::text, "  \
	"NULL::text, NULL::text, NULL::boolean "

static const struct kvm_source actions_sources[] = {
	{
		.table = "actions_runs", .ncols = F_COUNT, .row = action_row,
		.query = "SELECT * FROM ("
		         "SELECT 'r' AS kind, repository_id, "
		         "'actions/runs/' || run_id AS k, run_id, "
		         "NULL::text AS hook_run_id, event_type, "
		         "NULL::text AS action_name, NULL::text AS hook_id, "
		         "start_time, end_time, branch_id, source_ref, commit_id, "
		         "passed "
		         "FROM actions_runs "
		         "UNION ALL "
		         "SELECT 'b', repository_id, 'actions/branches/' || "
		         "branch_id || '/' || run_id, run_id, " INDEX_NULLS
		         "FROM actions_runs "
		         "UNION ALL "
		         "SELECT 'c', repository_id, 'actions/commits/' || "
		         "commit_id || '/' || run_id, run_id, " INDEX_NULLS
		         "FROM actions_runs "
		         "UNION ALL "
		         "SELECT 'h', repository_id, 'actions/hooks/' || run_id || "
		         "'/' || hook_run_id, run_id, hook_run_id, NULL::text, "
		         "action_name, hook_id, start_time, end_time, NULL::text, "
		         "NULL::text, NULL::text, passed "
		         "FROM actions_run_hooks"
		         ") a "
		         "ORDER BY repository_id COLLATE \"C\", k COLLATE \"C\"",
	},
};

const struct kvm_migrator kvm_migrator_actions = {
	.abi = KVM_MIGRATOR_ABI,
	.name = "actions",
	.tables = actions_tables,
	.sources = actions_sources,
	.nsources = KVM_RV_COUNT(actions_sources),
};
