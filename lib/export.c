/*
 * export.c - the export engine's entry point, kvm_export_db(): old tables
 * -> one export file.
 *
 * The leader connection opens a REPEATABLE READ READ ONLY transaction,
 * checks the schema version and the tables, has the units of work listed
 * (export_plan.c) and, with more than one job, exports its snapshot.
 * Each unit runs its source's query as COPY (...) TO STDOUT (FORMAT
 * binary) and turns the rows into records through the migrator's row
 * function (export_copy.c, export_row.c).
 *
 * With one job the leader runs the units itself and writes each record
 * straight into the export writer.  With N jobs, worker threads fill
 * per-unit queues and the leader drains them in unit order
 * (export_workers.c).  The writer sees the same records in the same order
 * either way, so the file is the same byte for byte whatever N is.
 *
 * This file holds what the leader does itself: the sessions and the
 * snapshot, the checks made in it, the check of the order of records
 * (every record against the previous one of its section, byte order of
 * partition, then key: the queries promise that order, and the import
 * relies on it), writing the sections, and reading the file back.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export_engine.h"
#include "catalog.h"
#include "kvm/kvkey.h"
#include "kvm/schema.h"
#include "clock.h"
#include "failpoint.h"
#include "readprog.h"

/* Tell the caller how section @s is going (on the leader's thread). */
void kvm_exp_progress(const struct engine *e, size_t s, int finished)
{
	const struct section *sec = &e->sections[s];
	struct kvm_event ev = { .kind = KVM_EVENT_PROGRESS, .name = "export" };

	if (e->o->on_event == NULL)
		return;
	ev.package = sec->m->name;
	ev.done = sec->done;
	ev.bytes = sec->bytes;
	ev.finished = finished;
	ev.total = finished ? sec->done : sec->estimate;
	ev.total_exact = finished;
	e->o->on_event(e->o->event_ctx, &ev);
}

/* ------------------------------------------------------------------ */
/* The leader's side: order check, writer                              */
/* ------------------------------------------------------------------ */

int kvm_exp_bytes_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n > 0 ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

int kvm_exp_put_record(struct engine *e, const struct unit *u,
                       const void *part, size_t plen, const void *key,
                       size_t klen, const void *val, size_t vlen,
                       struct kvm_error *err)
{
	struct order *o = &e->ord;
	struct section *sec;

	if (o->any) {
		int c = kvm_exp_bytes_cmp(o->part, o->plen, part, plen);

		if (c == 0)
			c = kvm_exp_bytes_cmp(o->key, o->klen, key, klen);
		if (c >= 0) {
			char now[800], before[800];

			kvm_exp_show_record(now, sizeof(now), part, plen, key, klen);
			kvm_exp_show_record(before, sizeof(before), o->part, o->plen,
			                    o->key, o->klen);
			if (c == 0)
				kvm_error_set(err, KVM_EORDER, "table '%s': two rows "
				              "give the same KV entry (%s); names that "
				              "contain '/' can collide this way",
				              u->src->table, now);
			else
				kvm_error_set(err, KVM_EORDER, "table '%s': record (%s) "
				              "comes after (%s), out of byte order",
				              u->src->table, now, before);
			kvm_error_where(err, e->sections[u->section].m->name,
			                u->src->table, now);
			return KVM_EORDER;
		}
	}
	/* Both fit: kvm_row_emit refuses anything longer than PART_MAX and
	 * KEY_MAX. */
	memcpy(o->part, part, plen);
	memcpy(o->key, key, klen);
	o->plen = plen;
	o->klen = klen;
	o->any = 1;
	sec = &e->sections[e->cur];
	sec->bytes += plen + klen + vlen;
	if ((++sec->done & (PROGRESS_EVERY - 1)) == 0)
		kvm_exp_progress(e, e->cur, 0);
	if (KVM_FAIL_EVERY("export.records", ++e->written, err) != 0)
		return err->code;
	return kvm_export_writer_write(e->w, part, plen, key, klen, val, vlen, err);
}

/* ------------------------------------------------------------------ */
/* Sessions                                                            */
/* ------------------------------------------------------------------ */

/* Settings of every connection of an export: text as stored (no
 * encoding conversion), no timeout ending a long read or the leader's
 * wait, a killed client noticed within a second, and no JIT: compiling
 * each staging token's query cost more than it saved (design/migrators.md). */
