/*
 * schema_builtin.h - the SQL version files embedded in the binary.
 *
 * The build generates $(BUILD)/gen/schema_builtin.c from
 * the .up.sql files of pkg-migrators/schema/ with pkg-migrators/embed-schema.sh; it
 * defines the two constants below.  lib/schema.c is their only reader: it
 * checks and orders them exactly as it does a --schema-dir directory.
 */
#ifndef KVM_SCHEMA_BUILTIN_H
#define KVM_SCHEMA_BUILTIN_H

#include <stddef.h>

struct kvm_schema_builtin_file {
	const char *name;   /* the file name, "000001_auth.up.sql" */
	const char *sql;    /* its bytes, NUL-terminated */
	size_t len;         /* bytes, without the NUL */
};

extern const struct kvm_schema_builtin_file kvm_schema_builtin_files[];
extern const size_t kvm_schema_builtin_count;

#endif /* KVM_SCHEMA_BUILTIN_H */
