/*
 * Finding guest memory. Memory a driver maps in place is found by region
 * (no copy, no cache); everything else is brought in a page at a time, by
 * map_page or read, into a small set-associative cache.
 */
#include <stdlib.h>
#include <string.h>

#include "base/sigbus.h"
#include "core_internal.h"

#define EMPTY_GFN UINT64_MAX

vmic_status page_cache_init(page_cache *pc, size_t npages)
{
    size_t nsets = round_up_pow2((npages + PAGE_CACHE_WAYS - 1) / PAGE_CACHE_WAYS);
    size_t nslots = nsets * PAGE_CACHE_WAYS;

    pc->nsets = nsets;
    pc->slots = calloc(nslots, sizeof *pc->slots);
    pc->copies = malloc(nslots * VMIC_PAGE_SIZE);
    pc->next_victim = calloc(nsets, 1);
    if (!pc->slots || !pc->copies || !pc->next_victim)
        return vmic_fail(VMIC_E_NOMEM, "core: cannot allocate a page cache of %zu pages", nslots);
    for (size_t i = 0; i < nslots; i++)
        pc->slots[i].gfn = EMPTY_GFN;
    return VMIC_OK;
}

static void slot_release(vmic_core *core, page_slot *slot)
{
    if (slot->gfn != EMPTY_GFN && slot->mapped && core->drv->ops->memory->unmap_page)
        core->drv->ops->memory->unmap_page(core->drv, vmic_gfn(slot->gfn), slot->data);
    slot->gfn = EMPTY_GFN;
    slot->data = NULL;
    slot->mapped = false;
}

void page_cache_free(vmic_core *core)
{
    page_cache *pc = &core->pages;
    if (pc->slots)
        for (size_t i = 0; i < pc->nsets * PAGE_CACHE_WAYS; i++)
            slot_release(core, &pc->slots[i]);
    free(pc->slots);
    free(pc->copies);
    free(pc->next_victim);
    memset(pc, 0, sizeof *pc);
}

void vmic_flush_page_cache(vmic_core *core)
{
    page_cache *pc = &core->pages;
    for (size_t i = 0; i < pc->nsets * PAGE_CACHE_WAYS; i++)
        slot_release(core, &pc->slots[i]);
}

static size_t set_of(const page_cache *pc, uint64_t gfn)
{
    /* Fibonacci hashing spreads strided gfns (page tables, stacks) over sets. */
    return (size_t)((gfn * 0x9e3779b97f4a7c15ull) >> 32) & (pc->nsets - 1);
}

void page_cache_drop(vmic_core *core, uint64_t gfn)
{
    page_cache *pc = &core->pages;
    page_slot *set = &pc->slots[set_of(pc, gfn) * PAGE_CACHE_WAYS];
    for (int w = 0; w < PAGE_CACHE_WAYS; w++)
        if (set[w].gfn == gfn)
            slot_release(core, &set[w]);
}

const vmic_mem_region_t *core_region(vmic_core *core, uint64_t pa)
{
    const vmic_mem_region_t *r = core->last_region;
    if (r && pa - r->start.addr < r->size)
        return r;

    size_t lo = 0, hi = core->info->nregions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        r = &core->info->regions[mid];
        if (pa < r->start.addr)
            hi = mid;
        else if (pa - r->start.addr >= r->size)
            lo = mid + 1;
        else {
            core->last_region = r;
            return r;
        }
    }
    return NULL;
}

