/*
 * up.c - kvmigrate up: the upgrade (design.md, "The flow of up").
 *
 * Brings the SQL schema up to its last SQL version; with the KV flag it
 * then exports the old tables, imports the export into the KV store,
 * bumps the schema version to the KV migration version and, with
 * --drop-tables, drops the old tables.
 *
 * This version parses and checks the options and builds the options
 * struct; the engine entry point does not exist yet.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

const char cmd_up_usage[] =
	"kvmigrate up [--kv-enabled] [--drop-tables] [--dry-run] [--jobs N] "
	"[--keep-export FILE] [--db CONNINFO] [--kv PATH] [--lock-wait SECONDS] "
	"[--schema-dir DIR]";

static const char help_body[] =
	"Apply the pending SQL schema versions.  With the KV flag, then move the\n"
	"metadata of the old tables into the KV store: export them from one\n"
	"snapshot, import the export, bump the schema version to the KV\n"
	"migration version and, with --drop-tables, drop the old tables.\n"
	"A failure before the bump leaves the tables and any previous KV store\n"
	"as they were; the next run starts the KV migration again.\n"
	"\n"
	"Options:\n"
	"      --kv-enabled         run the KV migration (also with\n"
	"                           KVMIGRATE_KV_ENABLED=1); needs --kv\n"
	"      --drop-tables        drop the old tables once the KV store is in\n"
	"                           place (needs the KV flag)\n"
	"      --dry-run            show what would be done and change nothing\n"
	"      --jobs N             read the old tables with N workers sharing one\n"
	"                           snapshot (1 to 64; default: the number of\n"
	"                           cores, at most 8)\n"
	"      --keep-export FILE   keep the export file at FILE (needs the KV\n"
	"                           flag; by default it is removed after import)\n"
	CMD_HELP_DB
	CMD_HELP_KV
	"      --lock-wait SECONDS  wait up to SECONDS for the migration lock held\n"
	"                           by another run, then fail naming the holder\n"
	"                           (0 to 86400; default 10)\n"
	"      --schema-dir DIR     read the SQL schema versions from DIR instead\n"
	"                           of those built into kvmigrate\n"
	CMD_HELP_HELP
	CMD_HELP_NOT_IMPLEMENTED("up");

/* Bounds of the numeric options: a worker is a database connection, and a
 * lock wait longer than a day is a mistake in a script. */
#define UP_MAX_JOBS      64
#define UP_MAX_LOCK_WAIT 86400

enum {
	OPT_KV_ENABLED = CMD_OPT_LONG_ONLY, OPT_DROP_TABLES, OPT_DRY_RUN,
	OPT_JOBS, OPT_KEEP_EXPORT, OPT_DB, OPT_KV, OPT_LOCK_WAIT, OPT_SCHEMA_DIR,
};

static const char shortopts[] = ":h";
static const struct option longopts[] = {
	{ "kv-enabled",  no_argument,       NULL, OPT_KV_ENABLED },
	{ "drop-tables", no_argument,       NULL, OPT_DROP_TABLES },
	{ "dry-run",     no_argument,       NULL, OPT_DRY_RUN },
	{ "jobs",        required_argument, NULL, OPT_JOBS },
	{ "keep-export", required_argument, NULL, OPT_KEEP_EXPORT },
	{ "db",          required_argument, NULL, OPT_DB },
	{ "kv",          required_argument, NULL, OPT_KV },
	{ "lock-wait",   required_argument, NULL, OPT_LOCK_WAIT },
	{ "schema-dir",  required_argument, NULL, OPT_SCHEMA_DIR },
	{ "help",        no_argument,       NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct up_opts {
	const char *db;          /* NULL: libpq's PG* variables */
	const char *kv;
	int kv_enabled;
	int drop_tables;
	int dry_run;
	uint64_t jobs;
	const char *keep_export; /* NULL: remove the export after import */
	uint64_t lock_wait;      /* seconds */
	const char *schema_dir;  /* NULL: the built-in schema versions */
};

int cmd_up(int argc, char **argv)
{
	struct up_opts o = { .jobs = 0, .lock_wait = 10 };  /* jobs 0: by cores */
	int c, help = 0, rc;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case OPT_KV_ENABLED:
			o.kv_enabled = 1;
			break;
		case OPT_DROP_TABLES:
			o.drop_tables = 1;
			break;
		case OPT_DRY_RUN:
			o.dry_run = 1;
			break;
		case OPT_JOBS:
			if ((rc = cmd_parse_uint("--jobs", optarg, 1, UP_MAX_JOBS,
			                         &o.jobs, cmd_up_usage)) != 0)
				return rc;
			break;
		case OPT_KEEP_EXPORT:
			o.keep_export = optarg;
			break;
		case OPT_DB:
			o.db = optarg;
			break;
		case OPT_KV:
			o.kv = optarg;
			break;
		case OPT_LOCK_WAIT:
			if ((rc = cmd_parse_uint("--lock-wait", optarg, 0,
			                         UP_MAX_LOCK_WAIT, &o.lock_wait,
			                         cmd_up_usage)) != 0)
				return rc;
			break;
		case OPT_SCHEMA_DIR:
			o.schema_dir = optarg;
			break;
		case 'h':
			help = 1;
			break;
		default:
			return cmd_option_error(c, argv, shortopts, longopts,
			                        cmd_up_usage);
		}
	}
	if ((rc = cmd_options_end(help, cmd_up_usage, help_body, argc, argv)) >= 0)
		return rc;
	if (!o.kv_enabled && (rc = cmd_env_kv_enabled(&o.kv_enabled,
	                                              cmd_up_usage)) != 0)
		return rc;
	if (o.db == NULL)
		o.db = cmd_getenv("KVMIGRATE_DB");
	if (o.kv == NULL)
		o.kv = cmd_getenv("KVMIGRATE_KV");

	if (!o.kv_enabled && o.drop_tables)
		return cmd_usage_error(cmd_up_usage, "--drop-tables needs the KV flag "
		                       "(--kv-enabled or KVMIGRATE_KV_ENABLED=1)");
	if (!o.kv_enabled && o.keep_export != NULL)
		return cmd_usage_error(cmd_up_usage, "--keep-export needs the KV flag "
		                       "(--kv-enabled or KVMIGRATE_KV_ENABLED=1)");
	if (o.keep_export != NULL && strcmp(o.keep_export, "-") == 0)
		return cmd_usage_error(cmd_up_usage, "--keep-export needs a file "
		                       "name, not '-'");
	if (o.kv_enabled && o.kv == NULL)
		return cmd_usage_error(cmd_up_usage, "the KV migration needs a KV "
		                       "store: use --kv PATH or set KVMIGRATE_KV");

	return cmd_not_implemented("up");
}
