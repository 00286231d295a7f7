/*
 * Run control over the gdb protocol: stop, continue, single-step,
 * breakpoints and watchpoints, waiting for the stop that ends a run, and the
 * list of threads (one per vCPU on QEMU). These are the primitives the event
 * thread (events.c) builds breakpoint, single-step and memory-access events on.
 *
 * All-stop mode: QEMU runs or stops every vCPU together (a single-step runs
 * only the stepped vCPU). After 'c' or a step the stub answers nothing until
 * the target stops; the stop reply then arrives on its own, read by
 * gdb_wait_stop (or queued by whatever call is reading at that moment).
 * Continue and step return once the stub acknowledged the packet, which on
 * QEMU means the VM runs (see gdb_wait_ack).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "qemu.h"

/*
 * 0x03 is gdb's interrupt. A running stub stops and sends a stop reply; a
 * stopped QEMU ignores it (sending nothing), so how many stop replies follow
 * is unknown. The command after it is a barrier: its reply comes after any
 * stop reply the interrupt caused, and by then the target has stopped
 * either way. qAttached is harmless and answered by every stub (even if only
 * with the empty "not supported", which serves as well).
 */
vmic_status gdb_interrupt(gdb_remote_t *g)
{
    const char *r;
    vmic_status s = gdb_send_raw(g, "\x03", 1);
    if (s)
        return s;
    if ((s = gdb_command(g, "qAttached", &r, NULL)))
        return vmic_fail_wrap(s, "stopping the VM");
    g->running = false;
    return VMIC_OK;
}

/*
 * Before a new run: stop replies already sent belong to the past (the caller
 * took what it wanted from the queue with gdb_wait_stop(g, 0, ...) first);
 * left queued, one would be taken for the stop that ends the new run.
 */
static vmic_status forget_past_stops(gdb_remote_t *g)
{
    vmic_status s = gdb_drain(g);
    g->stats.stale_stops += g->npending;
    g->npending = 0;
    return s;
}

vmic_status gdb_continue(gdb_remote_t *g)
{
    vmic_status s = forget_past_stops(g);
    if (s)
        return s;
    if ((s = gdb_send_packet(g, "c", 1)) || (s = gdb_wait_ack(g)))
        return s;
    g->running = true;
    return VMIC_OK;
}

vmic_status gdb_step(gdb_remote_t *g, uint32_t thread)
{
    char cmd[32];
    vmic_status s = forget_past_stops(g);
    if (s)
        return s;
    if (g->has_vcont) {
        /* Only the named thread runs, for one instruction. */
        int n = snprintf(cmd, sizeof cmd, "vCont;s:%" PRIx32, thread);
        s = gdb_send_packet(g, cmd, (size_t)n);
    } else {
        snprintf(cmd, sizeof cmd, "Hc%" PRIx32, thread);
        if ((s = gdb_command_ok(g, cmd)) == VMIC_OK)
            s = gdb_send_packet(g, "s", 1);
    }
    if (s || (s = gdb_wait_ack(g)))
        return s;
    g->running = true;
    return VMIC_OK;
}

vmic_status gdb_wait_stop(gdb_remote_t *g, int timeout_ms, gdb_stop_t *stop)
{
    if (g->npending > 0) {
        *stop = g->pending[0];
        memmove(&g->pending[0], &g->pending[1], (g->npending - 1) * sizeof g->pending[0]);
        g->npending--;
        return VMIC_OK;
    }
    int64_t deadline = vmic__mono_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
    for (;;) {
        vmic_status s = gdb_recv_packet(g, deadline);
        if (s == VMIC_E_TIMEOUT)
            return vmic_fail(VMIC_E_TIMEOUT, "%s: the target did not stop within %d ms",
                             g->name, timeout_ms);
        if (s)
            return s;
        if (gdb_is_stop_reply(g->pkt, g->pkt_len)) {
            s = gdb_parse_stop(g->pkt, g->pkt_len, stop);
            g->running = false;
            return s;
        }
        /* Anything else (console output, a late reply) is not what we wait for. */
        g->stats.garbage_bytes += g->pkt_len;
    }
}

