/*
 * Arguments: how each is shown, decided once per syscall from the C type
 * and name the kernel's metadata gives it, and decoding the values of one
 * call from the calling process's memory.
 *
 * The rules, in order: an argument of a syscall strace knows the meaning of
 * is shown as strace shows it (the table below: flags and constants by
 * name, addresses in hex, clone3's struct); a char/void pointer followed by
 * a length argument is a buffer (read by the call if const, else filled by
 * it); another const char pointer is a string; const char *const * is an
 * array of strings; another pointer is shown as an address; a file
 * descriptor is a signed int whatever its C type (mmap's fd -1); a
 * directory fd may be AT_FDCWD; umode_t is octal; integers are signed or
 * unsigned, 4 or 8 bytes, as their type says.
 *
 * Every read is bounded (string_max, buffer_max, TRACE_MAX_ARRAY) and a
 * pointer that does not translate is shown as its address, never followed
 * further.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace_internal.h"

#define AT_FDCWD (-100)

/* ---- shapes ---------------------------------------------------------------------- */

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static int stars(const char *type)
{
    int n = 0;
    for (; *type; type++)
        n += *type == '*';
    return n;
}

static bool is_length(const vmic_syscall_arg_t *a)
{
    static const char *const names[] = {"count", "len", "size", "bufsiz", "nbytes", NULL};
    return stars(a->type) == 0 && in_list(a->name, names);
}

static arg_shape integer_shape(const char *type)
{
    static const char *const s32[] = {"int", "pid_t", "key_serial_t", "clockid_t", "timer_t",
                                      "mqd_t", "rwf_t", "key_t", NULL};
    static const char *const u32[] = {"unsigned int", "unsigned", "u32", "__u32", "uid_t",
                                      "gid_t", "qid_t", "umode_t", "old_uid_t", "old_gid_t",
                                      NULL};
    static const char *const u64[] = {"unsigned long", "size_t", "u64", "__u64",
                                      "unsigned long long", "aio_context_t", NULL};
    if (in_list(type, s32))
        return (arg_shape){.cls = ARG_SIGNED, .width = 4};
    if (in_list(type, u32))
        return (arg_shape){.cls = ARG_UNSIGNED, .width = 4};
    if (in_list(type, u64))
        return (arg_shape){.cls = ARG_UNSIGNED, .width = 8};
    return (arg_shape){.cls = ARG_SIGNED, .width = 8}; /* long, off_t, loff_t, ... */
}

/* Arguments whose meaning the name and C type do not tell: by syscall (NULL:
 * any) and the kernel's name for the argument. */
typedef struct arg_rule {
    const char *syscall, *arg;
    arg_class cls;
    value_set set;
} arg_rule;

