#!/bin/sh
# End-to-end tests of `kvmigrate export` against the cluster of
# tests/tools/pg-harness.sh: a database filled by tests/tools/gen-data.py
# (--size small --seed 11) is exported, and tests/tools/export-check.py,
# which shares no code with the C implementation, finds every row of every
# old table in the file exactly once, with the partition, key and value of
# old-schema.md, in order, with the counts of the stderr summary. Two
# exports, and --jobs 1 and --jobs 4, give the same records and section
# digests; --package picks sections in registry order; a writer committing
# during a long export changes nothing in it (one snapshot, shared by the
# workers); the database is not changed; the file is 0600. A staging key
# too long for LMDB is exported (the export knows no KV target), and the
# import into LMDB refuses it. Failures (no such directory, no schema, a
# missing table, a dangling membership, SIGINT, a terminated session, a
# full disk) exit 1 with one error line naming the cause and leave no
# file, temporary or not.
#
#   KVMIGRATE=build/kvmigrate sh tests/e2e/export.sh     (from the repo root)
#
# Environment (from the harness): KVMIGRATE_TEST_DB, KVMIGRATE_TEST_PGBIN
# (psql, pg_dump). Databases kvmt_exp_PID_N, dropped at exit.
#
# Prints TAP ("ok N - ...", "not ok N - ..." with "# " diagnostics) and
# exits 1 if any test failed.

set -u

. "$(dirname "$0")/../tools/tap.sh"
. "$(dirname "$0")/../tools/check.sh"
. "$(dirname "$0")/../tools/e2e-db.sh"
GEN=tests/tools/gen-data.py
CHECK=tests/tools/export-check.py
if [ ! -f "$GEN" ] || [ ! -f "$CHECK" ]; then
	echo "Bail out! $GEN or $CHECK not found: run from the repository root"
	exit 1
fi
dbprefix=kvmt_exp
PACKAGES="auth refs staging actions multiparts"
# Rows of graveler_staging_kv for the export that a writer runs against:
# enough for the export to read for about a second with one job.
LONG_STAGING_ROWS=200000

T=$(mktemp -d "${TMPDIR:-/tmp}/kvmt.XXXXXX") || exit 1
trap 'cleanup; rm -rf "$T"' EXIT

# --- helpers ------------------------------------------------------------------

# export DB FILE ARG...: kvmigrate export -o FILE --db (DB) ARG...
export_db() {
	edb=$1
	efile=$2
	shift 2
	run export -o "$efile" --db "$(conn "$edb")" "$@"
}

# xcheck ARG...: export-check.py ARG...; its output is the failure
xcheck() {
	if ! "$PY" "$CHECK" "$@" >"$T/xcheck" 2>&1; then
		fail "export-check.py $1: $(head -n 3 "$T/xcheck" | tr '\n' ' ')"
	fi
}

