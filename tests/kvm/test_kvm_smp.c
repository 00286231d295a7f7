/*
 * Two vCPUs, 10,000 events: each vCPU runs rounds of its own INT3 (answered
 * ReinjectInterrupt, counted by its #BP handler), an OUT to the tick port
 * (Continue) and a write to its word on a write-protected page (Continue,
 * so the write lands). vmic counts what it was told per vCPU, the guest
 * counts what happened; the two must agree exactly -- nothing lost, nothing
 * doubled, no deadlock. Meanwhile the handler keeps changing the slot layout
 * (an unrelated page's access, every 97 events), which stops every vCPU for
 * each slot change. Guest: tests/guests/smp.c.
 */
#include "kvm_test.h"

#define CPUS 2
#define ROUNDS 1667                    /* 3 events each: 10,002 events */
#define TOGGLE_EVERY 97

typedef struct smp_ctx {
    guest_vm *g;
    uint64_t int3[CPUS], ticks[CPUS], writes[CPUS], other;
    uint64_t events, toggles;
    uint64_t last_tick[CPUS];
    bool tick_order_ok;
    bool toggled;
} smp_ctx;

static vmic_status toggle_layout(smp_ctx *c, vmic_core *core)
{
    c->toggled = !c->toggled;
    c->toggles++;
    return vmic_set_access(core, VMIC_VIEW_DEFAULT, c->g->shadow_gfn,
                           c->toggled ? VMIC_ACCESS_RX : VMIC_ACCESS_RWX);
}

static vmic_status on_smp(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *r,
                          void *arg)
{
    smp_ctx *c = arg;
    uint32_t ph;
    unsigned cpu = ev->vcpu;
    vmic_status s;

    if (phase_of(ev, &ph)) {
        if (ph != PH_START)
            return VMIC_OK;
        /* The first vCPU to start arms everything (the other may already run). */
        vmic_monitor_t int3 = {.kind = VMIC_MONITOR_INTERRUPT, .vector = 3};
        vmic_monitor_t tick = {.kind = VMIC_MONITOR_IO, .ports = {GUEST_PORT_TICK, GUEST_PORT_TICK}};
        if ((s = vmic_monitor_enable(core, &int3)) || (s = vmic_monitor_enable(core, &tick)))
            return s;
        return vmic_set_access(core, VMIC_VIEW_DEFAULT, c->g->counter_gfn, VMIC_ACCESS_RX);
    }
    if (cpu >= CPUS) {
        c->other++;
        return VMIC_OK;
    }
    c->events++;
    switch (ev->kind) {
    case VMIC_EVENT_INTERRUPT:
        c->int3[cpu]++;
        r->action = VMIC_ACTION_REINJECT_INTERRUPT;
        break;
    case VMIC_EVENT_IO:
        if (ev->io.value != c->last_tick[cpu] + (c->ticks[cpu] ? 1 : 0))
            c->tick_order_ok = false;
        c->last_tick[cpu] = ev->io.value;
        c->ticks[cpu]++;
        break;
    case VMIC_EVENT_MEMORY_ACCESS:
        if (ev->memory.access == VMIC_ACCESS_W && ev->memory.gfn.num == c->g->counter_gfn.num)
            c->writes[cpu]++;
        else
            c->other++;
        break;
    default:
        c->other++;
    }
    if (c->events % TOGGLE_EVERY == 0)
        return toggle_layout(c, core);
    return VMIC_OK;
}

static void test_two_vcpus_10000_events(void)
{
    guest_vm g;
    guest_params_t p = {.iterations = ROUNDS, .cpus = CPUS};
    smp_ctx c = {.g = &g, .tick_order_ok = true};
    char name[32];

    CHECK_OK(guest_open(&g, "smp.elf", CPUS, &p));
    CHECK_OK(watch_phases(&g));
    CHECK_OK(guest_run(&g, on_smp, &c));
    CHECK_EQ(guest_exit_code(&g), 0);
    CHECK_EQ(c.other, 0);
    CHECK(c.tick_order_ok);
    CHECK(c.toggles > 50);
    CHECK_EQ(c.events, 3ull * ROUNDS * CPUS);
    for (unsigned cpu = 0; cpu < CPUS; cpu++) {
        /* vmic's count, the guest's count and the expected count agree. */
        CHECK_EQ(c.int3[cpu], ROUNDS);
        CHECK_EQ(c.ticks[cpu], ROUNDS);
        CHECK_EQ(c.writes[cpu], ROUNDS);
        snprintf(name, sizeof name, "cpu%u.bp", cpu);
        CHECK_EQ(guest_report(&g, name), ROUNDS);
        snprintf(name, sizeof name, "cpu%u.words", cpu);
        CHECK_EQ(guest_report(&g, name), ROUNDS);
    }
    guest_close(&g);
}

/* ---- two vCPUs in two views at once ---------------------------------------------- */

#define CALLS 300

typedef struct views_ctx {
    guest_vm *g;
    vmic_view_t view;
    bool made;
    uint64_t fetches[CPUS], other;
    uint64_t outside_view1;        /* fetch events not in view 1 */
} views_ctx;

static vmic_status on_two_views(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *r,
                                void *arg)
{
    views_ctx *c = arg;
    uint32_t ph;
    vmic_status s;

    if (phase_of(ev, &ph)) {
        if (ph != PH_START)
            return VMIC_OK;
        if (!c->made) {
            c->made = true;
            if ((s = vmic_create_view(core, &c->view)) ||
                (s = vmic_set_access(core, c->view, c->g->counter_gfn, VMIC_ACCESS_RW)))
                return s;
        }
        /* vCPU 0 into view 1 (no X on the counter page); vCPU 1 stays in 0. */
        if (ev->vcpu == 0) {
            r->set_view = true;
            r->view = c->view;
        }
        return VMIC_OK;
    }
    if (ev->kind == VMIC_EVENT_MEMORY_ACCESS && ev->vcpu < CPUS &&
        ev->memory.access == VMIC_ACCESS_X) {
        c->fetches[ev->vcpu]++;
        if (ev->view != c->view)
            c->outside_view1++;
        r->action = VMIC_ACTION_FAST_SINGLESTEP;
        r->set_view = true;
        r->view = VMIC_VIEW_DEFAULT;
    } else {
        c->other++;
    }
    return VMIC_OK;
}

static void test_two_vcpus_two_views(void)
{
    guest_vm g;
    guest_params_t p = {.scenario = 1, .iterations = CALLS, .cpus = CPUS};
    views_ctx c = {.g = &g};

    CHECK_OK(guest_open(&g, "smp.elf", CPUS, &p));
    CHECK_OK(watch_phases(&g));
    CHECK_OK(guest_run(&g, on_two_views, &c));
    CHECK_EQ(guest_exit_code(&g), 0);
    CHECK_EQ(c.other, 0);
    /* The slots can only be the most restrictive of the two views, yet only
     * vCPU 0, whose view forbids it, saw events: each fetch of counter_fn's
     * two instructions, every one in view 1. vCPU 1's fetches, allowed by
     * its view, were run silently. Both got the right result every time. */
    CHECK_EQ(c.fetches[0], 2 * CALLS);
    CHECK_EQ(c.fetches[1], 0);
    CHECK_EQ(c.outside_view1, 0);
    CHECK_EQ(guest_report(&g, "cpu0.calls"), CALLS);
    CHECK_EQ(guest_report(&g, "cpu1.calls"), CALLS);
    guest_close(&g);
}

int main(void)
{
    kvm_require_or_skip();
    RUN(test_two_vcpus_10000_events);
    RUN(test_two_vcpus_two_views);
    return HARNESS_RESULT();
}
