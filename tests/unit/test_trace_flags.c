/*
 * Arguments decoded as Debian 12's strace 6.1 shows them. Each case is a
 * syscall as the guest kernel describes it (its signature as `vmic trace
 * --list` prints it for the 6.1 fixture), the raw register values of a real
 * call, and the argument list strace printed for that call, run on this
 * host: `strace -f` of tests/fixtures/workload.c (built with gcc -static)
 * and of the busybox applets the guest runs, plus small programs making the
 * same calls with other values through syscall(2) (to see strace's order
 * and its form for unknown bits). Strings and clone3's struct are read from
 * an in-memory guest, through page tables built here.
 */
#include <stdlib.h>

#include <vmic/vmic.h>

#include "harness.h"
#include "vmic_mem.h"
#include "utils/trace/trace_internal.h"

#define MIB (1024ull * 1024)
#define PML4 0x1000
#define PDPT 0x2000
#define PD 0x3000
#define PT 0x4000
#define STR 0x400000ull   /* va of the case's string (page 0 of the PT) */
#define MEM 0x401000ull   /* va of the case's struct (page 1) */
#define PA_OF(va) (0x100000 + ((va) - STR))

typedef struct ref {
    const char *sig;      /* the kernel's signature */
    uint64_t args[6];
    const char *str;      /* at STR, if an argument points there */
    const uint64_t *mem;  /* at MEM: a struct clone_args */
    int only;             /* -1: the whole list, else this argument alone */
    const char *strace;
} ref;

/* From a thread of the workload (pthread_create) and two vforks. */
static const uint64_t thread_args[11] = {0x3d0f00, 0, 0x7ff5a25c2990, 0x7ff5a25c2990, 0,
                                         0x7ff5a1dc2000, 0x800300, 0x7ff5a25c26c0};
static const uint64_t vfork_args[11] = {0x4100, 0, 0, 0, 17};
static const uint64_t bad_signal_args[11] = {0, 0, 0, 0, 68};
/* sigsets and struct sigactions (handler, flags, restorer, mask) */
static const uint64_t set_chld[11] = {1ull << 16};
static const uint64_t set_all[11] = {~0ull};
static const uint64_t set_glibc[11] = {~(3ull << 31)};
static const uint64_t set_rt01[11] = {(1ull << 31) | (1ull << 32)};
static const uint64_t set_low41[11] = {(1ull << 41) - 1};
static const uint64_t set_low42[11] = {(1ull << 42) - 1};
static const uint64_t set_int_term[11] = {(1ull << 1) | (1ull << 14)};
static const uint64_t sa_glibc[11] = {0x45b900, 0x1c000004, 0x44d610, 0};
static const uint64_t sa_ignore[11] = {1, 0x04000000, 0x44d610, ~(3ull << 31)};
static const uint64_t sa_default[11] = {0};
static const uint64_t sa_all_flags[11] = {0x1234, 0xffffffff, 0x5678, 1ull << 16};
static const uint64_t ts_1us[11] = {0, 1000};   /* struct __kernel_timespec */

