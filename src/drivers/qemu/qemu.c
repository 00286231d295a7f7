/*
 * The qemu driver: a running QEMU seen through its gdbstub, its QMP socket
 * and the file behind guest RAM (see include/vmic/qemu.h).
 *
 * Opening: the session lock (lock.c), then QMP (whether the VM runs,
 * whether the gdbstub has a client, which memory backend is the file, where
 * its bytes sit in guest-physical memory); the RAM file is mapped. With the
 * gdbstub free, QMP is closed again (it serves one client per socket) and
 * the gdbstub connected: the guard forks at once (guard.c), then the
 * handshake, the vCPUs (gdb threads, one per vCPU) and the register layout.
 * With the gdbstub held, the session goes on through QMP alone (shared.c)
 * or fails with VMIC_E_BUSY naming the holder: a connection that queued on
 * a held stub would stop the VM when QEMU accepts it later.
 *
 * Pause and resume go through the gdbstub (interrupt / 'c'), not QMP
 * stop/cont: the gdb connection is the one that must know whether the VM
 * runs (QEMU only answers gdb packets while it is stopped, and a 'c' leaves
 * the client waiting for a stop reply), and the events to come (breakpoint
 * and watchpoint hits, single-steps) arrive on it as stop replies: one
 * stream, so a pause and a breakpoint hit that race are seen in the order
 * QEMU produced them. QMP would add a second channel whose STOP/RESUME
 * events cannot be ordered against them.
 *
 * Run state at close: connecting the gdbstub stops the VM. When the VM ran
 * at attach and is still stopped only because vmic attached (stay_paused),
 * close resumes it. An explicit vmic_pause/vmic_resume is the caller's
 * decision and is left as it is. Then the guard lets go, the connection
 * closes, and (config.end) QMP says what run state the VM is in now, or
 * that QEMU is gone: the RAM file stays mapped and readable after QEMU
 * dies, so only this last look tells a torn result from a good one.
 *
 * Run state. want_running is the user's wish (vmic_pause, vmic_resume, and
 * at open whether the VM ran); the VM stops for every event and runs on after
 * the response when that wish says so (qemu_run_on). A stop somebody else
 * caused (QMP "stop") is respected: vmic does not resume the VM behind them
 * until vmic_resume or until the VM is seen running again (a breakpoint hit).
 * Events are in events.c and respond.c; what QEMU cannot do (views, execute
 * traps, MSR or port events, injection, Deny/Emulate/Reinject) is refused
 * there with the reason.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qemu.h"

/* ---- run state (under q->lock) ----------------------------------------------- */

int qemu_vcpu_of_thread(const qemu_driver_t *q, uint32_t thread)
{
    for (uint32_t i = 0; i < q->nthreads; i++)
        if (q->threads[i] == thread)
            return (int)i;
    return -1;
}

void qemu_note_stopped_thread(qemu_driver_t *q, uint32_t thread)
{
    q->has_selected = true;
    q->selected = thread;
    q->selected_stops = q->gdb.stats.async_stops;
}

void qemu_mark_gone(qemu_driver_t *q)
{
    if (!q->gone[0])
        snprintf(q->gone, sizeof q->gone, "%s",
                 q->gdb.why_dead[0] ? q->gdb.why_dead : vmic_errmsg());
}

const char *qemu_gone_why(const qemu_driver_t *q)
{
    if (q->gone[0])
        return q->gone;
    return q->gdb.why_dead[0] ? q->gdb.why_dead : "the gdb connection failed";
}

void qemu_wake_events(qemu_driver_t *q)
{
    uint64_t one = 1;
    if (q->ev.thread_started) {
        ssize_t n = write(q->ev.wake_fd, &one, sizeof one);
        (void)n; /* a full counter still wakes the reader */
    }
}

/* Whether a stop reply waiting in the queue is one the event thread must
 * turn into an event (anything but a plain pause). */
