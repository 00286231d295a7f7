/*
 * The canonical handling of the events a breakpoint manager causes (the
 * table is in utils.h), so that a tool writes only its callbacks. Work that
 * must wait until an instruction has completed -- walking the page tables
 * after a write to them, copying a shadow page after a write to its original
 * -- is owed to the writing vCPU (bpm_pending) and done at its single-step.
 */
#include <stdlib.h>

#include "utils_internal.h"

#define HITS_ON_STACK 16

typedef struct page_ctx {
    vmic_bpm *bpm;
    const vmic_bpm_handler_t *h;
} page_ctx;

static void page_changed(const vmic_page_event_t *pe, void *arg)
{
    page_ctx *c = arg;
    bpm_page_changed(c->bpm, pe);
    if (c->h->on_page)
        c->h->on_page(c->bpm, pe, c->h->arg);
}

/* The single-step a write asked for: the write is done now. */
static vmic_status finish_step(vmic_bpm *b, const vmic_bpm_handler_t *h, const vmic_event_t *ev,
                               bpm_pending *p, vmic_event_response_t *resp)
{
    vmic_status s = VMIC_OK;
    resp->action = VMIC_ACTION_CONTINUE;
    if (p->tables) {
        page_ctx c = {b, h};
        p->tables = false;
        s = vmic_ptm_process(bpm_ptm(b), ev->vcpu, page_changed, &c);
    }
    if (p->resync) {
        vmic_tap *tap = vmic_bpm_tap(b);
        p->resync = false;
        vmic_status r = tap->ops->resync(tap, p->view, p->gfn);
        if (s == VMIC_OK)
            s = r;
        resp->set_view = true; /* back from view 0, where the write went */
        resp->view = p->view;
    }
    return s;
}

/* A write: to a watched page table, to a shadowed page, both, or neither. */
static bool write_event(vmic_bpm *b, const vmic_event_t *ev, bpm_pending *p,
                        vmic_event_response_t *resp)
{
    vmic_tap *tap = vmic_bpm_tap(b);
    vmic_bpm_stats_t *st = bpm_stats_ref(b);
    bool table = bpm_ptm(b) && vmic_ptm_mark_dirty(bpm_ptm(b), ev);
    tap_access a = tap->ops->page_access ? tap->ops->page_access(tap, ev, resp) : TAP_ACCESS_NONE;

    if (table) {
        st->table_writes++;
        p->tables = true;
        if (a == TAP_ACCESS_NONE)
            resp->action = VMIC_ACTION_SINGLESTEP; /* the write completes, then we look */
    }
    if (a == TAP_ACCESS_WRITE_THROUGH) {
        st->writes_through++;
        p->resync = true;
        p->view = ev->view;
        p->gfn = ev->memory.gfn;
    }
    return table || a != TAP_ACCESS_NONE;
}

/* An event of the controller's: a hit, or another instruction on a tapped
 * page. Either way the vCPU is stepped over the tap. */
static vmic_status tap_event(vmic_bpm *b, const vmic_bpm_handler_t *h, const vmic_event_t *ev,
                             vmic_event_response_t *resp)
{
    vmic_tap *tap = vmic_bpm_tap(b);
    vmic_bp_state_t buf[HITS_ON_STACK], *hits = buf;
    vmic_status s;

    tap->ops->step_over(tap, ev, resp);
    size_t n = vmic_bpm_get_by_event(b, ev, buf, HITS_ON_STACK);
    if (n == 0) {
        bpm_stats_ref(b)->passes++;
        return VMIC_OK;
    }
    if (n > HITS_ON_STACK) {
        if (!(hits = malloc(n * sizeof *hits)))
            return vmic_fail(VMIC_E_NOMEM, "no memory for %zu breakpoint hits", n);
        n = vmic_bpm_get_by_event(b, ev, hits, n);
    }
    bpm_stats_ref(b)->hits++;
    s = h->on_hit(b, ev, hits, n, resp, h->arg);
    if (resp->set_regs && (resp->regs.valid & VMIC_REGS_GPR) && resp->regs.rip != ev->regs.rip) {
        /* The callback sent the vCPU elsewhere: there is nothing to step over. */
        resp->action = VMIC_ACTION_CONTINUE;
        resp->set_view = false;
    }
    if (hits != buf)
        free(hits);
    return s;
}

vmic_status vmic_bpm_dispatch(vmic_bpm *b, const vmic_bpm_handler_t *h, const vmic_event_t *ev,
                              vmic_event_response_t *resp)
{
    vmic_tap *tap = vmic_bpm_tap(b);
    bpm_pending *p = bpm_pending_of(b, ev->vcpu);
    vmic_view_t view;
    vmic_gfn_t gfn;

    if (!h || !h->on_hit)
        return vmic_fail(VMIC_E_INVAL, "vmic_bpm_dispatch: the handler needs on_hit");
    if (ev->kind == VMIC_EVENT_SINGLESTEP && p && (p->tables || p->resync))
        return finish_step(b, h, ev, p, resp);
    if (ev->kind == VMIC_EVENT_MEMORY_ACCESS && ev->memory.access == VMIC_ACCESS_W && p &&
        write_event(b, ev, p, resp))
        return VMIC_OK;
    if (vmic_tap_check_event(tap, ev, &view, &gfn))
        return tap_event(b, h, ev, resp);
    if (ev->kind == VMIC_EVENT_MEMORY_ACCESS && tap->ops->page_access &&
        tap->ops->page_access(tap, ev, resp) == TAP_ACCESS_SERVED) {
        bpm_stats_ref(b)->reads_served++;
        return VMIC_OK;
    }
    /* An INT3 nobody here placed is the guest's own. */
    if (ev->kind == VMIC_EVENT_INTERRUPT && ev->interrupt.vector == 3)
        resp->action = VMIC_ACTION_REINJECT_INTERRUPT;
    vmic_status s = h->on_event ? h->on_event(vmic_bpm_core(b), ev, resp, h->arg) : VMIC_OK;
    if (ev->kind == VMIC_EVENT_INTERRUPT && resp->action == VMIC_ACTION_REINJECT_INTERRUPT)
        bpm_stats_ref(b)->reinjected++;
    return s;
}

/* ---- a whole session -------------------------------------------------------------------- */

typedef struct run_ctx {
    vmic_bpm *bpm;
    const vmic_bpm_handler_t *h;
} run_ctx;

static vmic_status run_event(vmic_core *core, const vmic_event_t *ev, vmic_event_response_t *resp,
                             void *arg)
{
    run_ctx *c = arg;
    return vmic_bpm_dispatch(c->bpm, c->h, ev, resp);
}

static bool run_should_stop(vmic_core *core, void *arg)
{
    run_ctx *c = arg;
    return c->h->should_stop && c->h->should_stop(core, c->h->arg);
}

static void run_timeout(vmic_core *core, void *arg)
{
    run_ctx *c = arg;
    if (c->h->on_timeout)
        c->h->on_timeout(core, c->h->arg);
}

vmic_status vmic_bpm_run(vmic_bpm *b, const vmic_bpm_handler_t *h, uint32_t timeout_ms)
{
    run_ctx c = {b, h};
    vmic_event_handler_t eh = {.on_event = run_event, .should_stop = run_should_stop,
                               .on_timeout = run_timeout, .arg = &c};
    if (!h || !h->on_hit)
        return vmic_fail(VMIC_E_INVAL, "vmic_bpm_run: the handler needs on_hit");
    return vmic_run_events(vmic_bpm_core(b), &eh, timeout_ms);
}
