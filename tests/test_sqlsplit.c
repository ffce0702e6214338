/*
 * test_sqlsplit.c - the SQL statement splitter (lib/sqlsplit.c): where
 * statements begin and end under PostgreSQL's lexical rules, which ones
 * are transaction control, what an unterminated construct reports, and
 * that no input, however cut, makes it read outside the script.
 */
#include "kvmt.h"
#include "sqlsplit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct want {
	const char *text;          /* the statement's bytes, exactly */
	enum kvm_sql_kind kind;
	unsigned line;             /* 0: not checked */
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A literal and its length, NUL bytes inside included. */
struct bytes {
	const char *s;
	size_t len;
};
#define BYTES(lit) { lit, sizeof(lit) - 1 }

/* Split @len bytes of @sql and compare every statement with @want, then
 * expect KVM_END (twice: the end is stable). */
static void expect_split_n(const char *sql, size_t len,
                           const struct want *want, size_t n)
{
	struct kvm_sql_splitter sp;
	struct kvm_sql_stmt st;
	struct kvm_error err = { 0 };
	int rc;

	kvm_sql_splitter_init(&sp, sql, len);
	for (size_t i = 0; i < n; i++) {
		rc = kvm_sql_next(&sp, &st, &err);
		if (rc != 0)
			fail_msg("statement %zu of <<%s>>: rc %d: %s", i, sql, rc,
			         err.msg);
		if (st.len != strlen(want[i].text) ||
		    memcmp(sql + st.offset, want[i].text, st.len) != 0)
			fail_msg("statement %zu of <<%s>>: got <<%.*s>>, want <<%s>>",
			         i, sql, (int)st.len, sql + st.offset, want[i].text);
		if (st.kind != want[i].kind)
			fail_msg("statement %zu <<%s>>: kind %s, want %s", i,
			         want[i].text, kvm_sql_kind_name(st.kind),
			         kvm_sql_kind_name(want[i].kind));
		if (want[i].line != 0 && st.line != want[i].line)
			fail_msg("statement %zu <<%s>>: line %u, want %u", i,
			         want[i].text, st.line, want[i].line);
	}
	rc = kvm_sql_next(&sp, &st, &err);
	if (rc != KVM_END)
		fail_msg("<<%s>>: after %zu statements rc %d, want KVM_END "
		         "(next: <<%.*s>>)", sql, n, rc,
		         rc == 0 ? (int)st.len : 0, rc == 0 ? sql + st.offset : "");
	assert_int_equal(kvm_sql_next(&sp, &st, &err), KVM_END);
}

static void expect_split(const char *sql, const struct want *want, size_t n)
{
	expect_split_n(sql, strlen(sql), want, n);
}

/* A script of one statement, the whole script minus its ';'. */
static void expect_kind(const char *sql, enum kvm_sql_kind kind)
{
	struct want w = { sql, kind, 1 };
	size_t len = strlen(sql);
	char text[256];

	assert_true(len < sizeof(text));
	memcpy(text, sql, len + 1);
	if (len > 0 && text[len - 1] == ';')
		text[len - 1] = '\0';
	w.text = text;
	expect_split(sql, &w, 1);
}

/* Split @sql and expect KVM_ESCHEMA with @msg after @nstmts statements;
 * the error is reported again by a further call. */
static void expect_error(const char *sql, size_t nstmts, const char *msg)
{
	struct kvm_sql_splitter sp;
	struct kvm_sql_stmt st;
	struct kvm_error err = { 0 };

	kvm_sql_splitter_init(&sp, sql, strlen(sql));
	for (size_t i = 0; i < nstmts; i++)
		if (kvm_sql_next(&sp, &st, &err) != 0)
			fail_msg("<<%s>>: statement %zu: %s", sql, i, err.msg);
	for (int again = 0; again < 2; again++) {
		memset(&err, 0, sizeof(err));
		if (kvm_sql_next(&sp, &st, &err) != KVM_ESCHEMA)
			fail_msg("<<%s>>: no KVM_ESCHEMA after %zu statements",
			         sql, nstmts);
		assert_int_equal(err.code, KVM_ESCHEMA);
		assert_string_equal(err.msg, msg);
	}
}

static void test_sqlsplit__simple_script_offsets_lens_lines(void **state)
{
	static const char sql[] =
		"CREATE TABLE a (id int);\n"
		"\n"
		"  INSERT INTO a VALUES (1) ;\n"
		"-- note; not a statement\n"
		"SELECT 1; /* tail */ SELECT\n"
		"\t2\n";
	static const struct {
		size_t offset, len;
		unsigned line;
	} want[] = {
		{ 0, 23, 1 }, { 28, 24, 3 }, { 80, 8, 5 }, { 101, 9, 5 },
	};
	struct kvm_sql_splitter sp;
	struct kvm_sql_stmt st;
	struct kvm_error err = { 0 };
	(void)state;

	kvm_sql_splitter_init(&sp, sql, sizeof(sql) - 1);
	for (size_t i = 0; i < N(want); i++) {
		assert_int_equal(kvm_sql_next(&sp, &st, &err), 0);
		assert_int_equal(st.offset, want[i].offset);
		assert_int_equal(st.len, want[i].len);
		assert_int_equal(st.line, want[i].line);
		assert_int_equal(st.kind, KVM_SQL_OTHER);
	}
	assert_memory_equal(sql + 101, "SELECT\n\t2", 9);
	assert_int_equal(kvm_sql_next(&sp, &st, &err), KVM_END);
	assert_int_equal(sp.pos, sizeof(sql) - 1);
	assert_int_equal(sp.line, 7);
	assert_int_equal(kvm_sql_next(&sp, &st, &err), KVM_END);
}

