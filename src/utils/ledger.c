/*
 * The access ledger: per (view, gfn), how many holds remove each right. The
 * page's access is what it was when the first hold came, minus every right
 * some hold removes; the last hold gives the page its first access back. So
 * a tap removing X and the page-table monitor removing W on the same page
 * (a hostile guest can make its code a page table) compose, and neither
 * gives back what the other still needs.
 */
#include <stdlib.h>

#include "utils_internal.h"

enum { RIGHT_R, RIGHT_W, RIGHT_X, NRIGHTS };

typedef struct ledger_page {
    ukey key;               /* view, gfn */
    vmic_access_t first;    /* access before the first hold */
    vmic_access_t now;      /* access set on the page */
    uint32_t holds[NRIGHTS];
} ledger_page;

struct ledger {
    vmic_core *core;
    utab pages;
    unsigned refs;
};

static const vmic_access_t right_bit[NRIGHTS] = {VMIC_ACCESS_R, VMIC_ACCESS_W, VMIC_ACCESS_X};

ledger *ledger_new(vmic_core *core)
{
    ledger *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->core = core;
    l->pages = (utab)UTAB(ledger_page);
    l->refs = 1;
    return l;
}

ledger *ledger_ref(ledger *l)
{
    l->refs++;
    return l;
}

void ledger_unref(ledger *l)
{
    if (!l || --l->refs)
        return;
    utab_free(&l->pages);
    free(l);
}

size_t ledger_pages(const ledger *l)
{
    return l->pages.n;
}

static vmic_access_t access_of(const ledger_page *p)
{
    vmic_access_t a = p->first;
    for (int r = 0; r < NRIGHTS; r++)
        if (p->holds[r])
            a = (vmic_access_t)(a & ~right_bit[r]);
    return a;
}

static void count(ledger_page *p, vmic_access_t rights, int delta)
{
    for (int r = 0; r < NRIGHTS; r++)
        if (rights & right_bit[r])
            p->holds[r] = (uint32_t)((int64_t)p->holds[r] + delta);
}

static bool held(const ledger_page *p)
{
    return p->holds[RIGHT_R] || p->holds[RIGHT_W] || p->holds[RIGHT_X];
}

vmic_status ledger_restrict(ledger *l, vmic_view_t view, vmic_gfn_t gfn, vmic_access_t removed)
{
    ukey k = ukey_of(view, gfn.num);
    ledger_page *p = utab_find(&l->pages, k);
    vmic_status s;

    if (!p) {
        vmic_access_t first;
        if ((s = vmic_get_access(l->core, view, gfn, &first)))
            return s;
        if (!(p = utab_add(&l->pages, k)))
            return vmic_fail(VMIC_E_NOMEM, "no memory for the access ledger");
        p->first = p->now = first;
    }
    count(p, removed, +1);
    vmic_access_t want = access_of(p);
    if (want == p->now)
        return VMIC_OK;
    if ((s = vmic_set_access(l->core, view, gfn, want))) {
        count(p, removed, -1);
        if (!held(p))
            utab_del(&l->pages, p);
        return s;
    }
    p->now = want;
    return VMIC_OK;
}

vmic_status ledger_release(ledger *l, vmic_view_t view, vmic_gfn_t gfn, vmic_access_t removed)
{
    ledger_page *p = utab_find(&l->pages, ukey_of(view, gfn.num));
    if (!p)
        return vmic_fail(VMIC_E_INTERNAL, "access ledger: view %u gfn 0x%llx holds nothing",
                         view, (unsigned long long)gfn.num);
    for (int r = 0; r < NRIGHTS; r++)
        if ((removed & right_bit[r]) && p->holds[r] == 0)
            return vmic_fail(VMIC_E_INTERNAL, "access ledger: view %u gfn 0x%llx releases a "
                             "right nobody removed", view, (unsigned long long)gfn.num);
    count(p, removed, -1);
    vmic_access_t want = access_of(p);
    bool last = !held(p);
    vmic_status s = want == p->now ? VMIC_OK : vmic_set_access(l->core, view, gfn, want);
    if (s == VMIC_OK)
        p->now = want;
    /* The last hold goes even if its view went away meanwhile: there is
     * nothing left to give back then. */
    if (last)
        utab_del(&l->pages, p);
    return s;
}
