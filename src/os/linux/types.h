/*
 * The one interface behind which BTF (btf.c) and ISF profiles (isf.c) answer
 * type questions. A source only has to expose its types by id: kind, name,
 * size, the referenced type and members. Everything built on that — field
 * paths through anonymous members, typedef and qualifier stripping, C
 * spellings, the cache — lives once, in types.c.
 */
#ifndef VMIC_LX_TYPES_H
#define VMIC_LX_TYPES_H

#include <vmic/os.h>

typedef enum lx_kind {
    LX_VOID = 0,
    LX_INT,
    LX_FLOAT,
    LX_PTR,
    LX_ARRAY,
    LX_STRUCT,
    LX_UNION,
    LX_ENUM,
    LX_TYPEDEF,
    LX_QUAL,     /* const, volatile, restrict, type tags: see through */
    LX_FUNC,     /* function prototype */
    LX_FWD,      /* declared, not defined */
    LX_OTHER,
} lx_kind;

typedef struct lx_tinfo {
    lx_kind kind;
    const char *name;   /* "" if anonymous */
    uint64_t size;      /* bytes: ints, floats, structs, unions, enums */
    uint32_t ref;       /* PTR, ARRAY (element), TYPEDEF, QUAL: the type referred to */
    uint64_t count;     /* ARRAY: elements */
    uint32_t nmembers;  /* STRUCT, UNION; ENUM: constants (sources with enumerator_at) */
    bool is_signed;     /* INT, ENUM */
} lx_tinfo;

typedef struct lx_tmember {
    const char *name;   /* "" for an anonymous struct or union member */
    uint32_t type;
    uint64_t bit_offset;/* from the start of the containing struct */
    uint32_t bit_size;  /* 0 unless a bitfield */
} lx_tmember;

typedef struct lx_types_ops {
    const char *name;   /* "btf", "isf" */
    /* A named struct (or union) definition; kind LX_STRUCT also finds unions,
     * LX_ENUM enums, LX_TYPEDEF typedefs, LX_INT base types. */
    bool (*find)(void *impl, const char *name, lx_kind kind, uint32_t *id);
    bool (*info)(void *impl, uint32_t id, lx_tinfo *out);
    bool (*member)(void *impl, uint32_t id, uint32_t index, lx_tmember *out);
    bool (*enumerator)(void *impl, const char *name, int64_t *value);
    /* Constant index of enum id (may be NULL: the source cannot list them). */
    bool (*enumerator_at)(void *impl, uint32_t id, uint32_t index, const char **name,
                          int64_t *value);
    void (*close)(void *impl);
} lx_types_ops;

typedef struct lx_types lx_types;

/* Takes ownership of impl (closed by ops->close). */
vmic_status lx_types_new(const lx_types_ops *ops, void *impl, lx_types **out);
void lx_types_free(lx_types *t);
const char *lx_types_source(const lx_types *t);
/* The source's own object when ops are its ops, else NULL (for a source
 * that builds on another of its kind: split BTF). */
void *lx_types_impl(const lx_types *t, const lx_types_ops *ops);

vmic_status lx_types_field(lx_types *t, const char *path, vmic_field_t *out);
vmic_status lx_types_size(lx_types *t, const char *name, uint64_t *size);
vmic_status lx_types_enum(lx_types *t, const char *name, int64_t *value);
vmic_status lx_types_members(lx_types *t, const char *name, vmic_type_kind *kind, uint64_t *size,
                             vmic_member_fn fn, void *arg);

/* The source itself, by id, for code that walks the whole type graph
 * (isf_write_types.c writes an ISF from it); ids are the source's own. */
bool lx_types_find_id(lx_types *t, const char *name, lx_kind kind, uint32_t *id);
bool lx_types_info(lx_types *t, uint32_t id, lx_tinfo *out);
bool lx_types_member(lx_types *t, uint32_t id, uint32_t index, lx_tmember *out);
bool lx_types_enumerator_at(lx_types *t, uint32_t id, uint32_t index, const char **name,
                            int64_t *value);

/* The libbpf-backed source over a BTF blob (copied). */
vmic_status lx_btf_types(const uint8_t *data, size_t len, lx_types **out);
/* The libbpf-backed source over a module's split BTF (copied), whose ids
 * and strings continue those of base (the kernel's BTF, which must outlive
 * it): the module's own types first, then the kernel's. */
vmic_status lx_btf_split_types(lx_types *base, const uint8_t *data, size_t len, lx_types **out);
/* A BTF source's blob as it was parsed (a split one's own part): what
 * /sys/kernel/btf/{vmlinux,MODULE} serves. NULL for another source. */
const uint8_t *lx_btf_raw(lx_types *t, size_t *len);
/* A split BTF source's own type of that name and kind (not the base's). */
bool lx_btf_find_own(lx_types *t, const char *name, lx_kind kind, uint32_t *id);
/* Finds a BTF blob by its header in data: offset and length. */
bool lx_btf_scan(const uint8_t *data, size_t len, size_t *off, size_t *blob_len);

#endif