static void test_sqlsplit__semicolons_inside_quotes_and_comments(void **state)
{
	static const char sql[] =
		"SELECT 'a;b', 'it''s; x';\n"
		"SELECT \"col;umn\", \"q\"\";\";\n"
		"SELECT 1 -- not here;\n + 2;\n"
		"SELECT /* ; */ 3;\n"
		"SELECT E'x;\\';y', e'\\\\';\n"
		"SELECT U&'d\\0061t;a', U&\"i;d\", B'0;1', X'1;F', N'n;n';\n"
		"SELECT $$a;b$$, $t$c;d$t$;\n";
	static const struct want want[] = {
		{ "SELECT 'a;b', 'it''s; x'", KVM_SQL_OTHER, 1 },
		{ "SELECT \"col;umn\", \"q\"\";\"", KVM_SQL_OTHER, 2 },
		{ "SELECT 1 -- not here;\n + 2", KVM_SQL_OTHER, 3 },
		{ "SELECT /* ; */ 3", KVM_SQL_OTHER, 5 },
		{ "SELECT E'x;\\';y', e'\\\\'", KVM_SQL_OTHER, 6 },
		{ "SELECT U&'d\\0061t;a', U&\"i;d\", B'0;1', X'1;F', N'n;n'",
		  KVM_SQL_OTHER, 7 },
		{ "SELECT $$a;b$$, $t$c;d$t$", KVM_SQL_OTHER, 8 },
	};
	(void)state;

	expect_split(sql, want, N(want));
}

static void test_sqlsplit__block_comments_nest(void **state)
{
	static const char sql[] =
		"/* a /* b; */ c; */ SELECT 1;\n"
		"SELECT /* x /* y /* z; */ ; */ ; */ 2;\n"
		"SELECT 3 /**/; /*/ still; a comment */ SELECT 4 */ 5;";
	static const struct want want[] = {
		{ "SELECT 1", KVM_SQL_OTHER, 1 },
		{ "SELECT /* x /* y /* z; */ ; */ ; */ 2", KVM_SQL_OTHER, 2 },
		{ "SELECT 3 /**/", KVM_SQL_OTHER, 3 },
		{ "SELECT 4 */ 5", KVM_SQL_OTHER, 3 },
	};
	(void)state;

	expect_split(sql, want, N(want));
}

static void test_sqlsplit__estrings_escape_with_backslash(void **state)
{
	static const char sql[] =
		"SELECT E'it\\'s; fine';"
		"SELECT 'a\\';"                /* plain: the backslash is a byte */
		"SELECT xe'\\';"               /* xe is a word, then a plain string */
		"SELECT somee'x;y';"
		"SELECT 1e'\\';"               /* 1e is a number, then a string */
		"SELECT E'a'\n'\\';x';"        /* continued on the next line */
		"SELECT E'a' '\\';SELECT ';';" /* no newline: a new plain string */
		"SELECT E'\\\\';"
		"SELECT 2";
	static const struct want want[] = {
		{ "SELECT E'it\\'s; fine'", KVM_SQL_OTHER, 1 },
		{ "SELECT 'a\\'", KVM_SQL_OTHER, 1 },
		{ "SELECT xe'\\'", KVM_SQL_OTHER, 1 },
		{ "SELECT somee'x;y'", KVM_SQL_OTHER, 1 },
		{ "SELECT 1e'\\'", KVM_SQL_OTHER, 1 },
		{ "SELECT E'a'\n'\\';x'", KVM_SQL_OTHER, 1 },
		{ "SELECT E'a' '\\'", KVM_SQL_OTHER, 2 },
		{ "SELECT ';'", KVM_SQL_OTHER, 2 },
		{ "SELECT E'\\\\'", KVM_SQL_OTHER, 2 },
		{ "SELECT 2", KVM_SQL_OTHER, 2 },
	};
	(void)state;

	expect_split(sql, want, N(want));
}

