/*
 * The current task and the saved user registers without vCPU registers
 * (what a tracer fed only a vCPU index has), on dumps of a real guest:
 *
 *  - for every CPU, vmic_os_current_task_of_cpu (__per_cpu_offset, memory
 *    only) names the same task as vmic_os_current_task with the GS base the
 *    ELF dump's notes hold for that vCPU: two methods, one answer; on the raw
 *    dump (no notes) the same as on the ELF dump. Each such call also checks
 *    the CPU's own cpu_number, so vCPU index = Linux CPU number is checked;
 *  - the per-CPU top of stack and task->stack + THREAD_SIZE agree on where
 *    each CPU's current task keeps its pt_regs;
 *  - the ISF profile (from DWARF) finds the same tasks as kallsyms + BTF;
 *  - every user process the guest's ps listed has saved user registers that
 *    are user addresses with the user code segment, and the processes the
 *    fixture parks in pause() (vmic-sleeper-a/-b, every vmic-marker thread:
 *    tests/fixtures/marker.c) have orig_ax 34, x86-64's __NR_pause.
 *
 *   test_percpu_real FIXTURE_DIR
 */
#include <inttypes.h>

#include <vmic/vmic.h>

#include "harness.h"
#include "truth.h"

#define NR_PAUSE 34       /* arch/x86/entry/syscalls/syscall_64.tbl */
#define USER_CS 0x33      /* __USER_CS: GDT entry 6, RPL 3 */
#define MAX_CPUS 64

static const char *dir;

static vmic_os *open_os_profile(const char *file, const char *profile, vmic_core **core)
{
    char path[4096], prof[4096];
    vmic_driver *drv;
    vmic_os *os;
    fixture_path(path, sizeof path, dir, file);
    if (profile)
        fixture_path(prof, sizeof prof, dir, profile);
    vmic_os_config_t cfg = {.profile = profile ? prof : NULL};
    if (vmic_dump_open(path, VMIC_DUMP_AUTO, &drv) != VMIC_OK ||
        vmic_core_open(drv, NULL, core) != VMIC_OK) {
        fprintf(stderr, "  cannot open %s: %s\n", path, vmic_errmsg());
        return NULL;
    }
    if (vmic_os_open(*core, &cfg, &os) != VMIC_OK) {
        fprintf(stderr, "  vmic_os_open(%s): %s\n", file, vmic_errmsg());
        vmic_core_close(*core);
        return NULL;
    }
    return os;
}

static vmic_os *open_os(const char *file, vmic_core **core)
{
    return open_os_profile(file, NULL, core);
}

static void close_os(vmic_os *os, vmic_core *core)
{
    vmic_os_close(os);
    vmic_core_close(core);
}

/* What the ELF dump said each CPU runs, for the raw dump to match. */
static vmic_va_t elf_current[MAX_CPUS];
static uint32_t elf_ncpus;

static void test_current_task_elf(void)
{
    vmic_core *core;
    vmic_os *os = open_os("dump.elf", &core);
    CHECK(os);
    uint32_t n = 0, nvcpus = vmic_vcpu_count(core);
    CHECK_OK(vmic_os_cpu_count(os, &n));
    fprintf(stderr, "  nr_cpu_ids %u, %u vCPUs in the ELF notes\n", n, nvcpus);
    CHECK(n >= 1 && n <= MAX_CPUS);
    /* Every vCPU QEMU has is a CPU of the kernel's. */
    CHECK(nvcpus >= 1 && nvcpus <= n);
    elf_ncpus = n;
    for (uint32_t cpu = 0; cpu < n; cpu++) {
        vmic_va_t task;
        vmic_process_t t;
        bool online = false;
        CHECK_OK(vmic_os_cpu_online(os, cpu, &online));
        CHECK_OK(vmic_os_current_task_of_cpu(os, cpu, &task));
        CHECK_OK(vmic_os_task(os, task, &t));
        elf_current[cpu] = task;
        fprintf(stderr, "  CPU %u (%s): pid %d (%s), task 0x%" PRIx64 "\n", cpu,
                online ? "online" : "offline", (int)t.pid, t.comm, task.addr);
        if (cpu >= nvcpus)
            continue;
        /* vCPU index cpu's own GS base says which per-CPU area is its own:
         * the same task means vcpu_index == Linux CPU number here. */
        vmic_amd64_regs_t regs;
        vmic_va_t by_regs;
        CHECK(online);
        CHECK_OK(vmic_get_regs(core, cpu, &regs));
        CHECK_OK(vmic_os_current_task(os, &regs, &by_regs));
        CHECK_EQ(task.addr, by_regs.addr);
    }
    /* Past the last CPU: a range error, not a read of whatever follows. */
    vmic_va_t none;
    CHECK_ERR(vmic_os_current_task_of_cpu(os, n, &none), VMIC_E_RANGE);
    CHECK_ERR(vmic_os_current_task_of_cpu(os, UINT32_MAX, &none), VMIC_E_RANGE);
    close_os(os, core);
}

