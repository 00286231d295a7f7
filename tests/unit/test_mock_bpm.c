/*
 * The breakpoint manager on the mock driver (tests/unit/mock_vm.h's guest):
 * what each tap controller puts in place, the events a scripted guest gets
 * and the responses the dispatch gives them, breakpoints that follow the
 * page tables, and every error path the mock can inject. The same behaviour
 * is checked on /dev/kvm by tests/kvm/test_bpm_taps.c and test_bpm_ptm.c.
 */
#include "mock_vm.h"
#include "stats.h"

#define BP_VA (CODE_VA + 0x20)
#define BP_PA (PAGE_A + 0x20)

typedef struct run_log {
    mock_vm *vm;
    vmic_bpm *bpm;
    size_t nhits;
    vmic_bp_state_t hits[8];
    vmic_page_event_t pages[8];
    size_t npages;
    vmic_status guest_status;    /* the first failure of the guest's script */
    uint64_t loaded;
    bool remove_on_hit;
} run_log;

static vmic_status on_hit(vmic_bpm *bpm, const vmic_event_t *ev, const vmic_bp_state_t *hits,
                          size_t n, vmic_event_response_t *resp, void *arg)
{
    run_log *r = arg;
    for (size_t i = 0; i < n; i++)
        if (r->nhits < 8)
            r->hits[r->nhits++] = hits[i];
    if (r->remove_on_hit)
        return vmic_bpm_remove(bpm, &hits[0].bp);
    return VMIC_OK;
}

static void on_page(vmic_bpm *bpm, const vmic_page_event_t *pe, void *arg)
{
    run_log *r = arg;
    if (r->npages < 8)
        r->pages[r->npages] = *pe;
    r->npages++;
}

static vmic_status open_bpm(mock_vm *vm, vmic_tap_kind kind, bool visible, vmic_bpm **out)
{
    vmic_tap_options_t opt = {.kind = kind, .visible = visible};
    vmic_tap *tap;
    vmic_status s = vmic_tap_open(vm->core, &opt, &tap);
    return s ? s : vmic_bpm_open(vm->core, tap, out);
}

static vmic_breakpoint_t bp_at(uint64_t va)
{
    return (vmic_breakpoint_t){.va = vmic_va(va), .root = vmic_pa(ROOT), .key = 5, .tag = 9};
}

static vmic_status run_guest(run_log *r, vmic_mock_guest_fn fn)
{
    vmic_bpm_handler_t h = {.on_hit = on_hit, .on_page = on_page, .arg = r};
    vmic_mock_set_guest(r->vm->mock, fn, r);
    return vmic_bpm_run(r->bpm, &h, 0);
}

static const vmic_mock_record_t *records(mock_vm *vm, size_t *n)
{
    const vmic_mock_record_t *rec;
    *n = vmic_mock_records(vm->mock, &rec);
    return rec;
}

/* ---- what a breakpoint puts in place, and takes away -------------------------------- */

