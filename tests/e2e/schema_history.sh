#!/bin/sh
# End-to-end test of `kvmigrate up --schema-dir DIR` on a long, realistic
# schema history: testdata/schema-history (see its README.md), 30-odd
# versions in golang-migrate's layout, sequential then timestamped.
#
#   KVMIGRATE=build/kvmigrate sh tests/e2e/schema_history.sh
#
# Run from the repository root, with the cluster of tests/tools/pg-harness.sh:
# KVMIGRATE_TEST_DB (superuser conninfo of its `postgres` database) and
# KVMIGRATE_TEST_PGBIN (psql and pg_dump; default: PATH).
#
# The reference is tests/tools/apply-psql.sh: plain psql, each file in one
# transaction with its own BEGIN/COMMIT lines blanked, then golang-migrate's
# schema_migrations row. kvmigrate must leave a database exactly as the
# reference does: the same `pg_dump --schema-only --no-owner
# --no-privileges`, the same data (`pg_dump --data-only --inserts`, lines
# sorted) and the same schema_migrations rows. Four fresh databases, dropped
# at exit:
#   A  the whole history by apply-psql.sh: the reference
#   R  the same again, to show that the fixture is deterministic (two psql
#      runs agree), so that a difference of kvmigrate's means something
#   B  kvmigrate up from an empty database, then once more (nothing to do)
#   C  the first 15 versions by apply-psql.sh, the rest by kvmigrate up
#
# Prints TAP ("ok N - ...", "not ok N - ..." with "# " diagnostics) and
# exits 1 if any test failed.

set -u

. "$(dirname "$0")/../tools/tap.sh"
. "$(dirname "$0")/../tools/check.sh"
. "$(dirname "$0")/../tools/e2e-db.sh"
HIST=testdata/schema-history
APPLY=tests/tools/apply-psql.sh
if [ ! -d "$HIST" ] || [ ! -f "$APPLY" ]; then
	echo "Bail out! $HIST or $APPLY not found: run from the repository root"
	exit 1
fi
# Versions below this many files are applied by psql in database C.
SPLIT=15

T=$(mktemp -d "${TMPDIR:-/tmp}/kvmt.XXXXXX") || exit 1
trap 'cleanup; rm -rf "$T"' EXIT

# --- helpers ------------------------------------------------------------

# Show a file's first lines as TAP comments.
diag() {
	[ -s "$1" ] || return 0
	head -n "${2:-8}" "$1" | cat -v | sed 's/^/#     /'
}

# pg_dump 15.14 and later frame a plain dump with \restrict KEY and
# \unrestrict KEY, KEY random: not part of the database.
unframe() {
	sed -e '/^\\restrict /d' -e '/^\\unrestrict /d'
}

# dump CONNINFO OUT: OUT.schema, OUT.data (sorted lines), OUT.versions;
# on failure, the messages are in OUT.err and OUT.schema is removed.
dump() {
	: >"$2.err"
	if pg_dump --schema-only --no-owner --no-privileges -f "$2.raw" -d "$1" 2>>"$2.err" &&
		unframe <"$2.raw" >"$2.schema" &&
		pg_dump --data-only --inserts -f "$2.raw" -d "$1" 2>>"$2.err" &&
		unframe <"$2.raw" | sort >"$2.data" &&
		query "$1" 'SELECT version, dirty FROM schema_migrations ORDER BY version' \
			>"$2.versions" 2>>"$2.err"; then
		rm -f "$2.raw"
		return 0
	fi
	rm -f "$2.raw" "$2.schema"
	return 1
}

# same DESC FILE1 FILE2: passes when the files are identical; otherwise
# the first 40 lines of their diff
same() {
	if [ ! -f "$2" ] || [ ! -f "$3" ]; then
		not_ok "$1" "no dump to compare (an earlier step failed): $(basename "$2") $(basename "$3")"
	elif cmp -s "$2" "$3"; then
		ok "$1"
	else
		not_ok "$1" "diff -u $(basename "$2") $(basename "$3") (first 40 lines):"
		diff -u "$2" "$3" | head -n 40 | sed 's/^/#     /'
	fi
}

