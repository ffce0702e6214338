#!/bin/sh
# End-to-end test of the KV migration of a database migrated by a service's
# own golang-migrate history: testdata/kv-history (see its README.md), whose
# last version leaves the old tables in another shape than the built-in
# versions (other column order and types, extra columns and indexes, some
# columns nullable), at a version number of its own, LAST.
#
#   KVMIGRATE=build/kvmigrate sh tests/e2e/kv_history.sh     (from the repo root)
#
# Environment (from the harness): KVMIGRATE_TEST_DB, KVMIGRATE_TEST_PGBIN.
# One database kvmt_kvhist_PID_1, dropped at exit.
#
# `up --schema-dir` applies every version; the tables are filled with plain
# SQL (every table, NULLs in the nullable columns, names with '/' and
# non-ASCII letters); `up --kv-enabled` without --schema-dir refuses the
# database (newer than the built-in versions) and changes nothing; `up
# --schema-dir --kv-enabled --keep-export` migrates: the version row, the
# export's header and the store's kv-schema-version say LAST + 1, the store
# holds exactly the export's records (tests/tools/kv-check.py, with LMDB's
# mdb_dump), the export one record per row; `verify`, `status` and
# `drop-tables` given the same --schema-dir see the database as migrated;
# a second run does nothing.
#
# Prints TAP and exits 1 if any test failed.

set -u

. "$(dirname "$0")/../tools/tap.sh"
. "$(dirname "$0")/../tools/check.sh"
. "$(dirname "$0")/../tools/e2e-db.sh"
HIST=testdata/kv-history
KVCHECK=tests/tools/kv-check.py
if [ ! -d "$HIST" ] || [ ! -f "$KVCHECK" ]; then
	echo "Bail out! $HIST or $KVCHECK not found: run from the repository root"
	exit 1
fi
dbprefix=kvmt_kvhist
OLD_TABLES=17

T=$(mktemp -d "${TMPDIR:-/tmp}/kvmt.XXXXXX") || exit 1
trap 'cleanup; rm -rf "$T"' EXIT

# counts DB: the rows of every old table, on one line
counts() {
	sql "$1" "SELECT concat_ws(' ',
		(SELECT count(*) FROM auth_users), (SELECT count(*) FROM auth_groups),
		(SELECT count(*) FROM auth_policies), (SELECT count(*) FROM auth_user_groups),
		(SELECT count(*) FROM auth_user_policies), (SELECT count(*) FROM auth_group_policies),
		(SELECT count(*) FROM auth_credentials), (SELECT count(*) FROM auth_installation_metadata),
		(SELECT count(*) FROM auth_expired_tokens), (SELECT count(*) FROM graveler_repositories),
		(SELECT count(*) FROM graveler_branches), (SELECT count(*) FROM graveler_tags),
		(SELECT count(*) FROM graveler_commits), (SELECT count(*) FROM graveler_staging_kv),
		(SELECT count(*) FROM actions_runs), (SELECT count(*) FROM actions_run_hooks),
		(SELECT count(*) FROM gateway_multiparts))"
}

# The versions of the history, from the file names as golang-migrate reads
# them (the number before the first '_', leading zeros dropped).
for f in "$HIST"/*.up.sql; do
	name=${f##*/}
	v=${name%%_*}
	case $v in '' | *[!0-9]*) continue ;; esac
	v=$(printf '%s\n' "$v" | sed 's/^0*//')
	printf '%s\n' "${v:-0}"
done | sort -n >"$T/versions"
nver=$(wc -l <"$T/versions")
LAST=$(sed -n '$p' "$T/versions")
KV=$((${LAST:-0} + 1))

begin "$HIST: 30 to 40 schema versions, none twice; the last is $LAST"
if [ "$nver" -lt 30 ] || [ "$nver" -gt 40 ]; then fail "$nver versions"; fi
dups=$(uniq -d "$T/versions" | tr '\n' ' ')
[ -z "$dups" ] || fail "versions given twice: $dups"
[ -n "$LAST" ] || fail "no version found"
end

# --- the SQL history -----------------------------------------------------------------

