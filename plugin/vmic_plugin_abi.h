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
 *           capture    a watch given a capture program (watch_program[i] > 0)
 *                      goes to the ring with what the program copied out
 *                      of guest memory at that instant (registers in
 *                      r[], byte ranges as items in data[]): the vCPU goes
 *                      on at once, and the client decodes later from the
 *                      copies. A program (or the syscall-argument table,
 *                      for one system call number) may ask for the record
 *                      to be HELD: the vCPU then waits until the client
 *                      stores its seq in answered, so the client can read
 *                      live memory for it as in sync mode.
 *           fetch      an instruction on a page of the nx set executed by a
 *                      vCPU whose view (vcpu_view[], read by the callback
 *                      each time: translated code is shared by all vCPUs)
 *                      has the page's bit: a sync event (the slot) with
 *                      RECORD_FETCH and the view, whatever the mode. Reads
 *                      and writes of the page make nothing. The plugin
 *                      cannot withhold the instruction: the answer lets it
 *                      run. The nx set is copied with the watches
 *                      (watch_gen); vcpu_view[] is not, so a view switch
 *                      needs no reset.
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
#define VMIC_PLUGIN_VERSION 3u

#define VMIC_PLUGIN_MAX_VCPUS 64u
#define VMIC_PLUGIN_MAX_WATCHES 1024u
/* Views (the memory controller): pages without X in some views. A view's
 * bit in a page's mask is 1 << view, so views are 0..63. */
#define VMIC_PLUGIN_MAX_VIEWS 64u
#define VMIC_PLUGIN_MAX_NX 1024u
/* Both sides spin this many times on a word before they sleep on it: a
 * round trip between two running processes then needs no system call. */
#define VMIC_PLUGIN_SPIN 2000u
/* A power of two: the ring index is head & (records - 1), which stays in
 * bounds whatever a hostile client writes to tail. */
#define VMIC_PLUGIN_RING_RECORDS 2048u

/* Capture programs (plugin_capture.c): a few straight-line programs over
 * sixteen 64-bit registers, each op bounded, no loops, so a hostile program
 * costs at most MAX_OPS bounded copies. */
#define VMIC_PLUGIN_MAX_PROGRAMS 4u
#define VMIC_PLUGIN_MAX_OPS 32u
#define VMIC_PLUGIN_ANCHORS 2u       /* per-vCPU guest-physical anchors */
#define VMIC_PLUGIN_NR_MAX 512u      /* system call numbers the arg table covers */
#define VMIC_PLUGIN_DATA 928u        /* bytes of items in one record */
#define VMIC_PLUGIN_ITEM_MAX 512u    /* bytes one item copies at most */

enum vmic_plugin_op_code {
    VMIC_PLUGIN_OP_END = 0,
    VMIC_PLUGIN_OP_ANCHOR,  /* r[dst] = u64 at pa anchors[vcpu][imm] */
    VMIC_PLUGIN_OP_LOAD,    /* r[dst] = len (4 or 8) bytes at va r[a]+imm */
    VMIC_PLUGIN_OP_ADD,     /* r[dst] = r[a] + imm */
    VMIC_PLUGIN_OP_COPY,    /* item: len bytes at va r[a]+imm */
    VMIC_PLUGIN_OP_STR,     /* item: a C string at va r[a]+imm, len at most */
    VMIC_PLUGIN_OP_ARGS,    /* items: the syscall args r[2..7] of number r[1]
                               as args[r[1]] says, phase imm (0 entry,
                               1 return: r[0] is the return value) */
    VMIC_PLUGIN_OP_PA,      /* r[dst] = the guest-physical address of va r[a]+imm */
};
#define VMIC_PLUGIN_REGS 16u /* register indexes are taken mod 16 */
/* Which page tables an op's va goes through: root = VMIC_PLUGIN_ROOT_KERNEL
 * for kernel_root, else r[root] (a guest-physical page-table root). */
#define VMIC_PLUGIN_ROOT_KERNEL 0xffu

struct vmic_plugin_op {
    uint8_t op, dst, a, root;
    uint32_t len;
    int64_t imm;
};

#define VMIC_PLUGIN_PROGRAM_HOLD 1u /* every record of this program is held */
struct vmic_plugin_program {
    uint32_t nops;
    uint32_t flags;
    struct vmic_plugin_op ops[VMIC_PLUGIN_MAX_OPS];
};

