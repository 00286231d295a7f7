/*
 * Breakpoint events per second through QEMU's gdbstub (not a test: figures,
 * not verdicts), vmic against Debian's gdb on the same breakpoint of the
 * same QEMU, in one run:
 *
 *   vmic  vmic_hw_breakpoint_set + vmic_run_events, every hit answered
 *         Continue (the driver steps the vCPU over the breakpoint)
 *   gdb   gdb -batch: target remote, break *ADDR, ignore 1 N, continue; gdb
 *         stops at every hit, counts it against the ignore count, steps over
 *         and continues, all inside gdb; timed with `shell date` around the
 *         continue, the count read back from `info breakpoints`
 *   gdb   the same with a breakpoint command list (commands 1 / silent /
 *         set $n = $n + 1 / continue / end), how a gdb user counts hits or
 *         logs them: the reference
 *
 * The breakpoint must be hit as fast as a debugger can take it, so that the
 * figure is the debugger's and QEMU's cost, not the guest's pace: the guest
 * boots with idle=poll and one vCPU, which then spins in cpu_idle_poll();
 * the breakpoint is the instruction the spin loop stops on (the vCPU's RIP
 * when paused, checked to lie in cpu_idle_poll by the guest's kallsyms).
 * Alongside, QEMU's own floor through vmic's raw gdb client: a 'c' that
 * stops on the breakpoint again at once, one 'vCont;s' step, one 'g'.
 *
 *   bench_qemu [VMIC_BINARY [FIXTURE_DIR]]      boots its own guest
 *   bench_qemu --target qemu:DIR                one booted with idle=poll
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmic/vmic.h>

#include "../tests/qemu/live.h"
#include "drivers/qemu/qemu.h"

#define EVENTS 300       /* measured per round, after WARMUP */
#define WARMUP 50
#define RUNS 7           /* rounds, vmic and gdb alternating: drifts hit both */
#define RAW_ROUNDS 300

static char dir[300], target[310];

__attribute__((noreturn)) static void die(const char *what)
{
    fprintf(stderr, "bench_qemu: %s: %s\n", what, vmic_errmsg());
    exit(1);
}

/* cpu_idle_poll's [start, end) from the guest's kallsyms in serial1.log. */
static bool idle_poll_range(uint64_t *start, uint64_t *end)
{
    char path[400], line[512], name[256];
    unsigned long long a;
    char type;
    snprintf(path, sizeof path, "%s/serial1.log", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    *start = *end = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%llx %c %255s", &a, &type, name) == 3 && (type == 't' || type == 'T') &&
            (!strcmp(name, "cpu_idle_poll") || !strncmp(name, "cpu_idle_poll.", 14)))
            *start = a;
    rewind(f);
    while (*start && fgets(line, sizeof line, f))
        if (sscanf(line, "%llx %c %255s", &a, &type, name) == 3 && a > *start &&
            (!*end || a < *end))
            *end = a;
    fclose(f);
    return *start && *end;
}

static vmic_core *open_core(void)
{
    vmic_driver *drv;
    vmic_core *core;
    vmic_qemu_config_t cfg = {.timeout_ms = 5000};
    if (vmic_qemu_open_target(target, &cfg, &drv) || vmic_core_open(drv, NULL, &core))
        die(target);
    return core;
}

/* The instruction vCPU 0 spins on: where it is, paused, most of the time. */
static uint64_t spin_address(void)
{
    uint64_t start, end;
    if (!idle_poll_range(&start, &end)) {
        fprintf(stderr, "bench_qemu: no cpu_idle_poll in %s/serial1.log\n", dir);
        exit(1);
    }
    vmic_core *core = open_core();
    uint64_t rip = 0;
    for (int i = 0; i < 50 && !(rip >= start && rip < end); i++) {
        vmic_amd64_regs_t r;
        if (vmic_pause(core) || vmic_get_regs(core, 0, &r) || vmic_resume(core))
            die("reading vCPU 0");
        rip = r.rip;
        live_sleep_ms(10);
    }
    vmic_core_close(core);
    if (!(rip >= start && rip < end)) {
        fprintf(stderr, "bench_qemu: vCPU 0 is not spinning in cpu_idle_poll (0x%" PRIx64
                "-0x%" PRIx64 "): was the guest booted with idle=poll?\n", start, end);
        exit(1);
    }
    fprintf(stderr, "  breakpoint: cpu_idle_poll+0x%" PRIx64 " (0x%" PRIx64 ")\n", rip - start,
            rip);
    return rip;
}

/* ---- vmic ---------------------------------------------------------------------- */

typedef struct counter {
    uint64_t va;
    unsigned n, wrong;
    double t_warm, t_last;
} counter;

static vmic_status count(vmic_core *c, const vmic_event_t *ev, vmic_event_response_t *resp,
                         void *arg)
{
    counter *k = arg;
    k->wrong += ev->kind != VMIC_EVENT_BREAKPOINT || ev->regs.rip != k->va;
    if (++k->n == WARMUP)
        k->t_warm = live_now();
    k->t_last = live_now();
    return VMIC_OK;
}

