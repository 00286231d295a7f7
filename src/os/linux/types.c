/*
 * Type queries over any source (BTF or ISF): field paths, sizes, C
 * spellings and member listings, with a cache of resolved paths. The source
 * is guest memory or a file, so ids, depths and counts are all bounded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "types.h"

#define MAX_DEPTH 24           /* typedef/qualifier chains, nested anonymous members */
#define MAX_MEMBERS 65536      /* BTF's vlen is 16 bits */
/* Members one field lookup may visit: anonymous members may nest the same
 * struct again and again, and a hostile type graph would make the search
 * exponential without a bound on the total work. */
#define MEMBER_VISIT_BUDGET (1u << 18)
#define CACHE_SLOTS 1024       /* resolved paths kept; the OS layer needs ~80 */

typedef struct cache_entry {
    char *path;
    vmic_status status;
    vmic_field_t field;
} cache_entry;

struct lx_types {
    const lx_types_ops *ops;
    void *impl;
    cache_entry cache[CACHE_SLOTS];
    size_t cached;
};

vmic_status lx_types_new(const lx_types_ops *ops, void *impl, lx_types **out)
{
    lx_types *t = calloc(1, sizeof *t);
    if (!t) {
        ops->close(impl);
        return vmic_fail(VMIC_E_NOMEM, "types: no memory");
    }
    t->ops = ops;
    t->impl = impl;
    *out = t;
    return VMIC_OK;
}

static void cache_clear(lx_types *t)
{
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        free(t->cache[i].path);
        t->cache[i].path = NULL;
    }
    t->cached = 0;
}

void lx_types_free(lx_types *t)
{
    if (!t)
        return;
    cache_clear(t);
    t->ops->close(t->impl);
    free(t);
}

const char *lx_types_source(const lx_types *t)
{
    return t->ops->name;
}

void *lx_types_impl(const lx_types *t, const lx_types_ops *ops)
{
    return t->ops == ops ? t->impl : NULL;
}

