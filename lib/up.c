/*
 * up.c - kvm_up(): the upgrade.
 *
 *     schema source -> connect -> session facts -> lock
 *     -> read version -> check -> apply pending SQL versions
 *     [KV flag] -> leftovers -> export -> import -> bump -> [drop]
 *
 * The KV migration is described in design/kv-flow.md.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm/migrate.h"
#include "kvm/migrator.h"
#include "kvm/schema.h"
#include "clock.h"
#include "failpoint.h"
#include "kvtarget.h"
#include "droptables.h"
#include "plan.h"
#include "session.h"
#include "tmpname.h"
#include "sqlversions.h"

/* ------------------------------------------------------------------ */
/* The KV migration (design/kv-flow.md)                                */
/* ------------------------------------------------------------------ */

/* A path built from a directory and a file name. */
#define KV_PATH_MAX (PATH_MAX + NAME_MAX + 32)

static const char *const kv_step_names[] = {
	"", "export", "import", "bump", "drop", "done",
};

static void kv_step(const struct kvm_up_opts *o, struct kvm_up_result *r,
                    enum kvm_kv_step step)
{
	struct kvm_event ev;

	r->kv_step = step;
	memset(&ev, 0, sizeof(ev));
	ev.kind = KVM_EVENT_KV_STEP;
	ev.name = kv_step_names[step];
	kvm_event_emit(o->on_event, o->event_ctx, &ev);
}

/* What an interrupted run left: temporary files of the store and of the
 * export, and the temporary export itself; and the export of the tables
 * a killed verify left (".NAME.verify.kvm", lib/verify.c). */
static int remove_leftovers(kvm_kv_target *t, const struct kvm_up_opts *o,
                            struct kvm_up_result *r, struct kvm_error *err)
{
	char tmp_export[KV_PATH_MAX], verify_export[KV_PATH_MAX];
	int rc;

	if ((rc = kvm_companion_path(o->kv_path, KVM_TEMP_EXPORT_SUFFIX,
	                             tmp_export, sizeof(tmp_export), err)) != 0 ||
	    (rc = kvm_companion_path(o->kv_path, KVM_VERIFY_EXPORT_SUFFIX,
	                             verify_export, sizeof(verify_export),
	                             err)) != 0 ||
	    (rc = t->ops->remove_leftovers(t, &r->leftovers, err)) != 0 ||
	    (rc = kvm_tmp_remove_of(tmp_export, &r->leftovers, err)) != 0 ||
	    (rc = kvm_tmp_remove_of(verify_export, &r->leftovers, err)) != 0)
		return rc;
	if (o->keep_export != NULL &&
	    (rc = kvm_tmp_remove_of(o->keep_export, &r->leftovers, err)) != 0)
		return rc;
	if (unlink(tmp_export) == 0)
		r->leftovers++;
	if (unlink(verify_export) == 0)
		r->leftovers++;
	return 0;
}

/* Record the KV migration version: the last step before the old tables
 * may go, and only after the store is durable. */
static int bump_version(struct session *s, uint64_t version,
                        struct kvm_error *err)
{
	char sql[700];
	int rc;

	snprintf(sql, sizeof(sql), "DELETE FROM %s; INSERT INTO %s (version, "
	         "dirty) VALUES (%" PRIu64 ", false)", s->table, s->table, version);
	if ((rc = KVM_FAIL("bump.begin", err)) != 0 ||
	    (rc = kvm_db_exec(s->db, "BEGIN", err)) != 0 ||
	    (rc = kvm_db_exec(s->db, sql, err)) != 0 ||
	    (rc = KVM_FAIL("bump.uncommitted", err)) != 0 ||
	    (rc = kvm_db_exec(s->db, "COMMIT", err)) != 0) {
		kvm_session_rollback(s);
		return kvm_error_prefix(err, "recording version %" PRIu64, version);
	}
	return 0;
}

/* What is at the KV path before a run: nothing, an empty file or a store
 * an interrupted run built (rebuilt), or something else (refused before
 * anything happens). */
static int check_kv_path(kvm_kv_target *t, struct kvm_up_result *r,
                         struct kvm_error *err)
{
	const char *path = t->where;
	struct kvm_kv_info info;
	int rc;