# want_export_ok FILE [PACKAGE...]: exit 0, nothing on stdout, one summary
# line per package (default: all, in registry order), FILE of mode 0600
# and no temporary file beside it
want_export_ok() {
	wfile=$1
	shift
	# shellcheck disable=SC2086  # the list of names, split on purpose
	[ $# -gt 0 ] || set -- $PACKAGES
	want_rc 0
	want_out_empty
	got=$(sed -n 's/^  \([^ ]*\)  *[0-9][0-9]* records  *[0-9][0-9]* bytes  *[0-9.][0-9.]* s$/\1/p' "$T/err" | tr '\n' ' ')
	[ "$got" = "$* " ] || fail "summary lines for '$got', expected '$* '"
	if [ ! -f "$wfile" ]; then
		fail "no file $wfile"
		return
	fi
	mode=$(stat -c %a "$wfile")
	[ "$mode" = 600 ] || fail "$wfile has mode $mode, expected 600"
	want_no_temp "$(dirname "$wfile")"
}

# want_no_temp DIR: no temporary export file (.NAME.tmp.XXXXXX) in DIR
want_no_temp() {
	tmps=$(find "$1" -maxdepth 1 -name '.*.tmp.*' | head -n 3 | tr '\n' ' ')
	[ -z "$tmps" ] || fail "temporary files left: $tmps"
}

# want_export_error: exit 1, nothing on stdout, exactly one line
# "kvmigrate: error: ...", the first besides the plain progress lines of
# the packages done before (a "hint: " line may follow)
want_export_error() {
	want_rc 1
	want_out_empty
	got=$(grep -c '^kvmigrate: error: ' "$T/err")
	[ "$got" = 1 ] || fail "$got 'kvmigrate: error: ' lines on stderr, expected 1"
	grep -v '^progress: ' "$T/err" | sed -n 1p | grep -q '^kvmigrate: error: ' ||
		fail "stderr line 1 (progress lines aside) is not 'kvmigrate: error: ...'"
}

# want_error_has TEXT: the error line holds TEXT (a fixed string)
want_error_has() {
	grep '^kvmigrate: error: ' "$T/err" | grep -Fq -e "$1" ||
		fail "the error line lacks '$1'"
}

# want_empty_dir DIR: DIR exists and holds nothing (no file, no temporary)
want_empty_dir() {
	if [ ! -d "$1" ]; then
		fail "directory $1 is gone"
		return
	fi
	left=$(find "$1" -mindepth 1 -maxdepth 1 | head -n 3 | tr '\n' ' ')
	[ -z "$left" ] || fail "left in $1: $left"
}

# pkgcounts DB: "package|records" for every package, the number of records
# the KV layout gives for the rows of DB
pkgcounts() {
	sql "$1" "
SELECT 'auth', (SELECT count(*) FROM auth_users) + (SELECT count(*) FROM auth_groups)
  + (SELECT count(*) FROM auth_policies) + (SELECT count(*) FROM auth_user_groups)
  + (SELECT count(*) FROM auth_user_policies) + (SELECT count(*) FROM auth_group_policies)
  + (SELECT count(*) FROM auth_credentials) + (SELECT count(*) FROM auth_expired_tokens)
  + (SELECT count(*) FROM auth_installation_metadata)
UNION ALL SELECT 'refs', (SELECT count(*) FROM graveler_repositories)
  + (SELECT count(*) FROM graveler_branches) + (SELECT count(*) FROM graveler_tags)
  + (SELECT count(*) FROM graveler_commits)
UNION ALL SELECT 'staging', (SELECT count(*) FROM graveler_staging_kv)
UNION ALL SELECT 'actions', 3 * (SELECT count(*) FROM actions_runs)
  + (SELECT count(*) FROM actions_run_hooks)
UNION ALL SELECT 'multiparts', (SELECT count(*) FROM gateway_multiparts)"
}

# filecounts FILE: "package|records" for every section of FILE
filecounts() {
	"$PY" "$CHECK" counts "$1" 2>&1 | sed 's/^\([^ ]*\) \([^ ]*\) .*/\1|\2/'
}

# pg_dump 15.14 and later frame a plain dump with \restrict KEY and
# \unrestrict KEY, KEY random: not part of the database.
# dump DB OUT: the data of DB (rows and sequences), into OUT
dump() {
	pg_dump --data-only -d "$(conn "$1")" 2>"$2.err" |
		sed -e '/^\\restrict /d' -e '/^\\unrestrict /d' >"$2"
	[ -s "$2" ] || fail "pg_dump of $1 failed: $(head -n 2 "$2.err" | tr '\n' ' ')"
}

# export_running DB: the number of kvmigrate sessions on DB inside a
# transaction that has run a COPY (so that its snapshot exists)
export_running() {
	query "$KVMIGRATE_TEST_DB" "SELECT count(*) FROM pg_stat_activity
		WHERE datname = '$1' AND application_name = 'kvmigrate'
		AND state IN ('active', 'idle in transaction') AND query ILIKE 'copy%'" 2>/dev/null
}

# wait_copy DB PID: wait until the export PID on DB runs a COPY (its
# snapshot exists and it is reading)
wait_copy() {
	tries=0
	while :; do
		got=$(export_running "$1")
		case $got in
		'' | 0) ;;
		*) break ;;
		esac
		tries=$((tries + 1))
		if ! kill -0 "$2" 2>/dev/null || [ "$tries" -gt 3000 ]; then
			fail "never saw the export run a COPY (after $tries looks)"
			break
		fi
	done
}

