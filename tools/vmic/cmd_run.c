/* vmic run: host a freestanding guest on /dev/kvm and print the events --trace asks for. */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "run_trace.h"
#include "cli_clock.h"

static const char about[] =
    "Run IMAGE, an ELF64 x86-64 freestanding kernel, as a VM on /dev/kvm and\n"
    "print the events --trace asks for, one line each (one JSON object each\n"
    "with --json). The guest's serial output goes to stderr. vmic ends when\n"
    "the guest exits (exit status 0 if the guest's code was 0).\n\n"
    "On SIGINT or SIGTERM (or after --max-events) vmic detaches: every\n"
    "breakpoint, page permission and view it set is undone, and the guest\n"
    "runs on untraced to its end. A second signal stops it.";

static const char boot_protocol[] =
    "Boot protocol: vmic loads each PT_LOAD segment at its physical address and\n"
    "enters e_entry in long mode with rdi = vCPU number, rsi = RAM size; its\n"
    "page tables map RAM 1:1 and each segment at its virtual address. Port\n"
    "0x3f8 is a serial console; writing to port 0x501 ends the guest with that\n"
    "code.\n";

#define MAX_VCPUS 16
#define WAIT_SLICE_MS 1000

typedef struct run_opts {
    uint64_t mem;
    uint64_t cpus;
    bool json;
    uint64_t timeout_s;
    uint64_t max_events;
    const char *serial;
    trace_spec trace;
} run_opts;

typedef struct run_state {
    run_opts *o;
    json j;
    uint64_t events, shown;
    time_t deadline;
    bool timed_out, max_reached;
    uint64_t start_ns;
} run_state;

/* ---- options ------------------------------------------------------------------ */

static bool parse_size(const char *s, uint64_t *v)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return false;
    unsigned long long n = strtoull(s, &end, 0);
    uint64_t unit = 1;
    switch (*end) {
    case 'k': case 'K': unit = 1ull << 10; end++; break;
    case 'm': case 'M': unit = 1ull << 20; end++; break;
    case 'g': case 'G': unit = 1ull << 30; end++; break;
    }
    if (*end || n > UINT64_MAX / unit)
        return false;
    *v = n * unit;
    return true;
}

static int set_mem(const char *cmd, const char *value, void *dst)
{
    if (!parse_size(value, dst))
        return cli_usage(cmd, "--mem wants a size such as 64M, not '%s'", value);
    return 0;
}

static int set_trace(const char *cmd, const char *value, void *dst)
{
    return trace_parse(dst, value);
}

static int set_tap(const char *cmd, const char *value, void *dst)
{
    return trace_parse_tap(dst, value);
}

static int parse_options(int argc, char **argv, run_opts *o, const char **image)
{
    const cli_opt opts[] = {
        CLI_FN("mem", 0, "SIZE", set_mem, &o->mem,
               "guest RAM (default 64M; K, M, G; a multiple of 2M)"),
        CLI_U64("cpus", 0, "N", &o->cpus, 1, MAX_VCPUS, "vCPUs (default 1)"),
        CLI_FN("trace", 0, "LIST", set_trace, &o->trace,
               "what to trace, comma separated:\n"
               "  bp:ADDR     a breakpoint at ADDR (virtual address or\n"
               "              symbol), made as --tap says; each hit is\n"
               "              printed and stepped over\n"
               "  exec:PAGE   fetches from PAGE (gfn or symbol), each run\n"
               "              with FastSinglestep in view 0\n"
               "  write:PAGE  writes to PAGE, each printed then applied\n"
               "  msr         every WRMSR, printed then applied\n"
               "  io          every IN/OUT but the serial console's\n"
               "  step        every instruction of vCPU 0 (slow)"),
        CLI_FN("tap", 0, "KIND", set_tap, &o->trace,
               "how breakpoints are made:\n"
               "  breakpoint  INT3 in a shadow copy of the page, which the\n"
               "              guest cannot see (default)\n"
               "  memory      the page made non-executable\n"
               "  debugreg    a debug register (at most 4 breakpoints)"),
        CLI_U64("timeout", 0, "S", &o->timeout_s, 1, 86400, "stop the guest after S seconds"),
        CLI_U64("max-events", 0, "N", &o->max_events, 1, UINT64_MAX, "detach after N events"),
        CLI_STR("serial", 0, "FILE", &o->serial, "write the guest's serial output to FILE"),
        CLI_END,
    };
    const cli_spec spec = {
        .cmd = "run", .usage = "[OPTIONS] IMAGE", .about = about, .opts = opts,
        .groups = CLI_G_JSON, .json_help = "one JSON object per line: events, then a summary",
        .epilog = boot_protocol, .min_operands = 1, .max_operands = 1,
    };
    cli_common c = {0};
    int first = cli_parse(&spec, argc, argv, &c);
    if (first < 0)
        return -first;
    o->json = c.json;
    *image = argv[first];
    return EXIT_OK;
}

