/*
 * Finding the kernel with no profile: a page-table root whose kernel half
 * maps the kernel image, the image's extent (hence _text and the KASLR
 * slide), its read-only data (where kallsyms and BTF live) and the banner.
 *
 * x86-64 maps the kernel image in [0xffffffff80000000, 0xffffffffc0000000)
 * ("__START_KERNEL_map", 1 GiB; modules start above it) and unmaps what lies
 * before _text and after the image at boot, so the first mapped byte of that
 * range is _text. Text is mapped executable, rodata read-only and
 * non-executable, data writable: the page-table rights alone delimit rodata.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "os_internal.h"
#include "base/clock.h"

#define KERNEL_MAP_START 0xffffffff80000000ull
#define KERNEL_MAP_END 0xffffffffc0000000ull
#define START_KERNEL 0xffffffff81000000ull /* _text when KASLR does not move it */
#define MAX_ROOT_CANDIDATES 64
/* The root search's budget. Kernel page tables sit low in memory (the 5 GiB
 * fixture's at 0x9c000, every other fixture's below 64 MiB), so a few GiB
 * are plenty; past them a dump with no kernel ends with a clear error
 * instead of reading all of a 64 GiB file. */
#define SEARCH_MAX_BYTES (8ull << 30)
#define SEARCH_MAX_SECONDS 4.0
#define SEARCH_RELEASE_EVERY (64ull << 20) /* drop scanned pages from RSS */
#define PTI_USER_BIT (1ull << 12)          /* user PGD = kernel PGD + 4 KiB */

/* Bytes covered by the table entry a walk stopped at (or mapped with). */
static uint64_t level_span(int level)
{
    switch (level) {
    case VMIC_LEVEL_PT: return 1ull << 12;
    case VMIC_LEVEL_PD: return 1ull << 21;
    case VMIC_LEVEL_PDPT: return 1ull << 30;
    case VMIC_LEVEL_PML4: return 1ull << 39;
    default: return 1ull << 48;
    }
}

/* Adds [va, va+len) as a read-only run; a full list keeps the largest. */
static void add_ro_run(lx_image *im, uint64_t va, uint64_t len)
{
    if (len == 0)
        return;
    if (im->nro < LX_MAX_RO_RUNS) {
        im->ro[im->nro++] = (lx_ro_run){va, len};
        return;
    }
    int smallest = 0;
    for (int i = 1; i < im->nro; i++)
        if (im->ro[i].len < im->ro[smallest].len)
            smallest = i;
    if (im->ro[smallest].len < len)
        im->ro[smallest] = (lx_ro_run){va, len};
}

/*
 * Walks the kernel image range under root. True if it maps an image: an
 * executable start and at least one run of read-only data after it. Every
 * read-only run is kept: the first one after the text is often not rodata
 * but a page of the freed text/rodata gap that the kernel reused (its alias
 * here turns read-only with the page's new owner), so the caller tries each.
 */
static bool scan_image(vmic_os *os, vmic_pa_t root, lx_image *im)
{
    vmic_ctx_t ctx = vmic_ctx(root);
    uint64_t va = KERNEL_MAP_START, run = 0;
    bool in_run = false;

    memset(im, 0, sizeof *im);
    while (va < KERNEL_MAP_END) {
        vmic_translation_t t;
        uint64_t step;
        bool ro = false;
        if (vmic_translate_walk(os->core, ctx, vmic_va(va), &t) != VMIC_OK) {
            step = level_span(t.fault_level ? t.fault_level : VMIC_LEVEL_PML4);
            if (t.fault == VMIC_WALK_NONCANONICAL)
                return false;
        } else {
            step = t.page_size;
            if (t.user)
                return false; /* a kernel image is never user-accessible */
            if (!im->text) {
                if (!(t.access & VMIC_ACCESS_X))
                    return false;
                im->text = va;
                im->text_pa = t.pa.addr;
            }
            ro = !(t.access & (VMIC_ACCESS_X | VMIC_ACCESS_W));
            im->end = (va & ~(step - 1)) + step;
        }
        uint64_t next = (va & ~(step - 1)) + step;
        if (ro && !in_run)
            run = va;
        if (!ro && in_run)
            add_ro_run(im, run, va - run);
        in_run = ro;
        if (next <= va) /* the top of the address space */
            break;
        va = next;
    }
    if (in_run)
        add_ro_run(im, run, (va < KERNEL_MAP_END ? va : KERNEL_MAP_END) - run);
    vmic_clear_error();
    return im->text && im->nro > 0;
}

/* Could this page be a top-level table with a kernel half? Cheap checks on
 * the raw entries before any walk. */
