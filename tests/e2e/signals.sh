#!/bin/sh
# End-to-end tests of kvmigrate stopped by SIGTERM or SIGINT while it waits
# on the server, against the cluster of tests/tools/pg-harness.sh:
#
#   - `up --kv-enabled` waiting for the migration lock another session
#     holds (--lock-wait 30);
#   - `up --kv-enabled` whose export waits for a table another session
#     holds in ACCESS EXCLUSIVE mode: a worker's COPY, and with --jobs 1
#     the leader's;
#   - `up --kv-enabled` inside a SQL version's long statement
#     (--schema-dir);
#   - `up --kv-enabled` retrying a connection to a server that is not
#     there;
#   - `drop-tables` waiting for a table another session reads (SIGINT);
#   - `up` started with SIGHUP ignored (nohup): a SIGHUP leaves it waiting;
#   - a second signal: the run dies of it at once (status 128 + N).
#
# Each run must exit within DEADLINE_MS of the signal with status 1, an
# error line saying it was canceled and a hint, and change nothing: the
# version row, the tables and the KV directory (empty) as they were, the
# other session unaffected.  Where a statement was waiting, the server
# must have canceled it ("canceling statement due to user request" in the
# server log for that backend) and no kvmigrate session may be left.  The
# time from the signal to the exit is printed as a TAP comment.
#
#   KVMIGRATE=build/kvmigrate sh tests/e2e/signals.sh   (from the repo root)
#
# Environment (from the harness): KVMIGRATE_TEST_DB, KVMIGRATE_TEST_PGBIN,
# KVMIGRATE_TEST_PGLOG.  Databases kvmt_sig_PID_N, dropped at exit.
#
# Prints TAP and exits 1 if any test failed.

set -u

. "$(dirname "$0")/../tools/tap.sh"
. "$(dirname "$0")/../tools/check.sh"
. "$(dirname "$0")/../tools/e2e-db.sh"
dbprefix=kvmt_sig
OLD_TABLES=17
# The most a canceled run may take from the signal to its exit.
DEADLINE_MS=3000
# A run that does not stop is killed (SIGKILL) this long after the signal.
CAP_MS=35000

T=$(mktemp -d "${TMPDIR:-/tmp}/kvmt.XXXXXX") || exit 1
trap 'cleanup; rm -rf "$T"' EXIT

now_ms() {
	date +%s%3N
}

# pstate PID: the state letter of process PID ("" once it is reaped)
pstate() {
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1
}

# start NAME CMD...: run CMD in the background, its pid in $kpid, its
# output in $T/NAME.out and $T/NAME.err.  SIGINT is put back to its
# default first: a background job of sh starts with it ignored, while the
# tests mean a run in a terminal's foreground.
start() {
	sname=$1
	shift
	env --default-signal=INT "$@" >"$T/$sname.out" 2>"$T/$sname.err" &
	kpid=$!
	bgpids="$bgpids $kpid"
}

# hold DB SQL: run SQL on DB in a background psql (the other session),
# its pid in $hpid
hold() {
	query "$(conn "$1")" "$2" >/dev/null 2>"$T/hold.err" &
	hpid=$!
	bgpids="$bgpids $hpid"
}

# hold_lock DB: another session takes DB's migration lock (its key from
# status --json) and keeps it; that session's backend pid in $got
hold_lock() {
	key=$("$KVMIGRATE" status --json --db "$(conn "$1")" |
		"$PY" -c 'import json, sys; print(json.load(sys.stdin)["lock"]["key"])')
	hold "$1" "SELECT pg_advisory_lock($key); SELECT pg_sleep(60)"
	wait_for "$(conn "$1")" "SELECT pid FROM pg_locks WHERE locktype = 'advisory'
		AND granted AND objid::bigint = ($key::bigint & 4294967295)" "the holder taking the lock"
}

# wait_for CONNINFO QUERY WHAT: until QUERY prints something other than
# "" or "0" (its output in $got); a failure naming WHAT after 20 s
wait_for() {
	tries=0
	while :; do
		got=$(query "$1" "$2" 2>/dev/null)
		case $got in
		'' | 0) ;;
		*) return 0 ;;
		esac
		tries=$((tries + 1))
		if [ "$tries" -gt 400 ]; then
			fail "$3 never happened"
			return 1
		fi
		sleep 0.05
	done
}

