/*
 * The gdb remote serial protocol, client side: framing ($payload#cs),
 * checksums (a bad one is NAK'd with '-' and the stub resends), '+'/'-'
 * acknowledgements until QStartNoAckMode, run-length-encoded replies
 * ("0*'" = eight '0'), '}' binary escapes, packets split across reads,
 * deadlines on every wait, and a bound on everything a peer can make us
 * buffer.
 *
 * QEMU specifics handled here, measured on QEMU 7.2:
 *  - While the VM runs, QEMU's gdbstub treats the first byte it receives as
 *    an interrupt: it stops the VM, sends a stop reply, and drops that byte.
 *    A packet sent then would lose its '$' and be ignored, and the command
 *    would never be answered. So every packet goes out with a leading '+':
 *    an acknowledgement, which every stub ignores when nothing awaits one
 *    (gdb itself sends one when it connects), and the byte QEMU drops when
 *    the VM happens to run (someone else resumed it through QMP or HMP).
 *    The stop reply that follows is queued, and the command's own reply
 *    arrives after it.
 *  - QEMU sends a stop reply whenever the VM stops while a gdb client is
 *    connected, whoever stopped it (QMP "stop", the gdb connect itself):
 *    stop replies can arrive at any time and are queued as asynchronous
 *    notifications instead of being taken for the reply to a command.
 *  - QEMU 7.2 does not offer QStartNoAckMode: acks stay on.
 *
 * A connection is marked dead on EOF, an I/O error, a broken frame or a
 * command that got no reply in time (its reply might still come and be taken
 * for the next one's); from then on every call fails at once with a message
 * that says why.
 */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#include "qemu.h"
#include "base/grow.h"

int gdb_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t gdb_parse_hex64(const char *p, size_t len, uint64_t *v)
{
    size_t i = 0;
    uint64_t x = 0;

    while (i < len && i < 16 && gdb_hexval((unsigned char)p[i]) >= 0) {
        x = x << 4 | (uint64_t)gdb_hexval((unsigned char)p[i]);
        i++;
    }
    /* More digits than fit in 64 bits: refuse rather than truncate. */
    if (i == 16 && i < len && gdb_hexval((unsigned char)p[i]) >= 0)
        return 0;
    *v = x;
    return i;
}

vmic_status gdb_init(gdb_remote_t *g, int fd, const char *name, int timeout_ms)
{
    memset(g, 0, sizeof *g);
    g->fd = fd;
    snprintf(g->name, sizeof g->name, "gdb %s", name);
    g->timeout_ms = timeout_ms > 0 ? timeout_ms : QEMU_DEFAULT_TIMEOUT_MS;
    g->ack_mode = true;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return vmic_fail(VMIC_E_IO, "%s: cannot make the socket non-blocking", g->name);
    return VMIC_OK;
}

void gdb_close(gdb_remote_t *g)
{
    if (g->fd >= 0)
        close(g->fd);
    g->fd = -1;
    free(g->raw);
    free(g->pkt);
    free(g->out);
    g->raw = g->pkt = g->out = NULL;
    g->raw_cap = g->pkt_cap = g->out_cap = 0;
}

/* ---- failure bookkeeping ---------------------------------------------------- */

/* Marks the connection unusable; the current message says why, and is kept:
 * whoever looks next may be another thread, long after this message. */
static vmic_status kill_connection(gdb_remote_t *g, vmic_status s)
{
    if (!g->dead)
        snprintf(g->why_dead, sizeof g->why_dead, "%s", vmic_errmsg());
    g->dead = true;
    g->running = false;
    return s;
}

static vmic_status check_alive(const gdb_remote_t *g)
{
    if (g->fd < 0)
        return vmic_fail(VMIC_E_IO, "%s: not connected", g->name);
    if (g->dead)
        return vmic_fail(VMIC_E_IO, "%s: the connection failed earlier (QEMU exited or "
                         "stopped answering); open the target again", g->name);
    return VMIC_OK;
}

/* ---- buffers ------------------------------------------------------------------ */

static vmic_status reserve(gdb_remote_t *g, char **buf, size_t *cap, size_t need)
{
    if (!VMIC_RESERVE(*buf, *cap, need, 256))
        return vmic_fail(VMIC_E_NOMEM, "%s: no memory for a %zu-byte packet", g->name, need);
    return VMIC_OK;
}

