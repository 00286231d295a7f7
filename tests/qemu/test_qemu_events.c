/*
 * Events on the qemu driver against a real QEMU (TCG, 2 vCPUs) running the
 * fixture's Debian 6.1 kernel, booted once through `vmic boot`:
 *
 *   argv[1]  the vmic binary      argv[2]  a fixture dir (vmlinuz, initrd.gz)
 *
 * Truth never comes from vmic: symbol addresses from the guest's own
 * /proc/kallsyms of THIS boot, physical addresses from its /proc/iomem
 * ("Kernel code" holds _text; the kernel image is one physically contiguous
 * block), instruction boundaries from QEMU's own disassembler (HMP "x /Ni"),
 * registers from QEMU's "info registers", memory from QEMU's "xp", and
 * whether the VM runs from QMP's query-status: a breakpoint left behind on a
 * function every timer tick calls would put the VM in state "debug" within
 * milliseconds.
 */
#include <inttypes.h>
#include <sys/wait.h>

#include "harness.h"
#include "live.h"
#include "truth.h"

#define BP_FUNC "update_process_times"   /* every timer tick, ~30/s when idle */
#define SESSION_LIMIT_S 15.0

static const char *vmic_bin;
static char dir[256], truth_dir[256], target[300];
static vmic_core *core;
static live_qmp qmp;
static truth_sym *syms;
static size_t nsyms;
static uint64_t text_va, code_pa;   /* _text and where /proc/iomem puts it */
static uint64_t jiffies_pa;

static uint64_t sym(const char *name)
{
    const truth_sym *s = truth_find_sym(syms, nsyms, name);
    return s ? s->addr : 0;
}

/* The guest-physical address of a kernel-image address, from iomem. */
static uint64_t image_pa(uint64_t va)
{
    return code_pa + (va - text_va);
}

static bool open_core(void)
{
    vmic_driver *drv;
    vmic_qemu_config_t cfg = {.timeout_ms = 5000};
    vmic_status s = vmic_qemu_open_target(target, &cfg, &drv);
    if (s == VMIC_OK)
        s = vmic_core_open(drv, NULL, &core);
    if (s != VMIC_OK) {
        fprintf(stderr, "  open %s: %s\n", target, vmic_errmsg());
        core = NULL;
    }
    return s == VMIC_OK;
}

/* QMP query-status: "running", "debug" (stopped by the gdbstub), "paused". */
static bool vm_status(char *status, size_t size)
{
    bool running = false;
    if (qmp_running(&qmp.q, &running, status, size) != VMIC_OK)
        snprintf(status, size, "query-status failed: %s", vmic_errmsg());
    return running;
}

/* One CPU's RIP as QEMU itself says ("info registers -a"). */
static bool qemu_rip(unsigned cpu, uint64_t *rip)
{
    char *text = live_hmp(&qmp, "info registers -a"), block[8192];
    const char *b = text ? live_cpu_block(text, cpu, block, sizeof block) : NULL;
    bool ok = b && live_hmp_reg(b, "RIP=", rip);
    free(text);
    return ok;
}

/* The start of each of the first n instructions at va, by QEMU's
 * disassembler (HMP "x /Ni"); lines holding only more bytes are skipped. */
static size_t qemu_insns(uint64_t va, uint64_t *addr, size_t n)
{
    char cmd[64];
    size_t k = 0;
    snprintf(cmd, sizeof cmd, "x /%zui 0x%" PRIx64, n, va);
    char *text = live_hmp(&qmp, cmd);
    for (char *save = NULL, *line = text ? strtok_r(text, "\r\n", &save) : NULL; line && k < n;
         line = strtok_r(NULL, "\r\n", &save)) {
        unsigned long long a;
        int used;
        if (sscanf(line, "%llx:%n", &a, &used) != 1)
            continue;
        /* Byte columns are two hex digits; anything else is the mnemonic. */
        bool mnemonic = false;
        for (char *s2 = NULL, *t = strtok_r(line + used, " ", &s2); t; t = strtok_r(NULL, " ", &s2))
            if (strlen(t) != 2 || gdb_hexval((unsigned char)t[0]) < 0 ||
                gdb_hexval((unsigned char)t[1]) < 0)
                mnemonic = true;
        if (mnemonic)
            addr[k++] = a;
    }
    free(text);
    return k;
}

