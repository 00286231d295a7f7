/* vmic threads: the threads of one process. */
#include <inttypes.h>

#include "cli_os.h"

static const char help[] =
    "usage: vmic threads [OPTIONS] TARGET PID\n\n"
    "List the threads of process PID (its thread group, leader first) with\n"
    "their thread ids, names, states and task_struct addresses.\n\n"
    "Options:\n" CLI_OS_COMMON_HELP;

typedef struct th_ctx {
    json *j;
    bool as_json;
    size_t n;
} th_ctx;

static int show(void *arg, const vmic_process_t *t)
{
    th_ctx *c = arg;
    c->n++;
    if (c->as_json) {
        char st[2] = {t->state, 0};
        json_object_begin(c->j, NULL);
        json_i64(c->j, "tid", t->pid);
        json_i64(c->j, "tgid", t->tgid);
        json_str(c->j, "comm", t->comm);
        json_str(c->j, "state", st);
        json_u64(c->j, "start_ns", t->start_ns);
        json_hex(c->j, "task", t->task.addr);
        json_object_end(c->j);
        return 0;
    }
    printf("%6d %6d %c %9.3f %18" PRIx64 "  %s\n", (int)t->pid, (int)t->tgid, t->state,
           (double)t->start_ns / 1e9, t->task.addr, t->comm);
    return 0;
}

int cmd_threads(int argc, char **argv)
{
    cli_os_opts o;
    vmic_core *core;
    vmic_os *os;
    vmic_process_t p;
    int rc = cli_os_parse("threads", argc, argv, help, &o);
    if (rc >= 0)
        return rc;
    if (argc - optind != 2)
        return cli_usage("threads", "needs TARGET and PID");
    if ((rc = cli_os_open("threads", argv[optind], &o, &core, &os)))
        return rc;
    if ((rc = cli_os_process("threads", os, argv[optind + 1], &p))) {
        cli_os_close(core, os);
        return rc;
    }
    json j;
    json_init(&j, stdout);
    th_ctx c = {.j = &j, .as_json = o.c.json};
    if (o.c.json)
        json_array_begin(&j, NULL);
    else
        printf("%6s %6s %c %9s %18s  %s\n", "TID", "PID", 'S', "START", "TASK", "NAME");
    vmic_status s = vmic_os_threads(os, &p, show, &c);
    if (o.c.json) {
        json_array_end(&j);
        json_done(&j);
    }
    rc = cli_os_walk_status("threads", s, c.n);
    cli_os_close(core, os);
    return rc;
}
