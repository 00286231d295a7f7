/*
 * vmic os layer: what a guest's operating system knows about itself (Linux).
 *
 * A vmic_os finds the kernel in guest memory with no profile: the kernel
 * page-table root (vCPU registers, else a bounded search of physical memory),
 * the kernel image and its KASLR slide, the compressed kallsyms table (every
 * symbol's address) and the kernel's own BTF (every struct's layout). An ISF
 * profile (Volatility 3 JSON, optionally .json.xz) can stand in for both; the
 * symbol and type queries below answer the same either way.
 *
 * On top of symbols and types it lists processes, threads, modules, memory
 * regions and open files of a process, reads the kernel log and reads memory
 * in a process's own address space.
 *
 * Guest memory is hostile: every list walk is bounded and detects cycles,
 * every pointer and length is checked. A walk that meets a broken structure
 * reports the entries it could trust, then fails with VMIC_E_FORMAT (cycle,
 * impossible value), VMIC_E_TRANSLATE / VMIC_E_UNMAPPED (dangling pointer) or
 * VMIC_E_RANGE (a bound hit); the message says which entry and where. Such a
 * result is therefore "truncated": the callback saw a prefix. One string too
 * long for its field (a file path) is not such a failure: the entry comes
 * with what fits and a flag that says it was cut (path_truncated).
 *
 * Structs that the library fills end in reserved words, so that fields can
 * be added without changing their size; structs the caller fills have them
 * too and must be zeroed (a designated initializer or memset does it).
 *
 * A vmic_os borrows its core (which must outlive it) and, like the core, is
 * not thread-safe.
 */
#ifndef VMIC_OS_H
#define VMIC_OS_H

#include <vmic/arch.h>
#include <vmic/base.h>
#include <vmic/core.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vmic_os vmic_os;

typedef struct vmic_os_config {
    const char *profile; /* ISF file (.json or .json.xz) for symbols and types;
                            NULL: kallsyms and BTF from guest memory */
    uint64_t root;       /* kernel page-table root (CR3 value); 0: take it from
                            the vCPU registers, else search physical memory */
    int paging;          /* 4 or 5: the caller has set the core's paging mode and
                            it is not to be changed; 0: decide it from the kernel
                            (__pgtable_l5_enabled), which a raw dump needs */
    uint32_t reserved[4]; /* zero: room for options to come */
} vmic_os_config_t;

VMIC_API vmic_status vmic_os_open(vmic_core *core, const vmic_os_config_t *cfg, vmic_os **out);
VMIC_API void vmic_os_close(vmic_os *os);
VMIC_API vmic_core *vmic_os_core(vmic_os *os);

/* What was found about the kernel. Strings live as long as the vmic_os.
 * Only ever read through vmic_os_kernel's pointer: it grows at its end. */
typedef struct vmic_os_kernel {
    vmic_va_t text;          /* _text: first byte of the kernel image */
    vmic_va_t end;           /* one past the last mapped byte of the image */
    vmic_pa_t text_pa;       /* where the image sits physically */
    uint64_t slide;          /* KASLR: text - 0xffffffff81000000 */
    vmic_pa_t root;          /* kernel page-table root used for kernel reads */
    const char *root_source; /* "vCPU 0 CR3", "search", "caller" */
    vmic_paging_mode paging;
    const char *paging_source; /* why that mode: "CR4.LA57 of vCPU 0",
                                  "__pgtable_l5_enabled", "--paging", ... */
    bool pti;                /* page-table isolation (KPTI) is on */
    const char *banner;      /* linux_banner without its newline */
    const char *release;     /* "6.1.0-56-amd64" */
    const char *symbols;     /* "kallsyms" or "isf" */
    const char *types;       /* "btf" or "isf" */
    size_t nsymbols;
    vmic_va_t kallsyms;      /* kallsyms_names in guest memory (0 with ISF) */
    vmic_va_t btf;           /* the BTF blob in guest memory (0 with ISF) */
    uint64_t btf_size;
    /* The kernel's address-space layout, from its own variables (KASLR moves
     * them) or the defaults of its paging mode. */
    vmic_va_t kernel_half;      /* lowest kernel address: 0xffff8000... (4-level)
                                   or 0xff000000... (5-level) */
    vmic_va_t page_offset_base; /* the direct map of physical memory */
    vmic_va_t vmalloc_base;
    vmic_va_t vmemmap_base;
    vmic_va_t modules_start, modules_end;
    const char *layout_source;  /* "kernel variables" or "defaults" */
    /* What could not be read without stopping the session ("" if nothing):
     * e.g. BTF rejected (types "none": symbols and the banner still work),
     * kallsyms names that do not decode, no linux_banner. */
    const char *degraded;
} vmic_os_kernel_t;

