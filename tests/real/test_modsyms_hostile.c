/*
 * Module symbols from hostile guest memory: a real dump copied into memory,
 * one module's symbol table corrupted at a time (an absurd count, pointers
 * out of the kernel or into unmapped memory, a name offset past any string
 * table). Reading the modules' symbols must end quickly with an error that
 * names the module, keep the symbols of the modules before it, and never
 * answer an address lookup with a wrong symbol (this test also runs under
 * ASan + UBSan).
 *
 *   test_modsyms_hostile FIXTURE_DIR
 */
#include <time.h>

#include <vmic/vmic.h>

#include "harness.h"
#include "truth.h"

static uint8_t *mem; /* the guest's physical memory (dump.raw), writable */
static size_t mem_size;
static vmic_core *core;
static vmic_os *os;  /* reopened for each case: module symbols are read once per os */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint8_t *at(uint64_t va, size_t len)
{
    vmic_pa_t pa;
    if (vmic_translate(core, vmic_os_kernel_ctx(os), vmic_va(va), &pa) != VMIC_OK ||
        pa.addr + len > mem_size)
        return NULL;
    return mem + pa.addr;
}

static uint64_t get64(uint64_t va)
{
    uint64_t v = 0;
    uint8_t *p = at(va, 8);
    if (p)
        memcpy(&v, p, 8);
    return v;
}

/* One corruption of len bytes at a time, undone by restore(). */
static uint8_t *saved_at, saved[8];
static size_t saved_len;

static bool put(uint64_t va, uint64_t v, size_t len)
{
    uint8_t *p = at(va, len);
    if (!p || saved_at)
        return false;
    saved_at = p;
    saved_len = len;
    memcpy(saved, p, len);
    memcpy(p, &v, len);
    return true;
}

static void restore(void)
{
    if (saved_at)
        memcpy(saved_at, saved, saved_len);
    saved_at = NULL;
}

static uint64_t off(const char *path)
{
    vmic_field_t f;
    if (vmic_os_field(os, path, &f) != VMIC_OK)
        return UINT64_MAX;
    return f.offset;
}

static void reopen(void)
{
    vmic_os_close(os);
    os = NULL;
    if (vmic_os_open(core, NULL, &os) != VMIC_OK)
        fprintf(stderr, "  cannot reopen: %s\n", vmic_errmsg());
}

/* The second module on the list (the first's symbols must survive it). */
typedef struct mods {
    size_t n;
    vmic_module_t m[2];
} mods;

static int first_two(void *arg, const vmic_module_t *m)
{
    mods *c = arg;
    c->m[c->n++] = *m;
    return c->n == 2;
}

static size_t intact_count, first_count;
static vmic_module_t victim;
static uint64_t victim_kallsyms; /* its struct mod_kallsyms */

static void test_intact(void)
{
    mods c = {0};
    CHECK_OK(vmic_os_modules(os, first_two, &c));
    CHECK(c.n == 2);
    if (c.n < 2)
        return;
    victim = c.m[1];
    victim_kallsyms = get64(victim.module.addr + off("module.kallsyms"));
    CHECK(victim_kallsyms != 0);
    CHECK_OK(vmic_os_module_symbols(os, &intact_count));
    for (first_count = 0; first_count < intact_count; first_count++) {
        vmic_symbol_t s;
        CHECK_OK(vmic_os_module_symbol_get(os, first_count, &s));
        if (strcmp(s.module, c.m[0].name) != 0)
            break;
    }
    CHECK(first_count > 0 && first_count < intact_count);
}

/* Reads the modules' symbols with one corruption in place: a clear error
 * naming the victim, the first module's symbols kept, and no symbol for an
 * address in the victim. */
