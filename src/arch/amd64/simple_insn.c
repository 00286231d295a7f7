/*
 * The few instructions a debugger can carry out for a vCPU instead of
 * single-stepping it over a breakpoint: those kernel functions begin with,
 * where tracers put their breakpoints. NOPs (the 5-byte one the kernel
 * patches over ftrace's call to __fentry__, the 4-byte one over ENDBR64
 * when IBT is off), ENDBR64 itself, and PUSH of a 64-bit register.
 *
 * Why bother: a step over a breakpoint through QEMU's gdbstub means taking
 * the breakpoint out and putting it back, and QEMU's TCG flushes every
 * translated block on each of those, so the guest re-translates all of its
 * hot code after every hit. Anything not recognised here is stepped.
 */
#include <string.h>

#include <vmic/arch.h>

static bool is_segment_or_size_prefix(uint8_t b)
{
    return b == 0x66 || b == 0x2e || b == 0x3e || b == 0x26 || b == 0x36 || b == 0x64 ||
           b == 0x65;
}

/* Bytes a ModRM operand takes (ModRM itself, SIB, displacement), or 0 if
 * they are not all there. */
static size_t modrm_length(const uint8_t *p, size_t avail)
{
    if (avail < 1)
        return 0;
    uint8_t mod = p[0] >> 6, rm = p[0] & 7;
    size_t len = 1;
    if (mod == 3)
        return len;
    if (rm == 4) {
        if (avail < 2)
            return 0;
        len++;
        if (mod == 0 && (p[1] & 7) == 5)
            len += 4;
    } else if (mod == 0 && rm == 5) {
        len += 4;   /* RIP-relative */
    }
    if (mod == 1)
        len += 1;
    else if (mod == 2)
        len += 4;
    return len <= avail ? len : 0;
}

bool vmic_amd64_decode_simple(const uint8_t *code, size_t avail, vmic_amd64_simple_insn_t *out)
{
    memset(out, 0, sizeof *out);
    if (avail > 15)
        avail = 15;
    if (avail >= 4 && code[0] == 0xf3 && code[1] == 0x0f && code[2] == 0x1e &&
        (code[3] == 0xfa || code[3] == 0xfb)) {
        out->kind = VMIC_SIMPLE_NOP;   /* ENDBR64 / ENDBR32: a NOP to anything but CET */
        out->len = 4;
        return true;
    }

    size_t i = 0;
    bool opsize = false;
    while (i < avail && i < 4 && is_segment_or_size_prefix(code[i]))
        opsize |= code[i++] == 0x66;
    uint8_t rex = 0;
    if (i < avail && (code[i] & 0xf0) == 0x40)
        rex = code[i++];
    if (i >= avail)
        return false;

    if (code[i] == 0x90 && !(rex & 1)) {   /* NOP; with REX.B it is XCHG r8, rax */
        out->kind = VMIC_SIMPLE_NOP;
        out->len = (uint8_t)(i + 1);
        return true;
    }
    if (code[i] == 0x0f && i + 1 < avail && code[i + 1] == 0x1f) {   /* NOP r/m */
        size_t m = modrm_length(code + i + 2, avail - i - 2);
        if (!m)
            return false;
        out->kind = VMIC_SIMPLE_NOP;
        out->len = (uint8_t)(i + 2 + m);
        return true;
    }
    /* PUSH r64; the operand-size prefix would make it a 16-bit push. */
    if (code[i] >= 0x50 && code[i] <= 0x57 && !opsize && i == (rex ? 1u : 0u)) {
        out->kind = VMIC_SIMPLE_PUSH;
        out->len = (uint8_t)(i + 1);
        out->reg = (uint8_t)((code[i] - 0x50) | ((rex & 1) << 3));
        return true;
    }
    return false;
}

uint64_t vmic_amd64_gpr(const vmic_amd64_regs_t *r, unsigned reg)
{
    const uint64_t v[16] = {r->rax, r->rcx, r->rdx, r->rbx, r->rsp, r->rbp, r->rsi, r->rdi,
                            r->r8,  r->r9,  r->r10, r->r11, r->r12, r->r13, r->r14, r->r15};
    return v[reg & 15];
}
