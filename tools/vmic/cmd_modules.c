/* vmic modules: loaded kernel modules, as /proc/modules lists them. */
#include "cli_list.h"

static const cli_col cols[] = {
    {.head = "NAME", .key = "name", .type = CLI_COL_STR, .width = -24},
    {.head = "SIZE", .key = "size", .type = CLI_COL_UINT, .width = 8},
    {.head = "USED", .key = "refcount", .type = CLI_COL_INT, .width = 4},
    {.head = "BASE", .key = "base", .type = CLI_COL_HEX, .width = -18, .digits = 16,
     .flags = CLI_COL_0X},
    {.head = "STATE", .key = "state", .type = CLI_COL_STR, .width = -9},
    {.head = "MODULE", .key = "module", .type = CLI_COL_HEX, .digits = 16, .flags = CLI_COL_0X},
};
enum { NAME, SIZE, USED, BASE, STATE, MODULE, NCOLS };
static const cli_schema schema = {cols, NCOLS, NULL, false};

static const char *state_name(int32_t s)
{
    static const char *const names[] = {"Live", "Loading", "Unloading", "Unformed"};
    return s >= 0 && s < 4 ? names[s] : "?";
}

static int row(void *arg, const vmic_module_t *m)
{
    cli_walk *w = arg;
    cli_val v[NCOLS] = {
        [NAME] = CLI_S(m->name), [SIZE] = CLI_U(m->size), [BASE] = CLI_U(m->base.addr),
        [STATE] = CLI_S(state_name(m->state)), [MODULE] = CLI_U(m->module.addr),
        [USED] = {.i = m->refcount, .blank = m->refcount < 0},
    };
    cli_rows_add(&w->rows, v);
    return 0;
}

static vmic_status walk(cli_walk *w)
{
    return vmic_os_modules(w->os, row, w);
}

int cmd_modules(int argc, char **argv)
{
    static const cli_list_cmd modules = {
        .spec = {
            .cmd = "modules", .usage = "[OPTIONS] TARGET", .groups = CLI_G_GUEST,
            .min_operands = 1, .max_operands = 1,
            .about = "List the kernel's loaded modules from its module list: name, size and\n"
                     "base address as /proc/modules shows them, state and struct module address.",
        },
        .schema = &schema, .walk = walk,
    };
    return cli_list(&modules, argc, argv);
}
