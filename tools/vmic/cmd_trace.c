/* vmic trace: processes and system calls of a live Linux guest, like strace
 * from outside (the tracer is the library's, vmic/trace.h). */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_os.h"
#include "trace_output.h"

static const char about[] =
    "Trace a live Linux guest from outside: processes created, programs executed\n"
    "(with their new command line), tasks exiting (with their code), and system\n"
    "calls with decoded arguments and results, one line each:\n\n"
    "  [1234 sh] openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY) = 3\n\n"
    "Syscall names and argument names and types come from the guest kernel\n"
    "(sys_call_table, kallsyms and its ftrace syscall metadata); strings and\n"
    "buffers are read from the calling process's memory. Nothing is installed\n"
    "in the guest. It stops on breakpoints in four kernel functions, so the\n"
    "guest runs slower while traced. Execs are process events: --syscall keeps\n"
    "them, --no-processes drops them.\n\n"
    "vmic runs until SIGINT or SIGTERM (or --duration, --count), then removes\n"
    "every breakpoint and detaches: the guest runs on untraced. A summary\n"
    "(calls per syscall and per process) goes to stderr, or ends the JSON.";

typedef struct trace_opts {
    cli_common c;
    vmic_trace_options_t t;
    uint64_t count;
    bool list, no_summary, summary_only;
} trace_opts;

static int parse_u32(const char *opt, const char *value, uint64_t lo, uint64_t hi, uint32_t *out)
{
    uint64_t v;
    if (!cli_parse_u64(value, &v) || v < lo || v > hi)
        return cli_usage("trace", "%s wants a number from %" PRIu64 " to %" PRIu64 ", not '%s'",
                         opt, lo, hi, value);
    *out = (uint32_t)v;
    return 0;
}

static int set_pid(const char *cmd, const char *value, void *dst)
{
    uint32_t v = 0;
    int rc = parse_u32("--pid", value, 1, INT32_MAX, &v);
    *(int32_t *)dst = (int32_t)v;
    return rc;
}

static int set_string_max(const char *cmd, const char *value, void *dst)
{
    return parse_u32("--string-max", value, 1, 4096, dst);
}

static int set_buffer_max(const char *cmd, const char *value, void *dst)
{
    return parse_u32("--buffer-max", value, 1, 4096, dst);
}

static int set_duration(const char *cmd, const char *value, void *dst)
{
    uint32_t v = 0;
    int rc = parse_u32("--duration", value, 1, 4000000, &v);
    *(uint32_t *)dst = v * 1000;
    return rc;
}

static int set_tap(const char *cmd, const char *value, void *dst)
{
    vmic_tap_kind *tap = dst;
    if (strcmp(value, "plugin") == 0)
        *tap = VMIC_TAP_EXEC_WATCH;
    else if (strcmp(value, "debugreg") == 0)
        *tap = VMIC_TAP_DEBUGREG;
    else if (strcmp(value, "breakpoint") == 0)
        *tap = VMIC_TAP_BREAKPOINT;
    else if (strcmp(value, "memory") == 0)
        *tap = VMIC_TAP_MEMORY;
    else
        return cli_usage(cmd, "--tap is plugin, debugreg, breakpoint or memory, not '%s'",
                         value);
    return 0;
}

typedef struct printer {
    bool json;
    bool quiet;              /* --summary-only: events counted, not printed */
    uint64_t count, shown;
} printer;

static int print_one(const vmic_trace_event_t *ev, void *arg)
{
    printer *p = arg;
    if (!p->quiet)
        trace_print_event(ev, p->json);
    p->shown++;
    /* Nobody reads any more (vmic trace | head): detach cleanly. */
    if (ferror(stdout))
        return 1;
    return p->count && p->shown >= p->count;
}

static int list_table(vmic_os *os, bool as_json)
{
    const vmic_syscall_t *table;
    size_t count;
    vmic_status s = vmic_os_syscalls(os, &table, &count);
    if (s)
        return cli_fail("trace", s, "the guest's syscall table");
    trace_print_table(table, count, as_json);
    return EXIT_OK;
}

