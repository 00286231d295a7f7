/*
 * What an event costs on the kvm driver (not a test: figures, not verdicts).
 * Every figure is given as a ratio to a raw KVM_EXIT_IO round trip measured
 * in the same run, on a bare KVM VM set up here without vmic, running the
 * same four-instruction OUT loop as the guest of (a):
 *   (a) a port I/O event answered Continue
 *   (b) an INT3 breakpoint hit with the usual step-over: put the byte back,
 *       Singlestep, re-arm on the SINGLESTEP event (no reinjection)
 *   (c) an execute trap (X removed in view 1) answered FastSinglestep to view 0
 * (b) and (c) are the traced loop minus the same loop untraced, per hit; each
 * line also gives the KVM exits and memslot changes one event needs.
 *
 *   bench_kvm [GUEST_DIR]     (the build's tests/guests by default)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <vmic/vmic.h>

#include "../tests/guests/guest_abi.h"

#ifndef VMIC_GUEST_DIR
#define VMIC_GUEST_DIR "build/release/tests/guests"
#endif

#define REPEATS 5
#define RAW_EXITS 20000
#define RAW_WARMUP 500
#define IO_EVENTS 20000
#define BP_HITS 4000
#define EXEC_TRAPS 1500

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((noreturn)) static void die(const char *what)
{
    fprintf(stderr, "bench_kvm: %s: %s\n", what, *vmic_errmsg() ? vmic_errmsg() : strerror(errno));
    exit(1);
}

/* ---- the baseline: a bare KVM VM, no vmic ----------------------------------------- */

#define RAW_MEM (2u << 20)

/* Long mode on one 2 MiB identity page, then
 *   mov ecx, n; 1: mov dx, 0x513; out dx, eax; dec ecx; jnz 1b; hlt */
