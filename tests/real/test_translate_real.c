/*
 * Translation on dumps of a real Linux guest, checked against what the guest
 * said about itself: /proc/kallsyms (virtual addresses of kernel symbols),
 * /proc/iomem (where the kernel image and RAM sit physically) and
 * /proc/version (the banner's text). The kernel is KASLR-randomised both
 * virtually and physically, so none of the expected values are constants.
 *
 *   test_translate_real FIXTURE_DIR
 */
#include <vmic/vmic.h>

#include "harness.h"
#include "truth.h"

static const char *dir;
static truth_sym *syms;
static size_t nsyms;
static truth_range *iomem;
static size_t niomem;
static uint64_t cr3;
static bool la57; /* the guest's /proc/cpuinfo lists la57: 5-level paging */

static vmic_core *open_dump(const char *file, vmic_dump_format fmt)
{
    char path[4096];
    vmic_driver *drv;
    vmic_core *core;
    fixture_path(path, sizeof path, dir, file);
    if (vmic_dump_open(path, fmt, &drv) != VMIC_OK) {
        fprintf(stderr, "  cannot open %s: %s\n", path, vmic_errmsg());
        return NULL;
    }
    if (vmic_core_open(drv, NULL, &core) != VMIC_OK)
        return NULL;
    return core;
}

static uint64_t sym(const char *name)
{
    const truth_sym *s = truth_find_sym(syms, nsyms, name);
    return s ? s->addr : 0;
}

static void test_registers_give_kernel_root(void)
{
    vmic_core *core = open_dump("dump.elf", VMIC_DUMP_ELF);
    CHECK(core);
    vmic_amd64_regs_t r;
    CHECK_OK(vmic_get_regs(core, 0, &r));
    CHECK(r.valid & VMIC_REGS_CR);
    CHECK(r.cr0 & VMIC_CR0_PG);
    cr3 = r.cr3;
    CHECK_EQ(vmic_core_paging(core).mode, la57 ? VMIC_PAGING_5LEVEL : VMIC_PAGING_4LEVEL);
    vmic_core_close(core);
}

