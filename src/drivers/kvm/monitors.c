/*
 * Monitors (which exits become events), debug-register breakpoints,
 * exception injection and MSR accesses on KVM.
 *
 *   INT3         always exits here (emulation failure) or, on hardware KVM,
 *                with KVM_GUESTDBG_USE_SW_BP; unmonitored ones go back to the
 *                guest as #BP
 *   single-step  KVM_GUESTDBG_SINGLESTEP, per vCPU
 *   MSR writes   KVM_X86_SET_MSR_FILTER denies writes to the monitored MSRs,
 *                KVM_CAP_X86_USER_SPACE_MSR turns the denial into an exit
 *   port I/O     every IN/OUT exits anyway; a bitmap picks the monitored ones
 * Changes reach running vCPUs by a kick: they reload their debug state at the
 * gate.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm.h"

#define MSR_RANGE_SPAN 1024   /* MSRs one range of monitored MSRs covers */
#define MSR_ALL_SPAN 8192     /* MSRs one range covers when all are monitored */

static void refresh_debug(kvm_vm *vm)
{
    for (uint32_t i = 0; i < vm->nvcpus; i++)
        vm->vcpus[i].debug_dirty = true;
    vcpus_kick(vm, vcpu_self(vm));
}

bool io_monitored(const kvm_vm *vm, uint16_t port)
{
    return vm->io_monitor[port / 8] & (1u << (port % 8));
}

bool msr_monitored(const kvm_vm *vm, uint32_t msr)
{
    if (vm->msr_all)
        return true;
    for (size_t i = 0; i < vm->nmsr_monitors; i++)
        if (vm->msr_monitor[i] == msr)
            return true;
    return false;
}

/* ---- the MSR filter ---------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* A write-filter range over [base, base + n) denying the MSRs of `deny`, or
 * all of them. KVM's bitmap says which MSRs are allowed. */
static void filter_range(struct kvm_msr_filter_range *r, uint8_t *bitmap, uint32_t base,
                         uint32_t n, const uint32_t *deny, size_t ndeny, bool deny_all)
{
    memset(bitmap, deny_all ? 0x00 : 0xff, n / 8);
    for (size_t i = 0; i < ndeny; i++)
        if (deny[i] >= base && deny[i] - base < n)
            bitmap[(deny[i] - base) / 8] &= (uint8_t)~(1u << ((deny[i] - base) % 8));
    r->flags = KVM_MSR_FILTER_WRITE;
    r->base = base;
    r->nmsrs = n;
    r->bitmap = bitmap;
}

/* Every MSR write: the architectural, AMD64 and AMD ranges, 8192 MSRs each. */
static size_t filter_all(struct kvm_msr_filter *f, uint8_t (*bitmaps)[MSR_ALL_SPAN / 8])
{
    static const uint32_t bases[] = {0x00000000, 0xc0000000, 0xc0010000};
    for (size_t i = 0; i < 3; i++)
        filter_range(&f->ranges[i], bitmaps[i], bases[i], MSR_ALL_SPAN, NULL, 0, true);
    return 3;
}

/* The monitored MSRs, grouped into ranges of MSR_RANGE_SPAN. */
static vmic_status filter_some(kvm_vm *vm, struct kvm_msr_filter *f,
                               uint8_t (*bitmaps)[MSR_ALL_SPAN / 8], size_t *nr)
{
    uint32_t sorted[KVM_MAX_MSR_MONITORS];
    size_t n = vm->nmsr_monitors;

    memcpy(sorted, vm->msr_monitor, n * sizeof sorted[0]);
    qsort(sorted, n, sizeof sorted[0], cmp_u32);
    *nr = 0;
    for (size_t i = 0; i < n;) {
        uint32_t base = sorted[i];
        if (*nr == KVM_MSR_FILTER_MAX_RANGES)
            return vmic_fail(VMIC_E_RANGE, "kvm: the monitored MSRs need more than %d filter "
                             "ranges", KVM_MSR_FILTER_MAX_RANGES);
        filter_range(&f->ranges[*nr], bitmaps[*nr], base, MSR_RANGE_SPAN, sorted, n, false);
        (*nr)++;
        while (i < n && sorted[i] - base < MSR_RANGE_SPAN)
            i++;
    }
    return VMIC_OK;
}

static vmic_status msr_filter_load(kvm_vm *vm)
{
    struct kvm_msr_filter f;
    size_t nr = 0;
    vmic_status s = VMIC_OK;
    uint8_t (*bitmaps)[MSR_ALL_SPAN / 8] = calloc(KVM_MSR_FILTER_MAX_RANGES, MSR_ALL_SPAN / 8);

    if (!bitmaps)
        return vmic_fail(VMIC_E_NOMEM, "kvm: no memory for the MSR filter");
    memset(&f, 0, sizeof f);
    f.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
    if (vm->msr_all)
        nr = filter_all(&f, bitmaps);
    else
        s = filter_some(vm, &f, bitmaps, &nr);
    if (s == VMIC_OK && ioctl(vm->vm_fd, KVM_X86_SET_MSR_FILTER, &f) < 0)
        s = vmic_fail(VMIC_E_IO, "kvm: KVM_X86_SET_MSR_FILTER (%zu ranges): %s", nr,
                      strerror(errno));
    free(bitmaps);
    return s;
}

