/*
 * A QMP client: QEMU's JSON machine protocol over a socket, read with vmic's
 * own pull parser (src/base/json.h) and written with its string quoting.
 *
 * QEMU writes one JSON object per line. Commands carry an "id" that the
 * reply echoes, so asynchronous events ("STOP", "RESUME", ...) and replies
 * to someone else's earlier commands are told apart and skipped. A message
 * is bounded (QMP_MAX_MESSAGE), every wait has a deadline, and a peer that
 * is not QMP at all (the gdbstub's socket given by mistake) fails at the
 * greeting with a message saying so, instead of hanging. A reply's "return"
 * value is handed to the caller as JSON text, for it to parse what it needs.
 *
 * A QMP socket serves one client at a time: a second client gets no
 * greeting until the first leaves, which is the "no greeting" timeout below.
 */
#define _GNU_SOURCE /* memmem */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/json.h"
#include "qemu.h"
#include "base/grow.h"

/* What vmic looks at in one message. */
typedef struct qmp_msg {
    bool greeting;         /* {"QMP": ...} */
    char version[64];      /* the greeting's qemu version, "7.2.22" */
    bool has_id;
    uint64_t id;
    bool has_return;
    char *ret;             /* the "return" value as JSON text, malloc'd */
    bool has_error;
    char desc[512], cls[64];
} qmp_msg;

static vmic_status dead(qmp_client_t *q, vmic_status s)
{
    q->dead = true;
    return s;
}

/* A string member into buf, cut to fit (QEMU's messages for people). */
static bool take_string(jp *j, char *buf, size_t size)
{
    char *s;
    if (!jp_string_alloc(j, &s, NULL))
        return false;
    snprintf(buf, size, "%s", s);
    free(s);
    return true;
}

/* {"qemu": {"major": 7, "minor": 2, "micro": 22}, ...} */
static bool parse_version(jp *j, qmp_msg *m)
{
    uint64_t v[3] = {0, 0, 0};
    bool have = false;
    if (!jp_begin_object(j))
        return false;
    while (jp_next_key(j)) {
        if (strcmp(j->key, "qemu") != 0 || jp_peek(j) != JP_OBJECT) {
            if (!jp_skip(j))
                return false;
            continue;
        }
        jp_begin_object(j);
        while (jp_next_key(j)) {
            int k = !strcmp(j->key, "major") ? 0 : !strcmp(j->key, "minor") ? 1
                    : !strcmp(j->key, "micro") ? 2 : -1;
            if (k >= 0 && jp_peek(j) == JP_NUMBER ? jp_u64(j, &v[k]) : jp_skip(j))
                have |= k >= 0;
        }
    }
    if (have && !j->failed)
        snprintf(m->version, sizeof m->version, "%" PRIu64 ".%" PRIu64 ".%" PRIu64, v[0], v[1],
                 v[2]);
    return !j->failed;
}

static bool parse_greeting(jp *j, qmp_msg *m)
{
    m->greeting = true;
    if (jp_peek(j) != JP_OBJECT)
        return jp_skip(j);
    jp_begin_object(j);
    while (jp_next_key(j)) {
        if (strcmp(j->key, "version") == 0 && jp_peek(j) == JP_OBJECT) {
            if (!parse_version(j, m))
                return false;
        } else if (!jp_skip(j)) {
            return false;
        }
    }
    return !j->failed;
}

static bool parse_error(jp *j, qmp_msg *m)
{
    m->has_error = true;
    snprintf(m->desc, sizeof m->desc, "no description");
    snprintf(m->cls, sizeof m->cls, "?");
    if (jp_peek(j) != JP_OBJECT)
        return jp_skip(j);
    jp_begin_object(j);
    while (jp_next_key(j)) {
        bool ok;
        if (strcmp(j->key, "desc") == 0 && jp_peek(j) == JP_STRING)
            ok = take_string(j, m->desc, sizeof m->desc);
        else if (strcmp(j->key, "class") == 0 && jp_peek(j) == JP_STRING)
            ok = take_string(j, m->cls, sizeof m->cls);
        else
            ok = jp_skip(j);
        if (!ok)
            return false;
    }
    return !j->failed;
}

