#!/bin/sh
# End-to-end tests of bad inputs given to the kvmigrate binary, against
# the cluster of tests/tools/pg-harness.sh: a database that does not
# exist or does not answer, a wrong password, a role without privileges,
# a missing old table, an extra table, a dangling membership, a NULL in a
# column a KV key is made of, a key longer than LMDB allows (exported,
# refused by the LMDB import), a 100 MB
# value, a KV path in a read-only directory or that is a directory, a full
# disk, an LMDB map too small, an export of a newer format, an export of
# another database, an export on a pipe, a reader killed with its read
# transaction open.  Each refusal is one "kvmigrate: error:" line naming
# the thing, then a hint, with the documented exit status; and nothing is
# lost: the version row, every table's rows, the KV store (byte for byte,
# a store an interrupted run left at the KV path) and the names beside it
# are as they were.  design/reliability.md ("Bad inputs") lists them.
#
#   KVMIGRATE=build/kvmigrate sh tests/e2e/bad_input.sh     (from the repo root)
#
# Environment (from the harness): KVMIGRATE_TEST_DB, KVMIGRATE_TEST_DB_TCP,
# KVMIGRATE_TEST_PGBIN.  Databases kvmt_bad_PID_N and the role
# kvmt_bad_PID_noprivs, dropped at exit.  Run as root, it mounts small
# tmpfs file systems in a mount namespace of their own (unshare -m) and
# runs kvmigrate as nobody (runuser) where a read-only directory must
# hold; otherwise those tests are skipped.
#
# Prints TAP and exits 1 if any test failed.

set -u

. "$(dirname "$0")/../tools/tap.sh"
. "$(dirname "$0")/../tools/check.sh"
. "$(dirname "$0")/../tools/e2e-db.sh"
GEN=tests/tools/gen-data.py
if [ ! -f "$GEN" ] || [ ! -f testdata/broken/future-version.kvm ]; then
	echo "Bail out! $GEN or testdata/broken not found: run from the repository root"
	exit 1
fi
dbprefix=kvmt_bad
ROLE=kvmt_bad_$$_noprivs
OLD_TABLES=17

T=$(mktemp -d "${TMPDIR:-/tmp}/kvmt.XXXXXX") || exit 1
trap 'cleanup; query "$KVMIGRATE_TEST_DB" "DROP ROLE IF EXISTS $ROLE" >/dev/null 2>&1; rm -rf "$T"' EXIT

# --- helpers ------------------------------------------------------------------

# clonedb: a new database copied from $tmpl, dropped at exit; its name in $db
clonedb() {
	ndb=$((ndb + 1))
	db=${dbprefix}_$$_$ndb
	dbs="$dbs $db"
	query "$KVMIGRATE_TEST_DB" "CREATE DATABASE \"$db\" TEMPLATE \"$tmpl\"" \
		>"$T/createdb.err" 2>&1 ||
		fail "cannot create database $db: $(head -n 2 "$T/createdb.err" | tr '\n' ' ')"
}

# prepare NAME: a copy of the template database ($db), the directory
# $T/NAME ($dir) and in it, at the KV path $kv, the store an interrupted
# run left (built from the template's export, version not bumped)
prepare() {
	clonedb
	dir=$T/$1
	kv=$dir/kv.mdb
	mkdir "$dir"
	"$KVMIGRATE" import -q -i "$T/base.kvm" --kv "$kv" 2>"$T/import.err" ||
		fail "import of the base export: $(head -n 1 "$T/import.err")"
}

# state DB KV: what must survive a refusal: the version row, the rows of
# every table of the database, the KV store's checksum, the names in its
# directory (but the lock file LMDB leaves once a reader opened the store)
state() {
	sql "$1" "SELECT version || '|' || dirty FROM schema_migrations"
	sql "$1" "SELECT string_agg(relname || '=' || (xpath('/row/n/text()',
		query_to_xml(format('SELECT count(*) AS n FROM %I', relname), false, true, '')))[1]::text,
		' ' ORDER BY relname) FROM pg_class WHERE relkind IN ('r', 'p')
		AND relnamespace = 'public'::regnamespace AND NOT relispartition"
	if [ -e "$2" ]; then cksum <"$2"; else echo "no file at the KV path"; fi
	# shellcheck disable=SC2010,SC2012 # names made by the tool and this script
	ls -A "$(dirname "$2")" | grep -v -e "^$(basename "$2")-lock\$" | tr '\n' ' '
}

