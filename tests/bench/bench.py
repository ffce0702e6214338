#!/usr/bin/python3
"""bench.py - how fast kvmigrate migrates, next to what its parts cost alone.

    bench.py --bin BIN --b2 B2TOOL --out FILE [--scratch DIR]

`make bench` runs it inside tests/tools/pg-harness.sh (a throwaway
PostgreSQL cluster), with BIN build/kvmigrate, B2TOOL
build/tools/bench-lmdb-append and FILE design/performance.md.

For each size it makes (or reuses) a database bench_<size> holding
tests/tools/gen-data.py --size <size> --seed 1, then measures, wall-clock,
in rounds: every measurement but C once untimed as a warm-up, then BENCH_REPS
rounds of all of them, each round starting one measurement further on:

    up           kvmigrate up --kv-enabled (export, import, version bump),
                 without progress; the database is put back at version 8
                 after each run
    up-progress  the same with the default progress display (to a file)
    export       kvmigrate export
    import       kvmigrate import of an export made beforehand
    B1           one psql session: COPY (SELECT <the columns the migrators
                 read> FROM <table>) TO STDOUT (FORMAT binary) per old table
    B2           bench-lmdb-append: as many LMDB puts (MDB_APPEND, one
                 transaction) of the same key and value sizes as the
                 export's records, timed inside the program, through the
                 map (MDB_WRITEMAP) and with LMDB's default flags
                 (B2-sync); the ratios take the faster of the two
    C            pg_dump -Fc of the old tables and their partitions

Targets, each reported as met or not: up <= 1.5 x (B1 + B2) at 5m;
export faster than C with a file no larger; peak memory (export's RSS,
import's and up's anonymous RSS) at 5m under 128 MiB and within 10% of
1m's; up's time per row at 2.5m and 5m within 10% of 1m's.

Each child's memory is sampled every 10 ms from /proc/PID/status: the
peak resident set (VmHWM, also from wait4) and the largest anonymous
resident set (RssAnon) seen.

It prints the results as tables on stdout and writes the same between
<!-- bench:begin --> and <!-- bench:end --> in FILE, leaving the rest of
FILE as it is; raw numbers go to DIR/results.json.  Progress goes to
stderr.  Big files live in DIR/run/ (default DIR build/bench) and are
removed after each run; at most one export and one store exist at a time.

Environment:
    BENCH_SIZES  sizes to measure, of 1m 2.5m 5m (default all three);
                 small and medium are accepted too, for trying the bench
    BENCH_REPS   timed rounds per size (default 3)
    BENCH_DB     conninfo of an existing cluster to use instead of the
                 harness's KVMIGRATE_TEST_DB; its bench_* databases are
                 kept, and one whose comment says it is complete is reused
                 by the next run instead of being generated again
    KVMIGRATE_TEST_PGBIN  where psql and pg_dump are (else PATH)

Exit status: 0 done; 1 a step failed (one line on stderr naming it, with
the tail of the failing command's stderr); 2 usage.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tools"))
import docregion  # noqa: E402

PROG = "bench"
SEED = 1
DEFAULT_SIZES = ["1m", "2.5m", "5m"]
# In size order; small and medium only for trying the bench out.
KNOWN_SIZES = ["small", "medium", "1m", "2.5m", "5m"]
DEFAULT_REPS = 3
POLL_SECONDS = 0.01
BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"
MIB = 1 << 20

# The columns each package migrator reads from its old tables
# (pkg-migrators/*.c), without the joins and the ORDER BY: B1 reads the
# same data as raw as PostgreSQL can hand it out.  The list of tables comes
# from `kvmigrate status --json`; a table missing here stops the bench.
TABLE_COLUMNS = {
    "auth_users": "created_at, display_name, friendly_name, source, email, "
                  "encrypted_password, external_id",
    "auth_groups": "created_at, display_name",
    "auth_policies": "created_at, display_name, statement",
    "auth_user_groups": "user_id, group_id",
    "auth_user_policies": "user_id, policy_id",
    "auth_group_policies": "group_id, policy_id",
    "auth_credentials": "access_key_id, secret_access_key, issued_date, user_id",
    "auth_installation_metadata": "key_name, key_value",
    "auth_expired_tokens": "token_id, token_expires_at",
    "graveler_repositories": "id, storage_namespace, creation_date, default_branch",
    "graveler_branches": "repository_id, id, staging_token, commit_id",
    "graveler_tags": "repository_id, id, commit_id",
    "graveler_commits": "repository_id, id, committer, message, creation_date, "
                        "meta_range_id, metadata, parents, version, generation",
    "graveler_staging_kv": "staging_token, key, identity, data",
    "actions_runs": "repository_id, run_id, event_type, start_time, end_time, "
                    "branch_id, source_ref, commit_id, passed",
    "actions_run_hooks": "repository_id, run_id, hook_run_id, action_name, "
                         "hook_id, start_time, end_time, passed",
    "gateway_multiparts": "upload_id, path, creation_date, physical_address, "
                          "metadata, content_type",
}

RESET_SQL = ("DELETE FROM schema_migrations; "
             "INSERT INTO schema_migrations VALUES (8, false)")

# Targets.
UP_LIMIT = 1.5          # up <= UP_LIMIT x (B1 + B2) at the largest size
MEM_GROWTH = 0.10       # peak memory at the largest size vs the smallest
MEM_LIMIT = 128 * MIB
ROW_GROWTH = 0.10       # time per row may vary this much and still be flat


class Failed(Exception):
    """A step failed: one line on stderr, exit status 1."""


def say(msg):
    print("%s: %s" % (PROG, msg), file=sys.stderr, flush=True)


# --- conninfo ---------------------------------------------------------------

def parse_kv_conninfo(s):
    """libpq keyword/value conninfo -> list of (keyword, value)."""
    pairs, i, n = [], 0, len(s)
    while True:
        while i < n and s[i].isspace():
            i += 1
        if i >= n:
            return pairs
        m = re.compile(r"([A-Za-z_]+)\s*=\s*").match(s, i)
        if not m:
            raise Failed("conninfo: cannot parse %r" % s)
        key, i, val = m.group(1), m.end(), []
        quoted = i < n and s[i] == "'"
        i += quoted
        while i < n and (s[i] != "'" if quoted else not s[i].isspace()):
            if s[i] == "\\" and i + 1 < n:
                i += 1
            val.append(s[i])
            i += 1
        if quoted:
            if i >= n:
                raise Failed("conninfo: unterminated quote in %r" % s)
            i += 1
        pairs.append((key, "".join(val)))


def with_dbname(conninfo, name):
    """The same connection, to database @name."""
    if re.match(r"postgres(ql)?://", conninfo):
        u = urllib.parse.urlsplit(conninfo)
        q = [(k, v) for k, v in urllib.parse.parse_qsl(u.query, keep_blank_values=True)
             if k != "dbname"]
        return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + urllib.parse.quote(name),
                                        urllib.parse.urlencode(q), u.fragment))
    pairs = [(k, v) for k, v in parse_kv_conninfo(conninfo) if k != "dbname"]
    pairs.append(("dbname", name))
    return " ".join("%s='%s'" % (k, v.replace("\\", "\\\\").replace("'", "\\'"))
                    for k, v in pairs)


# --- children ---------------------------------------------------------------

def tail(path, n=3):
    """The last @n non-empty lines of a file, on one line."""
    try:
        with open(path, errors="replace") as f:
            lines = [l.strip() for l in f.read().splitlines() if l.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])[-400:]


def proc_status(pid):
    """VmHWM and RssAnon of a live process, in KiB (0 when gone)."""
    hwm = anon = 0
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith("RssAnon:"):
                    anon = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return hwm, anon


def watch(pid, stop, peak):
    while not stop.is_set():
        hwm, anon = proc_status(pid)
        peak["hwm"] = max(peak["hwm"], hwm)
        peak["anon"] = max(peak["anon"], anon)
        stop.wait(POLL_SECONDS)


class Run:
    """One finished child: wall-clock seconds, peaks in bytes, exit code."""

    def __init__(self, seconds, hwm, anon, rc):
        self.seconds, self.hwm, self.anon, self.rc = seconds, hwm, anon, rc


def spawn(step, argv, stdout, stderr):
    """Run argv; time it and sample its memory while it runs.

    The clock stops when the child exits: waitid(WNOWAIT) sees the exit
    but leaves the zombie, so its pid cannot be reused while the sampler
    stops; wait4 then reaps it and gives its own peak RSS."""
    peak = {"hwm": 0, "anon": 0}
    stop = threading.Event()
    t0 = time.monotonic()
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
    except OSError as e:
        raise Failed("%s: cannot run %s: %s" % (step, argv[0], e.strerror))
    sampler = threading.Thread(target=watch, args=(p.pid, stop, peak), daemon=True)
    sampler.start()
    try:
        os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
        seconds = time.monotonic() - t0
    except BaseException:
        p.kill()
        raise
    finally:
        stop.set()
        sampler.join()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    hwm = max(peak["hwm"], ru.ru_maxrss)
    return Run(seconds, hwm * 1024, peak["anon"] * 1024, p.returncode)


def run_cmd(step, argv, logdir, stderr_name="stderr", devnull_out=False):
    """spawn() with stdout and stderr in files of @logdir; fails unless 0.
    Returns the Run and stdout's text."""
    out_path = os.path.join(logdir, "stdout")
    err_path = os.path.join(logdir, stderr_name)
    with open(err_path, "wb") as err, \
            open(os.devnull if devnull_out else out_path, "wb") as out:
        r = spawn(step, argv, out, err)
    text = ""
    if not devnull_out:
        with open(out_path, errors="replace") as f:
            text = f.read()
    if r.rc != 0:
        why = tail(err_path) or tail(out_path) or "no message"
        raise Failed("%s: %s exited with status %d: %s"
                     % (step, os.path.basename(argv[0]), r.rc, why))
    return r, text


