/*
 * libFuzzer target for the system-call table parser: the input is guest
 * memory, mapped at BASE. Its first 16 bytes say where sys_call_table is
 * and how many entries it may have, and where the syscalls_metadata
 * variable is (u32 offsets from BASE; 0xffffffff: none); a handler is named
 * by the string it points at, so that seeds carry real names. struct
 * syscall_metadata is laid out as on 6.1 and 6.12. Whatever the memory
 * holds, every entry the parser accepts must be bounded and plausible.
 * Broken promises trap.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "os/linux/syscalls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)         \
    do {                      \
        if (!(cond))          \
            __builtin_trap(); \
    } while (0)

#define BASE 0xffffffff81000000ull
#define MAX_ENTRIES 128

typedef struct memory {
    const uint8_t *data;
    size_t size;
} memory;

static bool mem_read(void *ctx, uint64_t va, void *buf, size_t len)
{
    const memory *m = ctx;
    if (va < BASE || va - BASE > m->size || len > m->size - (va - BASE))
        return false;
    memcpy(buf, m->data + (va - BASE), len);
    return true;
}

static bool mem_symbol(void *ctx, uint64_t va, char *name, size_t size)
{
    const memory *m = ctx;
    if (va < BASE || va - BASE >= m->size || size == 0)
        return false;
    size_t at = (size_t)(va - BASE), n = 0;
    while (at + n < m->size && m->data[at + n] && n + 1 < size)
        n++;
    memcpy(name, m->data + at, n);
    name[n] = '\0';
    return n > 0;
}

static bool bounded(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static vmic_syscall_t out[MAX_ENTRIES];
    uint32_t hdr[4];
    if (size < sizeof hdr)
        return 0;
    memcpy(hdr, data, sizeof hdr);
    memory m = {data, size};
    lx_sc_source src = {.read = mem_read, .symbol = mem_symbol, .ctx = &m};
    lx_sc_layout l = {.table = BASE + hdr[0], .entries = hdr[1] % (MAX_ENTRIES + 1),
                      .metadata = hdr[2] == UINT32_MAX ? 0 : BASE + hdr[2], .meta_size = 64,
                      .off_name = 0, .off_nr = 8, .off_nb_args = 12, .off_types = 16,
                      .off_args = 24};
    size_t n;
    if (lx_syscalls_parse(&l, &src, out, &n) != VMIC_OK) {
        REQUIRE(n == 0);
        return 0;
    }
    REQUIRE(n <= l.entries);
    for (size_t i = 0; i < n; i++) {
        const vmic_syscall_t *sc = &out[i];
        REQUIRE(sc->nr == i);
        REQUIRE(bounded(sc->name, sizeof sc->name) && sc->name[0]);
        REQUIRE(sc->nargs >= -1 && sc->nargs <= VMIC_SYSCALL_MAX_ARGS);
        REQUIRE(sc->has_metadata == (sc->nargs >= 0));
        for (int a = 0; a < sc->nargs; a++)
            REQUIRE(bounded(sc->args[a].name, sizeof sc->args[a].name) && sc->args[a].name[0] &&
                    bounded(sc->args[a].type, sizeof sc->args[a].type) && sc->args[a].type[0]);
    }
    return 0;
}
