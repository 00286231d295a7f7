/*
 * The kallsyms decoder on tables built here, in every layout it knows:
 * the tables' order before and after 6.4, base-relative offsets with and
 * without absolute per-CPU values, and absolute 64-bit addresses (kernels
 * without KALLSYMS_BASE_RELATIVE) — the real fixtures have only the
 * base-relative kind. Then damaged tables: each must be refused with a
 * message, never misread.
 */
#include "harness.h"
#include "os/linux/kallsyms.h"

#define N 700
#define RO_VA 0xffffffff82000000ull
#define TEXT 0xffffffff81000000ull

enum layout { REL_PERCPU, REL, ABS };

static uint8_t buf[1 << 20];
static size_t len;
static char names[N][32];
static uint64_t addrs[N];
static char tokens[256][4];

static void put(const void *p, size_t n)
{
    memcpy(buf + len, p, n);
    len += n;
}

static void align8(void)
{
    while (len % 8)
        buf[len++] = 0;
}

/* Tokens: printable codes stand for themselves; the others for two-letter
 * strings, so names compress a little. */
static void make_tokens(void)
{
    for (int c = 0; c < 256; c++) {
        if (c > 0x20 && c < 0x7f)
            snprintf(tokens[c], sizeof tokens[c], "%c", c);
        else
            snprintf(tokens[c], sizeof tokens[c], "%c%c", 'a' + c % 26, 'a' + (c / 26) % 26);
    }
}

static size_t encode(const char *s, uint8_t *out)
{
    size_t n = 0;
    while (*s) {
        int best = -1;
        for (int c = 0; c < 256; c++)
            if (strncmp(s, tokens[c], strlen(tokens[c])) == 0 &&
                (best < 0 || strlen(tokens[c]) > strlen(tokens[best])))
                best = c;
        out[n++] = (uint8_t)best;
        s += strlen(tokens[best]);
    }
    return n;
}

static void build(bool new_order, enum layout lay)
{
    static uint8_t name_bytes[N * 40];
    static uint32_t markers[N / 256 + 1];
    size_t nb = 0;
    for (int i = 0; i < N; i++) {
        /* The first 4 are per-CPU (small absolute values), then text. */
        addrs[i] = i < 4 ? (uint64_t)i * 0x1000 : TEXT + (uint64_t)(i - 4) * 0x40;
        snprintf(names[i], sizeof names[i], "%s", i == 4 ? "_text" : "");
        if (i != 4)
            snprintf(names[i], sizeof names[i], "sym_%c%04d", 'a' + i % 7, i);
        char full[40];
        snprintf(full, sizeof full, "%c%.30s", i < 4 ? 'A' : 'T', names[i]);
        if (i % 256 == 0)
            markers[i / 256] = (uint32_t)nb;
        size_t n = encode(full, name_bytes + nb + 1);
        name_bytes[nb] = (uint8_t)n;
        nb += n + 1;
    }
    static char table[2048];
    uint16_t index[256];
    size_t tl = 0;
    for (int c = 0; c < 256; c++) {
        index[c] = (uint16_t)tl;
        size_t l = strlen(tokens[c]) + 1;
        memcpy(table + tl, tokens[c], l);
        tl += l;
    }
    uint32_t num = N;
    int32_t offs[N];
    uint64_t abs_addrs[N];
    for (int i = 0; i < N; i++) {
        abs_addrs[i] = lay == ABS || lay == REL_PERCPU ? addrs[i] : addrs[i] < TEXT ? TEXT : addrs[i];
        if (lay == REL_PERCPU)
            offs[i] = addrs[i] < TEXT ? (int32_t)addrs[i] : (int32_t)(TEXT - 1 - addrs[i]);
        else
            offs[i] = (int32_t)(uint32_t)(abs_addrs[i] - TEXT);
    }
    if (lay == REL)
        for (int i = 0; i < 4; i++)
            addrs[i] = TEXT; /* plain relative: no per-CPU symbols below the base */
    uint64_t base = TEXT;
    len = 0;
    memset(buf, 0x5a, 256); /* unrelated bytes before */
    len = 256;
#define ADDRS()                                                   \
    do {                                                          \
        align8();                                                 \
        if (lay == ABS)                                           \
            put(abs_addrs, sizeof abs_addrs);                     \
        else {                                                    \
            put(offs, sizeof offs);                               \
            align8();                                             \
            put(&base, 8);                                        \
        }                                                         \
    } while (0)
    if (!new_order)
        ADDRS();
    align8();
    put(&num, 4);
    align8();
    put(name_bytes, nb);
    align8();
    put(markers, sizeof(uint32_t) * (N / 256 + 1));
    align8();
    put(table, tl);
    align8();
    put(index, sizeof index);
    if (new_order)
        ADDRS();
    align8();
    memset(buf + len, 0x77, 128);
    len += 128;
}

