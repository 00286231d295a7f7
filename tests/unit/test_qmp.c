/*
 * The QMP client against a scripted peer (the text QEMU 7.2 sends): the
 * command it writes (quoted arguments, its id), replies found among events
 * and other clients' replies, error replies, a reply split across writes,
 * HMP output with escapes, and hostile peers: not JSON, a NUL, a peer that
 * closes or says nothing -- each a clear error within the timeout.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "drivers/qemu/qemu.h"
#include "gdb_peer.h"
#include "harness.h"

static peer p;
static qmp_client_t q;

/* A client on the peer's socket, past the greeting (qmp_open's part). */
static void start(void)
{
    peer_init(&p);
    memset(&q, 0, sizeof q);
    q.fd = p.client_fd;
    /* As endpoint_connect leaves it: every wait is poll with a deadline. */
    fcntl(q.fd, F_SETFL, fcntl(q.fd, F_GETFL) | O_NONBLOCK);
    q.timeout_ms = 500;
    snprintf(q.name, sizeof q.name, "QMP test");
}

static void finish(void)
{
    qmp_close(&q);
    peer_finish(&p);
}

static void test_command_text_and_reply(void)
{
    char *ret = NULL, sent[4096];
    start();
    peer_expect_step(&p, "\n");
    peer_add(&p, 0, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, "
                    "\"event\": \"STOP\"}\r\n"
                    "{\"return\": {}, \"id\": 99}\r\n"
                    "{\"return\": \"/dev/shm/vmic \\\"x\\\"/ram\", \"id\": 1}\r\n");
    peer_start(&p);
    const qmp_arg_t args[] = {{"path", "/objects/ram0"}, {"property", "mem \"path\"\n"}};
    CHECK_OK(qmp_execute(&q, "qom-get", args, 2, &ret));
    CHECK_STR(ret, "\"/dev/shm/vmic \\\"x\\\"/ram\"");
    free(ret);
    peer_received(&p, sent, sizeof sent);
    CHECK_STR(sent, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/objects/ram0\","
                    "\"property\":\"mem \\\"path\\\"\\n\"},\"id\":1}\n");
    finish();
}

static void test_split_reply_and_hmp(void)
{
    char *out = NULL;
    start();
    peer_expect_step(&p, "\n");
    peer_add(&p, 0, "{\"ret");
    peer_add(&p, 20, "urn\": \"CPU#0\\r\\nRIP=ffff\\u00e9\\t\\\"\\r\\n\", \"i");
    peer_add(&p, 20, "d\": 1}\n");
    peer_start(&p);
    CHECK_OK(qmp_hmp(&q, "info registers", &out));
    CHECK_STR(out, "CPU#0\r\nRIP=ffff\xc3\xa9\t\"\r\n");
    free(out);
    finish();
}

static void test_query_status(void)
{
    bool running = false;
    char status[32];
    start();
    peer_expect_step(&p, "\n");
    peer_add(&p, 0, "{\"return\": {\"status\": \"debug\", \"singlestep\": false, \"running\": "
                    "false}, \"id\": 1}\n");
    peer_expect_step(&p, "\"id\":2}\n");
    peer_add(&p, 0, "{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": 2}\n");
    peer_expect_step(&p, "\"id\":3}\n");
    peer_add(&p, 0, "{\"return\": {\"status\": \"running\"}, \"id\": 3}\n");
    peer_start(&p);
    running = true;
    CHECK_OK(qmp_running(&q, &running, status, sizeof status));
    CHECK(!running);
    CHECK_STR(status, "debug");
    CHECK_OK(qmp_running(&q, &running, status, sizeof status));
    CHECK(running);
    CHECK_STR(status, "running");
    CHECK_ERR(qmp_running(&q, &running, NULL, 0), VMIC_E_FORMAT);
    CHECK_ERRMSG("without 'running'");
    finish();
}

