/*
 * Loaded modules' own types. A module's structs (ext4_sb_info,
 * minix_sb_info) are not in the kernel's BTF but in the module's, which is
 * split BTF: its type ids and strings continue the kernel's. The kernel
 * keeps every one it parsed at load on btf_modules (kernel/bpf/btf.c, with
 * CONFIG_DEBUG_INFO_BTF_MODULES): a struct btf_module whose btf->data holds
 * the raw blob, as /sys/kernel/btf/<module> serves it.
 *
 * Read once, on the first question about a module's types (never at open:
 * most commands need none). Hostile input: the list walk is bounded and
 * cycle-checked, each blob's size is bounded before it is read, libbpf
 * checks the blob, and a module whose blob does not read or parse costs
 * that module only (its error is kept and given when it is asked for).
 */
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"
#include "os_internal.h"

#define MODULE_BTF_MAX (16u << 20)       /* one blob; ext4's is ~0.5 MiB */
#define MODULE_BTF_TOTAL_MAX (256u << 20) /* all of them */

struct lx_module_btf {
    char name[VMIC_MODULE_NAME_LEN + 1];
    lx_types *types;        /* NULL: its blob did not read or parse (why: err) */
    lx_first_error err;
};

typedef struct mbtf_off {
    lx_fld list, module, btf, data, data_size, name;
} mbtf_off;

static vmic_status offsets(vmic_os *os, mbtf_off *o)
{
    vmic_status s;
    if ((s = lx_field(os, "btf_module.list", &o->list, true)) ||
        (s = lx_field(os, "btf_module.module", &o->module, true)) ||
        (s = lx_field(os, "btf_module.btf", &o->btf, true)) ||
        (s = lx_field(os, "btf.data", &o->data, true)) ||
        (s = lx_field(os, "btf.data_size", &o->data_size, true)) ||
        (s = lx_field(os, "module.name", &o->name, true)))
        return s;
    if (o->name.size < 2 || o->name.size > VMIC_MODULE_NAME_LEN + 1)
        return vmic_fail(VMIC_E_FORMAT, "module.name has an absurd size (%u)", o->name.size);
    return VMIC_OK;
}

/* The blob of one btf_module, parsed over the kernel's types. */
static vmic_status load_one(vmic_os *os, const mbtf_off *o, uint64_t bm, size_t *total,
                            lx_module_btf *m)
{
    uint64_t mod, btf, data, size;
    vmic_status s;
    if ((s = lx_read_kptr_field(os, bm, &o->module, &mod)) ||
        (s = lx_read_kptr_field(os, bm, &o->btf, &btf)))
        return s;
    if (!mod || !btf)
        return vmic_fail(VMIC_E_FORMAT, "btf_module 0x%llx has no module or no btf",
                         (unsigned long long)bm);
    if ((s = lx_str(os, mod + o->name.off, m->name, o->name.size)))
        return vmic_fail_wrap(s, "the name of module 0x%llx", (unsigned long long)mod);
    if ((s = lx_read_kptr_field(os, btf, &o->data, &data)) ||
        (s = lx_read_field(os, btf, &o->data_size, &size)))
        return s;
    if (!data || size < 24 || size > MODULE_BTF_MAX || *total + size > MODULE_BTF_TOTAL_MAX)
        return vmic_fail(VMIC_E_FORMAT, "module %s: a BTF blob of %llu bytes at 0x%llx", m->name,
                         (unsigned long long)size, (unsigned long long)data);
    uint8_t *blob = malloc(size);
    if (!blob)
        return vmic_fail(VMIC_E_NOMEM, "module %s: no memory for %llu bytes of BTF", m->name,
                         (unsigned long long)size);
    s = lx_read(os, data, blob, size);
    if (s == VMIC_OK)
        s = lx_btf_split_types(os->types, blob, size, &m->types);
    free(blob);
    if (s)
        return vmic_fail_wrap(s, "module %s's BTF", m->name);
    *total += size;
    return VMIC_OK;
}

