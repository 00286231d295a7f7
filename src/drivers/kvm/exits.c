/*
 * Exit handling: each KVM exit becomes either silent work (a device, an
 * access the vCPU's own view allows, an INT3 nobody watches) or an event for
 * the session, followed by its response.
 *
 * Classifying an emulation failure (KVM_EXIT_INTERNAL_ERROR, suberror 1):
 *   RIP, or an instruction straddling from it, in a hole -> a fetch;
 *   the instruction's first byte 0xCC -> INT3 (how INT3 arrives on these
 *     machines; the bytes KVM saw come with the exit, so a breakpoint another
 *     vCPU removes meanwhile is still recognised);
 *   else, if the slots changed since the vCPU entered, run it again;
 *   else the guest used an instruction this KVM cannot emulate: the VM fails.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kvm.h"

#define X86_MAX_INSN 15

static void exit_fail(kvm_vcpu *v, const char *fmt, ...) VMIC_PRINTF(2, 3);

static void exit_fail(kvm_vcpu *v, const char *fmt, ...)
{
    kvm_vm *vm = v->vm;
    char msg[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&vm->lock);
    vm_set_state(vm, VMIC_GUEST_FAILED, 0, "vCPU %u: %s", v->index, msg);
    vcpu_finish(v, "failed");
    pthread_mutex_unlock(&vm->lock);
    vm_notify_stopped(vm);
}

static void exit_stop(kvm_vcpu *v, const char *why)
{
    kvm_vm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    vcpu_finish(v, why);
    bool over = vm->state.state == VMIC_GUEST_EXITED || vm->state.state == VMIC_GUEST_FAILED;
    pthread_mutex_unlock(&vm->lock);
    if (over)
        vm_notify_stopped(vm);
}

/* Hands the event in v->event over; true if the exit must be looked at again. */
typedef void (*respond_fn)(kvm_vcpu *v, const vmic_event_response_t *r);

static bool report(kvm_vcpu *v, respond_fn respond)
{
    vmic_event_response_t r;
    switch (event_deliver(v, &r)) {
    case DELIVER_DONE:
        respond(v, &r);
        return false;
    case DELIVER_RETRY:
        return true;
    case DELIVER_ABORT:
        break;
    }
    return false;
}

/* ---- port I/O ------------------------------------------------------------------ */

static bool exit_io(kvm_vcpu *v)
{
    struct kvm_run *run = v->run;
    kvm_vm *vm = v->vm;

    v->io_pending = true;
    pthread_mutex_lock(&vm->lock);
    bool monitored = io_monitored(vm, run->io.port);
    pthread_mutex_unlock(&vm->lock);
    if (!monitored) {
        device_io(v);
        return false;
    }
    event_begin(v, VMIC_EVENT_IO);
    vmic_event_t *ev = &v->event;
    ev->io.port = run->io.port;
    ev->io.size = run->io.size;
    ev->io.out = run->io.direction == KVM_EXIT_IO_OUT;
    ev->io.count = run->io.count;
    if (ev->io.out && run->io.size <= sizeof ev->io.value)
        memcpy(&ev->io.value, (uint8_t *)run + run->io.data_offset, run->io.size);
    return report(v, respond_io);
}

/* ---- memory: MMIO exits are reads from holes and writes to read-only slots ---- */

void mmio_complete(kvm_vcpu *v, uint64_t backing_gfn)
{
    struct kvm_run *run = v->run;
    uint64_t off = vmic_page_offset(run->mmio.phys_addr);
    uint32_t len = run->mmio.len;

    if (len > sizeof run->mmio.data || off + len > VMIC_PAGE_SIZE)
        return; /* KVM splits accesses at pages; never seen otherwise */
    uint8_t *host = kvm_page(v->vm, vmic_gfn(backing_gfn)) + off;
    if (run->mmio.is_write)
        memcpy(host, run->mmio.data, len);
    else
        memcpy(run->mmio.data, host, len);
}

