/* vmic threads: the threads of one process. */
#include "cli_list.h"

static const cli_col cols[] = {
    {.head = "TID", .key = "tid", .type = CLI_COL_INT, .width = 6},
    {.head = "PID", .key = "tgid", .type = CLI_COL_INT, .width = 6},
    {.head = "S", .key = "state", .type = CLI_COL_STR, .width = 1},
    {.head = "START", .key = "start_ns", .type = CLI_COL_SECONDS, .width = 9},
    {.head = "TASK", .key = "task", .type = CLI_COL_HEX, .width = 18},
    {.head = "NAME", .key = "comm", .type = CLI_COL_STR, .sep = "  "},
};
enum { TID, TGID, STATE, START, TASK, COMM, NCOLS };
static const unsigned char json_order[] = {TID, TGID, COMM, STATE, START, TASK};
const cli_schema cli_thread_schema = {cols, NCOLS, json_order, false};

int cli_thread_row(void *arg, const vmic_process_t *t)
{
    cli_walk *w = arg;
    char state[2] = {t->state, 0};
    cli_val v[NCOLS] = {
        [TID] = CLI_I(t->pid), [TGID] = CLI_I(t->tgid), [STATE] = CLI_S(state),
        [START] = CLI_U(t->start_ns), [TASK] = CLI_U(t->task.addr), [COMM] = CLI_S(t->comm),
    };
    cli_rows_add(&w->rows, v);
    return 0;
}

static vmic_status walk(cli_walk *w)
{
    return vmic_os_threads(w->os, &w->proc, cli_thread_row, w);
}

int cmd_threads(int argc, char **argv)
{
    static const cli_list_cmd threads = {
        .spec = {
            .cmd = "threads", .usage = "[OPTIONS] TARGET PID", .groups = CLI_G_GUEST,
            .min_operands = 2, .max_operands = 2,
            .about = "List the threads of process PID (its thread group, leader first) with\n"
                     "their thread ids, names, states and task_struct addresses.",
        },
        .schema = &cli_thread_schema, .per_process = true, .walk = walk,
    };
    return cli_list(&threads, argc, argv);
}
