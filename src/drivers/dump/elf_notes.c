/*
 * Register notes of a QEMU ELF core. For each vCPU QEMU writes (all
 * NT_PRSTATUS notes first, then all "QEMU" notes, both in vCPU order):
 *
 * - name "CORE", type NT_PRSTATUS (1): the x86-64 Linux `struct elf_prstatus`,
 *   336 bytes; pr_reg at offset 112 is user_regs_struct, 27 u64 in the order
 *   r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs
 *   eflags rsp ss fs_base gs_base ds es fs gs. General registers, selectors,
 *   fs/gs bases.
 *
 * - name "QEMU", type 0: QEMUCPUState (target/i386/arch_dump.c),
 *     u32 version (1), u32 size (of this state; check before using a field)
 *     u64 rax rbx rcx rdx rsi rdi rsp rbp r8..r15 rip rflags      @8
 *     10 x QEMUCPUSegment {u32 selector, limit, flags, pad; u64 base}
 *        cs ds es fs gs ss ldt tr gdt idt                          @152
 *     u64 cr[5]                                                    @392
 *     u64 kernel_gs_base (newer QEMU, still version 1: size 440)   @432
 *   flags are the descriptor's high dword (type at bit 8 ... G at bit 23).
 *   This note carries segments, descriptor tables and control registers,
 *   but no EFER, debug registers or other MSRs.
 *
 * Notes of other names or types are skipped.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "dump.h"

#define NOTE_HEADER_SIZE 12u
#define NT_PRSTATUS 1u
#define NT_QEMU 0u

#define PRSTATUS_REGS_OFFSET 112u
#define PRSTATUS_MIN_SIZE (PRSTATUS_REGS_OFFSET + 27u * 8u)

#define QEMU_STATE_VERSION 1u
#define QEMU_STATE_GPR_OFFSET 8u
#define QEMU_STATE_SEG_OFFSET 152u
#define QEMU_STATE_SEG_SIZE 24u
#define QEMU_STATE_CR_OFFSET 392u
#define QEMU_STATE_MIN_SIZE 432u          /* through cr[4] */
#define QEMU_STATE_KERNEL_GS_OFFSET 432u  /* present when size >= 440 */

/* One note, located inside its segment. */
typedef struct elf_note {
    uint32_t type;
    const uint8_t *name;
    uint32_t namesz;
    const uint8_t *desc;
    uint32_t descsz;
    uint64_t offset;  /* of the note header, in the image */
} elf_note_t;

static uint64_t align4(uint64_t n)
{
    return (n + 3) & ~(uint64_t)3;
}

/* Note names are NUL-terminated and namesz counts the NUL; accept a
 * producer that leaves the NUL out. */
static bool name_is(const elf_note_t *note, const char *name)
{
    size_t len = strlen(name);

    if (note->namesz == len)
        return memcmp(note->name, name, len) == 0;
    return note->namesz == len + 1 && memcmp(note->name, name, len + 1) == 0;
}

static vmic_status grow(const dump_image_t *img, vmic_amd64_regs_t **array,
                        uint32_t count, uint32_t *capacity, const elf_note_t *note)
{
    if (count < *capacity)
        return VMIC_OK;
    if (count >= DUMP_MAX_VCPUS)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: note at offset 0x%" PRIx64 ": more than %u vCPU notes",
                         img->name, note->offset, DUMP_MAX_VCPUS);
    uint32_t grown_capacity = *capacity ? *capacity * 2 : 4;
    vmic_amd64_regs_t *grown = realloc(*array, (size_t)grown_capacity * sizeof *grown);
    if (!grown)
        return vmic_fail(VMIC_E_NOMEM, "%s: no memory for %" PRIu32 " vCPUs' registers",
                         img->name, grown_capacity);
    *array = grown;
    *capacity = grown_capacity;
    return VMIC_OK;
}

/* ---- NT_PRSTATUS ---------------------------------------------------------- */

static vmic_status read_prstatus(const dump_image_t *img, const elf_note_t *note,
                                 vmic_amd64_regs_t *r)
{
    if (note->descsz < PRSTATUS_MIN_SIZE)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: NT_PRSTATUS note at offset 0x%" PRIx64
                         ": descriptor is 0x%" PRIx32 " bytes, an x86-64 prstatus needs 0x%x",
                         img->name, note->offset, note->descsz, PRSTATUS_MIN_SIZE);

    const uint8_t *g = note->desc + PRSTATUS_REGS_OFFSET;
