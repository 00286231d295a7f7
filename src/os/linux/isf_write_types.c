/*
 * BTF types as ISF types, in dwarf2json's layout (what Volatility 3 reads
 * and scripts/make-isf.py writes from DWARF): typedefs and qualifiers
 * resolved to what they name, structs and unions by name; an anonymous one
 * that a typedef names goes by the typedef's name, as dwarf2json does
 * (kuid_t, kernel_cap_t: Volatility looks some up so), any other anonymous
 * one by a made-up "unnamed_<BTF id>"; anonymous members named
 * unnamed_field_<offset in hex> with "anonymous": true, bitfields as
 * {"kind": "bitfield", "bit_position", "bit_length", "type"} with the
 * position relative to the field's offset, which is its underlying type's
 * aligned unit.
 *
 * The types written are those reachable from the roots through fields,
 * pointers and arrays, each once, breadth first, at most VMIC_ISF_MAX_TYPES.
 * BTF is guest memory: descriptor nesting and member counts are bounded,
 * and an id that points nowhere reads as void.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isf_write.h"

#define MAX_DEPTH 24          /* typedef/qualifier chains, pointer and array nesting */
#define MAX_MEMBERS 65536     /* BTF's vlen is 16 bits */

/* BTF spells integer types as DWARF does; the ISF uses C's short names, as
 * gdb (make-isf.py) prints them and as Volatility's plugins cast to. */
static const struct {
    const char *btf, *isf;
} int_names[] = {
    {"long int", "long"},
    {"long unsigned int", "unsigned long"},
    {"long long int", "long long"},
    {"long long unsigned int", "unsigned long long"},
    {"short int", "short"},
    {"short unsigned int", "unsigned short"},
};

/* Always written: Volatility's plugins and the global table name them. */
static const struct {
    const char *name;
    uint64_t size;
    bool is_signed;
    const char *kind;
} std_base[] = {
    {"void", 0, false, "void"},         {"pointer", 8, false, "int"},
    {"char", 1, true, "char"},          {"signed char", 1, true, "char"},
    {"unsigned char", 1, false, "char"}, {"_Bool", 1, false, "bool"},
    {"short", 2, true, "int"},          {"unsigned short", 2, false, "int"},
    {"int", 4, true, "int"},            {"unsigned int", 4, false, "int"},
    {"long", 8, true, "int"},           {"unsigned long", 8, false, "int"},
    {"long long", 8, true, "int"},      {"unsigned long long", 8, false, "int"},
};

void isfw_types_init(isfw_types *t, lx_types *src)
{
    uint32_t id;
    lx_tinfo ti;
    memset(t, 0, sizeof *t);
    t->src = src;
    t->char_signed = true; /* x86-64's default, if BTF has no char */
    if (lx_types_find_id(src, "char", LX_INT, &id) && lx_types_info(src, id, &ti))
        t->char_signed = ti.is_signed;
}

void isfw_types_free(isfw_types *t)
{
    isfw_set_free(&t->structs);
    isfw_set_free(&t->enums);
    isfw_set_free(&t->extra_base);
    for (size_t i = 0; i < t->nowned; i++)
        free(t->owned[i]);
    free(t->owned);
    free(t->queue);
    free(t->enum_queue);
    memset(t, 0, sizeof *t);
}

static bool push(isfw_queued **v, size_t *n, size_t *cap, uint32_t id, const char *name)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        isfw_queued *p = realloc(*v, c * sizeof *p);
        if (!p)
            return false;
        *v = p;
        *cap = c;
    }
    (*v)[(*n)++] = (isfw_queued){id, name};
    return true;
}

/* The type under typedefs and qualifiers. */
static bool strip(isfw_types *t, uint32_t id, uint32_t *out, lx_tinfo *ti)
{
    for (int d = 0; d < MAX_DEPTH; d++) {
        if (!lx_types_info(t->src, id, ti))
            return false;
        if (ti->kind != LX_TYPEDEF && ti->kind != LX_QUAL) {
            *out = id;
            return true;
        }
        id = ti->ref;
    }
    return false;
}

