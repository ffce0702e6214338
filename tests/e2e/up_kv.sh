#!/bin/sh
# End-to-end tests of `kvmigrate up --kv-enabled` and `kvmigrate
# drop-tables` against the cluster of tests/tools/pg-harness.sh, on
# databases filled by tests/tools/gen-data.py.  The store is read with
# LMDB's own mdb_dump and compared with the kept export by
# tests/tools/kv-check.py (no code shared with kvmigrate): every record
# once under its LMDB key, and the three metadata entries.  A second run
# does nothing; --drop-tables drops the old tables; a failure at each step
# (a dangling row at the export, a foreign file at the KV path, SIGKILL
# during the export, during the import and before the store's rename, a
# full disk, a lost connection, a failing version bump, a failing drop) leaves the version, the
# tables and the KV path as they were (or, after the bump, says what is
# left and how to finish), and the next plain run produces the same store
# as an uninterrupted one.
#
#   KVMIGRATE=build/kvmigrate sh tests/e2e/up_kv.sh     (from the repo root)
#
# Environment (from the harness): KVMIGRATE_TEST_DB, KVMIGRATE_TEST_PGBIN.
# Databases kvmt_upkv_PID_N, dropped at exit.
#
# Prints TAP and exits 1 if any test failed.

set -u

. "$(dirname "$0")/../tools/tap.sh"
. "$(dirname "$0")/../tools/check.sh"
. "$(dirname "$0")/../tools/e2e-db.sh"
GEN=tests/tools/gen-data.py
KVCHECK=tests/tools/kv-check.py
if [ ! -f "$GEN" ] || [ ! -f "$KVCHECK" ]; then
	echo "Bail out! $GEN or $KVCHECK not found: run from the repository root"
	exit 1
fi
dbprefix=kvmt_upkv
OLD_TABLES=17

T=$(mktemp -d "${TMPDIR:-/tmp}/kvmt.XXXXXX") || exit 1
trap 'cleanup; rm -rf "$T"' EXIT

# blocked_up DB KV: start `up --kv-enabled` on DB in the background ($kpid)
# while a session of the test holds gateway_multiparts locked ($lockpid),
# and wait until its export waits on that lock
blocked_up() {
	(
		query "$(conn "$1")" "BEGIN; LOCK TABLE gateway_multiparts IN ACCESS EXCLUSIVE MODE;
			SELECT pg_sleep(30); COMMIT" >/dev/null 2>&1
	) &
	lockpid=$!
	bgpids="$bgpids $lockpid"
	sleep 0.5
	"$KVMIGRATE" up --kv-enabled --db "$(conn "$1")" --kv "$2" >"$T/out" 2>"$T/err" &
	kpid=$!
	bgpids="$bgpids $kpid"
	tries=0
	while [ "$(query "$KVMIGRATE_TEST_DB" "SELECT count(*) FROM pg_stat_activity
		WHERE datname = '$1' AND application_name = 'kvmigrate' AND wait_event_type = 'Lock'")" = 0 ]; do
		tries=$((tries + 1))
		[ "$tries" -gt 400 ] && { fail "the export never waited on the lock"; break; }
		sleep 0.05
	done
}

# unblock DB: end the lock holder and every other session on DB
unblock() {
	kill "$lockpid" 2>/dev/null
	wait "$lockpid" 2>/dev/null
	query "$KVMIGRATE_TEST_DB" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = '$1' AND pid <> pg_backend_pid()" >/dev/null 2>&1
	bgpids=
}

up_kv() {
	udb=$1
	shift
	run up --kv-enabled --db "$(conn "$udb")" "$@"
}

# --- the whole flow ----------------------------------------------------------------

begin "a generated database at version 8"
filldb --size tiny --seed 5 --staging-rows 20000
dbA=$db
mkdir "$T/a"
end

