/*
 * Helpers for the breakpoint manager's tests on taps.elf: opening a manager
 * over one kind of tap, and checking that nothing the manager changed is
 * left behind (page access, memslots, views, spare gfns).
 */
#ifndef VMIC_BPM_TEST_H
#define VMIC_BPM_TEST_H

#include <stdarg.h>

#include "kvm_test.h"

#define SPARE_PAGES 256           /* vmic_kvm_open's default */

typedef struct tap_case {
    const char *name;
    vmic_tap_options_t opt;
} tap_case;

static const tap_case TAP_CASES[] = {
    {"memory", {.kind = VMIC_TAP_MEMORY}},
    {"breakpoint", {.kind = VMIC_TAP_BREAKPOINT}},
    {"debugreg", {.kind = VMIC_TAP_DEBUGREG}},
};

static inline vmic_status bpm_open_kind(guest_vm *g, const vmic_tap_options_t *opt,
                                        vmic_bpm **bpm)
{
    vmic_tap *tap;
    vmic_status s = vmic_tap_open(g->core, opt, &tap);
    return s ? s : vmic_bpm_open(g->core, tap, bpm);
}

/* What was found left behind, for a CHECK after the run. */
typedef struct residue {
    int found;
    char what[512];
} residue;

static void residue_note(residue *r, const char *fmt, ...) VMIC_PRINTF(2, 3);

static void residue_note(residue *r, const char *fmt, ...)
{
    va_list ap;
    size_t len = strlen(r->what);
    va_start(ap, fmt);
    if (len < sizeof r->what - 2)
        vsnprintf(r->what + len, sizeof r->what - len, fmt, ap);
    va_end(ap);
    r->found++;
}

/*
 * After every breakpoint is gone: each of gfns is rwx in view 0, no view
 * but view 0 exists and every vCPU is in it, the memslots are as many as
 * before, and every spare gfn can be allocated (no shadow page kept one).
 */
static inline void residue_check(guest_vm *g, vmic_bpm *bpm, const vmic_gfn_t *gfns, size_t n,
                                 uint32_t slots_before, residue *r)
{
    vmic_core *core = g->core;
    vmic_bpm_stats_t st;
    vmic_bpm_stats(bpm, &st);
    vmic_kvm_stats_t ks;
    vmic_view_t view;

    if (vmic_bpm_list(bpm, NULL, 0) || st.taps || st.pages)
        residue_note(r, "manager keeps %zu breakpoints, %llu taps, %llu pages; ",
                     vmic_bpm_list(bpm, NULL, 0), (unsigned long long)st.taps,
                     (unsigned long long)st.pages);
    if (vmic_bpm_own_view(bpm, &view))
        residue_note(r, "own view %u still there; ", view);
    for (vmic_view_t v = 1; v < 64; v++)
        if (vmic_destroy_view(core, v) != VMIC_E_NOTFOUND)
            residue_note(r, "view %u existed; ", v);
    if (vmic_vcpu_view(core, 0, &view) || view != 0)
        residue_note(r, "vCPU 0 in view %u; ", view);
    for (size_t i = 0; i < n; i++) {
        vmic_access_t a = 0;
        if (vmic_get_access(core, VMIC_VIEW_DEFAULT, gfns[i], &a) || a != VMIC_ACCESS_RWX)
            residue_note(r, "gfn 0x%llx has access %u; ", (unsigned long long)gfns[i].num, a);
    }
    if (vmic_kvm_stats(g->drv, &ks) || ks.slots != slots_before)
        residue_note(r, "%u memslots, %u before; ", ks.slots, slots_before);
    vmic_gfn_t spare[SPARE_PAGES];
    size_t got = 0;
    while (got < SPARE_PAGES && vmic_alloc_gfn(core, &spare[got]) == VMIC_OK)
        got++;
    if (got != SPARE_PAGES)
        residue_note(r, "only %zu of %d spare gfns free; ", got, SPARE_PAGES);
    while (got)
        vmic_free_gfn(core, spare[--got]);
    vmic_clear_error();
}

static inline uint64_t fnv_page(const uint8_t *page)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned i = 0; i < 512; i++) {
        uint64_t w;
        memcpy(&w, page + 8 * i, 8);
        h ^= w;
        h *= 0x100000001b3ull;
    }
    return h;
}

#endif
