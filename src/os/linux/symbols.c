/*
 * Symbol queries: one interface over the kernel's kallsyms or an ISF
 * profile's symbol table (whose link-time addresses move by the KASLR slide).
 */
#include <string.h>

#include "os_internal.h"

bool lx_sym(vmic_os *os, const char *name, uint64_t *addr)
{
    if (os->ks)
        return lx_kallsyms_lookup(os->ks, name, addr);
    if (os->isf && lx_isf_symbol(os->isf, name, addr)) {
        *addr += os->isf_slide;
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

vmic_status vmic_os_symbol(vmic_os *os, const char *name, vmic_va_t *addr)
{
    uint64_t a;
    vmic_status s = lx_need_sym(os, name, &a);
    if (s == VMIC_OK)
        *addr = vmic_va(a);
    return s;
}

size_t vmic_os_symbol_count(vmic_os *os)
{
    if (os->ks)
        return lx_kallsyms_count(os->ks);
    return os->isf ? lx_isf_symbol_count(os->isf) : 0;
}

vmic_status vmic_os_symbol_get(vmic_os *os, size_t index, vmic_symbol_t *sym)
{
    if (os->ks)
        return lx_kallsyms_get(os->ks, index, sym);
    if (os->isf && lx_isf_symbol_get(os->isf, index, sym)) {
        sym->addr.addr += os->isf_slide;
        return VMIC_OK;
    }
    return vmic_fail(VMIC_E_RANGE, "symbol %zu of %zu", index, vmic_os_symbol_count(os));
}

vmic_status vmic_os_symbol_at(vmic_os *os, vmic_va_t addr, vmic_symbol_t *sym, uint64_t *offset)
{
    size_t i = SIZE_MAX;
    if (os->ks)
        i = lx_kallsyms_find_le(os->ks, addr.addr);
    else if (os->isf && addr.addr >= os->isf_slide)
        i = lx_isf_find_le(os->isf, addr.addr - os->isf_slide);
    if (i == SIZE_MAX)
        return vmic_fail(VMIC_E_NOTFOUND, "no symbol at or below 0x%llx",
                         (unsigned long long)addr.addr);
    vmic_status s = vmic_os_symbol_get(os, i, sym);
    if (s)
        return s;
    /* Past the image, the nearest symbol below says nothing. */
    if (addr.addr >= os->kernel.end.addr && sym->addr.addr < os->kernel.end.addr)
        return vmic_fail(VMIC_E_NOTFOUND, "0x%llx is past the kernel image (ends at 0x%llx)",
                         (unsigned long long)addr.addr,
                         (unsigned long long)os->kernel.end.addr);
    if (offset)
        *offset = addr.addr - sym->addr.addr;
    return VMIC_OK;
}
