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
    /* Nor does a dead client's view survive it: every vCPU in view 0. */
    for (uint32_t i = 0; i < VMIC_PLUGIN_MAX_VCPUS; i++)
        VMIC_STORE(&h->vcpu_view[i], 0);
    VMIC_STORE(&h->nx_count, 0);
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

static int take(vmic__plugin_client *c, struct vmic_plugin_record *out, int max);

/* Everything ready now to fn, held vCPUs answered. A scan that finds
 * fewer than it could take has emptied every ring; the round limit (every
 * ring full, twice) keeps a guest that keeps producing from holding the
 * caller here. */
static void drain(vmic__plugin_client *c, vmic__plugin_event_fn *fn, void *arg)
{
    static __thread struct vmic_plugin_record rec[16];
    for (uint32_t round = 0; round < 2 * VMIC_PLUGIN_MAX_VCPUS * VMIC_PLUGIN_RING_RECORDS / 16;
         round++) {
        int k = take(c, rec, 16);
        for (int i = 0; i < k; i++) {
            if (fn)
                fn(arg, &rec[i]);
            vmic__plugin_done(c, &rec[i]);
        }
        if (k < 16)
            break;
    }
}

void vmic__plugin_capture(vmic__plugin_client *c, const vmic_capture_spec_t *spec)
{
    struct vmic_plugin_ctl *h = c->ctl;
    if (!spec) {
        VMIC_STORE(&h->nprograms, 0);
        return;
    }
    /* The public spec and the block's have the same fields, one by one:
     * the block is the plugin's ABI, the spec the library's. */
    h->levels = spec->levels;
    h->kernel_root = spec->kernel_root.addr;
    for (uint32_t v = 0; v < VMIC_PLUGIN_MAX_VCPUS && v < VMIC_CAPTURE_MAX_VCPUS; v++)
        for (uint32_t k = 0; k < VMIC_PLUGIN_ANCHORS; k++)
            h->anchors[v][k] = spec->anchors[v][k].addr;
    uint32_t np = spec->nprograms < VMIC_PLUGIN_MAX_PROGRAMS ? spec->nprograms
                                                              : VMIC_PLUGIN_MAX_PROGRAMS;
    for (uint32_t i = 0; i < np; i++) {
        const vmic_capture_program_t *from = &spec->programs[i];
        struct vmic_plugin_program *to = &h->programs[i];
        to->nops = from->nops < VMIC_PLUGIN_MAX_OPS ? from->nops : VMIC_PLUGIN_MAX_OPS;
        to->flags = from->flags & VMIC_CAPTURE_HOLD ? VMIC_PLUGIN_PROGRAM_HOLD : 0;
        for (uint32_t k = 0; k < to->nops; k++)
            to->ops[k] = (struct vmic_plugin_op){from->ops[k].op, from->ops[k].dst,
                                                 from->ops[k].a, from->ops[k].root,
                                                 from->ops[k].len, from->ops[k].imm};
    }
    h->nprograms = np;
    for (uint32_t nr = 0; nr < VMIC_PLUGIN_NR_MAX && nr < VMIC_CAPTURE_NR_MAX; nr++) {
        const vmic_capture_nr_t *from = &spec->nrs[nr];
        struct vmic_plugin_nr *to = &h->nrs[nr];
        for (int i = 0; i < 6; i++)
            to->arg[i] = (struct vmic_plugin_arg){
                {from->arg[i].kind[0], from->arg[i].kind[1]}, from->arg[i].len_arg, 0,
                {from->arg[i].max[0], from->arg[i].max[1]}};
        to->hold = (from->hold & VMIC_CAPTURE_HOLD_ENTRY ? VMIC_PLUGIN_NR_HOLD_ENTRY : 0) |
                   (from->hold & VMIC_CAPTURE_HOLD_RETURN ? VMIC_PLUGIN_NR_HOLD_RETURN : 0);
    }
}

