/*
 * The core over the in-memory backend: reads across pages and regions,
 * bounded strings, the translation cache and the page cache, and the
 * invalidation a write through vmic must cause. Page tables are built by hand
 * here; expected values are computed by the test, not by the code under test.
 */
#include <vmic/vmic.h>

#include "harness.h"
#include "vmic_mem.h"

#define MIB (1024ull * 1024)

/* A 4-level layout in 16 MiB of guest memory:
 *   PML4 at 0x1000, PDPT at 0x2000, PD at 0x3000, PT at 0x4000
 *   va 0x0000400000 -> PT -> 4 KiB pages at pa 0x100000 + i * 0x1000
 *   va 0x40000000 (PDPT[1]) -> 1 GiB page? no: too big; PD[2] 2 MiB page at pa 0x800000 */
#define PML4 0x1000
#define PDPT 0x2000
#define PD 0x3000
#define PT 0x4000
#define VA_4K 0x400000ull     /* PD[2] -> PT */
#define VA_2M 0x600000ull     /* PD[3] -> 2 MiB page at 0x800000 */

static vmic_cache_stats_t stats_of(vmic_core *core)
{
    vmic_cache_stats_t st;
    vmic_cache_stats(core, &st);
    return st;
}

static void put64(uint8_t *mem, uint64_t pa, uint64_t v)
{
    memcpy(mem + pa, &v, 8);
}

static void build_tables(uint8_t *mem)
{
    const uint64_t p = VMIC_PTE_P | VMIC_PTE_RW;
    put64(mem, PML4 + 0 * 8, PDPT | p);
    put64(mem, PDPT + 0 * 8, PD | p);
    put64(mem, PD + 2 * 8, PT | p);
    put64(mem, PD + 3 * 8, 0x800000 | p | VMIC_PTE_PS);
    for (int i = 0; i < 16; i++)
        put64(mem, PT + 8u * i, (0x100000 + 0x1000ull * i) | p);
}

static vmic_core *open_core(vmic_mem_options_t opt, size_t cache_pages, size_t tlb)
{
    vmic_driver *drv;
    vmic_core *core;
    if (vmic_mem_open(&opt, &drv) != VMIC_OK)
        return NULL;
    build_tables(vmic_mem_bytes(drv));
    vmic_core_config_t cfg = {.page_cache_pages = cache_pages, .tlb_entries = tlb};
    if (vmic_core_open(drv, &cfg, &core) != VMIC_OK)
        return NULL;
    return core;
}

static void test_translate_and_tlb(void)
{
    vmic_core *core = open_core((vmic_mem_options_t){.size = 16 * MIB}, 16, 64);
    CHECK(core);
    vmic_ctx_t ctx = vmic_ctx(vmic_pa(PML4));
    vmic_pa_t pa;

    CHECK_OK(vmic_translate(core, ctx, vmic_va(VA_4K + 0x3123), &pa));
    CHECK_EQ(pa.addr, 0x103123);
    CHECK_OK(vmic_translate(core, ctx, vmic_va(VA_2M + 0x12345), &pa));
    CHECK_EQ(pa.addr, 0x812345);
    vmic_cache_stats_t st;
    vmic_cache_stats(core, &st);
    CHECK_EQ(st.tlb_misses, 2);
    CHECK_EQ(st.tlb_hits, 0);

    CHECK_OK(vmic_translate(core, ctx, vmic_va(VA_4K + 0x3fff), &pa));
    CHECK_EQ(pa.addr, 0x103fff);
    vmic_cache_stats(core, &st);
    CHECK_EQ(st.tlb_hits, 1);

    /* Another page of the same 2 MiB page is its own 4 KiB TLB entry. */
    CHECK_OK(vmic_translate(core, ctx, vmic_va(VA_2M + 0x1ff000), &pa));
    CHECK_EQ(pa.addr, 0x9ff000);
    CHECK_EQ(stats_of(core).tlb_misses, 3);

    /* The same va through a root with different contents is not confused. */
    CHECK_ERR(vmic_translate(core, vmic_ctx(vmic_pa(0x5000)), vmic_va(VA_4K), &pa),
              VMIC_E_TRANSLATE);
    CHECK_ERRMSG("not present");
    vmic_core_close(core);
}

