#!/bin/sh
# End-to-end tests of `make install` and `make uninstall`. An install of the
# already built KVMIGRATE_BUILD into a staging root (DESTDIR) with PREFIX
# /opt/kvm puts the binary (0755), the man page, the static library, every
# public header and kvmigrate.pc (0644) at their places and writes nothing
# else. The installed binary runs. The man page is the committed one and
# renders without warnings. kvmigrate.pc names PREFIX, never DESTDIR, and
# what the static library needs: a program built with
# `pkg-config --static --cflags --libs kvmigrate` against the installed
# files links and runs, and each installed header compiles on its own.
# Uninstall removes exactly those files: nothing is left, a second one
# succeeds, and a file it did not write is kept with its directory. The
# default PREFIX is /usr/local (a dry run).
#
#   KVMIGRATE=build/kvmigrate KVMIGRATE_BUILD=build sh tests/e2e/install.sh
#       (from the repo root; tests/run.sh sets both)
#
# It never builds: `make -n` must show that KVMIGRATE_BUILD is up to date,
# else it stops, because the SANITIZE and CFLAGS of that build are not
# known here. Needs make, cc and pkg-config; man (man-db) for one check,
# skipped without it. No database.
#
# Prints TAP ("ok N - ...", "not ok N - ..." with "# " diagnostics) and
# exits 1 if any test failed.

set -u

. "$(dirname "$0")/../tools/tap.sh"
. "$(dirname "$0")/../tools/check.sh"

if [ ! -f Makefile ] || [ ! -f kvmigrate.pc.in ]; then
	echo "Bail out! Makefile or kvmigrate.pc.in not found: run from the repository root"
	exit 1
fi
BUILD=${KVMIGRATE_BUILD:-$(dirname "$KVMIGRATE")}
PREFIX=/opt/kvm
MANPAGE=cmd/kvmigrate/kvmigrate.1

T=$(mktemp -d "${TMPDIR:-/tmp}/kvmt.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
DEST=$T/dest
ROOT=$DEST$PREFIX
PCDIR=$ROOT/lib/pkgconfig

# make, without what a calling make (make check) hands down in the
# environment: its flags, its jobserver and its command-line variables.
mk() {
	(
		unset MAKEFLAGS MFLAGS GNUMAKEFLAGS MAKELEVEL
		exec make "$@"
	)
}
# pkg-config on the installed kvmigrate.pc, its prefix moved below DESTDIR.
pc() {
	PKG_CONFIG_PATH=$PCDIR pkg-config --define-variable=prefix="$ROOT" "$@"
}
# The files install writes, below DESTDIR, with their modes.
expected_files() {
	{
		echo "${PREFIX#/}/bin/kvmigrate 755"
		echo "${PREFIX#/}/share/man/man1/kvmigrate.1 644"
		echo "${PREFIX#/}/lib/libkvmigrate.a 644"
		for h in include/kvm/*.h; do
			echo "${PREFIX#/}/include/kvm/${h##*/} 644"
		done
		echo "${PREFIX#/}/lib/pkgconfig/kvmigrate.pc 644"
	} | sort
}
# The files below DESTDIR (anything but directories), with their modes.
files_in_dest() {
	[ -d "$DEST" ] || return 0
	find "$DEST" ! -type d -printf '%P %m\n' | sort
}
# want_files FILE: files_in_dest lists exactly the lines of FILE.
want_files() {
	files_in_dest >"$T/got"
	cmp -s "$1" "$T/got" ||
		fail "files below DESTDIR differ (< expected, > found): $(diff "$1" "$T/got" | grep '^[<>]' | head -n 6 | tr '\n' '|')"
}

# --- install ----------------------------------------------------------------

begin "make -n install: $BUILD is up to date, nothing would be built"
runc mk -n install BUILD="$BUILD" DESTDIR="$DEST" PREFIX="$PREFIX"
want_rc 0
if grep -E -e ' -o ' -e '^ar ' -e 'embed-schema' "$T/out" >"$T/builds"; then
	fail "make would build: $(head -n 3 "$T/builds" | cut -c 1-100 | tr '\n' '|')"
fi
[ -e "$DEST" ] && fail "the dry run created $DEST"
end
if [ -n "$why" ]; then
	echo "Bail out! $BUILD is not up to date: build it first (make BUILD=$BUILD)"
	exit 1