def json_of(step, text):
    try:
        j = json.loads(text)
    except ValueError:
        raise Failed("%s: the output is not JSON: %s" % (step, text[-200:]))
    if isinstance(j, dict) and j.get("ok") is False:
        raise Failed("%s: %s" % (step, j.get("message")))
    return j


def remove(*paths):
    for p in paths:
        try:
            os.remove(p)
        except FileNotFoundError:
            pass


# --- PostgreSQL -------------------------------------------------------------

class Pg:
    def __init__(self, admin_db, logdir):
        bindir = os.environ.get("KVMIGRATE_TEST_PGBIN")
        self.psql = os.path.join(bindir, "psql") if bindir else "psql"
        self.pg_dump = os.path.join(bindir, "pg_dump") if bindir else "pg_dump"
        self.admin = admin_db
        self.logdir = logdir

    def psql_argv(self, db):
        return [self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db]

    def query(self, step, db, sql):
        """The rows of @sql as lists of fields (not measured)."""
        argv = self.psql_argv(db) + ["-A", "-t", "-F", "\t", "-c", sql]
        _, out = run_cmd(step, argv, self.logdir)
        return [line.split("\t") for line in out.splitlines() if line]

    def value(self, step, db, sql):
        rows = self.query(step, db, sql)
        return rows[0][0] if rows and rows[0] else ""


