/*
 * Where guest RAM sits in the guest-physical address space, from HMP's
 * "info mtree -f" (through QMP's human-monitor-command: QMP has no query for
 * the flattened memory map). On QEMU 7.2, `-m 4608 -machine pc` prints:
 *
 *   FlatView #2
 *    AS "memory", root: system
 *    AS "cpu-memory-0", root: system
 *    Root memory region: system
 *     0000000000000000-00000000000bffff (prio 0, ram): ram0
 *     00000000000c0000-00000000000dffff (prio 0, rom): ram0 @00000000000c0000
 *     ...
 *     0000000000100000-00000000bfffffff (prio 0, ram): ram0 @0000000000100000
 *     00000000fec00000-00000000fec00fff (prio 0, i/o): ioapic
 *     0000000100000000-000000012fffffff (prio 0, ram): ram0 @00000000c0000000
 *
 * Each line is a range of the flat view, the memory region it shows and, after
 * '@', the offset into that region (none: offset 0). The flat view already
 * resolves aliases (ram-below-4g, ram-above-4g, the PAM windows), so the
 * region named is the RAM backend itself and the offset is where the bytes
 * are in its file: exactly the layout to mmap. Views of it that QEMU maps
 * read-only for the guest ("rom": the BIOS shadow) are still its RAM.
 *
 * The text is QEMU's (with \r\n line ends when it comes through QMP); a line
 * that does not parse is skipped, numbers that overflow or ranges that
 * overlap are refused.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu.h"
#include "base/grow.h"

/* Parses exactly 16 hex digits. */
static bool hex16(const char *p, uint64_t *v)
{
    return gdb_parse_hex64(p, 16, v) == 16;
}

/* ' AS "name", root: ...' */
static bool as_line(const char *line, size_t len, const char *as)
{
    size_t alen = strlen(as);
    const char *p = line;
    while (p < line + len && *p == ' ')
        p++;
    size_t left = len - (size_t)(p - line);
    return left >= alen + 5 && memcmp(p, "AS \"", 4) == 0 && memcmp(p + 4, as, alen) == 0 &&
           p[4 + alen] == '"';
}

/*
 * '  START-END (prio N, KIND): NAME [@OFFSET]' -> whether it names `region`,
 * and its range. Lines of other regions, and text QEMU may add after the
 * offset, are fine.
 */
static bool range_line(const char *line, size_t len, const char *region, qemu_ram_range_t *r)
{
    const char *p = line;
    while (p < line + len && *p == ' ')
        p++;
    if ((size_t)(line + len - p) < 34 || p[16] != '-')
        return false;
    uint64_t start, end;
    if (!hex16(p, &start) || !hex16(p + 17, &end) || end < start)
        return false;
    const char *colon = memchr(p + 33, ':', (size_t)(line + len - (p + 33)));
    if (!colon || colon[-1] != ')' || colon + 2 > line + len || colon[1] != ' ')
        return false;
    const char *name = colon + 2;
    size_t nlen = strlen(region);
    if ((size_t)(line + len - name) < nlen || memcmp(name, region, nlen) != 0)
        return false;
    const char *after = name + nlen;
    uint64_t offset = 0;
    if (after < line + len) {
        if (*after != ' ')
            return false;   /* a longer name that starts like ours */
        if (after + 2 < line + len && after[1] == '@') {
            if ((size_t)(line + len - (after + 2)) < 16 || !hex16(after + 2, &offset))
                return false;
        }
    }
    r->pa = start;
    r->size = end - start + 1;   /* end is inclusive; end < start checked */
    r->offset = offset;
    return r->size != 0;         /* 0: the whole 64-bit space, not RAM */
}

static int by_pa(const void *a, const void *b)
{
    const qemu_ram_range_t *x = a, *y = b;
    return x->pa < y->pa ? -1 : x->pa > y->pa;
}

vmic_status mtree_ram_ranges(const char *text, const char *as, const char *region,
                             qemu_ram_range_t **out, size_t *n)
{
    qemu_ram_range_t *v = NULL;
    size_t count = 0, cap = 0;
    bool in_view = false, seen_view = false;

    *out = NULL;
    *n = 0;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        /* HMP through QMP ends its lines with \r\n. */
        while (len > 0 && line[len - 1] == '\r')
            len--;
        if (len >= 9 && memcmp(line, "FlatView ", 9) == 0) {
            /* A new flat view; only the one listing our address space counts,
             * and only once (QEMU lists each address space in one view). */
            if (in_view)
                break;
        } else if (as_line(line, len, as)) {
            in_view = true;
            seen_view = true;
        } else if (in_view) {
            qemu_ram_range_t r;
            if (range_line(line, len, region, &r)) {
                if (count >= MTREE_MAX_RANGES) {
                    free(v);
                    return vmic_fail(VMIC_E_RANGE, "info mtree: more than %u ranges of %s",
                                     MTREE_MAX_RANGES, region);
                }
                if (!VMIC_GROW(v, count, cap, 16)) {
                    free(v);
                    return vmic_fail(VMIC_E_NOMEM, "info mtree: no memory");
                }
                v[count++] = r;
            }
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    if (!seen_view) {
        free(v);
        return vmic_fail(VMIC_E_FORMAT, "info mtree -f: no flat view of address space \"%s\" "
                         "(output starts: '%.60s')", as, text);
    }

    if (count == 0)
        return VMIC_OK;
    qsort(v, count, sizeof *v, by_pa);
    size_t merged = 0;
    for (size_t i = 0; i < count; i++) {
        if (merged > 0) {
            qemu_ram_range_t *last = &v[merged - 1];
            uint64_t last_end = last->pa + (last->size - 1);   /* inclusive: no overflow */
            if (v[i].pa <= last_end) {
                uint64_t at = v[i].pa;
                free(v);
                return vmic_fail(VMIC_E_FORMAT, "info mtree: ranges of %s overlap at 0x%" PRIx64,
                                 region, at);
            }
            if (last_end + 1 == v[i].pa && last->offset + last->size == v[i].offset &&
                last->offset + last->size > last->offset) {
                last->size += v[i].size;
                continue;
            }
        }
        v[merged++] = v[i];
    }
    if (merged == 0) {
        free(v);
        return VMIC_OK;
    }
    *out = v;
    *n = merged;
    return VMIC_OK;
}
