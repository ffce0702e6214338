/*
 * catalog.h - what the database's catalog says about the tables kvmigrate
 * reads (internal to lib/): the version table and the old tables.
 *
 *     struct kvm_catalog_version v;
 *     kvm_catalog_read_version(db, &v, &err)       -- where, which version
 *     kvm_catalog_tables(db, v.schema, names, n, present, &err)
 *     kvm_catalog_quote(db, v.schema, "auth_users", &q, &err) ... free(q)
 *
 * The version table is golang-migrate's schema_migrations (version bigint,
 * dirty boolean; KVM_VERSION_TABLE), holding one row.  It is looked up the
 * way the server resolves the unqualified name: in the schemas of the
 * session's search_path, in order (current_schemas(false): the schemas
 * that exist and the role may use), the first holding a relation of that
 * name.  Its schema is where the old tables are too: the SQL versions
 * created them beside it, so everything else is asked of that schema by
 * name, never through search_path, and a table of the same name in
 * another schema, earlier in search_path, is never taken for an old
 * table.
 *
 * Every call runs in whatever transaction the connection is in (the
 * export asks inside its snapshot).  Messages name the database
 * (kvm_db_target) and the quoted table.
 */
#ifndef KVM_CATALOG_H
#define KVM_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/error.h"
#include "db.h"

/* Room for a schema name: PostgreSQL's are at most 63 bytes. */
#define KVM_CATALOG_NAME_MAX 256

/* The version table as read. */
struct kvm_catalog_version {
	/* The first schema of the session's search_path (current_schema()):
	 * where unqualified new tables go; "" when the path names no schema
	 * that exists. */
	char current_schema[KVM_CATALOG_NAME_MAX];
	/* The version table was found; in this schema ("" when not). */
	int exists;
	char schema[KVM_CATALOG_NAME_MAX];
	/* It holds its one row (0: the table is empty, as before the first
	 * version was written); then the row's version and dirty flag. */
	int has_row;
	uint64_t version;
	int dirty;
};

/*
 * Find the version table and read its row.
 *
 * An absent table and an empty one are not errors (@out says which);
 * anything else that is not one clean row is.
 *
 * @param[out] out  filled on success (zeroed first)
 * @return 0; KVM_EUNKNOWNVERSION when the table holds more than one row,
 *         a NULL or negative version, or a NULL dirty flag (the message
 *         names the table and what it holds); KVM_EINTERNAL for a schema
 *         name longer than KVM_CATALOG_NAME_MAX - 1; KVM_EDB
 */
int kvm_catalog_read_version(struct kvm_db *db, struct kvm_catalog_version *out,
                             struct kvm_error *err);

/*
 * Which of @n table names are tables (plain or partitioned) in schema
 * @schema: @present[i] is set to 1 or 0 for @names[i].  One query, the
 * schema and the names as parameters: nothing is resolved through
 * search_path, and views, sequences and other relations do not count.
 *
 * @return 0; KVM_ENOMEM; KVM_EDB
 */
int kvm_catalog_tables(struct kvm_db *db, const char *schema,
                       const char *const *names, size_t n, int *present,
                       struct kvm_error *err);

/*
 * "schema"."name", each part quoted with PQescapeIdentifier, for SQL
 * text; just "name" when @schema is NULL or "".
 *
 * @param[out] out  malloc'd; the caller frees it with free()
 * @return 0; KVM_ENOMEM; KVM_EDB (libpq refused to quote)
 */
int kvm_catalog_quote(struct kvm_db *db, const char *schema, const char *name,
                      char **out, struct kvm_error *err);

#endif /* KVM_CATALOG_H */
