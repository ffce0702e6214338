/*
 * export_reader.c - reads and checks an export file
 * (design/export-format.md), and kvm_export_inspect().
 *
 * Layers, bottom up:
 *
 *   input     compressed bytes from a file descriptor or from memory;
 *             `consumed` is the file offset of the next unread byte.
 *   frames    fill() runs zstd one frame at a time: before each frame it
 *             checks the magic and that the frame has a content checksum,
 *             and it knows where every frame starts, for messages.
 *   buffer    decompressed bytes in buf[start, end); need(n) makes n bytes
 *             available, growing the buffer only to sizes the caller has
 *             already checked against a cap.
 *   objects   records are decoded in place (array of three bin); maps are
 *             first measured (bounded by KVM_EXPORT_MAX_MAP_BYTES), then
 *             decoded from the contiguous buffer.
 *   checks    a state machine over header, sections and end, with the
 *             section and file digests and counts.
 *
 * Nothing the file declares is trusted: every length is compared with a
 * cap before need() may grow the buffer, so memory is bounded by the caps.
 * The first error is sticky.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "kvm/export.h"
#include "export_int.h"

#define ZSTD_MAGIC       0xFD2FB528u
#define SKIPPABLE_MASK   0xFFFFFFF0u
#define SKIPPABLE_START  0x184D2A50u
/* Decompress into at least this much free space at a time. */
#define MIN_FILL         (64u << 10)
#define INITIAL_BUF      (256u << 10)

enum state {
	ST_HEADER,     /* nothing read yet */
	ST_SECTION,    /* expecting a section map, or end after the last one */
	ST_RECORDS,    /* inside a section: a record or its section_end */
	ST_END_ONLY,   /* inspect without verify: expecting only the end map */
	ST_DONE,       /* end and index checked */
};

struct kvm_export_reader {
	char *name;
	struct kvm_export_reader_opts caps;

	/* input */
	int fd;                  /* -1 when reading from memory */
	int own_fd;
	int seekable;
	const uint8_t *mem;
	size_t mem_len;
	uint8_t *zin;            /* read buffer (fd input) */
	size_t zin_cap;
	const uint8_t *in;       /* unread input: in[in_pos, in_len) */
	size_t in_pos, in_len;
	int in_eof;
	uint64_t consumed;       /* file offset of in[in_pos] */
	uint64_t file_size;      /* when seekable */

	/* frames */
	ZSTD_DCtx *dctx;
	int in_frame;
	uint64_t frame_offset;   /* file offset of the current or last frame */
	uint64_t frame_d_start;  /* offset in D where that frame's content begins */
	uint32_t frame_no;       /* 0-based number of that frame */
	uint32_t frames_done;

	/* decompressed bytes */
	uint8_t *buf;
	size_t buf_cap, start, end;
	uint64_t d_pos;          /* offset in D of buf[start] */

	/* checks */
	enum state state;
	XXH64_state_t *file_hash;
	XXH64_state_t *frames_hash;    /* of the compressed bytes read */
	XXH64_state_t *frames_before;  /* ... up to the current frame */
	XXH64_state_t *sec_hash;
	size_t cur;              /* current section */
	uint64_t records;        /* records read, all sections */
	struct kvm_export_section_info *got;   /* per section, as read */

	/* what the file says */
	char *strings;           /* header strings, one allocation */
	const char **packages;
	struct kvm_export_header header;
	struct kvm_export_section_info *said;  /* end.sections */
	struct kvm_export_trailer trailer;
	int have_trailer;

	struct kvm_error fail;
};

/* ------------------------------------------------------------------ */
/* errors                                                              */
/* ------------------------------------------------------------------ */

static int fail(kvm_export_reader *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(kvm_export_reader *r, int code, const char *fmt, ...)
{
	char what[KVM_ERROR_MSG_MAX];
	va_list ap;

	if (r->fail.code != 0)
		return r->fail.code;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	r->fail.code = code;
	if (snprintf(r->fail.msg, sizeof(r->fail.msg), "cannot read '%s': %s",
	             r->name, what) < 0)
		r->fail.msg[0] = '\0';
	return code;
}

static int sticky(const kvm_export_reader *r, struct kvm_error *err)
{
	if (err != NULL)
		*err = r->fail;
	return r->fail.code;
}

static const char *section_name(const kvm_export_reader *r)
{
	return r->cur < r->header.npackages ? r->packages[r->cur] : "?";
}

/* ------------------------------------------------------------------ */
/* input and frames                                                    */
/* ------------------------------------------------------------------ */

/* Make unread input available; 0 with in_pos == in_len means EOF. */
static int read_input(kvm_export_reader *r)
{
	ssize_t k;

	if (r->in_pos < r->in_len || r->in_eof)
		return 0;
	if (r->fd < 0) {
		r->in_eof = 1;
		return 0;
	}
	r->in = r->zin;
	r->in_pos = r->in_len = 0;
	do
		k = read(r->fd, r->zin, r->zin_cap);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return fail(r, errno, "read error at offset %" PRIu64 ": %s",
		            r->consumed, strerror(errno));
	if (k == 0)
		r->in_eof = 1;
	r->in_len = (size_t)k;
	return 0;
}

/* Copy exactly @n input bytes to @dst; returns how many were there. */
static size_t take_input(kvm_export_reader *r, uint8_t *dst, size_t n)
{
	size_t got = 0;

	while (got < n) {
		size_t k;

		if (read_input(r) != 0 || r->in_pos == r->in_len)
			break;
		k = r->in_len - r->in_pos;
		if (k > n - got)
			k = n - got;
		memcpy(dst + got, r->in + r->in_pos, k);
		r->in_pos += k;
		r->consumed += k;
		got += k;
	}
	return got;
}

/* Move the input to file offset @off (seekable inputs only). */
static int seek_input(kvm_export_reader *r, uint64_t off)
{
	r->in_eof = 0;
	r->consumed = off;
	if (r->fd < 0) {
		r->in = r->mem + off;
		r->in_pos = 0;
		r->in_len = r->mem_len - off;
		return 0;
	}
	r->in_pos = r->in_len = 0;
	if (lseek(r->fd, (off_t)off, SEEK_SET) < 0)
		return fail(r, errno, "cannot seek to offset %" PRIu64 ": %s", off,
		            strerror(errno));
	return 0;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/*
 * Check the start of a new frame without consuming it: its magic, its
 * Frame_Header_Descriptor (RFC 8878, 3.1.1.1.1: bit 2 is the checksum
 * flag, bit 5 Single_Segment) and its Window_Descriptor (3.1.1.1.2).
 * Returns 0 and sets *eof when the input ended cleanly before it.
 *
 * No checksum covers the frame header, and zstd ignores the descriptor's
 * unused bit (4) and decodes with any window at least as large as the
 * frame needs: a flipped bit there would go unnoticed.  zstd writes that
 * bit clear and every window a power of two (Mantissa 0), so anything else
 * is damage.
 */
static int begin_frame(kvm_export_reader *r, int *eof)
{
	uint8_t head[6];
	size_t have = 0;
	uint32_t magic;

	*eof = 0;
	/* The bytes may straddle two reads: peek without consuming. */
	while (have < sizeof(head)) {
		if (r->in_pos == r->in_len) {
			if (have > 0 && r->fd >= 0) {
				/* Keep the bytes already seen in front of the next read. */
				memmove(r->zin, r->in + r->in_pos - have, have);
				ssize_t k;
				do
					k = read(r->fd, r->zin + have, r->zin_cap - have);
				while (k < 0 && errno == EINTR);
				if (k < 0)
					return fail(r, errno, "read error at offset %" PRIu64 ": %s",
					            r->consumed, strerror(errno));
				r->in = r->zin;
				r->in_pos = have;
				r->in_len = have + (size_t)k;
				if (k == 0)
					r->in_eof = 1;
				if (k == 0)
					break;
				continue;
			}
			if (have == 0 && read_input(r) != 0)
				return r->fail.code;
			if (r->in_pos == r->in_len)
				break;
		}
		head[have++] = r->in[r->in_pos++];
	}
	r->in_pos -= have;        /* not consumed: zstd reads the header itself */

	if (have == 0) {
		*eof = 1;
		return 0;
	}
	if (have < 4) {
		if (r->consumed == 0)
			return fail(r, KVM_ENOTEXPORT, "not a kvmigrate export file "
			            "(%zu bytes, no zstd frame)", have);
		return fail(r, KVM_ETRUNCATED, "unexpected end of file at offset %"
		            PRIu64 ": %zu stray bytes where a zstd frame should start",
		            r->consumed, have);
	}
	magic = le32(head);
	if (magic != ZSTD_MAGIC) {
		if (r->consumed == 0)
			return fail(r, KVM_ENOTEXPORT, "not a kvmigrate export file "
			            "(no zstd frame at offset 0)");
		if ((magic & SKIPPABLE_MASK) == SKIPPABLE_START)
			return fail(r, KVM_ECORRUPT, "unexpected skippable frame at offset %"
			            PRIu64 " before the end of the export", r->consumed);
		return fail(r, KVM_ECORRUPT, "no zstd frame at offset %" PRIu64
		            " (bytes %02x %02x %02x %02x)", r->consumed,
		            head[0], head[1], head[2], head[3]);
	}
	if (have < 5 || (have < 6 && !(head[4] & 0x20)))
		return fail(r, KVM_ETRUNCATED, "unexpected end of file inside zstd frame %"
		            PRIu32 " at offset %" PRIu64, r->frames_done, r->consumed);
	if (!(head[4] & 0x04))
		return fail(r, KVM_ECORRUPT, "zstd frame %" PRIu32 " at offset %" PRIu64
		            " has no content checksum", r->frames_done, r->consumed);
	if (head[4] & 0x10)
		return fail(r, KVM_ECORRUPT, "zstd frame %" PRIu32 " at offset %" PRIu64
		            ": the unused bit of its frame header is set (byte 0x%02x)",
		            r->frames_done, r->consumed, head[4]);
	if (!(head[4] & 0x20) && (head[5] & 0x07))
		return fail(r, KVM_ECORRUPT, "zstd frame %" PRIu32 " at offset %" PRIu64
		            ": window descriptor 0x%02x is not a power of two",
		            r->frames_done, r->consumed, head[5]);
	r->in_frame = 1;
	r->frame_no = r->frames_done;
	r->frame_offset = r->consumed;
	r->frame_d_start = r->d_pos + (r->end - r->start);
	XXH64_copyState(r->frames_before, r->frames_hash);
	return 0;
}

/* Make room for at least MIN_FILL more decompressed bytes. */
static int make_room(kvm_export_reader *r, size_t want)
{
	size_t live = r->end - r->start;

	if (want < MIN_FILL)
		want = MIN_FILL;
	if (r->buf_cap - r->end >= want)
		return 0;
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, live);
		r->start = 0;
		r->end = live;
	}
	if (r->buf_cap - r->end < want) {
		size_t cap = r->buf_cap;
		uint8_t *nb;

		while (cap - r->end < want)
			cap *= 2;
		nb = realloc(r->buf, cap);
		if (nb == NULL)
			return fail(r, KVM_ENOMEM, "out of memory for a buffer of %zu bytes", cap);
		r->buf = nb;
		r->buf_cap = cap;
	}
	return 0;
}