static vmic_status page_fill(vmic_core *core, page_slot *slot, uint8_t *copy, uint64_t gfn)
{
    vmic_driver *d = core->drv;
    uint64_t pa = gfn << VMIC_PAGE_SHIFT;
    const vmic_mem_region_t *r = core_region(core, pa);
    vmic_status s;

    if (r && r->host && r->size - (pa - r->start.addr) >= VMIC_PAGE_SIZE) {
        /* A host page that cannot be used in place (misaligned for 8-byte
         * table entries): copy it. */
        uint64_t fault;
        const char *file;
        if (!vmic_guarded_copy(copy, r->host + (pa - r->start.addr), VMIC_PAGE_SIZE, &fault,
                               &file))
            return vmic_fail(VMIC_E_IO, "%s: the file shrank while vmic had it mapped: "
                             "page at pa 0x%llx faulted at file offset 0x%llx", file,
                             (unsigned long long)pa, (unsigned long long)fault);
        slot->data = copy;
        slot->mapped = false;
    } else if (d->ops->memory && d->ops->memory->map_page) {
        const uint8_t *page;
        s = d->ops->memory->map_page(d, vmic_gfn(gfn), &page);
        if (s)
            return s;
        slot->data = page;
        slot->mapped = true;
    } else if (d->ops->memory && d->ops->memory->read) {
        s = d->ops->memory->read(d, vmic_gfn_to_pa(vmic_gfn(gfn)), copy, VMIC_PAGE_SIZE);
        if (s)
            return s;
        slot->data = copy;
        slot->mapped = false;
    } else {
        return vmic_fail(VMIC_E_UNMAPPED, "%s: pa 0x%llx is not in a mapped region and the "
                         "driver cannot read elsewhere", core->info->source,
                         (unsigned long long)(gfn << VMIC_PAGE_SHIFT));
    }
    slot->gfn = gfn;
    return VMIC_OK;
}

static vmic_status cached_page(vmic_core *core, uint64_t gfn, const uint8_t **page)
{
    page_cache *pc = &core->pages;
    size_t set = set_of(pc, gfn);
    page_slot *ways = &pc->slots[set * PAGE_CACHE_WAYS];

    for (int w = 0; w < PAGE_CACHE_WAYS; w++) {
        if (ways[w].gfn == gfn) {
            core->stats.page_hits++;
            *page = ways[w].data;
            return VMIC_OK;
        }
    }

    core->stats.page_misses++;
    unsigned victim = pc->next_victim[set];
    pc->next_victim[set] = (uint8_t)((victim + 1) % PAGE_CACHE_WAYS);
    page_slot *slot = &ways[victim];
    if (slot->gfn != EMPTY_GFN)
        core->stats.page_evictions++;
    slot_release(core, slot);

    uint8_t *copy = pc->copies + (set * PAGE_CACHE_WAYS + victim) * VMIC_PAGE_SIZE;
    vmic_status s = page_fill(core, slot, copy, gfn);
    if (s)
        return s;
    *page = slot->data;
    return VMIC_OK;
}

vmic_status core_map(vmic_core *core, vmic_pa_t pa, const uint8_t **ptr, size_t *len)
{
    const vmic_mem_region_t *r = core_region(core, pa.addr);
    if (!r)
        return vmic_fail(VMIC_E_UNMAPPED, "%s: pa 0x%llx is not guest memory",
                         core->info->source, (unsigned long long)pa.addr);
    if (r->host) {
        uint64_t off = pa.addr - r->start.addr;
        *ptr = r->host + off;
        *len = (size_t)(r->size - off);
        return VMIC_OK;
    }

    const uint8_t *page;
    vmic_status s = cached_page(core, pa.addr >> VMIC_PAGE_SHIFT, &page);
    if (s)
        return s;
    uint64_t off = vmic_page_offset(pa.addr);
    *ptr = page + off;
    *len = (size_t)(VMIC_PAGE_SIZE - off);
    return VMIC_OK;
}

const uint64_t *core_read_table(void *arg, vmic_pa_t table)
{
    vmic_core *core = arg;
    const vmic_mem_region_t *r = core_region(core, table.addr);

    if (!r)
        return NULL;
    if (r->host && r->size - (table.addr - r->start.addr) >= VMIC_PAGE_SIZE) {
        const uint8_t *p = r->host + (table.addr - r->start.addr);
        if (((uintptr_t)p & 7) == 0)
            return (const uint64_t *)(const void *)p;
    }

    const uint8_t *page;
    if (cached_page(core, table.addr >> VMIC_PAGE_SHIFT, &page) != VMIC_OK)
        return NULL;
    return (const uint64_t *)(const void *)page;
}
