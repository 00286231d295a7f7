/* What every driver shares: closing and describing capabilities. */
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
    "io-events", "inject",
};

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
