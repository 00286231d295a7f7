/*
 * libFuzzer target for the kallsyms decoder: the input stands for the
 * kernel's read-only data. Whatever it holds, finding the tables must stay
 * inside it, and a table that is accepted must answer every query inside
 * it too: each symbol decodes, addresses are sorted, lookups by name find
 * what iteration lists. Broken promises trap.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "os/linux/kallsyms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)         \
    do {                      \
        if (!(cond))          \
            __builtin_trap(); \
    } while (0)

#define RO_VA 0xffffffff82000000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lx_kallsyms *ks;
    if (lx_kallsyms_open(data, size, RO_VA, 0, &ks) != VMIC_OK)
        return 0;
    const lx_kallsyms_info_t *in = lx_kallsyms_info(ks);
    size_t n = lx_kallsyms_count(ks);
    REQUIRE(n == in->num_syms && n > 256);
    REQUIRE(in->names >= RO_VA && in->names < RO_VA + size);
    REQUIRE(in->token_table >= RO_VA && in->token_index + 512 <= RO_VA + size);

    uint64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t a = lx_kallsyms_addr(ks, i);
        REQUIRE(a >= prev);
        prev = a;
    }
    /* A few names by index, then back by name and by address. */
    for (size_t i = 0; i < n; i += n / 7 + 1) {
        vmic_symbol_t s;
        if (lx_kallsyms_get(ks, i, &s) != VMIC_OK)
            break; /* a name that does not decode is reported, not trusted */
        REQUIRE(strlen(s.name) <= 512);
        uint64_t a;
        REQUIRE(lx_kallsyms_lookup(ks, s.name, &a));
        REQUIRE(a <= s.addr.addr);
        size_t at = lx_kallsyms_find_le(ks, s.addr.addr);
        REQUIRE(at != SIZE_MAX && at >= i && lx_kallsyms_addr(ks, at) == s.addr.addr);
    }
    uint64_t a;
    (void)lx_kallsyms_lookup(ks, "init_task", &a);
    lx_kallsyms_free(ks);
    return 0;
}
