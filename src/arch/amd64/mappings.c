/*
 * Enumerates every leaf mapping under a page-table root, depth first, so the
 * mappings come out in increasing va order (the lower half before the upper
 * half, whose vas are sign-extended).
 *
 * The tables are guest data and may be hostile. An entry that points back at
 * a table above it (its own table, its parent...) makes a cycle: 8 KiB of
 * guest memory would describe 512^4 leaves. Such an entry is skipped (and
 * counted with the malformed ones). Only ancestors count: one table under
 * many parents is legitimate (KASAN maps all of its shadow through one
 * zero PT), and so is the rest of the tree. That still leaves acyclic
 * aliasing (four pages, each entry pointing to the next page, map 512^4
 * leaves), so the enumeration also stops after max_leaves leaves, and after
 * MAX_TABLES table reads: aliased tables with no leaves at the bottom would
 * otherwise spin for 512^3 table reads.
 *
 * A Windows-style self-map entry is such a cycle too; what it maps is the
 * page tables themselves, already listed through the tree.
 */
#include <inttypes.h>
#include <string.h>

#include <vmic/arch.h>

#include "base/sigbus.h"
#include "paging_bits.h"

#define DEFAULT_MAX_LEAVES (1ull << 26)

/*
 * 4 GiB of page tables. A real tree is far smaller: even a 1 TiB guest with
 * a 4 KiB direct map needs 2^19 page tables, and a Windows self-map at most
 * doubles the tables visited. 2^20 reads take well under a second.
 */
#define MAX_TABLES (1ull << 20)

typedef struct enumeration {
    amd64_layout_t layout;
    vmic_pa_t root;
    vmic_table_reader read_table;
    void *ctx;
    vmic_mapping_fn fn;
    void *arg;
    uint64_t max_leaves;
    uint64_t leaves;
    uint64_t tables;
    uint64_t skipped;
    bool stopped;  /* the callback asked to stop */
    /* The table being read at each level on the current path, for the
     * ancestor check. */
    vmic_pa_t path_tables[VMIC_LEVEL_PML5 + 1];
    /*
     * One private copy of a table per level: the reader's pointer may be
     * recycled by the next read (a page cache) and a live guest may rewrite
     * the table while we recurse below it.
     */
    uint64_t copies[VMIC_LEVEL_PML5 + 1][AMD64_ENTRIES_PER_TABLE];
} enumeration_t;

/* The rights accumulated along the path from the root to a table. */
typedef struct path {
    uint64_t va;          /* va bits selected so far (not sign-extended) */
    uint64_t all_levels;  /* AND of the entries above */
    uint64_t any_level;   /* OR of the entries above */
} path_t;

static vmic_status too_many(const enumeration_t *e, const char *what, uint64_t limit)
{
    return vmic_fail(VMIC_E_RANGE,
                     "page tables under root 0x%" PRIx64 ": more than %" PRIu64
                     " %s (%" PRIu64 " leaves, %" PRIu64
                     " tables read); the tables probably alias each other",
                     e->root.addr, limit, what, e->leaves, e->tables);
}

/* p includes the leaf entry itself. */
static vmic_status emit_leaf(enumeration_t *e, unsigned level, uint64_t entry,
                             const path_t *p)
{
    if (e->leaves == e->max_leaves)
        return too_many(e, "leaves", e->max_leaves);
    e->leaves++;

    const uint64_t size = 1ull << amd64_level_shift(level);
    vmic_mapping_t m = {
        .va = vmic_va(amd64_sign_extend(p->va, e->layout.va_bits)),
        .pa = vmic_pa(entry & e->layout.addr_mask & ~(size - 1)),
        .size = size,
        .access = amd64_access(p->all_levels, p->any_level),
        .user = (p->all_levels & VMIC_PTE_US) != 0,
        .global = (entry & VMIC_PTE_G) != 0,
    };
    if (e->fn(e->arg, &m) != 0)
        e->stopped = true;
    return VMIC_OK;
}

