/*
 * vmic driver layer: one backend each (dump files, kvm, qemu) behind one
 * table of function pointers, grouped by capability. (The tests' in-memory and
 * mock backends are drivers of the same shape, in tests/mock.)
 *
 * A driver publishes the guest-physical layout as regions. A region with a host
 * pointer is read and written in place (mmap'd dumps, KVM memslots, QEMU's
 * shared RAM file): no copy, no per-page call. A region without one is reached
 * through the read/write or map_page operations, and the core caches the pages.
 *
 * A driver's table is grouped by capability (vmic_driver_ops_t below): a
 * group it cannot offer is a NULL pointer, and that is the only place a
 * capability is stated. The caps bits are derived from the table
 * (vmic_driver_caps); the core checks them once per entry point and answers
 * "<what>: not supported by the <name> driver" for a missing one, with the
 * driver's reason (explain), so no driver needs an operation that only
 * refuses.
 */
#ifndef VMIC_DRIVER_H
#define VMIC_DRIVER_H

#include <stdio.h>

#include <vmic/arch.h>
#include <vmic/base.h>
#include <vmic/event.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a driver can do, derived from its table: the group (and operation)
 * each bit comes from is named beside it. */
enum vmic_driver_cap {
    VMIC_CAP_READ = 1u << 0,          /* memory */
    VMIC_CAP_WRITE = 1u << 1,         /* memory->write */
    VMIC_CAP_REGISTERS = 1u << 2,     /* registers */
    VMIC_CAP_SET_REGISTERS = 1u << 3, /* registers->set */
    VMIC_CAP_PAUSE = 1u << 4,         /* control: pause / resume */
    VMIC_CAP_EVENTS = 1u << 5,        /* events: the event loop (event.h) */
    VMIC_CAP_VIEWS = 1u << 6,         /* views: per-page R/W/X, remaps */
    VMIC_CAP_SINGLESTEP = 1u << 7,    /* events: Singlestep responses */
    VMIC_CAP_SW_BREAKPOINT = 1u << 8, /* monitors->interrupt: INT3 events */
    VMIC_CAP_HW_BREAKPOINT = 1u << 9, /* breakpoints: debug-register exec */
    VMIC_CAP_WATCHPOINT = 1u << 10,   /* watchpoints */
    VMIC_CAP_MSR_EVENTS = 1u << 11,   /* monitors->msr_write */
    VMIC_CAP_IO_EVENTS = 1u << 12,    /* monitors->io */
    VMIC_CAP_INJECT = 1u << 13,       /* injection: exceptions, interrupts */
    VMIC_CAP_STEP_MONITOR = 1u << 14, /* monitors->singlestep: a vCPU stepped
                                         without end */
    VMIC_CAP_EXEC_WATCH = 1u << 15,   /* exec_watches: execution of a guest-physical
                                         address reported, no registers */
    VMIC_CAP_DATA_TRAPS = 1u << 16,   /* views without exec_only: pages without R or W
                                         too, and remapped gfns (the page-table
                                         monitor, the breakpoint tap) */
};

/* Names of the capability bits set in caps, comma separated, into buf. */
VMIC_API void vmic_caps_describe(uint64_t caps, char *buf, size_t size);

typedef struct vmic_mem_region {
    vmic_pa_t start;
    uint64_t size;
    uint8_t *host;     /* guest memory in this process, or NULL */
    bool writable;     /* host may be written through */
    uint64_t file_offset; /* where the region's bytes sit in the source file,
                             for messages; UINT64_MAX if not from a file */
    uint64_t reserved[2]; /* zero */
} vmic_mem_region_t;

