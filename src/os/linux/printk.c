/*
 * The kernel log: the lockless printk ring buffer of 5.10+ (`prb`). A
 * descriptor ring (count = 1 << count_bits descriptors and as many
 * printk_info records) indexes a text ring (1 << size_bits bytes). Records
 * run from tail_id to head_id; a descriptor is used only if its state word
 * carries the expected id and says "finalized", as the kernel's own reader
 * requires. A text block starts with the descriptor id (one long), then the
 * text; a block that would wrap starts again at offset 0.
 *
 * Both rings are copied in once (bounded sizes), then decoded locally.
 */
#include <stdlib.h>
#include <string.h>

#include "os_internal.h"

#define MAX_COUNT_BITS 22   /* descriptors */
#define MAX_SIZE_BITS 30    /* text ring bytes */
#define DESC_SV_SHIFT 62    /* state in the top two bits of state_var */
#define DESC_ID_MASK ((1ull << DESC_SV_SHIFT) - 1)
#define DESC_FINALIZED 2ull

typedef struct prb_off {
    lx_fld desc_ring, text_ring, count_bits, descs, infos, head_id, tail_id;
    lx_fld size_bits, data;
    lx_fld d_state, d_text_begin, d_text_next;
    lx_fld i_seq, i_ts, i_len, i_facility, i_level, i_caller;
    uint64_t desc_size, info_size;
} prb_off;

static vmic_status prb_offsets(vmic_os *os, prb_off *o)
{
    vmic_status s;
    memset(o, 0, sizeof *o);
#define REQ(fld, p) if ((s = lx_field(os, p, &o->fld, true))) return s
    REQ(desc_ring, "printk_ringbuffer.desc_ring");
    REQ(text_ring, "printk_ringbuffer.text_data_ring");
    REQ(count_bits, "prb_desc_ring.count_bits");
    REQ(descs, "prb_desc_ring.descs");
    REQ(infos, "prb_desc_ring.infos");
    REQ(head_id, "prb_desc_ring.head_id");
    REQ(tail_id, "prb_desc_ring.tail_id");
    REQ(size_bits, "prb_data_ring.size_bits");
    REQ(data, "prb_data_ring.data");
    REQ(d_state, "prb_desc.state_var");
    REQ(d_text_begin, "prb_desc.text_blk_lpos.begin");
    REQ(d_text_next, "prb_desc.text_blk_lpos.next");
    REQ(i_seq, "printk_info.seq");
    REQ(i_ts, "printk_info.ts_nsec");
    REQ(i_len, "printk_info.text_len");
    REQ(i_facility, "printk_info.facility");
    REQ(i_level, "printk_info.level");
    REQ(i_caller, "printk_info.caller_id");
#undef REQ
    if ((s = lx_types_size(os->types, "prb_desc", &o->desc_size)) ||
        (s = lx_types_size(os->types, "printk_info", &o->info_size)))
        return s;
    if (o->desc_size == 0 || o->desc_size > 256 || o->info_size == 0 || o->info_size > 1024)
        return vmic_fail(VMIC_E_FORMAT, "%s: prb_desc (%llu bytes) or printk_info (%llu bytes) "
                         "has an absurd size", lx_types_source(os->types),
                         (unsigned long long)o->desc_size, (unsigned long long)o->info_size);
    return VMIC_OK;
}

static vmic_status copy_in(vmic_os *os, uint64_t va, size_t len, uint8_t **out, const char *what)
{
    *out = malloc(len ? len : 1);
    if (!*out)
        return vmic_fail(VMIC_E_NOMEM, "printk: no memory for the %s (%zu bytes)", what, len);
    vmic_status s = lx_read(os, va, *out, len);
    if (s) {
        free(*out);
        *out = NULL;
        return vmic_fail_wrap(s, "printk: %s at 0x%llx", what, (unsigned long long)va);
    }
    return VMIC_OK;
}

