#!/bin/sh
# fuzz.sh - run a libFuzzer program for a bounded time.
#
#   sh tests/tools/fuzz.sh FUZZ_BIN SECONDS
#
# 1. Runs FUZZ_BIN once over every file of testdata/fuzz-regressions/ (if
#    the directory exists): inputs that once crashed it must not any more.
# 2. Fuzzes for SECONDS, starting from the committed seed corpus
#    testdata/fuzz-corpus/ and the golden export files testdata/good/*.kvm
#    and testdata/broken/*.kvm, copied into a temporary directory so the
#    committed files are never modified.
# 3. On a crash (also a leak, timeout or out-of-memory), copies the input
#    into testdata/fuzz-crashes/ and exits 1.
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

# Limits of one input: a hang or a memory blow-up counts as a finding, and
# 64 KiB is enough for an export file to reach every part of the reader.
limits="-timeout=10 -rss_limit_mb=1024"
max_len=65536

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvfuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir "$tmp/corpus" "$tmp/seeds" "$tmp/artifacts"

# Save what libFuzzer left in $tmp/artifacts and say what to do with it.
report_crashes() {
	found=0
	for a in "$tmp"/artifacts/crash-* "$tmp"/artifacts/leak-* \
		"$tmp"/artifacts/timeout-* "$tmp"/artifacts/oom-*; do
		[ -f "$a" ] || continue
		mkdir -p testdata/fuzz-crashes
		cp "$a" testdata/fuzz-crashes/
		found=$((found + 1))
		echo "fuzz: input saved as testdata/fuzz-crashes/$(basename "$a");" \
			"reproduce with: $1 testdata/fuzz-crashes/$(basename "$a")" >&2
	done
	if [ "$found" -gt 0 ]; then
		echo "fuzz: fix the bug, then move the input to testdata/fuzz-regressions/" \
			"and commit it as a regression input" >&2
	fi
	echo "$found"
}

# --- 1. regression inputs -----------------------------------------------------

if [ -d testdata/fuzz-regressions ]; then
	nreg=$(find testdata/fuzz-regressions -type f ! -name '.*' ! -name 'README*' | wc -l)
	if [ "$nreg" -gt 0 ]; then
		rc=0
		# Given files (not directories), libFuzzer runs each once and stops.
		# shellcheck disable=SC2086
		find testdata/fuzz-regressions -type f ! -name '.*' ! -name 'README*' -print0 |
			xargs -0 "$fuzz_bin" $limits -artifact_prefix="$tmp/artifacts/" \
				>"$tmp/regress.log" 2>&1 || rc=$?
		if [ "$rc" -ne 0 ]; then
			tail -n 60 "$tmp/regress.log" >&2
			bad=$(sed -n 's/^Running: //p' "$tmp/regress.log" | tail -n 1)
			echo "fuzz: regression input '${bad:-?}' fails again" \
				"(exit status $rc); reproduce with: $fuzz_bin ${bad:-FILE}" >&2
			exit 1
		fi
		echo "fuzz: $nreg regression inputs of testdata/fuzz-regressions/ pass"
	fi
fi

# --- 2. fuzzing -----------------------------------------------------------------

[ ! -d testdata/fuzz-corpus ] || cp -R testdata/fuzz-corpus/. "$tmp/corpus/"
for f in testdata/good/*.kvm testdata/broken/*.kvm; do
	[ -f "$f" ] || continue
	# good/x.kvm and broken/x.kvm may share a name.
	cp "$f" "$tmp/seeds/$(basename "$(dirname "$f")")-$(basename "$f")"
done
echo "fuzz: $(basename "$fuzz_bin") for $seconds s from $(find "$tmp/corpus" "$tmp/seeds" -type f | wc -l) seed inputs"

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
	echo "fuzz: $(basename "$fuzz_bin") failed with exit status $rc and left no input; see its output above" >&2
	exit 1
fi
done_line=$(sed -n 's/^Done \([0-9][0-9]*\) runs in \([0-9][0-9]*\) second.*/\1 \2/p' "$tmp/fuzz.log" | tail -n 1)
if [ -n "$done_line" ]; then
	echo "fuzz: ${done_line% *} runs in ${done_line#* } s, 0 crashes"
else
	echo "fuzz: finished, 0 crashes"
fi
