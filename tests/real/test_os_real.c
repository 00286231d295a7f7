/*
 * The Linux OS layer on dumps of a real guest, checked field by field
 * against what the guest said about itself (the truth/ files): kallsyms,
 * the process list from /proc, /proc/modules, the marker process's maps,
 * threads and open files, dmesg, and the marker strings at the addresses
 * the marker printed. Every check runs with no profile (kallsyms and BTF
 * from guest memory) on the ELF dump (root from the vCPU registers) and on
 * the raw dump (root found by search), and again with the ISF profile that
 * gdb made from the -dbg package's DWARF.
 *
 *   test_os_real FIXTURE_DIR
 */
#include <time.h>

#include <vmic/vmic.h>

#include "harness.h"
#include "truth.h"

static const char *dir;
static truth_sym *syms;
static size_t nsyms;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t truth_addr(const char *name)
{
    const truth_sym *s = truth_find_sym(syms, nsyms, name);
    return s ? s->addr : 0;
}

static vmic_os *open_os(const char *file, const char *profile, vmic_core **core)
{
    char path[4096], prof[4096];
    vmic_driver *drv;
    vmic_os *os;
    fixture_path(path, sizeof path, dir, file);
    if (vmic_dump_open(path, VMIC_DUMP_AUTO, &drv) != VMIC_OK ||
        vmic_core_open(drv, NULL, core) != VMIC_OK) {
        fprintf(stderr, "  cannot open %s: %s\n", path, vmic_errmsg());
        return NULL;
    }
    if (profile)
        fixture_path(prof, sizeof prof, dir, profile);
    vmic_os_config_t cfg = {.profile = profile ? prof : NULL};
    if (vmic_os_open(*core, &cfg, &os) != VMIC_OK) {
        fprintf(stderr, "  vmic_os_open(%s%s%s): %s\n", file, profile ? ", " : "",
                profile ? profile : "", vmic_errmsg());
        vmic_core_close(*core);
        return NULL;
    }
    return os;
}

/* ---- the kernel ---------------------------------------------------------- */

static void check_kernel(vmic_os *os, const char *root_source)
{
    const vmic_os_kernel_t *k = vmic_os_kernel(os);
    char version[512];
    CHECK_EQ(k->text.addr, truth_addr("_text"));
    CHECK_EQ(k->slide, truth_addr("_text") - 0xffffffff81000000ull);
    CHECK(truth_line(dir, "version.txt", version, sizeof version));
    CHECK_STR(k->banner, version);
    CHECK(strstr(version, k->release) != NULL);
    CHECK_MSG(strncmp(k->root_source, root_source, strlen(root_source)) == 0,
              "root from '%s', expected '%s'", k->root_source, root_source);
    /* As the guest's own /proc/cpuinfo says: la57 for 5-level paging, pti
     * for page-table isolation (the qemu64 CPU is AMD: no PTI unless pti=on). */
    CHECK_EQ(k->paging, truth_cpu_flag(dir, "la57") ? VMIC_PAGING_5LEVEL : VMIC_PAGING_4LEVEL);
    CHECK_EQ(k->pti, truth_cpu_flag(dir, "pti"));
    CHECK(k->paging_source && *k->paging_source);
    CHECK_EQ(k->kernel_half.addr, truth_cpu_flag(dir, "la57") ? 0xff00000000000000ull
                                                               : 0xffff800000000000ull);
    /* The image ends at or after _end (the page tables map whole pages). */
    CHECK(k->end.addr >= truth_addr("_end") && k->end.addr - truth_addr("_end") < (2u << 20));
    const truth_range *code = NULL;
    size_t niomem;
    truth_range *io = truth_iomem(dir, &niomem);
    code = truth_find_range(io, niomem, "Kernel code");
    CHECK(code);
    CHECK_EQ(k->text_pa.addr, code->start);
    free(io);
}

