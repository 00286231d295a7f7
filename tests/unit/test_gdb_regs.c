/*
 * Target descriptions and registers: the XML parser (includes, comments,
 * regnum numbering, hostile documents), reading it over qXfer with binary
 * escapes, and vmic_amd64_regs_t from 'g'/'p' replies and back through 'P',
 * against a fake stub that speaks QEMU 7.2's x86-64 layout.
 */
#include <stdlib.h>

#include "drivers/qemu/qemu.h"
#include "gdb_peer.h"
#include "harness.h"

/* ---- the XML parser, with documents served from memory ------------------------- */

typedef struct doc {
    const char *annex;
    const char *text;
} doc;

static const doc *docs;

static vmic_status fetch_mem(void *ctx, const char *annex, char **out, size_t *len)
{
    (void)ctx;
    for (const doc *d = docs; d->annex; d++)
        if (strcmp(d->annex, annex) == 0) {
            *out = strdup(d->text);
            *len = strlen(d->text);
            return VMIC_OK;
        }
    return vmic_fail(VMIC_E_NOTFOUND, "no document %s", annex);
}

/* The shape of QEMU 7.2's description, shortened. */
static const char qemu_target[] =
    "<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\"><target>"
    "<architecture>i386:x86-64</architecture><xi:include href=\"i386-64bit.xml\"/></target>";

static const char qemu_core[] =
    "<?xml version=\"1.0\"?>\n<!-- Copyright ... -->\n"
    "<feature name=\"org.gnu.gdb.i386.core\">\n"
    "  <flags id=\"x64_eflags\" size=\"4\"><field name=\"CF\" start=\"0\" end=\"0\"/></flags>\n"
    "  <reg name=\"rax\" bitsize=\"64\" type=\"int64\" regnum=\"0\"/>\n"
    "  <reg name=\"rbx\" bitsize=\"64\" type=\"int64\"/>\n"
    "  <reg name=\"rcx\" bitsize=\"64\" type=\"int64\"/>\n"
    "  <reg name=\"rdx\" bitsize=\"64\" type=\"int64\"/>\n"
    "  <reg name=\"rsi\" bitsize=\"64\" type=\"int64\"/>\n"
    "  <reg name=\"rdi\" bitsize=\"64\" type=\"int64\"/>\n"
    "  <reg name=\"rbp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
    "  <reg name=\"rsp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
    "  <reg name=\"r8\" bitsize=\"64\"/><reg name=\"r9\" bitsize=\"64\"/>\n"
    "  <reg name=\"r10\" bitsize=\"64\"/><reg name=\"r11\" bitsize=\"64\"/>\n"
    "  <reg name=\"r12\" bitsize=\"64\"/><reg name=\"r13\" bitsize=\"64\"/>\n"
    "  <reg name=\"r14\" bitsize=\"64\"/><reg name=\"r15\" bitsize=\"64\"/>\n"
    "  <reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\"/>\n"
    "  <reg name=\"eflags\" bitsize=\"32\" type=\"x64_eflags\"/>\n"
    "  <reg name=\"cs\" bitsize=\"32\"/><reg name=\"ss\" bitsize=\"32\"/>\n"
    "  <reg name=\"ds\" bitsize=\"32\"/><reg name=\"es\" bitsize=\"32\"/>\n"
    "  <reg name=\"fs\" bitsize=\"32\"/><reg name=\"gs\" bitsize=\"32\"/>\n"
    "  <!-- Segment descriptor caches and TLS base MSRs -->\n"
    "  <!--reg name=\"cs_base\" bitsize=\"64\" type=\"int64\"/>\n"
    "  <reg name=\"ss_base\" bitsize=\"64\" type=\"int64\"/>\n"
    "  <reg name=\"es_base\" bitsize=\"64\" type=\"int64\"/-->\n"
    "  <reg name=\"fs_base\" bitsize=\"64\"/><reg name=\"gs_base\" bitsize=\"64\"/>\n"
    "  <reg name=\"k_gs_base\" bitsize=\"64\"/>\n"
    "  <reg name=\"cr0\" bitsize=\"64\"/><reg name=\"cr2\" bitsize=\"64\"/>\n"
    "  <reg name=\"cr3\" bitsize=\"64\"/><reg name=\"cr4\" bitsize=\"64\"/>\n"
    "  <reg name=\"cr8\" bitsize=\"64\"/><reg name=\"efer\" bitsize=\"64\"/>\n"
    "  <reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "  <reg name=\"mxcsr\" bitsize=\"32\" group=\"vector\"/>\n"
    "</feature>\n";

