/*
 * Events on KVM: handing an event to the session and carrying out the
 * response. The table of what each action does for each event kind is in
 * kvm.h; kvm_check_response refuses what this KVM cannot do, with the reason.
 */
#include <string.h>

#include "kvm.h"

/* ---- handing events over ------------------------------------------------------------ */

void event_begin(kvm_vcpu *v, vmic_event_kind kind)
{
    kvm_vm *vm = v->vm;
    vmic_event_t *ev = &v->event;

    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    ev->vcpu = v->index;
    pthread_mutex_lock(&vm->lock);
    ev->view = vcpu_effective_view(v);
    pthread_mutex_unlock(&vm->lock);
    regs_from_run(v->run, &ev->regs);
}

deliver_result event_deliver(kvm_vcpu *v, vmic_event_response_t *resp)
{
    kvm_vm *vm = v->vm;

    pthread_mutex_lock(&vm->lock);
    uint64_t gen = v->exit_gen;
    v->event.seq = ++vm->event_seq;
    for (;;) {
        if (vm->closing) {
            pthread_mutex_unlock(&vm->lock);
            return DELIVER_ABORT;
        }
        if (gen != vm->generation) {
            /* Reset while it waited: what stopped it may be gone. */
            pthread_mutex_unlock(&vm->lock);
            return DELIVER_RETRY;
        }
        uint64_t sink_gen = vm->sink_gen;
        if (vm->has_sink) {
            vmic_event_sink_t sink = vm->sink;
            v->at_event = true;
            v->busy = false;
            vm->in_sink++;
            if (vm->settle_waiters)
                pthread_cond_broadcast(&vm->settle_cond);
            pthread_mutex_unlock(&vm->lock);
            memset(resp, 0, sizeof *resp);
            resp->action = VMIC_ACTION_CONTINUE;
            bool taken = sink.deliver(sink.ctx, &v->event, resp);
            pthread_mutex_lock(&vm->lock);
            vm->in_sink--;
            v->at_event = false;
            v->busy = true;
            if (vm->settle_waiters)
                pthread_cond_broadcast(&vm->settle_cond);
            if (taken && gen != vm->generation) {
                /* A reset came while the session had the event (the ending
                 * session takes the last ones): the answer refers to what
                 * is gone. Look at the exit afresh instead. */
                pthread_mutex_unlock(&vm->lock);
                return DELIVER_RETRY;
            }
            if (taken) {
                vm->events++;
                pthread_mutex_unlock(&vm->lock);
                return DELIVER_DONE;
            }
        }
        /* No session takes events now: wait for one, or for a reset. */
        v->at_event = true;
        v->busy = false;
        if (vm->settle_waiters)
            pthread_cond_broadcast(&vm->settle_cond);
        while (!vm->closing && gen == vm->generation && sink_gen == vm->sink_gen)
            pthread_cond_wait(&vm->gate_cond, &vm->lock);
        v->at_event = false;
        v->busy = true;
    }
}

vmic_status kvm_attach_events(vmic_driver *d, const vmic_event_sink_t *sink)
{
    kvm_vm *vm = kvm_of(d);

    pthread_mutex_lock(&vm->lock);
    vm->has_sink = sink != NULL;
    if (sink)
        vm->sink = *sink;
    vm->sink_gen++;
    pthread_cond_broadcast(&vm->gate_cond);
    /* Detaching: the sink's owner may go away once this returns. */
    while (!sink && vm->in_sink) {
        vm->settle_waiters++;
        pthread_cond_wait(&vm->settle_cond, &vm->lock);
        vm->settle_waiters--;
    }
    pthread_mutex_unlock(&vm->lock);
    return VMIC_OK;
}

/* ---- what this KVM can honour --------------------------------------------------------- */

