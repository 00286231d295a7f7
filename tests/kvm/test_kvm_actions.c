/*
 * The six actions on a real KVM VM, each seen from both sides: what vmic
 * reported (the event, the vCPU's view afterwards) and what the guest itself
 * saw (its reports). Guest: tests/guests/actions.c.
 */
#include "kvm_test.h"

#define WORD_OFFSET 0x800   /* counter_word within the counter page */

typedef struct seen {
    guest_vm *g;
    vmic_action answer;       /* for the events under test */
    bool answer_view;
    vmic_view_t view;
    vmic_view_t test_view;    /* the view the test made */
    int memory, interrupts, steps, msrs, ios, breakpoints, phases;
    vmic_event_t first, last;
    uint64_t step_rip[16];
    vmic_view_t view_at_done; /* the vCPU's view when the guest said PH_DONE */
    vmic_view_t event_views;  /* OR of the views of memory events */
} seen;

static void record(seen *s, const vmic_event_t *ev, int *count)
{
    if (*count == 0)
        s->first = *ev;
    s->last = *ev;
    (*count)++;
}

/* ---- Continue and Deny on a write to a write-protected page ------------------------- */

static vmic_status on_write_trap(vmic_core *core, const vmic_event_t *ev,
                                 vmic_event_response_t *r, void *arg)
{
    seen *s = arg;
    uint32_t ph;

    if (phase_of(ev, &ph))
        return vmic_set_access(core, VMIC_VIEW_DEFAULT, s->g->counter_gfn,
                               ph == PH_START ? VMIC_ACCESS_RX : VMIC_ACCESS_RWX);
    if (ev->kind == VMIC_EVENT_MEMORY_ACCESS) {
        record(s, ev, &s->memory);
        r->action = s->answer;
    }
    return VMIC_OK;
}

static void check_write_event(guest_vm *g, const seen *s, uint64_t value)
{
    uint64_t word_pa = vmic_gfn_to_pa(g->counter_gfn).addr + WORD_OFFSET;
    CHECK_EQ(s->memory, 1);
    CHECK_EQ(s->first.memory.access, VMIC_ACCESS_W);
    CHECK_EQ(s->first.memory.gfn.num, g->counter_gfn.num);
    CHECK_EQ(s->first.memory.pa.addr, word_pa);
    CHECK_EQ(s->first.memory.size, 8);
    CHECK_EQ(s->first.memory.value, value);
    CHECK_EQ(s->first.view, 0);
}

static void test_continue_write(void)
{
    guest_vm g;
    guest_params_t p = {.scenario = SC_CONTINUE_WRITE};
    seen s = {.g = &g, .answer = VMIC_ACTION_CONTINUE};
    uint64_t word;

    CHECK_OK(guest_open(&g, "actions.elf", 1, &p));
    CHECK_OK(watch_phases(&g));
    CHECK_OK(guest_run(&g, on_write_trap, &s));
    CHECK_EQ(guest_exit_code(&g), 0);
    check_write_event(&g, &s, 0x2222222222222222ull);
    if (harness_current_failed)
        return;
    /* Inside: the guest read back what it wrote. Outside: memory has it. */
    CHECK_EQ(guest_report(&g, "seen"), 0x2222222222222222ull);
    CHECK_OK(vmic_read_u64_pa(g.core, vmic_pa(vmic_gfn_to_pa(g.counter_gfn).addr + WORD_OFFSET),
                              &word));
    CHECK_EQ(word, 0x2222222222222222ull);
    guest_close(&g);
}

static void test_deny_write(void)
{
    guest_vm g;
    guest_params_t p = {.scenario = SC_DENY_WRITE};
    seen s = {.g = &g, .answer = VMIC_ACTION_DENY};
    uint64_t word;

    CHECK_OK(guest_open(&g, "actions.elf", 1, &p));
    CHECK_OK(watch_phases(&g));
    CHECK_OK(guest_run(&g, on_write_trap, &s));
    CHECK_EQ(guest_exit_code(&g), 0);
    check_write_event(&g, &s, 0x3333333333333333ull);
    if (harness_current_failed)
        return;
    /* The write was dropped, and the guest went on after the instruction. */
    CHECK_EQ(guest_report(&g, "seen"), COUNTER_WORD_INIT);
    CHECK_EQ(guest_report(&g, "after"), 1);
    CHECK_OK(vmic_read_u64_pa(g.core, vmic_pa(vmic_gfn_to_pa(g.counter_gfn).addr + WORD_OFFSET),
                              &word));
    CHECK_EQ(word, COUNTER_WORD_INIT);
    guest_close(&g);
}

/* ---- ReinjectInterrupt: the guest's own INT3 reaches the guest's own handler ---- */

