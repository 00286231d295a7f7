/*
 * Views: per-gfn access and remaps, view 0 always live; spare gfns; and the
 * guest's own page walk, which reads its tables through the vCPU's view as
 * an MMU behind EPT would.
 */
#include <stdlib.h>
#include <string.h>

#include "mock_internal.h"

static void view_clear(vmic_mock *m, mock_view *v)
{
    memset(v->access, VMIC_ACCESS_RWX, m->npages * sizeof *v->access);
    for (uint64_t g = 0; g < m->npages; g++)
        v->remap[g] = g;
}

vmic_status mock_views_init(vmic_mock *m)
{
    for (size_t i = 0; i < MOCK_MAX_VIEWS; i++) {
        m->views[i].access = malloc(m->npages * sizeof *m->views[i].access);
        m->views[i].remap = malloc(m->npages * sizeof *m->views[i].remap);
        if (!m->views[i].access || !m->views[i].remap)
            return VMIC_E_NOMEM;
        view_clear(m, &m->views[i]);
    }
    m->views[0].live = true;
    return VMIC_OK;
}

void mock_views_free(vmic_mock *m)
{
    for (size_t i = 0; i < MOCK_MAX_VIEWS; i++) {
        free(m->views[i].access);
        free(m->views[i].remap);
    }
}

/* What reset_events undoes: every view but 0 gone, view 0 as at open, every
 * vCPU back in it. Spare gfns stay allocated: freeing them is their owner's
 * business, and a leak must stay visible to the test. */
void mock_views_reset(vmic_mock *m)
{
    for (size_t i = 0; i < MOCK_MAX_VIEWS; i++) {
        view_clear(m, &m->views[i]);
        m->views[i].live = i == 0;
    }
    for (size_t i = 0; i < MOCK_MAX_VCPUS; i++)
        m->vcpus[i].view = VMIC_VIEW_DEFAULT;
}

vmic_status mock_view_live(const vmic_mock *m, vmic_view_t view)
{
    if (view >= MOCK_MAX_VIEWS || !m->views[view].live)
        return vmic_fail(VMIC_E_NOTFOUND, "mock: no view %u", view);
    return VMIC_OK;
}

void mock_move_vcpu(vmic_mock *m, mock_vcpu *c, vmic_view_t view)
{
    c->view = view < MOCK_MAX_VIEWS && m->views[view].live ? view : VMIC_VIEW_DEFAULT;
}

static vmic_status gfn_in_memory(const vmic_mock *m, uint64_t gfn)
{
    if (gfn >= m->npages)
        return vmic_fail(VMIC_E_UNMAPPED, "mock: gfn 0x%llx is not guest memory",
                         (unsigned long long)gfn);
    return VMIC_OK;
}

uint64_t mock_frame(const vmic_mock *m, vmic_view_t view, uint64_t gfn)
{
    return gfn < m->npages ? m->views[view].remap[gfn] : UINT64_MAX;
}

vmic_access_t mock_access(const vmic_mock *m, vmic_view_t view, uint64_t gfn)
{
    return gfn < m->npages ? m->views[view].access[gfn] : VMIC_ACCESS_NONE;
}

/* ---- the operations ---------------------------------------------------------------- */

vmic_status mock_create_view(vmic_driver *d, vmic_view_t *view)
{
    vmic_mock *m = mock_from(d);
    mock_lock(m);
    vmic_status s = mock_fault_check(m, VMIC_MOCK_CREATE_VIEW, MOCK_NO_GFN, 0, "a new view");
    for (vmic_view_t v = 1; s == VMIC_OK && v < MOCK_MAX_VIEWS; v++) {
        if (m->views[v].live)
            continue;
        view_clear(m, &m->views[v]);
        m->views[v].live = true;
        *view = v;
        mock_unlock(m);
        return VMIC_OK;
    }
    if (s == VMIC_OK)
        s = vmic_fail(VMIC_E_NOMEM, "mock: all %d views are in use", MOCK_MAX_VIEWS);
    mock_unlock(m);
    return s;
}

