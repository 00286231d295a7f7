/*
 * vmic event layer: what an event, its response and a monitor are, shared by
 * the drivers that report events and the core that runs a session over them
 * (core.h: vmic_run_events, vmic_monitor_enable, vmic_inject). Below the
 * core and the drivers: only types and their names.
 *
 * Structs that may grow carry reserved words; callers zero them (a `{0}` or
 * designated initializer does), so that a later field reads as "not asked".
 */
#ifndef VMIC_EVENT_H
#define VMIC_EVENT_H

#include <vmic/arch.h>
#include <vmic/base.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The event model: vmi-rs's VmiEvent, VmiEventResponse and VmiEventAction.
 *
 * A driver with VMIC_CAP_EVENTS stops a vCPU when something it watches
 * happens and reports an event: which vCPU, in which view, its registers, and
 * why. The vCPU stays stopped until the handler answers with a response: one
 * action, optionally a view for that vCPU, optionally new registers.
 *
 * Events reach a handler only inside vmic_run_events(). The handler runs on
 * the thread of the vCPU that stopped, one event at a time: a session lock
 * serializes every callback, so a handler may use the core freely (the core
 * itself is not thread-safe). Other vCPUs keep running meanwhile; one that
 * stops on an event of its own waits for the lock. (Handing each event to the
 * session thread and back was measured at ~5.8 us on these machines, most of
 * the ~7 us a KVM exit costs: it would double the price of every event.)
 *
 * Whatever the event model changed -- views, page access, remapped gfns,
 * monitors, debug registers, single-stepping, software breakpoints -- is
 * undone when the session ends, however it ends: handler's wish, timeout,
 * SIGINT/SIGTERM, an error, or the guest stopping.
 */

typedef enum vmic_event_kind {
    VMIC_EVENT_MEMORY_ACCESS = 1, /* a view forbade a read, write or fetch, or a
                                     watchpoint saw one */
    VMIC_EVENT_INTERRUPT,         /* an exception being raised: INT3 (#BP) */
    VMIC_EVENT_SINGLESTEP,        /* one instruction completed */
    VMIC_EVENT_MSR_WRITE,         /* WRMSR to a monitored MSR, not yet applied */
    VMIC_EVENT_IO,                /* IN/OUT on a monitored port */
    VMIC_EVENT_BREAKPOINT,        /* a debug-register execute breakpoint */
} vmic_event_kind;

/* How an interrupt or exception is raised (the VMX interruption types). */
typedef enum vmic_interrupt_type {
    VMIC_INTR_EXTERNAL = 0,
    VMIC_INTR_NMI = 2,
    VMIC_INTR_HW_EXCEPTION = 3,
    VMIC_INTR_SW_INTERRUPT = 4,   /* INT n */
    VMIC_INTR_PRIV_SW_EXCEPTION = 5, /* INT1 (icebp) */
    VMIC_INTR_SW_EXCEPTION = 6,   /* INT3, INTO */
} vmic_interrupt_type;

/*
 * Capture: what a driver copied out of guest memory at the instant of an
 * exec-watch event, by a program the caller gave (vmic_capture_spec_t), so
 * that the event can be decoded after the vCPU went on. qemu's plugin runs
 * the programs inside QEMU; the vCPU does not wait for the handler unless
 * the program asked to hold it.
 */
#define VMIC_CAPTURE_MAX_ITEMS 64
#define VMIC_CAPTURE_MAX_OPS 32
#define VMIC_CAPTURE_MAX_PROGRAMS 4
#define VMIC_CAPTURE_ANCHORS 2
#define VMIC_CAPTURE_MAX_VCPUS 64
#define VMIC_CAPTURE_NR_MAX 512

typedef enum vmic_capture_op_code {
    VMIC_CAPTURE_END = 0,
    VMIC_CAPTURE_ANCHOR,  /* r[dst] = u64 at pa anchors[vcpu][imm] */
    VMIC_CAPTURE_LOAD,    /* r[dst] = len (4 or 8) bytes at va r[a] + imm */
    VMIC_CAPTURE_ADD,     /* r[dst] = r[a] + imm */
    VMIC_CAPTURE_COPY,    /* item tagged with the op's index: len bytes at va r[a] + imm */
    VMIC_CAPTURE_STR,     /* the same, a C string of at most len bytes */
    VMIC_CAPTURE_ARGS,    /* items tagged 32 + i: syscall r[1]'s arguments r[2..7]
                             as nrs[r[1]] says; imm: 0 entry, 1 return (r[0]) */
    VMIC_CAPTURE_PA,      /* r[dst] = the guest-physical address of va r[a] + imm */
} vmic_capture_op_code;
#define VMIC_CAPTURE_REGS 16  /* r[0..15]; register indexes are taken mod 16 */
#define VMIC_CAPTURE_ROOT_KERNEL 0xffu /* an op's root: kernel_root, else r[root] */

