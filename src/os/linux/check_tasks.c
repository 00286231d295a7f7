/*
 * Hidden tasks. A rootkit hides a process from ps by unlinking its
 * task_struct from the task list (init_task.tasks), or a thread from its
 * group's thread list (signal->thread_head); the scheduler does not need
 * either. The pid allocator does: every task with a pid has a struct pid in
 * init_pid_ns.idr (every pid namespace allocates in its ancestors too, so
 * the initial one has them all), and pid->tasks[PIDTYPE_PID] leads back to
 * the task. The check walks all three and reports each task that one of
 * them misses.
 *
 * The IDR is a radix tree (struct xarray, 6.1's idr_rt): a slot holds a
 * child node (an "internal" entry, low bits 10, above 4096), a leaf (a
 * struct pid), or nothing. The walk trusts nothing: each node's shift must
 * be its parent's less the chunk's bits, each node is visited once, and the
 * number of nodes and pids is bounded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_internal.h"

#define XA_INTERNAL_MIN 4096u /* internal entries below this are sibling/retry marks */
#define LX_MAX_IDR_NODES (1u << 20)

typedef struct task_ref {
    uint64_t task;
    int32_t pid, tgid;
    char comm[VMIC_COMM_LEN + 1];
} task_ref;

typedef struct task_vec {
    task_ref *v;
    size_t n, cap;
    bool nomem;
} task_vec;

static void vec_add(task_vec *tv, const vmic_process_t *p)
{
    if (tv->n == tv->cap) {
        size_t cap = tv->cap ? tv->cap * 2 : 256;
        task_ref *v = realloc(tv->v, cap * sizeof *v);
        if (!v) {
            tv->nomem = true;
            return;
        }
        tv->v = v;
        tv->cap = cap;
    }
    task_ref *r = &tv->v[tv->n++];
    r->task = p->task.addr;
    r->pid = p->pid;
    r->tgid = p->tgid;
    memcpy(r->comm, p->comm, sizeof r->comm);
}

static int by_task(const void *a, const void *b)
{
    uint64_t x = ((const task_ref *)a)->task, y = ((const task_ref *)b)->task;
    return x < y ? -1 : x > y;
}

static void vec_sort(task_vec *tv)
{
    if (tv->n)
        qsort(tv->v, tv->n, sizeof *tv->v, by_task);
}

static bool vec_has(const task_vec *tv, uint64_t task)
{
    task_ref key = {.task = task};
    return tv->n && bsearch(&key, tv->v, tv->n, sizeof *tv->v, by_task) != NULL;
}

static int keep_task(void *arg, const vmic_process_t *p)
{
    task_vec *tv = arg;
    vec_add(tv, p);
    return tv->nomem;
}

/* ---- the pid IDR --------------------------------------------------------------- */

typedef struct idr_walk {
    vmic_os *os;
    uint32_t slot_off, nslots, shift_off;
    uint32_t pid_tasks_off, pid_links_off;
    lx_seen nodes;
    size_t npids;
    task_vec *out;
} idr_walk;

/* A leaf: a struct pid; the task it names, if it still has one (a pid can
 * outlive its task as a process group's or session's). */
static vmic_status idr_leaf(idr_walk *w, uint64_t pid)
{
    vmic_status s;
    if (!lx_kptr(w->os, pid))
        return vmic_fail(VMIC_E_FORMAT, "pid IDR: leaf 0x%llx is not a kernel address",
                         (unsigned long long)pid);
    if (++w->npids > LX_MAX_TASKS)
        return vmic_fail(VMIC_E_RANGE, "pid IDR: more than %u pids", (unsigned)LX_MAX_TASKS);
    uint64_t first;
    if ((s = lx_u64(w->os, pid + w->pid_tasks_off, &first)))
        return vmic_fail_wrap(s, "pid IDR: struct pid 0x%llx", (unsigned long long)pid);
    if (!first)
        return VMIC_OK;
    if (!lx_kptr(w->os, first))
        return vmic_fail(VMIC_E_FORMAT, "pid IDR: struct pid 0x%llx: task link 0x%llx is not a "
                         "kernel address", (unsigned long long)pid, (unsigned long long)first);
    vmic_process_t p;
    if ((s = vmic_os_task(w->os, vmic_va(first - w->pid_links_off), &p)))
        return vmic_fail_wrap(s, "pid IDR: the task of struct pid 0x%llx",
                              (unsigned long long)pid);
    vec_add(w->out, &p);
    return w->out->nomem ? vmic_fail(VMIC_E_NOMEM, "no memory for the pid IDR's tasks")
                         : VMIC_OK;
}

