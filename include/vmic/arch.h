/*
 * vmic arch layer: amd64 paging (4- and 5-level, 4 KiB / 2 MiB / 1 GiB pages)
 * and the amd64 register set.
 *
 * The page walker does not read guest memory itself: the caller passes a
 * table reader that returns the 512 entries of a page-table page, so the same
 * walker serves the core (through its page cache), synthetic tests and fuzzers.
 */
#ifndef VMIC_ARCH_H
#define VMIC_ARCH_H

#include <vmic/base.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- paging ---------------------------------------------------------- */

typedef enum vmic_paging_mode {
    VMIC_PAGING_4LEVEL = 4,  /* 48-bit virtual addresses */
    VMIC_PAGING_5LEVEL = 5,  /* 57-bit virtual addresses (CR4.LA57) */
} vmic_paging_mode;

typedef struct vmic_paging {
    vmic_paging_mode mode;
    uint8_t maxphyaddr; /* physical address width; bits above it are reserved */
    bool nxe;           /* EFER.NXE: bit 63 is XD, otherwise reserved */
    uint32_t reserved[2]; /* zero: room for more paging controls */
} vmic_paging_t;

/* 4-level, MAXPHYADDR 52, NXE on: what a 64-bit Linux or Windows kernel uses. */
VMIC_API vmic_paging_t vmic_paging_default(void);

/* Page-table entry bits. */
#define VMIC_PTE_P    (1ull << 0)
#define VMIC_PTE_RW   (1ull << 1)
#define VMIC_PTE_US   (1ull << 2)
#define VMIC_PTE_PWT  (1ull << 3)
#define VMIC_PTE_PCD  (1ull << 4)
#define VMIC_PTE_A    (1ull << 5)
#define VMIC_PTE_D    (1ull << 6)
#define VMIC_PTE_PS   (1ull << 7)
#define VMIC_PTE_G    (1ull << 8)
#define VMIC_PTE_NX   (1ull << 63)

/* Table levels, named by the number the SDM gives them. */
enum {
    VMIC_LEVEL_PT = 1,
    VMIC_LEVEL_PD = 2,
    VMIC_LEVEL_PDPT = 3,
    VMIC_LEVEL_PML4 = 4,
    VMIC_LEVEL_PML5 = 5,
};
VMIC_API const char *vmic_level_name(int level); /* "PML4", "PDPT", ... */

typedef enum vmic_walk_fault {
    VMIC_WALK_OK = 0,
    VMIC_WALK_NONCANONICAL,  /* va is not sign-extended from bit 47 (56) */
    VMIC_WALK_NOT_PRESENT,   /* entry P bit clear */
    VMIC_WALK_RESERVED,      /* a reserved bit is set in the entry */
    VMIC_WALK_NO_TABLE,      /* table page is outside guest memory */
} vmic_walk_fault;
VMIC_API const char *vmic_walk_fault_name(vmic_walk_fault f);

typedef struct vmic_walk_step {
    uint8_t level;        /* VMIC_LEVEL_* */
    uint16_t index;       /* entry index within the table */
    vmic_pa_t table;      /* physical address of the table page */
    uint64_t entry;       /* raw entry value read there */
} vmic_walk_step_t;

typedef struct vmic_translation {
    vmic_va_t va;
    vmic_pa_t pa;            /* valid when fault == VMIC_WALK_OK */
    uint64_t page_size;      /* 4 KiB, 2 MiB or 1 GiB */
    vmic_access_t access;    /* effective rights: R always, W if every level
                                allows writes, X if no level sets NX */
    bool user;               /* every level has U/S set */
    bool global;             /* leaf has G set */
    bool dirty;              /* leaf has D set */
    vmic_walk_fault fault;
    uint8_t fault_level;     /* level whose entry stopped the walk (0 if none) */
    uint64_t reserved_bits;  /* VMIC_WALK_RESERVED: the reserved bits that were set */
    uint8_t nsteps;          /* entries read, top level first; for
                                VMIC_WALK_NO_TABLE the last step names the
                                table that could not be read (entry 0) */
    vmic_walk_step_t steps[5];
    uint64_t reserved[2];    /* zeroed by vmic: room to grow */
} vmic_translation_t;

