/*
 * test_export.c - kvm_export_db() against the harness's PostgreSQL: the
 * records of a small hand-made database, byte for byte (values checked
 * against msgpack bytes made by Python's msgpack, not by kvmigrate); byte
 * order under a database collation that is not byte order; the same file
 * content whatever the number of jobs; keys longer than LMDB allows
 * written as they are; and every refusal (a dangling membership, a NULL
 * in a key column, a key longer than an export file carries, two rows
 * giving one key, a missing table, the wrong schema version, an unknown
 * package, a cancel) leaving no file behind.
 */
#include "kvmt.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "kvm/export.h"
#include "kvm/migrate.h"
#include "kvm/schema.h"

/* --- helpers -------------------------------------------------------------- */

struct fixture {
	char db[KVMT_CONNINFO_MAX];
	char *dir;
	char path[512];
	PGconn *c;
};

/* A database at the last SQL version, built by kvm_up(). */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct kvm_up_opts uo = KVM_UP_OPTS_INIT;
	struct kvm_up_result ur;
	struct kvm_error err = { 0 };

	assert_non_null(f);
	assert_int_equal(kvmt_db_create(f->db, sizeof(f->db), "kvmt_export"), 0);
	uo.conninfo = f->db;
	assert_int_equal(kvm_up(&uo, &ur, &err), 0);
	f->dir = kvmt_tmpdir();
	snprintf(f->path, sizeof(f->path), "%s/out.kvm", f->dir);
	f->c = kvmt_connect(f->db);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	PQfinish(f->c);
	kvmt_db_drop(f->db);
	kvmt_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static int export(struct fixture *f, unsigned jobs, const char *const *pkgs,
                  size_t npkgs, struct kvm_export_db_result *r,
                  struct kvm_error *err)
{
	struct kvm_export_db_opts o = KVM_EXPORT_DB_OPTS_INIT;

	o.conninfo = f->db;
	o.output = f->path;
	o.jobs = jobs;
	o.packages = pkgs;
	o.npackages = npkgs;
	return kvm_export_db(&o, r, err);
}

static void hex(char *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * n] = '\0';
}

/* The records of @path as lines "section|partition|key|valuehex" where
 * partition and key are shown as hex when not printable. */