begin "up --schema-dir on a fresh database: the $nver versions applied, version $LAST, clean; the $OLD_TABLES old tables"
newdb
dbA=$db
mkdir "$T/a"
run up --schema-dir "$HIST" --db "$(conn "$dbA")"
want_rc 0
want_out_empty
want_err_grep "^schema at version $LAST \\(previously no version\\): $nver versions applied"
want_err_has "KV migration skipped"
want_row "$dbA" "$LAST|f"
[ "$(old_tables "$dbA")" = "$OLD_TABLES" ] || fail "$(old_tables "$dbA") of the old tables exist"
end

begin "status --schema-dir: current at $LAST, KV migration version $KV, up --kv-enabled next"
run status --schema-dir "$HIST" --db "$(conn "$dbA")" --kv "$T/a/kv.mdb"
want_rc 0
want_out_grep "^state: +current"
want_out_grep "last SQL version $LAST, KV migration version $KV"
want_out_grep "^next: +kvmigrate up --kv-enabled"
end

begin "the old tables filled: every table, NULLs in the nullable columns, names with '/' and non-ASCII"
PGCLIENTENCODING=UTF8 psql -X -q -v ON_ERROR_STOP=1 -d "$(conn "$dbA")" -f - >"$T/fill.out" 2>&1 <<'EOF' ||
BEGIN;
INSERT INTO auth_users (created_at, display_name, friendly_name, source, email, encrypted_password, external_id)
SELECT timestamptz '2021-01-01 00:00:00+00' + i * interval '1 hour 17 minutes 3.000123 seconds',
       CASE i % 10 WHEN 1 THEN 'team/data-eng/bot-' || i
                   WHEN 2 THEN 'José Núñez ' || i
                   WHEN 3 THEN '山田太郎' || i
                   WHEN 4 THEN 'Zoë/ci/' || i
                   ELSE 'user-' || lpad(i::text, 3, '0') END,
       CASE WHEN i % 5 = 0 THEN NULL ELSE 'Friendly ' || i || ' Ünïcödé' END,
       CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN 'internal' WHEN 2 THEN 'oidc' ELSE 'ldap' END,
       CASE WHEN i % 4 = 0 THEN NULL ELSE 'User' || i || '@Example.com' END,
       CASE WHEN i % 3 = 0 THEN NULL ELSE decode(md5('pw' || i) || md5('salt' || i), 'hex') END,
       CASE WHEN i % 6 = 2 THEN 'oidc|' || i ELSE NULL END
FROM generate_series(1, 60) AS i;

INSERT INTO auth_groups (created_at, display_name)
SELECT timestamptz '2021-02-01 00:00:00+00' + i * interval '1 day 0.5 seconds',
       CASE i % 3 WHEN 0 THEN 'team/' || i WHEN 1 THEN 'équipe-' || i ELSE 'group-' || i END
FROM generate_series(1, 10) AS i;

INSERT INTO auth_policies (created_at, display_name, statement)
SELECT timestamptz '2021-03-01 00:00:00+00' + i * interval '3 hours',
       CASE WHEN i % 4 = 0 THEN 'policy/repo-' || i ELSE 'Policy' || i END,
       jsonb_build_array(jsonb_build_object(
           'effect', CASE WHEN i % 2 = 0 THEN 'allow' ELSE 'deny' END,
           'action', jsonb_build_array('fs:Read*', 'fs:List*'),
           'resource', 'arn:lakefs:fs:::repository/repo-' || i || '/*'))
FROM generate_series(1, 12) AS i;

INSERT INTO auth_user_groups (user_id, group_id)
SELECT u.id, g.id FROM auth_users u JOIN auth_groups g ON (u.id + g.id) % 6 = 0;

INSERT INTO auth_user_policies (user_id, policy_id)
SELECT u.id, p.id FROM auth_users u JOIN auth_policies p ON (u.id * 7 + p.id) % 11 = 0;

INSERT INTO auth_group_policies (group_id, policy_id)
SELECT g.id, p.id FROM auth_groups g JOIN auth_policies p ON (g.id + p.id) % 5 = 0
ON CONFLICT DO NOTHING;

