/*
 * The breakpoint manager over each tap controller, on taps.elf's TAPS_LOOP
 * (tests/guests/taps.c): breakpoints on work_fn and counter_fn, which the
 * guest calls n times each. Checked against the guest's own reports and a
 * run without breakpoints:
 *   - every hit counted exactly, by vmic and by the guest; same results;
 *   - every event accounted for (kvm's event count): the memory controller
 *     raises no event for the reads and writes of the counter page, exactly
 *     one hit per call; the breakpoint controller serves each read of its
 *     pages, writes each write through;
 *   - breakpoint controller stealth: the guest reads its code page and sees
 *     the image's bytes; its own INT3s reach its #BP handler (and with a
 *     visible shadow it does see the INT3: the check can fail);
 *   - removing the breakpoints leaves nothing behind, and after that the
 *     guest runs untraced.
 */
#include "bpm_test.h"

#define N 1000
#define TAG_WORK 1
#define TAG_COUNTER 2

typedef struct loop_run {
    guest_vm *g;
    vmic_bpm *bpm;
    uint64_t hits[3];            /* by tag */
    uint64_t wrong_hits;         /* a hit whose va is not RIP, or in another view */
    uint64_t stray;              /* events the test did not expect */
    vmic_event_kind hit_kind;
    vmic_kvm_stats_t at_start, at_done;
    vmic_bpm_stats_t st;         /* at PH_DONE, before the removal */
    vmic_bpm_stats_t after;      /* at the end */
    uint32_t slots_before;
    residue left;
    vmic_status insert_status, remove_status;
    time_t deadline;
    uint64_t fail_after;         /* on_hit fails at this hit (0: never) */
} loop_run;

static vmic_status on_hit(vmic_bpm *bpm, const vmic_event_t *ev, const vmic_bp_state_t *hits,
                          size_t n, vmic_event_response_t *resp, void *arg)
{
    loop_run *r = arg;
    if (r->fail_after && r->hits[TAG_WORK] + r->hits[TAG_COUNTER] + n >= r->fail_after)
        return vmic_fail(VMIC_E_INTERNAL, "the test's callback fails on purpose");
    r->hit_kind = ev->kind;
    for (size_t i = 0; i < n; i++) {
        if (hits[i].bp.tag < 3)
            r->hits[hits[i].bp.tag]++;
        if (hits[i].bp.va.addr != ev->regs.rip || hits[i].tap_view != ev->view)
            r->wrong_hits++;
    }
    return VMIC_OK;
}

static vmic_breakpoint_t bp_on(guest_vm *g, const char *sym, uint64_t root, uint64_t tag)
{
    vmic_breakpoint_t bp = {.va = sym_va(g, sym), .root = vmic_pa(root), .key = 7, .tag = tag};
    return bp;
}

static vmic_status at_start(loop_run *r, const vmic_event_t *ev)
{
    vmic_breakpoint_t work = bp_on(r->g, "work_fn", ev->regs.cr3, TAG_WORK);
    vmic_breakpoint_t counter = bp_on(r->g, "counter_fn", ev->regs.cr3, TAG_COUNTER);
    if ((r->insert_status = vmic_bpm_insert(r->bpm, &work)) ||
        (r->insert_status = vmic_bpm_insert(r->bpm, &counter)))
        return r->insert_status;
    return vmic_kvm_stats(r->g->drv, &r->at_start);
}

/* Every breakpoint removed one by one (not cleared): nothing may stay. */
static vmic_status at_done(loop_run *r, const vmic_event_t *ev)
{
    guest_vm *g = r->g;
    vmic_kvm_stats(g->drv, &r->at_done);
    vmic_bpm_stats(r->bpm, &r->st);
    vmic_breakpoint_t work = bp_on(g, "work_fn", ev->regs.cr3, TAG_WORK);
    vmic_breakpoint_t counter = bp_on(g, "counter_fn", ev->regs.cr3, TAG_COUNTER);
    if ((r->remove_status = vmic_bpm_remove(r->bpm, &work)) ||
        (r->remove_status = vmic_bpm_remove(r->bpm, &counter)))
        return r->remove_status;
    vmic_gfn_t gfns[] = {g->exec_gfn, g->counter_gfn};
    residue_check(g, r->bpm, gfns, 2, r->slots_before, &r->left);
    return VMIC_OK;
}

