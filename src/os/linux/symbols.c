/*
 * Symbol queries: one interface over the kernel's kallsyms or an ISF
 * profile's symbol table, and the loaded modules' symbols from guest memory.
 *
 * A profile's addresses are link-time ones. KASLR moves the kernel image by
 * the slide, but not the per-CPU variables: on x86-64 SMP they are linked as
 * offsets from 0 (__per_cpu_start is 0) into each CPU's per-CPU area, and
 * /proc/kallsyms shows them as they are linked. So symbols in
 * [__per_cpu_start, __per_cpu_end], when that range lies below _text, are
 * not slid.
 */
#include <stdio.h>
#include <string.h>

#include "os_internal.h"

/* ---- the profile's link-time addresses ---------------------------------------- */

/* The zero-based per-CPU range of the profile, if it has one. */
static bool isf_percpu_range(const vmic_os *os, uint64_t *lo, uint64_t *hi)
{
    uint64_t text;
    return lx_isf_symbol(os->isf, "__per_cpu_start", lo) &&
           lx_isf_symbol(os->isf, "__per_cpu_end", hi) && *lo <= *hi &&
           (lx_isf_symbol(os->isf, "_text", &text) || lx_isf_symbol(os->isf, "_stext", &text)) &&
           *hi < text;
}

static uint64_t isf_runtime(const vmic_os *os, uint64_t link)
{
    uint64_t lo, hi;
    if (isf_percpu_range(os, &lo, &hi) && link >= lo && link <= hi)
        return link;
    return link + os->isf_slide;
}

/* Index of the last profile symbol at or below run-time address addr. */
static size_t isf_find_le(const vmic_os *os, uint64_t addr)
{
    uint64_t lo, hi;
    if (isf_percpu_range(os, &lo, &hi) && addr >= lo && addr <= hi)
        return lx_isf_find_le(os->isf, addr);
    if (addr < os->isf_slide)
        return SIZE_MAX;
    return lx_isf_find_le(os->isf, addr - os->isf_slide);
}

/* ---- the kernel image ---------------------------------------------------------- */

bool lx_sym(vmic_os *os, const char *name, uint64_t *addr)
{
    if (os->ks)
        return lx_kallsyms_lookup(os->ks, name, addr);
    if (os->isf && lx_isf_symbol(os->isf, name, addr)) {
        *addr = isf_runtime(os, *addr);
        return true;
    }
    return false;
}

vmic_status lx_need_sym(vmic_os *os, const char *name, uint64_t *addr)
{
    if (lx_sym(os, name, addr))
        return VMIC_OK;
    return vmic_fail(VMIC_E_NOTFOUND, "%s: the kernel has no symbol '%s'",
                     os->kernel.symbols, name);
}

/* Decoding every name costs ~3 ms on 6.1 (a third of a `ps`): only the
 * commands that list or describe symbols pay it, once. */
void vmic_os_check_symbols(vmic_os *os)
{
    if (os->names_checked || !os->ks)
        return;
    os->names_checked = true;
    size_t bad = lx_kallsyms_undecodable(os->ks);
    if (bad)
        lx_degrade(os, "kallsyms: %zu of %zu names do not decode (those symbols are left out)",
                   bad, lx_kallsyms_count(os->ks));
}

size_t vmic_os_symbol_count(vmic_os *os)
{
    if (os->ks)
        return lx_kallsyms_count(os->ks);
    return os->isf ? lx_isf_symbol_count(os->isf) : 0;
}

vmic_status vmic_os_symbol_get(vmic_os *os, size_t index, vmic_symbol_t *sym)
{
    sym->module = NULL;
    if (os->ks)
        return lx_kallsyms_get(os->ks, index, sym);
    if (os->isf && lx_isf_symbol_get(os->isf, index, sym)) {
        sym->addr.addr = isf_runtime(os, sym->addr.addr);
        return VMIC_OK;
    }
    return vmic_fail(VMIC_E_RANGE, "symbol %zu of %zu", index, vmic_os_symbol_count(os));
}

/* Where kernel symbols mean something: the image, and the per-CPU offsets. */
static bool in_kernel(vmic_os *os, uint64_t addr)
{
    uint64_t lo, hi;
    if (addr >= os->kernel.text.addr && addr < os->kernel.end.addr)
        return true;
    return lx_sym(os, "__per_cpu_start", &lo) && lx_sym(os, "__per_cpu_end", &hi) &&
           hi < os->kernel.text.addr && addr >= lo && addr <= hi;
}

/* The kernel symbol at or below addr, if addr is in the kernel (or is
 * exactly a symbol, such as _end past the mapped image). */
