/*
 * Exec watches through vmic's QEMU plugin (the exec_watches group): each
 * execution of a watched guest-physical instruction is an event the
 * session answers while that vCPU alone waits, in the plugin's sync mode.
 * No gdbstub stop, so the rest of the guest runs on.
 *
 * Threads. The plugin thread (alive while a session is attached and the
 * plugin is in use) takes held events from the control block, hands each
 * to the session and answers it. It never takes q->lock: the session's
 * end pauses the VM through the gdbstub with q->lock held, and QEMU cannot
 * stop while a vCPU waits here, so this thread must go on answering (the
 * session, ending, takes no more events: they are let go at once).
 * pl->lock guards the client and the watch set; it is not held while the
 * session has an event, so a handler may change watches.
 *
 * When watches change. Callbacks bind at translation, so a new set is a
 * plugin reset (plugin_client.c). The set is applied when a session
 * attaches, and by the plugin thread after a change, never while a vCPU is
 * held (the reset waits for held vCPUs). On a busy guest the plugin may run
 * no callback in which to apply it: QMP stop + cont gives it one, but only
 * while the user wants the VM running (a cont would resume a paused VM).
 *
 * Undoing. Reset and close detach from the block: the plugin then lets
 * held vCPUs go and drops its watches by itself, and so does it when this
 * process dies however (it watches a pidfd): the guest runs on untraced.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu.h"

#define PLUGIN_POLL_MS 20      /* how long the thread sleeps between looks at quit */
#define PLUGIN_BATCH 16
#define PLUGIN_APPLY_MS 3000   /* a running guest applies a new set in ~30 ms */

static qemu_plugin_events_t *pl_of(qemu_driver_t *q)
{
    return &q->pl;
}

void qemu_plugin_events_init(qemu_driver_t *q)
{
    qemu_plugin_events_t *pl = pl_of(q);
    memset(pl, 0, sizeof *pl);
    pthread_mutex_init(&pl->lock, NULL);
}

/* ---- the watch set ------------------------------------------------------------------ */

static int want_find(const qemu_plugin_events_t *pl, uint64_t pa)
{
    for (uint32_t i = 0; i < pl->nwant; i++)
        if (pl->want[i] == pa)
            return (int)i;
    return -1;
}

static vmic_status no_watch_at(const qemu_driver_t *q, vmic_pa_t pa)
{
    return vmic_fail(VMIC_E_NOTFOUND, "%s: no exec watch at pa 0x%llx", q->info.source,
                     (unsigned long long)pa.addr);
}

vmic_status qemu_set_exec_watch(vmic_driver *d, vmic_pa_t pa, bool enable)
{
    qemu_driver_t *q = qemu_of(d);
    qemu_plugin_events_t *pl = pl_of(q);
    vmic_status s = VMIC_OK;

    pthread_mutex_lock(&pl->lock);
    int i = want_find(pl, pa.addr);
    if (enable && i >= 0) {
        s = vmic_fail(VMIC_E_BUSY, "%s: an exec watch at pa 0x%llx is set already",
                      q->info.source, (unsigned long long)pa.addr);
    } else if (enable && pl->nwant == VMIC_PLUGIN_MAX_WATCHES) {
        s = vmic_fail(VMIC_E_RANGE, "%s: the plugin takes at most %u exec watches",
                      q->info.source, VMIC_PLUGIN_MAX_WATCHES);
    } else if (enable) {
        pl->want_program[pl->nwant] = 0;
        pl->want[pl->nwant++] = pa.addr;
        pl->dirty = true;
    } else if (i < 0) {
        s = no_watch_at(q, pa);
    } else {
        pl->want[i] = pl->want[--pl->nwant];
        pl->want_program[i] = pl->want_program[pl->nwant];
        pl->dirty = true;
    }
    pthread_mutex_unlock(&pl->lock);
    return s;
}

vmic_status qemu_exec_capture(vmic_driver *d, const vmic_capture_spec_t *spec)
{
    qemu_driver_t *q = qemu_of(d);
    qemu_plugin_events_t *pl = pl_of(q);
    vmic_capture_spec_t *copy = malloc(sizeof *copy);
    if (!copy)
        return vmic_fail(VMIC_E_NOMEM, "%s: no memory for the capture programs", q->info.source);
    *copy = *spec;
    pthread_mutex_lock(&pl->lock);
    free(pl->capture);
    pl->capture = copy;
    pl->dirty = true;
    pthread_mutex_unlock(&pl->lock);
    return VMIC_OK;
}

