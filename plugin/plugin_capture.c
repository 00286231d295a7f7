/*
 * Capture programs: what a vCPU copies out of guest memory into its record
 * at the instant a watched instruction runs, so that the client can decode
 * the event later while the vCPU has gone on (vmic_plugin_abi.h).
 *
 * Why here and not in vmic: API v1 gives a plugin no registers and no
 * memory reads, and a vCPU that waits for vmic to read for it costs two
 * cross-process wake-ups per event (the sync mode, ~8x on a syscall loop).
 * The plugin lives in QEMU's process, where guest RAM is mapped: reading it
 * directly, through the guest's page tables, costs a few hundred ns.
 *
 * The programs come from the client and are hostile input: every op is
 * bounded (at most MAX_OPS ops, no jumps, each copy at most ITEM_MAX bytes
 * into a record of fixed size), every register index is masked, every
 * address goes through the page-table walk, which only reads RAM the
 * plugin found mapped. A failed read leaves 0 and marks the record partial.
 */
#include <string.h>

#include "plugin_internal.h"

#define FRAME_MASK 0x000ffffffffff000ull

/* Reads a little-endian u64 at pa; false if pa is not in RAM. */
static bool read_pa_u64(struct plugin *p, uint64_t pa, uint64_t *out)
{
    uint64_t avail;
    const uint8_t *h = vp_pa_to_host(p, pa, &avail);
    if (!h || avail < 8)
        return false;
    memcpy(out, h, 8);
    return true;
}

/* The guest-physical address of va through the tables at root (4- or
 * 5-level), with the bytes to the end of its page. */
static bool translate(struct plugin *p, uint32_t levels, uint64_t root, uint64_t va,
                      uint64_t *pa, uint64_t *in_page)
{
    uint64_t table = root & FRAME_MASK;
    for (uint32_t level = levels; level >= 1; level--) {
        unsigned shift = 12 + 9 * (level - 1);
        uint64_t entry;
        if (!read_pa_u64(p, table + ((va >> shift) & 511) * 8, &entry) || !(entry & 1))
            return false;
        bool large = (level == 2 || level == 3) && (entry & 0x80);
        if (level == 1 || large) {
            uint64_t size = 1ull << shift;
            *pa = (entry & FRAME_MASK & ~(size - 1)) | (va & (size - 1));
            *in_page = size - (va & (size - 1));
            return true;
        }
        table = entry & FRAME_MASK;
    }
    return false;
}

/* Copies up to len bytes at va into out; stops early at a NUL when str.
 * Returns the bytes copied (a string: with its NUL), *mapped false if a
 * page on the way was not. */
static uint32_t read_va(struct plugin *p, uint32_t levels, uint64_t root, uint64_t va,
                        uint8_t *out, uint32_t len, bool str, bool *mapped)
{
    uint32_t done = 0;
    *mapped = true;
    while (done < len) {
        uint64_t pa, in_page, avail;
        if (!translate(p, levels, root, va + done, &pa, &in_page)) {
            *mapped = false;
            return done;
        }
        const uint8_t *h = vp_pa_to_host(p, pa, &avail);
        if (!h) {
            *mapped = false;
            return done;
        }
        uint64_t n = len - done;
        if (n > in_page)
            n = in_page;
        if (n > avail)
            n = avail;
        if (str) {
            const uint8_t *nul = memchr(h, 0, n);
            if (nul) {
                uint32_t k = (uint32_t)(nul - h) + 1;
                memcpy(out + done, h, k);
                return done + k;
            }
        }
        memcpy(out + done, h, n);
        done += (uint32_t)n;
    }
    return done;
}

/* Appends an item of want bytes at va (through root) to the record. */
static void add_item(struct plugin *p, uint32_t levels, uint64_t root,
                     struct vmic_plugin_record *rec, uint64_t va, uint32_t want, bool str,
                     uint8_t tag)
{
    const uint32_t head = sizeof(struct vmic_plugin_item);
    if (want > VMIC_PLUGIN_ITEM_MAX)
        want = VMIC_PLUGIN_ITEM_MAX;
    if (rec->data_len + head > VMIC_PLUGIN_DATA) {
        rec->ev.flags |= VMIC_PLUGIN_RECORD_PARTIAL;
        return;
    }
    struct vmic_plugin_item it = {.va = va, .want = want, .tag = tag};
    uint32_t room = VMIC_PLUGIN_DATA - rec->data_len - head;
    uint32_t len = want < room ? want : room;
    bool mapped;
    uint32_t got = read_va(p, levels, root, va, rec->data + rec->data_len + head, len, str,
                           &mapped);
    it.len = (uint16_t)got;
    if (!mapped)
        it.status = VMIC_PLUGIN_ITEM_UNMAPPED;
    else if (got < want && !(str && got > 0 && rec->data[rec->data_len + head + got - 1] == 0))
        it.status = VMIC_PLUGIN_ITEM_SHORT;
    if (it.status != VMIC_PLUGIN_ITEM_OK)
        rec->ev.flags |= VMIC_PLUGIN_RECORD_PARTIAL;
    memcpy(rec->data + rec->data_len, &it, head);
    rec->data_len += head + ((got + 7u) & ~7u);
    if (rec->data_len > VMIC_PLUGIN_DATA)
        rec->data_len = VMIC_PLUGIN_DATA;
}

