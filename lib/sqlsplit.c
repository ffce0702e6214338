/*
 * sqlsplit.c - split an SQL script into statements (see sqlsplit.h).
 *
 * The rules are PostgreSQL's lexical rules as psql's lexer (psqlscan.l)
 * applies them when it cuts a script into queries, so the server sees the
 * statements psql would have sent.  One difference: psql feeds its lexer
 * a line at a time and so never continues an E'' string on a later line
 * (E'a'<newline>'b'); the server does, and so does this splitter, because
 * golang-migrate sends a file whole and a file it applied must split the
 * way the server read it.  Per call:
 *
 *   kvm_sql_next      skips whitespace, comments and empty statements,
 *                     then scans one statement lexeme by lexeme until a
 *                     ';' at depth 0 or the end of the script;
 *   lex_*             one lexeme each: a comment, a string of any kind, a
 *                     quoted identifier, a dollar-quoted string, a word, a
 *                     number or parameter, or one other byte;
 *   classify          looks at the first three tokens for transaction
 *                     control.
 *
 * Depth comes from parentheses (a rule's action list "(INSERT ...;
 * INSERT ...)") and, in CREATE [OR REPLACE] FUNCTION | PROCEDURE only,
 * from BEGIN ... END blocks with CASE ... END inside them.
 *
 * Every lexeme moves forward and no byte is looked at more than a small
 * constant number of times, so a whole script costs O(n).  Line numbers
 * are counted lazily, only up to the offsets that need one.
 */
#include <string.h>

#include "sqlsplit.h"

/* Longest dollar-quote tag quoted in full in a message. */
#define TAG_SHOWN 64

enum tok {
	TOK_SPACE,    /* whitespace or a comment: never a token */
	TOK_WORD,     /* an unquoted identifier or keyword */
	TOK_STRING,   /* a string constant of any kind */
	TOK_OTHER,    /* a quoted identifier, number, operator byte, ... */
};

struct token {
	size_t off;
	size_t len;
	enum tok type;
};

/* Scan state of one statement; copied back into the splitter on success. */
struct scan {
	const unsigned char *p;
	size_t n;
	size_t pos;            /* next byte to look at */
	size_t line_pos;       /* lines are counted up to here ... */
	unsigned line;         /* ... and this is the line of line_pos */
	size_t paren_depth;
	size_t begin_depth;
	size_t nwords;         /* words seen in the statement */
	char words[4];         /* the first four, as psql records them */
	size_t ntok;
	struct token tok[3];   /* the first three tokens, for classify() */
	struct kvm_error *err;
};

/* --- bytes -------------------------------------------------------------- */

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	       c == '\v';
}

/* Bytes 0x80..0xff are letters to PostgreSQL: it lexes UTF-8 and other
 * multi-byte encodings byte by byte. */
static int is_ident_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       c >= 0x80;
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* A dollar-quote tag continues like an identifier, but without '$'. */
static int is_tag_cont(unsigned char c)
{
	return is_ident_start(c) || is_digit(c);
}

static int is_ident_cont(unsigned char c)
{
	return is_tag_cont(c) || c == '$';
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Case-insensitive (ASCII) comparison of a word with lowercase @kw. */
static int word_is(const unsigned char *w, size_t len, const char *kw)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (kw[i] == '\0' || lower(w[i]) != (unsigned char)kw[i])
			return 0;
	return kw[i] == '\0';
}

/* Byte @i of the script, or 0 past its end: saves a bounds check at each
 * look-ahead.  A real NUL byte is never special, so the two agree. */
static unsigned char at(const struct scan *sc, size_t i)
{
	return i < sc->n ? sc->p[i] : 0;
}

/* --- lines -------------------------------------------------------------- */

