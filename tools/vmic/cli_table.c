#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_table.h"

static bool in_table(const cli_col *c)
{
    return !(c->flags & CLI_COL_JSON_ONLY);
}

static size_t str_len(const cli_val *v)
{
    return !v->s ? 0 : v->len == CLI_STRLEN ? strlen(v->s) : v->len;
}

static bool is_set(const cli_col *c, const cli_val *v)
{
    return c->type == CLI_COL_BOOL ? v->b : c->type != CLI_COL_STR || str_len(v) > 0;
}

static const char *separator(const cli_schema *s, size_t i)
{
    if (s->cols[i].sep)
        return s->cols[i].sep;
    for (size_t k = 0; k < i; k++)
        if (in_table(&s->cols[k]))
            return " ";
    return ""; /* the first column of the table */
}

/* A number or mark as the table shows it. */
static void cell_text(const cli_col *c, const cli_val *v, char *buf, size_t size)
{
    const char *ox = c->flags & CLI_COL_0X ? "0x" : "";
    if (v->blank) {
        snprintf(buf, size, "-");
        return;
    }
    switch (c->type) {
    case CLI_COL_INT: snprintf(buf, size, "%" PRId64, v->i); break;
    case CLI_COL_UINT: snprintf(buf, size, "%" PRIu64, v->u); break;
    case CLI_COL_HEX: snprintf(buf, size, "%s%0*" PRIx64, ox, c->digits, v->u); break;
    case CLI_COL_OCT: snprintf(buf, size, "%0*" PRIo64, c->digits, v->u); break;
    case CLI_COL_SECONDS: snprintf(buf, size, "%.3f", (double)v->u / 1e9); break;
    case CLI_COL_KTIME:
        snprintf(buf, size, "[%5" PRIu64 ".%06" PRIu64 "]", v->u / 1000000000u,
                 (v->u % 1000000000u) / 1000u);
        break;
    case CLI_COL_BOOL:
        snprintf(buf, size, "%s", v->b ? (c->mark ? c->mark : "") : c->unmark ? c->unmark : "");
        break;
    case CLI_COL_SIZE: cli_size(v->u, buf, size); break;
    case CLI_COL_STR: buf[0] = '\0'; break;
    }
}

/* Guest text a terminal would act on: tabs and UTF-8 as they are, other
 * control bytes as \xNN. Returns the columns written. */
static int print_escaped(const char *p, size_t len)
{
    int w = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '\t' || (ch >= 0x20 && ch != 0x7f)) {
            putchar(ch);
            w++;
        } else {
            w += printf("\\x%02x", ch);
        }
    }
    return w;
}

static int print_text(const cli_col *c, const char *p, size_t len)
{
    if (c->flags & CLI_COL_ESCAPE) {
        /* Left-aligned: padded after, by the width the escapes took. */
        int w = print_escaped(p, len);
        return w + (c->width < 0 && -c->width > w ? printf("%*s", -c->width - w, "") : 0);
    }
    int pad = c->width > 0 && (size_t)c->width > len ? c->width - (int)len : 0;
    int right = c->width < 0 && (size_t)-c->width > len ? -c->width - (int)len : 0;
    return printf("%*s%.*s%*s", pad, "", (int)len, p, right, "");
}

static int print_columns(const cli_rows *r, const cli_val *values, size_t from, size_t to);

/* Text of several lines: each further line under the first, after the
 * columns before it repeated or blanked. */
static int print_lines(const cli_rows *r, const cli_val *values, size_t i, int indent)
{
    const cli_col *c = &r->schema->cols[i];
    const char *p = values[i].s, *end = p + str_len(&values[i]);
    int w = 0;
    for (bool first = true;; first = false) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        if (!first && r->repeat_prefix) {
            putchar('\n');
            print_columns(r, values, 0, i);
            fputs(separator(r->schema, i), stdout);
        } else if (!first) {
            printf("\n%*s", indent, "");
        }
        w += print_text(c, p, (size_t)(stop - p));
        p = nl ? nl + 1 : end;
        if (p >= end)
            break;
    }
    return w;
}

/* Columns [from, to) of a row; returns the width printed. */
static int print_columns(const cli_rows *r, const cli_val *values, size_t from, size_t to)
{
    const cli_schema *s = r->schema;
    int w = 0;
    for (size_t i = from; i < to; i++) {
        const cli_col *c = &s->cols[i];
        const cli_val *v = &values[i];
        char buf[64];
        if (!in_table(c) || ((c->flags & CLI_COL_TABLE_IF_SET) && !is_set(c, v)))
            continue;
        w += printf("%s", separator(s, i));
        if (c->at && w < c->at && is_set(c, v))
            w += printf("%*s", c->at - w, "");
        if (c->type != CLI_COL_STR || v->blank) {
            cell_text(c, v, buf, sizeof buf);
            w += print_text(c, buf, strlen(buf));
        } else if (c->flags & CLI_COL_LINES) {
            w += print_lines(r, values, i, w);
        } else if (c->flags & CLI_COL_BRACKETS) {
            w += printf("[") + print_text(c, v->s, str_len(v)) + printf("]");
        } else {
            w += print_text(c, v->s, str_len(v));
        }
    }
    return w;
}

static void print_heading(const cli_schema *s)
{
    for (size_t i = 0; i < s->ncols; i++) {
        const cli_col *c = &s->cols[i];
        if (in_table(c) && c->head)
            printf("%s%*s", separator(s, i), c->width, c->head);
    }
    putchar('\n');
}

static void json_value(json *j, const cli_col *c, const cli_val *v)
{
    if ((c->flags & CLI_COL_JSON_IF_SET) && !is_set(c, v))
        return;
    switch (c->type) {
    case CLI_COL_INT: json_i64(j, c->key, v->i); break;
    case CLI_COL_UINT:
    case CLI_COL_OCT:
    case CLI_COL_SECONDS:
    case CLI_COL_KTIME:
    case CLI_COL_SIZE: json_u64(j, c->key, v->u); break;
    case CLI_COL_HEX: json_hex(j, c->key, v->u); break;
    case CLI_COL_STR: json_strn(j, c->key, v->s ? v->s : "", str_len(v)); break;
    case CLI_COL_BOOL: json_bool(j, c->key, v->b); break;
    }
}

void cli_rows_begin(cli_rows *r, const cli_schema *schema, bool as_json)
{
    memset(r, 0, sizeof *r);
    r->schema = schema;
    r->json = as_json;
    json_init(&r->own, stdout);
    r->j = &r->own;
    if (as_json)
        json_array_begin(r->j, NULL);
    else if (!schema->no_heading)
        print_heading(schema);
}

void cli_rows_begin_in(cli_rows *r, const cli_schema *schema, json *j, const char *key)
{
    memset(r, 0, sizeof *r);
    r->schema = schema;
    r->json = true;
    r->j = j;
    json_array_begin(j, key);
}

void cli_rows_add(cli_rows *r, const cli_val *values)
{
    const cli_schema *s = r->schema;
    r->n++;
    if (!r->json) {
        print_columns(r, values, 0, s->ncols);
        putchar('\n');
        return;
    }
    json_object_begin(r->j, NULL);
    for (size_t k = 0; k < s->ncols; k++) {
        size_t i = s->json_order ? s->json_order[k] : k;
        if (s->cols[i].key)
            json_value(r->j, &s->cols[i], &values[i]);
    }
    json_object_end(r->j);
}

void cli_rows_end(cli_rows *r)
{
    if (!r->json)
        return;
    json_array_end(r->j);
    if (r->j == &r->own)
        json_done(r->j);
}