vmic_status qemu_exec_watch_program(vmic_driver *d, vmic_pa_t pa, uint32_t program)
{
    qemu_driver_t *q = qemu_of(d);
    qemu_plugin_events_t *pl = pl_of(q);
    vmic_status s = VMIC_OK;
    pthread_mutex_lock(&pl->lock);
    int i = want_find(pl, pa.addr);
    if (i < 0)
        s = no_watch_at(q, pa);
    else if (program > (pl->capture ? pl->capture->nprograms : 0) ||
             program > VMIC_CAPTURE_MAX_PROGRAMS)
        s = vmic_fail(VMIC_E_INVAL, "%s: capture program %u is not set", q->info.source,
                      program);
    else if (pl->want_program[i] != program) {
        pl->want_program[i] = (uint8_t)program;
        pl->dirty = true;
    }
    pthread_mutex_unlock(&pl->lock);
    return s;
}

/* ---- events ------------------------------------------------------------------------- */

/* A record's items, checked: each inside data_len, at most the table's. */
static void capture_of(const struct vmic_plugin_record *r, vmic_capture_t *out)
{
    out->program = r->program;
    out->partial = (r->ev.flags & VMIC_PLUGIN_RECORD_PARTIAL) != 0;
    out->held = (r->ev.flags & VMIC_PLUGIN_RECORD_HELD) != 0;
    memcpy(out->r, r->r, sizeof out->r);
    out->nitems = 0;
    const uint32_t head = sizeof(struct vmic_plugin_item);
    uint32_t end = r->data_len < VMIC_PLUGIN_DATA ? r->data_len : VMIC_PLUGIN_DATA;
    for (uint32_t at = 0; at + head <= end && out->nitems < VMIC_CAPTURE_MAX_ITEMS;) {
        struct vmic_plugin_item it;
        memcpy(&it, r->data + at, head);
        uint32_t len = it.len <= end - at - head ? it.len : end - at - head;
        out->items[out->nitems++] = (vmic_capture_item_t){
            .va = vmic_va(it.va), .want = it.want, .len = len, .status = it.status,
            .tag = it.tag, .bytes = r->data + at + head};
        at += head + ((len + 7u) & ~7u);
    }
}

/* What a record says happened: an instruction fetched from a page without
 * X in the vCPU's view (views.c), or an exec watch's instruction. */
static void event_of(const struct vmic_plugin_event *e, vmic_event_t *ev)
{
    ev->vcpu = e->vcpu;
    ev->flags = VMIC_EVENT_NO_REGS;
    if (e->flags & VMIC_PLUGIN_RECORD_FETCH) {
        ev->kind = VMIC_EVENT_MEMORY_ACCESS;
        ev->view = e->view < VMIC_PLUGIN_MAX_VIEWS ? (vmic_view_t)e->view : VMIC_VIEW_DEFAULT;
        ev->memory.pa = vmic_pa(e->pa);
        ev->memory.gfn = vmic_pa_to_gfn(ev->memory.pa);
        ev->memory.va = vmic_va(e->pc);
        ev->memory.va_valid = true;
        ev->memory.access = VMIC_ACCESS_X;
        return;
    }
    ev->kind = VMIC_EVENT_BREAKPOINT;
    ev->breakpoint.va = vmic_va(e->pc);
    ev->breakpoint.pa = vmic_pa(e->pa);
}