static int session_setup(struct kvm_db *db, struct kvm_error *err)
{
	PGresult *res;
	char sql[160];
	int rc;

	rc = kvm_db_query(db, &res, "SELECT current_setting('server_encoding')",
	                  0, NULL, err);
	if (rc != 0)
		return rc;
	snprintf(sql, sizeof(sql), "SET client_encoding = '%s'",
	         PQgetvalue(res, 0, 0));
	PQclear(res);
	if ((rc = kvm_db_exec(db, sql, err)) != 0 ||
	    (rc = kvm_db_exec(db, "SET statement_timeout = 0", err)) != 0 ||
	    (rc = kvm_db_exec(db, "SET idle_in_transaction_session_timeout = 0",
	                      err)) != 0)
		return rc;
	if (PQserverVersion(kvm_db_conn(db)) >= 110000 &&
	    (rc = kvm_db_exec(db, "SET jit = off", err)) != 0)
		return rc;
	if (PQserverVersion(kvm_db_conn(db)) >= 140000)
		rc = kvm_db_exec(db, "SET client_connection_check_interval = 1000",
		                 err);
	return rc;
}

int kvm_exp_connect(struct engine *e, struct kvm_db **db, unsigned retry_ms,
                    struct kvm_error *err)
{
	struct kvm_db_opts dbo = {
		.conninfo = e->o->conninfo, .retry_ms = retry_ms,
		.on_event = e->o->on_event, .event_ctx = e->o->event_ctx,
		.cancel = e->o->cancel,
	};
	int rc = kvm_db_open(db, &dbo, err);