static void test_sqlsplit__estring_continuation_skips_comments(void **state)
{
	static const char sql[] =
		"SELECT E'a' -- c\n  -- d\n\t'\\';b';\n"
		"SELECT E'a' -- c\n'\\';";     /* continued, then unterminated */
	static const struct want want[] = {
		{ "SELECT E'a' -- c\n  -- d\n\t'\\';b'", KVM_SQL_OTHER, 1 },
	};
	struct kvm_sql_splitter sp;
	struct kvm_sql_stmt st;
	struct kvm_error err = { 0 };
	(void)state;

	expect_split_n(sql, strlen("SELECT E'a' -- c\n  -- d\n\t'\\';b';\n"),
	               want, N(want));
	kvm_sql_splitter_init(&sp, sql, sizeof(sql) - 1);
	assert_int_equal(kvm_sql_next(&sp, &st, &err), 0);
	assert_int_equal(kvm_sql_next(&sp, &st, &err), KVM_ESCHEMA);
	assert_string_equal(err.msg, "unterminated string starting at line 4");
}

static void test_sqlsplit__dollar_quotes(void **state)
{
	static const char sql[] =
		"SELECT $$;$$;"
		"SELECT $fn$ $$ ; $f$ $fnx$ ;$fn$;"
		"SELECT $a1$;$a1$, $_$;$_$;"
		"SELECT $1, $2 FROM t;"        /* parameters */
		"SELECT $1$a$;$a$;"            /* $1, then a dollar quote */
		"SELECT a$b$ FROM t$1$;"       /* identifiers holding '$' */
		"SELECT $ ;"                   /* a lone '$' */
		"SELECT $x ;"                  /* '$' then a word */
		"SELECT $\xc3\xa9$;$\xc3\xa9$;" /* a tag of non-ASCII bytes */
		"SELECT 2";
	static const struct want want[] = {
		{ "SELECT $$;$$", KVM_SQL_OTHER, 1 },
		{ "SELECT $fn$ $$ ; $f$ $fnx$ ;$fn$", KVM_SQL_OTHER, 1 },
		{ "SELECT $a1$;$a1$, $_$;$_$", KVM_SQL_OTHER, 1 },
		{ "SELECT $1, $2 FROM t", KVM_SQL_OTHER, 1 },
		{ "SELECT $1$a$;$a$", KVM_SQL_OTHER, 1 },
		{ "SELECT a$b$ FROM t$1$", KVM_SQL_OTHER, 1 },
		{ "SELECT $", KVM_SQL_OTHER, 1 },
		{ "SELECT $x", KVM_SQL_OTHER, 1 },
		{ "SELECT $\xc3\xa9$;$\xc3\xa9$", KVM_SQL_OTHER, 1 },
		{ "SELECT 2", KVM_SQL_OTHER, 1 },
	};
	(void)state;

	expect_split(sql, want, N(want));
}

static void test_sqlsplit__numbers_lex_as_postgres_does(void **state)
{
	static const char sql[] =
		"SELECT 1e--5;"               /* "1e-" is one token: no comment */
		"SELECT 1.E+-x;"
		"SELECT $1e--x;\n"            /* "$1e" is one token: a comment */
		"SELECT 1e$a$;"               /* junk, not a dollar quote */
		"SELECT 1e-5$a$;$a$;"         /* a number, then a dollar quote */
		"SELECT 2";
	static const struct want want[] = {
		{ "SELECT 1e--5", KVM_SQL_OTHER, 1 },
		{ "SELECT 1.E+-x", KVM_SQL_OTHER, 1 },
		{ "SELECT $1e--x;\nSELECT 1e$a$", KVM_SQL_OTHER, 1 },
		{ "SELECT 1e-5$a$;$a$", KVM_SQL_OTHER, 2 },
		{ "SELECT 2", KVM_SQL_OTHER, 2 },
	};
	(void)state;

	expect_split(sql, want, N(want));
}

static void test_sqlsplit__plpgsql_function_is_one_statement(void **state)
{
	static const char sql[] =
		"CREATE FUNCTION f() RETURNS trigger AS $$\n"
		"BEGIN\n"
		"    NEW.updated := now();\n"
		"    RETURN NEW;\n"
		"END;\n"
		"$$ LANGUAGE plpgsql;\n"
		"CREATE OR REPLACE FUNCTION g(x int) RETURNS int AS $body$\n"
		"BEGIN RETURN x; END; $body$ LANGUAGE plpgsql;\n"
		"DO $$ BEGIN COMMIT; END $$;\n";
	static const struct want want[] = {
		{ "CREATE FUNCTION f() RETURNS trigger AS $$\nBEGIN\n"
		  "    NEW.updated := now();\n    RETURN NEW;\nEND;\n"
		  "$$ LANGUAGE plpgsql", KVM_SQL_OTHER, 1 },
		{ "CREATE OR REPLACE FUNCTION g(x int) RETURNS int AS $body$\n"
		  "BEGIN RETURN x; END; $body$ LANGUAGE plpgsql", KVM_SQL_OTHER, 7 },
		{ "DO $$ BEGIN COMMIT; END $$", KVM_SQL_OTHER, 9 },
	};
	(void)state;

	expect_split(sql, want, N(want));
}

