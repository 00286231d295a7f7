/*
 * The register layout from the stub's target description: target.xml and
 * the documents it includes, read with qXfer:features:read.
 *
 * QEMU 7.2 (x86-64) sends a target.xml that includes i386-64bit.xml, one
 * feature "org.gnu.gdb.i386.core" with rax..r15, rip, eflags, the six
 * segment selectors, fs_base, gs_base, k_gs_base, cr0, cr2, cr3, cr4, cr8,
 * efer, st0-7, the x87 control registers, xmm0-15 and mxcsr. It also holds
 * cs_base/ss_base/ds_base/es_base, but inside an XML comment: they do not
 * exist. So comments must be skipped, not scanned.
 *
 * Only what a register map needs is parsed: <reg name bitsize regnum>,
 * <xi:include href>, <architecture> and <feature name>. A <reg> without a
 * regnum takes the previous one plus one, across included documents, as gdb
 * numbers them; 'g' replies hold the registers in regnum order from 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu.h"
#include "base/grow.h"

#define MAX_INCLUDE_DEPTH 4
#define MAX_DOCUMENTS 32

typedef struct parse_state {
    gdb_regmap_t *map;
    gdb_xml_fetch fetch;
    void *ctx;
    uint32_t next_regnum;
    unsigned documents;
    size_t total;
    size_t cap;
} parse_state;

/* The value of attribute `key` in the tag text [tag, tag + len). */
static bool attr(const char *tag, size_t len, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    for (size_t i = 1; i + klen + 2 < len; i++) {
        if (tag[i - 1] != ' ' && tag[i - 1] != '\t' && tag[i - 1] != '\n' && tag[i - 1] != '\r')
            continue;
        if (memcmp(tag + i, key, klen) != 0 || tag[i + klen] != '=')
            continue;
        char quote = tag[i + klen + 1];
        if (quote != '"' && quote != '\'')
            return false;
        const char *v = tag + i + klen + 2;
        const char *end = memchr(v, quote, len - (size_t)(v - tag));
        if (!end || (size_t)(end - v) >= cap)
            return false;
        memcpy(out, v, (size_t)(end - v));
        out[end - v] = '\0';
        return true;
    }
    return false;
}

static bool parse_uint(const char *s, uint32_t max, uint32_t *v)
{
    char *end;
    if (!*s || *s == '-')
        return false;
    unsigned long x = strtoul(s, &end, 10);
    if (*end || x > max)
        return false;
    *v = (uint32_t)x;
    return true;
}

static vmic_status add_reg(parse_state *st, const char *annex, const char *tag, size_t len)
{
    gdb_regmap_t *map = st->map;
    char name[64], bits[16], num[16];
    uint32_t bitsize, regnum = st->next_regnum;

    if (!attr(tag, len, "name", name, sizeof name) || strlen(name) >= sizeof map->regs[0].name)
        return vmic_fail(VMIC_E_FORMAT, "gdb target description %s: a <reg> without a "
                         "usable name", annex);
    if (!attr(tag, len, "bitsize", bits, sizeof bits) || !parse_uint(bits, 4096, &bitsize) ||
        bitsize == 0 || bitsize % 8)
        return vmic_fail(VMIC_E_FORMAT, "gdb target description %s: register %s has a bad "
                         "bitsize", annex, name);
    if (attr(tag, len, "regnum", num, sizeof num) && !parse_uint(num, 65535, &regnum))
        return vmic_fail(VMIC_E_FORMAT, "gdb target description %s: register %s has a bad "
                         "regnum '%s'", annex, name, num);
    if (map->n >= GDB_MAX_REGS)
        return vmic_fail(VMIC_E_RANGE, "gdb target description: more than %u registers",
                         GDB_MAX_REGS);
    if (!VMIC_GROW(map->regs, map->n, st->cap, 64))
        return vmic_fail(VMIC_E_NOMEM, "gdb target description: no memory");
    gdb_reg_t *r = &map->regs[map->n++];
    memset(r, 0, sizeof *r);
    memcpy(r->name, name, strlen(name) + 1);   /* length checked above */
    r->regnum = regnum;
    r->bits = bitsize;
    r->g_offset = UINT32_MAX;
    st->next_regnum = regnum + 1;
    return VMIC_OK;
}

