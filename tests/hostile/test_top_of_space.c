/*
 * Dumps at the top of the 64-bit physical space, and reads that would run
 * past 2^64 - 1: no range may end at 2^64 (its end is not a number), no loop
 * may wrap from the top page back to address 0, and ranges that share a page
 * with a hole between them are refused. The expected values are the bytes
 * this test wrote and addresses worked out by hand.
 */
#include <vmic/vmic.h>

#include "harness.h"
#include "vmic_mem.h"

#define TOP_PAGE 0xfffffffffffff000ull
#define LIME_HEADER 32u

typedef struct lime_range {
    uint64_t start, last;   /* inclusive, as LiME writes them */
} lime_range_t;

/* Byte i of a range starting at pa holds pattern(pa + i): each page is
 * recognisable, and page 0 differs from the top page. */
static uint8_t pattern(uint64_t pa)
{
    return (uint8_t)((pa >> 12) * 7 + (pa & 0xff) + 1);
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

/* A LiME image of the ranges, each filled with the pattern. The caller frees. */
static uint8_t *build_lime(const lime_range_t *ranges, int n, size_t *size)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += LIME_HEADER + (size_t)(ranges[i].last - ranges[i].start + 1);
    uint8_t *img = calloc(1, total), *p = img;
    for (int i = 0; img && i < n; i++) {
        put32(p, 0x4C694D45u);
        put32(p + 4, 1);
        put64(p + 8, ranges[i].start);
        put64(p + 16, ranges[i].last);
        p += LIME_HEADER;
        for (uint64_t pa = ranges[i].start;; pa++) {
            *p++ = pattern(pa);
            if (pa == ranges[i].last)
                break;
        }
    }
    *size = total;
    return img;
}

/* An ELF core with one PT_LOAD of `size` bytes at paddr. The caller frees. */
static uint8_t *build_elf(uint64_t paddr, uint64_t size, size_t *total)
{
    const size_t data = 0x1000;
    uint8_t *img = calloc(1, data + size);
    if (!img)
        return NULL;
    memcpy(img, "\x7f" "ELF", 4);
    img[4] = 2;   /* ELFCLASS64 */
    img[5] = 1;   /* little-endian */
    img[6] = 1;
    img[16] = 4;  /* ET_CORE */
    img[18] = 62; /* EM_X86_64 */
    put64(img + 32, 64);        /* e_phoff */
    img[54] = 56;               /* e_phentsize */
    img[56] = 1;                /* e_phnum */
    uint8_t *ph = img + 64;
    put32(ph, 1);               /* PT_LOAD */
    put64(ph + 8, data);        /* p_offset */
    put64(ph + 24, paddr);
    put64(ph + 32, size);       /* p_filesz */
    put64(ph + 40, size);       /* p_memsz */
    for (uint64_t i = 0; i < size; i++)
        img[data + i] = pattern(paddr + i);
    *total = data + size;
    return img;
}

static vmic_core *open_core(const uint8_t *img, size_t size)
{
    vmic_driver *drv;
    vmic_core *core;
    if (vmic_dump_open_buffer(img, size, VMIC_DUMP_AUTO, "top.dump", &drv) != VMIC_OK)
        return NULL;
    if (vmic_core_open(drv, NULL, &core) != VMIC_OK)
        return NULL;
    return core;
}

/* The reproducer: the last range ends at 0xfffffffffffff000. */
static void test_lime_last_range_ends_below_top_page(void)
{
    static const lime_range_t ranges[] = {{0x0, 0xfff}, {TOP_PAGE - 0x1000, TOP_PAGE - 1}};
    size_t size;
    uint8_t *img = build_lime(ranges, 2, &size);
    vmic_core *core = open_core(img, size);
    CHECK_MSG(core, "open: %s", vmic_errmsg());

    const vmic_driver_info_t *info = vmic_core_info(core);
    CHECK_EQ(info->max_pa.addr, TOP_PAGE);
    CHECK_EQ(info->mem_size, 0x2000);

    uint8_t buf[16];
    CHECK_OK(vmic_read_pa(core, vmic_pa(TOP_PAGE - 0x10), buf, sizeof buf));
    CHECK_EQ(buf[15], pattern(TOP_PAGE - 1));
    /* One byte past the end is a hole, not page 0 again. */
    CHECK_ERR(vmic_read_pa(core, vmic_pa(TOP_PAGE - 8), buf, sizeof buf), VMIC_E_UNMAPPED);
    CHECK_ERRMSG("0xfffffffffffff000");
    vmic_core_close(core);
    free(img);
}

