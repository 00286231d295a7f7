/*
 * Constants of the x86-64 Linux ABI shown by name, as Debian 12's strace 6.1
 * shows them: the same names, in the same order, the same way of showing
 * what has no name. The values are the kernel's uapi (the same for every
 * x86-64 guest); the order and the unknown-value forms were read off real
 * strace runs (tests/unit/test_trace_flags.c holds them).
 *
 * Flag sets print their names joined by '|' in table order, then what is
 * left in hex ("PROT_READ|0x100"); a value with no name at all prints as
 * hex followed by a C comment holding "PROT_???". An enumeration prints its
 * one name, or the same hex-and-comment form.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "trace_internal.h"

typedef struct named {
    uint64_t value;               /* a bit mask (flags) or a value (enumerations) */
    const char *name;
} named;

typedef struct table {
    const named *items;
    size_t n;
    bool bits;                    /* flags OR'ed together, else one value */
    const char *zero;             /* the name of 0 (flags), NULL: "0" */
    const char *unknown;          /* the comment after a value with no name */
} table;

#define TABLE(items, bits, zero, unknown) \
    {items, sizeof items / sizeof items[0], bits, zero, unknown}

/* ---- a bounded line being written -------------------------------------------------- */

typedef struct text {
    char *buf;
    size_t size, len;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = t->len < t->size ? t->size - t->len : 0;
    int n = vsnprintf(room ? t->buf + t->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n;
}

static const char *sep(const text *t, size_t start)
{
    return t->len > start ? "|" : "";
}

/* The names of v's bits, in table order; a multi-bit entry (O_SYNC) only when
 * all of its bits are set. Returns the bits left without a name. */
static uint64_t add_bits(text *t, const table *tb, uint64_t v, size_t start)
{
    for (size_t i = 0; i < tb->n && v; i++) {
        uint64_t m = tb->items[i].value;
        if (m && (v & m) == m) {
            add(t, "%s%s", sep(t, start), tb->items[i].name);
            v &= ~m;
        }
    }
    return v;
}

/* What is left after the names: "|0x..." after a name, else the hex value
 * and the table's comment. */
static void add_rest(text *t, const table *tb, uint64_t rest, size_t start)
{
    if (t->len > start)
        add(t, "|%#" PRIx64, rest);
    else
        add(t, "%#" PRIx64 " /* %s */", rest, tb->unknown);
}

static void table_text(text *t, const table *tb, uint64_t v)
{
    size_t start = t->len;
    if (!tb->bits) {
        for (size_t i = 0; i < tb->n; i++)
            if (tb->items[i].value == v) {
                add(t, "%s", tb->items[i].name);
                return;
            }
        add_rest(t, tb, v, start);
        return;
    }
    if (v == 0) {
        add(t, "%s", tb->zero ? tb->zero : "0");
        return;
    }
    uint64_t rest = add_bits(t, tb, v, start);
    if (rest)
        add_rest(t, tb, rest, start);
}

/* ---- files ---------------------------------------------------------------------------- */

/* strace's order, not the bits' (O_SYNC holds O_DSYNC, O_TMPFILE O_DIRECTORY). */
static const named open_bits[] = {
    {0100, "O_CREAT"}, {0200, "O_EXCL"}, {0400, "O_NOCTTY"}, {01000, "O_TRUNC"},
    {02000, "O_APPEND"}, {04000, "O_NONBLOCK"}, {04010000, "O_SYNC"}, {010000, "O_DSYNC"},
    {040000, "O_DIRECT"}, {0100000, "O_LARGEFILE"}, {0400000, "O_NOFOLLOW"},
    {01000000, "O_NOATIME"}, {02000000, "O_CLOEXEC"}, {010000000, "O_PATH"},
    {020200000, "O_TMPFILE"}, {0200000, "O_DIRECTORY"}, {020000, "FASYNC"},
};
static const table open_table = TABLE(open_bits, true, NULL, "O_???");

static void open_text(text *t, uint64_t v)
{
    static const char *const access[] = {"O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"};
    uint32_t f = (uint32_t)v;
    add(t, "%s", access[f & 3]);
    uint64_t rest = add_bits(t, &open_table, f & ~3u, 0);
    if (rest)
        add_rest(t, &open_table, rest, 0);
}

void open_flags_text(uint64_t flags, char *out, size_t size)
{
    text t = {out, size, 0};
    if (size)
        out[0] = '\0';
    open_text(&t, flags);
}

static const named access_bits[] = {{4, "R_OK"}, {2, "W_OK"}, {1, "X_OK"}};

/* The AT_* flags most *at calls take; 0x200 is AT_REMOVEDIR there. */
static const named at_bits[] = {
    {0x100, "AT_SYMLINK_NOFOLLOW"}, {0x200, "AT_REMOVEDIR"}, {0x400, "AT_SYMLINK_FOLLOW"},
    {0x800, "AT_NO_AUTOMOUNT"}, {0x1000, "AT_EMPTY_PATH"}, {0x8000, "AT_RECURSIVE"},
};
/* faccessat2 takes three, and 0x200 is AT_EACCESS. */
static const named faccessat2_bits[] = {
    {0x100, "AT_SYMLINK_NOFOLLOW"}, {0x200, "AT_EACCESS"}, {0x1000, "AT_EMPTY_PATH"},
};
/* statx: its sync modes first, then the others. */
static const named statx_bits[] = {
    {0x2000, "AT_STATX_FORCE_SYNC"}, {0x4000, "AT_STATX_DONT_SYNC"},
    {0x100, "AT_SYMLINK_NOFOLLOW"}, {0x200, "AT_REMOVEDIR"}, {0x400, "AT_SYMLINK_FOLLOW"},
    {0x800, "AT_NO_AUTOMOUNT"}, {0x1000, "AT_EMPTY_PATH"}, {0x8000, "AT_RECURSIVE"},
};

static const named seek_values[] = {
    {0, "SEEK_SET"}, {1, "SEEK_CUR"}, {2, "SEEK_END"}, {3, "SEEK_DATA"}, {4, "SEEK_HOLE"},
};

static const named fcntl_values[] = {
    {0, "F_DUPFD"}, {1, "F_GETFD"}, {2, "F_SETFD"}, {3, "F_GETFL"}, {4, "F_SETFL"},
    {5, "F_GETLK"}, {6, "F_SETLK"}, {7, "F_SETLKW"}, {8, "F_SETOWN"}, {9, "F_GETOWN"},
    {10, "F_SETSIG"}, {11, "F_GETSIG"}, {15, "F_SETOWN_EX"}, {16, "F_GETOWN_EX"},
    {36, "F_OFD_GETLK"}, {37, "F_OFD_SETLK"}, {38, "F_OFD_SETLKW"}, {1024, "F_SETLEASE"},
    {1025, "F_GETLEASE"}, {1026, "F_NOTIFY"}, {1030, "F_DUPFD_CLOEXEC"},
    {1031, "F_SETPIPE_SZ"}, {1032, "F_GETPIPE_SZ"}, {1033, "F_ADD_SEALS"},
    {1034, "F_GET_SEALS"},
};

/* ---- memory ------------------------------------------------------------------------------ */

static const named prot_bits[] = {
    {0x1, "PROT_READ"}, {0x2, "PROT_WRITE"}, {0x4, "PROT_EXEC"}, {0x8, "PROT_SEM"},
    {0x01000000, "PROT_GROWSDOWN"}, {0x02000000, "PROT_GROWSUP"},
};

static const named map_types[] = {
    {1, "MAP_SHARED"}, {2, "MAP_PRIVATE"}, {3, "MAP_SHARED_VALIDATE"},
};
static const named map_bits[] = {
    {0x10, "MAP_FIXED"}, {0x20, "MAP_ANONYMOUS"}, {0x40, "MAP_32BIT"},
    {0x4000, "MAP_NORESERVE"}, {0x8000, "MAP_POPULATE"}, {0x10000, "MAP_NONBLOCK"},
    {0x100, "MAP_GROWSDOWN"}, {0x800, "MAP_DENYWRITE"}, {0x1000, "MAP_EXECUTABLE"},
    {0x2000, "MAP_LOCKED"}, {0x20000, "MAP_STACK"}, {0x40000, "MAP_HUGETLB"},
    {0x80000, "MAP_SYNC"}, {0x100000, "MAP_FIXED_NOREPLACE"},
};
static const table map_type_table = TABLE(map_types, false, NULL, "MAP_???");
static const table map_table = TABLE(map_bits, true, NULL, "MAP_???");

#define MAP_TYPE 0xfu
#define MAP_HUGE_SHIFT 26

/* The type (MAP_SHARED...), the flags, then a huge page size's log2. */
static void mmap_flags_text(text *t, uint64_t v)
{
    uint32_t f = (uint32_t)v;
    table_text(t, &map_type_table, f & MAP_TYPE);
    uint64_t rest = add_bits(t, &map_table, f & ~MAP_TYPE & ((1u << MAP_HUGE_SHIFT) - 1), 0);
    if (rest)
        add(t, "|%#" PRIx64, rest);
    if (f >> MAP_HUGE_SHIFT)
        add(t, "|%u<<MAP_HUGE_SHIFT", f >> MAP_HUGE_SHIFT);
}

static const named madvise_values[] = {
    {0, "MADV_NORMAL"}, {1, "MADV_RANDOM"}, {2, "MADV_SEQUENTIAL"}, {3, "MADV_WILLNEED"},
    {4, "MADV_DONTNEED"}, {8, "MADV_FREE"}, {9, "MADV_REMOVE"}, {10, "MADV_DONTFORK"},
    {11, "MADV_DOFORK"}, {12, "MADV_MERGEABLE"}, {13, "MADV_UNMERGEABLE"},
    {14, "MADV_HUGEPAGE"}, {15, "MADV_NOHUGEPAGE"}, {16, "MADV_DONTDUMP"},
    {17, "MADV_DODUMP"}, {18, "MADV_WIPEONFORK"}, {19, "MADV_KEEPONFORK"},
    {20, "MADV_COLD"}, {21, "MADV_PAGEOUT"}, {22, "MADV_POPULATE_READ"},
    {23, "MADV_POPULATE_WRITE"}, {24, "MADV_DONTNEED_LOCKED"}, {100, "MADV_HWPOISON"},
    {101, "MADV_SOFT_OFFLINE"},
};

/* ---- processes and signals ------------------------------------------------------------------ */

static const char *const signals[] = {
    NULL, "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
    "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT",
    "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU",
    "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
};

#define SIGRTMIN 32
#define SIGRTMAX 64

/* A signal by name (SIGCHLD, SIGRTMIN, SIGRT_1...), anything else in decimal. */
static void signal_text(text *t, uint64_t v)
{
    if (v > 0 && v < sizeof signals / sizeof signals[0])
        add(t, "%s", signals[v]);
    else if (v == SIGRTMIN)
        add(t, "SIGRTMIN");
    else if (v > SIGRTMIN && v <= SIGRTMAX)
        add(t, "SIGRT_%u", (unsigned)(v - SIGRTMIN));
    else
        add(t, "%" PRIu64, v);
}

/* Numeric order; 0x400000 (CLONE_DETACHED, ignored since 2.6) has no name. */
static const named clone_bits[] = {
    {0x100, "CLONE_VM"}, {0x200, "CLONE_FS"}, {0x400, "CLONE_FILES"},
    {0x800, "CLONE_SIGHAND"}, {0x1000, "CLONE_PIDFD"}, {0x2000, "CLONE_PTRACE"},
    {0x4000, "CLONE_VFORK"}, {0x8000, "CLONE_PARENT"}, {0x10000, "CLONE_THREAD"},
    {0x20000, "CLONE_NEWNS"}, {0x40000, "CLONE_SYSVSEM"}, {0x80000, "CLONE_SETTLS"},
    {0x100000, "CLONE_PARENT_SETTID"}, {0x200000, "CLONE_CHILD_CLEARTID"},
    {0x800000, "CLONE_UNTRACED"}, {0x1000000, "CLONE_CHILD_SETTID"},
    {0x2000000, "CLONE_NEWCGROUP"}, {0x4000000, "CLONE_NEWUTS"}, {0x8000000, "CLONE_NEWIPC"},
    {0x10000000, "CLONE_NEWUSER"}, {0x20000000, "CLONE_NEWPID"},
    {0x40000000, "CLONE_NEWNET"}, {0x80000000, "CLONE_IO"},
    {0x100000000, "CLONE_CLEAR_SIGHAND"}, {0x200000000, "CLONE_INTO_CGROUP"},
};
static const table clone_table = TABLE(clone_bits, true, NULL, "CLONE_???");

/* clone's flags: the CLONE_* bits, then the exit signal in the low byte. */
static void clone_flags_text(text *t, uint64_t v)
{
    uint64_t rest = add_bits(t, &clone_table, v & ~0xffull, 0);
    if (rest)
        add(t, "%s%#" PRIx64, sep(t, 0), rest);
    if (v & 0xff) {
        add(t, "%s", sep(t, 0));
        signal_text(t, v & 0xff);
    }
    if (t->len == 0)
        add(t, "0");
}

static const named wait_bits[] = {
    {1, "WNOHANG"}, {2, "WSTOPPED"}, {4, "WEXITED"}, {8, "WCONTINUED"},
    {0x1000000, "WNOWAIT"}, {0x20000000, "__WNOTHREAD"}, {0x40000000, "__WALL"},
    {0x80000000, "__WCLONE"},
};

/* The status wait4 writes: how the child ended or stopped (the kernel's
 * encoding: exit code << 8, a signal in the low 7 bits and 0x80 for a core
 * dump, 0x7f with the signal above for a stop, 0xffff for a continue). */
void wait_status_text(uint32_t status, char *out, size_t size)
{
    text t = {out, size, 0};
    uint32_t sig = status & 0x7f;
    if (size)
        out[0] = '\0';
    add(&t, "[{");
    if (status == 0xffff) {
        add(&t, "WIFCONTINUED(s)");
    } else if (sig == 0) {
        add(&t, "WIFEXITED(s) && WEXITSTATUS(s) == %u", (status >> 8) & 0xff);
    } else if (sig == 0x7f) {
        add(&t, "WIFSTOPPED(s) && WSTOPSIG(s) == ");
        signal_text(&t, (status >> 8) & 0xff);
    } else {
        add(&t, "WIFSIGNALED(s) && WTERMSIG(s) == ");
        signal_text(&t, sig);
        if (status & 0x80)
            add(&t, " && WCOREDUMP(s)");
    }
    add(&t, "}]");
}

/* A signal's name in a set: without SIG, RTMIN, RT_n. */
static void set_member_text(text *t, unsigned sig)
{
    if (sig < sizeof signals / sizeof signals[0])
        add(t, "%s", signals[sig] + 3);
    else if (sig == SIGRTMIN)
        add(t, "RTMIN");
    else
        add(t, "RT_%u", sig - SIGRTMIN);
}

void sigset_text(uint64_t set, char *out, size_t size)
{
    text t = {out, size, 0};
    int members = __builtin_popcountll(set);
    if (size)
        out[0] = '\0';
    /* strace lists what is missing once two thirds of the 64 are there */
    bool inverted = members >= SIGRTMAX * 2 / 3;
    if (inverted)
        set = ~set;
    add(&t, "%s[", inverted ? "~" : "");
    size_t start = t.len;
    for (unsigned sig = 1; sig <= SIGRTMAX; sig++)
        if (set & (1ull << (sig - 1))) {
            add(&t, "%s", t.len > start ? " " : "");
            set_member_text(&t, sig);
        }
    add(&t, "]");
}

static const named sa_bits[] = {
    {0x04000000, "SA_RESTORER"}, {0x08000000, "SA_ONSTACK"}, {0x10000000, "SA_RESTART"},
    {0x20000000, "SA_INTERRUPT"}, {0x40000000, "SA_NODEFER"}, {0x80000000, "SA_RESETHAND"},
    {4, "SA_SIGINFO"}, {1, "SA_NOCLDSTOP"}, {2, "SA_NOCLDWAIT"},
};
#define SA_RESTORER 0x04000000u

void sigaction_text(const uint8_t *sa, char *out, size_t size)
{
    static const table sa_table = TABLE(sa_bits, true, NULL, "SA_???");
    uint64_t handler, flags, restorer, mask;
    memcpy(&handler, sa, 8);
    memcpy(&flags, sa + 8, 8);
    memcpy(&restorer, sa + 16, 8);
    memcpy(&mask, sa + 24, 8);
    text t = {out, size, 0};
    if (size)
        out[0] = '\0';
    if (handler <= 1)
        add(&t, "{sa_handler=%s, sa_mask=", handler ? "SIG_IGN" : "SIG_DFL");
    else
        add(&t, "{sa_handler=%#" PRIx64 ", sa_mask=", handler);
    char set[VMIC_TRACE_TEXT];
    sigset_text(mask, set, sizeof set);
    add(&t, "%s, sa_flags=", set);
    table_text(&t, &sa_table, (uint32_t)flags);
    if (flags & SA_RESTORER)
        add(&t, ", sa_restorer=%#" PRIx64, restorer);
    add(&t, "}");
}

static const named sigmask_values[] = {{0, "SIG_BLOCK"}, {1, "SIG_UNBLOCK"}, {2, "SIG_SETMASK"}};

static const named arch_prctl_values[] = {
    {0x1001, "ARCH_SET_GS"}, {0x1002, "ARCH_SET_FS"}, {0x1003, "ARCH_GET_FS"},
    {0x1004, "ARCH_GET_GS"}, {0x1011, "ARCH_GET_CPUID"}, {0x1012, "ARCH_SET_CPUID"},
    {0x1021, "ARCH_GET_XCOMP_SUPP"}, {0x1022, "ARCH_GET_XCOMP_PERM"},
    {0x1023, "ARCH_REQ_XCOMP_PERM"}, {0x1024, "ARCH_GET_XCOMP_GUEST_PERM"},
    {0x1025, "ARCH_REQ_XCOMP_GUEST_PERM"}, {0x2001, "ARCH_MAP_VDSO_X32"},
    {0x2002, "ARCH_MAP_VDSO_32"}, {0x2003, "ARCH_MAP_VDSO_64"},
};

static const named rlimit_values[] = {
    {0, "RLIMIT_CPU"}, {1, "RLIMIT_FSIZE"}, {2, "RLIMIT_DATA"}, {3, "RLIMIT_STACK"},
    {4, "RLIMIT_CORE"}, {5, "RLIMIT_RSS"}, {6, "RLIMIT_NPROC"}, {7, "RLIMIT_NOFILE"},
    {8, "RLIMIT_MEMLOCK"}, {9, "RLIMIT_AS"}, {10, "RLIMIT_LOCKS"}, {11, "RLIMIT_SIGPENDING"},
    {12, "RLIMIT_MSGQUEUE"}, {13, "RLIMIT_NICE"}, {14, "RLIMIT_RTPRIO"}, {15, "RLIMIT_RTTIME"},
};

static const named getrandom_bits[] = {
    {1, "GRND_NONBLOCK"}, {2, "GRND_RANDOM"}, {4, "GRND_INSECURE"},
};

/* FUTEX_* operations: the command, _PRIVATE, then FUTEX_CLOCK_REALTIME. */
#define FUTEX_CMD_MASK 0x7fu
#define FUTEX_PRIVATE_FLAG 0x80u
#define FUTEX_CLOCK_REALTIME 0x100u

typedef struct futex_op {
    const char *name;
    const char *args;             /* futex_args_of's letters */
} futex_op;

/* The argument letters were read off strace runs; the operations not seen
 * there show every argument, as strace does for an unknown one. */
static const futex_op futex_ops[] = {
    {"FUTEX_WAIT", "ua--"}, {"FUTEX_WAKE", "u---"}, {"FUTEX_FD", "uaax"},
    {"FUTEX_REQUEUE", "una-"}, {"FUTEX_CMP_REQUEUE", "unan"}, {"FUTEX_WAKE_OP", "uaax"},
    {"FUTEX_LOCK_PI", "uaax"}, {"FUTEX_UNLOCK_PI", "----"}, {"FUTEX_TRYLOCK_PI", "uaax"},
    {"FUTEX_WAIT_BITSET", "ua-b"}, {"FUTEX_WAKE_BITSET", "u--b"},
    {"FUTEX_WAIT_REQUEUE_PI", "uaax"}, {"FUTEX_CMP_REQUEUE_PI", "uaax"},
    {"FUTEX_LOCK_PI2", "uaax"},
};

static const futex_op *futex_op_of(uint64_t op)
{
    uint32_t cmd = (uint32_t)op & FUTEX_CMD_MASK;
    if ((uint32_t)op & ~(FUTEX_CMD_MASK | FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME) ||
        cmd >= sizeof futex_ops / sizeof futex_ops[0])
        return NULL;
    return &futex_ops[cmd];
}

const char *futex_args_of(uint64_t op)
{
    const futex_op *f = futex_op_of(op);
    return f ? f->args : "uaax";
}

static void futex_op_text(text *t, uint64_t v)
{
    const futex_op *f = futex_op_of(v);
    if (!f) {
        add(t, "%#x /* FUTEX_??? */", (uint32_t)v);
        return;
    }
    add(t, "%s%s%s", f->name, v & FUTEX_PRIVATE_FLAG ? "_PRIVATE" : "",
        v & FUTEX_CLOCK_REALTIME ? "|FUTEX_CLOCK_REALTIME" : "");
}

static const named clock_values[] = {
    {0, "CLOCK_REALTIME"}, {1, "CLOCK_MONOTONIC"}, {2, "CLOCK_PROCESS_CPUTIME_ID"},
    {3, "CLOCK_THREAD_CPUTIME_ID"}, {4, "CLOCK_MONOTONIC_RAW"}, {5, "CLOCK_REALTIME_COARSE"},
    {6, "CLOCK_MONOTONIC_COARSE"}, {7, "CLOCK_BOOTTIME"}, {8, "CLOCK_REALTIME_ALARM"},
    {9, "CLOCK_BOOTTIME_ALARM"}, {11, "CLOCK_TAI"},
};
static const named timer_bits[] = {{1, "TIMER_ABSTIME"}};

static const named prctl_values[] = {
    {1, "PR_SET_PDEATHSIG"}, {2, "PR_GET_PDEATHSIG"}, {3, "PR_GET_DUMPABLE"},
    {4, "PR_SET_DUMPABLE"}, {8, "PR_SET_KEEPCAPS"}, {7, "PR_GET_KEEPCAPS"},
    {15, "PR_SET_NAME"}, {16, "PR_GET_NAME"}, {22, "PR_SET_SECCOMP"}, {21, "PR_GET_SECCOMP"},
    {23, "PR_CAPBSET_READ"}, {24, "PR_CAPBSET_DROP"}, {36, "PR_SET_CHILD_SUBREAPER"},
    {37, "PR_GET_CHILD_SUBREAPER"}, {38, "PR_SET_NO_NEW_PRIVS"}, {39, "PR_GET_NO_NEW_PRIVS"},
    {0x59616d61, "PR_SET_PTRACER"}, {47, "PR_CAP_AMBIENT"}, {35, "PR_SET_MM"},
    {0x53564d41, "PR_SET_VMA"},
};

/* ---- ioctl requests ------------------------------------------------------------------------ */

typedef struct ioctl_entry {
    uint32_t cmd;
    const char *name;
    ioctl_arg arg;
} ioctl_entry;

/* The terminal and file requests programs make most; strace names the
 * three TCSETS* by both of their meanings, and so does this. */
static const ioctl_entry ioctls[] = {
    {0x5401, "TCGETS", IOCTL_ARG_ADDR},
    {0x5402, "SNDCTL_TMR_START or TCSETS", IOCTL_ARG_ADDR},
    {0x5403, "SNDCTL_TMR_STOP or TCSETSW", IOCTL_ARG_ADDR},
    {0x5404, "SNDCTL_TMR_CONTINUE or TCSETSF", IOCTL_ARG_ADDR},
    {0x5405, "TCGETA", IOCTL_ARG_ADDR}, {0x5406, "TCSETA", IOCTL_ARG_ADDR},
    {0x5407, "TCSETAW", IOCTL_ARG_ADDR}, {0x5408, "TCSETAF", IOCTL_ARG_ADDR},
    {0x5409, "TCSBRK", IOCTL_ARG_INT}, {0x540a, "TCXONC", IOCTL_ARG_TCXONC},
    {0x540b, "TCFLSH", IOCTL_ARG_TCFLSH}, {0x540c, "TIOCEXCL", IOCTL_ARG_NONE},
    {0x540d, "TIOCNXCL", IOCTL_ARG_NONE}, {0x540e, "TIOCSCTTY", IOCTL_ARG_INT},
    {0x540f, "TIOCGPGRP", IOCTL_ARG_ADDR}, {0x5410, "TIOCSPGRP", IOCTL_ARG_ADDR},
    {0x5411, "TIOCOUTQ", IOCTL_ARG_ADDR}, {0x5412, "TIOCSTI", IOCTL_ARG_ADDR},
    {0x5413, "TIOCGWINSZ", IOCTL_ARG_ADDR}, {0x5414, "TIOCSWINSZ", IOCTL_ARG_ADDR},
    {0x5415, "TIOCMGET", IOCTL_ARG_ADDR}, {0x5416, "TIOCMBIS", IOCTL_ARG_ADDR},
    {0x5417, "TIOCMBIC", IOCTL_ARG_ADDR}, {0x5418, "TIOCMSET", IOCTL_ARG_ADDR},
    {0x5419, "TIOCGSOFTCAR", IOCTL_ARG_ADDR}, {0x541a, "TIOCSSOFTCAR", IOCTL_ARG_ADDR},
    {0x541b, "FIONREAD", IOCTL_ARG_ADDR}, {0x541c, "TIOCLINUX", IOCTL_ARG_HEX},
    {0x541d, "TIOCCONS", IOCTL_ARG_NONE}, {0x5420, "TIOCPKT", IOCTL_ARG_ADDR},
    {0x5421, "FIONBIO", IOCTL_ARG_ADDR}, {0x5422, "TIOCNOTTY", IOCTL_ARG_NONE},
    {0x5423, "TIOCSETD", IOCTL_ARG_ADDR}, {0x5424, "TIOCGETD", IOCTL_ARG_ADDR},
    {0x5425, "TCSBRKP", IOCTL_ARG_INT}, {0x5427, "TIOCSBRK", IOCTL_ARG_NONE},
    {0x5428, "TIOCCBRK", IOCTL_ARG_NONE}, {0x5429, "TIOCGSID", IOCTL_ARG_ADDR},
    {0x5432, "TCGETX", IOCTL_ARG_HEX}, {0x5441, "TIOCGPTPEER", IOCTL_ARG_HEX},
    {0x5450, "FIONCLEX", IOCTL_ARG_NONE}, {0x5451, "FIOCLEX", IOCTL_ARG_NONE},
    {0x5452, "FIOASYNC", IOCTL_ARG_ADDR}, {0x5453, "TIOCSERCONFIG", IOCTL_ARG_HEX},
    {0x5456, "TIOCGLCKTRMIOS", IOCTL_ARG_ADDR}, {0x5457, "TIOCSLCKTRMIOS", IOCTL_ARG_ADDR},
    {0x5458, "TIOCSERGSTRUCT", IOCTL_ARG_HEX}, {0x5459, "TIOCSERGETLSR", IOCTL_ARG_HEX},
    {0x545c, "TIOCMIWAIT", IOCTL_ARG_HEX}, {0x545d, "TIOCGICOUNT", IOCTL_ARG_HEX},
    {0x80045430, "TIOCGPTN", IOCTL_ARG_ADDR}, {0x40045431, "TIOCSPTLCK", IOCTL_ARG_ADDR},
    {0x80045432, "TIOCGDEV", IOCTL_ARG_ADDR}, {0x80086601, "FS_IOC_GETFLAGS", IOCTL_ARG_ADDR},
    {0x40086602, "FS_IOC_SETFLAGS", IOCTL_ARG_ADDR},
};

static const ioctl_entry *ioctl_of(uint64_t cmd)
{
    for (size_t i = 0; i < sizeof ioctls / sizeof ioctls[0]; i++)
        if (ioctls[i].cmd == (uint32_t)cmd)
            return &ioctls[i];
    return NULL;
}

ioctl_arg ioctl_arg_of(uint64_t cmd)
{
    const ioctl_entry *e = ioctl_of(cmd);
    return e ? e->arg : IOCTL_ARG_HEX;
}

/* A request by name, else the _IOC fields it is made of. */
static void ioctl_text(text *t, uint64_t v)
{
    static const char *const dirs[] = {"_IOC_NONE", "_IOC_WRITE", "_IOC_READ",
                                       "_IOC_READ|_IOC_WRITE"};
    const ioctl_entry *e = ioctl_of(v);
    uint32_t cmd = (uint32_t)v;
    if (e)
        add(t, "%s", e->name);
    else
        add(t, "_IOC(%s, %#x, %#x, %#x)", dirs[cmd >> 30], (cmd >> 8) & 0xff, cmd & 0xff,
            (cmd >> 16) & 0x3fff);
}

static const named tcflsh_values[] = {{0, "TCIFLUSH"}, {1, "TCOFLUSH"}, {2, "TCIOFLUSH"}};
static const named tcxonc_values[] = {{0, "TCOOFF"}, {1, "TCOON"}, {2, "TCIOFF"}, {3, "TCION"}};

/* ---- one value ----------------------------------------------------------------------------- */

void value_set_text(value_set set, uint64_t v, char *out, size_t size)
{
    static const table access_table = TABLE(access_bits, true, "F_OK", "?_OK");
    static const table at_table = TABLE(at_bits, true, NULL, "AT_???");
    static const table faccessat2_table = TABLE(faccessat2_bits, true, NULL, "AT_???");
    static const table statx_table = TABLE(statx_bits, true, NULL, "AT_???");
    static const table fd_table = TABLE(open_bits, true, NULL, "O_???");
    static const table prot_table = TABLE(prot_bits, true, "PROT_NONE", "PROT_???");
    static const table seek_table = TABLE(seek_values, false, NULL, "SEEK_???");
    static const table fcntl_table = TABLE(fcntl_values, false, NULL, "F_???");
    static const table madvise_table = TABLE(madvise_values, false, NULL, "MADV_???");
    static const table wait_table = TABLE(wait_bits, true, NULL, "W???");
    static const table sigmask_table = TABLE(sigmask_values, false, NULL, "SIG_???");
    static const table arch_prctl_table = TABLE(arch_prctl_values, false, NULL, "ARCH_???");
    static const table rlimit_table = TABLE(rlimit_values, false, NULL, "RLIMIT_???");
    static const table getrandom_table = TABLE(getrandom_bits, true, NULL, "GRND_???");
    static const table tcflsh_table = TABLE(tcflsh_values, false, NULL, "TC???");
    static const table tcxonc_table = TABLE(tcxonc_values, false, NULL, "TC???");
    static const table clock_table = TABLE(clock_values, false, NULL, "CLOCK_???");
    static const table timer_table = TABLE(timer_bits, true, NULL, "TIMER_???");
    static const table prctl_table = TABLE(prctl_values, false, NULL, "PR_???");
    text t = {out, size, 0};
    if (size)
        out[0] = '\0';
    switch (set) {
    case SET_OPEN_FLAGS: open_text(&t, v); break;
    case SET_FD_FLAGS: table_text(&t, &fd_table, (uint32_t)v); break;
    case SET_ACCESS_MODE: table_text(&t, &access_table, (uint32_t)v); break;
    case SET_AT_FLAGS: table_text(&t, &at_table, (uint32_t)v); break;
    case SET_FACCESSAT2_FLAGS: table_text(&t, &faccessat2_table, (uint32_t)v); break;
    case SET_STATX_FLAGS: table_text(&t, &statx_table, (uint32_t)v); break;
    case SET_SEEK: table_text(&t, &seek_table, (uint32_t)v); break;
    case SET_FCNTL_CMD: table_text(&t, &fcntl_table, (uint32_t)v); break;
    case SET_PROT: table_text(&t, &prot_table, (uint32_t)v); break;
    case SET_MMAP_FLAGS: mmap_flags_text(&t, v); break;
    case SET_MADVISE: table_text(&t, &madvise_table, (uint32_t)v); break;
    case SET_CLONE_FLAGS: clone_flags_text(&t, v); break;
    case SET_CLONE3_FLAGS: table_text(&t, &clone_table, v); break;
    case SET_SIGNAL: signal_text(&t, (uint32_t)v); break;
    case SET_WAIT_OPTIONS: table_text(&t, &wait_table, (uint32_t)v); break;
    case SET_SIGMASK_HOW: table_text(&t, &sigmask_table, (uint32_t)v); break;
    case SET_ARCH_PRCTL: table_text(&t, &arch_prctl_table, (uint32_t)v); break;
    case SET_RLIMIT: table_text(&t, &rlimit_table, (uint32_t)v); break;
    case SET_GETRANDOM: table_text(&t, &getrandom_table, (uint32_t)v); break;
    case SET_IOCTL_CMD: ioctl_text(&t, v); break;
    case SET_TCFLSH: table_text(&t, &tcflsh_table, (uint32_t)v); break;
    case SET_TCXONC: table_text(&t, &tcxonc_table, (uint32_t)v); break;
    case SET_FUTEX_OP: futex_op_text(&t, v); break;
    case SET_CLOCK: table_text(&t, &clock_table, (uint32_t)v); break;
    case SET_TIMER_FLAGS: table_text(&t, &timer_table, (uint32_t)v); break;
    case SET_PRCTL: table_text(&t, &prctl_table, (uint32_t)v); break;
    case SET_NONE: add(&t, "%#" PRIx64, v); break;
    }
}
