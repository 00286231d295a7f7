/* Reads, writes and translations by virtual address in an address context. */
#include <string.h>

#include "core_internal.h"

static vmic_status walk(vmic_core *core, vmic_pa_t root, vmic_va_t va, vmic_translation_t *t)
{
    if (vmic_amd64_walk_from(&core->paging, root, va, &core->tables, t) != VMIC_OK)
        return vmic_amd64_walk_fail(&core->paging, t);
    return VMIC_OK;
}

vmic_status vmic_translate(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, vmic_pa_t *pa)
{
    vmic_pa_t root = vmic_cr3_to_root(ctx.root.addr);
    vmic_translation_t t;

    if (tlb_lookup(core, root, va, pa))
        return VMIC_OK;
    vmic_status s = walk(core, root, va, &t);
    if (s)
        return s;
    tlb_insert(core, root, &t);
    *pa = t.pa;
    return VMIC_OK;
}

vmic_status vmic_translate_walk(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va,
                                vmic_translation_t *t)
{
    return walk(core, vmic_cr3_to_root(ctx.root.addr), va, t);
}

/*
 * Whether [va, va + len) runs past 2^64 - 1. A read there must fail rather
 * than wrap to va 0, which is a different (user) address.
 */
static bool past_top(uint64_t va, size_t len)
{
    return len > 0 && len - 1 > UINT64_MAX - va;
}

/* Calls op on each piece of [va, va+len) that lies in one page. */
typedef vmic_status (*page_op)(vmic_core *core, vmic_pa_t pa, uint8_t *buf, size_t n);

static vmic_status for_each_page(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, uint8_t *buf,
                                 size_t len, page_op op)
{
    if (past_top(va.addr, len))
        return vmic_fail(VMIC_E_RANGE, "[va 0x%llx, +0x%zx) runs past the top of the "
                         "virtual address space", (unsigned long long)va.addr, len);
    while (len > 0) {
        vmic_pa_t pa;
        vmic_status s = vmic_translate(core, ctx, va, &pa);
        if (s)
            return s;
        size_t in_page = (size_t)(VMIC_PAGE_SIZE - vmic_page_offset(va.addr));
        size_t n = in_page < len ? in_page : len;
        if ((s = op(core, pa, buf, n)))
            return vmic_fail_wrap(s, "va 0x%llx", (unsigned long long)va.addr);
        buf += n;
        va.addr += n;
        len -= n;
    }
    return VMIC_OK;
}

static vmic_status read_piece(vmic_core *core, vmic_pa_t pa, uint8_t *buf, size_t n)
{
    return vmic_read_pa(core, pa, buf, n);
}

static vmic_status write_piece(vmic_core *core, vmic_pa_t pa, uint8_t *buf, size_t n)
{
    return vmic_write_pa(core, pa, buf, n);
}

vmic_status vmic_read_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, void *buf, size_t len)
{
    return for_each_page(core, ctx, va, buf, len, read_piece);
}

vmic_status vmic_write_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, const void *buf,
                          size_t len)
{
    /* write_piece only reads from buf; the cast spares a second walker. */
    return for_each_page(core, ctx, va, (uint8_t *)(uintptr_t)buf, len, write_piece);
}

vmic_status vmic_read_u8_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, uint8_t *v)
{
    return vmic_read_va(core, ctx, va, v, sizeof *v);
}

vmic_status vmic_read_u16_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, uint16_t *v)
{
    return vmic_read_va(core, ctx, va, v, sizeof *v);
}

vmic_status vmic_read_u32_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, uint32_t *v)
{
    return vmic_read_va(core, ctx, va, v, sizeof *v);
}

vmic_status vmic_read_u64_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, uint64_t *v)
{
    return vmic_read_va(core, ctx, va, v, sizeof *v);
}

vmic_status vmic_read_ptr_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, vmic_va_t *v)
{
    return vmic_read_va(core, ctx, va, &v->addr, sizeof v->addr);
}

vmic_status vmic_read_str_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, char *buf,
                             size_t max_len, size_t *len)
{
    size_t got = 0;

    /* The string may still end before the top: read up to it, never past. */
    if (past_top(va.addr, max_len))
        max_len = (size_t)(UINT64_MAX - va.addr) + 1;
    while (got < max_len) {
        vmic_va_t at = vmic_va(va.addr + got);
        vmic_pa_t pa;
        vmic_status s = vmic_translate(core, ctx, at, &pa);
        if (s) {
            buf[got] = '\0';
            if (len)
                *len = got;
            return s;
        }
        size_t in_page = (size_t)(VMIC_PAGE_SIZE - vmic_page_offset(at.addr));
        size_t want = max_len - got < in_page ? max_len - got : in_page;
        size_t n;
        s = vmic_read_str_pa(core, pa, buf + got, want, &n);
        got += n;
        if (s == VMIC_OK) {
            if (len)
                *len = got;
            return VMIC_OK;
        }
        if (s != VMIC_E_RANGE) {
            if (len)
                *len = got;
            return vmic_fail_wrap(s, "string at va 0x%llx", (unsigned long long)va.addr);
        }
    }
    buf[got] = '\0';
    if (len)
        *len = got;
    return vmic_fail(VMIC_E_RANGE, "string at va 0x%llx is longer than %zu bytes",
                     (unsigned long long)va.addr, max_len);
}

vmic_status vmic_mappings(vmic_core *core, vmic_ctx_t ctx, uint64_t max_leaves,
                          vmic_mapping_fn fn, void *arg, uint64_t *skipped)
{
    return vmic_amd64_mappings(&core->paging, vmic_cr3_to_root(ctx.root.addr), core_read_table,
                               core, max_leaves, fn, arg, skipped);
}
