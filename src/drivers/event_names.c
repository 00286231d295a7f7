/* The event layer's names (event.h): for people, for JSON, and as vmi-rs
 * spells its actions. No state; below both the drivers and the core. */
#include <vmic/event.h>

const char *vmic_event_kind_name(vmic_event_kind k)
{
    switch (k) {
    case VMIC_EVENT_MEMORY_ACCESS: return "memory";
    case VMIC_EVENT_INTERRUPT: return "interrupt";
    case VMIC_EVENT_SINGLESTEP: return "singlestep";
    case VMIC_EVENT_MSR_WRITE: return "msr";
    case VMIC_EVENT_IO: return "io";
    case VMIC_EVENT_BREAKPOINT: return "breakpoint";
    }
    return "unknown";
}

const char *vmic_action_name(vmic_action a)
{
    switch (a) {
    case VMIC_ACTION_CONTINUE: return "continue";
    case VMIC_ACTION_DENY: return "deny";
    case VMIC_ACTION_REINJECT_INTERRUPT: return "reinject";
    case VMIC_ACTION_SINGLESTEP: return "singlestep";
    case VMIC_ACTION_FAST_SINGLESTEP: return "fast-singlestep";
    case VMIC_ACTION_EMULATE: return "emulate";
    }
    return "unknown";
}

const char *vmic_action_vmi_rs_name(vmic_action a)
{
    static const char *const names[] = {"Continue", "Deny", "ReinjectInterrupt", "Singlestep",
                                        "FastSinglestep", "Emulate"};
    return (unsigned)a < sizeof names / sizeof names[0] ? names[a] : "an unknown action";
}
