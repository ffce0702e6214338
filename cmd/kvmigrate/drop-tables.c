/*
 * drop-tables.c - kvmigrate drop-tables: finish a migration whose drop of
 * the old tables failed after the version bump.  Idempotent.
 *
 * This version parses and checks the options and builds the options
 * struct; the engine entry point does not exist yet.
 */
#include <stdio.h>

#include "cmd.h"

const char cmd_drop_tables_usage[] = "kvmigrate drop-tables [--db CONNINFO]";

static const char help_body[] =
	"Drop the old tables of a finished KV migration, in one transaction.\n"
	"Refuses unless the schema version is the KV migration version.  Running\n"
	"it again once they are gone does nothing and succeeds.\n"
	"\n"
	"Options:\n"
	CMD_HELP_DB
	CMD_HELP_HELP
	CMD_HELP_NOT_IMPLEMENTED("drop-tables");

enum { OPT_DB = CMD_OPT_LONG_ONLY };

static const char shortopts[] = ":h";
static const struct option longopts[] = {
	{ "db",   required_argument, NULL, OPT_DB },
	{ "help", no_argument,       NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct drop_tables_opts {
	const char *db;          /* NULL: libpq's PG* variables */
};

int cmd_drop_tables(int argc, char **argv)
{
	struct drop_tables_opts o = { .db = NULL };
	int c, help = 0, rc;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case OPT_DB:
			o.db = optarg;
			break;
		case 'h':
			help = 1;
			break;
		default:
			return cmd_option_error(c, argv, shortopts, longopts,
			                        cmd_drop_tables_usage);
		}
	}
	if ((rc = cmd_options_end(help, cmd_drop_tables_usage, help_body, argc,
	                          argv)) >= 0)
		return rc;
	if (o.db == NULL)
		o.db = cmd_getenv("KVMIGRATE_DB");

	return cmd_not_implemented("drop-tables");
}
