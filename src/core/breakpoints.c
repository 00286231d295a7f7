/*
 * Software breakpoints: INT3 bytes written over guest code, with the byte
 * each one hides, so that it can be stepped over (disarm, step, arm) and put
 * back when the session ends. Kept sorted by pa; a breakpoint inserted twice
 * is counted, and goes away with its last remove.
 */
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "base/grow.h"

#define INT3 0xcc

typedef struct sw_bp {
    uint64_t pa;
    uint32_t refs;
    uint8_t hidden;
    bool armed;
} sw_bp;

struct bp_table {
    sw_bp *bps;
    size_t n, cap;
};

static size_t bp_index(const struct bp_table *t, uint64_t pa)
{
    size_t lo = 0, hi = t ? t->n : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->bps[mid].pa < pa)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static sw_bp *bp_find(vmic_core *core, vmic_pa_t pa)
{
    struct bp_table *t = core->bps;
    size_t i = bp_index(t, pa.addr);
    return t && i < t->n && t->bps[i].pa == pa.addr ? &t->bps[i] : NULL;
}

static vmic_status write_byte(vmic_core *core, uint64_t pa, uint8_t b)
{
    return vmic_write_pa(core, vmic_pa(pa), &b, 1);
}

static vmic_status table_make_room(vmic_core *core)
{
    struct bp_table *t = core->bps;
    if (!t && !(t = core->bps = calloc(1, sizeof *t)))
        return vmic_fail(VMIC_E_NOMEM, "no memory for the breakpoint table");
    if (!VMIC_GROW(t->bps, t->n, t->cap, 16))
        return vmic_fail(VMIC_E_NOMEM, "no memory for the breakpoint table");
    return VMIC_OK;
}

vmic_status vmic_bp_insert(vmic_core *core, vmic_pa_t pa)
{
    sw_bp *bp = bp_find(core, pa);
    uint8_t hidden;
    vmic_status s;

    if (bp) {
        bp->refs++;
        return VMIC_OK;
    }
    /* Without INT3 events the guest's own #BP handler would take the hit
     * (on qemu: a kernel oops). */
    if ((s = core_need(core, VMIC_CAP_EVENTS | VMIC_CAP_SW_BREAKPOINT, "INT3 breakpoints")))
        return vmic_fail_wrap(s, "the %s driver does not report INT3 hits, so an INT3 at pa "
                              "0x%llx would reach the guest's own handler (use "
                              "vmic_hw_breakpoint_set)", core->info->driver,
                              (unsigned long long)pa.addr);
    if ((s = vmic_read_u8_pa(core, pa, &hidden)) || (s = table_make_room(core)))
        return s;
    if ((s = write_byte(core, pa.addr, INT3)))
        return s;
    struct bp_table *t = core->bps;
    size_t i = bp_index(t, pa.addr);
    memmove(&t->bps[i + 1], &t->bps[i], (t->n - i) * sizeof t->bps[0]);
    t->bps[i] = (sw_bp){.pa = pa.addr, .refs = 1, .hidden = hidden, .armed = true};
    t->n++;
    return VMIC_OK;
}

vmic_status vmic_bp_remove(vmic_core *core, vmic_pa_t pa)
{
    sw_bp *bp = bp_find(core, pa);
    if (!bp)
        return vmic_fail(VMIC_E_NOTFOUND, "no breakpoint at pa 0x%llx",
                         (unsigned long long)pa.addr);
    if (--bp->refs)
        return VMIC_OK;
    vmic_status s = bp->armed ? write_byte(core, pa.addr, bp->hidden) : VMIC_OK;
    struct bp_table *t = core->bps;
    size_t i = (size_t)(bp - t->bps);
    memmove(&t->bps[i], &t->bps[i + 1], (t->n - i - 1) * sizeof t->bps[0]);
    t->n--;
    return s;
}

bool vmic_bp_lookup(vmic_core *core, vmic_pa_t pa, uint8_t *hidden)
{
    sw_bp *bp = bp_find(core, pa);
    if (bp && hidden)
        *hidden = bp->hidden;
    return bp != NULL;
}

vmic_status vmic_bp_disarm(vmic_core *core, vmic_pa_t pa)
{
    sw_bp *bp = bp_find(core, pa);
    if (!bp)
        return vmic_fail(VMIC_E_NOTFOUND, "no breakpoint at pa 0x%llx",
                         (unsigned long long)pa.addr);
    if (!bp->armed)
        return VMIC_OK;
    bp->armed = false;
    return write_byte(core, pa.addr, bp->hidden);
}

vmic_status vmic_bp_arm(vmic_core *core, vmic_pa_t pa)
{
    sw_bp *bp = bp_find(core, pa);
    if (!bp)
        return vmic_fail(VMIC_E_NOTFOUND, "no breakpoint at pa 0x%llx",
                         (unsigned long long)pa.addr);
    if (bp->armed)
        return VMIC_OK;
    bp->armed = true;
    return write_byte(core, pa.addr, INT3);
}

vmic_status bp_restore_all(vmic_core *core)
{
    struct bp_table *t = core->bps;
    vmic_status s = VMIC_OK;

    if (!t)
        return VMIC_OK;
    for (size_t i = 0; i < t->n; i++) {
        if (!t->bps[i].armed)
            continue;
        vmic_status r = write_byte(core, t->bps[i].pa, t->bps[i].hidden);
        if (s == VMIC_OK)
            s = r;
    }
    t->n = 0;
    return s;
}

void bp_free(vmic_core *core)
{
    if (core->bps)
        free(core->bps->bps);
    free(core->bps);
    core->bps = NULL;
}
