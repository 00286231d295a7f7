/*
 * bench.elf: tight loops for bench_kvm, one per guest_params.scenario:
 * 1 OUTs to the tick port, 2 calls of work_fn (break on it), 3 calls of
 * exec_fn (execute-trap its page); 4 and 5 are 2 and 3 untraced (the loops'
 * own cost).
 */
#include "rt.h"

extern void io_loop(uint32_t n);
extern uint32_t work_fn(uint32_t);
extern void exec_fn(void);

/* work_fn's results go here so the calls stay (file scope: clang warns
 * about a local that is only ever written). */
static volatile uint32_t sink;

void guest_main(unsigned cpu)
{
    uint32_t n = guest_params.iterations;

    if (cpu != 0)
        return;
    phase(PH_START);
    switch (guest_params.scenario) {
    case 1:
        io_loop(n);
        break;
    case 2:
    case 4:
        for (uint32_t i = 0; i < n; i++)
            sink += work_fn(i);
        break;
    case 3:
    case 5:
        for (uint32_t i = 0; i < n; i++)
            exec_fn();
        break;
    }
    phase(PH_DONE);
}