/* ---- sending ------------------------------------------------------------------- */

static vmic_status send_bytes(gdb_remote_t *g, const void *p, size_t len)
{
    vmic_status s = sock_send_all(g->fd, g->name, p, len, vmic__mono_ms() + g->timeout_ms);
    return s ? kill_connection(g, s) : VMIC_OK;
}

vmic_status gdb_send_raw(gdb_remote_t *g, const void *bytes, size_t len)
{
    vmic_status s = check_alive(g);
    return s ? s : send_bytes(g, bytes, len);
}

vmic_status gdb_send_packet(gdb_remote_t *g, const char *payload, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    vmic_status s = check_alive(g);
    if (s)
        return s;
    /* PacketSize counts the whole packet, '$', '#' and checksum included. */
    if (g->packet_size && len + 4 > g->packet_size)
        return vmic_fail(VMIC_E_RANGE, "%s: a %zu-byte packet exceeds the stub's PacketSize "
                         "of %" PRIu32, g->name, len, g->packet_size);
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++) {
        /* Commands vmic builds are plain ASCII; framing characters in one
         * would be a bug here, not something to send. */
        if (payload[i] == '$' || payload[i] == '#' || payload[i] == '}')
            return vmic_fail(VMIC_E_INTERNAL, "%s: unescaped '%c' in a command", g->name,
                             payload[i]);
        sum = (uint8_t)(sum + (uint8_t)payload[i]);
    }
    if ((s = reserve(g, &g->out, &g->out_cap, len + 5)))
        return s;
    /* The leading '+': see the top of this file. */
    g->out[0] = '+';
    g->out[1] = '$';
    memcpy(g->out + 2, payload, len);
    g->out[len + 2] = '#';
    g->out[len + 3] = hex[sum >> 4];
    g->out[len + 4] = hex[sum & 15];
    g->out_len = len + 5;
    g->out_acked = !g->ack_mode;
    g->out_naks = 0;
    if ((s = send_bytes(g, g->out, g->out_len)))
        return s;
    g->stats.packets_sent++;
    return VMIC_OK;
}

/* ---- receiving ---------------------------------------------------------------- */

/* The next received byte, reading more before the deadline if needed. */
static vmic_status next_byte(gdb_remote_t *g, int64_t deadline, uint8_t *c)
{
    if (g->in_pos == g->in_len) {
        size_t got;
        vmic_status s = sock_recv_some(g->fd, g->name, g->in, sizeof g->in, deadline, &got);
        if (s)
            return s;
        g->in_pos = 0;
        g->in_len = got;
    }
    *c = g->in[g->in_pos++];
    return VMIC_OK;
}

