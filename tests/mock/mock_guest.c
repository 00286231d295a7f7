/*
 * The guest's instructions: a fetch, a load or a store by one vCPU, run
 * against the vCPU's view the way a hardware vCPU under EPT runs them. What
 * the view forbids, and an INT3 under the INT3 monitor, stop the vCPU with
 * an event; the response decides how the instruction goes on (the table in
 * vmic_mock.h). Continue and Singlestep let a trapped access proceed (the
 * seed's Continue: "allowing the trapped instruction to proceed"); after an
 * INT3 they leave RIP on it, so it runs again. Instructions are one byte
 * long: the next one is at rip + 1.
 */
#include <string.h>

#include "mock_internal.h"

#define INT3 0xcc
#define INSN_LEN 1

typedef enum insn_kind { INSN_EXEC, INSN_LOAD, INSN_STORE } insn_kind;

typedef struct insn {
    insn_kind kind;
    vmic_vcpu_t vcpu;
    uint64_t rip;
    uint64_t va;             /* exec: rip */
    uint8_t size;
    uint64_t value;          /* store: written; load: read */
    bool past_hw;            /* its debug-register breakpoint was reported */
} insn;

/* How an instruction fares in a view. */
typedef enum outcome {
    RUNS = 0,                /* nothing stops it */
    STOPS_HW,                /* a debug-register breakpoint at its va */
    STOPS_ACCESS,            /* the view forbids the access */
    STOPS_INT3,              /* an INT3 under the monitor */
    GUEST_INT3,              /* an INT3 nobody monitors: the guest's #BP handler */
} outcome;

static vmic_access_t needed(const insn *i)
{
    return i->kind == INSN_EXEC ? VMIC_ACCESS_X : i->kind == INSN_LOAD ? VMIC_ACCESS_R
                                                                       : VMIC_ACCESS_W;
}

static uint8_t *host_of(vmic_mock *m, vmic_view_t view, uint64_t pa)
{
    uint64_t frame = mock_frame(m, view, pa >> VMIC_PAGE_SHIFT);
    return m->bytes + frame * VMIC_PAGE_SIZE + vmic_page_offset(pa);
}

static vmic_status judge(vmic_mock *m, const insn *i, vmic_view_t view, uint64_t *pa,
                         outcome *out)
{
    uint64_t cr3 = m->vcpus[i->vcpu].regs.cr3;
    if (!mock_translate(m, view, cr3, i->va, pa))
        return vmic_fail(VMIC_E_UNMAPPED, "mock: va 0x%llx does not translate in view %u "
                         "(cr3 0x%llx)", (unsigned long long)i->va, view,
                         (unsigned long long)cr3);
    if (i->kind != INSN_EXEC && vmic_page_offset(*pa) + i->size > VMIC_PAGE_SIZE)
        return vmic_fail(VMIC_E_INVAL, "mock: an access across pages is not modelled");
    if (i->kind == INSN_EXEC && !i->past_hw && mock_hw_slot(m, i->va) >= 0)
        *out = STOPS_HW; /* an instruction breakpoint comes before the fetch */
    else if (!(mock_access(m, view, *pa >> VMIC_PAGE_SHIFT) & needed(i)))
        *out = STOPS_ACCESS;
    else if (i->kind == INSN_EXEC && *host_of(m, view, *pa) == INT3)
        *out = m->int3_monitor ? STOPS_INT3 : GUEST_INT3;
    else
        *out = RUNS;
    return VMIC_OK;
}

/* Its effect, in view (access not checked: Emulate and the steps come here). */
static void perform(vmic_mock *m, insn *i, vmic_view_t view, uint64_t pa)
{
    if (i->kind == INSN_LOAD) {
        i->value = 0;
        memcpy(&i->value, host_of(m, view, pa), i->size);
    } else if (i->kind == INSN_STORE) {
        memcpy(host_of(m, view, pa), &i->value, i->size);
    }
}

