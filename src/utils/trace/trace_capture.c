/*
 * Tracing from captures: where the driver can copy guest memory at the
 * instant of an exec watch (qemu's plugin, inside QEMU), the tracer gives
 * it one program per breakpoint and decodes each event later from the
 * copies, while the vCPU has gone on. This is what makes tracing through
 * the plugin cheap: no vCPU waits for vmic, except at an exec (its argv and
 * the new program's command line are read live, the vCPU held).
 *
 * Registers of every program (vmic_capture_t.r):
 *   r0 ax (the return value)   r1 orig_ax (the call)   r2..r7 the arguments
 *   r8 the current task        r9 its page-table root  r10 its pt_regs
 *   r11 pid  r12 tgid          r13 real_parent  r14 group_leader  r15 mm
 * In the fork program r2..r5 are the parent's and the leader's pid and
 * tgid; in the exit program r2 is exit_code.
 *
 * What a program did not copy (a string past its bound, a struct the
 * table does not name, a page the process had not touched yet: the kernel
 * faults it in during the call, so the copy at entry finds it unmapped) is
 * read live by trace_read*, later than the call: counted in
 * stats.late_reads. On the trace test's workload: 3 of ~300 events, each a
 * readlink path in a page not yet faulted in.
 */
#include <string.h>

#include "trace_internal.h"

enum { R_RET = 0, R_NR = 1, R_ARG = 2, R_TASK = 8, R_ROOT = 9, R_REGS = 10, R_PID = 11,
       R_TGID = 12, R_PARENT = 13, R_LEADER = 14, R_MM = 15 };

#define K VMIC_CAPTURE_ROOT_KERNEL
#define CAP_STRING_MAX 256u /* a longer string is finished live */

static uint8_t op(vmic_capture_program_t *p, uint8_t code, uint8_t dst, uint8_t a,
                  uint8_t root, uint32_t len, int64_t imm)
{
    uint8_t at = (uint8_t)p->nops++;
    p->ops[at] = (vmic_capture_op_t){code, dst, a, root, len, imm};
    return at;
}

/* Every program starts with the task: pointer, pid, tgid, comm, mm. */
static void task_prefix(const vmic_tracer *t, vmic_capture_program_t *p, uint8_t *comm_tag)
{
    const trace_offsets *o = &t->off;
    op(p, VMIC_CAPTURE_ANCHOR, R_TASK, 0, K, 0, 0);
    op(p, VMIC_CAPTURE_LOAD, R_PID, R_TASK, K, 4, o->pid);
    op(p, VMIC_CAPTURE_LOAD, R_TGID, R_TASK, K, 4, o->tgid);
    *comm_tag = op(p, VMIC_CAPTURE_COPY, 0, R_TASK, K, VMIC_COMM_LEN, o->comm);
    op(p, VMIC_CAPTURE_LOAD, R_MM, R_TASK, K, 8, o->mm);
}

static void syscall_program(vmic_tracer *t, vmic_capture_program_t *p, int phase)
{
    const regs_layout *l = &t->regs;
    const uint32_t args[6] = {l->di, l->si, l->dx, l->r10, l->r8, l->r9};
    task_prefix(t, p, &t->cap_tag_comm);
    op(p, VMIC_CAPTURE_LOAD, R_ROOT, R_MM, K, 8, t->off.mm_pgd);
    op(p, VMIC_CAPTURE_PA, R_ROOT, R_ROOT, K, 0, 0);
    op(p, VMIC_CAPTURE_ANCHOR, R_REGS, 0, K, 0, 1);
    op(p, VMIC_CAPTURE_ADD, R_REGS, R_REGS, K, 0, -(int64_t)t->off.regs_below_top);
    t->cap_tag_regs = op(p, VMIC_CAPTURE_COPY, 0, R_REGS, K, l->size, 0);
    op(p, VMIC_CAPTURE_LOAD, R_NR, R_REGS, K, 8, l->orig_ax);
    for (int i = 0; i < 6; i++)
        op(p, VMIC_CAPTURE_LOAD, (uint8_t)(R_ARG + i), R_REGS, K, 8, args[i]);
    op(p, VMIC_CAPTURE_LOAD, R_RET, R_REGS, K, 8, l->ax);
    op(p, VMIC_CAPTURE_ARGS, 0, 0, R_ROOT, 0, phase);
}

