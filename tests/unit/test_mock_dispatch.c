/*
 * The canonical event handling (src/utils/dispatch.c) on the mock driver,
 * with events the test injects through the sink: what is the manager's and
 * what goes to on_event, a callback that moves RIP, a callback that fails
 * (the session ends with its error and takes every breakpoint away), and a
 * handler without on_hit.
 */
#include "mock_vm.h"
#include "stats.h"

#define BP_VA (CODE_VA + 0x20)
#define BP_PA (PAGE_A + 0x20)
#define ELSEWHERE (CODE_VA + 0x800)

typedef struct run {
    vmic_bpm *bpm;
    size_t hits, others;
    vmic_event_kind other_kind[4];
    vmic_action other_default[4];   /* the response on_event was given */
    bool move_rip, fail;
    vmic_status guest_status;
    vmic_event_response_t resp[4];
    uint8_t *mem;
    vmic_bp_state_t state[2];      /* the DYN breakpoint after each step event */
} run;

static vmic_status on_hit(vmic_bpm *bpm, const vmic_event_t *ev, const vmic_bp_state_t *hits,
                          size_t n, vmic_event_response_t *resp, void *arg)
{
    run *r = arg;
    r->hits += n;
    if (r->fail)
        return vmic_fail(VMIC_E_INTERNAL, "the test's callback fails on purpose");
    if (r->move_rip) {
        resp->set_regs = true;
        resp->regs = ev->regs;
        resp->regs.rip = ELSEWHERE;
    }
    return VMIC_OK;
}

static vmic_status on_event(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *resp,
                            void *arg)
{
    run *r = arg;
    if (r->others < 4) {
        r->other_kind[r->others] = ev->kind;
        r->other_default[r->others] = resp->action;
    }
    r->others++;
    return VMIC_OK;
}

/* Events no breakpoint explains, straight into the sink. */
static void guest_foreign(vmic_mock *m, void *arg)
{
    run *r = arg;
    vmic_event_t msr = {.kind = VMIC_EVENT_MSR_WRITE};
    msr.msr.msr = 0xc0000082;
    msr.msr.value = 0x1234;
    STEP(r, vmic_mock_inject(m, &msr, &r->resp[0]));
    vmic_event_t int3 = {.kind = VMIC_EVENT_INTERRUPT};
    int3.interrupt.vector = 3;
    int3.interrupt.type = VMIC_INTR_SW_EXCEPTION;
    int3.interrupt.insn_len = 1;
    int3.interrupt.pa = vmic_pa(BP_PA + 1);   /* on the tapped page, not an INT3 of ours */
    int3.regs.rip = BP_VA + 1;
    STEP(r, vmic_mock_inject(m, &int3, &r->resp[1]));
    vmic_event_t pf = {.kind = VMIC_EVENT_INTERRUPT};
    pf.interrupt.vector = 14;
    pf.interrupt.type = VMIC_INTR_HW_EXCEPTION;
    STEP(r, vmic_mock_inject(m, &pf, &r->resp[2]));
}

static vmic_status open_manager(mock_vm *vm, run *r)
{
    vmic_tap_options_t opt = {.kind = VMIC_TAP_BREAKPOINT};
    vmic_tap *tap;
    vmic_status s = vmic_tap_open(vm->core, &opt, &tap);
    if (s || (s = vmic_bpm_open(vm->core, tap, &r->bpm)))
        return s;
    vmic_breakpoint_t bp = {.va = vmic_va(BP_VA), .root = vmic_pa(ROOT), .key = 1};
    return vmic_bpm_insert(r->bpm, &bp);
}

static vmic_status run_session(mock_vm *vm, run *r, vmic_mock_guest_fn fn)
{
    vmic_bpm_handler_t h = {.on_hit = on_hit, .on_event = on_event, .arg = r};
    vmic_mock_set_guest(vm->mock, fn, r);
    return vmic_bpm_run(r->bpm, &h, 0);
}

