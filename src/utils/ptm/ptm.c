/*
 * The page-table monitor: watched translations, each with the table pages
 * its walk reads (ptm_tables.c protects them). What a write to one of them
 * changed is found in ptm_process.c.
 */
#include <stdlib.h>
#include <string.h>

#include "ptm.h"
#include "base/grow.h"

/* The walk is the core's: bounded by the paging levels, tables read only
 * inside guest memory. Every table page it read is watched, the one whose
 * entry was not present included: that entry is where a mapping appears. */
void ptm_walk_now(vmic_ptm *ptm, vmic_pa_t root, vmic_va_t va, ptm_walk *w)
{
    vmic_translation_t t;
    vmic_status s = vmic_translate_walk(ptm->core, vmic_ctx(root), va, &t);

    memset(w, 0, sizeof *w);
    w->present = s == VMIC_OK;
    w->pa = t.pa.addr & VMIC_PAGE_MASK;
    size_t n = t.nsteps;
    if (t.fault == VMIC_WALK_NO_TABLE && n > 0)
        n--; /* that table is outside guest memory: nothing to watch */
    for (size_t i = 0; i < n && i < PTM_MAX_TABLES; i++) {
        uint64_t gfn = t.steps[i].table.addr >> VMIC_PAGE_SHIFT;
        bool seen = false;
        for (size_t j = 0; j < w->ntables; j++)
            seen |= w->tables[j] == gfn; /* a table can serve at two levels */
        if (!seen)
            w->tables[w->ntables++] = gfn;
    }
    if (s)
        vmic_clear_error(); /* not translating is an answer here, not a failure */
}

vmic_status ptm_open_shared(vmic_core *core, ledger *l, vmic_ptm **out)
{
    vmic_ptm *ptm = calloc(1, sizeof *ptm);
    uint32_t nvcpus = vmic_vcpu_count(core) ? vmic_vcpu_count(core) : 1;

    *out = NULL;
    if (!vmic_core_has(core, VMIC_CAP_VIEWS | VMIC_CAP_DATA_TRAPS | VMIC_CAP_EVENTS)) {
        free(ptm);
        const vmic_driver_info_t *info = vmic_core_info(core);
        return vmic_fail(VMIC_E_UNSUPPORTED, "%s: the page-table monitor write-protects table "
                         "pages, which needs views with write traps; the %s driver has none",
                         info->source, info->driver);
    }
    if (!ptm || !(ptm->dirty = calloc(nvcpus, sizeof *ptm->dirty))) {
        free(ptm);
        return vmic_fail(VMIC_E_NOMEM, "no memory for a page-table monitor");
    }
    ptm->core = core;
    ptm->ledger = ledger_ref(l);
    ptm->tables = (utab)UTAB(ptm_table);
    ptm->nvcpus = nvcpus;
    *out = ptm;
    return VMIC_OK;
}

/* A monitor of its own is cleared by every session end, like a manager
 * (one inside a manager is cleared by the manager's). */
static void restore_hook(vmic_core *core, void *arg)
{
    ptm_clear(arg);
}

vmic_status vmic_ptm_open(vmic_core *core, vmic_ptm **out)
{
    ledger *l = ledger_new(core);
    if (!l)
        return vmic_fail(VMIC_E_NOMEM, "no memory for a page-table monitor");
    vmic_status s = ptm_open_shared(core, l, out);
    ledger_unref(l);
    if (s == VMIC_OK && (s = vmic_add_restore_hook(core, restore_hook, *out))) {
        vmic_ptm_close(*out);
        *out = NULL;
    }
    if (s == VMIC_OK)
        (*out)->hooked = true;
    return s;
}

vmic_status ptm_clear(vmic_ptm *ptm)
{
    vmic_status s = VMIC_OK;
    while (ptm->n) {
        ptm_watch *w = &ptm->watches[--ptm->n];
        vmic_status r = tables_release(ptm, w->view, w->tables, w->ntables);
        if (s == VMIC_OK)
            s = r;
    }
    memset(ptm->dirty, 0, ptm->nvcpus * sizeof *ptm->dirty);
    return s;
}

void vmic_ptm_close(vmic_ptm *ptm)
{
    if (!ptm)
        return;
    ptm_clear(ptm);
    if (ptm->hooked)
        vmic_remove_restore_hook(ptm->core, restore_hook, ptm);
    ledger_unref(ptm->ledger);
    utab_free(&ptm->tables);
    free(ptm->watches);
    free(ptm->dirty);
    free(ptm);
}

static ptm_watch *watch_find(vmic_ptm *ptm, vmic_view_t view, uint64_t root, uint64_t va)
{
    for (size_t i = 0; i < ptm->n; i++) {
        ptm_watch *w = &ptm->watches[i];
        if (w->view == view && w->root == root && w->va == va)
            return w;
    }
    return NULL;
}

vmic_status vmic_ptm_watch(vmic_ptm *ptm, vmic_view_t view, vmic_pa_t root, vmic_va_t va,
                           bool *present, vmic_pa_t *pa)
{
    uint64_t r = vmic_cr3_to_root(root.addr).addr, page = va.addr & VMIC_PAGE_MASK;
    ptm_watch *w = watch_find(ptm, view, r, page);

    if (!w) {
        if (!VMIC_GROW(ptm->watches, ptm->n, ptm->cap, 16))
            return vmic_fail(VMIC_E_NOMEM, "no memory for a page-table watch");
        ptm_walk walk;
        ptm_walk_now(ptm, vmic_pa(r), vmic_va(page), &walk);
        vmic_status s = tables_acquire(ptm, view, walk.tables, walk.ntables);
        if (s)
            return vmic_fail_wrap(s, "watching va 0x%llx in root 0x%llx",
                                  (unsigned long long)va.addr, (unsigned long long)r);
        w = &ptm->watches[ptm->n++];
        *w = (ptm_watch){.view = view, .root = r, .va = page, .present = walk.present,
                         .pa = walk.pa, .ntables = walk.ntables};
        memcpy(w->tables, walk.tables, sizeof w->tables);
    }
    w->refs++;
    if (present)
        *present = w->present;
    if (pa)
        *pa = vmic_pa(w->present ? w->pa : 0);
    return VMIC_OK;
}

vmic_status vmic_ptm_unwatch(vmic_ptm *ptm, vmic_view_t view, vmic_pa_t root, vmic_va_t va)
{
    uint64_t r = vmic_cr3_to_root(root.addr).addr, page = va.addr & VMIC_PAGE_MASK;
    ptm_watch *w = watch_find(ptm, view, r, page);
    if (!w)
        return vmic_fail(VMIC_E_NOTFOUND, "page-table monitor: va 0x%llx in root 0x%llx, view "
                         "%u, is not watched", (unsigned long long)va.addr,
                         (unsigned long long)r, view);
    if (--w->refs)
        return VMIC_OK;
    vmic_status s = tables_release(ptm, w->view, w->tables, w->ntables);
    *w = ptm->watches[--ptm->n];
    return s;
}

void vmic_ptm_stats(const vmic_ptm *ptm, vmic_ptm_stats_t *out)
{
    *out = ptm->stats;
    out->watches = ptm->n;
    out->tables = ptm->tables.n;
}
