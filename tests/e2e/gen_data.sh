#!/bin/sh
# End-to-end test of tests/tools/gen-data.py, the seeded generator of the
# old tables, against the cluster of tests/tools/pg-harness.sh: two
# databases brought to version 8 by `kvmigrate up` and filled with
# `--size tiny --seed 7` hold the same data (pg_dump --data-only --inserts);
# seed 8 gives other data; every case the migrators must meet is there
# (NULL emails, names with '/', binary staging keys, tombstones, orphaned
# staging tokens, merge commits, multipart uploads of old releases, ...);
# a filled database and one not at version 8 are refused.
#
#   KVMIGRATE=build/kvmigrate sh tests/e2e/gen_data.sh     (from the repo root)
#
# Environment (from the harness): KVMIGRATE_TEST_DB, KVMIGRATE_TEST_PGBIN
# (psql, pg_dump). Databases kvmt_gen_PID_N, dropped at exit.
#
# Prints TAP ("ok N - ...", "not ok N - ..." with "# " diagnostics) and
# exits 1 if any test failed.

set -u

. "$(dirname "$0")/../tools/tap.sh"
. "$(dirname "$0")/../tools/check.sh"
. "$(dirname "$0")/../tools/e2e-db.sh"
GEN=tests/tools/gen-data.py
SCHEMA=pkg-migrators/schema
if [ ! -f "$GEN" ] || [ ! -d "$SCHEMA" ]; then
	echo "Bail out! $GEN or $SCHEMA not found: run from the repository root"
	exit 1
fi
dbprefix=kvmt_gen

T=$(mktemp -d "${TMPDIR:-/tmp}/kvmt.XXXXXX") || exit 1
trap 'cleanup; rm -rf "$T"' EXIT

# --- helpers ------------------------------------------------------------------

# gen DB ARG...: run the generator on database DB
gen() {
	gdb=$1
	shift
	runc "$PY" "$GEN" --db "$(conn "$gdb")" "$@"
}

# pg_dump 15.14 and later frame a plain dump with \restrict KEY and
# \unrestrict KEY, KEY random: not part of the database.
# dump DB OUT: the data of DB as INSERTs, into OUT
dump() {
	pg_dump --data-only --inserts -d "$(conn "$1")" 2>"$2.err" |
		sed -e '/^\\restrict /d' -e '/^\\unrestrict /d' >"$2"
	[ -s "$2" ] || fail "pg_dump of $1 failed: $(head -n 2 "$2.err" | tr '\n' ' ')"
}

# features DB SQL: SQL yields rows (feature, count); each count must be > 0
features() {
	if ! sql "$1" "$2" >"$T/feat"; then
		fail "query failed: $(head -n 3 "$T/feat" | tr '\n' ' ')"
		return
	fi
	[ -s "$T/feat" ] || fail "the query returned nothing"
	while IFS='|' read -r what count; do
		case $count in
		'' | *[!0-9]*) fail "$what: not a count: '$count'" ;;
		0) fail "no rows with $what" ;;
		esac
	done <"$T/feat"
}

# none DB SQL: SQL yields rows (what, count); each count must be 0
none() {
	if ! sql "$1" "$2" >"$T/feat"; then
		fail "query failed: $(head -n 3 "$T/feat" | tr '\n' ' ')"
		return
	fi
	while IFS='|' read -r what count; do
		[ "$count" = 0 ] || fail "$what: $count, expected 0"
	done <"$T/feat"
}

TABLES="auth_users auth_groups auth_policies auth_user_groups auth_user_policies
auth_group_policies auth_credentials auth_installation_metadata auth_expired_tokens
graveler_repositories graveler_commits graveler_branches graveler_tags
graveler_staging_kv actions_runs actions_run_hooks gateway_multiparts"

# rowcounts DB: "table count" per old table
rowcounts() {
	q=
	for t in $TABLES; do
		q="$q${q:+ UNION ALL }SELECT '$t', count(*) FROM $t"
	done
	sql "$1" "$q"
}

# --- two databases, the same seed ---------------------------------------------

begin "tiny, seed 7, into a database at version 8: exit 0, a line per table and the total"
updb
dbA=$db
gen "$dbA" --size tiny --seed 7
want_rc 0
want_out_empty
want_err_lines 18
for t in $TABLES; do
	want_err_grep "^gen-data: $t +[1-9][0-9]* rows$"
done
want_err_grep '^gen-data: [0-9]+ rows in 17 tables in [0-9.]+ s '
total=$(sed -n 's/^gen-data: \([0-9]*\) rows in .*/\1/p' "$T/err")
if [ "${total:-0}" -lt 200 ] || [ "${total:-0}" -gt 450 ]; then
	fail "tiny made '$total' rows, expected about 300"
