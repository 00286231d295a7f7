/* vmic trace: processes and system calls of a live Linux guest, like strace
 * from outside (the tracer is the library's, vmic/trace.h). */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_os.h"
#include "trace_output.h"

static const char help[] =
    "usage: vmic trace [OPTIONS] TARGET\n"
    "       vmic trace --list [OPTIONS] TARGET\n\n"
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
    "(calls per syscall and per process) goes to stderr, or ends the JSON.\n\n"
    "Options:\n"
    "  -p, --pid PID       only this process or thread (its forks shown, not its children)\n"
    "  -f, --follow        with --pid: also the processes it creates, and theirs\n"
    "  -c, --comm NAME     only tasks named NAME (before or after an exec)\n"
    "  -e, --syscall LIST  only these system calls, comma separated (openat,execve)\n"
    "      --no-syscalls   processes only: fork, exec, exit (fewer stops)\n"
    "      --no-processes  system calls only\n"
    "  -s, --string-max N  bytes of a string shown (default 256)\n"
    "      --buffer-max N  bytes of a buffer shown (default 32)\n"
    "  -d, --duration SEC  detach after SEC seconds\n"
    "      --count N       detach after N events\n"
    "      --no-summary    no summary at the end\n"
    "      --tap KIND      debugreg (default where the driver has them) or breakpoint\n"
    "      --list          print the guest's syscall table and exit (dumps too)\n"
    "      --json          one JSON object per line: {\"type\":\"syscall\"|\"fork\"|\n"
    "                      \"exec\"|\"exit\",...}, then {\"type\":\"summary\",...}\n"
    CLI_OS_COMMON_HELP_OWN_JSON;

typedef struct trace_opts {
    cli_os_opts os;
    vmic_trace_options_t t;
    uint64_t count;
    bool list, no_summary;
} trace_opts;

enum {
    OPT_NO_SYSCALLS = 1000, OPT_NO_PROCESSES, OPT_BUFFER_MAX, OPT_COUNT, OPT_NO_SUMMARY, OPT_TAP,
    OPT_LIST,
};

static int parse_u32(const char *opt, const char *value, uint64_t lo, uint64_t hi, uint32_t *out)
{
    uint64_t v;
    if (!cli_parse_u64(value, &v) || v < lo || v > hi)
        return cli_usage("trace", "%s wants a number from %" PRIu64 " to %" PRIu64 ", not '%s'",
                         opt, lo, hi, value);
    *out = (uint32_t)v;
    return 0;
}

static int option(void *arg, int opt, const char *value)
{
    trace_opts *o = arg;
    uint32_t v = 0;
    int rc;
    switch (opt) {
    case 'P': o->os.profile = value; return 0;
    case 'p':
        if ((rc = parse_u32("--pid", value, 1, INT32_MAX, &v)))
            return rc;
        o->t.pid = (int32_t)v;
        return 0;
    case 'c': o->t.comm = value; return 0;
    case 'f': o->t.follow = true; return 0;
    case 'e': o->t.syscalls = value; return 0;
    case OPT_NO_SYSCALLS: o->t.no_syscalls = true; return 0;
    case OPT_NO_PROCESSES: o->t.no_processes = true; return 0;
    case 's': return parse_u32("--string-max", value, 1, 4096, &o->t.string_max);
    case OPT_BUFFER_MAX: return parse_u32("--buffer-max", value, 1, 4096, &o->t.buffer_max);
    case 'd':
        if ((rc = parse_u32("--duration", value, 1, 4000000, &v)))
            return rc;
        o->t.duration_ms = v * 1000;
        return 0;
    case OPT_COUNT:
        if (!cli_parse_u64(value, &o->count) || o->count == 0)
            return cli_usage("trace", "--count wants a positive number, not '%s'", value);
        return 0;
    case OPT_NO_SUMMARY: o->no_summary = true; return 0;
    case OPT_LIST: o->list = true; return 0;
    case OPT_TAP:
        if (strcmp(value, "debugreg") == 0)
            o->t.tap = VMIC_TAP_DEBUGREG;
        else if (strcmp(value, "breakpoint") == 0)
            o->t.tap = VMIC_TAP_BREAKPOINT;
        else
            return cli_usage("trace", "--tap is debugreg or breakpoint, not '%s'", value);
        return 0;
    }
    return cli_usage("trace", "unexpected option");
}

typedef struct printer {
    bool json;
    uint64_t count, shown;
} printer;

static int print_one(const vmic_trace_event_t *ev, void *arg)
{
    printer *p = arg;
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
    printer p = {.json = o->os.c.json, .count = o->count};
    if ((s = vmic_tracer_arm(t))) {
        vmic_tracer_close(t);
        return cli_fail("trace", s, NULL);
    }
    fprintf(stderr, "vmic trace: tracing %s with %zu breakpoints (SIGINT to detach)\n",
            vmic_core_info(vmic_os_core(os))->source, vmic_tracer_breakpoints(t));
    s = vmic_tracer_run(t, print_one, &p);
    fflush(stdout);
    if (!o->no_summary)
        trace_print_summary(t, o->os.c.json);
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
    static const struct option own[] = {
        {"profile", required_argument, NULL, 'P'},
        {"pid", required_argument, NULL, 'p'},
        {"comm", required_argument, NULL, 'c'},
        {"follow", no_argument, NULL, 'f'},
        {"syscall", required_argument, NULL, 'e'},
        {"no-syscalls", no_argument, NULL, OPT_NO_SYSCALLS},
        {"no-processes", no_argument, NULL, OPT_NO_PROCESSES},
        {"string-max", required_argument, NULL, 's'},
        {"buffer-max", required_argument, NULL, OPT_BUFFER_MAX},
        {"duration", required_argument, NULL, 'd'},
        {"count", required_argument, NULL, OPT_COUNT},
        {"no-summary", no_argument, NULL, OPT_NO_SUMMARY},
        {"tap", required_argument, NULL, OPT_TAP},
        {"list", no_argument, NULL, OPT_LIST},
        {0},
    };
    trace_opts o;
    vmic_core *core;
    vmic_os *os;
    memset(&o, 0, sizeof o);
    int first = cli_parse("trace", help, argc, argv, own, "p:c:e:s:d:f", option, &o, &o.os.c, 1, 1);
    if (first < 0)
        return -first;
    if (o.t.no_syscalls && o.t.no_processes)
        return cli_usage("trace", "--no-syscalls and --no-processes leave nothing to trace");
    if (o.t.follow && !o.t.pid)
        return cli_usage("trace", "--follow follows the children of --pid PID");
    if (o.t.follow && o.t.no_processes)
        return cli_usage("trace", "--follow sees children at their fork: not with --no-processes");
    int rc = cli_os_open("trace", argv[first], &o.os, &core, &os);
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
    rc = o.list ? list_table(os, o.os.c.json) : trace(os, &o);
    cli_os_close(core, os);
    return rc;
}
