#!/bin/sh
# pg_harness.sh - end-to-end test of tests/tools/pg-harness.sh.
#
#   sh tests/e2e/pg_harness.sh
#
# Starts nested throwaway clusters with the harness and checks what the rest
# of the tests rely on: the command reaches the server, its exit status comes
# back, and nothing is left behind (temporary directory, server processes)
# whether the command fails or the harness is stopped by a signal.
# Prints TAP lines ("ok N - ..." / "not ok N - ...") and exits 1 on any
# failure. Works both on its own and inside an outer harness run.
set -eu

cd "$(dirname "$0")/../.."
harness=tests/tools/pg-harness.sh

# The nested runs must find nothing of an outer cluster in their environment.
unset KVMIGRATE_TEST_DB KVMIGRATE_TEST_DB_TCP KVMIGRATE_TEST_PGBIN \
	KVMIGRATE_TEST_PGDATA KVMIGRATE_TEST_PGLOG KVMIGRATE_TEST_PG_OS_USER

work=$(mktemp -d "${TMPDIR:-/tmp}/kvmt.XXXXXX")
harness_pid=
cleanup() {
	if [ -n "$harness_pid" ]; then
		kill -TERM "$harness_pid" 2>/dev/null || true
		wait "$harness_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

. "$(dirname "$0")/../tools/tap.sh"

# Show a file's lines as TAP comments, to explain a failure.
diag() {
	[ -f "$1" ] || return 0
	sed 's/^/#   /' "$1"
}

# Whether a process exists and is not a zombie.
alive() {
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case $st in
	'' | Z*) return 1 ;;
	esac
	return 0
}

# Checks that a cluster whose data directory was $1 and postmaster $2 left
# nothing behind: prints what remains, returns 1 if anything does. (Plain sh
# has no local variables, hence the lb_ prefix.)
left_behind() {
	lb_data=$1
	lb_pm=$2
	lb_rc=0
	case $lb_data in
	*/data) ;;
	*) echo "no data directory was recorded ('$lb_data')"; return 1 ;;
	esac
	if [ -e "${lb_data%/data}" ]; then
		echo "temporary directory ${lb_data%/data} still exists"
		lb_rc=1
	fi
	ps -eo pid=,args= >"$work/ps"
	if grep -F -- "$lb_data" "$work/ps"; then
		echo "processes still running for $lb_data"
		lb_rc=1
	fi
	if [ -n "$lb_pm" ] && alive "$lb_pm"; then
		echo "postmaster $lb_pm still running"
		lb_rc=1
	fi
	return $lb_rc
}

# Record the cluster's data directory and postmaster pid from inside CMD.
# shellcheck disable=SC2016 # expanded by the inner shell
record='echo "$KVMIGRATE_TEST_PGDATA" >"$1"; sed -n 1p "$KVMIGRATE_TEST_PGDATA/postmaster.pid" >"$2"'

# --- 1. the command reaches the server through the socket and over TCP --------

rc=0
sh "$harness" run -- sh -c '
	"$KVMIGRATE_TEST_PGBIN/psql" -X -A -t -v ON_ERROR_STOP=1 "$KVMIGRATE_TEST_DB" -c "select 1" &&
	"$KVMIGRATE_TEST_PGBIN/psql" -X -A -t -v ON_ERROR_STOP=1 "$KVMIGRATE_TEST_DB_TCP" -c "select 2"
