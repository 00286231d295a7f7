/*
 * vmic check on a live guest: the fixture's kernel booted by `vmic boot`,
 * hooked by this test through vmic's own writes into guest memory, the way
 * a rootkit would change it, and `vmic check qemu:DIR` must report exactly
 * those hooks, and nothing before them:
 *
 *   argv[1]  the vmic binary      argv[2]  a fixture dir (vmlinuz, initrd.gz)
 *
 *   (a) sys_call_table[vhangup] pointed at the text of the module minix
 *       (nobody in the workload calls vhangup, so the guest lives on);
 *   (b) vmic-sleeper-a, a sleeping single-threaded process of the workload,
 *       unlinked from the task list (prev->next = next, next->prev = prev):
 *       the pid IDR still has it;
 *   (c) the module dummy unlinked from the `modules` list the same way:
 *       sysfs (module_kset) still has it.
 *
 * What follows from them and nothing else: one row each. The syscall entry
 * names minix because minix stays on the list; the hidden task is one row
 * (its thread list is its own); dummy's memory is no longer any listed
 * module's, which no check cares about while nothing points into it.
 *
 * The truth of what was written comes from this boot's guest (its ps and
 * /proc/modules on ttyS1), not from vmic. The guest is booted as the
 * fixture was made (its shape.txt: CPU model, PTI, RAM; one vCPU, see
 * tests/qemu/fixture_boot.py), so the 5-level PTI fixture boots with
 * LA57. It is stopped at the end; nothing is restored.
 */
#include <inttypes.h>

#include "harness.h"
#include "live.h"
#include "truth.h"

#define HOOKED_SYSCALL "vhangup"
#define HIDDEN_COMM "vmic-sleeper-a"
#define HIDDEN_MODULE "dummy"
#define TARGET_MODULE "minix"

static const char *vmic_bin;
static char dir[256], truth_dir[256], target[300];
static char out[1 << 18];

/* vmic check --json TARGET: its exit status, its stdout in out. */
static int run_check(void)
{
    char *argv[] = {(char *)vmic_bin, "check", "--json", target, NULL};
    int rc = live_run(argv, out, sizeof out, 180);
    fprintf(stderr, "  vmic check: exit %d: %s\n", rc, out);
    return rc;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* The pid of comm in this boot's truth ps ("PID PPID COMMAND ARGS"). */
static int32_t truth_pid(const char *comm)
{
    FILE *f = truth_open(truth_dir, "ps.txt");
    char line[1024], c[64];
    int pid, ppid;
    int32_t found = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "%d %d %63s", &pid, &ppid, c) == 3 && strcmp(c, comm) == 0)
            found = pid;
    if (f)
        fclose(f);
    return found;
}

/* The base of module name in this boot's truth /proc/modules (last column). */
static uint64_t truth_module_base(const char *name)
{
    FILE *f = truth_open(truth_dir, "modules.txt");
    char line[1024], n[64];
    uint64_t base = 0;
    while (f && fgets(line, sizeof line, f)) {
        const char *last = strrchr(line, ' ');
        if (sscanf(line, "%63s", n) == 1 && strcmp(n, name) == 0 && last)
            base = strtoull(last + 1, NULL, 16);
    }
    if (f)
        fclose(f);
    return base;
}

typedef struct find_mod {
    const char *name;
    vmic_va_t module;
} find_mod;

static int find_module(void *arg, const vmic_module_t *m)
{
    find_mod *fm = arg;
    if (strcmp(m->name, fm->name))
        return 0;
    fm->module = m->module;
    return 1;
}

/* Unlinks the list_head at node from its list, as list_del does less the
 * poisoning: a rootkit leaves the node's own pointers alone. */
static bool unlink_node(vmic_core *core, vmic_ctx_t k, uint64_t node)
{
    uint64_t next, prev;
    if (vmic_read_u64_va(core, k, vmic_va(node), &next) ||
        vmic_read_u64_va(core, k, vmic_va(node + 8), &prev) ||
        vmic_write_va(core, k, vmic_va(prev), &next, 8) ||
        vmic_write_va(core, k, vmic_va(next + 8), &prev, 8)) {
        fprintf(stderr, "  unlinking 0x%" PRIx64 ": %s\n", node, vmic_errmsg());
        return false;
    }
    return true;
}