VMIC_API const vmic_os_kernel_t *vmic_os_kernel(vmic_os *os);
/* The address context for kernel virtual addresses. */
VMIC_API vmic_ctx_t vmic_os_kernel_ctx(vmic_os *os);

/* ---- symbols ---------------------------------------------------------- */

typedef struct vmic_symbol {
    const char *name;
    vmic_va_t addr;
    char type;  /* nm-style type letter ('T', 't', 'D', ...); '?' if unknown */
    const char *module; /* the module it belongs to; NULL: the kernel image */
} vmic_symbol_t;

/*
 * Address of a symbol by name (VMIC_E_NOTFOUND if none): the kernel's own
 * first, then the loaded modules' ("name", or "module:name" for one module),
 * as the kernel's kallsyms_lookup_name does.
 */
VMIC_API vmic_status vmic_os_symbol(vmic_os *os, const char *name, vmic_va_t *addr);
/*
 * The symbol at or below addr, *offset = addr - sym: within the kernel image,
 * its per-CPU area (per-CPU symbols are offsets from 0, which KASLR does not
 * move) or a loaded module's memory. Anywhere else (the direct map, the heap,
 * user space) there is no symbol: VMIC_E_NOTFOUND, never a far-away one.
 */
VMIC_API vmic_status vmic_os_symbol_at(vmic_os *os, vmic_va_t addr, vmic_symbol_t *sym, uint64_t *offset);
/* The kernel image's symbols in address order (kallsyms order), for listing
 * and tests. */
VMIC_API size_t vmic_os_symbol_count(vmic_os *os);
/* Decodes every kallsyms name once and notes those that do not decode in
 * vmic_os_kernel_t.degraded (not done at open: it costs a third of a `ps`). */
VMIC_API void vmic_os_check_symbols(vmic_os *os);
VMIC_API vmic_status vmic_os_symbol_get(vmic_os *os, size_t index, vmic_symbol_t *sym);
/*
 * The loaded modules' symbols as the module lines of /proc/kallsyms list
 * them (module list order, then each module's symbol table order; the type
 * letter upper case only for exported symbols). Read from guest memory on
 * first use; *count gets how many. A module list or table that cannot be
 * read fails, with *count still the symbols read before it.
 */
VMIC_API vmic_status vmic_os_module_symbols(vmic_os *os, size_t *count);
VMIC_API vmic_status vmic_os_module_symbol_get(vmic_os *os, size_t index, vmic_symbol_t *sym);

/* ---- types ------------------------------------------------------------- */

typedef enum vmic_type_kind {
    VMIC_TYPE_VOID = 0,
    VMIC_TYPE_INT,
    VMIC_TYPE_FLOAT,
    VMIC_TYPE_POINTER,
    VMIC_TYPE_ARRAY,
    VMIC_TYPE_STRUCT,
    VMIC_TYPE_UNION,
    VMIC_TYPE_ENUM,
    VMIC_TYPE_FUNCTION,
    VMIC_TYPE_OTHER,
} vmic_type_kind;

VMIC_API const char *vmic_type_kind_name(vmic_type_kind k);

/* A field found by path: "task_struct.mm", "mm_struct.mm_mt.ma_root",
 * "printk_info.level". Members of anonymous structs and unions are found as
 * if they were members of the outer struct, as in C.
 *
 * Modules' types: a path or name that starts with "MODULE:" is looked up in
 * that loaded module's own BTF, which builds on the kernel's
 * ("minix:minix_sb_info.s_ninodes", "ext4:ext4_sb_info"). Module BTF is read
 * from the guest (btf_modules; CONFIG_DEBUG_INFO_BTF_MODULES) at the first
 * such question, for every module; a kernel's types from an ISF profile have
 * none. */
typedef struct vmic_field {
    uint64_t offset;      /* bytes from the start of the outermost struct
                             (for a bitfield: the byte holding its first bit) */
    uint64_t bit_offset;  /* bits from the start of the outermost struct */
    uint32_t bit_size;    /* 0 unless a bitfield */
    uint64_t size;        /* bytes of the field's type (for a bitfield, of its
                             underlying integer type) */
    vmic_type_kind kind;  /* of the field's type, typedefs and qualifiers removed */
    uint64_t count;       /* elements, for arrays */
    char type_name[96];   /* C spelling: "struct list_head", "char [16]", "pid_t" */
} vmic_field_t;

VMIC_API vmic_status vmic_os_field(vmic_os *os, const char *path, vmic_field_t *out);
/* Size of a struct, union, enum or typedef by name ("task_struct"). */
VMIC_API vmic_status vmic_os_type_size(vmic_os *os, const char *name, uint64_t *size);
/* Value of an enum constant ("maple_leaf_64", "MOD_TEXT"). */
VMIC_API vmic_status vmic_os_enum_value(vmic_os *os, const char *name, int64_t *value);

