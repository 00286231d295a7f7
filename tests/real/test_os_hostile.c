/*
 * Hostile guest memory: a real dump mapped copy-on-write (hostile_dump.h), then corrupted the
 * way a buggy or malicious guest could (list cycles, pointers into unmapped
 * memory or out of the kernel, absurd lengths and counts), one corruption at
 * a time. Every walk must end quickly with a clear error that says where,
 * after reporting only the entries it could trust — never hang or crash
 * (this test also runs under ASan + UBSan).
 *
 *   test_os_hostile FIXTURE_DIR
 */
#include "hostile_dump.h"

static int marker_pid;

typedef struct counter {
    size_t n;
    uint64_t task[4096];
} counter;

static int count_proc(void *arg, const vmic_process_t *p)
{
    counter *c = arg;
    if (c->n < 4096)
        c->task[c->n] = p->task.addr;
    c->n++;
    return 0;
}

static int count_any(void *arg, const void *x)
{
    (void)x;
    ((counter *)arg)->n++;
    return 0;
}

static counter base;  /* the intact task list */

static void test_intact(void)
{
    base.n = 0;
    CHECK_OK(vmic_os_processes(os, count_proc, &base));
    CHECK(base.n > 40);
}

static void test_task_list_cycle(void)
{
    counter c = {0};
    uint64_t tasks = off("task_struct.tasks");
    /* Task 20's next goes back to task 10: a loop that never meets the head. */
    CHECK(put64(base.task[20] + tasks, base.task[10] + tasks));
    vmic_status s = TIMED(vmic_os_processes(os, count_proc, &c), 1.0);
    restore();
    CHECK_EQ(s, VMIC_E_FORMAT);
    CHECK_ERRMSG("cycle");
    CHECK_ERRMSG("truncated after 21 tasks");
    CHECK_EQ(c.n, 21); /* tasks 0..20, each once */
    for (size_t i = 0; i < c.n; i++)
        CHECK_EQ(c.task[i], base.task[i]);
}

static void test_task_list_self_loop(void)
{
    counter c = {0};
    uint64_t tasks = off("task_struct.tasks");
    CHECK(put64(base.task[5] + tasks, base.task[5] + tasks));
    vmic_status s = TIMED(vmic_os_processes(os, count_proc, &c), 1.0);
    restore();
    CHECK_EQ(s, VMIC_E_FORMAT);
    CHECK_ERRMSG("cycle");
    CHECK_EQ(c.n, 6);
}

static void test_task_list_unmapped(void)
{
    counter c = {0};
    uint64_t tasks = off("task_struct.tasks");
    uint64_t page_offset;
    vmic_va_t pob;
    CHECK_OK(vmic_os_symbol(os, "page_offset_base", &pob));
    page_offset = get64(pob.addr);
    /* 1 GiB past the end of the guest's RAM in the direct map. */
    uint64_t ram_end = (vmic_core_info(core)->max_pa.addr + (1ull << 30) - 1) & ~((1ull << 30) - 1);
    CHECK(put64(base.task[7] + tasks, page_offset + ram_end + (1ull << 30)));
    vmic_status s = TIMED(vmic_os_processes(os, count_proc, &c), 1.0);
    restore();
    CHECK_MSG(s == VMIC_E_TRANSLATE || s == VMIC_E_UNMAPPED, "got %s", vmic_status_name(s));
    CHECK_ERRMSG("task list");
    CHECK_EQ(c.n, 8);
}

static void test_task_list_not_kernel_pointer(void)
{
    counter c = {0};
    uint64_t tasks = off("task_struct.tasks");
    CHECK(put64(base.task[3] + tasks, 0x4141414141414141ull));
    vmic_status s = TIMED(vmic_os_processes(os, count_proc, &c), 1.0);
    restore();
    CHECK_EQ(s, VMIC_E_FORMAT);
    CHECK_ERRMSG("not a kernel address");
    CHECK_EQ(c.n, 4);
}