typedef struct vmic_driver_info {
    const char *driver;   /* "raw", "elf", "lime", "kvm", "qemu" */
    const char *source;   /* file path or endpoint, for messages */
    uint64_t caps;
    uint64_t mem_size;    /* bytes of guest-physical memory present */
    vmic_pa_t max_pa;     /* one past the highest present byte */
    uint32_t vcpu_count;  /* 0 if unknown (raw dumps) */
    const vmic_mem_region_t *regions; /* the physical layout: sorted by start,
                                         not overlapping */
    size_t nregions;
    uint64_t flags;       /* VMIC_DRIVER_INFO_*: what the driver found beside the guest */
    /* qemu: libvmic-qemu.so, vmic's QEMU plugin (target.h: DIR/plugin.ctl).
     * With VMIC_DRIVER_INFO_PLUGIN the control block's path, else why there
     * is none ("no ...", "stale ..."). NULL for other drivers. */
    const char *plugin;
    uint64_t reserved[6];  /* zero; room for what drivers will say of themselves */
} vmic_driver_info_t;

/* vmic_driver_info_t.flags */
/* qemu: the plugin's control block is there, of this vmic's protocol, made
 * by the QEMU whose RAM file the driver maps. Found at open, not attached. */
#define VMIC_DRIVER_INFO_PLUGIN (1ull << 0)

typedef struct vmic_driver vmic_driver;

/*
 * Where a driver sends events: the core's session. deliver runs on the
 * stopped vCPU's thread and fills the response; it returns false when no
 * session takes events now, and the vCPU then waits until a sink is attached
 * again or events->reset undoes what made it stop.
 */
typedef struct vmic_event_sink {
    bool (*deliver)(void *ctx, const vmic_event_t *ev, vmic_event_response_t *resp);
    void (*guest_stopped)(void *ctx);   /* the guest will not run again */
    void *ctx;
    void *reserved[2];                  /* NULL */
} vmic_event_sink_t;

/*
 * The driver table, grouped by capability. Each group is a `static const`
 * table in the driver; a NULL group means the driver has none of it, and
 * inside a group only the operations marked optional may be NULL. A driver
 * whose capabilities depend on what it found at open (a dump with or without
 * registers, QEMU with or without a gdbstub) picks its groups at open, into
 * a table of its own. The capability bits each group gives are in brackets.
 *
 * Shape, for a driver written against the flat table (one pointer per
 * operation, caps stated beside it) this replaced:
 *   .read/.write/.map_page/.unmap_page/.release  -> .memory->...
 *   .get_regs/.set_regs                          -> .registers->get/set
 *   .pause/.resume                               -> .control->pause/resume
 *   .attach_events/.check_response/.guest_state/.reset_events -> .events->attach/
 *                                                   check_response/guest_state/reset
 *   .monitor                                     -> .monitors->interrupt/singlestep/
 *                                                   msr_write/io (one per kind)
 *   .set_hw_breakpoint                           -> .breakpoints->set
 *   .set_watchpoint                              -> .watchpoints->set
 *   .inject                                      -> .injection->inject
 *   .create_view ... .free_gfn                   -> .views->create ... free_gfn
 * and info->caps = vmic_driver_caps(ops) instead of a list of bits. An
 * operation that only refused (returned VMIC_E_UNSUPPORTED whatever it was
 * asked) becomes a NULL group, its reason .explain's answer.
 */

/* Guest memory [READ; WRITE with write]. */
typedef struct vmic_memory_ops {
    /* For memory outside host-mapped regions: read copies (optional when
     * every byte is in a host region); map_page (optional) returns a pointer
     * to one page that stays valid until unmap_page. */
    vmic_status (*read)(vmic_driver *d, vmic_pa_t pa, void *buf, size_t len);
    vmic_status (*map_page)(vmic_driver *d, vmic_gfn_t gfn, const uint8_t **page);
    void (*unmap_page)(vmic_driver *d, vmic_gfn_t gfn, const uint8_t *page);
    /* Optional: the guest's memory can be written (in place through writable
     * regions, or by this call for the rest). NULL: memory is read-only. */
    vmic_status (*write)(vmic_driver *d, vmic_pa_t pa, const void *buf, size_t len);
    /* Optional: the caller is done with [pa, pa + len) for now. A driver
     * whose memory is a read-only mapping of a file lets those pages go from
     * the process (they stay in the file and come back on the next touch),
     * so a scan of a huge dump keeps a bounded resident size. */
    void (*release)(vmic_driver *d, vmic_pa_t pa, uint64_t len);
    uint64_t reserved[4];
} vmic_memory_ops_t;

