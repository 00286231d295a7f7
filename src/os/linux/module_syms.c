/*
 * Symbols of loaded modules, read from guest memory the way /proc/kallsyms
 * shows them (kernel/module/kallsyms.c): for each module on the `modules`
 * list that is formed, mod->kallsyms->symtab[0..num_symtab) (Elf64_Sym),
 * names in ->strtab, type letters in ->typetab. Symbols without a name are
 * not listed. A letter is upper case exactly when the module exports the
 * symbol (its ->syms table has that name at that address), as s_show does,
 * whatever case the table holds. BPF programs and ftrace trampolines, which
 * /proc/kallsyms lists after the modules ("[bpf]"), are not read.
 *
 * Hostile input: the module walk is vmic_os_modules' (bounded, cycle
 * checked); each table's size is bounded before it is read, each name is
 * read with a bound, and every pointer is checked to be a kernel address.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "module_syms.h"
#include "os_internal.h"
#include "base/search.h"
#include "base/grow.h"

#define KSYM_NAME_LEN 512              /* the kernel's bound on a symbol name */
#define MAX_MODULE_SYMS (1u << 20)     /* per module; the largest have ~40k */
#define MAX_TOTAL_SYMS (1u << 22)
#define MAX_EXPORTS (1u << 20)
#define MAX_STRTAB (1u << 28)          /* st_name offsets beyond this are corrupt */
#define ELF64_SYM_SIZE 24              /* st_name, st_info, st_other, st_shndx, st_value, st_size */
#define MODULE_STATE_UNFORMED 3

typedef struct msym {
    uint64_t addr;
    uint32_t name;   /* offset in names */
    uint32_t module; /* index in mods */
    char type;
} msym;

/* An entry of the address index. */
typedef struct by_addr {
    uint64_t addr;
    size_t i; /* into v */
} by_addr;

struct lx_modsyms {
    msym *v;
    size_t n, cap;
    by_addr *by_addr; /* by address, equal addresses in list order */
    char *names;
    size_t names_len, names_cap;
    vmic_module_t *mods;
    size_t nmods, mods_cap;
};

typedef struct msym_off {
    lx_fld kallsyms, syms, num_syms;             /* struct module */
    lx_fld symtab, num_symtab, strtab, typetab;  /* struct mod_kallsyms */
    lx_fld ks_value, ks_name;                    /* struct kernel_symbol */
    bool ks_relative;                            /* value_offset/name_offset (PREL32) */
    uint64_t ks_size;
} msym_off;

static vmic_status msym_offsets(vmic_os *os, msym_off *o)
{
    vmic_status s;
    memset(o, 0, sizeof *o);
    if ((s = lx_field(os, "module.kallsyms", &o->kallsyms, true)) ||
        (s = lx_field(os, "mod_kallsyms.symtab", &o->symtab, true)) ||
        (s = lx_field(os, "mod_kallsyms.num_symtab", &o->num_symtab, true)) ||
        (s = lx_field(os, "mod_kallsyms.strtab", &o->strtab, true)) ||
        (s = lx_field(os, "mod_kallsyms.typetab", &o->typetab, true)))
        return vmic_fail_wrap(s, "module symbols");
    /* Without the export table every letter stays lower case: still right
     * for the symbols no module exports. */
    if ((s = lx_field(os, "module.syms", &o->syms, false)) ||
        (s = lx_field(os, "module.num_syms", &o->num_syms, false)) ||
        (s = lx_field(os, "kernel_symbol.value_offset", &o->ks_value, false)) ||
        (s = lx_field(os, "kernel_symbol.name_offset", &o->ks_name, false)))
        return s;
    o->ks_relative = o->ks_value.ok && o->ks_name.ok;
    if (!o->ks_relative && ((s = lx_field(os, "kernel_symbol.value", &o->ks_value, false)) ||
                            (s = lx_field(os, "kernel_symbol.name", &o->ks_name, false))))
        return s;
    if (lx_types_size(os->types, "kernel_symbol", &o->ks_size) != VMIC_OK || o->ks_size == 0 ||
        o->ks_size > 64)
        o->ks_size = 0;
    vmic_clear_error();
    return VMIC_OK;
}

