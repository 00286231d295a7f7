/*
 * Symbols of loaded modules, as the module lines of /proc/kallsyms list
 * them: each module's core symbol table (mod->kallsyms, which points at
 * core_kallsyms once the module is live), read from guest memory.
 */
#ifndef VMIC_LX_MODULE_SYMS_H
#define VMIC_LX_MODULE_SYMS_H

#include <vmic/os.h>

typedef struct lx_modsyms lx_modsyms;

/*
 * Reads every module's symbols. A walk that stops early (a corrupt module
 * list, an unreadable table) still gives what was read before: *out is set
 * whenever memory allowed it, and the status says what went wrong.
 */
vmic_status lx_modsyms_load(vmic_os *os, lx_modsyms **out);
void lx_modsyms_free(lx_modsyms *m);

/* Symbols in /proc/kallsyms order: module list order, then symtab order. */
size_t lx_modsyms_count(const lx_modsyms *m);
bool lx_modsyms_get(const lx_modsyms *m, size_t i, vmic_symbol_t *sym);
/* By "name" (the first module that has it) or "module:name". */
bool lx_modsyms_lookup(const lx_modsyms *m, const char *name, vmic_symbol_t *sym);
/* The symbol at or below addr, when addr lies in that symbol's module's
 * memory; as the kernel's own lookup, the first of equal addresses. */
bool lx_modsyms_at(const lx_modsyms *m, uint64_t addr, vmic_symbol_t *sym, uint64_t *offset);

#endif
