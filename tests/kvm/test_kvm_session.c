/*
 * The event session itself on a real KVM VM: timeouts, poll-to-stop, SIGINT
 * (taken through a signalfd, never a handler), cleanup running exactly once
 * however the session ends, and what a paused vCPU's registers say (vmic's
 * boot protocol). Guest: tests/guests/actions.c.
 */
#include <signal.h>

#include "kvm_test.h"

typedef struct session_ctx {
    int timeouts, cleanups, interrupted_by, events;
    bool raise_sigint;
} session_ctx;

static vmic_status count_event(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *r,
                               void *arg)
{
    ((session_ctx *)arg)->events++;
    return VMIC_OK;
}

static void on_timeout(vmic_core *core, void *arg)
{
    session_ctx *c = arg;
    if (++c->timeouts == 2 && c->raise_sigint)
        raise(SIGINT); /* blocked during the session: it goes to the signalfd */
}

static bool stop_after_three(vmic_core *core, void *arg)
{
    return ((session_ctx *)arg)->timeouts >= 3;
}

static void on_interrupted(vmic_core *core, int signo, void *arg)
{
    ((session_ctx *)arg)->interrupted_by = signo;
}

static void cleanup(vmic_core *core, void *arg)
{
    ((session_ctx *)arg)->cleanups++;
}

static void test_timeouts_and_poll_to_stop(void)
{
    guest_vm g;
    guest_params_t p = {.scenario = SC_IO};
    session_ctx c = {0};
    vmic_event_handler_t h = {.on_event = count_event, .on_timeout = on_timeout,
                              .should_stop = stop_after_three, .cleanup = cleanup, .arg = &c};

    /* The guest stays paused: nothing happens but timeouts. */
    CHECK_OK(guest_open(&g, "actions.elf", 1, &p));
    CHECK_OK(watch_phases(&g));
    CHECK_OK(vmic_run_events(g.core, &h, 50));
    CHECK_EQ(c.timeouts, 3);
    CHECK_EQ(c.cleanups, 1);
    CHECK_EQ(c.events, 0);
    guest_close(&g);
}

static void test_sigint_ends_the_session(void)
{
    guest_vm g;
    guest_params_t p = {.scenario = SC_IO};
    session_ctx c = {.raise_sigint = true};
    vmic_event_handler_t h = {.on_event = count_event, .on_timeout = on_timeout,
                              .on_interrupted = on_interrupted, .cleanup = cleanup, .arg = &c};
    sigset_t pending;

    CHECK_OK(guest_open(&g, "actions.elf", 1, &p));
    CHECK_OK(watch_phases(&g));
    vmic_core_take_signals(g.core, true);
    CHECK_ERR(vmic_run_events(g.core, &h, 50), VMIC_E_INTERRUPTED);
    CHECK_EQ(c.interrupted_by, SIGINT);
    CHECK_EQ(c.cleanups, 1);
    CHECK_EQ(c.timeouts, 2);
    /* The signal was consumed, not left pending for the process. */
    sigpending(&pending);
    CHECK(!sigismember(&pending, SIGINT));
    /* The guest was left paused (as the session found it) and nothing of the
     * session's remains: run it to the end with no monitor. */
    vmic_event_handler_t none = {.on_event = count_event, .arg = &c};
    c.events = 0;
    CHECK_OK(vmic_resume(g.core));
    CHECK_OK(vmic_run_events(g.core, &none, 1000));
    CHECK_EQ(guest_exit_code(&g), 0);
    CHECK_EQ(c.events, 0);
    guest_close(&g);
}

static void test_registers_and_pause(void)
{
    guest_vm g;
    guest_params_t p = {.scenario = SC_IO};
    vmic_amd64_regs_t r;
    vmic_guest_state_t st;

    CHECK_OK(guest_open(&g, "actions.elf", 1, &p));
    CHECK_OK(vmic_guest_state(g.core, &st));
    CHECK_EQ(st.state, VMIC_GUEST_PAUSED);
    /* vmic's boot protocol, as the vCPU holds it before the first instruction. */
    CHECK_OK(vmic_get_regs(g.core, 0, &r));
    CHECK_EQ(r.rip, sym_va(&g, "_start").addr);
    CHECK_EQ(r.rdi, 0);
    CHECK_EQ(r.rsi, GUEST_MEM);
    CHECK(r.cr0 & VMIC_CR0_PG);
    CHECK(r.efer & VMIC_EFER_LMA);
    CHECK_EQ(r.cs.selector, 0x08);
    CHECK(r.valid & VMIC_REGS_MSR);
    CHECK(r.valid & VMIC_REGS_DR);
    /* A page-table walk through those registers reaches the image. */
    vmic_pa_t pa;
    CHECK_OK(vmic_translate(g.core, vmic_ctx(vmic_pa(r.cr3)), sym_va(&g, "counter_fn"), &pa));
    CHECK_EQ(pa.addr, sym_pa(&g, "counter_fn").addr);
    CHECK_ERR(vmic_get_regs(g.core, 7, &r), VMIC_E_INVAL);
    CHECK_OK(vmic_resume(g.core));
    CHECK_OK(vmic_kvm_wait(g.drv, 10000));
    CHECK_EQ(guest_exit_code(&g), 0);
    CHECK_OK(vmic_guest_state(g.core, &st));
    CHECK_EQ(st.state, VMIC_GUEST_EXITED);
    guest_close(&g);
}

int main(void)
{
    kvm_require_or_skip();
    RUN(test_timeouts_and_poll_to_stop);
    RUN(test_sigint_ends_the_session);
    RUN(test_registers_and_pause);
    return HARNESS_RESULT();
}