/* One member of a struct as listed by vmic_os_type_members: anonymous
 * structs and unions are listed (name "") and then their members, one
 * depth deeper. */
typedef struct vmic_member {
    const char *name;
    int depth;
    vmic_field_t field;
} vmic_member_t;
typedef int (*vmic_member_fn)(void *arg, const vmic_member_t *m);
/* Kind and size of the named struct/union, then fn for every member. */
VMIC_API vmic_status vmic_os_type_members(vmic_os *os, const char *name, vmic_type_kind *kind,
                                 uint64_t *size, vmic_member_fn fn, void *arg);
/* The kernel's BTF blob (module NULL), or a loaded module's own split BTF
 * (whose ids and strings continue the kernel's), byte for byte as the
 * guest's /sys/kernel/btf/{vmlinux,MODULE} serves it: for pahole, bpftool
 * (`btf dump file MODULE.btf base vmlinux.btf`) or libbpf. Valid until the
 * os closes. VMIC_E_UNSUPPORTED when the types come from an ISF profile. */
VMIC_API vmic_status vmic_os_btf(vmic_os *os, const char *module, const uint8_t **data,
                                 size_t *len);
/* The first loaded module (in the kernel's btf_modules order) whose own BTF
 * defines a struct, union, enum or typedef called name: its name, copied
 * into module (VMIC_MODULE_NAME_LEN + 1 bytes). VMIC_E_NOTFOUND if none. */
VMIC_API vmic_status vmic_os_type_module(vmic_os *os, const char *name, char *module,
                                         size_t size);

/* ---- processes and threads ------------------------------------------------ */

#define VMIC_COMM_LEN 16

typedef struct vmic_process {
    vmic_va_t task;         /* the task_struct */
    int32_t pid;            /* thread id (the task's pid) */
    int32_t tgid;           /* process id */
    int32_t ppid;           /* tgid of real_parent */
    char comm[VMIC_COMM_LEN + 1];
    uint32_t uid, gid, euid, egid;
    char state;             /* as ps shows it: R S D T t X Z P I */
    uint32_t state_raw;     /* __state | exit_state */
    uint64_t start_ns;      /* start_time: ns of monotonic time since boot */
    uint32_t nthreads;      /* signal->nr_threads */
    bool kernel_thread;     /* no mm */
    vmic_va_t mm;
    vmic_pa_t root;         /* physical address of mm->pgd: the kernel-mode root
                               of this process (maps user and kernel space) */
    vmic_pa_t user_root;    /* the root user mode runs on: root + 4 KiB with
                               PTI, else root */
    bool partial;           /* some field could not be read (left zero) */
    uint64_t reserved[2];   /* zero: room for fields to come, same size */
} vmic_process_t;

typedef int (*vmic_process_fn)(void *arg, const vmic_process_t *p);

/* Every process (thread-group leader) from init_task's task list. fn returning
 * non-zero stops the walk (VMIC_OK). */
VMIC_API vmic_status vmic_os_processes(vmic_os *os, vmic_process_fn fn, void *arg);
/* The process whose tgid is pid (VMIC_E_NOTFOUND if none). */
VMIC_API vmic_status vmic_os_process_find(vmic_os *os, int32_t pid, vmic_process_t *out);
/* Every thread of a process (the leader included), from its thread list. */
VMIC_API vmic_status vmic_os_threads(vmic_os *os, const vmic_process_t *p, vmic_process_fn fn, void *arg);

/* Address context of the process (its kernel-mode root). Kernel threads
 * have none: VMIC_E_NOTFOUND. */
VMIC_API vmic_status vmic_os_process_ctx(vmic_os *os, const vmic_process_t *p, vmic_ctx_t *ctx);
VMIC_API vmic_status vmic_os_process_read(vmic_os *os, const vmic_process_t *p, vmic_va_t va, void *buf,
                                 size_t len);
/* The command line from the process's own memory (mm->arg_start..arg_end),
 * arguments separated by NULs as in /proc/PID/cmdline. At most size-1 bytes
 * are stored (always NUL-terminated); *len (may be NULL) gets the bytes
 * stored. A longer command line is cut and fails with VMIC_E_RANGE. */
VMIC_API vmic_status vmic_os_process_cmdline(vmic_os *os, const vmic_process_t *p, char *buf, size_t size,
                                    size_t *len);

/* ---- the running task ------------------------------------------------------- */

/*
 * The task a vCPU runs now: the per-CPU current task pointer (current_task
 * up to 6.1, pcpu_hot.current_task from 6.2) at the vCPU's per-CPU base. The
 * base is GS while the vCPU runs kernel code (CS.RPL 0, as at any kernel
 * breakpoint), KERNEL_GS_BASE while it runs user code. Needs the segment
 * registers (VMIC_REGS_SEG) in regs.
 */
