#!/bin/sh
# demo-steps.sh - the steps of the demo, run inside tests/tools/pg-harness.sh.
#
#   sh tests/tools/demo.sh BIN        (do not run this file directly)
#
# 1. BIN --version, and BIN status on the empty database.
# 2. BIN up: applies the built-in SQL schema versions (the service's old
#    schema), then a second BIN up, which has nothing to do.
# 3. Loads a few rows into the old tables (SAMPLE DATA: a small hand-written
#    set, until the data generator exists) and shows BIN status.
# 4. BIN up --kv-enabled with a KV path in a temporary directory: this
#    version refuses the KV migration before it connects, and changes
#    nothing; the demo checks that.
# Exit status 0 when every step behaved as described; 1 otherwise.
set -eu

if [ $# -ne 1 ] || [ -z "${KVMIGRATE_TEST_DB:-}" ]; then
	echo "usage: sh tests/tools/demo.sh BIN   (demo-steps.sh runs inside the PostgreSQL harness)" >&2
	exit 2
fi
bin=$1

work=$(mktemp -d "${TMPDIR:-/tmp}/kvdemo.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
kv=$work/kv.mdb
db=$KVMIGRATE_TEST_DB

psql() {
	"$KVMIGRATE_TEST_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$db" "$@"
}
step() {
	echo
	echo "== $*"
}
# Print a file with a prefix on each line, to keep the tool's output apart.
show() {
	[ -s "$2" ] || return 0
	sed "s/^/$1/" "$2"
}
# Run BIN with ARGS, show its output, and keep its exit status in $rc.
run() {
	echo "\$ kvmigrate $*"
	rc=0
	"$bin" "$@" >"$work/out" 2>"$work/err" </dev/null || rc=$?
	show "  stdout| " "$work/out"
	show "  stderr| " "$work/err"
	echo "  exit status: $rc"
}
# The rows of all old tables together.
count_rows() {
	psql -A -t -c "SELECT sum(n) FROM (
		SELECT count(*) AS n FROM auth_users UNION ALL SELECT count(*) FROM auth_groups
		UNION ALL SELECT count(*) FROM auth_policies UNION ALL SELECT count(*) FROM auth_user_groups
		UNION ALL SELECT count(*) FROM auth_user_policies UNION ALL SELECT count(*) FROM auth_group_policies
		UNION ALL SELECT count(*) FROM auth_credentials UNION ALL SELECT count(*) FROM auth_installation_metadata
		UNION ALL SELECT count(*) FROM auth_expired_tokens UNION ALL SELECT count(*) FROM graveler_repositories
		UNION ALL SELECT count(*) FROM graveler_branches UNION ALL SELECT count(*) FROM graveler_tags
		UNION ALL SELECT count(*) FROM graveler_commits UNION ALL SELECT count(*) FROM graveler_staging_kv
		UNION ALL SELECT count(*) FROM actions_runs UNION ALL SELECT count(*) FROM actions_run_hooks
		UNION ALL SELECT count(*) FROM gateway_multiparts) t"
}
fail() {
	echo "demo: $*" >&2
	echo "demo: FAILED" >&2
	exit 1
}

# --- 1. version and status -------------------------------------------------------

step "1. the tool, and the state of an empty database"
run --version
[ "$rc" -eq 0 ] || fail "kvmigrate --version failed"
run status --db "$db" --kv "$kv"
[ "$rc" -eq 0 ] || fail "kvmigrate status failed"

# --- 2. up without the KV flag ------------------------------------------------------

step "2. apply the SQL schema versions (the KV flag is off)"
run up --db "$db" --kv "$kv"
[ "$rc" -eq 0 ] || fail "kvmigrate up failed"
run up --db "$db" --kv "$kv"
[ "$rc" -eq 0 ] || fail "the second kvmigrate up failed"
[ ! -e "$kv" ] || fail "kvmigrate up without the KV flag created $kv"

# --- 3. sample rows -------------------------------------------------------------------

step "3. a few rows in the old tables (SAMPLE DATA)"
psql <<'SQL'
-- SAMPLE DATA: a handful of hand-written rows, one or more per package.
INSERT INTO auth_users (created_at, display_name, email, encrypted_password, source) VALUES
	('2022-03-01 10:00:00+00', 'admin', 'admin@example.com', '\x2432612431302461646d696e', 'internal'),
	('2022-03-02 11:30:00+00', 'alice', 'alice@example.com', '\x243261243130246131696365', 'internal'),
	('2022-03-03 09:15:00+00', 'bob', NULL, NULL, 'oidc');
INSERT INTO auth_groups (created_at, display_name) VALUES ('2022-03-01 10:00:00+00', 'Admins');
INSERT INTO auth_policies (created_at, display_name, statement) VALUES
	('2022-03-01 10:00:00+00', 'FullAccess', '[{"Effect": "allow", "Action": ["*"], "Resource": "*"}]');
INSERT INTO auth_user_groups SELECT u.id, g.id FROM auth_users u, auth_groups g WHERE u.display_name = 'admin';
INSERT INTO auth_group_policies SELECT g.id, p.id FROM auth_groups g, auth_policies p;
INSERT INTO auth_credentials SELECT 'AKIAEXAMPLE000000001', '\x00ff10', now(), id FROM auth_users WHERE display_name = 'alice';
INSERT INTO graveler_repositories VALUES ('example-repo', 's3://example-bucket/example-repo', '2022-03-04 08:00:00+00', 'main');
INSERT INTO graveler_commits (repository_id, id, committer, message, creation_date, meta_range_id, metadata, parents, generation)
	VALUES ('example-repo', 'c0ffee01', 'admin', 'Repository created', '2022-03-04 08:00:00+00', 'mr1', '{}', '{}', 1);
INSERT INTO graveler_branches VALUES ('example-repo', 'main', 'st-0001', 'c0ffee01');
INSERT INTO graveler_tags VALUES ('example-repo', 'v1.0', 'c0ffee01');
INSERT INTO graveler_staging_kv VALUES
	('st-0001', 'data/a.csv', '\x01', '\x7b7d'),
	('st-0001', 'data/gone.csv', NULL, NULL);
INSERT INTO actions_runs VALUES ('example-repo', 'run-1', 'pre-commit', now(), now(), 'main', 'main', 'c0ffee01', true);
INSERT INTO actions_run_hooks VALUES ('example-repo', 'run-1', 'hook-1', 'lint', 'check', now(), now(), true);
INSERT INTO gateway_multiparts (upload_id, path, physical_address) VALUES ('upload-1', 'data/big.bin', 's3://example-bucket/x');
SQL
rows=$(count_rows)
echo "  loaded sample rows (users, groups, policies, repositories, commits, staging, actions, multiparts)"
run status --db "$db" --kv "$kv"
[ "$rc" -eq 0 ] || fail "kvmigrate status failed"

# --- 4. up with the KV flag -----------------------------------------------------------

step "4. the KV migration (not part of this version)"
run up --kv-enabled --db "$db" --kv "$kv"
version=$(psql -A -t -c "SELECT version FROM schema_migrations")
after=$(count_rows)
if [ "$rc" -ne 1 ] || ! grep -q 'not part of this version' "$work/err"; then
	fail "kvmigrate up --kv-enabled: expected exit status 1 and 'not part of this version'"
fi
if [ -e "$kv" ] || [ "$version" != 8 ] || [ "$after" != "$rows" ]; then
	fail "kvmigrate up --kv-enabled changed something"
fi
echo "  the database is still at version $version with its $rows sample rows; nothing at $kv"

echo
echo "demo: what it did:"
echo "  - started a throwaway PostgreSQL cluster: $db"
echo "  - applied the 8 built-in SQL schema versions with kvmigrate up, then ran"
echo "    it again (nothing to do), and loaded $rows sample rows"
echo "  - showed kvmigrate status before and after"
echo "  - ran kvmigrate up --kv-enabled --kv $kv: refused in this version,"
echo "    nothing changed"
echo "  - the cluster and $work are removed as the demo ends"
echo "demo: ok"
