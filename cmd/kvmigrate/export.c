/*
 * export.c - kvmigrate export: write an export file from the database.
 *
 * Reads the tables of every registered package (or of the --package ones)
 * inside one read-only snapshot and writes an export file; changes
 * nothing in the database.
 *
 * SIGINT and SIGTERM stop the export: the engine notices the flag, removes
 * its temporary file and fails; nothing is left under FILE.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/export.h"
#include "kvm/migrate.h"
#include "clock.h"
#include "cmd.h"
#include "json.h"
#include "metrics.h"

const char cmd_export_usage[] =
	"kvmigrate export -o FILE [--package NAME]... [--jobs N] [--db CONNINFO] "
	"[--schema-dir DIR] [-q] [--[no-]progress] [--json] [--metrics-file FILE]";

static const char help_body[] =
	"Write an export file of the current database, read from one\n"
	"consistent snapshot; the database is not changed.  The file is written\n"
	"under a temporary name and renamed to FILE once complete (mode 0600:\n"
	"it holds credentials as they were stored).  FILE \"-\" writes to\n"
	"standard output.\n"
	"\n"
	"Options:\n"
	"  -o, --output FILE        the export file to write (required)\n"
	"      --package NAME       export only package NAME (repeatable; default:\n"
	"                           every registered package, in registry order)\n"
	"      --jobs N             read the tables with N workers sharing one\n"
	"                           snapshot (1 to 64; default: the number of\n"
	"                           cores, at most 8)\n"
	CMD_HELP_DB
	CMD_HELP_SCHEMA_DIR
	CMD_HELP_UI
	CMD_HELP_HELP
	"\n"
	"The database must be at the last SQL version (see 'kvmigrate status'):\n"
	"the last of --schema-dir DIR when the database was built from DIR's\n"
	"versions; the file's header then gives DIR's last version plus one as\n"
	"the KV migration version.\n"
	"The file is read back and checked before success is reported.  A summary\n"
	"goes to standard error: per package its records, their uncompressed\n"
	"bytes and the seconds it took.  Rows that cannot become KV entries (a\n"
	"membership naming a missing user, a key longer than the 64 KiB an export\n"
	"file holds) stop the export with a message naming the table and the\n"
	"row.  A key longer than LMDB's 511 bytes is written: the import into\n"
	"LMDB refuses it, naming its partition and key.\n";

#define EXPORT_MAX_JOBS KVM_EXPORT_MAX_JOBS

enum { OPT_PACKAGE = CMD_OPT_LONG_ONLY, OPT_JOBS, OPT_DB, OPT_SCHEMA_DIR };

static const char shortopts[] = ":o:hq";
static const struct option longopts[] = {
	{ "output",  required_argument, NULL, 'o' },
	{ "package", required_argument, NULL, OPT_PACKAGE },
	{ "jobs",    required_argument, NULL, OPT_JOBS },
	{ "db",      required_argument, NULL, OPT_DB },
	{ "schema-dir", required_argument, NULL, OPT_SCHEMA_DIR },
	CMD_UI_LONGOPTS,
	{ "help",    no_argument,       NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct export_opts {
	const char *output;
	/* Point into argv; none means every registered package. */
	const char *packages[KVM_EXPORT_MAX_PACKAGES];
	size_t npackages;
	uint64_t jobs;
	const char *db;          /* NULL: libpq's PG* variables */
	const char *schema_dir;  /* NULL: the built-in schema versions */
	unsigned connect_retry_ms;
	struct cmd_ui ui;
};