static void test_sqlsplit__begin_atomic_body_is_one_statement(void **state)
{
	static const char sql[] =
		"CREATE PROCEDURE p() LANGUAGE SQL\n"
		"BEGIN ATOMIC\n"
		"  INSERT INTO t VALUES (1);\n"
		"  UPDATE t SET x = 2;\n"
		"END;\n"
		"create or replace function f() returns int language sql\n"
		"begin atomic select 1; end;\n"
		"CREATE OR REPLACE PROCEDURE q() BEGIN ATOMIC SELECT 1; END\n";
	static const struct want want[] = {
		{ "CREATE PROCEDURE p() LANGUAGE SQL\nBEGIN ATOMIC\n"
		  "  INSERT INTO t VALUES (1);\n  UPDATE t SET x = 2;\nEND",
		  KVM_SQL_OTHER, 1 },
		{ "create or replace function f() returns int language sql\n"
		  "begin atomic select 1; end", KVM_SQL_OTHER, 6 },
		{ "CREATE OR REPLACE PROCEDURE q() BEGIN ATOMIC SELECT 1; END",
		  KVM_SQL_OTHER, 8 },
	};
	(void)state;

	expect_split(sql, want, N(want));
}

static void test_sqlsplit__begin_atomic_body_with_case(void **state)
{
	static const char sql[] =
		"CREATE FUNCTION sign(x int) RETURNS text LANGUAGE SQL\n"
		"BEGIN ATOMIC\n"
		"  SELECT CASE WHEN x > 0 THEN 'pos' ELSE 'neg' END;\n"
		"  SELECT case x when 0 then 'zero' end;\n"
		"END;\n"
		"SELECT 2;\n";
	static const struct want want[] = {
		{ "CREATE FUNCTION sign(x int) RETURNS text LANGUAGE SQL\n"
		  "BEGIN ATOMIC\n"
		  "  SELECT CASE WHEN x > 0 THEN 'pos' ELSE 'neg' END;\n"
		  "  SELECT case x when 0 then 'zero' end;\nEND", KVM_SQL_OTHER, 1 },
		{ "SELECT 2", KVM_SQL_OTHER, 6 },
	};
	(void)state;

	expect_split(sql, want, N(want));
}

static void test_sqlsplit__begin_end_count_only_in_routines(void **state)
{
	static const char sql[] =
		/* CASE outside a BEGIN block opens nothing */
		"CREATE FUNCTION g(x int) RETURNS int LANGUAGE sql\n"
		"  RETURN CASE WHEN x > 0 THEN 1 ELSE 0 END;\n"
		/* words inside parentheses do not count */
		"CREATE FUNCTION h(begin int) RETURNS int LANGUAGE sql RETURN 1;\n"
		/* not a routine: CASE, BEGIN and END are plain words here */
		"UPDATE t SET x = CASE WHEN a THEN 1 END;\n"
		"SELECT 1 AS begin;\n"
		"CREATE TABLE begin_x (a int);\n"
		/* quoted and commented words are not keywords */
		"CREATE FUNCTION k() RETURNS int LANGUAGE sql /* BEGIN */ "
		"RETURN \"begin\";\n"
		"SELECT 2;\n";
	static const struct want want[] = {
		{ "CREATE FUNCTION g(x int) RETURNS int LANGUAGE sql\n"
		  "  RETURN CASE WHEN x > 0 THEN 1 ELSE 0 END", KVM_SQL_OTHER, 1 },
		{ "CREATE FUNCTION h(begin int) RETURNS int LANGUAGE sql RETURN 1",
		  KVM_SQL_OTHER, 3 },
		{ "UPDATE t SET x = CASE WHEN a THEN 1 END", KVM_SQL_OTHER, 4 },
		{ "SELECT 1 AS begin", KVM_SQL_OTHER, 5 },
		{ "CREATE TABLE begin_x (a int)", KVM_SQL_OTHER, 6 },
		{ "CREATE FUNCTION k() RETURNS int LANGUAGE sql /* BEGIN */ "
		  "RETURN \"begin\"", KVM_SQL_OTHER, 7 },
		{ "SELECT 2", KVM_SQL_OTHER, 8 },
	};
	(void)state;

	expect_split(sql, want, N(want));
}

static void test_sqlsplit__parentheses_hold_semicolons(void **state)
{
	static const char sql[] =
		"CREATE RULE r AS ON INSERT TO t DO ALSO\n"
		"  (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2));\n"
		"SELECT 1);\n"                 /* a stray ')' does not go below 0 */
		"SELECT 2;\n";
	static const struct want want[] = {
		{ "CREATE RULE r AS ON INSERT TO t DO ALSO\n"
		  "  (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2))",
		  KVM_SQL_OTHER, 1 },
		{ "SELECT 1)", KVM_SQL_OTHER, 3 },
		{ "SELECT 2", KVM_SQL_OTHER, 4 },
	};
	(void)state;

	expect_split(sql, want, N(want));
}