-- service keys without a user, keys imported without an issue date
INSERT INTO auth_credentials (access_key_id, secret_access_key, issued_date, user_id, last_used_at)
SELECT 'AKIAJ' || lpad(i::text, 15, '0'),
       decode(repeat(md5('secret' || i), 5), 'hex'),
       CASE WHEN i % 10 = 0 THEN NULL
            ELSE timestamptz '2021-04-01 00:00:00+00' + i * interval '5 hours 0.000007 seconds' END,
       CASE WHEN i % 7 = 0 THEN NULL
            ELSE (SELECT id FROM auth_users ORDER BY id OFFSET (i % 60) LIMIT 1) END,
       CASE WHEN i % 2 = 0 THEN NULL ELSE timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute' END
FROM generate_series(1, 80) AS i;

INSERT INTO auth_installation_metadata (key_name, key_value) VALUES
    ('installation_id', '0b5c8f2e-7a41-4d0e-9a55-1f3e2d9c6b70'),
    ('setup_timestamp', '2021-01-01T00:00:00Z'),
    ('comm_prefs/feature_updates', 'true'),
    ('préférences/langue', 'français');

INSERT INTO auth_expired_tokens (token_id, token_expires_at)
SELECT md5('token' || i),
       timestamptz '2023-06-01 00:00:00+00' + i * interval '11 minutes 0.000001 seconds'
FROM generate_series(1, 30) AS i;

INSERT INTO graveler_repositories (id, storage_namespace, creation_date, default_branch)
SELECT CASE i WHEN 5 THEN 'analytics/2024' WHEN 6 THEN 'données' ELSE 'repo-' || i END,
       's3://bucket-' || i || '/prefix/ü',
       timestamptz '2021-05-01 00:00:00+00' + i * interval '2 days',
       CASE WHEN i % 2 = 0 THEN 'main' ELSE 'master' END
FROM generate_series(1, 6) AS i;

INSERT INTO graveler_commits (repository_id, id, committer, message, creation_date,
                              meta_range_id, metadata, parents, version, generation)
SELECT r.id, md5(r.id || '/c' || c),
       CASE c % 3 WHEN 0 THEN 'José' WHEN 1 THEN 'ci/bot' ELSE 'user-007' END,
       CASE WHEN c % 4 = 0 THEN E'multi-line\nmessage\twith a tab ' || c ELSE 'commit ' || c END,
       timestamptz '2021-06-01 00:00:00+00' + c * interval '1 hour 0.000042 seconds',
       md5('mr' || r.id || c),
       CASE c % 3 WHEN 0 THEN NULL WHEN 1 THEN '{}'::jsonb
                  ELSE jsonb_build_object('k', c, 'ключ', 'значение') END,
       CASE WHEN c = 1 THEN '{}'::text[]
            WHEN c % 9 = 0 THEN NULL
            WHEN c % 5 = 0 THEN ARRAY[md5(r.id || '/c' || (c - 1)), md5(r.id || '/c' || (c - 2))]
            ELSE ARRAY[md5(r.id || '/c' || (c - 1))] END,
       CASE WHEN c < 8 THEN 0 ELSE 1 END,
       CASE WHEN c % 6 = 0 THEN NULL ELSE c END
FROM graveler_repositories r, generate_series(1, 20) AS c;

INSERT INTO graveler_branches (repository_id, id, staging_token, commit_id)
SELECT r.id, b.name,
       CASE WHEN b.n = 4 THEN NULL ELSE 'st-' || md5(r.id || b.name) END,
       CASE WHEN b.n = 3 THEN NULL ELSE md5(r.id || '/c' || (20 - b.n)) END
FROM graveler_repositories r,
     (VALUES (1, 'main'), (2, 'feature/x'), (3, 'josé/expérience'), (4, 'dev')) AS b(n, name);

INSERT INTO graveler_tags (repository_id, id, commit_id)
SELECT r.id, t.name, md5(r.id || '/c' || t.c)
FROM graveler_repositories r, (VALUES ('v1.0', 5), ('release/2024-01', 12)) AS t(name, c);

