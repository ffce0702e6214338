#!/usr/bin/python3
"""kvmexport.py - an independent reader, checker and generator of kvmigrate
export files (design/export-format.md, format version 1).

    kvmexport.py check FILE        check every rule of the spec; print a JSON
                                   summary, or one error line and exit 1
    kvmexport.py dump FILE         list the records, one per line, using only
                                   `zstd -dc FILE` and a generic msgpack decoder
    kvmexport.py make-golden DIR   write the golden files of testdata/ from
                                   scratch (DIR/good, DIR/broken, DIR/fuzz-corpus)

It shares no code with the C implementation in format/: it uses Python's
`msgpack` and `xxhash` packages and the `zstd` command-line tool, and walks
the zstd frames itself (RFC 8878).  (Debian's python3-xxhash links
libxxhash, from which format/ takes XXH64 too; the committed golden files
keep the digests fixed.)  It is meant to be read next to the spec:
each check says which rule it enforces.

A failed check prints

    kvmexport: FILE: KVM_ECODE: detail

where KVM_ECODE is the name of the C error code (include/kvm/error.h) that a
reader must return for that damage.  Run it with /usr/bin/python3 (Debian's
interpreter, where python3-msgpack and python3-xxhash are installed).

Errors are found in the order a streaming reader meets them: frame by frame,
each frame's header before its content, objects in stream order, a length
before the bytes it declares.  Where the spec leaves a choice, this is the
reading taken here, and the one the golden files of testdata/ pin:

  - A file shorter than 4 bytes, or empty, does not start with the zstd
    magic: KVM_ENOTEXPORT.  Damage inside the header's first key/value pair
    is KVM_ENOTEXPORT too; after it, format_version is judged before any
    other key or cap (KVM_EVERSION for any integer but 1, KVM_ECORRUPT for
    a non-integer or when it is not the second key).
  - A window larger than 2^24 is KVM_ECORRUPT (section 6 lists it among the
    zstd errors), not KVM_ELIMIT.  So are a reserved frame-header bit, a
    dictionary id and a reserved block type, and, though zstd accepts
    them, the unused frame-header bit and a window that is not a power of
    two (a Window_Descriptor with a Mantissa).
  - The caps on maps apply to every value inside them, known or ignored:
    str, bin and ext at most 1 KiB, arrays at most 256 elements, maps at
    most 32 keys; containers may nest 8 deep below the top-level map (a
    value [[[[[[[[1]]]]]]]] is accepted, one more level is not).  Going
    past a cap is KVM_ELIMIT.
  - The first key of a section, section_end and end map must be "type"
    (KVM_ECORRUPT otherwise); duplicate keys and non-str keys at the top
    level of a map are KVM_ECORRUPT.  An integer field accepts any msgpack
    integer encoding of a value in range (not a bool).
  - Record numbers in messages are 0-based and count records of the whole
    file; frame numbers are 0-based and count zstd frames.
  - The end map must begin its frame (KVM_ECORRUPT otherwise); bytes after
    it in that frame, a zstd frame after it, or bytes after the index are
    KVM_ETRAILING.  End of file right after the end frame, or inside the
    24 index bytes, is KVM_ETRUNCATED; any other bytes where the index
    should be are KVM_ECORRUPT, and so is a skippable frame before the end.
  - Trailer checks run in this order: records, bytes, the sections list,
    the file digest.  section_end checks: package, records, bytes, digest.
"""

import errno
import io
import json
import os
import re
import shutil
import subprocess
import sys

import msgpack
import xxhash

# --------------------------------------------------------------------------
# Constants of the format (design/export-format.md)
# --------------------------------------------------------------------------

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"            # RFC 8878, 3.1.1
SKIPPABLE_MIN = 0x184D2A50                   # skippable frames 0x184D2A5?
SKIPPABLE_MAX = 0x184D2A5F
INDEX_MAGIC = b"\x5e\x2a\x4d\x18"           # section 5: 0x184D2A5E, LE
INDEX_TAG = b"KVMGEND1"
INDEX_SIZE = 24

EXPORT_MAGIC = "kvmigrate-export"
FORMAT_VERSION = 1

# Section 7: the reader's caps, checked before anything is read.
MAX_PARTITION = 64 << 10
MAX_KEY = 64 << 10
MAX_VALUE = 64 << 20
MAX_WINDOW = 1 << 24
MAX_STRING = 1024          # any str (and bin or ext) inside a map
MAX_PACKAGES = 256         # packages, sections, and any array inside a map
MAX_MAP_KEYS = 32
MAX_NESTING = 8            # containers inside a top-level map

BLOCK_MAX = 128 << 10      # RFC 8878, 3.1.1.2: Block_Maximum_Size <= 128 KiB

PACKAGE_NAME = re.compile(r"[a-z0-9_-]{1,64}")
RECORD_ELEMENTS = (("partition", MAX_PARTITION), ("key", MAX_KEY),
                   ("value", MAX_VALUE))

# The writer's framing policy (section 1); the reader does not check it.
DEFAULT_FRAME_BYTES = 4 << 20
DEFAULT_LEVEL = 1

class ExportError(Exception):
    """A rejected file: `code` is the C error code name, `detail` the text."""

    def __init__(self, code, detail):
        super().__init__(detail)
        self.code = code
        self.detail = detail


class NeedMore(Exception):
    """The stream ends inside an object: wait for the next frame."""


def fail(code, detail):
    raise ExportError(code, detail)


# --------------------------------------------------------------------------
# zstd: frame walking (RFC 8878) and decompression with the zstd CLI
# --------------------------------------------------------------------------

