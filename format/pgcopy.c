/*
 * pgcopy.c - the binary COPY format, one CopyData message at a time.
 *
 * Layout (PostgreSQL's COPY reference, "Binary Format"): the signature
 * "PGCOPY\n\377\r\n\0", an int32 flags field, an int32 header extension
 * length and that many bytes; then per row an int16 field count and per
 * field an int32 length (-1: NULL) and its bytes; the trailer is a field
 * count of -1.  All integers are big-endian.  Every length is checked
 * against what is left of the message before it is used.
 */
#include <string.h>

#include "pgcopy.h"

static const unsigned char SIGNATURE[11] = "PGCOPY\n\377\r\n";

/* PostgreSQL's epoch, 2000-01-01 00:00:00 UTC, in Unix seconds. */
#define PG_EPOCH_UNIX 946684800LL

static uint32_t be32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static uint16_t be16(const unsigned char *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

void kvm_pgcopy_init(struct kvm_pgcopy *p, const char *subject)
{
	memset(p, 0, sizeof(*p));
	p->subject = subject;
}

static int bad(const struct kvm_pgcopy *p, struct kvm_error *err,
               const char *what)
{
	return kvm_error_set(err, KVM_EDB, "%s: binary COPY row %llu: %s",
	                     p->subject, (unsigned long long)p->rows + 1, what);
}

int kvm_pgcopy_row(struct kvm_pgcopy *p, const void *msg, size_t len,
                   struct kvm_pgcopy_field *fields, unsigned nfields,
                   struct kvm_error *err)
{
	const unsigned char *b = msg, *end = b + len;
	int16_t count;

	if (p->ended)
		return bad(p, err, "data after the trailer");
	if (!p->header_done) {
		uint32_t ext;

		if (len < 19 || memcmp(b, SIGNATURE, sizeof(SIGNATURE)) != 0)
			return bad(p, err, "no binary COPY header");
		/* bit 16 of the flags: OIDs included, which nobody asks for */
		if (be32(b + 11) & 0xffff0000u)
			return bad(p, err, "unknown critical flags in the header");
		ext = be32(b + 15);
		if (ext > len - 19)
			return bad(p, err, "header extension longer than the message");
		b += 19 + ext;
		p->header_done = 1;
	}
	if (end - b < 2)
		return bad(p, err, "message ends before the field count");
	count = (int16_t)be16(b);
	b += 2;
	if (count == -1) {
		if (b != end)
			return bad(p, err, "bytes after the trailer");
		p->ended = 1;
		return KVM_END;
	}
	if (count < 0 || (unsigned)count != nfields)
		return kvm_error_set(err, KVM_EDB, "%s: binary COPY row %llu has %d "
		                     "fields, expected %u", p->subject,
		                     (unsigned long long)p->rows + 1, count, nfields);
	for (unsigned i = 0; i < nfields; i++) {
		int32_t flen;

		if (end - b < 4)
			return bad(p, err, "message ends inside a field length");
		flen = (int32_t)be32(b);
		b += 4;
		if (flen == -1) {
			fields[i].data = NULL;
			fields[i].len = -1;
			continue;
		}
		if (flen < 0 || (size_t)flen > (size_t)(end - b))
			return bad(p, err, "field longer than the message");
		fields[i].data = b;
		fields[i].len = flen;
		b += flen;
	}
	if (b != end)
		return bad(p, err, "bytes after the last field");
	p->rows++;
	return 0;
}

static int need(const struct kvm_pgcopy *p, const struct kvm_pgcopy_field *f,
                const char *type, struct kvm_error *err)
{
	if (f->len >= 0)
		return 0;
	return kvm_error_set(err, KVM_EDB, "%s: row %llu: NULL where a %s was "
	                     "expected", p->subject, (unsigned long long)p->rows,
	                     type);
}

static int wrong_size(const struct kvm_pgcopy *p, const struct kvm_pgcopy_field *f,
                      const char *type, struct kvm_error *err)
{
	return kvm_error_set(err, KVM_EDB, "%s: row %llu: a %s of %d bytes",
	                     p->subject, (unsigned long long)p->rows, type, f->len);
}

int kvm_pgcopy_int(const struct kvm_pgcopy *p, const struct kvm_pgcopy_field *f,
                   int64_t *out, struct kvm_error *err)
{
	int rc;

	if ((rc = need(p, f, "integer", err)) != 0)
		return rc;
	switch (f->len) {
	case 2:
		*out = (int16_t)be16(f->data);
		return 0;
	case 4:
		*out = (int32_t)be32(f->data);
		return 0;
	case 8:
		*out = (int64_t)((uint64_t)be32(f->data) << 32 | be32(f->data + 4));
		return 0;
	}
	return wrong_size(p, f, "integer", err);
}

int kvm_pgcopy_bool(const struct kvm_pgcopy *p, const struct kvm_pgcopy_field *f,
                    int *out, struct kvm_error *err)
{
	int rc;

	if ((rc = need(p, f, "boolean", err)) != 0)
		return rc;
	if (f->len != 1)
		return wrong_size(p, f, "boolean", err);
	*out = f->data[0] != 0;
	return 0;
}

int kvm_pgcopy_timestamptz(const struct kvm_pgcopy *p,
                           const struct kvm_pgcopy_field *f, int64_t *sec,
                           uint32_t *nsec, struct kvm_error *err)
{
	int64_t us, s, r;
	int rc;

	if ((rc = need(p, f, "timestamp", err)) != 0)
		return rc;
	if (f->len != 8)
		return wrong_size(p, f, "timestamp", err);
	us = (int64_t)((uint64_t)be32(f->data) << 32 | be32(f->data + 4));
	if (us == INT64_MAX || us == INT64_MIN)
		return kvm_error_set(err, KVM_EDB, "%s: row %llu: an infinite "
		                     "timestamp", p->subject,
		                     (unsigned long long)p->rows);
	/* floor division, so times before 2000 keep 0 <= nsec < 1e9 */
	s = us / 1000000;
	r = us % 1000000;
	if (r < 0) {
		r += 1000000;
		s -= 1;
	}
	*sec = s + PG_EPOCH_UNIX;
	*nsec = (uint32_t)r * 1000u;
	return 0;
}

int kvm_pgcopy_jsonb(const struct kvm_pgcopy *p, const struct kvm_pgcopy_field *f,
                     const char **text, size_t *len, struct kvm_error *err)
{
	int rc;

	if ((rc = need(p, f, "jsonb", err)) != 0)
		return rc;
	if (f->len < 1 || f->data[0] != 1)
		return kvm_error_set(err, KVM_EDB, "%s: row %llu: jsonb in an "
		                     "unknown binary format version", p->subject,
		                     (unsigned long long)p->rows);
	*text = (const char *)f->data + 1;
	*len = (size_t)f->len - 1;
	return 0;
}

int kvm_pgcopy_array(const struct kvm_pgcopy *p, const struct kvm_pgcopy_field *f,
                     struct kvm_pgcopy_array *a, struct kvm_error *err)
{
	int32_t ndim;
	int rc;

	if ((rc = need(p, f, "array", err)) != 0)
		return rc;
	/* ndim, has-null flag, element type oid, then per dimension its
	 * length and lower bound */
	if (f->len < 12)
		return wrong_size(p, f, "array", err);
	ndim = (int32_t)be32(f->data);
	memset(a, 0, sizeof(*a));
	a->end = f->data + f->len;
	if (ndim == 0) {
		a->pos = a->end;
		return f->len == 12 ? 0 : wrong_size(p, f, "empty array", err);
	}
	if (ndim != 1)
		return kvm_error_set(err, KVM_EDB, "%s: row %llu: an array of %d "
		                     "dimensions where one was expected", p->subject,
		                     (unsigned long long)p->rows, ndim);
	if (f->len < 20)
		return wrong_size(p, f, "array", err);
	a->count = (int32_t)be32(f->data + 12);
	if (a->count < 0)
		return wrong_size(p, f, "array", err);
	a->pos = f->data + 20;
	return 0;
}

int kvm_pgcopy_array_next(const struct kvm_pgcopy *p, struct kvm_pgcopy_array *a,
                          struct kvm_pgcopy_field *elem, struct kvm_error *err)
{
	int32_t len;

	if (a->seen == a->count) {
		if (a->pos != a->end)
			return kvm_error_set(err, KVM_EDB, "%s: row %llu: bytes after "
			                     "the last array element", p->subject,
			                     (unsigned long long)p->rows);
		return KVM_END;
	}
	if (a->end - a->pos < 4)
		goto truncated;
	len = (int32_t)be32(a->pos);
	a->pos += 4;
	if (len == -1) {
		elem->data = NULL;
		elem->len = -1;
	} else {
		if (len < 0 || (size_t)len > (size_t)(a->end - a->pos))
			goto truncated;
		elem->data = a->pos;
		elem->len = len;
		a->pos += len;
	}
	a->seen++;
	return 0;
truncated:
	return kvm_error_set(err, KVM_EDB, "%s: row %llu: array element %d runs "
	                     "past the field", p->subject,
	                     (unsigned long long)p->rows, a->seen + 1);
}
