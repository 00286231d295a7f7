/*
 * The mock driver's own contract (tests/mock/vmic_mock.h), which the other
 * mock tests rely on: how each action of a response moves the scripted
 * guest on, what the driver refuses, views and spare gfns, injected faults.
 */
#include "mock_vm.h"

typedef struct script {
    vmic_event_response_t answers[8];   /* the handler's response to event i */
    size_t n;
    vmic_status guest_status;
    uint64_t loaded;
    vmic_amd64_regs_t regs_after;
    void (*steps)(vmic_mock *m, struct script *s);
} script;

static vmic_status answer(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *resp,
                          void *arg)
{
    script *s = arg;
    if (s->n < 8)
        *resp = s->answers[s->n];
    s->n++;
    return VMIC_OK;
}

static void guest(vmic_mock *m, void *arg)
{
    script *s = arg;
    s->steps(m, s);
    vmic_mock_get_regs(m, 0, &s->regs_after);
}

static vmic_status play(mock_vm *vm, script *s)
{
    vmic_event_handler_t h = {.on_event = answer, .arg = s};
    vmic_mock_set_guest(vm->mock, guest, s);
    return vmic_run_events(vm->core, &h, 0);
}

static uint64_t u64_at(mock_vm *vm, uint64_t pa)
{
    uint64_t v;
    memcpy(&v, vm->mem + pa, 8);
    return v;
}

static void store_data(vmic_mock *m, script *s)
{
    STEP(s, vmic_mock_store(m, 0, vmic_va(CODE_VA), vmic_va(DATA_VA + 8), 8, 0xabcd));
}

/* Continue lets a forbidden store proceed; Deny drops it (RIP moves on);
 * Emulate completes it in place. */
static void test_actions_on_a_store(void)
{
    static const vmic_action actions[] = {VMIC_ACTION_CONTINUE, VMIC_ACTION_DENY,
                                          VMIC_ACTION_EMULATE};
    static const uint64_t landed[] = {0xabcd, 0, 0xabcd};
    for (size_t k = 0; k < 3; k++) {
        mock_vm vm;
        script s = {.steps = store_data};
        const vmic_mock_record_t *rec;
        s.answers[0].action = actions[k];
        CHECK_OK(mock_vm_open(&vm, NULL));
        CHECK_OK(vmic_set_access(vm.core, 0, vmic_gfn(DATA_PA >> 12), VMIC_ACCESS_RX));
        CHECK_OK(play(&vm, &s));
        CHECK_GUEST(s.guest_status);
        CHECK_EQ(vmic_mock_records(vm.mock, &rec), 1);
        CHECK_EQ(rec[0].event.kind, VMIC_EVENT_MEMORY_ACCESS);
        CHECK_EQ(rec[0].event.memory.access, VMIC_ACCESS_W);
        CHECK_EQ(rec[0].event.memory.pa.addr, DATA_PA + 8);
        CHECK_EQ(rec[0].event.memory.va.addr, DATA_VA + 8);
        CHECK_EQ(rec[0].event.memory.size, 8);
        CHECK_EQ(rec[0].event.memory.value, 0xabcd);
        CHECK_EQ(rec[0].event.regs.rip, CODE_VA);
        CHECK_EQ(rec[0].response.action, actions[k]);
        CHECK_EQ(u64_at(&vm, DATA_PA + 8), landed[k]);
        CHECK_EQ(s.regs_after.rip, CODE_VA + 1);
        vmic_mock_stats_t st = vmic_mock_stats(vm.mock);
        CHECK_EQ(st.denied, k == 1);
        CHECK_EQ(st.emulated, k == 2);
        mock_vm_close(&vm);
    }
}

/* Continue into another view: the store proceeds there, where the data
 * page is remapped to a spare page. */
static void test_continue_in_a_view(void)
{
    mock_vm vm;
    script s = {.steps = store_data};
    vmic_view_t view;
    vmic_gfn_t spare;

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(vmic_create_view(vm.core, &view));
    CHECK_OK(vmic_alloc_gfn(vm.core, &spare));
    CHECK_EQ(spare.num, MOCK_RAM / VMIC_PAGE_SIZE);
    CHECK_OK(vmic_remap_gfn(vm.core, view, vmic_gfn(DATA_PA >> 12), spare));
    CHECK_OK(vmic_set_access(vm.core, 0, vmic_gfn(DATA_PA >> 12), VMIC_ACCESS_RX));
    s.answers[0] = (vmic_event_response_t){.action = VMIC_ACTION_CONTINUE, .set_view = true,
                                           .view = view};
    CHECK_OK(play(&vm, &s));
    CHECK_GUEST(s.guest_status);
    CHECK_EQ(u64_at(&vm, DATA_PA + 8), 0);
    CHECK_EQ(u64_at(&vm, (spare.num << 12) + 8), 0xabcd);
    mock_vm_close(&vm);
}

