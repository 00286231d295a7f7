/*
 * vmic run --trace: what each trace arms.
 *   bp:ADDR     a breakpoint manager breakpoint at ADDR (a virtual address
 *               or a symbol of the image), made by the --tap controller
 *   exec:PAGE   the page without X in vmic's trace view
 *   write:PAGE  the page without W in vmic's trace view
 *   msr, io     every WRMSR; every IN/OUT but the serial console's
 *   step        every instruction of vCPU 0
 * PAGE is a gfn or a symbol (its page). Page traps share one view, created
 * here; every vCPU starts in it, and breakpoints then live in it too (else
 * in the manager's own view).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "run_trace.h"

static int add_page(trace_spec *t, const char *spec, vmic_access_t removed)
{
    if (t->npages == TRACE_MAX_PAGES)
        return cli_usage("run", "at most %d page traps", TRACE_MAX_PAGES);
    t->page_specs[t->npages] = spec;
    t->pages[t->npages++].removed = removed;
    return 0;
}

static int parse_one(trace_spec *t, char *item)
{
    if (strncmp(item, "bp:", 3) == 0 && item[3]) {
        if (t->nbps == TRACE_MAX_BPS)
            return cli_usage("run", "at most %d breakpoints", TRACE_MAX_BPS);
        t->bps[t->nbps++].spec = item + 3;
        return 0;
    }
    if (strncmp(item, "exec:", 5) == 0 && item[5])
        return add_page(t, item + 5, VMIC_ACCESS_X);
    if (strncmp(item, "write:", 6) == 0 && item[6])
        return add_page(t, item + 6, VMIC_ACCESS_W);
    if (strcmp(item, "msr") == 0)
        return t->msr = true, 0;
    if (strcmp(item, "io") == 0)
        return t->io = true, 0;
    if (strcmp(item, "step") == 0)
        return t->step = true, 0;
    return cli_usage("run", "unknown trace '%s' (bp:ADDR, exec:GFN, write:GFN, msr, io, step)",
                     item);
}

int trace_parse(trace_spec *t, const char *list)
{
    /* The pieces stay referenced from t: the copy lives as long as t. */
    if (t->storage)
        return cli_usage("run", "give every trace in one --trace list");
    char *copy = t->storage = strdup(list);
    if (!copy)
        return cli_fail("run", VMIC_E_NOMEM, "no memory for --trace");
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        int rc = parse_one(t, item);
        if (rc)
            return rc;
    }
    return 0;
}

int trace_parse_tap(trace_spec *t, const char *name)
{
    static const struct {
        const char *name;
        vmic_tap_kind kind;
    } taps[] = {{"breakpoint", VMIC_TAP_BREAKPOINT}, {"memory", VMIC_TAP_MEMORY},
                {"debugreg", VMIC_TAP_DEBUGREG}};
    for (size_t i = 0; i < sizeof taps / sizeof taps[0]; i++) {
        if (strcmp(name, taps[i].name) == 0) {
            t->tap = taps[i].kind;
            return 0;
        }
    }
    return cli_usage("run", "unknown --tap '%s' (breakpoint, memory, debugreg)", name);
}

/* A symbol's addresses, or a number: a virtual address translated through
 * vCPU 0's page tables. */
static vmic_status resolve_va(vmic_core *core, const char *spec, vmic_va_t *va, vmic_pa_t *pa)
{
    uint64_t n;
    vmic_amd64_regs_t regs;
    vmic_status s;

    if (!cli_parse_u64(spec, &n)) {
        if ((s = vmic_kvm_symbol(vmic_core_driver(core), spec, va, pa)))
            return s;
        if (pa->addr == 0)
            return vmic_fail(VMIC_E_NOTFOUND, "symbol '%s' is in no loaded segment", spec);
        return VMIC_OK;
    }
    *va = vmic_va(n);
    if ((s = vmic_get_regs(core, 0, &regs)))
        return s;
    return vmic_translate(core, vmic_ctx(vmic_pa(regs.cr3)), *va, pa);
}

