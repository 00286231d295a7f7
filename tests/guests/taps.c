/*
 * taps.elf: the guest side of the breakpoint manager's tests and bench
 * (guest_params.scenario, see guest_abi.h). It counts its own calls, checks
 * its own results and reads its own code, and reports all of it, so that
 * what vmic counts can be compared with what the guest saw.
 */
#include "rt.h"

extern uint32_t work_fn(uint32_t);
extern uint32_t counter_fn(void);
extern uint32_t patch_fn(void);
extern uint32_t bp_target(void);
extern volatile uint64_t counter_word;
extern const uint8_t exec_page[4096];

/* lea 0x1(%rdi,%rdi,2),%eax; ret -- work_fn as the image has it */
static const uint8_t work_fn_bytes[] = {0x8d, 0x44, 0x7f, 0x01, 0xc3};
/* lea 0x2(%rdi,%rdi,2),%eax; ret -- page_b's function, to tell them apart */
static const uint8_t dyn_b_bytes[] = {0x8d, 0x44, 0x7f, 0x02, 0xc3};

/* FNV-1a over 64-bit words: the host computes the same over the original. */
static uint64_t page_hash(const volatile uint64_t *p)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned i = 0; i < 512; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t sum_work(uint32_t n)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += work_fn(i);
    return sum;
}

static void loop(uint32_t n)
{
    phase(PH_START);
    report("sum", sum_work(n));
    report("calls", n);

    uint64_t start = counter_word, fsum = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t w = counter_word;
        counter_word = w + 1;
        fsum += counter_fn();
    }
    report("word_delta", counter_word - start);
    report("fsum", fsum);

    /* New code in patch_fn (on counter_fn's page, no breakpoint on it), run,
     * then the old back: code that runs from a shadow copy must run what
     * the guest wrote. */
    volatile uint32_t *imm = (volatile uint32_t *)((uintptr_t)patch_fn + 1);
    *imm = COUNTER_FN_PATCHED;
    report("patched", patch_fn());
    *imm = COUNTER_FN_RESULT;
    report("restored", patch_fn());

    bool intact = true;
    for (unsigned i = 0; i < sizeof work_fn_bytes; i++)
        intact &= ((const volatile uint8_t *)work_fn)[i] == work_fn_bytes[i];
    report("exec_hash", page_hash((const volatile uint64_t *)exec_page));
    report("work_intact", intact);

    uint32_t ret = 0;
    for (unsigned i = 0; i < TAPS_GUEST_INT3S; i++)
        ret += bp_target();
    report("bp_ret", ret);
    report("bp_hits", trap_count[0][3]);
    phase(PH_DONE);

    /* Untraced now: nothing vmic set may be left to notice. */
    report("after_sum", sum_work(TAPS_AFTER_CALLS));
    bp_target();
    report("bp_hits_after", trap_count[0][3]);
}

/* ---- TAPS_MAPPING: the guest edits its own page tables ---------------------------- */

static uint64_t dyn_pd[512] __attribute__((aligned(4096)));
static uint64_t dyn_pt[512] __attribute__((aligned(4096)));
static uint8_t page_a[4096] __attribute__((aligned(4096)));
static uint8_t page_b[4096] __attribute__((aligned(4096)));

#define PTE_TABLE 0x23ull      /* P RW A: set A now, the CPU need not write it */
#define PTE_LEAF 0x63ull       /* P RW A D */

static uint64_t pa_of(const void *image_va)
{
    return (uint64_t)image_va - KERNEL_VMA;
}

static uint64_t *table_at(uint64_t entry)
{
    return (uint64_t *)(DIRECT_MAP + (entry & 0x000ffffffffff000ull));
}

static void flush(void)
{
    uint64_t cr3;
    __asm__ volatile("invlpg (%0)" : : "r"(DYN_VA) : "memory");
    __asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3) : : "memory");
}

static void put_code(uint8_t *page, const uint8_t *code, unsigned len)
{
    for (unsigned i = 0; i < len; i++)
        page[DYN_FN_OFFSET + i] = code[i];
}

static uint64_t call_n(uint64_t va, uint32_t n)
{
    uint32_t (*fn)(uint32_t) = (uint32_t (*)(uint32_t))va;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += fn(i);
    return sum;
}

static void mapping(void)
{
    uint64_t cr3;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    uint64_t *pml4 = table_at(cr3);
    uint64_t *pdpt = table_at(pml4[511]);
    volatile uint64_t *pt = dyn_pt;
    uint64_t fn = DYN_VA + DYN_FN_OFFSET;

    put_code(page_a, work_fn_bytes, sizeof work_fn_bytes);
    put_code(page_b, dyn_b_bytes, sizeof dyn_b_bytes);
    phase(PH_START);   /* the test sets its breakpoint on fn: not mapped yet */

    /* One level at a time, each a write the page-table monitor must see. */
    pdpt[511] = pa_of(dyn_pd) | PTE_TABLE;
    dyn_pd[0] = pa_of(dyn_pt) | PTE_TABLE;
    pt[0] = pa_of(page_a) | PTE_LEAF;
    flush();
    phase(PH_MAPPED);
    report("sum_a", call_n(fn, DYN_CALLS));

    pt[0] = 0;
    flush();
    phase(PH_UNMAPPED);
    /* The same code through the direct map: not the breakpoint's address. */
    report("sum_alias", call_n(DIRECT_MAP + pa_of(page_a) + DYN_FN_OFFSET, DYN_CALLS));

    pt[0] = pa_of(page_b) | PTE_LEAF;
    flush();
    phase(PH_REMAPPED);
    report("sum_b", call_n(fn, DYN_CALLS));
    phase(PH_DONE);

    report("sum_after", call_n(fn, TAPS_AFTER_CALLS));
    pt[0] = 0;
    pdpt[511] = 0;
    flush();
}

void guest_main(unsigned cpu)
{
    uint32_t n = guest_params.iterations ? guest_params.iterations : 1000;

    if (cpu != 0)
        return;
    switch (guest_params.scenario) {
    case TAPS_LOOP:
        loop(n);
        break;
    case TAPS_MAPPING:
        mapping();
        break;
    case TAPS_BENCH:
        phase(PH_START);
        report("sum", sum_work(n));
        phase(PH_DONE);
        break;
    default:
        report("unknown_scenario", guest_params.scenario);
        guest_exit(2);
    }
    print("taps: done\n");
}