/* ---- printing events ------------------------------------------------------------- */

static const char *memory_what(vmic_access_t a)
{
    return a == VMIC_ACCESS_X ? "exec" : a == VMIC_ACCESS_W ? "write" : "read";
}

static void print_text(const vmic_event_t *ev, const trace_bp *bp)
{
    printf("%6" PRIu64 " vcpu%u view%u ", ev->seq, ev->vcpu, ev->view);
    switch (ev->kind) {
    case VMIC_EVENT_MEMORY_ACCESS:
        printf("%-10s rip %016" PRIx64 " gfn 0x%" PRIx64 " pa 0x%" PRIx64,
               memory_what(ev->memory.access), ev->regs.rip, ev->memory.gfn.num,
               ev->memory.pa.addr);
        if (ev->memory.access == VMIC_ACCESS_W)
            printf(" size %u value 0x%" PRIx64, ev->memory.size, ev->memory.value);
        if (bp)
            printf(" bp:%s", bp->spec);
        break;
    case VMIC_EVENT_INTERRUPT:
        printf("%-10s rip %016" PRIx64 " pa 0x%" PRIx64 " %s%s", "breakpoint", ev->regs.rip,
               ev->interrupt.pa.addr, bp ? "bp:" : "the guest's own INT3, reinjected",
               bp ? bp->spec : "");
        break;
    case VMIC_EVENT_SINGLESTEP:
        printf("%-10s rip %016" PRIx64, "step", ev->regs.rip);
        break;
    case VMIC_EVENT_MSR_WRITE:
        printf("%-10s rip %016" PRIx64 " msr 0x%x value 0x%" PRIx64, "msr", ev->regs.rip,
               ev->msr.msr, ev->msr.value);
        break;
    case VMIC_EVENT_IO:
        printf("%-10s rip %016" PRIx64 " %s port 0x%x size %u", "io", ev->regs.rip,
               ev->io.out ? "out" : "in", ev->io.port, ev->io.size);
        if (ev->io.out)
            printf(" value 0x%" PRIx64, ev->io.value);
        break;
    case VMIC_EVENT_BREAKPOINT:
        printf("%-10s rip %016" PRIx64 " dr%u", "hw-bp", ev->regs.rip, ev->breakpoint.slot);
        if (bp)
            printf(" bp:%s", bp->spec);
        break;
    }
    putchar('\n');
}

static void print_json(json *j, const vmic_event_t *ev, const trace_bp *bp)
{
    json_object_begin(j, NULL);
    json_u64(j, "seq", ev->seq);
    json_str(j, "event", vmic_event_kind_name(ev->kind));
    json_u64(j, "vcpu", ev->vcpu);
    json_u64(j, "view", ev->view);
    json_hex(j, "rip", ev->regs.rip);
    switch (ev->kind) {
    case VMIC_EVENT_MEMORY_ACCESS:
        json_str(j, "access", memory_what(ev->memory.access));
        json_hex(j, "gfn", ev->memory.gfn.num);
        json_hex(j, "pa", ev->memory.pa.addr);
        if (ev->memory.va_valid)
            json_hex(j, "va", ev->memory.va.addr);
        if (ev->memory.access == VMIC_ACCESS_W) {
            json_u64(j, "size", ev->memory.size);
            json_hex(j, "value", ev->memory.value);
        }
        break;
    case VMIC_EVENT_INTERRUPT:
        json_u64(j, "vector", ev->interrupt.vector);
        json_hex(j, "pa", ev->interrupt.pa.addr);
        break;
    case VMIC_EVENT_SINGLESTEP:
        json_hex(j, "pa", ev->singlestep.pa.addr);
        break;
    case VMIC_EVENT_MSR_WRITE:
        json_hex(j, "msr", ev->msr.msr);
        json_hex(j, "value", ev->msr.value);
        break;
    case VMIC_EVENT_IO:
        json_hex(j, "port", ev->io.port);
        json_bool(j, "out", ev->io.out);
        json_u64(j, "size", ev->io.size);
        if (ev->io.out)
            json_hex(j, "value", ev->io.value);
        break;
    case VMIC_EVENT_BREAKPOINT:
        json_u64(j, "slot", ev->breakpoint.slot);
        json_hex(j, "va", ev->breakpoint.va.addr);
        break;
    }
    if (bp)
        json_str(j, "bp", bp->spec);
    json_object_end(j);
    json_done(j);
}