/*
 * Decompress more bytes into the buffer.  Sets *eof (and returns 0) when
 * the input ended cleanly at a frame boundary with nothing new, or, with
 * @frame_only, when the current frame has ended.
 */
static int fill(kvm_export_reader *r, size_t want, int frame_only, int *eof)
{
	*eof = 0;
	if (make_room(r, want) != 0)
		return r->fail.code;
	for (;;) {
		ZSTD_inBuffer in;
		ZSTD_outBuffer out;
		size_t ret;

		if (!r->in_frame && frame_only) {
			*eof = 1;
			return 0;
		}
		if (!r->in_frame) {
			if (begin_frame(r, eof) != 0)
				return r->fail.code;
			if (*eof)
				return 0;
		}
		if (read_input(r) != 0)
			return r->fail.code;
		if (r->in_pos == r->in_len)
			return fail(r, KVM_ETRUNCATED, "unexpected end of file inside zstd frame %"
			            PRIu32 " at offset %" PRIu64, r->frame_no, r->frame_offset);
		in.src = r->in;
		in.size = r->in_len;
		in.pos = r->in_pos;
		out.dst = r->buf + r->end;
		out.size = r->buf_cap - r->end;
		out.pos = 0;
		ret = ZSTD_decompressStream(r->dctx, &out, &in);
		XXH64_update(r->frames_hash, r->in + r->in_pos, in.pos - r->in_pos);
		r->consumed += in.pos - r->in_pos;
		r->in_pos = in.pos;
		if (ZSTD_isError(ret)) {
			if (ZSTD_getErrorCode(ret) == ZSTD_error_checksum_wrong)
				return fail(r, KVM_ECORRUPT, "zstd frame %" PRIu32 " at offset %"
				            PRIu64 ": checksum mismatch (the content is damaged)",
				            r->frame_no, r->frame_offset);
			return fail(r, KVM_ECORRUPT, "zstd frame %" PRIu32 " at offset %" PRIu64
			            ": %s", r->frame_no, r->frame_offset, ZSTD_getErrorName(ret));
		}
		r->end += out.pos;
		if (ret == 0) {
			r->in_frame = 0;
			r->frames_done++;
		}
		if (out.pos > 0)
			return 0;
	}
}

/*
 * Make @n bytes available at buf[start].  The caller has checked @n
 * against a cap.  Returns KVM_ETRUNCATED (with @what in the message) when
 * the input ends first.
 */
static int need(kvm_export_reader *r, size_t n, const char *what)
{
	while (r->end - r->start < n) {
		int eof;

		if (fill(r, n - (r->end - r->start), 0, &eof) != 0)
			return r->fail.code;
		if (eof)
			return fail(r, KVM_ETRUNCATED, "unexpected end of file inside %s "
			            "after %" PRIu64 " records (offset %" PRIu64 ")", what,
			            r->records, r->consumed);
	}
	return 0;
}

/* Like need(1) but says whether the stream (or, with @frame_only, the
 * current frame) ended cleanly. */
static int more(kvm_export_reader *r, int frame_only, int *eof)
{
	*eof = 0;
	while (r->end == r->start) {
		if (fill(r, 1, frame_only, eof) != 0)
			return r->fail.code;
		if (*eof)
			return 0;
	}
	return 0;
}

static void consume(kvm_export_reader *r, size_t n)
{
	r->start += n;
	r->d_pos += n;
}

/* ------------------------------------------------------------------ */
/* msgpack, measured and decoded                                       */
/* ------------------------------------------------------------------ */

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * Size of the fixed part of the msgpack object starting with byte @b
 * (the type byte and its length field), and what follows it: *body bytes
 * of payload read from the length field (len_bytes > 0), or *items child
 * objects.  Returns 0 for a reserved byte (0xc1).
 */
struct mp_head {
	size_t head;       /* type byte + length bytes + fixed payload */
	int len_bytes;     /* bytes of the big-endian length field, 0 if none */
	int kind;          /* 0 scalar, 1 str/bin/ext payload, 2 array, 3 map */
};

