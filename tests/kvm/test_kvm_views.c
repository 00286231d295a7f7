/*
 * Views on a real KVM VM: a page with X removed traps only execution; a
 * remapped gfn shows its shadow page in one view and the original in view 0;
 * each of the eight access combinations traps exactly the accesses it lacks;
 * destroying a view (or ending the session) puts every vCPU back in view 0
 * and the memslots back to one. Guest: tests/guests/actions.c.
 */
#include "kvm_test.h"

typedef struct views_ctx {
    guest_vm *g;
    vmic_view_t view;
    bool have_view;
    int memory, steps, other;
    vmic_event_t first;
    vmic_access_t kinds;               /* OR of the accesses that trapped */
    vmic_access_t trapped[8];          /* per access combination */
    uint32_t round;
    uint32_t slots_inside;             /* memslots while the page is restricted */
    vmic_gfn_t shadow;
} views_ctx;

static vmic_status make_view(views_ctx *c, vmic_core *core)
{
    if (c->have_view)
        return VMIC_OK;
    c->have_view = true;
    return vmic_create_view(core, &c->view);
}

/* ---- X removed in view 1 ------------------------------------------------------------- */

static vmic_status on_x_removed(vmic_core *core, const vmic_event_t *ev,
                                vmic_event_response_t *r, void *arg)
{
    views_ctx *c = arg;
    uint32_t ph;
    vmic_kvm_stats_t st;
    vmic_status s;

    if (phase_of(ev, &ph)) {
        if (ph == PH_START) {
            if ((s = make_view(c, core)) ||
                (s = vmic_set_access(core, c->view, c->g->counter_gfn, VMIC_ACCESS_RW)))
                return s;
            r->set_view = true;
            r->view = c->view;
        } else if (ph == PH_DONE && vmic_kvm_stats(vmic_core_driver(core), &st) == VMIC_OK) {
            c->slots_inside = st.slots;
        }
        return VMIC_OK;
    }
    if (ev->kind == VMIC_EVENT_MEMORY_ACCESS) {
        if (c->memory++ == 0)
            c->first = *ev;
        c->kinds |= ev->memory.access;
        r->action = VMIC_ACTION_FAST_SINGLESTEP;
        r->set_view = true;
        r->view = VMIC_VIEW_DEFAULT;
    } else {
        c->other++;
    }
    return VMIC_OK;
}

static void test_x_removed_traps_only_execution(void)
{
    guest_vm g;
    guest_params_t p = {.scenario = SC_VIEWS_X};
    views_ctx c = {.g = &g};
    vmic_kvm_stats_t st;

    CHECK_OK(guest_open(&g, "actions.elf", 1, &p));
    CHECK_OK(watch_phases(&g));
    CHECK_OK(guest_run(&g, on_x_removed, &c));
    CHECK_EQ(guest_exit_code(&g), 0);
    /* Two fetches (counter_fn's mov and ret) trapped, in view 1, on the
     * counter gfn; the read and the write of counter_word did not. */
    CHECK_EQ(c.memory, 2);
    CHECK_EQ(c.kinds, VMIC_ACCESS_X);
    CHECK_EQ(c.other, 0);
    CHECK_EQ(c.first.view, c.view);
    CHECK_EQ(c.first.memory.gfn.num, g.counter_gfn.num);
    CHECK_EQ(c.first.memory.pa.addr, sym_pa(&g, "counter_fn").addr);
    CHECK(c.first.memory.va_valid);
    CHECK_EQ(c.first.memory.va.addr, sym_va(&g, "counter_fn").addr);
    CHECK_EQ(guest_report(&g, "fn"), COUNTER_FN_RESULT);
    CHECK_EQ(guest_report(&g, "word"), COUNTER_WORD_INIT + 5);
    /* One page out of the RAM slot: it was split in two; the session's end
     * coalesced it back. */
    CHECK_EQ(c.slots_inside, 2);
    CHECK_OK(vmic_kvm_stats(g.drv, &st));
    CHECK_EQ(st.slots, 1);
    guest_close(&g);
}

/* ---- a remapped gfn: shadow bytes in view 1, the original in view 0 -------------------- */

