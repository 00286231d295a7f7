/*
 * Reading ISF profiles into tables: one type record per named or derived
 * type, members and enum constants in flat arrays, names in one string pool.
 * A struct may be referred to before it is defined (fields name their types),
 * so named types are interned on first mention and filled in when their
 * definition comes.
 */
#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "isf.h"
#include "base/json.h"
#include "base/search.h"
#include "base/hash.h"
#include "base/grow.h"

#define ISF_MAX_FILE ((size_t)1 << 30)    /* decompressed profile bound */
#define ISF_NAME_MAX 512
#define ISF_MAX_MEMBERS 65536

typedef struct isf_type {
    uint8_t kind;       /* lx_kind */
    bool is_signed;
    bool defined;       /* named types: a definition was read */
    uint32_t name;      /* pool offset; 0 = "" */
    uint32_t ref;
    uint32_t first, nmembers;
    uint64_t size, count;
} isf_type;

typedef struct isf_member {
    uint32_t name, type;
    uint64_t bit_offset;
    uint32_t bit_size;
} isf_member;

typedef struct isf_sym {
    uint32_t name;
    uint64_t addr;
} isf_sym;

typedef struct isf_const {
    uint32_t name;
    int64_t value;
} isf_const;

/* A growable array. */
#define VEC(T) struct { T *v; size_t n, cap; }
#define VEC_PUSH(vec, item, ok)                                                 \
    do {                                                                        \
        if (!((ok) = VMIC_GROW((vec).v, (vec).n, (vec).cap, 256)))              \
            break;                                                              \
        (vec).v[(vec).n++] = (item);                                            \
    } while (0)

/* Open addressing over (name, class) -> index + 1. */
typedef struct isf_map {
    uint32_t *slot;
    size_t mask, used;
} isf_map;

struct lx_isf {
    char name[128];
    VEC(char) pool;
    VEC(isf_type) types;      /* id 0 is void */
    VEC(isf_member) members;
    VEC(isf_sym) syms;        /* sorted by address after loading */
    VEC(isf_const) consts;
    isf_map named;            /* named types: key class in the hash */
    isf_map symmap;
    isf_map constmap;
    uint32_t void_id;
};

static const char *str(const lx_isf *isf, uint32_t off)
{
    return off < isf->pool.n ? isf->pool.v + off : "";
}

static bool intern_str(lx_isf *isf, const char *s, size_t len, uint32_t *off)
{
    bool ok = true;
    if (len == 0) {
        *off = 0;
        return true;
    }
    if (isf->pool.n + len + 1 > UINT32_MAX)
        return false;
    *off = (uint32_t)isf->pool.n;
    for (size_t i = 0; i <= len && ok; i++)
        VEC_PUSH(isf->pool, i < len ? s[i] : '\0', ok);
    return ok;
}

/* Finds key in a map; stored values are indices into an array whose name
 * the caller's getter returns. */
typedef const char *(*name_of_fn)(const lx_isf *isf, uint32_t index, unsigned *cls);

static bool map_grow(lx_isf *isf, isf_map *m, name_of_fn name_of);

static uint32_t *map_find(const lx_isf *isf, const isf_map *m, const char *key, unsigned cls,
                          name_of_fn name_of)
{
    if (!m->slot)
        return NULL;
    size_t h = vmic__fnv1a(key, cls) & m->mask;
    while (m->slot[h]) {
        unsigned c;
        const char *n = name_of(isf, m->slot[h] - 1, &c);
        if (c == cls && strcmp(n, key) == 0)
            return &m->slot[h];
        h = (h + 1) & m->mask;
    }
    return NULL;
}

static bool map_put(lx_isf *isf, isf_map *m, uint32_t index, name_of_fn name_of)
{
    if ((m->used + 1) * 2 > m->mask + 1 && !map_grow(isf, m, name_of))
        return false;
    unsigned cls;
    const char *key = name_of(isf, index, &cls);
    size_t h = vmic__fnv1a(key, cls) & m->mask;
    while (m->slot[h])
        h = (h + 1) & m->mask;
    m->slot[h] = index + 1;
    m->used++;
    return true;
}

