/*
 * The page-table monitor on the mock driver: which table pages a watch
 * write-protects, what a write to one of them reports (page-in, page-out, a
 * move as both), a change at PD level that moves the watch to another page
 * table, and the cleanup. On /dev/kvm: tests/kvm/test_bpm_ptm.c.
 */
#include "mock_vm.h"
#include "stats.h"

#define PTE_DYN (PT + 8 * 2)     /* the entry that maps DYN_VA */

typedef struct changes {
    vmic_page_event_t ev[8];
    size_t n;
} changes;

static void record(const vmic_page_event_t *pe, void *arg)
{
    changes *c = arg;
    if (c->n < 8)
        c->ev[c->n] = *pe;
    c->n++;
}

static vmic_access_t access_of(mock_vm *vm, vmic_view_t view, uint64_t pa)
{
    vmic_access_t a = 0;
    if (vmic_get_access(vm->core, view, vmic_pa_to_gfn(vmic_pa(pa)), &a))
        return 0xff;
    return a;
}

/* A write event as the driver reports it, for the monitor alone. */
static vmic_event_t write_event(uint64_t pa, vmic_vcpu_t vcpu)
{
    vmic_event_t ev = {.kind = VMIC_EVENT_MEMORY_ACCESS, .vcpu = vcpu};
    ev.memory.pa = vmic_pa(pa);
    ev.memory.gfn = vmic_pa_to_gfn(vmic_pa(pa));
    ev.memory.access = VMIC_ACCESS_W;
    ev.memory.size = 8;
    return ev;
}

static void test_watch_and_process(void)
{
    mock_vm vm;
    vmic_ptm *ptm;
    bool present = true;
    vmic_pa_t pa = vmic_pa(1);
    changes c = {0};

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(vmic_ptm_open(vm.core, &ptm));
    CHECK_OK(vmic_ptm_watch(ptm, VMIC_VIEW_DEFAULT, vmic_pa(ROOT), vmic_va(DYN_VA + 0x123),
                            &present, &pa));
    CHECK(!present);
    CHECK_EQ(pa.addr, 0);
    /* Every table the walk read, the one with the empty entry included. */
    vmic_ptm_stats_t st = ptm_stats(ptm);
    CHECK_EQ(st.watches, 1);
    CHECK_EQ(st.tables, 4);
    for (uint64_t t = ROOT; t <= PT; t += VMIC_PAGE_SIZE)
        CHECK_EQ(access_of(&vm, VMIC_VIEW_DEFAULT, t), VMIC_ACCESS_RX);
    CHECK_EQ(access_of(&vm, VMIC_VIEW_DEFAULT, PAGE_A), VMIC_ACCESS_RWX);
    /* The same page again is one watch more of the same translation. */
    CHECK_OK(vmic_ptm_watch(ptm, VMIC_VIEW_DEFAULT, vmic_pa(ROOT | 0x18), vmic_va(DYN_VA),
                            NULL, NULL));
    CHECK_EQ(ptm_stats(ptm).watches, 1);

    /* Writes elsewhere are not the monitor's; the PT's is, for vCPU 0 only. */
    vmic_event_t other = write_event(PAGE_A, 0);
    CHECK(!vmic_ptm_mark_dirty(ptm, &other));
    vmic_event_t ev = write_event(PTE_DYN, 0);
    put_u64(vm.mem, PTE_DYN, PTE(PAGE_A));
    CHECK(vmic_ptm_mark_dirty(ptm, &ev));
    CHECK(vmic_ptm_dirty(ptm, 0));
    CHECK_OK(vmic_ptm_process(ptm, 0, record, &c));
    CHECK(!vmic_ptm_dirty(ptm, 0));
    CHECK_EQ(c.n, 1);
    CHECK_EQ(c.ev[0].change, VMIC_PAGE_IN);
    CHECK_EQ(c.ev[0].pa.addr, PAGE_A);
    CHECK_EQ(c.ev[0].va.addr, DYN_VA);
    CHECK_EQ(c.ev[0].root.addr, ROOT);
    CHECK_EQ(c.ev[0].view, VMIC_VIEW_DEFAULT);

    /* A move is a page-out then a page-in. */
    c.n = 0;
    put_u64(vm.mem, PTE_DYN, PTE(PAGE_B));
    CHECK(vmic_ptm_mark_dirty(ptm, &ev));
    CHECK_OK(vmic_ptm_process(ptm, 0, record, &c));
    CHECK_EQ(c.n, 2);
    CHECK(c.ev[0].change == VMIC_PAGE_OUT && c.ev[0].pa.addr == PAGE_A);
    CHECK(c.ev[1].change == VMIC_PAGE_IN && c.ev[1].pa.addr == PAGE_B);
    /* A write that changes nothing reports nothing. */
    c.n = 0;
    CHECK(vmic_ptm_mark_dirty(ptm, &ev));
    CHECK_OK(vmic_ptm_process(ptm, 0, record, &c));
    CHECK_EQ(c.n, 0);
    st = ptm_stats(ptm);
    CHECK_EQ(st.writes, 3);
    CHECK_EQ(st.page_ins, 2);
    CHECK_EQ(st.page_outs, 1);

    CHECK_OK(vmic_ptm_unwatch(ptm, VMIC_VIEW_DEFAULT, vmic_pa(ROOT), vmic_va(DYN_VA)));
    CHECK_EQ(ptm_stats(ptm).tables, 4); /* one watch still holds them */
    CHECK_OK(vmic_ptm_unwatch(ptm, VMIC_VIEW_DEFAULT, vmic_pa(ROOT), vmic_va(DYN_VA)));
    CHECK_ERR(vmic_ptm_unwatch(ptm, VMIC_VIEW_DEFAULT, vmic_pa(ROOT), vmic_va(DYN_VA)),
              VMIC_E_NOTFOUND);
    CHECK_EQ(ptm_stats(ptm).tables, 0);
    put_u64(vm.mem, PTE_DYN, 0);
    CHECK_STR(mock_residue(&vm), "");
    vmic_ptm_close(ptm);
    mock_vm_close(&vm);
}

