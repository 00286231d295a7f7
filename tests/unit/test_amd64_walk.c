/*
 * The amd64 page walker against hand-built page tables.
 *
 * Guest memory is a 256 KiB byte array; a table at a pa beyond it is "outside
 * guest memory". Every expected value (indices, pas, entries) is worked out
 * by hand in the comments, never computed with the code under test.
 */
#include <vmic/arch.h>

#include "harness.h"

#define GUEST_SIZE 0x40000u
#define OUTSIDE 0x100000u /* a page-aligned pa beyond guest memory */

/* Table pages used below. */
#define PML5 0x1000u
#define PML4 0x2000u
#define PDPT 0x3000u
#define PD 0x4000u
#define PT 0x5000u
#define PML4_B 0x6000u
#define PDPT_B 0x7000u
#define PD_B 0x8000u
#define PT_B 0x9000u

static _Alignas(4096) uint8_t guest[GUEST_SIZE];
static unsigned table_reads;

static const uint64_t *read_guest_table(void *ctx, vmic_pa_t table)
{
    (void)ctx;
    table_reads++;
    if (table.addr >= GUEST_SIZE)
        return NULL;
    return (const uint64_t *)(guest + table.addr);
}

static void clear_guest(void)
{
    memset(guest, 0, sizeof guest);
    table_reads = 0;
    vmic_clear_error();
}

static void set_entry(uint64_t table, unsigned index, uint64_t entry)
{
    memcpy(guest + table + index * 8u, &entry, sizeof entry);
}

static const vmic_paging_t four_level = {
    .mode = VMIC_PAGING_4LEVEL, .maxphyaddr = 52, .nxe = true};
static const vmic_paging_t five_level = {
    .mode = VMIC_PAGING_5LEVEL, .maxphyaddr = 52, .nxe = true};

static vmic_status walk(const vmic_paging_t *pg, uint64_t root, uint64_t va,
                        vmic_translation_t *t)
{
    return vmic_amd64_walk(pg, vmic_pa(root), vmic_va(va), read_guest_table, NULL, t);
}

static vmic_status translate(const vmic_paging_t *pg, uint64_t root, uint64_t va,
                             vmic_translation_t *t)
{
    return vmic_amd64_translate(pg, vmic_pa(root), vmic_va(va), read_guest_table, NULL, t);
}

/*
 * The kernel direct-map chain of a 4-level guest, for va 0xffff888000001234:
 * bits 47:39 = 0x111 = 273, bits 38:30 = 0, bits 29:21 = 0, bits 20:12 = 1.
 * Tables are supervisor-only and writable; the leaf is global, dirty, NX.
 */
static void build_kernel_4level(void)
{
    set_entry(PML4, 273, 0x3003);              /* PDPT, P|RW */
    set_entry(PDPT, 0, 0x4003);                /* PD */
    set_entry(PD, 0, 0x5003);                  /* PT */
    set_entry(PT, 1, 0x8000000005555163ull);   /* frame 0x5555000, P|RW|A|D|G, NX */
}

/* ---- successful walks -------------------------------------------------- */

static void test_4k_kernel_page(void)
{
    clear_guest();
    build_kernel_4level();
    vmic_translation_t t;
    CHECK_OK(walk(&four_level, PML4, 0xffff888000001234ull, &t));
    CHECK_EQ(t.va.addr, 0xffff888000001234ull);
    CHECK_EQ(t.pa.addr, 0x5555234);
    CHECK_EQ(t.page_size, 0x1000);
    CHECK_EQ(t.access, VMIC_ACCESS_RW);
    CHECK(!t.user);
    CHECK(t.global);
    CHECK(t.dirty);
    CHECK_EQ(t.fault, VMIC_WALK_OK);
    CHECK_EQ(t.fault_level, 0);
    CHECK_EQ(table_reads, 4);

    CHECK_EQ(t.nsteps, 4);
    CHECK_EQ(t.steps[0].level, VMIC_LEVEL_PML4);
    CHECK_EQ(t.steps[0].index, 273);
    CHECK_EQ(t.steps[0].table.addr, PML4);
    CHECK_EQ(t.steps[0].entry, 0x3003);
    CHECK_EQ(t.steps[1].level, VMIC_LEVEL_PDPT);
    CHECK_EQ(t.steps[1].index, 0);
    CHECK_EQ(t.steps[1].table.addr, PDPT);
    CHECK_EQ(t.steps[1].entry, 0x4003);
    CHECK_EQ(t.steps[2].level, VMIC_LEVEL_PD);
    CHECK_EQ(t.steps[2].index, 0);
    CHECK_EQ(t.steps[2].table.addr, PD);
    CHECK_EQ(t.steps[2].entry, 0x5003);
    CHECK_EQ(t.steps[3].level, VMIC_LEVEL_PT);
    CHECK_EQ(t.steps[3].index, 1);
    CHECK_EQ(t.steps[3].table.addr, PT);
    CHECK_EQ(t.steps[3].entry, 0x8000000005555163ull);
}

