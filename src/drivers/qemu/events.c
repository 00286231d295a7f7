/*
 * Events on QEMU: the event thread that turns the gdbstub's stop replies
 * into events (see qemu.h for the map), the guest's run state, and undoing
 * what a session changed.
 *
 * The thread lives while a session is attached. It takes q->lock to read
 * from the connection, never to wait on it: it polls the socket and its
 * wake-up eventfd unlocked, so that the session thread (pausing the VM at
 * the end) and the handler (reading registers, setting breakpoints) get
 * the connection whenever they need it. Whatever they read that is a stop
 * reply lands in the connection's queue, where the thread finds it.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "qemu.h"

/* ---- guest state ------------------------------------------------------------------ */

vmic_status qemu_guest_state(vmic_driver *d, vmic_guest_state_t *st)
{
    qemu_driver_t *q = qemu_of(d);
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&q->lock);
    if (q->exited) {
        st->state = VMIC_GUEST_EXITED;
        st->exit_code = q->exit_code;
        snprintf(st->message, sizeof st->message, "%.255s", q->gone);
    } else if (q->gdb.dead) {
        st->state = VMIC_GUEST_FAILED;
        snprintf(st->message, sizeof st->message, "QEMU is gone: %.240s",
                 qemu_gone_why(q));
    } else if (q->ev.failed) {
        st->state = VMIC_GUEST_FAILED;
        snprintf(st->message, sizeof st->message, "%.255s", q->ev.failure);
    } else {
        st->state = q->want_running ? VMIC_GUEST_RUNNING : VMIC_GUEST_PAUSED;
    }
    pthread_mutex_unlock(&q->lock);
    return VMIC_OK;
}

/* Under lock: the session must end (QEMU gone or the VM ended). */
static void notify_stopped(qemu_driver_t *q)
{
    if (q->ev.thread_started && q->ev.sink.guest_stopped)
        q->ev.sink.guest_stopped(q->ev.sink.ctx);
}

/* ---- building events ---------------------------------------------------------------- */

/* Under lock: the registers of the stopped vCPU into a new event. */
static bool event_begin(qemu_driver_t *q, vmic_vcpu_t vcpu, vmic_event_kind kind,
                        vmic_event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    ev->vcpu = vcpu;
    ev->view = 0;
    if (qemu_read_vcpu(q, vcpu, "reading the registers at an event of", &ev->regs) == VMIC_OK)
        return true;
    /* An event vmic cannot describe is not dropped quietly: the session
     * ends with why (a dead connection ends it anyway). */
    if (!q->gdb.dead && !q->ev.failed) {
        q->ev.failed = true;
        snprintf(q->ev.failure, sizeof q->ev.failure, "%s", vmic_errmsg());
    }
    return false;
}

static vmic_pa_t pa_of(qemu_driver_t *q, const vmic_amd64_regs_t *regs, vmic_va_t va)
{
    vmic_pa_t pa = vmic_pa(0);
    /* An unmapped address leaves pa 0, as on kvm; the va is still right. */
    if (qemu_translate(q, regs, va, &pa) != VMIC_OK)
        vmic_clear_error();
    return pa;
}

/*
 * Hands one event to the session, without the lock (the handler calls back
 * into the driver), then carries out the answer. An event the session no
 * longer takes (it is ending) leaves the VM stopped: the session's end puts
 * it back as it should be.
 */
static void deliver(qemu_driver_t *q, vmic_event_t *ev)
{
    vmic_event_response_t resp;
    vmic_event_sink_t sink = q->ev.sink;
    uint64_t gen = q->ev.generation;

    ev->seq = ++q->ev.seq;
    q->ev.at_event = true;
    pthread_mutex_unlock(&q->lock);
    memset(&resp, 0, sizeof resp);
    resp.action = VMIC_ACTION_CONTINUE;
    bool taken = sink.deliver(sink.ctx, ev, &resp);
    pthread_mutex_lock(&q->lock);
    q->ev.at_event = false;
    /* A reset while the session had the event: the answer is about what
     * is gone (a breakpoint removed, a step cancelled). */
    if (taken && gen == q->ev.generation && !q->gdb.dead)
        qemu_respond(q, ev, &resp);
}

