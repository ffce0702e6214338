/*
 * cmd.h - what the command files of the kvmigrate CLI share.
 *
 * The CLI is a command table (main.c) over thin command functions, one
 * file per command.  A command function:
 *
 *   - receives argv with argv[0] set to its own name, as main() would;
 *   - declares one getopt_long option table and one usage line;
 *   - parses every option before it does anything, and on a usage error
 *     prints one error line plus its usage line and returns
 *     KVM_EXIT_USAGE;
 *   - calls one library entry point, prints the result on stdout, and on
 *     failure prints the library's message as one line on stderr
 *     (cmd_fail) and returns the exit code of the failure class.
 *
 * Only cmd/ prints and chooses exit codes; the library returns codes and
 * messages (include/kvm/error.h).  main() checks that standard output was
 * written completely before the process exits.
 */
#ifndef KVM_CMD_H
#define KVM_CMD_H

#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "kvm/error.h"
#include "kvm/migrate.h"
#include "progress.h"

struct kvm_json;

/*
 * Exit status of kvmigrate.  The values are an interface (scripts and the
 * service's upgrade command test them): they are documented in
 * `kvmigrate --help` and in kvmigrate(1), and never change meaning.
 */
enum kvm_exit {
	/** Success, including "nothing to do". */
	KVM_EXIT_OK = 0,
	/** The command failed and nothing is left half-done: a failed SQL
	 *  version leaves no trace (earlier ones stay applied), the KV store
	 *  stays as it was. */
	KVM_EXIT_FAILURE = 1,
	/** Usage error: unknown command or option, missing or bad argument. */
	KVM_EXIT_USAGE = 2,
	/** The migration lock is held by another run. */
	KVM_EXIT_LOCKED = 3,
	/** Migrated, but an operator must follow up (e.g. drop-tables). */
	KVM_EXIT_FOLLOWUP = 4,
	/** verify found a difference. */
	KVM_EXIT_MISMATCH = 5,
};

/*
 * One row of the command table in main.c.
 */
struct kvm_command {
	const char *name;
	/** Runs the command; returns an enum kvm_exit value. */
	int (*fn)(int argc, char **argv);
	/** One line for the command list of `kvmigrate --help`. */
	const char *summary;
	/** The usage line, without "usage: " (defined in the command's file). */
	const char *usage;
};