static void fork_program(vmic_tracer *t, vmic_capture_program_t *p)
{
    const trace_offsets *o = &t->off;
    task_prefix(t, p, &t->cap_tag_comm);
    op(p, VMIC_CAPTURE_LOAD, R_PARENT, R_TASK, K, 8, t->task_real_parent);
    op(p, VMIC_CAPTURE_LOAD, R_LEADER, R_TASK, K, 8, t->task_group_leader);
    op(p, VMIC_CAPTURE_LOAD, 2, R_PARENT, K, 4, o->pid);
    op(p, VMIC_CAPTURE_LOAD, 3, R_PARENT, K, 4, o->tgid);
    t->cap_tag_parent_comm = op(p, VMIC_CAPTURE_COPY, 0, R_PARENT, K, VMIC_COMM_LEN, o->comm);
    op(p, VMIC_CAPTURE_LOAD, 4, R_LEADER, K, 4, o->pid);
    op(p, VMIC_CAPTURE_LOAD, 5, R_LEADER, K, 4, o->tgid);
    t->cap_tag_leader_comm = op(p, VMIC_CAPTURE_COPY, 0, R_LEADER, K, VMIC_COMM_LEN, o->comm);
}

static void exit_program(vmic_tracer *t, vmic_capture_program_t *p)
{
    task_prefix(t, p, &t->cap_tag_comm);
    op(p, VMIC_CAPTURE_LOAD, 2, R_TASK, K, 4, t->task_exit_code);
}

/* What OP_ARGS copies of each argument of nr, from how it is shown. */
static void nr_table(const vmic_tracer *t, uint32_t nr, vmic_capture_nr_t *out)
{
    const syscall_shape *sh = &t->shapes[nr];
    uint16_t str = (uint16_t)(t->opt.string_max + 1 < CAP_STRING_MAX + 1 ? t->opt.string_max + 1
                                                                         : CAP_STRING_MAX + 1);
    uint16_t buf = (uint16_t)(t->opt.buffer_max < CAP_STRING_MAX ? t->opt.buffer_max
                                                                 : CAP_STRING_MAX);
    memset(out, 0, sizeof *out);
    /* An exec's argv is an array of strings, and after it the new program's
     * command line is read: both live, the vCPU held. */
    if (sh->is_exec)
        out->hold = VMIC_CAPTURE_HOLD_ENTRY | VMIC_CAPTURE_HOLD_RETURN;
    for (int i = 0; i < sh->nargs && i < 6; i++) {
        vmic_capture_arg_t *a = &out->arg[i];
        switch (sh->args[i].cls) {
        case ARG_STRING: a->kind[0] = VMIC_CAPTURE_ARG_STR, a->max[0] = str; break;
        case ARG_STRING_OUT: a->kind[1] = VMIC_CAPTURE_ARG_STR, a->max[1] = str; break;
        case ARG_BUF_IN:
            a->kind[0] = VMIC_CAPTURE_ARG_BUF, a->max[0] = buf;
            a->len_arg = (uint8_t)(sh->args[i].len_arg >= 0 ? sh->args[i].len_arg : 0);
            break;
        case ARG_BUF_OUT: a->kind[1] = VMIC_CAPTURE_ARG_BUFRET, a->max[1] = buf; break;
        case ARG_CLONE_ARGS:
            a->kind[0] = VMIC_CAPTURE_ARG_BUF, a->max[0] = 88, a->len_arg = (uint8_t)(i + 1);
            break;
        case ARG_WAIT_STATUS: a->kind[1] = VMIC_CAPTURE_ARG_FIXED, a->max[1] = 4; break;
        case ARG_FD_PAIR_OUT: a->kind[1] = VMIC_CAPTURE_ARG_FIXED, a->max[1] = 8; break;
        case ARG_SIGSET_IN: a->kind[0] = VMIC_CAPTURE_ARG_FIXED, a->max[0] = 8; break;
        case ARG_SIGSET_OUT: a->kind[1] = VMIC_CAPTURE_ARG_FIXED, a->max[1] = 8; break;
        case ARG_SIGACTION_IN:
            a->kind[0] = VMIC_CAPTURE_ARG_FIXED, a->max[0] = SIGACTION_SIZE;
            break;
        case ARG_SIGACTION_OUT:
            a->kind[1] = VMIC_CAPTURE_ARG_FIXED, a->max[1] = SIGACTION_SIZE;
            break;
        case ARG_TIMESPEC_IN: a->kind[0] = VMIC_CAPTURE_ARG_FIXED, a->max[0] = 16; break;
        case ARG_TIMESPEC_OUT: a->kind[1] = VMIC_CAPTURE_ARG_FIXED, a->max[1] = 16; break;
        /* Pointers or numbers as another argument says: copied in case
         * (a number that is no address copies nothing, or bytes unused). */
        case ARG_PRCTL_ARG: /* PR_SET_NAME, PR_GET_NAME: a 16-byte name */
            if (i == 1) {
                a->kind[0] = a->kind[1] = VMIC_CAPTURE_ARG_FIXED;
                a->max[0] = a->max[1] = VMIC_COMM_LEN;
            }
            break;
        case ARG_FUTEX_ARG: /* utime: a timespec for the ops that wait */
            if (i == 3)
                a->kind[0] = VMIC_CAPTURE_ARG_FIXED, a->max[0] = 16;
            break;
        default: break;
        }
    }
}

