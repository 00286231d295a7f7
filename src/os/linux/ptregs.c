/*
 * The user registers a task saved on entering the kernel (struct pt_regs),
 * found from guest memory alone: at system-call entry they hold the call's
 * number (orig_ax) and arguments, which a tracer with no register access
 * (QEMU's plugin API v1) cannot get otherwise.
 *
 * x86-64 saves them at the top of the task's kernel stack, as the kernel's
 * task_pt_regs() finds them: task->stack + THREAD_SIZE -
 * TOP_OF_KERNEL_STACK_PADDING - sizeof(struct pt_regs). For the task a CPU
 * runs, the kernel keeps the end of that struct in a per-CPU variable
 * (cpu_current_top_of_stack, pcpu_hot.top_of_stack on 6.2 to 6.14), which
 * needs neither THREAD_SIZE nor the padding to be guessed.
 */
#include <stdio.h>
#include <string.h>

#include "os_internal.h"

#define LX_PT_REGS_MAX 512 /* sizeof(struct pt_regs) is 168 on x86-64 */

/* The vmic_pt_regs_t members, in the order of lx_ptregs.f. */
static const char *const reg_names[] = {"orig_ax", "ip", "sp", "flags", "cs", "ss", "ax",
                                        "di", "si", "dx", "r10", "r8", "r9"};
#define NREGS (sizeof reg_names / sizeof reg_names[0])

static vmic_status ptregs_init(vmic_os *os)
{
    lx_ptregs *pr = &os->ptregs;
    uint64_t sym;
    vmic_status s;
    char path[32];

    if (pr->ready)
        return VMIC_OK;
    if ((s = vmic_os_type_size(os, "pt_regs", &pr->size)))
        return vmic_fail_wrap(s, "struct pt_regs");
    if (pr->size == 0 || pr->size > LX_PT_REGS_MAX)
        return vmic_fail(VMIC_E_FORMAT, "struct pt_regs of %llu bytes", (unsigned long long)pr->size);
    for (size_t i = 0; i < NREGS; i++) {
        snprintf(path, sizeof path, "pt_regs.%s", reg_names[i]);
        if ((s = lx_field(os, path, &pr->f[i], true)))
            return s;
    }
    if ((s = lx_field(os, "task_struct.stack", &pr->stack, true)))
        return s;
    /* THREAD_SIZE is 16 KiB on x86-64, twice that with KASAN (KASAN_STACK_ORDER
     * 1); kasan_early_init exists only in a CONFIG_KASAN x86-64 kernel. */
    pr->thread_size = lx_sym(os, "kasan_early_init", &sym) ? 32768 : 16384;
    /* CONFIG_X86_FRED (6.9+) leaves 16 bytes above pt_regs for the FRED
     * stack frame. BTF cannot tell: struct fred_ss is part of pt_regs in
     * every 6.9+ kernel, FRED or not. The FRED entry code can:
     * asm_fred_entrypoint_user is assembled only with CONFIG_X86_FRED. */
    pr->padding = lx_sym(os, "asm_fred_entrypoint_user", &sym) ? 16 : 0;
    pr->has_top = lx_percpu_var(os, "cpu_current_top_of_stack", "top_of_stack", &pr->top_off) ==
                  VMIC_OK;
    vmic_clear_error();
    pr->ready = true;
    return VMIC_OK;
}

vmic_status vmic_os_task_pt_regs(vmic_os *os, vmic_va_t task, vmic_va_t *regs)
{
    lx_ptregs *pr = &os->ptregs;
    uint64_t stack;
    vmic_status s;

    if ((s = ptregs_init(os)))
        return s;
    if (!lx_kptr(os, task.addr))
        return vmic_fail(VMIC_E_FORMAT, "task 0x%llx is not a kernel address",
                         (unsigned long long)task.addr);
    if ((s = lx_u64(os, task.addr + pr->stack.off, &stack)))
        return vmic_fail_wrap(s, "task 0x%llx: task_struct.stack", (unsigned long long)task.addr);
    /* Kernel stacks are THREAD_SIZE-aligned (vmalloc'ed with THREAD_ALIGN,
     * or init_stack); page alignment is the least any kernel gives. */
    if (!lx_kptr(os, stack) || (stack & 4095) || !lx_kptr(os, stack + pr->thread_size - 1))
        return vmic_fail(VMIC_E_FORMAT, "task 0x%llx: task_struct.stack 0x%llx is not a kernel "
                         "stack", (unsigned long long)task.addr, (unsigned long long)stack);
    *regs = vmic_va(stack + pr->thread_size - pr->padding - pr->size);
    return VMIC_OK;
}

