#!/bin/sh
# demo-steps.sh - the steps of the demo, run inside tests/tools/pg-harness.sh.
#
#   sh tests/tools/demo.sh BIN        (do not run this file directly)
#
# 1. BIN --version, and BIN status on the empty database.
# 2. BIN up: applies the built-in SQL schema versions (the service's old
#    schema), then a second BIN up, which has nothing to do.
# 3. Fills the old tables with tests/tools/gen-data.py (the tiny size: every
#    kind of row the service has, a few hundred in all) and shows BIN status.
# 4. BIN export of every package from one snapshot, with two jobs, then
#    BIN inspect of the file: the records per package equal the rows read.
# 5. BIN up --kv-enabled with a KV path in a temporary directory: export,
#    import, version bump; mdb_stat counts the entries; BIN status; BIN
#    verify against the tables; a second BIN up --kv-enabled has nothing
#    to do.
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

# --- 3. generated rows -----------------------------------------------------------------

step "3. generated rows in the old tables (tests/tools/gen-data.py --size tiny)"
/usr/bin/python3 tests/tools/gen-data.py --db "$db" --size tiny --seed 1 2>&1 | sed 's/^/  /'
rows=$(count_rows)
[ "${rows:-0}" -gt 0 ] || fail "tests/tools/gen-data.py loaded no rows"
run status --db "$db" --kv "$kv"
[ "$rc" -eq 0 ] || fail "kvmigrate status failed"

# --- 4. export -------------------------------------------------------------------------

step "4. export every package from one snapshot, then inspect the file"
run export --db "$db" -o "$work/export.kvm" --jobs 2
[ "$rc" -eq 0 ] || fail "kvmigrate export failed"
[ -s "$work/export.kvm" ] || fail "kvmigrate export wrote no file"
records=$(sed -n 's/^wrote .*: \([0-9]*\) records.*/\1/p' "$work/err")
run inspect "$work/export.kvm"
[ "$rc" -eq 0 ] || fail "kvmigrate inspect of the export failed"
[ "$(count_rows)" = "$rows" ] || fail "kvmigrate export changed the tables"

# --- 5. up with the KV flag -----------------------------------------------------------

step "5. the KV migration: up --kv-enabled, then status, verify, and up again"
run up --kv-enabled --db "$db" --kv "$kv"
[ "$rc" -eq 0 ] || fail "kvmigrate up --kv-enabled failed"
version=$(psql -A -t -c "SELECT version FROM schema_migrations")
[ "$version" = 9 ] || fail "the schema version is $version after the KV migration, not 9"
[ -s "$kv" ] || fail "no KV store at $kv"
entries=$(mdb_stat -n "$kv" | sed -n 's/^ *Entries: //p')
[ "$entries" = "$((records + 3))" ] ||
	fail "the KV store holds $entries entries, expected the $records records and 3 metadata entries"
echo "  mdb_stat: $entries entries in $kv (the $records records and 3 metadata entries)"
run status --db "$db" --kv "$kv"
[ "$rc" -eq 0 ] || fail "kvmigrate status failed"
run verify --db "$db" --kv "$kv"
[ "$rc" -eq 0 ] || fail "kvmigrate verify found the store different from the tables"
run up --kv-enabled --db "$db" --kv "$kv"
[ "$rc" -eq 0 ] || fail "the second kvmigrate up --kv-enabled failed"
after=$(count_rows)
[ "$after" = "$rows" ] || fail "the old tables changed"

echo
echo "demo: what it did:"
echo "  - started a throwaway PostgreSQL cluster: $db"
echo "  - applied the 8 built-in SQL schema versions with kvmigrate up, then ran"
echo "    it again (nothing to do), and generated $rows rows"
echo "  - showed kvmigrate status before and after"
echo "  - exported the $rows rows as ${records:-?} records into $work/export.kvm"
echo "    (one snapshot, two jobs) and showed it with kvmigrate inspect"
echo "  - ran kvmigrate up --kv-enabled --kv $kv: the $records records are in"
echo "    the KV store, the schema is at version 9, the old tables are kept;"
echo "    kvmigrate verify found the store equal to the tables"
echo "  - the cluster and $work are removed as the demo ends"
echo "demo: ok"
