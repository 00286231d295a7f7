/*
 * Data watchpoints: the core checks that the driver has them and passes the
 * call on. The driver removes them in reset_events when a session ends.
 */
#include "core_internal.h"

static vmic_status watch(vmic_core *core, vmic_va_t va, uint32_t len, vmic_access_t access,
                         bool enable)
{
    vmic_status s = core_need(core, VMIC_CAP_EVENTS | VMIC_CAP_WATCHPOINT, "watchpoints");
    return s ? s : core->drv->ops->watchpoints->set(core->drv, va, len, access, enable);
}

vmic_status vmic_watchpoint_set(vmic_core *core, vmic_va_t va, uint32_t len,
                                vmic_access_t access)
{
    return watch(core, va, len, access, true);
}

vmic_status vmic_watchpoint_clear(vmic_core *core, vmic_va_t va, uint32_t len,
                                  vmic_access_t access)
{
    return watch(core, va, len, access, false);
}
