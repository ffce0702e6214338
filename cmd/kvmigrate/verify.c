/*
 * verify.c - kvmigrate verify: compare the KV store with its sources.
 *
 * Compares the KV store with the source tables (while they exist) and,
 * with --export, with an export file; a difference is exit status 5.
 *
 * This version parses and checks the options and builds the options
 * struct; the engine entry point does not exist yet.
 */
#include <stdio.h>

#include "cmd.h"

const char cmd_verify_usage[] = "kvmigrate verify [--kv PATH] [--export FILE] [--db CONNINFO]";

static const char help_body[] =
	"Compare the KV store with the source tables, while they exist, and with\n"
	"an export file.  Exits with status 5 when they differ, naming the first\n"
	"differences.  Changes nothing.\n"
	"\n"
	"Options:\n"
	CMD_HELP_KV
	"      --export FILE        also compare with the export file FILE (\"-\"\n"
	"                           reads standard input)\n"
	CMD_HELP_DB
	CMD_HELP_HELP
	CMD_HELP_NOT_IMPLEMENTED("verify");

enum { OPT_KV = CMD_OPT_LONG_ONLY, OPT_EXPORT, OPT_DB };

static const char shortopts[] = ":h";
static const struct option longopts[] = {
	{ "kv",     required_argument, NULL, OPT_KV },
	{ "export", required_argument, NULL, OPT_EXPORT },
	{ "db",     required_argument, NULL, OPT_DB },
	{ "help",   no_argument,       NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct verify_opts {
	const char *kv;
	const char *export_path; /* NULL: compare with the tables only */
	const char *db;          /* NULL: libpq's PG* variables */
};

int cmd_verify(int argc, char **argv)
{
	struct verify_opts o = { .kv = NULL };
	int c, help = 0, rc;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case OPT_KV:
			o.kv = optarg;
			break;
		case OPT_EXPORT:
			o.export_path = optarg;
			break;
		case OPT_DB:
			o.db = optarg;
			break;
		case 'h':
			help = 1;
			break;
		default:
			return cmd_option_error(c, argv, shortopts, longopts,
			                        cmd_verify_usage);
		}
	}
	if ((rc = cmd_options_end(help, cmd_verify_usage, help_body, argc, argv)) >= 0)
		return rc;
	if (o.db == NULL)
		o.db = cmd_getenv("KVMIGRATE_DB");
	if (o.kv == NULL)
		o.kv = cmd_getenv("KVMIGRATE_KV");
	if (o.kv == NULL)
		return cmd_usage_error(cmd_verify_usage, "missing the KV store: "
		                       "use --kv PATH or set KVMIGRATE_KV");

	return cmd_not_implemented("verify");
}