static vmic_status monitor_msr(kvm_vm *vm, uint32_t msr, bool enable)
{
    if (!vm->user_msr_enabled)
        return vmic_fail(VMIC_E_UNSUPPORTED, "kvm: MSR events need KVM_CAP_X86_USER_SPACE_MSR and "
                         "KVM_CAP_X86_MSR_FILTER, which this KVM lacks");
    if (msr == VMIC_MSR_ALL) {
        vm->msr_all = enable;
        if (!enable)
            vm->nmsr_monitors = 0;
        return msr_filter_load(vm);
    }
    size_t i = 0;
    while (i < vm->nmsr_monitors && vm->msr_monitor[i] != msr)
        i++;
    if (enable && i == vm->nmsr_monitors) {
        if (i == KVM_MAX_MSR_MONITORS)
            return vmic_fail(VMIC_E_RANGE, "kvm: at most %d MSRs can be monitored one by one "
                             "(monitor VMIC_MSR_ALL instead)", KVM_MAX_MSR_MONITORS);
        vm->msr_monitor[vm->nmsr_monitors++] = msr;
    } else if (!enable && i < vm->nmsr_monitors) {
        vm->msr_monitor[i] = vm->msr_monitor[--vm->nmsr_monitors];
    }
    return msr_filter_load(vm);
}

int msrs_ioctl(int fd, unsigned long request, struct kvm_msr_entry *entries, uint32_t n)
{
    struct kvm_msrs *m = calloc(1, sizeof *m + n * sizeof *entries);
    if (!m)
        return -1;
    m->nmsrs = n;
    memcpy(m->entries, entries, n * sizeof *entries);
    int done = ioctl(fd, request, m);
    memcpy(entries, m->entries, n * sizeof *entries);
    free(m);
    return done;
}

void msr_apply(kvm_vcpu *v, uint32_t msr, uint64_t value)
{
    struct kvm_msr_entry e = {.index = msr, .data = value};
    /* A write the host cannot make faults in the guest, as on hardware. */
    v->run->msr.error = msrs_ioctl(v->fd, KVM_SET_MSRS, &e, 1) == 1 ? 0 : 1;
}

void msr_read(kvm_vcpu *v, uint32_t msr)
{
    struct kvm_msr_entry e = {.index = msr};
    bool ok = msrs_ioctl(v->fd, KVM_GET_MSRS, &e, 1) == 1;
    v->run->msr.error = ok ? 0 : 1;
    v->run->msr.data = ok ? e.data : 0;
}

/* ---- monitors ---------------------------------------------------------------------- */

vmic_status kvm_monitor(vmic_driver *d, const vmic_monitor_t *m, bool enable)
{
    kvm_vm *vm = kvm_of(d);
    vmic_status s = VMIC_OK;

    pthread_mutex_lock(&vm->lock);
    switch (m->kind) {
    case VMIC_MONITOR_INTERRUPT:
        if (m->vector != 3) {
            s = vmic_fail(VMIC_E_UNSUPPORTED, "kvm: only INT3 (vector 3) can be monitored; KVM "
                          "does not hand other exceptions (vector %u) to userspace", m->vector);
            break;
        }
        vm->int3_monitor = enable;
        refresh_debug(vm);
        break;
    case VMIC_MONITOR_SINGLESTEP:
        if (m->vcpu >= vm->nvcpus) {
            s = vmic_fail(VMIC_E_INVAL, "kvm: no vCPU %u (the VM has %u)", m->vcpu, vm->nvcpus);
            break;
        }
        vm->vcpus[m->vcpu].step_monitor = enable;
        refresh_debug(vm);
        break;
    case VMIC_MONITOR_MSR_WRITE:
        s = monitor_msr(vm, m->msr, enable);
        break;
    case VMIC_MONITOR_IO:
        if (m->ports.first > m->ports.last) {
            s = vmic_fail(VMIC_E_INVAL, "kvm: port range 0x%x-0x%x is empty", m->ports.first,
                          m->ports.last);
            break;
        }
        for (uint32_t p = m->ports.first; p <= m->ports.last; p++) {
            if (enable)
                vm->io_monitor[p / 8] |= (uint8_t)(1u << (p % 8));
            else
                vm->io_monitor[p / 8] &= (uint8_t)~(1u << (p % 8));
        }
        break;
    default:
        s = vmic_fail(VMIC_E_INVAL, "kvm: unknown monitor kind %d", (int)m->kind);
    }
    pthread_mutex_unlock(&vm->lock);
    return s;
}

