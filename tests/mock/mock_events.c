/*
 * The mock's events: a sink attaches, the guest function starts on a vCPU
 * thread of the mock's; the sink detaches, the thread is told to stop and
 * joined. Pausing parks the guest between instructions: the session pauses
 * it before it undoes what it changed, so that the guest never runs
 * against half-restored views (a vCPU inside the sink counts as stopped, as
 * a real vCPU at an event does).
 */
#include <stdlib.h>
#include <string.h>

#include "mock_internal.h"

static void *guest_thread(void *arg)
{
    vmic_mock *m = arg;
    m->guest(m, m->guest_arg);
    mock_lock(m);
    m->state = VMIC_GUEST_EXITED;
    vmic_event_sink_t sink = m->sink;
    bool tell = m->attached && !m->detaching;
    mock_unlock(m);
    if (tell && sink.guest_stopped)
        sink.guest_stopped(sink.ctx);
    return NULL;
}

static void stop_thread(vmic_mock *m)
{
    mock_lock(m);
    m->detaching = true;
    pthread_cond_broadcast(&m->cond);
    bool live = m->thread_live;
    m->thread_live = false;
    mock_unlock(m);
    if (live)
        pthread_join(m->thread, NULL);
    mock_lock(m);
    m->attached = false;
    m->detaching = false;
    memset(&m->sink, 0, sizeof m->sink);
    mock_unlock(m);
}

vmic_status mock_attach_events(vmic_driver *d, const vmic_event_sink_t *sink)
{
    vmic_mock *m = mock_from(d);
    if (!sink) {
        stop_thread(m);
        return VMIC_OK;
    }
    mock_lock(m);
    if (m->attached) {
        mock_unlock(m);
        return vmic_fail(VMIC_E_BUSY, "mock: a sink is attached already");
    }
    m->sink = *sink;
    m->attached = true;
    m->paused = false;
    if (!m->guest) {
        m->state = VMIC_GUEST_EXITED; /* nothing to run: the session ends at once */
        mock_unlock(m);
        return VMIC_OK;
    }
    m->state = VMIC_GUEST_RUNNING;
    if (pthread_create(&m->thread, NULL, guest_thread, m)) {
        m->attached = false;
        m->state = VMIC_GUEST_FAILED;
        mock_unlock(m);
        return vmic_fail(VMIC_E_IO, "mock: cannot start the vCPU thread");
    }
    m->thread_live = true;
    mock_unlock(m);
    return VMIC_OK;
}

void mock_events_free(vmic_mock *m)
{
    stop_thread(m);
}

void vmic_mock_set_guest(vmic_mock *m, vmic_mock_guest_fn fn, void *arg)
{
    mock_lock(m);
    m->guest = fn;
    m->guest_arg = arg;
    m->state = VMIC_GUEST_PAUSED;
    mock_unlock(m);
}

vmic_status mock_pause(vmic_driver *d)
{
    vmic_mock *m = mock_from(d);
    mock_lock(m); /* held by the guest while it executes: it is between instructions now */
    m->paused = true;
    if (m->state == VMIC_GUEST_RUNNING)
        m->state = VMIC_GUEST_PAUSED;
    mock_unlock(m);
    return VMIC_OK;
}

vmic_status mock_resume(vmic_driver *d)
{
    vmic_mock *m = mock_from(d);
    mock_lock(m);
    m->paused = false;
    if (m->state == VMIC_GUEST_PAUSED && m->thread_live)
        m->state = VMIC_GUEST_RUNNING;
    pthread_cond_broadcast(&m->cond);
    mock_unlock(m);
    return VMIC_OK;
}

bool mock_guest_may_run(vmic_mock *m)
{
    while (m->paused && !m->detaching)
        pthread_cond_wait(&m->cond, &m->mu);
    return m->attached && !m->detaching;
}

vmic_status mock_guest_state(vmic_driver *d, vmic_guest_state_t *st)
{
    vmic_mock *m = mock_from(d);
    mock_lock(m);
    memset(st, 0, sizeof *st);
    st->state = m->state;
    mock_unlock(m);
    return VMIC_OK;
}

vmic_status mock_monitor(vmic_driver *d, const vmic_monitor_t *mon, bool enable)
{
    vmic_mock *m = mock_from(d);
    if (mon->kind != VMIC_MONITOR_INTERRUPT || mon->vector != 3)
        return vmic_fail(VMIC_E_UNSUPPORTED, "mock: only INT3 can be monitored");
    mock_lock(m);
    vmic_status s = mock_fault_check(m, VMIC_MOCK_MONITOR, MOCK_NO_GFN, 0, "INT3");
    if (s == VMIC_OK)
        m->int3_monitor = enable;
    mock_unlock(m);
    return s;
}

