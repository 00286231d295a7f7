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
    bool all;             /* no PID operand where it is optional: every process */
    cli_rows rows;
} cli_walk;

typedef struct cli_list_cmd {
    cli_spec spec;            /* CLI_G_GUEST at least; TARGET, or TARGET PID */
    const cli_schema *schema;
    bool per_process;         /* the second operand is a PID */
    /* With per_process: the PID may be left out, and then the walk covers
     * every process (w->all) and the rows follow schema_all. */
    const cli_schema *schema_all;
    /* Or, when the rows depend on an option: the schema, once parsed. */
    const cli_schema *(*schema_for)(const cli_walk *w);
    /* Walks the guest, calling cli_rows_add(&w->rows, ...) for each row. */
    vmic_status (*walk)(cli_walk *w);
    /* A --pid option's destination: when it holds a pid (not UINT64_MAX),
     * that process is found into proc before anything is printed. */
    const uint64_t *pid_option;
} cli_list_cmd;

int cli_list(const cli_list_cmd *cmd, int argc, char **argv);

/*
 * Calls per for every process of the guest (pid order of the task list).
 * The processes are listed first, so per may walk the guest itself. A
 * process whose walk fails does not hide the others: the walk goes on, and
 * the first failure (its message naming the pid) is what this returns at
 * the end, so the command says its output is incomplete.
 */
typedef vmic_status (*cli_process_fn)(cli_walk *w, const vmic_process_t *p);
vmic_status cli_each_process(cli_walk *w, cli_process_fn per);

/* The rows of `vmic threads`, which `vmic ps --threads` shares. */
extern const cli_schema cli_thread_schema;
int cli_thread_row(void *walk, const vmic_process_t *t);

#endif