/* A name the document will own ("unnamed_<id>"), or NULL out of memory. */
static const char *own_name(isfw_types *t, const char *name)
{
    if (t->nowned == t->ocap) {
        size_t c = t->ocap ? t->ocap * 2 : 64;
        char **p = realloc(t->owned, c * sizeof *p);
        if (!p)
            return NULL;
        t->owned = p;
        t->ocap = c;
    }
    char *s = strdup(name);
    if (s)
        t->owned[t->nowned++] = s;
    return s;
}

/* The ISF name of struct, union or enum id: its own, else alias (the
 * typedef that names it, or NULL), else made up into made. Queued for
 * writing the first time that name is met (so a second BTF type of one
 * name is not written: the ISF, like dwarf2json's, has one type per name). */
static const char *type_name(isfw_types *t, uint32_t id, const lx_tinfo *ti, const char *alias,
                             bool is_enum, char made[32])
{
    isfw_set *set = is_enum ? &t->enums : &t->structs;
    const char *name = *ti->name ? ti->name : alias;
    bool owned = false;
    if (!name || !*name) {
        snprintf(made, 32, "unnamed_%x", id);
        name = made;
        owned = true;
    }
    if (isfw_set_get(set, name, NULL))
        return name;
    if (t->nqueue + t->nenum >= VMIC_ISF_MAX_TYPES) {
        t->dropped++;
        return name;
    }
    /* The set borrows its names: a made-up one is kept for it. */
    const char *key = owned ? own_name(t, made) : name;
    if (!key || isfw_set_add(set, key, id) < 0 ||
        !(is_enum ? push(&t->enum_queue, &t->nenum, &t->ecap, id, key)
                  : push(&t->queue, &t->nqueue, &t->qcap, id, key)))
        t->nomem = true;
    return name;
}

/* A standard name of the integer's size and sign. */
static const char *int_of_size(const lx_tinfo *ti)
{
    switch (ti->size) {
    case 1: return ti->is_signed ? "signed char" : "unsigned char";
    case 2: return ti->is_signed ? "short" : "unsigned short";
    case 8: return ti->is_signed ? "long" : "unsigned long";
    default: return ti->is_signed ? "int" : "unsigned int";
    }
}

static const char *int_name(isfw_types *t, const lx_tinfo *ti)
{
    for (size_t i = 0; i < sizeof int_names / sizeof int_names[0]; i++)
        if (strcmp(ti->name, int_names[i].btf) == 0)
            return int_names[i].isf;
    for (size_t i = 0; i < sizeof std_base / sizeof std_base[0]; i++)
        if (strcmp(ti->name, std_base[i].name) == 0)
            return ti->name;
    if (isfw_set_get(&t->extra_base, ti->name, NULL))
        return ti->name;
    /* __int128, double...: written as BTF sizes them, a few of them (a
     * kernel has two or three); past that, or unnamed, a standard name. */
    if (!*ti->name || t->nextra == sizeof t->extra_name / sizeof t->extra_name[0] ||
        isfw_set_add(&t->extra_base, ti->name, (uint32_t)t->nextra) < 0)
        return int_of_size(ti);
    t->extra_name[t->nextra] = ti->name;
    t->extra_size[t->nextra] = ti->size;
    t->extra_signed[t->nextra] = ti->is_signed;
    t->extra_float[t->nextra] = ti->kind == LX_FLOAT;
    t->nextra++;
    return ti->name;
}

static void base(isfw_out *o, const char *name)
{
    isfw_raw(o, "{\"kind\":\"base\",\"name\":");
    isfw_str(o, name);
    isfw_raw(o, "}");
}

/* strip, and the typedef that names the anonymous struct, union or enum
 * found under it directly (*alias NULL if none). */