static bool map_grow(lx_isf *isf, isf_map *m, name_of_fn name_of)
{
    size_t n = m->slot ? (m->mask + 1) * 2 : 1024;
    uint32_t *old = m->slot;
    size_t oldn = m->slot ? m->mask + 1 : 0;
    m->slot = calloc(n, sizeof *m->slot);
    if (!m->slot) {
        m->slot = old;
        return false;
    }
    m->mask = n - 1;
    m->used = 0;
    for (size_t i = 0; i < oldn; i++)
        if (old[i] && !map_put(isf, m, old[i] - 1, name_of)) {
            free(old);
            return false;
        }
    free(old);
    return true;
}

/* Name classes: structs and unions share one, as in the queries. */
static unsigned class_of_kind(uint8_t kind)
{
    return kind == LX_UNION ? LX_STRUCT : kind == LX_FLOAT || kind == LX_VOID ? LX_INT : kind;
}

static const char *type_name_of(const lx_isf *isf, uint32_t i, unsigned *cls)
{
    *cls = class_of_kind(isf->types.v[i].kind == LX_FWD ? LX_STRUCT : isf->types.v[i].kind);
    return str(isf, isf->types.v[i].name);
}

static const char *sym_name_of(const lx_isf *isf, uint32_t i, unsigned *cls)
{
    *cls = 0;
    return str(isf, isf->syms.v[i].name);
}

static const char *const_name_of(const lx_isf *isf, uint32_t i, unsigned *cls)
{
    *cls = 0;
    return str(isf, isf->consts.v[i].name);
}

static bool new_type(lx_isf *isf, isf_type t, uint32_t *id)
{
    bool ok;
    if (isf->types.n >= UINT32_MAX - 1)
        return false;
    *id = (uint32_t)isf->types.n;
    VEC_PUSH(isf->types, t, ok);
    return ok;
}

/* The id of a named type of this class, created (undefined) if new. A
 * forward-declared struct is kind LX_FWD until its definition arrives. */
static bool named_type(lx_isf *isf, const char *name, uint8_t kind, uint32_t *id)
{
    unsigned cls = class_of_kind(kind == LX_FWD ? LX_STRUCT : kind);
    uint32_t *slot = map_find(isf, &isf->named, name, cls, type_name_of);
    if (slot) {
        *id = *slot - 1;
        return true;
    }
    isf_type t = {.kind = kind == LX_STRUCT || kind == LX_UNION ? LX_FWD : kind};
    if (!intern_str(isf, name, strlen(name), &t.name) || !new_type(isf, t, id))
        return false;
    return map_put(isf, &isf->named, *id, type_name_of);
}

/* ---- reading the document ---------------------------------------------------- */

typedef struct reader {
    lx_isf *isf;
    jp j;
    char msg[200];
} reader;

static bool rfail(reader *r, const char *what)
{
    if (!r->msg[0]) {
        if (r->j.failed)
            snprintf(r->msg, sizeof r->msg, "%s", r->j.error);
        else
            snprintf(r->msg, sizeof r->msg, "%s at byte %zu", what,
                     (size_t)(r->j.p - r->j.start));
    }
    return false;
}

static bool read_string(reader *r, char *buf, size_t cap)
{
    return jp_string(&r->j, buf, cap, NULL) || rfail(r, "bad string");
}

static uint8_t base_kind(const char *kind)
{
    if (strcmp(kind, "float") == 0)
        return LX_FLOAT;
    if (strcmp(kind, "void") == 0)
        return LX_VOID;
    return LX_INT; /* int, char, bool */
}

/* A type descriptor ({"kind": ..., ...}) into a type id; bit_size and
 * bit_pos are set for bitfields. */
