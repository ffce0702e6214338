/*
 * tmpname.h - the one owner of the names kvmigrate writes beside a path.
 *
 * Every file kvmigrate publishes (an export, an LMDB store, a metrics
 * file) is written under a temporary name in the directory of its final
 * path, synced, renamed over it, and the directory synced; so the path
 * holds either the old file or the whole new one.  The temporary name is
 * ".NAME.tmp.XXXXXX" for a final path ".../NAME": a run killed before the
 * rename leaves such a file, and the next run recognises it by that
 * prefix alone (kvm_tmp_remove_of).  Internal to the library and the CLI.
 *
 *     char *tmp; int fd;
 *     kvm_tmp_create(path, 0600, &tmp, &fd, err);   write, fsync fd
 *     rename(tmp, path); kvm_sync_dir_of(path, err);
 *     free(tmp);     (unlink(tmp) first on failure)
 */
#ifndef KVM_TMPNAME_H
#define KVM_TMPNAME_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/error.h"

/**
 * Create "DIR/.NAME.tmp.XXXXXX" beside @path, opened O_RDWR | O_CLOEXEC
 * with @mode exactly (the umask could only narrow it).
 * @tmp:  out, the name; malloc'd, the caller frees it.
 * @fd:   out, the open descriptor; the caller closes it.
 * Returns 0, KVM_EINVAL (@path names a directory), KVM_ENOMEM, or errno.
 * On failure nothing is left behind and *@tmp is NULL, *@fd -1.
 */
int kvm_tmp_create(const char *path, unsigned mode, char **tmp, int *fd,
                   struct kvm_error *err);

/**
 * fsync the directory holding @path, so a rename into it is durable.
 * Returns 0 or errno (the message names the directory).
 */
int kvm_sync_dir_of(const char *path, struct kvm_error *err);

/**
 * The directory holding @path ("." when it names none), as a new string
 * the caller frees; NULL when out of memory.
 */
char *kvm_dir_of(const char *path);

/** The bytes free for an unprivileged user in the directory of @path;
 *  0 when it cannot be told. */
uint64_t kvm_free_beside(const char *path);

/**
 * Remove what runs killed before their rename left beside @path: every
 * ".NAME.tmp.*" in its directory.  *@removed is increased by the count.
 * Returns 0 or errno (the directory cannot be read).
 */
int kvm_tmp_remove_of(const char *path, int *removed, struct kvm_error *err);

/**
 * "DIR/.NAME.SUFFIX" for @path "DIR/NAME" into @out: a fixed companion
 * name a later run finds again (the export an `up` keeps beside its store,
 * the export a `verify` makes).  Returns 0, or KVM_EINVAL when it does
 * not fit in @size or @path names a directory.
 */
/* The companions kvm_companion_path() names: the export `up` keeps
 * beside the store while it runs, and the export of the tables `verify`
 * makes; a run killed before removing one leaves it for the next. */
#define KVM_TEMP_EXPORT_SUFFIX "export.kvm"
#define KVM_VERIFY_EXPORT_SUFFIX "verify.kvm"

int kvm_companion_path(const char *path, const char *suffix, char *out,
                       size_t size, struct kvm_error *err);

#endif /* KVM_TMPNAME_H */
