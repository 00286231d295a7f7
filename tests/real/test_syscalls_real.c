/*
 * The guest's system-call table and its current task, as the tracer reads
 * them, on a dump of a real guest, against what the guest said itself: every
 * handler vmic names "openat" sits where /proc/kallsyms puts
 * __x64_sys_openat, unimplemented numbers point at __x64_sys_ni_syscall, the
 * kernel's metadata gives the arguments of well-known calls as the ABI has
 * them, and the task vCPU 0 ran when the dump was taken is one the guest
 * listed.
 *
 *   test_syscalls_real FIXTURE_DIR
 */
#include <vmic/vmic.h>

#include "harness.h"
#include "truth.h"

static const char *dir;
static truth_sym *syms;
static size_t nsyms;
static vmic_core *core;
static vmic_os *os;

static bool open_dump(void)
{
    char path[4096];
    vmic_driver *drv;
    fixture_path(path, sizeof path, dir, "dump.elf");
    if (vmic_dump_open(path, VMIC_DUMP_AUTO, &drv) || vmic_core_open(drv, NULL, &core) ||
        vmic_os_open(core, NULL, &os)) {
        fprintf(stderr, "  cannot open %s: %s\n", path, vmic_errmsg());
        return false;
    }
    return true;
}

static void test_handlers_are_where_kallsyms_says(void)
{
    const vmic_syscall_t *table;
    size_t n, checked = 0;
    CHECK_OK(vmic_os_syscalls(os, &table, &n));
    CHECK_MSG(n >= 400 && n <= 600, "%zu syscalls", n);
    const truth_sym *ni = truth_find_sym(syms, nsyms, "__x64_sys_ni_syscall");
    CHECK(ni != NULL);
    /* One pass over the truth: each __x64_sys_NAME against the entries named NAME. */
    for (size_t i = 0; i < nsyms; i++) {
        if (syms[i].module || strncmp(syms[i].name, "__x64_sys_", 10) != 0)
            continue;
        for (size_t k = 0; k < n; k++) {
            if (!table[k].implemented || strcmp(table[k].name, syms[i].name + 10) != 0)
                continue;
            CHECK_MSG(table[k].handler.addr == syms[i].addr, "syscall %u (%s): handler 0x%llx, "
                      "kallsyms says 0x%llx", table[k].nr, table[k].name,
                      (unsigned long long)table[k].handler.addr,
                      (unsigned long long)syms[i].addr);
            checked++;
        }
    }
    size_t unnamed = 0, bare = 0, implemented = 0;
    for (size_t k = 0; k < n; k++) {
        implemented += table[k].implemented;
        if (!table[k].implemented)
            CHECK_EQ(table[k].handler.addr, ni->addr);
        unnamed += strncmp(table[k].name, "syscall_", 8) == 0;
        bare += table[k].implemented && !table[k].has_metadata;
    }
    fprintf(stderr, "  %zu syscalls (%zu implemented), %zu handlers checked against kallsyms, "
            "%zu without metadata\n", n, implemented, checked, bare);
    CHECK_MSG(checked == implemented, "%zu of %zu handlers found in kallsyms", checked,
              implemented);
    CHECK_EQ(unnamed, 0);
    CHECK_MSG(bare <= 2, "%zu implemented syscalls without metadata", bare);
}

/* Signatures from the kernel's own SYSCALL_DEFINEs, which no kernel changes. */
static void check_signature(const char *name, uint32_t nr, const char *const *types,
                            const char *const *names, int nargs)
{
    const vmic_syscall_t *sc;
    CHECK_OK(vmic_os_syscall_by_name(os, name, &sc));
    CHECK_EQ(sc->nr, nr);
    CHECK_EQ(sc->nargs, nargs);
    for (int i = 0; i < nargs; i++) {
        CHECK_STR(sc->args[i].type, types[i]);
        CHECK_STR(sc->args[i].name, names[i]);
    }
}

static void test_metadata_of_well_known_calls(void)
{
    static const char *const ot[] = {"int", "const char *", "int", "umode_t"};
    static const char *const on[] = {"dfd", "filename", "flags", "mode"};
    static const char *const rt[] = {"unsigned int", "char *", "size_t"};
    static const char *const wt[] = {"unsigned int", "const char *", "size_t"};
    static const char *const rn[] = {"fd", "buf", "count"};
    static const char *const et[] = {"const char *", "const char *const *",
                                     "const char *const *"};
    static const char *const en[] = {"filename", "argv", "envp"};
    static const char *const xt[] = {"int"};
    static const char *const xn[] = {"error_code"};
    check_signature("read", 0, rt, rn, 3);
    check_signature("write", 1, wt, rn, 3);
    check_signature("execve", 59, et, en, 3);
    check_signature("exit_group", 231, xt, xn, 1);
    check_signature("openat", 257, ot, on, 4);
    const vmic_syscall_t *sc;
    CHECK_ERR(vmic_os_syscall_by_name(os, "no_such_call", &sc), VMIC_E_NOTFOUND);
    CHECK_ERR(vmic_os_syscall(os, 100000, &sc), VMIC_E_RANGE);
}

/* The guest idles in init's wait when the dump is taken: vCPU 0 runs a task
 * the guest listed, or its idle task. */
static void test_current_task(void)
{
    vmic_amd64_regs_t regs;
    vmic_va_t task;
    vmic_process_t p;
    char line[512];
    CHECK_OK(vmic_get_regs(core, 0, &regs));
    CHECK_OK(vmic_os_current_task(os, &regs, &task));
    CHECK_OK(vmic_os_task(os, task, &p));
    fprintf(stderr, "  vCPU 0 ran pid %d (%s), task 0x%llx\n", (int)p.pid, p.comm,
            (unsigned long long)task.addr);
    if (p.pid == 0) {
        const truth_sym *init = truth_find_sym(syms, nsyms, "init_task");
        CHECK(init != NULL);
        CHECK_EQ(task.addr, init->addr);
        CHECK_STR(p.comm, "swapper/0");
        return;
    }
    bool listed = false;
    FILE *f = truth_open(dir, "procs.txt");
    CHECK(f != NULL);
    while (fgets(line, sizeof line, f))
        listed |= atoi(line) == p.tgid;
    fclose(f);
    CHECK_MSG(listed, "pid %d is not in the guest's process list", (int)p.tgid);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !fixture_present(argv[1])) {
        fprintf(stderr, "skip: no fixture at %s (scripts/make-fixture.sh makes it)\n",
                argc < 2 ? "(none given)" : argv[1]);
        return TEST_SKIP;
    }
    dir = argv[1];
    syms = truth_kallsyms(dir, &nsyms);
    if (nsyms < 1000 || !open_dump()) {
        fprintf(stderr, "fixture %s: no usable kallsyms truth or dump\n", dir);
        return 1;
    }
    RUN(test_handlers_are_where_kallsyms_says);
    RUN(test_metadata_of_well_known_calls);
    RUN(test_current_task);
    vmic_os_close(os);
    vmic_core_close(core);
    free(syms);
    return HARNESS_RESULT();
}
