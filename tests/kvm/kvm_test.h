/*
 * Helpers for tests that host a test guest (tests/guests) on /dev/kvm:
 * open a guest with parameters, run an event session with a deadline, read
 * what the guest reported ("R name value" lines on its serial port).
 * Without /dev/kvm every kvm test says so loudly and exits 77 (skipped).
 */
#ifndef VMIC_KVM_TEST_H
#define VMIC_KVM_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmic/vmic.h>

#include "guest_abi.h"
#include "harness.h"

#define GUEST_MEM (16ull << 20)
#define RUN_SECONDS 60

typedef struct guest_vm {
    vmic_core *core;
    vmic_driver *drv;
    vmic_gfn_t counter_gfn, shadow_gfn, exec_gfn;
} guest_vm;

static inline void kvm_require_or_skip(void)
{
    char why[256];
    if (!vmic_kvm_available(why, sizeof why)) {
        fprintf(stderr, "\n*** SKIPPED: these tests need /dev/kvm: %s ***\n\n", why);
        exit(TEST_SKIP);
    }
}

static inline vmic_pa_t sym_pa(guest_vm *g, const char *name)
{
    vmic_pa_t pa = vmic_pa(0);
    if (vmic_kvm_symbol(g->drv, name, NULL, &pa) != VMIC_OK)
        fprintf(stderr, "  no symbol %s: %s\n", name, vmic_errmsg());
    return pa;
}

static inline vmic_va_t sym_va(guest_vm *g, const char *name)
{
    vmic_va_t va = vmic_va(0);
    if (vmic_kvm_symbol(g->drv, name, &va, NULL) != VMIC_OK)
        fprintf(stderr, "  no symbol %s: %s\n", name, vmic_errmsg());
    return va;
}

/* Opens IMAGE (in the guest build dir) paused, with its parameter block set. */
static inline vmic_status guest_open(guest_vm *g, const char *image, uint32_t vcpus,
                                     const guest_params_t *params)
{
    char path[512];
    vmic_status s;

    memset(g, 0, sizeof *g);
    snprintf(path, sizeof path, "%s/%s", VMIC_GUEST_DIR, image);
    vmic_kvm_options_t opt = {.image = path, .mem_size = GUEST_MEM, .vcpus = vcpus,
                              .console = getenv("VMIC_TEST_CONSOLE") ? stderr : NULL};
    if ((s = vmic_kvm_open(&opt, &g->drv)))
        return s;
    if ((s = vmic_core_open(g->drv, NULL, &g->core)))
        return s;
    g->counter_gfn = vmic_pa_to_gfn(sym_pa(g, "counter_page"));
    g->shadow_gfn = vmic_pa_to_gfn(sym_pa(g, "shadow_page"));
    g->exec_gfn = vmic_pa_to_gfn(sym_pa(g, "exec_page"));
    if (params)
        s = vmic_write_pa(g->core, sym_pa(g, "guest_params"), params, sizeof *params);
    return s;
}

static inline void guest_close(guest_vm *g)
{
    vmic_core_close(g->core);
    g->core = NULL;
}

/* The phase a guest announces, if ev is one. */
static inline bool phase_of(const vmic_event_t *ev, uint32_t *phase)
{
    if (ev->kind != VMIC_EVENT_IO || ev->io.port != GUEST_PORT_PHASE || !ev->io.out)
        return false;
    *phase = (uint32_t)ev->io.value;
    return true;
}

static inline vmic_status watch_phases(guest_vm *g)
{
    vmic_monitor_t m = {.kind = VMIC_MONITOR_IO,
                        .ports = {GUEST_PORT_PHASE, GUEST_PORT_PHASE}};
    return vmic_monitor_enable(g->core, &m);
}

/* ---- running: the test's on_event, with a deadline ------------------------------- */

typedef vmic_status (*test_event_fn)(vmic_core *core, const vmic_event_t *ev,
                                     vmic_event_response_t *resp, void *arg);

typedef struct run_ctx {
    test_event_fn on_event;
    void *arg;
    time_t deadline;
    bool timed_out;
} run_ctx;

static inline vmic_status run_forward(vmic_core *core, const vmic_event_t *ev,
                                      vmic_event_response_t *resp, void *arg)
{
    run_ctx *r = arg;
    return r->on_event(core, ev, resp, r->arg);
}

static inline bool run_deadline(vmic_core *core, void *arg)
{
    run_ctx *r = arg;
    if (time(NULL) > r->deadline)
        r->timed_out = true;
    return r->timed_out;
}

/* Resumes the guest and handles its events until it stops (or the
 * deadline); the session's end undoes every trap the test set. */
static inline vmic_status guest_run(guest_vm *g, test_event_fn on_event, void *arg)
{
    run_ctx r = {.on_event = on_event, .arg = arg, .deadline = time(NULL) + RUN_SECONDS};
    vmic_event_handler_t h = {.on_event = run_forward, .should_stop = run_deadline, .arg = &r};
    vmic_status s = vmic_resume(g->core);
    if (s == VMIC_OK)
        s = vmic_run_events(g->core, &h, 1000);
    if (s == VMIC_OK && r.timed_out)
        s = vmic_fail(VMIC_E_TIMEOUT, "the guest did not finish within %d s", RUN_SECONDS);
    return s;
}

/* The guest's exit code, or -1 (and why, on stderr) if it did not exit. */
static inline int guest_exit_code(guest_vm *g)
{
    vmic_guest_state_t st;
    if (vmic_kvm_wait(g->drv, 10000) != VMIC_OK || vmic_guest_state(g->core, &st) != VMIC_OK) {
        fprintf(stderr, "  guest still running: %s\n", vmic_errmsg());
        return -1;
    }
    if (st.state != VMIC_GUEST_EXITED) {
        fprintf(stderr, "  guest did not exit: %s\nconsole:\n%s", st.message,
                vmic_kvm_console(g->drv, NULL));
        return -1;
    }
    if (st.exit_code != 0)
        fprintf(stderr, "  guest exit code %d; console:\n%s", st.exit_code,
                vmic_kvm_console(g->drv, NULL));
    return st.exit_code;
}

/* The last "R name value" the guest printed; UINT64_MAX if none. */
static inline uint64_t guest_report(guest_vm *g, const char *name)
{
    const char *text = vmic_kvm_console(g->drv, NULL);
    size_t nlen = strlen(name);
    uint64_t value = UINT64_MAX;

    for (const char *line = text; line && *line;) {
        if (line[0] == 'R' && line[1] == ' ' && strncmp(line + 2, name, nlen) == 0 &&
            line[2 + nlen] == ' ')
            value = strtoull(line + 3 + nlen, NULL, 0);
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    if (value == UINT64_MAX)
        fprintf(stderr, "  the guest reported no '%s'; console:\n%s", name, text);
    return value;
}

#endif
