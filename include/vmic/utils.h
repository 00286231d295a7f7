/*
 * vmic utils layer: breakpoints for tools, built on the core's event model.
 *
 *   tap controller   how one breakpoint is made physically (vmi-rs's
 *                    TapController): three kinds, below
 *   page-table monitor  watches the page-table entries that translate a
 *                    virtual address and reports when it is mapped (page-in),
 *                    unmapped or moved (page-out, then page-in)
 *   breakpoint manager  breakpoints by virtual address in an address context
 *                    and a view, with the caller's key and tag; keeps each one
 *                    on the page its address maps to, through the page-table
 *                    monitor, so a breakpoint on an address not mapped yet
 *                    becomes active when the guest maps it
 *   dispatch         the canonical handling of the events all this causes, so
 *                    that a tool writes only its callbacks
 *
 * Everything a manager changes (page access, shadow pages, remapped gfns,
 * views, debug registers, the INT3 monitor) is undone when the manager is
 * closed or cleared, and by every session end (it registers a restore hook
 * with the core): a manager outlives a session, empty. Close managers before
 * the core.
 *
 * Like the core, none of this is thread-safe: use a manager from the event
 * handler's callbacks (the session serializes them) or while no session
 * runs. A tap placed while other vCPUs run may miss their writes to the page
 * made between its copy and its remapping (pause the guest first if that
 * matters).
 *
 * Views: a breakpoint in view 0 (VMIC_VIEW_DEFAULT) lives in the manager's
 * own view, which the manager creates with the first breakpoint that needs
 * it, moves every vCPU into, and destroys with the last one; view 0 itself
 * stays clean, and step-overs run there. A breakpoint in another view lives
 * in that view, which the caller created and put vCPUs in.
 */
#ifndef VMIC_UTILS_H
#define VMIC_UTILS_H

#include <vmic/core.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- tap controllers ------------------------------------------------------ */

typedef enum vmic_tap_kind {
    /* Whichever kind the driver allows, so that a breakpoint user need not
     * know the driver: exec watches first (only the hitting vCPU waits),
     * then debug registers (guest memory untouched, no view), then INT3 in
     * shadow pages (views and INT3 events), then page access (views).
     * vmic_tap_auto_kind says which. */
    VMIC_TAP_AUTO = 0,
    /* vmi-rs's MemoryController: the page loses X in the view. Executing
     * anything on it is a memory-access event; reads and writes proceed with
     * no event. A hit is stepped over with FastSinglestep in view 0. */
    VMIC_TAP_MEMORY = 1,
    /* INT3 written into a shadow copy of the page (vmic_alloc_gfn), which the
     * view maps in place of the original: the original page stays clean for
     * view 0. In the view the page is execute-only, so the guest reading its
     * code gets the original bytes (each read is served from view 0) and its
     * writes go to the original and are copied into the shadow. An INT3 it
     * did not place is not its own: the dispatch reinjects it. */
    VMIC_TAP_BREAKPOINT,
    /* Debug-register execute breakpoints: at most four addresses, set in
     * every vCPU; no views (the shape for drivers without them). */
    VMIC_TAP_DEBUGREG,
    /* The driver's exec watches by guest-physical address (qemu with vmic's
     * plugin): no limit, no view, guest memory untouched, and the guest
     * runs on while one vCPU waits for its hit's answer. Hits carry no
     * registers (VMIC_EVENT_NO_REGS): a handler reads guest memory. */
    VMIC_TAP_EXEC_WATCH,
} vmic_tap_kind;

typedef struct vmic_tap_options {
    vmic_tap_kind kind;
    /* VMIC_TAP_BREAKPOINT: map the shadow page read-execute instead of
     * execute-only. Reads in the view then see the INT3 bytes, but only the
     * INT3s exit: no exit per instruction run from the page (see kvm.h, what
     * an execute-only page costs on KVM). */
    bool visible;
    uint64_t reserved[4];    /* zero: room to grow without an ABI break */
} vmic_tap_options_t;

/*
 * A tap controller (a table of function pointers inside, one per kind). Its
 * five operations are the trait; the manager calls them, and a tool may too.
 */
typedef struct vmic_tap vmic_tap;

