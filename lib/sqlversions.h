/*
 * sqlversions.h - the SQL schema versions of the old tables: checking the
 * version read, the pending ones, applying one (internal to lib/).
 */
#ifndef KVM_SQLVERSIONS_H
#define KVM_SQLVERSIONS_H

#include "kvm/schema.h"
#include "session.h"

/* Refuse the states no run may continue from (dirty, too new, unknown);
 * 0 when the version is one to go on from, or there is none. */
int kvm_sql_check_version(const struct session *s, const kvm_schema *sch,
                          const struct version_row *row,
                          struct kvm_error *err);

/* Index in @sch of the first pending version. */
size_t kvm_sql_first_pending(const kvm_schema *sch,
                             const struct version_row *row);

/* Split the whole file of @v into *@count statements; refuse what cannot
 * run inside kvmigrate's transaction. */
int kvm_sql_check_file(const struct kvm_schema_version *v, unsigned *count,
                       struct kvm_error *err);

/* Apply @v with its version row in one transaction (creating the version
 * table first when @create_table); @ev describes it for the caller. */
int kvm_sql_apply_version(struct session *s,
                          const struct kvm_schema_version *v,
                          int create_table, struct kvm_event *ev,
                          struct kvm_error *err);

#endif /* KVM_SQLVERSIONS_H */