# waiting_backend DB: wait until a kvmigrate session on DB waits for a
# lock; its pid in $bpid
waiting_backend() {
	wait_for "$KVMIGRATE_TEST_DB" "SELECT pid FROM pg_stat_activity
		WHERE datname = '$1' AND application_name = 'kvmigrate'
		AND wait_event_type = 'Lock' LIMIT 1" "a kvmigrate session waiting for a lock on $1" &&
		bpid=$got
}

# want_copy PID: backend PID runs one of the export's COPYs
want_copy() {
	got=$(query "$KVMIGRATE_TEST_DB" "SELECT query FROM pg_stat_activity WHERE pid = $1")
	case $got in
	COPY*) ;;
	*) fail "the waiting kvmigrate session runs '$got', not a COPY" ;;
	esac
}

# stop_it SIG WHAT [THEN]: send SIG (then THEN) to $kpid and wait for its
# exit, at most CAP_MS (then SIGKILL); its status in $rc, the milliseconds
# from the signal to the exit in $took, printed as a comment; a failure
# past DEADLINE_MS.  Its stderr becomes $T/err (for end).
stop_it() {
	t0=$(now_ms)
	kill -"$1" "$kpid"
	[ $# -lt 3 ] || kill -"$3" "$kpid"
	while [ -n "$(pstate "$kpid")" ] && [ "$(pstate "$kpid")" != Z ]; do
		if [ $(($(now_ms) - t0)) -gt "$CAP_MS" ]; then
			kill -KILL "$kpid"
			break
		fi
		sleep 0.02
	done
	wait "$kpid"
	rc=$?
	took=$(($(now_ms) - t0))
	cp "$T/$sname.err" "$T/err"
	echo "# $2: exit status $rc, $took ms after SIG$1"
	grep '^kvmigrate: error: ' "$T/err" | cut -c 1-300 | sed 's/^/#   /'
	[ "$took" -le "$DEADLINE_MS" ] ||
		fail "exited $took ms after SIG$1, not within $DEADLINE_MS ms"
}

# want_canceled: exit status 1, an error line saying the run was canceled
# by the signal, then a hint line
want_canceled() {
	want_rc 1
	want_out_empty
	grep -v -e '^progress: ' -e '^kvmigrate: waiting up to ' -e '^kvmigrate: cannot connect yet ' \
		-e '^KV migration: ' -e '^applied version ' "$T/err" >"$T/err.rest"
	[ "$(wc -l <"$T/err.rest")" -eq 2 ] ||
		fail "stderr has $(wc -l <"$T/err.rest") lines besides the waiting and progress lines, expected 2"
	sed -n 1p "$T/err.rest" | grep -q "^kvmigrate: error: canceled by $1: " ||
		fail "the error line does not start 'kvmigrate: error: canceled by $1: '"
	sed -n 2p "$T/err.rest" | grep -q '^hint: ' || fail "no hint line after the error line"
}

# no_session DB: within 2 s no kvmigrate session is left on DB
no_session() {
	tries=0
	while [ "$(query "$KVMIGRATE_TEST_DB" "SELECT count(*) FROM pg_stat_activity
		WHERE datname = '$1' AND application_name = 'kvmigrate'")" != 0 ]; do
		tries=$((tries + 1))
		if [ "$tries" -gt 40 ]; then
			fail "a kvmigrate session is still on $1 2 s after the exit"
			return 1
		fi
		sleep 0.05
	done
}

# canceled_on_server PID: the server log says backend PID's statement was
# canceled at the client's request (not merely dropped with its session)
canceled_on_server() {
	if [ ! -r "${KVMIGRATE_TEST_PGLOG:-}" ]; then
		echo "# the server log is not readable: not checked that the server canceled the statement"
		return 0
	fi
	tries=0
	until grep -q "\\[$1\\] ERROR:  canceling statement due to user request" "$KVMIGRATE_TEST_PGLOG"; do
		tries=$((tries + 1))
		if [ "$tries" -gt 40 ]; then
			fail "the server log has no 'canceling statement due to user request' for backend $1"
			return 1
		fi
		sleep 0.05
	done
}

# release: end the other session
release() {
	kill "$hpid" 2>/dev/null
	wait "$hpid" 2>/dev/null
	bgpids=
}

# --- the migration lock ---------------------------------------------------------

begin "SIGTERM while up waits for the migration lock: exit 1 within 3 s, canceled, nothing changed, the holder unaffected"
updb
dbA=$db
mkdir "$T/a"
hold_lock "$dbA"
holder=$got
start a "$KVMIGRATE" up --kv-enabled --db "$(conn "$dbA")" --kv "$T/a/kv.mdb" --lock-wait 30
waiting_backend "$dbA"
stop_it TERM "up waiting for the migration lock"
want_canceled SIGTERM
want_err_has "migration lock"
want_row "$dbA" "8|f"
only_files "$T/a"
[ "$(old_tables "$dbA")" = "$OLD_TABLES" ] || fail "the old tables changed"
no_session "$dbA"
canceled_on_server "$bpid"
got=$(sql "$dbA" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $holder")
[ "$got" = 1 ] || fail "the holder (backend $holder) no longer holds the lock: $got"
[ "$(pstate "$hpid")" = S ] || fail "the holder's psql is not waiting in its pg_sleep: state '$(pstate "$hpid")'"
release
end

begin "a SIGHUP ignored at the start (nohup) stays ignored; SIGTERM still cancels"
updb
dbH=$db
mkdir "$T/h"
hold_lock "$dbH"
start h env --ignore-signal=HUP "$KVMIGRATE" up --kv-enabled --db "$(conn "$dbH")" \
	--kv "$T/h/kv.mdb" --lock-wait 30
waiting_backend "$dbH"
kill -HUP "$kpid"
sleep 1
case $(pstate "$kpid") in
S | R) ;;
*) fail "SIGHUP ended the run: state '$(pstate "$kpid")', $(tr '\n' ' ' <"$T/h.err")" ;;
esac
stop_it TERM "up under nohup, then SIGTERM"
want_canceled SIGTERM
want_row "$dbH" "8|f"
only_files "$T/h"
release
end