-- the branches' staging tokens and three tokens no branch refers to;
-- binary keys, tombstones (identity and data NULL)
INSERT INTO graveler_staging_kv (staging_token, key, identity, data)
SELECT t.tok,
       CASE k % 5 WHEN 0 THEN convert_to('data/part-' || k || '.parquet', 'UTF8')
                  WHEN 1 THEN convert_to('images/ñandú/' || k || '.jpg', 'UTF8')
                  WHEN 2 THEN decode('00ff' || lpad(to_hex(k), 4, '0') || '00', 'hex')
                  WHEN 3 THEN convert_to('logs/' || k, 'UTF8')
                  ELSE convert_to('k' || k, 'UTF8') END,
       CASE WHEN k % 11 = 0 THEN NULL ELSE decode(md5('id' || t.tok || k), 'hex') END,
       CASE WHEN k % 11 = 0 THEN NULL
            ELSE convert_to('{"size":' || k || ',"checksum":"' || md5(t.tok || k) || '"}', 'UTF8') END
FROM (SELECT staging_token AS tok FROM graveler_branches WHERE staging_token IS NOT NULL
      UNION ALL SELECT 'st-orphan-' || o FROM generate_series(1, 3) AS o) AS t,
     generate_series(1, 12) AS k;

-- runs still in progress have no end time
INSERT INTO actions_runs (repository_id, run_id, event_type, start_time, end_time,
                          branch_id, source_ref, commit_id, passed)
SELECT r.id, 'run-' || lpad(n::text, 4, '0'),
       (ARRAY['pre-commit', 'post-commit', 'pre-merge', 'post-merge'])[1 + n % 4],
       timestamptz '2022-01-01 00:00:00+00' + n * interval '1 day 0.000003 seconds',
       CASE WHEN n % 8 = 0 THEN NULL
            ELSE timestamptz '2022-01-01 00:05:00+00' + n * interval '1 day' END,
       CASE WHEN n % 2 = 0 THEN 'main' ELSE 'feature/x' END,
       CASE WHEN n % 2 = 0 THEN 'main' ELSE 'feature/x' END,
       md5(r.id || '/c' || (1 + n % 20)),
       n % 3 <> 0
FROM graveler_repositories r, generate_series(1, 8) AS n;

INSERT INTO actions_run_hooks (repository_id, run_id, hook_run_id, action_name, hook_id,
                               start_time, end_time, passed)
SELECT a.repository_id, a.run_id, md5(a.run_id || h), 'Action ' || h || ' — vérification',
       'hook_' || h, a.start_time + h * interval '1 second',
       CASE WHEN a.end_time IS NULL AND h = 2 THEN NULL ELSE a.start_time + h * interval '2 seconds' END,
       a.passed OR h = 1
FROM actions_runs a, generate_series(1, 2) AS h;

-- uploads started by old releases have no metadata and no content type
INSERT INTO gateway_multiparts (upload_id, path, creation_date, physical_address, metadata, content_type)
SELECT md5('upload' || i),
       CASE i % 3 WHEN 0 THEN 'data/ünïcode/' || i WHEN 1 THEN 'a/b/c/' || i || '.bin' ELSE 'plain-' || i END,
       timestamptz '2023-01-01 00:00:00+00' + i * interval '7 minutes 0.000011 seconds',
       CASE WHEN i % 5 = 0 THEN NULL ELSE 's3://bucket/_data/' || md5('pa' || i) END,
       CASE WHEN i <= 6 THEN NULL ELSE jsonb_build_object('x-amz-meta-owner', 'ü' || i) END,
       CASE WHEN i <= 6 THEN NULL ELSE 'application/octet-stream' END
FROM generate_series(1, 20) AS i;
COMMIT;
EOF
	fail "filling the tables: $(head -n 3 "$T/fill.out" | tr '\n' ' ')"
