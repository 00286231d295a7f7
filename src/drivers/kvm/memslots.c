/*
 * The slot layout engine: which KVM memslots realise a target page map.
 *
 * The target is "every RAM page read-write at its own gfn" except a sorted
 * list of pages that differ (read-only, a hole, or backed by another gfn).
 * Slot changes are expensive here (docs/DESIGN.md, measured facts: add ~25-60
 * us, delete ~35-130 us, each one stops every vCPU), so the engine changes as little as it can:
 *   1. every slot whose pages all still match the target is kept;
 *   2. the others are deleted;
 *   3. what is left uncovered is filled with one slot per uniform run.
 * Splitting therefore costs one delete and up to three adds, and a temporary
 * change (one page mapped for one step) costs one add and one delete.
 * Coalescing is asked for explicitly, when pages return to full access: the
 * slots inside the run around such a page are replaced by one slot, so the
 * slot count comes back down instead of growing with every change.
 */
#include <stdlib.h>
#include <string.h>

#include "kvm.h"
#include "base/grow.h"

void layout_init(slot_layout *l, uint64_t ram_pages, uint32_t max_slots)
{
    memset(l, 0, sizeof *l);
    l->ram_pages = ram_pages;
    l->max_id = max_slots;
}

void layout_free(slot_layout *l)
{
    free(l->slots);
    free(l->free_ids);
    memset(l, 0, sizeof *l);
}

/* ---- slot ids: freed ids are reused so that they stay below the KVM limit ---- */

static bool id_take(slot_layout *l, uint32_t *id)
{
    if (l->nfree) {
        *id = l->free_ids[--l->nfree];
        return true;
    }
    if (l->next_id >= l->max_id)
        return false;
    *id = l->next_id++;
    return true;
}

static void id_give(slot_layout *l, uint32_t id)
{
    if (!VMIC_GROW(l->free_ids, l->nfree, l->free_cap, 16))
        return; /* the id is lost, not the slot: harmless */
    l->free_ids[l->nfree++] = id;
}

/* ---- reading the target ------------------------------------------------------ */

/* First target at or after gfn. */
static size_t target_at(const page_target *t, size_t nt, uint64_t gfn)
{
    size_t lo = 0, hi = nt;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t[mid].gfn < gfn)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* A run: consecutive pages the same slot could cover. */
typedef struct run {
    uint64_t lo, hi;      /* [lo, hi) */
    uint64_t backing;     /* backing gfn of page lo */
    page_kind kind;
} run;

static bool continues(const page_target *a, const page_target *b)
{
    return b->gfn == a->gfn + 1 && b->kind == a->kind &&
           (a->kind == PAGE_HOLE || b->backing == a->backing + 1);
}

/* The run that contains gfn. */
static run run_of(const slot_layout *l, const page_target *t, size_t nt, uint64_t gfn)
{
    size_t i = target_at(t, nt, gfn);
    run r;

    if (i < nt && t[i].gfn == gfn) {
        size_t first = i, last = i;
        while (first > 0 && continues(&t[first - 1], &t[first]))
            first--;
        while (last + 1 < nt && continues(&t[last], &t[last + 1]))
            last++;
        r.lo = t[first].gfn;
        r.hi = t[last].gfn + 1;
        r.backing = t[first].backing;
        r.kind = (page_kind)t[i].kind;
        return r;
    }
    r.lo = i > 0 ? t[i - 1].gfn + 1 : 0;
    r.hi = i < nt ? t[i].gfn : l->ram_pages;
    r.backing = r.lo;
    r.kind = PAGE_RW;
    return r;
}

/* Whether every page of s is what the target wants. */
static bool slot_matches(const kvm_slot *s, const page_target *t, size_t nt)
{
    size_t i = target_at(t, nt, s->gfn);

    if (!s->readonly && s->backing == s->gfn)
        return i == nt || t[i].gfn >= s->gfn + s->npages;
    for (uint64_t k = 0; k < s->npages; k++, i++) {
        if (i >= nt || t[i].gfn != s->gfn + k || t[i].backing != s->backing + k ||
            t[i].kind != (s->readonly ? PAGE_RO : PAGE_RW))
            return false;
    }
    return true;
}

/* ---- planning ------------------------------------------------------------------ */

/* Slots [first, last) of the current list lying inside r. */
static void slots_within(const slot_layout *l, const run *r, size_t *first, size_t *last)
{
    size_t lo = 0, hi = l->nslots;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->slots[mid].gfn < r->lo)
            lo = mid + 1;
        else
            hi = mid;
    }
    *first = lo;
    while (lo < l->nslots && l->slots[lo].gfn < r->hi)
        lo++;
    *last = lo;
}

/* Unless exactly one slot covers the run already, drop the slots in it so
 * that one new slot replaces them. */
static void coalesce_run(const slot_layout *l, const run *r, bool *keep)
{
    size_t first, last;

    if (r->kind == PAGE_HOLE)
        return;
    slots_within(l, r, &first, &last);
    if (last - first == 1 && l->slots[first].gfn == r->lo &&
        l->slots[first].npages == r->hi - r->lo)
        return;
    if (last - first < 1)
        return;
    for (size_t i = first; i < last; i++)
        keep[i] = false;
}