static void test_2m_page(void)
{
    clear_guest();
    build_kernel_4level();
    /* va 0xffff888000212345: PD index (bits 29:21) 1, offset 0x12345.
     * Frame 0x12400000 with PAT (bit 12), which must not leak into the pa. */
    set_entry(PD, 1, 0x124010e3);              /* P|RW|A|D|PS, PAT */
    vmic_translation_t t;
    CHECK_OK(walk(&four_level, PML4, 0xffff888000212345ull, &t));
    CHECK_EQ(t.pa.addr, 0x12412345);
    CHECK_EQ(t.page_size, 0x200000);
    CHECK_EQ(t.access, VMIC_ACCESS_RWX);
    CHECK(!t.user);
    CHECK(!t.global);
    CHECK(t.dirty);
    CHECK_EQ(t.nsteps, 3);
    CHECK_EQ(t.steps[2].level, VMIC_LEVEL_PD);
    CHECK_EQ(t.steps[2].index, 1);
    CHECK_EQ(t.steps[2].table.addr, PD);
    CHECK_EQ(t.steps[2].entry, 0x124010e3);
}

static void test_1g_page(void)
{
    clear_guest();
    build_kernel_4level();
    /* va 0xffff888041234567: PDPT index (bits 38:30) 1, offset 0x1234567. */
    set_entry(PDPT, 1, 0x80001183);            /* frame 0x80000000, P|RW|PS|G, PAT */
    vmic_translation_t t;
    CHECK_OK(walk(&four_level, PML4, 0xffff888041234567ull, &t));
    CHECK_EQ(t.pa.addr, 0x81234567);
    CHECK_EQ(t.page_size, 0x40000000);
    CHECK_EQ(t.access, VMIC_ACCESS_RWX);
    CHECK(t.global);
    CHECK(!t.dirty);
    CHECK_EQ(t.nsteps, 2);
    CHECK_EQ(t.steps[1].level, VMIC_LEVEL_PDPT);
    CHECK_EQ(t.steps[1].index, 1);
    CHECK_EQ(t.steps[1].entry, 0x80001183);
}

static void test_lower_half_user_page(void)
{
    clear_guest();
    /* va 0x401abc: indices 0, 0, 2 (bits 29:21), 1 (bits 20:12). */
    set_entry(PML4, 0, 0x7007);                /* P|RW|US */
    set_entry(PDPT_B, 0, 0x8007);
    set_entry(PD_B, 2, 0x9007);
    set_entry(PT_B, 1, 0xabcd007);
    vmic_translation_t t;
    CHECK_OK(walk(&four_level, PML4, 0x401abc, &t));
    CHECK_EQ(t.pa.addr, 0xabcdabc);
    CHECK_EQ(t.access, VMIC_ACCESS_RWX);
    CHECK(t.user);
    CHECK(!t.global);
    CHECK(!t.dirty);
    CHECK_EQ(t.nsteps, 4);
    CHECK_EQ(t.steps[0].table.addr, PML4);
    CHECK_EQ(t.steps[1].table.addr, PDPT_B);
    CHECK_EQ(t.steps[2].table.addr, PD_B);
    CHECK_EQ(t.steps[2].index, 2);
    CHECK_EQ(t.steps[2].entry, 0x9007);
    CHECK_EQ(t.steps[3].table.addr, PT_B);
    CHECK_EQ(t.steps[3].index, 1);
}

/*
 * 5-level kernel direct map, va 0xff11000000001234: bits 56:48 = 0x111 = 273
 * (bit 56 from the 0xff top byte, 0x11 below it), then indices 0, 0, 0, 1.
 */
