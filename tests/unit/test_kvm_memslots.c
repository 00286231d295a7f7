/*
 * The kvm driver's slot layout engine, against a fake KVM that keeps the
 * slots it is given and refuses overlaps as KVM does. Checks the cost of each
 * kind of change (how many slots set and deleted), that coalescing brings the
 * count back down, and, on random targets, that every page ends up exactly as
 * the target says.
 */
#include <stdlib.h>

#include "drivers/kvm/kvm.h"
#include "harness.h"

#define RAM_PAGES 4096
#define MAX_FAKE 256

typedef struct fake_kvm {
    kvm_slot slots[MAX_FAKE];
    bool used[MAX_FAKE];
    int adds, deletes;
    uint32_t max_id_seen;
} fake_kvm;

static vmic_status fake_apply(void *ctx, const kvm_slot *s, bool add)
{
    fake_kvm *k = ctx;
    if (s->id >= MAX_FAKE)
        return vmic_fail(VMIC_E_RANGE, "slot id %u", s->id);
    if (!add) {
        if (!k->used[s->id])
            return vmic_fail(VMIC_E_INTERNAL, "deleting absent slot %u", s->id);
        k->used[s->id] = false;
        k->deletes++;
        return VMIC_OK;
    }
    if (k->used[s->id])
        return vmic_fail(VMIC_E_INTERNAL, "slot id %u in use", s->id);
    for (int i = 0; i < MAX_FAKE; i++)
        if (k->used[i] && s->gfn < k->slots[i].gfn + k->slots[i].npages &&
            k->slots[i].gfn < s->gfn + s->npages)
            return vmic_fail(VMIC_E_INTERNAL, "slot overlaps slot %d (EEXIST)", i);
    k->slots[s->id] = *s;
    k->used[s->id] = true;
    k->adds++;
    if (s->id > k->max_id_seen)
        k->max_id_seen = s->id;
    return VMIC_OK;
}

/* What the fake KVM shows at gfn: kind and backing. */
static page_kind fake_page(const fake_kvm *k, uint64_t gfn, uint64_t *backing)
{
    for (int i = 0; i < MAX_FAKE; i++) {
        const kvm_slot *s = &k->slots[i];
        if (k->used[i] && gfn >= s->gfn && gfn < s->gfn + s->npages) {
            *backing = s->backing + (gfn - s->gfn);
            return s->readonly ? PAGE_RO : PAGE_RW;
        }
    }
    return PAGE_HOLE;
}

static void reset_counts(fake_kvm *k)
{
    k->adds = k->deletes = 0;
}

#define APPLY(l, k, t, n, co, nco, all) \
    CHECK_OK(layout_apply((l), (t), (n), (co), (nco), (all), fake_apply, (k)))

static void test_split_and_coalesce(void)
{
    slot_layout l;
    fake_kvm k = {0};
    page_target hole = {.gfn = 100, .backing = 100, .kind = PAGE_HOLE};
    uint64_t g = 100;

    layout_init(&l, RAM_PAGES, 32764);
    APPLY(&l, &k, NULL, 0, NULL, 0, true);
    CHECK_EQ(k.adds, 1);
    CHECK_EQ(l.nslots, 1);

    /* A hole in the middle: one delete, two adds. */
    reset_counts(&k);
    APPLY(&l, &k, &hole, 1, NULL, 0, false);
    CHECK_EQ(k.deletes, 1);
    CHECK_EQ(k.adds, 2);
    CHECK_EQ(l.nslots, 2);
    CHECK(layout_find(&l, vmic_gfn(100)) == NULL);
    CHECK(layout_find(&l, vmic_gfn(99)) && layout_find(&l, vmic_gfn(101)));

    /* Filled for a moment (a step): one add, nothing deleted, no coalescing. */
    reset_counts(&k);
    APPLY(&l, &k, NULL, 0, NULL, 0, false);
    CHECK_EQ(k.deletes, 0);
    CHECK_EQ(k.adds, 1);
    CHECK_EQ(l.nslots, 3);
    /* And the hole again: one delete. */
    reset_counts(&k);
    APPLY(&l, &k, &hole, 1, NULL, 0, false);
    CHECK_EQ(k.deletes, 1);
    CHECK_EQ(k.adds, 0);

    /* Back to full access for good: the run around it becomes one slot. */
    reset_counts(&k);
    APPLY(&l, &k, NULL, 0, &g, 1, false);
    CHECK_EQ(k.deletes, 2);
    CHECK_EQ(k.adds, 1);
    CHECK_EQ(l.nslots, 1);
    CHECK_EQ(l.slots[0].gfn, 0);
    CHECK_EQ(l.slots[0].npages, RAM_PAGES);
    layout_free(&l);
}

