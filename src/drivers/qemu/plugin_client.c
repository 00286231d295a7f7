/*
 * The client side of the control block: see client.h and the protocol in
 * vmic_plugin_abi.h. The block is written by code inside QEMU; its layout
 * fields are checked before anything else is read through them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "plugin_client.h"
#include "futex.h"

static __thread char errbuf[512];

const char *vmic__plugin_error(void)
{
    return errbuf;
}

static int fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return -err;
}

static struct timespec ms(int64_t m)
{
    return (struct timespec){m / 1000, (m % 1000) * 1000000};
}

int vmic__plugin_check_layout(const struct vmic_plugin_ctl *h, size_t file_size,
                              const char *path)
{
    if (VMIC_LOAD(&h->magic) != VMIC_PLUGIN_MAGIC)
        return fail(EPROTO, "%s: not a vmic plugin control block (magic)", path);
    if (h->version != VMIC_PLUGIN_VERSION)
        return fail(EPROTO, "%s: protocol version %u, this vmic speaks %u", path, h->version,
                    VMIC_PLUGIN_VERSION);
    if (h->header_size != sizeof *h || h->vcpu_stride != sizeof(struct vmic_plugin_vcpu) ||
        h->ring_records != VMIC_PLUGIN_RING_RECORDS || h->max_watches != VMIC_PLUGIN_MAX_WATCHES)
        return fail(EPROTO, "%s: layout sizes differ from this vmic's (another build?)", path);
    if (h->vcpu_count < 1 || h->vcpu_count > VMIC_PLUGIN_MAX_VCPUS ||
        h->vcpu_offset < sizeof *h ||
        h->total_size != (uint64_t)h->vcpu_offset + (uint64_t)h->vcpu_count * h->vcpu_stride ||
        h->total_size > file_size)
        return fail(EPROTO, "%s: inconsistent layout (%u vCPUs, %llu bytes, file %zu)", path,
                    h->vcpu_count, (unsigned long long)h->total_size, file_size);
    return 0;
}

int vmic__plugin_attach(vmic__plugin_client *c, const char *path, int timeout_ms)
{
    memset(c, 0, sizeof *c);
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return fail(errno, "%s: %s (is QEMU running with -plugin libvmic-qemu.so?)", path,
                    strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(struct vmic_plugin_ctl)) {
        close(fd);
        return fail(EPROTO, "%s: too small for a control block", path);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return fail(errno, "%s: mmap: %s", path, strerror(errno));
    int r = vmic__plugin_check_layout(m, (size_t)st.st_size, path);
    if (r) {
        munmap(m, (size_t)st.st_size);
        return r;
    }
    c->ctl = m;
    c->size = (size_t)st.st_size;
    c->nvcpus = c->ctl->vcpu_count;
    c->vcpus = (struct vmic_plugin_vcpu *)((char *)m + c->ctl->vcpu_offset);
    for (uint32_t i = 0; i < c->nvcpus; i++)
        c->tail[i] = VMIC_LOAD(&c->vcpus[i].head); /* what came before is not ours */

    struct vmic_plugin_ctl *h = c->ctl;
    /* A client that just detached or died is let go within the plugin's
     * poll period: wait for that, not for a live one. */
    int64_t end = vmic__mono_ms() + timeout_ms;
    uint32_t other;
    while ((other = VMIC_LOAD(&h->attached_pid)) != 0) {
        if (vmic__mono_ms() >= end) {
            munmap(m, c->size);
            c->ctl = NULL;
            return fail(EBUSY, "%s: another vmic (pid %u) is attached to this QEMU", path, other);
        }
        usleep(2000);
    }
    VMIC_STORE(&h->client_pid, (uint32_t)getpid());
    uint32_t seq = __atomic_add_fetch(&h->attach_seq, 1, __ATOMIC_SEQ_CST);
    vmic_futex_wake(&h->attach_seq);
    for (;;) {
        uint32_t ack = VMIC_LOAD(&h->attach_ack);
        if (ack == seq)
            break;
        int64_t left = end - vmic__mono_ms();
        if (left <= 0) {
            vmic__plugin_detach(c);
            return fail(ETIMEDOUT, "%s: the plugin did not acknowledge the attach in %d ms",
                        path, timeout_ms);
        }
        struct timespec t = ms(left < 50 ? left : 50);
        vmic_futex_wait(&h->attach_ack, ack, &t);
    }
    if (VMIC_LOAD(&h->attached_pid) != (uint32_t)getpid()) {
        vmic__plugin_detach(c);
        return fail(EBUSY, "%s: the plugin did not take this process as its client", path);
    }
    for (uint32_t i = 0; i < c->nvcpus; i++) { /* a new client's ring starts empty */
        c->tail[i] = VMIC_LOAD(&c->vcpus[i].head);
        VMIC_STORE(&c->vcpus[i].tail, c->tail[i]);
    }
    vmic__plugin_counters(c, &c->base_events, &c->base_dropped);
    return 0;
}