static void test_error_reply(void)
{
    start();
    peer_expect_step(&p, "\n");
    peer_add(&p, 0, "{\"id\": 1, \"error\": {\"class\": \"CommandNotFound\", \"desc\": "
                    "\"The command nope has not been found\"}}\n");
    peer_start(&p);
    CHECK_ERR(qmp_execute(&q, "nope", NULL, 0, NULL), VMIC_E_IO);
    CHECK_ERRMSG("nope failed: The command nope has not been found (CommandNotFound)");
    /* The connection stays usable after a refused command. */
    CHECK(!q.dead);
    finish();
}

static void test_hostile_peers(void)
{
    static const struct {
        const char *data;
        size_t len;
        vmic_status code;
        const char *msg;
    } cases[] = {
        {"$T02thread:01;#07", 0, VMIC_E_FORMAT, "not QMP"},
        {"{\"return\": {}, \"id\": 1} trailing\n", 0, VMIC_E_FORMAT, "trailing data"},
        {"{\"return\": [1, 2, \"id\": 1}\n", 0, VMIC_E_FORMAT, "not a QMP message"},
        {"{\"return\": {}, \"id\"\0: 1}\n", 25, VMIC_E_FORMAT, "NUL"},
        {"{\"return\": {}, ", 0, VMIC_E_TIMEOUT, "no reply to query-status"},
        {NULL, 0, VMIC_E_IO, "closed by the peer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        start();
        peer_expect_step(&p, "\n");
        if (cases[i].data)
            peer_add_n(&p, 0, cases[i].data, cases[i].len, 0);
        else
            p.steps[p.nsteps++] = (peer_step){.data = NULL};
        peer_start(&p);
        double t0 = peer_now();
        bool running;
        vmic_status s = qmp_running(&q, &running, NULL, 0);
        CHECK_MSG(s == cases[i].code, "case %zu: %s, expected %s (%s)", i, vmic_status_name(s),
                  vmic_status_name(cases[i].code), vmic_errmsg());
        CHECK_ERRMSG(cases[i].msg);
        CHECK(peer_now() - t0 < 2.0);
        /* Every later call fails at once. */
        if (q.dead)
            CHECK_ERR(qmp_execute(&q, "cont", NULL, 0, NULL), VMIC_E_IO);
        finish();
    }
}

/* Output a previous client left (QEMU keeps it across clients) comes before
 * the greeting and is passed over; a peer that never greets is refused. */
static void test_greeting_after_leftovers(void)
{
    char sent[4096];
    start();
    peer_add(&p, 0, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, "
                    "\"event\": \"RESUME\"}\r\n"
                    "{\"return\": {}, \"id\": 7}\r\n"
                    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, "
                    "\"major\": 7}, \"package\": \"\"}, \"capabilities\": [\"oob\"]}}\r\n");
    peer_expect_step(&p, "\n");
    peer_add(&p, 0, "{\"return\": {}, \"id\": 1}\r\n");
    peer_start(&p);
    CHECK_OK(qmp_handshake(&q));
    CHECK_STR(q.version, "7.2.22");
    peer_received(&p, sent, sizeof sent);
    CHECK_STR(sent, "{\"execute\":\"qmp_capabilities\",\"id\":1}\n");
    finish();

    start();
    for (int i = 0; i < 17; i++)
        peer_add(&p, 0, "{\"event\": \"STOP\"}\n");
    peer_start(&p);
    CHECK_ERR(qmp_handshake(&q), VMIC_E_FORMAT);
    CHECK_ERRMSG("no QMP greeting in the first 17 messages");
    finish();
}

int main(void)
{
    RUN(test_greeting_after_leftovers);
    RUN(test_command_text_and_reply);
    RUN(test_split_reply_and_hmp);
    RUN(test_query_status);
    RUN(test_error_reply);
    RUN(test_hostile_peers);
    return HARNESS_RESULT();
}
