/*
 * Shared credentials. A rootkit that gives a process root often does it the
 * cheap way: it points the task's cred (and real_cred) at a struct cred of
 * root it did not make, init_cred or another root task's, instead of going
 * through prepare_creds/commit_creds. The kernel shares a cred between
 * tasks only where it says so:
 *   - copy_creds (kernel/cred.c) shares the parent's cred with a new task
 *     only for CLONE_THREAD (a thread of the same group, while the group has
 *     no thread keyring); any other child gets prepare_creds' copy, kernel
 *     threads (forked by kthreadd) and io_uring workers (CLONE_THREAD) too;
 *   - a task's cred and real_cred may be one object or two (an
 *     override_creds in progress), both its own;
 *   - init_cred is init_task's, so the idle tasks' (pid 0, one per CPU);
 *     prepare_kernel_cred makes copies of it, never hands it out.
 * So a struct cred held by tasks of two different thread groups is a
 * finding, and so is init_cred held by any task but the idle ones. The
 * fixtures' guests agree: on their clean dumps no cred is held by two
 * thread groups and only pid 0 holds init_cred.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_internal.h"

typedef struct cred_ref {
    uint64_t cred;
    int32_t pid, tgid;
    char comm[VMIC_COMM_LEN + 1];
} cred_ref;

typedef struct cred_vec {
    vmic_os *os;
    cred_ref *v;
    size_t n, cap, tasks;
    bool nomem;
    vmic_status s; /* a thread list that could not be read */
} cred_vec;

static void add(cred_vec *cv, uint64_t cred, const vmic_process_t *p)
{
    if (!cred)
        return;
    if (cv->n == cv->cap) {
        size_t cap = cv->cap ? cv->cap * 2 : 256;
        cred_ref *v = realloc(cv->v, cap * sizeof *v);
        if (!v) {
            cv->nomem = true;
            return;
        }
        cv->v = v;
        cv->cap = cap;
    }
    cred_ref *r = &cv->v[cv->n++];
    r->cred = cred;
    r->pid = p->pid;
    r->tgid = p->tgid;
    memcpy(r->comm, p->comm, sizeof r->comm);
}

static int keep_thread(void *arg, const vmic_process_t *p)
{
    cred_vec *cv = arg;
    const lx_task_off *t = &cv->os->t;
    uint64_t cred = 0, real = 0;
    if (t->cred.ok && lx_u64(cv->os, p->task.addr + t->cred.off, &cred) != VMIC_OK)
        cred = 0;
    if (t->real_cred.ok && lx_u64(cv->os, p->task.addr + t->real_cred.off, &real) != VMIC_OK)
        real = 0;
    vmic_clear_error();
    cv->tasks++;
    add(cv, cred, p);
    if (real != cred)
        add(cv, real, p);
    return cv->nomem;
}

static int keep_group(void *arg, const vmic_process_t *p)
{
    cred_vec *cv = arg;
    if (p->pid == 0)
        return keep_thread(arg, p); /* the idle task: init_signals is its own */
    vmic_status s = vmic_os_threads(cv->os, p, keep_thread, cv);
    if (s) {
        cv->s = s; /* its message says "threads of pid N" and where */
        return 1;
    }
    return cv->nomem;
}

static int by_cred(const void *a, const void *b)
{
    const cred_ref *x = a, *y = b;
    if (x->cred != y->cred)
        return x->cred < y->cred ? -1 : 1;
    return x->tgid < y->tgid ? -1 : x->tgid > y->tgid;
}

static int report(vmic_check_fn fn, void *arg, const cred_ref *r, const char *detail)
{
    vmic_check_finding_t f;
    lx_finding_init(&f, VMIC_CHECK_SHARED_CRED, r->pid);
    snprintf(f.name, sizeof f.name, "%s", r->comm);
    f.addr = vmic_va(r->cred);
    snprintf(f.detail, sizeof f.detail, "%s", detail);
    return fn(arg, &f);
}

vmic_status vmic_os_check_creds(vmic_os *os, vmic_check_fn fn, void *arg, size_t *checked)
{
    vmic_status s;
    uint64_t init_cred;
    if (checked)
        *checked = 0;
    uint64_t idle;
    vmic_process_t p0;
    /* vmic_os_task sets up the task walks (offsets and buffer) on first use. */
    if ((s = lx_need_sym(os, "init_cred", &init_cred)) ||
        (s = lx_need_sym(os, "init_task", &idle)) ||
        (s = vmic_os_task(os, vmic_va(idle), &p0)))
        return vmic_fail_wrap(s, "checking credentials");
    if (!os->t.cred.ok && !os->t.real_cred.ok)
        return vmic_fail(VMIC_E_UNSUPPORTED, "%s: task_struct has no cred: credentials cannot "
                         "be checked", lx_types_source(os->types));
    cred_vec cv = {.os = os};
    /* keep_group walks each group's threads from inside the task-list
     * walk: both read guest memory afresh, neither keeps a pointer across. */
    s = vmic_os_processes(os, keep_group, &cv);
    if (!s)
        s = cv.s;
    if (!s && cv.nomem)
        s = vmic_fail(VMIC_E_NOMEM, "no memory for the tasks' credentials");
    if (s) {
        free(cv.v);
        return vmic_fail_wrap(s, "checking credentials");
    }
    if (checked)
        *checked = cv.tasks;
    if (cv.n)
        qsort(cv.v, cv.n, sizeof *cv.v, by_cred);
    int stop = 0;
    for (size_t i = 0; i < cv.n && !stop;) {
        size_t j = i + 1, groups = 1;
        while (j < cv.n && cv.v[j].cred == cv.v[i].cred) {
            groups += cv.v[j].tgid != cv.v[j - 1].tgid;
            j++;
        }
        if (cv.v[i].cred == init_cred) {
            /* Sorted by tgid: the idle tasks (0) first, then one row per
             * other group that holds it. */
            for (size_t k = i; k < j && !stop; k++)
                if (cv.v[k].tgid != 0 && (k == i || cv.v[k].tgid != cv.v[k - 1].tgid))
                    stop = report(fn, arg, &cv.v[k], "holds init_cred, the idle tasks' own "
                                  "(the kernel gives every other task a copy)");
        } else if (groups > 1) {
            /* The first and last hold it in different thread groups. */
            const cred_ref *a = &cv.v[i], *b = &cv.v[j - 1];
            char why[192];
            snprintf(why, sizeof why, "struct cred held by %zu thread groups: pid %d (%s) "
                     "shares it with pid %d (%s)", groups, (int)b->pid, b->comm, (int)a->pid,
                     a->comm);
            stop = report(fn, arg, b, why);
        }
        i = j;
    }
    free(cv.v);
    return VMIC_OK;
}
