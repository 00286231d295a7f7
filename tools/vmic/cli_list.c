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
    char pid[24] = "";
    if (cmd->pid_option && *cmd->pid_option != UINT64_MAX)
        snprintf(pid, sizeof pid, "%llu", (unsigned long long)*cmd->pid_option);
    if (cmd->per_process || *pid) {
        rc = cli_os_process(name, w.os, *pid ? pid : argv[first + 1], &w.proc);
        if (rc) {
            cli_os_close(core, w.os);
            return rc;
        }
        w.have_proc = true;
    }
    cli_rows_begin(&w.rows, cmd->schema, c.json);
    vmic_status s = cmd->walk(&w);
    cli_rows_end(&w.rows);
    rc = cli_os_walk_status(name, s, w.rows.n);
    cli_os_close(core, w.os);
    return rc;
}
