/*
 * Responses on QEMU: what each action does for each event the qemu driver
 * reports (the table is in qemu.h), and the precise reason for every one the
 * gdb protocol cannot carry out. Nothing is approximated: an action that
 * would mean something else here is refused.
 *
 * The responses only set state (a step to take, a breakpoint to step over);
 * the event thread then lets the VM go on through qemu_run_on, which also
 * holds everything back while the user has the VM paused.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "qemu.h"

static const char *event_what(const vmic_event_t *ev)
{
    switch (ev->kind) {
    case VMIC_EVENT_MEMORY_ACCESS: return "watchpoint";
    case VMIC_EVENT_SINGLESTEP: return "single-step";
    case VMIC_EVENT_BREAKPOINT: return "breakpoint";
    default: return "unknown";
    }
}

static const char *why_not(const vmic_event_t *ev, const vmic_event_response_t *r)
{
    if (ev->kind != VMIC_EVENT_MEMORY_ACCESS && ev->kind != VMIC_EVENT_SINGLESTEP &&
        ev->kind != VMIC_EVENT_BREAKPOINT)
        return "the qemu driver reports only breakpoint, watchpoint and single-step events";
    if (r->set_view && r->view != 0)
        return "an event of the gdbstub cannot switch views (the plugin's events can: views "
               "are the plugin's)";
    switch (r->action) {
    case VMIC_ACTION_DENY:
        if (ev->kind == VMIC_EVENT_MEMORY_ACCESS)
            return "QEMU reports a watchpoint after the access has completed: the write is in "
                   "memory already, there is nothing left to deny";
        if (ev->kind == VMIC_EVENT_SINGLESTEP)
            return "the instruction has already completed";
        return "Deny suppresses register and MSR writes; a breakpoint stops before the "
               "instruction, which has none yet";
    case VMIC_ACTION_EMULATE:
        if (ev->kind == VMIC_EVENT_MEMORY_ACCESS)
            return "QEMU reports a watchpoint after the access has completed: there is nothing "
                   "left to emulate (answer Continue)";
        if (ev->kind == VMIC_EVENT_SINGLESTEP)
            return "the instruction has already completed";
        return "the gdb protocol cannot have QEMU emulate one instruction apart (Continue or "
               "Singlestep run it)";
    case VMIC_ACTION_REINJECT_INTERRUPT:
        return "there is no guest interrupt to reinject: gdb breakpoints, watchpoints and "
               "steps are vmic's own, the guest raised no exception";
    default:
        return NULL;
    }
}

/*
 * A plugin event (an exec watch, or a fetch from a page without X): its
 * vCPU waits in a plugin callback, which can only let the instruction run.
 * Continue and FastSinglestep both mean that here (on kvm a Continue from
 * the same view would fault again; views.c); Continue with a view moves
 * the vCPU to it. The rest has no form in QEMU's plugin API v1.
 */
static vmic_status plugin_response_ok(qemu_driver_t *q, const vmic_event_t *ev,
                                      const vmic_event_response_t *r)
{
    const char *what = ev->kind == VMIC_EVENT_MEMORY_ACCESS ? "an execute fault"
                                                             : "an exec watch's event";
    const char *why = NULL;
    if (r->set_regs)
        why = "QEMU's plugin API (v1) can neither read nor write registers";
    else if (r->set_view && !qemu_view_exists(q, r->view))
        return vmic_fail(VMIC_E_NOTFOUND, "qemu: a response to %s switches to view %u, which "
                         "does not exist", what, r->view);
    else if (r->action == VMIC_ACTION_SINGLESTEP)
        why = "a plugin cannot stop a vCPU after one instruction; a breakpoint through the "
              "gdbstub (--tap debugreg) can";
    else if (r->action != VMIC_ACTION_CONTINUE && r->action != VMIC_ACTION_FAST_SINGLESTEP)
        why = "a plugin callback cannot withhold, change or emulate the instruction; it can "
              "only let it run (Continue, FastSinglestep)";
    if (why)
        return vmic_fail(VMIC_E_UNSUPPORTED, "qemu: %s cannot answer %s: %s",
                         vmic_action_vmi_rs_name(r->action), what, why);
    return VMIC_OK;
}

vmic_status qemu_check_response(vmic_driver *d, const vmic_event_t *ev,
                                const vmic_event_response_t *r)
{
    qemu_driver_t *q = qemu_of(d);

    if ((unsigned)r->action > VMIC_ACTION_EMULATE)
        return vmic_fail(VMIC_E_INVAL, "qemu: response action %d does not exist",
                         (int)r->action);
    if (ev->flags & VMIC_EVENT_NO_REGS)
        return plugin_response_ok(q, ev, r);
    /* What registers.c can write through 'P'. */
    const uint32_t loadable = regs_groups(&q->regmap) &
                              (VMIC_REGS_GPR | VMIC_REGS_SEG | VMIC_REGS_CR | VMIC_REGS_EFER);
    if (r->set_regs && (r->regs.valid & ~loadable))
        return vmic_fail(VMIC_E_UNSUPPORTED, "qemu: a response can load the register groups "
                         "0x%x through the gdbstub (GPR, segments, CR, EFER), not 0x%x", loadable,
                         r->regs.valid & ~loadable);
    const char *why = why_not(ev, r);
    if (why)
        return vmic_fail(VMIC_E_UNSUPPORTED, "qemu: %s cannot answer this %s event: %s",
                         vmic_action_vmi_rs_name(r->action), event_what(ev), why);
    return VMIC_OK;
}

