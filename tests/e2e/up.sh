#!/bin/sh
# End-to-end tests of `kvmigrate up` without the KV flag, against the
# cluster of tests/tools/pg-harness.sh: the built-in schema and
# --schema-dir, --dry-run, what is printed, the version table, errors
# (dirty, too new, unknown version, a failing version file), the migration
# lock (its key, waiting for it, two runs at once), where the database comes
# from, connection retries, and that a password never shows.
#
#   KVMIGRATE=build/kvmigrate sh tests/e2e/up.sh     (from the repo root)
#
# Environment (from the harness): KVMIGRATE_TEST_DB (unix socket, trust),
# KVMIGRATE_TEST_DB_TCP (127.0.0.1, password), KVMIGRATE_TEST_PGBIN (psql).
# Each check that needs a database gets a fresh one, kvmt_up_PID_N, dropped
# at exit.
#
# Prints TAP ("ok N - ...", "not ok N - ..." with "# " diagnostics) and
# exits 1 if any test failed.

set -u

. "$(dirname "$0")/../tools/tap.sh"
. "$(dirname "$0")/../tools/check.sh"
. "$(dirname "$0")/../tools/e2e-db.sh"
if [ -z "${KVMIGRATE_TEST_DB_TCP:-}" ]; then
	echo "Bail out! KVMIGRATE_TEST_DB_TCP is not set: run inside tests/tools/pg-harness.sh"
	exit 1
fi
SCHEMA=pkg-migrators/schema
if [ ! -d "$SCHEMA" ]; then
	echo "Bail out! $SCHEMA not found: run from the repository root"
	exit 1
fi
PW=S3cr3t-Pw-42
KVSKIP="KV migration skipped: the KV flag is off (--kv-enabled or KVMIGRATE_KV_ENABLED=1 turns it on)"
dbprefix=kvmt_up

T=$(mktemp -d "${TMPDIR:-/tmp}/kvmt.XXXXXX") || exit 1
trap 'cleanup; rm -rf "$T"' EXIT

# --- helpers ------------------------------------------------------------------

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# timed ARG...: run kvmigrate; the time it took in $ms
timed() {
	t0=$(now_ms)
	run "$@"
	ms=$(($(now_ms) - t0))
}

# want_no_password: the password appears neither on stdout nor on stderr
want_no_password() {
	if grep -Fq -e "$PW" "$T/out" "$T/err"; then
		fail "the password $PW appears in the output"
	fi
	:
}

# write FILE TEXT: TEXT with printf escapes, into FILE
write() {
	# shellcheck disable=SC2059  # TEXT holds the escapes on purpose
	printf "$2" >"$1"
}

cat >"$T/check.py" <<'EOF'
import json, os, re, sys, zlib

def fail(msg):
    print(msg)
    sys.exit(1)

def versions(d):
    """The .up.sql files of a schema directory: [(version, name)], sorted."""
    out = []
    for name in os.listdir(d):
        m = re.fullmatch(r"([0-9]+)_.+\.up\.sql", name)
        if m:
            out.append((int(m.group(1)), name))
    return sorted(out)