static bool event_pending(const qemu_driver_t *q)
{
    for (unsigned i = 0; i < q->gdb.npending; i++) {
        const gdb_stop_t *st = &q->gdb.pending[i];
        if (st->kind != GDB_STOP_SIGNAL || st->signal == 5)
            return true;
    }
    return false;
}

vmic_status qemu_stop_to_talk(qemu_driver_t *q, bool *was_running)
{
    vmic_status s = gdb_drain(&q->gdb);
    *was_running = false;
    if (s || !q->gdb.running)
        return s;
    *was_running = true;
    return gdb_interrupt(&q->gdb);
}

vmic_status qemu_run_on(qemu_driver_t *q)
{
    qemu_events_t *ev = &q->ev;
    vmic_status s = gdb_drain(&q->gdb);

    if (s || q->gdb.running || q->exited)
        return s;
    /* A stop that came meanwhile is the event thread's to report first; 'c'
     * would drop it. Without a session there is nobody to report it to. */
    if (ev->thread_started && (event_pending(q) || ev->step_due || ev->at_event))
        return VMIC_OK;
    /* Paused (by vmic or by somebody else): nothing runs, not even a step a
     * response asked for; that one is taken up again on resume. */
    if (q->held || !q->want_running)
        return VMIC_OK;
    if (ev->stepping)
        return gdb_step(&q->gdb, q->threads[ev->step_vcpu]);
    if ((s = points_put_back(q)))
        return s;
    if (ev->over) {
        /* QEMU would stop on the breakpoint again at once: step past it
         * first with it taken out, as gdb does (QEMU's TCG single-step
         * would ignore it anyway, but under KVM it is an INT3 or a debug
         * register that the step would trip over), then go on. */
        ev->over = false;
        if (ev->thread_started && points_has_break(q, vmic_va(ev->over_va))) {
            bool done;
            if ((s = qemu_emulate_over(q, &done)) || done)
                return s ? s : gdb_continue(&q->gdb);
            if ((s = points_take_out(q, vmic_va(ev->over_va))))
                return s;
            ev->over_stepped++;
            ev->stepping = ev->step_silent = true;
            ev->step_vcpu = ev->over_vcpu;
            ev->over_stepping = true;
            ev->over_retries = 0;
            return gdb_step(&q->gdb, q->threads[ev->step_vcpu]);
        }
    }
    return gdb_continue(&q->gdb);
}

/* ---- operations ------------------------------------------------------------ */

/* Under lock: what a gdb session undoes before it lets go; returns whether
 * QEMU is gone (a last look at the connection: an EOF there means QEMU died
 * during the command, whatever was read from the RAM file since). */
static bool close_gdb(qemu_driver_t *q)
{
    if (q->gdb.fd < 0)
        return false;
    if (!q->gdb.dead && q->npoints) {
        /* A driver closed without vmic_core_close's reset: no point of
         * ours may outlive the connection. */
        bool was_running;
        if (qemu_stop_to_talk(q, &was_running) == VMIC_OK) {
            points_remove_all(q);
            if (was_running)
                qemu_run_on(q);
        }
    }
    if (!q->gdb.dead && gdb_drain(&q->gdb) == VMIC_OK && q->implicit_pause &&
        !q->gdb.running) {
        /* 'D' detaches and resumes. */
        if (gdb_command_ok(&q->gdb, "D") != VMIC_OK)
            gdb_continue(&q->gdb);
    }
    if (!q->gdb.dead)
        gdb_drain(&q->gdb);
    if (q->gdb.dead || q->exited) {
        qemu_mark_gone(q);
        return true;
    }
    return false;
}

/* A shared session resumes what it paused; QMP failing says QEMU is gone. */
static bool close_shared(qemu_driver_t *q)
{
    vmic_status s = q->shared_paused ? qmp_execute(&q->qmp, "cont", NULL, 0, NULL) : VMIC_OK;
    bool running;
    if (s == VMIC_OK)
        s = qmp_running(&q->qmp, &running, NULL, 0);
    if (s != VMIC_OK)
        snprintf(q->gone, sizeof q->gone, "%s", vmic_errmsg());
    return s != VMIC_OK;
}