/* [s, 0xffffffffffffffff] inclusive ends at 2^64: refused, so max_pa can
 * never wrap to 0. */
static void test_lime_range_ending_at_2_64_refused(void)
{
    static const lime_range_t ranges[] = {{0x0, 0xfff}, {TOP_PAGE, UINT64_MAX}};
    size_t size;
    uint8_t *img = build_lime(ranges, 2, &size);
    vmic_driver *drv;
    CHECK_ERR(vmic_dump_open_buffer(img, size, VMIC_DUMP_AUTO, "top.dump", &drv),
              VMIC_E_FORMAT);
    CHECK_ERRMSG("LiME header 1 at offset 0x1020");
    CHECK_ERRMSG("ends at 2^64");
    free(img);
}

/* One byte short of 2^64 is fine: max_pa is 2^64 - 1, and a read that
 * would cross it fails instead of wrapping to pa 0. */
static void test_lime_range_ending_one_below_2_64(void)
{
    static const lime_range_t ranges[] = {{0x0, 0xfff}, {TOP_PAGE, UINT64_MAX - 1}};
    size_t size;
    uint8_t *img = build_lime(ranges, 2, &size);
    vmic_core *core = open_core(img, size);
    CHECK_MSG(core, "open: %s", vmic_errmsg());
    CHECK_EQ(vmic_core_info(core)->max_pa.addr, UINT64_MAX);

    uint8_t b;
    CHECK_OK(vmic_read_u8_pa(core, vmic_pa(UINT64_MAX - 1), &b));
    CHECK_EQ(b, pattern(UINT64_MAX - 1));
    uint8_t two[2];
    CHECK_ERR(vmic_read_pa(core, vmic_pa(UINT64_MAX), two, 2), VMIC_E_RANGE);
    CHECK_ERRMSG("past the top of the physical address space");
    CHECK_ERR(vmic_read_pa(core, vmic_pa(UINT64_MAX - 1), two, 2), VMIC_E_UNMAPPED);

    /* A string that runs into the top stops there, without a wrap to pa 0
     * (whose first byte is not NUL either). */
    char str[64];
    size_t len = 99;
    vmic_status s = vmic_read_str_pa(core, vmic_pa(UINT64_MAX - 1), str, 32, &len);
    CHECK(s != VMIC_OK);
    CHECK(len <= 1);
    vmic_core_close(core);
    free(img);
}

static void test_elf_at_top(void)
{
    size_t size;
    uint8_t *img = build_elf(TOP_PAGE, 0x1000, &size);
    vmic_driver *drv;
    CHECK_ERR(vmic_dump_open_buffer(img, size, VMIC_DUMP_AUTO, "top.elf", &drv), VMIC_E_FORMAT);
    CHECK_ERRMSG("ends at or past 2^64");
    free(img);

    img = build_elf(TOP_PAGE - 0x1000, 0x1000, &size);
    vmic_core *core = open_core(img, size);
    CHECK_MSG(core, "open: %s", vmic_errmsg());
    CHECK_EQ(vmic_core_info(core)->max_pa.addr, TOP_PAGE);
    uint64_t v, want = 0;
    for (int i = 7; i >= 0; i--)
        want = want << 8 | pattern(TOP_PAGE - 8 + (uint64_t)i);
    CHECK_OK(vmic_read_u64_pa(core, vmic_pa(TOP_PAGE - 8), &v));
    CHECK_EQ(v, want);
    vmic_core_close(core);
    free(img);
}

/* [0x0,0x800) and [0xc00,0x1000) do not overlap byte for byte, but rounded
 * to pages they are the same page, with a hole inside. */
