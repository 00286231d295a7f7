/*
 * The system-call entry. Every syscall from 64-bit user space enters the
 * kernel where MSR_LSTAR says, entry_SYSCALL_64; a rootkit that wants all
 * of them without touching sys_call_table either writes LSTAR or patches
 * entry_SYSCALL_64's first instructions into a jump to its own code.
 *
 * Where the driver gives the MSRs (kvm), each vCPU's LSTAR must be
 * entry_SYSCALL_64, or an alias of the same physical bytes, or, on the
 * 4.15-5.x kernels with PTI, entry_SYSCALL_64_trampoline (in the
 * cpu_entry_area, so again an alias). QEMU's gdbstub and ELF dumps have no
 * MSRs: there, and always, the first instruction of entry_SYSCALL_64 (after
 * an endbr64) is decoded, and a jump or call whose target is outside the
 * kernel's text is a finding. The forms a patch takes: jmp/call rel32,
 * jmp rel8, jmp [rip+disp32], movabs imm64 to a register then jmp/call it,
 * push imm32 then ret.
 */
#include <stdio.h>
#include <string.h>

#include "check_internal.h"

static int report(vmic_check_fn fn, void *arg, const lx_text_map *map, int64_t nr,
                  const char *name, uint64_t addr, const char *detail)
{
    vmic_check_finding_t f;
    lx_finding_init(&f, VMIC_CHECK_SYSCALL_ENTRY, nr);
    snprintf(f.name, sizeof f.name, "%s", name);
    f.addr = vmic_va(addr);
    const vmic_module_t *mod = lx_module_at(map, addr);
    if (mod)
        snprintf(f.module, sizeof f.module, "%s", mod->name);
    snprintf(f.detail, sizeof f.detail, "%s", detail);
    return fn(arg, &f);
}

static int32_t s32(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Where the instruction at va (its bytes in b) transfers control to, if it
 * is one of the forms a patch takes; false for anything else. */
static bool branch_target(vmic_os *os, uint64_t va, const uint8_t *b, uint64_t *to)
{
    if (b[0] == 0xe9 || b[0] == 0xe8) { /* jmp/call rel32 */
        *to = va + 5 + (uint64_t)(int64_t)s32(b + 1);
        return true;
    }
    if (b[0] == 0xeb) { /* jmp rel8 */
        *to = va + 2 + (uint64_t)(int64_t)(int8_t)b[1];
        return true;
    }
    if (b[0] == 0xff && b[1] == 0x25) { /* jmp [rip+disp32] */
        uint64_t slot = va + 6 + (uint64_t)(int64_t)s32(b + 2);
        if (lx_u64(os, slot, to) != VMIC_OK) {
            vmic_clear_error();
            *to = slot; /* an unreadable slot: where it is, outside text too */
        }
        return true;
    }
    /* movabs $imm64, %reg (REX.W B8+r, REX.B for r8-r15), then jmp/call *%reg
     * (FF E0+r / FF D0+r, with REX.B 41 first for r8-r15). */
    if ((b[0] == 0x48 || b[0] == 0x49) && b[1] >= 0xb8 && b[1] <= 0xbf) {
        unsigned reg = b[1] - 0xb8u, at = 10;
        bool high = b[0] == 0x49;
        if (high) {
            if (b[at] != 0x41)
                return false;
            at++;
        }
        if (b[at] == 0xff && (b[at + 1] == 0xe0 + reg || b[at + 1] == 0xd0 + reg)) {
            memcpy(to, b + 2, 8);
            return true;
        }
        return false;
    }
    if (b[0] == 0x68 && b[5] == 0xc3) { /* push $imm32 (sign-extended); ret */
        *to = (uint64_t)(int64_t)s32(b + 1);
        return true;
    }
    return false;
}

/* entry_SYSCALL_64's first instruction. */
static int check_bytes(vmic_os *os, const lx_text_map *map, uint64_t entry, vmic_check_fn fn,
                       void *arg, vmic_status *s)
{
    uint8_t b[32];
    if ((*s = lx_read(os, entry, b, sizeof b))) {
        *s = vmic_fail_wrap(*s, "entry_SYSCALL_64 at 0x%llx", (unsigned long long)entry);
        return 0;
    }
    uint64_t at = entry;
    const uint8_t *p = b;
    static const uint8_t endbr64[4] = {0xf3, 0x0f, 0x1e, 0xfa};
    if (memcmp(p, endbr64, sizeof endbr64) == 0) {
        p += 4;
        at += 4;
    }
    uint64_t to;
    if (!branch_target(os, at, p, &to) || lx_in_text(map, to))
        return 0;
    return report(fn, arg, map, -1, "entry_SYSCALL_64", to,
                  "its first instruction jumps outside the kernel's text");
}

/* Each vCPU's LSTAR, where the driver has the MSRs; *seen how many had. */
static int check_lstar(vmic_os *os, const lx_text_map *map, uint64_t entry, vmic_check_fn fn,
                       void *arg, size_t *seen)
{
    uint64_t tramp = 0;
    vmic_pa_t entry_pa = {0}, tramp_pa = {0}, pa;
    if (lx_kpa(os, vmic_va(entry), &entry_pa) != VMIC_OK)
        entry_pa.addr = 0;
    if (lx_sym(os, "entry_SYSCALL_64_trampoline", &tramp) &&
        lx_kpa(os, vmic_va(tramp), &tramp_pa) != VMIC_OK)
        tramp_pa.addr = 0;
    vmic_clear_error();
    uint32_t n = vmic_vcpu_count(os->core);
    for (uint32_t cpu = 0; cpu < n; cpu++) {
        vmic_amd64_regs_t r;
        if (vmic_get_regs(os->core, cpu, &r) != VMIC_OK || !(r.valid & VMIC_REGS_MSR)) {
            vmic_clear_error();
            continue;
        }
        (*seen)++;
        uint64_t l = r.lstar;
        if (l == entry || (tramp && l == tramp))
            continue;
        /* An alias maps the same bytes at another address (cpu_entry_area). */
        if (lx_kpa(os, vmic_va(l), &pa) == VMIC_OK && pa.addr &&
            ((entry_pa.addr && pa.addr == entry_pa.addr) ||
             (tramp_pa.addr && pa.addr == tramp_pa.addr)))
            continue;
        vmic_clear_error();
        char why[128];
        snprintf(why, sizeof why, "vCPU %u's MSR_LSTAR is not entry_SYSCALL_64%s", cpu,
                 lx_in_text(map, l) ? " (it is in the kernel's text)" : "");
        if (report(fn, arg, map, cpu, "LSTAR", l, why))
            return 1;
    }
    return 0;
}

vmic_status vmic_os_check_syscall_entry(vmic_os *os, vmic_check_fn fn, void *arg,
                                        size_t *checked)
{
    vmic_status s;
    uint64_t entry;
    if (checked)
        *checked = 0;
    if ((s = lx_need_sym(os, "entry_SYSCALL_64", &entry)))
        return vmic_fail_wrap(s, "checking the syscall entry");
    lx_text_map map;
    if ((s = lx_text_map_init(os, &map)))
        return vmic_fail_wrap(s, "checking the syscall entry");
    size_t lstars = 0;
    if (!check_lstar(os, &map, entry, fn, arg, &lstars))
        check_bytes(os, &map, entry, fn, arg, &s);
    if (checked)
        *checked = lstars + 1; /* the vCPUs' LSTARs and the entry's first instruction */
    lx_text_map_free(&map);
    return s;
}