static vmic_status load_all(vmic_os *os)
{
    mbtf_off o;
    uint64_t head, node;
    lx_seen seen;
    vmic_status s;
    if ((s = offsets(os, &o)) || (s = lx_need_sym(os, "btf_modules", &head)))
        return vmic_fail_wrap(s, "modules' BTF (CONFIG_DEBUG_INFO_BTF_MODULES)");
    if ((s = lx_u64(os, head, &node)) || (s = lx_seen_init(&seen, LX_MAX_MODULES)))
        return s;
    size_t total = 0;
    for (size_t count = 0; node != head; count++) {
        if ((s = lx_list_step(os, &seen, node, "btf_modules", "modules", count)))
            break;
        if (!VMIC_GROW(os->mbtf, os->n_mbtf, os->cap_mbtf, 64)) {
            s = vmic_fail(VMIC_E_NOMEM, "no memory for a module's BTF");
            break;
        }
        lx_module_btf *m = memset(&os->mbtf[os->n_mbtf++], 0, sizeof *m);
        lx_keep_error(&m->err, load_one(os, &o, node - o.list.off, &total, m));
        if ((s = lx_u64(os, node, &node)))
            break;
    }
    lx_seen_free(&seen);
    return s;
}

/* Every module's, once; a walk that broke off keeps its error in
 * os->mbtf_err, given when what was asked for is not among those read. */
static void load_once(vmic_os *os)
{
    if (!os->mbtf_read) {
        os->mbtf_read = true;
        lx_keep_error(&os->mbtf_err, load_all(os));
    }
}

vmic_status lx_module_types(vmic_os *os, const char *module, lx_types **out)
{
    load_once(os);
    for (size_t i = 0; i < os->n_mbtf; i++) {
        const lx_module_btf *m = &os->mbtf[i];
        if (strcmp(m->name, module) != 0)
            continue;
        if (!m->types)
            return lx_kept_error(&m->err);
        *out = m->types;
        return VMIC_OK;
    }
    if (os->mbtf_err.s)
        return vmic_fail_wrap(lx_kept_error(&os->mbtf_err), "no BTF for module %s", module);
    return vmic_fail(VMIC_E_NOTFOUND, "module %s is not loaded, or has no BTF (%zu modules "
                     "have)", module, os->n_mbtf);
}

vmic_status lx_types_for(vmic_os *os, const char *query, lx_types **t, const char **rest)
{
    const char *colon = strchr(query, ':');
    *t = os->types;
    *rest = query;
    if (!colon)
        return VMIC_OK;
    char module[VMIC_MODULE_NAME_LEN + 1];
    size_t n = (size_t)(colon - query);
    if (n == 0 || n >= sizeof module)
        return vmic_fail(VMIC_E_INVAL, "%s: not MODULE:TYPE (a module name of 1 to %d bytes)",
                         query, VMIC_MODULE_NAME_LEN);
    memcpy(module, query, n);
    module[n] = '\0';
    *rest = colon + 1;
    return lx_module_types(os, module, t);
}

vmic_status lx_module_defining(vmic_os *os, const char *name, const char **module)
{
    load_once(os);
    static const lx_kind kinds[] = {LX_STRUCT, LX_ENUM, LX_TYPEDEF};
    for (size_t i = 0; i < os->n_mbtf; i++) {
        const lx_module_btf *m = &os->mbtf[i];
        uint32_t id;
        for (size_t k = 0; m->types && k < sizeof kinds / sizeof kinds[0]; k++)
            if (lx_btf_find_own(m->types, name, kinds[k], &id)) {
                *module = m->name;
                return VMIC_OK;
            }
    }
    if (os->mbtf_err.s)
        return vmic_fail_wrap(lx_kept_error(&os->mbtf_err), "%s", name);
    return vmic_fail(VMIC_E_NOTFOUND, "no loaded module's BTF defines %s (%zu modules have "
                     "BTF)", name, os->n_mbtf);
}

void lx_module_btf_free(vmic_os *os)
{
    for (size_t i = 0; i < os->n_mbtf; i++)
        lx_types_free(os->mbtf[i].types);
    free(os->mbtf);
    os->mbtf = NULL;
    os->n_mbtf = os->cap_mbtf = 0;
}
