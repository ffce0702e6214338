#!/usr/bin/python3
"""corrupt-sweep.py - damage a real export file in every way listed below,
hand each damaged copy to `kvmigrate import`, and check that every one is
refused and that the KV store it would replace is left as it was.

    corrupt-sweep.py --kvmigrate BIN --export FILE --store STORE --work DIR
                     [--amount full|reduced|small] [--seed N] [--jobs N]
                     [--summary FILE] [--doc FILE] [--keep-failures DIR]

FILE is a good export and STORE a store `kvmigrate import` built from it.
Each job has a directory W in DIR holding W/kv.mdb, a copy of STORE, and
W/corrupt.kvm, the variant being tried, on which

    BIN import -i W/corrupt.kvm --kv W/kv.mdb --force

runs: with --force the damage is the only thing that can stop the
replacement.  A variant passes when it is

  rejected   the exit status is 1, and stderr holds nothing but progress
             lines, one "kvmigrate: error: " line and one "hint: " line
             (no crash, no sanitizer report, no timeout);
  named      the error line holds the path W/corrupt.kvm;
  untouched  W/kv.mdb has the inode, size and XXH3-128 hash it had
             before, and W holds no other name (no temporary or lock file).

A store that changed is put back from STORE before the next variant.

The classes (offsets are 0-based, L is the file's length; a flip is an
xor with a random non-zero byte, the same seed giving the same bytes):

  truncate-head    the file cut to each length 0 .. min(4096, L) - 1
  truncate-tail    cut to each length L - 4096 .. L - 1
  truncate-random  cut to random lengths
  flip-random      one byte flipped at random offsets
  flip-frame-hdr   each byte of each zstd frame header (RFC 8878 3.1.1:
                   magic, Frame_Header_Descriptor, Window_Descriptor,
                   Dictionary_ID, Frame_Content_Size)
  bits-frame-hdr   each bit of those bytes alone (a random xor seldom
                   hits just a bit the decoder does not need); but for
                   the full amount only of the two descriptor bytes
  flip-block-hdr   each byte of each block header (3 bytes, 3.1.1.2)
  flip-checksum    each byte of each frame's 4-byte content checksum
  flip-first-frame each byte of frame 0, which holds the header map
  flip-end-frame   each byte of the frame holding the end map
  flip-index       each byte of the 24-byte end index (a skippable frame)

--amount full takes every offset of the two truncation windows and 1,000
random offsets in each random class; reduced (the default) every 16th
offset of the windows and 100 random ones; small, for slow builds
(sanitizers), every 64th offset of the windows, 30 random ones, and every
4th byte of the first and the end frame.  The zstd frames and blocks are
found by walking the file here, with nothing but RFC 8878; the frames are
decompressed (with the zstd command-line tool) only to label them with the
section they hold.

Output on stdout: the seed, the frames of FILE, a line per failing variant,
and the table of results (Markdown).  --summary FILE
gets one line per class, "CLASS TRIED REJECTED NAMED UNTOUCHED", then
"fail CLASS DETAIL" lines (the first 5 failures of each class); --doc FILE
gets the table between <!-- corrupt:begin --> and <!-- corrupt:end -->,
the rest of FILE left as it is; --keep-failures DIR gets a copy of FILE
and of those failing variants.

Exit status: 0 every variant passed; 1 some did not; 2 usage, or FILE is
not an export of the expected layout (at least 3 sections, one of them in
more than one zstd frame).
"""

import argparse
import concurrent.futures
import datetime
import os
import random
import shutil
import subprocess
import sys
import time

import msgpack
import xxhash

import docregion

ZSTD_MAGIC = 0xFD2FB528
SKIPPABLE_MASK = 0xFFFFFFF0
SKIPPABLE_START = 0x184D2A50
INDEX_SIZE = 24
WINDOW = 4096
KEEP_FAILURES = 5
TIMEOUT = 120

AMOUNTS = {
    # step in the truncation windows, variants per random class, whether
    # bits-frame-hdr takes every header byte or the descriptors only, and
    # the step in the first and the end frame
    "full": (1, 1000, True, 1),
    "reduced": (16, 100, False, 1),
    "small": (64, 30, False, 4),
}

CLASSES = [
    ("truncate-head", "cut to each length in the first 4 KiB"),
    ("truncate-tail", "cut to each length in the last 4 KiB"),
    ("truncate-random", "cut to a random length"),
    ("flip-random", "a byte flipped at a random offset"),
    ("flip-frame-hdr", "each byte of each zstd frame header"),
    ("bits-frame-hdr", "each bit of each zstd frame header"),
    ("flip-block-hdr", "each byte of each zstd block header"),
    ("flip-checksum", "each byte of each frame's content checksum"),
    ("flip-first-frame", "each byte of frame 0 (the header map)"),
    ("flip-end-frame", "each byte of the end map's frame"),
    ("flip-index", "each byte of the end index"),
]


