/* vmic resume / vmic detach: a live QEMU back from whatever a session left
 * (a killed vmic, a killed or stuck gdb client, a forgotten QMP stop). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char resume_about[] =
    "Bring a live QEMU back to running, whatever was left on it: removes\n"
    "every gdb breakpoint and watchpoint and detaches (a fresh gdb connection\n"
    "sends '?' then 'D'), cuts off a gdb client that holds the gdbstub but\n"
    "is not a live vmic (HMP 'gdbserver' restarts the stub), then QMP 'cont'\n"
    "if the VM is still not running. It says what it found and what it did,\n"
    "and ends with QEMU's own run state (query-status).";

static const char detach_about[] =
    "Like 'vmic resume', but the run state is left as the user had it: a VM\n"
    "stopped only by a debugger (status 'debug') runs on, one paused with\n"
    "QMP 'stop' (status 'paused') stays paused, without any breakpoint or\n"
    "gdb client left.";

static void print_json(const char *target, const vmic_qemu_recovery_t *r, vmic_status s)
{
    json j;
    json_init(&j, stdout);
    json_object_begin(&j, NULL);
    json_str(&j, "target", target);
    json_str(&j, "found_status", r->found_status);
    json_bool(&j, "stub_busy", r->stub_busy);
    if (r->holder[0])
        json_str(&j, "holder", r->holder);
    json_array_begin(&j, "steps");
    for (const char *p = r->report; *p;) {
        size_t n = strcspn(p, "\n");
        json_strn(&j, NULL, p, n);
        p += n + (p[n] == '\n');
    }
    json_array_end(&j);
    if (s == VMIC_OK) {
        json_str(&j, "status", r->status);
        json_bool(&j, "running", r->running);
    } else {
        json_str(&j, "error", vmic_errmsg());
    }
    json_object_end(&j);
    json_done(&j);
}

static int run(const char *cmd, const char *about, bool resume, int argc, char **argv)
{
    bool force = false;
    uint64_t timeout_ms = 0;
    const cli_opt opts[] = {
        CLI_FLAG("force", 0, &force, "also cut off a live vmic that holds the gdbstub"),
        CLI_U64("timeout", 0, "MS", &timeout_ms, 1, 3600000,
                "longest wait for a reply from QEMU (default 5000)"),
        CLI_END,
    };
    const cli_spec spec = {
        .cmd = cmd, .usage = "[OPTIONS] TARGET", .about = about, .opts = opts,
        .groups = CLI_G_JSON, .min_operands = 1, .max_operands = 1,
        .epilog = "TARGET is a live QEMU: qemu:DIR or qemu:gdb=EP,qmp=EP,mem=FILE.\n",
    };
    cli_common c = {0};
    vmic_qemu_recovery_t r;
    int first = cli_parse(&spec, argc, argv, &c);
    if (first < 0)
        return -first;
    const char *target = argv[first];
    if (!vmic_qemu_is_target(target))
        return cli_usage(cmd, "'%s' is not a live QEMU target (qemu:DIR or qemu:gdb=...)",
                         target);
    vmic_status s = vmic_qemu_recover(target, resume, force, (unsigned)timeout_ms, &r);
    if (c.json)
        print_json(target, &r, s);
    else
        fputs(r.report, stdout);
    if (s)
        return cli_fail(cmd, s, NULL);
    return EXIT_OK;
}

int cmd_resume(int argc, char **argv)
{
    return run("resume", resume_about, true, argc, argv);
}

int cmd_detach(int argc, char **argv)
{
    return run("detach", detach_about, false, argc, argv);
}
