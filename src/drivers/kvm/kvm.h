/*
 * The kvm driver: vmic hosts the VM itself on /dev/kvm and implements the
 * whole event model on stock KVM. This header is its map.
 *
 * Threads. One thread per vCPU runs KVM_RUN and handles its exits; events are
 * delivered to the core's session from that thread (see event.h for why). One
 * mutex, vm->lock, guards everything shared; it is never held while a handler
 * runs. Other threads get a vCPU out of KVM_RUN with a kick (immediate_exit
 * and a signal whose handler does nothing). Slot changes need every other
 * vCPU out of KVM_RUN (world_stop); pausing and resetting also wait until
 * each vCPU is done with the exit it was handling (parked at its gate,
 * waiting on an event, or finished). Each exit is stamped with the reset
 * generation: a decision or a response that straddles a reset is dropped and
 * the exit looked at again, against what the reset left.
 *
 * Registers. Exits carry the registers through KVM_CAP_SYNC_REGS: reading
 * them costs nothing, where KVM_GET_REGS + KVM_GET_SREGS cost ~7 us here.
 *
 * Views are memslot layouts. KVM has one guest-physical map per VM, so the
 * slot layout is the most restrictive combination of the views the vCPUs are
 * in; an exit on a page is then judged against the exiting vCPU's own view,
 * and what that view allows is completed silently. A page is realised as:
 *
 *   access in view   slot            what traps, and how it is resolved
 *   rwx              read-write      nothing
 *   r-x              read-only       writes: MMIO exit with the data
 *   rw-, r--, -w-,   none (a hole)   reads and writes: MMIO exits, completed
 *   --x, -wx, ---                    from/into the view's page if allowed;
 *                                    fetches: an emulation-failure exit at a
 *                                    RIP in the hole (or an instruction that
 *                                    straddles into it); if the view allows
 *                                    X the instruction is run with the page
 *                                    mapped alone ("stepped through": every
 *                                    other vCPU held, one single-step)
 *
 * So X-only pages cost one exit, two slot changes and a step per instruction
 * executed from them, and reads of X-removed pages one exit each. A gfn
 * remapped in a view is backed by the other page's memory in that view;
 * views that disagree on a gfn's backing leave it a hole.
 *
 * Slots (memslots.c) start as one slot over RAM; removing access splits it
 * (the untouched neighbours are kept); returning a page to full access
 * coalesces its run back into one slot. Temporary switches (fast single-steps,
 * step-throughs) change only the pages they need and never coalesce.
 *
 * Events and actions, with the meaning vmi-rs gives each action. Writes
 * to memory and OUT are *posted* here: when they exit, RIP is already past
 * the instruction. Reads, IN and WRMSR complete on the next KVM_RUN.
 *
 *   memory read     Continue: completed with the bytes of the vCPU's view
 *                   (after the response's view switch)
 *                   Emulate: completed with the bytes of the event's view
 *                   Singlestep: completed, then a SINGLESTEP event
 *                   FastSinglestep: the instruction runs in the response's
 *                   view, then back, no event
 *                   Deny: unsupported (nothing to deny a read)
 *   memory write    Continue/Emulate: applied; Deny: dropped (RIP already
 *                   advanced, as vmi-rs says); Singlestep: applied and the
 *                   SINGLESTEP event follows at once (the instruction is
 *                   done); FastSinglestep: applied in the response's view
 *   memory fetch    Continue: re-executed (traps again if still forbidden)
 *                   Emulate: stepped through with the page mapped, view kept
 *                   Singlestep: re-executed in the new view, then SINGLESTEP
 *                   FastSinglestep: stepped in the response's view (every
 *                   other vCPU held), back to the event's view, no event
 *                   Deny: unsupported
 *   INT3            Continue: re-executed (the handler removed the 0xCC, or
 *                   it hits again); ReinjectInterrupt: RIP past the INT3 and
 *                   #BP injected (KVM_SET_VCPU_EVENTS) when it came as an
 *                   emulation failure, #BP injected as-is when it came as
 *                   KVM_EXIT_DEBUG; Singlestep/FastSinglestep: one step
 *   SINGLESTEP      Singlestep keeps stepping; any other action stops it;
 *                   FastSinglestep steps once more silently
 *   MSR write       Continue/Emulate: applied with KVM_SET_MSRS; Deny: not
 *                   applied, RIP advances
 *   I/O             Continue/Emulate: vmic's device model does it; Deny: OUT
 *                   dropped, IN leaves RAX as it was
 *   DR breakpoint   Continue: disable that slot, step one instruction, re-arm
 *                   (RF is ignored by this KVM); Singlestep: the same, then
 *                   SINGLESTEP
 * Any other pair is VMIC_E_UNSUPPORTED with the reason.
 */
