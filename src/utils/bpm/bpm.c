/*
 * The breakpoint manager: breakpoints by virtual address, kept on the page
 * their address maps to. Each breakpoint holds a watch of the page-table
 * monitor on its (view, root, va page) for as long as it exists: the watch
 * says whether it can be active now, and its page-ins and page-outs move it
 * (bpm_page_changed). Taps and guards are shared and counted (bpm_taps.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpm.h"
#include "base/grow.h"

static void restore_hook(vmic_core *core, void *arg);

vmic_status vmic_bpm_open(vmic_core *core, vmic_tap *tap, vmic_bpm **out)
{
    vmic_bpm *b = calloc(1, sizeof *b);
    uint32_t nvcpus = vmic_vcpu_count(core) ? vmic_vcpu_count(core) : 1;
    vmic_status s;

    *out = NULL;
    if (!tap)
        return vmic_fail(VMIC_E_INVAL, "vmic_bpm_open: no tap controller");
    if (!b || !(b->pending = calloc(nvcpus, sizeof *b->pending))) {
        free(b);
        vmic_tap_close(tap);
        return vmic_fail(VMIC_E_NOMEM, "no memory for a breakpoint manager");
    }
    b->core = core;
    b->tap = tap;
    b->nvcpus = nvcpus;
    b->taps = (utab)UTAB(bpm_ref);
    b->pages = (utab)UTAB(bpm_ref);
    b->ledger = tap->ledger ? ledger_ref(tap->ledger) : ledger_new(core);
    if (!b->ledger) {
        vmic_bpm_close(b);
        return vmic_fail(VMIC_E_NOMEM, "no memory for a breakpoint manager");
    }
    /* Without write traps nothing can watch page tables: pending
     * breakpoints then wait for vmic_bpm_rescan. */
    if (vmic_core_has(core, VMIC_CAP_VIEWS | VMIC_CAP_DATA_TRAPS | VMIC_CAP_EVENTS) &&
        (s = ptm_open_shared(core, b->ledger, &b->ptm))) {
        vmic_bpm_close(b);
        return s;
    }
    if ((s = vmic_add_restore_hook(core, restore_hook, b))) {
        vmic_bpm_close(b);
        return s;
    }
    b->hooked = true;
    *out = b;
    return VMIC_OK;
}

void vmic_bpm_close(vmic_bpm *b)
{
    if (!b)
        return;
    vmic_bpm_clear(b);
    if (b->hooked)
        vmic_remove_restore_hook(b->core, restore_hook, b);
    vmic_ptm_close(b->ptm);
    vmic_tap_close(b->tap);
    ledger_unref(b->ledger);
    utab_free(&b->taps);
    utab_free(&b->pages);
    free(b->entries);
    free(b->pending);
    free(b);
}

vmic_tap *vmic_bpm_tap(vmic_bpm *b)
{
    return b->tap;
}

vmic_core *vmic_bpm_core(vmic_bpm *b)
{
    return b->core;
}

vmic_ptm *bpm_ptm(vmic_bpm *b)
{
    return b->ptm;
}

vmic_bpm_stats_t *bpm_stats_ref(vmic_bpm *b)
{
    return &b->stats;
}

bpm_pending *bpm_pending_of(vmic_bpm *b, vmic_vcpu_t vcpu)
{
    return vcpu < b->nvcpus ? &b->pending[vcpu] : NULL;
}

void vmic_bpm_stats(vmic_bpm *b, vmic_bpm_stats_t *out)
{
    *out = b->stats;
    out->taps = b->taps.n;
    out->pages = b->pages.n;
}

/* ---- the own view ------------------------------------------------------------------ */

bool vmic_bpm_own_view(vmic_bpm *b, vmic_view_t *view)
{
    if (b->own_live && view)
        *view = b->own_view;
    return b->own_live;
}

/* Created with its first user, every vCPU moved in; destroyed with the last,
 * which moves them back to view 0. */
static vmic_status own_view_acquire(vmic_bpm *b)
{
    vmic_status s;
    if (!b->own_live) {
        if ((s = vmic_create_view(b->core, &b->own_view)))
            return s;
        if ((s = vmic_switch_view(b->core, b->own_view))) {
            vmic_destroy_view(b->core, b->own_view);
            return s;
        }
        b->own_live = true;
    }
    b->own_users++;
    return VMIC_OK;
}

