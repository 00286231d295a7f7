/*
 * amd64 paging-structure layout shared by the walker and the enumerator:
 * which entry bits hold an address, which are reserved, and how a virtual
 * address splits into table indices. Everything is derived once per call
 * from a vmic_paging_t so that the per-entry work is a few ANDs.
 */
#ifndef VMIC_AMD64_PAGING_BITS_H
#define VMIC_AMD64_PAGING_BITS_H

#include <vmic/arch.h>

#define AMD64_ENTRIES_PER_TABLE 512u
#define AMD64_INDEX_MASK 511u
#define AMD64_BITS_PER_LEVEL 9u
#define AMD64_ARCH_MAXPHYADDR 52u  /* the architectural limit of an entry's address */

typedef struct amd64_layout {
    uint64_t addr_mask;   /* entry bits holding a physical address: maxphyaddr-1..12 */
    uint64_t reserved;    /* bits reserved in every present entry */
    unsigned top_level;   /* VMIC_LEVEL_PML4 or VMIC_LEVEL_PML5 */
    unsigned top_shift;   /* where the top-level index sits in a va: 39 or 48 */
    unsigned va_bits;     /* implemented va width: 48 or 57 */
} amd64_layout_t;

/*
 * A maxphyaddr outside 12..52 cannot describe a real CPU; a zeroed config
 * is the likely cause, so it gets the permissive architectural maximum.
 * Any mode other than 5-level is treated as 4-level: the walker has no
 * error channel besides the fault code, and 4-level is what a 64-bit guest
 * runs unless it opted into LA57.
 */
static inline amd64_layout_t amd64_layout(const vmic_paging_t *pg)
{
    unsigned maxphyaddr = pg->maxphyaddr;
    if (maxphyaddr < VMIC_PAGE_SHIFT || maxphyaddr > AMD64_ARCH_MAXPHYADDR)
        maxphyaddr = AMD64_ARCH_MAXPHYADDR;

    const uint64_t below_maxphyaddr = (1ull << maxphyaddr) - 1;
    const uint64_t below_arch_limit = (1ull << AMD64_ARCH_MAXPHYADDR) - 1;
    const bool five_level = pg->mode == VMIC_PAGING_5LEVEL;

    amd64_layout_t l;
    l.addr_mask = below_maxphyaddr & VMIC_PAGE_MASK;
    l.reserved = below_arch_limit & ~below_maxphyaddr;
    if (!pg->nxe)
        l.reserved |= VMIC_PTE_NX;
    l.top_level = five_level ? VMIC_LEVEL_PML5 : VMIC_LEVEL_PML4;
    l.top_shift = five_level ? 48 : 39;
    l.va_bits = five_level ? 57 : 48;
    return l;
}

/*
 * Bits that become reserved when an entry has PS set: PS itself in PML4E and
 * PML5E (no 512 GiB pages), the bits between PAT (12) and the frame in 1 GiB
 * and 2 MiB leaves. In a PTE bit 7 is PAT, so nothing extra.
 */
static inline uint64_t amd64_reserved_if_ps(unsigned level)
{
    static const uint64_t by_level[6] = {
        [VMIC_LEVEL_PT] = 0,
        [VMIC_LEVEL_PD] = 0x00000000001fe000ull,   /* bits 20:13 */
        [VMIC_LEVEL_PDPT] = 0x000000003fffe000ull, /* bits 29:13 */
        [VMIC_LEVEL_PML4] = VMIC_PTE_PS,
        [VMIC_LEVEL_PML5] = VMIC_PTE_PS,
    };
    return by_level[level];
}

/* The reserved bits set in a present entry at this level (0 if none). */
static inline uint64_t amd64_reserved_set(const amd64_layout_t *l, unsigned level,
                                          uint64_t entry)
{
    const uint64_t ps_all_ones = 0 - ((entry & VMIC_PTE_PS) >> 7);
    return entry & (l->reserved | (amd64_reserved_if_ps(level) & ps_all_ones));
}

/* Shift of a level's index within a va: 12 for PT up to 48 for PML5. */
static inline unsigned amd64_level_shift(unsigned level)
{
    return VMIC_PAGE_SHIFT + AMD64_BITS_PER_LEVEL * (level - 1);
}

static inline uint64_t amd64_sign_extend(uint64_t va, unsigned va_bits)
{
    const unsigned unused = 64 - va_bits;
    return (uint64_t)((int64_t)(va << unused) >> unused);
}

/*
 * Effective rights from the entries of one path: `all_levels` is the AND of
 * every entry (RW and US survive only if set everywhere), `any_level` the OR
 * (NX anywhere forbids execution).
 */
static inline vmic_access_t amd64_access(uint64_t all_levels, uint64_t any_level)
{
    vmic_access_t access = VMIC_ACCESS_R;
    if (all_levels & VMIC_PTE_RW)
        access |= VMIC_ACCESS_W;
    if (!(any_level & VMIC_PTE_NX))
        access |= VMIC_ACCESS_X;
    return access;
}

#endif