/* A watch in another view protects its tables there and in view 0, where
 * step-overs run. */
static void test_watch_in_a_view(void)
{
    mock_vm vm;
    vmic_ptm *ptm;
    vmic_view_t view;

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(vmic_ptm_open(vm.core, &ptm));
    CHECK_OK(vmic_create_view(vm.core, &view));
    CHECK_OK(vmic_ptm_watch(ptm, view, vmic_pa(ROOT), vmic_va(CODE_VA), NULL, NULL));
    CHECK_EQ(access_of(&vm, view, PT), VMIC_ACCESS_RX);
    CHECK_EQ(access_of(&vm, VMIC_VIEW_DEFAULT, PT), VMIC_ACCESS_RX);
    CHECK_EQ(ptm_stats(ptm).tables, 4);
    CHECK_OK(vmic_ptm_unwatch(ptm, view, vmic_pa(ROOT), vmic_va(CODE_VA)));
    CHECK_EQ(access_of(&vm, view, PT), VMIC_ACCESS_RWX);
    CHECK_EQ(access_of(&vm, VMIC_VIEW_DEFAULT, PT), VMIC_ACCESS_RWX);
    CHECK_OK(vmic_destroy_view(vm.core, view));
    CHECK_STR(mock_residue(&vm), "");
    vmic_ptm_close(ptm);
    mock_vm_close(&vm);
}

/* ---- through a session: the guest writes its tables --------------------------------- */

typedef struct ptm_run {
    vmic_ptm *ptm;
    changes c;
    uint64_t writes, steps;
    vmic_status guest_status;
    mock_vm *vm;
} ptm_run;

/* The canonical handling, written out (dispatch.c does the same). */
static vmic_status on_event(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *resp,
                            void *arg)
{
    ptm_run *r = arg;
    if (vmic_ptm_mark_dirty(r->ptm, ev)) {
        r->writes++;
        resp->action = VMIC_ACTION_SINGLESTEP;
        return VMIC_OK;
    }
    if (ev->kind == VMIC_EVENT_SINGLESTEP && vmic_ptm_dirty(r->ptm, ev->vcpu)) {
        r->steps++;
        return vmic_ptm_process(r->ptm, ev->vcpu, record, &r->c);
    }
    return VMIC_OK;
}

static void guest(vmic_mock *m, void *arg)
{
    ptm_run *r = arg;
    vmic_va_t rip = vmic_va(CODE_VA);
    /* PT[2] = page_a: DYN_VA appears. */
    STEP(r, vmic_mock_store(m, 0, rip, vmic_va(PT_VA + 16), 8, PTE(PAGE_A)));
    /* PT[5] = PT2: a write to the watched PT that changes nothing for
     * DYN_VA; then PT2[2], through va 0x205000: not a watched table, no
     * event. */
    STEP(r, vmic_mock_store(m, 0, rip, vmic_va(PT_VA + 40), 8, PTE(PT2)));
    STEP(r, vmic_mock_store(m, 0, rip, vmic_va(CODE_VA + 0x5000 + 16), 8, PTE(PAGE_B)));
}