static bool looks_like_root(const uint64_t *e, uint64_t max_pa, const vmic_paging_t *pg)
{
    uint64_t addr_mask = ((1ull << pg->maxphyaddr) - 1) & ~0xfffull;
    uint64_t reserved = ~addr_mask & 0x7ff0000000000000ull; /* bits 52..62 */

    /* Linux sets U/S on upper-level kernel entries too (_PAGE_TABLE): the
     * leaves protect the kernel, so U/S says nothing up here. */
    uint64_t top = e[511];
    if (!(top & VMIC_PTE_P) || (top & VMIC_PTE_PS) || (top & reserved) ||
        (top & addr_mask) >= max_pa)
        return false;
    for (int i = 0; i < 512; i++) {
        uint64_t x = e[i];
        if (x == 0)
            continue;
        if (!(x & VMIC_PTE_P) || (x & VMIC_PTE_PS) || (x & reserved) || (x & addr_mask) >= max_pa)
            return false;
    }
    return true;
}

/*
 * Does the page at pa map the kernel image as a root? In the core's paging
 * mode first; unless the caller fixed the mode, also in the other one, which
 * the core then keeps (a raw dump has no CR4.LA57 to tell). The kernel's own
 * word on the mode comes later (layout.c).
 */
static bool root_maps_image(vmic_os *os, vmic_pa_t pa, lx_image *im)
{
    if (scan_image(os, pa, im))
        return true;
    if (os->paging_forced)
        return false;
    vmic_paging_t pg = vmic_core_paging(os->core), other = pg;
    other.mode = pg.mode == VMIC_PAGING_5LEVEL ? VMIC_PAGING_4LEVEL : VMIC_PAGING_5LEVEL;
    vmic_core_set_paging(os->core, &other);
    if (scan_image(os, pa, im))
        return true;
    vmic_core_set_paging(os->core, &pg);
    return false;
}

/* Wrap-safe: the last page of a region may end at 2^64. Bounded by
 * SEARCH_MAX_BYTES and SEARCH_MAX_SECONDS; what it scanned is released. */
static vmic_status search_root(vmic_os *os, uint64_t *root, lx_image *im)
{
    const vmic_driver_info_t *info = vmic_core_info(os->core);
    vmic_paging_t pg = vmic_core_paging(os->core);
    int tried = 0;
    uint64_t scanned = 0, released_to = 0;
    double t0 = vmic__mono_seconds();

    for (size_t r = 0; r < info->nregions; r++) {
        const vmic_mem_region_t *reg = &info->regions[r];
        if (reg->size < 4096)
            continue;
        uint64_t last = reg->start.addr + (reg->size - 4096); /* last page that fits */
        uint64_t first = (reg->start.addr + 0xfff) & ~0xfffull;
        if (first < reg->start.addr || first > last)
            continue;
        released_to = first;
        for (uint64_t pa = first;; pa += 4096) {
            const uint8_t *p;
            size_t avail;
            scanned += 4096;
            if ((scanned & (SEARCH_RELEASE_EVERY - 1)) == 0) {
                vmic_release_pa(os->core, vmic_pa(released_to), pa - released_to);
                released_to = pa;
                if (vmic__mono_seconds() - t0 > SEARCH_MAX_SECONDS)
                    return vmic_fail(VMIC_E_NOTFOUND, "%s: no kernel page tables in the first "
                                     "%llu MiB (searched for %.0f s, up to pa 0x%llx; %d "
                                     "candidates checked); give --root CR3", info->source,
                                     (unsigned long long)(scanned >> 20), SEARCH_MAX_SECONDS,
                                     (unsigned long long)pa, tried);
            }
            if (scanned > SEARCH_MAX_BYTES)
                return vmic_fail(VMIC_E_NOTFOUND, "%s: no kernel page tables in the first %llu "
                                 "MiB of memory (the search stops there, at pa 0x%llx; %d "
                                 "candidates checked); give --root CR3", info->source,
                                 (unsigned long long)(SEARCH_MAX_BYTES >> 20),
                                 (unsigned long long)pa, tried);
            if (vmic_map_pa(os->core, vmic_pa(pa), &p, &avail) == VMIC_OK && avail >= 4096) {
                uint64_t e[512];
                memcpy(e, p, sizeof e);
                if (looks_like_root(e, info->max_pa.addr, &pg)) {
                    if (root_maps_image(os, vmic_pa(pa), im)) {
                        *root = pa;
                        return VMIC_OK;
                    }
                    if (++tried >= MAX_ROOT_CANDIDATES)
                        return vmic_fail(VMIC_E_NOTFOUND, "%s: %d page tables looked like "
                                         "kernel roots but none maps a kernel image at "
                                         "0x%llx-0x%llx with %s paging; give --root CR3 "
                                         "or --paging", info->source, tried, KERNEL_MAP_START,
                                         KERNEL_MAP_END, os->paging_forced ?
                                         (pg.mode == VMIC_PAGING_5LEVEL ? "5-level" : "4-level")
                                         : "4- or 5-level");
                }
            }
            if (last - pa < 4096)
                break;
        }
        vmic_release_pa(os->core, vmic_pa(released_to), last + 4096 - released_to);
    }
    vmic_clear_error();
    return vmic_fail(VMIC_E_NOTFOUND, "%s: no page table in %llu MiB of memory maps a Linux "
                     "kernel image at 0x%llx-0x%llx with %s paging (%d candidates "
                     "checked); give --root CR3, or --paging 4|5", info->source,
                     (unsigned long long)(info->mem_size >> 20), KERNEL_MAP_START,
                     KERNEL_MAP_END, os->paging_forced ?
                     (pg.mode == VMIC_PAGING_5LEVEL ? "5-level" : "4-level") : "4- or 5-level",
                     tried);
}