static void test_shadow_in_place(void)
{
    mock_vm vm;
    vmic_bpm *bpm;
    vmic_bp_state_t st;
    vmic_view_t own;
    vmic_access_t a;

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(open_bpm(&vm, VMIC_TAP_BREAKPOINT, false, &bpm));
    vmic_breakpoint_t bp = bp_at(BP_VA);
    CHECK_OK(vmic_bpm_insert(bpm, &bp));
    CHECK_ERR(vmic_bpm_insert(bpm, &bp), VMIC_E_BUSY);
    CHECK_EQ(vmic_bpm_list(bpm, &st, 1), 1);
    CHECK(st.active);
    CHECK_EQ(st.pa.addr, BP_PA);
    CHECK(vmic_bpm_own_view(bpm, &own));
    CHECK_EQ(st.tap_view, own);
    CHECK_EQ(vmic_mock_vcpu_view(vm.mock, 0), own);
    /* The shadow: INT3 in the own view only, RAM untouched. */
    CHECK_EQ(view_byte(&vm, own, BP_PA), 0xcc);
    CHECK_EQ(view_byte(&vm, own, BP_PA + 1), NOP);
    CHECK_EQ(view_byte(&vm, VMIC_VIEW_DEFAULT, BP_PA), NOP);
    CHECK_EQ(vm.mem[BP_PA], NOP);
    vmic_mock_stats_t ms = vmic_mock_stats(vm.mock);
    CHECK_EQ(ms.views, 1);
    CHECK_EQ(ms.spare_in_use, 1);
    CHECK(ms.int3_monitor);
    /* Execute-only in the own view; clean in view 0. */
    CHECK_OK(vmic_get_access(vm.core, own, vmic_gfn(PAGE_A >> 12), &a));
    CHECK_EQ(a, VMIC_ACCESS_X);
    CHECK_OK(vmic_get_access(vm.core, VMIC_VIEW_DEFAULT, vmic_gfn(PAGE_A >> 12), &a));
    CHECK_EQ(a, VMIC_ACCESS_RWX);
    /* The walk's four tables are write-protected in both views. */
    for (uint64_t t = ROOT; t <= PT; t += VMIC_PAGE_SIZE) {
        CHECK_OK(vmic_get_access(vm.core, own, vmic_gfn(t >> 12), &a));
        CHECK_EQ(a, VMIC_ACCESS_RX);
        CHECK_OK(vmic_get_access(vm.core, VMIC_VIEW_DEFAULT, vmic_gfn(t >> 12), &a));
        CHECK_EQ(a, VMIC_ACCESS_RX);
    }
    vmic_bpm_stats_t bs = bpm_stats(bpm);
    CHECK_EQ(bs.taps, 1);
    CHECK_EQ(bs.pages, 1);
    /* A second breakpoint on the page shares its shadow and guard. */
    vmic_breakpoint_t second = bp_at(BP_VA + 8);
    CHECK_OK(vmic_bpm_insert(bpm, &second));
    CHECK_EQ(bpm_stats(bpm).taps, 2);
    CHECK_EQ(bpm_stats(bpm).pages, 1);
    CHECK_EQ(vmic_mock_stats(vm.mock).spare_in_use, 1);
    CHECK_EQ(view_byte(&vm, own, BP_PA + 8), 0xcc);

    CHECK_OK(vmic_bpm_remove(bpm, &bp));
    CHECK_EQ(view_byte(&vm, own, BP_PA), NOP);
    CHECK_OK(vmic_bpm_remove(bpm, &second));
    CHECK_ERR(vmic_bpm_remove(bpm, &second), VMIC_E_NOTFOUND);
    CHECK_EQ(vmic_bpm_list(bpm, NULL, 0), 0);
    CHECK(!vmic_bpm_own_view(bpm, NULL));
    CHECK_STR(mock_residue(&vm), "");
    vmic_bpm_close(bpm);
    mock_vm_close(&vm);
}

static void test_memory_tap_in_place(void)
{
    mock_vm vm;
    vmic_bpm *bpm;
    vmic_view_t own;
    vmic_access_t a;

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(open_bpm(&vm, VMIC_TAP_MEMORY, false, &bpm));
    vmic_breakpoint_t bp = bp_at(BP_VA);
    CHECK_OK(vmic_bpm_insert(bpm, &bp));
    CHECK(vmic_bpm_own_view(bpm, &own));
    CHECK_OK(vmic_get_access(vm.core, own, vmic_gfn(PAGE_A >> 12), &a));
    CHECK_EQ(a, VMIC_ACCESS_RW);
    /* No shadow, no INT3: the page's missing X is the tap. */
    CHECK_EQ(vmic_mock_stats(vm.mock).spare_in_use, 0);
    CHECK(!vmic_mock_stats(vm.mock).int3_monitor);
    CHECK_EQ(view_byte(&vm, own, BP_PA), NOP);
    CHECK_OK(vmic_bpm_remove(bpm, &bp));
    CHECK_STR(mock_residue(&vm), "");
    vmic_bpm_close(bpm);
    mock_vm_close(&vm);
}

/* Keys, shared taps and guards, global breakpoints, lookups by address and
 * by event (the kvm test's bookkeeping, without a guest running). */
static void test_bookkeeping(void)
{
    mock_vm vm;
    vmic_bpm *bpm;
    vmic_bp_state_t st[4];
    vmic_view_t own;

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(open_bpm(&vm, VMIC_TAP_BREAKPOINT, false, &bpm));
    vmic_breakpoint_t a = bp_at(BP_VA), b = a, c = a, d = a;
    a.key = 1;
    b.key = 2;                        /* same address: shares a's tap */
    c.key = 3;
    c.va = vmic_va(BP_VA + 0x10);     /* same page: shares a's guard */
    d.key = 4;
    d.global = true;                  /* global, at a's address */
    CHECK_OK(vmic_bpm_insert(bpm, &a));
    CHECK_OK(vmic_bpm_insert(bpm, &b));
    CHECK_OK(vmic_bpm_insert(bpm, &c));
    CHECK_OK(vmic_bpm_insert(bpm, &d));
    CHECK_EQ(bpm_stats(bpm).taps, 2);
    CHECK_EQ(bpm_stats(bpm).pages, 1);
    CHECK_EQ(vmic_bpm_get_by_address(bpm, vmic_pa(ROOT), a.va, st, 4), 3);
    CHECK(st[0].active && st[0].pa.addr == BP_PA);
    CHECK_EQ(vmic_bpm_get_by_address(bpm, vmic_pa(0x7000), a.va, st, 4), 1);
    CHECK_EQ(st[0].bp.key, 4);
    CHECK(vmic_bpm_own_view(bpm, &own));
    vmic_event_t ev = {.kind = VMIC_EVENT_INTERRUPT, .view = own};
    ev.interrupt.vector = 3;
    ev.interrupt.pa = vmic_pa(BP_PA);
    ev.regs.rip = BP_VA;
    ev.regs.cr3 = ROOT | 0x18;        /* flag bits do not matter */
    CHECK_EQ(vmic_bpm_get_by_event(bpm, &ev, st, 4), 3);
    ev.regs.cr3 = 0x7000;             /* another address space: the global one */
    CHECK_EQ(vmic_bpm_get_by_event(bpm, &ev, st, 4), 1);
    CHECK_EQ(st[0].bp.key, 4);
    ev.interrupt.pa.addr += 1;        /* no INT3 of ours there */
    CHECK(!vmic_bpm_contains_by_event(bpm, &ev));
    ev.interrupt.pa.addr -= 1;
    ev.view = VMIC_VIEW_DEFAULT;      /* view 0 has no taps */
    CHECK(!vmic_bpm_contains_by_event(bpm, &ev));
    CHECK_OK(vmic_bpm_remove(bpm, &b));
    CHECK_EQ(bpm_stats(bpm).taps, 2);
    CHECK_EQ(view_byte(&vm, own, BP_PA), 0xcc); /* a and d still hold it */
    size_t removed = 0;
    CHECK_OK(vmic_bpm_remove_by_view(bpm, 0, &removed));
    CHECK_EQ(removed, 3);
    CHECK_STR(mock_residue(&vm), "");
    vmic_bpm_close(bpm);
    mock_vm_close(&vm);
}

