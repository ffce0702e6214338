/*
 * inspect.c - kvmigrate inspect FILE [--verify] [--json]
 *
 * Shows what an export file says about itself: the header, the packages
 * with their record counts, byte counts and digests, and the file's
 * totals.  Without --verify only the header and trailer frames are read
 * (kvm_export_inspect); with it, or from a pipe, every record is read and
 * every checksum, count and digest checked.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kvm/export.h"
#include "cmd.h"
#include "json.h"

const char cmd_inspect_usage[] = "kvmigrate inspect FILE [--verify] [--json]";

static const char help_body[] =
	"Show an export file's header, its packages with their record counts,\n"
	"byte counts and digests, and the file's totals.  FILE \"-\" reads\n"
	"standard input; a pipe is always read in full, as with --verify.\n"
	"\n"
	"Options:\n"
	"      --verify  read every record and check every zstd checksum, count\n"
	"                and digest (without it: the header and trailer only)\n"
	"      --json    print one JSON object on stdout instead of text, also\n"
	"                when the file cannot be read (then with \"ok\": false)\n"
	"  -h, --help    show this help and exit\n";

enum { OPT_VERIFY = CMD_OPT_LONG_ONLY, OPT_JSON };

static const char shortopts[] = ":h";
static const struct option longopts[] = {
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "json",   no_argument, NULL, OPT_JSON },
	{ "help",   no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct inspect_opts {
	const char *path;
	int verify;
	int json;
};

/* "2023-11-14T22:13:20.123456Z"; nanoseconds are cut to microseconds,
 * the precision of PostgreSQL's timestamps. */
static void format_time(const struct kvm_timestamp *ts, char *buf, size_t size)
{
	time_t t = (time_t)ts->sec;
	struct tm tm;
	char date[64];

	if ((int64_t)t != ts->sec || gmtime_r(&t, &tm) == NULL ||
	    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, size, "%" PRId64 ".%09" PRIu32 " seconds after the epoch",
		         ts->sec, ts->nsec);
		return;
	}
	snprintf(buf, size, "%s.%06" PRIu32 "Z", date, ts->nsec / 1000);
}