VMIC_API vmic_status vmic_os_current_task(vmic_os *os, const vmic_amd64_regs_t *regs, vmic_va_t *task);
/* One task_struct, read like a process-list entry (pid is its thread id,
 * tgid its process). */
VMIC_API vmic_status vmic_os_task(vmic_os *os, vmic_va_t task, vmic_process_t *out);

/*
 * The same without registers, from guest memory alone (what a tracer needs
 * whose events carry only a vCPU index, as QEMU's plugin API v1 gives).
 *
 * CPUs are the kernel's numbers: 0 .. nr_cpu_ids-1 (possible CPUs, not all
 * online). CPU n's per-CPU area is at __per_cpu_offset[n], bounded by the
 * array's extent in the symbol table and by 8192 (NR_CPUS). Each call that
 * reads a CPU's area checks that its per-CPU cpu_number (pcpu_hot.cpu_number
 * on 6.2 to 6.14) is n, else fails with VMIC_E_FORMAT.
 *
 * QEMU's vcpu_index and Linux's CPU number are not the same concept: QEMU
 * numbers vCPUs in creation order, Linux numbers CPUs as it brings them up
 * (in the order of the ACPI MADT / MP table, the boot CPU 0). On the x86
 * guests QEMU makes they are equal - the tests check it on dumps with 2 vCPUs
 * through the GS base each vCPU's own registers hold - but a guest booted
 * with a CPU left out, or one that reorders its APIC IDs, could differ.
 */
VMIC_API vmic_status vmic_os_cpu_count(vmic_os *os, uint32_t *count);
/* Whether the CPU is up (__cpu_online_mask). */
VMIC_API vmic_status vmic_os_cpu_online(vmic_os *os, uint32_t cpu, bool *online);
/* The task CPU cpu runs (its per-CPU current_task / pcpu_hot.current_task). */
VMIC_API vmic_status vmic_os_current_task_of_cpu(vmic_os *os, uint32_t cpu, vmic_va_t *task);

/* ---- saved user registers ------------------------------------------------------ */
/*
 * The registers a task saved when it entered the kernel: its struct pt_regs
 * at the top of its kernel stack (the kernel's task_pt_regs). For a task in
 * a system call: orig_ax is the call's number, di si dx r10 r8 r9 its
 * arguments, ip and sp where user mode will resume. Meaningful for user
 * tasks only: a kernel thread never came from user mode.
 *
 * vmic_os_task_pt_regs works for any task: task->stack + THREAD_SIZE (16 KiB,
 * 32 KiB with KASAN) - TOP_OF_KERNEL_STACK_PADDING (16 with CONFIG_X86_FRED,
 * else 0) - sizeof(struct pt_regs) from BTF. vmic_os_cpu_pt_regs, for the
 * task a CPU runs, needs no such constant: the kernel's per-CPU top of stack
 * (cpu_current_top_of_stack, pcpu_hot.top_of_stack on 6.2 to 6.14) is the
 * end of that task's pt_regs.
 */
typedef struct vmic_pt_regs {
    vmic_va_t at;          /* where the struct is */
    uint64_t orig_ax;      /* system-call number (-1: entered by an interrupt
                              or exception) */
    uint64_t ip, sp, flags, cs, ss;
    uint64_t ax;           /* the call's return value once it returns */
    uint64_t di, si, dx, r10, r8, r9; /* system-call arguments 1..6 */
    uint64_t reserved[4];  /* zero: room for registers to come, same size */
} vmic_pt_regs_t;

VMIC_API vmic_status vmic_os_task_pt_regs(vmic_os *os, vmic_va_t task, vmic_va_t *regs);
VMIC_API vmic_status vmic_os_cpu_pt_regs(vmic_os *os, uint32_t cpu, vmic_va_t *regs);
VMIC_API vmic_status vmic_os_read_pt_regs(vmic_os *os, vmic_va_t regs, vmic_pt_regs_t *out);

/* Where CPU cpu keeps the task it runs and the top of that task's kernel
 * stack: the per-CPU variables themselves, not their values, and the size
 * of the pt_regs that end at that top. What a program that reads them at
 * an instant with no registers (an exec watch's capture) needs. */
typedef struct vmic_cpu_slots {
    vmic_va_t current_task;   /* the variable: the task pointer is there */
    vmic_va_t top_of_stack;   /* the variable: pt_regs end at its value */
    uint64_t pt_regs_size;
    uint64_t reserved[2];
} vmic_cpu_slots_t;
VMIC_API vmic_status vmic_os_cpu_slots(vmic_os *os, uint32_t cpu, vmic_cpu_slots_t *out);

