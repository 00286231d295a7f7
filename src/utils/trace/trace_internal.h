/*
 * The tracer's private pieces (see vmic/trace.h for what it does):
 *
 *   tracer.c        open, close, run: symbols, breakpoints, the session
 *   trace_events.c  the four breakpoints: entries, returns, forks, exits;
 *                   entries waiting for their return; filters; emitting
 *   trace_args.c    how each argument of a syscall is shown (from its C
 *                   type and name) and decoding it from the process
 *   trace_text.c    escaping, errno names, the one-line format
 *   trace_flags.c   x86-64 constants by name, as strace shows them (O_*,
 *                   PROT_*, MAP_*, CLONE_*, AT_*, signals, ioctls...)
 *   trace_structs.c structs a call points at: clone_args, sigsets, sigaction,
 *                   wait status, pipe fds
 *   trace_counts.c  the summary: calls per syscall and per process
 */
#ifndef VMIC_TRACE_INTERNAL_H
#define VMIC_TRACE_INTERNAL_H

#include <vmic/trace.h>

/* Bounds on what a guest can make the tracer hold. */
#define TRACE_MAX_PENDING 1024    /* tasks inside a syscall at once */
#define TRACE_MAX_PROCESSES 4096  /* summary rows */
#define TRACE_MAX_ARRAY 16        /* strings shown of argv / envp */
#define TRACE_STRING_MAX_LIMIT 4096
#define TRACE_MAX_FOLLOWED 1024   /* processes --follow adds to --pid */

/* Which breakpoint a hit is (the manager's tag). */
typedef enum trace_bp {
    BP_ENTRY = 1,                 /* do_syscall_64 */
    BP_RETURN,                    /* syscall_exit_to_user_mode */
    BP_FORK,                      /* wake_up_new_task */
    BP_EXIT,                      /* do_exit */
    BP_EXEC_BEGIN,                /* begin_new_exec: only without syscalls */
    BP_EXEC_DONE,                 /* finalize_exec: only without syscalls */
} trace_bp;

#define TRACE_NBP (BP_EXEC_DONE + 1)

/* pending.nr of a record made at begin_new_exec: no syscall, an exec under
 * way (the old comm, kept for finalize_exec). */
#define NR_EXEC_BEGIN UINT32_MAX

/* Sets of named constants (trace_flags.c). */
typedef enum value_set {
    SET_NONE = 0,
    SET_OPEN_FLAGS,               /* O_RDONLY|O_CLOEXEC */
    SET_FD_FLAGS,                 /* pipe2, dup3: O_* bits, no access mode */
    SET_ACCESS_MODE,              /* F_OK, R_OK|W_OK */
    SET_AT_FLAGS,                 /* AT_EMPTY_PATH, AT_REMOVEDIR... */
    SET_FACCESSAT2_FLAGS,         /* where 0x200 is AT_EACCESS */
    SET_STATX_FLAGS,              /* AT_STATX_* first */
    SET_SEEK,                     /* SEEK_SET */
    SET_FCNTL_CMD,                /* F_DUPFD_CLOEXEC */
    SET_PROT,                     /* PROT_READ|PROT_WRITE, PROT_NONE */
    SET_MMAP_FLAGS,               /* MAP_PRIVATE|MAP_ANONYMOUS */
    SET_MADVISE,                  /* MADV_DONTNEED */
    SET_CLONE_FLAGS,              /* clone: CLONE_VM|...|SIGCHLD */
    SET_CLONE3_FLAGS,             /* clone_args.flags: no signal in them */
    SET_SIGNAL,                   /* SIGCHLD, SIGRT_1 */
    SET_WAIT_OPTIONS,             /* WNOHANG|__WALL */
    SET_SIGMASK_HOW,              /* SIG_BLOCK */
    SET_ARCH_PRCTL,               /* ARCH_SET_FS */
    SET_RLIMIT,                   /* RLIMIT_STACK */
    SET_GETRANDOM,                /* GRND_NONBLOCK */
    SET_IOCTL_CMD,                /* TCGETS, _IOC(...) */
    SET_TCFLSH,                   /* TCIFLUSH */
    SET_TCXONC,                   /* TCOOFF */
    SET_FUTEX_OP,                 /* FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME */
    SET_CLOCK,                    /* CLOCK_MONOTONIC */
    SET_TIMER_FLAGS,              /* TIMER_ABSTIME */
    SET_PRCTL,                    /* PR_SET_NAME */
} value_set;

