/*
 * Processes: the circular task list from init_task (one entry per thread
 * group leader), each task read in one piece (the span of task_struct the
 * fields cover), plus its parent, credentials, mm and signal struct.
 *
 * The list lives in guest memory: every next pointer must be a kernel
 * address, every task is remembered so a cycle that misses the head is
 * caught, and the count is bounded by PID_MAX_LIMIT.
 */
#include <stdlib.h>
#include <string.h>

#include "os_internal.h"

#define PF_KTHREAD 0x00200000u
#define TASK_REPORT 0x7fu
#define TASK_IDLE 0x402u     /* TASK_UNINTERRUPTIBLE | TASK_NOLOAD */
#define TASK_REPORT_IDLE 0x80u

/* ps's letter for a state: the highest reported bit picks it. */
static char state_letter(uint32_t state, uint32_t exit_state)
{
    static const char letters[] = "RSDTtXZPI";
    uint32_t s = (state | exit_state) & TASK_REPORT;
    if ((state & TASK_IDLE) == TASK_IDLE)
        s = TASK_REPORT_IDLE;
    int fls = 0;
    while (s) {
        fls++;
        s >>= 1;
    }
    return fls < (int)sizeof letters - 1 ? letters[fls] : '?';
}

static vmic_status need_tasks(vmic_os *os)
{
    vmic_status s;
    os->last_parent = os->last_cred = 0;
    if ((s = lx_task_offsets(os)))
        return s;
    if (!os->init_task.addr) {
        uint64_t a;
        if ((s = lx_need_sym(os, "init_task", &a)))
            return s;
        os->init_task = vmic_va(a);
    }
    return VMIC_OK;
}

/* Fields reached through pointers: a failure leaves them zero and marks
 * the entry partial, it does not end the walk. */
static void read_cred(vmic_os *os, uint64_t cred, vmic_process_t *p)
{
    const lx_task_off *t = &os->t;
    if (!t->cred_uid.ok || !lx_kptr(os, cred)) {
        p->partial = true;
        return;
    }
    uint32_t lo = t->cred_uid.off, hi = lo + 4;
    const lx_fld *ids[] = {&t->cred_uid, &t->cred_gid, &t->cred_euid, &t->cred_egid};
    for (int i = 0; i < 4; i++) {
        if (!ids[i]->ok)
            continue;
        if (ids[i]->off < lo)
            lo = ids[i]->off;
        if (ids[i]->off + 4 > hi)
            hi = ids[i]->off + 4;
    }
    uint32_t *out[] = {&p->uid, &p->gid, &p->euid, &p->egid};
    if (cred == os->last_cred) {
        for (int i = 0; i < 4; i++)
            *out[i] = os->last_ids[i];
        return;
    }
    uint8_t buf[64];
    if (hi - lo > sizeof buf || lx_read(os, cred + lo, buf, hi - lo) != VMIC_OK) {
        p->partial = true;
        return;
    }
    for (int i = 0; i < 4; i++)
        if (ids[i]->ok)
            memcpy(out[i], buf + (ids[i]->off - lo), 4);
    os->last_cred = cred;
    for (int i = 0; i < 4; i++)
        os->last_ids[i] = *out[i];
}

static void read_mm(vmic_os *os, uint64_t mm, vmic_process_t *p)
{
    uint64_t pgd;
    vmic_pa_t pa;
    if (!lx_kptr(os, mm) || lx_u64(os, mm + os->t.mm_pgd.off, &pgd) != VMIC_OK || !lx_kptr(os, pgd) ||
        lx_kpa(os, vmic_va(pgd), &pa) != VMIC_OK) {
        p->partial = true;
        return;
    }
    p->root = pa;
    /* Under PTI the PGD is an 8 KiB pair: kernel half first, user copy next. */
    p->user_root = os->kernel.pti ? vmic_pa(pa.addr + VMIC_PAGE_SIZE) : pa;
}

