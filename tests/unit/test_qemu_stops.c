/*
 * The qemu driver's event decisions that need no QEMU: why a stop reply
 * stopped the VM, judged against what vmic asked for (including QEMU 7.2's
 * stale watchpoint hits, which name a watchpoint vmic no longer has in), and
 * which responses the gdb protocol cannot carry out. The live counterpart is
 * tests/qemu/test_qemu_events.c.
 */
#include <stdlib.h>

#include "drivers/qemu/qemu.h"
#include "harness.h"

#define JIFFIES 0xffffffff868079c0ull

static qemu_driver_t q;
static uint32_t threads[2] = {1, 2};
static qemu_point_t points[4];

static void setup(void)
{
    memset(&q, 0, sizeof q);
    q.threads = threads;
    q.nthreads = 2;
    q.points = points;
    q.points_cap = 4;
    q.info.source = "qemu:test";
}

static stop_reason reason(const char *reply, int *vcpu)
{
    gdb_stop_t stop;
    if (gdb_parse_stop(reply, strlen(reply), &stop) != VMIC_OK)
        return (stop_reason)-1;
    return qemu_stop_reason(&q, &stop, vcpu);
}

static void test_stop_reasons(void)
{
    int vcpu;
    setup();
    points[0] = (qemu_point_t){.type = GDB_POINT_WRITE_WATCH, .va = JIFFIES, .len = 8};
    q.npoints = 1;

    CHECK_EQ(reason("T05thread:02;watch:ffffffff868079c0;", &vcpu), STOP_WATCH);
    CHECK_EQ(vcpu, 1);
    CHECK_EQ(reason("T05thread:p01.01;", &vcpu), STOP_TRAP);
    CHECK_EQ(vcpu, 0);
    CHECK_EQ(reason("T02thread:01;", &vcpu), STOP_PAUSED);
    CHECK_EQ(reason("W00", &vcpu), STOP_EXITED);
    CHECK_EQ(reason("X09", &vcpu), STOP_EXITED);
    CHECK_EQ(reason("T05thread:07;", &vcpu), STOP_UNKNOWN);
    CHECK_EQ(reason("S05", &vcpu), STOP_UNKNOWN);

    /* A hit QEMU kept on a vCPU from an earlier stop names a watchpoint
     * that is not in, or not of that kind, or elsewhere: not a watchpoint
     * event, the stop is judged as any SIGTRAP. */
    CHECK_EQ(reason("T05thread:01;awatch:ffffffff868079c0;", &vcpu), STOP_TRAP);
    CHECK_EQ(reason("T05thread:01;watch:ffffffff868079c8;", &vcpu), STOP_TRAP);
    q.npoints = 0;
    CHECK_EQ(reason("T05thread:01;watch:ffffffff868079c0;", &vcpu), STOP_TRAP);

    /* Steps: the stepped vCPU's SIGTRAP completes it, silent or not. */
    q.ev.stepping = true;
    q.ev.step_vcpu = 1;
    CHECK_EQ(reason("T05thread:02;", &vcpu), STOP_STEPPED);
    CHECK_EQ(reason("T05thread:02;watch:ffffffff868079c0;", &vcpu), STOP_STEPPED);
    CHECK_EQ(reason("T05thread:01;", &vcpu), STOP_TRAP);
    CHECK_EQ(reason("T02thread:02;", &vcpu), STOP_PAUSED);
    q.ev.step_silent = true;
    CHECK_EQ(reason("T05thread:02;", &vcpu), STOP_STEPPED_SILENTLY);
    /* A watchpoint vmic has in wins over the step it completed. */
    q.npoints = 1;
    CHECK_EQ(reason("T05thread:02;watch:ffffffff868079c0;", &vcpu), STOP_WATCH);
}

static vmic_status answer(vmic_event_kind kind, vmic_access_t access, vmic_action a)
{
    vmic_event_t ev = {.kind = kind};
    if (kind == VMIC_EVENT_MEMORY_ACCESS)
        ev.memory.access = access;
    vmic_event_response_t r = {.action = a};
    return qemu_check_response(&q.base, &ev, &r);
}