static void test_guest_writes(void)
{
    mock_vm vm;
    ptm_run r = {.vm = &vm};
    size_t n;
    const vmic_mock_record_t *rec;

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(vmic_ptm_open(vm.core, &r.ptm));
    CHECK_OK(vmic_ptm_watch(r.ptm, VMIC_VIEW_DEFAULT, vmic_pa(ROOT), vmic_va(DYN_VA), NULL,
                            NULL));
    vmic_event_handler_t h = {.on_event = on_event, .arg = &r};
    vmic_mock_set_guest(vm.mock, guest, &r);
    CHECK_OK(vmic_run_events(vm.core, &h, 0));
    CHECK_GUEST(r.guest_status);
    /* Only PT[2] and PT[5] are writes to a watched table (PT2 is not one
     * yet): each is a write event answered Singlestep, then its step. */
    n = vmic_mock_records(vm.mock, &rec);
    CHECK_EQ(n, 4);
    CHECK_EQ(rec[0].event.memory.pa.addr, PTE_DYN);
    CHECK_EQ(rec[0].event.memory.value, PTE(PAGE_A));
    CHECK_EQ(rec[0].response.action, VMIC_ACTION_SINGLESTEP);
    CHECK_EQ(rec[1].event.kind, VMIC_EVENT_SINGLESTEP);
    CHECK_EQ(rec[1].event.regs.rip, CODE_VA + 1);
    CHECK_EQ(rec[2].event.memory.pa.addr, PT + 40);
    CHECK_EQ(r.writes, 2);
    CHECK_EQ(r.steps, 2);
    CHECK_EQ(r.c.n, 1);
    CHECK(r.c.ev[0].change == VMIC_PAGE_IN && r.c.ev[0].pa.addr == PAGE_A);
    uint64_t pt2_entry;
    memcpy(&pt2_entry, vm.mem + PT2 + 16, 8);
    CHECK_EQ(pt2_entry, PTE(PAGE_B));
    /* The session's end cleared the monitor. */
    CHECK_EQ(ptm_stats(r.ptm).watches, 0);
    CHECK_EQ(ptm_stats(r.ptm).tables, 0);
    CHECK_STR(mock_residue(&vm), "");
    vmic_ptm_close(r.ptm);
    mock_vm_close(&vm);
}

/* PD[1] moves to another page table: the watch follows the walk -- the new
 * table protected, the old one given back -- and reports the move. */
static void test_table_moves(void)
{
    mock_vm vm;
    vmic_ptm *ptm;
    changes c = {0};

    CHECK_OK(mock_vm_open(&vm, NULL));
    put_u64(vm.mem, PTE_DYN, PTE(PAGE_A));
    put_u64(vm.mem, PT2 + 16, PTE(PAGE_B));
    CHECK_OK(vmic_ptm_open(vm.core, &ptm));
    CHECK_OK(vmic_ptm_watch(ptm, VMIC_VIEW_DEFAULT, vmic_pa(ROOT), vmic_va(DYN_VA), NULL, NULL));
    CHECK_EQ(access_of(&vm, VMIC_VIEW_DEFAULT, PT2), VMIC_ACCESS_RWX);
    put_u64(vm.mem, PD + 8, PTE(PT2));
    vmic_event_t ev = write_event(PD + 8, 0);
    CHECK(vmic_ptm_mark_dirty(ptm, &ev));
    CHECK_OK(vmic_ptm_process(ptm, 0, record, &c));
    CHECK_EQ(c.n, 2);
    CHECK(c.ev[0].change == VMIC_PAGE_OUT && c.ev[0].pa.addr == PAGE_A);
    CHECK(c.ev[1].change == VMIC_PAGE_IN && c.ev[1].pa.addr == PAGE_B);
    CHECK_EQ(access_of(&vm, VMIC_VIEW_DEFAULT, PT2), VMIC_ACCESS_RX);
    CHECK_EQ(access_of(&vm, VMIC_VIEW_DEFAULT, PT), VMIC_ACCESS_RWX);
    CHECK_EQ(ptm_stats(ptm).tables, 4);
    /* The old table is no longer the monitor's. */
    vmic_event_t old = write_event(PTE_DYN, 0);
    CHECK(!vmic_ptm_mark_dirty(ptm, &old));
    CHECK_OK(vmic_ptm_unwatch(ptm, VMIC_VIEW_DEFAULT, vmic_pa(ROOT), vmic_va(DYN_VA)));
    put_u64(vm.mem, PD + 8, PTE(PT));
    CHECK_STR(mock_residue(&vm), "");
    vmic_ptm_close(ptm);
    mock_vm_close(&vm);
}

/* set_access fails on the third table: the two protected already are given
 * back, and the watch is not there. */
static void test_watch_fails_clean(void)
{
    mock_vm vm;
    vmic_ptm *ptm;

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(vmic_ptm_open(vm.core, &ptm));
    vmic_mock_fail_at(vm.mock, VMIC_MOCK_SET_ACCESS, vmic_gfn(PD >> 12), VMIC_E_IO);
    CHECK_ERR(vmic_ptm_watch(ptm, VMIC_VIEW_DEFAULT, vmic_pa(ROOT), vmic_va(DYN_VA), NULL, NULL),
              VMIC_E_IO);
    CHECK_ERRMSG("watching va 0x202000 in root 0x1000");
    CHECK_EQ(ptm_stats(ptm).watches, 0);
    CHECK_EQ(ptm_stats(ptm).tables, 0);
    CHECK_STR(mock_residue(&vm), "");
    vmic_ptm_close(ptm);
    mock_vm_close(&vm);
}

int main(void)
{
    RUN(test_watch_and_process);
    RUN(test_watch_in_a_view);
    RUN(test_guest_writes);
    RUN(test_table_moves);
    RUN(test_watch_fails_clean);
    return HARNESS_RESULT();
}
