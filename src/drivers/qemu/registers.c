/*
 * vmic's amd64 register set over the gdbstub's register layout.
 *
 * Reading: one 'g' packet holds every register of the target description's
 * core (608 bytes on QEMU 7.2); a register the map places beyond it is read
 * with 'p'. Values are target-endian (little) hex; 'x' digits mark a register
 * the stub cannot read, which leaves its group invalid.
 *
 * Writing: 'P' for each register whose value differs from the current one,
 * so a read-modify-write of one register sends one packet, and QEMU's side
 * effects of writing a register (reloading a segment descriptor for a
 * selector, flushing the TLB for CR0/CR3/CR4) happen only for what changed.
 *
 * What the layout lacks is not invented: GDTR/IDTR, debug registers, segment
 * limits and attributes, the syscall MSRs. Their groups stay invalid, and
 * asking to write them is VMIC_E_UNSUPPORTED. As with ELF core notes,
 * VMIC_REGS_SEG means selectors plus the fs/gs bases (cs/ds/es/ss bases are
 * zero in long mode; QEMU 7.2 does not expose them); kernel_gs_base rides
 * along with it.
 *
 * QEMU reports the general registers as the vCPU's current code segment
 * sees them: outside 64-bit code (a 32-bit process in compatibility mode,
 * firmware) rax..rdi and rip come truncated to 32 bits and r8..r15 as zero.
 * Without the code segment's attributes vmic cannot tell; a 64-bit kernel
 * and its 64-bit processes are unaffected.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu.h"

typedef struct reg_field {
    const char *gdb;     /* name in the target description */
    size_t off;          /* offsetof in vmic_amd64_regs_t */
    uint8_t size;        /* bytes of that field: 8, or 2 for a selector */
    uint32_t group;      /* VMIC_REGS_* */
    bool required;       /* the group is valid only with it */
} reg_field;

#define F(gdbname, field, sz, grp, req) \
    {gdbname, offsetof(vmic_amd64_regs_t, field), sz, VMIC_REGS_##grp, req}

static const reg_field fields[] = {
    F("rax", rax, 8, GPR, true), F("rbx", rbx, 8, GPR, true), F("rcx", rcx, 8, GPR, true),
    F("rdx", rdx, 8, GPR, true), F("rsi", rsi, 8, GPR, true), F("rdi", rdi, 8, GPR, true),
    F("rbp", rbp, 8, GPR, true), F("rsp", rsp, 8, GPR, true), F("r8", r8, 8, GPR, true),
    F("r9", r9, 8, GPR, true), F("r10", r10, 8, GPR, true), F("r11", r11, 8, GPR, true),
    F("r12", r12, 8, GPR, true), F("r13", r13, 8, GPR, true), F("r14", r14, 8, GPR, true),
    F("r15", r15, 8, GPR, true), F("rip", rip, 8, GPR, true), F("eflags", rflags, 8, GPR, true),
    F("cs", cs.selector, 2, SEG, true), F("ss", ss.selector, 2, SEG, true),
    F("ds", ds.selector, 2, SEG, true), F("es", es.selector, 2, SEG, true),
    F("fs", fs.selector, 2, SEG, true), F("gs", gs.selector, 2, SEG, true),
    F("fs_base", fs.base, 8, SEG, true), F("gs_base", gs.base, 8, SEG, true),
    F("k_gs_base", kernel_gs_base, 8, SEG, false),
    /* Not in QEMU 7.2's layout (commented out there); taken if a stub has them. */
    F("cs_base", cs.base, 8, SEG, false), F("ss_base", ss.base, 8, SEG, false),
    F("ds_base", ds.base, 8, SEG, false), F("es_base", es.base, 8, SEG, false),
    F("cr0", cr0, 8, CR, true), F("cr2", cr2, 8, CR, true), F("cr3", cr3, 8, CR, true),
    F("cr4", cr4, 8, CR, true), F("cr8", cr8, 8, CR, false),
    F("efer", efer, 8, EFER, true),
};
#undef F

#define NFIELDS (sizeof fields / sizeof fields[0])
#define ALL_GROUPS (VMIC_REGS_GPR | VMIC_REGS_SEG | VMIC_REGS_CR | VMIC_REGS_DT | \
                    VMIC_REGS_DR | VMIC_REGS_EFER | VMIC_REGS_MSR)