/* ---- hits and the events around them ---------------------------------------------------- */

static vmic_view_t view_after_hit;

static void guest_hits(vmic_mock *m, void *arg)
{
    run_log *r = arg;
    STEP(r, vmic_mock_exec(m, 0, vmic_va(CODE_VA + 0x10)));   /* no tap here */
    STEP(r, vmic_mock_exec(m, 0, vmic_va(BP_VA)));            /* the hit */
    view_after_hit = vmic_mock_vcpu_view(m, 0);
    STEP(r, vmic_mock_exec(m, 0, vmic_va(BP_VA + 1)));
    STEP(r, vmic_mock_load(m, 0, vmic_va(CODE_VA + 0x40), vmic_va(BP_VA), 1, &r->loaded));
    STEP(r, vmic_mock_exec(m, 0, vmic_va(FOREIGN_VA + 0x10))); /* the guest's own INT3 */
}

static void test_breakpoint_hit(void)
{
    mock_vm vm;
    run_log r = {.vm = &vm};
    vmic_view_t own;
    size_t n;

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(open_bpm(&vm, VMIC_TAP_BREAKPOINT, false, &r.bpm));
    vmic_breakpoint_t bp = bp_at(BP_VA);
    CHECK_OK(vmic_bpm_insert(r.bpm, &bp));
    CHECK(vmic_bpm_own_view(r.bpm, &own));
    CHECK_OK(run_guest(&r, guest_hits));
    CHECK_GUEST(r.guest_status);

    const vmic_mock_record_t *rec = records(&vm, &n);
    CHECK_EQ(n, 3);
    /* The hit: INT3 at the breakpoint's pa in the own view, stepped over in
     * view 0 (FastSinglestep), back in the own view after it. */
    CHECK_EQ(rec[0].event.kind, VMIC_EVENT_INTERRUPT);
    CHECK_EQ(rec[0].event.interrupt.vector, 3);
    CHECK_EQ(rec[0].event.interrupt.pa.addr, BP_PA);
    CHECK_EQ(rec[0].event.view, own);
    CHECK_EQ(rec[0].response.action, VMIC_ACTION_FAST_SINGLESTEP);
    CHECK(rec[0].response.set_view);
    CHECK_EQ(rec[0].response.view, VMIC_VIEW_DEFAULT);
    CHECK_EQ(view_after_hit, own);
    CHECK_EQ(r.nhits, 1);
    CHECK_EQ(r.hits[0].bp.tag, 9);
    CHECK_EQ(r.hits[0].pa.addr, BP_PA);
    /* The read of its own code: served from view 0, the original byte. */
    CHECK_EQ(rec[1].event.kind, VMIC_EVENT_MEMORY_ACCESS);
    CHECK_EQ(rec[1].event.memory.access, VMIC_ACCESS_R);
    CHECK_EQ(rec[1].event.memory.pa.addr, BP_PA);
    CHECK_EQ(rec[1].response.action, VMIC_ACTION_FAST_SINGLESTEP);
    CHECK_EQ(rec[1].response.view, VMIC_VIEW_DEFAULT);
    CHECK_EQ(r.loaded, NOP);
    /* The guest's own INT3 goes back to it. */
    CHECK_EQ(rec[2].event.kind, VMIC_EVENT_INTERRUPT);
    CHECK_EQ(rec[2].event.interrupt.pa.addr, FOREIGN_PA + 0x10);
    CHECK_EQ(rec[2].response.action, VMIC_ACTION_REINJECT_INTERRUPT);
    CHECK_EQ(vmic_mock_stats(vm.mock).guest_int3s, 1);
    vmic_bpm_stats_t st = bpm_stats(r.bpm);
    CHECK_EQ(st.hits, 1);
    CHECK_EQ(st.reads_served, 1);
    CHECK_EQ(st.reinjected, 1);
    CHECK_EQ(st.passes, 0);
    /* The session's end cleared the manager. */
    CHECK_EQ(vmic_bpm_list(r.bpm, NULL, 0), 0);
    CHECK_STR(mock_residue(&vm), "");
    vmic_bpm_close(r.bpm);
    mock_vm_close(&vm);
}

