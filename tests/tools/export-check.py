#!/usr/bin/python3
"""export-check.py - check a kvmigrate export file against the database it
was read from, independently of the C code.

    export-check.py db FILE --db CONNINFO [--stderr ERRFILE] [--packages P,Q,...]
        Decode FILE and compare every record with the records built here
        from psql's output and old-schema.md ("The KV layout") alone: every
        row of every old table once, under the right partition and key,
        with the right value; no other record; records in strictly
        increasing (partition, key) byte order within each section; the
        sections in registry order (or exactly P,Q,... when given); the
        header's schema versions those of the database.  With --stderr,
        ERRFILE (the export's stderr) must hold one summary line per
        package whose records and bytes equal the section's.
    export-check.py same FILE1 FILE2 [--bytes]
        Both files hold the same sections (package, records, bytes, digest)
        and the same decoded records, in the same order.  With --bytes, the
        files' frames between the header frame and the trailer frame are
        identical byte for byte, and so are the trailers but for the file
        digest and the frames digest (both cover the header, which holds
        the snapshot time).
    export-check.py counts FILE
        Print "PACKAGE RECORDS BYTES" per section, from the trailer.

The file is first checked with tests/tools/kvmexport.py (every rule of
design/export-format.md), then its records are read with `zstd -dc` and
Python's msgpack package.  The database is read with psql (from
$KVMIGRATE_TEST_PGBIN when set, else from PATH), one
`COPY (SELECT ...) TO STDOUT` per table: bytea as hex, jsonb as its text,
text[] as JSON, timestamptz as whole seconds since the epoch and the
microseconds.  Values are compared as decoded msgpack with the types kept
apart (str/bin, int/bool, nil), then as bytes: the writer uses the shortest
msgpack encoding, as Python's msgpack does.

On success it prints one line, "export-check: ok: auth 123, refs 45, ...";
on a mismatch one line naming the first difference, and exits 1.  Exit
status 2: usage.  Run it with /usr/bin/python3 (python3-msgpack and
python3-xxhash).
"""

import json
import os
import re
import subprocess
import sys

import msgpack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvmexport  # noqa: E402  (the independent reader of the format)

PROG = "export-check"
REGISTRY = ["auth", "refs", "staging", "actions", "multiparts"]
SUMMARY_LINE = re.compile(r"^  (\S+)\s+(\d+) records\s+(\d+) bytes\s+([0-9.]+) s$")


class Mismatch(Exception):
    """The file and the database (or the two files) differ."""


# --------------------------------------------------------------------------
# Reading the database: one COPY per table, in text format
# --------------------------------------------------------------------------

def psql_path():
    d = os.environ.get("KVMIGRATE_TEST_PGBIN")
    return os.path.join(d, "psql") if d else "psql"


# Column types and how each is selected so that its text is exact.
def select_expr(col, kind):
    if kind == "bytea":
        return "encode(%s, 'hex')" % col
    if kind == "ts":
        # whole seconds and microseconds, both exact (no float)
        return ("floor(extract(epoch FROM %s))::bigint || ' ' || "
                "(extract(microseconds FROM %s)::bigint %% 1000000)" % (col, col))
    if kind == "json":
        return "%s::text" % col
    if kind == "textarray":
        return "array_to_json(%s)::text" % col
    return col                                    # text, int, bool


COPY_ESCAPES = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r",
                b"t": b"\t", b"v": b"\v"}
COPY_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", re.S)


def copy_unescape(field):
    """One field of COPY's text format: None for \\N, else the bytes."""
    if field == b"\\N":
        return None
    if b"\\" not in field:
        return field

    def one(m):
        s = m.group(1)
        if s[:1] == b"x":
            return bytes([int(s[1:], 16)])
        if s[:1].isdigit() and s[:1] < b"8":
            return bytes([int(s, 8) & 0xff])
        return COPY_ESCAPES.get(s, s)
    return COPY_ESCAPE.sub(one, field)


def convert(raw, kind):
    """The Python value of one field, as the KV value must hold it."""
    if raw is None:
        return None
    if kind == "bytea":
        return bytes.fromhex(raw.decode("ascii"))
    text = raw.decode("utf-8")
    if kind == "int":
        return int(text)
    if kind == "bool":
        if text not in ("t", "f"):
            raise Mismatch("psql printed boolean %r" % text)
        return text == "t"
    if kind == "ts":
        sec, usec = text.split(" ")
        return msgpack.Timestamp(int(sec), int(usec) * 1000)
    if kind == "textarray":
        return json.loads(text)
    return text                                   # text, json (its text)


