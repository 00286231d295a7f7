/*
 * ELF cores as QEMU's `dump-guest-memory` writes them (without paging):
 * ELF64, little-endian, ET_CORE, EM_X86_64. Each PT_LOAD maps guest-physical
 * p_paddr to file bytes [p_offset, p_offset + p_filesz); PT_NOTE segments hold
 * the per-vCPU registers (elf_notes.c). Everything else is ignored.
 *
 * p_memsz > p_filesz: ELF says the rest of the segment reads as zeros. QEMU
 * writes that only with paging or a filter, for memory it could not save, so
 * the zeros are not the guest's bytes. Only the file-backed part is published;
 * the tail stays a hole (reads of it fail as unmapped instead of inventing
 * data). p_memsz still has to be sane: not below p_filesz, no wrap.
 *
 * Fields not needed are not checked (e_ehsize: QEMU 7.2 writes 8 there).
 */
#include <inttypes.h>

#include "dump.h"

#define ELF_HEADER_SIZE 64u
#define ELF_PHDR_MIN_SIZE 56u
#define ELF_SHDR_MIN_SIZE 64u
#define ELFCLASS64 2u
#define ELFDATA2LSB 1u
#define ET_CORE 4u
#define EM_X86_64 62u
#define PT_LOAD 1u
#define PT_NOTE 4u
/* e_phnum == PN_XNUM: the real count is sh_info of section header 0 (QEMU
 * uses this when a guest has more than 65534 memory blocks). */
#define PN_XNUM 0xffffu

/* The Elf64_Ehdr fields this parser uses. */
typedef struct elf_header {
    uint64_t phoff;
    uint64_t shoff;
    uint16_t phentsize;
    uint16_t shentsize;
    uint32_t phnum;
} elf_header_t;

/* The Elf64_Phdr fields this parser uses. */
typedef struct elf_phdr {
    uint32_t type;
    uint64_t offset;
    uint64_t paddr;
    uint64_t filesz;
    uint64_t memsz;
} elf_phdr_t;

bool dump_is_elf(const dump_image_t *img)
{
    return img->size >= 4 && memcmp(img->bytes, "\x7f" "ELF", 4) == 0;
}

/* e_ident and the type fields: is this an x86-64 little-endian core? */
static vmic_status check_identity(const dump_image_t *img)
{
    const uint8_t *b = img->bytes;

    if (!dump_is_elf(img))
        return vmic_fail(VMIC_E_FORMAT, "%s: offset 0x0: no ELF magic (7f 45 4c 46)",
                         img->name);
    if (img->size < ELF_HEADER_SIZE)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: offset 0x0: ELF header truncated, file is %" PRIu64
                         " bytes but the header is %u",
                         img->name, img->size, ELF_HEADER_SIZE);
    if (b[4] != ELFCLASS64)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: offset 0x4: ELF class %u is not ELFCLASS64 (2)", img->name, b[4]);
    if (b[5] != ELFDATA2LSB)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: offset 0x5: ELF data encoding %u is not little-endian (1)",
                         img->name, b[5]);
    uint16_t type = vmic__le16(b + 16);
    if (type != ET_CORE)
        return vmic_fail(VMIC_E_FORMAT, "%s: offset 0x10: ELF type %u is not ET_CORE (4)",
                         img->name, type);
    uint16_t machine = vmic__le16(b + 18);
    if (machine != EM_X86_64)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: offset 0x12: ELF machine %u is not EM_X86_64 (62)",
                         img->name, machine);
    return VMIC_OK;
}

/* With e_phnum == PN_XNUM the count is in section header 0's sh_info. */
static vmic_status read_extended_phnum(const dump_image_t *img, elf_header_t *h)
{
    if (h->shentsize < ELF_SHDR_MIN_SIZE)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: offset 0x3a: e_phnum is PN_XNUM but section header size %u"
                         " is below %u",
                         img->name, h->shentsize, ELF_SHDR_MIN_SIZE);
    if (!dump_fits(h->shoff, h->shentsize, img->size))
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: offset 0x28: e_phnum is PN_XNUM but section header 0 at 0x%" PRIx64
                         " runs past end of file (size 0x%" PRIx64 ")",
                         img->name, h->shoff, img->size);
    h->phnum = vmic__le32(img->bytes + h->shoff + 44);
    return VMIC_OK;
}

