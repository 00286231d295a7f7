/*
 * The tracer's pure pieces: errno names (against the host libc, which numbers
 * errors as every x86-64 Linux guest does), open flags, C escapes, how
 * arguments are shown from the kernel's types and names, return values,
 * and the one-line format.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "harness.h"
#include "utils/trace/trace_internal.h"

static void test_errno_names_match_libc(void)
{
    int named = 0;
    for (int e = 1; e < 134; e++) {
        const char *mine = errno_name(e), *libc = strerrorname_np(e);
        if (!libc) {
            CHECK_MSG(mine == NULL, "errno %d: vmic names it %s, libc does not", e, mine);
            continue;
        }
        /* libc names the aliases' numbers by their first name; so does vmic */
        CHECK_MSG(mine && strcmp(mine, libc) == 0, "errno %d: %s, libc says %s", e,
                  mine ? mine : "(none)", libc);
        named++;
    }
    CHECK(named > 120);
    CHECK_STR(errno_name(512), "ERESTARTSYS");
    CHECK(errno_name(0) == NULL && errno_name(4096) == NULL && errno_name(-2) == NULL);
}

static void test_open_flags(void)
{
    char buf[256];
    open_flags_text(0, buf, sizeof buf);
    CHECK_STR(buf, "O_RDONLY");
    open_flags_text(01 | 0100 | 01000, buf, sizeof buf);
    CHECK_STR(buf, "O_WRONLY|O_CREAT|O_TRUNC");
    open_flags_text(02 | 02000000 | 0200000, buf, sizeof buf); /* strace's order */
    CHECK_STR(buf, "O_RDWR|O_CLOEXEC|O_DIRECTORY");
    open_flags_text(0x40000000u, buf, sizeof buf); /* no such flag: hex, as strace */
    CHECK_STR(buf, "O_RDONLY|0x40000000");
}

static void test_escape(void)
{
    char buf[64];
    const uint8_t bytes[] = {'a', '\n', '"', '\\', 0, 0xff, 't'};
    text_escape(buf, sizeof buf, bytes, sizeof bytes);
    CHECK_STR(buf, "a\\n\\\"\\\\\\x00\\xfft");
    /* Never past the buffer, never half an escape. */
    text_escape(buf, 5, bytes, sizeof bytes);
    CHECK_STR(buf, "a\\n");
}

static vmic_syscall_t make(const char *name, int nargs, const char *const *types,
                           const char *const *names)
{
    vmic_syscall_t sc;
    memset(&sc, 0, sizeof sc);
    snprintf(sc.name, sizeof sc.name, "%s", name);
    sc.implemented = sc.has_metadata = true;
    sc.nargs = nargs;
    for (int i = 0; i < nargs; i++) {
        snprintf(sc.args[i].type, sizeof sc.args[i].type, "%s", types[i]);
        snprintf(sc.args[i].name, sizeof sc.args[i].name, "%s", names[i]);
    }
    return sc;
}

static void test_shapes_from_kernel_types(void)
{
    static const char *const ot[] = {"int", "const char *", "int", "umode_t"};
    static const char *const on[] = {"dfd", "filename", "flags", "mode"};
    static const char *const rt[] = {"unsigned int", "char *", "size_t"};
    static const char *const rn[] = {"fd", "buf", "count"};
    static const char *const wt[] = {"unsigned int", "const char *", "size_t"};
    static const char *const et[] = {"const char *", "const char *const *",
                                     "const char *const *"};
    static const char *const en[] = {"filename", "argv", "envp"};
    static const char *const xt[] = {"int"};
    static const char *const xn[] = {"error_code"};
    syscall_shape sh;

    vmic_syscall_t sc = make("openat", 4, ot, on);
    shape_syscall(&sc, &sh);
    CHECK_EQ(sh.nargs, 4);
    CHECK_EQ(sh.args[0].cls, ARG_DIRFD);
    CHECK_EQ(sh.args[1].cls, ARG_STRING);
    CHECK_EQ(sh.args[2].cls, ARG_SET);
    CHECK_EQ(sh.args[2].set, SET_OPEN_FLAGS);
    CHECK_EQ(sh.args[3].cls, ARG_MODE);

    sc = make("read", 3, rt, rn);
    shape_syscall(&sc, &sh);
    CHECK_EQ(sh.args[0].cls, ARG_FD);     /* "unsigned int fd": shown signed, as strace */
    CHECK_EQ(sh.args[0].width, 4);
    CHECK_EQ(sh.args[1].cls, ARG_BUF_OUT);
    CHECK_EQ(sh.args[2].cls, ARG_UNSIGNED);
    CHECK_EQ(sh.args[2].width, 8);

    sc = make("write", 3, wt, rn);
    shape_syscall(&sc, &sh);
    CHECK_EQ(sh.args[1].cls, ARG_BUF_IN);
    CHECK_EQ(sh.args[1].len_arg, 2);

    sc = make("execve", 3, et, en);
    shape_syscall(&sc, &sh);
    CHECK(sh.is_exec);
    CHECK_EQ(sh.exec_filename, 0);
    CHECK_EQ(sh.args[1].cls, ARG_STRINGS);

    sc = make("exit_group", 1, xt, xn);
    shape_syscall(&sc, &sh);
    CHECK(sh.never_returns);
    CHECK_EQ(sh.args[0].cls, ARG_SIGNED);
    CHECK_EQ(sh.args[0].width, 4);

    /* No metadata: six raw arguments. */
    sc = make("lookup_dcookie", 0, NULL, NULL);
    sc.nargs = -1;
    sc.has_metadata = false;
    shape_syscall(&sc, &sh);
    CHECK_EQ(sh.nargs, 6);
    CHECK_EQ(sh.args[5].cls, ARG_HEX);
}

