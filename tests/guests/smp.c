/*
 * smp.elf: every vCPU (guest_params.cpus of them) runs guest_params.iterations
 * rounds of three events -- its own INT3 (counted by its #BP handler), an OUT
 * to the tick port, a write to its word on the counter page -- and reports its
 * own counts. vCPU 0 ends the guest once all have reported.
 * Scenario 1 (guest_params.scenario): each vCPU calls counter_fn n times.
 */
#include "rt.h"

extern uint32_t bp_target(void);
extern volatile uint64_t cpu_words[GUEST_MAX_CPUS];

static volatile uint32_t finished[GUEST_MAX_CPUS];

extern uint32_t counter_fn(void);

/* Scenario 1: both vCPUs call counter_fn (on the counter page) n times, each
 * in the view its PH_START response put it in. */
static void call_counter_fn(unsigned cpu, uint32_t n)
{
    uint32_t good = 0;
    for (uint32_t i = 0; i < n; i++)
        good += counter_fn() == COUNTER_FN_RESULT;
    cpu_words[cpu] = cpu_words[cpu] + 1;
    report_cpu(cpu, "calls", good);
}

void guest_main(unsigned cpu)
{
    uint32_t n = guest_params.iterations, cpus = guest_params.cpus;

    if (cpu >= cpus || cpus > GUEST_MAX_CPUS)
        return;
    phase(PH_START);
    if (guest_params.scenario == 1) {
        call_counter_fn(cpu, n);
        finished[cpu] = 1;
        if (cpu == 0)
            for (uint32_t c = 1; c < cpus; c++)
                while (!finished[c])
                    ;
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        bp_target();
        outl(GUEST_PORT_TICK, i);
        cpu_words[cpu] = cpu_words[cpu] + 1;
    }
    report_cpu(cpu, "bp", trap_count[cpu][3]);
    report_cpu(cpu, "ticks", n);
    report_cpu(cpu, "words", cpu_words[cpu]);
    finished[cpu] = 1;
    if (cpu != 0)
        return;
    for (uint32_t c = 1; c < cpus; c++)
        while (!finished[c])
            ;
    phase(PH_DONE);
}