const char *vmic_type_kind_name(vmic_type_kind k)
{
    static const char *const names[] = {"void", "int", "float", "pointer", "array",
                                        "struct", "union", "enum", "function", "other"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "other";
}

bool lx_types_find_id(lx_types *t, const char *name, lx_kind kind, uint32_t *id)
{
    return t->ops->find(t->impl, name, kind, id);
}

bool lx_types_info(lx_types *t, uint32_t id, lx_tinfo *out)
{
    memset(out, 0, sizeof *out);
    if (!t->ops->info(t->impl, id, out))
        return false;
    if (!out->name)
        out->name = "";
    return true;
}

bool lx_types_member(lx_types *t, uint32_t id, uint32_t index, lx_tmember *out)
{
    memset(out, 0, sizeof *out);
    if (!t->ops->member(t->impl, id, index, out))
        return false;
    if (!out->name)
        out->name = "";
    return true;
}

bool lx_types_enumerator_at(lx_types *t, uint32_t id, uint32_t index, const char **name,
                            int64_t *value)
{
    return t->ops->enumerator_at && t->ops->enumerator_at(t->impl, id, index, name, value);
}

static bool info(lx_types *t, uint32_t id, lx_tinfo *ti)
{
    memset(ti, 0, sizeof *ti);
    if (!t->ops->info(t->impl, id, ti))
        return false;
    if (!ti->name)
        ti->name = "";
    return true;
}

/* The type under typedefs and qualifiers. */
static bool strip(lx_types *t, uint32_t id, uint32_t *out, lx_tinfo *ti)
{
    for (int d = 0; d < MAX_DEPTH; d++) {
        if (!info(t, id, ti))
            return false;
        if (ti->kind != LX_TYPEDEF && ti->kind != LX_QUAL) {
            *out = id;
            return true;
        }
        id = ti->ref;
    }
    return false;
}

static uint64_t type_size(lx_types *t, uint32_t id, int depth)
{
    lx_tinfo ti;
    if (depth > MAX_DEPTH || !info(t, id, &ti))
        return 0;
    switch (ti.kind) {
    case LX_INT: case LX_FLOAT: case LX_STRUCT: case LX_UNION: case LX_ENUM:
        return ti.size;
    case LX_PTR:
        return 8;
    case LX_ARRAY: {
        uint64_t e = type_size(t, ti.ref, depth + 1);
        return ti.count && e > UINT64_MAX / ti.count ? 0 : e * ti.count;
    }
    case LX_TYPEDEF: case LX_QUAL:
        return type_size(t, ti.ref, depth + 1);
    default:
        return 0;
    }
}

static vmic_type_kind public_kind(lx_kind k)
{
    switch (k) {
    case LX_VOID: return VMIC_TYPE_VOID;
    case LX_INT: return VMIC_TYPE_INT;
    case LX_FLOAT: return VMIC_TYPE_FLOAT;
    case LX_PTR: return VMIC_TYPE_POINTER;
    case LX_ARRAY: return VMIC_TYPE_ARRAY;
    case LX_STRUCT: return VMIC_TYPE_STRUCT;
    case LX_UNION: return VMIC_TYPE_UNION;
    case LX_ENUM: return VMIC_TYPE_ENUM;
    case LX_FUNC: return VMIC_TYPE_FUNCTION;
    default: return VMIC_TYPE_OTHER;
    }
}

/* C spelling of a type into buf; suffix collects array bounds. */
static void spell(lx_types *t, uint32_t id, char *buf, size_t size, int depth)
{
    lx_tinfo ti;
    char inner[96];

    if (depth > MAX_DEPTH || !info(t, id, &ti)) {
        snprintf(buf, size, "?");
        return;
    }
    switch (ti.kind) {
    case LX_VOID: snprintf(buf, size, "void"); break;
    case LX_INT: case LX_FLOAT: case LX_TYPEDEF: snprintf(buf, size, "%s", ti.name); break;
    case LX_STRUCT: case LX_FWD:
        snprintf(buf, size, "struct %s", *ti.name ? ti.name : "{...}");
        break;
    case LX_UNION: snprintf(buf, size, "union %s", *ti.name ? ti.name : "{...}"); break;
    case LX_ENUM: snprintf(buf, size, "enum %s", *ti.name ? ti.name : "{...}"); break;
    case LX_QUAL: spell(t, ti.ref, buf, size, depth + 1); break;
    case LX_PTR: {
        lx_tinfo target;
        if (info(t, ti.ref, &target) && target.kind == LX_FUNC) {
            snprintf(buf, size, "function *");
            break;
        }
        spell(t, ti.ref, inner, sizeof inner, depth + 1);
        snprintf(buf, size, "%.80s *", inner);
        break;
    }
    case LX_ARRAY:
        spell(t, ti.ref, inner, sizeof inner, depth + 1);
        snprintf(buf, size, "%.70s [%llu]", inner, (unsigned long long)ti.count);
        break;
    case LX_FUNC: snprintf(buf, size, "function"); break;
    default: snprintf(buf, size, "?"); break;
    }
}

static void describe(lx_types *t, uint32_t type, uint64_t bits, uint32_t bit_size,
                     vmic_field_t *f)
{
    lx_tinfo ti;
    uint32_t base;

    memset(f, 0, sizeof *f);
    f->bit_offset = bits;
    f->bit_size = bit_size;
    f->offset = bits / 8;
    f->size = type_size(t, type, 0);
    if (strip(t, type, &base, &ti)) {
        f->kind = public_kind(ti.kind);
        f->count = ti.kind == LX_ARRAY ? ti.count : 0;
    } else {
        f->kind = VMIC_TYPE_OTHER;
    }
    spell(t, type, f->type_name, sizeof f->type_name, 0);
}

/* A member by name in the struct/union sid, looking inside anonymous
 * members as C does; bits accumulates offsets; *budget counts down the
 * members still allowed to be visited. */
static bool find_member(lx_types *t, uint32_t sid, const char *name, int depth, uint64_t *bits,
                        lx_tmember *out, uint32_t *budget)
{
    lx_tinfo ti;
    if (depth > MAX_DEPTH || !info(t, sid, &ti) || (ti.kind != LX_STRUCT && ti.kind != LX_UNION))
        return false;
    uint32_t n = ti.nmembers < MAX_MEMBERS ? ti.nmembers : MAX_MEMBERS;
    for (uint32_t i = 0; i < n; i++) {
        if (*budget == 0)
            return false;
        --*budget;
        lx_tmember m = {0};
        if (!t->ops->member(t->impl, sid, i, &m))
            return false;
        if (!m.name)
            m.name = "";
        if (*m.name && strcmp(m.name, name) == 0) {
            *bits += m.bit_offset;
            *out = m;
            return true;
        }
        if (!*m.name) {
            uint32_t inner;
            lx_tinfo mi;
            uint64_t sub = *bits + m.bit_offset;
            if (strip(t, m.type, &inner, &mi) && (mi.kind == LX_STRUCT || mi.kind == LX_UNION) &&
                find_member(t, inner, name, depth + 1, &sub, out, budget)) {
                *bits = sub;
                return true;
            }
        }
    }
    return false;
}

/* A struct or union by name (a typedef of one also answers). */
static bool find_struct(lx_types *t, const char *name, uint32_t *id)
{
    lx_tinfo ti;
    uint32_t td;
    if (t->ops->find(t->impl, name, LX_STRUCT, id))
        return true;
    if (t->ops->find(t->impl, name, LX_TYPEDEF, &td) && strip(t, td, id, &ti) &&
        (ti.kind == LX_STRUCT || ti.kind == LX_UNION))
        return true;
    return false;
}

static vmic_status resolve(lx_types *t, const char *path, vmic_field_t *out)
{
    char buf[256];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf)
        return vmic_fail(VMIC_E_INVAL, "types: bad field path '%.64s'", path);
    memcpy(buf, path, len + 1);

    char *dot = strchr(buf, '.');
    if (!dot)
        return vmic_fail(VMIC_E_INVAL, "types: '%s' names no field (want STRUCT.FIELD)", path);
    *dot = '\0';
    uint32_t cur;
    if (!find_struct(t, buf, &cur))
        return vmic_fail(VMIC_E_NOTFOUND, "%s: no struct or union '%s'", t->ops->name, buf);

    uint64_t bits = 0;
    lx_tmember m = {0};
    char *comp = dot + 1;
    for (int depth = 0; comp && *comp; depth++) {
        char *next = strchr(comp, '.');
        if (next)
            *next++ = '\0';
        lx_tinfo ti;
        uint32_t sid;
        if (depth > 0) {
            if (!strip(t, m.type, &sid, &ti) || (ti.kind != LX_STRUCT && ti.kind != LX_UNION))
                return vmic_fail(VMIC_E_NOTFOUND, "%s: in '%s', the field before '%s' is not "
                                 "a struct or union", t->ops->name, path, comp);
            cur = sid;
        }
        uint32_t budget = MEMBER_VISIT_BUDGET;
        if (!find_member(t, cur, comp, 0, &bits, &m, &budget))
            return vmic_fail(VMIC_E_NOTFOUND, "%s: no field '%s' in '%s'", t->ops->name, comp,
                             path);
        comp = next;
    }
    describe(t, m.type, bits, m.bit_size, out);
    return VMIC_OK;
}