static void test_kernel_elf(void)
{
    vmic_core *core;
    vmic_os *os = open_os("dump.elf", NULL, &core);
    CHECK(os);
    check_kernel(os, "vCPU 0 CR3");
    const vmic_os_kernel_t *k = vmic_os_kernel(os);
    CHECK_STR(k->symbols, "kallsyms");
    CHECK_STR(k->types, "btf");
    CHECK_EQ(k->btf.addr, truth_addr("__start_BTF"));
    CHECK_EQ(k->btf_size, truth_addr("__stop_BTF") - truth_addr("__start_BTF"));
    vmic_os_close(os);
    vmic_core_close(core);
}

static int count_one(void *arg, const vmic_process_t *p)
{
    (void)p;
    ++*(size_t *)arg;
    return 0;
}

static void test_kernel_raw_search(void)
{
    vmic_core *core;
    vmic_os *os = open_os("dump.raw", NULL, &core);
    CHECK(os);
    check_kernel(os, "search");
    vmic_os_close(os);
    vmic_core_close(core);
}

/*
 * On a raw dump of a 5-level guest, a PML4 (entry 511 of the PML5) walked as
 * 4 levels maps the kernel image too. Given that table as the root, vmic
 * must learn the mode from the kernel (__pgtable_l5_enabled), move to
 * init_top_pgt, and then see every process; and --paging 4 on the same
 * dump must stay 4-level (the caller's word), so the direct map is out of
 * reach and the task list says so rather than guessing.
 */
static void test_kernel_decides_paging(void)
{
    if (!truth_cpu_flag(dir, "la57")) {
        fprintf(stderr, "  note: a 4-level guest: nothing to decide\n");
        return;
    }
    vmic_core *core;
    vmic_os *os = open_os("dump.raw", NULL, &core);
    CHECK(os);
    uint64_t pml5 = vmic_os_kernel(os)->root.addr, p4d = 0;
    size_t nprocs = 0;
    CHECK_OK(vmic_read_pa(core, vmic_pa(pml5 + 511 * 8), &p4d, 8));
    p4d &= 0x000ffffffffff000ull;
    CHECK_OK(vmic_os_processes(os, count_one, &nprocs));
    vmic_os_close(os);
    vmic_core_close(core);

    char path[4096];
    vmic_driver *drv;
    fixture_path(path, sizeof path, dir, "dump.raw");
    CHECK_OK(vmic_dump_open(path, VMIC_DUMP_RAW, &drv));
    CHECK_OK(vmic_core_open(drv, NULL, &core));
    vmic_os_config_t cfg = {.root = p4d};
    CHECK_OK(vmic_os_open(core, &cfg, &os));
    const vmic_os_kernel_t *k = vmic_os_kernel(os);
    CHECK_EQ(k->paging, VMIC_PAGING_5LEVEL);
    CHECK_STR(k->root_source, "init_top_pgt");
    /* init_top_pgt where the guest's kallsyms puts it, in the image. */
    CHECK_EQ(k->root.addr, truth_addr("init_top_pgt") - truth_addr("_text") + k->text_pa.addr);
    CHECK_MSG(strstr(k->paging_source, "__pgtable_l5_enabled"), "paging from '%s'",
              k->paging_source);
    size_t n = 0;
    CHECK_OK(vmic_os_processes(os, count_one, &n));
    CHECK_EQ(n, nprocs);
    vmic_os_close(os);
    vmic_core_close(core);

    CHECK_OK(vmic_dump_open(path, VMIC_DUMP_RAW, &drv));
    CHECK_OK(vmic_core_open(drv, NULL, &core));
    cfg.paging = 4;
    CHECK_OK(vmic_os_open(core, &cfg, &os));
    CHECK_EQ(vmic_os_kernel(os)->paging, VMIC_PAGING_4LEVEL);
    CHECK_STR(vmic_os_kernel(os)->paging_source, "--paging 4");
    n = 0;
    CHECK(vmic_os_processes(os, count_one, &n) != VMIC_OK);
    CHECK_ERRMSG("task list");
    vmic_os_close(os);
    vmic_core_close(core);
}

/* ---- kallsyms ---------------------------------------------------------------- */

static const truth_sym *qsort_syms;

