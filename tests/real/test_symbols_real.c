/*
 * Symbols on a real guest, against its own /proc/kallsyms (truth/kallsyms.txt):
 * the modules' symbols read from guest memory, in the order and with the type
 * letters /proc/kallsyms shows; lookups by address that stay inside the
 * kernel image, its per-CPU area and the modules; and, with the ISF profile,
 * per-CPU symbols left where they are linked (KASLR does not move them), so
 * that the running task found through them is the one kallsyms finds.
 *
 *     test_symbols_real FIXTURE_DIR
 */
#include <string.h>

#include <vmic/vmic.h>

#include "harness.h"
#include "truth.h"

static const char *dir;
static truth_sym *syms;
static size_t nsyms;

static vmic_os *open_os(const char *file, const char *profile, vmic_core **core)
{
    char path[4096], prof[4096];
    vmic_driver *drv;
    vmic_os *os;
    fixture_path(path, sizeof path, dir, file);
    if (profile)
        fixture_path(prof, sizeof prof, dir, profile);
    if (vmic_dump_open(path, VMIC_DUMP_AUTO, &drv) != VMIC_OK ||
        vmic_core_open(drv, NULL, core) != VMIC_OK) {
        fprintf(stderr, "  cannot open %s: %s\n", path, vmic_errmsg());
        return NULL;
    }
    vmic_os_config_t cfg = {.profile = profile ? prof : NULL};
    if (vmic_os_open(*core, &cfg, &os) != VMIC_OK) {
        fprintf(stderr, "  vmic_os_open(%s): %s\n", path, vmic_errmsg());
        vmic_core_close(*core);
        return NULL;
    }
    return os;
}

static uint64_t truth_addr(const char *name)
{
    const truth_sym *s = truth_find_sym(syms, nsyms, name);
    return s ? s->addr : 0;
}

/* The module of a truth line: the name between its last brackets. */
static void module_of(const char *line, char *out, size_t size)
{
    const char *open = strrchr(line, '[');
    const char *close = open ? strchr(open, ']') : NULL;
    size_t n = open && close ? (size_t)(close - open - 1) : 0;
    snprintf(out, size, "%.*s", (int)n, open ? open + 1 : "");
}

static void test_module_symbols_are_proc_kallsyms(void)
{
    vmic_core *core;
    vmic_os *os = open_os("dump.elf", NULL, &core);
    CHECK(os != NULL);
    if (!os)
        return;
    size_t count = 0, at = 0, checked = 0;
    CHECK_OK(vmic_os_module_symbols(os, &count));
    FILE *f = truth_open(dir, "kallsyms.txt");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        truth_sym t = {0};
        char tail[128] = "", mod[128];
        if (sscanf(line, "%lx %c %127s %127s", &t.addr, &t.type, t.name, tail) != 4)
            continue;
        module_of(line, mod, sizeof mod);
        if (strcmp(mod, "bpf") == 0 || strcmp(mod, "__builtin__ftrace") == 0)
            continue;
        vmic_symbol_t s;
        if (at >= count) {
            FAIL_("truth has more module symbols than vmic's %zu (next: %s)", count, t.name);
            break;
        }
        CHECK_OK(vmic_os_module_symbol_get(os, at++, &s));
        CHECK_STR(s.name, t.name);
        CHECK_EQ(s.addr.addr, t.addr);
        CHECK_EQ(s.type, t.type);
        CHECK(s.module && strcmp(s.module, mod) == 0);
        /* By address: this symbol, or one of equal address in the same module. */
        vmic_symbol_t back;
        uint64_t off = 1;
        CHECK_OK(vmic_os_symbol_at(os, s.addr, &back, &off));
        CHECK_EQ(off, 0);
        CHECK_EQ(back.addr.addr, t.addr);
        CHECK(back.module && strcmp(back.module, mod) == 0);
        checked++;
    }
    if (f)
        fclose(f);
    CHECK_EQ(at, count);
    CHECK(checked > 0);
    fprintf(stderr, "  %zu module symbols, in /proc/kallsyms order\n", checked);
    vmic_os_close(os);
    vmic_core_close(core);
}

static void test_no_symbol_outside(void)
{
    vmic_core *core;
    vmic_os *os = open_os("dump.elf", NULL, &core);
    CHECK(os != NULL);
    if (!os)
        return;
    const vmic_os_kernel_t *k = vmic_os_kernel(os);
    vmic_symbol_t s;
    uint64_t off;
    /* The direct map (the heap: slab, page tables), user space, the top of
     * the address space: no symbol, however near one is numerically. */
    uint64_t outside[] = {k->page_offset_base.addr + 0x100000, 0x400000, 0x7ffd00000000,
                          k->modules_end.addr ? k->modules_end.addr - 8 : 0xfffffffffffff000};
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        CHECK_ERR(vmic_os_symbol_at(os, vmic_va(outside[i]), &s, &off), VMIC_E_NOTFOUND);
        CHECK_ERRMSG("no symbol");
    }
    /* Inside the image: the nearest symbol below, with the offset. */
    CHECK_OK(vmic_os_symbol_at(os, vmic_va(truth_addr("start_kernel") + 7), &s, &off));
    CHECK_STR(s.name, "start_kernel");
    CHECK_EQ(off, 7);
    CHECK(s.module == NULL);
    vmic_os_close(os);
    vmic_core_close(core);
}