void vmic__plugin_nx(vmic__plugin_client *c, const uint64_t *gfn, const uint64_t *views,
                     uint32_t n)
{
    struct vmic_plugin_ctl *h = c->ctl;
    if (n > VMIC_PLUGIN_MAX_NX)
        n = VMIC_PLUGIN_MAX_NX;
    if (n) {
        memcpy(h->nx_gfn, gfn, n * sizeof *gfn);
        memcpy(h->nx_views, views, n * sizeof *views);
    }
    VMIC_STORE(&h->nx_count, n);
}

void vmic__plugin_set_view(vmic__plugin_client *c, uint32_t vcpu, uint32_t view)
{
    if (vcpu < c->nvcpus)
        VMIC_STORE(&c->ctl->vcpu_view[vcpu], view);
}

int vmic__plugin_watch(vmic__plugin_client *c, const uint64_t *pa, const uint8_t *programs,
                       uint32_t n, enum vmic_plugin_mode mode, const char *qmp_path,
                       int timeout_ms, vmic__plugin_event_fn *fn, void *arg)
{
    struct vmic_plugin_ctl *h = c->ctl;
    if (n > h->max_watches)
        return fail(E2BIG, "%u watches: the plugin takes at most %u", n, h->max_watches);
    for (uint32_t i = 0; i < c->nvcpus; i++)
        if (c->held[i])
            return fail(EBUSY, "vCPU %u is held: answer it first (a reset waits for it)", i);
    if (n) /* pa may be NULL when every watch goes */
        memcpy(h->watches, pa, n * sizeof *pa);
    for (uint32_t i = 0; i < n; i++)
        h->watch_program[i] = programs ? programs[i] : 0;
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

/* The held sync event of vCPU i, if one is posted and not yet taken. */
static bool take_slot(vmic__plugin_client *c, uint32_t i, struct vmic_plugin_record *out)
{
    struct vmic_plugin_vcpu *v = &c->vcpus[i];
    if (c->held[i] || VMIC_LOAD(&v->slot_state) != VMIC_PLUGIN_SLOT_POSTED)
        return false;
    memset(out, 0, sizeof out->ev + sizeof out->gseq + sizeof out->program + sizeof out->data_len);
    out->ev = v->slot;
    out->ev.vcpu = i; /* the slot's index, not what the record claims */
    out->ev.flags = (out->ev.flags & VMIC_PLUGIN_RECORD_FETCH) | VMIC_PLUGIN_RECORD_SLOT;
    c->held[i] = true;
    return true;
}

/*
 * What is ready now, without sleeping: ring records of every vCPU merged in
 * the order the plugin made them (gseq), then posted sync events. A task
 * that moves to another vCPU made its records on the old one before it
 * moved, so the merge keeps each task's own records in order.
 */
static int take(vmic__plugin_client *c, struct vmic_plugin_record *out, int max)
{
    uint32_t head[VMIC_PLUGIN_MAX_VCPUS];
    for (uint32_t i = 0; i < c->nvcpus; i++) {
        head[i] = VMIC_LOAD(&c->vcpus[i].head);
        if (head[i] - c->tail[i] > VMIC_PLUGIN_RING_RECORDS) /* not a head a plugin writes */
            head[i] = c->tail[i];
    }
    int n = 0;
    while (n < max) {
        int best = -1;
        uint64_t best_gseq = 0;
        for (uint32_t i = 0; i < c->nvcpus; i++) {
            if (c->tail[i] == head[i])
                continue;
            uint64_t g = c->vcpus[i].ring[c->tail[i] & (VMIC_PLUGIN_RING_RECORDS - 1)].gseq;
            if (best < 0 || g < best_gseq)
                best = (int)i, best_gseq = g;
        }
        if (best < 0)
            break;
        struct vmic_plugin_record *r = &out[n++];
        const struct vmic_plugin_record *in =
            &c->vcpus[best].ring[c->tail[best] & (VMIC_PLUGIN_RING_RECORDS - 1)];
        /* A plain event is its header: the 1 KiB copy only for a capture. */
        r->ev = in->ev;
        r->gseq = in->gseq;
        r->program = in->program;
        r->data_len = in->data_len < VMIC_PLUGIN_DATA ? in->data_len : VMIC_PLUGIN_DATA;
        if (r->ev.flags & VMIC_PLUGIN_RECORD_CAPTURE) {
            memcpy(r->r, in->r, sizeof r->r);
            memcpy(r->data, in->data, r->data_len);
        } else {
            r->program = 0;
            r->data_len = 0;
        }
        r->ev.vcpu = (uint32_t)best;
        r->ev.flags &= ~VMIC_PLUGIN_RECORD_SLOT; /* the client's mark, not the plugin's */
        c->tail[best]++;
    }
    for (uint32_t i = 0; i < c->nvcpus; i++) {
        struct vmic_plugin_vcpu *v = &c->vcpus[i];
        if (VMIC_LOAD(&v->tail) != c->tail[i]) {
            VMIC_STORE(&v->tail, c->tail[i]);
            VMIC_FENCE();
            if (VMIC_LOAD(&v->producer_waiting))
                vmic_futex_wake(&v->tail);
        }
        /* A sync event comes after the records its vCPU made before it. */
        if (n < max && c->tail[i] == VMIC_LOAD(&v->head) && take_slot(c, i, &out[n]))
            n++;
    }
    c->received += (uint64_t)n;
    return n;
}

int vmic__plugin_poll(vmic__plugin_client *c, struct vmic_plugin_record *ev, int max, int timeout_ms)
{
    struct vmic_plugin_ctl *h = c->ctl;
    int64_t end = timeout_ms < 0 ? INT64_MAX : vmic__mono_ms() + timeout_ms;
    for (;;) {
        uint32_t bell = VMIC_LOAD(&h->doorbell);
        int n = take(c, ev, max);
        if (n > 0)
            return n;
        /* A short spin on the doorbell first: the next event of a busy
         * guest usually comes sooner than a sleep and a wake-up take. Not
         * with capture programs: no vCPU waits for their records, and the
         * plugin wakes this side only now and then (plugin_deliver.c), so
         * a sleep of at most 2 ms takes their place. */
        bool capture = VMIC_LOAD(&h->nprograms) > 0;
        for (uint32_t spin = 0; spin < VMIC_PLUGIN_SPIN && timeout_ms != 0 && !capture; spin++) {
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
        int64_t cap = capture ? 2 : 1000;
        struct timespec t = ms(left > cap ? cap : left);
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

void vmic__plugin_done(vmic__plugin_client *c, const struct vmic_plugin_record *r)
{
    uint32_t vcpu = r->ev.vcpu;
    if (vcpu >= c->nvcpus)
        return;
    if (r->ev.flags & VMIC_PLUGIN_RECORD_SLOT) {
        vmic__plugin_answer(c, vcpu);
        return;
    }
    if (!(r->ev.flags & VMIC_PLUGIN_RECORD_HELD))
        return;
    struct vmic_plugin_vcpu *v = &c->vcpus[vcpu];
    VMIC_STORE(&v->answered, (uint32_t)r->ev.seq);
    VMIC_FENCE();
    if (VMIC_LOAD(&v->held_waiting))
        vmic_futex_wake(&v->answered);
}

void vmic__plugin_counters(const vmic__plugin_client *c, uint64_t *events, uint64_t *dropped)
{
    uint64_t e = 0;
    for (uint32_t i = 0; i < c->nvcpus; i++)
        e += VMIC_LOAD(&c->vcpus[i].events);
    *events = e - c->base_events;
    *dropped = VMIC_LOAD(&c->ctl->dropped) - c->base_dropped;
}
