/* The JSON pull parser and string quoting (see json.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

void jp_init(jp *j, const char *text, size_t len)
{
    memset(j, 0, sizeof *j);
    j->start = j->p = text;
    j->end = text + len;
}

bool jp_fail(jp *j, const char *what)
{
    if (!j->failed) {
        j->failed = true;
        snprintf(j->error, sizeof j->error, "%s at byte %zu", what, (size_t)(j->p - j->start));
    }
    return false;
}

static void ws(jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

jp_type jp_peek(jp *j)
{
    if (j->failed)
        return JP_ERROR;
    ws(j);
    if (j->p >= j->end)
        return JP_ERROR;
    switch (*j->p) {
    case '{': return JP_OBJECT;
    case '[': return JP_ARRAY;
    case '"': return JP_STRING;
    case 't': return JP_TRUE;
    case 'f': return JP_FALSE;
    case 'n': return JP_NULL;
    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
            return JP_NUMBER;
        return JP_ERROR;
    }
}

static bool open_container(jp *j, char c)
{
    if (jp_peek(j) == JP_ERROR || *j->p != c)
        return jp_fail(j, c == '{' ? "expected an object" : "expected an array");
    if (j->depth + 1 >= JP_MAX_DEPTH)
        return jp_fail(j, "nesting too deep");
    j->p++;
    j->depth++;
    j->first[j->depth] = true;
    return true;
}

bool jp_begin_object(jp *j)
{
    return open_container(j, '{');
}

bool jp_begin_array(jp *j)
{
    return open_container(j, '[');
}

/* Before a member or element: a comma unless first; false (and the closer
 * consumed) at the end. */
