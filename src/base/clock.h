/*
 * Monotonic time and deadlines: the one place that reads CLOCK_MONOTONIC.
 * Timeouts measured on it do not jump when the wall clock is set.
 */
#ifndef VMIC_BASE_CLOCK_H
#define VMIC_BASE_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

uint64_t vmic__mono_ns(void);

/* Signed, so that "deadline - now" is negative once a deadline is past. */
static inline int64_t vmic__mono_ms(void)
{
    return (int64_t)(vmic__mono_ns() / 1000000u);
}

static inline double vmic__mono_seconds(void)
{
    return (double)vmic__mono_ns() * 1e-9;
}

/* The CLOCK_MONOTONIC instant ms from now, as pthread_cond_timedwait takes
 * it (the condition variable's clock must be CLOCK_MONOTONIC). */
struct timespec vmic__deadline_after_ms(uint64_t ms);

bool vmic__deadline_passed(const struct timespec *deadline);

#endif