static const ref refs[] = {
    /* open, openat: flags in strace's order, the mode only with O_CREAT/O_TMPFILE */
    {"openat(int dfd, const char *filename, int flags, umode_t mode)",
     {(uint64_t)-100, STR, 02000000, 0}, "/etc/ld.so.cache", NULL, -1,
     "AT_FDCWD, \"/etc/ld.so.cache\", O_RDONLY|O_CLOEXEC"},
    {"openat(int dfd, const char *filename, int flags, umode_t mode)",
     {(uint64_t)-100, STR, 01101, 0644}, "/tmp/vmic-w/alpha.txt", NULL, -1,
     "AT_FDCWD, \"/tmp/vmic-w/alpha.txt\", O_WRONLY|O_CREAT|O_TRUNC, 0644"},
    {"openat(int dfd, const char *filename, int flags, umode_t mode)",
     {3, STR, 02101, 0600}, "beta.txt", NULL, -1, "3, \"beta.txt\", O_WRONLY|O_CREAT|O_APPEND, 0600"},
    {"openat(int dfd, const char *filename, int flags, umode_t mode)",
     {3, STR, 020200002, 0}, "/nonexistent", NULL, -1, "3, \"/nonexistent\", O_RDWR|O_TMPFILE, 000"},
    {"openat(int dfd, const char *filename, int flags, umode_t mode)",
     {3, STR, 04014400, 0}, "/nonexistent", NULL, -1,
     "3, \"/nonexistent\", O_RDONLY|O_NOCTTY|O_NONBLOCK|O_SYNC"},
    {"open(const char *filename, int flags, umode_t mode)",
     {STR, 01070003, 0}, "/nonexistent", NULL, -1,
     "\"/nonexistent\", O_ACCMODE|O_DSYNC|O_DIRECT|O_NOATIME|FASYNC"},
    {"open(const char *filename, int flags, umode_t mode)",
     {STR, 0xffffffffu & ~3u & ~020000000u & ~04000000u, 0}, "/nonexistent", NULL, -1,
     "\"/nonexistent\", O_RDONLY|O_CREAT|O_EXCL|O_NOCTTY|O_TRUNC|O_APPEND|O_NONBLOCK|O_DSYNC|"
     "O_DIRECT|O_LARGEFILE|O_NOFOLLOW|O_NOATIME|O_CLOEXEC|O_PATH|O_DIRECTORY|FASYNC|0xff80003c, "
     "000"},
    {"open(const char *filename, int flags, umode_t mode)",
     {STR, 0x7fffffffu & ~3u, 0}, "/nonexistent", NULL, -1,
     "\"/nonexistent\", O_RDONLY|O_CREAT|O_EXCL|O_NOCTTY|O_TRUNC|O_APPEND|O_NONBLOCK|O_SYNC|"
     "O_DIRECT|O_LARGEFILE|O_NOFOLLOW|O_NOATIME|O_CLOEXEC|O_PATH|O_TMPFILE|FASYNC|0x7f80003c, 000"},
    {"open(const char *filename, int flags, umode_t mode)",
     {STR, 0100 | 0x40000000u, 0100755}, "/nonexistent", NULL, -1,
     "\"/nonexistent\", O_RDONLY|O_CREAT|0x40000000, 0100755"},
    {"open(const char *filename, int flags, umode_t mode)",
     {STR, 010100000, 0}, "/nonexistent", NULL, -1, "\"/nonexistent\", O_RDONLY|O_LARGEFILE|O_PATH"},
    {"mkdir(const char *pathname, umode_t mode)", {STR, 0755}, "/tmp/vmic-w", NULL, -1,
     "\"/tmp/vmic-w\", 0755"},
    {"mkdir(const char *pathname, umode_t mode)", {STR, 0}, "/nonexistent/x", NULL, -1,
     "\"/nonexistent/x\", 000"},
    {"mkdir(const char *pathname, umode_t mode)", {STR, 7}, "/nonexistent/x", NULL, -1,
     "\"/nonexistent/x\", 007"},
    {"mkdir(const char *pathname, umode_t mode)", {STR, 01777}, "/nonexistent/x", NULL, -1,
     "\"/nonexistent/x\", 01777"},

    /* fds are signed ints whatever their C type */
    {"read(unsigned int fd, char *buf, size_t count)", {0xffffffffu, 0, 0}, NULL, NULL, -1,
     "-1, NULL, 0"},
    {"write(unsigned int fd, const char *buf, size_t count)", {(uint64_t)-1, 0, 0}, NULL, NULL, -1,
     "-1, NULL, 0"},
    {"close(unsigned int fd)", {0xffffffffu}, NULL, NULL, -1, "-1"},
    {"dup2(unsigned int oldfd, unsigned int newfd)", {0xffffffffu, 0xfffffffeu}, NULL, NULL, -1,
     "-1, -2"},
    {"dup3(unsigned int oldfd, unsigned int newfd, int flags)", {1, 100, 02000000}, NULL, NULL, -1,
     "1, 100, O_CLOEXEC"},
    {"pipe2(int *fildes, int flags)", {0, 02004000}, NULL, NULL, 1, "O_NONBLOCK|O_CLOEXEC"},
    {"lseek(unsigned int fd, off_t offset, unsigned int whence)", {(uint64_t)-100, 0, 2}, NULL,
     NULL, -1, "-100, 0, SEEK_END"},
    {"lseek(unsigned int fd, off_t offset, unsigned int whence)", {1, 0, 99}, NULL, NULL, -1,
     "1, 0, 0x63 /* SEEK_??? */"},

    /* access modes and AT_* flags */
    {"access(const char *filename, int mode)", {STR, 4}, "/etc/ld.so.preload", NULL, -1,
     "\"/etc/ld.so.preload\", R_OK"},
    {"access(const char *filename, int mode)", {STR, 0}, "/etc/passwd", NULL, -1,
     "\"/etc/passwd\", F_OK"},
    {"access(const char *filename, int mode)", {STR, 7}, "/x", NULL, -1, "\"/x\", R_OK|W_OK|X_OK"},
    {"access(const char *filename, int mode)", {STR, 0x11}, "/etc/passwd", NULL, -1,
     "\"/etc/passwd\", X_OK|0x10"},
    {"access(const char *filename, int mode)", {STR, 0x10}, "/x", NULL, -1,
     "\"/x\", 0x10 /* ?_OK */"},
    {"faccessat2(int dfd, const char *filename, int mode, int flags)",
     {(uint64_t)-100, STR, 1, 0x300}, "/etc/passwd", NULL, -1,
     "AT_FDCWD, \"/etc/passwd\", X_OK, AT_SYMLINK_NOFOLLOW|AT_EACCESS"},
    {"faccessat2(int dfd, const char *filename, int mode, int flags)",
     {(uint64_t)-100, STR, 0, 0xffff}, "/x", NULL, -1,
     "AT_FDCWD, \"/x\", F_OK, AT_SYMLINK_NOFOLLOW|AT_EACCESS|AT_EMPTY_PATH|0xecff"},
    {"newfstatat(int dfd, const char *filename, struct stat *statbuf, int flag)",
     {3, STR, 0x7ffd261204d0, 0x1800}, "", NULL, 3, "AT_NO_AUTOMOUNT|AT_EMPTY_PATH"},
    {"newfstatat(int dfd, const char *filename, struct stat *statbuf, int flag)",
     {(uint64_t)-5, STR, 0x7ffd261204d0, 0x80000}, "x", NULL, -1,
     "-5, \"x\", 0x7ffd261204d0, 0x80000 /* AT_??? */"},
    {"newfstatat(int dfd, const char *filename, struct stat *statbuf, int flag)",
     {0x7fffff9c, STR, 0, 0}, "/x", NULL, -1, "2147483548, \"/x\", NULL, 0"},
    {"newfstatat(int dfd, const char *filename, struct stat *statbuf, int flag)",
     {0xffffff9c, STR, 0, 0xffff}, "/x", NULL, -1,
     "AT_FDCWD, \"/x\", NULL, AT_SYMLINK_NOFOLLOW|AT_REMOVEDIR|AT_SYMLINK_FOLLOW|AT_NO_AUTOMOUNT|"
     "AT_EMPTY_PATH|AT_RECURSIVE|0x60ff"},
    {"unlinkat(int dfd, const char *pathname, int flag)", {(uint64_t)-100, STR, 0x200},
     "/nonexistent", NULL, -1, "AT_FDCWD, \"/nonexistent\", AT_REMOVEDIR"},
    {"statx(int dfd, const char *filename, unsigned flags, unsigned int mask, struct statx "
     "*buffer)", {(uint64_t)-100, STR, 0xffff, 0, 0}, "/x", NULL, -1,
     "AT_FDCWD, \"/x\", AT_STATX_FORCE_SYNC|AT_STATX_DONT_SYNC|AT_SYMLINK_NOFOLLOW|AT_REMOVEDIR|"
     "AT_SYMLINK_FOLLOW|AT_NO_AUTOMOUNT|AT_EMPTY_PATH|AT_RECURSIVE|0xff, 0, NULL"},

    /* memory: addresses in hex (NULL for 0), PROT_* and MAP_* */
    {"mmap(unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags, "
     "unsigned long fd, unsigned long off)", {0, 8392704, 0, 0x20022, (uint64_t)-1, 0}, NULL,
     NULL, -1, "NULL, 8392704, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK, -1, 0"},
    {"mmap(unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags, "
     "unsigned long fd, unsigned long off)", {0, 4096, 1, 0x22, 0xffffffffu, 0}, NULL, NULL, -1,
     "NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0"},
    {"mmap(unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags, "
     "unsigned long fd, unsigned long off)", {0x7f4f5ddf0000, 1400832, 5, 0x812, 3, 0x26000},
     NULL, NULL, -1,
     "0x7f4f5ddf0000, 1400832, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, "
     "0x26000"},
    {"mmap(unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags, "
     "unsigned long fd, unsigned long off)", {0, 4096, 7, 0x8021, (uint64_t)-1, 0}, NULL, NULL,
     -1, "NULL, 4096, PROT_READ|PROT_WRITE|PROT_EXEC, MAP_SHARED|MAP_ANONYMOUS|MAP_POPULATE, -1, 0"},
    {"mmap(unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags, "
     "unsigned long fd, unsigned long off)", {0x700000000000, 8192, 0, 0x104102, 0xffffffffu, 0},
     NULL, NULL, -1,
     "0x700000000000, 8192, PROT_NONE, MAP_PRIVATE|MAP_NORESERVE|MAP_GROWSDOWN|"
     "MAP_FIXED_NOREPLACE, -1, 0"},
    {"mmap(unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags, "
     "unsigned long fd, unsigned long off)",
     {0, 4096, 0x01000101, 3 | 0x40000 | (21u << 26), 3, 0x3000}, NULL, NULL, -1,
     "NULL, 4096, PROT_READ|PROT_GROWSDOWN|0x100, MAP_SHARED_VALIDATE|MAP_HUGETLB|"
     "21<<MAP_HUGE_SHIFT, 3, 0x3000"},
    {"mmap(unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags, "
     "unsigned long fd, unsigned long off)", {0, 4096, 1, 0x10093042, 3, 0}, NULL, NULL, -1,
     "NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_32BIT|MAP_NONBLOCK|MAP_EXECUTABLE|MAP_LOCKED|"
     "MAP_SYNC|4<<MAP_HUGE_SHIFT, 3, 0"},
    {"mmap(unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags, "
     "unsigned long fd, unsigned long off)", {0, 4096, 1, 0xf, 3, 0}, NULL, NULL, -1,
     "NULL, 4096, PROT_READ, 0xf /* MAP_??? */, 3, 0"},
    {"mmap(unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags, "
     "unsigned long fd, unsigned long off)", {0, 4096, 0xffffffffu, 0x03fffffe, (uint64_t)-1, 0},
     NULL, NULL, -1,
     "NULL, 4096, PROT_READ|PROT_WRITE|PROT_EXEC|PROT_SEM|PROT_GROWSDOWN|PROT_GROWSUP|0xfcfffff0, "
     "0xe /* MAP_??? */|MAP_FIXED|MAP_ANONYMOUS|MAP_32BIT|MAP_NORESERVE|MAP_POPULATE|"
     "MAP_NONBLOCK|MAP_GROWSDOWN|MAP_DENYWRITE|MAP_EXECUTABLE|MAP_LOCKED|MAP_STACK|MAP_HUGETLB|"
     "MAP_SYNC|MAP_FIXED_NOREPLACE|0x3e00680, -1, 0"},
    {"mmap(unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags, "
     "unsigned long fd, unsigned long off)", {0, 4096, 0x100, 1, (uint64_t)-1, 0}, NULL, NULL, -1,
     "NULL, 4096, 0x100 /* PROT_??? */, MAP_SHARED, -1, 0"},
    {"mmap(unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags, "
     "unsigned long fd, unsigned long off)", {0, 4096, 1, 0x80000022, (uint64_t)-1, 0}, NULL,
     NULL, -1, "NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|32<<MAP_HUGE_SHIFT, -1, 0"},
    {"mmap(unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags, "
     "unsigned long fd, unsigned long off)",
     {0, 4096, 1, 0x22, (uint64_t)-1, 0xfffffffffffff000}, NULL, NULL, -1,
     "NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0xfffffffffffff000"},
    {"mprotect(unsigned long start, size_t len, unsigned long prot)", {0x7ff5a1dc3000, 8388608, 3},
     NULL, NULL, -1, "0x7ff5a1dc3000, 8388608, PROT_READ|PROT_WRITE"},
    {"mprotect(unsigned long start, size_t len, unsigned long prot)", {0x4b7000, 16384, 1}, NULL,
     NULL, -1, "0x4b7000, 16384, PROT_READ"},
    {"mprotect(unsigned long start, size_t len, unsigned long prot)", {0, 0, 0}, NULL, NULL, -1,
     "NULL, 0, PROT_NONE"},
    {"munmap(unsigned long addr, size_t len)", {0x7f4f5dfac000, 43827}, NULL, NULL, -1,
     "0x7f4f5dfac000, 43827"},
    {"brk(unsigned long brk)", {0}, NULL, NULL, -1, "NULL"},
    {"brk(unsigned long brk)", {0x2e265d40}, NULL, NULL, -1, "0x2e265d40"},
    {"madvise(unsigned long start, size_t len_in, int behavior)", {0x7ff5a1dc2000, 8372224, 4},
     NULL, NULL, -1, "0x7ff5a1dc2000, 8372224, MADV_DONTNEED"},
    {"madvise(unsigned long start, size_t len_in, int behavior)", {0, 0, 9999}, NULL, NULL, -1,
     "NULL, 0, 0x270f /* MADV_??? */"},

    /* processes: clone's flags (strace names the arguments; the values are these) */
    {"clone(unsigned long clone_flags, unsigned long newsp, int *parent_tidptr, int "
     "*child_tidptr, unsigned long tls)", {0x1200011, 0, 0, 0x2e265690, 0}, NULL, NULL, 0,
     "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"},
    {"clone(unsigned long clone_flags, unsigned long newsp, int *parent_tidptr, int "
     "*child_tidptr, unsigned long tls)", {0x1200011, 0, 0, 0x2e265690, 0}, NULL, NULL, 3,
     "0x2e265690"},
    {"clone(unsigned long clone_flags, unsigned long newsp, int *parent_tidptr, int "
     "*child_tidptr, unsigned long tls)", {0x4111, 0, 0, 0, 0}, NULL, NULL, 0,
     "CLONE_VM|CLONE_VFORK|SIGCHLD"},
    {"clone(unsigned long clone_flags, unsigned long newsp, int *parent_tidptr, int "
     "*child_tidptr, unsigned long tls)", {0xfec2b00a, 0, 0, 0, 0}, NULL, NULL, 0,
     "CLONE_PIDFD|CLONE_PTRACE|CLONE_PARENT|CLONE_NEWNS|CLONE_UNTRACED|CLONE_NEWCGROUP|"
     "CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET|CLONE_IO|0x400000|SIGUSR1"},
    {"clone(unsigned long clone_flags, unsigned long newsp, int *parent_tidptr, int "
     "*child_tidptr, unsigned long tls)", {0, 0, 0, 0, 0}, NULL, NULL, 0, "0"},
    {"clone(unsigned long clone_flags, unsigned long newsp, int *parent_tidptr, int "
     "*child_tidptr, unsigned long tls)", {0x7f, 0, 0, 0, 0}, NULL, NULL, 0, "127"},
    {"clone(unsigned long clone_flags, unsigned long newsp, int *parent_tidptr, int "
     "*child_tidptr, unsigned long tls)", {0x40, 0, 0, 0, 0}, NULL, NULL, 0, "SIGRT_32"},
    {"clone3(struct clone_args *uargs, size_t size)", {MEM, 88}, NULL, thread_args, -1,
     "{flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|"
     "CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, child_tid=0x7ff5a25c2990, "
     "parent_tid=0x7ff5a25c2990, exit_signal=0, stack=0x7ff5a1dc2000, stack_size=0x800300, "
     "tls=0x7ff5a25c26c0}, 88"},
    {"clone3(struct clone_args *uargs, size_t size)", {MEM, 88}, NULL, vfork_args, -1,
     "{flags=CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD, stack=NULL, stack_size=0}, 88"},
    {"clone3(struct clone_args *uargs, size_t size)", {MEM, 88}, NULL, bad_signal_args, -1,
     "{flags=0, exit_signal=68, stack=NULL, stack_size=0}, 88"},
    {"wait4(pid_t upid, int *stat_addr, int options, struct rusage *ru)", {(uint64_t)-1, 0, 1, 0},
     NULL, NULL, -1, "-1, NULL, WNOHANG, NULL"},
    {"wait4(pid_t upid, int *stat_addr, int options, struct rusage *ru)",
     {(uint64_t)-1, 0, 0x40000003, 0}, NULL, NULL, -1, "-1, NULL, WNOHANG|WSTOPPED|__WALL, NULL"},
    {"wait4(pid_t upid, int *stat_addr, int options, struct rusage *ru)", {0, 0, 0, 0}, NULL,
     NULL, -1, "0, NULL, 0, NULL"},
    {"kill(pid_t pid, int sig)", {99999, 0}, NULL, NULL, -1, "99999, 0"},
    {"kill(pid_t pid, int sig)", {99999, 15}, NULL, NULL, -1, "99999, SIGTERM"},
    {"kill(pid_t pid, int sig)", {99999, 32}, NULL, NULL, -1, "99999, SIGRTMIN"},
    {"kill(pid_t pid, int sig)", {99999, 99}, NULL, NULL, -1, "99999, 99"},
    {"rt_sigaction(int sig, const struct sigaction *act, struct sigaction *oact, size_t "
     "sigsetsize)", {2, 0, 0, 8}, NULL, NULL, -1, "SIGINT, NULL, NULL, 8"},
    {"rt_sigaction(int sig, const struct sigaction *act, struct sigaction *oact, size_t "
     "sigsetsize)", {34, 0, 0, 8}, NULL, NULL, -1, "SIGRT_2, NULL, NULL, 8"},
    {"rt_sigprocmask(int how, sigset_t *nset, sigset_t *oset, size_t sigsetsize)", {0, 0, 0, 8},
     NULL, NULL, -1, "SIG_BLOCK, NULL, NULL, 8"},
    {"rt_sigprocmask(int how, sigset_t *nset, sigset_t *oset, size_t sigsetsize)", {7, 0, 0, 8},
     NULL, NULL, -1, "0x7 /* SIG_??? */, NULL, NULL, 8"},
#define SIGPROCMASK_SIG "rt_sigprocmask(int how, sigset_t *nset, sigset_t *oset, size_t sigsetsize)"
#define SIGACTION_SIG "rt_sigaction(int sig, const struct sigaction *act, struct sigaction " \
                      "*oact, size_t sigsetsize)"
    {SIGPROCMASK_SIG, {0, MEM, 0, 8}, NULL, sa_default, -1, "SIG_BLOCK, [], NULL, 8"},
    {SIGPROCMASK_SIG, {0, MEM, 0, 8}, NULL, set_chld, -1, "SIG_BLOCK, [CHLD], NULL, 8"},
    {SIGPROCMASK_SIG, {0, MEM, 0, 8}, NULL, set_all, -1, "SIG_BLOCK, ~[], NULL, 8"},
    {SIGPROCMASK_SIG, {0, MEM, 0, 8}, NULL, set_glibc, -1, "SIG_BLOCK, ~[RTMIN RT_1], NULL, 8"},
    {SIGPROCMASK_SIG, {1, MEM, 0, 8}, NULL, set_rt01, -1, "SIG_UNBLOCK, [RTMIN RT_1], NULL, 8"},
    {SIGPROCMASK_SIG, {0, MEM, 0, 8}, NULL, set_int_term, -1, "SIG_BLOCK, [INT TERM], NULL, 8"},
    {SIGPROCMASK_SIG, {0, MEM, 0, 8}, NULL, set_low41, -1,
     "SIG_BLOCK, [HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT "
     "CHLD CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO PWR SYS RTMIN RT_1 RT_2 "
     "RT_3 RT_4 RT_5 RT_6 RT_7 RT_8 RT_9], NULL, 8"},
    {SIGPROCMASK_SIG, {0, MEM, 0, 8}, NULL, set_low42, -1,
     "SIG_BLOCK, ~[RT_11 RT_12 RT_13 RT_14 RT_15 RT_16 RT_17 RT_18 RT_19 RT_20 RT_21 RT_22 RT_23 "
     "RT_24 RT_25 RT_26 RT_27 RT_28 RT_29 RT_30 RT_31 RT_32], NULL, 8"},
    {SIGPROCMASK_SIG, {0, MEM, 0, 4}, NULL, set_chld, -1, "SIG_BLOCK, 0x401000, NULL, 4"},
    {SIGACTION_SIG, {10, MEM, 0, 8}, NULL, sa_glibc, -1,
     "SIGUSR1, {sa_handler=0x45b900, sa_mask=[], sa_flags=SA_RESTORER|SA_ONSTACK|SA_RESTART|"
     "SA_SIGINFO, sa_restorer=0x44d610}, NULL, 8"},
    {SIGACTION_SIG, {12, MEM, 0, 8}, NULL, sa_ignore, -1,
     "SIGUSR2, {sa_handler=SIG_IGN, sa_mask=~[RTMIN RT_1], sa_flags=SA_RESTORER, "
     "sa_restorer=0x44d610}, NULL, 8"},
    {SIGACTION_SIG, {13, MEM, 0, 8}, NULL, sa_default, -1,
     "SIGPIPE, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, NULL, 8"},
    {SIGACTION_SIG, {14, MEM, 0, 8}, NULL, sa_all_flags, -1,
     "SIGALRM, {sa_handler=0x1234, sa_mask=[CHLD], sa_flags=SA_RESTORER|SA_ONSTACK|SA_RESTART|"
     "SA_INTERRUPT|SA_NODEFER|SA_RESETHAND|SA_SIGINFO|SA_NOCLDSTOP|SA_NOCLDWAIT|0x3fffff8, "
     "sa_restorer=0x5678}, NULL, 8"},
    {"arch_prctl(int option, unsigned long arg2)", {0x1002, 0x2e2653c0}, NULL, NULL, -1,
     "ARCH_SET_FS, 0x2e2653c0"},
    {"arch_prctl(int option, unsigned long arg2)", {0x3001, 0}, NULL, NULL, -1,
     "0x3001 /* ARCH_??? */, 0"},
    {"rseq(struct rseq *rseq, u32 rseq_len, int flags, u32 sig)", {0x1b5d1ce0, 0x20, 0, 0x53053053},
     NULL, NULL, -1, "0x1b5d1ce0, 0x20, 0, 0x53053053"},
    {"prlimit64(pid_t pid, unsigned int resource, const struct rlimit64 *new_rlim, struct "
     "rlimit64 *old_rlim)", {0, 3, 0, 0}, NULL, NULL, -1, "0, RLIMIT_STACK, NULL, NULL"},
    {"prlimit64(pid_t pid, unsigned int resource, const struct rlimit64 *new_rlim, struct "
     "rlimit64 *old_rlim)", {0, 99, 0, 0}, NULL, NULL, -1, "0, 0x63 /* RLIMIT_??? */, NULL, NULL"},
    {"getrandom(char *ubuf, size_t len, unsigned int flags)", {0, 0, 3}, NULL, NULL, -1,
     "NULL, 0, GRND_NONBLOCK|GRND_RANDOM"},
    {"set_robust_list(struct robust_list_head *head, size_t len)", {0x2e2656a0, 24}, NULL, NULL,
     -1, "0x2e2656a0, 24"},
    {"set_tid_address(int *tidptr)", {0x2e265690}, NULL, NULL, -1, "0x2e265690"},
    {"exit_group(int error_code)", {0}, NULL, NULL, -1, "0"},

    /* futex: the op by name, the arguments it uses */
#define FUTEX_SIG "futex(u32 *uaddr, int op, u32 val, const struct __kernel_timespec *utime, " \
                  "u32 *uaddr2, u32 val3)"
    {FUTEX_SIG, {0x7fffe54cbbfc, 0x189, 5, 0, 0, 0xffffffff}, NULL, NULL, -1,
     "0x7fffe54cbbfc, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 5, NULL, "
     "FUTEX_BITSET_MATCH_ANY"},
    {FUTEX_SIG, {0x7fffe54cbbfc, 0x109, 5, 0, 0, 0xffffffff}, NULL, NULL, -1,
     "0x7fffe54cbbfc, FUTEX_WAIT_BITSET|FUTEX_CLOCK_REALTIME, 5, NULL, FUTEX_BITSET_MATCH_ANY"},
    {FUTEX_SIG, {0x7fffe54cbbfc, 0x80, 5, 0, 0, 0}, NULL, NULL, -1,
     "0x7fffe54cbbfc, FUTEX_WAIT_PRIVATE, 5, NULL"},
    {FUTEX_SIG, {0x7ffdbcb6dc1c, 0x80, 0, MEM, 0, 0}, NULL, ts_1us, -1,
     "0x7ffdbcb6dc1c, FUTEX_WAIT_PRIVATE, 0, {tv_sec=0, tv_nsec=1000}"},
    {"nanosleep(struct __kernel_timespec *rqtp, struct __kernel_timespec *rmtp)", {MEM, 0}, NULL,
     ts_1us, -1, "{tv_sec=0, tv_nsec=1000}, NULL"},
    {"clock_nanosleep(const clockid_t which_clock, int flags, const struct __kernel_timespec "
     "*rqtp, struct __kernel_timespec *rmtp)", {0, 0, MEM, 0x7ffdbcb6dc00}, NULL, ts_1us, -1,
     "CLOCK_REALTIME, 0, {tv_sec=0, tv_nsec=1000}, 0x7ffdbcb6dc00"},
    {FUTEX_SIG, {0x7fffe54cbbfc, 0, 5, 0, 0x1234, 77}, NULL, NULL, -1,
     "0x7fffe54cbbfc, FUTEX_WAIT, 5, NULL"},
    {FUTEX_SIG, {0x7fffe54cbbfc, 1, 1, 0x99, 0x1234, 77}, NULL, NULL, -1,
     "0x7fffe54cbbfc, FUTEX_WAKE, 1"},
    {FUTEX_SIG, {0x7fffe54cbbfc, 0x8a, 1, 0, 0, 0xffffffff}, NULL, NULL, -1,
     "0x7fffe54cbbfc, FUTEX_WAKE_BITSET_PRIVATE, 1, FUTEX_BITSET_MATCH_ANY"},
    {FUTEX_SIG, {0x7fffe54cbbfc, 10, 1, 0, 0, 5}, NULL, NULL, -1,
     "0x7fffe54cbbfc, FUTEX_WAKE_BITSET, 1, 0x5"},
    {FUTEX_SIG, {0x7fffe54cbbfc, 0x89, 5, 0, 0, 5}, NULL, NULL, -1,
     "0x7fffe54cbbfc, FUTEX_WAIT_BITSET_PRIVATE, 5, NULL, 0x5"},
    {FUTEX_SIG, {0x7fffe54cbbfc, 99, 5, 0, 0, 5}, NULL, NULL, -1,
     "0x7fffe54cbbfc, 0x63 /* FUTEX_??? */, 5, NULL, NULL, 0x5"},
    {FUTEX_SIG, {0x7fffe54cbbfc, 0x1ff, 5, 0, 0, 5}, NULL, NULL, -1,
     "0x7fffe54cbbfc, 0x1ff /* FUTEX_??? */, 5, NULL, NULL, 0x5"},
    {FUTEX_SIG, {0x7fffe54cbbfc, 0x83, 1, 2, 0x7fffe54cbbfc, 0}, NULL, NULL, -1,
     "0x7fffe54cbbfc, FUTEX_REQUEUE_PRIVATE, 1, 2, 0x7fffe54cbbfc"},
    {FUTEX_SIG, {0x7fffe54cbbfc, 0x84, 1, 2, 0x7fffe54cbbfc, 0}, NULL, NULL, -1,
     "0x7fffe54cbbfc, FUTEX_CMP_REQUEUE_PRIVATE, 1, 2, 0x7fffe54cbbfc, 0"},
    {FUTEX_SIG, {0x7fffe54cbbfc, 0x87, 1, 2, 0x7fffe54cbbfc, 0}, NULL, NULL, -1,
     "0x7fffe54cbbfc, FUTEX_UNLOCK_PI_PRIVATE"},

    /* clocks and prctl */
    {"clock_gettime(const clockid_t which_clock, struct __kernel_timespec *tp)", {1, 0x7ffcef5ada00},
     NULL, NULL, 0, "CLOCK_MONOTONIC"},
    {"clock_gettime(const clockid_t which_clock, struct __kernel_timespec *tp)", {99, 0x7fffe54cbbd0},
     NULL, NULL, -1, "0x63 /* CLOCK_??? */, 0x7fffe54cbbd0"},
    {"clock_gettime(const clockid_t which_clock, struct __kernel_timespec *tp)", {(uint64_t)-6, 0},
     NULL, NULL, 0, "0xfffffffa /* CLOCK_??? */"},
    {"clock_getres(const clockid_t which_clock, struct __kernel_timespec *tp)", {9, 0x7fffe54cbbd0},
     NULL, NULL, -1, "CLOCK_BOOTTIME_ALARM, 0x7fffe54cbbd0"},
    {"clock_nanosleep(const clockid_t which_clock, int flags, const struct __kernel_timespec "
     "*rqtp, struct __kernel_timespec *rmtp)", {0, 1, 0, 0}, NULL, NULL, -1,
     "CLOCK_REALTIME, TIMER_ABSTIME, NULL, NULL"},
    {"clock_nanosleep(const clockid_t which_clock, int flags, const struct __kernel_timespec "
     "*rqtp, struct __kernel_timespec *rmtp)", {1, 0, 0, 0}, NULL, NULL, -1,
     "CLOCK_MONOTONIC, 0, NULL, NULL"},
#define PRCTL_SIG "prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long " \
                  "arg4, unsigned long arg5)"
    {PRCTL_SIG, {15, STR, 0, 0, 0}, "hello", NULL, -1, "PR_SET_NAME, \"hello\""},
    {PRCTL_SIG, {1, 9, 0, 0, 0}, NULL, NULL, -1, "PR_SET_PDEATHSIG, SIGKILL"},
    {PRCTL_SIG, {3, 0, 0, 0, 0}, NULL, NULL, -1, "PR_GET_DUMPABLE"},
    {PRCTL_SIG, {38, 1, 0, 0, 0}, NULL, NULL, -1, "PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0"},

    /* ioctl: requests by name, else their _IOC fields; the argument as the request says */
    {"ioctl(unsigned int fd, unsigned int cmd, unsigned long arg)", {0, 0x5401, 0x7ffd26120580},
     NULL, NULL, -1, "0, TCGETS, 0x7ffd26120580"},
    {"ioctl(unsigned int fd, unsigned int cmd, unsigned long arg)", {0, 0x5413, 0x7ffd26120578},
     NULL, NULL, -1, "0, TIOCGWINSZ, 0x7ffd26120578"},
    {"ioctl(unsigned int fd, unsigned int cmd, unsigned long arg)", {1, 0x541b, 0}, NULL, NULL,
     -1, "1, FIONREAD, NULL"},
    {"ioctl(unsigned int fd, unsigned int cmd, unsigned long arg)", {1, 0x5451, 0}, NULL, NULL,
     -1, "1, FIOCLEX"},
    {"ioctl(unsigned int fd, unsigned int cmd, unsigned long arg)", {1, 0x540e, 0}, NULL, NULL,
     -1, "1, TIOCSCTTY, 0"},
    {"ioctl(unsigned int fd, unsigned int cmd, unsigned long arg)", {1, 0x5403, 0}, NULL, NULL,
     -1, "1, SNDCTL_TMR_STOP or TCSETSW, NULL"},
    {"ioctl(unsigned int fd, unsigned int cmd, unsigned long arg)", {1, 0x540b, 0}, NULL, NULL,
     -1, "1, TCFLSH, TCIFLUSH"},
    {"ioctl(unsigned int fd, unsigned int cmd, unsigned long arg)", {1, 0x540a, 0}, NULL, NULL,
     -1, "1, TCXONC, TCOOFF"},
    {"ioctl(unsigned int fd, unsigned int cmd, unsigned long arg)", {1, 0x80045430, 0}, NULL,
     NULL, -1, "1, TIOCGPTN, NULL"},
    {"ioctl(unsigned int fd, unsigned int cmd, unsigned long arg)", {1, 0x40086602, 0}, NULL,
     NULL, -1, "1, FS_IOC_SETFLAGS, NULL"},
    {"ioctl(unsigned int fd, unsigned int cmd, unsigned long arg)",
     {1, 0xffffffff00005401, 0}, NULL, NULL, -1, "1, TCGETS, NULL"},
    {"ioctl(unsigned int fd, unsigned int cmd, unsigned long arg)", {1, 0x1234abcd, 0}, NULL, NULL,
     -1, "1, _IOC(_IOC_NONE, 0xab, 0xcd, 0x1234), 0"},
    {"ioctl(unsigned int fd, unsigned int cmd, unsigned long arg)", {1, 0xc0105401, 0}, NULL, NULL,
     -1, "1, _IOC(_IOC_READ|_IOC_WRITE, 0x54, 0x1, 0x10), 0"},
    {"ioctl(unsigned int fd, unsigned int cmd, unsigned long arg)", {1, 0x54ff, 0}, NULL, NULL,
     -1, "1, _IOC(_IOC_NONE, 0x54, 0xff, 0), 0"},
    {"ioctl(unsigned int fd, unsigned int cmd, unsigned long arg)", {1, 0x5413, 0x1234}, NULL,
     NULL, -1, "1, TIOCGWINSZ, 0x1234"},

    /* fcntl: the argument as the command says */
    {"fcntl(unsigned int fd, unsigned int cmd, unsigned long arg)", {1, 1030, 10}, NULL, NULL, -1,
     "1, F_DUPFD_CLOEXEC, 10"},
    {"fcntl(unsigned int fd, unsigned int cmd, unsigned long arg)", {1, 3, 0}, NULL, NULL, -1,
     "1, F_GETFL"},
    {"fcntl(unsigned int fd, unsigned int cmd, unsigned long arg)", {1, 2, 1}, NULL, NULL, -1,
     "1, F_SETFD, FD_CLOEXEC"},
    {"fcntl(unsigned int fd, unsigned int cmd, unsigned long arg)", {1, 4, 04002}, NULL, NULL, -1,
     "1, F_SETFL, O_RDWR|O_NONBLOCK"},
    {"fcntl(unsigned int fd, unsigned int cmd, unsigned long arg)", {1, 6, 0}, NULL, NULL, -1,
     "1, F_SETLK, NULL"},
    {"fcntl(unsigned int fd, unsigned int cmd, unsigned long arg)", {1, 9999, 5}, NULL, NULL, -1,
     "1, 0x270f /* F_??? */, 0x5"},
};

