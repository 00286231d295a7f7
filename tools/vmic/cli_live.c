/*
 * What a live QEMU session left, said at the end of every command: the
 * driver fills cli_live_end when it closes (after detaching), and main()
 * reports it once the command is done. The run state comes from QEMU's
 * query-status at that moment, never from what vmic meant to leave.
 */
#include <string.h>

#include "cli.h"

vmic_qemu_end_t cli_live_end;

int cli_live_finish(const char *cmd, int rc)
{
    const vmic_qemu_end_t *e = &cli_live_end;
    if (!e->filled)
        return rc;
    if (e->qemu_gone) {
        fprintf(stderr, "vmic %s: QEMU is gone (%s): what was shown may be torn\n", cmd,
                e->gone_why);
        return rc ? rc : EXIT_FAIL;
    }
    if (!e->status_known) {
        fprintf(stderr, "vmic %s: QMP did not answer after detaching: the VM's run state is "
                "unknown\n", cmd);
        return rc;
    }
    if (e->shared)
        fprintf(stderr, "vmic %s: the gdbstub is held by %s: vmic read through QMP and the "
                "RAM file, the VM paused with QMP stop meanwhile\n", cmd, e->holder);
    /* While another client holds the gdbstub, its own stops are "debug". */
    bool fine = e->running || (e->shared && strcmp(e->status, "debug") == 0);
    if (e->found_running && !fine)
        fprintf(stderr, "vmic %s: the VM ran when vmic attached, and QEMU now says '%s' "
                "('vmic resume' brings it back)\n", cmd, e->status);
    else if (!e->found_running)
        fprintf(stderr, "vmic %s: the VM was not running when vmic attached, and QEMU says "
                "'%s'%s\n", cmd, e->status, e->running ? "" : " (as found)");
    else if (strcmp(cmd, "trace") == 0)
        fprintf(stderr, "vmic %s: detached; QEMU says the VM is %s\n", cmd, e->status);
    return rc;
}
