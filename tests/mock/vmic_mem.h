/*
 * The in-memory test backend: `size` bytes of zeroed, writable physical
 * memory starting at pa 0, for unit tests of the translator and caches. It
 * lives in the test tree, not in libvmic: it proves nothing about real
 * guests. With copy_only the memory is not published as a host region, so
 * every access goes through read/write (or map_page when map_pages is set),
 * exercising the core's page cache as a remote backend would.
 */
#ifndef VMIC_TEST_MEM_H
#define VMIC_TEST_MEM_H

#include <vmic/driver.h>

typedef struct vmic_mem_options {
    uint64_t size;
    bool copy_only;
    bool map_pages;
    uint32_t vcpus;
} vmic_mem_options_t;

vmic_status vmic_mem_open(const vmic_mem_options_t *opt, vmic_driver **out);
/* The test backend's memory, for the test to build page tables in. */
uint8_t *vmic_mem_bytes(vmic_driver *d);
/* Counters of backend calls, so cache tests can see what reached it. */
typedef struct vmic_mem_stats {
    uint64_t reads, writes, maps, unmaps;
} vmic_mem_stats_t;
vmic_mem_stats_t vmic_mem_stats(vmic_driver *d);
vmic_status vmic_mem_set_regs(vmic_driver *d, vmic_vcpu_t vcpu, const vmic_amd64_regs_t *regs);

#endif
