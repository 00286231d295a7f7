/*
 * The other event sources on a real KVM VM: MSR writes (KVM's MSR filter),
 * exception injection, debug-register breakpoints (stepped over with the
 * slot off, since this KVM ignores RF), port I/O, and a response this KVM
 * cannot honour: the session ends with a clear error, and the guest, left
 * with nothing of vmic's, still finishes. Guest: tests/guests/actions.c.
 */
#include "kvm_test.h"

typedef struct mon_ctx {
    guest_vm *g;
    int msr, interrupts, breakpoints, ios, steps, other, waits;
    vmic_event_t msr_ev[4], io_ev[4];
    vmic_va_t bp_va[4];
} mon_ctx;

/* ---- MSR writes: Continue applies, Deny does not ------------------------------------- */

static vmic_status on_msr(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *r,
                          void *arg)
{
    mon_ctx *c = arg;
    uint32_t ph;
    vmic_monitor_t m = {.kind = VMIC_MONITOR_MSR_WRITE, .msr = TEST_MSR};

    if (phase_of(ev, &ph))
        return ph == PH_START ? vmic_monitor_enable(core, &m) : vmic_monitor_disable(core, &m);
    if (ev->kind != VMIC_EVENT_MSR_WRITE) {
        c->other++;
        return VMIC_OK;
    }
    if (c->msr < 4)
        c->msr_ev[c->msr] = *ev;
    r->action = c->msr++ == 0 ? VMIC_ACTION_CONTINUE : VMIC_ACTION_DENY;
    return VMIC_OK;
}

static void test_msr_write(void)
{
    guest_vm g;
    guest_params_t p = {.scenario = SC_MSR};
    mon_ctx c = {.g = &g};

    CHECK_OK(guest_open(&g, "actions.elf", 1, &p));
    if (!vmic_core_has(g.core, VMIC_CAP_MSR_EVENTS)) {
        fprintf(stderr, "  this KVM has no MSR filter: MSR events not tested\n");
        guest_close(&g);
        return;
    }
    CHECK_OK(watch_phases(&g));
    CHECK_OK(guest_run(&g, on_msr, &c));
    CHECK_EQ(guest_exit_code(&g), 0);
    CHECK_EQ(c.other, 0);
    CHECK_EQ(c.msr, 2);
    CHECK_EQ(c.msr_ev[0].msr.msr, TEST_MSR);
    CHECK_EQ(c.msr_ev[0].msr.value, 0xaaaa0000ull);
    CHECK_EQ(c.msr_ev[1].msr.value, 0xbbbb0000ull);
    /* Inside: the first write took, the denied one did not. */
    CHECK_EQ(guest_report(&g, "msr1"), 0xaaaa0000ull);
    CHECK_EQ(guest_report(&g, "msr2"), 0xaaaa0000ull);
    guest_close(&g);
}

/* ---- injection: the guest's handlers see the vector and the error code ----------------- */

static vmic_status on_inject(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *r,
                             void *arg)
{
    mon_ctx *c = arg;
    uint32_t ph;

    if (!phase_of(ev, &ph) || ph != PH_WAIT)
        return VMIC_OK;
    vmic_injection_t gp = {.vector = 13, .type = VMIC_INTR_HW_EXCEPTION, .has_error_code = true,
                           .error_code = 0x1234};
    vmic_injection_t ud = {.vector = 6, .type = VMIC_INTR_HW_EXCEPTION};
    vmic_injection_t irq = {.vector = 33, .type = VMIC_INTR_EXTERNAL};
    const vmic_injection_t *which[] = {&gp, &ud, &irq};
    return c->waits < 3 ? vmic_inject(core, ev->vcpu, which[c->waits++]) : VMIC_OK;
}

static void test_inject(void)
{
    guest_vm g;
    guest_params_t p = {.scenario = SC_INJECT};
    mon_ctx c = {.g = &g};
    vmic_injection_t ud = {.vector = 6, .type = VMIC_INTR_HW_EXCEPTION};

    CHECK_OK(guest_open(&g, "actions.elf", 1, &p));
    CHECK_OK(watch_phases(&g));
    CHECK_OK(guest_run(&g, on_inject, &c));
    CHECK_EQ(guest_exit_code(&g), 0);
    CHECK_EQ(c.waits, 3);
    CHECK_EQ(guest_report(&g, "gp"), 1);
    CHECK_EQ(guest_report(&g, "gp_error"), 0x1234);
    CHECK_EQ(guest_report(&g, "ud"), 1);
    CHECK_EQ(guest_report(&g, "irq33"), 1);
    /* Only into a stopped vCPU, and only real exception vectors. */
    ud.vector = 40;
    CHECK_ERR(vmic_inject(g.core, 0, &ud), VMIC_E_INVAL);
    guest_close(&g);
}

/* ---- debug-register breakpoints: every call caught, every call completed -------------- */