# same_db DESC X Y: three tests: the schema, data and schema_migrations
# dumps of X and Y (made by dump) are identical
same_db() {
	same "$1: pg_dump --schema-only" "$2.schema" "$3.schema"
	same "$1: pg_dump --data-only --inserts (sorted)" "$2.data" "$3.data"
	same "$1: SELECT version, dirty FROM schema_migrations" "$2.versions" "$3.versions"
}

# kvm_up CONNINFO OUT: kvmigrate up on the history; OUT.out, OUT.err,
# status in $rc
kvm_up() {
	"$KVMIGRATE" up --db "$1" --schema-dir "$HIST" >"$2.out" 2>"$2.err"
	rc=$?
}

# The versions of the history, as apply-psql.sh and golang-migrate see
# them: "VERSION FILE" lines, VERSION without leading zeros, in order.
for f in "$HIST"/*.up.sql; do
	name=${f##*/}
	v=${name%%_*}
	case $v in '' | *[!0-9]*) continue ;; esac
	v=$(printf '%s\n' "$v" | sed 's/^0*//')
	printf '%s %s\n' "${v:-0}" "$name"
done | sort -n -k1,1 >"$T/versions"
nver=$(wc -l <"$T/versions")
max=$(sed -n '$s/ .*//p' "$T/versions")
split_ver=$(sed -n "${SPLIT}s/ .*//p" "$T/versions")

# --- the fixture --------------------------------------------------------

dups=$(cut -d' ' -f1 "$T/versions" | uniq -d | tr '\n' ' ')
if [ "$nver" -ge 32 ] && [ -z "$dups" ] && [ -n "$max" ]; then
	ok "$HIST: $nver schema versions, highest $max"
else
	not_ok "$HIST: at least 32 schema versions, none twice" \
		"$nver versions; versions given twice: ${dups:-none}"
fi

# --- databases ----------------------------------------------------------

suffix=$$_$(od -An -N4 -tx4 /dev/urandom 2>/dev/null | tr -d ' ')
hist=kvmt_hist_$suffix
connA=$(conn "${hist}_a")
connR=$(conn "${hist}_r")
connB=$(conn "${hist}_b")
connC=$(conn "${hist}_c")
if newdb "${hist}_a" && newdb "${hist}_r" && newdb "${hist}_b" && newdb "${hist}_c"; then
	ok "four fresh databases kvmt_hist_${suffix}_{a,r,b,c}"
else
	not_ok "four fresh databases kvmt_hist_${suffix}_{a,r,b,c}"
	diag "$T/createdb.err"
	tap_done
	exit 1
fi

# --- A: the reference ---------------------------------------------------

if sh "$APPLY" "$HIST" "$connA" >"$T/applyA.log" 2>&1; then
	ok "A: apply-psql.sh applies the whole history"
else
	not_ok "A: apply-psql.sh applies the whole history" "its output:"
	diag "$T/applyA.log" 20
fi

if dump "$connA" "$T/A" &&
	grep -q '^CREATE TABLE public\.schema_migrations ' "$T/A.schema" &&
	grep -q '^CREATE TABLE public\.audit_events_default ' "$T/A.schema" &&
	grep -q '^CREATE FUNCTION public\.maintain_branch_count() ' "$T/A.schema" &&
	grep -q '^INSERT INTO public\.users ' "$T/A.data" &&
	[ "$(cat "$T/A.versions")" = "$max|f" ]; then
	ok "A: dumped; the dump holds the history's tables, functions, rows and version $max"
else
	not_ok "A: dumped; the dump holds the history's tables, functions, rows and version $max" \
		"schema_migrations: '$(tr '\n' ' ' <"$T/A.versions" 2>/dev/null)'"
	diag "$T/A.err"
	rm -f "$T/A.schema"
fi

# --- R: the fixture is deterministic ------------------------------------

if sh "$APPLY" "$HIST" "$connR" >"$T/applyR.log" 2>&1 && dump "$connR" "$T/R"; then
	ok "R: apply-psql.sh applies the history a second time"
else
	not_ok "R: apply-psql.sh applies the history a second time"
	diag "$T/applyR.log" 20
	diag "$T/R.err"
fi
same_db "R equals A (the fixture is deterministic)" "$T/A" "$T/R"

# --- B: kvmigrate up from an empty database -----------------------------

