/*
 * Raw physical images: the file is guest-physical memory from address 0, as
 * QEMU's `pmemsave 0 SIZE FILE` or a plain copy of a RAM file writes it. No
 * header, no holes, no registers.
 */
#include <inttypes.h>

#include "dump.h"

vmic_status dump_parse_raw(const dump_image_t *img, dump_layout_t *out)
{
    out->driver_name = "raw";
    out->header_kind = "raw image";
    if (img->size == 0)
        return vmic_fail(VMIC_E_FORMAT,
                         "%s: empty file at offset 0x0: a raw dump needs at least one byte",
                         img->name);

    dump_segment_t whole = {
        .pa = 0,
        .size = img->size,
        .file_offset = 0,
        .header_index = 0,
        .header_offset = 0,
    };
    return dump_layout_add_segment(img, out, &whole);
}
