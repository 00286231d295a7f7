/*
 * Finding breakpoints: by the event that hit them, by address, all of them.
 * A hit is every active breakpoint at the executed address: the tap's view
 * and physical address, the va in RIP, and the event's address context (CR3)
 * unless the breakpoint is global. The scans are linear: a hit costs a KVM
 * exit of several microseconds, next to which a scan of even thousands of
 * breakpoints is small.
 */
#include "bpm.h"

static size_t put(vmic_bp_state_t *out, size_t max, size_t n, const bpm_entry *e)
{
    if (n < max)
        out[n] = state_of(e);
    return n + 1;
}

size_t vmic_bpm_get_by_event(vmic_bpm *b, const vmic_event_t *ev, vmic_bp_state_t *out,
                             size_t max)
{
    vmic_view_t view;
    vmic_gfn_t gfn;
    if (!vmic_tap_check_event(b->tap, ev, &view, &gfn))
        return 0;
    /* An event without registers (an exec watch, a fetch through QEMU's
     * plugin) says where it executed; with no CR3 only global breakpoints
     * can be told apart. */
    bool no_regs = ev->flags & VMIC_EVENT_NO_REGS;
    uint64_t rip = !no_regs ? ev->regs.rip
                   : ev->kind == VMIC_EVENT_MEMORY_ACCESS ? ev->memory.va.addr
                                                          : ev->breakpoint.va.addr;
    uint64_t pa = vmic_gfn_to_pa(gfn).addr | vmic_page_offset(rip);
    uint64_t root = no_regs ? UINT64_MAX : root_of(vmic_pa(ev->regs.cr3));
    size_t n = 0;

    for (size_t i = 0; i < b->n; i++) {
        const bpm_entry *e = &b->entries[i];
        if (e->active && e->tap_view == view && e->pa.addr == pa && e->bp.va.addr == rip &&
            (e->bp.global || e->bp.root.addr == root))
            n = put(out, max, n, e);
    }
    return n;
}

bool vmic_bpm_contains_by_event(vmic_bpm *b, const vmic_event_t *ev)
{
    return vmic_bpm_get_by_event(b, ev, NULL, 0) > 0;
}

size_t vmic_bpm_get_by_address(vmic_bpm *b, vmic_pa_t root, vmic_va_t va, vmic_bp_state_t *out,
                               size_t max)
{
    uint64_t r = root_of(root);
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        const bpm_entry *e = &b->entries[i];
        if (e->bp.va.addr == va.addr && (e->bp.global || e->bp.root.addr == r))
            n = put(out, max, n, e);
    }
    return n;
}

size_t vmic_bpm_list(vmic_bpm *b, vmic_bp_state_t *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        n = put(out, max, n, &b->entries[i]);
    return n;
}