#define SET_LAST SET_PRCTL        /* the tests walk every set up to it */

/* What an ioctl request's argument is, as strace shows it. */
typedef enum ioctl_arg {
    IOCTL_ARG_HEX = 0,            /* unknown: 0x1234, 0 */
    IOCTL_ARG_ADDR,               /* a pointer: 0x7ffd..., NULL */
    IOCTL_ARG_INT,                /* a number */
    IOCTL_ARG_NONE,               /* none: left out of the line */
    IOCTL_ARG_TCFLSH,             /* TCIFLUSH... */
    IOCTL_ARG_TCXONC,             /* TCOOFF... */
} ioctl_arg;

/* How one argument is shown; decided once per syscall from the kernel's
 * metadata (trace_args.c). */
typedef enum arg_class {
    ARG_SIGNED = 0,               /* int, long, pid_t, off_t ... (width below) */
    ARG_UNSIGNED,                 /* unsigned int, size_t, uid_t ... */
    ARG_HEX,                      /* a pointer not followed, an address: 0x..., NULL */
    ARG_HEXNUM,                   /* a number shown in hex: mmap's offset (0 is 0) */
    ARG_FD,                       /* a file descriptor: a signed int whatever its type */
    ARG_DIRFD,                    /* a directory fd: AT_FDCWD */
    ARG_STRING,                   /* const char *: a NUL-terminated input */
    ARG_STRINGS,                  /* const char *const *: argv, envp */
    ARG_BUF_IN,                   /* a buffer the call reads (length: len_arg) */
    ARG_BUF_OUT,                  /* a buffer the call fills (length: the result) */
    ARG_SET,                      /* named constants (set below) */
    ARG_MODE,                     /* umode_t: octal */
    ARG_CLONE_ARGS,               /* clone3's struct clone_args, read at entry */
    ARG_IOCTL_ARG,                /* ioctl's argument: as its request says */
    ARG_FCNTL_ARG,                /* fcntl's argument: as its command says */
    ARG_FUTEX_ARG,                /* futex's val, utime, uaddr2, val3: as its op says */
    ARG_PRCTL_ARG,                /* prctl's arg2..arg5: as its option says */
    ARG_STRING_OUT,               /* a string the call writes (getcwd): read at return */
    ARG_WAIT_STATUS,              /* wait4's int *status: decoded at return */
    ARG_SIGSET_IN,                /* a sigset_t * the call reads: [CHLD], ~[] */
    ARG_SIGSET_OUT,               /* a sigset_t * the call fills: read at return */
    ARG_SIGACTION_IN,             /* rt_sigaction's act: {sa_handler=...} */
    ARG_SIGACTION_OUT,            /* rt_sigaction's oact: read at return */
    ARG_FD_PAIR_OUT,              /* pipe's int[2]: [3, 4], read at return */
    ARG_TIMESPEC_IN,              /* a struct __kernel_timespec the call reads */
    ARG_TIMESPEC_OUT,             /* one it fills (clock_gettime): read at return */
} arg_class;

typedef struct arg_shape {
    arg_class cls;
    uint8_t width;                /* bytes of an integer: 4 or 8 */
    int8_t len_arg;               /* ARG_BUF_IN: the argument holding the length */
    uint8_t set;                  /* ARG_SET: a value_set */
} arg_shape;

typedef struct syscall_shape {
    int nargs;                    /* 6 when the kernel does not say */
    arg_shape args[VMIC_SYSCALL_MAX_ARGS];
    bool ret_hex;                 /* mmap, brk...: an address */
    bool never_returns;           /* exit, exit_group */
    bool is_exec;                 /* execve, execveat */
    int8_t exec_filename;         /* which argument is the file name */
    bool is_fork;                 /* clone, clone3, fork, vfork */
    bool wanted;                  /* passes the --syscall filter */
} syscall_shape;