static void on_watch(qemu_driver_t *q, vmic_vcpu_t vcpu, const gdb_stop_t *stop)
{
    vmic_event_t ev;
    if (!event_begin(q, vcpu, VMIC_EVENT_MEMORY_ACCESS, &ev))
        return;
    ev.memory.va = vmic_va(stop->watch_addr);
    ev.memory.va_valid = true;
    ev.memory.pa = pa_of(q, &ev.regs, vmic_va(stop->watch_addr));
    ev.memory.gfn = vmic_gfn(ev.memory.pa.addr >> VMIC_PAGE_SHIFT);
    ev.memory.access = stop->watch == GDB_WATCH_WRITE ? VMIC_ACCESS_W
                       : stop->watch == GDB_WATCH_READ ? VMIC_ACCESS_R : VMIC_ACCESS_RW;
    /* The stop reply says neither how wide the access was nor what it
     * wrote; the write is in memory already, for the handler to read. */
    ev.memory.size = 0;
    ev.memory.value = 0;
    deliver(q, &ev);
}

static void on_step(qemu_driver_t *q, vmic_vcpu_t vcpu)
{
    vmic_event_t ev;
    if (!event_begin(q, vcpu, VMIC_EVENT_SINGLESTEP, &ev))
        return;
    ev.singlestep.pa = pa_of(q, &ev.regs, vmic_va(ev.regs.rip));
    deliver(q, &ev);
}

/* A SIGTRAP that is neither a step nor a watchpoint: one of our breakpoints,
 * unless it was removed while its stop was on the way. */
static void on_trap(qemu_driver_t *q, vmic_vcpu_t vcpu)
{
    vmic_event_t ev;
    if (!event_begin(q, vcpu, VMIC_EVENT_BREAKPOINT, &ev))
        return;
    if (!points_has_break(q, vmic_va(ev.regs.rip)))
        return;   /* not ours any more: the VM just goes on */
    ev.breakpoint.va = vmic_va(ev.regs.rip);
    ev.breakpoint.pa = pa_of(q, &ev.regs, vmic_va(ev.regs.rip));
    ev.breakpoint.slot = 0;   /* QEMU does not say which; the va names it */
    deliver(q, &ev);
}

/* Under lock: a step over a breakpoint ended, but QEMU did not run the
 * instruction (RIP still there): true, and the step is to be taken again. */
static bool over_step_stuck(qemu_driver_t *q, vmic_vcpu_t vcpu)
{
    qemu_events_t *e = &q->ev;
    vmic_amd64_regs_t regs;
    if (!e->over_stepping || e->step_vcpu != vcpu)
        return false;
    e->over_stepping = false;
    if (qemu_read_vcpu(q, vcpu, "checking the step over a breakpoint of", &regs) != VMIC_OK) {
        vmic_clear_error(); /* a dead connection ends the session anyway */
        return false;
    }
    if (regs.rip != e->over_va || ++e->over_retries > QEMU_OVER_RETRIES)
        return false;
    e->over_stepping = true;
    return true;
}

stop_reason qemu_stop_reason(const qemu_driver_t *q, const gdb_stop_t *stop, int *vcpu)
{
    *vcpu = -1;
    if (stop->kind != GDB_STOP_SIGNAL)
        return STOP_EXITED;
    if (stop->has_thread)
        *vcpu = qemu_vcpu_of_thread(q, stop->thread);
    if (*vcpu < 0)
        return STOP_UNKNOWN;
    if (stop->signal != 5)
        return STOP_PAUSED;
    /* A stale hit QEMU kept from an earlier stop names a watchpoint vmic
     * does not have in (see qemu.h). */
    if (stop->watch != GDB_WATCH_NONE && points_has_watch(q, stop->watch, vmic_va(stop->watch_addr)))
        return STOP_WATCH;
    if (q->ev.stepping && q->ev.step_vcpu == (vmic_vcpu_t)*vcpu)
        return q->ev.step_silent ? STOP_STEPPED_SILENTLY : STOP_STEPPED;
    return STOP_TRAP;
}

