#!/bin/sh
# openness.sh - the export format is open: files written by the C writer are
# read back, record for record, by tools that share no code with it
# (`zstd -dc` and Python's msgpack package, through tests/tools/kvmexport.py),
# and the committed golden files of testdata/ are what that independent
# implementation says they are.
#
# Run from the repository root.  Environment:
#   KVMIGRATE        the built kvmigrate binary (not needed by these checks)
#   KVMIGRATE_TOOLS  the directory of the built helper tools, which holds
#                    kvm-sample-export (tests/tools/kvm-sample-export.c)
#
# Prints TAP ("ok N - ..." / "not ok N - ...") and exits 1 when a test
# fails.  A missing kvm-sample-export is a failure, not a skip.

# The test functions run through t(), which shellcheck cannot follow.
# shellcheck disable=SC2317

PY=/usr/bin/python3
KVMEXPORT=tests/tools/kvmexport.py
SAMPLE="${KVMIGRATE_TOOLS:-build/tools}/kvm-sample-export"
# The zstd release the committed golden files were compressed with.  With
# another release the compressed bytes may differ; the streams may not.
GOLDEN_ZSTD=v1.5.4

. "$(dirname "$0")/../tools/tap.sh"

# diag TEXT...: a TAP comment, to tell why a test failed.
diag() {
	echo "# $*"
}

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# json_field FILE EXPR: EXPR (Python, the JSON in FILE as j), printed.
json_field() {
	"$PY" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
		"$1" "$2"
}

# same_stream A.json B.json [more]: two check summaries equal but for where
# the frames fall; with "more", B must also have more frames than A.
same_stream() {
	"$PY" - "$@" <<'PYEOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
framing = ("frames", "end_frame_offset", "file_bytes")
if {k: v for k, v in a.items() if k not in framing} != \
        {k: v for k, v in b.items() if k not in framing}:
    print("# %s and %s describe different streams" % tuple(sys.argv[1:3]))
    sys.exit(1)
if sys.argv[3:] == ["more"] and b["frames"] <= a["frames"]:
    print("# %d frames, not more than %d" % (b["frames"], a["frames"]))
    sys.exit(1)
PYEOF
}

