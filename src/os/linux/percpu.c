/*
 * The CPUs and their per-CPU areas, from guest memory alone (no registers):
 * a live tracer whose events carry only a vCPU index needs them.
 *
 * x86-64 Linux gives each CPU a copy of every per-CPU variable; CPU n's copy
 * of variable v is at __per_cpu_offset[n] + v (v the variable's kallsyms
 * value: an offset from 0 up to 6.14, an address from 6.15, where the array
 * holds differences; the sum is right either way, as for %gs-relative
 * reads). __per_cpu_offset is an array of NR_CPUS longs; nr_cpu_ids says how
 * many CPUs can exist (possible CPUs), __cpu_online_mask which are up.
 *
 * Each CPU's copy of its own number (cpu_number, pcpu_hot.cpu_number on 6.2
 * to 6.14) is checked against the index asked for: an area that does not
 * say it belongs to that CPU is not used.
 */
#include <stdio.h>

#include "os_internal.h"

vmic_status lx_percpu_var(vmic_os *os, const char *name, const char *hot_field, uint64_t *off)
{
    uint64_t sym;
    vmic_field_t f;
    char path[64];

    if (lx_sym(os, name, &sym)) {
        *off = sym;
        return VMIC_OK;
    }
    snprintf(path, sizeof path, "pcpu_hot.%s", hot_field);
    if (lx_sym(os, "pcpu_hot", &sym) && vmic_os_field(os, path, &f) == VMIC_OK) {
        *off = sym + f.offset;
        return VMIC_OK;
    }
    vmic_clear_error();
    return vmic_fail(VMIC_E_NOTFOUND, "%s: neither the per-CPU variable %s nor %s", os->kernel.symbols,
                     name, path);
}

static vmic_status percpu_init(vmic_os *os)
{
    lx_percpu *pc = &os->percpu;
    uint64_t ids_va, end, online;
    uint32_t ids;
    vmic_status s;

    if (pc->ready)
        return VMIC_OK;
    if ((s = lx_need_sym(os, "__per_cpu_offset", &pc->offsets)) ||
        (s = lx_need_sym(os, "nr_cpu_ids", &ids_va)))
        return s;
    /* The array's size is not in kallsyms; the next symbol bounds it, and
     * NR_CPUS can be no larger than LX_MAX_CPUS either way. */
    end = lx_next_symbol(os, pc->offsets);
    pc->slots = LX_MAX_CPUS;
    if (end > pc->offsets && (end - pc->offsets) / 8 < LX_MAX_CPUS)
        pc->slots = (uint32_t)((end - pc->offsets) / 8);
    if ((s = lx_u32(os, ids_va, &ids)))
        return vmic_fail_wrap(s, "nr_cpu_ids at 0x%llx", (unsigned long long)ids_va);
    if (ids == 0 || ids > pc->slots)
        return vmic_fail(VMIC_E_FORMAT, "nr_cpu_ids is %u: not within 1..%u (the room in "
                         "__per_cpu_offset)", ids, pc->slots);
    pc->ncpus = ids;
    pc->online = lx_sym(os, "__cpu_online_mask", &online) ? online : 0;
    pc->has_cpu_number =
        lx_percpu_var(os, "cpu_number", "cpu_number", &pc->cpu_number) == VMIC_OK;
    vmic_clear_error();
    pc->ready = true;
    return VMIC_OK;
}

/* CPU cpu's copy of a per-CPU variable at offset off, unchecked. */
static vmic_status area_addr(vmic_os *os, uint32_t cpu, uint64_t off, const char *what,
                             uint64_t *va)
{
    lx_percpu *pc = &os->percpu;
    uint64_t base, slot = pc->offsets + (uint64_t)cpu * 8;
    vmic_status s;

    if (cpu >= pc->ncpus)
        return vmic_fail(VMIC_E_RANGE, "CPU %u: the kernel has %u (nr_cpu_ids)", cpu, pc->ncpus);
    if ((s = lx_u64(os, slot, &base)))
        return vmic_fail_wrap(s, "__per_cpu_offset[%u] at 0x%llx", cpu, (unsigned long long)slot);
    *va = base + off;
    if (!lx_kptr(os, *va))
        return vmic_fail(VMIC_E_FORMAT, "CPU %u: __per_cpu_offset[%u] 0x%llx + %s 0x%llx = 0x%llx "
                         "is not a kernel address", cpu, cpu, (unsigned long long)base, what,
                         (unsigned long long)off, (unsigned long long)*va);
    return VMIC_OK;
}

vmic_status lx_percpu_addr(vmic_os *os, uint32_t cpu, uint64_t off, const char *what,
                           uint64_t *va)
{
    lx_percpu *pc = &os->percpu;
    uint64_t num_va = 0;
    uint32_t num;
    vmic_status s;

    if ((s = percpu_init(os)) || (s = area_addr(os, cpu, off, what, va)))
        return s;
    if (!pc->has_cpu_number)
        return VMIC_OK; /* nothing to check with: the kernel has no cpu_number */
    if ((s = area_addr(os, cpu, pc->cpu_number, "cpu_number", &num_va)))
        return s;
    if ((s = lx_u32(os, num_va, &num)))
        return vmic_fail_wrap(s, "CPU %u: cpu_number at 0x%llx (__per_cpu_offset[%u] + 0x%llx)",
                              cpu, (unsigned long long)num_va, cpu,
                              (unsigned long long)pc->cpu_number);
    if (num != cpu)
        return vmic_fail(VMIC_E_FORMAT, "CPU %u: its per-CPU area (__per_cpu_offset[%u]) says "
                         "cpu_number %u", cpu, cpu, num);
    return VMIC_OK;
}

vmic_status vmic_os_cpu_count(vmic_os *os, uint32_t *count)
{
    vmic_status s = percpu_init(os);
    if (s)
        return s;
    *count = os->percpu.ncpus;
    return VMIC_OK;
}

vmic_status vmic_os_cpu_online(vmic_os *os, uint32_t cpu, bool *online)
{
    lx_percpu *pc = &os->percpu;
    uint64_t word;
    vmic_status s;

    if ((s = percpu_init(os)))
        return s;
    if (cpu >= pc->ncpus)
        return vmic_fail(VMIC_E_RANGE, "CPU %u: the kernel has %u (nr_cpu_ids)", cpu, pc->ncpus);
    if (!pc->online)
        return vmic_fail(VMIC_E_NOTFOUND, "%s: no __cpu_online_mask", os->kernel.symbols);
    if ((s = lx_u64(os, pc->online + (cpu / 64) * 8, &word)))
        return vmic_fail_wrap(s, "__cpu_online_mask word %u", cpu / 64);
    *online = (word >> (cpu % 64)) & 1;
    return VMIC_OK;
}
