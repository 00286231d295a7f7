/*
 * vmic's one JSON parser, private to the library: a small pull parser for
 * what vmic reads (ISF profiles, QEMU's QMP replies), and the string quoting
 * for what it writes (QMP commands).
 *
 * The caller walks the document in order (objects member by member, arrays
 * element by element) and skips what it does not need. Nothing is built: a
 * 50 MB profile costs no tree. Bounded: nesting depth, key lengths, and a
 * string never decodes longer than its text. Input is hostile (a QEMU, a
 * profile from anywhere): after the first error every call returns false and
 * jp->error says what and at which byte offset.
 *
 * (tools/vmic/json.c is the command's JSON *writer* for --json output: a
 * different job, kept with the command.)
 */
#ifndef VMIC_BASE_JSON_H
#define VMIC_BASE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JP_MAX_DEPTH 64
#define JP_KEY_MAX 256

typedef enum jp_type {
    JP_ERROR = 0,
    JP_OBJECT,
    JP_ARRAY,
    JP_STRING,
    JP_NUMBER,
    JP_TRUE,
    JP_FALSE,
    JP_NULL,
} jp_type;

typedef struct jp {
    const char *start, *p, *end;
    int depth;
    bool first[JP_MAX_DEPTH];   /* no member/element read yet at this depth */
    bool failed;
    char error[160];
    char key[JP_KEY_MAX + 1];   /* the last key read by jp_next_key */
    size_t keylen;
} jp;

void jp_init(jp *j, const char *text, size_t len);
/* Type of the next value, without consuming it. */
jp_type jp_peek(jp *j);
bool jp_begin_object(jp *j);
/* Reads the next key of the current object into j->key; false at its end
 * (consumed) or on error. */
bool jp_next_key(jp *j);
bool jp_begin_array(jp *j);
/* True if another element follows; false at the array's end (consumed). */
bool jp_next_element(jp *j);
/* A string into buf (NUL-terminated, at most cap-1 bytes; longer fails).
 * \u escapes become UTF-8; \u0000 and lone surrogates become '?' (vmic's
 * strings are C strings). */
bool jp_string(jp *j, char *buf, size_t cap, size_t *len);
/* The same into a malloc'd buffer the size of the string's text (the caller
 * frees *out); for strings of any length (HMP output). */
bool jp_string_alloc(jp *j, char **out, size_t *len);
bool jp_u64(jp *j, uint64_t *v);
bool jp_i64(jp *j, int64_t *v);
bool jp_bool(jp *j, bool *v);
bool jp_skip(jp *j);
/* Skips the next value and gives its text, [*text, *text + *len), to be
 * parsed later by another jp. */
bool jp_raw(jp *j, const char **text, size_t *len);
/* The document must end here (only whitespace left). */
bool jp_finish(jp *j);
bool jp_fail(jp *j, const char *what);

/* ---- writing --------------------------------------------------------------- */

/* Bytes json_quote writes for s, the terminating NUL included. */
size_t json_quoted_size(const char *s);
/* Writes s as a JSON string literal, quotes included, NUL-terminated, into
 * out (json_quoted_size(s) bytes of room); returns the position of the NUL.
 * '"', '\\' and control characters are escaped; other bytes pass as they are
 * (UTF-8 stays UTF-8). */
char *json_quote(char *out, const char *s);

#endif