static int by_name_then_index(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = strcmp(qsort_syms[x].name, qsort_syms[y].name);
    return c ? c : (x > y) - (x < y);
}

static void test_kallsyms_match_proc_kallsyms(void)
{
    vmic_core *core;
    vmic_os *os = open_os("dump.elf", NULL, &core);
    CHECK(os);
    /* /proc/kallsyms lists the core kernel's table in its own order, then
     * module symbols: the decoded table must be exactly its first part. */
    size_t core_syms = 0;
    while (core_syms < nsyms && !syms[core_syms].module)
        core_syms++;
    size_t n = vmic_os_symbol_count(os), wrong = 0;
    fprintf(stderr, "  %zu symbols decoded, %zu core symbols in /proc/kallsyms\n", n, core_syms);
    CHECK_EQ(n, core_syms);
    for (size_t i = 0; i < n; i++) {
        vmic_symbol_t s;
        CHECK_OK(vmic_os_symbol_get(os, i, &s));
        if (s.addr.addr != syms[i].addr || strcmp(s.name, syms[i].name) != 0 ||
            s.type != syms[i].type) {
            if (wrong++ < 5)
                fprintf(stderr, "  #%zu: %016lx %c %s, truth %016lx %c %s\n", i, s.addr.addr,
                        s.type, s.name, syms[i].addr, syms[i].type, syms[i].name);
        }
    }
    CHECK_EQ(wrong, 0);

    /* Name -> address for every name, timed; of duplicate names the first
     * (lowest address), as the kernel's kallsyms_lookup_name answers. */
    uint64_t *got = calloc(n, sizeof *got);
    size_t *order = calloc(n, sizeof *order);
    CHECK(got && order);
    double t0 = now();
    for (size_t i = 0; i < n; i++) {
        vmic_va_t a = {0};
        if (vmic_os_symbol(os, syms[i].name, &a) != VMIC_OK)
            fprintf(stderr, "  %s: %s\n", syms[i].name, vmic_errmsg());
        got[i] = a.addr;
    }
    double dt = now() - t0;
    fprintf(stderr, "  %zu name lookups: %.2f us each\n", n, dt / (double)n * 1e6);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    qsort_syms = syms;
    qsort(order, n, sizeof *order, by_name_then_index);
    size_t bad = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        size_t first = k;
        while (first > 0 && strcmp(syms[order[first - 1]].name, syms[i].name) == 0)
            first--;
        if (got[i] != syms[order[first]].addr && bad++ < 5)
            fprintf(stderr, "  %s: 0x%lx, truth 0x%lx\n", syms[i].name, got[i],
                    syms[order[first]].addr);
    }
    free(got);
    free(order);
    CHECK_EQ(bad, 0);
    CHECK_ERR(vmic_os_symbol(os, "no_such_symbol_in_any_kernel", &(vmic_va_t){0}),
              VMIC_E_NOTFOUND);
    CHECK_ERRMSG("no_such_symbol_in_any_kernel");

    /* Address -> name: inside a function gives function+offset. */
    vmic_symbol_t s;
    uint64_t off;
    CHECK_OK(vmic_os_symbol_at(os, vmic_va(truth_addr("start_kernel") + 5), &s, &off));
    CHECK_STR(s.name, "start_kernel");
    CHECK_EQ(off, 5);
    vmic_os_close(os);
    vmic_core_close(core);
}

/* ---- processes ------------------------------------------------------------------- */

typedef struct tproc {
    int pid, ppid;
    char comm[64];
    char cmdline[512];
    bool seen;
} tproc;

static tproc *truth_procs(size_t *n)
{
    FILE *f = truth_open(dir, "procs.txt");
    static tproc v[1024];
    char line[1024];
    *n = 0;
    if (!f)
        return NULL;
    while (fgets(line, sizeof line, f) && *n < 1024) {
        tproc p = {0};
        line[strcspn(line, "\n")] = '\0';
        char *f1 = strtok(line, "\t"), *f2 = strtok(NULL, "\t"), *f3 = strtok(NULL, "\t"),
             *f4 = strtok(NULL, "\t");
        if (!f1 || !f2 || !f3)
            continue;
        p.pid = atoi(f1);
        p.ppid = atoi(f2);
        snprintf(p.comm, sizeof p.comm, "%s", f3);
        snprintf(p.cmdline, sizeof p.cmdline, "%s", f4 ? f4 : "");
        v[(*n)++] = p;
    }
    fclose(f);
    return v;
}

