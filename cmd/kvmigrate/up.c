/*
 * up.c - kvmigrate up: the upgrade (design.md, "The flow of up").
 *
 * Brings the SQL schema up to its last SQL version; with the KV flag it
 * then exports the old tables, imports the export into the KV store,
 * bumps the schema version to the KV migration version and, with
 * --drop-tables, drops the old tables.
 *
 * Lines about the work go to stderr: one per SQL version, one per step
 * of the KV migration, and a summary; stdout stays empty.  SIGINT,
 * SIGTERM and SIGHUP stop the run wherever it is (also waiting for the
 * server: a connection, the lock, a table): the statement waiting in the
 * server is canceled, and what the run had not finished is rolled back.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/migrate.h"
#include "cmd.h"
#include "json.h"
#include "clock.h"
#include "metrics.h"

const char cmd_up_usage[] =
	"kvmigrate up [--kv-enabled] [--drop-tables] [--dry-run] [--jobs N] "
	"[--keep-export FILE] [--db CONNINFO] [--kv PATH] [--lock-wait SECONDS] "
	"[--schema-dir DIR] [-q] [--[no-]progress] [--json] [--metrics-file FILE]";

static const char help_body[] =
	"Apply the pending SQL schema versions.  With the KV flag, then move the\n"
	"metadata of the old tables into the KV store: export them from one\n"
	"snapshot, import the export, bump the schema version to the KV\n"
	"migration version and, with --drop-tables, drop the old tables.\n"
	"A failure before the bump leaves the tables and any previous KV store\n"
	"as they were; the next run starts the KV migration again.\n"
	"\n"
	"Each SQL version is applied in one transaction together with its row\n"
	"in the version table (golang-migrate's schema_migrations), under a\n"
	"session advisory lock: a failing version leaves no trace, and the\n"
	"database stays at the previous version.  Without the KV flag, up stops\n"
	"after the SQL versions and never touches the KV path.\n"
	"\n"
	"Options:\n"
	"      --kv-enabled         run the KV migration (also with\n"
	"                           KVMIGRATE_KV_ENABLED=1); needs --kv\n"
	"      --drop-tables        drop the old tables once the KV store is in\n"
	"                           place (needs the KV flag)\n"
	"      --dry-run            show what would be done and change nothing;\n"
	"                           with the KV flag also the tables, their rows,\n"
	"                           the paths, size estimates and free space\n"
	"      --jobs N             read the old tables with N workers sharing one\n"
	"                           snapshot (1 to 64; default: the number of\n"
	"                           cores, at most 8)\n"
	"      --keep-export FILE   keep the export file at FILE (needs the KV\n"
	"                           flag; by default it is removed after import)\n"
	CMD_HELP_DB
	CMD_HELP_KV
	CMD_HELP_LOCK_WAIT
	CMD_HELP_SCHEMA_DIR
	CMD_HELP_UI
	CMD_HELP_HELP
	"\n"
	"The KV migration keeps the migration lock and the lock of the KV\n"
	"path's directory throughout (another up or import writing a store\n"
	"there fails at once, status 3): it removes the files an interrupted\n"
	"run left beside the KV path, exports the old tables (to --keep-export\n"
	"FILE, or to a temporary file beside the KV path), builds the KV store\n"
	"beside the KV path and renames it in place, and only then records the\n"
	"KV migration version.  A KV path holding a file kvmigrate did not\n"
	"create is refused.  A failure after the bump (dropping the old tables,\n"
	"say) exits with status 4: the KV store is live and complete, and\n"
	"'kvmigrate drop-tables' finishes the job.\n"
	"\n"
	"SIGINT, SIGTERM and SIGHUP cancel the run wherever it is, also while it\n"
	"waits for the server (a connection, the migration lock, a locked table,\n"
	"a long statement, which is canceled in the server too): the SQL version\n"
	"in progress and a KV migration before its bump leave no trace, and the\n"
	"status is 1.  A second signal ends the process at once.\n";

/* Bounds of the numeric options: a worker is a database connection, and a
 * lock wait longer than a day is a mistake in a script. */
#define UP_MAX_JOBS      64
#define UP_MAX_LOCK_WAIT 86400

