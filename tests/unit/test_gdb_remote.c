/*
 * The gdb remote-protocol client against a scripted fake stub over a
 * socketpair: framing, checksums and NAKs, retransmission, acks and no-ack
 * mode, run-length encoding, binary escapes, packets split across reads,
 * asynchronous stop replies, timeouts, a peer that trickles or closes, and
 * hostile input (oversized and random packets). Then the run-control
 * primitives the event layer will use: interrupt, continue, step, Z/z,
 * waiting for a stop, the thread list.
 */
#include <signal.h>
#include <stdlib.h>

#include "drivers/qemu/qemu.h"
#include "gdb_peer.h"
#include "harness.h"

#define TIMEOUT_MS 1000

static char f1[256], f2[256], f3[256], f4[256];

static void client(peer *p, gdb_remote_t *g, int timeout_ms)
{
    gdb_init(g, p->client_fd, "test-peer", timeout_ms);
}

static void finish(peer *p, gdb_remote_t *g)
{
    gdb_close(g);
    peer_finish(p);
}

/* ---- framing ------------------------------------------------------------------ */

static void test_command_reply_and_acks(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;
    size_t n;
    char sent[256];

    peer_init(&p);
    peer_add(&p, 0, "+");
    peer_add(&p, 0, frame(f1, sizeof f1, "OK"));
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_OK(gdb_command(&g, "qAttached", &r, &n));
    CHECK_STR(r, "OK");
    CHECK_EQ(n, 2);
    /* The leading '+' (see gdb_remote.c), the packet, then our ack of "OK". */
    peer_received(&p, sent, sizeof sent);
    finish(&p, &g);
    CHECK_STR(sent, "+$qAttached#8f+");
}

static void test_bad_checksum_is_nakd(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;
    char sent[256];

    peer_init(&p);
    peer_add(&p, 0, "+$OK#00");                       /* corrupt */
    peer_add(&p, 20, frame(f1, sizeof f1, "OK"));      /* the stub's retransmission */
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_OK(gdb_command(&g, "g", &r, NULL));
    CHECK_STR(r, "OK");
    CHECK_EQ(g.stats.naks_sent, 1);
    peer_received(&p, sent, sizeof sent);
    finish(&p, &g);
    CHECK_STR(sent, "+$g#67-+");
}

static void test_bad_checksum_digits(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;

    peer_init(&p);
    peer_add(&p, 0, "$OK#zz");
    peer_add(&p, 0, frame(f1, sizeof f1, "OK"));
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_OK(gdb_command(&g, "g", &r, NULL));
    CHECK_STR(r, "OK");
    CHECK_EQ(g.stats.naks_sent, 1);
    finish(&p, &g);
}

static void test_endless_corruption_gives_up(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;

    peer_init(&p);
    peer_add_n(&p, 0, "$OK#00", 6, 20);
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_ERR(gdb_command(&g, "g", &r, NULL), VMIC_E_IO);
    CHECK_ERRMSG("corrupt packets");
    CHECK(g.dead);
    finish(&p, &g);
}

static void test_nak_makes_us_resend(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;
    char sent[256];

    peer_init(&p);
    peer_expect_step(&p, "$qAttached#8f");
    peer_add(&p, 0, "-");
    peer_expect_step(&p, "$qAttached#8f");
    peer_add(&p, 0, "+");
    peer_add(&p, 0, frame(f1, sizeof f1, "1"));
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_OK(gdb_command(&g, "qAttached", &r, NULL));
    CHECK_STR(r, "1");
    CHECK_EQ(g.stats.retransmits, 1);
    peer_received(&p, sent, sizeof sent);
    finish(&p, &g);
    CHECK_STR(sent, "+$qAttached#8f+$qAttached#8f+");
}

static void test_endless_naks_give_up(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;

    peer_init(&p);
    peer_add(&p, 0, "--------------------");
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_ERR(gdb_command(&g, "g", &r, NULL), VMIC_E_IO);
    CHECK_ERRMSG("rejected our packet");
    finish(&p, &g);
}

