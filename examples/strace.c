/*
 * strace: the system calls, forks, execs and exits of a live Linux guest,
 * one line each, seen from outside with vmic's tracer.
 *
 *   usage: strace qemu:DIR [COMM]      (only tasks named COMM; Ctrl-C ends)
 *
 *   [1234 sh] openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = 3
 *
 * Syscall names and argument types come from the guest kernel's own
 * metadata; strings and buffers are read from the calling process. At the
 * end: calls per syscall. Every breakpoint is removed however it ends.
 */
#include <stdio.h>

#include <vmic/vmic.h>

static int print(const vmic_trace_event_t *ev, void *arg)
{
    char line[2048];
    vmic_trace_format(ev, line, sizeof line);
    printf("%s\n", line);
    return 0; /* go on */
}

static void summary(const vmic_tracer *t)
{
    vmic_trace_count_t rows[10];
    size_t n = vmic_tracer_syscall_counts(t, rows, 10);
    fprintf(stderr, "\n%8s %8s  %s\n", "calls", "errors", "syscall (top 10)");
    for (size_t i = 0; i < n && i < 10; i++)
        fprintf(stderr, "%8llu %8llu  %s\n", (unsigned long long)rows[i].calls,
                (unsigned long long)rows[i].errors, rows[i].name);
}

int main(int argc, char **argv)
{
    vmic_qemu_config_t cfg = {.stay_paused = true};
    vmic_driver *drv;
    vmic_core *core;
    vmic_os *os;
    vmic_tracer *t;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s qemu:DIR [COMM]\n", argv[0]);
        return 2;
    }
    vmic_target_options_t target_opt = {.live = &cfg};
    if (vmic_open_target(argv[1], &target_opt, &drv) || vmic_core_open(drv, NULL, &core)) {
        fprintf(stderr, "%s: %s\n", argv[1], vmic_errmsg());
        return 1;
    }
    vmic_trace_options_t opt = {.comm = argc == 3 ? argv[2] : NULL};
    if (vmic_os_open(core, NULL, &os) || vmic_tracer_open(os, &opt, &t)) {
        fprintf(stderr, "%s\n", vmic_errmsg());
        vmic_core_close(core);
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Until Ctrl-C (VMIC_E_INTERRUPTED), or an error such as QEMU dying. */
    vmic_status s = vmic_tracer_run(t, print, NULL);
    if (s && s != VMIC_E_INTERRUPTED)
        fprintf(stderr, "%s\n", vmic_errmsg());
    summary(t);
    vmic_tracer_close(t);
    vmic_os_close(os);
    vmic_core_close(core); /* the guest runs on, untraced */
    return s && s != VMIC_E_INTERRUPTED ? 1 : 0;
}
