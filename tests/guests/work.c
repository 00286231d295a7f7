/*
 * work.elf: a long, checkable piece of work for traced runs of `vmic run`
 * (breakpoints on work_fn, write traps on counter_word). At the end the guest
 * checks its own result, its counter, that no breakpoint ever reached its
 * #BP handler and that work_fn's bytes are intact, and exits 0 only if all
 * hold. (Traced to the very end, it still reads work_fn's own bytes: vmic's
 * default breakpoints are INT3s in an execute-only shadow copy of the page,
 * and reads are served the original.)
 */
#include "rt.h"

#define DEFAULT_ITERATIONS 20000

extern uint32_t work_fn(uint32_t);
extern volatile uint64_t counter_word;

/* lea 0x1(%rdi,%rdi,2),%eax; ret */
static const uint8_t work_fn_bytes[] = {0x8d, 0x44, 0x7f, 0x01, 0xc3};

void guest_main(unsigned cpu)
{
    uint32_t n = guest_params.iterations ? guest_params.iterations : DEFAULT_ITERATIONS;
    uint64_t sum = 0, start = counter_word;

    if (cpu != 0)
        return;
    for (uint32_t i = 0; i < n; i++) {
        sum += work_fn(i);
        counter_word = counter_word + 1;
        if (i % 2000 == 0)
            report("progress", i);
    }
    uint64_t expected = 3ull * n * (n - 1) / 2 + n;
    bool intact = true;
    for (unsigned i = 0; i < sizeof work_fn_bytes; i++)
        intact &= ((volatile uint8_t *)work_fn)[i] == work_fn_bytes[i];
    report("result", sum);
    report("expected", expected);
    report("counter", counter_word - start);
    report("bp_hits", trap_count[0][3]);
    report("code_intact", intact);
    /* A bit per failed check: 1 result, 2 counter, 4 a breakpoint reached the
     * guest, 8 work_fn's bytes are not the image's (an INT3 is in them). */
    uint32_t failed = (sum != expected) | (counter_word - start != n) << 1 |
                      (trap_count[0][3] != 0) << 2 | !intact << 3;
    print(failed ? "work: CHECK FAILED\n" : "work: all checks passed\n");
    guest_exit(failed);
}