static char *records(const char *path)
{
	kvm_export_reader *rd;
	struct kvm_export_record rec;
	struct kvm_error err = { 0 };
	size_t cap = 1 << 16, n = 0;
	char *out = malloc(cap);
	int rc;

	assert_non_null(out);
	assert_int_equal(kvm_export_reader_open(&rd, path, NULL, &err), 0);
	while ((rc = kvm_export_reader_next(rd, &rec, &err)) == 0) {
		size_t need = 64 + 2 * (rec.partition_len + rec.key_len + rec.value_len);
		char *p;

		while (cap - n < need) {
			cap *= 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
		p = out + n;
		p += sprintf(p, "%s|", kvm_export_reader_header(rd)->packages[rec.section]);
		hex(p, rec.partition, rec.partition_len);
		p += strlen(p);
		*p++ = '|';
		hex(p, rec.key, rec.key_len);
		p += strlen(p);
		*p++ = '|';
		hex(p, rec.value, rec.value_len);
		p += strlen(p);
		*p++ = '\n';
		n = (size_t)(p - out);
	}
	assert_int_equal(rc, KVM_END);
	out[n] = '\0';
	kvm_export_reader_close(rd);
	return out;
}

static char *hexs(const char *s)
{
	static char buf[4][1024];
	static int i;

	i = (i + 1) % 4;
	hex(buf[i], (const uint8_t *)s, strlen(s));
	return buf[i];
}

/* The record line of a key, or NULL. */
static const char *find(const char *recs, const char *pkg, const char *part,
                        const char *key)
{
	char want[2048];

	snprintf(want, sizeof(want), "%s|%s|%s|", pkg, hexs(part), hexs(key));
	for (const char *l = recs; *l; ) {
		const char *nl = strchr(l, '\n');

		if (strncmp(l, want, strlen(want)) == 0)
			return l + strlen(want);
		l = nl + 1;
	}
	return NULL;
}

static void want_value(const char *recs, const char *pkg, const char *part,
                       const char *key, const char *value_hex)
{
	const char *v = find(recs, pkg, part, key);

	if (v == NULL)
		fail_msg("no record %s %s %s", pkg, part, key);
	if (strncmp(v, value_hex, strlen(value_hex)) != 0 ||
	    v[strlen(value_hex)] != '\n')
		fail_msg("record %s %s: value %.*s, want %s", part, key,
		         (int)(strchr(v, '\n') - v), v, value_hex);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Nothing in the directory: no file, no temporary file. */
static void dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			fail_msg("left behind: %s", de->d_name);
	closedir(d);
}

#define TS "'2021-01-02 03:04:05.123456+00'"
/* msgpack timestamp 64 of that moment (Python: msgpack.Timestamp). */
#define TS_HEX "d7ff1d6f28005fefe2a5"

static void fill(PGconn *c)
{
	kvmt_exec(c,
	        "INSERT INTO auth_users (created_at, display_name, encrypted_password) "
	        "  VALUES (" TS ", 'a/b', '\\x00ff');"
	        "INSERT INTO auth_users (created_at, display_name, email) "
	        "  VALUES (" TS ", 'carol', 'c@example.com');"
	        "INSERT INTO auth_groups (created_at, display_name) VALUES (" TS ", 'admins');"
	        "INSERT INTO auth_policies (created_at, display_name, statement) "
	        "  VALUES (" TS ", 'all', '[{\"action\": [\"*\"]}]');"
	        "INSERT INTO auth_user_groups SELECT u.id, g.id FROM auth_users u, auth_groups g;"
	        "INSERT INTO auth_user_policies SELECT u.id, p.id FROM auth_users u, auth_policies p "
	        "  WHERE u.display_name = 'carol';"
	        "INSERT INTO auth_group_policies SELECT g.id, p.id FROM auth_groups g, auth_policies p;"
	        "INSERT INTO auth_credentials VALUES ('AK1', '\\x0102', " TS ", "
	        "  (SELECT id FROM auth_users WHERE display_name = 'carol'));"
	        "INSERT INTO auth_credentials VALUES ('AK2', '\\x0073', " TS ", NULL);"
	        "INSERT INTO auth_installation_metadata VALUES ('setup', 'done');"
	        "INSERT INTO auth_expired_tokens VALUES ('tok', " TS ");"
	        "INSERT INTO graveler_repositories VALUES ('r1', 's3://b', " TS ", 'main');"
	        "INSERT INTO graveler_branches VALUES ('r1', 'main', 'st1', 'c1');"
	        "INSERT INTO graveler_tags VALUES ('r1', 'v1', 'c1');"
	        "INSERT INTO graveler_commits (repository_id, id, committer, message, "
	        "  creation_date, meta_range_id, metadata, parents, version) "
	        "  VALUES ('r1', 'c1', 'me', 'm', " TS ", 'mr', '{\"a\":\"b\"}', "
	        "  ARRAY['p1', NULL], 1);"
	        "INSERT INTO graveler_staging_kv VALUES ('st1', '\\x00ff', '\\x0102', NULL),"
	        "  ('st1', '\\x61', NULL, NULL), ('st0', '\\xff', '\\x01', '\\x02');"
	        "INSERT INTO actions_runs VALUES ('r1', 'run1', 'pre-commit', " TS ", " TS ", "
	        "  'main', 'main', 'c1', true);"
	        "INSERT INTO actions_run_hooks VALUES ('r1', 'run1', 'h1', 'act', 'hook', "
	        "  " TS ", " TS ", false);"
	        "INSERT INTO gateway_multiparts (upload_id, path, creation_date) "
	        "  VALUES ('u1', 'p/x', " TS ");");
}

/* --- tests ---------------------------------------------------------------- */

static void test_export__every_record_as_the_layout_says(void **state)
{
	struct fixture *f = *state;
	struct kvm_export_db_result r = { 0 };
	struct kvm_error err = { 0 };
	struct stat st;
	char *recs;

	fill(f->c);
	kvm_export_db_result_release(&r);
	if (export(f, 1, NULL, 0, &r, &err) != 0)
		fail_msg("export: %s", err.msg);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(r.verified);
	assert_int_equal(r.npackages, 5);
	assert_int_equal(r.source_version, 8);
	recs = records(f->path);

	/* auth: 2 users, group, policy, 2+1 memberships, 1 user policy, 2
	 * credentials, metadata, token */
	assert_int_equal(r.packages[0].records, 12);
	want_value(recs, "auth", "auth", "users/a/b",
	           "88a17601aa637265617465645f6174" TS_HEX "ac646973706c61795f6e616d65"
	           "a3612f62ad667269656e646c795f6e616d65c0a6736f75726365c0a5656d61696c"
	           "c0b2656e637279707465645f70617373776f7264c40200ffab65787465726e616c"
	           "5f6964c0");
	want_value(recs, "auth", "auth", "gUsers/admins/users/a/b", "81a17601");
	want_value(recs, "auth", "auth", "gUsers/admins/users/carol", "81a17601");
	want_value(recs, "auth", "auth", "uPolicies/carol/policies/all", "81a17601");
	want_value(recs, "auth", "auth", "gPolicies/admins/policies/all", "81a17601");
	want_value(recs, "auth", "auth", "uCredentials//credentials/AK2",
	           "85a17601ad6163636573735f6b65795f6964a3414b32b17365637265745f616363"
	           "6573735f6b6579c4020073ab6973737565645f64617465" TS_HEX
	           "a475736572c0");
	assert_non_null(find(recs, "auth", "auth", "uCredentials/carol/credentials/AK1"));
	assert_non_null(find(recs, "auth", "auth", "expiredTokens/tok"));
	assert_non_null(find(recs, "auth", "auth", "installation_metadata/setup"));
	assert_non_null(find(recs, "auth", "auth", "policies/all"));

	assert_int_equal(r.packages[1].records, 4);
	assert_non_null(find(recs, "refs", "graveler", "repos/r1"));
	assert_non_null(find(recs, "refs", "repo/r1", "branches/main"));
	assert_non_null(find(recs, "refs", "repo/r1", "tags/v1"));
	want_value(recs, "refs", "repo/r1", "commits/c1",
	           "8ba17601ad7265706f7369746f72795f6964a27231a26964a26331a9636f6d6d69"
	           "74746572a26d65a76d657373616765a16dad6372656174696f6e5f64617465"
	           TS_HEX "ad6d6574615f72616e67655f6964a26d72a86d65746164617461aa7b22"
	           "61223a202262227da7706172656e747392a27031c0a776657273696f6e01aa67"
	           "656e65726174696f6ec0");

	/* staging: partitions in byte order (st0 before st1), keys in byte
	 * order (0x00ff before 0x61), the tombstone kept */
	assert_int_equal(r.packages[2].records, 3);
	assert_non_null(strstr(recs, "staging|" "73746167696e672f737430" "|ff|"));
	{
		const char *a = strstr(recs, "staging|73746167696e672f737431|00ff|");
		const char *b = strstr(recs, "staging|73746167696e672f737431|61|");

		assert_non_null(a);
		assert_non_null(b);
		assert_true(strstr(recs, "staging|73746167696e672f737430|") < a);
		assert_true(a < b);
	}
	assert_non_null(strstr(recs, "staging|73746167696e672f737431|00ff|"
	                       "83a17601a86964656e74697479c4020102a464617461c0\n"));
	assert_non_null(strstr(recs, "staging|73746167696e672f737431|61|"
	                       "83a17601a86964656e74697479c0a464617461c0\n"));

	/* actions: run, hook, two index entries */
	assert_int_equal(r.packages[3].records, 4);
	assert_non_null(find(recs, "actions", "repo/r1", "actions/runs/run1"));
	assert_non_null(find(recs, "actions", "repo/r1", "actions/hooks/run1/h1"));
	want_value(recs, "actions", "repo/r1", "actions/branches/main/run1", "81a17601");
	want_value(recs, "actions", "repo/r1", "actions/commits/c1/run1", "81a17601");

	/* a multipart upload of an old release: NULLs become nil */
	want_value(recs, "multiparts", "gateway", "multipart/u1",
	           "87a17601a975706c6f61645f6964a27531a470617468a3702f78ad6372656174"
	           "696f6e5f64617465" TS_HEX "b0706879736963616c5f61646472657373c0"
	           "a86d65746164617461c0ac636f6e74656e745f74797065c0");
	assert_int_equal(count_lines(recs), 12 + 4 + 3 + 4 + 1);
	assert_int_equal(r.records, 24);
	free(recs);
	kvm_export_db_result_release(&r);
}

/* Under an ICU collation 'a' sorts before 'B' and '_'; the export still
 * gives byte order, which the engine checks record by record. */
static void test_export__byte_order_under_a_linguistic_collation(void **state)
{
	struct fixture *f = *state;
	struct kvm_export_db_result r = { 0 };
	struct kvm_error err = { 0 };
	char icu[KVMT_CONNINFO_MAX], sql[256], *recs;
	const char *b, *u, *a;
	PGconn *c;

	assert_int_equal(kvmt_db_create(icu, sizeof(icu), "kvmt_export_icu"), 0);
	c = kvmt_connect(icu);
	/* kvmt_db_create made it with the cluster's default: recreate it
	 * from template0 with an ICU default collation. */
	PQfinish(c);
	{
		PGconn *admin = kvmt_connect(kvmt_db());
		const char *name = strstr(icu, "dbname=") + 7;
		char dbname[128];

		name += *name == '\'';
		snprintf(dbname, sizeof(dbname), "%.*s", (int)strcspn(name, " '"), name);
		snprintf(sql, sizeof(sql), "DROP DATABASE %s", dbname);
		kvmt_exec(admin, sql);
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s TEMPLATE template0 "
		         "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'", dbname);
		kvmt_exec(admin, sql);
		PQfinish(admin);
	}
	{
		struct kvm_up_opts uo = KVM_UP_OPTS_INIT;
		struct kvm_up_result ur;

		uo.conninfo = icu;
		assert_int_equal(kvm_up(&uo, &ur, &err), 0);
	}
	c = kvmt_connect(icu);
	kvmt_exec(c, "INSERT INTO auth_users (created_at, display_name) VALUES "
	        "(now(), 'a'), (now(), 'B'), (now(), '_x');"
	        "INSERT INTO graveler_repositories VALUES ('b', 's', now(), 'm'), "
	        "('A', 's', now(), 'm');"
	        "INSERT INTO graveler_branches VALUES ('b', 'x', NULL, NULL), "
	        "('A', 'y', NULL, NULL), ('A', 'Z', NULL, NULL);");
	{
		PGresult *res = PQexec(c, "SELECT string_agg(display_name, ',' ORDER BY "
		                       "display_name) FROM auth_users");

		/* the premise: the server's order is not byte order */
		assert_string_equal(PQgetvalue(res, 0, 0), "_x,a,B");
		PQclear(res);
	}
	PQfinish(c);
	{
		struct kvm_export_db_opts o = KVM_EXPORT_DB_OPTS_INIT;

		o.conninfo = icu;
		o.output = f->path;
		o.jobs = 2;
		kvm_export_db_result_release(&r);
		if (kvm_export_db(&o, &r, &err) != 0)
			fail_msg("export: %s", err.msg);
	}
	recs = records(f->path);
	b = strstr(recs, hexs("users/B"));
	u = strstr(recs, hexs("users/_x"));
	a = strstr(recs, hexs("users/a"));
	assert_non_null(b);
	assert_non_null(u);
	assert_non_null(a);
	assert_true(b < u && u < a);
	/* partitions repo/A before repo/b; in repo/A, Z before y */
	assert_true(strstr(recs, hexs("branches/Z")) < strstr(recs, hexs("branches/y")));
	assert_true(strstr(recs, hexs("branches/y")) < strstr(recs, hexs("branches/x")));
	free(recs);
	kvmt_db_drop(icu);
	kvm_export_db_result_release(&r);
}