	if (rc == 0 && (rc = session_setup(*db, err)) != 0) {
		kvm_db_close(*db);
		*db = NULL;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* The snapshot and what is checked in it                              */
/* ------------------------------------------------------------------ */

/* The version table (lib/catalog.c): the database at the version the
 * export reads, clean; its schema is where the old tables are read. */
static int check_version(struct engine *e, int64_t last, struct kvm_error *err)
{
	const char *db = kvm_db_target(e->leader);
	struct kvm_catalog_version v;
	int rc;

	if ((rc = kvm_catalog_read_version(e->leader, &v, err)) != 0)
		return rc;
	if (!v.exists)
		return kvm_error_set(err, KVM_EUNKNOWNVERSION, "%s has no schema "
		                     "version table (%s) in the schemas of its "
		                     "search_path: the export needs the old tables "
		                     "at version %lld; run kvmigrate up first", db,
		                     KVM_VERSION_TABLE, (long long)last);
	if (!v.has_row)
		return kvm_error_set(err, KVM_EUNKNOWNVERSION, "%s: the version "
		                     "table %s in schema '%s' holds no row: the "
		                     "export needs the old tables at version %lld; "
		                     "run kvmigrate up first", db, KVM_VERSION_TABLE,
		                     v.schema, (long long)last);
	e->r->source_version = (int64_t)v.version;
	if (v.dirty)
		return kvm_error_set(err, KVM_EDIRTY, "%s is at schema version "
		                     "%llu, marked dirty; see kvmigrate status", db,
		                     (unsigned long long)v.version);
	if (v.version != (uint64_t)last &&
	    !(e->o->accept_migrated && v.version == (uint64_t)last + 1))
		return kvm_error_set(err, KVM_EUNKNOWNVERSION, "%s is at schema "
		                     "version %llu; the export reads the old tables "
		                     "at version %lld, the last of %s%s", db,
		                     (unsigned long long)v.version, (long long)last,
		                     kvm_schema_origin(e->source),
		                     v.version < (uint64_t)last ? ": run kvmigrate "
		                     "up first" : v.version == (uint64_t)last + 1 ?
		                     " (the KV migration is already done)" :
		                     " (a schema source with later versions built "
		                     "it: give that one, as --schema-dir)");
	memcpy(e->schema, v.schema, sizeof(e->schema));
	return 0;
}

/*
 * Every connection of the export reads with search_path set to the
 * version table's schema alone (pg_catalog first, so no function of that
 * schema stands in for a built-in; pg_temp last), so the migrators'
 * unqualified table names are that schema's tables whatever the role's or
 * the database's search_path says.  The leader sets it here, inside its
 * snapshot; the workers as they join (export_workers.c).
 */
static int use_schema(struct engine *e, struct kvm_error *err)
{
	char *q = PQescapeIdentifier(kvm_db_conn(e->leader), e->schema,
	                             strlen(e->schema));
	size_t len;

	if (q == NULL)
		return kvm_db_error(e->leader, NULL, KVM_EDB, err);
	len = strlen(q) + 64;
	if ((e->search_path_sql = malloc(len)) == NULL) {
		PQfreemem(q);
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	}
	snprintf(e->search_path_sql, len, "SET search_path = pg_catalog, %s, "
	         "pg_temp", q);
	PQfreemem(q);
	return kvm_db_exec(e->leader, e->search_path_sql, err);
}

/* Every table of the chosen packages, in the version table's schema. */
static int check_tables(struct engine *e, struct kvm_error *err)
{
	for (size_t s = 0; s < e->nsections; s++) {
		const char *const *t = e->sections[s].m->tables;
		size_t n = 0, i;
		int *present, rc;

		while (t[n] != NULL)
			n++;
		if ((present = calloc(n + 1, sizeof(*present))) == NULL)
			return kvm_error_set(err, KVM_ENOMEM, "out of memory");
		rc = kvm_catalog_tables(e->leader, e->schema, t, n, present, err);
		for (i = 0; rc == 0 && i < n && present[i]; i++)
			;
		if (rc == 0 && i < n)
			rc = kvm_error_set(err, KVM_ENOTABLE, "%s: table '%s' of "
			                   "package '%s' does not exist in schema '%s'",
			                   kvm_db_target(e->leader), t[i],
			                   e->sections[s].m->name, e->schema);
		free(present);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Start the snapshot and read what the header says about it. */
static int open_snapshot(struct engine *e, unsigned jobs,
                         struct kvm_export_header *h, char *dbname,
                         size_t dbsize, struct kvm_error *err)
{
	PGresult *res;
	int rc;

	if ((rc = kvm_db_exec(e->leader, "BEGIN ISOLATION LEVEL REPEATABLE READ "
	                      "READ ONLY", err)) != 0)
		return rc;
	/* The snapshot is taken by the first query: export it right then. */
	rc = kvm_db_query(e->leader, &res, jobs > 1 ?
	                  "SELECT pg_export_snapshot()" : "SELECT ''", 0, NULL, err);
	if (rc != 0)
		return rc;
	snprintf(e->snapshot, sizeof(e->snapshot), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	rc = kvm_db_query(e->leader, &res, "SELECT " KVM_DB_IDENTITY_SQL ", "
	                  "floor(extract(epoch FROM now()))::bigint, "
	                  "(extract(microseconds FROM now())::bigint % 1000000)",
	                  0, NULL, err);
	if (rc != 0)
		return rc;
	snprintf(dbname, dbsize, "%s", PQgetvalue(res, 0, 0));
	h->source_database = dbname;
	h->snapshot_time.sec = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	h->snapshot_time.nsec = (uint32_t)strtoul(PQgetvalue(res, 0, 2), NULL,
	                                          10) * 1000;
	PQclear(res);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Writing the sections                                                */
/* ------------------------------------------------------------------ */

static void section_done(struct engine *e, size_t s,
                         const struct kvm_export_section_info *info)
{
	struct kvm_export_db_package *p = &e->r->packages[s];
	const struct section *sec = &e->sections[s];
	uint64_t start = 0;

	for (size_t i = 0; i < sec->nunits; i++) {
		const struct unit *u = &e->units[sec->first_unit + i];

		p->rows += u->rows;
		if (u->t_start != 0 && (start == 0 || u->t_start < start))
			start = u->t_start;
	}
	p->records = info->records;
	p->bytes = info->bytes;
	p->digest = info->digest;
	p->ms = start ? kvm_now_ms() - start : 0;
}

/* Write every section: @direct, the leader runs the units itself;
 * otherwise it drains the queues the worker threads fill. */
int kvm_exp_write_sections(struct engine *e, int direct, struct kvm_error *err)
{
	struct producer pr = { .e = e, .db = e->leader, .direct = 1 };
	int rc = 0;

	if (direct && (rc = kvm_value_create(&pr.value, err)) != 0)
		return rc;
	for (size_t s = 0; s < e->nsections && rc == 0; s++) {
		const struct section *sec = &e->sections[s];
		struct kvm_export_section_info info;

		rc = kvm_export_writer_begin_section(e->w, sec->m->name, err);
		memset(&e->ord, 0, sizeof(e->ord));
		e->cur = s;
		kvm_exp_progress(e, s, 0);
		for (size_t i = 0; i < sec->nunits && rc == 0; i++) {
			struct unit *u = &e->units[sec->first_unit + i];

			if (direct) {
				pr.u = u;
				rc = kvm_exp_run_unit(&pr, err);
			} else {
				rc = kvm_exp_drain_unit(e, u, err);
			}
			if (rc == 0 && kvm_exp_canceled(e))
				rc = kvm_error_set(err, KVM_ECANCELED, "canceled");
		}
		if (rc == 0 && (rc = kvm_export_writer_end_section(e->w, &info,
		                                                    err)) == 0) {
			section_done(e, s, &info);
			kvm_exp_progress(e, s, 1);
			rc = KVM_FAIL("export.section", err);
		}
	}
	kvm_value_free(pr.value);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Verifying the written file                                          */
/* ------------------------------------------------------------------ */

static int verify_file(struct engine *e, const char *path,
                       const struct kvm_export_stats *st, struct kvm_error *err)
{
	const struct kvm_export_trailer *t;
	struct kvm_export_record rec;
	kvm_export_reader *rd;
	int rc;

	struct kvm_export_section_info written[KVM_EXPORT_MAX_PACKAGES];
	struct kvm_export_trailer counts = { .nsections = e->nsections,
	                                     .sections = written };
	struct kvm_readprog prog;

	if ((rc = kvm_export_reader_open(&rd, path, NULL, err)) != 0)
		goto fail;
	/* what was written gives the totals of the re-read */
	for (size_t s = 0; s < e->nsections; s++)
		written[s].records = e->r->packages[s].records;
	kvm_readprog_init(&prog, "check", e->o->on_event, e->o->event_ctx,
	                  kvm_export_reader_header(rd), &counts);
	while ((rc = kvm_export_reader_next(rd, &rec, err)) == 0) {
		kvm_readprog_record(&prog, &rec);
		if (rec.number % CANCEL_EVERY == 0 && kvm_exp_canceled(e)) {
			rc = kvm_error_set(err, KVM_ECANCELED, "canceled");
			break;
		}
	}
	if (rc != KVM_END) {
		kvm_export_reader_close(rd);
		goto fail;
	}
	kvm_readprog_end(&prog);
	rc = 0;
	t = kvm_export_reader_trailer(rd);
	if (t->records != st->records || t->digest != st->digest ||
	    t->nsections != e->nsections)
		rc = kvm_error_set(err, KVM_EDIGEST, "re-reading '%s': %llu records "
		                   "with digest %016llx, but %llu with %016llx were "
		                   "written", path, (unsigned long long)t->records,
		                   (unsigned long long)t->digest,
		                   (unsigned long long)st->records,
		                   (unsigned long long)st->digest);
	for (size_t s = 0; rc == 0 && s < t->nsections; s++)
		if (t->sections[s].digest != e->r->packages[s].digest ||
		    t->sections[s].records != e->r->packages[s].records)
			rc = kvm_error_set(err, KVM_EDIGEST, "re-reading '%s': section "
			                   "'%s' differs from what was written", path,
			                   e->r->packages[s].name);
	kvm_export_reader_close(rd);
	if (rc == 0)
		return 0;
fail:
	/* The file is published but wrong: take it away again. */
	if (rc != KVM_ECANCELED)
		kvm_error_prefix(err, "the export was written but does not read "
		                 "back; it was removed");
	unlink(path);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Entry point                                                         */
/* ------------------------------------------------------------------ */

static int export_in_snapshot(struct engine *e, struct kvm_error *err)
{
	const struct kvm_export_db_opts *o = e->o;
	struct kvm_export_header h = { 0 };
	const char *names[KVM_EXPORT_MAX_PACKAGES];
	struct kvm_export_writer_opts wo = { .header = &h, .level = o->level };
	struct kvm_export_stats st;
	struct kvm_error scratch;
	char dbname[256];
	unsigned jobs;
	uint64_t t0;
	int rc;

	/* The versions of the schema source the database was built from:
	 * the old tables are read at its last, the KV store stands for the
	 * one after. */
	h.source_schema_version = (int64_t)kvm_schema_last(e->source);
	h.kv_migration_version = (int64_t)kvm_schema_kv_version(e->source);
	e->r->kv_version = h.kv_migration_version;

	/* The units are listed inside the snapshot, so the number of jobs is
	 * known only then; the snapshot is exported whenever more than one
	 * job could be used. */
	jobs = o->jobs == 1 ? 1 : kvm_exp_pick_jobs(o, SIZE_MAX);
	if ((rc = open_snapshot(e, jobs, &h, dbname, sizeof(dbname), err)) != 0 ||
	    (rc = check_version(e, h.source_schema_version, err)) != 0 ||
	    (rc = use_schema(e, err)) != 0 ||
	    (rc = check_tables(e, err)) != 0 ||
	    (rc = kvm_exp_plan(e, err)) != 0 ||
	    (rc = kvm_exp_estimate(e, err)) != 0 ||
	    (rc = KVM_FAIL("export.snapshot", err)) != 0)
		return rc;
	if (jobs > 1)
		jobs = kvm_exp_pick_jobs(o, e->nunits);
	e->r->jobs = jobs;

	for (size_t s = 0; s < e->nsections; s++)
		names[s] = e->sections[s].m->name;
	h.packages = names;
	h.npackages = e->nsections;
	if ((rc = kvm_export_writer_open(&e->w, o->output, &wo, err)) != 0)
		return rc;
	rc = jobs == 1 ? kvm_exp_write_sections(e, 1, err) : kvm_exp_run_jobs(e, jobs, err);
	if (jobs == 1)
		e->r->jobs = 1;
	if (rc != 0) {
		kvm_export_writer_abort(e->w);
		e->w = NULL;
		return rc;
	}
	rc = kvm_export_writer_finish(e->w, &st, err);
	e->w = NULL;
	if (rc != 0)
		return rc;
	e->r->records = st.records;
	e->r->raw_bytes = st.raw_bytes;
	e->r->file_bytes = st.file_bytes;
	e->r->digest = st.digest;
	/* The snapshot is no longer needed; end it before the re-read (a
	 * failure here changes nothing: the transaction only read). */
	kvm_db_exec(e->leader, "COMMIT", &scratch);
	if (strcmp(o->output, "-") == 0 || o->no_read_back)
		return 0;
	t0 = kvm_now_ms();
	rc = verify_file(e, o->output, &st, err);
	e->r->verify_ms = kvm_now_ms() - t0;
	e->r->verified = rc == 0;
	return rc;
}

void kvm_export_db_result_release(struct kvm_export_db_result *r)
{
	free(r->packages);
	r->packages = NULL;
	r->npackages = 0;
}

int kvm_export_db(const struct kvm_export_db_opts *o,
                  struct kvm_export_db_result *r, struct kvm_error *err)
{
	struct engine *e;
	uint64_t t0 = kvm_now_ms();
	int rc;

	memset(r, 0, sizeof(*r));
	if (o->output == NULL || o->output[0] == '\0' ||
	    o->jobs > KVM_EXPORT_MAX_JOBS)
		return kvm_error_set(err, KVM_EINVAL, "export: no output file, or "
		                     "more than %d jobs", KVM_EXPORT_MAX_JOBS);
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return kvm_error_set(err, KVM_ENOMEM, "out of memory");
	e->o = o;
	e->r = r;
	pthread_mutex_init(&e->mu, NULL);
	rc = o->schema_dir != NULL ? kvm_schema_load_dir(&e->source, o->schema_dir,
	                                                 err)
	                           : kvm_schema_builtin(&e->source, err);
	if (rc == 0 && (rc = kvm_exp_pick_packages(e, err)) == 0 &&
	    (rc = kvm_exp_connect(e, &e->leader, o->connect_retry_ms, err)) == 0) {
		snprintf(r->target, sizeof(r->target), "%s",
		         kvm_db_target(e->leader));
		rc = export_in_snapshot(e, err);
	}
	kvm_db_close(e->leader);
	for (size_t i = 0; i < e->nunits; i++)
		free(e->units[i].split);
	free(e->units);
	free(e->search_path_sql);
	kvm_schema_free(e->source);
	pthread_mutex_destroy(&e->mu);
	free(e);
	r->ms = kvm_now_ms() - t0;
	return rc;
}