/* One line: a JSON object and nothing after it. */
static bool parse_message(jp *j, qmp_msg *m)
{
    if (!jp_begin_object(j))
        return false;
    while (jp_next_key(j)) {
        bool ok;
        if (strcmp(j->key, "QMP") == 0) {
            ok = parse_greeting(j, m);
        } else if (strcmp(j->key, "id") == 0 && jp_peek(j) == JP_NUMBER) {
            /* Ours are unsigned integers; any other number is someone
             * else's id (parsed apart, so that it cannot fail the message). */
            const char *text;
            size_t len;
            ok = jp_raw(j, &text, &len);
            if (ok) {
                jp sub;
                jp_init(&sub, text, len);
                m->has_id = jp_u64(&sub, &m->id);
            }
        } else if (strcmp(j->key, "return") == 0) {
            const char *text;
            size_t len;
            ok = jp_raw(j, &text, &len);
            if (ok && !m->has_return) {
                m->ret = malloc(len + 1);
                if (!m->ret)
                    return jp_fail(j, "no memory for a reply");
                memcpy(m->ret, text, len);
                m->ret[len] = '\0';
                m->has_return = true;
            }
        } else if (strcmp(j->key, "error") == 0) {
            ok = parse_error(j, m);
        } else {
            ok = jp_skip(j);
        }
        if (!ok)
            return false;
    }
    return jp_finish(j);
}

static void msg_free(qmp_msg *m)
{
    free(m->ret);
    m->ret = NULL;
}

/* Reads one message (a JSON object on one line) before the deadline. */
static vmic_status read_message(qmp_client_t *q, int64_t deadline, qmp_msg *msg)
{
    memset(msg, 0, sizeof *msg);
    for (;;) {
        char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
        if (nl) {
            size_t line = (size_t)(nl - q->buf);
            bool blank = true;
            for (size_t i = 0; i < line && blank; i++)
                blank = q->buf[i] == ' ' || q->buf[i] == '\t' || q->buf[i] == '\r';
            jp j;
            jp_init(&j, q->buf, line);
            bool ok = blank || parse_message(&j, msg);
            memmove(q->buf, nl + 1, q->len - line - 1);
            q->len -= line + 1;
            if (blank)
                continue;
            if (!ok) {
                msg_free(msg);
                return dead(q, vmic_fail(VMIC_E_FORMAT, "%s: not a QMP message (%s)", q->name,
                                         j.error));
            }
            return VMIC_OK;
        }
        /* Every QMP message is an object: anything else (a gdbstub's "$T02..."
         * when given the wrong socket) is refused now, not after the timeout. */
        size_t lead = 0;
        while (lead < q->len && strchr(" \t\r", q->buf[lead]))
            lead++;
        if (lead < q->len && q->buf[lead] != '{')
            return dead(q, vmic_fail(VMIC_E_FORMAT, "%s: not QMP: the peer sent '%.*s'",
                                     q->name, (int)(q->len - lead < 16 ? q->len - lead : 16),
                                     q->buf + lead));
        if (q->len + 4096 + 1 > q->cap) {
            if (q->cap >= QMP_MAX_MESSAGE)
                return dead(q, vmic_fail(VMIC_E_RANGE, "%s: a message longer than %u bytes",
                                         q->name, QMP_MAX_MESSAGE));
            if (!VMIC_RESERVE(q->buf, q->cap, q->len + 4096 + 1, 65536))
                return vmic_fail(VMIC_E_NOMEM, "%s: no memory", q->name);
        }
        size_t got;
        vmic_status s = sock_recv_some(q->fd, q->name, q->buf + q->len, q->cap - q->len - 1,
                                       deadline, &got);
        if (s)
            return dead(q, s);
        /* JSON text has no raw NUL; one is a broken or hostile peer. */
        if (memchr(q->buf + q->len, '\0', got))
            return dead(q, vmic_fail(VMIC_E_FORMAT, "%s: a NUL byte in a message", q->name));
        q->len += got;
    }
}

/*
 * The gdbstub's socket given as QMP: QEMU took us for a gdb client, and
 * stopped the VM. It says so with a stop reply at once when the VM ran
 * (nothing when it was paused already): then a detach ('D') resumes it, so
 * the mistake leaves the VM as it was. Returns the message to fail with.
 */
