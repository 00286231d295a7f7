/* vmic env: a process's environment, from its own memory. */
#include <string.h>

#include "cli_list.h"

static const cli_col cols[] = {
    {.head = "VARIABLE", .type = CLI_COL_STR, .flags = CLI_COL_ESCAPE},
    {.key = "name", .type = CLI_COL_STR, .flags = CLI_COL_JSON_ONLY},
    {.key = "value", .type = CLI_COL_STR, .flags = CLI_COL_JSON_ONLY},
};
enum { VAR, NAME, VALUE, NCOLS };
static const unsigned char json_order[] = {VAR, NAME, VALUE};
_Static_assert(sizeof json_order == NCOLS, "json_order names every column once");
static const cli_schema schema = {cols, NCOLS, json_order, false};

static int row(void *arg, const char *var, size_t len)
{
    cli_walk *w = arg;
    const char *eq = memchr(var, '=', len);
    size_t name = eq ? (size_t)(eq - var) : len;
    cli_val v[NCOLS] = {
        [VAR] = CLI_SN(var, len), [NAME] = CLI_SN(var, name),
        [VALUE] = eq ? CLI_SN(eq + 1, len - name - 1) : CLI_SN("", 0),
    };
    cli_rows_add(&w->rows, v);
    return 0;
}

static vmic_status walk(cli_walk *w)
{
    return vmic_os_environ(w->os, &w->proc, row, w);
}

int cmd_env(int argc, char **argv)
{
    static const cli_list_cmd env = {
        .spec = {
            .cmd = "env", .usage = "[OPTIONS] TARGET PID", .groups = CLI_G_GUEST,
            .min_operands = 2, .max_operands = 2,
            .about = "Print the environment of process PID as /proc/PID/environ holds it: the\n"
                     "strings execve put on its stack (mm->env_start..env_end), one a line\n"
                     "(control bytes as \\xNN). With --json, each as name and value.",
        },
        .schema = &schema, .per_process = true, .walk = walk,
    };
    return cli_list(&env, argc, argv);
}
