/*
 * plan.h - the dry run of the KV migration (internal to lib/).
 */
#ifndef KVM_PLAN_H
#define KVM_PLAN_H

#include "session.h"

/* Fill r->plan: what `up --kv-enabled` would read, write and need.
 * Reads only. */
int kvm_up_plan(struct session *s, const struct kvm_up_opts *o,
                struct kvm_up_result *r, struct kvm_error *err);

#endif /* KVM_PLAN_H */
