/*
 * kvm-sample-export.c - write a sample export with the library's writer.
 *
 *     kvm-sample-export [--list] [--records N] [--seed S] [--frame-bytes B] FILE
 *
 * Writes FILE with three packages ("auth", "refs", "staging") of N records
 * each (default 200), drawn from the seed S (default 1) by xorshift64, so
 * the same arguments always give the same records.  The records cover the
 * cases of the format: empty partitions, keys and values, the bytes 0x00
 * and 0xff, keys of about 400 bytes and a few values of about 100 KiB.
 * --frame-bytes sets the writer's frame_bytes option (0, the default, means
 * the library's default); the records must not depend on it.
 *
 * With --list, every record is printed as it is written, one per line, in
 * the format of `tests/tools/kvmexport.py dump`:
 *
 *     SECTIONINDEX PARTITIONHEX KEYHEX VALUEHEX      (empty bytes as "-")
 *
 * so that tests/e2e/openness.sh can compare what the writer was given with
 * what tools that share no code with the library read back.  Only the API
 * of include/kvm/export.h is used.
 *
 * Exit status: 0 on success, 1 when the export cannot be written (the
 * library's message goes to stderr), 2 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/export.h"

#define PROG "kvm-sample-export"

/* Sizes of the generated fields.  LONG_KEY is "about 400 bytes";
 * BIG_VALUE is "about 100 KiB"; both stay far below the reader's caps. */
#define MAX_PARTITION_LEN 24
#define LONG_KEY_MIN      380
#define LONG_KEY_SPREAD   40
#define MAX_KEY_LEN       (LONG_KEY_MIN + LONG_KEY_SPREAD)
#define SHORT_KEY_MAX     40
#define SHORT_VALUE_MAX   200
#define BIG_VALUE_MIN     (100u << 10)
#define BIG_VALUE_SPREAD  (4u << 10)
#define MAX_VALUE_LEN     (BIG_VALUE_MIN + BIG_VALUE_SPREAD)
/* One record in BIG_VALUE_ODDS gets a big value (besides record 3). */
#define BIG_VALUE_ODDS    97

#define DEFAULT_RECORDS   200
#define DEFAULT_SEED      1

static const char *const kvm_sample_packages[] = { "auth", "refs", "staging" };
#define NPACKAGES (sizeof(kvm_sample_packages) / sizeof(kvm_sample_packages[0]))

static const char *const kvm_sample_partitions[] = {
	"users", "tokens", "grants", "refs/heads", "caf\xc3\xa9",
};
#define NPARTITIONS (sizeof(kvm_sample_partitions) / sizeof(kvm_sample_partitions[0]))

/* One record being built; the buffers are owned by main's stack frame. */
struct kvm_sample_record {
	uint8_t partition[MAX_PARTITION_LEN];
	size_t partition_len;
	uint8_t key[MAX_KEY_LEN];
	size_t key_len;
	uint8_t *value;          /* MAX_VALUE_LEN bytes, heap */
	size_t value_len;
};

/* xorshift64 (Marsaglia): small, fast and the same on every platform. */
static uint64_t kvm_sample_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

static uint64_t kvm_sample_below(uint64_t *state, uint64_t n)
{
	return kvm_sample_next(state) % n;
}

/* Fill with bytes where 0x00 and 0xff are frequent. */
static void kvm_sample_fill(uint64_t *state, uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t r = kvm_sample_next(state);

		switch (r & 7) {
		case 0:  buf[i] = 0x00; break;
		case 1:  buf[i] = 0xff; break;
		default: buf[i] = (uint8_t)(r >> 8); break;
		}
	}
}

/* A value of about 100 KiB: runs of one byte among random stretches, so it
 * is neither trivially compressible nor incompressible. */