typedef struct ps_run {
    vmic_os *os;
    vmic_process_t procs[1024];
    size_t n;
} ps_run;

static int collect(void *arg, const vmic_process_t *p)
{
    ps_run *r = arg;
    if (r->n < 1024)
        r->procs[r->n++] = *p;
    return 0;
}

/* /proc shows a kworker's comm with its current workqueue appended, and a
 * kernel thread's full name where comm (TASK_COMM_LEN) cut it. */
static bool same_comm(const char *vmic, const char *truth)
{
    size_t n = strlen(vmic);
    if (strcmp(vmic, truth) == 0)
        return true;
    if (n == VMIC_COMM_LEN - 1 && strncmp(vmic, truth, n) == 0)
        return true;
    return strncmp(vmic, "kworker/", 8) == 0 && strncmp(vmic, truth, n) == 0 && truth[n] == '-';
}

/* The helpers the guest ran while taking its truth, gone by dump time
 * (tests/fixtures/README.md): the ps/cat/awk/sort children of init and its
 * forked subshells. Only these may be missing, and only with a pid above
 * every long-lived process. */
static bool exited_helper(const tproc *t, int last_long_lived)
{
    static const char *const helpers[] = {"ps", "awk", "sort", "init", "cat", "tr", "cut",
                                          "readlink", "sh"};
    if (t->pid <= last_long_lived)
        return false;
    for (size_t i = 0; i < sizeof helpers / sizeof helpers[0]; i++)
        if (strcmp(t->comm, helpers[i]) == 0)
            return true;
    return false;
}

static void check_processes(vmic_os *os)
{
    size_t nt;
    tproc *truth = truth_procs(&nt);
    CHECK(truth && nt > 40);
    int marker_pid = 0;
    char line[256];
    CHECK(truth_line(dir, "marker.txt", line, sizeof line));
    CHECK(sscanf(line, "pid=%d", &marker_pid) == 1);

    static ps_run r;
    r.n = 0;
    r.os = os;
    CHECK_OK(vmic_os_processes(os, collect, &r));
    CHECK(r.n > 40);
    CHECK_EQ(r.procs[0].pid, 0); /* init_task */

    /* The last long-lived process: `sleep 3600` or the marker, whichever
     * the guest happened to start last. */
    int last_long_lived = marker_pid, sleeps = 0;
    for (size_t i = 0; i < nt; i++)
        if (strcmp(truth[i].comm, "sleep") == 0) {
            sleeps++;
            if (truth[i].pid > last_long_lived)
                last_long_lived = truth[i].pid;
        }
    CHECK(sleeps >= 1 && marker_pid > 1);

    size_t matched = 0, missing = 0;
    for (size_t i = 0; i < nt; i++) {
        tproc *t = &truth[i];
        const vmic_process_t *p = NULL;
        for (size_t k = 0; k < r.n; k++)
            if (r.procs[k].tgid == t->pid)
                p = &r.procs[k];
        if (!p) {
            CHECK_MSG(exited_helper(t, last_long_lived), "pid %d (%s) of the guest's truth is "
                      "missing", t->pid, t->comm);
            missing++;
            continue;
        }
        t->seen = true;
        matched++;
        CHECK_EQ(p->pid, t->pid);
        CHECK_MSG(p->ppid == t->ppid, "pid %d: ppid %d, truth %d", t->pid, p->ppid, t->ppid);
        CHECK_MSG(same_comm(p->comm, t->comm), "pid %d: comm '%s', truth '%s'", t->pid, p->comm,
                  t->comm);
        CHECK(!p->partial);
        /* Command lines from each process's own memory. */
        char cmd[4096];
        size_t len;
        CHECK_OK(vmic_os_process_cmdline(os, p, cmd, sizeof cmd, &len));
        for (size_t k = 0; k < len; k++)
            if (cmd[k] == '\0')
                cmd[k] = ' ';
        CHECK_MSG(strcmp(cmd, t->cmdline) == 0, "pid %d: cmdline '%s', truth '%s'", t->pid, cmd,
                  t->cmdline);
        CHECK_EQ(p->kernel_thread, t->cmdline[0] == '\0');
        CHECK(p->kernel_thread ? p->root.addr == 0 : p->root.addr != 0);
        CHECK_EQ(p->uid, 0); /* the initramfs runs everything as root */
        CHECK(p->state == 'S' || p->state == 'I' || p->state == 'R');
    }
    /* And nothing the guest did not list, but the idle task. */
    for (size_t k = 1; k < r.n; k++) {
        bool known = false;
        for (size_t i = 0; i < nt; i++)
            known |= truth[i].pid == r.procs[k].tgid;
        CHECK_MSG(known, "pid %d (%s) is not in the guest's truth", r.procs[k].tgid,
                  r.procs[k].comm);
    }
    fprintf(stderr, "  %zu processes match the truth, %zu exited helpers, +pid 0\n", matched,
            missing);
    CHECK(missing <= 6);
    CHECK_EQ(matched + 1, r.n);
}