# check_to KVM OUT [WANT]: kvmexport.py check KVM > OUT, which must then
# equal WANT when given.  dump_to: the same with dump.
check_to() {
	"$PY" "$KVMEXPORT" check "$1" > "$2" && { [ $# -lt 3 ] || cmp "$3" "$2"; }
}

dump_to() {
	"$PY" "$KVMEXPORT" dump "$1" > "$2" && { [ $# -lt 3 ] || cmp "$3" "$2"; }
}

# --- prerequisites --------------------------------------------------------

have_tools() {
	command -v zstd > /dev/null && "$PY" -c 'import msgpack, xxhash'
}
t "zstd and Python's msgpack and xxhash are installed" have_tools

# --- exports written by the C writer --------------------------------------

write_sample() {
	"$SAMPLE" --list --records 150 --seed 42 "$tmp/sample.kvm" > "$tmp/sample.list" &&
	test -s "$tmp/sample.list"
}

dump_is_list() {
	"$PY" "$KVMEXPORT" dump "$tmp/sample.kvm" > "$tmp/sample.dump" &&
	cmp "$tmp/sample.list" "$tmp/sample.dump"
}

header_is_sample() {
	"$PY" - "$tmp/sample.json" "$tmp/sample.list" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
h = j["header"]
want = {"format_version": 1, "kv_migration_version": 8,
        "source_schema_version": 7, "source_database": "sample",
        "snapshot_time": {"sec": 1700000000, "nsec": 123456000},
        "packages": ["auth", "refs", "staging"]}
bad = [k for k in want if h.get(k) != want[k]]
listed = sum(1 for _ in open(sys.argv[2]))
if bad or j["records"] != listed or \
        sum(s["records"] for s in j["sections"]) != listed:
    print("# header fields %s differ, or the trailer's %d records are not "
          "the %d listed" % (bad, j["records"], listed))
    sys.exit(1)
PYEOF
}

same_bytes_again() {
	"$SAMPLE" --records 150 --seed 42 "$tmp/again.kvm" &&
	cmp "$tmp/sample.kvm" "$tmp/again.kvm"
}

smaller_frames() {
	"$SAMPLE" --records 150 --seed 42 --frame-bytes 4096 "$tmp/frames.kvm" &&
	"$PY" "$KVMEXPORT" check "$tmp/frames.kvm" > "$tmp/frames.json" &&
	"$PY" "$KVMEXPORT" dump "$tmp/frames.kvm" > "$tmp/frames.dump" &&
	cmp "$tmp/sample.list" "$tmp/frames.dump" &&
	same_stream "$tmp/sample.json" "$tmp/frames.json" more
}

empty_sections() {
	"$SAMPLE" --list --records 0 "$tmp/empty.kvm" > "$tmp/empty.list" &&
	"$PY" "$KVMEXPORT" check "$tmp/empty.kvm" > "$tmp/empty.json" &&
	test ! -s "$tmp/empty.list" &&
	test "$(json_field "$tmp/empty.json" 'j["records"]')" = 0 &&
	test "$(json_field "$tmp/empty.json" 'len(j["sections"])')" = 3
}

other_seed() {
	"$SAMPLE" --list --records 40 --seed 7 "$tmp/seed7.kvm" > "$tmp/seed7.list" &&
	"$PY" "$KVMEXPORT" check "$tmp/seed7.kvm" > /dev/null &&
	"$PY" "$KVMEXPORT" dump "$tmp/seed7.kvm" > "$tmp/seed7.dump" &&
	cmp "$tmp/seed7.list" "$tmp/seed7.dump" &&
	! cmp -s "$tmp/seed7.list" "$tmp/sample.list"
}

if [ ! -x "$SAMPLE" ]; then
	not_ok "kvm-sample-export is built ($SAMPLE)"
	diag "build it (make tests); the C writer's exports were not checked"
else
	ok "kvm-sample-export is built"
	t "the C writer writes a sample export of 3 x 150 records" write_sample
	t "kvmexport.py check accepts it" \
		check_to "$tmp/sample.kvm" "$tmp/sample.json"
	t "zstd -dc and msgpack alone list exactly the records written" dump_is_list
	t "its header and trailer say what the writer was given" header_is_sample
	mode=$(stat -c %a "$tmp/sample.kvm" 2> /dev/null)
	t "the export has mode 0600 (it has $mode)" test "$mode" = 600
	t "zstd -t accepts the whole file, end index included" \
		zstd -q -t "$tmp/sample.kvm"
	t "the same records give the same bytes" same_bytes_again
	t "smaller frames change the framing, not the stream" smaller_frames
	t "an export of empty sections is accepted" empty_sections
	t "another seed gives other records, read back as written" other_seed
fi

# --- the committed golden files -------------------------------------------

for kvm in testdata/good/*.kvm; do
	name=${kvm%.kvm}
	t "check $kvm prints $name.json" \
		check_to "$kvm" "$tmp/check.out" "$name.json"
	t "dump $kvm prints $name.records" \
		dump_to "$kvm" "$tmp/dump.out" "$name.records"
done

# rejected FILE: check fails with the code and substring of FILE's .expect,
# in exactly one line "kvmexport: FILE: CODE: detail", nothing on stdout.
rejected() {
	kvm=$1
	expect=${kvm%.kvm}.expect
	code=$(sed -n 1p "$expect")
	substring=$(sed -n 2p "$expect")
	if "$PY" "$KVMEXPORT" check "$kvm" > "$tmp/out" 2> "$tmp/err"; then
		diag "$kvm was accepted"
		return 1
	fi
	line=$(cat "$tmp/err")
	if [ -s "$tmp/out" ] || [ "$(wc -l < "$tmp/err")" -ne 1 ]; then
		diag "expected one line on stderr and nothing on stdout"
		return 1
	fi
	case $line in
	"kvmexport: $kvm: $code: "*"$substring"*) return 0 ;;
	esac
	diag "got: $line"
	diag "expected: $code, containing '$substring'"
	return 1
}

for kvm in testdata/broken/*.kvm; do
	t "check rejects $kvm as its .expect says" rejected "$kvm"
done

in_corpus() {
	for kvm in testdata/good/*.kvm testdata/broken/*.kvm; do
		dir=${kvm%/*}
		copy="testdata/fuzz-corpus/${dir##*/}-${kvm##*/}"
		cmp -s "$kvm" "$copy" || {
			diag "$copy is not a copy of $kvm"
			return 1
		}
	done
}
t "the fuzz corpus holds a copy of every golden file" in_corpus

# make-golden writes the same files again.  The streams, and so .records
# and .expect, do not depend on the zstd release; compressed bytes may.
same_golden() {
	"$PY" "$KVMEXPORT" make-golden "$tmp/golden" > /dev/null || return 1
	for f in testdata/good/*.records testdata/broken/*.expect; do
		cmp -s "$f" "$tmp/golden/${f#testdata/}" || {
			diag "$f differs from what make-golden writes"
			return 1
		}
	done
	for f in testdata/good/*.json; do
		same_stream "$f" "$tmp/golden/${f#testdata/}" || return 1
	done
	for f in testdata/good/*.kvm; do
		if ! { zstd -q -dc "$f" > "$tmp/committed.stream" &&
		       zstd -q -dc "$tmp/golden/${f#testdata/}" > "$tmp/made.stream" &&
		       cmp -s "$tmp/committed.stream" "$tmp/made.stream"; }; then
			diag "the stream of $f differs from what make-golden writes"
			return 1
		fi
	done
	version=$(zstd -V | sed -n 's/.* \(v[0-9][0-9.]*\),.*/\1/p')
	if [ "$version" != "$GOLDEN_ZSTD" ]; then
		diag "zstd $version, not $GOLDEN_ZSTD: compressed bytes not compared"
		return 0
	fi
	for d in good broken; do
		diff -r "testdata/$d" "$tmp/golden/$d" > /dev/null || {
			diag "make-golden with zstd $GOLDEN_ZSTD must give the committed testdata/$d"
			return 1
		}
	done
}
t "make-golden writes the committed golden files again" same_golden

tap_done