def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def quote_literal(s):
    return "'" + s.replace("'", "''") + "'"


def db_name(size):
    return "bench_" + size.replace(".", "_")


def prepare_db(pg, bin_, size, logdir):
    """Create bench_<size> with the generated rows, or reuse a complete one.
    Returns (conninfo, seconds generating or None when reused)."""
    name = db_name(size)
    db = with_dbname(pg.admin, name)
    done = "kvmigrate bench: gen-data --size %s --seed %d" % (size, SEED)
    step = "%s: database %s" % (size, name)
    rows = pg.query(step, pg.admin, "SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '') "
                    "FROM pg_database WHERE datname = %s" % quote_literal(name))
    if rows and rows[0][1:] == [done]:
        say("%s: reusing database %s (%s)" % (size, name, done))
        return db, None
    t0 = time.monotonic()
    if rows:
        say("%s: database %s is incomplete; dropping it" % (size, name))
        pg.query(step, pg.admin, "DROP DATABASE %s" % quote_ident(name))
    say("%s: generating database %s (gen-data --size %s --seed %d)" % (size, name, size, SEED))
    pg.query(step, pg.admin, "CREATE DATABASE %s" % quote_ident(name))
    run_cmd(step + ": kvmigrate up", [bin_, "up", "--db", db, "-q"], logdir)
    gen = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "gen-data.py")
    run_cmd(step + ": gen-data.py", [sys.executable, gen, "--db", db, "--size", size,
                                     "--seed", str(SEED), "--quiet"], logdir)
    pg.query(step + ": VACUUM", db, "VACUUM (FREEZE, ANALYZE)")
    pg.query(step + ": CHECKPOINT", db, "CHECKPOINT")
    pg.query(step, pg.admin, "COMMENT ON DATABASE %s IS %s" % (quote_ident(name), quote_literal(done)))
    secs = time.monotonic() - t0
    say("%s: generated %s in %.1f s (up, gen-data, VACUUM, CHECKPOINT)" % (size, name, secs))
    return db, secs


def old_tables(bin_, db, size, logdir):
    """The old tables, as kvmigrate status lists them."""
    step = "%s: kvmigrate status" % size
    _, out = run_cmd(step, [bin_, "status", "--json", "--db", db], logdir)
    st = json_of(step, out).get("old_tables", {})
    if st.get("missing"):
        raise Failed("%s: old tables missing: %s" % (step, ", ".join(st["missing"])))
    tables = st.get("present") or []
    unknown = [t for t in tables if t not in TABLE_COLUMNS]
    if not tables or unknown:
        raise Failed("%s: no column list in bench.py for table(s) %s"
                     % (step, ", ".join(unknown) or "(none listed)"))
    return tables


def dump_tables(pg, db, tables, size):
    """The tables with their partitions: pg_dump -t TABLE leaves out the
    partitions of a partitioned table (graveler_staging_kv), where its
    rows are.  pg_partition_tree() lists nothing for a plain table."""
    arr = "ARRAY[%s]" % ", ".join(quote_literal(t) for t in tables)
    rows = pg.query("%s: listing partitions" % size, db,
                    "SELECT coalesce(p.relid::regclass::text, t.name) "
                    "FROM unnest(%s) WITH ORDINALITY AS t(name, n) "
                    "LEFT JOIN LATERAL pg_partition_tree(t.name::regclass) p ON true "
                    "ORDER BY t.n, p.level NULLS FIRST, 1" % arr)
    return [r[0] for r in rows]


def count_rows(pg, db, tables, size):
    sql = " UNION ALL ".join("SELECT count(*) AS n FROM %s" % quote_ident(t) for t in tables)
    return int(pg.value("%s: counting rows" % size, db, "SELECT sum(n) FROM (%s) t" % sql))


# --- measurements -----------------------------------------------------------

