/*
 * auth.c - users, groups, policies, their memberships, credentials,
 * expired tokens and installation metadata, all in partition "auth".
 *
 * The sources are listed in byte order of their key prefixes, so each
 * query only has to order its own rows.  The KV store names things by
 * their names, so the membership and credential queries join the names in
 * with LEFT JOINs: a missing name is a dangling reference, reported with
 * the row's ids rather than dropped by an inner join.
 */
#include <inttypes.h>
#include <stdio.h>

#include "kvm/migrator.h"
#include "rowval.h"

static const char *const auth_tables[] = {
	"auth_users", "auth_groups", "auth_policies", "auth_user_groups",
	"auth_user_policies", "auth_group_policies", "auth_credentials",
	"auth_installation_metadata", "auth_expired_tokens", NULL,
};

static const struct kvm_bytes auth_part = KVM_RV_LIT("auth");

/* A record "auth", @prefix + field @field, value from columns @c; the
 * row named by @id in messages (NULL: by its key). */
#define AUTH_RECORD(prefix, field, c, id) {                             \
	.part = KVM_RV_LIT("auth"), .part_field = -1,                   \
	.key = KVM_RV_LIT(prefix), .key_field = (field),                \
	.cols = (c), .ncols = KVM_RV_COUNT(c), .row_id = (id),          \
}

/* The serial id of users, groups and policies: not carried, but it names
 * a row whose display_name is NULL.  Selected after the carried columns. */
static const struct kvm_rowval_col group_id = { "id", 2, KVM_RV_INT };
static const struct kvm_rowval_col policy_id = { "id", 3, KVM_RV_INT };
static const struct kvm_rowval_col user_id = { "id", 7, KVM_RV_INT };

static const struct kvm_rowval_col token_cols[] = {
	{ "token_id", 0, KVM_RV_TEXT },
	{ "token_expires_at", 1, KVM_RV_TS },
};
static const struct kvm_rowval_record token_rec =
	AUTH_RECORD("expiredTokens/", 0, token_cols, NULL);

static const struct kvm_rowval_col group_cols[] = {
	{ "created_at", 0, KVM_RV_TS },
	{ "display_name", 1, KVM_RV_TEXT },
};
static const struct kvm_rowval_record group_rec =
	AUTH_RECORD("groups/", 1, group_cols, &group_id);

static const struct kvm_rowval_col meta_cols[] = {
	{ "key_name", 0, KVM_RV_TEXT },
	{ "key_value", 1, KVM_RV_TEXT },
};
static const struct kvm_rowval_record meta_rec =
	AUTH_RECORD("installation_metadata/", 0, meta_cols, NULL);

static const struct kvm_rowval_col policy_cols[] = {
	{ "created_at", 0, KVM_RV_TS },
	{ "display_name", 1, KVM_RV_TEXT },
	{ "statement", 2, KVM_RV_JSONB },
};
static const struct kvm_rowval_record policy_rec =
	AUTH_RECORD("policies/", 1, policy_cols, &policy_id);

static const struct kvm_rowval_col user_cols[] = {
	{ "created_at", 0, KVM_RV_TS },
	{ "display_name", 1, KVM_RV_TEXT },
	{ "friendly_name", 2, KVM_RV_TEXT },
	{ "source", 3, KVM_RV_TEXT },
	{ "email", 4, KVM_RV_TEXT },
	{ "encrypted_password", 5, KVM_RV_BYTEA },
	{ "external_id", 6, KVM_RV_TEXT },
};
static const struct kvm_rowval_record user_rec =
	AUTH_RECORD("users/", 1, user_cols, &user_id);

static int token_row(struct kvm_row *row, struct kvm_error *err)
{
	return kvm_rowval_emit(row, &token_rec, err);
}

static int group_row(struct kvm_row *row, struct kvm_error *err)
{
	return kvm_rowval_emit(row, &group_rec, err);
}

static int meta_row(struct kvm_row *row, struct kvm_error *err)
{
	return kvm_rowval_emit(row, &meta_rec, err);
}

static int policy_row(struct kvm_row *row, struct kvm_error *err)
{
	return kvm_rowval_emit(row, &policy_rec, err);
}

static int user_row(struct kvm_row *row, struct kvm_error *err)
{
	return kvm_rowval_emit(row, &user_rec, err);
}

/*
 * A membership table.  Its query selects the two id columns in the
 * table's order (fields 0 and 1), then the names they refer to (fields 2
 * and 3, NULL when the id matches no row), then the ids of the rows
 * referred to (fields 4 and 5, NULL when there is none: a NULL name of
 * an existing row is a NULL display_name, not a dangling reference).
 * The key is prefix, one name, mid, the other name; @first says which
 * name comes first.
 */