/* ---- a recording handler ------------------------------------------------------- */

#define MAX_REC 64

typedef enum plan {
    PLAN_CONTINUE,       /* answer Continue to everything */
    PLAN_STEP,           /* breakpoint: Singlestep, then Singlestep steps_wanted times */
    PLAN_FAST_STEP,      /* breakpoint: FastSinglestep */
    PLAN_WATCH_STEP,     /* watchpoint: Singlestep, then Continue */
    PLAN_DENY,           /* answer Deny: the session must end with the refusal */
    PLAN_KILL_QEMU,      /* SIGKILL QEMU at the first event */
} plan;

typedef struct rec {
    plan plan;
    unsigned want;            /* events to record before the session ends */
    unsigned steps_wanted;
    vmic_event_t ev[MAX_REC];
    uint64_t jiffies[MAX_REC];   /* the guest's jiffies_64 at each event */
    unsigned n;
    double deadline;
    /* at the first breakpoint or watchpoint event */
    bool probed;
    uint64_t qemu_rip;        /* QEMU's RIP for that vCPU */
    bool qemu_rip_ok;
    uint64_t mem_value, qemu_value;   /* a watched u64, through vmic and through xp */
    vmic_status refusals[4];
    char refusal_msg[4][512];
} rec;

/* What the first event can tell about the driver, before it is answered. */
static void probe(vmic_core *c, const vmic_event_t *ev, rec *r)
{
    r->probed = true;
    r->qemu_rip_ok = qemu_rip(ev->vcpu, &r->qemu_rip);
    if (ev->kind == VMIC_EVENT_MEMORY_ACCESS) {
        vmic_read_u64_pa(c, ev->memory.pa, &r->mem_value);
        live_xp64(&qmp, ev->memory.pa.addr, &r->qemu_value);
    }
    static const vmic_action refused[] = {VMIC_ACTION_DENY, VMIC_ACTION_EMULATE,
                                          VMIC_ACTION_REINJECT_INTERRUPT};
    for (int i = 0; i < 4; i++) {
        vmic_event_response_t resp = {.action = VMIC_ACTION_CONTINUE};
        if (i < 3)
            resp.action = refused[i];
        else
            resp.set_view = true, resp.view = 1;
        r->refusals[i] = vmic_check_response(c, ev, &resp);
        snprintf(r->refusal_msg[i], sizeof r->refusal_msg[i], "%s", vmic_errmsg());
    }
}

/* A child process's session tells its parent here when events flow. */
static int ready_fd_at_event = -1;

static vmic_status on_event(vmic_core *c, const vmic_event_t *ev, vmic_event_response_t *resp,
                            void *arg)
{
    rec *r = arg;
    if (r->n < MAX_REC)
        vmic_read_u64_pa(c, vmic_pa(jiffies_pa), &r->jiffies[r->n]);
    if (ready_fd_at_event >= 0) {
        uint32_t n = r->n + 1;
        if (write(ready_fd_at_event, &n, sizeof n) != (ssize_t)sizeof n)
            return VMIC_E_IO;
        ready_fd_at_event = -1;
    }
    if (r->n < MAX_REC)
        r->ev[r->n] = *ev;
    r->n++;
    if (!r->probed && ev->kind != VMIC_EVENT_SINGLESTEP)
        probe(c, ev, r);
    switch (r->plan) {
    case PLAN_STEP:
        if (ev->kind == VMIC_EVENT_BREAKPOINT && r->n == 1)
            resp->action = VMIC_ACTION_SINGLESTEP;
        else if (ev->kind == VMIC_EVENT_SINGLESTEP && r->n <= r->steps_wanted)
            resp->action = VMIC_ACTION_SINGLESTEP;
        break;
    case PLAN_FAST_STEP:
        resp->action = VMIC_ACTION_FAST_SINGLESTEP;
        break;
    case PLAN_WATCH_STEP:
        if (ev->kind == VMIC_EVENT_MEMORY_ACCESS && r->n == 1)
            resp->action = VMIC_ACTION_SINGLESTEP;
        break;
    case PLAN_DENY:
        resp->action = VMIC_ACTION_DENY;
        break;
    case PLAN_KILL_QEMU:
        if (r->n == 1)
            kill(live_qemu_pid(dir), SIGKILL);
        break;
    case PLAN_CONTINUE:
        break;
    }
    return VMIC_OK;
}

