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
#include "cmd.h"

const char cmd_export_usage[] =
	"kvmigrate export -o FILE [--package NAME]... [--jobs N] [--db CONNINFO]";

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
	CMD_HELP_HELP
	"\n"
	"The database must be at the last SQL version (see 'kvmigrate status').\n"
	"The file is read back and checked before success is reported.  A summary\n"
	"goes to standard error: per package its records, their uncompressed\n"
	"bytes and the seconds it took.  Rows that cannot become KV entries (a key\n"
	"longer than LMDB allows, a membership naming a missing user) stop the\n"
	"export with a message naming the table and the row.\n";

#define EXPORT_MAX_JOBS KVM_EXPORT_MAX_JOBS

enum { OPT_PACKAGE = CMD_OPT_LONG_ONLY, OPT_JOBS, OPT_DB };

static const char shortopts[] = ":o:h";
static const struct option longopts[] = {
	{ "output",  required_argument, NULL, 'o' },
	{ "package", required_argument, NULL, OPT_PACKAGE },
	{ "jobs",    required_argument, NULL, OPT_JOBS },
	{ "db",      required_argument, NULL, OPT_DB },
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
	unsigned connect_retry_ms;
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

static int report_failure(const struct export_opts *o, const struct kvm_error *err)
{
	char hint[512];

	switch (err->code) {
	case KVM_ECANCELED:
		return cmd_fail(err, KVM_EXIT_FAILURE, "stopped by a signal; no "
		                "file was written and the database was not changed");
	case KVM_EINVAL:
		return cmd_fail(err, KVM_EXIT_USAGE, NULL);
	case KVM_EUNKNOWNVERSION:
		return cmd_fail(err, KVM_EXIT_FAILURE, "no file was written; "
		                "'kvmigrate status' shows the database's state");
	case KVM_ECONNECT:
		return cmd_fail(err, KVM_EXIT_FAILURE, "no file was written.  The "
		                "database comes from --db, else KVMIGRATE_DB, else "
		                "libpq's PG* variables");
	default:
		snprintf(hint, sizeof(hint), "no file was written under '%s' and "
		         "the database was not changed", o->output);
		return cmd_fail(err, KVM_EXIT_FAILURE, hint);
	}
}

static int run(const struct export_opts *o)
{
	struct kvm_export_db_opts eo = KVM_EXPORT_DB_OPTS_INIT;
	struct kvm_export_db_result *r;
	struct kvm_error err = { 0 };
	int rc;

	/* Large (one entry per possible package): not on the stack. */
	if ((r = malloc(sizeof(*r))) == NULL)
		return cmd_error(KVM_EXIT_FAILURE, "out of memory");
	eo.conninfo = o->db;
	eo.connect_retry_ms = o->connect_retry_ms;
	eo.output = o->output;
	eo.packages = o->packages;
	eo.npackages = o->npackages;
	eo.jobs = (unsigned)o->jobs;
	eo.cancel = cmd_catch_interrupts();
	eo.on_event = cmd_print_wait_event;
	if (kvm_export_db(&eo, r, &err) != 0)
		rc = report_failure(o, &err);
	else {
		print_summary(o, r);
		rc = KVM_EXIT_OK;
	}
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
		case 'h':
			help = 1;
			break;
		default:
			return cmd_option_error(c, argv, shortopts, longopts,
			                        cmd_export_usage);
		}
	}
	if ((rc = cmd_options_end(help, cmd_export_usage, help_body, argc, argv)) >= 0)
		return rc;
	if (o.output == NULL)
		return cmd_usage_error(cmd_export_usage, "missing the output file: "
		                       "use -o FILE");
	if (o.db == NULL)
		o.db = cmd_getenv("KVMIGRATE_DB");
	if ((rc = cmd_env_connect_retry(&o.connect_retry_ms,
	                                cmd_export_usage)) != 0)
		return rc;

	return run(&o);
}