fi
end

begin "the same seed into a second database, --quiet: exit 0, nothing printed"
updb
dbB=$db
gen "$dbB" --size tiny --seed 7 --quiet
want_rc 0
want_out_empty
want_err_empty
end

begin "the same seed gives the same data (pg_dump --data-only --inserts)"
dump "$dbA" "$T/a.sql"
dump "$dbB" "$T/b.sql"
if ! cmp -s "$T/a.sql" "$T/b.sql"; then
	fail "the dumps differ: $(diff "$T/a.sql" "$T/b.sql" | sed -n '2,3p' | cut -c1-120 | tr '\n' '|')"
fi
grep -q '^INSERT INTO public.graveler_staging_kv' "$T/a.sql" || fail "no staging rows in the dump"
end

begin "another seed gives other data"
updb
dbC=$db
gen "$dbC" --size tiny --seed 8 --quiet
want_rc 0
dump "$dbC" "$T/c.sql"
cmp -s "$T/a.sql" "$T/c.sql" && fail "seeds 7 and 8 gave the same dump"
end

# --- what the data holds --------------------------------------------------------

begin "auth: NULL and non-NULL emails, odd names, bcrypt hashes, memberships, credentials"
features "$dbA" "
SELECT 'users with NULL email', count(*) FROM auth_users WHERE email IS NULL
UNION ALL SELECT 'users with an email', count(*) FROM auth_users WHERE email IS NOT NULL
UNION ALL SELECT 'users with every nullable column NULL', count(*) FROM auth_users
  WHERE email IS NULL AND friendly_name IS NULL AND source IS NULL AND external_id IS NULL
  AND encrypted_password IS NULL
UNION ALL SELECT 'user names with a slash', count(*) FROM auth_users WHERE display_name LIKE '%/%'
UNION ALL SELECT 'non-ASCII user names', count(*) FROM auth_users WHERE octet_length(display_name) > length(display_name)
UNION ALL SELECT 'mixed-case user names', count(*) FROM auth_users WHERE display_name ~ '[A-Z]' AND display_name ~ '[a-z]'
UNION ALL SELECT 'bcrypt-like passwords', count(*) FROM auth_users WHERE position('\$2a\$10\$'::bytea IN encrypted_password) = 1
UNION ALL SELECT 'external ids', count(*) FROM auth_users WHERE external_id IS NOT NULL
UNION ALL SELECT 'groups with a slash', count(*) FROM auth_groups WHERE display_name LIKE '%/%'
UNION ALL SELECT 'policies', count(*) FROM auth_policies
UNION ALL SELECT 'user groups', count(*) FROM auth_user_groups
UNION ALL SELECT 'user policies', count(*) FROM auth_user_policies
UNION ALL SELECT 'group policies', count(*) FROM auth_group_policies
UNION ALL SELECT 'credentials of a user', count(*) FROM auth_credentials WHERE user_id IS NOT NULL
UNION ALL SELECT 'credentials with NULL user_id', count(*) FROM auth_credentials WHERE user_id IS NULL
UNION ALL SELECT 'installation_id', count(*) FROM auth_installation_metadata WHERE key_name = 'installation_id'
UNION ALL SELECT 'setup_timestamp', count(*) FROM auth_installation_metadata WHERE key_name = 'setup_timestamp'
UNION ALL SELECT 'expired tokens', count(*) FROM auth_expired_tokens"
none "$dbA" "
SELECT 'policies whose statement is not a non-empty array of statements', count(*) FROM auth_policies
  WHERE jsonb_typeof(statement) <> 'array' OR jsonb_array_length(statement) = 0
  OR NOT statement->0 ?& array['Effect', 'Action', 'Resource']
UNION ALL SELECT 'access key ids not AKIAJ + 15', count(*) FROM auth_credentials WHERE access_key_id !~ '^AKIAJ[A-Z2-7]{15}\$'
UNION ALL SELECT 'emails equal under lower()', count(*) - count(DISTINCT lower(email)) FROM auth_users WHERE email IS NOT NULL
UNION ALL SELECT 'user ids after the sequence', count(*) FROM auth_users WHERE id > (SELECT last_value FROM auth_users_id_seq)"
end