def die(msg, status=2):
    sys.stderr.write("corrupt-sweep: %s\n" % msg)
    sys.exit(status)


# --------------------------------------------------------------------------
# The file's zstd structure (RFC 8878)
# --------------------------------------------------------------------------

class Frame:
    def __init__(self, number, offset):
        self.number = number
        self.offset = offset
        self.header_end = offset     # one past the frame header
        self.window_descriptor = None  # its offset, when there is one
        self.blocks = []             # offset of each 3-byte block header
        self.checksum = None         # offset of the 4-byte content checksum
        self.end = offset
        self.label = "?"


def walk(data):
    """The zstd frames of an export, and the offset of its end index."""
    frames = []
    pos = 0
    while pos < len(data):
        if pos + 4 > len(data):
            die("stray bytes at offset %d" % pos)
        magic = int.from_bytes(data[pos:pos + 4], "little")
        if magic & SKIPPABLE_MASK == SKIPPABLE_START:
            if pos + INDEX_SIZE != len(data):
                die("a skippable frame at offset %d is not the end index"
                    % pos)
            return frames, pos
        if magic != ZSTD_MAGIC:
            die("no zstd frame at offset %d" % pos)
        f = Frame(len(frames), pos)
        fhd = data[pos + 4]
        single = fhd & 0x20
        if not single:
            f.window_descriptor = pos + 5
        fcs_size = (1 if single else 0, 2, 4, 8)[fhd >> 6]
        did_size = (0, 1, 2, 4)[fhd & 3]
        f.header_end = pos + 5 + (0 if single else 1) + did_size + fcs_size
        pos = f.header_end
        while True:
            bh = int.from_bytes(data[pos:pos + 3], "little")
            f.blocks.append(pos)
            btype, bsize = (bh >> 1) & 3, bh >> 3
            pos += 3 + (1 if btype == 1 else bsize)     # RLE: one byte
            if bh & 1:
                break
        if not fhd & 0x04:
            die("zstd frame %d at offset %d has no checksum"
                % (f.number, f.offset))
        f.checksum = pos
        pos += 4
        f.end = pos
        frames.append(f)
    die("no end index")
    return None


