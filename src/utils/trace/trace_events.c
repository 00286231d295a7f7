/*
 * The breakpoints (see vmic/trace.h and tracer.c): what the vCPU was doing, read
 * from its registers and from guest memory, turned into events.
 *
 * Guest state is read as it is at the breakpoint, and none of it is
 * trusted: a task or pt_regs that cannot be read, or does not look right,
 * is counted (stats.read_errors) and the hit passes unreported. Only the
 * host running out of memory ends the session.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "trace_internal.h"
#include "base/le.h"
#include "base/clock.h"

#define USER_CS_64 0x33u    /* __USER_CS: a 64-bit process's code segment */

/* ---- the guest's state at a hit ---------------------------------------------------- */

static bool read_task(vmic_tracer *t, vmic_va_t task, vmic_trace_task_t *who,
                      vmic_process_t *proc)
{
    vmic_process_t p;
    if (vmic_os_task(t->os, task, &p) != VMIC_OK) {
        vmic_clear_error();
        t->stats.read_errors++;
        return false;
    }
    who->task = task;
    who->pid = p.pid;
    who->tgid = p.tgid;
    memcpy(who->comm, p.comm, sizeof who->comm);
    if (proc)
        *proc = p;
    return true;
}

static bool current_task(vmic_tracer *t, const vmic_event_t *ev, vmic_trace_task_t *who,
                         vmic_process_t *proc)
{
    vmic_va_t task;
    if (vmic_os_current_task(t->os, &ev->regs, &task) != VMIC_OK) {
        vmic_clear_error();
        t->stats.read_errors++;
        return false;
    }
    return read_task(t, task, who, proc);
}

/* The user registers the entry code saved at regs_va (struct pt_regs). */
static bool read_saved(vmic_tracer *t, uint64_t regs_va, saved_regs *out)
{
    uint8_t buf[512];
    const regs_layout *l = &t->regs;
    if (vmic_read_va(t->core, vmic_os_kernel_ctx(t->os), vmic_va(regs_va), buf, l->size)) {
        vmic_clear_error();
        t->stats.read_errors++;
        return false;
    }
    const uint32_t at[VMIC_SYSCALL_MAX_ARGS] = {l->di, l->si, l->dx, l->r10, l->r8, l->r9};
    for (int i = 0; i < VMIC_SYSCALL_MAX_ARGS; i++)
        out->args[i] = vmic__le64(buf + at[i]);
    out->ax = vmic__le64(buf + l->ax);
    out->orig_ax = vmic__le64(buf + l->orig_ax);
    out->cs = vmic__le64(buf + l->cs) & 0xffff;
    return true;
}

/* The address space the vCPU runs in: the calling process's. */
static vmic_ctx_t user_ctx(const vmic_event_t *ev)
{
    return vmic_ctx(vmic_pa(ev->regs.cr3));
}

static const vmic_syscall_t *syscall_of(const vmic_tracer *t, uint32_t nr)
{
    return nr < t->nsyscalls ? &t->table[nr] : NULL;
}

static const syscall_shape *shape_of(const vmic_tracer *t, uint32_t nr)
{
    return nr < t->nsyscalls ? &t->shapes[nr] : &t->unknown_shape;
}

/* ---- syscalls waiting for their return ------------------------------------------------ */

static pending *pending_find(vmic_tracer *t, uint64_t task)
{
    for (size_t i = 0; i < t->npend; i++)
        if (t->pend[i].task == task)
            return &t->pend[i];
    return NULL;
}

/* A fresh entry for task, zeroed but for the task. */
static pending *pending_add(vmic_tracer *t, uint64_t task)
{
    /* One found is reused: its return was never seen (the task died in the call). */
    pending *p = pending_find(t, task);
    if (!p && t->npend == TRACE_MAX_PENDING) {
        t->stats.dropped++;
        return NULL;
    }
    if (!p)
        p = &t->pend[t->npend++];
    memset(p, 0, sizeof *p);
    p->task = task;
    return p;
}

static void pending_drop(vmic_tracer *t, pending *p)
{
    if (!p)
        return;
    *p = t->pend[--t->npend];
}

/* ---- filters and emitting ----------------------------------------------------------------- */

static bool followed(const vmic_tracer *t, int32_t tgid)
{
    for (size_t i = 0; i < t->nfollowed; i++)
        if (t->followed[i] == tgid)
            return true;
    return false;
}

static bool pid_wanted(const vmic_tracer *t, const vmic_trace_task_t *a)
{
    return !t->opt.pid || a->pid == t->opt.pid || a->tgid == t->opt.pid ||
           followed(t, a->tgid);
}

