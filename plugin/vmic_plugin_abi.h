/*
 * The control block shared by libvmic-qemu.so (inside QEMU) and vmic.
 *
 * One file, by default /dev/shm/vmic-plugin.<QEMU pid>, or the path given as
 * the plugin argument ctl=PATH. The plugin creates it (O_EXCL, 0600) when
 * QEMU starts and removes it at exit; vmic maps it MAP_SHARED. Every field
 * says who writes it: [P] the plugin, [C] the client (vmic). A side only
 * reads the other's fields, and the plugin treats every [C] field as hostile:
 * counts are clamped, indexes masked, nothing read here is ever used as a
 * pointer or a length inside QEMU.
 *
 * Layout: this header at offset 0, then vcpu_count vCPU areas of vcpu_stride
 * bytes each from vcpu_offset. The client checks magic, version and the
 * sizes before it touches anything else, so a plugin and a vmic built from
 * different versions refuse each other instead of misreading.
 *
 * Protocol
 *  attach   [C] writes client_pid, then increments attach_seq and wakes it
 *           (futex). [P]'s monitor thread opens a pidfd on that pid, echoes
 *           attached_pid and sets attach_ack = attach_seq; the client waits
 *           for the ack, so the pidfd is known to be the live client's.
 *           From then on a closed pidfd (the client died, however) is the
 *           only thing that makes the plugin drop events. No timeouts.
 *  watch    [C] writes mode, watch_count and watches[] (guest-physical
 *           addresses of instructions), then increments watch_gen. [P]
 *           notices the change in a vCPU callback (idle, resume, translation
 *           or exec), copies the set, and calls qemu_plugin_reset so every
 *           translation is redone with the new set; then sets watch_applied
 *           = the generation it copied. QEMU binds callbacks at translation,
 *           hence the reset. On a busy guest with no watch yet there is no
 *           vCPU callback at all (nothing is registered while nothing is
 *           watched: loading the plugin costs nothing); the client then
 *           forces one with QMP stop + cont (idle and resume callbacks).
 *  events   An exec callback on a watched instruction makes one record
 *           (struct vmic_plugin_event) in its vCPU's area:
 *           sync mode  the record goes in the slot, slot_state becomes
 *                      POSTED, and the vCPU waits (futex on slot_state)
 *                      until the client sets ANSWERED. While it waits the
 *                      guest's memory is stable for that vCPU: read it
 *                      through the RAM file (the gdbstub cannot stop a vCPU
 *                      held here).
 *           ring mode  the record is appended at ring[head % ring_records];
 *                      the vCPU waits only when the ring is full (back-
 *                      pressure: a record is never dropped while the client
 *                      lives). The client advances tail.
 *           Either way the plugin increments doorbell and wakes it when
 *           client_sleeping is set, so one client thread can sleep on one
 *           word for all vCPUs.
 *           A held vCPU holds QEMU too: a reset, a QMP stop and QEMU's
 *           own quit all wait until it is answered or its client dies.
 *  detach   [C] writes client_pid = 0 and increments attach_seq; or dies.
 *           The plugin then releases held vCPUs, drops (and counts) what
 *           comes until watches are gone, and resets to no callbacks.
 *
 * All counters are 32-bit where they are futex words (futexes are 32-bit),
 * compared by difference so they wrap safely.
 */
#ifndef VMIC_PLUGIN_ABI_H
#define VMIC_PLUGIN_ABI_H

#include <stdint.h>

#define VMIC_PLUGIN_MAGIC 0x47554c5043494d56ull /* "VMICPLUG" little-endian */
#define VMIC_PLUGIN_VERSION 1u

#define VMIC_PLUGIN_MAX_VCPUS 64u
#define VMIC_PLUGIN_MAX_WATCHES 1024u
/* Both sides spin this many times on a word before they sleep on it: a
 * round trip between two running processes then needs no system call. */
#define VMIC_PLUGIN_SPIN 2000u
/* A power of two: the ring index is head & (records - 1), which stays in
 * bounds whatever a hostile client writes to tail. */
#define VMIC_PLUGIN_RING_RECORDS 4096u

enum vmic_plugin_mode {
    VMIC_PLUGIN_MODE_SYNC = 0,
    VMIC_PLUGIN_MODE_RING = 1,
};

enum vmic_plugin_slot_state {
    VMIC_PLUGIN_SLOT_EMPTY = 0,    /* [P] after it took the answer */
    VMIC_PLUGIN_SLOT_POSTED = 1,   /* [P] an event waits for the client */
    VMIC_PLUGIN_SLOT_ANSWERED = 2, /* [C] the vCPU may go on */
    VMIC_PLUGIN_SLOT_RELEASED = 3, /* [P] the client died holding it: dropped */
};

