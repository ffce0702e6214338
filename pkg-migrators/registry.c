/*
 * registry.c - the package migrators, in export order.
 *
 * One row per package, each defined in pkg-migrators/<package>.c.  The
 * order is the order of the export file's sections and never depends on
 * anything at run time.
 */
#include <string.h>

#include "kvm/migrator.h"

static const struct kvm_migrator *const kvm_migrators[] = {
	&kvm_migrator_auth,
	&kvm_migrator_refs,
	&kvm_migrator_staging,
	&kvm_migrator_actions,
	&kvm_migrator_multiparts,
};

#define NMIGRATORS (sizeof(kvm_migrators) / sizeof(kvm_migrators[0]))

size_t kvm_migrator_count(void)
{
	return NMIGRATORS;
}

const struct kvm_migrator *kvm_migrator_get(size_t i)
{
	return i < NMIGRATORS ? kvm_migrators[i] : NULL;
}

const struct kvm_migrator *kvm_migrator_find(const char *name)
{
	for (size_t i = 0; i < NMIGRATORS; i++)
		if (strcmp(kvm_migrators[i]->name, name) == 0)
			return kvm_migrators[i];
	return NULL;
}
