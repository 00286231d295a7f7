/*
 * Parsing the guest's system-call table (syscalls.h): handler pointers from
 * sys_call_table, their kallsyms names, and the ftrace metadata the kernel
 * built at boot (init_ftrace_syscalls fills syscalls_metadata[nr] with the
 * struct syscall_metadata of each SYSCALL_DEFINEn: name, nb_args, and the
 * stringified types and names of the arguments).
 *
 * Everything here comes from guest memory: pointers must be kernel
 * addresses, strings are read page by page up to a bound and must be
 * printable, counts must be small. What fails a check is left out, never
 * trusted.
 */
#include <stdio.h>
#include <string.h>

#include "syscalls.h"

#define PAGE 4096u

static bool kernel_ptr(const lx_sc_source *src, uint64_t p)
{
    return p >= (src->kernel_half ? src->kernel_half : 0xffff800000000000ull);
}

static bool read_u64(const lx_sc_source *src, uint64_t va, uint64_t *v)
{
    return src->read(src->ctx, va, v, sizeof *v);
}

static bool read_u32(const lx_sc_source *src, uint64_t va, uint32_t *v)
{
    return src->read(src->ctx, va, v, sizeof *v);
}

/* A NUL-terminated string of at most size-1 bytes, read a page at a time so
 * that a short string before an unmapped page still reads. */
static bool read_str(const lx_sc_source *src, uint64_t va, char *buf, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        size_t chunk = PAGE - (size_t)((va + n) % PAGE);
        if (chunk > size - 1 - n)
            chunk = size - 1 - n;
        if (!src->read(src->ctx, va + n, buf + n, chunk))
            return false;
        void *nul = memchr(buf + n, '\0', chunk);
        if (nul)
            return true;
        n += chunk;
    }
    buf[size - 1] = '\0';
    return false; /* longer than the bound: not a string we believe */
}

static bool is_identifier(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static bool is_c_type(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            return false;
    return true;
}

/* "__x64_sys_openat" -> "openat"; "sys_openat" -> "openat". */
static const char *strip_prefix(const char *sym)
{
    static const char *const prefixes[] = {"__x64_sys_", "__x64_", "__se_sys_", "__do_sys_",
                                           "sys_"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(sym, prefixes[i], n) == 0 && sym[n])
            return sym + n;
    }
    return sym;
}

static void name_from_symbol(const lx_sc_source *src, vmic_syscall_t *sc)
{
    char sym[128];
    if (src->symbol && src->symbol(src->ctx, sc->handler.addr, sym, sizeof sym) &&
        is_identifier(sym)) {
        /* A cut name could read as another syscall's: too long is unnamed. */
        int n = snprintf(sc->name, sizeof sc->name, "%s", strip_prefix(sym));
        if (n >= 0 && (size_t)n < sizeof sc->name) {
            sc->implemented = strcmp(sc->name, "ni_syscall") != 0;
            return;
        }
    }
    snprintf(sc->name, sizeof sc->name, "syscall_%u", sc->nr);
    sc->implemented = true; /* a handler we cannot name is still one */
}

/* The strings of one argument array (types or args). */
static bool read_strings(const lx_sc_source *src, uint64_t array, int n, size_t field_off,
                         vmic_syscall_t *sc, bool (*valid)(const char *))
{
    for (int i = 0; i < n; i++) {
        uint64_t p;
        char *dst = (char *)&sc->args[i] + field_off;
        size_t size = field_off == offsetof(vmic_syscall_arg_t, name) ? VMIC_SYSCALL_NAME_LEN
                                                                       : VMIC_SYSCALL_TYPE_LEN;
        if (!read_u64(src, array + 8u * (unsigned)i, &p) || !kernel_ptr(src, p) ||
            !read_str(src, p, dst, size) || !valid(dst))
            return false;
    }
    return true;
}

/* syscalls_metadata[nr], if it is there and describes this syscall. */
static void read_metadata(const lx_sc_layout *l, const lx_sc_source *src, uint64_t array,
                          vmic_syscall_t *sc)
{
    uint64_t meta, name_p, types, args;
    uint32_t nr, nb_args;
    char name[VMIC_SYSCALL_NAME_LEN];

    if (!read_u64(src, array + 8u * sc->nr, &meta) || !kernel_ptr(src, meta))
        return;
    if (!read_u64(src, meta + l->off_name, &name_p) || !read_u32(src, meta + l->off_nr, &nr) ||
        !read_u32(src, meta + l->off_nb_args, &nb_args) ||
        !read_u64(src, meta + l->off_types, &types) || !read_u64(src, meta + l->off_args, &args))
        return;
    if (nb_args > VMIC_SYSCALL_MAX_ARGS || !kernel_ptr(src, name_p) ||
        !read_str(src, name_p, name, sizeof name) || !is_identifier(name))
        return;
    /* The kernel sets syscall_nr to the last number a metadata matched:
     * a syscall that shares its handler still matches by name. */
    const char *stripped = strip_prefix(name);
    if (nr != sc->nr && strcmp(stripped, sc->name) != 0)
        return;
    if (nb_args > 0 && (!kernel_ptr(src, types) || !kernel_ptr(src, args)))
        return;
    vmic_syscall_t tmp = *sc;
    if (!read_strings(src, types, (int)nb_args, offsetof(vmic_syscall_arg_t, type), &tmp,
                      is_c_type) ||
        !read_strings(src, args, (int)nb_args, offsetof(vmic_syscall_arg_t, name), &tmp,
                      is_identifier))
        return;
    snprintf(tmp.name, sizeof tmp.name, "%s", stripped);
    tmp.nargs = (int)nb_args;
    tmp.has_metadata = true;
    *sc = tmp;
}

vmic_status lx_syscalls_parse(const lx_sc_layout *l, const lx_sc_source *src, vmic_syscall_t *out,
                              size_t *count)
{
    uint32_t entries = l->entries < VMIC_SYSCALL_MAX_NR ? l->entries : VMIC_SYSCALL_MAX_NR;
    uint64_t meta_array = 0;

    *count = 0;
    if (l->metadata && (!read_u64(src, l->metadata, &meta_array) || !kernel_ptr(src, meta_array)))
        meta_array = 0; /* metadata not built (tracing off at boot): names only */
    if (meta_array && (l->meta_size == 0 || l->off_name >= l->meta_size ||
                       l->off_nr + 4 > l->meta_size || l->off_nb_args + 4 > l->meta_size ||
                       l->off_types + 8 > l->meta_size || l->off_args + 8 > l->meta_size))
        meta_array = 0;

    for (uint32_t nr = 0; nr < entries; nr++) {
        uint64_t handler;
        if (!read_u64(src, l->table + 8u * nr, &handler)) {
            if (nr == 0)
                return vmic_fail(VMIC_E_TRANSLATE, "syscalls: cannot read sys_call_table at "
                                 "0x%llx", (unsigned long long)l->table);
            break;
        }
        if (!kernel_ptr(src, handler)) {
            if (nr == 0)
                return vmic_fail(VMIC_E_FORMAT, "syscalls: sys_call_table[0] at 0x%llx is 0x%llx, "
                                 "not a kernel address", (unsigned long long)l->table,
                                 (unsigned long long)handler);
            break; /* the padding after the table */
        }
        vmic_syscall_t *sc = &out[nr];
        memset(sc, 0, sizeof *sc);
        sc->nr = nr;
        sc->handler.addr = handler;
        sc->nargs = -1;
        name_from_symbol(src, sc);
        if (meta_array && sc->implemented)
            read_metadata(l, src, meta_array, sc);
        *count = nr + 1;
    }
    return VMIC_OK;
}
