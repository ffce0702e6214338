/*
 * progress.h - the progress display of long work, on stderr.
 *
 * Fed with the library's KVM_EVENT_PROGRESS events (one phase and package
 * at a time), it shows one line per phase and package:
 *
 *   terminal  the line is redrawn in place (carriage return, erase to the
 *             end of the line) at most every REDRAW_MS, and ended with a
 *             newline when the package is done:
 *               export  staging      1234567/~5000000  24%  210k/s  ETA 0:18
 *               export  staging      5000000 records  2.2 GB  23.4 s
 *   plain     (stderr is a file or a pipe) newline-terminated lines, one
 *             when a package is done and in between at most one every
 *             PLAIN_MS, never a carriage return:
 *               progress: export staging: 1234567 of about 5000000 records (24%), 210432/s, ETA 18 s
 *               progress: export staging: 5000000 records, 2212345678 bytes, 23.4 s
 *
 * Totals come with each event: an estimate from the catalog ("about",
 * "~") until the package is done, or a count (import, the re-read).
 * Any other line written to stderr must be preceded by
 * cmd_progress_clear(), which ends a line being redrawn.
 */
#ifndef KVM_CMD_PROGRESS_H
#define KVM_CMD_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#include "kvm/migrate.h"

enum cmd_progress_mode {
	CMD_PROGRESS_OFF = 0,
	CMD_PROGRESS_PLAIN,
	CMD_PROGRESS_TTY,
};

/* How the command line asked for progress (--progress / --no-progress). */
enum cmd_progress_want {
	CMD_PROGRESS_AUTO = 0,
	CMD_PROGRESS_ON,
	CMD_PROGRESS_NONE,
};

struct cmd_progress {
	FILE *f;
	enum cmd_progress_mode mode;
	int color;
	int drawn;                 /* tty: a line waits for its newline */
	char phase[16], package[65];
	uint64_t start_ms;         /* the package began */
	uint64_t last_ms;          /* last line drawn or printed */
	uint64_t done, total;
	int exact;
	/* the rate, over a sliding window */
	uint64_t win_ms, win_done;
	double rate;
};

/*
 * The mode for stderr: off with -q or --no-progress; the terminal style
 * when stderr is a terminal (and TERM is not "dumb"), else plain lines.
 */
enum cmd_progress_mode cmd_progress_pick(enum cmd_progress_want want,
                                         int quiet);

void cmd_progress_init(struct cmd_progress *p, enum cmd_progress_mode mode);

/* Show @ev (a KVM_EVENT_PROGRESS) as the mode says. */
void cmd_progress_event(struct cmd_progress *p, const struct kvm_event *ev);

/* End a line being redrawn, so that the next line starts clean. */
void cmd_progress_clear(struct cmd_progress *p);

#endif /* KVM_CMD_PROGRESS_H */