static void check_decodes(bool new_order, enum layout lay)
{
    lx_kallsyms *ks;
    build(new_order, lay);
    CHECK_OK(lx_kallsyms_open(buf, len, RO_VA, TEXT, &ks));
    const lx_kallsyms_info_t *in = lx_kallsyms_info(ks);
    CHECK_EQ(in->num_syms, N);
    CHECK_EQ(in->new_order, new_order);
    CHECK_EQ(in->relative, lay != ABS);
    CHECK_EQ(in->absolute_percpu, lay == REL_PERCPU);
    CHECK(!in->has_seqs);
    for (int i = 0; i < N; i++) {
        vmic_symbol_t s;
        CHECK_OK(lx_kallsyms_get(ks, (size_t)i, &s));
        CHECK_STR(s.name, names[i]);
        CHECK_EQ(s.addr.addr, addrs[i]);
        CHECK_EQ(s.type, i < 4 ? 'A' : 'T');
    }
    uint64_t a;
    CHECK(lx_kallsyms_lookup(ks, names[650], &a));
    CHECK_EQ(a, addrs[650]);
    CHECK(!lx_kallsyms_lookup(ks, "absent", &a));
    CHECK_EQ(lx_kallsyms_find_le(ks, addrs[300] + 5), 300);
    lx_kallsyms_free(ks);
}

static void test_new_order_relative_percpu(void) { check_decodes(true, REL_PERCPU); }
static void test_new_order_relative(void) { check_decodes(true, REL); }
static void test_new_order_absolute(void) { check_decodes(true, ABS); }
static void test_old_order_relative_percpu(void) { check_decodes(false, REL_PERCPU); }
static void test_old_order_absolute(void) { check_decodes(false, ABS); }

static void test_damaged_tables_are_refused(void)
{
    lx_kallsyms *ks;
    make_tokens();
    build(true, REL_PERCPU);
    /* Truncated before the token index. */
    CHECK_ERR(lx_kallsyms_open(buf, len / 2, RO_VA, TEXT, &ks), VMIC_E_NOTFOUND);
    CHECK_ERRMSG("kallsyms");
    /* A marker that disagrees with the names. */
    build(true, REL_PERCPU);
    size_t m = 0;
    for (size_t p = 256; p + 12 <= len; p += 4) {
        uint32_t v[3];
        memcpy(v, buf + p, 12);
        if (v[0] == 0 && v[1] > 1000 && v[2] > v[1] && v[2] < 100000) {
            m = p;
            break;
        }
    }
    CHECK(m);
    uint32_t bad = 3;
    memcpy(buf + m + 4, &bad, 4);
    CHECK_ERR(lx_kallsyms_open(buf, len, RO_VA, TEXT, &ks), VMIC_E_NOTFOUND);
    /* _text elsewhere than the page tables say: no layout fits. */
    build(true, REL_PERCPU);
    CHECK_ERR(lx_kallsyms_open(buf, len, RO_VA, TEXT + 0x200000, &ks), VMIC_E_NOTFOUND);
    CHECK_ERRMSG("_text");
    /* Nothing at all. */
    memset(buf, 0, sizeof buf);
    CHECK_ERR(lx_kallsyms_open(buf, sizeof buf, RO_VA, 0, &ks), VMIC_E_NOTFOUND);
}

int main(void)
{
    make_tokens();
    RUN(test_new_order_relative_percpu);
    RUN(test_new_order_relative);
    RUN(test_new_order_absolute);
    RUN(test_old_order_relative_percpu);
    RUN(test_old_order_absolute);
    RUN(test_damaged_tables_are_refused);
    return HARNESS_RESULT();
}