vmic_status lx_read_task(vmic_os *os, uint64_t task, vmic_process_t *p)
{
    const lx_task_off *t = &os->t;
    size_t len = t->span_hi - t->span_lo;
    const uint8_t *b;
    if (!os->task_ready || !os->task_buf)
        return vmic_fail(VMIC_E_INTERNAL, "task 0x%llx read before the task offsets",
                         (unsigned long long)task);
    vmic_status s = lx_view(os, task + t->span_lo, len, os->task_buf, &b);
    if (s)
        return s;
    /* b holds task bytes [span_lo, span_hi): fields are read relative to it. */
#define GET(f) lx_get_at(b, len, &t->f, t->span_lo)

    memset(p, 0, sizeof *p);
    p->task = vmic_va(task);
    p->pid = (int32_t)GET(pid);
    p->tgid = (int32_t)GET(tgid);
    memcpy(p->comm, b + (t->comm.off - t->span_lo), t->comm.size < VMIC_COMM_LEN ? t->comm.size : VMIC_COMM_LEN);
    p->comm[VMIC_COMM_LEN] = '\0';
    uint32_t state = (uint32_t)GET(state);
    uint32_t exit_state = (uint32_t)GET(exit_state);
    p->state_raw = state | exit_state;
    p->state = state_letter(state, exit_state);
    p->start_ns = GET(start_time);
    uint64_t mm = GET(mm);
    uint32_t flags = (uint32_t)GET(flags);
    p->mm = vmic_va(mm);
    p->kernel_thread = mm == 0 || (t->flags.ok && (flags & PF_KTHREAD));

    uint64_t parent = GET(real_parent);
    uint32_t ptgid;
    if (parent && parent == os->last_parent) {
        p->ppid = os->last_ptgid;
    } else if (lx_kptr(os, parent) && lx_u32(os, parent + t->tgid.off, &ptgid) == VMIC_OK) {
        p->ppid = (int32_t)ptgid;
        os->last_parent = parent;
        os->last_ptgid = p->ppid;
    } else {
        p->partial = true;
    }
    read_cred(os, t->real_cred.ok ? GET(real_cred) : GET(cred), p);
    if (mm)
        read_mm(os, mm, p);
    uint64_t sig = GET(signal);
    uint32_t nr;
    if (t->sig_nr_threads.ok && lx_kptr(os, sig) &&
        lx_u32(os, sig + t->sig_nr_threads.off, &nr) == VMIC_OK)
        p->nthreads = nr;
    vmic_clear_error();
#undef GET
    return VMIC_OK;
}

/* Next pointer of a list_head at va. */
static vmic_status list_next(vmic_os *os, uint64_t node, uint64_t *next)
{
    return lx_u64(os, node, next);
}

vmic_status vmic_os_processes(vmic_os *os, vmic_process_fn fn, void *arg)
{
    vmic_status s = need_tasks(os);
    if (s)
        return s;
    const uint32_t off = os->t.tasks.off;
    const uint64_t head = os->init_task.addr + off;
    lx_seen seen;
    if ((s = lx_seen_init(&seen, LX_MAX_TASKS)))
        return s;

    /* init_task (pid 0, the idle task) heads the list and is listed first. */
    uint64_t task = os->init_task.addr, next;
    size_t count = 0;
    int32_t last_pid = -1;
    for (;;) {
        vmic_process_t p;
        if ((s = lx_read_task(os, task, &p))) {
            s = vmic_fail_wrap(s, "task list: task 0x%llx (entry %zu, after pid %d)",
                               (unsigned long long)task, count, (int)last_pid);
            break;
        }
        count++;
        last_pid = p.pid;
        if (fn(arg, &p))
            break;
        if ((s = list_next(os, task + off, &next))) {
            s = vmic_fail_wrap(s, "task list: next of pid %d (task 0x%llx)", (int)p.pid,
                               (unsigned long long)task);
            break;
        }
        if (next == head)
            break;
        if (!lx_kptr(os, next)) {
            s = vmic_fail(VMIC_E_FORMAT, "task list: next of pid %d (task 0x%llx) is 0x%llx, "
                          "not a kernel address; list truncated after %zu tasks", (int)p.pid,
                          (unsigned long long)task, (unsigned long long)next, count);
            break;
        }
        task = next - off;
        int added = lx_seen_add(&seen, task);
        if (added == 0) {
            s = vmic_fail(VMIC_E_FORMAT, "task list: cycle: task 0x%llx comes again after pid %d; "
                          "list truncated after %zu tasks", (unsigned long long)task, (int)p.pid,
                          count);
            break;
        }
        if (added < 0) {
            s = vmic_fail(VMIC_E_RANGE, "task list: more than %u tasks; truncated",
                          (unsigned)LX_MAX_TASKS);
            break;
        }
    }
    lx_seen_free(&seen);
    return s;
}

