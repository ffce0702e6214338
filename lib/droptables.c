/*
 * droptables.c - the old tables of a finished KV migration: which are
 * still there, and dropping them in one transaction (by `up
 * --drop-tables` after the version bump, or by kvm_drop_tables() to
 * finish a migration whose drop failed).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/migrate.h"
#include "kvm/migrator.h"
#include "kvm/schema.h"
#include "failpoint.h"
#include "droptables.h"
#include "session.h"
#include "sqlversions.h"

/* The old tables that exist, as a quoted list for DROP TABLE and as
 * plain names for messages. */
static int old_tables(struct session *s, char *drop, size_t dsize, char *names,
                      size_t nsize, size_t *count, struct kvm_error *err)
{
	size_t dn = 0, nn = 0;

	*count = 0;
	drop[0] = names[0] = '\0';
	for (size_t m = 0; m < kvm_migrator_count(); m++) {
		for (const char *const *t = kvm_migrator_get(m)->tables; *t; t++) {
			const char *param[1] = { *t };
			PGresult *res;
			char *q;
			int rc, there;

			rc = kvm_db_query(s->db, &res, "SELECT to_regclass(quote_ident("
			                  "$1)) IS NOT NULL", 1, param, err);
			if (rc != 0)
				return rc;
			there = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
			PQclear(res);
			if (!there)
				continue;
			q = PQescapeIdentifier(kvm_db_conn(s->db), *t, strlen(*t));
			if (q == NULL)
				return kvm_db_error(s->db, NULL, KVM_EDB, err);
			dn += (size_t)snprintf(drop + dn, dn < dsize ? dsize - dn : 0,
			                       "%s%s", *count ? ", " : "", q);
			nn += (size_t)snprintf(names + nn, nn < nsize ? nsize - nn : 0,
			                       "%s%s", *count ? ", " : "", *t);
			PQfreemem(q);
			(*count)++;
		}
	}
	if (dn >= dsize)
		return kvm_error_set(err, KVM_EINTERNAL, "the list of old tables "
		                     "is too long");
	return 0;
}

/* Drop the old tables that exist, in one transaction.  DROP waits for
 * every other session's lock on them: bounded by lock_wait_s. */
int kvm_drop_old_tables(struct session *s, unsigned wait_s, size_t *dropped,
                           struct kvm_error *err)
{
	char list[4096], names[1024], sql[4200];
	size_t n;
	int rc;

	*dropped = 0;
	if ((rc = old_tables(s, list, sizeof(list), names, sizeof(names), &n,
	                     err)) != 0 || n == 0)
		return rc;
	snprintf(sql, sizeof(sql), "SET lock_timeout = '%us'", wait_s ? wait_s : 1);
	if ((rc = kvm_db_exec(s->db, "BEGIN", err)) != 0 ||
	    (rc = kvm_db_exec(s->db, sql, err)) != 0)
		goto fail;
	snprintf(sql, sizeof(sql), "DROP TABLE %s", list);
	if ((rc = kvm_db_exec(s->db, sql, err)) != 0 ||
	    (rc = KVM_FAIL("drop.uncommitted", err)) != 0 ||
	    (rc = kvm_db_exec(s->db, "COMMIT", err)) != 0)
		goto fail;
	*dropped = n;
	return KVM_FAIL("drop.committed", err);
fail:
	kvm_session_rollback(s);
	kvm_db_cleanup(s->db, "SET lock_timeout = 0");
	if (rc == KVM_ECANCELED)
		return kvm_error_prefix(err, "dropping the %zu old tables (nothing "
		                        "was dropped)", n);
	{
		char why[KVM_ERROR_MSG_MAX];

		snprintf(why, sizeof(why), "%s", err->msg);
		return kvm_error_set(err, KVM_EDROP, "dropping the %zu old tables "
		                     "failed: %s", n, why);
	}
}

/* Also after a cancel: the lookups take no lock, so they cannot wait. */
void kvm_note_tables_left(struct session *s, struct kvm_up_result *r)
{
	const volatile sig_atomic_t *flag = kvm_db_set_cancel(s->db, NULL);
	char list[4096];
	struct kvm_error e;

	if (old_tables(s, list, sizeof(list), r->tables_left_names,
	               sizeof(r->tables_left_names), &r->tables_left, &e) != 0)
		r->tables_left = 0;
	kvm_db_set_cancel(s->db, flag);
}

int kvm_drop_tables(const struct kvm_drop_opts *o, size_t *dropped,
                    struct kvm_error *err)
{
	struct session s;
	struct version_row row;
	kvm_schema *sch = NULL;
	uint64_t kv;
	int rc;

	*dropped = 0;
	if ((rc = kvm_schema_open(o->schema_dir, &sch, err)) != 0)
		return rc;
	kv = kvm_schema_kv_version(sch);
	kvm_schema_free(sch);
	rc = kvm_session_open(&s, o->conninfo, o->connect_retry_ms, o->cancel,
	                      o->on_event, o->event_ctx, err);
	if (rc != 0)
		return rc;
	if ((rc = kvm_session_need_schema(&s, err)) != 0 ||
	    (rc = kvm_session_lock(&s, o->lock_wait_s, o->on_event, o->event_ctx,
	                    err)) != 0 ||
	    (rc = kvm_session_read_version(&s, &row, err)) != 0)
		goto out;
	if (!row.has || row.dirty || row.version != kv) {
		char now[64];

		if (row.has)
			snprintf(now, sizeof(now), "version %" PRIu64 "%s", row.version,
			         row.dirty ? " (dirty)" : "");
		else
			snprintf(now, sizeof(now), "no version");
		rc = kvm_error_set(err, KVM_ESTATE, "%s is at %s, not at the KV "
		                   "migration version %" PRIu64 ": its old tables "
		                   "still hold the metadata; nothing was dropped",
		                   kvm_db_target(s.db), now, kv);
		goto out;
	}
	rc = kvm_drop_old_tables(&s, o->lock_wait_s, dropped, err);
out:
	kvm_session_close(&s);
	return rc;
}
