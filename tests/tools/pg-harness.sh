#!/bin/sh
# pg-harness.sh - run a command against a throwaway PostgreSQL cluster.
#
#   sh tests/tools/pg-harness.sh run [--keep] -- CMD [ARGS...]
#
# Creates a private cluster in a fresh temporary directory, starts it on a
# free loopback port and a private unix socket directory, runs CMD with the
# connection details in the environment, then stops the server and removes
# the directory, whatever happened (CMD failed, or the harness was sent
# INT/TERM/HUP). With --keep the cluster is left running and the commands to
# stop and remove it are printed.
#
# Environment given to CMD (see design/testing.md):
#   KVMIGRATE_TEST_DB        unix socket conninfo, trust authentication
#   KVMIGRATE_TEST_DB_TCP    127.0.0.1 conninfo, password authentication
#   KVMIGRATE_TEST_PGBIN     the server's bin directory (psql, pg_ctl, ...)
#   KVMIGRATE_TEST_PGDATA    the data directory
#   KVMIGRATE_TEST_PGLOG     the server log
#   KVMIGRATE_TEST_PG_OS_USER  the OS user the server runs as
#
# Inputs: PG_BINDIR (server binaries), KVMIGRATE_PG_OS_USER (the user to run
# the server as when started by root; default nobody), TMPDIR.
# Exit status: CMD's; 1 if the cluster cannot be started; 2 on usage errors;
# 128+N after signal N.
# shellcheck disable=SC2317 # cleanup and on_signal run from traps
set -eu

PG_SUPERUSER=kvmigrate
PG_PASSWORD=kvmigrate-test-password
START_ATTEMPTS=5

die() {
	echo "pg-harness: $*" >&2
	exit 1
}

usage() {
	echo "usage: sh tests/tools/pg-harness.sh run [--keep] -- CMD [ARGS...]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
[ "$1" = run ] || usage
shift
keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--keep) keep=1; shift ;;
	--) shift; break ;;
	*) usage ;;
	esac
done
[ $# -ge 1 ] || usage

# Connection settings inherited from the caller would make libpq (and so CMD)
# talk to some other server; the harness decides them all.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGSERVICE PGSERVICEFILE \
	PGPASSWORD PGPASSFILE PGOPTIONS PGSSLMODE PGREQUIRESSL PGGSSENCMODE \
	PGCONNECT_TIMEOUT PGTARGETSESSIONATTRS PGAPPNAME PGDATA PGCLIENTENCODING

# --- server binaries ----------------------------------------------------------

find_bindir() {
	if [ -n "${PG_BINDIR:-}" ]; then
		[ -x "$PG_BINDIR/initdb" ] || die "PG_BINDIR='$PG_BINDIR' has no initdb"
		printf '%s\n' "$PG_BINDIR"
		return
	fi
	# Debian installs each major version side by side; take the newest.
	newest=
	for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V); do
		[ -x "$d/initdb" ] && newest=$d
	done
	if [ -n "$newest" ]; then
		printf '%s\n' "$newest"
		return
	fi
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir 2>/dev/null || true)
		if [ -n "$d" ] && [ -x "$d/initdb" ]; then
			printf '%s\n' "$d"
			return
		fi
	fi
	if d=$(command -v initdb 2>/dev/null); then
		dirname "$d"
		return
	fi
	die "no PostgreSQL server binaries found (looked in \$PG_BINDIR," \
		"/usr/lib/postgresql/*/bin, pg_config --bindir, PATH):" \
		"run 'sh tests/tools/deps.sh' or set PG_BINDIR"
}
bindir=$(find_bindir)
for prog in initdb pg_ctl postgres; do
	[ -x "$bindir/$prog" ] || die "$bindir/$prog is missing"
done
pg_version=$("$bindir/postgres" --version | sed -n 's/.*(PostgreSQL) \([0-9][0-9.a-z]*\).*/\1/p')

# --- who runs the server --------------------------------------------------------