static void test_readonly_remap_and_runs(void)
{
    slot_layout l;
    fake_kvm k = {0};
    uint64_t backing;
    /* 10..12 read-only (one run), 20 remapped to 4000, 30 a hole. */
    page_target t[] = {
        {.gfn = 10, .backing = 10, .kind = PAGE_RO}, {.gfn = 11, .backing = 11, .kind = PAGE_RO},
        {.gfn = 12, .backing = 12, .kind = PAGE_RO}, {.gfn = 20, .backing = 4000, .kind = PAGE_RW},
        {.gfn = 30, .backing = 30, .kind = PAGE_HOLE},
    };

    layout_init(&l, RAM_PAGES, 32764);
    APPLY(&l, &k, t, 5, NULL, 0, true);
    /* [0,10) ro[10,13) [13,20) remap[20] [21,30) [31,end) */
    CHECK_EQ(l.nslots, 6);
    CHECK_EQ(fake_page(&k, 11, &backing), PAGE_RO);
    CHECK_EQ(fake_page(&k, 20, &backing), PAGE_RW);
    CHECK_EQ(backing, 4000);
    CHECK_EQ(fake_page(&k, 30, &backing), PAGE_HOLE);
    CHECK_EQ(fake_page(&k, 31, &backing), PAGE_RW);
    CHECK_EQ(backing, 31);
    const kvm_slot *ro = layout_find(&l, vmic_gfn(12));
    CHECK(ro && ro->readonly && ro->gfn == 10 && ro->npages == 3);

    /* Re-applying the same target changes nothing. */
    reset_counts(&k);
    APPLY(&l, &k, t, 5, NULL, 0, false);
    CHECK_EQ(k.adds + k.deletes, 0);
    /* Everything back, coalescing all: one slot. */
    APPLY(&l, &k, NULL, 0, NULL, 0, true);
    CHECK_EQ(l.nslots, 1);
    layout_free(&l);
}

static void test_slot_ids_run_out(void)
{
    slot_layout l;
    fake_kvm k = {0};
    page_target t[8];

    for (int i = 0; i < 8; i++)
        t[i] = (page_target){.gfn = 10 + 2 * (uint64_t)i, .backing = 0, .kind = PAGE_HOLE};
    layout_init(&l, RAM_PAGES, 4);
    APPLY(&l, &k, NULL, 0, NULL, 0, true);
    CHECK_ERR(layout_apply(&l, t, 8, NULL, 0, false, fake_apply, &k), VMIC_E_RANGE);
    CHECK_ERRMSG("memslots");
    /* What the engine believes is what the fake KVM has. */
    int used = 0;
    for (int i = 0; i < MAX_FAKE; i++)
        used += k.used[i];
    CHECK_EQ((size_t)used, l.nslots);
    layout_free(&l);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_random_targets(void)
{
    slot_layout l;
    fake_kvm k = {0};
    page_target t[64];

    layout_init(&l, 512, 32764);
    APPLY(&l, &k, NULL, 0, NULL, 0, true);
    for (int round = 0; round < 300; round++) {
        size_t n = 0;
        uint64_t g = rng() % 8;
        while (n < 64 && g < 512) {
            page_kind kind = (page_kind)(rng() % 3);
            uint64_t backing = rng() % 4 == 0 ? 600 + rng() % 50 : g;
            if (!(kind == PAGE_RW && backing == g))
                t[n++] = (page_target){.gfn = g, .backing = backing, .kind = (uint8_t)kind};
            g += 1 + rng() % 20;
        }
        uint64_t co[4] = {rng() % 512, rng() % 512, rng() % 512, rng() % 512};
        CHECK_OK(layout_apply(&l, t, n, co, 4, round % 7 == 0, fake_apply, &k));
        for (uint64_t p = 0, i = 0; p < 512; p++) {
            uint64_t backing = 0;
            page_kind want = PAGE_RW;
            uint64_t want_backing = p;
            if (i < n && t[i].gfn == p) {
                want = (page_kind)t[i].kind;
                want_backing = t[i].backing;
                i++;
            }
            page_kind got = fake_page(&k, p, &backing);
            CHECK_MSG(got == want && (got == PAGE_HOLE || backing == want_backing),
                      "round %d gfn %llu: kind %d backing %llu, want %d backing %llu", round,
                      (unsigned long long)p, got, (unsigned long long)backing, want,
                      (unsigned long long)want_backing);
        }
    }
    /* Ids are reused: never more ids than slots ever existed at once. */
    CHECK(k.max_id_seen < 200);
    layout_free(&l);
}

int main(void)
{
    RUN(test_split_and_coalesce);
    RUN(test_readonly_remap_and_runs);
    RUN(test_slot_ids_run_out);
    RUN(test_random_targets);
    return HARNESS_RESULT();
}
