/*
 * schema.c - schema sources: the built-in SQL versions and --schema-dir.
 *
 * Both kinds become the same object: a list of (version, file name, SQL)
 * sorted by version.  The built-in files go through the same name rules
 * and checks as a directory's, so a file that would be refused in a
 * directory cannot hide in the binary (test_schema checks the built-in
 * source loads).
 *
 * Name rules (golang-migrate's, narrowed to what the tool applies):
 * "<digits>_<anything>.up.sql".  golang-migrate also accepts other
 * extensions and silently skips names it cannot parse; here an .up.sql
 * file whose version does not parse is an error, because skipping a
 * misnamed version would leave the database without it while reporting
 * success.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm/schema.h"
#include "schema_builtin.h"

struct kvm_schema {
	struct kvm_schema_version *v;  /* sorted by version */
	size_t n;
	char *origin;                  /* for messages */
	char *dir;                     /* NULL for the built-in source */
	int owns_text;                 /* names and SQL are malloc'd */
};

static const char UP_SUFFIX[] = ".up.sql";
static const char DOWN_SUFFIX[] = ".down.sql";

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* The version of an .up.sql file name; KVM_ESCHEMA when it does not parse. */
static int parse_name(const char *name, uint64_t *version, struct kvm_error *err)
{
	uint64_t v = 0;
	const char *p = name;

	if (*p < '0' || *p > '9')
		return kvm_error_set(err, KVM_ESCHEMA, "'%s': a version file name "
		                     "must start with its version number "
		                     "(NNNNNN_name.up.sql)", name);
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (KVM_SCHEMA_MAX_VERSION - (uint64_t)(*p - '0')) / 10)
			return kvm_error_set(err, KVM_ESCHEMA, "'%s': version number "
			                     "too large (at most %lld)", name,
			                     (long long)KVM_SCHEMA_MAX_VERSION);
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p != '_')
		return kvm_error_set(err, KVM_ESCHEMA, "'%s': the version number "
		                     "must be followed by '_' (NNNNNN_name.up.sql)",
		                     name);
	*version = v;
	return 0;
}

static int cmp_version(const void *a, const void *b)
{
	const struct kvm_schema_version *x = a, *y = b;

	return x->version < y->version ? -1 : x->version > y->version;
}

/* Sort, then refuse duplicates and an empty source. */
static int finish_source(kvm_schema *s, struct kvm_error *err)
{
	if (s->n == 0)
		return kvm_error_set(err, KVM_ESCHEMA, "%s holds no version file "
		                     "(NNNNNN_name.up.sql)", s->origin);
	qsort(s->v, s->n, sizeof(s->v[0]), cmp_version);
	for (size_t i = 1; i < s->n; i++)
		if (s->v[i].version == s->v[i - 1].version)
			return kvm_error_set(err, KVM_ESCHEMA, "%s: '%s' and '%s' "
			                     "have the same version %llu", s->origin,
			                     s->v[i - 1].name, s->v[i].name,
			                     (unsigned long long)s->v[i].version);
	return 0;
}

static int check_text(const kvm_schema *s, const char *name, const char *sql,
                      size_t len, struct kvm_error *err)
{
	const char *nul = memchr(sql, '\0', len);

	if (nul != NULL)
		return kvm_error_set(err, KVM_ESCHEMA, "%s: '%s' holds a NUL byte "
		                     "at offset %zu: not an SQL text file",
		                     s->origin, name, (size_t)(nul - sql));
	return 0;
}

int kvm_schema_builtin(kvm_schema **out, struct kvm_error *err)
{
	kvm_schema *s;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	s->origin = strdup("the built-in schema");
	s->v = calloc(kvm_schema_builtin_count + 1, sizeof(s->v[0]));
	if (s->origin == NULL || s->v == NULL) {
		kvm_schema_free(s);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < kvm_schema_builtin_count; i++) {
		const struct kvm_schema_builtin_file *f = &kvm_schema_builtin_files[i];
		struct kvm_schema_version *v = &s->v[s->n++];

		v->name = f->name;
		v->sql = f->sql;
		v->len = f->len;
		if ((rc = parse_name(f->name, &v->version, err)) != 0 ||
		    (rc = check_text(s, f->name, f->sql, f->len, err)) != 0)
			goto bad;
	}
	if ((rc = finish_source(s, err)) != 0)
		goto bad;
	*out = s;
	return 0;
bad:
	kvm_schema_free(s);
	kvm_error_prefix(err, "kvmigrate was built with a bad schema version");
	err->code = KVM_EINTERNAL;
	return KVM_EINTERNAL;
}

