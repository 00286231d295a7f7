/* The utils layer's private pieces, shared by its files. */
#ifndef VMIC_UTILS_INTERNAL_H
#define VMIC_UTILS_INTERNAL_H

#include <vmic/utils.h>

/* ---- table.c: a sorted array of rows keyed by two words ----------------------- */
/*
 * Rows begin with their key. Small and cache-friendly: lookups are binary
 * searches, insertions and deletions move the tail (tables here hold pages
 * and taps, not millions of things).
 */
typedef struct ukey {
    uint64_t hi, lo;
} ukey;

typedef struct utab {
    size_t row_size;
    size_t n, cap;
    uint8_t *rows;
} utab;

#define UTAB(type) {.row_size = sizeof(type)}

static inline ukey ukey_of(uint64_t hi, uint64_t lo)
{
    ukey k = {hi, lo};
    return k;
}

static inline void *utab_at(const utab *t, size_t i)
{
    return t->rows + i * t->row_size;
}

/* The first row whose key is not below k. */
size_t utab_lower_bound(const utab *t, ukey k);
void *utab_find(const utab *t, ukey k);
/* A new zeroed row with key k (which must be absent), or NULL: no memory. */
void *utab_add(utab *t, ukey k);
void utab_del(utab *t, const void *row);
void utab_free(utab *t);

/* ---- ledger.c: who removed which rights from which page ------------------------- */
/*
 * Several users restrict the same (view, gfn) for their own reasons (a tap
 * removes X, the page-table monitor removes W). The ledger counts, per right,
 * how many holds remove it; the page gets its access as first seen minus
 * every right someone removes, and its first access back with the last hold.
 * Shared (reference counted) by a manager, its tap and its page-table monitor.
 */
typedef struct ledger ledger;

ledger *ledger_new(vmic_core *core);
ledger *ledger_ref(ledger *l);
void ledger_unref(ledger *l);
vmic_status ledger_restrict(ledger *l, vmic_view_t view, vmic_gfn_t gfn, vmic_access_t removed);
vmic_status ledger_release(ledger *l, vmic_view_t view, vmic_gfn_t gfn, vmic_access_t removed);
/* (view, gfn) pairs holding a restriction now. */
size_t ledger_pages(const ledger *l);

/* ---- tap controllers (bpm/) ------------------------------------------------------- */

/* What a controller did with an access to one of its guarded pages. */
typedef enum tap_access {
    TAP_ACCESS_NONE = 0,      /* not one of its pages: not its business */
    TAP_ACCESS_SERVED,        /* answered in resp (a read served from view 0) */
    TAP_ACCESS_WRITE_THROUGH, /* answered Singlestep; call resync after the step */
} tap_access;

typedef struct tap_ops {
    const char *name;
    bool views;               /* taps live in views (else one set for all) */
    bool by_va;               /* a tap is a virtual address (debug registers) */
    /* The trait. */
    bool (*check_event)(vmic_tap *t, const vmic_event_t *ev, vmic_view_t *view,
                        vmic_gfn_t *gfn);
    vmic_status (*insert)(vmic_tap *t, vmic_view_t view, vmic_va_t va, vmic_pa_t pa);
    vmic_status (*remove)(vmic_tap *t, vmic_view_t view, vmic_va_t va, vmic_pa_t pa);
    vmic_status (*monitor)(vmic_tap *t, vmic_view_t view, vmic_gfn_t gfn);
    vmic_status (*unmonitor)(vmic_tap *t, vmic_view_t view, vmic_gfn_t gfn);
    /* How a vCPU gets past a tap (hit or not): fills resp. */
    void (*step_over)(vmic_tap *t, const vmic_event_t *ev, vmic_event_response_t *resp);
    /* Reads and writes of a guarded page (NULL: they cause no event). */
    tap_access (*page_access)(vmic_tap *t, const vmic_event_t *ev, vmic_event_response_t *resp);
    /* After a write-through: the page changed under its taps. */
    vmic_status (*resync)(vmic_tap *t, vmic_view_t view, vmic_gfn_t gfn);
    /* Removes every tap and guard; the controller stays usable. */
    vmic_status (*clear)(vmic_tap *t);
    void (*destroy)(vmic_tap *t);
} tap_ops;

/* Every controller's state begins with this. */
struct vmic_tap {
    const tap_ops *ops;
    vmic_core *core;
    ledger *ledger;
};

vmic_status memory_tap_open(vmic_core *core, ledger *l, vmic_tap **out);
vmic_status breakpoint_tap_open(vmic_core *core, ledger *l, bool visible, vmic_tap **out);
vmic_status debugreg_tap_open(vmic_core *core, vmic_tap **out);
vmic_status execwatch_tap_open(vmic_core *core, vmic_tap **out);
vmic_status tap_clear(vmic_tap *t);

/* The view step-overs run in: every tap leaves it clean. */
#define TAP_CLEAN_VIEW VMIC_VIEW_DEFAULT

/* FastSinglestep in the clean view: the one instruction runs on the clean
 * page, then the vCPU is back in its view, with no event. */
static inline void respond_step_clean(vmic_event_response_t *resp)
{
    resp->action = VMIC_ACTION_FAST_SINGLESTEP;
    resp->set_view = true;
    resp->view = TAP_CLEAN_VIEW;
}

/* ---- the page-table monitor (ptm/) ---------------------------------------------------- */

/* A monitor whose page restrictions go through l (the manager's ledger). */
vmic_status ptm_open_shared(vmic_core *core, ledger *l, vmic_ptm **out);
vmic_status ptm_clear(vmic_ptm *ptm);

/* ---- the manager, for dispatch.c ------------------------------------------------------- */

/* The page-table monitor the manager keeps its breakpoints with, or NULL. */
vmic_ptm *bpm_ptm(vmic_bpm *bpm);
/* Moves the manager's breakpoints after a page-table change. */
void bpm_page_changed(vmic_bpm *bpm, const vmic_page_event_t *pe);
vmic_bpm_stats_t *bpm_stats_ref(vmic_bpm *bpm);
/* Per-vCPU work the dispatch owes a vCPU at its next single-step. */
typedef struct bpm_pending {
    bool tables;              /* process its dirty page-table entries */
    bool resync;              /* a write-through of (view, gfn) */
    vmic_view_t view;         /* ... and the view to go back to */
    vmic_gfn_t gfn;
} bpm_pending;
bpm_pending *bpm_pending_of(vmic_bpm *bpm, vmic_vcpu_t vcpu);

#endif