static bool exit_mmio(kvm_vcpu *v)
{
    struct kvm_run *run = v->run;
    kvm_vm *vm = v->vm;
    uint64_t gpa = run->mmio.phys_addr, gfn = gpa >> VMIC_PAGE_SHIFT;
    vmic_access_t need = run->mmio.is_write ? VMIC_ACCESS_W : VMIC_ACCESS_R;
    vmic_access_t allowed;
    uint64_t backing;

    v->io_pending = true;
    if (gfn >= vm->ram_pages) {
        /* No device there: reads float high, writes vanish. */
        if (!run->mmio.is_write)
            memset(run->mmio.data, 0xff, sizeof run->mmio.data);
        return false;
    }
    pthread_mutex_lock(&vm->lock);
    view_lookup(vm, vcpu_effective_view(v), gfn, &allowed, &backing);
    if (allowed & need) {
        mmio_complete(v, backing);
        pthread_mutex_unlock(&vm->lock);
        return false;
    }
    pthread_mutex_unlock(&vm->lock);

    event_begin(v, VMIC_EVENT_MEMORY_ACCESS);
    vmic_event_t *ev = &v->event;
    ev->memory.pa = vmic_pa(gpa);
    ev->memory.gfn = vmic_gfn(gfn);
    ev->memory.access = need;
    ev->memory.size = (uint8_t)run->mmio.len;
    if (run->mmio.is_write && run->mmio.len <= sizeof ev->memory.value)
        memcpy(&ev->memory.value, run->mmio.data, run->mmio.len);
    return report(v, respond_memory);
}

/* ---- emulation failures: fetches from holes, INT3, the rest ------------------- */

static bool is_hole(const kvm_vm *vm, uint64_t gfn)
{
    return gfn < vm->ram_pages && !layout_find(&vm->layout, vmic_gfn(gfn));
}

/* The first byte of the instruction at RIP: as KVM saw it, if it says and
 * nothing changed since (fresh); else as memory has it now. */
static bool first_insn_byte(const kvm_vm *vm, const struct kvm_run *run, vmic_pa_t at,
                            bool fresh, uint8_t *byte)
{
    uint64_t pa = at.addr;
    if (fresh && run->emulation_failure.ndata >= 3 &&
        (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) &&
        run->emulation_failure.insn_size > 0) {
        *byte = run->emulation_failure.insn_bytes[0];
        return true;
    }
    const kvm_slot *s = layout_find(&vm->layout, vmic_pa_to_gfn(vmic_pa(pa)));
    if (!s)
        return false;
    *byte = kvm_page((kvm_vm *)vm, vmic_gfn(s->backing + ((pa >> VMIC_PAGE_SHIFT) - s->gfn)))
                [vmic_page_offset(pa)];
    return true;
}

static bool report_int3(kvm_vcpu *v, vmic_pa_t pa, bool from_debug_exit);

static void respond_int3_emulated(kvm_vcpu *v, const vmic_event_response_t *r)
{
    respond_interrupt(v, r, false);
}

static void respond_int3_debug(kvm_vcpu *v, const vmic_event_response_t *r)
{
    respond_interrupt(v, r, true);
}

static bool report_int3(kvm_vcpu *v, vmic_pa_t pa, bool from_debug_exit)
{
    kvm_vm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    bool monitored = vm->int3_monitor;
    if (!monitored)
        reinject_bp(v, !from_debug_exit);
    pthread_mutex_unlock(&vm->lock);
    if (!monitored)
        return false;

    event_begin(v, VMIC_EVENT_INTERRUPT);
    vmic_event_t *ev = &v->event;
    ev->interrupt.vector = 3;
    ev->interrupt.type = VMIC_INTR_SW_EXCEPTION;
    ev->interrupt.insn_len = 1;
    ev->interrupt.pa = pa;
    return report(v, from_debug_exit ? respond_int3_debug : respond_int3_emulated);
}

/* A fetch from one or two hole pages: stepped through if the view allows it,
 * else an event. Called under lock, returns with it released. */
