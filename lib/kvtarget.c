/*
 * kvtarget.c - which KV target a name means, and what is there for
 * status (see kvtarget.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvtarget.h"

static const struct kvm_kv_ops *const targets[] = {
	&kvm_kv_lmdb_ops,
};

static int starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int kvm_kv_open(kvm_kv_target **out, const char *where, struct kvm_error *err)
{
	kvm_kv_target *t;
	int rc;

	*out = NULL;
	if (where == NULL || where[0] == '\0')
		return kvm_error_set(err, KVM_EINVAL, "no KV target given");
	if (starts_with(where, "postgresql://") || starts_with(where, "postgres://"))
		return kvm_error_set(err, KVM_ENOTSUP, "a PostgreSQL KV target is "
		                     "not in this version of kvmigrate; give the "
		                     "path of an LMDB file");
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->where = strdup(where)) == NULL) {
		free(t);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	t->ops = &kvm_kv_lmdb_ops;
	if ((rc = t->ops->init(t, err)) != 0) {
		free(t->where);
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void kvm_kv_close(kvm_kv_target *t)
{
	if (t == NULL)
		return;
	t->ops->release(t);
	free(t->where);
	free(t);
}

void kvm_kv_status(const char *path, struct kvm_status *st)
{
	struct kvm_kv_info info;
	struct kvm_error err;
	kvm_kv_target *t;

	st->kv.path = path;
	st->kv.detail[0] = '\0';
	if (path == NULL) {
		st->kv.state = KVM_KV_NOT_SET;
		return;
	}
	if (kvm_kv_open(&t, path, &err) != 0 ||
	    t->ops->probe(t, &info, &err) != 0) {
		kvm_kv_close(t);
		st->kv.state = KVM_KV_UNREADABLE;
		snprintf(st->kv.detail, sizeof(st->kv.detail), "%.*s",
		         (int)sizeof(st->kv.detail) - 1, err.msg);
		return;
	}
	kvm_kv_close(t);
	st->kv.state = info.state;
	st->kv.has_version = info.has_version;
	st->kv.version = info.version;
	st->kv.size = info.size;
	snprintf(st->kv.detail, sizeof(st->kv.detail), "%s", info.detail);
}

void kvm_kv_versions(char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		char one[64];
		int k;

		targets[i]->lib_version(one, sizeof(one));
		k = snprintf(out + n, size - n, "%s%s", n ? "\n" : "", one);
		if (k < 0 || (size_t)k >= size - n)
			break;
		n += (size_t)k;
	}
}
