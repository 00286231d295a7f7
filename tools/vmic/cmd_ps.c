/* vmic ps: the guest's processes, from its own task list. */
#include "cli_list.h"

static const cli_col cols[] = {
    {.head = "PID", .key = "pid", .type = CLI_COL_INT, .width = 6},
    {.head = "PPID", .key = "ppid", .type = CLI_COL_INT, .width = 6},
    {.head = "UID", .key = "uid", .type = CLI_COL_UINT, .width = 5},
    {.head = "S", .key = "state", .type = CLI_COL_STR, .width = 1},
    {.head = "START", .key = "start_ns", .type = CLI_COL_SECONDS, .width = 9},
    {.head = "THR", .key = "threads", .type = CLI_COL_UINT, .width = 4},
    {.head = "ROOT", .key = "root", .type = CLI_COL_HEX, .width = 12, .flags = CLI_COL_0X},
    {.head = "TASK", .key = "task", .type = CLI_COL_HEX, .width = 18},
    {.head = "COMMAND", .key = "cmdline", .type = CLI_COL_STR, .sep = "  "},
    {.key = "partial", .type = CLI_COL_BOOL, .sep = "  ", .mark = "(partial)",
     .flags = CLI_COL_TABLE_IF_SET},
    {.key = "comm", .type = CLI_COL_STR, .flags = CLI_COL_JSON_ONLY},
    {.key = "gid", .type = CLI_COL_UINT, .flags = CLI_COL_JSON_ONLY},
    {.key = "euid", .type = CLI_COL_UINT, .flags = CLI_COL_JSON_ONLY},
    {.key = "egid", .type = CLI_COL_UINT, .flags = CLI_COL_JSON_ONLY},
    {.key = "kernel_thread", .type = CLI_COL_BOOL, .flags = CLI_COL_JSON_ONLY},
    {.key = "mm", .type = CLI_COL_HEX, .flags = CLI_COL_JSON_ONLY},
    {.key = "user_root", .type = CLI_COL_HEX, .flags = CLI_COL_JSON_ONLY},
};
enum { PID, PPID, UID, STATE, START, THREADS, ROOT, TASK, CMDLINE, PARTIAL, COMM, GID, EUID,
       EGID, KTHREAD, MM, USER_ROOT, NCOLS };
static const unsigned char json_order[] = {PID, PPID, COMM, UID, GID, EUID, EGID, STATE, START,
                                           THREADS, KTHREAD, TASK, MM, ROOT, USER_ROOT, CMDLINE,
                                           PARTIAL};
static const cli_schema schema = {cols, NCOLS, json_order, false};

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

static int row(void *arg, const vmic_process_t *p)
{
    cli_walk *w = arg;
    char cmd[4096], state[2] = {p->state, 0};
    cmdline_of(w->os, p, cmd, sizeof cmd);
    cli_val v[NCOLS] = {
        [PID] = CLI_I(p->tgid), [PPID] = CLI_I(p->ppid), [UID] = CLI_U(p->uid),
        [STATE] = CLI_S(state), [START] = CLI_U(p->start_ns), [THREADS] = CLI_U(p->nthreads),
        [ROOT] = CLI_U(p->root.addr), [TASK] = CLI_U(p->task.addr), [CMDLINE] = CLI_S(cmd),
        [PARTIAL] = CLI_B(p->partial), [COMM] = CLI_S(p->comm), [GID] = CLI_U(p->gid),
        [EUID] = CLI_U(p->euid), [EGID] = CLI_U(p->egid), [KTHREAD] = CLI_B(p->kernel_thread),
        [MM] = CLI_U(p->mm.addr), [USER_ROOT] = CLI_U(p->user_root.addr),
    };
    v[ROOT].blank = p->kernel_thread; /* kernel threads have no root of their own */
    cli_rows_add(&w->rows, v);
    return 0;
}

static bool threads; /* --threads */

static vmic_status threads_of(cli_walk *w, const vmic_process_t *p)
{
    return vmic_os_threads(w->os, p, cli_thread_row, w);
}

static const cli_schema *schema_for(const cli_walk *w)
{
    (void)w;
    return threads ? &cli_thread_schema : &schema;
}

static vmic_status walk(cli_walk *w)
{
    return threads ? cli_each_process(w, threads_of) : vmic_os_processes(w->os, row, w);
}

int cmd_ps(int argc, char **argv)
{
    static const cli_opt opts[] = {
        CLI_FLAG("threads", 0, &threads,
                 "every thread of every process instead, as 'vmic threads' lists\n"
                 "one process's (tid, pid, state, start, task, name)"),
        CLI_END,
    };
    static const cli_list_cmd ps = {
        .spec = {
            .cmd = "ps", .usage = "[OPTIONS] TARGET", .groups = CLI_G_GUEST,
            .min_operands = 1, .max_operands = 1, .opts = opts,
            .about =
                "List the guest's processes (thread-group leaders, pid 0 included) from the\n"
                "kernel's task list: pid, parent, user, state, start time (seconds since\n"
                "boot), threads, the page-table root (hex, as --root takes it; '-' for kernel\n"
                "threads, which have none), the task_struct address and the command line\n"
                "read from the process's own memory ([comm] for kernel threads).\n"
                "Needs no profile: the kernel's kallsyms and BTF are found in memory.",
        },
        .schema = &schema, .schema_for = schema_for, .walk = walk,
    };
    return cli_list(&ps, argc, argv);
}
