/*
 * Types from the kernel's own BTF, parsed by libbpf. libbpf checks the blob's
 * header and type records; what it cannot know (ids that point nowhere,
 * names past the string section) is checked here on every access. Looking a
 * type up by name in libbpf is a scan of all ~100k types, so a name index is
 * built once when the blob is opened.
 *
 * A module's BTF is split BTF: its ids and strings continue the kernel's
 * (libbpf's btf__new_split), so a source over it answers for the module's
 * own types by its own index and for everything else through the kernel's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "types.h"
#include "base/hash.h"

#define BTF_MAGIC_LO 0x9f
#define BTF_MAGIC_HI 0xeb
#define BTF_HDR_MIN 24

typedef struct btf_impl btf_impl;
struct btf_impl {
    struct btf *btf;
    const btf_impl *base;   /* split BTF: the kernel's (not owned), else NULL */
    uint32_t start_id;      /* the first id of this blob's own: 1, or past the base's */
    uint32_t ntypes;        /* ids 1 .. ntypes-1 */
    uint32_t *index;        /* open addressing: id of a named type, 0 empty */
    size_t imask;
    uint64_t *enums;        /* enumerators: (type id << 16 | index) + 1, built lazily */
    size_t emask;
    bool enums_built;
};

/* Kinds a name is looked up as; BTF keeps structs and unions apart, the
 * queries do not. */
static lx_kind class_of(int kind)
{
    switch (kind) {
    case BTF_KIND_STRUCT: case BTF_KIND_UNION: return LX_STRUCT;
    case BTF_KIND_ENUM: case BTF_KIND_ENUM64: return LX_ENUM;
    case BTF_KIND_TYPEDEF: return LX_TYPEDEF;
    case BTF_KIND_INT: case BTF_KIND_FLOAT: return LX_INT;
    default: return LX_OTHER;
    }
}

static const char *name_of(const btf_impl *b, uint32_t off)
{
    const char *s = btf__name_by_offset(b->btf, off);
    return s ? s : "";
}

static bool build_index(btf_impl *b)
{
    size_t n = 1;
    while (n < (size_t)b->ntypes * 2)
        n <<= 1;
    b->index = calloc(n, sizeof *b->index);
    if (!b->index)
        return false;
    b->imask = n - 1;
    for (uint32_t id = b->start_id; id < b->ntypes; id++) {
        const struct btf_type *t = btf__type_by_id(b->btf, id);
        lx_kind k = class_of(btf_kind(t));
        if (k == LX_OTHER || t->name_off == 0)
            continue;
        const char *name = name_of(b, t->name_off);
        size_t h = vmic__fnv1a(name, k) & b->imask;
        /* The first definition of a name wins; forward declarations are
         * BTF_KIND_FWD and never indexed, so a struct always finds its body. */
        bool dup = false;
        while (b->index[h]) {
            const struct btf_type *o = btf__type_by_id(b->btf, b->index[h]);
            if (class_of(btf_kind(o)) == k && strcmp(name_of(b, o->name_off), name) == 0) {
                dup = true;
                break;
            }
            h = (h + 1) & b->imask;
        }
        if (!dup)
            b->index[h] = id;
    }
    return true;
}

/* Only this blob's own types. */
static bool find_own(const btf_impl *b, const char *name, lx_kind kind, uint32_t *id)
{
    if (!b->index)
        return false;
    size_t h = vmic__fnv1a(name, kind) & b->imask;
    while (b->index[h]) {
        const struct btf_type *t = btf__type_by_id(b->btf, b->index[h]);
        if (class_of(btf_kind(t)) == kind && strcmp(name_of(b, t->name_off), name) == 0) {
            *id = b->index[h];
            return true;
        }
        h = (h + 1) & b->imask;
    }
    return false;
}

static bool btf_find(void *impl, const char *name, lx_kind kind, uint32_t *id)
{
    const btf_impl *b = impl;
    /* A module's types first, then the kernel's it builds on. */
    return find_own(b, name, kind, id) || (b->base && find_own(b->base, name, kind, id));
}

