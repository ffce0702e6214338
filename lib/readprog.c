/*
 * readprog.c - progress events while an export file is read.
 */
#include <string.h>

#include <stdio.h>

#include "clock.h"
#include "readprog.h"

#define PROGRESS_EVERY 4096u

void kvm_readprog_init(struct kvm_readprog *p, const char *phase,
                       kvm_event_fn fn, void *ctx,
                       const struct kvm_export_header *h,
                       const struct kvm_export_trailer *t)
{
	memset(p, 0, sizeof(*p));
	p->phase = phase;
	p->fn = fn;
	p->ctx = ctx;
	p->h = h;
	p->t = t != NULL && t->nsections == h->npackages ? t : NULL;
}

static void send(struct kvm_readprog *p, int finished)
{
	struct kvm_event ev = { .kind = KVM_EVENT_PROGRESS };

	ev.name = p->phase;
	ev.package = p->h->packages[p->cur];
	ev.done = p->done;
	ev.bytes = p->bytes;
	ev.finished = finished;
	if (finished) {
		ev.total = p->done;
		ev.total_exact = 1;
	} else if (p->t != NULL) {
		ev.total = p->t->sections[p->cur].records;
		ev.total_exact = 1;
	}
	if (finished && p->out != NULL && *p->nout < p->h->npackages) {
		struct kvm_export_db_package *o = &p->out[(*p->nout)++];

		snprintf(o->name, sizeof(o->name), "%s", ev.package);
		o->rows = o->records = p->done;
		o->bytes = p->bytes;
		o->ms = kvm_now_ms() - p->t_start;
	}
	if (p->fn != NULL)
		p->fn(p->ctx, &ev);
}

/* Finish the sections before @upto (those without records included). */
static void advance(struct kvm_readprog *p, size_t upto)
{
	while (p->cur < upto) {
		if (!p->started) {
			p->t_start = kvm_now_ms();
			send(p, 0);
		}
		send(p, 1);
		p->cur++;
		p->started = 0;
		p->done = 0;
		p->bytes = 0;
	}
}

void kvm_readprog_record(struct kvm_readprog *p,
                         const struct kvm_export_record *rec)
{
	if ((p->fn == NULL && p->out == NULL) || rec->section >= p->h->npackages)
		return;
	if (rec->section != p->cur)
		advance(p, rec->section);
	if (!p->started) {
		p->t_start = kvm_now_ms();
		send(p, 0);
		p->started = 1;
	}
	p->done++;
	p->bytes += rec->partition_len + rec->key_len + rec->value_len;
	if ((p->done & (PROGRESS_EVERY - 1)) == 0)
		send(p, 0);
}

void kvm_readprog_end(struct kvm_readprog *p)
{
	if (p->fn != NULL || p->out != NULL)
		advance(p, p->h->npackages);
}