static void test_absurd_cmdline(void)
{
    vmic_process_t p;
    char buf[256];
    CHECK_OK(vmic_os_process_find(os, marker_pid, &p));
    uint64_t start = get64(p.mm.addr + off("mm_struct.arg_start"));
    CHECK(put64(p.mm.addr + off("mm_struct.arg_end"), start + (1ull << 40)));
    vmic_status s = TIMED(vmic_os_process_cmdline(os, &p, buf, sizeof buf, NULL), 1.0);
    restore();
    CHECK_EQ(s, VMIC_E_FORMAT);
    CHECK_ERRMSG("not a plausible range");
    /* arg_end before arg_start */
    CHECK(put64(p.mm.addr + off("mm_struct.arg_end"), start - 1));
    s = vmic_os_process_cmdline(os, &p, buf, sizeof buf, NULL);
    restore();
    CHECK_EQ(s, VMIC_E_FORMAT);
}

static void test_comm_without_nul(void)
{
    uint64_t comm = base.task[1] + off("task_struct.comm");
    CHECK(put64(comm, 0x4141414141414141ull) && put64(comm + 8, 0x4141414141414141ull));
    counter c = {0};
    vmic_process_t p;
    CHECK_OK(vmic_os_process_find(os, 1, &p));
    CHECK_OK(vmic_os_processes(os, count_proc, &c));
    restore();
    CHECK_EQ(strlen(p.comm), 16);
    CHECK_EQ(c.n, base.n);
}

static int count_region(void *arg, const vmic_region_t *r)
{
    return count_any(arg, r);
}

/* The first leaf of the marker's VMA tree, following slot 0 down. */
static uint64_t first_leaf(const vmic_process_t *p, uint64_t *root_entry)
{
    int64_t leaf64, range64, arange64;
    if (vmic_os_enum_value(os, "maple_leaf_64", &leaf64) ||
        vmic_os_enum_value(os, "maple_range_64", &range64) ||
        vmic_os_enum_value(os, "maple_arange_64", &arange64))
        return 0;
    uint64_t e = get64(p->mm.addr + off("mm_struct.mm_mt") + off("maple_tree.ma_root"));
    *root_entry = e;
    for (int depth = 0; depth < 8; depth++) {
        int64_t type = (int64_t)((e >> 3) & 0xf);
        uint64_t node = e & ~0xffull;
        if (type == leaf64)
            return node;
        e = get64(node + off(type == arange64 ? "maple_arange_64.slot" : "maple_range_64.slot"));
    }
    return 0;
}

static void test_vma_tree_garbage(void)
{
    vmic_process_t p;
    counter c = {0};
    uint64_t root;
    CHECK_OK(vmic_os_process_find(os, marker_pid, &p));
    uint64_t leaf = first_leaf(&p, &root);
    CHECK(leaf && (root & 3) == 2);
    uint64_t slot = leaf + off("maple_range_64.slot");
    /* Slot 0 is the gap below the first VMA (NULL); VMAs follow. */
    size_t first = get64(slot) ? 0 : 1;
    CHECK(get64(slot + 8 * first) && get64(slot + 8 * (first + 2)));

    /* The third VMA's pointer now points into user space. */
    CHECK(put64(slot + 8 * (first + 2), 0x00007fff00001000ull));
    vmic_status s = TIMED(vmic_os_regions(os, &p, count_region, &c), 1.0);
    restore();
    CHECK_EQ(s, VMIC_E_FORMAT);
    CHECK_ERRMSG("not a kernel address");
    CHECK_EQ(c.n, 2);

    /* The second VMA claims another range than the tree gives it. */
    c.n = 0;
    uint64_t vma = get64(slot + 8 * (first + 1));
    CHECK(put64(vma + off("vm_area_struct.vm_start"), 0x1000));
    s = TIMED(vmic_os_regions(os, &p, count_region, &c), 1.0);
    restore();
    CHECK_EQ(s, VMIC_E_FORMAT);
    CHECK_ERRMSG("does not fit");
    CHECK_EQ(c.n, 1);

    /* The tree's root as its own child: the root made an internal range
     * node whose slot 0 points back at it. */
    int64_t range64;
    CHECK_OK(vmic_os_enum_value(os, "maple_range_64", &range64));
    uint64_t node = root & ~0xffull;
    uint64_t child = node | ((uint64_t)range64 << 3);
    CHECK(put64(p.mm.addr + off("mm_struct.mm_mt") + off("maple_tree.ma_root"), child | 2));
    CHECK(put64(node + off("maple_range_64.slot"), child));
    c.n = 0;
    s = TIMED(vmic_os_regions(os, &p, count_region, &c), 1.0);
    restore();
    CHECK_EQ(s, VMIC_E_FORMAT);
    CHECK_EQ(c.n, 0);
}