/* Whether a byte is waiting, without blocking. */
static bool input_ready(gdb_remote_t *g)
{
    if (g->in_pos < g->in_len)
        return true;
    struct pollfd p = {.fd = g->fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

/* A '-' from the stub: our last packet arrived corrupt; send it again. */
static vmic_status on_nak(gdb_remote_t *g)
{
    if (!g->ack_mode || g->out_len == 0 || g->out_acked) {
        g->stats.naks_received++;   /* stray: nothing of ours is pending */
        return VMIC_OK;
    }
    g->stats.naks_received++;
    if (++g->out_naks > GDB_MAX_RETRIES)
        return kill_connection(g, vmic_fail(VMIC_E_IO, "%s: the stub rejected our packet %u "
                                            "times (bad line?)", g->name, g->out_naks));
    g->stats.retransmits++;
    return send_bytes(g, g->out, g->out_len);
}

/* Expands run-length encoding: "X*N" is X followed by N-29 more copies of X. */
static vmic_status rle_decode(gdb_remote_t *g)
{
    vmic_status s;
    size_t n = 0;

    for (size_t i = 0; i < g->raw_len; i++) {
        uint8_t c = (uint8_t)g->raw[i];
        size_t count = 1;
        if (c == '*') {
            if (n == 0 || i + 1 >= g->raw_len)
                return vmic_fail(VMIC_E_FORMAT, "%s: run-length encoding with nothing to "
                                 "repeat at byte %zu", g->name, i);
            uint8_t r = (uint8_t)g->raw[++i];
            if (r < 32 || r > 126)
                return vmic_fail(VMIC_E_FORMAT, "%s: bad run-length count 0x%02x at byte %zu",
                                 g->name, r, i);
            c = (uint8_t)g->pkt[n - 1];
            count = (size_t)(r - 29);
        }
        if (n + count + 1 > GDB_MAX_PACKET)
            return vmic_fail(VMIC_E_RANGE, "%s: a reply longer than %u bytes decoded", g->name,
                             GDB_MAX_PACKET);
        if ((s = reserve(g, &g->pkt, &g->pkt_cap, n + count + 1)))
            return s;
        memset(g->pkt + n, c, count);
        n += count;
    }
    if ((s = reserve(g, &g->pkt, &g->pkt_cap, n + 1)))
        return s;
    g->pkt[n] = '\0';
    g->pkt_len = n;
    return VMIC_OK;
}

/* Reads a frame body after its '$': bytes up to '#', then two checksum
 * digits. A failure here leaves the stream mid-frame: the connection dies. */
static vmic_status read_frame(gdb_remote_t *g, int64_t deadline, int *checksum)
{
    vmic_status s;
    uint8_t c;

    g->raw_len = 0;
    for (;;) {
        if ((s = next_byte(g, deadline, &c)))
            return kill_connection(g, s);
        if (c == '#')
            break;
        if (c == '$') {   /* a new frame: the one before was cut short */
            g->stats.garbage_bytes += g->raw_len + 1;
            g->raw_len = 0;
            continue;
        }
        if (g->raw_len + 1 > GDB_MAX_PACKET)
            return kill_connection(g, vmic_fail(VMIC_E_RANGE, "%s: a packet longer than %u "
                                                "bytes", g->name, GDB_MAX_PACKET));
        if ((s = reserve(g, &g->raw, &g->raw_cap, g->raw_len + 1)))
            return kill_connection(g, s);
        g->raw[g->raw_len++] = (char)c;
    }
    uint8_t hi, lo;
    if ((s = next_byte(g, deadline, &hi)) || (s = next_byte(g, deadline, &lo)))
        return kill_connection(g, s);
    int h = gdb_hexval(hi), l = gdb_hexval(lo);
    *checksum = h < 0 || l < 0 ? -1 : h << 4 | l;
    return VMIC_OK;
}

/*
 * One packet. Before its '$' arrives: acks are noted, NAKs answered, other
 * bytes skipped. With idle_ok, finding no packet already on its way is not
 * an error: *none is set instead of waiting.
 */
static vmic_status recv_packet(gdb_remote_t *g, int64_t deadline, bool idle_ok, bool *none)
{
    unsigned corrupt = 0;
    vmic_status s;
    uint8_t c;

    if (none)
        *none = false;
    if ((s = check_alive(g)))
        return s;
    for (;;) {
        if (idle_ok && !input_ready(g)) {
            *none = true;
            return VMIC_OK;
        }
        if ((s = next_byte(g, deadline, &c)))
            return s == VMIC_E_TIMEOUT ? s : kill_connection(g, s);
        if (c == '+') {
            g->out_acked = true;
            continue;
        }
        if (c == '-') {
            if ((s = on_nak(g)))
                return s;
            continue;
        }
        /* A stub never sends '{' outside a packet: before the first packet
         * it is a QMP greeting, the QMP socket given as gdb. Said now, not
         * after the timeout. */
        if (c == '{' && g->stats.packets_received == 0 && g->stats.garbage_bytes == 0)
            return kill_connection(g, vmic_fail(VMIC_E_FORMAT, "%s: not a gdbstub: the peer "
                                                "sent '{' (a QMP socket?)", g->name));
        if (c != '$') {
            g->stats.garbage_bytes++;
            continue;
        }

        int checksum = -1;
        if ((s = read_frame(g, deadline, &checksum)))
            return s;
        uint8_t sum = 0;
        for (size_t i = 0; i < g->raw_len; i++)
            sum = (uint8_t)(sum + (uint8_t)g->raw[i]);
        if (checksum != sum) {
            if (!g->ack_mode)
                return vmic_fail(VMIC_E_FORMAT, "%s: a packet with a bad checksum (%02x, "
                                 "expected %02x) in no-ack mode", g->name, checksum & 0xff, sum);
            if (++corrupt > GDB_MAX_RETRIES)
                return kill_connection(g, vmic_fail(VMIC_E_IO, "%s: %u corrupt packets in a "
                                                    "row", g->name, corrupt));
            g->stats.naks_sent++;
            if ((s = send_bytes(g, "-", 1)))
                return s;
            continue;   /* the stub sends it again */
        }
        if (g->ack_mode && (s = send_bytes(g, "+", 1)))
            return s;
        g->stats.packets_received++;
        return rle_decode(g);
    }
}

vmic_status gdb_recv_packet(gdb_remote_t *g, int64_t deadline)
{
    vmic_status s = recv_packet(g, deadline, false, NULL);
    if (s == VMIC_E_TIMEOUT)
        vmic_fail(VMIC_E_TIMEOUT, "%s: no packet within the timeout", g->name);
    return s;
}

/* ---- stop replies -------------------------------------------------------------- */

void gdb_queue_stop(gdb_remote_t *g, const gdb_stop_t *stop)
{
    g->running = false;
    g->stats.async_stops++;
    if (g->npending == GDB_MAX_PENDING) {
        /* Keep the newest: the oldest is the least likely to matter. */
        memmove(&g->pending[0], &g->pending[1], (GDB_MAX_PENDING - 1) * sizeof g->pending[0]);
        g->npending--;
    }
    g->pending[g->npending++] = *stop;
}

/* A packet that is not the awaited reply: a stop reply is queued, console
 * output ("O" + hex) skipped. Returns true if it was one of those. */
static bool take_notification(gdb_remote_t *g)
{
    if (gdb_is_stop_reply(g->pkt, g->pkt_len)) {
        gdb_stop_t stop;
        if (gdb_parse_stop(g->pkt, g->pkt_len, &stop) == VMIC_OK)
            gdb_queue_stop(g, &stop);
        return true;
    }
    if (g->pkt_len > 1 && g->pkt[0] == 'O' && strcmp(g->pkt, "OK") != 0) {
        for (size_t i = 1; i < g->pkt_len; i++)
            if (gdb_hexval((unsigned char)g->pkt[i]) < 0)
                return false;
        return true;
    }
    return false;
}

vmic_status gdb_drain(gdb_remote_t *g)
{
    for (;;) {
        bool none;
        vmic_status s = recv_packet(g, vmic__mono_ms() + g->timeout_ms, true, &none);
        if (s || none)
            return s;
        if (!take_notification(g))
            g->stats.garbage_bytes += g->pkt_len;   /* a reply nobody waits for */
    }
}

/*
 * The stub's '+' for our last packet. A packet with no reply ('c', a step)
 * has nothing else to wait for, and QEMU acknowledges a packet just before
 * acting on it, in the same turn of its main loop: once the ack is here, the
 * VM runs, as far as any other client of that QEMU (QMP) can tell. A stop
 * reply that arrives first was sent before our packet took effect (QEMU
 * stopping the VM on the leading '+'): stale, and dropped.
 */
vmic_status gdb_wait_ack(gdb_remote_t *g)
{
    int64_t deadline = vmic__mono_ms() + g->timeout_ms;
    vmic_status s = check_alive(g);

    while (s == VMIC_OK && g->ack_mode && !g->out_acked) {
        uint8_t c;
        if ((s = next_byte(g, deadline, &c))) {
            if (s == VMIC_E_TIMEOUT)
                s = vmic_fail(VMIC_E_TIMEOUT, "%s: the stub did not acknowledge our packet "
                              "within %d ms", g->name, g->timeout_ms);
            return kill_connection(g, s);
        }
        if (c == '+') {
            g->out_acked = true;
        } else if (c == '-') {
            s = on_nak(g);
        } else if (c == '$') {
            g->in_pos--;   /* still in the buffer: read it as a packet */
            if ((s = recv_packet(g, deadline, false, NULL)) == VMIC_OK) {
                if (gdb_is_stop_reply(g->pkt, g->pkt_len))
                    g->stats.stale_stops++;
                else
                    g->stats.garbage_bytes += g->pkt_len;
            }
        } else {
            g->stats.garbage_bytes++;
        }
    }
    return s;
}

/* ---- commands ------------------------------------------------------------------ */

vmic_status gdb_command(gdb_remote_t *g, const char *cmd, const char **reply, size_t *len)
{
    size_t cmd_len = strlen(cmd);
    vmic_status s = gdb_send_packet(g, cmd, cmd_len);
    if (s)
        return s;

    int64_t deadline = vmic__mono_ms() + g->timeout_ms;
    for (;;) {
        s = recv_packet(g, deadline, false, NULL);
        if (s == VMIC_E_TIMEOUT)
            return kill_connection(g, vmic_fail(VMIC_E_TIMEOUT, "%s: no reply to '%.40s' within "
                                                "%d ms", g->name, cmd, g->timeout_ms));
        if (s)
            return vmic_fail_wrap(s, "waiting for the reply to '%.40s'", cmd);
        if (take_notification(g))
            continue;
        *reply = g->pkt;
        if (len)
            *len = g->pkt_len;
        return VMIC_OK;
    }
}

vmic_status gdb_commandf(gdb_remote_t *g, const char **reply, size_t *len, const char *fmt, ...)
{
    char cmd[512];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd)
        return vmic_fail(VMIC_E_INTERNAL, "%s: command too long", g->name);
    return gdb_command(g, cmd, reply, len);
}

vmic_status gdb_command_ok(gdb_remote_t *g, const char *cmd)
{
    const char *r;
    size_t n;
    vmic_status s = gdb_command(g, cmd, &r, &n);
    if (s)
        return s;
    if (n == 2 && strcmp(r, "OK") == 0)
        return VMIC_OK;
    if (n == 0)
        return vmic_fail(VMIC_E_UNSUPPORTED, "%s: the stub does not support '%.40s'", g->name,
                         cmd);
    return vmic_fail(VMIC_E_IO, "%s: the stub refused '%.40s': %.40s", g->name, cmd, r);
}

size_t gdb_unescape_binary(char *buf, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '}') {
            if (++i == len)
                return SIZE_MAX;
            buf[o++] = (char)(buf[i] ^ 0x20);
        } else {
            buf[o++] = buf[i];
        }
    }
    return o;
}

