/*
 * vmic core layer: a session over one driver.
 *
 * The core reads and writes guest memory by physical address and by virtual
 * address in an explicit address context (a page-table root), translates
 * addresses with the amd64 walker, and keeps two caches whose sizes the caller
 * chooses: a page cache (for memory the driver does not map into this process)
 * and a translation cache keyed by (root, va page). Writes made through the
 * core invalidate what they change; anything else (a running guest changing
 * its own tables) needs an explicit flush.
 *
 * A vmic_core is not thread-safe: use one per thread, or lock around it
 * (what may run concurrently, and what libvmic does with signals, is in
 * <vmic/base.h>).
 */
#ifndef VMIC_CORE_H
#define VMIC_CORE_H

#include <vmic/arch.h>
#include <vmic/base.h>
#include <vmic/driver.h>
#include <vmic/event.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vmic_core vmic_core;

typedef struct vmic_core_config {
    size_t page_cache_pages; /* 0: default 1024 */
    size_t tlb_entries;      /* 0: default 16384; rounded up to a power of 2 */
    uint64_t reserved[4];    /* zero */
} vmic_core_config_t;

/* Takes ownership of drv (closed with the core, also when open fails). */
VMIC_API vmic_status vmic_core_open(vmic_driver *drv, const vmic_core_config_t *cfg, vmic_core **out);
VMIC_API void vmic_core_close(vmic_core *core);

VMIC_API vmic_driver *vmic_core_driver(vmic_core *core);
VMIC_API const vmic_driver_info_t *vmic_core_info(vmic_core *core);
VMIC_API bool vmic_core_has(vmic_core *core, uint64_t caps);

/*
 * Paging configuration used for virtual addresses. Defaults to what vCPU 0's
 * registers describe, or 4-level paging when the driver has no registers.
 */
VMIC_API vmic_paging_t vmic_core_paging(vmic_core *core);
VMIC_API void vmic_core_set_paging(vmic_core *core, const vmic_paging_t *pg);

/* ---- physical memory ---------------------------------------------------- */

VMIC_API vmic_status vmic_read_pa(vmic_core *core, vmic_pa_t pa, void *buf, size_t len);
VMIC_API vmic_status vmic_write_pa(vmic_core *core, vmic_pa_t pa, const void *buf, size_t len);

/*
 * A pointer to guest memory at pa, valid for *len bytes (up to the end of the
 * page, or of the host-mapped region when the driver maps memory in place).
 * Valid until the next call on this core that can evict pages.
 */
VMIC_API vmic_status vmic_map_pa(vmic_core *core, vmic_pa_t pa, const uint8_t **ptr, size_t *len);
/* A hint that [pa, pa + len) will not be looked at again soon: a dump
 * driver drops those pages of its file mapping from the process. Pointers
 * from vmic_map_pa stay valid (the bytes come back from the file). */
VMIC_API void vmic_release_pa(vmic_core *core, vmic_pa_t pa, uint64_t len);

VMIC_API vmic_status vmic_read_u8_pa(vmic_core *core, vmic_pa_t pa, uint8_t *v);
VMIC_API vmic_status vmic_read_u16_pa(vmic_core *core, vmic_pa_t pa, uint16_t *v);
VMIC_API vmic_status vmic_read_u32_pa(vmic_core *core, vmic_pa_t pa, uint32_t *v);
VMIC_API vmic_status vmic_read_u64_pa(vmic_core *core, vmic_pa_t pa, uint64_t *v);

/* ---- virtual memory ------------------------------------------------------ */

/* An address context: which page tables translate a virtual address. */
typedef struct vmic_ctx {
    vmic_pa_t root;   /* CR3 value (flag and PCID bits are ignored) */
} vmic_ctx_t;

static inline vmic_ctx_t vmic_ctx(vmic_pa_t root) { vmic_ctx_t c = {root}; return c; }

/* Cached translation of one virtual address. */
VMIC_API vmic_status vmic_translate(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, vmic_pa_t *pa);

/* A full walk with every step, neither using nor filling the translation
 * cache; on failure t says where and why, and the error message says it too. */