begin "a second signal ends the run at once, by that signal, before its way out"
updb
dbI=$db
mkdir "$T/i"
hold_lock "$dbI"
start i "$KVMIGRATE" up --kv-enabled --db "$(conn "$dbI")" --kv "$T/i/kv.mdb" --lock-wait 30
waiting_backend "$dbI"
# Both pending while it is stopped: the handler takes one (Linux delivers
# SIGINT, the lower number, first), the other finds the flag set.
kill -STOP "$kpid"
kill -INT "$kpid"
stop_it TERM "up given SIGINT and SIGTERM at once" CONT
case $rc in
130 | 143) ;;
*) fail "exit status $rc, expected 143 or 130 (killed by the second signal)" ;;
esac
grep -q '^kvmigrate: error: ' "$T/err" && fail "an error line was written: $(grep '^kvmigrate: error: ' "$T/err")"
want_row "$dbI" "8|f"
only_files "$T/i"
no_session "$dbI"
release
end

# --- a table lock -----------------------------------------------------------------

begin "SIGTERM while up's export waits for a locked table: exit 1 within 3 s, nothing changed, the statement canceled"
updb
dbB=$db
mkdir "$T/b"
hold "$dbB" "BEGIN; LOCK TABLE auth_users IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT"
wait_for "$(conn "$dbB")" "SELECT count(*) FROM pg_locks WHERE granted AND mode = 'AccessExclusiveLock'
	AND relation = 'auth_users'::regclass" "the other session locking auth_users"
start b "$KVMIGRATE" up --kv-enabled --db "$(conn "$dbB")" --kv "$T/b/kv.mdb"
waiting_backend "$dbB"
want_copy "$bpid"
stop_it TERM "up whose export waits for auth_users"
want_canceled SIGTERM
want_err_has "export"
want_row "$dbB" "8|f"
only_files "$T/b"
no_session "$dbB"
canceled_on_server "$bpid"
[ "$(old_tables "$dbB")" = "$OLD_TABLES" ] || fail "the old tables changed"
release
end

