/*
 * progress.c - the progress display (see progress.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cmd.h"
#include "progress.h"

/* Terminal: a few redraws a second. */
#define REDRAW_MS 250u
/* Plain lines: at most one in this time, besides a package's last. */
#define PLAIN_MS 5000u
/* The rate is measured over about this window. */
#define WINDOW_MS 3000u

enum cmd_progress_mode cmd_progress_pick(enum cmd_progress_want want,
                                         int quiet)
{
	const char *term = getenv("TERM");

	if (quiet || want == CMD_PROGRESS_NONE)
		return CMD_PROGRESS_OFF;
	if (isatty(STDERR_FILENO) && (term == NULL || strcmp(term, "dumb") != 0))
		return CMD_PROGRESS_TTY;
	return CMD_PROGRESS_PLAIN;
}

void cmd_progress_init(struct cmd_progress *p, enum cmd_progress_mode mode)
{
	memset(p, 0, sizeof(*p));
	p->f = stderr;
	p->mode = mode;
	p->color = mode == CMD_PROGRESS_TTY && cmd_color();
}

void cmd_progress_clear(struct cmd_progress *p)
{
	if (p->drawn) {
		fputs("\r\033[K", p->f);
		p->drawn = 0;
	}
}

/* 1234567 -> "1.2M", for the narrow terminal line */
static const char *short_count(double v, char *buf, size_t size)
{
	if (v >= 1e9)
		snprintf(buf, size, "%.1fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, size, "%.1fM", v / 1e6);
	else if (v >= 1e4)
		snprintf(buf, size, "%.0fk", v / 1e3);
	else
		snprintf(buf, size, "%.0f", v);
	return buf;
}

static const char *human_bytes(uint64_t b, char *buf, size_t size)
{
	if (b >= 1000000000u)
		snprintf(buf, size, "%.1f GB", b / 1e9);
	else if (b >= 1000000u)
		snprintf(buf, size, "%.1f MB", b / 1e6);
	else if (b >= 1000u)
		snprintf(buf, size, "%.1f kB", b / 1e3);
	else
		snprintf(buf, size, "%" PRIu64 " B", b);
	return buf;
}

/* Seconds left, or -1 when not known. */
static double eta(const struct cmd_progress *p)
{
	if (p->total == 0 || p->done >= p->total || p->rate <= 0)
		return -1;
	return (double)(p->total - p->done) / p->rate;
}

static int percent(const struct cmd_progress *p)
{
	if (p->total == 0)
		return -1;
	return p->done >= p->total ? 100 : (int)(p->done * 100 / p->total);
}

static void draw_tty(struct cmd_progress *p, const struct kvm_event *ev,
                     uint64_t now)
{
	char a[16], b[16], c[16];
	const char *bold = p->color ? "\033[1m" : "", *off = p->color ? "\033[0m" : "";

	fprintf(p->f, "\r\033[K%s%-6s%s  %-11s ", bold, p->phase, off, p->package);
	if (ev->finished) {
		fprintf(p->f, "%" PRIu64 " records  %s  %.1f s\n", p->done,
		        human_bytes(ev->bytes, a, sizeof(a)),
		        (now - p->start_ms) / 1000.0);
		p->drawn = 0;
		return;
	}
	fprintf(p->f, "%s", short_count((double)p->done, a, sizeof(a)));
	if (p->total > 0)
		fprintf(p->f, "/%s%s  %3d%%", p->exact ? "" : "~",
		        short_count((double)p->total, b, sizeof(b)), percent(p));
	if (p->rate > 0)
		fprintf(p->f, "  %s/s", short_count(p->rate, c, sizeof(c)));
	if (eta(p) >= 0) {
		unsigned s = (unsigned)(eta(p) + 0.5);

		fprintf(p->f, "  ETA %u:%02u", s / 60, s % 60);
	}
	fflush(p->f);
	p->drawn = 1;
}

static void print_plain(struct cmd_progress *p, const struct kvm_event *ev,
                        uint64_t now)
{
	fprintf(p->f, "progress: %s %s: ", p->phase, p->package);
	if (ev->finished) {
		fprintf(p->f, "%" PRIu64 " records, %" PRIu64 " bytes, %.1f s\n",
		        p->done, ev->bytes, (now - p->start_ms) / 1000.0);
		return;
	}
	fprintf(p->f, "%" PRIu64, p->done);
	if (p->total > 0)
		fprintf(p->f, " of %s%" PRIu64 " records (%d%%)", p->exact ? "" :
		        "about ", p->total, percent(p));
	else
		fputs(" records", p->f);
	if (p->rate > 0)
		fprintf(p->f, ", %.0f/s", p->rate);
	if (eta(p) >= 0)
		fprintf(p->f, ", ETA %.0f s", eta(p));
	fputc('\n', p->f);
}

void cmd_progress_event(struct cmd_progress *p, const struct kvm_event *ev)
{
	uint64_t now = kvm_now_ms();
	int fresh;

	if (p->mode == CMD_PROGRESS_OFF || ev->kind != KVM_EVENT_PROGRESS)
		return;
	fresh = strcmp(p->phase, ev->name) != 0 ||
	        strcmp(p->package, ev->package) != 0;
	if (fresh) {
		cmd_progress_clear(p);
		snprintf(p->phase, sizeof(p->phase), "%s", ev->name);
		snprintf(p->package, sizeof(p->package), "%s", ev->package);
		p->start_ms = p->win_ms = now;
		p->win_done = 0;
		p->rate = 0;
		p->last_ms = 0;
	}
	p->done = ev->done;
	/* a count beats an estimate; an estimate the work outgrew is raised */
	p->total = ev->total;
	p->exact = ev->total_exact;
	if (!p->exact && p->total > 0 && p->done > p->total)
		p->total = p->done;
	if (now - p->win_ms >= 500) {
		double r = (double)(p->done - p->win_done) * 1000.0 /
		           (double)(now - p->win_ms);

		p->rate = p->rate > 0 ? 0.7 * p->rate + 0.3 * r : r;
		if (now - p->win_ms >= WINDOW_MS) {
			p->win_ms = now;
			p->win_done = p->done;
		}
	}
	if (p->mode == CMD_PROGRESS_TTY) {
		if (ev->finished || fresh || now - p->last_ms >= REDRAW_MS) {
			draw_tty(p, ev, now);
			p->last_ms = now;
		}
	} else if (ev->finished || (p->last_ms != 0 && now - p->last_ms >= PLAIN_MS) ||
	           (p->last_ms == 0 && now - p->start_ms >= PLAIN_MS)) {
		print_plain(p, ev, now);
		p->last_ms = now;
	}
	if (ev->finished) {
		/* the next event of this package (none expected) starts anew */
		p->phase[0] = '\0';
	}
}
