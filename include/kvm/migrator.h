/*
 * kvm/migrator.h - the package migrators and their registry.
 *
 * Each package of the service (auth, refs, staging, actions, multiparts)
 * has one migrator: a const struct in pkg-migrators/<package>.c that
 * names the package and the old tables it reads.  The registry
 * (pkg-migrators/registry.c) lists them in export order; the engine
 * looks them up there and nowhere else.
 *
 * In this version a migrator declares its tables only: `status` reports
 * which of them exist, and later the engine checks them before an export.
 */
#ifndef KVM_MIGRATOR_H
#define KVM_MIGRATOR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The version of struct kvm_migrator; its first field. */
#define KVM_MIGRATOR_ABI 1

struct kvm_migrator {
	/** KVM_MIGRATOR_ABI, so the struct can grow. */
	unsigned abi;
	/** The package name, [a-z0-9_-]{1,64}: the export's section name. */
	const char *name;
	/** The old tables the migrator reads, NULL-terminated, in the order
	 *  it reads them.  Partitions are not listed: their parent is. */
	const char *const *tables;
};

/** Number of registered migrators. */
size_t kvm_migrator_count(void);

/** Migrator @i in export order, or NULL when out of range. */
const struct kvm_migrator *kvm_migrator_get(size_t i);

/** The migrator named @name, or NULL. */
const struct kvm_migrator *kvm_migrator_find(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* KVM_MIGRATOR_H */