vmic_status vmic_os_task(vmic_os *os, vmic_va_t task, vmic_process_t *out)
{
    vmic_status s = need_tasks(os);
    if (s)
        return s;
    if (!lx_kptr(os, task.addr))
        return vmic_fail(VMIC_E_INVAL, "task 0x%llx is not a kernel address",
                         (unsigned long long)task.addr);
    if ((s = lx_read_task(os, task.addr, out)))
        return vmic_fail_wrap(s, "task 0x%llx", (unsigned long long)task.addr);
    return VMIC_OK;
}

typedef struct find_arg {
    int32_t pid;
    vmic_process_t *out;
    bool found;
} find_arg;

static int find_one(void *arg, const vmic_process_t *p)
{
    find_arg *f = arg;
    if (p->tgid != f->pid)
        return 0;
    *f->out = *p;
    f->found = true;
    return 1;
}

vmic_status vmic_os_process_find(vmic_os *os, int32_t pid, vmic_process_t *out)
{
    find_arg f = {.pid = pid, .out = out};
    vmic_status s = vmic_os_processes(os, find_one, &f);
    if (f.found)
        return VMIC_OK;
    if (s)
        return vmic_fail_wrap(s, "looking for pid %d", (int)pid);
    return vmic_fail(VMIC_E_NOTFOUND, "no process with pid %d", (int)pid);
}

vmic_status vmic_os_threads(vmic_os *os, const vmic_process_t *p, vmic_process_fn fn, void *arg)
{
    vmic_status s = need_tasks(os);
    if (s)
        return s;
    const lx_task_off *t = &os->t;
    if (!t->sig_thread_head.ok || !t->thread_node.ok || !t->signal.ok)
        return vmic_fail(VMIC_E_UNSUPPORTED, "%s: no signal_struct.thread_head / "
                         "task_struct.thread_node: cannot list threads",
                         lx_types_source(os->types));
    uint64_t sig;
    if ((s = lx_u64(os, p->task.addr + t->signal.off, &sig)))
        return vmic_fail_wrap(s, "threads of pid %d: signal", (int)p->tgid);
    if (!lx_kptr(os, sig))
        return vmic_fail(VMIC_E_FORMAT, "threads of pid %d: signal pointer 0x%llx is not a "
                         "kernel address", (int)p->tgid, (unsigned long long)sig);
    const uint64_t head = sig + t->sig_thread_head.off;
    lx_seen seen;
    if ((s = lx_seen_init(&seen, LX_MAX_THREADS)))
        return s;
    uint64_t node;
    size_t count = 0;
    if ((s = list_next(os, head, &node)))
        s = vmic_fail_wrap(s, "threads of pid %d", (int)p->tgid);
    while (s == VMIC_OK && node != head) {
        if (!lx_kptr(os, node)) {
            s = vmic_fail(VMIC_E_FORMAT, "threads of pid %d: list pointer 0x%llx is not a kernel "
                          "address; truncated after %zu threads", (int)p->tgid,
                          (unsigned long long)node, count);
            break;
        }
        int added = lx_seen_add(&seen, node);
        if (added <= 0) {
            s = added == 0 ? vmic_fail(VMIC_E_FORMAT, "threads of pid %d: cycle at 0x%llx; "
                                       "truncated after %zu threads", (int)p->tgid,
                                       (unsigned long long)node, count)
                           : vmic_fail(VMIC_E_RANGE, "threads of pid %d: more than %u",
                                       (int)p->tgid, (unsigned)LX_MAX_THREADS);
            break;
        }
        vmic_process_t th;
        uint64_t task = node - t->thread_node.off;
        if ((s = lx_read_task(os, task, &th))) {
            s = vmic_fail_wrap(s, "threads of pid %d: task 0x%llx", (int)p->tgid,
                               (unsigned long long)task);
            break;
        }
        count++;
        if (fn(arg, &th))
            break;
        if ((s = list_next(os, node, &node)))
            s = vmic_fail_wrap(s, "threads of pid %d: after tid %d", (int)p->tgid, (int)th.pid);
    }
    lx_seen_free(&seen);
    return s;
}