static void guest_reads(vmic_mock *m, void *arg)
{
    run_log *r = arg;
    STEP(r, vmic_mock_load(m, 0, vmic_va(CODE_VA + 0x40), vmic_va(BP_VA), 1, &r->loaded));
    STEP(r, vmic_mock_exec(m, 0, vmic_va(BP_VA)));
}

/* A visible shadow: reads see the INT3 and cost no event. */
static void test_visible_shadow(void)
{
    mock_vm vm;
    run_log r = {.vm = &vm};
    size_t n;

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(open_bpm(&vm, VMIC_TAP_BREAKPOINT, true, &r.bpm));
    vmic_breakpoint_t bp = bp_at(BP_VA);
    CHECK_OK(vmic_bpm_insert(r.bpm, &bp));
    CHECK_OK(run_guest(&r, guest_reads));
    CHECK_GUEST(r.guest_status);
    CHECK_EQ(r.loaded, 0xcc);
    const vmic_mock_record_t *rec = records(&vm, &n);
    CHECK_EQ(n, 1);
    CHECK_EQ(rec[0].event.kind, VMIC_EVENT_INTERRUPT);
    CHECK_EQ(bpm_stats(r.bpm).reads_served, 0);
    CHECK_EQ(r.nhits, 1);
    CHECK_STR(mock_residue(&vm), "");
    vmic_bpm_close(r.bpm);
    mock_vm_close(&vm);
}

static uint8_t shadow_after_write[2];

static void guest_writes_code(vmic_mock *m, void *arg)
{
    run_log *r = arg;
    STEP(r, vmic_mock_store(m, 0, vmic_va(CODE_VA + 0x40), vmic_va(BP_VA + 0x10), 1, 0x55));
    vmic_view_t own = vmic_mock_vcpu_view(m, 0);
    vmic_mock_view_read(m, own, vmic_pa(BP_PA + 0x10), &shadow_after_write[0], 1);
    vmic_mock_view_read(m, own, vmic_pa(BP_PA), &shadow_after_write[1], 1);
    STEP(r, vmic_mock_exec(m, 0, vmic_va(BP_VA)));
}

/* A write to a shadowed page lands in the original (view 0, single-step),
 * the shadow takes it over with its INT3 kept, and the vCPU comes back. */
static void test_write_through(void)
{
    mock_vm vm;
    run_log r = {.vm = &vm};
    vmic_view_t own;
    size_t n;

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(open_bpm(&vm, VMIC_TAP_BREAKPOINT, false, &r.bpm));
    vmic_breakpoint_t bp = bp_at(BP_VA);
    CHECK_OK(vmic_bpm_insert(r.bpm, &bp));
    CHECK(vmic_bpm_own_view(r.bpm, &own));
    CHECK_OK(run_guest(&r, guest_writes_code));
    CHECK_GUEST(r.guest_status);
    const vmic_mock_record_t *rec = records(&vm, &n);
    CHECK_EQ(n, 3);
    CHECK_EQ(rec[0].event.kind, VMIC_EVENT_MEMORY_ACCESS);
    CHECK_EQ(rec[0].event.memory.access, VMIC_ACCESS_W);
    CHECK_EQ(rec[0].event.memory.pa.addr, BP_PA + 0x10);
    CHECK_EQ(rec[0].event.memory.value, 0x55);
    CHECK_EQ(rec[0].response.action, VMIC_ACTION_SINGLESTEP);
    CHECK(rec[0].response.set_view);
    CHECK_EQ(rec[0].response.view, VMIC_VIEW_DEFAULT);
    CHECK_EQ(rec[1].event.kind, VMIC_EVENT_SINGLESTEP);
    CHECK_EQ(rec[1].event.view, VMIC_VIEW_DEFAULT);
    CHECK_EQ(rec[1].event.regs.rip, CODE_VA + 0x41);
    CHECK_EQ(rec[1].response.action, VMIC_ACTION_CONTINUE);
    CHECK(rec[1].response.set_view);
    CHECK_EQ(rec[1].response.view, own);
    CHECK_EQ(shadow_after_write[0], 0x55);
    CHECK_EQ(shadow_after_write[1], 0xcc);
    CHECK_EQ(rec[2].event.kind, VMIC_EVENT_INTERRUPT); /* still a breakpoint */
    CHECK_EQ(bpm_stats(r.bpm).writes_through, 1);
    CHECK_EQ(vm.mem[BP_PA + 0x10], 0x55);
    vm.mem[BP_PA + 0x10] = NOP;
    CHECK_STR(mock_residue(&vm), "");
    vmic_bpm_close(r.bpm);
    mock_vm_close(&vm);
}

