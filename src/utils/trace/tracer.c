/*
 * The tracer: what it needs from the guest (symbols, struct pt_regs, the
 * syscall table), its breakpoints in a breakpoint manager, and the session
 * that delivers their hits to trace_events.c.
 *
 * An exec is seen at execve's return when the syscall breakpoints are in
 * place. With --no-syscalls they are not (every syscall would stop the
 * guest), so two exec-only breakpoints take their place: begin_new_exec
 * (the old comm, before the kernel renames the task) and finalize_exec (the
 * new program set up: its command line is in the new mm). Both take the
 * struct linux_binprm, in 6.1 and 6.12 alike.
 */
#include <stdlib.h>
#include <string.h>

#include "trace_internal.h"
#include "base/clock.h"

#define WAKE_MS 200   /* how often the session looks at the duration */

/* Where each breakpoint goes: with registers, and without (exec watches
 * through QEMU's plugin, whose events carry none: the same information is
 * taken from memory at a place where it is there, see trace_events.c). */
static const struct {
    trace_bp bp;
    const char *symbol;
    const char *symbol_no_regs;   /* NULL: not armed without registers */
} breakpoints[] = {
    {BP_ENTRY, "do_syscall_64", "do_syscall_64"},
    {BP_RETURN, "syscall_exit_to_user_mode", "syscall_exit_to_user_mode"},
    /* The child's first switch in: it is current there. */
    {BP_FORK, "wake_up_new_task", "schedule_tail"},
    /* The dying task's last run: exit_code is set. */
    {BP_EXIT, "do_exit", "do_task_dead"},
    /* Both take the linux_binprm in RDI: without registers an exec is
     * followed through execve's entry and return instead. */
    {BP_EXEC_BEGIN, "begin_new_exec", NULL},
    {BP_EXEC_DONE, "finalize_exec", NULL},
};

#define NBREAKPOINTS (sizeof breakpoints / sizeof breakpoints[0])

static const char *bp_symbol(const vmic_tracer *t, size_t i)
{
    return t->no_regs ? breakpoints[i].symbol_no_regs : breakpoints[i].symbol;
}

/* Which breakpoints this session arms. */
static bool wanted_bp(const vmic_tracer *t, trace_bp bp)
{
    switch (bp) {
    case BP_ENTRY:
    case BP_RETURN: return !t->opt.no_syscalls || (t->no_regs && !t->opt.no_processes);
    case BP_FORK:
    case BP_EXIT: return !t->opt.no_processes;
    case BP_EXEC_BEGIN:
    case BP_EXEC_DONE: return !t->no_regs && t->opt.no_syscalls && !t->opt.no_processes;
    }
    return false;
}

/* ---- opening ------------------------------------------------------------------------ */

static vmic_status regs_offset(vmic_os *os, const char *member, uint32_t *off)
{
    char path[64];
    vmic_field_t f;
    snprintf(path, sizeof path, "pt_regs.%s", member);
    vmic_status s = vmic_os_field(os, path, &f);
    if (s)
        return vmic_fail_wrap(s, "tracer: struct pt_regs");
    if (f.offset > 512 - 8)
        return vmic_fail(VMIC_E_FORMAT, "tracer: %s at offset %llu: not a plausible pt_regs",
                         path, (unsigned long long)f.offset);
    *off = (uint32_t)f.offset;
    return VMIC_OK;
}

