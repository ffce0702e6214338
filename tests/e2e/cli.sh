#!/bin/sh
# End-to-end tests of the kvmigrate command line: commands, options, help,
# exit codes, error lines, and `inspect` on the golden export files.
#
#   KVMIGRATE=build/kvmigrate sh tests/e2e/cli.sh     (from the repo root)
#
# Prints TAP ("ok N - ...", "not ok N - ..." with "# " diagnostics) and
# exits 1 if any test failed.  Missing golden files make their tests fail,
# never skip: testdata/good/NAME.kvm with NAME.json (the independent
# checker's summary), testdata/broken/NAME.kvm with NAME.expect (line 1:
# the error code name, line 2: a substring of the message).

set -u

. "$(dirname "$0")/../tools/tap.sh"
. "$(dirname "$0")/../tools/check.sh"

MAN=cmd/kvmigrate/kvmigrate.1
GOOD="small empty multiframe"
# Every command.
COMMANDS="up export import status inspect verify drop-tables help"
# commands that connect, with an argument check like the stubs'
CONNECTING="up status export import drop-tables verify"

T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT

# usage_of COMMAND: the usage line of COMMAND --help, without "usage: "
usage_of() {
	"$KVMIGRATE" "$1" --help 2>/dev/null | sed -n '1s/^usage: //p'
}

# The Python side: parse outputs and compare them with the golden summaries.
cat >"$T/check.py" <<'EOF'
import datetime, json, os, re, sys

def fail(msg):
    print(msg)
    sys.exit(1)

def hexdigest(v):
    if isinstance(v, int):
        return "%016x" % v
    s = str(v).lower()
    if s.startswith("0x"):
        s = s[2:]
    return s.rjust(16, "0")