static void guest_memory_tap(vmic_mock *m, void *arg)
{
    run_log *r = arg;
    STEP(r, vmic_mock_exec(m, 0, vmic_va(BP_VA)));
    STEP(r, vmic_mock_exec(m, 0, vmic_va(BP_VA + 4)));       /* same page, no breakpoint */
    STEP(r, vmic_mock_load(m, 0, vmic_va(CODE_VA + 0x40), vmic_va(BP_VA), 1, &r->loaded));
    STEP(r, vmic_mock_store(m, 0, vmic_va(CODE_VA + 0x40), vmic_va(DATA_VA), 8, 7));
}

static void test_memory_tap_hits(void)
{
    mock_vm vm;
    run_log r = {.vm = &vm};
    vmic_view_t own;
    size_t n;

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(open_bpm(&vm, VMIC_TAP_MEMORY, false, &r.bpm));
    vmic_breakpoint_t bp = bp_at(BP_VA);
    CHECK_OK(vmic_bpm_insert(r.bpm, &bp));
    CHECK(vmic_bpm_own_view(r.bpm, &own));
    CHECK_OK(run_guest(&r, guest_memory_tap));
    CHECK_GUEST(r.guest_status);
    const vmic_mock_record_t *rec = records(&vm, &n);
    CHECK_EQ(n, 2); /* the reads and writes raise none */
    for (size_t i = 0; i < 2; i++) {
        CHECK_EQ(rec[i].event.kind, VMIC_EVENT_MEMORY_ACCESS);
        CHECK_EQ(rec[i].event.memory.access, VMIC_ACCESS_X);
        CHECK_EQ(rec[i].event.view, own);
        CHECK_EQ(rec[i].response.action, VMIC_ACTION_FAST_SINGLESTEP);
        CHECK_EQ(rec[i].response.view, VMIC_VIEW_DEFAULT);
    }
    CHECK_EQ(rec[0].event.memory.va.addr, BP_VA);
    CHECK_EQ(rec[1].event.memory.va.addr, BP_VA + 4);
    CHECK_EQ(r.nhits, 1);
    CHECK_EQ(r.loaded, NOP);
    vmic_bpm_stats_t st = bpm_stats(r.bpm);
    CHECK_EQ(st.hits, 1);
    CHECK_EQ(st.passes, 1);
    CHECK_EQ(vmic_mock_stats(vm.mock).executed, 4);
    CHECK_EQ(vm.mem[DATA_PA], 7);
    CHECK_STR(mock_residue(&vm), "");
    vmic_bpm_close(r.bpm);
    mock_vm_close(&vm);
}

static void guest_hits_twice(vmic_mock *m, void *arg)
{
    run_log *r = arg;
    STEP(r, vmic_mock_exec(m, 0, vmic_va(BP_VA)));
    STEP(r, vmic_mock_exec(m, 0, vmic_va(BP_VA)));
}

/* A callback removes the breakpoint it hit: the second pass is untraced
 * and the vCPU ends in view 0 (its own view is gone). */
static void test_remove_in_hit(void)
{
    mock_vm vm;
    run_log r = {.vm = &vm, .remove_on_hit = true};
    size_t n;

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(open_bpm(&vm, VMIC_TAP_BREAKPOINT, false, &r.bpm));
    vmic_breakpoint_t bp = bp_at(BP_VA);
    CHECK_OK(vmic_bpm_insert(r.bpm, &bp));
    CHECK_OK(run_guest(&r, guest_hits_twice));
    CHECK_GUEST(r.guest_status);
    records(&vm, &n);
    CHECK_EQ(n, 1);
    CHECK_EQ(r.nhits, 1);
    CHECK_EQ(vmic_mock_stats(vm.mock).executed, 2);
    CHECK_STR(mock_residue(&vm), "");
    vmic_bpm_close(r.bpm);
    mock_vm_close(&vm);
}

/* ---- following the page tables ------------------------------------------------------------ */

#define DYN_BP (DYN_VA + 0x40)
#define DYN_PTE_VA (PT_VA + 8 * 2)

static bool active_at[4];
static uint64_t pa_at[4];

static void note_state(run_log *r, int i)
{
    vmic_bp_state_t st;
    if (vmic_bpm_get_by_address(r->bpm, vmic_pa(ROOT), vmic_va(DYN_BP), &st, 1) == 1) {
        active_at[i] = st.active;
        pa_at[i] = st.pa.addr;
    }
}

