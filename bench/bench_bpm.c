/*
 * What a breakpoint costs with each tap controller (not a test: figures, not
 * verdicts). The guest is taps.elf's TAPS_BENCH: work_fn called n times in a
 * loop. Each run puts one breakpoint manager breakpoint on work_fn (none for
 * the baseline) and times the loop from the guest's PH_START to its PH_DONE;
 * the runs are interleaved and the best of each kept. Per controller:
 *   hits/s      breakpoint hits per second of guest loop
 *   us/hit      the traced loop minus the untraced one, per hit
 *   slowdown    traced loop time / untraced loop time
 *   exits, slot changes   KVM exits and memslot changes per hit
 *
 *   bench_bpm [GUEST_DIR]     (the build's tests/guests by default)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmic/vmic.h>

#include "../tests/guests/guest_abi.h"

#ifndef VMIC_GUEST_DIR
#define VMIC_GUEST_DIR "build/release/tests/guests"
#endif

#define REPEATS 3
#define CALLS 2000

typedef struct kind {
    const char *name;
    bool traced;
    vmic_tap_options_t opt;
} kind;

static const kind KINDS[] = {
    {"none (the loop alone)", false, {0}},
    {"memory", true, {.kind = VMIC_TAP_MEMORY}},
    {"breakpoint (execute-only shadow)", true, {.kind = VMIC_TAP_BREAKPOINT}},
    {"breakpoint (visible shadow)", true, {.kind = VMIC_TAP_BREAKPOINT, .visible = true}},
    {"debugreg", true, {.kind = VMIC_TAP_DEBUGREG}},
};
#define NKINDS (sizeof KINDS / sizeof KINDS[0])

typedef struct figure {
    double s;                  /* the loop, PH_START to PH_DONE */
    uint64_t hits, exits, slot_changes, slot_ns;
} figure;

typedef struct run {
    vmic_core *core;
    vmic_driver *drv;
    vmic_bpm *bpm;
    vmic_va_t work_fn;
    double t_start, t_done;
    vmic_kvm_stats_t k_start, k_done;
    uint64_t hits;
    vmic_status failed;
} run;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((noreturn)) static void die(const char *what)
{
    fprintf(stderr, "bench_bpm: %s: %s\n", what, vmic_errmsg());
    exit(1);
}

static vmic_status at_phase(run *r, const vmic_event_t *ev)
{
    if (ev->io.value == PH_START) {
        if (r->bpm) {
            vmic_breakpoint_t bp = {.va = r->work_fn, .root = vmic_pa(ev->regs.cr3)};
            vmic_status s = vmic_bpm_insert(r->bpm, &bp);
            if (s)
                return r->failed = s;
        }
        vmic_kvm_stats(r->drv, &r->k_start);
        r->t_start = now();
    } else if (ev->io.value == PH_DONE) {
        r->t_done = now();
        vmic_kvm_stats(r->drv, &r->k_done);
    }
    return VMIC_OK;
}

static vmic_status on_event(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *resp,
                            void *arg)
{
    if (ev->kind == VMIC_EVENT_IO && ev->io.port == GUEST_PORT_PHASE)
        return at_phase(arg, ev);
    return VMIC_OK;
}

static vmic_status on_hit(vmic_bpm *bpm, const vmic_event_t *ev, const vmic_bp_state_t *hits,
                          size_t n, vmic_event_response_t *resp, void *arg)
{
    ((run *)arg)->hits++;
    return VMIC_OK;
}

static figure run_once(const char *dir, const kind *k)
{
    char path[512];
    run r = {0};
    guest_params_t params = {.scenario = TAPS_BENCH, .iterations = CALLS};
    vmic_pa_t params_pa;

    snprintf(path, sizeof path, "%s/taps.elf", dir);
    vmic_kvm_options_t opt = {.image = path, .mem_size = 16u << 20};
    if (vmic_kvm_open(&opt, &r.drv) || vmic_core_open(r.drv, NULL, &r.core))
        die(path);
    if (vmic_kvm_symbol(r.drv, "guest_params", NULL, &params_pa) ||
        vmic_kvm_symbol(r.drv, "work_fn", &r.work_fn, NULL) ||
        vmic_write_pa(r.core, params_pa, &params, sizeof params))
        die("taps.elf symbols");
    vmic_monitor_t phases = {.kind = VMIC_MONITOR_IO, .ports = {GUEST_PORT_PHASE, GUEST_PORT_PHASE}};
    if (vmic_monitor_enable(r.core, &phases))
        die("phase monitor");
    if (k->traced) {
        vmic_tap *tap;
        if (vmic_tap_open(r.core, &k->opt, &tap) || vmic_bpm_open(r.core, tap, &r.bpm))
            die(k->name);
    }
    vmic_bpm_handler_t bh = {.on_hit = on_hit, .on_event = on_event, .arg = &r};
    vmic_event_handler_t eh = {.on_event = on_event, .arg = &r};
    if (vmic_resume(r.core))
        die("resume");
    vmic_status s = r.bpm ? vmic_bpm_run(r.bpm, &bh, 1000) : vmic_run_events(r.core, &eh, 1000);
    vmic_guest_state_t st;
    if (s || r.failed || vmic_guest_state(r.core, &st) || st.state != VMIC_GUEST_EXITED ||
        st.exit_code != 0 || r.t_done <= r.t_start)
        die("taps.elf did not finish its loop");
    vmic_bpm_close(r.bpm);
    vmic_core_close(r.core);

    figure f = {.s = r.t_done - r.t_start, .hits = r.hits};
    f.exits = r.k_done.exits - r.k_start.exits;
    f.slot_changes = r.k_done.slot_changes - r.k_start.slot_changes;
    f.slot_ns = r.k_done.slot_change_ns - r.k_start.slot_change_ns;
    return f;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : VMIC_GUEST_DIR;
    char why[256];
    figure best[NKINDS];

    if (!vmic_kvm_available(why, sizeof why)) {
        fprintf(stderr, "bench_bpm: no KVM here: %s\n", why);
        return 1;
    }
    /* This machine shares its host: interleave, keep the best of each. */
    for (int round = 0; round < REPEATS; round++) {
        for (size_t i = 0; i < NKINDS; i++) {
            figure f = run_once(dir, &KINDS[i]);
            if (round == 0 || f.s < best[i].s)
                best[i] = f;
        }
    }
    const figure *base = &best[0];
    printf("best of %d runs; the guest calls work_fn %d times, a breakpoint on it\n", REPEATS,
           CALLS);
    printf("%-34s %10s %9s %9s %10s %13s\n", "controller", "hits/s", "us/hit", "slowdown",
           "exits/hit", "slots/hit");
    printf("%-34s %10s %9s %8.2fx %10s %13s   (loop %.2f us per call)\n", KINDS[0].name, "-",
           "-", 1.0, "-", "-", base->s / CALLS * 1e6);
    for (size_t i = 1; i < NKINDS; i++) {
        const figure *f = &best[i];
        if (f->hits != CALLS) {
            fprintf(stderr, "bench_bpm: %s counted %llu hits, not %d\n", KINDS[i].name,
                    (unsigned long long)f->hits, CALLS);
            return 1;
        }
        double per_hit = (f->s - base->s) / CALLS * 1e6;
        printf("%-34s %10.0f %9.2f %8.2fx %10.2f %6.2f (%4.1f us)\n", KINDS[i].name,
               CALLS / f->s, per_hit, f->s / base->s, (double)f->exits / CALLS,
               (double)f->slot_changes / CALLS, (double)f->slot_ns / CALLS / 1000.0);
    }
    return 0;
}