VMIC_API vmic_status vmic_tap_open(vmic_core *core, const vmic_tap_options_t *opt, vmic_tap **out);
/* The kind VMIC_TAP_AUTO opens on core's driver; VMIC_TAP_AUTO itself when
 * the driver allows none (vmic_tap_open then says what it lacks). */
VMIC_API vmic_tap_kind vmic_tap_auto_kind(vmic_core *core);
/* Removes every tap it placed, then frees it. */
VMIC_API void vmic_tap_close(vmic_tap *tap);
VMIC_API const char *vmic_tap_name(const vmic_tap *tap);   /* "memory", "breakpoint", "debugreg", "plugin" */

/* Whether ev came from one of this controller's taps: then the view and the
 * gfn of the tapped page it happened on. */
VMIC_API bool vmic_tap_check_event(vmic_tap *tap, const vmic_event_t *ev, vmic_view_t *view,
                          vmic_gfn_t *gfn);
/* One tap at pa in view (va: the address the guest executes, which the
 * debug-register controller needs). One call per tap: sharing is the
 * manager's business. */
VMIC_API vmic_status vmic_tap_insert(vmic_tap *tap, vmic_view_t view, vmic_va_t va, vmic_pa_t pa);
VMIC_API vmic_status vmic_tap_remove(vmic_tap *tap, vmic_view_t view, vmic_va_t va, vmic_pa_t pa);
/* Guards a page that holds taps (memory: no X; breakpoint: execute-only);
 * called once per page after its first tap, undone after its last. */
VMIC_API vmic_status vmic_tap_monitor(vmic_tap *tap, vmic_view_t view, vmic_gfn_t gfn);
VMIC_API vmic_status vmic_tap_unmonitor(vmic_tap *tap, vmic_view_t view, vmic_gfn_t gfn);

/* ---- page-table monitor ------------------------------------------------------ */

typedef enum vmic_page_change {
    VMIC_PAGE_IN = 1,    /* va now translates, to pa */
    VMIC_PAGE_OUT,       /* va no longer translates to pa */
} vmic_page_change;

typedef struct vmic_page_event {
    vmic_page_change change;
    vmic_view_t view;
    vmic_pa_t root;      /* the address context */
    vmic_va_t va;        /* the watched page (4 KiB aligned) */
    vmic_pa_t pa;        /* its 4 KiB frame: the new one, or the one it left */
} vmic_page_event_t;

typedef struct vmic_ptm vmic_ptm;
typedef void (*vmic_page_fn)(const vmic_page_event_t *pe, void *arg);

/*
 * The table pages a watched translation goes through are write-protected in
 * the watch's view and in view 0 (where step-overs run an instruction: a
 * page-table write made there must not be missed). A write to one of them is
 * a memory-access event: vmic_ptm_mark_dirty notes it for the writing vCPU,
 * whose response must let the write complete and report the next
 * instruction boundary (Singlestep); vmic_ptm_process then walks again each
 * translation the page serves and reports what changed. Walks go through
 * vmic_translate_walk: at most five levels, tables only inside guest memory.
 * Needs a driver with views (VMIC_CAP_VIEWS). Like a manager, a monitor is
 * cleared (every watch dropped) by each session end.
 */
VMIC_API vmic_status vmic_ptm_open(vmic_core *core, vmic_ptm **out);
/* Unwatches everything (every table page gets its access back), frees. */
VMIC_API void vmic_ptm_close(vmic_ptm *ptm);
/* Reference counted per (view, root, va page). *present and *pa (may be
 * NULL) say how va translates now. */
VMIC_API vmic_status vmic_ptm_watch(vmic_ptm *ptm, vmic_view_t view, vmic_pa_t root, vmic_va_t va,
                           bool *present, vmic_pa_t *pa);
VMIC_API vmic_status vmic_ptm_unwatch(vmic_ptm *ptm, vmic_view_t view, vmic_pa_t root, vmic_va_t va);
/* A write to a watched table page (ev is its memory-access event): true if
 * it was one; the entries it may have changed are dirty for ev->vcpu. */
VMIC_API bool vmic_ptm_mark_dirty(vmic_ptm *ptm, const vmic_event_t *ev);
/* Once vcpu's writing instruction has completed: walks the dirty
 * translations again and calls fn for each change (a move is a page-out
 * then a page-in). Flushes the core's translation cache if anything moved. */