/* vCPU registers [REGISTERS; SET_REGISTERS with set]. */
typedef struct vmic_register_ops {
    vmic_status (*get)(vmic_driver *d, vmic_vcpu_t vcpu, vmic_amd64_regs_t *regs);
    vmic_status (*set)(vmic_driver *d, vmic_vcpu_t vcpu, const vmic_amd64_regs_t *regs); /* optional */
    uint64_t reserved[2];
} vmic_register_ops_t;

/* Stopping and starting the guest [PAUSE]. */
typedef struct vmic_control_ops {
    vmic_status (*pause)(vmic_driver *d);
    vmic_status (*resume)(vmic_driver *d);
    uint64_t reserved[2];
} vmic_control_ops_t;

/* The event loop [EVENTS, SINGLESTEP: every event driver answers the
 * Singlestep action]. The model is described in event.h. */
typedef struct vmic_event_ops {
    vmic_status (*attach)(vmic_driver *d, const vmic_event_sink_t *sink); /* NULL sink: detach */
    vmic_status (*check_response)(vmic_driver *d, const vmic_event_t *ev,
                                  const vmic_event_response_t *resp);
    vmic_status (*guest_state)(vmic_driver *d, vmic_guest_state_t *st);
    /* Undo all the event model changed: views, access, remaps, monitors,
     * single-steps, debug registers, breakpoints and watchpoints. */
    vmic_status (*reset)(vmic_driver *d);
    uint64_t reserved[4];
} vmic_event_ops_t;

/* Monitors, one operation per vmic_monitor_kind, each optional; m->kind is
 * that kind [interrupt: SW_BREAKPOINT (INT3 hits are reported); singlestep:
 * STEP_MONITOR; msr_write: MSR_EVENTS; io: IO_EVENTS]. Needs events. */
typedef vmic_status (*vmic_monitor_fn)(vmic_driver *d, const vmic_monitor_t *m, bool enable);
typedef struct vmic_monitor_ops {
    vmic_monitor_fn interrupt;
    vmic_monitor_fn singlestep;
    vmic_monitor_fn msr_write;
    vmic_monitor_fn io;
    uint64_t reserved[4];
} vmic_monitor_ops_t;

/* Execute breakpoints outside guest memory [HW_BREAKPOINT]. Needs events. */
typedef struct vmic_breakpoint_ops {
    vmic_status (*set)(vmic_driver *d, vmic_va_t va, bool enable);
    uint64_t reserved[2];
} vmic_breakpoint_ops_t;

/* Exec watches [EXEC_WATCH]: every execution of the instruction at a
 * guest-physical address becomes a VMIC_EVENT_BREAKPOINT event {va = the pc
 * QEMU translated, pa} with VMIC_EVENT_NO_REGS: the vCPU waits for the
 * answer while the rest of the guest runs (qemu: vmic's TCG plugin). Any
 * number; they apply when a session attaches. Needs events. */
typedef struct vmic_exec_watch_ops {
    vmic_status (*set)(vmic_driver *d, vmic_pa_t pa, bool enable);
    /* Capture (vmic_capture_spec_t, core.h): the programs, and which one a
     * watch runs (0 none). NULL where the driver cannot capture. */
    vmic_status (*capture)(vmic_driver *d, const vmic_capture_spec_t *spec);
    vmic_status (*program)(vmic_driver *d, vmic_pa_t pa, uint32_t program);
} vmic_exec_watch_ops_t;

