/*
 * main.c - the kvmigrate command table and dispatcher.
 *
 *     kvmigrate <command> [options]     run a command (commands[] below)
 *     kvmigrate help [COMMAND]          the list of commands, or one's help
 *     kvmigrate COMMAND --help          one command's help
 *     kvmigrate --help | --version
 *
 * main() looks the command up before anything else happens, so an unknown
 * command fails with exit status 2 and no side effect.  Each command
 * parses its own options (one file per command).  Whatever the command
 * returned, main() then flushes and closes stdout and turns a write error
 * (a full disk, a closed descriptor) into an error line and a failure
 * status: output that was silently lost must not look like success.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "kvm/export.h"
#include "cmd.h"

static int cmd_help(int argc, char **argv);

static const char cmd_help_usage[] = "kvmigrate help [COMMAND]";

static const struct kvm_command commands[] = {
	{ "up", cmd_up,
	  "upgrade the schema; with the KV flag, migrate to the KV store",
	  cmd_up_usage },
	{ "export", cmd_export,
	  "write an export file from the database",
	  cmd_export_usage },
	{ "import", cmd_import,
	  "load an export file into the KV store",
	  cmd_import_usage },
	{ "status", cmd_status,
	  "show the versions, the migration state and the next action",
	  cmd_status_usage },
	{ "inspect", cmd_inspect,
	  "show an export file's header, packages, counts and digests",
	  cmd_inspect_usage },
	{ "verify", cmd_verify,
	  "compare the KV store with the tables and an export file",
	  cmd_verify_usage },
	{ "drop-tables", cmd_drop_tables,
	  "drop the old tables of a finished KV migration",
	  cmd_drop_tables_usage },
	{ "help", cmd_help,
	  "show the list of commands, or the help of one",
	  cmd_help_usage },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char main_usage[] = "kvmigrate <command> [options]";

static const struct kvm_command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void print_commands(FILE *f)
{
	fputs("Commands:\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

static void print_main_help(FILE *f)
{
	fprintf(f,
	        "usage: %s\n"
	        "       kvmigrate help [COMMAND]\n"
	        "       kvmigrate --version\n"
	        "\n"
	        "Migrate a service's metadata from PostgreSQL tables into an LMDB\n"
	        "key-value store, through an export file.\n"
	        "\n", main_usage);
	print_commands(f);
	fputs("\n"
	      "Options:\n"
	      "  -h, --help     show this help and exit\n"
	      "  -V, --version  show the versions of kvmigrate, its export format and\n"
	      "                 its libraries, and exit\n"
	      "\n"
	      "Run 'kvmigrate help COMMAND' or 'kvmigrate COMMAND --help' for the\n"
	      "options of a command.\n"
	      "\n"
	      "Environment:\n"
	      "  KVMIGRATE_DB          connection (libpq conninfo or URI) when --db is\n"
	      "                        absent; without both, libpq's PG* variables apply\n"
	      "  KVMIGRATE_KV          path of the KV store when --kv is absent\n"
	      "  KVMIGRATE_KV_ENABLED  1 turns on the KV migration of 'up' (--kv-enabled)\n"
	      "  KVMIGRATE_CONNECT_RETRY  seconds to keep retrying a database that does\n"
	      "                        not answer yet (0 to 3600; default 30)\n"
	      "\n"
	      "Exit status:\n"
	      "  0  success, including nothing to do\n"
	      "  1  the command failed; nothing is left half-done (the message says\n"
	      "     where things stand)\n"
	      "  2  usage error: unknown command or option, missing or bad argument\n"
	      "  3  the migration lock is held by another run, or another run\n"
	      "     is writing a KV store in the same directory\n"
	      "  4  migrated, but an operator must follow up (the message says how)\n"
	      "  5  verify found a difference\n"
	      "\n"
	      "Signals: SIGINT, SIGTERM and SIGHUP cancel up, drop-tables, export,\n"
	      "import and verify wherever they are, also while they wait for the\n"
	      "server (the statement waiting is canceled there): what the run had\n"
	      "begun is rolled back or removed, and the status is 1 (4 when up had\n"
	      "recorded the KV migration version).  A second signal ends the process\n"
	      "at once.\n", f);
}

static int unknown_command(const char *name)
{
	cmd_error(KVM_EXIT_USAGE, "unknown command '%s'", name);
	fprintf(stderr, "usage: %s\n"
	        "run 'kvmigrate --help' for the list of commands\n", main_usage);
	return KVM_EXIT_USAGE;
}

/* kvmigrate help [COMMAND]; also what --help and -h run. */
static int cmd_help(int argc, char **argv)
{
	static const char shortopts[] = ":h";
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct kvm_command *cmd;
	char help_opt[] = "--help";
	char *av[3];
	int c, help = 0;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			help = 1;
			break;
		default:
			return cmd_option_error(c, argv, shortopts, longopts,
			                        cmd_help_usage);
		}
	}
	if (help)
		return cmd_show_help(cmd_help_usage,
		        "Show the list of commands, or the help of COMMAND (the same\n"
		        "as 'kvmigrate COMMAND --help').\n"
		        "\n"
		        "Options:\n"
		        "  -h, --help  show this help and exit\n");
	if (optind == argc) {
		print_main_help(stdout);
		return KVM_EXIT_OK;
	}
	if (argc - optind > 1)
		return cmd_usage_error(cmd_help_usage, "unexpected argument '%s'",
		                       argv[optind + 1]);
	cmd = find_command(argv[optind]);
	if (cmd == NULL)
		return unknown_command(argv[optind]);
	/* The command prints its own help, so the two cannot differ.
	 * getopt_long permutes the pointers of av, never the strings. */
	av[0] = (char *)cmd->name;
	av[1] = help_opt;
	av[2] = NULL;
	return cmd->fn(2, av);
}