vmic_status mock_destroy_view(vmic_driver *d, vmic_view_t view)
{
    vmic_mock *m = mock_from(d);
    if (view == VMIC_VIEW_DEFAULT)
        return vmic_fail(VMIC_E_INVAL, "mock: view 0 cannot be destroyed");
    mock_lock(m);
    vmic_status s = mock_view_live(m, view);
    if (s == VMIC_OK) {
        m->views[view].live = false;
        for (size_t i = 0; i < m->opt.vcpus; i++)
            if (m->vcpus[i].view == view)
                m->vcpus[i].view = VMIC_VIEW_DEFAULT;
    }
    mock_unlock(m);
    return s;
}

vmic_status mock_switch_view(vmic_driver *d, vmic_view_t view)
{
    vmic_mock *m = mock_from(d);
    mock_lock(m);
    vmic_status s = mock_fault_check(m, VMIC_MOCK_SWITCH_VIEW, MOCK_NO_GFN, 0, "every vCPU");
    if (s == VMIC_OK)
        s = mock_view_live(m, view);
    if (s == VMIC_OK) {
        m->stats.view_switches++;
        for (size_t i = 0; i < m->opt.vcpus; i++)
            m->vcpus[i].view = view;
    }
    mock_unlock(m);
    return s;
}

vmic_status mock_vcpu_view_op(vmic_driver *d, vmic_vcpu_t vcpu, vmic_view_t *view)
{
    vmic_mock *m = mock_from(d);
    if (vcpu >= m->opt.vcpus)
        return vmic_fail(VMIC_E_INVAL, "mock: no vCPU %u", vcpu);
    *view = vmic_mock_vcpu_view(m, vcpu);
    return VMIC_OK;
}

vmic_status mock_get_access(vmic_driver *d, vmic_view_t view, vmic_gfn_t gfn,
                            vmic_access_t *access)
{
    vmic_mock *m = mock_from(d);
    mock_lock(m);
    vmic_status s = mock_view_live(m, view);
    if (s == VMIC_OK)
        s = gfn_in_memory(m, gfn.num);
    if (s == VMIC_OK)
        *access = m->views[view].access[gfn.num];
    mock_unlock(m);
    return s;
}

vmic_status mock_set_access(vmic_driver *d, vmic_view_t view, vmic_gfn_t gfn,
                            vmic_access_t access)
{
    vmic_mock *m = mock_from(d);
    mock_lock(m);
    vmic_status s = mock_view_live(m, view);
    if (s == VMIC_OK)
        s = gfn_in_memory(m, gfn.num);
    if (s == VMIC_OK)
        s = mock_fault_check(m, VMIC_MOCK_SET_ACCESS, gfn.num, gfn.num, "page access");
    if (s == VMIC_OK) {
        m->stats.set_access++;
        m->views[view].access[gfn.num] = access & VMIC_ACCESS_RWX;
    }
    mock_unlock(m);
    return s;
}

static bool spare_allocated(const vmic_mock *m, uint64_t gfn)
{
    return gfn >= m->ram_pages && gfn < m->npages && m->spare_used[gfn - m->ram_pages];
}

vmic_status mock_remap_gfn(vmic_driver *d, vmic_view_t view, vmic_gfn_t gfn, vmic_gfn_t to)
{
    vmic_mock *m = mock_from(d);
    mock_lock(m);
    vmic_status s = mock_view_live(m, view);
    if (s == VMIC_OK && gfn.num >= m->ram_pages)
        s = vmic_fail(VMIC_E_INVAL, "mock: only RAM gfns are remapped, not 0x%llx",
                      (unsigned long long)gfn.num);
    if (s == VMIC_OK && to.num != gfn.num && to.num >= m->ram_pages &&
        !spare_allocated(m, to.num))
        s = vmic_fail(VMIC_E_INVAL, "mock: gfn 0x%llx is neither RAM nor an allocated spare",
                      (unsigned long long)to.num);
    if (s == VMIC_OK)
        s = mock_fault_check(m, VMIC_MOCK_REMAP, gfn.num, gfn.num, "a gfn");
    if (s == VMIC_OK) {
        m->stats.remaps++;
        m->views[view].remap[gfn.num] = to.num;
    }
    mock_unlock(m);
    return s;
}

