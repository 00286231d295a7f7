/*
 * The memory controller (vmi-rs's MemoryController): a breakpoint is its
 * page without X in the view. Executing anything there stops the vCPU with a
 * memory-access event; reads and writes are allowed, so they cause no event
 * (on KVM the page is a hole and they exit, but the driver completes them
 * itself). Inserting a tap changes nothing: the page's guard is the tap.
 */
#include <stdlib.h>

#include "../utils_internal.h"

typedef struct guarded_page {
    ukey key;                  /* view, gfn */
} guarded_page;

typedef struct memory_tap {
    vmic_tap base;
    utab pages;
} memory_tap;

static memory_tap *memory_of(vmic_tap *t)
{
    return (memory_tap *)t;
}

static bool memory_check_event(vmic_tap *t, const vmic_event_t *ev, vmic_view_t *view,
                               vmic_gfn_t *gfn)
{
    if (ev->kind != VMIC_EVENT_MEMORY_ACCESS || ev->memory.access != VMIC_ACCESS_X)
        return false;
    if (!utab_find(&memory_of(t)->pages, ukey_of(ev->view, ev->memory.gfn.num)))
        return false;
    *view = ev->view;
    *gfn = ev->memory.gfn;
    return true;
}

static vmic_status memory_insert(vmic_tap *t, vmic_view_t view, vmic_va_t va, vmic_pa_t pa)
{
    return VMIC_OK;
}

static vmic_status memory_remove(vmic_tap *t, vmic_view_t view, vmic_va_t va, vmic_pa_t pa)
{
    return VMIC_OK;
}

static vmic_status memory_monitor(vmic_tap *t, vmic_view_t view, vmic_gfn_t gfn)
{
    memory_tap *m = memory_of(t);
    ukey k = ukey_of(view, gfn.num);
    if (utab_find(&m->pages, k))
        return vmic_fail(VMIC_E_BUSY, "memory tap: view %u gfn 0x%llx is guarded already", view,
                         (unsigned long long)gfn.num);
    vmic_status s = ledger_restrict(t->ledger, view, gfn, VMIC_ACCESS_X);
    if (s)
        return s;
    if (!utab_add(&m->pages, k)) {
        ledger_release(t->ledger, view, gfn, VMIC_ACCESS_X);
        return vmic_fail(VMIC_E_NOMEM, "no memory for the memory tap's pages");
    }
    return VMIC_OK;
}

static vmic_status memory_unmonitor(vmic_tap *t, vmic_view_t view, vmic_gfn_t gfn)
{
    memory_tap *m = memory_of(t);
    guarded_page *p = utab_find(&m->pages, ukey_of(view, gfn.num));
    if (!p)
        return vmic_fail(VMIC_E_NOTFOUND, "memory tap: view %u gfn 0x%llx is not guarded", view,
                         (unsigned long long)gfn.num);
    utab_del(&m->pages, p);
    return ledger_release(t->ledger, view, gfn, VMIC_ACCESS_X);
}

static void memory_step_over(vmic_tap *t, const vmic_event_t *ev, vmic_event_response_t *resp)
{
    respond_step_clean(resp);
}

static vmic_status memory_clear(vmic_tap *t)
{
    memory_tap *m = memory_of(t);
    vmic_status s = VMIC_OK;
    while (m->pages.n) {
        guarded_page *p = utab_at(&m->pages, m->pages.n - 1);
        vmic_status r = memory_unmonitor(t, (vmic_view_t)p->key.hi, vmic_gfn(p->key.lo));
        if (s == VMIC_OK)
            s = r;
    }
    return s;
}

static void memory_destroy(vmic_tap *t)
{
    memory_tap *m = memory_of(t);
    utab_free(&m->pages);
    free(m);
}

static const tap_ops memory_ops = {
    .name = "memory",
    .views = true,
    .check_event = memory_check_event,
    .insert = memory_insert,
    .remove = memory_remove,
    .monitor = memory_monitor,
    .unmonitor = memory_unmonitor,
    .step_over = memory_step_over,
    .clear = memory_clear,
    .destroy = memory_destroy,
};

vmic_status memory_tap_open(vmic_core *core, ledger *l, vmic_tap **out)
{
    memory_tap *m = calloc(1, sizeof *m);
    if (!m)
        return vmic_fail(VMIC_E_NOMEM, "no memory for a memory tap controller");
    m->base = (vmic_tap){.ops = &memory_ops, .core = core, .ledger = ledger_ref(l)};
    m->pages = (utab)UTAB(guarded_page);
    *out = &m->base;
    return VMIC_OK;
}
