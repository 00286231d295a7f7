/*
 * LiME dumps (the Linux Memory Extractor's "lime" format): a sequence of
 * ranges, each a 32-byte header followed by the range's bytes.
 *
 *   offset  0  u32 magic    0x4C694D45 ("EMiL" on disk)
 *           4  u32 version  1
 *           8  u64 s_addr   first physical address of the range
 *          16  u64 e_addr   last physical address, inclusive
 *          24  u8  reserved[8]
 *
 * The file must end exactly after the last range's bytes: anything shorter
 * than a header there is a truncated file, not padding.
 */
#include <inttypes.h>

#include "dump.h"

#define LIME_HEADER_SIZE 32u
#define LIME_VERSION 1u

bool dump_is_lime(const dump_image_t *img)
{
    return img->size >= 4 && vmic__le32(img->bytes) == DUMP_LIME_MAGIC;
}

/* Checks one header at `offset` and, if it is sound, adds its range. */
static vmic_status parse_range(const dump_image_t *img, dump_layout_t *out,
                               uint32_t index, uint64_t offset, uint64_t *next)
{
    if (!dump_fits(offset, LIME_HEADER_SIZE, img->size))
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: LiME header %" PRIu32 " at offset 0x%" PRIx64
                         ": truncated, %" PRIu64 " bytes left but a header is %u",
                         img->name, index, offset, img->size - offset, LIME_HEADER_SIZE);

    const uint8_t *h = img->bytes + offset;
    uint32_t magic = vmic__le32(h);
    uint32_t version = vmic__le32(h + 4);
    uint64_t s_addr = vmic__le64(h + 8);
    uint64_t e_addr = vmic__le64(h + 16);

    if (magic != DUMP_LIME_MAGIC)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: LiME header %" PRIu32 " at offset 0x%" PRIx64
                         ": magic 0x%08" PRIx32 " is not 0x%08x",
                         img->name, index, offset, magic, DUMP_LIME_MAGIC);
    if (version != LIME_VERSION)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: LiME header %" PRIu32 " at offset 0x%" PRIx64
                         ": version %" PRIu32 " is not %u",
                         img->name, index, offset, version, LIME_VERSION);
    if (e_addr < s_addr)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: LiME header %" PRIu32 " at offset 0x%" PRIx64
                         ": end address 0x%" PRIx64 " is below start address 0x%" PRIx64,
                         img->name, index, offset, e_addr, s_addr);

    /* The range holds e_addr - s_addr + 1 bytes; compare before adding the 1
     * so that a huge range is measured without wrapping. */
    uint64_t data_offset = offset + LIME_HEADER_SIZE;
    uint64_t last = e_addr - s_addr;
    if (last >= img->size - data_offset)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: LiME header %" PRIu32 " at offset 0x%" PRIx64
                         ": range [0x%" PRIx64 ",0x%" PRIx64 "] with data at offset 0x%" PRIx64
                         " runs past end of file (size 0x%" PRIx64 ")",
                         img->name, index, offset, s_addr, e_addr, data_offset, img->size);
    /* One past e_addr is where the range ends; at 2^64 that end is not a
     * number, and every "pa < end" loop above it would wrap to 0. */
    if (e_addr == UINT64_MAX)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: LiME header %" PRIu32 " at offset 0x%" PRIx64
                         ": range [0x%" PRIx64 ",0x%" PRIx64
                         "] ends at 2^64, past the last physical address vmic can name",
                         img->name, index, offset, s_addr, e_addr);

    uint64_t length = last + 1;

    dump_segment_t seg = {
        .pa = s_addr,
        .size = length,
        .file_offset = data_offset,
        .header_index = index,
        .header_offset = offset,
    };
    *next = data_offset + length;
    return dump_layout_add_segment(img, out, &seg);
}

vmic_status dump_parse_lime(const dump_image_t *img, dump_layout_t *out)
{
    out->driver_name = "lime";
    out->header_kind = "LiME header";
    if (!dump_is_lime(img))
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: offset 0x0: no LiME magic 0x%08x (file is %" PRIu64 " bytes)",
                         img->name, DUMP_LIME_MAGIC, img->size);

    uint64_t offset = 0;
    for (uint32_t index = 0; offset < img->size; index++) {
        vmic_status s = parse_range(img, out, index, offset, &offset);
        if (s != VMIC_OK)
            return s;
    }
    return VMIC_OK;
}
