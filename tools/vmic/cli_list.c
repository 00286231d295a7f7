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
    if (cmd->per_process && (rc = cli_os_process(name, w.os, argv[first + 1], &w.proc))) {
        cli_os_close(core, w.os);
        return rc;
    }
    cli_rows_begin(&w.rows, cmd->schema, c.json);
    vmic_status s = cmd->walk(&w);
    cli_rows_end(&w.rows);
    rc = cli_os_walk_status(name, s, w.rows.n);
    cli_os_close(core, w.os);
    return rc;
}
