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

/* Append ", @item" (or @item first) to the growing string *@list. */
static int append(char **list, size_t *len, const char *item,
                  struct kvm_error *err)
{
	size_t add = strlen(item) + (*len > 0 ? 2 : 0);
	char *p = realloc(*list, *len + add + 1);

	if (p == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	sprintf(p + *len, "%s%s", *len > 0 ? ", " : "", item);
	*list = p;
	*len += add;
	return 0;
}

/* The old tables that exist in the version table's schema: qualified and
 * quoted for DROP TABLE into *@drop, plain for messages into *@names
 * (both malloc'd, NULL when there are none). */
static int old_tables(struct session *s, char **drop, char **names,
                      size_t *count, struct kvm_error *err)
{
	struct old_table *t;
	size_t n, dlen = 0, nlen = 0;
	int rc;

	*drop = *names = NULL;
	*count = 0;
	if ((rc = kvm_session_old_tables(s, &t, &n, err)) != 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char *q;

		if (!t[i].present)
			continue;
		if ((rc = kvm_session_qualify(s, t[i].name, &q, err)) != 0)
			break;
		if ((rc = append(drop, &dlen, q, err)) == 0)
			rc = append(names, &nlen, t[i].name, err);
		free(q);
		(*count)++;
	}
	free(t);
	if (rc != 0) {
		free(*drop);
		free(*names);
		*drop = *names = NULL;
		*count = 0;
	}
	return rc;
}

int kvm_drop_old_tables(struct session *s, unsigned wait_s, size_t *dropped,
                           struct kvm_error *err)
{
	char *list, *names, *sql = NULL, timeout[64];
	size_t n;
	int rc;

	*dropped = 0;
	if ((rc = old_tables(s, &list, &names, &n, err)) != 0 || n == 0)
		return rc;
	free(names);
	if ((sql = malloc(strlen(list) + sizeof("DROP TABLE "))) == NULL) {
		free(list);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	sprintf(sql, "DROP TABLE %s", list);
	free(list);
	snprintf(timeout, sizeof(timeout), "SET lock_timeout = '%us'",
	         wait_s ? wait_s : 1);
	if ((rc = kvm_db_exec(s->db, "BEGIN", err)) != 0 ||
	    (rc = kvm_db_exec(s->db, timeout, err)) != 0 ||
	    (rc = kvm_db_exec(s->db, sql, err)) != 0 ||
	    (rc = KVM_FAIL("drop.uncommitted", err)) != 0 ||
	    (rc = kvm_db_exec(s->db, "COMMIT", err)) != 0)
		goto fail;
	free(sql);
	*dropped = n;
	return KVM_FAIL("drop.committed", err);
fail:
	free(sql);
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
	char *list, *names;
	struct kvm_error e;

	r->tables_left_names[0] = '\0';
	if (old_tables(s, &list, &names, &r->tables_left, &e) != 0) {
		r->tables_left = 0;
	} else if (names != NULL) {
		/* cut at a name, never inside one */
		size_t max = sizeof(r->tables_left_names) - 1, len = strlen(names);

		if (len > max) {
			len = max - 4;
			while (len > 0 && names[len] != ',')
				len--;
			snprintf(r->tables_left_names, sizeof(r->tables_left_names),
			         "%.*s, ...", (int)len, names);
		} else {
			memcpy(r->tables_left_names, names, len + 1);
		}
	}
	free(list);
	free(names);
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