' >"$work/1.out" 2>"$work/1.err" || rc=$?
if [ "$rc" -eq 0 ] && [ "$(cat "$work/1.out")" = "1
2" ]; then
	ok "psql reaches the cluster through the socket and over TCP"
else
	not_ok "psql reaches the cluster through the socket and over TCP" "exit status $rc"
	diag "$work/1.out"
	diag "$work/1.err"
fi

if grep -q '^pg-harness: PostgreSQL [0-9][0-9.]* on port [0-9][0-9]*, socket dir /' "$work/1.err"; then
	ok "the harness announces version, port and socket directory"
else
	not_ok "the harness announces version, port and socket directory"
	diag "$work/1.err"
fi

# --- 2. the command's exit status comes back ----------------------------------

rc=0
sh "$harness" run -- sh -c 'exit 7' >"$work/2.out" 2>&1 || rc=$?
if [ "$rc" -eq 7 ]; then
	ok "the command's exit status 7 is the harness's"
else
	not_ok "the command's exit status 7 is the harness's" "exit status $rc"
	diag "$work/2.out"
fi

# --- 3. nothing is left after a failing command -------------------------------

rc=0
sh "$harness" run -- sh -c "$record; exit 3" sh "$work/3.data" "$work/3.pid" \
	>"$work/3.out" 2>&1 || rc=$?
if [ "$rc" -eq 3 ] && left_behind "$(cat "$work/3.data" 2>/dev/null)" \
	"$(cat "$work/3.pid" 2>/dev/null)" >"$work/3.left"; then
	ok "after a failing command the cluster is stopped and its directory removed"
else
	not_ok "after a failing command the cluster is stopped and its directory removed" \
		"exit status $rc"
	diag "$work/3.left"
	diag "$work/3.out"
fi

# --- 4. nothing is left after SIGTERM to the harness --------------------------

sh "$harness" run -- sh -c "$record; echo \$\$ >\"\$3\"; sleep 60" sh \
	"$work/4.data" "$work/4.pid" "$work/4.cmd" >"$work/4.out" 2>&1 &
harness_pid=$!
i=0
while [ ! -s "$work/4.cmd" ] && [ $i -lt 600 ] && alive "$harness_pid"; do
	sleep 0.1
	i=$((i + 1))
done
kill -TERM "$harness_pid" 2>/dev/null || true
rc=0
wait "$harness_pid" || rc=$?
harness_pid=
cmd_pid=$(cat "$work/4.cmd" 2>/dev/null || true)
if [ -s "$work/4.cmd" ] && [ "$rc" -ne 0 ] &&
	left_behind "$(cat "$work/4.data" 2>/dev/null)" \
		"$(cat "$work/4.pid" 2>/dev/null)" >"$work/4.left"; then
	ok "after SIGTERM the harness exits non-zero ($rc), stops the cluster, removes its directory"
else
	not_ok "after SIGTERM the harness exits non-zero, stops the cluster, removes its directory" \
		"exit status $rc"
	diag "$work/4.left"
	diag "$work/4.out"
fi
# The command itself is told to stop too.
i=0
while [ -n "$cmd_pid" ] && alive "$cmd_pid" && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
if [ -n "$cmd_pid" ] && ! alive "$cmd_pid"; then
	ok "after SIGTERM the harness's command is stopped as well"
else
	not_ok "after SIGTERM the harness's command is stopped as well" "pid '$cmd_pid'"
	[ -z "$cmd_pid" ] || kill -TERM "$cmd_pid" 2>/dev/null || true
fi

# --- 5. the server does not run as root ---------------------------------------

rc=0
sh "$harness" run -- sh -c '
	pm=$(sed -n 1p "$KVMIGRATE_TEST_PGDATA/postmaster.pid")
	ps -o user= -p "$pm"
	ps -o user= --ppid "$pm"
	echo "os-user $KVMIGRATE_TEST_PG_OS_USER"
' >"$work/5.out" 2>"$work/5.err" || rc=$?
users=$(grep -v '^os-user ' "$work/5.out" | sort -u | tr -d ' ')
me=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
	want="not root"
	good=$([ -n "$users" ] && ! printf '%s\n' "$users" | grep -qx root && echo yes || echo no)
else
	want="$me, the caller"
	good=$([ "$users" = "$me" ] && echo yes || echo no)
fi
if [ "$rc" -eq 0 ] && [ "$good" = yes ] &&
	grep -qx "os-user $(printf '%s\n' "$users" | head -n 1)" "$work/5.out"; then
	ok "the postgres processes run as $users ($want)"
else
	not_ok "the postgres processes run as $want" "exit status $rc, users: $users"
	diag "$work/5.out"
	diag "$work/5.err"
fi

# --- 6. the caller's libpq environment does not leak in ----------------------

rc=0
PGHOST=/nonexistent PGPORT=1 PGUSER=nobody-here PGDATABASE=none PGPASSWORD=x \
	PGSERVICE=none sh "$harness" run -- sh -c '
	env | grep -E "^PG(HOST|PORT|USER|DATABASE|PASSWORD|SERVICE)=" && exit 1
	"$KVMIGRATE_TEST_PGBIN/psql" -X -A -t "$KVMIGRATE_TEST_DB" -c "select current_user"
' >"$work/6.out" 2>"$work/6.err" || rc=$?
if [ "$rc" -eq 0 ] && [ "$(cat "$work/6.out")" = kvmigrate ]; then
	ok "PGHOST, PGPORT, PGUSER and friends of the caller are not passed on"
else
	not_ok "PGHOST, PGPORT, PGUSER and friends of the caller are not passed on" "exit status $rc"
	diag "$work/6.out"
	diag "$work/6.err"
fi

# --- 7. --keep leaves the cluster running and says how to remove it ------------

rc=0
sh "$harness" run --keep -- sh -c "$record" sh "$work/7.data" "$work/7.pid" \
	>"$work/7.out" 2>"$work/7.err" || rc=$?
data7=$(cat "$work/7.data" 2>/dev/null || true)
pm7=$(cat "$work/7.pid" 2>/dev/null || true)
stop_cmd=$(sed -n 's/^  \(.*pg_ctl stop .*\)$/\1/p' "$work/7.err")
if [ "$rc" -eq 0 ] && [ -n "$pm7" ] && alive "$pm7" && [ -n "$stop_cmd" ]; then
	# The printed command must stop and remove it.
	sh -c "$stop_cmd" >"$work/7.stop" 2>&1 || true
	if left_behind "$data7" "$pm7" >"$work/7.left"; then
		ok "--keep leaves the cluster running, and the printed command removes it"
	else
		not_ok "--keep: the printed command does not remove the cluster" "$stop_cmd"
		diag "$work/7.left"
		diag "$work/7.stop"
	fi
else
	not_ok "--keep leaves the cluster running and prints how to remove it" "exit status $rc"
	diag "$work/7.err"
fi
# Whatever happened above, do not leave a kept cluster behind.
if [ -n "$pm7" ] && alive "$pm7"; then
	kill -s KILL -- "-$pm7" 2>/dev/null || kill -KILL "$pm7" 2>/dev/null || true
fi
case $data7 in */data) rm -rf "${data7%/data}" ;; esac

tap_done