static bool enough(vmic_core *c, void *arg)
{
    return ((counter *)arg)->n >= WARMUP + EVENTS;
}

static double packets_per_event;

static double vmic_rate(uint64_t va)
{
    vmic_core *core = open_core();
    counter k = {.va = va};
    vmic_event_handler_t h = {.on_event = count, .should_stop = enough, .arg = &k};
    const gdb_remote_t *g = &qemu_of(vmic_core_driver(core))->gdb;
    if (vmic_hw_breakpoint_set(core, vmic_va(va)))
        die("breakpoint");
    uint64_t sent = g->stats.packets_sent;
    if (vmic_run_events(core, &h, 1000))
        die("vmic session");
    packets_per_event = (double)(g->stats.packets_sent - sent) / k.n;
    vmic_core_close(core);
    if (k.wrong)
        fprintf(stderr, "bench_qemu: %u events were not the breakpoint\n", k.wrong);
    return (double)(k.n - WARMUP) / (k.t_last - k.t_warm);
}

/* ---- gdb ------------------------------------------------------------------------- */

/*
 * Runs gdb; its output has two "T<seconds>" lines around the timed continue
 * and the hit count, in `info breakpoints` ("breakpoint already hit N
 * times") or printed by the script ("N<count>"). Hits per second; the
 * script, if any, is removed.
 */
static double gdb_timed(char *const argv[], const char *what, const char *script)
{
    static char out[1 << 16];
    int rc = live_run(argv, out, sizeof out, 300);
    if (script)
        unlink(script);
    if (rc != 0) {
        fprintf(stderr, "bench_qemu: gdb (%s) failed:\n%s\n", what, out);
        exit(1);
    }
    double t[2];
    int nt = 0;
    unsigned hits = 0;
    for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (l[0] == 'T' && nt < 2 && sscanf(l + 1, "%lf", &t[nt]) == 1)
            nt++;
        else if (l[0] == 'N')
            sscanf(l + 1, "%u", &hits);
        else
            sscanf(l, " breakpoint already hit %u time", &hits);
    }
    if (nt != 2 || hits != EVENTS) {
        fprintf(stderr, "bench_qemu: unexpected gdb output (%s: %d times, %u hits):\n%s\n", what,
                nt, hits, out);
        exit(1);
    }
    return hits / (t[1] - t[0]);
}

static double gdb_rate(uint64_t va)
{
    char remote[400], brk[64], ignore[64];
    snprintf(remote, sizeof remote, "target remote %s/gdb.sock", dir);
    snprintf(brk, sizeof brk, "break *0x%" PRIx64, va);
    snprintf(ignore, sizeof ignore, "ignore 1 %d", EVENTS - 1);
    char *argv[] = {"/usr/bin/gdb", "-batch", "-nx", "-ex", "set pagination off",
                    "-ex", "set confirm off", "-ex", remote, "-ex", brk, "-ex", ignore,
                    "-ex", "shell date +T%s.%N", "-ex", "continue",
                    "-ex", "shell date +T%s.%N", "-ex", "info breakpoints",
                    "-ex", "delete", "-ex", "detach", NULL};
    return gdb_timed(argv, "ignore count", NULL);
}

/*
 * The same count with a breakpoint command list, as a gdb user writes it:
 * gdb runs the list (a script) at every stop, which costs more than the
 * ignore count but is what counting with a condition or a printout takes.
 */
static double gdb_commands_rate(uint64_t va)
{
    char script[] = "/tmp/vmic-bench-gdb.XXXXXX";
    int fd = mkstemp(script);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f)
        die("gdb script");
    fprintf(f, "set pagination off\nset confirm off\ntarget remote %s/gdb.sock\n"
               "break *0x%" PRIx64 "\nset $n = 0\n"
               "commands 1\nsilent\nset $n = $n + 1\nif $n < %d\ncontinue\nend\nend\n"
               "shell date +T%%s.%%N\ncontinue\nshell date +T%%s.%%N\nprintf \"N%%d\\n\", $n\n"
               "delete\ndetach\n", dir, va, EVENTS);
    fclose(f);
    char *argv[] = {"/usr/bin/gdb", "-batch", "-nx", "-x", script, NULL};
    return gdb_timed(argv, "command list", script);
}

/* ---- QEMU's floor, through vmic's raw gdb client ------------------------------------ */

