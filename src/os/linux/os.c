/*
 * Opening the OS layer: find the kernel, then its symbols (kallsyms in
 * memory, or a profile), then its types (BTF in memory, or the profile).
 * Each step's failure says what was looked for and where.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os_internal.h"

static vmic_status open_kallsyms(vmic_os *os)
{
    vmic_status s = lx_kallsyms_open(os->ro, os->ro_len, os->ro_va, os->kernel.text.addr, &os->ks);
    if (s)
        return s;
    const lx_kallsyms_info_t *in = lx_kallsyms_info(os->ks);
    os->kernel.symbols = "kallsyms";
    os->kernel.nsymbols = in->num_syms;
    os->kernel.kallsyms = vmic_va(in->names);
    return VMIC_OK;
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

vmic_status vmic_os_open(vmic_core *core, const vmic_os_config_t *cfg, vmic_os **out)
{
    vmic_status s;
    *out = NULL;
    vmic_os *os = calloc(1, sizeof *os);
    if (!os)
        return vmic_fail(VMIC_E_NOMEM, "os: no memory");
    os->core = core;
    os->kernel.symbols = os->kernel.types = "none";
    os->kernel.banner = os->kernel.release = "";

    if ((s = lx_find_kernel(os, cfg ? cfg->root : 0)))
        goto fail;
    if ((s = lx_map_image(os, os->ro_va, os->ro_len, &os->ro, &os->ro_owned)))
        goto fail;
    if (cfg && cfg->profile) {
        if ((s = open_profile(os, cfg->profile)))
            goto fail;
        os->kernel.types = "isf";
    } else {
        if ((s = open_kallsyms(os)) || (s = open_btf(os)))
            goto fail;
    }
    lx_read_banner(os);
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
    lx_types_free(os->types);
    lx_kallsyms_free(os->ks);
    lx_isf_free(os->isf);
    free(os->ro_owned);
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
    return lx_types_field(os->types, path, out);
}

vmic_status vmic_os_type_size(vmic_os *os, const char *name, uint64_t *size)
{
    return lx_types_size(os->types, name, size);
}

vmic_status vmic_os_enum_value(vmic_os *os, const char *name, int64_t *value)
{
    return lx_types_enum(os->types, name, value);
}

vmic_status vmic_os_type_members(vmic_os *os, const char *name, vmic_type_kind *kind,
                                 uint64_t *size, vmic_member_fn fn, void *arg)
{
    return lx_types_members(os->types, name, kind, size, fn, arg);
}