missing=$(sql "$dbA" "SELECT what FROM (VALUES
	('rows in auth_users', EXISTS (SELECT 1 FROM auth_users)),
	('rows in auth_groups', EXISTS (SELECT 1 FROM auth_groups)),
	('rows in auth_policies', EXISTS (SELECT 1 FROM auth_policies)),
	('rows in auth_user_groups', EXISTS (SELECT 1 FROM auth_user_groups)),
	('rows in auth_user_policies', EXISTS (SELECT 1 FROM auth_user_policies)),
	('rows in auth_group_policies', EXISTS (SELECT 1 FROM auth_group_policies)),
	('rows in auth_installation_metadata', EXISTS (SELECT 1 FROM auth_installation_metadata)),
	('rows in auth_expired_tokens', EXISTS (SELECT 1 FROM auth_expired_tokens)),
	('rows in graveler_repositories', EXISTS (SELECT 1 FROM graveler_repositories)),
	('rows in graveler_tags', EXISTS (SELECT 1 FROM graveler_tags)),
	('a user with every nullable column NULL', EXISTS (SELECT 1 FROM auth_users WHERE friendly_name IS NULL
		AND source IS NULL AND email IS NULL AND encrypted_password IS NULL AND external_id IS NULL)),
	('a user with / and non-ASCII letters in its name', EXISTS (SELECT 1 FROM auth_users
		WHERE display_name LIKE '%/%' AND display_name ~ '[^\x01-\x7f]')),
	('a credential without a user', EXISTS (SELECT 1 FROM auth_credentials WHERE user_id IS NULL)),
	('a credential without an issue date', EXISTS (SELECT 1 FROM auth_credentials WHERE issued_date IS NULL)),
	('a commit without metadata and parents', EXISTS (SELECT 1 FROM graveler_commits
		WHERE metadata IS NULL AND parents IS NULL)),
	('a commit without a generation', EXISTS (SELECT 1 FROM graveler_commits WHERE generation IS NULL)),
	('a branch without a staging token', EXISTS (SELECT 1 FROM graveler_branches WHERE staging_token IS NULL)),
	('a branch without a commit', EXISTS (SELECT 1 FROM graveler_branches WHERE commit_id IS NULL)),
	('a staged delete', EXISTS (SELECT 1 FROM graveler_staging_kv WHERE identity IS NULL AND data IS NULL)),
	('a staging token no branch refers to', EXISTS (SELECT 1 FROM graveler_staging_kv s
		WHERE NOT EXISTS (SELECT 1 FROM graveler_branches b WHERE b.staging_token = s.staging_token))),
	('a run without an end time', EXISTS (SELECT 1 FROM actions_runs WHERE end_time IS NULL)),
	('a hook without an end time', EXISTS (SELECT 1 FROM actions_run_hooks WHERE end_time IS NULL)),
	('an upload without metadata, content type and address', EXISTS (SELECT 1 FROM gateway_multiparts
		WHERE metadata IS NULL AND content_type IS NULL)
		AND EXISTS (SELECT 1 FROM gateway_multiparts WHERE physical_address IS NULL))
	) AS c(what, there) WHERE NOT there")
[ -z "$missing" ] || fail "missing: $(printf '%s' "$missing" | tr '\n' ';')"
before=$(counts "$dbA")
echo "# rows of the 17 old tables: $before"
end

begin "up --kv-enabled without --schema-dir: refused (version $LAST is newer than the built-in versions), nothing changed"
run up --kv-enabled --db "$(conn "$dbA")" --kv "$T/a/kv.mdb"
want_rc 1
want_out_empty
want_error
want_err_grep "^kvmigrate: error: .*the database is at schema version $LAST, newer than this kvmigrate knows"
want_err_has "nothing was changed"
want_row "$dbA" "$LAST|f"
[ "$(counts "$dbA")" = "$before" ] || fail "the tables changed: $(counts "$dbA")"
only_files "$T/a"
end

# --- the KV migration ----------------------------------------------------------------

begin "up --schema-dir --kv-enabled --keep-export: exit 0, version $KV, the store holds exactly the export's records"
run up --schema-dir "$HIST" --kv-enabled --db "$(conn "$dbA")" --kv "$T/a/kv.mdb" \
	--keep-export "$T/a/e.kvm"
want_rc 0
want_out_empty
want_err_has "KV migration done"
want_row "$dbA" "$KV|f"
only_files "$T/a" kv.mdb e.kvm
kvcheck export "$T/a/e.kvm" "$T/a/kv.mdb"
[ "$(old_tables "$dbA")" = "$OLD_TABLES" ] || fail "the old tables changed without --drop-tables"
end