begin "refs: repositories, branches without token or commit, tags, a commit DAG"
features "$dbA" "
SELECT 'repositories named repo-NNN', count(*) FROM graveler_repositories WHERE id ~ '^repo-[0-9]{3}\$' AND default_branch = 'main'
UNION ALL SELECT 'branches with NULL staging_token', count(*) FROM graveler_branches WHERE staging_token IS NULL
UNION ALL SELECT 'branches with NULL commit_id', count(*) FROM graveler_branches WHERE commit_id IS NULL
UNION ALL SELECT 'branches with a slash', count(*) FROM graveler_branches WHERE id LIKE '%/%'
UNION ALL SELECT 'tags', count(*) FROM graveler_tags
UNION ALL SELECT 'commits with 0 parents', count(*) FROM graveler_commits WHERE cardinality(parents) = 0
UNION ALL SELECT 'commits with 1 parent', count(*) FROM graveler_commits WHERE cardinality(parents) = 1
UNION ALL SELECT 'commits with 2 parents', count(*) FROM graveler_commits WHERE cardinality(parents) = 2
UNION ALL SELECT 'commits with NULL metadata', count(*) FROM graveler_commits WHERE metadata IS NULL
UNION ALL SELECT 'commits with {} metadata', count(*) FROM graveler_commits WHERE metadata = '{}'
UNION ALL SELECT 'commits with metadata keys', count(*) FROM graveler_commits WHERE metadata <> '{}'
UNION ALL SELECT 'commits of version 0', count(*) FROM graveler_commits WHERE version = 0
UNION ALL SELECT 'commits of version 1', count(*) FROM graveler_commits WHERE version = 1
UNION ALL SELECT 'commits with NULL generation', count(*) FROM graveler_commits WHERE generation IS NULL
UNION ALL SELECT 'commits with a generation', count(*) FROM graveler_commits WHERE generation IS NOT NULL
UNION ALL SELECT 'commit messages with a newline', count(*) FROM graveler_commits WHERE message LIKE E'%\\n%'"
none "$dbA" "
SELECT 'commit ids not 64 hex', count(*) FROM graveler_commits WHERE id !~ '^[0-9a-f]{64}\$'
UNION ALL SELECT 'parents that are not earlier commits of the repository', count(*)
  FROM graveler_commits c, unnest(c.parents) p
  WHERE NOT EXISTS (SELECT 1 FROM graveler_commits d WHERE d.repository_id = c.repository_id
                    AND d.id = p AND d.creation_date < c.creation_date)
UNION ALL SELECT 'branch heads that are not commits', count(*) FROM graveler_branches b WHERE commit_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM graveler_commits c WHERE c.repository_id = b.repository_id AND c.id = b.commit_id)
UNION ALL SELECT 'tags on missing commits', count(*) FROM graveler_tags t
  WHERE NOT EXISTS (SELECT 1 FROM graveler_commits c WHERE c.repository_id = t.repository_id AND c.id = t.commit_id)
UNION ALL SELECT 'branches of missing repositories', count(*) FROM graveler_branches b
  WHERE NOT EXISTS (SELECT 1 FROM graveler_repositories r WHERE r.id = b.repository_id)"
end

begin "staging: orphaned tokens, binary, non-ASCII, 1-byte and long keys, tombstones"
features "$dbA" "
SELECT 'tokens referenced by a branch', count(DISTINCT staging_token) FROM graveler_staging_kv s
  WHERE EXISTS (SELECT 1 FROM graveler_branches b WHERE b.staging_token = s.staging_token)
UNION ALL SELECT 'orphaned tokens', count(DISTINCT staging_token) FROM graveler_staging_kv s
  WHERE NOT EXISTS (SELECT 1 FROM graveler_branches b WHERE b.staging_token = s.staging_token)
UNION ALL SELECT 'keys with a 0x00 byte', count(*) FROM graveler_staging_kv WHERE position('\\x00'::bytea IN key) > 0
UNION ALL SELECT 'keys with a 0xff byte', count(*) FROM graveler_staging_kv WHERE position('\\xff'::bytea IN key) > 0
UNION ALL SELECT 'non-ASCII UTF-8 keys', count(*) FROM graveler_staging_kv WHERE position('\\xc3a9'::bytea IN key) > 0
UNION ALL SELECT 'mixed-case keys', count(*) FROM graveler_staging_kv WHERE key = 'Data/README.md'::bytea
UNION ALL SELECT '1-byte keys', count(*) FROM graveler_staging_kv WHERE octet_length(key) = 1
UNION ALL SELECT 'keys of 380 bytes or more', count(*) FROM graveler_staging_kv WHERE octet_length(key) >= 380
UNION ALL SELECT 'realistic object paths', count(*) FROM graveler_staging_kv WHERE position('.parquet'::bytea IN key) > 0
UNION ALL SELECT 'tombstones', count(*) FROM graveler_staging_kv WHERE identity IS NULL AND data IS NULL
UNION ALL SELECT 'values', count(*) FROM graveler_staging_kv WHERE identity IS NOT NULL"
none "$dbA" "
SELECT 'keys over 450 bytes', count(*) FROM graveler_staging_kv WHERE octet_length(key) > 450
UNION ALL SELECT 'LMDB keys over 511 bytes', count(*) FROM graveler_staging_kv
  WHERE octet_length('staging/' || staging_token) + 2 + octet_length(key) > 511
