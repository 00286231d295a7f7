/*
 * Views, page access, remapped gfns and spare gfns: the core checks that the
 * driver can, and passes each call on. What a session changed is undone by
 * core_restore_events.
 */
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

static vmic_status unsupported(vmic_core *core, const char *what)
{
    return vmic_fail(VMIC_E_UNSUPPORTED, "%s: %s is not supported by the %s driver",
                     core->info->source, what, core->info->driver);
}

#define CALL(core, op, what, ...)                                              \
    ((core)->drv->ops->op ? (core)->drv->ops->op((core)->drv, __VA_ARGS__)      \
                          : unsupported((core), (what)))

vmic_status vmic_create_view(vmic_core *core, vmic_view_t *view)
{
    return CALL(core, create_view, "creating views", view);
}

vmic_status vmic_destroy_view(vmic_core *core, vmic_view_t view)
{
    return CALL(core, destroy_view, "destroying views", view);
}

vmic_status vmic_switch_view(vmic_core *core, vmic_view_t view)
{
    return CALL(core, switch_view, "switching views", view);
}

vmic_status vmic_vcpu_view(vmic_core *core, vmic_vcpu_t vcpu, vmic_view_t *view)
{
    return CALL(core, vcpu_view, "views", vcpu, view);
}

vmic_status vmic_set_access(vmic_core *core, vmic_view_t view, vmic_gfn_t gfn,
                            vmic_access_t access)
{
    return CALL(core, set_access, "page access", view, gfn, access);
}

vmic_status vmic_get_access(vmic_core *core, vmic_view_t view, vmic_gfn_t gfn,
                            vmic_access_t *access)
{
    return CALL(core, get_access, "page access", view, gfn, access);
}

vmic_status vmic_remap_gfn(vmic_core *core, vmic_view_t view, vmic_gfn_t gfn, vmic_gfn_t to)
{
    return CALL(core, remap_gfn, "remapping gfns", view, gfn, to);
}

vmic_status vmic_alloc_gfn(vmic_core *core, vmic_gfn_t *gfn)
{
    return CALL(core, alloc_gfn, "allocating gfns", gfn);
}

vmic_status vmic_free_gfn(vmic_core *core, vmic_gfn_t gfn)
{
    vmic_status s = CALL(core, free_gfn, "allocating gfns", gfn);
    if (s == VMIC_OK)
        page_cache_drop(core, gfn);
    return s;
}

vmic_status vmic_monitor_enable(vmic_core *core, const vmic_monitor_t *m)
{
    return CALL(core, monitor, "event monitors", m, true);
}

vmic_status vmic_monitor_disable(vmic_core *core, const vmic_monitor_t *m)
{
    return CALL(core, monitor, "event monitors", m, false);
}

vmic_status vmic_hw_breakpoint_set(vmic_core *core, vmic_va_t va)
{
    return CALL(core, set_hw_breakpoint, "debug-register breakpoints", va, true);
}

vmic_status vmic_hw_breakpoint_clear(vmic_core *core, vmic_va_t va)
{
    return CALL(core, set_hw_breakpoint, "debug-register breakpoints", va, false);
}

vmic_status vmic_inject(vmic_core *core, vmic_vcpu_t vcpu, const vmic_injection_t *inj)
{
    return CALL(core, inject, "injecting exceptions", vcpu, inj);
}

/* ---- restore hooks ------------------------------------------------------------ */

struct restore_hook {
    vmic_restore_fn fn;
    void *arg;
};

vmic_status vmic_add_restore_hook(vmic_core *core, vmic_restore_fn fn, void *arg)
{
    struct restore_hook *h = realloc(core->hooks, (core->nhooks + 1) * sizeof *h);
    if (!h)
        return vmic_fail(VMIC_E_NOMEM, "no memory for a restore hook");
    core->hooks = h;
    core->hooks[core->nhooks++] = (struct restore_hook){fn, arg};
    return VMIC_OK;
}

void vmic_remove_restore_hook(vmic_core *core, vmic_restore_fn fn, void *arg)
{
    for (size_t i = core->nhooks; i-- > 0;) {
        if (core->hooks[i].fn == fn && core->hooks[i].arg == arg) {
            memmove(&core->hooks[i], &core->hooks[i + 1],
                    (core->nhooks - i - 1) * sizeof core->hooks[0]);
            core->nhooks--;
            return;
        }
    }
}

void restore_hooks_free(vmic_core *core)
{
    free(core->hooks);
    core->hooks = NULL;
    core->nhooks = 0;
}

vmic_status core_restore_events(vmic_core *core)
{
    /* Newest first: what was built last on top of the rest goes first. */
    for (size_t i = core->nhooks; i-- > 0;)
        core->hooks[i].fn(core, core->hooks[i].arg);
    vmic_status s = bp_restore_all(core);
    if (core->drv->ops->reset_events) {
        vmic_status r = core->drv->ops->reset_events(core->drv);
        if (s == VMIC_OK)
            s = r;
    }
    return s;
}