static void test_dentry_loop(void)
{
    vmic_process_t p;
    counter c = {0};
    uint64_t root;
    CHECK_OK(vmic_os_process_find(os, marker_pid, &p));
    /* The marker's first mapping is its executable, /bin/vmic-marker: make
     * /bin's parent the file itself, a two-dentry loop with no root. */
    uint64_t slot = first_leaf(&p, &root) + off("maple_range_64.slot");
    uint64_t vma0 = get64(slot) ? get64(slot) : get64(slot + 8);
    uint64_t file = get64(vma0 + off("vm_area_struct.vm_file"));
    uint64_t dentry = get64(file + off("file.f_path") + off("path.dentry"));
    uint64_t bin = get64(dentry + off("dentry.d_parent"));
    CHECK(file && dentry && bin && bin != dentry);
    CHECK(put64(bin + off("dentry.d_parent"), dentry));
    vmic_status s = TIMED(vmic_os_regions(os, &p, count_region, &c), 1.0);
    restore();
    CHECK_EQ(s, VMIC_E_RANGE);
    CHECK_ERRMSG("path longer than"); /* the length bound meets the loop first */
    CHECK_EQ(c.n, 0);
}

/* Sets the u32 at va, within the aligned u64 that holds it. */
static bool put32(uint64_t va, uint32_t v)
{
    uint64_t word = va & ~7ull;
    unsigned shift = (unsigned)(va - word) * 8;
    if (shift > 32)
        return false;
    uint64_t old = get64(word);
    return put64(word, (old & ~(0xffffffffull << shift)) | (uint64_t)v << shift);
}

typedef struct path_seen {
    size_t n, truncated;
    char first[VMIC_PATH_LEN];
    bool first_truncated;
} path_seen;

static int see_path(void *arg, const vmic_region_t *r)
{
    path_seen *c = arg;
    if (c->n++ == 0) {
        snprintf(c->first, sizeof c->first, "%s", r->path);
        c->first_truncated = r->path_truncated;
    }
    c->truncated += r->path_truncated;
    return 0;
}

/* One path longer than VMIC_PATH_LEN is cut and flagged, and the walk goes
 * on: /bin/vmic-marker with both names claiming 255 bytes (NAME_MAX) needs
 * 512 bytes and a NUL. */
static void test_long_path_truncated(void)
{
    vmic_process_t p;
    path_seen intact = {0}, cut = {0};
    uint64_t root;
    CHECK_OK(vmic_os_process_find(os, marker_pid, &p));
    CHECK_OK(vmic_os_regions(os, &p, see_path, &intact));
    CHECK(intact.n > 1);
    CHECK_EQ(intact.truncated, 0);
    CHECK(strstr(intact.first, "vmic-marker") != NULL);

    uint64_t slot = first_leaf(&p, &root) + off("maple_range_64.slot");
    uint64_t vma0 = get64(slot) ? get64(slot) : get64(slot + 8);
    uint64_t file = get64(vma0 + off("vm_area_struct.vm_file"));
    uint64_t dentry = get64(file + off("file.f_path") + off("path.dentry"));
    uint64_t bin = get64(dentry + off("dentry.d_parent"));
    uint64_t len_at = off("dentry.d_name") + off("qstr.len");
    CHECK(file && dentry && bin && bin != dentry);
    CHECK(put32(dentry + len_at, 255) && put32(bin + len_at, 255));
    vmic_status s = TIMED(vmic_os_regions(os, &p, see_path, &cut), 1.0);
    restore();
    CHECK_OK(s);
    CHECK_EQ(cut.n, intact.n);          /* every region still reported */
    CHECK(cut.first_truncated);
    CHECK(cut.truncated >= 1);
    CHECK(cut.first[0] == '/' && strlen(cut.first) < VMIC_PATH_LEN);
}

