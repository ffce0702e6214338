# shellcheck shell=sh
# check.sh - the checks of the end-to-end scripts of tests/e2e (sourced,
# after tap.sh). They use $T, the script's temporary directory, and
# $KVMIGRATE, the binary under test.
#
#   . "$(dirname "$0")/../tools/check.sh"
#
# A check is begin, commands and want_* lines, then end: one TAP test, which
# passes when nothing in it called fail.
#
#   begin "description"            start a check: no failure, rc=-1, $T/out and $T/err empty
#   fail "message"                 record a failure of the current check
#   end                            ok, or not ok with the failures and the first 12 lines of stderr
#   skip "description" "reason"    a test not run: "ok N - description # SKIP reason"
#   runc CMD [ARG...]              run a command: status in $rc, stdout in $T/out, stderr in $T/err
#   run ARG...                     runc "$KVMIGRATE" ARG...
#   run_env "VAR=VALUE ..." ARG... run kvmigrate with these variables exported (no blanks in them)
#   pycheck MODE ARG...            run "$PY" "$T/check.py" MODE ARG...; when it fails, its output is a failure
#   want_rc N                      the exit status is N
#   want_out_empty                 stdout is empty
#   want_err_empty                 stderr is empty
#   want_err_exact LINE...         stderr is exactly these lines
#   want_out_line N LINE           line N of stdout is LINE
#   want_err_line N LINE           line N of stderr is LINE
#   want_out_grep ERE              some line of stdout matches ERE
#   want_err_grep ERE              some line of stderr matches ERE
#   want_err_no_grep ERE           no line of stderr matches ERE
#   want_err_has TEXT              stderr holds TEXT (a fixed string)
#   want_err_lines N               stderr has N lines
#   want_error                     stderr is one "kvmigrate: error: " line, then one "hint: " line
#   want_usage_error MSG USAGE     exit 2, stdout empty, stderr "kvmigrate: error: MSG" then "usage: USAGE"
#
# Sourcing it bails out unless KVMIGRATE is set, unsets the variables
# kvmigrate reads (so that the caller's environment does not count), sets
# LC_ALL=C and PY=/usr/bin/python3, and makes INT and TERM exit (130, 143)
# so that the script's EXIT trap runs.

if [ -z "${KVMIGRATE:-}" ]; then
	echo "Bail out! set KVMIGRATE to the kvmigrate binary"
	exit 1
fi
unset KVMIGRATE_DB KVMIGRATE_KV KVMIGRATE_KV_ENABLED KVMIGRATE_CONNECT_RETRY
LC_ALL=C
export LC_ALL
PY=/usr/bin/python3
trap 'exit 130' INT
trap 'exit 143' TERM

desc=
why=
rc=-1

begin() {
	desc=$1
	why=
	rc=-1
	: >"$T/out"
	: >"$T/err"
}

fail() {
	why="$why
$1"
}

end() {
	if [ -z "$why" ]; then
		ok "$desc"
		return
	fi
	not_ok "$desc"
	printf '%s\n' "$why" | sed -e '/^$/d' -e 's/^/#   /'
	if [ -s "$T/err" ]; then
		echo "#   stderr was:"
		head -n 12 "$T/err" | cat -v | sed 's/^/#     /'
	fi
}

skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}

runc() {
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
}

run() {
	runc "$KVMIGRATE" "$@"
}

run_env() {
	vars=$1
	shift
	(
		for v in $vars; do
			export "${v?}"
		done
		exec "$KVMIGRATE" "$@"
	) >"$T/out" 2>"$T/err"
	rc=$?
}

pycheck() {
	msg=$("$PY" "$T/check.py" "$@" 2>&1) || fail "${msg:-check.py $1 failed}"
}

# only_files DIR NAME...: DIR holds exactly these names (hidden ones too)
only_files() {
	d=$1
	shift
	want=
	[ $# -eq 0 ] || want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
	# shellcheck disable=SC2012 # names made by the tool and the test
	got=$(ls -A "$d" | sort | tr '\n' ' ')
	[ "$got" = "$want" ] || fail "$d holds '$got', expected '$want'"
}

want_rc() {
	[ "$rc" -eq "$1" ] || fail "exit status $rc, expected $1"
}

want_out_empty() {
	[ -s "$T/out" ] && fail "stdout not empty: $(head -c 200 "$T/out")"
	:
}

want_err_empty() {
	[ -s "$T/err" ] && fail "stderr not empty"
	:
}

want_err_exact() {
	printf '%s\n' "$@" >"$T/want"
	cmp -s "$T/want" "$T/err" || fail "stderr differs: $(diff "$T/want" "$T/err" | sed -n '2,6p' | tr '\n' '|')"
}

want_out_line() {
	got=$(sed -n "$1p" "$T/out")
	[ "$got" = "$2" ] || fail "stdout line $1 is '$got', expected '$2'"
}

want_err_line() {
	got=$(sed -n "$1p" "$T/err")
	[ "$got" = "$2" ] || fail "stderr line $1 is '$got', expected '$2'"
}

want_out_grep() {
	grep -Eq -e "$1" "$T/out" || fail "no line of stdout matches /$1/"
}

want_err_grep() {
	grep -Eq -e "$1" "$T/err" || fail "no line of stderr matches /$1/"
}

want_err_no_grep() {
	grep -Eq -e "$1" "$T/err" && fail "a line of stderr matches /$1/"
	:
}

want_err_has() {
	grep -Fq -e "$1" "$T/err" || fail "stderr lacks '$1'"
}

want_err_lines() {
	got=$(wc -l <"$T/err")
	[ "$got" -eq "$1" ] || fail "stderr has $got lines, expected $1"
}

# want_error: stderr holds an error line and a hint line, besides the plain
# progress lines ("progress: ...") of the work done before the failure
want_error() {
	grep -v '^progress: ' "$T/err" >"$T/err.noprogress"
	got=$(wc -l <"$T/err.noprogress")
	[ "$got" -eq 2 ] || fail "stderr has $got lines besides progress lines, expected 2"
	sed -n 1p "$T/err.noprogress" | grep -q '^kvmigrate: error: ' || fail "stderr line 1 is not 'kvmigrate: error: ...'"
	sed -n 2p "$T/err.noprogress" | grep -q '^hint: ' || fail "stderr line 2 is not 'hint: ...'"
}

want_usage_error() {
	want_rc 2
	want_out_empty
	want_err_exact "kvmigrate: error: $1" "usage: $2"
}
