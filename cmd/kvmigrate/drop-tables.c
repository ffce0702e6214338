/*
 * drop-tables.c - kvmigrate drop-tables: finish a migration whose drop of
 * the old tables failed after the version bump.  Idempotent.  SIGINT,
 * SIGTERM and SIGHUP cancel the DROP (in the server too, where it waits
 * for a table); nothing is dropped.
 */
#include <stdio.h>

#include "kvm/migrate.h"
#include "cmd.h"

const char cmd_drop_tables_usage[] =
	"kvmigrate drop-tables [--db CONNINFO] [--lock-wait SECONDS] [--schema-dir DIR]";

static const char help_body[] =
	"Drop the old tables of a finished KV migration, in one transaction.\n"
	"Refuses unless the schema version is the KV migration version.  Running\n"
	"it again once they are gone does nothing and succeeds.  SIGINT, SIGTERM\n"
	"and SIGHUP cancel the drop, in the server too: nothing is dropped\n"
	"(status 1).\n"
	"\n"
	"Options:\n"
	CMD_HELP_DB
	CMD_HELP_LOCK_WAIT
	CMD_HELP_SCHEMA_DIR
	CMD_HELP_HELP;

enum { OPT_DB = CMD_OPT_LONG_ONLY, OPT_LOCK_WAIT, OPT_SCHEMA_DIR };

static const char shortopts[] = ":h";
static const struct option longopts[] = {
	{ "db",   required_argument, NULL, OPT_DB },
	{ "lock-wait", required_argument, NULL, OPT_LOCK_WAIT },
	{ "schema-dir", required_argument, NULL, OPT_SCHEMA_DIR },
	{ "help", no_argument,       NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct drop_tables_opts {
	const char *db;          /* NULL: libpq's PG* variables */
	uint64_t lock_wait;      /* seconds */
	const char *schema_dir;  /* NULL: the built-in versions */
	unsigned connect_retry_ms;
};

static int run(const struct drop_tables_opts *o)
{
	struct kvm_drop_opts d = KVM_DROP_OPTS_INIT;
	struct kvm_error err = { 0 };
	size_t dropped;

	d.conninfo = o->db;
	d.connect_retry_ms = o->connect_retry_ms;
	d.lock_wait_s = (unsigned)o->lock_wait;
	d.schema_dir = o->schema_dir;
	d.cancel = cmd_catch_interrupts();
	d.on_event = cmd_print_wait_event;
	switch (kvm_drop_tables(&d, &dropped, &err)) {
	case 0:
		if (dropped > 0)
			fprintf(stderr, "dropped the %zu old tables\n", dropped);
		else
			fprintf(stderr, "the old tables are gone already; nothing to "
			        "do\n");
		return KVM_EXIT_OK;
	case KVM_ELOCKED:
		return cmd_fail(&err, KVM_EXIT_LOCKED, "another migration run holds "
		                "the lock; nothing was dropped");
	case KVM_ECANCELED:
		return cmd_fail(&err, KVM_EXIT_FAILURE, "stopped by a signal; "
		                "nothing was dropped (one transaction)");
	case KVM_EDROP:
		return cmd_fail(&err, KVM_EXIT_FOLLOWUP, "nothing was dropped (one "
		                "transaction); the KV store is live.  Fix the cause "
		                "(a view or another session using the tables?), then "
		                "run 'kvmigrate drop-tables' again");
	default:
		return cmd_fail(&err, KVM_EXIT_FAILURE, "nothing was dropped");
	}
}

int cmd_drop_tables(int argc, char **argv)
{
	struct drop_tables_opts o = { .db = NULL, .lock_wait = 10 };
	int c, help = 0, rc;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case OPT_DB:
			o.db = optarg;
			break;
		case OPT_SCHEMA_DIR:
			o.schema_dir = optarg;
			break;
		case OPT_LOCK_WAIT:
			if ((rc = cmd_parse_uint("--lock-wait", optarg, 0, 86400,
			                         &o.lock_wait,
			                         cmd_drop_tables_usage)) != 0)
				return rc;
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
	if ((rc = cmd_env_connect_retry(&o.connect_retry_ms,
	                                cmd_drop_tables_usage)) != 0)
		return rc;

	return run(&o);
}
