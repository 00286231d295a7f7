/* The mock driver's state, shared by its files. Functions named mock_*
 * expect m->mu held unless they say otherwise. */
#ifndef VMIC_TEST_MOCK_INTERNAL_H
#define VMIC_TEST_MOCK_INTERNAL_H

#include <pthread.h>

#include "vmic_mock.h"

#define MOCK_MAX_VCPUS 8
#define MOCK_MAX_VIEWS 16
#define MOCK_RETRIES 4       /* an instruction retried more often is stuck */
#define MOCK_HW_SLOTS 4      /* debug registers DR0..DR3 */

typedef struct mock_vcpu {
    vmic_amd64_regs_t regs;
    vmic_view_t view;
    bool step;               /* a Singlestep response is due after its next insn */
} mock_vcpu;

typedef struct mock_view {
    bool live;
    vmic_access_t *access;   /* per gfn */
    uint64_t *remap;         /* per gfn: the frame the guest sees */
} mock_view;

typedef struct mock_fault {
    bool armed;
    uint64_t at;             /* the call number that fails, or 0: see gfn */
    uint64_t gfn;            /* the first call touching it fails; UINT64_MAX: any */
    vmic_status status;
} mock_fault;

struct vmic_mock {
    vmic_driver base;
    vmic_mock_options_t opt;
    uint64_t npages;         /* RAM and spare */
    uint64_t ram_pages;
    uint8_t *bytes;
    vmic_mem_region_t regions[2];
    vmic_driver_info_t info;

    pthread_mutex_t mu;      /* every operation; the guest drops it to deliver */
    pthread_cond_t cond;     /* pause, resume, detach */
    mock_vcpu vcpus[MOCK_MAX_VCPUS];
    mock_view views[MOCK_MAX_VIEWS];
    bool *spare_used;        /* per spare page */
    bool int3_monitor;
    bool hw_used[MOCK_HW_SLOTS];
    uint64_t hw_va[MOCK_HW_SLOTS]; /* execute breakpoints, in every vCPU */

    /* events */
    vmic_event_sink_t sink;
    bool attached;
    bool detaching;
    bool paused;
    bool thread_live;
    vmic_run_state state;
    pthread_t thread;
    vmic_mock_guest_fn guest;
    void *guest_arg;
    uint64_t seq;
    vmic_mock_record_t *records;
    size_t nrecords, cap_records;

    mock_fault faults[VMIC_MOCK_NOPS];
    uint64_t calls[VMIC_MOCK_NOPS];
    vmic_mock_stats_t stats;
};

static inline vmic_mock *mock_from(vmic_driver *d)
{
    return (vmic_mock *)d;
}

static inline void mock_lock(vmic_mock *m)
{
    pthread_mutex_lock(&m->mu);
}

static inline void mock_unlock(vmic_mock *m)
{
    pthread_mutex_unlock(&m->mu);
}

/* mock_faults.c: counts a call of op over gfns [first, last] (MOCK_NO_GFN:
 * none); the injected failure if it is due. */
#define MOCK_NO_GFN UINT64_MAX
vmic_status mock_fault_check(vmic_mock *m, vmic_mock_op op, uint64_t first, uint64_t last,
                             const char *what);

/* mock_views.c */
vmic_status mock_views_init(vmic_mock *m);
void mock_views_free(vmic_mock *m);
void mock_views_reset(vmic_mock *m);
vmic_status mock_view_live(const vmic_mock *m, vmic_view_t view);
/* Moves a vCPU to view, or to view 0 if view is gone (a callback or the
 * session's end destroyed it while the vCPU was stopped). */
void mock_move_vcpu(vmic_mock *m, mock_vcpu *c, vmic_view_t view);
/* The frame a vCPU in view reaches at gfn, or UINT64_MAX outside memory. */
uint64_t mock_frame(const vmic_mock *m, vmic_view_t view, uint64_t gfn);
vmic_access_t mock_access(const vmic_mock *m, vmic_view_t view, uint64_t gfn);
/* The guest's own walk of va through view; false if it does not translate. */
bool mock_translate(const vmic_mock *m, vmic_view_t view, uint64_t cr3, uint64_t va,
                    uint64_t *pa);

vmic_status mock_create_view(vmic_driver *d, vmic_view_t *view);
vmic_status mock_destroy_view(vmic_driver *d, vmic_view_t view);
vmic_status mock_switch_view(vmic_driver *d, vmic_view_t view);
vmic_status mock_vcpu_view_op(vmic_driver *d, vmic_vcpu_t vcpu, vmic_view_t *view);
vmic_status mock_get_access(vmic_driver *d, vmic_view_t view, vmic_gfn_t gfn,
                            vmic_access_t *access);
vmic_status mock_set_access(vmic_driver *d, vmic_view_t view, vmic_gfn_t gfn,
                            vmic_access_t access);
vmic_status mock_remap_gfn(vmic_driver *d, vmic_view_t view, vmic_gfn_t gfn, vmic_gfn_t to);
vmic_status mock_alloc_gfn(vmic_driver *d, vmic_gfn_t *gfn);
vmic_status mock_free_gfn(vmic_driver *d, vmic_gfn_t gfn);

/* mock_events.c: the sink, the vCPU thread, monitors, responses */
vmic_status mock_attach_events(vmic_driver *d, const vmic_event_sink_t *sink);
vmic_status mock_check_response(vmic_driver *d, const vmic_event_t *ev,
                                const vmic_event_response_t *resp);
vmic_status mock_monitor(vmic_driver *d, const vmic_monitor_t *mon, bool enable);
vmic_status mock_guest_state(vmic_driver *d, vmic_guest_state_t *st);
vmic_status mock_reset_events(vmic_driver *d);
vmic_status mock_set_hw_breakpoint(vmic_driver *d, vmic_va_t va, bool enable);
/* The debug register that holds an execute breakpoint at va, or -1. */
int mock_hw_slot(const vmic_mock *m, uint64_t va);
vmic_status mock_pause(vmic_driver *d);
vmic_status mock_resume(vmic_driver *d);
void mock_events_free(vmic_mock *m);
/* Waits while the guest is paused; false once it must stop. */
bool mock_guest_may_run(vmic_mock *m);
/* Delivers ev (seq, view, regs filled in) and records it; drops m->mu
 * meanwhile. Applies the response's registers, not its view or action. */
vmic_status mock_deliver(vmic_mock *m, vmic_event_t *ev, vmic_event_response_t *resp);

#endif
