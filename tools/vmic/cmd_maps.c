/* vmic maps: memory regions of a process, as /proc/PID/maps shows them. */
#include <inttypes.h>

#include "cli_os.h"

static const char help[] =
    "usage: vmic maps [OPTIONS] TARGET PID\n\n"
    "List the memory regions (VMAs) of process PID in the format of\n"
    "/proc/PID/maps: range, rights, file offset, device, inode and path.\n\n"
    "Options:\n" CLI_OS_COMMON_HELP;

typedef struct maps_ctx {
    json *j;
    bool as_json;
    size_t n;
} maps_ctx;

static int show(void *arg, const vmic_region_t *r)
{
    maps_ctx *c = arg;
    char perms[5];
    c->n++;
    cli_perms(r, perms);
    if (c->as_json) {
        char dev[16];
        snprintf(dev, sizeof dev, "%02x:%02x", r->dev_major, r->dev_minor);
        json_object_begin(c->j, NULL);
        json_hex(c->j, "start", r->start.addr);
        json_hex(c->j, "end", r->end.addr);
        json_str(c->j, "perms", perms);
        json_hex(c->j, "offset", r->offset);
        json_str(c->j, "dev", dev);
        json_u64(c->j, "inode", r->inode);
        json_str(c->j, "path", r->path);
        json_hex(c->j, "vma", r->vma.addr);
        json_object_end(c->j);
        return 0;
    }
    /* /proc/PID/maps pads the path to column 74. */
    int w = printf("%08" PRIx64 "-%08" PRIx64 " %s %08" PRIx64 " %02x:%02x %" PRIu64 " ",
                   r->start.addr, r->end.addr, perms, r->offset, r->dev_major, r->dev_minor,
                   r->inode);
    if (r->path[0])
        printf("%*s%s", w < 73 ? 73 - w : 0, "", r->path);
    putchar('\n');
    return 0;
}

int cmd_maps(int argc, char **argv)
{
    cli_os_opts o;
    vmic_core *core;
    vmic_os *os;
    vmic_process_t p;
    int rc = cli_os_parse("maps", argc, argv, help, &o);
    if (rc >= 0)
        return rc;
    if (argc - optind != 2)
        return cli_usage("maps", "needs TARGET and PID");
    if ((rc = cli_os_open("maps", argv[optind], &o, &core, &os)))
        return rc;
    if ((rc = cli_os_process("maps", os, argv[optind + 1], &p))) {
        cli_os_close(core, os);
        return rc;
    }
    json j;
    json_init(&j, stdout);
    maps_ctx c = {.j = &j, .as_json = o.c.json};
    if (o.c.json)
        json_array_begin(&j, NULL);
    vmic_status s = vmic_os_regions(os, &p, show, &c);
    if (o.c.json) {
        json_array_end(&j);
        json_done(&j);
    }
    rc = cli_os_walk_status("maps", s, c.n);
    cli_os_close(core, os);
    return rc;
}
