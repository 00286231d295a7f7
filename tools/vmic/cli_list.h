/*
 * What every list command of a Linux guest does (ps, threads, modules,
 * maps, files, dmesg): parse its options, open TARGET and the OS layer,
 * find the process of a PID operand, walk, print each row once through the
 * column schema, and end by saying whether the walk was complete.
 */
#ifndef VMIC_TOOL_CLI_LIST_H
#define VMIC_TOOL_CLI_LIST_H

#include "cli_os.h"
#include "cli_table.h"

typedef struct cli_walk {
    vmic_os *os;
    vmic_process_t proc;  /* the PID operand's process, for per-process lists */
    bool have_proc;       /* proc is set (the PID operand, or a --pid option) */
    cli_rows rows;
} cli_walk;

typedef struct cli_list_cmd {
    cli_spec spec;            /* CLI_G_GUEST at least; TARGET, or TARGET PID */
    const cli_schema *schema;
    bool per_process;         /* the second operand is a PID */
    /* Walks the guest, calling cli_rows_add(&w->rows, ...) for each row. */
    vmic_status (*walk)(cli_walk *w);
    /* A --pid option's destination: when it holds a pid (not UINT64_MAX),
     * that process is found into proc before anything is printed. */
    const uint64_t *pid_option;
} cli_list_cmd;

int cli_list(const cli_list_cmd *cmd, int argc, char **argv);

#endif
