/*
 * import.c - kvmigrate import: load an export file into the KV store.
 *
 * Builds a new LMDB file beside the target while the export is read and
 * verified, and renames it over the target once complete.  SIGINT and
 * SIGTERM stop it; the new file is removed and the target untouched.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/migrate.h"
#include "clock.h"
#include "cmd.h"
#include "json.h"
#include "metrics.h"

const char cmd_import_usage[] =
	"kvmigrate import -i FILE [--kv PATH] [--force] [--map-size BYTES] "
	"[-q] [--[no-]progress] [--json] [--metrics-file FILE]";

static const char help_body[] =
	"Load an export file into the KV store.  The new store is built in a\n"
	"new file beside the target while the export is read and verified\n"
	"(every frame, count and digest); only then are its metadata written\n"
	"(KV migration version, migration id, export digest), the file synced\n"
	"and renamed over the target, so the target is either the old store or\n"
	"the new one.  FILE \"-\" reads standard input.\n"
	"\n"
	"Options:\n"
	"  -i, --input FILE         the export file to load (required)\n"
	CMD_HELP_KV
	"      --force              replace an existing KV store kvmigrate\n"
	"                           created, whatever it holds (a file kvmigrate\n"
	"                           did not create is never replaced, nor a store\n"
	"                           a process has open)\n"
	"      --map-size BYTES     the LMDB map size (default: twice the export's\n"
	"                           record bytes plus 64 MiB; 16 GiB for standard\n"
	"                           input)\n"
	CMD_HELP_UI
	CMD_HELP_HELP;

enum { OPT_KV = CMD_OPT_LONG_ONLY, OPT_FORCE, OPT_MAP_SIZE };

static const char shortopts[] = ":i:hq";
static const struct option longopts[] = {
	{ "input", required_argument, NULL, 'i' },
	{ "kv",    required_argument, NULL, OPT_KV },
	{ "force", no_argument,       NULL, OPT_FORCE },
	{ "map-size", required_argument, NULL, OPT_MAP_SIZE },
	CMD_UI_LONGOPTS,
	{ "help",  no_argument,       NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct import_opts {
	const char *input;
	const char *kv;
	int force;
	uint64_t map_size;
	struct cmd_ui ui;
};

static const char *input_name(const struct import_opts *o)
{
	return strcmp(o->input, "-") == 0 ? "standard input" : o->input;
}

static void print_summary(const struct import_opts *o,
                          const struct kvm_import_result *r)
{
	fprintf(stderr, "  %-12s %12s %15s %9s\n", "package", "records", "bytes",
	        "seconds");
	for (size_t i = 0; i < r->npackages; i++)
		fprintf(stderr, "  %-12s %12" PRIu64 " %15" PRIu64 " %9.2f\n",
		        r->packages[i].name, r->packages[i].records,
		        r->packages[i].bytes, r->packages[i].ms / 1000.0);
	fprintf(stderr, "imported %" PRIu64 " records from %s into %s (%s): KV "
	        "version %" PRId64 ", migration id %s, export digest %016" PRIx64
	        "; %" PRIu64 " appended in order; %" PRIu64 " bytes (map %" PRIu64
	        ") in %.2f s\n", r->records, input_name(o), o->kv, r->replaced ?
	        "replaced" : "new", r->kv_version, r->migration_id, r->digest,
	        r->appended, r->kv_bytes, r->map_size, r->ms / 1000.0);
}

static int report_failure(struct import_opts *o, const struct kvm_import_result *r,
                          const struct kvm_error *err)
{
	char hint[1024];

	/* The new store is in place, but the step after the switch failed
	 * (the directory's sync): it is no longer "as it was". */
	if (r->published) {
		snprintf(hint, sizeof(hint), "the new store is at '%s', but it may "
		         "not survive a crash of the machine; run 'sync' and check "
		         "it with 'kvmigrate verify --kv %s --export %s'", o->kv,
		         o->kv, o->input);
		return cmd_ui_fail(&o->ui, err, KVM_EXIT_FAILURE, hint);
	}
	switch (err->code) {
	case KVM_EKVEXISTS:
		snprintf(hint, sizeof(hint), "'%s' was not changed; to replace the "
		         "store, run 'kvmigrate import -i %s --kv %s --force'", o->kv,
		         o->input, o->kv);
		break;
	case KVM_EKVBUSY:
		snprintf(hint, sizeof(hint), "'%s' was not changed; stop the "
		         "processes that have it open, then run the command again",
		         o->kv);
		break;
	case KVM_EKVFOREIGN:
		snprintf(hint, sizeof(hint), "'%s' was not changed; move it away or "
		         "choose another --kv path", o->kv);
		break;
	case KVM_EKVLOCKED:
		snprintf(hint, sizeof(hint), "'%s' was not changed; run the command "
		         "again once the other run has ended", o->kv);
		return cmd_ui_fail(&o->ui, err, KVM_EXIT_LOCKED, hint);
	case KVM_EMAPFULL:
		snprintf(hint, sizeof(hint), "'%s' was not changed and no new file "
		         "is left beside it; run the command again with a larger "
		         "--map-size", o->kv);
		break;
	default:
		snprintf(hint, sizeof(hint), "'%s' was not changed and no new file "
		         "is left beside it", o->kv);
		break;
	}
	return cmd_ui_fail(&o->ui, err, KVM_EXIT_FAILURE, hint);
}