static void on_stop(qemu_driver_t *q, const gdb_stop_t *stop)
{
    qemu_events_t *e = &q->ev;
    int vcpu;
    stop_reason why = qemu_stop_reason(q, stop, &vcpu);

    if (why == STOP_EXITED) {
        q->exited = true;
        q->exit_code = stop->signal;
        snprintf(q->gone, sizeof q->gone, "QEMU says the VM %s (%s %u)",
                 stop->kind == GDB_STOP_EXITED ? "exited" : "was terminated",
                 stop->kind == GDB_STOP_EXITED ? "status" : "signal", stop->signal);
        notify_stopped(q);
        return;
    }
    if (why == STOP_UNKNOWN)
        return;   /* no vCPU named: nothing to report, the VM goes on */
    qemu_note_stopped_thread(q, stop->thread);
    if (why == STOP_PAUSED) {
        /* Not vmic's pause (that one clears want_running): somebody
         * else's, and the VM stays stopped for them. */
        if (q->want_running)
            q->held = true;
        return;
    }
    q->held = false;   /* it ran, so nobody holds it any more */
    /* Whatever stopped the vCPU ended a step it was taking: a watchpoint
     * the stepped instruction hit stands for that step. */
    if (e->stepping && e->step_vcpu == (vmic_vcpu_t)vcpu)
        e->stepping = false;
    if (why == STOP_STEPPED_SILENTLY && over_step_stuck(q, (vmic_vcpu_t)vcpu)) {
        e->stepping = e->step_silent = true; /* qemu_run_on steps it again */
        return;
    }
    if (why == STOP_WATCH)
        on_watch(q, (vmic_vcpu_t)vcpu, stop);
    else if (why == STOP_STEPPED)
        on_step(q, (vmic_vcpu_t)vcpu);
    else if (why == STOP_TRAP)
        on_trap(q, (vmic_vcpu_t)vcpu);
}

/* ---- the thread --------------------------------------------------------------------- */

/* Under lock: a stop reply already here (queued or arrived), if any. */
static vmic_status next_stop(qemu_driver_t *q, gdb_stop_t *stop, bool *have)
{
    *have = false;
    if (q->gdb.npending == 0) {
        vmic_status s = gdb_drain(&q->gdb);
        if (s)
            return s;
    }
    if (q->gdb.npending == 0)
        return VMIC_OK;
    *have = true;
    return gdb_wait_stop(&q->gdb, 0, stop);
}

/* Waits, unlocked, until the stub sends something or somebody wakes us. */
static void wait_input(qemu_driver_t *q)
{
    struct pollfd fds[2] = {{.fd = q->gdb.fd, .events = POLLIN},
                            {.fd = q->ev.wake_fd, .events = POLLIN}};
    /* Bytes the client has read already (a stop reply that came with the
     * '+' for our last packet) would never make the socket readable. */
    if (gdb_buffered(&q->gdb))
        return;
    pthread_mutex_unlock(&q->lock);
    if (poll(fds, 2, -1) > 0 && (fds[1].revents & POLLIN)) {
        uint64_t n;
        ssize_t r = read(q->ev.wake_fd, &n, sizeof n);
        (void)r;
    }
    pthread_mutex_lock(&q->lock);
}

