/*
 * Making a breakpoint active and pending again. Breakpoints on one address
 * share one tap, taps on one page share the page's guard; each is placed by
 * the first that needs it and removed with the last. The guard comes after
 * the tap: a shadow page must exist before its gfn is made execute-only.
 */
#include "bpm.h"

static ukey tap_key(const vmic_bpm *b, const bpm_entry *e, vmic_pa_t pa)
{
    return ukey_of(e->tap_view, b->tap->ops->by_va ? e->bp.va.addr : pa.addr);
}

static bool guards_pages(const vmic_bpm *b)
{
    return b->tap->ops->monitor != NULL;
}

static vmic_status tap_acquire(vmic_bpm *b, bpm_entry *e, vmic_pa_t pa)
{
    ukey k = tap_key(b, e, pa);
    bpm_ref *r = utab_find(&b->taps, k);
    if (r) {
        r->refs++;
        return VMIC_OK;
    }
    vmic_status s = vmic_tap_insert(b->tap, e->tap_view, e->bp.va, pa);
    if (s)
        return s;
    if (!(r = utab_add(&b->taps, k))) {
        vmic_tap_remove(b->tap, e->tap_view, e->bp.va, pa);
        return vmic_fail(VMIC_E_NOMEM, "no memory for the breakpoint manager's taps");
    }
    r->refs = 1;
    return VMIC_OK;
}

static vmic_status tap_release(vmic_bpm *b, bpm_entry *e, vmic_pa_t pa)
{
    bpm_ref *r = utab_find(&b->taps, tap_key(b, e, pa));
    if (!r || --r->refs)
        return VMIC_OK;
    utab_del(&b->taps, r);
    return vmic_tap_remove(b->tap, e->tap_view, e->bp.va, pa);
}

static vmic_status page_acquire(vmic_bpm *b, vmic_view_t view, vmic_gfn_t gfn)
{
    ukey k = ukey_of(view, gfn.num);
    bpm_ref *r = utab_find(&b->pages, k);
    if (r) {
        r->refs++;
        return VMIC_OK;
    }
    vmic_status s = vmic_tap_monitor(b->tap, view, gfn);
    if (s)
        return s;
    if (!(r = utab_add(&b->pages, k))) {
        vmic_tap_unmonitor(b->tap, view, gfn);
        return vmic_fail(VMIC_E_NOMEM, "no memory for the breakpoint manager's pages");
    }
    r->refs = 1;
    return VMIC_OK;
}

static vmic_status page_release(vmic_bpm *b, vmic_view_t view, vmic_gfn_t gfn)
{
    bpm_ref *r = utab_find(&b->pages, ukey_of(view, gfn.num));
    if (!r || --r->refs)
        return VMIC_OK;
    utab_del(&b->pages, r);
    return vmic_tap_unmonitor(b->tap, view, gfn);
}

vmic_status entry_activate(vmic_bpm *b, bpm_entry *e, vmic_pa_t pa)
{
    vmic_status s;
    if (e->active)
        return VMIC_OK;
    if ((s = tap_acquire(b, e, pa)))
        return s;
    if (guards_pages(b) && (s = page_acquire(b, e->tap_view, vmic_pa_to_gfn(pa)))) {
        tap_release(b, e, pa);
        return s;
    }
    e->active = true;
    e->pa = pa;
    b->stats.activations++;
    return VMIC_OK;
}

vmic_status entry_deactivate(vmic_bpm *b, bpm_entry *e)
{
    if (!e->active)
        return VMIC_OK;
    e->active = false;
    b->stats.deactivations++;
    vmic_status s = tap_release(b, e, e->pa);
    if (guards_pages(b)) {
        vmic_status r = page_release(b, e->tap_view, vmic_pa_to_gfn(e->pa));
        if (s == VMIC_OK)
            s = r;
    }
    e->pa = vmic_pa(0);
    return s;
}