static void expect_refused(uint64_t va, uint64_t value, size_t len, const char *what)
{
    CHECK_MSG(put(va, value, len), "cannot corrupt %s", what);
    reopen();
    if (!os) {
        restore();
        return;
    }
    size_t count = SIZE_MAX;
    double t0 = now();
    vmic_status s = vmic_os_module_symbols(os, &count);
    CHECK_MSG(now() - t0 < 2.0, "%s: %.2f s", what, now() - t0);
    CHECK_MSG(s != VMIC_OK, "%s: accepted", what);
    CHECK_MSG(strstr(vmic_errmsg(), victim.name) != NULL, "%s: message '%s' does not name %s",
              what, vmic_errmsg(), victim.name);
    CHECK_EQ(count, first_count);
    vmic_symbol_t sym;
    uint64_t offset;
    CHECK_MSG(vmic_os_symbol_at(os, vmic_va(victim.base.addr + 1), &sym, &offset) != VMIC_OK,
              "%s: %s+0x%llx for an address in %s", what, sym.name,
              (unsigned long long)offset, victim.name);
    /* The kernel's own symbols do not depend on the modules'. */
    CHECK_OK(vmic_os_symbol_at(os, vmic_os_kernel(os)->text, &sym, &offset));
    restore();
}

static void test_absurd_count(void)
{
    expect_refused(victim_kallsyms + off("mod_kallsyms.num_symtab"), 0xfffffff0u, 4,
                   "num_symtab 0xfffffff0");
}

static void test_strtab_not_kernel(void)
{
    expect_refused(victim_kallsyms + off("mod_kallsyms.strtab"), 0x1000, 8, "strtab in user space");
}

static void test_symtab_unmapped(void)
{
    /* Canonical, in the kernel half, mapped by nothing. */
    expect_refused(victim_kallsyms + off("mod_kallsyms.symtab"), 0xffffffffff5ff000ull, 8,
                   "symtab unmapped");
}

static void test_name_past_strtab(void)
{
    /* symtab[1].st_name (symtab[0] is the null symbol). */
    uint64_t symtab = get64(victim_kallsyms + off("mod_kallsyms.symtab"));
    expect_refused(symtab + 24, 0x7fffffffu, 4, "st_name 0x7fffffff");
}

static void test_kallsyms_pointer_garbage(void)
{
    expect_refused(victim.module.addr + off("module.kallsyms"), 0xdead, 8, "kallsyms 0xdead");
}

static void test_intact_again(void)
{
    reopen();
    size_t count = 0;
    CHECK(os != NULL);
    if (os)
        CHECK_OK(vmic_os_module_symbols(os, &count));
    CHECK_EQ(count, intact_count);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !fixture_present(argv[1])) {
        fprintf(stderr, "skip: no fixture\n");
        return TEST_SKIP;
    }
    char path[4096];
    fixture_path(path, sizeof path, argv[1], "dump.raw");
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0)
        return 1;
    mem_size = (size_t)ftell(f);
    rewind(f);
    if (mem_size > (1ull << 30)) {
        fclose(f);
        fprintf(stderr, "skip: %s is %zu MiB, more than this test copies\n", path, mem_size >> 20);
        return TEST_SKIP;
    }
    mem = malloc(mem_size);
    if (!mem || fread(mem, 1, mem_size, f) != mem_size)
        return 1;
    fclose(f);
    vmic_driver *drv;
    if (vmic_dump_open_buffer(mem, mem_size, VMIC_DUMP_RAW, "hostile", &drv) != VMIC_OK ||
        vmic_core_open(drv, NULL, &core) != VMIC_OK || vmic_os_open(core, NULL, &os) != VMIC_OK) {
        fprintf(stderr, "cannot open the copy: %s\n", vmic_errmsg());
        return 1;
    }
    RUN(test_intact);
    if (victim_kallsyms) {
        RUN(test_absurd_count);
        RUN(test_strtab_not_kernel);
        RUN(test_symtab_unmapped);
        RUN(test_name_past_strtab);
        RUN(test_kallsyms_pointer_garbage);
        RUN(test_intact_again);
    }
    vmic_os_close(os);
    vmic_core_close(core);
    free(mem);
    return HARNESS_RESULT();
}