static void set_kernel(vmic_os *os, vmic_pa_t root, const lx_image *im, const char *source)
{
    os->kctx = vmic_ctx(root);
    snprintf(os->root_source, sizeof os->root_source, "%s", source);
    os->kernel.root = root;
    os->kernel.root_source = os->root_source;
    os->kernel.text = vmic_va(im->text);
    os->kernel.end = vmic_va(im->end);
    os->kernel.text_pa = vmic_pa(im->text_pa);
    os->kernel.slide = im->text - START_KERNEL;
    os->kernel.paging = vmic_core_paging(os->core).mode;
    os->image = *im;
}

vmic_status lx_find_kernel(vmic_os *os, uint64_t root)
{
    lx_image im;
    const vmic_driver_info_t *info = vmic_core_info(os->core);
    int levels = (int)vmic_core_paging(os->core).mode;

    if (root) {
        uint64_t r = vmic_cr3_to_root(root).addr;
        if (!scan_image(os, vmic_pa(r), &im))
            return vmic_fail(VMIC_E_NOTFOUND, "%s: the page tables at 0x%llx map no kernel image "
                             "at 0x%llx-0x%llx with %d-level paging (--paging changes that)",
                             info->source, (unsigned long long)r, KERNEL_MAP_START,
                             KERNEL_MAP_END, levels);
        set_kernel(os, vmic_pa(r), &im, "caller");
        return VMIC_OK;
    }

    /* The vCPUs' CR3s: an idle CPU holds some process's PGD, whose kernel
     * half maps the kernel; under PTI a CPU in user mode holds the user PGD,
     * the kernel's one is 4 KiB below. */
    for (uint32_t v = 0; v < vmic_vcpu_count(os->core) && v < 64; v++) {
        vmic_amd64_regs_t regs;
        if (vmic_get_regs(os->core, v, &regs) != VMIC_OK || !(regs.valid & VMIC_REGS_CR) ||
            !(regs.cr0 & VMIC_CR0_PG))
            continue;
        uint64_t cands[2] = {vmic_cr3_to_root(regs.cr3).addr,
                             vmic_cr3_to_root(regs.cr3).addr & ~PTI_USER_BIT};
        for (int c = 0; c < 2; c++) {
            if (c == 1 && cands[1] == cands[0])
                break;
            if (scan_image(os, vmic_pa(cands[c]), &im)) {
                char src[32];
                snprintf(src, sizeof src, c ? "vCPU %u CR3 - 4 KiB" : "vCPU %u CR3", v);
                set_kernel(os, vmic_pa(cands[c]), &im, src);
                return VMIC_OK;
            }
        }
    }
    vmic_clear_error();

    uint64_t r = 0;
    vmic_status s = search_root(os, &r, &im);
    if (s)
        return s;
    set_kernel(os, vmic_pa(r), &im, "search");
    return VMIC_OK;
}

vmic_status lx_rescan_kernel(vmic_os *os, vmic_pa_t root, const char *source)
{
    lx_image im;
    if (!scan_image(os, root, &im))
        return vmic_fail(VMIC_E_NOTFOUND, "the page tables at 0x%llx map no kernel image with "
                         "%d-level paging", (unsigned long long)root.addr,
                         (int)vmic_core_paging(os->core).mode);
    set_kernel(os, root, &im, source);
    return VMIC_OK;
}

