/*
 * A process's environment, as /proc/PID/environ gives it: the bytes
 * mm->env_start..env_end of its own address space, NUL-separated strings
 * that execve copied onto the new stack.
 *
 * Hostile input: the range is bounded (LX_MAX_ENVIRON) and must lie in user
 * space; it is read a page at a time into one buffer, so a hole fails with
 * its address rather than a short string.
 */
#include <stdlib.h>
#include <string.h>

#include "os_internal.h"

#define USER_TOP 0x0100000000000000ull /* above any 5-level user address */

static vmic_status env_range(vmic_os *os, const vmic_process_t *p, uint64_t *start,
                             uint64_t *end)
{
    lx_fld fs, fe;
    vmic_status s;
    if ((s = lx_field(os, "mm_struct.env_start", &fs, true)) ||
        (s = lx_field(os, "mm_struct.env_end", &fe, true)))
        return s;
    if ((s = lx_u64(os, p->mm.addr + fs.off, start)) ||
        (s = lx_u64(os, p->mm.addr + fe.off, end)))
        return vmic_fail_wrap(s, "environment of pid %d: mm 0x%llx", (int)p->tgid,
                              (unsigned long long)p->mm.addr);
    if (*end < *start || *end - *start > LX_MAX_ENVIRON || *end > USER_TOP)
        return vmic_fail(VMIC_E_FORMAT, "environment of pid %d: 0x%llx-0x%llx is not a plausible "
                         "range (at most %u bytes of user memory)", (int)p->tgid,
                         (unsigned long long)*start, (unsigned long long)*end,
                         (unsigned)LX_MAX_ENVIRON);
    return VMIC_OK;
}

/* Each NUL-terminated string of buf[0..n); a last one without its NUL too
 * (the process may have overwritten it, as /proc shows it anyway). */
static void split(const char *buf, size_t n, vmic_env_fn fn, void *arg)
{
    size_t at = 0;
    while (at < n) {
        const char *nul = memchr(buf + at, '\0', n - at);
        size_t len = nul ? (size_t)(nul - (buf + at)) : n - at;
        if (fn(arg, buf + at, len))
            return;
        at += len + 1;
    }
}

vmic_status vmic_os_environ(vmic_os *os, const vmic_process_t *p, vmic_env_fn fn, void *arg)
{
    uint64_t start, end;
    vmic_status s;
    if (!p->mm.addr)
        return VMIC_OK; /* a kernel thread: empty, as /proc shows */
    if ((s = env_range(os, p, &start, &end)))
        return s;
    size_t n = (size_t)(end - start);
    char *buf = malloc(n ? n : 1);
    if (!buf)
        return vmic_fail(VMIC_E_NOMEM, "environment of pid %d: %zu bytes", (int)p->tgid, n);
    if ((s = vmic_os_process_read(os, p, vmic_va(start), buf, n)))
        s = vmic_fail_wrap(s, "environment of pid %d at 0x%llx-0x%llx", (int)p->tgid,
                           (unsigned long long)start, (unsigned long long)end);
    else
        split(buf, n, fn, arg);
    free(buf);
    return s;
}
