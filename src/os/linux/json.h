/*
 * A small pull parser for JSON, enough for ISF profiles: the caller walks
 * the document in order (objects member by member, arrays element by
 * element) and skips what it does not need. Nothing is built: a 50 MB
 * profile costs no tree. Bounded: nesting depth, string and key lengths.
 * After the first error every call returns false and jp->error says what and
 * at which byte offset.
 */
#ifndef VMIC_LX_JSON_H
#define VMIC_LX_JSON_H

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
/* A string into buf (NUL-terminated, at most cap-1 bytes; longer fails). */
bool jp_string(jp *j, char *buf, size_t cap, size_t *len);
bool jp_u64(jp *j, uint64_t *v);
bool jp_i64(jp *j, int64_t *v);
bool jp_bool(jp *j, bool *v);
bool jp_skip(jp *j);
/* The document must end here (only whitespace left). */
bool jp_finish(jp *j);
bool jp_fail(jp *j, const char *what);

#endif
