/*
 * Text for people: C escapes for guest bytes, errno names (Linux's numbers,
 * which are the same for every x86-64 guest), and the one-line strace-like
 * form of an event (constants by name are trace_flags.c's).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "trace_internal.h"

/* ---- escaping ------------------------------------------------------------------- */

size_t text_escape(char *out, size_t size, const uint8_t *bytes, size_t len)
{
    size_t n = 0;
    if (size == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char esc[5];
        uint8_t c = bytes[i];
        switch (c) {
        case '\n': snprintf(esc, sizeof esc, "\\n"); break;
        case '\t': snprintf(esc, sizeof esc, "\\t"); break;
        case '\r': snprintf(esc, sizeof esc, "\\r"); break;
        case '"': snprintf(esc, sizeof esc, "\\\""); break;
        case '\\': snprintf(esc, sizeof esc, "\\\\"); break;
        default:
            if (c >= 0x20 && c < 0x7f)
                snprintf(esc, sizeof esc, "%c", c);
            else
                snprintf(esc, sizeof esc, "\\x%02x", c);
        }
        size_t e = strlen(esc);
        if (n + e >= size)
            break;
        memcpy(out + n, esc, e);
        n += e;
    }
    out[n] = '\0';
    return n;
}

/* ---- errno -------------------------------------------------------------------------- */

typedef struct errno_entry {
    const char *name, *text;
} errno_entry;

/* asm-generic/errno-base.h and errno.h: the same on every Linux architecture
 * vmic looks at. Gaps (41, 58) are aliases that have no number of their own. */
