/* The core's private state, shared by its files. */
#ifndef VMIC_CORE_INTERNAL_H
#define VMIC_CORE_INTERNAL_H

#include <vmic/core.h>

/* One cached page of memory the driver does not map in place. */
typedef struct page_slot {
    uint64_t gfn;          /* UINT64_MAX when empty */
    const uint8_t *data;   /* copy (in page_cache.copies) or driver mapping */
    bool mapped;           /* data came from driver map_page */
} page_slot;

#define PAGE_CACHE_WAYS 4

typedef struct page_cache {
    page_slot *slots;      /* nsets * PAGE_CACHE_WAYS */
    uint8_t *copies;       /* one page of storage per slot */
    uint8_t *next_victim;  /* round-robin way per set */
    size_t nsets;          /* power of two */
} page_cache;

/*
 * One translation of a 4 KiB virtual page: 16 bytes, so that a cache of
 * 64k pages stays within a host L2. The root is named by a small id
 * (see tlb.roots) instead of its address to fit the key in one word.
 */
typedef struct tlb_entry {
    uint64_t key;          /* vpn << 16 | root id; 0 when empty */
    uint64_t pfn;          /* pa >> 12, and the cache's generation above
                              TLB_PFN_BITS: an entry of an older one is empty */
} tlb_entry;

/* A flush is a new generation, not a pass over the cache (a live tracer
 * flushes at every event: clearing 1 MiB each time cost more than the rest
 * of the event). pa has at most 52 bits, so a pfn 40; the generation takes
 * the 24 bits above, and wraps with one real clearing. */
#define TLB_PFN_BITS 40
#define TLB_PFN_MASK ((1ull << TLB_PFN_BITS) - 1)
#define TLB_GEN_MAX ((1u << (64 - TLB_PFN_BITS)) - 1)

/* Root ids: 1..TLB_MAX_ROOTS-1. Running out flushes the cache and starts over. */
#define TLB_MAX_ROOTS 4096
#define TLB_ROOT_SLOTS (2 * TLB_MAX_ROOTS)

/*
 * Pages that served as page tables for cached translations, as a bit per hash
 * of their gfn: a write to one of them must flush the TLB. A false positive
 * costs a needless flush, never a stale translation.
 */
#define PT_PAGE_BITS 65536

typedef struct tlb {
    tlb_entry *entries;
    size_t mask;
    uint32_t gen;          /* 1..TLB_GEN_MAX: entries and root slots of this
                              generation are valid */
    uint64_t last_root;    /* the most recent root and its id: one compare */
    uint16_t last_id;
    uint16_t nroots;
    uint64_t root_slots[TLB_ROOT_SLOTS];   /* open addressing: root | 1, 0 = free */
    uint16_t root_ids[TLB_ROOT_SLOTS];
    uint32_t root_gen[TLB_ROOT_SLOTS];     /* a slot of another generation is free */
    uint64_t pt_pages[PT_PAGE_BITS / 64];
} tlb;

struct vmic_core {
    vmic_driver *drv;
    const vmic_driver_info_t *info;
    uint64_t caps;            /* vmic_driver_caps of the driver's table */
    vmic_paging_t paging;
    const vmic_mem_region_t *last_region; /* last region hit, checked first */
    vmic_table_source_t tables;           /* how the walker reaches table pages */
    page_cache pages;
    tlb tlb;
    vmic_cache_stats_t stats;
    bool in_session;          /* vmic_run_events is running (events.c) */
    bool take_signals;        /* vmic_core_take_signals: the session ends on SIGINT... */
    struct bp_table *bps;     /* software breakpoints (breakpoints.c) */
    struct restore_hook *hooks; /* undone by core_restore_events (views.c) */
    size_t nhooks;
};

static inline size_t round_up_pow2(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

/* session.c: VMIC_OK if the driver has every bit of caps, else
 * VMIC_E_UNSUPPORTED saying "<what>: not supported by the <name> driver",
 * which capability it lacks and the driver's explain. Every entry point that needs a group of the
 * driver's table asks here first, and may then call the group's operation. */
vmic_status core_need(vmic_core *core, uint64_t caps, const char *what);

/* page_cache.c */
vmic_status page_cache_init(page_cache *pc, size_t npages);
void page_cache_free(vmic_core *core);
void page_cache_drop(vmic_core *core, vmic_gfn_t gfn);
/* A pointer to the page holding pa, and how many bytes from pa it covers
 * contiguously (to the end of a host region, or of the page). */
vmic_status core_map(vmic_core *core, vmic_pa_t pa, const uint8_t **ptr, size_t *len);
const vmic_mem_region_t *core_region(vmic_core *core, vmic_pa_t pa);

/* tlb.c */
vmic_status tlb_init(tlb *t, size_t entries);
void tlb_free(tlb *t);
void tlb_clear(tlb *t);
void tlb_insert(vmic_core *core, vmic_pa_t root, const vmic_translation_t *tr);
/* The id of root, assigned on first sight when assign is set; 0 if none. */
uint16_t tlb_root_id(vmic_core *core, vmic_pa_t root, bool assign);
void tlb_note_write(vmic_core *core, vmic_pa_t pa, size_t len);

#define TLB_GOLDEN 0x9e3779b97f4a7c15ull

/*
 * Runs of 8 neighbouring pages stay together (their sets share host cache
 * lines); everything above, and the root, is hashed, so that regions a
 * power of two apart (the direct map, vmemmap, the kernel image, user space)
 * do not pile into the same sets.
 */
static inline tlb_entry *tlb_set(const tlb *t, uint64_t vpn, uint16_t id)
{
    uint64_t group = (vpn >> 3) ^ ((uint64_t)id << 45);
    uint64_t hash = (group * TLB_GOLDEN) >> 29;
    size_t set = (size_t)((hash << 3) | (vpn & 7)) & (t->mask >> 1);
    return &t->entries[2 * set];
}

static inline bool tlb_lookup(vmic_core *core, vmic_pa_t root, vmic_va_t va, vmic_pa_t *pa)
{
    tlb *t = &core->tlb;
    uint16_t id = t->last_id && t->last_root == root.addr ? t->last_id
                                                          : tlb_root_id(core, root, false);
    uint64_t vpn = (va.addr >> VMIC_PAGE_SHIFT) & 0x1fffffffffffull; /* 45 bits: LA57 */
    const tlb_entry *set = tlb_set(t, vpn, id);
    const uint64_t key = vpn << 16 | id;

    const uint64_t gen = (uint64_t)t->gen << TLB_PFN_BITS;

    for (int way = 0; way < 2; way++) {
        if (id && set[way].key == key && (set[way].pfn & ~TLB_PFN_MASK) == gen) {
            core->stats.tlb_hits++;
            *pa = vmic_pa(((set[way].pfn & TLB_PFN_MASK) << VMIC_PAGE_SHIFT) |
                          vmic_page_offset(va.addr));
            return true;
        }
    }
    core->stats.tlb_misses++;
    return false;
}

/* breakpoints.c: puts back every byte an INT3 hides; frees the table */
vmic_status bp_restore_all(vmic_core *core);
void bp_free(vmic_core *core);

/* views.c: undoes what the event model changed (restore hooks, breakpoints,
 * then the driver) */
vmic_status core_restore_events(vmic_core *core);
void restore_hooks_free(vmic_core *core);

/* The walker's table reader over the core. */
const uint64_t *core_read_table(void *core, vmic_pa_t table);

#endif
