/*
 * export_plan.c - what an export will read: the packages asked for, the
 * units of work (one per source, or one per value of a split source's
 * split query, in byte order of the values), the rows each package will
 * read by the catalog (for progress), and the number of jobs.
 *
 * Runs on the leader, inside the snapshot, before any unit runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export_engine.h"

static struct unit *add_unit(struct engine *e, const struct kvm_source *src,
                             size_t section, struct kvm_error *err)
{
	if (e->nunits == e->units_cap) {
		size_t cap = e->units_cap ? e->units_cap * 2 : 32;
		struct unit *n = realloc(e->units, cap * sizeof(*n));

		if (n == NULL) {
			kvm_error_set(err, KVM_ENOMEM, "out of memory");
			return NULL;
		}
		e->units = n;
		e->units_cap = cap;
	}
	memset(&e->units[e->nunits], 0, sizeof(e->units[0]));
	e->units[e->nunits].src = src;
	e->units[e->nunits].section = section;
	return &e->units[e->nunits++];
}

static int split_cmp(const void *a, const void *b)
{
	const struct unit *x = a, *y = b;

	return kvm_exp_bytes_cmp(x->split, x->split_len, y->split, y->split_len);
}

/* One unit per value of the split query, in byte order of the values. */
static int plan_split(struct engine *e, const struct kvm_source *src,
                      size_t section, struct kvm_error *err)
{
	size_t first = e->nunits;
	PGresult *res;
	int rc, n;

	rc = kvm_db_query(e->leader, &res, src->split_query, 0, NULL, err);
	if (rc != 0)
		return kvm_error_prefix(err, "listing the units of table '%s'",
		                        src->table);
	n = PQntuples(res);
	for (int i = 0; i < n && rc == 0; i++) {
		struct unit *u = add_unit(e, src, section, err);
		size_t len = (size_t)PQgetlength(res, i, 0);

		if (u == NULL || (u->split = malloc(len + 1)) == NULL) {
			rc = kvm_error_set(err, KVM_ENOMEM, "out of memory");
			break;
		}
		memcpy(u->split, PQgetvalue(res, i, 0), len + 1);
		u->split_len = len;
	}
	PQclear(res);
	if (rc == 0)
		qsort(e->units + first, e->nunits - first, sizeof(e->units[0]),
		      split_cmp);
	return rc;
}

int kvm_exp_plan(struct engine *e, struct kvm_error *err)
{
	for (size_t s = 0; s < e->nsections; s++) {
		const struct kvm_migrator *m = e->sections[s].m;

		e->sections[s].first_unit = e->nunits;
		for (size_t i = 0; i < m->nsources; i++) {
			const struct kvm_source *src = &m->sources[i];
			int rc = 0;

			if (src->split_query != NULL)
				rc = plan_split(e, src, s, err);
			else if (add_unit(e, src, s, err) == NULL)
				rc = KVM_ENOMEM;
			if (rc != 0)
				return rc;
		}
		e->sections[s].nunits = e->nunits - e->sections[s].first_unit;
		e->r->packages[s].units = (unsigned)e->sections[s].nunits;
	}
	return 0;
}

/*
 * The rows each package will read, by the catalog (pg_class.reltuples,
 * which ANALYZE and VACUUM keep up to date, summed over the partitions of
 * a partitioned table): for progress only, so a table never analyzed
 * counts as empty (-1 there) rather than costing a scan, and a package
 * whose tables all look empty has no estimate (0).
 */
int kvm_exp_estimate(struct engine *e, struct kvm_error *err)
{
	for (size_t s = 0; s < e->nsections; s++) {
		struct section *sec = &e->sections[s];

		for (const char *const *t = sec->m->tables; *t; t++) {
			const char *param[1] = { NULL };
			char *name;
			PGresult *res;
			int rc;

			/* the table of the version table's schema, by its name */
			if ((rc = kvm_catalog_quote(e->leader, e->schema, *t, &name,
			                            err)) != 0)
				return rc;
			param[0] = name;
			rc = kvm_db_query(e->leader, &res, "SELECT coalesce(sum("
			                  "greatest(c.reltuples, 0)), 0)::bigint "
			                  "FROM pg_partition_tree(to_regclass($1)) p "
			                  "JOIN pg_class c ON c.oid = p.relid "
			                  "WHERE p.isleaf", 1, param, err);
			free(name);
			if (rc != 0)
				return kvm_error_prefix(err, "estimating the rows of "
				                        "table '%s'", *t);
			sec->estimate += strtoull(PQgetvalue(res, 0, 0), NULL, 10);
			PQclear(res);
		}
	}
	return 0;
}

int kvm_exp_pick_packages(struct engine *e, struct kvm_error *err)
{
	const struct kvm_export_db_opts *o = e->o;

	for (size_t i = 0; i < o->npackages; i++)
		if (kvm_migrator_find(o->packages[i]) == NULL) {
			char names[400];

			kvm_migrator_names(names, sizeof(names));
			return kvm_error_set(err, KVM_EINVAL, "unknown package '%s'; "
			                     "the packages are %s", o->packages[i], names);
		}
	e->r->packages = calloc(kvm_migrator_count() + 1,
	                        sizeof(*e->r->packages));
	if (e->r->packages == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	for (size_t j = 0; j < kvm_migrator_count(); j++) {
		const struct kvm_migrator *m = kvm_migrator_get(j);
		int want = o->npackages == 0;

		for (size_t i = 0; i < o->npackages && !want; i++)
			want = strcmp(o->packages[i], m->name) == 0;
		if (!want)
			continue;
		e->sections[e->nsections].m = m;
		snprintf(e->r->packages[e->nsections].name,
		         sizeof(e->r->packages->name), "%s", m->name);
		e->nsections++;
	}
	e->r->npackages = e->nsections;
	return 0;
}

unsigned kvm_exp_pick_jobs(const struct kvm_export_db_opts *o, size_t nunits)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned jobs = o->jobs;

	if (jobs == 0)
		jobs = cores < 1 ? 1 : cores > KVM_EXPORT_DEFAULT_JOBS_CAP ?
		       KVM_EXPORT_DEFAULT_JOBS_CAP : (unsigned)cores;
	if (jobs > nunits)
		jobs = nunits > 0 ? (unsigned)nunits : 1;
	return jobs;
}