/* ---- the handlers: print, then answer as the trace says --------------------------------- */

static void show(run_state *st, const vmic_event_t *ev, const trace_bp *bp)
{
    st->shown++;
    if (st->o->json)
        print_json(&st->j, ev, bp);
    else
        print_text(ev, bp);
}

static void count(run_state *st)
{
    st->events++;
    if (st->o->max_events && st->events >= st->o->max_events)
        st->max_reached = true;
}

/* A --trace breakpoint: the manager steps over it after this. */
static vmic_status on_hit(vmic_bpm *bpm, const vmic_event_t *ev, const vmic_bp_state_t *hits,
                          size_t n, vmic_event_response_t *r, void *arg)
{
    run_state *st = arg;
    show(st, ev, trace_bp_of(&st->o->trace, &hits[0]));
    count(st);
    return VMIC_OK;
}

/* Everything else; an INT3 that is not a --trace breakpoint arrives answered
 * ReinjectInterrupt. */
static vmic_status on_event(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *r,
                            void *arg)
{
    run_state *st = arg;
    const trace_spec *t = &st->o->trace;
    bool shown = true;

    switch (ev->kind) {
    case VMIC_EVENT_INTERRUPT:
        r->action = VMIC_ACTION_REINJECT_INTERRUPT; /* the guest's own */
        break;
    case VMIC_EVENT_SINGLESTEP:
        shown = t->step;
        r->action = t->step ? VMIC_ACTION_SINGLESTEP : VMIC_ACTION_CONTINUE;
        break;
    case VMIC_EVENT_MEMORY_ACCESS:
        if (ev->memory.access == VMIC_ACCESS_X) {
            r->action = VMIC_ACTION_FAST_SINGLESTEP;
            r->set_view = true;
            r->view = VMIC_VIEW_DEFAULT;
        }
        break;
    default:
        break;
    }
    if (shown)
        show(st, ev, NULL);
    count(st);
    return VMIC_OK;
}

static bool should_stop(vmic_core *core, void *arg)
{
    run_state *st = arg;
    if (st->o->timeout_s && time(NULL) >= st->deadline)
        st->timed_out = true;
    return st->timed_out || st->max_reached;
}

/* ---- after the session ------------------------------------------------------------------ */

static double elapsed(const run_state *st)
{
    return (double)(cli_mono_ns() - st->start_ns) * 1e-9;
}

static void say_detached(run_state *st, const char *why)
{
    if (st->o->json) {
        json_object_begin(&st->j, NULL);
        json_str(&st->j, "detached", why);
        json_u64(&st->j, "events", st->events);
        json_bool(&st->j, "restored", true);
        json_object_end(&st->j);
        json_done(&st->j);
    } else {
        printf("detached (%s) after %" PRIu64 " events: every breakpoint, page permission and "
               "view restored; the guest runs on untraced\n", why, st->events);
    }
    fflush(stdout);
}

/* Lets the guest finish untraced, within --timeout if given. */
static void wait_guest(vmic_core *core, run_state *st)
{
    vmic_driver *drv = vmic_core_driver(core);
    while (vmic_kvm_wait(drv, WAIT_SLICE_MS) == VMIC_E_TIMEOUT)
        if (st->o->timeout_s && time(NULL) >= st->deadline) {
            st->timed_out = true;
            return;
        }
}

