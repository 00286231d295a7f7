/*
 * Single-steps. A vCPU steps for several reasons at once, each undone when
 * the step exit comes:
 *   user_step / step_monitor  report a SINGLESTEP event (vmi-rs's Singlestep)
 *   fast_step                 FastSinglestep: one instruction in fast_view,
 *                             then back to the vCPU's view, no event
 *   through                   one instruction through a hole page the view
 *                             allows, the page mapped meanwhile
 *   dr_suppress               a debug-register breakpoint stepped over: its
 *                             slot is off for this instruction (RF is ignored
 *                             by this KVM), re-armed after
 * A step that needs a slot layout other vCPUs must not see (another view, a
 * page mapped for the step) runs alone: it holds vm->exclusive, which keeps
 * every other vCPU at its gate, and the layout is that vCPU's view.
 */
#include <string.h>

#include "kvm.h"

/* Waits until no other vCPU runs alone, then runs alone. False if a reset
 * came meanwhile: the step it was for has been cancelled. */
static bool exclusive_acquire(kvm_vcpu *v)
{
    kvm_vm *vm = v->vm;
    while (vm->exclusive != KVM_NO_VCPU && vm->exclusive != (int)v->index && !vm->closing &&
           !exit_stale(v)) {
        v->busy = false;
        if (vm->settle_waiters)
            pthread_cond_broadcast(&vm->settle_cond);
        pthread_cond_wait(&vm->gate_cond, &vm->lock);
        v->busy = true;
    }
    if (vm->closing || exit_stale(v))
        return false;
    vm->exclusive = (int)v->index;
    v->exclusive = true;
    return true;
}

static void exclusive_release(kvm_vcpu *v)
{
    kvm_vm *vm = v->vm;
    if (!v->exclusive)
        return;
    v->exclusive = false;
    vm->exclusive = KVM_NO_VCPU;
    pthread_cond_broadcast(&vm->gate_cond);
}

void step_fast(kvm_vcpu *v, vmic_view_t view)
{
    v->fast_step = true;
    v->fast_view = view;
    v->step_silent = true;
    v->debug_dirty = true;
    if (view == v->view)
        return;
    if (!exclusive_acquire(v)) {
        v->fast_step = v->step_silent = false;
        return;
    }
    views_relayout(v->vm, NULL, 0, false);
}

void step_through(kvm_vcpu *v, uint64_t gfn0, uint64_t gfn1)
{
    v->through = true;
    v->through_gfn[0] = gfn0;
    v->through_gfn[1] = gfn1;
    v->debug_dirty = true;
    if (!exclusive_acquire(v)) {
        v->through = false;
        return;
    }
    views_relayout(v->vm, NULL, 0, false);
}

bool step_done(kvm_vcpu *v)
{
    bool tell = (v->user_step || v->step_monitor) && !v->step_silent;
    bool was_alone = v->exclusive;

    v->fast_step = false;
    v->through = false;
    v->step_silent = false;
    v->dr_suppress = 0;
    v->debug_dirty = true;
    if (was_alone) {
        exclusive_release(v);
        views_relayout(v->vm, NULL, 0, false);
    }
    return tell;
}

void step_cancel_all(kvm_vm *vm)
{
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        kvm_vcpu *v = &vm->vcpus[i];
        v->user_step = v->step_monitor = v->fast_step = v->through = v->step_silent = false;
        v->dr_suppress = 0;
        v->exclusive = false;
        v->debug_dirty = true;
    }
    vm->exclusive = KVM_NO_VCPU;
    pthread_cond_broadcast(&vm->gate_cond);
}

void debug_state(const kvm_vcpu *v, struct kvm_guest_debug *dbg)
{
    const kvm_vm *vm = v->vm;
    uint8_t slots = vm->dr_used & (uint8_t)~v->dr_suppress;

    memset(dbg, 0, sizeof *dbg);
    if (v->user_step || v->step_monitor || v->fast_step || v->through || v->dr_suppress)
        dbg->control |= KVM_GUESTDBG_SINGLESTEP;
    if (vm->int3_monitor)
        dbg->control |= KVM_GUESTDBG_USE_SW_BP;
    if (slots) {
        dbg->control |= KVM_GUESTDBG_USE_HW_BP;
        for (int i = 0; i < 4; i++) {
            if (!(slots & (1u << i)))
                continue;
            dbg->arch.debugreg[i] = vm->dr_addr[i];
            dbg->arch.debugreg[7] |= 1ull << (2 * i); /* Ln; R/W and LEN 00: execute */
        }
    }
    if (dbg->control)
        dbg->control |= KVM_GUESTDBG_ENABLE;
}
