/* What every driver shares: closing, and capabilities derived from the table. */
#include <stdio.h>
#include <string.h>

#include <vmic/driver.h>

void vmic_driver_close(vmic_driver *d)
{
    if (d && d->ops && d->ops->close)
        d->ops->close(d);
}

static const char *const cap_names[] = {
    "read", "write", "registers", "set-registers", "pause", "events", "views",
    "singlestep", "sw-breakpoint", "hw-breakpoint", "watchpoint", "msr-events",
    "io-events", "inject", "singlestep-monitor", "exec-watch", "data-traps",
};

/* A group that needs events counts only with them: without an event loop
 * nobody would see a breakpoint or a watchpoint hit. */
uint64_t vmic_driver_caps(const vmic_driver_ops_t *ops)
{
    uint64_t caps = 0;

    if (!ops)
        return 0;
    if (ops->memory)
        caps |= VMIC_CAP_READ | (ops->memory->write ? VMIC_CAP_WRITE : 0);
    if (ops->registers)
        caps |= VMIC_CAP_REGISTERS | (ops->registers->set ? VMIC_CAP_SET_REGISTERS : 0);
    if (ops->control)
        caps |= VMIC_CAP_PAUSE;
    if (ops->views)
        caps |= VMIC_CAP_VIEWS | (ops->views->exec_only ? 0 : VMIC_CAP_DATA_TRAPS);
    if (ops->injection)
        caps |= VMIC_CAP_INJECT;
    if (!ops->events)
        return caps;
    caps |= VMIC_CAP_EVENTS | VMIC_CAP_SINGLESTEP;
    if (ops->monitors) {
        caps |= ops->monitors->interrupt ? VMIC_CAP_SW_BREAKPOINT : 0;
        caps |= ops->monitors->singlestep ? VMIC_CAP_STEP_MONITOR : 0;
        caps |= ops->monitors->msr_write ? VMIC_CAP_MSR_EVENTS : 0;
        caps |= ops->monitors->io ? VMIC_CAP_IO_EVENTS : 0;
    }
    if (ops->breakpoints)
        caps |= VMIC_CAP_HW_BREAKPOINT;
    if (ops->watchpoints)
        caps |= VMIC_CAP_WATCHPOINT;
    if (ops->exec_watches)
        caps |= VMIC_CAP_EXEC_WATCH;
    return caps;
}

void vmic_caps_describe(uint64_t caps, char *buf, size_t size)
{
    size_t used = 0;

    if (size == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++) {
        if (!(caps & (1ull << i)))
            continue;
        int n = snprintf(buf + used, size - used, "%s%s", used ? "," : "", cap_names[i]);
        if (n < 0 || (size_t)n >= size - used)
            return;
        used += (size_t)n;
    }
}
