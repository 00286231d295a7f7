/*
 * Breakpoints that follow the guest's page tables: taps.elf's TAPS_MAPPING
 * (tests/guests/taps.c) builds a mapping of DYN_VA level by level, calls the
 * function there, unmaps it, calls the same code through the direct map,
 * maps DYN_VA to another physical page and calls again. A breakpoint on
 * DYN_VA + DYN_FN_OFFSET is set before any of it. For each tap controller:
 *   - pending until the guest maps the page, active on page_a, pending when
 *     unmapped (its tap gone), active on page_b after the remap;
 *   - hits: DYN_CALLS on page_a, DYN_CALLS on page_b, none through the alias;
 *   - the guest's own results are right, and every one of its five
 *     page-table writes was seen;
 *   - removing the breakpoint leaves nothing behind (tables, pages, views,
 *     memslots, spare gfns), and the guest then runs untraced.
 * Then the page-table monitor alone: its page-in/page-out events, exactly.
 */
#include "bpm_test.h"

typedef struct map_run {
    guest_vm *g;
    vmic_bpm *bpm;
    vmic_breakpoint_t bp;
    vmic_pa_t fn_a, fn_b;        /* the function's pa in page_a, page_b */
    uint32_t slots_before;
    vmic_bp_state_t at[PH_REMAPPED + 1];   /* the breakpoint at each phase */
    size_t count_at[PH_REMAPPED + 1];
    uint64_t hits_a, hits_b, hits_other;
    vmic_page_event_t pages[8];
    size_t npages;
    vmic_bpm_stats_t st;
    residue left;
    vmic_status phase_status;
    time_t deadline;
} map_run;

static bool past_deadline(vmic_core *core, void *arg)
{
    map_run *r = arg;
    return time(NULL) > r->deadline;
}

static vmic_status on_hit(vmic_bpm *bpm, const vmic_event_t *ev, const vmic_bp_state_t *hits,
                          size_t n, vmic_event_response_t *resp, void *arg)
{
    map_run *r = arg;
    for (size_t i = 0; i < n; i++) {
        if (hits[i].pa.addr == r->fn_a.addr)
            r->hits_a++;
        else if (hits[i].pa.addr == r->fn_b.addr)
            r->hits_b++;
        else
            r->hits_other++;
    }
    return VMIC_OK;
}

static void on_page(vmic_bpm *bpm, const vmic_page_event_t *pe, void *arg)
{
    map_run *r = arg;
    if (r->npages < 8)
        r->pages[r->npages] = *pe;
    r->npages++;
}

/* Every table page the walk of DYN_VA ends up using, and both code pages. */
static size_t mapping_gfns(guest_vm *g, vmic_gfn_t *gfns)
{
    static const char *const syms[] = {"pml4", "pdpt_kernel", "dyn_pd", "dyn_pt", "page_a",
                                       "page_b"};
    for (size_t i = 0; i < 6; i++)
        gfns[i] = vmic_pa_to_gfn(sym_pa(g, syms[i]));
    return 6;
}

static vmic_status at_phase(map_run *r, uint32_t ph, const vmic_event_t *ev)
{
    guest_vm *g = r->g;
    if (ph == PH_START) {
        r->bp = (vmic_breakpoint_t){.va = vmic_va(DYN_VA + DYN_FN_OFFSET),
                                    .root = vmic_pa(ev->regs.cr3), .key = 1, .tag = 2};
        vmic_status s = vmic_bpm_insert(r->bpm, &r->bp);
        if (s)
            return s;
    }
    if (ph <= PH_REMAPPED && ph != PH_DONE)
        r->count_at[ph] = vmic_bpm_get_by_address(r->bpm, r->bp.root, r->bp.va, &r->at[ph], 1);
    if (ph == PH_UNMAPPED)
        vmic_bpm_stats(r->bpm, &r->st); /* taps and pages while it is pending */
    if (ph != PH_DONE)
        return VMIC_OK;
    vmic_bpm_stats_t unmapped = r->st;
    vmic_bpm_stats(r->bpm, &r->st);
    r->st.taps = unmapped.taps;
    r->st.pages = unmapped.pages;
    vmic_status s = vmic_bpm_remove(r->bpm, &r->bp);
    if (s)
        return s;
    vmic_gfn_t gfns[6];
    residue_check(g, r->bpm, gfns, mapping_gfns(g, gfns), r->slots_before, &r->left);
    return VMIC_OK;
}