typedef struct vmic_capture_op {
    uint8_t op, dst, a, root;
    uint32_t len;
    int64_t imm;
} vmic_capture_op_t;

#define VMIC_CAPTURE_HOLD 1u  /* program flag: the vCPU waits for the handler */
typedef struct vmic_capture_program {
    uint32_t nops;
    uint32_t flags;
    vmic_capture_op_t ops[VMIC_CAPTURE_MAX_OPS];
} vmic_capture_program_t;

typedef enum vmic_capture_arg_kind {
    VMIC_CAPTURE_ARG_NONE = 0,
    VMIC_CAPTURE_ARG_STR,    /* a C string of at most max bytes */
    VMIC_CAPTURE_ARG_FIXED,  /* max bytes */
    VMIC_CAPTURE_ARG_BUF,    /* min(argument len_arg, max) bytes */
    VMIC_CAPTURE_ARG_BUFRET, /* min(return value, max) bytes, when it is > 0 */
} vmic_capture_arg_kind;

typedef struct vmic_capture_arg {
    uint8_t kind[2];         /* [0] at entry, [1] at return */
    uint8_t len_arg;
    uint8_t reserved;
    uint16_t max[2];
} vmic_capture_arg_t;

#define VMIC_CAPTURE_HOLD_ENTRY 1u
#define VMIC_CAPTURE_HOLD_RETURN 2u
typedef struct vmic_capture_nr {
    vmic_capture_arg_t arg[6];
    uint32_t hold;           /* VMIC_CAPTURE_HOLD_*: held at entry, return */
    uint32_t reserved;
} vmic_capture_nr_t;

typedef struct vmic_capture_spec {
    uint32_t levels;         /* 4 or 5: the guest's paging */
    uint32_t nprograms;
    vmic_pa_t kernel_root;
    vmic_pa_t anchors[VMIC_CAPTURE_MAX_VCPUS][VMIC_CAPTURE_ANCHORS];
    vmic_capture_program_t programs[VMIC_CAPTURE_MAX_PROGRAMS];
    vmic_capture_nr_t nrs[VMIC_CAPTURE_NR_MAX];
} vmic_capture_spec_t;

typedef enum vmic_capture_status {
    VMIC_CAPTURE_OK = 0,
    VMIC_CAPTURE_SHORT,      /* fewer bytes than asked (no room, or a longer string) */
    VMIC_CAPTURE_UNMAPPED,   /* not all mapped: len bytes from va are */
} vmic_capture_status;

typedef struct vmic_capture_item {
    vmic_va_t va;
    uint32_t want, len;
    uint8_t status, tag;
    const uint8_t *bytes;
} vmic_capture_item_t;

typedef struct vmic_capture {
    uint32_t program;        /* 1 + the program that ran */
    bool partial;            /* some op failed or the record ran out of room */
    bool held;               /* the vCPU waits for this event's answer */
    uint64_t r[VMIC_CAPTURE_REGS];
    uint32_t nitems;
    vmic_capture_item_t items[VMIC_CAPTURE_MAX_ITEMS];
} vmic_capture_t;

typedef struct vmic_event {
    vmic_event_kind kind;
    vmic_vcpu_t vcpu;
    vmic_view_t view;          /* the view the vCPU was in */
    uint64_t seq;              /* per-driver event number, from 1 */
    vmic_amd64_regs_t regs;    /* at the event: GPR, SEG, CR, DT, EFER groups */
    union {
        struct {
            vmic_pa_t pa;
            vmic_gfn_t gfn;
            vmic_va_t va;      /* valid when va_valid (always for fetches) */
            bool va_valid;
            vmic_access_t access;  /* the one access that was refused: R, W or X
                                      (a watchpoint: its kind, R|W if either) */
            uint8_t size;      /* bytes of the access (0 for fetches) */
            uint64_t value;    /* W: the bytes the guest writes */
        } memory;
        struct {
            uint8_t vector;
            vmic_interrupt_type type;
            uint8_t insn_len;
            bool has_error_code;
            uint32_t error_code;
            vmic_pa_t pa;      /* where RIP points */
        } interrupt;
        struct {
            vmic_pa_t pa;      /* where RIP points: the next instruction */
        } singlestep;
        struct {
            uint32_t msr;
            uint64_t value;
        } msr;
        struct {
            uint16_t port;
            uint8_t size;      /* 1, 2 or 4 */
            bool out;          /* OUT (guest to device) or IN */
            uint32_t count;    /* > 1 for string I/O */
            uint64_t value;    /* OUT: the first value written */
        } io;
        struct {
            vmic_va_t va;
            vmic_pa_t pa;
            uint8_t slot;      /* debug register 0..3 */
        } breakpoint;
        uint64_t reserved_detail[8]; /* room for kinds to come: the union keeps its size */
    };
    uint32_t flags;            /* VMIC_EVENT_* below */
    uint32_t reserved32;       /* zero */
    const vmic_capture_t *capture; /* VMIC_EVENT_CAPTURE: valid during the handler */
    uint64_t reserved[2];      /* zero */
} vmic_event_t;