vmic_status vmic_os_cpu_pt_regs(vmic_os *os, uint32_t cpu, vmic_va_t *regs)
{
    lx_ptregs *pr = &os->ptregs;
    uint64_t va, top;
    vmic_status s;

    if ((s = ptregs_init(os)))
        return s;
    if (!pr->has_top)
        return vmic_fail(VMIC_E_NOTFOUND, "%s: neither cpu_current_top_of_stack nor "
                         "pcpu_hot.top_of_stack", os->kernel.symbols);
    if ((s = lx_percpu_addr(os, cpu, pr->top_off, "top_of_stack", &va)))
        return s;
    if ((s = lx_u64(os, va, &top)))
        return vmic_fail_wrap(s, "CPU %u: top of stack at 0x%llx", cpu, (unsigned long long)va);
    if (!lx_kptr(os, top - pr->size) || !lx_kptr(os, top))
        return vmic_fail(VMIC_E_FORMAT, "CPU %u: top of stack 0x%llx is not a kernel address",
                         cpu, (unsigned long long)top);
    *regs = vmic_va(top - pr->size);
    return VMIC_OK;
}

vmic_status vmic_os_read_pt_regs(vmic_os *os, vmic_va_t regs, vmic_pt_regs_t *out)
{
    lx_ptregs *pr = &os->ptregs;
    uint8_t buf[LX_PT_REGS_MAX];
    uint64_t *dst[NREGS];
    vmic_status s;

    if ((s = ptregs_init(os)))
        return s;
    if (!lx_kptr(os, regs.addr))
        return vmic_fail(VMIC_E_FORMAT, "pt_regs at 0x%llx: not a kernel address",
                         (unsigned long long)regs.addr);
    if ((s = lx_read(os, regs.addr, buf, pr->size)))
        return vmic_fail_wrap(s, "pt_regs at 0x%llx", (unsigned long long)regs.addr);
    memset(out, 0, sizeof *out);
    out->at = regs;
    dst[0] = &out->orig_ax, dst[1] = &out->ip, dst[2] = &out->sp, dst[3] = &out->flags;
    dst[4] = &out->cs, dst[5] = &out->ss, dst[6] = &out->ax, dst[7] = &out->di;
    dst[8] = &out->si, dst[9] = &out->dx, dst[10] = &out->r10, dst[11] = &out->r8;
    dst[12] = &out->r9;
    for (size_t i = 0; i < NREGS; i++)
        *dst[i] = lx_get(buf, pr->size, &pr->f[i]);
    return VMIC_OK;
}

/* Where a capture program finds CPU cpu's current task and pt_regs. */
vmic_status vmic_os_cpu_slots(vmic_os *os, uint32_t cpu, vmic_cpu_slots_t *out)
{
    lx_ptregs *pr = &os->ptregs;
    uint64_t off;
    vmic_status s;

    memset(out, 0, sizeof *out);
    if ((s = ptregs_init(os)) || (s = lx_current_offset(os, &off)) ||
        (s = lx_percpu_addr(os, cpu, off, "current_task", &out->current_task.addr)))
        return s;
    if (!pr->has_top)
        return vmic_fail(VMIC_E_NOTFOUND, "%s: neither cpu_current_top_of_stack nor "
                         "pcpu_hot.top_of_stack", os->kernel.symbols);
    if ((s = lx_percpu_addr(os, cpu, pr->top_off, "top_of_stack", &out->top_of_stack.addr)))
        return s;
    out->pt_regs_size = pr->size;
    return VMIC_OK;
}
