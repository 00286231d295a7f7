/*
 * Memory regions of a process, as /proc/PID/maps shows them: the VMAs of
 * its mm (a maple tree since 6.1, a vm_next list before), each with rights,
 * file offset, device, inode and a name: the file's path, a special
 * mapping's name ([vdso], [vvar]), or [heap] / [stack] by where brk and the
 * stack start fall.
 *
 * A VMA is only accepted where it claims to be: the maple tree's range for
 * the entry must be exactly [vm_start, vm_end), regions must ascend without
 * overlap, and both ends must be user addresses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maple.h"
#include "base/grow.h"

#define VM_READ 0x1u
#define VM_WRITE 0x2u
#define VM_EXEC 0x4u
#define VM_MAYSHARE 0x80u
#define USER_TOP 0x0100000000000000ull /* above any 5-level user address */

typedef struct vma_off {
    lx_fld start, end, flags, pgoff, file, ops, priv, next, sm_name;
    uint64_t special_ops, legacy_ops;
    uint32_t size;
} vma_off;

static vmic_status vma_offsets(vmic_os *os, vma_off *o)
{
    vmic_status s;
    uint64_t size;
    memset(o, 0, sizeof *o);
    if ((s = lx_field(os, "vm_area_struct.vm_start", &o->start, true)) ||
        (s = lx_field(os, "vm_area_struct.vm_end", &o->end, true)) ||
        (s = lx_field(os, "vm_area_struct.vm_flags", &o->flags, true)) ||
        (s = lx_field(os, "vm_area_struct.vm_pgoff", &o->pgoff, true)) ||
        (s = lx_field(os, "vm_area_struct.vm_file", &o->file, true)) ||
        (s = lx_field(os, "vm_area_struct.vm_ops", &o->ops, false)) ||
        (s = lx_field(os, "vm_area_struct.vm_private_data", &o->priv, false)) ||
        (s = lx_field(os, "vm_area_struct.vm_next", &o->next, false)) ||
        (s = lx_field(os, "vm_special_mapping.name", &o->sm_name, false)) ||
        (s = lx_types_size(os->types, "vm_area_struct", &size)))
        return s;
    if (size == 0 || size > 4096)
        return vmic_fail(VMIC_E_FORMAT, "%s: vm_area_struct of %llu bytes",
                         lx_types_source(os->types), (unsigned long long)size);
    o->size = (uint32_t)size;
    (void)lx_sym(os, "special_mapping_vmops", &o->special_ops);
    (void)lx_sym(os, "legacy_special_mapping_vmops", &o->legacy_ops);
    return VMIC_OK;
}

typedef struct vma_entry {
    uint64_t vma;
    uint64_t first, last; /* its tree range, when from the maple tree */
} vma_entry;

typedef struct vma_list {
    vma_entry *v;
    size_t n, cap;
} vma_list;

static int collect(void *arg, uint64_t entry, uint64_t first, uint64_t last)
{
    vma_list *l = arg;
    if (!VMIC_GROW(l->v, l->n, l->cap, 64))
        return 1;
    l->v[l->n++] = (vma_entry){entry, first, last};
    return 0;
}

static vmic_status list_vmas(vmic_os *os, const vma_off *o, uint64_t mm, vma_list *l,
                             bool *from_tree)
{
    const lx_task_off *t = &os->t;
    vmic_status s;
    if (t->mm_mt.ok) {
        *from_tree = true;
        return lx_maple_walk(os, mm + t->mm_mt.off, collect, l);
    }
    if (!t->mm_mmap.ok || !o->next.ok)
        return vmic_fail(VMIC_E_UNSUPPORTED, "%s: mm_struct has neither mm_mt nor mmap",
                         lx_types_source(os->types));
    *from_tree = false;
    lx_seen seen;
    uint64_t vma;
    if ((s = lx_seen_init(&seen, LX_MAX_VMAS)))
        return s;
    if ((s = lx_u64(os, mm + t->mm_mmap.off, &vma)))
        goto out;
    while (vma) {
        int added = lx_seen_add(&seen, vma);
        if (!lx_kptr(os, vma) || added <= 0) {
            s = vmic_fail(added < 0 ? VMIC_E_RANGE : VMIC_E_FORMAT, "VMA list: 0x%llx after %zu "
                          "regions is %s", (unsigned long long)vma, l->n,
                          !lx_kptr(os, vma) ? "not a kernel address" : added == 0 ? "a cycle"
                                                                             : "one too many");
            break;
        }
        if (collect(l, vma, 0, 0)) {
            s = vmic_fail(VMIC_E_NOMEM, "no memory for VMAs");
            break;
        }
        if ((s = lx_u64(os, vma + o->next.off, &vma)))
            break;
    }
out:
    lx_seen_free(&seen);
    return s;
}