VMIC_API vmic_status vmic_ptm_process(vmic_ptm *ptm, vmic_vcpu_t vcpu, vmic_page_fn fn, void *arg);
VMIC_API bool vmic_ptm_dirty(const vmic_ptm *ptm, vmic_vcpu_t vcpu);

typedef struct vmic_ptm_stats {
    uint64_t watches;        /* (view, root, va page) watched now */
    uint64_t tables;         /* (view, table page) write-protected now */
    uint64_t writes;         /* table writes marked dirty */
    uint64_t walks;          /* translations walked again */
    uint64_t page_ins, page_outs;
    uint64_t reserved[4];    /* zeroed by vmic: room to grow */
} vmic_ptm_stats_t;
/* Through a pointer, not by value: the struct may grow. */
VMIC_API void vmic_ptm_stats(const vmic_ptm *ptm, vmic_ptm_stats_t *out);

/* ---- breakpoint manager ------------------------------------------------------- */

typedef struct vmic_breakpoint {
    vmic_va_t va;
    vmic_pa_t root;      /* the address context it lives in (a CR3); for a
                            global breakpoint, where its va is translated */
    bool global;         /* hits in every address context */
    vmic_view_t view;    /* 0: the manager's own view (see above) */
    uint64_t key;        /* the caller's: whose it is */
    uint64_t tag;        /* the caller's: what it is */
    uint64_t reserved[2];/* zero: room to grow (arrays of these are the caller's) */
} vmic_breakpoint_t;

/* A breakpoint and where it is now. */
typedef struct vmic_bp_state {
    vmic_breakpoint_t bp;
    bool active;         /* its va translates: a tap is in place at pa */
    vmic_pa_t pa;
    vmic_view_t tap_view;/* the view its tap is in (the own view for view 0) */
    uint64_t reserved[2];/* zeroed by vmic: room to grow */
} vmic_bp_state_t;

typedef struct vmic_bpm vmic_bpm;

/* A manager over `tap` (it takes ownership, also when opening fails). */
VMIC_API vmic_status vmic_bpm_open(vmic_core *core, vmic_tap *tap, vmic_bpm **out);
/* Clears, then frees (with its tap). */
VMIC_API void vmic_bpm_close(vmic_bpm *bpm);
VMIC_API vmic_tap *vmic_bpm_tap(vmic_bpm *bpm);
VMIC_API vmic_core *vmic_bpm_core(vmic_bpm *bpm);

/*
 * Inserts a breakpoint: active at once if its va translates in root, else
 * pending until the guest maps it. Breakpoints are told apart by key, view,
 * va and root (or global): the same one twice is VMIC_E_BUSY. Breakpoints
 * on one address share one tap, and taps on one page share its guard, all
 * reference counted.
 */
VMIC_API vmic_status vmic_bpm_insert(vmic_bpm *bpm, const vmic_breakpoint_t *bp);
/* Removes the breakpoint with bp's key, view, va and root (tag ignored). */
VMIC_API vmic_status vmic_bpm_remove(vmic_bpm *bpm, const vmic_breakpoint_t *bp);
/* Removes every breakpoint inserted with this view (0: the own view's);
 * *removed (may be NULL) gets how many. */
VMIC_API vmic_status vmic_bpm_remove_by_view(vmic_bpm *bpm, vmic_view_t view, size_t *removed);
/* Removes every breakpoint: nothing the manager changed stays behind. */
VMIC_API vmic_status vmic_bpm_clear(vmic_bpm *bpm);

/* The breakpoints ev hit: every one at the address executed (same view,
 * physical address and va, in the event's address context or global).
 * Fills out[0..max) and returns how many there are (may exceed max). */
VMIC_API size_t vmic_bpm_get_by_event(vmic_bpm *bpm, const vmic_event_t *ev, vmic_bp_state_t *out,
                             size_t max);
VMIC_API bool vmic_bpm_contains_by_event(vmic_bpm *bpm, const vmic_event_t *ev);
/* Every breakpoint, active or pending, at va in root (and the global ones
 * at va). */
VMIC_API size_t vmic_bpm_get_by_address(vmic_bpm *bpm, vmic_pa_t root, vmic_va_t va,
                               vmic_bp_state_t *out, size_t max);
