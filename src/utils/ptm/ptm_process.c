/*
 * Page-table writes: a write to a watched table page marks that page dirty
 * for the writing vCPU; once the writing instruction has completed, each
 * translation through a dirty page is walked again. Dirty pages are kept per
 * vCPU because only the writing vCPU's own write is known to be complete at
 * its single-step: another vCPU's may still be under way.
 */
#include <stdlib.h>
#include <string.h>

#include "ptm.h"
#include "base/grow.h"

bool vmic_ptm_mark_dirty(vmic_ptm *ptm, const vmic_event_t *ev)
{
    if (ev->kind != VMIC_EVENT_MEMORY_ACCESS || ev->memory.access != VMIC_ACCESS_W ||
        !tables_has_gfn(ptm, ev->memory.gfn.num))
        return false;
    ptm->stats.writes++;
    if (ev->vcpu >= ptm->nvcpus)
        return true; /* no such vCPU: nothing will be processed for it */
    ptm_dirty *d = &ptm->dirty[ev->vcpu];
    for (size_t i = 0; i < d->n; i++)
        if (d->gfns[i] == ev->memory.gfn.num)
            return true;
    if (d->n < PTM_DIRTY_MAX)
        d->gfns[d->n++] = ev->memory.gfn.num;
    else
        d->all = true;
    return true;
}

bool vmic_ptm_dirty(const vmic_ptm *ptm, vmic_vcpu_t vcpu)
{
    return vcpu < ptm->nvcpus && (ptm->dirty[vcpu].n || ptm->dirty[vcpu].all);
}

static bool uses_dirty(const ptm_watch *w, const ptm_dirty *d)
{
    if (d->all)
        return true;
    for (size_t i = 0; i < w->ntables; i++)
        for (size_t j = 0; j < d->n; j++)
            if (w->tables[i] == d->gfns[j])
                return true;
    return false;
}

/* Changes found while walking, reported once every watch is up to date: a
 * callback may unwatch. */
typedef struct change_list {
    vmic_page_event_t *ev;
    size_t n, cap;
} change_list;

static vmic_status note(change_list *c, vmic_page_change what, const ptm_watch *w, uint64_t pa)
{
    if (!VMIC_GROW(c->ev, c->n, c->cap, 8))
        return vmic_fail(VMIC_E_NOMEM, "no memory for page-table changes");
    c->ev[c->n++] = (vmic_page_event_t){.change = what, .view = w->view, .root = vmic_pa(w->root),
                                        .va = vmic_va(w->va), .pa = vmic_pa(pa)};
    return VMIC_OK;
}

/* Walks w again: its table pages follow the new walk (the new ones
 * protected before the old ones are let go), its changes are noted. */
static vmic_status rewalk(vmic_ptm *ptm, ptm_watch *w, change_list *c)
{
    ptm_walk now;
    ptm_walk_now(ptm, w->root, w->va, &now);
    ptm->stats.walks++;
    vmic_status s = tables_acquire(ptm, w->view, now.tables, now.ntables);
    if (s)
        return s;
    /* A table left protected only costs an event nobody claims (answered
     * Continue): the walk goes on rather than losing the other watches. */
    if (tables_release(ptm, w->view, w->tables, w->ntables))
        vmic_clear_error();
    w->ntables = now.ntables;
    memcpy(w->tables, now.tables, sizeof w->tables);

    bool moved = w->present && now.present && w->pa != now.pa;
    if (w->present && (!now.present || moved)) {
        ptm->stats.page_outs++;
        if ((s = note(c, VMIC_PAGE_OUT, w, w->pa)))
            return s;
    }
    if (now.present && (!w->present || moved)) {
        ptm->stats.page_ins++;
        if ((s = note(c, VMIC_PAGE_IN, w, now.pa)))
            return s;
    }
    w->present = now.present;
    w->pa = now.pa;
    return VMIC_OK;
}

vmic_status vmic_ptm_process(vmic_ptm *ptm, vmic_vcpu_t vcpu, vmic_page_fn fn, void *arg)
{
    change_list c = {0};
    vmic_status s = VMIC_OK;

    if (vcpu >= ptm->nvcpus)
        return VMIC_OK;
    ptm_dirty d = ptm->dirty[vcpu];
    memset(&ptm->dirty[vcpu], 0, sizeof d);
    for (size_t i = 0; i < ptm->n && s == VMIC_OK; i++)
        if (uses_dirty(&ptm->watches[i], &d))
            s = rewalk(ptm, &ptm->watches[i], &c);
    /* The guest changed its tables behind the core's back. */
    if (c.n)
        vmic_flush_tlb(ptm->core);
    for (size_t i = 0; i < c.n && fn; i++)
        fn(&c.ev[i], arg);
    free(c.ev);
    return s;
}