static void test_sqlsplit__transaction_control_kinds(void **state)
{
	static const struct {
		const char *sql;
		enum kvm_sql_kind kind;
	} cases[] = {
		{ "begin;", KVM_SQL_BEGIN },
		{ "BEGIN;", KVM_SQL_BEGIN },
		{ "BEGIN WORK;", KVM_SQL_BEGIN },
		{ "Begin Transaction;", KVM_SQL_BEGIN },
		{ "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;", KVM_SQL_BEGIN },
		{ "BEGIN /* ; */ -- x\n TRANSACTION;", KVM_SQL_BEGIN },
		{ "START TRANSACTION ISOLATION LEVEL SERIALIZABLE;", KVM_SQL_BEGIN },
		{ "start/* c */transaction;", KVM_SQL_BEGIN },
		{ "BEGIN ATOMIC;", KVM_SQL_OTHER },
		{ "START;", KVM_SQL_OTHER },
		{ "COMMIT;", KVM_SQL_COMMIT },
		{ "commit work;", KVM_SQL_COMMIT },
		{ "COMMIT TRANSACTION;", KVM_SQL_COMMIT },
		{ "COMMIT AND CHAIN;", KVM_SQL_COMMIT },
		{ "COMMIT AND NO CHAIN;", KVM_SQL_COMMIT },
		{ "END;", KVM_SQL_COMMIT },
		{ "end transaction;", KVM_SQL_COMMIT },
		{ "End Work", KVM_SQL_COMMIT },
		{ "ROLLBACK;", KVM_SQL_ROLLBACK },
		{ "rollback work;", KVM_SQL_ROLLBACK },
		{ "ROLLBACK AND CHAIN;", KVM_SQL_ROLLBACK },
		{ "ABORT;", KVM_SQL_ROLLBACK },
		{ "abort transaction;", KVM_SQL_ROLLBACK },
		{ "ROLLBACK TO SAVEPOINT a;", KVM_SQL_OTHER },
		{ "ROLLBACK TO a;", KVM_SQL_OTHER },
		{ "rollback work to a;", KVM_SQL_OTHER },
		{ "ROLLBACK /* x */ TRANSACTION -- y\n TO SAVEPOINT a;", KVM_SQL_OTHER },
		{ "PREPARE TRANSACTION 'x';", KVM_SQL_TWOPHASE },
		{ "prepare transaction E'x';", KVM_SQL_TWOPHASE },
		{ "COMMIT PREPARED 'x';", KVM_SQL_TWOPHASE },
		{ "ROLLBACK PREPARED 'x';", KVM_SQL_TWOPHASE },
		{ "Rollback /* c */ Prepared 'x';", KVM_SQL_TWOPHASE },
		{ "PREPARE q AS SELECT 1;", KVM_SQL_OTHER },
		{ "PREPARE q (int) AS SELECT $1;", KVM_SQL_OTHER },
		{ "PREPARE transaction AS SELECT 1;", KVM_SQL_OTHER },
		{ "PREPARE transaction (int) AS SELECT $1;", KVM_SQL_OTHER },
		{ "SAVEPOINT a;", KVM_SQL_OTHER },
		{ "RELEASE SAVEPOINT a;", KVM_SQL_OTHER },
		{ "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;", KVM_SQL_OTHER },
		{ "DO $$ BEGIN NULL; END $$;", KVM_SQL_OTHER },
	};
	(void)state;

	for (size_t i = 0; i < N(cases); i++)
		expect_kind(cases[i].sql, cases[i].kind);
}

static void test_sqlsplit__keywords_must_be_whole_words(void **state)
{
	static const char *const others[] = {
		"UPDATE t SET endpoint = 1;",
		"SELECT begin_date FROM t;",
		"begin_date;",
		"endpoint;",
		"end_x;",
		"committed;",
		"rollback_to;",
		"aborted;",
		"begin$x;",
		"\"BEGIN\";",
		"\"COMMIT\";",
		"\"END\";",
		"/* BEGIN */ SELECT 1;",
		"-- COMMIT\nSELECT 1",
		"'ROLLBACK';",
		"$$END$$;",
		"E'COMMIT';",
		"(COMMIT);",
		"U&\"END\";",
	};
	(void)state;

	for (size_t i = 0; i < N(others); i++) {
		const char *sql = others[i];
		struct kvm_sql_splitter sp;
		struct kvm_sql_stmt st;
		struct kvm_error err = { 0 };

		kvm_sql_splitter_init(&sp, sql, strlen(sql));
		assert_int_equal(kvm_sql_next(&sp, &st, &err), 0);
		if (st.kind != KVM_SQL_OTHER)
			fail_msg("<<%s>>: kind %s, want statement", sql,
			         kvm_sql_kind_name(st.kind));
	}
}

static void test_sqlsplit__last_statement_without_semicolon(void **state)
{
	static const struct want one[] = {
		{ "SELECT 1", KVM_SQL_OTHER, 1 },
		{ "SELECT 2", KVM_SQL_OTHER, 2 },
	};
	static const struct want two[] = {
		{ "SELECT 1", KVM_SQL_OTHER, 1 },
		{ "COMMIT", KVM_SQL_COMMIT, 1 },
	};
	static const struct want three[] = {
		{ "SELECT 1 -- no newline", KVM_SQL_OTHER, 1 },
	};
	(void)state;

	expect_split("SELECT 1;\nSELECT 2  \n\t\r\n", one, N(one));
	expect_split("SELECT 1; COMMIT", two, N(two));
	expect_split("SELECT 1 -- no newline", three, N(three));
	/* trailing comments after the last ';' are no statement */
	expect_split("SELECT 1; -- trailing\n/* x */  ", one, 1);
}

