/*
 * json.c - the JSON writer of json.h.
 *
 * A value is written in three steps: before_value() checks that a value
 * may come here and writes the separator, the value's text follows, and
 * after_value() records that the top level is complete.  Keys and the
 * items of an array start on a new line indented by their depth.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "kvm/error.h"
#include "json.h"

void kvm_json_init(struct kvm_json *j, FILE *out)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
}

static int put(struct kvm_json *j, const char *s, size_t len)
{
	if (j->err != 0 || len == 0)
		return j->err;
	errno = 0;
	if (fwrite(s, 1, len, j->out) != len)
		j->err = errno != 0 ? errno : EIO;
	return j->err;
}

static int puts_(struct kvm_json *j, const char *s)
{
	return put(j, s, strlen(s));
}

static int misuse(struct kvm_json *j)
{
	if (j->err == 0)
		j->err = KVM_ESTATE;
	return j->err;
}

/* A new line at the current depth, after a comma if the level has items. */
static int new_item(struct kvm_json *j)
{
	unsigned char *filled = &j->filled[j->depth - 1];

	if (*filled)
		puts_(j, ",");
	*filled = 1;
	puts_(j, "\n");
	for (unsigned i = 0; i < j->depth; i++)
		puts_(j, "  ");
	return j->err;
}

static int before_value(struct kvm_json *j)
{
	if (j->err != 0)
		return j->err;
	if (j->depth == 0)
		return j->done ? misuse(j) : 0;
	if (j->kind[j->depth - 1] == '{') {
		if (!j->have_key)
			return misuse(j);
		j->have_key = 0;
		return 0;
	}
	return new_item(j);
}

static int after_value(struct kvm_json *j)
{
	if (j->err == 0 && j->depth == 0)
		j->done = 1;
	return j->err;
}

static int begin(struct kvm_json *j, char kind)
{
	if (before_value(j) != 0)
		return j->err;
	if (j->depth == KVM_JSON_MAX_DEPTH)
		return misuse(j);
	if (put(j, &kind, 1) != 0)
		return j->err;
	j->kind[j->depth] = kind;
	j->filled[j->depth] = 0;
	j->depth++;
	return 0;
}

static int end(struct kvm_json *j, char kind)
{
	char close = kind == '{' ? '}' : ']';

	if (j->err != 0)
		return j->err;
	if (j->depth == 0 || j->kind[j->depth - 1] != kind || j->have_key)
		return misuse(j);
	j->depth--;
	if (j->filled[j->depth]) {
		puts_(j, "\n");
		for (unsigned i = 0; i < j->depth; i++)
			puts_(j, "  ");
	}
	put(j, &close, 1);
	return after_value(j);
}

int kvm_json_begin_object(struct kvm_json *j) { return begin(j, '{'); }
int kvm_json_end_object(struct kvm_json *j)   { return end(j, '{'); }
int kvm_json_begin_array(struct kvm_json *j)  { return begin(j, '['); }
int kvm_json_end_array(struct kvm_json *j)    { return end(j, '['); }

/* Length of the valid UTF-8 sequence starting at @s (of @n bytes), or 0.
 * Rejects overlong forms, surrogates and code points above U+10FFFF
 * (RFC 3629, table 3-7 of the Unicode standard). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

static int put_string(struct kvm_json *j, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	puts_(j, "\"");
	while (i < len && j->err == 0) {
		size_t run = i, n;
		char esc[8];

		/* Copy the longest run that needs no escape in one write. */
		while (run < len && s[run] >= 0x20 && s[run] != '"' &&
		       s[run] != '\\' && (n = utf8_len(s + run, len - run)) != 0)
			run += n;
		put(j, str + i, run - i);
		i = run;
		if (i == len)
			break;
		if (s[i] == '"' || s[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)s[i];
			put(j, esc, 2);
		} else {
			/* a control character, or a byte outside valid UTF-8 */
			snprintf(esc, sizeof(esc), "\\u%04x", s[i]);
			puts_(j, esc);
		}
		i++;
	}
	return puts_(j, "\"");
}

int kvm_json_key(struct kvm_json *j, const char *key)
{
	if (j->err != 0)
		return j->err;
	if (j->depth == 0 || j->kind[j->depth - 1] != '{' || j->have_key)
		return misuse(j);
	new_item(j);
	put_string(j, key, strlen(key));
	puts_(j, ": ");
	j->have_key = 1;
	return j->err;
}

int kvm_json_string_len(struct kvm_json *j, const char *s, size_t len)
{
	if (before_value(j) != 0)
		return j->err;
	put_string(j, s, len);
	return after_value(j);
}

int kvm_json_string(struct kvm_json *j, const char *s)
{
	return kvm_json_string_len(j, s, strlen(s));
}

static int put_scalar(struct kvm_json *j, const char *text)
{
	if (before_value(j) != 0)
		return j->err;
	puts_(j, text);
	return after_value(j);
}

int kvm_json_int64(struct kvm_json *j, int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return put_scalar(j, buf);
}

int kvm_json_uint64(struct kvm_json *j, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return put_scalar(j, buf);
}

int kvm_json_seconds(struct kvm_json *j, double v)
{
	char buf[40];

	/* JSON has no NaN or infinity; durations are finite and >= 0 */
	snprintf(buf, sizeof(buf), "%.3f", v >= 0 && v < 1e15 ? v : 0.0);
	return put_scalar(j, buf);
}

int kvm_json_bool(struct kvm_json *j, int v)
{
	return put_scalar(j, v ? "true" : "false");
}

int kvm_json_null(struct kvm_json *j)
{
	return put_scalar(j, "null");
}

int kvm_json_field_string(struct kvm_json *j, const char *key, const char *s)
{
	if (kvm_json_key(j, key) != 0)
		return j->err;
	return kvm_json_string(j, s);
}

int kvm_json_field_int64(struct kvm_json *j, const char *key, int64_t v)
{
	if (kvm_json_key(j, key) != 0)
		return j->err;
	return kvm_json_int64(j, v);
}

int kvm_json_field_uint64(struct kvm_json *j, const char *key, uint64_t v)
{
	if (kvm_json_key(j, key) != 0)
		return j->err;
	return kvm_json_uint64(j, v);
}

int kvm_json_field_bool(struct kvm_json *j, const char *key, int v)
{
	if (kvm_json_key(j, key) != 0)
		return j->err;
	return kvm_json_bool(j, v);
}

int kvm_json_finish(struct kvm_json *j)
{
	if (j->err != 0)
		return j->err;
	if (!j->done || j->depth != 0)
		return misuse(j);
	return puts_(j, "\n");
}

int kvm_json_field_double(struct kvm_json *j, const char *key, double v)
{
	if (kvm_json_key(j, key) != 0)
		return j->err;
	return kvm_json_seconds(j, v);
}