# PostgreSQL refuses to run as root, so a root caller hands the server to an
# unprivileged user; anyone else runs it as themselves.
if [ "$(id -u)" -eq 0 ]; then
	pg_user=${KVMIGRATE_PG_OS_USER:-nobody}
	id -u "$pg_user" >/dev/null 2>&1 ||
		die "running as root, but the user '$pg_user' to run PostgreSQL as does not exist (set KVMIGRATE_PG_OS_USER)"
	[ "$(id -u "$pg_user")" -ne 0 ] || die "KVMIGRATE_PG_OS_USER must not be root"
	if command -v runuser >/dev/null 2>&1; then
		as_pg="runuser -u $pg_user --"
	elif command -v setpriv >/dev/null 2>&1; then
		as_pg="setpriv --reuid=$(id -u "$pg_user") --regid=$(id -g "$pg_user") --clear-groups --"
	else
		die "running as root and neither runuser nor setpriv is available (Debian package util-linux)"
	fi
else
	pg_user=$(id -un)
	as_pg=
fi

# Run a server program as the server's user, from a directory it can read
# (initdb and pg_ctl complain when the current directory is not accessible).
run_pg() {
	# shellcheck disable=SC2086
	(cd "$tmp" && $as_pg "$@")
}

# --- private directory ----------------------------------------------------------

tmp=
child=
cleaned=0
data=
log=

# Whether a process exists and is not a zombie: where nothing reaps orphans
# quickly (a container without an init), a dead postmaster stays a zombie.
alive() {
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case $st in
	'' | Z*) return 1 ;;
	esac
	return 0
}

stop_server() {
	[ -n "$data" ] || return 0
	[ -f "$data/postmaster.pid" ] || return 0
	pid=$(sed -n 1p "$data/postmaster.pid" 2>/dev/null || true)
	run_pg "$bindir/pg_ctl" stop -D "$data" -m immediate -s -W >/dev/null 2>&1 || true
	case $pid in '' | *[!0-9]*) return 0 ;; esac
	i=0
	while alive "$pid"; do
		if [ $i -ge 100 ]; then
			# pg_ctl starts the postmaster in its own session, so its
			# process group holds the postmaster and its children.
			echo "pg-harness: postmaster $pid still running after 10 s, killing it" >&2
			kill -s KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
			sleep 0.2
			break
		fi
		sleep 0.1
		i=$((i + 1))
	done
}

cleanup() {
	[ "$cleaned" -eq 0 ] || return 0
	cleaned=1
	[ -n "$tmp" ] || return 0
	if [ "$keep" -eq 1 ] && [ -f "$data/postmaster.pid" ]; then
		echo "pg-harness: cluster kept running; stop and remove it with:" >&2
		echo "  ${as_pg:+$as_pg }$bindir/pg_ctl stop -D $data -m fast && rm -rf $tmp" >&2
		return 0
	fi
	stop_server
	rm -rf "$tmp"
}

on_signal() {
	trap - INT TERM HUP
	echo "pg-harness: received SIG$1, stopping" >&2
	# CMD runs in its own process group and, started with & by a
	# non-interactive shell, ignores SIGINT: pass the signal on as TERM to
	# the whole group.
	if [ -n "$child" ]; then
		kill -s TERM -- "-$child" 2>/dev/null || kill -TERM "$child" 2>/dev/null || true
	fi
	exit "$2"
}

trap 'cleanup' EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM
trap 'on_signal HUP 129' HUP

