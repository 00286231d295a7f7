/*
 * Views, page access, remapped gfns and spare gfns: the core checks that the
 * driver can, and passes each call on. What a session changed is undone by
 * core_restore_events.
 */
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

/* Checks the driver has `caps`, then calls group->op. */
#define CALL(core, caps, what, group, op, ...)                                 \
    (core_need((core), (caps), (what)) ? VMIC_E_UNSUPPORTED                   \
                                       : (core)->drv->ops->group->op((core)->drv, __VA_ARGS__))
#define VIEWS(core, what, op, ...) CALL(core, VMIC_CAP_VIEWS, what, views, op, __VA_ARGS__)
/* Remapped and spare gfns: not in views that can only take X away. */
#define REMAPS(core, what, op, ...)                                                  \
    CALL(core, VMIC_CAP_VIEWS | VMIC_CAP_DATA_TRAPS, what, views, op, __VA_ARGS__)

vmic_status vmic_create_view(vmic_core *core, vmic_view_t *view)
{
    return VIEWS(core, "creating views", create, view);
}

vmic_status vmic_destroy_view(vmic_core *core, vmic_view_t view)
{
    return VIEWS(core, "destroying views", destroy, view);
}

vmic_status vmic_switch_view(vmic_core *core, vmic_view_t view)
{
    return VIEWS(core, "switching views", switch_to, view);
}

vmic_status vmic_vcpu_view(vmic_core *core, vmic_vcpu_t vcpu, vmic_view_t *view)
{
    return VIEWS(core, "views", vcpu_view, vcpu, view);
}

vmic_status vmic_set_access(vmic_core *core, vmic_view_t view, vmic_gfn_t gfn,
                            vmic_access_t access)
{
    return VIEWS(core, "page access", set_access, view, gfn, access);
}

vmic_status vmic_get_access(vmic_core *core, vmic_view_t view, vmic_gfn_t gfn,
                            vmic_access_t *access)
{
    return VIEWS(core, "page access", get_access, view, gfn, access);
}

vmic_status vmic_remap_gfn(vmic_core *core, vmic_view_t view, vmic_gfn_t gfn, vmic_gfn_t to)
{
    return REMAPS(core, "remapping gfns", remap_gfn, view, gfn, to);
}

vmic_status vmic_alloc_gfn(vmic_core *core, vmic_gfn_t *gfn)
{
    return REMAPS(core, "allocating gfns", alloc_gfn, gfn);
}

vmic_status vmic_free_gfn(vmic_core *core, vmic_gfn_t gfn)
{
    vmic_status s = REMAPS(core, "allocating gfns", free_gfn, gfn);
    if (s == VMIC_OK)
        page_cache_drop(core, gfn);
    return s;
}

/* Each monitor kind is its own operation, and its own capability. */
static vmic_status monitor(vmic_core *core, const vmic_monitor_t *m, bool enable)
{
    const vmic_monitor_ops_t *ops = core->drv->ops->monitors;
    vmic_monitor_fn fn;
    uint64_t cap;
    const char *what;

    switch (m->kind) {
    case VMIC_MONITOR_INTERRUPT:
        cap = VMIC_CAP_SW_BREAKPOINT, what = "interrupt monitors", fn = ops ? ops->interrupt : NULL;
        break;
    case VMIC_MONITOR_SINGLESTEP:
        cap = VMIC_CAP_STEP_MONITOR, what = "single-step monitors", fn = ops ? ops->singlestep : NULL;
        break;
    case VMIC_MONITOR_MSR_WRITE:
        cap = VMIC_CAP_MSR_EVENTS, what = "MSR monitors", fn = ops ? ops->msr_write : NULL;
        break;
    case VMIC_MONITOR_IO:
        cap = VMIC_CAP_IO_EVENTS, what = "port I/O monitors", fn = ops ? ops->io : NULL;
        break;
    default:
        return vmic_fail(VMIC_E_INVAL, "%s: monitor kind %d does not exist", core->info->source,
                         (int)m->kind);
    }
    vmic_status s = core_need(core, VMIC_CAP_EVENTS | cap, what);
    return s ? s : fn(core->drv, m, enable);
}

vmic_status vmic_monitor_enable(vmic_core *core, const vmic_monitor_t *m)
{
    return monitor(core, m, true);
}

vmic_status vmic_monitor_disable(vmic_core *core, const vmic_monitor_t *m)
{
    return monitor(core, m, false);
}

vmic_status vmic_hw_breakpoint_set(vmic_core *core, vmic_va_t va)
{
    return CALL(core, VMIC_CAP_EVENTS | VMIC_CAP_HW_BREAKPOINT, "debug-register breakpoints",
                breakpoints, set, va, true);
}

vmic_status vmic_hw_breakpoint_clear(vmic_core *core, vmic_va_t va)
{
    return CALL(core, VMIC_CAP_EVENTS | VMIC_CAP_HW_BREAKPOINT, "debug-register breakpoints",
                breakpoints, set, va, false);
}

vmic_status vmic_exec_watch_set(vmic_core *core, vmic_pa_t pa)
{
    return CALL(core, VMIC_CAP_EVENTS | VMIC_CAP_EXEC_WATCH, "exec watches", exec_watches, set,
                pa, true);
}

vmic_status vmic_exec_watch_clear(vmic_core *core, vmic_pa_t pa)
{
    return CALL(core, VMIC_CAP_EVENTS | VMIC_CAP_EXEC_WATCH, "exec watches", exec_watches, set,
                pa, false);
}

/* The capture ops are optional within the group. */
static const vmic_exec_watch_ops_t *capture_ops(vmic_core *core)
{
    if (core_need(core, VMIC_CAP_EVENTS | VMIC_CAP_EXEC_WATCH, "exec watches"))
        return NULL;
    const vmic_exec_watch_ops_t *ops = core->drv->ops->exec_watches;
    if (!ops->capture || !ops->program) {
        vmic_fail(VMIC_E_UNSUPPORTED, "%s: the %s driver's exec watches cannot capture",
                  core->info->source, core->info->driver);
        return NULL;
    }
    return ops;
}

vmic_status vmic_exec_capture_set(vmic_core *core, const vmic_capture_spec_t *spec)
{
    const vmic_exec_watch_ops_t *ops = capture_ops(core);
    return ops ? ops->capture(core->drv, spec) : VMIC_E_UNSUPPORTED;
}

vmic_status vmic_exec_watch_program(vmic_core *core, vmic_pa_t pa, uint32_t program)
{
    const vmic_exec_watch_ops_t *ops = capture_ops(core);
    return ops ? ops->program(core->drv, pa, program) : VMIC_E_UNSUPPORTED;
}

vmic_status vmic_inject(vmic_core *core, vmic_vcpu_t vcpu, const vmic_injection_t *inj)
{
    return CALL(core, VMIC_CAP_INJECT, "injecting exceptions", injection, inject, vcpu, inj);
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
    if (core->drv->ops->events) {
        vmic_status r = core->drv->ops->events->reset(core->drv);
        if (s == VMIC_OK)
            s = r;
    }
    return s;
}