# keep DB KV / want_kept DB KV: state DB KV before and after a refusal
keep() {
	state "$1" "$2" >"$T/before" 2>&1
}

want_kept() {
	state "$1" "$2" >"$T/after" 2>&1
	cmp -s "$T/before" "$T/after" ||
		fail "something changed: $(diff "$T/before" "$T/after" | sed -n '2,7p' | tr '\n' '|')"
}

# want_refused N ERE: exit status N, one error line, matching ERE, and a
# hint line after it (besides the progress and step lines before it)
want_refused() {
	want_rc "$1"
	nerr=$(grep -c '^kvmigrate: error: ' "$T/err")
	[ "$nerr" -eq 1 ] || fail "$nerr error lines, expected 1"
	want_err_grep "^kvmigrate: error: .*$2"
	sed -n '/^kvmigrate: error: /{n;p;}' "$T/err" | grep -q '^hint: ' ||
		fail "no hint line after the error line"
}

up_kv() {
	udb=$1
	shift
	run up --kv-enabled --db "$(conn "$udb")" "$@"
}

# source_of FILE: the source_database of an export's header
source_of() {
	"$KVMIGRATE" inspect --json "$1" | "$PY" -c \
		'import json, sys; print(json.load(sys.stdin)["source_database"])'
}

# --- the template: a generated database at version 8, its export ----------------

begin "setup: a generated database at version 8 (5000 staging rows), its export"
newdb
tmpl=$db
run up --db "$(conn "$tmpl")"
want_rc 0
"$PY" "$GEN" --db "$(conn "$tmpl")" --quiet --size tiny --seed 5 \
	--staging-rows 5000 2>"$T/gen.err" ||
	fail "gen-data.py: $(head -n 2 "$T/gen.err" | tr '\n' ' ')"
run export -q -o "$T/base.kvm" --db "$(conn "$tmpl")"
want_rc 0
end

# --- 1. the database: wrong name, closed port -----------------------------------

begin "1. a database that does not exist: exit 1, the database named, nothing changed"
prepare db-name
keep "$db" "$kv"
run up --kv-enabled --drop-tables --db "$(conn "${db}_nosuch")" --kv "$kv"
want_refused 1 "cannot connect to database '${db}_nosuch' .*database \"${db}_nosuch\" does not exist"
want_err_grep "^hint: nothing was changed"
run export -o "$dir/x.kvm" --db "$(conn "${db}_nosuch")"
want_refused 1 "cannot connect to database '${db}_nosuch'"
run verify --kv "$kv" --db "$(conn "${db}_nosuch")"
want_refused 1 "cannot connect to database '${db}_nosuch'"
want_kept "$db" "$kv"
end

begin "1. a server that does not answer (a closed port): exit 1, host and port named, nothing changed"
keep "$db" "$kv"
run_env "KVMIGRATE_CONNECT_RETRY=0" up --kv-enabled --drop-tables \
	--db "host=127.0.0.1 port=1 user=kvmigrate dbname=$db" --kv "$kv"
want_refused 1 "cannot connect to database '$db' on 127.0.0.1 port 1 as user 'kvmigrate': .*Connection refused"
want_err_grep "^hint: nothing was changed"
want_kept "$db" "$kv"
end

# --- 2. a wrong password --------------------------------------------------------

begin "2. a wrong password over TCP: exit 1, database and user named, the password nowhere, nothing changed"
keep "$db" "$kv"
run up --kv-enabled --drop-tables --db "$KVMIGRATE_TEST_DB_TCP password=wrong-pw-$$ dbname=$db" --kv "$kv"
want_refused 1 "cannot connect to database '$db' on 127.0.0.1 port [0-9]+ as user 'kvmigrate': .*password authentication failed for user \"kvmigrate\""
grep -q "wrong-pw-$$" "$T/out" "$T/err" && fail "the password is shown"
want_kept "$db" "$kv"
end

# --- 3. a role without privileges ----------------------------------------------------

begin "3. a role with no grant at all: exit 1, schema_migrations and the role named, nothing changed"
prepare role
query "$KVMIGRATE_TEST_DB" "CREATE ROLE $ROLE LOGIN" >/dev/null 2>&1 ||
	fail "cannot create role $ROLE"
keep "$db" "$kv"
run up --kv-enabled --db "$(conn "$db") user=$ROLE" --kv "$kv"
want_refused 1 "as user '$ROLE': .*permission denied for table schema_migrations \(SQLSTATE 42501\)"
want_kept "$db" "$kv"
end

