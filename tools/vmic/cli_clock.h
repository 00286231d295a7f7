/*
 * Monotonic time for the command's own timeouts. The command is built on the
 * public API alone (it links the archive whose internals are localized), so
 * it cannot use the library's internal clock in src/base; this is the one
 * copy on this side.
 */
#ifndef VMIC_CLI_CLOCK_H
#define VMIC_CLI_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t cli_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int64_t cli_mono_ms(void)
{
    return (int64_t)(cli_mono_ns() / 1000000u);
}

#endif