static void test_sqlsplit__empty_statements_are_skipped(void **state)
{
	static const char sql[] =
		";;  ; SELECT 1;;\n; /* c */ ;-- d\n;SELECT 2;;\n;";
	static const struct want want[] = {
		{ "SELECT 1", KVM_SQL_OTHER, 1 },
		{ "SELECT 2", KVM_SQL_OTHER, 3 },
	};
	(void)state;

	expect_split(sql, want, N(want));
}

static void test_sqlsplit__blank_script_ends_at_once(void **state)
{
	static const char *const blank[] = {
		"", " \n\t\r\f\v", "-- only a comment", "-- c\n", ";",
		"/* a /* b */ */ -- c\n ;;\n", "/**/",
	};
	struct kvm_sql_splitter sp;
	struct kvm_sql_stmt st = { 99, 99, 99, KVM_SQL_TWOPHASE };
	struct kvm_error err = { 0 };
	(void)state;

	for (size_t i = 0; i < N(blank); i++)
		expect_split(blank[i], NULL, 0);
	kvm_sql_splitter_init(&sp, NULL, 10);
	assert_int_equal(kvm_sql_next(&sp, &st, &err), KVM_END);
	/* the statement is left alone at the end */
	assert_int_equal(st.offset, 99);
	assert_int_equal(st.kind, KVM_SQL_TWOPHASE);
}

static void test_sqlsplit__unterminated_constructs_name_their_line(void **state)
{
	(void)state;

	expect_error("SELECT 1;\nSELECT 'abc;\n\n", 1,
	             "unterminated string starting at line 2");
	expect_error("SELECT 'a''", 0,
	             "unterminated string starting at line 1");
	expect_error("\n\nSELECT E'a\\'", 0,
	             "unterminated string starting at line 3");
	expect_error("SELECT E'a\\", 0,
	             "unterminated string starting at line 1");
	expect_error("SELECT 1;\nSELECT\n U&'x", 1,
	             "unterminated string starting at line 3");
	expect_error("SELECT B'01", 0,
	             "unterminated string starting at line 1");
	expect_error("SELECT \"a\"\"b;", 0,
	             "unterminated quoted identifier starting at line 1");
	expect_error("SELECT 1;\n\nSELECT U&\"x", 1,
	             "unterminated quoted identifier starting at line 3");
	expect_error("SELECT 1;\nCREATE FUNCTION f() AS\n\n\n\n\n\n\n\n\n\n"
	             "$fn$ BEGIN END; $f$ $fn", 1,
	             "unterminated dollar-quoted string $fn$ starting at line 12");
	expect_error("DO $$ x; $", 0,
	             "unterminated dollar-quoted string $$ starting at line 1");
	expect_error("SELECT 1;\n\n\n\n\n\nSELECT 2 /* a /* b */ c;\n", 1,
	             "unterminated /* comment starting at line 7");
	/* before any statement */
	expect_error("\n\n/* head", 0,
	             "unterminated /* comment starting at line 3");
	/* the line of the opening, not of the end of the script */
	expect_error("SELECT 'a\nb\nc\n", 0,
	             "unterminated string starting at line 1");
}

static void test_sqlsplit__long_dollar_tag_is_shortened(void **state)
{
	char sql[200], want[300];
	struct kvm_sql_splitter sp;
	struct kvm_sql_stmt st;
	struct kvm_error err = { 0 };
	(void)state;

	memset(sql, 'a', sizeof(sql));
	sql[0] = '$';
	sql[100] = '$';
	kvm_sql_splitter_init(&sp, sql, sizeof(sql));
	assert_int_equal(kvm_sql_next(&sp, &st, &err), KVM_ESCHEMA);
	snprintf(want, sizeof(want), "unterminated dollar-quoted string "
	         "$%.64s...$ starting at line 1", sql + 1);
	assert_string_equal(err.msg, want);
}

static void test_sqlsplit__golang_migrate_file(void **state)
{
	static const char sql[] =
		"BEGIN;\n"
		"CREATE TABLE a (\n"
		"    id bigint PRIMARY KEY,\n"
		"    name text NOT NULL\n"
		");\n"
		"COMMENT ON TABLE a IS 'x; y';\n"
		"COMMIT;\n";
	static const struct want want[] = {
		{ "BEGIN", KVM_SQL_BEGIN, 1 },
		{ "CREATE TABLE a (\n    id bigint PRIMARY KEY,\n"
		  "    name text NOT NULL\n)", KVM_SQL_OTHER, 2 },
		{ "COMMENT ON TABLE a IS 'x; y'", KVM_SQL_OTHER, 6 },
		{ "COMMIT", KVM_SQL_COMMIT, 7 },
	};
	(void)state;

	expect_split(sql, want, N(want));
}

