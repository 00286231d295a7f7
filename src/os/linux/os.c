/*
 * Opening the OS layer: find the kernel, then its symbols (kallsyms in
 * memory, or a profile), then its types (BTF in memory, or the profile).
 * Each step's failure says what was looked for and where.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os_internal.h"

/* Maps read-only run i of the image as the kernel's rodata. */
static vmic_status map_ro_run(vmic_os *os, int i)
{
    if (i < 0 || i >= os->image.nro)
        return vmic_fail(VMIC_E_NOTFOUND, "kernel: the image at 0x%llx has no read-only data",
                         (unsigned long long)os->kernel.text.addr);
    free(os->ro_owned);
    os->ro_owned = NULL;
    os->ro = NULL;
    os->ro_va = os->image.ro[i].va;
    os->ro_len = (size_t)os->image.ro[i].len;
    return lx_map_image(os, os->ro_va, os->ro_len, &os->ro, &os->ro_owned);
}

/* The read-only runs of the image, largest first: rodata is the largest run
 * on every kernel seen, and the others are few and small. */
static void ro_order(const vmic_os *os, int order[LX_MAX_RO_RUNS])
{
    int n = os->image.nro;
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && os->image.ro[order[j]].len > os->image.ro[order[j - 1]].len; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
}

/* kallsyms lives in .rodata, which need not be the first read-only run
 * after the text (see kernel.c): each run is tried. */
static vmic_status open_kallsyms(vmic_os *os)
{
    int order[LX_MAX_RO_RUNS];
    char tried[512] = "";
    size_t at = 0;
    ro_order(os, order);
    for (int k = 0; k < os->image.nro; k++) {
        const lx_ro_run *r = &os->image.ro[order[k]];
        if (map_ro_run(os, order[k]) == VMIC_OK &&
            lx_kallsyms_open(os->ro, os->ro_len, os->ro_va, os->kernel.text.addr, &os->ks) ==
                VMIC_OK) {
            const lx_kallsyms_info_t *in = lx_kallsyms_info(os->ks);
            os->kernel.symbols = "kallsyms";
            os->kernel.nsymbols = in->num_syms;
            os->kernel.kallsyms = vmic_va(in->names);
            vmic_clear_error();
            return VMIC_OK;
        }
        if (at < sizeof tried - 48)
            at += (size_t)snprintf(tried + at, sizeof tried - at, "%s0x%llx+%llu KiB",
                                   k ? ", " : "", (unsigned long long)r->va,
                                   (unsigned long long)(r->len >> 10));
    }
    return vmic_fail(VMIC_E_NOTFOUND, "kallsyms: no symbol table in any of the %d read-only "
                     "runs of the kernel image at 0x%llx-0x%llx (%s); a kernel without "
                     "CONFIG_KALLSYMS_ALL or with unusual page rights needs --profile",
                     os->image.nro, (unsigned long long)os->kernel.text.addr,
                     (unsigned long long)os->kernel.end.addr, tried);
}

/* With symbols known, rodata is __start_rodata..__end_rodata; the banner
 * and BTF searches look there. */
static void refine_rodata(vmic_os *os)
{
    uint64_t start, end;
    if (!lx_sym(os, "__start_rodata", &start) || !lx_sym(os, "__end_rodata", &end) ||
        end <= start || end - start > (1u << 30) || (start >= os->ro_va && end <= os->ro_va + os->ro_len))
        return;
    const uint8_t *p;
    uint8_t *owned;
    if (lx_map_image(os, start, (size_t)(end - start), &p, &owned) != VMIC_OK) {
        vmic_clear_error();
        return;
    }
    /* kallsyms keeps pointers into the old mapping: keep it alive. */
    if (os->ks_ro_owned == NULL) {
        os->ks_ro_owned = os->ro_owned;
    } else {
        free(os->ro_owned);
    }
    os->ro_owned = owned;
    os->ro = p;
    os->ro_va = start;
    os->ro_len = (size_t)(end - start);
}

