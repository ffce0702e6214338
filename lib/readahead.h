/*
 * readahead.h - an export reader on a thread of its own.
 *
 * The import spends about as long decompressing, decoding and checking
 * the export as it does putting the records into LMDB.  With the reader
 * on its own thread the two go on side by side: the thread copies each
 * record into blocks of about 1 MiB, at most READAHEAD_BLOCKS of them in
 * flight (the memory does not grow with the file), and the caller takes
 * them back one record at a time:
 *
 *     kvm_readahead_start(&ra, rd, err);
 *     while ((rc = kvm_readahead_next(ra, &rec, err)) == 0)
 *             ...;                 -- KVM_END after the verified end
 *     kvm_readahead_stop(ra);      -- always; before closing rd
 *
 * kvm_readahead_next() gives exactly what kvm_export_reader_next() would
 * have given, in the same order, and the reader's error at the point the
 * reader met it.  The reader belongs to the thread between start and
 * stop: the caller may look at its header only.
 */
#ifndef KVM_READAHEAD_H
#define KVM_READAHEAD_H

#include "kvm/error.h"
#include "kvm/export.h"

struct kvm_readahead;

/* Start reading @rd on a new thread.  0, KVM_ENOMEM or an errno value. */
int kvm_readahead_start(struct kvm_readahead **out, kvm_export_reader *rd,
                        struct kvm_error *err);

/* The next record (valid until the next call), KVM_END, or the reader's
 * error with its message. */
int kvm_readahead_next(struct kvm_readahead *ra, struct kvm_export_record *rec,
                       struct kvm_error *err);

/* Stop the thread if it still reads, wait for it and free everything.
 * NULL is fine. */
void kvm_readahead_stop(struct kvm_readahead *ra);

#endif /* KVM_READAHEAD_H */