static bool kernel_symbol_at(vmic_os *os, uint64_t addr, vmic_symbol_t *sym, uint64_t *offset)
{
    size_t i = SIZE_MAX;
    if (os->ks)
        i = lx_kallsyms_find_le(os->ks, addr);
    else if (os->isf)
        i = isf_find_le(os, addr);
    if (i == SIZE_MAX || vmic_os_symbol_get(os, i, sym) != VMIC_OK) {
        vmic_clear_error();
        return false;
    }
    if (sym->addr.addr != addr && !in_kernel(os, addr))
        return false;
    *offset = addr - sym->addr.addr;
    return true;
}

/* ---- modules --------------------------------------------------------------------- */

/* The modules' symbols, read once; a failed read is reported to every caller. */
static vmic_status module_syms(vmic_os *os, const lx_modsyms **out)
{
    if (!os->modsyms_ready) {
        os->modsyms_status = lx_modsyms_load(os, &os->modsyms);
        if (os->modsyms_status)
            snprintf(os->modsyms_error, sizeof os->modsyms_error, "%s", vmic_errmsg());
        os->modsyms_ready = true;
    }
    *out = os->modsyms;
    if (os->modsyms_status)
        return vmic_fail(os->modsyms_status, "%s", os->modsyms_error);
    return VMIC_OK;
}

vmic_status vmic_os_module_symbols(vmic_os *os, size_t *count)
{
    const lx_modsyms *m;
    vmic_status s = module_syms(os, &m);
    *count = lx_modsyms_count(m);
    return s;
}

vmic_status vmic_os_module_symbol_get(vmic_os *os, size_t index, vmic_symbol_t *sym)
{
    const lx_modsyms *m;
    vmic_status s = module_syms(os, &m);
    if (lx_modsyms_get(m, index, sym))
        return VMIC_OK;
    if (s)
        return s;
    return vmic_fail(VMIC_E_RANGE, "module symbol %zu of %zu", index, lx_modsyms_count(m));
}

/* ---- both -------------------------------------------------------------------------- */

vmic_status vmic_os_symbol(vmic_os *os, const char *name, vmic_va_t *addr)
{
    uint64_t a;
    const lx_modsyms *m;
    vmic_symbol_t sym;
    if (!strchr(name, ':') && lx_sym(os, name, &a)) {
        *addr = vmic_va(a);
        return VMIC_OK;
    }
    vmic_status s = module_syms(os, &m);
    if (lx_modsyms_lookup(m, name, &sym)) {
        vmic_clear_error();
        *addr = sym.addr;
        return VMIC_OK;
    }
    if (s)
        return vmic_fail_wrap(s, "no symbol '%s' in the kernel, and the modules' symbols "
                              "could not all be read", name);
    return vmic_fail(VMIC_E_NOTFOUND, "%s: no symbol '%s' in the kernel or its %s",
                     os->kernel.symbols, name, strchr(name, ':') ? "module" : "modules");
}

vmic_status vmic_os_symbol_at(vmic_os *os, vmic_va_t addr, vmic_symbol_t *sym, uint64_t *offset)
{
    uint64_t off = 0;
    const lx_modsyms *m;
    if (!kernel_symbol_at(os, addr.addr, sym, &off)) {
        vmic_status s = module_syms(os, &m);
        if (!lx_modsyms_at(m, addr.addr, sym, &off)) {
            if (s)
                return vmic_fail_wrap(s, "no kernel symbol at 0x%llx, and the modules' "
                                      "symbols could not all be read",
                                      (unsigned long long)addr.addr);
            return vmic_fail(VMIC_E_NOTFOUND, "no symbol at 0x%llx: it is not in the kernel "
                             "image (0x%llx-0x%llx), its per-CPU area or a module",
                             (unsigned long long)addr.addr,
                             (unsigned long long)os->kernel.text.addr,
                             (unsigned long long)os->kernel.end.addr);
        }
        vmic_clear_error();
    }
    if (offset)
        *offset = off;
    return VMIC_OK;
}

/* Kallsyms and ISF tables are in address order: the next entry that lies
 * above addr. */
uint64_t lx_next_symbol(vmic_os *os, uint64_t addr)
{
    size_t i = SIZE_MAX;
    if (os->ks)
        i = lx_kallsyms_find_le(os->ks, addr);
    else if (os->isf && addr >= os->isf_slide)
        i = lx_isf_find_le(os->isf, addr - os->isf_slide);
    if (i == SIZE_MAX)
        return 0;
    size_t n = vmic_os_symbol_count(os);
    for (size_t j = i + 1; j < n; j++) {
        vmic_symbol_t sym;
        if (vmic_os_symbol_get(os, j, &sym) != VMIC_OK)
            break;
        if (sym.addr.addr > addr)
            return sym.addr.addr;
    }
    vmic_clear_error();
    return 0;
}