static void qemu_floor(uint64_t va, double *cont_ms, double *step_ms, double *g_ms)
{
    char path[400];
    qemu_endpoint_t ep;
    gdb_remote_t g;
    gdb_stop_t stop;
    const char *r;
    int fd;
    snprintf(path, sizeof path, "%s/gdb.sock", dir);
    if (endpoint_parse("gdb", path, &ep) || endpoint_connect("gdb", &ep, 5000, &fd) ||
        gdb_init(&g, fd, ep.name, 5000) || gdb_handshake(&g) ||
        gdb_insert_point(&g, GDB_POINT_HW_BREAK, va, 1))
        die("raw gdb connection");
    /* Stopped on the breakpoint: every 'c' stops on it again at once. */
    if (gdb_continue(&g) || gdb_wait_stop(&g, 5000, &stop))
        die("first hit");
    double t0 = live_now();
    for (int i = 0; i < RAW_ROUNDS; i++)
        if (gdb_continue(&g) || gdb_wait_stop(&g, 5000, &stop))
            die("continue");
    double t1 = live_now();
    for (int i = 0; i < RAW_ROUNDS; i++)
        if (gdb_step(&g, stop.thread) || gdb_wait_stop(&g, 5000, &stop))
            die("step");
    double t2 = live_now();
    for (int i = 0; i < RAW_ROUNDS; i++)
        if (gdb_command(&g, "g", &r, NULL))
            die("g");
    double t3 = live_now();
    *cont_ms = (t1 - t0) * 1e3 / RAW_ROUNDS;
    *step_ms = (t2 - t1) * 1e3 / RAW_ROUNDS;
    *g_ms = (t3 - t2) * 1e3 / RAW_ROUNDS;
    gdb_remove_point(&g, GDB_POINT_HW_BREAK, va, 1);
    gdb_continue(&g);
    gdb_close(&g);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *vmic = "build/release/vmic", *fixture = "build/fixtures/6.1";
    bool own = true;

    if (argc == 3 && strcmp(argv[1], "--target") == 0) {
        own = false;
        if (strncmp(argv[2], "qemu:", 5) != 0 || strlen(argv[2]) >= sizeof dir) {
            fprintf(stderr, "usage: bench_qemu --target qemu:DIR\n");
            return 2;
        }
        snprintf(dir, sizeof dir, "%.250s", argv[2] + 5);
        snprintf(target, sizeof target, "qemu:%s", dir);
    } else {
        if (argc > 1)
            vmic = argv[1];
        if (argc > 2)
            fixture = argv[2];
        char truth[256];
        int rc = live_boot(vmic, fixture, "bench", 1, "console=ttyS0 panic=-1 idle=poll", dir,
                           sizeof dir, truth, sizeof truth);
        if (rc)
            return rc;
        snprintf(target, sizeof target, "qemu:%s", dir);
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", truth);
        if (system(cmd) != 0)
            fprintf(stderr, "  could not remove %s\n", truth);
    }

    uint64_t va = spin_address();
    double v[RUNS], g[RUNS], gc[RUNS];
    for (int i = 0; i < RUNS; i++) {
        v[i] = vmic_rate(va);
        g[i] = gdb_rate(va);
        gc[i] = gdb_commands_rate(va);
        fprintf(stderr, "  run %d: vmic %.0f events/s, gdb %.0f hits/s (ignore), %.0f hits/s "
                "(commands)\n", i + 1, v[i], g[i], gc[i]);
    }
    double cont_ms, step_ms, g_ms;
    qemu_floor(va, &cont_ms, &step_ms, &g_ms);
    qsort(v, RUNS, sizeof v[0], cmp_double);
    qsort(g, RUNS, sizeof g[0], cmp_double);
    qsort(gc, RUNS, sizeof gc[0], cmp_double);
    double vm = v[RUNS / 2], gm = g[RUNS / 2], gcm = gc[RUNS / 2];

    char version[64] = "?";
    FILE *p = popen("qemu-system-x86_64 --version", "r");
    if (p) {
        if (fscanf(p, "QEMU emulator version %63s", version) != 1)
            snprintf(version, sizeof version, "?");
        pclose(p);
    }
    printf("QEMU %s, TCG, 1 vCPU (idle=poll), breakpoint in cpu_idle_poll; medians of %d "
           "rounds of %d hits\n", version, RUNS, EVENTS);
    printf("%-52s %9.0f /s  %6.3f ms/event\n", "vmic: breakpoint events (Continue)", vm,
           1e3 / vm);
    printf("%-52s %9.0f /s  %6.3f ms/hit\n", "gdb -batch: breakpoint hits (ignore count)", gm,
           1e3 / gm);
    printf("%-52s %9.0f /s  %6.3f ms/hit\n", "gdb -batch: breakpoint hits (command list)", gcm,
           1e3 / gcm);
    printf("%-52s %9.2f x\n", "vmic / gdb (ignore count)", vm / gm);
    printf("%-52s %9.2f x\n", "vmic / gdb (command list)", vm / gcm);
    printf("%-52s %9.1f\n", "vmic: gdb packets sent per event", packets_per_event);
    printf("%-52s %16.3f ms\n", "QEMU floor: 'c' stopping on the breakpoint at once", cont_ms);
    printf("%-52s %16.3f ms\n", "QEMU: one 'vCont;s' step", step_ms);
    printf("%-52s %16.3f ms\n", "QEMU: one 'g' (all registers)", g_ms);
    if (own)
        live_stop(vmic, dir);
    return 0;
}
