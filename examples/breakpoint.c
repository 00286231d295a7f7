/*
 * breakpoint: count how often a live Linux guest runs a kernel function.
 *
 *   usage: breakpoint qemu:DIR FUNCTION [SECONDS]     (default 5 seconds)
 *
 * The function's address comes from the guest's own kallsyms. The
 * breakpoint goes through a breakpoint manager with whatever tap the driver
 * allows (on QEMU: an exec watch in vmic's plugin, where only the vCPU at
 * the breakpoint waits, or without the plugin a gdbstub hardware breakpoint;
 * guest memory untouched either way), every hit is stepped over, and when the time is up (or on Ctrl-C) the session
 * ends: the breakpoint is removed and the guest runs on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <vmic/vmic.h>

typedef struct counter {
    uint64_t hits;
    double end;
} counter;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static vmic_status on_hit(vmic_bpm *bpm, const vmic_event_t *ev, const vmic_bp_state_t *hits,
                          size_t n, vmic_event_response_t *resp, void *arg)
{
    ((counter *)arg)->hits++;
    return VMIC_OK; /* resp is already the step-over */
}

static bool time_is_up(vmic_core *core, void *arg)
{
    return now() >= ((counter *)arg)->end;
}

int main(int argc, char **argv)
{
    vmic_qemu_config_t cfg = {.stay_paused = true};
    vmic_driver *drv;
    vmic_core *core;
    vmic_os *os;
    vmic_tap *tap;
    vmic_bpm *bpm;
    vmic_va_t va;

    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s qemu:DIR FUNCTION [SECONDS]\n", argv[0]);
        return 2;
    }
    double seconds = argc == 4 ? atof(argv[3]) : 5;
    vmic_target_options_t target_opt = {.live = &cfg};
    if (vmic_open_target(argv[1], &target_opt, &drv) || vmic_core_open(drv, NULL, &core)) {
        fprintf(stderr, "%s: %s\n", argv[1], vmic_errmsg());
        return 1;
    }
    /* Whatever tap the driver allows (qemu: the plugin's exec watches, else
     * debug registers). */
    vmic_tap_options_t topt = {.kind = VMIC_TAP_AUTO};
    if (vmic_os_open(core, NULL, &os) || vmic_os_symbol(os, argv[2], &va) ||
        vmic_tap_open(core, &topt, &tap) || vmic_bpm_open(core, tap, &bpm)) {
        fprintf(stderr, "%s\n", vmic_errmsg());
        vmic_core_close(core);
        return 1;
    }
    /* Kernel code is mapped in every address space: one global breakpoint. */
    vmic_breakpoint_t bp = {.va = va, .root = vmic_os_kernel(os)->root, .global = true};
    counter c = {.end = now() + seconds};
    vmic_bpm_handler_t h = {.on_hit = on_hit, .should_stop = time_is_up, .arg = &c};
    vmic_status s = vmic_bpm_insert(bpm, &bp);
    vmic_core_take_signals(core, true); /* Ctrl-C ends it early, breakpoint removed */
    if (s == VMIC_OK)
        s = vmic_resume(core); /* opened paused */
    if (s == VMIC_OK)
        s = vmic_bpm_run(bpm, &h, 100);
    if (s && s != VMIC_E_INTERRUPTED)
        fprintf(stderr, "%s\n", vmic_errmsg());
    printf("%llu hits of %s (0x%llx) in %.1f s\n", (unsigned long long)c.hits, argv[2],
           (unsigned long long)va.addr, seconds);
    vmic_bpm_close(bpm);
    vmic_os_close(os);
    vmic_core_close(core);
    return s && s != VMIC_E_INTERRUPTED ? 1 : 0;
}
