/*
 * The integrity checks on hostile guest memory: a real dump mapped
 * copy-on-write, then corrupted one way at a time (cycles in the pid IDR,
 * the task, thread, module_kset and tty_drivers lists, pointers out of the
 * kernel, a kobject that is no module's). A check must end quickly with a
 * clear error that says where, never hang or crash (this test also runs
 * under ASan + UBSan), and the intact copy must give no finding.
 *
 *   test_check_hostile FIXTURE_DIR
 */
#include "hostile_dump.h"

static int count_finding(void *arg, const vmic_check_finding_t *f)
{
    (void)f;
    (*(size_t *)arg)++;
    return 0;
}

typedef vmic_status (*check_fn)(vmic_os *, vmic_check_fn, void *, size_t *);

/* One check on the copy as it is now: its status, its findings in *found. */
static vmic_status run(check_fn check, size_t *found, double *secs)
{
    size_t checked;
    *found = 0;
    double t0 = now();
    vmic_status s = check(os, count_finding, found, &checked);
    *secs = now() - t0;
    return s;
}

#define EXPECT_FAILS(check, code, needle)                                         \
    do {                                                                          \
        size_t found_;                                                            \
        double secs_;                                                             \
        vmic_status s_ = run(check, &found_, &secs_);                             \
        restore();                                                                \
        fprintf(stderr, "  %s: %s\n", #check, vmic_errmsg());                    \
        CHECK_MSG(secs_ < 2.0, "%s took %.3f s", #check, secs_);                  \
        CHECK_MSG(s_ == (code), "%s -> %s (%s)", #check, vmic_status_name(s_),     \
                  vmic_errmsg());                                                 \
        CHECK_ERRMSG(needle);                                                     \
    } while (0)

/* ---- the pid IDR ---------------------------------------------------------------- */

static uint64_t idr_root(void)
{
    return get64(sym("init_pid_ns") + off("pid_namespace.idr.idr_rt.xa_head"));
}

static void test_idr_slot_to_itself(void)
{
    uint64_t root = idr_root(); /* a node pointer: address | 2 */
    CHECK((root & 3) == 2);
    uint64_t slots = (root - 2) + off("xa_node.slots");
    CHECK(put64(slots, root));  /* slot 0 (pids 0..63's node) is the root itself */
    EXPECT_FAILS(vmic_os_check_tasks, VMIC_E_FORMAT, "pid IDR: node");
}

static void test_idr_root_not_kernel(void)
{
    CHECK(put64(sym("init_pid_ns") + off("pid_namespace.idr.idr_rt.xa_head"),
                0x4141414141414142ull));
    EXPECT_FAILS(vmic_os_check_tasks, VMIC_E_FORMAT, "not a kernel address");
}

/* Two of the root's slots leading to the same child: the second visit is a
 * cycle as far as the walk can tell, and must not be walked twice. */
static void test_idr_node_twice(void)
{
    uint64_t root = idr_root(), node = root - 2;
    uint64_t slots = node + off("xa_node.slots");
    uint8_t *shift = at(node + off("xa_node.shift"));
    CHECK(shift && *shift > 0); /* a tree of more than one level */
    uint64_t child = get64(slots);
    CHECK((child & 3) == 2);
    CHECK(put64(slots + 8 * 5, child));
    EXPECT_FAILS(vmic_os_check_tasks, VMIC_E_FORMAT, "reached twice");
}

/* A child whose shift is not its parent's less 6: its slots would be read
 * as the wrong kind (leaves as nodes), so the walk stops there. */
static void test_idr_wrong_shift(void)
{
    uint64_t child = get64((idr_root() - 2) + off("xa_node.slots"));
    CHECK((child & 3) == 2);
    /* shift is the low byte of the little-endian word at its offset. */
    uint64_t va = child - 2 + off("xa_node.shift");
    CHECK(put64(va, (get64(va) & ~0xffull) | 3));
    EXPECT_FAILS(vmic_os_check_tasks, VMIC_E_FORMAT, "has shift 3 where");
}

static void test_pid_task_not_kernel(void)
{
    /* init's struct pid (pid 1: root node, slot 0's node, slot 1). */
    uint64_t child = get64((idr_root() - 2) + off("xa_node.slots")) - 2;
    uint64_t pid1 = get64(child + off("xa_node.slots") + 8);
    CHECK(pid1 != 0);
    CHECK(put64(pid1 + off("pid.tasks"), 0x4141414141414141ull));
    EXPECT_FAILS(vmic_os_check_tasks, VMIC_E_FORMAT, "task link");
}

/* ---- the lists ----------------------------------------------------------------- */

static void test_task_list_cycle(void)
{
    uint64_t tasks = off("task_struct.tasks"), init = sym("init_task");
    uint64_t first = get64(init + tasks);       /* init's list_head */
    uint64_t second = get64(first);
    CHECK(put64(second, first));                /* the second task leads back to the first */
    EXPECT_FAILS(vmic_os_check_tasks, VMIC_E_FORMAT, "cycle");
    CHECK(put64(second, first));
    EXPECT_FAILS(vmic_os_check_creds, VMIC_E_FORMAT, "cycle");
}

static void test_thread_list_cycle(void)
{
    /* init (the first task after init_task): its thread list's head leads
     * to its own thread_node, whose next is set to itself. */
    uint64_t init = get64(sym("init_task") + off("task_struct.tasks")) - off("task_struct.tasks");
    uint64_t node = init + off("task_struct.thread_node");
    CHECK(put64(node, node));
    EXPECT_FAILS(vmic_os_check_tasks, VMIC_E_FORMAT, "threads of pid 1");
}

static void test_module_kset_cycle(void)
{
    uint64_t kset = get64(sym("module_kset"));
    uint64_t first = get64(kset + off("kset.list"));
    CHECK(put64(first, first));
    EXPECT_FAILS(vmic_os_check_modules, VMIC_E_FORMAT, "cycle");
}

static void test_kobject_of_no_module(void)
{
    /* The first loaded module's kobject claims init_task as its module. */
    uint64_t mod = get64(sym("modules")) - off("module.list");
    uint64_t mk = mod + off("module.mkobj");
    CHECK(put64(mk + off("module_kobject.mod"), sym("init_task")));
    EXPECT_FAILS(vmic_os_check_modules, VMIC_E_FORMAT, "does not hold it");
}

static void test_module_list_not_kernel(void)
{
    CHECK(put64(sym("modules"), 0x4141414141414141ull));
    EXPECT_FAILS(vmic_os_check_modules, VMIC_E_FORMAT, "not a kernel address");
}

static void test_tty_drivers_cycle(void)
{
    uint64_t first = get64(sym("tty_drivers"));
    CHECK(put64(first, first));
    EXPECT_FAILS(vmic_os_check_ops, VMIC_E_FORMAT, "cycle");
}

static void test_tty_ops_not_kernel(void)
{
    uint64_t drv = get64(sym("tty_drivers")) - off("tty_driver.tty_drivers");
    CHECK(put64(drv + off("tty_driver.ops"), 0x4141414141414141ull));
    EXPECT_FAILS(vmic_os_check_ops, VMIC_E_FORMAT, "not a kernel address");
}

/* A cred pointer that leads nowhere is one task's, shared with no one. */
static void test_cred_garbage(void)
{
    uint64_t init = get64(sym("init_task") + off("task_struct.tasks")) - off("task_struct.tasks");
    CHECK(put64(init + off("task_struct.cred"), 0x4141414141414141ull));
    CHECK(put64(init + off("task_struct.real_cred"), 0));
    size_t found;
    double secs;
    vmic_status s = run(vmic_os_check_creds, &found, &secs);
    restore();
    CHECK_OK(s);
    CHECK_EQ(found, 0);
}

/* The credentials check first in a session: it sets up the task walks
 * itself (no other walk before it). */
static void test_creds_first(void)
{
    size_t found;
    double secs;
    CHECK_OK(run(vmic_os_check_creds, &found, &secs));
    CHECK_EQ(found, 0);
}

static void test_intact(void)
{
    static const check_fn all[] = {vmic_os_check_tasks, vmic_os_check_modules,
                                   vmic_os_check_creds, vmic_os_check_idt,
                                   vmic_os_check_syscall_entry, vmic_os_check_ops};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        size_t found;
        double secs;
        CHECK_OK(run(all[i], &found, &secs));
        CHECK_EQ(found, 0);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || !fixture_present(argv[1])) {
        fprintf(stderr, "skip: no fixture\n");
        return TEST_SKIP;
    }
    if (!hostile_open(argv[1]))
        return 1;
    RUN(test_creds_first);
    RUN(test_intact);
    RUN(test_idr_slot_to_itself);
    RUN(test_idr_root_not_kernel);
    RUN(test_idr_node_twice);
    RUN(test_idr_wrong_shift);
    RUN(test_pid_task_not_kernel);
    RUN(test_task_list_cycle);
    RUN(test_thread_list_cycle);
    RUN(test_module_kset_cycle);
    RUN(test_kobject_of_no_module);
    RUN(test_module_list_not_kernel);
    RUN(test_tty_drivers_cycle);
    RUN(test_tty_ops_not_kernel);
    RUN(test_cred_garbage);
    RUN(test_intact);
    hostile_close();
    return HARNESS_RESULT();
}