VMIC_API vmic_status vmic_translate_walk(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va,
                                vmic_translation_t *t);

/* Reads and writes across page boundaries; each page translated separately.
 * On failure nothing is guaranteed about buf, and the message names the first
 * va that did not translate. */
VMIC_API vmic_status vmic_read_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, void *buf, size_t len);
VMIC_API vmic_status vmic_write_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, const void *buf, size_t len);

VMIC_API vmic_status vmic_read_u8_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, uint8_t *v);
VMIC_API vmic_status vmic_read_u16_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, uint16_t *v);
VMIC_API vmic_status vmic_read_u32_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, uint32_t *v);
VMIC_API vmic_status vmic_read_u64_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, uint64_t *v);
/* A guest pointer (8 bytes on amd64). */
VMIC_API vmic_status vmic_read_ptr_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, vmic_va_t *v);

/*
 * Reads a NUL-terminated string of at most max_len bytes (not counting the
 * NUL) into buf, which must hold max_len + 1 bytes; always NUL-terminates.
 * *len (may be NULL) gets the length read, also on failure. A string that does not end within
 * max_len bytes fails with VMIC_E_RANGE and leaves the first max_len bytes.
 */
VMIC_API vmic_status vmic_read_str_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, char *buf,
                             size_t max_len, size_t *len);
VMIC_API vmic_status vmic_read_str_pa(vmic_core *core, vmic_pa_t pa, char *buf, size_t max_len,
                             size_t *len);

/* Enumerates the leaf mappings of ctx (see vmic_amd64_mappings). */
VMIC_API vmic_status vmic_mappings(vmic_core *core, vmic_ctx_t ctx, uint64_t max_leaves,
                          vmic_mapping_fn fn, void *arg, uint64_t *skipped);

/* ---- caches --------------------------------------------------------------- */

VMIC_API void vmic_flush_tlb(vmic_core *core);
VMIC_API void vmic_flush_page_cache(vmic_core *core);

typedef struct vmic_cache_stats {
    uint64_t tlb_hits, tlb_misses, tlb_flushes;
    uint64_t page_hits, page_misses, page_evictions;
    uint64_t reserved[4];
} vmic_cache_stats_t;
/* Into *st (an out-pointer, so that the struct can grow). */
VMIC_API void vmic_cache_stats(vmic_core *core, vmic_cache_stats_t *st);

/* ---- vCPUs ------------------------------------------------------------------ */

VMIC_API uint32_t vmic_vcpu_count(vmic_core *core);
VMIC_API vmic_status vmic_get_regs(vmic_core *core, vmic_vcpu_t vcpu, vmic_amd64_regs_t *regs);
VMIC_API vmic_status vmic_set_regs(vmic_core *core, vmic_vcpu_t vcpu, const vmic_amd64_regs_t *regs);
VMIC_API vmic_status vmic_pause(vmic_core *core);
VMIC_API vmic_status vmic_resume(vmic_core *core);

/* ---- events (the types are in event.h) --------------------------------------- */
/*
 * A driver answers every action for every event kind it reports, or says
 * precisely why it cannot (VMIC_E_UNSUPPORTED and a message). A handler may ask
 * first; vmic_run_events asks for every response and ends the session with
 * that error when the answer is no.
 */
VMIC_API vmic_status vmic_check_response(vmic_core *core, const vmic_event_t *ev,
                                const vmic_event_response_t *resp);

typedef struct vmic_event_handler {
    /* Required. *resp arrives filled in as Continue. Returning an error ends
     * the session with it. Called on the stopped vCPU's thread. */
    vmic_status (*on_event)(vmic_core *core, const vmic_event_t *ev,
                            vmic_event_response_t *resp, void *arg);
    /* No event for timeout_ms. */
    void (*on_timeout)(vmic_core *core, void *arg);
    /* SIGINT or SIGTERM arrived; the session then ends. */
    void (*on_interrupted)(vmic_core *core, int signo, void *arg);
    /* Polled after every event and every wake-up: true ends the session. */
    bool (*should_stop)(vmic_core *core, void *arg);
    /* Always called once as the session ends, before vmic undoes what the
     * session changed, with every vCPU paused. */
    void (*cleanup)(vmic_core *core, void *arg);
    void *arg;
    void *reserved[4];   /* NULL: callbacks to come */
} vmic_event_handler_t;