begin "up --kv-enabled --dry-run: every table with its rows, the paths, the space; nothing written"
up_kv "$dbA" --kv "$T/a/kv.mdb" --dry-run --drop-tables
want_rc 0
want_out_empty
nstaged=$(sql "$dbA" "SELECT count(*) FROM graveler_staging_kv")
want_err_grep "^  staging +graveler_staging_kv +$nstaged rows +[0-9]+ bytes$"
want_err_grep "^  auth +auth_users +[0-9]+ rows"
want_err_grep "the export would go to $T/a/.kv.mdb.export.kvm \\(removed after the import\\)"
want_err_grep "the KV store to $T/a/kv.mdb \\(now: absent\\)"
want_err_grep "^dry run: free space [0-9]+ bytes beside the KV store, [0-9]+ beside the export: enough$"
want_err_grep "^dry run: the old tables would be dropped after the version bump; nothing was changed$"
want_row "$dbA" "8|f"
only_files "$T/a"
printf 'x' >"$T/a/kv.mdb"
up_kv "$dbA" --kv "$T/a/kv.mdb" --dry-run
want_rc 0
want_err_has "a real run would refuse it"
rm -f "$T/a/kv.mdb"
end

begin "up --kv-enabled --dry-run --json: the store's estimate is what the import reserves (2 x + 64 MiB)"
up_kv "$dbA" --kv "$T/a/kv.mdb" --dry-run --json
want_rc 0
python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))
p = p.get("plan", p)
e, k = p["export_estimate_bytes"], p["kv_estimate_bytes"]
assert e > 0, "the tables show 0 bytes"
assert k == 2 * e + (64 << 20), "store estimate %d for %d bytes of tables" % (k, e)
' "$T/out" 2>"$T/py.err" || fail "$(cat "$T/py.err")"
only_files "$T/a"
end

begin "up --kv-enabled --keep-export: exit 0, version 9, the store holds exactly the export's records"
up_kv "$dbA" --kv "$T/a/kv.mdb" --keep-export "$T/a/export.kvm"
want_rc 0
want_out_empty
want_err_has "KV migration done"
want_row "$dbA" "9|f"
only_files "$T/a" kv.mdb export.kvm
kvcheck export "$T/a/export.kvm" "$T/a/kv.mdb"
[ "$(old_tables "$dbA")" = "$OLD_TABLES" ] || fail "the old tables changed without --drop-tables"
end

begin "a second up --kv-enabled: already migrated, the store untouched"
cksum <"$T/a/kv.mdb" >"$T/a.sum"
up_kv "$dbA" --kv "$T/a/kv.mdb"
want_rc 0
want_err_has "already migrated"
cksum <"$T/a/kv.mdb" | cmp -s - "$T/a.sum" || fail "the store changed"
end

begin "status: migrated, the store present at version 9, drop-tables next"
run status --db "$(conn "$dbA")" --kv "$T/a/kv.mdb"
want_rc 0
want_out_grep "^state: +migrated"
want_out_grep "present, version 9"
want_out_grep "^next: +kvmigrate drop-tables"
end

begin "verify against the kept export and the tables: exit 0, equal"
run verify --kv "$T/a/kv.mdb" --export "$T/a/export.kvm" --db "$(conn "$dbA")"
want_rc 0
want_out_grep "^compared with the export "
want_out_grep "^compared with the old tables: [0-9]+ records"
want_out_grep "^equal$"
end

begin "verify after rows changed in the tables: exit 5, the user named as different, the staging partition as extra"
sql "$dbA" "BEGIN; CREATE TEMP TABLE saved AS SELECT * FROM graveler_staging_kv
	WHERE (staging_token, key) = (SELECT staging_token, key FROM graveler_staging_kv ORDER BY 1, 2 LIMIT 1);
	DELETE FROM graveler_staging_kv WHERE (staging_token, key) IN (SELECT staging_token, key FROM saved);
	UPDATE auth_users SET friendly_name = 'changed' WHERE display_name = (SELECT min(display_name) FROM auth_users);
	COMMIT" >/dev/null
