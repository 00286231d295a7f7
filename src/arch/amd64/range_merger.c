/*
 * Coalesces the mappings of vmic_amd64_mappings into ranges: a Linux direct
 * map is hundreds of thousands of 4 KiB leaves but a handful of ranges.
 */
#include <vmic/arch.h>

static bool extends_range(const vmic_range_merger_t *rm, const vmic_mapping_t *m)
{
    const vmic_mapping_t *cur = &rm->cur;
    if (cur->size == 0)
        return false;
    /* Across the canonical hole the vas are not contiguous, so no merge. */
    if (cur->va.addr + cur->size != m->va.addr)
        return false;
    if (!rm->by_va_only && cur->pa.addr + cur->size != m->pa.addr)
        return false;
    return cur->access == m->access && cur->user == m->user && cur->global == m->global;
}

/*
 * With by_va_only the merged range keeps the pa of its first mapping; the
 * rest of the range is not necessarily contiguous in physical memory.
 * When emit asks to stop, m is dropped: nothing may be emitted after that.
 */
int vmic_range_merger_add(void *merger, const vmic_mapping_t *m)
{
    vmic_range_merger_t *rm = merger;
    if (m->size == 0)
        return 0;
    if (extends_range(rm, m)) {
        rm->cur.size += m->size;
        return 0;
    }
    const int stop = vmic_range_merger_flush(rm);
    if (stop)
        return stop;
    rm->cur = *m;
    return 0;
}

int vmic_range_merger_flush(vmic_range_merger_t *rm)
{
    if (rm->cur.size == 0)
        return 0;
    const vmic_mapping_t range = rm->cur;
    rm->cur.size = 0;
    return rm->emit(rm->arg, &range);
}