	if ((rc = t->ops->probe(t, &info, err)) != 0)
		return rc;
	switch (info.state) {
	case KVM_KV_ABSENT:
	case KVM_KV_EMPTY:
		break;
	case KVM_KV_PRESENT:
		/* An interrupted run's store, rebuilt (the import refuses it
		 * while some process has it open). */
		r->kv_replaced = 1;
		return 0;
	case KVM_KV_UNREADABLE:
		return kvm_error_set(err, KVM_EKV, "cannot read the KV path '%s': "
		                     "%s", path, info.detail);
	case KVM_KV_NOT_FILE:
		return kvm_error_set(err, KVM_EKVFOREIGN, "the KV path '%s' is %s, "
		                     "not a KV store file; it is left as it is",
		                     path, info.detail);
	default:
		return kvm_error_set(err, KVM_EKVFOREIGN, "the KV path '%s' holds "
		                     "%s kvmigrate did not create; it is left as it "
		                     "is", path, info.state == KVM_KV_FOREIGN ?
		                     "an LMDB store" : "a file");
	}
	return 0;
}

/* The run writes its export over --keep-export FILE.  An export of
 * another database there may be the only copy of that database's old
 * tables: refused, left as it is.  Anything else (nothing, this
 * database's export of an earlier run, a file that is not an export) is
 * replaced, as export -o does. */
static int check_keep_export(struct session *s, const char *path,
                             struct kvm_error *err)
{
	const struct kvm_export_header *h;
	kvm_export_reader *rd;
	struct kvm_error ignored;
	char self[1100];
	int rc;

	if (kvm_export_reader_open(&rd, path, NULL, &ignored) != 0)
		return 0;
	h = kvm_export_reader_header(rd);
	rc = kvm_db_identity(s->db, self, sizeof(self), err);
	if (rc == 0 && !kvm_db_same_identity(h->source_database, self))
		rc = kvm_error_set(err, KVM_EOTHERDB, "the --keep-export file '%s' "
		                   "holds an export of database '%s', not of '%s'; "
		                   "it is left as it is", path, h->source_database,
		                   self);
	kvm_export_reader_close(rd);
	return rc;
}

static int kv_export(const struct kvm_up_opts *o, struct kvm_up_result *r,
                     const char *path, struct kvm_error *err)
{
	struct kvm_export_db_opts eo = KVM_EXPORT_DB_OPTS_INIT;
	struct kvm_export_db_result er;
	uint64_t t0 = kvm_now_ms();
	int rc;

	eo.conninfo = o->conninfo;
	eo.connect_retry_ms = o->connect_retry_ms;
	eo.output = path;
	eo.jobs = o->jobs;
	eo.schema_dir = o->schema_dir;
	/* The import reads the whole file next and checks every frame, count
	 * and digest before the store is published: a read-back here would
	 * be the same check twice. */
	eo.no_read_back = 1;
	eo.cancel = o->cancel;
	eo.on_event = o->on_event;
	eo.event_ctx = o->event_ctx;
	rc = kvm_export_db(&eo, &er, err);
	r->export_ms = kvm_now_ms() - t0;
	/* the packages, as far as the export got, move into the result */
	r->npackages = er.npackages;
	r->packages = er.packages;
	er.packages = NULL;
	r->package_import_ms = calloc(r->npackages + 1,
	                              sizeof(*r->package_import_ms));
	if (rc == 0 && r->package_import_ms == NULL)
		rc = kvm_error_set(err, KVM_ENOMEM, "out of memory");
	if (rc == 0) {
		r->kv_records = er.records;
		r->export_bytes = er.file_bytes;
		r->export_digest = er.digest;
		r->jobs = er.jobs;
	}
	kvm_export_db_result_release(&er);
	return rc;
}

/* Build the store from the export and put it in place at the KV path,
 * not yet in use: the version bump that follows makes it the one. */