static void test_not_the_managers(void)
{
    mock_vm vm;
    run r = {0};

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(open_manager(&vm, &r));
    CHECK_OK(run_session(&vm, &r, guest_foreign));
    CHECK_GUEST(r.guest_status);
    CHECK_EQ(r.hits, 0);
    /* The MSR write and the #PF reach on_event as Continue; the INT3 too,
     * already answered ReinjectInterrupt (the guest's own). */
    CHECK_EQ(r.others, 3);
    CHECK_EQ(r.other_kind[0], VMIC_EVENT_MSR_WRITE);
    CHECK_EQ(r.other_default[0], VMIC_ACTION_CONTINUE);
    CHECK_EQ(r.other_default[1], VMIC_ACTION_REINJECT_INTERRUPT);
    CHECK_EQ(r.other_default[2], VMIC_ACTION_CONTINUE);
    CHECK_EQ(r.resp[0].action, VMIC_ACTION_CONTINUE);
    CHECK(!r.resp[0].set_view);
    CHECK_EQ(r.resp[1].action, VMIC_ACTION_REINJECT_INTERRUPT);
    CHECK_EQ(r.resp[2].action, VMIC_ACTION_CONTINUE);
    vmic_bpm_stats_t st = bpm_stats(r.bpm);
    CHECK_EQ(st.reinjected, 1);
    CHECK_EQ(st.hits + st.passes, 0);
    /* The events carry the mock's numbering and the vCPU's view. */
    const vmic_mock_record_t *rec;
    CHECK_EQ(vmic_mock_records(vm.mock, &rec), 3);
    CHECK_EQ(rec[0].event.seq, 1);
    CHECK_EQ(rec[2].event.seq, 3);
    CHECK_EQ(rec[0].event.regs.cr3, ROOT);
    CHECK(rec[0].event.view != VMIC_VIEW_DEFAULT); /* the manager's own */
    CHECK_STR(mock_residue(&vm), "");
    vmic_bpm_close(r.bpm);
    mock_vm_close(&vm);
}

static vmic_amd64_regs_t regs_after;

static void guest_hit_regs(vmic_mock *m, void *arg)
{
    run *r = arg;
    STEP(r, vmic_mock_exec(m, 0, vmic_va(BP_VA)));
    vmic_mock_get_regs(m, 0, &regs_after);
}

/* on_hit moves RIP: nothing to step over, the response is Continue with
 * the new registers and no view, and the vCPU is there. */
static void test_hit_moves_rip(void)
{
    mock_vm vm;
    run r = {.move_rip = true};
    const vmic_mock_record_t *rec;

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(open_manager(&vm, &r));
    CHECK_OK(run_session(&vm, &r, guest_hit_regs));
    CHECK_GUEST(r.guest_status);
    CHECK_EQ(r.hits, 1);
    CHECK_EQ(vmic_mock_records(vm.mock, &rec), 1);
    CHECK_EQ(rec[0].response.action, VMIC_ACTION_CONTINUE);
    CHECK(!rec[0].response.set_view);
    CHECK(rec[0].response.set_regs);
    CHECK_EQ(rec[0].response.regs.rip, ELSEWHERE);
    CHECK_EQ(regs_after.rip, ELSEWHERE);
    CHECK_EQ(vmic_mock_stats(vm.mock).executed, 0); /* the INT3's instruction never ran */
    CHECK_STR(mock_residue(&vm), "");
    vmic_bpm_close(r.bpm);
    mock_vm_close(&vm);
}

static void guest_hits_then_more(vmic_mock *m, void *arg)
{
    run *r = arg;
    STEP(r, vmic_mock_exec(m, 0, vmic_va(BP_VA)));
    STEP(r, vmic_mock_exec(m, 0, vmic_va(BP_VA)));
}

/* on_hit fails: the session ends with its error; the driver answered
 * Continue; the guest's next instruction finds no session; everything the
 * manager did is gone. */
static void test_hit_fails(void)
{
    mock_vm vm;
    run r = {.fail = true};
    const vmic_mock_record_t *rec;

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(open_manager(&vm, &r));
    CHECK_ERR(run_session(&vm, &r, guest_hits_then_more), VMIC_E_INTERNAL);
    CHECK_ERRMSG("on purpose");
    CHECK_EQ(r.guest_status, VMIC_E_INTERRUPTED);
    CHECK_EQ(r.hits, 1);
    CHECK_EQ(vmic_mock_records(vm.mock, &rec), 1);
    CHECK_EQ(rec[0].response.action, VMIC_ACTION_CONTINUE);
    CHECK(!rec[0].response.set_view);
    CHECK_EQ(vmic_bpm_list(r.bpm, NULL, 0), 0);
    CHECK_STR(mock_residue(&vm), "");
    vmic_bpm_close(r.bpm);
    mock_vm_close(&vm);
}

