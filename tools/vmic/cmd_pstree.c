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
    {.key = "orphan", .type = CLI_COL_BOOL, .sep = "  ", .mark = "(parent not listed)",
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

typedef struct tree {
    node *v;
    size_t n, cap;
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

static size_t find(const tree *t, int32_t pid)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].p.tgid == pid)
            return i;
    return SIZE_MAX;
}

/* Links each process under its parent, children in task-list order. A
 * process is its own root when its parent is not listed, is itself (pid 0)
 * or would close a loop (only hostile memory makes one: every parent
 * started before its child, so a loop can only be a forgery). */
static void link_children(tree *t)
{
    size_t *last = malloc((t->n ? t->n : 1) * sizeof *last);
    for (size_t i = 0; last && i < t->n; i++)
        last[i] = SIZE_MAX;
    for (size_t i = 0; last && i < t->n; i++) {
        size_t par = t->v[i].p.tgid == t->v[i].p.ppid ? SIZE_MAX : find(t, t->v[i].p.ppid);
        if (par == SIZE_MAX)
            continue;
        /* Walk up from the parent: reaching i again would be a loop. */
        size_t up = par;
        for (size_t steps = 0; up != SIZE_MAX && up != i && steps <= t->n; steps++) {
            const vmic_process_t *q = &t->v[up].p;
            up = q->tgid == q->ppid ? SIZE_MAX : find(t, q->ppid);
        }
        if (up == i)
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
        bool is_root = p->tgid == p->ppid || find(&t, p->ppid) == SIZE_MAX;
        if (is_root && !t.v[i].shown)
            emit(&w->rows, &t, i, p->tgid != p->ppid);
    }
    /* What a forged loop left unreached. */
    for (size_t i = 0; i < t.n; i++)
        if (!t.v[i].shown)
            emit(&w->rows, &t, i, true);
    free(t.v);
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
                     "a process whose parent is not in the list starts a tree of its own,\n"
                     "marked. --json gives the same rows in the same order, with depth.",
        },
        .schema = &schema, .walk = walk,
    };
    return cli_list(&pstree, argc, argv);
}
