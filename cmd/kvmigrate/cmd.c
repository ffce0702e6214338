/*
 * cmd.c - helpers shared by the command files: error and usage lines,
 * option errors, number and environment parsing, error code names.
 *
 * Every line kvmigrate writes to stderr goes through cmd_error(), so the
 * convention holds everywhere: "kvmigrate: error: <message>" on one line,
 * optionally followed by "hint: ..." or "usage: ...".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "kvm/export.h"
#include "json.h"
#include "metrics.h"
#include "clock.h"

/* Room for a library message (KVM_ERROR_MSG_MAX) plus our own context. */
#define CMD_LINE_MAX (KVM_ERROR_MSG_MAX + 512)

/* The number of the first signal the handler of cmd_catch_interrupts()
 * caught, 0 before; the process's only mutable static. */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	if (interrupted != 0) {
		/* A second signal: the operator does not want to wait for the
		 * way out.  End as without a handler; what is left is what a
		 * kill leaves, and the next run removes it. */
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	interrupted = sig;
}

const volatile sig_atomic_t *cmd_catch_interrupts(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	/* Reads and writes of files and pipes go on after the handler, so no
	 * code needs to expect EINTR from them; the waits that must notice
	 * the flag (poll and nanosleep in lib/db.c) return early anyway. */
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		/* Started under nohup: a hangup is not meant for us. */
		if (sigs[i] == SIGHUP && sigaction(SIGHUP, NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;
		sigaction(sigs[i], &sa, NULL);
	}
	return &interrupted;
}

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGINT:  return "SIGINT";
	case SIGTERM: return "SIGTERM";
	case SIGHUP:  return "SIGHUP";
	default:      return "a signal";
	}
}

void cmd_put_printable(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		putc(c < 0x20 || c == 0x7f ? '?' : c, f);
	}
}

int cmd_color(void)
{
	const char *no = getenv("NO_COLOR"), *term = getenv("TERM");

	return isatty(STDERR_FILENO) && (no == NULL || no[0] == '\0') &&
	       term != NULL && strcmp(term, "dumb") != 0;
}

static int vline(const char *prefix, int exitcode, const char *fmt, va_list ap)
{
	char line[CMD_LINE_MAX];

	if (vsnprintf(line, sizeof(line), fmt, ap) < 0)
		snprintf(line, sizeof(line), "(cannot format the message: %s)",
		         strerror(errno));
	if (cmd_color() && strcmp(prefix, "kvmigrate: error: ") == 0)
		prefix = "kvmigrate: \033[1;31merror:\033[0m ";
	fputs(prefix, stderr);
	cmd_put_printable(stderr, line);
	putc('\n', stderr);
	return exitcode;
}

int cmd_error(int exitcode, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline("kvmigrate: error: ", exitcode, fmt, ap);
	va_end(ap);
	return exitcode;
}

int cmd_fail(const struct kvm_error *err, int exitcode, const char *hint)
{
	if (err->code == KVM_ECANCELED && interrupted != 0) {
		/* The library says what it stopped; only we know why. */
		if (err->msg[0] == '\0' ||
		    strcmp(err->msg, kvm_strerror(KVM_ECANCELED)) == 0)
			cmd_error(exitcode, "canceled by %s",
			          signal_name(interrupted));
		else
			cmd_error(exitcode, "canceled by %s: %s",
			          signal_name(interrupted), err->msg);
	} else if (err->msg[0] != '\0')
		cmd_error(exitcode, "%s", err->msg);
	else
		/* A library call that failed without a message is a bug there,
		 * but the operator still deserves the code's text. */
		cmd_error(exitcode, "%s", kvm_strerror(err->code));
	if (hint != NULL) {
		fputs(cmd_color() ? "\033[1mhint:\033[0m " : "hint: ", stderr);
		cmd_put_printable(stderr, hint);
		putc('\n', stderr);
	}
	return exitcode;
}

int cmd_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline("kvmigrate: error: ", KVM_EXIT_USAGE, fmt, ap);
	va_end(ap);
	fprintf(stderr, "usage: %s\n", usage);
	return KVM_EXIT_USAGE;
}

/* How many long options @name (the @len bytes after "--") names exactly
 * (then 1) or abbreviates; *@found is set to one of them. */
static int match_long(const struct option *longopts, const char *name,
                      size_t len, const struct option **found)
{
	int n = 0;

	*found = NULL;
	for (const struct option *o = longopts; o->name != NULL; o++) {
		if (strncmp(o->name, name, len) != 0)
			continue;
		if (o->name[len] == '\0') {
			*found = o;
			return 1;
		}
		*found = o;
		n++;
	}
	return n;
}

