/*
 * Table pages under watch: each (gfn, view) counts the watches whose walk
 * reads it, and is write-protected while any does -- in the watch's view,
 * and in view 0 too, because step-overs run single instructions there and a
 * page-table write made by one of them must not go unseen.
 */
#include "ptm.h"

static vmic_status protect(vmic_ptm *ptm, vmic_view_t view, uint64_t gfn)
{
    vmic_status s = ledger_restrict(ptm->ledger, view, vmic_gfn(gfn), VMIC_ACCESS_W);
    if (s || view == VMIC_VIEW_DEFAULT)
        return s;
    if ((s = ledger_restrict(ptm->ledger, VMIC_VIEW_DEFAULT, vmic_gfn(gfn), VMIC_ACCESS_W)))
        ledger_release(ptm->ledger, view, vmic_gfn(gfn), VMIC_ACCESS_W);
    return s;
}

/* Both views are given their W back even if one refuses: the first
 * refusal is the answer. */
static vmic_status unprotect(vmic_ptm *ptm, vmic_view_t view, uint64_t gfn)
{
    vmic_status s = ledger_release(ptm->ledger, view, vmic_gfn(gfn), VMIC_ACCESS_W);
    if (view != VMIC_VIEW_DEFAULT) {
        vmic_status r = ledger_release(ptm->ledger, VMIC_VIEW_DEFAULT, vmic_gfn(gfn),
                                       VMIC_ACCESS_W);
        if (s == VMIC_OK)
            s = r;
    }
    return s;
}

static vmic_status acquire_one(vmic_ptm *ptm, vmic_view_t view, uint64_t gfn)
{
    ukey k = ukey_of(gfn, view);
    ptm_table *t = utab_find(&ptm->tables, k);
    if (t) {
        t->refs++;
        return VMIC_OK;
    }
    /* A hostile guest can point its tables outside RAM, where no page can
     * be protected: such a table is read, not watched. */
    vmic_status s = protect(ptm, view, gfn);
    if (s && s != VMIC_E_UNMAPPED)
        return s;
    if (!(t = utab_add(&ptm->tables, k))) {
        if (s == VMIC_OK)
            unprotect(ptm, view, gfn);
        return vmic_fail(VMIC_E_NOMEM, "no memory for the page-table monitor's tables");
    }
    t->refs = 1;
    t->protected = s == VMIC_OK;
    vmic_clear_error();
    return VMIC_OK;
}

static vmic_status release_one(vmic_ptm *ptm, vmic_view_t view, uint64_t gfn)
{
    ptm_table *t = utab_find(&ptm->tables, ukey_of(gfn, view));
    if (!t || --t->refs)
        return VMIC_OK;
    bool was_protected = t->protected;
    utab_del(&ptm->tables, t);
    return was_protected ? unprotect(ptm, view, gfn) : VMIC_OK;
}

vmic_status tables_acquire(vmic_ptm *ptm, vmic_view_t view, const uint64_t *gfns, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        vmic_status s = acquire_one(ptm, view, gfns[i]);
        if (s) {
            tables_release(ptm, view, gfns, i);
            return s;
        }
    }
    return VMIC_OK;
}

vmic_status tables_release(vmic_ptm *ptm, vmic_view_t view, const uint64_t *gfns, size_t n)
{
    vmic_status s = VMIC_OK;
    for (size_t i = 0; i < n; i++) {
        vmic_status r = release_one(ptm, view, gfns[i]);
        if (s == VMIC_OK)
            s = r;
    }
    return s;
}

bool tables_has_gfn(const vmic_ptm *ptm, uint64_t gfn)
{
    size_t i = utab_lower_bound(&ptm->tables, ukey_of(gfn, 0));
    if (i == ptm->tables.n)
        return false;
    const ptm_table *t = utab_at(&ptm->tables, i);
    return t->key.hi == gfn && t->protected;
}
