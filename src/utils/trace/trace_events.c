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

/*
 * The task the vCPU runs. An event with registers names it through GS (the
 * per-CPU base); one without (an exec watch through QEMU's plugin) through
 * the CPU's own per-CPU area, QEMU's vCPU index taken as Linux's CPU number
 * (vmic_os_current_task_of_cpu checks the area says it is that CPU's).
 */
static bool current_task(vmic_tracer *t, const vmic_event_t *ev, vmic_trace_task_t *who,
                         vmic_process_t *proc)
{
    vmic_va_t task;
    if (t->cap)
        return trace_cap_task(t, who, proc);
    vmic_status s = t->no_regs ? vmic_os_current_task_of_cpu(t->os, ev->vcpu, &task)
                               : vmic_os_current_task(t->os, &ev->regs, &task);
    if (s != VMIC_OK) {
        vmic_clear_error();
        t->stats.read_errors++;
        return false;
    }
    return read_task(t, task, who, proc);
}

/* The pt_regs a function of the syscall path was given (its first
 * argument): from RDI, or without registers the CPU's top of stack, where
 * the entry code saved them (vmic_os_cpu_pt_regs). */
static bool regs_arg(vmic_tracer *t, const vmic_event_t *ev, uint64_t *regs_va)
{
    vmic_va_t at;
    if (!t->no_regs) {
        *regs_va = ev->regs.rdi;
        return true;
    }
    if (t->cap) {
        *regs_va = trace_cap_regs_va(t);
        return true;
    }
    if (vmic_os_cpu_pt_regs(t->os, ev->vcpu, &at) != VMIC_OK) {
        vmic_clear_error();
        t->stats.read_errors++;
        return false;
    }
    *regs_va = at.addr;
    return true;
}