/* ---- building ------------------------------------------------------------------- */

static vmic_status add_name(lx_modsyms *m, const char *name, uint32_t *off)
{
    size_t len = strlen(name) + 1;
    if (!VMIC_RESERVE(m->names, m->names_cap, m->names_len + len, 65536))
        return vmic_fail(VMIC_E_NOMEM, "module symbols: no memory for names");
    if (m->names_len > UINT32_MAX - len)
        return vmic_fail(VMIC_E_RANGE, "module symbols: more than 4 GiB of names");
    memcpy(m->names + m->names_len, name, len);
    *off = (uint32_t)m->names_len;
    m->names_len += len;
    return VMIC_OK;
}

static vmic_status add_sym(lx_modsyms *m, const msym *sym)
{
    if (m->n == MAX_TOTAL_SYMS)
        return vmic_fail(VMIC_E_RANGE, "module symbols: more than %u", MAX_TOTAL_SYMS);
    if (!VMIC_GROW(m->v, m->n, m->cap, 1024))
        return vmic_fail(VMIC_E_NOMEM, "module symbols: no memory");
    m->v[m->n++] = *sym;
    return VMIC_OK;
}

static int collect_module(void *arg, const vmic_module_t *mod)
{
    lx_modsyms *m = arg;
    if (!VMIC_GROW(m->mods, m->nmods, m->mods_cap, 64))
        return 1; /* noticed by the caller: fewer modules than the walk saw */
    m->mods[m->nmods++] = *mod;
    return 0;
}

/* A module's exports: address and name pointer of each, sorted by address. */
typedef struct export {
    uint64_t value, name;
} export;

static int export_cmp(const void *a, const void *b)
{
    const export *x = a, *y = b;
    return x->value < y->value ? -1 : x->value > y->value;
}

static int32_t s32_at(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static vmic_status read_exports(vmic_os *os, const msym_off *o, uint64_t mod, export **out,
                                size_t *count)
{
    uint64_t syms;
    uint32_t n;
    vmic_status s;
    *out = NULL;
    *count = 0;
    if (!o->syms.ok || !o->num_syms.ok || !o->ks_value.ok || !o->ks_name.ok || !o->ks_size)
        return VMIC_OK;
    if ((s = lx_u64(os, mod + o->syms.off, &syms)) || (s = lx_u32(os, mod + o->num_syms.off, &n)))
        return s;
    if (n == 0 || syms == 0)
        return VMIC_OK;
    if (n > MAX_EXPORTS || !lx_kptr(os, syms))
        return vmic_fail(VMIC_E_FORMAT, "export table of %u symbols at 0x%llx is not plausible",
                         n, (unsigned long long)syms);
    uint8_t *raw = malloc((size_t)n * o->ks_size);
    export *e = malloc((size_t)n * sizeof *e);
    if (!raw || !e) {
        free(raw);
        free(e);
        return vmic_fail(VMIC_E_NOMEM, "no memory for %u exports", n);
    }
    if ((s = lx_read(os, syms, raw, (size_t)n * o->ks_size))) {
        free(raw);
        free(e);
        return s;
    }
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *ks = raw + (size_t)i * o->ks_size;
        uint64_t at = syms + (uint64_t)i * o->ks_size;
        if (o->ks_relative) {
            /* PREL32: each field holds the target's distance from itself. */
            e[i].value = at + o->ks_value.off + (uint64_t)(int64_t)s32_at(ks + o->ks_value.off);
            e[i].name = at + o->ks_name.off + (uint64_t)(int64_t)s32_at(ks + o->ks_name.off);
        } else {
            e[i].value = lx_get(ks, o->ks_size, &o->ks_value);
            e[i].name = lx_get(ks, o->ks_size, &o->ks_name);
        }
    }
    free(raw);
    qsort(e, n, sizeof *e, export_cmp);
    *out = e;
    *count = n;
    return VMIC_OK;
}

