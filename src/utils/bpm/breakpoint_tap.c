/*
 * The breakpoint controller: INT3 bytes in a shadow copy of the page.
 *
 * The first tap on a (view, gfn) copies the page into a spare gfn
 * (vmic_alloc_gfn) and remaps the gfn to it in that view; each tap writes
 * 0xCC into the shadow and keeps the byte it hides. The original page is
 * never written: view 0, where step-overs run, sees clean code. The page's
 * guard makes it execute-only in the view, so that the guest's reads of its
 * own code are served from view 0 (the original bytes) and its writes land
 * in the original and are copied into the shadow again (resync), INT3s kept.
 * With `visible` the guard keeps R: reads see the shadow, INT3s included.
 *
 * An INT3 event is this controller's only where it placed one: any other
 * INT3 (the guest's own) is not, and the dispatch reinjects it.
 */
#include <stdlib.h>
#include <string.h>

#include "../utils_internal.h"
#include "base/grow.h"

#define INT3 0xcc

typedef struct shadow_bp {
    uint16_t offset;
    uint8_t hidden;            /* the original byte under the INT3 */
} shadow_bp;

typedef struct shadow_page {
    ukey key;                  /* view, gfn */
    vmic_gfn_t shadow;
    shadow_bp *bps;
    size_t n, cap;
} shadow_page;

typedef struct guard {
    ukey key;                  /* view, gfn */
} guard;

typedef struct breakpoint_tap {
    vmic_tap base;
    bool visible;
    utab shadows;
    utab guards;
    size_t taps;               /* INT3s placed, over every page */
    bool int3_monitor;         /* vmic enabled INT3 events for them */
} breakpoint_tap;

static breakpoint_tap *bt_of(vmic_tap *t)
{
    return (breakpoint_tap *)t;
}

static shadow_bp *bp_at(shadow_page *p, uint16_t offset)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->bps[i].offset == offset)
            return &p->bps[i];
    return NULL;
}

static vmic_status int3_monitor(breakpoint_tap *b, bool on)
{
    vmic_monitor_t m = {.kind = VMIC_MONITOR_INTERRUPT, .vector = 3};
    if (b->int3_monitor == on)
        return VMIC_OK;
    vmic_status s = on ? vmic_monitor_enable(b->base.core, &m)
                       : vmic_monitor_disable(b->base.core, &m);
    if (s == VMIC_OK)
        b->int3_monitor = on;
    return s;
}

/* ---- the shadow page ------------------------------------------------------------ */

/* The original page into the shadow, each INT3 written again over the byte
 * that is there now (which becomes the hidden one). */
static vmic_status shadow_copy(vmic_core *core, shadow_page *p)
{
    uint8_t page[VMIC_PAGE_SIZE];
    vmic_status s = vmic_read_pa(core, vmic_gfn_to_pa(vmic_gfn(p->key.lo)), page, sizeof page);
    if (s)
        return s;
    for (size_t i = 0; i < p->n; i++) {
        p->bps[i].hidden = page[p->bps[i].offset];
        page[p->bps[i].offset] = INT3;
    }
    return vmic_write_pa(core, vmic_gfn_to_pa(p->shadow), page, sizeof page);
}

static vmic_status shadow_create(breakpoint_tap *b, vmic_view_t view, vmic_gfn_t gfn,
                                 shadow_page **out)
{
    vmic_core *core = b->base.core;
    vmic_gfn_t shadow;
    vmic_status s = vmic_alloc_gfn(core, &shadow);
    if (s)
        return s;
    shadow_page copy = {.key = ukey_of(view, gfn.num), .shadow = shadow};
    if ((s = shadow_copy(core, &copy)) || (s = vmic_remap_gfn(core, view, gfn, shadow))) {
        vmic_free_gfn(core, shadow);
        return s;
    }
    shadow_page *p = utab_add(&b->shadows, copy.key);
    if (!p) {
        vmic_remap_gfn(core, view, gfn, gfn);
        vmic_free_gfn(core, shadow);
        return vmic_fail(VMIC_E_NOMEM, "no memory for a shadow page");
    }
    *p = copy;
    *out = p;
    return VMIC_OK;
}

/* The view shows the original again; the spare gfn goes back. */
static vmic_status shadow_destroy(breakpoint_tap *b, shadow_page *p)
{
    vmic_core *core = b->base.core;
    vmic_view_t view = (vmic_view_t)p->key.hi;
    vmic_gfn_t gfn = vmic_gfn(p->key.lo), shadow = p->shadow;

    free(p->bps);
    utab_del(&b->shadows, p);
    vmic_status s = vmic_remap_gfn(core, view, gfn, gfn);
    if (s == VMIC_E_NOTFOUND)
        s = VMIC_OK; /* the view is gone, and its remapping with it */
    vmic_status r = vmic_free_gfn(core, shadow);
    return s ? s : r;
}

