/*
 * Hostile per-CPU data: a copy of a real raw dump (a private, copy-on-write
 * mapping of dump.raw: only the pages written are copied) with the
 * per-CPU bookkeeping corrupted one way at a time. Finding a CPU's current
 * task or a task's saved registers must fail with an error that names what
 * was wrong, never read past a bound or crash.
 *
 *   test_percpu_hostile FIXTURE_DIR
 */
#include "hostile_dump.h"

/* A fresh session over the copy: vmic_os caches nr_cpu_ids. */
static bool reopen(void)
{
    return hostile_reopen();
}

static void test_intact(void)
{
    vmic_va_t task, regs;
    CHECK(reopen());
    CHECK_OK(vmic_os_current_task_of_cpu(os, 0, &task));
    CHECK_OK(vmic_os_cpu_pt_regs(os, 0, &regs));
    CHECK_OK(vmic_os_task_pt_regs(os, task, &regs));
}

/* Not even canonical: refused before any read. */
static void test_offset_not_canonical(void)
{
    vmic_va_t task;
    CHECK(reopen());
    CHECK(put(sym("__per_cpu_offset"), 0xdead0000deadbeefull, 8));
    CHECK_ERR(vmic_os_current_task_of_cpu(os, 0, &task), VMIC_E_FORMAT);
    CHECK_ERRMSG("__per_cpu_offset[0]");
    fprintf(stderr, "  %s\n", vmic_errmsg());
    CHECK_ERR(vmic_os_cpu_pt_regs(os, 0, &task), VMIC_E_FORMAT);
    CHECK_ERRMSG("__per_cpu_offset[0]");
    restore();
}

/* A kernel address where nothing is mapped: the read fails, and says
 * through which entry it got there. */
static void test_offset_unmapped(void)
{
    vmic_va_t task;
    CHECK(reopen());
    CHECK(put(sym("__per_cpu_offset"), vmic_os_kernel(os)->kernel_half.addr, 8));
    vmic_status s = vmic_os_current_task_of_cpu(os, 0, &task);
    CHECK(s != VMIC_OK);
    fprintf(stderr, "  %s: %s\n", vmic_status_name(s), vmic_errmsg());
    CHECK_ERRMSG("__per_cpu_offset[0]");
    restore();
}

/* Another CPU's area (or a shifted one) answers with another cpu_number. */
static void test_wrong_area(void)
{
    vmic_va_t task;
    uint32_t n = 0;
    CHECK(reopen());
    CHECK_OK(vmic_os_cpu_count(os, &n));
    uint64_t table = sym("__per_cpu_offset"), number;
    if (n >= 2) {
        CHECK(put(table + 8, get64(table), 8)); /* CPU 1 -> CPU 0's area */
        CHECK_ERR(vmic_os_current_task_of_cpu(os, 1, &task), VMIC_E_FORMAT);
        CHECK_ERRMSG("says cpu_number 0");
        fprintf(stderr, "  %s\n", vmic_errmsg());
        restore();
    }
    /* CPU 0's own number overwritten. */
    number = sym("cpu_number");
    if (!number) {
        vmic_field_t f;
        CHECK_OK(vmic_os_field(os, "pcpu_hot.cpu_number", &f));
        number = sym("pcpu_hot") + f.offset;
    }
    CHECK(put(get64(table) + number, 5, 4));
    CHECK_ERR(vmic_os_current_task_of_cpu(os, 0, &task), VMIC_E_FORMAT);
    CHECK_ERRMSG("says cpu_number 5");
    restore();
}

static void test_absurd_nr_cpu_ids(void)
{
    uint32_t n;
    vmic_va_t task;
    CHECK(reopen());
    CHECK(put(sym("nr_cpu_ids"), 0x7fffffff, 4));
    CHECK_ERR(vmic_os_cpu_count(os, &n), VMIC_E_FORMAT);
    CHECK_ERRMSG("nr_cpu_ids");
    fprintf(stderr, "  %s\n", vmic_errmsg());
    CHECK_ERR(vmic_os_current_task_of_cpu(os, 0, &task), VMIC_E_FORMAT);
    restore();
    CHECK(reopen());
    CHECK(put(sym("nr_cpu_ids"), 0, 4));
    CHECK_ERR(vmic_os_cpu_count(os, &n), VMIC_E_FORMAT);
    restore();
}

static void test_task_stack_garbage(void)
{
    vmic_va_t task, regs;
    vmic_field_t f;
    CHECK(reopen());
    CHECK_OK(vmic_os_current_task_of_cpu(os, 0, &task));
    CHECK_OK(vmic_os_field(os, "task_struct.stack", &f));
    CHECK(put(task.addr + f.offset, 0x1234, 8));
    CHECK_ERR(vmic_os_task_pt_regs(os, task, &regs), VMIC_E_FORMAT);
    CHECK_ERRMSG("task_struct.stack");
    fprintf(stderr, "  %s\n", vmic_errmsg());
    restore();
    CHECK_ERR(vmic_os_task_pt_regs(os, vmic_va(0x1000), &regs), VMIC_E_FORMAT);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !fixture_present(argv[1])) {
        fprintf(stderr, "skip: no fixture\n");
        return TEST_SKIP;
    }
    if (!hostile_open(argv[1]))
        return 1;
    RUN(test_intact);
    RUN(test_offset_not_canonical);
    RUN(test_offset_unmapped);
    RUN(test_wrong_area);
    RUN(test_absurd_nr_cpu_ids);
    RUN(test_task_stack_garbage);
    RUN(test_intact);
    hostile_close();
    return HARNESS_RESULT();
}
