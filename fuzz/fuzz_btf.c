/*
 * libFuzzer target for the BTF locator and the type queries over it: the
 * input stands for read-only kernel data that may hold a BTF blob. The
 * locator must only return a blob inside the input; libbpf parses it; the
 * queries (paths through anonymous members, sizes, listings, enum values)
 * must stay bounded whatever the ids and names say.
 */
#include <stddef.h>
#include <stdint.h>

#include "os/linux/types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)         \
    do {                      \
        if (!(cond))          \
            __builtin_trap(); \
    } while (0)

static int count(void *arg, const vmic_member_t *m)
{
    (void)m;
    return ++*(int *)arg > 100000;
}

static void query(lx_types *t)
{
    static const char *const paths[] = {
        "task_struct.tasks", "task_struct.comm", "mm_struct.pgd", "mm_struct.mm_mt.ma_root",
        "printk_info.level", "vm_area_struct.vm_flags", "qstr.len", "a.b.c.d.e.f", "x.y",
    };
    static const char *const types[] = {"task_struct", "list_head", "printk_info", "a", "x"};
    vmic_field_t f;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (lx_types_field(t, paths[i], &f) == VMIC_OK)
            REQUIRE(f.offset == f.bit_offset / 8);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        uint64_t size;
        int n = 0;
        (void)lx_types_size(t, types[i], &size);
        (void)lx_types_members(t, types[i], NULL, NULL, count, &n);
    }
    int64_t v;
    (void)lx_types_enum(t, "maple_leaf_64", &v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off, len;
    lx_types *t;
    if (lx_btf_scan(data, size, &off, &len)) {
        REQUIRE(off < size && len <= size - off);
        if (lx_btf_types(data + off, len, &t) == VMIC_OK) {
            query(t);
            lx_types_free(t);
        }
    }
    return 0;
}
