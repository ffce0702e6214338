#!/bin/sh
# End-to-end tests of `kvmigrate status`, against the cluster of
# tests/tools/pg-harness.sh: `status --json` parsed in every state of the
# version table (fresh, behind, current, dirty, too-new, unknown, migrated,
# migrated with the old tables dropped), the KV flag, every state of the KV
# path (real LMDB files made with mdb_load), the migration lock, an
# unreachable database, and the text form.
#
#   KVMIGRATE=build/kvmigrate sh tests/e2e/status.sh     (from the repo root)
#
# Environment (from the harness): KVMIGRATE_TEST_DB (unix socket, trust),
# KVMIGRATE_TEST_PGBIN (psql). The databases kvmt_st_PID_N are dropped at
# exit. mdb_load comes from Debian's lmdb-utils (tests/tools/deps.sh).
#
# Prints TAP ("ok N - ...", "not ok N - ..." with "# " diagnostics) and
# exits 1 if any test failed.

set -u

. "$(dirname "$0")/../tools/tap.sh"
. "$(dirname "$0")/../tools/check.sh"
. "$(dirname "$0")/../tools/e2e-db.sh"
SCHEMA=pkg-migrators/schema
if [ ! -d "$SCHEMA" ]; then
	echo "Bail out! $SCHEMA not found: run from the repository root"
	exit 1
fi
dbprefix=kvmt_st

T=$(mktemp -d "${TMPDIR:-/tmp}/kvmt.XXXXXX") || exit 1
trap 'cleanup; rm -rf "$T"' EXIT

# --- helpers ------------------------------------------------------------------

# up DB [ARG...]: kvmigrate up on DB, which must succeed
up() {
	d=$1
	shift
	"$KVMIGRATE" up --db "$(conn "$d")" "$@" >"$T/up.out" 2>"$T/up.err" ||
		fail "kvmigrate up on $d $*: exit status $?: $(tail -n 2 "$T/up.err" | tr '\n' ' ')"
}

# The 17 old tables of the built-in schema, in status's order.
OLD="auth_users auth_groups auth_policies auth_user_groups auth_user_policies
auth_group_policies auth_credentials auth_installation_metadata
auth_expired_tokens graveler_repositories graveler_branches graveler_tags
graveler_commits graveler_staging_kv actions_runs actions_run_hooks
gateway_multiparts"
OLD=$(printf '%s' "$OLD" | tr '\n' ' ')
export OLD

cat >"$T/check.py" <<'EOF'
import json, os, sys, zlib

def fail(msg):
    print(msg)
    sys.exit(1)

def load(out):
    raw = open(out, "rb").read()
    if not raw.endswith(b"\n"):
        fail("stdout does not end with a newline")
    try:
        return json.loads(raw.decode("utf-8"))  # exactly one value
    except ValueError as e:
        fail("stdout is not one JSON value: %s: %r" % (e, raw[:200]))

def isint(v):
    return isinstance(v, int) and not isinstance(v, bool)

def keys(where, d, want):
    if not isinstance(d, dict):
        fail("%s is %r, not an object" % (where, d))
    if set(d) != set(want):
        fail("%s has the keys %s, expected %s" % (where, sorted(d), sorted(want)))

