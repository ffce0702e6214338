/*
 * clock.h - elapsed time for the engine's timings and retry bounds
 * (internal to lib/).
 */
#ifndef KVM_CLOCK_H
#define KVM_CLOCK_H

#include <stdint.h>
#include <time.h>

/** Milliseconds of the monotonic clock: for differences only. */
static inline uint64_t kvm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif /* KVM_CLOCK_H */
