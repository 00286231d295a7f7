/* Maple trees (lib/maple_tree.c): an in-order walk of the entries. */
#ifndef VMIC_LX_MAPLE_H
#define VMIC_LX_MAPLE_H

#include "os_internal.h"

/* Called for every non-empty entry with the index range it covers, in
 * increasing order; return non-zero to stop. */
typedef int (*lx_maple_fn)(void *arg, uint64_t entry, uint64_t first, uint64_t last);

/* Walks the maple_tree at kernel address tree. */
vmic_status lx_maple_walk(vmic_os *os, uint64_t tree, lx_maple_fn fn, void *arg);

#endif