static const arg_rule rules[] = {
    /* files */
    {"open", "flags", ARG_SET, SET_OPEN_FLAGS},
    {"openat", "flags", ARG_SET, SET_OPEN_FLAGS},
    {"pipe2", "flags", ARG_SET, SET_FD_FLAGS},
    {"pipe2", "fildes", ARG_FD_PAIR_OUT, SET_NONE},
    {"pipe", "fildes", ARG_FD_PAIR_OUT, SET_NONE},
    {"socketpair", "usockvec", ARG_FD_PAIR_OUT, SET_NONE},
    {"dup3", "flags", ARG_SET, SET_FD_FLAGS},
    {"access", "mode", ARG_SET, SET_ACCESS_MODE},
    {"faccessat", "mode", ARG_SET, SET_ACCESS_MODE},
    {"faccessat2", "mode", ARG_SET, SET_ACCESS_MODE},
    {"faccessat2", "flags", ARG_SET, SET_FACCESSAT2_FLAGS},
    {"newfstatat", "flag", ARG_SET, SET_AT_FLAGS},
    {"unlinkat", "flag", ARG_SET, SET_AT_FLAGS},
    {"linkat", "flags", ARG_SET, SET_AT_FLAGS},
    {"fchownat", "flag", ARG_SET, SET_AT_FLAGS},
    {"utimensat", "flags", ARG_SET, SET_AT_FLAGS},
    {"execveat", "flags", ARG_SET, SET_AT_FLAGS},
    {"execveat", "fd", ARG_DIRFD, SET_NONE},
    {"statx", "flags", ARG_SET, SET_STATX_FLAGS},
    {"lseek", "whence", ARG_SET, SET_SEEK},
    {"fcntl", "cmd", ARG_SET, SET_FCNTL_CMD},
    {"fcntl", "arg", ARG_FCNTL_ARG, SET_NONE},
    {"ioctl", "cmd", ARG_SET, SET_IOCTL_CMD},
    {"ioctl", "arg", ARG_IOCTL_ARG, SET_NONE},
    /* memory */
    {"mmap", "addr", ARG_HEX, SET_NONE},
    {"mmap", "prot", ARG_SET, SET_PROT},
    {"mmap", "flags", ARG_SET, SET_MMAP_FLAGS},
    {"mmap", "off", ARG_HEXNUM, SET_NONE},
    {"mprotect", "start", ARG_HEX, SET_NONE},
    {"mprotect", "prot", ARG_SET, SET_PROT},
    {"pkey_mprotect", "start", ARG_HEX, SET_NONE},
    {"pkey_mprotect", "prot", ARG_SET, SET_PROT},
    {"munmap", "addr", ARG_HEX, SET_NONE},
    {"mremap", "addr", ARG_HEX, SET_NONE},
    {"mremap", "new_addr", ARG_HEX, SET_NONE},
    {"madvise", "start", ARG_HEX, SET_NONE},
    {"madvise", "behavior", ARG_SET, SET_MADVISE},
    {"msync", "start", ARG_HEX, SET_NONE},
    {"mlock", "start", ARG_HEX, SET_NONE},
    {"munlock", "start", ARG_HEX, SET_NONE},
    {"mincore", "start", ARG_HEX, SET_NONE},
    {"brk", "brk", ARG_HEX, SET_NONE},
    /* processes */
    {"clone", "clone_flags", ARG_SET, SET_CLONE_FLAGS},
    {"clone", "newsp", ARG_HEX, SET_NONE},
    {"clone", "tls", ARG_HEX, SET_NONE},
    {"clone3", "uargs", ARG_CLONE_ARGS, SET_NONE},
    {"wait4", "options", ARG_SET, SET_WAIT_OPTIONS},
    {"wait4", "stat_addr", ARG_WAIT_STATUS, SET_NONE},
    {"waitid", "options", ARG_SET, SET_WAIT_OPTIONS},
    {"rt_sigprocmask", "how", ARG_SET, SET_SIGMASK_HOW},
    {"rt_sigprocmask", "nset", ARG_SIGSET_IN, SET_NONE},
    {"rt_sigprocmask", "oset", ARG_SIGSET_OUT, SET_NONE},
    {"rt_sigaction", "act", ARG_SIGACTION_IN, SET_NONE},
    {"rt_sigaction", "oact", ARG_SIGACTION_OUT, SET_NONE},
    {"arch_prctl", "option", ARG_SET, SET_ARCH_PRCTL},
    {"arch_prctl", "arg2", ARG_HEXNUM, SET_NONE},
    {"prlimit64", "resource", ARG_SET, SET_RLIMIT},
    {"getrlimit", "resource", ARG_SET, SET_RLIMIT},
    {"setrlimit", "resource", ARG_SET, SET_RLIMIT},
    {"getrandom", "flags", ARG_SET, SET_GETRANDOM},
    {"rseq", "rseq_len", ARG_HEXNUM, SET_NONE},
    {"rseq", "sig", ARG_HEXNUM, SET_NONE},
    {"futex", "op", ARG_SET, SET_FUTEX_OP},
    {"futex", "val", ARG_FUTEX_ARG, SET_NONE},
    {"futex", "utime", ARG_FUTEX_ARG, SET_NONE},
    {"futex", "uaddr2", ARG_FUTEX_ARG, SET_NONE},
    {"futex", "val3", ARG_FUTEX_ARG, SET_NONE},
    {"prctl", "option", ARG_SET, SET_PRCTL},
    {"prctl", "arg2", ARG_PRCTL_ARG, SET_NONE},
    {"prctl", "arg3", ARG_PRCTL_ARG, SET_NONE},
    {"prctl", "arg4", ARG_PRCTL_ARG, SET_NONE},
    {"prctl", "arg5", ARG_PRCTL_ARG, SET_NONE},
    {"clock_nanosleep", "flags", ARG_SET, SET_TIMER_FLAGS},
    {"timerfd_create", "clockid", ARG_SET, SET_CLOCK},
    {"getcwd", "buf", ARG_STRING_OUT, SET_NONE},
    {"clock_gettime", "tp", ARG_TIMESPEC_OUT, SET_NONE},
    {"clock_getres", "tp", ARG_TIMESPEC_OUT, SET_NONE},
    {"clock_settime", "tp", ARG_TIMESPEC_IN, SET_NONE},
    {"nanosleep", "rqtp", ARG_TIMESPEC_IN, SET_NONE},
    {"clock_nanosleep", "rqtp", ARG_TIMESPEC_IN, SET_NONE},
    {NULL, "which_clock", ARG_SET, SET_CLOCK}, /* clock_gettime, clock_nanosleep... */
    {NULL, "sig", ARG_SET, SET_SIGNAL},        /* kill, tgkill, rt_sigaction... */
};

