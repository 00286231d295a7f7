/*
 * actions.elf: one small scenario per run (guest_params.scenario), each
 * showing from the inside what an action or a view did. Before each step the
 * guest announces a phase on GUEST_PORT_PHASE, so the test can arm traps at
 * exactly that point; after it the guest reports what it saw.
 */
#include "rt.h"

extern uint32_t counter_fn(void);
extern volatile uint64_t counter_word;
extern uint32_t shadow_fn(void);
extern uint32_t step_target(uint32_t);
extern uint32_t bp_target(void);
extern uint32_t hw_target(uint32_t);

static void continue_write(void)
{
    phase(PH_START);
    counter_word = 0x2222222222222222ull;
    report("seen", counter_word);
    phase(PH_DONE);
}

static void deny_write(void)
{
    phase(PH_START);
    counter_word = 0x3333333333333333ull;
    uint64_t seen = counter_word;
    report("after", 1); /* the guest went on after the denied instruction */
    report("seen", seen);
    phase(PH_DONE);
}

static void reinject(void)
{
    phase(PH_START);   /* INT3 monitored from here */
    uint32_t r = bp_target();
    report("bp_hits", trap_count[0][3]);
    report("returned", r);
    phase(PH_DONE);    /* not monitored any more: vmic hands it over by itself */
    bp_target();
    report("bp_hits_total", trap_count[0][3]);
}

static void singlestep(void)
{
    phase(PH_START);
    report("step_result", step_target(5));
    phase(PH_DONE);
}

static void fast_singlestep(void)
{
    phase(PH_START);   /* from here: view 1, where the counter page cannot execute */
    uint32_t r = counter_fn();
    counter_word = counter_word + 1;
    report("fn", r);
    report("word", counter_word);
    phase(PH_DONE);
}

static void emulate(void)
{
    phase(PH_START);   /* from here: view 1, the counter page execute-only */
    uint64_t w = counter_word;
    counter_word = 0x4444444444444444ull;
    uint32_t r = counter_fn();
    uint64_t after = counter_word;
    report("read", w);
    report("fn", r);
    report("word", after);
    phase(PH_DONE);
}

static void views_x(void)
{
    phase(PH_START);   /* from here: view 1, the counter page without X */
    uint64_t w = counter_word;
    counter_word = w + 5;
    uint32_t r = counter_fn();
    report("fn", r);
    report("word", counter_word);
    phase(PH_DONE);
}

static void remap(void)
{
    phase(PH_VIEW1);
    uint32_t in1 = shadow_fn();
    uint32_t imm1 = *(volatile uint32_t *)((uintptr_t)shadow_fn + 1);
    phase(PH_VIEW0);
    uint32_t in0 = shadow_fn();
    uint32_t imm0 = *(volatile uint32_t *)((uintptr_t)shadow_fn + 1);
    report("view1_fn", in1);
    report("view1_imm", imm1);
    report("view0_fn", in0);
    report("view0_imm", imm0);
    phase(PH_DONE);
}

static void access_table(void)
{
    for (uint32_t c = 0; c < 8; c++) {
        phase(PH_ACCESS | c << 8);
        uint64_t w = counter_word;
        counter_word = w + 1;
        uint32_t r = counter_fn();
        if (r != COUNTER_FN_RESULT || w != COUNTER_WORD_INIT + c)
            report("bad_round", c);
    }
    phase(PH_DONE);
    report("word", counter_word);
}

static void msr(void)
{
    phase(PH_START);
    wrmsr(TEST_MSR, 0xaaaa0000ull);
    report("msr1", rdmsr(TEST_MSR));
    wrmsr(TEST_MSR, 0xbbbb0000ull);
    report("msr2", rdmsr(TEST_MSR));
    phase(PH_DONE);
}

static void inject(void)
{
    trap_fatal = 0;
    phase(PH_WAIT);    /* the test injects #GP with an error code */
    report("gp", trap_count[0][13]);
    report("gp_error", trap_error[0][13]);
    phase(PH_WAIT);    /* the test injects #UD */
    report("ud", trap_count[0][6]);
    __asm__ volatile("sti");
    phase(PH_WAIT);    /* the test injects external interrupt 33 */
    __asm__ volatile("nop; cli");
    report("irq33", trap_count[0][33]);
    phase(PH_DONE);
}

static void hw_breakpoint(void)
{
    phase(PH_START);
    uint32_t sum = hw_target(1) + hw_target(2) + hw_target(3);
    report("hw_sum", sum);
    phase(PH_DONE);
}

static void io(void)
{
    phase(PH_START);
    outl(GUEST_PORT_TICK, 0x55);
    uint32_t in = inl(GUEST_PORT_TICK);
    uint32_t kept;
    /* A 16-bit operand: the port register is %dx (clang rejects %edx). */
    __asm__ volatile("movl $0x77, %%eax\n\tinl %1, %%eax"
                     : "=a"(kept)
                     : "Nd"((uint16_t)GUEST_PORT_TICK));
    report("in", in);
    report("in_denied", kept);
    phase(PH_DONE);
}

void guest_main(unsigned cpu)
{
    static void (*const scenarios[])(void) = {
        [SC_CONTINUE_WRITE] = continue_write, [SC_DENY_WRITE] = deny_write,
        [SC_REINJECT] = reinject,             [SC_SINGLESTEP] = singlestep,
        [SC_FAST_SINGLESTEP] = fast_singlestep, [SC_EMULATE] = emulate,
        [SC_VIEWS_X] = views_x,               [SC_REMAP] = remap,
        [SC_ACCESS_TABLE] = access_table,     [SC_MSR] = msr,
        [SC_INJECT] = inject,                 [SC_HW_BREAKPOINT] = hw_breakpoint,
        [SC_IO] = io,
    };
    uint32_t sc = guest_params.scenario;

    if (cpu != 0)
        return;
    if (sc >= sizeof scenarios / sizeof scenarios[0] || !scenarios[sc]) {
        report("unknown_scenario", sc);
        guest_exit(2);
    }
    scenarios[sc]();
    print("actions: done\n");
}