static vmic_status resolve_gfn(vmic_core *core, const char *spec, vmic_gfn_t *gfn)
{
    uint64_t n;
    vmic_va_t va;
    vmic_pa_t pa;

    if (cli_parse_u64(spec, &n)) {
        *gfn = vmic_gfn(n);
        return VMIC_OK;
    }
    vmic_status s = resolve_va(core, spec, &va, &pa);
    if (s == VMIC_OK)
        *gfn = vmic_pa_to_gfn(pa);
    return s;
}

static vmic_status arm_pages(trace_spec *t, vmic_core *core)
{
    vmic_status s;

    if (t->npages == 0)
        return VMIC_OK;
    if ((s = vmic_create_view(core, &t->view)))
        return s;
    for (size_t i = 0; i < t->npages; i++) {
        vmic_access_t a;
        if ((s = resolve_gfn(core, t->page_specs[i], &t->pages[i].gfn)) ||
            (s = vmic_get_access(core, t->view, t->pages[i].gfn, &a)) ||
            (s = vmic_set_access(core, t->view, t->pages[i].gfn,
                                 (vmic_access_t)(a & ~t->pages[i].removed))))
            return vmic_fail_wrap(s, "trace page '%s'", t->page_specs[i]);
    }
    return vmic_switch_view(core, t->view);
}

static vmic_status arm_monitors(trace_spec *t, vmic_core *core)
{
    vmic_status s;
    if (t->msr) {
        vmic_monitor_t m = {.kind = VMIC_MONITOR_MSR_WRITE, .msr = VMIC_MSR_ALL};
        if ((s = vmic_monitor_enable(core, &m)))
            return s;
    }
    if (t->io) {
        /* Everything but the serial console, which would report itself. */
        vmic_monitor_t low = {.kind = VMIC_MONITOR_IO, .ports = {0, 0x3f7}};
        vmic_monitor_t high = {.kind = VMIC_MONITOR_IO, .ports = {0x400, 0xffff}};
        if ((s = vmic_monitor_enable(core, &low)) || (s = vmic_monitor_enable(core, &high)))
            return s;
    }
    if (t->step) {
        vmic_monitor_t m = {.kind = VMIC_MONITOR_SINGLESTEP, .vcpu = 0};
        if ((s = vmic_monitor_enable(core, &m)))
            return s;
    }
    return VMIC_OK;
}

/* The image is a kernel: its breakpoints are global, their addresses
 * translated through the tables vCPU 0 has now. Each one's tag is its index
 * in t->bps. */
static vmic_status arm_breakpoints(trace_spec *t, vmic_core *core)
{
    vmic_amd64_regs_t regs;
    vmic_tap *tap;
    vmic_status s;

    if (t->nbps == 0)
        return VMIC_OK;
    vmic_tap_options_t opt = {.kind = t->tap ? t->tap : VMIC_TAP_BREAKPOINT};
    if ((s = vmic_get_regs(core, 0, &regs)) || (s = vmic_tap_open(core, &opt, &tap)) ||
        (s = vmic_bpm_open(core, tap, &t->bpm)))
        return s;
    for (size_t i = 0; i < t->nbps; i++) {
        trace_bp *bp = &t->bps[i];
        vmic_pa_t pa;
        if ((s = resolve_va(core, bp->spec, &bp->va, &pa)))
            return vmic_fail_wrap(s, "breakpoint '%s'", bp->spec);
        vmic_breakpoint_t b = {.va = bp->va, .root = vmic_pa(regs.cr3), .global = true,
                               .view = t->npages ? t->view : VMIC_VIEW_DEFAULT, .tag = i};
        if ((s = vmic_bpm_insert(t->bpm, &b)) && s != VMIC_E_BUSY) /* BUSY: given twice */
            return vmic_fail_wrap(s, "breakpoint '%s'", bp->spec);
    }
    return VMIC_OK;
}

vmic_status trace_arm(trace_spec *t, vmic_core *core)
{
    vmic_status s;
    if ((s = arm_pages(t, core)) || (s = arm_breakpoints(t, core)))
        return s;
    return arm_monitors(t, core);
}

void trace_free(trace_spec *t)
{
    vmic_bpm_close(t->bpm);
    t->bpm = NULL;
    free(t->storage);
    t->storage = NULL;
}

const trace_bp *trace_bp_of(const trace_spec *t, const vmic_bp_state_t *hit)
{
    return hit->bp.tag < t->nbps ? &t->bps[hit->bp.tag] : NULL;
}
