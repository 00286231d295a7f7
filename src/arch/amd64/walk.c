/*
 * The amd64 page walker: one virtual address through 4- or 5-level tables.
 *
 * vmic_amd64_walk is the hot path of every uncached translation, so it is a
 * single loop with the masks computed up front, no formatting and no calls
 * besides the table reader. Messages are built only on failure, by
 * vmic_amd64_translate / vmic_walk_describe.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <vmic/arch.h>

#include "paging_bits.h"

vmic_paging_t vmic_paging_default(void)
{
    vmic_paging_t pg = {
        .mode = VMIC_PAGING_4LEVEL,
        .maxphyaddr = AMD64_ARCH_MAXPHYADDR,
        .nxe = true,
    };
    return pg;
}

const char *vmic_level_name(int level)
{
    switch (level) {
    case VMIC_LEVEL_PT: return "PT";
    case VMIC_LEVEL_PD: return "PD";
    case VMIC_LEVEL_PDPT: return "PDPT";
    case VMIC_LEVEL_PML4: return "PML4";
    case VMIC_LEVEL_PML5: return "PML5";
    }
    return "unknown level";
}

const char *vmic_walk_fault_name(vmic_walk_fault f)
{
    switch (f) {
    case VMIC_WALK_OK: return "ok";
    case VMIC_WALK_NONCANONICAL: return "non-canonical";
    case VMIC_WALK_NOT_PRESENT: return "not present";
    case VMIC_WALK_RESERVED: return "reserved bit set";
    case VMIC_WALK_NO_TABLE: return "table outside guest memory";
    }
    return "unknown fault";
}

bool vmic_va_is_canonical(const vmic_paging_t *pg, vmic_va_t va)
{
    const amd64_layout_t l = amd64_layout(pg);
    return amd64_sign_extend(va.addr, l.va_bits) == va.addr;
}

static vmic_status walk_failed(vmic_translation_t *out, vmic_walk_fault fault,
                               unsigned level, uint64_t reserved_bits,
                               const vmic_walk_step_t *steps_end)
{
    out->pa = vmic_pa(0);
    out->page_size = 0;
    out->access = VMIC_ACCESS_NONE;
    out->user = false;
    out->global = false;
    out->dirty = false;
    out->fault = fault;
    out->fault_level = (uint8_t)level;
    out->reserved_bits = reserved_bits;
    out->nsteps = (uint8_t)(steps_end - out->steps);
    return VMIC_E_TRANSLATE;
}

/*
 * The walk found reserved bits somewhere along its path: the first entry
 * that has them is where the CPU would have stopped, so the walk ends there.
 */
static vmic_status walk_hit_reserved(vmic_translation_t *out, const vmic_paging_t *pg,
                                     const vmic_walk_step_t *steps_end)
{
    const amd64_layout_t l = amd64_layout(pg);
    for (const vmic_walk_step_t *s = out->steps; s < steps_end; s++) {
        const uint64_t reserved = amd64_reserved_set(&l, s->level, s->entry);
        if (reserved)
            return walk_failed(out, VMIC_WALK_RESERVED, s->level, reserved, s + 1);
    }
    return walk_failed(out, VMIC_WALK_RESERVED, 0, 0, steps_end); /* not reached */
}

/*
 * Reserved bits are checked once, after the loop, from the OR of every entry
 * on the path: that keeps the loop to the few instructions a walk needs. The
 * price is that a walk may read tables below an entry with reserved bits;
 * readers have no guest-visible side effects, and walk_hit_reserved reports
 * exactly what stopping at that entry would have.
 */