/* A profile's addresses are link-time ones: the slide is where the page
 * tables put _text minus where the profile says it is, checked by finding
 * the banner where the profile puts linux_banner. */
static vmic_status open_profile(vmic_os *os, const char *path)
{
    vmic_status s = lx_isf_load(path, &os->isf);
    if (s)
        return s;
    uint64_t text = 0;
    if (!lx_isf_symbol(os->isf, "_text", &text) && !lx_isf_symbol(os->isf, "_stext", &text))
        return vmic_fail(VMIC_E_NOTFOUND, "%s: the profile has no _text symbol to place the "
                         "kernel with", path);
    os->isf_slide = os->kernel.text.addr - text;
    os->kernel.symbols = "isf";
    os->kernel.nsymbols = lx_isf_symbol_count(os->isf);
    uint64_t banner;
    char buf[16];
    if (lx_sym(os, "linux_banner", &banner) &&
        (lx_read(os, banner, buf, 14) != VMIC_OK || memcmp(buf, "Linux version ", 14) != 0))
        return vmic_fail(VMIC_E_FORMAT, "%s: the profile does not match this kernel: no banner "
                         "at its linux_banner (0x%llx after a slide of 0x%llx)", path,
                         (unsigned long long)banner, (unsigned long long)os->isf_slide);
    vmic_clear_error();
    return lx_isf_types(os->isf, &os->types);
}

static vmic_status open_btf(vmic_os *os)
{
    uint64_t start, stop;
    const uint8_t *blob = NULL;
    uint8_t *owned = NULL;
    size_t len = 0;
    vmic_status s;

    if (lx_sym(os, "__start_BTF", &start) && lx_sym(os, "__stop_BTF", &stop) && stop > start &&
        stop - start < (1u << 30)) {
        len = (size_t)(stop - start);
        if ((s = lx_map_image(os, start, len, &blob, &owned)))
            return vmic_fail_wrap(s, "btf: __start_BTF..__stop_BTF");
        os->kernel.btf = vmic_va(start);
    } else {
        /* No symbols for it: the BTF header's magic in read-only data. */
        size_t off;
        if (!os->ro || !lx_btf_scan(os->ro, os->ro_len, &off, &len))
            return vmic_fail(VMIC_E_NOTFOUND, "btf: no __start_BTF symbol and no BTF header in "
                             "the kernel's %zu bytes of read-only data at 0x%llx (a kernel "
                             "without CONFIG_DEBUG_INFO_BTF needs --profile)", os->ro_len,
                             (unsigned long long)os->ro_va);
        blob = os->ro + off;
        os->kernel.btf = vmic_va(os->ro_va + off);
    }
    os->kernel.btf_size = len;
    s = lx_btf_types(blob, len, &os->types);
    free(owned); /* libbpf keeps its own copy */
    if (s)
        return vmic_fail_wrap(s, "btf at 0x%llx", (unsigned long long)os->kernel.btf.addr);
    os->kernel.types = "btf";
    return VMIC_OK;
}