static vmic_status idr_node(idr_walk *w, uint64_t node, int expect_shift, int depth)
{
    vmic_status s;
    if (depth > 16)
        return vmic_fail(VMIC_E_FORMAT, "pid IDR: deeper than 16 levels at node 0x%llx",
                         (unsigned long long)node);
    if (!lx_kptr(w->os, node))
        return vmic_fail(VMIC_E_FORMAT, "pid IDR: node 0x%llx is not a kernel address",
                         (unsigned long long)node);
    int added = lx_seen_add(&w->nodes, node);
    if (added <= 0)
        return added == 0 ? vmic_fail(VMIC_E_FORMAT, "pid IDR: node 0x%llx is reached twice (a "
                                      "cycle)", (unsigned long long)node)
                          : vmic_fail(VMIC_E_RANGE, "pid IDR: more than %u nodes",
                                      (unsigned)LX_MAX_IDR_NODES);
    uint8_t shift;
    if ((s = lx_read(w->os, node + w->shift_off, &shift, 1)))
        return vmic_fail_wrap(s, "pid IDR: node 0x%llx", (unsigned long long)node);
    if (shift > 63 || (expect_shift >= 0 && shift != expect_shift))
        return vmic_fail(VMIC_E_FORMAT, "pid IDR: node 0x%llx has shift %u where %d was due",
                         (unsigned long long)node, shift, expect_shift);
    uint64_t slots[256];
    if ((s = lx_read(w->os, node + w->slot_off, slots, 8 * (size_t)w->nslots)))
        return vmic_fail_wrap(s, "pid IDR: slots of node 0x%llx", (unsigned long long)node);
    unsigned bits = 0;
    while ((1u << bits) < w->nslots)
        bits++;
    for (uint32_t i = 0; i < w->nslots; i++) {
        uint64_t e = slots[i];
        if (!e)
            continue;
        if ((e & 3) == 2) {
            if (e < XA_INTERNAL_MIN)
                continue; /* a sibling or retry mark, not an entry */
            if (shift == 0)
                return vmic_fail(VMIC_E_FORMAT, "pid IDR: leaf node 0x%llx holds a node "
                                 "pointer", (unsigned long long)node);
            s = idr_node(w, e - 2, (int)shift - (int)bits, depth + 1);
        } else if (shift == 0) {
            s = idr_leaf(w, e);
        } else {
            return vmic_fail(VMIC_E_FORMAT, "pid IDR: inner node 0x%llx holds a leaf 0x%llx",
                             (unsigned long long)node, (unsigned long long)e);
        }
        if (s)
            return s;
    }
    return VMIC_OK;
}

static vmic_status idr_tasks(vmic_os *os, task_vec *out, size_t *npids)
{
    vmic_status s;
    vmic_field_t slots, tasks;
    lx_fld head, shift, links, upid_nr;
    uint64_t ns;
    if ((s = lx_need_sym(os, "init_pid_ns", &ns)) ||
        (s = lx_field(os, "pid_namespace.idr.idr_rt.xa_head", &head, true)) ||
        (s = lx_field(os, "xa_node.shift", &shift, true)) ||
        (s = lx_types_field(os->types, "xa_node.slots", &slots)) ||
        (s = lx_types_field(os->types, "pid.tasks", &tasks)) ||
        (s = lx_field(os, "task_struct.pid_links", &links, true)) ||
        (s = lx_field(os, "upid.nr", &upid_nr, true)))
        return vmic_fail_wrap(s, "%s: the pid IDR's layout", lx_types_source(os->types));
    if (slots.count == 0 || slots.count > 256 || slots.size != 8 * slots.count)
        return vmic_fail(VMIC_E_FORMAT, "%s: xa_node.slots is not an array of pointers",
                         lx_types_source(os->types));
    idr_walk w = {.os = os, .slot_off = (uint32_t)slots.offset, .nslots = (uint32_t)slots.count,
                  .shift_off = shift.off, .pid_tasks_off = (uint32_t)tasks.offset,
                  .pid_links_off = links.off, .out = out};
    uint64_t root;
    if ((s = lx_u64(os, ns + head.off, &root)))
        return vmic_fail_wrap(s, "init_pid_ns.idr at 0x%llx", (unsigned long long)ns);
    if ((s = lx_seen_init(&w.nodes, LX_MAX_IDR_NODES)))
        return s;
    if (root && (root & 3) == 2 && root >= XA_INTERNAL_MIN)
        s = idr_node(&w, root - 2, -1, 0);
    else if (root && (root & 3) != 2)
        s = idr_leaf(&w, root); /* a tree of one entry: index 0 */
    lx_seen_free(&w.nodes);
    *npids = w.npids;
    return s;
}