def select(conninfo, cols, from_sql):
    """Rows of SELECT cols FROM from_sql, each a dict name -> value.

    cols: [(name, kind, expression or None)]; the expression defaults to the
    column of that name."""
    exprs = [select_expr(e or n, k) for n, k, e in cols]
    sql = "COPY (SELECT %s FROM %s) TO STDOUT" % (", ".join(exprs), from_sql)
    env = dict(os.environ, PGCLIENTENCODING="UTF8")
    p = subprocess.run([psql_path(), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                        "-d", conninfo, "-c", sql],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if p.returncode != 0:
        msg = p.stderr.decode("utf-8", "replace").strip().splitlines()
        raise Mismatch("psql failed on %s: %s" % (from_sql.split()[0],
                                                 msg[0] if msg else "?"))
    rows = []
    for line in p.stdout.split(b"\n")[:-1]:
        fields = line.split(b"\t")
        if len(fields) != len(cols):
            raise Mismatch("psql printed %d fields, expected %d, for %s"
                           % (len(fields), len(cols), from_sql.split()[0]))
        rows.append({n: convert(copy_unescape(f), k)
                     for (n, k, _), f in zip(cols, fields)})
    return rows


def kv_map(*pairs):
    """An expected KV value: its (key, value) pairs, "v": 1 first."""
    return kvmexport.Pairs([("v", 1)] + list(pairs))


def value(row, cols):
    """The KV value of a row: "v": 1, then the columns in table order."""
    return kv_map(*[(n, row[n]) for n, _, _ in cols])


def b(s):
    return s.encode("utf-8")


# --------------------------------------------------------------------------
# The records each table must give (old-schema.md, "The KV layout")
# --------------------------------------------------------------------------
# Each function yields (table, partition, key, value pairs).

MEMBERSHIP = kv_map()

USER_COLS = [("created_at", "ts", None), ("display_name", "text", None),
             ("friendly_name", "text", None), ("source", "text", None),
             ("email", "text", None), ("encrypted_password", "bytea", None),
             ("external_id", "text", None)]
GROUP_COLS = [("created_at", "ts", None), ("display_name", "text", None)]
POLICY_COLS = [("created_at", "ts", None), ("display_name", "text", None),
               ("statement", "json", None)]


def auth_named(db, table, prefix, cols):
    """users, groups, policies: auth / PREFIX/{display_name} -> the row
    without its serial id."""
    for r in select(db, cols, table):
        yield table, b"auth", b(prefix + "/" + r["display_name"]), value(r, cols)


def auth_links(db, table, left, right, prefix, middle):
    """Memberships and attachments: auth / PREFIX/{left}/MIDDLE/{right}
    -> {"v": 1}.  left and right are (column, table) pairs; the names
    replace the ids."""
    (lcol, ltab), (rcol, rtab) = left, right
    cols = [("l_id", "int", "x." + lcol), ("r_id", "int", "x." + rcol),
            ("l", "text", "l.display_name"), ("r", "text", "r.display_name")]
    frm = ("%s x LEFT JOIN %s l ON l.id = x.%s LEFT JOIN %s r ON r.id = x.%s"
           % (table, ltab, lcol, rtab, rcol))
    for r in select(db, cols, frm):
        if r["l"] is None or r["r"] is None:
            raise Mismatch("%s holds a dangling row (%s=%s, %s=%s): the "
                           "export should have failed"
                           % (table, lcol, r["l_id"], rcol, r["r_id"]))
        key = "%s/%s/%s/%s" % (prefix, r["l"], middle, r["r"])
        yield table, b"auth", b(key), MEMBERSHIP


def auth_credentials(db):
    """auth / uCredentials/{user}/credentials/{access_key_id}; the user's
    name replaces user_id (nil, and an empty {user}, when it is NULL)."""
    cols = [("access_key_id", "text", "c.access_key_id"),
            ("secret_access_key", "bytea", "c.secret_access_key"),
            ("issued_date", "ts", "c.issued_date"),
            ("user_id", "int", "c.user_id"),
            ("user", "text", "u.display_name")]
    frm = "auth_credentials c LEFT JOIN auth_users u ON u.id = c.user_id"
    for r in select(db, cols, frm):
        if r["user_id"] is not None and r["user"] is None:
            raise Mismatch("auth_credentials: %s has a dangling user_id %d: "
                           "the export should have failed"
                           % (r["access_key_id"], r["user_id"]))
        key = "uCredentials/%s/credentials/%s" % (r["user"] or "",
                                                  r["access_key_id"])
        val = kv_map(("access_key_id", r["access_key_id"]),
                     ("secret_access_key", r["secret_access_key"]),
                     ("issued_date", r["issued_date"]), ("user", r["user"]))
        yield "auth_credentials", b"auth", b(key), val


def auth_by_key(db, table, prefix, keycol, cols):
    """expiredTokens and installation_metadata: auth / PREFIX/{keycol}."""
    for r in select(db, cols, table):
        yield table, b"auth", b(prefix + "/" + r[keycol]), value(r, cols)


REPO_COLS = [("id", "text", None), ("storage_namespace", "text", None),
             ("creation_date", "ts", None), ("default_branch", "text", None)]
BRANCH_COLS = [("repository_id", "text", None), ("id", "text", None),
               ("staging_token", "text", None), ("commit_id", "text", None)]
TAG_COLS = [("repository_id", "text", None), ("id", "text", None),
            ("commit_id", "text", None)]
COMMIT_COLS = [("repository_id", "text", None), ("id", "text", None),
               ("committer", "text", None), ("message", "text", None),
               ("creation_date", "ts", None), ("meta_range_id", "text", None),
               ("metadata", "json", None), ("parents", "textarray", None),
               ("version", "int", None), ("generation", "int", None)]


def refs_repositories(db):
    """graveler / repos/{id}."""
    for r in select(db, REPO_COLS, "graveler_repositories"):
        yield ("graveler_repositories", b"graveler", b("repos/" + r["id"]),
               value(r, REPO_COLS))


def refs_in_repo(db, table, prefix, cols):
    """branches, tags, commits: repo/{repository_id} / PREFIX/{id}."""
    for r in select(db, cols, table):
        yield (table, b("repo/" + r["repository_id"]),
               b(prefix + "/" + r["id"]), value(r, cols))


STAGING_COLS = [("staging_token", "text", None), ("key", "bytea", None),
                ("identity", "bytea", None), ("data", "bytea", None)]


def staging(db):
    """staging/{staging_token} / {key} -> {v, identity, data}; a NULL
    identity (a tombstone) stays nil."""
    for r in select(db, STAGING_COLS, "graveler_staging_kv"):
        yield ("graveler_staging_kv", b("staging/" + r["staging_token"]),
               r["key"], kv_map(("identity", r["identity"]),
                                ("data", r["data"])))


RUN_COLS = [("repository_id", "text", None), ("run_id", "text", None),
            ("event_type", "text", None), ("start_time", "ts", None),
            ("end_time", "ts", None), ("branch_id", "text", None),
            ("source_ref", "text", None), ("commit_id", "text", None),
            ("passed", "bool", None)]
HOOK_COLS = [("repository_id", "text", None), ("run_id", "text", None),
             ("hook_run_id", "text", None), ("action_name", "text", None),
             ("hook_id", "text", None), ("start_time", "ts", None),
             ("end_time", "ts", None), ("passed", "bool", None)]


def actions_runs(db):
    """repo/{repository_id} / actions/runs/{run_id}, plus the two index
    records actions/branches/{branch_id}/{run_id} and
    actions/commits/{commit_id}/{run_id}."""
    for r in select(db, RUN_COLS, "actions_runs"):
        part = b("repo/" + r["repository_id"])
        run = r["run_id"]
        yield "actions_runs", part, b("actions/runs/" + run), value(r, RUN_COLS)
        yield ("actions_runs", part,
               b("actions/branches/%s/%s" % (r["branch_id"], run)), MEMBERSHIP)
        yield ("actions_runs", part,
               b("actions/commits/%s/%s" % (r["commit_id"], run)), MEMBERSHIP)


def actions_hooks(db):
    """repo/{repository_id} / actions/hooks/{run_id}/{hook_run_id}."""
    for r in select(db, HOOK_COLS, "actions_run_hooks"):
        key = "actions/hooks/%s/%s" % (r["run_id"], r["hook_run_id"])
        yield ("actions_run_hooks", b("repo/" + r["repository_id"]), b(key),
               value(r, HOOK_COLS))


MULTIPART_COLS = [("upload_id", "text", None), ("path", "text", None),
                  ("creation_date", "ts", None),
                  ("physical_address", "text", None),
                  ("metadata", "json", None), ("content_type", "text", None)]


def multiparts(db):
    """gateway / multipart/{upload_id}; NULL metadata and content_type
    (uploads of old releases) are nil."""
    for r in select(db, MULTIPART_COLS, "gateway_multiparts"):
        yield ("gateway_multiparts", b"gateway",
               b("multipart/" + r["upload_id"]), value(r, MULTIPART_COLS))


def expected_auth(db):
    yield from auth_named(db, "auth_users", "users", USER_COLS)
    yield from auth_named(db, "auth_groups", "groups", GROUP_COLS)
    yield from auth_named(db, "auth_policies", "policies", POLICY_COLS)
    yield from auth_links(db, "auth_user_groups", ("group_id", "auth_groups"),
                          ("user_id", "auth_users"), "gUsers", "users")
    yield from auth_links(db, "auth_user_policies", ("user_id", "auth_users"),
                          ("policy_id", "auth_policies"), "uPolicies", "policies")
    yield from auth_links(db, "auth_group_policies", ("group_id", "auth_groups"),
                          ("policy_id", "auth_policies"), "gPolicies", "policies")
    yield from auth_credentials(db)
    yield from auth_by_key(db, "auth_expired_tokens", "expiredTokens", "token_id",
                           [("token_id", "text", None),
                            ("token_expires_at", "ts", None)])
    yield from auth_by_key(db, "auth_installation_metadata",
                           "installation_metadata", "key_name",
                           [("key_name", "text", None),
                            ("key_value", "text", None)])


def expected_refs(db):
    yield from refs_repositories(db)
    yield from refs_in_repo(db, "graveler_branches", "branches", BRANCH_COLS)
    yield from refs_in_repo(db, "graveler_tags", "tags", TAG_COLS)
    yield from refs_in_repo(db, "graveler_commits", "commits", COMMIT_COLS)


def expected_actions(db):
    yield from actions_runs(db)
    yield from actions_hooks(db)


EXPECTED = {"auth": expected_auth, "refs": expected_refs, "staging": staging,
            "actions": expected_actions, "multiparts": multiparts}


# --------------------------------------------------------------------------
# Reading the export
# --------------------------------------------------------------------------

def check_format(path):
    """kvmexport.py's full check of the file; its summary."""
    summary, err = kvmexport.check_file(path)
    if err:
        raise Mismatch(kvmexport.error_line(path, err).strip())
    return summary


def records(path):
    """Yield (package, partition, key, value bytes) of every record, with
    nothing but `zstd -dc` and a msgpack decoder."""
    p = subprocess.Popen(["zstd", "-q", "-dc", "--", path],
                         stdout=subprocess.PIPE, env=kvmexport.zstd_env())
    package = None
    try:
        for obj in msgpack.Unpacker(p.stdout, raw=False, strict_map_key=False,
                                    max_buffer_size=kvmexport.MAX_VALUE + (1 << 20)):
            if isinstance(obj, dict):
                if obj.get("type") == "section":
                    package = obj["package"]
                elif obj.get("type") == "section_end":
                    package = None
            else:
                part, key, val = obj
                yield package, part, key, val
    finally:
        p.kill()
        p.stdout.close()
        p.wait()


def typed(v):
    """v with its msgpack type made explicit, so that True != 1,
    b"" != "" and a map's key order counts."""
    if v is None:
        return ("nil",)
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, str):
        return ("str", v)
    if isinstance(v, bytes):
        return ("bin", v)
    if isinstance(v, msgpack.Timestamp):
        return ("timestamp", v.seconds, v.nanoseconds)
    if isinstance(v, kvmexport.Pairs):               # a map, decoded or expected
        return ("map", tuple((typed(k), typed(x)) for k, x in v))
    if isinstance(v, list):
        return ("array", tuple(typed(x) for x in v))
    return (type(v).__name__, repr(v))