static double raw_exit_us(int n)
{
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    uint8_t *mem = mmap(NULL, RAW_MEM, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (kvm < 0 || vm < 0 || mem == MAP_FAILED)
        die("bare VM");
    struct kvm_userspace_memory_region slot = {.memory_size = RAW_MEM,
                                               .userspace_addr = (uint64_t)(uintptr_t)mem};
    int vcpu = ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0 ? -1 : ioctl(vm, KVM_CREATE_VCPU, 0);
    int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    struct kvm_run *run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (vcpu < 0 || run == MAP_FAILED)
        die("bare vCPU");

    uint64_t *pml4 = (uint64_t *)(mem + 0x1000), *pdpt = (uint64_t *)(mem + 0x2000);
    uint64_t *pd = (uint64_t *)(mem + 0x3000), *gdt = (uint64_t *)(mem + 0x500);
    pml4[0] = 0x2000 | 3;
    pdpt[0] = 0x3000 | 3;
    pd[0] = 0x83;
    gdt[1] = 0x00af9b000000ffffull;
    gdt[2] = 0x00cf93000000ffffull;
    uint8_t code[] = {0xb9, 0, 0, 0, 0, 0x66, 0xba, 0x13, 0x05, 0xef, 0xff, 0xc9, 0x75, 0xf7, 0xf4};
    memcpy(code + 1, &n, 4);
    memcpy(mem + 0x10000, code, sizeof code);

    struct kvm_sregs sr;
    ioctl(vcpu, KVM_GET_SREGS, &sr);
    struct kvm_segment cs = {.limit = 0xffffffff, .selector = 8, .type = 11, .present = 1,
                             .s = 1, .l = 1, .g = 1};
    struct kvm_segment ds = {.limit = 0xffffffff, .selector = 16, .type = 3, .present = 1,
                             .s = 1, .db = 1, .g = 1};
    sr.cs = cs;
    sr.ds = sr.es = sr.fs = sr.gs = sr.ss = ds;
    sr.gdt.base = 0x500;
    sr.gdt.limit = 23;
    sr.cr3 = 0x1000;
    sr.cr4 = 0x20;
    sr.cr0 = 0x80000011;
    sr.efer = 0x500;
    struct kvm_regs r = {.rip = 0x10000, .rsp = 0x200000, .rflags = 2};
    if (ioctl(vcpu, KVM_SET_SREGS, &sr) < 0 || ioctl(vcpu, KVM_SET_REGS, &r) < 0)
        die("bare VM registers");

    /* The first entries fault memory in and build KVM's page tables: they
     * are not what an exit costs. Time from the RAW_WARMUP-th exit on. */
    int exits = 0;
    double t0 = 0;
    for (;;) {
        if (exits == RAW_WARMUP)
            t0 = now();
        if (ioctl(vcpu, KVM_RUN, 0) < 0)
            die("KVM_RUN");
        if (run->exit_reason != KVM_EXIT_IO)
            break;
        exits++;
    }
    double t = now() - t0;
    if (run->exit_reason != KVM_EXIT_HLT || exits != n)
        die("the bare loop did not end as planned");
    n -= RAW_WARMUP;
    munmap(run, (size_t)size);
    close(vcpu);
    close(vm);
    close(kvm);
    munmap(mem, RAW_MEM);
    return t / n * 1e6;
}

/* ---- vmic: bench.elf's loops with events ---------------------------------------------- */

typedef struct bench_ctx {
    uint32_t scenario;
    vmic_core *core;
    vmic_pa_t bp;
    vmic_gfn_t exec_gfn;
    vmic_view_t view;
    double t_start, t_done;
    vmic_kvm_stats_t s_start, s_done;
    uint64_t events;
} bench_ctx;

static vmic_status arm(bench_ctx *c)
{
    vmic_core *core = c->core;
    vmic_monitor_t tick = {.kind = VMIC_MONITOR_IO, .ports = {GUEST_PORT_TICK, GUEST_PORT_TICK}};
    vmic_monitor_t int3 = {.kind = VMIC_MONITOR_INTERRUPT, .vector = 3};
    vmic_status s;

    switch (c->scenario) {
    case 1:
        return vmic_monitor_enable(core, &tick);
    case 2:
        if ((s = vmic_monitor_enable(core, &int3)))
            return s;
        return vmic_bp_insert(core, c->bp);
    case 3:
        if ((s = vmic_create_view(core, &c->view)) ||
            (s = vmic_set_access(core, c->view, c->exec_gfn, VMIC_ACCESS_RW)))
            return s;
        return vmic_switch_view(core, c->view);
    }
    return VMIC_OK;
}

static vmic_status on_event(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *r,
                            void *arg)
{
    bench_ctx *c = arg;
    vmic_driver *drv = vmic_core_driver(core);

    if (ev->kind == VMIC_EVENT_IO && ev->io.port == GUEST_PORT_PHASE) {
        if (ev->io.value == PH_START) {
            vmic_kvm_stats(drv, &c->s_start);
            c->t_start = now();
            return arm(c);
        }
        c->t_done = now();
        return vmic_kvm_stats(drv, &c->s_done);
    }
    c->events++;
    switch (ev->kind) {
    case VMIC_EVENT_INTERRUPT:   /* (b): the byte back, one step */
        r->action = VMIC_ACTION_SINGLESTEP;
        return vmic_bp_disarm(core, c->bp);
    case VMIC_EVENT_SINGLESTEP:  /* (b): the INT3 again */
        return vmic_bp_arm(core, c->bp);
    case VMIC_EVENT_MEMORY_ACCESS: /* (c) */
        r->action = VMIC_ACTION_FAST_SINGLESTEP;
        r->set_view = true;
        r->view = VMIC_VIEW_DEFAULT;
        return VMIC_OK;
    default:
        return VMIC_OK;          /* (a): Continue */
    }
}

typedef struct figure {
    double us;               /* per iteration of the guest's loop */
    double exits, slot_changes, slot_us, events;
} figure;

static figure run_loop(const char *dir, uint32_t scenario, uint32_t n)
{
    char path[512];
    vmic_driver *drv;
    bench_ctx c = {.scenario = scenario};
    guest_params_t params = {.scenario = scenario, .iterations = n};
    vmic_pa_t params_pa = vmic_pa(0), exec_pa = vmic_pa(0);

    snprintf(path, sizeof path, "%s/bench.elf", dir);
    vmic_kvm_options_t opt = {.image = path, .mem_size = 16u << 20};
    if (vmic_kvm_open(&opt, &drv) || vmic_core_open(drv, NULL, &c.core))
        die(path);
    if (vmic_kvm_symbol(drv, "guest_params", NULL, &params_pa) ||
        vmic_kvm_symbol(drv, "work_fn", NULL, &c.bp) ||
        vmic_kvm_symbol(drv, "exec_page", NULL, &exec_pa) ||
        vmic_write_pa(c.core, params_pa, &params, sizeof params))
        die("bench.elf symbols");
    c.exec_gfn = vmic_pa_to_gfn(exec_pa);
    vmic_monitor_t phases = {.kind = VMIC_MONITOR_IO, .ports = {GUEST_PORT_PHASE, GUEST_PORT_PHASE}};
    vmic_event_handler_t h = {.on_event = on_event, .arg = &c};
    if (vmic_monitor_enable(c.core, &phases) || vmic_resume(c.core) ||
        vmic_run_events(c.core, &h, 1000))
        die("event session");
    vmic_guest_state_t st;
    if (vmic_guest_state(c.core, &st) || st.state != VMIC_GUEST_EXITED || st.exit_code != 0 ||
        c.t_done <= c.t_start)
        die("bench.elf did not finish its loop");
    vmic_core_close(c.core);

    figure f = {.us = (c.t_done - c.t_start) / n * 1e6};
    f.exits = (double)(c.s_done.exits - c.s_start.exits) / n;
    f.slot_changes = (double)(c.s_done.slot_changes - c.s_start.slot_changes) / n;
    f.slot_us = (double)(c.s_done.slot_change_ns - c.s_start.slot_change_ns) / n / 1000.0;
    f.events = (double)c.events / n;
    return f;
}

static void keep_best(figure *best, const figure *f, int round)
{
    if (round == 0 || f->us < best->us)
        *best = *f;
}
static void report(const char *what, double us, double raw, const figure *f, double events)
{
    printf("%-46s %8.2f us %6.2fx raw", what, us, us / raw);
    if (f)
        printf("   %.2f exits, %.2f events, %.2f slot changes (%.1f us in them)", f->exits,
               events, f->slot_changes, f->slot_us);
    printf("\n");
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : VMIC_GUEST_DIR;
    char why[256];

    if (!vmic_kvm_available(why, sizeof why)) {
        fprintf(stderr, "bench_kvm: no KVM here: %s\n", why);
        return 1;
    }
    /* This machine shares its host: interleave the figures and keep the best
     * of each, so that a noisy moment does not favour one of them. */
    double raw = 0;
    figure io = {0}, bp = {0}, loop = {0}, exec = {0}, exec_loop = {0}, f;
    for (int round = 0; round < REPEATS; round++) {
        double r = raw_exit_us(RAW_EXITS);
        if (round == 0 || r < raw)
            raw = r;
        f = run_loop(dir, 1, IO_EVENTS), keep_best(&io, &f, round);
        f = run_loop(dir, 2, BP_HITS), keep_best(&bp, &f, round);
        f = run_loop(dir, 4, BP_HITS), keep_best(&loop, &f, round);
        f = run_loop(dir, 3, EXEC_TRAPS), keep_best(&exec, &f, round);
        f = run_loop(dir, 5, EXEC_TRAPS), keep_best(&exec_loop, &f, round);
    }
    printf("best of %d runs; loops of %d / %d / %d / %d iterations\n", REPEATS, RAW_EXITS,
           IO_EVENTS, BP_HITS, EXEC_TRAPS);
    report("raw KVM_EXIT_IO round trip (bare VM, no vmic)", raw, raw, NULL, 0);
    report("(a) port I/O event, Continue", io.us, raw, &io, io.events);
    report("(b) INT3 hit, step-over (disarm, step, re-arm)", bp.us - loop.us, raw, &bp, bp.events);
    report("(c) execute trap, FastSinglestep to view 0", exec.us - exec_loop.us, raw, &exec,
           exec.events);
    printf("(b) and (c) are per hit, the untraced loop (%.2f and %.2f us) taken off\n", loop.us,
           exec_loop.us);
    return 0;
}