static void test_current_task_raw(void)
{
    vmic_core *core;
    vmic_os *os = open_os("dump.raw", &core);
    CHECK(os);
    uint32_t n = 0;
    CHECK_OK(vmic_os_cpu_count(os, &n));
    CHECK_EQ(n, elf_ncpus);
    for (uint32_t cpu = 0; cpu < n; cpu++) {
        vmic_va_t task;
        CHECK_OK(vmic_os_current_task_of_cpu(os, cpu, &task));
        CHECK_EQ(task.addr, elf_current[cpu].addr);
    }
    close_os(os, core);
}

/* With the ISF profile (symbols and types from DWARF, not kallsyms and
 * BTF), the same CPUs run the same tasks with their pt_regs at the same
 * place. */
static void test_profile_same(void)
{
    vmic_core *core;
    vmic_os *os = open_os_profile("dump.raw", "profile.json.xz", &core);
    CHECK(os);
    uint32_t n = 0;
    CHECK_OK(vmic_os_cpu_count(os, &n));
    CHECK_EQ(n, elf_ncpus);
    for (uint32_t cpu = 0; cpu < n; cpu++) {
        vmic_va_t task, a, b;
        CHECK_OK(vmic_os_current_task_of_cpu(os, cpu, &task));
        CHECK_EQ(task.addr, elf_current[cpu].addr);
        CHECK_OK(vmic_os_cpu_pt_regs(os, cpu, &a));
        CHECK_OK(vmic_os_task_pt_regs(os, task, &b));
        CHECK_EQ(a.addr, b.addr);
    }
    close_os(os, core);
}

/* The two ways to the current task's pt_regs agree: the per-CPU top of
 * stack, and task->stack + THREAD_SIZE - padding (the boot CPU's idle task
 * on init_stack included). */
static void test_cpu_pt_regs(void)
{
    vmic_core *core;
    vmic_os *os = open_os("dump.raw", &core);
    CHECK(os);
    for (uint32_t cpu = 0; cpu < elf_ncpus; cpu++) {
        vmic_va_t task, a, b;
        CHECK_OK(vmic_os_current_task_of_cpu(os, cpu, &task));
        CHECK_OK(vmic_os_cpu_pt_regs(os, cpu, &a));
        CHECK_OK(vmic_os_task_pt_regs(os, task, &b));
        fprintf(stderr, "  CPU %u: pt_regs at 0x%" PRIx64 " (per-CPU top of stack), 0x%" PRIx64
                " (task->stack)\n", cpu, a.addr, b.addr);
        CHECK_EQ(a.addr, b.addr);
    }
    close_os(os, core);
}

/* Saved user registers must look like user mode's. */
static bool user_like(const vmic_pt_regs_t *r, uint64_t top)
{
    return r->ip && r->ip < top && r->sp && r->sp < top && r->cs == USER_CS;
}

typedef struct pause_check {
    vmic_os *os;
    uint64_t top;
    int threads, bad;
} pause_check;