void vmic__plugin_detach(vmic__plugin_client *c)
{
    if (!c->ctl)
        return;
    for (uint32_t i = 0; i < c->nvcpus; i++)
        if (c->held[i])
            vmic__plugin_answer(c, i);
    struct vmic_plugin_ctl *h = c->ctl;
    if (VMIC_LOAD(&h->attached_pid) == (uint32_t)getpid()) {
        VMIC_STORE(&h->client_pid, 0);
        __atomic_add_fetch(&h->attach_seq, 1, __ATOMIC_SEQ_CST);
        vmic_futex_wake(&h->attach_seq);
    }
    munmap(c->ctl, c->size);
    c->ctl = NULL;
}

static int take(vmic__plugin_client *c, struct vmic_plugin_event *ev, int max);

/* Everything ready now to fn, held vCPUs answered. A scan that finds
 * fewer than it could take has emptied every ring; the round limit (every
 * ring full, twice) keeps a guest that keeps producing from holding the
 * caller here. */
static void drain(vmic__plugin_client *c, vmic__plugin_event_fn *fn, void *arg)
{
    struct vmic_plugin_event ev[64];
    for (uint32_t round = 0; round < 2 * VMIC_PLUGIN_MAX_VCPUS * VMIC_PLUGIN_RING_RECORDS / 64;
         round++) {
        int k = take(c, ev, 64);
        for (int i = 0; i < k; i++) {
            if (fn)
                fn(arg, &ev[i]);
            if (c->held[ev[i].vcpu])
                vmic__plugin_answer(c, ev[i].vcpu);
        }
        if (k < 64)
            break;
    }
}

int vmic__plugin_watch(vmic__plugin_client *c, const uint64_t *pa, uint32_t n, enum vmic_plugin_mode mode,
                    const char *qmp_path, int timeout_ms, vmic__plugin_event_fn *fn, void *arg)
{
    struct vmic_plugin_ctl *h = c->ctl;
    if (n > h->max_watches)
        return fail(E2BIG, "%u watches: the plugin takes at most %u", n, h->max_watches);
    for (uint32_t i = 0; i < c->nvcpus; i++)
        if (c->held[i])
            return fail(EBUSY, "vCPU %u is held: answer it first (a reset waits for it)", i);
    if (n) /* pa may be NULL when every watch goes */
        memcpy(h->watches, pa, n * sizeof *pa);
    VMIC_STORE(&h->watch_count, n);
    VMIC_STORE(&h->mode, (uint32_t)mode);
    uint32_t gen = __atomic_add_fetch(&h->watch_gen, 1, __ATOMIC_SEQ_CST);
    int64_t start = vmic__mono_ms(), end = start + timeout_ms, kick_at = start + 20;
    vmic__plugin_kick kick = {.fd = -1};
    for (;;) {
        uint32_t applied = VMIC_LOAD(&h->watch_applied);
        int64_t t = vmic__mono_ms();
        /* A kick under way is seen through to cont's reply: QEMU drops the
         * commands it has not run yet when the client hangs up, and a
         * dropped cont would leave the guest paused. */
        if (kick.fd < 0 && applied == gen) {
            /* What the old set made before its reset is in the rings now
             * (the reset ran with every vCPU out of its callbacks): taken
             * here too, or its last records would be left behind. */
            drain(c, fn, arg);
            return 0;
        }
        if (t >= end + (kick.fd >= 0 ? 5000 : 0)) {
            vmic__plugin_kick_close(&kick);
            return fail(ETIMEDOUT, "the plugin did not apply the watches in %d ms%s", timeout_ms,
                        applied == gen ? " (QMP stop/cont unanswered)" : "");
        }
        if (qmp_path && kick.fd < 0 && t >= kick_at && applied != gen) {
            int r = vmic__plugin_kick_start(&kick, qmp_path);
            if (r)
                return fail(-r, "QMP %s: %s", qmp_path, strerror(-r));
            c->kicks++;
        }
        if (kick.fd >= 0) {
            int r = vmic__plugin_kick_poll(&kick);
            if (r < 0)
                return fail(-r, "QMP stop/cont on %s failed", qmp_path);
            if (r == 1)
                kick_at = vmic__mono_ms() + 200;
        }
        /* Events of the old set may arrive meanwhile: taken and answered
         * here, since a held vCPU would stall the reset. */
        drain(c, fn, arg);
        struct timespec ts = ms(5);
        vmic_futex_wait(&h->watch_applied, applied, &ts);
    }
}