static void test_sqlsplit__lines_count_inside_everything(void **state)
{
	static const char sql[] =
		"SELECT 'a\nb\nc';\n"               /* lines 1-3 */
		"SELECT $$\n\n$$, \"x\ny\";\n"      /* lines 4-7 */
		"/* x\ny */ SELECT E'\\\n';\r\n"   /* lines 8-10 */
		"-- z\n"                            /* line 11 */
		"\n"
		"  SELECT 4";                       /* line 13 */
	static const struct want want[] = {
		{ "SELECT 'a\nb\nc'", KVM_SQL_OTHER, 1 },
		{ "SELECT $$\n\n$$, \"x\ny\"", KVM_SQL_OTHER, 4 },
		{ "SELECT E'\\\n'", KVM_SQL_OTHER, 9 },
		{ "SELECT 4", KVM_SQL_OTHER, 13 },
	};
	(void)state;

	expect_split(sql, want, N(want));
}

static void test_sqlsplit__nul_bytes_are_ordinary(void **state)
{
	static const char sql[] = "SELECT '\0;';\0;SELECT \"\0\";SELECT 1\0";
	static const struct bytes want[] = {
		BYTES("SELECT '\0;'"),
		BYTES("\0"),
		BYTES("SELECT \"\0\""),
		BYTES("SELECT 1\0"),
	};
	struct kvm_sql_splitter sp;
	struct kvm_sql_stmt st;
	struct kvm_error err = { 0 };
	(void)state;

	kvm_sql_splitter_init(&sp, sql, sizeof(sql) - 1);
	for (size_t i = 0; i < N(want); i++) {
		assert_int_equal(kvm_sql_next(&sp, &st, &err), 0);
		assert_int_equal(st.len, want[i].len);
		assert_memory_equal(sql + st.offset, want[i].s, want[i].len);
	}
	assert_int_equal(kvm_sql_next(&sp, &st, &err), KVM_END);
}

static void test_sqlsplit__invalid_arguments(void **state)
{
	struct kvm_sql_splitter sp;
	struct kvm_sql_stmt st;
	struct kvm_error err = { 0 };
	(void)state;

	kvm_sql_splitter_init(&sp, "SELECT 1", 8);
	assert_int_equal(kvm_sql_next(NULL, &st, &err), KVM_EINVAL);
	assert_int_equal(err.code, KVM_EINVAL);
	assert_int_equal(kvm_sql_next(&sp, NULL, NULL), KVM_EINVAL);
	assert_int_equal(kvm_sql_next(&sp, &st, NULL), 0);
	assert_int_equal(kvm_sql_next(&sp, &st, NULL), KVM_END);
	/* a position past the end is refused, not read from */
	sp.pos = sp.len + 1;
	assert_int_equal(kvm_sql_next(&sp, &st, &err), KVM_EINVAL);
}

static void test_sqlsplit__kind_names(void **state)
{
	(void)state;

	assert_string_equal(kvm_sql_kind_name(KVM_SQL_OTHER), "statement");
	assert_string_equal(kvm_sql_kind_name(KVM_SQL_BEGIN), "begin");
	assert_string_equal(kvm_sql_kind_name(KVM_SQL_COMMIT), "commit");
	assert_string_equal(kvm_sql_kind_name(KVM_SQL_ROLLBACK), "rollback");
	assert_string_equal(kvm_sql_kind_name(KVM_SQL_TWOPHASE),
	                    "two-phase command");
	assert_string_equal(kvm_sql_kind_name((enum kvm_sql_kind)42), "unknown");
}

/* --- robustness --------------------------------------------------------- */

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	       c == '\v';
}

/*
 * Split @len bytes at @src, copied into a buffer of exactly that size so
 * that AddressSanitizer catches a read past the end, and check what
 * every statement claims: inside the script, after the previous one, not
 * empty, trimmed, on the line its offset is on.  Returns the last code.
 */
static int split_checked(const char *src, size_t len)
{
	char *buf = malloc(len > 0 ? len : 1);
	struct kvm_sql_splitter sp;
	struct kvm_sql_stmt st;
	struct kvm_error err = { 0 };
	size_t prev_end = 0, calls = 0;
	int rc;

	assert_non_null(buf);
	memcpy(buf, src, len);
	kvm_sql_splitter_init(&sp, buf, len);
	while ((rc = kvm_sql_next(&sp, &st, &err)) == 0) {
		unsigned line = 1;

		assert_true(++calls <= len);
		assert_true(st.offset >= prev_end);
		assert_true(st.len > 0);
		assert_true(st.offset + st.len <= len);
		assert_false(is_ws(buf[st.offset]));
		assert_false(is_ws(buf[st.offset + st.len - 1]));
		assert_true(st.kind >= KVM_SQL_OTHER && st.kind <= KVM_SQL_TWOPHASE);
		for (size_t i = 0; i < st.offset; i++)
			line += buf[i] == '\n';
		assert_int_equal(st.line, line);
		assert_true(sp.pos <= len);
		prev_end = st.offset + st.len;
	}
	if (rc == KVM_ESCHEMA)
		assert_true(strncmp(err.msg, "unterminated ", 13) == 0);
	else
		assert_int_equal(rc, KVM_END);
	free(buf);
	return rc;
}