def zstd_env():
    """The environment for the zstd CLI, without ZSTD_CLEVEL/ZSTD_NBTHREADS,
    which would change its output."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ZSTD_")}


def u32le(b, pos):
    return int.from_bytes(b[pos:pos + 4], "little")


class Frame:
    """Where one zstd frame lies in the file and what its header says."""

    def __init__(self, number, offset):
        self.number = number        # 0-based, counting zstd frames only
        self.offset = offset        # of its magic number, in the file
        self.end = offset           # one past its last byte
        self.checksum = False       # Content_Checksum_flag
        self.single_segment = False
        self.window = 0             # Window_Size in bytes
        self.content_size = None    # Frame_Content_Size, when present
        self.blocks = []            # (offset, type, size in file) of each block

    def where(self):
        return "zstd frame %d at offset %d" % (self.number, self.offset)


def walk_frame(data, offset, number):
    """Find the end of the zstd frame that starts at `offset`.

    Reads the frame header (magic, Frame_Header_Descriptor, Window_Descriptor,
    Dictionary_ID, Frame_Content_Size), then every block header until the one
    with Last_Block set, then the 4-byte content checksum.  Nothing is
    decompressed here.  Raises ETRUNCATED when the file ends inside the
    frame, ECORRUPT for a header the format does not allow.
    """
    f = Frame(number, offset)

    def need(pos, n):
        if pos + n > len(data):
            fail("KVM_ETRUNCATED",
                 "unexpected end of file inside %s" % f.where())

    need(offset, 5)
    assert data[offset:offset + 4] == ZSTD_MAGIC
    fhd = data[offset + 4]
    fcs_flag = fhd >> 6
    f.single_segment = bool(fhd & 0x20)
    reserved = fhd & 0x08
    unused = fhd & 0x10
    f.checksum = bool(fhd & 0x04)
    did_flag = fhd & 0x03
    did_size = (0, 1, 2, 4)[did_flag]
    fcs_size = (1 if f.single_segment else 0, 2, 4, 8)[fcs_flag]
    header_size = 5 + (0 if f.single_segment else 1) + did_size + fcs_size
    need(offset, header_size)

    pos = offset + 5
    if reserved:
        fail("KVM_ECORRUPT", "%s: reserved bit of the frame header set"
             % f.where())
    # Section 1: every frame carries a content checksum.
    if not f.checksum:
        fail("KVM_ECORRUPT", "%s has no content checksum" % f.where())
    # Section 1: no checksum covers the frame header, and zstd decodes a
    # frame the same with the unused bit set or a larger window; zstd
    # writes that bit clear and every window a power of two.
    if unused:
        fail("KVM_ECORRUPT", "%s: the unused bit of its frame header is set"
             % f.where())
    if not f.single_segment:
        wd = data[pos]
        pos += 1
        if wd & 7:
            fail("KVM_ECORRUPT", "%s: window descriptor 0x%02x is not a power "
                 "of two" % (f.where(), wd))
        window_log = 10 + (wd >> 3)
        base = 1 << window_log
        f.window = base + (base >> 3) * (wd & 7)
    did = int.from_bytes(data[pos:pos + did_size], "little")
    pos += did_size
    if did != 0:
        fail("KVM_ECORRUPT", "%s needs dictionary %d" % (f.where(), did))
    if fcs_size:
        fcs = int.from_bytes(data[pos:pos + fcs_size], "little")
        f.content_size = fcs + 256 if fcs_size == 2 else fcs
        pos += fcs_size
    if f.single_segment:
        f.window = f.content_size
    # Section 6 lists "window too large" among the zstd errors (ECORRUPT).
    if f.window > MAX_WINDOW:
        fail("KVM_ECORRUPT", "%s: window of %d bytes is larger than the "
             "limit of %d" % (f.where(), f.window, MAX_WINDOW))

    while True:
        need(pos, 3)
        bh = int.from_bytes(data[pos:pos + 3], "little")
        last = bh & 1
        btype = (bh >> 1) & 3
        bsize = bh >> 3
        if btype == 3:
            fail("KVM_ECORRUPT", "%s: reserved block type at offset %d"
                 % (f.where(), pos))
        if bsize > BLOCK_MAX:
            fail("KVM_ECORRUPT", "%s: block of %d bytes at offset %d"
                 % (f.where(), bsize, pos))
        in_file = 1 if btype == 1 else bsize     # RLE blocks hold one byte
        need(pos + 3, in_file)
        f.blocks.append((pos, btype, in_file))
        pos += 3 + in_file
        if last:
            break
    if f.checksum:
        need(pos, 4)
        pos += 4
    f.end = pos
    return f


def zstd_decompress(frame_bytes, frame):
    """Decompress exactly one frame with the zstd CLI; it checks the
    content checksum.  Any zstd error is ECORRUPT."""
    p = subprocess.run(["zstd", "-q", "-dc"], input=frame_bytes,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=zstd_env())
    if p.returncode != 0:
        msg = p.stderr.decode("utf-8", "replace").strip().splitlines()
        msg = msg[-1] if msg else "zstd failed"
        if "checksum" in msg.lower():
            fail("KVM_ECORRUPT", "%s: checksum mismatch" % frame.where())
        # "zstd: /*stdin*\: Data corruption detected" -> the last part
        msg = msg.rsplit(": ", 1)[-1].lower()
        fail("KVM_ECORRUPT", "%s: %s" % (frame.where(), msg))
    return p.stdout


def zstd_compress(data, level=DEFAULT_LEVEL, check=True):
    """One zstd frame of `data`, made by the zstd CLI from a pipe (so the
    frame has no content size and carries a window descriptor)."""
    args = ["zstd", "-q", "-c", "-%d" % level,
            "--check" if check else "--no-check"]
    p = subprocess.run(args, input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=zstd_env(), check=True)
    out = p.stdout
    # Exactly one frame, with the checksum flag as asked (byte 4, bit 2).
    assert out[:4] == ZSTD_MAGIC and bool(out[4] & 0x04) == check, out[:8]
    if check:
        assert walk_frame(out, 0, 0).end == len(out)
    return out


# --------------------------------------------------------------------------
# msgpack: skimming with the caps, and decoding with the msgpack package
# --------------------------------------------------------------------------

def type_name(b):
    """What the msgpack type byte `b` introduces, for messages."""
    if b <= 0x7f or b >= 0xe0 or 0xcc <= b <= 0xd3:
        return "int"
    if 0x80 <= b <= 0x8f or b in (0xde, 0xdf):
        return "map"
    if 0x90 <= b <= 0x9f or b in (0xdc, 0xdd):
        return "array"
    if 0xa0 <= b <= 0xbf or 0xd9 <= b <= 0xdb:
        return "str"
    if 0xc4 <= b <= 0xc6:
        return "bin"
    if 0xc7 <= b <= 0xc9 or 0xd4 <= b <= 0xd8:
        return "ext"
    return {0xc0: "nil", 0xc1: "byte 0xc1", 0xc2: "bool", 0xc3: "bool",
            0xca: "float", 0xcb: "float"}[b]


def a_type(b):
    """type_name() with its article, for messages."""
    name = type_name(b)
    return ("an " if name[0] in "aeiou" else "a ") + name


def is_map(b):
    return 0x80 <= b <= 0x8f or b in (0xde, 0xdf)


def is_array(b):
    return 0x90 <= b <= 0x9f or b in (0xdc, 0xdd)


def read_uint(buf, pos, n):
    if pos + n > len(buf):
        raise NeedMore()
    return int.from_bytes(buf[pos:pos + n], "big")


def container_header(buf, pos):
    """Count and position after the header of the map or array at pos."""
    b = buf[pos]
    if 0x80 <= b <= 0x9f:
        return b & 0x0f, pos + 1
    if b in (0xdc, 0xde):
        return read_uint(buf, pos + 1, 2), pos + 3
    return read_uint(buf, pos + 1, 4), pos + 5


def skim(buf, pos, depth, where):
    """Position just after the msgpack object at `pos`, without decoding it.

    Used for everything inside the header, section and trailer maps: it
    enforces the fixed caps of section 7 on every declared length before
    the bytes are needed, so a reader following it never allocates more
    than the caps.  `depth` is 1 for a value of a top-level map.
    """
    if pos >= len(buf):
        raise NeedMore()
    b = buf[pos]
    if b <= 0x7f or b >= 0xe0 or b in (0xc0, 0xc2, 0xc3):
        return pos + 1
    if b == 0xc1:
        fail("KVM_ECORRUPT", "%s: invalid msgpack byte 0xc1" % where)
    if b in (0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3):
        size = {0xca: 4, 0xcb: 8, 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8,
                0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8}[b]
        return pos + 1 + size if pos + 1 + size <= len(buf) else _more()
    if 0xd4 <= b <= 0xd8:                                  # fixext 1..16
        size = 2 + (1 << (b - 0xd4))
        return pos + size if pos + size <= len(buf) else _more()
    if 0xa0 <= b <= 0xbf or 0xd9 <= b <= 0xdb or 0xc4 <= b <= 0xc9:
        if 0xa0 <= b <= 0xbf:
            n, start = b & 0x1f, pos + 1
        else:
            width = {0xd9: 1, 0xda: 2, 0xdb: 4, 0xc4: 1, 0xc5: 2, 0xc6: 4,
                     0xc7: 1, 0xc8: 2, 0xc9: 4}[b]
            n, start = read_uint(buf, pos + 1, width), pos + 1 + width
            if b >= 0xc7 and b <= 0xc9:
                start += 1                                 # the ext type
        if n > MAX_STRING:
            fail("KVM_ELIMIT", "%s: %s length %d exceeds the limit of %d"
                 % (where, type_name(b), n, MAX_STRING))
        return start + n if start + n <= len(buf) else _more()
    # map or array
    if depth > MAX_NESTING:
        fail("KVM_ELIMIT", "%s: nesting exceeds the limit of %d"
             % (where, MAX_NESTING))
    n, pos = container_header(buf, pos)
    if is_map(b):
        if n > MAX_MAP_KEYS:
            fail("KVM_ELIMIT", "%s: map of %d keys exceeds the limit of %d"
                 % (where, n, MAX_MAP_KEYS))
        n *= 2
    elif n > MAX_PACKAGES:
        fail("KVM_ELIMIT", "%s: array of %d elements exceeds the limit of %d"
             % (where, n, MAX_PACKAGES))
    for _ in range(n):
        pos = skim(buf, pos, depth + 1, where)
    return pos


def _more():
    raise NeedMore()


class Pairs(list):
    """A decoded msgpack map: its (key, value) pairs in order.  A subclass
    of list so that a map is never mistaken for an array."""


def decode(raw, where, code="KVM_ECORRUPT"):
    """Decode complete msgpack bytes with the msgpack package.

    raw=False: str becomes Python str (invalid UTF-8 is an error) and bin
    becomes bytes, so the two stay distinct.  Maps become Pairs, so that key
    order and duplicate keys stay visible.  Ext -1 becomes a
    msgpack.Timestamp (all three encodings are accepted).
    """
    try:
        return msgpack.unpackb(raw, raw=False, strict_map_key=False,
                               object_pairs_hook=Pairs, timestamp=0)
    except Exception as e:                    # ValueError, UnicodeDecodeError
        fail(code, "%s: bad msgpack (%s)" % (where, e))


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class Fields:
    """The pairs of a decoded map, with typed access to its required keys."""

    def __init__(self, pairs, where):
        self.where = where
        self.values = {}
        for k, v in pairs:
            if not isinstance(k, str):
                fail("KVM_ECORRUPT", "%s: a key is not a str" % where)
            if k in self.values:
                fail("KVM_ECORRUPT", "%s: duplicate key '%s'" % (where, k))
            self.values[k] = v

    def get(self, key, kind):
        if key not in self.values:
            fail("KVM_ECORRUPT", "%s: key '%s' is missing" % (self.where, key))
        v = self.values[key]
        ok = {
            "str": lambda: isinstance(v, str),
            "uint": lambda: is_int(v) and 0 <= v < 1 << 64,
            "int": lambda: is_int(v) and -(1 << 63) <= v < 1 << 63,
            "timestamp": lambda: isinstance(v, msgpack.Timestamp),
            "array": lambda: isinstance(v, list) and not isinstance(v, Pairs),
        }[kind]()
        if not ok:
            fail("KVM_ECORRUPT", "%s: key '%s' is not of type %s"
                 % (self.where, key, kind))
        return v


# --------------------------------------------------------------------------
# The stream D (sections 2 to 4)
# --------------------------------------------------------------------------

class StreamChecker:
    """Reads D object by object as the frames' contents arrive.

    States: "header" (nothing read yet), "between" (before a section map or
    the end map), "section" (inside a section), "done" (end map read).
    """

    def __init__(self):
        self.buf = bytearray()      # unread bytes of D
        self.base = 0               # offset in D of buf[0]
        self.frame = None           # the frame whose content is being read
        self.frame_start = 0        # offset in D of that frame's content
        self.state = "header"
        self.header = None
        self.packages = []
        self.file_hash = xxhash.xxh64(seed=0)
        self.sections = []          # the section_end values, in order
        self.cur = None             # the open section: dict of running totals
        self.records = 0            # records read in all sections
        self.end = None
        self.end_frame = None

    # -- feeding -------------------------------------------------------

    def feed(self, content, frame):
        """Append one frame's content and read every complete object."""
        self.frame = frame
        self.frame_start = self.base + len(self.buf)
        self.buf += content
        pos = 0
        while pos < len(self.buf):
            if self.state == "done":
                # Section 6: anything after end inside its frame.
                fail("KVM_ETRAILING", "%s: trailing data after the trailer "
                     "(%d bytes)" % (frame.where(), len(self.buf) - pos))
            try:
                pos = self.read_object(pos)
            except NeedMore:
                break
        del self.buf[:pos]
        self.base += pos

    def finish(self, file_offset):
        """No more frames: the stream must have reached its trailer."""
        if self.state != "done":
            fail("KVM_ETRUNCATED", "unexpected end of file at offset %d "
                 "before the trailer (after %d records)"
                 % (file_offset, self.records))

    # -- objects -------------------------------------------------------

    def read_object(self, pos):
        """Read the object at buf[pos:]; return the position after it."""
        b = self.buf[pos]
        if self.state == "header":
            return self.read_header(pos)
        if is_array(b):
            if self.state != "section":
                fail("KVM_ECORRUPT", "record at stream offset %d outside a "
                     "section" % (self.base + pos))
            return self.read_record(pos)
        if not is_map(b):
            fail("KVM_ECORRUPT", "expected a map or a record at stream "
                 "offset %d, found %s" % (self.base + pos, a_type(b)))
        end, pairs = self.read_map(pos, "map at stream offset %d"
                                   % (self.base + pos))
        raw = bytes(self.buf[pos:end])
        where = "map at stream offset %d" % (self.base + pos)
        if not pairs or pairs[0][0] != "type" or not isinstance(pairs[0][1], str):
            fail("KVM_ECORRUPT", "%s: its first key is not 'type'" % where)
        kind = pairs[0][1]
        if kind == "section":
            self.on_section(Fields(pairs, "section map"), raw)
        elif kind == "section_end":
            self.on_section_end(Fields(pairs, "section_end"), raw)
        elif kind == "end":
            self.on_end(Fields(pairs, "trailer"), self.base + pos)
        else:
            fail("KVM_ECORRUPT", "%s: unknown type '%s'" % (where, kind))
        return end

    def read_map(self, pos, where):
        """Skim a whole map with the caps, then decode it."""
        n, p = container_header(self.buf, pos)
        if n > MAX_MAP_KEYS:
            fail("KVM_ELIMIT", "%s: map of %d keys exceeds the limit of %d"
                 % (where, n, MAX_MAP_KEYS))
        for _ in range(2 * n):
            p = skim(self.buf, p, 1, where)
        return p, decode(bytes(self.buf[pos:p]), where)

    def read_header(self, pos):
        """Section 3.1: magic first, format_version second, then the rest."""
        buf = self.buf
        if not is_map(buf[pos]):
            fail("KVM_ENOTEXPORT", "not a kvmigrate export file: the first "
                 "object is not a map but %s" % a_type(buf[pos]))
        n, p = container_header(buf, pos)
        # The first pair is judged before anything else, and any damage in
        # it means "not an export": a zstd file of other data gets here.
        key = val = None
        try:
            if n == 0:
                raise ExportError("KVM_ENOTEXPORT", "empty map")
            k_end = skim(buf, p, 1, "header")
            v_end = skim(buf, k_end, 1, "header")
            key = decode(bytes(buf[p:k_end]), "header", "KVM_ENOTEXPORT")
            val = decode(bytes(buf[k_end:v_end]), "header", "KVM_ENOTEXPORT")
        except ExportError:
            key = val = None
        if n == 0 or key != "magic" or val != EXPORT_MAGIC:
            fail("KVM_ENOTEXPORT", "not a kvmigrate export file: the header "
                 "does not start with magic '%s'" % EXPORT_MAGIC)
        p = v_end
        # The version is judged before the caps and the other keys, so that a
        # future layout is reported as a version and not as damage.
        if n < 2:
            fail("KVM_ECORRUPT", "header: key 'format_version' is missing")
        k_end = skim(buf, p, 1, "header")
        v_end = skim(buf, k_end, 1, "header")
        key = decode(bytes(buf[p:k_end]), "header")
        version = decode(bytes(buf[k_end:v_end]), "header")
        if key != "format_version":
            fail("KVM_ECORRUPT", "header: the second key is not "
                 "'format_version'")
        if not is_int(version):
            fail("KVM_ECORRUPT", "header: format_version is not an integer")
        if version != FORMAT_VERSION:
            fail("KVM_EVERSION", "unsupported format version %d (this reader "
                 "reads format version %d)" % (version, FORMAT_VERSION))
        if n > MAX_MAP_KEYS:
            fail("KVM_ELIMIT", "header: map of %d keys exceeds the limit of %d"
                 % (n, MAX_MAP_KEYS))
        p = v_end
        for _ in range(2 * (n - 2)):
            p = skim(buf, p, 1, "header")
        raw = bytes(buf[pos:p])
        h = Fields(decode(raw, "header"), "header")
        header = {
            "format_version": version,
            "tool_version": h.get("tool_version", "str"),
            "kv_migration_version": h.get("kv_migration_version", "int"),
            "source_schema_version": h.get("source_schema_version", "int"),
            "source_database": h.get("source_database", "str"),
        }
        ts = h.get("snapshot_time", "timestamp")
        header["snapshot_time"] = {"sec": ts.seconds, "nsec": ts.nanoseconds}
        packages = h.get("packages", "array")
        if not 1 <= len(packages) <= MAX_PACKAGES:
            fail("KVM_ECORRUPT", "header: %d packages (1 to %d allowed)"
                 % (len(packages), MAX_PACKAGES))
        for name in packages:
            if not isinstance(name, str) or not PACKAGE_NAME.fullmatch(name):
                fail("KVM_ECORRUPT", "header: invalid package name %r" % (name,))
        if len(set(packages)) != len(packages):
            fail("KVM_ECORRUPT", "header: duplicate package name")
        header["packages"] = packages
        self.header = header
        self.packages = packages
        self.file_hash.update(raw)          # section 4: the header is hashed
        self.state = "between"
        return p

    def read_record(self, pos):
        """Section 2: an array of exactly three bin values, each length
        checked against its cap before its bytes are needed."""
        buf = self.buf
        number, package = self.records, self.cur["package"]
        where = "record %d (package '%s')" % (number, package)
        n, p = container_header(buf, pos)
        if n != 3:
            fail("KVM_ECORRUPT", "%s: not an array of three bin values (an "
                 "array of %d)" % (where, n))
        for name, cap in RECORD_ELEMENTS:
            if p >= len(buf):
                raise NeedMore()
            b = buf[p]
            if not 0xc4 <= b <= 0xc6:
                fail("KVM_ECORRUPT", "%s: the %s is not a msgpack bin (it is "
                     "%s)" % (where, name, a_type(b)))
            width = 1 << (b - 0xc4)
            length = read_uint(buf, p + 1, width)
            if length > cap:
                fail("KVM_ELIMIT", "%s: %s length %d exceeds the limit of %d"
                     % (where, name, length, cap))
            p += 1 + width + length
            if p > len(buf):
                raise NeedMore()
        self.cur["hash"].update(bytes(buf[pos:p]))
        self.cur["records"] += 1
        self.cur["bytes"] += p - pos
        self.records += 1
        return p

    def on_section(self, m, raw):
        """Section 3.2: the next package of the header, in order."""
        if self.state == "section":
            fail("KVM_ECORRUPT", "section '%s' is not closed: no section_end "
                 "before the next section map" % self.cur["package"])
        package = m.get("package", "str")
        index = m.get("index", "uint")
        done = len(self.sections)
        if package not in self.packages:
            fail("KVM_ECORRUPT", "section map: unknown package '%s'" % package)
        if done == len(self.packages) or package != self.packages[done]:
            expected = ("no more sections" if done == len(self.packages)
                        else "package '%s'" % self.packages[done])
            fail("KVM_ECORRUPT", "sections out of order: expected %s, found "
                 "package '%s'" % (expected, package))
        if index != done:
            fail("KVM_ECORRUPT", "section '%s': index %d, expected %d"
                 % (package, index, done))
        self.file_hash.update(raw)
        self.cur = {"package": package, "records": 0, "bytes": 0,
                    "hash": xxhash.xxh64(seed=0)}
        self.state = "section"

    def on_section_end(self, m, raw):
        """Section 3.3: the counts and the digest of what was read."""
        if self.state != "section":
            fail("KVM_ECORRUPT", "section_end outside a section")
        cur = self.cur
        package = m.get("package", "str")
        records = m.get("records", "uint")
        nbytes = m.get("bytes", "uint")
        digest = m.get("digest", "uint")
        name = cur["package"]
        if package != name:
            fail("KVM_ECORRUPT", "section '%s': section_end names package '%s'"
                 % (name, package))
        if records != cur["records"]:
            fail("KVM_ECOUNT", "section '%s': record count mismatch: "
                 "section_end says %d, read %d" % (name, records, cur["records"]))
        if nbytes != cur["bytes"]:
            fail("KVM_ECOUNT", "section '%s': byte count mismatch: "
                 "section_end says %d, read %d" % (name, nbytes, cur["bytes"]))
        if digest != cur["hash"].intdigest():
            fail("KVM_EDIGEST", "section '%s': digest mismatch: section_end "
                 "says 0x%016x, read 0x%016x"
                 % (name, digest, cur["hash"].intdigest()))
        self.file_hash.update(raw)
        self.sections.append({"package": name, "records": records,
                              "bytes": nbytes, "digest": digest})
        self.cur = None
        self.state = "between"

    def on_end(self, m, d_offset):
        """Section 3.4 and 4: the file trailer."""
        if self.state == "section":
            fail("KVM_ECORRUPT", "section '%s' is not closed: no section_end "
                 "before the trailer" % self.cur["package"])
        if len(self.sections) < len(self.packages):
            fail("KVM_ECORRUPT", "trailer: missing section of package '%s'"
                 % self.packages[len(self.sections)])
        # Section 1: the end map is alone in its frame (nothing before it).
        if d_offset != self.frame_start:
            fail("KVM_ECORRUPT", "%s: the trailer does not start its own "
                 "zstd frame" % self.frame.where())
        records = m.get("records", "uint")
        nbytes = m.get("bytes", "uint")
        digest = m.get("digest", "uint")
        listed = m.get("sections", "array")
        if records != self.records:
            fail("KVM_ECOUNT", "trailer: record count mismatch: trailer says "
                 "%d, read %d" % (records, self.records))
        if nbytes != d_offset:
            fail("KVM_ECOUNT", "trailer: byte count mismatch: trailer says "
                 "%d, read %d" % (nbytes, d_offset))
        if len(listed) != len(self.sections):
            fail("KVM_ECORRUPT", "trailer: lists %d sections, the header %d"
                 % (len(listed), len(self.sections)))
        for entry, seen in zip(listed, self.sections):
            if not isinstance(entry, Pairs):
                fail("KVM_ECORRUPT", "trailer: a sections entry is not a map")
            e = Fields(entry, "trailer: sections entry")
            if e.get("package", "str") != seen["package"]:
                fail("KVM_ECORRUPT", "trailer: sections list package '%s' "
                     "where '%s' was read" % (e.values["package"],
                                              seen["package"]))
            where = "trailer: section '%s'" % seen["package"]
            if e.get("records", "uint") != seen["records"]:
                fail("KVM_ECOUNT", "%s: record count mismatch" % where)
            if e.get("bytes", "uint") != seen["bytes"]:
                fail("KVM_ECOUNT", "%s: byte count mismatch" % where)
            if e.get("digest", "uint") != seen["digest"]:
                fail("KVM_EDIGEST", "%s: digest mismatch" % where)
        if digest != self.file_hash.intdigest():
            fail("KVM_EDIGEST", "trailer: file digest mismatch: trailer says "
                 "0x%016x, read 0x%016x" % (digest, self.file_hash.intdigest()))
        self.end = {"records": records, "bytes": nbytes, "digest": digest}
        if "frames_digest" in m.values:
            self.end["frames_digest"] = m.get("frames_digest", "uint")
        self.end_frame = self.frame
        self.state = "done"


