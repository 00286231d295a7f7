/*
 * The registers in HMP's "info registers" (-a: every vCPU, each after a
 * "CPU#N" line), for when vmic reads registers without the gdbstub
 * (shared.c). The text is QEMU's x86 dump: NAME=HEX items,
 *
 *   RAX=000000000001ad40 RBX=... R8 =...        general registers
 *   RIP=ffffffff98a592eb RFL=00000246 [---Z-P-] CPL=0 ...
 *   CS =0010 0000000000000000 ffffffff 00af9b00 DPL=0 CS64 [-RA]
 *                                               selector base limit flags
 *   GDT=     fffffe0000001000 0000007f          base limit
 *   CR0=80050033 CR2=... CR3=... CR4=...  DR0=... DR7=...  EFER=...
 *
 * A group is marked valid only when every register of it was found.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "qemu.h"

/* Up to n hex numbers after p, separated by spaces; returns how many. */
static int hex_values(const char *p, const char *end, uint64_t *v, int n)
{
    int got = 0;
    while (got < n) {
        while (p < end && *p == ' ')
            p++;
        uint64_t x = 0;
        int digits = 0;
        for (; p < end && gdb_hexval((unsigned char)*p) >= 0 && digits < 17; p++, digits++)
            x = x << 4 | (uint64_t)gdb_hexval((unsigned char)*p);
        if (digits == 0 || digits > 16 || (p < end && !strchr(" \r\n", *p)))
            break;
        v[got++] = x;
    }
    return got;
}

typedef struct named {
    const char *name;
    size_t offset;     /* in vmic_amd64_regs_t */
    uint32_t group;
    int kind;          /* 0 one value, 1 segment, 2 descriptor table */
} named;

#define R(n, f, g) {n, offsetof(vmic_amd64_regs_t, f), g, 0}
#define S(n, f) {n, offsetof(vmic_amd64_regs_t, f), VMIC_REGS_SEG, 1}
#define T(n, f) {n, offsetof(vmic_amd64_regs_t, f), VMIC_REGS_DT, 2}
static const named registers[] = {
    R("RAX", rax, VMIC_REGS_GPR), R("RBX", rbx, VMIC_REGS_GPR), R("RCX", rcx, VMIC_REGS_GPR),
    R("RDX", rdx, VMIC_REGS_GPR), R("RSI", rsi, VMIC_REGS_GPR), R("RDI", rdi, VMIC_REGS_GPR),
    R("RBP", rbp, VMIC_REGS_GPR), R("RSP", rsp, VMIC_REGS_GPR), R("R8", r8, VMIC_REGS_GPR),
    R("R9", r9, VMIC_REGS_GPR), R("R10", r10, VMIC_REGS_GPR), R("R11", r11, VMIC_REGS_GPR),
    R("R12", r12, VMIC_REGS_GPR), R("R13", r13, VMIC_REGS_GPR), R("R14", r14, VMIC_REGS_GPR),
    R("R15", r15, VMIC_REGS_GPR), R("RIP", rip, VMIC_REGS_GPR), R("RFL", rflags, VMIC_REGS_GPR),
    S("ES", es), S("CS", cs), S("SS", ss), S("DS", ds), S("FS", fs), S("GS", gs),
    S("LDT", ldtr), S("TR", tr), T("GDT", gdtr), T("IDT", idtr),
    R("CR0", cr0, VMIC_REGS_CR), R("CR2", cr2, VMIC_REGS_CR), R("CR3", cr3, VMIC_REGS_CR),
    R("CR4", cr4, VMIC_REGS_CR), R("DR0", dr0, VMIC_REGS_DR), R("DR1", dr1, VMIC_REGS_DR),
    R("DR2", dr2, VMIC_REGS_DR), R("DR3", dr3, VMIC_REGS_DR), R("DR6", dr6, VMIC_REGS_DR),
    R("DR7", dr7, VMIC_REGS_DR), R("EFER", efer, VMIC_REGS_EFER),
};
#undef R
#undef S
#undef T
enum { NREGS = sizeof registers / sizeof registers[0] };