/* ---- the lists ----------------------------------------------------------------- */

static vmic_status list_tasks(vmic_os *os, task_vec *leaders, task_vec *threads)
{
    vmic_status s = vmic_os_processes(os, keep_task, leaders);
    if (!s && leaders->nomem)
        s = vmic_fail(VMIC_E_NOMEM, "no memory for the task list");
    if (s)
        return s; /* its message says "task list" and where */
    for (size_t i = 0; i < leaders->n && !s; i++) {
        if (leaders->v[i].pid == 0)
            continue; /* the idle task: init_signals holds it alone */
        vmic_process_t p;
        if ((s = vmic_os_task(os, vmic_va(leaders->v[i].task), &p)))
            s = vmic_fail_wrap(s, "the leader of pid %d", (int)leaders->v[i].pid);
        else if ((s = vmic_os_threads(os, &p, keep_task, threads)))
            ; /* its message says "threads of pid N" and where */
        else if (threads->nomem)
            s = vmic_fail(VMIC_E_NOMEM, "no memory for the thread lists");
    }
    return s;
}

static int report(vmic_check_fn fn, void *arg, const task_ref *t, const char *detail)
{
    vmic_check_finding_t f;
    lx_finding_init(&f, VMIC_CHECK_HIDDEN_TASK, t->pid);
    snprintf(f.name, sizeof f.name, "%s", t->comm);
    f.addr = vmic_va(t->task);
    snprintf(f.detail, sizeof f.detail, "%s", detail);
    return fn(arg, &f);
}

vmic_status vmic_os_check_tasks(vmic_os *os, vmic_check_fn fn, void *arg, size_t *checked)
{
    task_vec leaders = {0}, threads = {0}, idr = {0};
    size_t npids = 0;
    if (checked)
        *checked = 0;
    vmic_status s = list_tasks(os, &leaders, &threads);
    if (!s)
        s = idr_tasks(os, &idr, &npids);
    if (s)
        goto out;
    if (checked)
        *checked = idr.n;
    vec_sort(&leaders);
    vec_sort(&threads);
    vec_sort(&idr);
    int stop = 0;
    char why[192];
    /* What the pid allocator knows and a list does not: hidden. */
    for (size_t i = 0; i < idr.n && !stop; i++) {
        const task_ref *t = &idr.v[i];
        bool leader = t->pid == t->tgid;
        if (leader && !vec_has(&leaders, t->task))
            stop = report(fn, arg, t, "in the pid IDR, not on the task list (init_task.tasks)");
        else if (!vec_has(&threads, t->task)) {
            snprintf(why, sizeof why, "in the pid IDR, not on the thread list of its group "
                     "(tgid %d)%s", (int)t->tgid,
                     leader ? "" : ": its leader's list misses it, or the leader is hidden");
            stop = report(fn, arg, t, why);
        }
    }
    /* What a list has and the allocator does not: a task made up or left
     * behind (the idle tasks, pid 0, have no struct pid of their own). */
    for (size_t i = 0; i < leaders.n && !stop; i++)
        if (leaders.v[i].pid != 0 && !vec_has(&idr, leaders.v[i].task))
            stop = report(fn, arg, &leaders.v[i], "on the task list, not in the pid IDR");
    for (size_t i = 0; i < threads.n && !stop; i++)
        if (threads.v[i].pid != 0 && !vec_has(&idr, threads.v[i].task) &&
            !vec_has(&leaders, threads.v[i].task))
            stop = report(fn, arg, &threads.v[i], "on a thread list, not in the pid IDR");
out:
    free(leaders.v);
    free(threads.v);
    free(idr.v);
    return s;
}
