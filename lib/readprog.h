/*
 * readprog.h - progress events while an export file is read record by
 * record (the import, and the export's read-back of its own file).
 *
 *     struct kvm_readprog p;
 *     kvm_readprog_init(&p, "import", fn, ctx, header, trailer_or_NULL);
 *     while (next(&rec) == 0)  kvm_readprog_record(&p, &rec);
 *     kvm_readprog_end(&p);         -- after the verified end only
 *
 * One KVM_EVENT_PROGRESS when a package begins, every PROGRESS_EVERY
 * records, and when it ends (finished, also for a package without
 * records).  With the file's trailer at hand the totals are exact counts.
 * With @out set (before the first record; room for the header's
 * npackages entries), each finished package's counts and time are also
 * written there.  Plain data: nothing to free.
 */
#ifndef KVM_READPROG_H
#define KVM_READPROG_H

#include "kvm/export.h"
#include "kvm/migrate.h"

struct kvm_readprog {
	const char *phase;
	kvm_event_fn fn;
	void *ctx;
	const struct kvm_export_header *h;
	const struct kvm_export_trailer *t;   /* NULL: totals not known */
	size_t cur;                /* the section of the last record */
	int started;               /* an event for cur was sent */
	uint64_t done, bytes;
	uint64_t t_start;          /* when cur began, ms */
	/* Optional: each finished package's name, records, bytes and ms */
	struct kvm_export_db_package *out;
	size_t *nout;
};

void kvm_readprog_init(struct kvm_readprog *p, const char *phase,
                       kvm_event_fn fn, void *ctx,
                       const struct kvm_export_header *h,
                       const struct kvm_export_trailer *t);
void kvm_readprog_record(struct kvm_readprog *p,
                         const struct kvm_export_record *rec);
void kvm_readprog_end(struct kvm_readprog *p);

#endif /* KVM_READPROG_H */
