/*
 * Page-table enumeration and range coalescing against hand-built tables
 * in a 256 KiB guest-memory array. Expected mappings are worked out by hand.
 */
#include <vmic/arch.h>

#include "harness.h"

#define GUEST_SIZE 0x40000u
#define OUTSIDE 0x100000u /* a page-aligned pa beyond guest memory */
#define MAX_SEEN 16

static _Alignas(4096) uint8_t guest[GUEST_SIZE];

static const uint64_t *read_guest_table(void *ctx, vmic_pa_t table)
{
    (void)ctx;
    if (table.addr >= GUEST_SIZE)
        return NULL;
    return (const uint64_t *)(guest + table.addr);
}

static void clear_guest(void)
{
    memset(guest, 0, sizeof guest);
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

/* Records what the enumeration (or the merger) emits. */
typedef struct seen {
    vmic_mapping_t m[MAX_SEEN];
    uint64_t count;      /* every call, also beyond MAX_SEEN */
    uint64_t stop_after; /* return 1 on this call (0 = never) */
} seen_t;

static int record(void *arg, const vmic_mapping_t *m)
{
    seen_t *s = arg;
    if (s->count < MAX_SEEN)
        s->m[s->count] = *m;
    s->count++;
    return s->stop_after != 0 && s->count == s->stop_after;
}

static vmic_status enumerate(const vmic_paging_t *pg, uint64_t root, uint64_t max_leaves,
                             vmic_mapping_fn fn, void *arg, uint64_t *skipped)
{
    return vmic_amd64_mappings(pg, vmic_pa(root), read_guest_table, NULL, max_leaves,
                               fn, arg, skipped);
}

#define CHECK_MAPPING(got, va_, pa_, size_, access_, user_, global_)      \
    do {                                                                  \
        CHECK_EQ((got).va.addr, (va_));                                   \
        CHECK_EQ((got).pa.addr, (pa_));                                   \
        CHECK_EQ((got).size, (size_));                                    \
        CHECK_EQ((got).access, (access_));                                \
        CHECK_EQ((got).user, (user_));                                    \
        CHECK_EQ((got).global, (global_));                                \
    } while (0)

/*
 * Root 0x2000. Lower half (user, RW, no NX):
 *   PML4[0] -> PDPT 0x3000, [0] -> PD 0x4000, [2] -> PT 0x5000, [3] = 2 MiB
 *   PT[0], PT[1]: va 0x400000, 0x401000 -> pa 0x10000000, 0x10001000
 *   PT[5]: va 0x405000 -> pa 0x20000000, read-only
 *   PD[3]: va 0x600000 -> pa 0x600000, 2 MiB
 * Upper half (supervisor):
 *   PML4[273] -> PDPT 0x6000, [1] = 1 GiB global:
 *     va sign-extended 273 << 39 | 1 << 30 = 0xffff888040000000 -> 0x40000000
 *   PML4[511] -> PDPT 0x9000, [510] -> PD 0xa000, [0] -> PT 0xb000, [0]:
 *     va 0xffffff8000000000 + 510 * 2^30 = 0xffffffff80000000 -> 0x1000000, NX
 * Entries are written out of order so that the order of the output comes
 * from the walk, not from the setup.
 */
static void build_mixed_tables(void)
{
    clear_guest();
    set_entry(0x2000, 511, 0x9003);
    set_entry(0x2000, 273, 0x6003);
    set_entry(0x2000, 0, 0x3007);
    set_entry(0x3000, 0, 0x4007);
    set_entry(0x4000, 3, 0x00600087);                  /* P|RW|US|PS */
    set_entry(0x4000, 2, 0x5007);
    set_entry(0x5000, 5, 0x20000005);                  /* P|US */
    set_entry(0x5000, 1, 0x10001007);
    set_entry(0x5000, 0, 0x10000007);
    set_entry(0x6000, 1, 0x40000183);                  /* P|RW|PS|G */
    set_entry(0x9000, 510, 0xa003);
    set_entry(0xa000, 0, 0xb003);
    set_entry(0xb000, 0, 0x8000000001000103ull);       /* P|RW|G, NX */
}

static void test_order_and_attributes(void)
{
    build_mixed_tables();
    seen_t s = {0};
    uint64_t skipped = 99;
    CHECK_OK(enumerate(&four_level, 0x2000, 0, record, &s, &skipped));
    CHECK_EQ(skipped, 0);
    CHECK_EQ(s.count, 6);
    CHECK_MAPPING(s.m[0], 0x400000, 0x10000000, 0x1000, VMIC_ACCESS_RWX, true, false);
    CHECK_MAPPING(s.m[1], 0x401000, 0x10001000, 0x1000, VMIC_ACCESS_RWX, true, false);
    CHECK_MAPPING(s.m[2], 0x405000, 0x20000000, 0x1000, VMIC_ACCESS_RX, true, false);
    CHECK_MAPPING(s.m[3], 0x600000, 0x600000, 0x200000, VMIC_ACCESS_RWX, true, false);
    CHECK_MAPPING(s.m[4], 0xffff888040000000ull, 0x40000000, 0x40000000, VMIC_ACCESS_RWX,
                  false, true);
    CHECK_MAPPING(s.m[5], 0xffffffff80000000ull, 0x1000000, 0x1000, VMIC_ACCESS_RW, false,
                  true);
}

static void test_5level_sign_extension(void)
{
    clear_guest();
    /* PML5 0x1000: [273] -> upper half (bits 56:48 = 0x111), [1] -> bit 48. */
    set_entry(0x1000, 273, 0x2003);
    set_entry(0x1000, 1, 0x2003);
    set_entry(0x2000, 0, 0x3003);
    set_entry(0x3000, 2, 0x40000083);                  /* 1 GiB at va offset 2 GiB */
    seen_t s = {0};
    CHECK_OK(enumerate(&five_level, 0x1000, 0, record, &s, NULL));
    CHECK_EQ(s.count, 2);
    CHECK_MAPPING(s.m[0], 0x0001000080000000ull, 0x40000000, 0x40000000, VMIC_ACCESS_RWX,
                  false, false);
    CHECK_MAPPING(s.m[1], 0xff11000080000000ull, 0x40000000, 0x40000000, VMIC_ACCESS_RWX,
                  false, false);
}

/*
 * Root 0x2000, PML4[0] -> PDPT 0x3000 -> PD 0x4000; PD[2] -> PT 0x5000
 * (va 0x400000..0x5fffff), PD[3] = 2 MiB at va 0x600000.
 */
static void build_coalescing_tables(void)
{
    clear_guest();
    set_entry(0x2000, 0, 0x3007);
    set_entry(0x3000, 0, 0x4007);
    set_entry(0x4000, 2, 0x5007);
    set_entry(0x4000, 3, 0x00600087);    /* va 0x600000 -> pa 0x600000, 2 MiB, RWX */
    set_entry(0x5000, 0, 0x10000007);    /* va 0x400000 -> 0x10000000 */
    set_entry(0x5000, 1, 0x10001007);    /* va 0x401000 -> 0x10001000: contiguous */
    set_entry(0x5000, 2, 0x10002007);    /* va 0x402000 -> 0x10002000: contiguous */
    set_entry(0x5000, 3, 0x30000007);    /* va 0x403000 -> 0x30000000: pa jumps */
    set_entry(0x5000, 4, 0x30001005);    /* va 0x404000: read-only */
    set_entry(0x5000, 6, 0x30006005);    /* va 0x406000: after a va gap */
    set_entry(0x5000, 511, 0x005ff007);  /* va 0x5ff000 -> 0x5ff000, runs into the 2 MiB */
}

static void test_coalescing_pa_contiguous(void)
{
    build_coalescing_tables();
    seen_t s = {0};
    vmic_range_merger_t rm = { .by_va_only = false, .emit = record, .arg = &s };
    CHECK_OK(enumerate(&four_level, 0x2000, 0, vmic_range_merger_add, &rm, NULL));
    CHECK_EQ(s.count, 4);  /* the last range is still held */
    CHECK_EQ(vmic_range_merger_flush(&rm), 0);
    CHECK_EQ(s.count, 5);
    CHECK_MAPPING(s.m[0], 0x400000, 0x10000000, 0x3000, VMIC_ACCESS_RWX, true, false);
    CHECK_MAPPING(s.m[1], 0x403000, 0x30000000, 0x1000, VMIC_ACCESS_RWX, true, false);
    CHECK_MAPPING(s.m[2], 0x404000, 0x30001000, 0x1000, VMIC_ACCESS_RX, true, false);
    CHECK_MAPPING(s.m[3], 0x406000, 0x30006000, 0x1000, VMIC_ACCESS_RX, true, false);
    CHECK_MAPPING(s.m[4], 0x5ff000, 0x5ff000, 0x201000, VMIC_ACCESS_RWX, true, false);
    /* A second flush has nothing left to emit. */
    CHECK_EQ(vmic_range_merger_flush(&rm), 0);
    CHECK_EQ(s.count, 5);
}

static void test_coalescing_by_va_only(void)
{
    build_coalescing_tables();
    seen_t s = {0};
    vmic_range_merger_t rm = { .by_va_only = true, .emit = record, .arg = &s };
    CHECK_OK(enumerate(&four_level, 0x2000, 0, vmic_range_merger_add, &rm, NULL));
    CHECK_EQ(vmic_range_merger_flush(&rm), 0);
    CHECK_EQ(s.count, 4);
    CHECK_MAPPING(s.m[0], 0x400000, 0x10000000, 0x4000, VMIC_ACCESS_RWX, true, false);
    CHECK_MAPPING(s.m[1], 0x404000, 0x30001000, 0x1000, VMIC_ACCESS_RX, true, false);
    CHECK_MAPPING(s.m[2], 0x406000, 0x30006000, 0x1000, VMIC_ACCESS_RX, true, false);
    CHECK_MAPPING(s.m[3], 0x5ff000, 0x5ff000, 0x201000, VMIC_ACCESS_RWX, true, false);
}

static void test_merger_attributes_and_stop(void)
{
    seen_t s = {0};
    vmic_range_merger_t rm = { .by_va_only = false, .emit = record, .arg = &s };
    const vmic_mapping_t a = { .va = vmic_va(0x1000), .pa = vmic_pa(0x1000), .size = 0x1000,
                               .access = VMIC_ACCESS_RW };
    vmic_mapping_t b = { .va = vmic_va(0x2000), .pa = vmic_pa(0x2000), .size = 0x1000,
                         .access = VMIC_ACCESS_RW, .global = true };
    CHECK_EQ(vmic_range_merger_add(&rm, &a), 0);
    CHECK_EQ(vmic_range_merger_add(&rm, &b), 0);   /* global differs: a is emitted */
    CHECK_EQ(s.count, 1);
    b.va = vmic_va(0x3000);
    b.pa = vmic_pa(0x3000);
    b.user = true;
    CHECK_EQ(vmic_range_merger_add(&rm, &b), 0);   /* user differs */
    CHECK_EQ(s.count, 2);
    CHECK_MAPPING(s.m[1], 0x2000, 0x2000, 0x1000, VMIC_ACCESS_RW, false, true);

    /* The emit callback asks to stop: add returns it, and the mapping that
     * triggered the emit is dropped rather than held for a later flush. */
    s.stop_after = 3;
    b.va = vmic_va(0x5000);
    CHECK(vmic_range_merger_add(&rm, &b) != 0);
    CHECK_EQ(s.count, 3);
    CHECK_EQ(vmic_range_merger_flush(&rm), 0);
    CHECK_EQ(s.count, 3);
}

static void test_merger_stop_ends_enumeration(void)
{
    build_coalescing_tables();
    seen_t s = { .stop_after = 2 };
    vmic_range_merger_t rm = { .by_va_only = false, .emit = record, .arg = &s };
    CHECK_OK(enumerate(&four_level, 0x2000, 0, vmic_range_merger_add, &rm, NULL));
    CHECK_EQ(s.count, 2);
    CHECK_MAPPING(s.m[1], 0x403000, 0x30000000, 0x1000, VMIC_ACCESS_RWX, true, false);
}

static void test_skipped(void)
{
    const vmic_paging_t pa46 = { .mode = VMIC_PAGING_4LEVEL, .maxphyaddr = 46, .nxe = true };
    clear_guest();
    set_entry(0x2000, 0, 0x3003);
    set_entry(0x2000, 1, 0x3083);                       /* PS in a PML4E */
    set_entry(0x2000, 2, 0x0008000000003003ull);        /* bit 51 >= MAXPHYADDR 46 */
    set_entry(0x3000, 0, 0x4003);
    set_entry(0x3000, 1, 0x80002083);                   /* 1 GiB leaf with bit 13 */
    set_entry(0x3000, 2, OUTSIDE | 0x3);                /* PD outside guest memory */
    set_entry(0x4000, 0, 0x5003);
    set_entry(0x4000, 1, 0x00200002);                   /* not present: not counted */
    set_entry(0x5000, 0, 0x7000003);                    /* the one good mapping */
    set_entry(0x5000, 1, 0x8000000007001003ull);        /* NX: fine with NXE */
    set_entry(0x5000, 2, 0x0000400007002003ull);        /* bit 46 */
    seen_t s = {0};
    uint64_t skipped = 0;
    CHECK_OK(enumerate(&pa46, 0x2000, 0, record, &s, &skipped));
    CHECK_EQ(s.count, 2);
    CHECK_MAPPING(s.m[0], 0x0, 0x7000000, 0x1000, VMIC_ACCESS_RWX, false, false);
    CHECK_MAPPING(s.m[1], 0x1000, 0x7001000, 0x1000, VMIC_ACCESS_RW, false, false);
    CHECK_EQ(skipped, 5);

    /* Without NXE, the NX leaf is reserved as well. */
    const vmic_paging_t pa46_no_nx = { .mode = VMIC_PAGING_4LEVEL, .maxphyaddr = 46, .nxe = false };
    memset(&s, 0, sizeof s);
    CHECK_OK(enumerate(&pa46_no_nx, 0x2000, 0, record, &s, &skipped));
    CHECK_EQ(s.count, 1);
    CHECK_EQ(skipped, 6);
}

static void test_root_outside_memory(void)
{
    clear_guest();
    seen_t s = {0};
    uint64_t skipped = 99;
    CHECK_ERR(enumerate(&four_level, OUTSIDE, 0, record, &s, &skipped), VMIC_E_UNMAPPED);
    CHECK_ERRMSG("PML4 table at pa 0x100000");
    CHECK_ERRMSG("outside guest memory");
    CHECK_EQ(s.count, 0);
    CHECK_EQ(skipped, 0);
}

static void test_early_stop(void)
{
    build_mixed_tables();
    seen_t s = { .stop_after = 3 };
    CHECK_OK(enumerate(&four_level, 0x2000, 0, record, &s, NULL));
    CHECK_EQ(s.count, 3);
    CHECK_EQ(s.m[2].va.addr, 0x405000);
}

/* Every entry of the one table at 0x1000 points back to it: read as a
 * PML4, PDPT, PD and PT it would describe 512^4 leaves. */
static void build_self_referencing_table(void)
{
    clear_guest();
    for (unsigned i = 0; i < 512; i++)
        set_entry(0x1000, i, 0x1003);
}

static void test_self_reference_is_a_cycle(void)
{
    /* Each PML4 entry points at its own table: 512 entries skipped, no leaf,
     * and the enumeration ends at once instead of at the leaf limit. */
    build_self_referencing_table();
    seen_t s = {0};
    uint64_t skipped = 0;
    CHECK_OK(enumerate(&four_level, 0x1000, 0, record, &s, &skipped));
    CHECK_EQ(s.count, 0);
    CHECK_EQ(skipped, 512);
}

static void test_cycle_to_grandparent_and_shared_table(void)
{
    /* PML4 0x1000 -> PDPT 0x2000; PDPT entry 0 points back to the PML4 (a
     * cycle two levels up), entry 1 to PD 0x3000, whose entries 0 and 1 share
     * one PT 0x4000 (as KASAN's shadow does): sharing is no cycle. */
    clear_guest();
    set_entry(0x1000, 0, 0x2003);
    set_entry(0x2000, 0, 0x1003);
    set_entry(0x2000, 1, 0x3003);
    set_entry(0x3000, 0, 0x4003);
    set_entry(0x3000, 1, 0x4003);
    set_entry(0x4000, 7, 0x9003);
    seen_t s = {0};
    uint64_t skipped = 0;
    CHECK_OK(enumerate(&four_level, 0x1000, 0, record, &s, &skipped));
    CHECK_EQ(skipped, 1);
    CHECK_EQ(s.count, 2);
    CHECK_MAPPING(s.m[0], 0x40000000ull + 7 * 0x1000, 0x9000, 0x1000, VMIC_ACCESS_RWX, false,
                  false);
    CHECK_MAPPING(s.m[1], 0x40200000ull + 7 * 0x1000, 0x9000, 0x1000, VMIC_ACCESS_RWX, false,
                  false);
}

/* Four tables, each entry pointing to the next: no cycle, but 512^4 leaves,
 * all mapping pa 0x5000. */
static void build_acyclic_aliases(void)
{
    clear_guest();
    for (unsigned i = 0; i < 512; i++) {
        set_entry(0x1000, i, 0x2003);
        set_entry(0x2000, i, 0x3003);
        set_entry(0x3000, i, 0x4003);
        set_entry(0x4000, i, 0x5003);
    }
}

static void test_max_leaves_acyclic_aliases(void)
{
    build_acyclic_aliases();
    seen_t s = {0};
    CHECK_ERR(enumerate(&four_level, 0x1000, 1000, record, &s, NULL), VMIC_E_RANGE);
    CHECK_ERRMSG("page tables under root 0x1000: more than 1000");
    CHECK_EQ(s.count, 1000);
    /* The first leaves are PT entries 0, 1, ... of the first PT. */
    CHECK_MAPPING(s.m[0], 0x0, 0x5000, 0x1000, VMIC_ACCESS_RWX, false, false);
    CHECK_MAPPING(s.m[1], 0x1000, 0x5000, 0x1000, VMIC_ACCESS_RWX, false, false);

    /* Exactly max_leaves mappings is not over the limit. */
    clear_guest();
    set_entry(0x1000, 0, 0x2003);
    set_entry(0x2000, 0, 0x3003);
    set_entry(0x3000, 0, 0x4003);
    set_entry(0x4000, 0, 0x5003);
    set_entry(0x4000, 1, 0x6003);
    memset(&s, 0, sizeof s);
    CHECK_OK(enumerate(&four_level, 0x1000, 2, record, &s, NULL));
    CHECK_EQ(s.count, 2);
}

static void test_default_limit_acyclic_aliases(void)
{
    /* max_leaves 0 means 1 << 26: the enumeration ends by itself. */
    build_acyclic_aliases();
    seen_t s = {0};
    CHECK_ERR(enumerate(&four_level, 0x1000, 0, record, &s, NULL), VMIC_E_RANGE);
    CHECK_EQ(s.count, 1ull << 26);
}

static void test_aliased_tables_without_leaves(void)
{
    /* 0x1000 -> 512 x 0x2000 -> 512 x 0x3000 -> 512 x empty PT 0x4000:
     * no leaf at all, but 1 + 512 + 512^2 + 512^3 tables to read. Table
     * reads have their own bound (2^20), whatever max_leaves says. */
    clear_guest();
    for (unsigned i = 0; i < 512; i++) {
        set_entry(0x1000, i, 0x2003);
        set_entry(0x2000, i, 0x3003);
        set_entry(0x3000, i, 0x4003);
    }
    seen_t s = {0};
    CHECK_ERR(enumerate(&four_level, 0x1000, 1000, record, &s, NULL), VMIC_E_RANGE);
    CHECK_ERRMSG("more than 1048576 tables");
    CHECK_EQ(s.count, 0);
}

static void test_bad_arguments(void)
{
    CHECK_ERR(vmic_amd64_mappings(&four_level, vmic_pa(0x1000), read_guest_table, NULL, 0,
                                  NULL, NULL, NULL),
              VMIC_E_INVAL);
    CHECK_ERRMSG("callback");
}

int main(void)
{
    RUN(test_order_and_attributes);
    RUN(test_5level_sign_extension);
    RUN(test_coalescing_pa_contiguous);
    RUN(test_coalescing_by_va_only);
    RUN(test_merger_attributes_and_stop);
    RUN(test_merger_stop_ends_enumeration);
    RUN(test_skipped);
    RUN(test_root_outside_memory);
    RUN(test_early_stop);
    RUN(test_self_reference_is_a_cycle);
    RUN(test_cycle_to_grandparent_and_shared_table);
    RUN(test_max_leaves_acyclic_aliases);
    RUN(test_default_limit_acyclic_aliases);
    RUN(test_aliased_tables_without_leaves);
    RUN(test_bad_arguments);
    return HARNESS_RESULT();
}
