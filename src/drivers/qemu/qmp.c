/*
 * A QMP client: QEMU's JSON machine protocol over a socket, parsed with
 * json-c.
 *
 * QEMU writes one JSON object per line. Commands carry an "id" that the
 * reply echoes, so asynchronous events ("STOP", "RESUME", ...) and replies
 * to someone else's earlier commands are told apart and skipped. A message
 * is bounded (QMP_MAX_MESSAGE), every wait has a deadline, and a peer that
 * is not QMP at all (the gdbstub's socket given by mistake) fails at the
 * greeting with a message saying so, instead of hanging.
 *
 * A QMP socket serves one client at a time: a second client gets no
 * greeting until the first leaves, which is the "no greeting" timeout below.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "qemu.h"

static vmic_status dead(qmp_client_t *q, vmic_status s)
{
    q->dead = true;
    return s;
}

/* Reads one message (a JSON object on one line) before the deadline. */
static vmic_status read_message(qmp_client_t *q, int64_t deadline, json_object **msg)
{
    *msg = NULL;
    for (;;) {
        char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
        if (nl) {
            size_t line = (size_t)(nl - q->buf);
            *nl = '\0';
            enum json_tokener_error err = json_tokener_success;
            bool blank = strspn(q->buf, " \t\r") == line;
            json_object *o = blank ? NULL : json_tokener_parse_verbose(q->buf, &err);
            memmove(q->buf, nl + 1, q->len - line - 1);
            q->len -= line + 1;
            if (blank)
                continue;
            if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return dead(q, vmic_fail(VMIC_E_FORMAT, "%s: not a QMP message (%s)", q->name,
                                         o ? "not a JSON object" : json_tokener_error_desc(err)));
            }
            *msg = o;
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
            size_t c = q->cap ? q->cap * 2 : 65536;
            char *grown = realloc(q->buf, c);
            if (!grown)
                return vmic_fail(VMIC_E_NOMEM, "%s: no memory", q->name);
            q->buf = grown;
            q->cap = c;
        }
        size_t got;
        vmic_status s = sock_recv_some(q->fd, q->name, q->buf + q->len, q->cap - q->len - 1,
                                       deadline, &got);
        if (s)
            return dead(q, s);
        /* A NUL inside a line would cut it short for the parser: refuse it. */
        if (memchr(q->buf + q->len, '\0', got))
            return dead(q, vmic_fail(VMIC_E_FORMAT, "%s: a NUL byte in a message", q->name));
        q->len += got;
    }
}

static vmic_status read_greeting(qmp_client_t *q, int64_t deadline)
{
    json_object *msg, *qmp, *version, *qemu;
    vmic_status s = read_message(q, deadline, &msg);
    if (s == VMIC_E_TIMEOUT)
        return vmic_fail(VMIC_E_TIMEOUT, "%s: no QMP greeting within %d ms (not a QMP socket? "
                         "QEMU serves one QMP client per socket: is another one connected?)",
                         q->name, q->timeout_ms);
    if (s)
        return vmic_fail_wrap(s, "%s: waiting for the QMP greeting", q->name);
    if (!json_object_object_get_ex(msg, "QMP", &qmp)) {
        json_object_put(msg);
        return dead(q, vmic_fail(VMIC_E_FORMAT, "%s: the first message is not a QMP greeting",
                                 q->name));
    }
    if (json_object_object_get_ex(qmp, "version", &version) &&
        json_object_object_get_ex(version, "qemu", &qemu)) {
        json_object *major, *minor, *micro;
        if (json_object_object_get_ex(qemu, "major", &major) &&
            json_object_object_get_ex(qemu, "minor", &minor) &&
            json_object_object_get_ex(qemu, "micro", &micro))
            snprintf(q->version, sizeof q->version, "%d.%d.%d", json_object_get_int(major),
                     json_object_get_int(minor), json_object_get_int(micro));
    }
    json_object_put(msg);
    return VMIC_OK;
}