#ifndef VMIC_KVM_H
#define VMIC_KVM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>

#include <vmic/event.h>
#include <vmic/driver.h>

#define KVM_MAX_VCPUS 16
#define KVM_MAX_VIEWS 64          /* a set of views fits in a uint64_t */
#define KVM_NO_VCPU (-1)
#define KVM_SETTLE_TIMEOUT_MS 3000
#define KVM_CONSOLE_MAX (256 * 1024)
#define KVM_LINE_MAX 256

/* ---- memslots.c: the slot layout engine ----------------------------------- */

typedef enum page_kind { PAGE_RW = 0, PAGE_RO, PAGE_HOLE } page_kind;

/* A page whose slot differs from "RAM at its own gfn, read-write". Sorted by
 * gfn; backing is the gfn whose memory shows there. */
typedef struct page_target {
    uint64_t gfn;
    uint64_t backing;
    uint8_t kind;
} page_target;

typedef struct kvm_slot {
    uint32_t id;
    uint64_t gfn, npages;
    uint64_t backing;     /* backing gfn of the first page */
    bool readonly;
} kvm_slot;

/* Sets (add) or deletes one KVM memslot. */
typedef vmic_status (*slot_apply_fn)(void *ctx, const kvm_slot *s, bool add);

typedef struct slot_layout {
    kvm_slot *slots;       /* sorted by gfn, not overlapping */
    size_t nslots, cap;
    uint64_t ram_pages;    /* the layout covers gfns [0, ram_pages) */
    uint32_t *free_ids;
    size_t nfree, free_cap;
    uint32_t next_id, max_id;
    uint64_t changes;      /* slots set or deleted so far */
} slot_layout;

void layout_init(slot_layout *l, uint64_t ram_pages, uint32_t max_slots);
void layout_free(slot_layout *l);
/*
 * Brings the slots to the target: keeps every slot that already matches,
 * deletes the others, fills what is left uncovered with as few slots as
 * possible. Runs that contain a gfn of `coalesce` (or every run, with
 * coalesce_all) are merged back into one slot each.
 */
vmic_status layout_apply(slot_layout *l, const page_target *t, size_t nt,
                         const uint64_t *coalesce, size_t ncoalesce, bool coalesce_all,
                         slot_apply_fn apply, void *ctx);
/* The slot covering gfn, or NULL (a hole). */
const kvm_slot *layout_find(const slot_layout *l, uint64_t gfn);

/* ---- per-view pages (views.c) ---------------------------------------------- */

typedef struct view_page {
    uint64_t gfn;
    uint64_t backing;      /* == gfn unless remapped */
    vmic_access_t access;
} view_page;

typedef struct kvm_view {
    bool used;
    view_page *pages;      /* only pages that differ from rwx at their own gfn */
    size_t n, cap;
} kvm_view;

/* ---- vCPUs ----------------------------------------------------------------- */

typedef struct kvm_vm kvm_vm;

