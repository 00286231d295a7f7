/*
 * Whether QEMU's gdbstub has a client, from QMP's query-chardev: the gdb
 * chardev's "filename" starts with "disconnected:" while nobody is
 * connected. vmic asks before it connects, because a connection to a stub
 * that has a client is not refused: it waits in the backlog, and QEMU stops
 * the VM when it accepts it later (see lock.c).
 *
 * The chardev is the one labelled "gdb" (what -gdb creates), or else the
 * one whose filename names the gdb socket's path (-gdb chardev:ID).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "qemu.h"

typedef struct chardev {
    char label[128];
    char filename[600];
} chardev;

static bool read_chardev(jp *j, chardev *c)
{
    memset(c, 0, sizeof *c);
    if (!jp_begin_object(j))
        return false;
    while (jp_next_key(j)) {
        bool ok;
        if (strcmp(j->key, "label") == 0 && jp_peek(j) == JP_STRING)
            ok = jp_string(j, c->label, sizeof c->label, NULL);
        else if (strcmp(j->key, "filename") == 0 && jp_peek(j) == JP_STRING)
            ok = jp_string(j, c->filename, sizeof c->filename, NULL);
        else
            ok = jp_skip(j);
        if (!ok)
            return false;
    }
    return !j->failed;
}

static bool names_endpoint(const chardev *c, const qemu_endpoint_t *gdb)
{
    if (strcmp(c->label, "gdb") == 0)
        return true;
    if (gdb->tcp)
        return false;
    return strstr(c->filename, gdb->path) != NULL;
}

stub_state stub_state_parse(const char *json, const qemu_endpoint_t *gdb)
{
    jp j;
    chardev c, found;
    bool have = false;
    jp_init(&j, json, strlen(json));
    if (!jp_begin_array(&j))
        return STUB_UNKNOWN;
    while (jp_next_element(&j)) {
        if (!read_chardev(&j, &c))
            return STUB_UNKNOWN;
        /* The label "gdb" wins over a filename that only mentions the path. */
        if (names_endpoint(&c, gdb) && (!have || strcmp(c.label, "gdb") == 0)) {
            found = c;
            have = true;
        }
    }
    if (j.failed || !have)
        return STUB_UNKNOWN;
    return strncmp(found.filename, "disconnected:", 13) == 0 ? STUB_FREE : STUB_BUSY;
}

vmic_status stub_query(qmp_client_t *q, const qemu_endpoint_t *gdb, stub_state *st)
{
    char *ret;
    *st = STUB_UNKNOWN;
    vmic_status s = qmp_execute(q, "query-chardev", NULL, 0, &ret);
    if (s)
        return s;
    *st = stub_state_parse(ret, gdb);
    free(ret);
    return VMIC_OK;
}