# Unix socket paths are limited to about 100 bytes, and the socket directory
# goes into conninfo strings and postgresql.conf unquoted: accept only short
# plain paths, else fall back to /tmp.
make_tmp() {
	base=$1
	case $base in
	*[!A-Za-z0-9/._-]*) return 1 ;;
	esac
	[ ${#base} -le 60 ] || return 1
	d=$(mktemp -d "$base/kvpg.XXXXXX" 2>/dev/null) || return 1
	if [ -n "$as_pg" ]; then
		# The server's user must own the directory and be able to reach
		# it, which fails when TMPDIR lies below a private home directory.
		# 0755 lets the caller reach the socket without relying on root's
		# override of permissions; data/ itself is 0700 (initdb).
		# shellcheck disable=SC2086
		if ! chown "$pg_user" "$d" || ! chmod 0755 "$d" ||
			! (cd / && $as_pg test -w "$d") 2>/dev/null; then
			rm -rf "$d"
			return 1
		fi
	fi
	printf '%s\n' "$d"
}

base=${TMPDIR:-/tmp}
base=${base%/}
[ -n "$base" ] || base=/tmp
tmp=$(make_tmp "$base") || tmp=$(make_tmp /tmp) ||
	die "cannot create a private temporary directory usable by '$pg_user' under '$base' or /tmp"

data=$tmp/data
sockdir=$tmp/sock
log=$tmp/server.log

# --- initdb ---------------------------------------------------------------------

pwfile=$tmp/pwfile
(umask 077 && printf '%s\n' "$PG_PASSWORD" >"$pwfile")
[ -z "$as_pg" ] || chown "$pg_user" "$pwfile"

run_initdb() {
	run_pg "$bindir/initdb" -D "$data" -U "$PG_SUPERUSER" --pwfile="$pwfile" \
		--auth-local=trust --auth-host=scram-sha-256 -E UTF8 "$@" \
		>"$tmp/initdb.log" 2>&1
}
if ! run_initdb --locale=C.UTF-8; then
	rm -rf "$data"
	if ! run_initdb --no-locale; then
		tail -n 30 "$tmp/initdb.log" >&2
		die "initdb failed"
	fi
fi
rm -f "$pwfile"

# The settings of a throwaway cluster: durability off (nothing here must
# survive a crash), reachable only from this machine. The port is rewritten
# on every start attempt, so it lives in a file of its own.
mkdir -p "$sockdir"
[ -z "$as_pg" ] || chown "$pg_user" "$sockdir"
cat >>"$data/postgresql.conf" <<EOF

# --- kvmigrate test harness ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sockdir'
fsync = off
full_page_writes = off
synchronous_commit = off
max_connections = 100
shared_buffers = 128MB
include = 'harness_port.conf'
EOF

free_port() {
	py=/usr/bin/python3
	[ -x "$py" ] || py=$(command -v python3) || die "python3 is needed to find a free port"
	"$py" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

attempt=1
while :; do
	port=$(free_port)
	printf "port = %s\n" "$port" >"$data/harness_port.conf"
	[ -z "$as_pg" ] || chown "$pg_user" "$data/harness_port.conf"
	if run_pg "$bindir/pg_ctl" start -D "$data" -l "$log" -w -t 60 -s >/dev/null 2>"$tmp/pg_ctl.err"; then
		break
	fi
	# Another process may have taken the port between the probe and the
	# server's bind: try again with a new one. Any other failure is final.
	if [ "$attempt" -lt "$START_ATTEMPTS" ] && [ -f "$log" ] &&
		grep -q -e 'already in use' -e 'could not bind' -e 'could not create any TCP/IP sockets' "$log"; then
		echo "pg-harness: port $port was taken, retrying with another" >&2
		stop_server
		: >"$log"
		attempt=$((attempt + 1))
		continue
	fi
	cat "$tmp/pg_ctl.err" >&2
	echo "pg-harness: the server did not start; last lines of its log:" >&2
	tail -n 30 "$log" >&2 2>/dev/null || true
	exit 1
done

KVMIGRATE_TEST_DB="host=$sockdir port=$port user=$PG_SUPERUSER dbname=postgres"
KVMIGRATE_TEST_DB_TCP="host=127.0.0.1 port=$port user=$PG_SUPERUSER password=$PG_PASSWORD dbname=postgres"
KVMIGRATE_TEST_PGBIN=$bindir
KVMIGRATE_TEST_PGDATA=$data
KVMIGRATE_TEST_PGLOG=$log
KVMIGRATE_TEST_PG_OS_USER=$pg_user
# Keep a ~/.pgpass of the caller out of the tests: a missing file is ignored.
PGPASSFILE=$tmp/no-pgpass
export KVMIGRATE_TEST_DB KVMIGRATE_TEST_DB_TCP KVMIGRATE_TEST_PGBIN \
	KVMIGRATE_TEST_PGDATA KVMIGRATE_TEST_PGLOG KVMIGRATE_TEST_PG_OS_USER PGPASSFILE

echo "pg-harness: PostgreSQL $pg_version on port $port, socket dir $sockdir" >&2

# Run CMD in the background and wait for it: a shell waiting for a
# foreground command would run the INT/TERM/HUP traps only after it ends.
# An asynchronous command gets /dev/null as stdin unless told otherwise,
# so hand it ours through fd 3 (or /dev/null when we were given none).
# CMD gets a process group of its own (setsid) so that a signal reaches
# everything it started, not only its first process.
if (exec 4<&0) 2>/dev/null; then exec 3<&0; else exec 3</dev/null; fi
if command -v setsid >/dev/null 2>&1; then
	setsid -w "$@" 0<&3 3<&- &
else
	"$@" 0<&3 3<&- &
fi
child=$!
exec 3<&-
status=0
wait "$child" || status=$?
child=
exit "$status"
