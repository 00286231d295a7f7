/*
 * Hidden modules. A rootkit module hides from lsmod and /proc/modules by
 * unlinking itself from the `modules` list; it stays in sysfs unless it
 * also removes its kobject, because /sys/module/NAME is made from its
 * struct module_kobject (module.mkobj) on module_kset's list. The check
 * reads both and reports a module found one way and not the other.
 *
 * module_kset also holds the built-in modules that have parameters: their
 * module_kobject's mod is NULL, and they are not on the list either. A
 * module being loaded is on the list before it is in sysfs, so only live
 * modules are held against sysfs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_internal.h"

#define MODULE_STATE_LIVE 0

typedef struct mod_ref {
    uint64_t mod;
    int32_t state;
    char name[VMIC_MODULE_NAME_LEN + 1];
} mod_ref;

typedef struct mod_vec {
    mod_ref *v;
    size_t n, cap;
    bool nomem;
} mod_vec;

static void vec_add(mod_vec *mv, uint64_t mod, int32_t state, const char *name)
{
    if (mv->n == mv->cap) {
        size_t cap = mv->cap ? mv->cap * 2 : 64;
        mod_ref *v = realloc(mv->v, cap * sizeof *v);
        if (!v) {
            mv->nomem = true;
            return;
        }
        mv->v = v;
        mv->cap = cap;
    }
    mod_ref *r = &mv->v[mv->n++];
    r->mod = mod;
    r->state = state;
    snprintf(r->name, sizeof r->name, "%s", name);
}

static const mod_ref *vec_find(const mod_vec *mv, uint64_t mod)
{
    for (size_t i = 0; i < mv->n; i++)
        if (mv->v[i].mod == mod)
            return &mv->v[i];
    return NULL;
}

static int keep_module(void *arg, const vmic_module_t *m)
{
    mod_vec *mv = arg;
    vec_add(mv, m->module.addr, m->state, m->name);
    return mv->nomem;
}

/* The modules module_kset's kobjects name: kset.list links kobject.entry. */
static vmic_status sysfs_modules(vmic_os *os, mod_vec *out)
{
    vmic_status s;
    lx_fld kset_list, kobj_entry, mk_kobj, mk_mod, mod_mkobj, mod_name;
    uint64_t kset_sym, kset;
    if ((s = lx_need_sym(os, "module_kset", &kset_sym)) ||
        (s = lx_field(os, "kset.list", &kset_list, true)) ||
        (s = lx_field(os, "kobject.entry", &kobj_entry, true)) ||
        (s = lx_field(os, "module_kobject.kobj", &mk_kobj, true)) ||
        (s = lx_field(os, "module_kobject.mod", &mk_mod, true)) ||
        (s = lx_field(os, "module.mkobj", &mod_mkobj, true)) ||
        (s = lx_field(os, "module.name", &mod_name, true)))
        return vmic_fail_wrap(s, "%s: the sysfs modules' layout", lx_types_source(os->types));
    if ((s = lx_u64(os, kset_sym, &kset)))
        return vmic_fail_wrap(s, "module_kset at 0x%llx", (unsigned long long)kset_sym);
    if (!lx_kptr(os, kset))
        return vmic_fail(VMIC_E_FORMAT, "module_kset is 0x%llx, not a kernel address",
                         (unsigned long long)kset);
    const uint64_t head = kset + kset_list.off;
    uint64_t node;
    if ((s = lx_u64(os, head, &node)))
        return vmic_fail_wrap(s, "module_kset's list at 0x%llx", (unsigned long long)head);
    lx_seen seen;
    if ((s = lx_seen_init(&seen, LX_MAX_MODULES)))
        return s;
    size_t count = 0;
    while (node != head) {
        if ((s = lx_list_step(os, &seen, node, "module_kset's list", "kobjects", count)))
            break;
        count++;
        uint64_t mk = node - kobj_entry.off - mk_kobj.off, mod;
        if ((s = lx_u64(os, mk + mk_mod.off, &mod))) {
            s = vmic_fail_wrap(s, "module_kobject 0x%llx", (unsigned long long)mk);
            break;
        }
        if (mod) {
            /* A loaded module's kobject is its own mkobj: one that is not
             * points at something else than a struct module. */
            if (!lx_kptr(os, mod) || mod + mod_mkobj.off + mk_kobj.off != mk) {
                s = vmic_fail(VMIC_E_FORMAT, "module_kobject 0x%llx: its module 0x%llx does not "
                              "hold it", (unsigned long long)mk, (unsigned long long)mod);
                break;
            }
            char name[VMIC_MODULE_NAME_LEN + 1] = {0};
            size_t n = mod_name.size < VMIC_MODULE_NAME_LEN ? mod_name.size : VMIC_MODULE_NAME_LEN;
            if ((s = lx_read(os, mod + mod_name.off, name, n))) {
                s = vmic_fail_wrap(s, "the name of module 0x%llx", (unsigned long long)mod);
                break;
            }
            vec_add(out, mod, -1, name);
            if (out->nomem) {
                s = vmic_fail(VMIC_E_NOMEM, "no memory for the sysfs modules");
                break;
            }
        }
        if ((s = lx_u64(os, node, &node))) {
            s = vmic_fail_wrap(s, "module_kset's list after 0x%llx", (unsigned long long)mk);
            break;
        }
    }
    lx_seen_free(&seen);
    return s;
}

static int report(vmic_check_fn fn, void *arg, const mod_ref *m, const char *detail)
{
    vmic_check_finding_t f;
    lx_finding_init(&f, VMIC_CHECK_HIDDEN_MODULE, -1);
    snprintf(f.name, sizeof f.name, "%s", m->name);
    f.addr = vmic_va(m->mod);
    snprintf(f.detail, sizeof f.detail, "%s", detail);
    return fn(arg, &f);
}

vmic_status vmic_os_check_modules(vmic_os *os, vmic_check_fn fn, void *arg, size_t *checked)
{
    mod_vec list = {0}, sysfs = {0};
    if (checked)
        *checked = 0;
    vmic_status s = vmic_os_modules(os, keep_module, &list);
    if (!s && list.nomem)
        s = vmic_fail(VMIC_E_NOMEM, "no memory for the module list");
    if (!s) /* else its message says "module list" and where */
        s = sysfs_modules(os, &sysfs);
    if (s)
        goto out;
    int stop = 0;
    size_t seen = list.n;
    for (size_t i = 0; i < sysfs.n && !stop; i++)
        if (!vec_find(&list, sysfs.v[i].mod)) {
            seen++;
            stop = report(fn, arg, &sysfs.v[i], "in sysfs (module_kset), not on the module list");
        }
    for (size_t i = 0; i < list.n && !stop; i++)
        if (list.v[i].state == MODULE_STATE_LIVE && !vec_find(&sysfs, list.v[i].mod))
            stop = report(fn, arg, &list.v[i], "on the module list, not in sysfs (module_kset)");
    if (checked)
        *checked = seen;
out:
    free(list.v);
    free(sysfs.v);
    return s;
}
