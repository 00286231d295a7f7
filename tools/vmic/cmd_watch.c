/*
 * vmic watch: each execution of an instruction address, through vmic's QEMU
 * plugin (vmic boot --plugin), one line an event, strace-like, while the
 * guest keeps running. A debug command for the plugin path: no registers,
 * no decoding of what the guest does.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_space.h"
#include "cli_table.h"

#define WATCH_MAX 16

typedef struct watch_list {
    const char *text[WATCH_MAX];  /* as given: a pa, or a symbol */
    bool symbol[WATCH_MAX];
    int n;
} watch_list;

static int add_pa(const char *cmd, const char *value, void *dst)
{
    watch_list *l = dst;
    uint64_t v;
    if (!cli_parse_u64(value, &v))
        return cli_usage(cmd, "--pa wants a guest-physical address, not '%s'", value);
    if (l->n == WATCH_MAX)
        return cli_usage(cmd, "at most %d addresses", WATCH_MAX);
    l->text[l->n++] = value;
    return 0;
}

static int add_symbol(const char *cmd, const char *value, void *dst)
{
    watch_list *l = dst;
    if (l->n == WATCH_MAX)
        return cli_usage(cmd, "at most %d addresses", WATCH_MAX);
    l->symbol[l->n] = true;
    l->text[l->n++] = value;
    return 0;
}

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* The kernel symbols' pas, through the guest's page tables: the OS layer
 * opens the target once (the gdbstub for a moment), then lets it go. */
static int resolve(const char *target, const cli_common *c, const watch_list *l, vmic_pa_t *pa)
{
    bool need_os = false;
    for (int i = 0; i < l->n; i++) {
        if (!l->symbol[i]) {
            uint64_t v = 0;
            cli_parse_u64(l->text[i], &v);
            pa[i] = vmic_pa(v);
        }
        need_os |= l->symbol[i];
    }
    if (!need_os)
        return EXIT_OK;
    cli_space sp;
    int rc = cli_space_open("watch", target, c, true, false, &sp);
    if (rc)
        return rc;
    for (int i = 0; i < l->n && rc == EXIT_OK; i++) {
        vmic_va_t va;
        vmic_status s;
        const char *root;
        if (!l->symbol[i])
            continue;
        if ((s = vmic_os_symbol(sp.os, l->text[i], &va)))
            rc = cli_fail("watch", s, "--symbol %s", l->text[i]);
        else if ((s = vmic_translate(sp.core, cli_space_ctx(&sp, va.addr, &root), va, &pa[i])))
            rc = cli_fail("watch", s, "--symbol %s: 0x%" PRIx64 " does not translate",
                          l->text[i], va.addr);
    }
    cli_space_close(&sp);
    return rc;
}

static const cli_col cols[] = {
    {.head = "VCPU", .key = "vcpu", .type = CLI_COL_UINT, .width = 4},
    {.head = "SEQ", .key = "seq", .type = CLI_COL_UINT, .width = 8},
    {.head = "PC", .key = "pc", .type = CLI_COL_HEX, .width = 18, .digits = 16,
     .flags = CLI_COL_0X},
    {.head = "PA", .key = "pa", .type = CLI_COL_HEX, .width = 12, .flags = CLI_COL_0X},
    {.head = "WATCH", .key = "watch", .type = CLI_COL_STR, .width = -1},
    {.key = "registers", .type = CLI_COL_BOOL, .flags = CLI_COL_JSON_ONLY},
};

/* Which watch an event's pa is: the name it was given. */
static const char *label(const watch_list *l, const vmic_pa_t *pa, vmic_pa_t at)
{
    for (int i = 0; i < l->n; i++)
        if (pa[i].addr == at.addr)
            return l->text[i];
    return "?";
}