static int trace(vmic_os *os, const trace_opts *o)
{
    vmic_tracer *t;
    vmic_status s = vmic_tracer_open(os, &o->t, &t);
    if (s)
        return cli_fail("trace", s, NULL);
    printer p = {.json = o->c.json, .count = o->count, .quiet = o->summary_only};
    /* From "tracing" on, SIGINT/SIGTERM/SIGHUP wait for the session (which
     * takes them): one that came between the arm and the session would
     * otherwise kill vmic with its breakpoints in. */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    sigprocmask(SIG_BLOCK, &sigs, &old);
    if ((s = vmic_tracer_arm(t))) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        vmic_tracer_close(t);
        return cli_fail("trace", s, NULL);
    }
    trace_print_start(t, vmic_core_info(vmic_os_core(os)), o->c.json);
    s = vmic_tracer_run(t, print_one, &p);
    sigprocmask(SIG_SETMASK, &old, NULL);
    fflush(stdout);
    if (!o->no_summary)
        trace_print_summary(t, o->c.json);
    trace_print_plugin(vmic_core_driver(vmic_os_core(os)), o->c.json);
    vmic_tracer_close(t);
    if (s == VMIC_OK || s == VMIC_E_INTERRUPTED) {
        fprintf(stderr, "vmic trace: detached after %" PRIu64 " events%s: every breakpoint "
                "removed\n", p.shown,
                s == VMIC_E_INTERRUPTED ? " (signal)" : "");
        return EXIT_OK;
    }
    return cli_fail("trace", s, "tracing ended after %" PRIu64 " events", p.shown);
}

int cmd_trace(int argc, char **argv)
{
    trace_opts o;
    memset(&o, 0, sizeof o);
    const cli_opt opts[] = {
        CLI_FN("pid", 'p', "PID", set_pid, &o.t.pid,
               "only this process or thread (its forks shown, not its children)"),
        CLI_FLAG("follow", 'f', &o.t.follow,
                 "with --pid: also the processes it creates, and theirs"),
        CLI_STR("comm", 'c', "NAME", &o.t.comm, "only tasks named NAME (before or after an exec)"),
        CLI_STR("syscall", 'e', "LIST", &o.t.syscalls,
                "only these system calls, comma separated (openat,execve)"),
        CLI_FLAG("no-syscalls", 0, &o.t.no_syscalls,
                 "processes only: fork, exec, exit (fewer stops)"),
        CLI_FLAG("no-processes", 0, &o.t.no_processes, "system calls only"),
        CLI_FN("string-max", 's', "N", set_string_max, &o.t.string_max,
               "bytes of a string shown (default 256)"),
        CLI_FN("buffer-max", 0, "N", set_buffer_max, &o.t.buffer_max,
               "bytes of a buffer shown (default 32)"),
        CLI_FN("duration", 'd', "SEC", set_duration, &o.t.duration_ms, "detach after SEC seconds"),
        CLI_U64("count", 0, "N", &o.count, 1, UINT64_MAX, "detach after N events"),
        CLI_FLAG("no-summary", 0, &o.no_summary, "no summary at the end"),
        CLI_FLAG("summary-only", 0, &o.summary_only,
                 "decode every event but print only the summary (strace -c)"),
        CLI_FN("tap", 0, "KIND", set_tap, &o.t.tap,
               "plugin (QEMU with vmic's plugin: the default there), debugreg\n"
               "(QEMU's gdbstub, KVM's debug registers), breakpoint, or memory\n"
               "(the breakpoints' pages without X in a view: KVM, and QEMU with\n"
               "vmic's plugin)"),
        CLI_FLAG("list", 0, &o.list, "print the guest's syscall table and exit (dumps too)"),
        CLI_END,
    };
    const cli_spec spec = {
        .cmd = "trace", .usage = "[OPTIONS] TARGET\n       vmic trace --list [OPTIONS] TARGET",
        .about = about, .opts = opts, .groups = CLI_G_GUEST, .min_operands = 1, .max_operands = 1,
        .json_help = "one JSON object per line: {\"type\":\"syscall\"|\"fork\"|\n"
                     "\"exec\"|\"exit\",...}, then {\"type\":\"summary\",...}",
    };
    vmic_core *core;
    vmic_os *os;
    int first = cli_parse(&spec, argc, argv, &o.c);
    if (first < 0)
        return -first;
    if (o.summary_only && o.no_summary)
        return cli_usage("trace", "--summary-only and --no-summary leave nothing to print");
    if (o.t.no_syscalls && o.t.no_processes)
        return cli_usage("trace", "--no-syscalls and --no-processes leave nothing to trace");
    if (o.t.follow && !o.t.pid)
        return cli_usage("trace", "--follow follows the children of --pid PID");
    if (o.t.follow && o.t.no_processes)
        return cli_usage("trace", "--follow sees children at their fork: not with --no-processes");
    int rc = cli_os_open("trace", argv[first], &o.c, &core, &os);
    if (rc)
        return rc;
    vmic_core_take_signals(core, true); /* SIGINT/SIGTERM detach */
    /* Lines, not blocks: whoever reads the output sees each event as it
     * happens, and all of them if vmic is stopped. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A closed pipe must not kill vmic before it removes its breakpoints
     * (QEMU would keep them and stop the guest at the next hit): writes
     * fail instead, and print_one ends the trace. */
    signal(SIGPIPE, SIG_IGN);
    rc = o.list ? list_table(os, o.c.json) : trace(os, &o);
    cli_os_close(core, os);
    return rc;
}
