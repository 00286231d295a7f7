/* vmic maps: memory regions of a process, as /proc/PID/maps shows them. */
#include "cli_list.h"

static const cli_col cols[] = {
    {.key = "start", .type = CLI_COL_HEX, .digits = 8},
    {.key = "end", .type = CLI_COL_HEX, .digits = 8, .sep = "-"},
    {.key = "perms", .type = CLI_COL_STR},
    {.key = "offset", .type = CLI_COL_HEX, .digits = 8},
    {.key = "dev", .type = CLI_COL_STR},
    {.key = "inode", .type = CLI_COL_UINT},
    /* /proc/PID/maps pads the path to column 74. */
    {.key = "path", .type = CLI_COL_STR, .at = 73},
    {.key = "vma", .type = CLI_COL_HEX, .flags = CLI_COL_JSON_ONLY},
};
enum { START, END, PERMS, OFFSET, DEV, INODE, PATH, VMA, NCOLS };
static const cli_schema schema = {cols, NCOLS, NULL, true};

static int row(void *arg, const vmic_region_t *r)
{
    cli_walk *w = arg;
    char perms[5], dev[16];
    cli_perms(r, perms);
    snprintf(dev, sizeof dev, "%02x:%02x", r->dev_major, r->dev_minor);
    cli_val v[NCOLS] = {
        [START] = CLI_U(r->start.addr), [END] = CLI_U(r->end.addr), [PERMS] = CLI_S(perms),
        [OFFSET] = CLI_U(r->offset), [DEV] = CLI_S(dev), [INODE] = CLI_U(r->inode),
        [PATH] = CLI_S(r->path), [VMA] = CLI_U(r->vma.addr),
    };
    cli_rows_add(&w->rows, v);
    return 0;
}

static vmic_status walk(cli_walk *w)
{
    return vmic_os_regions(w->os, &w->proc, row, w);
}

int cmd_maps(int argc, char **argv)
{
    static const cli_list_cmd maps = {
        .spec = {
            .cmd = "maps", .usage = "[OPTIONS] TARGET PID", .groups = CLI_G_GUEST,
            .min_operands = 2, .max_operands = 2,
            .about = "List the memory regions (VMAs) of process PID in the format of\n"
                     "/proc/PID/maps: range, rights, file offset, device, inode and path.",
        },
        .schema = &schema, .per_process = true, .walk = walk,
    };
    return cli_list(&maps, argc, argv);
}