run verify --kv "$T/a/kv.mdb" --db "$(conn "$dbA")"
want_rc 5
want_out_grep "^different: partition 'auth' key 'users/"
want_out_grep "^extra: partition 'staging/"
want_out_grep "^different$"
want_err_grep "^kvmigrate: error: the KV store '.*' differs from its source in 2 places"
end

begin "drop-tables: the 17 old tables dropped; again: nothing to do; status says so"
run drop-tables --db "$(conn "$dbA")"
want_rc 0
want_err_has "dropped the 17 old tables"
[ "$(old_tables "$dbA")" = 0 ] || fail "$(old_tables "$dbA") old tables left"
run drop-tables --db "$(conn "$dbA")"
want_rc 0
want_err_has "nothing to do"
run status --db "$(conn "$dbA")" --kv "$T/a/kv.mdb"
want_out_grep "^old tables: +dropped"
end

begin "verify with the tables gone: compared with the export only, equal"
run verify --kv "$T/a/kv.mdb" --export "$T/a/export.kvm" --db "$(conn "$dbA")"
want_rc 0
want_out_grep "^the old tables are gone"
want_out_grep "^equal$"
run verify --kv "$T/a/kv.mdb" --db "$(conn "$dbA")"
want_rc 1
want_err_has "nothing to compare the KV store with"
end

# --- failures before the bump --------------------------------------------------------

