/*
 * test_pgcopy.c - the binary COPY parser (format/pgcopy.c) on streams the
 * harness's PostgreSQL sends, compared with the server's own text output
 * of the same values; and every damaged prefix of a real stream refused.
 */
#include "kvmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pgcopy.h"

#define NCOLS 8

static const char SETUP[] =
	"CREATE TABLE t (id int, i8 bigint, b bool, ts timestamptz, j jsonb, "
	"arr text[], bt bytea, tx text);"
	"INSERT INTO t VALUES "
	"(1, 9223372036854775807, true, '2024-02-29 23:59:59.999999+00', "
	" '{\"b\": [1, 2.50], \"a\": \"x\"}', '{one,two}', '\\x00ff10', 'plain'),"
	"(2, -1, false, '1969-12-31 23:59:59.5+00', '[]', '{}', '\\x', ''),"
	"(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL),"
	"(4, 0, true, '1999-12-31 23:59:59.000001+00', 'null', "
	" ARRAY['a', NULL, 'c d', 'é'], '\\x00', 'tab\there'),"
	"(5, -9223372036854775808, false, '2000-01-01 00:00:00+00', '\"s\"', "
	" '{x}', NULL, 'ünï')";

/* The server's text for row @id: one '|'-separated line. */
static char *server_text(PGconn *c, int id)
{
	char sql[1024];
	PGresult *r;
	char *out;

	snprintf(sql, sizeof(sql),
	         "SELECT concat_ws('|', coalesce(i8::text, 'N'), "
	         "coalesce(b::text, 'N'), "
	         "coalesce((extract(epoch FROM ts) * 1000000)::bigint::text, 'N'), "
	         "coalesce(j::text, 'N'), "
	         "coalesce(cardinality(arr) || ':' || "
	         "array_to_string(arr, ',', '<null>'), 'N'), "
	         "coalesce(encode(bt, 'hex'), 'N'), coalesce(tx, 'N')) "
	         "FROM t WHERE id = %d", id);
	r = PQexec(c, sql);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	out = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return out;
}

/* The same line made from the parsed fields. */
static void parsed_text(const struct kvm_pgcopy *p,
                        const struct kvm_pgcopy_field *f, char *out, size_t n)
{
	struct kvm_error err = { 0 };
	size_t o = 0;
	int64_t v, sec;
	uint32_t nsec;
	int b;

	out[0] = '\0';
#define ADD(...) (o += (size_t)snprintf(out + o, n - o, __VA_ARGS__))
	if (f[1].len < 0) ADD("N");
	else { assert_int_equal(kvm_pgcopy_int(p, &f[1], &v, &err), 0); ADD("%lld", (long long)v); }
	if (f[2].len < 0) ADD("|N");
	else { assert_int_equal(kvm_pgcopy_bool(p, &f[2], &b, &err), 0); ADD("|%s", b ? "true" : "false"); }
	if (f[3].len < 0) ADD("|N");
	else {
		assert_int_equal(kvm_pgcopy_timestamptz(p, &f[3], &sec, &nsec, &err), 0);
		assert_true(nsec < 1000000000u);
		ADD("|%lld", (long long)(sec * 1000000 + nsec / 1000));
	}
	if (f[4].len < 0) ADD("|N");
	else {
		const char *t;
		size_t len;

		assert_int_equal(kvm_pgcopy_jsonb(p, &f[4], &t, &len, &err), 0);
		ADD("|%.*s", (int)len, t);
	}
	if (f[5].len < 0) ADD("|N");
	else {
		struct kvm_pgcopy_array a;
		struct kvm_pgcopy_field e;
		const char *sep = "";
		int rc;

		assert_int_equal(kvm_pgcopy_array(p, &f[5], &a, &err), 0);
		ADD("|%d:", a.count);
		while ((rc = kvm_pgcopy_array_next(p, &a, &e, &err)) == 0) {
			if (e.len < 0)
				ADD("%s<null>", sep);
			else
				ADD("%s%.*s", sep, (int)e.len, (const char *)e.data);
			sep = ",";
		}
		assert_int_equal(rc, KVM_END);
	}
	if (f[6].len < 0) ADD("|N");
	else {
		ADD("|");
		for (int32_t i = 0; i < f[6].len; i++)
			ADD("%02x", f[6].data[i]);
	}
	if (f[7].len < 0) ADD("|N");
	else ADD("|%.*s", (int)f[7].len, (const char *)f[7].data);
#undef ADD
}

