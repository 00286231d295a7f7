/*
 * A small guest on the mock driver for the unit tests of the breakpoint
 * manager, the page-table monitor and dispatch: 2 MiB of RAM, 4-level
 * tables built by hand (so every address a test checks is known here, not
 * computed by vmic), code pages of NOPs.
 *
 *   va 0x200000 CODE_VA -> pa 0x10000 PAGE_A   (code)
 *   va 0x201000 DATA_VA -> pa 0x12000          (data)
 *   va 0x202000 DYN_VA  -> not mapped; the tests map it to PAGE_A or PAGE_B
 *   va 0x203000 FOREIGN_VA -> pa 0x13000, with the guest's own INT3 at +0x10
 *   va 0x204000 PT_VA   -> pa 0x4000, the page table itself (PT[i] at +8i)
 */
#ifndef VMIC_TEST_MOCK_VM_H
#define VMIC_TEST_MOCK_VM_H

#include <vmic/vmic.h>

#include "harness.h"
#include "vmic_mock.h"

#define MOCK_RAM (2u << 20)
#define ROOT 0x1000ull
#define PDPT 0x2000ull
#define PD 0x3000ull
#define PT 0x4000ull
#define PT2 0x5000ull            /* a second page table, for moves at PD level */
#define PAGE_A 0x10000ull
#define PAGE_B 0x11000ull
#define DATA_PA 0x12000ull
#define FOREIGN_PA 0x13000ull
#define CODE_VA 0x200000ull
#define DATA_VA 0x201000ull
#define DYN_VA 0x202000ull
#define FOREIGN_VA 0x203000ull
#define PT_VA 0x204000ull
#define NOP 0x90
#define PTE(pa) ((pa) | 3ull)    /* present, writable */

/* A step of a guest script (it runs on the mock's vCPU thread, where a
 * CHECK cannot stop the test): the first failure is kept, with its message
 * (vmic's messages are per thread), and the script's later steps are
 * skipped. CHECK_GUEST asserts on it from the test's thread. */
static char guest_errmsg[512];

#define STEP(r, call)                                                          \
    do {                                                                       \
        if ((r)->guest_status == VMIC_OK && ((r)->guest_status = (call)))      \
            snprintf(guest_errmsg, sizeof guest_errmsg, "%s", vmic_errmsg());  \
    } while (0)

#define CHECK_GUEST(st)                                                        \
    CHECK_MSG((st) == VMIC_OK, "the guest's script: %s: %s", vmic_status_name(st), \
              guest_errmsg)

typedef struct mock_vm {
    vmic_core *core;
    vmic_mock *mock;
    uint8_t *mem;
} mock_vm;

static inline void put_u64(uint8_t *mem, uint64_t pa, uint64_t v)
{
    memcpy(mem + pa, &v, 8);
}

static inline vmic_status mock_vm_open(mock_vm *vm, const vmic_mock_options_t *given)
{
    vmic_mock_options_t opt = given ? *given : (vmic_mock_options_t){0};
    vmic_driver *drv;
    opt.ram_size = MOCK_RAM;
    vmic_status s = vmic_mock_open(&opt, &drv);
    if (s)
        return s;
    vm->mock = vmic_mock_of(drv);
    vm->mem = vmic_mock_memory(vm->mock);
    uint8_t *mem = vm->mem;
    put_u64(mem, ROOT, PTE(PDPT));
    put_u64(mem, PDPT, PTE(PD));
    put_u64(mem, PD + 8 * 1, PTE(PT));          /* va 0x200000..0x3fffff */
    put_u64(mem, PT + 8 * 0, PTE(PAGE_A));
    put_u64(mem, PT + 8 * 1, PTE(DATA_PA));
    put_u64(mem, PT + 8 * 3, PTE(FOREIGN_PA));
    put_u64(mem, PT + 8 * 4, PTE(PT));
    memset(mem + PAGE_A, NOP, VMIC_PAGE_SIZE);
    memset(mem + PAGE_B, NOP, VMIC_PAGE_SIZE);
    memset(mem + FOREIGN_PA, NOP, VMIC_PAGE_SIZE);
    mem[FOREIGN_PA + 0x10] = 0xcc;
    vmic_amd64_regs_t regs = {.valid = VMIC_REGS_GPR | VMIC_REGS_CR | VMIC_REGS_EFER,
                              .rip = CODE_VA, .cr0 = 0x80000011, .cr3 = ROOT, .cr4 = 0x20,
                              .efer = 0xd01};
    for (vmic_vcpu_t v = 0; v < (opt.vcpus ? opt.vcpus : 1); v++)
        vmic_mock_set_regs(vm->mock, v, &regs);
    return vmic_core_open(drv, NULL, &vm->core);
}

static inline void mock_vm_close(mock_vm *vm)
{
    vmic_core_close(vm->core);
    vm->core = NULL;
}

/* One byte as a vCPU in view sees it. */
static inline uint8_t view_byte(mock_vm *vm, vmic_view_t view, uint64_t pa)
{
    uint8_t b = 0;
    if (vmic_mock_view_read(vm->mock, view, vmic_pa(pa), &b, 1))
        return 0;
    return b;
}

/* Nothing the event model changed is left: no view but 0, every vCPU in it,
 * every page RWX there, no spare gfn in use, INT3 not monitored, code pages
 * as built. Returns what it found, "" if nothing. */
static inline const char *mock_residue(mock_vm *vm)
{
    static char what[256];
    vmic_mock_stats_t st = vmic_mock_stats(vm->mock);
    what[0] = '\0';
    if (st.views)
        snprintf(what, sizeof what, "%u views left", st.views);
    else if (st.spare_in_use)
        snprintf(what, sizeof what, "%u spare gfns in use", st.spare_in_use);
    else if (st.int3_monitor)
        snprintf(what, sizeof what, "INT3 still monitored");
    else if (st.hw_breakpoints)
        snprintf(what, sizeof what, "%u debug registers in use", st.hw_breakpoints);
    else if (vmic_mock_vcpu_view(vm->mock, 0) != VMIC_VIEW_DEFAULT)
        snprintf(what, sizeof what, "vCPU 0 in view %u", vmic_mock_vcpu_view(vm->mock, 0));
    for (uint64_t g = 0; !what[0] && g < MOCK_RAM / VMIC_PAGE_SIZE; g++) {
        vmic_access_t a = 0;
        if (vmic_get_access(vm->core, VMIC_VIEW_DEFAULT, vmic_gfn(g), &a) ||
            a != VMIC_ACCESS_RWX)
            snprintf(what, sizeof what, "gfn 0x%llx has access %u", (unsigned long long)g, a);
    }
    for (uint64_t off = 0; !what[0] && off < VMIC_PAGE_SIZE; off++)
        if (vm->mem[PAGE_A + off] != NOP || vm->mem[PAGE_B + off] != NOP)
            snprintf(what, sizeof what, "code changed at +0x%llx", (unsigned long long)off);
    return what;
}

#endif