def lines(err, kind, d, since, counts):
    """stderr of `up` (kind applied) or `up --dry-run` (kind would), from
    version `since` (0: no version) with the schema directory d. A dry run
    writes the statement counts to the file counts; a real run compares its
    counts with them."""
    got = open(err, encoding="utf-8").read().split("\n")
    if got[-1] != "":
        fail("stderr does not end with a newline")
    got = got[:-1]
    since = int(since)
    todo = [(v, n) for v, n in versions(d) if v > since]
    if not todo:
        fail("no versions to expect in %s" % d)
    if len(got) != len(todo) + (2 if kind == "applied" else 1):
        fail("%d lines on stderr, expected %d" % (len(got), len(todo) + (2 if kind == "applied" else 1)))
    seen = {}
    for (v, name), line in zip(todo, got):
        if kind == "applied":
            pat = r"applied version %d  %s  \(([0-9]+) statements?, [0-9]+ ms\)" % (v, re.escape(name))
        else:
            pat = r"would apply version %d  %s  \(([0-9]+) statements?\)" % (v, re.escape(name))
        m = re.fullmatch(pat, line)
        if not m:
            fail("line %r does not match /%s/" % (line, pat))
        k = int(m.group(1))
        if (k == 1) != (" statement," in line or " statement)" in line):
            fail("line %r: singular and plural mixed up" % line)
        seen[v] = k
    rest = got[len(todo):]
    last, n = todo[-1][0], len(todo)
    prev = "no version" if since == 0 else "version %d" % since
    if kind == "applied":
        pat = r"schema at version %d \(previously %s\): %d versions? applied in [0-9]+ ms" % (last, prev, n)
        if not re.fullmatch(pat, rest[0]):
            fail("summary %r does not match /%s/" % (rest[0], pat))
        if rest[1] != os.environ["KVSKIP"]:
            fail("last line %r" % rest[1])
        if counts != "-":
            want = json.load(open(counts))
            if any(want.get(str(k)) != v for k, v in seen.items()):
                fail("statement counts %r differ from the dry run's %r" % (seen, want))
    else:
        if not (rest[0].startswith("dry run: ") and rest[0].endswith("; nothing was changed")
                and str(n) in rest[0] and str(last) in rest[0]):
            fail("last line %r" % rest[0])
        if counts != "-":
            json.dump({str(k): v for k, v in seen.items()}, open(counts, "w"))

def lockkey(out, dbname):
    """status --json's lock.key is golang-migrate's advisory lock id."""
    try:
        d = json.loads(open(out, "rb").read().decode("utf-8"))
    except ValueError as e:
        fail("not one JSON value: %s" % e)
    name = b"\0".join([b"public", b"schema_migrations", dbname.encode()])
    want = (zlib.crc32(name) * 1486364155) & 0xffffffff
    got = d.get("lock", {}).get("key")
    if got != want:
        fail("lock.key %r, expected %d (crc32 of %r times 1486364155)" % (got, want, name))
    print(want)

def lock(out, app):
    """status --json during a run: the lock is held by application_name app."""
    d = json.loads(open(out, "rb").read().decode("utf-8"))
    l = d.get("lock")
    if not isinstance(l, dict) or l.get("held") is not True:
        fail("lock %r is not held" % l)
    h = l.get("holder")
    if not isinstance(h, dict) or h.get("application_name") != app or \
       not isinstance(h.get("pid"), int) or isinstance(h.get("pid"), bool):
        fail("lock.holder %r, expected application_name %r and a pid" % (h, app))

def statuserr(out):
    d = json.loads(open(out, "rb").read().decode("utf-8"))
    e = d.get("error")
    if d.get("ok") is not False or not isinstance(e, dict) or \
       e.get("name") != "KVM_ECONNECT" or not isinstance(e.get("message"), str) or \
       not isinstance(e.get("code"), int):
        fail("not an ok:false KVM_ECONNECT object: %r" % d)

def racers(e1, e2, n):
    """Two runs at once: one applied n versions, the other found it done."""
    a, b = (open(p, encoding="utf-8").read().split("\n")[:-1] for p in (e1, e2))
    if sum(l.startswith("applied version ") for l in b) == int(n):
        a, b = b, a
    if sum(l.startswith("applied version ") for l in a) != int(n):
        fail("neither run applied %s versions" % n)
    uptodate = "schema up to date at version %s; %s" % (n, os.environ["KVSKIP"])
    for l in b[:-1]:
        if not l.startswith("kvmigrate: waiting up to "):
            fail("the other run printed %r" % l)
    if not b or b[-1] != uptodate:
        fail("the other run did not end with %r: %r" % (uptodate, b))

mode, args = sys.argv[1], sys.argv[2:]
{"lines": lines, "lockkey": lockkey, "lock": lock, "statuserr": statuserr,
 "racers": racers}[mode](*args)
EOF
export KVSKIP

