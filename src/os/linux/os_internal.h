/* The Linux OS layer's private state, shared by its files. */
#ifndef VMIC_LX_OS_INTERNAL_H
#define VMIC_LX_OS_INTERNAL_H

#include <vmic/os.h>

#include "isf.h"
#include "kallsyms.h"
#include "module_syms.h"
#include "types.h"

/* Bounds on what a guest can make us do. */
#define LX_MAX_TASKS (1u << 22)      /* PID_MAX_LIMIT */
#define LX_MAX_THREADS (1u << 22)
#define LX_MAX_MODULES 65536
#define LX_MAX_VMAS (1u << 20)       /* sysctl max_map_count is 65530 by default */
#define LX_MAX_FDS (1u << 20)        /* NR_OPEN */
#define LX_MAX_PATH_DEPTH 256
#define LX_MAX_CMDLINE (1u << 21)    /* what we read of arg_start..arg_end */
#define LX_MAX_ENVIRON (1u << 21)    /* env_start..env_end; ARG_MAX is far less */
#define LX_MAX_MOUNTS 100000u        /* sysctl fs.mount-max default */
#define LX_MAX_SOCKETS (1u << 22)    /* socks in the hash tables, or held */
#define LX_MAX_HASH_BUCKETS (1u << 24) /* tcp_hashinfo.ehash of a ~1 TiB guest */

/* A field offset resolved once; ok false if this kernel has no such field. */
typedef struct lx_fld {
    uint32_t off;
    uint32_t size;
    uint32_t bit_size, bit_shift; /* bitfields: size and shift within 8 bytes at off */
    bool ok;
} lx_fld;

/* A walk that goes on past a part that does not read (a process, a hash
 * table) keeps the first error, message included, since later reads clear
 * the thread's error state; it returns it at the end. */
typedef struct lx_first_error {
    vmic_status s;
    char msg[256];
} lx_first_error;

typedef struct lx_module_btf lx_module_btf;

typedef struct lx_task_off {
    lx_fld tasks, pid, tgid, comm, real_parent, mm, active_mm, cred, real_cred, state, exit_state,
        start_time, signal, thread_node, files, flags;
    lx_fld sig_thread_head, sig_nr_threads;
    lx_fld cred_uid, cred_gid, cred_euid, cred_egid;
    lx_fld mm_pgd, mm_arg_start, mm_arg_end, mm_start_brk, mm_brk, mm_start_stack, mm_mt, mm_mmap;
    uint32_t span_lo, span_hi; /* bytes of task_struct the walk reads */
} lx_task_off;

typedef struct lx_path_off {
    bool ok;
    lx_fld path_mnt, path_dentry, d_parent, d_name, qstr_name, qstr_len, d_sb, d_inode,
        d_hash_pprev, mnt_root, mount_mnt, mnt_parent, mnt_mountpoint, s_magic, s_dev, i_ino,
        i_sb, f_path, f_inode, f_flags, f_pos, i_private, ns_common_ops, ns_ops_name;
} lx_path_off;

/* What a walk of the kernel image range found (kernel.c). */
#define LX_MAX_RO_RUNS 32
typedef struct lx_ro_run {
    uint64_t va, len;
} lx_ro_run;
typedef struct lx_image {
    uint64_t text, end, text_pa;
    lx_ro_run ro[LX_MAX_RO_RUNS]; /* every read-only run (the largest, if more) */
    int nro;
} lx_image;

/* The per-CPU areas (percpu.c): __per_cpu_offset[cpu] + a per-CPU
 * variable's offset is that CPU's copy of it. */
#define LX_MAX_CPUS 8192u /* NR_CPUS ceiling of x86-64 (CONFIG_MAXSMP) */
typedef struct lx_percpu {
    bool ready;
    uint64_t offsets;   /* __per_cpu_offset */
    uint32_t slots;     /* entries the array can hold (its kallsyms extent) */
    uint32_t ncpus;     /* nr_cpu_ids */
    uint64_t online;    /* __cpu_online_mask, 0 if the kernel has none */
    uint64_t cpu_number; /* per-CPU offset of the CPU's own number */
    bool has_cpu_number;
} lx_percpu;

/* Where the saved user registers of a task are (ptregs.c). */
typedef struct lx_ptregs {
    bool ready;
    uint64_t size;        /* sizeof(struct pt_regs) */
    uint64_t thread_size; /* THREAD_SIZE */
    uint64_t padding;     /* TOP_OF_KERNEL_STACK_PADDING */
    lx_fld stack;         /* task_struct.stack */
    uint64_t top_off;     /* per-CPU offset of the top of the current stack */
    bool has_top;
    lx_fld f[16];         /* the pt_regs fields vmic_pt_regs_t carries */
} lx_ptregs;

/* The kernel's address-space layout (layout.c): every judgement of "is this
 * a kernel address" goes through it, never through 4-level constants. */
typedef struct lx_layout {
    uint64_t kernel_half; /* lowest canonical kernel-half address */
} lx_layout;