static bool next_item(jp *j, char closer)
{
    if (j->failed)
        return false;
    ws(j);
    if (j->p >= j->end)
        return jp_fail(j, "unexpected end of input");
    if (*j->p == closer) {
        j->p++;
        j->depth--;
        return false;
    }
    if (!j->first[j->depth]) {
        if (*j->p != ',')
            return jp_fail(j, "expected ',' or a closing bracket");
        j->p++;
        ws(j);
    }
    j->first[j->depth] = false;
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits of a \u escape at j->p; -1 if they are not there. */
static int escape_u(jp *j)
{
    int v = 0;
    for (int k = 0; k < 4; k++) {
        int h = j->p < j->end ? hexval(*j->p) : -1;
        if (h < 0)
            return -1;
        v = v * 16 + h;
        j->p++;
    }
    return v;
}

/* A \u escape (the "\u" consumed) as a code point; a surrogate pair takes
 * the second escape with it. Lone surrogates and U+0000 give '?'. */
static long code_point(jp *j)
{
    int hi = escape_u(j);
    if (hi < 0)
        return -1;
    if (hi >= 0xdc00 && hi <= 0xdfff)
        return '?';
    if (hi >= 0xd800 && hi <= 0xdbff) {
        if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u')
            return '?';
        const char *save = j->p;
        j->p += 2;
        int lo = escape_u(j);
        if (lo < 0)
            return -1;
        if (lo < 0xdc00 || lo > 0xdfff) {
            j->p = save;   /* not a pair: that escape stands on its own */
            return '?';
        }
        return 0x10000 + (((long)hi - 0xd800) << 10) + (lo - 0xdc00);
    }
    return hi == 0 ? '?' : hi;
}

/* UTF-8 of cp into b; returns the bytes (1..4). */
static size_t utf8(long cp, char *b)
{
    if (cp < 0x80) {
        b[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (char)(0xc0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (char)(0xe0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    b[0] = (char)(0xf0 | (cp >> 18));
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    b[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

bool jp_string(jp *j, char *buf, size_t cap, size_t *len)
{
    if (jp_peek(j) != JP_STRING)
        return jp_fail(j, "expected a string");
    j->p++;
    size_t o = 0;
    while (j->p < j->end && *j->p != '"') {
        char c = *j->p++, seq[4];
        size_t n = 1;
        seq[0] = c;
        if ((unsigned char)c < 0x20)
            return jp_fail(j, "control character in a string");
        if (c == '\\') {
            if (j->p >= j->end)
                break;
            char e = *j->p++;
            switch (e) {
            case '"': case '\\': case '/': seq[0] = e; break;
            case 'b': seq[0] = '\b'; break;
            case 'f': seq[0] = '\f'; break;
            case 'n': seq[0] = '\n'; break;
            case 'r': seq[0] = '\r'; break;
            case 't': seq[0] = '\t'; break;
            case 'u': {
                long cp = code_point(j);
                if (cp < 0)
                    return jp_fail(j, "bad \\u escape");
                n = utf8(cp, seq);
                break;
            }
            default:
                return jp_fail(j, "bad escape");
            }
        }
        if (o + n >= cap)
            return jp_fail(j, "string too long");
        memcpy(buf + o, seq, n);
        o += n;
    }
    if (j->p >= j->end)
        return jp_fail(j, "unterminated string");
    j->p++;
    buf[o] = '\0';
    if (len)
        *len = o;
    return true;
}

bool jp_string_alloc(jp *j, char **out, size_t *len)
{
    const char *text;
    size_t n;
    *out = NULL;
    if (jp_peek(j) != JP_STRING)
        return jp_fail(j, "expected a string");
    /* Decoding never makes a string longer than its text: size it by that. */
    const char *at = j->p;
    if (!jp_raw(j, &text, &n))
        return false;
    char *buf = malloc(n + 1);
    if (!buf)
        return jp_fail(j, "no memory for a string");
    j->p = at;
    if (!jp_string(j, buf, n + 1, len)) {
        free(buf);
        return false;
    }
    *out = buf;
    return true;
}

bool jp_next_key(jp *j)
{
    if (!next_item(j, '}'))
        return false;
    if (!jp_string(j, j->key, sizeof j->key, &j->keylen))
        return false;
    ws(j);
    if (j->p >= j->end || *j->p != ':')
        return jp_fail(j, "expected ':'");
    j->p++;
    return true;
}

bool jp_next_element(jp *j)
{
    return next_item(j, ']');
}

/* The characters of a number; no fraction or exponent for the integer readers. */
static bool number(jp *j, bool *neg, uint64_t *mag, bool *integral, bool *overflowed)
{
    if (jp_peek(j) != JP_NUMBER)
        return jp_fail(j, "expected a number");
    *neg = false;
    *mag = 0;
    *integral = true;
    if (*j->p == '-') {
        *neg = true;
        j->p++;
    }
    const char *digits = j->p;
    bool overflow = false;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        unsigned d = (unsigned)(*j->p - '0');
        if (*mag > (UINT64_MAX - d) / 10)
            overflow = true;
        *mag = *mag * 10 + d;
        j->p++;
    }
    if (j->p == digits)
        return jp_fail(j, "bad number");
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E')) {
        *integral = false;
        j->p++;
        while (j->p < j->end && ((*j->p >= '0' && *j->p <= '9') || *j->p == '+' ||
                                 *j->p == '-' || *j->p == 'e' || *j->p == 'E'))
            j->p++;
    }
    if (overflowed) {
        *overflowed = overflow;
        return true;
    }
    if (overflow)
        return jp_fail(j, "number out of range");
    return true;
}

bool jp_u64(jp *j, uint64_t *v)
{
    bool neg = false, integral = false;
    uint64_t mag = 0;
    if (!number(j, &neg, &mag, &integral, NULL))
        return false;
    if (neg || !integral)
        return jp_fail(j, "expected a non-negative integer");
    *v = mag;
    return true;
}

bool jp_i64(jp *j, int64_t *v)
{
    bool neg = false, integral = false;
    uint64_t mag = 0;
    if (!number(j, &neg, &mag, &integral, NULL))
        return false;
    if (!integral)
        return jp_fail(j, "expected an integer");
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1)
            return jp_fail(j, "number out of range");
        *v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        /* Unsigned 64-bit values (enum constants of u64 enums) wrap, as in C. */
        *v = (int64_t)mag;
    }
    return true;
}

static bool literal(jp *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return jp_fail(j, "bad literal");
    j->p += n;
    return true;
}

bool jp_bool(jp *j, bool *v)
{
    jp_type t = jp_peek(j);
    if (t == JP_TRUE) {
        *v = true;
        return literal(j, "true");
    }
    if (t == JP_FALSE) {
        *v = false;
        return literal(j, "false");
    }
    return jp_fail(j, "expected true or false");
}

bool jp_skip(jp *j)
{
    switch (jp_peek(j)) {
    case JP_OBJECT: {
        int d = j->depth;
        if (!jp_begin_object(j))
            return false;
        /* Iterative over siblings, recursive over nesting (bounded by depth). */
        while (jp_next_key(j))
            if (!jp_skip(j))
                return false;
        return !j->failed && j->depth == d;
    }
    case JP_ARRAY: {
        if (!jp_begin_array(j))
            return false;
        while (jp_next_element(j))
            if (!jp_skip(j))
                return false;
        return !j->failed;
    }
    case JP_STRING: {
        /* Long strings (base64 constant data) are skipped without a copy. */
        j->p++;
        while (j->p < j->end && *j->p != '"') {
            if (*j->p == '\\' && j->end - j->p > 1)
                j->p++;
            j->p++;
        }
        if (j->p >= j->end)
            return jp_fail(j, "unterminated string");
        j->p++;
        return true;
    }
    case JP_NUMBER: {
        bool neg, integral, overflowed;
        uint64_t mag;
        /* Magnitude overflow does not matter for a skipped number. */
        return number(j, &neg, &mag, &integral, &overflowed);
    }
    case JP_TRUE: return literal(j, "true");
    case JP_FALSE: return literal(j, "false");
    case JP_NULL: return literal(j, "null");
    default: return jp_fail(j, "expected a value");
    }
}

bool jp_raw(jp *j, const char **text, size_t *len)
{
    if (jp_peek(j) == JP_ERROR)
        return jp_fail(j, "expected a value");
    const char *at = j->p;
    if (!jp_skip(j))
        return false;
    *text = at;
    *len = (size_t)(j->p - at);
    return true;
}

bool jp_finish(jp *j)
{
    if (j->failed)
        return false;
    ws(j);
    if (j->p != j->end)
        return jp_fail(j, "trailing data after the document");
    return true;
}

/* ---- writing ------------------------------------------------------------------ */

/* How one byte is written inside a string literal: itself, a two-character
 * escape, or \u00XX. Returns its length. */
static size_t quoted_char(unsigned char c, char *b)
{
    static const char hex[] = "0123456789abcdef";
    const char *two = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n"
                      : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
    if (two) {
        memcpy(b, two, 2);
        return 2;
    }
    if (c < 0x20 || c == 0x7f) {
        memcpy(b, "\\u00", 4);
        b[4] = hex[c >> 4];
        b[5] = hex[c & 15];
        return 6;
    }
    b[0] = (char)c;
    return 1;
}

size_t json_quoted_size(const char *s)
{
    char b[6];
    size_t n = 3;   /* the quotes and the NUL */
    for (; *s; s++)
        n += quoted_char((unsigned char)*s, b);
    return n;
}

char *json_quote(char *out, const char *s)
{
    *out++ = '"';
    for (; *s; s++)
        out += quoted_char((unsigned char)*s, out);
    *out++ = '"';
    *out = '\0';
    return out;
}