begin "3. a role that may read schema_migrations only: up --kv-enabled and export exit 1 naming an old table, nothing changed"
sql "$db" "GRANT SELECT, INSERT, UPDATE, DELETE ON schema_migrations TO $ROLE" >/dev/null
keep "$db" "$kv"
run up --kv-enabled --db "$(conn "$db") user=$ROLE" --kv "$kv" --drop-tables
want_refused 1 "export: .*as user '$ROLE': .*permission denied for table (auth|graveler|actions|gateway)_[a-z_]+ \(SQLSTATE 42501\)"
want_err_grep "^hint: the KV migration failed at its export step"
want_kept "$db" "$kv"
run export -o "$dir/x.kvm" --db "$(conn "$db") user=$ROLE"
want_refused 1 "as user '$ROLE': .*permission denied for table (auth|graveler|actions|gateway)_[a-z_]+"
want_kept "$db" "$kv"
end

# --- 4. a missing old table ------------------------------------------------------

begin "4. an old table dropped after the SQL versions: exit 1, table and package named, nothing changed"
prepare no-table
sql "$db" "DROP TABLE graveler_tags" >/dev/null
keep "$db" "$kv"
up_kv "$db" --kv "$kv" --drop-tables
want_refused 1 "export: .*table 'graveler_tags' of package 'refs' does not exist"
want_kept "$db" "$kv"
end

# --- 5. an extra table --------------------------------------------------------------

begin "5. an extra table: left alone, not exported, not dropped by --drop-tables; the migration succeeds"
prepare extra
sql "$db" "CREATE TABLE auth_sessions (id int PRIMARY KEY, token text);
	INSERT INTO auth_sessions SELECT i, 'token ' || i FROM generate_series(1, 3) i;
	CREATE TABLE graveler_staging_kv_extra (LIKE graveler_staging_kv);
	INSERT INTO graveler_staging_kv_extra VALUES ('tok', 'k', 'i', 'd')" >/dev/null
up_kv "$db" --kv "$kv" --drop-tables --keep-export "$dir/export.kvm"
want_rc 0
want_err_has "dropped the $OLD_TABLES old tables"
want_row "$db" "9|f"
[ "$(sql "$db" "SELECT count(*) FROM auth_sessions")" = 3 ] || fail "auth_sessions lost rows"
[ "$(sql "$db" "SELECT count(*) FROM graveler_staging_kv_extra")" = 1 ] || fail "graveler_staging_kv_extra lost its row"
want_missing "$db" graveler_staging_kv t
"$KVMIGRATE" inspect --json "$T/base.kvm" | grep '"records"' >"$T/base.counts"
"$KVMIGRATE" inspect --json "$dir/export.kvm" | grep '"records"' >"$T/extra.counts"
cmp -s "$T/base.counts" "$T/extra.counts" || fail "the export's counts differ from the database's without the extra tables"
run verify --kv "$kv" --export "$dir/export.kvm" --db "$(conn "$db")"
want_rc 0
want_out_grep "^equal$"
run status --db "$(conn "$db")" --kv "$kv"
want_out_grep "^old tables: +dropped"
end

# --- 6. a dangling membership ----------------------------------------------------------