class Ctx:
    """What the measurements of one size share."""

    def __init__(self, args, pg, db, tables, dumped, run_dir):
        self.bin, self.b2 = args.bin, args.b2
        self.pg, self.db, self.tables, self.dumped = pg, db, tables, dumped
        self.dir = run_dir
        self.export = os.path.join(run_dir, "e.kvm")
        self.kv = os.path.join(run_dir, "kv.mdb")
        self.b2_store = os.path.join(run_dir, "b2.mdb")
        self.dump = os.path.join(run_dir, "dump.pgc")

    def clean_kv(self):
        """The store and whatever an interrupted run left beside it."""
        remove(self.kv, self.kv + "-lock", self.b2_store, self.b2_store + "-lock")
        for f in os.listdir(self.dir):
            if f.startswith(".kv.mdb.tmp.") or f.startswith(".e.kvm.tmp."):
                remove(os.path.join(self.dir, f))


def copy_sql(table):
    return "COPY (SELECT %s FROM %s) TO STDOUT (FORMAT binary)" % (TABLE_COLUMNS[table], table)


# argv builders: also used with placeholders to document what was measured.
def argv_up(bin_, db, d, progress):
    return [bin_, "up", "--kv-enabled", "--db", db, "--kv", os.path.join(d, "kv.mdb")] + \
        ([] if progress else ["--no-progress"]) + ["--json"]


def argv_export(bin_, db, d):
    return [bin_, "export", "--db", db, "-o", os.path.join(d, "e.kvm"), "--no-progress", "--json"]


def argv_import(bin_, d):
    return [bin_, "import", "-i", os.path.join(d, "e.kvm"), "--kv", os.path.join(d, "kv.mdb"),
            "--no-progress", "--json"]


def argv_b1(psql_argv, tables):
    argv = list(psql_argv)
    for t in tables:
        argv += ["-c", copy_sql(t)]
    return argv


def argv_b2(tool, d, flags):
    return [tool] + (["--flags", flags] if flags else []) + \
        [os.path.join(d, "e.kvm"), os.path.join(d, "b2.mdb")]


def argv_c(pg_dump, db, d, tables):
    argv = [pg_dump, "-Fc", "-f", os.path.join(d, "dump.pgc")]
    for t in tables:
        argv += ["-t", t]
    return argv + ["-d", db]


def m_up(c, step, progress=False):
    c.clean_kv()
    r, out = run_cmd(step, argv_up(c.bin, c.db, c.dir, progress), c.dir,
                     stderr_name="progress" if progress else "stderr")
    j = json_of(step, out)
    if j.get("outcome") != "kv-migrated":
        raise Failed("%s: up did not migrate (outcome %s)" % (step, j.get("outcome")))
    c.pg.query(step + ": reset", c.db, RESET_SQL)
    c.clean_kv()
    s = {"seconds": r.seconds, "hwm": r.hwm, "anon": r.anon,
         "export_seconds": j["export"]["seconds"], "import_seconds": j["kv"]["import_seconds"],
         "records": j["kv"]["records"], "kv_bytes": j["kv"]["bytes"],
         "export_bytes": j["export"]["bytes"], "own_seconds": j["seconds"]}
    if progress:
        with open(os.path.join(c.dir, "progress"), "rb") as f:
            s["progress_lines"] = f.read().count(b"\n")
    return s


def m_up_progress(c, step):
    return m_up(c, step, progress=True)


def m_export(c, step):
    remove(c.export)
    r, out = run_cmd(step, argv_export(c.bin, c.db, c.dir), c.dir)
    j = json_of(step, out)
    return {"seconds": r.seconds, "hwm": r.hwm, "anon": r.anon, "records": j["records"],
            "file_bytes": os.path.getsize(c.export)}


def m_import(c, step):
    c.clean_kv()
    r, out = run_cmd(step, argv_import(c.bin, c.dir), c.dir)
    j = json_of(step, out)
    c.clean_kv()
    return {"seconds": r.seconds, "hwm": r.hwm, "anon": r.anon, "records": j["records"],
            "kv_bytes": j["kv_bytes"]}


def m_b1(c, step):
    r, _ = run_cmd(step, argv_b1(c.pg.psql_argv(c.db), c.tables), c.dir, devnull_out=True)
    return {"seconds": r.seconds, "hwm": r.hwm, "anon": r.anon}


def b2(c, step, flags):
    c.clean_kv()
    r, out = run_cmd(step, argv_b2(c.b2, c.dir, flags), c.dir)
    j = json_of(step, out)
    c.clean_kv()
    # the program's own clock: without reading the export
    return {"seconds": j["seconds"], "wall_seconds": r.seconds, "hwm": r.hwm, "anon": r.anon,
            "entries": j["entries"], "bytes": j["bytes"], "file_bytes": j["file_bytes"]}


def m_b2(c, step):
    return b2(c, step, None)


def m_b2_sync(c, step):
    return b2(c, step, "default")