static bool btf_info(void *impl, uint32_t id, lx_tinfo *out)
{
    btf_impl *b = impl;
    if (id == 0) {
        out->kind = LX_VOID;
        return true;
    }
    if (id >= b->ntypes)
        return false;
    const struct btf_type *t = btf__type_by_id(b->btf, id);
    if (!t)
        return false;
    out->name = name_of(b, t->name_off);
    switch (btf_kind(t)) {
    case BTF_KIND_INT:
        out->kind = LX_INT;
        out->size = t->size;
        out->is_signed = (btf_int_encoding(t) & BTF_INT_SIGNED) != 0;
        break;
    case BTF_KIND_FLOAT: out->kind = LX_FLOAT; out->size = t->size; break;
    case BTF_KIND_PTR: out->kind = LX_PTR; out->size = 8; out->ref = t->type; break;
    case BTF_KIND_ARRAY: {
        const struct btf_array *a = btf_array(t);
        out->kind = LX_ARRAY;
        out->ref = a->type;
        out->count = a->nelems;
        break;
    }
    case BTF_KIND_STRUCT: case BTF_KIND_UNION:
        out->kind = btf_kind(t) == BTF_KIND_STRUCT ? LX_STRUCT : LX_UNION;
        out->size = t->size;
        out->nmembers = btf_vlen(t);
        break;
    case BTF_KIND_ENUM: case BTF_KIND_ENUM64:
        out->kind = LX_ENUM;
        out->size = t->size;
        out->is_signed = btf_kflag(t);
        out->nmembers = btf_vlen(t);
        break;
    case BTF_KIND_TYPEDEF: out->kind = LX_TYPEDEF; out->ref = t->type; break;
    case BTF_KIND_VOLATILE: case BTF_KIND_CONST: case BTF_KIND_RESTRICT: case BTF_KIND_TYPE_TAG:
        out->kind = LX_QUAL;
        out->ref = t->type;
        break;
    case BTF_KIND_FUNC_PROTO: out->kind = LX_FUNC; break;
    case BTF_KIND_FWD: out->kind = LX_FWD; break;
    default: out->kind = LX_OTHER; break;
    }
    return true;
}

static bool btf_member(void *impl, uint32_t id, uint32_t index, lx_tmember *out)
{
    btf_impl *b = impl;
    if (id == 0 || id >= b->ntypes)
        return false;
    const struct btf_type *t = btf__type_by_id(b->btf, id);
    if (!t || (!btf_is_struct(t) && !btf_is_union(t)) || index >= btf_vlen(t))
        return false;
    const struct btf_member *m = btf_members(t) + index;
    out->name = name_of(b, m->name_off);
    out->type = m->type;
    out->bit_offset = btf_member_bit_offset(t, index);
    out->bit_size = btf_member_bitfield_size(t, index);
    return true;
}

static const char *enumerator_name(const btf_impl *b, uint64_t key)
{
    const struct btf_type *t = btf__type_by_id(b->btf, (uint32_t)(key >> 16));
    uint32_t i = key & 0xffff;
    if (btf_is_enum(t))
        return name_of(b, btf_enum(t)[i].name_off);
    return name_of(b, btf_enum64(t)[i].name_off);
}

static bool build_enums(btf_impl *b)
{
    size_t count = 0;
    for (uint32_t id = b->start_id; id < b->ntypes; id++) {
        const struct btf_type *t = btf__type_by_id(b->btf, id);
        if (btf_is_any_enum(t))
            count += btf_vlen(t);
    }
    size_t n = 1;
    while (n < count * 2 + 2)
        n <<= 1;
    b->enums = calloc(n, sizeof *b->enums);
    if (!b->enums)
        return false;
    b->emask = n - 1;
    for (uint32_t id = b->start_id; id < b->ntypes; id++) {
        const struct btf_type *t = btf__type_by_id(b->btf, id);
        if (!btf_is_any_enum(t))
            continue;
        for (uint32_t i = 0; i < btf_vlen(t) && i < 0xffff; i++) {
            uint64_t key = (uint64_t)id << 16 | i;
            const char *name = enumerator_name(b, key);
            size_t h = vmic__fnv1a(name, LX_ENUM) & b->emask;
            while (b->enums[h])
                h = (h + 1) & b->emask;
            b->enums[h] = key + 1;
        }
    }
    return true;
}

static bool btf_enumerator(void *impl, const char *name, int64_t *value)
{
    btf_impl *b = impl;
    if (!b->enums_built) {
        b->enums_built = true;
        if (!build_enums(b))
            return false;
    }
    if (!b->enums)
        return false;
    size_t h = vmic__fnv1a(name, LX_ENUM) & b->emask;
    while (b->enums[h]) {
        uint64_t key = b->enums[h] - 1;
        if (strcmp(enumerator_name(b, key), name) == 0) {
            const struct btf_type *t = btf__type_by_id(b->btf, (uint32_t)(key >> 16));
            uint32_t i = key & 0xffff;
            if (btf_is_enum(t))
                *value = btf_kflag(t) ? (int64_t)(int32_t)btf_enum(t)[i].val
                                      : (int64_t)(uint32_t)btf_enum(t)[i].val;
            else
                *value = (int64_t)btf_enum64_value(btf_enum64(t) + i);
            return true;
        }
        h = (h + 1) & b->emask;
    }
    return b->base && btf_enumerator((void *)b->base, name, value);
}

static bool btf_enumerator_at(void *impl, uint32_t id, uint32_t index, const char **name,
                              int64_t *value)
{
    btf_impl *b = impl;
    if (id == 0 || id >= b->ntypes)
        return false;
    const struct btf_type *t = btf__type_by_id(b->btf, id);
    if (!t || !btf_is_any_enum(t) || index >= btf_vlen(t))
        return false;
    if (btf_is_enum(t)) {
        const struct btf_enum *e = btf_enum(t) + index;
        *name = name_of(b, e->name_off);
        *value = btf_kflag(t) ? (int64_t)(int32_t)e->val : (int64_t)(uint32_t)e->val;
    } else {
        const struct btf_enum64 *e = btf_enum64(t) + index;
        *name = name_of(b, e->name_off);
        *value = (int64_t)btf_enum64_value(e);
    }
    return true;
}