static void test_export__the_same_records_whatever_the_jobs(void **state)
{
	struct fixture *f = *state;
	struct kvm_export_db_result r1 = { 0 }, r4 = { 0 };
	struct kvm_error err = { 0 };
	char *a, *b;

	fill(f->c);
	/* more staging tokens than jobs, so units run out of order */
	kvmt_exec(f->c, "INSERT INTO graveler_staging_kv SELECT 'tok' || (i % 13), "
	        "int4send(i), int4send(i * 7), CASE WHEN i % 5 = 0 THEN NULL "
	        "ELSE repeat('x', i % 300)::bytea END FROM generate_series(1, 20000) i");
	kvm_export_db_result_release(&r1);
	if (export(f, 1, NULL, 0, &r1, &err) != 0)
		fail_msg("export: %s", err.msg);
	a = records(f->path);
	kvm_export_db_result_release(&r4);
	if (export(f, 4, NULL, 0, &r4, &err) != 0)
		fail_msg("export: %s", err.msg);
	b = records(f->path);
	assert_int_equal(r4.jobs, 4);
	assert_int_equal(r1.jobs, 1);
	/* 15 tokens, and the query for rows without a token */
	assert_int_equal(r1.packages[2].units, 16);
	assert_int_equal(r1.packages[2].records, 20003);
	assert_string_equal(a, b);
	for (size_t i = 0; i < r1.npackages; i++) {
		assert_int_equal(r1.packages[i].digest, r4.packages[i].digest);
		assert_int_equal(r1.packages[i].bytes, r4.packages[i].bytes);
	}
	assert_int_equal(r1.raw_bytes, r4.raw_bytes);
	free(a);
	free(b);
	kvm_export_db_result_release(&r1);
	kvm_export_db_result_release(&r4);
}

