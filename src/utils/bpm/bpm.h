/* The breakpoint manager's state, shared by its files. */
#ifndef VMIC_UTILS_BPM_H
#define VMIC_UTILS_BPM_H

#include "../utils_internal.h"

/* One breakpoint and where it is. */
typedef struct bpm_entry {
    vmic_breakpoint_t bp;     /* root kept with flag and PCID bits cleared */
    vmic_view_t tap_view;     /* where its tap goes (the own view for view 0) */
    bool active;
    vmic_pa_t pa;             /* when active */
} bpm_entry;

/* A shared tap (key: tap view, pa -- or va for debug registers) or a
 * guarded page (key: tap view, gfn), and how many share it. */
typedef struct bpm_ref {
    ukey key;
    uint32_t refs;
} bpm_ref;

struct vmic_bpm {
    vmic_core *core;
    vmic_tap *tap;
    ledger *ledger;           /* the tap's, shared with the monitor */
    vmic_ptm *ptm;            /* NULL: the driver has no views */
    bpm_entry *entries;       /* in no order; lookups scan them */
    size_t n, cap;
    utab taps;
    utab pages;
    bool own_live;
    vmic_view_t own_view;
    size_t own_users;         /* breakpoints that live in the own view */
    bpm_pending *pending;     /* per vCPU, for dispatch.c */
    uint32_t nvcpus;
    vmic_bpm_stats_t stats;
    bool hooked;              /* its restore hook is registered */
};

/* bpm_taps.c: an entry's tap and guard, shared and counted */
vmic_status entry_activate(vmic_bpm *b, bpm_entry *e, vmic_pa_t pa);
vmic_status entry_deactivate(vmic_bpm *b, bpm_entry *e);

static inline uint64_t root_of(vmic_pa_t root)
{
    return vmic_cr3_to_root(root.addr).addr;
}

static inline vmic_bp_state_t state_of(const bpm_entry *e)
{
    vmic_bp_state_t st = {.bp = e->bp, .active = e->active, .pa = e->pa, .tap_view = e->tap_view};
    return st;
}

#endif
