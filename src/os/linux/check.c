/*
 * Integrity checks a rootkit defeats in-guest tools with but not vmic (see
 * vmic/os.h), and what they share (check_internal.h): the kernel's text and
 * the modules' memory, where a pointer that was not tampered with lands.
 *
 * The system-call table: each of sys_call_table's entries, read from guest
 * memory as it is now (not the parsed table, which leaves out what does not
 * look like a handler), must point into the kernel's text (_stext.._etext).
 * An entry that points into a module's memory, or anywhere else, is a hook.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_internal.h"

typedef struct mod_vec {
    vmic_module_t *v;
    size_t n, cap;
} mod_vec;

static int keep_module(void *arg, const vmic_module_t *m)
{
    mod_vec *mv = arg;
    if (mv->n == mv->cap) {
        size_t cap = mv->cap ? mv->cap * 2 : 32;
        vmic_module_t *v = realloc(mv->v, cap * sizeof *v);
        if (!v)
            return 1;
        mv->v = v;
        mv->cap = cap;
    }
    mv->v[mv->n++] = *m;
    return 0;
}

vmic_status lx_text_map_init(vmic_os *os, lx_text_map *m)
{
    memset(m, 0, sizeof *m);
    if (!lx_sym(os, "_stext", &m->stext) || !lx_sym(os, "_etext", &m->etext) ||
        m->etext <= m->stext)
        return vmic_fail(VMIC_E_NOTFOUND, "%s: _stext or _etext is not in kallsyms: where the "
                         "kernel's text is is not known", os->kernel.symbols);
    mod_vec mv = {0};
    /* Where a pointer lands in a module is extra: a failed walk leaves only
     * the text known, and a pointer outside it still stands out. */
    m->mods_ok = vmic_os_modules(os, keep_module, &mv) == VMIC_OK;
    if (!m->mods_ok)
        vmic_clear_error();
    m->mods = mv.v;
    m->nmods = mv.n;
    return VMIC_OK;
}

void lx_text_map_free(lx_text_map *m)
{
    free(m->mods);
    m->mods = NULL;
    m->nmods = 0;
}

bool lx_in_text(const lx_text_map *m, uint64_t addr)
{
    return addr >= m->stext && addr < m->etext;
}

const vmic_module_t *lx_module_at(const lx_text_map *m, uint64_t addr)
{
    for (size_t k = 0; k < m->nmods; k++) {
        const vmic_module_t *mod = &m->mods[k];
        for (unsigned i = 0; i < mod->nranges && i < VMIC_MODULE_MAX_RANGES; i++) {
            uint64_t base = mod->ranges[i].base.addr;
            if (addr >= base && addr - base < mod->ranges[i].size)
                return mod;
        }
    }
    return NULL;
}

void lx_finding_init(vmic_check_finding_t *f, vmic_check_kind kind, int64_t nr)
{
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->nr = nr;
}

vmic_status vmic_os_check_syscall_table(vmic_os *os, vmic_syscall_hook_fn fn, void *arg,
                                        size_t *checked)
{
    const vmic_syscall_t *table;
    size_t count;
    uint64_t tbl;
    vmic_status s;

    if (checked)
        *checked = 0;
    if ((s = vmic_os_syscalls(os, &table, &count)))
        return vmic_fail_wrap(s, "checking the syscall table");
    if (!lx_sym(os, "sys_call_table", &tbl))
        return vmic_fail(VMIC_E_NOTFOUND, "%s: sys_call_table is not in kallsyms: the syscall "
                         "table cannot be checked", os->kernel.symbols);
    lx_text_map map;
    if ((s = lx_text_map_init(os, &map)))
        return vmic_fail_wrap(s, "checking the syscall table");
    vmic_ctx_t kctx = vmic_os_kernel_ctx(os);
    for (size_t nr = 0; nr < count; nr++) {
        uint64_t h;
        if ((s = vmic_read_u64_va(os->core, kctx, vmic_va(tbl + 8 * nr), &h))) {
            s = vmic_fail_wrap(s, "sys_call_table[%zu] at 0x%llx", nr,
                               (unsigned long long)(tbl + 8 * nr));
            break;
        }
        if (checked)
            *checked = nr + 1;
        if (lx_in_text(&map, h))
            continue;
        vmic_syscall_hook_t hook;
        memset(&hook, 0, sizeof hook);
        hook.nr = (uint32_t)nr;
        snprintf(hook.name, sizeof hook.name, "%s", table[nr].name);
        hook.handler = vmic_va(h);
        const vmic_module_t *mod = lx_module_at(&map, h);
        if (mod)
            snprintf(hook.module, sizeof hook.module, "%s", mod->name);
        if (fn(arg, &hook))
            break;
    }
    lx_text_map_free(&map);
    return s;
}