/* Whether table is one of those on the path from the root down to level
 * `from` (inclusive): descending into it would loop. */
static bool is_ancestor(const enumeration_t *e, unsigned from, vmic_pa_t table)
{
    for (unsigned level = from; level <= e->layout.top_level; level++)
        if (e->path_tables[level].addr == table.addr)
            return true;
    return false;
}

static vmic_status visit_table(enumeration_t *e, unsigned level, vmic_pa_t table,
                               const path_t *above)
{
    const uint64_t *entries = e->read_table(e->ctx, table);
    if (!entries) {
        e->skipped++;
        return VMIC_OK;
    }
    if (e->tables == MAX_TABLES)
        return too_many(e, "tables", MAX_TABLES);
    e->tables++;
    e->path_tables[level] = table;

    uint64_t *copy = e->copies[level];
    uint64_t fault;
    const char *file;
    if (!vmic_guarded_copy(copy, entries, sizeof e->copies[level], &fault, &file))
        return vmic_fail(VMIC_E_IO, "%s: the file shrank while vmic had it mapped: the %s "
                         "table at pa 0x%" PRIx64 " faulted at file offset 0x%" PRIx64, file,
                         vmic_level_name((int)level), table.addr, fault);
    const unsigned shift = amd64_level_shift(level);

    for (unsigned index = 0; index < AMD64_ENTRIES_PER_TABLE; index++) {
        const uint64_t entry = copy[index];
        if (!(entry & VMIC_PTE_P))
            continue;
        if (amd64_reserved_set(&e->layout, level, entry)) {
            e->skipped++;
            continue;
        }

        const path_t here = {
            .va = above->va | ((uint64_t)index << shift),
            .all_levels = above->all_levels & entry,
            .any_level = above->any_level | entry,
        };
        vmic_status status;
        const vmic_pa_t child = vmic_pa(entry & e->layout.addr_mask);
        if ((entry & VMIC_PTE_PS) || level == VMIC_LEVEL_PT) {
            status = emit_leaf(e, level, entry, &here);
        } else if (is_ancestor(e, level, child)) {
            e->skipped++;
            continue;
        } else {
            status = visit_table(e, level - 1, child, &here);
        }
        if (status != VMIC_OK || e->stopped)
            return status;
    }
    return VMIC_OK;
}

vmic_status vmic_amd64_mappings(const vmic_paging_t *pg, vmic_pa_t root,
                                vmic_table_reader read_table, void *ctx,
                                uint64_t max_leaves, vmic_mapping_fn fn, void *arg,
                                uint64_t *skipped)
{
    if (skipped)
        *skipped = 0;
    if (!pg || !read_table || !fn)
        return vmic_fail(VMIC_E_INVAL, "page-table enumeration: missing %s",
                         !pg ? "paging config" : !read_table ? "table reader" : "callback");

    /* 20 KiB of table copies on the stack: static storage would not be
     * thread-safe and the heap would add a failure mode for nothing. */
    enumeration_t e = {
        .layout = amd64_layout(pg),
        .root = root,
        .read_table = read_table,
        .ctx = ctx,
        .fn = fn,
        .arg = arg,
        .max_leaves = max_leaves ? max_leaves : DEFAULT_MAX_LEAVES,
    };
    const vmic_pa_t top_table = vmic_pa(root.addr & e.layout.addr_mask);
    if (!read_table(ctx, top_table))
        return vmic_fail(VMIC_E_UNMAPPED,
                         "page-table enumeration: %s table at pa 0x%" PRIx64
                         " (root 0x%" PRIx64 ") is outside guest memory",
                         vmic_level_name((int)e.layout.top_level), top_table.addr, root.addr);

    const path_t top = { .va = 0, .all_levels = ~0ull, .any_level = 0 };
    const vmic_status status = visit_table(&e, e.layout.top_level, top_table, &top);
    if (skipped)
        *skipped = e.skipped;
    return status;
}