static void two_stores(vmic_mock *m, script *s)
{
    STEP(s, vmic_mock_store(m, 0, vmic_va(CODE_VA), vmic_va(DATA_VA), 1, 1));
    STEP(s, vmic_mock_store(m, 0, vmic_va(CODE_VA + 1), vmic_va(DATA_VA + 1), 1, 2));
}

/* Singlestep: the instruction, then an event at the next one; answered
 * Singlestep again, the one after that too, even if it stops on the way (a
 * step asked for stays asked for). */
static void test_singlestep_chain(void)
{
    mock_vm vm;
    script s = {.steps = two_stores};
    const vmic_mock_record_t *rec;

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(vmic_set_access(vm.core, 0, vmic_gfn(DATA_PA >> 12), VMIC_ACCESS_RX));
    s.answers[0].action = VMIC_ACTION_SINGLESTEP;  /* the first store */
    s.answers[1].action = VMIC_ACTION_SINGLESTEP;  /* its step: step once more */
    s.answers[2].action = VMIC_ACTION_CONTINUE;    /* the second store */
    CHECK_OK(play(&vm, &s));
    CHECK_GUEST(s.guest_status);
    size_t n = vmic_mock_records(vm.mock, &rec);
    CHECK_EQ(n, 4);
    CHECK_EQ(rec[1].event.kind, VMIC_EVENT_SINGLESTEP);
    CHECK_EQ(rec[1].event.regs.rip, CODE_VA + 1);
    CHECK_EQ(rec[1].event.singlestep.pa.addr, PAGE_A + 1);
    CHECK_EQ(rec[2].event.kind, VMIC_EVENT_MEMORY_ACCESS);
    CHECK_EQ(rec[3].event.kind, VMIC_EVENT_SINGLESTEP); /* the step asked at rec[1] */
    CHECK_EQ(rec[3].event.regs.rip, CODE_VA + 2);
    CHECK_EQ(vm.mem[DATA_PA], 1);
    CHECK_EQ(vm.mem[DATA_PA + 1], 2);
    mock_vm_close(&vm);
}

static void exec_foreign(vmic_mock *m, script *s)
{
    STEP(s, vmic_mock_exec(m, 0, vmic_va(FOREIGN_VA + 0x10)));
}

/* An INT3: without the monitor the guest's handler takes it, no event;
 * with it, Continue runs it again until the mock calls the vCPU stuck. */
static void test_int3(void)
{
    mock_vm vm;
    script s = {.steps = exec_foreign};
    vmic_monitor_t int3 = {.kind = VMIC_MONITOR_INTERRUPT, .vector = 3};

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(play(&vm, &s));
    CHECK_GUEST(s.guest_status);
    CHECK_EQ(vmic_mock_records(vm.mock, NULL), 0);
    CHECK_EQ(vmic_mock_stats(vm.mock).guest_int3s, 1);

    script again = {.steps = exec_foreign};
    CHECK_OK(vmic_monitor_enable(vm.core, &int3));
    CHECK_OK(play(&vm, &again));
    CHECK_EQ(again.guest_status, VMIC_E_TIMEOUT);
    CHECK(strstr(guest_errmsg, "stuck at va 0x203010") != NULL);
    CHECK_EQ(vmic_mock_records(vm.mock, NULL), 5);
    /* The session's end turned the monitor off. */
    CHECK(!vmic_mock_stats(vm.mock).int3_monitor);
    mock_vm_close(&vm);
}