/* Whether the module exports name at value (kernel: is_exported). */
static bool exported(vmic_os *os, const export *e, size_t n, const char *name, uint64_t value)
{
    size_t lo = VMIC__LOWER_BOUND(e, n, value, value);
    for (; lo < n && e[lo].value == value; lo++) {
        char buf[KSYM_NAME_LEN + 1];
        if (lx_kptr(os, e[lo].name) && lx_str(os, e[lo].name, buf, KSYM_NAME_LEN) == VMIC_OK &&
            strcmp(buf, name) == 0)
            return true;
    }
    vmic_clear_error();
    return false;
}

/* The symbol table of module mi, appended to m. */
static vmic_status read_module_syms(vmic_os *os, const msym_off *o, lx_modsyms *m, uint32_t mi)
{
    const vmic_module_t *mod = &m->mods[mi];
    uint64_t mk = mod->module.addr, ks, symtab, strtab, typetab;
    uint32_t n;
    vmic_status s;
    if ((s = lx_u64(os, mk + o->kallsyms.off, &ks)))
        return s;
    if (!lx_kptr(os, ks))
        return vmic_fail(VMIC_E_FORMAT, "kallsyms pointer 0x%llx", (unsigned long long)ks);
    if ((s = lx_u64(os, ks + o->symtab.off, &symtab)) ||
        (s = lx_u32(os, ks + o->num_symtab.off, &n)) ||
        (s = lx_u64(os, ks + o->strtab.off, &strtab)) ||
        (s = lx_u64(os, ks + o->typetab.off, &typetab)))
        return s;
    if (n == 0)
        return VMIC_OK;
    if (n > MAX_MODULE_SYMS || !lx_kptr(os, symtab) || !lx_kptr(os, strtab) ||
        !lx_kptr(os, typetab))
        return vmic_fail(VMIC_E_FORMAT, "symbol table of %u entries at 0x%llx (names 0x%llx, "
                         "types 0x%llx) is not plausible", n, (unsigned long long)symtab,
                         (unsigned long long)strtab, (unsigned long long)typetab);
    uint8_t *tab = malloc((size_t)n * ELF64_SYM_SIZE);
    char *types = malloc(n);
    export *ex = NULL;
    size_t nex = 0;
    if (!tab || !types) {
        s = vmic_fail(VMIC_E_NOMEM, "no memory for %u symbols", n);
        goto out;
    }
    if ((s = lx_read(os, symtab, tab, (size_t)n * ELF64_SYM_SIZE)) ||
        (s = lx_read(os, typetab, types, n)) || (s = read_exports(os, o, mk, &ex, &nex)))
        goto out;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = tab + (size_t)i * ELF64_SYM_SIZE;
        uint32_t st_name;
        uint64_t st_value;
        memcpy(&st_name, e, 4);
        memcpy(&st_value, e + 8, 8);
        if (st_name == 0)
            continue; /* no name: /proc/kallsyms leaves it out */
        char name[KSYM_NAME_LEN + 1];
        if (st_name >= MAX_STRTAB) {
            s = vmic_fail(VMIC_E_FORMAT, "symbol %u: name offset %u", i, st_name);
            goto out;
        }
        if ((s = lx_str(os, strtab + st_name, name, KSYM_NAME_LEN)))
            goto out;
        if (!name[0])
            continue;
        /* The case is not the table's: /proc/kallsyms shows a module's
         * symbol upper case exactly when the module exports it. */
        unsigned char type = (unsigned char)types[i];
        msym sym = {.addr = st_value, .module = mi,
                    .type = (char)(exported(os, ex, nex, name, st_value) ? toupper(type)
                                                                         : tolower(type))};
        if ((s = add_name(m, name, &sym.name)) || (s = add_sym(m, &sym)))
            goto out;
    }
out:
    free(tab);
    free(types);
    free(ex);
    return s;
}

static int by_addr_cmp(const void *a, const void *b)
{
    const by_addr *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i; /* equal addresses: list order, as the kernel */
}

static vmic_status index_by_addr(lx_modsyms *m)
{
    if (m->n == 0)
        return VMIC_OK;
    m->by_addr = malloc(m->n * sizeof *m->by_addr);
    if (!m->by_addr)
        return vmic_fail(VMIC_E_NOMEM, "module symbols: no memory for the index");
    for (size_t i = 0; i < m->n; i++)
        m->by_addr[i] = (by_addr){.addr = m->v[i].addr, .i = i};
    qsort(m->by_addr, m->n, sizeof *m->by_addr, by_addr_cmp);
    return VMIC_OK;
}

