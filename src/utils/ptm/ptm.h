/* The page-table monitor's state, shared by its files. */
#ifndef VMIC_UTILS_PTM_H
#define VMIC_UTILS_PTM_H

#include "../utils_internal.h"

#define PTM_MAX_TABLES 5       /* one per paging level */
#define PTM_DIRTY_MAX 8        /* dirty table pages noted per vCPU, then "all" */

/* One watched translation: a va page in an address context, for a view. */
typedef struct ptm_watch {
    vmic_view_t view;
    uint64_t root;             /* CR3 with flag and PCID bits cleared */
    uint64_t va;               /* page aligned */
    uint32_t refs;
    bool present;
    uint64_t pa;               /* the 4 KiB frame, when present */
    uint8_t ntables;
    uint64_t tables[PTM_MAX_TABLES];  /* gfns of the table pages the walk read */
} ptm_watch;

/* A write-protected table page: how many watches go through it. */
typedef struct ptm_table {
    ukey key;                  /* gfn, view (gfn first: a write finds all views) */
    uint32_t refs;
    bool protected;            /* W removed (false: outside guest RAM) */
} ptm_table;

/* Table pages one vCPU wrote to since its last processing. */
typedef struct ptm_dirty {
    uint64_t gfns[PTM_DIRTY_MAX];
    size_t n;
    bool all;
} ptm_dirty;

struct vmic_ptm {
    vmic_core *core;
    ledger *ledger;
    ptm_watch *watches;
    size_t n, cap;
    utab tables;
    ptm_dirty *dirty;          /* per vCPU */
    uint32_t nvcpus;
    vmic_ptm_stats_t stats;
    bool hooked;               /* opened alone: its own restore hook */
};

/* ptm_tables.c: the protection of table pages, per watch */
vmic_status tables_acquire(vmic_ptm *ptm, vmic_view_t view, const uint64_t *gfns, size_t n);
/* Every table is let go; the first page whose access could not be given
 * back is the answer (the driver's reset at the session's end still gives it). */
vmic_status tables_release(vmic_ptm *ptm, vmic_view_t view, const uint64_t *gfns, size_t n);
bool tables_has_gfn(const vmic_ptm *ptm, uint64_t gfn);

/* ptm.c: a fresh walk of a watch's translation */
typedef struct ptm_walk {
    bool present;
    uint64_t pa;
    uint8_t ntables;
    uint64_t tables[PTM_MAX_TABLES];
} ptm_walk;
void ptm_walk_now(vmic_ptm *ptm, uint64_t root, uint64_t va, ptm_walk *w);

#endif
