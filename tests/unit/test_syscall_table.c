/*
 * The system-call table parser (src/os/linux/syscall_table.c) on memory
 * built here: a sys_call_table, the kernel's syscalls_metadata array and
 * its structs and strings, then each way a hostile guest can break them.
 */
#include <string.h>

#include "harness.h"
#include "os/linux/syscalls.h"

#define BASE 0xffffffff81000000ull
#define SIZE 0x4000u

typedef struct image {
    uint8_t mem[SIZE];
    size_t used;
} image;

static image img;

static bool img_read(void *ctx, uint64_t va, void *buf, size_t len)
{
    image *m = ctx;
    if (va < BASE || va - BASE > SIZE || len > SIZE - (va - BASE))
        return false;
    memcpy(buf, m->mem + (va - BASE), len);
    return true;
}

/* Handlers are named by the string they point at. */
static bool img_symbol(void *ctx, uint64_t va, char *name, size_t size)
{
    image *m = ctx;
    if (va < BASE || va - BASE >= SIZE || !memchr(m->mem + (va - BASE), 0, SIZE - (va - BASE)))
        return false;
    snprintf(name, size, "%s", (const char *)m->mem + (va - BASE));
    return true;
}

static uint64_t put(const void *data, size_t len)
{
    uint64_t va = BASE + img.used;
    memcpy(img.mem + img.used, data, len);
    img.used += (len + 7) & ~(size_t)7;
    return va;
}

static uint64_t put_str(const char *s)
{
    return put(s, strlen(s) + 1);
}

static void put_u64_at(uint64_t va, uint64_t v)
{
    memcpy(img.mem + (va - BASE), &v, 8);
}

/* struct syscall_metadata as 6.1 and 6.12 lay it out. */
static uint64_t put_meta(const char *name, uint32_t nr, uint32_t nargs, const char *const *types,
                         const char *const *args)
{
    uint64_t tv[6], av[6];
    for (uint32_t i = 0; i < nargs && i < 6; i++) {
        tv[i] = put_str(types[i]);
        av[i] = put_str(args[i]);
    }
    uint8_t m[64] = {0};
    uint64_t name_va = put_str(name), types_va = put(tv, 8 * 6), args_va = put(av, 8 * 6);
    memcpy(m + 0, &name_va, 8);
    memcpy(m + 8, &nr, 4);
    memcpy(m + 12, &nargs, 4);
    memcpy(m + 16, &types_va, 8);
    memcpy(m + 24, &args_va, 8);
    return put(m, sizeof m);
}

static lx_sc_layout layout;
static const lx_sc_source source = {.read = img_read, .symbol = img_symbol, .ctx = &img};
static vmic_syscall_t out[16];
static uint64_t meta_ptrs_va;

/* Four syscalls: read (0), write (1), a hole (2), openat (3); padding after. */
static void build(void)
{
    static const char *const rt[] = {"unsigned int", "char *", "size_t"};
    static const char *const rn[] = {"fd", "buf", "count"};
    static const char *const ot[] = {"int", "const char *", "int", "umode_t"};
    static const char *const on[] = {"dfd", "filename", "flags", "mode"};
    memset(&img, 0, sizeof img);
    img.used = 64;
    uint64_t h_read = put_str("__x64_sys_read"), h_write = put_str("__x64_sys_write");
    uint64_t h_ni = put_str("__x64_sys_ni_syscall"), h_open = put_str("__x64_sys_openat");
    uint64_t table[5] = {h_read, h_write, h_ni, h_open, 0};
    uint64_t meta[4] = {put_meta("sys_read", 0, 3, rt, rn), 0, 0,
                        put_meta("sys_openat", 3, 4, ot, on)};
    meta_ptrs_va = put(meta, sizeof meta);
    uint64_t var = put(&meta_ptrs_va, 8);
    layout = (lx_sc_layout){.table = put(table, sizeof table), .entries = 16, .metadata = var,
                            .meta_size = 64, .off_name = 0, .off_nr = 8, .off_nb_args = 12,
                            .off_types = 16, .off_args = 24};
}