/* ---- the marker process ---------------------------------------------------------- */

static bool marker(vmic_os *os, vmic_process_t *p, uint64_t *heap, uint64_t *data, uint64_t *stack)
{
    char line[256];
    int pid;
    if (!truth_line(dir, "marker.txt", line, sizeof line) ||
        sscanf(line, "pid=%d heap=%lx data=%lx stack=%lx", &pid, heap, data, stack) != 4)
        return false;
    return vmic_os_process_find(os, pid, p) == VMIC_OK && p->tgid == pid;
}

static void check_marker_strings(vmic_os *os)
{
    vmic_process_t p;
    uint64_t addr[3];
    CHECK(marker(os, &p, &addr[0], &addr[1], &addr[2]));
    FILE *f = truth_open(dir, "marker-strings.txt");
    CHECK(f);
    char want[3][128] = {{0}};
    char line[256];
    int k = 0;
    while (fgets(line, sizeof line, f) && k < 3) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        line[strcspn(line, "\n")] = '\0';
        snprintf(want[k++], sizeof want[0], "%s", eq + 1);
    }
    fclose(f);
    CHECK_EQ(k, 3);
    for (int i = 0; i < 3; i++) {
        char got[128] = {0};
        CHECK_OK(vmic_os_process_read(os, &p, vmic_va(addr[i]), got, strlen(want[i]) + 1));
        CHECK_STR(got, want[i]);
        /* Without PTI the user root is the same table; with it, the next page. */
        CHECK_EQ(p.user_root.addr, p.root.addr + (truth_cpu_flag(dir, "pti") ? 4096 : 0));
    }
    /* The same address in another process's space is not the marker's. */
    vmic_process_t init;
    char other[64] = {0};
    CHECK_OK(vmic_os_process_find(os, 1, &init));
    if (vmic_os_process_read(os, &init, vmic_va(addr[0]), other, 40) == VMIC_OK)
        CHECK(strcmp(other, want[0]) != 0);
    vmic_clear_error();
}

typedef struct lines {
    char v[128][600];
    size_t n;
} lines;

static int region_line(void *arg, const vmic_region_t *r)
{
    lines *l = arg;
    if (l->n < 128) {
        char perms[5] = {r->access & VMIC_ACCESS_R ? 'r' : '-', r->access & VMIC_ACCESS_W ? 'w' : '-',
                         r->access & VMIC_ACCESS_X ? 'x' : '-', r->shared ? 's' : 'p', 0};
        snprintf(l->v[l->n++], sizeof l->v[0], "%08lx-%08lx %s %08lx %02x:%02x %lu %s",
                 r->start.addr, r->end.addr, perms, r->offset, r->dev_major, r->dev_minor,
                 r->inode, r->path);
    }
    return 0;
}