# writer DB TAG LOG STOP: until the file STOP exists, every 20 ms one
# transaction that adds a user, removes the previous one, adds two staging
# rows under a new token (last in byte order), deletes the last staged row
# of the other tokens, and adds a multipart upload (names made with TAG);
# then appends "N R" to LOG, R the number of kvmigrate sessions still
# reading graveler_staging_kv after that commit
writer() {
	wconn=$(conn "$1")
	w=writer-$2
	i=0
	while [ ! -e "$4" ]; do
		i=$((i + 1))
		r=$(query "$wconn" "BEGIN;
INSERT INTO auth_users (created_at, display_name) VALUES (now(), '$w-$i');
DELETE FROM auth_users WHERE display_name = '$w-$((i - 1))';
INSERT INTO graveler_staging_kv VALUES
  ('zzzz-$w', convert_to('w/$i/a', 'UTF8'), NULL, NULL),
  ('zzzz-$w', convert_to('w/$i/b', 'UTF8'), NULL, NULL);
DELETE FROM graveler_staging_kv WHERE (staging_token, key) = (SELECT staging_token, key
  FROM graveler_staging_kv WHERE staging_token NOT LIKE 'zzzz-writer-%'
  ORDER BY staging_token DESC, key DESC LIMIT 1);
INSERT INTO gateway_multiparts (upload_id, path) VALUES ('$w-$i', 'w/$i');
COMMIT;
SELECT count(*) FROM pg_stat_activity WHERE datname = '$1' AND application_name = 'kvmigrate'
  AND state = 'active' AND query ILIKE 'copy%graveler_staging_kv%'" 2>&1) ||
			r="failed: $(printf '%s' "$r" | head -n 1)"
		echo "$i $r" >>"$3"
		sleep 0.02
	done
}

# concurrent DB FILE JOBS: export DB into FILE with --jobs JOBS while the
# writer changes DB once the export has taken its snapshot; the file must
# hold the counts of DB before the writer started, and the writer must
# have committed while the export was still reading
concurrent() {
	cdb=$1
	cfile=$2
	cjobs=$3
	pkgcounts "$cdb" >"$T/c.before"
	rm -f "$T/w.log" "$T/w.stop"
	: >"$T/w.log"
	"$KVMIGRATE" export -o "$cfile" --jobs "$cjobs" --db "$(conn "$cdb")" \
		>"$T/out" 2>"$T/err" &
	xpid=$!
	bgpids="$bgpids $xpid"
	wait_copy "$cdb" "$xpid"
	writer "$cdb" "$cjobs" "$T/w.log" "$T/w.stop" &
	wpid=$!
	bgpids="$bgpids $wpid"
	wait "$xpid"
	rc=$?
	reading=$(awk '$2 ~ /^[1-9]/' "$T/w.log" | wc -l)
	touch "$T/w.stop"
	wait "$wpid"
	bgpids=
	echo "# writer: $(wc -l <"$T/w.log") commits, $reading while the export read graveler_staging_kv"
	failed_w=$(grep -v '^[0-9]* [0-9]*$' "$T/w.log" | head -n 2 | tr '\n' ' ')
	[ -z "$failed_w" ] || fail "writer: $failed_w"
	[ "$reading" -ge 1 ] ||
		fail "no writer commit while the export read graveler_staging_kv ($(wc -l <"$T/w.log") commits in all): make the data larger"
	want_export_ok "$cfile"
	filecounts "$cfile" >"$T/c.file"
	if ! cmp -s "$T/c.before" "$T/c.file"; then
		fail "the file's counts $(tr '\n' ' ' <"$T/c.file")differ from the snapshot's $(tr '\n' ' ' <"$T/c.before")"
	fi
	pkgcounts "$cdb" >"$T/c.after"
	for p in auth staging multiparts; do
		if [ "$(grep "^$p|" "$T/c.before")" = "$(grep "^$p|" "$T/c.after")" ]; then
			fail "the writer did not change the count of $p"
		fi
	done
}

# --- one database, exported several ways ---------------------------------------

begin "a database at version 8 filled with --size small --seed 11"
filldb --size small --seed 11
dbM=$db
mkdir "$T/x"
dump "$dbM" "$T/before.sql"
end

begin "export: exit 0, stdout empty, a summary line per package in registry order, mode 0600, no temporary file"
export_db "$dbM" "$T/x/a.kvm"
want_export_ok "$T/x/a.kvm"
cp "$T/err" "$T/a.err"
end

begin "the file holds every row of every table once, in order, as old-schema.md lays them out, with the summary's counts"
xcheck db "$T/x/a.kvm" --db "$(conn "$dbM")" --stderr "$T/a.err"
end

begin "a second export: the same section counts, bytes and digests, and the same records"
export_db "$dbM" "$T/x/b.kvm"
want_export_ok "$T/x/b.kvm"
xcheck same "$T/x/a.kvm" "$T/x/b.kvm"
end

begin "--jobs 1 and --jobs 4: the same records and digests, the same bytes between header and trailer"
export_db "$dbM" "$T/x/j1.kvm" --jobs 1
want_export_ok "$T/x/j1.kvm"
export_db "$dbM" "$T/x/j4.kvm" --jobs 4
want_export_ok "$T/x/j4.kvm"
xcheck same "$T/x/j1.kvm" "$T/x/j4.kvm" --bytes
xcheck same "$T/x/a.kvm" "$T/x/j4.kvm" --bytes
end

begin "--package refs --package auth: sections auth then refs, equal to the database"
export_db "$dbM" "$T/x/ar.kvm" --package refs --package auth
want_export_ok "$T/x/ar.kvm" auth refs
xcheck db "$T/x/ar.kvm" --db "$(conn "$dbM")" --stderr "$T/err" --packages auth,refs
end

begin "-o - writes the export to stdout and no file"
mkdir "$T/stdout"
KVM_ABS=$(cd "$(dirname "$KVMIGRATE")" && pwd)/$(basename "$KVMIGRATE")
(cd "$T/stdout" && exec "$KVM_ABS" export -o - --db "$(conn "$dbM")") >"$T/x/stdout.kvm" 2>"$T/err"
rc=$?
want_rc 0
cp "$T/err" "$T/stdout.err"
want_empty_dir "$T/stdout"
xcheck same "$T/x/a.kvm" "$T/x/stdout.kvm"
xcheck db "$T/x/stdout.kvm" --db "$(conn "$dbM")" --stderr "$T/stdout.err"
end

begin "an unknown package: exit 1 or 2, a message naming it, no file"
mkdir "$T/unknown"
export_db "$dbM" "$T/unknown/u.kvm" --package auth --package billing
case $rc in
1 | 2) ;;
*) fail "exit status $rc, expected 1 or 2" ;;
esac
want_out_empty
want_error_has "'billing'"
want_empty_dir "$T/unknown"
end

