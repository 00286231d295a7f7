/*
 * The mock driver: a guest the test scripts instruction by instruction, for
 * unit tests of what sits on the event model (breakpoint manager, page-table
 * monitor, dispatch) without /dev/kvm. The shape is vmi-rs's mock driver:
 *
 *   - guest-physical RAM from pa 0, then spare pages (vmic_alloc_gfn);
 *   - registers per vCPU (the test sets CR3 and friends);
 *   - views with per-page R/W/X and gfn remaps; view 0 always exists;
 *   - four debug-register execute breakpoints, in every vCPU and view;
 *   - events delivered through the event sink like a real driver's: while a
 *     session runs (vmic_run_events, vmic_bpm_run) the mock runs the test's
 *     guest function on a vCPU thread of its own, and each instruction it
 *     executes (vmic_mock_exec, _load, _store) raises the events a hardware
 *     vCPU would: a debug-register breakpoint at the fetched va, a fetch,
 *     read or write the vCPU's view forbids, an INT3 when INT3 is
 *     monitored, the single-step a response asked for. The
 *     response is applied as a real driver does (Continue lets a trapped
 *     access proceed, in the response's view if it names one, and runs an
 *     INT3 again; Singlestep does the same, then reports the next
 *     instruction; FastSinglestep runs it once in the response's view and
 *     comes back; Emulate completes it in place; Deny drops it;
 *     ReinjectInterrupt hands an INT3 to the guest's handler; past a
 *     debug-register breakpoint the instruction runs with that slot off,
 *     as KVM steps over one; new registers
 *     with another RIP skip it), and
 *     every (event, response) is recorded for the test to assert on;
 *   - faults the test injects: the n-th next call of an operation fails.
 *
 * Page tables are walked by the mock itself (4-level, 4 KiB / 2 MiB / 1 GiB
 * leaves), through the vCPU's view: it is the guest's MMU, not vmic's.
 */
#ifndef VMIC_TEST_MOCK_H
#define VMIC_TEST_MOCK_H

#include <vmic/core.h>

typedef struct vmic_mock vmic_mock;

typedef struct vmic_mock_options {
    uint64_t ram_size;       /* bytes of RAM from pa 0, a multiple of 4 KiB */
    uint32_t vcpus;          /* 0: 1 */
    uint32_t spare_pages;    /* gfns above RAM for vmic_alloc_gfn; 0: 16 */
    /* Publish no host pointer: the core reaches memory through read and
     * write only, so that an injected read or write fault is seen. */
    bool copy_only;
} vmic_mock_options_t;

vmic_status vmic_mock_open(const vmic_mock_options_t *opt, vmic_driver **out);
/* The mock behind a driver vmic_mock_open made (NULL for any other). */
vmic_mock *vmic_mock_of(vmic_driver *d);

/* RAM then the spare pages, as physical memory (no view): where the test
 * builds page tables and code. */
uint8_t *vmic_mock_memory(vmic_mock *m);
vmic_gfn_t vmic_mock_first_spare(vmic_mock *m);
/* A vCPU's registers, set before a session (or from the guest function). */
vmic_status vmic_mock_set_regs(vmic_mock *m, vmic_vcpu_t vcpu, const vmic_amd64_regs_t *regs);
vmic_status vmic_mock_get_regs(vmic_mock *m, vmic_vcpu_t vcpu, vmic_amd64_regs_t *regs);
/* The view a vCPU runs in now. */
vmic_view_t vmic_mock_vcpu_view(vmic_mock *m, vmic_vcpu_t vcpu);
/* What a vCPU in `view` sees at pa (remaps applied, access ignored). */
vmic_status vmic_mock_view_read(vmic_mock *m, vmic_view_t view, vmic_pa_t pa, void *buf,
                                size_t len);

/* ---- the guest --------------------------------------------------------------- */

/* Runs on the mock's vCPU thread from the next attach of an event sink; the
 * guest has exited (the session ends) when it returns. */
typedef void (*vmic_mock_guest_fn)(vmic_mock *m, void *arg);
void vmic_mock_set_guest(vmic_mock *m, vmic_mock_guest_fn fn, void *arg);

/*
 * One instruction of vcpu, from the guest function. Each fails with
 * VMIC_E_UNMAPPED if va does not translate, VMIC_E_INTERRUPTED once no
 * session takes events, VMIC_E_TIMEOUT if the responses leave the vCPU
 * running the same INT3 again and again, and with the status
 * of a response the mock cannot apply.
 */
vmic_status vmic_mock_exec(vmic_mock *m, vmic_vcpu_t vcpu, vmic_va_t va);
vmic_status vmic_mock_load(vmic_mock *m, vmic_vcpu_t vcpu, vmic_va_t rip, vmic_va_t va,
                           uint8_t size, uint64_t *value);
vmic_status vmic_mock_store(vmic_mock *m, vmic_vcpu_t vcpu, vmic_va_t rip, vmic_va_t va,
                            uint8_t size, uint64_t value);
/* A raw event, as the test builds it (seq, view and regs are the mock's:
 * the vCPU's view and registers, rip from ev->regs.rip when nonzero). The
 * response's view and registers are applied; nothing is executed. */
vmic_status vmic_mock_inject(vmic_mock *m, const vmic_event_t *ev, vmic_event_response_t *resp);

/* ---- what happened -------------------------------------------------------------- */

typedef struct vmic_mock_record {
    vmic_event_t event;
    vmic_event_response_t response;
} vmic_mock_record_t;

/* Every event a handler answered since open (or the last clear), in order. */
size_t vmic_mock_records(vmic_mock *m, const vmic_mock_record_t **out);
void vmic_mock_clear_records(vmic_mock *m);

typedef struct vmic_mock_stats {
    uint64_t reads, writes;          /* read/write operations from the core */
    uint64_t events;                 /* delivered to the sink and answered */
    uint64_t refused;                /* the sink refused: its session was ending */
    uint64_t executed;               /* guest instructions completed */
    uint64_t guest_int3s;            /* INT3s the guest's own handler took */
    uint64_t denied;                 /* instructions a Deny dropped */
    uint64_t emulated;
    uint64_t set_access, remaps, view_switches;
    uint32_t views;                  /* live views besides view 0 */
    uint32_t spare_in_use;           /* spare gfns allocated */
    bool int3_monitor;
    uint32_t hw_breakpoints;         /* debug registers in use */
} vmic_mock_stats_t;
vmic_mock_stats_t vmic_mock_stats(vmic_mock *m);

/* ---- injected faults ---------------------------------------------------------------- */

typedef enum vmic_mock_op {
    VMIC_MOCK_READ = 0,
    VMIC_MOCK_WRITE,
    VMIC_MOCK_SET_ACCESS,
    VMIC_MOCK_SWITCH_VIEW,
    VMIC_MOCK_CREATE_VIEW,
    VMIC_MOCK_REMAP,
    VMIC_MOCK_ALLOC_GFN,
    VMIC_MOCK_MONITOR,
    VMIC_MOCK_NOPS
} vmic_mock_op;

/* The call of op after `after` more calls fails, once, with status. */
void vmic_mock_fail(vmic_mock *m, vmic_mock_op op, uint32_t after, vmic_status status);
/* The next call of op that touches gfn fails, once, with status (reads and
 * writes: a byte of the page; set_access and remap_gfn: that gfn). */
void vmic_mock_fail_at(vmic_mock *m, vmic_mock_op op, vmic_gfn_t gfn, vmic_status status);
/* Calls of op so far. */
uint64_t vmic_mock_calls(vmic_mock *m, vmic_mock_op op);

#endif
