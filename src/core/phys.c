/* Reads and writes by guest-physical address. */
#include <string.h>

#include "base/sigbus.h"
#include "core_internal.h"

vmic_status vmic_map_pa(vmic_core *core, vmic_pa_t pa, const uint8_t **ptr, size_t *len)
{
    return core_map(core, pa, ptr, len);
}

void vmic_release_pa(vmic_core *core, vmic_pa_t pa, uint64_t len)
{
    /* A hint: a driver without the operation has nothing to let go. */
    if (core->drv->ops->memory && core->drv->ops->memory->release)
        core->drv->ops->memory->release(core->drv, pa, len);
}

/*
 * Whether [pa, pa + len) runs past the last physical address, 2^64 - 1.
 * Checked before any loop that advances pa, so that no loop can wrap to
 * address 0 and carry on reading the bottom of memory as if it followed the top.
 */
static bool past_top(uint64_t pa, size_t len)
{
    return len > 0 && len - 1 > UINT64_MAX - pa;
}

static vmic_status fail_past_top(const vmic_core *core, uint64_t pa, size_t len)
{
    return vmic_fail(VMIC_E_RANGE, "%s: [pa 0x%llx, +0x%zx) runs past the top of the "
                     "physical address space", core->info->source, (unsigned long long)pa, len);
}

/* Copies guest bytes out of a region's host memory; a dump file that shrank
 * under its mapping (SIGBUS) is an error here, not a crash. */
static vmic_status copy_out(const vmic_core *core, uint64_t pa, void *dst, const uint8_t *src,
                            size_t n)
{
    uint64_t fault;
    const char *file;

    if (vmic_guarded_copy(dst, src, n, &fault, &file))
        return VMIC_OK;
    return vmic_fail(VMIC_E_IO, "%s: the file shrank while vmic had it mapped: reading pa "
                     "0x%llx faulted at file offset 0x%llx", file, (unsigned long long)pa,
                     (unsigned long long)fault);
}

vmic_status vmic_read_pa(vmic_core *core, vmic_pa_t pa, void *buf, size_t len)
{
    uint8_t *out = buf;

    if (past_top(pa.addr, len))
        return fail_past_top(core, pa.addr, len);
    while (len > 0) {
        const uint8_t *src;
        size_t avail;
        vmic_status s = core_map(core, pa, &src, &avail);
        if (s)
            return s;
        size_t n = avail < len ? avail : len;
        if ((s = copy_out(core, pa.addr, out, src, n)))
            return s;
        out += n;
        pa.addr += n;
        len -= n;
    }
    return VMIC_OK;
}

/* The bytes of [pa, pa+len) that lie in one region, written in place or by
 * the driver. */
static vmic_status write_in_region(vmic_core *core, const vmic_mem_region_t *r, vmic_pa_t pa,
                                   const uint8_t *src, size_t n)
{
    if (r->host && r->writable) {
        memcpy(r->host + (pa.addr - r->start.addr), src, n);
        return VMIC_OK;
    }
    vmic_status s = core_need(core, VMIC_CAP_WRITE, "writing memory");
    if (s)
        return vmic_fail_wrap(s, "pa 0x%llx", (unsigned long long)pa.addr);
    return core->drv->ops->memory->write(core->drv, pa, src, n);
}

vmic_status vmic_write_pa(vmic_core *core, vmic_pa_t pa, const void *buf, size_t len)
{
    const uint8_t *src = buf;
    vmic_pa_t start = pa;
    size_t total = len;

    if (past_top(pa.addr, len))
        return fail_past_top(core, pa.addr, len);
    while (len > 0) {
        const vmic_mem_region_t *r = core_region(core, pa.addr);
        if (!r)
            return vmic_fail(VMIC_E_UNMAPPED, "%s: pa 0x%llx is not guest memory",
                             core->info->source, (unsigned long long)pa.addr);
        uint64_t left_in_region = r->size - (pa.addr - r->start.addr);
        size_t n = left_in_region < len ? (size_t)left_in_region : len;
        vmic_status s = write_in_region(core, r, pa, src, n);
        if (s)
            return s;
        src += n;
        pa.addr += n;
        len -= n;
    }

    /* What this write changed must not be served stale from either cache. */
    for (uint64_t gfn = start.addr >> VMIC_PAGE_SHIFT;
         total && gfn <= (start.addr + total - 1) >> VMIC_PAGE_SHIFT; gfn++)
        page_cache_drop(core, gfn);
    tlb_note_write(core, start.addr, total);
    return VMIC_OK;
}

vmic_status vmic_read_u8_pa(vmic_core *core, vmic_pa_t pa, uint8_t *v)
{
    return vmic_read_pa(core, pa, v, sizeof *v);
}

vmic_status vmic_read_u16_pa(vmic_core *core, vmic_pa_t pa, uint16_t *v)
{
    return vmic_read_pa(core, pa, v, sizeof *v);
}

vmic_status vmic_read_u32_pa(vmic_core *core, vmic_pa_t pa, uint32_t *v)
{
    return vmic_read_pa(core, pa, v, sizeof *v);
}

vmic_status vmic_read_u64_pa(vmic_core *core, vmic_pa_t pa, uint64_t *v)
{
    return vmic_read_pa(core, pa, v, sizeof *v);
}

/* Strings are copied in pieces of this size while looking for their end. */
#define STR_PIECE 256

vmic_status vmic_read_str_pa(vmic_core *core, vmic_pa_t pa, char *buf, size_t max_len,
                             size_t *len)
{
    size_t got = 0;

    /* A string may end before the top even if max_len would not. */
    if (past_top(pa.addr, max_len))
        max_len = (size_t)(UINT64_MAX - pa.addr) + 1;
    while (got < max_len) {
        const uint8_t *src;
        size_t avail;
        vmic_status s = core_map(core, vmic_pa(pa.addr + got), &src, &avail);
        if (s) {
            buf[got] = '\0';
            if (len)
                *len = got;
            return s;
        }
        size_t want = max_len - got < avail ? max_len - got : avail;
        /* Copy first, then look for the NUL in our own copy: only the copy
         * touches the mapping. Bytes after the NUL land in buf, within
         * max_len, and are ignored; short pieces keep that waste small. */
        if (want > STR_PIECE)
            want = STR_PIECE;
        if ((s = copy_out(core, pa.addr + got, buf + got, src, want))) {
            buf[got] = '\0';
            if (len)
                *len = got;
            return s;
        }
        const char *nul = memchr(buf + got, 0, want);
        size_t n = nul ? (size_t)(nul - (buf + got)) : want;
        got += n;
        if (nul) {
            buf[got] = '\0';
            if (len)
                *len = got;
            return VMIC_OK;
        }
    }
    buf[got] = '\0';
    if (len)
        *len = got;
    return vmic_fail(VMIC_E_RANGE, "string at pa 0x%llx is longer than %zu bytes",
                     (unsigned long long)pa.addr, max_len);
}
