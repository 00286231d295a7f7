/* vmic pstree: the process tree, each process under its real parent. */
#include <stdlib.h>
#include <string.h>

#include "cli_list.h"

static const cli_col cols[] = {
    {.head = "PID", .key = "pid", .type = CLI_COL_INT, .width = 6},
    {.head = "PPID", .key = "ppid", .type = CLI_COL_INT, .width = 6},
    {.head = "THR", .key = "threads", .type = CLI_COL_UINT, .width = 4},
    {.head = "TREE", .key = "tree", .type = CLI_COL_STR, .sep = "  ",
     .flags = CLI_COL_ESCAPE},
    {.key = "comm", .type = CLI_COL_STR, .flags = CLI_COL_JSON_ONLY},
    {.key = "depth", .type = CLI_COL_UINT, .flags = CLI_COL_JSON_ONLY},
    {.key = "orphan", .type = CLI_COL_BOOL, .sep = "  ", .mark = "(parent not in the tree)",
     .flags = CLI_COL_TABLE_IF_SET},
};
enum { PID, PPID, THREADS, TREE, COMM, DEPTH, ORPHAN, NCOLS };
static const unsigned char json_order[] = {PID, PPID, COMM, THREADS, DEPTH, ORPHAN, TREE};
static const cli_schema schema = {cols, NCOLS, json_order, false};

typedef struct node {
    vmic_process_t p;
    size_t first_child, next_sibling; /* indexes; SIZE_MAX: none */
    bool shown;
} node;

typedef struct by_pid {
    int32_t pid;
    size_t i;
} by_pid;

typedef struct tree {
    node *v;
    size_t n, cap;
    by_pid *index; /* sorted by pid */
} tree;

static int collect(void *arg, const vmic_process_t *p)
{
    tree *t = arg;
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        node *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return 1;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = (node){.p = *p, .first_child = SIZE_MAX, .next_sibling = SIZE_MAX};
    return 0;
}

static int cmp_pid(const void *a, const void *b)
{
    const by_pid *x = a, *y = b;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i; /* a repeated pid: list order */
}

/* The process with this pid (the first, should a forged list repeat one). */
static size_t find(const tree *t, int32_t pid)
{
    size_t lo = 0, hi = t->index ? t->n : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->index[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n && t->index && t->index[lo].pid == pid ? t->index[lo].i : SIZE_MAX;
}

static size_t parent_of(const tree *t, size_t i)
{
    const vmic_process_t *p = &t->v[i].p;
    return p->tgid == p->ppid ? SIZE_MAX : find(t, p->ppid);
}

/* Links each process under its parent, children in task-list order. A
 * process whose parent is not listed (or is itself: pid 0) is a root. Only
 * hostile memory makes parents form a loop (each parent started before its
 * child); such a loop is reached from no root and is shown after the trees,
 * from where emit() meets it, each process once. */
static void link_children(tree *t)
{
    size_t *last = malloc((t->n ? t->n : 1) * sizeof *last);
    t->index = malloc((t->n ? t->n : 1) * sizeof *t->index);
    if (!last || !t->index) {
        free(last);
        free(t->index);
        t->index = NULL;
        return; /* out of memory: every process a root of its own */
    }
    for (size_t i = 0; i < t->n; i++) {
        last[i] = SIZE_MAX;
        t->index[i] = (by_pid){t->v[i].p.tgid, i};
    }
    qsort(t->index, t->n, sizeof *t->index, cmp_pid);
    for (size_t i = 0; i < t->n; i++) {
        size_t par = parent_of(t, i);
        if (par == SIZE_MAX || par == i)
            continue;
        if (last[par] == SIZE_MAX)
            t->v[par].first_child = i;
        else
            t->v[last[par]].next_sibling = i;
        last[par] = i;
    }
    free(last);
}

/* Rows in depth-first order, with an explicit stack (a guest can make the
 * tree as deep as it has processes). */
static void emit(cli_rows *rows, tree *t, size_t root, bool orphan)
{
    size_t cap = 64, n = 0;
    size_t *stack = malloc(cap * sizeof *stack), *depth = malloc(cap * sizeof *depth);
    if (!stack || !depth)
        goto out;
    stack[n] = root;
    depth[n++] = 0;
    while (n) {
        size_t i = stack[--n], d = depth[n];
        node *x = &t->v[i];
        if (x->shown)
            continue;
        x->shown = true;
        char name[3 * 64 + VMIC_COMM_LEN + 8];
        size_t indent = d < 64 ? d : 64;
        memset(name, ' ', 2 * indent);
        snprintf(name + 2 * indent, sizeof name - 2 * indent, "%s%s", d ? "\\_ " : "", x->p.comm);
        cli_val v[NCOLS] = {
            [PID] = CLI_I(x->p.tgid), [PPID] = CLI_I(x->p.ppid), [THREADS] = CLI_U(x->p.nthreads),
            [TREE] = CLI_S(name), [COMM] = CLI_S(x->p.comm), [DEPTH] = CLI_U(d),
            [ORPHAN] = CLI_B(orphan && d == 0),
        };
        cli_rows_add(rows, v);
        /* Children pushed last-first, so the first child comes out first. */
        size_t kids = 0;
        for (size_t c = x->first_child; c != SIZE_MAX && kids <= t->n; c = t->v[c].next_sibling)
            kids++;
        if (n + kids > cap) {
            cap = 2 * (n + kids);
            size_t *s2 = realloc(stack, cap * sizeof *stack), *d2 = realloc(depth, cap * sizeof *depth);
            if (s2)
                stack = s2;
            if (d2)
                depth = d2;
            if (!s2 || !d2)
                goto out;
        }
        size_t k = n + kids;
        for (size_t c = x->first_child; c != SIZE_MAX && k > n; c = t->v[c].next_sibling) {
            stack[--k] = c;
            depth[k] = d + 1;
        }
        n += kids;
    }
out:
    free(stack);
    free(depth);
}

static vmic_status walk(cli_walk *w)
{
    tree t = {0};
    vmic_status s = vmic_os_processes(w->os, collect, &t);
    link_children(&t);
    /* Roots: pid 0, and whoever's parent is missing (then flagged). */
    for (size_t i = 0; i < t.n; i++) {
        const vmic_process_t *p = &t.v[i].p;
        /* Only pid 0 is its own parent; init and kthreadd are its children. */
        if (parent_of(&t, i) == SIZE_MAX && !t.v[i].shown)
            emit(&w->rows, &t, i, p->tgid != 0);
    }
    /* What a forged loop left unreached. */
    for (size_t i = 0; i < t.n; i++)
        if (!t.v[i].shown)
            emit(&w->rows, &t, i, true);
    free(t.v);
    free(t.index);
    return s;
}

int cmd_pstree(int argc, char **argv)
{
    static const cli_list_cmd pstree = {
        .spec = {
            .cmd = "pstree", .usage = "[OPTIONS] TARGET", .groups = CLI_G_GUEST,
            .min_operands = 1, .max_operands = 1,
            .about = "Show the guest's processes as a tree: each under its real parent\n"
                     "(task_struct.real_parent, as /proc/PID/stat's ppid), children in\n"
                     "task-list order. pid 0 (swapper) is the root of init and kthreadd;\n"
                     "a process whose parent is not in the list (or is itself, or in a\n"
                     "loop of parents, which only forged memory makes) starts a tree of\n"
                     "its own, marked. --json gives the same rows in the same order, with\n"
                     "depth and the mark as orphan.",
        },
        .schema = &schema, .walk = walk,
    };
    return cli_list(&pstree, argc, argv);
}