static bool should_stop(vmic_core *c, void *arg)
{
    rec *r = arg;
    return r->n >= r->want || live_now() > r->deadline;
}

static vmic_status run(rec *r)
{
    vmic_event_handler_t h = {.on_event = on_event, .should_stop = should_stop, .arg = r};
    r->deadline = live_now() + SESSION_LIMIT_S;
    /* A short timeout: should_stop is polled on every wake-up. */
    return vmic_run_events(core, &h, 200);
}

static unsigned count_kind(const rec *r, vmic_event_kind k)
{
    unsigned n = 0;
    for (unsigned i = 0; i < r->n && i < MAX_REC; i++)
        n += r->ev[i].kind == k;
    return n;
}

/* The VM runs, and keeps running with its clock ticking, for ~1 s: nothing of
 * what a session set stayed behind. */
static void check_runs_freely(const char *after)
{
    char status[64];
    uint64_t jva = sym("jiffies_64"), j0 = 0, j1 = 0;
    vmic_pa_t jpa = vmic_pa(image_pa(jva));
    CHECK_OK(vmic_read_u64_pa(core, jpa, &j0));
    live_sleep_ms(1000);
    CHECK_MSG(vm_status(status, sizeof status), "after %s the VM is '%s', not running", after,
              status);
    CHECK_STR(status, "running");
    CHECK_OK(vmic_read_u64_pa(core, jpa, &j1));
    CHECK_MSG(j1 > j0, "after %s jiffies stayed at %" PRIu64, after, j0);
}

/* ---- the tests ------------------------------------------------------------------------ */

static void test_caps(void)
{
    const vmic_driver_info_t *info = vmic_core_info(core);
    CHECK_EQ(info->caps, VMIC_CAP_READ | VMIC_CAP_WRITE | VMIC_CAP_REGISTERS |
                         VMIC_CAP_SET_REGISTERS | VMIC_CAP_PAUSE | VMIC_CAP_EVENTS |
                         VMIC_CAP_SINGLESTEP | VMIC_CAP_HW_BREAKPOINT | VMIC_CAP_WATCHPOINT |
                         VMIC_CAP_EXEC_WATCH | VMIC_CAP_VIEWS); /* vmic boot loads the
                                                                   plugin: exec watches, and
                                                                   views without data traps */
    CHECK(info->flags & VMIC_DRIVER_INFO_PLUGIN);
    vmic_guest_state_t st;
    CHECK_OK(vmic_guest_state(core, &st));
    CHECK_EQ(st.state, VMIC_GUEST_RUNNING);
}