def label(path, data, frames):
    """Label each frame with what it starts with: header, a package, end.
    Returns the header's packages and, per package, its frame numbers."""
    packages = []
    per = {}
    section = None
    for f in frames:
        p = subprocess.run(["zstd", "-q", "-dc"], input=data[f.offset:f.end],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            die("%s: zstd cannot decompress frame %d" % (path, f.number))
        first = None
        unpacker = msgpack.Unpacker(raw=False,
                                    max_buffer_size=len(p.stdout) + 1)
        unpacker.feed(p.stdout)
        for obj in unpacker:
            if isinstance(obj, dict):
                kind = obj.get("type", "header" if "magic" in obj else None)
                if kind == "header":
                    packages = obj["packages"]
                elif kind == "section":
                    section = obj["package"]
                if first is None:
                    first = section if kind == "section" else kind
            elif first is None:
                first = section
        f.label = first
        if first in packages:
            per.setdefault(first, []).append(f.number)
    return packages, per


def layout_text(frames, index):
    parts = []
    i = 0
    while i < len(frames):
        j = i
        while j + 1 < len(frames) and frames[j + 1].label == frames[i].label:
            j += 1
        nums = str(i) if i == j else "%d-%d" % (i, j)
        parts.append("%s %s" % (nums, frames[i].label))
        i = j + 1
    return "frames %s; end index at %d" % (", ".join(parts), index)


# --------------------------------------------------------------------------
# The variants
# --------------------------------------------------------------------------

def variants(data, frames, index, amount, seed):
    """(class, kind, offset, xor) for every variant: kind "cut" keeps
    `offset` bytes, kind "xor" flips data[offset] with xor."""
    step, nrandom, all_bits, frame_step = AMOUNTS[amount]
    size = len(data)
    out = []

    def rng(cls):
        return random.Random("%d:%s" % (seed, cls))

    def flips(cls, offsets):
        r = rng(cls)
        for o in offsets:
            out.append((cls, "xor", o, r.randrange(1, 256)))

    out += [("truncate-head", "cut", n, 0)
            for n in range(0, min(WINDOW, size), step)]
    out += [("truncate-tail", "cut", n, 0)
            for n in range(max(0, size - WINDOW), size, step)]
    out += [("truncate-random", "cut", n, 0)
            for n in sorted(rng("truncate-random").sample(range(size),
                                                          min(nrandom, size)))]
    flips("flip-random", sorted(rng("flip-random").sample(range(size),
                                                          min(nrandom, size))))
    hdr = [o for f in frames for o in range(f.offset, f.header_end)]
    flips("flip-frame-hdr", hdr)
    desc = [o for f in frames for o in (f.offset + 4, f.window_descriptor)
            if o is not None]
    out += [("bits-frame-hdr", "xor", o, 1 << b)
            for o in (hdr if all_bits else desc) for b in range(8)]
    flips("flip-block-hdr", [o for f in frames for b in f.blocks
                             for o in range(b, b + 3)])
    flips("flip-checksum", [o for f in frames
                            for o in range(f.checksum, f.checksum + 4)])
    flips("flip-first-frame",
          range(frames[0].offset, frames[0].end, frame_step))
    end = [f for f in frames if f.offset ==
           int.from_bytes(data[index + 16:index + 24], "little")]
    if len(end) != 1:
        die("the end index does not point at a frame")
    flips("flip-end-frame", range(end[0].offset, end[0].end, frame_step))
    flips("flip-index", range(index, size))
    return out


def variant_bytes(data, v):
    _, kind, off, x = v
    if kind == "cut":
        return data[:off]
    return data[:off] + bytes([data[off] ^ x]) + data[off + 1:]


def describe(v):
    cls, kind, off, x = v
    if kind == "cut":
        return "%s: cut to %d bytes" % (cls, off)
    return "%s: byte %d xor 0x%02x" % (cls, off, x)


# --------------------------------------------------------------------------
# Running them
# --------------------------------------------------------------------------

def digest(path):
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def state(path):
    st = os.stat(path)
    return st.st_ino, st.st_size, digest(path)


class Result:
    def __init__(self):
        self.rejected = self.named = self.untouched = False
        self.why = []
        self.seconds = 0.0


class Slot:
    """One job's directory: kv.mdb (a copy of the good store) and
    corrupt.kvm (the variant being tried)."""

    def __init__(self, bin_, store, workdir, number):
        self.bin = bin_
        self.good = store
        self.dir = os.path.join(workdir, "job%d" % number)
        os.makedirs(self.dir)
        self.kv = os.path.join(self.dir, "kv.mdb")
        self.input = os.path.join(self.dir, "corrupt.kvm")
        shutil.copyfile(store, self.kv)
        self.names = sorted(["kv.mdb", "corrupt.kvm"])
        self.before = state(self.kv)

    def restore(self):
        for name in os.listdir(self.dir):
            if name not in self.names:
                p = os.path.join(self.dir, name)
                if os.path.isdir(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)
        if not os.path.exists(self.kv) or state(self.kv) != self.before:
            tmp = self.dir + ".restore.mdb"     # outside the directory
            shutil.copyfile(self.good, tmp)
            os.rename(tmp, self.kv)
            self.before = state(self.kv)

    def run(self, data, v):
        res = Result()
        with open(self.input, "wb") as f:
            f.write(variant_bytes(data, v))
        t0 = time.monotonic()
        try:
            p = subprocess.run([self.bin, "import", "-i", self.input, "--kv",
                                self.kv, "--force"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=TIMEOUT)
            rc, err = p.returncode, p.stderr.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            rc, err = None, ""
            res.why.append("no exit after %d s" % TIMEOUT)
        res.seconds = time.monotonic() - t0
        lines = [ln for ln in err.splitlines()
                 if not ln.startswith("progress: ")]
        errors = [ln for ln in lines if ln.startswith("kvmigrate: error: ")]
        res.rejected = (rc == 1 and len(lines) == 2 and len(errors) == 1
                        and lines[0] == errors[0]
                        and lines[1].startswith("hint: "))
        if rc == 0:
            res.why.append("accepted (exit status 0)")
        elif rc is not None and not res.rejected:
            res.why.append("exit status %d, stderr: %s" %
                           (rc, " | ".join(lines[:4])[:300] or "(none)"))
        res.named = bool(errors) and all(self.input in ln for ln in errors)
        if res.rejected and not res.named:
            res.why.append("the error does not name %s: %s"
                           % (self.input, errors[0]))
        names = sorted(os.listdir(self.dir))
        res.untouched = names == self.names and state(self.kv) == self.before
        if names != self.names:
            res.why.append("the directory holds %s" % " ".join(names))
        elif not res.untouched:
            res.why.append("the store changed")
        if not res.untouched:
            self.restore()
        return res


def sweep(args, data, vs):
    slots = [Slot(args.kvmigrate, args.store, args.work, i)
             for i in range(args.jobs)]
    results = [None] * len(vs)

    def job(k):
        for i in range(k, len(vs), len(slots)):
            results[i] = slots[k].run(data, vs[i])

    with concurrent.futures.ThreadPoolExecutor(len(slots)) as pool:
        for f in [pool.submit(job, k) for k in range(len(slots))]:
            f.result()
    return results


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------

class Tally:
    def __init__(self):
        self.counts = {cls: [0, 0, 0, 0] for cls, _ in CLASSES}
        self.seconds = {cls: 0.0 for cls, _ in CLASSES}
        self.failures = {cls: [] for cls, _ in CLASSES}

    def add(self, data, frames, v, res):
        c = self.counts[v[0]]
        c[0] += 1
        c[1] += res.rejected
        c[2] += res.named
        c[3] += res.untouched
        self.seconds[v[0]] += res.seconds
        if res.why:
            self.failures[v[0]].append((v, "; ".join(res.why)))

    def failed(self):
        return sum(len(f) for f in self.failures.values())

    def table(self):
        rows = ["| class | what is tried | files | rejected | message names "
                "the file | KV store untouched | seconds |",
                "|---|---|---:|---:|---:|---:|---:|"]
        total = [0] * 4
        for cls, what in CLASSES:
            c = self.counts[cls]
            total = [a + b for a, b in zip(total, c)]
            rows.append("| %s | %s | %s | %.1f |" % (cls, what, " | ".join(
                "{:,}".format(n) for n in c), self.seconds[cls]))
        rows.append("| **all** | | %s | %.1f |" % (" | ".join(
            "**{:,}**".format(n) for n in total), sum(self.seconds.values())))
        return "\n".join(rows) + "\n", total


def main():
    ap = argparse.ArgumentParser(description="Damaged exports against "
                                 "kvmigrate import.")
    ap.add_argument("--kvmigrate", required=True)
    ap.add_argument("--export", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--amount", choices=sorted(AMOUNTS), default="reduced")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--summary")
    ap.add_argument("--doc")
    ap.add_argument("--keep-failures")
    args = ap.parse_args()
    if args.jobs < 1 or args.jobs > 16:
        ap.error("--jobs must be 1 to 16")
    seed = args.seed if args.seed is not None else \
        int.from_bytes(os.urandom(4), "little")

    with open(args.export, "rb") as f:
        data = f.read()
    frames, index = walk(data)
    packages, per = label(args.export, data, frames)
    layout = layout_text(frames, index)
    print("corrupt-sweep: seed %d (--seed %d repeats it), amount %s, %d job%s"
          % (seed, seed, args.amount, args.jobs,
             "" if args.jobs == 1 else "s"))
    print("corrupt-sweep: %s: %d bytes, %d sections; %s"
          % (args.export, len(data), len(packages), layout))
    sys.stdout.flush()
    if len(packages) < 3 or max(len(v) for v in per.values()) < 2:
        die("%s: want 3 sections or more, one of them in several zstd frames"
            % args.export)

    vs = variants(data, frames, index, args.amount, seed)
    t0 = time.monotonic()
    results = sweep(args, data, vs)
    seconds = time.monotonic() - t0
    tally = Tally()
    for v, res in zip(vs, results):
        tally.add(data, frames, v, res)
    text, total = tally.table()

    for cls, _ in CLASSES:
        for v, why in tally.failures[cls]:
            print("FAIL %s: %s" % (describe(v), why))
    print()
    print(text, end="")
    print("\ncorrupt-sweep: %d variants in %.1f s: %d failed"
          % (total[0], seconds, tally.failed()))

    if args.keep_failures and tally.failed():
        os.makedirs(args.keep_failures, exist_ok=True)
        shutil.copyfile(args.export,
                        os.path.join(args.keep_failures, "good.kvm"))
        for cls, _ in CLASSES:
            for v, _ in tally.failures[cls][:KEEP_FAILURES]:
                name = "%s-%d%s.kvm" % (cls, v[2], "" if v[1] == "cut"
                                        else "-x%02x" % v[3])
                with open(os.path.join(args.keep_failures, name), "wb") as f:
                    f.write(variant_bytes(data, v))
        print("corrupt-sweep: failing variants kept in %s" % args.keep_failures)
    if args.summary:
        with open(args.summary, "w") as f:
            for cls, _ in CLASSES:
                f.write("%s %s\n" % (cls, " ".join(map(str, tally.counts[cls]))))
            for cls, _ in CLASSES:
                for v, why in tally.failures[cls][:KEEP_FAILURES]:
                    f.write("fail %s %s: %s\n" % (cls, describe(v), why))
    if args.doc:
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
        docregion.replace(args.doc, "corrupt", "\nLast run: %s, `make corrupt-test` (amount %s, "
                  "seed %d, %d job%s): an export of %s bytes, %d sections, "
                  "%d zstd frames (%s); %s variants in %.0f s, %d failed.  "
                  "The seconds add up the imports' run times "
                  "over the jobs.\n\n%s\n"
                  % (when, args.amount, seed, args.jobs,
                     "" if args.jobs == 1 else "s", "{:,}".format(len(data)),
                     len(packages), len(frames), layout,
                     "{:,}".format(total[0]), seconds, tally.failed(),
                     text))
    return 0 if tally.failed() == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
