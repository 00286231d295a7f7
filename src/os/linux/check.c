/*
 * Integrity checks a rootkit defeats in-guest tools with but not vmic (see
 * vmic/os.h). The system-call table: each of sys_call_table's entries, read
 * from guest memory as it is now (not the parsed table, which leaves out
 * what does not look like a handler), must point into the kernel's text
 * (_stext.._etext). An entry that points into a module's memory, or
 * anywhere else, is a hook.
 */
#include <stdio.h>
#include <string.h>

#include "os_internal.h"

typedef struct module_ranges {
    const vmic_module_t *found;
    uint64_t addr;
    vmic_module_t hit;
    bool in;
} module_ranges;

static int in_module(void *arg, const vmic_module_t *m)
{
    module_ranges *r = arg;
    for (unsigned i = 0; i < m->nranges && i < VMIC_MODULE_MAX_RANGES; i++) {
        uint64_t base = m->ranges[i].base.addr;
        if (r->addr >= base && r->addr - base < m->ranges[i].size) {
            r->hit = *m;
            r->in = true;
            return 1;
        }
    }
    return 0;
}

vmic_status vmic_os_check_syscall_table(vmic_os *os, vmic_syscall_hook_fn fn, void *arg,
                                        size_t *checked)
{
    const vmic_syscall_t *table;
    size_t count;
    uint64_t tbl, stext, etext;
    vmic_status s;

    if (checked)
        *checked = 0;
    if ((s = vmic_os_syscalls(os, &table, &count)))
        return vmic_fail_wrap(s, "checking the syscall table");
    if (!lx_sym(os, "sys_call_table", &tbl) || !lx_sym(os, "_stext", &stext) ||
        !lx_sym(os, "_etext", &etext) || etext <= stext)
        return vmic_fail(VMIC_E_NOTFOUND, "%s: sys_call_table, _stext or _etext is not in "
                         "kallsyms: the syscall table cannot be checked", os->kernel.symbols);
    vmic_ctx_t kctx = vmic_os_kernel_ctx(os);
    for (size_t nr = 0; nr < count; nr++) {
        uint64_t h;
        if ((s = vmic_read_u64_va(os->core, kctx, vmic_va(tbl + 8 * nr), &h)))
            return vmic_fail_wrap(s, "sys_call_table[%zu] at 0x%llx", nr,
                                  (unsigned long long)(tbl + 8 * nr));
        if (checked)
            *checked = nr + 1;
        if (h >= stext && h < etext)
            continue;
        vmic_syscall_hook_t hook;
        memset(&hook, 0, sizeof hook);
        hook.nr = (uint32_t)nr;
        snprintf(hook.name, sizeof hook.name, "%s", table[nr].name);
        hook.handler = vmic_va(h);
        module_ranges mr = {.addr = h};
        if (vmic_os_modules(os, in_module, &mr) != VMIC_OK)
            vmic_clear_error(); /* where it points is extra: the hook stands */
        if (mr.in)
            snprintf(hook.module, sizeof hook.module, "%s", mr.hit.name);
        if (fn(arg, &hook))
            break;
    }
    return VMIC_OK;
}