def shape(d):
    """The fields, their types and how they agree with each other."""
    keys("the object", d, ["ok", "database", "state", "version_table", "sql_version",
                           "dirty", "schema_source", "last_sql_version",
                           "kv_migration_version", "pending_versions", "kv_enabled",
                           "kv_store", "old_tables", "lock", "next_command", "next_reason"])
    if d["ok"] is not True:
        fail("ok is %r" % d["ok"])
    for k in ("database", "schema_source", "next_reason"):
        if not isinstance(d[k], str) or not d[k]:
            fail("%s is %r, expected a non-empty string" % (k, d[k]))
    for k in ("version_table", "dirty", "kv_enabled"):
        if not isinstance(d[k], bool):
            fail("%s is %r, expected a boolean" % (k, d[k]))
    for k in ("last_sql_version", "kv_migration_version", "pending_versions"):
        if not isint(d[k]):
            fail("%s is %r, expected an integer" % (k, d[k]))
    if d["state"] not in ("fresh", "behind", "current", "migrated", "dirty", "too-new", "unknown"):
        fail("state is %r" % d["state"])
    if not (d["sql_version"] is None or isint(d["sql_version"])):
        fail("sql_version is %r" % d["sql_version"])
    if (d["sql_version"] is None) != (not d["version_table"]):
        fail("sql_version %r with version_table %r" % (d["sql_version"], d["version_table"]))
    if d["kv_migration_version"] != d["last_sql_version"] + 1:
        fail("kv_migration_version %r is not last_sql_version + 1" % d["kv_migration_version"])
    if not (d["next_command"] is None or isinstance(d["next_command"], str)):
        fail("next_command is %r" % d["next_command"])
    kv = d["kv_store"]
    keys("kv_store", kv, ["path", "state", "version", "bytes", "detail"])
    if kv["state"] not in ("not-set", "absent", "present", "foreign", "empty",
                           "not-lmdb", "not-a-file", "unreadable"):
        fail("kv_store.state is %r" % kv["state"])
    if not (kv["path"] is None or isinstance(kv["path"], str)) or \
       (kv["path"] is None) != (kv["state"] == "not-set"):
        fail("kv_store.path %r with state %r" % (kv["path"], kv["state"]))
    for k in ("version", "bytes"):
        if not (kv[k] is None or isint(kv[k])):
            fail("kv_store.%s is %r" % (k, kv[k]))
    if not isinstance(kv["detail"], str):
        fail("kv_store.detail is %r" % kv["detail"])
    ot = d["old_tables"]
    keys("old_tables", ot, ["state", "present", "missing"])
    old = os.environ["OLD"].split()
    if not isinstance(ot["present"], list) or not isinstance(ot["missing"], list) or \
       sorted(ot["present"] + ot["missing"]) != sorted(old):
        fail("old_tables present %r and missing %r are not the 17 old tables"
             % (ot["present"], ot["missing"]))
    none = "dropped" if d["state"] == "migrated" else "absent"
    want = none if not ot["present"] else "present" if not ot["missing"] else "partial"
    if ot["state"] != want:
        fail("old_tables.state %r with %d present, expected %r"
             % (ot["state"], len(ot["present"]), want))
    lock = d["lock"]
    keys("lock", lock, ["key", "held", "holder"])
    if not isint(lock["key"]) or not 0 <= lock["key"] < 2**32:
        fail("lock.key is %r" % lock["key"])
    if not isinstance(lock["held"], bool) or lock["held"] != (lock["holder"] is not None):
        fail("lock.held %r with holder %r" % (lock["held"], lock["holder"]))
    if lock["holder"] is not None:
        h = lock["holder"]
        keys("lock.holder", h, ["pid", "application_name", "user", "client",
                                "connected_since", "seconds", "state"])
        if not isint(h["pid"]) or not isint(h["seconds"]):
            fail("lock.holder pid or seconds not integers: %r" % h)
        for k in ("application_name", "user", "client", "connected_since", "state"):
            if not isinstance(h[k], str):
                fail("lock.holder.%s is %r" % (k, h[k]))

def get(d, path):
    for p in path.split("."):
        if not isinstance(d, dict) or p not in d:
            fail("no field %s" % path)
        d = d[p]
    return d