/* "const char *filename" -> type "const char *", name "filename". */
static void parse_arg(const char *text, size_t len, vmic_syscall_arg_t *a)
{
    size_t cut = len;
    while (cut > 0 && text[cut - 1] != ' ' && text[cut - 1] != '*')
        cut--;
    size_t tlen = cut;
    while (tlen > 0 && text[tlen - 1] == ' ')
        tlen--;
    snprintf(a->type, sizeof a->type, "%.*s", (int)tlen, text);
    snprintf(a->name, sizeof a->name, "%.*s", (int)(len - cut), text + cut);
}

static vmic_syscall_t parse_signature(const char *sig)
{
    vmic_syscall_t sc;
    memset(&sc, 0, sizeof sc);
    const char *open = strchr(sig, '('), *end = strrchr(sig, ')');
    snprintf(sc.name, sizeof sc.name, "%.*s", (int)(open - sig), sig);
    sc.implemented = sc.has_metadata = true;
    for (const char *p = open + 1; p < end && sc.nargs < VMIC_SYSCALL_MAX_ARGS;) {
        const char *comma = strchr(p, ',');
        if (!comma || comma > end)
            comma = end;
        parse_arg(p, (size_t)(comma - p), &sc.args[sc.nargs++]);
        p = comma + 1;
        while (*p == ' ')
            p++;
    }
    return sc;
}

