/*
 * Decoding kallsyms from the kernel's read-only data (see kallsyms.h for the
 * tables). Nothing here trusts the bytes: every table position is checked
 * against the buffer, every length against its bound, and a layout is only
 * accepted when independent tables agree with each other (markers with the
 * names they index, num_syms with both, sorted addresses, "_text" where the
 * page tables put it).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "kallsyms.h"
#include "base/hash.h"
#include "base/le.h"

#define KSYM_NAME_MAX 512          /* KSYM_NAME_LEN since 6.1 */
#define MAX_SYMS (1u << 22)        /* real kernels: 100k-250k */
#define MAX_TOKEN 128              /* real tokens: < 32 bytes */
#define ANCHOR_WINDOW 16384        /* token table size bound after the digits */
#define TOKEN_PAD 16

struct lx_kallsyms {
    const uint8_t *ro;
    size_t len;
    uint64_t ro_va;
    lx_kallsyms_info_t info;

    size_t T, I;                   /* token_table, token_index */
    size_t M, nmarkers;            /* markers */
    unsigned mw;                   /* marker width */
    size_t S, N;                   /* names, num_syms */
    size_t X;                      /* num_syms position */
    size_t A;                      /* offsets or addresses */
    size_t Q;                      /* seqs_of_names, if has_seqs */
    uint16_t tidx[256];
    const uint8_t *tok[256];
    uint8_t toklen[256];
    uint8_t tokpad[256][TOKEN_PAD]; /* tokens of up to TOKEN_PAD bytes, zero padded */

    size_t cur_i, cur_pos;         /* cursor: position of symbol cur_i in names */
    uint32_t *posidx;              /* every symbol's offset in names, once many
                                      lookups are made */
    unsigned lookups;

    /* Materialised on first lx_kallsyms_get. */
    char *arena;
    uint32_t *name_off;
    char *types;
    size_t undecodable;   /* names that did not decode (type '?', name "") */
    /* Name hash, built when there is no seqs_of_names. */
    uint32_t *hash;
    size_t hmask;
};

/* ---- little-endian reads, bounds checked by the caller ------------------ */


static uint64_t rdw(const lx_kallsyms *ks, size_t off, unsigned w)
{
    return w == 4 ? vmic__le32(ks->ro + off) : vmic__le64(ks->ro + off);
}

static size_t align_up(size_t x, size_t a) { return (x + a - 1) & ~(a - 1); }

/* ---- token table ---------------------------------------------------------- */

/* 256 increasing u16 at p, each step the length of a short token + NUL. */
static bool index_shape(const lx_kallsyms *ks, size_t p, uint16_t *idx)
{
    if (p + 512 > ks->len)
        return false;
    const uint8_t *q = ks->ro + p;
    if (vmic__le16(q) != 0)
        return false;
    for (int i = 0; i < 256; i++) {
        idx[i] = vmic__le16(q + 2 * i);
        if (i > 0 && (idx[i] <= idx[i - 1] || idx[i] - idx[i - 1] > MAX_TOKEN + 1))
            return false;
    }
    return true;
}

/* Token strings at T laid out exactly as idx says, printable, ending before
 * the index at I with at most alignment padding between. */
static bool tokens_fit(lx_kallsyms *ks, size_t T, size_t I, const uint16_t *idx)
{
    for (int i = 0; i < 256; i++) {
        size_t start = T + idx[i];
        size_t end = i < 255 ? T + idx[i + 1] - 1 : 0;   /* the NUL */
        if (i == 255) {
            end = start;
            while (end < I && ks->ro[end] != 0)
                end++;
            if (end >= I || I - end > 16)
                return false;
        }
        if (end <= start || end >= ks->len || ks->ro[end] != 0)
            return false;
        for (size_t k = start; k < end; k++)
            if (ks->ro[k] <= 0x20 || ks->ro[k] >= 0x7f)
                return false;
        ks->tok[i] = ks->ro + start;
        ks->toklen[i] = (uint8_t)(end - start);
        memset(ks->tokpad[i], 0, TOKEN_PAD);
        memcpy(ks->tokpad[i], ks->tok[i], end - start < TOKEN_PAD ? end - start : TOKEN_PAD);
    }
    for (size_t k = T + idx[255] + ks->toklen[255] + 1; k < I; k++)
        if (ks->ro[k] != 0)
            return false;
    return true;
}

