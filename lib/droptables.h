/*
 * droptables.h - the old tables after the KV migration (internal to lib/).
 */
#ifndef KVM_DROPTABLES_H
#define KVM_DROPTABLES_H

#include "session.h"

/* Drop the old tables that exist, in one transaction, waiting at most
 * @wait_s for other sessions' locks on them; KVM_EDROP on failure. */
int kvm_drop_old_tables(struct session *s, unsigned wait_s, size_t *dropped,
                        struct kvm_error *err);

/* Which old tables are still there, into r->tables_left(_names). */
void kvm_note_tables_left(struct session *s, struct kvm_up_result *r);

#endif /* KVM_DROPTABLES_H */