static const arg_rule *rule_of(const char *syscall, const char *arg)
{
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if ((!rules[i].syscall || strcmp(rules[i].syscall, syscall) == 0) &&
            strcmp(rules[i].arg, arg) == 0)
            return &rules[i];
    return NULL;
}

static bool is_fd(const vmic_syscall_arg_t *a)
{
    static const char *const names[] = {"fd", "oldfd", "newfd", "fd_in", "fd_out", "in_fd",
                                        "out_fd", "epfd", "ufd", "pidfd", NULL};
    return stars(a->type) == 0 && in_list(a->name, names);
}

static arg_shape shape_arg(const vmic_syscall_t *sc, int i)
{
    static const char *const reads_void[] = {"sendto", NULL};
    const vmic_syscall_arg_t *a = &sc->args[i];
    const vmic_syscall_arg_t *next = i + 1 < sc->nargs ? &sc->args[i + 1] : NULL;
    bool is_const = strstr(a->type, "const") != NULL;
    bool char_ptr = stars(a->type) == 1 && strstr(a->type, "char");
    bool void_ptr = stars(a->type) == 1 && strstr(a->type, "void");
    const arg_rule *rule = rule_of(sc->name, a->name);

    if (rule)
        return (arg_shape){.cls = rule->cls, .width = 4, .set = (uint8_t)rule->set};
    if ((char_ptr || void_ptr) && next && is_length(next)) {
        bool input = is_const || in_list(sc->name, reads_void);
        return (arg_shape){.cls = input ? ARG_BUF_IN : ARG_BUF_OUT, .len_arg = (int8_t)(i + 1)};
    }
    if (char_ptr && is_const)
        return (arg_shape){.cls = ARG_STRING};
    if (stars(a->type) == 2 && strstr(a->type, "char") && is_const)
        return (arg_shape){.cls = ARG_STRINGS};
    if (stars(a->type) > 0)
        return (arg_shape){.cls = ARG_HEX};
    size_t n = strlen(a->name);
    if (strcmp(a->type, "int") == 0 && (n >= 3 && strcmp(a->name + n - 3, "dfd") == 0))
        return (arg_shape){.cls = ARG_DIRFD, .width = 4};
    if (is_fd(a))
        return (arg_shape){.cls = ARG_FD, .width = 4};
    if (strcmp(a->type, "umode_t") == 0)
        return (arg_shape){.cls = ARG_MODE, .width = 4};
    return integer_shape(a->type);
}

void shape_unknown(syscall_shape *out)
{
    memset(out, 0, sizeof *out);
    out->nargs = VMIC_SYSCALL_MAX_ARGS;
    for (int i = 0; i < VMIC_SYSCALL_MAX_ARGS; i++)
        out->args[i] = (arg_shape){.cls = ARG_HEX};
    out->wanted = true;
}

void shape_syscall(const vmic_syscall_t *sc, syscall_shape *out)
{
    static const char *const hex_results[] = {"mmap", "brk", "mremap", "shmat", NULL};
    static const char *const exits[] = {"exit", "exit_group", NULL};
    static const char *const forks[] = {"clone", "clone3", "fork", "vfork", NULL};

    shape_unknown(out);
    if (sc->nargs >= 0) {
        out->nargs = sc->nargs;
        for (int i = 0; i < sc->nargs; i++)
            out->args[i] = shape_arg(sc, i);
    }
    out->ret_hex = in_list(sc->name, hex_results);
    out->never_returns = in_list(sc->name, exits);
    out->is_fork = in_list(sc->name, forks);
    out->exec_filename = -1;
    if (strcmp(sc->name, "execve") == 0 || strcmp(sc->name, "execveat") == 0) {
        out->is_exec = true;
        for (int i = 0; i < out->nargs; i++)
            if (out->args[i].cls == ARG_STRING && out->exec_filename < 0)
                out->exec_filename = (int8_t)i;
    }
}