static vmic_status point(gdb_remote_t *g, char op, gdb_point_type type, uint64_t addr,
                         unsigned kind)
{
    char cmd[64];
    if ((unsigned)type > GDB_POINT_ACCESS_WATCH)
        return vmic_fail(VMIC_E_INVAL, "%s: unknown breakpoint type %d", g->name, (int)type);
    snprintf(cmd, sizeof cmd, "%c%d,%" PRIx64 ",%x", op, (int)type, addr, kind);
    vmic_status s = gdb_command_ok(g, cmd);
    if (s == VMIC_E_UNSUPPORTED)
        return vmic_fail(VMIC_E_UNSUPPORTED, "%s: the stub does not support %s (%s)", g->name,
                         type <= GDB_POINT_HW_BREAK ? "this kind of breakpoint"
                                                    : "this kind of watchpoint", cmd);
    return s;
}

vmic_status gdb_insert_point(gdb_remote_t *g, gdb_point_type type, uint64_t addr, unsigned kind)
{
    return point(g, 'Z', type, addr, kind);
}

vmic_status gdb_remove_point(gdb_remote_t *g, gdb_point_type type, uint64_t addr, unsigned kind)
{
    return point(g, 'z', type, addr, kind);
}

vmic_status gdb_select_thread(gdb_remote_t *g, uint32_t thread)
{
    char cmd[32];
    snprintf(cmd, sizeof cmd, "Hg%" PRIx32, thread);
    return gdb_command_ok(g, cmd);
}

#define GDB_MAX_THREADS 4096

/* Appends the comma-separated ids of a qfThreadInfo/qsThreadInfo reply. */
static vmic_status add_threads(gdb_remote_t *g, const char *list, size_t len, uint32_t **ids,
                               uint32_t *n, uint32_t *cap)
{
    size_t i = 0;
    while (i < len) {
        const char *comma = memchr(list + i, ',', len - i);
        size_t end = comma ? (size_t)(comma - list) : len;
        const char *v = list + i;
        size_t vlen = end - i;
        const char *dot = memchr(v, '.', vlen);
        if (vlen > 0 && v[0] == 'p' && dot) {   /* multiprocess "pPID.TID" */
            vlen -= (size_t)(dot + 1 - v);
            v = dot + 1;
        }
        uint64_t id;
        if (vlen == 0 || gdb_parse_hex64(v, vlen, &id) != vlen || id == 0 || id > UINT32_MAX)
            return vmic_fail(VMIC_E_FORMAT, "%s: bad thread id '%.*s' in the thread list",
                             g->name, (int)(end - i < 32 ? end - i : 32), list + i);
        if (*n >= GDB_MAX_THREADS)
            return vmic_fail(VMIC_E_RANGE, "%s: more than %u threads", g->name, GDB_MAX_THREADS);
        if (*n == *cap) {
            uint32_t c = *cap ? *cap * 2 : 8;
            uint32_t *grown = realloc(*ids, c * sizeof *grown);
            if (!grown)
                return vmic_fail(VMIC_E_NOMEM, "%s: no memory for the thread list", g->name);
            *ids = grown;
            *cap = c;
        }
        (*ids)[(*n)++] = (uint32_t)id;
        i = end + 1;
    }
    return VMIC_OK;
}

vmic_status gdb_thread_list(gdb_remote_t *g, uint32_t **ids, uint32_t *n)
{
    uint32_t cap = 0;
    const char *r;
    size_t len;
    vmic_status s;

    *ids = NULL;
    *n = 0;
    if ((s = gdb_command(g, "qfThreadInfo", &r, &len)))
        return s;
    for (unsigned round = 0;; round++) {
        if (len == 0) {
            /* No thread support: one thread, named "any" (0) in Hg. */
            if (round > 0)
                break;
            *ids = calloc(1, sizeof **ids);
            if (!*ids)
                return vmic_fail(VMIC_E_NOMEM, "%s: no memory", g->name);
            *n = 1;
            return VMIC_OK;
        }
        if (r[0] == 'l')
            break;
        if (r[0] != 'm' || round > GDB_MAX_THREADS) {
            free(*ids);
            *ids = NULL;
            *n = 0;
            return vmic_fail(VMIC_E_FORMAT, "%s: bad thread list reply '%.40s'", g->name, r);
        }
        if ((s = add_threads(g, r + 1, len - 1, ids, n, &cap)) ||
            (s = gdb_command(g, "qsThreadInfo", &r, &len))) {
            free(*ids);
            *ids = NULL;
            *n = 0;
            return s;
        }
    }
    if (*n == 0)
        return vmic_fail(VMIC_E_FORMAT, "%s: the stub lists no threads", g->name);
    return VMIC_OK;
}