static void build_kernel_5level(void)
{
    set_entry(PML5, 273, 0x2003);
    set_entry(PML4, 0, 0x3003);
    set_entry(PDPT, 0, 0x4003);
    set_entry(PD, 0, 0x5003);
    set_entry(PT, 1, 0x5555003);
}

static void test_5level_pages(void)
{
    clear_guest();
    build_kernel_5level();
    vmic_translation_t t;
    CHECK_OK(walk(&five_level, PML5, 0xff11000000001234ull, &t));
    CHECK_EQ(t.pa.addr, 0x5555234);
    CHECK_EQ(t.page_size, 0x1000);
    CHECK_EQ(t.nsteps, 5);
    CHECK_EQ(t.steps[0].level, VMIC_LEVEL_PML5);
    CHECK_EQ(t.steps[0].index, 273);
    CHECK_EQ(t.steps[0].table.addr, PML5);
    CHECK_EQ(t.steps[0].entry, 0x2003);
    CHECK_EQ(t.steps[1].level, VMIC_LEVEL_PML4);
    CHECK_EQ(t.steps[1].table.addr, PML4);
    CHECK_EQ(t.steps[4].level, VMIC_LEVEL_PT);
    CHECK_EQ(t.steps[4].index, 1);
    CHECK_EQ(t.steps[4].entry, 0x5555003);

    /* 2 MiB: PD index 1. */
    set_entry(PD, 1, 0x124000e3);
    CHECK_OK(walk(&five_level, PML5, 0xff11000000212345ull, &t));
    CHECK_EQ(t.pa.addr, 0x12412345);
    CHECK_EQ(t.page_size, 0x200000);
    CHECK_EQ(t.nsteps, 4);

    /* 1 GiB: PDPT index 1. */
    set_entry(PDPT, 1, 0x80000083);
    CHECK_OK(walk(&five_level, PML5, 0xff11000041234567ull, &t));
    CHECK_EQ(t.pa.addr, 0x81234567);
    CHECK_EQ(t.page_size, 0x40000000);
    CHECK_EQ(t.nsteps, 3);

    /* A 57-bit lower-half va (bit 48 set: PML5 index 1) reuses the chain
     * below PML4_B; under 4-level paging the same va is not canonical. */
    set_entry(PML5, 1, 0x6003);
    set_entry(PML4_B, 0, 0x3003);
    CHECK_OK(walk(&five_level, PML5, 0x0001000000001234ull, &t));
    CHECK_EQ(t.pa.addr, 0x5555234);
    CHECK_EQ(t.steps[0].index, 1);
    CHECK_EQ(t.steps[1].table.addr, PML4_B);
    CHECK_ERR(walk(&four_level, PML4, 0x0001000000001234ull, &t), VMIC_E_TRANSLATE);
    CHECK_EQ(t.fault, VMIC_WALK_NONCANONICAL);
}

static void test_same_va_two_roots(void)
{
    clear_guest();
    /* va 0x1000: indices 0, 0, 0, 1. */
    set_entry(PML4, 0, 0x3003);
    set_entry(PDPT, 0, 0x4003);
    set_entry(PD, 0, 0x5003);
    set_entry(PT, 1, 0x11111003);
    set_entry(PML4_B, 0, 0x7003);
    set_entry(PDPT_B, 0, 0x8003);
    set_entry(PD_B, 0, 0x9003);
    set_entry(PT_B, 1, 0x22222003);
    vmic_translation_t t;
    CHECK_OK(walk(&four_level, PML4, 0x1000, &t));
    CHECK_EQ(t.pa.addr, 0x11111000);
    CHECK_OK(walk(&four_level, PML4_B, 0x1000, &t));
    CHECK_EQ(t.pa.addr, 0x22222000);

    /* CR3 flags, PCID and the no-flush bit 63 do not select the table. */
    CHECK_OK(walk(&four_level, 0x8000000000002000ull | 0x18 | 0x5, 0x1000, &t));
    CHECK_EQ(t.pa.addr, 0x11111000);
    CHECK_EQ(t.steps[0].table.addr, PML4);
}

/* ---- effective rights -------------------------------------------------- */