def show(x, limit=100):
    s = repr(x)
    return s if len(s) <= limit else s[:limit] + "..."


def decode_value(raw, where):
    try:
        return msgpack.unpackb(raw, raw=False, strict_map_key=False,
                               object_pairs_hook=kvmexport.Pairs, timestamp=0)
    except Exception as e:
        raise Mismatch("%s: the value is not msgpack (%s)" % (where, e))


def where(package, part, key):
    return "package %s, record %s %s" % (package, show(part, 60), show(key, 80))


# --------------------------------------------------------------------------
# db: the file against the database
# --------------------------------------------------------------------------

def compare_section(package, got, expected):
    """got: [(part, key, value bytes)] in file order; expected: the records
    built from the database."""
    want = {}
    for table, part, key, val in expected:
        if (part, key) in want:
            raise Mismatch("package %s: two rows give the record %s %s (%s and "
                           "%s)" % (package, show(part), show(key),
                                    want[(part, key)][0], table))
        want[(part, key)] = (table, val)
    prev = None
    for i, (part, key, raw) in enumerate(got):
        w = where(package, part, key)
        if prev is not None and (part, key) <= prev:
            what = "repeats" if (part, key) == prev else "is not above"
            raise Mismatch("%s (#%d) %s the previous record %s %s"
                           % (w, i, what, show(prev[0], 60), show(prev[1], 80)))
        prev = (part, key)
        if (part, key) not in want:
            raise Mismatch("%s: no row of the database gives it" % w)
        table, val = want.pop((part, key))
        dec = decode_value(raw, w)
        if not isinstance(dec, kvmexport.Pairs):
            raise Mismatch("%s: the value is not a map: %s" % (w, show(dec)))
        if typed(dec) != typed(val):
            raise Mismatch("%s (%s): %s" % (w, table, first_difference(dec, val)))
        if raw != msgpack.packb(val_dict(val), use_bin_type=True):
            raise Mismatch("%s: the value is not in the shortest msgpack "
                           "encoding: %s" % (w, raw.hex()[:120]))
    if want:
        (part, key), (table, _) = min(want.items())
        raise Mismatch("package %s: %d records missing, the first %s %s (from "
                       "%s)" % (package, len(want), show(part, 60),
                                show(key, 80), table))


