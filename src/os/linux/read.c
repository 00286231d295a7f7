/*
 * Reads in the kernel's address space, and the small tools every walk of
 * guest structures needs: field extraction from bytes already read, a
 * pointer sanity check and a set of seen addresses for cycle detection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os_internal.h"

vmic_status lx_read(vmic_os *os, uint64_t va, void *buf, size_t len)
{
    return vmic_read_va(os->core, os->kctx, vmic_va(va), buf, len);
}

vmic_status lx_u64(vmic_os *os, uint64_t va, uint64_t *v)
{
    return vmic_read_u64_va(os->core, os->kctx, vmic_va(va), v);
}

vmic_status lx_u32(vmic_os *os, uint64_t va, uint32_t *v)
{
    return vmic_read_u32_va(os->core, os->kctx, vmic_va(va), v);
}

vmic_status lx_str(vmic_os *os, uint64_t va, char *buf, size_t max_len)
{
    return vmic_read_str_va(os->core, os->kctx, vmic_va(va), buf, max_len, NULL);
}

vmic_status lx_kpa(vmic_os *os, vmic_va_t va, vmic_pa_t *pa)
{
    return vmic_translate(os->core, os->kctx, va, pa);
}

vmic_status lx_read_field(vmic_os *os, uint64_t base, const lx_fld *f, uint64_t *v)
{
    uint8_t buf[8] = {0};
    *v = 0;
    if (!f->ok)
        return VMIC_OK;
    size_t n = f->bit_size || f->size > 8 ? 8 : f->size;
    vmic_status s = lx_read(os, base + f->off, buf, n);
    if (s == VMIC_OK)
        *v = lx_get_at(buf, n, f, f->off);
    return s;
}

vmic_status lx_read_kptr_field(vmic_os *os, uint64_t base, const lx_fld *f, uint64_t *v)
{
    vmic_status s = lx_read_field(os, base, f, v);
    if (s == VMIC_OK && *v && !lx_kptr(os, *v))
        return vmic_fail(VMIC_E_FORMAT, "pointer 0x%llx at 0x%llx is not a kernel address",
                         (unsigned long long)*v, (unsigned long long)(base + f->off));
    return s;
}

uint64_t lx_get(const uint8_t *obj, size_t objlen, const lx_fld *f)
{
    return lx_get_at(obj, objlen, f, 0);
}

uint64_t lx_get_at(const uint8_t *obj, size_t objlen, const lx_fld *f, uint32_t base)
{
    uint64_t v = 0;
    if (!f->ok || f->off < base || f->off - base >= objlen)
        return 0;
    size_t at = f->off - base;
    size_t n = f->size > 8 ? 8 : f->size;
    if (f->bit_size)
        n = 8;
    if (n > objlen - at)
        n = objlen - at;
    memcpy(&v, obj + at, n); /* little endian */
    if (f->bit_size) {
        v >>= f->bit_shift;
        if (f->bit_size < 64)
            v &= (1ull << f->bit_size) - 1;
    } else if (n < 8) {
        v &= (1ull << (8 * n)) - 1;
    }
    return v;
}

/* ---- seen sets ----------------------------------------------------------- */

vmic_status lx_seen_init(lx_seen *s, size_t limit)
{
    s->mask = 255;
    s->n = 0;
    s->limit = limit;
    s->slot = calloc(s->mask + 1, sizeof *s->slot);
    if (!s->slot)
        return vmic_fail(VMIC_E_NOMEM, "no memory for a walk");
    return VMIC_OK;
}

static size_t seen_hash(uint64_t v)
{
    return (size_t)((v * 0x9e3779b97f4a7c15ull) >> 20);
}

static bool seen_grow(lx_seen *s)
{
    size_t n = (s->mask + 1) * 2;
    uint64_t *slot = calloc(n, sizeof *slot);
    if (!slot)
        return false;
    for (size_t i = 0; i <= s->mask; i++) {
        if (!s->slot[i])
            continue;
        size_t h = seen_hash(s->slot[i]) & (n - 1);
        while (slot[h])
            h = (h + 1) & (n - 1);
        slot[h] = s->slot[i];
    }
    free(s->slot);
    s->slot = slot;
    s->mask = n - 1;
    return true;
}

vmic_status lx_list_step(vmic_os *os, lx_seen *seen, uint64_t node, const char *what,
                         const char *items, size_t count)
{
    if (!lx_kptr(os, node))
        return vmic_fail(VMIC_E_FORMAT, "%s: pointer 0x%llx after %zu %s is not a kernel address",
                         what, (unsigned long long)node, count, items);
    int added = lx_seen_add(seen, node);
    if (added == 0)
        return vmic_fail(VMIC_E_FORMAT, "%s: cycle at 0x%llx after %zu %s", what,
                         (unsigned long long)node, count, items);
    if (added < 0)
        return vmic_fail(VMIC_E_RANGE, "%s: more than %zu %s", what, seen->limit, items);
    return VMIC_OK;
}

int lx_seen_add(lx_seen *s, uint64_t v)
{
    if (v == 0)
        v = 1; /* 0 marks a free slot; no kernel object lives at 0 or 1 */
    size_t h = seen_hash(v) & s->mask;
    while (s->slot[h]) {
        if (s->slot[h] == v)
            return 0;
        h = (h + 1) & s->mask;
    }
    if (s->n >= s->limit)
        return -1;
    if ((s->n + 1) * 2 > s->mask + 1) {
        if (!seen_grow(s))
            return -1;
        h = seen_hash(v) & s->mask;
        while (s->slot[h])
            h = (h + 1) & s->mask;
    }
    s->slot[h] = v;
    s->n++;
    return 1;
}

void lx_seen_free(lx_seen *s)
{
    free(s->slot);
    s->slot = NULL;
}

vmic_status lx_view(vmic_os *os, uint64_t va, size_t len, uint8_t *buf, const uint8_t **out)
{
    vmic_pa_t pa0, pa;
    vmic_status s;
    if ((s = vmic_translate(os->core, os->kctx, vmic_va(va), &pa0)))
        return s;
    /* In place when every page of the range follows the first physically:
     * slab objects in the direct map always do. */
    bool contiguous = true;
    for (uint64_t off = VMIC_PAGE_SIZE - vmic_page_offset(va); off < len; off += VMIC_PAGE_SIZE) {
        if ((s = vmic_translate(os->core, os->kctx, vmic_va(va + off), &pa)))
            return s;
        if (pa.addr != pa0.addr + off)
            contiguous = false;
    }
    if (contiguous) {
        const uint8_t *p;
        size_t avail;
        if (vmic_map_pa(os->core, pa0, &p, &avail) == VMIC_OK && avail >= len) {
            *out = p;
            return VMIC_OK;
        }
    }
    if ((s = vmic_read_va(os->core, os->kctx, vmic_va(va), buf, len)))
        return s;
    *out = buf;
    return VMIC_OK;
}

/* ---- first errors -------------------------------------------------------- */

void lx_keep_error(lx_first_error *e, vmic_status s)
{
    if (s && !e->s) {
        e->s = s;
        snprintf(e->msg, sizeof e->msg, "%s", vmic_errmsg());
    }
    vmic_clear_error();
}

vmic_status lx_kept_error(const lx_first_error *e)
{
    return e->s ? vmic_fail(e->s, "%s", e->msg) : VMIC_OK;
}