/* The event carries no registers (regs.valid is 0): an exec watch through
 * QEMU's plugin, whose API (v1) cannot read them. Guest memory is what
 * there is; vmic_get_regs would have to stop the VM, which it cannot do
 * while a vCPU waits for this event's answer. */
#define VMIC_EVENT_NO_REGS (1u << 0)
/* The event carries a capture (ev->capture): the vCPU has gone on unless
 * capture->held; guest memory read now may differ from what it was. */
#define VMIC_EVENT_CAPTURE (1u << 1)

/* The six ways a vCPU resumes; exactly vmi-rs's VmiEventAction. */
typedef enum vmic_action {
    VMIC_ACTION_CONTINUE = 0,      /* resume; the trapped access proceeds */
    VMIC_ACTION_DENY,              /* the instruction completes, its write is dropped */
    VMIC_ACTION_REINJECT_INTERRUPT,/* deliver the exception to the guest's own handler */
    VMIC_ACTION_SINGLESTEP,        /* run one instruction, then a SINGLESTEP event */
    VMIC_ACTION_FAST_SINGLESTEP,   /* one instruction in the response's view, back to
                                      the event's view, no event */
    VMIC_ACTION_EMULATE,           /* complete the access without switching views */
} vmic_action;

typedef struct vmic_event_response {
    vmic_action action;
    bool set_view;             /* move this vCPU to `view` (FastSinglestep: for
                                  the one step only) */
    vmic_view_t view;
    bool set_regs;             /* load the groups of regs.valid (GPR, SEG, CR,
                                  DT, EFER) before resuming */
    vmic_amd64_regs_t regs;
    uint64_t reserved[4];      /* zero (a response arrives zeroed but for Continue) */
} vmic_event_response_t;

VMIC_API const char *vmic_event_kind_name(vmic_event_kind k);   /* "memory", "interrupt", ... */
VMIC_API const char *vmic_action_name(vmic_action a);           /* "continue", "deny", ... */
/* The action as vmi-rs spells it ("Continue", "ReinjectInterrupt", ...), for
 * messages that explain a refusal in the terms of the model. */
VMIC_API const char *vmic_action_vmi_rs_name(vmic_action a);

typedef enum vmic_run_state {
    VMIC_GUEST_PAUSED = 0,
    VMIC_GUEST_RUNNING,
    VMIC_GUEST_EXITED,         /* the guest asked to stop, or every vCPU halted */
    VMIC_GUEST_FAILED,         /* triple fault, an instruction KVM cannot run, ... */
} vmic_run_state;

typedef struct vmic_guest_state {
    vmic_run_state state;
    int exit_code;             /* EXITED: the code the guest gave */
    char message[256];         /* what happened, for people */
    uint64_t reserved[4];
} vmic_guest_state_t;

/* Memory events need no monitor: they come from view permissions. */

typedef enum vmic_monitor_kind {
    VMIC_MONITOR_INTERRUPT = 1,  /* exceptions of one vector (kvm: 3, INT3) */
    VMIC_MONITOR_SINGLESTEP,     /* every instruction of one vCPU */
    VMIC_MONITOR_MSR_WRITE,      /* WRMSR to one MSR, or every MSR (VMIC_MSR_ALL) */
    VMIC_MONITOR_IO,             /* IN/OUT on ports [first, last] */
} vmic_monitor_kind;

#define VMIC_MSR_ALL UINT32_MAX

typedef struct vmic_monitor {
    vmic_monitor_kind kind;
    union {
        uint8_t vector;
        vmic_vcpu_t vcpu;
        uint32_t msr;
        struct { uint16_t first, last; } ports;
        uint64_t reserved_detail[2];
    };
    uint64_t reserved[2];      /* zero */
} vmic_monitor_t;

/* An exception or interrupt to raise in a vCPU. */
typedef struct vmic_injection {
    uint8_t vector;
    vmic_interrupt_type type;  /* HW_EXCEPTION, NMI or EXTERNAL */
    bool has_error_code;
    uint32_t error_code;
    uint64_t cr2;              /* #PF: the faulting address */
    uint64_t reserved[2];      /* zero */
} vmic_injection_t;

#ifdef __cplusplus
}
#endif
#endif
