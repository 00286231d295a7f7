/*
 * The Linux layer's judgement of kernel addresses and of the paging mode,
 * on hand-built guests: nothing here may follow from 4-level constants.
 *
 * A synthetic kernel image is two 2 MiB pages at 0xffffffff80000000 (text,
 * executable) and 0xffffffff80200000 (rodata: read-only, no-execute), mapped
 * under a PML5 (5-level) or a PML4 (4-level). The root search must find the
 * tables in whichever mode maps the image, on a dump with no registers.
 */
#include <vmic/vmic.h>

#include "harness.h"
#include "vmic_mem.h"
#include "os/linux/os_internal.h"

#define MEM_SIZE (8u << 20)
#define P 0x1ull
#define RW 0x2ull
#define PS 0x80ull
#define NX (1ull << 63)
#define TABLE (P | RW)

static vmic_core *core;

static void put(uint8_t *mem, uint64_t table, unsigned index, uint64_t entry)
{
    memcpy(mem + table + 8ull * index, &entry, 8);
}

/*
 * Tables at fixed pages; va 0xffffffff80000000 has PML5/PML4 index 511,
 * PDPT index 510, PD index 0. The image's pages sit at 2 MiB and 4 MiB.
 * top5: a PML5 at 0x1000 above the PML4 at 0x2000; else the PML4 is the root
 * and no PML5 exists.
 */
static vmic_core *build_guest(bool top5)
{
    vmic_driver *drv;
    vmic_mem_options_t opt = {.size = MEM_SIZE};
    if (vmic_mem_open(&opt, &drv) != VMIC_OK)
        return NULL;
    uint8_t *mem = vmic_mem_bytes(drv);
    if (top5)
        put(mem, 0x1000, 511, 0x2000 | TABLE);
    put(mem, 0x2000, 511, 0x3000 | TABLE);
    put(mem, 0x3000, 510, 0x4000 | TABLE);
    put(mem, 0x4000, 0, 0x200000 | P | PS);      /* text: r-x */
    put(mem, 0x4000, 1, 0x400000 | P | PS | NX); /* rodata: r-- */
    vmic_core *c;
    if (vmic_core_open(drv, NULL, &c) != VMIC_OK)
        return NULL;
    return c;
}

static vmic_os *bare_os(void)
{
    vmic_os *os = calloc(1, sizeof *os);
    if (os)
        os->core = core;
    return os;
}

static void test_kernel_half_follows_the_mode(void)
{
    core = build_guest(false);
    CHECK(core);
    vmic_os *os = bare_os();
    vmic_paging_t pg = vmic_core_paging(core);

    pg.mode = VMIC_PAGING_5LEVEL;
    vmic_core_set_paging(core, &pg);
    lx_layout_init(os);
    /* With no symbols, the defaults of 5-level paging. */
    CHECK_EQ(os->kernel.kernel_half.addr, 0xff00000000000000ull);
    CHECK_EQ(os->kernel.page_offset_base.addr, 0xff11000000000000ull);
    CHECK(lx_kptr(os, 0xff11000012345000ull));  /* the 5-level direct map */
    CHECK(lx_kptr(os, 0xffffffff81000000ull));
    CHECK(!lx_kptr(os, 0xfeffffffffffffffull));
    CHECK(!lx_kptr(os, 0x00007fffdeadb000ull));

    pg.mode = VMIC_PAGING_4LEVEL;
    vmic_core_set_paging(core, &pg);
    lx_layout_init(os);
    CHECK_EQ(os->kernel.kernel_half.addr, 0xffff800000000000ull);
    CHECK_EQ(os->kernel.page_offset_base.addr, 0xffff888000000000ull);
    CHECK(!lx_kptr(os, 0xff11000012345000ull)); /* not canonical with 4 levels */
    CHECK(lx_kptr(os, 0xffff888000001000ull));
    free(os);
    vmic_core_close(core);
}

static void test_search_finds_a_5level_root(void)
{
    core = build_guest(true);
    CHECK(core);
    CHECK_EQ(vmic_core_paging(core).mode, VMIC_PAGING_4LEVEL); /* no registers */
    vmic_os *os = bare_os();
    CHECK_OK(lx_find_kernel(os, 0));
    /* The PML5 comes first in memory and maps the image only as 5 levels. */
    CHECK_EQ(os->kernel.root.addr, 0x1000);
    CHECK_EQ(vmic_core_paging(core).mode, VMIC_PAGING_5LEVEL);
    CHECK_EQ(os->kernel.text.addr, 0xffffffff80000000ull);
    CHECK_EQ(os->kernel.text_pa.addr, 0x200000);
    CHECK_EQ(os->image.nro, 1);
    CHECK_EQ(os->image.ro[0].va, 0xffffffff80200000ull);
    CHECK_EQ(os->image.ro[0].len, 2u << 20);
    free(os);
    vmic_core_close(core);
}

static void test_search_keeps_4level_when_that_maps(void)
{
    core = build_guest(false);
    CHECK(core);
    vmic_os *os = bare_os();
    CHECK_OK(lx_find_kernel(os, 0));
    CHECK_EQ(os->kernel.root.addr, 0x2000);
    CHECK_EQ(vmic_core_paging(core).mode, VMIC_PAGING_4LEVEL);
    free(os);
    vmic_core_close(core);
}

static void test_forced_mode_is_kept(void)
{
    /* Told 4 levels, a guest whose only root is a PML5 has no kernel, and
     * the message says which mode was searched and what to give. */
    core = build_guest(true);
    CHECK(core);
    vmic_os *os = bare_os();
    os->paging_forced = true;
    vmic_status s = lx_find_kernel(os, 0x1000);
    CHECK_ERR(s, VMIC_E_NOTFOUND);
    CHECK_ERRMSG("4-level");
    CHECK_ERRMSG("--paging");
    CHECK_EQ(vmic_core_paging(core).mode, VMIC_PAGING_4LEVEL);
    free(os);
    vmic_core_close(core);
}

int main(void)
{
    RUN(test_kernel_half_follows_the_mode);
    RUN(test_search_finds_a_5level_root);
    RUN(test_search_keeps_4level_when_that_maps);
    RUN(test_forced_mode_is_kept);
    return HARNESS_RESULT();
}