static vmic_status on_event(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *resp,
                            void *arg)
{
    map_run *r = arg;
    uint32_t ph;
    if (phase_of(ev, &ph) && (r->phase_status = at_phase(r, ph, ev)))
        return r->phase_status;
    return VMIC_OK;
}

static void check_guest(guest_vm *g)
{
    uint64_t n = DYN_CALLS;
    CHECK_EQ(guest_exit_code(g), 0);
    CHECK_EQ(guest_report(g, "sum_a"), 3 * n * (n - 1) / 2 + n);
    CHECK_EQ(guest_report(g, "sum_alias"), 3 * n * (n - 1) / 2 + n);
    CHECK_EQ(guest_report(g, "sum_b"), 3 * n * (n - 1) / 2 + 2 * n);
    CHECK_EQ(guest_report(g, "sum_after"), 3 * 45 + 2 * 10);
}

static void check_state(const map_run *r, uint32_t ph, bool active, vmic_pa_t pa)
{
    CHECK_MSG(r->count_at[ph] == 1, "phase %u: %zu breakpoints at DYN_VA", ph, r->count_at[ph]);
    CHECK_MSG(r->at[ph].active == active, "phase %u: the breakpoint is %s", ph,
              r->at[ph].active ? "active" : "pending");
    if (active)
        CHECK_EQ(r->at[ph].pa.addr, pa.addr);
}

static void run_mapping(const tap_case *tc)
{
    guest_vm g;
    map_run r = {.g = &g};
    guest_params_t p = {.scenario = TAPS_MAPPING};
    vmic_kvm_stats_t ks;

    fprintf(stderr, "  %s controller\n", tc->name);
    CHECK_OK(guest_open(&g, "taps.elf", 1, &p));
    CHECK_OK(watch_phases(&g));
    CHECK_OK(vmic_kvm_stats(g.drv, &ks));
    r.slots_before = ks.slots;
    r.fn_a = vmic_pa(sym_pa(&g, "page_a").addr + DYN_FN_OFFSET);
    r.fn_b = vmic_pa(sym_pa(&g, "page_b").addr + DYN_FN_OFFSET);
    CHECK_OK(bpm_open_kind(&g, &tc->opt, &r.bpm));
    vmic_bpm_handler_t h = {.on_hit = on_hit, .on_page = on_page, .on_event = on_event,
                            .should_stop = past_deadline, .arg = &r};
    r.deadline = time(NULL) + RUN_SECONDS;
    CHECK_OK(vmic_resume(g.core));
    CHECK_OK(vmic_bpm_run(r.bpm, &h, 1000));
    CHECK_MSG(time(NULL) <= r.deadline, "the guest did not finish in %d s", RUN_SECONDS);
    CHECK_OK(r.phase_status);
    check_guest(&g);

    check_state(&r, PH_START, false, vmic_pa(0));
    check_state(&r, PH_MAPPED, true, r.fn_a);
    check_state(&r, PH_UNMAPPED, false, vmic_pa(0));
    check_state(&r, PH_REMAPPED, true, r.fn_b);
    CHECK_MSG(r.st.taps == 0 && r.st.pages == 0, "unmapped, yet %llu taps and %llu pages",
              (unsigned long long)r.st.taps, (unsigned long long)r.st.pages);
    CHECK_EQ(r.hits_a, DYN_CALLS);
    CHECK_EQ(r.hits_b, DYN_CALLS);
    CHECK_EQ(r.hits_other, 0);
    CHECK_EQ(r.st.hits, 2 * DYN_CALLS);
    /* pdpt[511], pd[0], pt[0] = a, pt[0] = 0, pt[0] = b */
    CHECK_EQ(r.st.table_writes, 5);
    CHECK_EQ(r.st.page_ins, 2);
    CHECK_EQ(r.st.page_outs, 1);
    CHECK_EQ(r.npages, 3);
    CHECK(r.pages[0].change == VMIC_PAGE_IN && r.pages[0].pa.addr == (r.fn_a.addr & ~0xfffull));
    CHECK(r.pages[1].change == VMIC_PAGE_OUT && r.pages[1].pa.addr == (r.fn_a.addr & ~0xfffull));
    CHECK(r.pages[2].change == VMIC_PAGE_IN && r.pages[2].pa.addr == (r.fn_b.addr & ~0xfffull));
    CHECK_EQ(r.pages[0].va.addr, DYN_VA);
    CHECK_MSG(r.left.found == 0, "left behind: %s", r.left.what);
    /* After PH_DONE: sum_after's calls hit nothing. */
    vmic_bpm_stats_t end;
    vmic_bpm_stats(r.bpm, &end);
    CHECK_EQ(end.hits, r.st.hits);
    vmic_bpm_close(r.bpm);
    guest_close(&g);
}

