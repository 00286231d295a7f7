/* vmic attach: a QEMU someone else started, by its three endpoints. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: vmic attach [OPTIONS] --gdb EP --qmp EP --mem FILE\n\n"
    "Attach to a running QEMU, check that its memory and registers are\n"
    "reachable, and show what 'vmic info' shows. The first line is the TARGET\n"
    "that every other command accepts for this QEMU. The VM is paused while\n"
    "vmic looks and resumed afterwards if it was running.\n\n"
    "QEMU must have been started with:\n"
    "  -gdb unix:GDB,server=on,wait=off        (or -gdb tcp::1234)\n"
    "  -qmp unix:QMP,server=on,wait=off\n"
    "  -object memory-backend-file,id=ram0,size=SIZE,mem-path=FILE,share=on\n"
    "  -machine memory-backend=ram0\n"
    "(QMP serves one client at a time: vmic uses it only while attaching.)\n"
    "A gdbstub that has a client already is refused, naming the holder.\n\n"
    "Options:\n"
    "      --gdb EP        the gdbstub: unix:PATH, a socket path, HOST:PORT\n"
    "      --qmp EP        the QMP socket, same forms\n"
    "      --mem FILE      the file behind guest RAM (mem-path=)\n"
    "      --timeout MS    longest wait for a reply from QEMU (default 5000)\n"
    "  -h, --help          show this help\n"
    "      --json          print JSON instead of a table\n";

typedef struct attach_opts {
    const char *gdb, *qmp, *mem;
    unsigned timeout_ms;
} attach_opts;

enum { OPT_GDB = 1000, OPT_QMP, OPT_MEM, OPT_TIMEOUT };

static int attach_option(void *arg, int opt, const char *value)
{
    attach_opts *o = arg;
    uint64_t v;

    switch (opt) {
    case OPT_GDB:
        o->gdb = value;
        return 0;
    case OPT_QMP:
        o->qmp = value;
        return 0;
    case OPT_MEM:
        o->mem = value;
        return 0;
    case OPT_TIMEOUT:
        if (!cli_parse_u64(value, &v) || v == 0 || v > 3600000)
            return cli_usage("attach", "--timeout wants milliseconds, not '%s'", value);
        o->timeout_ms = (unsigned)v;
        return 0;
    }
    return cli_usage("attach", "unexpected option");
}

int cmd_attach(int argc, char **argv)
{
    static const struct option own[] = {
        {"gdb", required_argument, NULL, OPT_GDB},
        {"qmp", required_argument, NULL, OPT_QMP},
        {"mem", required_argument, NULL, OPT_MEM},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {0},
    };
    attach_opts o = {0};
    cli_common c = {0};
    vmic_driver *drv;
    vmic_core *core;
    vmic_status s;
    int first;

    if ((first = cli_parse("attach", help, argc, argv, own, NULL, attach_option, &o, &c, 0, 0)) <
        0)
        return -first;
    if (!o.gdb || !o.qmp || !o.mem)
        return cli_usage("attach", "--gdb, --qmp and --mem are all needed");
    /* The TARGET string separates its items with commas. */
    if (strchr(o.gdb, ',') || strchr(o.qmp, ',') || strchr(o.mem, ','))
        return cli_usage("attach", "endpoints and the RAM file path must not contain ','");

    vmic_qemu_config_t cfg = {
        .gdb = o.gdb, .qmp = o.qmp, .mem = o.mem, .timeout_ms = o.timeout_ms,
        .stay_paused = true, .guard = true, .end = &cli_live_end,
    };
    if ((s = vmic_qemu_open(&cfg, &drv)))
        return cli_fail("attach", s, NULL);
    if ((s = vmic_core_open(drv, NULL, &core)))
        return cli_fail("attach", s, "cannot start a session");
    int rc = info_report("attach", core, &c);
    vmic_core_close(core);
    return rc;
}
