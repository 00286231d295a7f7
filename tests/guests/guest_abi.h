/*
 * What the test guests and the tests that run them agree on: ports,
 * scenarios, the parameter block the test writes before the guest starts.
 * Included by freestanding guest code and by host tests alike.
 */
#ifndef VMIC_GUEST_ABI_H
#define VMIC_GUEST_ABI_H

#include <stdint.h>

#define GUEST_PORT_SERIAL 0x3f8  /* text: "R name value" lines are reports */
#define GUEST_PORT_EXIT 0x501    /* ends the guest with the code written */
#define GUEST_PORT_PHASE 0x512   /* 32-bit OUT: "I am about to do phase N" */
#define GUEST_PORT_TICK 0x513    /* 32-bit OUT: one unit of work (stress, bench) */

#define GUEST_MAX_CPUS 4

/* Scenarios of actions.elf (guest_params.scenario). */
enum {
    SC_CONTINUE_WRITE = 1,  /* write to a write-protected word */
    SC_DENY_WRITE,          /* the same write, which vmic denies */
    SC_REINJECT,            /* the guest's own INT3 */
    SC_SINGLESTEP,          /* a run of 8 two-byte instructions */
    SC_FAST_SINGLESTEP,     /* call counter_fn in a view that cannot execute it */
    SC_EMULATE,             /* read, write, execute an execute-only page */
    SC_VIEWS_X,             /* read, write, execute the counter page */
    SC_REMAP,               /* call shadow_fn in view 1, then in view 0 */
    SC_ACCESS_TABLE,        /* read, write, execute, for each access combination */
    SC_MSR,                 /* write an MSR twice, read it back each time */
    SC_INJECT,              /* wait at a phase for injected exceptions */
    SC_HW_BREAKPOINT,       /* call hw_target three times */
    SC_IO,                  /* OUT and IN on the tick port */
};

/* Phases the guests announce on GUEST_PORT_PHASE. */
enum {
    PH_START = 1,
    PH_ACCESS,              /* SC_ACCESS_TABLE: value = PH_ACCESS | combination << 8 */
    PH_VIEW0,               /* SC_REMAP: please put me in view 0 */
    PH_VIEW1,               /* SC_REMAP: please put me in view 1 */
    PH_WAIT,                /* SC_INJECT: inject now */
    PH_DONE,
    PH_MAPPED,              /* TAPS_MAPPING: DYN_VA maps page_a */
    PH_UNMAPPED,            /* TAPS_MAPPING: DYN_VA maps nothing */
    PH_REMAPPED,            /* TAPS_MAPPING: DYN_VA maps page_b */
};

/* Scenarios of taps.elf (breakpoint manager tests and bench_bpm). */
enum {
    TAPS_LOOP = 1,          /* work_fn n times; counter_word read, written and counter_fn
                               called n times; patch_fn (on counter_fn's page) patched
                               and called, restored and called; the exec page read; bp_target 3 times */
    TAPS_MAPPING,           /* DYN_VA mapped to page_a, called, unmapped, mapped to page_b,
                               called: the guest's own page-table edits */
    TAPS_BENCH,             /* work_fn n times, nothing else */
};

#define DYN_VA 0xffffffffc0000000ull  /* where TAPS_MAPPING maps its page */
#define DYN_FN_OFFSET 0x100           /* its function, within the page */
#define DYN_CALLS 200                 /* calls while each page is mapped */
#define TAPS_AFTER_CALLS 10           /* calls after PH_DONE, when nothing is traced */
#define TAPS_GUEST_INT3S 3            /* bp_target calls in TAPS_LOOP */

#define COUNTER_FN_RESULT 0x1234u
#define COUNTER_FN_PATCHED 0x5678u   /* taps.elf writes it into patch_fn, briefly */
#define SHADOW_FN_RESULT 0x1111u     /* what shadow_fn returns in the image */
#define SHADOW_FN_PATCHED 0x2222u    /* what the test's shadow copy returns */
#define COUNTER_WORD_INIT 0x1111111111111111ull
#define TEST_MSR 0xc0000102u         /* IA32_KERNEL_GS_BASE: harmless in ring 0 */

typedef struct guest_params {
    uint32_t scenario;
    uint32_t iterations;
    uint32_t cpus;          /* vCPUs that take part (smp) */
} guest_params_t;

#endif