static const char *event_what(const vmic_event_t *ev)
{
    switch (ev->kind) {
    case VMIC_EVENT_MEMORY_ACCESS:
        return ev->memory.access == VMIC_ACCESS_X ? "memory fetch"
               : ev->memory.access == VMIC_ACCESS_W ? "memory write" : "memory read";
    case VMIC_EVENT_INTERRUPT: return "INT3";
    case VMIC_EVENT_SINGLESTEP: return "single-step";
    case VMIC_EVENT_MSR_WRITE: return "MSR write";
    case VMIC_EVENT_IO: return "port I/O";
    case VMIC_EVENT_BREAKPOINT: return "debug-register breakpoint";
    }
    return "unknown";
}

static const char *why_not(const vmic_event_t *ev, const vmic_event_response_t *r)
{
    vmic_action a = r->action;

    if (a == VMIC_ACTION_REINJECT_INTERRUPT && ev->kind != VMIC_EVENT_INTERRUPT)
        return "only an interrupt event has an interrupt to reinject";
    switch (ev->kind) {
    case VMIC_EVENT_MEMORY_ACCESS:
        if (a == VMIC_ACTION_DENY && ev->memory.access == VMIC_ACCESS_R)
            return "a read has no side effect to suppress (answer Continue, Emulate or "
                   "FastSinglestep)";
        if (a == VMIC_ACTION_DENY && ev->memory.access == VMIC_ACCESS_X)
            return "the instruction has not run, there is nothing to suppress (change the view "
                   "and Continue, or Emulate, Singlestep, FastSinglestep)";
        if (a == VMIC_ACTION_EMULATE && r->set_view && ev->memory.access == VMIC_ACCESS_X)
            return "Emulate runs the instruction in the event's view; switch views with "
                   "Continue or Singlestep";
        return NULL;
    case VMIC_EVENT_INTERRUPT:
        if (a == VMIC_ACTION_DENY)
            return "Deny suppresses register and MSR writes, an INT3 has none";
        if (a == VMIC_ACTION_EMULATE)
            return "this KVM's instruction emulator has no INT3 (that is why it exits)";
        return NULL;
    case VMIC_EVENT_SINGLESTEP:
        if (a == VMIC_ACTION_DENY || a == VMIC_ACTION_EMULATE)
            return "the instruction has already completed";
        return NULL;
    case VMIC_EVENT_MSR_WRITE:
        return NULL;
    case VMIC_EVENT_IO:
        if (a == VMIC_ACTION_DENY && !ev->io.out && ev->io.count > 1)
            return "denying a string IN would need the memory it fills to stay as it was";
        return NULL;
    case VMIC_EVENT_BREAKPOINT:
        if (a == VMIC_ACTION_DENY || a == VMIC_ACTION_EMULATE)
            return "a debug-register breakpoint is vmic's own: Continue steps over it";
        return NULL;
    }
    return "unknown event kind";
}

vmic_status kvm_check_response(vmic_driver *d, const vmic_event_t *ev,
                               const vmic_event_response_t *r)
{
    kvm_vm *vm = kvm_of(d);
    const uint32_t loadable = VMIC_REGS_GPR | VMIC_REGS_SEG | VMIC_REGS_CR | VMIC_REGS_DT |
                              VMIC_REGS_EFER;

    if ((unsigned)r->action > VMIC_ACTION_EMULATE)
        return vmic_fail(VMIC_E_INVAL, "kvm: response action %d does not exist", (int)r->action);
    if (r->set_regs && (r->regs.valid & ~loadable))
        return vmic_fail(VMIC_E_UNSUPPORTED, "kvm: a response can load the GPR, SEG, CR, DT and "
                         "EFER register groups, not 0x%x", r->regs.valid & ~loadable);
    if (r->set_view) {
        pthread_mutex_lock(&vm->lock);
        bool ok = r->view < KVM_MAX_VIEWS && vm->views[r->view].used;
        pthread_mutex_unlock(&vm->lock);
        if (!ok)
            return vmic_fail(VMIC_E_NOTFOUND, "kvm: the response names view %u, which does not "
                             "exist", r->view);
    }
    const char *why = why_not(ev, r);
    if (why)
        return vmic_fail(VMIC_E_UNSUPPORTED, "kvm: %s cannot answer this %s event: %s",
                         vmic_action_vmi_rs_name(r->action), event_what(ev), why);
    return VMIC_OK;
}