static int kv_import(struct session *s, kvm_kv_target *t,
                     const struct kvm_up_opts *o, struct kvm_up_result *r,
                     const char *path, struct kvm_error *err)
{
	struct kvm_import_opts io = { 0 };
	struct kvm_import_result *ir = calloc(1, sizeof(*ir));
	uint64_t t0 = kvm_now_ms();
	int rc, published = 0;

	if (ir == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	io.input = path;
	io.kv_path = o->kv_path;
	io.force = 1;          /* checked above: empty, or an earlier run's */
	io.cancel = o->cancel;
	io.on_event = o->on_event;
	io.event_ctx = o->event_ctx;
	if ((rc = kvm_import_load(t, &io, ir, err)) == 0) {
		rc = t->ops->publish(t, s->db, &published, err);
		if (rc != 0 && !published)
			t->ops->abort(t);
	}
	r->kv_published = published;
	r->import_ms = kvm_now_ms() - t0;
	for (size_t i = 0; i < ir->npackages; i++)
		for (size_t j = 0; j < r->npackages; j++)
			if (strcmp(ir->packages[i].name, r->packages[j].name) == 0)
				r->package_import_ms[j] = ir->packages[i].ms;
	kvm_import_result_release(ir);
	if (rc == 0) {
		r->kv_bytes = t->stats.store_bytes;
		snprintf(r->migration_id, sizeof(r->migration_id), "%s",
		         ir->migration_id);
	}
	free(ir);
	return rc;
}

/* Export, import, bump, drop: the KV migration of a database at the last
 * SQL version, under the lock. */
static int kv_migrate(struct session *s, kvm_kv_target *t,
                      const struct kvm_up_opts *o, struct kvm_up_result *r,
                      struct kvm_error *err)
{
	char tmp_export[KV_PATH_MAX];
	const char *export_path;
	int rc;

	if ((rc = kvm_companion_path(o->kv_path, KVM_TEMP_EXPORT_SUFFIX,
	                             tmp_export, sizeof(tmp_export), err)) != 0)
		return rc;
	export_path = o->keep_export != NULL ? o->keep_export : tmp_export;
	if ((rc = remove_leftovers(t, o, r, err)) != 0 ||
	    (rc = check_kv_path(t, r, err)) != 0 ||
	    (o->keep_export != NULL &&
	     (rc = check_keep_export(s, o->keep_export, err)) != 0) ||
	    (rc = KVM_FAIL("kv.begin", err)) != 0)
		return rc;
	kv_step(o, r, KVM_KV_STEP_EXPORT);
	if ((rc = kv_export(o, r, export_path, err)) != 0 ||
	    (rc = KVM_FAIL("kv.exported", err)) != 0) {
		if (o->keep_export == NULL)
			unlink(export_path);
		return kvm_error_prefix(err, "export");
	}
	kv_step(o, r, KVM_KV_STEP_IMPORT);
	rc = kv_import(s, t, o, r, export_path, err);
	if (o->keep_export == NULL)
		unlink(export_path);
	if (rc == 0)
		rc = KVM_FAIL("kv.imported", err);
	if (rc != 0)
		return kvm_error_prefix(err, "import");
	kv_step(o, r, KVM_KV_STEP_BUMP);
	if ((rc = bump_version(s, r->kv_version, err)) != 0) {
		/* With the session still up, the bump surely did not commit:
		 * take the new store away again, so the KV path is as it was
		 * when it held nothing (a store an interrupted run left is
		 * gone either way).  With the session lost, whether the COMMIT
		 * took is unknown: the store stays, and the next run looks. */
		struct kvm_error ignored;

		if (PQstatus(kvm_db_conn(s->db)) == CONNECTION_OK &&
		    !r->kv_replaced && t->ops->retire(t, &ignored) == 0)
			r->kv_removed = 1;
		return rc;
	}
	r->has_version = 1;
	r->version = r->kv_version;
	r->outcome = KVM_UP_KV_MIGRATED;
	if ((rc = KVM_FAIL("bump.committed", err)) != 0)
		return rc;
	if (o->drop_tables) {
		kv_step(o, r, KVM_KV_STEP_DROP);
		rc = kvm_drop_old_tables(s, o->lock_wait_s, &r->tables_dropped, err);
	}
	kvm_note_tables_left(s, r);
	if (rc != 0) {
		r->drop_failed = 1;
		return rc;
	}
	kv_step(o, r, KVM_KV_STEP_DONE);
	return 0;
}

void kvm_up_result_release(struct kvm_up_result *r)
{
	free(r->packages);
	free(r->package_import_ms);
	free(r->plan.tables);
	free(r->plan.export_path);
	r->packages = NULL;
	r->package_import_ms = NULL;
	r->npackages = 0;
	r->plan.tables = NULL;
	r->plan.ntables = 0;
	r->plan.export_path = NULL;
}

int kvm_up(const struct kvm_up_opts *o, struct kvm_up_result *r,
           struct kvm_error *err)
{
	struct session s;
	struct version_row row;
	kvm_schema *sch = NULL;
	uint64_t t0;
	size_t i;
	kvm_kv_target *t = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	if (o->kv_enabled && (o->kv_path == NULL || o->kv_path[0] == '\0'))
		return kvm_error_set(err, KVM_EINVAL, "the KV migration needs a KV "
		                     "path; nothing was done");
	if (o->kv_enabled && !o->dry_run &&
	    ((rc = kvm_kv_open(&t, o->kv_path, err)) != 0 ||
	     (rc = t->ops->check_writable(t, err)) != 0)) {
		kvm_kv_close(t);
		return rc;
	}
	if ((rc = kvm_schema_open(o->schema_dir, &sch, err)) != 0) {
		kvm_kv_close(t);
		return rc;
	}
	r->last_sql_version = kvm_schema_last(sch);
	r->kv_version = kvm_schema_kv_version(sch);
	rc = kvm_session_open(&s, o->conninfo, o->connect_retry_ms, o->cancel,
	                      o->on_event, o->event_ctx, err);
	if (rc != 0) {
		kvm_kv_close(t);
		kvm_schema_free(sch);
		return rc;
	}
	snprintf(r->target, sizeof(r->target), "%s", kvm_db_target(s.db));
	if ((rc = kvm_session_need_schema(&s, err)) != 0)
		goto out;
	if (!o->dry_run &&
	    (rc = kvm_session_lock(&s, o->lock_wait_s, o->on_event, o->event_ctx, err)) != 0)
		goto out;
	/* The KV directory's lock too, before anything changes, and until
	 * the end: no import can remove this run's files as leftovers or
	 * rename over its store before the version says it is in use. */
	if (t != NULL && (rc = t->ops->lock(t, err)) != 0)
		goto out;
	if (!o->dry_run && (rc = KVM_FAIL("up.locked", err)) != 0)
		goto out;
	if ((rc = kvm_session_read_version(&s, &row, err)) != 0 ||
	    (rc = kvm_sql_check_version(&s, sch, &row, err)) != 0)
		goto out;
	r->had_version = r->has_version = row.has;
	r->from_version = r->version = row.version;
	if (row.has && row.version == r->kv_version) {
		r->outcome = KVM_UP_MIGRATED;
		/* An earlier run's drop may have failed: say what is left, and
		 * drop it now when asked to. */
		if (o->kv_enabled && o->drop_tables && !o->dry_run) {
			kv_step(o, r, KVM_KV_STEP_DROP);
			rc = kvm_drop_old_tables(&s, o->lock_wait_s, &r->tables_dropped,
			                     err);
			r->drop_failed = rc != 0;
		}
		kvm_note_tables_left(&s, r);
		goto out;
	}
	r->kv_skipped = !o->kv_enabled;
	/* Every pending file is split and checked before the first one
	 * runs: a refused file stops the run before anything changes. */
	for (i = kvm_sql_first_pending(sch, &row); i < kvm_schema_count(sch); i++) {
		unsigned n;

		if ((rc = kvm_sql_check_file(kvm_schema_get(sch, i), &n, err)) != 0)
			goto out;
	}
	t0 = kvm_now_ms();
	for (i = kvm_sql_first_pending(sch, &row); i < kvm_schema_count(sch); i++) {
		const struct kvm_schema_version *v = kvm_schema_get(sch, i);
		struct kvm_event ev;

		if (o->dry_run) {
			unsigned n;

			kvm_sql_check_file(v, &n, err);
			memset(&ev, 0, sizeof(ev));
			ev.kind = KVM_EVENT_VERSION_PENDING;
			ev.version = v->version;
			ev.name = v->name;
			ev.statements = n;
		} else {
			rc = kvm_sql_apply_version(&s, v, !row.table && r->applied == 0, &ev, err);
			if (rc != 0) {
				r->version_failed = 1;
				r->failed_version = v->version;
				goto out;
			}
			r->has_version = 1;
			r->version = v->version;
			if ((rc = KVM_FAIL("sql.applied", err)) != 0)
				goto out;
		}
		r->applied++;
		r->ms = kvm_now_ms() - t0;
		kvm_event_emit(o->on_event, o->event_ctx, &ev);
	}
	r->outcome = o->dry_run ? KVM_UP_DRY_RUN
	           : r->applied > 0 ? KVM_UP_APPLIED : KVM_UP_CURRENT;
	if (o->kv_enabled && !o->dry_run)
		rc = kv_migrate(&s, t, o, r, err);
	else if (o->kv_enabled)
		rc = kvm_up_plan(&s, o, r, err);
out:
	kvm_kv_close(t);
	kvm_session_close(&s);
	kvm_schema_free(sch);
	return rc;
}
