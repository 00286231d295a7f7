/*
 * From the segments a format parser found to the regions the driver
 * publishes: sorted by physical address, checked for overlaps, and merged
 * where two segments continue each other both in guest-physical memory and in
 * the file (then one host pointer covers both and a lookup has fewer regions
 * to search). Segments that only touch in one of the two stay separate.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "dump.h"
#include "base/grow.h"

vmic_status dump_layout_add_segment(const dump_image_t *img, dump_layout_t *layout,
                                    const dump_segment_t *seg)
{
    if (layout->nsegments >= DUMP_MAX_SEGMENTS)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: %s %" PRIu32 " at offset 0x%" PRIx64
                         ": more than %u memory ranges",
                         img->name, layout->header_kind, seg->header_index,
                         seg->header_offset, DUMP_MAX_SEGMENTS);
    if (!VMIC_GROW(layout->segments, layout->nsegments, layout->segments_capacity, 16))
        return vmic_fail(VMIC_E_NOMEM, "%s: no memory for %zu memory ranges", img->name,
                         layout->nsegments + 1);
    layout->segments[layout->nsegments++] = *seg;
    return VMIC_OK;
}

void dump_layout_free(dump_layout_t *layout)
{
    free(layout->segments);
    free(layout->regs);
    memset(layout, 0, sizeof *layout);
}

/* Physical address first; header order breaks ties so that the overlap
 * message names the headers in file order. */
static int compare_segments(const void *a, const void *b)
{
    const dump_segment_t *x = a, *y = b;

    if (x->pa != y->pa)
        return x->pa < y->pa ? -1 : 1;
    if (x->header_index != y->header_index)
        return x->header_index < y->header_index ? -1 : 1;
    return 0;
}

static vmic_status fail_overlap(const dump_image_t *img, const dump_layout_t *layout,
                                const dump_segment_t *a, const dump_segment_t *b)
{
    /* Name the headers in file order, whichever starts lower. */
    if (b->header_index < a->header_index) {
        const dump_segment_t *t = a;
        a = b;
        b = t;
    }
    return vmic_fail(VMIC_E_FORMAT,
                     "%s: %s %" PRIu32 " at offset 0x%" PRIx64
                     ": physical range [0x%" PRIx64 ",+0x%" PRIx64 ") overlaps %s %" PRIu32
                     " at offset 0x%" PRIx64 ": [0x%" PRIx64 ",+0x%" PRIx64 ")",
                     img->name, layout->header_kind, a->header_index, a->header_offset,
                     a->pa, a->size, layout->header_kind, b->header_index,
                     b->header_offset, b->pa, b->size);
}

/*
 * Two ranges that do not overlap byte for byte can still share a 4 KiB page
 * with a hole between them ([0x0,0x800) and [0xc00,0x1000)). Page-granular
 * readers (page tables, the page cache, scans by frame number) round each
 * range out to whole pages, and then the two overlap: the page would be read
 * as if it were whole from either. Only ranges that continue each other in
 * physical address may meet inside a page.
 */
static bool share_page_with_hole(const dump_segment_t *a, const dump_segment_t *b)
{
    uint64_t a_end = a->pa + a->size;   /* parsers guarantee no wrap */
    uint64_t a_last_page = (a_end - 1) >> VMIC_PAGE_SHIFT;
    return b->pa != a_end && b->pa >> VMIC_PAGE_SHIFT == a_last_page;
}

static vmic_status fail_shared_page(const dump_image_t *img, const dump_layout_t *layout,
                                    const dump_segment_t *a, const dump_segment_t *b)
{
    return vmic_fail(VMIC_E_FORMAT,
                     "%s: %s %" PRIu32 " at offset 0x%" PRIx64 ": physical range [0x%" PRIx64
                     ",+0x%" PRIx64 ") shares page 0x%" PRIx64 " with %s %" PRIu32
                     " at offset 0x%" PRIx64 " ([0x%" PRIx64 ",+0x%" PRIx64
                     ")), leaving a hole inside it: the ranges overlap once rounded to pages",
                     img->name, layout->header_kind, b->header_index, b->header_offset, b->pa,
                     b->size, b->pa & VMIC_PAGE_MASK, layout->header_kind,
                     a->header_index, a->header_offset, a->pa, a->size);
}

static bool continues(const vmic_mem_region_t *r, const dump_segment_t *s)
{
    return r->start.addr + r->size == s->pa && r->file_offset + r->size == s->file_offset;
}

vmic_status dump_layout_build_regions(const dump_image_t *img, dump_layout_t *layout,
                                      vmic_mem_region_t **regions, size_t *nregions)
{
    dump_segment_t *segs = layout->segments;
    size_t n = layout->nsegments;

    *regions = NULL;
    *nregions = 0;
    if (n == 0)
        return VMIC_OK;

    qsort(segs, n, sizeof *segs, compare_segments);
    /* Parsers guarantee pa + size does not wrap, so the ends compare safely. */
    for (size_t i = 1; i < n; i++) {
        if (segs[i].pa < segs[i - 1].pa + segs[i - 1].size)
            return fail_overlap(img, layout, &segs[i - 1], &segs[i]);
        if (share_page_with_hole(&segs[i - 1], &segs[i]))
            return fail_shared_page(img, layout, &segs[i - 1], &segs[i]);
    }

    vmic_mem_region_t *out = calloc(n, sizeof *out);
    if (!out)
        return vmic_fail(VMIC_E_NOMEM, "%s: no memory for %zu regions", img->name, n);

    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (count > 0 && continues(&out[count - 1], &segs[i])) {
            out[count - 1].size += segs[i].size;
            continue;
        }
        out[count++] = (vmic_mem_region_t){
            .start = vmic_pa(segs[i].pa),
            .size = segs[i].size,
            /* The image is read-only (PROT_READ mapping or the caller's const
             * buffer); writable = false tells the core never to store here. */
            .host = (uint8_t *)(uintptr_t)(img->bytes + segs[i].file_offset),
            .writable = false,
            .file_offset = segs[i].file_offset,
        };
    }
    *regions = out;
    *nregions = count;
    return VMIC_OK;
}