static vmic_status own_view_release(vmic_bpm *b)
{
    if (!b->own_live || --b->own_users)
        return VMIC_OK;
    b->own_live = false;
    return vmic_destroy_view(b->core, b->own_view);
}

/* ---- inserting and removing ----------------------------------------------------------- */

static bool same_breakpoint(const vmic_breakpoint_t *a, const vmic_breakpoint_t *b)
{
    return a->key == b->key && a->view == b->view && a->va.addr == b->va.addr &&
           a->global == b->global && (a->global || root_of(a->root) == root_of(b->root));
}

static bpm_entry *entry_find(vmic_bpm *b, const vmic_breakpoint_t *bp)
{
    for (size_t i = 0; i < b->n; i++)
        if (same_breakpoint(&b->entries[i].bp, bp))
            return &b->entries[i];
    return NULL;
}

static bool uses_own_view(const vmic_bpm *b, const vmic_breakpoint_t *bp)
{
    return b->tap->ops->views && bp->view == VMIC_VIEW_DEFAULT;
}

/* Where va translates now: the watch's answer, or a walk without one. */
static vmic_status watch(vmic_bpm *b, const bpm_entry *e, bool *present, vmic_pa_t *page)
{
    if (b->ptm)
        return vmic_ptm_watch(b->ptm, e->tap_view, e->bp.root, e->bp.va, present, page);
    vmic_translation_t t;
    *present = vmic_translate_walk(b->core, vmic_ctx(e->bp.root), e->bp.va, &t) == VMIC_OK;
    *page = vmic_pa(t.pa.addr & VMIC_PAGE_MASK);
    vmic_clear_error();
    return VMIC_OK;
}

static vmic_status unwatch(vmic_bpm *b, const bpm_entry *e)
{
    return b->ptm ? vmic_ptm_unwatch(b->ptm, e->tap_view, e->bp.root, e->bp.va) : VMIC_OK;
}

static vmic_status grow(vmic_bpm *b)
{
    if (!VMIC_GROW(b->entries, b->n, b->cap, 16))
        return vmic_fail(VMIC_E_NOMEM, "no memory for breakpoints");
    return VMIC_OK;
}

vmic_status vmic_bpm_insert(vmic_bpm *b, const vmic_breakpoint_t *bp)
{
    bpm_entry e = {.bp = *bp};
    bool present;
    vmic_pa_t page;
    vmic_status s;

    e.bp.root = vmic_pa(root_of(bp->root));
    if (entry_find(b, &e.bp))
        return vmic_fail(VMIC_E_BUSY, "a breakpoint with key %llu at va 0x%llx (view %u) is "
                         "set already", (unsigned long long)bp->key,
                         (unsigned long long)bp->va.addr, bp->view);
    if ((s = grow(b)))
        return s;
    bool own = uses_own_view(b, bp);
    if (own && (s = own_view_acquire(b)))
        return s;
    e.tap_view = own ? b->own_view : b->tap->ops->views ? bp->view : VMIC_VIEW_DEFAULT;
    bool watched = (s = watch(b, &e, &present, &page)) == VMIC_OK;
    if (watched && present)
        s = entry_activate(b, &e, vmic_pa(page.addr | vmic_page_offset(bp->va.addr)));
    if (s) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", vmic_errmsg());
        if (watched)
            unwatch(b, &e);
        if (own)
            own_view_release(b);
        return vmic_fail(s, "breakpoint at va 0x%llx: %s", (unsigned long long)bp->va.addr, msg);
    }
    b->entries[b->n++] = e;
    return VMIC_OK;
}

/* Takes entry i out: tap, watch, own view. */
static vmic_status entry_drop(vmic_bpm *b, size_t i)
{
    bpm_entry e = b->entries[i];
    b->entries[i] = b->entries[--b->n];
    vmic_status s = entry_deactivate(b, &e);
    vmic_status r = unwatch(b, &e);
    if (s == VMIC_OK)
        s = r;
    if (uses_own_view(b, &e.bp)) {
        r = own_view_release(b);
        if (s == VMIC_OK)
            s = r;
    }
    return s;
}