static void test_split_packets(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;

    /* "$T05thread:01;#.." then "$0123456789#.." cut at every awkward place:
     * inside the payload, before '#', between the checksum digits. */
    frame(f1, sizeof f1, "0123456789abcdef");
    static char a[8], b[32], c[8], d[8];
    memcpy(a, f1, 3);
    memcpy(b, f1 + 3, 14);
    memcpy(c, f1 + 17, 2);
    memcpy(d, f1 + 19, 1);
    peer_init(&p);
    peer_add(&p, 0, "+");
    peer_add(&p, 30, a);
    peer_add(&p, 30, b);
    peer_add(&p, 30, c);
    peer_add(&p, 30, d);
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_OK(gdb_command(&g, "g", &r, NULL));
    CHECK_STR(r, "0123456789abcdef");
    finish(&p, &g);
}

static void test_two_packets_in_one_read(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;
    static char both[64];

    /* A cut packet would test nothing: the whole of it must fit. */
    CHECK(snprintf(both, sizeof both, "+%s+%s", frame(f1, sizeof f1, "OK"),
                   frame(f2, sizeof f2, "E01")) < (int)sizeof both);
    peer_init(&p);
    peer_add(&p, 0, both);
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_OK(gdb_command(&g, "Hg1", &r, NULL));
    CHECK_STR(r, "OK");
    CHECK_OK(gdb_command(&g, "Hg2", &r, NULL));
    CHECK_STR(r, "E01");
    finish(&p, &g);
}

static void test_run_length_encoding(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;
    size_t n;

    /* '0* ' is four '0' (32 - 29 = 3 more), '1*!' five '1', 'f*"' six 'f',
     * '0*~' 98 '0' (126 - 29 = 97 more). */
    peer_init(&p);
    peer_add(&p, 0, frame(f1, sizeof f1, "0* 1*!f*\"x"));
    peer_add(&p, 0, frame(f2, sizeof f2, "0*~"));
    peer_add(&p, 0, frame(f3, sizeof f3, "*!"));   /* nothing to repeat */
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_OK(gdb_command(&g, "g", &r, &n));
    CHECK_STR(r, "000011111ffffffx");
    CHECK_OK(gdb_command(&g, "g", &r, &n));
    CHECK_EQ(n, 98);
    CHECK(strspn(r, "0") == 98);
    CHECK_ERR(gdb_command(&g, "g", &r, &n), VMIC_E_FORMAT);
    CHECK_ERRMSG("run-length");
    finish(&p, &g);
}

static void test_rle_bad_count(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;
    static char bad[16] = "$0*\x7f#00";

    /* Count byte 0x7f (beyond '~'): refused, checksum fixed up. */
    unsigned sum = '0' + '*' + 0x7f;
    snprintf(bad + 5, sizeof bad - 5, "%02x", sum & 0xff);
    peer_init(&p);
    peer_add(&p, 0, bad);
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_ERR(gdb_command(&g, "g", &r, NULL), VMIC_E_FORMAT);
    CHECK_ERRMSG("run-length count");
    finish(&p, &g);
}

static void test_binary_unescape(void)
{
    char a[] = "a}]b}\x03}\x04}\x0a";
    size_t n = gdb_unescape_binary(a, strlen(a));
    CHECK_EQ(n, 6);
    CHECK(memcmp(a, "a}b#$*", 6) == 0);
    char b[] = "abc}";
    CHECK_EQ(gdb_unescape_binary(b, strlen(b)), SIZE_MAX);
}

static void test_garbage_before_packet_skipped(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;
    static char buf[64];

    CHECK(snprintf(buf, sizeof buf, "xyz\x03\xff+%s", frame(f1, sizeof f1, "OK")) < (int)sizeof buf);
    peer_init(&p);
    peer_add(&p, 0, buf);
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_OK(gdb_command(&g, "g", &r, NULL));
    CHECK_STR(r, "OK");
    CHECK(g.stats.garbage_bytes >= 5);
    finish(&p, &g);
}

static void test_restarted_frame(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;
    static char buf[64];

    /* A '$' inside a frame: the frame before it was cut short. */
    CHECK(snprintf(buf, sizeof buf, "$trunc%s", frame(f1, sizeof f1, "OK")) < (int)sizeof buf);
    peer_init(&p);
    peer_add(&p, 0, buf);
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_OK(gdb_command(&g, "g", &r, NULL));
    CHECK_STR(r, "OK");
    finish(&p, &g);
}

/* ---- asynchronous packets ------------------------------------------------------ */