vmic_status lx_modsyms_load(vmic_os *os, lx_modsyms **out)
{
    msym_off o;
    vmic_status s, walk;
    *out = NULL;
    lx_modsyms *m = calloc(1, sizeof *m);
    if (!m)
        return vmic_fail(VMIC_E_NOMEM, "module symbols: no memory");
    if ((s = msym_offsets(os, &o))) {
        *out = m;
        return s;
    }
    walk = vmic_os_modules(os, collect_module, m);
    char why[512] = "";
    if (walk)
        snprintf(why, sizeof why, "%s", vmic_errmsg());
    s = VMIC_OK;
    for (size_t i = 0; i < m->nmods && s == VMIC_OK; i++) {
        if (m->mods[i].state == MODULE_STATE_UNFORMED)
            continue; /* still loading: the kernel does not list it either */
        if ((s = read_module_syms(os, &o, m, (uint32_t)i)))
            s = vmic_fail_wrap(s, "symbols of module '%s' (struct module at 0x%llx)",
                               m->mods[i].name, (unsigned long long)m->mods[i].module.addr);
    }
    vmic_status si = index_by_addr(m);
    *out = m;
    if (s)
        return s;
    if (si)
        return si;
    if (walk)
        return vmic_fail(walk, "module symbols: %s", why);
    return VMIC_OK;
}

void lx_modsyms_free(lx_modsyms *m)
{
    if (!m)
        return;
    free(m->v);
    free(m->by_addr);
    free(m->names);
    free(m->mods);
    free(m);
}

/* ---- queries -------------------------------------------------------------------- */

size_t lx_modsyms_count(const lx_modsyms *m)
{
    return m ? m->n : 0;
}

static void fill(const lx_modsyms *m, size_t i, vmic_symbol_t *sym)
{
    const msym *e = &m->v[i];
    sym->name = m->names + e->name;
    sym->addr = vmic_va(e->addr);
    sym->type = e->type;
    sym->module = m->mods[e->module].name;
}

bool lx_modsyms_get(const lx_modsyms *m, size_t i, vmic_symbol_t *sym)
{
    if (!m || i >= m->n)
        return false;
    fill(m, i, sym);
    return true;
}

bool lx_modsyms_lookup(const lx_modsyms *m, const char *name, vmic_symbol_t *sym)
{
    if (!m)
        return false;
    const char *colon = strchr(name, ':');
    size_t modlen = colon ? (size_t)(colon - name) : 0;
    const char *want = colon ? colon + 1 : name;
    for (size_t i = 0; i < m->n; i++) {
        const char *mod = m->mods[m->v[i].module].name;
        if (colon && (strlen(mod) != modlen || memcmp(mod, name, modlen) != 0))
            continue;
        if (strcmp(m->names + m->v[i].name, want) == 0) {
            fill(m, i, sym);
            return true;
        }
    }
    return false;
}

static bool in_module(const vmic_module_t *mod, uint64_t addr)
{
    for (unsigned r = 0; r < mod->nranges; r++)
        if (addr >= mod->ranges[r].base.addr &&
            addr - mod->ranges[r].base.addr < mod->ranges[r].size)
            return true;
    return false;
}

bool lx_modsyms_at(const lx_modsyms *m, uint64_t addr, vmic_symbol_t *sym, uint64_t *offset)
{
    if (!m || m->n == 0)
        return false;
    /* The last symbol at or below addr, then back to the first of that address. */
    size_t lo = VMIC__UPPER_BOUND(m->by_addr, m->n, addr, addr);
    if (lo == 0)
        return false;
    size_t k = lo - 1;
    while (k > 0 && m->by_addr[k - 1].addr == m->by_addr[k].addr)
        k--;
    const msym *e = &m->v[m->by_addr[k].i];
    /* Both in the same module's memory: no offset reaches across modules
     * or into the gaps between them. */
    const vmic_module_t *mod = &m->mods[e->module];
    if (!in_module(mod, addr) || !in_module(mod, e->addr))
        return false;
    fill(m, m->by_addr[k].i, sym);
    *offset = addr - e->addr;
    return true;
}
