/*
 * vmic check: integrity checks of a Linux guest that in-guest tools cannot
 * be trusted with, one row per anomaly, each check a row kind (see
 * vmic/os.h, "integrity checks"). Every check runs even when one before it
 * failed; one that failed is a row of its own ("error": which, and why).
 * Exits 0 when nothing was found, 3 when something was, 1 when a check
 * could not run (after the others).
 */
#include <inttypes.h>
#include <stdio.h>

#include "cli_os.h"
#include "cli_table.h"

#define EXIT_FOUND 3

static const cli_col cols[] = {
    {.head = "CHECK", .key = "check", .type = CLI_COL_STR, .width = -14},
    {.head = "NR", .key = "nr", .type = CLI_COL_INT, .width = 6},
    {.head = "NAME", .key = "name", .type = CLI_COL_STR, .width = -20,
     .flags = CLI_COL_ESCAPE},
    {.head = "ADDRESS", .key = "address", .type = CLI_COL_HEX, .width = 16, .digits = 16},
    {.head = "WHERE", .key = "where", .type = CLI_COL_STR, .flags = CLI_COL_ESCAPE},
};
enum { CHECK, NR, NAME, ADDRESS, WHERE, NCOLS };
static const cli_schema schema = {cols, NCOLS, NULL, false};

static int hook_row(void *arg, const vmic_syscall_hook_t *h)
{
    char where[96];
    if (h->module[0])
        snprintf(where, sizeof where, "module %s", h->module);
    else
        snprintf(where, sizeof where, "outside the kernel's text and every module");
    cli_val v[NCOLS] = {[CHECK] = CLI_S("syscall-table"), [NR] = CLI_I(h->nr),
                        [NAME] = CLI_S(h->name), [ADDRESS] = CLI_U(h->handler.addr),
                        [WHERE] = CLI_S(where)};
    cli_rows_add(arg, v);
    return 0;
}

static const char *kind_name(vmic_check_kind k)
{
    switch (k) {
    case VMIC_CHECK_HIDDEN_TASK: return "hidden-task";
    case VMIC_CHECK_HIDDEN_MODULE: return "hidden-module";
    case VMIC_CHECK_SHARED_CRED: return "shared-cred";
    case VMIC_CHECK_IDT: return "idt";
    case VMIC_CHECK_SYSCALL_ENTRY: return "syscall-entry";
    case VMIC_CHECK_OPS: return "ops";
    }
    return "?";
}

static int finding_row(void *arg, const vmic_check_finding_t *f)
{
    char where[320];
    if (f->module[0])
        snprintf(where, sizeof where, "%s (module %s)", f->detail, f->module);
    else
        snprintf(where, sizeof where, "%s", f->detail);
    cli_val v[NCOLS] = {[CHECK] = CLI_S(kind_name(f->kind)),
                        [NR] = (cli_val){.i = f->nr, .blank = f->nr < 0}, [NAME] = CLI_S(f->name),
                        [ADDRESS] = CLI_U(f->addr.addr), [WHERE] = CLI_S(where)};
    cli_rows_add(arg, v);
    return 0;
}

/* A check that could not run is a row too, so --json flags the result as
 * partial: which check, and why. */
static void error_row(cli_rows *rows, const char *what)
{
    cli_val v[NCOLS] = {[CHECK] = CLI_S("error"), [NR] = {.i = -1, .blank = true},
                        [NAME] = CLI_S(what), [ADDRESS] = {.blank = true},
                        [WHERE] = CLI_S(vmic_errmsg())};
    cli_rows_add(rows, v);
}

typedef vmic_status (*check_run)(vmic_os *, vmic_check_fn, void *, size_t *);

/* The checks after the syscall table's, in the order they run. */
static const struct {
    const char *what;   /* in the summary line */
    const char *unit;   /* what *checked counts */
    check_run run;
} checks[] = {
    {"tasks", "tasks in the pid IDR", vmic_os_check_tasks},
    {"modules", "modules seen", vmic_os_check_modules},
    {"credentials", "tasks looked at", vmic_os_check_creds},
    {"IDT", "present gates", vmic_os_check_idt},
    {"syscall entry", "LSTARs and entry instructions", vmic_os_check_syscall_entry},
    {"ops tables", "function pointers", vmic_os_check_ops},
};

int cmd_check(int argc, char **argv)
{
    const cli_spec spec = {
        .cmd = "check", .usage = "[OPTIONS] TARGET", .groups = CLI_G_GUEST,
        .min_operands = 1, .max_operands = 1,
        .about = "Check the guest's kernel for what a rootkit changes, a row per anomaly:\n"
                 "  syscall-table  an entry of sys_call_table outside the kernel's text\n"
                 "  hidden-task    a task in the pid IDR and not on the task list or its\n"
                 "                 thread list, or the other way round\n"
                 "  hidden-module  a module in sysfs and not on the module list, or the\n"
                 "                 other way round\n"
                 "  shared-cred    a struct cred held by two thread groups, or init_cred\n"
                 "                 by a task other than the idle ones\n"
                 "  idt            an IDT gate outside the kernel's text or off an entry\n"
                 "                 point; an IDTR that is not idt_table\n"
                 "  syscall-entry  LSTAR (where the driver has MSRs) not entry_SYSCALL_64;\n"
                 "                 entry_SYSCALL_64 starting with a jump out of the text\n"
                 "  ops            a function pointer of the /proc/net seq_operations, the\n"
                 "                 tty file_operations or a tty driver's ops outside the\n"
                 "                 kernel's text and every module\n"
                 "  error          a check that could not run, and why (the others do)\n"
                 "Exits 0 when nothing is found, 3 when something is, 1 when a check\n"
                 "could not run.",
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
    size_t checked = 0, found = 0;
    cli_rows_begin(&rows, &schema, c.json);
    vmic_status s = vmic_os_check_syscall_table(os, hook_row, &rows, &checked);
    if (s) {
        error_row(&rows, "syscall table");
        rc = cli_fail("check", s, "the syscall table");
    }
    else if (!c.json)
        fprintf(stderr, "vmic check: syscall table: %zu of %zu entries outside the kernel's "
                "text\n", rows.n, checked);
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        size_t before = rows.n;
        checked = 0;
        s = checks[i].run(os, finding_row, &rows, &checked);
        if (s) {
            error_row(&rows, checks[i].what);
            rc = cli_fail("check", s, "%s", checks[i].what);
        }
        else if (!c.json)
            fprintf(stderr, "vmic check: %s: %zu found, %zu %s\n", checks[i].what,
                    rows.n - before, checked, checks[i].unit);
    }
    found = rows.n;
    cli_rows_end(&rows);
    cli_os_close(core, os);
    return rc ? rc : found ? EXIT_FOUND : EXIT_OK;
}