static void test_export__packages_subset_in_registry_order(void **state)
{
	struct fixture *f = *state;
	struct kvm_export_db_result r = { 0 };
	struct kvm_error err = { 0 };
	const char *pk[] = { "multiparts", "auth" };
	const char *bad[] = { "auth", "nosuch" };

	fill(f->c);
	kvm_export_db_result_release(&r);
	assert_int_equal(export(f, 2, pk, 2, &r, &err), 0);
	assert_int_equal(r.npackages, 2);
	assert_string_equal(r.packages[0].name, "auth");
	assert_string_equal(r.packages[1].name, "multiparts");
	unlink(f->path);
	kvm_export_db_result_release(&r);
	assert_int_equal(export(f, 1, bad, 2, &r, &err), KVM_EINVAL);
	assert_non_null(strstr(err.msg, "'nosuch'"));
	assert_non_null(strstr(err.msg, "staging"));
	dir_empty(f->dir);
	kvm_export_db_result_release(&r);
}

static void test_export__dangling_membership_names_the_row(void **state)
{
	struct fixture *f = *state;
	struct kvm_export_db_result r = { 0 };
	struct kvm_error err = { 0 };

	fill(f->c);
	kvmt_exec(f->c, "ALTER TABLE auth_user_groups DROP CONSTRAINT "
	        "auth_user_groups_user_id_fkey;"
	        "INSERT INTO auth_user_groups SELECT 4242, id FROM auth_groups");
	kvm_export_db_result_release(&r);
	assert_int_equal(export(f, 1, NULL, 0, &r, &err), KVM_EDANGLING);
	assert_non_null(strstr(err.msg, "auth_user_groups"));
	assert_non_null(strstr(err.msg, "4242"));
	dir_empty(f->dir);
	kvm_export_db_result_release(&r);
}