# A closed port on 127.0.0.1 and the cluster's TCP port.
TCP_PORT=$(printf '%s\n' "$KVMIGRATE_TEST_DB_TCP" | sed -n 's/.*port=\([0-9][0-9]*\).*/\1/p')
SOCK_HOST=$(printf '%s\n' "$KVMIGRATE_TEST_DB" | sed -n 's/.*host=\([^ ]*\).*/\1/p')
SOCK_PORT=$(printf '%s\n' "$KVMIGRATE_TEST_DB" | sed -n 's/.*port=\([0-9][0-9]*\).*/\1/p')

# --- the built-in schema ----------------------------------------------------

begin "up --dry-run on a fresh database: the 8 built-in versions, nothing changed"
newdb
fresh=$db
run up --db "$(conn "$fresh")" --dry-run
want_rc 0
want_out_empty
pycheck lines "$T/err" would "$SCHEMA" 0 "$T/counts"
got=$(sql "$fresh" "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
[ "$got" = 0 ] || fail "$got tables in public after a dry run (no schema_migrations expected)"
end

begin "up on a fresh database: exit 0, stdout empty, one line per version, summary, KV skipped"
run up --db "$(conn "$fresh")"
want_rc 0
want_out_empty
pycheck lines "$T/err" applied "$SCHEMA" 0 "$T/counts"
end

begin "up: schema_migrations holds one row, version 8, clean; the tables exist"
want_row "$fresh" "8|f"
got=$(sql "$fresh" "SELECT count(*) FROM information_schema.columns WHERE table_name = 'schema_migrations' AND ((column_name = 'version' AND data_type = 'bigint') OR (column_name = 'dirty' AND data_type = 'boolean'))")
[ "$got" = 2 ] || fail "schema_migrations is not (version bigint, dirty boolean): $got matching columns"
want_missing "$fresh" auth_users f
want_missing "$fresh" graveler_staging_kv f
want_missing "$fresh" gateway_multiparts f
end

begin "up again: exit 0, the one 'up to date' line"
run up --db "$(conn "$fresh")"
want_rc 0
want_out_empty
want_err_lines 1
want_err_line 1 "schema up to date at version 8; $KVSKIP"
want_row "$fresh" "8|f"
end

begin "up --dry-run when up to date: exit 0, says so, changes nothing"
run up --db "$(conn "$fresh")" --dry-run
want_rc 0
want_out_empty
want_err_lines 1
want_err_grep '^dry run: .*up to date at version 8'
want_row "$fresh" "8|f"
end

begin "up from version 3: applies 4 to 8, 'previously version 3'"
newdb
mkdir "$T/first3"
cp "$SCHEMA"/000001_*.up.sql "$SCHEMA"/000002_*.up.sql "$SCHEMA"/000003_*.up.sql "$T/first3/"
run up --db "$(conn "$db")" --schema-dir "$T/first3"
[ "$rc" -eq 0 ] || fail "up --schema-dir with the first 3 versions: exit status $rc"
want_row "$db" "3|f"
run up --db "$(conn "$db")"
want_rc 0
want_out_empty
pycheck lines "$T/err" applied "$SCHEMA" 3 "$T/counts"
want_row "$db" "8|f"
end

# --- the KV path and the KV flag ------------------------------------------

begin "up --kv PATH without the KV flag: applies the versions, creates nothing at PATH"
newdb
run up --db "$(conn "$db")" --kv "$T/kv1"
want_rc 0
want_out_empty
want_err_lines 10
want_err_line 10 "$KVSKIP"
want_row "$db" "8|f"
[ -e "$T/kv1" ] && fail "$T/kv1 was created"
[ -e "$T/kv1-lock" ] && fail "$T/kv1-lock was created"
end

begin "KVMIGRATE_KV=PATH without the KV flag: nothing at PATH (up to date)"
runc env KVMIGRATE_KV="$T/kv2" "$KVMIGRATE" up --db "$(conn "$db")"
want_rc 0
want_err_line 1 "schema up to date at version 8; $KVSKIP"
[ -e "$T/kv2" ] && fail "$T/kv2 was created"
[ -e "$T/kv2-lock" ] && fail "$T/kv2-lock was created"
end

begin "up --kv-enabled --kv PATH on an empty database: the versions, then the KV migration of empty tables"
newdb
kvdb=$db
run up --db "$(conn "$kvdb")" --kv-enabled --kv "$T/kv3"
want_rc 0
want_out_empty
want_err_has "KV migration done: 0 records exported"
want_row "$kvdb" "9|f"
[ -s "$T/kv3" ] || fail "$T/kv3 was not created"
[ -e "$T/kv3-lock" ] && fail "$T/kv3-lock was created"
for f in "$T"/.kv3.*; do [ -e "$f" ] && fail "a temporary file was left: $f"; done
:
end

begin "KVMIGRATE_KV_ENABLED=1 with --kv PATH: the same; a second run has nothing to do"
newdb
kvdb2=$db
runc env KVMIGRATE_KV_ENABLED=1 "$KVMIGRATE" up --db "$(conn "$kvdb2")" --kv "$T/kv4"
want_rc 0
want_err_has "KV migration done"
want_row "$kvdb2" "9|f"
cksum <"$T/kv4" >"$T/kv4.sum"
runc env KVMIGRATE_KV_ENABLED=1 "$KVMIGRATE" up --db "$(conn "$kvdb2")" --kv "$T/kv4"
want_rc 0
want_err_has "already migrated"
cksum <"$T/kv4" | cmp -s - "$T/kv4.sum" || fail "the second run changed $T/kv4"
end

# --- the version table's states ---------------------------------------------

begin "at the KV migration version 9: exit 0, one 'already migrated' line"
newdb
vdb=$db
run up --db "$(conn "$vdb")"
sql "$vdb" "UPDATE schema_migrations SET version = 9" >/dev/null
run up --db "$(conn "$vdb")"
want_rc 0
want_out_empty
want_err_lines 1
want_err_grep '^already migrated: '
want_row "$vdb" "9|f"
end

begin "dirty at version 8: exit 1, names the state and the UPDATE to run, row unchanged"
sql "$vdb" "UPDATE schema_migrations SET version = 8, dirty = true" >/dev/null
run up --db "$(conn "$vdb")"
want_rc 1
want_out_empty
want_error
want_err_has "dirty at version 8"
want_err_has "SET dirty = false"
want_err_grep 'UPDATE .*schema_migrations.* SET '
want_row "$vdb" "8|t"
end

begin "version 12: exit 1, newer than this kvmigrate knows (8 and 9), row unchanged"
sql "$vdb" "UPDATE schema_migrations SET version = 12, dirty = false" >/dev/null
run up --db "$(conn "$vdb")"
want_rc 1
want_out_empty
want_error
want_err_has "version 12"
want_err_has "newer than this kvmigrate knows"
want_err_grep 'last SQL version is 8'
want_err_grep 'KV migration version 9'
want_row "$vdb" "12|f"
end

begin "a version the schema directory does not have: exit 1, row unchanged"
mkdir "$T/gap"
for v in 1 2 3 10; do
	write "$T/gap/$(printf %06d "$v")_v$v.up.sql" 'SELECT 1;\n'
done
sql "$vdb" "UPDATE schema_migrations SET version = 5" >/dev/null
run up --db "$(conn "$vdb")" --schema-dir "$T/gap"
want_rc 1
want_out_empty
want_error
want_err_grep 'version 5, which .* does not have'
want_row "$vdb" "5|f"
end

# --- --schema-dir: failing versions ---------------------------------------

mkdir "$T/sd"
write "$T/sd/000001_a.up.sql" 'CREATE TABLE t1 (x int);\n'
write "$T/sd/000001_a.down.sql" 'DROP TABLE t1;\n'
write "$T/sd/000002_b.up.sql" 'CREATE TABLE t2 (x int);\nINSERT INTO nosuch VALUES (1);\n'
write "$T/sd/000002_b.down.sql" 'this is not SQL\n'
write "$T/sd/README" 'not a version\n'

begin "a failing version: exit 1, file, line 2 and the server's error; version 1 stays"
newdb
sdb=$db
run up --db "$(conn "$sdb")" --schema-dir "$T/sd"
want_rc 1
want_out_empty
want_err_lines 3
want_err_grep '^applied version 1  000001_a\.up\.sql  \(1 statement, [0-9]+ ms\)$'
want_err_grep "^kvmigrate: error: .*'000002_b\\.up\\.sql'"
want_err_grep '^kvmigrate: error: .*line 2[^0-9]'
want_err_has 'relation "nosuch" does not exist'
want_err_grep '^hint: '
end

begin "after the failure: schema_migrations is (1, false), t1 exists, t2 does not"
want_row "$sdb" "1|f"
want_missing "$sdb" t1 f
want_missing "$sdb" t2 t
end

begin "a failing file with BEGIN/COMMIT inside: the COMMIT is neutralised, nothing stays"
write "$T/sd/000002_b.up.sql" 'BEGIN;\nCREATE TABLE t3(x int);\nCOMMIT;\nCREATE TABLE t4(x int);\nSELECT 1/0;\n'
run up --db "$(conn "$sdb")" --schema-dir "$T/sd"
want_rc 1
want_out_empty
want_error
want_err_has "'000002_b.up.sql'"
want_err_has "division by zero"
want_row "$sdb" "1|f"
want_missing "$sdb" t3 t
want_missing "$sdb" t4 t
end

begin "a good file with BEGIN/COMMIT: applied, the skipped statements counted"
write "$T/sd/000002_b.up.sql" 'BEGIN;\nCREATE TABLE t3(x int);\nCOMMIT;\n'
run up --db "$(conn "$sdb")" --schema-dir "$T/sd"
want_rc 0
want_out_empty
want_err_lines 3
want_err_grep '^applied version 2  000002_b\.up\.sql  \(1 statement, [0-9]+ ms; 2 transaction-control statements skipped\)$'
want_err_grep '^schema at version 2 \(previously version 1\): 1 version applied in [0-9]+ ms$'
want_err_line 3 "$KVSKIP"
want_row "$sdb" "2|f"
want_missing "$sdb" t3 f
end

begin "a file with ROLLBACK is refused before any pending version runs"
write "$T/sd/000003_c.up.sql" 'CREATE TABLE t6(x int);\n'
write "$T/sd/000004_d.up.sql" 'CREATE TABLE t5(x int);\nROLLBACK;\n'
run up --db "$(conn "$sdb")" --schema-dir "$T/sd"
want_rc 1
want_out_empty
want_error
want_err_grep "^kvmigrate: error: .*'000004_d\\.up\\.sql' line 2.*[Rr][Oo][Ll][Ll][Bb][Aa][Cc][Kk]"
want_err_grep "^hint: nothing was changed"
want_row "$sdb" "2|f"
want_missing "$sdb" t5 t
want_missing "$sdb" t6 t
end

begin "up --dry-run finds the ROLLBACK too and changes nothing"
run up --db "$(conn "$sdb")" --schema-dir "$T/sd" --dry-run
want_rc 1
want_out_empty
want_err_grep '[Rr][Oo][Ll][Ll][Bb][Aa][Cc][Kk]'
want_row "$sdb" "2|f"
want_missing "$sdb" t5 t
end

# --- the migration lock -------------------------------------------------------

begin "the lock key of status --json is golang-migrate's (crc32 with python's zlib)"
newdb
ldb=$db
run status --json --db "$(conn "$ldb")"
want_rc 0
key=
if [ "$rc" -eq 0 ]; then
	key=$("$PY" "$T/check.py" lockkey "$T/out" "$ldb" 2>&1) || {
		fail "$key"
		key=
	}
fi
end

# holder_pid APP: the pid of the session named APP once it holds an advisory
# lock (waits up to 5 s)
holder_pid() {
	i=0
	while [ $i -lt 50 ]; do
		p=$(sql "$ldb" "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid WHERE a.application_name = '$1' AND l.locktype = 'advisory' AND l.granted")
		case $p in
		'' | *[!0-9]*) ;;
		*) echo "$p"; return 0 ;;
		esac
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