static size_t truth_lines(const char *file, lines *l, bool squeeze)
{
    FILE *f = truth_open(dir, file);
    char line[1024];
    l->n = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f) && l->n < 128) {
        line[strcspn(line, "\n")] = '\0';
        char *o = l->v[l->n];
        size_t w = 0;
        /* /proc/PID/maps pads before the path: compare with single spaces. */
        for (char *c = line; *c && w + 1 < sizeof l->v[0]; c++) {
            if (squeeze && *c == ' ' && (w == 0 || o[w - 1] == ' '))
                continue;
            o[w++] = *c;
        }
        while (squeeze && w && o[w - 1] == ' ')
            w--;
        o[w] = '\0';
        l->n++;
    }
    fclose(f);
    return l->n;
}

static void check_maps(vmic_os *os)
{
    vmic_process_t p;
    uint64_t a[3];
    static lines got, want;
    CHECK(marker(os, &p, &a[0], &a[1], &a[2]));
    got.n = 0;
    CHECK_OK(vmic_os_regions(os, &p, region_line, &got));
    for (size_t i = 0; i < got.n; i++) {
        size_t w = strlen(got.v[i]);
        while (w && got.v[i][w - 1] == ' ')
            got.v[i][--w] = '\0';
    }
    CHECK(truth_lines("maps-marker.txt", &want, true) >= 8);
    CHECK_EQ(got.n, want.n);
    for (size_t i = 0; i < want.n; i++)
        CHECK_STR(got.v[i], want.v[i]);
}

static int thread_line(void *arg, const vmic_process_t *t)
{
    lines *l = arg;
    if (l->n < 128)
        snprintf(l->v[l->n++], sizeof l->v[0], "%d %s", t->pid, t->comm);
    return 0;
}

static int cmp_lines(const void *a, const void *b)
{
    return atoi(a) - atoi(b);
}

static void check_threads(vmic_os *os)
{
    vmic_process_t p;
    uint64_t a[3];
    static lines got, want;
    CHECK(marker(os, &p, &a[0], &a[1], &a[2]));
    got.n = 0;
    CHECK_OK(vmic_os_threads(os, &p, thread_line, &got));
    qsort(got.v, got.n, sizeof got.v[0], cmp_lines);
    CHECK(truth_lines("threads-marker.txt", &want, false) == 3);
    qsort(want.v, want.n, sizeof want.v[0], cmp_lines); /* the guest's glob sorts as text */
    CHECK_EQ(got.n, want.n);
    CHECK_EQ(p.nthreads, want.n);
    for (size_t i = 0; i < want.n; i++)
        CHECK_STR(got.v[i], want.v[i]);
}

static int file_line(void *arg, const vmic_open_file_t *f)
{
    lines *l = arg;
    if (l->n < 128)
        snprintf(l->v[l->n++], sizeof l->v[0], "%d %s", f->fd, f->path);
    return 0;
}

static void check_files(vmic_os *os)
{
    vmic_process_t p;
    uint64_t a[3];
    static lines got, want;
    CHECK(marker(os, &p, &a[0], &a[1], &a[2]));
    got.n = 0;
    CHECK_OK(vmic_os_files(os, &p, file_line, &got));
    CHECK(truth_lines("fds-marker.txt", &want, false) >= 4);
    CHECK_EQ(got.n, want.n);
    for (size_t i = 0; i < want.n; i++)
        CHECK_STR(got.v[i], want.v[i]);
}

/* A second os whose first walk is a process's files, not the task list:
 * every walk must set up what the task reader needs (a task buffer once
 * went missing in that order), and the task list read after it is whole. */
static void check_files_first(const char *file, const char *profile)
{
    vmic_core *core_a, *core_b;
    vmic_os *a = open_os(file, profile, &core_a), *b = open_os(file, profile, &core_b);
    vmic_process_t p;
    uint64_t addr[3];
    static lines got;
    CHECK(a && b);
    CHECK(marker(a, &p, &addr[0], &addr[1], &addr[2]));
    got.n = 0;
    CHECK_OK(vmic_os_files(b, &p, file_line, &got));
    CHECK(got.n >= 4);
    check_processes(b);
    vmic_os_close(b);
    vmic_core_close(core_b);
    vmic_os_close(a);
    vmic_core_close(core_a);
}