static vmic_event_t event_of(const vmic_mock *m, const insn *i, outcome o, uint64_t pa)
{
    vmic_event_t ev = {.vcpu = i->vcpu};
    ev.regs.rip = i->rip;
    if (o == STOPS_HW) {
        ev.kind = VMIC_EVENT_BREAKPOINT;
        ev.breakpoint.va = vmic_va(i->va);
        ev.breakpoint.pa = vmic_pa(pa);
        ev.breakpoint.slot = (uint8_t)mock_hw_slot(m, i->va);
        return ev;
    }
    if (o == STOPS_INT3) {
        ev.kind = VMIC_EVENT_INTERRUPT;
        ev.interrupt.vector = 3;
        ev.interrupt.type = VMIC_INTR_SW_EXCEPTION;
        ev.interrupt.insn_len = INSN_LEN;
        ev.interrupt.pa = vmic_pa(pa);
        return ev;
    }
    ev.kind = VMIC_EVENT_MEMORY_ACCESS;
    ev.memory.pa = vmic_pa(pa);
    ev.memory.gfn = vmic_pa_to_gfn(vmic_pa(pa));
    ev.memory.va = vmic_va(i->va);
    ev.memory.va_valid = true;
    ev.memory.access = needed(i);
    ev.memory.size = i->kind == INSN_EXEC ? 0 : i->size;
    ev.memory.value = i->kind == INSN_STORE ? i->value : 0;
    return ev;
}

/* The instruction is done: RIP moves on, and a single-step asked for is
 * reported at the next instruction. */
static vmic_status complete(vmic_mock *m, const insn *i)
{
    mock_vcpu *c = &m->vcpus[i->vcpu];
    m->stats.executed++;
    c->regs.rip = i->rip + INSN_LEN;
    if (!c->step)
        return VMIC_OK;
    c->step = false;
    vmic_event_t ev = {.kind = VMIC_EVENT_SINGLESTEP, .vcpu = i->vcpu};
    uint64_t next = 0;
    ev.regs.rip = i->rip + INSN_LEN;
    if (mock_translate(m, c->view, c->regs.cr3, ev.regs.rip, &next))
        ev.singlestep.pa = vmic_pa(next);
    vmic_event_response_t resp;
    vmic_status s = mock_deliver(m, &ev, &resp);
    if (s)
        return s;
    if (resp.set_view)
        mock_move_vcpu(m, c, resp.view);
    c->step = resp.action == VMIC_ACTION_SINGLESTEP;
    return VMIC_OK;
}

/* FastSinglestep: once in the step view, then back, with no event. */
static vmic_status fast_step(vmic_mock *m, insn *i, vmic_view_t back, vmic_view_t step)
{
    mock_vcpu *c = &m->vcpus[i->vcpu];
    uint64_t pa;
    outcome o;
    vmic_status s = judge(m, i, step, &pa, &o);
    if (s)
        return s;
    if (o != RUNS && o != GUEST_INT3)
        return vmic_fail(VMIC_E_INTERNAL, "mock: FastSinglestep into view %u stops again at "
                         "va 0x%llx", step, (unsigned long long)i->va);
    if (o == GUEST_INT3)
        m->stats.guest_int3s++;
    perform(m, i, step, pa);
    mock_move_vcpu(m, c, back); /* back to the event's view, if it still exists */
    m->stats.executed++;
    c->regs.rip = i->rip + INSN_LEN;
    return VMIC_OK;
}

/* Continue or Singlestep on an access the view forbids: the trapped access
 * proceeds (in the view the response chose), as the seed says. */
static vmic_status proceed(vmic_mock *m, insn *i, vmic_view_t view)
{
    uint64_t pa;
    if (!mock_translate(m, view, m->vcpus[i->vcpu].regs.cr3, i->va, &pa))
        return vmic_fail(VMIC_E_UNMAPPED, "mock: va 0x%llx does not translate in view %u",
                         (unsigned long long)i->va, view);
    perform(m, i, view, pa);
    return complete(m, i);
}

