#!/bin/sh
# End-to-end corruption sweep of `kvmigrate import`.  A real export of a
# database filled by tests/tools/gen-data.py (5 sections, the staging one
# in two zstd frames) is damaged by tests/tools/corrupt-sweep.py in
# many ways: cut at many lengths, one byte or bit flipped at
# random offsets and at every byte of the zstd frame and block headers,
# the checksums, the header's and the end map's frames and the end index.
# Each damaged copy is imported with --force over a store built from the
# good export: every one must be refused with exit status 1 and an error
# naming the file, leave the store byte for byte as it was, and leave no
# file behind.  One TAP line per class of damage; design/reliability.md
# says what is tried and why.
#
#   KVMIGRATE=build/kvmigrate sh tests/e2e/corrupt.sh     (from the repo root)
#
# Environment (from the harness): KVMIGRATE_TEST_DB, KVMIGRATE_TEST_PGBIN,
# KVMIGRATE_BUILD (failing variants are kept in its corrupt-failures/).
#   KVMIGRATE_CORRUPT       how much: reduced (the default, in make check),
#                           small (make check-asan), full (make corrupt-test)
#   KVMIGRATE_CORRUPT_SEED  the seed of the random offsets and bytes
#                           (default: a new one, printed)
#   KVMIGRATE_CORRUPT_JOBS  imports run at a time (default 2)
#   KVMIGRATE_CORRUPT_DOC   a file whose corrupt:begin/end region gets the
#                           table of results (make corrupt-test:
#                           design/reliability.md)
# Database kvmt_corrupt_PID_1, dropped at exit.
#
# Prints TAP and exits 1 if any test failed.

set -u

. "$(dirname "$0")/../tools/tap.sh"
. "$(dirname "$0")/../tools/check.sh"
. "$(dirname "$0")/../tools/e2e-db.sh"
GEN=tests/tools/gen-data.py
SWEEP=tests/tools/corrupt-sweep.py
KVCHECK=tests/tools/kv-check.py
if [ ! -f "$GEN" ] || [ ! -f "$SWEEP" ] || [ ! -f "$KVCHECK" ]; then
	echo "Bail out! $GEN, $SWEEP or $KVCHECK not found: run from the repository root"
	exit 1
fi
dbprefix=kvmt_corrupt
amount=${KVMIGRATE_CORRUPT:-reduced}
jobs=${KVMIGRATE_CORRUPT_JOBS:-2}
keep=${KVMIGRATE_BUILD:-build}/corrupt-failures

T=$(mktemp -d "${TMPDIR:-/tmp}/kvmt.XXXXXX") || exit 1
trap 'cleanup; rm -rf "$T"' EXIT

# 9,700 staging rows are about 4.2 MB of records: more than one frame of
# the writer's 4 MiB, about 2.3 MB compressed, some 25 ms for one import.
begin "a generated database exported with kvmigrate export"
newdb
run up --db "$(conn "$db")"
want_rc 0
"$PY" "$GEN" --db "$(conn "$db")" --quiet --size tiny --seed 11 \
	--staging-rows 9700 2>"$T/gen.err" ||
	fail "gen-data.py: $(head -n 2 "$T/gen.err" | tr '\n' ' ')"
run export --db "$(conn "$db")" -o "$T/export.kvm" --no-progress
want_rc 0
[ -s "$T/export.kvm" ] || fail "no export file"
end

begin "kvmigrate import builds the good store from it"
mkdir "$T/good"
run import -i "$T/export.kvm" --kv "$T/good/kv.mdb" --no-progress
want_rc 0
"$PY" "$KVCHECK" export "$T/export.kvm" "$T/good/kv.mdb" >"$T/kvcheck.out" 2>&1 ||
	fail "kv-check.py: $(head -n 3 "$T/kvcheck.out" | tr '\n' ' ')"
end

rm -rf "$keep"
set -- --kvmigrate "$KVMIGRATE" --export "$T/export.kvm" --store "$T/good/kv.mdb" \
	--work "$T/work" --amount "$amount" --jobs "$jobs" --summary "$T/summary" \
	--keep-failures "$keep"
[ -n "${KVMIGRATE_CORRUPT_SEED:-}" ] && set -- "$@" --seed "$KVMIGRATE_CORRUPT_SEED"
[ -n "${KVMIGRATE_CORRUPT_DOC:-}" ] && set -- "$@" --doc "$KVMIGRATE_CORRUPT_DOC"
mkdir "$T/work"
"$PY" "$SWEEP" "$@" >"$T/sweep.out" 2>"$T/sweep.err"
src=$?
sed 's/^/# /' "$T/sweep.out"

begin "the sweep ran on an export of 3 sections or more, one in several zstd frames"
[ "$src" -le 1 ] || fail "corrupt-sweep.py exit status $src: $(head -n 3 "$T/sweep.err" | tr '\n' ' ')"
[ -s "$T/summary" ] || fail "corrupt-sweep.py wrote no summary"
end

# One test per class: every variant rejected, naming the file, the store
# untouched.
grep -v '^fail ' "$T/summary" >"$T/classes" 2>/dev/null
while read -r cls tried rejected named untouched; do
	begin "$cls ($amount): $tried damaged files refused with an error naming the file, the store untouched"
	[ "$tried" -gt 0 ] || fail "no variant tried"
	[ "$rejected" -eq "$tried" ] || fail "$((tried - rejected)) not rejected"
	[ "$named" -eq "$tried" ] || fail "$((tried - named)) without the file in the error"
	[ "$untouched" -eq "$tried" ] || fail "$((tried - untouched)) changed the store or left a file"
	sed -n "s/^fail $cls //p" "$T/summary" >"$T/fails"
	while read -r line; do
		fail "$line"
	done <"$T/fails"
	[ -s "$T/fails" ] && fail "the failing variants and the export are in $keep"
	end
done <"$T/classes"

tap_done