static bool accept_tokens(lx_kallsyms *ks, size_t T, size_t I, const uint16_t *idx)
{
    if (T > I || !tokens_fit(ks, T, I, idx))
        return false;
    ks->T = T;
    ks->I = I;
    memcpy(ks->tidx, idx, sizeof ks->tidx);
    return true;
}

/*
 * Byte codes that stand for themselves keep a one-char token, so the digits
 * appear in the token table as "0\0" "1\0" ... "9\0", in the entries of
 * codes 0x30..0x39. That anchor gives the table's start exactly; the index
 * follows the table.
 */
static bool find_tokens_by_anchor(lx_kallsyms *ks)
{
    static const char anchor[] = "0\0" "1\0" "2\0" "3\0" "4\0" "5\0" "6\0" "7\0" "8\0" "9";
    const size_t alen = sizeof anchor; /* includes the final NUL */
    uint16_t idx[256];
    size_t from = 0;

    while (from < ks->len) {
        const uint8_t *hit = memmem(ks->ro + from, ks->len - from, anchor, alen);
        if (!hit)
            return false;
        size_t a = (size_t)(hit - ks->ro);
        from = a + 1;
        size_t stop = a + ANCHOR_WINDOW < ks->len ? a + ANCHOR_WINDOW : ks->len;
        for (size_t p = align_up(a, 2); p + 512 <= stop; p += 2) {
            if (!index_shape(ks, p, idx) || idx['0'] > a || idx['9'] - idx['0'] != 18)
                continue;
            if (accept_tokens(ks, a - idx['0'], p, idx))
                return true;
        }
    }
    return false;
}

/* Without the anchor: every index-shaped array, the table just before it. */
static bool find_tokens_by_scan(lx_kallsyms *ks)
{
    uint16_t idx[256];

    for (size_t p = 0; p + 512 <= ks->len; p += 2) {
        if (ks->ro[p] || ks->ro[p + 1] || !index_shape(ks, p, idx))
            continue;
        for (size_t pad = 0; pad < 16 && pad + 2 <= p; pad++) {
            size_t nul = p - pad - 1;
            if (ks->ro[nul] != 0 || ks->ro[nul - 1] == 0)
                continue;
            size_t start = nul - 1;
            while (start > 0 && ks->ro[start - 1] != 0 && nul - start < MAX_TOKEN)
                start--;
            if (start >= idx[255] && accept_tokens(ks, start - idx[255], p, idx))
                return true;
            break;
        }
    }
    return false;
}

/* ---- names ------------------------------------------------------------------- */

/* Length prefix of the entry at pos: 1 byte, or 2 with bit 7 of the first. */
static bool entry_len(const lx_kallsyms *ks, size_t pos, size_t end, size_t *len, size_t *hdr)
{
    if (pos >= end)
        return false;
    size_t n = ks->ro[pos];
    *hdr = 1;
    if (n & 0x80) {
        if (pos + 1 >= end)
            return false;
        n = (n & 0x7f) | ((size_t)ks->ro[pos + 1] << 7);
        *hdr = 2;
    }
    if (n == 0 || n > KSYM_NAME_MAX || pos + *hdr + n > end)
        return false;
    *len = n;
    return true;
}

/* Skips count entries from pos, not past end; the position after them. */
static bool skip_entries(const lx_kallsyms *ks, size_t pos, size_t count, size_t end, size_t *out)
{
    for (size_t i = 0; i < count; i++) {
        size_t n, hdr;
        if (!entry_len(ks, pos, end, &n, &hdr))
            return false;
        pos += hdr + n;
    }
    *out = pos;
    return true;
}

/* Expands the entry at pos into out (type letter first); the length, or 0
 * if malformed or longer than cap - 1. */