begin "a dangling membership: exit 1 at the export, version 8, tables and KV path as they were"
filldb --size tiny --seed 5 --staging-rows 20000
dbB=$db
mkdir "$T/b"
fk=$(sql "$dbB" "SELECT conname FROM pg_constraint WHERE conrelid = 'auth_user_groups'::regclass
	AND contype = 'f' AND confrelid = 'auth_users'::regclass")
sql "$dbB" "ALTER TABLE auth_user_groups DROP CONSTRAINT \"$fk\";
	INSERT INTO auth_user_groups VALUES (424242, (SELECT min(id) FROM auth_groups))" >/dev/null
up_kv "$dbB" --kv "$T/b/kv.mdb"
want_rc 1
want_err_has "auth_user_groups"
want_err_has "424242"
want_err_grep "^hint: the KV migration failed at its export step"
want_row "$dbB" "8|f"
only_files "$T/b"
end

begin "... fixed, the next plain run migrates"
sql "$dbB" "DELETE FROM auth_user_groups WHERE user_id = 424242" >/dev/null
up_kv "$dbB" --kv "$T/b/kv.mdb" --keep-export "$T/b/export.kvm"
want_rc 0
want_row "$dbB" "9|f"
kvcheck export "$T/b/export.kvm" "$T/b/kv.mdb"
end

begin "a foreign file at the KV path: exit 1, the file byte-identical, version 8"
filldb --size tiny --seed 5 --staging-rows 20000
dbC=$db
mkdir "$T/c"
printf 'not a store\n' >"$T/c/kv.mdb"
cksum <"$T/c/kv.mdb" >"$T/c.sum"
up_kv "$dbC" --kv "$T/c/kv.mdb"
want_rc 1
want_err_has "kvmigrate did not create"
cksum <"$T/c/kv.mdb" | cmp -s - "$T/c.sum" || fail "the foreign file changed"
want_row "$dbC" "8|f"
only_files "$T/c" kv.mdb
end

begin "the export killed (SIGKILL) mid-read: version 8; the next run cleans up and builds the same store"
rm -f "$T/c/kv.mdb"
# a slow read: the export waits on a lock the test holds
blocked_up "$dbC" "$T/c/kv.mdb"
kill -KILL "$kpid"
wait "$kpid" 2>/dev/null
unblock "$dbC"
want_row "$dbC" "8|f"
[ -e "$T/c/kv.mdb" ] && fail "a store appeared at the KV path"
# shellcheck disable=SC2012 # names made by the tool
left=$(ls -A "$T/c" | tr '\n' ' ')
echo "# left by the killed run: ${left:-nothing}"
up_kv "$dbC" --kv "$T/c/kv.mdb" --keep-export "$T/c/export.kvm"
want_rc 0
want_row "$dbC" "9|f"
only_files "$T/c" kv.mdb export.kvm
kvcheck export "$T/c/export.kvm" "$T/c/kv.mdb"
end

begin "... and that store equals an uninterrupted run's on the same data"
# dbB and dbC hold the same seeded rows
kvcheck same "$T/b/kv.mdb" "$T/c/kv.mdb"
end

begin "the version bump fails (a trigger refuses it): exit 1, version 8, the new store removed"
filldb --size tiny --seed 5 --staging-rows 20000
dbD=$db
mkdir "$T/d"
sql "$dbD" "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
	\$\$BEGIN IF NEW.version = 9 THEN RAISE EXCEPTION 'no bump today'; END IF; RETURN NEW; END\$\$;
	CREATE TRIGGER refuse BEFORE INSERT ON schema_migrations FOR EACH ROW EXECUTE FUNCTION refuse()" >/dev/null
up_kv "$dbD" --kv "$T/d/kv.mdb"
want_rc 1
want_err_has "no bump today"
want_row "$dbD" "8|f"
only_files "$T/d"
end

begin "a store an interrupted run left (built, not bumped): status says so, the next run rebuilds it"
sql "$dbD" "DROP TRIGGER refuse ON schema_migrations" >/dev/null
run import -i "$T/b/export.kvm" --kv "$T/d/kv.mdb"
want_rc 0
run status --db "$(conn "$dbD")" --kv "$T/d/kv.mdb"
want_rc 0
want_out_grep "interrupted before the version bump"
want_out_grep "^next: +kvmigrate up --kv-enabled$"
up_kv "$dbD" --kv "$T/d/kv.mdb" --keep-export "$T/d/export.kvm"
want_rc 0
want_err_has "replacing the store of an interrupted run"
want_row "$dbD" "9|f"
kvcheck export "$T/d/export.kvm" "$T/d/kv.mdb"
kvcheck same "$T/b/kv.mdb" "$T/d/kv.mdb"
end

begin "the order of durable steps: the store synced, renamed, its directory synced, then the bump (strace)"
filldb --size tiny --seed 5 --staging-rows 20000
dbG=$db
mkdir "$T/g"
# LeakSanitizer cannot run under ptrace: off for this one run
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
strace -f -y -s 200 -e trace=fsync,fdatasync,rename,renameat,renameat2,sendto \
	-o "$T/strace.txt" "$KVMIGRATE" up --kv-enabled --db "$(conn "$dbG")" \
	--kv "$T/g/kv.mdb" >"$T/out" 2>"$T/err"
rc=$?
want_rc 0
want_row "$dbG" "9|f"
order=$(awk -v dir="$T/g" '
	/f(data)?sync\(.*\/\.kv\.mdb\.tmp\./ && !rn { filesync = NR }
	/rename.*\.kv\.mdb\.tmp\..*kv\.mdb"/ { rn = NR }
	rn && !dirsync && index($0, "fsync(") && index($0, "<" dir ">") { dirsync = NR }
	/sendto.*VALUES \(9, false\)/ { bump = NR }
	bump && !commit && /sendto.*COMMIT/ && NR > bump { commit = NR }
	END { printf "%d %d %d %d %d", filesync, rn, dirsync, bump, commit }' "$T/strace.txt")
echo "# lines of strace: file sync, rename, directory sync, bump, commit: $order"
# shellcheck disable=SC2086 # five numbers, split on purpose
set -- $order
if [ "$1" -eq 0 ] || [ "$1" -ge "$2" ] || [ "$2" -ge "$3" ] || [ "$3" -ge "$4" ] || [ "$4" -ge "$5" ]; then
	fail "the steps are not in the order file sync < rename < directory sync < bump < commit: $order"
fi
end

begin "a full disk (a file size limit) during the export: exit 1, version 8, nothing left"
filldb --size tiny --seed 5 --staging-rows 20000
dbH=$db
mkdir "$T/h"
(ulimit -f 1024 && trap '' XFSZ && exec "$KVMIGRATE" up --kv-enabled --db "$(conn "$dbH")" \
	--kv "$T/h/kv.mdb") >"$T/out" 2>"$T/err"
rc=$?
want_rc 1
want_err_grep "^kvmigrate: error: export: .*[Ff]ile too large"
want_row "$dbH" "8|f"
only_files "$T/h"
end

begin "a file size limit the export fits in and the store does not: exit 1, the new store named, version 8, nothing left"
filldb --size tiny --seed 5 --staging-rows 20000
dbH2=$db
mkdir "$T/h2"
# 12 MiB: the export (about 9 MB) fits, the store (about 20 MB) does not;
# the map is reserved with fallocate(2), which the limit does not count
(ulimit -f 12288 && trap '' XFSZ && exec "$KVMIGRATE" up --kv-enabled --db "$(conn "$dbH2")" \
	--kv "$T/h2/kv.mdb") >"$T/out" 2>"$T/err"
rc=$?
want_rc 1
want_err_grep "^kvmigrate: error: import: cannot [a-z ]* the KV store '.*/\.kv\.mdb\.tmp\.[A-Za-z0-9]*': "
want_row "$dbH2" "8|f"
only_files "$T/h2"
end

begin "the database connection lost during the export: exit 1, version 8, nothing left; the next run migrates"
blocked_up "$dbH" "$T/h/kv.mdb"
query "$KVMIGRATE_TEST_DB" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	WHERE datname = '$dbH' AND application_name = 'kvmigrate'" >/dev/null
wait "$kpid"
rc=$?
unblock "$dbH"
want_rc 1
want_err_grep "^kvmigrate: error: export: .*terminat"
want_row "$dbH" "8|f"
only_files "$T/h"
up_kv "$dbH" --kv "$T/h/kv.mdb" --keep-export "$T/h/export.kvm"
want_rc 0
want_row "$dbH" "9|f"
kvcheck export "$T/h/export.kvm" "$T/h/kv.mdb"
kvcheck same "$T/b/kv.mdb" "$T/h/kv.mdb"
end

begin "killed (SIGKILL) while it writes the store: version 8, no store; the next run removes what was left and builds the same store"
filldb --size tiny --seed 5 --staging-rows 20000
dbI=$db
mkdir "$T/i"
# strace kills it at the fdatasync of the store: the export file is synced
# with fsync, and only LMDB's sync of the store calls fdatasync, so this
# lands inside the import, every record loaded, nothing synced or renamed
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
strace -f -o /dev/null -e trace=fdatasync -e inject=fdatasync:signal=KILL:when=1 \
	"$KVMIGRATE" up --kv-enabled --db "$(conn "$dbI")" --kv "$T/i/kv.mdb" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 137 ] || fail "not killed: exit $rc, $(tail -n 1 "$T/err")"
want_err_has "building the KV store"
want_row "$dbI" "8|f"
[ -e "$T/i/kv.mdb" ] && fail "a store appeared at the KV path"
# shellcheck disable=SC2012 # names made by the tool
left=$(ls -A "$T/i" | tr '\n' ' ')
echo "# left by the killed run: $left"
case $left in *.kv.mdb.tmp.*) ;; *) fail "no half-built store left: the kill missed the import" ;; esac
# the export it left, corrupted: the next run must not read it
[ -f "$T/i/.kv.mdb.export.kvm" ] || fail "no export left"
printf '\377' | dd of="$T/i/.kv.mdb.export.kvm" bs=1 seek=4000 conv=notrunc 2>/dev/null
up_kv "$dbI" --kv "$T/i/kv.mdb" --keep-export "$T/i/export.kvm"
want_rc 0
want_err_grep "^removed 2 files an interrupted run left beside $T/i/kv.mdb$"
want_row "$dbI" "9|f"
only_files "$T/i" kv.mdb export.kvm
kvcheck export "$T/i/export.kvm" "$T/i/kv.mdb"
kvcheck same "$T/b/kv.mdb" "$T/i/kv.mdb"
end