static void test_parse_qemu_layout(void)
{
    static const doc d[] = {{"target.xml", qemu_target}, {"i386-64bit.xml", qemu_core}, {0}};
    gdb_regmap_t map;
    docs = d;
    CHECK_OK(gdb_target_parse("target.xml", fetch_mem, NULL, &map));
    CHECK_STR(map.arch, "i386:x86-64");
    CHECK_STR(map.features, "org.gnu.gdb.i386.core");
    CHECK_EQ(map.n, 35);
    /* The commented-out bases do not exist. */
    CHECK(gdb_regmap_find(&map, "cs_base") == NULL);
    CHECK(gdb_regmap_find(&map, "ss_base") == NULL);
    const gdb_reg_t *r = gdb_regmap_find(&map, "eflags");
    CHECK(r && r->regnum == 17 && r->g_offset == 17 * 8 && r->bits == 32);
    r = gdb_regmap_find(&map, "fs_base");
    CHECK(r && r->regnum == 24 && r->g_offset == 17 * 8 + 4 + 6 * 4);
    r = gdb_regmap_find(&map, "efer");
    CHECK(r && r->regnum == 32 && r->g_offset == 236 - 8);
    r = gdb_regmap_find(&map, "mxcsr");
    CHECK(r && r->g_offset == 236 + 10);
    CHECK_EQ(regs_groups(&map), VMIC_REGS_GPR | VMIC_REGS_SEG | VMIC_REGS_CR | VMIC_REGS_EFER);
    gdb_regmap_free(&map);
}

static void test_parse_regnum_gap(void)
{
    static const doc d[] = {
        {"target.xml", "<target><architecture>i386:x86-64</architecture>"
                       "<feature name='a'><reg name='r0' bitsize='64'/>"
                       "<reg name='r1' bitsize='32'/>"
                       "<reg name='far' bitsize='64' regnum='40'/>"
                       "<reg name='next' bitsize='16'/></feature></target>"},
        {0}};
    gdb_regmap_t map;
    docs = d;
    CHECK_OK(gdb_target_parse("target.xml", fetch_mem, NULL, &map));
    CHECK_EQ(gdb_regmap_find(&map, "r1")->g_offset, 8);
    /* Beyond a gap the 'g' offset is unknown: read with 'p'. */
    CHECK_EQ(gdb_regmap_find(&map, "far")->g_offset, UINT32_MAX);
    CHECK_EQ(gdb_regmap_find(&map, "next")->regnum, 41);
    CHECK_EQ(regs_groups(&map), 0);
    gdb_regmap_free(&map);
}

static void test_parse_hostile(void)
{
    gdb_regmap_t map;
    static const doc loop[] = {{"target.xml", "<xi:include href='target.xml'/>"}, {0}};
    docs = loop;
    CHECK_ERR(gdb_target_parse("target.xml", fetch_mem, NULL, &map), VMIC_E_FORMAT);
    CHECK_ERRMSG("nested");

    static const doc inject[] = {{"target.xml", "<xi:include href='a.xml#00$g'/>"}, {0}};
    docs = inject;
    CHECK_ERR(gdb_target_parse("target.xml", fetch_mem, NULL, &map), VMIC_E_FORMAT);
    CHECK_ERRMSG("plain file name");

    static const doc dup[] = {{"target.xml", "<reg name='a' bitsize='8' regnum='1'/>"
                                             "<reg name='b' bitsize='8' regnum='1'/>"}, {0}};
    docs = dup;
    CHECK_ERR(gdb_target_parse("target.xml", fetch_mem, NULL, &map), VMIC_E_FORMAT);
    CHECK_ERRMSG("share regnum");

    static const doc bits[] = {{"target.xml", "<reg name='a' bitsize='7'/>"}, {0}};
    docs = bits;
    CHECK_ERR(gdb_target_parse("target.xml", fetch_mem, NULL, &map), VMIC_E_FORMAT);

    static const doc noname[] = {{"target.xml", "<reg bitsize='64'/>"}, {0}};
    docs = noname;
    CHECK_ERR(gdb_target_parse("target.xml", fetch_mem, NULL, &map), VMIC_E_FORMAT);

    static const doc unterminated[] = {{"target.xml", "<reg name='a' bitsize='64'"}, {0}};
    docs = unterminated;
    CHECK_ERR(gdb_target_parse("target.xml", fetch_mem, NULL, &map), VMIC_E_FORMAT);

    static const doc empty[] = {{"target.xml", "<target><!-- <reg name='a' bitsize='8'/>"}, {0}};
    docs = empty;
    CHECK_ERR(gdb_target_parse("target.xml", fetch_mem, NULL, &map), VMIC_E_FORMAT);
    CHECK_ERRMSG("no registers");

    static const doc missing[] = {{"target.xml", "<xi:include href='gone.xml'/>"}, {0}};
    docs = missing;
    CHECK_ERR(gdb_target_parse("target.xml", fetch_mem, NULL, &map), VMIC_E_NOTFOUND);
}

