#!/bin/sh
# End-to-end tests of what an operator sees: the progress display under a
# pseudo-terminal (script(1)) and with stderr in a file, -q and
# --no-progress, one test per exit status, the --json object of every
# command on success and on failure (parsed by Python's json), the
# --metrics-file file (parsed line by line as the Prometheus text format),
# and a password given in --db that must appear nowhere.
#
#   KVMIGRATE=build/kvmigrate sh tests/e2e/operator.sh     (from the repo root)
#
# Environment (from the harness): KVMIGRATE_TEST_DB, KVMIGRATE_TEST_DB_TCP,
# KVMIGRATE_TEST_PGBIN.  Databases kvmt_op_PID_N, dropped at exit.
#
# Prints TAP and exits 1 if any test failed.

set -u

. "$(dirname "$0")/../tools/tap.sh"
. "$(dirname "$0")/../tools/check.sh"
. "$(dirname "$0")/../tools/e2e-db.sh"
GEN=tests/tools/gen-data.py
if [ ! -f "$GEN" ]; then
	echo "Bail out! $GEN not found: run from the repository root"
	exit 1
fi
if [ -z "${KVMIGRATE_TEST_DB_TCP:-}" ]; then
	echo "Bail out! KVMIGRATE_TEST_DB_TCP is not set: run inside tests/tools/pg-harness.sh"
	exit 1
fi
dbprefix=kvmt_op

T=$(mktemp -d "${TMPDIR:-/tmp}/kvmt.XXXXXX") || exit 1
trap 'cleanup; rm -rf "$T"' EXIT
# a pseudo-terminal's output must not depend on the caller's
unset NO_COLOR

# json FILE CHECK...: FILE holds one JSON object (and nothing else) for
# which each Python expression CHECK (over the object `o`) is true
json() {
	"$PY" - "$@" >"$T/json.why" 2>&1 <<'EOF' || fail "$(head -c 600 "$T/json.why")"
import json, sys
path, checks = sys.argv[1], sys.argv[2:]
text = open(path, encoding="utf-8").read()
try:
    o = json.loads(text)
except ValueError as e:
    sys.exit("%s is not one JSON value (%s): %r" % (path, e, text[:300]))
if not isinstance(o, dict):
    sys.exit("%s holds a %s, not an object" % (path, type(o).__name__))
for c in checks:
    if not eval(c, {"o": o}):
        sys.exit("%s: not true: %s; the object: %s" % (path, c, json.dumps(o)[:500]))
EOF
}

# metrics FILE CHECK...: FILE is in the Prometheus text format; each CHECK
# ("NAME{LABELS} VALUE" with VALUE a number or "*") is one of its samples
metrics() {
	"$PY" - "$@" >"$T/metrics.why" 2>&1 <<'EOF' || fail "$(head -c 600 "$T/metrics.why")"
import re, sys
path, checks = sys.argv[1], sys.argv[2:]
samples, typed = {}, set()
line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+-]+)$')
for line in open(path, encoding="utf-8").read().split("\n")[:-1]:
    if line.startswith("# TYPE "):
        typed.add(line.split()[2])
        continue
    if line.startswith("# HELP "):
        continue
    m = line_re.match(line)
    if not m:
        sys.exit("%s: not a sample line: %r" % (path, line))
    if m.group(1) not in typed:
        sys.exit("%s: %s has no TYPE line before it" % (path, m.group(1)))
    float(m.group(3))
    samples[m.group(1) + (m.group(2) or "")] = m.group(3)
for c in checks:
    name, want = c.rsplit(" ", 1)
    if name not in samples:
        sys.exit("%s: no sample %s (has %s)" % (path, name, sorted(samples)))
    if want != "*" and float(samples[name]) != float(want):
        sys.exit("%s: %s is %s, not %s" % (path, name, samples[name], want))
EOF
}

# --- progress ---------------------------------------------------------------

begin "setup: a generated database at version 8"
filldb --size tiny --seed 7 --staging-rows 20000
dbA=$db
mkdir "$T/a"
end