vmic_status mock_alloc_gfn(vmic_driver *d, vmic_gfn_t *gfn)
{
    vmic_mock *m = mock_from(d);
    mock_lock(m);
    vmic_status s = mock_fault_check(m, VMIC_MOCK_ALLOC_GFN, MOCK_NO_GFN, 0, "a spare page");
    for (uint32_t i = 0; s == VMIC_OK && i < m->opt.spare_pages; i++) {
        if (m->spare_used[i])
            continue;
        m->spare_used[i] = true;
        memset(m->bytes + (m->ram_pages + i) * VMIC_PAGE_SIZE, 0, VMIC_PAGE_SIZE);
        *gfn = vmic_gfn(m->ram_pages + i);
        mock_unlock(m);
        return VMIC_OK;
    }
    if (s == VMIC_OK)
        s = vmic_fail(VMIC_E_NOMEM, "mock: all %u spare pages are in use", m->opt.spare_pages);
    mock_unlock(m);
    return s;
}

vmic_status mock_free_gfn(vmic_driver *d, vmic_gfn_t gfn)
{
    vmic_mock *m = mock_from(d);
    mock_lock(m);
    vmic_status s = VMIC_OK;
    if (!spare_allocated(m, gfn.num))
        s = vmic_fail(VMIC_E_NOTFOUND, "mock: gfn 0x%llx is not an allocated spare",
                      (unsigned long long)gfn.num);
    else
        m->spare_used[gfn.num - m->ram_pages] = false;
    mock_unlock(m);
    return s;
}

vmic_status vmic_mock_view_read(vmic_mock *m, vmic_view_t view, vmic_pa_t pa, void *buf,
                                size_t len)
{
    mock_lock(m);
    vmic_status s = mock_view_live(m, view);
    uint8_t *out = buf;
    for (size_t i = 0; s == VMIC_OK && i < len; i++) {
        uint64_t at = pa.addr + i, frame = mock_frame(m, view, at >> VMIC_PAGE_SHIFT);
        if (frame == UINT64_MAX)
            s = gfn_in_memory(m, at >> VMIC_PAGE_SHIFT);
        else
            out[i] = m->bytes[frame * VMIC_PAGE_SIZE + vmic_page_offset(at)];
    }
    mock_unlock(m);
    return s;
}

/* ---- the guest's MMU ----------------------------------------------------------------- */

#define PTE_P 1ull
#define PTE_PS (1ull << 7)
#define PTE_ADDR 0x000ffffffffff000ull

static bool read_entry(const vmic_mock *m, vmic_view_t view, uint64_t table, unsigned index,
                       uint64_t *entry)
{
    uint64_t frame = mock_frame(m, view, table >> VMIC_PAGE_SHIFT);
    if (frame == UINT64_MAX)
        return false;
    memcpy(entry, m->bytes + frame * VMIC_PAGE_SIZE + index * 8, 8);
    return true;
}

bool mock_translate(const vmic_mock *m, vmic_view_t view, uint64_t cr3, uint64_t va,
                    uint64_t *pa)
{
    uint64_t table = cr3 & PTE_ADDR;
    for (int level = 4; level >= 1; level--) {
        unsigned shift = 12 + 9 * (unsigned)(level - 1);
        uint64_t e;
        if (!read_entry(m, view, table, (unsigned)(va >> shift) & 511, &e) || !(e & PTE_P))
            return false;
        if (level == 1 || (level <= 3 && (e & PTE_PS))) {
            uint64_t span = 1ull << shift;
            *pa = ((e & PTE_ADDR) & ~(span - 1)) | (va & (span - 1));
            return true;
        }
        table = e & PTE_ADDR;
    }
    return false;
}
