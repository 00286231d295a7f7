/*
 * vmic_qemu_recover: a VM back from whatever a session left (vmic resume,
 * vmic detach). What can be left, and what undoes it:
 *
 *   a gdb client gone, breakpoints still in    QEMU 7.2 keeps them after the
 *   (status "debug"; QMP cont re-stops it      client goes: a fresh client's
 *   at the next hit)                           '?' removes them all, 'D' resumes
 *   a gdb client alive but stuck              no packet of ours reaches the
 *                                              stub past it: HMP "gdbserver
 *                                              none" closes it, "gdbserver
 *                                              DEVICE" opens the stub again
 *                                              (the same device at once fails
 *                                              in 7.2: "duplicate yank instance")
 *   a VM paused by QMP stop (status "paused")  cont, when asked to resume
 *
 * A live vmic holding the session lock is left alone unless forced: it
 * detaches itself when it ends, and its guard does if it dies.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qemu.h"

static void say(vmic_qemu_recovery_t *r, const char *fmt, ...) VMIC_PRINTF(2, 3);
static void say(vmic_qemu_recovery_t *r, const char *fmt, ...)
{
    size_t used = strlen(r->report);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->report + used, sizeof r->report - used, fmt, ap);
    va_end(ap);
    used = strlen(r->report);
    if (used + 1 < sizeof r->report) {
        r->report[used] = '\n';
        r->report[used + 1] = '\0';
    }
}

static vmic_status hmp_say(qmp_client_t *q, vmic_qemu_recovery_t *r, const char *cmd)
{
    char *text;
    vmic_status s = qmp_hmp(q, cmd, &text);
    if (s)
        return s;
    size_t n = strcspn(text, "\r\n");
    say(r, "HMP %s: %.*s", cmd, (int)n, text);
    bool failed = strstr(text, "Could not") != NULL;
    free(text);
    return failed ? vmic_fail(VMIC_E_IO, "HMP '%s' failed", cmd) : VMIC_OK;
}

/* Cuts a client off: the stub closed and opened again on the same device. */
static vmic_status restart_stub(qmp_client_t *q, const qemu_endpoint_t *gdb,
                                vmic_qemu_recovery_t *r, int timeout_ms)
{
    char cmd[600];
    vmic_status s;
    if (gdb->tcp)
        snprintf(cmd, sizeof cmd, "gdbserver tcp:%s:%s,server=on,wait=off", gdb->host, gdb->port);
    else
        snprintf(cmd, sizeof cmd, "gdbserver unix:%s,server=on,wait=off", gdb->path);
    if ((s = hmp_say(q, r, "gdbserver none")) || (s = hmp_say(q, r, cmd)))
        return s;
    int64_t deadline = vmic__mono_ms() + timeout_ms;
    for (;;) {
        stub_state st;
        if ((s = stub_query(q, gdb, &st)))
            return s;
        if (st != STUB_BUSY)
            return VMIC_OK;
        if (vmic__mono_ms() > deadline)
            return vmic_fail(VMIC_E_TIMEOUT, "the gdbstub still has a client after restarting");
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* A fresh client: '?' (every breakpoint and watchpoint out), then 'D'. */
static vmic_status clean_detach(const qemu_endpoint_t *gdb, vmic_qemu_recovery_t *r,
                                int timeout_ms)
{
    gdb_remote_t g;
    int fd;
    vmic_status s = endpoint_connect("gdb", gdb, timeout_ms, &fd);
    if (s)
        return s;
    /* No-ack mode first: in ack mode our '+' for the last replies would
     * reach a VM that 'D' has resumed, and any byte stops a running VM. */
    if ((s = gdb_init(&g, fd, gdb->name, timeout_ms)) == VMIC_OK &&
        (s = gdb_handshake(&g)) == VMIC_OK && (s = gdb_send_packet(&g, "?", 1)) == VMIC_OK) {
        int64_t deadline = vmic__mono_ms() + timeout_ms;
        do
            s = gdb_recv_packet(&g, deadline);
        while (s == VMIC_OK && !gdb_is_stop_reply(g.pkt, g.pkt_len));
    }
    /* A debug stop pending from before the connect would freeze the VM
     * after 'D' (see guard.c): one turn of QEMU's main loop first. */
    struct timespec settle = {0, 50 * 1000000L};
    nanosleep(&settle, NULL);
    if (s == VMIC_OK)
        say(r, "gdb %s: '?' answered %.*s: every breakpoint and watchpoint removed", gdb->name,
            (int)(g.pkt_len < 40 ? g.pkt_len : 40), g.pkt);
    if (s == VMIC_OK && (s = gdb_command_ok(&g, "D")) == VMIC_OK)
        say(r, "gdb %s: detached ('D': QEMU resumes the VM)", gdb->name);
    gdb_close(&g);
    return s;
}

static vmic_status recover(qmp_client_t *q, const qemu_endpoint_t *gdb, bool resume, bool force,
                           int timeout_ms, vmic_qemu_recovery_t *r)
{
    bool running;
    stub_state st;
    vmic_status s;

    if ((s = qmp_running(q, &running, r->found_status, sizeof r->found_status)) ||
        (s = stub_query(q, gdb, &st)))
        return s;
    bool locked = lock_peek(gdb, r->holder, sizeof r->holder);
    r->stub_busy = st == STUB_BUSY;
    say(r, "found: VM status %s; gdbstub %s%s%s", r->found_status,
        st == STUB_BUSY ? "has a client" : st == STUB_FREE ? "free" : "not found in query-chardev",
        locked ? "; held by " : "", locked ? r->holder : "");
    if (locked && !force)
        return vmic_fail(VMIC_E_BUSY, "the gdbstub is held by %s: it detaches when it ends (its "
                         "guard does if it is killed); --force cuts it off", r->holder);
    if (st == STUB_BUSY && (s = restart_stub(q, gdb, r, timeout_ms)))
        return s;
    if ((s = clean_detach(gdb, r, timeout_ms)))
        return s;
    /* The fresh connection paused the VM and 'D' resumed it; a VM found
     * paused by somebody (not by a debugger) goes back to paused unless
     * asked to run. */
    bool was_paused = strcmp(r->found_status, "paused") == 0;
    if (!resume && was_paused) {
        if ((s = qmp_execute(q, "stop", NULL, 0, NULL)))
            return s;
        say(r, "QMP stop: it was paused when found, and stays paused (vmic resume runs it)");
    }
    if ((s = qmp_running(q, &r->running, r->status, sizeof r->status)))
        return s;
    if (resume && !r->running) {
        if ((s = qmp_execute(q, "cont", NULL, 0, NULL)) ||
            (s = qmp_running(q, &r->running, r->status, sizeof r->status)))
            return s;
        say(r, "QMP cont");
    }
    say(r, "now: VM status %s (QMP query-status)", r->status);
    return VMIC_OK;
}

vmic_status vmic_qemu_recover(const char *target, bool resume, bool force, unsigned timeout_ms,
                              vmic_qemu_recovery_t *out)
{
    vmic_qemu_target_t t;
    qemu_endpoint_t gdb, qmp_ep;
    qmp_client_t q;
    int timeout = timeout_ms ? (int)timeout_ms : QEMU_DEFAULT_TIMEOUT_MS;
    memset(out, 0, sizeof *out);
    vmic_status s = vmic_qemu_parse_target(target, &t);
    if (s == VMIC_OK)
        s = endpoint_parse("gdb", t.gdb, &gdb);
    if (s == VMIC_OK)
        s = endpoint_parse("QMP", t.qmp, &qmp_ep);
    if (s == VMIC_OK)
        s = qmp_open(&q, &qmp_ep, timeout);
    if (s)
        return s;
    s = recover(&q, &gdb, resume, force, timeout, out);
    qmp_close(&q);
    return s;
}
