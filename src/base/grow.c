#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"

bool vmic_grow_array(void *items_ptr, size_t *cap, size_t n, size_t elem, size_t first)
{
    if (n < *cap)
        return true;
    size_t want = *cap ? *cap * 2 : (first ? first : 1);
    if (want < *cap || elem == 0 || want > SIZE_MAX / elem)
        return false;
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