static bool strip_named(isfw_types *t, uint32_t id, uint32_t *out, lx_tinfo *ti,
                        const char **alias)
{
    *alias = NULL;
    for (int d = 0; d < MAX_DEPTH; d++) {
        if (!lx_types_info(t->src, id, ti))
            return false;
        if (ti->kind != LX_TYPEDEF && ti->kind != LX_QUAL) {
            *out = id;
            return true;
        }
        if (ti->kind == LX_TYPEDEF) {
            lx_tinfo under;
            const char *name = ti->name;
            if (*name && lx_types_info(t->src, ti->ref, &under) && !*under.name &&
                (under.kind == LX_STRUCT || under.kind == LX_UNION || under.kind == LX_ENUM)) {
                *alias = name;
                *out = ti->ref;
                *ti = under;
                return true;
            }
        }
        id = ti->ref;
    }
    return false;
}

static void desc(isfw_types *t, isfw_out *o, uint32_t id, int depth)
{
    char made[32];
    const char *alias;
    lx_tinfo ti;
    uint32_t sid;
    if (depth > MAX_DEPTH || !strip_named(t, id, &sid, &ti, &alias)) {
        base(o, "void");
        return;
    }
    switch (ti.kind) {
    case LX_INT: case LX_FLOAT:
        base(o, int_name(t, &ti));
        break;
    case LX_PTR:
        isfw_raw(o, "{\"kind\":\"pointer\",\"subtype\":");
        desc(t, o, ti.ref, depth + 1);
        isfw_raw(o, "}");
        break;
    case LX_ARRAY:
        isfw_raw(o, "{\"kind\":\"array\",\"count\":");
        isfw_u64(o, ti.count);
        isfw_raw(o, ",\"subtype\":");
        desc(t, o, ti.ref, depth + 1);
        isfw_raw(o, "}");
        break;
    case LX_STRUCT: case LX_UNION: case LX_FWD: {
        /* A declaration names the definition when BTF has one elsewhere. */
        uint32_t def;
        lx_tinfo di;
        if (ti.kind == LX_FWD && *ti.name && lx_types_find_id(t->src, ti.name, LX_STRUCT, &def) &&
            lx_types_info(t->src, def, &di)) {
            sid = def;
            ti = di;
        }
        isfw_raw(o, ti.kind == LX_UNION ? "{\"kind\":\"union\",\"name\":"
                                        : "{\"kind\":\"struct\",\"name\":");
        isfw_str(o, type_name(t, sid, &ti, alias, false, made));
        isfw_raw(o, "}");
        break;
    }
    case LX_ENUM:
        isfw_raw(o, "{\"kind\":\"enum\",\"name\":");
        isfw_str(o, type_name(t, sid, &ti, alias, true, made));
        isfw_raw(o, "}");
        break;
    case LX_FUNC:
        isfw_raw(o, "{\"kind\":\"function\"}");
        break;
    default:
        base(o, "void");
        break;
    }
}

void isfw_desc(isfw_types *t, isfw_out *o, uint32_t id)
{
    desc(t, o, id, 0);
}

/* Bytes of a bitfield's underlying integer or enum type (1 at least). */
static uint64_t unit_size(isfw_types *t, uint32_t id)
{
    lx_tinfo ti;
    uint32_t sid;
    if (!strip(t, id, &sid, &ti) || ti.size == 0 || ti.size > 16)
        return 1;
    return ti.size;
}

/* Where an anonymous member starts, for naming it. */
typedef struct anon_at {
    uint64_t offset;
    uint32_t index;
} anon_at;