/* va 0x0: every level's index 0; the leaf maps frame 0x6000. */
static void build_user_chain(uint64_t pml4e, uint64_t pdpte, uint64_t pde, uint64_t pte)
{
    clear_guest();
    set_entry(PML4, 0, pml4e);
    set_entry(PDPT, 0, pdpte);
    set_entry(PD, 0, pde);
    set_entry(PT, 0, pte);
}

static void test_rights(void)
{
    vmic_translation_t t;

    build_user_chain(0x3007, 0x4007, 0x5007, 0x6007);
    CHECK_OK(walk(&four_level, PML4, 0, &t));
    CHECK_EQ(t.access, VMIC_ACCESS_RWX);
    CHECK(t.user);

    /* RW cleared in the PDPTE only: read-only, still executable and user. */
    build_user_chain(0x3007, 0x4005, 0x5007, 0x6007);
    CHECK_OK(walk(&four_level, PML4, 0, &t));
    CHECK_EQ(t.access, VMIC_ACCESS_RX);
    CHECK(t.user);

    /* NX in the PDE only. */
    build_user_chain(0x3007, 0x4007, 0x8000000000005007ull, 0x6007);
    CHECK_OK(walk(&four_level, PML4, 0, &t));
    CHECK_EQ(t.access, VMIC_ACCESS_RW);
    CHECK(t.user);

    /* US cleared in the PTE only. */
    build_user_chain(0x3007, 0x4007, 0x5007, 0x6003);
    CHECK_OK(walk(&four_level, PML4, 0, &t));
    CHECK_EQ(t.access, VMIC_ACCESS_RWX);
    CHECK(!t.user);

    /* US cleared in the PML4E only, RW cleared in the PTE, NX in the PML4E. */
    build_user_chain(0x8000000000003003ull, 0x4007, 0x5007, 0x6005);
    CHECK_OK(walk(&four_level, PML4, 0, &t));
    CHECK_EQ(t.access, VMIC_ACCESS_R);
    CHECK(!t.user);

    /* Without NXE nothing can forbid execution (bit 63 would be reserved). */
    const vmic_paging_t no_nx = { .mode = VMIC_PAGING_4LEVEL, .maxphyaddr = 52, .nxe = false };
    build_user_chain(0x3007, 0x4007, 0x5007, 0x6007);
    CHECK_OK(walk(&no_nx, PML4, 0, &t));
    CHECK_EQ(t.access, VMIC_ACCESS_RWX);
}

/* ---- failures ---------------------------------------------------------- */