/* ---- modules and dmesg ---------------------------------------------------------- */

static int module_line(void *arg, const vmic_module_t *m)
{
    lines *l = arg;
    if (l->n < 128)
        snprintf(l->v[l->n++], sizeof l->v[0], "%s %lu %d - Live 0x%016lx", m->name, m->size,
                 m->refcount, m->base.addr);
    return 0;
}

static void check_modules(vmic_os *os)
{
    static lines got, want;
    got.n = 0;
    CHECK_OK(vmic_os_modules(os, module_line, &got));
    CHECK(truth_lines("modules.txt", &want, false) >= 1); /* the cloud kernel lacks minix */
    CHECK_EQ(got.n, want.n);
    for (size_t i = 0; i < want.n; i++)
        CHECK_STR(got.v[i], want.v[i]);
}

typedef struct log_lines {
    char (*v)[512];
    size_t n, cap;
    uint64_t last_ts;
} log_lines;

/* Records as busybox dmesg prints them: each line with the timestamp. */
static int log_line(void *arg, const vmic_log_record_t *r)
{
    log_lines *l = arg;
    const char *p = r->text, *end = r->text + r->len;
    do {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        if (l->n < l->cap)
            snprintf(l->v[l->n++], sizeof l->v[0], "[%5lu.%06lu] %.*s", r->ts_nsec / 1000000000,
                     (r->ts_nsec % 1000000000) / 1000, (int)(stop - p), p);
        p = nl ? nl + 1 : end;
    } while (p < end);
    return 0;
}

static void check_dmesg(vmic_os *os)
{
    static char gotv[8192][512];
    static lines want;
    log_lines got = {.v = gotv, .cap = 8192};
    CHECK_OK(vmic_os_dmesg(os, log_line, &got));
    /* The truth's last 100 lines (truth_lines keeps 128: read them all). */
    FILE *f = truth_open(dir, "dmesg.txt");
    CHECK(f);
    static char all[8192][512];
    size_t nall = 0;
    while (nall < 8192 && fgets(all[nall], sizeof all[0], f)) {
        all[nall][strcspn(all[nall], "\n")] = '\0';
        nall++;
    }
    fclose(f);
    CHECK(nall > 100);
    (void)want;
    /* The tail must appear in vmic's log as one block, in order; whatever
     * follows it was logged after the guest took its truth. */
    const size_t tail = 100;
    const char *first = all[nall - tail];
    size_t at = SIZE_MAX;
    for (size_t i = 0; i < got.n; i++)
        if (strcmp(got.v[i], first) == 0)
            at = i;
    CHECK_MSG(at != SIZE_MAX, "the truth's line '%s' is not in vmic's dmesg", first);
    CHECK(at + tail <= got.n);
    for (size_t i = 0; i < tail; i++)
        CHECK_STR(got.v[at + i], all[nall - tail + i]);
    fprintf(stderr, "  dmesg: %zu lines, the truth's last %zu match, %zu after\n", got.n, tail,
            got.n - at - tail);
    CHECK(got.n - at - tail < 10);
}

/* ---- struct offsets: in-memory BTF (or the profile) vs the -dbg DWARF ---------------- */

