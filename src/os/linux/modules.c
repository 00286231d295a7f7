/*
 * Kernel modules: the `modules` list of struct module. Where a module's
 * memory is recorded changed in 6.4: before, core_layout/init_layout (base,
 * size); since, mem[MOD_MEM_NUM_TYPES] of struct module_memory. Either way
 * the base and size are what /proc/modules prints: the core text base and
 * the total size.
 */
#include <string.h>

#include "os_internal.h"

typedef struct mod_off {
    lx_fld list, name, state, refcnt;
    lx_fld core_base, core_size, init_base, init_size; /* before 6.4 */
    lx_fld mem, mm_base, mm_size;             /* 6.4+ */
    uint64_t mem_count, mem_elem;
    int64_t mod_text;
} mod_off;

static vmic_status module_offsets(vmic_os *os, mod_off *m)
{
    vmic_status s;
    vmic_field_t f;
    memset(m, 0, sizeof *m);
    if ((s = lx_field(os, "module.list", &m->list, true)) ||
        (s = lx_field(os, "module.name", &m->name, true)) ||
        (s = lx_field(os, "module.state", &m->state, false)) ||
        (s = lx_field(os, "module.refcnt.counter", &m->refcnt, false)))
        return s;
    if ((s = lx_field(os, "module.mem", &m->mem, false)))
        return s;
    if (m->mem.ok) {
        if ((s = lx_types_field(os->types, "module.mem", &f)) ||
            (s = lx_field(os, "module_memory.base", &m->mm_base, true)) ||
            (s = lx_field(os, "module_memory.size", &m->mm_size, true)))
            return s;
        if (f.count == 0 || f.count > VMIC_MODULE_MAX_RANGES || f.size % f.count)
            return vmic_fail(VMIC_E_FORMAT, "%s: module.mem is not a small array",
                             lx_types_source(os->types));
        m->mem_count = f.count;
        m->mem_elem = f.size / f.count;
        if (lx_types_enum(os->types, "MOD_TEXT", &m->mod_text) != VMIC_OK)
            m->mod_text = 0;
        vmic_clear_error();
        if (m->mod_text < 0 || (uint64_t)m->mod_text >= m->mem_count)
            m->mod_text = 0;
        return VMIC_OK;
    }
    if ((s = lx_field(os, "module.core_layout.base", &m->core_base, true)) ||
        (s = lx_field(os, "module.core_layout.size", &m->core_size, true)) ||
        (s = lx_field(os, "module.init_layout.base", &m->init_base, false)) ||
        (s = lx_field(os, "module.init_layout.size", &m->init_size, false)))
        return s;
    return VMIC_OK;
}

/* A piece of the module's memory; empty ones (freed init memory) are left out. */
static void add_range(vmic_module_t *out, uint64_t base, uint64_t size)
{
    if (base == 0 || size == 0 || out->nranges == VMIC_MODULE_MAX_RANGES)
        return;
    out->ranges[out->nranges].base = vmic_va(base);
    out->ranges[out->nranges].size = size;
    out->nranges++;
}

static vmic_status read_module(vmic_os *os, const mod_off *m, uint64_t mod, vmic_module_t *out)
{
    vmic_status s;
    memset(out, 0, sizeof *out);
    out->module = vmic_va(mod);
    char name[VMIC_MODULE_NAME_LEN];
    size_t nlen = m->name.size < sizeof name ? m->name.size : sizeof name;
    if ((s = lx_read(os, mod + m->name.off, name, nlen)))
        return s;
    memcpy(out->name, name, nlen);
    out->name[nlen < sizeof out->name ? nlen : sizeof out->name - 1] = '\0';
    uint32_t state = 0;
    if (m->state.ok && (s = lx_u32(os, mod + m->state.off, &state)))
        return s;
    out->state = (int32_t)state;
    /* MODULE_REF_BASE: a live module's refcnt starts at 1. */
    uint32_t refcnt = 0;
    if (m->refcnt.ok && (s = lx_u32(os, mod + m->refcnt.off, &refcnt)))
        return s;
    out->refcount = m->refcnt.ok ? (int32_t)refcnt - 1 : -1;
    if (m->mem.ok) {
        for (uint64_t i = 0; i < m->mem_count; i++) {
            uint64_t at = mod + m->mem.off + i * m->mem_elem, base;
            uint32_t size;
            if ((s = lx_u32(os, at + m->mm_size.off, &size)) ||
                (s = lx_u64(os, at + m->mm_base.off, &base)))
                return s;
            out->size += size;
            if ((int64_t)i == m->mod_text)
                out->base.addr = base;
            add_range(out, base, size);
        }
        return VMIC_OK;
    }
    uint32_t core = 0, init = 0;
    uint64_t init_base = 0;
    if ((s = lx_u64(os, mod + m->core_base.off, &out->base.addr)) ||
        (s = lx_u32(os, mod + m->core_size.off, &core)) ||
        (m->init_size.ok && (s = lx_u32(os, mod + m->init_size.off, &init))) ||
        (m->init_base.ok && (s = lx_u64(os, mod + m->init_base.off, &init_base))))
        return s;
    out->size = (uint64_t)core + init;
    add_range(out, out->base.addr, core);
    add_range(out, init_base, init);
    return VMIC_OK;
}

vmic_status vmic_os_modules(vmic_os *os, vmic_module_fn fn, void *arg)
{
    mod_off m;
    uint64_t head, node;
    vmic_status s;
    if ((s = module_offsets(os, &m)) || (s = lx_need_sym(os, "modules", &head)))
        return s;
    if ((s = lx_u64(os, head, &node)))
        return vmic_fail_wrap(s, "module list at 0x%llx", (unsigned long long)head);
    lx_seen seen;
    if ((s = lx_seen_init(&seen, LX_MAX_MODULES)))
        return s;
    size_t count = 0;
    while (node != head) {
        if ((s = lx_list_step(os, &seen, node, "module list", "modules", count)))
            break;
        vmic_module_t mod;
        uint64_t at = node - m.list.off;
        if ((s = read_module(os, &m, at, &mod))) {
            s = vmic_fail_wrap(s, "module at 0x%llx (entry %zu)", (unsigned long long)at, count);
            break;
        }
        count++;
        if (fn(arg, &mod))
            break;
        if ((s = lx_u64(os, node, &node))) {
            s = vmic_fail_wrap(s, "module list after '%s'", mod.name);
            break;
        }
    }
    lx_seen_free(&seen);
    return s;
}
