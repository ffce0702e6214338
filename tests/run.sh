#!/bin/sh
# run.sh - run every test of one build directory and count the results.
#
#   sh tests/run.sh BUILD          (for example build or build/asan)
#
# Runs, in this order, each executable BUILD/tests/test_* (cmocka programs)
# and each tests/e2e/*.sh (as "sh SCRIPT"), each under a wall-clock cap.
# Normally started by "make check" inside tests/tools/pg-harness.sh, which
# provides the PostgreSQL server the tests use.
#
# Counting: a cmocka program counts the numbers on its "[  PASSED  ] N
# test(s)." and "[  FAILED  ] N test(s)" lines; an end-to-end script counts
# its TAP lines "ok N - ..." and "not ok N - ...". A program or script that
# exits non-zero counts at least one failure, whatever it printed.
# The last line of output is "tests: N passed, M failed"; the exit status is
# 1 when M > 0 or when no test ran at all.
set -eu

TIMEOUT=300

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
	echo "usage: sh tests/run.sh BUILD   (a build directory, e.g. build)" >&2
	exit 2
fi
build=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."

# Sanitizer settings for the ASan/UBSan build; harmless for the others.
: "${ASAN_OPTIONS=abort_on_error=0:detect_leaks=1}"
: "${UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS UBSAN_OPTIONS
# cmocka's plain output is what the counting below reads.
CMOCKA_MESSAGE_OUTPUT=STDOUT
export CMOCKA_MESSAGE_OUTPUT
KVMIGRATE=$build/kvmigrate
KVMIGRATE_FP=$build/kvmigrate-fp
KVMIGRATE_BUILD=$build
KVMIGRATE_TOOLS=$build/tools
export KVMIGRATE KVMIGRATE_FP KVMIGRATE_BUILD KVMIGRATE_TOOLS

if [ -z "${KVMIGRATE_TEST_DB:-}" ]; then
	echo "run.sh: KVMIGRATE_TEST_DB is not set; tests that need PostgreSQL" \
		"will fail (run 'make check', or tests/tools/pg-harness.sh run -- sh tests/run.sh $1)" >&2
fi

out=$(mktemp "${TMPDIR:-/tmp}/kvmt-run.XXXXXX")
trap 'rm -f "$out" "$out.rc"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pass=0
fail=0
ran=0
summary=

# run_one KIND NAME CMD...: show the output, then add its counts.
run_one() {
	kind=$1
	name=$2
	shift 2
	echo "== $name"
	# The status goes through a file: in a pipeline, $? is the last
	# command's (tee's).
	{
		rc=0
		timeout -k 10 "$TIMEOUT" "$@" </dev/null 2>&1 || rc=$?
		echo "$rc" >"$out.rc"
	} | tee "$out"
	rc=$(cat "$out.rc")

	if [ "$kind" = cmocka ]; then
		p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test(s)\..*/\1/p' "$out" |
			awk '{ s += $1 } END { print s + 0 }')
		f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test(s).*/\1/p' "$out" |
			awk '{ s += $1 } END { print s + 0 }')
	else
		p=$(grep -c '^ok ' "$out" || true)
		f=$(grep -c '^not ok ' "$out" || true)
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	case $rc in
	0) verdict=ok ;;
	124) verdict="timed out after $TIMEOUT s"; echo "run.sh: $name timed out after $TIMEOUT s" ;;
	*) verdict="exit status $rc" ;;
	esac
	echo "-- $name: $p passed, $f failed ($verdict)"
	pass=$((pass + p))
	fail=$((fail + f))
	ran=$((ran + 1))
	summary="$summary
  $name: $p passed, $f failed ($verdict)"
}

for t in "$build"/tests/test_*; do
	if [ ! -f "$t" ] || [ ! -x "$t" ]; then continue; fi
	run_one cmocka "$(basename "$t")" "$t"
done

for s in tests/e2e/*.sh; do
	[ -f "$s" ] || continue
	run_one e2e "$s" sh "$s"
done

echo "== summary ($ran programs and scripts, build $1)$summary"
if [ $((pass + fail)) -eq 0 ]; then
	echo "run.sh: no test ran" >&2
fi
echo "tests: $pass passed, $fail failed"
# For make check's total over its suites (plain and sanitized builds).
echo "$pass $fail" > "$build/tests.counts"
[ "$fail" -eq 0 ] && [ $((pass + fail)) -gt 0 ]
