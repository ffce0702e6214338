/*
 * export_copy.c - running one unit of work: its source's query as COPY
 * (...) TO STDOUT (FORMAT binary), each row parsed in place
 * (format/pgcopy.c) and handed to the migrator's row function, which
 * emits records through kvm_row_emit (export_row.c).
 *
 * The same code runs on the leader (jobs 1) and on the workers; the
 * producer says where the records go.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_engine.h"
#include "clock.h"
#include "pgcopy.h"

static int unit_query(struct producer *pr, char **out, struct kvm_error *err)
{
	const struct kvm_source *s = pr->u->src;
	PGconn *conn = kvm_db_conn(pr->db);
	const char *at;
	char *lit = NULL;
	size_t n;

	*out = NULL;
	at = pr->u->split != NULL ? strstr(s->query, "$1") : NULL;
	if (pr->u->split != NULL) {
		if (at == NULL)
			return kvm_error_set(err, KVM_EINTERNAL, "the query of table "
			                     "'%s' has no $1", s->table);
		lit = PQescapeLiteral(conn, (const char *)pr->u->split,
		                      pr->u->split_len);
		if (lit == NULL)
			return kvm_db_error(pr->db, NULL, KVM_EDB, err);
	}
	n = strlen(s->query) + (lit != NULL ? strlen(lit) : 0) + 64;
	if ((*out = malloc(n)) == NULL) {
		PQfreemem(lit);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	if (lit != NULL)
		snprintf(*out, n, "COPY (%.*s%s%s) TO STDOUT (FORMAT binary)",
		         (int)(at - s->query), s->query, lit, at + 2);
	else
		snprintf(*out, n, "COPY (%s) TO STDOUT (FORMAT binary)", s->query);
	PQfreemem(lit);
	return 0;
}

static int copy_rows(struct producer *pr, struct kvm_pgcopy *cp,
                     struct kvm_pgcopy_field *f, struct kvm_error *err)
{
	struct unit *u = pr->u;
	struct kvm_row row = {
		.copy = cp, .f = f, .split = u->split, .split_len = u->split_len,
		.value = pr->value, .table = u->src->table, .engine = pr,
	};
	char *buf;
	int len, rc;

	while ((len = kvm_db_copy_data(pr->db, &buf, err)) > 0) {
		rc = kvm_pgcopy_row(cp, buf, (size_t)len, f, u->src->ncols, err);
		if (rc == 0) {
			u->rows++;
			rc = u->src->row(&row, err);
			if (rc == 0 && u->rows % CANCEL_EVERY == 0 &&
			    (kvm_exp_canceled(pr->e) ||
			     __atomic_load_n(&pr->e->abort, __ATOMIC_RELAXED)))
				rc = kvm_error_set(err, KVM_ECANCELED, "canceled");
		} else if (rc == KVM_END) {
			rc = 0;
		}
		PQfreemem(buf);
		if (rc != 0)
			return rc;
	}
	return len < 0 ? len : 0;
}

static int run_unit_copy(struct producer *pr, struct kvm_error *err);

/* Run one unit; a failure is marked with its package and table. */
int kvm_exp_run_unit(struct producer *pr, struct kvm_error *err)
{
	int rc = run_unit_copy(pr, err);

	if (rc != 0 && rc != KVM_ECANCELED)
		kvm_error_where(err, pr->e->sections[pr->u->section].m->name,
		                pr->u->src->table, NULL);
	return rc;
}

static int run_unit_copy(struct producer *pr, struct kvm_error *err)
{
	struct unit *u = pr->u;
	struct kvm_pgcopy_field *f;
	struct kvm_pgcopy cp;
	char subject[128], *sql;
	PGresult *res;
	int rc;

	u->t_start = kvm_now_ms();
	snprintf(subject, sizeof(subject), "table '%s'", u->src->table);
	if ((rc = unit_query(pr, &sql, err)) != 0)
		return rc;
	if ((f = calloc(u->src->ncols, sizeof(*f))) == NULL) {
		free(sql);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	rc = kvm_db_run(pr->db, sql, 0, NULL, &res, err);
	free(sql);
	if (rc != 0 || PQresultStatus(res) != PGRES_COPY_OUT) {
		if (rc == 0)
			rc = kvm_db_error(pr->db, res, KVM_EDB, err);
		kvm_error_prefix(err, "reading table '%s'", u->src->table);
		PQclear(res);
		free(f);
		return rc;
	}
	PQclear(res);
	kvm_pgcopy_init(&cp, subject);
	rc = copy_rows(pr, &cp, f, err);
	free(f);
	if (rc != 0)
		return rc;   /* the connection is closed, mid-COPY, by the caller */
	res = PQgetResult(kvm_db_conn(pr->db));
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = kvm_db_error(pr->db, res, KVM_EDB, err);
		kvm_error_prefix(err, "reading table '%s'", u->src->table);
	} else if (!cp.ended) {
		rc = kvm_error_set(err, KVM_EDB, "reading table '%s': the COPY "
		                   "ended without its trailer", u->src->table);
	}
	PQclear(res);
	while ((res = PQgetResult(kvm_db_conn(pr->db))) != NULL)
		PQclear(res);
	return rc;
}