/* One event: where a vCPU was about to execute a watched instruction. */
struct vmic_plugin_event {
    uint64_t seq; /* per vCPU, from 1: a gap would be a lost event */
    uint64_t pc;  /* guest-virtual, qemu_plugin_insn_vaddr at translation */
    uint64_t pa;  /* guest-physical, from qemu_plugin_insn_haddr through the RAM file */
    uint32_t vcpu;
    uint32_t reserved;
};

/* One vCPU's area: the sync slot and the ring. Written by that vCPU's
 * thread only (plus the client), so vCPUs never contend. */
struct vmic_plugin_vcpu {
    uint32_t slot_state;    /* [P][C] futex, enum vmic_plugin_slot_state */
    uint32_t slot_waiting;  /* [P] set while the vCPU sleeps on slot_state:
                               the client's answer costs a wake-up only then */
    struct vmic_plugin_event slot; /* [P] the held event in sync mode */
    uint32_t head;          /* [P] futex: records appended (mod 2^32) */
    uint32_t ring_full_waits; /* [P] how often this vCPU waited for room */
    uint8_t pad_head[64 - 8];    /* head and tail on their own cache lines */
    uint32_t tail;          /* [C] futex: records consumed (mod 2^32) */
    uint32_t producer_waiting; /* [P] set while the vCPU sleeps on tail */
    uint8_t pad_tail[64 - 8];
    uint64_t events;        /* [P] events made on this vCPU (delivered or dropped) */
    uint64_t dropped;       /* [P] of those, dropped because the client was dead */
    uint8_t pad_count[64 - 16];
    struct vmic_plugin_event ring[VMIC_PLUGIN_RING_RECORDS];
};

struct vmic_plugin_ctl {
    /* identification: [P] written once before anyone can attach */
    uint64_t magic;
    uint32_t version;
    uint32_t header_size;   /* sizeof(struct vmic_plugin_ctl) */
    uint32_t vcpu_offset;   /* where vCPU 0's area starts */
    uint32_t vcpu_stride;   /* sizeof(struct vmic_plugin_vcpu) */
    uint32_t vcpu_count;    /* QEMU's max_vcpus, at most VMIC_PLUGIN_MAX_VCPUS */
    uint32_t ring_records;  /* VMIC_PLUGIN_RING_RECORDS */
    uint32_t max_watches;   /* VMIC_PLUGIN_MAX_WATCHES */
    uint32_t qemu_pid;      /* so a client can tell which QEMU it talks to */
    uint64_t total_size;    /* the file's size */
    /* How the plugin turns a RAM-file offset into a guest-physical address
     * (QEMU's pc split): offsets below ram_below_4g are at pa = offset, the
     * rest at 4 GiB + (offset - ram_below_4g). A client compares this with
     * QEMU's "info mtree" before it trusts the pa of an event. */
    uint64_t ram_size;      /* [P] size of QEMU's mapping of the RAM file */
    uint64_t ram_below_4g;  /* [P] */
    char ram_path[256];     /* [P] the RAM file as the plugin found it mapped */

    /* attach */
    uint32_t attach_seq;    /* [C] futex: incremented at attach and detach */
    uint32_t client_pid;    /* [C] */
    uint32_t attach_ack;    /* [P] futex: = attach_seq once handled */
    uint32_t attached_pid;  /* [P] the pid whose pidfd is watched, 0 none */

    /* watches */
    uint32_t watch_gen;     /* [C] incremented after watches[] changed */
    uint32_t watch_applied; /* [P] futex: the generation in force */
    uint32_t mode;          /* [C] enum vmic_plugin_mode, read with watches */
    uint32_t watch_count;   /* [C] clamped to max_watches by the plugin */
    uint32_t watches_active; /* [P] how many watches the plugin took */
    uint32_t resets;        /* [P] qemu_plugin_reset calls that completed */

    /* delivery */
    uint32_t doorbell;      /* [P] futex: incremented after every record */
    uint32_t client_sleeping; /* [C] set while the client sleeps on doorbell */
    uint64_t dropped;       /* [P] events dropped: client dead or detached */
    uint64_t untracked;     /* [P] watched insns not instrumented (table full) */
    uint8_t pad[64];

    uint64_t watches[VMIC_PLUGIN_MAX_WATCHES]; /* [C] guest-physical */
};

#endif