void monitors_reset(kvm_vm *vm)
{
    vm->int3_monitor = false;
    memset(vm->io_monitor, 0, sizeof vm->io_monitor);
    vm->dr_used = 0;
    if (vm->msr_all || vm->nmsr_monitors) {
        vm->msr_all = false;
        vm->nmsr_monitors = 0;
        msr_filter_load(vm);
    }
    refresh_debug(vm);
}

vmic_status kvm_set_hw_breakpoint(vmic_driver *d, vmic_va_t va, bool enable)
{
    kvm_vm *vm = kvm_of(d);
    vmic_status s = VMIC_OK;
    int slot = -1, free_slot = -1;

    pthread_mutex_lock(&vm->lock);
    for (int i = 0; i < 4; i++) {
        if ((vm->dr_used & (1u << i)) && vm->dr_addr[i] == va.addr)
            slot = i;
        else if (!(vm->dr_used & (1u << i)) && free_slot < 0)
            free_slot = i;
    }
    if (enable && slot < 0) {
        if (free_slot < 0)
            s = vmic_fail(VMIC_E_RANGE, "kvm: all 4 debug registers hold breakpoints");
        else {
            vm->dr_addr[free_slot] = va.addr;
            vm->dr_used |= (uint8_t)(1u << free_slot);
        }
    } else if (!enable) {
        if (slot < 0)
            s = vmic_fail(VMIC_E_NOTFOUND, "kvm: no debug-register breakpoint at va 0x%llx",
                          (unsigned long long)va.addr);
        else
            vm->dr_used &= (uint8_t)~(1u << slot);
    }
    if (s == VMIC_OK)
        refresh_debug(vm);
    pthread_mutex_unlock(&vm->lock);
    return s;
}

/* ---- injection ------------------------------------------------------------------------ */

vmic_status kvm_inject(vmic_driver *d, vmic_vcpu_t vcpu, const vmic_injection_t *inj)
{
    kvm_vm *vm = kvm_of(d);
    vmic_status s = VMIC_OK;

    if (vcpu >= vm->nvcpus)
        return vmic_fail(VMIC_E_INVAL, "kvm: no vCPU %u (the VM has %u)", vcpu, vm->nvcpus);
    if (inj->type != VMIC_INTR_HW_EXCEPTION && inj->type != VMIC_INTR_NMI &&
        inj->type != VMIC_INTR_EXTERNAL)
        return vmic_fail(VMIC_E_UNSUPPORTED, "kvm: only exceptions, NMIs and external interrupts "
                         "can be injected (type %d)", (int)inj->type);
    if (inj->type == VMIC_INTR_HW_EXCEPTION && inj->vector >= 32)
        return vmic_fail(VMIC_E_INVAL, "kvm: vector %u is not an exception", inj->vector);
    kvm_vcpu *v = &vm->vcpus[vcpu];
    pthread_mutex_lock(&vm->lock);
    if (v->in_run)
        s = vmic_fail(VMIC_E_BUSY, "kvm: vCPU %u is running: inject while it is stopped at an "
                      "event or paused", vcpu);
    else if (v->inject_pending)
        s = vmic_fail(VMIC_E_BUSY, "kvm: vCPU %u already has an injection waiting", vcpu);
    else {
        v->inject_pending = true;
        v->injection = *inj;
    }
    pthread_mutex_unlock(&vm->lock);
    return s;
}

void reinject_bp(kvm_vcpu *v, bool past)
{
    v->inject_pending = true;
    v->injection = (vmic_injection_t){.vector = 3, .type = VMIC_INTR_SW_EXCEPTION};
    v->rip_advance = past ? 1 : 0;
}

vmic_status inject_now(kvm_vcpu *v, const vmic_injection_t *inj)
{
    if (inj->type == VMIC_INTR_NMI) {
        if (ioctl(v->fd, KVM_NMI) < 0)
            return vmic_fail(VMIC_E_IO, "kvm: KVM_NMI: %s", strerror(errno));
        return VMIC_OK;
    }
    if (inj->type == VMIC_INTR_EXTERNAL) {
        struct kvm_interrupt irq = {.irq = inj->vector};
        if (ioctl(v->fd, KVM_INTERRUPT, &irq) < 0)
            return vmic_fail(VMIC_E_IO, "kvm: KVM_INTERRUPT vector %u: %s", inj->vector,
                             strerror(errno));
        return VMIC_OK;
    }
    struct kvm_vcpu_events ev;
    if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
        return vmic_fail(VMIC_E_IO, "kvm: KVM_GET_VCPU_EVENTS: %s", strerror(errno));
    if (inj->vector == 14) {
        v->run->s.regs.sregs.cr2 = inj->cr2;
        v->run->kvm_dirty_regs |= KVM_SYNC_X86_SREGS;
    }
    ev.flags &= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
    ev.exception.injected = 1;
    ev.exception.pending = 0;
    ev.exception.nr = inj->vector;
    ev.exception.has_error_code = inj->has_error_code;
    ev.exception.error_code = inj->error_code;
    if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
        return vmic_fail(VMIC_E_IO, "kvm: injecting vector %u: %s", inj->vector, strerror(errno));
    return VMIC_OK;
}