/* Offsets in struct pt_regs (from BTF). */
typedef struct regs_layout {
    uint32_t size;
    uint32_t di, si, dx, r10, r8, r9, ax, orig_ax, cs;
} regs_layout;

/* The saved user registers of one syscall. */
typedef struct saved_regs {
    uint64_t args[VMIC_SYSCALL_MAX_ARGS];
    uint64_t ax, orig_ax, cs;
} saved_regs;

/* A syscall that entered and has not returned yet. */
typedef struct pending {
    uint64_t task;
    uint64_t regs;                /* its pt_regs: the same at the return */
    uint32_t nr;
    uint64_t args[VMIC_SYSCALL_MAX_ARGS];
    uint64_t t_entry;
    uint64_t cr3;                 /* the caller's address space at entry */
    vmic_trace_task_t who;        /* as it was at entry (comm before exec) */
    bool decoded;                 /* vals hold the entry's decoding */
    bool quiet;                   /* an execve the --syscall filter drops: kept
                                     only for its exec event */
    vmic_trace_value_t vals[VMIC_SYSCALL_MAX_ARGS];
    char exec_file[VMIC_TRACE_TEXT]; /* execve's file name, raw */
} pending;

typedef struct count_row {
    uint64_t calls, errors;
} count_row;

typedef struct process_row {
    int32_t tgid;
    char comm[VMIC_COMM_LEN + 1];
    uint64_t calls, errors, forks, execs, exits;
} process_row;

/* Offsets a capture program reads (trace_capture.c). */
typedef struct trace_offsets {
    uint32_t pid, tgid, comm, mm, mm_pgd;
    uint32_t regs_below_top;      /* sizeof(struct pt_regs): they end at the top of stack */
} trace_offsets;

struct vmic_tracer {
    vmic_os *os;
    vmic_core *core;
    vmic_trace_options_t opt;
    char *comm_filter;            /* owned copy of opt.comm */
    uint64_t bp_addr[TRACE_NBP];  /* by trace_bp; 0: not armed */
    uint32_t binprm_filename;     /* offset of linux_binprm.filename */
    vmic_tap_kind tap;            /* what the breakpoints are (never AUTO once armed) */
    bool no_regs;                 /* hits carry no registers (exec watches): every
                                     value is read from memory (trace_events.c) */
    uint32_t task_real_parent, task_group_leader, task_exit_code; /* no_regs: offsets */
    bool cap_on;                  /* the breakpoints run capture programs */
    const vmic_capture_t *cap;    /* the hit's capture, NULL: read live */
    trace_offsets off;
    uint8_t cap_tag_comm;         /* the items the programs make: the same op */
    uint8_t cap_tag_regs;         /* index in every program that has them */
    uint8_t cap_tag_parent_comm, cap_tag_leader_comm;
    regs_layout regs;
    const vmic_syscall_t *table;
    size_t nsyscalls;
    syscall_shape *shapes;        /* one per table entry */
    syscall_shape unknown_shape;  /* numbers past the table */

    pending *pend;                /* TRACE_MAX_PENDING, the first npend used */
    size_t npend;

    int32_t *followed;            /* tgids --follow added, TRACE_MAX_FOLLOWED */
    size_t nfollowed;

    count_row *counts;            /* per syscall, plus one for "past the table" */
    process_row *procs;
    size_t nprocs;

    vmic_bpm *bpm;                /* the breakpoints, while armed */
    vmic_trace_stats_t stats;
    vmic_trace_event_t ev;        /* the event being built */
    vmic_trace_fn fn;
    void *fn_arg;
    bool stop;                    /* the callback asked to end */
    uint64_t t0_ns;
};

/* trace_events.c: one breakpoint hit (the vCPU stopped at bp). */
vmic_status trace_on_hit(vmic_tracer *t, trace_bp bp, const vmic_event_t *ev);

/* trace_capture.c: programs for the breakpoints at bp_va[trace_bp] (t->cap_on
 * false: the driver cannot capture, read live), and what the hit's capture
 * holds (t->cap set): the current task, the fork's creator, the exit code,
 * where pt_regs are and their copy (NULL: not whole). */