begin "6. a group policy whose policy does not exist: exit 1, table, row and id named, nothing changed"
prepare dangling
fk=$(sql "$db" "SELECT conname FROM pg_constraint WHERE conrelid = 'auth_group_policies'::regclass
	AND contype = 'f' AND confrelid = 'auth_policies'::regclass")
sql "$db" "ALTER TABLE auth_group_policies DROP CONSTRAINT \"$fk\";
	INSERT INTO auth_group_policies VALUES ((SELECT min(id) FROM auth_groups), 4242)" >/dev/null
keep "$db" "$kv"
up_kv "$db" --kv "$kv" --drop-tables
want_refused 1 "table 'auth_group_policies': row \(group_id [0-9]+, policy_id 4242\) refers to auth_policies id 4242, which does not exist"
want_kept "$db" "$kv"
end

# --- 7. a NULL where the KV layout has none -------------------------------------------

begin "7. a user without display_name (NOT NULL dropped): exit 1, table, column and id named, nothing changed"
prepare null-user
sql "$db" "ALTER TABLE auth_users ALTER display_name DROP NOT NULL;
	INSERT INTO auth_users (id, created_at, display_name) VALUES (777, now(), NULL)" >/dev/null
keep "$db" "$kv"
up_kv "$db" --kv "$kv" --drop-tables
want_refused 1 "table 'auth_users': row \(id 777\) has NULL in column 'display_name', which its KV key is made of"
want_kept "$db" "$kv"
end

# null_case DESCRIPTION SQL ERE: a copy of the template changed by SQL;
# its export exits 1 with an error line matching ERE and leaves no file
null_case() {
	begin "7. $1: export exits 1 naming it, no file"
	clonedb
	mkdir "$T/null-$ndb"
	sql "$db" "$2" >"$T/sql.out" || fail "$2: $(head -n 2 "$T/sql.out" | tr '\n' ' ')"
	run export -o "$T/null-$ndb/x.kvm" --db "$(conn "$db")"
	want_refused 1 "$3"
	only_files "$T/null-$ndb"
	end
}

null_case "a member whose display_name is NULL (not a dangling reference)" \
	"ALTER TABLE auth_groups ALTER display_name DROP NOT NULL;
	UPDATE auth_groups SET display_name = NULL WHERE id = (SELECT min(group_id) FROM auth_user_groups)" \
	"table 'auth_[a-z_]+': row \(.*\) refers to auth_groups id [0-9]+, whose display_name is NULL"
null_case "an expired token without token_id" \
	"ALTER TABLE auth_expired_tokens ALTER token_id DROP NOT NULL;
	INSERT INTO auth_expired_tokens VALUES (NULL, now())" \
	"table 'auth_expired_tokens': a row has NULL in column 'token_id'"
null_case "a staged object without key" \
	"ALTER TABLE graveler_staging_kv ALTER key DROP NOT NULL;
	INSERT INTO graveler_staging_kv VALUES ('tok-nullkey', NULL, 'i', 'd')" \
	"table 'graveler_staging_kv': row \(staging_token 'tok-nullkey'\) has NULL in column 'key'"
null_case "a staged object without staging token (it was left out before)" \
	"ALTER TABLE graveler_staging_kv ALTER staging_token DROP NOT NULL;
	INSERT INTO graveler_staging_kv VALUES (NULL, 'orphan-key', 'i', 'd')" \
	"table 'graveler_staging_kv': row \(key 'orphan-key'\) has NULL in column 'staging_token'"
null_case "an action run without branch_id (its index by branch)" \
	"ALTER TABLE actions_runs ALTER branch_id DROP NOT NULL;
	UPDATE actions_runs SET branch_id = NULL WHERE run_id = (SELECT min(run_id) FROM actions_runs)" \
	"table 'actions_runs': row \(run_id '[0-9a-f]+'\) has NULL in column 'branch_id'"

begin "7. a NULL in a column only the value holds (graveler_commits.committer): migrated as nil, verify equal"
prepare null-value
sql "$db" "ALTER TABLE graveler_commits ALTER committer DROP NOT NULL;
	UPDATE graveler_commits SET committer = NULL WHERE id = (SELECT min(id) FROM graveler_commits)" >/dev/null
up_kv "$db" --kv "$kv"
want_rc 0
want_row "$db" "9|f"
run verify --kv "$kv" --db "$(conn "$db")"
want_rc 0
want_out_grep "^equal$"
end

# --- 8. a key longer than LMDB allows ----------------------------------------------

begin "8. a staging key of 600 bytes: up --kv-enabled exits 1 at the LMDB import, the record's partition and key and LMDB's 511 named, nothing changed"
prepare long-key
sql "$db" "INSERT INTO graveler_staging_kv VALUES
	('tok-long', convert_to(repeat('k', 600), 'UTF8'), 'i', 'd')" >/dev/null
keep "$db" "$kv"
up_kv "$db" --kv "$kv" --drop-tables
want_refused 1 "record [0-9]+ \\(partition 'staging/tok-long' key 'k{80}\\.\\.\\.'\\): an LMDB key of 618 bytes; LMDB's maximum key size is 511"
want_kept "$db" "$kv"
end

begin "8. a staging key of 600 bytes: export writes it (exit 0); import into LMDB exits 1 naming it, no store made"
run export -q -o "$T/long-key.kvm" --db "$(conn "$db")"
want_rc 0
run import -i "$T/long-key.kvm" --kv "$dir/other.mdb"
want_refused 1 "record [0-9]+ \\(partition 'staging/tok-long' key 'k{80}\\.\\.\\.'\\): an LMDB key of 618 bytes; LMDB's maximum key size is 511"
want_kept "$db" "$kv"
[ ! -e "$dir/other.mdb" ] || fail "import left a store at $dir/other.mdb"
end

# --- 9. a 100 MB value -----------------------------------------------------------------

begin "9. a staged object of 100 MB (over the export's 64 MiB value cap): exit 1, table, partition, key and sizes named, nothing changed"
prepare big-value
sql "$db" "INSERT INTO graveler_staging_kv VALUES
	('tok-big', 'big/object', 'i', convert_to(repeat('x', 100000000), 'UTF8'))" >/dev/null
keep "$db" "$kv"
up_kv "$db" --kv "$kv" --drop-tables --jobs 1
want_refused 1 "table 'graveler_staging_kv': the row with partition 'staging/tok-big' key 'big/object' gives a value of 1000000[0-9]{2} bytes; an export file holds values of at most 67108864 bytes"
want_kept "$db" "$kv"
run export -o "$dir/x.kvm" --db "$(conn "$db")"
want_refused 1 "partition 'staging/tok-big' key 'big/object' gives a value of"
want_kept "$db" "$kv"
end

# --- 10. a read-only directory ------------------------------------------------------------

# As root, permissions do not stop writes: kvmigrate runs as nobody.
AS=
ro_ok=1
if [ "$(id -u)" -eq 0 ]; then
	if command -v runuser >/dev/null 2>&1 && id nobody >/dev/null 2>&1; then
		AS="runuser -u nobody --"
	else
		ro_ok=0
	fi
fi
if [ "$ro_ok" -eq 1 ]; then
	prepare read-only
	chmod 0711 "$T"
	[ -z "$AS" ] || chown -R nobody "$dir" "$T/base.kvm"
	chmod 0555 "$dir"
	# shellcheck disable=SC2086,SC2016 # $AS: a command prefix or nothing
	if $AS sh -c ': >"$1/probe"' sh "$dir" 2>/dev/null; then
		rm -f "$dir/probe"
		ro_ok=0
	fi
fi
if [ "$ro_ok" -eq 1 ]; then
	begin "10. a KV path in a read-only directory: import --force, up --kv-enabled and export exit 1 naming it, nothing changed"
	keep "$db" "$kv"
	# shellcheck disable=SC2086
	runc $AS "$KVMIGRATE" import -i "$T/base.kvm" --kv "$kv" --force
	want_refused 1 "cannot create a file beside '$kv': Permission denied"
	want_err_grep "^hint: '$kv' was not changed and no new file is left beside it$"
	# shellcheck disable=SC2086
	runc $AS "$KVMIGRATE" up --kv-enabled --db "$(conn "$db")" --kv "$kv" --drop-tables
	want_refused 1 "the KV store's directory '$dir' cannot be written: Permission denied"
	# shellcheck disable=SC2086
	runc $AS "$KVMIGRATE" export -o "$dir/x.kvm" --db "$(conn "$db")"
	want_refused 1 "'$dir/x.kvm': Permission denied"
	want_kept "$db" "$kv"
	end
	chmod 0755 "$dir"
else
	skip "10. a KV path in a read-only directory" "running as root without runuser and nobody, permissions cannot stop a write"
fi

# --- 11. a KV path that is a directory ------------------------------------------------------

begin "11. a KV path that is a directory: import, up --kv-enabled and verify exit 1 naming it, the directory as it was, no lock file left"
clonedb
dir=$T/kv-dir
kv=$dir/kv.mdb
mkdir -p "$kv"
echo keep >"$kv/inside"
keep "$db" "$kv"
run import -i "$T/base.kvm" --kv "$kv" --force
want_refused 1 "'$kv' is not a regular file; it is left as it is"
up_kv "$db" --kv "$kv" --drop-tables
want_refused 1 "the KV path '$kv' is a directory, not a KV store file; it is left as it is"
run verify --kv "$kv" --db "$(conn "$db")"
want_refused 1 "cannot open the KV store '$kv': Is a directory"
want_kept "$db" "$kv"
only_files "$dir" kv.mdb
only_files "$kv" inside
end

# --- 12. a full disk -----------------------------------------------------------------------------

# tmpfs SIZE CMD...: run CMD with a tmpfs of SIZE mounted on $T/mnt, in a
# mount namespace of its own (gone with it); its status in $rc
tmpfs() {
	tsize=$1
	shift
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare -m sh -c 'mount -t tmpfs -o "size=$1" tmpfs "$2" || exit 99; shift 2; "$@"' \
		sh "$tsize" "$T/mnt" "$@"
	rc=$?
}

mkdir "$T/mnt"
if [ "$(id -u)" -eq 0 ] && unshare -m sh -c "mount -t tmpfs -o size=64k tmpfs '$T/mnt'" 2>/dev/null; then
	prepare full
	store_kb=$(($(wc -c <"$kv") / 1024))
	cp "$kv" "$T/full.mdb"
	# inside the namespace: the store an interrupted run left, then CMD;
	# then the sum of the store and the names on the file system
	cat >"$T/full.sh" <<-'EOF'
		mnt=$1 store=$2 out=$3
		shift 3
		cp "$store" "$mnt/kv.mdb"
		"$@" >"$out.out" 2>"$out.err"
		echo $? >"$out.rc"
		cksum <"$mnt/kv.mdb" >"$out.sum"
		ls -A "$mnt" | tr '\n' ' ' >"$out.ls"
	EOF
	# full CMD...: CMD in a tmpfs holding the store and 192 KiB more
	full() {
		tmpfs "$((store_kb + 192))k" sh "$T/full.sh" "$T/mnt" "$T/full.mdb" "$T/f" "$@"
		[ "$rc" -eq 0 ] || fail "the tmpfs run failed: status $rc"
		rc=$(cat "$T/f.rc")
		cp "$T/f.out" "$T/out"
		cp "$T/f.err" "$T/err"
		cksum <"$T/full.mdb" | cmp -s - "$T/f.sum" || fail "the store on the full disk changed"
		[ "$(cat "$T/f.ls")" = "kv.mdb " ] || fail "the full disk holds '$(cat "$T/f.ls")', expected only kv.mdb"
	}

	begin "12. a full disk under the export: up --kv-enabled exits 1 naming the export's file and ENOSPC, nothing changed"
	keep "$db" "$kv"
	full "$KVMIGRATE" up --kv-enabled --db "$(conn "$db")" --kv "$T/mnt/kv.mdb" --drop-tables
	want_refused 1 "export: cannot write '$T/mnt/\.\.kv\.mdb\.export\.kvm\.tmp\.[A-Za-z0-9]+': No space left on device"
	want_kept "$db" "$kv"
	full "$KVMIGRATE" export -o "$T/mnt/x.kvm" --db "$(conn "$db")"
	want_refused 1 "cannot write '$T/mnt/\.x\.kvm\.tmp\.[A-Za-z0-9]+': No space left on device"
	end

	begin "12. a full disk under the new store: import exits 1 (map reserved: ENOSPC; pages written: a short write), the store byte-identical"
	full "$KVMIGRATE" import -i "$T/base.kvm" --kv "$T/mnt/kv.mdb" --force
	want_refused 1 "cannot reserve the LMDB map of [0-9]+ bytes in '$T/mnt/\.kv\.mdb\.tmp\.[A-Za-z0-9]+' for '$T/mnt/kv.mdb': No space left on device"
	full "$KVMIGRATE" import -i "$T/base.kvm" --kv "$T/mnt/kv.mdb" --force --map-size 33554432
	want_refused 1 "'$T/mnt/\.kv\.mdb\.tmp\.[A-Za-z0-9]+': Input/output error \(a short write; its file system has [0-9]+ bytes free\)"
	want_err_grep "^hint: '$T/mnt/kv.mdb' was not changed and no new file is left beside it$"
	end
else
	skip "12. a full disk (tmpfs)" "mounting a tmpfs needs root and unshare -m; tests/e2e/up_kv.sh fills the disk with ulimit -f"
fi

# --- 13. the LMDB map too small ----------------------------------------------------------------

begin "13. import --map-size 1 MiB over a store: exit 1, the size and --map-size named, the store byte-identical"
prepare map
keep "$db" "$kv"
run import -i "$T/base.kvm" --kv "$kv" --force --map-size 1048576
want_refused 1 "the LMDB map of 1048576 bytes is full.*--map-size"
want_err_grep "^hint: '$kv' was not changed and no new file is left beside it; run the command again with a larger --map-size$"
want_kept "$db" "$kv"
end

# --- 14. an export of a newer format ------------------------------------------------------------

begin "14. an export of format version 2: import and verify exit 1 naming the file and both versions, the store byte-identical"
keep "$db" "$kv"
run import -i testdata/broken/future-version.kvm --kv "$kv" --force
want_refused 1 "cannot read 'testdata/broken/future-version.kvm': the header at offset 0 says format version 2, which is not supported \(this kvmigrate reads format version 1\)"
run verify --kv "$kv" --export testdata/broken/future-version.kvm --db "$(conn "$db")"
want_refused 1 "format version 2, which is not supported"
want_out_empty
want_kept "$db" "$kv"
end

# --- 15. an export of another database -----------------------------------------------------------

begin "15. verify against an export of another database: exit 1 (not 5) naming both, nothing compared"
prepare other
up_kv "$db" --kv "$kv" --keep-export "$dir/own.kvm"
want_rc 0
keep "$db" "$kv"
run verify --kv "$kv" --export "$T/base.kvm" --db "$(conn "$db")"
want_refused 1 "the export '$T/base.kvm' was read from database '$tmpl(@[0-9]+)?', not from '$db(@[0-9]+)?' \(--db\)"
want_out_empty
run verify --kv "$kv" --export - --db "$(conn "$db")" <"$T/base.kvm"
want_refused 1 "the export 'standard input' was read from database '$tmpl"
run verify --kv "$kv" --export "$dir/own.kvm" --db "$(conn "$db")"
want_rc 0
want_out_grep "^equal$"
want_kept "$db" "$kv"
end

begin "15. up --keep-export over an export of another database: exit 1 naming both, that file byte-identical, nothing changed"
prepare keep-other
cp "$T/base.kvm" "$dir/kept.kvm"
keep "$db" "$kv"
cksum <"$dir/kept.kvm" >"$T/kept.sum"
up_kv "$db" --kv "$kv" --keep-export "$dir/kept.kvm"
want_refused 1 "the --keep-export file '$dir/kept.kvm' holds an export of database '$tmpl(@[0-9]+)?', not of '$db(@[0-9]+)?'; it is left as it is"
want_err_grep "^hint: nothing was changed; move that file away or choose another --keep-export path$"
cksum <"$dir/kept.kvm" | cmp -s - "$T/kept.sum" || fail "the other database's export changed"
want_kept "$db" "$kv"
end

begin "15. ... an export of the same database there (an earlier run's) is replaced; a store imported from another database's export is rebuilt"
run export -q -o "$dir/kept.kvm" --db "$(conn "$db")"
want_rc 0
up_kv "$db" --kv "$kv" --keep-export "$dir/kept.kvm"
want_rc 0
want_err_has "replacing the store of an interrupted run"
[ "$(source_of "$dir/kept.kvm")" = "$(source_of "$T/base.kvm" | sed "s/^$tmpl/$db/")" ] ||
	fail "the kept export is of '$(source_of "$dir/kept.kvm")'"
run verify --kv "$kv" --export "$dir/kept.kvm" --db "$(conn "$db")"
want_rc 0
want_out_grep "^equal$"
end

# --- 16. an export on a pipe ----------------------------------------------------------------

begin "16. export -o - | import -i -: the store built from a pipe, verify equal"
prepare pipe
rm -f "$kv"
"$KVMIGRATE" export -q -o - --db "$(conn "$db")" | "$KVMIGRATE" import -i - --kv "$kv" >"$T/out" 2>"$T/err"
rc=$?
want_rc 0
want_err_grep "^imported [0-9]+ records from standard input into $kv \(new\)"
only_files "$dir" kv.mdb
run verify --kv "$kv" --db "$(conn "$db")"
want_rc 0
want_out_grep "^equal$"
end

begin "16. a cut export on a pipe: exit 1 naming standard input, the store byte-identical, nothing beside it"
keep "$db" "$kv"
head -c 30000 "$T/base.kvm" | "$KVMIGRATE" import -i - --kv "$kv" --force >"$T/out" 2>"$T/err"
rc=$?
want_refused 1 "cannot read 'standard input': unexpected end of file"
"$KVMIGRATE" import -i - --kv "$kv" --force <testdata/broken/future-version.kvm >"$T/out" 2>"$T/err"
rc=$?
want_refused 1 "cannot read 'standard input': the header at offset 0 says format version 2"
want_kept "$db" "$kv"
end

# --- 17. a reader killed with its transaction open ----------------------------------------

# reader N: mdb_dump of the store into a FIFO nobody reads: it stops,
# its read transaction open, once the pipe is full; its pid in $rpid
reader() {
	mkfifo "$T/fifo$1"
	mdb_dump -n "$kv" >"$T/fifo$1" &
	rpid=$!
	bgpids="$bgpids $rpid"
	# holds the FIFO open for reading, reads nothing
	eval "exec $(($1 + 6))<\"\$T/fifo$1\""
}

# readers: the pids in the reader table of the store's lock file
readers() {
	mdb_stat -r -n "$kv" | awk '$1 ~ /^[0-9]+$/ { print $1 }' | sort -u | tr '\n' ' '
}

begin "17. a reader killed (SIGKILL) with its read transaction open, another alive: verify clears the stale slot and finds the store equal"
prepare stale
reader 1
pid1=$rpid
reader 2
pid2=$rpid
tries=0
while [ "$(readers)" != "$(printf '%s\n' "$pid1" "$pid2" | sort | tr '\n' ' ')" ]; do
	tries=$((tries + 1))
	[ "$tries" -gt 100 ] && { fail "the readers never held their transactions: '$(readers)'"; break; }
	sleep 0.05
done
kill -KILL "$pid1"
wait "$pid1" 2>/dev/null
case " $(readers)" in *" $pid1 "*) ;; *) fail "no stale slot of $pid1 left: '$(readers)'" ;; esac
runc timeout 60 "$KVMIGRATE" verify --kv "$kv" --export "$T/base.kvm" --db "$(conn "$tmpl")"
want_rc 0
want_out_grep "^equal$"
case " $(readers)" in *" $pid1 "*) fail "the stale slot of $pid1 is still there: '$(readers)'" ;; esac
end