int cmd_option_error(int c, char **argv, const char *shortopts,
                     const struct option *longopts, const char *usage)
{
	/*
	 * getopt_long reports a long option through the argument it just
	 * consumed (argv[optind - 1]) and a short one through optopt; inside
	 * a cluster such as "-xv" argv[optind - 1] is still the previous
	 * argument, so it must not be used for short options.  glibc sets
	 * optopt to 0 for an unknown or ambiguous long option, and to the
	 * option's value for a long option given a value it does not take.
	 */
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	int is_long = strncmp(arg, "--", 2) == 0 &&
	              (optopt == 0 || optopt >= CMD_OPT_LONG_ONLY ||
	               (optopt != ':' && strchr(shortopts, optopt) != NULL));
	const struct option *o;
	size_t len;

	if (c == ':') {
		if (is_long)
			return cmd_usage_error(usage, "option '%s' requires a value", arg);
		return cmd_usage_error(usage, "option '-%c' requires a value", optopt);
	}
	if (!is_long)
		return cmd_usage_error(usage, "unknown option '-%c'", optopt);

	len = strcspn(arg + 2, "=");
	switch (match_long(longopts, arg + 2, len, &o)) {
	case 0:
		return cmd_usage_error(usage, "unknown option '%.*s'", (int)len + 2, arg);
	case 1:
		if (arg[2 + len] == '=' && o->has_arg == no_argument)
			return cmd_usage_error(usage, "option '--%s' takes no value",
			                       o->name);
		return cmd_usage_error(usage, "invalid use of option '%s'", arg);
	default:
		return cmd_usage_error(usage, "ambiguous option '%.*s'",
		                       (int)len + 2, arg);
	}
}

int cmd_show_help(const char *usage, const char *body)
{
	printf("usage: %s\n\n%s", usage, body);
	return KVM_EXIT_OK;
}

int cmd_options_end(int help, const char *usage, const char *body, int argc,
                    char **argv)
{
	if (help)
		return cmd_show_help(usage, body);
	if (optind < argc)
		return cmd_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	return -1;
}