static size_t expand(const lx_kallsyms *ks, size_t pos, size_t end, char *out, size_t cap,
                     size_t *next)
{
    size_t n, hdr, o = 0;
    if (!entry_len(ks, pos, end, &n, &hdr))
        return 0;
    const uint8_t *code = ks->ro + pos + hdr;
    for (size_t i = 0; i < n; i++) {
        uint8_t t = code[i];
        size_t tl = ks->toklen[t];
        if (o + tl + TOKEN_PAD >= cap)
            return 0;
        /* Names are a few tokens of a few bytes: copying a fixed 16 bytes
         * (two stores) and advancing by the real length is several times
         * faster than a byte loop or a memcpy call per token. */
        if (tl <= TOKEN_PAD)
            memcpy(out + o, ks->tokpad[t], TOKEN_PAD);
        else
            memcpy(out + o, ks->tok[t], tl);
        o += tl;
    }
    out[o] = '\0';
    if (next)
        *next = pos + hdr + n;
    return o;
}

static size_t names_end(const lx_kallsyms *ks)
{
    return ks->M;
}

/* Position in names of symbol i (markers, then a few skips; sequential
 * access costs one skip). */
static bool pos_of(lx_kallsyms *ks, size_t i, size_t *pos)
{
    if (i >= ks->N)
        return false;
    if (ks->posidx) {
        *pos = ks->S + ks->posidx[i];
        return true;
    }
    size_t p;
    size_t from;
    if (ks->cur_pos && ks->cur_i <= i && i - ks->cur_i < 256) {
        p = ks->cur_pos;
        from = ks->cur_i;
    } else {
        p = ks->S + (size_t)rdw(ks, ks->M + (i / 256) * ks->mw, ks->mw);
        from = i & ~(size_t)255;
    }
    if (!skip_entries(ks, p, i - from, names_end(ks), &p))
        return false;
    ks->cur_i = i;
    ks->cur_pos = p;
    *pos = p;
    return true;
}

static size_t name_of(lx_kallsyms *ks, size_t i, char *out, size_t cap)
{
    size_t pos;
    if (!pos_of(ks, i, &pos))
        return 0;
    return expand(ks, pos, names_end(ks), out, cap, NULL);
}

/* ---- markers, names and num_syms ----------------------------------------------- */

/* Do markers of width w end at E? Then M and nmarkers. */
static bool markers_end_at(lx_kallsyms *ks, size_t E, unsigned w)
{
    const uint64_t min_block = 256 * 2, max_block = 256 * (2 + KSYM_NAME_MAX);
    if (E % w || E < 2 * w)
        return false;
    size_t k = E - w;
    uint64_t v = rdw(ks, k, w), prev;
    if (v == 0)
        return false;
    size_t count = 1;
    while (v != 0) {
        if (k < w || count > MAX_SYMS / 256)
            return false;
        prev = rdw(ks, k - w, w);
        if (prev >= v || v - prev < min_block || v - prev > max_block)
            return false;
        v = prev;
        k -= w;
        count++;
    }
    ks->M = k;
    ks->nmarkers = count;
    ks->mw = w;
    return true;
}

/* With markers found: names start S and num_syms N such that block 0 and
 * the last block decode to exactly where the markers say. */
static bool find_names(lx_kallsyms *ks)
{
    size_t nm = ks->nmarkers;
    uint64_t last = rdw(ks, ks->M + (nm - 1) * ks->mw, ks->mw);
    uint64_t first_block = rdw(ks, ks->M + ks->mw, ks->mw);
    size_t max_last_block = 256 * (2 + KSYM_NAME_MAX);

    if (last + 2 > ks->M)
        return false;
    size_t hi = ks->M - (size_t)last - 2; /* the last block has at least one entry */
    size_t lo = hi > max_last_block + 8 ? hi - max_last_block - 8 : 0;
    for (size_t S = hi & ~(size_t)3; S >= lo && S >= 4; S -= 4) {
        for (size_t back = 4; back <= 8; back += 4) {
            if (S < back)
                continue;
            size_t N = vmic__le32(ks->ro + S - back);
            if (N <= 256 * (nm - 1) || N > 256 * nm)
                continue;
            size_t end;
            if (!skip_entries(ks, S + (size_t)last, N - 256 * (nm - 1), ks->M, &end) ||
                ks->M - end >= 8)
                continue;
            size_t b0;
            if (!skip_entries(ks, S, 256, ks->M, &b0) || b0 != S + first_block)
                continue;
            ks->S = S;
            ks->N = N;
            ks->X = S - back;
            return true;
        }
        if (S == 0)
            break;
    }
    return false;
}