begin "killed just before the store is renamed into place, over an interrupted run's store: that store byte-identical; the next run replaces it"
filldb --size tiny --seed 5 --staging-rows 20000
dbJ=$db
mkdir "$T/j"
run import -i "$T/a/export.kvm" --kv "$T/j/kv.mdb"
want_rc 0
cksum <"$T/j/kv.mdb" >"$T/j.sum"
# the first rename puts the export in place, the second the store
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
strace -f -o /dev/null -e trace=rename -e inject=rename:signal=KILL:when=2 \
	"$KVMIGRATE" up --kv-enabled --db "$(conn "$dbJ")" --kv "$T/j/kv.mdb" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 137 ] || fail "not killed: exit $rc, $(tail -n 1 "$T/err")"
want_row "$dbJ" "8|f"
cksum <"$T/j/kv.mdb" | cmp -s - "$T/j.sum" || fail "the previous store changed"
# shellcheck disable=SC2012 # names made by the tool
left=$(ls -A "$T/j" | tr '\n' ' ')
echo "# left by the killed run: $left"
case $left in *.kv.mdb.tmp.*) ;; *) fail "no built store left: the kill missed the rename" ;; esac
run status --db "$(conn "$dbJ")" --kv "$T/j/kv.mdb"
want_out_grep "interrupted before the version bump"
up_kv "$dbJ" --kv "$T/j/kv.mdb" --keep-export "$T/j/export.kvm"
want_rc 0
want_err_has "replacing the store of an interrupted run"
want_row "$dbJ" "9|f"
only_files "$T/j" kv.mdb export.kvm
kvcheck same "$T/b/kv.mdb" "$T/j/kv.mdb"
end

