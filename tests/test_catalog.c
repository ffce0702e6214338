/*
 * test_catalog.c - the version table and the old tables as the catalog
 * says (lib/catalog.c), against the harness's PostgreSQL: the version
 * table absent, empty, with one clean or dirty row, with two rows, a NULL
 * or negative version; found along search_path, its schema returned;
 * which tables exist in a given schema, whatever search_path says and
 * whatever the names hold; names quoted; and the export reading the old
 * tables of the version table's schema when a schema earlier in
 * search_path holds tables of the same names.
 */
#include "kvmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "catalog.h"
#include "db.h"
#include "kvm/export.h"
#include "kvm/migrate.h"

struct fixture {
	char db[KVMT_CONNINFO_MAX];
	PGconn *c;                 /* the test's own connection */
	struct kvm_db *kdb;        /* the library's */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct kvm_db_opts o = { 0 };
	struct kvm_error err = { 0 };

	assert_non_null(f);
	assert_int_equal(kvmt_db_create(f->db, sizeof(f->db), "kvmt_catalog"), 0);
	f->c = kvmt_connect(f->db);
	o.conninfo = f->db;
	if (kvm_db_open(&f->kdb, &o, &err) != 0)
		fail_msg("kvm_db_open: %s", err.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kvm_db_close(f->kdb);
	PQfinish(f->c);
	kvmt_db_drop(f->db);
	free(f);
	return 0;
}

/* Run @sql on the library's connection, or fail. */
static void kexec(struct fixture *f, const char *sql)
{
	struct kvm_error err = { 0 };

	if (kvm_db_exec(f->kdb, sql, &err) != 0)
		fail_msg("%s: %s", sql, err.msg);
}

static void read_ok(struct fixture *f, struct kvm_catalog_version *v)
{
	struct kvm_error err = { 0 };

	if (kvm_catalog_read_version(f->kdb, v, &err) != 0)
		fail_msg("kvm_catalog_read_version: %s", err.msg);
}

/* --- the version table ------------------------------------------------------ */

static void test_catalog__the_version_table_in_every_state(void **state)
{
	struct fixture *f = *state;
	struct kvm_catalog_version v;
	struct kvm_error err = { 0 };

	read_ok(f, &v);
	assert_false(v.exists);
	assert_string_equal(v.schema, "");
	assert_string_equal(v.current_schema, "public");

	kvmt_exec(f->c, "CREATE TABLE schema_migrations (version bigint NOT NULL "
	          "PRIMARY KEY, dirty boolean NOT NULL)");
	read_ok(f, &v);
	assert_true(v.exists);
	assert_string_equal(v.schema, "public");
	assert_false(v.has_row);

	kvmt_exec(f->c, "INSERT INTO schema_migrations VALUES (8, false)");
	read_ok(f, &v);
	assert_true(v.has_row);
	assert_int_equal(v.version, 8);
	assert_false(v.dirty);

	kvmt_exec(f->c, "UPDATE schema_migrations SET version = 20230511150000, "
	          "dirty = true");
	read_ok(f, &v);
	assert_int_equal(v.version, 20230511150000ULL);
	assert_true(v.dirty);

	kvmt_exec(f->c, "INSERT INTO schema_migrations VALUES (9, false)");
	assert_int_equal(kvm_catalog_read_version(f->kdb, &v, &err),
	                 KVM_EUNKNOWNVERSION);
	assert_non_null(strstr(err.msg, "\"public\".\"schema_migrations\" holds "
	                       "more than one row"));

	kvmt_exec(f->c, "DELETE FROM schema_migrations; "
	          "INSERT INTO schema_migrations VALUES (-3, false)");
	assert_int_equal(kvm_catalog_read_version(f->kdb, &v, &err),
	                 KVM_EUNKNOWNVERSION);
	assert_non_null(strstr(err.msg, "a negative or NULL version"));

	/* golang-migrate's table has NOT NULL columns; one without them */
	kvmt_exec(f->c, "DROP TABLE schema_migrations; "
	          "CREATE TABLE schema_migrations (version bigint, dirty boolean); "
	          "INSERT INTO schema_migrations VALUES (NULL, false)");
	assert_int_equal(kvm_catalog_read_version(f->kdb, &v, &err),
	                 KVM_EUNKNOWNVERSION);
	assert_non_null(strstr(err.msg, "a negative or NULL version"));
	kvmt_exec(f->c, "UPDATE schema_migrations SET version = 8, dirty = NULL");
	assert_int_equal(kvm_catalog_read_version(f->kdb, &v, &err),
	                 KVM_EUNKNOWNVERSION);
	assert_non_null(strstr(err.msg, "a NULL dirty flag"));
}

/* The first schema of search_path holding a schema_migrations, as the
 * server resolves the name; schemas that do not exist are skipped. */
static void test_catalog__the_version_table_found_along_search_path(void **state)
{
	struct fixture *f = *state;
	struct kvm_catalog_version v;

	kvmt_exec(f->c, "CREATE SCHEMA \"my \"\"app\"\"\"; CREATE SCHEMA other;"
	          "CREATE TABLE \"my \"\"app\"\"\".schema_migrations "
	          "(version bigint NOT NULL, dirty boolean NOT NULL);"
	          "INSERT INTO \"my \"\"app\"\"\".schema_migrations VALUES (5, false);"
	          "CREATE TABLE public.schema_migrations "
	          "(version bigint NOT NULL, dirty boolean NOT NULL);"
	          "INSERT INTO public.schema_migrations VALUES (8, false)");
	kexec(f, "SET search_path = nosuch, other, \"my \"\"app\"\"\", "
	            "public");
	read_ok(f, &v);
	assert_string_equal(v.current_schema, "other");
	assert_string_equal(v.schema, "my \"app\"");
	assert_int_equal(v.version, 5);
	kexec(f, "SET search_path = other, public");
	read_ok(f, &v);
	assert_string_equal(v.schema, "public");
	assert_int_equal(v.version, 8);
	/* a path naming no schema that exists */
	kexec(f, "SET search_path = nosuch");
	read_ok(f, &v);
	assert_false(v.exists);
	assert_string_equal(v.current_schema, "");
}

/* --- old tables --------------------------------------------------------------- */

static void test_catalog__tables_of_one_schema_whatever_search_path_says(void **state)
{
	struct fixture *f = *state;
	struct kvm_error err = { 0 };
	const char *const names[] = {
		"t1", "t2", "v1", "s1", "part", "we\"ird,{x}\\", "nosuch", "",
	};
	int present[8];

	kvmt_exec(f->c, "CREATE SCHEMA a; CREATE SCHEMA b;"
	          "CREATE TABLE a.t1 (x int); CREATE TABLE b.t2 (x int);"
	          "CREATE VIEW a.v1 AS SELECT 1; CREATE SEQUENCE a.s1;"
	          "CREATE TABLE a.part (x int) PARTITION BY RANGE (x);"
	          "CREATE TABLE a.\"we\"\"ird,{x}\\\" (x int);"
	          "CREATE TABLE public.t2 (x int)");
	/* b first in the path: t2 resolves to b.t2, which is not a's */
	kexec(f, "SET search_path = b, a, public");
	if (kvm_catalog_tables(f->kdb, "a", names, 8, present, &err) != 0)
		fail_msg("kvm_catalog_tables: %s", err.msg);
	assert_int_equal(present[0], 1);   /* t1 */
	assert_int_equal(present[1], 0);   /* t2: only in b and public */
	assert_int_equal(present[2], 0);   /* a view */
	assert_int_equal(present[3], 0);   /* a sequence */
	assert_int_equal(present[4], 1);   /* a partitioned table */
	assert_int_equal(present[5], 1);   /* quotes, comma, braces, backslash */
	assert_int_equal(present[6], 0);
	assert_int_equal(present[7], 0);
	assert_int_equal(kvm_catalog_tables(f->kdb, "b", names, 2, present, &err), 0);
	assert_int_equal(present[0], 0);
	assert_int_equal(present[1], 1);
	assert_int_equal(kvm_catalog_tables(f->kdb, "nosuch", names, 2, present,
	                                    &err), 0);
	assert_int_equal(present[0] + present[1], 0);
	assert_int_equal(kvm_catalog_tables(f->kdb, "a", names, 0, present, &err), 0);
}

static void test_catalog__names_quoted(void **state)
{
	struct fixture *f = *state;
	struct kvm_error err = { 0 };
	char *q;

	assert_int_equal(kvm_catalog_quote(f->kdb, "my \"app\"", "auth_users", &q,
	                                   &err), 0);
	assert_string_equal(q, "\"my \"\"app\"\"\".\"auth_users\"");
	free(q);
	assert_int_equal(kvm_catalog_quote(f->kdb, NULL, "Mixed", &q, &err), 0);
	assert_string_equal(q, "\"Mixed\"");
	free(q);
	assert_int_equal(kvm_catalog_quote(f->kdb, "", "x", &q, &err), 0);
	assert_string_equal(q, "\"x\"");
	free(q);
}

/* --- the export reads the version table's schema ----------------------------- */

/* Whether the export at @path holds a record with partition @part and key
 * @key. */
static int has_record(const char *path, const char *part, const char *key)
{
	kvm_export_reader *rd;
	struct kvm_export_record rec;
	struct kvm_error err = { 0 };
	int rc, found = 0;

	if (kvm_export_reader_open(&rd, path, NULL, &err) != 0)
		fail_msg("open %s: %s", path, err.msg);
	while ((rc = kvm_export_reader_next(rd, &rec, &err)) == 0)
		found |= rec.partition_len == strlen(part) &&
		         memcmp(rec.partition, part, rec.partition_len) == 0 &&
		         rec.key_len == strlen(key) &&
		         memcmp(rec.key, key, rec.key_len) == 0;
	assert_int_equal(rc, KVM_END);
	kvm_export_reader_close(rd);
	return found;
}

/*
 * The database is at version 8 in public. A schema "shadow", first in the
 * database's search_path, holds tables of the same names as old tables,
 * with other rows (and no version table): the export reads public's, with
 * one job and with several (each worker joins with the same path).
 */
static void test_catalog__the_export_reads_the_version_tables_schema(void **state)
{
	struct fixture *f = *state;
	struct kvm_up_opts uo = KVM_UP_OPTS_INIT;
	struct kvm_up_result ur;
	struct kvm_export_db_result r = { 0 };
	struct kvm_error err = { 0 };
	char *dir = kvmt_tmpdir(), path[512], sql[512], dbname[128];
	const char *name;

	uo.conninfo = f->db;
	if (kvm_up(&uo, &ur, &err) != 0)
		fail_msg("kvm_up: %s", err.msg);
	kvmt_exec(f->c,
	          "INSERT INTO auth_users (created_at, display_name) "
	          "  VALUES (now(), 'right');"
	          "INSERT INTO graveler_staging_kv VALUES ('tok', 'right-key', NULL, NULL);"
	          "CREATE SCHEMA shadow;"
	          "CREATE TABLE shadow.auth_users (LIKE public.auth_users INCLUDING ALL);"
	          "CREATE TABLE shadow.graveler_staging_kv "
	          "  (LIKE public.graveler_staging_kv INCLUDING ALL);"
	          "CREATE TABLE shadow.gateway_multiparts "
	          "  (LIKE public.gateway_multiparts INCLUDING ALL);"
	          "INSERT INTO shadow.auth_users (created_at, display_name) "
	          "  VALUES (now(), 'wrong');"
	          "INSERT INTO shadow.graveler_staging_kv VALUES "
	          "  ('tok', 'wrong-key', NULL, NULL), ('shadow-tok', 'k', NULL, NULL);"
	          "INSERT INTO shadow.gateway_multiparts (upload_id, path, creation_date) "
	          "  VALUES ('wrong-upload', 'p', now())");
	name = strstr(f->db, "dbname=") + 7;
	name += *name == '\'';
	snprintf(dbname, sizeof(dbname), "%.*s", (int)strcspn(name, " '"), name);
	snprintf(sql, sizeof(sql), "ALTER DATABASE \"%s\" SET search_path = "
	         "shadow, public", dbname);
	kvmt_exec(f->c, sql);
	snprintf(path, sizeof(path), "%s/x.kvm", dir);
	for (unsigned jobs = 1; jobs <= 3; jobs += 2) {
		struct kvm_export_db_opts o = KVM_EXPORT_DB_OPTS_INIT;

		o.conninfo = f->db;
		o.output = path;
		o.jobs = jobs;
		kvm_export_db_result_release(&r);
		if (kvm_export_db(&o, &r, &err) != 0)
			fail_msg("export with %u jobs: %s", jobs, err.msg);
		assert_true(has_record(path, "auth", "users/right"));
		assert_true(has_record(path, "staging/tok", "right-key"));
		if (has_record(path, "auth", "users/wrong") ||
		    has_record(path, "staging/tok", "wrong-key") ||
		    has_record(path, "staging/shadow-tok", "k") ||
		    has_record(path, "gateway", "multipart/wrong-upload"))
			fail_msg("jobs %u: the export read the tables of schema "
			         "'shadow', first in search_path", jobs);
		assert_int_equal(r.packages[0].records, 1);
		assert_int_equal(r.packages[2].records, 1);
	}
	/* an old table missing in public: refused, though shadow has one */
	kvmt_exec(f->c, "DROP TABLE public.gateway_multiparts");
	{
		struct kvm_export_db_opts o = KVM_EXPORT_DB_OPTS_INIT;

		o.conninfo = f->db;
		o.output = path;
		kvm_export_db_result_release(&r);
		assert_int_equal(kvm_export_db(&o, &r, &err), KVM_ENOTABLE);
		assert_non_null(strstr(err.msg, "table 'gateway_multiparts' of "
		                       "package 'multiparts' does not exist in schema "
		                       "'public'"));
	}
	kvmt_rmtree(dir);
	free(dir);
	kvm_export_db_result_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_catalog__the_version_table_in_every_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catalog__the_version_table_found_along_search_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catalog__tables_of_one_schema_whatever_search_path_says, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catalog__names_quoted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catalog__the_export_reads_the_version_tables_schema, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