/* The user registers the entry code saved at regs_va (struct pt_regs). */
static bool read_saved(vmic_tracer *t, uint64_t regs_va, saved_regs *out)
{
    uint8_t live[512];
    const uint8_t *buf = live;
    const regs_layout *l = &t->regs;
    if (t->cap) {
        if (!(buf = trace_cap_regs(t))) /* the copy the program made */
            return false;
    } else if (vmic_read_va(t->core, vmic_os_kernel_ctx(t->os), vmic_va(regs_va), live,
                            l->size)) {
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

/* The address space the vCPU runs in: the calling process's (CR3, or
 * without registers the task's mm->pgd, which CR3 holds in kernel mode). */
static vmic_ctx_t user_ctx(const vmic_tracer *t, const vmic_event_t *ev,
                           const vmic_process_t *proc)
{
    return vmic_ctx(t->no_regs ? proc->root : vmic_pa(ev->regs.cr3));
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
                             const vmic_process_t *proc, uint32_t nr, const saved_regs *r)
{
    vmic_trace_value_t vals[VMIC_SYSCALL_MAX_ARGS];
    decode_inputs(t, shape_of(t, nr), syscall_of(t, nr), user_ctx(t, ev, proc), r->args, vals);
    vmic_trace_event_t *e = begin(t, VMIC_TRACE_SYSCALL, ev, who);
    fill_syscall(t, e, nr, vals);
    e->syscall.entry_seen = true;
    e->syscall.returned = false;
    emit(t, comm_wanted(t, who->comm, NULL));
}

static void on_entry(vmic_tracer *t, const vmic_event_t *ev)
{
    vmic_trace_task_t who;
    vmic_process_t proc;
    saved_regs r;
    uint64_t regs_va;

    if (!regs_arg(t, ev, &regs_va))
        return;
    /* do_syscall_64(regs, nr): nr in RSI, or orig_ax in the saved regs. */
    bool early = !t->no_regs;
    uint32_t nr = early ? (uint32_t)ev->regs.rsi : 0;
    if (!early) {
        if (!read_saved(t, regs_va, &r))
            return;
        nr = (uint32_t)r.orig_ax;
    }
    const syscall_shape *sh = shape_of(t, nr);

    /* What the filters drop needs no record: its return is dropped too.
     * An execve the --syscall filter drops is still followed, for the exec
     * event (a process event: only --no-processes drops it). */
    bool quiet = !sh->wanted;
    if (quiet && !(sh->is_exec && !t->opt.no_processes))
        return;
    if (!current_task(t, ev, &who, &proc) || !pid_wanted(t, &who) ||
        (early && !read_saved(t, regs_va, &r)))
        return;
    vmic_ctx_t uctx = user_ctx(t, ev, &proc);
    if (sh->never_returns) {
        pending_drop(t, pending_find(t, who.task.addr));
        report_no_return(t, ev, &who, &proc, nr, &r);
        return;
    }
    pending *p = pending_add(t, who.task.addr);
    if (!p)
        return;
    p->regs = regs_va;
    p->nr = nr;
    memcpy(p->args, r.args, sizeof p->args);
    p->t_entry = vmic__mono_ns();
    p->cr3 = uctx.root.addr;
    p->who = who;
    p->quiet = quiet;
    if (!quiet) {
        decode_inputs(t, sh, syscall_of(t, nr), uctx, r.args, p->vals);
        p->decoded = true;
    }
    if (sh->is_exec && sh->exec_filename >= 0) {
        size_t len;
        vmic_status s = trace_read_str(t, uctx, r.args[sh->exec_filename], p->exec_file,
                                       sizeof p->exec_file - 1, &len);
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
    vmic_process_t proc;
    saved_regs r;
    uint64_t regs_va;

    if (!regs_arg(t, ev, &regs_va) || !read_saved(t, regs_va, &r))
        return;
    if (r.cs != USER_CS_64)
        return; /* a 32-bit syscall (int 0x80): its entry is not do_syscall_64 */
    if (!current_task(t, ev, &who, &proc))
        return;
    vmic_ctx_t uctx = user_ctx(t, ev, &proc);
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
        decode_inputs(t, sh, syscall_of(t, nr), uctx, r.args, vals);
        fill_syscall(t, e, nr, vals);
    }
    /* After an exec the old address space is gone: nothing more to read. */
    if (!exec_done)
        decode_outputs(t, sh, uctx, p ? p->args : r.args, ret, p != NULL,
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

/* The fork event itself: parent created child (c: the child's entry). */
static void report_fork(vmic_tracer *t, const vmic_event_t *ev, const vmic_trace_task_t *parent,
                        const vmic_trace_task_t *child, const vmic_process_t *c)
{
    vmic_trace_event_t *e = begin(t, VMIC_TRACE_FORK, ev, parent);
    e->fork.child = *child;
    e->fork.kernel = c->kernel_thread;
    e->fork.thread = child->tgid == parent->tgid && child->pid != child->tgid;
    if (t->opt.follow && !e->fork.thread && !e->fork.kernel && pid_wanted(t, parent))
        follow(t, child->tgid);
    emit(t, (pid_wanted(t, parent) || pid_wanted(t, child)) &&
                comm_wanted(t, parent->comm, child->comm));
}

/* wake_up_new_task(p): the parent runs, the child is its argument. */
static void on_fork(vmic_tracer *t, const vmic_event_t *ev)
{
    vmic_trace_task_t parent, child;
    vmic_process_t c;
    if (!current_task(t, ev, &parent, NULL) || !read_task(t, vmic_va(ev->regs.rdi), &child, &c))
        return;
    report_fork(t, ev, &parent, &child, &c);
}

static bool task_pointer(vmic_tracer *t, vmic_va_t task, uint32_t off, vmic_va_t *out)
{
    uint64_t v;
    if (vmic_read_u64_va(t->core, vmic_os_kernel_ctx(t->os), vmic_va(task.addr + off), &v)) {
        vmic_clear_error();
        t->stats.read_errors++;
        return false;
    }
    *out = vmic_va(v);
    return true;
}

/*
 * schedule_tail(prev), without registers: the child runs, on its first
 * switch in, before its first instruction of user mode. Its creator is
 * real_parent for a process (copy_process sets it to the caller); a thread
 * has its creator's parent there, so it is reported as created by its
 * group's leader.
 */
static void on_first_run(vmic_tracer *t, const vmic_event_t *ev)
{
    vmic_trace_task_t parent, child;
    vmic_process_t c;
    vmic_va_t creator;
    if (!current_task(t, ev, &child, &c))
        return;
    bool thread = child.pid != child.tgid;
    if (t->cap) {
        if (trace_cap_creator(t, thread, &parent))
            report_fork(t, ev, &parent, &child, &c);
        return;
    }
    if (!task_pointer(t, child.task, thread ? t->task_group_leader : t->task_real_parent,
                      &creator) ||
        !read_task(t, creator, &parent, NULL))
        return;
    report_fork(t, ev, &parent, &child, &c);
}

static void report_exit(vmic_tracer *t, const vmic_event_t *ev, const vmic_trace_task_t *who,
                        int64_t code)
{
    pending_drop(t, pending_find(t, who->task.addr));
    vmic_trace_event_t *e = begin(t, VMIC_TRACE_EXIT, ev, who);
    e->exit.code = code;
    e->exit.signal = (int)(code & 0x7f);
    e->exit.core_dumped = (code & 0x80) != 0;
    e->exit.status = (int)((code >> 8) & 0xff);
    e->exit.thread = who->pid != who->tgid;
    emit(t, pid_wanted(t, who) && comm_wanted(t, who->comm, NULL));
    if (!e->exit.thread)
        unfollow(t, who->tgid);
}

/* do_exit(code). */
static void on_task_exit(vmic_tracer *t, const vmic_event_t *ev)
{
    vmic_trace_task_t who;
    if (current_task(t, ev, &who, NULL))
        report_exit(t, ev, &who, (int64_t)ev->regs.rdi);
}

/* do_task_dead(), without registers: the task's last run; do_exit stored
 * its code in exit_code (a task killed by a signal too). */
static void on_task_dead(vmic_tracer *t, const vmic_event_t *ev)
{
    vmic_trace_task_t who;
    uint32_t code;
    if (!current_task(t, ev, &who, NULL))
        return;
    if (t->cap) {
        report_exit(t, ev, &who, trace_cap_exit_code(t));
        return;
    }
    if (vmic_read_u32_va(t->core, vmic_os_kernel_ctx(t->os),
                         vmic_va(who.task.addr + t->task_exit_code), &code)) {
        vmic_clear_error();
        t->stats.read_errors++;
        return;
    }
    report_exit(t, ev, &who, (int32_t)code);
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
    t->cap = ev->flags & VMIC_EVENT_CAPTURE ? ev->capture : NULL;
    /* The breakpoints were chosen for one kind of event (tracer.c). */
    if (t->no_regs != ((ev->flags & VMIC_EVENT_NO_REGS) != 0)) {
        t->stats.read_errors++;
        return VMIC_OK;
    }
    t->stats.hits++;
    switch (bp) {
    case BP_ENTRY: on_entry(t, ev); break;
    case BP_RETURN: on_return(t, ev); break;
    case BP_FORK: t->no_regs ? on_first_run(t, ev) : on_fork(t, ev); break;
    case BP_EXIT: t->no_regs ? on_task_dead(t, ev) : on_task_exit(t, ev); break;
    case BP_EXEC_BEGIN: on_exec_begin(t, ev); break;
    case BP_EXEC_DONE: on_exec_done(t, ev); break;
    }
    t->cap = NULL;
    return VMIC_OK;
}