static void *event_thread(void *arg)
{
    qemu_driver_t *q = arg;
    qemu_events_t *e = &q->ev;

    pthread_mutex_lock(&q->lock);
    while (!e->quit && !q->gdb.dead && !q->exited) {
        if (e->step_due) {
            /* After a watchpoint the instruction is done: its step too. */
            e->step_due = false;
            on_step(q, e->due_vcpu);
            continue;
        }
        gdb_stop_t stop;
        bool have;
        if (next_stop(q, &stop, &have) != VMIC_OK)
            break;
        if (have) {
            on_stop(q, &stop);
            continue;
        }
        if (e->failed) {
            notify_stopped(q);
            break;
        }
        if (qemu_run_on(q) != VMIC_OK && !q->gdb.dead) {
            e->failed = true;
            snprintf(e->failure, sizeof e->failure, "resuming the VM after an event: %s",
                     vmic_errmsg());
            continue;
        }
        wait_input(q);
    }
    if (q->gdb.dead) {
        qemu_mark_gone(q);
        notify_stopped(q);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

vmic_status qemu_attach_events(vmic_driver *d, const vmic_event_sink_t *sink)
{
    qemu_driver_t *q = qemu_of(d);

    if (!sink) {
        qemu_plugin_events_detach(q);
        qemu_stop_event_thread(q);
        return VMIC_OK;
    }
    vmic_status s = qemu_plugin_events_attach(q, sink);
    if (s)
        return s;
    pthread_mutex_lock(&q->lock);
    if (q->ev.thread_started) {
        q->ev.sink = *sink;
        pthread_mutex_unlock(&q->lock);
        return VMIC_OK;
    }
    if (q->ev.wake_fd < 0 && (q->ev.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        s = vmic_fail(VMIC_E_IO, "%s: eventfd: %s", q->info.source, strerror(errno));
    if (s == VMIC_OK && q->gdb.dead)
        s = vmic_fail(VMIC_E_IO, "%s: QEMU is gone: %s", q->info.source,
                      qemu_gone_why(q));
    if (s == VMIC_OK) {
        q->ev.sink = *sink;
        q->ev.quit = false;
        int err = pthread_create(&q->ev.thread, NULL, event_thread, q);
        if (err)
            s = vmic_fail(VMIC_E_IO, "%s: cannot start the event thread: %s", q->info.source,
                          strerror(err));
        else
            q->ev.thread_started = true;
    }
    pthread_mutex_unlock(&q->lock);
    return s;
}

void qemu_stop_event_thread(qemu_driver_t *q)
{
    pthread_mutex_lock(&q->lock);
    bool started = q->ev.thread_started;
    q->ev.quit = true;
    qemu_wake_events(q);
    pthread_mutex_unlock(&q->lock);
    if (!started)
        return;
    /* Outside the lock: the thread may be handing an event to the session,
     * and takes the lock again to finish it. */
    pthread_join(q->ev.thread, NULL);
    pthread_mutex_lock(&q->lock);
    q->ev.thread_started = false;
    q->ev.quit = false;
    memset(&q->ev.sink, 0, sizeof q->ev.sink);
    pthread_mutex_unlock(&q->lock);
}

/* ---- undoing a session ---------------------------------------------------------------- */

vmic_status qemu_reset_events(vmic_driver *d)
{
    qemu_driver_t *q = qemu_of(d);
    qemu_events_t *e = &q->ev;
    vmic_status s = VMIC_OK;

    qemu_plugin_events_reset(q);
    pthread_mutex_lock(&q->lock);
    e->generation++;
    e->over = e->stepping = e->step_due = e->over_stepping = false;
    if (e->failed) {
        /* Reported once, as the error the session ends with. */
        e->failed = false;
        s = vmic_fail(VMIC_E_IO, "%s: %s", q->info.source, e->failure);
    }
    if (q->exited) {
        q->npoints = 0;   /* QEMU is gone with them */
    } else if (q->gdb.dead) {
        q->npoints = 0;
        s = vmic_fail(VMIC_E_IO, "%s: QEMU is gone (%s): nothing vmic set there could be "
                      "undone", q->info.source,
                      qemu_gone_why(q));
    } else {
        bool was_running;
        vmic_status r = qemu_stop_to_talk(q, &was_running);
        if (r == VMIC_OK)
            r = points_remove_all(q);
        /* Stopped at an event nobody answered, or only for the removal:
         * the VM goes on if the user wants it running. */
        vmic_status r2 = qemu_run_on(q);
        if (s == VMIC_OK)
            s = r ? r : r2;
    }
    pthread_mutex_unlock(&q->lock);
    return s;
}
