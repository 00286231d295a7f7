/* Opening and closing a session over a driver; vCPU state. */
#include <stdlib.h>

#include "core_internal.h"

#define DEFAULT_PAGE_CACHE_PAGES 1024
#define DEFAULT_TLB_ENTRIES 16384

static vmic_paging_t paging_of_driver(vmic_driver *drv, const vmic_driver_info_t *info)
{
    vmic_paging_t pg = vmic_paging_default();
    vmic_amd64_regs_t regs;

    if (!drv->ops->registers || info->vcpu_count == 0)
        return pg;
    if (drv->ops->registers->get(drv, 0, &regs) != VMIC_OK ||
        vmic_amd64_paging_from_regs(&regs, &pg) != VMIC_OK) {
        /* vCPU 0 may be in real mode or unreadable; the caller can still set
         * paging explicitly. Do not leave that failure as the last message. */
        vmic_clear_error();
        return vmic_paging_default();
    }
    return pg;
}

/*
 * Guest memory from pa 0 that is mapped in this process is handed to the
 * walker to read in place; the rest goes through the page cache.
 */
static vmic_table_source_t table_source(vmic_core *core)
{
    vmic_table_source_t src = {.read_table = core_read_table, .ctx = core};
    const vmic_mem_region_t *low = core->info->nregions ? &core->info->regions[0] : NULL;

    if (low && low->start.addr == 0 && low->host && ((uintptr_t)low->host & 7) == 0) {
        src.flat = low->host;
        src.flat_size = low->size & VMIC_PAGE_MASK;
    }
    return src;
}

vmic_status vmic_core_open(vmic_driver *drv, const vmic_core_config_t *cfg, vmic_core **out)
{
    vmic_status s;
    vmic_core *core;

    *out = NULL;
    if (!drv)
        return vmic_fail(VMIC_E_INVAL, "core: no driver");
    core = calloc(1, sizeof *core);
    if (!core) {
        vmic_driver_close(drv);
        return vmic_fail(VMIC_E_NOMEM, "core: no memory for a session");
    }
    core->drv = drv;
    core->info = drv->ops->info(drv);
    core->caps = vmic_driver_caps(drv->ops);

    size_t pages = cfg && cfg->page_cache_pages ? cfg->page_cache_pages : DEFAULT_PAGE_CACHE_PAGES;
    size_t entries = cfg && cfg->tlb_entries ? cfg->tlb_entries : DEFAULT_TLB_ENTRIES;
    if ((s = page_cache_init(&core->pages, pages)) || (s = tlb_init(&core->tlb, entries))) {
        vmic_core_close(core);
        return s;
    }
    core->paging = paging_of_driver(drv, core->info);
    core->tables = table_source(core);
    *out = core;
    return VMIC_OK;
}

void vmic_core_close(vmic_core *core)
{
    if (!core)
        return;
    /* Closing is a detach too: nothing vmic changed stays behind. */
    if (core->bps || core->nhooks || core->drv->ops->events)
        core_restore_events(core);
    restore_hooks_free(core);
    bp_free(core);
    page_cache_free(core);
    tlb_free(&core->tlb);
    vmic_driver_close(core->drv);
    free(core);
}

vmic_driver *vmic_core_driver(vmic_core *core)
{
    return core->drv;
}

const vmic_driver_info_t *vmic_core_info(vmic_core *core)
{
    return core->info;
}

bool vmic_core_has(vmic_core *core, uint64_t caps)
{
    return (core->caps & caps) == caps;
}

vmic_paging_t vmic_core_paging(vmic_core *core)
{
    return core->paging;
}

void vmic_core_set_paging(vmic_core *core, const vmic_paging_t *pg)
{
    core->paging = *pg;
    vmic_flush_tlb(core);
}

void vmic_cache_stats(vmic_core *core, vmic_cache_stats_t *st)
{
    *st = core->stats;
}

uint32_t vmic_vcpu_count(vmic_core *core)
{
    return core->info->vcpu_count;
}

vmic_status core_need(vmic_core *core, uint64_t caps, const char *what)
{
    char missing[256];
    uint64_t lacks = caps & ~core->caps;

    if (!lacks)
        return VMIC_OK;
    vmic_caps_describe(lacks, missing, sizeof missing);
    const char *why = core->drv->ops->explain ? core->drv->ops->explain(core->drv, lacks) : NULL;
    return vmic_fail(VMIC_E_UNSUPPORTED, "%s: %s: not supported by the %s driver (no %s)%s%s",
                     core->info->source, what, core->info->driver, missing, why ? ": " : "",
                     why ? why : "");
}

vmic_status vmic_get_regs(vmic_core *core, vmic_vcpu_t vcpu, vmic_amd64_regs_t *regs)
{
    vmic_status s = core_need(core, VMIC_CAP_REGISTERS, "reading registers");
    return s ? s : core->drv->ops->registers->get(core->drv, vcpu, regs);
}

vmic_status vmic_set_regs(vmic_core *core, vmic_vcpu_t vcpu, const vmic_amd64_regs_t *regs)
{
    vmic_status s = core_need(core, VMIC_CAP_SET_REGISTERS, "writing registers");
    return s ? s : core->drv->ops->registers->set(core->drv, vcpu, regs);
}

vmic_status vmic_pause(vmic_core *core)
{
    vmic_status s = core_need(core, VMIC_CAP_PAUSE, "pausing");
    return s ? s : core->drv->ops->control->pause(core->drv);
}

vmic_status vmic_resume(vmic_core *core)
{
    vmic_status s = core_need(core, VMIC_CAP_PAUSE, "resuming");
    return s ? s : core->drv->ops->control->resume(core->drv);
}
