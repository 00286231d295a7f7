/*
 * The fields the OS layer reads, resolved once from BTF or the profile.
 * Field names moved between kernel versions (task_struct.state became
 * __state in 5.14, mm_struct.mmap gave way to the maple tree mm_mt in 6.1):
 * each is tried under every name it has had.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os_internal.h"

vmic_status lx_field(vmic_os *os, const char *path, lx_fld *f, bool required)
{
    vmic_field_t vf;
    lx_types *t;
    memset(f, 0, sizeof *f);
    /* "MODULE:struct.field": a module's own struct (mounts_fsopts.c). */
    vmic_status s = lx_types_for(os, path, &t, &path);
    if (s == VMIC_OK)
        s = lx_types_field(t, path, &vf);
    if (s) {
        if (!required) {
            vmic_clear_error();
            return VMIC_OK;
        }
        return s;
    }
    if (vf.offset > UINT32_MAX)
        return vmic_fail(VMIC_E_FORMAT, "%s: offset of %s is absurd (%llu)",
                         lx_types_source(os->types), path, (unsigned long long)vf.offset);
    f->off = (uint32_t)vf.offset;
    f->size = vf.size > UINT32_MAX ? UINT32_MAX : (uint32_t)vf.size;
    if (vf.bit_size) {
        f->bit_size = vf.bit_size;
        f->bit_shift = (uint32_t)(vf.bit_offset - vf.offset * 8);
        if (f->bit_shift + f->bit_size > 64)
            return vmic_fail(VMIC_E_UNSUPPORTED, "%s: bitfield %s spans more than 8 bytes",
                             lx_types_source(os->types), path);
    }
    f->ok = true;
    return VMIC_OK;
}

/* The first of two names that exists. */
static vmic_status field_any(vmic_os *os, lx_fld *f, bool required, const char *a, const char *b)
{
    vmic_status s;
    if ((s = lx_field(os, a, f, false)) || f->ok)
        return s;
    if ((s = lx_field(os, b, f, false)) || f->ok || !required)
        return s;
    return vmic_fail(VMIC_E_NOTFOUND, "%s: neither %s nor %s exists",
                     lx_types_source(os->types), a, b);
}

static void span(lx_task_off *t, const lx_fld *f)
{
    if (!f->ok)
        return;
    uint32_t end = f->off + (f->size > 8 ? 8 : f->size);
    if (f->bit_size)
        end = f->off + 8;
    if (f->off < t->span_lo)
        t->span_lo = f->off;
    if (end > t->span_hi)
        t->span_hi = end;
}

vmic_status lx_task_offsets(vmic_os *os)
{
    lx_task_off *t = &os->t;
    vmic_status s;
    if (os->task_ready)
        return VMIC_OK;
    memset(t, 0, sizeof *t);

#define REQ(fld, path) if ((s = lx_field(os, path, &t->fld, true))) return s
#define OPT(fld, path) if ((s = lx_field(os, path, &t->fld, false))) return s
    REQ(tasks, "task_struct.tasks");
    REQ(pid, "task_struct.pid");
    REQ(tgid, "task_struct.tgid");
    REQ(comm, "task_struct.comm");
    REQ(real_parent, "task_struct.real_parent");
    REQ(mm, "task_struct.mm");
    OPT(active_mm, "task_struct.active_mm");
    OPT(cred, "task_struct.cred");
    OPT(real_cred, "task_struct.real_cred");
    if ((s = field_any(os, &t->state, true, "task_struct.__state", "task_struct.state")))
        return s;
    OPT(exit_state, "task_struct.exit_state");
    if ((s = field_any(os, &t->start_time, false, "task_struct.start_time",
                       "task_struct.real_start_time")))
        return s;
    OPT(signal, "task_struct.signal");
    OPT(thread_node, "task_struct.thread_node");
    OPT(files, "task_struct.files");
    OPT(flags, "task_struct.flags");
    OPT(sig_thread_head, "signal_struct.thread_head");
    OPT(sig_nr_threads, "signal_struct.nr_threads");
    OPT(cred_uid, "cred.uid.val");
    OPT(cred_gid, "cred.gid.val");
    OPT(cred_euid, "cred.euid.val");
    OPT(cred_egid, "cred.egid.val");
    REQ(mm_pgd, "mm_struct.pgd");
    OPT(mm_arg_start, "mm_struct.arg_start");
    OPT(mm_arg_end, "mm_struct.arg_end");
    OPT(mm_start_brk, "mm_struct.start_brk");
    OPT(mm_brk, "mm_struct.brk");
    OPT(mm_start_stack, "mm_struct.start_stack");
    OPT(mm_mt, "mm_struct.mm_mt");
    OPT(mm_mmap, "mm_struct.mmap");
#undef REQ
#undef OPT
    if (t->comm.size < 2 || t->comm.size > 64)
        return vmic_fail(VMIC_E_FORMAT, "%s: task_struct.comm has an absurd size (%u)",
                         lx_types_source(os->types), t->comm.size);

    t->span_lo = UINT32_MAX;
    t->span_hi = 0;
    const lx_fld *all[] = {&t->tasks, &t->pid, &t->tgid, &t->real_parent, &t->mm,
                           &t->active_mm, &t->cred, &t->real_cred, &t->state, &t->exit_state,
                           &t->start_time, &t->signal, &t->thread_node, &t->files, &t->flags};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        span(t, all[i]);
    if (t->comm.off < t->span_lo)
        t->span_lo = t->comm.off;
    if (t->comm.off + t->comm.size > t->span_hi)
        t->span_hi = t->comm.off + t->comm.size;
    if (t->span_hi - t->span_lo > 65536)
        return vmic_fail(VMIC_E_FORMAT, "%s: task_struct fields spread over %u bytes",
                         lx_types_source(os->types), t->span_hi - t->span_lo);
    /* With the offsets, so that whichever walk comes first (tasks, files,
     * maps) leaves lx_read_task a buffer to copy into. */
    free(os->task_buf);
    os->task_buf = malloc(t->span_hi - t->span_lo);
    if (!os->task_buf)
        return vmic_fail(VMIC_E_NOMEM, "no memory for a task");
    os->task_ready = true;
    return VMIC_OK;
}
