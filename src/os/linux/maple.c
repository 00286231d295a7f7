/*
 * Walking a maple tree (6.1+: the VMAs of an mm live in mm->mm_mt). A tree
 * is a root entry; an entry that is a node is "enode": the 256-byte aligned
 * node address with its type in bits 3..6. Range nodes (maple_range_64,
 * maple_leaf_64) hold 15 pivots and 16 slots, allocation-range nodes
 * (maple_arange_64) 9 pivots, 10 slots and gaps; slot i covers
 * [pivot[i-1] + 1, pivot[i]], the last used slot up to the node's max. How
 * many slots are used follows the kernel's ma_data_end(): the metadata's end
 * byte, or the last pivot.
 *
 * The root entry is marked as an internal entry (bits 0-1 = 2, as
 * xa_is_node() tests); child pointers in a node are bare encoded nodes.
 *
 * Every node is remembered (a cycle ends the walk), depth is bounded by the
 * tree's maximum height and entries by LX_MAX_VMAS.
 */
#include <string.h>

#include "maple.h"
#include "base/le.h"

#define MAPLE_NODE_SIZE 256
#define MAPLE_NODE_MASK 255ull
#define MAPLE_TYPE_SHIFT 3
#define MAPLE_TYPE_MASK 0xf
#define MAPLE_HEIGHT_MAX 31

typedef struct maple_off {
    lx_fld ma_root;
    lx_fld r_pivot, r_slot, r_meta, a_pivot, a_slot, a_meta, meta_end;
    uint32_t r_npivots, r_nslots, a_npivots, a_nslots;
    int64_t dense, leaf64, range64, arange64;
} maple_off;

typedef struct walk {
    vmic_os *os;
    maple_off o;
    lx_seen seen;
    lx_maple_fn fn;
    void *arg;
    size_t entries;
    bool stop;
} walk;

static vmic_status array_field(vmic_os *os, const char *path, lx_fld *f, uint32_t *count)
{
    vmic_field_t vf;
    vmic_status s;
    if ((s = lx_field(os, path, f, true)) || (s = lx_types_field(os->types, path, &vf)))
        return s;
    if (vf.kind != VMIC_TYPE_ARRAY || vf.count == 0 || vf.count > 64 ||
        vf.size != vf.count * 8)
        return vmic_fail(VMIC_E_FORMAT, "%s: %s is not an array of 8-byte values",
                         lx_types_source(os->types), path);
    *count = (uint32_t)vf.count;
    return VMIC_OK;
}

static vmic_status maple_offsets(vmic_os *os, maple_off *o)
{
    vmic_status s;
    if ((s = lx_field(os, "maple_tree.ma_root", &o->ma_root, true)) ||
        (s = array_field(os, "maple_range_64.pivot", &o->r_pivot, &o->r_npivots)) ||
        (s = array_field(os, "maple_range_64.slot", &o->r_slot, &o->r_nslots)) ||
        (s = lx_field(os, "maple_range_64.meta", &o->r_meta, true)) ||
        (s = array_field(os, "maple_arange_64.pivot", &o->a_pivot, &o->a_npivots)) ||
        (s = array_field(os, "maple_arange_64.slot", &o->a_slot, &o->a_nslots)) ||
        (s = lx_field(os, "maple_arange_64.meta", &o->a_meta, true)) ||
        (s = lx_field(os, "maple_metadata.end", &o->meta_end, true)) ||
        (s = lx_types_enum(os->types, "maple_dense", &o->dense)) ||
        (s = lx_types_enum(os->types, "maple_leaf_64", &o->leaf64)) ||
        (s = lx_types_enum(os->types, "maple_range_64", &o->range64)) ||
        (s = lx_types_enum(os->types, "maple_arange_64", &o->arange64)))
        return s;
    /* Everything read must lie in the 256-byte node. */
    if (o->r_slot.off + 8 * o->r_nslots > MAPLE_NODE_SIZE ||
        o->a_slot.off + 8 * o->a_nslots > MAPLE_NODE_SIZE ||
        o->r_pivot.off + 8 * o->r_npivots > MAPLE_NODE_SIZE ||
        o->a_pivot.off + 8 * o->a_npivots > MAPLE_NODE_SIZE ||
        o->r_meta.off + o->meta_end.off >= MAPLE_NODE_SIZE ||
        o->a_meta.off + o->meta_end.off >= MAPLE_NODE_SIZE || o->r_nslots != o->r_npivots + 1 ||
        o->a_nslots != o->a_npivots + 1)
        return vmic_fail(VMIC_E_FORMAT, "%s: maple node layout does not fit 256 bytes",
                         lx_types_source(os->types));
    return VMIC_OK;
}

static bool is_node(uint64_t entry)
{
    return (entry & 3) == 2 && entry > 4096; /* xa_is_node() */
}