static vmic_status undo_gdb_connect(qmp_client_t *q, vmic_status s)
{
    if (q->len < 2 || q->buf[0] != '$' || (q->buf[1] != 'T' && q->buf[1] != 'S'))
        return s;
    char why[600];
    snprintf(why, sizeof why, "%s", vmic_errmsg());
    char reply[64];
    size_t got = 0;
    bool ok = sock_send_all(q->fd, q->name, "+$D#44", 6, vmic__mono_ms() + q->timeout_ms) == VMIC_OK;
    int64_t deadline = vmic__mono_ms() + q->timeout_ms;
    while (ok && !memmem(reply, got, "OK", 2) && got < sizeof reply) {
        size_t n;
        ok = sock_recv_some(q->fd, q->name, reply + got, sizeof reply - got, deadline, &n) ==
             VMIC_OK;
        got += ok ? n : 0;
    }
    return vmic_fail(s, "%s (this is a gdbstub: connecting to it stopped the VM; %s)", why,
                     ok ? "vmic detached again and the VM runs on"
                        : "vmic could not detach: run 'vmic resume'");
}

/*
 * QEMU does not empty a QMP monitor's output when its client goes: an event
 * raised as the previous client closed (RESUME after a gdb detach, seen in
 * the live trace test) reaches the next client ahead of its greeting. So a
 * few whole messages before the greeting are passed over; the greeting
 * must still come, and within the deadline.
 */
#define QMP_LEFTOVERS_MAX 16

static vmic_status read_greeting(qmp_client_t *q, int64_t deadline)
{
    for (int seen = 0; seen <= QMP_LEFTOVERS_MAX; seen++) {
        qmp_msg msg;
        vmic_status s = read_message(q, deadline, &msg);
        if (s == VMIC_E_FORMAT && seen == 0)
            return undo_gdb_connect(q, s);
        if (s == VMIC_E_TIMEOUT)
            return vmic_fail(VMIC_E_TIMEOUT, "%s: no QMP greeting within %d ms (not a QMP "
                             "socket? QEMU serves one QMP client per socket: is another one "
                             "connected?)", q->name, q->timeout_ms);
        if (s)
            return vmic_fail_wrap(s, "%s: waiting for the QMP greeting", q->name);
        msg_free(&msg);
        if (msg.greeting) {
            snprintf(q->version, sizeof q->version, "%s", msg.version);
            return VMIC_OK;
        }
    }
    return dead(q, vmic_fail(VMIC_E_FORMAT, "%s: no QMP greeting in the first %d messages",
                             q->name, QMP_LEFTOVERS_MAX + 1));
}

vmic_status qmp_handshake(qmp_client_t *q)
{
    vmic_status s = read_greeting(q, vmic__mono_ms() + q->timeout_ms);
    if (s == VMIC_OK)
        s = qmp_execute(q, "qmp_capabilities", NULL, 0, NULL);
    return s;
}

vmic_status qmp_open(qmp_client_t *q, const qemu_endpoint_t *ep, int timeout_ms)
{
    memset(q, 0, sizeof *q);
    q->fd = -1;
    q->timeout_ms = timeout_ms > 0 ? timeout_ms : QEMU_DEFAULT_TIMEOUT_MS;
    snprintf(q->name, sizeof q->name, "QMP %s", ep->name);

    vmic_status s = endpoint_connect("QMP", ep, q->timeout_ms, &q->fd);
    if (s == VMIC_OK)
        s = qmp_handshake(q);
    if (s)
        qmp_close(q);
    return s;
}

void qmp_close(qmp_client_t *q)
{
    if (q->fd >= 0)
        close(q->fd);
    q->fd = -1;
    free(q->buf);
    q->buf = NULL;
    q->len = q->cap = 0;
}

/* {"execute":COMMAND,"arguments":{KEY:VALUE,...},"id":ID}\n, malloc'd. */
static char *build_command(const char *command, const qmp_arg_t *args, size_t nargs,
                           unsigned id, size_t *len)
{
    size_t size = json_quoted_size(command) + 64;
    for (size_t i = 0; i < nargs; i++)
        size += json_quoted_size(args[i].key) + json_quoted_size(args[i].value) + 2;
    char *text = malloc(size), *p = text;
    if (!text)
        return NULL;
    p += sprintf(p, "{\"execute\":");
    p = json_quote(p, command);
    if (nargs) {
        p += sprintf(p, ",\"arguments\":{");
        for (size_t i = 0; i < nargs; i++) {
            if (i)
                *p++ = ',';
            p = json_quote(p, args[i].key);
            *p++ = ':';
            p = json_quote(p, args[i].value);
        }
        *p++ = '}';
    }
    p += sprintf(p, ",\"id\":%u}\n", id);
    *len = (size_t)(p - text);
    return text;
}

