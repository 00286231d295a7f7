/*
 * The dump driver's private interface: what the format parsers (raw, ELF,
 * LiME) share with the driver in dump.c.
 *
 * A parser reads a dump image (bytes already in memory: an mmap'd file or a
 * caller's buffer) and describes it as a dump_layout: the guest-physical
 * segments it found, each with the header that declared it (for messages),
 * and the registers of each vCPU if the format has them. dump_regions.c then
 * turns the segments into the sorted, non-overlapping regions the driver
 * publishes, pointing into the image: no guest byte is ever copied.
 *
 * Dump files are hostile input. Every header field is checked against the
 * image size with the overflow-safe helpers below before anything is read
 * through it, and every failure names the file and the offset.
 */
#ifndef VMIC_DRIVERS_DUMP_H
#define VMIC_DRIVERS_DUMP_H

#include <string.h>

#include <vmic/driver.h>
#include "base/le.h"

/* Limits against absurd counts in a hostile header. Real dumps have a handful
 * of segments (QEMU: one per RAM block; LiME: one per System RAM range) and
 * QEMU supports at most a few thousand vCPUs. */
#define DUMP_MAX_SEGMENTS (1u << 20)
#define DUMP_MAX_VCPUS (1u << 16)

/* The bytes of a dump and the name to put in messages (path or buffer name). */
typedef struct dump_image {
    const uint8_t *bytes;
    uint64_t size;
    const char *name;
} dump_image_t;

/* One guest-physical range as a header declared it, before sorting. */
typedef struct dump_segment {
    uint64_t pa;
    uint64_t size;          /* bytes present in the file, > 0 */
    uint64_t file_offset;   /* where those bytes start in the image */
    uint32_t header_index;  /* which header declared it (program header N, ...) */
    uint64_t header_offset; /* where that header sits in the image */
} dump_segment_t;

/* What a format parser produces. */
typedef struct dump_layout {
    const char *driver_name;  /* "raw", "elf", "lime": vmic_driver_info.driver */
    const char *header_kind;  /* "program header", "LiME header", ...: for messages */
    dump_segment_t *segments;
    size_t nsegments;
    size_t segments_capacity;
    vmic_amd64_regs_t *regs;  /* one per vCPU, NULL if the format has none */
    uint32_t nvcpus;
} dump_layout_t;

/* ---- the format parsers --------------------------------------------------- */

vmic_status dump_parse_raw(const dump_image_t *img, dump_layout_t *out);
vmic_status dump_parse_elf(const dump_image_t *img, dump_layout_t *out);
vmic_status dump_parse_lime(const dump_image_t *img, dump_layout_t *out);

/* Magic numbers, for format detection. */
#define DUMP_LIME_MAGIC 0x4C694D45u /* "EMiL" in the file */
bool dump_is_elf(const dump_image_t *img);
bool dump_is_lime(const dump_image_t *img);

/* ---- ELF register notes (elf_notes.c) ----------------------------------- */

/* Register sets collected from the PT_NOTE segments of an ELF core, in file
 * order: NT_PRSTATUS notes and QEMU's own "QEMU" notes, one of each per vCPU. */
typedef struct dump_cpu_notes {
    vmic_amd64_regs_t *prstatus;
    uint32_t nprstatus;
    uint32_t prstatus_capacity;
    vmic_amd64_regs_t *qemu;
    uint32_t nqemu;
    uint32_t qemu_capacity;
} dump_cpu_notes_t;

/* Reads the notes of one PT_NOTE segment (program header phdr_index at
 * phdr_offset) that covers image bytes [offset, offset + size). */
vmic_status dump_elf_notes_parse(const dump_image_t *img, uint32_t phdr_index,
                                 uint64_t phdr_offset, uint64_t offset, uint64_t size,
                                 dump_cpu_notes_t *notes);

/* Pairs the i-th NT_PRSTATUS with the i-th QEMU note into out->regs and
 * out->nvcpus; frees the notes' arrays. */
vmic_status dump_elf_notes_finish(const dump_image_t *img, dump_cpu_notes_t *notes,
                                  dump_layout_t *out);

void dump_elf_notes_free(dump_cpu_notes_t *notes);

/* ---- segments and regions (dump_layout.c) --------------------------------- */

vmic_status dump_layout_add_segment(const dump_image_t *img, dump_layout_t *layout,
                                    const dump_segment_t *seg);
void dump_layout_free(dump_layout_t *layout);

/*
 * Sorts the layout's segments by physical address, rejects overlapping ones
 * (VMIC_E_FORMAT naming both headers) and merges neighbours that are
 * contiguous both in physical address and in the file into one region.
 * *regions is malloc'd (NULL when there are none).
 */
vmic_status dump_layout_build_regions(const dump_image_t *img, dump_layout_t *layout,
                                      vmic_mem_region_t **regions, size_t *nregions);

/* ---- overflow-safe bounds and little-endian loads ----------------------- */

/* Whether [offset, offset + len) lies inside [0, size), without overflow. */
static inline bool dump_fits(uint64_t offset, uint64_t len, uint64_t size)
{
    return offset <= size && len <= size - offset;
}

#endif
