/*
 * ISF profiles (Volatility 3's JSON symbol files, as dwarf2json writes them):
 * base_types, user_types (structs and unions with their fields), enums and
 * symbols with link-time addresses. Loaded once into compact tables that
 * answer through the same type interface as BTF (types.h); the symbols are
 * relocated by the caller, who knows the KASLR slide.
 */
#ifndef VMIC_LX_ISF_H
#define VMIC_LX_ISF_H

#include "types.h"

typedef struct lx_isf lx_isf;

/* A .json or .json.xz file (xz by magic, not by name). */
vmic_status lx_isf_load(const char *path, lx_isf **out);
/* A document in memory; name is for messages. */
vmic_status lx_isf_parse(const char *text, size_t len, const char *name, lx_isf **out);
void lx_isf_free(lx_isf *isf);

/* A types view of the profile; the profile must outlive it. */
vmic_status lx_isf_types(lx_isf *isf, lx_types **out);

size_t lx_isf_symbol_count(const lx_isf *isf);
/* Link-time address of a symbol by name. */
bool lx_isf_symbol(const lx_isf *isf, const char *name, uint64_t *addr);
/* Symbol i in address order (link-time addresses). */
bool lx_isf_symbol_get(const lx_isf *isf, size_t i, vmic_symbol_t *sym);
/* Index of the last symbol with link-time address <= addr (SIZE_MAX if none). */
size_t lx_isf_find_le(const lx_isf *isf, uint64_t addr);

#endif