/* The commands, each in cmd/kvmigrate/<name>.c, with its usage line. */
int cmd_up(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_drop_tables(int argc, char **argv);

extern const char cmd_up_usage[];
extern const char cmd_export_usage[];
extern const char cmd_import_usage[];
extern const char cmd_status_usage[];
extern const char cmd_inspect_usage[];
extern const char cmd_verify_usage[];
extern const char cmd_drop_tables_usage[];

/*
 * Help lines of the options several commands share, so that they read the
 * same everywhere (and in kvmigrate(1)).
 */
#define CMD_HELP_DB \
	"      --db CONNINFO        the database: a libpq conninfo string or a\n" \
	"                           postgresql:// URI (default: $KVMIGRATE_DB,\n" \
	"                           then libpq's PG* variables)\n"
#define CMD_HELP_LOCK_WAIT \
	"      --lock-wait SECONDS  wait up to SECONDS for the migration lock held\n" \
	"                           by another run, then fail naming the holder\n" \
	"                           (0 to 86400; default 10)\n"
#define CMD_HELP_SCHEMA_DIR \
	"      --schema-dir DIR     read the SQL schema versions from DIR\n" \
	"                           (NNNNNN_name.up.sql files, golang-migrate's\n" \
	"                           layout) instead of those built into kvmigrate\n"
#define CMD_HELP_KV \
	"      --kv PATH            the KV store, one LMDB file (default:\n" \
	"                           $KVMIGRATE_KV)\n"
#define CMD_HELP_HELP \
	"  -h, --help               show this help and exit\n"

/*
 * Values of options that have no short form start here, above every
 * character getopt_long can return.
 */
#define CMD_OPT_LONG_ONLY 256

/*
 * The output options of the commands that do long work (up, export,
 * import, verify), parsed by cmd_ui_option():
 *
 *   -q, --quiet        errors only (and waits for the lock or the server)
 *   --progress         progress lines even when they would be off
 *   --no-progress      no progress lines
 *   --json             one JSON object on stdout, on success and failure
 *   --metrics-file F   a Prometheus text file of the run (metrics.h)
 *
 * The struct is the event context of those commands: progress events go
 * to the display, other lines clear it first.
 */
struct cmd_ui {
	int quiet;
	int json;
	enum cmd_progress_want want;
	const char *metrics_file;
	struct cmd_progress progress;
	uint64_t t0;               /* the command began, ms */
	/* What the failure report said, for --json and the metrics. */
	int exitcode;
	char hint[1024];
};

#define CMD_OPT_UI_BASE (CMD_OPT_LONG_ONLY + 100)
enum {
	CMD_OPT_PROGRESS = CMD_OPT_UI_BASE, CMD_OPT_NO_PROGRESS, CMD_OPT_JSON,
	CMD_OPT_METRICS_FILE,
};

/* The getopt_long entries of those options (short option: "q"). */
#define CMD_UI_LONGOPTS \
	{ "quiet",        no_argument,       NULL, 'q' }, \
	{ "progress",     no_argument,       NULL, CMD_OPT_PROGRESS }, \
	{ "no-progress",  no_argument,       NULL, CMD_OPT_NO_PROGRESS }, \
	{ "json",         no_argument,       NULL, CMD_OPT_JSON }, \
	{ "metrics-file", required_argument, NULL, CMD_OPT_METRICS_FILE }

#define CMD_HELP_UI \
	"  -q, --quiet              print errors only (no progress, no summary)\n" \
	"      --progress           show progress even where it would be off\n" \
	"      --no-progress        show no progress\n" \
	"      --json               print one JSON object on standard output,\n" \
	"                           also on failure\n" \
	"      --metrics-file FILE  write the run's metrics to FILE in the\n" \
	"                           Prometheus text format, atomically\n"

void cmd_ui_init(struct cmd_ui *ui);

/* Take option @c (with @arg) when it is one of the above: returns 1. */
int cmd_ui_option(struct cmd_ui *ui, int c, const char *arg);

/* After parsing: pick the progress display for stderr. */
void cmd_ui_start(struct cmd_ui *ui);

/* The event callback of those commands (ctx: the struct cmd_ui). */
void cmd_ui_event(void *ctx, const struct kvm_event *ev);

/* Print one line on stderr unless -q, after ending a progress line. */
void cmd_ui_say(struct cmd_ui *ui, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* cmd_fail() that also keeps the hint and exit code in @ui. */
int cmd_ui_fail(struct cmd_ui *ui, const struct kvm_error *err, int exitcode,
                const char *hint);

/* The members every --json object on failure has: "ok": false, the
 * command, the phase, package, table and key where known, the error,
 * the hint, whether anything changed and the exit code. */
void cmd_json_failure(struct kvm_json *j, const struct cmd_ui *ui,
                      const char *command, const char *phase,
                      const struct kvm_error *err, int changed);

/* The members every --json object on success starts with: "ok": true,
 * the command, whether anything changed, the seconds so far. */
void cmd_json_success(struct kvm_json *j, const struct cmd_ui *ui,
                      const char *command, int changed);

/* --metrics-file: fill @m's outcome (@ok; the exit code cmd_ui_fail kept;
 * the seconds so far) and write it; a failure to write is an error line. */
struct cmd_metrics;
void cmd_ui_write_metrics(const struct cmd_ui *ui, struct cmd_metrics *m,
                          int ok);

/* Whether stderr gets colors: a terminal, TERM not "dumb", NO_COLOR unset
 * or empty (https://no-color.org). */
int cmd_color(void);

/*
 * Print "kvmigrate: error: <message>" as one line on stderr (control
 * characters in the message are shown as '?', so the message stays one
 * line whatever file name it quotes) and return @exitcode.
 */
int cmd_error(int exitcode, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Report a failed library call: the library's message as one error line,
 * then "hint: <hint>" when @hint is not NULL.  Returns @exitcode.  A
 * KVM_ECANCELED after a signal caught by cmd_catch_interrupts() reads
 * "canceled by SIGINT: <message>".
 */
int cmd_fail(const struct kvm_error *err, int exitcode, const char *hint);

/*
 * Catch SIGINT, SIGTERM and SIGHUP (not SIGHUP when it is ignored, as
 * under nohup): the returned flag becomes the signal's number, for the
 * library's cancel option, which cancels the statement waiting in the
 * server, stops the work and removes what it had begun to write.  The
 * handler only sets the flag; a second signal ends the process at once,
 * as it would without a handler.  SA_RESTART: file and pipe I/O is not
 * interrupted.  After a cancel, cmd_fail() says "canceled by SIGTERM: ..."
 * (the signal caught) on the error line.
 */
const volatile sig_atomic_t *cmd_catch_interrupts(void);

/*
 * Report a usage error: the error line, then "usage: <usage>".
 * Returns KVM_EXIT_USAGE.
 */
int cmd_usage_error(const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Turn a failure of getopt_long (return value @c, '?' or ':'; the option
 * string must start with ':' and opterr must be 0) into one error line
 * naming the option as the user wrote it, plus the usage line.
 * Returns KVM_EXIT_USAGE.
 */
int cmd_option_error(int c, char **argv, const char *shortopts,
                     const struct option *longopts, const char *usage);

/*
 * Print a command's help on stdout: "usage: <usage>", a blank line, then
 * @body (which ends with a newline).  Returns KVM_EXIT_OK.
 */
int cmd_show_help(const char *usage, const char *body);

/*
 * What every command does once getopt_long is done: show the help when
 * --help was given, refuse an argument left over.  Returns the exit code
 * to return (KVM_EXIT_OK or KVM_EXIT_USAGE), or -1 to go on.
 */
int cmd_options_end(int help, const char *usage, const char *body, int argc,
                    char **argv);

/*
 * Parse a decimal integer option value in [@min, @max] into @out.
 * On failure prints a usage error naming @option and returns
 * KVM_EXIT_USAGE; returns 0 on success.
 */
int cmd_parse_uint(const char *option, const char *arg, uint64_t min,
                   uint64_t max, uint64_t *out, const char *usage);

/*
 * The value of environment variable @name, or NULL when it is unset or
 * empty (an empty variable counts as absent, as with libpq's PG*).
 */
const char *cmd_getenv(const char *name);

/*
 * The KV flag from KVMIGRATE_KV_ENABLED into @enabled: "1" is on, "0",
 * empty or unset is off, anything else a usage error (returned as
 * KVM_EXIT_USAGE after printing it).  Returns 0 on success.
 */
int cmd_env_kv_enabled(int *enabled, const char *usage);

/*
 * The bound on connection retries from KVMIGRATE_CONNECT_RETRY (seconds,
 * 0 to 3600; unset or empty: 30) into @ms.  A bad value is a usage error
 * (printed, returned as KVM_EXIT_USAGE).  Returns 0 on success.
 */
int cmd_env_connect_retry(unsigned *ms, const char *usage);

/*
 * Print a connection retry or a wait for the lock as one line on stderr:
 * the event callback of the commands that connect (ctx unused).
 */
void cmd_print_wait_event(void *ctx, const struct kvm_event *ev);

/*
 * Write the "error" member of a --json object: code, name and message.
 */
void cmd_json_error(struct kvm_json *j, const struct kvm_error *err);

/*
 * Check a package name given on the command line: [a-z0-9_-]{1,64}, the
 * rule of the export header.  Returns 1 when valid.
 */
int cmd_valid_package_name(const char *name);

/*
 * Name of an error code for machine-readable output: "KVM_ECORRUPT" for a
 * library code, "ENOENT" for an errno value; "KVM_UNKNOWN" or
 * "ERRNO_<n>" for a code this table does not know.  The result points to
 * a static string or into @buf (at least 32 bytes).
 */
const char *cmd_errname(int code, char *buf, size_t bufsize);

/*
 * Write @s to @f with every control character shown as '?': strings read
 * from a file (names in an export header) must not drive the terminal.
 * Write errors are left to the stream's error flag, which main() checks.
 */
void cmd_put_printable(FILE *f, const char *s);

#endif /* KVM_CMD_H */