/* Markers end just before the token table (6.4+, or no seqs_of_names), or
 * before seqs_of_names, which is 3 bytes a symbol. Scanning back from the
 * token table finds the markers' end first. */
static bool find_markers_and_names(lx_kallsyms *ks)
{
    size_t window = (size_t)3 * MAX_SYMS + 64;
    size_t stop = ks->T > window ? ks->T - window : 0;

    for (size_t E = ks->T & ~(size_t)3; E > stop; E -= 4) {
        for (unsigned w = 4; w <= 8; w += 4) {
            if (!markers_end_at(ks, E, w) || !find_names(ks))
                continue;
            size_t gap = ks->T - E;
            if (gap < 16) {
                ks->Q = 0;          /* seqs after the addresses, if any */
                return true;
            }
            if (gap >= 3 * ks->N && gap - 3 * ks->N < 32) {
                ks->Q = E; /* old order: seqs between markers and tokens */
                return true;
            }
        }
    }
    return false;
}

/* ---- addresses ------------------------------------------------------------------ */

static uint64_t addr_of(const lx_kallsyms *ks, size_t i)
{
    const lx_kallsyms_info_t *in = &ks->info;
    if (!in->relative)
        return vmic__le64(ks->ro + ks->A + 8 * i);
    int32_t off = (int32_t)vmic__le32(ks->ro + ks->A + 4 * i);
    if (!in->absolute_percpu)
        return in->relative_base + (uint32_t)off;
    if (off >= 0)
        return (uint64_t)off;
    return in->relative_base - 1 - (uint64_t)(int64_t)off;
}

static bool addresses_sorted(const lx_kallsyms *ks)
{
    uint64_t prev = 0;
    for (size_t i = 0; i < ks->N; i++) {
        uint64_t a = addr_of(ks, i);
        if (a < prev)
            return false;
        prev = a;
    }
    return true;
}