struct vmic_os {
    vmic_core *core;
    vmic_ctx_t kctx;
    vmic_os_kernel_t kernel;
    char banner[512];
    char release[128];
    char root_source[32];
    char paging_source[128];
    bool names_checked;    /* vmic_os_check_symbols has run */
    char degraded[512];    /* what could not be read: vmic_os_kernel_t.degraded */
    bool paging_forced;  /* the caller fixed the paging mode (--paging) */
    lx_image image;
    lx_layout layout;

    /* The kernel's read-only data, for kallsyms and BTF: a pointer into guest
     * memory the driver maps in place, or an owned copy. */
    const uint8_t *ro;
    uint8_t *ro_owned;
    uint8_t *ks_ro_owned; /* the copy kallsyms points into, once ro moved */
    size_t ro_len;
    uint64_t ro_va;

    lx_kallsyms *ks;
    lx_isf *isf;
    uint64_t isf_slide;        /* run-time = link-time + isf_slide */
    lx_types *types;
    /* module_btf.c: loaded modules' split BTF, read on first use */
    lx_module_btf *mbtf;
    size_t n_mbtf, cap_mbtf;
    bool mbtf_read;
    lx_first_error mbtf_err;

    bool task_ready;
    lx_task_off t;
    lx_path_off path;          /* paths.c: resolved on first use (path.ok) */
    vmic_va_t init_task;
    uint8_t *task_buf;         /* t.span_hi - t.span_lo bytes */
    /* Within one walk, most tasks share a parent (kthreadd, init) and a cred
     * (init_cred): the last one read is kept. Reset at each walk's start. */
    uint64_t last_parent, last_cred;
    int32_t last_ptgid;
    uint32_t last_ids[4];

    /* syscalls.c: the system-call table, built on first use */
    vmic_syscall_t *syscalls;
    size_t nsyscalls;
    /* current.c: where the current task pointer sits in per-CPU memory */
    uint64_t current_off;
    bool current_ready;
    /* percpu.c: the CPUs' per-CPU areas, resolved on first use */
    lx_percpu percpu;
    /* ptregs.c: where a task's saved user registers sit */
    lx_ptregs ptregs;
    /* symbols.c: the modules' symbols, read on first use; a load that
     * failed keeps what it read and its message, repeated to each caller */
    lx_modsyms *modsyms;
    bool modsyms_ready;
    vmic_status modsyms_status;
    char modsyms_error[256];
};

/* os.c: notes what could not be read but did not stop the session
 * (vmic_os_kernel_t.degraded). */
