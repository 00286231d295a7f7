/* vmic ps: the guest's processes, from its own task list. */
#include <inttypes.h>
#include <string.h>

#include "cli_os.h"

static const char help[] =
    "usage: vmic ps [OPTIONS] TARGET\n\n"
    "List the guest's processes (thread-group leaders, pid 0 included) from the\n"
    "kernel's task list: pid, parent, user, state, start time (seconds since\n"
    "boot), threads, the page-table root (hex, as --root takes it; '-' for kernel\n"
    "threads, which have none), the task_struct address and the command line\n"
    "read from the process's own memory ([comm] for kernel threads).\n"
    "Needs no profile: the kernel's kallsyms and BTF are found in memory.\n\n"
    "Options:\n" CLI_OS_COMMON_HELP;

typedef struct ps_ctx {
    vmic_os *os;
    json *j;
    bool as_json;
    size_t n;
} ps_ctx;

static void cmdline_of(vmic_os *os, const vmic_process_t *p, char *buf, size_t size)
{
    size_t len = 0;
    if (p->kernel_thread) {
        snprintf(buf, size, "[%s]", p->comm);
        return;
    }
    (void)vmic_os_process_cmdline(os, p, buf, size, &len);
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    if (len == 0)
        snprintf(buf, size, "[%s]", p->comm);
}

static int show(void *arg, const vmic_process_t *p)
{
    ps_ctx *c = arg;
    char cmd[4096];
    cmdline_of(c->os, p, cmd, sizeof cmd);
    c->n++;
    if (c->as_json) {
        json *j = c->j;
        json_object_begin(j, NULL);
        json_i64(j, "pid", p->tgid);
        json_i64(j, "ppid", p->ppid);
        json_str(j, "comm", p->comm);
        json_u64(j, "uid", p->uid);
        json_u64(j, "gid", p->gid);
        json_u64(j, "euid", p->euid);
        json_u64(j, "egid", p->egid);
        char st[2] = {p->state, 0};
        json_str(j, "state", st);
        json_u64(j, "start_ns", p->start_ns);
        json_u64(j, "threads", p->nthreads);
        json_bool(j, "kernel_thread", p->kernel_thread);
        json_hex(j, "task", p->task.addr);
        json_hex(j, "mm", p->mm.addr);
        json_hex(j, "root", p->root.addr);
        json_hex(j, "user_root", p->user_root.addr);
        json_str(j, "cmdline", cmd);
        json_bool(j, "partial", p->partial);
        json_object_end(j);
        return 0;
    }
    char root[24] = "-";
    if (!p->kernel_thread)
        snprintf(root, sizeof root, "0x%" PRIx64, p->root.addr);
    printf("%6d %6d %5u %c %9.3f %4u %12s %18" PRIx64 "  %s%s\n", (int)p->tgid, (int)p->ppid,
           p->uid, p->state, (double)p->start_ns / 1e9, p->nthreads, root, p->task.addr, cmd,
           p->partial ? "  (partial)" : "");
    return 0;
}

int cmd_ps(int argc, char **argv)
{
    cli_os_opts o;
    vmic_core *core;
    vmic_os *os;
    int rc = cli_os_parse("ps", argc, argv, help, &o);
    if (rc >= 0)
        return rc;
    if (argc - optind != 1)
        return cli_usage("ps", "needs exactly one TARGET");
    if ((rc = cli_os_open("ps", argv[optind], &o, &core, &os)))
        return rc;
    json j;
    json_init(&j, stdout);
    ps_ctx c = {.os = os, .j = &j, .as_json = o.c.json};
    if (o.c.json)
        json_array_begin(&j, NULL);
    else
        printf("%6s %6s %5s %c %9s %4s %12s %18s  %s\n", "PID", "PPID", "UID", 'S', "START",
               "THR", "ROOT", "TASK", "COMMAND");
    vmic_status s = vmic_os_processes(os, show, &c);
    if (o.c.json) {
        json_array_end(&j);
        json_done(&j);
    }
    rc = cli_os_walk_status("ps", s, c.n);
    cli_os_close(core, os);
    return rc;
}
