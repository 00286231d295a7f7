/*
 * One column schema for a command's rows: each column says its table
 * heading, width and alignment, its type and its JSON key, so a command
 * fills a row's values once and the same row comes out as a table line or
 * as a JSON object.
 */
#ifndef VMIC_TOOL_CLI_TABLE_H
#define VMIC_TOOL_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

typedef enum cli_col_type {
    CLI_COL_INT,      /* i: a signed number */
    CLI_COL_UINT,     /* u: an unsigned number */
    CLI_COL_HEX,      /* u: hex in the table, a "0x..." string in JSON */
    CLI_COL_OCT,      /* u: octal in the table, a number in JSON */
    CLI_COL_SECONDS,  /* u: nanoseconds; seconds (3 decimals) in the table */
    CLI_COL_KTIME,    /* u: nanoseconds; [seconds.micros] as dmesg prints them */
    CLI_COL_STR,      /* s, len */
    CLI_COL_BOOL,     /* b: JSON true/false; in the table mark if true, else unmark */
    CLI_COL_SIZE,     /* u: bytes; "4 KiB", "1.5 GiB" in the table (cli_size) */
} cli_col_type;

enum {
    CLI_COL_JSON_ONLY = 1 << 0,    /* not in the table */
    CLI_COL_0X = 1 << 1,           /* hex with 0x in the table */
    CLI_COL_TABLE_IF_SET = 1 << 2, /* in the table only when set (true, non-empty) */
    CLI_COL_JSON_IF_SET = 1 << 3,  /* in JSON only when set */
    CLI_COL_LINES = 1 << 4,        /* text of several lines: the others under the first */
    CLI_COL_ESCAPE = 1 << 5,       /* control bytes as \xNN: guest text to a terminal */
    CLI_COL_BRACKETS = 1 << 6,     /* [text] in the table */
};

typedef struct cli_col {
    const char *head;   /* table heading (NULL: none) */
    const char *key;    /* JSON key (NULL: the table's only) */
    cli_col_type type;
    int width;          /* table width, negative for left-aligned; 0: as wide as it is */
    int digits;         /* hex and octal: zero-padded to this many digits */
    const char *sep;    /* before it in the table; NULL: one space ("" for the first) */
    unsigned flags;     /* CLI_COL_* */
    int at;             /* table: a non-empty value starts at this column at the earliest */
    const char *mark;   /* CLI_COL_BOOL in the table, when true */
    const char *unmark; /* and when false */
} cli_col;

typedef struct cli_schema {
    const cli_col *cols;
    size_t ncols;
    const unsigned char *json_order; /* column indexes in JSON key order; NULL: as cols */
    bool no_heading;
} cli_schema;

typedef struct cli_val {
    int64_t i;
    uint64_t u;
    const char *s;
    size_t len;         /* of s; CLI_STRLEN: up to its NUL */
    bool b;
    bool blank;         /* "-" in the table: nothing to show */
} cli_val;

#define CLI_STRLEN SIZE_MAX
#define CLI_I(x) ((cli_val){.i = (x)})
#define CLI_U(x) ((cli_val){.u = (x)})
#define CLI_S(x) ((cli_val){.s = (x), .len = CLI_STRLEN})
#define CLI_SN(x, n) ((cli_val){.s = (x), .len = (n)})
#define CLI_B(x) ((cli_val){.b = (x)})

/* Rows being written, as a table or as one JSON array. */
typedef struct cli_rows {
    const cli_schema *schema;
    bool json;
    json own;             /* the writer of a top-level array */
    json *j;              /* the writer the rows go to */
    size_t n;             /* rows written */
    bool repeat_prefix;   /* CLI_COL_LINES: each line repeats the columns before */
} cli_rows;

/* The heading, or the array's start. */
void cli_rows_begin(cli_rows *r, const cli_schema *schema, bool as_json);
/* The same with JSON, as the member key of the object j is writing. */
void cli_rows_begin_in(cli_rows *r, const cli_schema *schema, json *j, const char *key);
/* One row: a value for each column of the schema, in its order. */
void cli_rows_add(cli_rows *r, const cli_val *values);
/* The array's end (and the document's, for a top-level array). */
void cli_rows_end(cli_rows *r);

#endif