static int count_file(void *arg, const vmic_open_file_t *f)
{
    return count_any(arg, f);
}

static void test_absurd_fd_table(void)
{
    vmic_process_t p;
    counter c = {0};
    CHECK_OK(vmic_os_process_find(os, marker_pid, &p));
    uint64_t files = get64(p.task.addr + off("task_struct.files"));
    uint64_t fdt = get64(files + off("files_struct.fdt"));
    uint64_t word = get64(fdt + off("fdtable.max_fds"));
    CHECK(put64(fdt + off("fdtable.max_fds"), (word & ~0xffffffffull) | 0xffffffffull));
    vmic_status s = TIMED(vmic_os_files(os, &p, count_file, &c), 1.0);
    restore();
    CHECK_EQ(s, VMIC_E_FORMAT);
    CHECK_ERRMSG("not plausible");
}

static int count_module(void *arg, const vmic_module_t *m)
{
    return count_any(arg, m);
}

static void test_module_list_cycle(void)
{
    counter c = {0};
    vmic_va_t head;
    CHECK_OK(vmic_os_symbol(os, "modules", &head));
    uint64_t first = get64(head.addr);
    CHECK(put64(first, first)); /* the first module's list.next: itself */
    vmic_status s = TIMED(vmic_os_modules(os, count_module, &c), 1.0);
    restore();
    CHECK_EQ(s, VMIC_E_FORMAT);
    CHECK_ERRMSG("cycle");
    CHECK_EQ(c.n, 1);
}

/* Modules' BTF (btf_modules), read once per os: each corruption is seen by
 * a fresh session over the copy, and an intact session follows. */
typedef struct mod_btf {
    uint64_t node, btf, data;
    char name[VMIC_MODULE_NAME_LEN + 1];
} mod_btf;

static size_t module_btfs(mod_btf *m, size_t max)
{
    uint64_t head = sym("btf_modules"), node = get64(head);
    size_t n = 0;
    while (node != head && node && n < max) {
        uint64_t bm = node - off("btf_module.list");
        const uint8_t *name = at_len(get64(bm + off("btf_module.module")) + off("module.name"),
                                     VMIC_MODULE_NAME_LEN);
        m[n].node = node;
        m[n].btf = get64(bm + off("btf_module.btf"));
        m[n].data = get64(m[n].btf + off("btf.data"));
        snprintf(m[n].name, sizeof m[n].name, "%.*s", VMIC_MODULE_NAME_LEN,
                 name ? (const char *)name : "");
        node = get64(node);
        n++;
    }
    return n;
}

/* The module's BTF blob's status; *secs, how long its reading took. */
static vmic_status btf_of(const char *module, double *secs)
{
    const uint8_t *data;
    size_t len;
    double t0 = now();
    vmic_status s = vmic_os_btf(os, module, &data, &len);
    *secs = now() - t0;
    return s;
}