begin "17. ... import --force and up --kv-enabled refuse the store the live reader holds, without waiting; once it is killed too, up replaces the store"
keep "$db" "$kv"
runc timeout 60 "$KVMIGRATE" import -i "$T/base.kvm" --kv "$kv" --force
want_refused 1 "the KV store '$kv' is open in"
runc timeout 60 "$KVMIGRATE" up --kv-enabled --db "$(conn "$db")" --kv "$kv"
want_refused 1 "import: the KV store '$kv' is open in"
want_kept "$db" "$kv"
kill -KILL "$pid2"
wait "$pid2" 2>/dev/null
exec 7<&- 8<&-
bgpids=
runc timeout 60 "$KVMIGRATE" up --kv-enabled --db "$(conn "$db")" --kv "$kv"
want_rc 0
want_err_has "replacing the store of an interrupted run"
want_row "$db" "9|f"
[ -z "$(readers)" ] || fail "reader slots left: '$(readers)'"
runc timeout 60 "$KVMIGRATE" verify --kv "$kv" --db "$(conn "$db")"
want_rc 0
want_out_grep "^equal$"
end

begin "18. the store's directory sync fails after its rename (failure point import.renamed): import and up exit 1 and say the new store is in place, never that nothing changed"
if [ -z "${KVMIGRATE_FP:-}" ] || [ ! -x "$KVMIGRATE_FP" ]; then
	fail "KVMIGRATE_FP (kvmigrate-fp) is not set"
