/*
 * The SIGBUS guard (vmic_sigbus_guard_enable) on a dump file truncated
 * after it was opened: deterministic, no timing. Without the guard the read
 * dies of SIGBUS (checked in a child, so the test shows what the guard
 * changes); with it, reads fail with VMIC_E_IO naming the file and offset,
 * in any thread; a fault through a pointer vmic handed out ends the process
 * with the chosen exit code and a message; and a SIGBUS that is not in a
 * vmic mapping still reaches the handler installed before the guard.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vmic/vmic.h>

#include "harness.h"

#define DUMP_SIZE (4u << 20)
#define SHRUNK (1u << 20)
#define LOST_PA 0x200000u   /* past the new end */

static char dump_path[64];

/* A raw dump of DUMP_SIZE bytes of 0x5a, opened, then cut to SHRUNK bytes. */
static vmic_core *open_then_shrink(void)
{
    snprintf(dump_path, sizeof dump_path, "/tmp/vmic-sigbus.%d.raw", (int)getpid());
    int fd = open(dump_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return NULL;
    static uint8_t chunk[65536];
    memset(chunk, 0x5a, sizeof chunk);
    for (unsigned i = 0; i < DUMP_SIZE / sizeof chunk; i++)
        if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk)
            return NULL;
    vmic_driver *drv;
    vmic_core *core;
    if (vmic_dump_open(dump_path, VMIC_DUMP_RAW, &drv) != VMIC_OK ||
        vmic_core_open(drv, NULL, &core) != VMIC_OK)
        return NULL;
    if (ftruncate(fd, SHRUNK) != 0)
        return NULL;
    close(fd);
    return core;
}

static void close_and_remove(vmic_core *core)
{
    vmic_core_close(core);
    unlink(dump_path);
}

/* Runs fn in a child; returns its wait status. */
static int in_child(void (*fn)(void))
{
    pid_t pid = fork();
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

static void read_lost_page(void)
{
    vmic_core *core = open_then_shrink();
    uint64_t v;
    if (!core)
        _exit(3);
    vmic_read_u64_pa(core, vmic_pa(LOST_PA), &v);
    _exit(4);   /* not reached without the guard */
}

static void test_without_guard_it_dies(void)
{
    int status = in_child(read_lost_page);
    /* Killed by SIGBUS, or, under a sanitizer, its SIGBUS report and exit
     * (or abort, with ASAN_OPTIONS=abort_on_error=1 as scripts/test.sh runs). */
    bool died = (WIFSIGNALED(status) &&
                 (WTERMSIG(status) == SIGBUS || WTERMSIG(status) == SIGABRT)) ||
                (WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 3 &&
                 WEXITSTATUS(status) != 4);
    CHECK_MSG(died, "expected death by SIGBUS, got status 0x%x", status);
}

static void touch_through_pointer(void)
{
    vmic_core *core = open_then_shrink();
    const uint8_t *p;
    size_t len;
    if (!core || vmic_sigbus_guard_enable(42) != VMIC_OK ||
        vmic_map_pa(core, vmic_pa(LOST_PA), &p, &len) != VMIC_OK)
        _exit(3);
    volatile uint8_t b = *p;   /* no copy to fail: the guard ends the process */
    (void)b;
    _exit(4);
}

static void test_pointer_fault_exits_with_code(void)
{
    int status = in_child(touch_through_pointer);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 42,
              "expected exit 42, got status 0x%x", status);
}

/* From here on the guard is enabled in this process. */

static void *read_in_thread(void *arg)
{
    vmic_core *core = arg;
    uint64_t v;
    return (void *)(uintptr_t)vmic_read_u64_pa(core, vmic_pa(LOST_PA + 8), &v);
}

static void test_guarded_reads_fail_cleanly(void)
{
    CHECK_OK(vmic_sigbus_guard_enable(-1));
    vmic_core *core = open_then_shrink();
    CHECK(core);

    uint64_t v = 0;
    CHECK_OK(vmic_read_u64_pa(core, vmic_pa(SHRUNK - 8), &v));
    CHECK_EQ(v, 0x5a5a5a5a5a5a5a5aull);
    CHECK_ERR(vmic_read_u64_pa(core, vmic_pa(LOST_PA), &v), VMIC_E_IO);
    CHECK_ERRMSG(dump_path);
    CHECK_ERRMSG("shrank");
    CHECK_ERRMSG("file offset 0x200000");
    char s[32];
    CHECK_ERR(vmic_read_str_pa(core, vmic_pa(LOST_PA), s, sizeof s - 1, NULL), VMIC_E_IO);
    /* Again, and in another thread: the jump point is per thread. */
    CHECK_ERR(vmic_read_u64_pa(core, vmic_pa(LOST_PA + 0x1000), &v), VMIC_E_IO);
    pthread_t t;
    void *result;
    CHECK(pthread_create(&t, NULL, read_in_thread, core) == 0);
    pthread_join(t, &result);
    CHECK_EQ((vmic_status)(uintptr_t)result, VMIC_E_IO);
    /* What is still in the file still reads. */
    CHECK_OK(vmic_read_u64_pa(core, vmic_pa(0), &v));
    CHECK_EQ(v, 0x5a5a5a5a5a5a5a5aull);
    close_and_remove(core);
}

/* ---- chaining: a SIGBUS outside vmic's mappings is not vmic's --------------------- */

static sigjmp_buf app_jump;
static volatile sig_atomic_t app_handler_ran;

static void app_handler(int sig)
{
    app_handler_ran = 1;
    siglongjmp(app_jump, 1);
}

static void chained_child(void)
{
    /* The application's handler first, then the guard. */
    struct sigaction sa = {.sa_handler = app_handler};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
    if (vmic_sigbus_guard_enable(-1) != VMIC_OK)
        _exit(3);
    char path[64];
    snprintf(path, sizeof path, "/tmp/vmic-sigbus-app.%d", (int)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 8192) != 0)
        _exit(3);
    volatile uint8_t *m = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
    unlink(path);
    if (m == MAP_FAILED || ftruncate(fd, 0) != 0)
        _exit(3);
    if (sigsetjmp(app_jump, 1) == 0) {
        uint8_t b = m[4096];
        (void)b;
        _exit(5);   /* no fault: the test proves nothing */
    }
    _exit(app_handler_ran ? 0 : 6);
}

static void test_other_faults_reach_previous_handler(void)
{
    int status = in_child(chained_child);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the application's own SIGBUS handler did not run (status 0x%x)", status);
}

int main(void)
{
    RUN(test_without_guard_it_dies);
    RUN(test_pointer_fault_exits_with_code);
    RUN(test_other_faults_reach_previous_handler);
    RUN(test_guarded_reads_fail_cleanly);
    return HARNESS_RESULT();
}