static void test_return_values(void)
{
    syscall_shape sh;
    char text[96];
    const char *error;
    shape_unknown(&sh);
    decode_return(&sh, -2, text, sizeof text, &error);
    CHECK_STR(text, "-1 ENOENT (No such file or directory)");
    CHECK_STR(error, "ENOENT");
    decode_return(&sh, 3, text, sizeof text, &error);
    CHECK_STR(text, "3");
    CHECK(error == NULL);
    decode_return(&sh, -4096, text, sizeof text, &error); /* not an errno */
    CHECK_STR(text, "-4096");
    decode_return(&sh, -1000, text, sizeof text, &error); /* an errno without a name */
    CHECK_STR(text, "-1 (errno 1000)");
    sh.ret_hex = true;
    decode_return(&sh, 0x7f0000001000, text, sizeof text, &error);
    CHECK_STR(text, "0x7f0000001000");
}

static void test_format(void)
{
    vmic_trace_event_t ev;
    char line[512];
    memset(&ev, 0, sizeof ev);
    ev.kind = VMIC_TRACE_SYSCALL;
    ev.task.pid = 1234;
    snprintf(ev.task.comm, sizeof ev.task.comm, "sh");
    ev.syscall.name = "openat";
    ev.syscall.nargs = 3;
    snprintf(ev.syscall.args[0].text, VMIC_TRACE_TEXT, "AT_FDCWD");
    snprintf(ev.syscall.args[1].text, VMIC_TRACE_TEXT, "\"/etc/passwd\"");
    snprintf(ev.syscall.args[2].text, VMIC_TRACE_TEXT, "O_RDONLY");
    ev.syscall.returned = ev.syscall.entry_seen = true;
    snprintf(ev.syscall.ret_text, sizeof ev.syscall.ret_text, "3");
    vmic_trace_format(&ev, line, sizeof line);
    CHECK_STR(line, "[1234 sh] openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY) = 3");

    /* Cut to the buffer, but the length needed is still told. */
    size_t need = vmic_trace_format(&ev, line, 10);
    CHECK_EQ(need, strlen("[1234 sh] openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY) = 3"));
    CHECK_EQ(strlen(line), 9);

    /* A hidden argument (open's mode without O_CREAT: trace_args.c decides,
     * test_trace_flags.c checks it) is left out of the line. */
    ev.syscall.nargs = 4;
    snprintf(ev.syscall.args[3].text, VMIC_TRACE_TEXT, "000");
    ev.syscall.args[3].hidden = true;
    vmic_trace_format(&ev, line, sizeof line);
    CHECK_STR(line, "[1234 sh] openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY) = 3");
    ev.syscall.args[3].hidden = false;
    vmic_trace_format(&ev, line, sizeof line);
    CHECK_STR(line, "[1234 sh] openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY, 000) = 3");

    memset(&ev, 0, sizeof ev);
    ev.kind = VMIC_TRACE_EXIT;
    ev.task.pid = 7;
    snprintf(ev.task.comm, sizeof ev.task.comm, "false");
    ev.exit.status = 1;
    vmic_trace_format(&ev, line, sizeof line);
    CHECK_STR(line, "[7 false] +++ exited with 1 +++");
    ev.exit.signal = 9;
    vmic_trace_format(&ev, line, sizeof line);
    CHECK_STR(line, "[7 false] +++ killed by signal 9 +++");
}

int main(void)
{
    RUN(test_errno_names_match_libc);
    RUN(test_open_flags);
    RUN(test_escape);
    RUN(test_shapes_from_kernel_types);
    RUN(test_return_values);
    RUN(test_format);
    return HARNESS_RESULT();
}
