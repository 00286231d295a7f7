/*
 * Continuing from a breakpoint without a step. QEMU's TCG flushes all of
 * its translated code whenever a breakpoint is inserted or removed, so the
 * usual way past one -- take it out, step, put it back -- makes the guest
 * re-translate everything it runs, after every hit (a traced syscall loop
 * spent ~9 ms a hit that way). The instructions kernel functions begin
 * with are carried out here instead (vmic_amd64_decode_simple): RIP, and
 * for a PUSH the stack slot and RSP, are written as the CPU would, and the
 * breakpoint stays in.
 *
 * Only what the CPU would do without a fault: a PUSH whose slot is mapped
 * writable (and user-accessible from user mode), already dirty (a write
 * from outside sets no D bit, which the guest's reclaim would miss), in one
 * page, with no vmic watchpoint that it would have to trigger. Anything
 * else is stepped.
 */
#include <inttypes.h>
#include <string.h>

#include "qemu.h"

/* Up to 15 bytes at the vCPU's RIP; *n says how many were readable. */
static void read_code(qemu_driver_t *q, const vmic_amd64_regs_t *r, uint8_t *code, size_t *n)
{
    *n = 0;
    while (*n < 15) {
        uint64_t va = r->rip + *n;
        vmic_pa_t pa;
        size_t chunk = VMIC_PAGE_SIZE - (va & (VMIC_PAGE_SIZE - 1));
        if (chunk > 15 - *n)
            chunk = 15 - *n;
        if (qemu_translate(q, r, vmic_va(va), &pa) || qemu_rw(q, pa, code + *n, chunk, false)) {
            vmic_clear_error();
            return;
        }
        *n += chunk;
    }
}

static bool any_watchpoint(const qemu_driver_t *q)
{
    for (size_t i = 0; i < q->npoints; i++)
        if (q->points[i].type != GDB_POINT_HW_BREAK)
            return true;
    return false;
}

/* The PUSH's store, if the CPU would make it without a fault. */
static bool push_store(qemu_driver_t *q, const vmic_amd64_regs_t *r, uint64_t value)
{
    uint64_t slot = r->rsp - 8;
    vmic_translation_t t;
    if ((slot & (VMIC_PAGE_SIZE - 1)) > VMIC_PAGE_SIZE - 8 || any_watchpoint(q))
        return false;
    if (qemu_walk(q, r, vmic_va(slot), &t)) {
        vmic_clear_error();
        return false;
    }
    bool user_mode = (r->cs.selector & 3) == 3;
    if (!(t.access & VMIC_ACCESS_W) || !t.dirty || (user_mode && !t.user))
        return false;
    if (qemu_rw(q, t.pa, (uint8_t *)&value, sizeof value, true)) {
        vmic_clear_error();
        return false;
    }
    return true;
}

vmic_status qemu_emulate_over(qemu_driver_t *q, bool *done)
{
    qemu_events_t *e = &q->ev;
    vmic_amd64_regs_t cur, next;
    vmic_amd64_simple_insn_t insn;
    uint8_t code[15];
    size_t n;

    *done = false;
    vmic_status s = qemu_read_vcpu(q, e->over_vcpu, "stepping over a breakpoint of", &cur);
    if (s)
        return s;
    if (cur.rip != e->over_va || !(cur.valid & VMIC_REGS_CR) || !(cur.cr0 & VMIC_CR0_PG))
        return VMIC_OK;
    read_code(q, &cur, code, &n);
    if (!vmic_amd64_decode_simple(code, n, &insn))
        return VMIC_OK;
    next = cur;
    if (insn.kind == VMIC_SIMPLE_PUSH) {
        if (!push_store(q, &cur, vmic_amd64_gpr(&cur, insn.reg)))
            return VMIC_OK;
        next.rsp -= 8;
    }
    next.rip += insn.len;
    /* Only what changed goes to QEMU ('P' packets). A failure here leaves at
     * most a word written below RSP, where nothing lives. A PUSH takes two
     * packets: should vmic die between them, its guard puts RSP and RIP
     * back, and the vCPU carries the PUSH out itself (guard.c). */
    const gdb_reg_t *regs[2] = {gdb_regmap_find(&q->regmap, "rsp"),
                                gdb_regmap_find(&q->regmap, "rip")};
    const uint64_t before[2] = {cur.rsp, cur.rip};
    bool journal = insn.kind == VMIC_SIMPLE_PUSH && regs[0] && regs[1];
    if (journal)
        guard_undo(&q->guard, q->threads[e->over_vcpu], regs, before, 2);
    s = regs_write(&q->gdb, &q->regmap, &cur, &next);
    if (journal)
        guard_undo_done(&q->guard);
    if (s)
        return s;
    e->over_emulated++;
    *done = true;
    return VMIC_OK;
}