int mock_hw_slot(const vmic_mock *m, uint64_t va)
{
    for (int i = 0; i < MOCK_HW_SLOTS; i++)
        if (m->hw_used[i] && m->hw_va[i] == va)
            return i;
    return -1;
}

vmic_status mock_set_hw_breakpoint(vmic_driver *d, vmic_va_t va, bool enable)
{
    vmic_mock *m = mock_from(d);
    vmic_status s = VMIC_OK;
    mock_lock(m);
    int slot = mock_hw_slot(m, va.addr);
    if (!enable && slot < 0)
        s = vmic_fail(VMIC_E_NOTFOUND, "mock: no debug-register breakpoint at va 0x%llx",
                      (unsigned long long)va.addr);
    else if (!enable)
        m->hw_used[slot] = false;
    else if (slot < 0) {
        for (slot = 0; slot < MOCK_HW_SLOTS && m->hw_used[slot]; slot++)
            ;
        if (slot == MOCK_HW_SLOTS)
            s = vmic_fail(VMIC_E_RANGE, "mock: all %d debug registers are in use",
                          MOCK_HW_SLOTS);
        else {
            m->hw_used[slot] = true;
            m->hw_va[slot] = va.addr;
        }
    }
    mock_unlock(m);
    return s;
}

vmic_status mock_reset_events(vmic_driver *d)
{
    vmic_mock *m = mock_from(d);
    mock_lock(m);
    mock_views_reset(m);
    memset(m->hw_used, 0, sizeof m->hw_used);
    m->int3_monitor = false;
    for (size_t i = 0; i < MOCK_MAX_VCPUS; i++)
        m->vcpus[i].step = false;
    mock_unlock(m);
    return VMIC_OK;
}

vmic_status mock_check_response(vmic_driver *d, const vmic_event_t *ev,
                                const vmic_event_response_t *resp)
{
    vmic_mock *m = mock_from(d);
    if ((unsigned)resp->action > VMIC_ACTION_EMULATE)
        return vmic_fail(VMIC_E_INVAL, "mock: no action %d", (int)resp->action);
    if (resp->action == VMIC_ACTION_REINJECT_INTERRUPT && ev->kind != VMIC_EVENT_INTERRUPT)
        return vmic_fail(VMIC_E_UNSUPPORTED, "mock: ReinjectInterrupt answers an interrupt, "
                         "not a %s event", vmic_event_kind_name(ev->kind));
    if (resp->action == VMIC_ACTION_EMULATE && ev->kind != VMIC_EVENT_MEMORY_ACCESS)
        return vmic_fail(VMIC_E_UNSUPPORTED, "mock: Emulate answers a memory access, not a "
                         "%s event", vmic_event_kind_name(ev->kind));
    if (!resp->set_view)
        return VMIC_OK;
    mock_lock(m);
    vmic_status s = mock_view_live(m, resp->view);
    mock_unlock(m);
    return s;
}

vmic_status mock_deliver(vmic_mock *m, vmic_event_t *ev, vmic_event_response_t *resp)
{
    mock_vcpu *c = &m->vcpus[ev->vcpu];
    uint64_t rip = ev->regs.rip;

    if (!m->attached || m->detaching)
        return vmic_fail(VMIC_E_INTERRUPTED, "mock: no session takes events");
    if (m->nrecords == m->cap_records) {
        size_t cap = m->cap_records ? 2 * m->cap_records : 32;
        vmic_mock_record_t *r = realloc(m->records, cap * sizeof *r);
        if (!r)
            return vmic_fail(VMIC_E_NOMEM, "mock: no memory for the record of events");
        m->records = r;
        m->cap_records = cap;
    }
    ev->seq = ++m->seq;
    ev->view = c->view;
    ev->regs = c->regs;
    ev->regs.rip = rip;
    memset(resp, 0, sizeof *resp);
    resp->action = VMIC_ACTION_CONTINUE;
    vmic_event_sink_t sink = m->sink;

    mock_unlock(m);
    bool taken = sink.deliver(sink.ctx, ev, resp);
    mock_lock(m);

    /* Only events a handler answered are records: one the session refused
     * (it is ending) has no response. */
    m->stats.events += taken;
    if (taken)
        m->records[m->nrecords++] = (vmic_mock_record_t){.event = *ev, .response = *resp};
    else
        m->stats.refused++;
    /* A vCPU stopped at an event stays stopped while the guest is paused:
     * the session's end pauses it, undoes everything, and detaches. */
    if (!taken || !mock_guest_may_run(m))
        return vmic_fail(VMIC_E_INTERRUPTED, "mock: the session stopped taking events");
    if (resp->set_regs)
        c->regs = resp->regs;
    return VMIC_OK;
}
