/* vmic files: open files of a process. */
#include "cli_list.h"

static const cli_col cols[] = {
    {.head = "FD", .key = "fd", .type = CLI_COL_INT, .width = 4},
    {.head = "FLAGS", .key = "flags", .type = CLI_COL_OCT, .width = 8, .digits = 8},
    {.head = "POS", .key = "pos", .type = CLI_COL_UINT, .width = 10},
    {.head = "INODE", .key = "inode", .type = CLI_COL_UINT, .width = 8},
    {.head = "PATH", .key = "path", .type = CLI_COL_STR, .sep = "  "},
    {.key = "file", .type = CLI_COL_HEX, .flags = CLI_COL_JSON_ONLY},
};
enum { FD, FLAGS, POS, INODE, PATH, FILE_, NCOLS };
static const unsigned char json_order[] = {FD, PATH, FLAGS, POS, INODE, FILE_};
static const cli_schema schema = {cols, NCOLS, json_order, false};

static int row(void *arg, const vmic_open_file_t *f)
{
    cli_walk *w = arg;
    cli_val v[NCOLS] = {
        [FD] = CLI_I(f->fd), [FLAGS] = CLI_U(f->flags), [POS] = CLI_U(f->pos),
        [INODE] = CLI_U(f->inode), [PATH] = CLI_S(f->path), [FILE_] = CLI_U(f->file.addr),
    };
    cli_rows_add(&w->rows, v);
    return 0;
}

static vmic_status walk(cli_walk *w)
{
    return vmic_os_files(w->os, &w->proc, row, w);
}

int cmd_files(int argc, char **argv)
{
    static const cli_list_cmd files = {
        .spec = {
            .cmd = "files", .usage = "[OPTIONS] TARGET PID", .groups = CLI_G_GUEST,
            .min_operands = 2, .max_operands = 2,
            .about = "List the open file descriptors of process PID with what each refers to,\n"
                     "as the /proc/PID/fd links show it (a path, pipe:[N], socket:[N], ...),\n"
                     "and the open flags, position and inode.",
        },
        .schema = &schema, .per_process = true, .walk = walk,
    };
    return cli_list(&files, argc, argv);
}
