#!/bin/sh
# deps.sh - install the Debian packages kvmigrate needs to build and test.
#
#   sh tests/tools/deps.sh
#
# The Makefile runs this before every build, so the common case (everything
# is installed) must be fast and silent: one dpkg-query call and nothing
# printed. Only when a package is missing does it run apt-get, as root
# directly or through "sudo -n" (never prompting); otherwise it fails with
# the command to run by hand.
set -eu

# Keep in one place; README.md and design/testing.md refer to this list.
PACKAGES="build-essential pkg-config libpq-dev liblmdb-dev lmdb-utils
libmsgpack-dev libzstd-dev libxxhash-dev zstd libcmocka-dev postgresql clang
libclang-rt-14-dev python3 python3-msgpack python3-xxhash util-linux procps
strace"

# Word splitting of $PACKAGES is intended from here on.
# shellcheck disable=SC2086
set -- $PACKAGES

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps: dpkg-query not found: this is not a Debian-like system;" \
		"install the equivalents of these Debian packages by hand: $*" >&2
	exit 1
fi

# dpkg-query exits non-zero when one of the names is unknown to dpkg; the
# status lines of the known ones are still printed, which is all we need.
status=$(dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null || true)
missing=$(printf '%s\n' "$status" | awk -v want="$*" '
	$2 == "install" && $3 == "ok" && $4 == "installed" { ok[$1] = 1 }
	END {
		n = split(want, w, " ")
		sep = ""
		for (i = 1; i <= n; i++)
			if (!(w[i] in ok)) { printf "%s%s", sep, w[i]; sep = " " }
	}')

[ -z "$missing" ] && exit 0

install_cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing"

if [ "$(id -u)" -eq 0 ]; then
	as_root=
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
	as_root="sudo -n"
else
	echo "deps: missing Debian packages: $missing; install them as root with: $install_cmd" >&2
	exit 1
fi

echo "deps: installing missing Debian packages: $missing" >&2
# shellcheck disable=SC2086
$as_root apt-get update >&2
# shellcheck disable=SC2086
$as_root env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y --no-install-recommends $missing >&2
echo "deps: installed: $missing" >&2