/* ---- values --------------------------------------------------------------------------- */

void value_printf(vmic_trace_value_t *v, vmic_trace_value_kind kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->text, sizeof v->text, fmt, ap);
    va_end(ap);
    v->kind = kind;
}

void value_address(vmic_trace_value_t *v, vmic_trace_value_kind kind)
{
    if (v->raw == 0)
        value_printf(v, kind, "NULL");
    else
        value_printf(v, kind, "0x%" PRIx64, v->raw);
}

/* "bytes"... into v->text; marks truncation when the bytes or the text ran out. */
static void set_quoted(vmic_trace_value_t *v, vmic_trace_value_kind kind, const uint8_t *bytes,
                       size_t len, bool more)
{
    char *t = v->text;
    size_t room = sizeof v->text - 5; /* quotes, "..." */
    t[0] = '"';
    size_t n = text_escape(t + 1, room, bytes, len);
    bool cut = more || n + 1 >= room; /* the escape stopped early */
    snprintf(t + 1 + n, sizeof v->text - 1 - n, "\"%s", cut ? "..." : "");
    v->kind = kind;
    v->truncated = cut;
}

static bool read_string(vmic_tracer *t, vmic_ctx_t ctx, uint64_t va, uint8_t *buf, size_t max,
                        size_t *len, bool *more)
{
    vmic_status s = trace_read_str(t, ctx, va, (char *)buf, max, len);
    *more = s == VMIC_E_RANGE;
    if (s == VMIC_OK || s == VMIC_E_RANGE)
        return true;
    vmic_clear_error();
    return false;
}

static void decode_string(vmic_tracer *t, vmic_ctx_t ctx, vmic_trace_value_t *v)
{
    size_t max = t->opt.string_max, len;
    uint8_t *buf = malloc(max + 1);
    bool more;
    if (v->raw && buf && read_string(t, ctx, v->raw, buf, max, &len, &more))
        set_quoted(v, VMIC_VALUE_STRING, buf, len, more);
    else
        value_address(v, v->raw ? VMIC_VALUE_UNREADABLE : VMIC_VALUE_HEX);
    free(buf);
}

static void decode_buffer(vmic_tracer *t, vmic_ctx_t ctx, uint64_t len, vmic_trace_value_t *v)
{
    uint8_t buf[TRACE_STRING_MAX_LIMIT];
    size_t n = len < t->opt.buffer_max ? (size_t)len : t->opt.buffer_max;
    if (n > sizeof buf)
        n = sizeof buf;
    if (!v->raw) {
        value_address(v, VMIC_VALUE_HEX);
        return;
    }
    if (trace_read(t, ctx, v->raw, buf, n) != VMIC_OK) {
        vmic_clear_error();
        value_address(v, VMIC_VALUE_UNREADABLE);
        return;
    }
    set_quoted(v, VMIC_VALUE_BUFFER, buf, n, n < len);
}

/* ["a", "b", ...]: at most TRACE_MAX_ARRAY strings, each bounded. */
static void decode_strings(vmic_tracer *t, vmic_ctx_t ctx, vmic_trace_value_t *v)
{
    char *out = v->text;
    size_t size = sizeof v->text, n = 0;
    uint64_t va = v->raw;
    if (!va) {
        value_address(v, VMIC_VALUE_HEX);
        return;
    }
    out[n++] = '[';
    for (int i = 0;; i++) {
        uint64_t p;
        if (trace_read(t, ctx, va + 8u * (unsigned)i, &p, 8) != VMIC_OK) {
            vmic_clear_error();
            if (i == 0) {
                value_address(v, VMIC_VALUE_UNREADABLE);
                return;
            }
            n += (size_t)snprintf(out + n, size - n, "%s?", i ? ", " : "");
            break;
        }
        if (p == 0)
            break;
        if (i == TRACE_MAX_ARRAY) {
            n += (size_t)snprintf(out + n, size - n, ", ...");
            v->truncated = true;
            break;
        }
        vmic_trace_value_t one = {.raw = p};
        decode_string(t, ctx, &one);
        n += (size_t)snprintf(out + n, size - n, "%s%s", i ? ", " : "", one.text);
        if (n >= size - 8) {
            v->truncated = true;
            n = size - 8;
            n += (size_t)snprintf(out + n, size - n, "...");
            break;
        }
    }
    snprintf(out + n, size - n, "]");
    v->kind = VMIC_VALUE_STRINGS;
}