static size_t path_hash(const char *s)
{
    size_t h = 5381;
    while (*s)
        h = h * 33 + (uint8_t)*s++;
    return h;
}

/* A kernel whose BTF could not be read still has symbols (vmic_os_open
 * degrades): every type query then says why it has nothing. */
static vmic_status no_types(void)
{
    return vmic_fail(VMIC_E_NOTFOUND, "no type information: the kernel's BTF could not be "
                     "read (vmic banner says why); give --profile");
}

vmic_status lx_types_field(lx_types *t, const char *path, vmic_field_t *out)
{
    if (!t)
        return no_types();
    size_t h = path_hash(path) & (CACHE_SLOTS - 1);
    for (size_t probe = 0; probe < CACHE_SLOTS; probe++) {
        cache_entry *e = &t->cache[(h + probe) & (CACHE_SLOTS - 1)];
        if (!e->path)
            break;
        if (strcmp(e->path, path) == 0) {
            if (e->status == VMIC_OK) {
                *out = e->field;
                return VMIC_OK;
            }
            return resolve(t, path, out); /* failures: re-resolve for the message */
        }
    }
    vmic_status s = resolve(t, path, out);
    if (t->cached >= CACHE_SLOTS / 2)
        cache_clear(t);
    for (size_t probe = 0; probe < CACHE_SLOTS; probe++) {
        cache_entry *e = &t->cache[(h + probe) & (CACHE_SLOTS - 1)];
        if (e->path)
            continue;
        e->path = strdup(path);
        if (!e->path)
            break;
        e->status = s;
        if (s == VMIC_OK)
            e->field = *out;
        t->cached++;
        break;
    }
    return s;
}