static const errno_entry errnos[] = {
    [1] = {"EPERM", "Operation not permitted"},
    [2] = {"ENOENT", "No such file or directory"},
    [3] = {"ESRCH", "No such process"},
    [4] = {"EINTR", "Interrupted system call"},
    [5] = {"EIO", "Input/output error"},
    [6] = {"ENXIO", "No such device or address"},
    [7] = {"E2BIG", "Argument list too long"},
    [8] = {"ENOEXEC", "Exec format error"},
    [9] = {"EBADF", "Bad file descriptor"},
    [10] = {"ECHILD", "No child processes"},
    [11] = {"EAGAIN", "Resource temporarily unavailable"},
    [12] = {"ENOMEM", "Cannot allocate memory"},
    [13] = {"EACCES", "Permission denied"},
    [14] = {"EFAULT", "Bad address"},
    [15] = {"ENOTBLK", "Block device required"},
    [16] = {"EBUSY", "Device or resource busy"},
    [17] = {"EEXIST", "File exists"},
    [18] = {"EXDEV", "Invalid cross-device link"},
    [19] = {"ENODEV", "No such device"},
    [20] = {"ENOTDIR", "Not a directory"},
    [21] = {"EISDIR", "Is a directory"},
    [22] = {"EINVAL", "Invalid argument"},
    [23] = {"ENFILE", "Too many open files in system"},
    [24] = {"EMFILE", "Too many open files"},
    [25] = {"ENOTTY", "Inappropriate ioctl for device"},
    [26] = {"ETXTBSY", "Text file busy"},
    [27] = {"EFBIG", "File too large"},
    [28] = {"ENOSPC", "No space left on device"},
    [29] = {"ESPIPE", "Illegal seek"},
    [30] = {"EROFS", "Read-only file system"},
    [31] = {"EMLINK", "Too many links"},
    [32] = {"EPIPE", "Broken pipe"},
    [33] = {"EDOM", "Numerical argument out of domain"},
    [34] = {"ERANGE", "Numerical result out of range"},
    [35] = {"EDEADLK", "Resource deadlock avoided"},
    [36] = {"ENAMETOOLONG", "File name too long"},
    [37] = {"ENOLCK", "No locks available"},
    [38] = {"ENOSYS", "Function not implemented"},
    [39] = {"ENOTEMPTY", "Directory not empty"},
    [40] = {"ELOOP", "Too many levels of symbolic links"},
    [42] = {"ENOMSG", "No message of desired type"},
    [43] = {"EIDRM", "Identifier removed"},
    [44] = {"ECHRNG", "Channel number out of range"},
    [45] = {"EL2NSYNC", "Level 2 not synchronized"},
    [46] = {"EL3HLT", "Level 3 halted"},
    [47] = {"EL3RST", "Level 3 reset"},
    [48] = {"ELNRNG", "Link number out of range"},
    [49] = {"EUNATCH", "Protocol driver not attached"},
    [50] = {"ENOCSI", "No CSI structure available"},
    [51] = {"EL2HLT", "Level 2 halted"},
    [52] = {"EBADE", "Invalid exchange"},
    [53] = {"EBADR", "Invalid request descriptor"},
    [54] = {"EXFULL", "Exchange full"},
    [55] = {"ENOANO", "No anode"},
    [56] = {"EBADRQC", "Invalid request code"},
    [57] = {"EBADSLT", "Invalid slot"},
    [59] = {"EBFONT", "Bad font file format"},
    [60] = {"ENOSTR", "Device not a stream"},
    [61] = {"ENODATA", "No data available"},
    [62] = {"ETIME", "Timer expired"},
    [63] = {"ENOSR", "Out of streams resources"},
    [64] = {"ENONET", "Machine is not on the network"},
    [65] = {"ENOPKG", "Package not installed"},
    [66] = {"EREMOTE", "Object is remote"},
    [67] = {"ENOLINK", "Link has been severed"},
    [68] = {"EADV", "Advertise error"},
    [69] = {"ESRMNT", "Srmount error"},
    [70] = {"ECOMM", "Communication error on send"},
    [71] = {"EPROTO", "Protocol error"},
    [72] = {"EMULTIHOP", "Multihop attempted"},
    [73] = {"EDOTDOT", "RFS specific error"},
    [74] = {"EBADMSG", "Bad message"},
    [75] = {"EOVERFLOW", "Value too large for defined data type"},
    [76] = {"ENOTUNIQ", "Name not unique on network"},
    [77] = {"EBADFD", "File descriptor in bad state"},
    [78] = {"EREMCHG", "Remote address changed"},
    [79] = {"ELIBACC", "Can not access a needed shared library"},
    [80] = {"ELIBBAD", "Accessing a corrupted shared library"},
    [81] = {"ELIBSCN", ".lib section in a.out corrupted"},
    [82] = {"ELIBMAX", "Attempting to link in too many shared libraries"},
    [83] = {"ELIBEXEC", "Cannot exec a shared library directly"},
    [84] = {"EILSEQ", "Invalid or incomplete multibyte or wide character"},
    [85] = {"ERESTART", "Interrupted system call should be restarted"},
    [86] = {"ESTRPIPE", "Streams pipe error"},
    [87] = {"EUSERS", "Too many users"},
    [88] = {"ENOTSOCK", "Socket operation on non-socket"},
    [89] = {"EDESTADDRREQ", "Destination address required"},
    [90] = {"EMSGSIZE", "Message too long"},
    [91] = {"EPROTOTYPE", "Protocol wrong type for socket"},
    [92] = {"ENOPROTOOPT", "Protocol not available"},
    [93] = {"EPROTONOSUPPORT", "Protocol not supported"},
    [94] = {"ESOCKTNOSUPPORT", "Socket type not supported"},
    [95] = {"EOPNOTSUPP", "Operation not supported"},
    [96] = {"EPFNOSUPPORT", "Protocol family not supported"},
    [97] = {"EAFNOSUPPORT", "Address family not supported by protocol"},
    [98] = {"EADDRINUSE", "Address already in use"},
    [99] = {"EADDRNOTAVAIL", "Cannot assign requested address"},
    [100] = {"ENETDOWN", "Network is down"},
    [101] = {"ENETUNREACH", "Network is unreachable"},
    [102] = {"ENETRESET", "Network dropped connection on reset"},
    [103] = {"ECONNABORTED", "Software caused connection abort"},
    [104] = {"ECONNRESET", "Connection reset by peer"},
    [105] = {"ENOBUFS", "No buffer space available"},
    [106] = {"EISCONN", "Transport endpoint is already connected"},
    [107] = {"ENOTCONN", "Transport endpoint is not connected"},
    [108] = {"ESHUTDOWN", "Cannot send after transport endpoint shutdown"},
    [109] = {"ETOOMANYREFS", "Too many references: cannot splice"},
    [110] = {"ETIMEDOUT", "Connection timed out"},
    [111] = {"ECONNREFUSED", "Connection refused"},
    [112] = {"EHOSTDOWN", "Host is down"},
    [113] = {"EHOSTUNREACH", "No route to host"},
    [114] = {"EALREADY", "Operation already in progress"},
    [115] = {"EINPROGRESS", "Operation now in progress"},
    [116] = {"ESTALE", "Stale file handle"},
    [117] = {"EUCLEAN", "Structure needs cleaning"},
    [118] = {"ENOTNAM", "Not a XENIX named type file"},
    [119] = {"ENAVAIL", "No XENIX semaphores available"},
    [120] = {"EISNAM", "Is a named type file"},
    [121] = {"EREMOTEIO", "Remote I/O error"},
    [122] = {"EDQUOT", "Disk quota exceeded"},
    [123] = {"ENOMEDIUM", "No medium found"},
    [124] = {"EMEDIUMTYPE", "Wrong medium type"},
    [125] = {"ECANCELED", "Operation canceled"},
    [126] = {"ENOKEY", "Required key not available"},
    [127] = {"EKEYEXPIRED", "Key has expired"},
    [128] = {"EKEYREVOKED", "Key has been revoked"},
    [129] = {"EKEYREJECTED", "Key was rejected by service"},
    [130] = {"EOWNERDEAD", "Owner died"},
    [131] = {"ENOTRECOVERABLE", "State not recoverable"},
    [132] = {"ERFKILL", "Operation not possible due to RF-kill"},
    [133] = {"EHWPOISON", "Memory page has hardware error"},
};

