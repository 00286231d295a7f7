/* vmic run --trace: parsing the list and arming what it asks for. */
#ifndef VMIC_TOOL_RUN_TRACE_H
#define VMIC_TOOL_RUN_TRACE_H

#include <vmic/vmic.h>

#define TRACE_MAX_BPS 64
#define TRACE_MAX_PAGES 64

typedef struct trace_page {
    vmic_gfn_t gfn;
    vmic_access_t removed;    /* VMIC_ACCESS_X (exec:), VMIC_ACCESS_W (write:) */
} trace_page;

typedef struct trace_bp {
    const char *spec;         /* as given: an address or a symbol */
    vmic_va_t va;
} trace_bp;

typedef struct trace_spec {
    trace_bp bps[TRACE_MAX_BPS];
    size_t nbps;
    trace_page pages[TRACE_MAX_PAGES];
    size_t npages;
    const char *page_specs[TRACE_MAX_PAGES];
    bool msr, io, step;
    vmic_view_t view;         /* where page traps live, once armed */
    vmic_tap_kind tap;        /* how breakpoints are made (--tap) */
    vmic_bpm *bpm;            /* the breakpoints, once armed (NULL: none) */
    char *storage;            /* the parsed lists, which specs point into */
} trace_spec;

/* Closes the breakpoint manager (before the core) and frees the lists. */
void trace_free(trace_spec *t);

/* Parses "bp:ADDR,exec:GFN,write:GFN,msr,io,step"; 0 or EXIT_USAGE. */
int trace_parse(trace_spec *t, const char *list);
/* Parses --tap's "breakpoint", "memory" or "debugreg"; 0 or EXIT_USAGE. */
int trace_parse_tap(trace_spec *t, const char *name);

/* Resolves names through the image's symbols and arms everything (VM paused). */
vmic_status trace_arm(trace_spec *t, vmic_core *core);

/* The --trace breakpoint a manager breakpoint stands for (its tag). */
const trace_bp *trace_bp_of(const trace_spec *t, const vmic_bp_state_t *hit);

#endif