/* A response the driver cannot apply ends the session with its reason. */
static void test_refused_response(void)
{
    mock_vm vm;
    script s = {.steps = store_data};

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(vmic_set_access(vm.core, 0, vmic_gfn(DATA_PA >> 12), VMIC_ACCESS_RX));
    s.answers[0].action = VMIC_ACTION_REINJECT_INTERRUPT;
    CHECK_ERR(play(&vm, &s), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("ReinjectInterrupt answers an interrupt");
    /* The session's end gave the page its access back. */
    CHECK_STR(mock_residue(&vm), "");
    mock_vm_close(&vm);
}

static void test_views_and_gfns(void)
{
    mock_vm vm;
    vmic_view_t a, b, v;
    vmic_gfn_t g[16], extra;

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(vmic_create_view(vm.core, &a));
    CHECK_OK(vmic_create_view(vm.core, &b));
    CHECK_EQ(a, 1);
    CHECK_EQ(b, 2);
    CHECK_OK(vmic_switch_view(vm.core, b));
    CHECK_OK(vmic_vcpu_view(vm.core, 0, &v));
    CHECK_EQ(v, b);
    CHECK_OK(vmic_destroy_view(vm.core, b));   /* its vCPUs go to view 0 */
    CHECK_EQ(vmic_mock_vcpu_view(vm.mock, 0), 0);
    CHECK_ERR(vmic_destroy_view(vm.core, b), VMIC_E_NOTFOUND);
    CHECK_ERR(vmic_destroy_view(vm.core, 0), VMIC_E_INVAL);
    CHECK_ERR(vmic_set_access(vm.core, b, vmic_gfn(1), VMIC_ACCESS_R), VMIC_E_NOTFOUND);
    vmic_access_t acc;
    CHECK_ERR(vmic_get_access(vm.core, 0, vmic_gfn(1u << 20), &acc), VMIC_E_UNMAPPED);
    /* Spare gfns: 16 by default, zeroed, remapped to only when allocated. */
    for (size_t i = 0; i < 16; i++)
        CHECK_OK(vmic_alloc_gfn(vm.core, &g[i]));
    CHECK_ERR(vmic_alloc_gfn(vm.core, &extra), VMIC_E_NOMEM);
    CHECK_OK(vmic_free_gfn(vm.core, g[3]));
    CHECK_ERR(vmic_free_gfn(vm.core, g[3]), VMIC_E_NOTFOUND);
    CHECK_ERR(vmic_remap_gfn(vm.core, a, vmic_gfn(0x10), g[3]), VMIC_E_INVAL);
    CHECK_OK(vmic_remap_gfn(vm.core, a, vmic_gfn(0x10), g[4]));
    CHECK_EQ(vmic_mock_stats(vm.mock).spare_in_use, 15);
    /* The session end undoes views, not allocations: a leak stays visible. */
    CHECK_OK(vmic_switch_view(vm.core, a));
    mock_vm_close(&vm);
}

static void test_injected_faults(void)
{
    mock_vm vm;
    vmic_view_t v;

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(vmic_create_view(vm.core, &v));
    vmic_mock_fail(vm.mock, VMIC_MOCK_SWITCH_VIEW, 1, VMIC_E_BUSY);
    CHECK_OK(vmic_switch_view(vm.core, v));             /* the one before */
    CHECK_ERR(vmic_switch_view(vm.core, 0), VMIC_E_BUSY);
    CHECK_ERRMSG("switch_view (every vCPU) fails as the test asked");
    CHECK_EQ(vmic_mock_vcpu_view(vm.mock, 0), v);       /* nothing moved */
    CHECK_OK(vmic_switch_view(vm.core, 0));             /* once only */
    CHECK_EQ(vmic_mock_calls(vm.mock, VMIC_MOCK_SWITCH_VIEW), 3);
    vmic_mock_fail_at(vm.mock, VMIC_MOCK_SET_ACCESS, vmic_gfn(7), VMIC_E_IO);
    CHECK_OK(vmic_set_access(vm.core, v, vmic_gfn(6), VMIC_ACCESS_R));
    CHECK_ERR(vmic_set_access(vm.core, v, vmic_gfn(7), VMIC_ACCESS_R), VMIC_E_IO);
    CHECK_OK(vmic_set_access(vm.core, v, vmic_gfn(7), VMIC_ACCESS_R));
    mock_vm_close(&vm);
}

int main(void)
{
    RUN(test_actions_on_a_store);
    RUN(test_continue_in_a_view);
    RUN(test_singlestep_chain);
    RUN(test_int3);
    RUN(test_refused_response);
    RUN(test_views_and_gfns);
    RUN(test_injected_faults);
    return HARNESS_RESULT();
}