static int find_register(const char *name, size_t len)
{
    for (int i = 0; i < NREGS; i++)
        if (strlen(registers[i].name) == len && memcmp(registers[i].name, name, len) == 0)
            return i;
    return -1;
}

/* QEMU prints a segment's descriptor flags as they sit in its high dword
 * (type at bit 8 ... G at bit 23); vmic keeps them as VMX access rights. */
static uint16_t access_rights(uint64_t flags)
{
    return (uint16_t)(((flags >> 8) & 0xff) | (((flags >> 20) & 0xf) << 12));
}

static bool store(vmic_amd64_regs_t *r, const named *n, const char *p, const char *end)
{
    uint64_t v[4];
    char *field = (char *)r + n->offset;
    if (n->kind == 0) {
        if (hex_values(p, end, v, 1) != 1)
            return false;
        memcpy(field, &v[0], sizeof v[0]);
    } else if (n->kind == 1) {
        if (hex_values(p, end, v, 4) != 4)
            return false;
        vmic_amd64_segment_t seg = {.selector = (uint16_t)v[0], .base = v[1],
                                    .limit = (uint32_t)v[2], .attr = access_rights(v[3])};
        memcpy(field, &seg, sizeof seg);
    } else {
        if (hex_values(p, end, v, 2) != 2)
            return false;
        vmic_amd64_dtable_t dt = {.base = v[0], .limit = (uint16_t)v[1]};
        memcpy(field, &dt, sizeof dt);
    }
    return true;
}

/* The text of one vCPU: after "CPU#N" up to the next "CPU#", or all of it
 * when there is no such line (info registers without -a). */
static bool vcpu_section(const char *text, unsigned vcpu, const char **start, const char **end)
{
    char head[32];
    int len = snprintf(head, sizeof head, "CPU#%u", vcpu);
    const char *p = text;
    /* "CPU#1" and not the start of "CPU#10"; QMP's HMP text ends lines in \r\n. */
    while ((p = strstr(p, head)) && !strchr("\r\n", p[len]))
        p += len;
    if (!p) {
        if (vcpu != 0 || strstr(text, "CPU#"))
            return false;
        *start = text;
        *end = text + strlen(text);
        return true;
    }
    *start = p + len;
    const char *next = strstr(*start, "CPU#");
    *end = next ? next : *start + strlen(*start);
    return true;
}

vmic_status hmp_regs_parse(const char *text, unsigned vcpu, vmic_amd64_regs_t *out)
{
    const char *p, *end;
    bool seen[NREGS] = {false};
    memset(out, 0, sizeof *out);
    if (!vcpu_section(text, vcpu, &p, &end))
        return vmic_fail(VMIC_E_NOTFOUND, "info registers: no vCPU %u in QEMU's answer", vcpu);
    for (const char *eq = memchr(p, '=', (size_t)(end - p)); eq;
         eq = memchr(eq + 1, '=', (size_t)(end - eq - 1))) {
        const char *n = eq;
        while (n > p && n[-1] == ' ')
            n--;
        const char *name_end = n;
        while (n > p && ((n[-1] >= 'A' && n[-1] <= 'Z') || (n[-1] >= '0' && n[-1] <= '9')))
            n--;
        int i = find_register(n, (size_t)(name_end - n));
        if (i >= 0 && !seen[i])
            seen[i] = store(out, &registers[i], eq + 1, end);
    }
    uint32_t missing = 0;
    for (int i = 0; i < NREGS; i++)
        if (!seen[i])
            missing |= registers[i].group;
    for (int i = 0; i < NREGS; i++)
        if (seen[i] && !(missing & registers[i].group))
            out->valid |= registers[i].group;
    if (!(out->valid & VMIC_REGS_GPR))
        return vmic_fail(VMIC_E_FORMAT, "info registers: no general registers for vCPU %u in "
                         "QEMU's answer", vcpu);
    return VMIC_OK;
}

unsigned hmp_regs_count(const char *text)
{
    unsigned n = 0;
    for (const char *p = strstr(text, "CPU#"); p; p = strstr(p + 4, "CPU#"))
        n++;
    return n ? n : 1;
}
