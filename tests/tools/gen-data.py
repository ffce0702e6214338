#!/usr/bin/python3
"""gen-data.py - fill the service's old SQL tables with realistic, seeded rows.

    gen-data.py --db CONNINFO [--size tiny|small|medium|1m|2.5m|5m]
                [--staging-rows N] [--seed N] [--quiet]

The database must be at the last SQL schema version (8, as left by
`kvmigrate up`) and every old table must be empty. The rows go in through
one psql session, `COPY ... FROM STDIN` in text format, in one transaction:
nothing is left behind when it fails. psql comes from $KVMIGRATE_TEST_PGBIN
when that is set, else from PATH.

Sizes (rows of graveler_staging_kv; the other tables together):

    tiny      160        ~150     every feature below at least once
    small     20,000     ~4,000
    medium    200,000    ~40,000
    1m        1,000,000  ~200,000
    2.5m      2,500,000  ~200,000
    5m        5,000,000  ~200,000

--staging-rows N replaces the staging count of the size; the other tables
keep the size's counts. Default size small, default seed 1.

Determinism: everything comes from random.Random(seed), timestamps are a
fixed epoch (2021-01-01T00:00:00Z) plus random offsets in microseconds, and
nothing depends on the wall clock, on hash order or on chunk boundaries.
The same seed and counts give byte-identical table contents.

What the data holds, besides the ordinary rows:
  - users with and without email, some with every nullable column NULL,
    names with '/', a backslash, non-ASCII letters and mixed case; unique
    display names, emails (also under lower()) and external ids;
    bcrypt-like password hashes;
  - groups, policies (a JSON array of statements), memberships and
    attachments without a dangling id, credentials (AKIAJ... ids, 80-byte
    encrypted secrets, a few with no user), installation metadata, expired
    tokens;
  - repositories (repo-NNN), branches (some without staging token or
    commit, names with '/'), tags, commits forming a DAG per repository
    (0, 1 or 2 parents, all earlier commits of the same repository;
    metadata NULL, {} or with keys; format versions 0 and 1; generation
    NULL for some old commits; messages with newlines, tabs, CR and
    backslashes);
  - staged objects over up to 20 staging tokens, some referenced by
    branches and some by none (orphaned); object paths of many shapes,
    binary keys with 0x00 and 0xff, non-ASCII and mixed-case paths, 1-byte
    keys and keys of 380-445 bytes (less where the staging token is long:
    no LMDB key exceeds 511 bytes); ~5% tombstones (identity and data
    NULL); 32-byte identities; 150-410 byte values with a structured head
    and a random tail;
  - action runs on existing branches and commits, 1 to 4 hook runs each;
  - multipart uploads, some from old releases (metadata and content_type
    NULL).

stdout stays empty. stderr: one line per table and the total time, unless
--quiet; on failure one line naming the reason. Exit status: 0 done, 1
refused or failed, 2 usage.
"""

import argparse
import base64
import datetime
import json
import os
import random
import struct
import subprocess
import sys
import time

PROG = "gen-data"
SCHEMA_VERSION = 8

# Rows of graveler_staging_kv, and the scale of the other tables (1.0 means
# about 200,000 rows in them; 0 means the minimum counts of `tiny`).
SIZES = {
    "tiny": (160, 0.0),
    "small": (20_000, 0.02),
    "medium": (200_000, 0.2),
    "1m": (1_000_000, 1.0),
    "2.5m": (2_500_000, 1.0),
    "5m": (5_000_000, 1.0),
}

# The old tables, in the order they are filled (memberships after what they
# reference).
TABLES = [
    ("auth_users", "id, created_at, display_name, friendly_name, source, email, encrypted_password, external_id"),
    ("auth_groups", "id, created_at, display_name"),
    ("auth_policies", "id, created_at, display_name, statement"),
    ("auth_user_groups", "user_id, group_id"),
    ("auth_user_policies", "user_id, policy_id"),
    ("auth_group_policies", "group_id, policy_id"),
    ("auth_credentials", "access_key_id, secret_access_key, issued_date, user_id"),
    ("auth_installation_metadata", "key_name, key_value"),
    ("auth_expired_tokens", "token_id, token_expires_at"),
    ("graveler_repositories", "id, storage_namespace, creation_date, default_branch"),
    ("graveler_commits", "repository_id, id, committer, message, creation_date, meta_range_id, metadata, parents, version, generation"),
    ("graveler_branches", "repository_id, id, staging_token, commit_id"),
    ("graveler_tags", "repository_id, id, commit_id"),
    ("graveler_staging_kv", "staging_token, key, identity, data"),
    ("actions_runs", "repository_id, run_id, event_type, start_time, end_time, branch_id, source_ref, commit_id, passed"),
    ("actions_run_hooks", "repository_id, run_id, hook_run_id, action_name, hook_id, start_time, end_time, passed"),
    ("gateway_multiparts", "upload_id, path, creation_date, physical_address, metadata, content_type"),
]
SERIALS = ["auth_users", "auth_groups", "auth_policies"]

EPOCH = datetime.datetime(2021, 1, 1, tzinfo=datetime.timezone.utc)
DAY_US = 86_400_000_000
NULL = "\\N"


class Refused(Exception):
    """A reason to stop with exit status 1 and one line on stderr."""


# --- COPY text format -----------------------------------------------------

_ESC = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def esc(s):
    """A text value in COPY text format (NULL for None)."""
    if s is None:
        return NULL
    return s.translate(_ESC)


def bytea(b):
    """A bytea value in COPY text format: \\x<hex>, its backslash doubled."""
    if b is None:
        return NULL
    return "\\\\x" + b.hex()


def jsonb(v):
    """A jsonb value (None is SQL NULL) in COPY text format."""
    if v is None:
        return NULL
    return esc(json.dumps(v, ensure_ascii=False))


def textarray(items):
    """A text[] value in its text form, then in COPY text format."""
    if items is None:
        return NULL
    out = []
    for s in items:
        if s == "" or s.upper() == "NULL" or any(c in s for c in ' {}",\\\t\n\r'):
            s = '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out.append(s)
    return esc("{" + ",".join(out) + "}")


