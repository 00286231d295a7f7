/*
 * vmic core layer: a session over one driver.
 *
 * The core reads and writes guest memory by physical address and by virtual
 * address in an explicit address context (a page-table root), translates
 * addresses with the amd64 walker, and keeps two caches whose sizes the caller
 * chooses: a page cache (for memory the driver does not map into this process)
 * and a translation cache keyed by (root, va page). Writes made through the
 * core invalidate what they change; anything else (a running guest changing
 * its own tables) needs an explicit flush.
 *
 * A vmic_core is not thread-safe: use one per thread, or lock around it.
 */
#ifndef VMIC_CORE_H
#define VMIC_CORE_H

#include <vmic/arch.h>
#include <vmic/base.h>
#include <vmic/driver.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vmic_core vmic_core;

typedef struct vmic_core_config {
    size_t page_cache_pages; /* 0: default 1024 */
    size_t tlb_entries;      /* 0: default 16384; rounded up to a power of 2 */
} vmic_core_config_t;

/* Takes ownership of drv (closed with the core, also when open fails). */
vmic_status vmic_core_open(vmic_driver *drv, const vmic_core_config_t *cfg, vmic_core **out);
void vmic_core_close(vmic_core *core);

vmic_driver *vmic_core_driver(vmic_core *core);
const vmic_driver_info_t *vmic_core_info(vmic_core *core);
bool vmic_core_has(vmic_core *core, uint64_t caps);

/*
 * Paging configuration used for virtual addresses. Defaults to what vCPU 0's
 * registers describe, or 4-level paging when the driver has no registers.
 */
vmic_paging_t vmic_core_paging(vmic_core *core);
void vmic_core_set_paging(vmic_core *core, const vmic_paging_t *pg);

/* ---- physical memory ---------------------------------------------------- */

vmic_status vmic_read_pa(vmic_core *core, vmic_pa_t pa, void *buf, size_t len);
vmic_status vmic_write_pa(vmic_core *core, vmic_pa_t pa, const void *buf, size_t len);

/*
 * A pointer to guest memory at pa, valid for *len bytes (up to the end of the
 * page, or of the host-mapped region when the driver maps memory in place).
 * Valid until the next call on this core that can evict pages.
 */
vmic_status vmic_map_pa(vmic_core *core, vmic_pa_t pa, const uint8_t **ptr, size_t *len);

vmic_status vmic_read_u8_pa(vmic_core *core, vmic_pa_t pa, uint8_t *v);
vmic_status vmic_read_u16_pa(vmic_core *core, vmic_pa_t pa, uint16_t *v);
vmic_status vmic_read_u32_pa(vmic_core *core, vmic_pa_t pa, uint32_t *v);
vmic_status vmic_read_u64_pa(vmic_core *core, vmic_pa_t pa, uint64_t *v);

/* ---- virtual memory ------------------------------------------------------ */

/* An address context: which page tables translate a virtual address. */
typedef struct vmic_ctx {
    vmic_pa_t root;   /* CR3 value (flag and PCID bits are ignored) */
} vmic_ctx_t;

static inline vmic_ctx_t vmic_ctx(vmic_pa_t root) { vmic_ctx_t c = {root}; return c; }

/* Cached translation of one virtual address. */
vmic_status vmic_translate(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, vmic_pa_t *pa);

/* A full walk with every step, neither using nor filling the translation
 * cache; on failure t says where and why, and the error message says it too. */
vmic_status vmic_translate_walk(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va,
                                vmic_translation_t *t);

/* Reads and writes across page boundaries; each page translated separately.
 * On failure nothing is guaranteed about buf, and the message names the first
 * va that did not translate. */
vmic_status vmic_read_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, void *buf, size_t len);
vmic_status vmic_write_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, const void *buf, size_t len);

vmic_status vmic_read_u8_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, uint8_t *v);
vmic_status vmic_read_u16_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, uint16_t *v);
vmic_status vmic_read_u32_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, uint32_t *v);
vmic_status vmic_read_u64_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, uint64_t *v);
/* A guest pointer (8 bytes on amd64). */
vmic_status vmic_read_ptr_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, vmic_va_t *v);

/*
 * Reads a NUL-terminated string of at most max_len bytes (not counting the
 * NUL) into buf, which must hold max_len + 1 bytes; always NUL-terminates.
 * *len (may be NULL) gets the length read, also on failure. A string that does not end within
 * max_len bytes fails with VMIC_E_RANGE and leaves the first max_len bytes.
 */
vmic_status vmic_read_str_va(vmic_core *core, vmic_ctx_t ctx, vmic_va_t va, char *buf,
                             size_t max_len, size_t *len);
vmic_status vmic_read_str_pa(vmic_core *core, vmic_pa_t pa, char *buf, size_t max_len,
                             size_t *len);

/* Enumerates the leaf mappings of ctx (see vmic_amd64_mappings). */
vmic_status vmic_mappings(vmic_core *core, vmic_ctx_t ctx, uint64_t max_leaves,
                          vmic_mapping_fn fn, void *arg, uint64_t *skipped);

/* ---- caches --------------------------------------------------------------- */

void vmic_flush_tlb(vmic_core *core);
void vmic_flush_page_cache(vmic_core *core);

typedef struct vmic_cache_stats {
    uint64_t tlb_hits, tlb_misses, tlb_flushes;
    uint64_t page_hits, page_misses, page_evictions;
} vmic_cache_stats_t;
vmic_cache_stats_t vmic_cache_stats(vmic_core *core);

/* ---- vCPUs ------------------------------------------------------------------ */

uint32_t vmic_vcpu_count(vmic_core *core);
vmic_status vmic_get_regs(vmic_core *core, vmic_vcpu_t vcpu, vmic_amd64_regs_t *regs);
vmic_status vmic_set_regs(vmic_core *core, vmic_vcpu_t vcpu, const vmic_amd64_regs_t *regs);
vmic_status vmic_pause(vmic_core *core);
vmic_status vmic_resume(vmic_core *core);

#ifdef __cplusplus
}
#endif
#endif