fi

begin "make -s install BUILD=\$KVMIGRATE_BUILD DESTDIR=\$T/dest PREFIX=$PREFIX: exit 0, silent"
runc mk -s install BUILD="$BUILD" DESTDIR="$DEST" PREFIX="$PREFIX"
want_rc 0
want_out_empty
want_err_empty
end

begin "binary 0755, man page, library, headers and kvmigrate.pc 0644 below DESTDIR$PREFIX, nothing else"
expected_files >"$T/want-files"
want_files "$T/want-files"
end

begin "the installed binary, library and headers are those of $BUILD and include/kvm"
cmp -s "$BUILD/kvmigrate" "$ROOT/bin/kvmigrate" || fail "bin/kvmigrate differs from $BUILD/kvmigrate"
cmp -s "$BUILD/libkvmigrate.a" "$ROOT/lib/libkvmigrate.a" || fail "lib/libkvmigrate.a differs from $BUILD/libkvmigrate.a"
for h in include/kvm/*.h; do
	cmp -s "$h" "$ROOT/$h" || fail "$h differs from the installed one"
done
end

begin "the installed kvmigrate runs: --version prints 'kvmigrate VERSION'"
runc "$ROOT/bin/kvmigrate" --version
want_rc 0
want_err_empty
want_out_grep '^kvmigrate [0-9]+\.[0-9]+\.[0-9]+$'
version=$(sed -n '1s/^kvmigrate //p' "$T/out")
end

begin "the installed man page is the committed $MANPAGE"
cmp -s "$MANPAGE" "$ROOT/share/man/man1/kvmigrate.1" || fail "share/man/man1/kvmigrate.1 differs from $MANPAGE"
end

if command -v man >/dev/null 2>&1; then
	begin "man -l --warnings renders the installed man page with no warning"
	(
		unset MANOPT MANPATH MANPAGER PAGER
		MANWIDTH=80
		export MANWIDTH
		exec man -l --warnings "$ROOT/share/man/man1/kvmigrate.1"
	) >"$T/out" 2>"$T/err"
	rc=$?
	want_rc 0
	want_err_empty
	want_out_grep '^NAME$'
	want_out_grep '^ +kvmigrate - '
	end
else
	skip "man -l --warnings renders the installed man page with no warning" "man (man-db) is not installed"
fi

# --- kvmigrate.pc -------------------------------------------------------------

begin "kvmigrate.pc: prefix $PREFIX (not DESTDIR), the version, valid"
grep -qx "prefix=$PREFIX" "$PCDIR/kvmigrate.pc" || fail "no line 'prefix=$PREFIX'"
grep -qF "$DEST" "$PCDIR/kvmigrate.pc" && fail "it names DESTDIR ($DEST)"
got=$(PKG_CONFIG_PATH=$PCDIR pkg-config --variable=prefix kvmigrate)
[ "$got" = "$PREFIX" ] || fail "pkg-config --variable=prefix gives '$got'"
got=$(PKG_CONFIG_PATH=$PCDIR pkg-config --modversion kvmigrate)
[ "$got" = "${version:-?}" ] || fail "version '$got', the binary's is '${version:-?}'"
runc pkg-config --validate "$PCDIR/kvmigrate.pc"
want_rc 0
want_err_empty
end

begin "kvmigrate.pc names what the static library needs: lmdb, libzstd, libxxhash, msgpack, libpq, -pthread"
msgpack=$(pkg-config --exists msgpack-c && echo msgpack-c || echo msgpack)
got=$(pc --print-requires-private kvmigrate | sed 's/ .*//' | sort | tr '\n' ' ')
want=$(printf '%s\n' lmdb libzstd libxxhash "$msgpack" | sort | tr '\n' ' ')
[ "$got" = "$want" ] || fail "Requires.private: '$got', expected '$want'"
libs=" $(pc --static --libs kvmigrate) "
for l in -lkvmigrate -lpq -llmdb -lzstd -lxxhash -pthread "-L$ROOT/lib"; do
	case $libs in *" $l "*) ;; *) fail "pkg-config --static --libs lacks $l:$libs" ;; esac
done
cflags=" $(pc --cflags kvmigrate) "
case $cflags in *" -I$ROOT/include "*) ;; *) fail "pkg-config --cflags lacks -I$ROOT/include:$cflags" ;; esac
end

