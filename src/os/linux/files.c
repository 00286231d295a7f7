/*
 * Open files of a process: task->files->fdt, an array of max_fds struct file
 * pointers. The array is read in chunks; max_fds is bounded by NR_OPEN.
 */
#include <string.h>

#include "os_internal.h"

#define CHUNK 512

vmic_status vmic_os_files(vmic_os *os, const vmic_process_t *p, vmic_file_fn fn, void *arg)
{
    lx_fld files, fdt, max_fds, fd_array;
    vmic_status s;
    if ((s = lx_task_offsets(os)) || (s = lx_field(os, "task_struct.files", &files, true)) ||
        (s = lx_field(os, "files_struct.fdt", &fdt, true)) ||
        (s = lx_field(os, "fdtable.max_fds", &max_fds, true)) ||
        (s = lx_field(os, "fdtable.fd", &fd_array, true)))
        return s;
    uint64_t fs, table, arr;
    uint32_t max;
    if ((s = lx_u64(os, p->task.addr + files.off, &fs)))
        return vmic_fail_wrap(s, "files of pid %d", (int)p->tgid);
    if (fs == 0)
        return VMIC_OK; /* exited, or a kernel thread without files */
    if (!lx_kptr(fs))
        return vmic_fail(VMIC_E_FORMAT, "files of pid %d: files_struct pointer 0x%llx is not a "
                         "kernel address", (int)p->tgid, (unsigned long long)fs);
    if ((s = lx_u64(os, fs + fdt.off, &table)))
        return vmic_fail_wrap(s, "files of pid %d: files_struct", (int)p->tgid);
    if (!lx_kptr(table))
        return vmic_fail(VMIC_E_FORMAT, "files of pid %d: fdtable pointer 0x%llx is not a kernel "
                         "address", (int)p->tgid, (unsigned long long)table);
    if ((s = lx_u32(os, table + max_fds.off, &max)) || (s = lx_u64(os, table + fd_array.off, &arr)))
        return vmic_fail_wrap(s, "files of pid %d: fdtable", (int)p->tgid);
    if (max > LX_MAX_FDS || !lx_kptr(arr))
        return vmic_fail(VMIC_E_FORMAT, "files of pid %d: fdtable with %u slots at 0x%llx is "
                         "not plausible", (int)p->tgid, max, (unsigned long long)arr);
    for (uint32_t base = 0; base < max; base += CHUNK) {
        uint64_t ptrs[CHUNK];
        uint32_t n = max - base < CHUNK ? max - base : CHUNK;
        if ((s = lx_read(os, arr + 8ull * base, ptrs, 8ull * n)))
            return vmic_fail_wrap(s, "files of pid %d: fd array", (int)p->tgid);
        for (uint32_t i = 0; i < n; i++) {
            if (!ptrs[i])
                continue;
            vmic_open_file_t f = {.fd = (int32_t)(base + i), .file = vmic_va(ptrs[i])};
            if (!lx_kptr(ptrs[i]))
                return vmic_fail(VMIC_E_FORMAT, "files of pid %d: fd %u points to 0x%llx",
                                 (int)p->tgid, base + i, (unsigned long long)ptrs[i]);
            if ((s = lx_file_path(os, ptrs[i], f.path, sizeof f.path, &f.inode)))
                return vmic_fail_wrap(s, "files of pid %d: fd %u", (int)p->tgid, base + i);
            uint32_t flags = 0;
            if (os->po.f_flags.ok)
                (void)lx_u32(os, ptrs[i] + os->po.f_flags.off, &flags);
            if (os->po.f_pos.ok)
                (void)lx_u64(os, ptrs[i] + os->po.f_pos.off, &f.pos);
            vmic_clear_error();
            f.flags = flags;
            if (fn(arg, &f))
                return VMIC_OK;
        }
    }
    return VMIC_OK;
}
