/*
 * verify.c - kvmigrate verify: compare the KV store with its sources.
 *
 * Compares the KV store with the source tables (while they exist) and,
 * with --export, with an export file; a difference is exit status 5.
 *
 * The report goes to stdout: one line per comparison, and one line per
 * difference named.  Errors go to stderr.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "kvm/migrate.h"
#include "cmd.h"

const char cmd_verify_usage[] = "kvmigrate verify [--kv PATH] [--export FILE] [--db CONNINFO]";

static const char help_body[] =
	"Compare the KV store with the source tables, while they exist, and with\n"
	"an export file.  Every source record is looked up in the store (missing,\n"
	"different), and the store's entries are counted per partition (extra).\n"
	"The tables are read through a fresh export beside the store, removed\n"
	"afterwards.  Exits with status 5 when they differ, naming the first\n"
	"differences by partition and key.  Changes nothing.\n"
	"\n"
	"Options:\n"
	CMD_HELP_KV
	"      --export FILE        also compare with the export file FILE (\"-\"\n"
	"                           reads standard input)\n"
	CMD_HELP_DB
	CMD_HELP_HELP;

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
	unsigned connect_retry_ms;
};

static int run(const struct verify_opts *o)
{
	struct kvm_verify_opts vo = { 0 };
	struct kvm_verify_result *r = malloc(sizeof(*r));
	struct kvm_error err = { 0 };
	int rc;

	if (r == NULL)
		return cmd_error(KVM_EXIT_FAILURE, "out of memory");
	vo.conninfo = o->db;
	vo.connect_retry_ms = o->connect_retry_ms;
	vo.kv_path = o->kv;
	vo.export_path = o->export_path;
	vo.tables = 1;
	rc = kvm_verify(&vo, r, &err);
	if (rc != 0 && rc != KVM_EMISMATCH) {
		free(r);
		return cmd_fail(&err, KVM_EXIT_FAILURE, "nothing was changed");
	}
	if (r->export_checked)
		printf("compared with the export %s\n", o->export_path);
	if (r->tables_checked)
		printf("compared with the old tables: %" PRIu64 " records, %" PRIu64
		       " entries in the store\n", r->records, r->store_entries);
	else if (r->tables_gone)
		printf("the old tables are gone: not compared with them\n");
	for (size_t i = 0; i < r->ndiffs; i++)
		printf("%s: partition '%s'%s%s%s: %s\n", r->diffs[i].what,
		       r->diffs[i].partition, r->diffs[i].key[0] ? " key '" : "",
		       r->diffs[i].key, r->diffs[i].key[0] ? "'" : "",
		       r->diffs[i].detail);
	if (r->differences > r->ndiffs)
		printf("... and %" PRIu64 " more\n", r->differences - r->ndiffs);
	printf("%s\n", rc == 0 ? "equal" : "different");
	free(r);
	if (rc == KVM_EMISMATCH)
		return cmd_fail(&err, KVM_EXIT_MISMATCH, "nothing was changed; the "
		                "differences are listed on standard output");
	return KVM_EXIT_OK;
}

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
	if ((rc = cmd_env_connect_retry(&o.connect_retry_ms,
	                                cmd_verify_usage)) != 0)
		return rc;

	return run(&o);
}