begin "the exports changed nothing: pg_dump --data-only before and after is the same"
dump "$dbM" "$T/after.sql"
if ! cmp -s "$T/before.sql" "$T/after.sql"; then
	fail "the dumps differ: $(diff "$T/before.sql" "$T/after.sql" | sed -n '2,3p' | cut -c1-120 | tr '\n' '|')"
fi
end

# --- a writer during a long export -----------------------------------------------

begin "a database with $LONG_STAGING_ROWS staging rows, and a copy of it"
filldb --size tiny --seed 11 --staging-rows "$LONG_STAGING_ROWS"
dbW=$db
dbS=${dbW}_copy
dbs="$dbs $dbS"
query "$KVMIGRATE_TEST_DB" "CREATE DATABASE \"$dbS\" TEMPLATE \"$dbW\"" >"$T/copy.err" 2>&1 ||
	fail "cannot copy $dbW: $(head -n 2 "$T/copy.err" | tr '\n' ' ')"
end

begin "--jobs 1 while a writer commits: the file holds the snapshot taken before the writer started"
concurrent "$dbW" "$T/x/w1.kvm" 1
end

begin "... and it equals the copy of the database made before the writer started"
xcheck db "$T/x/w1.kvm" --db "$(conn "$dbS")"
end

begin "--jobs 4 while a writer commits: the workers share the snapshot taken before the writer started"
concurrent "$dbW" "$T/x/w4.kvm" 4
end