static void decode_integer(const arg_shape *a, vmic_trace_value_t *v)
{
    if (a->cls == ARG_SIGNED)
        value_printf(v, VMIC_VALUE_INT, "%" PRId64,
                 a->width == 4 ? (int64_t)(int32_t)v->raw : (int64_t)v->raw);
    else
        value_printf(v, VMIC_VALUE_INT, "%" PRIu64, a->width == 4 ? (uint32_t)v->raw : v->raw);
}

/* ioctl's third argument, as its request (args[1]) says. */
static void decode_ioctl_arg(uint64_t cmd, vmic_trace_value_t *v)
{
    switch (ioctl_arg_of(cmd)) {
    case IOCTL_ARG_ADDR: value_address(v, VMIC_VALUE_HEX); break;
    case IOCTL_ARG_INT: value_printf(v, VMIC_VALUE_INT, "%d", (int32_t)v->raw); break;
    case IOCTL_ARG_NONE:
        value_printf(v, VMIC_VALUE_HEX, "%#" PRIx64, v->raw);
        v->hidden = true;
        break;
    case IOCTL_ARG_TCFLSH:
        value_set_text(SET_TCFLSH, v->raw, v->text, sizeof v->text);
        v->kind = VMIC_VALUE_FLAGS;
        break;
    case IOCTL_ARG_TCXONC:
        value_set_text(SET_TCXONC, v->raw, v->text, sizeof v->text);
        v->kind = VMIC_VALUE_FLAGS;
        break;
    case IOCTL_ARG_HEX: value_printf(v, VMIC_VALUE_HEX, "%#" PRIx64, v->raw); break;
    }
}

/* fcntl's third argument, as its command (args[1]) says. */
static void decode_fcntl_arg(uint64_t cmd, vmic_trace_value_t *v)
{
    enum { F_DUPFD = 0, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_GETLK, F_SETLK, F_SETLKW,
           F_SETOWN, F_GETOWN, F_SETSIG, F_GETSIG };
    switch ((uint32_t)cmd) {
    case F_GETFD: case F_GETFL: case F_GETOWN: case F_GETSIG:
    case 1025: case 1032: case 1034: /* F_GETLEASE, F_GETPIPE_SZ, F_GET_SEALS */
        value_printf(v, VMIC_VALUE_HEX, "%#" PRIx64, v->raw);
        v->hidden = true;
        return;
    case F_SETFD:
        value_printf(v, VMIC_VALUE_FLAGS, "%s", v->raw == 1 ? "FD_CLOEXEC" : "0");
        if (v->raw > 1)
            value_printf(v, VMIC_VALUE_HEX, "%#" PRIx64, v->raw);
        return;
    case F_SETFL:
        value_set_text(SET_OPEN_FLAGS, v->raw, v->text, sizeof v->text);
        v->kind = VMIC_VALUE_FLAGS;
        return;
    case F_GETLK: case F_SETLK: case F_SETLKW: case 36: case 37: case 38: /* F_OFD_* */
        value_address(v, VMIC_VALUE_HEX);
        return;
    case F_DUPFD: case F_SETOWN: case F_SETSIG: case 1024: case 1026: case 1030: case 1031:
    case 1033:
        value_printf(v, VMIC_VALUE_INT, "%d", (int32_t)v->raw);
        return;
    }
    value_printf(v, VMIC_VALUE_HEX, "%#" PRIx64, v->raw);
}