# --------------------------------------------------------------------------
# The file (sections 1 and 5)
# --------------------------------------------------------------------------

def check_bytes(data):
    """Check a whole export held in `data`; return the JSON summary."""
    # Section 3.1: the file starts with the zstd magic.
    if data[:4] != ZSTD_MAGIC:
        fail("KVM_ENOTEXPORT", "not a kvmigrate export file: it does not "
             "start with the zstd magic 28 b5 2f fd")
    stream = StreamChecker()
    pos = 0
    number = 0
    while stream.state != "done":
        if pos == len(data):
            stream.finish(pos)                   # raises ETRUNCATED
        magic = data[pos:pos + 4]
        if len(magic) < 4:
            fail("KVM_ETRUNCATED", "unexpected end of file inside zstd frame "
                 "%d at offset %d" % (number, pos))
        m = u32le(magic, 0)
        if SKIPPABLE_MIN <= m <= SKIPPABLE_MAX:
            what = "the end index" if magic == INDEX_MAGIC else "a skippable frame"
            fail("KVM_ECORRUPT", "%s at offset %d before the trailer"
                 % (what, pos))
        if magic != ZSTD_MAGIC:
            fail("KVM_ECORRUPT", "no zstd frame at offset %d (bytes %s)"
                 % (pos, magic.hex(" ")))
        frame = walk_frame(data, pos, number)
        content = zstd_decompress(data[pos:frame.end], frame)
        stream.feed(content, frame)
        pos = frame.end
        number += 1

    # Section 5: the index follows the trailer frame, and nothing after it.
    rest = data[pos:]
    if not rest:
        fail("KVM_ETRUNCATED", "unexpected end of file at offset %d before "
             "the end index" % pos)
    if rest[:4] == ZSTD_MAGIC:
        fail("KVM_ETRAILING", "trailing data after the trailer: a zstd frame "
             "at offset %d" % pos)
    expect = INDEX_MAGIC + (16).to_bytes(4, "little") + INDEX_TAG
    if len(rest) < INDEX_SIZE and expect.startswith(rest[:16]):
        fail("KVM_ETRUNCATED", "unexpected end of file inside the end index "
             "at offset %d" % pos)
    if rest[:16] != expect or len(rest) < INDEX_SIZE:
        fail("KVM_ECORRUPT", "bad end index at offset %d" % pos)
    target = int.from_bytes(rest[16:24], "little")
    if target != stream.end_frame.offset:
        fail("KVM_ECORRUPT", "the end index at offset %d points at offset %d, "
             "the trailer's zstd frame is at offset %d"
             % (pos, target, stream.end_frame.offset))
    if len(rest) > INDEX_SIZE:
        fail("KVM_ETRAILING", "trailing data after the end index (%d bytes at "
             "offset %d)" % (len(rest) - INDEX_SIZE, pos + INDEX_SIZE))
    # Section 4: the optional digest of the file's bytes before the trailer.
    frames_digest = stream.end.get("frames_digest")
    if frames_digest is not None:
        got = xxhash.xxh64(data[:stream.end_frame.offset], seed=0).intdigest()
        if got != frames_digest:
            fail("KVM_EDIGEST", "trailer: frames digest mismatch: trailer says "
                 "0x%016x, the %d bytes before it give 0x%016x"
                 % (frames_digest, stream.end_frame.offset, got))
    return {
        "header": stream.header,
        "sections": stream.sections,
        "records": stream.end["records"],
        "bytes": stream.end["bytes"],
        "digest": stream.end["digest"],
        "frames": number,
        "end_frame_offset": stream.end_frame.offset,
        "file_bytes": len(data),
    }