static int print_json(const struct import_opts *o,
                      const struct kvm_import_result *r,
                      const struct kvm_error *err, int failed)
{
	struct kvm_json j;
	char digest[24];

	kvm_json_init(&j, stdout);
	kvm_json_begin_object(&j);
	if (failed) {
		cmd_json_failure(&j, &o->ui, "import", "import", err, 0);
	} else {
		cmd_json_success(&j, &o->ui, "import", 1);
	}
	kvm_json_field_string(&j, "input", o->input);
	kvm_json_field_string(&j, "kv_path", o->kv);
	if (!failed) {
		snprintf(digest, sizeof(digest), "%016" PRIx64, r->digest);
		kvm_json_field_uint64(&j, "records", r->records);
		kvm_json_field_uint64(&j, "appended", r->appended);
		kvm_json_field_int64(&j, "kv_version", r->kv_version);
		kvm_json_field_string(&j, "migration_id", r->migration_id);
		kvm_json_field_string(&j, "export_digest", digest);
		kvm_json_field_uint64(&j, "kv_bytes", r->kv_bytes);
		kvm_json_field_uint64(&j, "map_size", r->map_size);
		kvm_json_field_bool(&j, "replaced", r->replaced);
		kvm_json_key(&j, "packages");
		kvm_json_begin_array(&j);
		for (size_t i = 0; i < r->npackages; i++) {
			kvm_json_begin_object(&j);
			kvm_json_field_string(&j, "name", r->packages[i].name);
			kvm_json_field_uint64(&j, "records", r->packages[i].records);
			kvm_json_field_uint64(&j, "bytes", r->packages[i].bytes);
			kvm_json_field_double(&j, "seconds", r->packages[i].ms / 1000.0);
			kvm_json_end_object(&j);
		}
		kvm_json_end_array(&j);
	}
	kvm_json_end_object(&j);
	return kvm_json_finish(&j);
}

static int run(struct import_opts *o)
{
	struct kvm_import_opts io = { 0 };
	struct kvm_import_result *r;
	struct kvm_error err = { 0 };
	int rc = KVM_EXIT_OK, failed;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return cmd_error(KVM_EXIT_FAILURE, "out of memory");
	cmd_ui_start(&o->ui);
	io.input = o->input;
	io.kv_path = o->kv;
	io.force = o->force;
	io.map_size = o->map_size;
	io.cancel = cmd_catch_interrupts();
	io.on_event = cmd_ui_event;
	io.event_ctx = &o->ui;
	failed = kvm_import_file(&io, r, &err) != 0;
	if (failed)
		rc = report_failure(o, r, &err);
	else if (!o->ui.quiet)
		print_summary(o, r);
	if (o->ui.metrics_file != NULL) {
		struct cmd_metrics m = { .command = "import", .phase = "import" };

		m.has_version = !failed;
		m.version = (uint64_t)r->kv_version;
		m.records = r->records;
		m.npackages = r->npackages;
		m.packages = r->packages;
		cmd_ui_write_metrics(&o->ui, &m, !failed);
	}
	if (o->ui.json && print_json(o, r, &err, failed) != 0 && rc == KVM_EXIT_OK)
		rc = KVM_EXIT_FAILURE;
	kvm_import_result_release(r);
	free(r);
	return rc;
}

int cmd_import(int argc, char **argv)
{
	struct import_opts o = { .input = NULL };
	int c, help = 0, rc;

	cmd_ui_init(&o.ui);

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (o.input != NULL)
				return cmd_usage_error(cmd_import_usage,
				                       "option '-i' given twice");
			o.input = optarg;
			break;
		case OPT_KV:
			o.kv = optarg;
			break;
		case OPT_FORCE:
			o.force = 1;
			break;
		case OPT_MAP_SIZE:
			if ((rc = cmd_parse_uint("--map-size", optarg, 1u << 20,
			                         UINT64_C(1) << 46, &o.map_size,
			                         cmd_import_usage)) != 0)
				return rc;
			break;
		case 'h':
			help = 1;
			break;
		default:
			if (cmd_ui_option(&o.ui, c, optarg))
				break;
			return cmd_option_error(c, argv, shortopts, longopts,
			                        cmd_import_usage);
		}
	}
	if ((rc = cmd_options_end(help, cmd_import_usage, help_body, argc, argv)) >= 0)
		return rc;
	if (o.input == NULL)
		return cmd_usage_error(cmd_import_usage, "missing the export file: "
		                       "use -i FILE");
	if (o.kv == NULL)
		o.kv = cmd_getenv("KVMIGRATE_KV");
	if (o.kv == NULL)
		return cmd_usage_error(cmd_import_usage, "missing the KV store: "
		                       "use --kv PATH or set KVMIGRATE_KV");

	return run(&o);
}