typedef struct kvm_vcpu {
    kvm_vm *vm;
    uint32_t index;
    int fd;
    struct kvm_run *run;
    size_t run_size;
    pthread_t thread;
    bool thread_started;

    /* Under vm->lock. */
    bool in_run;           /* inside KVM_RUN, or allowed to enter it */
    bool busy;             /* handling an exit: not in KVM_RUN, not waiting */
    uint64_t exit_gen;     /* vm->generation when the last exit came */
    bool at_event;         /* handling or waiting to hand over an event */
    bool finished;         /* halted or exited: runs no more */
    bool io_pending;       /* the last exit completes on the next KVM_RUN */
    vmic_view_t view;      /* the view it runs in */

    /* Single-stepping: why the next instruction must trap. */
    bool user_step;        /* report SINGLESTEP events (responses) */
    bool step_monitor;     /* VMIC_MONITOR_SINGLESTEP */
    bool fast_step;        /* FastSinglestep in fast_view, back after */
    vmic_view_t fast_view;
    bool step_silent;      /* this step reports nothing (FastSinglestep) */
    bool through;          /* stepping through a hole, exclusive */
    uint64_t through_gfn[2];
    uint8_t dr_suppress;   /* debug-register slots off for one step */
    bool exclusive;        /* holds vm->exclusive for the current step */
    bool debug_dirty;      /* KVM_SET_GUEST_DEBUG before the next entry */
    uint64_t layout_gen_at_entry;

    /* Set by the session while the vCPU is stopped; applied at the gate. */
    bool regs_dirty;
    vmic_amd64_regs_t pending_regs;
    bool inject_pending;
    vmic_injection_t injection;
    uint8_t rip_advance;   /* bytes to skip before the injection (INT3) */

    vmic_event_t event;    /* the event being handled */
    char line[KVM_LINE_MAX];  /* serial output being assembled */
    size_t line_len;
} kvm_vcpu;

/* ---- the VM ------------------------------------------------------------------ */

typedef struct kvm_symbol {
    char *name;
    uint64_t value;
} kvm_symbol;

typedef struct kvm_segment_map {
    uint64_t vaddr, paddr, memsz;
} kvm_segment_map;

typedef struct kvm_image {
    uint64_t entry;
    kvm_segment_map *segs;
    size_t nsegs;
    kvm_symbol *syms;      /* sorted by name */
    size_t nsyms;
} kvm_image;

#define KVM_MAX_MSR_MONITORS 64

struct kvm_vm {
    vmic_driver base;
    int kvm_fd, vm_fd;
    uint8_t *mem;          /* RAM, then the spare pages, contiguous */
    size_t mem_map_size;
    uint64_t ram_pages, spare_pages;
    uint8_t *spare_used;   /* one byte per spare page */
    vmic_mem_region_t regions[2];
    vmic_driver_info_t info;
    char source[64];
    kvm_image image;
    FILE *console_out;

    kvm_vcpu vcpus[KVM_MAX_VCPUS];
    uint32_t nvcpus;

    pthread_mutex_t lock;
    pthread_cond_t gate_cond;    /* vCPUs waiting to run, for a sink, to step alone */
    pthread_cond_t settle_cond;  /* threads waiting for vCPUs to leave KVM_RUN or
                                    the sink */
    pthread_cond_t state_cond;   /* threads waiting for the guest to stop */
    unsigned settle_waiters;
    unsigned in_sink;            /* vCPU threads inside a sink callback */
    bool paused;
    bool closing;
    unsigned holds;        /* stop-the-world requests */
    int exclusive;         /* vCPU allowed to run alone, or KVM_NO_VCPU */
    uint64_t generation;   /* bumped by reset: waiting events re-evaluate */
    bool has_sink;
    vmic_event_sink_t sink;
    uint64_t sink_gen;     /* bumped on attach and detach */
    vmic_guest_state_t state;
    bool stop_notified;

    kvm_view views[KVM_MAX_VIEWS];
    slot_layout layout;
    uint64_t layout_gen;   /* bumped on every slot change */
    page_target *targets;  /* scratch for layout targets */
    size_t targets_cap;

    bool int3_monitor;
    uint8_t io_monitor[65536 / 8];
    uint32_t io_monitored;     /* ports monitored */
    uint32_t msr_monitor[KVM_MAX_MSR_MONITORS];
    size_t nmsr_monitors;
    bool msr_all;
    bool user_msr_enabled;
    uint64_t dr_addr[4];
    uint8_t dr_used;

    char *console;         /* ring of the last KVM_CONSOLE_MAX bytes */
    size_t console_len;

    atomic_uint_fast64_t exits, events, event_seq;
    uint64_t relayouts;
    uint64_t slot_ns;      /* time spent in KVM_SET_USER_MEMORY_REGION */
};

static inline kvm_vm *kvm_of(vmic_driver *d)
{
    return (kvm_vm *)d;
}

