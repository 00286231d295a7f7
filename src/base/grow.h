/*
 * Growable arrays: the one place that doubles a capacity. Callers keep
 * their own (items, n, cap) triple; VMIC_GROW makes room for one more.
 */
#ifndef VMIC_BASE_GROW_H
#define VMIC_BASE_GROW_H

#include <stdbool.h>
#include <stddef.h>

/*
 * When n == *cap, doubles *cap (from `first`) and reallocates *items_ptr,
 * an array of elem-byte elements passed as the address of its pointer.
 * False when memory runs out or the size would overflow; the array is then
 * unchanged.
 */
bool vmic_grow_array(void *items_ptr, size_t *cap, size_t n, size_t elem, size_t first);

#define VMIC_GROW(items, n, cap, first) \
    vmic_grow_array(&(items), &(cap), (n), sizeof *(items), (first))

#endif