/* One record to the session; the vCPU (if held) is let go by the caller. */
static void deliver(qemu_driver_t *q, qemu_plugin_events_t *pl,
                    const struct vmic_plugin_record *rec)
{
    const struct vmic_plugin_event *e = &rec->ev;
    vmic_event_t ev;
    vmic_event_response_t resp;
    vmic_capture_t cap;

    memset(&ev, 0, sizeof ev);
    event_of(e, &ev);
    if (e->flags & VMIC_PLUGIN_RECORD_CAPTURE) {
        capture_of(rec, &cap);
        ev.capture = &cap;
        ev.flags |= VMIC_EVENT_CAPTURE;
    }
    memset(&resp, 0, sizeof resp);
    resp.action = VMIC_ACTION_CONTINUE;

    pthread_mutex_lock(&pl->lock);
    vmic_event_sink_t sink = pl->sink;
    ev.seq = ++pl->seq;
    if (ev.kind == VMIC_EVENT_BREAKPOINT && ev.vcpu < VMIC_PLUGIN_MAX_VCPUS)
        ev.view = pl->vcpu_view[ev.vcpu];
    pthread_mutex_unlock(&pl->lock);
    /* Not taken (the session is ending): the instruction runs untraced. */
    bool taken = sink.deliver && sink.deliver(sink.ctx, &ev, &resp);
    __atomic_add_fetch(taken ? &pl->stats.delivered : &pl->stats.let_go, 1, __ATOMIC_RELAXED);
    /* The instruction runs whatever the answer (respond.c checked it); a
     * Continue into another view moves the vCPU there for what follows.
     * FastSinglestep's view is for the one instruction, which runs now
     * anyway: the vCPU's view stays. */
    if (taken && resp.set_view && resp.action == VMIC_ACTION_CONTINUE)
        qemu_view_switch_vcpu(q, ev.vcpu, resp.view);
}

/* Events that come while a new set is applied (the old set's) go to the
 * session too: the caller is inside the plugin client, which answers them. */
static void deliver_early(void *arg, const struct vmic_plugin_record *e)
{
    qemu_driver_t *q = arg;
    deliver(q, &q->pl, e);
}

/* Under pl->lock, no vCPU held: the wanted set into the plugin. */
static vmic_status apply(qemu_driver_t *q, qemu_plugin_events_t *pl)
{
    /* QMP stop + cont only where a cont changes nothing the user chose. */
    const char *qmp = !q->qmp_ep.tcp && pl->may_kick ? q->qmp_ep.path : NULL;
    uint64_t set[VMIC_PLUGIN_MAX_WATCHES];
    uint8_t programs[VMIC_PLUGIN_MAX_WATCHES];
    static __thread uint64_t nx_gfn[VMIC_PLUGIN_MAX_NX], nx_views[VMIC_PLUGIN_MAX_NX];
    uint32_t n = pl->nwant;

    memcpy(set, pl->want, n * sizeof set[0]);
    memcpy(programs, pl->want_program, n);
    vmic__plugin_capture(&pl->c, pl->capture); /* NULL: none */
    /* A page in several views is several entries: the plugin merges them. */
    for (uint32_t i = 0; i < pl->nnx; i++) {
        nx_gfn[i] = pl->nx[i].gfn;
        nx_views[i] = 1ull << pl->nx[i].view;
    }
    vmic__plugin_nx(&pl->c, nx_gfn, nx_views, pl->nnx);
    pl->dirty = false;
    uint64_t t0 = vmic__mono_ms();
    pthread_mutex_unlock(&pl->lock);
    /* Unlocked: the old set's events reach the session meanwhile, and its
     * handler may change watches (which only marks the set dirty again). */
    int r = vmic__plugin_watch(&pl->c, set, programs, n, VMIC_PLUGIN_MODE_SYNC, qmp,
                               PLUGIN_APPLY_MS, deliver_early, q);
    pthread_mutex_lock(&pl->lock);
    if (r == 0) {
        uint32_t ms = (uint32_t)(vmic__mono_ms() - t0);
        pl->stats.applies++;
        pl->stats.apply_ms_last = ms;
        if (ms > pl->stats.apply_ms_max)
            pl->stats.apply_ms_max = ms;
        return VMIC_OK;
    }
    pl->dirty = true; /* tried again at the next look */
    return vmic_fail(r == -ETIMEDOUT ? VMIC_E_TIMEOUT : VMIC_E_IO, "%s: exec watches: %s",
                     q->info.source, vmic__plugin_error());
}