static void guest_maps(vmic_mock *m, void *arg)
{
    run_log *r = arg;
    vmic_va_t rip = vmic_va(CODE_VA + 0x80);
    STEP(r, vmic_mock_store(m, 0, rip, vmic_va(DYN_PTE_VA), 8, PTE(PAGE_A)));
    note_state(r, 0);
    STEP(r, vmic_mock_exec(m, 0, vmic_va(DYN_BP)));
    STEP(r, vmic_mock_store(m, 0, rip, vmic_va(DYN_PTE_VA), 8, PTE(PAGE_B)));
    note_state(r, 1);
    STEP(r, vmic_mock_exec(m, 0, vmic_va(DYN_BP)));
    STEP(r, vmic_mock_store(m, 0, rip, vmic_va(DYN_PTE_VA), 8, 0));
    note_state(r, 2);
    /* page_a through its other address: no breakpoint there any more */
    STEP(r, vmic_mock_exec(m, 0, vmic_va(CODE_VA + 0x40)));
}

static void follow(vmic_tap_kind kind)
{
    mock_vm vm;
    run_log r = {.vm = &vm};
    size_t n;

    memset(active_at, 0, sizeof active_at);
    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(open_bpm(&vm, kind, false, &r.bpm));
    vmic_breakpoint_t bp = bp_at(DYN_BP);
    CHECK_OK(vmic_bpm_insert(r.bpm, &bp));
    vmic_bp_state_t st;
    CHECK_EQ(vmic_bpm_list(r.bpm, &st, 1), 1);
    CHECK(!st.active); /* pending: DYN_VA is not mapped */
    CHECK_EQ(bpm_stats(r.bpm).taps, 0);
    CHECK_OK(run_guest(&r, guest_maps));
    CHECK_GUEST(r.guest_status);

    CHECK(active_at[0] && pa_at[0] == PAGE_A + 0x40);
    CHECK(active_at[1] && pa_at[1] == PAGE_B + 0x40);
    CHECK(!active_at[2]);
    CHECK_EQ(r.nhits, 2);
    CHECK_EQ(r.hits[0].pa.addr, PAGE_A + 0x40);
    CHECK_EQ(r.hits[1].pa.addr, PAGE_B + 0x40);
    CHECK_EQ(r.npages, 4);
    CHECK(r.pages[0].change == VMIC_PAGE_IN && r.pages[0].pa.addr == PAGE_A);
    CHECK(r.pages[1].change == VMIC_PAGE_OUT && r.pages[1].pa.addr == PAGE_A);
    CHECK(r.pages[2].change == VMIC_PAGE_IN && r.pages[2].pa.addr == PAGE_B);
    CHECK(r.pages[3].change == VMIC_PAGE_OUT && r.pages[3].pa.addr == PAGE_B);
    CHECK_EQ(r.pages[0].va.addr, DYN_VA);
    /* Each table write: the write event, Singlestep, then its single-step. */
    const vmic_mock_record_t *rec = records(&vm, &n);
    CHECK_EQ(n, 3 * 2 + 2);
    size_t writes = 0, steps = 0;
    for (size_t i = 0; i < n; i++) {
        if (rec[i].event.kind == VMIC_EVENT_MEMORY_ACCESS &&
            rec[i].event.memory.access == VMIC_ACCESS_W) {
            CHECK_EQ(rec[i].event.memory.gfn.num, PT >> 12);
            CHECK_EQ(rec[i].response.action, VMIC_ACTION_SINGLESTEP);
            CHECK(!rec[i].response.set_view);
            writes++;
        } else if (rec[i].event.kind == VMIC_EVENT_SINGLESTEP) {
            CHECK_EQ(rec[i].response.action, VMIC_ACTION_CONTINUE);
            steps++;
        }
    }
    CHECK_EQ(writes, 3);
    CHECK_EQ(steps, 3);
    /* The two hits, each as its controller makes them, each stepped over:
     * in view 0 for the views' controllers, by the driver for debug
     * registers (Continue). */
    vmic_event_kind hit_kind = kind == VMIC_TAP_BREAKPOINT ? VMIC_EVENT_INTERRUPT
                               : kind == VMIC_TAP_MEMORY   ? VMIC_EVENT_MEMORY_ACCESS
                                                           : VMIC_EVENT_BREAKPOINT;
    size_t hit_events = 0;
    for (size_t i = 0; i < n; i++) {
        if (rec[i].event.kind != hit_kind ||
            (hit_kind == VMIC_EVENT_MEMORY_ACCESS && rec[i].event.memory.access != VMIC_ACCESS_X))
            continue;
        hit_events++;
        CHECK_EQ(rec[i].event.regs.rip, DYN_BP);
        if (kind == VMIC_TAP_DEBUGREG) {
            CHECK_EQ(rec[i].response.action, VMIC_ACTION_CONTINUE);
            CHECK_EQ(rec[i].event.breakpoint.va.addr, DYN_BP);
        } else {
            CHECK_EQ(rec[i].response.action, VMIC_ACTION_FAST_SINGLESTEP);
            CHECK_EQ(rec[i].response.view, VMIC_VIEW_DEFAULT);
        }
    }
    CHECK_EQ(hit_events, 2);
    vmic_bpm_stats_t bs = bpm_stats(r.bpm);
    CHECK_EQ(bs.table_writes, 3);
    CHECK_EQ(bs.page_ins, 2);
    CHECK_EQ(bs.page_outs, 2);
    CHECK_EQ(bs.hits, 2);
    CHECK_EQ(vm.mem[PT + 16], 0); /* the guest's writes landed */
    CHECK_STR(mock_residue(&vm), "");
    vmic_bpm_close(r.bpm);
    mock_vm_close(&vm);
}