static void test_breakpoint_hits(void)
{
    uint64_t va = sym(BP_FUNC);
    CHECK(va != 0);
    CHECK_OK(vmic_hw_breakpoint_set(core, vmic_va(va)));
    CHECK_OK(vmic_hw_breakpoint_set(core, vmic_va(va)));   /* twice is once */
    static rec r;
    memset(&r, 0, sizeof r);
    r.plan = PLAN_CONTINUE;
    r.want = 6;
    double t0 = live_now();
    CHECK_OK(run(&r));
    fprintf(stderr, "  %u hits of %s in %.2f s\n", r.n, BP_FUNC, live_now() - t0);
    CHECK_MSG(r.n >= r.want, "%u hits of %s in %.0f s", r.n, BP_FUNC, SESSION_LIMIT_S);
    bool vcpus[2] = {false, false};
    for (unsigned i = 0; i < r.n && i < MAX_REC; i++) {
        const vmic_event_t *ev = &r.ev[i];
        CHECK_EQ(ev->kind, VMIC_EVENT_BREAKPOINT);
        CHECK(ev->vcpu < 2);
        vcpus[ev->vcpu] = true;
        CHECK_EQ(ev->view, 0);
        CHECK(i == 0 || ev->seq > r.ev[i - 1].seq);
        CHECK((ev->regs.valid & (VMIC_REGS_GPR | VMIC_REGS_CR)) ==
              (VMIC_REGS_GPR | VMIC_REGS_CR));
        CHECK_MSG(ev->regs.rip == va, "hit %u at rip 0x%" PRIx64 ", %s is 0x%" PRIx64, i,
                  ev->regs.rip, BP_FUNC, va);
        CHECK_EQ(ev->breakpoint.va.addr, va);
        CHECK_EQ(ev->breakpoint.pa.addr, image_pa(va));
        /* CR3: a page-table root in RAM that maps the function where
         * iomem says it is. */
        uint64_t root = ev->regs.cr3 & ~0xfffull & ((1ull << 52) - 1);
        CHECK(root != 0 && root < (256ull << 20));
        vmic_pa_t pa;
        CHECK_OK(vmic_translate(core, vmic_ctx(vmic_pa(ev->regs.cr3)), vmic_va(va), &pa));
        CHECK_EQ(pa.addr, image_pa(va));
        CHECK(ev->regs.cr0 & VMIC_CR0_PG);
        CHECK(ev->regs.rsp >> 47 == 0x1ffff);   /* a kernel stack */
    }
    fprintf(stderr, "  vCPUs seen: %s%s\n", vcpus[0] ? "0 " : "", vcpus[1] ? "1" : "");
    /* Each hit is a later call: the guest ran on between them (a vCPU left
     * on its breakpoint would stop there again at once, with time still). */
    unsigned last = (r.n < MAX_REC ? r.n : MAX_REC) - 1;
    CHECK_MSG(r.jiffies[last] > r.jiffies[0], "jiffies %" PRIu64 " at the first hit and %"
              PRIu64 " at hit %u", r.jiffies[0], r.jiffies[last], last);
    /* QEMU's own registers at the first hit. */
    CHECK(r.qemu_rip_ok);
    CHECK_EQ(r.qemu_rip, va);
    /* Answers the gdb protocol cannot give are refused, with the reason. */
    CHECK_EQ(r.refusals[0], VMIC_E_UNSUPPORTED);
    CHECK_MSG(strstr(r.refusal_msg[0], "Deny cannot answer this breakpoint event"), "%s",
              r.refusal_msg[0]);
    CHECK_EQ(r.refusals[1], VMIC_E_UNSUPPORTED);
    CHECK_MSG(strstr(r.refusal_msg[1], "emulate one instruction"), "%s", r.refusal_msg[1]);
    CHECK_EQ(r.refusals[2], VMIC_E_UNSUPPORTED);
    CHECK_MSG(strstr(r.refusal_msg[2], "no guest interrupt to reinject"), "%s",
              r.refusal_msg[2]);
    CHECK_EQ(r.refusals[3], VMIC_E_UNSUPPORTED);
    CHECK_MSG(strstr(r.refusal_msg[3], "cannot switch views"), "%s", r.refusal_msg[3]);
    /* The session removed the breakpoint: nothing stops the VM now. */
    check_runs_freely("a breakpoint session");
    CHECK_ERR(vmic_hw_breakpoint_clear(core, vmic_va(va)), VMIC_E_NOTFOUND);
}

static void test_singlestep(void)
{
    uint64_t va = sym(BP_FUNC), insn[8];
    CHECK(va != 0);
    /* Straight-line code: the first instructions have no branch (QEMU's
     * disassembler says where each one starts). */
    size_t ninsn = qemu_insns(va, insn, 7);
    CHECK_MSG(ninsn == 7 && insn[0] == va, "QEMU disassembled %zu instructions at 0x%" PRIx64,
              ninsn, va);
    CHECK_OK(vmic_hw_breakpoint_set(core, vmic_va(va)));
    static rec r;
    memset(&r, 0, sizeof r);
    r.plan = PLAN_STEP;
    r.steps_wanted = 6;
    r.want = 7;   /* the hit, then six steps; the last answered Continue */
    CHECK_OK(run(&r));
    CHECK_MSG(r.n >= 7, "%u events", r.n);
    CHECK_EQ(r.ev[0].kind, VMIC_EVENT_BREAKPOINT);
    for (unsigned i = 1; i < 7; i++) {
        const vmic_event_t *ev = &r.ev[i];
        CHECK_EQ(ev->kind, VMIC_EVENT_SINGLESTEP);
        CHECK_EQ(ev->vcpu, r.ev[0].vcpu);
        CHECK_MSG(ev->regs.rip == insn[i], "step %u: rip 0x%" PRIx64 ", QEMU's instruction %u "
                  "starts at 0x%" PRIx64, i, ev->regs.rip, i, insn[i]);
        CHECK_EQ(ev->singlestep.pa.addr, image_pa(insn[i]));
    }
    check_runs_freely("a single-step session");
}