def first_difference(got, want):
    """The first pair where a decoded map and the expected pairs differ."""
    got, want = list(got), list(want)
    for i in range(max(len(got), len(want))):
        g = got[i] if i < len(got) else ("(none)", None)
        x = want[i] if i < len(want) else ("(none)", None)
        if typed(g[0]) != typed(x[0]) or typed(g[1]) != typed(x[1]):
            return ("pair %d is %s: %s, expected %s: %s"
                    % (i, show(g[0]), show(typed(g[1])), show(x[0]),
                       show(typed(x[1]))))
    return "the maps differ"


def val_dict(pairs):
    """A map for msgpack.packb that keeps the pairs' order."""
    return dict(pairs)


def check_summary_lines(errfile, sections):
    """The export's stderr: one summary line per package, in file order,
    with the section's records and bytes."""
    with open(errfile, encoding="utf-8", errors="replace") as f:
        lines = [m for m in map(SUMMARY_LINE.match, f.read().split("\n")) if m]
    got = [(m.group(1), int(m.group(2)), int(m.group(3))) for m in lines]
    want = [(s["package"], s["records"], s["bytes"]) for s in sections]
    if got != want:
        raise Mismatch("stderr summary %s differs from the sections %s"
                       % (got, want))


def cmd_db(path, conninfo, errfile, packages):
    summary = check_format(path)
    header = summary["header"]
    want_packages = packages or REGISTRY
    if header["packages"] != want_packages:
        raise Mismatch("header packages %s, expected %s"
                       % (header["packages"], want_packages))
    version = select(conninfo, [("version", "int", None)], "schema_migrations")
    if (header["source_schema_version"] != version[0]["version"]
            or header["kv_migration_version"] != version[0]["version"] + 1):
        raise Mismatch("header: source_schema_version %d, kv_migration_version "
                       "%d; the database is at version %d"
                       % (header["source_schema_version"],
                          header["kv_migration_version"], version[0]["version"]))
    by_package = {p: [] for p in header["packages"]}
    for package, part, key, val in records(path):
        if package not in by_package:
            raise Mismatch("a record outside a known section: %s"
                           % where(package, part, key))
        by_package[package].append((part, key, val))
    counts = []
    for s in summary["sections"]:
        package = s["package"]
        got = by_package[package]
        if len(got) != s["records"]:
            raise Mismatch("package %s: %d records decoded, the trailer says %d"
                           % (package, len(got), s["records"]))
        compare_section(package, got, EXPECTED[package](conninfo))
        counts.append("%s %d" % (package, len(got)))
    if errfile:
        check_summary_lines(errfile, summary["sections"])
    print("%s: ok: %s" % (PROG, ", ".join(counts)))


