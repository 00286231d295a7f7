/*
 * vmic tracer (utils layer): what the processes of a Linux guest do, seen
 * from outside -- processes created, programs executed (with the new
 * command line), tasks exiting (with their code), and system calls with
 * decoded arguments and return values, like strace, with nothing in the
 * guest.
 *
 * Where it stops the guest (kernel functions, found in kallsyms; the
 * arguments are in registers at a function's first instruction):
 *
 *   do_syscall_64(regs, nr)          system-call entry: the pt_regs the
 *                                    entry code saved (orig_ax, di, si, dx,
 *                                    r10, r8, r9)
 *   syscall_exit_to_user_mode(regs)  system-call return: regs->ax is the
 *                                    return value
 *   wake_up_new_task(p)              a new task, before it first runs
 *   do_exit(code)                    a task exiting, with its code
 *
 * and, only with no_syscalls (the two syscall breakpoints are not armed):
 *
 *   begin_new_exec(bprm)             an exec past its point of no return,
 *                                    the task still under its old comm
 *   finalize_exec(bprm)              the new program set up
 *
 * An entry and its return are matched per task (the vCPU's current task,
 * vmic_os_current_task), and checked against each other (the same pt_regs,
 * the same orig_ax). A return with no entry (the call began before the
 * tracer attached) is decoded from the pt_regs alone and flagged; a forked
 * child's first return (ret_from_fork) is not a call of its own and is not
 * reported. exit and exit_group never return: they are reported at entry.
 * A successful execve is reported at its return, in the new program, with
 * its command line read from the new mm; the file name was read at entry.
 * The exec event is a process event: a syscalls filter that leaves execve
 * out keeps it, no_processes drops it; with no_syscalls it comes from the
 * two exec breakpoints (the file name from bprm->filename).
 *
 * Names, argument names and C types come from the guest kernel itself
 * (vmic_os_syscalls); strings and buffers are read from the calling
 * process's memory through the vCPU's CR3, bounded by the options. Input
 * arguments are decoded at entry, output buffers at return; an input string
 * whose page was not present at entry is read again at return.
 *
 * The breakpoints go through a breakpoint manager (utils.h): exec watches
 * where the driver has them (qemu with vmic's plugin: only the hitting vCPU
 * waits), else debug-register taps (qemu: gdb Z1, every hit stops the VM;
 * kvm: the debug registers, which hold four: a session arms at most four of
 * the six above), else INT3 taps in shadow pages.
 *
 * An exec watch's hit carries no registers (QEMU's plugin API v1), so every
 * value above is read from guest memory instead: the current task from the
 * CPU's per-CPU area (QEMU's vCPU index as the CPU number), the pt_regs at
 * the CPU's top of stack (RDI's value), the syscall number from orig_ax
 * (RSI's), the address space from the task's mm. Forks are seen at the
 * child's first switch in (schedule_tail: the creator is real_parent, for a
 * thread its group leader), exits at do_task_dead with the task's exit_code,
 * and with no_syscalls execs through execve's entry and return, which are
 * then armed with every syscall filtered out. The
 * session ends on SIGINT/SIGTERM, when the callback asks, after the
 * options' duration, or when the guest goes away; however it ends, every
 * breakpoint is removed and the guest runs on untraced.
 */
#ifndef VMIC_TRACE_H
#define VMIC_TRACE_H

#include <vmic/os.h>
#include <vmic/utils.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vmic_trace_kind {
    VMIC_TRACE_SYSCALL = 1,   /* a system call (at its return; exit/exit_group at entry) */
    VMIC_TRACE_FORK,          /* a task was created */
    VMIC_TRACE_EXEC,          /* a task now runs a new program */
    VMIC_TRACE_EXIT,          /* a task exited */
} vmic_trace_kind;

VMIC_API const char *vmic_trace_kind_name(vmic_trace_kind k);   /* "syscall", "fork", ... */

typedef struct vmic_trace_task {
    vmic_va_t task;           /* the task_struct */
    int32_t pid;              /* thread id */
    int32_t tgid;             /* process id */
    char comm[VMIC_COMM_LEN + 1];
} vmic_trace_task_t;

#define VMIC_TRACE_TEXT 320   /* a decoded argument, at most */
#define VMIC_TRACE_CMDLINE 1024

