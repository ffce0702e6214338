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
#include "clock.h"
#include "cmd.h"
#include "json.h"
#include "metrics.h"

const char cmd_verify_usage[] =
	"kvmigrate verify [--kv PATH] [--export FILE] [--db CONNINFO] "
	"[--schema-dir DIR] [-q] "
	"[--[no-]progress] [--json] [--metrics-file FILE]";

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
	CMD_HELP_SCHEMA_DIR
	CMD_HELP_UI
	CMD_HELP_HELP
	"\n"
	"The report goes to standard output (with --json, as one object whose\n"
	"\"equal\" member says the outcome); -q leaves the progress out, not the\n"
	"report.\n";

enum { OPT_KV = CMD_OPT_LONG_ONLY, OPT_EXPORT, OPT_DB, OPT_SCHEMA_DIR };

static const char shortopts[] = ":hq";
static const struct option longopts[] = {
	{ "kv",     required_argument, NULL, OPT_KV },
	{ "export", required_argument, NULL, OPT_EXPORT },
	{ "db",     required_argument, NULL, OPT_DB },
	{ "schema-dir", required_argument, NULL, OPT_SCHEMA_DIR },
	CMD_UI_LONGOPTS,
	{ "help",   no_argument,       NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct verify_opts {
	const char *kv;
	const char *export_path; /* NULL: compare with the tables only */
	const char *db;          /* NULL: libpq's PG* variables */
	const char *schema_dir;  /* NULL: the built-in versions */
	unsigned connect_retry_ms;
	struct cmd_ui ui;
};

static void print_report(const struct verify_opts *o,
                         const struct kvm_verify_result *r, int equal)
{
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
	printf("%s\n", equal ? "equal" : "different");
}

static int print_json(const struct verify_opts *o,
                      const struct kvm_verify_result *r,
                      const struct kvm_error *err, int rc)
{
	struct kvm_json j;

	kvm_json_init(&j, stdout);
	kvm_json_begin_object(&j);
	if (rc != 0 && rc != KVM_EMISMATCH) {
		cmd_json_failure(&j, &o->ui, "verify", "verify", err, 0);
	} else {
		/* a difference is an answer, not a failure to answer */
		kvm_json_field_bool(&j, "ok", rc == 0);
		kvm_json_field_string(&j, "command", "verify");
		kvm_json_field_bool(&j, "equal", rc == 0);
		kvm_json_field_bool(&j, "changed", 0);
		kvm_json_field_int64(&j, "exit_code", rc == 0 ? KVM_EXIT_OK :
		                     KVM_EXIT_MISMATCH);
		kvm_json_field_double(&j, "seconds",
		                      (kvm_now_ms() - o->ui.t0) / 1000.0);
		kvm_json_field_string(&j, "kv_path", o->kv);
		kvm_json_key(&j, "export");
		if (r->export_checked)
			kvm_json_string(&j, o->export_path);
		else
			kvm_json_null(&j);
		kvm_json_field_bool(&j, "tables_checked", r->tables_checked);
		kvm_json_field_bool(&j, "tables_gone", r->tables_gone);
		kvm_json_field_uint64(&j, "records", r->records);
		kvm_json_field_uint64(&j, "store_entries", r->store_entries);
		kvm_json_field_uint64(&j, "differences", r->differences);
		kvm_json_key(&j, "diffs");
		kvm_json_begin_array(&j);
		for (size_t i = 0; i < r->ndiffs; i++) {
			kvm_json_begin_object(&j);
			kvm_json_field_string(&j, "what", r->diffs[i].what);
			kvm_json_field_string(&j, "partition", r->diffs[i].partition);
			kvm_json_key(&j, "key");
			if (r->diffs[i].key[0])
				kvm_json_string(&j, r->diffs[i].key);
			else
				kvm_json_null(&j);
			kvm_json_field_string(&j, "detail", r->diffs[i].detail);
			kvm_json_end_object(&j);
		}
		kvm_json_end_array(&j);
	}
	kvm_json_end_object(&j);
	return kvm_json_finish(&j);
}

static int run(struct verify_opts *o)
{
	struct kvm_verify_opts vo = { 0 };
	struct kvm_verify_result *r = calloc(1, sizeof(*r));
	struct kvm_error err = { 0 };
	int rc, exitcode = KVM_EXIT_OK;

	if (r == NULL)
		return cmd_error(KVM_EXIT_FAILURE, "out of memory");
	cmd_ui_start(&o->ui);
	vo.conninfo = o->db;
	vo.connect_retry_ms = o->connect_retry_ms;
	vo.kv_path = o->kv;
	vo.export_path = o->export_path;
	vo.tables = 1;
	vo.schema_dir = o->schema_dir;
	vo.cancel = cmd_catch_interrupts();
	vo.on_event = cmd_ui_event;
	vo.event_ctx = &o->ui;
	rc = kvm_verify(&vo, r, &err);
	cmd_progress_clear(&o->ui.progress);
	if (rc == KVM_EOTHERDB)
		exitcode = cmd_ui_fail(&o->ui, &err, KVM_EXIT_FAILURE, "nothing was "
		                       "compared or changed; give the export of "
		                       "the database --db names, or leave --export "
		                       "out");
	else if (rc != 0 && rc != KVM_EMISMATCH)
		exitcode = cmd_ui_fail(&o->ui, &err, KVM_EXIT_FAILURE,
		                       "nothing was changed");
	else if (!o->ui.json)
		print_report(o, r, rc == 0);
	if (rc == KVM_EMISMATCH)
		exitcode = cmd_ui_fail(&o->ui, &err, KVM_EXIT_MISMATCH, "nothing was "
		                       "changed; the differences are listed on "
		                       "standard output");
	if (o->ui.metrics_file != NULL) {
		struct cmd_metrics m = { .command = "verify" };

		m.records = r->records;
		cmd_ui_write_metrics(&o->ui, &m, rc == 0);
	}
	if (o->ui.json && print_json(o, r, &err, rc) != 0 && exitcode == KVM_EXIT_OK)
		exitcode = KVM_EXIT_FAILURE;
	kvm_verify_result_release(r);
	free(r);
	return exitcode;
}

int cmd_verify(int argc, char **argv)
{
	struct verify_opts o = { .kv = NULL };
	int c, help = 0, rc;

	cmd_ui_init(&o.ui);

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