static inline __attribute__((always_inline)) vmic_status
walk(const vmic_paging_t *pg, vmic_pa_t root, vmic_va_t va, const uint8_t *flat,
     uint64_t flat_size, vmic_table_reader read_table, void *ctx, vmic_translation_t *out)
{
    const amd64_layout_t l = amd64_layout(pg);
    const uint64_t v = va.addr;

    out->va = va;
    memset(out->reserved, 0, sizeof out->reserved);
    if (amd64_sign_extend(v, l.va_bits) != v)
        return walk_failed(out, VMIC_WALK_NONCANONICAL, 0, 0, out->steps);

    uint64_t table = root.addr & l.addr_mask; /* drops PCID, PWT/PCD, bit 63 */
    unsigned level = l.top_level;
    unsigned shift = l.top_shift;
    uint64_t all_levels = ~0ull;
    uint64_t any_level = 0;
    uint64_t entry;
    vmic_walk_step_t *step = out->steps;

    for (;;) {
        const uint64_t *entries = table < flat_size
                                      ? (const uint64_t *)(const void *)(flat + table)
                                      : read_table(ctx, vmic_pa(table));
        const unsigned index = (unsigned)(v >> shift) & AMD64_INDEX_MASK;

        step->level = (uint8_t)level;
        step->index = (uint16_t)index;
        step->table = vmic_pa(table);
        if (!entries) {
            step->entry = 0;
            if (any_level & l.reserved)
                return walk_hit_reserved(out, pg, step);
            return walk_failed(out, VMIC_WALK_NO_TABLE, level, 0, step + 1);
        }
        entry = entries[index];
        step->entry = entry;
        step++;

        if (!(entry & VMIC_PTE_P)) {
            if (any_level & l.reserved)
                return walk_hit_reserved(out, pg, step);
            return walk_failed(out, VMIC_WALK_NOT_PRESENT, level, 0, step);
        }
        all_levels &= entry;
        any_level |= entry;
        /* PS in a PML4E/PML5E ends the loop too, and is rejected below. */
        if ((entry & VMIC_PTE_PS) || level == VMIC_LEVEL_PT)
            break;
        table = entry & l.addr_mask;
        level--;
        shift -= AMD64_BITS_PER_LEVEL;
    }

    if ((any_level & l.reserved) | amd64_reserved_set(&l, level, entry))
        return walk_hit_reserved(out, pg, step);

    const uint64_t offset_mask = (1ull << shift) - 1;
    out->pa = vmic_pa((entry & l.addr_mask & ~offset_mask) | (v & offset_mask));
    out->page_size = 1ull << shift;
    out->access = amd64_access(all_levels, any_level);
    out->user = (all_levels & VMIC_PTE_US) != 0;
    out->global = (entry & VMIC_PTE_G) != 0;
    out->dirty = (entry & VMIC_PTE_D) != 0;
    out->fault = VMIC_WALK_OK;
    out->fault_level = 0;
    out->reserved_bits = 0;
    out->nsteps = (uint8_t)(step - out->steps);
    return VMIC_OK;
}

vmic_status vmic_amd64_walk(const vmic_paging_t *pg, vmic_pa_t root, vmic_va_t va,
                            vmic_table_reader read_table, void *ctx,
                            vmic_translation_t *out)
{
    return walk(pg, root, va, NULL, 0, read_table, ctx, out);
}

vmic_status vmic_amd64_walk_from(const vmic_paging_t *pg, vmic_pa_t root, vmic_va_t va,
                                 const vmic_table_source_t *src, vmic_translation_t *out)
{
    return walk(pg, root, va, src->flat, src->flat ? src->flat_size : 0, src->read_table,
                src->ctx, out);
}

static int highest_bit(uint64_t bits)
{
    return 63 - __builtin_clzll(bits);
}

static const char *page_size_name(uint64_t size)
{
    switch (size) {
    case 1ull << 12: return "4 KiB";
    case 1ull << 21: return "2 MiB";
    case 1ull << 30: return "1 GiB";
    }
    return "unknown size";
}

static void describe_success(const vmic_translation_t *t, char *buf, size_t size)
{
    snprintf(buf, size, "va 0x%016" PRIx64 ": pa 0x%" PRIx64 " (%s page, %c%c%c%s%s)",
             t->va.addr, t->pa.addr, page_size_name(t->page_size),
             'r', (t->access & VMIC_ACCESS_W) ? 'w' : '-',
             (t->access & VMIC_ACCESS_X) ? 'x' : '-', t->user ? ", user" : "",
             t->global ? ", global" : "");
}

