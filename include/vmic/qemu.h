/*
 * The qemu driver: attaches to a running QEMU (TCG or KVM) through three
 * endpoints QEMU was started with,
 *
 *   -gdb unix:GDB,server=on,wait=off        the gdbstub: registers, pause/resume
 *   -qmp unix:QMP,server=on,wait=off        QMP: the guest-physical layout, at open
 *   -object memory-backend-file,id=ram0,size=SIZE,mem-path=MEM,share=on
 *   -machine memory-backend=ram0            guest RAM in a file both can map
 *
 * Memory is the file mapped read-write and shared: regions point into it, so
 * reads and writes are plain loads and stores that QEMU sees at once.
 * Registers (GPRs, segment selectors, fs/gs/kernel-gs bases, CR0-4, CR8,
 * EFER) come from the gdbstub; it has no GDTR/IDTR, debug registers, segment
 * limits or attributes, so those groups are never marked valid.
 *
 * Run state: QEMU stops the VM when a gdb client connects. Open puts it back
 * the way it was (running or paused) unless stay_paused; close does the same.
 * Registers are read and written only while the VM is paused (QEMU's gdbstub
 * cannot answer while it runs): otherwise VMIC_E_BUSY. vmic_core_open takes
 * the paging mode from vCPU 0's registers, so open with stay_paused (or set
 * the paging mode) for a guest that may use 5-level paging.
 *
 * The guest-physical layout is read once, at open. Firmware may still remap
 * the BIOS window (0xc0000-0xfffff) between ROM and RAM while it starts.
 *
 * QEMU's QMP socket takes one client at a time: the driver uses it during
 * open only, then closes it for other clients.
 *
 * Events (vmic_run_events) come from the gdbstub's stop replies:
 * vmic_hw_breakpoint_set (gdb Z1; under TCG any number, guest memory
 * untouched) gives VMIC_EVENT_BREAKPOINT before the instruction,
 * vmic_watchpoint_set (Z2/Z3/Z4) gives VMIC_EVENT_MEMORY_ACCESS after the
 * access, and a Singlestep response gives VMIC_EVENT_SINGLESTEP after one
 * instruction of that vCPU. QEMU's gdbstub is all-stop: every vCPU stops at
 * each event, and events come one at a time. Continue, Singlestep and
 * FastSinglestep are honoured; Deny, Emulate, ReinjectInterrupt, views,
 * execute-permission traps, MSR and port I/O events and injection are
 * VMIC_E_UNSUPPORTED with the reason (the gdb protocol has none of them).
 * Every breakpoint and watchpoint is removed when the session ends, however
 * it ends, and when the driver closes; a process killed outright (SIGKILL)
 * would leave them in QEMU, which then stops the VM at the next hit: with
 * config.guard a guard process removes them and detaches (guard.c). See
 * src/drivers/qemu/qemu.h for the details.
 *
 * One gdb client at a time: a session lock (DIR/vmic.lock next to the gdb
 * socket) and QMP's query-chardev are checked before connecting, and a busy
 * gdbstub is VMIC_E_BUSY naming its holder, or a QMP-only session
 * (config.shared_ok).
 */
#ifndef VMIC_QEMU_H
#define VMIC_QEMU_H

#include <vmic/driver.h>
#include <vmic/target.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How a session ended, filled in when the driver closes (config.end). */
typedef struct vmic_qemu_end {
    bool filled;             /* the driver closed and wrote this */
    bool shared;             /* the session went through QMP only (see below) */
    char holder[256];        /* shared: who held the gdbstub */
    bool found_running;      /* the VM ran when vmic attached */
    bool qemu_gone;          /* QEMU died or closed the connection meanwhile:
                                what was read may be torn */
    char gone_why[256];
    bool status_known;       /* QMP query-status answered after detaching: */
    bool running;
    char status[32];         /* its "status": running, paused, debug, ... */
    uint64_t reserved[4];    /* zeroed by vmic: room to grow */
} vmic_qemu_end_t;

typedef struct vmic_qemu_config {
    /* Endpoints: "unix:PATH", a socket path, "HOST:PORT" or "tcp:HOST:PORT". */
    const char *gdb;
    const char *qmp;
    const char *mem;         /* the file behind guest RAM (mem-path=) */
    unsigned timeout_ms;     /* longest wait for any reply from QEMU; 0: 5000 */
    bool stay_paused;        /* leave the VM paused after open */
    /* A guard process puts the VM back if this process dies attached
     * (SIGKILL, a crash): it forks at open (see src/drivers/qemu/guard.c). */
    bool guard;
    /* When another client holds the gdbstub (a `vmic trace`, a gdb), open
     * through QMP alone instead of failing with VMIC_E_BUSY: memory, pause
     * and resume (QMP stop/cont), registers read from HMP "info registers";
     * no register writes, no events. */
    bool shared_ok;
    vmic_qemu_end_t *end;    /* may be NULL */
    uint64_t reserved[4];    /* zero: room to grow without an ABI break */
} vmic_qemu_config_t;

VMIC_API vmic_status vmic_qemu_open(const vmic_qemu_config_t *cfg, vmic_driver **out);

/*
 * TARGET strings name a live QEMU wherever a dump path is accepted:
 *   qemu:gdb=EP,qmp=EP,mem=FILE     the three endpoints (no commas in them)
 *   qemu:DIR                        a vmic boot directory: its layout is
 *                                   documented in target.h
 */

#define VMIC_QEMU_SPEC_MAX 4096
typedef struct vmic_qemu_target {
    char gdb[VMIC_QEMU_SPEC_MAX];
    char qmp[VMIC_QEMU_SPEC_MAX];
    char mem[VMIC_QEMU_SPEC_MAX];
} vmic_qemu_target_t;