static void test_export__dangling_credential_names_the_row(void **state)
{
	struct fixture *f = *state;
	struct kvm_export_db_result r = { 0 };
	struct kvm_error err = { 0 };

	fill(f->c);
	kvmt_exec(f->c, "ALTER TABLE auth_credentials DROP CONSTRAINT "
	        "auth_credentials_user_id_fkey;"
	        "INSERT INTO auth_credentials VALUES ('AK9', '\\x00', now(), 777)");
	kvm_export_db_result_release(&r);
	assert_int_equal(export(f, 3, NULL, 0, &r, &err), KVM_EDANGLING);
	assert_non_null(strstr(err.msg, "auth_credentials"));
	assert_non_null(strstr(err.msg, "777"));
	dir_empty(f->dir);
	kvm_export_db_result_release(&r);
}

/* Export with @jobs, expecting KVM_ENULL and a message holding @a and @b;
 * then run @undo. */
static void expect_null(struct fixture *f, unsigned jobs, const char *a,
                        const char *b, const char *undo)
{
	struct kvm_export_db_result r = { 0 };
	struct kvm_error err = { 0 };

	kvm_export_db_result_release(&r);
	assert_int_equal(export(f, jobs, NULL, 0, &r, &err), KVM_ENULL);
	if (strstr(err.msg, a) == NULL || strstr(err.msg, b) == NULL)
		fail_msg("'%s' or '%s' not in: %s", a, b, err.msg);
	dir_empty(f->dir);
	kvmt_exec(f->c, undo);
	kvm_export_db_result_release(&r);
}

/* A NULL in a column a key or partition is made of, once the old
 * schema's NOT NULL is gone, is refused with the table, the column and
 * the row; a NULL in a column only the value holds is nil. */
static void test_export__a_null_in_a_key_column_names_the_row(void **state)
{
	struct fixture *f = *state;
	struct kvm_export_db_result r = { 0 };
	struct kvm_error err = { 0 };

	fill(f->c);
	kvmt_exec(f->c, "ALTER TABLE auth_users ALTER display_name DROP NOT NULL;"
	        "ALTER TABLE graveler_staging_kv ALTER staging_token DROP NOT NULL,"
	        "  ALTER key DROP NOT NULL;"
	        "ALTER TABLE actions_runs ALTER commit_id DROP NOT NULL;"
	        "ALTER TABLE graveler_commits ALTER committer DROP NOT NULL");
	/* carol is a member: her membership names her first, not as missing */
	kvmt_exec(f->c, "UPDATE auth_users SET display_name = NULL "
	        "WHERE display_name = 'carol'");
	expect_null(f, 1, "table 'auth_user_groups'", "whose display_name is NULL",
	            "UPDATE auth_users SET display_name = 'carol' "
	            "WHERE display_name IS NULL");
	kvmt_exec(f->c, "INSERT INTO auth_users (id, created_at, display_name) "
	        "VALUES (99, now(), NULL)");
	expect_null(f, 2, "table 'auth_users': row (id 99)", "'display_name'",
	            "DELETE FROM auth_users WHERE id = 99");
	/* rows without a token are in no unit: not left out, refused */
	kvmt_exec(f->c, "INSERT INTO graveler_staging_kv VALUES (NULL, 'k0', NULL, NULL)");
	expect_null(f, 2, "row (key 'k0')", "'staging_token'",
	            "DELETE FROM graveler_staging_kv WHERE staging_token IS NULL");
	kvmt_exec(f->c, "INSERT INTO graveler_staging_kv VALUES ('st1', NULL, NULL, NULL)");
	expect_null(f, 1, "row (staging_token 'st1')", "'key'",
	            "DELETE FROM graveler_staging_kv WHERE key IS NULL");
	kvmt_exec(f->c, "UPDATE actions_runs SET commit_id = NULL");
	expect_null(f, 3, "table 'actions_runs': row (run_id 'run1')", "'commit_id'",
	            "UPDATE actions_runs SET commit_id = 'c1'");
	kvmt_exec(f->c, "UPDATE graveler_commits SET committer = NULL");
	kvm_export_db_result_release(&r);
	if (export(f, 1, NULL, 0, &r, &err) != 0)
		fail_msg("a NULL committer: %s", err.msg);
	kvm_export_db_result_release(&r);
}

/* Whether @recs holds a staging record of partition @part whose key is
 * @n bytes of @c. */