static void kvm_sample_big_value(uint64_t *state, struct kvm_sample_record *rec)
{
	size_t i = 0;

	rec->value_len = BIG_VALUE_MIN + (size_t)kvm_sample_below(state, BIG_VALUE_SPREAD);
	while (i < rec->value_len) {
		size_t run = 1 + (size_t)kvm_sample_below(state, 512);

		if (run > rec->value_len - i)
			run = rec->value_len - i;
		if (kvm_sample_next(state) & 1)
			memset(rec->value + i, (int)(kvm_sample_next(state) & 0xff), run);
		else
			kvm_sample_fill(state, rec->value + i, run);
		i += run;
	}
}

/* Record @n of a package.  Records 0..3 are fixed edge cases, so that even
 * a small --records covers them; the others are drawn at random. */
static void kvm_sample_make(uint64_t *state, uint64_t n, struct kvm_sample_record *rec)
{
	uint64_t kind = kvm_sample_below(state, 16);
	int len;

	/* partition: empty one time in eight, else a name or random bytes */
	rec->partition_len = 0;
	if (n >= 4 && kind % 8 != 0) {
		if (kind < 12) {
			const char *p = kvm_sample_partitions[kvm_sample_below(state, NPARTITIONS)];

			rec->partition_len = strlen(p);
			memcpy(rec->partition, p, rec->partition_len);
		} else {
			rec->partition_len = 1 + (size_t)kvm_sample_below(state, MAX_PARTITION_LEN);
			kvm_sample_fill(state, rec->partition, rec->partition_len);
		}
	}

	/* key */
	if (n == 0 || (n >= 4 && kind == 5)) {
		rec->key_len = 0;
	} else if (n == 1) {
		static const uint8_t edge[] = { 0x00, 0xff, 0x00, 0x2f, 0xff };

		rec->key_len = sizeof(edge);
		memcpy(rec->key, edge, sizeof(edge));
	} else if (n == 2 || (n >= 4 && kind == 6)) {
		rec->key_len = LONG_KEY_MIN + (size_t)kvm_sample_below(state, LONG_KEY_SPREAD + 1);
		kvm_sample_fill(state, rec->key, rec->key_len);
	} else if (kind < 10) {
		len = snprintf((char *)rec->key, sizeof(rec->key), "key/%" PRIu64 "/%" PRIx64,
		               n, kvm_sample_next(state));
		rec->key_len = len < 0 ? 0 : (size_t)len;
	} else {
		rec->key_len = 1 + (size_t)kvm_sample_below(state, SHORT_KEY_MAX);
		kvm_sample_fill(state, rec->key, rec->key_len);
	}

	/* value */
	if (n == 0 || (n >= 4 && kind == 7)) {
		rec->value_len = 0;
	} else if (n == 3 || (n >= 4 && kvm_sample_below(state, BIG_VALUE_ODDS) == 0)) {
		kvm_sample_big_value(state, rec);
	} else {
		rec->value_len = (size_t)kvm_sample_below(state, SHORT_VALUE_MAX + 1);
		kvm_sample_fill(state, rec->value, rec->value_len);
	}
}

/* Print @len bytes as lowercase hex, or "-" when empty. */
static int kvm_sample_print_hex(FILE *out, const uint8_t *buf, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	if (len == 0)
		return fputc('-', out) == EOF ? -1 : 0;
	for (size_t i = 0; i < len; i++) {
		if (fputc(digits[buf[i] >> 4], out) == EOF ||
		    fputc(digits[buf[i] & 15], out) == EOF)
			return -1;
	}
	return 0;
}

static int kvm_sample_list(FILE *out, size_t section, const struct kvm_sample_record *rec)
{
	if (fprintf(out, "%zu ", section) < 0 ||
	    kvm_sample_print_hex(out, rec->partition, rec->partition_len) != 0 ||
	    fputc(' ', out) == EOF ||
	    kvm_sample_print_hex(out, rec->key, rec->key_len) != 0 ||
	    fputc(' ', out) == EOF ||
	    kvm_sample_print_hex(out, rec->value, rec->value_len) != 0 ||
	    fputc('\n', out) == EOF)
		return -1;
	return 0;
}

static int kvm_sample_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s == '\0' || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = (uint64_t)v;
	return 0;
}

