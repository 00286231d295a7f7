/*
 * Futexes on the shared control block, between two processes: the plain
 * (not FUTEX_PRIVATE) operations, since the words live in a MAP_SHARED file
 * mapping and the waiter and the waker are in different address spaces.
 */
#ifndef VMIC_PLUGIN_FUTEX_H
#define VMIC_PLUGIN_FUTEX_H

#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleeps while *word == expected (or until woken, a signal, or timeout;
 * NULL = none). Callers always re-check their condition after. */
static inline void vmic_futex_wait(uint32_t *word, uint32_t expected, const struct timespec *timeout)
{
    syscall(SYS_futex, word, FUTEX_WAIT, expected, timeout, NULL, 0);
}

static inline void vmic_futex_wake(uint32_t *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

#define VMIC_LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define VMIC_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define VMIC_FENCE() __atomic_thread_fence(__ATOMIC_SEQ_CST)

/* One step of a spin-wait: the first 256 steps only pause (~12 us, longer
 * than most gaps between a busy guest's events), then every 16th step
 * yields the CPU: on a loaded machine the other side may be waiting for
 * this very core, and spinning through its time slice would only delay the
 * answer being spun for. Measured (2 shared cores): under load 8 sync mode
 * made 9k events/s spinning without yield, 87-113k yielding every 16th
 * step; live with one watch at load 2-3, 34k yielding from the start,
 * 89k with the pure first 256 steps. */
static inline void vmic_spin_step(uint32_t i)
{
    if (i >= 256 && (i & 15) == 15) {
        sched_yield();
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

#endif