enum {
	OPT_KV_ENABLED = CMD_OPT_LONG_ONLY, OPT_DROP_TABLES, OPT_DRY_RUN,
	OPT_JOBS, OPT_KEEP_EXPORT, OPT_DB, OPT_KV, OPT_LOCK_WAIT, OPT_SCHEMA_DIR,
};

static const char shortopts[] = ":hq";
static const struct option longopts[] = {
	{ "kv-enabled",  no_argument,       NULL, OPT_KV_ENABLED },
	{ "drop-tables", no_argument,       NULL, OPT_DROP_TABLES },
	{ "dry-run",     no_argument,       NULL, OPT_DRY_RUN },
	{ "jobs",        required_argument, NULL, OPT_JOBS },
	{ "keep-export", required_argument, NULL, OPT_KEEP_EXPORT },
	{ "db",          required_argument, NULL, OPT_DB },
	{ "kv",          required_argument, NULL, OPT_KV },
	{ "lock-wait",   required_argument, NULL, OPT_LOCK_WAIT },
	{ "schema-dir",  required_argument, NULL, OPT_SCHEMA_DIR },
	CMD_UI_LONGOPTS,
	{ "help",        no_argument,       NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct up_opts {
	const char *db;          /* NULL: libpq's PG* variables */
	const char *kv;
	int kv_enabled;
	int drop_tables;
	int dry_run;
	uint64_t jobs;
	const char *keep_export; /* NULL: remove the export after import */
	uint64_t lock_wait;      /* seconds */
	const char *schema_dir;  /* NULL: the built-in schema versions */
	unsigned connect_retry_ms;
	struct cmd_ui ui;
};

static void on_event(void *ctx, const struct kvm_event *ev)
{
	struct cmd_ui *ui = ctx;

	if (ev->kind == KVM_EVENT_PROGRESS ||
	    ev->kind == KVM_EVENT_CONNECT_RETRY || ev->kind == KVM_EVENT_LOCK_WAIT) {
		cmd_ui_event(ui, ev);
		return;
	}
	if (ui->quiet)
		return;
	cmd_progress_clear(&ui->progress);
	switch (ev->kind) {
	case KVM_EVENT_VERSION_APPLIED:
		fprintf(stderr, "applied version %" PRIu64 "  ", ev->version);
		cmd_put_printable(stderr, ev->name);
		fprintf(stderr, "  (%u statement%s, %" PRIu64 " ms", ev->statements,
		        ev->statements == 1 ? "" : "s", ev->ms);
		if (ev->skipped > 0)
			fprintf(stderr, "; %u transaction-control statement%s "
			        "skipped", ev->skipped, ev->skipped == 1 ? "" : "s");
		fputs(")\n", stderr);
		break;
	case KVM_EVENT_KV_STEP:
		if (strcmp(ev->name, "export") == 0)
			fputs("KV migration: exporting the old tables\n", stderr);
		else if (strcmp(ev->name, "import") == 0)
			fputs("KV migration: building the KV store\n", stderr);
		else if (strcmp(ev->name, "bump") == 0)
			fputs("KV migration: recording the KV migration version\n",
			      stderr);
		else if (strcmp(ev->name, "drop") == 0)
			fputs("KV migration: dropping the old tables\n", stderr);
		break;
	case KVM_EVENT_VERSION_PENDING:
		fprintf(stderr, "would apply version %" PRIu64 "  ", ev->version);
		cmd_put_printable(stderr, ev->name);
		fprintf(stderr, "  (%u statement%s)\n", ev->statements,
		        ev->statements == 1 ? "" : "s");
		break;
	default:
		break;
	}
}

/* "version 5" or "no version" */
static const char *version_text(int has, uint64_t v, char *buf, size_t size)
{
	if (!has)
		return "no version";
	snprintf(buf, size, "version %" PRIu64, v);
	return buf;
}

static const char KV_SKIPPED[] =
	"KV migration skipped: the KV flag is off (--kv-enabled or "
	"KVMIGRATE_KV_ENABLED=1 turns it on)";

/* A failure once the KV migration version is recorded undoes nothing:
 * the store is the one in use.  What is left is the drop, if asked for. */
static int report_after_bump(struct cmd_ui *ui, const struct kvm_up_result *r,
                             const struct kvm_error *err, int drop_tables)
{
	char hint[1024];

	if (drop_tables)
		snprintf(hint, sizeof(hint), "the KV store is live and complete and "
		         "the database is at the KV migration version %" PRIu64 "; "
		         "the old tables left (%s) are no longer used.  Run "
		         "'kvmigrate drop-tables' to drop them", r->kv_version,
		         r->tables_left > 0 ? r->tables_left_names : "none");
	else
		snprintf(hint, sizeof(hint), "the KV store is live and complete and "
		         "the database is at the KV migration version %" PRIu64 "; "
		         "the failure came after that was recorded and undid "
		         "nothing.  Run 'kvmigrate status' to see the state",
		         r->kv_version);
	return cmd_ui_fail(ui, err, KVM_EXIT_FOLLOWUP, hint);
}

static int report_failure(struct cmd_ui *ui, const struct kvm_up_result *r,
                          const struct kvm_error *err, int drop_tables)
{
	char hint[1024], buf[48];
	const char *now = version_text(r->has_version, r->version, buf, sizeof(buf));

	if (err->code == KVM_EDROP || r->outcome == KVM_UP_KV_MIGRATED ||
	    r->outcome == KVM_UP_MIGRATED)
		return report_after_bump(ui, r, err, err->code == KVM_EDROP ||
		                         drop_tables);
	if ((r->kv_step == KVM_KV_STEP_BUMP && !r->kv_removed) ||
	    (r->kv_step == KVM_KV_STEP_IMPORT && r->kv_published)) {
		snprintf(hint, sizeof(hint), "the KV store was built, but %s "
		         "failed: the database is at %s "
		         "with its old tables, and the service goes on using them; "
		         "the store at the KV path is not in use.  Run 'kvmigrate up "
		         "--kv-enabled' again: it builds the store anew",
		         r->kv_step == KVM_KV_STEP_IMPORT ? "making it durable" :
		         "recording the KV migration version", now);
		return cmd_ui_fail(ui, err, KVM_EXIT_FAILURE, hint);
	}
	if (r->kv_step != KVM_KV_STEP_NONE && err->code == KVM_ECANCELED) {
		snprintf(hint, sizeof(hint), "stopped by a signal at the KV "
		         "migration's %s step: the old tables and the schema version "
		         "(%s) are as they were, and so is the KV path.  Run "
		         "'kvmigrate up --kv-enabled' again to start the KV migration "
		         "over", r->kv_step == KVM_KV_STEP_EXPORT ? "export" :
		         r->kv_step == KVM_KV_STEP_IMPORT ? "import" : "version-bump",
		         now);
		return cmd_ui_fail(ui, err, KVM_EXIT_FAILURE, hint);
	}
	if (r->kv_step != KVM_KV_STEP_NONE) {
		snprintf(hint, sizeof(hint), "the KV migration failed at its %s "
		         "step: the old tables and the schema version (%s) are as "
		         "they were, and so is the KV path.  Fix the cause, then run "
		         "'kvmigrate up --kv-enabled' again: it starts the KV "
		         "migration over", r->kv_step == KVM_KV_STEP_EXPORT ?
		         "export" : r->kv_step == KVM_KV_STEP_IMPORT ? "import" :
		         "version-bump", now);
		return cmd_ui_fail(ui, err, KVM_EXIT_FAILURE, hint);
	}
	switch (err->code) {
	case KVM_ECANCELED: {
		int n = 0;

		if (r->version_failed)
			n = snprintf(hint, sizeof(hint), "stopped by a signal inside "
			             "version %" PRIu64 ", which left no trace; ",
			             r->failed_version);
		else
			n = snprintf(hint, sizeof(hint), "stopped by a signal; ");
		if (r->applied > 0)
			snprintf(hint + n, sizeof(hint) - (size_t)n, "the %zu version%s "
			         "applied before it stay%s applied, and the database is "
			         "at %s, clean", r->applied, r->applied == 1 ? "" : "s",
			         r->applied == 1 ? "s" : "", now);
		else
			snprintf(hint + n, sizeof(hint) - (size_t)n, "nothing was "
			         "changed");
		return cmd_ui_fail(ui, err, KVM_EXIT_FAILURE, hint);
	}
	case KVM_ELOCKED:
		return cmd_ui_fail(ui, err, KVM_EXIT_LOCKED, "another migration run holds "
		                "the lock; nothing was changed.  Run the command "
		                "again once it has ended (the lock ends with its "
		                "session)");
	case KVM_EKVLOCKED:
		return cmd_ui_fail(ui, err, KVM_EXIT_LOCKED, "nothing was changed.  "
		                "Run the command again once the other run has ended");
	case KVM_ESCHEMA:
		if (!r->version_failed)
			return cmd_ui_fail(ui, err, KVM_EXIT_FAILURE, "nothing was changed");
		if (r->applied > 0)
			snprintf(hint, sizeof(hint), "the %zu version%s applied before "
			         "it stay%s applied; the failed version left no trace "
			         "and the database is at %s, clean.  Fix the file, "
			         "then run 'kvmigrate up' again", r->applied,
			         r->applied == 1 ? "" : "s", r->applied == 1 ? "s" : "",
			         now);
		else
			snprintf(hint, sizeof(hint), "the failed version left no trace "
			         "and the database is at %s, clean, as before.  Fix "
			         "the file, then run 'kvmigrate up' again", now);
		return cmd_ui_fail(ui, err, KVM_EXIT_FAILURE, hint);
	case KVM_ECONNECT:
		return cmd_ui_fail(ui, err, KVM_EXIT_FAILURE, "nothing was changed.  The "
		                "database comes from --db, else KVMIGRATE_DB, else "
		                "libpq's PG* variables");
	case KVM_EKVFOREIGN:
	case KVM_EKV:
		return cmd_ui_fail(ui, err, KVM_EXIT_FAILURE, "nothing was changed; move "
		                "the file away or choose another --kv path");
	case KVM_EOTHERDB:
		if (r->applied == 0)
			return cmd_ui_fail(ui, err, KVM_EXIT_FAILURE, "nothing was "
			                   "changed; move that file away or choose "
			                   "another --keep-export path");
		snprintf(hint, sizeof(hint), "%zu version%s applied before the "
		         "failure; the database is at %s, clean.  Move that file "
		         "away or choose another --keep-export path", r->applied,
		         r->applied == 1 ? " was" : "s were", now);
		return cmd_ui_fail(ui, err, KVM_EXIT_FAILURE, hint);
	default:
		if (r->applied > 0) {
			snprintf(hint, sizeof(hint), "%zu version%s applied before "
			         "the failure; the database is at %s, clean", r->applied,
			         r->applied == 1 ? " was" : "s were", now);
			return cmd_ui_fail(ui, err, KVM_EXIT_FAILURE, hint);
		}
		return cmd_ui_fail(ui, err, KVM_EXIT_FAILURE, "nothing was changed");
	}
}

static void print_plan(const struct up_opts *o, const struct kvm_up_plan *p)
{
	uint64_t rows = 0;

	fprintf(stderr, "dry run: the KV migration would read these tables:\n");
	for (size_t i = 0; i < p->ntables; i++) {
		if (p->tables[i].present)
			fprintf(stderr, "  %-11s %-27s %12" PRIu64 " rows %14" PRIu64
			        " bytes\n", p->tables[i].package, p->tables[i].table,
			        p->tables[i].rows, p->tables[i].bytes);
		else
			fprintf(stderr, "  %-11s %-27s (not there yet)\n",
			        p->tables[i].package, p->tables[i].table);
		rows += p->tables[i].rows;
	}
	fprintf(stderr, "dry run: %" PRIu64 " rows; the export would go to %s "
	        "(%s), at most about %" PRIu64 " bytes; the KV store to %s (now: "
	        "%s), at most about %" PRIu64 " bytes\n", rows, p->export_path,
	        p->export_kept ? "kept" : "removed after the import",
	        p->export_estimate, o->kv, p->kv_state, p->kv_estimate);
	if (p->kv_refused)
		fprintf(stderr, "dry run: the KV path holds something kvmigrate did "
		        "not create: a real run would refuse it\n");
	fprintf(stderr, "dry run: free space %" PRIu64 " bytes beside the KV "
	        "store, %" PRIu64 " beside the export: %s\n", p->kv_free,
	        p->export_free, p->enough ? "enough" : "probably NOT enough");
	fprintf(stderr, "dry run: the old tables would be %s; nothing was "
	        "changed\n", p->drop_tables ? "dropped after the version bump" :
	        "kept");
}

static void print_kv(const struct up_opts *o, const struct kvm_up_result *r)
{
	if (r->leftovers > 0)
		fprintf(stderr, "removed %d file%s an interrupted run left beside "
		        "%s\n", r->leftovers, r->leftovers == 1 ? "" : "s", o->kv);
	fprintf(stderr, "KV migration done: %" PRIu64 " records exported in "
	        "%.2f s (%u job%s) and imported in %.2f s into %s (%" PRIu64
	        " bytes%s); migration id %s; the schema is at the KV migration "
	        "version %" PRIu64 "\n", r->kv_records, r->export_ms / 1000.0,
	        r->jobs, r->jobs == 1 ? "" : "s", r->import_ms / 1000.0, o->kv,
	        r->kv_bytes, r->kv_replaced ? ", replacing the store of an "
	        "interrupted run" : "", r->migration_id, r->version);
	if (o->keep_export != NULL)
		fprintf(stderr, "the export is kept at %s (%" PRIu64 " bytes, digest "
		        "%016" PRIx64 ")\n", o->keep_export, r->export_bytes,
		        r->export_digest);
	if (r->tables_dropped > 0)
		fprintf(stderr, "dropped the %zu old tables\n", r->tables_dropped);
	else if (r->tables_left > 0)
		fprintf(stderr, "the %zu old tables are kept; 'kvmigrate "
		        "drop-tables' drops them once nothing needs them\n",
		        r->tables_left);
}

/* Where the run failed, for --json. */
static const char *failed_phase(const struct kvm_up_result *r,
                                const struct kvm_error *err)
{
	switch (r->kv_step) {
	case KVM_KV_STEP_EXPORT: return "export";
	case KVM_KV_STEP_IMPORT: return "import";
	case KVM_KV_STEP_BUMP:   return "bump";
	case KVM_KV_STEP_DROP:   return "drop";
	default: break;
	}
	switch (err->code) {
	case KVM_ECONNECT:   return "connect";
	case KVM_ELOCKED:
	case KVM_EKVLOCKED:  return "lock";
	case KVM_EKVFOREIGN:
	case KVM_EOTHERDB:
	case KVM_EKV:        return "kv-path";
	default:             return "sql";
	}
}

static const char *outcome_name(enum kvm_up_outcome o)
{
	switch (o) {
	case KVM_UP_APPLIED:     return "applied";
	case KVM_UP_CURRENT:     return "current";
	case KVM_UP_MIGRATED:    return "migrated";
	case KVM_UP_DRY_RUN:     return "dry-run";
	case KVM_UP_KV_MIGRATED: return "kv-migrated";
	default:                 return "failed";
	}
}

static void json_version(struct kvm_json *j, const char *key, int has,
                         uint64_t v)
{
	kvm_json_key(j, key);
	if (has)
		kvm_json_uint64(j, v);
	else
		kvm_json_null(j);
}

static void json_packages(struct kvm_json *j, const struct kvm_up_result *r)
{
	kvm_json_key(j, "packages");
	kvm_json_begin_array(j);
	for (size_t i = 0; i < r->npackages; i++) {
		kvm_json_begin_object(j);
		kvm_json_field_string(j, "name", r->packages[i].name);
		kvm_json_field_uint64(j, "records", r->packages[i].records);
		kvm_json_field_uint64(j, "bytes", r->packages[i].bytes);
		kvm_json_field_double(j, "export_seconds", r->packages[i].ms / 1000.0);
		kvm_json_field_double(j, "import_seconds",
		                      r->package_import_ms[i] / 1000.0);
		kvm_json_end_object(j);
	}
	kvm_json_end_array(j);
}

/* "a, b, c" -> ["a", "b", "c"] */
static void json_names(struct kvm_json *j, const char *key, const char *names)
{
	kvm_json_key(j, key);
	kvm_json_begin_array(j);
	while (*names != '\0') {
		size_t len = strcspn(names, ",");

		kvm_json_string_len(j, names, len);
		names += len;
		while (*names == ',' || *names == ' ')
			names++;
	}
	kvm_json_end_array(j);
}

static void json_plan(struct kvm_json *j, const struct up_opts *o,
                      const struct kvm_up_plan *p)
{
	kvm_json_key(j, "plan");
	kvm_json_begin_object(j);
	kvm_json_key(j, "tables");
	kvm_json_begin_array(j);
	for (size_t i = 0; i < p->ntables; i++) {
		kvm_json_begin_object(j);
		kvm_json_field_string(j, "package", p->tables[i].package);
		kvm_json_field_string(j, "table", p->tables[i].table);
		kvm_json_field_bool(j, "present", p->tables[i].present);
		kvm_json_field_uint64(j, "rows", p->tables[i].rows);
		kvm_json_field_uint64(j, "bytes", p->tables[i].bytes);
		kvm_json_end_object(j);
	}
	kvm_json_end_array(j);
	kvm_json_field_string(j, "kv_path", o->kv);
	kvm_json_field_string(j, "kv_state", p->kv_state);
	kvm_json_field_bool(j, "kv_refused", p->kv_refused);
	kvm_json_field_string(j, "export_path", p->export_path);
	kvm_json_field_bool(j, "export_kept", p->export_kept);
	kvm_json_field_uint64(j, "export_estimate_bytes", p->export_estimate);
	kvm_json_field_uint64(j, "kv_estimate_bytes", p->kv_estimate);
	kvm_json_field_uint64(j, "kv_free_bytes", p->kv_free);
	kvm_json_field_uint64(j, "export_free_bytes", p->export_free);
	kvm_json_field_bool(j, "enough_space", p->enough);
	kvm_json_field_bool(j, "drop_tables", p->drop_tables);
	kvm_json_end_object(j);
}

static int print_json(const struct up_opts *o, const struct kvm_up_result *r,
                      const struct kvm_error *err, int failed)
{
	struct kvm_json j;
	int kv = r->outcome == KVM_UP_KV_MIGRATED;
	int changed = r->applied > 0 || kv || r->tables_dropped > 0;

	kvm_json_init(&j, stdout);
	kvm_json_begin_object(&j);
	if (failed) {
		changed = changed || err->code == KVM_EDROP;
		if (r->outcome == KVM_UP_DRY_RUN)
			changed = 0;
		cmd_json_failure(&j, &o->ui, "up", failed_phase(r, err), err,
		                 changed && !o->dry_run);
	} else {
		cmd_json_success(&j, &o->ui, "up", changed && !o->dry_run);
		kvm_json_field_string(&j, "outcome", outcome_name(r->outcome));
	}
	kvm_json_field_string(&j, "database", r->target);
	json_version(&j, "from_version", r->had_version, r->from_version);
	json_version(&j, "version", r->has_version, r->version);
	kvm_json_field_uint64(&j, "last_sql_version", r->last_sql_version);
	kvm_json_field_uint64(&j, "kv_version", r->kv_version);
	kvm_json_field_uint64(&j, "applied", r->applied);
	kvm_json_field_bool(&j, "kv_enabled", o->kv_enabled);
	kvm_json_field_bool(&j, "dry_run", o->dry_run);
	kvm_json_key(&j, "kv_path");
	if (o->kv != NULL)
		kvm_json_string(&j, o->kv);
	else
		kvm_json_null(&j);
	if (kv) {
		char digest[24];

		kvm_json_key(&j, "kv");
		kvm_json_begin_object(&j);
		kvm_json_field_uint64(&j, "records", r->kv_records);
		kvm_json_field_uint64(&j, "bytes", r->kv_bytes);
		kvm_json_field_string(&j, "migration_id", r->migration_id);
		kvm_json_field_bool(&j, "replaced_interrupted_run", r->kv_replaced);
		kvm_json_field_int64(&j, "leftovers_removed", r->leftovers);
		kvm_json_field_double(&j, "import_seconds", r->import_ms / 1000.0);
		kvm_json_end_object(&j);
		snprintf(digest, sizeof(digest), "%016" PRIx64, r->export_digest);
		kvm_json_key(&j, "export");
		kvm_json_begin_object(&j);
		kvm_json_key(&j, "path");
		if (o->keep_export != NULL)
			kvm_json_string(&j, o->keep_export);
		else
			kvm_json_null(&j);
		kvm_json_field_uint64(&j, "bytes", r->export_bytes);
		kvm_json_field_string(&j, "digest", digest);
		kvm_json_field_uint64(&j, "jobs", r->jobs);
		kvm_json_field_double(&j, "seconds", r->export_ms / 1000.0);
		kvm_json_end_object(&j);
	}
	json_packages(&j, r);
	kvm_json_field_uint64(&j, "tables_dropped", r->tables_dropped);
	json_names(&j, "tables_left", r->tables_left > 0 ? r->tables_left_names : "");
	if (r->plan.ready)
		json_plan(&j, o, &r->plan);
	kvm_json_end_object(&j);
	return kvm_json_finish(&j);
}

static void write_metrics(const struct up_opts *o, const struct kvm_up_result *r,
                          int ok)
{
	struct cmd_metrics m = { .command = "up", .phase = "export" };

	m.has_version = r->has_version;
	m.version = r->version;
	m.records = r->kv_records;
	m.bytes = r->export_bytes;
	m.npackages = r->npackages;
	m.packages = r->packages;
	m.import_ms = r->package_import_ms;
	cmd_ui_write_metrics(&o->ui, &m, ok);
}

/* Per package: records, bytes and the seconds of export and import. */
static void print_packages(const struct kvm_up_result *r)
{
	fprintf(stderr, "  %-12s %12s %15s %9s %9s\n", "package", "records",
	        "bytes", "export s", "import s");
	for (size_t i = 0; i < r->npackages; i++)
		fprintf(stderr, "  %-12s %12" PRIu64 " %15" PRIu64 " %9.2f %9.2f\n",
		        r->packages[i].name, r->packages[i].records,
		        r->packages[i].bytes, r->packages[i].ms / 1000.0,
		        r->package_import_ms[i] / 1000.0);
}

static void print_success(const struct up_opts *o, const struct kvm_up_result *r)
{
	char fbuf[48], tbuf[48];
	const char *from, *to;

	from = version_text(r->had_version, r->from_version, fbuf, sizeof(fbuf));
	to = version_text(r->has_version, r->version, tbuf, sizeof(tbuf));
	switch (r->outcome) {
	case KVM_UP_APPLIED:
		fprintf(stderr, "schema at version %" PRIu64 " (previously %s): %zu "
		        "version%s applied in %" PRIu64 " ms\n%s\n", r->version,
		        from, r->applied, r->applied == 1 ? "" : "s", r->ms, KV_SKIPPED);
		break;
	case KVM_UP_CURRENT:
		fprintf(stderr, "schema up to date at version %" PRIu64 "; %s\n",
		        r->version, KV_SKIPPED);
		break;
	case KVM_UP_MIGRATED:
		fprintf(stderr, "already migrated: the database is at the KV "
		        "migration version %" PRIu64 "; nothing to do\n", r->version);
		if (r->tables_dropped > 0)
			fprintf(stderr, "dropped the %zu old tables an earlier run "
			        "left\n", r->tables_dropped);
		else if (r->tables_left > 0 && o->kv_enabled)
			fprintf(stderr, "the %zu old tables are still there (%s); "
			        "'kvmigrate drop-tables' drops them\n", r->tables_left,
			        r->tables_left_names);
		break;
	case KVM_UP_KV_MIGRATED:
		if (r->applied > 0)
			fprintf(stderr, "schema at version %" PRIu64 " (previously %s): "
			        "%zu version%s applied in %" PRIu64 " ms\n",
			        r->last_sql_version, from, r->applied,
			        r->applied == 1 ? "" : "s", r->ms);
		print_packages(r);
		print_kv(o, r);
		fprintf(stderr, "done in %.1f s: the database is at %s\n",
		        (kvm_now_ms() - o->ui.t0) / 1000.0, to);
		break;
	case KVM_UP_DRY_RUN:
		if (r->applied > 0)
			fprintf(stderr, "dry run: %zu version%s would be applied, from "
			        "%s to version %" PRIu64 "; nothing was changed\n",
			        r->applied, r->applied == 1 ? "" : "s", from,
			        r->last_sql_version);
		else
			fprintf(stderr, "dry run: schema up to date at %s; nothing "
			        "would be applied\n", to);
		if (r->plan.ready)
			print_plan(o, &r->plan);
		break;
	case KVM_UP_FAILED:
		break;
	}
}

static int run(struct up_opts *o)
{
	struct kvm_up_opts uo = KVM_UP_OPTS_INIT;
	struct kvm_up_result *r;
	struct kvm_error err = { 0 };
	int rc = KVM_EXIT_OK, failed;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return cmd_error(KVM_EXIT_FAILURE, "out of memory");
	cmd_ui_start(&o->ui);
	uo.conninfo = o->db;
	uo.connect_retry_ms = o->connect_retry_ms;
	uo.schema_dir = o->schema_dir;
	uo.kv_enabled = o->kv_enabled;
	uo.kv_path = o->kv;
	uo.dry_run = o->dry_run;
	uo.lock_wait_s = (unsigned)o->lock_wait;
	uo.drop_tables = o->drop_tables;
	uo.keep_export = o->keep_export;
	uo.jobs = (unsigned)o->jobs;
	uo.on_event = on_event;
	uo.event_ctx = &o->ui;
	uo.cancel = cmd_catch_interrupts();
	failed = kvm_up(&uo, r, &err) != 0;
	if (failed)
		rc = report_failure(&o->ui, r, &err, o->drop_tables);
	else if (!o->ui.quiet)
		print_success(o, r);
	if (o->ui.metrics_file != NULL)
		write_metrics(o, r, !failed);
	if (o->ui.json && print_json(o, r, &err, failed) != 0 && rc == KVM_EXIT_OK)
		rc = KVM_EXIT_FAILURE;   /* main() reports the write error */
	kvm_up_result_release(r);
	free(r);
	return rc;
}

int cmd_up(int argc, char **argv)
{
	struct up_opts o = { .jobs = 0, .lock_wait = 10 };  /* jobs 0: by cores */
	int c, help = 0, rc;

	cmd_ui_init(&o.ui);

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case OPT_KV_ENABLED:
			o.kv_enabled = 1;
			break;
		case OPT_DROP_TABLES:
			o.drop_tables = 1;
			break;
		case OPT_DRY_RUN:
			o.dry_run = 1;
			break;
		case OPT_JOBS:
			if ((rc = cmd_parse_uint("--jobs", optarg, 1, UP_MAX_JOBS,
			                         &o.jobs, cmd_up_usage)) != 0)
				return rc;
			break;
		case OPT_KEEP_EXPORT:
			o.keep_export = optarg;
			break;
		case OPT_DB:
			o.db = optarg;
			break;
		case OPT_KV:
			o.kv = optarg;
			break;
		case OPT_LOCK_WAIT:
			if ((rc = cmd_parse_uint("--lock-wait", optarg, 0,
			                         UP_MAX_LOCK_WAIT, &o.lock_wait,
			                         cmd_up_usage)) != 0)
				return rc;
			break;
		case OPT_SCHEMA_DIR:
			o.schema_dir = optarg;
			break;
		case 'h':
			help = 1;
			break;
		default:
			if (cmd_ui_option(&o.ui, c, optarg))
				break;
			return cmd_option_error(c, argv, shortopts, longopts,
			                        cmd_up_usage);
		}
	}
	if ((rc = cmd_options_end(help, cmd_up_usage, help_body, argc, argv)) >= 0)
		return rc;
	if (!o.kv_enabled && (rc = cmd_env_kv_enabled(&o.kv_enabled,
	                                              cmd_up_usage)) != 0)
		return rc;
	if (o.db == NULL)
		o.db = cmd_getenv("KVMIGRATE_DB");
	if (o.kv == NULL)
		o.kv = cmd_getenv("KVMIGRATE_KV");

	if (!o.kv_enabled && o.drop_tables)
		return cmd_usage_error(cmd_up_usage, "--drop-tables needs the KV flag "
		                       "(--kv-enabled or KVMIGRATE_KV_ENABLED=1)");
	if (!o.kv_enabled && o.keep_export != NULL)
		return cmd_usage_error(cmd_up_usage, "--keep-export needs the KV flag "
		                       "(--kv-enabled or KVMIGRATE_KV_ENABLED=1)");
	if (o.keep_export != NULL && strcmp(o.keep_export, "-") == 0)
		return cmd_usage_error(cmd_up_usage, "--keep-export needs a file "
		                       "name, not '-'");
	if (o.kv_enabled && o.kv == NULL)
		return cmd_usage_error(cmd_up_usage, "the KV migration needs a KV "
		                       "store: use --kv PATH or set KVMIGRATE_KV");
	if ((rc = cmd_env_connect_retry(&o.connect_retry_ms, cmd_up_usage)) != 0)
		return rc;

	return run(&o);
}