static void print_summary(const struct export_opts *o,
                          const struct kvm_export_db_result *r)
{
	fprintf(stderr, "exported %s at schema version %" PRId64 " with %u "
	        "job%s:\n", r->target, r->source_version, r->jobs,
	        r->jobs == 1 ? "" : "s");
	for (size_t i = 0; i < r->npackages; i++) {
		const struct kvm_export_db_package *p = &r->packages[i];

		fprintf(stderr, "  %-12s %10" PRIu64 " records %13" PRIu64 " bytes "
		        "%8.2f s\n", p->name, p->records, p->bytes, p->ms / 1000.0);
	}
	fprintf(stderr, "wrote %s: %" PRIu64 " records, %" PRIu64 " bytes "
	        "(%" PRIu64 " compressed) in %.2f s; %s, digest %016" PRIx64 "\n",
	        strcmp(o->output, "-") == 0 ? "standard output" : o->output,
	        r->records, r->raw_bytes, r->file_bytes, r->ms / 1000.0,
	        r->verified ? "read back and verified" : "not read back (a "
	        "stream)", r->digest);
}

static int report_failure(struct export_opts *o, const struct kvm_error *err)
{
	char hint[512];

	switch (err->code) {
	case KVM_ECANCELED:
		return cmd_ui_fail(&o->ui, err, KVM_EXIT_FAILURE, "stopped by a signal; no "
		                "file was written and the database was not changed");
	case KVM_EINVAL:
		return cmd_ui_fail(&o->ui, err, KVM_EXIT_USAGE, NULL);
	case KVM_EUNKNOWNVERSION:
		return cmd_ui_fail(&o->ui, err, KVM_EXIT_FAILURE, "no file was written; "
		                "'kvmigrate status' shows the database's state");
	case KVM_ECONNECT:
		return cmd_ui_fail(&o->ui, err, KVM_EXIT_FAILURE, "no file was written.  The "
		                "database comes from --db, else KVMIGRATE_DB, else "
		                "libpq's PG* variables");
	default:
		snprintf(hint, sizeof(hint), "no file was written under '%s' and "
		         "the database was not changed", o->output);
		return cmd_ui_fail(&o->ui, err, KVM_EXIT_FAILURE, hint);
	}
}

static int print_json(const struct export_opts *o,
                      const struct kvm_export_db_result *r,
                      const struct kvm_error *err, int failed)
{
	struct kvm_json j;
	char digest[24];

	kvm_json_init(&j, stdout);
	kvm_json_begin_object(&j);
	if (failed) {
		cmd_json_failure(&j, &o->ui, "export", "export", err, 0);
	} else {
		cmd_json_success(&j, &o->ui, "export", 0);
	}
	kvm_json_field_string(&j, "database", r->target);
	kvm_json_field_string(&j, "output", o->output);
	if (!failed) {
		snprintf(digest, sizeof(digest), "%016" PRIx64, r->digest);
		kvm_json_field_int64(&j, "source_version", r->source_version);
		kvm_json_field_int64(&j, "kv_version", r->kv_version);
		kvm_json_field_uint64(&j, "jobs", r->jobs);
		kvm_json_field_uint64(&j, "records", r->records);
		kvm_json_field_uint64(&j, "raw_bytes", r->raw_bytes);
		kvm_json_field_uint64(&j, "file_bytes", r->file_bytes);
		kvm_json_field_string(&j, "digest", digest);
		kvm_json_field_bool(&j, "verified", r->verified);
		kvm_json_key(&j, "packages");
		kvm_json_begin_array(&j);
		for (size_t i = 0; i < r->npackages; i++) {
			char d[24];

			snprintf(d, sizeof(d), "%016" PRIx64, r->packages[i].digest);
			kvm_json_begin_object(&j);
			kvm_json_field_string(&j, "name", r->packages[i].name);
			kvm_json_field_uint64(&j, "rows", r->packages[i].rows);
			kvm_json_field_uint64(&j, "records", r->packages[i].records);
			kvm_json_field_uint64(&j, "bytes", r->packages[i].bytes);
			kvm_json_field_string(&j, "digest", d);
			kvm_json_field_double(&j, "seconds", r->packages[i].ms / 1000.0);
			kvm_json_end_object(&j);
		}
		kvm_json_end_array(&j);
	}
	kvm_json_end_object(&j);
	return kvm_json_finish(&j);
}