/* ---- carrying responses out (vCPU thread) ------------------------------------------------ */

/* Under lock: a response's view, where the action keeps it. */
static void switch_view(kvm_vcpu *v, const vmic_event_response_t *r)
{
    kvm_vm *vm = v->vm;
    if (!r->set_view || r->view == v->view || r->view >= KVM_MAX_VIEWS || !vm->views[r->view].used)
        return;
    v->view = r->view;
    views_relayout(vm, NULL, 0, false);
}

static void take_regs(kvm_vcpu *v, const vmic_event_response_t *r)
{
    if (!r->set_regs)
        return;
    if (v->regs_dirty)
        regs_merge(&v->pending_regs, &r->regs);
    else
        v->pending_regs = r->regs;
    v->regs_dirty = true;
}

/* The view a (Fast)Singlestep runs its instruction in. */
static vmic_view_t step_view(const kvm_vcpu *v, const vmic_event_response_t *r)
{
    return r->set_view ? r->view : v->event.view;
}

static void start_user_step(kvm_vcpu *v)
{
    v->user_step = true;
    v->debug_dirty = true;
}

/* The write or OUT is done already: its SINGLESTEP event is due at once. */
static void report_step_now(kvm_vcpu *v)
{
    vmic_event_response_t r;
    uint64_t pa;

    event_begin(v, VMIC_EVENT_SINGLESTEP);
    if (vcpu_translate(v, v->run->s.regs.regs.rip, &pa) == VMIC_OK)
        v->event.singlestep.pa = vmic_pa(pa);
    if (event_deliver(v, &r) == DELIVER_DONE)
        respond_singlestep(v, &r);
}

/* Completes the current MMIO exit with the page `view` shows at gfn. */
static void complete_in(kvm_vcpu *v, vmic_view_t view, uint64_t gfn)
{
    vmic_access_t a;
    uint64_t backing;
    view_lookup(v->vm, view, gfn, &a, &backing);
    mmio_complete(v, backing);
}

/* A read or a (posted) write; true when a SINGLESTEP event is due now. */
static bool respond_data(kvm_vcpu *v, const vmic_event_response_t *r)
{
    const vmic_event_t *ev = &v->event;
    bool write = ev->memory.access == VMIC_ACCESS_W;
    uint64_t gfn = ev->memory.gfn.num;

    switch (r->action) {
    case VMIC_ACTION_EMULATE:
        complete_in(v, ev->view, gfn);
        switch_view(v, r);
        return false;
    case VMIC_ACTION_DENY:
        switch_view(v, r);
        if (!write)
            complete_in(v, ev->view, gfn);
        return false; /* a write: dropped */
    case VMIC_ACTION_FAST_SINGLESTEP: {
        vmic_view_t view = step_view(v, r);
        complete_in(v, view, gfn);
        if (!write)
            step_fast(v, view); /* the rest of the instruction sees that view too */
        return false;
    }
    case VMIC_ACTION_SINGLESTEP:
        switch_view(v, r);
        complete_in(v, v->view, gfn);
        if (write)
            return true;
        start_user_step(v);
        return false;
    default:
        switch_view(v, r);
        complete_in(v, v->view, gfn);
        return false;
    }
}