static void check_offsets_against_dwarf(vmic_os *os, size_t *checked)
{
    FILE *f = truth_open(dir, "../dwarf-offsets.txt");
    char line[512];
    size_t n = 0, absent = 0;
    CHECK_MSG(f, "no dwarf-offsets.txt in the fixture");
    while (fgets(line, sizeof line, f)) {
        char path[256];
        uint64_t bits, size;
        unsigned bit_size;
        if (sscanf(line, "%255s %lu %u %lu", path, &bits, &bit_size, &size) != 4)
            continue;
        vmic_field_t fl;
        vmic_status s = vmic_os_field(os, path, &fl);
        if (s == VMIC_E_NOTFOUND && strcmp(vmic_os_kernel(os)->types, "isf") == 0) {
            /* The profile holds the types reachable from a few roots only. */
            absent++;
            continue;
        }
        CHECK_MSG(s == VMIC_OK, "%s: %s", path, vmic_errmsg());
        CHECK_MSG(fl.bit_offset == bits, "%s: bit offset %lu, DWARF %lu", path, fl.bit_offset,
                  bits);
        CHECK_MSG(fl.bit_size == bit_size, "%s: %u bits, DWARF %u", path, fl.bit_size, bit_size);
        if (!bit_size)
            CHECK_MSG(fl.size == size, "%s: size %lu, DWARF %lu", path, fl.size, size);
        n++;
    }
    fclose(f);
    *checked = n;
    fprintf(stderr, "  %zu field offsets equal the DWARF's (%s)%s\n", n,
            vmic_os_kernel(os)->types, absent ? ", some absent from the profile" : "");
    CHECK(n >= 30);
}

static void test_btf_offsets_equal_dwarf(void)
{
    vmic_core *core;
    size_t n;
    vmic_os *os = open_os("dump.elf", NULL, &core);
    CHECK(os);
    check_offsets_against_dwarf(os, &n);
    CHECK(n >= 300); /* every member pahole listed */
    vmic_os_close(os);
    vmic_core_close(core);
}

/* ---- everything, per source ------------------------------------------------------------- */

static void run_all(const char *file, const char *profile)
{
    vmic_core *core;
    vmic_os *os = open_os(file, profile, &core);
    CHECK(os);
    fprintf(stderr, "  %s%s%s\n", file, profile ? " with " : "", profile ? profile : "");
    check_processes(os);
    check_marker_strings(os);
    check_maps(os);
    check_threads(os);
    check_files(os);
    check_modules(os);
    check_dmesg(os);
    check_files_first(file, profile);
    if (profile) {
        size_t n;
        check_offsets_against_dwarf(os, &n);
    }
    vmic_os_close(os);
    vmic_core_close(core);
}

static void test_elf_btf(void) { run_all("dump.elf", NULL); }
static void test_raw_btf(void) { run_all("dump.raw", NULL); }
static void test_raw_isf_profile(void) { run_all("dump.raw", "profile.json.xz"); }

static void test_isf_profile_banner(void)
{
    vmic_core *core;
    vmic_os *os = open_os("dump.elf", "profile.json.xz", &core);
    CHECK(os);
    check_kernel(os, "vCPU 0 CR3");
    CHECK_STR(vmic_os_kernel(os)->symbols, "isf");
    CHECK_STR(vmic_os_kernel(os)->types, "isf");
    vmic_va_t a;
    CHECK_OK(vmic_os_symbol(os, "init_task", &a));
    CHECK_EQ(a.addr, truth_addr("init_task"));
    vmic_os_close(os);
    vmic_core_close(core);
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
    if (nsyms < 1000) {
        fprintf(stderr, "fixture %s has no usable kallsyms truth\n", dir);
        return 1;
    }
    RUN(test_kernel_elf);
    RUN(test_kernel_raw_search);
    RUN(test_kernel_decides_paging);
    RUN(test_kallsyms_match_proc_kallsyms);
    RUN(test_elf_btf);
    RUN(test_raw_btf);
    /* A fixture made with --no-dwarf (the cloud and rt flavours: their -dbg
     * packages are another 1 GB each) has no DWARF truth to compare with. */
    FILE *dwarf = truth_open(dir, "../dwarf-offsets.txt");
    if (dwarf) {
        fclose(dwarf);
        RUN(test_btf_offsets_equal_dwarf);
        RUN(test_isf_profile_banner);
        RUN(test_raw_isf_profile);
    } else {
        fprintf(stderr, "note: no DWARF in this fixture (--no-dwarf): offsets against DWARF "
                        "and the ISF profile not checked\n");
    }
    free(syms);
    return HARNESS_RESULT();
}