void lx_degrade(vmic_os *os, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* kernel.c: root, image, rodata, banner */
vmic_status lx_find_kernel(vmic_os *os, uint64_t root);
vmic_status lx_map_image(vmic_os *os, uint64_t va, size_t len, const uint8_t **ptr,
                         uint8_t **owned);
/* Rescans the image under another root (after a change of paging mode). */
vmic_status lx_rescan_kernel(vmic_os *os, vmic_pa_t root, const char *source);
void lx_read_banner(vmic_os *os);
void lx_detect_pti(vmic_os *os);

/* symbols.c */
bool lx_sym(vmic_os *os, const char *name, uint64_t *addr);
vmic_status lx_need_sym(vmic_os *os, const char *name, uint64_t *addr);

/* mounts_shmem.c: a tmpfs superblock's own super options as the kernel's
 * shmem_show_options() prints them ("size=1024k,inode64"), into buf; "" for
 * a superblock that is not shmem's. */
vmic_status lx_shmem_options(vmic_os *os, uint64_t sb, const char *fstype, char *buf,
                             size_t size);
/* mounts_fsopts.c: a superblock's own super options, for the filesystems
 * vmic renders (tmpfs, devpts, cgroup2, bpf, ramfs, hugetlbfs); "" for the
 * others and for those with none set. */
vmic_status lx_fs_options(vmic_os *os, uint64_t sb, const char *fstype, char *buf, size_t size);

/* module_btf.c: the types of a loaded module (its split BTF over the
 * kernel's, which answers for the kernel's types too); NOTFOUND when it is
 * not loaded or has no BTF. Read for every module at the first call. */
vmic_status lx_module_types(vmic_os *os, const char *module, lx_types **out);
/* The types a query is about: "MODULE:rest" that loaded module's (*rest
 * the query without it), anything else the kernel's. */
vmic_status lx_types_for(vmic_os *os, const char *query, lx_types **t, const char **rest);
/* The first loaded module (btf_modules order) whose own BTF defines a
 * struct, union, enum or typedef called name. */
vmic_status lx_module_defining(vmic_os *os, const char *name, const char **module);
void lx_module_btf_free(vmic_os *os);

/* offsets.c: resolving fields */
vmic_status lx_field(vmic_os *os, const char *path, lx_fld *f, bool required);
vmic_status lx_task_offsets(vmic_os *os);

/* read.c: bounded reads in the kernel's address space */
vmic_status lx_read(vmic_os *os, uint64_t va, void *buf, size_t len);
vmic_status lx_u64(vmic_os *os, uint64_t va, uint64_t *v);
vmic_status lx_u32(vmic_os *os, uint64_t va, uint32_t *v);
vmic_status lx_str(vmic_os *os, uint64_t va, char *buf, size_t max_len);
/* Bytes [va, va+len): in place when physically contiguous and mapped by the
 * driver, else copied into buf (which must hold len bytes). */
vmic_status lx_view(vmic_os *os, uint64_t va, size_t len, uint8_t *buf, const uint8_t **out);
/* Field f of the object at base, bitfields included (0 if the kernel lacks
 * f): one read of at most 8 bytes. */
vmic_status lx_read_field(vmic_os *os, uint64_t base, const lx_fld *f, uint64_t *v);
/* The same for a pointer field, which must be 0 or a kernel address
 * (else VMIC_E_FORMAT naming where it was read). */
vmic_status lx_read_kptr_field(vmic_os *os, uint64_t base, const lx_fld *f, uint64_t *v);
/* Value of a field from bytes read of an object (0 if absent/out of range). */
uint64_t lx_get(const uint8_t *obj, size_t objlen, const lx_fld *f);
/* Same, for bytes of an object that start at offset base. */
uint64_t lx_get_at(const uint8_t *obj, size_t objlen, const lx_fld *f, uint32_t base);
/* layout.c: the paging mode (from the kernel itself when the caller did not
 * force one) and the address-space layout that follows from it. */
vmic_status lx_decide_paging(vmic_os *os, int forced_levels);
void lx_layout_init(vmic_os *os);
/* Kernel pointer: canonical and in the kernel half for this guest's paging. */
bool lx_kptr(const vmic_os *os, uint64_t p);
/* Physical address of a kernel virtual address. */
vmic_status lx_kpa(vmic_os *os, vmic_va_t va, vmic_pa_t *pa);

/* A set of addresses seen, for cycle detection in list walks. */
typedef struct lx_seen {
    uint64_t *slot;
    size_t mask, n, limit;
} lx_seen;
vmic_status lx_seen_init(lx_seen *s, size_t limit);
/* 1 if new, 0 if already seen, -1 when full or out of memory. */
int lx_seen_add(lx_seen *s, uint64_t v);
void lx_seen_free(lx_seen *s);

/* Keeps s when it is the first error, then clears the error state. */
void lx_keep_error(lx_first_error *e, vmic_status s);
/* The kept error, raised again; VMIC_OK when there was none. */
vmic_status lx_kept_error(const lx_first_error *e);
/* One step of a bounded walk over a kernel list: node must be a kernel
 * address not seen before, within the set's limit. VMIC_OK, or the error
 * that ends the walk, saying where ("<what>: cycle at 0x.. after <count>
 * <items>"). */
vmic_status lx_list_step(vmic_os *os, lx_seen *seen, uint64_t node, const char *what,
                         const char *items, size_t count);

/* percpu.c: the per-CPU offset of a per-CPU variable: the symbol
 * `name` (up to 6.1 and from 6.15), else the member `hot_field` of pcpu_hot
 * (6.2 to 6.14); and the address of CPU cpu's copy of one. */
vmic_status lx_percpu_var(vmic_os *os, const char *name, const char *hot_field, uint64_t *off);
vmic_status lx_percpu_addr(vmic_os *os, uint32_t cpu, uint64_t off, const char *what,
                           uint64_t *va);

/* symbols.c: address of the first symbol above addr (0 if none): where a
 * table ends. */
uint64_t lx_next_symbol(vmic_os *os, uint64_t addr);

/* tasks.c */
vmic_status lx_read_task(vmic_os *os, uint64_t task, vmic_process_t *p);

/* paths.c: the path of a struct file as d_path() makes it; its device and inode */
/* The path of a struct file as d_path() makes it; *truncated when it was
 * longer than buf and buf holds its last components. */
vmic_status lx_file_path(vmic_os *os, uint64_t file, char *buf, size_t size, uint64_t *inode,
                         bool *truncated);
vmic_status lx_file_dev(vmic_os *os, uint64_t file, uint32_t *major, uint32_t *minor,
                        uint64_t *ino);
/* paths.c, for mounts.c: the path of dentry in the mount tree from vfsmount
 * mnt up to a process's root (vfsmount root_mnt, root_dentry; 0: the
 * namespace's root), *under_root when it went through that root (else it is
 * from the namespace's root); and the path of dentry from the root of its
 * own filesystem (a mount's root, as mountinfo's 4th column). */
vmic_status lx_mount_path(vmic_os *os, uint64_t mnt, uint64_t dentry, uint64_t root_mnt,
                          uint64_t root_dentry, char *buf, size_t size, bool *truncated,
                          bool *under_root);
vmic_status lx_fs_path(vmic_os *os, uint64_t dentry, char *buf, size_t size, bool *truncated);

/* current.c: the per-CPU offset of current_task (pcpu_hot.current_task). */
vmic_status lx_current_offset(vmic_os *os, uint64_t *off);

#endif
