/*
 * The SIGBUS guard (see sigbus.h): a process-wide handler, installed only
 * when the application asks (vmic_sigbus_guard_enable), and a thread-local
 * jump point per guarded copy.
 *
 * Why opt-in: a library must not take a process's signal handlers by
 * itself. Python, sanitizers and applications install their own; the guard
 * keeps the one it found and hands it every SIGBUS that is not a fault in a
 * mapping libvmic watches.
 *
 * Why SA_NODEFER and sigsetjmp(env, 0): leaving the handler by siglongjmp
 * must not leave SIGBUS blocked, and saving the signal mask at every
 * guarded copy would cost a system call per read. Even so a guarded copy
 * costs ~20 ns (an 8-byte vmic_read_u64_pa from a mapped dump, median of 6
 * runs on a loaded 2-core machine: 57 ns unguarded, 79 ns guarded), which is
 * why it stays off until asked for.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <vmic/driver.h>

#include "sigbus.h"

#define MAX_WATCHED 64

typedef struct watched {
    _Atomic(uintptr_t) base;   /* 0: free slot */
    _Atomic(size_t) size;
    _Atomic(const char *) name;
} watched_t;

typedef struct guard_frame {
    sigjmp_buf env;
    struct guard_frame *prev;
    uint64_t fault_offset;
    const char *file;
} guard_frame_t;

static watched_t watched[MAX_WATCHED];
static atomic_bool enabled;
static int unguarded_exit_code = -1;
static struct sigaction previous;
static _Thread_local guard_frame_t *innermost;

/* Watchers serialise on a mutex; the handler only reads, base last written. */
static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;

bool vmic_sigbus_watch(const void *base, size_t size, const char *name)
{
    bool placed = false;

    pthread_mutex_lock(&watch_lock);
    for (size_t i = 0; i < MAX_WATCHED && !placed; i++) {
        if (atomic_load(&watched[i].base) != 0)
            continue;
        atomic_store(&watched[i].size, size);
        atomic_store(&watched[i].name, name);
        atomic_store(&watched[i].base, (uintptr_t)base);   /* now the slot is live */
        placed = true;
    }
    pthread_mutex_unlock(&watch_lock);
    return placed;
}

void vmic_sigbus_unwatch(const void *base)
{
    pthread_mutex_lock(&watch_lock);
    for (size_t i = 0; i < MAX_WATCHED; i++)
        if (atomic_load(&watched[i].base) == (uintptr_t)base)
            atomic_store(&watched[i].base, 0);
    pthread_mutex_unlock(&watch_lock);
}

/* The watched mapping holding addr, or NULL. Async-signal-safe. */
static const watched_t *find_watched(uintptr_t addr)
{
    for (size_t i = 0; i < MAX_WATCHED; i++) {
        uintptr_t base = atomic_load(&watched[i].base);
        if (base && addr >= base && addr - base < atomic_load(&watched[i].size))
            return &watched[i];
    }
    return NULL;
}

/* ---- the handler: only async-signal-safe calls from here on --------------- */

static void put(const char *s)
{
    ssize_t ignored = write(STDERR_FILENO, s, strlen(s));
    (void)ignored;
}

static void put_hex(uint64_t v)
{
    char buf[19] = "0x";
    int digits = 1;
    while (digits < 16 && v >> (4 * digits))
        digits++;
    for (int i = 0; i < digits; i++)
        buf[2 + i] = "0123456789abcdef"[(v >> (4 * (digits - 1 - i))) & 15];
    buf[2 + digits] = '\0';
    put(buf);
}

/* A fault outside any guarded copy (a pointer into the mapping held by a
 * caller): nothing to return an error to, so say what happened and end. */
static _Noreturn void exit_unguarded(const watched_t *w, uint64_t offset)
{
    put("vmic: ");
    put(atomic_load(&w->name));
    put(": the file shrank while vmic had it mapped (SIGBUS reading file offset ");
    put_hex(offset);
    put("); stopping, as any result would be torn\n");
    _exit(unguarded_exit_code);
}

/* Hands the signal to whoever had it before the guard. */
static void chain(int sig, siginfo_t *si, void *uc)
{
    if (previous.sa_flags & SA_SIGINFO) {
        if (previous.sa_sigaction) {
            previous.sa_sigaction(sig, si, uc);
            return;
        }
    } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(sig);
        return;
    }
    /* Default action: restore it and return; the faulting access runs again
     * and the kernel delivers SIGBUS with its usual effect (a core dump). */
    signal(sig, SIG_DFL);
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    const watched_t *w = si ? find_watched((uintptr_t)si->si_addr) : NULL;
    if (!w) {
        chain(sig, si, uc);
        return;
    }
    uint64_t offset = (uint64_t)((uintptr_t)si->si_addr - atomic_load(&w->base));
    guard_frame_t *frame = innermost;
    if (!frame) {
        if (unguarded_exit_code >= 0)
            exit_unguarded(w, offset);
        chain(sig, si, uc);
        return;
    }
    frame->fault_offset = offset;
    frame->file = atomic_load(&w->name);
    innermost = frame->prev;
    siglongjmp(frame->env, 1);
}

/* ---- the public switch and the guarded copy --------------------------------- */

vmic_status vmic_sigbus_guard_enable(int exit_code)
{
    if (atomic_load(&enabled))
        return VMIC_OK;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    unguarded_exit_code = exit_code;
    if (sigaction(SIGBUS, &sa, &previous) != 0)
        return vmic_fail(VMIC_E_IO, "cannot install the SIGBUS guard: %s", strerror(errno));
    atomic_store(&enabled, true);
    return VMIC_OK;
}

bool vmic_guarded_copy(void *dst, const void *src, size_t n, uint64_t *fault_offset,
                       const char **file)
{
    guard_frame_t frame;

    if (!atomic_load_explicit(&enabled, memory_order_relaxed)) {
        memcpy(dst, src, n);
        return true;
    }
    frame.prev = innermost;
    if (sigsetjmp(frame.env, 0) != 0) {
        *fault_offset = frame.fault_offset;
        *file = frame.file;
        return false;
    }
    innermost = &frame;
    /* The compiler must not move the copy outside the frame's lifetime. */
    atomic_signal_fence(memory_order_seq_cst);
    memcpy(dst, src, n);
    atomic_signal_fence(memory_order_seq_cst);
    innermost = frame.prev;
    return true;
}