vmic_status qmp_execute(qmp_client_t *q, const char *command, const qmp_arg_t *args,
                        size_t nargs, char **ret)
{
    if (ret)
        *ret = NULL;
    if (q->fd < 0 || q->dead)
        return vmic_fail(VMIC_E_IO, "%s: not connected", q->name);
    unsigned id = ++q->next_id;
    size_t len;
    char *text = build_command(command, args, nargs, id, &len);
    if (!text)
        return vmic_fail(VMIC_E_NOMEM, "%s: no memory", q->name);
    int64_t deadline = vmic__mono_ms() + q->timeout_ms;
    vmic_status s = sock_send_all(q->fd, q->name, text, len, deadline);
    free(text);
    if (s)
        return dead(q, s);

    for (;;) {
        qmp_msg msg;
        if ((s = read_message(q, deadline, &msg)))
            return s == VMIC_E_TIMEOUT
                       ? dead(q, vmic_fail(VMIC_E_TIMEOUT, "%s: no reply to %s within %d ms",
                                           q->name, command, q->timeout_ms))
                       : vmic_fail_wrap(s, "waiting for the reply to %s", command);
        /* Events, and replies to ids that are not ours, are skipped. */
        if (!msg.has_id || msg.id != id) {
            msg_free(&msg);
            continue;
        }
        if (msg.has_error) {
            s = vmic_fail(VMIC_E_IO, "%s: %s failed: %s (%s)", q->name, command, msg.desc,
                          msg.cls);
        } else if (msg.has_return) {
            if (ret) {
                *ret = msg.ret;
                msg.ret = NULL;
            }
            s = VMIC_OK;
        } else {
            s = vmic_fail(VMIC_E_FORMAT, "%s: a reply to %s with neither return nor error",
                          q->name, command);
        }
        msg_free(&msg);
        return s;
    }
}

vmic_status qmp_hmp(qmp_client_t *q, const char *command_line, char **out)
{
    const qmp_arg_t arg = {"command-line", command_line};
    char *ret;
    *out = NULL;
    vmic_status s = qmp_execute(q, "human-monitor-command", &arg, 1, &ret);
    if (s)
        return s;
    jp j;
    jp_init(&j, ret, strlen(ret));
    bool ok = jp_peek(&j) == JP_STRING && jp_string_alloc(&j, out, NULL) && jp_finish(&j);
    free(ret);
    if (!ok) {
        free(*out);
        *out = NULL;
        return vmic_fail(VMIC_E_FORMAT, "%s: human-monitor-command '%s' returned no text%s%s",
                         q->name, command_line, j.failed ? ": " : "", j.error);
    }
    return VMIC_OK;
}

vmic_status qmp_running(qmp_client_t *q, bool *running, char *status, size_t size)
{
    char *ret;
    bool have = false;
    vmic_status s = qmp_execute(q, "query-status", NULL, 0, &ret);
    if (s)
        return s;
    if (status && size)
        snprintf(status, size, "?");
    jp j;
    jp_init(&j, ret, strlen(ret));
    if (jp_begin_object(&j)) {
        while (jp_next_key(&j)) {
            if (strcmp(j.key, "running") == 0 && (jp_peek(&j) == JP_TRUE ||
                                                  jp_peek(&j) == JP_FALSE))
                have = jp_bool(&j, running);
            else if (strcmp(j.key, "status") == 0 && jp_peek(&j) == JP_STRING && status && size)
                take_string(&j, status, size);
            else
                jp_skip(&j);
        }
    }
    free(ret);
    if (!have || j.failed)
        return vmic_fail(VMIC_E_FORMAT, "%s: query-status without 'running'%s%s", q->name,
                         j.failed ? ": " : "", j.error);
    return VMIC_OK;
}