int cmd_watch(int argc, char **argv)
{
    watch_list l = {0};
    uint64_t count = 0, timeout_ms = 5000;
    const cli_opt opts[] = {
        CLI_FN("pa", 0, "PA", add_pa, &l, "watch this guest-physical instruction address\n"
               "(repeatable)"),
        CLI_FN("symbol", 0, "NAME", add_symbol, &l, "watch a kernel symbol's first instruction\n"
               "(repeatable; opens the OS layer once)"),
        CLI_U64("count", 0, "N", &count, 1, UINT64_MAX, "stop after N events"),
        CLI_U64("timeout", 0, "MS", &timeout_ms, 1, 3600000,
                "longest wait for the plugin and QMP (default 5000)"),
        CLI_END,
    };
    const cli_spec spec = {
        .cmd = "watch", .usage = "[OPTIONS] (--pa PA | --symbol NAME)... TARGET",
        .about = "Print each execution of the watched addresses in a live QEMU through\n"
                 "vmic's plugin (the guest booted with 'vmic boot --plugin'), while the\n"
                 "guest runs: vCPU, the event's sequence number on it, pc, pa, and which\n"
                 "watch. Events carry no registers. SIGINT, SIGTERM or --count end it;\n"
                 "the plugin removes the watches when vmic exits, even when killed.",
        .opts = opts, .groups = CLI_G_JSON | CLI_G_TARGET_HELP,
        .json_help = "print one JSON array of events (flushed per event)",
        .min_operands = 1, .max_operands = 1,
    };
    cli_common c = {0};
    vmic_pa_t pa[WATCH_MAX];
    vmic_qemu_watch_t *w;
    vmic_status s;
    int first, rc;

    if ((first = cli_parse(&spec, argc, argv, &c)) < 0)
        return -first;
    if (l.n == 0)
        return cli_usage("watch", "nothing to watch: give --pa PA or --symbol NAME");
    const char *target = argv[first];
    if (!vmic_qemu_is_target(target))
        return cli_usage("watch", "%s: a live QEMU (qemu:DIR) is needed", target);
    if ((rc = resolve(target, &c, &l, pa)))
        return rc;

    struct sigaction sa = {.sa_handler = on_signal};  /* no SA_RESTART: waits end */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if ((s = vmic_qemu_watch_open(target, pa, (uint32_t)l.n, (unsigned)timeout_ms, &w)))
        return cli_fail("watch", s, NULL);
    /* On stderr even with --json: that the watches are in force. */
    for (int i = 0; i < l.n; i++)
        fprintf(stderr, "watching %s at pa 0x%" PRIx64 "\n", l.text[i], pa[i].addr);

    const cli_schema schema = {.cols = cols, .ncols = sizeof cols / sizeof cols[0]};
    cli_rows rows;
    uint64_t shown = 0;
    cli_rows_begin(&rows, &schema, c.json);
    fflush(stdout);
    rc = EXIT_OK;
    /* After a signal, what the plugin made before it is still shown: the
     * rings are emptied (polls that do not wait) before the end. */
    bool draining = false;
    unsigned drain_polls = 0; /* a guest that goes on making events: bounded */
    while (!count || shown < count) {
        vmic_qemu_exec_t ev[64];
        size_t got;
        if (stop_signal && !draining)
            draining = true;
        if ((s = vmic_qemu_watch_poll(w, ev, 64, draining ? 0 : 200, &got))) {
            if (s == VMIC_E_INTERRUPTED)
                continue;
            rc = cli_fail("watch", s, NULL);
            break;
        }
        if (draining && (got == 0 || ++drain_polls > 8192))
            break;
        for (size_t i = 0; i < got && (!count || shown < count); i++, shown++) {
            const cli_val v[] = {CLI_U(ev[i].vcpu), CLI_U(ev[i].seq), CLI_U(ev[i].pc.addr),
                                 CLI_U(ev[i].pa.addr), CLI_S(label(&l, pa, ev[i].pa)),
                                 CLI_B(!(ev[i].flags & VMIC_QEMU_EXEC_NO_REGS))};
            cli_rows_add(&rows, v);
        }
        if (fflush(stdout) != 0 && errno == EPIPE)
            break;
    }
    uint64_t made, dropped, received;
    vmic_qemu_watch_counters(w, &made, &dropped, &received);
    vmic_qemu_watch_close(w);
    cli_rows_end(&rows);
    fprintf(stderr, "%" PRIu64 " event%s shown, %" PRIu64 " received, %" PRIu64
                " made by the plugin%s\n", shown, shown == 1 ? "" : "s", received, made,
                stop_signal ? " (signal)" : "");
    return rc;
}