static uint32_t hooked_nr;
static int32_t hidden_pid;
static uint64_t target_base, hidden_task, hidden_mod;

static void test_clean_guest_has_nothing(void)
{
    CHECK_EQ(run_check(), 0);
    CHECK_STR(out, "[]\n");
}

/* The three writes, with the session open and the VM paused: a failed
 * check returns here and the caller still closes the session. */
static void write_hooks_with(vmic_core *core, vmic_os *os)
{
    vmic_ctx_t k = vmic_os_kernel_ctx(os);
    const vmic_syscall_t *sc;
    vmic_va_t table;
    vmic_field_t tasks, list;
    vmic_process_t p;
    find_mod fm = {.name = HIDDEN_MODULE};
    CHECK_OK(vmic_os_syscall_by_name(os, HOOKED_SYSCALL, &sc));
    CHECK_OK(vmic_os_symbol(os, "sys_call_table", &table));
    CHECK_OK(vmic_os_field(os, "task_struct.tasks", &tasks));
    CHECK_OK(vmic_os_field(os, "module.list", &list));
    CHECK_OK(vmic_os_process_find(os, hidden_pid, &p));
    CHECK_OK(vmic_os_modules(os, find_module, &fm));
    CHECK_STR(p.comm, HIDDEN_COMM);
    CHECK(p.nthreads == 1);
    CHECK(fm.module.addr != 0);
    hooked_nr = sc->nr;
    hidden_task = p.task.addr;
    hidden_mod = fm.module.addr;
    CHECK_OK(vmic_write_va(core, k, vmic_va(table.addr + 8 * hooked_nr), &target_base, 8));
    CHECK(unlink_node(core, k, hidden_task + tasks.offset));
    CHECK(unlink_node(core, k, hidden_mod + list.offset));
}

static void test_write_hooks(void)
{
    hidden_pid = truth_pid(HIDDEN_COMM);
    target_base = truth_module_base(TARGET_MODULE);
    CHECK_MSG(hidden_pid > 0, "no %s in this boot's ps", HIDDEN_COMM);
    CHECK_MSG(target_base != 0, "no %s in this boot's /proc/modules", TARGET_MODULE);
    if (hidden_pid <= 0 || !target_base)
        return;

    vmic_driver *drv;
    vmic_core *core;
    vmic_os *os;
    vmic_qemu_config_t cfg = {.timeout_ms = 10000, .stay_paused = true};
    vmic_status s = vmic_qemu_open_target(target, &cfg, &drv);
    if (s == VMIC_OK)
        s = vmic_core_open(drv, NULL, &core);
    CHECK_MSG(s == VMIC_OK, "open %s: %s", target, vmic_errmsg());
    if (s)
        return;
    s = vmic_os_open(core, NULL, &os);
    CHECK_MSG(s == VMIC_OK, "os: %s", vmic_errmsg());
    if (s) {
        vmic_core_close(core);
        return;
    }
    write_hooks_with(core, os);
    vmic_os_close(os);
    if (vmic_resume(core) != VMIC_OK) {
        fprintf(stderr, "  resume: %s\n", vmic_errmsg());
        harness_current_failed = 1;
    }
    vmic_core_close(core);
}

static void test_hooks_found_exactly(void)
{
    char want[512];
    CHECK_EQ(run_check(), 3);
    CHECK_EQ(count(out, "\"check\":"), 3);

    snprintf(want, sizeof want, "{\"check\":\"syscall-table\",\"nr\":%u,\"name\":\"%s\","
             "\"address\":\"0x%" PRIx64 "\",\"where\":\"module %s\"}", hooked_nr, HOOKED_SYSCALL,
             target_base, TARGET_MODULE);
    CHECK_MSG(strstr(out, want), "no %s", want);
    snprintf(want, sizeof want, "{\"check\":\"hidden-task\",\"nr\":%d,\"name\":\"%s\","
             "\"address\":\"0x%" PRIx64 "\",\"where\":\"in the pid IDR, not on the task list",
             (int)hidden_pid, HIDDEN_COMM, hidden_task);
    CHECK_MSG(strstr(out, want), "no %s", want);
    snprintf(want, sizeof want, "{\"check\":\"hidden-module\",\"nr\":-1,\"name\":\"%s\","
             "\"address\":\"0x%" PRIx64 "\",\"where\":\"in sysfs (module_kset), not on the "
             "module list\"}", HIDDEN_MODULE, hidden_mod);
    CHECK_MSG(strstr(out, want), "no %s", want);
}