size_t lx_kallsyms_find_le(const lx_kallsyms *ks, uint64_t addr)
{
    size_t lo = 0, hi = ks->N;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (addr_of(ks, mid) <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? SIZE_MAX : lo - 1;
}

/* Is a symbol named _text at text_va? (Several names share that address.) */
static bool text_matches(lx_kallsyms *ks, uint64_t text_va)
{
    char name[KSYM_NAME_MAX + 2 + TOKEN_PAD];
    size_t i = lx_kallsyms_find_le(ks, text_va);
    for (size_t k = 0; k < 64 && i != SIZE_MAX && addr_of(ks, i) == text_va; k++, i--) {
        if (name_of(ks, i, name, sizeof name) && strcmp(name + 1, "_text") == 0)
            return true;
        if (i == 0)
            break;
    }
    return false;
}

static bool try_addresses(lx_kallsyms *ks, size_t A, bool relative, size_t rb, uint64_t text_va)
{
    size_t need = relative ? 4 * ks->N : 8 * ks->N;
    if (A > ks->len || need > ks->len - A || (relative && rb + 8 > ks->len))
        return false;
    ks->A = A;
    ks->info.relative = relative;
    ks->info.relative_base = relative ? vmic__le64(ks->ro + rb) : 0;
    for (int percpu = 1; percpu >= 0; percpu--) {
        if (!relative && percpu == 0)
            break;
        ks->info.absolute_percpu = relative && percpu;
        if (addresses_sorted(ks) && (text_va == 0 || text_matches(ks, text_va)))
            return true;
    }
    return false;
}

static bool find_addresses(lx_kallsyms *ks, uint64_t text_va)
{
    size_t N = ks->N;
    /* 6.4+: after token_index. */
    size_t A = align_up(ks->I + 512, 8);
    if (try_addresses(ks, A, true, align_up(A + 4 * N, 8), text_va)) {
        ks->info.new_order = true;
        if (!ks->Q)
            ks->Q = align_up(align_up(A + 4 * N, 8) + 8, 8);
        return true;
    }
    if (try_addresses(ks, A, false, 0, text_va)) {
        ks->info.new_order = true;
        if (!ks->Q)
            ks->Q = align_up(A + 8 * N, 8);
        return true;
    }
    /* Before 6.4: offsets, relative_base, then num_syms at X. */
    if (ks->X >= 8) {
        size_t rb = ks->X - 8;
        for (size_t pad = 0; pad <= 4; pad += 4)
            if (rb >= 4 * N + pad && try_addresses(ks, rb - 4 * N - pad, true, rb, text_va))
                return true;
        if (ks->X >= 8 * N && try_addresses(ks, ks->X - 8 * N, false, 0, text_va))
            return true;
    }
    return false;
}

/* ---- seqs_of_names ------------------------------------------------------------- */

static size_t seq_at(const lx_kallsyms *ks, size_t i)
{
    const uint8_t *p = ks->ro + ks->Q + 3 * i;
    return (size_t)p[0] << 16 | (size_t)p[1] << 8 | p[2];
}

/* Sorted by name (without the type letter), as the kernel's binary search
 * needs: checked on a sample; a wrong guess only costs the hash. */
static bool seqs_valid(lx_kallsyms *ks)
{
    char a[KSYM_NAME_MAX + 2 + TOKEN_PAD], b[KSYM_NAME_MAX + 2 + TOKEN_PAD];
    if (!ks->Q || ks->Q > ks->len || 3 * ks->N > ks->len - ks->Q)
        return false;
    size_t step = ks->N / 64 ? ks->N / 64 : 1;
    for (size_t i = 0; i + 1 < ks->N; i += step) {
        size_t x = seq_at(ks, i), y = seq_at(ks, i + 1);
        if (x >= ks->N || y >= ks->N || !name_of(ks, x, a, sizeof a) ||
            !name_of(ks, y, b, sizeof b) || strcmp(a + 1, b + 1) > 0)
            return false;
    }
    return true;
}

/* ---- opening ------------------------------------------------------------------------ */

vmic_status lx_kallsyms_open(const uint8_t *ro, size_t len, uint64_t ro_va, uint64_t text_va,
                             lx_kallsyms **out)
{
    *out = NULL;
    lx_kallsyms *ks = calloc(1, sizeof *ks);
    if (!ks)
        return vmic_fail(VMIC_E_NOMEM, "kallsyms: no memory");
    ks->ro = ro;
    ks->len = len;
    ks->ro_va = ro_va;

    if (!find_tokens_by_anchor(ks) && !find_tokens_by_scan(ks)) {
        free(ks);
        return vmic_fail(VMIC_E_NOTFOUND, "kallsyms: no token table in %zu bytes of read-only "
                         "data at va 0x%llx", len, (unsigned long long)ro_va);
    }
    if (!find_markers_and_names(ks)) {
        vmic_status s = vmic_fail(VMIC_E_NOTFOUND, "kallsyms: token table at va 0x%llx but no "
                                  "markers and names that agree before it",
                                  (unsigned long long)(ro_va + ks->T));
        free(ks);
        return s;
    }
    if (!find_addresses(ks, text_va)) {
        vmic_status s = vmic_fail(VMIC_E_NOTFOUND, "kallsyms: %zu names at va 0x%llx but no "
                                  "address table that is sorted%s", ks->N,
                                  (unsigned long long)(ro_va + ks->S),
                                  text_va ? " and puts _text at the kernel's start" : "");
        free(ks);
        return s;
    }
    /* seqs_of_names starts after its label's alignment: try each. */
    size_t q0 = ks->Q;
    for (size_t a = 1; a <= 16 && q0 && !ks->info.has_seqs; a *= 2) {
        ks->Q = align_up(q0, a);
        ks->info.has_seqs = seqs_valid(ks);
    }
    lx_kallsyms_info_t *in = &ks->info;
    in->num_syms = ks->N;
    in->names = ro_va + ks->S;
    in->markers = ro_va + ks->M;
    in->token_table = ro_va + ks->T;
    in->token_index = ro_va + ks->I;
    in->addrs = ro_va + ks->A;
    in->seqs = in->has_seqs ? ro_va + ks->Q : 0;
    in->marker_width = ks->mw;
    *out = ks;
    return VMIC_OK;
}

void lx_kallsyms_free(lx_kallsyms *ks)
{
    if (!ks)
        return;
    free(ks->arena);
    free(ks->name_off);
    free(ks->types);
    free(ks->hash);
    free(ks->posidx);
    free(ks);
}

const lx_kallsyms_info_t *lx_kallsyms_info(const lx_kallsyms *ks)
{
    return &ks->info;
}

size_t lx_kallsyms_count(const lx_kallsyms *ks)
{
    return ks->N;
}

uint64_t lx_kallsyms_addr(const lx_kallsyms *ks, size_t i)
{
    return i < ks->N ? addr_of(ks, i) : 0;
}

/* ---- materialised names and lookups ---------------------------------------------------- */

static vmic_status materialise(lx_kallsyms *ks)
{
    if (ks->arena)
        return VMIC_OK;
    size_t cap = (ks->M - ks->S) * 3 + 4096, used = 0;
    char *arena = malloc(cap);
    uint32_t *off = malloc(ks->N * sizeof *off);
    char *types = malloc(ks->N);
    if (!arena || !off || !types)
        goto nomem;
    size_t pos = ks->S;
    bool lost = false;
    ks->undecodable = 0;
    for (size_t i = 0; i < ks->N; i++) {
        if (cap - used < KSYM_NAME_MAX + 2 + TOKEN_PAD) {
            size_t ncap = cap * 2;
            char *na = ncap < UINT32_MAX ? realloc(arena, ncap) : NULL;
            if (!na)
                goto nomem;
            arena = na;
            cap = ncap;
        }
        /* A new block of 256 starts where its marker says: after a bad
         * entry whose length could not be trusted, decoding resumes there. */
        if (lost && i % 256 == 0) {
            pos = ks->S + (size_t)rdw(ks, ks->M + (i / 256) * ks->mw, ks->mw);
            lost = false;
        }
        /* Expanded in place, type letter first: names start one byte in. */
        size_t n = lost ? 0 : expand(ks, pos, names_end(ks), arena + used,
                                     KSYM_NAME_MAX + 2 + TOKEN_PAD, &pos);
        if (n == 0) {
            /* One bad entry costs that entry, not the table: it gets type
             * '?' and no name. Its length prefix, if sane, finds the next;
             * otherwise the rest of its block is lost up to the next marker. */
            size_t len, hdr;
            if (!lost && entry_len(ks, pos, names_end(ks), &len, &hdr))
                pos += hdr + len;
            else
                lost = true;
            arena[used] = '?';
            arena[used + 1] = '\0';
            n = 1;
            ks->undecodable++;
        }
        /* arena+used holds "Tname\0": keep the type apart, name from +1. */
        types[i] = arena[used];
        off[i] = (uint32_t)(used + 1);
        used += n + 1;
    }
    ks->arena = arena;
    ks->name_off = off;
    ks->types = types;
    return VMIC_OK;
nomem:
    free(arena);
    free(off);
    free(types);
    return vmic_fail(VMIC_E_NOMEM, "kallsyms: no memory for %zu names", ks->N);
}

vmic_status lx_kallsyms_get(lx_kallsyms *ks, size_t i, vmic_symbol_t *sym)
{
    if (i >= ks->N)
        return vmic_fail(VMIC_E_RANGE, "kallsyms: symbol %zu of %zu", i, ks->N);
    vmic_status s = materialise(ks);
    if (s)
        return s;
    sym->name = ks->arena + ks->name_off[i];
    sym->addr = vmic_va(addr_of(ks, i));
    sym->type = ks->types[i];
    if (!sym->name[0])
        return vmic_fail(VMIC_E_FORMAT, "kallsyms: symbol %zu (at 0x%llx) has a name that does "
                         "not decode", i, (unsigned long long)sym->addr.addr);
    return VMIC_OK;
}

size_t lx_kallsyms_undecodable(lx_kallsyms *ks)
{
    return materialise(ks) == VMIC_OK ? ks->undecodable : ks->N;
}

static bool build_hash(lx_kallsyms *ks)
{
    if (materialise(ks) != VMIC_OK)
        return false;
    size_t n = 1;
    while (n < ks->N * 2)
        n <<= 1;
    ks->hash = calloc(n, sizeof *ks->hash);
    if (!ks->hash)
        return false;
    ks->hmask = n - 1;
    /* Inserted in address order and never overwritten: of equal names the
     * lowest address answers. */
    for (size_t i = 0; i < ks->N; i++) {
        size_t h = vmic__fnv1a(ks->arena + ks->name_off[i], 0) & ks->hmask;
        while (ks->hash[h]) {
            if (strcmp(ks->arena + ks->name_off[ks->hash[h] - 1], ks->arena + ks->name_off[i]) == 0)
                break;
            h = (h + 1) & ks->hmask;
        }
        if (!ks->hash[h])
            ks->hash[h] = (uint32_t)i + 1;
    }
    return true;
}

static bool lookup_by_seqs(lx_kallsyms *ks, const char *name, uint64_t *addr)
{
    char buf[KSYM_NAME_MAX + 2 + TOKEN_PAD];
    size_t lo = 0, hi = ks->N;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (!name_of(ks, seq_at(ks, mid), buf, sizeof buf))
            return false;
        if (strcmp(buf + 1, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* lo: first entry not below name; among equal names take the lowest index. */
    size_t best = SIZE_MAX;
    for (size_t k = lo; k < ks->N; k++) {
        size_t idx = seq_at(ks, k);
        if (!name_of(ks, idx, buf, sizeof buf) || strcmp(buf + 1, name) != 0)
            break;
        if (idx < best)
            best = idx;
    }
    if (best == SIZE_MAX)
        return false;
    *addr = addr_of(ks, best);
    return true;
}

/* One pass over the names recording where each starts: a binary search
 * then decodes ~17 names directly instead of skipping to each. */
static void build_positions(lx_kallsyms *ks)
{
    uint32_t *idx = malloc(ks->N * sizeof *idx);
    size_t pos = ks->S;
    if (!idx || ks->M - ks->S > UINT32_MAX) {
        free(idx);
        return;
    }
    for (size_t i = 0; i < ks->N; i++) {
        idx[i] = (uint32_t)(pos - ks->S);
        if (!skip_entries(ks, pos, 1, names_end(ks), &pos)) {
            free(idx);
            return;
        }
    }
    ks->posidx = idx;
}

bool lx_kallsyms_lookup(lx_kallsyms *ks, const char *name, uint64_t *addr)
{
    if (ks->info.has_seqs && !ks->hash) {
        /* A few lookups (a process listing needs ~5) cost nothing to set up;
         * many (a tool resolving thousands) pay ~1 ms once to go fast. */
        if (!ks->posidx && ++ks->lookups > 16)
            build_positions(ks);
        if (lookup_by_seqs(ks, name, addr))
            return true;
        /* seqs_of_names was checked on a sample only: a miss is confirmed
         * by the hash over every name (built once). */
    }
    if (!ks->hash && !build_hash(ks))
        return false;
    size_t h = vmic__fnv1a(name, 0) & ks->hmask;
    while (ks->hash[h]) {
        size_t i = ks->hash[h] - 1;
        if (strcmp(ks->arena + ks->name_off[i], name) == 0) {
            *addr = addr_of(ks, i);
            return true;
        }
        h = (h + 1) & ks->hmask;
    }
    return false;
}