static vmic_status regs_layout_of(vmic_os *os, regs_layout *l)
{
    uint64_t size;
    vmic_status s = vmic_os_type_size(os, "pt_regs", &size);
    if (s)
        return vmic_fail_wrap(s, "tracer: struct pt_regs");
    if (size < 8 || size > 512)
        return vmic_fail(VMIC_E_FORMAT, "tracer: struct pt_regs of %llu bytes",
                         (unsigned long long)size);
    l->size = (uint32_t)size;
    if ((s = regs_offset(os, "di", &l->di)) || (s = regs_offset(os, "si", &l->si)) ||
        (s = regs_offset(os, "dx", &l->dx)) || (s = regs_offset(os, "r10", &l->r10)) ||
        (s = regs_offset(os, "r8", &l->r8)) || (s = regs_offset(os, "r9", &l->r9)) ||
        (s = regs_offset(os, "ax", &l->ax)) || (s = regs_offset(os, "orig_ax", &l->orig_ax)) ||
        (s = regs_offset(os, "cs", &l->cs)))
        return s;
    if (l->cs + 8 > l->size)
        return vmic_fail(VMIC_E_FORMAT, "tracer: pt_regs.cs past the struct");
    return VMIC_OK;
}

/* --syscall NAMES: only those are wanted. */
static vmic_status apply_filter(vmic_tracer *t, const char *list)
{
    char *copy = strdup(list);
    if (!copy)
        return vmic_fail(VMIC_E_NOMEM, "tracer: no memory");
    for (size_t i = 0; i < t->nsyscalls; i++)
        t->shapes[i].wanted = false;
    t->unknown_shape.wanted = false;
    vmic_status s = VMIC_OK;
    char *save = NULL;
    for (char *name = strtok_r(copy, ",", &save); name && !s; name = strtok_r(NULL, ",", &save)) {
        const vmic_syscall_t *sc;
        if ((s = vmic_os_syscall_by_name(t->os, name, &sc)) == VMIC_OK)
            t->shapes[sc->nr].wanted = true;
    }
    free(copy);
    return s;
}

/* Where finalize_exec's linux_binprm keeps the file name execve was given. */
static vmic_status binprm_layout(vmic_tracer *t)
{
    vmic_field_t f;
    vmic_status s = vmic_os_field(t->os, "linux_binprm.filename", &f);
    if (s)
        return vmic_fail_wrap(s, "tracer: exec events without syscalls need struct "
                              "linux_binprm");
    if (f.offset > 4096)
        return vmic_fail(VMIC_E_FORMAT, "tracer: linux_binprm.filename at offset %llu: not "
                         "plausible", (unsigned long long)f.offset);
    t->binprm_filename = (uint32_t)f.offset;
    return VMIC_OK;
}

static vmic_status task_field(vmic_tracer *t, const char *path, uint32_t *off)
{
    vmic_field_t f;
    vmic_status s = vmic_os_field(t->os, path, &f);
    if (s)
        return vmic_fail_wrap(s, "tracer: events without registers need %s", path);
    if (f.offset > 16384)
        return vmic_fail(VMIC_E_FORMAT, "tracer: %s at offset %llu: not plausible", path,
                         (unsigned long long)f.offset);
    *off = (uint32_t)f.offset;
    return VMIC_OK;
}

/* What on_first_run and on_task_dead read of a task_struct. */
static vmic_status task_layout(vmic_tracer *t)
{
    vmic_status s;
    if ((s = task_field(t, "task_struct.real_parent", &t->task_real_parent)) ||
        (s = task_field(t, "task_struct.group_leader", &t->task_group_leader)) ||
        (s = task_field(t, "task_struct.exit_code", &t->task_exit_code)))
        return s;
    return VMIC_OK;
}

