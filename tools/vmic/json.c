#include <inttypes.h>
#include <string.h>

#include "json.h"

void json_init(json *j, FILE *out)
{
    j->out = out;
    j->depth = 0;
    j->has_items[0] = false;
}

static void write_escaped(FILE *out, const char *s, size_t len)
{
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            /* Guest strings are arbitrary bytes: keep printable ASCII, escape
             * control bytes, and pass bytes >= 0x80 as \u00XX so the output
             * is always valid JSON whatever the guest wrote. */
            if (c < 0x20 || c >= 0x7f)
                fprintf(out, "\\u%04x", c);
            else
                fputc(c, out);
        }
    }
    fputc('"', out);
}

static void member(json *j, const char *key)
{
    if (j->has_items[j->depth])
        fputc(',', j->out);
    j->has_items[j->depth] = true;
    if (key) {
        write_escaped(j->out, key, strlen(key));
        fputc(':', j->out);
    }
}

static unsigned documents; /* top-level documents begun, on any stream */

unsigned json_documents_begun(void)
{
    return documents;
}

static void open_scope(json *j, const char *key, char c)
{
    if (j->depth == 0)
        documents++;
    member(j, key);
    fputc(c, j->out);
    if (j->depth + 1 < JSON_MAX_DEPTH)
        j->depth++;
    j->has_items[j->depth] = false;
}

static void close_scope(json *j, char c)
{
    fputc(c, j->out);
    if (j->depth > 0)
        j->depth--;
}

void json_object_begin(json *j, const char *key) { open_scope(j, key, '{'); }
void json_object_end(json *j) { close_scope(j, '}'); }
void json_array_begin(json *j, const char *key) { open_scope(j, key, '['); }
void json_array_end(json *j) { close_scope(j, ']'); }

void json_str(json *j, const char *key, const char *value)
{
    if (!value) {
        json_null(j, key);
        return;
    }
    json_strn(j, key, value, strlen(value));
}

void json_strn(json *j, const char *key, const char *value, size_t len)
{
    member(j, key);
    write_escaped(j->out, value, len);
}

void json_u64(json *j, const char *key, uint64_t value)
{
    member(j, key);
    fprintf(j->out, "%" PRIu64, value);
}

void json_i64(json *j, const char *key, int64_t value)
{
    member(j, key);
    fprintf(j->out, "%" PRId64, value);
}

void json_hex(json *j, const char *key, uint64_t value)
{
    member(j, key);
    fprintf(j->out, "\"0x%" PRIx64 "\"", value);
}

void json_bool(json *j, const char *key, bool value)
{
    member(j, key);
    fputs(value ? "true" : "false", j->out);
}

void json_null(json *j, const char *key)
{
    member(j, key);
    fputs("null", j->out);
}

void json_done(json *j)
{
    fputc('\n', j->out);
    j->depth = 0;
    j->has_items[0] = false;
}