vmic_status vmic_bpm_remove(vmic_bpm *b, const vmic_breakpoint_t *bp)
{
    vmic_breakpoint_t key = *bp;
    key.root = vmic_pa(root_of(bp->root));
    bpm_entry *e = entry_find(b, &key);
    if (!e)
        return vmic_fail(VMIC_E_NOTFOUND, "no breakpoint with key %llu at va 0x%llx (view %u)",
                         (unsigned long long)bp->key, (unsigned long long)bp->va.addr, bp->view);
    return entry_drop(b, (size_t)(e - b->entries));
}

vmic_status vmic_bpm_remove_by_view(vmic_bpm *b, vmic_view_t view, size_t *removed)
{
    vmic_status s = VMIC_OK;
    size_t count = 0;
    for (size_t i = b->n; i-- > 0;) {
        if (b->entries[i].bp.view != view)
            continue;
        vmic_status r = entry_drop(b, i);
        if (s == VMIC_OK)
            s = r;
        count++;
    }
    if (removed)
        *removed = count;
    return s;
}

vmic_status vmic_bpm_clear(vmic_bpm *b)
{
    vmic_status s = VMIC_OK;
    while (b->n) {
        vmic_status r = entry_drop(b, b->n - 1);
        if (s == VMIC_OK)
            s = r;
    }
    /* Whatever a failure above left is taken away all the same. */
    vmic_status r = tap_clear(b->tap);
    if (s == VMIC_OK)
        s = r;
    if (b->ptm && (r = ptm_clear(b->ptm)) && s == VMIC_OK)
        s = r;
    b->taps.n = b->pages.n = 0;
    if (b->own_live) {
        b->own_users = 1;
        own_view_release(b);
    }
    /* Work owed to a vCPU at its single-step stays owed: a vCPU sent to view
     * 0 for a write-through must still come back. */
    return s;
}

/* Every session end (and the core's close) clears the manager: whatever a
 * session changed must not outlive it. The driver cancels every step
 * then, so nothing is owed any more. */
static void restore_hook(vmic_core *core, void *arg)
{
    vmic_bpm *b = arg;
    vmic_bpm_clear(b);
    memset(b->pending, 0, b->nvcpus * sizeof *b->pending);
}

/* ---- following the page tables -------------------------------------------------------------- */

static bool entry_watched_by(const bpm_entry *e, const vmic_page_event_t *pe)
{
    return e->tap_view == pe->view && e->bp.root.addr == pe->root.addr &&
           (e->bp.va.addr & VMIC_PAGE_MASK) == pe->va.addr;
}

void bpm_page_changed(vmic_bpm *b, const vmic_page_event_t *pe)
{
    if (pe->change == VMIC_PAGE_IN)
        b->stats.page_ins++;
    else
        b->stats.page_outs++;
    for (size_t i = 0; i < b->n; i++) {
        bpm_entry *e = &b->entries[i];
        if (!entry_watched_by(e, pe))
            continue;
        if (pe->change == VMIC_PAGE_OUT) {
            if (e->active && (e->pa.addr & VMIC_PAGE_MASK) == pe->pa.addr)
                entry_deactivate(b, e);
        } else if (!e->active &&
                   entry_activate(b, e, vmic_pa(pe->pa.addr | vmic_page_offset(e->bp.va.addr)))) {
            /* It stays pending; a later page-in tries again. */
            b->stats.activation_failures++;
        }
    }
}

vmic_status vmic_bpm_rescan(vmic_bpm *b)
{
    for (size_t i = 0; i < b->n; i++) {
        bpm_entry *e = &b->entries[i];
        vmic_translation_t t;
        if (e->active)
            continue;
        if (vmic_translate_walk(b->core, vmic_ctx(e->bp.root), e->bp.va, &t)) {
            vmic_clear_error(); /* still not mapped: still pending */
            continue;
        }
        vmic_status s = entry_activate(b, e, t.pa);
        if (s)
            return s;
    }
    return VMIC_OK;
}