/* The kernel's own, which a syscall returns only when a signal cut it short
 * (include/linux/errno.h). */
static const errno_entry kernel_errnos[] = {
    [0] = {"ERESTARTSYS", "To be restarted if SA_RESTART is set"},
    [1] = {"ERESTARTNOINTR", "To be restarted"},
    [2] = {"ERESTARTNOHAND", "To be restarted if no handler"},
    [3] = {"ENOIOCTLCMD", "No ioctl command"},
    [4] = {"ERESTART_RESTARTBLOCK", "Interrupted by signal"},
};

static const errno_entry *errno_of(int64_t err)
{
    if (err > 0 && err < (int64_t)(sizeof errnos / sizeof errnos[0]) && errnos[err].name)
        return &errnos[err];
    if (err >= 512 && err < 512 + (int64_t)(sizeof kernel_errnos / sizeof kernel_errnos[0]))
        return &kernel_errnos[err - 512];
    return NULL;
}

const char *errno_name(int64_t err)
{
    const errno_entry *e = errno_of(err);
    return e ? e->name : NULL;
}

const char *errno_text(int64_t err)
{
    const errno_entry *e = errno_of(err);
    return e ? e->text : NULL;
}

/* ---- one line per event ------------------------------------------------------------------ */

const char *vmic_trace_kind_name(vmic_trace_kind k)
{
    switch (k) {
    case VMIC_TRACE_SYSCALL: return "syscall";
    case VMIC_TRACE_FORK: return "fork";
    case VMIC_TRACE_EXEC: return "exec";
    case VMIC_TRACE_EXIT: return "exit";
    }
    return "unknown";
}

typedef struct line {
    char *buf;
    size_t size, len;   /* len: what the whole line needs */
} line;

static void put(line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(line *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = l->len < l->size ? l->size - l->len : 0;
    int n = vsnprintf(room ? l->buf + l->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        l->len += (size_t)n;
}

static void put_syscall(line *l, const vmic_trace_event_t *ev)
{
    int shown = 0;
    put(l, "%s(", ev->syscall.name);
    for (int i = 0; i < ev->syscall.nargs; i++)
        if (!ev->syscall.args[i].hidden)
            put(l, "%s%s", shown++ ? ", " : "", ev->syscall.args[i].text);
    if (!ev->syscall.returned)
        put(l, ") = ?");
    else
        put(l, ") = %s", ev->syscall.ret_text);
    if (!ev->syscall.entry_seen)
        put(l, " <entered before the trace>");
}

static void put_exit(line *l, const vmic_trace_event_t *ev)
{
    const char *who = ev->exit.thread ? "thread " : "";
    if (ev->exit.signal)
        put(l, "+++ %skilled by signal %d%s +++", who, ev->exit.signal,
            ev->exit.core_dumped ? " (core dumped)" : "");
    else
        put(l, "+++ %sexited with %d +++", who, ev->exit.status);
}

size_t vmic_trace_format(const vmic_trace_event_t *ev, char *buf, size_t size)
{
    line l = {buf, size, 0};
    if (size)
        buf[0] = '\0';
    put(&l, "[%d %s] ", (int)ev->task.pid, ev->task.comm);
    switch (ev->kind) {
    case VMIC_TRACE_SYSCALL:
        put_syscall(&l, ev);
        break;
    case VMIC_TRACE_FORK:
        put(&l, "+++ %s %d", ev->fork.kernel ? "kernel thread" : ev->fork.thread ? "thread"
                                                                                 : "process",
            (int)ev->fork.child.pid);
        if (ev->fork.kernel)
            put(&l, " [%s]", ev->fork.child.comm);
        put(&l, " +++");
        break;
    case VMIC_TRACE_EXEC:
        put(&l, "+++ exec %s: %s%s (was %s) +++", ev->exec.filename, ev->exec.cmdline,
            ev->exec.cmdline_truncated ? "..." : "", ev->exec.old_comm);
        break;
    case VMIC_TRACE_EXIT:
        put_exit(&l, ev);
        break;
    }
    return l.len;
}