static bool is_percpu(const truth_sym *s, uint64_t end)
{
    return !s->module && s->addr <= end && s->addr < truth_addr("_text");
}

static void test_profile_percpu_not_slid(void)
{
    vmic_core *core;
    vmic_os *os = open_os("dump.raw", "profile.json.xz", &core);
    CHECK(os != NULL);
    if (!os)
        return;
    uint64_t end = truth_addr("__per_cpu_end");
    size_t checked = 0, absent = 0;
    CHECK(end != 0);
    for (size_t i = 0; i < nsyms; i++) {
        if (!is_percpu(&syms[i], end))
            continue;
        vmic_va_t a;
        if (vmic_os_symbol(os, syms[i].name, &a) != VMIC_OK) {
            absent++; /* System.map and kallsyms need not hold the same names */
            continue;
        }
        CHECK_MSG(a.addr == syms[i].addr, "%s: 0x%llx, /proc/kallsyms 0x%llx", syms[i].name,
                  (unsigned long long)a.addr, (unsigned long long)syms[i].addr);
        checked++;
    }
    fprintf(stderr, "  %zu per-CPU symbols as /proc/kallsyms has them (%zu not in the profile)\n",
            checked, absent);
    CHECK(checked > 100);
    /* The rest still moves by the slide. */
    vmic_va_t a;
    CHECK_OK(vmic_os_symbol(os, "init_task", &a));
    CHECK_EQ(a.addr, truth_addr("init_task"));
    vmic_clear_error();
    vmic_os_close(os);
    vmic_core_close(core);
}

/* The task each vCPU runs, through the per-CPU current-task pointer: the
 * profile's answer is kallsyms'. */
static void test_profile_current_task(void)
{
    vmic_core *kc, *pc;
    vmic_os *ks = open_os("dump.elf", NULL, &kc);
    vmic_os *pr = open_os("dump.elf", "profile.json.xz", &pc);
    CHECK(ks != NULL && pr != NULL);
    uint64_t size;
    vmic_va_t hot;
    if (pr && vmic_os_symbol(pr, "pcpu_hot", &hot) == VMIC_OK &&
        vmic_os_type_size(pr, "pcpu_hot", &size) != VMIC_OK) {
        /* 6.2+: the pointer is a member of struct pcpu_hot, which
         * scripts/make-isf.py does not put in the profile. */
        fprintf(stderr, "  note: the profile has the pcpu_hot symbol but not its type: the "
                        "current task cannot be found with it; not checked\n");
        vmic_clear_error();
        vmic_os_close(pr);
        vmic_core_close(pc);
        pr = NULL;
    }
    for (unsigned v = 0; ks && pr && v < vmic_vcpu_count(kc); v++) {
        vmic_amd64_regs_t regs;
        vmic_va_t a, b;
        vmic_process_t t;
        CHECK_OK(vmic_get_regs(kc, v, &regs));
        CHECK_OK(vmic_os_current_task(ks, &regs, &a));
        CHECK_OK(vmic_os_current_task(pr, &regs, &b));
        CHECK_EQ(a.addr, b.addr);
        CHECK_OK(vmic_os_task(pr, b, &t));
        fprintf(stderr, "  vCPU %u runs pid %d (%s), task 0x%llx\n", v, (int)t.pid, t.comm,
                (unsigned long long)b.addr);
        CHECK(t.comm[0] != '\0');
    }
    if (pr) {
        vmic_os_close(pr);
        vmic_core_close(pc);
    }
    if (ks) {
        vmic_os_close(ks);
        vmic_core_close(kc);
    }
}

int main(int argc, char **argv)
{
    dir = argc > 1 ? argv[1] : "build/fixtures/6.1";
    if (!fixture_present(dir)) {
        fprintf(stderr, "fixture %s not built; skipping\n", dir);
        return TEST_SKIP;
    }
    syms = truth_kallsyms(dir, &nsyms);
    if (!syms || nsyms == 0) {
        fprintf(stderr, "fixture %s has no kallsyms truth\n", dir);
        return 1;
    }
    RUN(test_module_symbols_are_proc_kallsyms);
    RUN(test_no_symbol_outside);
    char path[4096];
    fixture_path(path, sizeof path, dir, "profile.json.xz");
    FILE *profile = fopen(path, "r");
    if (profile) {
        fclose(profile);
        RUN(test_profile_percpu_not_slid);
        RUN(test_profile_current_task);
    } else {
        fprintf(stderr, "note: no profile.json.xz in this fixture: the profile's per-CPU "
                        "symbols not checked\n");
    }
    free(syms);
    return HARNESS_RESULT();
}