void qemu_report_end(qemu_driver_t *q, bool gone, const char *why)
{
    vmic_qemu_end_t *e = q->end;
    qmp_client_t qmp;
    if (!e)
        return;
    memset(e, 0, sizeof *e);
    e->filled = true;
    e->shared = q->shared;
    snprintf(e->holder, sizeof e->holder, "%s", q->holder);
    /* Shared: a VM stopped at the gdb client's event ran, for all it meant. */
    e->found_running = q->found_running || q->shared_paused;
    if (!gone) {
        /* The run state as QEMU has it now that vmic let go, not as vmic
         * hoped to leave it. */
        vmic_status s = qmp_open(&qmp, &q->qmp_ep, q->gdb.timeout_ms ? q->gdb.timeout_ms
                                                                     : q->qmp.timeout_ms);
        if (s == VMIC_OK)
            s = qmp_running(&qmp, &e->running, e->status, sizeof e->status);
        qmp_close(&qmp);
        e->status_known = s == VMIC_OK;
        /* Refused or reset: nobody listens any more. A busy QMP (another
         * client) times out instead, and only leaves the state unknown. */
        if (s != VMIC_OK && s != VMIC_E_TIMEOUT) {
            gone = true;
            why = vmic_errmsg();
        }
    }
    e->qemu_gone = gone;
    if (gone)
        snprintf(e->gone_why, sizeof e->gone_why, "%s", why && *why ? why : "QEMU is gone");
}

void qemu_close_driver(vmic_driver *d)
{
    qemu_driver_t *q = qemu_of(d);
    /* Closing is often the cleanup after a failure: keep its message. */
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", vmic_errmsg());

    qemu_stop_event_thread(q);
    /* First: a vCPU held by the plugin would keep the gdbstub from
     * stopping the VM for the detach. */
    qemu_plugin_events_close(q);
    pthread_mutex_lock(&q->lock);
    bool gone = q->shared ? close_shared(q) : close_gdb(q);
    pthread_mutex_unlock(&q->lock);
    /* Everything undone: the guard lets go of its copies first, so that
     * closing ours is the client leaving QEMU's gdbstub. */
    guard_release(&q->guard);
    gdb_close(&q->gdb);
    qmp_close(&q->qmp);
    lock_release(&q->lockf);
    qemu_report_end(q, gone, q->gone);
    if (*saved)
        vmic_fail(VMIC_E_IO, "%s", saved);
    else
        vmic_clear_error();
    gdb_regmap_free(&q->regmap);
    qemu_memory_close(&q->mem);
    if (q->ev.wake_fd >= 0)
        close(q->ev.wake_fd);
    pthread_mutex_destroy(&q->lock);
    free(q->points);
    free(q->threads);
    free(q->source);
    free(q);
}

static const vmic_driver_info_t *qemu_info(vmic_driver *d)
{
    return &qemu_of(d)->info;
}

static const vmic_mem_region_t *find_region(const qemu_driver_t *q, vmic_pa_t at)
{
    uint64_t pa = at.addr;
    for (size_t i = 0; i < q->mem.nregions; i++) {
        const vmic_mem_region_t *r = &q->mem.regions[i];
        if (pa >= r->start.addr && pa - r->start.addr < r->size)
            return r;
    }
    return NULL;
}