static vmic_status on_hw_bp(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *r,
                            void *arg)
{
    mon_ctx *c = arg;
    uint32_t ph;
    vmic_va_t target = sym_va(c->g, "hw_target");

    if (phase_of(ev, &ph))
        return ph == PH_START ? vmic_hw_breakpoint_set(core, target)
                              : vmic_hw_breakpoint_clear(core, target);
    if (ev->kind == VMIC_EVENT_BREAKPOINT) {
        if (c->breakpoints < 4)
            c->bp_va[c->breakpoints] = vmic_va(ev->regs.rip);
        if (++c->breakpoints > 10)
            return vmic_fail(VMIC_E_INTERNAL, "breakpoint not stepped over: hit again and again");
        r->action = VMIC_ACTION_CONTINUE;
    } else {
        c->other++;
    }
    return VMIC_OK;
}

static void test_hw_breakpoint(void)
{
    guest_vm g;
    guest_params_t p = {.scenario = SC_HW_BREAKPOINT};
    mon_ctx c = {.g = &g};

    CHECK_OK(guest_open(&g, "actions.elf", 1, &p));
    CHECK_OK(watch_phases(&g));
    CHECK_OK(guest_run(&g, on_hw_bp, &c));
    CHECK_EQ(guest_exit_code(&g), 0);
    CHECK_EQ(c.other, 0);
    CHECK_EQ(c.breakpoints, 3);
    CHECK_EQ(c.bp_va[0].addr, sym_va(&g, "hw_target").addr);
    CHECK_EQ(c.bp_va[2].addr, sym_va(&g, "hw_target").addr);
    CHECK_EQ(guest_report(&g, "hw_sum"), 11 + 12 + 13);
    guest_close(&g);
}

/* ---- port I/O: OUT reported with its value; IN Continue vs Deny -------------------------- */

static vmic_status on_io(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *r,
                         void *arg)
{
    mon_ctx *c = arg;
    uint32_t ph;
    vmic_monitor_t tick = {.kind = VMIC_MONITOR_IO, .ports = {GUEST_PORT_TICK, GUEST_PORT_TICK}};

    if (phase_of(ev, &ph))
        return ph == PH_START ? vmic_monitor_enable(core, &tick) : vmic_monitor_disable(core, &tick);
    if (ev->kind != VMIC_EVENT_IO) {
        c->other++;
        return VMIC_OK;
    }
    if (c->ios < 4)
        c->io_ev[c->ios] = *ev;
    /* OUT: Continue; first IN: Continue (no device: all ones); second IN: Deny. */
    r->action = c->ios++ == 2 ? VMIC_ACTION_DENY : VMIC_ACTION_CONTINUE;
    return VMIC_OK;
}

static void test_port_io(void)
{
    guest_vm g;
    guest_params_t p = {.scenario = SC_IO};
    mon_ctx c = {.g = &g};

    CHECK_OK(guest_open(&g, "actions.elf", 1, &p));
    CHECK_OK(watch_phases(&g));
    CHECK_OK(guest_run(&g, on_io, &c));
    CHECK_EQ(guest_exit_code(&g), 0);
    CHECK_EQ(c.ios, 3);
    CHECK(c.io_ev[0].io.out);
    CHECK_EQ(c.io_ev[0].io.port, GUEST_PORT_TICK);
    CHECK_EQ(c.io_ev[0].io.size, 4);
    CHECK_EQ(c.io_ev[0].io.value, 0x55);
    CHECK(!c.io_ev[1].io.out);
    CHECK_EQ(guest_report(&g, "in"), 0xffffffffu);
    CHECK_EQ(guest_report(&g, "in_denied"), 0x77);
    guest_close(&g);
}

/* ---- a response this KVM cannot honour ---------------------------------------------------- */

static vmic_status on_deny_int3(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *r,
                                void *arg)
{
    mon_ctx *c = arg;
    uint32_t ph;
    vmic_monitor_t int3 = {.kind = VMIC_MONITOR_INTERRUPT, .vector = 3};

    if (phase_of(ev, &ph) && ph == PH_START)
        return vmic_monitor_enable(core, &int3);
    if (ev->kind == VMIC_EVENT_INTERRUPT) {
        c->interrupts++;
        r->action = VMIC_ACTION_DENY;
    }
    return VMIC_OK;
}

static void test_unsupported_response(void)
{
    guest_vm g;
    guest_params_t p = {.scenario = SC_REINJECT};
    mon_ctx c = {.g = &g};
    vmic_monitor_t int5 = {.kind = VMIC_MONITOR_INTERRUPT, .vector = 5};

    CHECK_OK(guest_open(&g, "actions.elf", 1, &p));
    CHECK_ERR(vmic_monitor_enable(g.core, &int5), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("vector 3");
    CHECK_OK(watch_phases(&g));
    CHECK_ERR(guest_run(&g, on_deny_int3, &c), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("Deny cannot answer this INT3 event");
    CHECK_EQ(c.interrupts, 1);
    /* The session undid the INT3 monitor: the guest's own INT3s now reach its
     * handler, and it finishes. */
    CHECK_EQ(guest_exit_code(&g), 0);
    CHECK_EQ(guest_report(&g, "bp_hits_total"), 2);
    guest_close(&g);
}

int main(void)
{
    kvm_require_or_skip();
    RUN(test_msr_write);
    RUN(test_inject);
    RUN(test_hw_breakpoint);
    RUN(test_port_io);
    RUN(test_unsupported_response);
    return HARNESS_RESULT();
}
