/*
 * The kernel's compressed symbol table (kallsyms), decoded from a copy of,
 * or a pointer into, the kernel's read-only data. Pure: no guest access, so
 * the fuzzer and the unit tests drive it on plain bytes.
 *
 * The tables scripts/kallsyms.c emits, all found by their shape:
 *   token_table   256 NUL-terminated strings (a byte code's expansion)
 *   token_index   256 u16: where each string starts in token_table
 *   markers       offset in names of every 256th symbol (u32 or unsigned long)
 *   names         per symbol: a length (1 byte, 2 if bit 7 is set) and that
 *                 many byte codes; expanded, the first char is the type letter
 *   num_syms      number of symbols
 *   offsets       s32 per symbol plus relative_base (base-relative layout), or
 *   addresses     u64 per symbol (absolute layout)
 *   seqs_of_names 3 bytes (big endian) per symbol: indices sorted by name
 * Kernels before 6.4 emit them as offsets, relative_base, num_syms, names,
 * markers, seqs_of_names, token_table, token_index; 6.4 and later as
 * num_syms, names, markers, token_table, token_index, offsets,
 * relative_base, seqs_of_names.
 */
#ifndef VMIC_LX_KALLSYMS_H
#define VMIC_LX_KALLSYMS_H

#include <vmic/os.h>

typedef struct lx_kallsyms lx_kallsyms;

/* Where the tables were found, for messages, tests and the fuzzer. */
typedef struct lx_kallsyms_info {
    size_t num_syms;
    uint64_t names, markers, token_table, token_index, addrs, seqs; /* guest va */
    unsigned marker_width;    /* 4 or 8 */
    bool new_order;           /* 6.4+ order */
    bool relative;            /* offsets + relative_base */
    bool absolute_percpu;     /* non-negative offsets are absolute values */
    bool has_seqs;
    uint64_t relative_base;
} lx_kallsyms_info_t;

/* How many names did not decode (each costs that symbol only; getting it
 * fails with VMIC_E_FORMAT). Decodes every name on first use. */
size_t lx_kallsyms_undecodable(lx_kallsyms *ks);

/*
 * Finds and checks the tables in ro (len bytes mapped at guest va ro_va).
 * text_va, when not 0, is the kernel's _text found from the page tables: the
 * decoded "_text" must sit there, which picks the address layout. ro must
 * stay valid until lx_kallsyms_free.
 */
vmic_status lx_kallsyms_open(const uint8_t *ro, size_t len, uint64_t ro_va, uint64_t text_va,
                             lx_kallsyms **out);
void lx_kallsyms_free(lx_kallsyms *ks);
const lx_kallsyms_info_t *lx_kallsyms_info(const lx_kallsyms *ks);

size_t lx_kallsyms_count(const lx_kallsyms *ks);
uint64_t lx_kallsyms_addr(const lx_kallsyms *ks, size_t i);
/* Name lookup: a binary search over seqs_of_names when the kernel has it,
 * else a hash built on first use. Of equal names, the lowest address. */
bool lx_kallsyms_lookup(lx_kallsyms *ks, const char *name, uint64_t *addr);
/* Symbol i in address order; name valid until lx_kallsyms_free. Decodes
 * every name on first call. */
vmic_status lx_kallsyms_get(lx_kallsyms *ks, size_t i, vmic_symbol_t *sym);
/* Index of the last symbol with address <= addr (SIZE_MAX if none). */
size_t lx_kallsyms_find_le(const lx_kallsyms *ks, uint64_t addr);

#endif