/* --follow: a process the traced ones create is traced too, until it exits
 * (its pid may be reused then). */
static void follow(vmic_tracer *t, int32_t tgid)
{
    if (followed(t, tgid))
        return;
    if (t->nfollowed == TRACE_MAX_FOLLOWED) {
        t->stats.dropped++;
        return;
    }
    t->followed[t->nfollowed++] = tgid;
}

static void unfollow(vmic_tracer *t, int32_t tgid)
{
    for (size_t i = 0; i < t->nfollowed; i++)
        if (t->followed[i] == tgid) {
            t->followed[i] = t->followed[--t->nfollowed];
            return;
        }
}

static bool comm_wanted(const vmic_tracer *t, const char *comm, const char *other)
{
    return !t->comm_filter || strcmp(comm, t->comm_filter) == 0 ||
           (other && strcmp(other, t->comm_filter) == 0);
}

/* Starts t->ev for a hit. */
static vmic_trace_event_t *begin(vmic_tracer *t, vmic_trace_kind kind, const vmic_event_t *ev,
                                 const vmic_trace_task_t *who)
{
    vmic_trace_event_t *e = &t->ev;
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->vcpu = ev->vcpu;
    e->task = *who;
    return e;
}

static void emit(vmic_tracer *t, bool wanted)
{
    if (!wanted) {
        t->stats.filtered++;
        return;
    }
    vmic_trace_event_t *e = &t->ev;
    if (e->kind == VMIC_TRACE_SYSCALL)
        for (int i = 0; i < e->syscall.nargs; i++)
            t->stats.read_errors += e->syscall.args[i].kind == VMIC_VALUE_UNREADABLE;
    e->seq = ++t->stats.events;
    e->time_ns = vmic__mono_ns() - t->t0_ns;
    count_event(t, e);
    if (t->fn && t->fn(e, t->fn_arg))
        t->stop = true;
}

static void fill_syscall(vmic_tracer *t, vmic_trace_event_t *e, uint32_t nr,
                         const vmic_trace_value_t *vals)
{
    const syscall_shape *sh = shape_of(t, nr);
    e->syscall.nr = nr;
    e->syscall.sc = syscall_of(t, nr);
    e->syscall.name = e->syscall.sc ? e->syscall.sc->name : "syscall";
    e->syscall.nargs = sh->nargs;
    memcpy(e->syscall.args, vals, sizeof e->syscall.args);
}

/* ---- the entry ---------------------------------------------------------------------------- */

/* exit, exit_group: reported now, they never return. */
static void report_no_return(vmic_tracer *t, const vmic_event_t *ev, const vmic_trace_task_t *who,
                             uint32_t nr, const saved_regs *r)
{
    vmic_trace_value_t vals[VMIC_SYSCALL_MAX_ARGS];
    decode_inputs(t, shape_of(t, nr), syscall_of(t, nr), user_ctx(ev), r->args, vals);
    vmic_trace_event_t *e = begin(t, VMIC_TRACE_SYSCALL, ev, who);
    fill_syscall(t, e, nr, vals);
    e->syscall.entry_seen = true;
    e->syscall.returned = false;
    emit(t, comm_wanted(t, who->comm, NULL));
}

static void on_entry(vmic_tracer *t, const vmic_event_t *ev)
{
    vmic_trace_task_t who;
    saved_regs r;
    uint64_t regs_va = ev->regs.rdi;
    uint32_t nr = (uint32_t)ev->regs.rsi;
    const syscall_shape *sh = shape_of(t, nr);

    /* What the filters drop needs no record: its return is dropped too.
     * An execve the --syscall filter drops is still followed, for the exec
     * event (a process event: only --no-processes drops it). */
    bool quiet = !sh->wanted;
    if (quiet && !(sh->is_exec && !t->opt.no_processes))
        return;
    if (!current_task(t, ev, &who, NULL) || !pid_wanted(t, &who) || !read_saved(t, regs_va, &r))
        return;
    if (sh->never_returns) {
        pending_drop(t, pending_find(t, who.task.addr));
        report_no_return(t, ev, &who, nr, &r);
        return;
    }
    pending *p = pending_add(t, who.task.addr);
    if (!p)
        return;
    p->regs = regs_va;
    p->nr = nr;
    memcpy(p->args, r.args, sizeof p->args);
    p->t_entry = vmic__mono_ns();
    p->cr3 = ev->regs.cr3;
    p->who = who;
    p->quiet = quiet;
    if (!quiet) {
        decode_inputs(t, sh, syscall_of(t, nr), user_ctx(ev), r.args, p->vals);
        p->decoded = true;
    }
    if (sh->is_exec && sh->exec_filename >= 0) {
        vmic_status s = vmic_read_str_va(t->core, user_ctx(ev),
                                         vmic_va(r.args[sh->exec_filename]), p->exec_file,
                                         sizeof p->exec_file - 1, NULL);
        if (s != VMIC_OK && s != VMIC_E_RANGE) {
            vmic_clear_error();
            p->exec_file[0] = '\0';
        }
    }
}