static int summarize(vmic_core *core, run_state *st)
{
    vmic_guest_state_t gs;
    if (vmic_guest_state(core, &gs))
        return cli_fail("run", VMIC_E_INTERNAL, "no guest state");
    bool ok = gs.state == VMIC_GUEST_EXITED && gs.exit_code == 0 && !st->timed_out;
    const char *what = st->timed_out ? "timeout"
                       : gs.state == VMIC_GUEST_EXITED ? "exited"
                       : gs.state == VMIC_GUEST_FAILED ? "failed" : "running";
    if (st->o->json) {
        json_object_begin(&st->j, NULL);
        json_object_begin(&st->j, "summary");
        json_str(&st->j, "guest", what);
        json_i64(&st->j, "exit_code", gs.exit_code);
        json_str(&st->j, "message", gs.message);
        json_u64(&st->j, "events", st->events);
        json_u64(&st->j, "printed", st->shown);
        json_u64(&st->j, "ms", (uint64_t)(elapsed(st) * 1000));
        json_object_end(&st->j);
        json_object_end(&st->j);
        json_done(&st->j);
    } else if (st->timed_out) {
        printf("timeout after %" PRIu64 " s: the guest was stopped; events: %" PRIu64 "\n",
               st->o->timeout_s, st->events);
    } else {
        printf("guest %s after %.2f s: %s; events: %" PRIu64 "\n", what, elapsed(st),
               gs.message, st->events);
    }
    return ok ? EXIT_OK : EXIT_FAIL;
}

/* ---- the command --------------------------------------------------------------------------- */

static int open_vm(const char *image, run_opts *o, FILE *serial, vmic_core **core)
{
    vmic_kvm_options_t kopt = {.image = image, .mem_size = o->mem, .vcpus = (uint32_t)o->cpus,
                               .console = serial};
    vmic_driver *drv;
    vmic_status s;
    char why[256];

    if (!vmic_kvm_available(why, sizeof why))
        return cli_fail("run", VMIC_OK, "cannot host a VM here: %s", why);
    if ((s = vmic_kvm_open(&kopt, &drv)))
        return cli_fail("run", s, NULL);
    if ((s = vmic_core_open(drv, NULL, core)))
        return cli_fail("run", s, "cannot start a session");
    vmic_core_take_signals(*core, true); /* SIGINT/SIGTERM detach */
    if ((s = trace_arm(&o->trace, *core))) {
        int rc = cli_fail("run", s, "--trace");
        trace_free(&o->trace); /* the breakpoint manager goes before the core */
        vmic_core_close(*core);
        return rc;
    }
    return EXIT_OK;
}

int cmd_run(int argc, char **argv)
{
    run_opts o = {.cpus = 1};
    run_state st = {.o = &o};
    const char *image = NULL;
    vmic_core *core = NULL;
    FILE *serial = stderr;
    int rc;

    if ((rc = parse_options(argc, argv, &o, &image))) {
        trace_free(&o.trace);
        return rc;
    }
    if (o.serial && !(serial = fopen(o.serial, "w"))) {
        trace_free(&o.trace);
        return cli_fail("run", VMIC_E_IO, "cannot write %s", o.serial);
    }
    if ((rc = open_vm(image, &o, serial, &core)))
        goto out;
    json_init(&st.j, stdout);
    vmic_event_handler_t h = {.on_event = on_event, .should_stop = should_stop, .arg = &st};
    vmic_bpm_handler_t bh = {.on_hit = on_hit, .on_event = on_event, .should_stop = should_stop,
                             .arg = &st};
    st.deadline = time(NULL) + (time_t)o.timeout_s;
    st.start_ns = cli_mono_ns();
    vmic_status s = vmic_resume(core);
    if (s == VMIC_OK && o.trace.bpm)
        s = vmic_bpm_run(o.trace.bpm, &bh, WAIT_SLICE_MS);
    else if (s == VMIC_OK)
        s = vmic_run_events(core, &h, WAIT_SLICE_MS);
    fflush(stdout);
    if (s == VMIC_E_INTERRUPTED || (s == VMIC_OK && st.max_reached)) {
        say_detached(&st, s == VMIC_E_INTERRUPTED ? "signal" : "max-events");
        s = VMIC_OK;
        wait_guest(core, &st);
    }
    rc = s ? cli_fail("run", s, "event session") : summarize(core, &st);
    trace_free(&o.trace); /* the breakpoint manager goes before the core */
    vmic_core_close(core);
out:
    if (serial != stderr)
        fclose(serial);
    trace_free(&o.trace);
    return rc;
}
