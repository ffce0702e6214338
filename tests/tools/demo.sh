#!/bin/sh
# demo.sh - show kvmigrate at work on a throwaway PostgreSQL cluster.
#
#   sh tests/tools/demo.sh BIN        (make demo: BIN is build/kvmigrate)
#
# Starts a private cluster with tests/tools/pg-harness.sh, runs the steps of
# tests/tools/demo-steps.sh in it (sample tables, kvmigrate --version,
# kvmigrate up --kv-enabled) and removes the cluster again at the end.
# Exit status: that of the steps (0 when the demo went as expected).
set -eu

if [ $# -ne 1 ]; then
	echo "usage: sh tests/tools/demo.sh BIN   (the kvmigrate binary, e.g. build/kvmigrate)" >&2
	exit 2
fi
bin=$1
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
	echo "demo: '$1' is not an executable file; build it first with 'make'" >&2
	exit 2
fi
cd "$(dirname "$0")/../.."

exec sh tests/tools/pg-harness.sh run -- sh tests/tools/demo-steps.sh "$bin"
