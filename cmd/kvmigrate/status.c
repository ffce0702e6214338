/*
 * status.c - kvmigrate status: where the migration stands.
 *
 * Reports the SQL schema version, the migration phase, the KV flag, the
 * KV store and its recorded version, leftovers, and the next action.
 *
 * The report goes to stdout: text for people, or with --json exactly one
 * JSON object (also on failure, with "ok": false).  The fields are
 * documented in kvmigrate(1) and design/cli.md.  status only reads: it
 * takes no lock and opens the KV store read-only without a lock file.
 */
#include <inttypes.h>
#include <stdio.h>

#include "kvm/migrate.h"
#include "cmd.h"
#include "json.h"

const char cmd_status_usage[] = "kvmigrate status [--json] [--kv-enabled] "
	"[--db CONNINFO] [--kv PATH] [--schema-dir DIR]";

static const char help_body[] =
	"Show the SQL schema version and whether it is dirty, the last SQL\n"
	"version and the KV migration version, the KV flag, what is at the KV\n"
	"path and the version it records, which old tables exist, who holds the\n"
	"migration lock, and the next command to run.  Reads only.\n"
	"\n"
	"Options:\n"
	"      --json               print one JSON object on stdout instead of text\n"
	"      --kv-enabled         report as if the KV flag were on (the flag\n"
	"                           otherwise comes from KVMIGRATE_KV_ENABLED)\n"
	CMD_HELP_DB
	CMD_HELP_KV
	CMD_HELP_SCHEMA_DIR
	CMD_HELP_HELP;

enum { OPT_JSON = CMD_OPT_LONG_ONLY, OPT_DB, OPT_KV, OPT_KV_ENABLED,
       OPT_SCHEMA_DIR };

