/*
 * vmic_os_write_isf: a Volatility 3 symbol table of the guest's kernel from
 * its own BTF and kallsyms (include/vmic/os.h says what it holds). The
 * document is written as it is made, in the order metadata, user_types,
 * enums, base_types, symbols: the types the symbols' descriptors name are
 * queued as roots first (isf_write_globals.c), so none is named after the
 * types were written.
 */
#include <stdlib.h>
#include <string.h>

#include <vmic/version.h>

#include "isf_write.h"

/* Link-time addresses, as System.map and dwarf2json have them: the image's
 * symbols moved back by the KASLR slide. Per-CPU variables are offsets into
 * a CPU's area that KASLR does not move (below the kernel half). */
static uint64_t link_address(const vmic_os *os, uint64_t addr)
{
    return lx_kptr(os, addr) ? addr - os->kernel.slide : addr;
}

static void write_metadata(isfw_out *o)
{
    isfw_raw(o, "\"metadata\":{\"format\":\"6.2.0\",\"producer\":{\"name\":\"vmic (BTF and "
                "kallsyms of the guest)\",\"version\":");
    isfw_str(o, VMIC_VERSION_STRING);
    isfw_raw(o, "},\"linux\":{}},");
}

static vmic_status write_symbols(vmic_os *os, isfw_types *t, isfw_out *o, vmic_isf_stats_t *st)
{
    isfw_set seen = {0}, globals = {0};
    vmic_status s = VMIC_OK;
    int nglobals = isfw_globals_index(&globals);
    if (nglobals < 0) {
        isfw_set_free(&globals);
        return vmic_fail(VMIC_E_NOMEM, "isf: no memory for the global symbol table");
    }
    isfw_key(o, "symbols");
    isfw_raw(o, "{");
    size_t n = lx_kallsyms_count(os->ks);
    for (size_t i = 0; i < n && !o->failed; i++) {
        vmic_symbol_t sym;
        if (lx_kallsyms_get(os->ks, i, &sym) != VMIC_OK || !sym.name || !*sym.name) {
            vmic_clear_error(); /* a name that does not decode costs that symbol only */
            continue;
        }
        int added = isfw_set_add(&seen, sym.name, 1);
        if (added < 0) {
            s = vmic_fail(VMIC_E_NOMEM, "isf: no memory for %zu symbol names", seen.n);
            break;
        }
        if (added == 0)
            continue; /* a static of many files: its first (lowest) address, as System.map's first */
        if (st->symbols++)
            isfw_raw(o, ",");
        isfw_key(o, sym.name);
        isfw_raw(o, "{\"address\":");
        isfw_u64(o, link_address(os, sym.addr.addr));
        uint32_t g;
        if (isfw_set_get(&globals, sym.name, &g) &&
            isfw_globals_type(os, t, o, g, sym.addr.addr))
            st->typed_symbols++;
        isfw_raw(o, "}");
    }
    isfw_raw(o, "}");
    st->globals_missing = (size_t)nglobals - st->typed_symbols;
    isfw_set_free(&seen);
    isfw_set_free(&globals);
    return s;
}

vmic_status vmic_os_write_isf(vmic_os *os, vmic_isf_write_fn fn, void *arg,
                              vmic_isf_stats_t *stats)
{
    vmic_isf_stats_t st = {0};
    if (!os || !fn)
        return vmic_fail(VMIC_E_INVAL, "isf: no session or no output function");
    if (!os->ks)
        return vmic_fail(VMIC_E_UNSUPPORTED, "isf: this session takes its symbols from a profile; "
                         "an ISF is made from the guest's own kallsyms and BTF: open the target "
                         "without --profile");
    if (!os->types || strcmp(lx_types_source(os->types), "btf") != 0)
        return vmic_fail(VMIC_E_UNSUPPORTED, "isf: the kernel's BTF could not be read (vmic "
                         "banner says why); without it there are no types to write");
    isfw_out *o = calloc(1, sizeof *o);
    isfw_types *t = calloc(1, sizeof *t);
    if (!o || !t) {
        free(o);
        free(t);
        return vmic_fail(VMIC_E_NOMEM, "isf: no memory");
    }
    o->fn = fn;
    o->arg = arg;
    isfw_types_init(t, os->types);
    isfw_globals_roots(t);

    isfw_raw(o, "{");
    write_metadata(o);
    isfw_types_write(t, o, &st);
    isfw_raw(o, ",");
    vmic_status s = write_symbols(os, t, o, &st);
    isfw_raw(o, "}\n");
    if (s == VMIC_OK && t->nomem)
        s = vmic_fail(VMIC_E_NOMEM, "isf: no memory for the type tables: the document lacks types");
    if (s == VMIC_OK)
        s = isfw_flush(o);
    if (s == VMIC_OK && t->dropped)
        lx_degrade(os, "isf: %zu types beyond the bound of %d were left out", t->dropped,
                   VMIC_ISF_MAX_TYPES);
    isfw_types_free(t);
    free(t);
    free(o);
    if (stats)
        *stats = st;
    return s;
}
