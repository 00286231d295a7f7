/* The test guests' runtime: ports, console, reports, traps, vCPU identity. */
#ifndef GUEST_RT_H
#define GUEST_RT_H

#include <stdbool.h>
#include <stdint.h>

#include "guest_abi.h"

#define KERNEL_VMA 0xffffffff80000000ull
#define DIRECT_MAP 0xffff888000000000ull

extern volatile guest_params_t guest_params;

/* Counted by the exception handler, per vCPU and vector. */
extern volatile uint64_t trap_count[GUEST_MAX_CPUS][64];
extern volatile uint64_t trap_error[GUEST_MAX_CPUS][64];
/* Vectors that end the guest when they arrive (bit per vector). */
extern volatile uint64_t trap_fatal;

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t)hi << 32 | lo;
}

unsigned this_cpu(void);
void print(const char *s);
/* "R name value\n" on the serial port: what the guest saw, for the tests. */
void report(const char *name, uint64_t value);
void report_cpu(unsigned cpu, const char *name, uint64_t value);
static inline void phase(uint32_t n) { outl(GUEST_PORT_PHASE, n); }
__attribute__((noreturn)) void guest_exit(uint32_t code);

/* Each guest program defines this; vCPU 0 runs it after the IDT is ready. */
void guest_main(unsigned cpu);

#endif
