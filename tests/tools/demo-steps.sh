#!/bin/sh
# demo-steps.sh - the steps of the demo, run inside tests/tools/pg-harness.sh.
#
#   sh tests/tools/demo.sh BIN        (do not run this file directly)
#
# Called as demo-steps.sh BIN DIR, DIR being build/demo/ (absolute, empty).
# It first writes DIR/cluster: where the harness put the cluster, for
# demo.sh --clean (lines dir=, pgbin=, user=, db=).
#
# 1. BIN --version, and BIN status on the empty database.
# 2. BIN up: applies the built-in SQL schema versions (the service's old
#    schema), then a second BIN up, which has nothing to do.
# 3. Fills the old tables with tests/tools/gen-data.py --size 1m (every
#    kind of row the service has, 1,193,144 rows in all), timed, and shows
#    BIN status.
# 4. BIN up --kv-enabled --kv DIR/kv.mdb --keep-export DIR/export.kvm
#    --metrics-file DIR/kvmigrate.prom, its output left on the terminal
#    (where kvmigrate shows its progress): export, import, version bump.
# 5. BIN status; BIN verify against the tables and the kept export, its
#    output on the terminal too; BIN inspect of the export, whose records
#    mdb_stat finds in the store; a second BIN up --kv-enabled has nothing
#    to do; the tables are as loaded.
# Exit status 0 when every step behaved as described; 1 otherwise.
set -eu

if [ $# -ne 2 ] || [ -z "${KVMIGRATE_TEST_DB:-}" ]; then
	echo "usage: sh tests/tools/demo.sh BIN   (demo-steps.sh runs inside the PostgreSQL harness)" >&2
	exit 2
fi
bin=$1
demo=$2
db=$KVMIGRATE_TEST_DB
kv=$demo/kv.mdb
export=$demo/export.kvm
metrics=$demo/kvmigrate.prom

{
	echo "# the PostgreSQL cluster of the last make demo, for make demo-clean"
	echo "dir=${KVMIGRATE_TEST_PGDATA%/data}"
	echo "pgbin=$KVMIGRATE_TEST_PGBIN"
	echo "user=$KVMIGRATE_TEST_PG_OS_USER"
	echo "db=$db"
} >"$demo/cluster"

work=$(mktemp -d "${TMPDIR:-/tmp}/kvdemo.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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
# The command line kvmigrate ARGS, quoted so that it can be pasted.
say() {
	line='$ kvmigrate'
	for a in "$@"; do
		case $a in
		*[!A-Za-z0-9_./=:,+-]*) a="'$a'" ;;
		esac
		line="$line $a"
	done
	printf '%s\n' "$line"
}
# Run BIN with ARGS, show its output, and keep its exit status in $rc.
run() {
	say "$@"
	rc=0
	"$bin" "$@" >"$work/out" 2>"$work/err" </dev/null || rc=$?
	show "  stdout| " "$work/out"
	show "  stderr| " "$work/err"
	echo "  exit status: $rc"
}
# The same with the output on the terminal, as an operator sees it.
run_tty() {
	say "$@"
	rc=0
	"$bin" "$@" </dev/null || rc=$?
	echo "  exit status: $rc"
}
# Seconds since a time taken with clock, with one decimal.
clock() {
	date +%s.%N
}
since() {
	awk -v a="$1" -v b="$(clock)" 'BEGIN { printf "%.1f", b - a }'
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

step "3. a realistic dataset in the old tables (tests/tools/gen-data.py --size 1m)"
echo "  loading about 1.2 million rows through one COPY session (about 15 s on 2 cores) ..."
t0=$(clock)
gen=0
/usr/bin/python3 tests/tools/gen-data.py --db "$db" --size 1m --seed 1 2>"$work/gen" || gen=$?
load_secs=$(since "$t0")
show "  " "$work/gen"
[ "$gen" -eq 0 ] || fail "tests/tools/gen-data.py failed (exit status $gen)"
rows=$(count_rows)
[ "${rows:-0}" -gt 0 ] || fail "tests/tools/gen-data.py loaded no rows"
said=$(sed -n 's/^gen-data: \([0-9]*\) rows in .*/\1/p' "$work/gen")
[ "$said" = "$rows" ] || fail "gen-data.py reported ${said:-no} rows, the tables hold $rows"
echo "  loaded $rows rows in $load_secs s"
run status --db "$db" --kv "$kv"
[ "$rc" -eq 0 ] || fail "kvmigrate status failed"

# --- 4. up with the KV flag -----------------------------------------------------------

step "4. the KV migration: export, import, version bump (kvmigrate's own output)"
t0=$(clock)
run_tty up --kv-enabled --db "$db" --kv "$kv" --keep-export "$export" --metrics-file "$metrics"
up_secs=$(since "$t0")
[ "$rc" -eq 0 ] || fail "kvmigrate up --kv-enabled failed"
echo "  took $up_secs s"
version=$(psql -A -t -c "SELECT version FROM schema_migrations")
[ "$version" = 9 ] || fail "the schema version is $version after the KV migration, not 9"
[ -s "$kv" ] || fail "no KV store at $kv"
[ -s "$export" ] || fail "kvmigrate up --keep-export kept no export at $export"
[ -s "$metrics" ] || fail "kvmigrate up --metrics-file wrote no metrics to $metrics"
echo "  metrics, in $metrics:"
grep -v -e '^#' -e 'package=' "$metrics" | sed 's/^/  metrics| /'
echo "  metrics| ... and $(grep -c 'package=' "$metrics") lines per package (records, bytes, seconds)"

# --- 5. status, verify, inspect ----------------------------------------------------------

step "5. the state, the store compared with the tables and the export, the export"
run status --db "$db" --kv "$kv"
[ "$rc" -eq 0 ] || fail "kvmigrate status failed"
t0=$(clock)
run_tty verify --db "$db" --kv "$kv" --export "$export"
verify_secs=$(since "$t0")
[ "$rc" -eq 0 ] || fail "kvmigrate verify found the store different from the tables or the export"
echo "  took $verify_secs s"
run inspect "$export"
[ "$rc" -eq 0 ] || fail "kvmigrate inspect of the export failed"
records=$(sed -n 's/^records: *\([0-9][0-9]*\).*/\1/p' "$work/out")
[ -n "$records" ] || fail "kvmigrate inspect printed no 'records:' line"
entries=$(mdb_stat -n "$kv" | sed -n 's/^ *Entries: //p')
[ "$entries" = "$((records + 3))" ] ||
	fail "the KV store holds $entries entries, expected the $records records and 3 metadata entries"
echo "  mdb_stat: $entries entries in $kv (the $records records and 3 metadata entries)"
run up --kv-enabled --db "$db" --kv "$kv"
[ "$rc" -eq 0 ] || fail "the second kvmigrate up --kv-enabled failed"
after=$(count_rows)
[ "$after" = "$rows" ] || fail "the old tables changed"

echo
echo "demo: what it did:"
echo "  - started a PostgreSQL cluster: $db"
echo "  - applied the 8 built-in SQL schema versions with kvmigrate up, then ran"
echo "    it again (nothing to do)"
echo "  - generated $rows rows in the old tables in $load_secs s"
echo "  - ran kvmigrate up --kv-enabled in $up_secs s: the $rows rows became $records"
echo "    records in the KV store, the schema is at version 9, the old tables are kept"
echo "  - kvmigrate verify found the store equal to the tables and to the kept"
echo "    export ($verify_secs s); kvmigrate up again had nothing to do"