static int has_staging_key(const char *recs, const char *part, char c, size_t n)
{
	char *want = malloc(64 + 2 * strlen(part) + 2 * n), *p;
	int found;

	assert_non_null(want);
	p = want + sprintf(want, "staging|");
	hex(p, (const uint8_t *)part, strlen(part));
	p += strlen(p);
	*p++ = '|';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%02x", (unsigned char)c);
	strcpy(p, "|");
	found = strstr(recs, want) != NULL;
	free(want);
	return found;
}

/* The export knows no KV target: keys longer than LMDB's 511 bytes (the
 * LMDB import refuses those: test_import.c, e2e/bad_input.sh) and than
 * PostgreSQL's 2704 are written as they are, up to what an export file
 * carries (KVM_EXPORT_MAX_KEY); only a longer one is refused. */
static void test_export__keys_longer_than_lmdb_allows_are_exported(void **state)
{
	struct fixture *f = *state;
	struct kvm_export_db_result r = { 0 };
	struct kvm_error err = { 0 };
	char sql[256], *recs;

	fill(f->c);
	/* "staging/st1" (11) + 2 + 499 = 512: one byte over LMDB's maximum */
	snprintf(sql, sizeof(sql), "INSERT INTO graveler_staging_kv VALUES "
	         "('st1', convert_to(repeat('k', 499), 'UTF8'), NULL, NULL), "
	         "('st1', convert_to(repeat('l', 3000), 'UTF8'), NULL, NULL), "
	         "('st1', convert_to(repeat('m', %u), 'UTF8'), NULL, NULL)",
	         KVM_EXPORT_MAX_KEY);
	kvmt_exec(f->c, sql);
	for (unsigned jobs = 1; jobs <= 2; jobs++) {
		kvm_export_db_result_release(&r);
		if (export(f, jobs, NULL, 0, &r, &err) != 0)
			fail_msg("export with %u jobs: %s", jobs, err.msg);
		assert_int_equal(r.packages[2].records, 3 + 3);
		recs = records(f->path);
		assert_true(has_staging_key(recs, "staging/st1", 'k', 499));
		assert_true(has_staging_key(recs, "staging/st1", 'l', 3000));
		assert_true(has_staging_key(recs, "staging/st1", 'm',
		                            KVM_EXPORT_MAX_KEY));
		free(recs);
		unlink(f->path);
	}
	/* one byte more than an export file carries */
	snprintf(sql, sizeof(sql), "INSERT INTO graveler_staging_kv VALUES "
	         "('st1', convert_to(repeat('n', %u), 'UTF8'), NULL, NULL)",
	         KVM_EXPORT_MAX_KEY + 1);
	kvmt_exec(f->c, sql);
	for (unsigned jobs = 1; jobs <= 2; jobs++) {
		kvm_export_db_result_release(&r);
		assert_int_equal(export(f, jobs, NULL, 0, &r, &err), KVM_EKEYSIZE);
		if (strstr(err.msg, "graveler_staging_kv") == NULL ||
		    strstr(err.msg, "partition 'staging/st1' key 'nnn") == NULL ||
		    strstr(err.msg, "gives a key of 65537 bytes; an export file "
		           "holds keys of at most 65536 bytes") == NULL)
			fail_msg("jobs %u: %s", jobs, err.msg);
		dir_empty(f->dir);
	}
	kvm_export_db_result_release(&r);
}

static void test_export__two_rows_one_key_is_refused(void **state)
{
	struct fixture *f = *state;
	struct kvm_export_db_result r = { 0 };
	struct kvm_error err = { 0 };

	/* user 'x/policies/y' with policy 'z', and user 'x' with policy
	 * 'y/policies/z': both give uPolicies/x/policies/y/policies/z */
	kvmt_exec(f->c, "INSERT INTO auth_users (created_at, display_name) VALUES "
	        "(now(), 'x/policies/y'), (now(), 'x');"
	        "INSERT INTO auth_policies (created_at, display_name, statement) VALUES "
	        "(now(), 'z', '[]'), (now(), 'y/policies/z', '[]');"
	        "INSERT INTO auth_user_policies SELECT u.id, p.id FROM auth_users u, "
	        "auth_policies p WHERE (u.display_name, p.display_name) IN "
	        "(('x/policies/y', 'z'), ('x', 'y/policies/z'))");
	kvm_export_db_result_release(&r);
	assert_int_equal(export(f, 1, NULL, 0, &r, &err), KVM_EORDER);
	assert_non_null(strstr(err.msg, "auth_user_policies"));
	assert_non_null(strstr(err.msg, "uPolicies/x/policies/y/policies/z"));
	dir_empty(f->dir);
	kvm_export_db_result_release(&r);
}