/* ---- the return ----------------------------------------------------------------------------- */

/* A task now runs a new program: the exec event, with the command line
 * read from the new mm. filename is as execve was given it. */
static void report_exec(vmic_tracer *t, const vmic_event_t *ev, vmic_va_t task,
                        const char *old_comm, const char *filename)
{
    vmic_trace_task_t who;
    vmic_process_t proc;
    if (!read_task(t, task, &who, &proc))
        return;
    vmic_trace_event_t *e = begin(t, VMIC_TRACE_EXEC, ev, &who);
    snprintf(e->exec.old_comm, sizeof e->exec.old_comm, "%s", old_comm);
    snprintf(e->exec.filename, sizeof e->exec.filename, "%s", filename);
    size_t len = 0;
    vmic_status s = vmic_os_process_cmdline(t->os, &proc, e->exec.cmdline,
                                            sizeof e->exec.cmdline, &len);
    if (s != VMIC_OK) {
        e->exec.cmdline_truncated = s == VMIC_E_RANGE;
        if (s != VMIC_E_RANGE)
            t->stats.read_errors++;
        vmic_clear_error();
    }
    for (size_t i = 0; i < len; i++)
        if (e->exec.cmdline[i] == '\0')
            e->exec.cmdline[i] = ' ';
    emit(t, !t->opt.no_processes && comm_wanted(t, who.comm, old_comm));
}

static void on_return(vmic_tracer *t, const vmic_event_t *ev)
{
    vmic_trace_task_t who;
    saved_regs r;
    uint64_t regs_va = ev->regs.rdi;

    if (!read_saved(t, regs_va, &r))
        return;
    if (r.cs != USER_CS_64)
        return; /* a 32-bit syscall (int 0x80): its entry is not do_syscall_64 */
    if (!current_task(t, ev, &who, NULL))
        return;
    uint32_t nr = (uint32_t)r.orig_ax;
    pending *p = pending_find(t, who.task.addr);
    /* rt_sigreturn (and a call ptrace or seccomp skipped) comes back with
     * orig_ax -1: the kernel's mark that no syscall is to be restarted. */
    if (p && p->regs == regs_va && r.orig_ax == UINT64_MAX)
        nr = p->nr;
    if (p && (p->regs != regs_va || p->nr != nr)) {
        pending_drop(t, p); /* not this call's entry: a stale record */
        p = NULL;
    }
    const syscall_shape *sh = shape_of(t, nr);
    if (p && p->quiet) {
        if (sh->is_exec && (int64_t)r.ax == 0)
            report_exec(t, ev, vmic_va(p->task), p->who.comm, p->exec_file);
        pending_drop(t, p);
        return;
    }
    if (!p) {
        if (sh->is_fork && r.ax == 0) {
            t->stats.fork_returns++; /* a new child's first return to user mode */
            return;
        }
        if (!sh->wanted || !pid_wanted(t, &who))
            return;
        t->stats.unmatched++;
    }

    int64_t ret = (int64_t)r.ax;
    bool exec_done = sh->is_exec && ret == 0;
    vmic_trace_event_t *e = begin(t, VMIC_TRACE_SYSCALL, ev, &who);
    if (p) {
        fill_syscall(t, e, nr, p->vals);
        e->syscall.entry_seen = true;
        e->syscall.duration_ns = vmic__mono_ns() - p->t_entry;
    } else {
        vmic_trace_value_t vals[VMIC_SYSCALL_MAX_ARGS];
        decode_inputs(t, sh, syscall_of(t, nr), user_ctx(ev), r.args, vals);
        fill_syscall(t, e, nr, vals);
    }
    /* After an exec the old address space is gone: nothing more to read. */
    if (!exec_done)
        decode_outputs(t, sh, user_ctx(ev), p ? p->args : r.args, ret, p != NULL,
                       e->syscall.args);
    e->syscall.returned = true;
    e->syscall.ret = ret;
    decode_return(sh, ret, e->syscall.ret_text, sizeof e->syscall.ret_text, &e->syscall.error);
    emit(t, comm_wanted(t, who.comm, p ? p->who.comm : NULL));
    if (p && exec_done)
        report_exec(t, ev, vmic_va(p->task), p->who.comm, p->exec_file);
    pending_drop(t, p);
}