static bool read_desc(reader *r, uint32_t *id, uint32_t *bit_size, uint64_t *bit_pos, int depth)
{
    char kind[32] = "", name[ISF_NAME_MAX] = "";
    uint64_t count = 0, pos = 0, len = 0;
    uint32_t sub = UINT32_MAX, inner = UINT32_MAX;
    lx_isf *isf = r->isf;

    if (depth > 32)
        return rfail(r, "type nested too deep");
    if (!jp_begin_object(&r->j))
        return rfail(r, "expected a type");
    while (jp_next_key(&r->j)) {
        const char *k = r->j.key;
        bool ok = true;
        if (strcmp(k, "kind") == 0)
            ok = read_string(r, kind, sizeof kind);
        else if (strcmp(k, "name") == 0)
            ok = read_string(r, name, sizeof name);
        else if (strcmp(k, "count") == 0)
            ok = jp_u64(&r->j, &count);
        else if (strcmp(k, "bit_position") == 0)
            ok = jp_u64(&r->j, &pos);
        else if (strcmp(k, "bit_length") == 0)
            ok = jp_u64(&r->j, &len);
        else if (strcmp(k, "subtype") == 0)
            ok = read_desc(r, &sub, NULL, NULL, depth + 1);
        else if (strcmp(k, "type") == 0)
            ok = read_desc(r, &inner, NULL, NULL, depth + 1);
        else
            ok = jp_skip(&r->j);
        if (!ok)
            return rfail(r, "bad type");
    }
    if (r->j.failed)
        return rfail(r, "bad type");

    isf_type t = {0};
    if (strcmp(kind, "base") == 0) {
        if (!*name)
            return rfail(r, "base type without a name");
        if (strcmp(name, "void") == 0) {
            *id = isf->void_id;
            return true;
        }
        return named_type(isf, name, LX_INT, id) || rfail(r, "no memory");
    }
    if (strcmp(kind, "struct") == 0 || strcmp(kind, "union") == 0 || strcmp(kind, "class") == 0) {
        if (!*name)
            return rfail(r, "struct reference without a name");
        return named_type(isf, name, LX_STRUCT, id) || rfail(r, "no memory");
    }
    if (strcmp(kind, "enum") == 0) {
        if (!*name)
            return rfail(r, "enum reference without a name");
        return named_type(isf, name, LX_ENUM, id) || rfail(r, "no memory");
    }
    if (strcmp(kind, "pointer") == 0) {
        t.kind = LX_PTR;
        t.size = 8;
        t.ref = sub == UINT32_MAX ? isf->void_id : sub;
    } else if (strcmp(kind, "array") == 0) {
        if (sub == UINT32_MAX)
            return rfail(r, "array without a subtype");
        t.kind = LX_ARRAY;
        t.ref = sub;
        t.count = count;
    } else if (strcmp(kind, "function") == 0) {
        t.kind = LX_FUNC;
    } else if (strcmp(kind, "bitfield") == 0) {
        if (inner == UINT32_MAX || !bit_size || len == 0 || len > 64 || pos > 4096)
            return rfail(r, "bad bitfield");
        *bit_size = (uint32_t)len;
        *bit_pos = pos;
        *id = inner;
        return true;
    } else {
        return rfail(r, "unknown type kind");
    }
    return new_type(isf, t, id) || rfail(r, "no memory");
}

/* One field: {"type": desc, "offset": N, "anonymous": bool}. */
static bool read_field(reader *r, isf_member *m)
{
    uint64_t offset = 0, bit_pos = 0;
    uint32_t bit_size = 0, type = UINT32_MAX;
    bool anonymous = false, have_offset = false;

    if (!jp_begin_object(&r->j))
        return rfail(r, "expected a field");
    while (jp_next_key(&r->j)) {
        bool ok;
        if (strcmp(r->j.key, "type") == 0)
            ok = read_desc(r, &type, &bit_size, &bit_pos, 0);
        else if (strcmp(r->j.key, "offset") == 0)
            ok = have_offset = jp_u64(&r->j, &offset);
        else if (strcmp(r->j.key, "anonymous") == 0)
            ok = jp_bool(&r->j, &anonymous);
        else
            ok = jp_skip(&r->j);
        if (!ok)
            return rfail(r, "bad field");
    }
    if (r->j.failed || type == UINT32_MAX || !have_offset || offset > UINT32_MAX)
        return rfail(r, "field without a type or offset");
    m->type = type;
    m->bit_offset = offset * 8 + bit_pos;
    m->bit_size = bit_size;
    if (anonymous)
        m->name = 0;
    return true;
}

