/*
 * FNV-1a over a NUL-terminated string: the hash of the name-keyed open
 * addressing tables (kallsyms, BTF, ISF). Not for anything an attacker could
 * aim collisions at beyond slowing a lookup: the tables are bounded.
 */
#ifndef VMIC_BASE_HASH_H
#define VMIC_BASE_HASH_H

#include <stdint.h>

#define VMIC__FNV1A_BASIS 2166136261u
#define VMIC__FNV1A_PRIME 16777619u

/* seed is mixed into the basis, so that one name in two classes (a struct
 * and a typedef of that name) lands in two places. */
static inline uint32_t vmic__fnv1a(const char *s, uint32_t seed)
{
    uint32_t h = VMIC__FNV1A_BASIS ^ seed;
    while (*s)
        h = (h ^ (uint8_t)*s++) * VMIC__FNV1A_PRIME;
    return h;
}

#endif