void lx_degrade(vmic_os *os, const char *fmt, ...)
{
    size_t n = strlen(os->degraded);
    if (n && n + 3 < sizeof os->degraded) {
        memcpy(os->degraded + n, "; ", 3);
        n += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(os->degraded + n, sizeof os->degraded - n, fmt, ap);
    va_end(ap);
    os->kernel.degraded = os->degraded;
}

vmic_status vmic_os_open(vmic_core *core, const vmic_os_config_t *cfg, vmic_os **out)
{
    vmic_status s;
    *out = NULL;
    vmic_os *os = calloc(1, sizeof *os);
    if (!os)
        return vmic_fail(VMIC_E_NOMEM, "os: no memory");
    os->core = core;
    os->kernel.symbols = os->kernel.types = "none";
    os->kernel.degraded = "";
    os->kernel.banner = os->kernel.release = "";

    int forced = cfg && (cfg->paging == 4 || cfg->paging == 5) ? cfg->paging : 0;
    os->paging_forced = forced != 0;
    if (forced) {
        vmic_paging_t pg = vmic_core_paging(core);
        pg.mode = forced == 5 ? VMIC_PAGING_5LEVEL : VMIC_PAGING_4LEVEL;
        vmic_core_set_paging(core, &pg);
    }
    if ((s = lx_find_kernel(os, cfg ? cfg->root : 0)))
        goto fail;
    if (cfg && cfg->profile) {
        int order[LX_MAX_RO_RUNS] = {0};
        ro_order(os, order);
        if ((s = map_ro_run(os, order[0])) || (s = open_profile(os, cfg->profile)))
            goto fail;
        os->kernel.types = "isf";
    } else if ((s = open_kallsyms(os))) {
        goto fail;
    }
    if ((s = lx_decide_paging(os, forced)))
        goto fail;
    lx_layout_init(os);
    refine_rodata(os);
    if (!(cfg && cfg->profile) && (s = open_btf(os)) != VMIC_OK) {
        /* Degrade, don't collapse: symbols and the banner need no types. */
        lx_degrade(os, "btf: %s", vmic_errmsg());
        os->kernel.types = "none";
        vmic_clear_error();
    }
    lx_read_banner(os);
    if (!os->banner[0])
        lx_degrade(os, "banner: no readable linux_banner");
    lx_detect_pti(os);
    *out = os;
    return VMIC_OK;
fail:
    vmic_os_close(os);
    return s;
}

void vmic_os_close(vmic_os *os)
{
    if (!os)
        return;
    lx_module_btf_free(os); /* they build on os->types */
    lx_types_free(os->types);
    lx_kallsyms_free(os->ks);
    lx_isf_free(os->isf);
    lx_modsyms_free(os->modsyms);
    free(os->ro_owned);
    free(os->ks_ro_owned);
    free(os->task_buf);
    free(os->syscalls);
    free(os);
}

vmic_core *vmic_os_core(vmic_os *os)
{
    return os->core;
}

const vmic_os_kernel_t *vmic_os_kernel(vmic_os *os)
{
    return &os->kernel;
}

vmic_ctx_t vmic_os_kernel_ctx(vmic_os *os)
{
    return os->kctx;
}

vmic_status vmic_os_field(vmic_os *os, const char *path, vmic_field_t *out)
{
    lx_types *t;
    vmic_status s = lx_types_for(os, path, &t, &path);
    return s ? s : lx_types_field(t, path, out);
}

vmic_status vmic_os_type_size(vmic_os *os, const char *name, uint64_t *size)
{
    lx_types *t;
    vmic_status s = lx_types_for(os, name, &t, &name);
    return s ? s : lx_types_size(t, name, size);
}

vmic_status vmic_os_enum_value(vmic_os *os, const char *name, int64_t *value)
{
    lx_types *t;
    vmic_status s = lx_types_for(os, name, &t, &name);
    return s ? s : lx_types_enum(t, name, value);
}

vmic_status vmic_os_type_members(vmic_os *os, const char *name, vmic_type_kind *kind,
                                 uint64_t *size, vmic_member_fn fn, void *arg)
{
    lx_types *t;
    vmic_status s = lx_types_for(os, name, &t, &name);
    return s ? s : lx_types_members(t, name, kind, size, fn, arg);
}

vmic_status vmic_os_btf(vmic_os *os, const char *module, const uint8_t **data, size_t *len)
{
    lx_types *t = os->types;
    vmic_status s;
    if (module && (s = lx_module_types(os, module, &t)))
        return s;
    if (!(*data = lx_btf_raw(t, len)))
        return vmic_fail(VMIC_E_UNSUPPORTED, "the kernel's types come from %s, not BTF",
                         lx_types_source(os->types));
    return VMIC_OK;
}

vmic_status vmic_os_type_module(vmic_os *os, const char *name, char *module, size_t size)
{
    const char *found;
    vmic_status s = lx_module_defining(os, name, &found);
    if (s == VMIC_OK && snprintf(module, size, "%s", found) >= (int)size)
        return vmic_fail(VMIC_E_RANGE, "module name %s: a %zu-byte buffer", found, size);
    return s;
}