/* Read the whole of @path (a version file) into a NUL-terminated buffer. */
static int read_version_file(const kvm_schema *s, const char *path,
                             const char *name, char **text, size_t *len,
                             struct kvm_error *err)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		return kvm_error_set(err, e, "cannot open '%s': %s", path, strerror(e));
	}
	if (fstat(fd, &st) != 0) {
		e = errno;
		close(fd);
		return kvm_error_set(err, e, "cannot read '%s': %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return kvm_error_set(err, KVM_ESCHEMA, "%s: '%s' is not a regular "
		                     "file", s->origin, name);
	}
	if (st.st_size > (off_t)KVM_SCHEMA_MAX_FILE) {
		close(fd);
		return kvm_error_set(err, KVM_ESCHEMA, "%s: '%s' is larger than "
		                     "%u MiB", s->origin, name,
		                     KVM_SCHEMA_MAX_FILE >> 20);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	/* Read to the end, not to st_size: the size may change under us and
	 * must stay within the cap either way. */
	for (;;) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = errno;
			free(buf);
			close(fd);
			return kvm_error_set(err, e, "cannot read '%s': %s", path,
			                     strerror(e));
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got == (size_t)st.st_size)
			break;
	}
	close(fd);
	buf[got] = '\0';
	*text = buf;
	*len = got;
	return 0;
}

static int add_dir_entry(kvm_schema *s, size_t *cap, const char *name,
                         struct kvm_error *err)
{
	struct kvm_schema_version *v;
	char *path, *copy;
	int rc;

	if (s->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		void *p;

		if (ncap > KVM_SCHEMA_MAX_VERSIONS)
			return kvm_error_set(err, KVM_ESCHEMA, "%s holds more than %u "
			                     "version files", s->origin,
			                     KVM_SCHEMA_MAX_VERSIONS);
		p = realloc(s->v, ncap * sizeof(s->v[0]));
		if (p == NULL)
			return kvm_error_set(err, KVM_ENOMEM, "out of memory");
		s->v = p;
		*cap = ncap;
	}
	v = &s->v[s->n];
	memset(v, 0, sizeof(*v));
	if ((rc = parse_name(name, &v->version, err)) != 0)
		return kvm_error_prefix(err, "%s", s->origin);
	copy = strdup(name);
	if (copy == NULL || asprintf(&path, "%s/%s", s->dir, name) < 0) {
		free(copy);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	v->name = copy;
	s->n++;   /* owned by the source from here on */
	rc = read_version_file(s, path, name, (char **)&v->sql, &v->len, err);
	free(path);
	if (rc == 0)
		rc = check_text(s, name, v->sql, v->len, err);
	return rc;
}

int kvm_schema_load_dir(kvm_schema **out, const char *dir,
                        struct kvm_error *err)
{
	kvm_schema *s;
	DIR *d;
	struct dirent *de;
	size_t cap = 0;
	int rc = 0, e;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	s->owns_text = 1;
	s->dir = strdup(dir);
	if (s->dir == NULL || asprintf(&s->origin, "schema directory '%s'", dir) < 0) {
		s->origin = NULL;
		kvm_schema_free(s);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	d = opendir(dir);
	if (d == NULL) {
		e = errno;
		kvm_schema_free(s);
		return kvm_error_set(err, e, "cannot read schema directory '%s': %s",
		                     dir, strerror(e));
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0) {
				e = errno;
				rc = kvm_error_set(err, e, "cannot read schema directory "
				                   "'%s': %s", dir, strerror(e));
			}
			break;
		}
		if (de->d_name[0] == '.' || ends_with(de->d_name, DOWN_SUFFIX) ||
		    !ends_with(de->d_name, UP_SUFFIX))
			continue;
		if ((rc = add_dir_entry(s, &cap, de->d_name, err)) != 0)
			break;
	}
	closedir(d);
	if (rc == 0)
		rc = finish_source(s, err);
	if (rc != 0) {
		kvm_schema_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void kvm_schema_free(kvm_schema *s)
{
	if (s == NULL)
		return;
	if (s->owns_text) {
		for (size_t i = 0; i < s->n; i++) {
			free((char *)s->v[i].name);
			free((char *)s->v[i].sql);
		}
	}
	free(s->v);
	free(s->origin);
	free(s->dir);
	free(s);
}

size_t kvm_schema_count(const kvm_schema *s)
{
	return s->n;
}

const struct kvm_schema_version *kvm_schema_get(const kvm_schema *s, size_t i)
{
	return i < s->n ? &s->v[i] : NULL;
}

long kvm_schema_index(const kvm_schema *s, uint64_t version)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->v[mid].version == version)
			return (long)mid;
		if (s->v[mid].version < version)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

uint64_t kvm_schema_last(const kvm_schema *s)
{
	return s->v[s->n - 1].version;
}

uint64_t kvm_schema_kv_version(const kvm_schema *s)
{
	return kvm_schema_last(s) + 1;
}

const char *kvm_schema_origin(const kvm_schema *s)
{
	return s->origin;
}

const char *kvm_schema_dir(const kvm_schema *s)
{
	return s->dir;
}
