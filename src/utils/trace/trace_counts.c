/*
 * The summary: calls (and errors) per syscall, and per process (by tgid)
 * its calls, forks, execs and exits, of the events that passed the
 * filters. At most TRACE_MAX_PROCESSES processes get a row of their own;
 * later ones are not counted per process (a guest forking without end
 * cannot grow the table).
 */
#include <stdlib.h>
#include <string.h>

#include "trace_internal.h"

static process_row *process_of(vmic_tracer *t, const vmic_trace_task_t *who)
{
    for (size_t i = 0; i < t->nprocs; i++)
        if (t->procs[i].tgid == who->tgid)
            return &t->procs[i];
    if (t->nprocs == TRACE_MAX_PROCESSES)
        return NULL;
    process_row *r = &t->procs[t->nprocs++];
    memset(r, 0, sizeof *r);
    r->tgid = who->tgid;
    return r;
}

void count_event(vmic_tracer *t, const vmic_trace_event_t *ev)
{
    process_row *pr = process_of(t, &ev->task);
    if (pr)
        memcpy(pr->comm, ev->task.comm, sizeof pr->comm); /* the latest name it had */
    switch (ev->kind) {
    case VMIC_TRACE_SYSCALL: {
        size_t i = ev->syscall.nr < t->nsyscalls ? ev->syscall.nr : t->nsyscalls;
        bool error = ev->syscall.returned && ev->syscall.ret < 0 && ev->syscall.ret >= -4095;
        t->counts[i].calls++;
        t->counts[i].errors += error;
        if (pr) {
            pr->calls++;
            pr->errors += error;
        }
        break;
    }
    case VMIC_TRACE_FORK:
        if (pr)
            pr->forks++;
        break;
    case VMIC_TRACE_EXEC:
        if (pr)
            pr->execs++;
        break;
    case VMIC_TRACE_EXIT:
        if (pr)
            pr->exits++;
        break;
    }
}

static int by_calls(const void *a, const void *b)
{
    const vmic_trace_count_t *x = a, *y = b;
    if (x->calls != y->calls)
        return x->calls < y->calls ? 1 : -1;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return x->nr < y->nr ? -1 : x->nr > y->nr;
}

/* Sorts rows[0..n) and copies the first max into out. */
static size_t deliver(vmic_trace_count_t *rows, size_t n, vmic_trace_count_t *out, size_t max)
{
    qsort(rows, n, sizeof *rows, by_calls);
    if (out)
        memcpy(out, rows, (n < max ? n : max) * sizeof *rows);
    free(rows);
    return n;
}

size_t vmic_tracer_syscall_counts(const vmic_tracer *t, vmic_trace_count_t *out, size_t max)
{
    vmic_trace_count_t *rows = calloc(t->nsyscalls + 1, sizeof *rows);
    size_t n = 0;
    if (!rows)
        return 0;
    for (size_t i = 0; i <= t->nsyscalls; i++) {
        if (!t->counts[i].calls)
            continue;
        rows[n].nr = (uint32_t)i;
        rows[n].name = i < t->nsyscalls ? t->table[i].name : "(past the table)";
        rows[n].calls = t->counts[i].calls;
        rows[n].errors = t->counts[i].errors;
        n++;
    }
    return deliver(rows, n, out, max);
}

size_t vmic_tracer_process_counts(const vmic_tracer *t, vmic_trace_count_t *out, size_t max)
{
    vmic_trace_count_t *rows = calloc(t->nprocs + 1, sizeof *rows);
    if (!rows)
        return 0;
    for (size_t i = 0; i < t->nprocs; i++) {
        const process_row *p = &t->procs[i];
        rows[i] = (vmic_trace_count_t){.pid = p->tgid, .name = p->comm, .calls = p->calls,
                                       .errors = p->errors, .forks = p->forks,
                                       .execs = p->execs, .exits = p->exits};
    }
    return deliver(rows, t->nprocs, out, max);
}

void vmic_tracer_stats(const vmic_tracer *t, vmic_trace_stats_t *out)
{
    *out = t->stats;
}
