/*
 * vmic driver layer: one backend each (dump files, kvm, qemu, an in-memory
 * test backend) behind one table of function pointers with capability bits.
 *
 * A driver publishes the guest-physical layout as regions. A region with a host
 * pointer is read and written in place (mmap'd dumps, KVM memslots, QEMU's
 * shared RAM file): no copy, no per-page call. A region without one is reached
 * through the read/write or map_page operations, and the core caches the pages.
 * Anything a driver cannot do it leaves NULL and does not advertise in caps;
 * the core then answers "not supported by this driver".
 */
#ifndef VMIC_DRIVER_H
#define VMIC_DRIVER_H

#include <vmic/arch.h>
#include <vmic/base.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vmic_driver_cap {
    VMIC_CAP_READ = 1u << 0,
    VMIC_CAP_WRITE = 1u << 1,
    VMIC_CAP_REGISTERS = 1u << 2,     /* get_regs */
    VMIC_CAP_SET_REGISTERS = 1u << 3,
    VMIC_CAP_PAUSE = 1u << 4,         /* pause / resume */
    VMIC_CAP_EVENTS = 1u << 5,        /* event loop (see core.h) */
    VMIC_CAP_VIEWS = 1u << 6,         /* views with per-page R/W/X */
    VMIC_CAP_SINGLESTEP = 1u << 7,
    VMIC_CAP_SW_BREAKPOINT = 1u << 8, /* INT3 events */
    VMIC_CAP_HW_BREAKPOINT = 1u << 9, /* debug-register exec breakpoints */
    VMIC_CAP_WATCHPOINT = 1u << 10,
    VMIC_CAP_MSR_EVENTS = 1u << 11,
    VMIC_CAP_IO_EVENTS = 1u << 12,
    VMIC_CAP_INJECT = 1u << 13,       /* exception / interrupt injection */
};

/* Names of the capability bits set in caps, comma separated, into buf. */
void vmic_caps_describe(uint64_t caps, char *buf, size_t size);

typedef struct vmic_mem_region {
    vmic_pa_t start;
    uint64_t size;
    uint8_t *host;     /* guest memory in this process, or NULL */
    bool writable;     /* host may be written through */
    uint64_t file_offset; /* where the region's bytes sit in the source file,
                             for messages; UINT64_MAX if not from a file */
} vmic_mem_region_t;

typedef struct vmic_driver_info {
    const char *driver;   /* "raw", "elf", "lime", "kvm", "qemu", "mem" */
    const char *source;   /* file path or endpoint, for messages */
    uint64_t caps;
    uint64_t mem_size;    /* bytes of guest-physical memory present */
    vmic_pa_t max_pa;     /* one past the highest present byte */
    uint32_t vcpu_count;  /* 0 if unknown (raw dumps) */
    const vmic_mem_region_t *regions; /* the physical layout: sorted by start,
                                         not overlapping */
    size_t nregions;
} vmic_driver_info_t;

typedef struct vmic_driver vmic_driver;

typedef struct vmic_driver_ops {
    const char *name;
    void (*close)(vmic_driver *d);
    /* Info stays valid and constant until close (regions may not move). */
    const vmic_driver_info_t *(*info)(vmic_driver *d);
    /* For memory outside host-mapped regions. read/write copy; map_page
     * returns a pointer to one page that stays valid until unmap_page. */
    vmic_status (*read)(vmic_driver *d, vmic_pa_t pa, void *buf, size_t len);
    vmic_status (*write)(vmic_driver *d, vmic_pa_t pa, const void *buf, size_t len);
    vmic_status (*map_page)(vmic_driver *d, vmic_gfn_t gfn, const uint8_t **page);
    void (*unmap_page)(vmic_driver *d, vmic_gfn_t gfn, const uint8_t *page);
    vmic_status (*get_regs)(vmic_driver *d, vmic_vcpu_t vcpu, vmic_amd64_regs_t *regs);
    vmic_status (*set_regs)(vmic_driver *d, vmic_vcpu_t vcpu, const vmic_amd64_regs_t *regs);
    vmic_status (*pause)(vmic_driver *d);
    vmic_status (*resume)(vmic_driver *d);
    /* Event, view and breakpoint operations join this table with the event
     * model (core.h); drivers without them leave the pointers NULL. */
} vmic_driver_ops_t;

/* Every driver's private state begins with this. */
struct vmic_driver {
    const vmic_driver_ops_t *ops;
};

/* ---- the drivers ------------------------------------------------------ */

typedef enum vmic_dump_format {
    VMIC_DUMP_AUTO = 0,  /* by magic: ELF, LiME, else raw */
    VMIC_DUMP_RAW,
    VMIC_DUMP_ELF,
    VMIC_DUMP_LIME,
} vmic_dump_format;

/* Opens a memory dump read-only (mmap, no copy). */
vmic_status vmic_dump_open(const char *path, vmic_dump_format fmt, vmic_driver **out);

/* Same, over bytes already in memory (fuzzing, tests); buf must outlive the driver. */
vmic_status vmic_dump_open_buffer(const void *buf, size_t len, vmic_dump_format fmt,
                                  const char *name, vmic_driver **out);

/*
 * An in-memory guest for unit tests of the translator and caches: `size`
 * bytes of zeroed, writable physical memory starting at pa 0. With
 * copy_only the memory is not published as a host region, so every access
 * goes through read/write (or map_page when map_pages is set), exercising the
 * core's page cache as a remote backend would.
 */
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

void vmic_driver_close(vmic_driver *d);

#ifdef __cplusplus
}
#endif
#endif