vmic_status lx_types_size(lx_types *t, const char *name, uint64_t *size)
{
    if (!t)
        return no_types();
    uint32_t id;
    if (!find_struct(t, name, &id) && !t->ops->find(t->impl, name, LX_ENUM, &id) &&
        !t->ops->find(t->impl, name, LX_TYPEDEF, &id) && !t->ops->find(t->impl, name, LX_INT, &id))
        return vmic_fail(VMIC_E_NOTFOUND, "%s: no type '%s'", t->ops->name, name);
    *size = type_size(t, id, 0);
    return VMIC_OK;
}

vmic_status lx_types_enum(lx_types *t, const char *name, int64_t *value)
{
    if (!t)
        return no_types();
    if (!t->ops->enumerator(t->impl, name, value))
        return vmic_fail(VMIC_E_NOTFOUND, "%s: no enum constant '%s'", t->ops->name, name);
    return VMIC_OK;
}

static int list_members(lx_types *t, uint32_t sid, uint64_t base, int depth, vmic_member_fn fn,
                        void *arg)
{
    lx_tinfo ti;
    if (depth > MAX_DEPTH || !info(t, sid, &ti))
        return 0;
    uint32_t n = ti.nmembers < MAX_MEMBERS ? ti.nmembers : MAX_MEMBERS;
    for (uint32_t i = 0; i < n; i++) {
        lx_tmember m = {0};
        if (!t->ops->member(t->impl, sid, i, &m))
            return 0;
        vmic_member_t vm = {.name = m.name ? m.name : "", .depth = depth};
        describe(t, m.type, base + m.bit_offset, m.bit_size, &vm.field);
        int rc = fn(arg, &vm);
        if (rc)
            return rc;
        uint32_t inner;
        lx_tinfo mi;
        if (!*vm.name && strip(t, m.type, &inner, &mi) &&
            (mi.kind == LX_STRUCT || mi.kind == LX_UNION)) {
            rc = list_members(t, inner, base + m.bit_offset, depth + 1, fn, arg);
            if (rc)
                return rc;
        }
    }
    return 0;
}

vmic_status lx_types_members(lx_types *t, const char *name, vmic_type_kind *kind, uint64_t *size,
                             vmic_member_fn fn, void *arg)
{
    if (!t)
        return no_types();
    uint32_t id;
    lx_tinfo ti;
    if (!find_struct(t, name, &id) || !info(t, id, &ti))
        return vmic_fail(VMIC_E_NOTFOUND, "%s: no struct or union '%s'", t->ops->name, name);
    if (kind)
        *kind = public_kind(ti.kind);
    if (size)
        *size = ti.size;
    if (fn)
        list_members(t, id, 0, 0, fn, arg);
    return VMIC_OK;
}