/* The arguments as the line shows them (hidden ones left out). */
static void shown(const syscall_shape *sh, const vmic_trace_value_t *vals, int only, char *out,
                  size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < sh->nargs && n < size; i++) {
        if ((only >= 0 && i != only) || (only < 0 && vals[i].hidden))
            continue;
        n += (size_t)snprintf(out + n, size - n, "%s%s", n ? ", " : "", vals[i].text);
    }
}

static vmic_core *guest(void)
{
    vmic_driver *drv;
    vmic_core *core;
    const uint64_t p = VMIC_PTE_P | VMIC_PTE_RW | VMIC_PTE_US;
    if (vmic_mem_open(&(vmic_mem_options_t){.size = 4 * MIB}, &drv) != VMIC_OK)
        return NULL;
    uint8_t *mem = vmic_mem_bytes(drv);
    uint64_t e[] = {PDPT | p, PD | p, PT | p, PA_OF(STR) | p, PA_OF(MEM) | p};
    memcpy(mem + PML4, &e[0], 8);
    memcpy(mem + PDPT, &e[1], 8);
    memcpy(mem + PD + 2 * 8, &e[2], 8);  /* va 0x400000 */
    memcpy(mem + PT, &e[3], 8);
    memcpy(mem + PT + 8, &e[4], 8);
    if (vmic_core_open(drv, NULL, &core) != VMIC_OK)
        return NULL;
    return core;
}