static void add_feature(gdb_regmap_t *map, const char *name)
{
    size_t used = strlen(map->features);
    snprintf(map->features + used, sizeof map->features - used, "%s%s", used ? "," : "", name);
}

/* Include names go into a qXfer packet: allow only what file names need. */
static bool safe_annex(const char *s)
{
    if (!*s || strlen(s) > 100)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '-' || *s == '_'))
            return false;
    return true;
}

static vmic_status parse_doc(parse_state *st, const char *annex, unsigned depth);

static vmic_status parse_text(parse_state *st, const char *annex, const char *doc, size_t len,
                              unsigned depth)
{
    const char *p = doc, *end = doc + len;
    vmic_status s;

    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt)
            break;
        if ((size_t)(end - lt) >= 4 && memcmp(lt, "<!--", 4) == 0) {
            const char *close = NULL;
            for (const char *q = lt + 4; q + 3 <= end; q++)
                if (memcmp(q, "-->", 3) == 0) {
                    close = q;
                    break;
                }
            if (!close)
                break;  /* an unterminated comment hides the rest */
            p = close + 3;
            continue;
        }
        const char *gt = memchr(lt, '>', (size_t)(end - lt));
        if (!gt)
            return vmic_fail(VMIC_E_FORMAT, "gdb target description %s: unterminated tag at "
                             "byte %zu", annex, (size_t)(lt - doc));
        const char *tag = lt + 1;
        size_t tlen = (size_t)(gt - tag);
        size_t nlen = 0;
        while (nlen < tlen && tag[nlen] != ' ' && tag[nlen] != '/' && tag[nlen] != '\t' &&
               tag[nlen] != '\n' && tag[nlen] != '\r')
            nlen++;
        char value[128];

        if (nlen == 3 && memcmp(tag, "reg", 3) == 0) {
            if ((s = add_reg(st, annex, tag, tlen)))
                return s;
        } else if (nlen == 10 && memcmp(tag, "xi:include", 10) == 0) {
            if (!attr(tag, tlen, "href", value, sizeof value) || !safe_annex(value))
                return vmic_fail(VMIC_E_FORMAT, "gdb target description %s: an <xi:include> "
                                 "without a plain file name", annex);
            if ((s = parse_doc(st, value, depth + 1)))
                return s;
        } else if (nlen == 7 && memcmp(tag, "feature", 7) == 0) {
            if (attr(tag, tlen, "name", value, sizeof value))
                add_feature(st->map, value);
        } else if (nlen == 12 && memcmp(tag, "architecture", 12) == 0) {
            const char *text = gt + 1;
            const char *stop = memchr(text, '<', (size_t)(end - text));
            size_t n = stop ? (size_t)(stop - text) : 0;
            if (n >= sizeof st->map->arch)
                n = sizeof st->map->arch - 1;
            memcpy(st->map->arch, text, n);
            st->map->arch[n] = '\0';
        }
        p = gt + 1;
    }
    return VMIC_OK;
}

static vmic_status parse_doc(parse_state *st, const char *annex, unsigned depth)
{
    char *doc = NULL;
    size_t len = 0;

    if (depth > MAX_INCLUDE_DEPTH)
        return vmic_fail(VMIC_E_FORMAT, "gdb target description: includes nested deeper than "
                         "%u at %s", MAX_INCLUDE_DEPTH, annex);
    if (++st->documents > MAX_DOCUMENTS)
        return vmic_fail(VMIC_E_FORMAT, "gdb target description: more than %u documents",
                         MAX_DOCUMENTS);
    vmic_status s = st->fetch(st->ctx, annex, &doc, &len);
    if (s)
        return s;
    st->total += len;
    if (st->total > GDB_MAX_XML) {
        free(doc);
        return vmic_fail(VMIC_E_RANGE, "gdb target description: more than %u bytes",
                         GDB_MAX_XML);
    }
    s = parse_text(st, annex, doc, len, depth);
    free(doc);
    return s;
}

static int by_regnum(const void *a, const void *b)
{
    const gdb_reg_t *x = a, *y = b;
    return x->regnum < y->regnum ? -1 : x->regnum > y->regnum;
}

