#!/bin/sh
# fuzz.sh - run a libFuzzer program for a bounded time.
#
#   sh tests/tools/fuzz.sh FUZZ_BIN SECONDS
#
# With NAME the program's file name (fuzz_reader, fuzz_import):
#
# 1. Runs FUZZ_BIN once over every file of testdata/fuzz-regressions/NAME/
#    (if the directory exists): inputs that once crashed it must not any
#    more.
# 2. Fuzzes for SECONDS, starting from the committed seed corpus
#    testdata/fuzz-corpus/ and the golden export files testdata/good/*.kvm
#    and testdata/broken/*.kvm, copied into a temporary directory so the
#    committed files are never modified.  The program gets a TMPDIR of its
#    own for its scratch files (the import's stores), removed at the end:
#    in /dev/shm when that can be written, since the import syncs every
#    store it builds and on a disk those syncs would set the pace.
# 3. On a crash (also a leak, timeout or out-of-memory), copies the input
#    into testdata/fuzz-crashes/NAME/ and exits 1.
#
# The last line is "fuzz: N runs in S s, 0 crashes" when all went well.
set -eu

usage() {
	echo "usage: sh tests/tools/fuzz.sh FUZZ_BIN SECONDS" >&2
	exit 2
}
[ $# -eq 2 ] || usage
fuzz_bin=$1
seconds=$2
case $seconds in '' | *[!0-9]*) usage ;; esac
[ "$seconds" -gt 0 ] || usage
case $fuzz_bin in /*) ;; *) fuzz_bin=$PWD/$fuzz_bin ;; esac
if [ ! -f "$fuzz_bin" ] || [ ! -x "$fuzz_bin" ]; then
	echo "fuzz: '$1' is not an executable file" >&2
	exit 2
fi
cd "$(dirname "$0")/../.."
name=$(basename "$fuzz_bin")
regressions=testdata/fuzz-regressions/$name
crashes_dir=testdata/fuzz-crashes/$name

# Limits of one input: a hang or a memory blow-up counts as a finding, and
# 64 KiB is enough for an export file to reach every part of the reader.
limits="-timeout=10 -rss_limit_mb=1024"
max_len=65536

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvfuzz.XXXXXX")
scratch=
trap 'rm -rf "$tmp" ${scratch:+"$scratch"}' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir "$tmp/corpus" "$tmp/seeds" "$tmp/artifacts"
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	scratch=$(mktemp -d /dev/shm/kvfuzz.XXXXXX) || scratch=
fi
if [ -z "$scratch" ]; then
	scratch=$tmp/scratch
	mkdir "$scratch"
fi
TMPDIR=$scratch
export TMPDIR

# Save what libFuzzer left in $tmp/artifacts and say what to do with it.
report_crashes() {
	found=0
	for a in "$tmp"/artifacts/crash-* "$tmp"/artifacts/leak-* \
		"$tmp"/artifacts/timeout-* "$tmp"/artifacts/oom-*; do
		[ -f "$a" ] || continue
		mkdir -p "$crashes_dir"
		cp "$a" "$crashes_dir/"
		found=$((found + 1))
		echo "fuzz: input saved as $crashes_dir/$(basename "$a");" \
			"reproduce with: $1 $crashes_dir/$(basename "$a")" >&2
	done
	if [ "$found" -gt 0 ]; then
		echo "fuzz: fix the bug, then move the input to $regressions/" \
			"and commit it as a regression input" >&2
	fi
	echo "$found"
}

# --- 1. regression inputs -----------------------------------------------------

if [ -d "$regressions" ]; then
	nreg=$(find "$regressions" -type f ! -name '.*' ! -name 'README*' | wc -l)
	if [ "$nreg" -gt 0 ]; then
		rc=0
		# Given files (not directories), libFuzzer runs each once and stops.
		# shellcheck disable=SC2086
		find "$regressions" -type f ! -name '.*' ! -name 'README*' -print0 |
			xargs -0 "$fuzz_bin" $limits -artifact_prefix="$tmp/artifacts/" \
				>"$tmp/regress.log" 2>&1 || rc=$?
		if [ "$rc" -ne 0 ]; then
			tail -n 60 "$tmp/regress.log" >&2
			bad=$(sed -n 's/^Running: //p' "$tmp/regress.log" | tail -n 1)
			echo "fuzz: regression input '${bad:-?}' fails again" \
				"(exit status $rc); reproduce with: $fuzz_bin ${bad:-FILE}" >&2
			exit 1
		fi
		echo "fuzz: $nreg regression inputs of $regressions/ pass"
	fi
fi

# --- 2. fuzzing -----------------------------------------------------------------

[ ! -d testdata/fuzz-corpus ] || cp -R testdata/fuzz-corpus/. "$tmp/corpus/"
for f in testdata/good/*.kvm testdata/broken/*.kvm; do
	[ -f "$f" ] || continue
	# good/x.kvm and broken/x.kvm may share a name.
	cp "$f" "$tmp/seeds/$(basename "$(dirname "$f")")-$(basename "$f")"
done
echo "fuzz: $name for $seconds s from $(find "$tmp/corpus" "$tmp/seeds" -type f | wc -l) seed inputs"

# libFuzzer writes new inputs into the first corpus directory (the temporary
# copy). Its NEW/REDUCE lines are dropped from the display: there can be
# thousands, and the log keeps them.
{
	rc=0
	# shellcheck disable=SC2086
	"$fuzz_bin" -max_total_time="$seconds" $limits -max_len=$max_len \
		-artifact_prefix="$tmp/artifacts/" "$tmp/corpus" "$tmp/seeds" 2>&1 || rc=$?
	echo "$rc" >"$tmp/rc"
} | tee "$tmp/fuzz.log" | grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE)' || true
rc=$(cat "$tmp/rc")

crashes=$(report_crashes "$fuzz_bin")
if [ "$crashes" -gt 0 ]; then
	echo "fuzz: $crashes crash(es) found"
	exit 1
fi
if [ "$rc" -ne 0 ]; then
	echo "fuzz: $name failed with exit status $rc and left no input; see its output above" >&2
	exit 1
fi
done_line=$(sed -n 's/^Done \([0-9][0-9]*\) runs in \([0-9][0-9]*\) second.*/\1 \2/p' "$tmp/fuzz.log" | tail -n 1)
if [ -n "$done_line" ]; then
	echo "fuzz: ${done_line% *} runs in ${done_line#* } s, 0 crashes"
else
	echo "fuzz: finished, 0 crashes"
fi