static vmic_status field(vmic_tracer *t, const char *path, uint32_t *off)
{
    vmic_field_t f;
    vmic_status s = vmic_os_field(t->os, path, &f);
    if (s)
        return s;
    *off = (uint32_t)f.offset;
    return f.offset < 16384 ? VMIC_OK : vmic_fail(VMIC_E_FORMAT, "%s: implausible offset", path);
}

/* The programs' inputs: the per-CPU slots of every vCPU, as physical
 * addresses (per-CPU areas do not move), and the offsets they read. */
static vmic_status inputs(vmic_tracer *t, vmic_capture_spec_t *spec)
{
    vmic_status s;
    trace_offsets *o = &t->off;
    if ((s = field(t, "task_struct.pid", &o->pid)) || (s = field(t, "task_struct.tgid", &o->tgid)) ||
        (s = field(t, "task_struct.comm", &o->comm)) || (s = field(t, "task_struct.mm", &o->mm)) ||
        (s = field(t, "mm_struct.pgd", &o->mm_pgd)))
        return s;
    const vmic_driver_info_t *info = vmic_core_info(t->core);
    uint32_t n = info->vcpu_count;
    if (n == 0 || n > VMIC_CAPTURE_MAX_VCPUS)
        return vmic_fail(VMIC_E_UNSUPPORTED, "capture: %u vCPUs", n);
    vmic_ctx_t kctx = vmic_os_kernel_ctx(t->os);
    for (uint32_t cpu = 0; cpu < n; cpu++) {
        vmic_cpu_slots_t slots;
        vmic_pa_t cur, top;
        if ((s = vmic_os_cpu_slots(t->os, cpu, &slots)) ||
            (s = vmic_translate(t->core, kctx, slots.current_task, &cur)) ||
            (s = vmic_translate(t->core, kctx, slots.top_of_stack, &top)))
            return s;
        spec->anchors[cpu][0] = cur;
        spec->anchors[cpu][1] = top;
        o->regs_below_top = (uint32_t)slots.pt_regs_size;
    }
    spec->levels = vmic_os_kernel(t->os)->paging == VMIC_PAGING_5LEVEL ? 5 : 4;
    spec->kernel_root = vmic_os_kernel(t->os)->root;
    return VMIC_OK;
}

/* Called once the breakpoints are in: each gets its program. Where the
 * driver cannot capture, t->cap_on stays false and the tracer reads
 * everything live. */
void trace_capture_arm(vmic_tracer *t, const uint64_t *bp_va)
{
    static vmic_capture_spec_t spec; /* 37 KiB: not on the stack; arm is not reentrant */
    memset(&spec, 0, sizeof spec);
    t->cap_on = false;
    if (t->tap != VMIC_TAP_EXEC_WATCH || !(vmic_core_info(t->core)->caps & VMIC_CAP_EXEC_WATCH))
        return;
    vmic_status s = inputs(t, &spec);
    if (s == VMIC_OK) {
        syscall_program(t, &spec.programs[0], 0);
        syscall_program(t, &spec.programs[1], 1);
        fork_program(t, &spec.programs[2]);
        exit_program(t, &spec.programs[3]);
        spec.nprograms = 4;
        for (uint32_t nr = 0; nr < t->nsyscalls && nr < VMIC_CAPTURE_NR_MAX; nr++)
            nr_table(t, nr, &spec.nrs[nr]);
        s = vmic_exec_capture_set(t->core, &spec);
    }
    static const uint32_t program_of[TRACE_NBP] = {[BP_ENTRY] = 1, [BP_RETURN] = 2,
                                                   [BP_FORK] = 3, [BP_EXIT] = 4};
    for (int bp = 0; s == VMIC_OK && bp < TRACE_NBP; bp++) {
        vmic_pa_t pa;
        if (!bp_va[bp] || !program_of[bp])
            continue;
        if ((s = vmic_translate(t->core, vmic_os_kernel_ctx(t->os), vmic_va(bp_va[bp]), &pa)) ==
            VMIC_OK)
            s = vmic_exec_watch_program(t->core, pa, program_of[bp]);
    }
    if (s != VMIC_OK) {
        vmic_clear_error(); /* live reads, as without a capture */
        return;
    }
    t->cap_on = true;
}

/* ---- reading from the capture --------------------------------------------------------- */

static const vmic_capture_item_t *item_tagged(const vmic_capture_t *c, uint8_t tag)
{
    for (uint32_t i = 0; i < c->nitems; i++)
        if (c->items[i].tag == tag)
            return &c->items[i];
    return NULL;
}

/* A task as a program read it: its pointer, pid and tgid in registers, its
 * comm in the item tagged tag. */