/* Whole scripts that split without error, with every kind of construct
 * and a lone '-', '$' or E at their end; the test cuts them at every
 * length, so that the cut falls inside each construct. */
static const struct bytes scripts[] = {
	BYTES("BEGIN;\nCREATE TABLE a(id int);\n"
	      "COMMENT ON TABLE a IS 'x; y';\nCOMMIT;\n"),
	BYTES("SELECT 'a''b', E'c\\'d', e'\\\\', U&'x', B'1', X'f', N'n', "
	      "\"q\"\"r\";"),
	BYTES("SELECT E'a'\n  -- c\n'b';SELECT E'a' -- c\n"),
	BYTES("/* a /* b */ c */ SELECT /* d */ 1 -- e\n;-"),
	BYTES("SELECT $$a$$, $t$b$t$, $1, a$b$, $1$c$d$c$, $x, $"),
	BYTES("CREATE FUNCTION f() LANGUAGE sql BEGIN ATOMIC "
	      "SELECT CASE WHEN 1 THEN 2 END; END;"),
	BYTES("CREATE RULE r AS ON INSERT TO t DO "
	      "(INSERT INTO a VALUES (1); SELECT 2);"),
	BYTES("SELECT 1e'x', xe'\\', 1a$b$;E"),
	BYTES("ROLLBACK WORK TO a; PREPARE TRANSACTION 'x'; COMMIT PREPARED 'x';"),
	BYTES("$\xff$\x80\0;$\xff$;\0\xfe;/"),
};

static void test_sqlsplit__every_prefix_stays_in_bounds(void **state)
{
	(void)state;

	for (size_t i = 0; i < N(scripts); i++) {
		for (size_t k = 0; k <= scripts[i].len; k++)
			split_checked(scripts[i].s, k);
		assert_int_equal(split_checked(scripts[i].s, scripts[i].len),
		                 KVM_END);
	}
}

static void test_sqlsplit__random_bytes_stay_in_bounds(void **state)
{
	static const char alphabet[] = "'\"$;-/*\\\n eEuUbB&_1a()\r\0\x80";
	char buf[64];
	uint32_t x = 12345;
	(void)state;

	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)round % sizeof(buf);

		for (size_t i = 0; i < len; i++) {
			x = x * 1103515245u + 12345u;
			buf[i] = alphabet[(x >> 16) % (sizeof(alphabet) - 1)];
		}
		split_checked(buf, len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sqlsplit__simple_script_offsets_lens_lines),
		cmocka_unit_test(test_sqlsplit__semicolons_inside_quotes_and_comments),
		cmocka_unit_test(test_sqlsplit__block_comments_nest),
		cmocka_unit_test(test_sqlsplit__estrings_escape_with_backslash),
		cmocka_unit_test(test_sqlsplit__estring_continuation_skips_comments),
		cmocka_unit_test(test_sqlsplit__dollar_quotes),
		cmocka_unit_test(test_sqlsplit__numbers_lex_as_postgres_does),
		cmocka_unit_test(test_sqlsplit__plpgsql_function_is_one_statement),
		cmocka_unit_test(test_sqlsplit__begin_atomic_body_is_one_statement),
		cmocka_unit_test(test_sqlsplit__begin_atomic_body_with_case),
		cmocka_unit_test(test_sqlsplit__begin_end_count_only_in_routines),
		cmocka_unit_test(test_sqlsplit__parentheses_hold_semicolons),
		cmocka_unit_test(test_sqlsplit__transaction_control_kinds),
		cmocka_unit_test(test_sqlsplit__keywords_must_be_whole_words),
		cmocka_unit_test(test_sqlsplit__last_statement_without_semicolon),
		cmocka_unit_test(test_sqlsplit__empty_statements_are_skipped),
		cmocka_unit_test(test_sqlsplit__blank_script_ends_at_once),
		cmocka_unit_test(test_sqlsplit__unterminated_constructs_name_their_line),
		cmocka_unit_test(test_sqlsplit__long_dollar_tag_is_shortened),
		cmocka_unit_test(test_sqlsplit__golang_migrate_file),
		cmocka_unit_test(test_sqlsplit__lines_count_inside_everything),
		cmocka_unit_test(test_sqlsplit__nul_bytes_are_ordinary),
		cmocka_unit_test(test_sqlsplit__invalid_arguments),
		cmocka_unit_test(test_sqlsplit__kind_names),
		cmocka_unit_test(test_sqlsplit__every_prefix_stays_in_bounds),
		cmocka_unit_test(test_sqlsplit__random_bytes_stay_in_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
