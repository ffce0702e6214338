#!/bin/sh
# End-to-end tests of kvmigrate runs at the same time, against the cluster
# of tests/tools/pg-harness.sh.  A run is paused at a named place with the
# failure points of $KVMIGRATE_FP (KVMIGRATE_FAILPOINT=NAME=stop: the
# process stops itself with SIGSTOP there and goes on at SIGCONT):
#
#   - `up` paused inside its import: `status` and `inspect` answer at once
#     and change nothing; a second `up` fails at once on the migration
#     lock (exit 3); an `import` into the same directory fails at once on
#     the KV directory's lock (exit 3) and removes nothing of the paused
#     run; an `export` of the same database works, from its own snapshot;
#     then the paused run goes on and finishes with the store it would have
#     built alone.
#   - `import` paused inside its load: `up --kv-enabled` fails at once on
#     the KV directory's lock, before any SQL version or file changes.
#   - two `up` started together: one migrates, the other fails on the lock
#     or finds the work done; the result is the same store.
#
#   KVMIGRATE=build/kvmigrate KVMIGRATE_FP=build/kvmigrate-fp \
#       sh tests/e2e/concurrency.sh                   (from the repo root)
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
if [ -z "${KVMIGRATE_FP:-}" ] || [ ! -x "$KVMIGRATE_FP" ]; then
	echo "Bail out! set KVMIGRATE_FP to kvmigrate-fp (built by make tests)"
	exit 1
fi
dbprefix=kvmt_conc

T=$(mktemp -d "${TMPDIR:-/tmp}/kvmt.XXXXXX") || exit 1
trap 'for p in $bgpids; do kill -CONT "$p" 2>/dev/null; done; cleanup; rm -rf "$T"' EXIT

# paused POINT OUT ARG...: start kvmigrate-fp ARG... in the background,
# stopping itself at the failure point POINT; its pid in $ppid, its
# output in $T/OUT.out and $T/OUT.err.  Waits until it has stopped.
paused() {
	point=$1
	outn=$2
	shift 2
	KVMIGRATE_FAILPOINT="$point=stop" "$KVMIGRATE_FP" "$@" \
		>"$T/$outn.out" 2>"$T/$outn.err" &
	ppid=$!
	bgpids="$bgpids $ppid"
	tries=0
	until [ "$(cut -d' ' -f3 "/proc/$ppid/stat" 2>/dev/null)" = T ]; do
		tries=$((tries + 1))
		if [ "$tries" -gt 600 ] || ! kill -0 "$ppid" 2>/dev/null; then
			fail "kvmigrate-fp $* never stopped at $point: $(head -n 3 "$T/$outn.err" | tr '\n' ' ')"
			return 1
		fi
		sleep 0.05
	done
}

# resume: let the paused run go on and wait for it; its status in $prc
resume() {
	kill -CONT "$ppid"
	wait "$ppid"
	prc=$?
	bgpids=
}

# state DB DIR: the schema version, the old tables' rows and the files
# of DIR with their sizes, in one line
state() {
	printf '%s|%s|%s' "$(sql "$1" "SELECT version || ' ' || dirty FROM schema_migrations")" \
		"$(sql "$1" "SELECT count(*) FROM graveler_staging_kv")" \
		"$(ls -lA --time-style=+ "$2" | awk 'NR > 1 { print $5, $NF }' | tr '\n' ' ')"
}

begin "a generated database at version 8, and an uninterrupted run of a copy"
filldb --size tiny --seed 7 --staging-rows 20000
dbA=$db
newdb
dbRef=$db
sql "$KVMIGRATE_TEST_DB" "DROP DATABASE \"$dbRef\"" >/dev/null
sql "$KVMIGRATE_TEST_DB" "CREATE DATABASE \"$dbRef\" TEMPLATE \"$dbA\"" >/dev/null
mkdir "$T/ref" "$T/a" "$T/b"
run up --kv-enabled --db "$(conn "$dbRef")" --kv "$T/ref/kv" -q
want_rc 0
end

begin "up paused inside its import: status answers at once and changes nothing"
paused import.records a up --kv-enabled --db "$(conn "$dbA")" --kv "$T/a/kv" \
	--keep-export "$T/a/export.kvm" --no-progress