/* Every byte is in a host region; these serve callers that want a copy. */
vmic_status qemu_rw(qemu_driver_t *q, vmic_pa_t pa, uint8_t *buf, size_t len, bool write)
{
    uint64_t at = pa.addr;
    while (len > 0) {
        const vmic_mem_region_t *r = find_region(q, vmic_pa(at));
        if (!r)
            return vmic_fail(VMIC_E_UNMAPPED, "%s: physical address 0x%" PRIx64 " is not guest "
                             "RAM", q->info.source, at);
        if (write && !r->writable)
            return vmic_fail(VMIC_E_UNSUPPORTED, "%s: guest RAM is mapped read-only (the RAM "
                             "file is not writable by this user)", q->info.source);
        uint64_t left = r->size - (at - r->start.addr);
        size_t n = left < len ? (size_t)left : len;
        if (write)
            memcpy(r->host + (at - r->start.addr), buf, n);
        else
            memcpy(buf, r->host + (at - r->start.addr), n);
        buf += n;
        at += n;
        len -= n;
    }
    return VMIC_OK;
}

static vmic_status qemu_read(vmic_driver *d, vmic_pa_t pa, void *buf, size_t len)
{
    return qemu_rw(qemu_of(d), pa, buf, len, false);
}

static vmic_status qemu_write(vmic_driver *d, vmic_pa_t pa, const void *buf, size_t len)
{
    return qemu_rw(qemu_of(d), pa, (uint8_t *)(uintptr_t)buf, len, true);
}

/* Page tables are read straight from the RAM mapping. */
static const uint64_t *read_table(void *ctx, vmic_pa_t table)
{
    const vmic_mem_region_t *r = find_region(ctx, table);
    if (!r || r->size - (table.addr - r->start.addr) < VMIC_PAGE_SIZE)
        return NULL;
    return (const uint64_t *)(r->host + (table.addr - r->start.addr));
}

vmic_status qemu_walk(qemu_driver_t *q, const vmic_amd64_regs_t *regs, vmic_va_t va,
                      vmic_translation_t *t)
{
    vmic_paging_t pg;

    if (!(regs->valid & VMIC_REGS_CR))
        return vmic_fail(VMIC_E_UNSUPPORTED, "%s: no CR3 to translate 0x%" PRIx64 " with",
                         q->info.source, va.addr);
    vmic_status s = vmic_amd64_paging_from_regs(regs, &pg);
    if (s == VMIC_OK)
        s = vmic_amd64_translate(&pg, vmic_cr3_to_root(regs->cr3), va, read_table, q, t);
    return s;
}

vmic_status qemu_translate(qemu_driver_t *q, const vmic_amd64_regs_t *regs, vmic_va_t va,
                           vmic_pa_t *pa)
{
    vmic_translation_t t;

    if ((regs->valid & VMIC_REGS_CR) && !(regs->cr0 & VMIC_CR0_PG)) {
        *pa = vmic_pa(va.addr); /* paging off: addresses are physical */
        return VMIC_OK;
    }
    vmic_status s = qemu_walk(q, regs, va, &t);
    if (s == VMIC_OK)
        *pa = t.pa;
    return s;
}

/* The gdbstub answers only while the VM is stopped; then selects the vCPU. */
static vmic_status stopped_vcpu(qemu_driver_t *q, vmic_vcpu_t vcpu, const char *doing)
{
    if (vcpu >= q->nthreads)
        return vmic_fail(VMIC_E_INVAL, "%s: vCPU %" PRIu32 " out of range (the VM has %" PRIu32
                         " vCPUs)", q->info.source, vcpu, q->nthreads);
    vmic_status s = gdb_drain(&q->gdb);
    if (s)
        return s;
    if (q->gdb.running)
        return vmic_fail(VMIC_E_BUSY, "%s: %s vCPU %" PRIu32 ": the VM is running; QEMU's "
                         "gdbstub answers only while it is paused (vmic_pause)", q->info.source,
                         doing, vcpu);
    /* QEMU points Hg at the vCPU that stopped whenever the VM stops. */
    uint32_t tid = q->threads[vcpu];
    if (q->has_selected && q->selected == tid && q->selected_stops == q->gdb.stats.async_stops)
        return VMIC_OK;
    if ((s = gdb_select_thread(&q->gdb, tid)))
        return s;
    q->has_selected = true;
    q->selected = tid;
    q->selected_stops = q->gdb.stats.async_stops;
    return VMIC_OK;
}