else
	dir=$T/renamed
	kv=$dir/kv.mdb
	mkdir "$dir"
	runc env KVMIGRATE_FAILPOINT=import.renamed=error "$KVMIGRATE_FP" \
		import -i "$T/base.kvm" --kv "$kv"
	want_refused 1 "import.renamed"
	[ -s "$kv" ] || fail "no store at the KV path after the rename"
	want_err_grep "^hint: the new store is at '$kv', but it may not survive a crash"
	grep -q "was not changed" "$T/err" && fail "the hint says '$kv' was not changed"
	clonedb
	rm -f "$kv"
	runc env KVMIGRATE_FAILPOINT=import.renamed=error "$KVMIGRATE_FP" \
		up --kv-enabled --db "$(conn "$db")" --kv "$kv"
	want_refused 1 "import.renamed"
	want_row "$db" "8|f"
	[ -s "$kv" ] || fail "no store at the KV path after the rename"
	want_err_grep "^hint: the KV store was built, but making it durable failed"
	grep -q "and so is the KV path" "$T/err" && fail "the hint says the KV path is as it was"
	runc "$KVMIGRATE" up --kv-enabled --db "$(conn "$db")" --kv "$kv"
	want_rc 0
	want_err_has "replacing the store of an interrupted run"
	want_row "$db" "9|f"
fi
end

tap_done