/* Data watchpoints [WATCHPOINT]. Needs events. */
typedef struct vmic_watchpoint_ops {
    vmic_status (*set)(vmic_driver *d, vmic_va_t va, uint32_t len, vmic_access_t access,
                       bool enable);
    uint64_t reserved[2];
} vmic_watchpoint_ops_t;

/* Raising exceptions and interrupts [INJECT]. */
typedef struct vmic_injection_ops {
    vmic_status (*inject)(vmic_driver *d, vmic_vcpu_t vcpu, const vmic_injection_t *inj);
    uint64_t reserved[2];
} vmic_injection_ops_t;

/* Views with per-page R/W/X and remapped gfns, and spare gfns [VIEWS;
 * DATA_TRAPS unless exec_only]. A driver whose views can only take X away
 * (qemu: its plugin sees execution, not reads and writes) sets exec_only,
 * leaves remap_gfn, alloc_gfn and free_gfn NULL, and refuses in set_access
 * an access without R or W. */
typedef struct vmic_view_ops {
    vmic_status (*create)(vmic_driver *d, vmic_view_t *view);
    vmic_status (*destroy)(vmic_driver *d, vmic_view_t view);
    vmic_status (*switch_to)(vmic_driver *d, vmic_view_t view);
    vmic_status (*vcpu_view)(vmic_driver *d, vmic_vcpu_t vcpu, vmic_view_t *view);
    vmic_status (*get_access)(vmic_driver *d, vmic_view_t view, vmic_gfn_t gfn,
                              vmic_access_t *access);
    vmic_status (*set_access)(vmic_driver *d, vmic_view_t view, vmic_gfn_t gfn,
                              vmic_access_t access);
    vmic_status (*remap_gfn)(vmic_driver *d, vmic_view_t view, vmic_gfn_t gfn, vmic_gfn_t to);
    vmic_status (*alloc_gfn)(vmic_driver *d, vmic_gfn_t *gfn);
    vmic_status (*free_gfn)(vmic_driver *d, vmic_gfn_t gfn);
    bool exec_only;
    uint64_t reserved[3];
} vmic_view_ops_t;

typedef struct vmic_driver_ops {
    const char *name;
    void (*close)(vmic_driver *d);
    /* Info stays valid and constant until close (regions may not move). */
    const vmic_driver_info_t *(*info)(vmic_driver *d);
    /* Optional: why this driver lacks the capability bits `missing`, a
     * phrase the core adds to its "not supported" message (NULL: no more to
     * say). It explains; the groups decide. */
    const char *(*explain)(vmic_driver *d, uint64_t missing);
    const vmic_memory_ops_t *memory;
    const vmic_register_ops_t *registers;
    const vmic_control_ops_t *control;
    const vmic_event_ops_t *events;
    const vmic_monitor_ops_t *monitors;
    const vmic_breakpoint_ops_t *breakpoints;
    const vmic_watchpoint_ops_t *watchpoints;
    const vmic_injection_ops_t *injection;
    const vmic_view_ops_t *views;
    const vmic_exec_watch_ops_t *exec_watches;
    const void *reserved[3];  /* groups to come; NULL */
} vmic_driver_ops_t;

/* The capability bits a table gives (see each group). Monitors, breakpoints
 * and watchpoints count only with events. */
VMIC_API uint64_t vmic_driver_caps(const vmic_driver_ops_t *ops);

/* Every driver's private state begins with this. */
struct vmic_driver {
    const vmic_driver_ops_t *ops;
};

/* ---- the drivers ------------------------------------------------------ */

typedef enum vmic_dump_format {
    VMIC_DUMP_AUTO = 0,  /* by magic: ELF, LiME, else raw */
    VMIC_DUMP_RAW,
    VMIC_DUMP_ELF,
    VMIC_DUMP_LIME,
} vmic_dump_format;