static int mp_head(uint8_t b, struct mp_head *h)
{
	h->len_bytes = 0;
	h->kind = 0;
	h->head = 1;
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
		return 1;
	if (b >= 0xa0 && b <= 0xbf) { h->kind = 1; return 1; }
	if (b >= 0x90 && b <= 0x9f) { h->kind = 2; return 1; }
	if (b >= 0x80 && b <= 0x8f) { h->kind = 3; return 1; }
	switch (b) {
	case 0xcc: case 0xd0: h->head = 2; return 1;
	case 0xcd: case 0xd1: h->head = 3; return 1;
	case 0xca: case 0xce: case 0xd2: h->head = 5; return 1;
	case 0xcb: case 0xcf: case 0xd3: h->head = 9; return 1;
	case 0xd4: h->head = 3; return 1;      /* fixext: type + data */
	case 0xd5: h->head = 4; return 1;
	case 0xd6: h->head = 6; return 1;
	case 0xd7: h->head = 10; return 1;
	case 0xd8: h->head = 18; return 1;
	case 0xc4: case 0xd9: h->kind = 1; h->len_bytes = 1; break;
	case 0xc5: case 0xda: h->kind = 1; h->len_bytes = 2; break;
	case 0xc6: case 0xdb: h->kind = 1; h->len_bytes = 4; break;
	case 0xc7: h->kind = 1; h->len_bytes = 1; h->head = 1 + 1 + 1; return 1;
	case 0xc8: h->kind = 1; h->len_bytes = 2; h->head = 1 + 2 + 1; return 1;
	case 0xc9: h->kind = 1; h->len_bytes = 4; h->head = 1 + 4 + 1; return 1;
	case 0xdc: h->kind = 2; h->len_bytes = 2; break;
	case 0xdd: h->kind = 2; h->len_bytes = 4; break;
	case 0xde: h->kind = 3; h->len_bytes = 2; break;
	case 0xdf: h->kind = 3; h->len_bytes = 4; break;
	default: return 0;                      /* 0xc1: never used */
	}
	h->head = 1 + (size_t)h->len_bytes;
	return 1;
}

/*
 * Measure the object at buf[start + off], pulling in bytes as needed,
 * never past KVM_EXPORT_MAX_MAP_BYTES in total.  *size gets its length.
 */
static int measure(kvm_export_reader *r, size_t off, int depth, size_t *size,
                   const char *what)
{
	struct mp_head h;
	uint64_t count = 0, body = 0;
	size_t pos;
	uint8_t b;

	if (need(r, off + 1, what) != 0)
		return r->fail.code;
	b = r->buf[r->start + off];
	if (!mp_head(b, &h))
		return fail(r, KVM_ECORRUPT, "%s: invalid msgpack byte 0x%02x at stream "
		            "offset %" PRIu64, what, b, r->d_pos + off);
	if (off + h.head > KVM_EXPORT_MAX_MAP_BYTES)
		goto too_big;
	if (need(r, off + h.head, what) != 0)
		return r->fail.code;
	if (h.len_bytes > 0) {
		const uint8_t *p = r->buf + r->start + off + 1;

		if (b == 0xc7 || b == 0xc8 || b == 0xc9)   /* ext: length, then type */
			body = be(p, h.len_bytes);
		else if (h.kind == 1)
			body = be(p, h.len_bytes);
		else
			count = be(p, h.len_bytes);
	} else if (h.kind == 1) {
		body = b & 0x1f;
	} else if (h.kind == 2 || h.kind == 3) {
		count = b & 0x0f;
	}
	/* The caps of export-format.md, section 7, on every value of a map. */
	if ((h.kind == 2 || h.kind == 3) && depth > KVM_EXPORT_MAX_DEPTH)
		return fail(r, KVM_ELIMIT, "%s nests deeper than %d levels", what,
		            KVM_EXPORT_MAX_DEPTH);
	if (h.kind == 1 && body > KVM_EXPORT_MAX_STRING)
		return fail(r, KVM_ELIMIT, "%s holds a string of %" PRIu64 " bytes, which "
		            "exceeds the limit of %d", what, body, KVM_EXPORT_MAX_STRING);
	if (h.kind == 2 && count > KVM_EXPORT_MAX_PACKAGES)
		return fail(r, KVM_ELIMIT, "%s holds an array of %" PRIu64 " items, which "
		            "exceeds the limit of %d", what, count, KVM_EXPORT_MAX_PACKAGES);
	if (h.kind == 3 && count > KVM_EXPORT_MAX_MAP_KEYS)
		return fail(r, KVM_ELIMIT, "%s holds a map of %" PRIu64 " keys, which "
		            "exceeds the limit of %d", what, count, KVM_EXPORT_MAX_MAP_KEYS);
	if (h.kind == 3)
		count *= 2;
	pos = off + h.head;
	if (body > KVM_EXPORT_MAX_MAP_BYTES || count > KVM_EXPORT_MAX_MAP_BYTES ||
	    pos + body > KVM_EXPORT_MAX_MAP_BYTES)
		goto too_big;
	pos += (size_t)body;
	for (uint64_t i = 0; i < count; i++) {
		size_t child;

		if (measure(r, pos, depth + 1, &child, what) != 0)
			return r->fail.code;
		pos += child;
		if (pos > KVM_EXPORT_MAX_MAP_BYTES)
			goto too_big;
	}
	if (need(r, pos, what) != 0)
		return r->fail.code;
	*size = pos - off;
	return 0;
too_big:
	return fail(r, KVM_ELIMIT, "%s is larger than the limit of %u bytes", what,
	            KVM_EXPORT_MAX_MAP_BYTES);
}

/* A cursor over a measured (complete, contiguous) object. */
struct cur {
	const uint8_t *p, *end;
};

static int cur_byte(const struct cur *c)
{
	return c->p < c->end ? *c->p : -1;
}

/* Read a str; 0 when the next object is not a str. */
static int get_str(struct cur *c, const char **s, size_t *n)
{
	int b = cur_byte(c);
	uint64_t len;
	int lb;

	if (b >= 0xa0 && b <= 0xbf) { len = (uint64_t)b & 0x1f; lb = 0; }
	else if (b == 0xd9) lb = 1;
	else if (b == 0xda) lb = 2;
	else if (b == 0xdb) lb = 4;
	else return 0;
	if (lb > 0)
		len = be(c->p + 1, lb);
	*s = (const char *)c->p + 1 + lb;
	*n = (size_t)len;
	c->p += 1 + lb + len;
	return 1;
}

/* Read an integer that fits int64 or uint64; 0 when not an integer. */
static int get_int(struct cur *c, int64_t *i, uint64_t *u, int *is_neg)
{
	int b = cur_byte(c);
	const uint8_t *p = c->p + 1;
	uint64_t v;

	*is_neg = 0;
	if (b < 0)
		return 0;
	if (b <= 0x7f) { *u = (uint64_t)b; *i = b; c->p += 1; return 1; }
	if (b >= 0xe0) { *i = (int8_t)b; *is_neg = 1; c->p += 1; return 1; }
	switch (b) {
	case 0xcc: v = be(p, 1); c->p += 2; break;
	case 0xcd: v = be(p, 2); c->p += 3; break;
	case 0xce: v = be(p, 4); c->p += 5; break;
	case 0xcf: v = be(p, 8); c->p += 9; break;
	case 0xd0: *i = (int8_t)be(p, 1); c->p += 2; goto signed_;
	case 0xd1: *i = (int16_t)be(p, 2); c->p += 3; goto signed_;
	case 0xd2: *i = (int32_t)be(p, 4); c->p += 5; goto signed_;
	case 0xd3: *i = (int64_t)be(p, 8); c->p += 9; goto signed_;
	default: return 0;
	}
	*u = v;
	*i = (int64_t)v;
	return 1;
signed_:
	*is_neg = *i < 0;
	*u = (uint64_t)*i;
	return 1;
}