#define REG(i) vmic__le64(g + 8 * (i))
    memset(r, 0, sizeof *r);
    r->r15 = REG(0);
    r->r14 = REG(1);
    r->r13 = REG(2);
    r->r12 = REG(3);
    r->rbp = REG(4);
    r->rbx = REG(5);
    r->r11 = REG(6);
    r->r10 = REG(7);
    r->r9 = REG(8);
    r->r8 = REG(9);
    r->rax = REG(10);
    r->rcx = REG(11);
    r->rdx = REG(12);
    r->rsi = REG(13);
    r->rdi = REG(14);
    /* 15 is orig_rax: a syscall number, not a register of the vCPU. */
    r->rip = REG(16);
    r->cs.selector = (uint16_t)REG(17);
    r->rflags = REG(18);
    r->rsp = REG(19);
    r->ss.selector = (uint16_t)REG(20);
    r->fs.base = REG(21);
    r->gs.base = REG(22);
    r->ds.selector = (uint16_t)REG(23);
    r->es.selector = (uint16_t)REG(24);
    r->fs.selector = (uint16_t)REG(25);
    r->gs.selector = (uint16_t)REG(26);
#undef REG
    /* Selectors and the fs/gs bases are what SEG promises; cs/ds/es/ss bases
     * are zero in long mode, which is the only mode QEMU writes this note in. */
    r->valid = VMIC_REGS_GPR | VMIC_REGS_SEG;
    return VMIC_OK;
}

/* ---- QEMU's QEMUCPUState ------------------------------------------------ */

static vmic_amd64_segment_t read_segment(const uint8_t *p)
{
    uint32_t flags = vmic__le32(p + 8);

    /* Descriptor high dword (type:4 s:1 dpl:2 p:1 at bits 8-15, avl l db g at
     * bits 20-23) packed into vmic's 12-bit attr (type..p at 0-7, avl..g at 8-11). */
    return (vmic_amd64_segment_t){
        .selector = (uint16_t)vmic__le32(p),
        .limit = vmic__le32(p + 4),
        .attr = (uint16_t)(((flags >> 8) & 0xff) | ((flags >> 12) & 0xf00)),
        .base = vmic__le64(p + 16),
    };
}

static vmic_amd64_dtable_t read_dtable(const uint8_t *p)
{
    vmic_amd64_segment_t s = read_segment(p);
    return (vmic_amd64_dtable_t){.base = s.base, .limit = (uint16_t)s.limit};
}

static vmic_status check_qemu_state(const dump_image_t *img, const elf_note_t *note,
                                    uint32_t *size)
{
    if (note->descsz < 8)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: QEMU note at offset 0x%" PRIx64
                         ": descriptor is 0x%" PRIx32 " bytes, too short for version and size",
                         img->name, note->offset, note->descsz);
    uint32_t version = vmic__le32(note->desc);
    *size = vmic__le32(note->desc + 4);
    if (version != QEMU_STATE_VERSION)
        return vmic_fail(VMIC_E_UNSUPPORTED,
                         "%s: QEMU note at offset 0x%" PRIx64
                         ": QEMUCPUState version %" PRIu32 " is unknown (only %u is)",
                         img->name, note->offset, version, QEMU_STATE_VERSION);
    if (*size > note->descsz)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: QEMU note at offset 0x%" PRIx64
                         ": QEMUCPUState size 0x%" PRIx32 " exceeds its descriptor (0x%" PRIx32 ")",
                         img->name, note->offset, *size, note->descsz);
    if (*size < QEMU_STATE_MIN_SIZE)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: QEMU note at offset 0x%" PRIx64
                         ": QEMUCPUState size 0x%" PRIx32 " is below 0x%x (through cr[4])",
                         img->name, note->offset, *size, QEMU_STATE_MIN_SIZE);
    return VMIC_OK;
}

static vmic_status read_qemu_state(const dump_image_t *img, const elf_note_t *note,
                                   vmic_amd64_regs_t *r)
{
    uint32_t size = 0;
    vmic_status s = check_qemu_state(img, note, &size);
    if (s != VMIC_OK)
        return s;

    const uint8_t *g = note->desc + QEMU_STATE_GPR_OFFSET;
#define REG(i) vmic__le64(g + 8 * (i))
    memset(r, 0, sizeof *r);
    r->rax = REG(0);
    r->rbx = REG(1);
    r->rcx = REG(2);
    r->rdx = REG(3);
    r->rsi = REG(4);
    r->rdi = REG(5);
    r->rsp = REG(6);
    r->rbp = REG(7);
    r->r8 = REG(8);
    r->r9 = REG(9);
    r->r10 = REG(10);
    r->r11 = REG(11);
    r->r12 = REG(12);
    r->r13 = REG(13);
    r->r14 = REG(14);
    r->r15 = REG(15);
    r->rip = REG(16);
    r->rflags = REG(17);
#undef REG

    const uint8_t *seg = note->desc + QEMU_STATE_SEG_OFFSET;
#define SEG(i) (seg + QEMU_STATE_SEG_SIZE * (i))
    r->cs = read_segment(SEG(0));
    r->ds = read_segment(SEG(1));
    r->es = read_segment(SEG(2));
    r->fs = read_segment(SEG(3));
    r->gs = read_segment(SEG(4));
    r->ss = read_segment(SEG(5));
    r->ldtr = read_segment(SEG(6));
    r->tr = read_segment(SEG(7));
    r->gdtr = read_dtable(SEG(8));
    r->idtr = read_dtable(SEG(9));
#undef SEG

    const uint8_t *cr = note->desc + QEMU_STATE_CR_OFFSET;
    r->cr0 = vmic__le64(cr);
    /* cr[1] is reserved; QEMU writes it but it means nothing. */
    r->cr2 = vmic__le64(cr + 16);
    r->cr3 = vmic__le64(cr + 24);
    r->cr4 = vmic__le64(cr + 32);
    /* kernel_gs_base is filled when present, but VMIC_REGS_MSR stays clear:
     * it promises star, lstar, sysenter and pat too, which the note lacks. */
    if (size >= QEMU_STATE_KERNEL_GS_OFFSET + 8)
        r->kernel_gs_base = vmic__le64(note->desc + QEMU_STATE_KERNEL_GS_OFFSET);
    r->valid = VMIC_REGS_GPR | VMIC_REGS_SEG | VMIC_REGS_CR | VMIC_REGS_DT;
    return VMIC_OK;
}