static vmic_status walk_node(walk *w, uint64_t enode, uint64_t min, uint64_t max, int depth)
{
    const maple_off *o = &w->o;
    vmic_status s;
    if (depth > MAPLE_HEIGHT_MAX)
        return vmic_fail(VMIC_E_FORMAT, "maple tree deeper than %d levels", MAPLE_HEIGHT_MAX);
    uint64_t node = enode & ~MAPLE_NODE_MASK;
    int64_t type = (int64_t)((enode >> MAPLE_TYPE_SHIFT) & MAPLE_TYPE_MASK);
    if (!lx_kptr(w->os, node))
        return vmic_fail(VMIC_E_FORMAT, "maple node 0x%llx is not a kernel address",
                         (unsigned long long)node);
    int added = lx_seen_add(&w->seen, node);
    if (added == 0)
        return vmic_fail(VMIC_E_FORMAT, "maple tree: node 0x%llx is reached twice (a cycle)",
                         (unsigned long long)node);
    if (added < 0)
        return vmic_fail(VMIC_E_RANGE, "maple tree: more than %zu nodes", w->seen.limit);

    uint8_t b[MAPLE_NODE_SIZE];
    if ((s = lx_read(w->os, node, b, sizeof b)))
        return vmic_fail_wrap(s, "maple node 0x%llx", (unsigned long long)node);

    uint32_t pivot_off, slot_off, npivots;
    unsigned end;
    bool leaf;
    if (type == o->arange64) {
        pivot_off = o->a_pivot.off;
        slot_off = o->a_slot.off;
        npivots = o->a_npivots;
        end = b[o->a_meta.off + o->meta_end.off];
        leaf = false;
    } else if (type == o->range64 || type == o->leaf64) {
        pivot_off = o->r_pivot.off;
        slot_off = o->r_slot.off;
        npivots = o->r_npivots;
        leaf = type == o->leaf64;
        uint64_t last = vmic__le64(b + pivot_off + 8 * (npivots - 1));
        if (last == 0)
            end = b[o->r_meta.off + o->meta_end.off];
        else
            end = last == max ? npivots - 1 : npivots;
    } else {
        return vmic_fail(VMIC_E_FORMAT, "maple node 0x%llx has type %lld, not a range node",
                         (unsigned long long)node, (long long)type);
    }
    if (end > npivots)
        return vmic_fail(VMIC_E_FORMAT, "maple node 0x%llx claims %u slots of %u",
                         (unsigned long long)node, end + 1, npivots + 1);

    uint64_t lo = min;
    for (unsigned i = 0; i <= end && !w->stop; i++) {
        uint64_t hi = i < npivots ? vmic__le64(b + pivot_off + 8 * i) : max;
        if (i == end)
            hi = max;
        if (hi < lo || hi > max)
            return vmic_fail(VMIC_E_FORMAT, "maple node 0x%llx: slot %u covers 0x%llx-0x%llx "
                             "outside 0x%llx-0x%llx", (unsigned long long)node, i,
                             (unsigned long long)lo, (unsigned long long)hi,
                             (unsigned long long)min, (unsigned long long)max);
        uint64_t slot = vmic__le64(b + slot_off + 8 * i);
        if (slot) {
            if (leaf) {
                if (++w->entries > LX_MAX_VMAS)
                    return vmic_fail(VMIC_E_RANGE, "maple tree: more than %u entries",
                                     (unsigned)LX_MAX_VMAS);
                if (w->fn(w->arg, slot, lo, hi))
                    w->stop = true;
            } else {
                /* Children are plain encoded nodes (only the root carries
                 * the internal-entry bit); walk_node checks the type. */
                if ((s = walk_node(w, slot, lo, hi, depth + 1)))
                    return s;
            }
        }
        if (hi == UINT64_MAX)
            break;
        lo = hi + 1;
    }
    return VMIC_OK;
}

vmic_status lx_maple_walk(vmic_os *os, uint64_t tree, lx_maple_fn fn, void *arg)
{
    walk w = {.os = os, .fn = fn, .arg = arg};
    vmic_status s;
    uint64_t root;
    if ((s = maple_offsets(os, &w.o)))
        return s;
    if ((s = lx_u64(os, tree + w.o.ma_root.off, &root)))
        return vmic_fail_wrap(s, "maple tree at 0x%llx", (unsigned long long)tree);
    if (root == 0)
        return VMIC_OK;
    if (!is_node(root)) {
        /* A single entry at index 0 is kept in the root itself. */
        fn(arg, root, 0, 0);
        return VMIC_OK;
    }
    if ((s = lx_seen_init(&w.seen, LX_MAX_VMAS)))
        return s;
    s = walk_node(&w, root, 0, UINT64_MAX, 0);
    lx_seen_free(&w.seen);
    return s;
}
