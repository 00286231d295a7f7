/*
 * The exec-watch controller: each tap is the driver's exec watch on a
 * guest-physical address (qemu: vmic's TCG plugin). Like debug registers it
 * needs no views and leaves guest memory alone; unlike them it has no limit
 * and matches the instruction by its physical address, whatever va maps
 * it. A hit is a VMIC_EVENT_BREAKPOINT event without registers
 * (VMIC_EVENT_NO_REGS): only that vCPU waits, and Continue lets the
 * instruction run (the driver cannot withhold it).
 */
#include <stdlib.h>

#include "../utils_internal.h"

static bool ew_check_event(vmic_tap *t, const vmic_event_t *ev, vmic_view_t *view,
                           vmic_gfn_t *gfn)
{
    (void)t;
    if (ev->kind != VMIC_EVENT_BREAKPOINT || !(ev->flags & VMIC_EVENT_NO_REGS))
        return false;
    *view = TAP_CLEAN_VIEW; /* one set of watches for every view */
    *gfn = vmic_pa_to_gfn(ev->breakpoint.pa);
    return true;
}

static vmic_status ew_insert(vmic_tap *t, vmic_view_t view, vmic_va_t va, vmic_pa_t pa)
{
    (void)view;
    (void)va;
    return vmic_exec_watch_set(t->core, pa);
}

static vmic_status ew_remove(vmic_tap *t, vmic_view_t view, vmic_va_t va, vmic_pa_t pa)
{
    (void)view;
    (void)va;
    return vmic_exec_watch_clear(t->core, pa);
}

static void ew_step_over(vmic_tap *t, const vmic_event_t *ev, vmic_event_response_t *resp)
{
    (void)t;
    (void)ev;
    resp->action = VMIC_ACTION_CONTINUE;
}

/* The manager removes each tap before it clears; the session's end drops
 * whatever the driver still has. Nothing is kept here. */
static vmic_status ew_clear(vmic_tap *t)
{
    (void)t;
    return VMIC_OK;
}

static void ew_destroy(vmic_tap *t)
{
    free(t);
}

static const tap_ops execwatch_ops = {
    .name = "plugin",
    .views = false,
    .by_va = false,
    .check_event = ew_check_event,
    .insert = ew_insert,
    .remove = ew_remove,
    .step_over = ew_step_over,
    .clear = ew_clear,
    .destroy = ew_destroy,
};

vmic_status execwatch_tap_open(vmic_core *core, vmic_tap **out)
{
    vmic_tap *t = calloc(1, sizeof *t);
    if (!t)
        return vmic_fail(VMIC_E_NOMEM, "no memory for an exec-watch tap controller");
    *t = (vmic_tap){.ops = &execwatch_ops, .core = core};
    *out = t;
    return VMIC_OK;
}