static int anon_cmp(const void *a, const void *b)
{
    const anon_at *x = a, *y = b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static uint64_t member_offset(isfw_types *t, const lx_tmember *m)
{
    if (!m->bit_size)
        return m->bit_offset / 8;
    uint64_t unit = unit_size(t, m->type);
    return m->bit_offset / (8 * unit) * unit;
}

/*
 * Anonymous members are named unnamed_field_<offset>; in a union several
 * start at one offset, and JSON keys must differ. The last of them keeps
 * the plain name (what dwarf2json's map of fields ends up with), each
 * earlier one gets _<its member index> after it. *suffixed[i] says which.
 */
static bool name_anonymous(isfw_types *t, uint32_t id, uint32_t n, bool *suffixed)
{
    anon_at *a = malloc((n ? n : 1) * sizeof *a);
    if (!a)
        return false;
    uint32_t na = 0;
    for (uint32_t i = 0; i < n; i++) {
        lx_tmember m;
        if (lx_types_member(t->src, id, i, &m) && !*m.name)
            a[na++] = (anon_at){member_offset(t, &m), i};
    }
    qsort(a, na, sizeof *a, anon_cmp);
    for (uint32_t i = 0; i + 1 < na; i++)
        if (a[i].offset == a[i + 1].offset)
            suffixed[a[i].index] = true;
    free(a);
    return true;
}

static void write_member(isfw_types *t, isfw_out *o, const lx_tmember *m, uint32_t index,
                         bool suffixed)
{
    uint64_t offset = member_offset(t, m);
    char anon[64];
    if (*m->name) {
        isfw_key(o, m->name);
    } else {
        if (suffixed)
            snprintf(anon, sizeof anon, "unnamed_field_%llx_%u", (unsigned long long)offset,
                     index);
        else
            snprintf(anon, sizeof anon, "unnamed_field_%llx", (unsigned long long)offset);
        isfw_key(o, anon);
    }
    isfw_raw(o, "{\"type\":");
    if (m->bit_size) {
        isfw_raw(o, "{\"kind\":\"bitfield\",\"bit_position\":");
        isfw_u64(o, m->bit_offset - offset * 8);
        isfw_raw(o, ",\"bit_length\":");
        isfw_u64(o, m->bit_size);
        isfw_raw(o, ",\"type\":");
        desc(t, o, m->type, 0);
        isfw_raw(o, "}");
    } else {
        desc(t, o, m->type, 0);
    }
    isfw_raw(o, ",\"offset\":");
    isfw_u64(o, offset);
    if (!*m->name)
        isfw_raw(o, ",\"anonymous\":true");
    isfw_raw(o, "}");
}

static void write_struct(isfw_types *t, isfw_out *o, uint32_t id)
{
    lx_tinfo ti;
    if (!lx_types_info(t->src, id, &ti))
        return;
    bool is_union = ti.kind == LX_UNION;
    uint32_t n = ti.kind == LX_FWD ? 0 : ti.nmembers < MAX_MEMBERS ? ti.nmembers : MAX_MEMBERS;
    bool *suffixed = calloc(n ? n : 1, sizeof *suffixed);
    if (!suffixed || !name_anonymous(t, id, n, suffixed)) {
        t->nomem = true;
        n = 0;
    }
    isfw_raw(o, is_union ? "{\"kind\":\"union\",\"size\":" : "{\"kind\":\"struct\",\"size\":");
    isfw_u64(o, ti.kind == LX_FWD ? 0 : ti.size);
    isfw_raw(o, ",\"fields\":{");
    for (uint32_t i = 0; i < n; i++) {
        lx_tmember m;
        if (!lx_types_member(t->src, id, i, &m))
            break;
        if (i)
            isfw_raw(o, ",");
        write_member(t, o, &m, i, suffixed[i]);
    }
    isfw_raw(o, "}}");
    free(suffixed);
}


static void write_enum(isfw_types *t, isfw_out *o, uint32_t id)
{
    lx_tinfo ti;
    if (!lx_types_info(t->src, id, &ti))
        return;
    isfw_raw(o, "{\"size\":");
    isfw_u64(o, ti.size);
    isfw_raw(o, ",\"base\":");
    isfw_str(o, int_of_size(&ti));
    isfw_raw(o, ",\"constants\":{");
    uint32_t n = ti.nmembers < MAX_MEMBERS ? ti.nmembers : MAX_MEMBERS;
    for (uint32_t i = 0; i < n; i++) {
        const char *name;
        int64_t v;
        if (!lx_types_enumerator_at(t->src, id, i, &name, &v))
            break;
        if (i)
            isfw_raw(o, ",");
        isfw_key(o, name);
        isfw_i64(o, v);
    }
    isfw_raw(o, "}}");
}

static void write_base(isfw_out *o, const char *name, uint64_t size, bool is_signed,
                       const char *kind, bool first)
{
    if (!first)
        isfw_raw(o, ",");
    isfw_key(o, name);
    isfw_raw(o, "{\"size\":");
    isfw_u64(o, size);
    isfw_raw(o, is_signed ? ",\"signed\":true,\"kind\":" : ",\"signed\":false,\"kind\":");
    isfw_str(o, kind);
    isfw_raw(o, ",\"endian\":\"little\"}");
}

void isfw_types_write(isfw_types *t, isfw_out *o, vmic_isf_stats_t *stats)
{
    /* Writing a struct queues what its fields name: the loop runs until
     * nothing new comes (or the bound stops the queueing). */
    isfw_key(o, "user_types");
    isfw_raw(o, "{");
    size_t written = 0;
    while (t->next_struct < t->nqueue && !o->failed) {
        isfw_queued q = t->queue[t->next_struct++];
        if (written++)
            isfw_raw(o, ",");
        isfw_key(o, q.name);
        write_struct(t, o, q.id);
    }
    isfw_raw(o, "},");
    stats->user_types = written;

    isfw_key(o, "enums");
    isfw_raw(o, "{");
    for (size_t i = 0; i < t->nenum && !o->failed; i++) {
        if (i)
            isfw_raw(o, ",");
        isfw_key(o, t->enum_queue[i].name);
        write_enum(t, o, t->enum_queue[i].id);
    }
    isfw_raw(o, "},");
    stats->enums = t->nenum;

    isfw_key(o, "base_types");
    isfw_raw(o, "{");
    size_t nstd = sizeof std_base / sizeof std_base[0];
    for (size_t i = 0; i < nstd; i++) {
        bool is_signed = strcmp(std_base[i].name, "char") == 0 ? t->char_signed
                                                               : std_base[i].is_signed;
        write_base(o, std_base[i].name, std_base[i].size, is_signed, std_base[i].kind, i == 0);
    }
    for (size_t i = 0; i < t->nextra; i++)
        write_base(o, t->extra_name[i], t->extra_size[i], t->extra_signed[i],
                   t->extra_float[i] ? "float" : "int", false);
    isfw_raw(o, "}");
    stats->base_types = nstd + t->nextra;
}

/* A root by name: a struct, union or enum, or a typedef of one (kuid_t),
 * which names it when it has no name of its own. */
static bool root(isfw_types *t, const char *name, bool is_enum)
{
    uint32_t id, td;
    lx_tinfo ti;
    const char *alias = NULL;
    char made[32];
    bool found = lx_types_find_id(t->src, name, is_enum ? LX_ENUM : LX_STRUCT, &id) &&
                 lx_types_info(t->src, id, &ti);
    if (!found && lx_types_find_id(t->src, name, LX_TYPEDEF, &td))
        found = strip_named(t, td, &id, &ti, &alias) &&
                (is_enum ? ti.kind == LX_ENUM : ti.kind == LX_STRUCT || ti.kind == LX_UNION);
    if (found)
        type_name(t, id, &ti, alias, is_enum, made);
    return found;
}

bool isfw_types_root(isfw_types *t, const char *name)
{
    return root(t, name, false);
}

bool isfw_types_enum_root(isfw_types *t, const char *name)
{
    return root(t, name, true);
}