vmic_status vmic_os_dmesg(vmic_os *os, vmic_log_fn fn, void *arg)
{
    prb_off o;
    uint64_t prb_sym, rb;
    vmic_status s;
    if ((s = prb_offsets(os, &o)) || (s = lx_need_sym(os, "prb", &prb_sym)))
        return s;
    if ((s = lx_u64(os, prb_sym, &rb)))
        return vmic_fail_wrap(s, "printk: prb");
    if (!lx_kptr(os, rb))
        return vmic_fail(VMIC_E_FORMAT, "printk: prb points to 0x%llx", (unsigned long long)rb);

    uint64_t dr = rb + o.desc_ring.off, tr = rb + o.text_ring.off;
    uint32_t count_bits, size_bits;
    uint64_t descs, infos, head, tail, data;
    if ((s = lx_u32(os, dr + o.count_bits.off, &count_bits)) ||
        (s = lx_u64(os, dr + o.descs.off, &descs)) || (s = lx_u64(os, dr + o.infos.off, &infos)) ||
        (s = lx_u64(os, dr + o.head_id.off, &head)) || (s = lx_u64(os, dr + o.tail_id.off, &tail)) ||
        (s = lx_u32(os, tr + o.size_bits.off, &size_bits)) ||
        (s = lx_u64(os, tr + o.data.off, &data)))
        return vmic_fail_wrap(s, "printk: ring buffer at 0x%llx", (unsigned long long)rb);
    if (count_bits == 0 || count_bits > MAX_COUNT_BITS || size_bits < 3 ||
        size_bits > MAX_SIZE_BITS || !lx_kptr(os, descs) || !lx_kptr(os, infos) || !lx_kptr(os, data))
        return vmic_fail(VMIC_E_FORMAT, "printk: ring buffer at 0x%llx is not plausible "
                         "(2^%u descriptors, 2^%u text bytes)", (unsigned long long)rb,
                         count_bits, size_bits);
    const uint64_t count = 1ull << count_bits, size = 1ull << size_bits;

    uint8_t *d = NULL, *in = NULL, *text = NULL;
    if ((s = copy_in(os, descs, count * o.desc_size, &d, "descriptors")) ||
        (s = copy_in(os, infos, count * o.info_size, &in, "records")) ||
        (s = copy_in(os, data, size, &text, "text ring")))
        goto out;

    /* ids run from tail to head; at most count of them are live. */
    uint64_t id = tail & DESC_ID_MASK;
    head &= DESC_ID_MASK;
    for (uint64_t n = 0; n < count; n++, id = (id + 1) & DESC_ID_MASK) {
        uint64_t idx = id & (count - 1);
        const uint8_t *desc = d + idx * o.desc_size, *info = in + idx * o.info_size;
        uint64_t sv = lx_get(desc, o.desc_size, &o.d_state);
        if ((sv & DESC_ID_MASK) == id && (sv >> DESC_SV_SHIFT) == DESC_FINALIZED) {
            uint64_t begin = lx_get(desc, o.desc_size, &o.d_text_begin);
            uint64_t next = lx_get(desc, o.desc_size, &o.d_text_next);
            vmic_log_record_t r = {
                .seq = lx_get(info, o.info_size, &o.i_seq),
                .ts_nsec = lx_get(info, o.info_size, &o.i_ts),
                .level = (uint8_t)lx_get(info, o.info_size, &o.i_level),
                .facility = (uint8_t)lx_get(info, o.info_size, &o.i_facility),
                .caller_id = (uint32_t)lx_get(info, o.info_size, &o.i_caller),
                .text = "",
            };
            size_t text_len = (size_t)lx_get(info, o.info_size, &o.i_len);
            /* Data-less blocks (lpos bit 0) carry no text. */
            if (!(begin & 1) && !(next & 1) && next > begin) {
                uint64_t bi = begin & (size - 1), ni = next & (size - 1);
                uint64_t start, blen;
                if ((begin >> size_bits) == (next >> size_bits) && bi < ni) {
                    start = bi;
                    blen = next - begin;
                } else if (((begin + size) >> size_bits) == (next >> size_bits)) {
                    start = 0; /* wrapped: the block starts again at the beginning */
                    blen = ni;
                } else {
                    blen = 0;
                    start = 0;
                }
                if (blen > 8 && start + blen <= size) {
                    size_t avail = (size_t)blen - 8;
                    r.text = (const char *)text + start + 8;
                    r.len = text_len < avail ? text_len : avail;
                }
            }
            if (fn(arg, &r))
                break;
        }
        if (id == head)
            break;
    }
out:
    free(d);
    free(in);
    free(text);
    return s;
}
