/* vmic files: open files of a process. */
#include <inttypes.h>

#include "cli_os.h"

static const char help[] =
    "usage: vmic files [OPTIONS] TARGET PID\n\n"
    "List the open file descriptors of process PID with what each refers to,\n"
    "as the /proc/PID/fd links show it (a path, pipe:[N], socket:[N], ...),\n"
    "and the open flags, position and inode.\n\n"
    "Options:\n" CLI_OS_COMMON_HELP;

typedef struct files_ctx {
    json *j;
    bool as_json;
    size_t n;
} files_ctx;

static int show(void *arg, const vmic_open_file_t *f)
{
    files_ctx *c = arg;
    c->n++;
    if (c->as_json) {
        json_object_begin(c->j, NULL);
        json_i64(c->j, "fd", f->fd);
        json_str(c->j, "path", f->path);
        json_u64(c->j, "flags", f->flags);
        json_u64(c->j, "pos", f->pos);
        json_u64(c->j, "inode", f->inode);
        json_hex(c->j, "file", f->file.addr);
        json_object_end(c->j);
        return 0;
    }
    printf("%4d %08o %10" PRIu64 " %8" PRIu64 "  %s\n", (int)f->fd, f->flags, f->pos, f->inode,
           f->path);
    return 0;
}

int cmd_files(int argc, char **argv)
{
    cli_os_opts o;
    vmic_core *core;
    vmic_os *os;
    vmic_process_t p;
    int rc = cli_os_parse("files", argc, argv, help, &o);
    if (rc >= 0)
        return rc;
    if (argc - optind != 2)
        return cli_usage("files", "needs TARGET and PID");
    if ((rc = cli_os_open("files", argv[optind], &o, &core, &os)))
        return rc;
    if ((rc = cli_os_process("files", os, argv[optind + 1], &p))) {
        cli_os_close(core, os);
        return rc;
    }
    json j;
    json_init(&j, stdout);
    files_ctx c = {.j = &j, .as_json = o.c.json};
    if (o.c.json)
        json_array_begin(&j, NULL);
    else
        printf("%4s %8s %10s %8s  %s\n", "FD", "FLAGS", "POS", "INODE", "PATH");
    vmic_status s = vmic_os_files(os, &p, show, &c);
    if (o.c.json) {
        json_array_end(&j);
        json_done(&j);
    }
    rc = cli_os_walk_status("files", s, c.n);
    cli_os_close(core, os);
    return rc;
}
