/*
 * export_engine.h - what the files of the export engine share (internal
 * to lib/): its constants, the engine, its units of work and sections,
 * the producers that run units, and the calls between the files.
 *
 *     export.c          kvm_export_db(): the snapshot, the leader's order
 *                       check, writing the sections, the read-back
 *     export_plan.c     the packages, the units (splits), the estimates,
 *                       the number of jobs
 *     export_copy.c     running a unit: its COPY and the row function
 *     export_row.c      the row API of the migrators (kvm_row_emit,
 *                       kvm_row_describe) and a record into a block
 *     export_workers.c  the worker threads and the leader's draining of
 *                       their queues (jobs mode)
 *
 * The engine belongs to the leader's thread, except where a field says
 * otherwise.
 */
#ifndef KVM_EXPORT_ENGINE_H
#define KVM_EXPORT_ENGINE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kvm/error.h"
#include "kvm/export.h"
#include "kvm/migrate.h"
#include "kvm/migrator.h"
#include "kvm/schema.h"
#include "blockq.h"
#include "catalog.h"
#include "db.h"
#include "kvvalue.h"

/* Records are handed from workers to the leader in blocks of this size
 * (a larger record gets a block of its own). */
#define BLOCK_BYTES (1u << 20)
/* A unit's queue blocks its worker at this many bytes of blocks in
 * flight: 8 MiB queued, one block being filled, one being written. */
#define QUEUE_BYTES ((8u << 20) + 2 * BLOCK_BYTES)
/* Rows between two looks at the cancel flag. */
#define CANCEL_EVERY 1024u
/* Records between two progress events (a power of two). */
#define PROGRESS_EVERY 4096u
/* Longest partition and key the engine builds: what an export file
 * carries (the KV targets' own limits are their imports' to check). */
#define PART_MAX KVM_EXPORT_MAX_PARTITION
#define KEY_MAX KVM_EXPORT_MAX_KEY

struct unit {
	const struct kvm_source *src;
	size_t section;            /* index into the header's packages */
	unsigned char *split;      /* owned; NULL for a plain source */
	size_t split_len;

	/* set by whoever runs the unit; read by the leader once it is done */
	uint64_t rows;
	uint64_t t_start;
};

struct section {
	const struct kvm_migrator *m;
	size_t first_unit, nunits;
	uint64_t estimate;         /* rows by the catalog; 0: not known */
	uint64_t done, bytes;      /* records written so far, their bytes */
};

/* The check of the order of records, on the leader. */
struct order {
	unsigned char part[PART_MAX], key[KEY_MAX];
	size_t plen, klen;
	int any;
};

struct engine {
	const struct kvm_export_db_opts *o;
	struct kvm_export_db_result *r;
	kvm_schema *source;        /* the schema versions (owned) */
	struct kvm_db *leader;
	char snapshot[64];
	/* The version table's schema, where the old tables are read, and the
	 * statement that makes it every connection's search_path (owned). */
	char schema[KVM_CATALOG_NAME_MAX];
	char *search_path_sql;

	struct section sections[KVM_EXPORT_MAX_PACKAGES];
	size_t nsections;
	struct unit *units;
	size_t nunits, units_cap;

	kvm_export_writer *w;
	struct order ord;
	size_t cur;                /* the section being written */
	uint64_t written;          /* records handed to the writer */

	/* jobs mode */
	struct kvm_blockq *queues; /* one per unit; owned by kvm_exp_run_jobs */
	pthread_mutex_t mu;        /* guards next_unit and worker_rc, _err */
	size_t next_unit;          /* next unit a worker takes */
	int abort;                 /* atomic: stop taking units and rows */
	int worker_rc;             /* first failure outside a unit */
	struct kvm_error worker_err;
};

/* What runs a unit: the leader (writing directly) or a worker. */
struct producer {
	struct engine *e;
	struct kvm_db *db;
	struct unit *u;
	kvm_value *value;
	int direct;                /* 1: straight into the writer */
	struct kvm_blockq *q;      /* jobs mode: the unit's queue */
	struct kvm_block *cur;     /* jobs mode: the block being filled */
	unsigned char part[PART_MAX], key[KEY_MAX];
};

static inline int kvm_exp_canceled(const struct engine *e)
{
	return e->o->cancel != NULL && *e->o->cancel != 0;
}

static inline void kvm_exp_put_u32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static inline uint32_t kvm_exp_get_u32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* export.c */
void kvm_exp_progress(const struct engine *e, size_t s, int finished);
int kvm_exp_bytes_cmp(const void *a, size_t alen, const void *b, size_t blen);
int kvm_exp_put_record(struct engine *e, const struct unit *u,
                       const void *part, size_t plen, const void *key,
                       size_t klen, const void *val, size_t vlen,
                       struct kvm_error *err);
int kvm_exp_connect(struct engine *e, struct kvm_db **db, unsigned retry_ms,
                    struct kvm_error *err);
int kvm_exp_write_sections(struct engine *e, int direct, struct kvm_error *err);

/* export_plan.c */
int kvm_exp_pick_packages(struct engine *e, struct kvm_error *err);
int kvm_exp_plan(struct engine *e, struct kvm_error *err);
int kvm_exp_estimate(struct engine *e, struct kvm_error *err);
unsigned kvm_exp_pick_jobs(const struct kvm_export_db_opts *o, size_t nunits);

/* export_copy.c */
int kvm_exp_run_unit(struct producer *pr, struct kvm_error *err);

/* export_row.c */
void kvm_exp_show_record(char *out, size_t size, const void *part, size_t plen,
                         const void *key, size_t klen);
int kvm_exp_queue_record(struct producer *pr, size_t plen, size_t klen,
                         const void *val, size_t vlen, struct kvm_error *err);

/* export_workers.c */
int kvm_exp_drain_unit(struct engine *e, struct unit *u, struct kvm_error *err);
int kvm_exp_run_jobs(struct engine *e, unsigned jobs, struct kvm_error *err);

#endif /* KVM_EXPORT_ENGINE_H */