/*
 * Returns a pointer to the 512 entries of the page-table page at `table`
 * (4 KiB aligned), or NULL if that page is not in guest memory.
 */
typedef const uint64_t *(*vmic_table_reader)(void *ctx, vmic_pa_t table);

/*
 * Walks the tables under `root` (a CR3 value; PCID and flag bits ignored).
 * Always fills `out`, including on failure. Pure: records no error message.
 * Returns VMIC_OK or VMIC_E_TRANSLATE.
 */
VMIC_API vmic_status vmic_amd64_walk(const vmic_paging_t *pg, vmic_pa_t root, vmic_va_t va,
                            vmic_table_reader read_table, void *ctx,
                            vmic_translation_t *out);

/* Same walk; on failure also records a message naming the va, the level,
 * the entry and why the walk stopped. */
VMIC_API vmic_status vmic_amd64_translate(const vmic_paging_t *pg, vmic_pa_t root, vmic_va_t va,
                                 vmic_table_reader read_table, void *ctx,
                                 vmic_translation_t *out);

/*
 * Where a walk finds table pages when most of guest memory sits in this
 * process: guest-physical [0, flat_size) at `flat` (8-byte aligned), read in
 * place with no call; anything else through read_table. This is the core's
 * fast path: it spares an indirect call and a region lookup per level.
 */
typedef struct vmic_table_source {
    const uint8_t *flat;
    uint64_t flat_size;
    vmic_table_reader read_table;
    void *ctx;
    void *reserved[2];    /* NULL: room to grow */
} vmic_table_source_t;

VMIC_API vmic_status vmic_amd64_walk_from(const vmic_paging_t *pg, vmic_pa_t root, vmic_va_t va,
                                 const vmic_table_source_t *src, vmic_translation_t *out);

/* Records the message for a failed walk (as vmic_amd64_translate does) and
 * returns VMIC_E_TRANSLATE. */
VMIC_API vmic_status vmic_amd64_walk_fail(const vmic_paging_t *pg, const vmic_translation_t *t);

/* Formats the failure of a walk into buf ("va 0x... not present at PDPT
 * (entry 0x0 at pa 0x...)"). */
VMIC_API void vmic_walk_describe(const vmic_translation_t *t, char *buf, size_t size);

VMIC_API bool vmic_va_is_canonical(const vmic_paging_t *pg, vmic_va_t va);

/* Physical address bits of the top table named by a CR3 value. */
static inline vmic_pa_t vmic_cr3_to_root(uint64_t cr3)
{
    return vmic_pa(cr3 & 0x000ffffffffff000ull);
}

/* One leaf mapping found while enumerating a page table. */
typedef struct vmic_mapping {
    vmic_va_t va;
    vmic_pa_t pa;
    uint64_t size;
    vmic_access_t access;
    bool user;
    bool global;
    uint64_t reserved[2]; /* zeroed by vmic (a merger holds one: room to grow) */
} vmic_mapping_t;

/* Return non-zero to stop the enumeration (vmic_amd64_mappings then returns
 * VMIC_OK). */
typedef int (*vmic_mapping_fn)(void *arg, const vmic_mapping_t *m);

/*
 * Calls fn for every present leaf mapping under root, in increasing va order.
 * Entries with reserved bits and tables outside guest memory are skipped and
 * counted in *skipped (may be NULL). A hostile table can alias itself so that
 * the count of leaves explodes: after max_leaves mappings (0 = 1<<26) it stops
 * with VMIC_E_RANGE.
 */
VMIC_API vmic_status vmic_amd64_mappings(const vmic_paging_t *pg, vmic_pa_t root,
                                vmic_table_reader read_table, void *ctx,
                                uint64_t max_leaves, vmic_mapping_fn fn, void *arg,
                                uint64_t *skipped);

/*
 * Coalesces consecutive mappings (va and pa both contiguous, same rights) into
 * ranges. Feed it every mapping in order, then call _flush once.
 */
typedef struct vmic_range_merger {
    vmic_mapping_t cur;  /* the range being grown; cur.size == 0 if none */
    bool by_va_only;     /* merge when va is contiguous even if pa is not */
    vmic_mapping_fn emit;
    void *arg;
    uint64_t reserved[2]; /* zero: room to grow */
} vmic_range_merger_t;