/* ---- system calls ------------------------------------------------------------ */
/*
 * The guest's own 64-bit system-call table: each entry of sys_call_table
 * named by its handler's kallsyms symbol (__x64_sys_openat: "openat"), and
 * described by the kernel's ftrace syscall metadata when it has it
 * (CONFIG_FTRACE_SYSCALLS: syscalls_metadata[nr], a struct syscall_metadata
 * with the argument names and C types of SYSCALL_DEFINEn, laid out as BTF
 * says). Without metadata an entry has a name and nargs -1. Built on first
 * use, bounded by the table's extent in kallsyms (at most
 * VMIC_SYSCALL_MAX_NR entries); every string read from the guest is bounded
 * and checked.
 */
#define VMIC_SYSCALL_MAX_NR 1024
#define VMIC_SYSCALL_MAX_ARGS 6
#define VMIC_SYSCALL_NAME_LEN 48
#define VMIC_SYSCALL_TYPE_LEN 48

typedef struct vmic_syscall_arg {
    char name[VMIC_SYSCALL_NAME_LEN];   /* "filename" */
    char type[VMIC_SYSCALL_TYPE_LEN];   /* "const char *" */
} vmic_syscall_arg_t;

typedef struct vmic_syscall {
    uint32_t nr;
    char name[VMIC_SYSCALL_NAME_LEN];   /* "openat"; "syscall_NNN" if unnamed */
    vmic_va_t handler;                  /* sys_call_table[nr] */
    bool implemented;                   /* false: sys_ni_syscall */
    bool has_metadata;                  /* args come from the kernel's metadata */
    int nargs;                          /* 0..6, or -1 if unknown */
    vmic_syscall_arg_t args[VMIC_SYSCALL_MAX_ARGS];
} vmic_syscall_t;

/* The whole table: (*table)[nr] for nr < *count. Owned by os. */
VMIC_API vmic_status vmic_os_syscalls(vmic_os *os, const vmic_syscall_t **table, size_t *count);
/* One entry by number (VMIC_E_RANGE past the table) or by name
 * (VMIC_E_NOTFOUND). */
VMIC_API vmic_status vmic_os_syscall(vmic_os *os, uint32_t nr, const vmic_syscall_t **sc);
VMIC_API vmic_status vmic_os_syscall_by_name(vmic_os *os, const char *name, const vmic_syscall_t **sc);

/* ---- modules --------------------------------------------------------------- */

#define VMIC_MODULE_NAME_LEN 56
#define VMIC_MODULE_MAX_RANGES 16

/* One piece of a module's memory. */
typedef struct vmic_module_range {
    vmic_va_t base;
    uint64_t size;
} vmic_module_range_t;

typedef struct vmic_module {
    vmic_va_t module;       /* the struct module */
    char name[VMIC_MODULE_NAME_LEN + 1];
    vmic_va_t base;         /* core text base, as /proc/modules shows it */
    uint64_t size;          /* total size, as /proc/modules shows it */
    int32_t state;          /* enum module_state (0 = live) */
    /* Where its code and data are: each mem[] region (6.4+) or the core and
     * init layouts (before), those with a size. */
    unsigned nranges;
    vmic_module_range_t ranges[VMIC_MODULE_MAX_RANGES];
    int32_t refcount;       /* module_refcount(): refcnt less its base of 1, as
                               /proc/modules's third column (a mount of its
                               filesystem, a user of its symbols); -1 when the
                               kernel keeps none (no CONFIG_MODULE_UNLOAD) */
    uint32_t reserved32;
    uint64_t reserved[1];   /* zero: room for fields to come, same size */
} vmic_module_t;

typedef int (*vmic_module_fn)(void *arg, const vmic_module_t *m);
VMIC_API vmic_status vmic_os_modules(vmic_os *os, vmic_module_fn fn, void *arg);

/* ---- memory regions and files ------------------------------------------------ */

/* Room for a path, its NUL included. A longer one is cut at the front: the
 * field keeps its last components (starting at a '/') and path_truncated is
 * set; the walk goes on. */
#define VMIC_PATH_LEN 512

typedef struct vmic_region {
    vmic_va_t vma;          /* the vm_area_struct */
    vmic_va_t start, end;
    vmic_access_t access;   /* VM_READ / VM_WRITE / VM_EXEC */
    bool shared;            /* VM_MAYSHARE: 's' in /proc/PID/maps, else 'p' */
    uint64_t offset;        /* file offset in bytes (vm_pgoff << 12) */
    uint32_t dev_major, dev_minor;
    uint64_t inode;
    char path[VMIC_PATH_LEN]; /* file path, "[heap]", "[stack]", "[vdso]", or "" */
    bool path_truncated;    /* path holds only the end of a longer one */
    uint64_t reserved[2];   /* zero: room for fields to come, same size */
} vmic_region_t;

typedef int (*vmic_region_fn)(void *arg, const vmic_region_t *r);
/* Memory regions (VMAs) of a process in address order; kernel threads have
 * none. */
VMIC_API vmic_status vmic_os_regions(vmic_os *os, const vmic_process_t *p, vmic_region_fn fn, void *arg);

