/*
 * libFuzzer target for what the qemu driver reads from QEMU: the gdb remote
 * protocol as a stub sends it (framing, checksums, NAKs, run-length
 * encoding, stop replies, through a socketpair to the real client), a 'g'
 * reply decoded into registers, the target description XML, HMP's
 * "info mtree -f" text, and QMP as QEMU sends it (lines of JSON, through a
 * socketpair to the real QMP client). The first input byte picks which.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "drivers/qemu/qemu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_wire(const uint8_t *data, size_t size)
{
    int sv[2];
    gdb_remote_t g;
    const char *r;
    size_t n;

    if (size > 60000 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return;
    /* The stub's bytes are all there, then EOF: the client must end with a
     * reply or an error, never crash or wait past EOF. */
    if (write(sv[0], data, size) != (ssize_t)size) {
        close(sv[0]);
        close(sv[1]);
        return;
    }
    shutdown(sv[0], SHUT_WR);
    gdb_init(&g, sv[1], "fuzz", 50);
    for (int i = 0; i < 8 && !g.dead; i++) {
        if (gdb_command(&g, "g", &r, &n) == VMIC_OK && gdb_is_stop_reply(r, n)) {
            gdb_stop_t stop;
            gdb_parse_stop(r, n, &stop);
        }
    }
    gdb_stop_t stop;
    while (gdb_wait_stop(&g, 0, &stop) == VMIC_OK)
        ;
    gdb_close(&g);
    close(sv[0]);
}

/* QMP: the peer's bytes, then EOF; the client runs commands until it has
 * consumed them (an error, a reply) or the connection is dead. */
static void fuzz_qmp(const uint8_t *data, size_t size)
{
    int sv[2];
    qmp_client_t q;
    if (size > 60000 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return;
    if (write(sv[0], data, size) != (ssize_t)size) {
        close(sv[0]);
        close(sv[1]);
        return;
    }
    shutdown(sv[0], SHUT_WR);
    memset(&q, 0, sizeof q);
    q.fd = sv[1];
    q.timeout_ms = 50;
    fcntl(q.fd, F_SETFL, fcntl(q.fd, F_GETFL) | O_NONBLOCK);
    snprintf(q.name, sizeof q.name, "fuzz");
    for (int i = 0; i < 8 && !q.dead; i++) {
        bool running;
        char status[32], *out = NULL;
        switch (i % 3) {
        case 0:
            qmp_running(&q, &running, status, sizeof status);
            break;
        case 1:
            qmp_hmp(&q, "info mtree -f", &out);
            free(out);
            break;
        default:
            qmp_execute(&q, "query-memdev", NULL, 0, &out);
            free(out);
            break;
        }
    }
    qmp_close(&q);
    close(sv[0]);
}

static const char *xml_doc;
static size_t xml_len;

static vmic_status fetch(void *ctx, const char *annex, char **doc, size_t *len)
{
    (void)ctx;
    (void)annex;
    *doc = malloc(xml_len + 1);
    if (!*doc)
        return VMIC_E_NOMEM;
    memcpy(*doc, xml_doc, xml_len);
    (*doc)[xml_len] = '\0';
    *len = xml_len;
    return VMIC_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t which = data[0] % 5;
    data++;
    size--;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    switch (which) {
    case 0:
        fuzz_wire(data, size);
        break;
    case 1: {
        uint8_t b[1024], avail[1024];
        regs_decode_hex(text, size, b, avail, sizeof b);
        gdb_stop_t stop;
        gdb_parse_stop(text, size, &stop);
        break;
    }
    case 2: {
        gdb_regmap_t map;
        xml_doc = text;
        xml_len = size;
        if (gdb_target_parse("target.xml", fetch, NULL, &map) == VMIC_OK) {
            regs_groups(&map);
            gdb_regmap_free(&map);
        }
        break;
    }
    case 3: {
        qemu_ram_range_t *r;
        size_t n;
        if (mtree_ram_ranges(text, "memory", "ram0", &r, &n) == VMIC_OK)
            free(r);
        break;
    }
    case 4:
        fuzz_qmp(data, size);
        break;
    }
    free(text);
    return 0;
}