static void kvm_sample_usage(void)
{
	fprintf(stderr, "usage: " PROG " [--list] [--records N] [--seed S]"
	        " [--frame-bytes B] FILE\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "list",    no_argument,       NULL, 'l' },
		{ "records", required_argument, NULL, 'n' },
		{ "seed",    required_argument, NULL, 's' },
		{ "frame-bytes", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct kvm_export_header header = {
		.kv_migration_version = 8,
		.source_schema_version = 7,
		.source_database = "sample",
		.snapshot_time = { .sec = 1700000000, .nsec = 123456000 },
		.packages = kvm_sample_packages,
		.npackages = NPACKAGES,
	};
	struct kvm_export_writer_opts opts = { .header = &header };
	struct kvm_sample_record rec = { .value = NULL };
	struct kvm_error err = { 0 };
	kvm_export_writer *w = NULL;
	uint64_t records = DEFAULT_RECORDS, seed = DEFAULT_SEED, frame_bytes = 0, state;
	const char *path;
	int list = 0, opt, rc = 1;

	while ((opt = getopt_long(argc, argv, "ln:s:f:", options, NULL)) != -1) {
		switch (opt) {
		case 'l':
			list = 1;
			break;
		case 'n':
			if (kvm_sample_parse_u64(optarg, &records) != 0) {
				fprintf(stderr, PROG ": bad --records '%s'\n", optarg);
				return 2;
			}
			break;
		case 's':
			if (kvm_sample_parse_u64(optarg, &seed) != 0) {
				fprintf(stderr, PROG ": bad --seed '%s'\n", optarg);
				return 2;
			}
			break;
		case 'f':
			if (kvm_sample_parse_u64(optarg, &frame_bytes) != 0 ||
			    frame_bytes > SIZE_MAX) {
				fprintf(stderr, PROG ": bad --frame-bytes '%s'\n", optarg);
				return 2;
			}
			opts.frame_bytes = (size_t)frame_bytes;
			break;
		default:
			kvm_sample_usage();
			return 2;
		}
	}
	if (optind != argc - 1) {
		kvm_sample_usage();
		return 2;
	}
	path = argv[optind];
	if (list && strcmp(path, "-") == 0) {
		fprintf(stderr, PROG ": --list and FILE '-' both need standard output\n");
		return 2;
	}

	/* xorshift64 must not start at 0; mix the seed so that nearby seeds
	 * give unrelated sequences. */
	state = seed * UINT64_C(0x9E3779B97F4A7C15) + UINT64_C(0x2545F4914F6CDD1D);
	if (state == 0)
		state = 1;

	rec.value = malloc(MAX_VALUE_LEN);
	if (rec.value == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		goto cleanup;
	}
	if (kvm_export_writer_open(&w, path, &opts, &err) != 0)
		goto fail;
	for (size_t s = 0; s < NPACKAGES; s++) {
		if (kvm_export_writer_begin_section(w, kvm_sample_packages[s], &err) != 0)
			goto fail;
		for (uint64_t n = 0; n < records; n++) {
			kvm_sample_make(&state, n, &rec);
			if (kvm_export_writer_write(w, rec.partition, rec.partition_len,
			                            rec.key, rec.key_len,
			                            rec.value, rec.value_len, &err) != 0)
				goto fail;
			if (list && kvm_sample_list(stdout, s, &rec) != 0) {
				fprintf(stderr, PROG ": cannot write the list: %s\n", strerror(errno));
				goto cleanup;
			}
		}
		if (kvm_export_writer_end_section(w, NULL, &err) != 0)
			goto fail;
	}
	/* finish releases the writer whatever happens */
	rc = kvm_export_writer_finish(w, NULL, &err);
	w = NULL;
	if (rc != 0) {
		rc = 1;
		goto fail;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": cannot write the list: %s\n", strerror(errno));
		rc = 1;
		goto cleanup;
	}
	rc = 0;
	goto cleanup;

fail:
	fprintf(stderr, PROG ": %s\n", err.msg);
	rc = 1;
cleanup:
	kvm_export_writer_abort(w);
	free(rec.value);
	return rc;
}