static vmic_status on_guest_int3(vmic_core *core, const vmic_event_t *ev,
                                 vmic_event_response_t *r, void *arg)
{
    seen *s = arg;
    uint32_t ph;
    vmic_monitor_t int3 = {.kind = VMIC_MONITOR_INTERRUPT, .vector = 3};

    if (phase_of(ev, &ph))
        return ph == PH_START ? vmic_monitor_enable(core, &int3) : vmic_monitor_disable(core, &int3);
    if (ev->kind == VMIC_EVENT_INTERRUPT) {
        record(s, ev, &s->interrupts);
        r->action = VMIC_ACTION_REINJECT_INTERRUPT;
    }
    return VMIC_OK;
}

static void test_reinject_interrupt(void)
{
    guest_vm g;
    guest_params_t p = {.scenario = SC_REINJECT};
    seen s = {.g = &g};

    CHECK_OK(guest_open(&g, "actions.elf", 1, &p));
    CHECK_OK(watch_phases(&g));
    CHECK_OK(guest_run(&g, on_guest_int3, &s));
    CHECK_EQ(guest_exit_code(&g), 0);
    /* vmic saw the INT3 once (the second one, unmonitored, went straight to
     * the guest); the guest's #BP handler counted both and execution went on
     * after each. */
    CHECK_EQ(s.interrupts, 1);
    CHECK_EQ(s.first.interrupt.vector, 3);
    CHECK_EQ(s.first.interrupt.type, VMIC_INTR_SW_EXCEPTION);
    CHECK_EQ(s.first.interrupt.insn_len, 1);
    CHECK_EQ(s.first.regs.rip, sym_va(&g, "bp_target").addr);
    CHECK_EQ(s.first.interrupt.pa.addr, sym_pa(&g, "bp_target").addr);
    CHECK_EQ(guest_report(&g, "bp_hits"), 1);
    CHECK_EQ(guest_report(&g, "returned"), 1);
    CHECK_EQ(guest_report(&g, "bp_hits_total"), 2);
    guest_close(&g);
}

/* ---- Singlestep: stepping lasts exactly as long as the responses ask ------------- */

#define STEPS_WANTED 5

static vmic_status on_step_target(vmic_core *core, const vmic_event_t *ev,
                                  vmic_event_response_t *r, void *arg)
{
    seen *s = arg;
    uint32_t ph;
    vmic_pa_t target = sym_pa(s->g, "step_target");
    vmic_monitor_t int3 = {.kind = VMIC_MONITOR_INTERRUPT, .vector = 3};
    vmic_status st;

    if (phase_of(ev, &ph) && ph == PH_START) {
        if ((st = vmic_monitor_enable(core, &int3)))
            return st;
        return vmic_bp_insert(core, target);
    }
    if (ev->kind == VMIC_EVENT_INTERRUPT && ev->interrupt.pa.addr == target.addr) {
        record(s, ev, &s->interrupts);
        r->action = VMIC_ACTION_SINGLESTEP;
        return vmic_bp_remove(core, target); /* the INT3 byte goes, the step runs mov */
    }
    if (ev->kind == VMIC_EVENT_SINGLESTEP) {
        if (s->steps < 16)
            s->step_rip[s->steps] = ev->regs.rip;
        record(s, ev, &s->steps);
        r->action = s->steps < STEPS_WANTED ? VMIC_ACTION_SINGLESTEP : VMIC_ACTION_CONTINUE;
    }
    return VMIC_OK;
}

static void test_singlestep(void)
{
    guest_vm g;
    guest_params_t p = {.scenario = SC_SINGLESTEP};
    seen s = {.g = &g};

    CHECK_OK(guest_open(&g, "actions.elf", 1, &p));
    CHECK_OK(watch_phases(&g));
    CHECK_OK(guest_run(&g, on_step_target, &s));
    CHECK_EQ(guest_exit_code(&g), 0);
    CHECK_EQ(s.interrupts, 1);
    /* Exactly STEPS_WANTED step events, one per two-byte instruction of
     * step_target, and none once the answer was Continue. */
    CHECK_EQ(s.steps, STEPS_WANTED);
    uint64_t start = sym_va(&g, "step_target").addr;
    for (int i = 0; i < STEPS_WANTED; i++)
        CHECK_MSG(s.step_rip[i] == start + 2 * (uint64_t)(i + 1),
                  "step %d at rip 0x%llx, expected 0x%llx", i,
                  (unsigned long long)s.step_rip[i],
                  (unsigned long long)(start + 2 * (uint64_t)(i + 1)));
    /* Stepping did not disturb the guest: 5 + 8. */
    CHECK_EQ(guest_report(&g, "step_result"), 13);
    guest_close(&g);
}

/* ---- views for FastSinglestep and Emulate: the test's view 1 ---------------------- */

/* At PH_START: make view 1 with the counter page at `access`, and put the
 * vCPU in it by the response. At PH_DONE: note the vCPU's view. */