/* futex's val, utime, uaddr2 and val3 (arguments 2..5), as its op says. */
static void decode_futex_arg(vmic_tracer *t, vmic_ctx_t ctx, int i, uint64_t op,
                             vmic_trace_value_t *v)
{
    const char *how = futex_args_of(op);
    char c = i >= 2 && i <= 5 ? how[i - 2] : 'x';
    switch (c) {
    case 'u': value_printf(v, VMIC_VALUE_INT, "%" PRIu32, (uint32_t)v->raw); break;
    case 'n': value_printf(v, VMIC_VALUE_INT, "%d", (int32_t)v->raw); break;
    case 'a':
        value_address(v, VMIC_VALUE_HEX);
        if (i == 3) /* utime: the timeout */
            decode_timespec(t, ctx, v);
        break;
    case 'b':
        if ((uint32_t)v->raw == UINT32_MAX)
            value_printf(v, VMIC_VALUE_FLAGS, "FUTEX_BITSET_MATCH_ANY");
        else
            value_printf(v, VMIC_VALUE_HEX, "%#" PRIx32, (uint32_t)v->raw);
        break;
    default:
        value_printf(v, VMIC_VALUE_HEX, "%#" PRIx32, (uint32_t)v->raw);
        v->hidden = c == '-';
    }
}

#define PR_SET_PDEATHSIG 1
#define PR_GET_DUMPABLE 3
#define PR_SET_NAME 15
#define PR_GET_NAME 16

/* prctl's arg2..arg5 (arguments 1..4), as its option (args[0]) says: the
 * options busybox and libc use as strace shows them, the others' numbers
 * in full. */
static void decode_prctl_arg(vmic_tracer *t, vmic_ctx_t ctx, int i, uint64_t option,
                             vmic_trace_value_t *v)
{
    switch (option) {
    case PR_SET_NAME:
    case PR_GET_NAME: /* the name is read at the return */
        if (i == 1 && option == PR_SET_NAME)
            decode_string(t, ctx, v);
        else
            value_address(v, VMIC_VALUE_HEX);
        v->hidden = i > 1;
        return;
    case PR_SET_PDEATHSIG:
        value_set_text(SET_SIGNAL, v->raw, v->text, sizeof v->text);
        v->kind = VMIC_VALUE_FLAGS;
        v->hidden = i > 1;
        return;
    case PR_GET_DUMPABLE:
        value_printf(v, VMIC_VALUE_INT, "%" PRIu64, v->raw);
        v->hidden = true;
        return;
    }
    value_printf(v, VMIC_VALUE_INT, "%" PRIu64, v->raw);
}

/* open's mode means something only with O_CREAT or O_TMPFILE: strace
 * leaves it out otherwise, and so does the line. */
static bool unused_mode(const syscall_shape *sh, int i, const uint64_t *args)
{
    if (i == 0 || sh->args[i - 1].cls != ARG_SET || sh->args[i - 1].set != SET_OPEN_FLAGS)
        return false;
    uint64_t flags = args[i - 1];
    return !(flags & 0100u) && (flags & 020200000u) != 020200000u; /* O_CREAT, O_TMPFILE */
}

static void decode_one(vmic_tracer *t, const syscall_shape *sh, int i, vmic_ctx_t ctx,
                       const uint64_t *args, vmic_trace_value_t *v)
{
    const arg_shape *a = &sh->args[i];
    switch (a->cls) {
    case ARG_SIGNED:
    case ARG_UNSIGNED:
        decode_integer(a, v);
        break;
    case ARG_HEX:
    case ARG_BUF_OUT: /* filled by the call: read at the return */
        value_address(v, VMIC_VALUE_HEX);
        break;
    case ARG_HEXNUM:
        value_printf(v, VMIC_VALUE_HEX, "%#" PRIx64, v->raw);
        break;
    case ARG_FD:
        value_printf(v, VMIC_VALUE_INT, "%d", (int32_t)v->raw);
        break;
    case ARG_DIRFD:
        if ((int32_t)v->raw == AT_FDCWD)
            value_printf(v, VMIC_VALUE_FLAGS, "AT_FDCWD");
        else
            value_printf(v, VMIC_VALUE_INT, "%d", (int32_t)v->raw);
        break;
    case ARG_STRING:
        decode_string(t, ctx, v);
        break;
    case ARG_STRINGS:
        decode_strings(t, ctx, v);
        break;
    case ARG_BUF_IN:
        decode_buffer(t, ctx, args[a->len_arg], v);
        break;
    case ARG_SET:
        value_set_text((value_set)a->set, v->raw, v->text, sizeof v->text);
        v->kind = VMIC_VALUE_FLAGS;
        break;
    case ARG_MODE:
        /* strace's form: 0644, 0100644, and 000 for 0 */
        value_printf(v, VMIC_VALUE_INT, "%#03" PRIo32, (uint32_t)v->raw);
        v->hidden = unused_mode(sh, i, args);
        break;
    case ARG_CLONE_ARGS:
        decode_clone_args(t, ctx, i + 1 < sh->nargs ? args[i + 1] : 0, v);
        break;
    case ARG_IOCTL_ARG:
        decode_ioctl_arg(i > 0 ? args[i - 1] : 0, v);
        break;
    case ARG_FCNTL_ARG:
        decode_fcntl_arg(i > 0 ? args[i - 1] : 0, v);
        break;
    case ARG_FUTEX_ARG:
        decode_futex_arg(t, ctx, i, args[1], v);
        break;
    case ARG_PRCTL_ARG:
        decode_prctl_arg(t, ctx, i, args[0], v);
        break;
    case ARG_STRING_OUT: /* filled by the call: read at the return */
    case ARG_WAIT_STATUS:
    case ARG_SIGSET_OUT:
    case ARG_SIGACTION_OUT:
    case ARG_FD_PAIR_OUT:
    case ARG_TIMESPEC_OUT:
        value_address(v, VMIC_VALUE_HEX);
        break;
    case ARG_TIMESPEC_IN:
        value_address(v, VMIC_VALUE_HEX);
        decode_timespec(t, ctx, v);
        break;
    case ARG_SIGSET_IN:
    case ARG_SIGACTION_IN:
        decode_signals(t, ctx, a->cls == ARG_SIGACTION_IN, args[sh->nargs - 1], v);
        break;
    }
}