static int member_cmp(const void *a, const void *b)
{
    const isf_member *x = a, *y = b;
    return x->bit_offset < y->bit_offset ? -1 : x->bit_offset > y->bit_offset;
}

static bool read_user_type(reader *r, const char *name)
{
    lx_isf *isf = r->isf;
    char kind[32] = "";
    uint64_t size = 0;
    size_t first = isf->members.n;
    bool ok = true;

    if (!jp_begin_object(&r->j))
        return rfail(r, "expected a user type");
    while (jp_next_key(&r->j)) {
        if (strcmp(r->j.key, "kind") == 0) {
            ok = read_string(r, kind, sizeof kind);
        } else if (strcmp(r->j.key, "size") == 0) {
            ok = jp_u64(&r->j, &size);
        } else if (strcmp(r->j.key, "fields") == 0) {
            if (!jp_begin_object(&r->j))
                return rfail(r, "expected fields");
            while (ok && jp_next_key(&r->j)) {
                isf_member m = {0};
                if (isf->members.n - first >= ISF_MAX_MEMBERS)
                    return rfail(r, "too many fields");
                if (!intern_str(isf, r->j.key, r->j.keylen, &m.name))
                    return rfail(r, "no memory");
                if (!read_field(r, &m))
                    return false;
                VEC_PUSH(isf->members, m, ok);
            }
        } else {
            ok = jp_skip(&r->j);
        }
        if (!ok || r->j.failed)
            return rfail(r, "bad user type");
    }
    if (r->j.failed)
        return rfail(r, "bad user type");
    uint32_t id;
    if (!named_type(isf, name, LX_STRUCT, &id))
        return rfail(r, "no memory");
    isf_type *t = &isf->types.v[id];
    if (t->defined) /* a second definition of a name: keep the first */
        return true;
    t->kind = strcmp(kind, "union") == 0 ? LX_UNION : LX_STRUCT;
    t->size = size;
    t->first = (uint32_t)first;
    t->nmembers = (uint32_t)(isf->members.n - first);
    t->defined = true;
    /* JSON objects have no order; members are listed by offset. */
    if (t->nmembers > 1)
        qsort(isf->members.v + first, t->nmembers, sizeof *isf->members.v, member_cmp);
    return true;
}

static bool read_base_type(reader *r, const char *name)
{
    char kind[32] = "int";
    uint64_t size = 0;
    bool is_signed = false, ok = true;

    if (!jp_begin_object(&r->j))
        return rfail(r, "expected a base type");
    while (ok && jp_next_key(&r->j)) {
        if (strcmp(r->j.key, "kind") == 0)
            ok = read_string(r, kind, sizeof kind);
        else if (strcmp(r->j.key, "size") == 0)
            ok = jp_u64(&r->j, &size);
        else if (strcmp(r->j.key, "signed") == 0)
            ok = jp_bool(&r->j, &is_signed);
        else
            ok = jp_skip(&r->j);
    }
    if (!ok || r->j.failed)
        return rfail(r, "bad base type");
    if (strcmp(name, "void") == 0)
        return true;
    uint32_t id;
    if (!named_type(r->isf, name, LX_INT, &id))
        return rfail(r, "no memory");
    isf_type *t = &r->isf->types.v[id];
    t->kind = base_kind(kind);
    t->size = size;
    t->is_signed = is_signed;
    t->defined = true;
    return true;
}

static bool read_enum(reader *r, const char *name)
{
    lx_isf *isf = r->isf;
    uint64_t size = 0;
    bool ok = true;

    if (!jp_begin_object(&r->j))
        return rfail(r, "expected an enum");
    while (ok && jp_next_key(&r->j)) {
        if (strcmp(r->j.key, "size") == 0) {
            ok = jp_u64(&r->j, &size);
        } else if (strcmp(r->j.key, "constants") == 0) {
            if (!jp_begin_object(&r->j))
                return rfail(r, "expected constants");
            while (ok && jp_next_key(&r->j)) {
                isf_const c;
                if (!intern_str(isf, r->j.key, r->j.keylen, &c.name) || !jp_i64(&r->j, &c.value))
                    return rfail(r, "bad enum constant");
                VEC_PUSH(isf->consts, c, ok);
                if (ok && !map_find(isf, &isf->constmap, str(isf, c.name), 0, const_name_of))
                    ok = map_put(isf, &isf->constmap, (uint32_t)(isf->consts.n - 1),
                                 const_name_of);
            }
        } else {
            ok = jp_skip(&r->j);
        }
    }
    if (!ok || r->j.failed)
        return rfail(r, "bad enum");
    uint32_t id;
    if (!named_type(isf, name, LX_ENUM, &id))
        return rfail(r, "no memory");
    isf->types.v[id].size = size;
    isf->types.v[id].defined = true;
    return true;
}