/* What OP_ARGS copies of one argument. */
enum vmic_plugin_arg_kind {
    VMIC_PLUGIN_ARG_NONE = 0,
    VMIC_PLUGIN_ARG_STR,    /* a C string, max bytes at most */
    VMIC_PLUGIN_ARG_FIXED,  /* max bytes */
    VMIC_PLUGIN_ARG_BUF,    /* min(arg[len_arg], max) bytes */
    VMIC_PLUGIN_ARG_BUFRET, /* min(return value, max) bytes, if it is > 0 */
};
struct vmic_plugin_arg {
    uint8_t kind[2];        /* [phase]: enum vmic_plugin_arg_kind */
    uint8_t len_arg;        /* ARG_BUF: which argument holds the length */
    uint8_t reserved;
    uint16_t max[2];        /* [phase] */
};
#define VMIC_PLUGIN_NR_HOLD_ENTRY 1u  /* hold this number's entry record */
#define VMIC_PLUGIN_NR_HOLD_RETURN 2u /* hold its return record */
struct vmic_plugin_nr {
    struct vmic_plugin_arg arg[6];
    uint32_t hold;
    uint32_t reserved;
};

/* What a capture record says of an item. */
enum vmic_plugin_item_status {
    VMIC_PLUGIN_ITEM_OK = 0,
    VMIC_PLUGIN_ITEM_SHORT,    /* fewer bytes than asked: no room, or a
                                  string longer than its bound */
    VMIC_PLUGIN_ITEM_UNMAPPED, /* the va (or part of it) is not mapped:
                                  len bytes from the start are */
};
struct vmic_plugin_item {
    uint64_t va;
    uint32_t want;             /* bytes asked for (a string: its bound) */
    uint16_t len;              /* bytes that follow, padded to 8 */
    uint8_t status;
    uint8_t tag;               /* COPY/STR: the op's index; ARGS: 32 + argument */
};

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
    uint32_t flags;  /* VMIC_PLUGIN_RECORD_* */
    uint32_t view;   /* RECORD_FETCH: the vCPU's view, whose page lacks X */
    uint32_t reserved;
};

#define VMIC_PLUGIN_RECORD_CAPTURE 1u /* r[] and data[] hold a program's copies */
#define VMIC_PLUGIN_RECORD_HELD 2u    /* the vCPU waits until answered >= seq */
#define VMIC_PLUGIN_RECORD_PARTIAL 4u /* an op failed or data[] ran out */
#define VMIC_PLUGIN_RECORD_FETCH 8u   /* an instruction fetched from a page
                                         without X in the vCPU's view */
/* Set by the client, never in the ring: the record is its copy of a held
 * sync event (the slot), to be answered through slot_state. */
#define VMIC_PLUGIN_RECORD_SLOT 0x80000000u

/* A ring record: the event, and a capture program's results. */
struct vmic_plugin_record {
    struct vmic_plugin_event ev;
    uint64_t gseq;      /* over all vCPUs: the order records were made */
    uint32_t program;   /* 1 + the program that ran; 0 none */
    uint32_t data_len;  /* bytes of items in data[] */
    uint64_t r[VMIC_PLUGIN_REGS];
    uint8_t data[VMIC_PLUGIN_DATA]; /* items, each 8-aligned */
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
    uint32_t answered;      /* [C] futex: seq of the last held record answered
                               (low 32 bits) */
    uint32_t held_waiting;  /* [P] set while the vCPU sleeps on answered */
    uint8_t pad_count[64 - 24];
    struct vmic_plugin_record ring[VMIC_PLUGIN_RING_RECORDS];
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
    uint8_t watch_program[VMIC_PLUGIN_MAX_WATCHES]; /* [C] 1 + program, 0 none */

    /* capture: [C], copied by the plugin with the watches (watch_gen) */
    uint64_t gseq;          /* [P] records made over all vCPUs */
    uint32_t levels;        /* [C] 4 or 5: the guest's paging */
    uint32_t nprograms;     /* [C] clamped to MAX_PROGRAMS */
    uint64_t kernel_root;   /* [C] guest-physical root of the kernel's tables */
    uint64_t anchors[VMIC_PLUGIN_MAX_VCPUS][VMIC_PLUGIN_ANCHORS]; /* [C] pa */
    struct vmic_plugin_program programs[VMIC_PLUGIN_MAX_PROGRAMS]; /* [C] */
    struct vmic_plugin_nr nrs[VMIC_PLUGIN_NR_MAX]; /* [C] for OP_ARGS */
    uint64_t capture_partial; /* [P] records some op of which failed */

    /* views: the pages without X, each with the views it lacks X in */
    uint32_t vcpu_view[VMIC_PLUGIN_MAX_VCPUS]; /* [C] read at every fetch callback */
    uint32_t nx_count;      /* [C] with the watches (watch_gen), clamped to MAX_NX */
    uint32_t nx_active;     /* [P] how many nx pages the plugin took */
    uint64_t nx_gfn[VMIC_PLUGIN_MAX_NX];   /* [C] guest-physical page numbers */
    uint64_t nx_views[VMIC_PLUGIN_MAX_NX]; /* [C] bit v: no X in view v */
    uint64_t fetches;       /* [P] fetch events made */
};

#endif