static inline uint8_t *kvm_page(kvm_vm *vm, uint64_t gfn)
{
    return vm->mem + (gfn << VMIC_PAGE_SHIFT);
}

/* vm.c */
extern const vmic_driver_ops_t kvm_ops, kvm_ops_msr; /* without, with MSR events */
void vm_set_state(kvm_vm *vm, vmic_run_state st, int code, const char *fmt, ...)
    VMIC_PRINTF(4, 5);  /* under lock */
void vm_notify_stopped(kvm_vm *vm);   /* without lock */

/* vcpu.c */
vmic_status vcpu_create(kvm_vm *vm, uint32_t index);
vmic_status vcpu_start(kvm_vcpu *v);
void vcpu_destroy(kvm_vcpu *v);
void vcpus_kick(kvm_vm *vm, const kvm_vcpu *except);    /* under lock */
/* Waits (under lock) until every vCPU but `except` is out of KVM_RUN, and
 * with `idle` also done with the exit it was handling (waiting somewhere). */
vmic_status vcpus_settle(kvm_vm *vm, const kvm_vcpu *except, bool idle);
vmic_status world_stop(kvm_vm *vm, const kvm_vcpu *self);  /* under lock */
void world_start(kvm_vm *vm);                              /* under lock */
kvm_vcpu *vcpu_self(kvm_vm *vm);      /* the vCPU of this thread, or NULL */
void vcpu_finish(kvm_vcpu *v, const char *why);            /* under lock */
vmic_status vcpu_pause(vmic_driver *d);
vmic_status vcpu_resume(vmic_driver *d);

/* exits.c */
void exit_handle(kvm_vcpu *v);
/* Whether a reset came after the exit being handled: what vmic set up when
 * the exit happened is gone, so decisions must be made afresh (under lock). */
static inline bool exit_stale(const kvm_vcpu *v)
{
    return v->exit_gen != v->vm->generation;
}
/* Completes the current MMIO exit from/into backing_gfn's page. */
void mmio_complete(kvm_vcpu *v, uint64_t backing_gfn);

/* events.c */
typedef enum deliver_result { DELIVER_DONE, DELIVER_RETRY, DELIVER_ABORT } deliver_result;
deliver_result event_deliver(kvm_vcpu *v, vmic_event_response_t *resp);
void event_begin(kvm_vcpu *v, vmic_event_kind kind);
vmic_status kvm_check_response(vmic_driver *d, const vmic_event_t *ev,
                               const vmic_event_response_t *resp);
vmic_status kvm_attach_events(vmic_driver *d, const vmic_event_sink_t *sink);
/* Carry out the response to the event of the current exit (vCPU thread). */
void respond_memory(kvm_vcpu *v, const vmic_event_response_t *r);
void respond_interrupt(kvm_vcpu *v, const vmic_event_response_t *r, bool from_debug_exit);
void respond_singlestep(kvm_vcpu *v, const vmic_event_response_t *r);
void respond_msr(kvm_vcpu *v, const vmic_event_response_t *r);
void respond_io(kvm_vcpu *v, const vmic_event_response_t *r);
void respond_breakpoint(kvm_vcpu *v, const vmic_event_response_t *r);

/* views.c */
vmic_view_t vcpu_effective_view(const kvm_vcpu *v);
void view_lookup(const kvm_vm *vm, vmic_view_t view, uint64_t gfn, vmic_access_t *access,
                 uint64_t *backing);
/* Recomputes the slot layout from the vCPUs' views (under lock; stops the
 * world around slot changes). */
vmic_status views_relayout(kvm_vm *vm, const uint64_t *coalesce, size_t n, bool coalesce_all);
void views_reset(kvm_vm *vm);   /* under lock, world stopped by the caller */
vmic_status kvm_create_view(vmic_driver *d, vmic_view_t *view);
vmic_status kvm_destroy_view(vmic_driver *d, vmic_view_t view);
vmic_status kvm_switch_view(vmic_driver *d, vmic_view_t view);
vmic_status kvm_vcpu_view(vmic_driver *d, vmic_vcpu_t vcpu, vmic_view_t *view);
vmic_status kvm_get_access(vmic_driver *d, vmic_view_t view, vmic_gfn_t gfn, vmic_access_t *a);
vmic_status kvm_set_access(vmic_driver *d, vmic_view_t view, vmic_gfn_t gfn, vmic_access_t a);
vmic_status kvm_remap_gfn(vmic_driver *d, vmic_view_t view, vmic_gfn_t gfn, vmic_gfn_t to);
vmic_status kvm_alloc_gfn(vmic_driver *d, vmic_gfn_t *gfn);
vmic_status kvm_free_gfn(vmic_driver *d, vmic_gfn_t gfn);