/* ---- new tasks and exits ---------------------------------------------------------------------- */

static void on_fork(vmic_tracer *t, const vmic_event_t *ev)
{
    vmic_trace_task_t parent, child;
    vmic_process_t c;
    if (!current_task(t, ev, &parent, NULL) || !read_task(t, vmic_va(ev->regs.rdi), &child, &c))
        return;
    vmic_trace_event_t *e = begin(t, VMIC_TRACE_FORK, ev, &parent);
    e->fork.child = child;
    e->fork.kernel = c.kernel_thread;
    e->fork.thread = child.tgid == parent.tgid && child.pid != child.tgid;
    if (t->opt.follow && !e->fork.thread && !e->fork.kernel && pid_wanted(t, &parent))
        follow(t, child.tgid);
    emit(t, (pid_wanted(t, &parent) || pid_wanted(t, &child)) &&
                comm_wanted(t, parent.comm, child.comm));
}

static void on_task_exit(vmic_tracer *t, const vmic_event_t *ev)
{
    vmic_trace_task_t who;
    int64_t code = (int64_t)ev->regs.rdi;
    if (!current_task(t, ev, &who, NULL))
        return;
    pending_drop(t, pending_find(t, who.task.addr));
    vmic_trace_event_t *e = begin(t, VMIC_TRACE_EXIT, ev, &who);
    e->exit.code = code;
    e->exit.signal = (int)(code & 0x7f);
    e->exit.core_dumped = (code & 0x80) != 0;
    e->exit.status = (int)((code >> 8) & 0xff);
    e->exit.thread = who.pid != who.tgid;
    emit(t, pid_wanted(t, &who) && comm_wanted(t, who.comm, NULL));
    if (!e->exit.thread)
        unfollow(t, who.tgid);
}

/* ---- execs without the syscall breakpoints (tracer.c says why) ------------------------------ */

/* begin_new_exec(bprm): past the point of no return, before the rename: the
 * old comm is still the task's. */
static void on_exec_begin(vmic_tracer *t, const vmic_event_t *ev)
{
    vmic_trace_task_t who;
    if (!current_task(t, ev, &who, NULL) || !pid_wanted(t, &who))
        return;
    pending *p = pending_add(t, who.task.addr);
    if (!p)
        return;
    p->nr = NR_EXEC_BEGIN;
    p->who = who;
}

/* finalize_exec(bprm): the new program is set up; its file name is the
 * kernel's copy of what execve was given (bprm->filename). */
static void on_exec_done(vmic_tracer *t, const vmic_event_t *ev)
{
    vmic_trace_task_t who;
    char filename[VMIC_TRACE_TEXT] = "";
    uint64_t name_va;
    if (!current_task(t, ev, &who, NULL) || !pid_wanted(t, &who))
        return;
    vmic_ctx_t kctx = vmic_os_kernel_ctx(t->os);
    vmic_status s = vmic_read_u64_va(t->core, kctx, vmic_va(ev->regs.rdi + t->binprm_filename),
                                     &name_va);
    if (s == VMIC_OK)
        s = vmic_read_str_va(t->core, kctx, vmic_va(name_va), filename, sizeof filename - 1,
                             NULL);
    if (s != VMIC_OK && s != VMIC_E_RANGE) {
        vmic_clear_error();
        t->stats.read_errors++;
        filename[0] = '\0';
    }
    pending *p = pending_find(t, who.task.addr);
    bool began = p && p->nr == NR_EXEC_BEGIN;
    /* An exec that began before the trace: its old name is gone. */
    report_exec(t, ev, who.task, began ? p->who.comm : "?", filename);
    if (began)
        pending_drop(t, p);
}

vmic_status trace_on_hit(vmic_tracer *t, trace_bp bp, const vmic_event_t *ev)
{
    /* The guest changed its page tables since the last stop. */
    vmic_flush_tlb(t->core);
    t->stats.hits++;
    switch (bp) {
    case BP_ENTRY: on_entry(t, ev); break;
    case BP_RETURN: on_return(t, ev); break;
    case BP_FORK: on_fork(t, ev); break;
    case BP_EXIT: on_task_exit(t, ev); break;
    case BP_EXEC_BEGIN: on_exec_begin(t, ev); break;
    case BP_EXEC_DONE: on_exec_done(t, ev); break;
    }
    return VMIC_OK;
}
