/*
 * import.c - kvmigrate import: load an export file into the KV store.
 *
 * Verifies the whole export first, builds a new LMDB file beside the
 * target and renames it over the target once complete.
 *
 * This version parses and checks the options and builds the options
 * struct; the engine entry point does not exist yet.
 */
#include <stdio.h>

#include "cmd.h"

const char cmd_import_usage[] = "kvmigrate import -i FILE [--kv PATH] [--force]";

static const char help_body[] =
	"Load an export file into the KV store.  The whole file is verified\n"
	"first; the new store is built beside the target and renamed over it\n"
	"once complete, so the target is either the old store or the new one.\n"
	"FILE \"-\" reads standard input.\n"
	"\n"
	"Options:\n"
	"  -i, --input FILE         the export file to load (required)\n"
	CMD_HELP_KV
	"      --force              replace an existing KV store kvmigrate\n"
	"                           created, whatever it holds (a file kvmigrate\n"
	"                           did not create is never replaced)\n"
	CMD_HELP_HELP
	CMD_HELP_NOT_IMPLEMENTED("import");

enum { OPT_KV = CMD_OPT_LONG_ONLY, OPT_FORCE };

static const char shortopts[] = ":i:h";
static const struct option longopts[] = {
	{ "input", required_argument, NULL, 'i' },
	{ "kv",    required_argument, NULL, OPT_KV },
	{ "force", no_argument,       NULL, OPT_FORCE },
	{ "help",  no_argument,       NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct import_opts {
	const char *input;
	const char *kv;
	int force;
};

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

	return cmd_not_implemented("import");
}