/*
 * The registers of one vCPU. If someone else resumed the VM behind our back,
 * the first packet stops it again (see gdb_remote.c) -- and QEMU, stopping,
 * points Hg at the vCPU it reports as stopped before it reads: a reply that
 * came after a stop reply may be another vCPU's. Then select and read again;
 * the VM is stopped by now, so the second read is the one.
 */
vmic_status qemu_read_vcpu(qemu_driver_t *q, vmic_vcpu_t vcpu, const char *doing,
                           vmic_amd64_regs_t *regs)
{
    for (int attempt = 0;; attempt++) {
        vmic_status s = stopped_vcpu(q, vcpu, doing);
        if (s)
            return s;
        uint64_t stops = q->gdb.stats.async_stops;
        s = regs_read(&q->gdb, &q->regmap, regs);
        if (s || q->gdb.stats.async_stops == stops)
            return s;
        if (attempt == 2)
            return vmic_fail(VMIC_E_BUSY, "%s: %s vCPU %" PRIu32 ": the VM keeps being "
                             "resumed by someone else", q->info.source, doing, vcpu);
    }
}

static vmic_status qemu_get_regs(vmic_driver *d, vmic_vcpu_t vcpu, vmic_amd64_regs_t *regs)
{
    qemu_driver_t *q = qemu_of(d);
    pthread_mutex_lock(&q->lock);
    vmic_status s = qemu_read_vcpu(q, vcpu, "reading the registers of", regs);
    pthread_mutex_unlock(&q->lock);
    return s;
}

static vmic_status qemu_set_regs(vmic_driver *d, vmic_vcpu_t vcpu, const vmic_amd64_regs_t *regs)
{
    qemu_driver_t *q = qemu_of(d);
    vmic_amd64_regs_t cur;
    pthread_mutex_lock(&q->lock);
    /* Reading first also makes sure the writes go to this vCPU. */
    vmic_status s = qemu_read_vcpu(q, vcpu, "writing the registers of", &cur);
    if (s == VMIC_OK)
        s = regs_write(&q->gdb, &q->regmap, &cur, regs);
    /* A vCPU moved off (or onto) the breakpoint it stopped at. */
    if (s == VMIC_OK && q->ev.over && q->ev.over_vcpu == vcpu && (regs->valid & VMIC_REGS_GPR))
        q->ev.over_va = regs->rip;
    pthread_mutex_unlock(&q->lock);
    return s;
}

static vmic_status qemu_pause(vmic_driver *d)
{
    qemu_driver_t *q = qemu_of(d);
    /* First: the plugin thread must not apply watches with QMP cont now. */
    __atomic_store_n(&q->pl.paused, true, __ATOMIC_RELEASE);
    pthread_mutex_lock(&q->lock);
    q->want_running = false;
    q->implicit_pause = false;
    /* At an event the VM is stopped already. A stop reply the interrupt
     * brings (a breakpoint hit that raced it) stays queued for the events. */
    vmic_status s = q->ev.at_event ? VMIC_OK : gdb_interrupt(&q->gdb);
    pthread_mutex_unlock(&q->lock);
    return s;
}

static vmic_status qemu_resume(vmic_driver *d)
{
    qemu_driver_t *q = qemu_of(d);
    __atomic_store_n(&q->pl.paused, false, __ATOMIC_RELEASE);
    pthread_mutex_lock(&q->lock);
    q->want_running = true;
    q->held = false;
    q->implicit_pause = false;
    vmic_status s = gdb_drain(&q->gdb);
    if (s == VMIC_OK && !q->ev.thread_started)
        q->gdb.npending = 0;   /* nobody takes events: a stop is only a stop */
    /* At an event, the VM goes on once the response is carried out. */
    if (s == VMIC_OK && !q->ev.at_event)
        s = qemu_run_on(q);
    qemu_wake_events(q);
    pthread_mutex_unlock(&q->lock);
    /* Unlocked: applying may need QMP stop/cont while vCPUs run. */
    return s ? s : qemu_plugin_events_resume(q);
}