static int digits(uint64_t v)
{
	int n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static void print_text(const struct inspect_opts *o,
                       const struct kvm_export_info *info)
{
	const struct kvm_export_header *h = &info->header;
	const struct kvm_export_trailer *t = &info->trailer;
	char when[96];
	int width = (int)strlen("package");
	int rwidth = (int)strlen("records"), bwidth = (int)strlen("bytes");

	format_time(&h->snapshot_time, when, sizeof(when));
	fputs("file:                   ", stdout);
	cmd_put_printable(stdout, strcmp(o->path, "-") == 0 ?
	                  "- (standard input)" : o->path);
	printf("\nsize:                   %" PRIu64 " bytes\n", info->file_bytes);
	printf("format version:         %" PRIu32 "\n", h->format_version);
	fputs("tool version:           ", stdout);
	cmd_put_printable(stdout, h->tool_version);
	printf("\nkv migration version:   %" PRId64 "\n", h->kv_migration_version);
	printf("source schema version:  %" PRId64 "\n", h->source_schema_version);
	fputs("source database:        ", stdout);
	cmd_put_printable(stdout, h->source_database);
	printf("\nsnapshot time:          %s\n", when);

	for (size_t i = 0; i < t->nsections; i++) {
		const struct kvm_export_section_info *s = &t->sections[i];
		int n = (int)strlen(s->package);

		if (n > width)
			width = n;
		if ((n = digits(s->records)) > rwidth)
			rwidth = n;
		if ((n = digits(s->bytes)) > bwidth)
			bwidth = n;
	}
	printf("\n%-*s  %*s  %*s  %s\n", width, "package", rwidth, "records",
	       bwidth, "bytes", "digest");
	for (size_t i = 0; i < t->nsections; i++) {
		const struct kvm_export_section_info *s = &t->sections[i];
		int pad = width - (int)strlen(s->package);

		cmd_put_printable(stdout, s->package);
		printf("%*s  %*" PRIu64 "  %*" PRIu64 "  %016" PRIx64 "\n",
		       pad, "", rwidth, s->records, bwidth, s->bytes, s->digest);
	}
	printf("\nrecords:                %" PRIu64 "\n", t->records);
	printf("bytes:                  %" PRIu64 " (decompressed, before the trailer)\n",
	       t->bytes);
	printf("file digest:            %016" PRIx64 "\n", t->digest);
	if (info->verified)
		printf("verified: yes (%" PRIu32 " zstd frames, every checksum and "
		       "digest checked)\n", info->frames);
	else
		fputs("verified: no (header and trailer only; use --verify to check "
		      "every record)\n", stdout);
}

static int print_json(const struct inspect_opts *o,
                      const struct kvm_export_info *info)
{
	const struct kvm_export_header *h = &info->header;
	const struct kvm_export_trailer *t = &info->trailer;
	struct kvm_json j;
	char when[96], hex[17];

	format_time(&h->snapshot_time, when, sizeof(when));
	kvm_json_init(&j, stdout);
	kvm_json_begin_object(&j);
	kvm_json_field_bool(&j, "ok", 1);
	kvm_json_field_string(&j, "file", o->path);
	kvm_json_field_uint64(&j, "file_bytes", info->file_bytes);
	kvm_json_field_uint64(&j, "format_version", h->format_version);
	kvm_json_field_string(&j, "tool_version", h->tool_version);
	kvm_json_field_int64(&j, "kv_migration_version", h->kv_migration_version);
	kvm_json_field_int64(&j, "source_schema_version", h->source_schema_version);
	kvm_json_field_string(&j, "source_database", h->source_database);
	kvm_json_field_string(&j, "snapshot_time", when);
	kvm_json_key(&j, "packages");
	kvm_json_begin_array(&j);
	for (size_t i = 0; i < t->nsections; i++) {
		const struct kvm_export_section_info *s = &t->sections[i];

		/* Digests are strings: a JSON number loses 64-bit precision
		 * in most decoders. */
		snprintf(hex, sizeof(hex), "%016" PRIx64, s->digest);
		kvm_json_begin_object(&j);
		kvm_json_field_string(&j, "name", s->package);
		kvm_json_field_uint64(&j, "records", s->records);
		kvm_json_field_uint64(&j, "bytes", s->bytes);
		kvm_json_field_string(&j, "digest", hex);
		kvm_json_end_object(&j);
	}
	kvm_json_end_array(&j);
	snprintf(hex, sizeof(hex), "%016" PRIx64, t->digest);
	kvm_json_field_uint64(&j, "records", t->records);
	kvm_json_field_uint64(&j, "bytes", t->bytes);
	kvm_json_field_string(&j, "digest", hex);
	kvm_json_field_bool(&j, "verified", info->verified);
	kvm_json_field_uint64(&j, "frames", info->frames);
	kvm_json_end_object(&j);
	return kvm_json_finish(&j);
}

static int print_json_error(const struct inspect_opts *o,
                            const struct kvm_error *err)
{
	struct kvm_json j;

	kvm_json_init(&j, stdout);
	kvm_json_begin_object(&j);
	kvm_json_field_bool(&j, "ok", 0);
	kvm_json_field_string(&j, "file", o->path);
	cmd_json_error(&j, err);
	kvm_json_end_object(&j);
	return kvm_json_finish(&j);
}

/* A JSON writer that was misused is a bug here; a write error is
 * reported by main(), which checks stdout before exiting. */
static int json_status(int rc)
{
	if (rc < 0)
		return cmd_error(KVM_EXIT_FAILURE, "internal error: JSON output "
		                 "out of order (%s)", kvm_strerror(rc));
	return KVM_EXIT_OK;
}

int cmd_inspect(int argc, char **argv)
{
	struct inspect_opts o = { .path = NULL };
	struct kvm_export_info *info = NULL;
	struct kvm_error err = { .code = 0 };
	int c, help = 0, rc;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case OPT_VERIFY:
			o.verify = 1;
			break;
		case OPT_JSON:
			o.json = 1;
			break;
		case 'h':
			help = 1;
			break;
		default:
			return cmd_option_error(c, argv, shortopts, longopts,
			                        cmd_inspect_usage);
		}
	}
	if (help)
		return cmd_show_help(cmd_inspect_usage, help_body);
	if (optind == argc)
		return cmd_usage_error(cmd_inspect_usage, "missing the FILE argument");
	if (argc - optind > 1)
		return cmd_usage_error(cmd_inspect_usage, "unexpected argument '%s'",
		                       argv[optind + 1]);
	o.path = argv[optind];

	rc = kvm_export_inspect(o.path, o.verify, NULL, &info, &err);
	if (rc != 0) {
		if (err.code == 0)
			err.code = rc;
		if (o.json)
			json_status(print_json_error(&o, &err));
		rc = cmd_fail(&err, KVM_EXIT_FAILURE, NULL);
		goto cleanup;
	}
	if (o.json) {
		rc = json_status(print_json(&o, info));
	} else {
		print_text(&o, info);
		rc = KVM_EXIT_OK;
	}
cleanup:
	kvm_export_info_free(info);
	return rc;
}