/* Under lock, the VM stopped at the event. */
void qemu_respond(qemu_driver_t *q, const vmic_event_t *ev, const vmic_event_response_t *r)
{
    qemu_events_t *e = &q->ev;
    uint64_t rip = ev->regs.rip;

    if (r->set_regs) {
        vmic_amd64_regs_t cur;
        vmic_status s = qemu_read_vcpu(q, ev->vcpu, "answering an event of", &cur);
        if (s == VMIC_OK)
            s = regs_write(&q->gdb, &q->regmap, &cur, &r->regs);
        if (s) {
            if (!q->gdb.dead) {
                e->failed = true;
                snprintf(e->failure, sizeof e->failure, "loading the registers of event %" PRIu64
                         "'s response: %s", ev->seq, vmic_errmsg());
            }
            return;
        }
        if (r->regs.valid & VMIC_REGS_GPR)
            rip = r->regs.rip;
    }
    switch (r->action) {
    case VMIC_ACTION_SINGLESTEP:
    case VMIC_ACTION_FAST_SINGLESTEP:
        if (ev->kind == VMIC_EVENT_MEMORY_ACCESS) {
            /* The instruction that made the access has completed. */
            if (r->action == VMIC_ACTION_SINGLESTEP) {
                e->step_due = true;
                e->due_vcpu = ev->vcpu;
            }
            break;
        }
        /* From a breakpoint too: QEMU's single-step ignores breakpoints,
         * so the instruction at it runs. */
        e->stepping = true;
        e->step_silent = r->action == VMIC_ACTION_FAST_SINGLESTEP;
        e->step_vcpu = ev->vcpu;
        break;
    default:   /* Continue */
        if (ev->kind == VMIC_EVENT_BREAKPOINT) {
            e->over = true;
            e->over_vcpu = ev->vcpu;
            e->over_va = rip;
        }
        break;
    }
}

/* Why the gdbstub gives no monitor of a kind, no injection, no views: the
 * driver's table leaves those groups out, and the core's message says this. */
static const char WHY_INTERRUPT[] =
    "QEMU's gdbstub does not report the guest's own exceptions (an INT3 in guest code goes to "
    "the guest's IDT); breakpoints are vmic_hw_breakpoint_set, which QEMU keeps outside guest "
    "memory";
static const char WHY_STEP[] =
    "QEMU's gdbstub steps with interrupts and timers off, so a vCPU stepped without end would "
    "never take one (an idle vCPU in HLT would never come back, the others stay stopped); "
    "single-step from an event with Singlestep responses";
static const char WHY_MSR[] = "the gdb protocol has no MSR events";
static const char WHY_IO[] = "the gdb protocol has no port I/O events";
static const char WHY_INJECT[] =
    "the gdb protocol cannot raise an exception or interrupt in the guest";
static const char WHY_VIEWS[] =
    "the gdb protocol has no page permissions: views need vmic's QEMU plugin (libvmic-qemu.so; "
    "`vmic boot` loads it), and there take only X away; data traps are vmic_watchpoint_set";
static const char WHY_DATA_TRAPS[] =
    "vmic's QEMU plugin sees instructions, not reads and writes: a page can lose X only, and "
    "no gfn can be remapped; data traps are vmic_watchpoint_set";

const char *qemu_explain(vmic_driver *d, uint64_t missing)
{
    qemu_driver_t *q = qemu_of(d);
    /* info.plugin says why there is none: no block, a stale one, ... */
    if ((missing & VMIC_CAP_EXEC_WATCH) && !(q->info.flags & VMIC_DRIVER_INFO_PLUGIN))
        return q->plugin;
    if (missing & VMIC_CAP_SW_BREAKPOINT)
        return WHY_INTERRUPT;
    if (missing & VMIC_CAP_STEP_MONITOR)
        return WHY_STEP;
    if (missing & VMIC_CAP_MSR_EVENTS)
        return WHY_MSR;
    if (missing & VMIC_CAP_IO_EVENTS)
        return WHY_IO;
    if (missing & VMIC_CAP_INJECT)
        return WHY_INJECT;
    if (missing & VMIC_CAP_VIEWS)
        return WHY_VIEWS;
    if (missing & VMIC_CAP_DATA_TRAPS)
        return WHY_DATA_TRAPS;
    return NULL;
}

vmic_status qemu_monitor(vmic_driver *d, const vmic_monitor_t *m, bool enable)
{
    qemu_driver_t *q = qemu_of(d);
    const char *why;

    switch (m->kind) {
    case VMIC_MONITOR_INTERRUPT:
        why = WHY_INTERRUPT;
        break;
    case VMIC_MONITOR_SINGLESTEP:
        why = WHY_STEP;
        break;
    case VMIC_MONITOR_MSR_WRITE:
        why = WHY_MSR;
        break;
    case VMIC_MONITOR_IO:
        why = WHY_IO;
        break;
    default:
        return vmic_fail(VMIC_E_INVAL, "%s: monitor kind %d does not exist", q->info.source,
                         (int)m->kind);
    }
    if (!enable)
        return vmic_fail(VMIC_E_NOTFOUND, "%s: that monitor was never enabled (%s)",
                         q->info.source, why);
    return vmic_fail(VMIC_E_UNSUPPORTED, "%s: %s", q->info.source, why);
}

vmic_status qemu_inject(vmic_driver *d, vmic_vcpu_t vcpu, const vmic_injection_t *inj)
{
    qemu_driver_t *q = qemu_of(d);
    return vmic_fail(VMIC_E_UNSUPPORTED, "%s: injecting vector %u into vCPU %" PRIu32 ": %s",
                     q->info.source, inj ? inj->vector : 0, vcpu, WHY_INJECT);
}