/* What is ready now, without sleeping. */
static int take(vmic__plugin_client *c, struct vmic_plugin_event *ev, int max)
{
    int n = 0;
    for (uint32_t k = 0; k < c->nvcpus && n < max; k++) {
        uint32_t i = (c->next_vcpu + k) % c->nvcpus;
        struct vmic_plugin_vcpu *v = &c->vcpus[i];
        if (!c->held[i] && VMIC_LOAD(&v->slot_state) == VMIC_PLUGIN_SLOT_POSTED) {
            ev[n] = v->slot;
            ev[n++].vcpu = i; /* the slot's index, not what the record claims */
            c->held[i] = true;
            continue;
        }
        uint32_t head = VMIC_LOAD(&v->head), t = c->tail[i];
        if (head - t > VMIC_PLUGIN_RING_RECORDS) /* not a head a plugin could write */
            continue;
        if (head == t)
            continue;
        while (t != head && n < max) {
            ev[n] = v->ring[t & (VMIC_PLUGIN_RING_RECORDS - 1)];
            ev[n++].vcpu = i;
            t++;
        }
        c->tail[i] = t;
        VMIC_STORE(&v->tail, t);
        VMIC_FENCE();
        if (VMIC_LOAD(&v->producer_waiting))
            vmic_futex_wake(&v->tail);
    }
    c->next_vcpu = (c->next_vcpu + 1) % c->nvcpus;
    c->received += (uint64_t)n;
    return n;
}

int vmic__plugin_poll(vmic__plugin_client *c, struct vmic_plugin_event *ev, int max, int timeout_ms)
{
    struct vmic_plugin_ctl *h = c->ctl;
    int64_t end = timeout_ms < 0 ? INT64_MAX : vmic__mono_ms() + timeout_ms;
    for (;;) {
        uint32_t bell = VMIC_LOAD(&h->doorbell);
        int n = take(c, ev, max);
        if (n > 0)
            return n;
        /* A short spin on the doorbell first: the next event of a busy
         * guest usually comes sooner than a sleep and a wake-up take. */
        for (uint32_t spin = 0; spin < VMIC_PLUGIN_SPIN && timeout_ms != 0; spin++) {
            if (VMIC_LOAD(&h->doorbell) != bell)
                break;
            vmic_spin_step(spin);
        }
        if (VMIC_LOAD(&h->doorbell) != bell)
            continue;
        int64_t left = end - vmic__mono_ms();
        if (left <= 0)
            return 0;
        /* The doorbell moved since it was read if anything was posted:
         * then the wait returns at once, so no wake-up is lost. */
        VMIC_STORE(&h->client_sleeping, 1);
        VMIC_FENCE();
        struct timespec t = ms(left > 1000 ? 1000 : left);
        vmic_futex_wait(&h->doorbell, bell, &t);
        VMIC_STORE(&h->client_sleeping, 0);
    }
}

void vmic__plugin_answer(vmic__plugin_client *c, uint32_t vcpu)
{
    if (vcpu >= c->nvcpus || !c->held[vcpu])
        return;
    struct vmic_plugin_vcpu *v = &c->vcpus[vcpu];
    c->held[vcpu] = false;
    VMIC_STORE(&v->slot_state, VMIC_PLUGIN_SLOT_ANSWERED);
    VMIC_FENCE();
    if (VMIC_LOAD(&v->slot_waiting))
        vmic_futex_wake(&v->slot_state);
}

void vmic__plugin_counters(const vmic__plugin_client *c, uint64_t *events, uint64_t *dropped)
{
    uint64_t e = 0;
    for (uint32_t i = 0; i < c->nvcpus; i++)
        e += VMIC_LOAD(&c->vcpus[i].events);
    *events = e - c->base_events;
    *dropped = VMIC_LOAD(&c->ctl->dropped) - c->base_dropped;
}
