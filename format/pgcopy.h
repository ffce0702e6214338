/*
 * pgcopy.h - rows of COPY ... TO STDOUT (FORMAT binary), without copying.
 *
 * The migrators read the old tables with binary COPY: the server sends
 * each row as one CopyData message, which libpq's PQgetCopyData hands over
 * whole; the 19-byte file header (plus any header extension) comes in front
 * of the first row, and the trailer (a field count of -1) last.  This
 * parser turns one message at a time into an array of fields that point
 * into the message: no allocation per row, nothing kept between rows.
 *
 *     struct kvm_pgcopy p;
 *     struct kvm_pgcopy_field f[N];
 *     kvm_pgcopy_init(&p, "table 'auth_users'");
 *     while ((len = PQgetCopyData(conn, &buf, 0)) > 0) {
 *         rc = kvm_pgcopy_row(&p, buf, len, f, N, &err);
 *         rc == 0: use f[0..N-1] (valid until PQfreemem(buf))
 *         rc == KVM_END: the trailer; no row follows
 *         else: a malformed stream (KVM_EDB), message names the subject
 *     }
 *
 * The decoders below read the binary send format of the column types the
 * old tables use.  They check lengths; each returns 0 or KVM_EDB with a
 * message naming the subject and the row.
 *
 * Internal to the library (format/); nothing here allocates.
 */
#ifndef KVM_PGCOPY_H
#define KVM_PGCOPY_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/error.h"

/** One field of a row: its bytes in the message, or NULL (len -1). */
struct kvm_pgcopy_field {
	const unsigned char *data;  /**< NULL when the value is NULL */
	int32_t len;                /**< bytes, or -1 for NULL */
};

/** Parser state for one COPY stream; caller-owned, no resources. */
struct kvm_pgcopy {
	const char *subject;   /**< for messages, e.g. "table 'auth_users'" */
	int header_done;
	int ended;             /**< the trailer was seen */
	uint64_t rows;         /**< rows parsed so far */
};

/** Start parsing a stream; @subject must outlive @p. */
void kvm_pgcopy_init(struct kvm_pgcopy *p, const char *subject);

/**
 * Parse one CopyData message of @len bytes.
 *
 * @param fields   out: @nfields entries, pointing into @msg
 * @param nfields  the number of columns the COPY selects
 * @return 0 for a row; KVM_END for the trailer; KVM_EDB when the message
 *         is malformed: a bad header, a field count other than @nfields, a
 *         field longer than the message, bytes after the row, anything
 *         after the trailer (the message names the subject and the row)
 */
int kvm_pgcopy_row(struct kvm_pgcopy *p, const void *msg, size_t len,
                   struct kvm_pgcopy_field *fields, unsigned nfields,
                   struct kvm_error *err);

/* --- decoders of binary send formats ---------------------------------- */

/** int2 / int4 / int8 into @out. */
int kvm_pgcopy_int(const struct kvm_pgcopy *p, const struct kvm_pgcopy_field *f,
                   int64_t *out, struct kvm_error *err);

/** bool into @out (0 or 1). */
int kvm_pgcopy_bool(const struct kvm_pgcopy *p, const struct kvm_pgcopy_field *f,
                    int *out, struct kvm_error *err);

/**
 * timestamptz (microseconds since 2000-01-01 UTC) as Unix seconds and
 * nanoseconds (0 to 999999000).  Infinite timestamps are refused.
 */
int kvm_pgcopy_timestamptz(const struct kvm_pgcopy *p,
                           const struct kvm_pgcopy_field *f, int64_t *sec,
                           uint32_t *nsec, struct kvm_error *err);

/**
 * jsonb: the JSON text exactly as PostgreSQL prints it (the send format is
 * a version byte, 1, then that text).  @text points into the message.
 */
int kvm_pgcopy_jsonb(const struct kvm_pgcopy *p, const struct kvm_pgcopy_field *f,
                     const char **text, size_t *len, struct kvm_error *err);

/**
 * A one-dimensional text[] (or an empty array): the number of elements.
 * Elements are then read with kvm_pgcopy_array_next().
 */
struct kvm_pgcopy_array {
	const unsigned char *pos, *end;
	int32_t count;         /**< elements */
	int32_t seen;
};

int kvm_pgcopy_array(const struct kvm_pgcopy *p, const struct kvm_pgcopy_field *f,
                     struct kvm_pgcopy_array *a, struct kvm_error *err);

/** The next element into @elem (len -1 for a NULL element); KVM_END after
 *  the last. */
int kvm_pgcopy_array_next(const struct kvm_pgcopy *p, struct kvm_pgcopy_array *a,
                          struct kvm_pgcopy_field *elem, struct kvm_error *err);

#endif /* KVM_PGCOPY_H */