def expected(path):
    """The checker's summary (tests/tools/kvmexport.py check FILE)."""
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    try:
        h = d["header"]
        ts = h["snapshot_time"]
        when = datetime.datetime.fromtimestamp(ts["sec"], datetime.timezone.utc)
        return {
            "sections": [(s["package"], s["records"], s["bytes"], hexdigest(s["digest"]))
                         for s in d["sections"]],
            "records": d["records"], "bytes": d["bytes"],
            "digest": hexdigest(d["digest"]), "frames": d["frames"],
            "file_bytes": d["file_bytes"],
            "format_version": h["format_version"], "tool_version": h["tool_version"],
            "kv_migration_version": h["kv_migration_version"],
            "source_schema_version": h["source_schema_version"],
            "source_database": h["source_database"],
            "snapshot_time": when.strftime("%Y-%m-%dT%H:%M:%S") +
                             ".%06dZ" % (ts["nsec"] // 1000),
        }
    except (KeyError, TypeError, ValueError) as e:
        fail("%s: unexpected layout (%r)" % (path, e))

def compare(exp, sections, fields):
    if sections != exp["sections"]:
        fail("sections %r, expected %r" % (sections, exp["sections"]))
    for key, val in fields.items():
        if exp[key] != val:
            fail("%s %r, expected %r" % (key, val, exp[key]))

def check_text(jpath, out, verified):
    lines = open(out, encoding="utf-8").read().split("\n")
    try:
        i = next(k for k, l in enumerate(lines) if re.match(r"package\s+records\s+bytes\s+digest$", l))
    except StopIteration:
        fail("no package table")
    secs = []
    for l in lines[i + 1:]:
        if not l:
            break
        name, rec, byt, dig = l.split()
        secs.append((name, int(rec), int(byt), dig))
    fields = dict(re.match(r"([a-z ]+):\s+(.*)$", l).groups() for l in lines
                  if re.match(r"[a-z ]+:\s+\S", l))
    exp = expected(jpath)
    try:
        got = {"records": int(fields["records"]),
               "bytes": int(fields["bytes"].split()[0]),
               "digest": fields["file digest"],
               "file_bytes": int(fields["size"].split()[0]),
               "format_version": int(fields["format version"]),
               "tool_version": fields["tool version"],
               "kv_migration_version": int(fields["kv migration version"]),
               "source_schema_version": int(fields["source schema version"]),
               "source_database": fields["source database"],
               "snapshot_time": fields["snapshot time"]}
    except (KeyError, ValueError) as e:
        fail("missing or bad field %s" % e)
    compare(exp, secs, got)
    last = [l for l in lines if l][-1]
    if verified == "any" and last.startswith("verified: no "):
        verified = "0"
    if verified in ("1", "any"):
        m = re.fullmatch(r"verified: yes \(([0-9]+) zstd frames, every checksum and digest checked\)", last)
        if not m:
            fail("last line %r" % last)
        compare(exp, secs, {"frames": int(m.group(1))})
    elif last != "verified: no (header and trailer only; use --verify to check every record)":
        fail("last line %r" % last)

def load_json(out):
    raw = open(out, "rb").read()
    try:
        text = raw.decode("utf-8")   # strict: the output must be UTF-8
        return json.loads(text)      # exactly one value, nothing after it
    except ValueError as e:
        fail("not one JSON value: %s" % e)

def check_json(jpath, out, verified, file):
    d = load_json(out)
    if d.get("ok") is not True:
        fail("ok is %r" % d.get("ok"))
    if d.get("file") != file:
        fail("file %r, expected %r" % (d.get("file"), file))
    for key, typ in (("file_bytes", int), ("format_version", int), ("tool_version", str),
                     ("kv_migration_version", int), ("source_schema_version", int),
                     ("source_database", str), ("snapshot_time", str), ("packages", list),
                     ("records", int), ("bytes", int), ("digest", str),
                     ("verified", bool), ("frames", int)):
        if not isinstance(d.get(key), typ) or (typ is int and isinstance(d.get(key), bool)):
            fail("%s is %r, expected a %s" % (key, d.get(key), typ.__name__))
    if not re.fullmatch(r"\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", d["snapshot_time"]):
        fail("snapshot_time %r" % d["snapshot_time"])
    for p in d["packages"] + [d]:
        if not re.fullmatch(r"[0-9a-f]{16}", p["digest"]):
            fail("digest %r is not 16 lowercase hex digits" % p["digest"])
    if d["verified"] != (verified == "1"):
        fail("verified is %r" % d["verified"])
    exp = expected(jpath)
    fields = {k: d[k] for k in ("records", "bytes", "digest", "file_bytes",
                                "format_version", "tool_version",
                                "kv_migration_version", "source_schema_version",
                                "source_database", "snapshot_time")}
    if d["verified"]:
        fields["frames"] = d["frames"]
    compare(exp, [(p["name"], p["records"], p["bytes"], p["digest"]) for p in d["packages"]],
            fields)

def check_json_error(out, name, substr, file):
    d = load_json(out)
    if d.get("ok") is not False:
        fail("ok is %r" % d.get("ok"))
    if d.get("file") != file:
        fail("file %r, expected %r" % (d.get("file"), file))
    e = d.get("error")
    if not isinstance(e, dict) or not isinstance(e.get("code"), int) \
       or not isinstance(e.get("message"), str):
        fail("error is %r" % e)
    if e.get("name") != name:
        fail("error.name %r, expected %r" % (e.get("name"), name))
    if substr not in e["message"]:
        fail("error.message %r lacks %r" % (e["message"], substr))

def check_escapes(out):
    """--json names the file exactly, whatever its bytes: the file name of
    the run (environment WEIRD) with invalid UTF-8 bytes as U+0080..U+00FF."""
    name = os.environb[b"WEIRD"].decode("utf-8", "surrogateescape")
    name = "".join(chr(ord(c) - 0xdc00) if 0xdc80 <= ord(c) <= 0xdcff else c for c in name)
    raw = open(out, "rb").read()
    if re.search(rb"[\x00-\x1f]", raw.replace(b"\n", b"")):
        fail("raw control character in the JSON text")
    d = load_json(out)
    if d.get("file") != name:
        fail("file %r, expected %r" % (d.get("file"), name))
    if d["error"]["name"] != "ENOENT" or d["error"]["code"] != 2:
        fail("error %r" % d["error"])

def check_options(helpfile, man, cmd):
    """The options of `kvmigrate CMD --help` are those of the command's
    subsection in the man page, and its usage line is the heading."""
    help_lines = open(helpfile, encoding="utf-8").read().split("\n")
    usage = help_lines[0][len("usage: kvmigrate "):]
    in_opts, from_help = False, set()
    for l in help_lines:
        if l == "Options:":
            in_opts = True
        elif in_opts and not l:
            break
        elif in_opts and l.lstrip().startswith("-"):
            spec = l.strip().split("  ")[0]
            from_help |= set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", spec))
    text = open(man, encoding="utf-8").read().replace("\\-", "-")
    m = re.search(r'^\.SS "' + re.escape(cmd) + r'( [^"]*)?"\n(.*?)(?=^\.S[SH] )', text, re.M | re.S)
    if not m:
        fail("no subsection for %s in the man page" % cmd)
    heading = m.group(0).split("\n")[0][5:-1]
    if heading != usage:
        fail("man heading %r differs from the usage %r" % (heading, usage))
    body = m.group(2).split("\n")
    from_man = set()
    for i, l in enumerate(body[:-1]):
        if l == ".TP":
            spec = re.sub(r"\\f[BIRP]", "", body[i + 1])
            spec = re.sub(r"^\.[BI]R?I? ?", "", spec)
            from_man |= set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", spec))
    if from_help != from_man:
        fail("options differ: --help has %s, the man page %s"
             % (sorted(from_help - from_man), sorted(from_man - from_help)))

mode, args = sys.argv[1], sys.argv[2:]
{"text": check_text, "json": check_json, "jsonerr": check_json_error,
 "escapes": check_escapes, "options": check_options}[mode](*args)
EOF

# --- help and version ---------------------------------------------------

begin "--help: exit 0, usage and every command on stdout"
run --help
want_rc 0
want_err_empty
want_out_line 1 "usage: kvmigrate <command> [options]"
for c in $COMMANDS; do
	want_out_grep "^  $c +[a-z]"
done
got=$(sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p' "$T/out" | sort | tr '\n' ' ')
# shellcheck disable=SC2086  # one word per command
want=$(printf '%s\n' $COMMANDS | sort | tr '\n' ' ')
[ "$got" = "$want" ] || fail "commands listed: '$got'; expected '$want'"
end
cp "$T/out" "$T/help"

begin "--help documents the exit status 0 to 5"
run --help
want_out_grep "^Exit status:$"
for code in 0 1 2 3 4 5; do
	want_out_grep "^  $code  [a-z]"
done
end

begin "-h and 'help' print the same as --help"
run -h
cmp -s "$T/out" "$T/help" || fail "-h differs from --help"
run help
want_rc 0
cmp -s "$T/out" "$T/help" || fail "'help' differs from --help"
end

begin "--version: kvmigrate, format and library versions"
run --version
want_rc 0
want_err_empty
got=$(sed -n 1p "$T/out")
echo "$got" | grep -Eq '^kvmigrate [0-9]+\.[0-9]+\.[0-9]+$' || fail "first line '$got'"
want_out_grep '^export format version 1 '
want_out_grep '^libpq [0-9]+\.[0-9]+'
want_out_grep '^lmdb [0-9]+\.[0-9]+\.[0-9]+$'
cp "$T/out" "$T/version"
run -V
cmp -s "$T/out" "$T/version" || fail "-V differs from --version"
end

begin "--version with an argument is a usage error"
run --version extra
want_usage_error "unexpected argument 'extra'" "kvmigrate --version"
end

begin "help inspect: the usage line and the options"
run help inspect
want_rc 0
want_err_empty
want_out_line 1 "usage: kvmigrate inspect FILE [--verify] [--json]"
want_out_grep '^ +--verify +[a-z]'
want_out_grep '^ +--json +[a-z]'
cp "$T/out" "$T/help-inspect"
end

begin "inspect --help is the same as help inspect"
run inspect --help
want_rc 0
want_err_empty
cmp -s "$T/out" "$T/help-inspect" || fail "outputs differ"
run inspect -h
cmp -s "$T/out" "$T/help-inspect" || fail "-h differs"
end

for c in $COMMANDS; do
	begin "$c --help: exit 0, usage line, same as 'help $c'"
	run "$c" --help
	want_rc 0
	want_err_empty
	want_out_grep "^usage: kvmigrate $c( |$)"
	want_out_grep '^Options:$'
	cp "$T/out" "$T/h"
	run help "$c"
	cmp -s "$T/out" "$T/h" || fail "'help $c' differs"
	end
done

begin "--help COMMAND is help COMMAND"
run --help status
want_rc 0
want_out_line 1 "usage: $(usage_of status)"
end

# --- usage errors -------------------------------------------------------

begin "unknown command: exit 2, error and usage on stderr, stdout empty"
run frobnicate
want_rc 2
want_out_empty
want_err_exact "kvmigrate: error: unknown command 'frobnicate'" \
	"usage: kvmigrate <command> [options]" \
	"run 'kvmigrate --help' for the list of commands"
end

begin "unknown command is reported before its options are looked at"
run frobnicate --help --db x
want_rc 2
want_out_empty
want_err_line 1 "kvmigrate: error: unknown command 'frobnicate'"
end

begin "help with an unknown command"
run help frobnicate
want_rc 2
want_out_empty
want_err_line 1 "kvmigrate: error: unknown command 'frobnicate'"
end

begin "help with two arguments"
run help inspect up
want_usage_error "unexpected argument 'up'" "kvmigrate help [COMMAND]"
end

begin "no command: usage on stderr, exit 2"
run
want_rc 2
want_out_empty
want_err_line 1 "usage: kvmigrate <command> [options]"
want_err_grep "^  inspect "
end

begin "unknown global option"
run --frobnicate
want_rc 2
want_out_empty
want_err_line 1 "kvmigrate: error: unknown option '--frobnicate'"
want_err_line 2 "usage: kvmigrate <command> [options]"
end

for c in $COMMANDS; do
	begin "$c: unknown option is a usage error naming it"
	run "$c" --no-such-flag
	want_usage_error "unknown option '--no-such-flag'" "$(usage_of "$c")"
	end
done

begin "unknown short option inside a cluster"
run inspect -hx f.kvm
want_usage_error "unknown option '-x'" "$(usage_of inspect)"
end

begin "unknown option with a value names the option only"
run status --colour=always
want_usage_error "unknown option '--colour'" "$(usage_of status)"
end

begin "a flag given a value"
run inspect --json=yes f.kvm
want_usage_error "option '--json' takes no value" "$(usage_of inspect)"
end

begin "an ambiguous abbreviation"
run up --d
want_usage_error "ambiguous option '--d'" "$(usage_of up)"
end

begin "option value missing (long)"
run up --jobs
want_usage_error "option '--jobs' requires a value" "$(usage_of up)"
end

begin "option value missing (short)"
run export -o
want_usage_error "option '-o' requires a value" "$(usage_of export)"
end

for v in 0 65 abc -1 " 3" 3x 99999999999999999999999; do
	begin "up --jobs '$v' is rejected"
	run up --jobs "$v"
	want_usage_error "invalid value '$v' for --jobs: expected an integer from 1 to 64" "$(usage_of up)"
	end
done

begin "up --lock-wait out of range"
run up --lock-wait 86401
want_usage_error "invalid value '86401' for --lock-wait: expected an integer from 0 to 86400" "$(usage_of up)"
end

begin "inspect without FILE"
run inspect
want_usage_error "missing the FILE argument" "$(usage_of inspect)"
end

begin "inspect --verify without FILE"
run inspect --verify
want_usage_error "missing the FILE argument" "$(usage_of inspect)"
end

begin "inspect with an extra argument"
run inspect a.kvm b.kvm
want_usage_error "unexpected argument 'b.kvm'" "$(usage_of inspect)"
end

for c in $CONNECTING; do
	begin "$c with an extra argument"
	run "$c" extra
	want_rc 2
	want_out_empty
	want_err_line 1 "kvmigrate: error: unexpected argument 'extra'"
	want_err_line 2 "usage: $(usage_of "$c")"
	end
done

begin "export without -o"
run export --package auth
want_usage_error "missing the output file: use -o FILE" "$(usage_of export)"
end

begin "export with a bad package name"
run export -o "$T/x.kvm" --package Auth
want_usage_error "invalid package name 'Auth': expected 1 to 64 of a-z, 0-9, '_' and '-'" "$(usage_of export)"
end

begin "export with a package given twice"
run export -o "$T/x.kvm" --package auth --package auth
want_usage_error "package 'auth' given twice" "$(usage_of export)"
end

begin "import without -i"
run import --kv "$T/kv"
want_usage_error "missing the export file: use -i FILE" "$(usage_of import)"
end

begin "import without a KV store"
run import -i x.kvm
want_usage_error "missing the KV store: use --kv PATH or set KVMIGRATE_KV" "$(usage_of import)"
end

begin "verify without a KV store"
run verify --export x.kvm
want_usage_error "missing the KV store: use --kv PATH or set KVMIGRATE_KV" "$(usage_of verify)"
end

begin "up --kv-enabled without a KV store"
run up --kv-enabled
want_usage_error "the KV migration needs a KV store: use --kv PATH or set KVMIGRATE_KV" "$(usage_of up)"
end

begin "KVMIGRATE_KV_ENABLED=1 turns the KV flag on"
run_env "KVMIGRATE_KV_ENABLED=1" up
want_usage_error "the KV migration needs a KV store: use --kv PATH or set KVMIGRATE_KV" "$(usage_of up)"
end

begin "KVMIGRATE_KV_ENABLED with a bad value"
run_env "KVMIGRATE_KV_ENABLED=yes" up
want_usage_error "invalid value 'yes' for KVMIGRATE_KV_ENABLED: expected 1 or 0" "$(usage_of up)"
end

begin "up --drop-tables without the KV flag"
run_env "KVMIGRATE_KV_ENABLED=0" up --drop-tables --kv "$T/kv"
want_usage_error "--drop-tables needs the KV flag (--kv-enabled or KVMIGRATE_KV_ENABLED=1)" "$(usage_of up)"
end

begin "up --keep-export without the KV flag"
run up --keep-export "$T/keep.kvm"
want_usage_error "--keep-export needs the KV flag (--kv-enabled or KVMIGRATE_KV_ENABLED=1)" "$(usage_of up)"
end

# --- the KV flag, drop-tables, verify and export without a database ---------

begin "up with the KV flag and every option, to an unreachable database: exit 1, nothing written"
run_env "KVMIGRATE_CONNECT_RETRY=0" up --kv-enabled --drop-tables --jobs 4 --keep-export "$T/keep.kvm" \
	--db "host=$T/nosock dbname=nosuch" --kv "$T/kv" --lock-wait 30
want_rc 1
want_out_empty
want_err_grep "^kvmigrate: error: cannot connect to database 'nosuch'"
[ -e "$T/kv" ] && fail "$T/kv was created"
[ -e "$T/keep.kvm" ] && fail "$T/keep.kvm was created"
:
end

begin "up with the KV flag and store from the environment, to an unreachable database"
run_env "KVMIGRATE_CONNECT_RETRY=0 KVMIGRATE_KV_ENABLED=1 KVMIGRATE_KV=$T/kv KVMIGRATE_DB=host=$T/nosock" up --drop-tables
want_rc 1
want_err_grep "^kvmigrate: error: cannot connect to database"
[ -e "$T/kv" ] && fail "$T/kv was created"
:
end

begin "up with a schema directory that holds no version"
run up --db "dbname=nosuch" --schema-dir "$T"
want_rc 1
want_out_empty
want_err_line 1 "kvmigrate: error: schema directory '$T' holds no version file (NNNNNN_name.up.sql)"
want_err_line 2 "hint: nothing was changed"
end

begin "up with an unreachable database fails after one attempt when retries are off"
run_env "KVMIGRATE_CONNECT_RETRY=0" up --db "host=$T/nosock dbname=nosuch"
want_rc 1
want_out_empty
want_err_grep "^kvmigrate: error: cannot connect to database 'nosuch' on $T/nosock port [0-9]+ as user '"
want_err_grep "^hint: nothing was changed"
grep -q "cannot connect yet" "$T/err" && fail "it retried"
:
end

begin "up with a bad KVMIGRATE_CONNECT_RETRY"
run_env "KVMIGRATE_CONNECT_RETRY=soon" up
want_usage_error "invalid value 'soon' for KVMIGRATE_CONNECT_RETRY: expected seconds from 0 to 3600" "$(usage_of up)"
end

begin "export of an unknown package is a usage error, before connecting"
run export -o "$T/x.kvm" --package auth --package sessions --jobs 2 --db "dbname=nosuch"
want_rc 2
want_out_empty
want_err_line 1 "kvmigrate: error: unknown package 'sessions'; the packages are auth, refs, staging, actions, multiparts"
[ -e "$T/x.kvm" ] && fail "$T/x.kvm was created"
:
end

begin "export --output (long form) to an unreachable database writes nothing"
run_env "KVMIGRATE_CONNECT_RETRY=0" export --output "$T/x.kvm" --db "host=$T/nosock dbname=nosuch"
want_rc 1
want_out_empty
want_err_grep "^kvmigrate: error: cannot connect to database 'nosuch' on $T/nosock port [0-9]+ as user '"
want_err_grep "^hint: no file was written"
[ -e "$T/x.kvm" ] && fail "$T/x.kvm was created"
for f in "$T"/.*tmp*; do [ -e "$f" ] && fail "a temporary file was left: $f"; done
:
end

begin "import of a missing export: exit 1, the KV path not created"
run import -i "$T/x.kvm" --kv "$T/kv" --force
want_rc 1
want_out_empty
want_err_grep "^kvmigrate: error: .*$T/x.kvm"
want_err_grep "^hint: '$T/kv' was not changed"
[ -e "$T/kv" ] && fail "$T/kv was created"
for f in "$T"/.*tmp*; do [ -e "$f" ] && fail "a temporary file was left: $f"; done
:
end

begin "import with the KV store from KVMIGRATE_KV, then again: refused without --force"
run_env "KVMIGRATE_KV=$T/kv" import --input testdata/good/small.kvm
want_rc 0
want_out_empty
want_err_grep "^imported [0-9]+ records from testdata/good/small.kvm into $T/kv \\(new\\): KV version [0-9]+, migration id [0-9a-f]{32}"
run_env "KVMIGRATE_KV=$T/kv" import --input testdata/good/small.kvm
want_rc 1
want_err_grep "^kvmigrate: error: '$T/kv' holds a KV store kvmigrate built"
run import -i testdata/good/small.kvm --kv "$T/kv" --force
want_rc 0
want_err_grep "into $T/kv \\(replaced\\)"
rm -f "$T/kv" "$T/kv-lock"
end

begin "import --map-size below 1 MiB is a usage error"
run import -i testdata/good/small.kvm --kv "$T/kv" --map-size 4096
want_rc 2
[ -e "$T/kv" ] && fail "$T/kv was created"
:
end

begin "status --json with an unreachable database: one JSON object, ok false"
run_env "KVMIGRATE_CONNECT_RETRY=0" status --json --db "host=$T/nosock dbname=nosuch" --kv "$T/kv"
want_rc 1
want_out_grep '^  "ok": false,$'
want_out_grep '^    "name": "KVM_ECONNECT",$'
want_err_grep "^kvmigrate: error: cannot connect to database 'nosuch'"
[ -e "$T/kv" ] && fail "$T/kv was created"
:
end

begin "verify of a KV store that does not exist: exit 1, nothing created"
run_env "KVMIGRATE_CONNECT_RETRY=0" verify --kv "$T/kv" --export "$T/x.kvm" --db "host=$T/nosock dbname=nosuch"
want_rc 1
want_err_grep "^kvmigrate: error: cannot open the KV store '$T/kv'"
[ -e "$T/kv" ] && fail "$T/kv was created"
:
end

begin "drop-tables to an unreachable database: exit 1, nothing dropped"
run_env "KVMIGRATE_CONNECT_RETRY=0" drop-tables --db "host=$T/nosock dbname=nosuch"
want_rc 1
want_out_empty
want_err_grep "^kvmigrate: error: cannot connect to database 'nosuch'"
want_err_grep "^hint: nothing was dropped"
end

# --- standard output errors ---------------------------------------------

if [ -w /dev/full ]; then
	begin "--help >/dev/full: exit 1 and the write error"
	"$KVMIGRATE" --help >/dev/full 2>"$T/err"
	rc=$?
	want_rc 1
	want_err_exact "kvmigrate: error: cannot write to standard output: No space left on device"
	end

	begin "--version >/dev/full: exit 1"
	"$KVMIGRATE" --version >/dev/full 2>"$T/err"
	rc=$?
	want_rc 1
	want_err_exact "kvmigrate: error: cannot write to standard output: No space left on device"
	end

	begin "a failing command keeps its status when stdout fails too"
	"$KVMIGRATE" inspect --json "$T/nosuch.kvm" >/dev/full 2>"$T/err"
	rc=$?
	want_rc 1
	want_err_line 2 "kvmigrate: error: cannot write to standard output: No space left on device"
	end
else
	skip "stdout write errors" "no /dev/full"
fi

begin "stdout closed: exit 1 and the error"
"$KVMIGRATE" --help >&- 2>"$T/err"
rc=$?
want_rc 1
want_err_grep "^kvmigrate: error: cannot write to standard output: "
want_err_lines 1
end

# --- the man page -------------------------------------------------------

if command -v groff >/dev/null 2>&1; then
	begin "the man page renders without warnings"
	groff -man -ww -z "$MAN" >"$T/out" 2>"$T/err"
	rc=$?
	want_rc 0
	want_err_empty
	end
else
	skip "the man page renders without warnings" "groff not installed"
fi

for c in $COMMANDS; do
	begin "man page: '$c' has the usage line and the options of its --help"
	"$KVMIGRATE" "$c" --help >"$T/h" 2>/dev/null
	pycheck options "$T/h" "$MAN" "$c"
	end
done

begin "man page documents the exit status 0 to 5"
sed -n '/^\.SH "EXIT STATUS"/,/^\.SH /p' "$MAN" >"$T/out"
for code in 0 1 2 3 4 5; do
	grep -qx "\.B $code" "$T/out" || fail "no exit status $code"
done
end

# --- inspect: errors ----------------------------------------------------

begin "inspect on a missing file: one error line naming it, exit 1"
run inspect "$T/nosuch.kvm"
want_rc 1
want_out_empty
want_err_lines 1
want_err_grep "^kvmigrate: error: .*$T/nosuch\.kvm.*No such file or directory"
end

begin "inspect --json on a missing file: ok false and ENOENT"
run inspect --json "$T/nosuch.kvm"
want_rc 1
want_err_lines 1
pycheck jsonerr "$T/out" ENOENT "No such file or directory" "$T/nosuch.kvm"
end

# A file name with a quote, a backslash, control characters, valid UTF-8
# and a byte that is not UTF-8; the file does not exist.
WEIRD=$(printf 'we"ird\\\001\tn\303\251me\377.kvm')
export WEIRD
begin "inspect --json escapes every byte of a file name"
run inspect --json "$WEIRD"
want_rc 1
pycheck escapes "$T/out"
end

begin "the error line shows control characters of a name as '?'"
run inspect "$WEIRD"
want_rc 1
want_out_empty
want_err_lines 1
want_err_grep "^kvmigrate: error: .*we\"ird\\\\\?\?n"
end

# --- inspect: golden files ----------------------------------------------

for name in $GOOD; do
	f=testdata/good/$name.kvm
	j=testdata/good/$name.json

	begin "testdata/good/$name.kvm and $name.json exist"
	[ -f "$f" ] || fail "$f is missing"
	[ -f "$j" ] || fail "$j is missing"
	end

	begin "inspect $name.kvm: exit 0, packages and counts as the checker's"
	run inspect "$f"
	want_rc 0
	want_err_empty
	want_out_grep "^file: +$f$"
	want_out_grep "^format version: +1$"
	want_out_grep "^snapshot time: +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$"
	pycheck text "$j" "$T/out" 0
	end

	begin "inspect --verify $name.kvm: exit 0, verified"
	run inspect --verify "$f"
	want_rc 0
	want_err_empty
	pycheck text "$j" "$T/out" 1
	end

	begin "inspect --json $name.kvm: counts and digests as the checker's"
	run inspect --json "$f"
	want_rc 0
	want_err_empty
	pycheck json "$j" "$T/out" 0 "$f"
	end

	begin "inspect --verify --json $name.kvm"
	run inspect --verify --json "$f"
	want_rc 0
	want_err_empty
	pycheck json "$j" "$T/out" 1 "$f"
	end

	begin "cat $name.kvm | inspect -: a pipe is read in full"
	if [ -f "$f" ]; then
		# shellcheck disable=SC2002  # the point is a pipe
		cat "$f" | "$KVMIGRATE" inspect - >"$T/out" 2>"$T/err"
		rc=$?
	else
		rc=-1
	fi
	want_rc 0
	want_err_empty
	want_out_grep "^file: +- \(standard input\)$"
	pycheck text "$j" "$T/out" 1
	end

	begin "inspect - <$name.kvm: a seekable stdin"
	if [ -f "$f" ]; then
		"$KVMIGRATE" inspect - <"$f" >"$T/out" 2>"$T/err"
		rc=$?
	else
		rc=-1
	fi
	want_rc 0
	want_err_empty
	pycheck text "$j" "$T/out" any
	end

	begin "cat $name.kvm | inspect --json -: verified, file \"-\""
	if [ -f "$f" ]; then
		# shellcheck disable=SC2002  # the point is a pipe
		cat "$f" | "$KVMIGRATE" inspect --json - >"$T/out" 2>"$T/err"
		rc=$?
	else
		rc=-1
	fi
	want_rc 0
	want_err_empty
	pycheck json "$j" "$T/out" 1 -
	end
done

begin "inspect >/dev/full on a good file: exit 1"
if [ -w /dev/full ] && [ -f testdata/good/multiframe.kvm ]; then
	"$KVMIGRATE" inspect --verify --json testdata/good/multiframe.kvm >/dev/full 2>"$T/err"
	rc=$?
else
	rc=-1
fi
want_rc 1
want_err_exact "kvmigrate: error: cannot write to standard output: No space left on device"
end

# --- inspect: broken files ----------------------------------------------

nbroken=0
for f in testdata/broken/*.kvm; do
	[ -f "$f" ] || continue
	nbroken=$((nbroken + 1))
	name=${f%.kvm}
	code=$(sed -n 1p "$name.expect" 2>/dev/null)
	substr=$(sed -n 2p "$name.expect" 2>/dev/null)

	begin "$f: $name.expect names a code and a message"
	[ -n "$code" ] || fail "no code on line 1 of $name.expect"
	[ -n "$substr" ] || fail "no message on line 2 of $name.expect"
	end

	begin "inspect --verify $f: exit 1, one error line with the file and '$substr'"
	run inspect --verify "$f"
	want_rc 1
	want_out_empty
	want_err_lines 1
	line=$(sed -n 1p "$T/err")
	case $line in
	"kvmigrate: error: "*) ;;
	*) fail "stderr does not start with 'kvmigrate: error: '" ;;
	esac
	case $line in
	*"$f"*) ;;
	*) fail "the error line does not name $f" ;;
	esac
	case $line in
	*"$substr"*) ;;
	*) fail "the error line lacks '$substr'" ;;
	esac
	end

	begin "inspect --verify --json $f: ok false, error.name $code, the message"
	run inspect --verify --json "$f"
	want_rc 1
	want_err_lines 1
	pycheck jsonerr "$T/out" "$code" "$substr" "$f"
	end
done

begin "testdata/broken holds broken files with their .expect"
[ "$nbroken" -gt 0 ] || fail "no testdata/broken/*.kvm"
end

tap_done