static int thread_in_pause(void *arg, const vmic_process_t *t)
{
    pause_check *c = arg;
    vmic_va_t at;
    vmic_pt_regs_t r;
    c->threads++;
    if (vmic_os_task_pt_regs(c->os, t->task, &at) != VMIC_OK ||
        vmic_os_read_pt_regs(c->os, at, &r) != VMIC_OK) {
        fprintf(stderr, "  tid %d: %s\n", (int)t->pid, vmic_errmsg());
        c->bad++;
        return 0;
    }
    if (!user_like(&r, c->top) || r.orig_ax != NR_PAUSE) {
        fprintf(stderr, "  tid %d (%s): orig_ax %" PRId64 ", ip 0x%" PRIx64 ", sp 0x%" PRIx64
                ", cs 0x%" PRIx64 "\n", (int)t->pid, t->comm, (int64_t)r.orig_ax, r.ip, r.sp, r.cs);
        c->bad++;
    }
    return 0;
}

static void check_file(const char *file)
{
    vmic_core *core;
    vmic_os *os = open_os(file, &core);
    CHECK(os);
    const vmic_os_kernel_t *k = vmic_os_kernel(os);
    uint64_t top = (k->paging == VMIC_PAGING_5LEVEL ? 1ull << 56 : 1ull << 47) - 4096;
    FILE *f = truth_open(dir, "ps.txt");
    CHECK(f);
    char line[1024];
    int user = 0, paused = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        int pid, ppid;
        char comm[64];
        vmic_process_t p;
        vmic_va_t at;
        vmic_pt_regs_t r;
        if (sscanf(line, "%d %d %63s", &pid, &ppid, comm) != 3 ||
            vmic_os_process_find(os, pid, &p) != VMIC_OK || p.kernel_thread)
            continue;
        vmic_clear_error();
        user++;
        CHECK_OK(vmic_os_task_pt_regs(os, p.task, &at));
        CHECK_OK(vmic_os_read_pt_regs(os, at, &r));
        fprintf(stderr, "  pid %d (%s): orig_ax %" PRId64 ", ip 0x%" PRIx64 ", sp 0x%" PRIx64 "\n",
                pid, p.comm, (int64_t)r.orig_ax, r.ip, r.sp);
        if (!user_like(&r, top))
            bad++;
        if (strcmp(comm, "vmic-sleeper-a") == 0 || strcmp(comm, "vmic-sleeper-b") == 0 ||
            strcmp(comm, "vmic-marker") == 0) {
            pause_check c = {os, top, 0, 0};
            CHECK_OK(vmic_os_threads(os, &p, thread_in_pause, &c));
            paused += c.threads;
            bad += c.bad;
        }
    }
    fclose(f);
    fprintf(stderr, "  %s: %d user processes, %d threads in pause(), %d wrong\n", file, user,
            paused, bad);
    /* The two sleepers and the marker's three threads. */
    CHECK(paused >= 5);
    CHECK_EQ(bad, 0);
    close_os(os, core);
}

static void test_user_pt_regs_elf(void) { check_file("dump.elf"); }
static void test_user_pt_regs_raw(void) { check_file("dump.raw"); }

int main(int argc, char **argv)
{
    if (argc < 2 || !fixture_present(argv[1])) {
        fprintf(stderr, "skip: no fixture\n");
        return TEST_SKIP;
    }
    dir = argv[1];
    RUN(test_current_task_elf);
    RUN(test_current_task_raw);
    RUN(test_cpu_pt_regs);
    RUN(test_user_pt_regs_elf);
    RUN(test_user_pt_regs_raw);
    /* --no-dwarf fixtures (cloud, rt) have no profile. */
    FILE *dwarf = truth_open(dir, "../dwarf-offsets.txt");
    if (dwarf) {
        fclose(dwarf);
        RUN(test_profile_same);
    } else {
        fprintf(stderr, "note: no DWARF in this fixture (--no-dwarf): the ISF profile not checked\n");
    }
    return HARNESS_RESULT();
}