static bool cap_who(vmic_tracer *t, uint64_t task, uint64_t pid, uint64_t tgid, uint8_t tag,
                    vmic_trace_task_t *who)
{
    const vmic_capture_item_t *comm = item_tagged(t->cap, tag);
    if (!task || !comm || comm->len < VMIC_COMM_LEN) {
        t->stats.read_errors++;
        return false;
    }
    memset(who, 0, sizeof *who);
    who->task = vmic_va(task);
    who->pid = (int32_t)pid;
    who->tgid = (int32_t)tgid;
    memcpy(who->comm, comm->bytes, VMIC_COMM_LEN);
    return true;
}

/* The task an event's program read: pointer, pid, tgid, comm, root. */
bool trace_cap_task(vmic_tracer *t, vmic_trace_task_t *who, vmic_process_t *proc)
{
    const vmic_capture_t *c = t->cap;
    if (!cap_who(t, c->r[R_TASK], c->r[R_PID], c->r[R_TGID], t->cap_tag_comm, who))
        return false;
    if (proc) {
        memset(proc, 0, sizeof *proc);
        proc->task = who->task;
        proc->pid = who->pid;
        proc->tgid = who->tgid;
        memcpy(proc->comm, who->comm, sizeof proc->comm);
        proc->kernel_thread = c->r[R_MM] == 0;
        proc->root = vmic_pa(c->r[R_ROOT]);
    }
    return true;
}

/* The fork program's creator: the group's leader for a thread, else the
 * real parent (r2..r5 their pid and tgid). */
bool trace_cap_creator(vmic_tracer *t, bool thread, vmic_trace_task_t *who)
{
    const vmic_capture_t *c = t->cap;
    return thread ? cap_who(t, c->r[R_LEADER], c->r[4], c->r[5], t->cap_tag_leader_comm, who)
                  : cap_who(t, c->r[R_PARENT], c->r[2], c->r[3], t->cap_tag_parent_comm, who);
}

/* The exit program's exit_code (r2). */
int64_t trace_cap_exit_code(const vmic_tracer *t)
{
    return (int32_t)t->cap->r[2];
}

uint64_t trace_cap_regs_va(const vmic_tracer *t)
{
    return t->cap->r[R_REGS];
}

/* The struct pt_regs an entry or return program copied, whole. */
const uint8_t *trace_cap_regs(vmic_tracer *t)
{
    const vmic_capture_item_t *it = item_tagged(t->cap, t->cap_tag_regs);
    if (!it || it->len < t->regs.size) {
        t->stats.read_errors++;
        return NULL;
    }
    return it->bytes;
}

/* A copy of [va, va + n) in the event's capture, whole. */
static const uint8_t *covered(const vmic_tracer *t, uint64_t va, size_t n)
{
    if (!t->cap)
        return NULL;
    const vmic_capture_t *c = t->cap;
    for (uint32_t i = 0; i < c->nitems; i++) {
        const vmic_capture_item_t *it = &c->items[i];
        if (it->tag >= 32 && va >= it->va.addr && va - it->va.addr <= it->len &&
            n <= it->len - (va - it->va.addr))
            return it->bytes + (va - it->va.addr);
    }
    return NULL;
}

vmic_status trace_read(vmic_tracer *t, vmic_ctx_t ctx, uint64_t va, void *buf, size_t n)
{
    const uint8_t *c = covered(t, va, n);
    if (c) {
        memcpy(buf, c, n);
        return VMIC_OK;
    }
    t->stats.late_reads += t->cap && !t->cap->held;
    return vmic_read_va(t->core, ctx, vmic_va(va), buf, n);
}

/* vmic_read_str_va's contract, from a string item when the capture has
 * one that settles it (its NUL, or more bytes than max). */
vmic_status trace_read_str(vmic_tracer *t, vmic_ctx_t ctx, uint64_t va, char *buf, size_t max,
                           size_t *len)
{
    const vmic_capture_t *c = t->cap;
    for (uint32_t i = 0; c && i < c->nitems; i++) {
        const vmic_capture_item_t *it = &c->items[i];
        if (it->tag < 32 || it->va.addr != va)
            continue;
        const uint8_t *nul = memchr(it->bytes, 0, it->len);
        size_t k = nul ? (size_t)(nul - it->bytes) : it->len;
        if (nul && k <= max) {
            memcpy(buf, it->bytes, k + 1);
            *len = k;
            return VMIC_OK;
        }
        if (k > max) { /* longer than max: the first max bytes, as a live read gives */
            memcpy(buf, it->bytes, max);
            buf[max] = '\0';
            *len = max;
            return VMIC_E_RANGE;
        }
    }
    t->stats.late_reads += c && !c->held;
    return vmic_read_str_va(t->core, ctx, vmic_va(va), buf, max, len);
}