/* How an argument was decoded. */
typedef enum vmic_trace_value_kind {
    VMIC_VALUE_INT = 0,       /* a number (signed or not, as its C type says) */
    VMIC_VALUE_HEX,           /* an address or a pointer we do not follow */
    VMIC_VALUE_STRING,        /* a NUL-terminated string read from the process */
    VMIC_VALUE_BUFFER,        /* bytes of a buffer (length from another argument) */
    VMIC_VALUE_STRINGS,       /* an array of strings (execve's argv, envp) */
    VMIC_VALUE_FLAGS,         /* symbolic flags (O_*, PROT_*, CLONE_*...) or a
                                 constant (AT_FDCWD, TCGETS, SIGCHLD) */
    VMIC_VALUE_UNREADABLE,    /* a pointer whose memory could not be read */
    VMIC_VALUE_STRUCT,        /* a struct read from the process ({flags=...}) */
} vmic_trace_value_kind;

typedef struct vmic_trace_value {
    const char *name;         /* the kernel's name for it ("filename"), or "arg0".. */
    const char *type;         /* its C type ("const char *"), or "" */
    uint64_t raw;             /* the register's value */
    vmic_trace_value_kind kind;
    bool truncated;           /* the string or buffer went on past the bound */
    bool hidden;              /* strace leaves it out of the line (open's mode
                                 without O_CREAT, ioctl's for FIOCLEX, fcntl's
                                 for F_GETFL); --json keeps it */
    char text[VMIC_TRACE_TEXT]; /* as Debian 12's strace 6.1 shows it: 3,
                                   "/etc/passwd" (C escapes), O_RDONLY|O_CLOEXEC,
                                   AT_FDCWD, 0x7ffd1234, NULL, ["ls", "-l"],
                                   PROT_READ|PROT_WRITE, TCGETS, 0644, -1 */
} vmic_trace_value_t;

typedef struct vmic_trace_event {
    vmic_trace_kind kind;
    vmic_vcpu_t vcpu;
    uint64_t seq;             /* the tracer's event number, from 1 */
    uint64_t time_ns;         /* host CLOCK_MONOTONIC since vmic_tracer_run began */
    vmic_trace_task_t task;   /* who: the caller, the parent (fork), the
                                 exiting task, the task that exec'd */

    /* VMIC_TRACE_SYSCALL */
    struct {
        uint32_t nr;
        const vmic_syscall_t *sc;  /* the kernel's description (NULL past the table) */
        const char *name;          /* sc->name, or "syscall_NNN" */
        int nargs;                 /* arguments shown (6 when the kernel does not say) */
        vmic_trace_value_t args[VMIC_SYSCALL_MAX_ARGS];
        bool returned;             /* false: exit, exit_group (ret is meaningless) */
        bool entry_seen;           /* false: the call began before the tracer attached */
        int64_t ret;               /* regs->ax at return */
        char ret_text[96];         /* "3", "-1 ENOENT (No such file or directory)", "0x55d0c000" */
        const char *error;         /* "ENOENT" when ret is -errno, else NULL */
        uint64_t duration_ns;      /* host time from entry to return (0 if no entry) */
    } syscall;

    /* VMIC_TRACE_FORK: task is the parent (the creating task) */
    struct {
        vmic_trace_task_t child;
        bool thread;               /* the child shares the parent's thread group */
        bool kernel;               /* a kernel thread */
    } fork;

    /* VMIC_TRACE_EXEC: task is the task after exec (new comm) */
    struct {
        char old_comm[VMIC_COMM_LEN + 1];
        char filename[VMIC_TRACE_TEXT];  /* as passed to execve (decoded, unquoted) */
        char cmdline[VMIC_TRACE_CMDLINE]; /* the new mm's arguments, spaces between */
        bool cmdline_truncated;
    } exec;

    /* VMIC_TRACE_EXIT */
    struct {
        int64_t code;              /* do_exit's argument */
        int status;                /* (code >> 8) & 0xff when not signalled */
        int signal;                /* code & 0x7f: killed by this signal, or 0 */
        bool core_dumped;
        bool thread;               /* a thread other than the group leader */
    } exit;
} vmic_trace_event_t;

typedef struct vmic_trace_options {
    bool no_syscalls;         /* only process events: no syscall breakpoints */
    bool no_processes;        /* only system calls: no fork/exit breakpoints */
    int32_t pid;              /* only this process or thread (0: all) */
    bool follow;              /* with pid: also the processes it and they
                                 create while traced (strace -f) */
    const char *comm;         /* only tasks with this comm (NULL: all) */
    const char *syscalls;     /* only these system calls, comma separated
                                 ("openat,execve"; NULL: all) */
    uint32_t string_max;      /* bytes of a string shown (0: 256) */
    uint32_t buffer_max;      /* bytes of a buffer shown (0: 32) */
    uint32_t duration_ms;     /* end the session after this long (0: no end) */
    vmic_tap_kind tap;        /* 0 (VMIC_TAP_AUTO): debug registers where the
                                 driver has them, else INT3 taps */
    uint64_t reserved[4];    /* zero: room to grow without an ABI break */
} vmic_trace_options_t;