# --- failures ---------------------------------------------------------------------

begin "a directory that does not exist: exit 1, one error line, no file"
export_db "$dbM" "$T/missing/sub/x.kvm"
want_export_error
want_error_has "$T/missing/sub"
[ -e "$T/missing" ] && fail "$T/missing exists"
end

begin "a database without the schema: exit 1, the error names the version, no file"
newdb
mkdir "$T/f-fresh"
export_db "$db" "$T/f-fresh/x.kvm"
want_export_error
grep '^kvmigrate: error: ' "$T/err" | grep -Eq 'version|schema_migrations' ||
	fail "the error line names neither the version nor schema_migrations"
want_empty_dir "$T/f-fresh"
end

begin "a database at version 8 without gateway_multiparts: exit 1, the error names the table, no file"
updb
sql "$db" "DROP TABLE gateway_multiparts" >"$T/sql.out" ||
	fail "DROP TABLE: $(head -n 2 "$T/sql.out" | tr '\n' ' ')"
mkdir "$T/f-table"
export_db "$db" "$T/f-table/x.kvm"
want_export_error
want_error_has gateway_multiparts
want_empty_dir "$T/f-table"
end

begin "a membership of a user that does not exist: exit 1, the error names auth_user_groups and the id, no file"
filldb --size tiny --seed 11
fk=$(sql "$db" "SELECT conname FROM pg_constraint WHERE conrelid = 'auth_user_groups'::regclass
	AND contype = 'f' AND confrelid = 'auth_users'::regclass")
case $fk in
'' | *[!a-z0-9_]*) fail "the foreign key of auth_user_groups.user_id: '$fk'" ;;
esac
sql "$db" "ALTER TABLE auth_user_groups DROP CONSTRAINT \"$fk\";
	INSERT INTO auth_user_groups VALUES (987654, (SELECT min(id) FROM auth_groups))" >"$T/sql.out" ||
	fail "breaking auth_user_groups: $(head -n 2 "$T/sql.out" | tr '\n' ' ')"
mkdir "$T/f-dangling"
export_db "$db" "$T/f-dangling/x.kvm"
want_export_error
want_error_has auth_user_groups
want_error_has 987654
want_empty_dir "$T/f-dangling"
end

begin "a staging key of 600 bytes (an LMDB key over 511 bytes): the export writes it; import into LMDB exits 1 naming its partition and key, no store"
filldb --size tiny --seed 11
sql "$db" "INSERT INTO graveler_staging_kv VALUES
	('long-key', convert_to(repeat('k', 600), 'UTF8'), NULL, NULL)" >"$T/sql.out" ||
	fail "INSERT: $(head -n 2 "$T/sql.out" | tr '\n' ' ')"
mkdir "$T/f-key"
export_db "$db" "$T/f-key/x.kvm"
want_export_ok "$T/f-key/x.kvm"
# the record, as any msgpack reader sees it: partition staging/long-key,
# 600 bytes of 'k'
longkey=$("$PY" -c 'print("k" * 600, end="")' | od -An -v -tx1 | tr -d ' \n')
longpart=$(printf 'staging/long-key' | od -An -v -tx1 | tr -d ' \n')
"$PY" tests/tools/kvmexport.py dump "$T/f-key/x.kvm" >"$T/f-key.dump" 2>&1 ||
	fail "kvmexport.py dump: $(head -n 2 "$T/f-key.dump" | tr '\n' ' ')"
grep -q "^[0-9]* $longpart $longkey " "$T/f-key.dump" ||
	fail "no record with partition staging/long-key and the 600-byte key in the export"
run import -i "$T/f-key/x.kvm" --kv "$T/f-key/kv.mdb"
want_rc 1
want_err_grep "^kvmigrate: error: .*record [0-9]+ \\(partition 'staging/long-key' key 'k{80}\\.\\.\\.'\\): an LMDB key of 618 bytes; LMDB's maximum key size is 511"
[ ! -e "$T/f-key/kv.mdb" ] || fail "a store was left at the KV path"
left=$(find "$T/f-key" -mindepth 1 ! -name x.kvm | head -n 3 | tr '\n' ' ')
[ -z "$left" ] || fail "left beside the export: $left"
end