static const char shortopts[] = ":h";
static const struct option longopts[] = {
	{ "json",       no_argument,       NULL, OPT_JSON },
	{ "db",         required_argument, NULL, OPT_DB },
	{ "kv",         required_argument, NULL, OPT_KV },
	{ "kv-enabled", no_argument,       NULL, OPT_KV_ENABLED },
	{ "schema-dir", required_argument, NULL, OPT_SCHEMA_DIR },
	{ "help",       no_argument,       NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct status_opts {
	int json;
	const char *db;          /* NULL: libpq's PG* variables */
	const char *kv;          /* NULL: no KV store to look at */
	int kv_enabled;
	const char *schema_dir;
	unsigned connect_retry_ms;
};

/* The KV path is a file whose size means something. */
static int has_size(const struct kvm_status *st)
{
	return st->kv.state != KVM_KV_NOT_SET && st->kv.state != KVM_KV_ABSENT &&
	       st->kv.state != KVM_KV_NOT_FILE && st->kv.state != KVM_KV_UNREADABLE;
}

/* "present" (all), "partial", or, with none left, "dropped" once migrated
 * and "absent" before (not created yet). */
static const char *tables_word(const struct kvm_status *st)
{
	if (st->tables_present == st->tables)
		return "present";
	if (st->tables_present > 0)
		return "partial";
	return st->state == KVM_SQL_MIGRATED ? "dropped" : "absent";
}

/* The command to run next, as text ("" when none), and why, from the
 * step the library chose and the facts of @st. */
static void word_next(const struct kvm_status *st, char *next, size_t nsize,
                      char *reason, size_t rsize)
{
	const char *kv = st->kv_enabled ? " --kv-enabled" : "";

	next[0] = reason[0] = '\0';
	switch (st->next) {
	case KVM_NEXT_UP:
		snprintf(next, nsize, "kvmigrate up%s", kv);
		snprintf(reason, rsize, "%zu SQL version%s to apply, from version %"
		         PRIu64, st->pending, st->pending == 1 ? "" : "s",
		         st->first_pending);
		return;
	case KVM_NEXT_UP_KV:
		snprintf(next, nsize, "kvmigrate up --kv-enabled%s",
		         st->kv.path == NULL ? " --kv PATH" : "");
		if (st->kv.state == KVM_KV_PRESENT)
			snprintf(reason, rsize, "a KV migration was interrupted before "
			         "the version bump: the KV store at the KV path is not "
			         "in use, and the next run builds it anew from the old "
			         "tables");
		else
			snprintf(reason, rsize, st->kv_enabled ?
			         "the SQL schema is current; the KV migration is next" :
			         "the SQL schema is current; the KV migration runs once "
			         "the KV flag is on");
		return;
	case KVM_NEXT_DROP_TABLES:
		snprintf(next, nsize, "kvmigrate drop-tables");
		snprintf(reason, rsize, "migrated to the KV store; %zu of the old "
		         "tables are still there, to be dropped once nothing needs "
		         "them", st->tables_present);
		return;
	case KVM_NEXT_NONE:
		break;
	}
	switch (st->state) {
	case KVM_SQL_MIGRATED:
		snprintf(reason, rsize, "nothing to do: the metadata lives in the "
		         "KV store and the old tables are gone");
		break;
	case KVM_SQL_DIRTY:
		snprintf(reason, rsize, "a migration failed half-way under another "
		         "tool: repair the schema by hand, then mark the version "
		         "clean in %s (UPDATE ... SET dirty = false), then run "
		         "kvmigrate up", KVM_VERSION_TABLE);
		break;
	case KVM_SQL_TOO_NEW:
		snprintf(reason, rsize, "the database is newer than this kvmigrate "
		         "(version %" PRIu64 " > %" PRIu64 "): use the kvmigrate of "
		         "the release that wrote it", st->version, st->kv_version);
		break;
	case KVM_SQL_UNKNOWN:
		snprintf(reason, rsize, "version %" PRIu64 " is not in %s: use the "
		         "schema versions the database was migrated with",
		         st->version, st->schema_origin);
		break;
	default:
		break;
	}
}

static void print_table_list(const struct kvm_status *st, int present)
{
	const char *sep = "";

	for (size_t i = 0; i < st->tables; i++) {
		if (st->table_present[i] != present)
			continue;
		printf("%s%s", sep, st->table_name[i]);
		sep = ", ";
	}
}

static void print_text(const struct kvm_status *st)
{
	char who[512], next[128], reason[768];

	fputs("database:        ", stdout);
	cmd_put_printable(stdout, st->target);
	fputs("\nschema version:  ", stdout);
	if (st->has_version)
		printf("%" PRIu64 "%s\n", st->version, st->dirty ? " (DIRTY)" : "");
	else
		printf("none (%s)\n", st->version_table ? "the version table is "
		       "empty" : "no version table");
	printf("state:           %s", kvm_sql_state_name(st->state));
	if (st->pending > 0)
		printf(" (%zu SQL version%s pending, from %" PRIu64 ")", st->pending,
		       st->pending == 1 ? "" : "s", st->first_pending);
	fputs("\nschema source:   ", stdout);
	cmd_put_printable(stdout, st->schema_origin);
	printf(": last SQL version %" PRIu64 ", KV migration version %" PRIu64
	       "\n", st->last_sql_version, st->kv_version);
	printf("KV flag:         %s\n", st->kv_enabled ? "on" : "off");
	fputs("KV store:        ", stdout);
	if (st->kv.state == KVM_KV_NOT_SET) {
		fputs("not set (--kv PATH or KVMIGRATE_KV)\n", stdout);
	} else {
		cmd_put_printable(stdout, st->kv.path);
		printf(": %s", kvm_kv_state_name(st->kv.state));
		if (st->kv.has_version)
			printf(", version %" PRIu64, st->kv.version);
		if (has_size(st))
			printf(", %" PRIu64 " bytes", st->kv.size);
		if (st->kv.detail[0] != '\0') {
			fputs(" (", stdout);
			cmd_put_printable(stdout, st->kv.detail);
			putchar(')');
		}
		putchar('\n');
	}
	printf("old tables:      %s, %zu of %zu", tables_word(st),
	       st->tables_present, st->tables);
	if (st->tables_present > 0 && st->tables_present < st->tables) {
		fputs("; missing: ", stdout);
		print_table_list(st, 0);
	}
	printf("\nmigration lock:  key %" PRId64 ", ", st->lock_key);
	if (st->lock_held) {
		kvm_lock_holder_describe(&st->holder, who, sizeof(who));
		fputs("held by ", stdout);
		cmd_put_printable(stdout, who);
		putchar('\n');
	} else {
		fputs("free\n", stdout);
	}
	word_next(st, next, sizeof(next), reason, sizeof(reason));
	printf("next:            %s\n", next[0] ? next : "nothing");
	fputs("                 ", stdout);
	cmd_put_printable(stdout, reason);
	putchar('\n');
}

static void json_string_array(struct kvm_json *j, const char *key,
                              const struct kvm_status *st, int present)
{
	kvm_json_key(j, key);
	kvm_json_begin_array(j);
	for (size_t i = 0; i < st->tables; i++)
		if (st->table_present[i] == present)
			kvm_json_string(j, st->table_name[i]);
	kvm_json_end_array(j);
}

static void json_holder(struct kvm_json *j, const struct kvm_lock_holder *h)
{
	kvm_json_begin_object(j);
	kvm_json_field_int64(j, "pid", h->pid);
	kvm_json_field_string(j, "application_name", h->application_name);
	kvm_json_field_string(j, "user", h->user);
	kvm_json_field_string(j, "client", h->client);
	kvm_json_field_string(j, "connected_since", h->backend_start);
	kvm_json_field_int64(j, "seconds", h->seconds);
	kvm_json_field_string(j, "state", h->state);
	kvm_json_end_object(j);
}

static int print_json(const struct kvm_status *st)
{
	char next[128], reason[768];
	struct kvm_json j;

	word_next(st, next, sizeof(next), reason, sizeof(reason));
	kvm_json_init(&j, stdout);
	kvm_json_begin_object(&j);
	kvm_json_field_bool(&j, "ok", 1);
	kvm_json_field_string(&j, "database", st->target);
	kvm_json_field_string(&j, "state", kvm_sql_state_name(st->state));
	kvm_json_field_bool(&j, "version_table", st->version_table);
	kvm_json_key(&j, "sql_version");
	if (st->has_version)
		kvm_json_uint64(&j, st->version);
	else
		kvm_json_null(&j);
	kvm_json_field_bool(&j, "dirty", st->dirty);
	kvm_json_field_string(&j, "schema_source", st->schema_origin);
	kvm_json_field_uint64(&j, "last_sql_version", st->last_sql_version);
	kvm_json_field_uint64(&j, "kv_migration_version", st->kv_version);
	kvm_json_field_uint64(&j, "pending_versions", st->pending);
	kvm_json_field_bool(&j, "kv_enabled", st->kv_enabled);
	kvm_json_key(&j, "kv_store");
	kvm_json_begin_object(&j);
	kvm_json_key(&j, "path");
	if (st->kv.path)
		kvm_json_string(&j, st->kv.path);
	else
		kvm_json_null(&j);
	kvm_json_field_string(&j, "state", kvm_kv_state_name(st->kv.state));
	kvm_json_key(&j, "version");
	if (st->kv.has_version)
		kvm_json_uint64(&j, st->kv.version);
	else
		kvm_json_null(&j);
	kvm_json_key(&j, "bytes");
	if (has_size(st))
		kvm_json_uint64(&j, st->kv.size);
	else
		kvm_json_null(&j);
	kvm_json_field_string(&j, "detail", st->kv.detail);
	kvm_json_end_object(&j);
	kvm_json_key(&j, "old_tables");
	kvm_json_begin_object(&j);
	kvm_json_field_string(&j, "state", tables_word(st));
	json_string_array(&j, "present", st, 1);
	json_string_array(&j, "missing", st, 0);
	kvm_json_end_object(&j);
	kvm_json_key(&j, "lock");
	kvm_json_begin_object(&j);
	kvm_json_field_int64(&j, "key", st->lock_key);
	kvm_json_field_bool(&j, "held", st->lock_held);
	kvm_json_key(&j, "holder");
	if (st->lock_held)
		json_holder(&j, &st->holder);
	else
		kvm_json_null(&j);
	kvm_json_end_object(&j);
	kvm_json_key(&j, "next_command");
	if (next[0])
		kvm_json_string(&j, next);
	else
		kvm_json_null(&j);
	kvm_json_field_string(&j, "next_reason", reason);
	kvm_json_end_object(&j);
	return kvm_json_finish(&j);
}

static int print_json_error(const struct kvm_error *err)
{
	struct kvm_json j;

	kvm_json_init(&j, stdout);
	kvm_json_begin_object(&j);
	kvm_json_field_bool(&j, "ok", 0);
	cmd_json_error(&j, err);
	kvm_json_end_object(&j);
	return kvm_json_finish(&j);
}

static int run(const struct status_opts *o)
{
	struct kvm_status_opts so = KVM_STATUS_OPTS_INIT;
	struct kvm_status st;
	struct kvm_error err = { 0 };

	so.conninfo = o->db;
	so.connect_retry_ms = o->connect_retry_ms;
	so.schema_dir = o->schema_dir;
	so.kv_path = o->kv;
	so.kv_enabled = o->kv_enabled;
	so.on_event = cmd_print_wait_event;
	if (kvm_status(&so, &st, &err) != 0) {
		if (o->json)
			print_json_error(&err);
		return cmd_fail(&err, KVM_EXIT_FAILURE, NULL);
	}
	if (o->json)
		print_json(&st);
	else
		print_text(&st);
	return KVM_EXIT_OK;
}

int cmd_status(int argc, char **argv)
{
	struct status_opts o = { .json = 0 };
	int c, help = 0, rc;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			o.json = 1;
			break;
		case OPT_DB:
			o.db = optarg;
			break;
		case OPT_KV:
			o.kv = optarg;
			break;
		case OPT_KV_ENABLED:
			o.kv_enabled = 1;
			break;
		case OPT_SCHEMA_DIR:
			o.schema_dir = optarg;
			break;
		case 'h':
			help = 1;
			break;
		default:
			return cmd_option_error(c, argv, shortopts, longopts,
			                        cmd_status_usage);
		}
	}
	if ((rc = cmd_options_end(help, cmd_status_usage, help_body, argc, argv)) >= 0)
		return rc;
	if (!o.kv_enabled &&
	    (rc = cmd_env_kv_enabled(&o.kv_enabled, cmd_status_usage)) != 0)
		return rc;
	if ((rc = cmd_env_connect_retry(&o.connect_retry_ms, cmd_status_usage)) != 0)
		return rc;
	if (o.db == NULL)
		o.db = cmd_getenv("KVMIGRATE_DB");
	if (o.kv == NULL)
		o.kv = cmd_getenv("KVMIGRATE_KV");
	return run(&o);
}
