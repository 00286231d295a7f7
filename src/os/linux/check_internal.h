/* What the integrity checks (check*.c) share: where a kernel pointer lands. */
#ifndef VMIC_LX_CHECK_INTERNAL_H
#define VMIC_LX_CHECK_INTERNAL_H

#include "os_internal.h"

/* The kernel's text, _stext.._etext, and the modules' memory as the modules
 * list has it, read once per check. */
typedef struct lx_text_map {
    uint64_t stext, etext;
    vmic_module_t *mods;
    size_t nmods;
    bool mods_ok; /* false: the list could not be read, only text is known */
} lx_text_map;

vmic_status lx_text_map_init(vmic_os *os, lx_text_map *m);
void lx_text_map_free(lx_text_map *m);
bool lx_in_text(const lx_text_map *m, uint64_t addr);
/* The module whose memory holds addr, or NULL. */
const vmic_module_t *lx_module_at(const lx_text_map *m, uint64_t addr);

/* A finding with kind and nr set and everything else empty. */
void lx_finding_init(vmic_check_finding_t *f, vmic_check_kind kind, int64_t nr);

#endif