static void test_module_btf_garbage(void)
{
    mod_btf m[8];
    size_t n = module_btfs(m, 8);
    CHECK(n >= 2);
    if (n < 2)
        return;
    double secs;
    for (size_t i = 0; i < n; i++)
        CHECK_OK(btf_of(m[i].name, &secs));
    uint64_t data_size = off("btf.data_size");
    struct { const char *what; uint64_t va, value; size_t len; vmic_status first, other;
             const char *msg; } cases[] = {
        /* The first node's next: itself. The first module is read, the
         * others are past the cycle. */
        {"cycle", m[0].node, m[0].node, 8, VMIC_OK, VMIC_E_FORMAT, "cycle"},
        {"size", m[0].btf + data_size, 0xfffffff0u, 4, VMIC_E_FORMAT, VMIC_OK, "BTF blob"},
        {"data", m[0].btf + off("btf.data"), 0x1234, 8, VMIC_E_FORMAT, VMIC_OK, "kernel address"},
        /* The blob's header: magic and version garbage, then lengths past
         * its end (type_len). */
        {"magic", m[0].data, 0x0102030405060708ull, 8, VMIC_E_FORMAT, VMIC_OK, "libbpf rejects"},
        {"lengths", m[0].data + 12, 0x7fffffff, 4, VMIC_E_FORMAT, VMIC_OK, "libbpf rejects"},
        {"head", sym("btf_modules"), 0xdead, 8, VMIC_E_FORMAT, VMIC_E_FORMAT, "kernel address"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool written = put(cases[i].va, cases[i].value, cases[i].len);
        bool opened = written && hostile_reopen();
        double t1 = 0, t2 = 0;
        vmic_status first = opened ? btf_of(m[0].name, &t1) : VMIC_E_INTERNAL;
        char msg[512];
        snprintf(msg, sizeof msg, "%s", vmic_errmsg());
        vmic_status other = opened ? btf_of(m[1].name, &t2) : VMIC_E_INTERNAL;
        vmic_field_t f;
        bool kernel_ok = opened && vmic_os_field(os, "task_struct.pid", &f) == VMIC_OK;
        restore();
        CHECK_MSG(written && opened, "%s: corrupted and reopened", cases[i].what);
        CHECK_MSG(first == cases[i].first && other == cases[i].other, "%s: %s, %s", cases[i].what,
                  vmic_status_name(first), vmic_status_name(other));
        CHECK_MSG(!first || strstr(msg, cases[i].msg), "%s: %s", cases[i].what, msg);
        CHECK_MSG(t1 + t2 < 1.0, "%s: %.3f s", cases[i].what, t1 + t2);
        CHECK(kernel_ok); /* the kernel's own types: untouched */
    }
    CHECK(hostile_reopen());
    for (size_t i = 0; i < n; i++)
        CHECK_OK(btf_of(m[i].name, &secs));
}

static int count_log(void *arg, const vmic_log_record_t *r)
{
    return count_any(arg, r);
}

static void test_printk_absurd_ring(void)
{
    counter c = {0};
    vmic_va_t prb;
    CHECK_OK(vmic_os_symbol(os, "prb", &prb));
    uint64_t rb = get64(prb.addr);
    uint64_t cb = rb + off("printk_ringbuffer.desc_ring") + off("prb_desc_ring.count_bits");
    uint64_t word = get64(cb);
    CHECK(put64(cb, (word & ~0xffffffffull) | 60));
    vmic_status s = TIMED(vmic_os_dmesg(os, count_log, &c), 1.0);
    restore();
    CHECK_EQ(s, VMIC_E_FORMAT);
    CHECK_ERRMSG("not plausible");
    CHECK_EQ(c.n, 0);

    /* Descriptors that all claim other ids: no record, no crash. */
    uint64_t descs = get64(rb + off("printk_ringbuffer.desc_ring") + off("prb_desc_ring.descs"));
    CHECK(put64(descs, 0x3fffffffffffffffull));
    c.n = 0;
    CHECK_OK(TIMED(vmic_os_dmesg(os, count_log, &c), 1.0));
    restore();
    CHECK(c.n > 100);
}

static void test_everything_intact_again(void)
{
    counter c = {0};
    CHECK_OK(vmic_os_processes(os, count_proc, &c));
    CHECK_EQ(c.n, base.n);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !fixture_present(argv[1])) {
        fprintf(stderr, "skip: no fixture\n");
        return TEST_SKIP;
    }
    char line[256];
    if (!truth_line(argv[1], "marker.txt", line, sizeof line) ||
        sscanf(line, "pid=%d", &marker_pid) != 1 || !hostile_open(argv[1]))
        return 1;
    RUN(test_intact);
    RUN(test_task_list_cycle);
    RUN(test_task_list_self_loop);
    RUN(test_task_list_unmapped);
    RUN(test_task_list_not_kernel_pointer);
    RUN(test_absurd_cmdline);
    RUN(test_comm_without_nul);
    RUN(test_vma_tree_garbage);
    RUN(test_dentry_loop);
    RUN(test_long_path_truncated);
    RUN(test_absurd_fd_table);
    RUN(test_module_list_cycle);
    RUN(test_printk_absurd_ring);
    RUN(test_module_btf_garbage);
    RUN(test_everything_intact_again);
    hostile_close();
    return HARNESS_RESULT();
}