static unsigned count_nl(const unsigned char *p, size_t from, size_t to)
{
	unsigned nl = 0;
	const unsigned char *q = p + from, *end = p + to;

	while (q < end && (q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
		nl++;
		q++;
	}
	return nl;
}

/* Line number of offset @off.  The offsets asked for never go back (the
 * statement's start, then a construct inside it, then the end), so
 * counting on from the last one keeps the total linear. */
static unsigned line_at(struct scan *sc, size_t off)
{
	sc->line += count_nl(sc->p, sc->line_pos, off);
	sc->line_pos = off;
	return sc->line;
}

static int unterminated(struct scan *sc, const char *what, size_t start)
{
	return kvm_error_set(sc->err, KVM_ESCHEMA,
	                     "unterminated %s starting at line %u", what,
	                     line_at(sc, start));
}

/* --- comments ----------------------------------------------------------- */

/* "--" up to, not including, the end of the line (or of the script). */
static void lex_line_comment(struct scan *sc)
{
	size_t i = sc->pos + 2;

	while (i < sc->n && sc->p[i] != '\n' && sc->p[i] != '\r')
		i++;
	sc->pos = i;
}

/* Block comments nest in PostgreSQL, unlike C: each opener inside one
 * needs its own closer. */
static int lex_block_comment(struct scan *sc)
{
	size_t start = sc->pos, i = sc->pos + 2, depth = 1;

	while (i < sc->n) {
		if (sc->p[i] == '/' && at(sc, i + 1) == '*') {
			depth++;
			i += 2;
		} else if (sc->p[i] == '*' && at(sc, i + 1) == '/') {
			i += 2;
			if (--depth == 0) {
				sc->pos = i;
				return 0;
			}
		} else {
			i++;
		}
	}
	return unterminated(sc, "/* comment", start);
}

/* --- quoted constructs -------------------------------------------------- */

/*
 * A string or quoted identifier opened by the byte at @i, closed by the
 * same byte; a doubled one stands for itself.  Backslashes are ordinary
 * (standard_conforming_strings is on).  B'', X'', N'' and U&'' strings
 * end the same way.
 */
static int lex_quoted(struct scan *sc, size_t i, const char *what)
{
	const unsigned char *q;
	unsigned char quote = sc->p[i];
	size_t start = i;

	i++;
	while (i < sc->n && (q = memchr(sc->p + i, quote, sc->n - i)) != NULL) {
		i = (size_t)(q - sc->p) + 1;
		if (at(sc, i) != quote) {
			sc->pos = i;
			return 0;
		}
		i++;   /* the doubled quote */
	}
	return unterminated(sc, what, start);
}

/*
 * Where an E'' string goes on after its closing quote at @i - 1.  In SQL
 * a quote after whitespace that holds a newline continues the same
 * string ('a', a newline, 'b' is 'ab'), so the backslash rules still
 * apply after it.  Returns the offset after that quote, or 0 when the
 * string really ended.  The whitespace is PostgreSQL's "quotecontinue":
 * horizontal space and "--" comments, a newline, then any whitespace and
 * "--" comments that end with a newline.
 */
static size_t string_continues(const struct scan *sc, size_t i)
{
	int newline = 0;
	unsigned char c;

	while (i < sc->n) {
		c = sc->p[i];
		if (c == '\n' || c == '\r' || (newline && is_space(c))) {
			newline |= c == '\n' || c == '\r';
			i++;
		} else if (c == ' ' || c == '\t' || c == '\f') {
			i++;
		} else if (c == '-' && at(sc, i + 1) == '-') {
			while (i < sc->n && sc->p[i] != '\n' && sc->p[i] != '\r')
				i++;
		} else {
			return c == '\'' && newline ? i + 1 : 0;
		}
	}
	return 0;
}

/* An E'' string whose opening quote is at @i: a backslash escapes the
 * next byte, whatever it is. */
static int lex_estring(struct scan *sc, size_t i)
{
	size_t start = i, next;

	for (i++; i < sc->n; i++) {
		if (sc->p[i] == '\\') {
			i++;
		} else if (sc->p[i] == '\'') {
			if (at(sc, i + 1) == '\'') {
				i++;
				continue;
			}
			next = string_continues(sc, i + 1);
			if (next == 0) {
				sc->pos = i + 1;
				return 0;
			}
			i = next - 1;
		}
	}
	return unterminated(sc, "string", start);
}

/* 1 when the '$' at @i opens a dollar quote ("$tag$" or "$$"), with the
 * tag's length in *taglen; 0 otherwise.  A tag is empty or an identifier
 * without '$'; a digit cannot come first ("$1" is a parameter). */
static int dollar_tag(const struct scan *sc, size_t i, size_t *taglen)
{
	size_t j = i + 1;

	if (at(sc, j) != '$' && !is_ident_start(at(sc, j)))
		return 0;
	while (j < sc->n && is_tag_cont(sc->p[j]))
		j++;
	if (at(sc, j) != '$')
		return 0;
	*taglen = j - i - 1;
	return 1;
}

/*
 * A dollar-quoted string whose opening "$tag$" is at @i: nothing inside
 * is special but the closing "$tag$".  A mismatch in the comparison
 * cannot hide a '$' (the tag has none), so each byte is compared O(1)
 * times.
 */
static int lex_dollar(struct scan *sc, size_t i, size_t taglen)
{
	const unsigned char *tag = sc->p + i, *q;
	size_t delim = taglen + 2, start = i, shown;

	for (i += delim; i < sc->n; i++) {
		q = memchr(sc->p + i, '$', sc->n - i);
		if (q == NULL)
			break;
		i = (size_t)(q - sc->p);
		if (sc->n - i >= delim && memcmp(q, tag, delim) == 0) {
			sc->pos = i + delim;
			return 0;
		}
	}
	shown = taglen > TAG_SHOWN ? TAG_SHOWN : taglen;
	return kvm_error_set(sc->err, KVM_ESCHEMA,
	                     "unterminated dollar-quoted string $%.*s%s$ "
	                     "starting at line %u", (int)shown,
	                     (const char *)tag + 1, shown < taglen ? "..." : "",
	                     line_at(sc, start));
}

/* --- words, numbers ----------------------------------------------------- */

/* psql's letter for the words that may start CREATE [OR REPLACE]
 * FUNCTION | PROCEDURE, 0 for any other word. */
static char routine_letter(const unsigned char *w, size_t len)
{
	static const char *const kw[] = {
		"create", "or", "replace", "function", "procedure",
	};

	for (size_t k = 0; k < sizeof(kw) / sizeof(kw[0]); k++)
		if (word_is(w, len, kw[k]))
			return kw[k][0];
	return 0;
}

static int in_routine(const struct scan *sc)
{
	const char *w = sc->words;

	return w[0] == 'c' &&
	       (w[1] == 'f' || w[1] == 'p' ||
	        (w[1] == 'o' && w[2] == 'r' && (w[3] == 'f' || w[3] == 'p')));
}

/*
 * psql's rule for SQL-standard bodies ("BEGIN ATOMIC ... END"): in a
 * CREATE FUNCTION or PROCEDURE statement, outside parentheses, BEGIN
 * opens a block, CASE opens one inside a block (its END would close the
 * block too early otherwise) and END closes one.  Semicolons inside a
 * block do not end the statement.
 */
static void track_block(struct scan *sc, const unsigned char *w, size_t len)
{
	if (sc->nwords < sizeof(sc->words))
		sc->words[sc->nwords] = routine_letter(w, len);
	sc->nwords++;
	if (sc->paren_depth > 0 || !in_routine(sc))
		return;
	if (word_is(w, len, "begin"))
		sc->begin_depth++;
	else if (word_is(w, len, "case") && sc->begin_depth > 0)
		sc->begin_depth++;
	else if (word_is(w, len, "end") && sc->begin_depth > 0)
		sc->begin_depth--;
}

/* An identifier or keyword: a '$' after its first byte is part of it, so
 * "a$b$" opens no dollar quote. */
static enum tok lex_word(struct scan *sc)
{
	size_t start = sc->pos, i = sc->pos + 1;

	while (i < sc->n && is_ident_cont(sc->p[i]))
		i++;
	sc->pos = i;
	track_block(sc, sc->p + start, i - start);
	return TOK_WORD;
}

/* Digits, with single underscores between them ("1_000"), from @i. */
static size_t skip_digits(const struct scan *sc, size_t i)
{
	while (is_digit(at(sc, i)) ||
	       (at(sc, i) == '_' && is_digit(at(sc, i + 1))))
		i++;
	return i;
}

/*
 * A number, or a parameter ("$1") from its '$', as PostgreSQL's lexer
 * takes them.  Two details decide where a statement ends:
 *  - an exponent's sign belongs to the number even without digits after
 *    it ("1e-" is one malformed token), so "1e--x" holds no comment;
 *  - an identifier glued to a number belongs to that (junk) token, '$'
 *    included, so "1e$a$" and "$1a$b$" open no dollar quote, while
 *    "$1$a$" and "1e-5$a$" do.
 */
static enum tok lex_number(struct scan *sc)
{
	size_t i = sc->pos, sign;

	if (sc->p[i] == '$') {
		i = skip_digits(sc, i + 1);
	} else {
		i = skip_digits(sc, i);
		if (at(sc, i) == '.' && at(sc, i + 1) != '.')
			i = skip_digits(sc, i + 1);
		sign = i + 1;
		if (lower(at(sc, i)) == 'e' &&
		    (at(sc, sign) == '+' || at(sc, sign) == '-'))
			i = skip_digits(sc, sign + 1);
	}
	if (is_ident_start(at(sc, i)))
		while (i < sc->n && is_ident_cont(sc->p[i]))
			i++;
	sc->pos = i;
	return TOK_OTHER;
}

/* A lexeme that starts like a word: a word, or a prefixed string (E'',
 * B'', X'', N'', U&'') or quoted identifier (U&""). */
static int lex_wordlike(struct scan *sc, enum tok *type)
{
	unsigned char c = lower(sc->p[sc->pos]), next = at(sc, sc->pos + 1);

	*type = TOK_STRING;
	if (next == '\'' && c == 'e')
		return lex_estring(sc, sc->pos + 1);
	if (next == '\'' && (c == 'b' || c == 'x' || c == 'n'))
		return lex_quoted(sc, sc->pos + 1, "string");
	if (c == 'u' && next == '&' && at(sc, sc->pos + 2) == '\'')
		return lex_quoted(sc, sc->pos + 2, "string");
	if (c == 'u' && next == '&' && at(sc, sc->pos + 2) == '"') {
		*type = TOK_OTHER;
		return lex_quoted(sc, sc->pos + 2, "quoted identifier");
	}
	*type = lex_word(sc);
	return 0;
}

/* A lexeme that starts with '$': a dollar quote, a parameter, or a lone
 * '$' (the bytes after it are lexed again on their own, as psql does). */
static int lex_dollar_sign(struct scan *sc, enum tok *type)
{
	size_t taglen;

	if (is_digit(at(sc, sc->pos + 1))) {
		*type = lex_number(sc);
		return 0;
	}
	if (!dollar_tag(sc, sc->pos, &taglen)) {
		*type = TOK_OTHER;
		sc->pos++;
		return 0;
	}
	*type = TOK_STRING;
	return lex_dollar(sc, sc->pos, taglen);
}

/* --- statements --------------------------------------------------------- */

/* One lexeme at sc->pos, which is not a ';' that ends the statement. */
static int lex_one(struct scan *sc, enum tok *type)
{
	unsigned char c = sc->p[sc->pos], next = at(sc, sc->pos + 1);

	*type = TOK_OTHER;
	if (is_space(c)) {
		*type = TOK_SPACE;
		sc->pos++;
	} else if (c == '-' && next == '-') {
		*type = TOK_SPACE;
		lex_line_comment(sc);
	} else if (c == '/' && next == '*') {
		*type = TOK_SPACE;
		return lex_block_comment(sc);
	} else if (c == '\'') {
		*type = TOK_STRING;
		return lex_quoted(sc, sc->pos, "string");
	} else if (c == '"') {
		return lex_quoted(sc, sc->pos, "quoted identifier");
	} else if (c == '$') {
		return lex_dollar_sign(sc, type);
	} else if (is_ident_start(c)) {
		return lex_wordlike(sc, type);
	} else if (is_digit(c)) {
		lex_number(sc);
	} else {
		if (c == '(')
			sc->paren_depth++;
		else if (c == ')' && sc->paren_depth > 0)
			sc->paren_depth--;
		sc->pos++;
	}
	return 0;
}

/* Skip whitespace, comments and empty statements before a statement. */
static int skip_separators(struct scan *sc)
{
	while (sc->pos < sc->n) {
		unsigned char c = sc->p[sc->pos], next = at(sc, sc->pos + 1);
		int rc;

		if (is_space(c) || c == ';') {
			sc->pos++;
		} else if (c == '-' && next == '-') {
			lex_line_comment(sc);
		} else if (c == '/' && next == '*') {
			rc = lex_block_comment(sc);
			if (rc != 0)
				return rc;
		} else {
			break;
		}
	}
	return 0;
}

/* Scan from sc->pos to the ';' that ends the statement, or to the end of
 * the script; *end receives that offset. */
static int scan_statement(struct scan *sc, size_t *end)
{
	enum tok type;
	size_t start;
	int rc;

	while (sc->pos < sc->n) {
		start = sc->pos;
		if (sc->p[start] == ';' && sc->paren_depth == 0 &&
		    sc->begin_depth == 0)
			break;
		rc = lex_one(sc, &type);
		if (rc != 0)
			return rc;
		if (type != TOK_SPACE && sc->ntok < 3) {
			sc->tok[sc->ntok].off = start;
			sc->tok[sc->ntok].len = sc->pos - start;
			sc->tok[sc->ntok].type = type;
			sc->ntok++;
		}
	}
	*end = sc->pos;
	return 0;
}

/* Token @k is the keyword @kw (lowercase). */
static int tok_is(const struct scan *sc, size_t k, const char *kw)
{
	const struct token *t = &sc->tok[k];

	return k < sc->ntok && t->type == TOK_WORD &&
	       word_is(sc->p + t->off, t->len, kw);
}

/* ROLLBACK [WORK | TRANSACTION] TO ... is a savepoint's, to execute. */
static enum kvm_sql_kind rollback_kind(const struct scan *sc)
{
	size_t k = 1;

	if (tok_is(sc, 1, "prepared"))
		return KVM_SQL_TWOPHASE;
	if (tok_is(sc, 1, "work") || tok_is(sc, 1, "transaction"))
		k = 2;
	return tok_is(sc, k, "to") ? KVM_SQL_OTHER : KVM_SQL_ROLLBACK;
}

/* PREPARE TRANSACTION 'gid', unless "transaction" is the name of a
 * prepared statement: PREPARE transaction [(types)] AS ... */
static enum kvm_sql_kind prepare_kind(const struct scan *sc)
{
	const struct token *t = &sc->tok[2];

	if (!tok_is(sc, 1, "transaction") || tok_is(sc, 2, "as"))
		return KVM_SQL_OTHER;
	if (sc->ntok > 2 && t->type == TOK_OTHER && sc->p[t->off] == '(')
		return KVM_SQL_OTHER;
	return KVM_SQL_TWOPHASE;
}

/* Transaction control is told by its first words, which must be plain
 * words: "BEGIN" in double quotes or begin_date are identifiers. */
static enum kvm_sql_kind classify(const struct scan *sc)
{
	if (tok_is(sc, 0, "begin"))
		return tok_is(sc, 1, "atomic") ? KVM_SQL_OTHER : KVM_SQL_BEGIN;
	if (tok_is(sc, 0, "start"))
		return tok_is(sc, 1, "transaction") ? KVM_SQL_BEGIN : KVM_SQL_OTHER;
	if (tok_is(sc, 0, "commit"))
		return tok_is(sc, 1, "prepared") ? KVM_SQL_TWOPHASE : KVM_SQL_COMMIT;
	if (tok_is(sc, 0, "end"))
		return KVM_SQL_COMMIT;
	if (tok_is(sc, 0, "abort"))
		return KVM_SQL_ROLLBACK;
	if (tok_is(sc, 0, "rollback"))
		return rollback_kind(sc);
	if (tok_is(sc, 0, "prepare"))
		return prepare_kind(sc);
	return KVM_SQL_OTHER;
}

/* Fill @st with the statement from @start (on @line) to @end, the ';'
 * or the end of the script, and move the splitter past it.  Only now is
 * the splitter written, so a failed scan leaves it where it was. */
static void take_statement(struct kvm_sql_splitter *s, struct scan *sc,
                           size_t start, size_t end, unsigned line,
                           struct kvm_sql_stmt *st)
{
	while (end > start && is_space(sc->p[end - 1]))
		end--;
	st->offset = start;
	st->len = end - start;
	st->line = line;
	st->kind = classify(sc);
	s->pos = sc->pos < sc->n ? sc->pos + 1 : sc->n;
	s->line = line_at(sc, s->pos);
}

void kvm_sql_splitter_init(struct kvm_sql_splitter *s, const char *sql,
                           size_t len)
{
	if (s == NULL)
		return;
	s->sql = sql != NULL ? sql : "";
	s->len = sql != NULL ? len : 0;
	s->pos = 0;
	s->line = 1;
}

int kvm_sql_next(struct kvm_sql_splitter *s, struct kvm_sql_stmt *st,
                 struct kvm_error *err)
{
	struct scan sc = { 0 };
	size_t start, end;
	unsigned line;
	int rc;

	if (s == NULL || st == NULL)
		return kvm_error_set(err, KVM_EINVAL,
		                     "kvm_sql_next: NULL splitter or statement");
	if (s->pos > s->len)
		return kvm_error_set(err, KVM_EINVAL,
		                     "kvm_sql_next: splitter past the end of its script");
	sc.p = (const unsigned char *)s->sql;
	sc.n = s->len;
	sc.pos = sc.line_pos = s->pos;
	sc.line = s->line;
	sc.err = err;
	rc = skip_separators(&sc);
	if (rc != 0)
		return rc;
	if (sc.pos >= sc.n) {
		s->line = line_at(&sc, sc.n);
		s->pos = sc.n;
		return KVM_END;
	}
	start = sc.pos;
	line = line_at(&sc, start);
	rc = scan_statement(&sc, &end);
	if (rc != 0)
		return rc;
	take_statement(s, &sc, start, end, line, st);
	return 0;
}

const char *kvm_sql_kind_name(enum kvm_sql_kind kind)
{
	switch (kind) {
	case KVM_SQL_OTHER:    return "statement";
	case KVM_SQL_BEGIN:    return "begin";
	case KVM_SQL_COMMIT:   return "commit";
	case KVM_SQL_ROLLBACK: return "rollback";
	case KVM_SQL_TWOPHASE: return "two-phase command";
	}
	return "unknown";
}