static bool fetch_fault(kvm_vcpu *v, uint64_t rip, const uint64_t gfn[2], const uint64_t pa[2])
{
    kvm_vm *vm = v->vm;
    vmic_view_t view = vcpu_effective_view(v);
    int denied = -1;

    for (int i = 0; i < 2 && denied < 0; i++) {
        vmic_access_t a;
        uint64_t backing;
        if (gfn[i] == UINT64_MAX)
            continue;
        view_lookup(vm, view, gfn[i], &a, &backing);
        if (!(a & VMIC_ACCESS_X))
            denied = i;
    }
    if (denied < 0) {
        step_through(v, gfn[0], gfn[1]);
        pthread_mutex_unlock(&vm->lock);
        return false;
    }
    pthread_mutex_unlock(&vm->lock);

    event_begin(v, VMIC_EVENT_MEMORY_ACCESS);
    vmic_event_t *ev = &v->event;
    ev->memory.pa = vmic_pa(pa[denied]);
    ev->memory.gfn = vmic_gfn(gfn[denied]);
    ev->memory.va = vmic_va(denied == 0 ? rip : (rip | (VMIC_PAGE_SIZE - 1)) + 1);
    ev->memory.va_valid = true;
    ev->memory.access = VMIC_ACCESS_X;
    return report(v, respond_memory);
}

static bool exit_internal(kvm_vcpu *v, bool retrying)
{
    struct kvm_run *run = v->run;
    kvm_vm *vm = v->vm;
    uint64_t rip = run->s.regs.regs.rip;
    uint64_t pa[2] = {0, 0}, gfn[2] = {UINT64_MAX, UINT64_MAX};
    uint8_t byte = 0;

    if (run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION) {
        exit_fail(v, "KVM internal error, suberror %u, at rip 0x%llx", run->internal.suberror,
                  (unsigned long long)rip);
        return false;
    }
    vmic_pa_t at;
    if (vcpu_translate(v, vmic_va(rip), &at)) {
        exit_fail(v, "emulation failure at rip 0x%llx, which does not translate: %s",
                  (unsigned long long)rip, vmic_errmsg());
        return false;
    }
    pa[0] = at.addr;
    pthread_mutex_lock(&vm->lock);
    bool hole0 = is_hole(vm, pa[0] >> VMIC_PAGE_SHIFT), hole1 = false;
    if (vmic_page_offset(rip) > VMIC_PAGE_SIZE - X86_MAX_INSN) {
        uint64_t next = (rip | (VMIC_PAGE_SIZE - 1)) + 1;
        hole1 = vcpu_translate(v, vmic_va(next), &at) == VMIC_OK &&
                is_hole(vm, (pa[1] = at.addr) >> VMIC_PAGE_SHIFT);
    }
    if (hole0)
        gfn[0] = pa[0] >> VMIC_PAGE_SHIFT;
    if (hole1)
        gfn[1] = pa[1] >> VMIC_PAGE_SHIFT;
    if (hole0 || hole1)
        return fetch_fault(v, rip, gfn, pa);

    /* Retrying after a reset, the exit's bytes are stale: the INT3 may be gone. */
    bool stale = retrying || exit_stale(v);
    bool known = first_insn_byte(vm, run, vmic_pa(pa[0]), !stale, &byte);
    bool layout_moved = vm->layout_gen != v->layout_gen_at_entry;
    pthread_mutex_unlock(&vm->lock);

    if (known && byte == 0xcc)
        return report_int3(v, vmic_pa(pa[0]), false);
    if (layout_moved || stale)
        return false; /* the cause went away meanwhile: run it again */
    exit_fail(v, "rip 0x%llx (pa 0x%llx): an instruction KVM cannot emulate here (first byte "
              "0x%02x; INT n, ICEBP, XSAVE, CLAC/STAC, FWAIT, CMPXCHG16B are not emulated)",
              (unsigned long long)rip, (unsigned long long)pa[0], byte);
    return false;
}

/* ---- debug exits: single-steps, debug-register hits, INT3 on hardware KVM ------ */