static vmic_status resolve(vmic_tracer *t)
{
    vmic_status s;
    for (size_t i = 0; i < NBREAKPOINTS; i++) {
        vmic_va_t va;
        if (!wanted_bp(t, breakpoints[i].bp))
            continue;
        if ((s = vmic_os_symbol(t->os, bp_symbol(t, i), &va)))
            return vmic_fail_wrap(s, "tracer");
        t->bp_addr[breakpoints[i].bp] = va.addr;
    }
    if (wanted_bp(t, BP_EXEC_DONE) && (s = binprm_layout(t)))
        return s;
    if (t->no_regs && (s = task_layout(t)))
        return s;
    if ((s = regs_layout_of(t->os, &t->regs)))
        return s;
    if ((s = vmic_os_syscalls(t->os, &t->table, &t->nsyscalls)))
        return vmic_fail_wrap(s, "tracer: the syscall table");
    t->shapes = calloc(t->nsyscalls + 1, sizeof *t->shapes);
    t->counts = calloc(t->nsyscalls + 1, sizeof *t->counts);
    t->pend = calloc(TRACE_MAX_PENDING, sizeof *t->pend);
    t->procs = calloc(TRACE_MAX_PROCESSES, sizeof *t->procs);
    t->followed = calloc(TRACE_MAX_FOLLOWED, sizeof *t->followed);
    if (!t->shapes || !t->counts || !t->pend || !t->procs || !t->followed)
        return vmic_fail(VMIC_E_NOMEM, "tracer: no memory");
    for (size_t i = 0; i < t->nsyscalls; i++)
        shape_syscall(&t->table[i], &t->shapes[i]);
    shape_unknown(&t->unknown_shape);
    /* Without registers the syscall breakpoints also serve --no-syscalls,
     * for execs alone: no call is wanted, execve is followed quietly. */
    if (t->no_regs && t->opt.no_syscalls)
        return apply_filter(t, "");
    return t->opt.syscalls ? apply_filter(t, t->opt.syscalls) : VMIC_OK;
}

vmic_status vmic_tracer_open(vmic_os *os, const vmic_trace_options_t *opt, vmic_tracer **out)
{
    *out = NULL;
    vmic_tracer *t = calloc(1, sizeof *t);
    if (!t)
        return vmic_fail(VMIC_E_NOMEM, "tracer: no memory");
    t->os = os;
    t->core = vmic_os_core(os);
    if (opt)
        t->opt = *opt;
    if (!t->opt.string_max)
        t->opt.string_max = 256;
    if (!t->opt.buffer_max)
        t->opt.buffer_max = 32;
    if (t->opt.string_max > TRACE_STRING_MAX_LIMIT)
        t->opt.string_max = TRACE_STRING_MAX_LIMIT;
    if (t->opt.buffer_max > TRACE_STRING_MAX_LIMIT)
        t->opt.buffer_max = TRACE_STRING_MAX_LIMIT;
    t->opt.comm = NULL; /* the copy below outlives the caller's string */
    vmic_status s = VMIC_OK;
    if (opt && opt->comm && !(t->comm_filter = strdup(opt->comm)))
        s = vmic_fail(VMIC_E_NOMEM, "tracer: no memory");
    if (s == VMIC_OK && t->opt.no_syscalls && t->opt.no_processes)
        s = vmic_fail(VMIC_E_INVAL, "tracer: neither system calls nor processes to trace");
    if (s == VMIC_OK && t->opt.follow && (!t->opt.pid || t->opt.no_processes))
        s = vmic_fail(VMIC_E_INVAL, "tracer: following children needs a pid and the process "
                      "events (fork)");
    if (s == VMIC_OK) {
        /* The tap decides what a hit carries: an exec watch no registers. */
        vmic_tap_kind kind = t->opt.tap ? t->opt.tap
                             : vmic_core_has(t->core, VMIC_CAP_EVENTS) ? vmic_tap_auto_kind(t->core)
                                                                       : VMIC_TAP_AUTO;
        t->tap = kind;
        /* Views that can only take X away are the plugin's too (qemu):
         * their fetch events carry no registers either. */
        t->no_regs = kind == VMIC_TAP_EXEC_WATCH ||
                     (kind == VMIC_TAP_MEMORY && !vmic_core_has(t->core, VMIC_CAP_DATA_TRAPS));
        s = resolve(t);
    }
    t->opt.syscalls = NULL; /* applied; the caller's string is not kept */
    if (s) {
        vmic_tracer_close(t);
        return s;
    }
    *out = t;
    return VMIC_OK;
}