def m_c(c, step):
    remove(c.dump)
    r, _ = run_cmd(step, argv_c(c.pg.pg_dump, c.db, c.dir, c.dumped), c.dir)
    size = os.path.getsize(c.dump)
    remove(c.dump)
    return {"seconds": r.seconds, "hwm": r.hwm, "anon": r.anon, "file_bytes": size}


MEASUREMENTS = [
    ("up", m_up),
    ("up-progress", m_up_progress),
    ("export", m_export),
    ("import", m_import),
    ("B1", m_b1),
    ("B2", m_b2),
    ("B2-sync", m_b2_sync),
    ("C", m_c),
]


def measure_size(args, pg, size, reps, run_dir):
    """Everything about one size: the database, then the interleaved runs."""
    logdir = run_dir
    db, gen_secs = prepare_db(pg, args.bin, size, logdir)
    pg.query("%s: reset" % size, db, RESET_SQL)
    tables = old_tables(args.bin, db, size, logdir)
    rows = count_rows(pg, db, tables, size)
    dumped = dump_tables(pg, db, tables, size)
    c = Ctx(args, pg, db, tables, dumped, run_dir)
    say("%s: %d rows in %d tables; a first export (untimed)" % (size, rows, len(tables)))
    m_export(c, "%s: first export" % size)
    samples = {name: [] for name, _ in MEASUREMENTS}
    # pg_dump's warm-up would cost minutes and warm nothing the others
    # have not: it reads the same tables
    for name, fn in MEASUREMENTS:
        if name != "C":
            fn(c, "%s: %s (warm-up)" % (size, name))
    say("%s: warmed up" % size)
    n = len(MEASUREMENTS)
    for rep in range(reps):
        order = MEASUREMENTS[rep % n:] + MEASUREMENTS[:rep % n]
        for name, fn in order:
            s = fn(c, "%s: %s (rep %d)" % (size, name, rep + 1))
            samples[name].append(s)
            say("%s: rep %d/%d: %-11s %8.3f s" % (size, rep + 1, reps, name, s["seconds"]))
    remove(c.export)
    return {"size": size, "database": db_name(size), "generate_seconds": gen_secs,
            "rows": rows, "tables": tables, "dumped": dumped, "samples": samples}


# --- results ----------------------------------------------------------------

def med(samples, key="seconds"):
    return statistics.median(s[key] for s in samples)


def lo(samples, key="seconds"):
    return min(s[key] for s in samples)


def hi(samples, key="seconds"):
    return max(s[key] for s in samples)


def derive(r):
    """Medians, ratios and rates of one size."""
    S = r["samples"]
    # B2 is the write limit: the faster of the two ways LMDB was driven
    up, b1 = med(S["up"]), med(S["B1"])
    b2_ = min(med(S["B2"]), med(S["B2-sync"]))
    mrows = r["rows"] / 1e6
    d = {
        "up": up, "b1": b1, "b2": b2_, "export": med(S["export"]), "import": med(S["import"]),
        "c": med(S["C"]), "b2_sync": med(S["B2-sync"]), "up_progress": med(S["up-progress"]),
        "records": S["up"][0]["records"],
        "up_export": med(S["up"], "export_seconds"), "up_import": med(S["up"], "import_seconds"),
        "export_file": med(S["export"], "file_bytes"), "c_file": med(S["C"], "file_bytes"),
        "kv_bytes": med(S["up"], "kv_bytes"), "b2_file": med(S["B2"], "file_bytes"),
        "mem_up_hwm": hi(S["up"], "hwm"), "mem_up_anon": hi(S["up"], "anon"),
        "mem_export": hi(S["export"], "hwm"), "mem_import": hi(S["import"], "anon"),
    }
    d["up_vs_b"] = up / (b1 + b2_) if b1 + b2_ > 0 else float("inf")
    d["export_vs_c"] = d["export"] / d["c"] if d["c"] > 0 else float("inf")
    d["file_vs_c"] = d["export_file"] / d["c_file"] if d["c_file"] else float("inf")
    d["rows_per_s"] = r["rows"] / up if up > 0 else 0
    d["records_per_s"] = d["records"] / up if up > 0 else 0
    d["progress_cost"] = d["up_progress"] / up - 1 if up > 0 else 0
    for k in ("up", "export", "import", "b1", "b2", "c", "up_export", "up_import"):
        d["per_m_" + k] = d[k] / mrows if mrows > 0 else 0
    return d


def fmt_s(x):
    return "%.3f" % x if x < 10 else "%.2f" % x if x < 100 else "%.1f" % x


def fmt_int(x):
    return "{:,}".format(int(round(x)))


def fmt_mib(x):
    return "%.1f" % (x / MIB)


def spread(samples, key="seconds"):
    return "%s (%s-%s)" % (fmt_s(med(samples, key)), fmt_s(lo(samples, key)), fmt_s(hi(samples, key)))


def table(head, rows):
    """A markdown table, padded so that it also reads as plain text."""
    cells = [head] + rows
    w = [max(len(str(row[i])) for row in cells) for i in range(len(head))]
    line = lambda row: "| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(row)) + " |"
    return "\n".join([line(head), "|" + "|".join("-" * (x + 2) for x in w) + "|"] +
                     [line(r) for r in rows])