static int get_uint(struct cur *c, uint64_t *u)
{
	int64_t i;
	int neg;

	return get_int(c, &i, u, &neg) && !neg;
}

/* Container header: 2 array, 3 map.  Returns the count or -1. */
static int64_t get_container(struct cur *c, int kind)
{
	int b = cur_byte(c);

	if (kind == 2) {
		if (b >= 0x90 && b <= 0x9f) { c->p++; return b & 0x0f; }
		if (b == 0xdc) { c->p += 3; return (int64_t)be(c->p - 2, 2); }
		if (b == 0xdd) { c->p += 5; return (int64_t)be(c->p - 4, 4); }
	} else {
		if (b >= 0x80 && b <= 0x8f) { c->p++; return b & 0x0f; }
		if (b == 0xde) { c->p += 3; return (int64_t)be(c->p - 2, 2); }
		if (b == 0xdf) { c->p += 5; return (int64_t)be(c->p - 4, 4); }
	}
	return -1;
}

/* The msgpack timestamp extension (type -1), in its three sizes. */
static int get_timestamp(struct cur *c, struct kvm_timestamp *ts)
{
	int b = cur_byte(c);
	const uint8_t *p = c->p;
	uint64_t v;

	if (b == 0xd6 && (int8_t)p[1] == -1) {
		ts->sec = (int64_t)be(p + 2, 4);
		ts->nsec = 0;
		c->p += 6;
	} else if (b == 0xd7 && (int8_t)p[1] == -1) {
		v = be(p + 2, 8);
		ts->nsec = (uint32_t)(v >> 34);
		ts->sec = (int64_t)(v & 0x3ffffffffULL);
		c->p += 10;
	} else if (b == 0xc7 && p[1] == 12 && (int8_t)p[2] == -1) {
		ts->nsec = (uint32_t)be(p + 3, 4);
		ts->sec = (int64_t)be(p + 7, 8);
		c->p += 15;
	} else {
		return 0;
	}
	return ts->nsec <= 999999999u;
}

/* Skip any object (already measured, so bounds hold). */
static void skip(struct cur *c)
{
	struct mp_head h;
	uint8_t b = *c->p;
	uint64_t count = 0, body = 0;

	mp_head(b, &h);
	if (h.len_bytes > 0) {
		if (h.kind == 1)
			body = be(c->p + 1, h.len_bytes);
		else
			count = be(c->p + 1, h.len_bytes);
	} else if (h.kind == 1) {
		body = b & 0x1f;
	} else if (h.kind >= 2) {
		count = b & 0x0f;
	}
	if (h.kind == 3)
		count *= 2;
	c->p += h.head + body;
	while (count-- > 0)
		skip(c);
}

static int key_is(const char *k, size_t n, const char *want)
{
	return strlen(want) == n && memcmp(k, want, n) == 0;
}

/* ------------------------------------------------------------------ */
/* maps                                                                */
/* ------------------------------------------------------------------ */

/* Fields of a section, section_end, end map or end.sections entry. */
enum {
	F_PACKAGE = 1 << 0, F_INDEX = 1 << 1, F_RECORDS = 1 << 2,
	F_BYTES = 1 << 3, F_DIGEST = 1 << 4, F_SECTIONS = 1 << 5,
	F_FRAMES_DIGEST = 1 << 6,
};

struct fields {
	const char *type; size_t type_len;
	const char *package; size_t package_len;
	uint64_t index, records, bytes, digest, frames_digest;
	unsigned have;
	struct cur sections;        /* the end map's array, unparsed */
	int64_t nsections;
};

/*
 * Decode a map of the known keys into @f.  @what names it in messages.
 * Unknown keys are skipped.  The first key must be "type" unless
 * @typed is 0 (end.sections entries).
 */
static int parse_fields(kvm_export_reader *r, struct cur *c, const char *what,
                        int typed, struct fields *f)
{
	int64_t n = get_container(c, 3);

	memset(f, 0, sizeof(*f));
	if (n < 0)
		return fail(r, KVM_ECORRUPT, "%s is not a map", what);
	if (n > KVM_EXPORT_MAX_MAP_KEYS)
		return fail(r, KVM_ELIMIT, "%s has %" PRId64 " keys (limit %d)", what, n,
		            KVM_EXPORT_MAX_MAP_KEYS);
	for (int64_t i = 0; i < n; i++) {
		const char *k, *s;
		size_t kn, sn;
		uint64_t u;

		if (!get_str(c, &k, &kn))
			return fail(r, KVM_ECORRUPT, "%s has a key that is not a string", what);
		if (i == 0 && typed) {
			if (!key_is(k, kn, "type") || !get_str(c, &f->type, &f->type_len))
				return fail(r, KVM_ECORRUPT, "%s does not start with a \"type\" string",
				            what);
			continue;
		}
		if (key_is(k, kn, "package")) {
			if (f->have & F_PACKAGE)
				goto twice;
			if (!get_str(c, &s, &sn) || sn > KVM_EXPORT_MAX_STRING)
				goto bad;
			f->package = s;
			f->package_len = sn;
			f->have |= F_PACKAGE;
		} else if (key_is(k, kn, "index") || key_is(k, kn, "records") ||
		           key_is(k, kn, "bytes") || key_is(k, kn, "digest")) {
			unsigned bit = k[0] == 'i' ? F_INDEX : k[0] == 'r' ? F_RECORDS
			             : k[0] == 'b' ? F_BYTES : F_DIGEST;

			if (f->have & bit)
				goto twice;
			if (!get_uint(c, &u))
				goto bad;
			*(bit == F_INDEX ? &f->index : bit == F_RECORDS ? &f->records
			  : bit == F_BYTES ? &f->bytes : &f->digest) = u;
			f->have |= bit;
		} else if (key_is(k, kn, "frames_digest")) {
			if (f->have & F_FRAMES_DIGEST)
				goto twice;
			if (!get_uint(c, &f->frames_digest))
				goto bad;
			f->have |= F_FRAMES_DIGEST;
		} else if (key_is(k, kn, "sections")) {
			if (f->have & F_SECTIONS)
				goto twice;
			f->nsections = get_container(c, 2);
			if (f->nsections < 0)
				goto bad;
			f->sections = *c;
			for (int64_t j = 0; j < f->nsections; j++)
				skip(c);
			f->have |= F_SECTIONS;
		} else {
			skip(c);
		}
		continue;
bad:
		return fail(r, KVM_ECORRUPT, "%s: \"%.*s\" has the wrong type", what,
		            (int)kn, k);
twice:
		return fail(r, KVM_ECORRUPT, "%s: \"%.*s\" appears twice", what, (int)kn, k);
	}
	return 0;
}

static int require(kvm_export_reader *r, const struct fields *f, unsigned want,
                   const char *what)
{
	static const char *const names[] = { "package", "index", "records", "bytes",
	                                     "digest", "sections" };

	for (unsigned i = 0; i < 6; i++)
		if ((want & (1u << i)) && !(f->have & (1u << i)))
			return fail(r, KVM_ECORRUPT, "%s has no \"%s\"", what, names[i]);
	return 0;
}

/* Measure the map at the front of the buffer; @c covers it. */
static int take_map(kvm_export_reader *r, const char *what, struct cur *c,
                    size_t *size)
{
	if (measure(r, 0, 0, size, what) != 0)
		return r->fail.code;
	c->p = r->buf + r->start;
	c->end = c->p + *size;
	return 0;
}

/* ------------------------------------------------------------------ */
/* header                                                              */
/* ------------------------------------------------------------------ */

