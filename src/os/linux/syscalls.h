/*
 * The system-call table parser: sys_call_table plus the kernel's ftrace
 * syscall metadata (see os.h). Pure: it reads guest memory and names
 * addresses only through an lx_sc_source, so the OS layer drives it on a
 * live guest or a dump and the fuzzer on plain bytes.
 */
#ifndef VMIC_LX_SYSCALLS_H
#define VMIC_LX_SYSCALLS_H

#include <vmic/os.h>

typedef struct lx_sc_source {
    /* len bytes of kernel memory at va; false if they cannot be read. */
    bool (*read)(void *ctx, uint64_t va, void *buf, size_t len);
    /* The name of the symbol that starts exactly at va; false if none. */
    bool (*symbol)(void *ctx, uint64_t va, char *name, size_t size);
    void *ctx;
    /* The lowest kernel address for the guest's paging mode (the OS layer's
     * layout); 0 stands for 4-level's 0xffff800000000000. */
    uint64_t kernel_half;
} lx_sc_source;

/* Where the tables are, and struct syscall_metadata's layout. */
typedef struct lx_sc_layout {
    uint64_t table;      /* sys_call_table */
    uint32_t entries;    /* room for this many handlers (<= VMIC_SYSCALL_MAX_NR) */
    uint64_t metadata;   /* the variable syscalls_metadata (it points to an
                            array of `entries` pointers); 0: no metadata */
    uint32_t meta_size;  /* sizeof(struct syscall_metadata) */
    uint32_t off_name, off_nr, off_nb_args, off_types, off_args;
} lx_sc_layout;

/*
 * Fills out[0..*count): the table ends at its first entry that is not a
 * kernel pointer, or at l->entries. Fails (VMIC_E_FORMAT, VMIC_E_TRANSLATE)
 * only when not even entry 0 can be read; a metadata entry that is
 * unreadable or implausible leaves that syscall without metadata.
 */
vmic_status lx_syscalls_parse(const lx_sc_layout *l, const lx_sc_source *src, vmic_syscall_t *out,
                              size_t *count);

#endif