/*
 * Runs an event session until should_stop says so or the guest stops running
 * (VMIC_OK), a signal taken by vmic_core_take_signals arrives
 * (VMIC_E_INTERRUPTED), or a callback or the driver fails (that error).
 * Cleanup always runs. Without vmic_core_take_signals the session leaves the
 * signal mask and every signal to the caller: end it with should_stop.
 */
VMIC_API vmic_status vmic_run_events(vmic_core *core, const vmic_event_handler_t *handler,
                            uint32_t timeout_ms);

/*
 * Opt-in (off by default): while it is on, every vmic_run_events on this core
 * (and so vmic_bpm_run and vmic_tracer_run over it) blocks SIGINT, SIGTERM
 * and SIGHUP in the calling thread, reads them from a signalfd, calls
 * on_interrupted and ends the session with VMIC_E_INTERRUPTED; the thread's
 * mask is restored when the session ends. It takes only signals that reach
 * that thread: call it from a thread where no other thread of the process
 * accepts them (block them in the others). Meant for a program that is the
 * process, like the vmic command; a library embedding vmic leaves it off.
 */
VMIC_API void vmic_core_take_signals(vmic_core *core, bool take);

/*
 * Restore hooks: a layer above the core that changes the event model's state
 * through it (the utils' breakpoint managers: shadow pages, page access,
 * views) registers here how to undo that. Every session end and
 * vmic_core_close call the hooks, newest first, after the handler's cleanup
 * and before the core undoes the rest, so that nothing stays behind however
 * the session ends. A hook must not add or remove hooks.
 */
typedef void (*vmic_restore_fn)(vmic_core *core, void *arg);
VMIC_API vmic_status vmic_add_restore_hook(vmic_core *core, vmic_restore_fn fn, void *arg);
VMIC_API void vmic_remove_restore_hook(vmic_core *core, vmic_restore_fn fn, void *arg);


VMIC_API vmic_status vmic_guest_state(vmic_core *core, vmic_guest_state_t *st);

/* ---- monitors ------------------------------------------------------------ */

VMIC_API vmic_status vmic_monitor_enable(vmic_core *core, const vmic_monitor_t *m);
VMIC_API vmic_status vmic_monitor_disable(vmic_core *core, const vmic_monitor_t *m);

/* ---- views ------------------------------------------------------------------ */
/*
 * A view is a set of page permissions and gfn remappings; view 0 (the
 * default) starts with every page RWX and may be restricted too. Each vCPU
 * runs in one view; vmic_switch_view moves all of them, a response moves one.
 */

VMIC_API vmic_status vmic_create_view(vmic_core *core, vmic_view_t *view);
/* vCPUs still in the view go back to view 0. */
VMIC_API vmic_status vmic_destroy_view(vmic_core *core, vmic_view_t view);
VMIC_API vmic_status vmic_switch_view(vmic_core *core, vmic_view_t view);
VMIC_API vmic_status vmic_vcpu_view(vmic_core *core, vmic_vcpu_t vcpu, vmic_view_t *view);

VMIC_API vmic_status vmic_set_access(vmic_core *core, vmic_view_t view, vmic_gfn_t gfn,
                            vmic_access_t access);
VMIC_API vmic_status vmic_get_access(vmic_core *core, vmic_view_t view, vmic_gfn_t gfn,
                            vmic_access_t *access);
/* In `view`, gfn shows the page of `to` (a shadow page); to == gfn undoes it. */
VMIC_API vmic_status vmic_remap_gfn(vmic_core *core, vmic_view_t view, vmic_gfn_t gfn, vmic_gfn_t to);

/* Spare gfns above guest RAM: zeroed pages the core reads and writes like RAM
 * and the guest sees only where a view remaps a gfn to them. */
VMIC_API vmic_status vmic_alloc_gfn(vmic_core *core, vmic_gfn_t *gfn);
VMIC_API vmic_status vmic_free_gfn(vmic_core *core, vmic_gfn_t gfn);