void decode_inputs(vmic_tracer *t, const syscall_shape *sh, const vmic_syscall_t *sc,
                   vmic_ctx_t ctx, const uint64_t *args, vmic_trace_value_t *vals)
{
    static const char *const names[] = {"arg0", "arg1", "arg2", "arg3", "arg4", "arg5"};
    bool named = sc && sc->has_metadata;
    for (int i = 0; i < sh->nargs; i++) {
        vmic_trace_value_t *v = &vals[i];
        memset(v, 0, sizeof *v);
        v->name = named ? sc->args[i].name : names[i];
        v->type = named ? sc->args[i].type : "";
        v->raw = args[i];
        decode_one(t, sh, i, ctx, args, v);
    }
}

void decode_outputs(vmic_tracer *t, const syscall_shape *sh, vmic_ctx_t ctx, const uint64_t *args,
                    int64_t ret, bool retry_inputs, vmic_trace_value_t *vals)
{
    for (int i = 0; i < sh->nargs; i++) {
        vmic_trace_value_t *v = &vals[i];
        if (sh->args[i].cls == ARG_BUF_OUT && ret > 0)
            decode_buffer(t, ctx, (uint64_t)ret, v);
        else if (sh->args[i].cls == ARG_STRING_OUT && ret > 0)
            decode_string(t, ctx, v);
        else if (sh->args[i].cls == ARG_PRCTL_ARG && i == 1 && args[0] == PR_GET_NAME && ret == 0)
            decode_string(t, ctx, v);
        else if (sh->args[i].cls == ARG_WAIT_STATUS && ret > 0)
            decode_wait_status(t, ctx, v);
        else if (sh->args[i].cls == ARG_FD_PAIR_OUT && ret == 0)
            decode_fd_pair(t, ctx, v);
        else if (sh->args[i].cls == ARG_TIMESPEC_OUT && ret == 0)
            decode_timespec(t, ctx, v);
        else if ((sh->args[i].cls == ARG_SIGSET_OUT || sh->args[i].cls == ARG_SIGACTION_OUT) &&
                 ret == 0)
            decode_signals(t, ctx, sh->args[i].cls == ARG_SIGACTION_OUT, args[sh->nargs - 1],
                           v);
        else if (retry_inputs && v->kind == VMIC_VALUE_UNREADABLE)
            decode_one(t, sh, i, ctx, args, v);
    }
}

void decode_return(const syscall_shape *sh, int64_t ret, char *text, size_t size,
                   const char **error)
{
    *error = NULL;
    if (ret < 0 && ret >= -4095) {
        const char *name = errno_name(-ret);
        *error = name;
        if (name)
            snprintf(text, size, "-1 %s (%s)", name, errno_text(-ret));
        else
            snprintf(text, size, "-1 (errno %" PRId64 ")", -ret);
        return;
    }
    if (sh->ret_hex)
        snprintf(text, size, "0x%" PRIx64, (uint64_t)ret);
    else
        snprintf(text, size, "%" PRId64, ret);
}
