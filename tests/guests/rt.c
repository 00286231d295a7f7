/* The test guests' runtime (freestanding, ring 0). */
#include "rt.h"

#define STACK_SIZE (1u << 14)   /* start.S: STACK_SHIFT */

typedef struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error, rip, cs, rflags, rsp, ss;
} trap_frame;

typedef struct __attribute__((packed)) idt_gate {
    uint16_t off0, sel;
    uint8_t ist, type;
    uint16_t off1;
    uint32_t off2, zero;
} idt_gate;

volatile guest_params_t guest_params = {0};
volatile uint64_t trap_count[GUEST_MAX_CPUS][64];
volatile uint64_t trap_error[GUEST_MAX_CPUS][64];
volatile uint64_t trap_fatal = (1ull << 0) | (1ull << 6) | (1ull << 8) | (1ull << 13) |
                               (1ull << 14);

uint8_t stacks[GUEST_MAX_CPUS][STACK_SIZE] __attribute__((aligned(4096)));
static idt_gate idt[64] __attribute__((aligned(16)));
struct __attribute__((packed)) {
    uint16_t limit;
    uint64_t base;
} idt_ptr = {sizeof idt - 1, (uint64_t)idt};
extern const uint64_t isr_table[36];
static volatile uint32_t idt_ready;

unsigned this_cpu(void)
{
    uint64_t sp;
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
    return (unsigned)((sp - (uint64_t)stacks) / STACK_SIZE);
}

static void putc_serial(char c)
{
    outb(GUEST_PORT_SERIAL, (uint8_t)c);
}

void print(const char *s)
{
    while (*s)
        putc_serial(*s++);
}

static void print_hex(uint64_t v)
{
    char buf[19];
    int i = 18;
    buf[i] = '\0';
    do {
        buf[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    buf[--i] = 'x';
    buf[--i] = '0';
    print(&buf[i]);
}

static void print_dec(uint64_t v)
{
    char buf[21];
    int i = 20;
    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    print(&buf[i]);
}

void report(const char *name, uint64_t value)
{
    print("R ");
    print(name);
    putc_serial(' ');
    print_hex(value);
    putc_serial('\n');
}

void report_cpu(unsigned cpu, const char *name, uint64_t value)
{
    print("R cpu");
    print_dec(cpu);
    putc_serial('.');
    print(name);
    putc_serial(' ');
    print_hex(value);
    putc_serial('\n');
}

void guest_exit(uint32_t code)
{
    outl(GUEST_PORT_EXIT, code);
    for (;;)
        __asm__ volatile("hlt");
}

void trap(trap_frame *f)
{
    unsigned cpu = this_cpu();
    if (cpu >= GUEST_MAX_CPUS || f->vector >= 64)
        guest_exit(99);
    trap_count[cpu][f->vector]++;
    trap_error[cpu][f->vector] = f->error;
    if (trap_fatal & (1ull << f->vector)) {
        print("FATAL vector ");
        print_dec(f->vector);
        print(" at rip ");
        print_hex(f->rip);
        print(" error ");
        print_hex(f->error);
        putc_serial('\n');
        guest_exit(100 + (uint32_t)f->vector);
    }
}

static void idt_fill(void)
{
    for (unsigned v = 0; v < sizeof isr_table / sizeof isr_table[0]; v++) {
        uint64_t a = isr_table[v];
        idt[v] = (idt_gate){.off0 = (uint16_t)a, .sel = 0x08, .type = 0x8e,
                            .off1 = (uint16_t)(a >> 16), .off2 = (uint32_t)(a >> 32)};
    }
}

void guest_start(uint64_t vcpu);

void guest_start(uint64_t vcpu)
{
    if (vcpu == 0) {
        idt_fill();
        idt_ready = 1;
    }
    while (!idt_ready)
        ;
    guest_main((unsigned)vcpu);
    if (vcpu == 0)
        guest_exit(0);
    for (;;) /* the others stop here; vCPU 0 ends the guest */
        __asm__ volatile("cli; hlt");
}