/* Opens a memory dump read-only (mmap, no copy). */
VMIC_API vmic_status vmic_dump_open(const char *path, vmic_dump_format fmt, vmic_driver **out);

/*
 * Opt-in guard for dumps that shrink while mapped. vmic reads a dump in
 * place; if another process truncates the file, touching the lost pages
 * raises SIGBUS. After this call, reads that copy guest memory (vmic_read_pa
 * and everything built on it) fail with VMIC_E_IO naming the file and offset
 * instead. A fault through a pointer vmic handed out (vmic_map_pa, the OS
 * layer's views of kernel tables) has no call to fail: with exit_code >= 0
 * the process says so on stderr and _exits with exit_code; with exit_code < 0
 * it goes to the SIGBUS handler installed before, as does every SIGBUS that
 * is not in a file libvmic mapped. Per process, idempotent; not undone.
 */
VMIC_API vmic_status vmic_sigbus_guard_enable(int exit_code);

/* Same, over bytes already in memory (fuzzing, tests); buf must outlive the driver. */
VMIC_API vmic_status vmic_dump_open_buffer(const void *buf, size_t len, vmic_dump_format fmt,
                                  const char *name, vmic_driver **out);

/*
 * The kvm driver: vmic hosts the VM itself on /dev/kvm. It loads an ELF64
 * freestanding image at its physical addresses, enters it in 64-bit long mode
 * (rdi = vCPU number, rsi = RAM size; vmic's page tables map RAM 1:1 and
 * every segment at its virtual address), and runs one thread per vCPU. The VM
 * starts paused: vmic_resume() lets it run. Port 0x3f8 is a serial console,
 * port 0x501 ends the guest with the code written there. See
 * src/drivers/kvm/kvm.h for how views, events and actions map onto KVM.
 */
typedef struct vmic_kvm_options {
    const char *image;       /* required */
    uint64_t mem_size;       /* bytes of guest RAM; 0: 64 MiB */
    uint32_t vcpus;          /* 0: 1 */
    uint32_t spare_pages;    /* gfns for vmic_alloc_gfn; 0: 256 */
    FILE *console;           /* where to copy the guest's serial lines, or NULL */
    uint64_t reserved[4];    /* zero */
} vmic_kvm_options_t;

VMIC_API vmic_status vmic_kvm_open(const vmic_kvm_options_t *opt, vmic_driver **out);
/* Whether /dev/kvm can host a VM here; if not, why (for a loud skip). */
VMIC_API bool vmic_kvm_available(char *why, size_t size);
/* Waits until the guest stops running (VMIC_E_TIMEOUT after timeout_ms). */
VMIC_API vmic_status vmic_kvm_wait(vmic_driver *d, uint32_t timeout_ms);
/* The guest's serial output so far (the last 256 KiB). The text is stable
 * once the guest has stopped; while it runs, vCPU threads append to it. */
VMIC_API const char *vmic_kvm_console(vmic_driver *d, size_t *len);
/* A symbol of the image: its virtual address and, if a segment holds it, its
 * physical address (else pa 0). */
VMIC_API vmic_status vmic_kvm_symbol(vmic_driver *d, const char *name, vmic_va_t *va, vmic_pa_t *pa);

typedef struct vmic_kvm_stats {
    uint64_t exits;          /* KVM_RUN returns */
    uint64_t events;         /* events delivered */
    uint64_t slot_changes;   /* KVM_SET_USER_MEMORY_REGION calls */
    uint64_t slot_change_ns; /* time spent in them */
    uint64_t relayouts;      /* times the slot layout was recomputed */
    uint32_t slots;          /* memslots in use now */
    uint64_t reserved[4];
} vmic_kvm_stats_t;
VMIC_API vmic_status vmic_kvm_stats(vmic_driver *d, vmic_kvm_stats_t *st);

VMIC_API void vmic_driver_close(vmic_driver *d);

#ifdef __cplusplus
}
#endif
#endif