typedef struct vmic_open_file {
    int32_t fd;
    vmic_va_t file;         /* the struct file */
    uint32_t flags;         /* f_flags (O_*) */
    uint64_t pos;
    uint64_t inode;
    char path[VMIC_PATH_LEN]; /* as /proc/PID/fd/N links: "/dev/console",
                                 "pipe:[123]", "socket:[456]", ... */
    bool path_truncated;    /* path holds only the end of a longer one */
    uint64_t reserved[2];   /* zero: room for fields to come, same size */
} vmic_open_file_t;

typedef int (*vmic_file_fn)(void *arg, const vmic_open_file_t *f);
VMIC_API vmic_status vmic_os_files(vmic_os *os, const vmic_process_t *p, vmic_file_fn fn, void *arg);

/* ---- sockets, mounts, environment ------------------------------------------ */

/* Socket families and the states /proc/net prints (TCP_* for inet sockets,
 * which UDP shares: 7, TCP_CLOSE, for an unconnected one). */
#define VMIC_AF_UNIX 1
#define VMIC_AF_INET 2
#define VMIC_AF_INET6 10
#define VMIC_SOCK_PATH_LEN 110   /* sun_path (108) + '@' + NUL */

typedef struct vmic_socket {
    int32_t pid;            /* the process whose fd table holds it (tgid); 0 for
                               one no fd table holds */
    int32_t fd;             /* -1 for one no fd table holds */
    vmic_va_t file;         /* the struct file */
    vmic_va_t sock;         /* the struct sock (0 if it has none) */
    uint64_t inode;         /* socket:[inode], as /proc/net files print it */
    uint32_t netns;         /* inode of its network namespace (net->ns.inum) */
    uint16_t family;        /* VMIC_AF_*, or another AF_ number */
    uint16_t type;          /* sk_type: 1 stream, 2 dgram, 3 raw, 5 seqpacket */
    uint16_t protocol;      /* sk_protocol: 6 TCP, 17 UDP; 0 for UNIX */
    uint8_t state;          /* sk_state: 1 ESTABLISHED ... 7 CLOSE, 10 LISTEN */
    uint8_t socket_state;   /* struct socket's state: 1 unconnected, 3 connected */
    uint8_t local_addr[16]; /* network byte order; IPv4 in the first 4 bytes */
    uint8_t remote_addr[16];
    uint16_t local_port;    /* host byte order */
    uint16_t remote_port;
    char path[VMIC_SOCK_PATH_LEN]; /* UNIX: the bound name as /proc/net/unix shows
                                      it ('@' for an abstract one's NULs), or "" */
    bool partial;           /* some field could not be read (left zero) */
    uint64_t reserved[4];   /* zero: room for fields to come, same size */
} vmic_socket_t;

typedef int (*vmic_socket_fn)(void *arg, const vmic_socket_t *s);
/* The sockets in the fd tables of process p, or of every process when p is
 * NULL (a socket open in several is listed for each pid and fd) followed by
 * the TCP, UDP and UNIX sockets of the kernel's hash tables that no fd
 * table holds (pid 0, fd -1, file 0): TIME_WAIT and request socks (state as
 * /proc/net/tcp prints it, inode 0), orphans, kernel sockets, sockets in
 * flight in a UNIX socket's queue. A socket whose kernel objects cannot be
 * read is still listed, flagged partial. */
VMIC_API vmic_status vmic_os_sockets(vmic_os *os, const vmic_process_t *p, vmic_socket_fn fn,
                                     void *arg);

/* Per-mount flags (vfsmount.mnt_flags) and superblock flags (s_flags)
 * that mountinfo prints. */
#define VMIC_MNT_NOSUID 0x01u
#define VMIC_MNT_NODEV 0x02u
#define VMIC_MNT_NOEXEC 0x04u
#define VMIC_MNT_NOATIME 0x08u
#define VMIC_MNT_NODIRATIME 0x10u
#define VMIC_MNT_RELATIME 0x20u
#define VMIC_MNT_READONLY 0x40u
#define VMIC_MNT_NOSYMFOLLOW 0x80u
#define VMIC_SB_RDONLY 0x1u