int cmd_parse_uint(const char *option, const char *arg, uint64_t min,
                   uint64_t max, uint64_t *out, const char *usage)
{
	char *end = NULL;
	uintmax_t v;

	/* strtoumax accepts leading blanks and a sign; a count does not. */
	if (arg[0] < '0' || arg[0] > '9')
		goto bad;
	errno = 0;
	v = strtoumax(arg, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		goto bad;
	*out = (uint64_t)v;
	return 0;
bad:
	return cmd_usage_error(usage, "invalid value '%s' for %s: expected an "
	                       "integer from %" PRIu64 " to %" PRIu64,
	                       arg, option, min, max);
}

const char *cmd_getenv(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

int cmd_env_kv_enabled(int *enabled, const char *usage)
{
	const char *v = cmd_getenv("KVMIGRATE_KV_ENABLED");

	if (v == NULL || strcmp(v, "0") == 0) {
		*enabled = 0;
		return 0;
	}
	if (strcmp(v, "1") == 0) {
		*enabled = 1;
		return 0;
	}
	return cmd_usage_error(usage, "invalid value '%s' for KVMIGRATE_KV_ENABLED: "
	                       "expected 1 or 0", v);
}

int cmd_env_connect_retry(unsigned *ms, const char *usage)
{
	const char *v = cmd_getenv("KVMIGRATE_CONNECT_RETRY");
	char *end = NULL;
	unsigned long s;

	*ms = KVM_DEFAULT_CONNECT_RETRY_MS;
	if (v == NULL)
		return 0;
	errno = 0;
	s = strtoul(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || errno != 0 || *end != '\0' || s > 3600)
		return cmd_usage_error(usage, "invalid value '%s' for "
		                       "KVMIGRATE_CONNECT_RETRY: expected seconds "
		                       "from 0 to 3600", v);
	*ms = (unsigned)s * 1000u;
	return 0;
}

void cmd_print_wait_event(void *ctx, const struct kvm_event *ev)
{
	char who[512];

	(void)ctx;
	switch (ev->kind) {
	case KVM_EVENT_CONNECT_RETRY:
		fprintf(stderr, "kvmigrate: cannot connect yet (attempt %u): ",
		        ev->attempt);
		cmd_put_printable(stderr, ev->reason);
		fprintf(stderr, "; retrying in %.1f s\n", ev->delay_ms / 1000.0);
		break;
	case KVM_EVENT_LOCK_WAIT:
		kvm_lock_holder_describe(ev->holder, who, sizeof(who));
		fprintf(stderr, "kvmigrate: waiting up to %u s for the migration "
		        "lock, held by ", ev->wait_s);
		cmd_put_printable(stderr, who);
		putc('\n', stderr);
		break;
	default:
		break;
	}
}

void cmd_json_error(struct kvm_json *j, const struct kvm_error *err)
{
	char namebuf[32];

	kvm_json_key(j, "error");
	kvm_json_begin_object(j);
	kvm_json_field_int64(j, "code", err->code);
	kvm_json_field_string(j, "name",
	                      cmd_errname(err->code, namebuf, sizeof(namebuf)));
	kvm_json_field_string(j, "message", err->msg[0] != '\0' ?
	                      err->msg : kvm_strerror(err->code));
	kvm_json_end_object(j);
}

int cmd_valid_package_name(const char *name)
{
	return kvm_export_package_name_ok(name, strlen(name));
}

const char *cmd_errname(int code, char *buf, size_t bufsize)
{
	const char *name = kvm_errname(code);

	if (name != NULL)
		return name;
	if (code < 0)
		return "KVM_UNKNOWN";
	snprintf(buf, bufsize, "ERRNO_%d", code);
	return buf;
}

void cmd_ui_init(struct cmd_ui *ui)
{
	memset(ui, 0, sizeof(*ui));
	ui->t0 = kvm_now_ms();
}

int cmd_ui_option(struct cmd_ui *ui, int c, const char *arg)
{
	switch (c) {
	case 'q':
		ui->quiet = 1;
		return 1;
	case CMD_OPT_PROGRESS:
		ui->want = CMD_PROGRESS_ON;
		return 1;
	case CMD_OPT_NO_PROGRESS:
		ui->want = CMD_PROGRESS_NONE;
		return 1;
	case CMD_OPT_JSON:
		ui->json = 1;
		return 1;
	case CMD_OPT_METRICS_FILE:
		ui->metrics_file = arg;
		return 1;
	default:
		return 0;
	}
}

void cmd_ui_start(struct cmd_ui *ui)
{
	/* --progress wins over -q for the progress lines alone */
	cmd_progress_init(&ui->progress, cmd_progress_pick(ui->want,
	                  ui->quiet && ui->want != CMD_PROGRESS_ON));
}

void cmd_ui_event(void *ctx, const struct kvm_event *ev)
{
	struct cmd_ui *ui = ctx;

	if (ev->kind == KVM_EVENT_PROGRESS) {
		cmd_progress_event(&ui->progress, ev);
		return;
	}
	cmd_progress_clear(&ui->progress);
	cmd_print_wait_event(NULL, ev);
}

void cmd_ui_say(struct cmd_ui *ui, const char *fmt, ...)
{
	va_list ap;

	if (ui->quiet)
		return;
	cmd_progress_clear(&ui->progress);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	putc('\n', stderr);
}

int cmd_ui_fail(struct cmd_ui *ui, const struct kvm_error *err, int exitcode,
                const char *hint)
{
	cmd_progress_clear(&ui->progress);
	ui->exitcode = exitcode;
	snprintf(ui->hint, sizeof(ui->hint), "%s", hint != NULL ? hint : "");
	return cmd_fail(err, exitcode, hint);
}

void cmd_json_failure(struct kvm_json *j, const struct cmd_ui *ui,
                      const char *command, const char *phase,
                      const struct kvm_error *err, int changed)
{
	kvm_json_field_bool(j, "ok", 0);
	kvm_json_field_string(j, "command", command);
	kvm_json_field_string(j, "phase", phase);
	kvm_json_key(j, "package");
	err->package[0] ? kvm_json_string(j, err->package) : kvm_json_null(j);
	kvm_json_key(j, "table");
	err->table[0] ? kvm_json_string(j, err->table) : kvm_json_null(j);
	kvm_json_key(j, "key");
	err->key[0] ? kvm_json_string(j, err->key) : kvm_json_null(j);
	kvm_json_field_string(j, "message", err->msg[0] != '\0' ? err->msg :
	                      kvm_strerror(err->code));
	cmd_json_error(j, err);
	kvm_json_key(j, "hint");
	ui->hint[0] ? kvm_json_string(j, ui->hint) : kvm_json_null(j);
	kvm_json_field_bool(j, "changed", changed);
	kvm_json_field_int64(j, "exit_code", ui->exitcode);
	kvm_json_field_double(j, "seconds", (kvm_now_ms() - ui->t0) / 1000.0);
}

void cmd_json_success(struct kvm_json *j, const struct cmd_ui *ui,
                      const char *command, int changed)
{
	kvm_json_field_bool(j, "ok", 1);
	kvm_json_field_string(j, "command", command);
	kvm_json_field_bool(j, "changed", changed);
	kvm_json_field_double(j, "seconds", (kvm_now_ms() - ui->t0) / 1000.0);
}

void cmd_ui_write_metrics(const struct cmd_ui *ui, struct cmd_metrics *m,
                          int ok)
{
	char msg[512];

	m->ok = ok;
	m->exitcode = ok ? KVM_EXIT_OK : ui->exitcode;
	m->seconds = (kvm_now_ms() - ui->t0) / 1000.0;
	if (cmd_metrics_write(ui->metrics_file, m, msg, sizeof(msg)) != 0)
		cmd_error(KVM_EXIT_FAILURE, "%s", msg);
}