static uint64_t get_field(const vmic_amd64_regs_t *r, const reg_field *f)
{
    const uint8_t *p = (const uint8_t *)r + f->off;
    if (f->size == 2) {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void set_field(vmic_amd64_regs_t *r, const reg_field *f, uint64_t v)
{
    uint8_t *p = (uint8_t *)r + f->off;
    if (f->size == 2) {
        uint16_t x = (uint16_t)v;
        memcpy(p, &x, 2);
    } else {
        memcpy(p, &v, 8);
    }
}

/* A register the map has and vmic can hold: at most 64 bits. */
static const gdb_reg_t *usable(const gdb_regmap_t *map, const reg_field *f)
{
    const gdb_reg_t *r = gdb_regmap_find(map, f->gdb);
    return r && r->bits <= 64 ? r : NULL;
}

uint32_t regs_groups(const gdb_regmap_t *map)
{
    uint32_t groups = VMIC_REGS_GPR | VMIC_REGS_SEG | VMIC_REGS_CR | VMIC_REGS_EFER;
    for (size_t i = 0; i < NFIELDS; i++)
        if (fields[i].required && !usable(map, &fields[i]))
            groups &= ~fields[i].group;
    return groups;
}

size_t regs_decode_hex(const char *hex, size_t len, uint8_t *out, uint8_t *avail, size_t cap)
{
    if (len % 2 || len / 2 > cap)
        return SIZE_MAX;
    for (size_t i = 0; i < len / 2; i++) {
        char a = hex[2 * i], b = hex[2 * i + 1];
        if (a == 'x' && b == 'x') {
            out[i] = 0;
            avail[i] = 0;
            continue;
        }
        int h = gdb_hexval((unsigned char)a), l = gdb_hexval((unsigned char)b);
        if (h < 0 || l < 0)
            return SIZE_MAX;
        out[i] = (uint8_t)(h << 4 | l);
        avail[i] = 1;
    }
    return len / 2;
}

/* Little-endian value of n bytes (n <= 8); false if any byte is unavailable. */
static bool le_value(const uint8_t *b, const uint8_t *avail, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (!avail[i])
            return false;
        x |= (uint64_t)b[i] << (8 * i);
    }
    *v = x;
    return true;
}

#define G_MAX 65536

/* One register with 'p', for those not in the 'g' reply. */
static bool read_one(gdb_remote_t *g, const gdb_reg_t *reg, uint64_t *v, vmic_status *err)
{
    uint8_t b[8], avail[8];
    const char *r;
    size_t n;

    *err = gdb_commandf(g, &r, &n, "p%" PRIx32, reg->regnum);
    if (*err)
        return false;
    size_t got = regs_decode_hex(r, n, b, avail, sizeof b);
    if (got == SIZE_MAX || got < reg->bits / 8)
        return false;   /* "", "Exx" or short: the stub cannot read it */
    return le_value(b, avail, reg->bits / 8, v);
}

vmic_status regs_read(gdb_remote_t *g, const gdb_regmap_t *map, vmic_amd64_regs_t *out)
{
    const char *r;
    size_t n;

    memset(out, 0, sizeof *out);
    vmic_status s = gdb_command(g, "g", &r, &n);
    if (s)
        return s;
    if (n == 0 || r[0] == 'E')
        return vmic_fail(VMIC_E_IO, "%s: the stub refused to read the registers ('g': '%.20s')",
                         g->name, r);
    if (n / 2 > G_MAX)
        return vmic_fail(VMIC_E_FORMAT, "%s: a 'g' reply of %zu characters", g->name, n);
    uint8_t *gbuf = malloc(n / 2 + 1), *gavail = malloc(n / 2 + 1);
    size_t glen = gbuf && gavail ? regs_decode_hex(r, n, gbuf, gavail, n / 2) : SIZE_MAX;
    if (glen == SIZE_MAX) {
        free(gbuf);
        free(gavail);
        if (n / 2 > 0 && (!gbuf || !gavail))
            return vmic_fail(VMIC_E_NOMEM, "%s: no memory", g->name);
        return vmic_fail(VMIC_E_FORMAT, "%s: malformed 'g' reply of %zu characters", g->name, n);
    }

    uint32_t valid = regs_groups(map);
    for (size_t i = 0; i < NFIELDS; i++) {
        const reg_field *f = &fields[i];
        const gdb_reg_t *reg = usable(map, f);
        if (!reg)
            continue;
        size_t bytes = reg->bits / 8;
        uint64_t v = 0;
        bool ok;
        if (reg->g_offset != UINT32_MAX && reg->g_offset + bytes <= glen) {
            ok = le_value(gbuf + reg->g_offset, gavail + reg->g_offset, bytes, &v);
        } else {
            ok = read_one(g, reg, &v, &s);
            if (s)
                break;
        }
        if (!ok) {
            if (f->required)
                valid &= ~f->group;
            continue;
        }
        set_field(out, f, v);
    }
    free(gbuf);
    free(gavail);
    if (s)
        return s;
    out->valid = valid;
    return VMIC_OK;
}

static void group_names(uint32_t groups, char *buf, size_t size)
{
    static const struct { uint32_t bit; const char *name; } names[] = {
        {VMIC_REGS_GPR, "general"}, {VMIC_REGS_SEG, "segment"}, {VMIC_REGS_CR, "control"},
        {VMIC_REGS_DT, "GDTR/IDTR"}, {VMIC_REGS_DR, "debug"}, {VMIC_REGS_EFER, "EFER"},
        {VMIC_REGS_MSR, "MSR"},
    };
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (groups & names[i].bit) {
            int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", names[i].name);
            if (n < 0 || (size_t)n >= size - used)
                return;
            used += (size_t)n;
        }
}

vmic_status regs_write(gdb_remote_t *g, const gdb_regmap_t *map, const vmic_amd64_regs_t *cur,
                       const vmic_amd64_regs_t *want)
{
    uint32_t can = regs_groups(map);
    uint32_t asked = want->valid & ALL_GROUPS;
    char names[128];

    if (asked & ~can) {
        group_names(asked & ~can, names, sizeof names);
        return vmic_fail(VMIC_E_UNSUPPORTED, "%s: the gdbstub cannot write %s registers",
                         g->name, names);
    }
    if ((asked & VMIC_REGS_GPR) && (want->rflags >> 32))
        return vmic_fail(VMIC_E_INVAL, "%s: rflags 0x%" PRIx64 " has bits above 31 set",
                         g->name, want->rflags);

    for (size_t i = 0; i < NFIELDS; i++) {
        const reg_field *f = &fields[i];
        const gdb_reg_t *reg = usable(map, f);
        if (!reg || !(asked & f->group))
            continue;
        uint64_t v = get_field(want, f);
        if (v == get_field(cur, f))
            continue;
        char hex[17];
        size_t bytes = reg->bits / 8;
        for (size_t b = 0; b < bytes; b++)
            snprintf(hex + 2 * b, 3, "%02x", (unsigned)(v >> (8 * b)) & 0xff);
        char cmd[48];
        snprintf(cmd, sizeof cmd, "P%" PRIx32 "=%s", reg->regnum, hex);
        vmic_status s = gdb_command_ok(g, cmd);
        if (s)
            return vmic_fail_wrap(s, "writing %s = 0x%" PRIx64, f->gdb, v);
    }
    return VMIC_OK;
}