begin "progress under a terminal: lines redrawn with a carriage return and erase, then kept per package"
# script(1) gives the command a pseudo-terminal; its output is the terminal's
TERM=xterm script -qfec "'$KVMIGRATE' up --kv-enabled --db '$(conn "$dbA")' --kv '$T/a/kv.mdb'" \
	/dev/null >"$T/tty.out" 2>&1
rc=$?
want_rc 0
# what the terminal shows at the end: per line, what follows its last
# carriage return (the pty ends lines with CR LF), without escape sequences
sed 's/\r$//' "$T/tty.out" | awk -F '\r' '{ print $NF }' |
	sed 's/\x1b\[[0-9;]*[A-Za-z]//g' >"$T/tty.txt"
grep -q "$(printf '\r\033\\[K')" "$T/tty.out" || fail "no carriage return + erase-line sequence"
grep -Eq "^export  staging +20000 records  [0-9.]+ [kMG]?B  [0-9.]+ s$" "$T/tty.txt" ||
	fail "no kept line for export/staging: $(grep staging "$T/tty.txt" | head -n 3 | tr '\n' '|')"
grep -Eq "^import  staging +20000 records" "$T/tty.txt" || fail "no kept line for import/staging"
grep -q '^progress: ' "$T/tty.txt" && fail "plain progress lines on a terminal"
grep -q "$(printf '\033\\[1;31m\\|\033\\[1m')" "$T/tty.out" || fail "no colors on a terminal with TERM=xterm"
want_row "$dbA" "9|f"
end

begin "NO_COLOR=1 under a terminal: progress still redrawn, no color sequence"
filldb --size tiny --seed 7 --staging-rows 20000
dbB=$db
mkdir "$T/b"
NO_COLOR=1 TERM=xterm script -qfec "'$KVMIGRATE' up --kv-enabled --db '$(conn "$dbB")' --kv '$T/b/kv.mdb'" \
	/dev/null >"$T/tty.out" 2>&1
rc=$?
want_rc 0
grep -q "$(printf '\r\033\\[K')" "$T/tty.out" || fail "no redraw"
grep -q "$(printf '\033\\[[0-9;]*m')" "$T/tty.out" && fail "a color sequence despite NO_COLOR"
end

begin "stderr to a file: plain 'progress:' lines (export, import: no read-back), newline-terminated, no carriage return, bounded in number"
filldb --size tiny --seed 7 --staging-rows 20000
dbC=$db
mkdir "$T/c"
start=$(date +%s)
run up --kv-enabled --db "$(conn "$dbC")" --kv "$T/c/kv.mdb"
secs=$(($(date +%s) - start))
want_rc 0
want_out_empty
grep -q "$(printf '\r')" "$T/err" && fail "a carriage return in stderr"
grep -q "$(printf '\033')" "$T/err" && fail "an escape sequence in stderr"
want_err_grep "^progress: export staging: 20000 records, [0-9]+ bytes, [0-9.]+ s$"
want_err_grep "^progress: import staging: 20000 records, [0-9]+ bytes, [0-9.]+ s$"
# up's import checks the whole export: no read-back (check) before it
bad=$(grep '^progress: ' "$T/err" | grep -Ev '^progress: (export|import) [a-z]+: [0-9]+( of (about )?[0-9]+)? records' | head -n 1)
[ -z "$bad" ] || fail "a progress line in another form: $bad"
lines=$(grep -c '^progress: ' "$T/err")
# a line per phase and package when it is done (2 phases, 5 packages),
# and in between at most one every 5 seconds
[ "$lines" -le $((10 + secs / 5 + 1)) ] || fail "$lines progress lines in $secs s"
want_err_grep "^  staging +20000 +[0-9]+ +[0-9.]+ +[0-9.]+$"
want_err_grep "^done in [0-9.]+ s: the database is at version 9$"
end