static vmic_status view_phases(seen *s, vmic_core *core, uint32_t ph, vmic_access_t access,
                               vmic_event_response_t *r)
{
    vmic_status st;
    if (ph == PH_START) {
        if ((st = vmic_create_view(core, &s->test_view)) ||
            (st = vmic_set_access(core, s->test_view, s->g->counter_gfn, access)))
            return st;
        r->set_view = true;
        r->view = s->test_view;
    } else if (ph == PH_DONE) {
        return vmic_vcpu_view(core, 0, &s->view_at_done);
    }
    return VMIC_OK;
}

static vmic_status on_counter_events(vmic_core *core, const vmic_event_t *ev,
                                     vmic_event_response_t *r, void *arg, vmic_access_t access)
{
    seen *s = arg;
    uint32_t ph;

    if (phase_of(ev, &ph))
        return view_phases(s, core, ph, access, r);
    if (ev->kind == VMIC_EVENT_SINGLESTEP)
        record(s, ev, &s->steps);
    if (ev->kind == VMIC_EVENT_MEMORY_ACCESS) {
        record(s, ev, &s->memory);
        s->event_views |= (vmic_view_t)(1u << ev->view);
        r->action = s->answer;
        r->set_view = s->answer_view;
        r->view = s->view;
    }
    return VMIC_OK;
}

static vmic_status on_fast(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *r,
                           void *arg)
{
    return on_counter_events(core, ev, r, arg, VMIC_ACCESS_RW);
}

static void test_fast_singlestep(void)
{
    guest_vm g;
    guest_params_t p = {.scenario = SC_FAST_SINGLESTEP};
    seen s = {.g = &g, .answer = VMIC_ACTION_FAST_SINGLESTEP, .answer_view = true,
              .view = VMIC_VIEW_DEFAULT};

    CHECK_OK(guest_open(&g, "actions.elf", 1, &p));
    CHECK_OK(watch_phases(&g));
    CHECK_OK(guest_run(&g, on_fast, &s));
    CHECK_EQ(guest_exit_code(&g), 0);
    /* counter_fn is two instructions: each fetch trapped in view 1, each ran
     * one step in view 0, and the vCPU came back to view 1 each time with no
     * event for the step. Reads and writes of the page (allowed) were silent. */
    CHECK_EQ(s.memory, 2);
    CHECK_EQ(s.first.memory.access, VMIC_ACCESS_X);
    CHECK_EQ(s.last.memory.access, VMIC_ACCESS_X);
    CHECK_EQ(s.first.memory.va.addr, sym_va(&g, "counter_fn").addr);
    CHECK_EQ(s.last.memory.va.addr, sym_va(&g, "counter_fn").addr + 5);
    CHECK_EQ(s.event_views, 1u << s.test_view);
    CHECK_EQ(s.steps, 0);
    CHECK_EQ(s.view_at_done, s.test_view);
    CHECK_EQ(guest_report(&g, "fn"), COUNTER_FN_RESULT);
    CHECK_EQ(guest_report(&g, "word"), COUNTER_WORD_INIT + 1);
    guest_close(&g);
}

static vmic_status on_emulate(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *r,
                              void *arg)
{
    return on_counter_events(core, ev, r, arg, VMIC_ACCESS_X);
}

static void test_emulate(void)
{
    guest_vm g;
    guest_params_t p = {.scenario = SC_EMULATE};
    seen s = {.g = &g, .answer = VMIC_ACTION_EMULATE};

    CHECK_OK(guest_open(&g, "actions.elf", 1, &p));
    CHECK_OK(watch_phases(&g));
    CHECK_OK(guest_run(&g, on_emulate, &s));
    CHECK_EQ(guest_exit_code(&g), 0);
    /* On an execute-only page: the read, the write and the read back each
     * trapped in view 1 and were completed there; the call (allowed) did not
     * trap; the vCPU never left view 1. */
    CHECK_EQ(s.memory, 3);
    CHECK_EQ(s.first.memory.access, VMIC_ACCESS_R);
    CHECK_EQ(s.last.memory.access, VMIC_ACCESS_R);
    CHECK_EQ(s.event_views, 1u << s.test_view);
    CHECK_EQ(s.view_at_done, s.test_view);
    CHECK_EQ(guest_report(&g, "read"), COUNTER_WORD_INIT);     /* the true bytes */
    CHECK_EQ(guest_report(&g, "word"), 0x4444444444444444ull); /* the write landed */
    CHECK_EQ(guest_report(&g, "fn"), COUNTER_FN_RESULT);
    guest_close(&g);
}

int main(void)
{
    kvm_require_or_skip();
    RUN(test_continue_write);
    RUN(test_deny_write);
    RUN(test_reinject_interrupt);
    RUN(test_singlestep);
    RUN(test_fast_singlestep);
    RUN(test_emulate);
    return HARNESS_RESULT();
}
