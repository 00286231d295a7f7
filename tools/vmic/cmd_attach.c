/* vmic attach: a QEMU someone else started, by its three endpoints. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char about[] =
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
    "For fast tracing add vmic's QEMU plugin (TCG only; vmic boot does this):\n"
    "  -plugin LIBDIR/vmic/libvmic-qemu.so,ram=FILE,ctl=DIR/plugin.ctl\n"
    "with FILE the mem-path above and DIR the gdb socket's directory: vmic\n"
    "looks for the plugin's control block there ('vmic info' says if found),\n"
    "and `vmic trace` then stops only the vCPU at a breakpoint, not the VM.\n"
    "A gdbstub that has a client already is refused, naming the holder.";

int cmd_attach(int argc, char **argv)
{
    struct { const char *gdb, *qmp, *mem; uint64_t timeout_ms; } o = {0};
    const cli_opt opts[] = {
        CLI_STR("gdb", 0, "EP", &o.gdb, "the gdbstub: unix:PATH, a socket path, HOST:PORT"),
        CLI_STR("qmp", 0, "EP", &o.qmp, "the QMP socket, same forms"),
        CLI_STR("mem", 0, "FILE", &o.mem, "the file behind guest RAM (mem-path=)"),
        CLI_U64("timeout", 0, "MS", &o.timeout_ms, 1, 3600000,
                "longest wait for a reply from QEMU (default 5000)"),
        CLI_END,
    };
    const cli_spec spec = {
        .cmd = "attach", .usage = "[OPTIONS] --gdb EP --qmp EP --mem FILE", .about = about,
        .opts = opts, .groups = CLI_G_JSON,
    };
    cli_common c = {0};
    vmic_driver *drv;
    vmic_core *core;
    vmic_status s;
    int first;

    if ((first = cli_parse(&spec, argc, argv, &c)) < 0)
        return -first;
    if (!o.gdb || !o.qmp || !o.mem)
        return cli_usage("attach", "--gdb, --qmp and --mem are all needed");
    /* The TARGET string separates its items with commas. */
    if (strchr(o.gdb, ',') || strchr(o.qmp, ',') || strchr(o.mem, ','))
        return cli_usage("attach", "endpoints and the RAM file path must not contain ','");

    vmic_qemu_config_t cfg = {
        .gdb = o.gdb, .qmp = o.qmp, .mem = o.mem, .timeout_ms = (unsigned)o.timeout_ms,
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
