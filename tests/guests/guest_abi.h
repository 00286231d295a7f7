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
};

#define COUNTER_FN_RESULT 0x1234u
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