VMIC_API bool vmic_qemu_is_target(const char *target);
VMIC_API vmic_status vmic_qemu_parse_target(const char *target, vmic_qemu_target_t *out);

/* Opens a TARGET string; cfg (may be NULL) supplies timeout_ms and
 * stay_paused, its endpoints are ignored. */
VMIC_API vmic_status vmic_qemu_open_target(const char *target, const vmic_qemu_config_t *cfg,
                                  vmic_driver **out);

/*
 * Brings a VM back from whatever a vmic, a crashed vmic or a gdb client left
 * (vmic resume / vmic detach): looks (QMP query-status, the gdb chardev, the
 * session lock), then removes every gdb breakpoint and detaches: a fresh
 * connection sends '?' (QEMU 7.2 removes all breakpoints) and 'D'. A client
 * that holds the gdbstub is cut off first by restarting the stub (HMP
 * "gdbserver"), unless it is a live vmic and !force. resume: QMP "cont"
 * afterwards if the VM is still not running; else a VM that was paused
 * (not by the debugger) is paused again. Each step is a line in report.
 */
typedef struct vmic_qemu_recovery {
    char found_status[32];   /* query-status before */
    bool stub_busy;          /* a client held the gdbstub */
    char holder[256];        /* the lock file's line, when a vmic held it */
    char status[32];         /* query-status after */
    bool running;
    char report[2048];       /* what was found and done, one step a line */
    uint64_t reserved[4];    /* zeroed by vmic: room to grow */
} vmic_qemu_recovery_t;

VMIC_API vmic_status vmic_qemu_recover(const char *target, bool resume, bool force, unsigned timeout_ms,
                              vmic_qemu_recovery_t *out);

/*
 * Exec watches through vmic's QEMU plugin (libvmic-qemu.so, TCG; `vmic boot
 * --plugin`, target.h: DIR/plugin.ctl), without the gdbstub: the guest keeps
 * running. Each execution of a watched guest-physical instruction address is
 * one event with its vCPU, pc (guest-virtual, as QEMU translated it) and pa,
 * and no registers (VMIC_QEMU_EXEC_NO_REGS: a vCPU is not stopped for it).
 * Events go through per-vCPU rings: a vCPU waits only while its ring is
 * full, never lost while the watcher lives. A watcher that closes, or dies
 * however (SIGKILL), has its watches removed by the plugin; nothing is held.
 * One watcher per QEMU; it uses QMP only while watches are applied.
 */
typedef struct vmic_qemu_exec {
    uint64_t seq;            /* per vCPU, from 1: a gap would be a lost event */
    uint32_t vcpu;
    uint32_t flags;          /* VMIC_QEMU_EXEC_* */
    vmic_va_t pc;
    vmic_pa_t pa;
    uint64_t reserved[2];    /* zeroed by vmic: room to grow */
} vmic_qemu_exec_t;

#define VMIC_QEMU_EXEC_NO_REGS (1u << 0) /* the event carries no registers (always, for now) */

typedef struct vmic_qemu_watch vmic_qemu_watch_t;

/*
 * How a driver's exec watches (VMIC_CAP_EXEC_WATCH, through the plugin)
 * went: counters of the plugin and of the driver since the driver first
 * attached to the plugin, kept after it detached. Nothing was lost when
 * dropped == 0 and made == delivered + let_go.
 */
typedef struct vmic_qemu_plugin_stats {
    bool used;               /* the driver attached to the plugin */
    uint64_t made;           /* events the plugin made for this driver */
    uint64_t dropped;        /* of those, dropped by the plugin (never while vmic lives) */
    uint64_t delivered;      /* handed to a session */
    uint64_t let_go;         /* answered untaken: the session was ending */
    uint32_t applies;        /* watch sets applied (each a plugin reset) */
    uint32_t kicks;          /* QMP stop + cont used to apply one on a busy guest */
    uint32_t apply_ms_last;  /* how long the last set took to apply */
    uint32_t apply_ms_max;
    uint64_t reserved[4];    /* zeroed by vmic: room to grow */
} vmic_qemu_plugin_stats_t;

/* d must be a qemu driver (VMIC_E_INVAL otherwise). */
VMIC_API vmic_status vmic_qemu_plugin_stats(vmic_driver *d, vmic_qemu_plugin_stats_t *out);

/* Attaches to the plugin of TARGET ("qemu:DIR", or the endpoint form whose
 * gdb socket lies in the directory of plugin.ctl) and watches pa[0..n)
 * (n >= 1, at most 1024). timeout_ms: 0 for 5000. VMIC_E_UNSUPPORTED with
 * the reason when there is no usable plugin, VMIC_E_BUSY when another
 * watcher is attached. */
VMIC_API vmic_status vmic_qemu_watch_open(const char *target, const vmic_pa_t *pa, uint32_t n,
                                          unsigned timeout_ms, vmic_qemu_watch_t **out);
/* Up to max events into ev, waiting up to timeout_ms (-1: forever) for the
 * first; *got how many (0 on timeout). */
VMIC_API vmic_status vmic_qemu_watch_poll(vmic_qemu_watch_t *w, vmic_qemu_exec_t *ev, size_t max,
                                          int timeout_ms, size_t *got);
/* Events the plugin made and dropped (client dead) since the attach, and
 * those this watcher received. */
VMIC_API void vmic_qemu_watch_counters(const vmic_qemu_watch_t *w, uint64_t *made,
                                       uint64_t *dropped, uint64_t *received);
/* Detaches: the plugin removes the watches. NULL is a no-op. */
VMIC_API void vmic_qemu_watch_close(vmic_qemu_watch_t *w);

#ifdef __cplusplus
}
#endif
#endif
