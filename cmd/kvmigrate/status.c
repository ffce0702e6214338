/*
 * status.c - kvmigrate status: where the migration stands.
 *
 * Reports the SQL schema version, the migration phase, the KV flag, the
 * KV store and its recorded version, leftovers, and the next action.
 *
 * This version parses and checks the options and builds the options
 * struct; the engine entry point does not exist yet.
 */
#include <stdio.h>

#include "cmd.h"

const char cmd_status_usage[] = "kvmigrate status [--json] [--db CONNINFO] [--kv PATH]";

static const char help_body[] =
	"Show the SQL schema version, whether a migration is in progress, the\n"
	"KV flag, whether the KV store exists and the version it records, any\n"
	"leftovers (temporary files, old tables), and the next action to take.\n"
	"Changes nothing.\n"
	"\n"
	"Options:\n"
	"      --json               print one JSON object on stdout instead of text\n"
	CMD_HELP_DB
	CMD_HELP_KV
	CMD_HELP_HELP
	CMD_HELP_NOT_IMPLEMENTED("status");

enum { OPT_JSON = CMD_OPT_LONG_ONLY, OPT_DB, OPT_KV };

static const char shortopts[] = ":h";
static const struct option longopts[] = {
	{ "json", no_argument,       NULL, OPT_JSON },
	{ "db",   required_argument, NULL, OPT_DB },
	{ "kv",   required_argument, NULL, OPT_KV },
	{ "help", no_argument,       NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct status_opts {
	int json;
	const char *db;          /* NULL: libpq's PG* variables */
	const char *kv;          /* NULL: no KV store to look at */
	int kv_enabled;
};

int cmd_status(int argc, char **argv)
{
	struct status_opts o = { .json = 0 };
	int c, help = 0, rc;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			o.json = 1;
			break;
		case OPT_DB:
			o.db = optarg;
			break;
		case OPT_KV:
			o.kv = optarg;
			break;
		case 'h':
			help = 1;
			break;
		default:
			return cmd_option_error(c, argv, shortopts, longopts,
			                        cmd_status_usage);
		}
	}
	if ((rc = cmd_options_end(help, cmd_status_usage, help_body, argc, argv)) >= 0)
		return rc;
	/* status reports the KV flag as the environment sets it */
	if ((rc = cmd_env_kv_enabled(&o.kv_enabled, cmd_status_usage)) != 0)
		return rc;
	if (o.db == NULL)
		o.db = cmd_getenv("KVMIGRATE_DB");
	if (o.kv == NULL)
		o.kv = cmd_getenv("KVMIGRATE_KV");

	return cmd_not_implemented("status");
}