static void test_async_stop_reply_is_queued(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;

    /* What QEMU sends when the VM was running as our packet arrived. */
    peer_init(&p);
    peer_add(&p, 0, frame(f1, sizeof f1, "T02thread:01;"));
    peer_add(&p, 0, "+");
    peer_add(&p, 0, frame(f2, sizeof f2, "0011"));
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    g.running = true;
    CHECK_OK(gdb_command(&g, "g", &r, NULL));
    CHECK_STR(r, "0011");
    CHECK_EQ(g.npending, 1);
    CHECK_EQ(g.pending[0].signal, 2);
    CHECK(g.pending[0].has_thread);
    CHECK_EQ(g.pending[0].thread, 1);
    CHECK(!g.running);
    finish(&p, &g);
}

static void test_console_output_skipped(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;

    peer_init(&p);
    peer_add(&p, 0, frame(f1, sizeof f1, "O48656c6c6f0a"));
    peer_add(&p, 0, frame(f2, sizeof f2, "OK"));
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_OK(gdb_command(&g, "qRcmd,6869", &r, NULL));
    CHECK_STR(r, "OK");
    finish(&p, &g);
}

static void test_drain_takes_only_what_arrived(void)
{
    peer p;
    gdb_remote_t g;

    peer_init(&p);
    peer_add(&p, 0, frame(f1, sizeof f1, "T02thread:02;"));
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    peer_sleep_ms(50);
    double t0 = peer_now();
    CHECK_OK(gdb_drain(&g));
    CHECK_OK(gdb_drain(&g));   /* nothing more: returns at once */
    CHECK(peer_now() - t0 < 0.2);
    CHECK_EQ(g.npending, 1);
    CHECK_EQ(g.pending[0].thread, 2);
    finish(&p, &g);
}

/* ---- failures ------------------------------------------------------------------ */

static void test_timeout_no_reply(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;

    peer_init(&p);
    peer_start(&p);
    client(&p, &g, 200);
    double t0 = peer_now();
    CHECK_ERR(gdb_command(&g, "g", &r, NULL), VMIC_E_TIMEOUT);
    double took = peer_now() - t0;
    CHECK_MSG(took >= 0.18 && took < 1.0, "timed out after %.3f s", took);
    CHECK_ERRMSG("test-peer");
    CHECK_ERRMSG("no reply to 'g'");
    /* A late reply could be taken for the next command's: the connection is done. */
    t0 = peer_now();
    CHECK_ERR(gdb_command(&g, "g", &r, NULL), VMIC_E_IO);
    CHECK(peer_now() - t0 < 0.05);
    CHECK_ERRMSG("failed earlier");
    finish(&p, &g);
}

static void test_trickling_peer_times_out(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;

    /* One byte every 40 ms, a packet that would take 8 s: the deadline is
     * for the whole reply, not per read. */
    peer_init(&p);
    peer_add(&p, 0, "$");
    for (int i = 0; i < 60; i++)
        peer_add(&p, 40, "a");
    peer_start(&p);
    client(&p, &g, 300);
    double t0 = peer_now();
    CHECK_ERR(gdb_command(&g, "g", &r, NULL), VMIC_E_TIMEOUT);
    CHECK(peer_now() - t0 < 1.0);
    CHECK(g.dead);
    finish(&p, &g);
}

static void test_eof_is_clear_error(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;

    peer_init(&p);
    peer_add(&p, 20, NULL);   /* QEMU dies */
    peer_start(&p);
    client(&p, &g, 5000);
    double t0 = peer_now();
    CHECK_ERR(gdb_command(&g, "g", &r, NULL), VMIC_E_IO);
    CHECK(peer_now() - t0 < 1.0);
    CHECK_ERRMSG("gdb test-peer");
    CHECK_ERRMSG("closed by the peer");
    CHECK(g.dead);
    /* The reason outlives the message: another thread may ask later. */
    vmic_clear_error();
    CHECK_ERR(gdb_command(&g, "g", &r, NULL), VMIC_E_IO);
    CHECK_MSG(strstr(g.why_dead, "gdb test-peer") && strstr(g.why_dead, "closed by the peer"),
              "why_dead: %s", g.why_dead);
    finish(&p, &g);
}