static void test_export__refused_without_the_old_tables(void **state)
{
	struct fixture *f = *state;
	struct kvm_export_db_result r = { 0 };
	struct kvm_error err = { 0 };

	kvmt_exec(f->c, "DROP TABLE gateway_multiparts");
	kvm_export_db_result_release(&r);
	assert_int_equal(export(f, 1, NULL, 0, &r, &err), KVM_ENOTABLE);
	assert_non_null(strstr(err.msg, "gateway_multiparts"));
	dir_empty(f->dir);
	kvmt_exec(f->c, "UPDATE schema_migrations SET version = 7");
	kvm_export_db_result_release(&r);
	assert_int_equal(export(f, 1, NULL, 0, &r, &err), KVM_EUNKNOWNVERSION);
	assert_non_null(strstr(err.msg, "version 7"));
	assert_non_null(strstr(err.msg, "kvmigrate up"));
	kvmt_exec(f->c, "UPDATE schema_migrations SET version = 8, dirty = true");
	kvm_export_db_result_release(&r);
	assert_int_equal(export(f, 1, NULL, 0, &r, &err), KVM_EDIRTY);
	kvmt_exec(f->c, "DROP TABLE schema_migrations");
	kvm_export_db_result_release(&r);
	assert_int_equal(export(f, 1, NULL, 0, &r, &err), KVM_EUNKNOWNVERSION);
	assert_non_null(strstr(err.msg, "schema_migrations"));
	dir_empty(f->dir);
	kvm_export_db_result_release(&r);
}

static void test_export__cancel_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct kvm_export_db_opts o = KVM_EXPORT_DB_OPTS_INIT;
	struct kvm_export_db_result r = { 0 };
	struct kvm_error err = { 0 };
	volatile sig_atomic_t stop = 1;

	fill(f->c);
	kvmt_exec(f->c, "INSERT INTO graveler_staging_kv SELECT 'tok' || (i % 3), "
	        "int4send(i), NULL, NULL FROM generate_series(1, 5000) i");
	o.conninfo = f->db;
	o.output = f->path;
	o.cancel = &stop;
	for (unsigned jobs = 1; jobs <= 3; jobs += 2) {
		o.jobs = jobs;
		kvm_export_db_result_release(&r);
		assert_int_equal(kvm_export_db(&o, &r, &err), KVM_ECANCELED);
		dir_empty(f->dir);
	}
	kvm_export_db_result_release(&r);
}