/* ---- breakpoints, single-step, injection ---------------------------------- */

/*
 * Software breakpoints: an INT3 byte written over guest code at pa, the byte
 * it hides kept here. Hits are VMIC_EVENT_INTERRUPT events (vector 3) once the
 * INT3 monitor is on. The usual step-over: disarm (put the byte back), answer
 * Singlestep, arm again on the SINGLESTEP event.
 */
VMIC_API vmic_status vmic_bp_insert(vmic_core *core, vmic_pa_t pa);
VMIC_API vmic_status vmic_bp_remove(vmic_core *core, vmic_pa_t pa);
VMIC_API bool vmic_bp_lookup(vmic_core *core, vmic_pa_t pa, uint8_t *hidden);
VMIC_API vmic_status vmic_bp_disarm(vmic_core *core, vmic_pa_t pa);
VMIC_API vmic_status vmic_bp_arm(vmic_core *core, vmic_pa_t pa);

/* Execute breakpoints that leave guest memory alone, on every vCPU:
 * VMIC_EVENT_BREAKPOINT events. kvm: the debug registers (at most 4); qemu:
 * gdb Z1 (under TCG no limit, under KVM QEMU's 4 debug registers). */
VMIC_API vmic_status vmic_hw_breakpoint_set(vmic_core *core, vmic_va_t va);
VMIC_API vmic_status vmic_hw_breakpoint_clear(vmic_core *core, vmic_va_t va);

/* Exec watches (VMIC_CAP_EXEC_WATCH): each execution of the instruction at
 * pa, through whatever va, is a VMIC_EVENT_BREAKPOINT event {va, pa} with
 * VMIC_EVENT_NO_REGS; only that vCPU waits for the answer. qemu with vmic's
 * plugin (`vmic boot` loads it): no limit, applied when a session attaches.
 * Continue and FastSinglestep both let the instruction run (the plugin
 * cannot withhold it); Singlestep, Deny, Emulate and new registers are
 * refused with the reason. Removed when the session ends. */
VMIC_API vmic_status vmic_exec_watch_set(vmic_core *core, vmic_pa_t pa);
VMIC_API vmic_status vmic_exec_watch_clear(vmic_core *core, vmic_pa_t pa);
/* Capture (event.h): the programs exec watches may run, and which one the
 * watch at pa runs (1-based; 0 none: a plain held event). A watch with a
 * program reports VMIC_EVENT_CAPTURE events and its vCPU goes on at once
 * (unless held), so the answer is always Continue. VMIC_E_UNSUPPORTED
 * where the driver cannot. */
VMIC_API vmic_status vmic_exec_capture_set(vmic_core *core, const vmic_capture_spec_t *spec);
VMIC_API vmic_status vmic_exec_watch_program(vmic_core *core, vmic_pa_t pa, uint32_t program);

/*
 * Data watchpoints (VMIC_CAP_WATCHPOINT) on every vCPU: an access of the kind
 * `access` (VMIC_ACCESS_W, VMIC_ACCESS_R, or VMIC_ACCESS_RW for either) that
 * touches [va, va + len) becomes a VMIC_EVENT_MEMORY_ACCESS event once the
 * access has completed (RIP past the instruction): memory.va the watched va,
 * memory.pa its translation through that vCPU's page tables. Removed, like
 * breakpoints, when the session ends. qemu: gdb Z2 (W), Z3 (R), Z4 (RW).
 */
VMIC_API vmic_status vmic_watchpoint_set(vmic_core *core, vmic_va_t va, uint32_t len,
                                vmic_access_t access);
VMIC_API vmic_status vmic_watchpoint_clear(vmic_core *core, vmic_va_t va, uint32_t len,
                                  vmic_access_t access);


/* Raised in a stopped vCPU (at an event, or paused) as it resumes. */
VMIC_API vmic_status vmic_inject(vmic_core *core, vmic_vcpu_t vcpu, const vmic_injection_t *inj);

#ifdef __cplusplus
}
#endif
#endif