begin "--no-progress: the summary without progress lines; -q: stderr empty; -q --progress: progress only"
filldb --size tiny --seed 7 --staging-rows 20000
dbD=$db
mkdir "$T/d"
run export --no-progress --db "$(conn "$dbD")" -o "$T/d/e1.kvm"
want_rc 0
want_err_no_grep '^progress: '
want_err_grep "^  staging +20000 records"
run export -q --db "$(conn "$dbD")" -o "$T/d/e2.kvm"
want_rc 0
want_err_empty
want_out_empty
run export -q --progress --db "$(conn "$dbD")" -o "$T/d/e3.kvm"
want_rc 0
want_err_grep '^progress: export staging: 20000 records'
want_err_no_grep '^  staging'
end

# --- exit status, each with its --json object -------------------------------

begin "exit 0: up --kv-enabled --json on a migrated database, nothing to do, ok true, changed false"
run up --kv-enabled --json --db "$(conn "$dbA")" --kv "$T/a/kv.mdb"
want_rc 0
json "$T/out" 'o["ok"] is True' 'o["outcome"] == "migrated"' 'o["changed"] is False' \
	'o["version"] == 9' 'o["command"] == "up"'
end

begin "exit 0: up --kv-enabled --json --metrics-file migrating: packages, versions, paths; the metrics agree"
mkdir "$T/e"
filldb --size tiny --seed 7 --staging-rows 20000
dbE=$db
run up --kv-enabled --json --metrics-file "$T/e/kvm.prom" --keep-export "$T/e/x.kvm" \
	--db "$(conn "$dbE")" --kv "$T/e/kv.mdb"
want_rc 0
json "$T/out" 'o["ok"] is True' 'o["outcome"] == "kv-migrated"' 'o["changed"] is True' \
	'o["from_version"] == 8 and o["version"] == 9' \
	"o[\"kv_path\"] == \"$T/e/kv.mdb\"" "o[\"export\"][\"path\"] == \"$T/e/x.kvm\"" \
	'[p["name"] for p in o["packages"]] == ["auth", "refs", "staging", "actions", "multiparts"]' \
	'[p["records"] for p in o["packages"] if p["name"] == "staging"] == [20000]' \
	'sum(p["records"] for p in o["packages"]) == o["kv"]["records"]'
records=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["kv"]["records"])' "$T/out")
metrics "$T/e/kvm.prom" 'kvmigrate_last_run_success{command="up"} 1' \
	'kvmigrate_last_run_exit_code{command="up"} 0' 'kvmigrate_schema_version{command="up"} 9' \
	"kvmigrate_records{command=\"up\"} $records" \
	'kvmigrate_package_records{command="up",package="staging"} 20000' \
	'kvmigrate_package_duration_seconds{command="up",package="staging",phase="import"} *' \
	'kvmigrate_last_run_timestamp_seconds{command="up"} *'
only=$(ls -A "$T/e" | sort | tr '\n' ' ')
[ "$only" = "kv.mdb kvm.prom x.kvm " ] || fail "$T/e holds '$only'"
end

begin "exit 1: export of a database at another version, --json: ok false, phase, message, changed false; metrics say 0"
newdb
run export --json --metrics-file "$T/e/fail.prom" --db "$(conn "$db")" -o "$T/e/none.kvm"
want_rc 1
want_error
json "$T/out" 'o["ok"] is False' 'o["command"] == "export"' 'o["phase"] == "export"' \
	'o["changed"] is False' 'o["exit_code"] == 1' 'o["error"]["name"] == "KVM_EUNKNOWNVERSION"' \
	'o["hint"].startswith("no file was written")'
metrics "$T/e/fail.prom" 'kvmigrate_last_run_success{command="export"} 0' \
	'kvmigrate_last_run_exit_code{command="export"} 1'
[ -e "$T/e/none.kvm" ] && fail "a file was written"
end

