/*
 * metrics.c - --metrics-file (see metrics.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "tmpname.h"

/* A label value as the text format wants it: \ " and newline escaped. */
static void put_label(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			putc(*s, f);
	}
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(FILE *f, const struct cmd_metrics *m, const char *name,
                   const char *package, const char *phase, double v)
{
	fprintf(f, "%s{command=\"", name);
	put_label(f, m->command);
	if (package != NULL) {
		fputs("\",package=\"", f);
		put_label(f, package);
	}
	if (phase != NULL) {
		fputs("\",phase=\"", f);
		put_label(f, phase);
	}
	/* integers (counts, versions, timestamps) exactly; else 3 decimals */
	if (v == (double)(int64_t)v)
		fprintf(f, "\"} %" PRId64 "\n", (int64_t)v);
	else
		fprintf(f, "\"} %.3f\n", v);
}

static void write_all(FILE *f, const struct cmd_metrics *m)
{
	head(f, "kvmigrate_last_run_success", "gauge",
	     "1 if the last run of the command succeeded, else 0.");
	sample(f, m, "kvmigrate_last_run_success", NULL, NULL, m->ok ? 1 : 0);
	head(f, "kvmigrate_last_run_exit_code", "gauge",
	     "Exit status of the last run (kvmigrate(1), EXIT STATUS).");
	sample(f, m, "kvmigrate_last_run_exit_code", NULL, NULL, m->exitcode);
	head(f, "kvmigrate_last_run_timestamp_seconds", "gauge",
	     "When the last run ended, in seconds since the epoch.");
	sample(f, m, "kvmigrate_last_run_timestamp_seconds", NULL, NULL,
	       (double)time(NULL));
	head(f, "kvmigrate_last_run_duration_seconds", "gauge",
	     "How long the last run took.");
	sample(f, m, "kvmigrate_last_run_duration_seconds", NULL, NULL, m->seconds);
	if (m->has_version) {
		head(f, "kvmigrate_schema_version", "gauge",
		     "The database's schema version after the run.");
		sample(f, m, "kvmigrate_schema_version", NULL, NULL,
		       (double)m->version);
	}
	head(f, "kvmigrate_records", "gauge", "Records the run moved, all "
	     "packages.");
	sample(f, m, "kvmigrate_records", NULL, NULL, (double)m->records);
	if (m->bytes > 0) {
		head(f, "kvmigrate_export_file_bytes", "gauge",
		     "Size of the export file.");
		sample(f, m, "kvmigrate_export_file_bytes", NULL, NULL,
		       (double)m->bytes);
	}
	if (m->npackages == 0)
		return;
	head(f, "kvmigrate_package_records", "gauge", "Records of a package.");
	for (size_t i = 0; i < m->npackages; i++)
		sample(f, m, "kvmigrate_package_records", m->packages[i].name, NULL,
		       (double)m->packages[i].records);
	head(f, "kvmigrate_package_bytes", "gauge",
	     "Uncompressed bytes of a package's records.");
	for (size_t i = 0; i < m->npackages; i++)
		sample(f, m, "kvmigrate_package_bytes", m->packages[i].name, NULL,
		       (double)m->packages[i].bytes);
	head(f, "kvmigrate_package_duration_seconds", "gauge",
	     "Time a phase spent on a package.");
	for (size_t i = 0; i < m->npackages; i++) {
		sample(f, m, "kvmigrate_package_duration_seconds",
		       m->packages[i].name, m->phase, m->packages[i].ms / 1000.0);
		if (m->import_ms != NULL)
			sample(f, m, "kvmigrate_package_duration_seconds",
			       m->packages[i].name, "import", m->import_ms[i] / 1000.0);
	}
}

int cmd_metrics_write(const char *path, const struct cmd_metrics *m,
                      char *msg, size_t msgsize)
{
	struct kvm_error err;
	char *tmp = NULL;
	FILE *f = NULL;
	int fd, rc;

	/* Read by node_exporter, which runs as another user: 0644. */
	if ((rc = kvm_tmp_create(path, 0644, &tmp, &fd, &err)) != 0) {
		snprintf(msg, msgsize, "cannot write the metrics file '%s': %s",
		         path, err.msg);
		return rc;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		rc = errno;
		close(fd);
		goto fail;
	}
	write_all(f, m);
	if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
		rc = errno != 0 ? errno : EIO;
		fclose(f);
		goto fail;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		rc = errno;
		goto fail;
	}
	free(tmp);
	return 0;
fail:
	unlink(tmp);
	free(tmp);
	snprintf(msg, msgsize, "cannot write the metrics file '%s': %s", path,
	         strerror(rc));
	return rc;
}