static vmic_status prepare_shadow(views_ctx *c, vmic_core *core)
{
    uint8_t page[VMIC_PAGE_SIZE];
    uint32_t patched = SHADOW_FN_PATCHED;
    vmic_status s;

    if ((s = make_view(c, core)) || (s = vmic_alloc_gfn(core, &c->shadow)) ||
        (s = vmic_read_pa(core, vmic_gfn_to_pa(c->g->shadow_gfn), page, sizeof page)))
        return s;
    memcpy(page + 1, &patched, sizeof patched); /* shadow_fn: mov $imm32, %eax */
    if ((s = vmic_write_pa(core, vmic_gfn_to_pa(c->shadow), page, sizeof page)))
        return s;
    return vmic_remap_gfn(core, c->view, c->g->shadow_gfn, c->shadow);
}

static vmic_status on_remap(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *r,
                            void *arg)
{
    views_ctx *c = arg;
    uint32_t ph;
    vmic_status s;

    if (!phase_of(ev, &ph)) {
        c->other++;
        return VMIC_OK;
    }
    if (ph == PH_VIEW1) {
        if ((s = prepare_shadow(c, core)))
            return s;
        r->set_view = true;
        r->view = c->view;
    } else if (ph == PH_VIEW0) {
        r->set_view = true;
        r->view = VMIC_VIEW_DEFAULT;
    }
    return VMIC_OK;
}

static void test_remapped_gfn(void)
{
    guest_vm g;
    guest_params_t p = {.scenario = SC_REMAP};
    views_ctx c = {.g = &g};
    uint32_t imm;

    CHECK_OK(guest_open(&g, "actions.elf", 1, &p));
    CHECK_OK(watch_phases(&g));
    CHECK_OK(guest_run(&g, on_remap, &c));
    CHECK_EQ(guest_exit_code(&g), 0);
    CHECK_EQ(c.other, 0);
    /* Inside: execution and reads of the gfn saw the shadow page in view 1,
     * the original in view 0. */
    CHECK_EQ(guest_report(&g, "view1_fn"), SHADOW_FN_PATCHED);
    CHECK_EQ(guest_report(&g, "view1_imm"), SHADOW_FN_PATCHED);
    CHECK_EQ(guest_report(&g, "view0_fn"), SHADOW_FN_RESULT);
    CHECK_EQ(guest_report(&g, "view0_imm"), SHADOW_FN_RESULT);
    /* Outside: the original page was never written; the shadow gfn, no
     * longer remapped after the session, can be freed. */
    CHECK_OK(vmic_read_u32_pa(g.core, vmic_pa(sym_pa(&g, "shadow_fn").addr + 1), &imm));
    CHECK_EQ(imm, SHADOW_FN_RESULT);
    CHECK_OK(vmic_free_gfn(g.core, c.shadow));
    guest_close(&g);
}

/* ---- every access combination traps exactly what it lacks ------------------------------ */

static vmic_status on_access_round(vmic_core *core, const vmic_event_t *ev,
                                   vmic_event_response_t *r, void *arg)
{
    views_ctx *c = arg;
    uint32_t ph;
    vmic_status s;

    if (phase_of(ev, &ph)) {
        if ((ph & 0xff) != PH_ACCESS)
            return VMIC_OK;
        c->round = ph >> 8;
        if ((s = make_view(c, core)) ||
            (s = vmic_set_access(core, c->view, c->g->counter_gfn, (vmic_access_t)c->round)))
            return s;
        r->set_view = true;
        r->view = c->view;
        return VMIC_OK;
    }
    if (ev->kind == VMIC_EVENT_MEMORY_ACCESS && c->round < 8 && ev->view == c->view &&
        ev->memory.gfn.num == c->g->counter_gfn.num) {
        c->trapped[c->round] |= ev->memory.access;
        r->action = VMIC_ACTION_EMULATE;   /* complete it, stay in view 1 */
    } else {
        c->other++;
    }
    return VMIC_OK;
}