static void respond_fetch(kvm_vcpu *v, const vmic_event_response_t *r)
{
    const vmic_event_t *ev = &v->event;

    switch (r->action) {
    case VMIC_ACTION_EMULATE:
        step_through(v, ev->memory.gfn.num, UINT64_MAX);
        break;
    case VMIC_ACTION_SINGLESTEP:
        switch_view(v, r);
        start_user_step(v);
        break;
    case VMIC_ACTION_FAST_SINGLESTEP:
        step_fast(v, step_view(v, r));
        break;
    default:
        switch_view(v, r); /* re-executed: traps again unless allowed now */
        break;
    }
}

void respond_memory(kvm_vcpu *v, const vmic_event_response_t *r)
{
    kvm_vm *vm = v->vm;
    bool step_now = false;

    pthread_mutex_lock(&vm->lock);
    take_regs(v, r);
    if (v->event.memory.access == VMIC_ACCESS_X)
        respond_fetch(v, r);
    else
        step_now = respond_data(v, r);
    pthread_mutex_unlock(&vm->lock);
    if (step_now)
        report_step_now(v);
}

/* The common tail of every other kind: view, Singlestep, FastSinglestep. */
static void respond_steps(kvm_vcpu *v, const vmic_event_response_t *r, bool done)
{
    if (r->action == VMIC_ACTION_FAST_SINGLESTEP) {
        if (!done)
            step_fast(v, step_view(v, r));
        return;
    }
    switch_view(v, r);
    if (r->action == VMIC_ACTION_SINGLESTEP && !done)
        start_user_step(v);
}

void respond_interrupt(kvm_vcpu *v, const vmic_event_response_t *r, bool from_debug_exit)
{
    kvm_vm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    take_regs(v, r);
    if (r->action == VMIC_ACTION_REINJECT_INTERRUPT)
        reinject_bp(v, !from_debug_exit);
    respond_steps(v, r, false);
    pthread_mutex_unlock(&vm->lock);
}

void respond_singlestep(kvm_vcpu *v, const vmic_event_response_t *r)
{
    kvm_vm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    take_regs(v, r);
    /* vmi-rs: a SINGLESTEP response keeps stepping, anything else stops. */
    bool again = r->action == VMIC_ACTION_SINGLESTEP;
    v->user_step = again;
    if (!again)
        v->step_monitor = false;
    v->debug_dirty = true;
    respond_steps(v, r, false);
    pthread_mutex_unlock(&vm->lock);
}

void respond_msr(kvm_vcpu *v, const vmic_event_response_t *r)
{
    kvm_vm *vm = v->vm;

    if (r->action == VMIC_ACTION_DENY)
        v->run->msr.error = 0; /* WRMSR "succeeds", nothing is written */
    else
        msr_apply(v, v->event.msr.msr, v->event.msr.value);
    pthread_mutex_lock(&vm->lock);
    take_regs(v, r);
    respond_steps(v, r, false);
    pthread_mutex_unlock(&vm->lock);
}

void respond_io(kvm_vcpu *v, const vmic_event_response_t *r)
{
    kvm_vm *vm = v->vm;
    struct kvm_run *run = v->run;
    bool posted = v->event.io.out && v->event.io.count == 1;

    if (r->action == VMIC_ACTION_DENY) {
        if (!v->event.io.out) /* IN: RAX keeps its bytes */
            memcpy((uint8_t *)run + run->io.data_offset, &run->s.regs.regs.rax, run->io.size);
    } else {
        device_io(v);
    }
    pthread_mutex_lock(&vm->lock);
    take_regs(v, r);
    respond_steps(v, r, posted);
    pthread_mutex_unlock(&vm->lock);
    if (posted && r->action == VMIC_ACTION_SINGLESTEP)
        report_step_now(v);
}

void respond_breakpoint(kvm_vcpu *v, const vmic_event_response_t *r)
{
    kvm_vm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    take_regs(v, r);
    /* RF is ignored here: step over with the slot off, then re-arm. */
    v->dr_suppress |= (uint8_t)(1u << v->event.breakpoint.slot);
    v->debug_dirty = true;
    respond_steps(v, r, false);
    pthread_mutex_unlock(&vm->lock);
}
