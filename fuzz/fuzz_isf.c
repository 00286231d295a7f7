/*
 * libFuzzer target for the ISF profile reader: the input is a JSON document.
 * Parsing must stay bounded (depth, lengths, counts) and a profile that
 * loads must answer type and symbol queries without reading past its
 * tables.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "os/linux/isf.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lx_isf *isf;
    lx_types *t;
    if (lx_isf_parse((const char *)data, size, "fuzz", &isf) != VMIC_OK)
        return 0;
    if (lx_isf_types(isf, &t) == VMIC_OK) {
        static const char *const paths[] = {"task_struct.tasks", "task_struct.comm",
                                            "mm_struct.mm_mt.ma_root", "printk_info.level",
                                            "a.b", "a.b.c"};
        vmic_field_t f;
        for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
            if (lx_types_field(t, paths[i], &f) == VMIC_OK)
                REQUIRE(f.offset == f.bit_offset / 8);
        int n = 0;
        (void)lx_types_members(t, "task_struct", NULL, NULL, count, &n);
        n = 0;
        (void)lx_types_members(t, "a", NULL, NULL, count, &n);
        int64_t v;
        (void)lx_types_enum(t, "maple_leaf_64", &v);
        lx_types_free(t);
    }
    size_t nsyms = lx_isf_symbol_count(isf);
    uint64_t prev = 0;
    for (size_t i = 0; i < nsyms; i++) {
        vmic_symbol_t s;
        REQUIRE(lx_isf_symbol_get(isf, i, &s));
        REQUIRE(s.addr.addr >= prev);
        prev = s.addr.addr;
        uint64_t a;
        if (i < 64)
            REQUIRE(lx_isf_symbol(isf, s.name, &a));
    }
    lx_isf_free(isf);
    return 0;
}