static void test_strace_reference(void)
{
    vmic_core *core = guest();
    CHECK(core);
    if (!core)
        return;
    uint8_t *mem = vmic_mem_bytes(vmic_core_driver(core));
    vmic_tracer t;
    memset(&t, 0, sizeof t);
    t.core = core;
    t.opt.string_max = 256;
    t.opt.buffer_max = 32;
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        const ref *r = &refs[i];
        vmic_syscall_t sc = parse_signature(r->sig);
        syscall_shape sh;
        vmic_trace_value_t vals[VMIC_SYSCALL_MAX_ARGS];
        char got[1024];
        memset(mem + PA_OF(STR), 0, 2 * 4096);
        if (r->str)
            memcpy(mem + PA_OF(STR), r->str, strlen(r->str));
        if (r->mem)
            memcpy(mem + PA_OF(MEM), r->mem, 11 * sizeof *r->mem);
        vmic_flush_tlb(core);
        shape_syscall(&sc, &sh);
        CHECK_MSG(sh.nargs == sc.nargs, "%s: %d arguments", r->sig, sh.nargs);
        decode_inputs(&t, &sh, &sc, vmic_ctx(vmic_pa(PML4)), r->args, vals);
        shown(&sh, vals, r->only, got, sizeof got);
        CHECK_MSG(strcmp(got, r->strace) == 0, "%s(%s)\n    strace: %s", sc.name, got, r->strace);
    }
    vmic_core_close(core);
}