/* ---- the process's own memory ------------------------------------------------ */

vmic_status vmic_os_process_ctx(vmic_os *os, const vmic_process_t *p, vmic_ctx_t *ctx)
{
    if (!p->root.addr)
        return vmic_fail(VMIC_E_NOTFOUND, "pid %d (%s) has no address space of its own%s",
                         (int)p->tgid, p->comm, p->kernel_thread ? " (kernel thread)" : "");
    *ctx = vmic_ctx(p->root);
    return VMIC_OK;
}

vmic_status vmic_os_process_read(vmic_os *os, const vmic_process_t *p, vmic_va_t va, void *buf,
                                 size_t len)
{
    vmic_ctx_t ctx;
    vmic_status s = vmic_os_process_ctx(os, p, &ctx);
    if (s)
        return s;
    if ((s = vmic_read_va(os->core, ctx, va, buf, len)))
        return vmic_fail_wrap(s, "pid %d", (int)p->tgid);
    return VMIC_OK;
}

vmic_status vmic_os_process_cmdline(vmic_os *os, const vmic_process_t *p, char *buf, size_t size,
                                    size_t *len)
{
    vmic_status s = need_tasks(os);
    if (len)
        *len = 0;
    if (size == 0)
        return vmic_fail(VMIC_E_INVAL, "cmdline: no room");
    buf[0] = '\0';
    if (s)
        return s;
    if (!p->mm.addr)
        return VMIC_OK; /* kernel threads: empty, as /proc shows */
    const lx_task_off *t = &os->t;
    if (!t->mm_arg_start.ok || !t->mm_arg_end.ok)
        return vmic_fail(VMIC_E_UNSUPPORTED, "%s: no mm_struct.arg_start/arg_end",
                         lx_types_source(os->types));
    uint64_t start, end;
    if ((s = lx_u64(os, p->mm.addr + t->mm_arg_start.off, &start)) ||
        (s = lx_u64(os, p->mm.addr + t->mm_arg_end.off, &end)))
        return vmic_fail_wrap(s, "cmdline of pid %d: mm 0x%llx", (int)p->tgid,
                              (unsigned long long)p->mm.addr);
    if (end < start || end - start > LX_MAX_CMDLINE)
        return vmic_fail(VMIC_E_FORMAT, "cmdline of pid %d: arguments at 0x%llx-0x%llx are not a "
                         "plausible range", (int)p->tgid, (unsigned long long)start,
                         (unsigned long long)end);
    size_t want = (size_t)(end - start), n = want < size - 1 ? want : size - 1;
    if ((s = vmic_os_process_read(os, p, vmic_va(start), buf, n))) {
        buf[0] = '\0';
        return vmic_fail_wrap(s, "cmdline of pid %d", (int)p->tgid);
    }
    /* /proc/PID/cmdline ends at the last NUL of the area. */
    while (n > 0 && buf[n - 1] == '\0')
        n--;
    buf[n] = '\0';
    if (len)
        *len = n;
    if (n < want && want > size - 1)
        return vmic_fail(VMIC_E_RANGE, "cmdline of pid %d: %zu bytes, cut at %zu", (int)p->tgid,
                         want, size - 1);
    return VMIC_OK;
}