/* Every CopyData message of @sql, concatenated with 4-byte lengths. */
static size_t copy_messages(PGconn *c, const char *sql, char **msgs, size_t *sizes,
                            size_t max)
{
	PGresult *r = PQexec(c, sql);
	size_t n = 0;
	char *buf;
	int len;

	assert_int_equal(PQresultStatus(r), PGRES_COPY_OUT);
	PQclear(r);
	while ((len = PQgetCopyData(c, &buf, 0)) > 0) {
		assert_true(n < max);
		msgs[n] = malloc((size_t)len);
		assert_non_null(msgs[n]);
		memcpy(msgs[n], buf, (size_t)len);
		sizes[n++] = (size_t)len;
		PQfreemem(buf);
	}
	assert_int_equal(len, -1);
	r = PQgetResult(c);
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	return n;
}

static void test_pgcopy__values_match_the_servers_text(void **state)
{
	char ci[KVMT_CONNINFO_MAX], mine[1024];
	char *msgs[16];
	size_t sizes[16], n;
	struct kvm_pgcopy p;
	struct kvm_pgcopy_field f[NCOLS];
	struct kvm_error err = { 0 };
	PGconn *c;
	PGresult *r;
	int rows = 0;
	(void)state;

	assert_int_equal(kvmt_db_create(ci, sizeof(ci), "pgcopy"), 0);
	c = kvmt_connect(ci);
	r = PQexec(c, SETUP);
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	n = copy_messages(c, "COPY (SELECT * FROM t ORDER BY id) TO STDOUT "
	                  "(FORMAT binary)", msgs, sizes, 16);
	kvm_pgcopy_init(&p, "table 't'");
	for (size_t i = 0; i < n; i++) {
		int rc = kvm_pgcopy_row(&p, msgs[i], sizes[i], f, NCOLS, &err);
		int64_t id;
		char *want;

		if (rc == KVM_END) {
			assert_int_equal(i, n - 1);
			break;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(kvm_pgcopy_int(&p, &f[0], &id, &err), 0);
		want = server_text(c, (int)id);
		parsed_text(&p, f, mine, sizeof(mine));
		assert_string_equal(mine, want);
		free(want);
		rows++;
	}
	assert_int_equal(rows, 5);
	assert_int_equal(p.rows, 5);
	assert_true(p.ended);

	/* NULL where a value is required is an error naming the subject */
	assert_int_equal(kvm_pgcopy_bool(&p, &(struct kvm_pgcopy_field){ NULL, -1 },
	                                 &rows, &err), KVM_EDB);
	assert_non_null(strstr(err.msg, "table 't'"));
	for (size_t i = 0; i < n; i++)
		free(msgs[i]);
	PQfinish(c);
	kvmt_db_drop(ci);
}

static void test_pgcopy__empty_result_is_header_and_trailer(void **state)
{
	char ci[KVMT_CONNINFO_MAX];
	char *msgs[4];
	size_t sizes[4], n;
	struct kvm_pgcopy p;
	struct kvm_pgcopy_field f[1];
	struct kvm_error err = { 0 };
	PGconn *c;
	int rc = 0;
	(void)state;

	assert_int_equal(kvmt_db_create(ci, sizeof(ci), "pgcopy_empty"), 0);
	c = kvmt_connect(ci);
	n = copy_messages(c, "COPY (SELECT 1 WHERE false) TO STDOUT (FORMAT binary)",
	                  msgs, sizes, 4);
	kvm_pgcopy_init(&p, "empty");
	for (size_t i = 0; i < n; i++)
		rc = kvm_pgcopy_row(&p, msgs[i], sizes[i], f, 1, &err);
	assert_int_equal(rc, KVM_END);
	assert_int_equal(p.rows, 0);
	/* nothing may follow the trailer */
	assert_int_equal(kvm_pgcopy_row(&p, msgs[n - 1], sizes[n - 1], f, 1, &err),
	                 KVM_EDB);
	assert_non_null(strstr(err.msg, "after the trailer"));
	for (size_t i = 0; i < n; i++)
		free(msgs[i]);
	PQfinish(c);
	kvmt_db_drop(ci);
}

static void test_pgcopy__damaged_messages_are_refused(void **state)
{
	char ci[KVMT_CONNINFO_MAX];
	char *msgs[4];
	size_t sizes[4], n;
	struct kvm_pgcopy p;
	struct kvm_pgcopy_field f[2];
	struct kvm_error err = { 0 };
	PGconn *c;
	char *copy;
	(void)state;

	assert_int_equal(kvmt_db_create(ci, sizeof(ci), "pgcopy_bad"), 0);
	c = kvmt_connect(ci);
	n = copy_messages(c, "COPY (SELECT 42::int, 'abc'::text) TO STDOUT "
	                  "(FORMAT binary)", msgs, sizes, 4);
	assert_true(n >= 2);
	/* every proper prefix of the first message (header and row) fails,
	 * in a buffer of exactly that size so ASan sees any overread */
	for (size_t cut = 0; cut < sizes[0]; cut++) {
		copy = malloc(cut ? cut : 1);
		memcpy(copy, msgs[0], cut);
		kvm_pgcopy_init(&p, "prefix");
		assert_int_equal(kvm_pgcopy_row(&p, copy, cut, f, 2, &err), KVM_EDB);
		assert_non_null(strstr(err.msg, "prefix: binary COPY row 1"));
		free(copy);
	}
	/* a wrong number of columns */
	kvm_pgcopy_init(&p, "columns");
	assert_int_equal(kvm_pgcopy_row(&p, msgs[0], sizes[0], f, 1, &err), KVM_EDB);
	assert_non_null(strstr(err.msg, "has 2 fields, expected 1"));
	/* a byte too many */
	copy = malloc(sizes[0] + 1);
	memcpy(copy, msgs[0], sizes[0]);
	copy[sizes[0]] = 0;
	kvm_pgcopy_init(&p, "extra");
	assert_int_equal(kvm_pgcopy_row(&p, copy, sizes[0] + 1, f, 2, &err), KVM_EDB);
	assert_non_null(strstr(err.msg, "bytes after the last field"));
	/* a damaged signature */
	memcpy(copy, msgs[0], sizes[0]);
	copy[0] = 'X';
	kvm_pgcopy_init(&p, "signature");
	assert_int_equal(kvm_pgcopy_row(&p, copy, sizes[0], f, 2, &err), KVM_EDB);
	assert_non_null(strstr(err.msg, "no binary COPY header"));
	/* a field length beyond the message */
	memcpy(copy, msgs[0], sizes[0]);
	copy[19 + 2] = 0x7f;
	kvm_pgcopy_init(&p, "length");
	assert_int_equal(kvm_pgcopy_row(&p, copy, sizes[0], f, 2, &err), KVM_EDB);
	assert_non_null(strstr(err.msg, "longer than the message"));
	free(copy);
	/* the intact message parses */
	kvm_pgcopy_init(&p, "intact");
	assert_int_equal(kvm_pgcopy_row(&p, msgs[0], sizes[0], f, 2, &err), 0);
	assert_int_equal(f[1].len, 3);
	assert_memory_equal(f[1].data, "abc", 3);
	for (size_t i = 0; i < n; i++)
		free(msgs[i]);
	PQfinish(c);
	kvmt_db_drop(ci);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pgcopy__values_match_the_servers_text),
		cmocka_unit_test(test_pgcopy__empty_result_is_header_and_trailer),
		cmocka_unit_test(test_pgcopy__damaged_messages_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
