/*
 * plan.c - what `up --dry-run` with the KV flag reports: the old tables
 * and their rows, the KV path and what is there, where the export would
 * go, the sizes both would take and whether the space looks enough.
 * Reads only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/statvfs.h>

#include "kvm/migrate.h"
#include "kvm/migrator.h"
#include "kvtarget.h"
#include "plan.h"
#include "session.h"
#include "tmpname.h"

/* What a dry run with the KV flag reports: the tables and their rows, the
 * KV path, where the export would go, and whether the space looks enough.
 * Reads only. */
/* The rows of an old table and the bytes it takes on disk. */
static int table_size(struct session *s, struct kvm_up_plan_table *pt,
                      struct kvm_error *err)
{
	const char *param[1];
	char *q, *sql;
	PGresult *res;
	int rc;

	if ((rc = kvm_session_qualify(s, pt->table, &q, err)) != 0)
		return rc;
	if ((sql = malloc(strlen(q) + 200)) == NULL) {
		free(q);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	/* a partitioned table's own size is 0: add its parts */
	sprintf(sql, "SELECT count(*), (SELECT coalesce(sum(pg_table_size(relid)), "
	        "0) FROM pg_partition_tree($1::regclass)) FROM %s", q);
	param[0] = q;
	rc = kvm_db_query(s->db, &res, sql, 1, param, err);
	free(sql);
	free(q);
	if (rc != 0)
		return rc;
	pt->rows = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	pt->bytes = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	return 0;
}

int kvm_up_plan(struct session *s, const struct kvm_up_opts *o,
                   struct kvm_up_result *r, struct kvm_error *err)
{
	struct kvm_up_plan *p = &r->plan;
	struct kvm_status *st = calloc(1, sizeof(*st));
	struct old_table *t;
	kvm_kv_target *kv;
	uint64_t bytes = 0;
	size_t n;
	int rc;

	if (st == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	p->ready = 1;
	p->drop_tables = o->drop_tables;
	if ((rc = kvm_session_old_tables(s, &t, &n, err)) != 0) {
		free(st);
		return rc;
	}
	if ((p->tables = calloc(n + 1, sizeof(*p->tables))) == NULL) {
		free(t);
		free(st);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		struct kvm_up_plan_table *pt = &p->tables[p->ntables++];

		pt->package = t[i].package;
		pt->table = t[i].name;
		pt->present = t[i].present;
		if (pt->present && (rc = table_size(s, pt, err)) != 0)
			break;
		bytes += pt->bytes;
	}
	free(t);
	if (rc != 0) {
		free(st);
		return rc;
	}
	kvm_kv_status(o->kv_path, st);
	snprintf(p->kv_state, sizeof(p->kv_state), "%s",
	         kvm_kv_state_name(st->kv.state));
	p->kv_refused = st->kv.state != KVM_KV_ABSENT &&
	                st->kv.state != KVM_KV_EMPTY &&
	                st->kv.state != KVM_KV_PRESENT;
	free(st);
	p->export_kept = o->keep_export != NULL;
	if ((p->export_path = malloc(PATH_MAX + NAME_MAX)) == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	if (o->keep_export != NULL)
		snprintf(p->export_path, PATH_MAX + NAME_MAX, "%s", o->keep_export);
	else if ((rc = kvm_companion_path(o->kv_path, KVM_TEMP_EXPORT_SUFFIX,
	                                  p->export_path, PATH_MAX + NAME_MAX,
	                                  err)) != 0)
		return rc;
	p->export_estimate = bytes;
	if ((rc = kvm_kv_open(&kv, o->kv_path, err)) != 0)
		return rc;
	/* The target's own estimate: what its import reserves. */
	p->kv_estimate = kv->ops->estimate(bytes);
	p->kv_free = kv->ops->free_bytes != NULL ? kv->ops->free_bytes(kv) : 0;
	kvm_kv_close(kv);
	p->export_free = kvm_free_beside(p->export_path);
	/* Both files exist at once while the store is built; on one file
	 * system they share its free space. */
	p->enough = p->kv_free >= p->kv_estimate &&
	            p->export_free >= p->export_estimate &&
	            (p->kv_free != p->export_free ||
	             p->kv_free >= p->kv_estimate + p->export_estimate);
	return 0;
}