static void test_eof_mid_packet(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;

    peer_init(&p);
    peer_add(&p, 0, "$0011223");
    peer_add(&p, 20, NULL);
    peer_start(&p);
    client(&p, &g, 5000);
    CHECK_ERR(gdb_command(&g, "g", &r, NULL), VMIC_E_IO);
    CHECK_ERRMSG("closed by the peer");
    finish(&p, &g);
}

static void test_epipe_no_sigpipe(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;

    /* SIGPIPE's default action would kill this test: MSG_NOSIGNAL must. */
    signal(SIGPIPE, SIG_DFL);
    peer_init(&p);
    client(&p, &g, 500);
    close(p.fd);
    p.fd = -1;
    vmic_status s = gdb_command(&g, "g", &r, NULL);
    CHECK(s == VMIC_E_IO);
    CHECK_ERRMSG("closed by the peer");
    gdb_close(&g);
}

static void test_oversized_packet_refused(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;
    static char chunk[65536];

    memset(chunk, 'a', sizeof chunk);
    peer_init(&p);
    peer_add(&p, 0, "$");
    peer_add_n(&p, 0, chunk, sizeof chunk, 40);   /* 2.6 MB, no '#' */
    peer_start(&p);
    client(&p, &g, 5000);
    CHECK_ERR(gdb_command(&g, "g", &r, NULL), VMIC_E_RANGE);
    CHECK_ERRMSG("longer than");
    CHECK(g.dead);
    finish(&p, &g);
}

static void test_random_input_never_crashes(void)
{
    /* Whatever a broken stub sends, the client returns (within its timeout)
     * with a reply or an error: no crash, no hang (ASan checks the rest). */
    srand(12345);
    for (int round = 0; round < 100; round++) {
        peer p;
        gdb_remote_t g;
        const char *r;
        static char junk[600];
        size_t n = (size_t)(rand() % 500) + 1;
        for (size_t i = 0; i < n; i++) {
            static const char alphabet[] = "$#+-*}0123456789abcdefTSWXO:;\x03 ";
            junk[i] = rand() % 4 ? alphabet[rand() % (sizeof alphabet - 1)] : (char)rand();
        }
        peer_init(&p);
        peer_add_n(&p, 0, junk, n, 0);
        if (round % 2)
            peer_add(&p, 0, NULL);   /* and the stub dies */
        peer_start(&p);
        client(&p, &g, 20);
        for (int k = 0; k < 4 && !g.dead; k++)
            (void)gdb_command(&g, "g", &r, NULL);
        finish(&p, &g);
    }
}

/* ---- handshake and no-ack mode ------------------------------------------------- */

static void test_handshake_no_ack(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;
    char sent[512];

    peer_init(&p);
    peer_add(&p, 0, "+");
    peer_add(&p, 0, frame(f1, sizeof f1, "PacketSize=1000;qXfer:features:read+;"
                                          "QStartNoAckMode+;vContSupported+"));
    peer_add(&p, 0, "+");
    peer_add(&p, 0, frame(f2, sizeof f2, "OK"));
    /* After no-ack: a corrupt packet is an error, not a NAK. */
    peer_add(&p, 0, "$OK#00");
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_OK(gdb_handshake(&g));
    CHECK_EQ(g.packet_size, 0x1000);
    CHECK(g.has_xfer_features);
    CHECK(g.has_vcont);
    CHECK(!g.ack_mode);
    CHECK_ERR(gdb_command(&g, "g", &r, NULL), VMIC_E_FORMAT);
    CHECK_ERRMSG("no-ack");
    CHECK_EQ(g.stats.naks_sent, 0);
    peer_received(&p, sent, sizeof sent);
    finish(&p, &g);
    CHECK(strstr(sent, "$qSupported:") == sent + 1);
    CHECK(strstr(sent, "$QStartNoAckMode#b0+") != NULL);   /* the OK still acked */
    CHECK(strstr(sent, "-") == NULL);
}

static void test_handshake_qemu72(void)
{
    peer p;
    gdb_remote_t g;

    /* QEMU 7.2's exact reply: no QStartNoAckMode, so acks stay on. */
    peer_init(&p);
    peer_add(&p, 0, "+");
    peer_add(&p, 0, frame(f1, sizeof f1,
                          "PacketSize=1000;qXfer:features:read+;vContSupported+;multiprocess+"));
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_OK(gdb_handshake(&g));
    CHECK(g.ack_mode);
    CHECK_EQ(g.packet_size, 4096);
    finish(&p, &g);
}

