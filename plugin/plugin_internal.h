/*
 * libvmic-qemu.so's private state: what the plugin decided, never re-read
 * from the control block (which the client may change under it at any time).
 */
#ifndef VMIC_PLUGIN_INTERNAL_H
#define VMIC_PLUGIN_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "qemu_api.h"
#include "vmic_plugin_abi.h"

/* One piece of QEMU's mapping of the RAM file (a mapping may be split into
 * several entries of /proc/self/maps by later madvise/mprotect). */
struct ram_range {
    uintptr_t start, end;
    uint64_t file_offset;
};
#define RAM_MAX_RANGES 32

/* The client's capture set as the plugin took it (a
 * copy: the client may rewrite the block at any time). */
struct capture_set {
    uint32_t levels;
    uint32_t nprograms;
    uint64_t kernel_root;
    uint64_t anchors[VMIC_PLUGIN_MAX_VCPUS][VMIC_PLUGIN_ANCHORS];
    struct vmic_plugin_program programs[VMIC_PLUGIN_MAX_PROGRAMS];
    struct vmic_plugin_nr nrs[VMIC_PLUGIN_NR_MAX];
};

/* One page without X in some views: the bit 1 << view of views. */
struct nx_page {
    uint64_t gfn;
    uint64_t views;
};

struct vcpu_private {
    uint32_t head; /* ring records appended: the vCPU's own copy */
    uint64_t seq;
    uint64_t last_wake_ns; /* when this vCPU last woke the client for a capture */
};

struct plugin {
    qemu_plugin_id_t id;
    struct vmic_plugin_ctl *ctl;
    struct vmic_plugin_vcpu *vcpus; /* ctl's areas */
    uint64_t ctl_size;
    char ctl_path[256];
    uint32_t nvcpus;

    /* RAM file: the path given, and where QEMU mapped it (found lazily:
     * QEMU maps RAM after it installed plugins). */
    char ram_path[256];
    uint64_t ram_file_size;
    uint64_t below_4g;
    bool below_4g_given, q35;
    pthread_mutex_t ram_lock;
    bool ram_found;
    int nram;
    struct ram_range ram[RAM_MAX_RANGES];

    /* The client: alive from its attach to its pidfd closing or detach. */
    int alive; /* atomic */
    int pidfd;
    uint32_t attach_seen;
    pthread_t monitor;
    int stop_monitor; /* atomic */

    /* Watches in force (sorted), and the next set a reset installs. */
    uint64_t active[VMIC_PLUGIN_MAX_WATCHES];
    uint32_t nactive;
    uint32_t mode;
    uint32_t applied_gen;
    uint8_t active_program[VMIC_PLUGIN_MAX_WATCHES]; /* by active[] index */
    struct capture_set capture;
    uint64_t next[VMIC_PLUGIN_MAX_WATCHES];
    uint8_t next_program[VMIC_PLUGIN_MAX_WATCHES];
    struct capture_set next_capture;
    uint32_t nnext, next_mode, next_gen;
    /* Pages without X in force (sorted by gfn), and the next set. */
    struct nx_page nx[VMIC_PLUGIN_MAX_NX];
    uint32_t nnx;
    struct nx_page next_nx[VMIC_PLUGIN_MAX_NX];
    uint32_t nnext_nx;
    int reset_in_flight; /* atomic */

    struct vcpu_private vp[VMIC_PLUGIN_MAX_VCPUS];
};

extern struct plugin vp_plugin;

/* plugin_ram.c: guest-physical address of a host pointer into RAM, false if
 * it is not in the RAM file (ROM, device memory). */
bool vp_ram_find(struct plugin *p);
bool vp_host_to_pa(struct plugin *p, const void *host, uint64_t *pa);
const uint8_t *vp_pa_to_host(struct plugin *p, uint64_t pa, uint64_t *avail);

void vp_capture_snapshot(const struct vmic_plugin_ctl *c, struct capture_set *out);
/* Runs program prog (0-based, < nprograms) for vcpu into rec; returns
 * whether the record is to be held. */
bool vp_capture_run(struct plugin *p, const struct capture_set *cs, uint32_t prog,
                    unsigned int vcpu, struct vmic_plugin_record *rec);

/* plugin_watch.c */
void vp_maybe_apply(struct plugin *p);
void vp_on_reset(qemu_plugin_id_t id);
void vp_register_idle(struct plugin *p);

/* plugin_deliver.c */
void vp_deliver(struct plugin *p, unsigned int vcpu, uint64_t pc, uint64_t pa, uint32_t program);
/* An instruction fetched in a view whose page lacks X: a sync event. */
void vp_deliver_fetch(struct plugin *p, unsigned int vcpu, uint64_t pc, uint64_t pa,
                      uint32_t view);
void vp_release_waiters(struct plugin *p);

/* plugin_monitor.c */
int vp_monitor_start(struct plugin *p);
void vp_monitor_stop(struct plugin *p);

#endif