hpid=
if [ -n "$key" ]; then
	psql -X -q -d "$(conn "$ldb")" -c "SET application_name = 'holder-test'" \
		-c "SELECT pg_advisory_lock($key), pg_sleep(4)" >/dev/null 2>&1 &
	holder=$!
	bgpids="$bgpids $holder"
	hpid=$(holder_pid holder-test) || hpid=
fi

begin "lock held by another session: --lock-wait 1 exits 3 naming its pid and application_name"
if [ -z "$hpid" ]; then
	fail "no holder-test session holding the lock (key '$key')"
else
	timed up --db "$(conn "$ldb")" --lock-wait 1
	want_rc 3
	want_out_empty
	want_err_grep "^kvmigrate: error: .*pid ${hpid}[^0-9].*'holder-test'"
	want_err_grep '^hint: '
	[ "$ms" -ge 900 ] || fail "gave up after $ms ms, before the 1 s"
	want_missing "$ldb" schema_migrations t
fi
end

begin "--lock-wait 10: waits for the holder, then applies the versions"
if [ -z "$hpid" ]; then
	fail "no holder-test session holding the lock"
else
	timed up --db "$(conn "$ldb")" --lock-wait 10
	want_rc 0
	want_out_empty
	want_err_grep '^kvmigrate: waiting up to 10 s for the migration lock'
	want_err_grep "waiting .*pid ${hpid}[^0-9]"
	want_err_grep '^schema at version 8 \(previously no version\): 8 versions applied in [0-9]+ ms$'
	want_row "$ldb" "8|f"
	[ "$ms" -ge 1000 ] || fail "took $ms ms: did it wait?"
	wait "$holder"