static bool read_symbol(reader *r, const char *name, size_t len)
{
    lx_isf *isf = r->isf;
    uint64_t addr = 0;
    bool have = false, ok = true;

    if (!jp_begin_object(&r->j))
        return rfail(r, "expected a symbol");
    while (ok && jp_next_key(&r->j)) {
        if (strcmp(r->j.key, "address") == 0)
            ok = have = jp_u64(&r->j, &addr);
        else
            ok = jp_skip(&r->j);
    }
    if (!ok || r->j.failed)
        return rfail(r, "bad symbol");
    if (!have)
        return true;
    isf_sym s = {.addr = addr};
    if (!intern_str(isf, name, len, &s.name))
        return rfail(r, "no memory");
    VEC_PUSH(isf->syms, s, ok);
    return ok || rfail(r, "no memory");
}

/* A section: an object of name -> definition. */
static bool read_section(reader *r, bool (*each)(reader *, const char *))
{
    char name[ISF_NAME_MAX];
    if (!jp_begin_object(&r->j))
        return rfail(r, "expected an object");
    while (jp_next_key(&r->j)) {
        if (r->j.keylen >= sizeof name)
            return rfail(r, "name too long");
        memcpy(name, r->j.key, r->j.keylen + 1);
        if (!each(r, name))
            return false;
    }
    return !r->j.failed || rfail(r, "bad section");
}

static bool each_symbol(reader *r, const char *name)
{
    return read_symbol(r, name, strlen(name));
}

