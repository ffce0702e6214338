#!/bin/sh
# demo.sh - show kvmigrate at work on a PostgreSQL cluster of its own, and
# remove what it left.
#
#   sh tests/tools/demo.sh BIN        (make demo: BIN is build/kvmigrate)
#   sh tests/tools/demo.sh --clean    (make demo-clean)
#
# The demo first cleans up what a previous demo left, as --clean does. It
# then starts a private cluster with tests/tools/pg-harness.sh run --keep
# and runs the steps of tests/tools/demo-steps.sh in it: about 1.2 million
# generated rows, kvmigrate up --kv-enabled, status, verify, inspect. The
# files of the demo are in build/demo/:
#
#   kv.mdb           the KV store
#   export.kvm       the export that kvmigrate up kept
#   kvmigrate.prom   the metrics of that run
#   cluster          where the cluster is (read by --clean)
#
# The cluster is left running, so that the database can be looked at with
# psql. The demo ends by saying where everything is and how to remove it.
#
# --clean stops the cluster that build/demo/cluster names, removes its
# directory and then build/demo/. When there is nothing to clean up, it
# does nothing and prints nothing.
#
# Exit status: 0 when the demo went as expected; 1 when a step did not (it
# says which) or the clean-up failed; 2 on usage errors; 130 or 143 when
# interrupted. After a failure the cluster is kept as well.
set -eu

usage() {
	echo "usage: sh tests/tools/demo.sh BIN | --clean   (BIN: the kvmigrate binary, e.g. build/kvmigrate)" >&2
	exit 2
}
[ $# -eq 1 ] || usage
case $1 in
--clean) bin= ;;
-*) usage ;;
*)
	bin=$1
	case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
	if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
		echo "demo: '$1' is not an executable file; build it first with 'make'" >&2
		exit 2
	fi
	;;
esac
cd "$(dirname "$0")/../.."
demo=$PWD/build/demo
record=$demo/cluster

# The value of KEY in the cluster record (lines KEY=VALUE).
recorded() {
	sed -n "s/^$1=//p" "$record" | head -n 1
}

# Stop the cluster of a previous demo, remove it and build/demo/.
clean() {
	if [ -f "$record" ]; then
		dir=$(recorded dir)
		pgbin=$(recorded pgbin)
		pguser=$(recorded user)
		# rm -rf on what a file says: only a directory of the harness.
		case $dir in
		/*/kvpg.*) ;;
		*)
			echo "demo: $record names '$dir', not a directory of tests/tools/pg-harness.sh; remove it by hand" >&2
			return 1
			;;
		esac
		if [ -d "$dir" ]; then
			stop_cluster "$dir" "$pgbin" "$pguser" || return 1
			rm -rf "$dir"
			echo "demo: removed the PostgreSQL cluster in $dir"
		fi
	fi
	if [ -e "$demo" ]; then
		rm -rf "$demo"
		echo "demo: removed $demo"
	fi
}

# stop_cluster DIR PGBIN USER: stop the server of DIR/data, as USER when
# we are root (PostgreSQL runs as an unprivileged user, see pg-harness.sh).
stop_cluster() {
	data=$1/data
	[ -f "$data/postmaster.pid" ] || return 0
	as_pg=
	if [ "$(id -u)" -eq 0 ] && [ -n "$3" ] && [ "$3" != root ]; then
		if command -v runuser >/dev/null 2>&1; then
			as_pg="runuser -u $3 --"
		else
			as_pg="setpriv --reuid=$(id -u "$3") --regid=$(id -g "$3") --clear-groups --"
		fi
	fi
	# pg_ctl wants a current directory that the server's user can read.
	# shellcheck disable=SC2086
	if (cd "$1" && $as_pg "$2/pg_ctl" stop -D "$data" -m fast -w -t 60 -s) >/dev/null 2>&1; then
		echo "demo: stopped the PostgreSQL server of $data"
		return 0
	fi
	# A pid file left by a server that is gone (after a reboot): status 3.
	st=0
	# shellcheck disable=SC2086
	(cd "$1" && $as_pg "$2/pg_ctl" status -D "$data") >/dev/null 2>&1 || st=$?
	[ "$st" -eq 3 ] && return 0
	echo "demo: cannot stop the PostgreSQL server of $data; stop it by hand with:" >&2
	echo "  ${as_pg:+$as_pg }$2/pg_ctl stop -D $data -m fast && rm -rf $1 $demo" >&2
	return 1
}

if [ -z "$bin" ]; then
	clean
	exit
fi

start=$(date +%s.%N)
clean || exit 1
mkdir -p "$demo"

# The harness and the steps see Ctrl-C too; let them stop, then say what
# is left.
status=0
trap 'status=130' INT
trap 'status=143' TERM
sh tests/tools/pg-harness.sh run --keep -- \
	sh tests/tools/demo-steps.sh "$bin" "$demo" || status=$?
trap - INT TERM

secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
echo
case $status in
0) echo "demo: ok, in $secs s. What it left, for a look:" ;;
130 | 143) echo "demo: interrupted after $secs s. What it left, for a look:" ;;
*) echo "demo: FAILED (exit status $status) after $secs s. What it left, for a look:" ;;
esac
if [ -f "$record" ]; then
	dir=$(recorded dir)
	echo "  the database (PostgreSQL, running):"
	echo "    $(recorded pgbin)/psql '$(recorded db)'"
	echo "    server log: $dir/server.log"
fi
# where FILE WHAT: a line naming a file of build/demo/, if it is there.
where() {
	if [ -e "$demo/$1" ]; then
		printf '  %-33s build/demo/%s\n' "$2:" "$1"
	fi
}
where kv.mdb "the KV store"
where export.kvm "the export kept by kvmigrate up"
where kvmigrate.prom "the metrics of kvmigrate up"
rbin=${bin#"$PWD"/}
if [ -f "$record" ] && [ -e "$demo/kv.mdb" ]; then
	echo "  for example:"
	echo "    $rbin status --kv build/demo/kv.mdb --db '$(recorded db)'"
	echo "    mdb_stat -n build/demo/kv.mdb"
	if [ -e "$demo/export.kvm" ]; then
		echo "    $rbin inspect --verify build/demo/export.kvm"
	fi
fi
echo "  to stop the cluster and remove it and build/demo/:  make demo-clean"
echo "  (make demo does that first, and so does make clean)"
exit "$status"