static vmic_status on_event(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *resp,
                            void *arg)
{
    loop_run *r = arg;
    uint32_t ph;
    if (phase_of(ev, &ph))
        return ph == PH_START ? at_start(r, ev) : ph == PH_DONE ? at_done(r, ev) : VMIC_OK;
    /* The guest's own INT3s come here when nobody monitors INT3: no. */
    if (!(ev->kind == VMIC_EVENT_INTERRUPT && resp->action == VMIC_ACTION_REINJECT_INTERRUPT))
        r->stray++;
    return VMIC_OK;
}

static bool past_deadline(vmic_core *core, void *arg)
{
    loop_run *r = arg;
    return time(NULL) > r->deadline;
}

/* Runs TAPS_LOOP with a manager over `opt`, or with none. */
static void run_loop(const vmic_tap_options_t *opt, guest_vm *g, loop_run *r)
{
    guest_params_t p = {.scenario = TAPS_LOOP, .iterations = N};
    vmic_kvm_stats_t ks;
    uint64_t fail_after = r->fail_after;

    memset(r, 0, sizeof *r);
    r->g = g;
    r->fail_after = fail_after;
    CHECK_OK(guest_open(g, "taps.elf", 1, &p));
    CHECK_OK(vmic_kvm_stats(g->drv, &ks));
    r->slots_before = ks.slots;
    if (!opt) { /* no events at all: it runs to its end alone */
        CHECK_OK(vmic_resume(g->core));
        CHECK_OK(vmic_kvm_wait(g->drv, RUN_SECONDS * 1000));
        return;
    }
    CHECK_OK(watch_phases(g));
    CHECK_OK(bpm_open_kind(g, opt, &r->bpm));
    vmic_bpm_handler_t h = {.on_hit = on_hit, .on_event = on_event,
                            .should_stop = past_deadline, .arg = r};
    r->deadline = time(NULL) + RUN_SECONDS;
    CHECK_OK(vmic_resume(g->core));
    vmic_status s = vmic_bpm_run(r->bpm, &h, 1000);
    if (fail_after) {
        CHECK_ERR(s, VMIC_E_INTERNAL);
        CHECK_ERRMSG("on purpose");
    } else {
        CHECK_OK(s);
    }
    CHECK_MSG(time(NULL) <= r->deadline, "the guest did not finish in %d s", RUN_SECONDS);
    vmic_bpm_stats(r->bpm, &r->after);
}

