/*
 * Binary search of a sorted array of structs by one uint64_t member: the
 * one lower/upper bound the tables keyed by address, gfn or value share.
 */
#ifndef VMIC_BASE_SEARCH_H
#define VMIC_BASE_SEARCH_H

#include <stddef.h>
#include <stdint.h>

/* The first index in [0, n) whose key is >= key (n if none). The key is the
 * uint64_t at key_off in each stride-byte element; keys ascend. */
size_t vmic__lower_bound_u64(const void *base, size_t n, size_t stride, size_t key_off,
                             uint64_t key);
/* The first index whose key is > key (n if none): the one before it is the
 * last at or below key. */
size_t vmic__upper_bound_u64(const void *base, size_t n, size_t stride, size_t key_off,
                             uint64_t key);

/* The key named as a member of the array's element, which must be 8 bytes
 * (a uint64_t, or the .addr of a typed address). */
#define VMIC__KEY_CHECK(arr, member) ((void)sizeof(char[sizeof((arr)->member) == 8 ? 1 : -1]))
#define VMIC__LOWER_BOUND(arr, n, member, key)                                              \
    (VMIC__KEY_CHECK(arr, member),                                                          \
     vmic__lower_bound_u64((arr), (n), sizeof *(arr), offsetof(__typeof__(*(arr)), member), \
                           (key)))
#define VMIC__UPPER_BOUND(arr, n, member, key)                                              \
    (VMIC__KEY_CHECK(arr, member),                                                          \
     vmic__upper_bound_u64((arr), (n), sizeof *(arr), offsetof(__typeof__(*(arr)), member), \
                           (key)))

#endif