/*
 * A translation does not record the paging mode, so the non-canonical case
 * names it only when the caller knows it (mode 0 = unknown: infer what can be).
 */
static void describe_noncanonical(uint64_t va, vmic_paging_mode mode, char *buf, size_t size)
{
    const char *paging;
    if (mode == VMIC_PAGING_4LEVEL || mode == VMIC_PAGING_5LEVEL)
        paging = mode == VMIC_PAGING_5LEVEL ? "5-level" : "4-level";
    else if (amd64_sign_extend(va, 57) == va)
        paging = "4-level"; /* canonical for 5-level, so the walk was 4-level */
    else
        paging = "4- and 5-level";
    snprintf(buf, size, "va 0x%016" PRIx64 ": non-canonical for %s paging", va, paging);
}

static void describe_walk(const vmic_translation_t *t, vmic_paging_mode mode,
                          char *buf, size_t size)
{
    if (size == 0)
        return;
    if (t->fault == VMIC_WALK_OK) {
        describe_success(t, buf, size);
        return;
    }
    if (t->fault == VMIC_WALK_NONCANONICAL) {
        describe_noncanonical(t->va.addr, mode, buf, size);
        return;
    }
    if (t->nsteps == 0) {
        snprintf(buf, size, "va 0x%016" PRIx64 ": %s at %s", t->va.addr,
                 vmic_walk_fault_name(t->fault), vmic_level_name(t->fault_level));
        return;
    }

    const vmic_walk_step_t *s = &t->steps[t->nsteps - 1];
    const char *level = vmic_level_name(s->level);
    switch (t->fault) {
    case VMIC_WALK_NOT_PRESENT:
        snprintf(buf, size,
                 "va 0x%016" PRIx64 ": not present at %s (entry 0x%" PRIx64
                 " at pa 0x%" PRIx64 " index %u)",
                 t->va.addr, level, s->entry, s->table.addr, (unsigned)s->index);
        return;
    case VMIC_WALK_RESERVED: {
        /* Name the highest offender: address bits above maxphyaddr are the
         * usual culprit and the top one shows how far off the entry is. */
        char which[16] = "";
        if (t->reserved_bits)
            snprintf(which, sizeof which, " (bit %d)", highest_bit(t->reserved_bits));
        snprintf(buf, size,
                 "va 0x%016" PRIx64 ": reserved bit set at %s entry 0x%" PRIx64
                 "%s at pa 0x%" PRIx64 " index %u",
                 t->va.addr, level, s->entry, which, s->table.addr, (unsigned)s->index);
        return;
    }
    case VMIC_WALK_NO_TABLE:
        snprintf(buf, size,
                 "va 0x%016" PRIx64 ": %s table at pa 0x%" PRIx64
                 " is outside guest memory",
                 t->va.addr, level, s->table.addr);
        return;
    default:
        snprintf(buf, size, "va 0x%016" PRIx64 ": %s at %s", t->va.addr,
                 vmic_walk_fault_name(t->fault), level);
        return;
    }
}

void vmic_walk_describe(const vmic_translation_t *t, char *buf, size_t size)
{
    describe_walk(t, (vmic_paging_mode)0, buf, size);
}

vmic_status vmic_amd64_translate(const vmic_paging_t *pg, vmic_pa_t root, vmic_va_t va,
                                 vmic_table_reader read_table, void *ctx,
                                 vmic_translation_t *out)
{
    const vmic_status status = vmic_amd64_walk(pg, root, va, read_table, ctx, out);
    if (status == VMIC_OK)
        return VMIC_OK;
    return vmic_amd64_walk_fail(pg, out);
}

vmic_status vmic_amd64_walk_fail(const vmic_paging_t *pg, const vmic_translation_t *t)
{
    char message[256];
    describe_walk(t, pg->mode, message, sizeof message);
    return vmic_fail(VMIC_E_TRANSLATE, "%s", message);
}
