/* vmic files: open files of a process, or of every process (lsof). */
#include "cli_list.h"

/* Every process's files: the pid and comm, then the columns of one
 * process's listing (the table of `vmic files TARGET PID` is cols + 2). */
static const cli_col cols[] = {
    {.head = "PID", .key = "pid", .type = CLI_COL_INT, .width = 6},
    {.head = "COMMAND", .key = "comm", .type = CLI_COL_STR, .width = -16},
    {.head = "FD", .key = "fd", .type = CLI_COL_INT, .width = 4},
    {.head = "FLAGS", .key = "flags", .type = CLI_COL_OCT, .width = 8, .digits = 8},
    {.head = "POS", .key = "pos", .type = CLI_COL_UINT, .width = 10},
    {.head = "INODE", .key = "inode", .type = CLI_COL_UINT, .width = 8},
    {.head = "PATH", .key = "path", .type = CLI_COL_STR, .sep = "  "},
    {.key = "file", .type = CLI_COL_HEX, .flags = CLI_COL_JSON_ONLY},
};
enum { PID, COMM, FD, FLAGS, POS, INODE, PATH, FILE_, NCOLS };
#define ONE 2 /* columns before FD: only in the listing of every process */
static const unsigned char json_order_all[] = {PID, COMM, FD, PATH, FLAGS, POS, INODE, FILE_};
static const unsigned char json_order_one[] = {FD - ONE, PATH - ONE, FLAGS - ONE, POS - ONE,
                                               INODE - ONE, FILE_ - ONE};
static const cli_schema schema_all = {cols, NCOLS, json_order_all, false};
static const cli_schema schema_one = {cols + ONE, NCOLS - ONE, json_order_one, false};

typedef struct files_walk {
    cli_walk *w;
    const vmic_process_t *p;
} files_walk;

static int row(void *arg, const vmic_open_file_t *f)
{
    files_walk *fw = arg;
    cli_val v[NCOLS] = {
        [PID] = CLI_I(fw->p->tgid), [COMM] = CLI_S(fw->p->comm),
        [FD] = CLI_I(f->fd), [FLAGS] = CLI_U(f->flags), [POS] = CLI_U(f->pos),
        [INODE] = CLI_U(f->inode), [PATH] = CLI_S(f->path), [FILE_] = CLI_U(f->file.addr),
    };
    cli_rows_add(&fw->w->rows, fw->w->all ? v : v + ONE);
    return 0;
}

static vmic_status files_of(cli_walk *w, const vmic_process_t *p)
{
    files_walk fw = {w, p};
    return vmic_os_files(w->os, p, row, &fw);
}

static vmic_status walk(cli_walk *w)
{
    return w->all ? cli_each_process(w, files_of) : files_of(w, &w->proc);
}

int cmd_files(int argc, char **argv)
{
    static const cli_list_cmd files = {
        .spec = {
            .cmd = "files", .usage = "[OPTIONS] TARGET [PID]", .groups = CLI_G_GUEST,
            .min_operands = 1, .max_operands = 2,
            .about = "List the open file descriptors of process PID with what each refers to,\n"
                     "as the /proc/PID/fd links show it (a path, \"/path (deleted)\", pipe:[N],\n"
                     "socket:[N], anon_inode:[eventfd], ...), and the open flags, position and\n"
                     "inode. Without PID, those of every process, each line with its pid and\n"
                     "command (what lsof lists); a process whose files cannot be read is\n"
                     "reported at the end, after the others.",
        },
        .schema = &schema_one, .schema_all = &schema_all, .per_process = true, .walk = walk,
    };
    return cli_list(&files, argc, argv);
}