/* steps.c: single-steps, exclusive steps, the guest debug state */
void step_fast(kvm_vcpu *v, vmic_view_t view);          /* under lock */
void step_through(kvm_vcpu *v, uint64_t gfn0, uint64_t gfn1);  /* under lock */
/* A single-step exit: undoes what the step was for; true if it must be
 * reported as a SINGLESTEP event. Under lock. */
bool step_done(kvm_vcpu *v);
void step_cancel_all(kvm_vm *vm);                       /* under lock, reset */
/* The guest debug state the vCPU needs now (under lock). */
void debug_state(const kvm_vcpu *v, struct kvm_guest_debug *dbg);

/* monitors.c */
vmic_status kvm_monitor(vmic_driver *d, const vmic_monitor_t *m, bool enable);
vmic_status kvm_set_hw_breakpoint(vmic_driver *d, vmic_va_t va, bool enable);
vmic_status kvm_inject(vmic_driver *d, vmic_vcpu_t vcpu, const vmic_injection_t *inj);
void monitors_reset(kvm_vm *vm);                        /* under lock */
bool io_monitored(const kvm_vm *vm, uint16_t port);
bool msr_monitored(const kvm_vm *vm, uint32_t msr);
/* Delivers an injection (vCPU thread, before KVM_RUN). */
vmic_status inject_now(kvm_vcpu *v, const vmic_injection_t *inj);
/* #BP back to the guest as the vCPU resumes; `past` moves RIP past the INT3
 * first (under lock). */
void reinject_bp(kvm_vcpu *v, bool past);
/* WRMSR/RDMSR exits completed by KVM_SET_MSRS/KVM_GET_MSRS (vCPU thread). */
void msr_apply(kvm_vcpu *v, uint32_t msr, uint64_t value);
/* KVM_GET_MSRS / KVM_SET_MSRS on n entries; returns how many were done. */
int msrs_ioctl(int fd, unsigned long request, struct kvm_msr_entry *entries, uint32_t n);
void msr_read(kvm_vcpu *v, uint32_t msr);

/* regs.c */
void regs_from_run(const struct kvm_run *run, vmic_amd64_regs_t *r);
void regs_to_run(struct kvm_run *run, const vmic_amd64_regs_t *r);
/* Copies the groups src has (src->valid) over dst. */
void regs_merge(vmic_amd64_regs_t *dst, const vmic_amd64_regs_t *src);
vmic_status kvm_get_regs(vmic_driver *d, vmic_vcpu_t vcpu, vmic_amd64_regs_t *regs);
vmic_status kvm_set_regs(vmic_driver *d, vmic_vcpu_t vcpu, const vmic_amd64_regs_t *regs);
/* Guest-virtual to guest-physical through the vCPU's current page tables. */
vmic_status vcpu_translate(kvm_vcpu *v, uint64_t va, uint64_t *pa);

/* loader.c */
vmic_status image_load(kvm_vm *vm, const char *path);
void image_free(kvm_image *img);
/* Page tables, GDT and registers for vCPU `index` to enter the image. */
vmic_status boot_prepare(kvm_vm *vm);
vmic_status boot_vcpu(kvm_vm *vm, kvm_vcpu *v);
const kvm_symbol *image_symbol(const kvm_image *img, const char *name);
bool image_va_to_pa(const kvm_image *img, uint64_t va, uint64_t *pa);

/* devices.c */
#define PORT_SERIAL 0x3f8
#define PORT_EXIT 0x501
void device_io(kvm_vcpu *v);
void console_append(kvm_vm *vm, const char *line, size_t len); /* under lock */

#endif
