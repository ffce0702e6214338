/*
 * json.h - a minimal JSON writer over a FILE *, for --json output.
 *
 * The writer emits one JSON value, indented by two spaces per level, and
 * places commas itself with a small stack of open objects and arrays:
 *
 *     struct kvm_json j;
 *     kvm_json_init(&j, stdout);
 *     kvm_json_begin_object(&j);
 *     kvm_json_key(&j, "ok");      kvm_json_bool(&j, 1);
 *     kvm_json_key(&j, "packages");
 *     kvm_json_begin_array(&j);
 *     kvm_json_string(&j, "auth");
 *     kvm_json_end_array(&j);
 *     kvm_json_end_object(&j);
 *     rc = kvm_json_finish(&j);    -- ends the line; checks the value is whole
 *
 * Errors are sticky: every call returns 0 or the first error, and after an
 * error writes nothing more.  KVM_ESTATE means the calls were out of order
 * (a key outside an object, a value where a key belongs, a second top-level
 * value, unbalanced ends, nesting deeper than KVM_JSON_MAX_DEPTH): a bug in
 * the caller.  A positive value is the errno of a failed write.
 *
 * Strings are written as JSON requires whatever their bytes: '"' and '\\'
 * are escaped, control characters become \u00XX, valid UTF-8 sequences are
 * copied, and every byte that is not part of a valid UTF-8 sequence is
 * written as \u00XX of that byte (so a Latin-1 file name stays readable and
 * the output stays valid UTF-8).
 */
#ifndef KVM_JSON_H
#define KVM_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/** Deepest nesting of objects and arrays the writer accepts. */
#define KVM_JSON_MAX_DEPTH 16

/** Writer state; caller-owned (usually on the stack), no resources. */
struct kvm_json {
	FILE *out;
	int err;                             /**< 0, or the sticky error */
	unsigned depth;                      /**< open objects and arrays */
	char kind[KVM_JSON_MAX_DEPTH];       /**< '{' or '[' per open level */
	unsigned char filled[KVM_JSON_MAX_DEPTH]; /**< level has an item */
	int have_key;                        /**< a key waits for its value */
	int done;                            /**< the top-level value is whole */
};

/** Start writing one value to @out. */
void kvm_json_init(struct kvm_json *j, FILE *out);

int kvm_json_begin_object(struct kvm_json *j);
int kvm_json_end_object(struct kvm_json *j);
int kvm_json_begin_array(struct kvm_json *j);
int kvm_json_end_array(struct kvm_json *j);

/** The key of the next member; only directly inside an object. */
int kvm_json_key(struct kvm_json *j, const char *key);

/** A NUL-terminated string value. */
int kvm_json_string(struct kvm_json *j, const char *s);
/** A string value of @len bytes (may hold NUL bytes). */
int kvm_json_string_len(struct kvm_json *j, const char *s, size_t len);
int kvm_json_int64(struct kvm_json *j, int64_t v);
int kvm_json_uint64(struct kvm_json *j, uint64_t v);
/** true when @v is non-zero. */
int kvm_json_bool(struct kvm_json *j, int v);
int kvm_json_null(struct kvm_json *j);

/** Shorthands for a key followed by its value. */
int kvm_json_field_string(struct kvm_json *j, const char *key, const char *s);
int kvm_json_field_int64(struct kvm_json *j, const char *key, int64_t v);
int kvm_json_field_uint64(struct kvm_json *j, const char *key, uint64_t v);
int kvm_json_field_bool(struct kvm_json *j, const char *key, int v);
/** A duration in seconds, with millisecond digits ("12.345"). */
int kvm_json_seconds(struct kvm_json *j, double v);
int kvm_json_field_double(struct kvm_json *j, const char *key, double v);

/**
 * End the output: check that exactly one whole value was written and
 * write a newline.  Does not flush @out.
 *
 * @return 0; KVM_ESTATE when the value is incomplete; the sticky error.
 */
int kvm_json_finish(struct kvm_json *j);

#endif /* KVM_JSON_H */
