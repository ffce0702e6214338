/*
 * metrics.h - --metrics-file: the run as a Prometheus text file.
 *
 * The file follows the convention of node_exporter's textfile collector:
 * written under a temporary name in the same directory (".NAME.tmp.XXXXXX",
 * which the collector ignores: it reads *.prom only), mode 0644, synced,
 * then renamed over NAME, so a scrape never sees half a file.
 *
 * Every sample has the label command="up" (or export, import, verify);
 * per-package samples also package="...".  See kvmigrate(1) for the list.
 */
#ifndef KVM_CMD_METRICS_H
#define KVM_CMD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/migrate.h"

struct cmd_metrics {
	const char *command;
	int ok;
	int exitcode;
	double seconds;                     /* the whole run */
	int has_version;                    /* the schema version is known */
	uint64_t version;
	uint64_t records;                   /* all packages */
	uint64_t bytes;                     /* export file bytes; 0: none */
	size_t npackages;
	const struct kvm_export_db_package *packages;
	const char *phase;                  /* "export", "import" */
	/* optional: the import's ms per package, parallel to packages */
	const uint64_t *import_ms;
};

/*
 * Write @m to @path atomically.  Returns 0, or an errno value with a
 * one-line message naming the file in @msg.
 */
int cmd_metrics_write(const char *path, const struct cmd_metrics *m,
                      char *msg, size_t msgsize);

#endif /* KVM_CMD_METRICS_H */
