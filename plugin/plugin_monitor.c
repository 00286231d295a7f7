/*
 * The monitor thread: attaches clients and notices their death.
 *
 * A client announces itself with its pid (attach_seq); the thread opens a
 * pidfd on it and acknowledges. While the client is attached it sleeps in
 * poll() on that pidfd, which becomes readable when the process exits for
 * any reason (SIGKILL included): then held vCPUs are released and later
 * events dropped. The poll also wakes every 20 ms to see a detach or another
 * attach request; that period only bounds how soon those are seen, a death
 * is seen at once. With no client it sleeps on attach_seq (100 ms at most,
 * which bounds how soon an attach whose wake-up was missed is seen).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "futex.h"
#include "plugin_internal.h"

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void client_gone(struct plugin *p)
{
    __atomic_store_n(&p->alive, 0, __ATOMIC_RELEASE);
    if (p->pidfd >= 0)
        close(p->pidfd);
    p->pidfd = -1;
    VMIC_STORE(&p->ctl->attached_pid, 0);
    vp_release_waiters(p);
}

/* An attach or detach request: the pid now in client_pid, 0 = detach. */
static void handle_attach(struct plugin *p, uint32_t seq)
{
    struct vmic_plugin_ctl *c = p->ctl;
    uint32_t pid = VMIC_LOAD(&c->client_pid);
    bool alive = __atomic_load_n(&p->alive, __ATOMIC_ACQUIRE);
    if (alive && pid != 0) {
        /* One client at a time: a second vmic is told no (attached_pid
         * stays the first one's), never given the first one's events. */
        p->attach_seen = seq;
        VMIC_STORE(&c->attach_ack, seq);
        vmic_futex_wake(&c->attach_ack);
        return;
    }
    if (alive)
        client_gone(p);
    if (pid > 0 && pid < (1u << 22)) { /* pid_max is at most 2^22 */
        p->pidfd = pidfd_open_((pid_t)pid);
        if (p->pidfd >= 0) {
            VMIC_STORE(&c->attached_pid, pid);
            __atomic_store_n(&p->alive, 1, __ATOMIC_RELEASE);
            vp_ram_find(p);
            vp_register_idle(p);
        }
    }
    p->attach_seen = seq;
    VMIC_STORE(&c->attach_ack, seq);
    vmic_futex_wake(&c->attach_ack);
}

static void *monitor(void *arg)
{
    struct plugin *p = arg;
    struct vmic_plugin_ctl *c = p->ctl;
    /* QEMU's signals are QEMU's: none is handled on this thread. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    while (!__atomic_load_n(&p->stop_monitor, __ATOMIC_ACQUIRE)) {
        uint32_t seq = VMIC_LOAD(&c->attach_seq);
        if (seq != p->attach_seen) {
            handle_attach(p, seq);
            continue;
        }
        if (p->pidfd < 0) {
            /* Nobody attached: sleep until someone writes attach_seq. */
            struct timespec t = {0, 100 * 1000 * 1000};
            vmic_futex_wait(&c->attach_seq, seq, &t);
            continue;
        }
        struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
        int r = poll(&pfd, 1, 20);
        if (r > 0 || (r < 0 && errno != EINTR))
            client_gone(p);
    }
    return NULL;
}

int vp_monitor_start(struct plugin *p)
{
    p->pidfd = -1;
    p->attach_seen = VMIC_LOAD(&p->ctl->attach_seq);
    return pthread_create(&p->monitor, NULL, monitor, p);
}

void vp_monitor_stop(struct plugin *p)
{
    __atomic_store_n(&p->stop_monitor, 1, __ATOMIC_RELEASE);
    vmic_futex_wake(&p->ctl->attach_seq);
    pthread_join(p->monitor, NULL);
}