void trace_capture_arm(vmic_tracer *t, const uint64_t *bp_va);
bool trace_cap_task(vmic_tracer *t, vmic_trace_task_t *who, vmic_process_t *proc);
bool trace_cap_creator(vmic_tracer *t, bool thread, vmic_trace_task_t *who);
int64_t trace_cap_exit_code(const vmic_tracer *t);
uint64_t trace_cap_regs_va(const vmic_tracer *t);
const uint8_t *trace_cap_regs(vmic_tracer *t);
/* vmic_read_va and vmic_read_str_va, from the capture where it holds the
 * bytes: every read of the process's memory while decoding goes here. */
vmic_status trace_read(vmic_tracer *t, vmic_ctx_t ctx, uint64_t va, void *buf, size_t n);
vmic_status trace_read_str(vmic_tracer *t, vmic_ctx_t ctx, uint64_t va, char *buf, size_t max,
                           size_t *len);

/* trace_args.c */
void shape_syscall(const vmic_syscall_t *sc, syscall_shape *out);
void shape_unknown(syscall_shape *out);
/* Decodes the arguments the call reads (entry) into vals. */
void decode_inputs(vmic_tracer *t, const syscall_shape *sh, const vmic_syscall_t *sc,
                   vmic_ctx_t ctx, const uint64_t *args, vmic_trace_value_t *vals);
/* At the return: output buffers, and inputs whose memory was not readable
 * at entry (when the address space is still the caller's). */
void decode_outputs(vmic_tracer *t, const syscall_shape *sh, vmic_ctx_t ctx, const uint64_t *args,
                    int64_t ret, bool retry_inputs, vmic_trace_value_t *vals);
void decode_return(const syscall_shape *sh, int64_t ret, char *text, size_t size,
                   const char **error);

/* trace_args.c: an argument's text and kind. */
void value_printf(vmic_trace_value_t *v, vmic_trace_value_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void value_address(vmic_trace_value_t *v, vmic_trace_value_kind kind); /* 0x..., NULL */

/* trace_structs.c: structs read from the process (size: clone3's argument,
 * sigsetsize: the call's last). */
void decode_clone_args(vmic_tracer *t, vmic_ctx_t ctx, uint64_t size, vmic_trace_value_t *v);
void decode_wait_status(vmic_tracer *t, vmic_ctx_t ctx, vmic_trace_value_t *v);
void decode_fd_pair(vmic_tracer *t, vmic_ctx_t ctx, vmic_trace_value_t *v);
void decode_timespec(vmic_tracer *t, vmic_ctx_t ctx, vmic_trace_value_t *v);
void decode_signals(vmic_tracer *t, vmic_ctx_t ctx, bool action, uint64_t sigsetsize,
                    vmic_trace_value_t *v);

/* trace_text.c */
/* Appends bytes as a C string literal body (escaped) to out; returns the
 * length written (out always NUL-terminated). */
size_t text_escape(char *out, size_t size, const uint8_t *bytes, size_t len);
const char *errno_name(int64_t err);
const char *errno_text(int64_t err);

/* trace_flags.c: text always NUL-terminated, cut at size. */
void value_set_text(value_set set, uint64_t v, char *out, size_t size);
void open_flags_text(uint64_t flags, char *out, size_t size);
ioctl_arg ioctl_arg_of(uint64_t cmd);
/* A wait status as strace shows it: [{WIFEXITED(s) && WEXITSTATUS(s) == 3}]. */
void wait_status_text(uint32_t status, char *out, size_t size);
/* A 64-signal set: [INT TERM], ~[RTMIN RT_1] (what is not in it, when
 * most signals are). */
void sigset_text(uint64_t set, char *out, size_t size);
/* The kernel's struct sigaction (x86-64: handler, flags, restorer, mask). */
#define SIGACTION_SIZE 32
void sigaction_text(const uint8_t *sa, char *out, size_t size);
/* What strace shows of futex's arguments 2..5 for an op, one letter each:
 * u unsigned, n signed, a address, b a bitset (FUTEX_BITSET_MATCH_ANY),
 * x hex, - left out. */
const char *futex_args_of(uint64_t op);

/* trace_counts.c */
void count_event(vmic_tracer *t, const vmic_trace_event_t *ev);

#endif