static void test_export__an_existing_file_is_kept_on_failure(void **state)
{
	struct fixture *f = *state;
	struct kvm_export_db_result r = { 0 };
	struct kvm_error err = { 0 };
	size_t n;
	char *back;

	assert_int_equal(kvmt_write_file(f->path, "old", 3), 0);
	kvmt_exec(f->c, "DROP TABLE auth_expired_tokens");
	kvm_export_db_result_release(&r);
	assert_int_equal(export(f, 1, NULL, 0, &r, &err), KVM_ENOTABLE);
	back = kvmt_read_file(f->path, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(back, "old", 3);
	free(back);
	kvm_export_db_result_release(&r);
}

/* A role allowed two connections: the leader and one worker get in, the
 * other workers are refused, and the one that got in does all the work. */
static void test_export__workers_that_cannot_connect_leave_it_to_others(void **state)
{
	struct fixture *f = *state;
	struct kvm_export_db_result r1 = { 0 }, r3 = { 0 };
	struct kvm_error err = { 0 };
	char limited[KVMT_CONNINFO_MAX + 96];
	struct kvm_export_db_opts o = KVM_EXPORT_DB_OPTS_INIT;
	char *a, *b;

	fill(f->c);
	char role[64], sql[512];

	snprintf(role, sizeof(role), "kvmt_two_%d", (int)getpid());
	snprintf(sql, sizeof(sql), "INSERT INTO graveler_staging_kv SELECT 'tok' || "
	         "(i %% 7), int4send(i), NULL, NULL FROM generate_series(1, 3000) i;"
	         "CREATE ROLE %s LOGIN CONNECTION LIMIT 2;"
	         "GRANT SELECT ON ALL TABLES IN SCHEMA public TO %s", role, role);
	kvmt_exec(f->c, sql);
	kvm_export_db_result_release(&r1);
	if (export(f, 1, NULL, 0, &r1, &err) != 0)
		fail_msg("export: %s", err.msg);
	a = records(f->path);
	snprintf(limited, sizeof(limited), "%s user=%s", f->db, role);
	o.conninfo = limited;
	o.output = f->path;
	o.jobs = 3;
	o.connect_retry_ms = 0;
	kvm_export_db_result_release(&r3);
	if (kvm_export_db(&o, &r3, &err) != 0)
		fail_msg("export: %s", err.msg);
	assert_int_equal(r3.jobs, 1);
	b = records(f->path);
	assert_string_equal(a, b);
	snprintf(sql, sizeof(sql), "DROP OWNED BY %s; DROP ROLE %s", role, role);
	kvmt_exec(f->c, sql);
	free(a);
	free(b);
	kvm_export_db_result_release(&r1);
	kvm_export_db_result_release(&r3);
}

/* A schema directory: the built-in versions and then versions 9 to
 * @last, each a statement that changes no old table. */
static void schema_dir(const char *dir, unsigned last)
{
	struct kvm_error err = { 0 };
	kvm_schema *sch;
	char path[600], sql[64];

	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(kvm_schema_builtin(&sch, &err), 0);
	for (size_t i = 0; i < kvm_schema_count(sch); i++) {
		const struct kvm_schema_version *v = kvm_schema_get(sch, i);

		snprintf(path, sizeof(path), "%s/%s", dir, v->name);
		assert_int_equal(kvmt_write_file(path, v->sql, v->len), 0);
	}
	for (unsigned v = (unsigned)kvm_schema_last(sch) + 1; v <= last; v++) {
		snprintf(path, sizeof(path), "%s/%06u_later.up.sql", dir, v);
		snprintf(sql, sizeof(sql), "CREATE TABLE later_%u (x int);\n", v);
		assert_int_equal(kvmt_write_file(path, sql, strlen(sql)), 0);
	}
	kvm_schema_free(sch);
}

/* A database built from a schema directory whose last version is 38:
 * the export checks it against that directory, not the built-in versions
 * (8), and the header's KV migration version is 39. */
static void test_export__at_the_last_version_of_its_schema_dir(void **state)
{
	struct fixture *f = *state;
	struct kvm_export_db_opts o = KVM_EXPORT_DB_OPTS_INIT;
	struct kvm_export_db_result r = { 0 };
	struct kvm_up_opts uo = KVM_UP_OPTS_INIT;
	struct kvm_up_result ur;
	struct kvm_error err = { 0 };
	const struct kvm_export_header *h;
	kvm_export_reader *rd;
	char *top = kvmt_tmpdir(), dir[512];

	/* not in f->dir, which must stay empty after a refusal */
	snprintf(dir, sizeof(dir), "%s/schema", top);
	schema_dir(dir, 38);
	uo.conninfo = f->db;
	uo.schema_dir = dir;
	if (kvm_up(&uo, &ur, &err) != 0)
		fail_msg("up --schema-dir: %s", err.msg);
	assert_int_equal(ur.version, 38);
	fill(f->c);

	/* against the built-in versions: refused, both versions named */
	o.conninfo = f->db;
	o.output = f->path;
	kvm_export_db_result_release(&r);
	assert_int_equal(kvm_export_db(&o, &r, &err), KVM_EUNKNOWNVERSION);
	if (strstr(err.msg, "is at schema version 38; the export reads the old "
	           "tables at version 8, the last of the built-in schema") == NULL)
		fail_msg("%s", err.msg);
	dir_empty(f->dir);

	for (unsigned jobs = 1; jobs <= 2; jobs++) {
		o.schema_dir = dir;
		o.jobs = jobs;
		kvm_export_db_result_release(&r);
		if (kvm_export_db(&o, &r, &err) != 0)
			fail_msg("export --schema-dir with %u jobs: %s", jobs, err.msg);
		assert_int_equal(r.source_version, 38);
		assert_int_equal(r.kv_version, 39);
		assert_int_equal(r.records, 24);
		assert_int_equal(kvm_export_reader_open(&rd, f->path, NULL, &err), 0);
		h = kvm_export_reader_header(rd);
		assert_int_equal(h->kv_migration_version, 39);
		assert_int_equal(h->source_schema_version, 38);
		kvm_export_reader_close(rd);
		unlink(f->path);
	}

	/* a directory with a later version: the database is behind it */
	{
		char path[600];

		snprintf(path, sizeof(path), "%s/000039_later.up.sql", dir);
		assert_int_equal(kvmt_write_file(path, "SELECT 1;\n", 10), 0);
		kvm_export_db_result_release(&r);
		assert_int_equal(kvm_export_db(&o, &r, &err), KVM_EUNKNOWNVERSION);
		if (strstr(err.msg, "at version 39, the last of schema directory") == NULL ||
		    strstr(err.msg, "run kvmigrate up first") == NULL)
			fail_msg("%s", err.msg);
	}
	/* a directory that does not exist: refused before connecting */
	o.schema_dir = "/nonexistent/kvmt-schema";
	kvm_export_db_result_release(&r);
	assert_int_not_equal(kvm_export_db(&o, &r, &err), 0);
	assert_non_null(strstr(err.msg, "/nonexistent/kvmt-schema"));
	kvmt_rmtree(top);
	free(top);
	kvm_export_db_result_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_export__every_record_as_the_layout_says, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export__byte_order_under_a_linguistic_collation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export__the_same_records_whatever_the_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export__packages_subset_in_registry_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export__dangling_membership_names_the_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export__dangling_credential_names_the_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export__keys_longer_than_lmdb_allows_are_exported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export__a_null_in_a_key_column_names_the_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export__two_rows_one_key_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export__refused_without_the_old_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export__cancel_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export__an_existing_file_is_kept_on_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export__workers_that_cannot_connect_leave_it_to_others, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export__at_the_last_version_of_its_schema_dir, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
