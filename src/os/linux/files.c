/*
 * Open files of a process: task->files->fdt, an array of max_fds struct file
 * pointers. The array is read in chunks; max_fds is bounded by NR_OPEN.
 * Flags are what /proc/PID/fdinfo prints: the file's f_flags, plus O_CLOEXEC
 * when the fd's bit is set in the table's close_on_exec bitmap (the kernel
 * keeps that per descriptor, not in the file).
 */
#include <string.h>

#include "os_internal.h"

#define CHUNK 512 /* fds per read; a multiple of 64, so bitmap words line up */
#define O_CLOEXEC_BIT 02000000u

typedef struct file_off {
    lx_fld files, fdt, max_fds, fd_array, close_on_exec, f_flags, f_pos;
} file_off;

static vmic_status file_offsets(vmic_os *os, file_off *o)
{
    vmic_status s;
    if ((s = lx_task_offsets(os)) || (s = lx_field(os, "task_struct.files", &o->files, true)) ||
        (s = lx_field(os, "files_struct.fdt", &o->fdt, true)) ||
        (s = lx_field(os, "fdtable.max_fds", &o->max_fds, true)) ||
        (s = lx_field(os, "fdtable.fd", &o->fd_array, true)) ||
        (s = lx_field(os, "fdtable.close_on_exec", &o->close_on_exec, false)) ||
        (s = lx_field(os, "file.f_flags", &o->f_flags, true)) ||
        (s = lx_field(os, "file.f_pos", &o->f_pos, true)))
        return s;
    return VMIC_OK;
}

/* Flags and position of one open file, as fdinfo shows them. */
static vmic_status file_state(vmic_os *os, const file_off *o, uint64_t file, bool cloexec,
                              vmic_open_file_t *f)
{
    uint32_t flags;
    vmic_status s;
    if ((s = lx_u32(os, file + o->f_flags.off, &flags)) ||
        (s = lx_u64(os, file + o->f_pos.off, &f->pos)))
        return s;
    f->flags = flags | (cloexec ? O_CLOEXEC_BIT : 0);
    return VMIC_OK;
}

vmic_status vmic_os_files(vmic_os *os, const vmic_process_t *p, vmic_file_fn fn, void *arg)
{
    file_off o;
    vmic_status s;
    if ((s = file_offsets(os, &o)))
        return s;
    uint64_t fs, table, arr, cloexec = 0;
    uint32_t max;
    if ((s = lx_u64(os, p->task.addr + o.files.off, &fs)))
        return vmic_fail_wrap(s, "files of pid %d", (int)p->tgid);
    if (fs == 0)
        return VMIC_OK; /* exited, or a kernel thread without files */
    if (!lx_kptr(os, fs))
        return vmic_fail(VMIC_E_FORMAT, "files of pid %d: files_struct pointer 0x%llx is not a "
                         "kernel address", (int)p->tgid, (unsigned long long)fs);
    if ((s = lx_u64(os, fs + o.fdt.off, &table)))
        return vmic_fail_wrap(s, "files of pid %d: files_struct", (int)p->tgid);
    if (!lx_kptr(os, table))
        return vmic_fail(VMIC_E_FORMAT, "files of pid %d: fdtable pointer 0x%llx is not a kernel "
                         "address", (int)p->tgid, (unsigned long long)table);
    if ((s = lx_u32(os, table + o.max_fds.off, &max)) ||
        (s = lx_u64(os, table + o.fd_array.off, &arr)) ||
        (o.close_on_exec.ok && (s = lx_u64(os, table + o.close_on_exec.off, &cloexec))))
        return vmic_fail_wrap(s, "files of pid %d: fdtable", (int)p->tgid);
    if (max > LX_MAX_FDS || !lx_kptr(os, arr) || (cloexec && !lx_kptr(os, cloexec)))
        return vmic_fail(VMIC_E_FORMAT, "files of pid %d: fdtable with %u slots at 0x%llx "
                         "(close_on_exec at 0x%llx) is not plausible", (int)p->tgid, max,
                         (unsigned long long)arr, (unsigned long long)cloexec);
    for (uint32_t base = 0; base < max; base += CHUNK) {
        uint64_t ptrs[CHUNK], bits[CHUNK / 64] = {0};
        uint32_t n = max - base < CHUNK ? max - base : CHUNK;
        if ((s = lx_read(os, arr + 8ull * base, ptrs, 8ull * n)))
            return vmic_fail_wrap(s, "files of pid %d: fd array", (int)p->tgid);
        if (cloexec && (s = lx_read(os, cloexec + base / 8, bits, 8ull * ((n + 63) / 64))))
            return vmic_fail_wrap(s, "files of pid %d: close_on_exec bitmap", (int)p->tgid);
        for (uint32_t i = 0; i < n; i++) {
            if (!ptrs[i])
                continue;
            vmic_open_file_t f = {.fd = (int32_t)(base + i), .file = vmic_va(ptrs[i])};
            if (!lx_kptr(os, ptrs[i]))
                return vmic_fail(VMIC_E_FORMAT, "files of pid %d: fd %u points to 0x%llx",
                                 (int)p->tgid, base + i, (unsigned long long)ptrs[i]);
            if ((s = lx_file_path(os, ptrs[i], f.path, sizeof f.path, &f.inode,
                                     &f.path_truncated)))
                return vmic_fail_wrap(s, "files of pid %d: fd %u", (int)p->tgid, base + i);
            bool cloexec_bit = (bits[i / 64] >> (i % 64)) & 1;
            if ((s = file_state(os, &o, ptrs[i], cloexec_bit, &f)))
                return vmic_fail_wrap(s, "files of pid %d: fd %u", (int)p->tgid, base + i);
            if (fn(arg, &f))
                return VMIC_OK;
        }
    }
    return VMIC_OK;
}
