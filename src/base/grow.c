#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"

bool vmic__reserve(void *items_ptr, size_t *cap, size_t need, size_t elem, size_t first)
{
    if (need <= *cap)
        return true;
    if (elem == 0 || need > SIZE_MAX / elem)
        return false;
    size_t want = *cap ? *cap : (first ? first : 1);
    while (want < need) {
        if (want > SIZE_MAX / 2)
            return false;
        want *= 2;
    }
    if (want > SIZE_MAX / elem)
        want = need; /* doubling would overflow; exactly enough still fits */
    /* The caller's pointer has its own type: move it through memcpy. */
    void *old;
    memcpy(&old, items_ptr, sizeof old);
    void *grown = realloc(old, want * elem);
    if (!grown)
        return false;
    memcpy(items_ptr, &grown, sizeof grown);
    *cap = want;
    return true;
}