static vmic_status read_header(const dump_image_t *img, elf_header_t *h)
{
    const uint8_t *b = img->bytes;

    h->phoff = vmic__le64(b + 32);
    h->shoff = vmic__le64(b + 40);
    h->phentsize = vmic__le16(b + 54);
    h->phnum = vmic__le16(b + 56);
    h->shentsize = vmic__le16(b + 58);

    if (h->phnum == PN_XNUM) {
        vmic_status s = read_extended_phnum(img, h);
        if (s != VMIC_OK)
            return s;
    }
    if (h->phnum == 0)
        return vmic_fail(VMIC_E_FORMAT, "%s: offset 0x38: no program headers, so no memory",
                         img->name);
    if (h->phnum > DUMP_MAX_SEGMENTS)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: offset 0x38: %" PRIu32 " program headers is absurd (limit %u)",
                         img->name, h->phnum, DUMP_MAX_SEGMENTS);
    if (h->phentsize < ELF_PHDR_MIN_SIZE)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: offset 0x36: program header size %u is below %u",
                         img->name, h->phentsize, ELF_PHDR_MIN_SIZE);
    /* At most 2^20 entries of at most 2^16 bytes: the product cannot wrap. */
    uint64_t table_size = (uint64_t)h->phnum * h->phentsize;
    if (!dump_fits(h->phoff, table_size, img->size))
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: offset 0x20: program header table [0x%" PRIx64 ",+0x%" PRIx64
                         ") (%" PRIu32 " x %u bytes) runs past end of file (size 0x%" PRIx64 ")",
                         img->name, h->phoff, table_size, h->phnum, h->phentsize, img->size);
    return VMIC_OK;
}

static elf_phdr_t read_phdr(const uint8_t *p)
{
    return (elf_phdr_t){
        .type = vmic__le32(p),
        .offset = vmic__le64(p + 8),
        .paddr = vmic__le64(p + 24),
        .filesz = vmic__le64(p + 32),
        .memsz = vmic__le64(p + 40),
    };
}

/* Checks that the segment's file bytes are inside the file. */
static vmic_status check_in_file(const dump_image_t *img, uint32_t index, uint64_t at,
                                 const elf_phdr_t *ph)
{
    if (dump_fits(ph->offset, ph->filesz, img->size))
        return VMIC_OK;
    return vmic_fail(VMIC_E_FORMAT,
                     "%s: program header %" PRIu32 " at offset 0x%" PRIx64
                     ": segment [0x%" PRIx64 ",+0x%" PRIx64
                     ") runs past end of file (size 0x%" PRIx64 ")",
                     img->name, index, at, ph->offset, ph->filesz, img->size);
}

static vmic_status add_load(const dump_image_t *img, dump_layout_t *out, uint32_t index,
                            uint64_t at, const elf_phdr_t *ph)
{
    if (ph->filesz > ph->memsz)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: program header %" PRIu32 " at offset 0x%" PRIx64
                         ": p_filesz 0x%" PRIx64 " exceeds p_memsz 0x%" PRIx64,
                         img->name, index, at, ph->filesz, ph->memsz);
    /* The end, paddr + memsz, must be a number below 2^64: a range ending at
     * 2^64 would make every "pa < end" loop above it wrap to 0. */
    if (ph->memsz > UINT64_MAX - ph->paddr)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: program header %" PRIu32 " at offset 0x%" PRIx64
                         ": physical range [0x%" PRIx64 ",+0x%" PRIx64
                         ") wraps: it ends at or past 2^64, the end of the address space",
                         img->name, index, at, ph->paddr, ph->memsz);
    vmic_status s = check_in_file(img, index, at, ph);
    if (s != VMIC_OK || ph->filesz == 0)
        return s;

    dump_segment_t seg = {
        .pa = ph->paddr,
        .size = ph->filesz,
        .file_offset = ph->offset,
        .header_index = index,
        .header_offset = at,
    };
    return dump_layout_add_segment(img, out, &seg);
}

static vmic_status read_segments(const dump_image_t *img, const elf_header_t *h,
                                 dump_layout_t *out, dump_cpu_notes_t *notes)
{
    for (uint32_t i = 0; i < h->phnum; i++) {
        uint64_t at = h->phoff + (uint64_t)i * h->phentsize;
        elf_phdr_t ph = read_phdr(img->bytes + at);
        vmic_status s = VMIC_OK;

        if (ph.type == PT_LOAD) {
            s = add_load(img, out, i, at, &ph);
        } else if (ph.type == PT_NOTE) {
            s = check_in_file(img, i, at, &ph);
            if (s == VMIC_OK)
                s = dump_elf_notes_parse(img, i, at, ph.offset, ph.filesz, notes);
        }
        if (s != VMIC_OK)
            return s;
    }
    if (out->nsegments == 0)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: program header table at offset 0x%" PRIx64
                         ": no PT_LOAD segment with file bytes, so no memory",
                         img->name, h->phoff);
    return VMIC_OK;
}

vmic_status dump_parse_elf(const dump_image_t *img, dump_layout_t *out)
{
    elf_header_t header;
    dump_cpu_notes_t notes = {0};

    out->driver_name = "elf";
    out->header_kind = "program header";

    vmic_status s = check_identity(img);
    if (s == VMIC_OK)
        s = read_header(img, &header);
    if (s == VMIC_OK)
        s = read_segments(img, &header, out, &notes);
    if (s == VMIC_OK)
        s = dump_elf_notes_finish(img, &notes, out);
    dump_elf_notes_free(&notes);
    return s;
}