# --------------------------------------------------------------------------
# same, counts
# --------------------------------------------------------------------------

def between_header_and_trailer(path):
    """The file's bytes after its header frame (frame 0) and before its
    trailer frame, and its trailer without the file and frames digests
    (which cover the header, and so the snapshot time)."""
    with open(path, "rb") as f:
        data = f.read()
    start = kvmexport.walk_frame(data, 0, 0).end
    end = int.from_bytes(data[-8:], "little")
    trailer = kvmexport.zstd_decompress(
        data[end:-kvmexport.INDEX_SIZE], kvmexport.walk_frame(data, end, -1))
    trailer = msgpack.unpackb(trailer, raw=False)
    trailer.pop("digest", None)
    trailer.pop("frames_digest", None)
    return data[start:end], trailer


def cmd_same(path1, path2, compare_bytes):
    s1, s2 = check_format(path1), check_format(path2)
    if s1["header"]["packages"] != s2["header"]["packages"]:
        raise Mismatch("packages %s and %s" % (s1["header"]["packages"],
                                               s2["header"]["packages"]))
    for a, c in zip(s1["sections"], s2["sections"]):
        if a != c:
            raise Mismatch("section %s: %s in %s, %s in %s"
                           % (a["package"], a, path1, c, path2))
    n = 0
    sentinel = (None, None, None, None)
    r1, r2 = records(path1), records(path2)
    while True:
        a, c = next(r1, sentinel), next(r2, sentinel)
        if a != c:
            raise Mismatch("record %d differs: %s in %s, %s in %s"
                           % (n, show(a[:3]), path1, show(c[:3]), path2))
        if a is sentinel:
            break
        n += 1
    if compare_bytes:
        b1, t1 = between_header_and_trailer(path1)
        b2, t2 = between_header_and_trailer(path2)
        if b1 != b2:
            i = next((i for i, (x, y) in enumerate(zip(b1, b2)) if x != y),
                     min(len(b1), len(b2)))
            raise Mismatch("the bytes between the header and trailer frames "
                           "differ (%d and %d bytes, first difference at %d "
                           "of them)" % (len(b1), len(b2), i))
        if t1 != t2:
            raise Mismatch("the trailers differ (file and frames digests aside): %s and %s"
                           % (show(t1, 300), show(t2, 300)))
    print("%s: ok: %d records, %s" % (PROG, n, ", ".join(
        "%s %d" % (s["package"], s["records"]) for s in s1["sections"])))