static void btf_close(void *impl)
{
    btf_impl *b = impl;
    btf__free(b->btf);
    free(b->index);
    free(b->enums);
    free(b);
}

static const lx_types_ops btf_ops = {
    .name = "btf",
    .find = btf_find,
    .info = btf_info,
    .member = btf_member,
    .enumerator = btf_enumerator,
    .enumerator_at = btf_enumerator_at,
    .close = btf_close,
};

/* libbpf 1.1 (Debian 12's) declares btf__new_split but does not export it;
 * btf__parse_raw_split, which it exports, reads a file: the blob goes to it
 * through a memfd, never the disk. */
static struct btf *new_split(const uint8_t *data, uint32_t size, struct btf *base)
{
    int fd = memfd_create("vmic-module-btf", MFD_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct btf *btf = NULL;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    if (done == size)
        btf = btf__parse_raw_split(path, base);
    int err = errno;
    close(fd);
    errno = err;
    return btf;
}

/* libbpf copies the blob: data may go once this returns. */
static vmic_status open_blob(const uint8_t *data, size_t len, const btf_impl *base,
                             lx_types **out)
{
    btf_impl *b = calloc(1, sizeof *b);
    if (!b)
        return vmic_fail(VMIC_E_NOMEM, "btf: no memory");
    errno = 0;
    uint32_t size = (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len);
    b->btf = base ? new_split(data, size, base->btf) : btf__new(data, size);
    if (!b->btf || libbpf_get_error(b->btf)) {
        int err = errno;
        free(b);
        return vmic_fail(VMIC_E_FORMAT, "btf: libbpf rejects the %zu-byte %sblob (%s)", len,
                         base ? "split " : "", strerror(err ? err : EINVAL));
    }
    b->base = base;
    b->start_id = base ? base->ntypes : 1;
    b->ntypes = btf__type_cnt(b->btf);
    if (!build_index(b)) {
        uint32_t n = b->ntypes;
        btf_close(b);
        return vmic_fail(VMIC_E_NOMEM, "btf: no memory for an index of %u types", n);
    }
    return lx_types_new(&btf_ops, b, out);
}

vmic_status lx_btf_types(const uint8_t *data, size_t len, lx_types **out)
{
    return open_blob(data, len, NULL, out);
}

const uint8_t *lx_btf_raw(lx_types *t, size_t *len)
{
    const btf_impl *b = lx_types_impl(t, &btf_ops);
    __u32 size = 0;
    const void *raw = b ? btf__raw_data(b->btf, &size) : NULL;
    *len = raw ? size : 0;
    return raw;
}

bool lx_btf_find_own(lx_types *t, const char *name, lx_kind kind, uint32_t *id)
{
    const btf_impl *b = lx_types_impl(t, &btf_ops);
    return b && find_own(b, name, kind, id);
}

vmic_status lx_btf_split_types(lx_types *base, const uint8_t *data, size_t len, lx_types **out)
{
    const btf_impl *b = lx_types_impl(base, &btf_ops);
    if (!b)
        return vmic_fail(VMIC_E_UNSUPPORTED, "a module's BTF builds on the kernel's, and the "
                         "kernel's types come from %s", lx_types_source(base));
    return open_blob(data, len, b, out);
}

bool lx_btf_scan(const uint8_t *data, size_t len, size_t *off, size_t *blob_len)
{
    static const uint8_t magic[4] = {BTF_MAGIC_LO, BTF_MAGIC_HI, 1, 0}; /* magic, version 1, flags 0 */
    size_t from = 0;
    while (from + BTF_HDR_MIN <= len) {
        const uint8_t *hit = memmem(data + from, len - from, magic, sizeof magic);
        if (!hit)
            return false;
        size_t at = (size_t)(hit - data);
        from = at + 1;
        if (len - at < BTF_HDR_MIN)
            return false;
        uint32_t h[5];
        memcpy(h, hit + 4, sizeof h); /* hdr_len, type_off, type_len, str_off, str_len */
        uint64_t types_end = (uint64_t)h[1] + h[2], strs_end = (uint64_t)h[3] + h[4];
        uint64_t body = types_end > strs_end ? types_end : strs_end;
        if (h[0] < BTF_HDR_MIN || h[0] > 256 || h[2] == 0 || h[4] == 0 ||
            (uint64_t)h[0] + body > len - at || h[1] > h[3])
            continue;
        /* The string section starts with the empty string. */
        if (hit[h[0] + h[3]] != 0)
            continue;
        *off = at;
        *blob_len = (size_t)(h[0] + body);
        return true;
    }
    return false;
}
