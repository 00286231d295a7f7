/*
 * Writing an ISF (vmic_os_write_isf): what its files share. isf_write.c
 * lays the document out, isf_write_types.c turns BTF types into ISF ones,
 * isf_write_globals.c holds the table of global symbols and their types,
 * isf_write_out.c the buffered JSON output, isf_write_set.c a set of names.
 */
#ifndef VMIC_LX_ISF_WRITE_H
#define VMIC_LX_ISF_WRITE_H

#include "os_internal.h"

/* ---- output (isf_write_out.c) --------------------------------------------- */

typedef struct isfw_out {
    vmic_isf_write_fn fn;
    void *arg;
    char buf[1 << 16];
    size_t len;
    bool failed;        /* fn said stop: nothing more is written */
} isfw_out;

void isfw_raw(isfw_out *o, const char *s);
void isfw_rawn(isfw_out *o, const char *s, size_t n);
void isfw_printf(isfw_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string: quotes, escapes; bytes outside printable ASCII as \u00XX
 * (guest names are bytes, not UTF-8). */
void isfw_str(isfw_out *o, const char *s);
/* "key": */
void isfw_key(isfw_out *o, const char *key);
void isfw_u64(isfw_out *o, uint64_t v);
void isfw_i64(isfw_out *o, int64_t v);
/* Bytes as a base64 JSON string. */
void isfw_base64(isfw_out *o, const uint8_t *data, size_t len);
/* Hands what is buffered to fn: VMIC_OK, or VMIC_E_IO if fn stopped. */
vmic_status isfw_flush(isfw_out *o);

/* ---- a set of names (isf_write_set.c) --------------------------------------- */

typedef struct isfw_set {
    const char **name;  /* borrowed: the strings outlive the set */
    uint32_t *value;
    size_t mask, n;
} isfw_set;

void isfw_set_free(isfw_set *s);
/* Adds name with value: 1 if new, 0 if there already, -1 out of memory. */
int isfw_set_add(isfw_set *s, const char *name, uint32_t value);
bool isfw_set_get(const isfw_set *s, const char *name, uint32_t *value);

/* ---- types (isf_write_types.c) ------------------------------------------------ */

/* A type to write: its BTF id and the name the document gives it (the set's
 * key: a BTF string, or one the writer owns). */
typedef struct isfw_queued {
    uint32_t id;
    const char *name;
} isfw_queued;

typedef struct isfw_types {
    lx_types *src;
    isfw_set structs, enums; /* ISF name -> BTF id, each written once */
    isfw_queued *queue;      /* structs and unions to write, in the order met */
    size_t nqueue, qcap, next_struct;
    isfw_queued *enum_queue;
    size_t nenum, ecap;
    char **owned;            /* the unnamed_<id> names made up */
    size_t nowned, ocap;
    size_t dropped;          /* types not written: VMIC_ISF_MAX_TYPES reached */
    bool nomem;
    bool char_signed;        /* as BTF has it: Linux builds with -funsigned-char from 6.2 */
    isfw_set extra_base;     /* base types met beyond the standard ones */
    const char *extra_name[32];
    uint64_t extra_size[32];
    bool extra_signed[32], extra_float[32];
    size_t nextra;
} isfw_types;

void isfw_types_init(isfw_types *t, lx_types *src);
void isfw_types_free(isfw_types *t);
/* Queues a struct or union by name (a root); false if BTF has none. */
bool isfw_types_root(isfw_types *t, const char *name);
bool isfw_types_enum_root(isfw_types *t, const char *name);
/* Writes the ISF type descriptor of BTF type id, queueing what it names. */
void isfw_desc(isfw_types *t, isfw_out *o, uint32_t id);
/* Writes "user_types", "enums" and "base_types" (with their keys), every
 * queued type and what it reaches. */
void isfw_types_write(isfw_types *t, isfw_out *o, vmic_isf_stats_t *stats);

/* ---- global symbols (isf_write_globals.c) ------------------------------------- */

/* Queues the roots: the types the plugins use and the globals' types. */
void isfw_globals_roots(isfw_types *t);
/* The global table's entries by symbol name (value: index), for the symbol
 * pass. */
int isfw_globals_index(isfw_set *s);
/* Writes ,"type": ... (and "constant_data") of global symbol index g, at
 * run-time address addr; false if its type is not in this kernel. */
bool isfw_globals_type(vmic_os *os, isfw_types *t, isfw_out *o, uint32_t g, uint64_t addr);

#endif