begin "the export's header: kv_migration_version $KV, source_schema_version $LAST; one record per row (three per run)"
run inspect --json "$T/a/e.kvm"
want_rc 0
# records per package, from the tables: auth, refs, staging, actions, multiparts
want=$(sql "$dbA" "SELECT concat_ws(' ',
	(SELECT count(*) FROM auth_users) + (SELECT count(*) FROM auth_groups)
	+ (SELECT count(*) FROM auth_policies) + (SELECT count(*) FROM auth_user_groups)
	+ (SELECT count(*) FROM auth_user_policies) + (SELECT count(*) FROM auth_group_policies)
	+ (SELECT count(*) FROM auth_credentials) + (SELECT count(*) FROM auth_installation_metadata)
	+ (SELECT count(*) FROM auth_expired_tokens),
	(SELECT count(*) FROM graveler_repositories) + (SELECT count(*) FROM graveler_branches)
	+ (SELECT count(*) FROM graveler_tags) + (SELECT count(*) FROM graveler_commits),
	(SELECT count(*) FROM graveler_staging_kv),
	3 * (SELECT count(*) FROM actions_runs) + (SELECT count(*) FROM actions_run_hooks),
	(SELECT count(*) FROM gateway_multiparts))")
"$PY" -c '
import json, sys
h = json.load(open(sys.argv[1]))
kv, last, want = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split()
bad = []
if h.get("kv_migration_version") != kv:
    bad.append("kv_migration_version %r, expected %d" % (h.get("kv_migration_version"), kv))
if h.get("source_schema_version") != last:
    bad.append("source_schema_version %r, expected %d" % (h.get("source_schema_version"), last))
got = dict((p["name"], p["records"]) for p in h.get("packages", []))
for name, n in zip(["auth", "refs", "staging", "actions", "multiparts"], want):
    if got.get(name) != int(n):
        bad.append("%s: %r records, the tables give %s" % (name, got.get(name), n))
if bad:
    sys.exit("; ".join(bad))
' "$T/out" "$KV" "$LAST" "$want" 2>"$T/py.err" || fail "$(cat "$T/py.err")"
end

begin "verify --schema-dir: the store equals the old tables"
run verify --kv "$T/a/kv.mdb" --db "$(conn "$dbA")" --schema-dir "$HIST"
want_rc 0
want_out_grep "^compared with the old tables: [0-9]+ records"
want_out_grep "^equal$"
end

begin "status --schema-dir: migrated, the store present at version $KV, drop-tables next"
run status --schema-dir "$HIST" --db "$(conn "$dbA")" --kv "$T/a/kv.mdb"
want_rc 0
want_out_grep "^state: +migrated"
want_out_grep "present, version $KV"
want_out_grep "^next: +kvmigrate drop-tables"
[ -z "$why" ] || fail "status said: $(grep -E '^(schema version|state|KV store|next):' "$T/out" | tr -s ' ' | tr '\n' '|')"
end

begin "a second up --schema-dir --kv-enabled: already migrated, the store untouched"
if [ -f "$T/a/kv.mdb" ]; then
	cksum <"$T/a/kv.mdb" >"$T/a.sum"
else
	fail "no store at $T/a/kv.mdb"
fi
run up --schema-dir "$HIST" --kv-enabled --db "$(conn "$dbA")" --kv "$T/a/kv.mdb"
want_rc 0
want_err_has "already migrated"
want_row "$dbA" "$KV|f"
if [ -f "$T/a.sum" ]; then
	cksum <"$T/a/kv.mdb" | cmp -s - "$T/a.sum" || fail "the store changed"
fi
end

begin "drop-tables --schema-dir: the $OLD_TABLES old tables dropped; again: nothing to do; status says so"
run drop-tables --schema-dir "$HIST" --db "$(conn "$dbA")"
want_rc 0
want_err_has "dropped the $OLD_TABLES old tables"
[ "$(old_tables "$dbA")" = 0 ] || fail "$(old_tables "$dbA") old tables left"
want_row "$dbA" "$KV|f"
run drop-tables --schema-dir "$HIST" --db "$(conn "$dbA")"
want_rc 0
want_err_has "nothing to do"
run status --schema-dir "$HIST" --db "$(conn "$dbA")" --kv "$T/a/kv.mdb"
want_out_grep "^old tables: +dropped"
end

tap_done