vmic_status qmp_open(qmp_client_t *q, const qemu_endpoint_t *ep, int timeout_ms)
{
    memset(q, 0, sizeof *q);
    q->fd = -1;
    q->timeout_ms = timeout_ms > 0 ? timeout_ms : QEMU_DEFAULT_TIMEOUT_MS;
    snprintf(q->name, sizeof q->name, "QMP %s", ep->name);

    vmic_status s = endpoint_connect("QMP", ep, q->timeout_ms, &q->fd);
    if (s == VMIC_OK)
        s = read_greeting(q, mono_ms() + q->timeout_ms);
    if (s == VMIC_OK)
        s = qmp_execute(q, "qmp_capabilities", NULL, NULL);
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

static vmic_status error_reply(qmp_client_t *q, const char *command, json_object *err)
{
    json_object *desc, *cls;
    const char *d = json_object_object_get_ex(err, "desc", &desc) ? json_object_get_string(desc)
                                                                  : "no description";
    const char *c = json_object_object_get_ex(err, "class", &cls) ? json_object_get_string(cls)
                                                                 : "?";
    return vmic_fail(VMIC_E_IO, "%s: %s failed: %s (%s)", q->name, command, d, c);
}

vmic_status qmp_execute(qmp_client_t *q, const char *command, json_object *args,
                        json_object **ret)
{
    if (ret)
        *ret = NULL;
    if (q->fd < 0 || q->dead) {
        json_object_put(args);
        return vmic_fail(VMIC_E_IO, "%s: not connected", q->name);
    }
    unsigned id = ++q->next_id;
    json_object *cmd = json_object_new_object();
    if (!cmd) {
        json_object_put(args);
        return vmic_fail(VMIC_E_NOMEM, "%s: no memory", q->name);
    }
    json_object_object_add(cmd, "execute", json_object_new_string(command));
    if (args)
        json_object_object_add(cmd, "arguments", args);
    json_object_object_add(cmd, "id", json_object_new_int64(id));
    const char *text = json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN);
    int64_t deadline = mono_ms() + q->timeout_ms;
    vmic_status s = sock_send_all(q->fd, q->name, text, strlen(text), deadline);
    if (s == VMIC_OK)
        s = sock_send_all(q->fd, q->name, "\n", 1, deadline);
    json_object_put(cmd);
    if (s)
        return dead(q, s);

    for (;;) {
        json_object *msg, *mid, *r, *err;
        if ((s = read_message(q, deadline, &msg)))
            return s == VMIC_E_TIMEOUT
                       ? dead(q, vmic_fail(VMIC_E_TIMEOUT, "%s: no reply to %s within %d ms",
                                           q->name, command, q->timeout_ms))
                       : vmic_fail_wrap(s, "waiting for the reply to %s", command);
        /* Events, and replies to ids that are not ours, are skipped. */
        if (!json_object_object_get_ex(msg, "id", &mid) ||
            !json_object_is_type(mid, json_type_int) ||
            json_object_get_int64(mid) != (int64_t)id) {
            json_object_put(msg);
            continue;
        }
        if (json_object_object_get_ex(msg, "error", &err)) {
            s = error_reply(q, command, err);
        } else if (json_object_object_get_ex(msg, "return", &r)) {
            if (ret)
                *ret = json_object_get(r);
            s = VMIC_OK;
        } else {
            s = vmic_fail(VMIC_E_FORMAT, "%s: a reply to %s with neither return nor error",
                          q->name, command);
        }
        json_object_put(msg);
        return s;
    }
}

vmic_status qmp_hmp(qmp_client_t *q, const char *command_line, char **out)
{
    json_object *args = json_object_new_object(), *ret;
    *out = NULL;
    if (!args)
        return vmic_fail(VMIC_E_NOMEM, "%s: no memory", q->name);
    json_object_object_add(args, "command-line", json_object_new_string(command_line));
    vmic_status s = qmp_execute(q, "human-monitor-command", args, &ret);
    if (s)
        return s;
    if (!json_object_is_type(ret, json_type_string)) {
        json_object_put(ret);
        return vmic_fail(VMIC_E_FORMAT, "%s: human-monitor-command '%s' returned no text",
                         q->name, command_line);
    }
    *out = strdup(json_object_get_string(ret));
    json_object_put(ret);
    if (!*out)
        return vmic_fail(VMIC_E_NOMEM, "%s: no memory", q->name);
    return VMIC_OK;
}

vmic_status qmp_running(qmp_client_t *q, bool *running, char *status, size_t size)
{
    json_object *ret, *r, *st;
    vmic_status s = qmp_execute(q, "query-status", NULL, &ret);
    if (s)
        return s;
    if (!json_object_object_get_ex(ret, "running", &r) ||
        !json_object_is_type(r, json_type_boolean)) {
        json_object_put(ret);
        return vmic_fail(VMIC_E_FORMAT, "%s: query-status without 'running'", q->name);
    }
    *running = json_object_get_boolean(r);
    if (status && size)
        snprintf(status, size, "%s",
                 json_object_object_get_ex(ret, "status", &st) ? json_object_get_string(st) : "?");
    json_object_put(ret);
    return VMIC_OK;
}
