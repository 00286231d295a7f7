/*
 * vmic check: integrity checks of a Linux guest that in-guest tools cannot
 * be trusted with, one row per anomaly. Today: the system-call table
 * (vmic_os_check_syscall_table). Exits 0 when nothing was found, 3 when
 * something was, 1 when a check could not run.
 */
#include <inttypes.h>
#include <stdio.h>

#include "cli_os.h"
#include "cli_table.h"

#define EXIT_FOUND 3

static const cli_col cols[] = {
    {.head = "CHECK", .key = "check", .type = CLI_COL_STR, .width = -14},
    {.head = "NR", .key = "nr", .type = CLI_COL_UINT, .width = 4},
    {.head = "NAME", .key = "name", .type = CLI_COL_STR, .width = -20},
    {.head = "POINTS TO", .key = "handler", .type = CLI_COL_HEX, .width = 16, .digits = 16},
    {.head = "WHERE", .key = "where", .type = CLI_COL_STR},
};
enum { CHECK, NR, NAME, HANDLER, WHERE, NCOLS };
static const cli_schema schema = {cols, NCOLS, NULL, false};

static int hook_row(void *arg, const vmic_syscall_hook_t *h)
{
    char where[96];
    if (h->module[0])
        snprintf(where, sizeof where, "module %s", h->module);
    else
        snprintf(where, sizeof where, "outside the kernel's text and every module");
    cli_val v[NCOLS] = {[CHECK] = CLI_S("syscall-table"), [NR] = CLI_U(h->nr),
                        [NAME] = CLI_S(h->name), [HANDLER] = CLI_U(h->handler.addr),
                        [WHERE] = CLI_S(where)};
    cli_rows_add(arg, v);
    return 0;
}

int cmd_check(int argc, char **argv)
{
    const cli_spec spec = {
        .cmd = "check", .usage = "[OPTIONS] TARGET", .groups = CLI_G_GUEST,
        .min_operands = 1, .max_operands = 1,
        .about = "Check the guest's kernel for what a rootkit changes: today every entry\n"
                 "of the system-call table, read from memory, must point into the\n"
                 "kernel's text; one that points into a module or elsewhere is a row.\n"
                 "Exits 0 when nothing is found, 3 when something is, 1 on an error.",
    };
    cli_common c = {0};
    vmic_core *core;
    vmic_os *os;
    int first = cli_parse(&spec, argc, argv, &c);
    if (first < 0)
        return -first;
    int rc = cli_os_open("check", argv[first], &c, &core, &os);
    if (rc)
        return rc;
    cli_rows rows;
    size_t checked = 0;
    cli_rows_begin(&rows, &schema, c.json);
    vmic_status s = vmic_os_check_syscall_table(os, hook_row, &rows, &checked);
    size_t found = rows.n;
    cli_rows_end(&rows);
    if (s)
        rc = cli_fail("check", s, NULL);
    else if (!c.json)
        fprintf(stderr, "vmic check: syscall table: %zu of %zu entries outside the kernel's "
                "text\n", found, checked);
    cli_os_close(core, os);
    return rc ? rc : found ? EXIT_FOUND : EXIT_OK;
}