static void test_breakpoint_tap_follows(void)
{
    follow(VMIC_TAP_BREAKPOINT);
}

static void test_memory_tap_follows(void)
{
    follow(VMIC_TAP_MEMORY);
}

static void test_debugreg_tap_follows(void)
{
    follow(VMIC_TAP_DEBUGREG);
}

/* ---- injected faults ---------------------------------------------------------------- */

/*
 * Each call of `op` that an insert makes fails in turn: the insert fails
 * with the injected status and leaves nothing behind; then an insert that
 * makes fewer calls than the fault waits for succeeds and is removed clean.
 */
static void sweep(vmic_tap_kind kind, vmic_mock_op op, bool copy_only)
{
    mock_vm vm;
    vmic_bpm *bpm;
    vmic_mock_options_t opt = {.copy_only = copy_only};
    int failures = 0;

    CHECK_OK(mock_vm_open(&vm, &opt));
    CHECK_OK(open_bpm(&vm, kind, false, &bpm));
    vmic_breakpoint_t bp = bp_at(BP_VA);
    for (uint32_t after = 0; after < 64; after++) {
        vmic_flush_page_cache(vm.core); /* every read reaches the driver */
        vmic_flush_tlb(vm.core);
        uint64_t before = vmic_mock_calls(vm.mock, op);
        vmic_mock_fail(vm.mock, op, after, VMIC_E_IO);
        vmic_status s = vmic_bpm_insert(bpm, &bp);
        bool fired = vmic_mock_calls(vm.mock, op) - before > after;
        vmic_mock_fail(vm.mock, op, UINT32_MAX, VMIC_E_IO); /* disarmed */
        if (fired) {
            CHECK_MSG(s == VMIC_E_IO, "call %u of op %d failed, yet the insert gave %s", after,
                      (int)op, vmic_status_name(s));
            CHECK_ERRMSG("fails as the test asked");
            CHECK_EQ(vmic_bpm_list(bpm, NULL, 0), 0);
            CHECK_MSG(!mock_residue(&vm)[0], "after failing call %u of op %d: %s", after,
                      (int)op, mock_residue(&vm));
            failures++;
            continue;
        }
        CHECK_OK(s);
        CHECK_OK(vmic_bpm_remove(bpm, &bp));
        CHECK_MSG(!mock_residue(&vm)[0], "after the insert: %s", mock_residue(&vm));
        break;
    }
    CHECK_MSG(failures > 0, "the insert never called op %d", (int)op);
    vmic_bpm_close(bpm);
    mock_vm_close(&vm);
}

static void test_faults_breakpoint_tap(void)
{
    static const vmic_mock_op ops[] = {VMIC_MOCK_SET_ACCESS, VMIC_MOCK_SWITCH_VIEW,
                                       VMIC_MOCK_CREATE_VIEW, VMIC_MOCK_REMAP,
                                       VMIC_MOCK_ALLOC_GFN, VMIC_MOCK_MONITOR};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0] && !harness_current_failed; i++)
        sweep(VMIC_TAP_BREAKPOINT, ops[i], false);
    sweep(VMIC_TAP_BREAKPOINT, VMIC_MOCK_WRITE, true);
}

/* A read of the page to shadow fails (copy_only: the core asks the
 * driver): the insert fails with it and nothing stays. (A failing read of a
 * page table is not an error today: the walker's table reader cannot tell
 * it from a table outside memory, so the breakpoint stays pending.) */