typedef struct vmic_tracer vmic_tracer;

/* Resolves what the tracer needs in the guest (symbols, pt_regs layout,
 * the syscall table, the filters' syscall names); no breakpoint yet. */
VMIC_API vmic_status vmic_tracer_open(vmic_os *os, const vmic_trace_options_t *opt, vmic_tracer **out);
VMIC_API void vmic_tracer_close(vmic_tracer *t);

/* Called for each event that passes the filters; non-zero ends the
 * session (VMIC_OK). */
typedef int (*vmic_trace_fn)(const vmic_trace_event_t *ev, void *arg);

/*
 * Sets the breakpoints and lets the guest run (a guest left paused would
 * hit none). Hits wait, the vCPU stopped, until vmic_tracer_run takes them:
 * arming first lets a caller say "tracing" only once it is true.
 */
VMIC_API vmic_status vmic_tracer_arm(vmic_tracer *t);
/* What the breakpoints are: VMIC_TAP_EXEC_WATCH through QEMU's plugin
 * (only the hitting vCPU waits; every value is read from guest memory),
 * VMIC_TAP_DEBUGREG through the gdbstub or KVM's debug registers, ...
 * Decided at open (options.tap, else vmic_tap_auto_kind). */
VMIC_API vmic_tap_kind vmic_tracer_tap(const vmic_tracer *t);
/* Once armed: whether the breakpoints copy what each event needs at the
 * instant it happens (the plugin's capture programs), so that no vCPU
 * waits for vmic but at an exec; false: every value is read at the hit. */
VMIC_API bool vmic_tracer_captures(const vmic_tracer *t);
/* Breakpoints in place now (0 when not armed). */
VMIC_API size_t vmic_tracer_breakpoints(const vmic_tracer *t);

/*
 * Arms if not armed, runs an event session until it ends (see above), and
 * removes every breakpoint. VMIC_OK when the callback or the duration ended
 * it, VMIC_E_INTERRUPTED on SIGINT/SIGTERM, else the error (QEMU gone: its
 * message). The guest keeps running afterwards.
 */
VMIC_API vmic_status vmic_tracer_run(vmic_tracer *t, vmic_trace_fn fn, void *arg);

/* Formats an event as one line, strace-like: "[1234 sh] openat(AT_FDCWD,
 * "/etc/passwd", O_RDONLY) = 3". Returns the length it needed. */
VMIC_API size_t vmic_trace_format(const vmic_trace_event_t *ev, char *buf, size_t size);

/* ---- what it saw ------------------------------------------------------------ */

typedef struct vmic_trace_stats {
    uint64_t hits;            /* breakpoint hits, all kinds */
    uint64_t events;          /* events passed to the callback */
    uint64_t filtered;        /* events the filters dropped */
    uint64_t unmatched;       /* returns with no recorded entry */
    uint64_t fork_returns;    /* children's first returns, not reported */
    uint64_t dropped;         /* entries not recorded: too many tasks in calls */
    uint64_t read_errors;     /* arguments shown unread, tasks and pt_regs not
                                 read: guest memory that did not translate */
    uint64_t late_reads;      /* captured events (the plugin): memory the capture
                                 did not hold, read after the vCPU went on */
    uint64_t reserved[3];    /* zeroed by vmic: room to grow */
} vmic_trace_stats_t;

/* Through a pointer, not by value: the struct may grow. */
VMIC_API void vmic_tracer_stats(const vmic_tracer *t, vmic_trace_stats_t *out);

/* One row of the summary: calls of one syscall, or events of one process. */
typedef struct vmic_trace_count {
    uint32_t nr;              /* syscall rows */
    const char *name;         /* syscall name, or the process's comm */
    int32_t pid;              /* process rows: the tgid */
    uint64_t calls;           /* syscalls (process rows: its syscalls) */
    uint64_t errors;          /* of which returned -errno */
    uint64_t forks, execs, exits; /* process rows */
    uint64_t reserved[2];    /* zeroed by vmic: room to grow */
} vmic_trace_count_t;

/* Rows by calls, most first; returns how many exist (may exceed max). */
VMIC_API size_t vmic_tracer_syscall_counts(const vmic_tracer *t, vmic_trace_count_t *out, size_t max);
VMIC_API size_t vmic_tracer_process_counts(const vmic_tracer *t, vmic_trace_count_t *out, size_t max);

#ifdef __cplusplus
}
#endif
#endif
