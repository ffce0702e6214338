/*
 * catalog.c - the version table and the old tables, as the catalog says
 * (catalog.h): where the version table is and what it holds, which old
 * tables exist in a schema, and a schema-qualified name quoted for SQL.
 *
 * One rule set for the version table, the strictest of the readers it
 * replaces: absent and empty are states the callers decide about; more
 * than one row, a NULL or negative version and a NULL dirty flag are
 * errors, never read as some version.  Names go to the server as
 * parameters and are compared there with the catalog's, so no name is
 * resolved through search_path once the version table's schema is known.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "kvm/migrate.h"

/* The schema of the session's search_path in which the unqualified name
 * $1 resolves to something rows can be read from, as the server would
 * resolve it, and the first schema of the path. */
static const char find_sql[] =
	"SELECT coalesce(current_schema()::text, ''), coalesce(("
	"SELECT s.nspname::text FROM unnest(current_schemas(false)) "
	"WITH ORDINALITY AS s(nspname, i) "
	"JOIN pg_catalog.pg_namespace n ON n.nspname = s.nspname "
	"JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid "
	"WHERE c.relname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
	"ORDER BY s.i LIMIT 1), '')";

static int copy_name(char *out, const char *name, struct kvm_error *err)
{
	if (strlen(name) >= KVM_CATALOG_NAME_MAX)
		return kvm_error_set(err, KVM_EINTERNAL, "a schema name of %zu "
		                     "bytes; at most %d are expected", strlen(name),
		                     KVM_CATALOG_NAME_MAX - 1);
	memcpy(out, name, strlen(name) + 1);
	return 0;
}

int kvm_catalog_read_version(struct kvm_db *db, struct kvm_catalog_version *out,
                             struct kvm_error *err)
{
	const char *param[1] = { KVM_VERSION_TABLE };
	char *table = NULL, *sql = NULL;
	PGresult *res;
	long long rows;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = kvm_db_query(db, &res, find_sql, 1, param, err)) != 0)
		return rc;
	if ((rc = copy_name(out->current_schema, PQgetvalue(res, 0, 0), err)) == 0)
		rc = copy_name(out->schema, PQgetvalue(res, 0, 1), err);
	PQclear(res);
	if (rc != 0 || out->schema[0] == '\0')
		return rc;
	out->exists = 1;
	if ((rc = kvm_catalog_quote(db, out->schema, KVM_VERSION_TABLE, &table,
	                            err)) != 0)
		return rc;
	/* count(*) OVER () counts every row, not only the one returned */
	if ((sql = malloc(strlen(table) + 64)) == NULL) {
		free(table);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	sprintf(sql, "SELECT version, dirty, count(*) OVER () FROM %s LIMIT 1",
	        table);
	rc = kvm_db_query(db, &res, sql, 0, NULL, err);
	free(sql);
	if (rc != 0) {
		free(table);
		return rc;
	}
	if (PQntuples(res) == 1) {
		const char *why = NULL;

		rows = atoll(PQgetvalue(res, 0, 2));
		if (rows > 1)
			why = "more than one row";
		else if (PQgetisnull(res, 0, 0) || PQgetvalue(res, 0, 0)[0] == '-')
			why = "a negative or NULL version";
		else if (PQgetisnull(res, 0, 1))
			why = "a NULL dirty flag";
		if (why != NULL) {
			rc = kvm_error_set(err, KVM_EUNKNOWNVERSION, "%s: the version "
			                   "table %s holds %s; it must hold one row "
			                   "with a version of 0 or more and a dirty "
			                   "flag", kvm_db_target(db), table, why);
		} else {
			out->has_row = 1;
			out->version = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
			out->dirty = PQgetvalue(res, 0, 1)[0] == 't';
		}
	}
	PQclear(res);
	free(table);
	return rc;
}

/* @names as a text[] literal: {"a","b"}, with " and \ escaped. */
static char *array_literal(const char *const *names, size_t n)
{
	size_t len = 3;
	char *out, *p;

	for (size_t i = 0; i < n; i++)
		len += 2 * strlen(names[i]) + 3;
	if ((out = malloc(len)) == NULL)
		return NULL;
	p = out;
	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		for (const char *s = names[i]; *s; s++) {
			if (*s == '"' || *s == '\\')
				*p++ = '\\';
			*p++ = *s;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return out;
}

int kvm_catalog_tables(struct kvm_db *db, const char *schema,
                       const char *const *names, size_t n, int *present,
                       struct kvm_error *err)
{
	static const char sql[] =
		"SELECT c.relname::text FROM pg_catalog.pg_class c "
		"JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace "
		"WHERE ns.nspname = $1 AND c.relname::text = ANY ($2::text[]) "
		"AND c.relkind IN ('r', 'p')";
	const char *param[2] = { schema, NULL };
	char *list;
	PGresult *res;
	int rc;

	for (size_t i = 0; i < n; i++)
		present[i] = 0;
	if (n == 0)
		return 0;
	if ((list = array_literal(names, n)) == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	param[1] = list;
	rc = kvm_db_query(db, &res, sql, 2, param, err);
	free(list);
	if (rc != 0)
		return rc;
	for (int r = 0; r < PQntuples(res); r++)
		for (size_t i = 0; i < n; i++)
			if (strcmp(PQgetvalue(res, r, 0), names[i]) == 0)
				present[i] = 1;
	PQclear(res);
	return 0;
}

int kvm_catalog_quote(struct kvm_db *db, const char *schema, const char *name,
                      char **out, struct kvm_error *err)
{
	PGconn *conn = kvm_db_conn(db);
	char *s = NULL, *t;
	size_t len;

	*out = NULL;
	if (schema != NULL && schema[0] != '\0' &&
	    (s = PQescapeIdentifier(conn, schema, strlen(schema))) == NULL)
		return kvm_db_error(db, NULL, KVM_EDB, err);
	if ((t = PQescapeIdentifier(conn, name, strlen(name))) == NULL) {
		PQfreemem(s);
		return kvm_db_error(db, NULL, KVM_EDB, err);
	}
	len = (s != NULL ? strlen(s) + 1 : 0) + strlen(t) + 1;
	if ((*out = malloc(len)) != NULL)
		snprintf(*out, len, "%s%s%s", s != NULL ? s : "",
		         s != NULL ? "." : "", t);
	PQfreemem(s);
	PQfreemem(t);
	if (*out == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	return 0;
}