static void *plugin_thread(void *arg)
{
    qemu_driver_t *q = arg;
    qemu_plugin_events_t *pl = pl_of(q);
    static __thread struct vmic_plugin_record ev[PLUGIN_BATCH];

    while (!__atomic_load_n(&pl->quit, __ATOMIC_ACQUIRE)) {
        /* Not while the VM is paused: no vCPU runs a callback to apply
         * it in, and the QMP cont that would give one would resume it. */
        pthread_mutex_lock(&pl->lock);
        if (pl->dirty && pl->may_kick && !__atomic_load_n(&pl->paused, __ATOMIC_ACQUIRE) &&
            apply(q, pl) != VMIC_OK)
            vmic_clear_error();
        pthread_mutex_unlock(&pl->lock);
        /* The client is this thread's alone while it runs (attach and
         * detach happen with it stopped), so polling needs no lock. */
        int n = vmic__plugin_poll(&pl->c, ev, PLUGIN_BATCH, PLUGIN_POLL_MS);
        for (int i = 0; i < n; i++) {
            deliver(q, pl, &ev[i]);
            vmic__plugin_done(&pl->c, &ev[i]);
        }
    }
    /* Capture records do not wait for vmic: some made before the end may
     * not have been taken. The session is over, so they are let go here
     * (not handed to it), and the plugin's count still adds up: made =
     * delivered + let go. Bounded: a guest that runs on makes more. */
    uint32_t rounds = pl->c.nvcpus * VMIC_PLUGIN_RING_RECORDS / PLUGIN_BATCH + 1;
    for (uint32_t r = 0; r < rounds; r++) {
        int n = vmic__plugin_poll(&pl->c, ev, PLUGIN_BATCH, 0);
        if (n <= 0)
            break;
        for (int i = 0; i < n; i++)
            vmic__plugin_done(&pl->c, &ev[i]);
        __atomic_add_fetch(&pl->stats.let_go, (uint64_t)n, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* ---- sessions ------------------------------------------------------------------------ */

/* Under pl->lock: attached to the block, with the wanted set applied if
 * the VM runs. */
static vmic_status ensure_applied(qemu_driver_t *q, qemu_plugin_events_t *pl, bool may_kick)
{
    if (!pl->attached) {
        int r = vmic__plugin_attach(&pl->c, q->plugin, QEMU_DEFAULT_TIMEOUT_MS);
        if (r)
            return vmic_fail(r == -EBUSY ? VMIC_E_BUSY : VMIC_E_IO, "%s: %s", q->info.source,
                             vmic__plugin_error());
        pl->attached = true;
        pl->stats.used = true;
        pl->dirty = true;
        for (uint32_t i = 0; i < VMIC_PLUGIN_MAX_VCPUS; i++)
            vmic__plugin_set_view(&pl->c, i, pl->vcpu_view[i]);
    }
    pl->may_kick = may_kick;
    /* A paused VM runs no callback to apply a set in: it is applied when
     * the VM is resumed (by the thread, or qemu_plugin_events_resume). */
    return pl->dirty && may_kick ? apply(q, pl) : VMIC_OK;
}

/*
 * The VM is to run (vmic_resume): watches set before a session are applied
 * now, so that "armed, then resumed" means hits are caught from here on.
 * They wait, each vCPU held at its hit, until a session takes them.
 */
vmic_status qemu_plugin_events_resume(qemu_driver_t *q)
{
    qemu_plugin_events_t *pl = pl_of(q);
    vmic_status s = VMIC_OK;
    pthread_mutex_lock(&pl->lock);
    pl->may_kick = true;
    /* With the thread running, it applies the set itself now. */
    if (!pl->thread_started && (pl->nwant > 0 || pl->nnx > 0) && (pl->dirty || !pl->attached))
        s = ensure_applied(q, pl, true);
    pthread_mutex_unlock(&pl->lock);
    return s;
}

/* Applies the set if it changed and starts the thread, when the session
 * has exec watches to serve; nothing otherwise. */
vmic_status qemu_plugin_events_attach(qemu_driver_t *q, const vmic_event_sink_t *sink)
{
    qemu_plugin_events_t *pl = pl_of(q);

    pthread_mutex_lock(&pl->lock);
    pl->sink = *sink;
    if (pl->thread_started || (pl->nwant == 0 && pl->nnx == 0)) {
        pthread_mutex_unlock(&pl->lock);
        return VMIC_OK;
    }
    pthread_mutex_lock(&q->lock);
    bool may_kick = q->want_running;
    pthread_mutex_unlock(&q->lock);
    vmic_status s = ensure_applied(q, pl, may_kick);
    if (s == VMIC_OK) {
        __atomic_store_n(&pl->quit, false, __ATOMIC_RELEASE);
        int err = pthread_create(&pl->thread, NULL, plugin_thread, q);
        if (err)
            s = vmic_fail(VMIC_E_IO, "%s: cannot start the plugin's event thread: %s",
                          q->info.source, strerror(err));
        else
            pl->thread_started = true;
    }
    pthread_mutex_unlock(&pl->lock);
    return s;
}

static void stop_thread(qemu_plugin_events_t *pl)
{
    pthread_mutex_lock(&pl->lock);
    bool started = pl->thread_started;
    pl->thread_started = false;
    __atomic_store_n(&pl->quit, true, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&pl->lock);
    /* Unlocked: the thread may be handing an event to the session. */
    if (started)
        pthread_join(pl->thread, NULL);
}

/* Under pl->lock, the thread stopped: the plugin lets held vCPUs go and
 * drops its watches by itself once told. */
static void detach_client(qemu_plugin_events_t *pl)
{
    if (pl->attached) {
        /* Every event is in: each held one was answered before the thread
         * stopped, and nothing is made for a client that is not there. */
        uint64_t made, dropped;
        vmic__plugin_counters(&pl->c, &made, &dropped);
        pl->base_made += made;
        pl->base_dropped += dropped;
        pl->stats.kicks += pl->c.kicks;
        vmic__plugin_detach(&pl->c);
    }
    pl->attached = false;
    pl->reset_due = false;
}

/* The session is gone: no more deliveries; a reset that came during the
 * session is finished here. */
void qemu_plugin_events_detach(qemu_driver_t *q)
{
    qemu_plugin_events_t *pl = pl_of(q);
    stop_thread(pl);
    pthread_mutex_lock(&pl->lock);
    memset(&pl->sink, 0, sizeof pl->sink);
    if (pl->reset_due)
        detach_client(pl);
    pthread_mutex_unlock(&pl->lock);
}

/*
 * Every exec watch gone. The session's end resets with the session's lock
 * held, which the plugin thread may be waiting for (to hand over an event
 * the session will refuse): so with the thread alive the detach waits for
 * the session to let go of its events (qemu_plugin_events_detach), and
 * meanwhile the thread answers everything at once.
 */
void qemu_plugin_events_reset(qemu_driver_t *q)
{
    qemu_plugin_events_t *pl = pl_of(q);
    pthread_mutex_lock(&pl->lock);
    pl->nwant = 0;
    qemu_views_clear(pl);
    pl->dirty = false;
    free(pl->capture); /* the programs went with the session's watches */
    pl->capture = NULL;
    if (pl->thread_started)
        pl->reset_due = true;
    else
        detach_client(pl);
    pthread_mutex_unlock(&pl->lock);
}

void qemu_plugin_events_close(qemu_driver_t *q)
{
    qemu_plugin_events_detach(q);
    qemu_plugin_events_reset(q); /* frees the capture programs too */
    pthread_mutex_destroy(&pl_of(q)->lock);
}

vmic_status vmic_qemu_plugin_stats(vmic_driver *d, vmic_qemu_plugin_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!d || !d->ops || !d->ops->name || strcmp(d->ops->name, "qemu") != 0)
        return vmic_fail(VMIC_E_INVAL, "vmic_qemu_plugin_stats: not a qemu driver");
    qemu_plugin_events_t *pl = pl_of(qemu_of(d));
    pthread_mutex_lock(&pl->lock);
    *out = pl->stats;
    uint64_t made = 0, dropped = 0;
    if (pl->attached)
        vmic__plugin_counters(&pl->c, &made, &dropped);
    out->made = pl->base_made + made;
    out->dropped = pl->base_dropped + dropped;
    out->delivered = __atomic_load_n(&pl->stats.delivered, __ATOMIC_RELAXED);
    out->let_go = __atomic_load_n(&pl->stats.let_go, __ATOMIC_RELAXED);
    if (pl->attached)
        out->kicks += pl->c.kicks;
    pthread_mutex_unlock(&pl->lock);
    return VMIC_OK;
}