/* ---- walking a PT_NOTE segment ------------------------------------------- */

static vmic_status handle_note(const dump_image_t *img, const elf_note_t *note,
                               dump_cpu_notes_t *notes)
{
    vmic_status s;

    if (note->type == NT_PRSTATUS && name_is(note, "CORE")) {
        s = grow(img, &notes->prstatus, notes->nprstatus, &notes->prstatus_capacity, note);
        if (s == VMIC_OK)
            s = read_prstatus(img, note, &notes->prstatus[notes->nprstatus]);
        if (s == VMIC_OK)
            notes->nprstatus++;
        return s;
    }
    if (note->type == NT_QEMU && name_is(note, "QEMU")) {
        s = grow(img, &notes->qemu, notes->nqemu, &notes->qemu_capacity, note);
        if (s == VMIC_OK)
            s = read_qemu_state(img, note, &notes->qemu[notes->nqemu]);
        if (s == VMIC_OK)
            notes->nqemu++;
        return s;
    }
    return VMIC_OK;
}

vmic_status dump_elf_notes_parse(const dump_image_t *img, uint32_t phdr_index,
                                 uint64_t phdr_offset, uint64_t offset, uint64_t size,
                                 dump_cpu_notes_t *notes)
{
    /* pos is relative to the segment; the caller checked the segment is in
     * the file, so every in-segment range is in the file too. Each note
     * advances pos by at least 12, so the walk ends. Fewer than 12 bytes
     * left at the end is padding. */
    uint64_t pos = 0;
    while (size - pos >= NOTE_HEADER_SIZE) {
        const uint8_t *h = img->bytes + offset + pos;
        elf_note_t note = {
            .namesz = vmic__le32(h),
            .descsz = vmic__le32(h + 4),
            .type = vmic__le32(h + 8),
            .offset = offset + pos,
        };
        /* u32 sizes rounded up in u64: these sums cannot wrap. */
        uint64_t name_at = pos + NOTE_HEADER_SIZE;
        uint64_t desc_at = name_at + align4(note.namesz);
        if (desc_at > size || note.descsz > size - desc_at)
            return vmic_fail(VMIC_E_FORMAT,
                             "%s: note at offset 0x%" PRIx64 ": name (0x%" PRIx32
                             " bytes) and descriptor (0x%" PRIx32 " bytes) run past the end"
                             " of the PT_NOTE segment of program header %" PRIu32
                             " at offset 0x%" PRIx64 " (segment ends at 0x%" PRIx64 ")",
                             img->name, note.offset, note.namesz, note.descsz, phdr_index,
                             phdr_offset, offset + size);
        note.name = img->bytes + offset + name_at;
        note.desc = img->bytes + offset + desc_at;

        vmic_status s = handle_note(img, &note, notes);
        if (s != VMIC_OK)
            return s;
        pos = desc_at + align4(note.descsz);
        if (pos > size)
            break; /* the last descriptor's padding is not in the segment */
    }
    return VMIC_OK;
}

/* ---- pairing ------------------------------------------------------------ */

vmic_status dump_elf_notes_finish(const dump_image_t *img, dump_cpu_notes_t *notes,
                                  dump_layout_t *out)
{
    if (notes->nprstatus && notes->nqemu && notes->nprstatus != notes->nqemu)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: %" PRIu32 " NT_PRSTATUS notes but %" PRIu32
                         " QEMU notes: cannot tell which registers belong to which vCPU",
                         img->name, notes->nprstatus, notes->nqemu);

    /* The QEMU note holds everything NT_PRSTATUS does and more, read from
     * the same CPU state, so it wins when both are there. */
    if (notes->nqemu) {
        out->regs = notes->qemu;
        out->nvcpus = notes->nqemu;
        notes->qemu = NULL;
    } else if (notes->nprstatus) {
        out->regs = notes->prstatus;
        out->nvcpus = notes->nprstatus;
        notes->prstatus = NULL;
    }
    return VMIC_OK;
}

void dump_elf_notes_free(dump_cpu_notes_t *notes)
{
    free(notes->prstatus);
    free(notes->qemu);
    memset(notes, 0, sizeof *notes);
}