vmic_status lx_map_image(vmic_os *os, uint64_t va, size_t len, const uint8_t **ptr,
                         uint8_t **owned)
{
    vmic_pa_t pa0;
    *owned = NULL;
    if (len == 0)
        return vmic_fail(VMIC_E_INVAL, "kernel: empty range at va 0x%llx", (unsigned long long)va);
    if (vmic_translate(os->core, os->kctx, vmic_va(va), &pa0) != VMIC_OK)
        return vmic_fail_wrap(VMIC_E_TRANSLATE, "kernel image at va 0x%llx", (unsigned long long)va);

    /* Zero copy when the range is physically contiguous in one host-mapped
     * region: the usual case, the kernel image is loaded in one piece. */
    bool contiguous = true;
    for (uint64_t off = VMIC_PAGE_SIZE - vmic_page_offset(va); off < len; off += VMIC_PAGE_SIZE) {
        vmic_pa_t pa;
        if (vmic_translate(os->core, os->kctx, vmic_va(va + off), &pa) != VMIC_OK ||
            pa.addr != pa0.addr + off) {
            contiguous = false;
            break;
        }
    }
    if (contiguous) {
        const uint8_t *p;
        size_t avail;
        if (vmic_map_pa(os->core, pa0, &p, &avail) == VMIC_OK && avail >= len) {
            *ptr = p;
            return VMIC_OK;
        }
    }
    vmic_clear_error();

    /* Otherwise a copy; pages that do not translate read as zeros. */
    uint8_t *buf = calloc(1, len);
    if (!buf)
        return vmic_fail(VMIC_E_NOMEM, "kernel: no memory for a %zu-byte copy of va 0x%llx", len,
                         (unsigned long long)va);
    for (size_t off = 0; off < len;) {
        size_t n = (size_t)(VMIC_PAGE_SIZE - vmic_page_offset(va + off));
        if (n > len - off)
            n = len - off;
        (void)vmic_read_va(os->core, os->kctx, vmic_va(va + off), buf + off, n);
        off += n;
    }
    vmic_clear_error();
    *ptr = buf;
    *owned = buf;
    return VMIC_OK;
}

/* "Linux version 6.1.0-56-amd64 (...) ...\n": the release is the word after. */
static void set_banner(vmic_os *os, const char *text, size_t len)
{
    size_t n = 0;
    while (n < len && n + 1 < sizeof os->banner && text[n] && text[n] != '\n')
        n++;
    memcpy(os->banner, text, n);
    os->banner[n] = '\0';
    const char *rel = os->banner + strlen("Linux version ");
    size_t r = strcspn(rel, " ");
    if (r >= sizeof os->release)
        r = sizeof os->release - 1;
    memcpy(os->release, rel, r);
    os->release[r] = '\0';
    os->kernel.banner = os->banner;
    os->kernel.release = os->release;
}

static bool banner_shape(const char *p, size_t avail)
{
    static const char prefix[] = "Linux version ";
    size_t plen = sizeof prefix - 1;
    if (avail < plen + 8 || memcmp(p, prefix, plen) != 0 || p[plen] < '0' || p[plen] > '9')
        return false;
    for (size_t i = plen; i < avail && i < 511; i++) {
        if (p[i] == '\n')
            return true;
        if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] >= 0x7f)
            return false;
    }
    return false;
}

void lx_read_banner(vmic_os *os)
{
    uint64_t addr;
    char buf[512];
    if (lx_sym(os, "linux_banner", &addr) &&
        vmic_read_str_va(os->core, os->kctx, vmic_va(addr), buf, sizeof buf - 1, NULL) == VMIC_OK &&
        banner_shape(buf, strlen(buf))) {
        set_banner(os, buf, strlen(buf));
        return;
    }
    vmic_clear_error();
    /* Only linux_banner is the banner: rodata holds other "Linux version"
     * strings (the vDSO's, init's copies), and showing one of them would be
     * a wrong answer. Not found is said (vmic_os_kernel_t.degraded). */
    os->kernel.banner = os->banner;
    os->kernel.release = os->release;
}

/* X86_FEATURE_PTI is word 7, bit 11 of boot_cpu_data.x86_capability. */
void lx_detect_pti(vmic_os *os)
{
    uint64_t bcd;
    vmic_field_t f;
    uint32_t word;
    if (lx_sym(os, "boot_cpu_data", &bcd) &&
        lx_types_field(os->types, "cpuinfo_x86.x86_capability", &f) == VMIC_OK &&
        f.kind == VMIC_TYPE_ARRAY && f.count > 7 &&
        lx_u32(os, bcd + f.offset + 7 * 4, &word) == VMIC_OK)
        os->kernel.pti = (word >> 11) & 1;
    vmic_clear_error();
}
