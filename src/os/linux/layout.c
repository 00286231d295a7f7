/*
 * The guest's paging mode and the kernel address-space layout that follows
 * from it, decided in one place.
 *
 * With 5-level paging (LA57) the kernel half starts at 0xff00000000000000
 * and the direct map moves to 0xff11000000000000; with 4-level it starts at
 * 0xffff800000000000. KASLR moves the direct map, vmalloc and vmemmap bases
 * further (page_offset_base, vmalloc_base, vmemmap_base are variables then),
 * so the kernel's own variables win over the defaults of its mode.
 *
 * A raw dump has no CR4 to say which mode: a PML5 walked as 5 levels and its
 * entry 511 (a PML4) walked as 4 levels both map the kernel image, and the
 * root search finds the latter first. So once symbols are known the kernel
 * itself decides: __pgtable_l5_enabled, and init_top_pgt as the root.
 */
#include <stdio.h>
#include <string.h>

#include "os_internal.h"

#define KERNEL_HALF_4LEVEL 0xffff800000000000ull
#define KERNEL_HALF_5LEVEL 0xff00000000000000ull
/* MODULES_VADDR (__START_KERNEL_map + the 1 GiB KASLR image size) and
 * MODULES_END: the same under both modes. */
#define MODULES_START 0xffffffffc0000000ull
#define MODULES_END 0xffffffffff000000ull

typedef struct mode_defaults {
    uint64_t kernel_half, page_offset, vmalloc, vmemmap;
} mode_defaults;

static const mode_defaults DEFAULTS_4 = {KERNEL_HALF_4LEVEL, 0xffff888000000000ull,
                                         0xffffc90000000000ull, 0xffffea0000000000ull};
static const mode_defaults DEFAULTS_5 = {KERNEL_HALF_5LEVEL, 0xff11000000000000ull,
                                         0xffa0000000000000ull, 0xffd4000000000000ull};

bool lx_kptr(const vmic_os *os, uint64_t p)
{
    uint64_t half = os->layout.kernel_half ? os->layout.kernel_half : KERNEL_HALF_4LEVEL;
    return p >= half;
}

/* Where the mode the core uses now came from, before the kernel is asked. */
static void describe_core_mode(vmic_os *os, int forced)
{
    int levels = (int)vmic_core_paging(os->core).mode;
    vmic_amd64_regs_t regs;
    if (forced)
        snprintf(os->paging_source, sizeof os->paging_source, "--paging %d", levels);
    else if (vmic_vcpu_count(os->core) > 0 && vmic_get_regs(os->core, 0, &regs) == VMIC_OK &&
             (regs.valid & VMIC_REGS_CR))
        snprintf(os->paging_source, sizeof os->paging_source, "CR4.LA57 of vCPU 0 is %d",
                 (regs.cr4 & VMIC_CR4_LA57) ? 1 : 0);
    else if (strcmp(os->root_source, "search") == 0)
        snprintf(os->paging_source, sizeof os->paging_source, "no CR4; the root search found "
                 "%d-level tables", levels);
    else
        snprintf(os->paging_source, sizeof os->paging_source, "no CR4; %d-level assumed", levels);
    vmic_clear_error();
}

/* Switches the core to `levels` and the kernel to the root at init_top_pgt;
 * undone if that root does not map the kernel image in the new mode. */
static vmic_status switch_mode(vmic_os *os, int levels)
{
    uint64_t top;
    vmic_pa_t top_pa;
    vmic_status s;
    if ((s = lx_need_sym(os, "init_top_pgt", &top)) || (s = lx_kpa(os, vmic_va(top), &top_pa)))
        return vmic_fail_wrap(s, "the kernel says %d-level paging, but its top-level table "
                              "cannot be found", levels);
    vmic_paging_t old = vmic_core_paging(os->core), pg = old;
    lx_image saved = os->image;
    vmic_pa_t saved_root = os->kernel.root;
    char saved_src[sizeof os->root_source];
    memcpy(saved_src, os->root_source, sizeof saved_src);

    pg.mode = levels == 5 ? VMIC_PAGING_5LEVEL : VMIC_PAGING_4LEVEL;
    vmic_core_set_paging(os->core, &pg);
    if ((s = lx_rescan_kernel(os, top_pa, "init_top_pgt")) != VMIC_OK) {
        vmic_core_set_paging(os->core, &old);
        os->image = saved;
        os->kctx = vmic_ctx(saved_root);
        os->kernel.root = saved_root;
        memcpy(os->root_source, saved_src, sizeof saved_src);
        return vmic_fail_wrap(s, "the kernel says %d-level paging (__pgtable_l5_enabled), but "
                              "init_top_pgt at pa 0x%llx does not map it that way; give "
                              "--paging and --root", levels, (unsigned long long)top_pa.addr);
    }
    return VMIC_OK;
}

vmic_status lx_decide_paging(vmic_os *os, int forced_levels)
{
    describe_core_mode(os, forced_levels);
    uint64_t sym;
    uint32_t l5;
    int have = (int)vmic_core_paging(os->core).mode;
    if (forced_levels || !lx_sym(os, "__pgtable_l5_enabled", &sym) ||
        lx_u32(os, sym, &l5) != VMIC_OK || l5 > 1) {
        /* A kernel built without CONFIG_X86_5LEVEL has no such variable and
         * runs 4-level; an unreadable one leaves the mode as it was. */
        vmic_clear_error();
        os->kernel.paging_source = os->paging_source;
        return VMIC_OK;
    }
    int want = l5 ? 5 : 4;
    if (want != have) {
        vmic_status s = switch_mode(os, want);
        if (s)
            return s;
        snprintf(os->paging_source, sizeof os->paging_source,
                 "__pgtable_l5_enabled is %u (the dump has no CR4)", l5);
    } else {
        size_t n = strlen(os->paging_source);
        snprintf(os->paging_source + n, sizeof os->paging_source - n,
                 ", __pgtable_l5_enabled agrees");
    }
    os->kernel.paging_source = os->paging_source;
    return VMIC_OK;
}

/* A base variable of the kernel if it holds a kernel-half address. */
static bool read_base(vmic_os *os, const char *name, uint64_t *v)
{
    uint64_t sym, x;
    if (!lx_sym(os, name, &sym) || lx_u64(os, sym, &x) != VMIC_OK || !lx_kptr(os, x)) {
        vmic_clear_error();
        return false;
    }
    *v = x;
    return true;
}

void lx_layout_init(vmic_os *os)
{
    const mode_defaults *d =
        vmic_core_paging(os->core).mode == VMIC_PAGING_5LEVEL ? &DEFAULTS_5 : &DEFAULTS_4;
    os->layout.kernel_half = d->kernel_half;
    uint64_t po = d->page_offset, vm = d->vmalloc, vmem = d->vmemmap;
    bool from_kernel = read_base(os, "page_offset_base", &po);
    from_kernel = read_base(os, "vmalloc_base", &vm) && from_kernel;
    from_kernel = read_base(os, "vmemmap_base", &vmem) && from_kernel;
    os->kernel.paging = vmic_core_paging(os->core).mode;
    os->kernel.kernel_half = vmic_va(d->kernel_half);
    os->kernel.page_offset_base = vmic_va(po);
    os->kernel.vmalloc_base = vmic_va(vm);
    os->kernel.vmemmap_base = vmic_va(vmem);
    os->kernel.modules_start = vmic_va(MODULES_START);
    os->kernel.modules_end = vmic_va(MODULES_END);
    os->kernel.layout_source = from_kernel ? "kernel variables" : "defaults of the paging mode";
}
