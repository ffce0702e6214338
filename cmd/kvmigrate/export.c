/*
 * export.c - kvmigrate export: write an export file from the database.
 *
 * Reads the tables of every registered package (or of the --package ones)
 * inside one read-only snapshot and writes an export file; changes
 * nothing in the database.
 *
 * This version parses and checks the options and builds the options
 * struct; the engine entry point does not exist yet.
 */
#include <stdio.h>
#include <string.h>

#include "kvm/export.h"
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
	CMD_HELP_NOT_IMPLEMENTED("export");

/* As in up.c: a worker is a database connection. */
#define EXPORT_MAX_JOBS 64

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
};

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

	return cmd_not_implemented("export");
}