/* The name of a VMA without a file. */
static void anon_name(vmic_os *os, const vma_off *o, const uint8_t *b, const vmic_region_t *r,
                      uint64_t brk_lo, uint64_t brk_hi, uint64_t stack, char *out, size_t size)
{
    uint64_t ops = lx_get(b, o->size, &o->ops), priv = lx_get(b, o->size, &o->priv);
    if (ops && o->sm_name.ok && lx_kptr(os, priv) &&
        (ops == o->special_ops || (!o->special_ops && ops != o->legacy_ops))) {
        uint64_t name;
        char buf[64];
        if (lx_u64(os, priv + o->sm_name.off, &name) == VMIC_OK && lx_kptr(os, name) &&
            lx_str(os, name, buf, sizeof buf - 1) == VMIC_OK && buf[0] == '[') {
            snprintf(out, size, "%s", buf);
            return;
        }
        vmic_clear_error();
    }
    if (r->start.addr <= brk_hi && r->end.addr >= brk_lo && brk_hi)
        snprintf(out, size, "[heap]");
    else if (r->start.addr <= stack && r->end.addr >= stack && stack)
        snprintf(out, size, "[stack]");
}

vmic_status vmic_os_regions(vmic_os *os, const vmic_process_t *p, vmic_region_fn fn, void *arg)
{
    vma_off o;
    vmic_status s;
    if ((s = lx_task_offsets(os)) || (s = vma_offsets(os, &o)))
        return s;
    if (!p->mm.addr)
        return VMIC_OK;
    const lx_task_off *t = &os->t;
    uint64_t mm = p->mm.addr, brk_lo = 0, brk_hi = 0, stack = 0;
    if ((t->mm_start_brk.ok && (s = lx_u64(os, mm + t->mm_start_brk.off, &brk_lo))) ||
        (t->mm_brk.ok && (s = lx_u64(os, mm + t->mm_brk.off, &brk_hi))) ||
        (t->mm_start_stack.ok && (s = lx_u64(os, mm + t->mm_start_stack.off, &stack))))
        return vmic_fail_wrap(s, "regions of pid %d: mm 0x%llx", (int)p->tgid,
                              (unsigned long long)mm);

    vma_list l = {0};
    bool from_tree = false;
    vmic_status walk = list_vmas(os, &o, mm, &l, &from_tree);
    char walk_msg[512];
    snprintf(walk_msg, sizeof walk_msg, "%s", vmic_errmsg());

    /* Report what the walk found before any error, in order. */
    uint64_t prev_end = 0;
    uint8_t buf[4096];
    s = VMIC_OK;
    for (size_t i = 0; i < l.n; i++) {
        uint64_t vma = l.v[i].vma;
        const uint8_t *b;
        if (!lx_kptr(os, vma)) {
            s = vmic_fail(VMIC_E_FORMAT, "regions of pid %d: VMA pointer 0x%llx is not a kernel "
                          "address", (int)p->tgid, (unsigned long long)vma);
            break;
        }
        if ((s = lx_view(os, vma, o.size, buf, &b))) {
            s = vmic_fail_wrap(s, "regions of pid %d: VMA 0x%llx", (int)p->tgid,
                               (unsigned long long)vma);
            break;
        }
        vmic_region_t r;
        memset(&r, 0, sizeof r);
        r.vma = vmic_va(vma);
        r.start = vmic_va(lx_get(b, o.size, &o.start));
        r.end = vmic_va(lx_get(b, o.size, &o.end));
        if (r.start.addr >= r.end.addr || r.end.addr > USER_TOP || r.start.addr < prev_end ||
            (from_tree && (l.v[i].first != r.start.addr || l.v[i].last != r.end.addr - 1))) {
            s = vmic_fail(VMIC_E_FORMAT, "regions of pid %d: VMA 0x%llx claims 0x%llx-0x%llx, "
                          "which does not fit where it was found; truncated after %zu regions",
                          (int)p->tgid, (unsigned long long)vma, (unsigned long long)r.start.addr,
                          (unsigned long long)r.end.addr, i);
            break;
        }
        prev_end = r.end.addr;
        uint64_t flags = lx_get(b, o.size, &o.flags);
        r.access = (vmic_access_t)((flags & VM_READ ? VMIC_ACCESS_R : 0) |
                                   (flags & VM_WRITE ? VMIC_ACCESS_W : 0) |
                                   (flags & VM_EXEC ? VMIC_ACCESS_X : 0));
        r.shared = (flags & VM_MAYSHARE) != 0;
        uint64_t file = lx_get(b, o.size, &o.file);
        if (file) {
            r.offset = lx_get(b, o.size, &o.pgoff) << 12;
            if ((s = lx_file_path(os, file, r.path, sizeof r.path, NULL, &r.path_truncated)) ||
                (s = lx_file_dev(os, file, &r.dev_major, &r.dev_minor, &r.inode))) {
                s = vmic_fail_wrap(s, "regions of pid %d: VMA 0x%llx", (int)p->tgid,
                                   (unsigned long long)vma);
                break;
            }
        } else {
            anon_name(os, &o, b, &r, brk_lo, brk_hi, stack, r.path, sizeof r.path);
        }
        if (fn(arg, &r))
            break;
    }
    free(l.v);
    if (s == VMIC_OK && walk != VMIC_OK)
        return vmic_fail(walk, "regions of pid %d: %s (regions listed up to there)",
                         (int)p->tgid, walk_msg);
    return s;
}