static void mark_coalesce(const slot_layout *l, const page_target *t, size_t nt,
                          const uint64_t *coalesce, size_t ncoalesce, bool all, bool *keep)
{
    if (all) {
        for (uint64_t g = 0; g < l->ram_pages;) {
            run r = run_of(l, t, nt, g);
            coalesce_run(l, &r, keep);
            g = r.hi;
        }
        return;
    }
    for (size_t i = 0; i < ncoalesce; i++) {
        if (coalesce[i] >= l->ram_pages)
            continue;
        run r = run_of(l, t, nt, coalesce[i]);
        coalesce_run(l, &r, keep);
    }
}

static vmic_status push_slot(kvm_slot **out, size_t *n, size_t *cap, const kvm_slot *s)
{
    if (!VMIC_GROW(*out, *n, *cap, 16))
        return vmic_fail(VMIC_E_NOMEM, "kvm: no memory for the slot list");
    (*out)[(*n)++] = *s;
    return VMIC_OK;
}

/* Deletes the slots not kept; the list keeps what KVM still has. */
static vmic_status delete_dropped(slot_layout *l, const bool *keep, slot_apply_fn apply,
                                  void *ctx)
{
    vmic_status s = VMIC_OK;
    size_t n = 0;

    for (size_t i = 0; i < l->nslots; i++) {
        if (!keep[i] && s == VMIC_OK) {
            s = apply(ctx, &l->slots[i], false);
            if (s == VMIC_OK) {
                l->changes++;
                id_give(l, l->slots[i].id);
                continue;
            }
        }
        l->slots[n++] = l->slots[i];
    }
    l->nslots = n;
    return s;
}

/* Walks RAM in order, taking kept slots as they come and creating slots for
 * the uncovered parts of each run. */
static vmic_status fill_uncovered(slot_layout *l, const page_target *t, size_t nt,
                                  slot_apply_fn apply, void *ctx)
{
    kvm_slot *out = NULL;
    size_t n = 0, cap = 0, si = 0;
    vmic_status s = VMIC_OK;
    uint64_t g = 0;

    while (g < l->ram_pages && s == VMIC_OK) {
        if (si < l->nslots && l->slots[si].gfn <= g) {
            s = push_slot(&out, &n, &cap, &l->slots[si]);
            g = l->slots[si].gfn + l->slots[si].npages;
            si++;
            continue;
        }
        run r = run_of(l, t, nt, g);
        uint64_t end = r.hi;
        if (si < l->nslots && l->slots[si].gfn < end)
            end = l->slots[si].gfn;
        if (r.kind != PAGE_HOLE) {
            kvm_slot ns = {.gfn = g, .npages = end - g, .backing = r.backing + (g - r.lo),
                           .readonly = r.kind == PAGE_RO};
            if (!id_take(l, &ns.id)) {
                s = vmic_fail(VMIC_E_RANGE, "kvm: all %u memslots are in use", l->max_id);
                break;
            }
            s = apply(ctx, &ns, true);
            if (s) {
                id_give(l, ns.id);
                break;
            }
            l->changes++;
            s = push_slot(&out, &n, &cap, &ns);
        }
        g = end;
    }
    /* Whatever happened, the list must name every slot KVM has. */
    for (; si < l->nslots; si++)
        if (push_slot(&out, &n, &cap, &l->slots[si]) && s == VMIC_OK)
            s = VMIC_E_NOMEM;
    if (!out && l->nslots)
        return s ? s : vmic_fail(VMIC_E_NOMEM, "kvm: no memory for the slot list");
    free(l->slots);
    l->slots = out;
    l->nslots = n;
    l->cap = cap;
    return s;
}

vmic_status layout_apply(slot_layout *l, const page_target *t, size_t nt,
                         const uint64_t *coalesce, size_t ncoalesce, bool coalesce_all,
                         slot_apply_fn apply, void *ctx)
{
    bool *keep = malloc(l->nslots ? l->nslots : 1);
    if (!keep)
        return vmic_fail(VMIC_E_NOMEM, "kvm: no memory to plan the slot layout");
    for (size_t i = 0; i < l->nslots; i++)
        keep[i] = slot_matches(&l->slots[i], t, nt);
    mark_coalesce(l, t, nt, coalesce, ncoalesce, coalesce_all, keep);

    vmic_status s = delete_dropped(l, keep, apply, ctx);
    free(keep);
    if (s)
        return s;
    return fill_uncovered(l, t, nt, apply, ctx);
}

const kvm_slot *layout_find(const slot_layout *l, uint64_t gfn)
{
    size_t lo = 0, hi = l->nslots;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const kvm_slot *s = &l->slots[mid];
        if (gfn < s->gfn)
            hi = mid;
        else if (gfn >= s->gfn + s->npages)
            lo = mid + 1;
        else
            return s;
    }
    return NULL;
}
