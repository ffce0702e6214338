/*
 * registry.c - the package migrators, in export order.
 *
 * One row per package.  The order is the order of the export file's
 * sections and never depends on anything at run time.  The table lists
 * name the old tables as the schema versions in pkg-migrators/schema/
 * build them.
 */
#include <string.h>

#include "kvm/migrator.h"

static const char *const auth_tables[] = {
	"auth_users", "auth_groups", "auth_policies", "auth_user_groups",
	"auth_user_policies", "auth_group_policies", "auth_credentials",
	"auth_installation_metadata", "auth_expired_tokens", NULL,
};
static const char *const refs_tables[] = {
	"graveler_repositories", "graveler_branches", "graveler_tags",
	"graveler_commits", NULL,
};
static const char *const staging_tables[] = { "graveler_staging_kv", NULL };
static const char *const actions_tables[] = {
	"actions_runs", "actions_run_hooks", NULL,
};
static const char *const multiparts_tables[] = { "gateway_multiparts", NULL };

static const struct kvm_migrator migrators[] = {
	{ .abi = KVM_MIGRATOR_ABI, .name = "auth", .tables = auth_tables },
	{ .abi = KVM_MIGRATOR_ABI, .name = "refs", .tables = refs_tables },
	{ .abi = KVM_MIGRATOR_ABI, .name = "staging", .tables = staging_tables },
	{ .abi = KVM_MIGRATOR_ABI, .name = "actions", .tables = actions_tables },
	{ .abi = KVM_MIGRATOR_ABI, .name = "multiparts", .tables = multiparts_tables },
};

#define NMIGRATORS (sizeof(migrators) / sizeof(migrators[0]))

size_t kvm_migrator_count(void)
{
	return NMIGRATORS;
}

const struct kvm_migrator *kvm_migrator_get(size_t i)
{
	return i < NMIGRATORS ? &migrators[i] : NULL;
}

const struct kvm_migrator *kvm_migrator_find(const char *name)
{
	for (size_t i = 0; i < NMIGRATORS; i++)
		if (strcmp(migrators[i].name, name) == 0)
			return &migrators[i];
	return NULL;
}