static int run(struct export_opts *o)
{
	struct kvm_export_db_opts eo = KVM_EXPORT_DB_OPTS_INIT;
	struct kvm_export_db_result *r;
	struct kvm_error err = { 0 };
	int rc = KVM_EXIT_OK, failed;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return cmd_error(KVM_EXIT_FAILURE, "out of memory");
	cmd_ui_start(&o->ui);
	eo.conninfo = o->db;
	eo.connect_retry_ms = o->connect_retry_ms;
	eo.output = o->output;
	eo.packages = o->packages;
	eo.npackages = o->npackages;
	eo.jobs = (unsigned)o->jobs;
	eo.schema_dir = o->schema_dir;
	eo.cancel = cmd_catch_interrupts();
	eo.on_event = cmd_ui_event;
	eo.event_ctx = &o->ui;
	failed = kvm_export_db(&eo, r, &err) != 0;
	if (failed)
		rc = report_failure(o, &err);
	else if (!o->ui.quiet)
		print_summary(o, r);
	if (o->ui.metrics_file != NULL) {
		struct cmd_metrics m = { .command = "export", .phase = "export" };

		m.has_version = r->source_version > 0;
		m.version = (uint64_t)r->source_version;
		m.records = r->records;
		m.bytes = r->file_bytes;
		m.npackages = failed ? 0 : r->npackages;
		m.packages = r->packages;
		cmd_ui_write_metrics(&o->ui, &m, !failed);
	}
	if (o->ui.json && print_json(o, r, &err, failed) != 0 && rc == KVM_EXIT_OK)
		rc = KVM_EXIT_FAILURE;
	kvm_export_db_result_release(r);
	free(r);
	return rc;
}

static int add_package(struct export_opts *o, const char *name)
{
	if (!cmd_valid_package_name(name))
		return cmd_usage_error(cmd_export_usage, "invalid package name '%s': "
		                       "expected 1 to 64 of a-z, 0-9, '_' and '-'",
		                       name);
	for (size_t i = 0; i < o->npackages; i++)
		if (strcmp(o->packages[i], name) == 0)
			return cmd_usage_error(cmd_export_usage,
			                       "package '%s' given twice", name);
	if (o->npackages == KVM_EXPORT_MAX_PACKAGES)
		return cmd_usage_error(cmd_export_usage, "more than %d packages given",
		                       KVM_EXPORT_MAX_PACKAGES);
	o->packages[o->npackages++] = name;
	return 0;
}

int cmd_export(int argc, char **argv)
{
	struct export_opts o = { .jobs = 0 };  /* 0: by cores */
	int c, help = 0, rc;

	cmd_ui_init(&o.ui);

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (o.output != NULL)
				return cmd_usage_error(cmd_export_usage,
				                       "option '-o' given twice");
			o.output = optarg;
			break;
		case OPT_PACKAGE:
			if ((rc = add_package(&o, optarg)) != 0)
				return rc;
			break;
		case OPT_JOBS:
			if ((rc = cmd_parse_uint("--jobs", optarg, 1, EXPORT_MAX_JOBS,
			                         &o.jobs, cmd_export_usage)) != 0)
				return rc;
			break;
		case OPT_DB:
			o.db = optarg;
			break;
		case OPT_SCHEMA_DIR:
			o.schema_dir = optarg;
			break;
		case 'h':
			help = 1;
			break;
		default:
			if (cmd_ui_option(&o.ui, c, optarg))
				break;
			return cmd_option_error(c, argv, shortopts, longopts,
			                        cmd_export_usage);
		}
	}
	if ((rc = cmd_options_end(help, cmd_export_usage, help_body, argc, argv)) >= 0)
		return rc;
	if (o.output == NULL)
		return cmd_usage_error(cmd_export_usage, "missing the output file: "
		                       "use -o FILE");
	if (o.ui.json && strcmp(o.output, "-") == 0)
		return cmd_usage_error(cmd_export_usage, "--json and '-o -' both "
		                       "need standard output: write the export to "
		                       "a file");
	if (o.db == NULL)
		o.db = cmd_getenv("KVMIGRATE_DB");
	if ((rc = cmd_env_connect_retry(&o.connect_retry_ms,
	                                cmd_export_usage)) != 0)
		return rc;

	return run(&o);
}