static void test_ranges_overlapping_once_rounded(void)
{
    static const lime_range_t holed[] = {{0x0, 0x7ff}, {0xc00, 0xfff}};
    size_t size;
    uint8_t *img = build_lime(holed, 2, &size);
    vmic_driver *drv;
    CHECK_ERR(vmic_dump_open_buffer(img, size, VMIC_DUMP_AUTO, "holed.dump", &drv),
              VMIC_E_FORMAT);
    CHECK_ERRMSG("shares page 0x0");
    CHECK_ERRMSG("overlap once rounded to pages");
    free(img);

    /* Two halves that continue each other are one page, read across both. */
    static const lime_range_t halves[] = {{0x0, 0x7ff}, {0x800, 0xfff}};
    img = build_lime(halves, 2, &size);
    vmic_core *core = open_core(img, size);
    CHECK_MSG(core, "open: %s", vmic_errmsg());
    uint8_t page[0x1000];
    CHECK_OK(vmic_read_pa(core, vmic_pa(0), page, sizeof page));
    CHECK_EQ(page[0x7ff], pattern(0x7ff));
    CHECK_EQ(page[0x800], pattern(0x800));
    vmic_core_close(core);
    free(img);
}

/* Virtual reads: va 0xfffffffffffff000 and va 0 both mapped, to different
 * pages; a read across the top must fail, not continue at va 0. */
static void test_va_read_across_the_top(void)
{
    vmic_mem_options_t opt = {.size = 0x100000};
    vmic_driver *drv;
    vmic_core *core;
    CHECK_OK(vmic_mem_open(&opt, &drv));
    uint8_t *mem = vmic_mem_bytes(drv);
    const uint64_t p = VMIC_PTE_P | VMIC_PTE_RW;
    /* PML4 0x1000 [511] -> PDPT 0x2000 [511] -> PD 0x3000 [511] -> PT 0x4000
     * [511] -> pa 0x10000; and [0] of each -> tables 0x5000.. -> pa 0x20000. */
    put64(mem + 0x1000 + 511 * 8, 0x2000 | p);
    put64(mem + 0x2000 + 511 * 8, 0x3000 | p);
    put64(mem + 0x3000 + 511 * 8, 0x4000 | p);
    put64(mem + 0x4000 + 511 * 8, 0x10000 | p);
    put64(mem + 0x1000, 0x5000 | p);
    put64(mem + 0x5000, 0x6000 | p);
    put64(mem + 0x6000, 0x7000 | p);
    put64(mem + 0x7000, 0x20000 | p);
    memset(mem + 0x10000, 'T', 0x1000);
    memset(mem + 0x20000, 'Z', 0x1000);
    CHECK_OK(vmic_core_open(drv, NULL, &core));
    vmic_ctx_t ctx = vmic_ctx(vmic_pa(0x1000));

    char buf[16];
    CHECK_OK(vmic_read_va(core, ctx, vmic_va(UINT64_MAX - 7), buf, 8));
    CHECK_EQ(buf[7], 'T');
    CHECK_OK(vmic_read_va(core, ctx, vmic_va(0), buf, 1));
    CHECK_EQ(buf[0], 'Z');
    CHECK_ERR(vmic_read_va(core, ctx, vmic_va(UINT64_MAX - 7), buf, 16), VMIC_E_RANGE);
    CHECK_ERRMSG("past the top of the virtual address space");

    /* A string of 'T's up to the top ends there: 8 bytes, no 'Z'. */
    char str[64];
    size_t len = 0;
    vmic_status s = vmic_read_str_va(core, ctx, vmic_va(UINT64_MAX - 7), str, 32, &len);
    CHECK(s != VMIC_OK);
    CHECK_EQ(len, 8);
    CHECK(!strchr(str, 'Z'));
    vmic_core_close(core);
}

int main(void)
{
    RUN(test_lime_last_range_ends_below_top_page);
    RUN(test_lime_range_ending_at_2_64_refused);
    RUN(test_lime_range_ending_one_below_2_64);
    RUN(test_elf_at_top);
    RUN(test_ranges_overlapping_once_rounded);
    RUN(test_va_read_across_the_top);
    return HARNESS_RESULT();
}