UNION ALL SELECT 'half tombstones', count(*) FROM graveler_staging_kv WHERE (identity IS NULL) <> (data IS NULL)
UNION ALL SELECT 'identities not 32 bytes', count(*) FROM graveler_staging_kv WHERE octet_length(identity) <> 32
UNION ALL SELECT 'values outside 100..450 bytes', count(*) FROM graveler_staging_kv WHERE octet_length(data) NOT BETWEEN 100 AND 450"
end

begin "actions: passed and failed runs on existing branches and commits, 1-4 hooks each"
features "$dbA" "
SELECT 'passed runs', count(*) FROM actions_runs WHERE passed
UNION ALL SELECT 'failed runs', count(*) FROM actions_runs WHERE NOT passed
UNION ALL SELECT 'hook runs', count(*) FROM actions_run_hooks"
none "$dbA" "
SELECT 'runs on missing branches', count(*) FROM actions_runs a WHERE NOT EXISTS
  (SELECT 1 FROM graveler_branches b WHERE b.repository_id = a.repository_id AND b.id = a.branch_id)
UNION ALL SELECT 'runs on missing commits', count(*) FROM actions_runs a WHERE NOT EXISTS
  (SELECT 1 FROM graveler_commits c WHERE c.repository_id = a.repository_id AND c.id = a.commit_id)
UNION ALL SELECT 'runs without 1 to 4 hooks', count(*) FROM actions_runs a WHERE (SELECT count(*) FROM actions_run_hooks h
  WHERE h.repository_id = a.repository_id AND h.run_id = a.run_id) NOT BETWEEN 1 AND 4
UNION ALL SELECT 'hooks of missing runs', count(*) FROM actions_run_hooks h WHERE NOT EXISTS
  (SELECT 1 FROM actions_runs a WHERE a.repository_id = h.repository_id AND a.run_id = h.run_id)"
end

begin "multiparts: uploads of old releases (NULL metadata and content_type) and new ones"
features "$dbA" "
SELECT 'NULL metadata and content_type', count(*) FROM gateway_multiparts WHERE metadata IS NULL AND content_type IS NULL
UNION ALL SELECT 'metadata and content_type', count(*) FROM gateway_multiparts WHERE metadata IS NOT NULL AND content_type IS NOT NULL"
end

# --- refusals -------------------------------------------------------------------

rowcounts "$dbA" >"$T/counts.before"

begin "a database that already holds rows is refused: exit 1, one line, nothing added"
gen "$dbA" --size tiny --seed 7
want_rc 1
want_out_empty
want_err_lines 1
want_err_grep '^gen-data: .*already hold rows'
rowcounts "$dbA" >"$T/counts.after"
cmp -s "$T/counts.before" "$T/counts.after" || fail "the row counts changed"
end

begin "one filled table is enough to refuse, and it is named"
updb
dbD=$db
sql "$dbD" "INSERT INTO auth_installation_metadata VALUES ('installation_id', 'x')" >/dev/null
gen "$dbD" --size tiny
want_rc 1
want_out_empty
want_err_lines 1
want_err_grep '^gen-data: .*auth_installation_metadata'
end

begin "a database at version 7 is refused: exit 1, one line naming the version"
newdb
db7=$db
mkdir "$T/seven"
for f in "$SCHEMA"/00000[1-7]_*.up.sql; do
	cp "$f" "$T/seven/"
done
"$KVMIGRATE" up --db "$(conn "$db7")" --schema-dir "$T/seven" >/dev/null 2>"$T/up.err" ||
	fail "kvmigrate up to version 7: $(head -n 2 "$T/up.err" | tr '\n' ' ')"
want_row "$db7" "7|f"
gen "$db7" --size tiny
want_rc 1
want_out_empty
want_err_lines 1
want_err_grep '^gen-data: .*not at schema version 8.*version 7'
got=$(sql "$db7" "SELECT count(*) FROM graveler_staging_kv")
[ "$got" = 0 ] || fail "staging rows after the refusal: '$got'"
end

begin "an empty database (no schema_migrations) is refused: exit 1, one line"
newdb
gen "$db" --size tiny
want_rc 1
want_out_empty
want_err_lines 1
want_err_grep '^gen-data: .*not at schema version 8'
end

tap_done
