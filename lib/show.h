/*
 * show.h - bytes of a key or partition, shown in a one-line message.
 *
 * Printable ASCII stays as it is; every other byte, a quote and a
 * backslash become \xNN; more than @max bytes end in "...".  The result
 * fits in @size (at least 4 * max + 8 bytes shows everything up to max).
 * Internal to the library.
 */
#ifndef KVM_SHOW_H
#define KVM_SHOW_H

#include <stddef.h>

void kvm_show_bytes(char *out, size_t size, const void *p, size_t len,
                    size_t max);

#endif /* KVM_SHOW_H */
