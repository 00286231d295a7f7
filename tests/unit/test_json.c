/*
 * vmic's one JSON parser (src/base/json.h), on what the ISF reader and the
 * QMP client hand it: escapes (\u to UTF-8, surrogate pairs, lone ones),
 * strings of any length, raw value spans, hostile input (unterminated,
 * too deep, trailing data, a backslash at the very end), and the quoting of
 * what vmic writes, read back by the parser.
 */
#include <stdlib.h>

#include "base/json.h"
#include "harness.h"

static bool parse_string(const char *text, char *buf, size_t cap)
{
    jp j;
    jp_init(&j, text, strlen(text));
    return jp_string(&j, buf, cap, NULL) && jp_finish(&j);
}

static void test_escapes(void)
{
    char buf[64];
    CHECK(parse_string("\"a\\\"b\\\\c\\/d\\n\\t\"", buf, sizeof buf));
    CHECK_STR(buf, "a\"b\\c/d\n\t");
    /* \u to UTF-8: two and three bytes, a surrogate pair to four. */
    CHECK(parse_string("\"caf\\u00e9 \\u20ac \\ud83d\\ude00\"", buf, sizeof buf));
    CHECK_STR(buf, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    /* What a C string cannot hold, or is no character, becomes '?'. */
    CHECK(parse_string("\"\\u0000|\\udc00|\\ud800|\\ud800x\"", buf, sizeof buf));
    CHECK_STR(buf, "?|?|?|?x");
    /* A high surrogate followed by another escape keeps that escape. */
    CHECK(parse_string("\"\\ud800\\u0041\"", buf, sizeof buf));
    CHECK_STR(buf, "?A");
    CHECK(!parse_string("\"\\u12g4\"", buf, sizeof buf));
    CHECK(!parse_string("\"\\q\"", buf, sizeof buf));
    CHECK(!parse_string("\"raw\ncontrol\"", buf, sizeof buf));
    /* Raw UTF-8 passes through as it is. */
    CHECK(parse_string("\"\xc3\xa9t\xc3\xa9\"", buf, sizeof buf));
    CHECK_STR(buf, "\xc3\xa9t\xc3\xa9");
    /* The bound counts the bytes written, escapes included. */
    CHECK(!parse_string("\"\\u20ac\\u20ac\"", buf, 6));
    CHECK(parse_string("\"\\u20ac\\u20ac\"", buf, 7));
}

static void test_string_alloc_and_raw(void)
{
    /* A long string: its own buffer, no fixed cap. */
    size_t n = 100000;
    char *doc = malloc(n + 3), *s = NULL;
    CHECK(doc != NULL);
    doc[0] = '"';
    memset(doc + 1, 'x', n);
    doc[n + 1] = '"';
    doc[n + 2] = '\0';
    jp j;
    size_t len;
    jp_init(&j, doc, n + 2);
    bool ok = jp_string_alloc(&j, &s, &len) && jp_finish(&j);
    free(doc);
    CHECK(ok);
    CHECK_EQ(len, n);
    CHECK_EQ(strlen(s), n);
    free(s);

    /* jp_raw: the text of one value, to parse later. */
    const char *text = "{\"a\": [1, {\"b\": \"}\"}], \"c\": true}";
    const char *raw;
    size_t rlen;
    jp_init(&j, text, strlen(text));
    CHECK(jp_begin_object(&j) && jp_next_key(&j));
    CHECK_STR(j.key, "a");
    CHECK(jp_raw(&j, &raw, &rlen));
    CHECK_EQ(rlen, strlen("[1, {\"b\": \"}\"}]"));
    CHECK(memcmp(raw, "[1, {\"b\": \"}\"}]", rlen) == 0);
    bool c = false;
    CHECK(jp_next_key(&j) && jp_bool(&j, &c) && c);
    CHECK(!jp_next_key(&j) && !j.failed && jp_finish(&j));
}

static void test_hostile(void)
{
    jp j;
    static const char *const bad[] = {
        "\"unterminated",
        "\"ends in a backslash\\",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "[1 2]",
        "tru",
        "{\"a\":1} trailing",
        "-",
        "18446744073709551616",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jp_init(&j, bad[i], strlen(bad[i]));
        uint64_t v;
        bool ok = jp_peek(&j) == JP_NUMBER ? jp_u64(&j, &v) : jp_skip(&j);
        ok = ok && jp_finish(&j);
        CHECK_MSG(!ok && j.failed && j.error[0], "accepted '%s'", bad[i]);
    }
    /* Nesting deeper than JP_MAX_DEPTH fails, without recursing further. */
    char deep[2 * JP_MAX_DEPTH + 8];
    memset(deep, '[', JP_MAX_DEPTH + 2);
    memset(deep + JP_MAX_DEPTH + 2, ']', JP_MAX_DEPTH + 2);
    deep[2 * JP_MAX_DEPTH + 4] = '\0';
    jp_init(&j, deep, strlen(deep));
    CHECK(!jp_skip(&j));
    CHECK(strstr(j.error, "nesting too deep") != NULL);
    /* Skipping a string whose last byte is a backslash stays in bounds. */
    char tail[] = {'"', 'a', '\\'};
    jp_init(&j, tail, sizeof tail);
    CHECK(!jp_skip(&j));
    CHECK(strstr(j.error, "unterminated") != NULL);
}

static void test_quote_round_trip(void)
{
    static const char *const in[] = {
        "plain", "", "quote \" and backslash \\", "line\nbreak\ttab\rcr",
        "\x01\x1f\x7f control", "caf\xc3\xa9 /path/with spaces",
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        size_t size = json_quoted_size(in[i]);
        char *q = malloc(size), back[128];
        CHECK(q != NULL);
        char *end = json_quote(q, in[i]);
        bool ok = (size_t)(end - q) + 1 == size && strlen(q) + 1 == size &&
                  parse_string(q, back, sizeof back);
        free(q);
        CHECK_MSG(ok, "quoting '%s'", in[i]);
        CHECK_STR(back, in[i]);
    }
    char q[16];
    json_quote(q, "a\"b");
    CHECK_STR(q, "\"a\\\"b\"");
    json_quote(q, "\x01");
    CHECK_STR(q, "\"\\u0001\"");
}

int main(void)
{
    RUN(test_escapes);
    RUN(test_string_alloc_and_raw);
    RUN(test_hostile);
    RUN(test_quote_round_trip);
    return HARNESS_RESULT();
}