static void test_responses(void)
{
    setup();
    static const vmic_event_kind kinds[] = {VMIC_EVENT_BREAKPOINT, VMIC_EVENT_SINGLESTEP,
                                            VMIC_EVENT_MEMORY_ACCESS};
    for (size_t k = 0; k < 3; k++) {
        CHECK_OK(answer(kinds[k], VMIC_ACCESS_W, VMIC_ACTION_CONTINUE));
        CHECK_OK(answer(kinds[k], VMIC_ACCESS_W, VMIC_ACTION_SINGLESTEP));
        CHECK_OK(answer(kinds[k], VMIC_ACCESS_W, VMIC_ACTION_FAST_SINGLESTEP));
        CHECK_ERR(answer(kinds[k], VMIC_ACCESS_W, VMIC_ACTION_DENY), VMIC_E_UNSUPPORTED);
        CHECK_ERR(answer(kinds[k], VMIC_ACCESS_W, VMIC_ACTION_EMULATE), VMIC_E_UNSUPPORTED);
        CHECK_ERR(answer(kinds[k], VMIC_ACCESS_W, VMIC_ACTION_REINJECT_INTERRUPT),
                  VMIC_E_UNSUPPORTED);
        CHECK_ERRMSG("no guest interrupt to reinject");
    }
    CHECK_ERR(answer(VMIC_EVENT_MEMORY_ACCESS, VMIC_ACCESS_W, VMIC_ACTION_DENY),
              VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("the write is in memory already");
    CHECK_ERR(answer(VMIC_EVENT_MSR_WRITE, 0, VMIC_ACTION_CONTINUE), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("only breakpoint, watchpoint and single-step events");
    CHECK_ERR(answer(VMIC_EVENT_BREAKPOINT, 0, (vmic_action)42), VMIC_E_INVAL);

    /* A gdbstub event stays in view 0 (views are the plugin's); registers
     * only as the layout can load them (this test's empty layout: none). */
    vmic_event_t ev = {.kind = VMIC_EVENT_BREAKPOINT};
    vmic_event_response_t r = {.action = VMIC_ACTION_CONTINUE, .set_view = true, .view = 0};
    CHECK_OK(qemu_check_response(&q.base, &ev, &r));
    r.view = 2;
    CHECK_ERR(qemu_check_response(&q.base, &ev, &r), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("an event of the gdbstub cannot switch views");
    r = (vmic_event_response_t){.action = VMIC_ACTION_CONTINUE, .set_regs = true};
    r.regs.valid = VMIC_REGS_GPR;
    CHECK_ERR(qemu_check_response(&q.base, &ev, &r), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("can load the register groups");
}

static void test_monitors_and_injection(void)
{
    setup();
    vmic_monitor_t m = {.kind = VMIC_MONITOR_IO};
    CHECK_ERR(qemu_monitor(&q.base, &m, true), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("qemu:test: the gdb protocol has no port I/O events");
    m.kind = (vmic_monitor_kind)99;
    CHECK_ERR(qemu_monitor(&q.base, &m, true), VMIC_E_INVAL);
    vmic_injection_t inj = {.vector = 14};
    CHECK_ERR(qemu_inject(&q.base, 1, &inj), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("injecting vector 14 into vCPU 1");
}

/* Views through the plugin (views.c), with no plugin attached: the pages go
 * to it at the next apply, which this test does not reach. */
static void test_plugin_views(void)
{
    setup();
    qemu_plugin_events_init(&q);
    q.info.vcpu_count = 2;
    q.info.max_pa = vmic_pa(0x100000);
    vmic_view_t v, got;
    vmic_access_t a;
    CHECK_OK(qemu_create_view(&q.base, &v));
    CHECK_EQ(v, 1);
    CHECK_ERR(qemu_set_access(&q.base, v, vmic_gfn(3), VMIC_ACCESS_RX), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("a page can only lose X here");
    CHECK_ERR(qemu_set_access(&q.base, v, vmic_gfn(0x100), VMIC_ACCESS_RW), VMIC_E_UNMAPPED);
    CHECK_ERR(qemu_set_access(&q.base, 9, vmic_gfn(3), VMIC_ACCESS_RW), VMIC_E_NOTFOUND);
    CHECK_OK(qemu_set_access(&q.base, v, vmic_gfn(3), VMIC_ACCESS_RW));
    CHECK_OK(qemu_get_access(&q.base, v, vmic_gfn(3), &a));
    CHECK_EQ(a, VMIC_ACCESS_RW);
    CHECK_OK(qemu_get_access(&q.base, 0, vmic_gfn(3), &a));
    CHECK_EQ(a, VMIC_ACCESS_RWX);
    CHECK(q.pl.nnx == 1 && q.pl.dirty);
    CHECK_OK(qemu_switch_view(&q.base, v));
    CHECK_OK(qemu_vcpu_view(&q.base, 1, &got));
    CHECK_EQ(got, v);
    CHECK_ERR(qemu_vcpu_view(&q.base, 2, &got), VMIC_E_INVAL);

    /* A fetch event of the plugin: the instruction runs whatever the
     * answer, so Continue and FastSinglestep, into any view that exists. */
    vmic_event_t ev = {.kind = VMIC_EVENT_MEMORY_ACCESS, .flags = VMIC_EVENT_NO_REGS, .view = v};
    vmic_event_response_t r = {.action = VMIC_ACTION_FAST_SINGLESTEP, .set_view = true};
    CHECK_OK(qemu_check_response(&q.base, &ev, &r));
    r.action = VMIC_ACTION_CONTINUE;
    r.view = v;
    CHECK_OK(qemu_check_response(&q.base, &ev, &r));
    r.view = 7;
    CHECK_ERR(qemu_check_response(&q.base, &ev, &r), VMIC_E_NOTFOUND);
    CHECK_ERRMSG("view 7, which does not exist");
    r = (vmic_event_response_t){.action = VMIC_ACTION_SINGLESTEP};
    CHECK_ERR(qemu_check_response(&q.base, &ev, &r), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("cannot answer an execute fault");
    r.action = VMIC_ACTION_EMULATE;
    CHECK_ERR(qemu_check_response(&q.base, &ev, &r), VMIC_E_UNSUPPORTED);
    r.action = VMIC_ACTION_DENY;
    CHECK_ERR(qemu_check_response(&q.base, &ev, &r), VMIC_E_UNSUPPORTED);

    /* Destroying the view puts its vCPUs back in view 0 and its pages go. */
    CHECK_ERR(qemu_destroy_view(&q.base, 0), VMIC_E_INVAL);
    CHECK_OK(qemu_destroy_view(&q.base, v));
    CHECK_OK(qemu_vcpu_view(&q.base, 0, &got));
    CHECK_EQ(got, 0);
    CHECK_EQ(q.pl.nnx, 0);
    CHECK_ERR(qemu_switch_view(&q.base, v), VMIC_E_NOTFOUND);
    for (int i = 1; i < (int)VMIC_PLUGIN_MAX_VIEWS; i++)
        CHECK_OK(qemu_create_view(&q.base, &v));
    CHECK_ERR(qemu_create_view(&q.base, &v), VMIC_E_RANGE);
    pthread_mutex_destroy(&q.pl.lock);
}

int main(void)
{
    RUN(test_stop_reasons);
    RUN(test_responses);
    RUN(test_plugin_views);
    RUN(test_monitors_and_injection);
    return HARNESS_RESULT();
}
