#!/bin/sh
# demo-steps.sh - the steps of the demo, run inside tests/tools/pg-harness.sh.
#
#   sh tests/tools/demo.sh BIN        (do not run this file directly)
#
# 1. Creates a few tables of the service's old schema, with some rows.
#    SAMPLE DATA: a small hand-written stand-in, not the real schema (the
#    numbered schema versions live in pkg-migrators/schema/).
# 2. Runs BIN --version.
# 3. Runs BIN up --kv-enabled against the cluster and a KV path in a
#    temporary directory, and shows its output and exit status.
# 4. Says what happened.
# Exit status 0 when up succeeded, or failed only because it is not
# implemented in this version (and then changed nothing); 1 otherwise.
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

psql() {
	"$KVMIGRATE_TEST_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$KVMIGRATE_TEST_DB" "$@"
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

# --- 1. sample data -------------------------------------------------------------

step "1. sample tables of the old schema (SAMPLE DATA, not the real schema)"
psql <<'SQL'
-- SAMPLE DATA: a hand-written stand-in for a few tables of the service's
-- old schema, enough to show the tool at work. The real table definitions
-- are the numbered schema versions of pkg-migrators/schema/.
CREATE TABLE schema_migrations (
	version bigint PRIMARY KEY,
	dirty boolean NOT NULL
);
INSERT INTO schema_migrations (version, dirty) VALUES (1, false);

CREATE TABLE auth_users (
	id serial PRIMARY KEY,
	created_at timestamptz NOT NULL,
	display_name text NOT NULL UNIQUE,
	email text,
	encrypted_password bytea
);
INSERT INTO auth_users (created_at, display_name, email, encrypted_password) VALUES
	('2022-03-01 10:00:00+00', 'admin', 'admin@example.com', '\x2432612431302461646d696e'),
	('2022-03-02 11:30:00+00', 'alice', 'alice@example.com', '\x243261243130246131696365'),
	('2022-03-03 09:15:00+00', 'bob', NULL, NULL);

CREATE TABLE graveler_repositories (
	id text PRIMARY KEY,
	storage_namespace text NOT NULL,
	creation_date timestamptz NOT NULL,
	default_branch text NOT NULL
);
INSERT INTO graveler_repositories (id, storage_namespace, creation_date, default_branch) VALUES
	('example-repo', 's3://example-bucket/example-repo', '2022-03-04 08:00:00+00', 'main'),
	('images', 'local:///var/lib/service/images', '2022-03-05 12:00:00+00', 'main');
SQL
psql -c "SELECT 'schema_migrations' AS \"table\", count(*) AS rows FROM schema_migrations
	UNION ALL SELECT 'auth_users', count(*) FROM auth_users
	UNION ALL SELECT 'graveler_repositories', count(*) FROM graveler_repositories"

# --- 2. version -------------------------------------------------------------------

step "2. kvmigrate --version"
rc=0
"$bin" --version || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "demo: kvmigrate --version failed with exit status $rc" >&2
	exit 1
fi

# --- 3. up ------------------------------------------------------------------------

step "3. kvmigrate up --kv-enabled --db \"$KVMIGRATE_TEST_DB\" --kv $kv"
rc=0
"$bin" up --kv-enabled --db "$KVMIGRATE_TEST_DB" --kv "$kv" \
	>"$work/up.out" 2>"$work/up.err" </dev/null || rc=$?
show "  stdout| " "$work/up.out"
show "  stderr| " "$work/up.err"
echo "  exit status: $rc"

# --- 4. what happened ---------------------------------------------------------------

step "4. result"
tables=$(psql -A -t -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
version=$(psql -A -t -c "SELECT version FROM schema_migrations" 2>/dev/null || echo "(table gone)")
echo "  tables in the database: $tables; schema_migrations.version: $version"

result=0
if [ "$rc" -eq 0 ]; then
	if [ -f "$kv" ]; then
		echo "  KV store: $kv ($(wc -c <"$kv") bytes)"
		if command -v mdb_stat >/dev/null 2>&1; then
			mdb_stat -n -e "$kv" | sed 's/^/  | /' || true
		fi
		echo "demo: kvmigrate up migrated the sample tables into the KV store"
	else
		echo "demo: kvmigrate up succeeded but created no KV store at $kv" >&2
		result=1
	fi
elif [ "$rc" -eq 1 ] && grep -q 'not implemented in this version' "$work/up.err"; then
	# The only failure this version may give: then nothing may have changed.
	if [ -e "$kv" ] || [ "$tables" != 3 ] || [ "$version" != 1 ]; then
		echo "demo: kvmigrate up said it is not implemented, yet something changed" >&2
		result=1
	else
		echo "demo: 'kvmigrate up' is not implemented in this version: it checked its"
		echo "      options and stopped with exit status 1; the database and the KV path"
		echo "      are unchanged (no KV store was created)"
	fi
else
	echo "demo: kvmigrate up failed with exit status $rc" >&2
	result=1
fi

echo
echo "demo: what it did:"
echo "  - started a throwaway PostgreSQL cluster: $KVMIGRATE_TEST_DB"
echo "  - created 3 sample tables of the old schema (6 rows)"
echo "  - ran kvmigrate --version and kvmigrate up --kv-enabled --kv $kv"
echo "  - the cluster and $work are removed as the demo ends"
[ "$result" -eq 0 ] && echo "demo: ok" || echo "demo: FAILED" >&2
exit "$result"