static void test_write_to_page_table_invalidates(void)
{
    vmic_core *core = open_core((vmic_mem_options_t){.size = 16 * MIB}, 16, 64);
    CHECK(core);
    vmic_ctx_t ctx = vmic_ctx(vmic_pa(PML4));
    vmic_pa_t pa;

    CHECK_OK(vmic_translate(core, ctx, vmic_va(VA_4K + 0x5000), &pa));
    CHECK_EQ(pa.addr, 0x105000);

    /* Remap PT[5] to 0xabc000 through vmic: the cached translation must go. */
    uint64_t pte = 0xabc000 | VMIC_PTE_P;
    CHECK_OK(vmic_write_pa(core, vmic_pa(PT + 5 * 8), &pte, sizeof pte));
    CHECK_OK(vmic_translate(core, ctx, vmic_va(VA_4K + 0x5010), &pa));
    CHECK_EQ(pa.addr, 0xabc010);
    CHECK(stats_of(core).tlb_flushes >= 1);

    /* A write elsewhere (a data page) keeps the cache. */
    uint64_t flushes = stats_of(core).tlb_flushes;
    uint32_t word = 0x11223344;
    CHECK_OK(vmic_write_pa(core, vmic_pa(0xabc010), &word, sizeof word));
    CHECK_EQ(stats_of(core).tlb_flushes, flushes);

    /* And the data reads back by va. */
    uint32_t back;
    CHECK_OK(vmic_read_u32_va(core, ctx, vmic_va(VA_4K + 0x5010), &back));
    CHECK_EQ(back, 0x11223344);

    /* Unmap by va write: clearing the PTE makes the va fault. */
    uint64_t zero = 0;
    CHECK_OK(vmic_write_pa(core, vmic_pa(PT + 5 * 8), &zero, sizeof zero));
    CHECK_ERR(vmic_translate(core, ctx, vmic_va(VA_4K + 0x5000), &pa), VMIC_E_TRANSLATE);
    vmic_core_close(core);
}

static void test_read_across_pages(void)
{
    vmic_core *core = open_core((vmic_mem_options_t){.size = 16 * MIB}, 16, 64);
    CHECK(core);
    vmic_ctx_t ctx = vmic_ctx(vmic_pa(PML4));
    uint8_t *mem = vmic_mem_bytes(vmic_core_driver(core));

    /* Pages 0 and 1 of VA_4K are physically contiguous; make page 2 go
     * elsewhere so a read across the boundary must translate twice. */
    put64(mem, PT + 2 * 8, 0x700000 | VMIC_PTE_P);
    memcpy(mem + 0x101ffc, "ABCD", 4);
    memcpy(mem + 0x700000, "EFGH", 4);
    char buf[9] = {0};
    CHECK_OK(vmic_read_va(core, ctx, vmic_va(VA_4K + 0x1ffc), buf, 8));
    CHECK_STR(buf, "ABCDEFGH");

    /* A read running into an unmapped page fails and names the address. */
    CHECK_ERR(vmic_read_va(core, ctx, vmic_va(VA_4K + 0xfffc), buf, 8), VMIC_E_TRANSLATE);
    CHECK_ERRMSG("0000410000: not present at PT");
    vmic_core_close(core);
}

static void test_strings(void)
{
    vmic_core *core = open_core((vmic_mem_options_t){.size = 16 * MIB}, 16, 64);
    CHECK(core);
    vmic_ctx_t ctx = vmic_ctx(vmic_pa(PML4));
    uint8_t *mem = vmic_mem_bytes(vmic_core_driver(core));
    char buf[64];
    size_t len;

    /* A string crossing from va page 0 to page 1. */
    memcpy(mem + 0x100ffa, "hello, ", 6);
    memcpy(mem + 0x101000, "world", 6);
    CHECK_OK(vmic_read_str_va(core, ctx, vmic_va(VA_4K + 0xffa), buf, 63, &len));
    CHECK_STR(buf, "hello,world");
    CHECK_EQ(len, 11);

    /* The bound is honoured and reported. */
    CHECK_ERR(vmic_read_str_va(core, ctx, vmic_va(VA_4K + 0xffa), buf, 4, &len), VMIC_E_RANGE);
    CHECK_STR(buf, "hell");
    CHECK_EQ(len, 4);

    /* A string that never ends before unmapped memory: translate error. */
    memset(mem + 0x10f000, 'x', 0x1000);
    CHECK_ERR(vmic_read_str_va(core, ctx, vmic_va(VA_4K + 0xf000), buf, 63, &len), VMIC_E_RANGE);
    memset(buf, 0, sizeof buf);
    char big[0x2000];
    CHECK_ERR(vmic_read_str_va(core, ctx, vmic_va(VA_4K + 0xf000), big, sizeof big - 1, &len),
              VMIC_E_TRANSLATE);
    CHECK_EQ(len, 0x1000);

    /* Physical strings. */
    memcpy(mem + 0x200000, "phys", 5);
    CHECK_OK(vmic_read_str_pa(core, vmic_pa(0x200000), buf, 63, &len));
    CHECK_STR(buf, "phys");
    vmic_core_close(core);
}

