/*
 * The debug-register controller: each tap is an execute breakpoint on a
 * virtual address in the debug registers of every vCPU (at most four). It
 * needs no views and no page access, which is why drivers without views
 * (the qemu driver) can offer it. A hit is a VMIC_EVENT_BREAKPOINT event;
 * Continue steps over it (the driver turns that slot off for one
 * instruction). Debug registers match linear addresses in every address
 * space: the manager tells the address contexts apart by CR3.
 */
#include <stdlib.h>

#include "../utils_internal.h"

#define DEBUGREG_SLOTS 4

typedef struct debugreg_tap {
    vmic_tap base;
    vmic_va_t vas[DEBUGREG_SLOTS];
    size_t n;
} debugreg_tap;

static debugreg_tap *dr_of(vmic_tap *t)
{
    return (debugreg_tap *)t;
}

static int dr_find(const debugreg_tap *d, vmic_va_t va)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->vas[i].addr == va.addr)
            return (int)i;
    return -1;
}

static bool dr_check_event(vmic_tap *t, const vmic_event_t *ev, vmic_view_t *view,
                           vmic_gfn_t *gfn)
{
    if (ev->kind != VMIC_EVENT_BREAKPOINT || dr_find(dr_of(t), ev->breakpoint.va) < 0)
        return false;
    *view = TAP_CLEAN_VIEW; /* one set of debug registers for every view */
    *gfn = vmic_pa_to_gfn(ev->breakpoint.pa);
    return true;
}

static vmic_status dr_insert(vmic_tap *t, vmic_view_t view, vmic_va_t va, vmic_pa_t pa)
{
    debugreg_tap *d = dr_of(t);
    if (dr_find(d, va) >= 0)
        return vmic_fail(VMIC_E_BUSY, "debug-register tap: va 0x%llx has one already",
                         (unsigned long long)va.addr);
    if (d->n == DEBUGREG_SLOTS)
        return vmic_fail(VMIC_E_RANGE, "debug-register tap: all %d debug registers are in use "
                         "(va 0x%llx)", DEBUGREG_SLOTS, (unsigned long long)va.addr);
    vmic_status s = vmic_hw_breakpoint_set(t->core, va);
    if (s == VMIC_OK)
        d->vas[d->n++] = va;
    return s;
}

static vmic_status dr_remove(vmic_tap *t, vmic_view_t view, vmic_va_t va, vmic_pa_t pa)
{
    debugreg_tap *d = dr_of(t);
    int i = dr_find(d, va);
    if (i < 0)
        return vmic_fail(VMIC_E_NOTFOUND, "debug-register tap: none at va 0x%llx",
                         (unsigned long long)va.addr);
    d->vas[i] = d->vas[--d->n];
    return vmic_hw_breakpoint_clear(t->core, va);
}

static void dr_step_over(vmic_tap *t, const vmic_event_t *ev, vmic_event_response_t *resp)
{
    resp->action = VMIC_ACTION_CONTINUE;
}

static vmic_status dr_clear(vmic_tap *t)
{
    debugreg_tap *d = dr_of(t);
    vmic_status s = VMIC_OK;
    while (d->n) {
        vmic_status r = vmic_hw_breakpoint_clear(t->core, d->vas[--d->n]);
        if (s == VMIC_OK)
            s = r;
    }
    return s;
}

static void dr_destroy(vmic_tap *t)
{
    free(dr_of(t));
}

static const tap_ops debugreg_ops = {
    .name = "debugreg",
    .views = false,
    .by_va = true,
    .check_event = dr_check_event,
    .insert = dr_insert,
    .remove = dr_remove,
    .step_over = dr_step_over,
    .clear = dr_clear,
    .destroy = dr_destroy,
};

vmic_status debugreg_tap_open(vmic_core *core, vmic_tap **out)
{
    debugreg_tap *d = calloc(1, sizeof *d);
    if (!d)
        return vmic_fail(VMIC_E_NOMEM, "no memory for a debug-register tap controller");
    d->base = (vmic_tap){.ops = &debugreg_ops, .core = core};
    *out = &d->base;
    return VMIC_OK;
}