def cmd_counts(path):
    for s in check_format(path)["sections"]:
        print("%s %d %d" % (s["package"], s["records"], s["bytes"]))


USAGE = """usage: export-check.py db FILE --db CONNINFO [--stderr ERRFILE] [--packages P,Q,...]
       export-check.py same FILE1 FILE2 [--bytes]
       export-check.py counts FILE
"""


def main(argv):
    args = argv[1:]
    opts = {}
    pos = []
    while args:
        a = args.pop(0)
        if a in ("--db", "--stderr", "--packages") and args:
            opts[a] = args.pop(0)
        elif a == "--bytes":
            opts[a] = True
        elif a.startswith("--"):
            sys.stderr.write(USAGE)
            return 2
        else:
            pos.append(a)
    try:
        if pos[:1] == ["db"] and len(pos) == 2 and "--db" in opts:
            packages = opts.get("--packages")
            cmd_db(pos[1], opts["--db"], opts.get("--stderr"),
                   packages.split(",") if packages else None)
        elif pos[:1] == ["same"] and len(pos) == 3:
            cmd_same(pos[1], pos[2], opts.get("--bytes", False))
        elif pos[:1] == ["counts"] and len(pos) == 2:
            cmd_counts(pos[1])
        else:
            sys.stderr.write(USAGE)
            return 2
    except Mismatch as e:
        print("%s: %s" % (PROG, " ".join(str(e).split())))
        return 1
    except Exception as e:            # a bug here, or a file beyond belief
        print("%s: unexpected %s: %s" % (PROG, type(e).__name__,
                                         " ".join(str(e).split())))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