static void test_every_access_combination(void)
{
    guest_vm g;
    guest_params_t p = {.scenario = SC_ACCESS_TABLE};
    views_ctx c = {.g = &g};

    CHECK_OK(guest_open(&g, "actions.elf", 1, &p));
    CHECK_OK(watch_phases(&g));
    CHECK_OK(guest_run(&g, on_access_round, &c));
    CHECK_EQ(guest_exit_code(&g), 0);
    CHECK_EQ(c.other, 0);
    for (unsigned a = 0; a < 8; a++)
        CHECK_MSG(c.trapped[a] == (~a & VMIC_ACCESS_RWX),
                  "access %c%c%c trapped %c%c%c", a & 1 ? 'r' : '-', a & 2 ? 'w' : '-',
                  a & 4 ? 'x' : '-', c.trapped[a] & 1 ? 'r' : '-', c.trapped[a] & 2 ? 'w' : '-',
                  c.trapped[a] & 4 ? 'x' : '-');
    /* Every emulated access completed: one increment per round. */
    CHECK_EQ(guest_report(&g, "word"), COUNTER_WORD_INIT + 8);
    guest_close(&g);
}

/* ---- destroying a view restores the vCPUs and the memslots ------------------------------ */

static void test_destroy_view_restores(void)
{
    guest_vm g;
    guest_params_t p = {.scenario = SC_IO};
    vmic_view_t v, now;
    vmic_access_t a;
    vmic_kvm_stats_t st;
    vmic_gfn_t gfns[3];

    CHECK_OK(guest_open(&g, "actions.elf", 1, &p));
    gfns[0] = g.counter_gfn, gfns[1] = g.shadow_gfn, gfns[2] = g.exec_gfn;
    CHECK_OK(vmic_create_view(g.core, &v));
    CHECK_OK(vmic_set_access(g.core, v, gfns[0], VMIC_ACCESS_RW));
    CHECK_OK(vmic_set_access(g.core, v, gfns[1], VMIC_ACCESS_RX));
    CHECK_OK(vmic_set_access(g.core, v, gfns[2], VMIC_ACCESS_NONE));
    CHECK_OK(vmic_switch_view(g.core, v));
    CHECK_OK(vmic_vcpu_view(g.core, 0, &now));
    CHECK_EQ(now, v);
    CHECK_OK(vmic_kvm_stats(g.drv, &st));
    CHECK(st.slots > 1);
    /* Giving one page back its rights coalesces its run again. */
    CHECK_OK(vmic_set_access(g.core, v, gfns[1], VMIC_ACCESS_RWX));
    CHECK_OK(vmic_get_access(g.core, v, gfns[1], &a));
    CHECK_EQ(a, VMIC_ACCESS_RWX);
    CHECK_OK(vmic_destroy_view(g.core, v));
    CHECK_OK(vmic_vcpu_view(g.core, 0, &now));
    CHECK_EQ(now, VMIC_VIEW_DEFAULT);
    CHECK_OK(vmic_kvm_stats(g.drv, &st));
    CHECK_EQ(st.slots, 1);
    CHECK_ERR(vmic_set_access(g.core, v, gfns[0], VMIC_ACCESS_R), VMIC_E_NOTFOUND);
    CHECK_ERR(vmic_destroy_view(g.core, VMIC_VIEW_DEFAULT), VMIC_E_INVAL);
    CHECK_ERR(vmic_set_access(g.core, 0, vmic_gfn(1ull << 40), VMIC_ACCESS_R), VMIC_E_UNMAPPED);
    /* The guest still runs its scenario, and nothing traps. */
    views_ctx none = {.g = &g};
    CHECK_OK(guest_run(&g, on_x_removed, &none));
    CHECK_EQ(none.memory, 0);
    CHECK_EQ(guest_exit_code(&g), 0);
    CHECK_EQ(guest_report(&g, "in"), 0xffffffff);
    guest_close(&g);
}

int main(void)
{
    kvm_require_or_skip();
    RUN(test_x_removed_traps_only_execution);
    RUN(test_remapped_gfn);
    RUN(test_every_access_combination);
    RUN(test_destroy_view_restores);
    return HARNESS_RESULT();
}
