/*
 * The task a vCPU runs: x86-64 Linux keeps it in a per-CPU variable, read
 * by the kernel as %gs:current_task (up to 6.1) or %gs:pcpu_hot (6.2 on,
 * whose first member is current_task). The CPU adds the GS base to the
 * symbol's value, whether per-CPU symbols are offsets from 0 (x86-64 until
 * 6.15) or addresses, so vmic does the same: base + value.
 *
 * Without registers (vmic_os_current_task_of_cpu), the base is the CPU's
 * __per_cpu_offset entry instead (percpu.c).
 */
#include "os_internal.h"

#define CS_RPL_MASK 3u

vmic_status lx_current_offset(vmic_os *os, uint64_t *off)
{
    vmic_status s;

    if (!os->current_ready) {
        if ((s = lx_percpu_var(os, "current_task", "current_task", &os->current_off)))
            return vmic_fail_wrap(s, "cannot find a CPU's current task");
        os->current_ready = true;
    }
    *off = os->current_off;
    return VMIC_OK;
}

vmic_status vmic_os_current_task(vmic_os *os, const vmic_amd64_regs_t *regs, vmic_va_t *task)
{
    uint64_t off = 0, base, ptr;
    vmic_status s;

    if (!(regs->valid & VMIC_REGS_SEG))
        return vmic_fail(VMIC_E_UNSUPPORTED, "current task: the registers have no GS base");
    if ((s = lx_current_offset(os, &off)))
        return s;
    /* In user mode the kernel's GS base waits in KERNEL_GS_BASE (swapgs). */
    base = (regs->cs.selector & CS_RPL_MASK) ? regs->kernel_gs_base : regs->gs.base;
    if (!lx_kptr(os, base))
        return vmic_fail(VMIC_E_FORMAT, "current task: per-CPU base 0x%llx is not a kernel "
                         "address (CS 0x%x)", (unsigned long long)base, regs->cs.selector);
    if ((s = lx_u64(os, base + off, &ptr)))
        return vmic_fail_wrap(s, "current task at per-CPU 0x%llx + 0x%llx",
                              (unsigned long long)base, (unsigned long long)off);
    if (!lx_kptr(os, ptr))
        return vmic_fail(VMIC_E_FORMAT, "current task: 0x%llx at per-CPU 0x%llx + 0x%llx is not "
                         "a kernel address", (unsigned long long)ptr, (unsigned long long)base,
                         (unsigned long long)off);
    *task = vmic_va(ptr);
    return VMIC_OK;
}

/* Without registers: the same pointer in CPU cpu's per-CPU area, found
 * through __per_cpu_offset (percpu.c), which also checks that the area's
 * cpu_number is cpu. */
vmic_status vmic_os_current_task_of_cpu(vmic_os *os, uint32_t cpu, vmic_va_t *task)
{
    uint64_t off = 0, va, ptr;
    vmic_status s;

    if ((s = lx_current_offset(os, &off)) ||
        (s = lx_percpu_addr(os, cpu, off, "current_task", &va)))
        return s;
    if ((s = lx_u64(os, va, &ptr)))
        return vmic_fail_wrap(s, "CPU %u: current task at 0x%llx", cpu, (unsigned long long)va);
    if (!lx_kptr(os, ptr))
        return vmic_fail(VMIC_E_FORMAT, "CPU %u: current task 0x%llx at 0x%llx is not a kernel "
                         "address", cpu, (unsigned long long)ptr, (unsigned long long)va);
    *task = vmic_va(ptr);
    return VMIC_OK;
}