static void test_page_cache_copies(void)
{
    vmic_core *core = open_core((vmic_mem_options_t){.size = 16 * MIB, .copy_only = true}, 8, 64);
    CHECK(core);
    vmic_driver *drv = vmic_core_driver(core);
    vmic_ctx_t ctx = vmic_ctx(vmic_pa(PML4));
    uint8_t *mem = vmic_mem_bytes(drv);
    uint64_t v;

    put64(mem, 0x102008, 0x1122334455667788ull);
    CHECK_OK(vmic_read_u64_va(core, ctx, vmic_va(VA_4K + 0x2008), &v));
    CHECK_EQ(v, 0x1122334455667788ull);
    /* Four table pages and one data page were fetched. */
    CHECK_EQ(vmic_mem_stats(drv).reads, 5);

    /* The same read is served entirely from caches. */
    CHECK_OK(vmic_read_u64_va(core, ctx, vmic_va(VA_4K + 0x2008), &v));
    CHECK_EQ(vmic_mem_stats(drv).reads, 5);

    /* A change behind vmic's back is not seen until a flush ... */
    put64(mem, 0x102008, 42);
    CHECK_OK(vmic_read_u64_va(core, ctx, vmic_va(VA_4K + 0x2008), &v));
    CHECK_EQ(v, 0x1122334455667788ull);
    vmic_flush_page_cache(core);
    CHECK_OK(vmic_read_u64_va(core, ctx, vmic_va(VA_4K + 0x2008), &v));
    CHECK_EQ(v, 42);

    /* ... but a write through vmic is seen at once. */
    uint64_t w = 7;
    CHECK_OK(vmic_write_va(core, ctx, vmic_va(VA_4K + 0x2008), &w, sizeof w));
    CHECK_OK(vmic_read_u64_va(core, ctx, vmic_va(VA_4K + 0x2008), &v));
    CHECK_EQ(v, 7);
    CHECK_EQ(mem[0x102008], 7);

    /* More pages than the cache holds: evictions, still correct bytes. */
    for (int round = 0; round < 2; round++)
        for (uint64_t i = 0; i < 64; i++) {
            uint64_t pa = 0x900000 + i * 0x1000;
            uint32_t x;
            if (round == 0)
                memcpy(mem + pa, &i, 4);
            CHECK_OK(vmic_read_u32_pa(core, vmic_pa(pa), &x));
            CHECK_EQ(x, i);
        }
    CHECK(stats_of(core).page_evictions > 0);
    vmic_core_close(core);
}

static void test_page_cache_mapped_pages(void)
{
    vmic_core *core = open_core((vmic_mem_options_t){.size = 16 * MIB, .map_pages = true}, 4, 64);
    CHECK(core);
    vmic_driver *drv = vmic_core_driver(core);
    uint32_t x;

    for (uint64_t i = 0; i < 32; i++)
        CHECK_OK(vmic_read_u32_pa(core, vmic_pa(0x900000 + i * 0x1000), &x));
    vmic_mem_stats_t st = vmic_mem_stats(drv);
    CHECK_EQ(st.maps, 32);
    CHECK_EQ(st.reads, 0);
    /* Every mapping beyond the cache's capacity was released. */
    CHECK_EQ(st.unmaps, 32 - 4);
    vmic_core_close(core);
}

static void test_errors(void)
{
    vmic_core *core = open_core((vmic_mem_options_t){.size = 16 * MIB}, 8, 64);
    CHECK(core);
    uint8_t b[16];

    CHECK_ERR(vmic_read_pa(core, vmic_pa(16 * MIB - 8), b, 16), VMIC_E_UNMAPPED);
    CHECK_ERRMSG("0x1000000");
    CHECK_ERR(vmic_get_regs(core, 3, &(vmic_amd64_regs_t){0}), VMIC_E_INVAL);
    CHECK_ERR(vmic_pause(core), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("not supported by the mem driver");
    vmic_core_close(core);
}

static void test_paging_from_vcpu0(void)
{
    vmic_mem_options_t opt = {.size = 4 * MIB, .vcpus = 1};
    vmic_driver *drv;
    vmic_core *core;
    CHECK_OK(vmic_mem_open(&opt, &drv));
    vmic_amd64_regs_t r = {.valid = VMIC_REGS_CR | VMIC_REGS_EFER,
                           .cr0 = VMIC_CR0_PG | 1, .cr4 = VMIC_CR4_PAE | VMIC_CR4_LA57,
                           .efer = VMIC_EFER_LMA | VMIC_EFER_NXE | (1 << 8)};
    CHECK_OK(vmic_mem_set_regs(drv, 0, &r));
    CHECK_OK(vmic_core_open(drv, NULL, &core));
    CHECK_EQ(vmic_core_paging(core).mode, VMIC_PAGING_5LEVEL);
    CHECK(vmic_core_paging(core).nxe);
    vmic_core_close(core);
}

int main(void)
{
    RUN(test_translate_and_tlb);
    RUN(test_write_to_page_table_invalidates);
    RUN(test_read_across_pages);
    RUN(test_strings);
    RUN(test_page_cache_copies);
    RUN(test_page_cache_mapped_pages);
    RUN(test_errors);
    RUN(test_paging_from_vcpu0);
    return HARNESS_RESULT();
}
