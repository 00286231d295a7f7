/* A sorted array of rows keyed by two words (see utils_internal.h). */
#include <stdlib.h>
#include <string.h>

#include "utils_internal.h"
#include "base/grow.h"

static int ukey_cmp(ukey a, ukey b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    if (a.lo != b.lo)
        return a.lo < b.lo ? -1 : 1;
    return 0;
}

static ukey key_at(const utab *t, size_t i)
{
    ukey k;
    memcpy(&k, utab_at(t, i), sizeof k);
    return k;
}

size_t utab_lower_bound(const utab *t, ukey k)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ukey_cmp(key_at(t, mid), k) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void *utab_find(const utab *t, ukey k)
{
    size_t i = utab_lower_bound(t, k);
    return i < t->n && ukey_cmp(key_at(t, i), k) == 0 ? utab_at(t, i) : NULL;
}

void *utab_add(utab *t, ukey k)
{
    if (!vmic__reserve(&t->rows, &t->cap, t->n + 1, t->row_size, 16))
        return NULL;
    size_t i = utab_lower_bound(t, k);
    uint8_t *row = utab_at(t, i);
    memmove(row + t->row_size, row, (t->n - i) * t->row_size);
    memset(row, 0, t->row_size);
    memcpy(row, &k, sizeof k);
    t->n++;
    return row;
}

void utab_del(utab *t, const void *row)
{
    size_t i = (size_t)((const uint8_t *)row - t->rows) / t->row_size;
    uint8_t *p = utab_at(t, i);
    memmove(p, p + t->row_size, (t->n - i - 1) * t->row_size);
    t->n--;
}

void utab_free(utab *t)
{
    free(t->rows);
    t->rows = NULL;
    t->n = t->cap = 0;
}