/* Groups, picked at open by what the gdbstub and the RAM file allow. */
static const vmic_memory_ops_t qemu_memory = {
    .read = qemu_read,
    .write = qemu_write,
};

static const vmic_memory_ops_t qemu_memory_read_only = {
    .read = qemu_read,
};

static const vmic_register_ops_t qemu_registers = {
    .get = qemu_get_regs,
    .set = qemu_set_regs,
};

static const vmic_control_ops_t qemu_control = {
    .pause = qemu_pause,
    .resume = qemu_resume,
};

/* No monitors, no injection, no views without the plugin: qemu_explain
 * says why. */
static const vmic_event_ops_t qemu_events = {
    .attach = qemu_attach_events,
    .check_response = qemu_check_response,
    .guest_state = qemu_guest_state,
    .reset = qemu_reset_events,
};

static const vmic_breakpoint_ops_t qemu_breakpoints = {
    .set = qemu_set_hw_breakpoint,
};

static const vmic_watchpoint_ops_t qemu_watchpoints = {
    .set = qemu_set_watchpoint,
};

/* With vmic's plugin in QEMU (plugin.c found its block). */
static const vmic_exec_watch_ops_t qemu_exec_watches = {
    .set = qemu_set_exec_watch,
    .capture = qemu_exec_capture,
    .program = qemu_exec_watch_program,
};

/* Also with the plugin: pages lose X alone (views.c). */
static const vmic_view_ops_t qemu_views = {
    .create = qemu_create_view,
    .destroy = qemu_destroy_view,
    .switch_to = qemu_switch_view,
    .vcpu_view = qemu_vcpu_view,
    .get_access = qemu_get_access,
    .set_access = qemu_set_access,
    .exec_only = true,
};

static const vmic_driver_ops_t qemu_ops = {
    .name = "qemu",
    .close = qemu_close_driver,
    .info = qemu_info,
    .explain = qemu_explain,
};

/* ---- opening ------------------------------------------------------------------- */

/* The guard gets the socket before it is connected (a unix endpoint): the
 * moment QEMU accepts, which stops the VM, the guard holds the connection
 * too, so a vmic killed at any point after that leaves the VM to it. A kill
 * between connect and fork left the VM paused for good (1 in 100 kills at
 * "attaching" under ASan). Over TCP the guard starts right after connect. */
static vmic_status guard_the_socket(void *arg, int fd)
{
    qemu_driver_t *q = arg;
    return guard_start(&q->guard, GUARD_GDB, fd, q->lockf.fd, q->found_running);
}

static vmic_status open_gdb(qemu_driver_t *q, const vmic_qemu_config_t *cfg, int timeout)
{
    const qemu_endpoint_t *ep = &q->gdb_ep;
    int fd;
    vmic_status s = endpoint_connect_hooked("gdb", ep, timeout, cfg->guard ? guard_the_socket : NULL,
                                            q, &fd);
    if (s) {
        guard_release(&q->guard); /* connect failed: nothing for it to undo */
        return s;
    }
    if ((s = gdb_init(&q->gdb, fd, ep->name, timeout))) {
        gdb_close(&q->gdb);
        return s;
    }
    if ((s = gdb_handshake(&q->gdb)))
        return vmic_fail_wrap(s, "gdb endpoint %s (is it QEMU's gdbstub?)", ep->name);
    /* Connecting stopped the VM (QEMU does that for every gdb client). */
    q->gdb.running = false;
    if ((s = gdb_thread_list(&q->gdb, &q->threads, &q->nthreads)))
        return s;
    if ((s = gdb_target_read(&q->gdb, &q->regmap)))
        return s;
    if (strcmp(q->regmap.arch, "i386:x86-64") != 0)
        return vmic_fail(VMIC_E_UNSUPPORTED, "gdb endpoint %s: architecture '%s', not x86-64 "
                         "(i386:x86-64)", ep->name, q->regmap.arch);
    uint32_t groups = regs_groups(&q->regmap);
    q->ops.memory = q->mem.writable ? &qemu_memory : &qemu_memory_read_only;
    q->ops.control = &qemu_control;
    q->ops.registers = (groups & VMIC_REGS_GPR) ? &qemu_registers : NULL;
    /* Events carry the registers, and their pa comes through CR3. */
    if ((groups & (VMIC_REGS_GPR | VMIC_REGS_CR)) == (VMIC_REGS_GPR | VMIC_REGS_CR)) {
        q->ops.events = &qemu_events;
        q->ops.breakpoints = &qemu_breakpoints;
        q->ops.watchpoints = &qemu_watchpoints;
    }
    q->info.caps = vmic_driver_caps(&q->ops);
    if (q->found_running) {
        if (cfg->stay_paused) {
            q->implicit_pause = true;
        } else {
            q->want_running = true;
            s = gdb_continue(&q->gdb);
        }
    }
    return s;
}

