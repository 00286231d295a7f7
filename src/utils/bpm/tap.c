/*
 * Tap controllers: opening one of the three kinds, and the trait's calls.
 * Each kind is a table of operations (utils_internal.h) over its own state.
 */
#include "../utils_internal.h"

static vmic_status need(vmic_core *core, uint64_t caps, const char *kind, const char *what)
{
    if (vmic_core_has(core, caps))
        return VMIC_OK;
    const vmic_driver_info_t *info = vmic_core_info(core);
    return vmic_fail(VMIC_E_UNSUPPORTED, "%s: the %s tap controller needs %s, which the %s "
                     "driver does not have", info->source, kind, what, info->driver);
}

/* What each kind needs of the driver, in the order VMIC_TAP_AUTO tries them. */
static const struct {
    vmic_tap_kind kind;
    uint64_t caps;
} auto_order[] = {
    {VMIC_TAP_EXEC_WATCH, VMIC_CAP_EVENTS | VMIC_CAP_EXEC_WATCH},
    {VMIC_TAP_DEBUGREG, VMIC_CAP_EVENTS | VMIC_CAP_HW_BREAKPOINT},
    {VMIC_TAP_BREAKPOINT,
     VMIC_CAP_EVENTS | VMIC_CAP_VIEWS | VMIC_CAP_DATA_TRAPS | VMIC_CAP_SW_BREAKPOINT},
    {VMIC_TAP_MEMORY, VMIC_CAP_EVENTS | VMIC_CAP_VIEWS},
};

vmic_tap_kind vmic_tap_auto_kind(vmic_core *core)
{
    for (size_t i = 0; i < sizeof auto_order / sizeof auto_order[0]; i++)
        if (vmic_core_has(core, auto_order[i].caps))
            return auto_order[i].kind;
    return VMIC_TAP_AUTO;
}

static vmic_status open_kind(vmic_core *core, const vmic_tap_options_t *opt, ledger *l,
                             vmic_tap **out)
{
    vmic_status s;

    switch (opt->kind) {
    case VMIC_TAP_AUTO: {
        vmic_tap_options_t chosen = *opt;
        chosen.kind = vmic_tap_auto_kind(core);
        if (chosen.kind == VMIC_TAP_AUTO) {
            const vmic_driver_info_t *info = vmic_core_info(core);
            return vmic_fail(VMIC_E_UNSUPPORTED, "%s: no tap controller fits the %s driver: "
                             "each needs events, and exec watches, debug-register "
                             "breakpoints or views",
                             info->source, info->driver);
        }
        return open_kind(core, &chosen, l, out);
    }
    case VMIC_TAP_MEMORY:
        if ((s = need(core, VMIC_CAP_EVENTS | VMIC_CAP_VIEWS, "memory", "views")))
            return s;
        return memory_tap_open(core, l, out);
    case VMIC_TAP_BREAKPOINT:
        if ((s = need(core,
                      VMIC_CAP_EVENTS | VMIC_CAP_VIEWS | VMIC_CAP_DATA_TRAPS |
                          VMIC_CAP_SW_BREAKPOINT,
                      "breakpoint", "views with read and write traps, and INT3 events")))
            return s;
        return breakpoint_tap_open(core, l, opt->visible, out);
    case VMIC_TAP_DEBUGREG:
        if ((s = need(core, VMIC_CAP_EVENTS | VMIC_CAP_HW_BREAKPOINT, "debug-register",
                      "debug-register breakpoints")))
            return s;
        return debugreg_tap_open(core, out);
    case VMIC_TAP_EXEC_WATCH:
        if ((s = need(core, VMIC_CAP_EVENTS | VMIC_CAP_EXEC_WATCH, "exec-watch",
                      "exec watches (vmic's QEMU plugin: 'vmic boot' loads it)")))
            return s;
        return execwatch_tap_open(core, out);
    }
    return vmic_fail(VMIC_E_INVAL, "vmic_tap_open: no tap controller of kind %d", (int)opt->kind);
}

vmic_status vmic_tap_open(vmic_core *core, const vmic_tap_options_t *opt, vmic_tap **out)
{
    *out = NULL;
    if (!opt)
        return vmic_fail(VMIC_E_INVAL, "vmic_tap_open: no options");
    ledger *l = ledger_new(core);
    if (!l)
        return vmic_fail(VMIC_E_NOMEM, "no memory for a tap controller");
    vmic_status s = open_kind(core, opt, l, out);
    ledger_unref(l); /* the controller holds its own reference */
    return s;
}

vmic_status tap_clear(vmic_tap *t)
{
    return t->ops->clear(t);
}

void vmic_tap_close(vmic_tap *tap)
{
    if (!tap)
        return;
    tap->ops->clear(tap);
    ledger *l = tap->ledger;
    tap->ops->destroy(tap);
    ledger_unref(l);
}

const char *vmic_tap_name(const vmic_tap *tap)
{
    return tap->ops->name;
}

bool vmic_tap_check_event(vmic_tap *tap, const vmic_event_t *ev, vmic_view_t *view,
                          vmic_gfn_t *gfn)
{
    return tap->ops->check_event(tap, ev, view, gfn);
}

vmic_status vmic_tap_insert(vmic_tap *tap, vmic_view_t view, vmic_va_t va, vmic_pa_t pa)
{
    return tap->ops->insert(tap, view, va, pa);
}

vmic_status vmic_tap_remove(vmic_tap *tap, vmic_view_t view, vmic_va_t va, vmic_pa_t pa)
{
    return tap->ops->remove(tap, view, va, pa);
}

vmic_status vmic_tap_monitor(vmic_tap *tap, vmic_view_t view, vmic_gfn_t gfn)
{
    return tap->ops->monitor ? tap->ops->monitor(tap, view, gfn) : VMIC_OK;
}

vmic_status vmic_tap_unmonitor(vmic_tap *tap, vmic_view_t view, vmic_gfn_t gfn)
{
    return tap->ops->unmonitor ? tap->ops->unmonitor(tap, view, gfn) : VMIC_OK;
}