/* OP_ARGS: the arguments of system call r[1] that point at memory. */
static bool syscall_args(struct plugin *p, const struct capture_set *cs, uint64_t root,
                         struct vmic_plugin_record *rec, uint32_t phase)
{
    uint64_t nr = rec->r[1];
    if (nr >= VMIC_PLUGIN_NR_MAX)
        return false;
    const struct vmic_plugin_nr *d = &cs->nrs[nr];
    for (uint32_t i = 0; i < 6; i++) {
        const struct vmic_plugin_arg *a = &d->arg[i];
        uint64_t va = rec->r[2 + i], n = a->max[phase];
        if (va == 0)
            continue;
        switch (a->kind[phase]) {
        case VMIC_PLUGIN_ARG_STR: add_item(p, cs->levels, root, rec, va, (uint32_t)n, true,
                                           (uint8_t)(32 + i));
            continue;
        case VMIC_PLUGIN_ARG_FIXED: break;
        case VMIC_PLUGIN_ARG_BUF: {
            uint64_t len = rec->r[2 + (a->len_arg % 6)];
            n = len < n ? len : n;
            break;
        }
        case VMIC_PLUGIN_ARG_BUFRET:
            if ((int64_t)rec->r[0] <= 0)
                continue;
            n = rec->r[0] < n ? rec->r[0] : n;
            break;
        default: continue;
        }
        if (n)
            add_item(p, cs->levels, root, rec, va, (uint32_t)n, false, (uint8_t)(32 + i));
    }
    return (d->hold & (phase ? VMIC_PLUGIN_NR_HOLD_RETURN : VMIC_PLUGIN_NR_HOLD_ENTRY)) != 0;
}

bool vp_capture_run(struct plugin *p, const struct capture_set *cs, uint32_t prog,
                    unsigned int vcpu, struct vmic_plugin_record *rec)
{
    if (prog >= cs->nprograms || vcpu >= VMIC_PLUGIN_MAX_VCPUS)
        return false;
    const struct vmic_plugin_program *pr = &cs->programs[prog];
    bool hold = (pr->flags & VMIC_PLUGIN_PROGRAM_HOLD) != 0;
    uint32_t nops = pr->nops < VMIC_PLUGIN_MAX_OPS ? pr->nops : VMIC_PLUGIN_MAX_OPS;
    rec->ev.flags |= VMIC_PLUGIN_RECORD_CAPTURE;
    rec->program = prog + 1;
    for (uint32_t i = 0; i < nops; i++) {
        const struct vmic_plugin_op *o = &pr->ops[i];
        uint64_t *dst = &rec->r[o->dst % VMIC_PLUGIN_REGS];
        uint64_t base = rec->r[o->a % VMIC_PLUGIN_REGS] + (uint64_t)o->imm;
        uint64_t root = o->root == VMIC_PLUGIN_ROOT_KERNEL ? cs->kernel_root
                                                           : rec->r[o->root % VMIC_PLUGIN_REGS];
        bool mapped = true;
        switch (o->op) {
        case VMIC_PLUGIN_OP_END: return hold;
        case VMIC_PLUGIN_OP_ANCHOR:
            if (!read_pa_u64(p, cs->anchors[vcpu][(uint64_t)o->imm % VMIC_PLUGIN_ANCHORS], dst)) {
                *dst = 0;
                mapped = false;
            }
            break;
        case VMIC_PLUGIN_OP_LOAD: {
            uint8_t b[8] = {0};
            uint32_t n = o->len == 4 ? 4 : 8;
            bool whole;
            mapped = read_va(p, cs->levels, root, base, b, n, false, &whole) == n && whole;
            uint64_t v = 0;
            memcpy(&v, b, 8);
            *dst = mapped ? v : 0;
            break;
        }
        case VMIC_PLUGIN_OP_ADD: *dst = base; break;
        case VMIC_PLUGIN_OP_PA: {
            uint64_t pa, in_page;
            mapped = translate(p, cs->levels, root, base, &pa, &in_page);
            *dst = mapped ? pa : 0;
            break;
        }
        case VMIC_PLUGIN_OP_COPY:
        case VMIC_PLUGIN_OP_STR:
            add_item(p, cs->levels, root, rec, base, o->len, o->op == VMIC_PLUGIN_OP_STR,
                     (uint8_t)i);
            break;
        case VMIC_PLUGIN_OP_ARGS:
            hold |= syscall_args(p, cs, root, rec, o->imm ? 1 : 0);
            break;
        default: mapped = false; break;
        }
        if (!mapped)
            rec->ev.flags |= VMIC_PLUGIN_RECORD_PARTIAL;
    }
    return hold;
}

/* The client's capture set, copied and clamped once per watch generation. */
void vp_capture_snapshot(const struct vmic_plugin_ctl *c, struct capture_set *out)
{
    memcpy(out->anchors, c->anchors, sizeof out->anchors);
    memcpy(out->programs, c->programs, sizeof out->programs);
    memcpy(out->nrs, c->nrs, sizeof out->nrs);
    out->kernel_root = __atomic_load_n(&c->kernel_root, __ATOMIC_RELAXED);
    uint32_t levels = __atomic_load_n(&c->levels, __ATOMIC_RELAXED);
    out->levels = levels == 5 ? 5 : 4;
    uint32_t n = __atomic_load_n(&c->nprograms, __ATOMIC_RELAXED);
    out->nprograms = n < VMIC_PLUGIN_MAX_PROGRAMS ? n : VMIC_PLUGIN_MAX_PROGRAMS;
}