kvm_up "$connB" "$T/up1"
if [ "$rc" -eq 0 ]; then
	ok "B: kvmigrate up --schema-dir $HIST exits 0 on an empty database"
else
	not_ok "B: kvmigrate up --schema-dir $HIST exits 0 on an empty database" \
		"exit status $rc, expected 0; stderr was:"
	diag "$T/up1.err" 12
fi

if grep -q -F -- "$max" "$T/up1.err"; then
	ok "B: stderr names the highest version $max"
else
	not_ok "B: stderr names the highest version $max" "stderr was:"
	diag "$T/up1.err"
fi

if grep -q -F -- "KV migration skipped" "$T/up1.err"; then
	ok "B: stderr says 'KV migration skipped' (no KV flag)"
else
	not_ok "B: stderr says 'KV migration skipped' (no KV flag)" "stderr was:"
	diag "$T/up1.err"
fi

if ! dump "$connB" "$T/B"; then
	not_ok "B: pg_dump after kvmigrate up"
	diag "$T/B.err"
fi
same_db "B (kvmigrate up) equals A (psql)" "$T/A" "$T/B"

got=$(query "$connB" 'SELECT version, dirty FROM schema_migrations' 2>"$T/q.err")
if [ "$got" = "$max|f" ]; then
	ok "B: schema_migrations holds one row: version $max, dirty false"
else
	not_ok "B: schema_migrations holds one row: version $max, dirty false" \
		"rows: '$(printf '%s' "$got" | tr '\n' ' ')'"
	diag "$T/q.err"
fi

# --- B again: nothing to do ---------------------------------------------

kvm_up "$connB" "$T/up2"
lines=$(wc -l <"$T/up2.err")
if [ "$rc" -eq 0 ] && [ "$lines" -eq 1 ]; then
	ok "B: a second kvmigrate up exits 0 with one line on stderr"
else
	not_ok "B: a second kvmigrate up exits 0 with one line on stderr" \
		"exit status $rc, $lines lines on stderr; stderr was:"
	diag "$T/up2.err"
fi

if grep -q -i 'up[ -]to[ -]date' "$T/up2.err"; then
	ok "B: the second run says the schema is up to date"
else
	not_ok "B: the second run says the schema is up to date" "stderr was:"
	diag "$T/up2.err"
fi

if ! dump "$connB" "$T/B2"; then
	not_ok "B: pg_dump after the second kvmigrate up"
	diag "$T/B2.err"
fi
same_db "B: the second kvmigrate up changes nothing" "$T/B" "$T/B2"

# --- C: psql up to version SPLIT, kvmigrate for the rest ----------------

mkdir "$T/first"
sed -n "1,${SPLIT}s/^[0-9]* //p" "$T/versions" | while read -r name; do
	cp "$HIST/$name" "$T/first/"
done
got=
if sh "$APPLY" "$T/first" "$connC" >"$T/applyC.log" 2>&1; then
	got=$(query "$connC" 'SELECT version, dirty FROM schema_migrations' 2>&1)
fi
if [ -n "$split_ver" ] && [ "$got" = "$split_ver|f" ]; then
	ok "C: apply-psql.sh brings a database to version $split_ver (the first $SPLIT files)"
else
	not_ok "C: apply-psql.sh brings a database to version $split_ver (the first $SPLIT files)" \
		"schema_migrations: '$(printf '%s' "$got" | tr '\n' ' ')'"
	diag "$T/applyC.log" 20
fi

kvm_up "$connC" "$T/upC"
if [ "$rc" -eq 0 ] && grep -q -F -- "$max" "$T/upC.err"; then
	ok "C: kvmigrate up applies the $((nver - SPLIT)) versions after $split_ver: exit 0, $max on stderr"
else
	not_ok "C: kvmigrate up applies the $((nver - SPLIT)) versions after $split_ver: exit 0, $max on stderr" \
		"exit status $rc; stderr was:"
	diag "$T/upC.err" 12
fi

if ! dump "$connC" "$T/C"; then
	not_ok "C: pg_dump after kvmigrate up"
	diag "$T/C.err"
fi
same_db "C (psql then kvmigrate up) equals A (psql)" "$T/A" "$T/C"

tap_done
