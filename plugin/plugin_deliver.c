/*
 * Handing one event to the client: the sync slot (the vCPU waits for the
 * answer) or the ring (the vCPU waits only for room). A vCPU waits on a
 * futex in the control block and nothing else: it wakes when the client
 * answers or consumes, or when the monitor thread saw the client die
 * (vp_release_waiters), never on a timeout. Only a dead or detached client
 * makes an event dropped, and every drop is counted.
 */
#include <string.h>
#include <time.h>

#include "futex.h"
#include "plugin_internal.h"

static bool client_alive(struct plugin *p)
{
    return __atomic_load_n(&p->alive, __ATOMIC_ACQUIRE);
}

static void ring_doorbell(struct vmic_plugin_ctl *c)
{
    __atomic_fetch_add(&c->doorbell, 1, __ATOMIC_SEQ_CST);
    if (VMIC_LOAD(&c->client_sleeping))
        vmic_futex_wake(&c->doorbell);
}

static void drop(struct plugin *p, struct vmic_plugin_vcpu *v)
{
    __atomic_fetch_add(&v->dropped, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&p->ctl->dropped, 1, __ATOMIC_RELAXED);
}

static void deliver_sync(struct plugin *p, struct vmic_plugin_vcpu *v,
                         const struct vmic_plugin_event *ev)
{
    v->slot = *ev;
    VMIC_STORE(&v->slot_state, VMIC_PLUGIN_SLOT_POSTED);
    ring_doorbell(p->ctl);
    for (uint32_t spin = 0; spin < VMIC_PLUGIN_SPIN; spin++) {
        if (VMIC_LOAD(&v->slot_state) != VMIC_PLUGIN_SLOT_POSTED)
            break;
        vmic_spin_step(spin);
    }
    for (;;) {
        uint32_t s = VMIC_LOAD(&v->slot_state);
        if (s == VMIC_PLUGIN_SLOT_ANSWERED)
            break;
        if (s == VMIC_PLUGIN_SLOT_RELEASED || !client_alive(p)) {
            drop(p, v);
            break;
        }
        /* Whatever value a client left there is waited on as it is: no
         * spinning on a word that never equals what we expect. */
        VMIC_STORE(&v->slot_waiting, 1);
        VMIC_FENCE();
        if (VMIC_LOAD(&v->slot_state) == s)
            vmic_futex_wait(&v->slot_state, s, NULL);
        VMIC_STORE(&v->slot_waiting, 0);
    }
    VMIC_STORE(&v->slot_state, VMIC_PLUGIN_SLOT_EMPTY);
}