/* key=value of the fixture's shape.txt, or fallback. */
static void shape_value(const char *fixture, const char *key, char *value, size_t size,
                        const char *fallback)
{
    char path[600], word[128];
    snprintf(value, size, "%s", fallback);
    snprintf(path, sizeof path, "%s/shape.txt", fixture);
    FILE *f = fopen(path, "r");
    size_t klen = strlen(key);
    while (f && fscanf(f, "%127s", word) == 1)
        if (strncmp(word, key, klen) == 0 && word[klen] == '=')
            snprintf(value, size, "%s", word + klen + 1);
    if (f)
        fclose(f);
}

/* vmic boot of the fixture's kernel in its shape; 0, 77 (a loud skip) or 1. */
static int boot(const char *fixture)
{
    char kernel[600], initrd[600], cpu[64], ram[32], pti[32], append[128];
    static char boot_out[8192];
    live_require_qemu("vmic check live");
    snprintf(kernel, sizeof kernel, "%s/vmlinuz", fixture);
    snprintf(initrd, sizeof initrd, "%s/initrd.gz", fixture);
    if (access(kernel, R_OK) != 0 || access(initrd, R_OK) != 0) {
        fprintf(stderr, "*** SKIP: no fixture kernel in %s (scripts/make-fixture.sh) ***\n",
                fixture);
        return 77;
    }
    shape_value(fixture, "cpu", cpu, sizeof cpu, "qemu64");
    shape_value(fixture, "ram", ram, sizeof ram, "256");
    shape_value(fixture, "pti", pti, sizeof pti, "auto");
    snprintf(append, sizeof append, "console=ttyS0 panic=-1%s%s", strcmp(pti, "auto") ? " pti="
             : "", strcmp(pti, "auto") ? pti : "");
    live_tmpdir(dir, sizeof dir, "check");
    live_tmpdir(truth_dir, sizeof truth_dir, "truth");
    snprintf(target, sizeof target, "qemu:%s", dir);
    char *argv[] = {(char *)vmic_bin, "boot", "--quiet", "--dir", dir, "--kernel", kernel,
                    "--initrd", initrd, "--smp", "1", "--cpu", cpu, "-m", ram, "--append",
                    append, "--wait-serial", LIVE_READY, "--timeout", "240", NULL};
    double t0 = live_now();
    int rc = live_run(argv, boot_out, sizeof boot_out, 260);
    fprintf(stderr, "  vmic boot (cpu %s, %s MiB, %s): exit %d after %.1f s: %s", cpu, ram,
            append, rc, live_now() - t0, boot_out);
    if (rc != 0 || strncmp(boot_out, target, strlen(target)) != 0) {
        live_stop(vmic_bin, dir);
        return 1;
    }
    char serial[600];
    snprintf(serial, sizeof serial, "%s/serial1.log", dir);
    return live_split_truth(serial, truth_dir) ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s VMIC_BINARY FIXTURE_DIR\n", argv[0]);
        return 2;
    }
    vmic_bin = argv[1];
    double t0 = live_now();
    int rc = boot(argv[2]);
    if (rc)
        return rc;
    RUN(test_clean_guest_has_nothing);
    RUN(test_write_hooks);
    RUN(test_hooks_found_exactly);
    if (live_stop(vmic_bin, dir) != 0) {
        fprintf(stderr, "FAIL vmic boot --stop %s\n", dir);
        harness_failures++;
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", truth_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", truth_dir);
    fprintf(stderr, "  %.1f s in all\n", live_now() - t0);
    return harness_failures ? 1 : 0;
}
