/*
 * The instructions carried out instead of stepped over a breakpoint
 * (vmic_amd64_decode_simple): the multi-byte NOPs of the Intel SDM's table
 * of recommended NOP sequences (vol. 2B, NOP), the first instructions of
 * the traced functions in the fixture kernels (6.1 and 6.12, read from their
 * dumps), and look-alikes that must be stepped: their length or meaning
 * differs (XCHG r8, a 16-bit PUSH, PAUSE, a cut-off NOP).
 */
#include <vmic/arch.h>

#include "harness.h"

typedef struct sample {
    const char *what;
    uint8_t bytes[15];
    size_t n;
    int kind;          /* 0: must not decode */
    uint8_t len, reg;
} sample;

static const sample samples[] = {
    /* Intel SDM, recommended multi-byte NOP sequences, 1 to 9 bytes */
    {"nop", {0x90}, 1, VMIC_SIMPLE_NOP, 1, 0},
    {"66 nop", {0x66, 0x90}, 2, VMIC_SIMPLE_NOP, 2, 0},
    {"nopl (%rax)", {0x0f, 0x1f, 0x00}, 3, VMIC_SIMPLE_NOP, 3, 0},
    {"nopl 0(%rax)", {0x0f, 0x1f, 0x40, 0x00}, 4, VMIC_SIMPLE_NOP, 4, 0},
    {"nopl 0(%rax,%rax,1)", {0x0f, 0x1f, 0x44, 0x00, 0x00}, 5, VMIC_SIMPLE_NOP, 5, 0},
    {"nopw 0(%rax,%rax,1)", {0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00}, 6, VMIC_SIMPLE_NOP, 6, 0},
    {"nopl 0L(%rax)", {0x0f, 0x1f, 0x80, 0, 0, 0, 0}, 7, VMIC_SIMPLE_NOP, 7, 0},
    {"nopl 0L(%rax,%rax,1)", {0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0}, 8, VMIC_SIMPLE_NOP, 8, 0},
    {"nopw 0L(%rax,%rax,1)", {0x66, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0}, 9, VMIC_SIMPLE_NOP, 9, 0},
    /* what GNU as pads with past 9 bytes */
    {"cs nopw 0L(%rax,%rax,1)", {0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0}, 10,
     VMIC_SIMPLE_NOP, 10, 0},
    {"nopl 0(%rip)", {0x0f, 0x1f, 0x05, 1, 2, 3, 4}, 7, VMIC_SIMPLE_NOP, 7, 0},
    {"nopl 0(,%rbp,1) no base", {0x0f, 0x1f, 0x04, 0x25, 0, 0, 0, 0}, 8, VMIC_SIMPLE_NOP, 8, 0},
    {"endbr64", {0xf3, 0x0f, 0x1e, 0xfa}, 4, VMIC_SIMPLE_NOP, 4, 0},
    /* the traced functions' first instructions in the fixture kernels */
    {"6.1 do_syscall_64: push %rbp", {0x55, 0x48, 0x89, 0xe5}, 4, VMIC_SIMPLE_PUSH, 1, 5},
    {"6.1 syscall_exit_to_user_mode: push %rbx", {0x53, 0x48, 0x89, 0xfb}, 4, VMIC_SIMPLE_PUSH,
     1, 3},
    {"6.1 do_exit: ftrace nop", {0x0f, 0x1f, 0x44, 0x00, 0x00, 0x41, 0x57}, 7, VMIC_SIMPLE_NOP,
     5, 0},
    {"6.12 do_syscall_64: nop over endbr64", {0x66, 0x0f, 0x1f, 0x00, 0x55}, 5, VMIC_SIMPLE_NOP,
     4, 0},
    {"push %r15", {0x41, 0x57}, 2, VMIC_SIMPLE_PUSH, 2, 15},
    {"push %r12", {0x41, 0x54}, 2, VMIC_SIMPLE_PUSH, 2, 12},
    {"push %rax", {0x50}, 1, VMIC_SIMPLE_PUSH, 1, 0},
    {"push %rdi", {0x57}, 1, VMIC_SIMPLE_PUSH, 1, 7},
    /* to be stepped */
    {"xchg %r8, %rax", {0x41, 0x90}, 2, 0, 0, 0},
    {"push %bp (16-bit)", {0x66, 0x55}, 2, 0, 0, 0},
    {"pause", {0xf3, 0x90}, 2, 0, 0, 0},
    {"mov %rsp, %rbp", {0x48, 0x89, 0xe5}, 3, 0, 0, 0},
    {"call rel32", {0xe8, 0x97, 0xdf, 0x6f, 0xff}, 5, 0, 0, 0},
    {"int3", {0xcc}, 1, 0, 0, 0},
    {"nopl 0(%rax,%rax,1) cut off", {0x0f, 0x1f, 0x44, 0x00}, 4, 0, 0, 0},
    {"nopl (%rax) cut at ModRM", {0x0f, 0x1f}, 2, 0, 0, 0},
    {"nothing", {0}, 0, 0, 0, 0},
    {"too many prefixes", {0x66, 0x66, 0x66, 0x66, 0x66, 0x90}, 6, 0, 0, 0},
};

static void test_samples(void)
{
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        const sample *s = &samples[i];
        vmic_amd64_simple_insn_t insn;
        bool ok = vmic_amd64_decode_simple(s->bytes, s->n, &insn);
        if (!s->kind) {
            CHECK_MSG(!ok, "%s: decoded (kind %d, %u bytes), must be stepped", s->what,
                      (int)insn.kind, insn.len);
            continue;
        }
        CHECK_MSG(ok && (int)insn.kind == s->kind && insn.len == s->len &&
                      (s->kind != VMIC_SIMPLE_PUSH || insn.reg == s->reg),
                  "%s: ok %d kind %d len %u reg %u, want kind %d len %u reg %u", s->what, ok,
                  (int)insn.kind, insn.len, insn.reg, s->kind, s->len, s->reg);
    }
}

static void test_registers_by_number(void)
{
    vmic_amd64_regs_t r = {.rax = 0, .rcx = 1, .rdx = 2, .rbx = 3, .rsp = 4, .rbp = 5, .rsi = 6,
                           .rdi = 7, .r8 = 8, .r9 = 9, .r10 = 10, .r11 = 11, .r12 = 12,
                           .r13 = 13, .r14 = 14, .r15 = 15};
    for (unsigned n = 0; n < 16; n++)
        CHECK_EQ(vmic_amd64_gpr(&r, n), n);
}

int main(void)
{
    RUN(test_samples);
    RUN(test_registers_by_number);
    return HARNESS_RESULT();
}
