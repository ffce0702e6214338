# shellcheck shell=sh
# e2e-db.sh - throwaway databases for the end-to-end scripts of tests/e2e
# that use the cluster of tests/tools/pg-harness.sh (sourced, after tap.sh
# and check.sh: newdb and the want_* lines report through fail).
#
#   . "$(dirname "$0")/../tools/e2e-db.sh"
#   dbprefix=kvmt_xx                     newdb's databases: kvmt_xx_PID_N
#   trap 'cleanup; rm -rf "$T"' EXIT
#
#   newdb [NAME]                 create an empty database (NAME, or ${dbprefix}_PID_N), dropped at exit; its name in $db; if it cannot: fail, psql's messages in $T/createdb.err, status 1
#   conn DB                      print the conninfo of database DB: KVMIGRATE_TEST_DB with dbname=DB appended (later keywords win)
#   query CONNINFO QUERY         print the rows of QUERY, unaligned, without headers; psql's messages on stderr
#   sql DB QUERY                 query on database DB, psql's messages on stdout too
#   want_row DB "VERSION|t/f"    schema_migrations of DB holds exactly this row (version, dirty)
#   want_missing DB TABLE t/f    to_regclass('public.TABLE') IS NULL on DB is t (missing) or f
#   old_tables DB                print how many of the 17 old tables exist in DB (any schema)
#   cleanup                      kill the processes in $bgpids, drop the databases in $dbs
#
# Sourcing it bails out unless KVMIGRATE_TEST_DB (the cluster's superuser
# conninfo) is set, puts KVMIGRATE_TEST_PGBIN (psql, pg_dump) first in PATH
# when it is set, and empties dbs and bgpids: add the pid of a background
# process to bgpids to have it killed at exit.

if [ -z "${KVMIGRATE_TEST_DB:-}" ]; then
	echo "Bail out! KVMIGRATE_TEST_DB is not set: run inside tests/tools/pg-harness.sh"
	exit 1
fi
if [ -n "${KVMIGRATE_TEST_PGBIN:-}" ]; then
	PATH=$KVMIGRATE_TEST_PGBIN:$PATH
	export PATH
fi

dbs=
bgpids=
ndb=0

cleanup() {
	for p in $bgpids; do
		kill "$p" 2>/dev/null
	done
	for d in $dbs; do
		psql -X -q -d "$KVMIGRATE_TEST_DB" \
			-c "DROP DATABASE IF EXISTS \"$d\" WITH (FORCE)" >/dev/null 2>&1
	done
}

# shellcheck disable=SC2120  # NAME is optional
newdb() {
	ndb=$((ndb + 1))
	db=${1:-${dbprefix:-kvmt}_$$_$ndb}
	dbs="$dbs $db"
	if ! psql -X -q -v ON_ERROR_STOP=1 -d "$KVMIGRATE_TEST_DB" \
		-c "CREATE DATABASE \"$db\" TEMPLATE template0" >"$T/createdb.err" 2>&1; then
		fail "cannot create database $db: $(head -n 2 "$T/createdb.err" | tr '\n' ' ')"
		return 1
	fi
}

# updb: a new database at version 8, its name in $db
updb() {
	newdb || return 1
	"$KVMIGRATE" up --db "$(conn "$db")" >"$T/up.out" 2>"$T/up.err" ||
		fail "kvmigrate up on $db: $(head -n 2 "$T/up.err" | tr '\n' ' ')"
}

# filldb ARG...: a new database at version 8 filled by gen-data.py ARG...
# ($GEN, set by the script), its name in $db.
filldb() {
	updb || return 1
	if ! "$PY" "$GEN" --db "$(conn "$db")" --quiet "$@" 2>"$T/gen.err"; then
		fail "gen-data.py $*: $(head -n 2 "$T/gen.err" | tr '\n' ' ')"
		return 1
	fi
}

# kvcheck ARG...: kv-check.py ARG... ($KVCHECK, set by the script); its
# output is the failure
kvcheck() {
	"$PY" "$KVCHECK" "$@" >"$T/kvcheck.out" 2>&1 ||
		fail "kv-check.py $1: $(head -n 3 "$T/kvcheck.out" | tr '\n' ' ')"
}

conn() {
	printf '%s dbname=%s\n' "$KVMIGRATE_TEST_DB" "$1"
}

query() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}

sql() {
	query "$(conn "$1")" "$2" 2>&1
}

want_row() {
	got=$(sql "$1" 'SELECT version, dirty FROM schema_migrations')
	[ "$got" = "$2" ] || fail "schema_migrations of $1: '$(printf '%s' "$got" | tr '\n' ' ')', expected '$2'"
}

want_missing() {
	got=$(sql "$1" "SELECT to_regclass('public.$2') IS NULL")
	[ "$got" = "$3" ] || fail "to_regclass('$2') IS NULL on $1 is '$got', expected '$3'"
}

# old_tables DB: how many of the old tables exist (in any schema)
old_tables() {
	sql "$1" "SELECT count(*) FROM pg_class WHERE relkind IN ('r', 'p')
		AND relname IN ('auth_users', 'auth_groups', 'auth_policies',
		'auth_user_groups', 'auth_user_policies', 'auth_group_policies',
		'auth_credentials', 'auth_installation_metadata', 'auth_expired_tokens',
		'graveler_repositories', 'graveler_branches', 'graveler_tags',
		'graveler_commits', 'graveler_staging_kv', 'actions_runs',
		'actions_run_hooks', 'gateway_multiparts')"
}