def verdict(ok):
    return "met" if ok else "NOT met"


def targets_time(results, D):
    """up against its lower bounds; export against pg_dump."""
    big = results[-1]["size"]
    each = lambda key: ", ".join("%s %.2f x" % (r["size"], D[r["size"]][key]) for r in results)
    sizes = [r["size"] for r in results]
    return [
        ["up <= %.1f x (B1 + B2)" % UP_LIMIT, big, "%.2f x" % D[big]["up_vs_b"],
         "%.1f x" % UP_LIMIT, verdict(D[big]["up_vs_b"] <= UP_LIMIT)],
        ["export time / pg_dump -Fc time", "every size", each("export_vs_c"), "< 1 x",
         verdict(all(D[s]["export"] < D[s]["c"] for s in sizes))],
        ["export file / pg_dump -Fc file", "every size", each("file_vs_c"), "<= 1 x",
         verdict(all(D[s]["export_file"] <= D[s]["c_file"] for s in sizes))],
    ]


def targets_memory(results, D):
    """Peak memory: bounded, and flat from the smallest size to the largest."""
    big, small = results[-1]["size"], results[0]["size"]
    out = []
    for key, what in (("mem_up_anon", "up peak anonymous RSS"), ("mem_export", "export peak RSS"),
                      ("mem_import", "import peak anonymous RSS")):
        out.append(["%s under %d MiB" % (what, MEM_LIMIT // MIB), big, fmt_mib(D[big][key]) + " MiB",
                    "%d MiB" % (MEM_LIMIT // MIB), verdict(D[big][key] < MEM_LIMIT)])
        if big == small:
            out.append(["%s, largest size / smallest" % what, big, "-", "-", "not evaluated (one size)"])
            continue
        ratio = D[big][key] / D[small][key] if D[small][key] else float("inf")
        out.append(["%s, %s / %s" % (what, big, small), big, "%.2f x" % ratio,
                    "<= %.2f x" % (1 + MEM_GROWTH), verdict(ratio <= 1 + MEM_GROWTH)])
    return out


def targets_rows(results, D):
    """Time per row: every larger size against the smallest."""
    small = results[0]["size"]
    if len(results) == 1:
        return [["up time per row, larger sizes / smallest", small, "-", "-", "not evaluated (one size)"]]
    base = D[small]["per_m_up"]
    ratios = [(r["size"], D[r["size"]]["per_m_up"] / base if base else float("inf"))
              for r in results[1:]]
    return [["up time per row, larger sizes / %s" % small, "every larger size",
             ", ".join("%s %.2f x" % sx for sx in ratios), "<= %.2f x" % (1 + ROW_GROWTH),
             verdict(all(x <= 1 + ROW_GROWTH for _, x in ratios))]]


def targets(results, D):
    """(target, where, measured, limit, verdict) rows."""
    return targets_time(results, D) + targets_memory(results, D) + targets_rows(results, D)


def report(results, env, reps, cmds):
    D = {r["size"]: derive(r) for r in results}
    sizes = [r["size"] for r in results]
    R = {r["size"]: r for r in results}
    parts = []
    parts.append("Measured %s on %s. %d timed rounds per size after one untimed warm-up of "
                 "each measurement but C, interleaved (each round starts one measurement later); "
                 "times are wall-clock medians (min-max) in seconds.\n"
                 % (env["date"], env["machine"], reps))
    parts.append(table(["what", "value"], [[k, v] for k, v in env["rows"]]))

    parts.append("\n### Targets\n")
    rows = targets(results, D)
    parts.append(table(["target", "at", "measured", "limit", "verdict"], rows))
    count = lambda v: sum(r[4] == v for r in rows)
    parts.append("\nTargets: %d met, %d not met, %d not evaluated."
                 % (count("met"), count("NOT met"), len(rows) - count("met") - count("NOT met")))
    if sizes != DEFAULT_SIZES:
        parts.append("The targets are stated for 5m (memory: 5m against 1m); this run measured "
                     "%s, so they are checked at %s (against %s) instead."
                     % (" ".join(sizes), sizes[-1], sizes[0]))

    parts.append("\n### Times (seconds: median (min-max))\n")
    names = [("up", "up"), ("up-progress", "up with progress"), ("export", "export"),
             ("import", "import"), ("B1", "B1 psql COPY binary"), ("B2", "B2 LMDB append, MDB_WRITEMAP, MDB_NOSYNC, one sync"),
             ("B2-sync", "B2 LMDB append, default flags, synced commit"), ("C", "C pg_dump -Fc")]
    parts.append(table(["measurement"] + sizes,
                       [[label] + [spread(R[s]["samples"][n]) for s in sizes] for n, label in names]))

    parts.append("\n### Ratios and rates\n")
    rows = [
        ["rows of the old tables"] + [fmt_int(R[s]["rows"]) for s in sizes],
        ["records"] + [fmt_int(D[s]["records"]) for s in sizes],
        ["up / (B1 + B2)"] + ["%.2f" % D[s]["up_vs_b"] for s in sizes],
        ["export / C time"] + ["%.2f" % D[s]["export_vs_c"] for s in sizes],
        ["export file / C file"] + ["%.2f" % D[s]["file_vs_c"] for s in sizes],
        ["up rows/s"] + [fmt_int(D[s]["rows_per_s"]) for s in sizes],
        ["up records/s"] + [fmt_int(D[s]["records_per_s"]) for s in sizes],
        ["up's export seconds (its JSON)"] + [fmt_s(D[s]["up_export"]) for s in sizes],
        ["up's import seconds (its JSON)"] + [fmt_s(D[s]["up_import"]) for s in sizes],
        ["progress display cost"] + ["%+.1f%%" % (100 * D[s]["progress_cost"]) for s in sizes],
    ]
    parts.append(table(["", *sizes], rows))

    parts.append("\n### Seconds per million rows\n")
    per = [("up", "up"), ("up_export", "up's export"), ("up_import", "up's import"),
           ("export", "export"), ("import", "import"), ("b1", "B1"), ("b2", "B2"), ("c", "C")]
    parts.append(table(["measurement"] + sizes,
                       [[label] + [fmt_s(D[s]["per_m_" + k]) for s in sizes] for k, label in per]))

    parts.append("\n### Memory (MiB, highest of the rounds)\n")
    ratio_head = "%s/%s" % (sizes[-1], sizes[0])
    mem = [("mem_up_hwm", "up peak RSS (VmHWM; includes LMDB's file-backed map)"),
           ("mem_up_anon", "up peak anonymous RSS"), ("mem_export", "export peak RSS (VmHWM)"),
           ("mem_import", "import peak anonymous RSS")]
    parts.append(table(["process"] + sizes + [ratio_head],
                       [[label] + [fmt_mib(D[s][k]) for s in sizes] +
                        ["%.2f" % (D[sizes[-1]][k] / D[sizes[0]][k]) if D[sizes[0]][k] else "-"]
                        for k, label in mem]))

    parts.append("\n### Files (bytes)\n")
    parts.append(table(["file"] + sizes, [
        ["export (kvmigrate export)"] + [fmt_int(D[s]["export_file"]) for s in sizes],
        ["pg_dump -Fc"] + [fmt_int(D[s]["c_file"]) for s in sizes],
        ["KV store (up; the size its JSON reports)"] + [fmt_int(D[s]["kv_bytes"]) for s in sizes],
        ["B2 store (pages used)"] + [fmt_int(D[s]["b2_file"]) for s in sizes],
    ]))

    parts.append("\n### Databases\n")
    parts.append(table(["size", "database", "rows", "generated in"], [
        [s, R[s]["database"], fmt_int(R[s]["rows"]),
         "reused" if R[s]["generate_seconds"] is None else "%.1f s" % R[s]["generate_seconds"]]
        for s in sizes]))

    parts.append("\n### What was measured\n")
    parts.append(cmds)
    return "\n".join(parts) + "\n"


def commands_text(args, pg, last):
    """The measured commands, with DB and SCRATCH for the database and the
    scratch directory."""
    tables = last["tables"]
    q = lambda argv: " ".join(a if re.fullmatch(r"[\w./=:,+-]+", a) else "'%s'" % a for a in argv)
    b = os.path.relpath(args.bin)
    t = os.path.relpath(args.b2)
    psql, pg_dump = os.path.basename(pg.psql), os.path.basename(pg.pg_dump)
    lines = [
        "- up: `%s`; after each run, untimed: `%s` and the store removed"
        % (q(argv_up(b, "DB", "SCRATCH", False)), RESET_SQL),
        "- up with progress: `%s`, stderr to a file" % q(argv_up(b, "DB", "SCRATCH", True)),
        "- export: `%s`" % q(argv_export(b, "DB", "SCRATCH")),
        "- import: `%s` (an existing export; the store removed before each run)"
        % q(argv_import(b, "SCRATCH")),
        "- B1: `%s -X -q -v ON_ERROR_STOP=1 -d DB -c STATEMENT...`, stdout to /dev/null, "
        "one statement per old table (the tables `kvmigrate status --json` lists; the "
        "columns the migrators of pkg-migrators/*.c read):" % psql,
        "",
        "```",
    ] + [copy_sql(x) for x in tables] + [
        "```",
        "",
        "- B2: `%s` (fast: MDB_WRITEMAP, MDB_NOSYNC, one mdb_env_sync at the end); "
        "B2-sync: `%s` (the commit writes and syncs); B2 in the ratios is the faster of the "
        "two medians; seconds are the program's own, "
        "from creating the environment to the fsync, without reading the export"
        % (q(argv_b2(t, "SCRATCH", None)), q(argv_b2(t, "SCRATCH", "default"))),
        "- C: `%s` (the old tables and the partitions of the partitioned ones)"
        % q(argv_c(pg_dump, "DB", "SCRATCH", last["dumped"])),
        "- memory: /proc/PID/status of each child every %d ms (VmHWM, RssAnon) and the "
        "child's rusage (ru_maxrss)" % int(POLL_SECONDS * 1000),
        "- each database was made by `kvmigrate up --db DB -q`, `gen-data.py --size SIZE "
        "--seed %d`, `VACUUM (FREEZE, ANALYZE)` and `CHECKPOINT`" % SEED,
    ]
    return "\n".join(lines)


# --- the machine and the build ----------------------------------------------

def first_match(path, pattern):
    try:
        with open(path) as f:
            for line in f:
                m = re.match(pattern, line)
                if m:
                    return m.group(1).strip()
    except OSError:
        pass
    return None


def git_commit(root):
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + ("+dirty" if dirty else "")


def environment(args, pg, logdir, sizes):
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    cpu = first_match("/proc/cpuinfo", r"model name\s*:\s*(.*)") or os.uname().machine
    mem_kib = first_match("/proc/meminfo", r"MemTotal:\s*(\d+)")
    ram = "%.1f GiB" % (int(mem_kib) / (1 << 20)) if mem_kib else "unknown"
    ncpu = len(os.sched_getaffinity(0))
    server = pg.value("server version", pg.admin, "SHOW server_version")
    _, ver = run_cmd("kvmigrate --version", [args.bin, "--version"], logdir)
    ver = "; ".join(l.strip() for l in ver.splitlines() if l.strip())
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return {
        "date": date,
        "machine": "%d CPUs (%s), %s RAM" % (ncpu, cpu, ram),
        "rows": [["date", date], ["nproc", str(ncpu)], ["CPU", cpu], ["RAM", ram],
                 ["PostgreSQL server", server], ["kvmigrate --version", ver],
                 ["git commit", git_commit(root)], ["sizes", " ".join(sizes)],
                 ["timed rounds", str(args.reps)],
                 ["cluster", "BENCH_DB" if os.environ.get("BENCH_DB") else
                  "throwaway (tests/tools/pg-harness.sh)"]],
    }


# --- main -------------------------------------------------------------------

def parse_env():
    sizes = os.environ.get("BENCH_SIZES", "").replace(",", " ").split() or DEFAULT_SIZES
    bad = [s for s in sizes if s not in KNOWN_SIZES]
    if bad:
        raise SystemExit("%s: BENCH_SIZES: unknown size %s (known: %s)"
                         % (PROG, ", ".join(bad), " ".join(KNOWN_SIZES)))
    sizes = [s for s in KNOWN_SIZES if s in sizes]
    reps = os.environ.get("BENCH_REPS", str(DEFAULT_REPS))
    if not reps.isdigit() or int(reps) < 1:
        raise SystemExit("%s: BENCH_REPS must be a whole number >= 1, not %r" % (PROG, reps))
    db = os.environ.get("BENCH_DB") or os.environ.get("KVMIGRATE_TEST_DB")
    if not db:
        raise SystemExit("%s: set BENCH_DB, or run inside tests/tools/pg-harness.sh" % PROG)
    return sizes, int(reps), db


def drop_big_files(run_dir):
    """After a failure: keep the logs of the failing command, nothing else."""
    for f in os.listdir(run_dir):
        if f not in ("stdout", "stderr", "progress"):
            remove(os.path.join(run_dir, f))
    return 1


def main():
    ap = argparse.ArgumentParser(prog="bench.py", description="kvmigrate's benchmark")
    ap.add_argument("--bin", required=True, help="the kvmigrate binary")
    ap.add_argument("--b2", required=True, help="the bench-lmdb-append binary")
    ap.add_argument("--out", required=True, help="the markdown file with the bench markers")
    ap.add_argument("--scratch", default="build/bench", help="scratch directory")
    args = ap.parse_args()
    sizes, args.reps, admin = parse_env()
    args.bin, args.b2 = os.path.abspath(args.bin), os.path.abspath(args.b2)
    run_dir = os.path.join(args.scratch, "run")
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    pg = Pg(admin, run_dir)
    try:
        with open(args.out) as f:
            if BEGIN not in f.read():
                raise Failed("%s has no %s line" % (args.out, BEGIN))
        env = environment(args, pg, run_dir, sizes)
        results = [measure_size(args, pg, s, args.reps, run_dir) for s in sizes]
        text = report(results, env, args.reps, commands_text(args, pg, results[-1]))
        print(text, end="", flush=True)
        with open(os.path.join(args.scratch, "results.json"), "w") as f:
            json.dump({"environment": env, "results": results}, f, indent=1)
        try:
            docregion.replace(args.out, "bench", text)
        except (OSError, ValueError) as e:
            raise Failed("writing %s: %s" % (args.out, e))
    except Failed as e:
        print("%s: failed: %s" % (PROG, e), file=sys.stderr)
        return drop_big_files(run_dir)
    except OSError as e:
        print("%s: failed: %s: %s" % (PROG, e.filename or "", e.strerror), file=sys.stderr)
        return drop_big_files(run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)
    say("results written to %s and %s" % (args.out, os.path.join(args.scratch, "results.json")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
