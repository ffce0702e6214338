/*
 * import.c - kvmigrate import: load an export file into the KV store.
 *
 * Builds a new LMDB file beside the target while the export is read and
 * verified, and renames it over the target once complete.  SIGINT and
 * SIGTERM stop it; the new file is removed and the target untouched.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kvm/migrate.h"
#include "cmd.h"

const char cmd_import_usage[] =
	"kvmigrate import -i FILE [--kv PATH] [--force] [--map-size BYTES]";

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
	CMD_HELP_HELP;

enum { OPT_KV = CMD_OPT_LONG_ONLY, OPT_FORCE, OPT_MAP_SIZE };

static const char shortopts[] = ":i:h";
static const struct option longopts[] = {
	{ "input", required_argument, NULL, 'i' },
	{ "kv",    required_argument, NULL, OPT_KV },
	{ "force", no_argument,       NULL, OPT_FORCE },
	{ "map-size", required_argument, NULL, OPT_MAP_SIZE },
	{ "help",  no_argument,       NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct import_opts {
	const char *input;
	const char *kv;
	int force;
	uint64_t map_size;
};

static int run(const struct import_opts *o)
{
	struct kvm_import_opts io = { 0 };
	struct kvm_import_result r;
	struct kvm_error err = { 0 };
	char hint[512];

	io.input = o->input;
	io.kv_path = o->kv;
	io.force = o->force;
	io.map_size = o->map_size;
	io.cancel = cmd_catch_interrupts();
	if (kvm_import_file(&io, &r, &err) != 0) {
		snprintf(hint, sizeof(hint), "'%s' was not changed%s", o->kv,
		         err.code == KVM_EKVEXISTS ? "" : "; the new file was "
		         "removed");
		return cmd_fail(&err, KVM_EXIT_FAILURE, hint);
	}
	fprintf(stderr, "imported %" PRIu64 " records from %s into %s (%s): KV "
	        "version %" PRId64 ", migration id %s, export digest %016" PRIx64
	        "; %" PRIu64 " appended in order; %" PRIu64 " bytes (map %" PRIu64
	        ") in %.2f s\n", r.records, strcmp(o->input, "-") == 0 ?
	        "standard input" : o->input, o->kv, r.replaced ? "replaced" :
	        "new", r.kv_version, r.migration_id, r.digest, r.appended,
	        r.kv_bytes, r.map_size, r.ms / 1000.0);
	return KVM_EXIT_OK;
}

int cmd_import(int argc, char **argv)
{
	struct import_opts o = { .input = NULL };
	int c, help = 0, rc;

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