struct membership {
	const char *id_col[2];
	const char *ref_table[2];
	unsigned first;
	struct kvm_bytes prefix, mid;
};

static int dangling(struct kvm_row *row, const struct membership *m,
                    unsigned which, struct kvm_error *err)
{
	int64_t id[2];
	int rc;

	for (unsigned i = 0; i < 2; i++)
		if ((rc = kvm_pgcopy_int(row->copy, &row->f[i], &id[i], err)) != 0)
			return rc;
	char what[160];

	snprintf(what, sizeof(what), "%s %" PRId64 ", %s %" PRId64, m->id_col[0],
	         id[0], m->id_col[1], id[1]);
	if (kvm_rowval_null(row, 4 + which))
		kvm_error_set(err, KVM_EDANGLING, "table '%s': row (%s) refers to "
		              "%s id %" PRId64 ", which does not exist", row->table,
		              what, m->ref_table[which], id[which]);
	else
		kvm_error_set(err, KVM_ENULL, "table '%s': row (%s) refers to %s "
		              "id %" PRId64 ", whose display_name is NULL; its KV "
		              "key is made of that name", row->table, what,
		              m->ref_table[which], id[which]);
	kvm_error_where(err, NULL, NULL, what);
	return err->code;
}

static int membership_row(struct kvm_row *row, const struct membership *m,
                          struct kvm_error *err)
{
	struct kvm_bytes key[] = {
		m->prefix, kvm_rowval_field(row, 2 + m->first),
		m->mid, kvm_rowval_field(row, 3 - m->first),
	};
	int rc;

	for (unsigned i = 0; i < 2; i++)
		if (kvm_rowval_null(row, 2 + i))
			return dangling(row, m, i, err);
	if ((rc = kvm_rowval_build(row, NULL, 0, err)) != 0)
		return rc;
	return kvm_row_emit(row, &auth_part, 1, key, KVM_RV_COUNT(key), err);
}

static const struct membership group_policies = {
	.id_col = { "group_id", "policy_id" },
	.ref_table = { "auth_groups", "auth_policies" },
	.first = 0,
	.prefix = KVM_RV_LIT("gPolicies/"), .mid = KVM_RV_LIT("/policies/"),
};

static const struct membership user_groups = {
	.id_col = { "user_id", "group_id" },
	.ref_table = { "auth_users", "auth_groups" },
	.first = 1,
	.prefix = KVM_RV_LIT("gUsers/"), .mid = KVM_RV_LIT("/users/"),
};

static const struct membership user_policies = {
	.id_col = { "user_id", "policy_id" },
	.ref_table = { "auth_users", "auth_policies" },
	.first = 0,
	.prefix = KVM_RV_LIT("uPolicies/"), .mid = KVM_RV_LIT("/policies/"),
};

static int group_policy_row(struct kvm_row *row, struct kvm_error *err)
{
	return membership_row(row, &group_policies, err);
}

static int user_group_row(struct kvm_row *row, struct kvm_error *err)
{
	return membership_row(row, &user_groups, err);
}

static int user_policy_row(struct kvm_row *row, struct kvm_error *err)
{
	return membership_row(row, &user_policies, err);
}

/* Fields: access_key_id, secret_access_key, issued_date, the user's name,
 * user_id, the id of the user found (NULL: none).  A credential without a
 * user is legal: its key has an empty user and its "user" is nil. */
static const struct kvm_rowval_col cred_cols[] = {
	{ "access_key_id", 0, KVM_RV_TEXT },
	{ "secret_access_key", 1, KVM_RV_BYTEA },
	{ "issued_date", 2, KVM_RV_TS },
	{ "user", 3, KVM_RV_TEXT },
};

static int cred_dangling(struct kvm_row *row, struct kvm_error *err)
{
	char akid[128];
	int64_t id;
	int rc;

	if ((rc = kvm_pgcopy_int(row->copy, &row->f[4], &id, err)) != 0)
		return rc;
	kvm_row_describe(&row->f[0], akid, sizeof(akid));
	char what[200];

	snprintf(what, sizeof(what), "access_key_id %s, user_id %" PRId64, akid, id);
	if (kvm_rowval_null(row, 5))
		kvm_error_set(err, KVM_EDANGLING, "table '%s': row (%s) refers to "
		              "auth_users id %" PRId64 ", which does not exist",
		              row->table, what, id);
	else
		kvm_error_set(err, KVM_ENULL, "table '%s': row (%s) refers to "
		              "auth_users id %" PRId64 ", whose display_name is "
		              "NULL; its KV key is made of that name", row->table,
		              what, id);
	kvm_error_where(err, NULL, NULL, what);
	return err->code;
}

