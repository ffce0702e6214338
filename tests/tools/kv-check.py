#!/usr/bin/python3
"""kv-check.py - check a KV store (one LMDB file) with LMDB's own mdb_dump.

    kv-check.py export EXPORT STORE
        STORE holds exactly the records of EXPORT, each under the LMDB key
        "partition (0x00 written 0x00 0xff), 0x00 0x01, key" with its
        value unchanged, plus the three metadata entries: kv-schema-version
        (the header's KV migration version), kv-migration-id (32 hex
        digits) and kv-export-digest (the export's file digest).
    kv-check.py same STORE1 STORE2
        Both stores hold the same entries, apart from the metadata
        partition (a new migration id per build; the export digest covers
        the snapshot time).

The store is read with `mdb_dump -n` (Debian's lmdb-utils), the export with
tests/tools/kvmexport.py: neither shares code with kvmigrate.  Prints one
line "kv-check: ok: N entries" or the first difference, and exits 1 on a
difference, 2 on usage.
"""

import io
import os
import subprocess
import sys

import msgpack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvmexport  # noqa: E402

META = b"kv-internal-metadata"


def lmdb_key(partition, key):
    return partition.replace(b"\x00", b"\x00\xff") + b"\x00\x01" + key


def dump(path):
    """The entries of STORE, in LMDB order, from mdb_dump -n (hex lines)."""
    out = subprocess.run(["mdb_dump", "-n", path], check=True,
                         stdout=subprocess.PIPE).stdout.decode()
    lines = out.split("\n")
    body = lines[lines.index("HEADER=END") + 1:]
    entries = []
    i = 0
    while i < len(body) and body[i].startswith(" "):
        entries.append((bytes.fromhex(body[i][1:]), bytes.fromhex(body[i + 1][1:])))
        i += 2
    if i >= len(body) or body[i] != "DATA=END":
        raise SystemExit("kv-check: %s: mdb_dump output does not end with DATA=END" % path)
    return entries


def fail(msg):
    print("kv-check: " + msg)
    sys.exit(1)


def cmd_export(export, store):
    summary, error = kvmexport.check_file(export)
    if error is not None:
        fail("%s: %s: %s" % (export, error.code, error.detail))
    lines = io.StringIO()
    kvmexport.dump(export, lines)
    want = {}
    for line in lines.getvalue().splitlines():
        part, key, value = (b"" if f == "-" else bytes.fromhex(f)
                            for f in line.split(" ")[1:])
        k = lmdb_key(part, key)
        if k in want:
            fail("the export holds %r twice" % k)
        want[k] = value
    got = dump(store)
    keys = [k for k, _ in got]
    if keys != sorted(keys):
        fail("mdb_dump lists keys out of order")
    meta = {}
    for k, v in got:
        if k.startswith(META + b"\x00\x01"):
            meta[k[len(META) + 2:]] = v
            continue
        if k not in want:
            fail("the store holds %r, which the export does not" % k[:80])
        if want.pop(k) != v:
            fail("the value of %r differs from the export's" % k[:80])
    if want:
        fail("%d records of the export are not in the store, e.g. %r"
             % (len(want), next(iter(want))[:80]))
    if sorted(meta) != [b"kv-export-digest", b"kv-migration-id", b"kv-schema-version"]:
        fail("metadata entries %r" % sorted(meta))
    if msgpack.unpackb(meta[b"kv-schema-version"]) != summary["header"]["kv_migration_version"]:
        fail("kv-schema-version %r" % msgpack.unpackb(meta[b"kv-schema-version"]))
    mid = msgpack.unpackb(meta[b"kv-migration-id"])
    if not isinstance(mid, str) or len(mid) != 32 or any(c not in "0123456789abcdef" for c in mid):
        fail("kv-migration-id %r" % mid)
    if msgpack.unpackb(meta[b"kv-export-digest"]) != summary["digest"]:
        fail("kv-export-digest %r, the export's is %r"
             % (msgpack.unpackb(meta[b"kv-export-digest"]), summary["digest"]))
    print("kv-check: ok: %d entries" % len(got))


def cmd_same(store1, store2):
    def data(p):
        return [(k, v) for k, v in dump(p) if not k.startswith(META + b"\x00\x01")]
    a, b = data(store1), data(store2)
    if a != b:
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                fail("entry %d differs: %r / %r" % (i, x[0][:80], y[0][:80]))
        fail("%d entries against %d" % (len(a), len(b)))
    print("kv-check: ok: %d entries" % len(a))


def main(argv):
    if len(argv) == 4 and argv[1] == "export":
        cmd_export(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "same":
        cmd_same(argv[2], argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