before=$(state "$dbA" "$T/a")
runc timeout 20 "$KVMIGRATE" status --kv-enabled --db "$(conn "$dbA")" --kv "$T/a/kv"
want_rc 0
want_out_grep "^schema version: +8$"
want_out_grep "^migration lock: +key [0-9]+, held by pid [0-9]+"
[ "$(state "$dbA" "$T/a")" = "$before" ] || fail "status changed something: $before -> $(state "$dbA" "$T/a")"
end

begin "... inspect of its kept export answers and changes nothing"
runc timeout 20 "$KVMIGRATE" inspect "$T/a/export.kvm" --verify
want_rc 0
[ "$(state "$dbA" "$T/a")" = "$before" ] || fail "inspect changed something"
end

begin "... a second up fails at once on the migration lock (exit 3), changing nothing"
runc timeout 20 "$KVMIGRATE" up --kv-enabled --db "$(conn "$dbA")" --kv "$T/a/kv" --lock-wait 0
want_rc 3
want_error
want_err_grep "migration lock"
[ "$(state "$dbA" "$T/a")" = "$before" ] || fail "the second up changed something"
end

begin "... an import into the same directory fails at once (exit 3) and removes nothing"
runc timeout 20 "$KVMIGRATE" import -i "$T/a/export.kvm" --kv "$T/a/other" --force
want_rc 3
want_error
want_err_has "another kvmigrate run (an up or an import) is writing a KV store in '$T/a'"
[ "$(state "$dbA" "$T/a")" = "$before" ] || fail "the import changed something"
end

begin "... an export of the same database works, from its own snapshot"
runc timeout 60 "$KVMIGRATE" export --db "$(conn "$dbA")" -o "$T/b/during.kvm" -q
want_rc 0
run inspect "$T/b/during.kvm" --verify --json
want_rc 0
[ "$(state "$dbA" "$T/a")" = "$before" ] || fail "the export changed something"
end

begin "... then the paused up goes on and builds the store it would have built alone"
resume
[ "$prc" = 0 ] || fail "the paused up exited $prc: $(head -n 3 "$T/a.err" | tr '\n' ' ')"
want_row "$dbA" "9|f"
kvcheck same "$T/ref/kv" "$T/a/kv"
kvcheck export "$T/a/export.kvm" "$T/a/kv"
run import -i "$T/b/during.kvm" --kv "$T/b/during" -q
want_rc 0
kvcheck same "$T/ref/kv" "$T/b/during"
end

begin "import paused inside its load: up --kv-enabled fails at once (exit 3), nothing changed"
filldb --size tiny --seed 7 --staging-rows 20000
dbB=$db
paused import.records b import -i "$T/a/export.kvm" --kv "$T/b/kv" --no-progress
before=$(state "$dbB" "$T/b")
runc timeout 20 "$KVMIGRATE" up --kv-enabled --db "$(conn "$dbB")" --kv "$T/b/kv"
want_rc 3
want_error
want_err_has "is writing a KV store in '$T/b'"
want_row "$dbB" "8|f"
[ "$(state "$dbB" "$T/b")" = "$before" ] || fail "the refused up changed something"
resume
[ "$prc" = 0 ] || fail "the paused import exited $prc: $(head -n 3 "$T/b.err" | tr '\n' ' ')"
kvcheck export "$T/a/export.kvm" "$T/b/kv"
end

begin "two up started together: one migrates, the other is refused or finds it done"
filldb --size tiny --seed 7 --staging-rows 20000
dbC=$db
mkdir "$T/c"
"$KVMIGRATE" up --kv-enabled --db "$(conn "$dbC")" --kv "$T/c/kv" --lock-wait 0 \
	>"$T/c1.out" 2>"$T/c1.err" &
p1=$!
"$KVMIGRATE" up --kv-enabled --db "$(conn "$dbC")" --kv "$T/c/kv" --lock-wait 0 \
	>"$T/c2.out" 2>"$T/c2.err" &
p2=$!
wait "$p1"
rc1=$?
wait "$p2"
rc2=$?
case "$rc1 $rc2" in
"0 0" | "0 3" | "3 0") ;;
*) fail "exit statuses $rc1 and $rc2: $(cat "$T/c1.err" "$T/c2.err" | tr '\n' ' ')" ;;
esac
want_row "$dbC" "9|f"
kvcheck same "$T/ref/kv" "$T/c/kv"
end

tap_done
