#include <stdlib.h>
#include <string.h>

#include "cli_list.h"

int cli_list(const cli_list_cmd *cmd, int argc, char **argv)
{
    const char *name = cmd->spec.cmd;
    cli_common c = {0};
    cli_walk w = {0};
    vmic_core *core;
    int first = cli_parse(&cmd->spec, argc, argv, &c);
    if (first < 0)
        return -first;
    int rc = cli_os_open(name, argv[first], &c, &core, &w.os);
    if (rc)
        return rc;
    /* The process: a --pid option's, else the PID operand's, unless the
     * operand is optional and left out (every process). */
    char pid[24] = "";
    if (cmd->pid_option && *cmd->pid_option != UINT64_MAX)
        snprintf(pid, sizeof pid, "%llu", (unsigned long long)*cmd->pid_option);
    w.all = cmd->per_process && cmd->schema_all && argc - first < 2;
    if ((cmd->per_process && !w.all) || *pid) {
        rc = cli_os_process(name, w.os, *pid ? pid : argv[first + 1], &w.proc);
        if (rc) {
            cli_os_close(core, w.os);
            return rc;
        }
        w.have_proc = true;
    }
    const cli_schema *schema = w.all ? cmd->schema_all : cmd->schema;
    cli_rows_begin(&w.rows, cmd->schema_for ? cmd->schema_for(&w) : schema, c.json);
    vmic_status s = cmd->walk(&w);
    cli_rows_end(&w.rows);
    rc = cli_os_walk_status(name, s, w.rows.n);
    cli_os_close(core, w.os);
    return rc;
}

typedef struct proc_list {
    vmic_process_t *v;
    size_t n, cap;
} proc_list;

static int collect(void *arg, const vmic_process_t *p)
{
    proc_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        vmic_process_t *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return 1; /* out of memory: the processes so far */
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *p;
    return 0;
}

vmic_status cli_each_process(cli_walk *w, cli_process_fn per)
{
    proc_list l = {0};
    vmic_status first = vmic_os_processes(w->os, collect, &l);
    char msg[1024] = "";
    if (first)
        snprintf(msg, sizeof msg, "%s", vmic_errmsg());
    for (size_t i = 0; i < l.n; i++) {
        vmic_status s = per(w, &l.v[i]);
        if (s && !first) {
            /* Named by pid, unless the library's message does it already. */
            char pid[32];
            snprintf(pid, sizeof pid, "pid %d: ", (int)l.v[i].tgid);
            first = s;
            snprintf(msg, sizeof msg, "%s%s", strstr(vmic_errmsg(), pid) ? "" : pid,
                     vmic_errmsg());
        }
    }
    free(l.v);
    return first ? vmic_fail(first, "%s", msg) : VMIC_OK;
}