typedef struct vmic_mount {
    int32_t id;             /* mnt_id, as mountinfo's first column */
    int32_t parent_id;      /* its parent's (its own for the namespace's root) */
    vmic_va_t mount;        /* the struct mount */
    uint32_t dev_major, dev_minor; /* the superblock's s_dev */
    uint32_t mnt_flags;     /* VMIC_MNT_* and the kernel's other bits */
    uint32_t sb_flags;      /* super_block.s_flags (VMIC_SB_RDONLY ...) */
    char root[VMIC_PATH_LEN];   /* the mount's root within its filesystem */
    char point[VMIC_PATH_LEN];  /* where it is mounted, from the namespace's root */
    char fstype[64];        /* file_system_type.name[.subtype] */
    char source[VMIC_PATH_LEN]; /* mnt_devname */
    char options[128];      /* per-mount options as mountinfo prints them:
                               "rw,nosuid,nodev,relatime" */
    char super_options[256]; /* the superblock's: generic ("rw", "ro,sync"), then
                               the filesystem's own as its kernel prints them
                               for tmpfs ("size=1024k,mode=755,inode64"),
                               devpts, cgroup2, bpf, ramfs and hugetlbfs;
                               others' own (ext4's) are not given */
    char propagation[64];   /* mountinfo's optional fields: "shared:1 master:2
                               unbindable", or "" for a private mount */
    bool visible;           /* under the process's root (fs->root): what its
                               /proc/PID/mountinfo shows; a mount outside it
                               (initramfs's rootfs under systemd) is not */
    bool partial;           /* some field could not be read */
    uint64_t reserved[4];   /* zero: room for fields to come, same size */
} vmic_mount_t;

typedef int (*vmic_mount_fn)(void *arg, const vmic_mount_t *m);
/* Every mount of process p's mount namespace (nsproxy->mnt_ns), in
 * mountinfo's order, each saying whether p's mountinfo shows it (visible).
 * Mount points are paths from the namespace's root. */
VMIC_API vmic_status vmic_os_mounts(vmic_os *os, const vmic_process_t *p, vmic_mount_fn fn,
                                    void *arg);

typedef int (*vmic_env_fn)(void *arg, const char *var, size_t len);
/* The environment from the process's own memory (mm->env_start..env_end),
 * one call per NUL-terminated string, as /proc/PID/environ holds them.
 * Kernel threads have none. An implausible range fails (VMIC_E_FORMAT). */
VMIC_API vmic_status vmic_os_environ(vmic_os *os, const vmic_process_t *p, vmic_env_fn fn,
                                     void *arg);

/* ---- integrity checks ------------------------------------------------------------ */

/* A sys_call_table entry that does not point into the kernel's text. */
typedef struct vmic_syscall_hook {
    uint32_t nr;
    char name[VMIC_SYSCALL_NAME_LEN];   /* the call's name (the kernel's metadata) */
    vmic_va_t handler;                  /* where the entry points now */
    char module[VMIC_MODULE_NAME_LEN + 1]; /* the module whose memory holds it, or "" */
    uint64_t reserved[2];               /* zero: room for fields to come */
} vmic_syscall_hook_t;

typedef int (*vmic_syscall_hook_fn)(void *arg, const vmic_syscall_hook_t *h);
/* Every entry of sys_call_table, read from memory now, against the kernel's
 * text (_stext.._etext): fn for each that points elsewhere (into a module,
 * or anywhere). *checked (may be NULL) gets the entries read. */
VMIC_API vmic_status vmic_os_check_syscall_table(vmic_os *os, vmic_syscall_hook_fn fn, void *arg,
                                                 size_t *checked);

/* What one of the checks below found: one anomaly, one row of `vmic check`. */
typedef enum vmic_check_kind {
    VMIC_CHECK_HIDDEN_TASK = 1, /* a task one walk of the kernel finds and another misses */
    VMIC_CHECK_HIDDEN_MODULE,   /* a module on the list or in sysfs, not both */
    VMIC_CHECK_SHARED_CRED,     /* one struct cred held by two unrelated tasks */
    VMIC_CHECK_IDT,             /* an interrupt gate that leaves the kernel's text */
    VMIC_CHECK_SYSCALL_ENTRY,   /* LSTAR, or entry_SYSCALL_64's first jump, elsewhere */
    VMIC_CHECK_OPS,             /* an ops table's function pointer outside text and modules */
} vmic_check_kind;

typedef struct vmic_check_finding {
    vmic_check_kind kind;
    int64_t nr;             /* the pid, the module's position, the IDT vector; -1: none */
    char name[64];          /* the task's comm, the module's name, "tcp4_seq_ops.show" */
    vmic_va_t addr;         /* the task, the module, the cred, or where a pointer points */
    char module[VMIC_MODULE_NAME_LEN + 1]; /* the module whose memory holds addr, or "" */
    char detail[192];       /* what is wrong, in words */
    uint64_t reserved[2];   /* zero: room for fields to come */
} vmic_check_finding_t;

typedef int (*vmic_check_fn)(void *arg, const vmic_check_finding_t *f);

/* Tasks: the pid IDR of init_pid_ns (every task with a pid) against the task
 * list from init_task (thread-group leaders) and each leader's thread list
 * (signal->thread_head). A task on one and not the other is a finding.
 * *checked: the tasks the IDR holds. */
VMIC_API vmic_status vmic_os_check_tasks(vmic_os *os, vmic_check_fn fn, void *arg,
                                         size_t *checked);