/* Room for one record in the ring: false if the client died meanwhile. */
static bool ring_room(struct plugin *p, struct vmic_plugin_vcpu *v, struct vcpu_private *vp)
{
    const uint32_t size = VMIC_PLUGIN_RING_RECORDS;
    for (;;) {
        uint32_t tail = VMIC_LOAD(&v->tail);
        /* A tail ahead of head (a confused client) reads as full: the vCPU
         * waits rather than overwrite what may not have been read. */
        if (vp->head - tail < size)
            break;
        if (!client_alive(p))
            return false;
        VMIC_STORE(&v->producer_waiting, 1);
        VMIC_FENCE();
        if (VMIC_LOAD(&v->tail) == tail && client_alive(p)) {
            v->ring_full_waits++;
            vmic_futex_wait(&v->tail, tail, NULL);
        }
        VMIC_STORE(&v->producer_waiting, 0);
    }
    return true;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The record at head is complete: the client may take it. Lazily, for a
 * capture record the vCPU does not wait for, the client is woken only
 * when the ring fills up (an eighth of it) or a millisecond has passed
 * since this vCPU last woke it. A wake-up is a system call on the vCPU's
 * thread (~2 us under TCG's load); per record it would cost more than the
 * capture itself. The client, for its part, sleeps at most 2 ms while
 * capture programs are set (plugin_client.c), so a lone record waits no
 * longer than that.
 */
static void publish(struct plugin *p, struct vmic_plugin_vcpu *v, struct vcpu_private *vp,
                    bool lazily)
{
    vp->head++;
    VMIC_STORE(&v->head, vp->head);
    if (!lazily) {
        ring_doorbell(p->ctl);
        return;
    }
    struct vmic_plugin_ctl *c = p->ctl;
    __atomic_fetch_add(&c->doorbell, 1, __ATOMIC_SEQ_CST);
    if (!VMIC_LOAD(&c->client_sleeping))
        return;
    uint64_t now = mono_ns();
    if (vp->head - VMIC_LOAD(&v->tail) >= VMIC_PLUGIN_RING_RECORDS / 8 ||
        now - vp->last_wake_ns >= 1000000u) {
        vp->last_wake_ns = now;
        vmic_futex_wake(&c->doorbell);
    }
}

static void deliver_ring(struct plugin *p, struct vmic_plugin_vcpu *v, struct vcpu_private *vp,
                         const struct vmic_plugin_event *ev)
{
    if (!ring_room(p, v, vp)) {
        drop(p, v);
        return;
    }
    struct vmic_plugin_record *rec = &v->ring[vp->head & (VMIC_PLUGIN_RING_RECORDS - 1)];
    rec->ev = *ev;
    rec->gseq = __atomic_add_fetch(&p->ctl->gseq, 1, __ATOMIC_RELAXED);
    rec->program = 0;
    rec->data_len = 0;
    publish(p, v, vp, false);
}

/* A held record: the vCPU waits until the client answered its seq (or died). */
static void wait_answer(struct plugin *p, struct vmic_plugin_vcpu *v, uint32_t seq)
{
    for (uint32_t spin = 0; spin < VMIC_PLUGIN_SPIN; spin++) {
        if ((int32_t)(VMIC_LOAD(&v->answered) - seq) >= 0)
            return;
        vmic_spin_step(spin);
    }
    for (;;) {
        uint32_t a = VMIC_LOAD(&v->answered);
        if ((int32_t)(a - seq) >= 0 || !client_alive(p))
            return;
        VMIC_STORE(&v->held_waiting, 1);
        VMIC_FENCE();
        if (VMIC_LOAD(&v->answered) == a && client_alive(p))
            vmic_futex_wait(&v->answered, a, NULL);
        VMIC_STORE(&v->held_waiting, 0);
    }
}

/* A record with what the watch's capture program copied, built in place
 * in the ring: the copies are made at this instant, the vCPU goes on
 * unless the program or the syscall asked to hold it. */
static void deliver_capture(struct plugin *p, struct vmic_plugin_vcpu *v, struct vcpu_private *vp,
                            const struct vmic_plugin_event *ev, uint32_t program)
{
    if (!ring_room(p, v, vp)) {
        drop(p, v);
        return;
    }
    struct vmic_plugin_record *rec = &v->ring[vp->head & (VMIC_PLUGIN_RING_RECORDS - 1)];
    rec->ev = *ev;
    rec->data_len = 0;
    memset(rec->r, 0, sizeof rec->r);
    bool hold = vp_capture_run(p, &p->capture, program - 1, ev->vcpu, rec);
    if (rec->ev.flags & VMIC_PLUGIN_RECORD_PARTIAL)
        __atomic_fetch_add(&p->ctl->capture_partial, 1, __ATOMIC_RELAXED);
    if (hold)
        rec->ev.flags |= VMIC_PLUGIN_RECORD_HELD;
    rec->gseq = __atomic_add_fetch(&p->ctl->gseq, 1, __ATOMIC_RELAXED);
    uint32_t seq = (uint32_t)rec->ev.seq;
    publish(p, v, vp, !hold);
    if (hold)
        wait_answer(p, v, seq);
}

/* The event's vCPU area, with the event counted as made and numbered;
 * NULL when it is dropped (no such vCPU, or no client). */
static struct vmic_plugin_vcpu *event_begin(struct plugin *p, unsigned int vcpu,
                                            struct vmic_plugin_event *ev)
{
    if (vcpu >= p->nvcpus) {
        __atomic_fetch_add(&p->ctl->dropped, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    struct vmic_plugin_vcpu *v = &p->vcpus[vcpu];
    ev->seq = ++p->vp[vcpu].seq;
    ev->vcpu = vcpu;
    __atomic_fetch_add(&v->events, 1, __ATOMIC_RELAXED);
    if (!client_alive(p)) {
        drop(p, v);
        return NULL;
    }
    return v;
}

void vp_deliver(struct plugin *p, unsigned int vcpu, uint64_t pc, uint64_t pa, uint32_t program)
{
    struct vmic_plugin_event ev = {.pc = pc, .pa = pa};
    struct vmic_plugin_vcpu *v = event_begin(p, vcpu, &ev);
    if (!v)
        return;
    struct vcpu_private *vp = &p->vp[vcpu];
    if (program)
        deliver_capture(p, v, vp, &ev, program);
    else if (p->mode == VMIC_PLUGIN_MODE_RING)
        deliver_ring(p, v, vp, &ev);
    else
        deliver_sync(p, v, &ev);
}

/* Always through the slot: the client decides how the vCPU goes on (its
 * view may change with the answer), so the vCPU waits for it. */
void vp_deliver_fetch(struct plugin *p, unsigned int vcpu, uint64_t pc, uint64_t pa,
                      uint32_t view)
{
    struct vmic_plugin_event ev = {.pc = pc, .pa = pa, .flags = VMIC_PLUGIN_RECORD_FETCH,
                                   .view = view};
    struct vmic_plugin_vcpu *v = event_begin(p, vcpu, &ev);
    if (!v)
        return;
    __atomic_fetch_add(&p->ctl->fetches, 1, __ATOMIC_RELAXED);
    deliver_sync(p, v, &ev);
}

/* The client is gone: change every word a vCPU may sleep on, then wake it.
 * Changing the word matters: a vCPU that checked "alive" just before the
 * client died and is about to sleep finds the value moved and returns. */
void vp_release_waiters(struct plugin *p)
{
    for (uint32_t i = 0; i < p->nvcpus; i++) {
        struct vmic_plugin_vcpu *v = &p->vcpus[i];
        uint32_t posted = VMIC_PLUGIN_SLOT_POSTED;
        __atomic_compare_exchange_n(&v->slot_state, &posted, VMIC_PLUGIN_SLOT_RELEASED, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
        __atomic_fetch_add(&v->tail, 1, __ATOMIC_ACQ_REL);
        __atomic_fetch_add(&v->answered, 1, __ATOMIC_ACQ_REL);
        vmic_futex_wake(&v->slot_state);
        vmic_futex_wake(&v->tail);
        vmic_futex_wake(&v->answered);
    }
}