static void test_memory_follows(void)
{
    run_mapping(&TAP_CASES[0]);
}

static void test_breakpoint_follows(void)
{
    run_mapping(&TAP_CASES[1]);
}

static void test_debugreg_follows(void)
{
    run_mapping(&TAP_CASES[2]);
}

/* ---- the page-table monitor alone, with the canonical handling written out ---- */

typedef struct ptm_run {
    vmic_ptm *ptm;
    guest_vm *g;
    vmic_page_event_t ev[8];
    size_t n;
    uint64_t writes, steps;
    vmic_status status;
} ptm_run;

static void record(const vmic_page_event_t *pe, void *arg)
{
    ptm_run *r = arg;
    if (r->n < 8)
        r->ev[r->n] = *pe;
    r->n++;
}

static vmic_status on_ptm_event(vmic_core *core, const vmic_event_t *ev,
                                vmic_event_response_t *resp, void *arg)
{
    ptm_run *r = arg;
    uint32_t ph;
    if (phase_of(ev, &ph)) {
        if (ph == PH_START)
            return vmic_ptm_watch(r->ptm, VMIC_VIEW_DEFAULT, vmic_pa(ev->regs.cr3),
                                  vmic_va(DYN_VA), NULL, NULL);
        if (ph == PH_DONE)
            return vmic_ptm_unwatch(r->ptm, VMIC_VIEW_DEFAULT, vmic_pa(ev->regs.cr3),
                                    vmic_va(DYN_VA));
        return VMIC_OK;
    }
    if (vmic_ptm_mark_dirty(r->ptm, ev)) {
        r->writes++;
        resp->action = VMIC_ACTION_SINGLESTEP; /* the write completes, then we look */
        return VMIC_OK;
    }
    if (ev->kind == VMIC_EVENT_SINGLESTEP && vmic_ptm_dirty(r->ptm, ev->vcpu)) {
        r->steps++;
        return vmic_ptm_process(r->ptm, ev->vcpu, record, r);
    }
    return VMIC_OK;
}

static void test_ptm_alone(void)
{
    guest_vm g;
    ptm_run r = {.g = &g};
    guest_params_t p = {.scenario = TAPS_MAPPING};

    CHECK_OK(guest_open(&g, "taps.elf", 1, &p));
    CHECK_OK(watch_phases(&g));
    CHECK_OK(vmic_ptm_open(g.core, &r.ptm));
    CHECK_OK(guest_run(&g, on_ptm_event, &r));
    check_guest(&g);
    uint64_t a = sym_pa(&g, "page_a").addr, b = sym_pa(&g, "page_b").addr;
    CHECK_EQ(r.writes, 5);
    CHECK_EQ(r.steps, 5);
    CHECK_EQ(r.n, 3);
    CHECK(r.ev[0].change == VMIC_PAGE_IN && r.ev[0].pa.addr == a);
    CHECK(r.ev[1].change == VMIC_PAGE_OUT && r.ev[1].pa.addr == a);
    CHECK(r.ev[2].change == VMIC_PAGE_IN && r.ev[2].pa.addr == b);
    for (size_t i = 0; i < 3; i++)
        CHECK(r.ev[i].va.addr == DYN_VA && r.ev[i].view == VMIC_VIEW_DEFAULT);
    vmic_ptm_stats_t st;
    vmic_ptm_stats(r.ptm, &st);
    CHECK_EQ(st.watches, 0);
    CHECK_EQ(st.tables, 0);
    vmic_gfn_t gfns[6];
    for (size_t i = 0, n = mapping_gfns(&g, gfns); i < n; i++) {
        vmic_access_t acc;
        CHECK_OK(vmic_get_access(g.core, VMIC_VIEW_DEFAULT, gfns[i], &acc));
        CHECK_EQ(acc, VMIC_ACCESS_RWX);
    }
    vmic_ptm_close(r.ptm);
    guest_close(&g);
}

int main(void)
{
    kvm_require_or_skip();
    RUN(test_ptm_alone);
    RUN(test_memory_follows);
    RUN(test_breakpoint_follows);
    RUN(test_debugreg_follows);
    return HARNESS_RESULT();
}
