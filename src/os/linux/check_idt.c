/*
 * The IDT. A rootkit that wants to see every page fault, or every int 0x80,
 * rewrites a gate of idt_table (or loads IDTR with a table of its own). The
 * check reads idt_table's 256 gate descriptors as they are now, and every
 * present gate's handler must be in the kernel's text, at an entry point:
 * the start of a symbol (asm_exc_*, asm_sysvec_*, entry_INT80_compat), or
 * one of the external-interrupt stubs between irq_entries_start and
 * spurious_entries_start, or the spurious stubs after it. One exception is
 * the kernel's own: the reserved exception vectors (20-31 that no trap is
 * set up for) keep the gate idt_setup_early_handler gave them, vector v at
 * early_idt_handler_array's v-th stub, in init text that is freed after
 * boot (the fixtures' guests all have them); a gate there is legitimate
 * only at its own vector's stub. Where the driver
 * gives IDTR, each vCPU's must map the same physical page as idt_table (with
 * PTI the CPU loads the cpu_entry_area's read-only alias of it).
 */
#include <stdio.h>
#include <string.h>

#include "check_internal.h"

#define IDT_ENTRIES 256
#define GATE_SIZE 16

/* A gate's handler: offset bits 0-15 at 0, 16-31 at 6, 32-63 at 8. */
static uint64_t gate_offset(const uint8_t *g)
{
    uint64_t lo = (uint64_t)g[0] | (uint64_t)g[1] << 8;
    uint64_t mid = (uint64_t)g[6] | (uint64_t)g[7] << 8;
    uint32_t hi;
    memcpy(&hi, g + 8, 4);
    return lo | mid << 16 | (uint64_t)hi << 32;
}

static bool gate_present(const uint8_t *g)
{
    return g[5] & 0x80;
}

typedef struct entry_stubs {
    uint64_t irq, spurious, spurious_end; /* 0: not known */
    uint64_t early, early_stride;         /* early_idt_handler_array, its stub size */
} entry_stubs;

#define EXCEPTION_VECTORS 32

/* Vector v's own stub of early_idt_handler_array. */
static bool at_early_stub(const entry_stubs *st, int v, uint64_t h)
{
    return st->early_stride && v < EXCEPTION_VECTORS &&
           h == st->early + (uint64_t)v * st->early_stride;
}

static bool at_entry_point(vmic_os *os, const entry_stubs *st, uint64_t h)
{
    if (st->irq && st->spurious && h >= st->irq && h < st->spurious)
        return true;
    if (st->spurious && st->spurious_end && h >= st->spurious && h < st->spurious_end)
        return true;
    vmic_symbol_t sym;
    uint64_t off;
    if (vmic_os_symbol_at(os, vmic_va(h), &sym, &off) != VMIC_OK) {
        vmic_clear_error();
        return false;
    }
    return off == 0;
}

static int report(vmic_check_fn fn, void *arg, const lx_text_map *map, int64_t nr,
                  uint64_t addr, const char *detail)
{
    vmic_check_finding_t f;
    lx_finding_init(&f, VMIC_CHECK_IDT, nr);
    if (nr >= 0)
        snprintf(f.name, sizeof f.name, "vector %lld", (long long)nr);
    else
        snprintf(f.name, sizeof f.name, "IDTR");
    f.addr = vmic_va(addr);
    const vmic_module_t *mod = lx_module_at(map, addr);
    if (mod)
        snprintf(f.module, sizeof f.module, "%s", mod->name);
    snprintf(f.detail, sizeof f.detail, "%s", detail);
    return fn(arg, &f);
}

/* Each vCPU's IDTR, where the driver has it, against idt_table's page. */
static int check_idtr(vmic_os *os, uint64_t table, const lx_text_map *map, vmic_check_fn fn,
                      void *arg)
{
    vmic_pa_t want, got;
    if (lx_kpa(os, vmic_va(table), &want) != VMIC_OK) {
        vmic_clear_error();
        return 0;
    }
    uint32_t n = vmic_vcpu_count(os->core);
    for (uint32_t cpu = 0; cpu < n; cpu++) {
        vmic_amd64_regs_t r;
        if (vmic_get_regs(os->core, cpu, &r) != VMIC_OK || !(r.valid & VMIC_REGS_DT) ||
            !r.idtr.base) {
            vmic_clear_error();
            continue;
        }
        if (lx_kpa(os, vmic_va(r.idtr.base), &got) == VMIC_OK && got.addr == want.addr)
            continue;
        vmic_clear_error();
        char why[160];
        snprintf(why, sizeof why, "vCPU %u's IDTR is not idt_table (nor its cpu_entry_area "
                 "alias): the CPU uses another table", cpu);
        if (report(fn, arg, map, -1, r.idtr.base, why))
            return 1;
    }
    return 0;
}

vmic_status vmic_os_check_idt(vmic_os *os, vmic_check_fn fn, void *arg, size_t *checked)
{
    vmic_status s;
    uint64_t table;
    if (checked)
        *checked = 0;
    if ((s = lx_need_sym(os, "idt_table", &table)))
        return vmic_fail_wrap(s, "checking the IDT");
    uint8_t idt[IDT_ENTRIES * GATE_SIZE];
    if ((s = lx_read(os, table, idt, sizeof idt)))
        return vmic_fail_wrap(s, "idt_table at 0x%llx", (unsigned long long)table);
    lx_text_map map;
    if ((s = lx_text_map_init(os, &map)))
        return vmic_fail_wrap(s, "checking the IDT");
    entry_stubs st = {0};
    if (lx_sym(os, "irq_entries_start", &st.irq) && lx_sym(os, "spurious_entries_start",
                                                          &st.spurious))
        st.spurious_end = lx_next_symbol(os, st.spurious);
    if (lx_sym(os, "early_idt_handler_array", &st.early)) {
        uint64_t end = lx_next_symbol(os, st.early);
        if (end > st.early && (end - st.early) % EXCEPTION_VECTORS == 0)
            st.early_stride = (end - st.early) / EXCEPTION_VECTORS;
    }
    size_t present = 0;
    int stop = 0;
    for (int v = 0; v < IDT_ENTRIES && !stop; v++) {
        const uint8_t *g = idt + v * GATE_SIZE;
        if (!gate_present(g))
            continue;
        present++;
        uint64_t h = gate_offset(g);
        if (at_early_stub(&st, v, h))
            continue;
        if (!lx_in_text(&map, h))
            stop = report(fn, arg, &map, v, h, "outside the kernel's text");
        else if (!at_entry_point(os, &st, h))
            stop = report(fn, arg, &map, v, h, "in the kernel's text, not at an entry point "
                          "(a symbol's start or an interrupt stub)");
    }
    if (!stop)
        check_idtr(os, table, &map, fn, arg);
    if (checked)
        *checked = present;
    lx_text_map_free(&map);
    return VMIC_OK;
}