static void test_fast_singlestep(void)
{
    uint64_t va = sym(BP_FUNC);
    CHECK_OK(vmic_hw_breakpoint_set(core, vmic_va(va)));
    static rec r;
    memset(&r, 0, sizeof r);
    r.plan = PLAN_FAST_STEP;
    r.want = 4;
    CHECK_OK(run(&r));
    CHECK(r.n >= 4);
    /* Each hit stepped past silently: breakpoint events only, the VM going on. */
    CHECK_EQ(count_kind(&r, VMIC_EVENT_BREAKPOINT), r.n);
    for (unsigned i = 0; i < r.n && i < MAX_REC; i++)
        CHECK_EQ(r.ev[i].regs.rip, va);
    CHECK(r.jiffies[r.n - 1] > r.jiffies[0]);
    check_runs_freely("a FastSinglestep session");
}

static void test_write_watchpoint(void)
{
    uint64_t jva = sym("jiffies_64"), before;
    CHECK(jva != 0);
    CHECK_OK(vmic_read_u64_pa(core, vmic_pa(image_pa(jva)), &before));
    CHECK_OK(vmic_watchpoint_set(core, vmic_va(jva), 8, VMIC_ACCESS_W));
    static rec r;
    memset(&r, 0, sizeof r);
    r.plan = PLAN_WATCH_STEP;
    r.want = 2;   /* the write, then the SINGLESTEP its Singlestep answer gives */
    CHECK_OK(run(&r));
    CHECK(r.n >= 2);
    const vmic_event_t *ev = &r.ev[0];
    CHECK_EQ(ev->kind, VMIC_EVENT_MEMORY_ACCESS);
    CHECK_EQ(ev->memory.access, VMIC_ACCESS_W);
    CHECK(ev->memory.va_valid);
    CHECK_EQ(ev->memory.va.addr, jva);
    CHECK_EQ(ev->memory.pa.addr, image_pa(jva));
    CHECK_EQ(ev->memory.gfn.num, image_pa(jva) >> 12);
    /* After the write: the new value, the same through vmic and QEMU. */
    CHECK_EQ(r.mem_value, r.qemu_value);
    CHECK_MSG(r.mem_value > before, "jiffies_64 0x%" PRIx64 " then 0x%" PRIx64, before,
              r.mem_value);
    /* The writing instruction is kernel code, and QEMU agrees on RIP. */
    CHECK(ev->regs.rip >= text_va && ev->regs.rip < sym("_etext"));
    CHECK(r.qemu_rip_ok);
    CHECK_EQ(r.qemu_rip, ev->regs.rip);
    /* Singlestep after a watchpoint: the instruction is done, its step at once. */
    CHECK_EQ(r.ev[1].kind, VMIC_EVENT_SINGLESTEP);
    CHECK_EQ(r.ev[1].vcpu, ev->vcpu);
    CHECK_EQ(r.ev[1].regs.rip, ev->regs.rip);
    CHECK_EQ(r.refusals[0], VMIC_E_UNSUPPORTED);
    CHECK_MSG(strstr(r.refusal_msg[0], "nothing left to deny"), "%s", r.refusal_msg[0]);
    CHECK_EQ(r.refusals[1], VMIC_E_UNSUPPORTED);
    CHECK_MSG(strstr(r.refusal_msg[1], "nothing left to emulate"), "%s", r.refusal_msg[1]);
    check_runs_freely("a watchpoint session");
}