/* Modules: the `modules` list against module_kset's kobjects (sysfs,
 * /sys/module): a loaded module in one and not the other is a finding.
 * *checked: the modules seen either way. */
VMIC_API vmic_status vmic_os_check_modules(vmic_os *os, vmic_check_fn fn, void *arg,
                                           size_t *checked);
/* Credentials: a struct cred (cred or real_cred) held by tasks of two
 * different thread groups, other than init_cred, is a finding (the kernel
 * shares a cred between tasks only within a thread group, see check_creds.c).
 * *checked: the tasks looked at. */
VMIC_API vmic_status vmic_os_check_creds(vmic_os *os, vmic_check_fn fn, void *arg,
                                         size_t *checked);
/* The IDT (idt_table's 256 gates): a present gate whose handler is outside
 * the kernel's text is a finding. *checked: the present gates. */
VMIC_API vmic_status vmic_os_check_idt(vmic_os *os, vmic_check_fn fn, void *arg,
                                       size_t *checked);
/* The system-call entry: each vCPU's LSTAR where the driver gives MSRs, else
 * the first instructions of entry_SYSCALL_64: a jump or call out of the
 * kernel's text is a finding. *checked: what was looked at. */
VMIC_API vmic_status vmic_os_check_syscall_entry(vmic_os *os, vmic_check_fn fn, void *arg,
                                                 size_t *checked);
/* Well-known operation tables (the /proc/net seq_operations, tty_fops, the
 * ops of every tty_driver): a function pointer outside the kernel's text and
 * every module is a finding. *checked: the pointers looked at. */
VMIC_API vmic_status vmic_os_check_ops(vmic_os *os, vmic_check_fn fn, void *arg,
                                       size_t *checked);

/* ---- kernel log ---------------------------------------------------------------- */

typedef struct vmic_log_record {
    uint64_t seq;
    uint64_t ts_nsec;       /* local_clock() at logging */
    uint8_t level;          /* 0 (emerg) .. 7 (debug) */
    uint8_t facility;
    uint32_t caller_id;
    const char *text;       /* not NUL-terminated; may hold newlines */
    size_t len;
} vmic_log_record_t;

typedef int (*vmic_log_fn)(void *arg, const vmic_log_record_t *r);
/* Every record still in the printk ring buffer (5.10+ format), oldest first. */
VMIC_API vmic_status vmic_os_dmesg(vmic_os *os, vmic_log_fn fn, void *arg);

/* ---- a Volatility 3 symbol table ----------------------------------------------- */
/*
 * An ISF (Volatility 3's JSON symbol table, in dwarf2json's layout) of this
 * kernel, made from what the guest itself holds: its BTF for the types and
 * kallsyms for the symbols, so that Volatility works on a kernel for which
 * no debug package exists. It has:
 *   base_types  the C integer types, void, and "pointer" (8 bytes, little
 *               endian);
 *   user_types  every struct and union reachable (through fields, pointers
 *               and arrays, at most VMIC_ISF_MAX_TYPES) from the types
 *               Volatility's Linux plugins use, typedefs and qualifiers
 *               resolved, anonymous members named unnamed_field_<offset>
 *               with "anonymous": true, bitfields as "bitfield" types;
 *   enums       the enums those reach;
 *   symbols     every kallsyms symbol of the kernel image (not the
 *               modules') at its link-time address (run-time minus the
 *               KASLR slide; per-CPU offsets as they are), as System.map
 *               has them: Volatility finds the slide itself, from
 *               init_task, init_files and init_top_pgt. The global
 *               variables its plugins take objects from have a "type" (BTF
 *               describes per-CPU variables only, so vmic keeps a table of
 *               them: see src/os/linux/isf_write_globals.c), and
 *               linux_banner has its bytes as "constant_data", which is
 *               what Volatility matches a memory image against.
 * The document goes to fn in pieces; fn returns 0, or non-zero to stop
 * (the call then fails with VMIC_E_IO). Needs the guest's own kallsyms and
 * BTF: a vmic_os opened with a profile fails (VMIC_E_UNSUPPORTED).
 */
#define VMIC_ISF_MAX_TYPES 20000

typedef int (*vmic_isf_write_fn)(void *arg, const void *buf, size_t len);

typedef struct vmic_isf_stats {
    size_t user_types, enums, base_types;
    size_t symbols;         /* written (a name kallsyms has twice: its first) */
    size_t typed_symbols;   /* of the global table, found and given a type */
    size_t globals_missing; /* of the global table, absent from this kernel or
                               without their type in its BTF (written untyped) */
    uint64_t reserved[4];
} vmic_isf_stats_t;

VMIC_API vmic_status vmic_os_write_isf(vmic_os *os, vmic_isf_write_fn fn, void *arg,
                                       vmic_isf_stats_t *stats);

#ifdef __cplusplus
}
#endif
#endif