fi
end

begin "two up runs at once on a fresh database: one applies, the other finds it done"
newdb
run2=$db
"$KVMIGRATE" up --db "$(conn "$run2")" >"$T/o1" 2>"$T/e1" &
p1=$!
"$KVMIGRATE" up --db "$(conn "$run2")" >"$T/o2" 2>"$T/e2" &
p2=$!
wait "$p1"
rc1=$?
wait "$p2"
rc2=$?
if [ "$rc1" -ne 0 ] || [ "$rc2" -ne 0 ]; then
	fail "exit statuses $rc1 and $rc2, expected 0 and 0"
fi
if [ -s "$T/o1" ] || [ -s "$T/o2" ]; then
	fail "stdout not empty"
fi
pycheck racers "$T/e1" "$T/e2" 8
want_row "$run2" "8|f"
cat "$T/e1" "$T/e2" >"$T/err"
end

begin "up killed with SIGKILL inside a version: rolled back, lock released, next up applies it"
newdb
kdb=$db
mkdir "$T/kill"
write "$T/kill/000001_a.up.sql" 'CREATE TABLE k1(x int);\n'
write "$T/kill/000002_b.up.sql" 'CREATE TABLE k2(x int);\nSELECT pg_sleep(60);\n'
"$KVMIGRATE" up --db "$(conn "$kdb")" --schema-dir "$T/kill" >"$T/ko" 2>"$T/ke" &
kpid=$!
bgpids="$bgpids $kpid"
i=0
until [ "$(query "$(conn "$kdb")" "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kvmigrate' AND query LIKE '%pg_sleep%'")" = 1 ]; do
	i=$((i + 1))
	[ "$i" -lt 200 ] || break
	sleep 0.05
done
kill -9 "$kpid"
wait "$kpid" 2>/dev/null
# the server notices the dead client within about a second
i=0
until [ "$(query "$(conn "$kdb")" "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kvmigrate'")" = 0 ]; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || break
	sleep 0.1
done
[ "$i" -lt 100 ] || fail "the killed run's session is still there after 10 s"
want_row "$kdb" "1|f"
want_missing "$kdb" k1 f
want_missing "$kdb" k2 t
write "$T/kill/000002_b.up.sql" 'CREATE TABLE k2(x int);\n'
run up --db "$(conn "$kdb")" --schema-dir "$T/kill" --lock-wait 0
want_rc 0
want_row "$kdb" "2|f"
want_missing "$kdb" k2 f
end

begin "two runs at once with a slow version: status sees the lock held by kvmigrate"
newdb
run3=$db
mkdir "$T/slow"
cp "$SCHEMA"/*.up.sql "$T/slow/"
write "$T/slow/000009_slow.up.sql" 'SELECT pg_sleep(2);\n'
"$KVMIGRATE" up --db "$(conn "$run3")" --schema-dir "$T/slow" >"$T/o1" 2>"$T/e1" &
p1=$!
"$KVMIGRATE" up --db "$(conn "$run3")" --schema-dir "$T/slow" >"$T/o2" 2>"$T/e2" &
p2=$!
sleep 1
run status --json --db "$(conn "$run3")" --schema-dir "$T/slow"
want_rc 0
pycheck lock "$T/out" kvmigrate
wait "$p1"
rc1=$?
wait "$p2"
rc2=$?
if [ "$rc1" -ne 0 ] || [ "$rc2" -ne 0 ]; then
	fail "exit statuses $rc1 and $rc2, expected 0 and 0"
fi
if [ -s "$T/o1" ] || [ -s "$T/o2" ]; then
	fail "stdout not empty"
fi
pycheck racers "$T/e1" "$T/e2" 9
grep -q '^kvmigrate: waiting up to ' "$T/e1" "$T/e2" || fail "no run waited for the lock"
want_row "$run3" "9|f"
cat "$T/e1" "$T/e2" >"$T/err"
end

# --- where the database comes from ------------------------------------------

newdb
dbA=$db
newdb
dbB=$db
newdb
dbC=$db

begin "--db beats KVMIGRATE_DB"
runc env KVMIGRATE_DB="$(conn "$dbA")" "$KVMIGRATE" up --db "$(conn "$dbB")"
want_rc 0
want_row "$dbB" "8|f"
want_missing "$dbA" schema_migrations t
end

begin "KVMIGRATE_DB beats the PG* variables"
runc env KVMIGRATE_DB="$(conn "$dbA")" PGHOST="$SOCK_HOST" PGPORT="$SOCK_PORT" \
	PGUSER=kvmigrate PGDATABASE="$dbC" "$KVMIGRATE" up
want_rc 0
want_row "$dbA" "8|f"
want_missing "$dbC" schema_migrations t
end

begin "neither: libpq's PGHOST, PGPORT, PGUSER and PGDATABASE"
runc env PGHOST="$SOCK_HOST" PGPORT="$SOCK_PORT" PGUSER=kvmigrate PGDATABASE="$dbC" \
	"$KVMIGRATE" up
want_rc 0
want_row "$dbC" "8|f"
end

# --- passwords and connection retries -----------------------------------------

URI="postgresql://kvmigrate:$PW@127.0.0.1:$TCP_PORT/postgres"

begin "a wrong password in a URI: exit 1, the password appears nowhere"
[ -n "$TCP_PORT" ] || fail "no port in KVMIGRATE_TEST_DB_TCP"
run up --db "$URI"
want_rc 1
want_out_empty
want_error
want_err_has "password authentication failed"
want_no_password
end

begin "status --json with that URI: ok false, the password appears nowhere"
run status --json --db "$URI"
want_rc 1
pycheck statuserr "$T/out"
want_no_password
end

begin "an unparsable URI with a password: exit 1, the password appears nowhere"
run up --db "postgresql://u:$PW@[::1/x"
want_rc 1
want_out_empty
want_err_grep '^kvmigrate: error: '
want_no_password
run status --json --db "postgresql://u:$PW@[::1/x"
want_rc 1
pycheck statuserr "$T/out"
want_no_password
end

begin "keyword form with a password, closed port, KVMIGRATE_CONNECT_RETRY=1: retried, no password"
runc env KVMIGRATE_CONNECT_RETRY=1 "$KVMIGRATE" up --db "password=$PW host=127.0.0.1 port=1"
want_rc 1
want_out_empty
want_err_grep '^kvmigrate: cannot connect yet \(attempt 1\)'
want_err_grep '^kvmigrate: error: '
want_no_password
end

begin "KVMIGRATE_CONNECT_RETRY=2 on a closed port: retries for at least 1 s, then names the attempts"
t0=$(now_ms)
runc env KVMIGRATE_CONNECT_RETRY=2 "$KVMIGRATE" up --db "host=127.0.0.1 port=1 user=kvmigrate dbname=postgres"
ms=$(($(now_ms) - t0))
want_rc 1
want_out_empty
want_err_grep '^kvmigrate: cannot connect yet \(attempt 1\)'
want_err_grep '^kvmigrate: cannot connect yet \(attempt 2\)'
want_err_grep '^kvmigrate: error: .*\([0-9]+ attempts in [0-9.]+ s\)'
want_err_grep '^hint: '
[ "$ms" -ge 1000 ] || fail "gave up after $ms ms"
[ "$ms" -le 5000 ] || fail "took $ms ms for a 2 s budget"
end

begin "KVMIGRATE_CONNECT_RETRY=0: a single attempt"
t0=$(now_ms)
runc env KVMIGRATE_CONNECT_RETRY=0 "$KVMIGRATE" up --db "host=127.0.0.1 port=1 user=kvmigrate dbname=postgres"
ms=$(($(now_ms) - t0))
want_rc 1
want_out_empty
want_error
want_err_no_grep 'cannot connect yet'
want_err_no_grep 'attempts'
[ "$ms" -le 900 ] || fail "took $ms ms"
end

begin "a wrong password fails at once, even with KVMIGRATE_CONNECT_RETRY=20"
t0=$(now_ms)
runc env KVMIGRATE_CONNECT_RETRY=20 "$KVMIGRATE" up --db "$KVMIGRATE_TEST_DB_TCP password=wrong-$PW"
ms=$(($(now_ms) - t0))
want_rc 1
want_out_empty
want_error
want_err_no_grep 'cannot connect yet'
want_err_has "password authentication failed"
want_no_password
[ "$ms" -le 3000 ] || fail "took $ms ms"
end

cat >"$T/proxy.py" <<'EOF'
# A server that comes late: picks a free port, writes it, waits, then
# forwards every connection to the upstream port for a while.
import os, socket, sys, threading, time
up_port, portfile, delay, life = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
with open(portfile + ".tmp", "w") as f:
    f.write("%d\n" % port)
os.rename(portfile + ".tmp", portfile)
time.sleep(delay)
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", port))
l.listen(16)
l.settimeout(0.2)

def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    finally:
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass

end = time.monotonic() + life
while time.monotonic() < end:
    try:
        c, _ = l.accept()
    except socket.timeout:
        continue
    u = socket.create_connection(("127.0.0.1", up_port))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
EOF

begin "a server that starts late: KVMIGRATE_CONNECT_RETRY=20 waits for it, then applies"
newdb
latedb=$db
"$PY" "$T/proxy.py" "$TCP_PORT" "$T/proxy.port" 1.5 20 >"$T/proxy.log" 2>&1 &
proxy=$!
bgpids="$bgpids $proxy"
i=0
while [ ! -s "$T/proxy.port" ] && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
pport=$(cat "$T/proxy.port" 2>/dev/null)
if [ -z "$pport" ]; then
	fail "the proxy did not start: $(head -n 3 "$T/proxy.log" | tr '\n' ' ')"
else
	runc env KVMIGRATE_CONNECT_RETRY=20 "$KVMIGRATE" up --db \
		"host=127.0.0.1 port=$pport user=kvmigrate password=kvmigrate-test-password dbname=$latedb"
	want_rc 0
	want_out_empty
	want_err_grep '^kvmigrate: cannot connect yet \(attempt 1\)'
	want_err_grep '^schema at version 8 \(previously no version\): 8 versions applied in [0-9]+ ms$'
	want_row "$latedb" "8|f"
fi
kill "$proxy" 2>/dev/null
wait "$proxy" 2>/dev/null
end

tap_done