static void test_read_and_access_watchpoints(void)
{
    uint64_t jva = sym("jiffies_64");
    static const vmic_access_t kinds[] = {VMIC_ACCESS_R, VMIC_ACCESS_RW};
    for (int k = 0; k < 2; k++) {
        CHECK_OK(vmic_watchpoint_set(core, vmic_va(jva), 8, kinds[k]));
        static rec r;
        memset(&r, 0, sizeof r);
        r.plan = PLAN_CONTINUE;
        r.want = 2;
        CHECK_OK(run(&r));
        CHECK(r.n >= 2);
        CHECK_EQ(r.ev[0].kind, VMIC_EVENT_MEMORY_ACCESS);
        CHECK_EQ(r.ev[0].memory.access, kinds[k]);
        CHECK_EQ(r.ev[0].memory.va.addr, jva);
        CHECK_EQ(r.ev[0].memory.pa.addr, image_pa(jva));
    }
    /* An execute watchpoint is a breakpoint: refused, pointing there. */
    CHECK_ERR(vmic_watchpoint_set(core, vmic_va(jva), 8, VMIC_ACCESS_X), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("vmic_hw_breakpoint_set");
    check_runs_freely("read/access watchpoint sessions");
}

static void test_unsupported(void)
{
    /* Views are the plugin's, and a page there can only lose X. */
    vmic_view_t view;
    vmic_gfn_t spare;
    CHECK_OK(vmic_create_view(core, &view));
    CHECK_ERR(vmic_set_access(core, view, vmic_gfn(0x1000), VMIC_ACCESS_RX), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("a page can only lose X");
    CHECK_ERR(vmic_remap_gfn(core, view, vmic_gfn(0x1000), vmic_gfn(0x1001)), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("no gfn can be remapped");
    CHECK_ERR(vmic_alloc_gfn(core, &spare), VMIC_E_UNSUPPORTED);
    CHECK_OK(vmic_destroy_view(core, view));
    vmic_monitor_t m = {.kind = VMIC_MONITOR_INTERRUPT, .vector = 3};
    CHECK_ERR(vmic_monitor_enable(core, &m), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("does not report the guest's own exceptions");
    m = (vmic_monitor_t){.kind = VMIC_MONITOR_MSR_WRITE, .msr = VMIC_MSR_ALL};
    CHECK_ERR(vmic_monitor_enable(core, &m), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("no MSR events");
    m = (vmic_monitor_t){.kind = VMIC_MONITOR_IO, .ports = {0x3f8, 0x3ff}};
    CHECK_ERR(vmic_monitor_enable(core, &m), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("no port I/O events");
    m = (vmic_monitor_t){.kind = VMIC_MONITOR_SINGLESTEP, .vcpu = 0};
    CHECK_ERR(vmic_monitor_enable(core, &m), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("interrupts and timers off");
    /* An INT3 in guest memory would go to the guest's own handler. */
    vmic_pa_t pa = vmic_pa(image_pa(sym(BP_FUNC)));
    CHECK_ERR(vmic_bp_insert(core, pa), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("does not report INT3 hits");
    CHECK(!vmic_bp_lookup(core, pa, NULL));
    vmic_injection_t inj = {.vector = 6, .type = VMIC_INTR_HW_EXCEPTION};
    CHECK_ERR(vmic_inject(core, 0, &inj), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("cannot raise an exception");

    /* A handler that answers Deny: the session ends with the refusal, and
     * still undoes its breakpoint. */
    CHECK_OK(vmic_hw_breakpoint_set(core, vmic_va(sym(BP_FUNC))));
    static rec r;
    memset(&r, 0, sizeof r);
    r.plan = PLAN_DENY;
    r.want = 100;
    double t0 = live_now();
    CHECK_ERR(run(&r), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("Deny cannot answer this breakpoint event");
    CHECK(live_now() - t0 < SESSION_LIMIT_S);
    CHECK_EQ(r.n, 1);
    check_runs_freely("a session ended by a refused answer");
}

/*
 * A session in another process (no CLI runs qemu events yet), ended by
 * SIGTERM while its breakpoint and watchpoint are in: the core's signal
 * handling undoes them and the VM runs on. This process lets go of QEMU
 * first: its gdbstub and QMP serve one client each.
 */
static int child_session(int ready_fd)
{
    vmic_driver *drv;
    vmic_core *c;
    vmic_qemu_config_t cfg = {.timeout_ms = 5000};
    if (vmic_qemu_open_target(target, &cfg, &drv) || vmic_core_open(drv, NULL, &c))
        return 10;
    if (vmic_hw_breakpoint_set(c, vmic_va(sym(BP_FUNC))) ||
        vmic_watchpoint_set(c, vmic_va(sym("jiffies_64")), 8, VMIC_ACCESS_W))
        return 11;
    vmic_core_take_signals(c, true);
    static rec r;
    r.plan = PLAN_CONTINUE;
    r.want = UINT32_MAX;
    r.deadline = live_now() + 30;
    r.probed = true;   /* no QMP here */
    vmic_event_handler_t h = {.on_event = on_event, .should_stop = should_stop, .arg = &r};
    ready_fd_at_event = ready_fd;   /* the parent waits for the first event */
    vmic_status s = vmic_run_events(c, &h, 200);
    int code = s == VMIC_E_INTERRUPTED && r.n > 0 ? 0 : 13;
    if (code)
        fprintf(stderr, "  child: session ended with %s after %u events: %s\n",
                vmic_status_name(s), r.n, vmic_errmsg());
    vmic_core_close(c);
    return code;
}

static void test_sigterm_removes_points(void)
{
    int fds[2];
    vmic_core_close(core);
    core = NULL;
    live_qmp_close(&qmp);
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        _exit(child_session(fds[1]));
    }
    close(fds[1]);
    /* Its first event: the session runs with its points in. */
    uint32_t ready = 0;
    ssize_t got = read(fds[0], &ready, sizeof ready);
    close(fds[0]);
    live_sleep_ms(300);
    kill(pid, SIGTERM);
    int status = -1;
    double t0 = live_now();
    while (waitpid(pid, &status, WNOHANG) == 0 && live_now() - t0 < 10)
        live_sleep_ms(20);
    if (live_now() - t0 >= 10) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    bool reopened = open_core() && live_qmp_open(&qmp, dir) == VMIC_OK;
    CHECK_EQ(got, (ssize_t)sizeof ready);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
    CHECK(live_now() - t0 < 5);
    CHECK(reopened);
    check_runs_freely("SIGTERM to a process in a session");
}

static void test_qemu_killed_mid_session(void)
{
    CHECK_OK(vmic_hw_breakpoint_set(core, vmic_va(sym(BP_FUNC))));
    live_qmp_close(&qmp);
    static rec r;
    memset(&r, 0, sizeof r);
    r.plan = PLAN_KILL_QEMU;
    r.want = 100;
    r.probed = true;
    double t0 = live_now();
    vmic_status s = run(&r);
    double took = live_now() - t0;
    CHECK_EQ(s, VMIC_E_IO);
    char where[320];
    snprintf(where, sizeof where, "gdb unix:%s/gdb.sock", dir);
    CHECK_ERRMSG("QEMU is gone");
    CHECK_ERRMSG(where);
    CHECK_MSG(took < 3.0, "the session took %.1f s to end", took);
    vmic_guest_state_t st;
    CHECK_OK(vmic_guest_state(core, &st));
    CHECK_EQ(st.state, VMIC_GUEST_FAILED);
    CHECK_MSG(strstr(st.message, "QEMU is gone"), "%s", st.message);
    t0 = live_now();
    vmic_core_close(core);
    core = NULL;
    CHECK(live_now() - t0 < 0.5);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s VMIC_BINARY FIXTURE_DIR\n", argv[0]);
        return 2;
    }
    vmic_bin = argv[1];
    int rc = live_boot(vmic_bin, argv[2], "events", 2, NULL, dir, sizeof dir, truth_dir,
                       sizeof truth_dir);
    if (rc)
        return rc;
    snprintf(target, sizeof target, "qemu:%s", dir);
    syms = truth_kallsyms(truth_dir, &nsyms);
    size_t nio;
    truth_range *iomem = truth_iomem(truth_dir, &nio);
    const truth_range *code = iomem ? truth_find_range(iomem, nio, "Kernel code") : NULL;
    text_va = sym("_text");
    code_pa = code ? code->start : 0;
    jiffies_pa = image_pa(sym("jiffies_64"));
    free(iomem);
    fprintf(stderr, "  this boot: %s at 0x%" PRIx64 ", _text at pa 0x%" PRIx64 "\n", BP_FUNC,
            sym(BP_FUNC), code_pa);
    if (!text_va || !code_pa || !sym(BP_FUNC) || !open_core() ||
        live_qmp_open(&qmp, dir) != VMIC_OK) {
        fprintf(stderr, "FAIL setting up: %s\n", vmic_errmsg());
        live_stop(vmic_bin, dir);
        return 1;
    }

    RUN(test_caps);
    RUN(test_breakpoint_hits);
    RUN(test_singlestep);
    RUN(test_fast_singlestep);
    RUN(test_write_watchpoint);
    RUN(test_read_and_access_watchpoints);
    RUN(test_unsupported);
    RUN(test_sigterm_removes_points);
    if (core)
        RUN(test_qemu_killed_mid_session);
    if (core)
        vmic_core_close(core);
    live_qmp_close(&qmp);
    live_stop(vmic_bin, dir);
    free(syms);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", truth_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", truth_dir);
    return HARNESS_RESULT();
}