/* Every breakpoint (out may be NULL with max 0, to count). */
VMIC_API size_t vmic_bpm_list(vmic_bpm *bpm, vmic_bp_state_t *out, size_t max);

/* The manager's own view, if it exists now. */
VMIC_API bool vmic_bpm_own_view(vmic_bpm *bpm, vmic_view_t *view);

/* Without a page-table monitor (a driver without views), pending
 * breakpoints are looked at again only here. */
VMIC_API vmic_status vmic_bpm_rescan(vmic_bpm *bpm);

/* ---- dispatch: the canonical event handling ---------------------------------------- */
/*
 *   breakpoint hit          on_hit, then the controller's step-over: memory and
 *                           breakpoint: FastSinglestep in view 0 (the page is
 *                           clean there), back to the view, no event; debug
 *                           registers: Continue (the driver steps over with
 *                           that slot off)
 *   tapped page, no hit     the same step-over, silently (memory: another
 *                           instruction on the page; a breakpoint of another
 *                           address context)
 *   INT3 not the manager's  ReinjectInterrupt: the guest's own handler runs
 *   read of a shadowed page FastSinglestep in view 0: the clean bytes
 *   write to a shadowed page  Singlestep in view 0: the write lands in the
 *                           original; at the single-step the shadow is
 *                           copied again (INT3s kept), and back to the view
 *   page-table write        marked dirty, Singlestep; at the single-step the
 *                           translations are walked again: breakpoints follow
 *                           page-ins and page-outs, then on_page
 * Anything else goes to on_event (default: Continue).
 */

typedef struct vmic_bpm_handler {
    /* Required. hits[0..n) are every breakpoint at the executed address.
     * resp arrives as the step-over; a callback may set registers (moving
     * RIP away skips the step-over) or change the breakpoints. */
    vmic_status (*on_hit)(vmic_bpm *bpm, const vmic_event_t *ev, const vmic_bp_state_t *hits,
                          size_t n, vmic_event_response_t *resp, void *arg);
    /* Optional: a watched address moved (the manager has already moved its
     * breakpoints). */
    void (*on_page)(vmic_bpm *bpm, const vmic_page_event_t *pe, void *arg);
    /* Optional: the events that are not the manager's. resp arrives as the
     * default answer. */
    vmic_status (*on_event)(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *resp,
                            void *arg);
    /* Optional, passed on to vmic_run_events by vmic_bpm_run. */
    bool (*should_stop)(vmic_core *core, void *arg);
    void (*on_timeout)(vmic_core *core, void *arg);
    void *arg;
    void *reserved[4];   /* NULL: room for more callbacks */
} vmic_bpm_handler_t;

/* One event through the manager, for a tool that runs its own session:
 * call it from on_event with the response it got. */
VMIC_API vmic_status vmic_bpm_dispatch(vmic_bpm *bpm, const vmic_bpm_handler_t *h, const vmic_event_t *ev,
                              vmic_event_response_t *resp);
/* A whole session (vmic_run_events) through the manager; its end clears it. */
VMIC_API vmic_status vmic_bpm_run(vmic_bpm *bpm, const vmic_bpm_handler_t *h, uint32_t timeout_ms);

typedef struct vmic_bpm_stats {
    uint64_t hits;           /* events that hit at least one breakpoint */
    uint64_t passes;         /* tapped-page events that hit none */
    uint64_t reinjected;     /* INT3s that were not the manager's */
    uint64_t reads_served;   /* reads of shadowed pages, served from view 0 */
    uint64_t writes_through; /* writes to shadowed pages */
    uint64_t table_writes;   /* page-table writes */
    uint64_t page_ins, page_outs;  /* watched addresses mapped, unmapped */
    uint64_t activations, deactivations;  /* breakpoints given a tap, and taken
                                             off theirs (page-ins and inserts;
                                             page-outs and removals) */
    uint64_t activation_failures;  /* a page-in whose tap could not be placed */
    uint64_t taps, pages;    /* taps and guarded pages now */
    uint64_t reserved[4];    /* zeroed by vmic: room to grow */
} vmic_bpm_stats_t;
/* Through a pointer, not by value: the struct may grow. */
VMIC_API void vmic_bpm_stats(vmic_bpm *bpm, vmic_bpm_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