/* ---- over the wire ---------------------------------------------------------------- */

static char fr[16][8192];
static int nfr;

static const char *pkt(const char *payload)
{
    return frame(fr[nfr++ % 16], sizeof fr[0], payload);
}

static void test_fetch_with_escapes(void)
{
    peer p;
    gdb_remote_t g;
    gdb_regmap_t map;

    /* target.xml in two chunks, with '#', '$', '}' and '*' escaped as stubs must. */
    peer_init(&p);
    peer_add(&p, 0, pkt("m<target><architecture>i386:x86-64</architecture><!-- }\x03 }\x04 "
                        "}] }\x0a -->"));
    peer_add(&p, 0, pkt("l<reg name=\"rax\" bitsize=\"64\"/></target>"));
    peer_start(&p);
    gdb_init(&g, p.client_fd, "fake", 1000);
    g.has_xfer_features = true;
    g.packet_size = 4096;
    CHECK_OK(gdb_target_read(&g, &map));
    CHECK_EQ(map.n, 1);
    CHECK_STR(map.regs[0].name, "rax");
    gdb_regmap_free(&map);
    gdb_close(&g);
    peer_finish(&p);

    /* A stub with no description: said so, not guessed. */
    peer_init(&p);
    gdb_init(&g, p.client_fd, "fake", 1000);
    CHECK_ERR(gdb_target_read(&g, &map), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("target description");
    gdb_close(&g);
    peer_finish(&p);
}

/* A 'g' reply in QEMU 7.2's layout (608 bytes) with recognisable values. */
static void build_g(char *hex, bool unavailable_cr3)
{
    uint8_t b[608] = {0};
    size_t o = 0;
    for (int i = 0; i < 17; i++, o += 8)   /* rax..r15, rip: 0x1111111111111100 + i */
        for (int k = 0; k < 8; k++)
            b[o + k] = (uint8_t)((0x1111111111111100ull + (uint64_t)i) >> (8 * k));
    b[o] = 0x46, b[o + 1] = 0x02;          /* eflags 0x246 */
    o += 4;
    static const uint16_t sel[6] = {0x10, 0x18, 0x2b, 0x2b, 0x53, 0x63};
    for (int i = 0; i < 6; i++, o += 4)
        b[o] = (uint8_t)sel[i];
    static const uint64_t tail[9] = {0x7f0000001000, 0xffff888007800000, 0x7f0000002000,
                                     0x80050033, 0xdeadbeef000, 0x29ea000, 0x6f0, 0x0, 0xd01};
    for (int i = 0; i < 9; i++, o += 8)
        for (int k = 0; k < 8; k++)
            b[o + k] = (uint8_t)(tail[i] >> (8 * k));
    for (size_t i = 0; i < sizeof b; i++)
        snprintf(hex + 2 * i, 3, "%02x", b[i]);
    if (unavailable_cr3)   /* cr3 is the 6th of the tail, at byte 236 - 8 * 4 */
        memset(hex + 2 * (236 - 32), 'x', 16);
}

static void layout(gdb_regmap_t *map)
{
    static const doc d[] = {{"target.xml", qemu_target}, {"i386-64bit.xml", qemu_core}, {0}};
    docs = d;
    gdb_target_parse("target.xml", fetch_mem, NULL, map);
}

static void test_regs_from_g(void)
{
    static char hex[1300];
    peer p;
    gdb_remote_t g;
    gdb_regmap_t map;
    vmic_amd64_regs_t r;

    layout(&map);
    build_g(hex, false);
    peer_init(&p);
    peer_add(&p, 0, pkt(hex));
    peer_start(&p);
    gdb_init(&g, p.client_fd, "fake", 1000);
    CHECK_OK(regs_read(&g, &map, &r));
    CHECK_EQ(r.valid, VMIC_REGS_GPR | VMIC_REGS_SEG | VMIC_REGS_CR | VMIC_REGS_EFER);
    CHECK_EQ(r.rax, 0x1111111111111100ull);
    CHECK_EQ(r.rsp, 0x1111111111111107ull);
    CHECK_EQ(r.r15, 0x111111111111110full);
    CHECK_EQ(r.rip, 0x1111111111111110ull);
    CHECK_EQ(r.rflags, 0x246);
    CHECK_EQ(r.cs.selector, 0x10);
    CHECK_EQ(r.gs.selector, 0x63);
    CHECK_EQ(r.fs.base, 0x7f0000001000ull);
    CHECK_EQ(r.gs.base, 0xffff888007800000ull);
    CHECK_EQ(r.kernel_gs_base, 0x7f0000002000ull);
    CHECK_EQ(r.cr0, 0x80050033);
    CHECK_EQ(r.cr2, 0xdeadbeef000ull);
    CHECK_EQ(r.cr3, 0x29ea000);
    CHECK_EQ(r.cr4, 0x6f0);
    CHECK_EQ(r.efer, 0xd01);
    /* Nothing the stub lacks is made up. */
    CHECK_EQ(r.gdtr.base, 0);
    CHECK_EQ(r.cs.limit, 0);
    gdb_close(&g);
    peer_finish(&p);
    gdb_regmap_free(&map);
}

static void test_regs_unavailable(void)
{
    static char hex[1300];
    peer p;
    gdb_remote_t g;
    gdb_regmap_t map;
    vmic_amd64_regs_t r;

    layout(&map);
    build_g(hex, true);
    peer_init(&p);
    peer_add(&p, 0, pkt(hex));
    peer_add(&p, 0, pkt("0011"));             /* short 'g' */
    peer_add(&p, 0, pkt("E14"));
    peer_start(&p);
    gdb_init(&g, p.client_fd, "fake", 200);
    CHECK_OK(regs_read(&g, &map, &r));
    /* cr3 came as 'xx': the control registers are not valid, the rest are. */
    CHECK_EQ(r.valid, VMIC_REGS_GPR | VMIC_REGS_SEG | VMIC_REGS_EFER);
    CHECK_EQ(r.efer, 0xd01);
    /* A short 'g': everything beyond it is read with 'p', which fails here
     * (the peer has no more replies): the error is reported, not hidden. */
    vmic_status s = regs_read(&g, &map, &r);
    CHECK(s != VMIC_OK);
    gdb_close(&g);
    peer_finish(&p);
    gdb_regmap_free(&map);
}

static void test_regs_write_only_changes(void)
{
    static char hex[1300];
    peer p;
    gdb_remote_t g;
    gdb_regmap_t map;
    vmic_amd64_regs_t cur, want;
    char sent[4096];

    layout(&map);
    build_g(hex, false);
    peer_init(&p);
    peer_add(&p, 0, pkt(hex));
    peer_add(&p, 0, pkt("OK"));
    peer_add(&p, 0, pkt("OK"));
    peer_add(&p, 0, pkt("OK"));
    peer_start(&p);
    gdb_init(&g, p.client_fd, "fake", 1000);
    CHECK_OK(regs_read(&g, &map, &cur));
    want = cur;
    want.rax = 0x1234;
    want.rflags = 0x202;
    want.cr3 = 0x5000;
    CHECK_OK(regs_write(&g, &map, &cur, &want));

    /* Groups the stub cannot write: refused before anything is sent. */
    want.valid |= VMIC_REGS_DT;
    CHECK_ERR(regs_write(&g, &map, &cur, &want), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("GDTR/IDTR");
    want.valid = VMIC_REGS_GPR;
    want.rflags = 1ull << 40;
    CHECK_ERR(regs_write(&g, &map, &cur, &want), VMIC_E_INVAL);

    peer_received(&p, sent, sizeof sent);
    gdb_close(&g);
    peer_finish(&p);
    gdb_regmap_free(&map);
    CHECK(strstr(sent, "$P0=3412000000000000#") != NULL);   /* rax */
    CHECK(strstr(sent, "$P11=02020000#") != NULL);          /* eflags: 32 bits */
    CHECK(strstr(sent, "$P1d=0050000000000000#") != NULL);  /* cr3 is regnum 29 */
    /* Exactly those three P packets. */
    int count = 0;
    for (const char *s = sent; (s = strstr(s, "$P")); s++)
        count++;
    CHECK_EQ(count, 3);
}

static void test_decode_hex(void)
{
    uint8_t b[4], a[4];
    CHECK_EQ(regs_decode_hex("0aFFxx10", 8, b, a, sizeof b), 4);
    CHECK(b[0] == 0x0a && b[1] == 0xff && a[2] == 0 && b[3] == 0x10 && a[3] == 1);
    CHECK_EQ(regs_decode_hex("0a0", 3, b, a, sizeof b), SIZE_MAX);
    CHECK_EQ(regs_decode_hex("0g", 2, b, a, sizeof b), SIZE_MAX);
    CHECK_EQ(regs_decode_hex("x0", 2, b, a, sizeof b), SIZE_MAX);
    CHECK_EQ(regs_decode_hex("0011223344", 10, b, a, sizeof b), SIZE_MAX);
}

int main(void)
{
    RUN(test_parse_qemu_layout);
    RUN(test_parse_regnum_gap);
    RUN(test_parse_hostile);
    RUN(test_fetch_with_escapes);
    RUN(test_regs_from_g);
    RUN(test_regs_unavailable);
    RUN(test_regs_write_only_changes);
    RUN(test_decode_hex);
    return HARNESS_RESULT();
}