static void test_shadow_read_fails(void)
{
    mock_vm vm;
    vmic_bpm *bpm;
    vmic_mock_options_t opt = {.copy_only = true};

    CHECK_OK(mock_vm_open(&vm, &opt));
    CHECK_OK(open_bpm(&vm, VMIC_TAP_BREAKPOINT, false, &bpm));
    vmic_breakpoint_t bp = bp_at(BP_VA);
    vmic_mock_fail_at(vm.mock, VMIC_MOCK_READ, vmic_gfn(PAGE_A >> 12), VMIC_E_IO);
    CHECK_ERR(vmic_bpm_insert(bpm, &bp), VMIC_E_IO);
    CHECK_ERRMSG("read (physical memory) fails as the test asked");
    CHECK_EQ(vmic_bpm_list(bpm, NULL, 0), 0);
    CHECK_STR(mock_residue(&vm), "");
    /* The fault was once: the same insert works now. */
    CHECK_OK(vmic_bpm_insert(bpm, &bp));
    CHECK_OK(vmic_bpm_remove(bpm, &bp));
    CHECK_STR(mock_residue(&vm), "");
    vmic_bpm_close(bpm);
    mock_vm_close(&vm);
}

/* set_access fails on the code page's guard, after the tables' protection
 * and the shadow are in place: all of those are undone. */
static void test_guard_fails(void)
{
    mock_vm vm;
    vmic_bpm *bpm;

    CHECK_OK(mock_vm_open(&vm, NULL));
    CHECK_OK(open_bpm(&vm, VMIC_TAP_BREAKPOINT, false, &bpm));
    vmic_breakpoint_t bp = bp_at(BP_VA);
    vmic_mock_fail_at(vm.mock, VMIC_MOCK_SET_ACCESS, vmic_gfn(PAGE_A >> 12), VMIC_E_IO);
    CHECK_ERR(vmic_bpm_insert(bpm, &bp), VMIC_E_IO);
    CHECK_ERRMSG("set_access (page access) fails as the test asked");
    CHECK_EQ(bpm_stats(bpm).taps, 0);
    CHECK_EQ(bpm_stats(bpm).activations, 0);
    CHECK_STR(mock_residue(&vm), "");
    vmic_bpm_close(bpm);
    mock_vm_close(&vm);
}

static void test_faults_memory_tap(void)
{
    static const vmic_mock_op ops[] = {VMIC_MOCK_SET_ACCESS, VMIC_MOCK_SWITCH_VIEW,
                                       VMIC_MOCK_CREATE_VIEW};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0] && !harness_current_failed; i++)
        sweep(VMIC_TAP_MEMORY, ops[i], false);
}

/* Removal fails to give a page its access back (the driver refuses): on
 * the code page's guard, on a page table, on the root. The removal says so,
 * the breakpoint is gone all the same, and the session's end (the driver's
 * reset) takes away what the failure left. */
static void test_remove_fails(void)
{
    static const uint64_t gfns[] = {PAGE_A >> 12, PT >> 12, ROOT >> 12};
    for (size_t k = 0; k < 3; k++) {
        mock_vm vm;
        run_log r = {.vm = &vm};
        CHECK_OK(mock_vm_open(&vm, NULL));
        CHECK_OK(open_bpm(&vm, VMIC_TAP_BREAKPOINT, false, &r.bpm));
        vmic_breakpoint_t bp = bp_at(BP_VA);
        CHECK_OK(vmic_bpm_insert(r.bpm, &bp));
        vmic_mock_fail_at(vm.mock, VMIC_MOCK_SET_ACCESS, vmic_gfn(gfns[k]), VMIC_E_IO);
        vmic_status s = vmic_bpm_remove(r.bpm, &bp);
        CHECK_MSG(s == VMIC_E_IO, "gfn 0x%llx: the removal gave %s",
                  (unsigned long long)gfns[k], vmic_status_name(s));
        CHECK_EQ(vmic_bpm_list(r.bpm, NULL, 0), 0);
        CHECK_EQ(bpm_stats(r.bpm).taps, 0);
        vmic_mock_set_guest(vm.mock, NULL, NULL); /* a session that ends at once */
        vmic_bpm_handler_t bh = {.on_hit = on_hit, .arg = &r};
        CHECK_OK(vmic_bpm_run(r.bpm, &bh, 0));
        CHECK_MSG(!mock_residue(&vm)[0], "gfn 0x%llx: after the session: %s",
                  (unsigned long long)gfns[k], mock_residue(&vm));
        vmic_bpm_close(r.bpm);
        mock_vm_close(&vm);
    }
}

int main(void)
{
    RUN(test_shadow_in_place);
    RUN(test_memory_tap_in_place);
    RUN(test_bookkeeping);
    RUN(test_breakpoint_hit);
    RUN(test_visible_shadow);
    RUN(test_write_through);
    RUN(test_memory_tap_hits);
    RUN(test_remove_in_hit);
    RUN(test_breakpoint_tap_follows);
    RUN(test_memory_tap_follows);
    RUN(test_debugreg_tap_follows);
    RUN(test_faults_breakpoint_tap);
    RUN(test_faults_memory_tap);
    RUN(test_shadow_read_fails);
    RUN(test_guard_fails);
    RUN(test_remove_fails);
    return HARNESS_RESULT();
}