# The program calls the export reader too, so that the link needs what
# format/ uses (zstd, xxhash), not only the object of kvm_strerror.
begin "a program using kvm_strerror and the export reader builds with pkg-config --static --cflags --libs kvmigrate against the installed files, and runs"
cat >"$T/prog.c" <<'EOF'
#include <errno.h>
#include <stdio.h>
#include <kvm/error.h>
#include <kvm/export.h>

int main(void)
{
	const char *name = kvm_errname(KVM_ENOTEXPORT);
	const char *text = kvm_strerror(KVM_ENOTEXPORT);
	struct kvm_export_info *info;
	struct kvm_error err;

	if (name == NULL || text == NULL || text[0] == '\0')
		return 1;
	if (kvm_export_inspect("/nonexistent/x.kvm", 1, NULL, &info, &err) != ENOENT)
		return 1;
	printf("%s: %s\n", name, text);
	return 0;
}
EOF
flags=$(pc --static --cflags --libs kvmigrate) || fail "pkg-config failed"
# A library built with the sanitizers (make check-asan) needs their
# runtimes in the program that links it.
san=
if nm "$KVMIGRATE_BUILD/libkvmigrate.a" 2>/dev/null | grep -q '__asan_'; then
	san="-fsanitize=address,undefined"
fi
# Word splitting of the flags is intended.
# shellcheck disable=SC2086
runc cc -std=c11 -Wall -Wextra -Werror $san -o "$T/prog" "$T/prog.c" $flags
want_rc 0
want_err_empty
if [ "$rc" -eq 0 ]; then
	runc "$T/prog"
	want_rc 0
	want_out_grep '^KVM_ENOTEXPORT: [a-z]'
fi
end

begin "each installed header compiles on its own with the cflags of kvmigrate.pc"
cflags=$(pc --cflags kvmigrate)
for h in "$ROOT"/include/kvm/*.h; do
	printf '#include <kvm/%s>\n' "${h##*/}" >"$T/h.c"
	# shellcheck disable=SC2086
	cc -std=c11 -Wall -Wextra -Werror -fsyntax-only $cflags "$T/h.c" 2>>"$T/err" ||
		fail "kvm/${h##*/} does not compile on its own"
done
end

# --- uninstall ------------------------------------------------------------------

begin "make -s uninstall with the same variables: exit 0, silent, no file left below DESTDIR, include/kvm removed"
runc mk -s uninstall BUILD="$BUILD" DESTDIR="$DEST" PREFIX="$PREFIX"
want_rc 0
want_out_empty
want_err_empty
: >"$T/none"
want_files "$T/none"
[ -e "$ROOT/include/kvm" ] && fail "$PREFIX/include/kvm is still there"
end

begin "make uninstall a second time: exit 0, silent"
runc mk -s uninstall BUILD="$BUILD" DESTDIR="$DEST" PREFIX="$PREFIX"
want_rc 0
want_out_empty
want_err_empty
want_files "$T/none"
end

begin "make uninstall keeps a file it did not write in include/kvm, and the directory"
runc mk -s install BUILD="$BUILD" DESTDIR="$DEST" PREFIX="$PREFIX"
want_rc 0
echo '/* a local header */' >"$ROOT/include/kvm/local.h"
runc mk -s uninstall BUILD="$BUILD" DESTDIR="$DEST" PREFIX="$PREFIX"
want_rc 0
want_err_empty
echo "${PREFIX#/}/include/kvm/local.h $(stat -c %a "$ROOT/include/kvm/local.h")" >"$T/want-local"
want_files "$T/want-local"
end

# --- the default PREFIX -----------------------------------------------------------

begin "the default PREFIX is /usr/local (make -s -n install DESTDIR=..., nothing written)"
runc mk -s -n install BUILD="$BUILD" DESTDIR="$T/dry"
want_rc 0
grep -qF "$T/dry/usr/local/bin/kvmigrate" "$T/out" || fail "the dry run does not install to DESTDIR/usr/local/bin/kvmigrate"
grep -qF "$T/dry/usr/local/lib/pkgconfig" "$T/out" || fail "the dry run does not install to DESTDIR/usr/local/lib/pkgconfig"
[ -e "$T/dry" ] && fail "the dry run created $T/dry"
end

tap_done
