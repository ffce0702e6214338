# shellcheck shell=sh
# tap.sh - TAP output for the end-to-end scripts of tests/e2e (sourced).
#
#   . "$(dirname "$0")/../tools/tap.sh"
#   ok "description"                    a passing test
#   not_ok "description" [line...]      a failing one, with comment lines
#   t "description" COMMAND [ARG...]    passes when COMMAND succeeds
#   tap_done                            the plan line; fails if any test failed
#
# tests/run.sh counts the "ok " and "not ok " lines.

n=0
failed=0

ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}

not_ok() {
	n=$((n + 1))
	echo "not ok $n - $1"
	failed=$((failed + 1))
	shift
	for line in "$@"; do
		echo "#   $line"
	done
}

t() {
	t_desc=$1
	shift
	if "$@"; then ok "$t_desc"; else not_ok "$t_desc"; fi
}

tap_done() {
	echo "1..$n"
	if [ "$failed" -ne 0 ]; then
		echo "# $failed of $n tests failed"
		return 1
	fi
	return 0
}