def status(out, *conds):
    """status --json: the shape, then each condition:
       PATH=JSON     the field equals the JSON value (types too)
       #PATH=N       the list has N items
       PATH~TEXT     the string field contains TEXT
       key=DBNAME    lock.key is golang-migrate's lock id for database DBNAME
       bytes=FILE    kv_store.bytes is the size of FILE"""
    d = load(out)
    shape(d)
    for c in conds:
        if c.startswith("key="):
            name = b"\0".join([b"public", b"schema_migrations", c[4:].encode()])
            want = (zlib.crc32(name) * 1486364155) & 0xffffffff
            if d["lock"]["key"] != want:
                fail("lock.key %r, expected %d (crc32 of %r times 1486364155)"
                     % (d["lock"]["key"], want, name))
        elif c.startswith("bytes="):
            want = os.path.getsize(c[6:])
            if d["kv_store"]["bytes"] != want:
                fail("kv_store.bytes %r, expected %d" % (d["kv_store"]["bytes"], want))
        elif c.startswith("#"):
            path, n = c[1:].split("=", 1)
            got = get(d, path)
            if not isinstance(got, list) or len(got) != int(n):
                fail("%s is %r, expected %s items" % (path, got, n))
        elif "~" in c and ("=" not in c or c.index("~") < c.index("=")):
            path, text = c.split("~", 1)
            got = get(d, path)
            if not isinstance(got, str) or text not in got:
                fail("%s is %r, expected it to contain %r" % (path, got, text))
        else:
            path, want = c.split("=", 1)
            want = json.loads(want)
            got = get(d, path)
            if got != want or type(got) is not type(want):
                fail("%s is %r, expected %r" % (path, got, want))

def error(out):
    d = load(out)
    keys("the object", d, ["ok", "error"])
    e = d["error"]
    keys("error", e, ["code", "name", "message"])
    if d["ok"] is not False or not isint(e["code"]) or e["name"] != "KVM_ECONNECT" or \
       not isinstance(e["message"], str) or not e["message"]:
        fail("not an ok:false KVM_ECONNECT object: %r" % d)

mode, args = sys.argv[1], sys.argv[2:]
{"status": status, "error": error}[mode](*args)
EOF

