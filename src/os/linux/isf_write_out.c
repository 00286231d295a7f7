/*
 * The ISF writer's output: JSON pieces into a buffer, handed to the caller's
 * function 64 KiB at a time. A function that says stop stops everything
 * after it; the writer notices once, at its end (isfw_flush).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "isf_write.h"

static void drain(isfw_out *o)
{
    if (o->len && !o->failed && o->fn(o->arg, o->buf, o->len) != 0)
        o->failed = true;
    o->len = 0;
}

void isfw_rawn(isfw_out *o, const char *s, size_t n)
{
    while (n && !o->failed) {
        size_t room = sizeof o->buf - o->len;
        size_t k = n < room ? n : room;
        memcpy(o->buf + o->len, s, k);
        o->len += k;
        s += k;
        n -= k;
        if (o->len == sizeof o->buf)
            drain(o);
    }
}

void isfw_raw(isfw_out *o, const char *s)
{
    isfw_rawn(o, s, strlen(s));
}

void isfw_printf(isfw_out *o, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        isfw_rawn(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

void isfw_str(isfw_out *o, const char *s)
{
    isfw_rawn(o, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            continue;
        isfw_rawn(o, run, (size_t)(s - run));
        char esc[8];
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof esc, "\\%c", c);
        else
            snprintf(esc, sizeof esc, "\\u%04x", c);
        isfw_raw(o, esc);
        run = s + 1;
    }
    isfw_rawn(o, run, (size_t)(s - run));
    isfw_rawn(o, "\"", 1);
}

void isfw_key(isfw_out *o, const char *key)
{
    isfw_str(o, key);
    isfw_rawn(o, ":", 1);
}

void isfw_u64(isfw_out *o, uint64_t v)
{
    isfw_printf(o, "%" PRIu64, v);
}

void isfw_i64(isfw_out *o, int64_t v)
{
    isfw_printf(o, "%" PRId64, v);
}

void isfw_base64(isfw_out *o, const uint8_t *data, size_t len)
{
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    isfw_rawn(o, "\"", 1);
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        char q[4] = {digits[v >> 18 & 63], digits[v >> 12 & 63],
                     i + 1 < len ? digits[v >> 6 & 63] : '=', i + 2 < len ? digits[v & 63] : '='};
        isfw_rawn(o, q, 4);
    }
    isfw_rawn(o, "\"", 1);
}

vmic_status isfw_flush(isfw_out *o)
{
    drain(o);
    if (o->failed)
        return vmic_fail(VMIC_E_IO, "isf: the output stopped taking the document (disk full, "
                         "closed pipe?): what was written is incomplete");
    return VMIC_OK;
}
