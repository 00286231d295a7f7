/*
 * Hostile per-CPU data: a copy of a real raw dump (a private, copy-on-write
 * mapping of dump.raw: only the pages written are copied) with the
 * per-CPU bookkeeping corrupted one way at a time. Finding a CPU's current
 * task or a task's saved registers must fail with an error that names what
 * was wrong, never read past a bound or crash.
 *
 *   test_percpu_hostile FIXTURE_DIR
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vmic/vmic.h>

#include "harness.h"
#include "truth.h"

static uint8_t *mem;
static size_t mem_size;
static vmic_core *core;
static vmic_os *os;

/* A fresh session over the copy: vmic_os caches nr_cpu_ids. */
static bool reopen(void)
{
    vmic_driver *drv;
    if (os)
        vmic_os_close(os);
    if (core)
        vmic_core_close(core);
    os = NULL;
    core = NULL;
    if (vmic_dump_open_buffer(mem, mem_size, VMIC_DUMP_RAW, "hostile", &drv) != VMIC_OK ||
        vmic_core_open(drv, NULL, &core) != VMIC_OK || vmic_os_open(core, NULL, &os) != VMIC_OK) {
        fprintf(stderr, "  cannot open the copy: %s\n", vmic_errmsg());
        return false;
    }
    return true;
}

static uint8_t *at(uint64_t va)
{
    vmic_pa_t pa;
    if (vmic_translate(core, vmic_os_kernel_ctx(os), vmic_va(va), &pa) != VMIC_OK ||
        pa.addr + 8 > mem_size)
        return NULL;
    return mem + pa.addr;
}

/* One corruption, undone by restore(). */
static uint8_t *saved_p;
static uint64_t saved_v;

static bool put(uint64_t va, uint64_t v, size_t len)
{
    uint8_t *p = at(va);
    if (!p)
        return false;
    saved_p = p;
    memcpy(&saved_v, p, 8);
    memcpy(p, &v, len);
    return true;
}

static void restore(void)
{
    if (saved_p)
        memcpy(saved_p, &saved_v, 8);
    saved_p = NULL;
}

static uint64_t sym(const char *name)
{
    vmic_va_t va = {0};
    if (vmic_os_symbol(os, name, &va) != VMIC_OK)
        vmic_clear_error();
    return va.addr;
}

static uint64_t get64(uint64_t va)
{
    uint64_t v = 0;
    uint8_t *p = at(va);
    if (p)
        memcpy(&v, p, 8);
    return v;
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
    char path[4096];
    fixture_path(path, sizeof path, argv[1], "dump.raw");
    int fd = open(path, O_RDONLY);
    off_t size = fd < 0 ? -1 : lseek(fd, 0, SEEK_END);
    if (size <= 0)
        return 1;
    mem_size = (size_t)size;
    mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd);
    if (mem == MAP_FAILED)
        return 1;
    RUN(test_intact);
    RUN(test_offset_not_canonical);
    RUN(test_offset_unmapped);
    RUN(test_wrong_area);
    RUN(test_absurd_nr_cpu_ids);
    RUN(test_task_stack_garbage);
    RUN(test_intact);
    if (os)
        vmic_os_close(os);
    if (core)
        vmic_core_close(core);
    munmap(mem, mem_size);
    return HARNESS_RESULT();
}
