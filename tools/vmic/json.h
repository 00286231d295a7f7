/*
 * A streaming JSON writer for --json output: one compact document per call
 * sequence, keys given for object members and NULL for array elements.
 * Addresses are written as "0x..." strings because JSON numbers lose
 * precision above 2^53.
 */
#ifndef VMIC_TOOL_JSON_H
#define VMIC_TOOL_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

typedef struct json {
    FILE *out;
    int depth;
    bool has_items[JSON_MAX_DEPTH];
} json;

void json_init(json *j, FILE *out);
void json_object_begin(json *j, const char *key);
void json_object_end(json *j);
void json_array_begin(json *j, const char *key);
void json_array_end(json *j);
void json_str(json *j, const char *key, const char *value);
void json_strn(json *j, const char *key, const char *value, size_t len);
void json_u64(json *j, const char *key, uint64_t value);
void json_i64(json *j, const char *key, int64_t value);
void json_hex(json *j, const char *key, uint64_t value);
void json_bool(json *j, const char *key, bool value);
void json_null(json *j, const char *key);
/* Ends a top-level document with a newline. */
void json_done(json *j);
/* How many top-level objects or arrays were begun, on any stream: once one
 * is, an error can no longer be a document of its own. */
unsigned json_documents_begun(void);

#endif
