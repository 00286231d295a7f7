/*
 * The translation cache: (root, 4 KiB va page) -> 4 KiB pa page, two-way set
 * associative, both ways in one host cache line. Large pages are cached one
 * 4 KiB piece at a time, as they are used, so a lookup reads one set and
 * nothing else. The set index is in core_internal.h, with the inline lookup.
 */
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"


vmic_status tlb_init(tlb *t, size_t entries)
{
    size_t n = round_up_pow2(entries < 2 ? 2 : entries);
    t->entries = calloc(n, sizeof *t->entries);
    if (!t->entries)
        return vmic_fail(VMIC_E_NOMEM, "core: cannot allocate a translation cache of %zu entries",
                         n);
    t->mask = n - 1;
    tlb_clear(t);
    return VMIC_OK;
}

void tlb_free(tlb *t)
{
    free(t->entries);
    t->entries = NULL;
}

void tlb_clear(tlb *t)
{
    if (t->gen == 0 || t->gen == TLB_GEN_MAX) {
        memset(t->entries, 0, (t->mask + 1) * sizeof *t->entries);
        memset(t->root_gen, 0, sizeof t->root_gen);
        t->gen = 0;
    }
    t->gen++;
    memset(t->pt_pages, 0, sizeof t->pt_pages);
    t->nroots = 0;
    t->last_root = 0;
    t->last_id = 0;
}

uint16_t tlb_root_id(vmic_core *core, vmic_pa_t root_pa, bool assign)
{
    uint64_t root = root_pa.addr;
    tlb *t = &core->tlb;
    if (t->last_id && t->last_root == root)
        return t->last_id;

    size_t i = (size_t)((root >> 12) * TLB_GOLDEN >> 40) & (TLB_ROOT_SLOTS - 1);
    /* Slots of an older generation are free: every one is after a flush,
     * so a probe never runs past a live slot it should have seen. */
    while (t->root_gen[i] == t->gen && t->root_slots[i]) {
        if (t->root_slots[i] == (root | 1))
            goto found;
        i = (i + 1) & (TLB_ROOT_SLOTS - 1);
    }
    if (!assign)
        return 0;
    if (t->nroots + 1 >= TLB_MAX_ROOTS) {
        /* Thousands of address spaces: start afresh rather than grow. */
        vmic_flush_tlb(core);
        return tlb_root_id(core, root_pa, true);
    }
    t->root_slots[i] = root | 1;
    t->root_gen[i] = t->gen;
    t->root_ids[i] = ++t->nroots;
found:
    t->last_root = root;
    t->last_id = t->root_ids[i];
    return t->last_id;
}

static inline size_t pt_bit(uint64_t gfn)
{
    return (size_t)((gfn * TLB_GOLDEN) >> 48) % PT_PAGE_BITS;
}

void tlb_insert(vmic_core *core, vmic_pa_t root, const vmic_translation_t *tr)
{
    tlb *t = &core->tlb;
    uint16_t id = tlb_root_id(core, root, true);
    uint64_t vpn = (tr->va.addr >> VMIC_PAGE_SHIFT) & 0x1fffffffffffull;
    tlb_entry *set = tlb_set(t, vpn, id);

    /* The newest goes in way 0, the previous one moves to way 1. */
    set[1] = set[0];
    set[0].key = vpn << 16 | id;
    set[0].pfn = (tr->pa.addr >> VMIC_PAGE_SHIFT) | ((uint64_t)t->gen << TLB_PFN_BITS);
    for (unsigned i = 0; i < tr->nsteps; i++) {
        size_t bit = pt_bit(tr->steps[i].table.addr >> VMIC_PAGE_SHIFT);
        t->pt_pages[bit / 64] |= 1ull << (bit % 64);
    }
}

void vmic_flush_tlb(vmic_core *core)
{
    tlb_clear(&core->tlb);
    core->stats.tlb_flushes++;
}

void tlb_note_write(vmic_core *core, vmic_pa_t pa, size_t len)
{
    if (len == 0)
        return;
    uint64_t first = pa.addr >> VMIC_PAGE_SHIFT;
    uint64_t last = (pa.addr + len - 1) >> VMIC_PAGE_SHIFT;
    for (uint64_t gfn = first; gfn <= last; gfn++) {
        size_t bit = pt_bit(gfn);
        if (core->tlb.pt_pages[bit / 64] & (1ull << (bit % 64))) {
            vmic_flush_tlb(core);
            return;
        }
    }
}