/* ---- the handshake ------------------------------------------------------------ */

vmic_status gdb_handshake(gdb_remote_t *g)
{
    const char *r;
    size_t n;
    /* Features we understand in stop replies; no multiprocess (plain thread
     * ids, one per vCPU). */
    vmic_status s = gdb_command(g, "qSupported:swbreak+;hwbreak+;vContSupported+;"
                                   "xmlRegisters=i386", &r, &n);
    if (s)
        return s;
    if (n == 0)
        return vmic_fail(VMIC_E_FORMAT, "%s: empty reply to qSupported: not a gdbstub?", g->name);

    bool no_ack = false;
    char *copy = strdup(r);
    if (!copy)
        return vmic_fail(VMIC_E_NOMEM, "%s: no memory", g->name);
    for (char *save = NULL, *f = strtok_r(copy, ";", &save); f; f = strtok_r(NULL, ";", &save)) {
        uint64_t v;
        if (strncmp(f, "PacketSize=", 11) == 0 && gdb_parse_hex64(f + 11, strlen(f + 11), &v) &&
            v >= 64)
            g->packet_size = v > GDB_MAX_PACKET ? GDB_MAX_PACKET : (uint32_t)v;
        else if (strcmp(f, "QStartNoAckMode+") == 0)
            no_ack = true;
        else if (strcmp(f, "qXfer:features:read+") == 0)
            g->has_xfer_features = true;
        else if (strcmp(f, "vContSupported+") == 0)
            g->has_vcont = true;
    }
    free(copy);

    if (no_ack) {
        s = gdb_command_ok(g, "QStartNoAckMode");
        if (s == VMIC_OK)
            g->ack_mode = false;
        else if (s != VMIC_E_UNSUPPORTED)
            return s;
    }
    return VMIC_OK;
}