static int print_version(void)
{
	int pq = PQlibVersion();
	char kv[256];

	kvm_kv_versions(kv, sizeof(kv));
	printf("kvmigrate %s\n", KVM_VERSION);
	printf("export format version %d (written and read)\n",
	       KVM_EXPORT_FORMAT_VERSION);
	/* PQlibVersion: 160002 is 16.2; before 10, 90624 was 9.6.24. */
	if (pq >= 100000)
		printf("libpq %d.%d\n", pq / 10000, pq % 10000);
	else
		printf("libpq %d.%d.%d\n", pq / 10000, pq / 100 % 100, pq % 100);
	printf("%s\n", kv);
	return KVM_EXIT_OK;
}

/*
 * Flush and close stdout and report a failed write (git's run_builtin
 * check).  A write that failed before (when the buffer filled up) leaves
 * the stream's error flag set even when this flush succeeds, and its errno
 * is gone by now: the message can then only say that output was lost.
 */
static int finish_stdout(int rc)
{
	int failed = 0, saved = 0;

	errno = 0;
	if (fflush(stdout) != 0) {
		failed = 1;
		saved = errno;
	} else if (ferror(stdout)) {
		failed = 1;
	}
	errno = 0;
	if (fclose(stdout) != 0 && !failed) {
		failed = 1;
		saved = errno;
	}
	if (!failed)
		return rc;
	if (saved != 0)
		cmd_error(KVM_EXIT_FAILURE, "cannot write to standard output: %s",
		          strerror(saved));
	else
		cmd_error(KVM_EXIT_FAILURE, "cannot write to standard output: "
		          "a write failed, the output is incomplete");
	return rc == KVM_EXIT_OK ? KVM_EXIT_FAILURE : rc;
}

int main(int argc, char **argv)
{
	const struct kvm_command *cmd;
	const char *arg;
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: %s\n\n", main_usage);
		print_commands(stderr);
		fputs("\nrun 'kvmigrate --help' for more\n", stderr);
		rc = KVM_EXIT_USAGE;
		goto out;
	}
	arg = argv[1];
	if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
		/* "kvmigrate --help [COMMAND]" is "kvmigrate help [COMMAND]" */
		rc = cmd_help(argc - 1, argv + 1);
	} else if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
		if (argc > 2)
			rc = cmd_usage_error("kvmigrate --version",
			                     "unexpected argument '%s'", argv[2]);
		else
			rc = print_version();
	} else if (arg[0] == '-' && arg[1] != '\0') {
		rc = cmd_usage_error(main_usage, "unknown option '%s'", arg);
		fputs("run 'kvmigrate --help' for the list of commands\n", stderr);
	} else if ((cmd = find_command(arg)) == NULL) {
		rc = unknown_command(arg);
	} else {
		rc = cmd->fn(argc - 1, argv + 1);
	}
out:
	return finish_stdout(rc);
}
