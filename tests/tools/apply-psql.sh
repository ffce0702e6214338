#!/bin/sh
# apply-psql.sh - apply a directory of SQL schema versions with plain psql:
# the independent reference that `kvmigrate up --schema-dir DIR` is compared
# with (tests/e2e/schema_history.sh).
#
#   sh tests/tools/apply-psql.sh DIR CONNINFO
#
# Files. DIR holds schema versions in golang-migrate's layout: each version
# is a file VERSION_NAME.up.sql, VERSION all digits, compared as an unsigned
# integer (000001 is version 1, and 20210314093000 comes after 000020).
# Every other file of DIR is ignored: *.down.sql, README.md, anything not
# named like that. Two files with the same version are an error.
#
# Transactions. Each file runs, in ascending version order, in one
# transaction of its own, in one psql session:
#
#   psql -X -q -v ON_ERROR_STOP=1 -d CONNINFO \
#       -c BEGIN -f FILE' -c 'SAVEPOINT apply_psql_check' -c COMMIT
#
# FILE' is a copy of the file with its transaction-control statements
# neutralised. That is done by line, with sed, which is simple enough only
# because the fixtures follow two conventions:
#   - a transaction-control statement (BEGIN; COMMIT; END; START
#     TRANSACTION; in any case) stands alone on its line; such lines are
#     blanked (not deleted, so that psql's line numbers stay right);
#   - a dollar-quoted body (a function's, a DO block's) opens at the end of
#     a line (`AS $$`, `AS $fn$`) and closes at the start of one (`$$;`);
#     the lines in between are left alone, so a function's own `END;` stays.
# A file that breaks these conventions fails loudly rather than silently:
# the SAVEPOINT fails when the file's statements ended the transaction.
#
# Version table. After the last file it writes golang-migrate's table,
# schema_migrations(version bigint PK, dirty boolean), holding one row: the
# highest version, not dirty. It never reads that table: it is meant for a
# fresh database, or one brought to the versions below DIR's.
#
# Environment: KVMIGRATE_TEST_PGBIN, the directory of the psql to use
# (default: psql from PATH).
# Exit status: 0 when every file applied; 1 on the first file that fails
# (named on stderr; its transaction is rolled back, the files before it
# stay applied and schema_migrations is not written); 2 on usage errors.
set -eu

prog=apply-psql.sh

if [ $# -ne 2 ] || [ ! -d "$1" ]; then
	echo "usage: sh tests/tools/apply-psql.sh DIR CONNINFO   (DIR: a directory of NNN_name.up.sql)" >&2
	exit 2
fi
dir=$1
conninfo=$2

if [ -n "${KVMIGRATE_TEST_PGBIN:-}" ]; then
	psql=$KVMIGRATE_TEST_PGBIN/psql
else
	psql=psql
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/apply-psql.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() {
	echo "$prog: $*" >&2
	exit 1
}

# The versions: "VERSION NAME" lines, VERSION without leading zeros, sorted
# numerically (sort -n compares digit strings of any length).
for f in "$dir"/*.up.sql; do
	[ -f "$f" ] || continue
	name=${f##*/}
	v=${name%%_*}
	case $name in
	*_*) ;;
	*) continue ;;
	esac
	case $v in
	'' | *[!0-9]*) continue ;;
	esac
	v=$(printf '%s\n' "$v" | sed 's/^0*//')
	printf '%s %s\n' "${v:-0}" "$name"
done | LC_ALL=C sort -n -k1,1 >"$work/versions"

[ -s "$work/versions" ] || die "no VERSION_NAME.up.sql file in $dir"
dup=$(cut -d' ' -f1 "$work/versions" | uniq -d | sed -n 1p)
[ -z "$dup" ] || die "two files of $dir have version $dup: $(grep "^$dup " "$work/versions" | cut -d' ' -f2- | tr '\n' ' ')"

# Blank the transaction-control lines outside dollar-quoted bodies.
neutralise() {
	sed -e '/\$[A-Za-z_]*\$[[:space:]]*$/,/^[[:space:]]*\$[A-Za-z_]*\$/b' \
		-e '/^[[:space:]]*[Bb][Ee][Gg][Ii][Nn][[:space:]]*;[[:space:]]*$/s/.*//' \
		-e '/^[[:space:]]*[Cc][Oo][Mm][Mm][Ii][Tt][[:space:]]*;[[:space:]]*$/s/.*//' \
		-e '/^[[:space:]]*[Ee][Nn][Dd][[:space:]]*;[[:space:]]*$/s/.*//' \
		-e '/^[[:space:]]*[Ss][Tt][Aa][Rr][Tt][[:space:]][[:space:]]*[Tt][Rr][Aa][Nn][Ss][Aa][Cc][Tt][Ii][Oo][Nn][[:space:]]*;[[:space:]]*$/s/.*//' \
		"$1"
}

max=
while read -r v name; do
	neutralise "$dir/$name" >"$work/$name" || die "cannot read $dir/$name"
	rc=0
	"$psql" -X -q -v ON_ERROR_STOP=1 -d "$conninfo" \
		-c 'BEGIN' -f "$work/$name" -c 'SAVEPOINT apply_psql_check' -c 'COMMIT' </dev/null || rc=$?
	case $rc in
	0) ;;
	1) die "$dir/$name (version $v) failed: psql exit status 1 (if the error" \
		"above is SAVEPOINT's, the file's own statements ended the transaction:" \
		"see the conventions at the top of $prog)" ;;
	*) die "$dir/$name (version $v) failed: psql exit status $rc" ;;
	esac
	max=$v
done <"$work/versions"

"$psql" -X -q -v ON_ERROR_STOP=1 -d "$conninfo" </dev/null -c 'BEGIN' \
	-c 'CREATE TABLE IF NOT EXISTS schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)' \
	-c 'DELETE FROM schema_migrations' \
	-c "INSERT INTO schema_migrations (version, dirty) VALUES ($max, false)" \
	-c 'COMMIT' || die "cannot write schema_migrations (version $max)"
