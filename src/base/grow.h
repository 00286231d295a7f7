/*
 * Growable arrays: the one place that doubles a capacity. Callers keep
 * their own (items, n, cap) triple; VMIC_GROW makes room for one more,
 * VMIC_RESERVE for `need` in all (a byte buffer that takes a packet).
 */
#ifndef VMIC_BASE_GROW_H
#define VMIC_BASE_GROW_H

#include <stdbool.h>
#include <stddef.h>

/*
 * When *cap < need, doubles *cap (from `first`) until it holds need and
 * reallocates *items_ptr, an array of elem-byte elements passed as the
 * address of its pointer. False when memory runs out or the size would
 * overflow; the array is then unchanged.
 */
bool vmic__reserve(void *items_ptr, size_t *cap, size_t need, size_t elem, size_t first);

#define VMIC_RESERVE(items, cap, need, first) \
    vmic__reserve(&(items), &(cap), (need), sizeof *(items), (first))
#define VMIC_GROW(items, n, cap, first) VMIC_RESERVE(items, cap, (size_t)(n) + 1, first)

#endif