/* Kernel image symbols map to the physical kernel image at one offset. */
static void check_image_symbols(vmic_core *core)
{
    vmic_ctx_t ctx = vmic_ctx(vmic_pa(cr3));
    const truth_range *code = truth_find_range(iomem, niomem, "Kernel code");
    const truth_range *rodata = truth_find_range(iomem, niomem, "Kernel rodata");
    const truth_range *data = truth_find_range(iomem, niomem, "Kernel data");
    const truth_range *bss = truth_find_range(iomem, niomem, "Kernel bss");
    CHECK(code && rodata && data && bss);

    uint64_t text = sym("_text"), end = sym("_end");
    CHECK(text && end > text);
    vmic_pa_t pa;
    CHECK_OK(vmic_translate(core, ctx, vmic_va(text), &pa));
    CHECK_EQ(pa.addr, code->start);
    CHECK_OK(vmic_translate(core, ctx, vmic_va(sym("__start_rodata")), &pa));
    CHECK_EQ(pa.addr, rodata->start);
    CHECK_OK(vmic_translate(core, ctx, vmic_va(sym("_sdata")), &pa));
    CHECK_EQ(pa.addr, data->start);
    CHECK_OK(vmic_translate(core, ctx, vmic_va(sym("__bss_start")), &pa));
    CHECK_EQ(pa.addr, bss->start);

    /* Every symbol of the image: translated ones must agree exactly; the
     * freed init sections and alignment gaps may be unmapped. */
    size_t in_image = 0, translated = 0, wrong = 0;
    for (size_t i = 0; i < nsyms; i++) {
        const truth_sym *s = &syms[i];
        if (s->module || s->addr < text || s->addr >= end)
            continue;
        in_image++;
        if (vmic_translate(core, ctx, vmic_va(s->addr), &pa) != VMIC_OK)
            continue;
        translated++;
        if (pa.addr != code->start + (s->addr - text)) {
            if (wrong++ < 5)
                fprintf(stderr, "  %s at 0x%lx -> pa 0x%lx, expected 0x%lx\n", s->name, s->addr,
                        pa.addr, code->start + (s->addr - text));
        }
    }
    fprintf(stderr, "  %zu image symbols, %zu translated, %zu wrong\n", in_image, translated,
            wrong);
    CHECK(in_image > 50000);
    CHECK_EQ(wrong, 0);
    /* Under PTI the freed gaps of the image are unmapped as well (the
     * kernel's free_kernel_image_pages): 93% of the symbols remain on 6.12. */
    CHECK(translated * 100 >= in_image * (truth_cpu_flag(dir, "pti") ? 90 : 95));

    const char *must[] = {"init_task", "linux_banner", "page_offset_base", "jiffies_64",
                          "init_top_pgt", "schedule", "do_sys_openat2"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        CHECK_MSG(sym(must[i]) && vmic_translate(core, ctx, vmic_va(sym(must[i])), &pa) == VMIC_OK,
                  "%s does not translate: %s", must[i], vmic_errmsg());
}

static void check_banner(vmic_core *core)
{
    vmic_ctx_t ctx = vmic_ctx(vmic_pa(cr3));
    char banner[512], version[512];
    size_t len;

    CHECK(truth_line(dir, "version.txt", version, sizeof version));
    CHECK_OK(vmic_read_str_va(core, ctx, vmic_va(sym("linux_banner")), banner, sizeof banner - 1,
                              &len));
    banner[strcspn(banner, "\n")] = '\0';
    CHECK_STR(banner, version);
}

/* The direct map: page_offset_base + pa -> pa for every page of RAM. */
static void check_direct_map(vmic_core *core)
{
    vmic_ctx_t ctx = vmic_ctx(vmic_pa(cr3));
    uint64_t base;
    CHECK_OK(vmic_read_u64_va(core, ctx, vmic_va(sym("page_offset_base")), &base));
    CHECK_MSG(base >= (la57 ? 0xff00000000000000ull : 0xffff800000000000ull) &&
                  (base & 0x3fffffff) == 0,
              "page_offset_base 0x%lx is not a 1 GiB-aligned kernel address", base);

    size_t pages = 0;
    for (size_t i = 0; i < niomem; i++) {
        const truth_range *r = &iomem[i];
        if (r->depth != 0 || strcmp(r->name, "System RAM") != 0)
            continue;
        for (uint64_t p = (r->start + 0xfff) & ~0xfffull; p + 0xfff <= r->end; p += 0x1000) {
            vmic_pa_t pa;
            CHECK_OK(vmic_translate(core, ctx, vmic_va(base + p + 0x123), &pa));
            CHECK_EQ(pa.addr, p + 0x123);
            pages++;
        }
    }
    fprintf(stderr, "  direct map checked for %zu pages of System RAM\n", pages);
    CHECK(pages > 60000);
}

static void check_errors(vmic_core *core)
{
    vmic_ctx_t ctx = vmic_ctx(vmic_pa(cr3));
    vmic_translation_t t;

    /* The first non-canonical address of the lower half. */
    uint64_t hole = la57 ? 0x0100000000000000ull : 0x0000800000000000ull;
    CHECK_ERR(vmic_translate_walk(core, ctx, vmic_va(hole), &t), VMIC_E_TRANSLATE);
    CHECK_EQ(t.fault, VMIC_WALK_NONCANONICAL);
    CHECK_ERRMSG("non-canonical");
    /* The guest's null page is never mapped. */
    CHECK_ERR(vmic_translate_walk(core, ctx, vmic_va(0), &t), VMIC_E_TRANSLATE);
    CHECK_EQ(t.fault, VMIC_WALK_NOT_PRESENT);
    CHECK_ERRMSG("not present");
}

static void test_elf(void)
{
    vmic_core *core = open_dump("dump.elf", VMIC_DUMP_ELF);
    CHECK(core);
    check_image_symbols(core);
    check_banner(core);
    check_direct_map(core);
    check_errors(core);
    vmic_core_close(core);
}

static void test_raw(void)
{
    vmic_core *core = open_dump("dump.raw", VMIC_DUMP_RAW);
    CHECK(core);
    /* A raw dump has no CR4: the paging mode is the caller's to give. */
    vmic_paging_t pg = vmic_core_paging(core);
    pg.mode = la57 ? VMIC_PAGING_5LEVEL : VMIC_PAGING_4LEVEL;
    vmic_core_set_paging(core, &pg);
    check_image_symbols(core);
    check_banner(core);
    check_direct_map(core);
    vmic_core_close(core);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !fixture_present(argv[1])) {
        fprintf(stderr, "skip: no fixture at %s (scripts/make-fixture.sh makes it)\n",
                argc < 2 ? "(none given)" : argv[1]);
        return TEST_SKIP;
    }
    dir = argv[1];
    syms = truth_kallsyms(dir, &nsyms);
    iomem = truth_iomem(dir, &niomem);
    la57 = truth_cpu_flag(dir, "la57");
    if (nsyms < 1000 || niomem < 3) {
        fprintf(stderr, "fixture %s has no usable kallsyms/iomem truth\n", dir);
        return 1;
    }
    RUN(test_registers_give_kernel_root);
    RUN(test_elf);
    RUN(test_raw);
    free(syms);
    free(iomem);
    return HARNESS_RESULT();
}
