/*
 * error.c - kvm_strerror() and the helpers that fill a struct kvm_error.
 *
 * Messages are built once, at the point of failure, and prefixed with
 * context on the way up (kvm_error_prefix), so the caller that finally
 * prints sees one line that names every subject involved.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kvm/error.h"

const char *kvm_strerror(int code)
{
	switch (code) {
	case KVM_OK:         return "success";
	case KVM_EINVAL:     return "invalid argument";
	case KVM_ENOMEM:     return "out of memory";
	case KVM_ESTATE:     return "call out of order";
	case KVM_EINTERNAL:  return "internal error";
	case KVM_END:        return "end of data";
	case KVM_ECANCELED:  return "canceled";
	case KVM_ENOTEXPORT: return "not a kvmigrate export file";
	case KVM_EVERSION:   return "unsupported export format version";
	case KVM_ETRUNCATED: return "export file truncated";
	case KVM_ECORRUPT:   return "export file corrupt";
	case KVM_EDIGEST:    return "export digest mismatch";
	case KVM_ECOUNT:     return "export count mismatch";
	case KVM_ELIMIT:     return "export length exceeds a limit";
	case KVM_ETRAILING:  return "trailing data after the export";
	case KVM_EOTHERDB:   return "the export is of another database";
	case KVM_EDB:        return "database error";
	case KVM_ECONNECT:   return "cannot connect to the database";
	case KVM_ESCHEMA:    return "schema version file failed";
	case KVM_EKVFOREIGN: return "the KV path holds a file kvmigrate did not create";
	case KVM_EKVEXISTS:  return "the KV store exists already";
	case KVM_EKVBUSY:    return "the KV store is open in another process";
	case KVM_EMAPFULL:   return "the LMDB map is full";
	case KVM_EKV:        return "KV store (LMDB) error";
	case KVM_EKVLOCKED:  return "another kvmigrate run is writing a KV store there";
	case KVM_ELOCKED:    return "the migration lock is held by another session";
	case KVM_EDIRTY:     return "the schema version table is dirty";
	case KVM_ETOONEW:    return "the database schema is newer than this kvmigrate";
	case KVM_EUNKNOWNVERSION:
		return "the database schema version is not a known version";
	case KVM_ENOTSUP:    return "not supported by this version of kvmigrate";
	case KVM_EDROP:      return "migrated, but the old tables were not dropped";
	case KVM_EMISMATCH:  return "the KV store differs from its source";
	case KVM_EKEYSIZE:   return "a KV key is longer than allowed";
	case KVM_EDANGLING:  return "a row refers to a missing row";
	case KVM_EORDER:     return "records out of key order";
	case KVM_ENOTABLE:   return "an old table is missing";
	case KVM_ENULL:      return "a NULL in a column a KV key is made of";
	case KVM_EVALUESIZE: return "a value is longer than an export holds";
	}
	if (code > 0)
		return strerror(code);
	return "unknown error";
}

#define CODE(x) { x, #x }
static const struct {
	int code;
	const char *name;
} code_names[] = {
	CODE(KVM_OK),
	CODE(KVM_EINVAL),
	CODE(KVM_ENOMEM),
	CODE(KVM_ESTATE),
	CODE(KVM_EINTERNAL),
	CODE(KVM_END),
	CODE(KVM_ECANCELED),
	CODE(KVM_ENOTEXPORT),
	CODE(KVM_EVERSION),
	CODE(KVM_ETRUNCATED),
	CODE(KVM_ECORRUPT),
	CODE(KVM_EDIGEST),
	CODE(KVM_ECOUNT),
	CODE(KVM_ELIMIT),
	CODE(KVM_ETRAILING),
	CODE(KVM_EOTHERDB),
	CODE(KVM_EDB),
	CODE(KVM_ECONNECT),
	CODE(KVM_ESCHEMA),
	CODE(KVM_EKVFOREIGN),
	CODE(KVM_EKVEXISTS),
	CODE(KVM_EKVBUSY),
	CODE(KVM_EMAPFULL),
	CODE(KVM_EKV),
	CODE(KVM_EKVLOCKED),
	CODE(KVM_ELOCKED),
	CODE(KVM_EDIRTY),
	CODE(KVM_ETOONEW),
	CODE(KVM_EUNKNOWNVERSION),
	CODE(KVM_ENOTSUP),
	CODE(KVM_EDROP),
	CODE(KVM_EMISMATCH),
	CODE(KVM_EKEYSIZE),
	CODE(KVM_EDANGLING),
	CODE(KVM_EORDER),
	CODE(KVM_ENOTABLE),
	CODE(KVM_ENULL),
	CODE(KVM_EVALUESIZE),
	/* errno values the library passes through (files, sockets) */
	CODE(EPERM), CODE(ENOENT), CODE(EINTR), CODE(EIO), CODE(ENXIO),
	CODE(EBADF), CODE(EAGAIN), CODE(ENOMEM), CODE(EACCES), CODE(EBUSY),
	CODE(EEXIST), CODE(EXDEV), CODE(ENODEV), CODE(ENOTDIR), CODE(EISDIR),
	CODE(EINVAL), CODE(ENFILE), CODE(EMFILE), CODE(ETXTBSY), CODE(EFBIG),
	CODE(ENOSPC), CODE(ESPIPE), CODE(EROFS), CODE(EPIPE),
	CODE(ENAMETOOLONG), CODE(ENOTEMPTY), CODE(ELOOP), CODE(EOVERFLOW),
	CODE(EDQUOT), CODE(ESTALE), CODE(ETIMEDOUT), CODE(ECONNREFUSED),
	CODE(ECONNRESET), CODE(EHOSTUNREACH),
};
#undef CODE

const char *kvm_errname(int code)
{
	for (size_t i = 0; i < sizeof(code_names) / sizeof(code_names[0]); i++)
		if (code_names[i].code == code)
			return code_names[i].name;
	return NULL;
}

int kvm_error_set(struct kvm_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	err->package[0] = err->table[0] = err->key[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int kvm_error_prefix(struct kvm_error *err, const char *fmt, ...)
{
	char ctx[KVM_ERROR_MSG_MAX];
	char old[KVM_ERROR_MSG_MAX];
	va_list ap;

	if (err == NULL)
		return KVM_EINVAL;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	/* A message too long for the buffer keeps its beginning: the
	 * context, which says where the failure was. */
	if (snprintf(err->msg, sizeof(err->msg), "%s: %s", ctx, old) < 0)
		err->msg[0] = '\0';
	return err->code;
}

void kvm_error_where(struct kvm_error *err, const char *package,
                     const char *table, const char *key)
{
	if (err == NULL)
		return;
	if (package != NULL && err->package[0] == '\0')
		snprintf(err->package, sizeof(err->package), "%s", package);
	if (table != NULL && err->table[0] == '\0')
		snprintf(err->table, sizeof(err->table), "%s", table);
	if (key != NULL && err->key[0] == '\0')
		snprintf(err->key, sizeof(err->key), "%s", key);
}
