/*
 * Module symbols from hostile guest memory: a real dump mapped copy-on-write (hostile_dump.h),
 * one module's symbol table corrupted at a time (an absurd count, pointers
 * out of the kernel or into unmapped memory, a name offset past any string
 * table). Reading the modules' symbols must end quickly with an error that
 * names the module, keep the symbols of the modules before it, and never
 * answer an address lookup with a wrong symbol (this test also runs under
 * ASan + UBSan).
 *
 *   test_modsyms_hostile FIXTURE_DIR
 */
#include "hostile_dump.h"

/* A new vmic_os on the same core: module symbols are read once per os. */
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
    size_t size = hostile_dump_size(argv[1]);
    if (size > (1ull << 30)) {
        fprintf(stderr, "skip: the dump is %zu MiB, more than this test needs\n", size >> 20);
        return TEST_SKIP;
    }
    if (!hostile_open(argv[1]))
        return 1;
    RUN(test_intact);
    if (victim_kallsyms) {
        RUN(test_absurd_count);
        RUN(test_strtab_not_kernel);
        RUN(test_symtab_unmapped);
        RUN(test_name_past_strtab);
        RUN(test_kallsyms_pointer_garbage);
        RUN(test_intact_again);
    }
    hostile_close();
    return HARNESS_RESULT();
}