static void test_handler_needs_on_hit(void)
{
    mock_vm vm;
    run r = {0};
    vmic_bpm_handler_t h = {.on_event = on_event};
    vmic_event_t ev = {.kind = VMIC_EVENT_MSR_WRITE};
    vmic_event_response_t resp = {0};

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(open_manager(&vm, &r));
    CHECK_ERR(vmic_bpm_run(r.bpm, &h, 0), VMIC_E_INVAL);
    CHECK_ERR(vmic_bpm_dispatch(r.bpm, &h, &ev, &resp), VMIC_E_INVAL);
    CHECK_EQ(vmic_mock_stats(vm.mock).events, 0);
    vmic_bpm_close(r.bpm);
    CHECK_STR(mock_residue(&vm), "");
    mock_vm_close(&vm);
}

/* ---- work owed to one vCPU is done at its own single-step ------------------------- */

#define DYN_BP (DYN_VA + 0x40)

static vmic_event_t step_event(vmic_vcpu_t vcpu)
{
    vmic_event_t ev = {.kind = VMIC_EVENT_SINGLESTEP, .vcpu = vcpu};
    ev.regs.rip = CODE_VA + 1;
    ev.singlestep.pa = vmic_pa(PAGE_A + 1);
    return ev;
}

static void note_dyn(run *r, int i)
{
    vmic_bpm_get_by_address(r->bpm, vmic_pa(ROOT), vmic_va(DYN_BP), &r->state[i], 1);
}

static void guest_two_vcpus(vmic_mock *m, void *arg)
{
    run *r = arg;
    /* vCPU 1 writes PT[2]: the write event, answered Singlestep ... */
    vmic_event_t w = {.kind = VMIC_EVENT_MEMORY_ACCESS, .vcpu = 1};
    w.regs.rip = CODE_VA;
    w.memory.pa = vmic_pa(PT + 16);
    w.memory.gfn = vmic_gfn(PT >> 12);
    w.memory.va = vmic_va(PT_VA + 16);
    w.memory.va_valid = true;
    w.memory.access = VMIC_ACCESS_W;
    w.memory.size = 8;
    w.memory.value = PTE(PAGE_A);
    STEP(r, vmic_mock_inject(m, &w, &r->resp[0]));
    put_u64(r->mem, PT + 16, PTE(PAGE_A)); /* ... then the write lands */
    /* vCPU 0's single-step is not the one the write is owed to. */
    vmic_event_t s0 = step_event(0);
    STEP(r, vmic_mock_inject(m, &s0, &r->resp[1]));
    note_dyn(r, 0);
    vmic_event_t s1 = step_event(1);
    STEP(r, vmic_mock_inject(m, &s1, &r->resp[2]));
    note_dyn(r, 1);
}

static void test_pending_per_vcpu(void)
{
    mock_vm vm;
    run r = {0};
    vmic_mock_options_t opt = {.vcpus = 2};

    CHECK_OK(mock_vm_open(&vm, &opt));
    r.mem = vm.mem;
    CHECK_OK(open_manager(&vm, &r));
    vmic_breakpoint_t bp = {.va = vmic_va(DYN_BP), .root = vmic_pa(ROOT), .key = 2};
    CHECK_OK(vmic_bpm_insert(r.bpm, &bp));
    CHECK_OK(run_session(&vm, &r, guest_two_vcpus));
    CHECK_GUEST(r.guest_status);
    CHECK_EQ(r.resp[0].action, VMIC_ACTION_SINGLESTEP);
    CHECK_EQ(r.others, 1);                  /* vCPU 0's step went to on_event */
    CHECK_EQ(r.other_kind[0], VMIC_EVENT_SINGLESTEP);
    CHECK(!r.state[0].active);              /* nothing processed for vCPU 0 */
    CHECK_EQ(r.resp[2].action, VMIC_ACTION_CONTINUE);
    CHECK(r.state[1].active);               /* vCPU 1's step walked again */
    CHECK_EQ(r.state[1].pa.addr, PAGE_A + 0x40);
    CHECK_EQ(bpm_stats(r.bpm).table_writes, 1);
    CHECK_EQ(bpm_stats(r.bpm).page_ins, 1);
    put_u64(vm.mem, PT + 16, 0);
    CHECK_STR(mock_residue(&vm), "");
    vmic_bpm_close(r.bpm);
    mock_vm_close(&vm);
}

int main(void)
{
    RUN(test_not_the_managers);
    RUN(test_hit_moves_rip);
    RUN(test_hit_fails);
    RUN(test_handler_needs_on_hit);
    RUN(test_pending_per_vcpu);
    return HARNESS_RESULT();
}