/* ---- the trait -------------------------------------------------------------------- */

static bool bt_check_event(vmic_tap *t, const vmic_event_t *ev, vmic_view_t *view,
                           vmic_gfn_t *gfn)
{
    if (ev->kind != VMIC_EVENT_INTERRUPT || ev->interrupt.vector != 3)
        return false;
    vmic_gfn_t g = vmic_pa_to_gfn(ev->interrupt.pa);
    shadow_page *p = utab_find(&bt_of(t)->shadows, ukey_of(ev->view, g.num));
    if (!p || !bp_at(p, (uint16_t)vmic_page_offset(ev->interrupt.pa.addr)))
        return false;
    *view = ev->view;
    *gfn = g;
    return true;
}

/* Writes the INT3 of a new tap into page p's shadow. */
static vmic_status place_int3(vmic_core *core, shadow_page *p, uint16_t offset)
{
    if (!VMIC_GROW(p->bps, p->n, p->cap, 4))
        return vmic_fail(VMIC_E_NOMEM, "no memory for a breakpoint");
    vmic_pa_t at = vmic_pa(vmic_gfn_to_pa(p->shadow).addr + offset);
    uint8_t hidden, int3 = INT3;
    vmic_status s;
    if ((s = vmic_read_u8_pa(core, at, &hidden)) || (s = vmic_write_pa(core, at, &int3, 1)))
        return s;
    p->bps[p->n++] = (shadow_bp){.offset = offset, .hidden = hidden};
    return VMIC_OK;
}

static vmic_status bt_insert(vmic_tap *t, vmic_view_t view, vmic_va_t va, vmic_pa_t pa)
{
    breakpoint_tap *b = bt_of(t);
    vmic_gfn_t gfn = vmic_pa_to_gfn(pa);
    uint16_t offset = (uint16_t)vmic_page_offset(pa.addr);
    shadow_page *p = utab_find(&b->shadows, ukey_of(view, gfn.num));
    bool created = false;
    vmic_status s;

    if (p && bp_at(p, offset))
        return vmic_fail(VMIC_E_BUSY, "breakpoint tap: pa 0x%llx in view %u has one already",
                         (unsigned long long)pa.addr, view);
    /* Monitored before any INT3 exists: an unmonitored one would go to the
     * guest's own handler. */
    if ((s = int3_monitor(b, true)))
        return s;
    if (!p && (s = shadow_create(b, view, gfn, &p)) == VMIC_OK)
        created = true;
    if (s == VMIC_OK && (s = place_int3(t->core, p, offset)) == VMIC_OK) {
        b->taps++;
        return VMIC_OK;
    }
    if (created)
        shadow_destroy(b, p);
    if (b->taps == 0)
        int3_monitor(b, false);
    return s;
}

static vmic_status bt_remove(vmic_tap *t, vmic_view_t view, vmic_va_t va, vmic_pa_t pa)
{
    breakpoint_tap *b = bt_of(t);
    vmic_gfn_t gfn = vmic_pa_to_gfn(pa);
    shadow_page *p = utab_find(&b->shadows, ukey_of(view, gfn.num));
    shadow_bp *bp = p ? bp_at(p, (uint16_t)vmic_page_offset(pa.addr)) : NULL;
    vmic_status s = VMIC_OK;

    if (!bp)
        return vmic_fail(VMIC_E_NOTFOUND, "breakpoint tap: no INT3 at pa 0x%llx in view %u",
                         (unsigned long long)pa.addr, view);
    vmic_pa_t at = vmic_pa(vmic_gfn_to_pa(p->shadow).addr + bp->offset);
    s = vmic_write_pa(t->core, at, &bp->hidden, 1);
    *bp = p->bps[--p->n];
    b->taps--;
    if (p->n == 0) {
        vmic_status r = shadow_destroy(b, p);
        if (s == VMIC_OK)
            s = r;
    }
    if (b->taps == 0) {
        vmic_status r = int3_monitor(b, false);
        if (s == VMIC_OK)
            s = r;
    }
    return s;
}

static vmic_status bt_monitor(vmic_tap *t, vmic_view_t view, vmic_gfn_t gfn)
{
    breakpoint_tap *b = bt_of(t);
    ukey k = ukey_of(view, gfn.num);
    vmic_access_t removed = b->visible ? VMIC_ACCESS_W : VMIC_ACCESS_RW;
    if (utab_find(&b->guards, k))
        return vmic_fail(VMIC_E_BUSY, "breakpoint tap: view %u gfn 0x%llx is guarded already",
                         view, (unsigned long long)gfn.num);
    vmic_status s = ledger_restrict(t->ledger, view, gfn, removed);
    if (s)
        return s;
    if (!utab_add(&b->guards, k)) {
        ledger_release(t->ledger, view, gfn, removed);
        return vmic_fail(VMIC_E_NOMEM, "no memory for the breakpoint tap's guards");
    }
    return VMIC_OK;
}

