#include <stdbool.h>
#include <string.h>

#include "base/search.h"

static uint64_t key_at(const void *base, size_t i, size_t stride, size_t key_off)
{
    uint64_t k;
    memcpy(&k, (const char *)base + i * stride + key_off, sizeof k);
    return k;
}

/* The first index where below(key_at(i)) stops holding. */
static size_t partition(const void *base, size_t n, size_t stride, size_t key_off, uint64_t key,
                        bool or_equal)
{
    size_t lo = 0, hi = base ? n : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t k = key_at(base, mid, stride, key_off);
        if (k < key || (or_equal && k == key))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t vmic__lower_bound_u64(const void *base, size_t n, size_t stride, size_t key_off,
                             uint64_t key)
{
    return partition(base, n, stride, key_off, key, false);
}

size_t vmic__upper_bound_u64(const void *base, size_t n, size_t stride, size_t key_off,
                             uint64_t key)
{
    return partition(base, n, stride, key_off, key, true);
}