static void test_a_well_formed_table(void)
{
    size_t n;
    build();
    CHECK_OK(lx_syscalls_parse(&layout, &source, out, &n));
    CHECK_EQ(n, 4); /* the padding ends it */
    CHECK_STR(out[0].name, "read");
    CHECK(out[0].has_metadata && out[0].nargs == 3);
    CHECK_STR(out[0].args[1].type, "char *");
    CHECK_STR(out[0].args[2].name, "count");
    CHECK_STR(out[1].name, "write"); /* no metadata: the symbol's name */
    CHECK(!out[1].has_metadata && out[1].nargs == -1 && out[1].implemented);
    CHECK(!out[2].implemented);
    CHECK_STR(out[3].name, "openat");
    CHECK_EQ(out[3].nargs, 4);
    CHECK_STR(out[3].args[1].type, "const char *");
    CHECK_STR(out[3].args[3].name, "mode");
}

/* Metadata that fails any check is dropped: the syscall keeps its name. */
static void test_implausible_metadata_is_not_trusted(void)
{
    size_t n;
    uint64_t meta_read;

    build();
    memcpy(&meta_read, img.mem + (meta_ptrs_va - BASE), 8);
    uint32_t seven = 7;
    memcpy(img.mem + (meta_read - BASE) + 12, &seven, 4);      /* nb_args 7 */
    CHECK_OK(lx_syscalls_parse(&layout, &source, out, &n));
    CHECK(!out[0].has_metadata && out[0].nargs == -1);
    CHECK_STR(out[0].name, "read");

    build();
    uint32_t other = 5;
    memcpy(img.mem + (meta_read - BASE) + 8, &other, 4);       /* another syscall's */
    uint64_t name_va;
    memcpy(&name_va, img.mem + (meta_read - BASE), 8);
    memcpy(img.mem + (name_va - BASE), "sys_rea", 8);           /* and another name */
    CHECK_OK(lx_syscalls_parse(&layout, &source, out, &n));
    CHECK(!out[0].has_metadata);

    build();
    uint64_t types_va, t0;
    memcpy(&types_va, img.mem + (meta_read - BASE) + 16, 8);
    memcpy(&t0, img.mem + (types_va - BASE), 8);
    img.mem[t0 - BASE] = 0x01;                                  /* unprintable type */
    CHECK_OK(lx_syscalls_parse(&layout, &source, out, &n));
    CHECK(!out[0].has_metadata);

    build();
    memset(img.mem + (t0 - BASE), 'x', 60);                    /* longer than the bound */
    CHECK_OK(lx_syscalls_parse(&layout, &source, out, &n));
    CHECK(!out[0].has_metadata);

    build();
    put_u64_at(meta_ptrs_va, 0x1234);                           /* not a kernel pointer */
    CHECK_OK(lx_syscalls_parse(&layout, &source, out, &n));
    CHECK(!out[0].has_metadata);
    CHECK(out[3].has_metadata);

    build();
    put_u64_at(layout.metadata, 0xffff888000000000ull);        /* unreadable array */
    CHECK_OK(lx_syscalls_parse(&layout, &source, out, &n));
    CHECK_EQ(n, 4);
    CHECK(!out[0].has_metadata && !out[3].has_metadata);
}

static void test_bounds_and_broken_tables(void)
{
    size_t n;
    build();
    layout.entries = 2;                                         /* the table's extent */
    CHECK_OK(lx_syscalls_parse(&layout, &source, out, &n));
    CHECK_EQ(n, 2);

    build();
    layout.table = BASE + SIZE;                                 /* entry 0 unreadable */
    CHECK_ERR(lx_syscalls_parse(&layout, &source, out, &n), VMIC_E_TRANSLATE);
    CHECK_EQ(n, 0);

    build();
    put_u64_at(layout.table, 42);                               /* entry 0 not a pointer */
    CHECK_ERR(lx_syscalls_parse(&layout, &source, out, &n), VMIC_E_FORMAT);

    build();
    put_u64_at(layout.table + 8, BASE + SIZE - 1);              /* a handler with no name */
    CHECK_OK(lx_syscalls_parse(&layout, &source, out, &n));
    CHECK_STR(out[1].name, "syscall_1");

    build();
    layout.meta_size = 16;                                      /* offsets past the struct */
    CHECK_OK(lx_syscalls_parse(&layout, &source, out, &n));
    CHECK(!out[0].has_metadata && !out[3].has_metadata);
}

int main(void)
{
    RUN(test_a_well_formed_table);
    RUN(test_implausible_metadata_is_not_trusted);
    RUN(test_bounds_and_broken_tables);
    return HARNESS_RESULT();
}