def summary_json(summary):
    return json.dumps(summary, indent=2, ensure_ascii=True) + "\n"


def check_file(path):
    """(summary, None) or (None, ExportError) for the file at path."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        return check_bytes(data), None
    except ExportError as e:
        return None, e
    except OSError as e:
        return None, ExportError(errno.errorcode.get(e.errno, "EIO"),
                                 e.strerror or str(e))
    except Exception as e:               # a bug here, never a traceback
        return None, ExportError("KVM_ECORRUPT", "unexpected %s: %s"
                                 % (type(e).__name__, e))


def error_line(path, e):
    detail = " ".join(str(e.detail).split())     # always one line
    return "kvmexport: %s: %s: %s\n" % (path, e.code, detail)


# --------------------------------------------------------------------------
# dump: the records, with nothing but `zstd -dc` and a msgpack decoder
# --------------------------------------------------------------------------

def hexor(b):
    return b.hex() if b else "-"


def dump(path, out):
    """Write one line per record to `out`: SECTION PARTITION KEY VALUE (hex).

    This is all a consumer needs to read an export without kvmigrate: the
    stream is plain msgpack; maps are headers and trailers, arrays records.
    Nothing is checked here (that is `check`).
    """
    p = subprocess.Popen(["zstd", "-q", "-dc", "--", path],
                         stdout=subprocess.PIPE, env=zstd_env())
    section = None
    try:
        for obj in msgpack.Unpacker(p.stdout, raw=False, strict_map_key=False,
                                    max_buffer_size=MAX_VALUE + (1 << 20)):
            if isinstance(obj, dict):
                if obj.get("type") == "section":
                    section = obj.get("index")
            elif isinstance(obj, list):
                part, key, value = obj
                out.write("%s %s %s %s\n" % (section, hexor(part), hexor(key),
                                             hexor(value)))
    except BaseException:
        p.kill()                    # we stop reading: zstd need not go on
        raise
    finally:
        p.stdout.close()
        p.wait()
    if p.returncode != 0:
        raise RuntimeError("zstd -dc failed with status %d" % p.returncode)


# --------------------------------------------------------------------------
# Writing exports (the golden files)
# --------------------------------------------------------------------------

def pack(obj):
    """msgpack with bin for bytes and the shortest encodings."""
    return msgpack.packb(obj, use_bin_type=True)


def make_header(packages, snapshot, source="sample", tool="0.0.0-golden",
                kv_version=8, schema_version=7, version=FORMAT_VERSION,
                magic=EXPORT_MAGIC):
    """The header map, keys in the order of section 3.1."""
    return {
        "magic": magic,
        "format_version": version,
        "tool_version": tool,
        "kv_migration_version": kv_version,
        "source_schema_version": schema_version,
        "source_database": source,
        "snapshot_time": snapshot,
        "packages": packages,
    }


def build_frames(header, sections, frame_bytes=DEFAULT_FRAME_BYTES,
                 fix_section_end=None, fix_end=None, end=True):
    """The uncompressed contents of the frames of an export.

    `sections` is a list of dicts: package, records (tuples (partition, key,
    value) of bytes, or bytes already encoded), and optionally index (the
    section map's index; default its position) and close (False: no
    section_end).  fix_section_end(i, map) and fix_end(map) may alter the
    trailers before they are encoded (to make broken files); the digests
    still cover the bytes actually written.

    Framing follows the writer's policy (section 1): the header alone in
    frame 0; a section's frames end at the first record boundary past
    `frame_bytes` and right after its section_end; the end map alone.
    """
    frames = []
    raw = pack(header)
    file_hash = xxhash.xxh64(raw)
    d_len = len(raw)
    frames.append(raw)
    trailers = []
    total = 0
    for i, sec in enumerate(sections):
        smap = pack({"type": "section", "package": sec["package"],
                     "index": sec.get("index", i)})
        file_hash.update(smap)
        d_len += len(smap)
        cur = bytearray(smap)
        h = xxhash.xxh64(seed=0)
        count = nbytes = 0
        for rec in sec["records"]:
            enc = rec if isinstance(rec, bytes) else pack(list(rec))
            h.update(enc)
            count += 1
            nbytes += len(enc)
            d_len += len(enc)
            cur += enc
            if len(cur) >= frame_bytes:
                frames.append(bytes(cur))
                cur = bytearray()
        total += count
        info = {"type": "section_end", "package": sec["package"],
                "records": count, "bytes": nbytes, "digest": h.intdigest()}
        if fix_section_end:
            fix_section_end(i, info)
        trailers.append({k: info[k] for k in
                         ("package", "records", "bytes", "digest")})
        if sec.get("close", True):
            emap = pack(info)
            file_hash.update(emap)
            d_len += len(emap)
            cur += emap
        if cur:
            frames.append(bytes(cur))
    if end:
        emap = {"type": "end", "records": total, "bytes": d_len,
                "digest": file_hash.intdigest(), "sections": trailers}
        if fix_end:
            fix_end(emap)
        frames.append(pack(emap))
    return frames


def make_index(end_frame_offset):
    return (INDEX_MAGIC + (16).to_bytes(4, "little") + INDEX_TAG +
            end_frame_offset.to_bytes(8, "little"))


def assemble(frames, index=True, plain=()):
    """Compress each frame on its own (frames listed in `plain` without a
    checksum) and append the end index.  Returns (file bytes, offsets)."""
    out = bytearray()
    offsets = []
    for i, content in enumerate(frames):
        offsets.append(len(out))
        out += zstd_compress(content, check=i not in plain)
    if index:
        out += make_index(offsets[-1])
    return bytes(out), offsets


# --------------------------------------------------------------------------
# make-golden: the files of testdata/
# --------------------------------------------------------------------------

SMALL_PACKAGES = ["auth", "refs"]


def small_sections():
    """A handful of records covering the edge cases of section 2."""
    auth = [
        (b"users", b"alice", pack({"uid": 1000, "name": "Alice"})),
        (b"users", b"", b"\x01"),                        # empty key
        (b"tokens", b"\x00\xff\x00\xff", b""),           # 0x00/0xff, empty value
        (b"", b"no-partition", b"\xc0"),                 # empty partition
        (b"users", "jos\u00e9/\u00e9mile".encode(),      # '/' and UTF-8
         pack({"home": "/home/jos\u00e9", "shell": "/bin/sh"})),
        (b"", b"", b""),                                 # all three empty
    ]
    refs = [
        (b"refs", b"heads/main", bytes(range(256))),     # every byte value
        (b"refs", b"tags/v1.0", pack(["v1.0", 1700000000])),
        (b"refs", b"k" * 300, b"\xff" * 300),            # bin16 lengths
    ]
    return [{"package": "auth", "records": auth},
            {"package": "refs", "records": refs}]


def small_header(**kw):
    return make_header(
        SMALL_PACKAGES, msgpack.Timestamp(1700000000, 123456000),
        source="7301234567890123456 m\u00e9tadonn\u00e9es/prod", **kw)


def multiframe_sections():
    recs = [(b"sessions", b"session/%04d" % i,
             pack({"user": i % 7, "expires": 1700000000 + 60 * i,
                   "scope": ["read", "write"][: 1 + i % 2]}))
            for i in range(40)]
    return [{"package": "auth", "records": recs},
            {"package": "refs",
             "records": [(b"refs", b"heads/main", b"\x00" * 20)]}]


def good_files():
    """name -> file bytes, for testdata/good."""
    small, _ = assemble(build_frames(small_header(), small_sections()))
    empty, _ = assemble(build_frames(
        make_header(["auth"], msgpack.Timestamp(1700000000, 0),  # ts 32 form
                    source="empty"),
        [{"package": "auth", "records": []}]))
    # Frames end every ~256 uncompressed bytes; the snapshot time needs the
    # 96-bit timestamp encoding (seconds >= 2^34).
    multi_frames = build_frames(
        make_header(["auth", "refs"], msgpack.Timestamp((1 << 34) + 5, 1),
                    source="multiframe"),
        multiframe_sections(), frame_bytes=256)
    assert len(multi_frames) >= 6, len(multi_frames)
    multiframe, _ = assemble(multi_frames)
    return {"small": small, "empty": empty, "multiframe": multiframe}


def record_prefix(*elements):
    """Encoded record bytes built by hand (for records no writer emits)."""
    return b"".join(elements)


def flip_in_compressed_block(data, frame_offset, number):
    """Flip one byte inside the compressed block of a frame so that zstd
    fails while decoding the block (not only at the checksum).

    A damaged literal would decode and be noticed only by the checksum at
    the end of the frame, after a streaming reader has seen the damaged
    bytes; a damaged block header makes every reader stop at the same
    place.  The first such byte is taken, so the choice is deterministic.
    """
    f = walk_frame(data, frame_offset, number)
    blocks = [b for b in f.blocks if b[1] == 2]
    assert len(f.blocks) == 1 and blocks, "want one compressed block"
    start, _, size = blocks[0]
    frame = data[f.offset:f.end]
    for i in range(start + 3, start + 3 + size):
        rel = i - f.offset
        bad = bytearray(frame)
        bad[rel] ^= 0xff
        p = subprocess.run(["zstd", "-q", "-dc"], input=bytes(bad),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=zstd_env())
        if p.returncode != 0 and b"checksum" not in p.stderr.lower() \
                and not p.stdout:
            out = bytearray(data)
            out[i] ^= 0xff
            return bytes(out)
    raise AssertionError("no byte makes zstd fail in the block")


def broken_files():
    """name -> (file bytes, expected code, substring), for testdata/broken.

    Each file has one defect.  Most are good/small.kvm with it; frame 1 is
    the frame of section 'auth'.
    """
    hdr = small_header()
    secs = small_sections()
    auth = secs[0]["records"]
    frames = build_frames(hdr, secs)
    good, offs = assemble(frames)
    # frames: 0 header, 1 section auth, 2 section refs, 3 end; then the index
    assert len(offs) == 4
    f1 = walk_frame(good, offs[1], 1)
    out = {}

    def add(name, data, code, substring):
        out[name] = (data, code, substring)

    def export(sections=secs, header=hdr, **kw):
        return assemble(build_frames(header, sections, **kw))[0]

    def patched(offset, new):
        bad = bytearray(good)
        bad[offset:offset + len(new)] = new
        return bytes(bad)

    def section_end(which, key, change):
        def fix(i, m):
            if i == which:
                m[key] = change(m[key])
        return fix

    def end(key, change):
        return lambda m: m.update({key: change(m[key])})

    def more(v):
        return v + 1

    def less(v):
        return v - 1

    def low_bit(v):
        return v ^ 1                        # a digest may be 2^64 - 1

    notexport = "not a kvmigrate export file"
    eof = "unexpected end of file"

    # -- not an export, or not this version
    # (the stream as it is before compression: no zstd magic)
    add("bad-zstd-magic", b"".join(frames) + make_index(0),
        "KVM_ENOTEXPORT", notexport)
    add("bad-header-magic", export(header=small_header(magic="kvmigrate-import")),
        "KVM_ENOTEXPORT", notexport)
    add("not-msgpack-map",
        assemble([pack([EXPORT_MAGIC, FORMAT_VERSION])] + frames[1:])[0],
        "KVM_ENOTEXPORT", notexport)
    add("future-version", export(header=small_header(version=2)),
        "KVM_EVERSION", "format version 2")

    # -- truncated
    add("truncated-in-frame", good[:(f1.offset + f1.end) // 2],
        "KVM_ETRUNCATED", eof)
    add("truncated-at-frame-boundary", good[:offs[2]], "KVM_ETRUNCATED", eof)
    add("truncated-before-index", good[:-INDEX_SIZE], "KVM_ETRUNCATED", eof)
    add("missing-trailer", good[:offs[3]], "KVM_ETRUNCATED", eof)

    # -- zstd damage
    add("flipped-payload-byte", flip_in_compressed_block(good, offs[1], 1),
        "KVM_ECORRUPT", "zstd frame")
    add("flipped-checksum",                 # first byte of the checksum
        patched(f1.end - 4, bytes([good[f1.end - 4] ^ 0xff])),
        "KVM_ECORRUPT", "checksum")
    add("no-checksum-frame", assemble(frames, plain=(1,))[0],
        "KVM_ECORRUPT", "no content checksum")
    # Window_Descriptor 0x78 (log 25, mantissa 0): 32 MiB, where the reader
    # allows 16 MiB; zstd -dc still decodes it.
    assert not good[offs[1] + 4] & 0x20     # the frame has a descriptor
    add("window-too-large", patched(offs[1] + 5, bytes([(25 - 10) << 3])),
        "KVM_ECORRUPT", "window")
    # Two bits zstd -dc does not need: a frame header written by zstd has
    # neither, and no checksum would notice them flipped.
    assert not good[offs[1] + 4] & 0x10 and not good[offs[1] + 5] & 7
    add("unused-header-bit",
        patched(offs[1] + 4, bytes([good[offs[1] + 4] | 0x10])),
        "KVM_ECORRUPT", "unused bit")
    add("window-not-power-of-two",
        patched(offs[1] + 5, bytes([good[offs[1] + 5] | 1])),
        "KVM_ECORRUPT", "not a power of two")

    # -- counts and digests (the digests cover the bytes as written)
    add("wrong-section-count",
        export(fix_section_end=section_end(0, "records", more)),
        "KVM_ECOUNT", "record count mismatch")
    add("wrong-file-count", export(fix_end=end("records", less)),
        "KVM_ECOUNT", "record count mismatch")
    add("wrong-section-digest",
        export(fix_section_end=section_end(1, "digest", low_bit)),
        "KVM_EDIGEST", "digest mismatch")
    add("wrong-file-digest", export(fix_end=end("digest", low_bit)),
        "KVM_EDIGEST", "file digest mismatch")
    add("wrong-bytes", export(fix_section_end=section_end(0, "bytes", more)),
        "KVM_ECOUNT", "byte count mismatch")
    # A byte count no file of its size could decompress to: an import that
    # sizes its map from the trailer must refuse it before reserving that.
    add("bytes-beyond-file",
        export(fix_end=end("bytes", lambda v: (1 << 64) - 1)),
        "KVM_ECOUNT", "byte count mismatch")

    # -- declared lengths past the caps.  The frame ends a few bytes after
    # the declaration and the file with it (no trailer, no index): a reader
    # that waits for the bytes instead of checking the length first reports
    # KVM_ETRUNCATED (or tries to allocate 4 GiB).
    huge_value = record_prefix(b"\x93", b"\xc4\x05users", b"\xc4\x04huge",
                               b"\xc6\xff\xff\xff\xff", b"\x00\x01\x02\x03")
    add("length-4gb",
        assemble(build_frames(hdr, [{"package": "auth", "close": False,
                                     "records": auth[:2] + [huge_value]}],
                              end=False), index=False)[0],
        "KVM_ELIMIT", "value length 4294967295 exceeds the limit of 67108864")
    long_key = record_prefix(b"\x93", b"\xc4\x05users",
                             b"\xc6\x00\x10\x00\x00", b"abcdefgh")
    add("key-too-long-declared",
        assemble(build_frames(hdr, [{"package": "auth", "close": False,
                                     "records": auth[:1] + [long_key]}],
                              end=False), index=False)[0],
        "KVM_ELIMIT", "key length 1048576 exceeds the limit of 65536")

    # -- trailing data
    add("trailing-garbage-after-index", good + b"garbage\n",
        "KVM_ETRAILING", "trailing data")
    add("trailing-object-in-end-frame",
        assemble(frames[:3] + [frames[3] + pack({"type": "end"})])[0],
        "KVM_ETRAILING", "trailing data")

    # -- structure
    add("missing-section-end", export([dict(secs[0], close=False), secs[1]]),
        "KVM_ECORRUPT", "not closed")
    add("sections-out-of-order",
        export([dict(secs[1], index=0), dict(secs[0], index=1)]),
        "KVM_ECORRUPT", "out of order")
    add("unknown-package", export([secs[0], dict(secs[1], package="billing")]),
        "KVM_ECORRUPT", "unknown package")
    # the offset of a real frame, but not the trailer's
    add("index-wrong-offset", patched(len(good) - 8, offs[2].to_bytes(8, "little")),
        "KVM_ECORRUPT", "end index")
    two = pack([b"users", b"alice"])
    add("record-not-three",
        export([dict(secs[0], records=auth[:2] + [two]), secs[1]]),
        "KVM_ECORRUPT", "not an array of three")
    key_as_str = pack([b"users", "alice", b"\x01"])
    add("record-str-not-bin",
        export([dict(secs[0], records=auth[:2] + [key_as_str]), secs[1]]),
        "KVM_ECORRUPT", "not a msgpack bin")
    return out


def write(path, data):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode) as f:
        f.write(data)


def make_golden(outdir):
    """Write good/, broken/ and fuzz-corpus/ under outdir; check each file
    with this same checker; return the number of problems found."""
    problems = 0
    for sub in ("good", "broken", "fuzz-corpus"):
        os.makedirs(os.path.join(outdir, sub), exist_ok=True)

    for name, data in good_files().items():
        path = os.path.join(outdir, "good", name + ".kvm")
        write(path, data)
        summary, err = check_file(path)
        if err:
            sys.stderr.write(error_line(path, err))
            problems += 1
            continue
        write(os.path.join(outdir, "good", name + ".json"), summary_json(summary))
        records = io.StringIO()
        dump(path, records)
        write(os.path.join(outdir, "good", name + ".records"), records.getvalue())
        shutil.copyfile(path, os.path.join(outdir, "fuzz-corpus",
                                           "good-" + name + ".kvm"))

    for name, (data, code, substring) in sorted(broken_files().items()):
        path = os.path.join(outdir, "broken", name + ".kvm")
        write(path, data)
        write(os.path.join(outdir, "broken", name + ".expect"),
              "%s\n%s\n" % (code, substring))
        shutil.copyfile(path, os.path.join(outdir, "fuzz-corpus",
                                           "broken-" + name + ".kvm"))
        _, err = check_file(path)
        if err is None or err.code != code or substring not in err.detail:
            got = error_line(path, err).strip() if err else "accepted"
            sys.stderr.write("kvmexport: %s: expected %s '%s', got: %s\n"
                             % (path, code, substring, got))
            problems += 1
    return problems


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

USAGE = """usage: kvmexport.py check FILE
       kvmexport.py dump FILE
       kvmexport.py make-golden OUTDIR
"""


def main(argv):
    if len(argv) != 3 or argv[1] not in ("check", "dump", "make-golden"):
        sys.stderr.write(USAGE)
        return 2
    cmd, arg = argv[1], argv[2]
    if cmd == "check":
        summary, err = check_file(arg)
        if err:
            sys.stderr.write(error_line(arg, err))
            return 1
        sys.stdout.write(summary_json(summary))
        return 0
    if cmd == "dump":
        try:
            dump(arg, sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:
            # the reader of our output went away (dump | head): not an error
            # of the file; keep Python from complaining again at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        except Exception as e:
            sys.stderr.write("kvmexport: %s: cannot dump: %s\n"
                             % (arg, " ".join(str(e).split())))
            return 1
        return 0
    problems = make_golden(arg)
    if problems:
        sys.stderr.write("kvmexport: make-golden: %d problems\n" % problems)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