static vmic_status bt_unmonitor(vmic_tap *t, vmic_view_t view, vmic_gfn_t gfn)
{
    breakpoint_tap *b = bt_of(t);
    guard *g = utab_find(&b->guards, ukey_of(view, gfn.num));
    if (!g)
        return vmic_fail(VMIC_E_NOTFOUND, "breakpoint tap: view %u gfn 0x%llx is not guarded",
                         view, (unsigned long long)gfn.num);
    utab_del(&b->guards, g);
    return ledger_release(t->ledger, view, gfn, b->visible ? VMIC_ACCESS_W : VMIC_ACCESS_RW);
}

/* ---- the events around the taps ------------------------------------------------------ */

static void bt_step_over(vmic_tap *t, const vmic_event_t *ev, vmic_event_response_t *resp)
{
    respond_step_clean(resp);
}

static tap_access bt_page_access(vmic_tap *t, const vmic_event_t *ev,
                                 vmic_event_response_t *resp)
{
    breakpoint_tap *b = bt_of(t);
    vmic_access_t a = ev->kind == VMIC_EVENT_MEMORY_ACCESS ? ev->memory.access : 0;
    /* One refused read or write (a watchpoint's R|W is not one). */
    if ((a != VMIC_ACCESS_R && a != VMIC_ACCESS_W) ||
        !utab_find(&b->guards, ukey_of(ev->view, ev->memory.gfn.num)))
        return TAP_ACCESS_NONE;
    if (ev->memory.access == VMIC_ACCESS_R) {
        /* The instruction runs once in view 0: it reads the original. */
        respond_step_clean(resp);
        return TAP_ACCESS_SERVED;
    }
    /* The write goes to the original in view 0; once it is done, the
     * shadow takes it over (resync). */
    resp->action = VMIC_ACTION_SINGLESTEP;
    resp->set_view = true;
    resp->view = TAP_CLEAN_VIEW;
    return TAP_ACCESS_WRITE_THROUGH;
}

static vmic_status bt_resync(vmic_tap *t, vmic_view_t view, vmic_gfn_t gfn)
{
    shadow_page *p = utab_find(&bt_of(t)->shadows, ukey_of(view, gfn.num));
    return p ? shadow_copy(t->core, p) : VMIC_OK; /* removed meanwhile: nothing to copy */
}

static vmic_status bt_clear(vmic_tap *t)
{
    breakpoint_tap *b = bt_of(t);
    vmic_status s = VMIC_OK;

    while (b->shadows.n) {
        shadow_page *p = utab_at(&b->shadows, b->shadows.n - 1);
        b->taps -= p->n;
        vmic_status r = shadow_destroy(b, p);
        if (s == VMIC_OK)
            s = r;
    }
    while (b->guards.n) {
        guard *g = utab_at(&b->guards, b->guards.n - 1);
        vmic_status r = bt_unmonitor(t, (vmic_view_t)g->key.hi, vmic_gfn(g->key.lo));
        if (s == VMIC_OK)
            s = r;
    }
    vmic_status r = int3_monitor(b, false);
    return s ? s : r;
}

static void bt_destroy(vmic_tap *t)
{
    breakpoint_tap *b = bt_of(t);
    utab_free(&b->shadows);
    utab_free(&b->guards);
    free(b);
}

static const tap_ops breakpoint_ops = {
    .name = "breakpoint",
    .views = true,
    .check_event = bt_check_event,
    .insert = bt_insert,
    .remove = bt_remove,
    .monitor = bt_monitor,
    .unmonitor = bt_unmonitor,
    .step_over = bt_step_over,
    .page_access = bt_page_access,
    .resync = bt_resync,
    .clear = bt_clear,
    .destroy = bt_destroy,
};

vmic_status breakpoint_tap_open(vmic_core *core, ledger *l, bool visible, vmic_tap **out)
{
    breakpoint_tap *b = calloc(1, sizeof *b);
    if (!b)
        return vmic_fail(VMIC_E_NOMEM, "no memory for a breakpoint tap controller");
    b->base = (vmic_tap){.ops = &breakpoint_ops, .core = core, .ledger = ledger_ref(l)};
    b->visible = visible;
    b->shadows = (utab)UTAB(shadow_page);
    b->guards = (utab)UTAB(guard);
    *out = &b->base;
    return VMIC_OK;
}