/* What the call writes, read at its return: prctl(PR_GET_NAME, "ref4") = 0
 * and getcwd("/tmp/tracefix", 16) = 14 in strace. */
static void test_outputs(void)
{
    vmic_core *core = guest();
    CHECK(core);
    if (!core)
        return;
    uint8_t *mem = vmic_mem_bytes(vmic_core_driver(core));
    vmic_tracer t;
    memset(&t, 0, sizeof t);
    t.core = core;
    t.opt.string_max = 256;
    t.opt.buffer_max = 32;
    static const struct {
        const char *sig;
        uint64_t args[6];
        char written[16];         /* what the call wrote at STR */
        int64_t ret;
        const char *strace;
    } cases[] = {
        {PRCTL_SIG, {16, STR, 0, 0, 0}, "ref4", 0, "PR_GET_NAME, \"ref4\""},
        {"getcwd(char *buf, unsigned long size)", {STR, 16}, "/tmp/tracefix", 14,
         "\"/tmp/tracefix\", 16"},
#define WAIT4_SIG "wait4(pid_t upid, int *stat_addr, int options, struct rusage *ru)"
        {WAIT4_SIG, {6777, STR, 0, 0}, "\x00\x03\x00\x00", 6777,
         "6777, [{WIFEXITED(s) && WEXITSTATUS(s) == 3}], 0, NULL"},
        {WAIT4_SIG, {6778, STR, 0, 0}, "\x09\x00\x00\x00", 6778,
         "6778, [{WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL}], 0, NULL"},
        {WAIT4_SIG, {6779, STR, 0, 0}, "\x86\x00\x00\x00", 6779,
         "6779, [{WIFSIGNALED(s) && WTERMSIG(s) == SIGABRT && WCOREDUMP(s)}], 0, NULL"},
        {WAIT4_SIG, {6780, STR, 2, 0}, "\x7f\x13\x00\x00", 6780,
         "6780, [{WIFSTOPPED(s) && WSTOPSIG(s) == SIGSTOP}], WSTOPPED, NULL"},
        {WAIT4_SIG, {6780, STR, 8, 0}, "\xff\xff\x00\x00", 6780,
         "6780, [{WIFCONTINUED(s)}], WCONTINUED, NULL"},
        {SIGPROCMASK_SIG, {2, 0, STR, 8}, "", 0, "SIG_SETMASK, NULL, [], 8"},
        /* pipe2([3, 4], 0) and pipe2([9, 11], O_NONBLOCK|O_CLOEXEC) in strace */
        {"pipe2(int *fildes, int flags)", {STR, 0}, "\x03\0\0\0\x04", 0, "[3, 4], 0"},
        {"pipe2(int *fildes, int flags)", {STR, 04000 | 02000000}, "\x09\0\0\0\x0b", 0,
         "[9, 11], O_NONBLOCK|O_CLOEXEC"},
        /* clock_gettime(CLOCK_MONOTONIC, {tv_sec=1557, tv_nsec=722108248}) = 0 */
        {"clock_gettime(const clockid_t which_clock, struct __kernel_timespec *tp)", {1, STR},
         "\x15\x06\0\0\0\0\0\0\x58\x7f\x0a\x2b", 0,
         "CLOCK_MONOTONIC, {tv_sec=1557, tv_nsec=722108248}"},
        /* failed: the pointer, as strace (clock_gettime(0x63 ...)) */
        {"clock_gettime(const clockid_t which_clock, struct __kernel_timespec *tp)", {99, STR},
         "", -22, "0x63 /* CLOCK_??? */, 0x400000"},
        /* nothing reaped: the pointer, as strace */
        {WAIT4_SIG, {(uint64_t)-1, STR, 1, 0}, "\x00\x00\x00\x00", -10,
         "-1, 0x400000, WNOHANG, NULL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vmic_syscall_t sc = parse_signature(cases[i].sig);
        syscall_shape sh;
        vmic_trace_value_t vals[VMIC_SYSCALL_MAX_ARGS];
        char got[512];
        memset(mem + PA_OF(STR), 0, 4096);
        shape_syscall(&sc, &sh);
        decode_inputs(&t, &sh, &sc, vmic_ctx(vmic_pa(PML4)), cases[i].args, vals);
        memcpy(mem + PA_OF(STR), cases[i].written, sizeof cases[i].written); /* the call */
        vmic_flush_tlb(core);
        decode_outputs(&t, &sh, vmic_ctx(vmic_pa(PML4)), cases[i].args, cases[i].ret, true, vals);
        shown(&sh, vals, -1, got, sizeof got);
        CHECK_MSG(strcmp(got, cases[i].strace) == 0, "%s(%s)\n    strace: %s", sc.name, got,
                  cases[i].strace);
    }
    vmic_core_close(core);
}

/* Any value of any set, into any room: cut, never past the end (ASan
 * watches the bytes after it), always NUL-terminated. */
static void test_small_buffers(void)
{
    static const uint64_t values[] = {0, 1, 0x11, 0x7f, 0x1200011, 0xffffffff, ~0ull};
    for (int set = SET_NONE; set <= SET_LAST; set++)
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++)
            for (size_t size = 1; size <= 12; size++) {
                char *buf = malloc(size);
                CHECK(buf);
                if (!buf)
                    return;
                value_set_text((value_set)set, values[v], buf, size);
                CHECK_MSG(strlen(buf) < size, "set %d value %#llx: %zu bytes in %zu", set,
                          (unsigned long long)values[v], strlen(buf), size);
                free(buf);
            }
    char status[8];
    wait_status_text(0x86, status, sizeof status);
    CHECK_STR(status, "[{WIFSI");
}