static bool exit_debug(kvm_vcpu *v, bool retrying)
{
    struct kvm_run *run = v->run;
    kvm_vm *vm = v->vm;
    uint32_t exc = run->debug.arch.exception;
    uint64_t dr6 = run->debug.arch.dr6, rip = run->s.regs.regs.rip;

    if (exc == 3) {
        vmic_pa_t pa = vmic_pa(0); /* stays 0 where rip does not translate */
        (void)vcpu_translate(v, vmic_va(rip), &pa);
        return report_int3(v, pa, true);
    }
    pthread_mutex_lock(&vm->lock);
    if (exc == 1 && (retrying || exit_stale(v))) {
        /* A step or breakpoint vmic set before a reset: nothing to do now. */
        pthread_mutex_unlock(&vm->lock);
        return false;
    }
    uint8_t hits = (uint8_t)(dr6 & 0xf) & vm->dr_used & (uint8_t)~v->dr_suppress;
    bool stepping = v->user_step || v->step_monitor || v->fast_step || v->through || v->dr_suppress;
    if (exc == 1 && hits) {
        unsigned slot = (unsigned)__builtin_ctz(hits);
        uint64_t va = vm->dr_addr[slot];
        pthread_mutex_unlock(&vm->lock);
        event_begin(v, VMIC_EVENT_BREAKPOINT);
        v->event.breakpoint.va = vmic_va(va);
        v->event.breakpoint.slot = (uint8_t)slot;
        (void)vcpu_translate(v, vmic_va(va), &v->event.breakpoint.pa); /* 0 if it does not */
        return report(v, respond_breakpoint);
    }
    if (exc == 1 && stepping) {
        bool tell = step_done(v);
        pthread_mutex_unlock(&vm->lock);
        if (!tell)
            return false;
        event_begin(v, VMIC_EVENT_SINGLESTEP);
        (void)vcpu_translate(v, vmic_va(rip), &v->event.singlestep.pa); /* 0 if it does not */
        return report(v, respond_singlestep);
    }
    /* An exception vmic did not ask for belongs to the guest. */
    v->inject_pending = true;
    v->injection = (vmic_injection_t){.vector = (uint8_t)exc, .type = VMIC_INTR_HW_EXCEPTION};
    pthread_mutex_unlock(&vm->lock);
    return false;
}

/* ---- MSRs: the filter sends monitored WRMSRs here ---------------------------- */

static bool exit_wrmsr(kvm_vcpu *v)
{
    struct kvm_run *run = v->run;
    kvm_vm *vm = v->vm;

    v->io_pending = true;
    pthread_mutex_lock(&vm->lock);
    bool monitored = msr_monitored(vm, run->msr.index);
    pthread_mutex_unlock(&vm->lock);
    if (!monitored) {
        msr_apply(v, run->msr.index, run->msr.data);
        return false;
    }
    event_begin(v, VMIC_EVENT_MSR_WRITE);
    v->event.msr.msr = run->msr.index;
    v->event.msr.value = run->msr.data;
    return report(v, respond_msr);
}

static bool exit_rdmsr(kvm_vcpu *v)
{
    v->io_pending = true;
    msr_read(v, v->run->msr.index);
    return false;
}

void exit_handle(kvm_vcpu *v)
{
    struct kvm_run *run = v->run;
    bool again = false;

    for (int pass = 0;; pass++) {
        switch (run->exit_reason) {
        case KVM_EXIT_IO:
            again = exit_io(v);
            break;
        case KVM_EXIT_MMIO:
            again = exit_mmio(v);
            break;
        case KVM_EXIT_INTERNAL_ERROR:
            again = exit_internal(v, pass > 0);
            break;
        case KVM_EXIT_DEBUG:
            again = exit_debug(v, pass > 0);
            break;
        case KVM_EXIT_X86_WRMSR:
            again = exit_wrmsr(v);
            break;
        case KVM_EXIT_X86_RDMSR:
            again = exit_rdmsr(v);
            break;
        case KVM_EXIT_HLT:
            exit_stop(v, "halted");
            break;
        case KVM_EXIT_INTR:
            break;
        case KVM_EXIT_SHUTDOWN:
            exit_fail(v, "triple fault (KVM_EXIT_SHUTDOWN) at rip 0x%llx",
                      (unsigned long long)run->s.regs.regs.rip);
            break;
        case KVM_EXIT_FAIL_ENTRY:
            exit_fail(v, "VM entry failed, hardware reason 0x%llx",
                      (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
            break;
        default:
            exit_fail(v, "unexpected KVM exit %u", run->exit_reason);
            break;
        }
        if (!again)
            return;
    }
}