begin "a database built by up --schema-dir DIR (last version 38): export without it exits 1 naming 38 and 8; export --schema-dir DIR exits 0, kv_migration_version 39"
sdir=$T/schema38
mkdir "$sdir"
cp pkg-migrators/schema/*.up.sql "$sdir/"
v=9
while [ "$v" -le 38 ]; do
	printf 'CREATE TABLE later_%s (x int);\n' "$v" >"$sdir/$(printf '%06d' "$v")_later.up.sql"
	v=$((v + 1))
done
# gen-data.py fills a database at version 8; DIR's later versions follow
filldb --size tiny --seed 11
run up --db "$(conn "$db")" --schema-dir "$sdir"
want_rc 0
want_row "$db" "38|f"
mkdir "$T/f-sdir"
export_db "$db" "$T/f-sdir/x.kvm"
want_export_error
want_error_has "is at schema version 38; the export reads the old tables at version 8, the last of the built-in schema"
want_empty_dir "$T/f-sdir"
export_db "$db" "$T/f-sdir/x.kvm" --schema-dir "$sdir"
want_export_ok "$T/f-sdir/x.kvm"
grep -q "^exported .* at schema version 38 " "$T/err" ||
	fail "the summary does not say schema version 38: $(grep '^exported' "$T/err")"
"$KVMIGRATE" inspect --json "$T/f-sdir/x.kvm" >"$T/inspect.json" 2>"$T/inspect.err" ||
	fail "inspect: $(head -n 1 "$T/inspect.err")"
got=$("$PY" -c 'import json, sys; h = json.load(open(sys.argv[1])); print(h["kv_migration_version"], h["source_schema_version"])' "$T/inspect.json")
[ "$got" = "39 38" ] || fail "kv_migration_version and source_schema_version '$got', expected '39 38'"
end

begin "SIGINT while the export reads: exit 1, the hint says so, no file and no temporary file"
mkdir "$T/f-int"
"$KVMIGRATE" export -o "$T/f-int/x.kvm" --jobs 2 --db "$(conn "$dbW")" >"$T/out" 2>"$T/err" &
xpid=$!
bgpids="$bgpids $xpid"
wait_copy "$dbW" "$xpid"
kill -INT "$xpid"
wait "$xpid"
rc=$?
bgpids=
want_export_error
grep -q '^hint: stopped by a signal' "$T/err" || fail "no hint about the signal: $(tr '\n' ' ' <"$T/err")"
want_empty_dir "$T/f-int"
end

begin "the server ends the export's session mid-read (a lost connection): exit 1, no file"
mkdir "$T/f-lost"
"$KVMIGRATE" export -o "$T/f-lost/x.kvm" --jobs 1 --db "$(conn "$dbW")" >"$T/out" 2>"$T/err" &
xpid=$!
bgpids="$bgpids $xpid"
wait_copy "$dbW" "$xpid"
query "$KVMIGRATE_TEST_DB" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	WHERE datname = '$dbW' AND application_name = 'kvmigrate'" >"$T/term.out" 2>&1
wait "$xpid"
rc=$?
bgpids=
want_export_error
grep -q '^kvmigrate: error: .*terminat' "$T/err" || fail "the error does not say the session was terminated: $(head -n 1 "$T/err")"
want_empty_dir "$T/f-lost"
end

begin "the disk fills up (a file size limit): exit 1, the error names the write, no file"
mkdir "$T/f-full"
(ulimit -f 2048 && trap '' XFSZ && exec "$KVMIGRATE" export -o "$T/f-full/x.kvm" \
	--db "$(conn "$dbW")") >"$T/out" 2>"$T/err"
rc=$?
want_export_error
grep -q '^kvmigrate: error: .*[Ff]ile too large' "$T/err" || fail "the error does not name the write failure: $(head -n 1 "$T/err")"
want_empty_dir "$T/f-full"
end

tap_done