void vmic_tracer_close(vmic_tracer *t)
{
    if (!t)
        return;
    vmic_bpm_close(t->bpm);
    free(t->comm_filter);
    free(t->shapes);
    free(t->counts);
    free(t->pend);
    free(t->procs);
    free(t->followed);
    free(t);
}

/* ---- running ---------------------------------------------------------------------------- */

static vmic_status arm(vmic_tracer *t, vmic_bpm *bpm)
{
    vmic_pa_t root = vmic_os_kernel(t->os)->root;
    for (size_t i = 0; i < NBREAKPOINTS; i++) {
        if (!wanted_bp(t, breakpoints[i].bp))
            continue;
        vmic_breakpoint_t bp = {.va = vmic_va(t->bp_addr[breakpoints[i].bp]), .root = root,
                                .global = true,
                                .key = (uint64_t)(uintptr_t)t, .tag = breakpoints[i].bp};
        vmic_status s = vmic_bpm_insert(bpm, &bp);
        if (s)
            return vmic_fail_wrap(s, "tracer: breakpoint on %s", bp_symbol(t, i));
    }
    return VMIC_OK;
}

static vmic_status on_hit(vmic_bpm *bpm, const vmic_event_t *ev, const vmic_bp_state_t *hits,
                          size_t n, vmic_event_response_t *resp, void *arg)
{
    vmic_tracer *t = arg;
    return trace_on_hit(t, (trace_bp)hits[0].bp.tag, ev);
}

static bool should_stop(vmic_core *core, void *arg)
{
    vmic_tracer *t = arg;
    if (t->stop)
        return true;
    return t->opt.duration_ms &&
           vmic__mono_ns() - t->t0_ns >= (uint64_t)t->opt.duration_ms * 1000000u;
}

vmic_status vmic_tracer_arm(vmic_tracer *t)
{
    /* AUTO unless asked: debug registers where the driver has them, so
     * guest memory stays untouched and no view is needed. */
    vmic_tap_options_t topt = {.kind = t->tap};
    vmic_tap *tap;
    vmic_status s;

    if (t->bpm)
        return VMIC_OK;
    if (!vmic_core_has(t->core, VMIC_CAP_EVENTS)) {
        const vmic_driver_info_t *info = vmic_core_info(t->core);
        return vmic_fail(VMIC_E_UNSUPPORTED, "%s: the %s driver has no events: tracing needs a "
                         "live guest (a qemu: target)", info->source, info->driver);
    }
    if ((s = vmic_tap_open(t->core, &topt, &tap)) || (s = vmic_bpm_open(t->core, tap, &t->bpm)))
        return vmic_fail_wrap(s, "tracer");
    t->npend = 0;
    /* A guest someone left paused would never hit anything. */
    if ((s = arm(t, t->bpm)) == VMIC_OK)
        trace_capture_arm(t, t->bp_addr);
    if (s || (s = vmic_resume(t->core))) {
        vmic_bpm_close(t->bpm);
        t->bpm = NULL;
    }
    return s;
}

vmic_tap_kind vmic_tracer_tap(const vmic_tracer *t)
{
    return t->tap;
}

bool vmic_tracer_captures(const vmic_tracer *t)
{
    return t->bpm && t->cap_on;
}

size_t vmic_tracer_breakpoints(const vmic_tracer *t)
{
    return t->bpm ? vmic_bpm_list(t->bpm, NULL, 0) : 0;
}

vmic_status vmic_tracer_run(vmic_tracer *t, vmic_trace_fn fn, void *arg)
{
    vmic_status s = vmic_tracer_arm(t);
    if (s)
        return s;
    t->fn = fn;
    t->fn_arg = arg;
    t->stop = false;
    t->t0_ns = vmic__mono_ns();
    vmic_bpm_handler_t h = {.on_hit = on_hit, .should_stop = should_stop, .arg = t};
    s = vmic_bpm_run(t->bpm, &h, WAKE_MS);
    /* The session's end removed every breakpoint; the manager goes too. */
    vmic_bpm_close(t->bpm);
    t->bpm = NULL;
    return s;
}
