/*
 * tmpname.c - temporary and companion names beside a path, and the
 * directory sync that makes a rename durable (see tmpname.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "tmpname.h"

#define TMP_MARK ".tmp."

/* The directory part of @path ("." when none) as a new string, and where
 * its last component starts; NULL when out of memory. */
static char *dir_of(const char *path, const char **base)
{
	const char *slash = strrchr(path, '/');

	*base = slash != NULL ? slash + 1 : path;
	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

char *kvm_dir_of(const char *path)
{
	const char *base;

	return dir_of(path, &base);
}

uint64_t kvm_free_beside(const char *path)
{
	char *dir = kvm_dir_of(path);
	struct statvfs sv;
	uint64_t n = 0;

	if (dir != NULL && statvfs(dir, &sv) == 0)
		n = (uint64_t)sv.f_bavail * sv.f_frsize;
	free(dir);
	return n;
}

int kvm_tmp_create(const char *path, unsigned mode, char **tmp, int *fd,
                   struct kvm_error *err)
{
	const char *base;
	char *dir, *name;
	size_t n;
	int e;

	*tmp = NULL;
	*fd = -1;
	if ((dir = dir_of(path, &base)) == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	if (*base == '\0') {
		free(dir);
		return kvm_error_set(err, KVM_EINVAL, "'%s' names a directory, "
		                     "not a file", path);
	}
	n = strlen(dir) + strlen(base) + sizeof("/." TMP_MARK "XXXXXX");
	if ((name = malloc(n)) == NULL) {
		free(dir);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	snprintf(name, n, "%s/.%s" TMP_MARK "XXXXXX", dir, base);
	free(dir);
	if ((*fd = mkostemp(name, O_CLOEXEC)) < 0) {
		e = errno;
		free(name);
		return kvm_error_set(err, e, "cannot create a file beside '%s': %s",
		                     path, strerror(e));
	}
	if (fchmod(*fd, (mode_t)mode) != 0) {
		e = errno;
		close(*fd);
		*fd = -1;
		unlink(name);
		kvm_error_set(err, e, "cannot set mode %04o on '%s': %s", mode,
		              name, strerror(e));
		free(name);
		return e;
	}
	*tmp = name;
	return 0;
}

int kvm_sync_dir_of(const char *path, struct kvm_error *err)
{
	const char *base;
	char *dir = dir_of(path, &base);
	int fd, e = 0;

	if (dir == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0)
		e = errno;
	if (fd >= 0)
		close(fd);
	if (e != 0)
		kvm_error_set(err, e, "cannot sync the directory '%s': %s", dir,
		              strerror(e));
	free(dir);
	return e;
}

int kvm_tmp_remove_of(const char *path, int *removed, struct kvm_error *err)
{
	const char *base;
	char *dir = dir_of(path, &base), *prefix = NULL;
	struct dirent *de;
	size_t plen;
	DIR *d = NULL;
	int rc = 0;

	if (dir == NULL || (prefix = malloc(strlen(base) + sizeof("." TMP_MARK)))
	    == NULL) {
		rc = kvm_error_set(err, KVM_ENOMEM, "out of memory");
		goto out;
	}
	plen = (size_t)sprintf(prefix, ".%s" TMP_MARK, base);
	if ((d = opendir(dir)) == NULL) {
		rc = kvm_error_set(err, errno, "cannot read the directory '%s': "
		                   "%s", dir, strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, plen) == 0 &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0)
			(*removed)++;
out:
	if (d != NULL)
		closedir(d);
	free(prefix);
	free(dir);
	return rc;
}

int kvm_companion_path(const char *path, const char *suffix, char *out,
                       size_t size, struct kvm_error *err)
{
	const char *base;
	char *dir = dir_of(path, &base);
	int n;

	if (dir == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	n = snprintf(out, size, "%s/.%s.%s", dir, base, suffix);
	free(dir);
	if (*base == '\0')
		return kvm_error_set(err, KVM_EINVAL, "'%s' names a directory, "
		                     "not a file", path);
	if (n < 0 || (size_t)n >= size)
		return kvm_error_set(err, KVM_EINVAL, "the path '%s' is too long",
		                     path);
	return 0;
}