begin "... and with --jobs 1, where the export's leader runs that COPY itself"
updb
dbC=$db
mkdir "$T/c"
hold "$dbC" "BEGIN; LOCK TABLE auth_users IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT"
wait_for "$(conn "$dbC")" "SELECT count(*) FROM pg_locks WHERE granted AND mode = 'AccessExclusiveLock'
	AND relation = 'auth_users'::regclass" "the other session locking auth_users"
start c "$KVMIGRATE" up --kv-enabled --jobs 1 --db "$(conn "$dbC")" --kv "$T/c/kv.mdb"
waiting_backend "$dbC"
want_copy "$bpid"
stop_it TERM "up --jobs 1 whose export waits for auth_users"
want_canceled SIGTERM
want_err_has "reading table 'auth_"
want_row "$dbC" "8|f"
only_files "$T/c"
no_session "$dbC"
canceled_on_server "$bpid"
release
end

# --- a SQL version ----------------------------------------------------------------

begin "SIGTERM inside a SQL version's long statement: exit 1 within 3 s, that version left no trace"
mkdir "$T/sd"
printf 'CREATE TABLE t1 (x int);\n' >"$T/sd/000001_a.up.sql"
printf 'CREATE TABLE t2 (x int);\nSELECT pg_sleep(60);\n' >"$T/sd/000002_b.up.sql"
newdb
dbD=$db
mkdir "$T/d"
start d "$KVMIGRATE" up --kv-enabled --kv "$T/d/kv.mdb" --db "$(conn "$dbD")" --schema-dir "$T/sd"
wait_for "$KVMIGRATE_TEST_DB" "SELECT pid FROM pg_stat_activity WHERE datname = '$dbD'
	AND application_name = 'kvmigrate' AND query LIKE 'SELECT pg_sleep%'" "the version's pg_sleep"
bpid=$got
stop_it TERM "up inside version 2"
want_canceled SIGTERM
want_err_has "000002_b.up.sql"
want_row "$dbD" "1|f"
want_missing "$dbD" t1 f
want_missing "$dbD" t2 t
only_files "$T/d"
no_session "$dbD"
canceled_on_server "$bpid"
end

# --- connecting -----------------------------------------------------------------

begin "SIGTERM while up retries a connection: exit 1 within 3 s"
mkdir "$T/nosock"
mkdir "$T/e"
start e env KVMIGRATE_CONNECT_RETRY=60 "$KVMIGRATE" up --kv-enabled --kv "$T/e/kv.mdb" \
	--db "host=$T/nosock dbname=nosuch"
tries=0
until grep -q 'cannot connect yet' "$T/e.err" 2>/dev/null; do
	tries=$((tries + 1))
	if [ "$tries" -gt 400 ]; then
		fail "up never said it retries"
		break
	fi
	sleep 0.05
done
sleep 0.3
stop_it TERM "up retrying a connection"
want_canceled SIGTERM
want_err_has "cannot connect yet"
only_files "$T/e"
end

# --- drop-tables ------------------------------------------------------------------

begin "SIGINT while drop-tables waits for a table another session reads: exit 1 within 3 s, the tables still there"
updb
dbF=$db
mkdir "$T/f"
run up --kv-enabled --db "$(conn "$dbF")" --kv "$T/f/kv.mdb" -q
want_rc 0
hold "$dbF" "BEGIN; SELECT count(*) FROM auth_users; SELECT pg_sleep(60); COMMIT"
wait_for "$(conn "$dbF")" "SELECT count(*) FROM pg_locks WHERE granted AND mode = 'AccessShareLock'
	AND relation = 'auth_users'::regclass" "the other session reading auth_users"
start f "$KVMIGRATE" drop-tables --db "$(conn "$dbF")" --lock-wait 30
waiting_backend "$dbF"
stop_it INT "drop-tables waiting for auth_users"
want_canceled SIGINT
want_err_has "nothing was dropped"
want_row "$dbF" "9|f"
[ "$(old_tables "$dbF")" = "$OLD_TABLES" ] || fail "$(old_tables "$dbF") old tables left, expected $OLD_TABLES"
no_session "$dbF"
canceled_on_server "$bpid"
release
end

tap_done