VMIC_API int vmic_range_merger_add(void *merger, const vmic_mapping_t *m);
VMIC_API int vmic_range_merger_flush(vmic_range_merger_t *rm);

/* ---- registers ------------------------------------------------------- */

typedef struct vmic_amd64_segment {
    uint64_t base;
    uint32_t limit;
    uint16_t selector;
    uint16_t attr;      /* type:4 s:1 dpl:2 p:1 avl:1 l:1 db:1 g:1, as in VMCS */
} vmic_amd64_segment_t;

typedef struct vmic_amd64_dtable {
    uint64_t base;
    uint16_t limit;
} vmic_amd64_dtable_t;

/* Which groups of a vmic_amd64_regs are filled in (a dump may hold only some). */
enum {
    VMIC_REGS_GPR = 1u << 0,   /* rax..r15, rip, rflags */
    VMIC_REGS_SEG = 1u << 1,   /* segment selectors and bases */
    VMIC_REGS_CR = 1u << 2,    /* cr0, cr2, cr3, cr4 (cr8) */
    VMIC_REGS_DT = 1u << 3,    /* gdtr, idtr */
    VMIC_REGS_DR = 1u << 4,    /* debug registers */
    VMIC_REGS_EFER = 1u << 5,
    VMIC_REGS_MSR = 1u << 6,   /* syscall MSRs, kernel_gs_base, sysenter, pat */
};

typedef struct vmic_amd64_regs {
    uint32_t valid;    /* VMIC_REGS_* */
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t rip, rflags;
    vmic_amd64_segment_t cs, ds, es, fs, gs, ss, tr, ldtr;
    vmic_amd64_dtable_t gdtr, idtr;
    uint64_t cr0, cr2, cr3, cr4, cr8;
    uint64_t dr0, dr1, dr2, dr3, dr6, dr7;
    uint64_t efer;
    uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip, pat, tsc_aux;
    uint64_t reserved[8]; /* zero: room for more registers (valid says which) */
} vmic_amd64_regs_t;

#define VMIC_CR0_PG (1ull << 31)
#define VMIC_CR4_PAE (1ull << 5)
#define VMIC_CR4_LA57 (1ull << 12)
#define VMIC_EFER_LMA (1ull << 10)
#define VMIC_EFER_NXE (1ull << 11)

/*
 * The paging configuration the registers describe. Fails with
 * VMIC_E_UNSUPPORTED for paging off, 32-bit and PAE modes. When the register
 * set has control registers but no EFER (QEMU's ELF notes), long mode and NXE
 * are assumed, which is what every 64-bit kernel runs with.
 */
VMIC_API vmic_status vmic_amd64_paging_from_regs(const vmic_amd64_regs_t *r, vmic_paging_t *out);

/* ---- instructions carried out instead of stepped ------------------------- */

/*
 * What kernel functions begin with (NOPs over ftrace's call and over
 * ENDBR64, ENDBR64, PUSH r64): a debugger continuing from a breakpoint on
 * one can move RIP (and RSP and the stack slot) itself rather than
 * single-step the vCPU with the breakpoint taken out.
 */
typedef enum vmic_amd64_simple_kind {
    VMIC_SIMPLE_NOP = 1,     /* only RIP moves */
    VMIC_SIMPLE_PUSH,        /* [RSP - 8] = reg, RSP -= 8 */
} vmic_amd64_simple_kind;

typedef struct vmic_amd64_simple_insn {
    vmic_amd64_simple_kind kind;
    uint8_t len;             /* bytes, prefixes included */
    uint8_t reg;             /* PUSH: register number as encoded (0 rax .. 15 r15) */
} vmic_amd64_simple_insn_t;

/* Decodes the instruction at code (avail bytes there); false if it is none
 * of the above, or runs past avail. */
VMIC_API bool vmic_amd64_decode_simple(const uint8_t *code, size_t avail, vmic_amd64_simple_insn_t *out);
/* A general register by its encoding number (0 rax, 1 rcx, ... 15 r15). */
VMIC_API uint64_t vmic_amd64_gpr(const vmic_amd64_regs_t *r, unsigned reg);

#ifdef __cplusplus
}
#endif
#endif
