/*
 * registry.c - the package migrators, in export order.
 *
 * One name per package: pkg-migrators/<name>.c defines
 * kvm_migrator_<name>.  The order is the order of the export file's
 * sections and never depends on anything at run time.  Adding a package
 * is its file plus its name in this list.
 */
#include <stdio.h>
#include <string.h>

#include "kvm/migrator.h"

#define PACKAGES(X) X(auth) X(refs) X(staging) X(actions) X(multiparts)

#define DECLARE(name) extern const struct kvm_migrator kvm_migrator_##name;
PACKAGES(DECLARE)

#define ENTRY(name) &kvm_migrator_##name,
static const struct kvm_migrator *const kvm_migrators[] = { PACKAGES(ENTRY) };

#define NMIGRATORS (sizeof(kvm_migrators) / sizeof(kvm_migrators[0]))

size_t kvm_migrator_count(void)
{
	return NMIGRATORS;
}

const struct kvm_migrator *kvm_migrator_get(size_t i)
{
	return i < NMIGRATORS ? kvm_migrators[i] : NULL;
}

/* Each name goes where the list so far ends while that is inside the
 * buffer; past it only the length is counted, so buf + n and size - n
 * are never taken beyond the buffer. */
size_t kvm_migrator_names(char *buf, size_t size)
{
	size_t n = 0;

	if (size > 0)
		buf[0] = '\0';
	for (size_t j = 0; j < NMIGRATORS; j++) {
		int w = snprintf(n < size ? buf + n : NULL, n < size ? size - n : 0,
		                 "%s%s", j ? ", " : "", kvm_migrators[j]->name);

		n += w > 0 ? (size_t)w : 0;
	}
	return n;
}

const struct kvm_migrator *kvm_migrator_find(const char *name)
{
	for (size_t i = 0; i < NMIGRATORS; i++)
		if (strcmp(kvm_migrators[i]->name, name) == 0)
			return kvm_migrators[i];
	return NULL;
}