# --- after the bump: the drop ---------------------------------------------------------

begin "--drop-tables with a view on an old table: exit 4, the store live, the tables listed, drop-tables named"
filldb --size tiny --seed 5 --staging-rows 20000
dbE=$db
mkdir "$T/e"
sql "$dbE" "CREATE VIEW users_v AS SELECT display_name FROM auth_users" >/dev/null
up_kv "$dbE" --kv "$T/e/kv.mdb" --drop-tables
want_rc 4
want_err_has "the KV store is live and complete"
want_err_has "auth_users"
want_err_has "kvmigrate drop-tables"
want_row "$dbE" "9|f"
[ "$(old_tables "$dbE")" = "$OLD_TABLES" ] || fail "some tables were dropped"
[ -s "$T/e/kv.mdb" ] || fail "no store"
end

begin "... a later up --drop-tables notices and says so again; after the view is gone, drop-tables finishes"
up_kv "$dbE" --kv "$T/e/kv.mdb" --drop-tables
want_rc 4
want_err_has "kvmigrate drop-tables"
sql "$dbE" "DROP VIEW users_v" >/dev/null
run drop-tables --db "$(conn "$dbE")"
want_rc 0
[ "$(old_tables "$dbE")" = 0 ] || fail "$(old_tables "$dbE") old tables left"
end

begin "drop-tables before the KV migration: refused, nothing dropped"
filldb --size tiny --seed 5 --staging-rows 20000
dbF=$db
run drop-tables --db "$(conn "$dbF")"
want_rc 1
want_err_has "nothing was dropped"
[ "$(old_tables "$dbF")" = "$OLD_TABLES" ] || fail "tables were dropped"
end

begin "up --kv-enabled --drop-tables in one go: version 9, tables gone, store complete"
mkdir "$T/f"
up_kv "$dbF" --kv "$T/f/kv.mdb" --drop-tables --keep-export "$T/f/export.kvm"
want_rc 0
want_err_has "dropped the 17 old tables"
want_row "$dbF" "9|f"
[ "$(old_tables "$dbF")" = 0 ] || fail "$(old_tables "$dbF") old tables left"
kvcheck export "$T/f/export.kvm" "$T/f/kv.mdb"
end

tap_done