static void test_packet_size_respected(void)
{
    peer p;
    gdb_remote_t g;
    const char *r;
    char big[200];

    peer_init(&p);
    client(&p, &g, TIMEOUT_MS);
    g.packet_size = 64;
    memset(big, 'm', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK_ERR(gdb_command(&g, big, &r, NULL), VMIC_E_RANGE);
    CHECK_ERRMSG("PacketSize");
    CHECK(!g.dead);
    finish(&p, &g);
}

/* ---- stop replies --------------------------------------------------------------- */

static void test_parse_stop_replies(void)
{
    gdb_stop_t s;
    const char *t = "T05thread:02;watch:ffff8880012345a0;";
    CHECK_OK(gdb_parse_stop(t, strlen(t), &s));
    CHECK_EQ(s.kind, GDB_STOP_SIGNAL);
    CHECK_EQ(s.signal, 5);
    CHECK_EQ(s.thread, 2);
    CHECK_EQ(s.watch, GDB_WATCH_WRITE);
    CHECK_EQ(s.watch_addr, 0xffff8880012345a0ull);

    t = "T05thread:p1.3;rwatch:10;";
    CHECK_OK(gdb_parse_stop(t, strlen(t), &s));
    CHECK_EQ(s.thread, 3);
    CHECK_EQ(s.watch, GDB_WATCH_READ);
    t = "T05awatch:20;thread:1";
    CHECK_OK(gdb_parse_stop(t, strlen(t), &s));
    CHECK_EQ(s.watch, GDB_WATCH_ACCESS);
    CHECK_EQ(s.watch_addr, 0x20);
    t = "T05swbreak:;06:0011223344556677;hwbreak;thread:04;core:0;";
    CHECK_OK(gdb_parse_stop(t, strlen(t), &s));
    CHECK(s.swbreak && s.hwbreak);
    CHECK_EQ(s.thread, 4);
    t = "S02";
    CHECK_OK(gdb_parse_stop(t, strlen(t), &s));
    CHECK_EQ(s.signal, 2);
    CHECK(!s.has_thread);
    t = "W00";
    CHECK_OK(gdb_parse_stop(t, strlen(t), &s));
    CHECK_EQ(s.kind, GDB_STOP_EXITED);
    t = "X09;process:1";
    CHECK_OK(gdb_parse_stop(t, strlen(t), &s));
    CHECK_EQ(s.kind, GDB_STOP_KILLED);
    CHECK_EQ(s.signal, 9);
    /* Malformed pairs end the parse; the stop itself still counts. */
    t = "T05thread";
    CHECK_OK(gdb_parse_stop(t, strlen(t), &s));
    CHECK(!s.has_thread);
    t = "T05thread:zz;watch:;";
    CHECK_OK(gdb_parse_stop(t, strlen(t), &s));
    CHECK(!s.has_thread);
    CHECK_EQ(s.watch, GDB_WATCH_NONE);
    /* Not stop replies: replies to commands that start alike. */
    CHECK(!gdb_is_stop_reply("T0", 2));
    CHECK(!gdb_is_stop_reply("Text=0;Data=0", 13));
    CHECK(!gdb_is_stop_reply("S05x", 4));
    CHECK(!gdb_is_stop_reply("0011", 4));
    CHECK(!gdb_is_stop_reply("OK", 2));
    CHECK_ERR(gdb_parse_stop("OK", 2, &s), VMIC_E_FORMAT);
}

/* ---- run control --------------------------------------------------------------- */

static void test_interrupt_running(void)
{
    peer p;
    gdb_remote_t g;
    char sent[256];

    /* Running: the interrupt stops it (T02), then the barrier's reply. */
    peer_init(&p);
    peer_add(&p, 0, frame(f1, sizeof f1, "T02thread:01;"));
    peer_add(&p, 0, "+");
    peer_add(&p, 0, frame(f2, sizeof f2, "1"));
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    g.running = true;
    CHECK_OK(gdb_interrupt(&g));
    CHECK(!g.running);
    CHECK_EQ(g.npending, 1);
    peer_received(&p, sent, sizeof sent);
    finish(&p, &g);
    CHECK(sent[0] == 0x03);
    CHECK(strstr(sent, "+$qAttached#8f") == sent + 1);
}

static void test_interrupt_stopped(void)
{
    peer p;
    gdb_remote_t g;

    /* Already stopped: QEMU ignores 0x03 and only the barrier answers. */
    peer_init(&p);
    peer_add(&p, 0, "+");
    peer_add(&p, 0, frame(f1, sizeof f1, "1"));
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    double t0 = peer_now();
    CHECK_OK(gdb_interrupt(&g));
    CHECK(peer_now() - t0 < 0.5);
    CHECK_EQ(g.npending, 0);
    finish(&p, &g);
}

static void test_continue_and_wait_stop(void)
{
    peer p;
    gdb_remote_t g;
    gdb_stop_t stop;
    char sent[256];

    peer_init(&p);
    peer_expect_step(&p, "$c#63");
    peer_add(&p, 0, "+");                                          /* ack of 'c' */
    peer_add(&p, 100, frame(f1, sizeof f1, "T05thread:02;"));    /* a breakpoint */
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_OK(gdb_continue(&g));
    CHECK(g.running);
    /* Not yet: a short wait times out without killing the connection. */
    CHECK_ERR(gdb_wait_stop(&g, 10, &stop), VMIC_E_TIMEOUT);
    CHECK(!g.dead);
    CHECK_OK(gdb_wait_stop(&g, 2000, &stop));
    CHECK_EQ(stop.signal, 5);
    CHECK_EQ(stop.thread, 2);
    CHECK(!g.running);
    peer_received(&p, sent, sizeof sent);
    finish(&p, &g);
    CHECK(strncmp(sent, "+$c#63", 6) == 0);
}

static void test_continue_waits_for_ack(void)
{
    peer p;
    gdb_remote_t g;
    char sent[256];

    /* The VM ran when 'c' arrived (resumed by someone else): QEMU stopped
     * it on the leading '+' (T02), then acked and ran 'c'. That T02 is from
     * before the continue: dropped, not taken for the stop that ends it. A
     * NAK on the way makes us resend. */
    peer_init(&p);
    peer_expect_step(&p, "$c#63");
    peer_add(&p, 0, "-");
    peer_expect_step(&p, "$c#63");
    peer_add(&p, 0, frame(f1, sizeof f1, "T02thread:01;"));
    peer_add(&p, 20, "+");
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_OK(gdb_continue(&g));
    CHECK(g.running);
    CHECK_EQ(g.npending, 0);
    CHECK_EQ(g.stats.stale_stops, 1);
    CHECK_EQ(g.stats.retransmits, 1);
    peer_received(&p, sent, sizeof sent);
    finish(&p, &g);
    CHECK(strncmp(sent, "+$c#63+$c#63+", 13) == 0);

    /* No ack at all: a clear timeout, not a VM believed running. */
    peer_init(&p);
    client(&p, &g, 200);
    CHECK_ERR(gdb_continue(&g), VMIC_E_TIMEOUT);
    CHECK_ERRMSG("did not acknowledge");
    CHECK(!g.running);
    finish(&p, &g);
}

static void test_wait_stop_takes_queued_first(void)
{
    peer p;
    gdb_remote_t g;
    gdb_stop_t stop;
    const char *r;

    peer_init(&p);
    peer_add(&p, 0, frame(f1, sizeof f1, "T05thread:01;watch:1000;"));
    peer_add(&p, 0, frame(f2, sizeof f2, "OK"));
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_OK(gdb_command(&g, "Hg1", &r, NULL));
    CHECK_OK(gdb_wait_stop(&g, 0, &stop));
    CHECK_EQ(stop.watch, GDB_WATCH_WRITE);
    CHECK_EQ(stop.watch_addr, 0x1000);
    CHECK_EQ(g.npending, 0);
    finish(&p, &g);
}

static void test_step_uses_vcont(void)
{
    peer p;
    gdb_remote_t g;
    char sent[256];

    peer_init(&p);
    peer_expect_step(&p, "vCont;s:2#");
    peer_add(&p, 0, "+");
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    g.has_vcont = true;
    CHECK_OK(gdb_step(&g, 2));
    CHECK(g.running);
    peer_received(&p, sent, sizeof sent);
    finish(&p, &g);
    CHECK(strstr(sent, "$vCont;s:2#") != NULL);
}

static void test_breakpoint_packets(void)
{
    peer p;
    gdb_remote_t g;
    char sent[512];

    peer_init(&p);
    peer_add(&p, 0, frame(f1, sizeof f1, "OK"));
    peer_add(&p, 0, frame(f2, sizeof f2, "OK"));
    peer_add(&p, 0, frame(f3, sizeof f3, ""));
    peer_add(&p, 0, frame(f4, sizeof f4, "E22"));
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_OK(gdb_insert_point(&g, GDB_POINT_SW_BREAK, 0xffffffff81000000ull, 1));
    CHECK_OK(gdb_remove_point(&g, GDB_POINT_SW_BREAK, 0xffffffff81000000ull, 1));
    CHECK_ERR(gdb_insert_point(&g, GDB_POINT_ACCESS_WATCH, 0x1000, 8), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("watchpoint");
    CHECK_ERR(gdb_insert_point(&g, GDB_POINT_WRITE_WATCH, 0x1000, 8), VMIC_E_IO);
    CHECK_ERRMSG("E22");
    CHECK_ERR(gdb_insert_point(&g, (gdb_point_type)7, 0, 1), VMIC_E_INVAL);
    peer_received(&p, sent, sizeof sent);
    finish(&p, &g);
    CHECK(strstr(sent, "$Z0,ffffffff81000000,1#") != NULL);
    CHECK(strstr(sent, "$z0,ffffffff81000000,1#") != NULL);
    CHECK(strstr(sent, "$Z4,1000,8#") != NULL);
}

static void test_thread_list(void)
{
    peer p;
    gdb_remote_t g;
    uint32_t *ids, n;

    /* QEMU lists one thread per reply. */
    peer_init(&p);
    peer_add(&p, 0, frame(f1, sizeof f1, "m01"));
    peer_add(&p, 0, frame(f2, sizeof f2, "m02,p1.3"));
    peer_add(&p, 0, frame(f3, sizeof f3, "l"));
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_OK(gdb_thread_list(&g, &ids, &n));
    CHECK_EQ(n, 3);
    CHECK_EQ(ids[0], 1);
    CHECK_EQ(ids[1], 2);
    CHECK_EQ(ids[2], 3);
    free(ids);
    finish(&p, &g);

    peer_init(&p);
    peer_add(&p, 0, frame(f1, sizeof f1, "m01,zz"));
    peer_start(&p);
    client(&p, &g, TIMEOUT_MS);
    CHECK_ERR(gdb_thread_list(&g, &ids, &n), VMIC_E_FORMAT);
    CHECK(ids == NULL && n == 0);
    finish(&p, &g);
}

int main(void)
{
    RUN(test_command_reply_and_acks);
    RUN(test_bad_checksum_is_nakd);
    RUN(test_bad_checksum_digits);
    RUN(test_endless_corruption_gives_up);
    RUN(test_nak_makes_us_resend);
    RUN(test_endless_naks_give_up);
    RUN(test_split_packets);
    RUN(test_two_packets_in_one_read);
    RUN(test_run_length_encoding);
    RUN(test_rle_bad_count);
    RUN(test_binary_unescape);
    RUN(test_garbage_before_packet_skipped);
    RUN(test_restarted_frame);
    RUN(test_async_stop_reply_is_queued);
    RUN(test_console_output_skipped);
    RUN(test_drain_takes_only_what_arrived);
    RUN(test_timeout_no_reply);
    RUN(test_trickling_peer_times_out);
    RUN(test_eof_is_clear_error);
    RUN(test_eof_mid_packet);
    RUN(test_epipe_no_sigpipe);
    RUN(test_oversized_packet_refused);
    RUN(test_random_input_never_crashes);
    RUN(test_handshake_no_ack);
    RUN(test_handshake_qemu72);
    RUN(test_packet_size_respected);
    RUN(test_parse_stop_replies);
    RUN(test_interrupt_running);
    RUN(test_interrupt_stopped);
    RUN(test_continue_and_wait_stop);
    RUN(test_continue_waits_for_ack);
    RUN(test_wait_stop_takes_queued_first);
    RUN(test_step_uses_vcont);
    RUN(test_breakpoint_packets);
    RUN(test_thread_list);
    return HARNESS_RESULT();
}