# st DESC DB [STATUS-ARG...] -- COND...: a test: status --json on DB exits 0
# with nothing on stderr, and its object passes the conditions of check.py
st() {
	begin "$1"
	st_db=$2
	shift 2
	st_args=
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		st_args="$st_args $1"
		shift
	done
	[ $# -gt 0 ] && shift
	# shellcheck disable=SC2086  # the status arguments hold no blanks
	run status --json --db "$(conn "$st_db")" $st_args
	want_rc 0
	want_err_empty
	[ "$rc" -eq 0 ] && pycheck status "$T/out" "$@"
	end
}

# --- the states of the version table ------------------------------------------

newdb
dbF=$db
st "fresh database: state fresh, no version table, 8 pending, next 'kvmigrate up'" "$dbF" -- \
	state='"fresh"' sql_version=null version_table=false dirty=false \
	pending_versions=8 last_sql_version=8 kv_migration_version=9 \
	next_command='"kvmigrate up"' kv_enabled=false \
	old_tables.state='"absent"' '#old_tables.missing=17' '#old_tables.present=0' \
	lock.held=false lock.holder=null kv_store.state='"not-set"' kv_store.path=null \
	schema_source='"the built-in schema"' "key=$dbF"

begin "status changes nothing: a fresh database still has no table"
got=$(sql "$dbF" "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
[ "$got" = 0 ] || fail "$got tables in public after status"
end

begin "text status on a fresh database: exit 0, 'schema version:' and 'next:' lines, stderr empty"
run status --db "$(conn "$dbF")"
want_rc 0
want_err_empty
grep -q '^schema version: ' "$T/out" || fail "no line starting with 'schema version:'"
grep -q '^next: .*kvmigrate up$' "$T/out" || fail "no line 'next: ... kvmigrate up'"
grep -q '^state: .*fresh' "$T/out" || fail "no 'state: ... fresh' line"
end

newdb
dbB=$db
mkdir "$T/first3"
cp "$SCHEMA"/000001_*.up.sql "$SCHEMA"/000002_*.up.sql "$SCHEMA"/000003_*.up.sql "$T/first3/"
begin "setup: up --schema-dir with the first 3 built-in versions"
up "$dbB" --schema-dir "$T/first3"
want_row "$dbB" "3|f"
end
st "behind: state behind, version 3, 5 pending, old tables partial" "$dbB" -- \
	state='"behind"' sql_version=3 version_table=true dirty=false pending_versions=5 \
	next_command='"kvmigrate up"' old_tables.state='"partial"' \
	'#old_tables.missing=3' "key=$dbB"
st "status --schema-dir of those 3: current at 3, KV migration version 4" "$dbB" \
	--schema-dir "$T/first3" -- \
	state='"current"' sql_version=3 last_sql_version=3 kv_migration_version=4 \
	pending_versions=0 "schema_source~$T/first3"

newdb
dbC=$db
begin "setup: up with the built-in schema"
up "$dbC"
want_row "$dbC" "8|f"
end
st "current: version 8, 0 pending, next 'kvmigrate up --kv-enabled', old tables present" "$dbC" -- \
	state='"current"' sql_version=8 version_table=true dirty=false pending_versions=0 \
	next_command='"kvmigrate up --kv-enabled --kv PATH"' kv_enabled=false \
	old_tables.state='"present"' '#old_tables.present=17' '#old_tables.missing=0'

st "--kv-enabled: kv_enabled true" "$dbC" --kv-enabled -- kv_enabled=true state='"current"'

begin "KVMIGRATE_KV_ENABLED=1: kv_enabled true"
runc env KVMIGRATE_KV_ENABLED=1 "$KVMIGRATE" status --json --db "$(conn "$dbC")"
want_rc 0
want_err_empty
pycheck status "$T/out" kv_enabled=true
end

begin "KVMIGRATE_KV_ENABLED=0: kv_enabled false"
runc env KVMIGRATE_KV_ENABLED=0 "$KVMIGRATE" status --json --db "$(conn "$dbC")"
want_rc 0
pycheck status "$T/out" kv_enabled=false
end

begin "text status when current: exit 0, 'schema version:  8', next line"
run status --db "$(conn "$dbC")"
want_rc 0
want_err_empty
grep -Eq '^schema version: +8$' "$T/out" || fail "no 'schema version: 8' line"
grep -q '^next: .*kvmigrate up --kv-enabled --kv PATH$' "$T/out" || fail "no 'next: ... kvmigrate up --kv-enabled --kv PATH' line"
end

sql "$dbC" "UPDATE schema_migrations SET dirty = true" >/dev/null
st "dirty: state dirty, dirty true, no next command" "$dbC" -- \
	state='"dirty"' sql_version=8 dirty=true next_command=null
begin "status leaves the dirty row alone"
want_row "$dbC" "8|t"
end

sql "$dbC" "UPDATE schema_migrations SET version = 12, dirty = false" >/dev/null
st "version 12: state too-new, no next command" "$dbC" -- \
	state='"too-new"' sql_version=12 dirty=false next_command=null

mkdir "$T/gap"
cp "$T/first3"/*.up.sql "$T/gap/"
printf 'SELECT 1;\n' >"$T/gap/000010_later.up.sql"
sql "$dbC" "UPDATE schema_migrations SET version = 8" >/dev/null
st "a version the schema directory lacks: state unknown, no next command" "$dbC" \
	--schema-dir "$T/gap" -- \
	state='"unknown"' sql_version=8 last_sql_version=10 kv_migration_version=11 \
	next_command=null

sql "$dbC" "UPDATE schema_migrations SET version = 9" >/dev/null
st "version 9: state migrated, next 'kvmigrate drop-tables' while the old tables exist" "$dbC" -- \
	state='"migrated"' sql_version=9 pending_versions=0 \
	next_command='"kvmigrate drop-tables"' old_tables.state='"present"'

begin "setup: drop the 17 old tables"
for tb in $OLD; do
	out=$(sql "$dbC" "DROP TABLE $tb CASCADE") || fail "DROP TABLE $tb: $out"
done
end
st "migrated, old tables dropped: old_tables dropped, next_command null" "$dbC" -- \
	state='"migrated"' sql_version=9 old_tables.state='"dropped"' \
	'#old_tables.missing=17' next_command=null

begin "text status when migrated and dropped: exit 0, 'schema version:' and 'next:' lines"
run status --db "$(conn "$dbC")"
want_rc 0
want_err_empty
grep -Eq '^schema version: +9$' "$T/out" || fail "no 'schema version: 9' line"
grep -q '^next: ' "$T/out" || fail "no 'next:' line"
end

# --- the KV path ------------------------------------------------------------

st "no --kv and no KVMIGRATE_KV: kv_store not-set" "$dbF" -- \
	kv_store.state='"not-set"' kv_store.path=null kv_store.version=null kv_store.bytes=null

st "a path that does not exist: kv_store absent" "$dbF" --kv "$T/nosuch.kv" -- \
	kv_store.state='"absent"' kv_store.path="\"$T/nosuch.kv\"" kv_store.version=null \
	kv_store.bytes=null
begin "status did not create the absent path nor PATH-lock"
[ -e "$T/nosuch.kv" ] && fail "$T/nosuch.kv was created"
[ -e "$T/nosuch.kv-lock" ] && fail "$T/nosuch.kv-lock was created"
:
end

begin "KVMIGRATE_KV gives the path"
runc env KVMIGRATE_KV="$T/nosuch.kv" "$KVMIGRATE" status --json --db "$(conn "$dbF")"
want_rc 0
want_err_empty
pycheck status "$T/out" kv_store.state='"absent"' kv_store.path="\"$T/nosuch.kv\""
[ -e "$T/nosuch.kv" ] && fail "$T/nosuch.kv was created"
end

mkdir "$T/dir.kv"
st "a directory: kv_store not-a-file" "$dbF" --kv "$T/dir.kv" -- \
	kv_store.state='"not-a-file"' kv_store.version=null

: >"$T/empty.kv"
st "an empty file: kv_store empty, 0 bytes" "$dbF" --kv "$T/empty.kv" -- \
	kv_store.state='"empty"' kv_store.bytes=0 kv_store.version=null

printf 'this is a text file, not an LMDB environment\n' >"$T/text.kv"
st "a text file: kv_store not-lmdb" "$dbF" --kv "$T/text.kv" -- \
	kv_store.state='"not-lmdb"' kv_store.version=null "bytes=$T/text.kv"

# mkkv FILE KEYHEX VALHEX: an LMDB file (no subdirectory) holding one record;
# without mdb_load, Python's lmdb module; else returns 2
mkkv() {
	if command -v mdb_load >/dev/null 2>&1; then
		printf 'VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n %s\n %s\nDATA=END\n' \
			"$2" "$3" >"$1.dump" &&
			mdb_load -n -f "$1.dump" "$1" && rm -f "$1-lock" "$1.dump"
	elif "$PY" -c 'import lmdb' 2>/dev/null; then
		"$PY" -c '
import lmdb, sys
env = lmdb.open(sys.argv[1], subdir=False, lock=False)
with env.begin(write=True) as txn:
    txn.put(bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3]))
env.close()' "$1" "$2" "$3"
	else
		return 2
	fi
}

hex() {
	od -An -v -tx1 | tr -d ' \n'
}

# The key of the KV schema version: partition, 0x00 0x01, key; value:
# msgpack 9 (one byte).
VKEY=$(printf 'kv-internal-metadata\000\001kv-schema-version' | hex)

mkkv "$T/foreign.kv" "$(printf 'some-key' | hex)" "$(printf 'some-value' | hex)"
kvrc=$?
if [ "$kvrc" -eq 2 ]; then
	skip "an LMDB file without kvmigrate's metadata: kv_store foreign" \
		"neither mdb_load (lmdb-utils) nor Python's lmdb"
	skip "an LMDB file with the KV schema version 9: kv_store present, version 9" \
		"neither mdb_load (lmdb-utils) nor Python's lmdb"
else
	begin "setup: two LMDB files"
	[ "$kvrc" -eq 0 ] || fail "cannot make $T/foreign.kv"
	mkkv "$T/present.kv" "$VKEY" 09 || fail "cannot make $T/present.kv"
	end

	st "an LMDB file without kvmigrate's metadata: kv_store foreign" "$dbF" \
		--kv "$T/foreign.kv" -- \
		kv_store.state='"foreign"' kv_store.version=null "bytes=$T/foreign.kv"

	sum0=$(cksum <"$T/present.kv")
	st "an LMDB file with the KV schema version 9: kv_store present, version 9" "$dbF" \
		--kv "$T/present.kv" -- \
		kv_store.state='"present"' kv_store.version=9 "bytes=$T/present.kv" \
		kv_store.path="\"$T/present.kv\""

	begin "status reads the LMDB file only: same bytes, no PATH-lock"
	[ "$(cksum <"$T/present.kv")" = "$sum0" ] || fail "$T/present.kv changed"
	[ -e "$T/present.kv-lock" ] && fail "$T/present.kv-lock was created"
	:
	end

	begin "text status names the KV store's state and version"
	run status --db "$(conn "$dbF")" --kv "$T/present.kv"
	want_rc 0
	want_err_empty
	grep -Eq '^KV store: .*present, version 9' "$T/out" || fail "no 'KV store: ... present, version 9' line"
	end
fi

# --- the migration lock -------------------------------------------------------

begin "a session holding the migration lock: held, holder with its pid and application_name"
run status --json --db "$(conn "$dbF")"
key=$("$PY" -c '
import json, sys
print(json.load(open(sys.argv[1]))["lock"]["key"])' "$T/out" 2>/dev/null)
case $key in
'' | *[!0-9]*)
	fail "no lock.key from status --json"
	;;
*)
	psql -X -q -d "$(conn "$dbF")" -c "SET application_name = 'holder-test'" \
		-c "SELECT pg_advisory_lock($key), pg_sleep(2)" >/dev/null 2>&1 &
	holder=$!
	bgpids="$bgpids $holder"
	hpid=
	i=0
	while [ -z "$hpid" ] && [ $i -lt 50 ]; do
		hpid=$(sql "$dbF" "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid WHERE a.application_name = 'holder-test' AND l.locktype = 'advisory' AND l.granted")
		case $hpid in *[!0-9]*) hpid= ;; esac
		[ -n "$hpid" ] || sleep 0.1
		i=$((i + 1))
	done
	if [ -z "$hpid" ]; then
		fail "the holder-test session did not take the lock"
	else
		run status --json --db "$(conn "$dbF")"
		want_rc 0
		want_err_empty
		pycheck status "$T/out" lock.held=true lock.holder.pid="$hpid" \
			lock.holder.application_name='"holder-test"' lock.holder.user='"kvmigrate"' \
			"key=$dbF"
		run status --db "$(conn "$dbF")"
		want_rc 0
		grep -q "^migration lock: .*$hpid" "$T/out" || fail "the text form does not name pid $hpid"
	fi
	wait "$holder"
	;;
esac
end

# --- errors -----------------------------------------------------------------

begin "unreachable database: exit 1, ok false with KVM_ECONNECT on stdout"
runc env KVMIGRATE_CONNECT_RETRY=0 "$KVMIGRATE" status --json \
	--db "host=127.0.0.1 port=1 user=kvmigrate dbname=postgres"
want_rc 1
pycheck error "$T/out"
end

begin "unreachable database, text form: exit 1, stdout empty, an error line"
runc env KVMIGRATE_CONNECT_RETRY=0 "$KVMIGRATE" status \
	--db "host=127.0.0.1 port=1 user=kvmigrate dbname=postgres"
want_rc 1
[ -s "$T/out" ] && fail "stdout not empty"
grep -q '^kvmigrate: error: ' "$T/err" || fail "no 'kvmigrate: error:' line"
end

tap_done