static int cred_row(struct kvm_row *row, struct kvm_error *err)
{
	struct kvm_bytes key[] = {
		KVM_RV_LIT("uCredentials/"), kvm_rowval_field(row, 3),
		KVM_RV_LIT("/credentials/"), kvm_rowval_field(row, 0),
	};
	int rc;

	if (kvm_rowval_null(row, 3) && !kvm_rowval_null(row, 4))
		return cred_dangling(row, err);
	rc = kvm_rowval_build(row, cred_cols, KVM_RV_COUNT(cred_cols), err);
	if (rc != 0)
		return rc;
	return kvm_row_emit(row, &auth_part, 1, key, KVM_RV_COUNT(key), err);
}

static const struct kvm_source auth_sources[] = {
	{
		.table = "auth_expired_tokens", .ncols = 2, .row = token_row,
		.query = "SELECT token_id, token_expires_at "
		         "FROM auth_expired_tokens "
		         "ORDER BY token_id COLLATE \"C\"",
	},
	{
		.table = "auth_group_policies", .ncols = 6, .row = group_policy_row,
		.query = "SELECT gp.group_id, gp.policy_id, g.display_name, "
		         "p.display_name, g.id, p.id "
		         "FROM auth_group_policies gp "
		         "LEFT JOIN auth_groups g ON g.id = gp.group_id "
		         "LEFT JOIN auth_policies p ON p.id = gp.policy_id "
		         "ORDER BY (g.display_name || '/policies/' || "
		         "p.display_name) COLLATE \"C\", gp.group_id, gp.policy_id",
	},
	{
		.table = "auth_user_groups", .ncols = 6, .row = user_group_row,
		.query = "SELECT ug.user_id, ug.group_id, u.display_name, "
		         "g.display_name, u.id, g.id "
		         "FROM auth_user_groups ug "
		         "LEFT JOIN auth_users u ON u.id = ug.user_id "
		         "LEFT JOIN auth_groups g ON g.id = ug.group_id "
		         "ORDER BY (g.display_name || '/users/' || "
		         "u.display_name) COLLATE \"C\", ug.group_id, ug.user_id",
	},
	{
		.table = "auth_groups", .ncols = 3, .row = group_row,
		.query = "SELECT created_at, display_name, id FROM auth_groups "
		         "ORDER BY display_name COLLATE \"C\"",
	},
	{
		.table = "auth_installation_metadata", .ncols = 2, .row = meta_row,
		.query = "SELECT key_name, key_value "
		         "FROM auth_installation_metadata "
		         "ORDER BY key_name COLLATE \"C\"",
	},
	{
		.table = "auth_policies", .ncols = 4, .row = policy_row,
		.query = "SELECT created_at, display_name, statement, id "
		         "FROM auth_policies "
		         "ORDER BY display_name COLLATE \"C\"",
	},
	{
		.table = "auth_credentials", .ncols = 6, .row = cred_row,
		.query = "SELECT c.access_key_id, c.secret_access_key, "
		         "c.issued_date, u.display_name, c.user_id, u.id "
		         "FROM auth_credentials c "
		         "LEFT JOIN auth_users u ON u.id = c.user_id "
		         "ORDER BY (coalesce(u.display_name, '') || "
		         "'/credentials/' || c.access_key_id) COLLATE \"C\", "
		         "c.access_key_id COLLATE \"C\"",
	},
	{
		.table = "auth_user_policies", .ncols = 6, .row = user_policy_row,
		.query = "SELECT up.user_id, up.policy_id, u.display_name, "
		         "p.display_name, u.id, p.id "
		         "FROM auth_user_policies up "
		         "LEFT JOIN auth_users u ON u.id = up.user_id "
		         "LEFT JOIN auth_policies p ON p.id = up.policy_id "
		         "ORDER BY (u.display_name || '/policies/' || "
		         "p.display_name) COLLATE \"C\", up.user_id, up.policy_id",
	},
	{
		.table = "auth_users", .ncols = 8, .row = user_row,
		.query = "SELECT created_at, display_name, friendly_name, source, "
		         "email, encrypted_password, external_id, id "
		         "FROM auth_users "
		         "ORDER BY display_name COLLATE \"C\"",
	},
};

const struct kvm_migrator kvm_migrator_auth = {
	.abi = KVM_MIGRATOR_ABI,
	.name = "auth",
	.tables = auth_tables,
	.sources = auth_sources,
	.nsources = KVM_RV_COUNT(auth_sources),
};