static void test_noncanonical(void)
{
    clear_guest();
    build_kernel_4level();
    vmic_translation_t t;

    CHECK_ERR(translate(&four_level, PML4, 0x0000800000000000ull, &t), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("va 0x0000800000000000: non-canonical for 4-level paging");
    CHECK_EQ(t.fault, VMIC_WALK_NONCANONICAL);
    CHECK_EQ(t.fault_level, 0);
    CHECK_EQ(t.nsteps, 0);
    CHECK_EQ(table_reads, 0);

    CHECK_ERR(translate(&four_level, PML4, 0xffff7fffffffffffull, &t), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("va 0xffff7fffffffffff: non-canonical for 4-level paging");

    /* Bit 56 set, bits 63:57 clear. */
    CHECK_ERR(translate(&five_level, PML5, 0x0100000000000000ull, &t), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("va 0x0100000000000000: non-canonical for 5-level paging");
    CHECK_EQ(t.fault, VMIC_WALK_NONCANONICAL);
    CHECK_ERR(translate(&five_level, PML5, 0xfe00000000000000ull, &t), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("non-canonical for 5-level paging");

    CHECK(vmic_va_is_canonical(&four_level, vmic_va(0x00007fffffffffffull)));
    CHECK(vmic_va_is_canonical(&four_level, vmic_va(0xffff800000000000ull)));
    CHECK(!vmic_va_is_canonical(&four_level, vmic_va(0x0000800000000000ull)));
    CHECK(!vmic_va_is_canonical(&four_level, vmic_va(0xff11000000000000ull)));
    CHECK(vmic_va_is_canonical(&five_level, vmic_va(0x00ffffffffffffffull)));
    CHECK(vmic_va_is_canonical(&five_level, vmic_va(0xff00000000000000ull)));
    CHECK(vmic_va_is_canonical(&five_level, vmic_va(0x0000800000000000ull)));
    CHECK(!vmic_va_is_canonical(&five_level, vmic_va(0x0100000000000000ull)));
}

static void test_not_present_each_level(void)
{
    static const struct {
        unsigned level;
        uint64_t table;
        unsigned index;
        const char *where;
    } cases[] = {
        { VMIC_LEVEL_PML5, PML5, 273, "not present at PML5 (entry 0x0 at pa 0x1000 index 273)" },
        { VMIC_LEVEL_PML4, PML4, 0, "not present at PML4 (entry 0x0 at pa 0x2000 index 0)" },
        { VMIC_LEVEL_PDPT, PDPT, 0, "not present at PDPT (entry 0x0 at pa 0x3000 index 0)" },
        { VMIC_LEVEL_PD, PD, 0, "not present at PD (entry 0x0 at pa 0x4000 index 0)" },
        { VMIC_LEVEL_PT, PT, 1, "not present at PT (entry 0x0 at pa 0x5000 index 1)" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clear_guest();
        build_kernel_5level();
        set_entry(cases[i].table, cases[i].index, 0);
        vmic_translation_t t;
        CHECK_ERR(translate(&five_level, PML5, 0xff11000000001234ull, &t), VMIC_E_TRANSLATE);
        CHECK_ERRMSG("va 0xff11000000001234: ");
        CHECK_ERRMSG(cases[i].where);
        CHECK_EQ(t.fault, VMIC_WALK_NOT_PRESENT);
        CHECK_EQ(t.fault_level, cases[i].level);
        CHECK_EQ(t.nsteps, 6 - cases[i].level);
        CHECK_EQ(t.steps[t.nsteps - 1].level, cases[i].level);
        CHECK_EQ(t.steps[t.nsteps - 1].table.addr, cases[i].table);
        CHECK_EQ(t.steps[t.nsteps - 1].entry, 0);
        CHECK_EQ(t.pa.addr, 0);
        CHECK_EQ(t.access, VMIC_ACCESS_NONE);
    }

    /* A 4-level kernel address, as a caller would see it. */
    clear_guest();
    set_entry(PML4, 273, 0x3003);
    vmic_translation_t t;
    CHECK_ERR(translate(&four_level, PML4, 0xffff888000001000ull, &t), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("va 0xffff888000001000: not present at PDPT (entry 0x0 at pa 0x3000 index 0)");

    /* A not-present entry's other bits are the OS's: even "reserved" ones. */
    clear_guest();
    build_kernel_4level();
    set_entry(PD, 0, 0xfff8000000005002ull);
    CHECK_ERR(translate(&four_level, PML4, 0xffff888000001234ull, &t), VMIC_E_TRANSLATE);
    CHECK_EQ(t.fault, VMIC_WALK_NOT_PRESENT);
    CHECK_ERRMSG("not present at PD (entry 0xfff8000000005002 at pa 0x4000 index 0)");
}

static void test_reserved_above_maxphyaddr(void)
{
    const vmic_paging_t pa46 = { .mode = VMIC_PAGING_4LEVEL, .maxphyaddr = 46, .nxe = true };
    vmic_translation_t t;

    /* Bit 51 in a PDE that points to a table. */
    clear_guest();
    build_kernel_4level();
    set_entry(PD, 0, 0x0008000000005003ull);
    CHECK_ERR(translate(&pa46, PML4, 0xffff888000001234ull, &t), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("va 0xffff888000001234: reserved bit set at PD entry 0x8000000005003 (bit 51)");
    CHECK_ERRMSG("at pa 0x4000 index 0");
    CHECK_EQ(t.fault, VMIC_WALK_RESERVED);
    CHECK_EQ(t.fault_level, VMIC_LEVEL_PD);
    CHECK_EQ(t.reserved_bits, 1ull << 51);
    CHECK_EQ(t.nsteps, 3);
    CHECK_EQ(t.steps[2].entry, 0x0008000000005003ull);
    /* With a 52-bit MAXPHYADDR bit 51 is an address bit: the table at
     * 0x8000000005000 is outside guest memory. */
    CHECK_ERR(walk(&four_level, PML4, 0xffff888000001234ull, &t), VMIC_E_TRANSLATE);
    CHECK_EQ(t.fault, VMIC_WALK_NO_TABLE);
    CHECK_EQ(t.steps[3].table.addr, 0x8000000005000ull);

    /* Bit 46 in the leaf is reserved with MAXPHYADDR 46; bit 45 is not. */
    clear_guest();
    build_kernel_4level();
    set_entry(PT, 1, 0x0000400005555003ull);
    CHECK_ERR(translate(&pa46, PML4, 0xffff888000001234ull, &t), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("reserved bit set at PT entry 0x400005555003 (bit 46)");
    CHECK_EQ(t.fault_level, VMIC_LEVEL_PT);
    CHECK_EQ(t.nsteps, 4);
    set_entry(PT, 1, 0x0000200005555003ull);
    CHECK_OK(walk(&pa46, PML4, 0xffff888000001234ull, &t));
    CHECK_EQ(t.pa.addr, 0x200005555234ull);

    /* MAXPHYADDR 52: bit 51 is a frame bit. Bits 62:52 are ignored. */
    set_entry(PT, 1, 0x0008000005555003ull);
    CHECK_OK(walk(&four_level, PML4, 0xffff888000001234ull, &t));
    CHECK_EQ(t.pa.addr, 0x8000005555234ull);
    set_entry(PT, 1, 0x7ff0000005555003ull);
    CHECK_OK(walk(&pa46, PML4, 0xffff888000001234ull, &t));
    CHECK_EQ(t.pa.addr, 0x5555234);

    /* Bit 40 in the PML4E with MAXPHYADDR 36; the walk stops at the PML4
     * even though the tables below it are fine. */
    const vmic_paging_t pa36 = { .mode = VMIC_PAGING_4LEVEL, .maxphyaddr = 36, .nxe = true };
    clear_guest();
    build_kernel_4level();
    set_entry(PML4, 273, 0x0000010000003003ull);
    CHECK_ERR(translate(&pa36, PML4, 0xffff888000001234ull, &t), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("reserved bit set at PML4 entry 0x10000003003 (bit 40) at pa 0x2000 index 273");
    CHECK_EQ(t.fault_level, VMIC_LEVEL_PML4);
    CHECK_EQ(t.nsteps, 1);
    CHECK_EQ(t.pa.addr, 0);

    /* A reserved PML4E over a missing PDPTE: the PML4E is the fault. */
    set_entry(PDPT, 0, 0);
    CHECK_ERR(walk(&pa36, PML4, 0xffff888000001234ull, &t), VMIC_E_TRANSLATE);
    CHECK_EQ(t.fault, VMIC_WALK_RESERVED);
    CHECK_EQ(t.fault_level, VMIC_LEVEL_PML4);
    CHECK_EQ(t.nsteps, 1);

    /* A reserved PDPTE pointing outside guest memory: reserved, not no-table. */
    clear_guest();
    build_kernel_4level();
    set_entry(PDPT, 0, 0x0000100000000003ull | OUTSIDE);  /* bit 44 */
    CHECK_ERR(walk(&pa36, PML4, 0xffff888000001234ull, &t), VMIC_E_TRANSLATE);
    CHECK_EQ(t.fault, VMIC_WALK_RESERVED);
    CHECK_EQ(t.fault_level, VMIC_LEVEL_PDPT);
    CHECK_EQ(t.reserved_bits, 1ull << 44);
    CHECK_EQ(t.nsteps, 2);
}

static void test_reserved_nx_without_nxe(void)
{
    const vmic_paging_t no_nx = { .mode = VMIC_PAGING_4LEVEL, .maxphyaddr = 52, .nxe = false };
    vmic_translation_t t;
    clear_guest();
    build_kernel_4level();
    set_entry(PT, 1, 0x5555003);
    set_entry(PML4, 273, 0x8000000000003003ull);
    CHECK_ERR(translate(&no_nx, PML4, 0xffff888000001234ull, &t), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("reserved bit set at PML4 entry 0x8000000000003003 (bit 63)");
    CHECK_EQ(t.fault_level, VMIC_LEVEL_PML4);
    CHECK_EQ(t.reserved_bits, VMIC_PTE_NX);
    CHECK_EQ(t.nsteps, 1);

    /* The same bit in the leaf. */
    set_entry(PML4, 273, 0x3003);
    set_entry(PT, 1, 0x8000000005555003ull);
    CHECK_ERR(translate(&no_nx, PML4, 0xffff888000001234ull, &t), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("reserved bit set at PT entry 0x8000000005555003 (bit 63)");
    CHECK_EQ(t.fault_level, VMIC_LEVEL_PT);
}

static void test_reserved_ps_in_top_levels(void)
{
    vmic_translation_t t;
    clear_guest();
    build_kernel_4level();
    set_entry(PML4, 273, 0x3083);
    CHECK_ERR(translate(&four_level, PML4, 0xffff888000001234ull, &t), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("reserved bit set at PML4 entry 0x3083 (bit 7) at pa 0x2000 index 273");
    CHECK_EQ(t.fault, VMIC_WALK_RESERVED);
    CHECK_EQ(t.reserved_bits, VMIC_PTE_PS);
    CHECK_EQ(t.nsteps, 1);

    clear_guest();
    build_kernel_5level();
    set_entry(PML5, 273, 0x2083);
    CHECK_ERR(translate(&five_level, PML5, 0xff11000000001234ull, &t), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("reserved bit set at PML5 entry 0x2083 (bit 7) at pa 0x1000 index 273");
    CHECK_EQ(t.fault_level, VMIC_LEVEL_PML5);

    /* PS in the PML4E under a 5-level root. */
    set_entry(PML5, 273, 0x2003);
    set_entry(PML4, 0, 0x3083);
    CHECK_ERR(translate(&five_level, PML5, 0xff11000000001234ull, &t), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("reserved bit set at PML4 entry 0x3083 (bit 7)");
    CHECK_EQ(t.nsteps, 2);
}

static void test_reserved_large_page_low_bits(void)
{
    vmic_translation_t t;
    clear_guest();
    build_kernel_4level();

    /* 1 GiB leaf: bits 29:13 are reserved. */
    set_entry(PDPT, 1, 0x80002083);            /* bit 13 */
    CHECK_ERR(translate(&four_level, PML4, 0xffff888041234567ull, &t), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("reserved bit set at PDPT entry 0x80002083 (bit 13) at pa 0x3000 index 1");
    CHECK_EQ(t.fault_level, VMIC_LEVEL_PDPT);
    CHECK_EQ(t.reserved_bits, 1u << 13);
    set_entry(PDPT, 1, 0xa0000083);            /* bit 29 */
    CHECK_ERR(translate(&four_level, PML4, 0xffff888041234567ull, &t), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("(bit 29)");

    /* 2 MiB leaf: bits 20:13 are reserved. */
    set_entry(PD, 1, 0x12500083);              /* bit 20 */
    CHECK_ERR(translate(&four_level, PML4, 0xffff888000212345ull, &t), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("reserved bit set at PD entry 0x12500083 (bit 20) at pa 0x4000 index 1");
    CHECK_EQ(t.fault_level, VMIC_LEVEL_PD);
    set_entry(PD, 1, 0x12402083);              /* bit 13 */
    CHECK_ERR(translate(&four_level, PML4, 0xffff888000212345ull, &t), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("(bit 13)");

    /* The same low bits in a table pointer are address bits. */
    set_entry(PD, 1, 0x00022003);              /* PT at 0x22000, bit 13 set */
    set_entry(0x22000, 0x12, 0x7777003);       /* va index bits 20:12 of 0x212345 = 0x12 */
    CHECK_OK(walk(&four_level, PML4, 0xffff888000212345ull, &t));
    CHECK_EQ(t.pa.addr, 0x7777345);
}

static void test_table_outside_memory(void)
{
    vmic_translation_t t;
    clear_guest();
    build_kernel_4level();
    set_entry(PDPT, 0, OUTSIDE | 0x3);
    CHECK_ERR(translate(&four_level, PML4, 0xffff888000001234ull, &t), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("va 0xffff888000001234: PD table at pa 0x100000 is outside guest memory");
    CHECK_EQ(t.fault, VMIC_WALK_NO_TABLE);
    CHECK_EQ(t.fault_level, VMIC_LEVEL_PD);
    CHECK_EQ(t.nsteps, 3);
    CHECK_EQ(t.steps[1].entry, OUTSIDE | 0x3);
    CHECK_EQ(t.steps[2].level, VMIC_LEVEL_PD);
    CHECK_EQ(t.steps[2].index, 0);
    CHECK_EQ(t.steps[2].table.addr, OUTSIDE);
    CHECK_EQ(t.steps[2].entry, 0);

    /* The root itself. */
    CHECK_ERR(translate(&four_level, OUTSIDE, 0xffff888000001234ull, &t), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("PML4 table at pa 0x100000 is outside guest memory");
    CHECK_EQ(t.fault_level, VMIC_LEVEL_PML4);
    CHECK_EQ(t.nsteps, 1);
}

/* ---- reporting --------------------------------------------------------- */

static void test_walk_records_no_message(void)
{
    clear_guest();
    vmic_translation_t t;
    CHECK_ERR(walk(&four_level, PML4, 0xffff888000001234ull, &t), VMIC_E_TRANSLATE);
    CHECK_STR(vmic_errmsg(), "");
    CHECK_EQ(t.fault, VMIC_WALK_NOT_PRESENT);
}

static void test_describe(void)
{
    clear_guest();
    build_kernel_4level();
    vmic_translation_t t;
    char buf[200];

    CHECK_OK(translate(&four_level, PML4, 0xffff888000001234ull, &t));
    vmic_walk_describe(&t, buf, sizeof buf);
    CHECK_STR(buf, "va 0xffff888000001234: pa 0x5555234 (4 KiB page, rw-, global)");

    CHECK_ERR(walk(&four_level, PML4, 0xffff888000401234ull, &t), VMIC_E_TRANSLATE);
    vmic_walk_describe(&t, buf, sizeof buf);
    CHECK_STR(buf, "va 0xffff888000401234: not present at PD (entry 0x0 at pa 0x4000 index 2)");

    /* Without the paging mode, a va canonical only under 5-level paging
     * can only have failed a 4-level walk. */
    CHECK_ERR(walk(&four_level, PML4, 0x0000800000000000ull, &t), VMIC_E_TRANSLATE);
    vmic_walk_describe(&t, buf, sizeof buf);
    CHECK_STR(buf, "va 0x0000800000000000: non-canonical for 4-level paging");

    /* A short buffer truncates but stays terminated. */
    vmic_walk_describe(&t, buf, 8);
    CHECK_STR(buf, "va 0x00");
}

static void test_names(void)
{
    CHECK_STR(vmic_level_name(VMIC_LEVEL_PT), "PT");
    CHECK_STR(vmic_level_name(VMIC_LEVEL_PD), "PD");
    CHECK_STR(vmic_level_name(VMIC_LEVEL_PDPT), "PDPT");
    CHECK_STR(vmic_level_name(VMIC_LEVEL_PML4), "PML4");
    CHECK_STR(vmic_level_name(VMIC_LEVEL_PML5), "PML5");
    CHECK_STR(vmic_level_name(9), "unknown level");
    CHECK_STR(vmic_walk_fault_name(VMIC_WALK_OK), "ok");
    CHECK_STR(vmic_walk_fault_name(VMIC_WALK_NONCANONICAL), "non-canonical");
    CHECK_STR(vmic_walk_fault_name(VMIC_WALK_NOT_PRESENT), "not present");
    CHECK_STR(vmic_walk_fault_name(VMIC_WALK_RESERVED), "reserved bit set");
    CHECK_STR(vmic_walk_fault_name(VMIC_WALK_NO_TABLE), "table outside guest memory");

    const vmic_paging_t pg = vmic_paging_default();
    CHECK_EQ(pg.mode, VMIC_PAGING_4LEVEL);
    CHECK_EQ(pg.maxphyaddr, 52);
    CHECK(pg.nxe);
    CHECK_EQ(vmic_cr3_to_root(0x8000000000002fffull).addr, 0x2000);
}

int main(void)
{
    RUN(test_4k_kernel_page);
    RUN(test_2m_page);
    RUN(test_1g_page);
    RUN(test_lower_half_user_page);
    RUN(test_5level_pages);
    RUN(test_same_va_two_roots);
    RUN(test_rights);
    RUN(test_noncanonical);
    RUN(test_not_present_each_level);
    RUN(test_reserved_above_maxphyaddr);
    RUN(test_reserved_nx_without_nxe);
    RUN(test_reserved_ps_in_top_levels);
    RUN(test_reserved_large_page_low_bits);
    RUN(test_table_outside_memory);
    RUN(test_walk_records_no_message);
    RUN(test_describe);
    RUN(test_names);
    return HARNESS_RESULT();
}
