/*
 * The C side of bench/python/bench_python.py: the walks the Python package
 * wraps, timed in C over the same shared libvmic, so that what Python adds
 * per object can be told apart from the walk itself.
 *
 *   bench_python_walk DUMP RUNS
 *
 * Prints one JSON object: the best of RUNS (after one warm-up) for the
 * process walk with a callback that only counts, the same walk reading each
 * process's command line (what `vmic ps` and p.cmdline do), and every
 * kallsyms symbol, the kernel's then the modules' (vmic_os_symbol_get and
 * vmic_os_module_symbol_get, what vm.symbols() calls), in ns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmic/vmic.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

__attribute__((noreturn)) static void die(const char *what)
{
    fprintf(stderr, "bench_python_walk: %s: %s\n", what, vmic_errmsg());
    exit(1);
}

static int count(void *arg, const vmic_process_t *p)
{
    (void)p;
    ++*(size_t *)arg;
    return 0;
}

typedef struct with_cmdline {
    vmic_os *os;
    size_t n;
} with_cmdline;

static int count_cmdline(void *arg, const vmic_process_t *p)
{
    with_cmdline *w = arg;
    char buf[4096];
    if (!p->kernel_thread)
        (void)vmic_os_process_cmdline(w->os, p, buf, sizeof buf, NULL);
    w->n++;
    return 0;
}

/* Every symbol, touching its name as Python's decode does. */
static size_t all_symbols(vmic_os *os)
{
    vmic_symbol_t s;
    size_t n = 0, mods = 0, len = 0;
    for (size_t i = 0; i < vmic_os_symbol_count(os); i++, n++) {
        if (vmic_os_symbol_get(os, i, &s))
            die("kallsyms");
        len += strlen(s.name);
    }
    if (vmic_os_module_symbols(os, &mods))
        die("module symbols");
    for (size_t i = 0; i < mods; i++, n++) {
        if (vmic_os_module_symbol_get(os, i, &s))
            die("module symbol");
        len += strlen(s.name);
    }
    return len ? n : 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_python_walk DUMP RUNS\n");
        return 2;
    }
    int runs = atoi(argv[2]);
    vmic_driver *drv;
    vmic_core *core;
    vmic_os *os;
    if (vmic_open_target(argv[1], NULL, &drv) || vmic_core_open(drv, NULL, &core))
        die(argv[1]);
    if (vmic_os_open(core, NULL, &os))
        die("no kernel");
    /* Each measured alone, RUNS times after a warm-up: one walk must not
     * evict the caches of another. */
    double best[3] = {1e30, 1e30, 1e30};
    size_t nproc = 0, nsym = 0;
    for (int r = 0; r <= runs; r++) {
        double t = now_ns();
        nproc = 0;
        if (vmic_os_processes(os, count, &nproc))
            die("processes");
        if (r > 0 && now_ns() - t < best[0])
            best[0] = now_ns() - t;
    }
    for (int r = 0; r <= runs; r++) {
        with_cmdline w = {os, 0};
        double t = now_ns();
        if (vmic_os_processes(os, count_cmdline, &w))
            die("processes");
        if (r > 0 && now_ns() - t < best[1])
            best[1] = now_ns() - t;
    }
    for (int r = 0; r <= runs; r++) {
        double t = now_ns();
        nsym = all_symbols(os);
        if (r > 0 && now_ns() - t < best[2])
            best[2] = now_ns() - t;
    }
    printf("{\"processes\": %zu, \"walk_ns\": %.0f, \"walk_cmdline_ns\": %.0f, "
           "\"symbols\": %zu, \"symbols_ns\": %.0f}\n", nproc, best[0], best[1], nsym, best[2]);
    vmic_os_close(os);
    vmic_core_close(core);
    return 0;
}