static int read_header(kvm_export_reader *r)
{
	struct cur c;
	size_t size, total = 0;
	int64_t n, npk = -1;
	const char *k, *s;
	size_t kn, sn;
	uint64_t ver;
	const char *tool = NULL, *db = NULL;
	size_t tool_n = 0, db_n = 0;
	struct cur pk;
	unsigned have = 0;
	char *sp;
	uint8_t b;
	int eof;

	if (more(r, 0, &eof) != 0)
		return r->fail.code;
	if (eof)
		return fail(r, KVM_ENOTEXPORT, "not a kvmigrate export file (empty)");
	b = r->buf[r->start];
	if (!((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf))
		return fail(r, KVM_ENOTEXPORT, "not a kvmigrate export file (the first "
		            "object, at offset 0, is not the header map)");
	if (take_map(r, "the header", &c, &size) != 0)
		return r->fail.code;
	n = get_container(&c, 3);
	if (n < 2 || !get_str(&c, &k, &kn) || !key_is(k, kn, "magic") ||
	    !get_str(&c, &s, &sn) || !key_is(s, sn, KVM_EXPORT_MAGIC))
		return fail(r, KVM_ENOTEXPORT, "not a kvmigrate export file (no \"%s\" magic "
		            "in the header at offset 0)", KVM_EXPORT_MAGIC);
	if (!get_str(&c, &k, &kn) || !key_is(k, kn, "format_version") ||
	    !get_uint(&c, &ver))
		return fail(r, KVM_ECORRUPT, "the header has no format_version after its magic");
	if (ver != KVM_EXPORT_FORMAT_VERSION)
		return fail(r, KVM_EVERSION, "the header at offset 0 says format version %"
		            PRIu64 ", which is not supported (this kvmigrate reads format "
		            "version %d)", ver, KVM_EXPORT_FORMAT_VERSION);
	if (n > KVM_EXPORT_MAX_MAP_KEYS)
		return fail(r, KVM_ELIMIT, "the header has %" PRId64 " keys (limit %d)", n,
		            KVM_EXPORT_MAX_MAP_KEYS);
	r->header.format_version = (uint32_t)ver;

	for (int64_t i = 2; i < n; i++) {
		int64_t iv;
		uint64_t uv;
		int neg;

		if (!get_str(&c, &k, &kn))
			return fail(r, KVM_ECORRUPT, "the header has a key that is not a string");
		if (key_is(k, kn, "tool_version")) {
			if (have & 1)
				goto twice;
			if (!get_str(&c, &tool, &tool_n) || tool_n > KVM_EXPORT_MAX_STRING)
				goto bad;
			have |= 1;
		} else if (key_is(k, kn, "kv_migration_version")) {
			if (have & 2)
				goto twice;
			if (!get_int(&c, &iv, &uv, &neg) || (!neg && uv > INT64_MAX))
				goto bad;
			r->header.kv_migration_version = iv;
			have |= 2;
		} else if (key_is(k, kn, "source_schema_version")) {
			if (have & 4)
				goto twice;
			if (!get_int(&c, &iv, &uv, &neg) || (!neg && uv > INT64_MAX))
				goto bad;
			r->header.source_schema_version = iv;
			have |= 4;
		} else if (key_is(k, kn, "source_database")) {
			if (have & 8)
				goto twice;
			if (!get_str(&c, &db, &db_n) || db_n > KVM_EXPORT_MAX_STRING)
				goto bad;
			have |= 8;
		} else if (key_is(k, kn, "snapshot_time")) {
			if (have & 16)
				goto twice;
			if (!get_timestamp(&c, &r->header.snapshot_time))
				goto bad;
			have |= 16;
		} else if (key_is(k, kn, "packages")) {
			if (have & 32)
				goto twice;
			npk = get_container(&c, 2);
			if (npk < 0)
				goto bad;
			pk = c;
			for (int64_t j = 0; j < npk; j++)
				skip(&c);
			have |= 32;
		} else {
			skip(&c);
		}
		continue;
bad:
		return fail(r, KVM_ECORRUPT, "the header's \"%.*s\" has the wrong type",
		            (int)kn, k);
twice:
		return fail(r, KVM_ECORRUPT, "the header's \"%.*s\" appears twice", (int)kn, k);
	}
	if (have != 63)
		return fail(r, KVM_ECORRUPT, "the header lacks %s",
		            !(have & 1) ? "tool_version" : !(have & 2) ? "kv_migration_version"
		            : !(have & 4) ? "source_schema_version" : !(have & 8)
		            ? "source_database" : !(have & 16) ? "snapshot_time" : "packages");
	if (npk < 1 || npk > KVM_EXPORT_MAX_PACKAGES)
		return fail(r, KVM_ECORRUPT, "the header lists %" PRId64 " packages "
		            "(1 to %d allowed)", npk, KVM_EXPORT_MAX_PACKAGES);

	/* All header strings in one allocation, NUL-terminated. */
	total = tool_n + 1 + db_n + 1;
	for (int64_t j = 0; j < npk; j++) {
		struct cur t = pk;

		for (int64_t x = 0; x < j; x++)
			skip(&t);
		if (!get_str(&t, &s, &sn) || !kvm_export_package_name_ok(s, sn))
			return fail(r, KVM_ECORRUPT, "the header's package %" PRId64
			            " is not a valid package name", j);
		total += sn + 1;
	}
	r->strings = malloc(total);
	r->packages = calloc((size_t)npk, sizeof(*r->packages));
	r->got = calloc((size_t)npk, sizeof(*r->got));
	r->said = calloc((size_t)npk, sizeof(*r->said));
	if (r->strings == NULL || r->packages == NULL || r->got == NULL || r->said == NULL)
		return fail(r, KVM_ENOMEM, "out of memory");
	sp = r->strings;
	memcpy(sp, tool, tool_n);
	sp[tool_n] = '\0';
	r->header.tool_version = sp;
	sp += tool_n + 1;
	memcpy(sp, db, db_n);
	sp[db_n] = '\0';
	r->header.source_database = sp;
	sp += db_n + 1;
	for (int64_t j = 0; j < npk; j++) {
		get_str(&pk, &s, &sn);
		memcpy(sp, s, sn);
		sp[sn] = '\0';
		for (int64_t x = 0; x < j; x++)
			if (strcmp(r->packages[x], sp) == 0)
				return fail(r, KVM_ECORRUPT, "the header lists package '%s' twice", sp);
		r->packages[j] = sp;
		r->got[j].package = sp;
		r->said[j].package = sp;
		sp += sn + 1;
	}
	r->header.packages = r->packages;
	r->header.npackages = (size_t)npk;

	XXH64_update(r->file_hash, r->buf + r->start, size);
	consume(r, size);
	r->state = ST_SECTION;
	return 0;
}

/* ------------------------------------------------------------------ */
/* sections and the end                                                */
/* ------------------------------------------------------------------ */

static int read_section_map(kvm_export_reader *r, size_t size,
                            const struct fields *f)
{
	const char *want = r->packages[r->cur];

	if (require(r, f, F_PACKAGE | F_INDEX, "a section map") != 0)
		return r->fail.code;
	if (!key_is(f->package, f->package_len, want) || f->index != r->cur) {
		int known = 0;

		for (size_t i = 0; i < r->header.npackages; i++)
			known |= key_is(f->package, f->package_len, r->packages[i]);
		if (!known)
			return fail(r, KVM_ECORRUPT, "a section of unknown package '%.*s' (not "
			            "in the header) at stream offset %" PRIu64,
			            (int)f->package_len, f->package, r->d_pos);
		return fail(r, KVM_ECORRUPT, "sections out of order: section '%.*s' (index %"
		            PRIu64 ") where section '%s' (index %zu) was expected, at stream "
		            "offset %" PRIu64, (int)f->package_len, f->package, f->index,
		            want, r->cur, r->d_pos);
	}
	XXH64_update(r->file_hash, r->buf + r->start, size);
	XXH64_reset(r->sec_hash, 0);
	consume(r, size);
	r->state = ST_RECORDS;
	return 0;
}

/* Compare one trailer's counts with what was read; @kind is "" for a
 * section's counts, "file " for the file totals. */
static int check_counts(kvm_export_reader *r, const char *where, const char *kind,
                        const struct kvm_export_section_info *got,
                        uint64_t records, uint64_t bytes, uint64_t digest)
{
	if (records != got->records)
		return fail(r, KVM_ECOUNT, "%s: %srecord count mismatch: the trailer says %"
		            PRIu64 ", the file holds %" PRIu64, where, kind, records,
		            got->records);
	if (bytes != got->bytes)
		return fail(r, KVM_ECOUNT, "%s: %sbyte count mismatch: the trailer says %"
		            PRIu64 ", the file holds %" PRIu64, where, kind, bytes, got->bytes);
	if (digest != got->digest)
		return fail(r, KVM_EDIGEST, "%s: %sdigest mismatch: the trailer says %016"
		            PRIx64 ", the bytes read hash to %016" PRIx64, where, kind,
		            digest, got->digest);
	return 0;
}

static int read_section_end(kvm_export_reader *r, size_t size, const struct fields *f)
{
	struct kvm_export_section_info *g = &r->got[r->cur];
	char where[192];

	if (require(r, f, F_PACKAGE | F_RECORDS | F_BYTES | F_DIGEST,
	            "a section_end map") != 0)
		return r->fail.code;
	if (!key_is(f->package, f->package_len, g->package))
		return fail(r, KVM_ECORRUPT, "section '%s' ends with the trailer of '%.*s'",
		            g->package, (int)f->package_len, f->package);
	g->digest = XXH64_digest(r->sec_hash);
	snprintf(where, sizeof(where), "section '%s' (trailer in zstd frame %" PRIu32
	         " at offset %" PRIu64 ")", g->package, r->frame_no, r->frame_offset);
	if (check_counts(r, where, "", g, f->records, f->bytes, f->digest) != 0)
		return r->fail.code;
	XXH64_update(r->file_hash, r->buf + r->start, size);
	consume(r, size);
	r->cur++;
	r->state = ST_SECTION;
	return 0;
}

/* The index after the end frame, then nothing. */
static int read_index(kvm_export_reader *r, uint64_t end_frame)
{
	uint8_t idx[KVM_EXPORT_INDEX_SIZE], extra;
	uint64_t at = r->consumed, off;
	size_t got = take_input(r, idx, sizeof(idx));

	if (r->fail.code != 0)
		return r->fail.code;
	if (got == 0)
		return fail(r, KVM_ETRUNCATED, "unexpected end of file at offset %" PRIu64
		            ": the end index is missing", at);
	if (got >= 4 && le32(idx) == ZSTD_MAGIC)
		return fail(r, KVM_ETRAILING, "trailing data: a zstd frame at offset %"
		            PRIu64 " after the end map", at);
	if (got < sizeof(idx))
		return fail(r, KVM_ETRUNCATED, "unexpected end of file at offset %" PRIu64
		            ": the end index is cut short (%zu of %d bytes)", at, got,
		            KVM_EXPORT_INDEX_SIZE);
	if (!kvm_export_index_decode(idx, &off))
		return fail(r, KVM_ECORRUPT, "bad end index at offset %" PRIu64, at);
	if (off != end_frame)
		return fail(r, KVM_ECORRUPT, "the end index at offset %" PRIu64 " points at "
		            "offset %" PRIu64 ", but the end map's frame starts at %" PRIu64,
		            at, off, end_frame);
	if (take_input(r, &extra, 1) != 0)
		return fail(r, KVM_ETRAILING, "trailing data after the end index at offset %"
		            PRIu64, r->consumed - 1);
	return r->fail.code;
}

static int read_end(kvm_export_reader *r, size_t size, const struct fields *f,
                    int verify)
{
	uint64_t end_d = r->d_pos, end_frame = r->frame_offset;
	uint64_t sum = 0;
	struct cur sc;
	char here[96];
	int eof;

	if (require(r, f, F_RECORDS | F_BYTES | F_DIGEST | F_SECTIONS, "the end map") != 0)
		return r->fail.code;
	/* The end map must open its own frame, which must hold nothing else. */
	if (r->frame_d_start != end_d)
		return fail(r, KVM_ECORRUPT, "the end map at stream offset %" PRIu64
		            " does not start its own zstd frame", end_d);
	if ((size_t)f->nsections != r->header.npackages)
		return fail(r, KVM_ECORRUPT, "the end map lists %" PRId64 " sections, the "
		            "header %zu packages", f->nsections, r->header.npackages);
	snprintf(here, sizeof(here), "the end map (zstd frame %" PRIu32 " at offset %"
	         PRIu64 ")", r->frame_no, end_frame);
	sc = f->sections;
	for (size_t i = 0; i < r->header.npackages; i++) {
		struct fields e;
		char what[192];

		snprintf(what, sizeof(what), "the end map's section %zu", i);
		if (parse_fields(r, &sc, what, 0, &e) != 0 ||
		    require(r, &e, F_PACKAGE | F_RECORDS | F_BYTES | F_DIGEST, what) != 0)
			return r->fail.code;
		if (!key_is(e.package, e.package_len, r->packages[i]))
			return fail(r, KVM_ECORRUPT, "%s is '%.*s', not '%s'", what,
			            (int)e.package_len, e.package, r->packages[i]);
		r->said[i].records = e.records;
		r->said[i].bytes = e.bytes;
		r->said[i].digest = e.digest;
		sum += e.records;
		if (verify) {
			snprintf(what, sizeof(what), "%s, entry for section '%s'", here,
			         r->packages[i]);
			if (check_counts(r, what, "", &r->got[i], e.records, e.bytes,
			                 e.digest) != 0)
				return r->fail.code;
		}
	}
	if (sum != f->records)
		return fail(r, KVM_ECOUNT, "%s: record count mismatch: %" PRIu64
		            " in total, its sections add up to %" PRIu64, here, f->records, sum);
	if (verify) {
		struct kvm_export_section_info all = {
			.records = r->records, .bytes = end_d,
			.digest = XXH64_digest(r->file_hash),
		};
		if (check_counts(r, here, "file ", &all, f->records, f->bytes,
		                 f->digest) != 0)
			return r->fail.code;
		/* Optional (files of older writers lack it); the end map's own
		 * frame checksum keeps it from vanishing by damage. */
		if ((f->have & F_FRAMES_DIGEST) &&
		    XXH64_digest(r->frames_before) != f->frames_digest)
			return fail(r, KVM_EDIGEST, "%s: frames digest mismatch: the "
			            "trailer says %016" PRIx64 ", the %" PRIu64 " bytes "
			            "before it give %016" PRIx64 " (a damaged frame or "
			            "block header)", here, f->frames_digest, end_frame,
			            XXH64_digest(r->frames_before));
	}
	r->trailer.records = f->records;
	r->trailer.bytes = f->bytes;
	r->trailer.digest = f->digest;
	r->trailer.nsections = r->header.npackages;
	r->trailer.sections = r->said;
	consume(r, size);

	/* Nothing may follow the end map in its frame. */
	if (more(r, 1, &eof) != 0)
		return r->fail.code;
	if (!eof)
		return fail(r, KVM_ETRAILING, "trailing data after the end map in zstd "
		            "frame %" PRIu32 " at offset %" PRIu64, r->frame_no, end_frame);
	if (read_index(r, end_frame) != 0)
		return r->fail.code;
	r->have_trailer = 1;
	r->state = ST_DONE;
	return 0;
}

/* A map where a section, section_end or end may stand. */
static int read_map(kvm_export_reader *r)
{
	struct fields f;
	struct cur c;
	size_t size;
	const char *what = r->state == ST_RECORDS ? "a section_end map" : "a map";

	if (take_map(r, what, &c, &size) != 0 || parse_fields(r, &c, what, 1, &f) != 0)
		return r->fail.code;
	if (r->state == ST_RECORDS) {
		if (key_is(f.type, f.type_len, "section_end"))
			return read_section_end(r, size, &f);
		return fail(r, KVM_ECORRUPT, "section '%s' is not closed: a \"%.*s\" map "
		            "follows its %" PRIu64 " records at stream offset %" PRIu64,
		            section_name(r), (int)f.type_len, f.type, r->got[r->cur].records,
		            r->d_pos);
	}
	if (key_is(f.type, f.type_len, "section")) {
		if (r->state == ST_END_ONLY || r->cur >= r->header.npackages)
			return fail(r, KVM_ECORRUPT, "a section map for '%.*s' after all %zu "
			            "sections of the header", (int)f.package_len,
			            f.package != NULL ? f.package : "", r->header.npackages);
		return read_section_map(r, size, &f);
	}
	if (key_is(f.type, f.type_len, "end")) {
		if (r->state != ST_END_ONLY && r->cur < r->header.npackages)
			return fail(r, KVM_ECORRUPT, "the end map comes after %zu of %zu "
			            "sections: section '%s' is missing", r->cur,
			            r->header.npackages, r->packages[r->cur]);
		return read_end(r, size, &f, r->state != ST_END_ONLY);
	}
	return fail(r, KVM_ECORRUPT, "a map of unknown type \"%.*s\" at stream offset %"
	            PRIu64, (int)f.type_len, f.type, r->d_pos);
}

/* ------------------------------------------------------------------ */
/* records                                                             */
/* ------------------------------------------------------------------ */

/* One bin at buf[start + *off]: checks the cap before pulling the body. */
static int read_bin(kvm_export_reader *r, size_t *off, size_t cap, const char *part,
                    size_t *body_off, size_t *len)
{
	uint8_t b;
	int lb;
	uint64_t n;

	if (need(r, *off + 1, "a record") != 0)
		return r->fail.code;
	b = r->buf[r->start + *off];
	lb = b == 0xc4 ? 1 : b == 0xc5 ? 2 : b == 0xc6 ? 4 : 0;
	if (lb == 0)
		return fail(r, KVM_ECORRUPT, "record %" PRIu64 " (package '%s'): the %s is "
		            "not a msgpack bin (byte 0x%02x)", r->records, section_name(r),
		            part, b);
	if (need(r, *off + 1 + (size_t)lb, "a record") != 0)
		return r->fail.code;
	n = be(r->buf + r->start + *off + 1, lb);
	if (n > cap)
		return fail(r, KVM_ELIMIT, "record %" PRIu64 " (package '%s'): %s length %"
		            PRIu64 " exceeds the limit of %zu", r->records, section_name(r),
		            part, n, cap);
	*body_off = *off + 1 + (size_t)lb;
	*len = (size_t)n;
	*off = *body_off + (size_t)n;
	return need(r, *off, "a record");
}

static int read_record(kvm_export_reader *r, struct kvm_export_record *rec)
{
	size_t off, p_off, k_off, v_off;
	uint8_t b = r->buf[r->start];
	uint64_t n;

	/* The array header: fixarray, array 16 or array 32. */
	off = b == 0xdc ? 3 : b == 0xdd ? 5 : 1;
	if (need(r, off, "a record") != 0)
		return r->fail.code;
	n = off == 1 ? (uint64_t)(b & 0x0f) : be(r->buf + r->start + 1, (int)off - 1);
	if (n != 3)
		return fail(r, KVM_ECORRUPT, "record %" PRIu64 " (package '%s') is not an "
		            "array of three bin values", r->records, section_name(r));
	if (read_bin(r, &off, r->caps.max_partition, "partition", &p_off, &rec->partition_len) != 0 ||
	    read_bin(r, &off, r->caps.max_key, "key", &k_off, &rec->key_len) != 0 ||
	    read_bin(r, &off, r->caps.max_value, "value", &v_off, &rec->value_len) != 0)
		return r->fail.code;
	rec->partition = r->buf + r->start + p_off;
	rec->key = r->buf + r->start + k_off;
	rec->value = r->buf + r->start + v_off;
	rec->section = r->cur;
	rec->number = r->records;
	XXH64_update(r->sec_hash, r->buf + r->start, off);
	r->got[r->cur].records++;
	r->got[r->cur].bytes += off;
	r->records++;
	consume(r, off);
	return 0;
}

/* ------------------------------------------------------------------ */
/* the API                                                             */
/* ------------------------------------------------------------------ */

int kvm_export_reader_next(kvm_export_reader *r, struct kvm_export_record *rec,
                           struct kvm_error *err)
{
	for (;;) {
		int eof;
		uint8_t b;

		if (r->fail.code != 0)
			return sticky(r, err);
		if (r->state == ST_DONE)
			return KVM_END;
		if (more(r, 0, &eof) != 0)
			return sticky(r, err);
		if (eof) {
			if (r->state == ST_RECORDS)
				fail(r, KVM_ETRUNCATED, "unexpected end of file after %" PRIu64
				     " records at offset %" PRIu64 ": section '%s' has no trailer",
				     r->records, r->consumed, section_name(r));
			else
				fail(r, KVM_ETRUNCATED, "unexpected end of file after %" PRIu64
				     " records at offset %" PRIu64 ": the file trailer is missing",
				     r->records, r->consumed);
			return sticky(r, err);
		}
		b = r->buf[r->start];
		if ((b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd) {
			if (r->state != ST_RECORDS) {
				fail(r, KVM_ECORRUPT, "a record outside any section at stream offset %"
				     PRIu64, r->d_pos);
				return sticky(r, err);
			}
			if (read_record(r, rec) != 0)
				return sticky(r, err);
			return 0;
		}
		if ((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf) {
			if (read_map(r) != 0)
				return sticky(r, err);
			continue;
		}
		fail(r, KVM_ECORRUPT, "unexpected msgpack byte 0x%02x at stream offset %"
		     PRIu64 " after %" PRIu64 " records", b, r->d_pos, r->records);
		return sticky(r, err);
	}
}

static int reader_create(kvm_export_reader **out, const char *name,
                         const struct kvm_export_reader_opts *opts,
                         struct kvm_error *err)
{
	kvm_export_reader *r = calloc(1, sizeof(*r));
	unsigned wlog;

	*out = NULL;
	if (r == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	r->fd = -1;
	if (opts != NULL)
		r->caps = *opts;
	if (r->caps.max_partition == 0)
		r->caps.max_partition = KVM_EXPORT_DEFAULT_MAX_PARTITION;
	if (r->caps.max_key == 0)
		r->caps.max_key = KVM_EXPORT_DEFAULT_MAX_KEY;
	if (r->caps.max_value == 0)
		r->caps.max_value = KVM_EXPORT_DEFAULT_MAX_VALUE;
	wlog = r->caps.window_log_max != 0 ? r->caps.window_log_max
	                                   : KVM_EXPORT_DEFAULT_WINDOW_LOG;
	r->name = strdup(name);
	r->buf_cap = INITIAL_BUF;
	r->buf = malloc(r->buf_cap);
	r->dctx = ZSTD_createDCtx();
	r->file_hash = XXH64_createState();
	r->frames_hash = XXH64_createState();
	r->frames_before = XXH64_createState();
	r->sec_hash = XXH64_createState();
	if (r->name == NULL || r->buf == NULL || r->dctx == NULL ||
	    r->file_hash == NULL || r->frames_hash == NULL ||
	    r->frames_before == NULL || r->sec_hash == NULL) {
		kvm_export_reader_close(r);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	if (ZSTD_isError(ZSTD_DCtx_setParameter(r->dctx, ZSTD_d_windowLogMax, (int)wlog))) {
		kvm_export_reader_close(r);
		return kvm_error_set(err, KVM_EINVAL, "zstd window log %u is not supported", wlog);
	}
	XXH64_reset(r->file_hash, 0);
	XXH64_reset(r->frames_hash, 0);
	XXH64_reset(r->frames_before, 0);
	XXH64_reset(r->sec_hash, 0);
	*out = r;
	return 0;
}

static int reader_start(kvm_export_reader *r, kvm_export_reader **out,
                        struct kvm_error *err)
{
	if (read_header(r) != 0) {
		int rc = sticky(r, err);

		kvm_export_reader_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

int kvm_export_reader_open(kvm_export_reader **out, const char *path,
                           const struct kvm_export_reader_opts *opts,
                           struct kvm_error *err)
{
	kvm_export_reader *r;
	struct stat st;
	int rc, is_stdin = strcmp(path, "-") == 0;

	if ((rc = reader_create(&r, is_stdin ? "standard input" : path, opts, err)) != 0)
		return rc;
	if (is_stdin) {
		r->fd = STDIN_FILENO;
	} else {
		r->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (r->fd < 0) {
			rc = errno;
			kvm_export_reader_close(r);
			return kvm_error_set(err, rc, "cannot open '%s': %s", path, strerror(rc));
		}
		r->own_fd = 1;
	}
	if (fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode)) {
		r->seekable = 1;
		r->file_size = (uint64_t)st.st_size;
	} else if (fstat(r->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		kvm_export_reader_close(r);
		return kvm_error_set(err, EISDIR, "cannot read '%s': it is a directory", path);
	}
	r->zin_cap = ZSTD_DStreamInSize();
	r->zin = malloc(r->zin_cap);
	if (r->zin == NULL) {
		kvm_export_reader_close(r);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	r->in = r->zin;
	return reader_start(r, out, err);
}

int kvm_export_reader_open_mem(kvm_export_reader **out, const void *buf,
                               size_t len, const char *name,
                               const struct kvm_export_reader_opts *opts,
                               struct kvm_error *err)
{
	kvm_export_reader *r;
	int rc;

	if ((rc = reader_create(&r, name != NULL ? name : "memory", opts, err)) != 0)
		return rc;
	r->mem = buf;
	r->mem_len = len;
	r->in = buf;
	r->in_len = len;
	r->seekable = 1;
	r->file_size = len;
	return reader_start(r, out, err);
}

const struct kvm_export_header *kvm_export_reader_header(const kvm_export_reader *r)
{
	return &r->header;
}

const struct kvm_export_trailer *kvm_export_reader_trailer(const kvm_export_reader *r)
{
	return r->have_trailer ? &r->trailer : NULL;
}

void kvm_export_reader_position(const kvm_export_reader *r, uint64_t *offset,
                                uint32_t *frames)
{
	if (offset != NULL)
		*offset = r->consumed;
	if (frames != NULL)
		*frames = r->frames_done;
}

size_t kvm_export_reader_memory(const kvm_export_reader *r)
{
	return sizeof(*r) + r->buf_cap + r->zin_cap + ZSTD_sizeof_DCtx(r->dctx);
}

void kvm_export_reader_close(kvm_export_reader *r)
{
	if (r == NULL)
		return;
	if (r->own_fd)
		close(r->fd);
	ZSTD_freeDCtx(r->dctx);
	XXH64_freeState(r->file_hash);
	XXH64_freeState(r->frames_hash);
	XXH64_freeState(r->frames_before);
	XXH64_freeState(r->sec_hash);
	free(r->zin);
	free(r->buf);
	free(r->name);
	free(r->strings);
	free(r->packages);
	free(r->got);
	free(r->said);
	free(r);
}

/* ------------------------------------------------------------------ */
/* inspect                                                             */
/* ------------------------------------------------------------------ */

struct info_owner {
	struct kvm_export_info pub;     /* first: the pointer handed out */
	kvm_export_reader *r;           /* owns every string of pub */
};

/* Read the end index, then decode only the end map's frame. */
static int read_trailer_only(kvm_export_reader *r)
{
	uint8_t idx[KVM_EXPORT_INDEX_SIZE];
	uint64_t off;
	int eof;

	if (r->file_size < KVM_EXPORT_INDEX_SIZE)
		return fail(r, KVM_ETRUNCATED, "the file is too short for an end index");
	if (seek_input(r, r->file_size - KVM_EXPORT_INDEX_SIZE) != 0)
		return r->fail.code;
	if (take_input(r, idx, sizeof(idx)) != sizeof(idx))
		return r->fail.code != 0 ? r->fail.code
		       : fail(r, KVM_ETRUNCATED, "cannot read the end index");
	if (!kvm_export_index_decode(idx, &off))
		return fail(r, KVM_ETRUNCATED, "no end index in the last %d bytes: the file "
		            "is truncated or not complete (use --verify for details)",
		            KVM_EXPORT_INDEX_SIZE);
	if (off >= r->file_size - KVM_EXPORT_INDEX_SIZE || off == 0)
		return fail(r, KVM_ECORRUPT, "the end index points at offset %" PRIu64
		            ", outside the file", off);
	if (seek_input(r, off) != 0)
		return r->fail.code;
	ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_only);
	r->in_frame = 0;
	r->start = r->end = 0;
	r->d_pos = 0;
	r->frames_done = 0;
	r->state = ST_END_ONLY;
	if (begin_frame(r, &eof) != 0)
		return r->fail.code;
	if (!eof && more(r, 1, &eof) != 0)
		return r->fail.code;
	if (eof || !(r->buf[r->start] >= 0x80 && r->buf[r->start] <= 0x8f))
		return fail(r, KVM_ECORRUPT, "the end index does not point at the end map");
	return read_map(r);
}

int kvm_export_inspect(const char *path, int verify,
                       const struct kvm_export_reader_opts *opts,
                       struct kvm_export_info **out, struct kvm_error *err)
{
	struct info_owner *o;
	struct kvm_export_record rec;
	kvm_export_reader *r;
	int rc;

	*out = NULL;
	if ((rc = kvm_export_reader_open(&r, path, opts, err)) != 0)
		return rc;
	if (!verify && r->seekable) {
		rc = read_trailer_only(r);
	} else {
		verify = 1;
		while ((rc = kvm_export_reader_next(r, &rec, NULL)) == 0)
			;
		if (rc == KVM_END)
			rc = 0;
	}
	if (rc != 0) {
		rc = sticky(r, err);
		kvm_export_reader_close(r);
		return rc;
	}
	o = calloc(1, sizeof(*o));
	if (o == NULL) {
		kvm_export_reader_close(r);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	o->r = r;
	o->pub.header = r->header;
	o->pub.trailer = r->trailer;
	o->pub.file_bytes = r->seekable ? r->file_size : r->consumed;
	o->pub.frames = verify ? r->frames_done : 0;
	o->pub.verified = verify;
	*out = &o->pub;
	return 0;
}

void kvm_export_info_free(struct kvm_export_info *info)
{
	struct info_owner *o = (struct info_owner *)info;

	if (o == NULL)
		return;
	kvm_export_reader_close(o->r);
	free(o);
}
