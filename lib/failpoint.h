/*
 * failpoint.h - named places where a test build can be made to fail.
 *
 * A failure point is a name at a place in the code where a crash or an
 * error must leave nothing an operator has to mend: a phase boundary,
 * before and after each fsync and rename, around the version bump, inside
 * the table drop, and every KVM_FAIL_EVERY records of the export and the
 * import.  Only a build with -DKVM_FAILPOINTS (build/kvmigrate-fp) has
 * them; in any other build both macros are the constant 0 and the
 * compiler removes them and the code they guard.
 *
 * In a build with them, the environment chooses one point:
 *
 *   KVMIGRATE_FAILPOINT=NAME[@N]=ACTION
 *
 * The Nth time (default 1) the point NAME is reached, ACTION happens:
 * "error" makes it return an I/O error (EIO) naming the point, "kill"
 * sends the process SIGKILL, "stop" sends it SIGSTOP (it goes on after
 * SIGCONT, as if nothing happened).  KVMIGRATE_FAILPOINT_LOG=FILE appends
 * the name of every point reached, one per line: what a sweep tries.
 *
 * The one piece of process-wide mutable state of the library lives
 * behind this (the count of hits), and only in such a build.
 */
#ifndef KVM_FAILPOINT_H
#define KVM_FAILPOINT_H

#include <stdint.h>

#include "kvm/error.h"

/* The record-counting points fire once every this many records. */
#define KVM_FAIL_RECORDS 1024

#ifdef KVM_FAILPOINTS
int kvm_failpoint(const char *name, struct kvm_error *err);
# define KVM_FAIL(name, err) kvm_failpoint((name), (err))
# define KVM_FAIL_EVERY(name, n, err) \
	((n) % KVM_FAIL_RECORDS == 0 ? kvm_failpoint((name), (err)) : 0)
#else
# define KVM_FAIL(name, err) ((void)(err), 0)
# define KVM_FAIL_EVERY(name, n, err) ((void)(n), (void)(err), 0)
#endif

#endif