static int sym_cmp(const void *a, const void *b)
{
    const isf_sym *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static bool read_document(reader *r)
{
    bool ok = true;
    if (!jp_begin_object(&r->j))
        return rfail(r, "an ISF profile is a JSON object");
    while (ok && jp_next_key(&r->j)) {
        if (strcmp(r->j.key, "base_types") == 0)
            ok = read_section(r, read_base_type);
        else if (strcmp(r->j.key, "user_types") == 0)
            ok = read_section(r, read_user_type);
        else if (strcmp(r->j.key, "enums") == 0)
            ok = read_section(r, read_enum);
        else if (strcmp(r->j.key, "symbols") == 0)
            ok = read_section(r, each_symbol);
        else
            ok = jp_skip(&r->j) || rfail(r, "bad value");
    }
    if (!ok)
        return false;
    if (r->j.failed || !jp_finish(&r->j))
        return rfail(r, "bad document");
    return true;
}

vmic_status lx_isf_parse(const char *text, size_t len, const char *name, lx_isf **out)
{
    *out = NULL;
    lx_isf *isf = calloc(1, sizeof *isf);
    reader r = {.isf = isf};
    bool ok = true;
    if (!isf)
        return vmic_fail(VMIC_E_NOMEM, "isf: no memory");
    snprintf(isf->name, sizeof isf->name, "%s", name);
    VEC_PUSH(isf->pool, '\0', ok);           /* offset 0 = "" */
    isf_type v = {.kind = LX_VOID, .defined = true};
    if (!ok || !new_type(isf, v, &isf->void_id)) {
        lx_isf_free(isf);
        return vmic_fail(VMIC_E_NOMEM, "isf: no memory");
    }
    jp_init(&r.j, text, len);
    if (!read_document(&r)) {
        vmic_status s = vmic_fail(VMIC_E_FORMAT, "%s: %s", name, r.msg);
        lx_isf_free(isf);
        return s;
    }
    if (isf->types.n < 2 && isf->syms.n == 0) {
        lx_isf_free(isf);
        return vmic_fail(VMIC_E_FORMAT, "%s: no types and no symbols: not an ISF profile", name);
    }
    if (isf->syms.n > 1)
        qsort(isf->syms.v, isf->syms.n, sizeof *isf->syms.v, sym_cmp);
    for (size_t i = 0; i < isf->syms.n; i++)
        if (!map_find(isf, &isf->symmap, str(isf, isf->syms.v[i].name), 0, sym_name_of) &&
            !map_put(isf, &isf->symmap, (uint32_t)i, sym_name_of)) {
            lx_isf_free(isf);
            return vmic_fail(VMIC_E_NOMEM, "isf: no memory for the symbol index");
        }
    *out = isf;
    return VMIC_OK;
}

/* ---- files ---------------------------------------------------------------------- */

static vmic_status read_file(const char *path, char **buf, size_t *len)
{
    /* O_NONBLOCK: a FIFO given as the profile must not block the open; only
     * regular files pass the fstat check below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0)
        return vmic_fail(VMIC_E_IO, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > ISF_MAX_FILE) {
        close(fd);
        return vmic_fail(VMIC_E_IO, "%s: not a regular file of at most 1 GiB", path);
    }
    *len = (size_t)st.st_size;
    *buf = malloc(*len + 1);
    if (!*buf) {
        close(fd);
        return vmic_fail(VMIC_E_NOMEM, "%s: no memory for %zu bytes", path, *len);
    }
    size_t got = 0;
    while (got < *len) {
        ssize_t n = read(fd, *buf + got, *len - got);
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            close(fd);
            free(*buf);
            return vmic_fail(VMIC_E_IO, "%s: read failed at offset %zu: %s", path, got,
                             strerror(err));
        }
        got += (size_t)n;
    }
    close(fd);
    return VMIC_OK;
}

static vmic_status unxz(const char *path, const char *in, size_t inlen, char **out, size_t *outlen)
{
    lzma_stream s = LZMA_STREAM_INIT;
    if (lzma_stream_decoder(&s, UINT64_MAX, 0) != LZMA_OK)
        return vmic_fail(VMIC_E_NOMEM, "%s: cannot start the xz decoder", path);
    size_t cap = inlen * 8 + 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        lzma_end(&s);
        return vmic_fail(VMIC_E_NOMEM, "%s: no memory", path);
    }
    s.next_in = (const uint8_t *)in;
    s.avail_in = inlen;
    for (;;) {
        if (n == cap) {
            if (cap >= ISF_MAX_FILE) {
                free(buf);
                lzma_end(&s);
                return vmic_fail(VMIC_E_RANGE, "%s: decompresses to more than 1 GiB", path);
            }
            size_t ncap = cap * 2 < ISF_MAX_FILE ? cap * 2 : ISF_MAX_FILE;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                lzma_end(&s);
                return vmic_fail(VMIC_E_NOMEM, "%s: no memory", path);
            }
            buf = nb;
            cap = ncap;
        }
        s.next_out = (uint8_t *)buf + n;
        s.avail_out = cap - n;
        lzma_ret rc = lzma_code(&s, LZMA_FINISH);
        n = cap - s.avail_out;
        if (rc == LZMA_STREAM_END)
            break;
        if (rc != LZMA_OK) {
            free(buf);
            lzma_end(&s);
            return vmic_fail(VMIC_E_FORMAT, "%s: xz data is corrupt (lzma error %d after %zu "
                             "input bytes)", path, (int)rc, inlen - s.avail_in);
        }
    }
    lzma_end(&s);
    *out = buf;
    *outlen = n;
    return VMIC_OK;
}

vmic_status lx_isf_load(const char *path, lx_isf **out)
{
    char *buf = NULL;
    size_t len = 0;
    vmic_status s = read_file(path, &buf, &len);
    if (s)
        return s;
    static const char xz_magic[6] = {(char)0xfd, '7', 'z', 'X', 'Z', 0};
    if (len >= 6 && memcmp(buf, xz_magic, 6) == 0) {
        char *plain = NULL;
        size_t plen = 0;
        s = unxz(path, buf, len, &plain, &plen);
        free(buf);
        if (s)
            return s;
        buf = plain;
        len = plen;
    }
    s = lx_isf_parse(buf, len, path, out);
    free(buf);
    return s;
}

void lx_isf_free(lx_isf *isf)
{
    if (!isf)
        return;
    free(isf->pool.v);
    free(isf->types.v);
    free(isf->members.v);
    free(isf->syms.v);
    free(isf->consts.v);
    free(isf->named.slot);
    free(isf->symmap.slot);
    free(isf->constmap.slot);
    free(isf);
}

/* ---- symbols ---------------------------------------------------------------------- */

size_t lx_isf_symbol_count(const lx_isf *isf)
{
    return isf->syms.n;
}

bool lx_isf_symbol(const lx_isf *isf, const char *name, uint64_t *addr)
{
    uint32_t *slot = map_find(isf, &isf->symmap, name, 0, sym_name_of);
    if (!slot)
        return false;
    *addr = isf->syms.v[*slot - 1].addr;
    return true;
}

bool lx_isf_symbol_get(const lx_isf *isf, size_t i, vmic_symbol_t *sym)
{
    if (i >= isf->syms.n)
        return false;
    sym->name = str(isf, isf->syms.v[i].name);
    sym->addr = vmic_va(isf->syms.v[i].addr);
    sym->type = '?';
    return true;
}

size_t lx_isf_find_le(const lx_isf *isf, uint64_t addr)
{
    size_t lo = VMIC__UPPER_BOUND(isf->syms.v, isf->syms.n, addr, addr);
    return lo == 0 ? SIZE_MAX : lo - 1;
}

/* ---- the types interface ------------------------------------------------------------- */

static bool isf_find(void *impl, const char *name, lx_kind kind, uint32_t *id)
{
    lx_isf *isf = impl;
    unsigned cls = kind == LX_TYPEDEF ? LX_TYPEDEF : class_of_kind((uint8_t)kind);
    if (kind == LX_TYPEDEF) /* ISF has no typedefs: dwarf2json resolves them */
        return false;
    uint32_t *slot = map_find(isf, &isf->named, name, cls, type_name_of);
    if (!slot || !isf->types.v[*slot - 1].defined)
        return false;
    *id = *slot - 1;
    return true;
}

static bool isf_info(void *impl, uint32_t id, lx_tinfo *out)
{
    lx_isf *isf = impl;
    if (id >= isf->types.n)
        return false;
    const isf_type *t = &isf->types.v[id];
    out->kind = (lx_kind)t->kind;
    out->name = str(isf, t->name);
    out->size = t->size;
    out->ref = t->ref;
    out->count = t->count;
    out->nmembers = t->kind == LX_STRUCT || t->kind == LX_UNION ? t->nmembers : 0;
    out->is_signed = t->is_signed;
    return true;
}

static bool isf_get_member(void *impl, uint32_t id, uint32_t index, lx_tmember *out)
{
    lx_isf *isf = impl;
    if (id >= isf->types.n)
        return false;
    const isf_type *t = &isf->types.v[id];
    if ((t->kind != LX_STRUCT && t->kind != LX_UNION) || index >= t->nmembers ||
        (size_t)t->first + index >= isf->members.n)
        return false;
    const isf_member *m = &isf->members.v[t->first + index];
    out->name = str(isf, m->name);
    out->type = m->type;
    out->bit_offset = m->bit_offset;
    out->bit_size = m->bit_size;
    return true;
}

static bool isf_enumerator(void *impl, const char *name, int64_t *value)
{
    lx_isf *isf = impl;
    uint32_t *slot = map_find(isf, &isf->constmap, name, 0, const_name_of);
    if (!slot)
        return false;
    *value = isf->consts.v[*slot - 1].value;
    return true;
}

static void isf_view_close(void *impl)
{
    (void)impl; /* the profile is freed by its owner */
}

static const lx_types_ops isf_ops = {
    .name = "isf",
    .find = isf_find,
    .info = isf_info,
    .member = isf_get_member,
    .enumerator = isf_enumerator,
    .close = isf_view_close,
};

vmic_status lx_isf_types(lx_isf *isf, lx_types **out)
{
    return lx_types_new(&isf_ops, isf, out);
}