static vmic_status run(vmic_mock *m, insn *i)
{
    mock_vcpu *c = &m->vcpus[i->vcpu];
    for (int tries = 0; tries <= MOCK_RETRIES; tries++) {
        if (!mock_guest_may_run(m))
            return vmic_fail(VMIC_E_INTERRUPTED, "mock: the guest was stopped");
        vmic_view_t view = c->view;
        uint64_t pa;
        outcome o;
        vmic_status s = judge(m, i, view, &pa, &o);
        if (s)
            return s;
        if (o == RUNS || o == GUEST_INT3) {
            if (o == GUEST_INT3)
                m->stats.guest_int3s++;
            perform(m, i, view, pa);
            return complete(m, i);
        }
        vmic_event_t ev = event_of(m, i, o, pa);
        vmic_event_response_t resp;
        if ((s = mock_deliver(m, &ev, &resp)))
            return s;
        vmic_view_t next = resp.set_view ? resp.view : view;
        if (resp.set_regs && resp.regs.rip != i->rip) {
            /* The handler sent the vCPU elsewhere: this instruction never runs. */
            mock_move_vcpu(m, c, next);
            return VMIC_OK;
        }
        switch (resp.action) {
        case VMIC_ACTION_CONTINUE:
        case VMIC_ACTION_SINGLESTEP:
            mock_move_vcpu(m, c, next);
            /* A step asked for before stays asked for (the monitor trap
             * flag is still set). */
            c->step = c->step || resp.action == VMIC_ACTION_SINGLESTEP;
            if (o == STOPS_HW) {
                i->past_hw = true; /* the driver steps over with that slot off */
                continue;
            }
            if (o == STOPS_INT3)
                continue; /* RIP is still at the INT3: it runs again */
            return proceed(m, i, next);
        case VMIC_ACTION_FAST_SINGLESTEP:
            i->past_hw = true;
            return fast_step(m, i, view, next);
        case VMIC_ACTION_EMULATE:
            m->stats.emulated++;
            perform(m, i, view, pa);
            mock_move_vcpu(m, c, next);
            return complete(m, i);
        case VMIC_ACTION_DENY:
            m->stats.denied++;
            mock_move_vcpu(m, c, next);
            return complete(m, i);
        case VMIC_ACTION_REINJECT_INTERRUPT:
            m->stats.guest_int3s++;
            mock_move_vcpu(m, c, next);
            return complete(m, i);
        }
        return vmic_fail(VMIC_E_INVAL, "mock: no action %d", (int)resp.action);
    }
    return vmic_fail(VMIC_E_TIMEOUT, "mock: vCPU %u is stuck at va 0x%llx: %d responses let "
                     "it run an INT3 again", i->vcpu,
                     (unsigned long long)i->va, MOCK_RETRIES + 1);
}

static vmic_status run_locked(vmic_mock *m, insn *i)
{
    if (i->vcpu >= m->opt.vcpus)
        return vmic_fail(VMIC_E_INVAL, "mock: no vCPU %u", i->vcpu);
    if (i->kind != INSN_EXEC && (i->size == 0 || i->size > 8))
        return vmic_fail(VMIC_E_INVAL, "mock: accesses are 1 to 8 bytes, not %u", i->size);
    mock_lock(m);
    vmic_status s = run(m, i);
    mock_unlock(m);
    return s;
}

vmic_status vmic_mock_exec(vmic_mock *m, vmic_vcpu_t vcpu, vmic_va_t va)
{
    insn i = {.kind = INSN_EXEC, .vcpu = vcpu, .rip = va.addr, .va = va.addr};
    return run_locked(m, &i);
}

vmic_status vmic_mock_load(vmic_mock *m, vmic_vcpu_t vcpu, vmic_va_t rip, vmic_va_t va,
                           uint8_t size, uint64_t *value)
{
    insn i = {.kind = INSN_LOAD, .vcpu = vcpu, .rip = rip.addr, .va = va.addr, .size = size};
    vmic_status s = run_locked(m, &i);
    if (s == VMIC_OK && value)
        *value = i.value;
    return s;
}

vmic_status vmic_mock_store(vmic_mock *m, vmic_vcpu_t vcpu, vmic_va_t rip, vmic_va_t va,
                            uint8_t size, uint64_t value)
{
    insn i = {.kind = INSN_STORE, .vcpu = vcpu, .rip = rip.addr, .va = va.addr, .size = size,
              .value = value};
    return run_locked(m, &i);
}

vmic_status vmic_mock_inject(vmic_mock *m, const vmic_event_t *ev, vmic_event_response_t *resp)
{
    if (ev->vcpu >= m->opt.vcpus)
        return vmic_fail(VMIC_E_INVAL, "mock: no vCPU %u", ev->vcpu);
    mock_lock(m);
    mock_vcpu *c = &m->vcpus[ev->vcpu];
    vmic_event_t e = *ev;
    vmic_event_response_t r;
    if (!e.regs.rip)
        e.regs.rip = c->regs.rip;
    vmic_status s = mock_guest_may_run(m) ? mock_deliver(m, &e, &r)
                                          : vmic_fail(VMIC_E_INTERRUPTED, "mock: stopped");
    if (s == VMIC_OK) {
        if (r.set_view)
            mock_move_vcpu(m, c, r.view);
        c->step = c->step || r.action == VMIC_ACTION_SINGLESTEP;
        if (resp)
            *resp = r;
    }
    mock_unlock(m);
    return s;
}