/* How long a gdbstub client that is not a vmic may take to be seen gone. */
#define STUB_LEAVING_MS 500

/* Who holds the gdbstub, for the message that says it is busy. */
static vmic_status stub_busy(const qemu_driver_t *q, bool locked, const char *holder)
{
    if (locked)
        return vmic_fail(VMIC_E_BUSY, "the gdbstub %s is held by %s", q->gdb_ep.name, holder);
    return vmic_fail(VMIC_E_BUSY, "the gdbstub %s has a client already (QMP query-chardev "
                     "says so; not a vmic: no session lock): vmic connects only to a free "
                     "one ('vmic resume' cuts a stuck client off)", q->gdb_ep.name);
}

/*
 * QMP first: the run state, who is on the gdbstub, the RAM file's layout.
 * Then the gdbstub, if nobody holds it, else a QMP-only session or BUSY.
 */
static vmic_status attach(qemu_driver_t *q, const vmic_qemu_config_t *cfg, int timeout)
{
    bool locked = false;
    char holder[256] = "";
    stub_state stub = STUB_UNKNOWN;
    vmic_status s;

    if ((s = endpoint_parse("gdb", cfg->gdb, &q->gdb_ep)) ||
        (s = endpoint_parse("QMP", cfg->qmp, &q->qmp_ep)))
        return s;
    if ((s = lock_take(&q->lockf, &q->gdb_ep, &locked, holder, sizeof holder)))
        return s;
    if ((s = qmp_open(&q->qmp, &q->qmp_ep, timeout)) ||
        (s = stub_query(&q->qmp, &q->gdb_ep, &stub)))
        return s;
    /* A client that has just gone (a vmic that closed, a guard that let go)
     * stays "connected" until QEMU's main loop sees the hang-up. */
    for (int64_t until = vmic__mono_ms() + STUB_LEAVING_MS; !locked && stub == STUB_BUSY &&
                                                      vmic__mono_ms() < until;) {
        struct timespec nap = {0, 10 * 1000000L};
        nanosleep(&nap, NULL);
        if ((s = stub_query(&q->qmp, &q->gdb_ep, &stub)))
            return s;
    }
    if ((s = qmp_running(&q->qmp, &q->found_running, NULL, 0)) ||
        (s = qemu_memory_open(&q->qmp, cfg->mem, &q->mem)))
        return s;
    if (locked || stub == STUB_BUSY) {
        if (!cfg->shared_ok)
            return stub_busy(q, locked, holder);
        lock_release(&q->lockf);
        snprintf(q->holder, sizeof q->holder, "%s", locked ? holder : "a gdb client (not a vmic)");
        return qemu_open_shared(q, cfg);
    }
    /* QMP serves one client: let it go for the others. */
    qmp_close(&q->qmp);
    return open_gdb(q, cfg, timeout);
}