def boolean(b):
    return "t" if b else "f"


def ts(us):
    """timestamptz text for EPOCH + us microseconds, always with 6 digits."""
    d = EPOCH + datetime.timedelta(microseconds=us)
    return d.strftime("%Y-%m-%d %H:%M:%S.") + "%06d+00" % d.microsecond


# --- psql -----------------------------------------------------------------

def psql_path():
    pgbin = os.environ.get("KVMIGRATE_TEST_PGBIN")
    return os.path.join(pgbin, "psql") if pgbin else "psql"


def psql_cmd(db, *extra):
    return [psql_path(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, *extra]


def first_error(text):
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    for l in lines:
        if "ERROR" in l or "FATAL" in l or "error" in l:
            return l
    return lines[0] if lines else "no message"


def query(db, sql):
    """The rows of one query as lists of fields (unaligned, no headers)."""
    try:
        p = subprocess.run(psql_cmd(db, "-A", "-t", "-F", "|", "-c", sql),
                           stdin=subprocess.DEVNULL, capture_output=True)
    except OSError as e:
        raise Refused("cannot run %s: %s" % (psql_path(), e.strerror))
    if p.returncode != 0:
        raise Refused("psql failed: %s" % first_error(p.stderr.decode("utf-8", "replace")))
    out = p.stdout.decode("utf-8", "replace")
    return [line.split("|") for line in out.splitlines() if line]


def preflight(db):
    """Refuse unless the database is at version 8, clean, with empty tables."""
    rows = query(db, "SELECT to_regclass('public.schema_migrations') IS NULL")
    if rows != [["f"]]:
        raise Refused("the database is not at schema version %d: it has no schema_migrations table "
                      "(run 'kvmigrate up' first)" % SCHEMA_VERSION)
    rows = query(db, "SELECT version, dirty FROM schema_migrations")
    if len(rows) != 1:
        raise Refused("the database is not at schema version %d: schema_migrations holds %d rows"
                      % (SCHEMA_VERSION, len(rows)))
    version, dirty = rows[0]
    if version != str(SCHEMA_VERSION) or dirty != "f":
        raise Refused("the database is not at schema version %d: it is at version %s%s"
                      % (SCHEMA_VERSION, version, " (dirty)" if dirty == "t" else ""))
    missing = " UNION ALL ".join(
        "SELECT '%s' WHERE to_regclass('public.%s') IS NULL" % (t, t) for t, _ in TABLES)
    rows = query(db, missing)
    if rows:
        raise Refused("the database is at version %d but lacks the table%s %s"
                      % (SCHEMA_VERSION, "s" if len(rows) > 1 else "", ", ".join(r[0] for r in rows)))
    filled = " UNION ALL ".join(
        "SELECT '%s' WHERE EXISTS (SELECT 1 FROM %s)" % (t, t) for t, _ in TABLES)
    rows = query(db, filled)
    if rows:
        raise Refused("the old tables already hold rows (%s): gen-data fills empty tables only"
                      % ", ".join(r[0] for r in rows))


class Sink:
    """One psql session reading a script, COPY data included, on its stdin."""

    CHUNK = 1 << 22

    def __init__(self, db):
        try:
            self.p = subprocess.Popen(psql_cmd(db), stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except OSError as e:
            raise Refused("cannot run %s: %s" % (psql_path(), e.strerror))
        self.buf = []
        self.size = 0
        self.counts = {}
        self.table = None

    def write(self, s):
        self.buf.append(s)
        self.size += len(s)
        if self.size >= self.CHUNK:
            self.flush()

    def flush(self):
        if not self.buf:
            return
        data = "".join(self.buf).encode("utf-8")
        self.buf = []
        self.size = 0
        try:
            self.p.stdin.write(data)
        except BrokenPipeError:
            self.fail()

    def begin(self, table):
        cols = dict(TABLES)[table]
        self.table = table
        self.counts[table] = 0
        self.write("COPY %s (%s) FROM STDIN;\n" % (table, cols))

    def row(self, *fields):
        self.counts[self.table] += 1
        self.write("\t".join(fields) + "\n")

    def rows(self, lines, n):
        """n ready-made lines of the current table, joined."""
        self.counts[self.table] += n
        self.write(lines)

    def end(self):
        self.write("\\.\n")
        self.table = None

    def fail(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        err = self.p.stderr.read().decode("utf-8", "replace")
        self.p.wait()
        raise Refused("psql failed while loading: %s" % first_error(err))

    def close(self):
        self.flush()
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        err = self.p.stderr.read().decode("utf-8", "replace")
        if self.p.wait() != 0:
            raise Refused("psql failed while loading: %s" % first_error(err))


# --- word lists -----------------------------------------------------------

FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
         "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter",
         "José", "Zoë", "Björn", "Łukasz", "Ana-María", "Søren", "François", "Çağla", "Ngozi",
         "Priya", "Mateo", "Chloé", "Dmitri", "Aoife", "Kenji", "Mei", "Omar", "Fatima",
         "李", "王", "美咲", "Юлия", "Андрей"]
LAST = ["smith", "jones", "garcía", "müller", "rossi", "dubois", "novak", "kowalski", "tanaka",
        "kim", "nguyen", "okafor", "schmidt", "silva", "cohen", "patel", "ivanova", "o'brien",
        "Núñez", "Åberg", "Lefèvre", "Yılmaz", "Hernández", "MacDonald", "van der Berg",
        "山田", "佐藤", "陈", "Петров"]
ASCII_FOLD = str.maketrans({"é": "e", "á": "a", "í": "i", "ó": "o", "ú": "u", "ñ": "n", "ë": "e",
                            "ö": "o", "ü": "u", "ø": "o", "å": "a", "ł": "l", "ç": "c", "ğ": "g",
                            "ı": "i", "è": "e", "Å": "a", "Ł": "l", "Ç": "c", "Ñ": "n", "'": "",
                            " ": ""})
TEAMS = ["data-eng", "ml-platform", "analytics", "infra", "bi", "research", "finance", "ops"]
DOMAINS = ["example.com", "example.org", "corp.example.net", "mail.example.io", "research.example.edu"]
WORDS = ["events", "clicks", "orders", "sensors", "telemetry", "invoices", "sessions", "users",
         "inventory", "weather", "traffic", "payments", "genomics", "lidar", "audio", "reviews"]
CONTENT_TYPES = ["application/octet-stream", "image/jpeg", "application/gzip", "text/csv",
                 "application/json", "application/x-parquet", "text/plain; charset=utf-8",
                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
BCRYPT64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
EVENTS = ["pre-commit", "post-commit", "pre-merge", "post-merge", "pre-create-branch",
          "post-create-branch", "pre-create-tag", "post-create-tag", "pre-delete-branch"]
HOOKS = [("Check commit metadata", "check_metadata"), ("Validate schema", "validate_schema"),
         ("Notify Slack", "slack_webhook"), ("PII scan", "pii_scan"),
         ("Data quality (Great Expectations)", "dq_expectations"), ("Format check", "format_check"),
         ("Ensure partitions", "partitions_lua")]


class Gen:
    def __init__(self, seed, staging_rows, scale, sink):
        self.rng = random.Random(seed)
        self.nstaging = staging_rows
        self.scale = scale
        self.sink = sink

    def count(self, full, minimum):
        return max(minimum, round(full * self.scale))

    def when(self, lo_days, hi_days):
        """A random instant (microseconds after EPOCH) between two day offsets."""
        return self.rng.randrange(lo_days * DAY_US, hi_days * DAY_US)

    def hexid(self, bits=256):
        return "%0*x" % (bits // 4, self.rng.getrandbits(bits))

    def uuid(self):
        n = self.rng.getrandbits(128)
        n = (n & ~(0xF000 << 64)) | (4 << 76)
        n = (n & ~(0xC << 60)) | (0x8 << 60)
        h = "%032x" % n
        return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])

    def run(self):
        self.sink.write("SET client_encoding = 'UTF8';\nSET synchronous_commit = off;\nBEGIN;\n")
        self.auth()
        self.refs()
        self.staging()
        self.actions()
        self.multiparts()
        for t in SERIALS:
            self.sink.write("SELECT setval(pg_get_serial_sequence('%s', 'id'), max(id)) FROM %s;\n" % (t, t))
        self.sink.write("COMMIT;\nANALYZE;\n")

    # --- auth ----------------------------------------------------------------

    def bcrypt(self):
        rng = self.rng
        return ("$2a$10$" + "".join(rng.choice(BCRYPT64) for _ in range(53))).encode()

    def auth(self):
        rng, sink = self.rng, self.sink
        nusers = self.count(5000, 8)
        # Users: a fixed set that covers the odd cases, then random ones.
        # (display_name, friendly_name, source, email, password?, external_id)
        users = [
            ("admin", "Administrator", "internal", "admin@example.com", True, None),
            ("José.García", "José García", "internal", "Jose.Garcia@Example.COM", True, None),
            ("山田太郎", "山田 太郎", "oidc", "yamada.taro@example.jp", False,
             "oidc|google-oauth2|" + str(rng.randrange(10**20, 10**21))),
            ("svc/ci-bot", "CI bot", "internal", None, False, None),
            ("legacy-user", None, None, None, False, None),
            ("ALICE.Mixed", "Alice Mixed-Case", "internal", "ALICE.MIXED@example.org", True, None),
            ("team/data-eng/airflow", None, "ldap", None, False,
             "uid=airflow,ou=services,dc=example,dc=com"),
            ("CORP\\jsmith", "John Smith", "ldap", "j.smith@corp.example.net", False,
             "uid=jsmith,ou=people,dc=corp,dc=example,dc=net"),
        ]
        names = {u[0] for u in users}
        emails = {u[3].lower() for u in users if u[3]}
        externals = {u[5] for u in users if u[5]}
        while len(users) < nusers:
            f, l = rng.choice(FIRST), rng.choice(LAST)
            shape = rng.random()
            if shape < 0.4:
                name = "%s.%s" % (f.lower(), l.lower())
            elif shape < 0.6:
                name = "%s%s" % (f[0].lower(), l.lower().replace(" ", ""))
            elif shape < 0.75:
                name = "%s %s" % (f.capitalize(), l[0].upper() + l[1:])
            elif shape < 0.85:
                name = "%s_%s%d" % (f.lower(), l.lower().replace(" ", "_"), rng.randrange(100))
            elif shape < 0.93:
                name = "%s/%s" % (rng.choice(TEAMS), f.lower())
            else:
                name = "svc-%s-%d" % (rng.choice(WORDS), rng.randrange(1000))
            base, k = name, 2
            while name in names:
                name = "%s%d" % (base, k)
                k += 1
            names.add(name)
            src = rng.random()
            source = None if src < 0.1 else "internal" if src < 0.75 else "oidc" if src < 0.9 else "ldap"
            email = None
            if rng.random() < 0.8:
                local = "%s.%s" % (f.translate(ASCII_FOLD), l.translate(ASCII_FOLD))
                if not local.isascii():
                    local = "user%d" % rng.randrange(100000)
                if rng.random() < 0.2:
                    local = local.upper() if rng.random() < 0.5 else local.capitalize()
                email = "%s@%s" % (local, rng.choice(DOMAINS))
                k = 2
                while email.lower() in emails:
                    email = "%s%d@%s" % (local, k, rng.choice(DOMAINS))
                    k += 1
                emails.add(email.lower())
            external = None
            if source == "oidc":
                external = "oidc|%s|%d" % (rng.choice(["google-oauth2", "okta", "azuread"]),
                                           rng.randrange(10**17, 10**21))
            elif source == "ldap":
                external = "uid=%s,ou=people,dc=example,dc=com" % name.replace(",", "\\,")
            if external in externals:
                external = None
            if external:
                externals.add(external)
            friendly = None if rng.random() < 0.3 else "%s %s" % (f.capitalize(), l[0].upper() + l[1:])
            users.append((name, friendly, source, email, source in (None, "internal"), external))

        # ids with a few gaps: users deleted over time
        sink.begin("auth_users")
        uid, uids = 0, []
        for (name, friendly, source, email, pw, external) in users:
            uid += 1 + (rng.random() < 0.05)
            uids.append(uid)
            sink.row(str(uid), ts(self.when(0, 700)), esc(name), esc(friendly), esc(source),
                     esc(email), bytea(self.bcrypt()) if pw else NULL, esc(external))
        sink.end()
        self.user_names = [u[0] for u in users]

        # groups
        ngroups = self.count(200, 5)
        gnames = ["Admins", "SuperUsers", "Developers", "Viewers", "org/data-eng"]
        taken = set(gnames)
        while len(gnames) < ngroups:
            r = rng.random()
            if r < 0.6:
                g = "team-%s-%s" % (rng.choice(TEAMS), rng.choice(WORDS))
            elif r < 0.8:
                g = "org/%s/%s" % (rng.choice(TEAMS), rng.choice(["readers", "writers", "owners"]))
            elif r < 0.9:
                g = rng.choice(["Équipe-Données", "データ基盤", "Analytics-EMEA", "ML Ops"])
            else:
                g = "project-%04d" % rng.randrange(10000)
            base, k = g, 2
            while g in taken:
                g = "%s-%d" % (base, k)
                k += 1
            taken.add(g)
            gnames.append(g)
        sink.begin("auth_groups")
        gids = []
        for i, g in enumerate(gnames):
            gids.append(i + 1)
            sink.row(str(i + 1), ts(self.when(0, 700)), esc(g))
        sink.end()

        # policies
        npol = self.count(400, 5)
        builtin = [
            ("FSFullAccess", [("allow", ["fs:*"], "*")]),
            ("FSReadAll", [("allow", ["fs:List*", "fs:Read*"], "*")]),
            ("AuthFullAccess", [("allow", ["auth:*"], "*")]),
            ("RepoManagementReadAll", [("allow", ["ci:Read*", "retention:Get*", "branches:Get*"], "*")]),
            ("team/data-eng/ReadWrite", [("allow", ["fs:Read*", "fs:Write*", "fs:List*"],
                                          "arn:service:fs:::repository/repo-001/*"),
                                         ("deny", ["fs:DeleteRepository"],
                                          "arn:service:fs:::repository/repo-001")]),
        ]
        pnames = [p[0] for p in builtin]
        taken = set(pnames)
        stmts = [p[1] for p in builtin]
        while len(pnames) < npol:
            repo = "repo-%03d" % rng.randrange(1, 200)
            kind = rng.choice(["read", "write", "admin", "deny-delete"])
            r = rng.random()
            if r < 0.7:
                name = "%s-%s" % (repo, kind)
            elif r < 0.85:
                name = "team/%s/%s" % (rng.choice(TEAMS), kind)
            else:
                name = "Política-%s-%s" % (kind, repo)
            base, k = name, 2
            while name in taken:
                name = "%s-%d" % (base, k)
                k += 1
            taken.add(name)
            arn = "arn:service:fs:::repository/%s" % repo
            if kind == "read":
                st = [("allow", ["fs:Read*", "fs:List*"], arn + "/*")]
            elif kind == "write":
                st = [("allow", ["fs:Read*", "fs:List*", "fs:Write*", "fs:CreateBranch"], arn + "/*"),
                      ("allow", ["fs:ReadRepository"], arn)]
            elif kind == "admin":
                st = [("allow", ["fs:*"], arn), ("allow", ["fs:*"], arn + "/*"),
                      ("allow", ["ci:*", "retention:*"], arn)]
            else:
                st = [("deny", ["fs:DeleteRepository", "fs:DeleteBranch"], arn)]
            pnames.append(name)
            stmts.append(st)
        sink.begin("auth_policies")
        for i, (name, st) in enumerate(zip(pnames, stmts)):
            doc = [{"Effect": e, "Action": a, "Resource": res} for e, a, res in st]
            sink.row(str(i + 1), ts(self.when(0, 700)), esc(name), jsonb(doc))
        sink.end()
        pids = list(range(1, npol + 1))

        # memberships: user -> groups
        sink.begin("auth_user_groups")
        for i, u in enumerate(uids):
            if i == 0:
                chosen = [gids[0]]
            else:
                k = rng.choices([0, 1, 2, 3], [15, 35, 30, 20])[0]
                chosen = sorted(rng.sample(gids, min(k, len(gids))))
            for g in chosen:
                sink.row(str(u), str(g))
        sink.end()

        sink.begin("auth_user_policies")
        for i, u in enumerate(uids):
            if i == 1 or rng.random() < 0.25:
                for p in sorted(rng.sample(pids, min(rng.randint(1, 3), len(pids)))):
                    sink.row(str(u), str(p))
        sink.end()

        sink.begin("auth_group_policies")
        for i, g in enumerate(gids):
            if i == 0:
                chosen = [1, 3]
            else:
                chosen = sorted(rng.sample(pids, min(rng.randint(1, 4), len(pids))))
            for p in chosen:
                sink.row(str(g), str(p))
        sink.end()

        # credentials
        keys = set()

        def access_key():
            while True:
                k = "AKIAJ" + "".join(rng.choice(B32) for _ in range(15))
                if k not in keys:
                    keys.add(k)
                    return k

        sink.begin("auth_credentials")
        ncred = self.count(8000, 8)
        made = 0
        for i, (u, usr) in enumerate(zip(uids, users)):
            if made >= ncred:
                break
            k = 1 if i < 4 else rng.choices([0, 1, 2, 3], [20, 50, 22, 8])[0]
            for _ in range(k):
                sink.row(access_key(), bytea(rng.randbytes(80)), ts(self.when(30, 900)), str(u))
                made += 1
        # keys whose user is gone (created before the foreign key, or by hand)
        for _ in range(max(1, ncred // 50)):
            sink.row(access_key(), bytea(rng.randbytes(80)), ts(self.when(0, 300)), NULL)
        sink.end()

        sink.begin("auth_installation_metadata")
        setup = self.when(0, 2)
        d = EPOCH + datetime.timedelta(microseconds=setup)
        for k, v in [("installation_id", self.uuid()),
                     ("setup_timestamp", d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
                     ("comm_prefs_email", "admin@example.com"),
                     ("comm_prefs_feature_updates", "true")]:
            sink.row(esc(k), esc(v))
        sink.end()

        sink.begin("auth_expired_tokens")
        ntok = self.count(10000, 4)
        for i in range(ntok):
            tid = self.uuid() if rng.random() < 0.7 else self.hexid(128)
            sink.row(esc(tid), ts(self.when(100, 1000)))
        sink.end()

    # --- refs ------------------------------------------------------------------

    def refs(self):
        rng, sink = self.rng, self.sink
        nrepos = self.count(200, 3)
        nbranches = max(self.count(3000, 9), nrepos)
        ncommits = max(self.count(60000, 30), nrepos)
        ntags = self.count(2000, 4)

        def spread(total, n, minimum):
            """total split over n parts, skewed, each at least minimum."""
            w = [rng.paretovariate(1.5) for _ in range(n)]
            s = sum(w)
            parts = [minimum + int((total - minimum * n) * x / s) for x in w]
            parts[0] += total - sum(parts)
            return parts

        repos = ["repo-%03d" % (i + 1) for i in range(nrepos)]
        bcount = spread(nbranches, nrepos, 1)
        ccount = spread(ncommits, nrepos, 1)
        tcount = spread(ntags, nrepos, 0)
        # the first repository shows every case even in tiny
        if nrepos and ccount[0] < 8:
            ccount[0] = 8
        if nrepos and bcount[0] < 3:
            bcount[0] = 3

        sink.begin("graveler_repositories")
        self.repo_created = {}
        self.namespaces = []
        buckets = ["s3://data-lake-prod", "s3://acme-versioned", "gs://ml-datasets-eu",
                   "https://acme.blob.core.windows.net/lake", "s3://bucket"]
        for i, r in enumerate(repos):
            created = self.when(0, 600)
            self.repo_created[r] = created
            ns = "%s/repos/%s" % (rng.choice(buckets), r) if i else "s3://bucket/repos/%s" % r
            self.namespaces.append(ns)
            sink.row(esc(r), esc(ns), ts(created), "main")
        sink.end()

        branch_words = ["dev", "staging", "feature/add-metrics", "feature/dedupe-events",
                        "fix/JIRA-1234", "experiment", "user/josé/test", "Release-2023.07",
                        "hotfix", "backfill-2022", "etl/nightly", "exp-042", "ingest",
                        "cleanup", "feature/ünïcode-paths", "refactor\\paths"]
        self.repo_branches = {}   # repo -> [(branch, head or None)]
        self.repo_commits = {}    # repo -> [commit ids]
        self.branch_commits = {}  # (repo, branch) -> commits made on it
        committers = self.user_names[:]
        sink.begin("graveler_commits")
        for ri, r in enumerate(repos):
            names = ["main"]
            for k in range(bcount[ri] - 1):
                b = rng.choice(branch_words) if ri or k else "feature/add-metrics"
                if b in names or rng.random() < 0.5:
                    b = "%s-%d" % (b, k + 1)
                while b in names:
                    b += "x"
                names.append(b)
            nc = ccount[ri]
            t = self.repo_created[r]
            # commits spread from the repository's creation to day 1000
            step = max(2, 2 * (1000 * DAY_US - t) // max(1, nc))
            heads = {}
            gens = {}
            # when each branch is created, as a commit index (main at 0)
            born = {"main": 0}
            for b in names[1:]:
                born[b] = rng.randrange(1, max(2, nc))
            # the first repository: a commit on its second branch, then a merge
            forced = ri == 0 and len(names) > 1 and nc >= 4
            if forced:
                born[names[1]] = 1
            commits = []
            vcut = 400 * DAY_US  # commits before this instant are format version 0
            for ci in range(nc):
                for b in names:
                    if born[b] == ci and b != "main" and "main" in heads:
                        heads[b] = heads["main"]
                live = [b for b in names if b in heads]
                t += rng.randrange(1, step)
                cid = self.hexid()
                others = [b for b in live if b != "main" and heads[b] != heads.get("main")]
                if forced and ci == nc - 2:
                    do_merge, branch = False, names[1]
                elif forced and ci == nc - 1:
                    do_merge, others = True, [names[1]]
                else:
                    do_merge = bool(others) and rng.random() < 0.12
                    branch = rng.choice(live) if live else "main"
                if ci == 0:
                    branch, parents = "main", []
                    msg = "Repository created"
                elif do_merge:
                    src = rng.choice(others)
                    dsts = [b for b in live if heads[b] != heads[src]]
                    dst = "main" if rng.random() < 0.8 or len(dsts) < 2 else rng.choice(dsts)
                    branch, parents = dst, [heads[dst], heads[src]]
                    msg = "Merge '%s' into '%s'" % (src, dst)
                else:
                    parents = [heads[branch]]
                    msg = self.commit_message(ri == 0 and ci == 1)
                gen = 1 + max((gens[p] for p in parents), default=0)
                gens[cid] = gen
                heads[branch] = cid
                commits.append(cid)
                self.branch_commits.setdefault((r, branch), []).append(cid)
                version = 0 if t < vcut else 1
                if version == 0 and rng.random() < 0.6:
                    generation = NULL
                else:
                    generation = str(gen)
                m = rng.random()
                if m < 0.25:
                    meta = None
                elif m < 0.55:
                    meta = {}
                else:
                    meta = self.commit_metadata()
                # the first repository has each kind of commit row
                if ri == 0 and ci < 4:
                    meta = [None, {}, meta or {"source": "lakectl"}, meta][ci]
                    version = [version, version, 0, 1][ci]
                    generation = [generation, NULL, generation, str(gen)][ci]
                sink.row(esc(r), cid, esc(rng.choice(committers)), esc(msg), ts(t),
                         self.hexid(), jsonb(meta), textarray(parents), str(version), generation)
            self.repo_commits[r] = commits
            # branches that never got their creation commit start at main's head
            branches = []
            for b in names:
                branches.append((b, heads.get(b, heads.get("main"))))
            self.repo_branches[r] = branches
        sink.end()

        # Branches: staging tokens are assigned here; the ones holding staged
        # rows are chosen in staging().
        sink.begin("graveler_branches")
        self.branch_tokens = []  # (repo, branch, token) for branches with a token
        for ri, r in enumerate(repos):
            for bi, (b, head) in enumerate(self.repo_branches[r]):
                token = "%s-%s" % (b, self.uuid())
                if (ri == 0 and bi == 2) or (bi and rng.random() < 0.05):
                    token = None
                if (ri == 0 and bi == 1) or (bi and rng.random() < 0.03):
                    head = None
                if token:
                    self.branch_tokens.append((r, b, token))
                self.repo_branches[r][bi] = (b, head)
                sink.row(esc(r), esc(b), esc(token), esc(head))
        sink.end()

        sink.begin("graveler_tags")
        for ri, r in enumerate(repos):
            taken = set()
            for k in range(tcount[ri] + (1 if ri == 0 else 0)):
                v = rng.random()
                if v < 0.45:
                    tag = "v%d.%d.%d" % (rng.randrange(0, 5), rng.randrange(0, 13), rng.randrange(0, 29))
                elif v < 0.65:
                    tag = "release-%d.%d-rc%d" % (rng.randrange(1, 5), rng.randrange(0, 13), rng.randrange(1, 6))
                elif v < 0.9 or (ri == 0 and k == 0):
                    d = EPOCH + datetime.timedelta(days=rng.randrange(1000))
                    tag = d.strftime("prod/%Y-%m-%d")
                else:
                    tag = "Snapshot_%d_Q%d" % (rng.randrange(2021, 2024), rng.randrange(1, 5))
                while tag in taken:
                    tag += "-%d" % k
                taken.add(tag)
                sink.row(esc(r), esc(tag), rng.choice(self.repo_commits[r]))
        sink.end()

    def commit_message(self, multiline=False):
        rng = self.rng
        r = 0.6 if multiline else rng.random()
        if r < 0.35:
            d = EPOCH + datetime.timedelta(days=rng.randrange(900))
            return "Add %s partition %s" % (rng.choice(WORDS), d.strftime("%Y-%m-%d"))
        if r < 0.55:
            return "Update %s: %d files" % (rng.choice(WORDS), rng.randrange(1, 5000))
        if r < 0.7:
            return ("Nightly ingest of %s\n\nrows:\t%d\nsource:\ts3://raw/%s/\n"
                    % (rng.choice(WORDS), rng.randrange(10**6), rng.choice(WORDS)))
        if r < 0.8:
            return "Windows export from C:\\data\\%s\\ (CRLF)\r\nsecond line" % rng.choice(WORDS)
        if r < 0.9:
            return rng.choice(["Nettoyage des données d'été", "データを更新しました",
                               "Fix \"quoted\" values; drop {braces}", "🚀 retrain model"])
        return "Remove %d stale objects" % rng.randrange(1, 900)

    def commit_metadata(self):
        rng = self.rng
        meta = {"source": rng.choice(["airflow", "spark", "dbt", "manual", "lakectl"])}
        if rng.random() < 0.6:
            meta["job_id"] = "%s-%d" % (rng.choice(WORDS), rng.randrange(100000))
        if rng.random() < 0.3:
            meta["git_sha"] = "%040x" % rng.getrandbits(160)
        if rng.random() < 0.2:
            meta["note"] = rng.choice(["naïve \"quotes\" \\ and tabs\t", "ここ", "line1\nline2"])
        if rng.random() < 0.2:
            meta["::service::hooks"] = "ok"
        return meta

    # --- staging ---------------------------------------------------------------

    def staging(self):
        rng, sink = self.rng, self.sink
        n = self.nstaging
        ntok = 5 if n < 1000 else 10 if n < 50_000 else 16 if n < 500_000 else 20
        norphan = 2 if ntok < 10 else 3 if ntok < 16 else 4
        nref = min(ntok - norphan, len(self.branch_tokens))
        # referenced tokens: from branches of the first repositories and random ones
        cands = self.branch_tokens[:]
        first, rest = cands[:2], cands[2:]
        rng.shuffle(rest)
        tokens = [t for _, _, t in (first + rest)[:nref]]
        for _ in range(ntok - nref):
            tokens.append("%s-%s" % (rng.choice(["main", "dev", "feature/old", "deleted-branch"]),
                                     self.uuid()))
        # rows per token: skewed, each token at least one row when possible
        w = [1.0 / (i + 1) ** 0.9 for i in range(ntok)]
        rng.shuffle(w)
        s = sum(w)
        base = 1 if n >= ntok else 0
        counts = [base + int((n - base * ntok) * x / s) for x in w]
        left = n - sum(counts)
        for i in range(left):
            counts[i % ntok] += 1
        sink.begin("graveler_staging_kv")
        for tok, c in zip(tokens, counts):
            self.staging_token(tok, c)
        sink.end()

    def staging_token(self, tok, nrows):
        rng, sink = self.rng, self.sink
        getrandbits, randbytes = rng.getrandbits, rng.randbytes
        etok = esc(tok)
        L = [bytes((i,)) for i in range(256)]
        pack = struct.Struct("<IIQ").pack
        gen = "g" + "%020x" % getrandbits(80)
        start_day = rng.randrange(0, 1200)
        d0 = datetime.date(2019, 1, 1).toordinal() + start_day
        tables = rng.sample(WORDS, 4)
        cams = ["canon-r5", "DJI_Mavic3", "pixel7"]
        services = ["api-gateway", "ingest", "Billing", "auth"]
        models = ["resnet50", "bert-base", "yolo_v8", "Llama-Ft"]
        depts = ["Finance", "HR", "Sales-EMEA", "R&D"]
        dates = {}

        def ymd(day):
            v = dates.get(day)
            if v is None:
                dt = datetime.date.fromordinal(d0 + day)
                v = dates[day] = (dt.year, dt.month, dt.day)
            return v

        filler = "/".join(["archive", "2019", "raw-exports", "customer-data", "region=eu-west-1",
                           "account=000123456789", "service=very-long-service-name",
                           "subsystem=ingestion-pipeline-v2", "stage=normalised"] * 6)

        # Key shapes; each maps a counter (per shape, per token) to a key,
        # one-to-one, and the shapes never produce the same key.
        def k_dataset(n, r):
            tbl = tables[n & 3]
            m = n >> 2
            y, mo, d = ymd(m >> 6)
            if n & 1:
                return ("datasets/%s/%d/%02d/%02d/part-%05d.snappy.parquet"
                        % (tbl, y, mo, d, m & 63)).encode(), 0
            return ("datasets/%s/year=%d/month=%02d/day=%02d/part-%05d-%08x.c000.snappy.parquet"
                    % (tbl, y, mo, d, m & 63, r & 0xffffffff)).encode(), 5

        def k_image(n, r):
            return ("images/raw/%s/%03d/IMG_%04d.JPG" % (cams[r % 3], n // 9999, n % 9999 + 1)).encode(), 1

        def k_log(n, r):
            h = n // 40
            y, mo, d = ymd(h // 24)
            return ("logs/%s/%d-%02d-%02d/%02d/events-%06d.json.gz"
                    % (services[r & 3], y, mo, d, h % 24, n)).encode(), 2

        def k_model(n, r):
            return ("models/%s/checkpoints/step-%09d/%s"
                    % (models[r & 3], (n + 1) * 500,
                       ("weights.safetensors", "optimizer.pt", "config.json", "Tokenizer.JSON")[(r >> 2) & 3])).encode(), 0

        def k_report(n, r):
            return ("Reports/%s/FY%d/Q%d/Summary_%05d.XLSX"
                    % (depts[r & 3], 2019 + n // 4000, (n // 1000) % 4 + 1, n)).encode(), 7

        def k_intl(n, r):
            v = r % 5
            if v == 0:
                s = "données/été/%06d/résumé.txt" % n
            elif v == 1:
                s = "写真/東京/%06d.jpg" % n
            elif v == 2:
                s = "Ελληνικά/αρχείο-%d.txt" % n
            elif v == 3:
                s = "música/canción_%05d.mp3" % n
            else:
                s = "emoji/🚀-%d.png" % n
            return s.encode(), 6

        def k_delta(n, r):
            return ("tables/%s/_delta_log/%020d.json" % (tables[r & 3], n)).encode(), 4

        def k_tmp(n, r):
            return ("_temporary/0/_temporary/attempt_%012d_0001_m_%06d_0/part-%05d.parquet"
                    % (n, n % 1000, n % 1000)).encode(), 0

        def k_binary(n, r):
            return b"blob/" + n.to_bytes(4, "big") + b"\x00" + (r & 0xffffff).to_bytes(3, "big") + b"\xff", 0

        # The LMDB key of a staged object is "staging/" + token, 2 bytes and
        # the key: at most 511 bytes, or the import into LMDB refuses it.
        budget = 511 - 2 - len(b"staging/") - len(tok.encode())

        def k_long(n, r):
            total = min(380 + r % 66, budget)  # 380..445 bytes, if they fit
            head = filler[:total - 8 - 18]
            if head.endswith("/"):
                head = head[:-1] + "x"
            return ("archive/" + head + "/file-%08d.dat" % n).encode(), 0

        shapes = [k_dataset] * 44 + [k_image] * 20 + [k_log] * 20 + [k_model] * 6 + \
                 [k_report] * 10 + [k_intl] * 9 + [k_delta] * 10 + [k_tmp] * 3 + \
                 [k_binary] * 4 + [k_long] * 2
        assert len(shapes) == 128
        counters = dict.fromkeys(shapes, 0)
        cts = [c.encode() for c in CONTENT_TYPES]
        cut = [max(0, len(c) - 24) for c in cts]  # long content types, shorter tails
        mkeys = [b"\n\x0fx-amz-meta-user\x12", b"\n\x11x-amz-meta-source\x12",
                 b"\n\x10x-amz-meta-owner\x12", b"\n\x0ax-checksum\x12"]

        # Odd keys first, the most telling ones at the front: a token of
        # 8*k rows starts with k of them (all 17 from 136 rows on).
        long_key = ("archive/" + filler[:min(420, budget) - 8 - 14] + "/LAST-FILE.bin").encode()
        specials = [b"a", b"bin/\x00\x01\xff\xfe/blob", long_key, "données/été/résumé.pdf".encode(),
                    b"Data/README.md", b"\xff", b"\x00", "写真/東京/IMG_0001.jpg".encode(),
                    b"data/readme.md", b"DATA/ReadMe.MD", b"Z", "é".encode(),
                    b"weird/tab\there", b"weird/new\nline", b"reports/Q3 2023/summary (final) #2.xlsx",
                    b"datasets/2023/", b"dir\\with\\backslashes"]
        nspecial = min(len(specials), nrows // 8 if nrows >= 16 else min(nrows, 1))
        lines = []
        out = 0
        t0 = 1_500_000_000 + start_day * 86400
        # bits of r: [0,7) shape, [7,17) tombstone, [17,25) tail length,
        # [25,27) metadata key, [27,...) key variety
        for i in range(nrows):
            r = getrandbits(64)
            if i < nspecial:
                key, ct = specials[i], i & 7
            else:
                f = shapes[r & 127]
                c = counters[f]
                counters[f] = c + 1
                key, ct = f(c, r >> 27)
            if ((r >> 7) & 1023) < 51 or i == nspecial:
                lines.append("%s\t\\\\x%s\t\\N\t\\N\n" % (etok, key.hex()))
            else:
                addr = ("data/%s/c%025x" % (gen, getrandbits(100))).encode()
                ctb = cts[ct]
                tail = randbytes(max(8, 8 + ((r >> 17) & 255) * 15 // 16 - cut[ct]))
                data = b"".join((b"\n", L[len(addr)], addr,
                                 b"\x12\x10", pack(t0 + i, getrandbits(30), getrandbits(34)),
                                 b'"\x20', b"%032x" % getrandbits(128),
                                 b"*", L[(len(tail) + 20) & 255], mkeys[(r >> 25) & 3], L[len(tail) & 255], tail,
                                 b"2", L[len(ctb)], ctb, b"8\x01"))
                lines.append("%s\t\\\\x%s\t\\\\x%s\t\\\\x%s\n"
                             % (etok, key.hex(), randbytes(32).hex(), data.hex()))
            out += 1
            if out == 4096:
                sink.rows("".join(lines), out)
                lines = []
                out = 0
        if lines:
            sink.rows("".join(lines), out)

    # --- actions -----------------------------------------------------------------

    def actions(self):
        rng, sink = self.rng, self.sink
        nruns = self.count(25000, 12)
        repos = list(self.repo_commits)
        w = [rng.paretovariate(1.2) for _ in repos]
        chosen = [repos[0]] + rng.choices(repos, w, k=nruns - 1)
        runs = []
        seq = {}
        sink.begin("actions_runs")
        for i, r in enumerate(chosen):
            branches = [b for b, h in self.repo_branches[r] if h is not None] or ["main"]
            b = branches[0] if i == 0 else rng.choice(branches)
            own = self.branch_commits.get((r, b)) or self.repo_commits[r]
            commit = rng.choice(own)
            ev = EVENTS[i % len(EVENTS)] if i < len(EVENTS) else rng.choice(EVENTS)
            start = self.repo_created[r] + rng.randrange(DAY_US, 500 * DAY_US)
            s = seq.get(r, 0)
            seq[r] = s + 1
            run_id = "%08x%06x%06x" % (0xffffffff - start // 1_000_000 % 0xffffffff, s, rng.getrandbits(24))
            passed = rng.random() < 0.85 if i > 1 else i == 0
            nh = rng.randint(1, 4)
            hooks = []
            t = start
            for h in range(nh):
                dur = rng.randrange(5_000, 30_000_000)
                hpass = passed or h < nh - 1
                hooks.append((h, t, t + dur, hpass))
                t += dur + rng.randrange(1000, 500_000)
            end = t
            source = b if ev.endswith("commit") or rng.random() < 0.5 else commit
            sink.row(esc(r), run_id, ev, ts(start), ts(end), esc(b), esc(source), commit, boolean(passed))
            runs.append((r, run_id, hooks))
        sink.end()
        sink.begin("actions_run_hooks")
        for r, run_id, hooks in runs:
            for h, s, e, p in hooks:
                action, hook = rng.choice(HOOKS)
                sink.row(esc(r), run_id, "%04d_%04d" % (rng.randrange(3), h), esc(action), esc(hook),
                         ts(s), ts(e), boolean(p))
        sink.end()

    # --- multiparts ----------------------------------------------------------------

    def multiparts(self):
        rng, sink = self.rng, self.sink
        n = self.count(8000, 6)
        paths = ["datasets/%s/2023/%02d/%02d/part-%05d.snappy.parquet",
                 "uploads/%s/video-%02d-%02d-%05d.mp4",
                 "données/%s/été-%02d-%02d-%05d.csv",
                 "Backups/%s/DB_%02d_%02d_%05d.tar.zst"]
        taken = set()
        sink.begin("gateway_multiparts")
        for i in range(n):
            uid = base64.urlsafe_b64encode(rng.randbytes(48)).decode()
            path = rng.choice(paths) % (rng.choice(WORDS), rng.randrange(1, 13), rng.randrange(1, 29),
                                        rng.randrange(100000))
            while path in taken:
                path += ".1"
            taken.add(path)
            old = (i == 0) or (i > 1 and rng.random() < 0.3)
            created = self.when(0, 300) if old else self.when(300, 1000)
            addr = NULL if (i == 2 or rng.random() < 0.05) else esc(
                "%s/data/g%020x/c%025x" % (rng.choice(self.namespaces), rng.getrandbits(80),
                                           rng.getrandbits(100)))
            if old:
                meta, ct = None, None
            else:
                r = rng.random()
                if r < 0.2:
                    meta = {}
                else:
                    meta = {"x-amz-meta-owner": rng.choice(self.user_names[:50])}
                    if r < 0.6:
                        meta["x-amz-meta-pipeline"] = rng.choice(["ingest", "backup", "étl"])
                ct = rng.choice(CONTENT_TYPES)
            sink.row(esc(uid), esc(path), ts(created), addr, jsonb(meta), esc(ct))
        sink.end()


def main():
    ap = argparse.ArgumentParser(prog="gen-data.py",
                                 description="Fill the old SQL tables with realistic seeded rows.")
    ap.add_argument("--db", required=True, metavar="CONNINFO")
    ap.add_argument("--size", choices=list(SIZES), default="small")
    ap.add_argument("--staging-rows", type=int, metavar="N")
    ap.add_argument("--seed", type=int, default=1, metavar="N")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    if a.staging_rows is not None and a.staging_rows < 0:
        ap.error("--staging-rows must be 0 or more")
    staging, scale = SIZES[a.size]
    if a.staging_rows is not None:
        staging = a.staging_rows
    t0 = time.monotonic()
    try:
        preflight(a.db)
        sink = Sink(a.db)
        Gen(a.seed, staging, scale, sink).run()
        sink.close()
    except Refused as e:
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    secs = time.monotonic() - t0
    if not a.quiet:
        total = 0
        for t, _ in TABLES:
            c = sink.counts.get(t, 0)
            total += c
            print("%s: %-28s %9d rows" % (PROG, t, c), file=sys.stderr)
        print("%s: %d rows in %d tables in %.1f s (%d rows/s), seed %d, size %s"
              % (PROG, total, len(TABLES), secs, total / secs if secs > 0 else 0, a.seed, a.size),
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