static void check_results(guest_vm *g, guest_vm *base)
{
    uint64_t n = N;
    CHECK_EQ(guest_exit_code(g), 0);
    CHECK_EQ(guest_report(g, "calls"), n);
    CHECK_EQ(guest_report(g, "sum"), 3 * n * (n - 1) / 2 + n);
    CHECK_EQ(guest_report(g, "fsum"), n * COUNTER_FN_RESULT);
    CHECK_EQ(guest_report(g, "word_delta"), n);
    CHECK_EQ(guest_report(g, "bp_ret"), TAPS_GUEST_INT3S);
    CHECK_EQ(guest_report(g, "bp_hits"), TAPS_GUEST_INT3S);
    CHECK_EQ(guest_report(g, "bp_hits_after"), TAPS_GUEST_INT3S + 1);
    CHECK_EQ(guest_report(g, "after_sum"), 3 * 45 + 10);
    CHECK_EQ(guest_report(g, "patched"), COUNTER_FN_PATCHED);
    CHECK_EQ(guest_report(g, "restored"), COUNTER_FN_RESULT);
    /* The same as without breakpoints, report by report. */
    static const char *const names[] = {"sum", "fsum", "word_delta", "bp_ret", "after_sum",
                                        "patched", "restored"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK_MSG(guest_report(g, names[i]) == guest_report(base, names[i]),
                  "%s differs from the run without breakpoints", names[i]);
}

/* The guest saw its own code as the image has it (the bytes of the page in
 * RAM, which only vmic could have changed). */
static void check_code_seen(guest_vm *g, bool clean)
{
    uint8_t page[VMIC_PAGE_SIZE];
    CHECK_OK(vmic_read_pa(g->core, vmic_gfn_to_pa(g->exec_gfn), page, sizeof page));
    uint64_t seen = guest_report(g, "exec_hash");
    CHECK_MSG((seen == fnv_page(page)) == clean, "the guest read %s code page",
              clean ? "a changed" : "an unchanged");
    CHECK_EQ(guest_report(g, "work_intact"), clean);
}

static void check_common(loop_run *r, vmic_event_kind kind)
{
    CHECK_OK(r->insert_status);
    CHECK_OK(r->remove_status);
    CHECK_EQ(r->hits[TAG_WORK], N);
    CHECK_EQ(r->hits[TAG_COUNTER], N);
    CHECK_EQ(r->st.hits, 2 * N);
    CHECK_EQ(r->wrong_hits, 0);
    CHECK_EQ(r->hit_kind, kind);
    CHECK_EQ(r->stray, 0);
    CHECK_MSG(r->left.found == 0, "left behind: %s", r->left.what);
    /* After PH_DONE: no hit, no INT3 taken for the manager's. */
    CHECK_EQ(r->after.hits, r->st.hits);
    CHECK_EQ(r->after.reinjected, r->st.reinjected);
}

/* Events from PH_START to PH_DONE, both excluded (the driver counts an
 * event once its handler has answered: PH_START's own is in the delta). */
static uint64_t events_between(const loop_run *r)
{
    return r->at_done.events - r->at_start.events - 1;
}

static guest_vm base;

static void test_memory_controller(void)
{
    guest_vm g;
    loop_run r = {0};
    vmic_tap_options_t opt = {.kind = VMIC_TAP_MEMORY};
    run_loop(&opt, &g, &r);
    check_common(&r, VMIC_EVENT_MEMORY_ACCESS);
    check_results(&g, &base);
    check_code_seen(&g, true);
    /* Each call: one hit (the breakpoint's instruction) and one pass (its
     * ret, on the same page); each patch_fn call two passes (mov, ret), each
     * bp_target call three (its int3, which then goes to the guest
     * unmonitored, mov, ret); reads and writes of the counter page: none. */
    CHECK_EQ(r.st.passes, 2 * N + 2 * 2 + 3 * TAPS_GUEST_INT3S);
    CHECK_EQ(r.st.reads_served + r.st.writes_through + r.st.reinjected, 0);
    CHECK_EQ(events_between(&r), r.st.hits + r.st.passes);
    vmic_bpm_close(r.bpm);
    guest_close(&g);
}

static void test_breakpoint_controller(void)
{
    guest_vm g;
    loop_run r = {0};
    vmic_tap_options_t opt = {.kind = VMIC_TAP_BREAKPOINT};
    run_loop(&opt, &g, &r);
    check_common(&r, VMIC_EVENT_INTERRUPT);
    check_results(&g, &base);
    check_code_seen(&g, true);
    /* Only INT3s exit as events on code; reads of the two shadowed pages
     * (counter_word twice plus once a call, the exec page's 512 words and
     * work_fn's 5 bytes) are served from view 0; each counter write and
     * both patches go through, each then its single-step; the guest's INT3s
     * are reinjected. */
    CHECK_EQ(r.st.passes, 0);
    CHECK_EQ(r.st.reads_served, N + 2 + 512 + 5);
    CHECK_EQ(r.st.writes_through, N + 2);
    CHECK_EQ(r.st.reinjected, TAPS_GUEST_INT3S);
    CHECK_EQ(events_between(&r),
             r.st.hits + r.st.reads_served + 2 * r.st.writes_through + r.st.reinjected);
    vmic_bpm_close(r.bpm);
    guest_close(&g);
}

/* A visible shadow: the guest reads the INT3s. Proves the stealth check
 * above sees what it looks for. */
static void test_breakpoint_controller_visible(void)
{
    guest_vm g;
    loop_run r = {0};
    vmic_tap_options_t opt = {.kind = VMIC_TAP_BREAKPOINT, .visible = true};
    run_loop(&opt, &g, &r);
    check_common(&r, VMIC_EVENT_INTERRUPT);
    check_results(&g, &base);
    check_code_seen(&g, false);
    CHECK_EQ(r.st.reads_served, 0);
    CHECK_EQ(r.st.writes_through, N + 2);
    CHECK_EQ(events_between(&r), r.st.hits + 2 * r.st.writes_through + r.st.reinjected);
    vmic_bpm_close(r.bpm);
    guest_close(&g);
}

static void test_debugreg_controller(void)
{
    guest_vm g;
    loop_run r = {0};
    vmic_tap_options_t opt = {.kind = VMIC_TAP_DEBUGREG};
    run_loop(&opt, &g, &r);
    check_common(&r, VMIC_EVENT_BREAKPOINT);
    check_results(&g, &base);
    check_code_seen(&g, true);
    CHECK_EQ(r.st.passes + r.st.reads_served + r.st.writes_through, 0);
    CHECK_EQ(events_between(&r), r.st.hits);
    vmic_bpm_close(r.bpm);
    guest_close(&g);
}

/* A callback fails in the middle: the session ends with its error, and its
 * end takes every breakpoint away -- the guest, running on untraced, reads
 * clean code, gets its own INT3s and computes the right results. */
static void test_error_ends_clean(void)
{
    guest_vm g;
    loop_run r = {.fail_after = 100};
    vmic_tap_options_t opt = {.kind = VMIC_TAP_BREAKPOINT};
    run_loop(&opt, &g, &r);
    CHECK_EQ(r.hits[TAG_WORK], 99);
    vmic_gfn_t gfns[] = {g.exec_gfn, g.counter_gfn};
    residue_check(&g, r.bpm, gfns, 2, r.slots_before, &r.left);
    CHECK_MSG(r.left.found == 0, "left behind: %s", r.left.what);
    check_results(&g, &base);
    check_code_seen(&g, true);
    vmic_bpm_close(r.bpm);
    guest_close(&g);
}

/* ---- two vCPUs: smp.elf's scenario 1, both calling counter_fn ------------------- */

#define SMP_CALLS 300

typedef struct smp_run {
    vmic_bpm *bpm;
    uint64_t hits[2];
    uint64_t stray;
    vmic_status status;
    time_t deadline;
} smp_run;

static vmic_status smp_hit(vmic_bpm *bpm, const vmic_event_t *ev, const vmic_bp_state_t *hits,
                           size_t n, vmic_event_response_t *resp, void *arg)
{
    smp_run *r = arg;
    if (ev->vcpu < 2)
        r->hits[ev->vcpu] += n;
    return VMIC_OK;
}

static vmic_status smp_event(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *resp,
                             void *arg)
{
    smp_run *r = arg;
    uint32_t ph;
    if (!phase_of(ev, &ph)) {
        r->stray++;
        return VMIC_OK;
    }
    if (ph != PH_START)
        return VMIC_OK;
    /* Both vCPUs announce PH_START: the second finds it set already. */
    vmic_breakpoint_t bp = {.va = vmic_va(0), .root = vmic_pa(ev->regs.cr3)};
    vmic_kvm_symbol(vmic_core_driver(core), "counter_fn", &bp.va, NULL);
    vmic_status s = vmic_bpm_insert(r->bpm, &bp);
    if (s && s != VMIC_E_BUSY)
        r->status = s;
    return VMIC_OK;
}

static bool smp_deadline(vmic_core *core, void *arg)
{
    return time(NULL) > ((smp_run *)arg)->deadline;
}

/* Every call of both vCPUs is one hit, whatever the other vCPU is doing
 * (a step-over in view 0 holds the others: none runs through the tap). */
static void test_two_vcpus(void)
{
    for (size_t k = 0; k < sizeof TAP_CASES / sizeof TAP_CASES[0]; k++) {
        guest_vm g;
        smp_run r = {.deadline = time(NULL) + RUN_SECONDS};
        guest_params_t p = {.scenario = 1, .iterations = SMP_CALLS, .cpus = 2};
        fprintf(stderr, "  %s controller\n", TAP_CASES[k].name);
        CHECK_OK(guest_open(&g, "smp.elf", 2, &p));
        CHECK_OK(watch_phases(&g));
        CHECK_OK(bpm_open_kind(&g, &TAP_CASES[k].opt, &r.bpm));
        vmic_bpm_handler_t h = {.on_hit = smp_hit, .on_event = smp_event,
                                .should_stop = smp_deadline, .arg = &r};
        CHECK_OK(vmic_resume(g.core));
        CHECK_OK(vmic_bpm_run(r.bpm, &h, 1000));
        CHECK_OK(r.status);
        CHECK_EQ(guest_exit_code(&g), 0);
        CHECK_EQ(guest_report(&g, "cpu0.calls"), SMP_CALLS);
        CHECK_EQ(guest_report(&g, "cpu1.calls"), SMP_CALLS);
        CHECK_EQ(r.hits[0], SMP_CALLS);
        CHECK_EQ(r.hits[1], SMP_CALLS);
        CHECK_EQ(r.stray, 0);
        vmic_bpm_close(r.bpm);
        guest_close(&g);
    }
}

/* The manager's own bookkeeping, without a guest running. */
static void test_bookkeeping(void)
{
    guest_vm g;
    vmic_bpm *bpm;
    vmic_amd64_regs_t regs;
    vmic_tap_options_t opt = {.kind = VMIC_TAP_BREAKPOINT};
    vmic_bp_state_t st[4];

    vmic_kvm_stats_t ks;
    CHECK_OK(guest_open(&g, "taps.elf", 1, NULL));
    CHECK_OK(vmic_get_regs(g.core, 0, &regs));
    CHECK_OK(vmic_kvm_stats(g.drv, &ks));
    CHECK_OK(bpm_open_kind(&g, &opt, &bpm));
    vmic_breakpoint_t a = {.va = sym_va(&g, "work_fn"), .root = vmic_pa(regs.cr3), .key = 1,
                           .tag = 10};
    vmic_breakpoint_t b = a, c = a, d = a;
    b.key = 2;                            /* same address: shares a's tap */
    c.va = sym_va(&g, "exec_fn");         /* same page: shares a's guard */
    c.key = 3;
    d.global = true;                      /* global, at a's address */
    d.key = 4;
    CHECK_OK(vmic_bpm_insert(bpm, &a));
    CHECK_ERR(vmic_bpm_insert(bpm, &a), VMIC_E_BUSY);
    CHECK_OK(vmic_bpm_insert(bpm, &b));
    CHECK_OK(vmic_bpm_insert(bpm, &c));
    CHECK_OK(vmic_bpm_insert(bpm, &d));
    vmic_bpm_stats_t s;
    vmic_bpm_stats(bpm, &s);
    CHECK_EQ(s.taps, 2);                  /* work_fn, exec_fn */
    CHECK_EQ(s.pages, 1);                 /* the exec page */
    CHECK_EQ(vmic_bpm_get_by_address(bpm, a.root, a.va, st, 4), 3);
    CHECK(st[0].active && st[0].pa.addr == sym_pa(&g, "work_fn").addr);
    /* From another address space only the global one is there. */
    CHECK_EQ(vmic_bpm_get_by_address(bpm, vmic_pa(0x5000), a.va, st, 4), 1);
    CHECK_EQ(st[0].bp.key, 4);
    /* An event at work_fn in the own view hits a, b and d. */
    vmic_view_t own;
    CHECK(vmic_bpm_own_view(bpm, &own));
    vmic_event_t ev = {.kind = VMIC_EVENT_INTERRUPT, .view = own};
    ev.interrupt.vector = 3;
    ev.interrupt.pa = sym_pa(&g, "work_fn");
    ev.regs.rip = a.va.addr;
    ev.regs.cr3 = regs.cr3;
    CHECK_EQ(vmic_bpm_get_by_event(bpm, &ev, st, 4), 3);
    CHECK(vmic_bpm_contains_by_event(bpm, &ev));
    ev.regs.cr3 = 0x5000;                 /* another address space: d only */
    CHECK_EQ(vmic_bpm_get_by_event(bpm, &ev, st, 4), 1);
    ev.interrupt.pa = sym_pa(&g, "work_fn");
    ev.interrupt.pa.addr += 1;            /* no INT3 of ours there */
    CHECK(!vmic_bpm_contains_by_event(bpm, &ev));
    /* Removing one of two sharers keeps the tap; remove by view takes the rest. */
    CHECK_OK(vmic_bpm_remove(bpm, &b));
    CHECK_ERR(vmic_bpm_remove(bpm, &b), VMIC_E_NOTFOUND);
    vmic_bpm_stats(bpm, &s);
    CHECK_EQ(s.taps, 2);
    size_t removed = 0;
    CHECK_OK(vmic_bpm_remove_by_view(bpm, 0, &removed));
    CHECK_EQ(removed, 3);
    residue left = {0};
    vmic_gfn_t gfns[] = {g.exec_gfn};
    residue_check(&g, bpm, gfns, 1, ks.slots, &left);
    CHECK_MSG(left.found == 0, "left behind: %s", left.what);
    vmic_bpm_close(bpm);
    guest_close(&g);
}

int main(void)
{
    loop_run r = {0};
    kvm_require_or_skip();
    run_loop(NULL, &base, &r);
    if (harness_current_failed || guest_exit_code(&base) != 0) {
        fprintf(stderr, "the run without breakpoints failed\n");
        return 1;
    }
    RUN(test_bookkeeping);
    RUN(test_memory_controller);
    RUN(test_breakpoint_controller);
    RUN(test_breakpoint_controller_visible);
    RUN(test_debugreg_controller);
    RUN(test_error_ends_clean);
    RUN(test_two_vcpus);
    guest_close(&base);
    return HARNESS_RESULT();
}