static char *source_name(const vmic_qemu_config_t *cfg)
{
    size_t n = strlen(cfg->gdb) + strlen(cfg->qmp) + strlen(cfg->mem) + 32;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "qemu:gdb=%s,qmp=%s,mem=%s", cfg->gdb, cfg->qmp, cfg->mem);
    return s;
}

static vmic_status open_named(const vmic_qemu_config_t *cfg, const char *source,
                              vmic_driver **out)
{
    vmic_status s;

    *out = NULL;
    if (!cfg || !cfg->gdb || !cfg->qmp || !cfg->mem)
        return vmic_fail(VMIC_E_INVAL, "qemu: the gdb, QMP and RAM-file endpoints are all "
                         "needed");
    qemu_driver_t *q = calloc(1, sizeof *q);
    if (!q)
        return vmic_fail(VMIC_E_NOMEM, "qemu: no memory for the driver");
    q->gdb.fd = -1;
    q->qmp.fd = -1;
    q->lockf.fd = -1;
    q->guard.ctl = -1;
    q->ev.wake_fd = -1;
    q->ops = qemu_ops;
    q->base.ops = &q->ops;
    pthread_mutex_init(&q->lock, NULL);
    qemu_plugin_events_init(q);
    q->source = source ? strdup(source) : source_name(cfg);
    if (!q->source) {
        qemu_plugin_events_close(q);
        pthread_mutex_destroy(&q->lock);
        free(q);
        return vmic_fail(VMIC_E_NOMEM, "qemu: no memory for the driver");
    }
    q->info.source = q->source;
    int timeout = cfg->timeout_ms ? (int)cfg->timeout_ms : QEMU_DEFAULT_TIMEOUT_MS;

    s = attach(q, cfg, timeout);
    if (s) {
        char why[1400];
        snprintf(why, sizeof why, "%s: %s", q->source, vmic_errmsg());
        /* Leave the VM as we found it: the gdb connect stopped it. */
        if (!q->shared && q->found_running && q->gdb.fd >= 0 && !q->gdb.dead) {
            if (gdb_command_ok(&q->gdb, "D") != VMIC_OK)
                gdb_continue(&q->gdb);
        }
        q->implicit_pause = false;
        q->end = NULL;   /* the caller gets the error, not an end report */
        qemu_close_driver(&q->base);
        return vmic_fail(s, "%s", why);
    }
    q->end = cfg->end;

    vmic_driver_info_t *info = &q->info;
    info->driver = "qemu";
    info->mem_size = q->mem.mem_size;
    info->regions = q->mem.regions;
    info->nregions = q->mem.nregions;
    const vmic_mem_region_t *last = &q->mem.regions[q->mem.nregions - 1];
    info->max_pa = vmic_pa(last->start.addr + last->size);
    info->vcpu_count = q->nthreads;
    qemu_plugin_detect(q, cfg->mem);
    if ((info->flags & VMIC_DRIVER_INFO_PLUGIN) && q->ops.events) {
        q->ops.exec_watches = &qemu_exec_watches;
        q->ops.views = &qemu_views;
        info->caps = vmic_driver_caps(&q->ops);
    }
    *out = &q->base;
    return VMIC_OK;
}

vmic_status vmic_qemu_open(const vmic_qemu_config_t *cfg, vmic_driver **out)
{
    return open_named(cfg, NULL, out);
}

vmic_status vmic_qemu_open_target(const char *target, const vmic_qemu_config_t *cfg,
                                  vmic_driver **out)
{
    vmic_qemu_target_t t;
    *out = NULL;
    vmic_status s = vmic_qemu_parse_target(target, &t);
    if (s)
        return s;
    vmic_qemu_config_t c = {0};
    if (cfg)
        c = *cfg;
    c.gdb = t.gdb;
    c.qmp = t.qmp;
    c.mem = t.mem;
    return open_named(&c, target, out);
}