/* 'g' holds registers 0, 1, 2 ... back to back: offsets up to the first gap. */
static vmic_status assign_offsets(gdb_regmap_t *map)
{
    qsort(map->regs, map->n, sizeof map->regs[0], by_regnum);
    uint64_t off = 0;
    bool contiguous = true;
    for (size_t i = 0; i < map->n; i++) {
        if (i > 0 && map->regs[i].regnum == map->regs[i - 1].regnum)
            return vmic_fail(VMIC_E_FORMAT, "gdb target description: registers %s and %s "
                             "share regnum %u", map->regs[i - 1].name, map->regs[i].name,
                             map->regs[i].regnum);
        if (map->regs[i].regnum != i)
            contiguous = false;
        if (contiguous) {
            map->regs[i].g_offset = (uint32_t)off;
            off += map->regs[i].bits / 8;
        }
    }
    return VMIC_OK;
}

vmic_status gdb_target_parse(const char *annex, gdb_xml_fetch fetch, void *ctx,
                             gdb_regmap_t *map)
{
    parse_state st = {.map = map, .fetch = fetch, .ctx = ctx};

    memset(map, 0, sizeof *map);
    vmic_status s = parse_doc(&st, annex, 0);
    if (s == VMIC_OK && map->n == 0)
        s = vmic_fail(VMIC_E_FORMAT, "gdb target description %s: no registers", annex);
    if (s == VMIC_OK)
        s = assign_offsets(map);
    if (s)
        gdb_regmap_free(map);
    return s;
}

const gdb_reg_t *gdb_regmap_find(const gdb_regmap_t *map, const char *name)
{
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->regs[i].name, name) == 0)
            return &map->regs[i];
    return NULL;
}

void gdb_regmap_free(gdb_regmap_t *map)
{
    free(map->regs);
    memset(map, 0, sizeof *map);
}

/* ---- fetching over the wire ---------------------------------------------------- */

static vmic_status fetch_annex(void *ctx, const char *annex, char **doc, size_t *doc_len)
{
    gdb_remote_t *g = ctx;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    /* Ask for what fits in a packet even if every byte were escaped. */
    size_t chunk = g->packet_size ? (g->packet_size - 8) / 2 : 0x200;

    *doc = NULL;
    *doc_len = 0;
    for (;;) {
        const char *r;
        size_t n;
        vmic_status s = gdb_commandf(g, &r, &n, "qXfer:features:read:%s:%zx,%zx", annex, len,
                                     chunk);
        if (s) {
            free(buf);
            return s;
        }
        if (n == 0 || (r[0] != 'l' && r[0] != 'm')) {
            free(buf);
            if (n == 0)
                return vmic_fail(VMIC_E_UNSUPPORTED, "%s: the stub has no target description "
                                 "(qXfer:features:read), so vmic cannot know its registers",
                                 g->name);
            return vmic_fail(VMIC_E_IO, "%s: reading target description %s: '%.40s'", g->name,
                             annex, r);
        }
        bool last = r[0] == 'l';
        size_t d = gdb_unescape_binary(g->pkt + 1, n - 1);
        if (d == SIZE_MAX || len + d > GDB_MAX_XML) {
            free(buf);
            return vmic_fail(VMIC_E_FORMAT, "%s: target description %s is malformed or larger "
                             "than %u bytes", g->name, annex, GDB_MAX_XML);
        }
        if (!VMIC_RESERVE(buf, cap, len + d + 1, 4096)) {
            free(buf);
            return vmic_fail(VMIC_E_NOMEM, "%s: no memory", g->name);
        }
        memcpy(buf + len, g->pkt + 1, d);
        len += d;
        buf[len] = '\0';
        if (last)
            break;
        if (d == 0) {
            free(buf);
            return vmic_fail(VMIC_E_FORMAT, "%s: target description %s: an empty 'm' chunk",
                             g->name, annex);
        }
    }
    *doc = buf;
    *doc_len = len;
    return VMIC_OK;
}

vmic_status gdb_target_read(gdb_remote_t *g, gdb_regmap_t *map)
{
    if (!g->has_xfer_features) {
        memset(map, 0, sizeof *map);
        return vmic_fail(VMIC_E_UNSUPPORTED, "%s: the stub offers no target description "
                         "(qXfer:features:read), so vmic cannot know its registers", g->name);
    }
    return gdb_target_parse("target.xml", fetch_annex, g, map);
}