/* The shapes behind it, so that a case cannot pass by accident. */
static void test_shapes(void)
{
    vmic_syscall_t sc = parse_signature("mmap(unsigned long addr, unsigned long len, unsigned long "
                                        "prot, unsigned long flags, unsigned long fd, unsigned "
                                        "long off)");
    syscall_shape sh;
    shape_syscall(&sc, &sh);
    CHECK_STR(sc.args[4].name, "fd");
    CHECK_STR(sc.args[4].type, "unsigned long");
    CHECK_EQ(sh.args[0].cls, ARG_HEX);
    CHECK_EQ(sh.args[2].cls, ARG_SET);
    CHECK_EQ(sh.args[2].set, SET_PROT);
    CHECK_EQ(sh.args[3].set, SET_MMAP_FLAGS);
    CHECK_EQ(sh.args[4].cls, ARG_FD);
    CHECK_EQ(sh.args[5].cls, ARG_HEXNUM);
    sc = parse_signature("openat(int dfd, const char *filename, int flags, umode_t mode)");
    CHECK_STR(sc.args[1].type, "const char *");
    CHECK_STR(sc.args[1].name, "filename");
    shape_syscall(&sc, &sh);
    CHECK_EQ(sh.args[1].cls, ARG_STRING);
    CHECK_EQ(sh.args[3].cls, ARG_MODE);
}

int main(void)
{
    RUN(test_shapes);
    RUN(test_strace_reference);
    RUN(test_outputs);
    RUN(test_small_buffers);
    return HARNESS_RESULT();
}