begin "exit 1: a dangling row, up --json names the package, table and row"
filldb --size tiny --seed 7 --staging-rows 20000
dbF=$db
fk=$(sql "$dbF" "SELECT conname FROM pg_constraint WHERE conrelid = 'auth_user_groups'::regclass
	AND contype = 'f' AND confrelid = 'auth_users'::regclass")
sql "$dbF" "ALTER TABLE auth_user_groups DROP CONSTRAINT \"$fk\";
	INSERT INTO auth_user_groups VALUES (313131, (SELECT min(id) FROM auth_groups))" >/dev/null
run up --kv-enabled --json --db "$(conn "$dbF")" --kv "$T/e/f.mdb"
want_rc 1
json "$T/out" 'o["ok"] is False' 'o["phase"] == "export"' 'o["package"] == "auth"' \
	'o["table"] == "auth_user_groups"' '"313131" in o["key"]' 'o["changed"] is False' \
	'o["version"] == 8' '"kvmigrate up --kv-enabled" in o["hint"]'
end

begin "exit 1: import of a corrupt export, --json: ok false, the KV path untouched"
cp "$T/e/x.kvm" "$T/e/bad.kvm"
printf '\377\377\377\377' | dd of="$T/e/bad.kvm" bs=1 seek=5000 conv=notrunc 2>/dev/null
run import --json -i "$T/e/bad.kvm" --kv "$T/e/new.mdb"
want_rc 1
json "$T/out" 'o["ok"] is False' 'o["command"] == "import"' 'o["changed"] is False' \
	'"bad.kvm" in o["message"]'
[ -e "$T/e/new.mdb" ] && fail "the KV path was created"
end

begin "exit 0: import --json into a new path: ok true with per-package counts"
run import --json -i "$T/e/x.kvm" --kv "$T/e/new.mdb"
want_rc 0
json "$T/out" 'o["ok"] is True' 'o["replaced"] is False' \
	'[p["records"] for p in o["packages"] if p["name"] == "staging"] == [20000]'
end

begin "exit 2: a usage error; --json and '-o -' together are one too"
run up --no-such-option
want_rc 2
usage=$("$KVMIGRATE" export --help | sed -n '1s/^usage: //p')
run export --json -o - --db "$(conn "$dbE")"
want_usage_error "--json and '-o -' both need standard output: write the export to a file" "$usage"
end

begin "exit 3: the migration lock held by another session, up --json: phase lock"
key=$("$KVMIGRATE" status --json --db "$(conn "$dbD")" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["lock"]["key"])')
( query "$(conn "$dbD")" "SELECT pg_advisory_lock($key), pg_sleep(30)" >/dev/null 2>&1 ) &
lockpid=$!
bgpids="$bgpids $lockpid"
tries=0
until [ "$(query "$KVMIGRATE_TEST_DB" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")" != 0 ]; do
	tries=$((tries + 1))
	[ "$tries" -gt 200 ] && { fail "the lock was never taken"; break; }
	sleep 0.05
done
run up --kv-enabled --json --lock-wait 0 --db "$(conn "$dbD")" --kv "$T/d/kv.mdb"
want_rc 3
json "$T/out" 'o["ok"] is False' 'o["phase"] == "lock"' 'o["exit_code"] == 3' 'o["changed"] is False'
kill "$lockpid" 2>/dev/null
wait "$lockpid" 2>/dev/null
query "$KVMIGRATE_TEST_DB" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE datname = '$dbD' AND pid <> pg_backend_pid()" >/dev/null 2>&1
end

begin "exit 4: the drop fails after the bump, up --json: phase drop, changed true, tables left listed"
filldb --size tiny --seed 7 --staging-rows 20000
dbG=$db
sql "$dbG" "CREATE VIEW keep_v AS SELECT * FROM graveler_tags" >/dev/null
run up --kv-enabled --drop-tables --json --db "$(conn "$dbG")" --kv "$T/e/g.mdb"
want_rc 4
json "$T/out" 'o["ok"] is False' 'o["phase"] == "drop"' 'o["changed"] is True' 'o["exit_code"] == 4' \
	'"graveler_tags" in o["tables_left"]' '"kvmigrate drop-tables" in o["hint"]' 'o["version"] == 9'
end

begin "exit 5: verify --json after a row changed: ok false, equal false, the difference named"
sql "$dbE" "UPDATE auth_users SET friendly_name = 'changed' WHERE display_name = (SELECT min(display_name) FROM auth_users)" >/dev/null
run verify --json --db "$(conn "$dbE")" --kv "$T/e/kv.mdb"
want_rc 5
json "$T/out" 'o["ok"] is False' 'o["equal"] is False' 'o["exit_code"] == 5' \
	'o["diffs"][0]["what"] == "different"' 'o["diffs"][0]["partition"] == "auth"'
end

begin "verify --json equal (exit 0), status --json and inspect --json parse"
run verify --json --db "$(conn "$dbA")" --kv "$T/a/kv.mdb"
want_rc 0
json "$T/out" 'o["ok"] is True' 'o["equal"] is True' 'o["records"] > 20000'
run status --json --db "$(conn "$dbA")" --kv "$T/a/kv.mdb"
want_rc 0
json "$T/out" 'o["ok"] is True'
run inspect --json "$T/e/x.kvm"
want_rc 0
json "$T/out" 'o["ok"] is True'
end

# --- a password given in --db ---------------------------------------------------

pw=$(printf '%s\n' "$KVMIGRATE_TEST_DB_TCP" | sed -n 's/.*password=\([^ ]*\).*/\1/p')
tcp() {
	printf '%s dbname=%s\n' "$KVMIGRATE_TEST_DB_TCP" "$1"
}
# no_password FILE...: none of the files holds the password
no_password() {
	for f in "$@"; do
		[ -e "$f" ] || continue
		grep -Fq -e "$pw" "$f" && fail "the password appears in $(basename "$f")"
	done
	:
}

begin "a password in --db appears in no output: up, export, verify, status with --json and --metrics-file"
[ -n "$pw" ] || fail "no password in KVMIGRATE_TEST_DB_TCP"
filldb --size tiny --seed 7 --staging-rows 20000
dbH=$db
mkdir "$T/h"
run up --kv-enabled --json --metrics-file "$T/h/up.prom" --db "$(tcp "$dbH")" --kv "$T/h/kv.mdb"
want_rc 0
no_password "$T/out" "$T/err" "$T/h/up.prom"
run export --json --metrics-file "$T/h/ex.prom" --db "$(tcp "$dbH")" -o "$T/h/x.kvm"
want_rc 1   # the database is migrated: the export refuses it
no_password "$T/out" "$T/err" "$T/h/ex.prom"
run verify --json --metrics-file "$T/h/v.prom" --db "$(tcp "$dbH")" --kv "$T/h/kv.mdb"
want_rc 0
no_password "$T/out" "$T/err" "$T/h/v.prom"
run status --json --db "$(tcp "$dbH")" --kv "$T/h/kv.mdb"
want_rc 0
no_password "$T/out" "$T/err"
end

begin "... nor when the password is wrong, nor in a URI"
run up --json --metrics-file "$T/h/bad.prom" --db "$(printf '%s' "$(tcp "$dbH")" | sed "s/password=$pw/password=${pw}x/")"
want_rc 1
json "$T/out" 'o["ok"] is False' 'o["phase"] == "connect"'
no_password "$T/out" "$T/err" "$T/h/bad.prom"
uri="postgresql://kvmigrate:${pw}@127.0.0.1:$(printf '%s' "$KVMIGRATE_TEST_DB_TCP" | sed -n 's/.*port=\([0-9]*\).*/\1/p')/$dbH"
run status --json --db "$uri"
want_rc 0
no_password "$T/out" "$T/err"
run up --kv-enabled --json --metrics-file "$T/h/uri.prom" --db "$uri" --kv "$T/h/kv.mdb"
want_rc 0
no_password "$T/out" "$T/err" "$T/h/uri.prom"
end

tap_done
