/* vmic pagetable: every mapping of a root, coalesced into ranges. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli_space.h"
#include "cli_table.h"

/*
 * The default leaf budget. 2^20 leaves are 4 GiB of 4 KiB pages, more than a
 * real process or kernel maps with small pages (direct maps use 2 MiB and
 * 1 GiB ones); with --pages it is ~70 MB of text, not the terabytes that
 * four aliased tables describe.
 */
#define DEFAULT_MAX_LEAVES (1ull << 20)

static const cli_col cols[] = {
    {.key = "va", .type = CLI_COL_HEX, .digits = 16},
    {.type = CLI_COL_HEX, .digits = 16, .sep = "-"}, /* the range's last byte */
    {.key = "pa", .type = CLI_COL_HEX, .digits = 16, .sep = "  "},
    {.key = "size", .type = CLI_COL_SIZE, .width = 10, .sep = "  "},
    {.key = "access", .type = CLI_COL_STR, .sep = "  "},
    {.key = "user", .type = CLI_COL_BOOL, .mark = "u", .unmark = "k"},
    {.key = "global", .type = CLI_COL_BOOL, .mark = "g", .unmark = "-", .sep = ""},
};
enum { VA, LAST, PA, SIZE, ACCESS, USER, GLOBAL, NCOLS };
/* "virtual range" spans two columns: the heading is the command's. */
static const cli_schema schema = {cols, NCOLS, NULL, true};

typedef struct table_out {
    cli_rows rows;
    uint64_t bytes;
} table_out;

static int print_range(void *arg, const vmic_mapping_t *m)
{
    table_out *o = arg;
    char rights[4];
    o->bytes += m->size;
    cli_val v[NCOLS] = {
        [VA] = CLI_U(m->va.addr), [LAST] = CLI_U(m->va.addr + m->size - 1),
        [PA] = CLI_U(m->pa.addr), [SIZE] = CLI_U(m->size),
        [ACCESS] = CLI_S(cli_access(m->access, rights)), [USER] = CLI_B(m->user),
        [GLOBAL] = CLI_B(m->global),
    };
    cli_rows_add(&o->rows, v);
    return 0;
}

typedef struct filter {
    int only_user;
    vmic_mapping_fn next;
    void *next_arg;
} filter;

static int filter_mapping(void *arg, const vmic_mapping_t *m)
{
    filter *f = arg;
    if (f->only_user >= 0 && m->user != (f->only_user == 1))
        return 0;
    return f->next(f->next_arg, m);
}

int cmd_pagetable(int argc, char **argv)
{
    cli_common c = {0};
    bool pages = false, user = false, kernel = false;
    uint64_t max_leaves = DEFAULT_MAX_LEAVES;
    const cli_opt opts[] = {
        CLI_FLAG("pages", 0, &pages, "one line per page, no merging"),
        CLI_FLAG("user", 0, &user, "only user-accessible mappings"),
        CLI_FLAG("kernel", 0, &kernel, "only supervisor mappings"),
        CLI_U64("max-leaves", 0, "N", &max_leaves, 1, UINT64_MAX,
                "stop after N leaf mappings (default 1048576) and say\n"
                "the output was cut; hostile tables can alias each other\n"
                "into 512^4 leaves"),
        CLI_END,
    };
    const cli_spec spec = {
        .cmd = "pagetable", .usage = "[OPTIONS] TARGET", .opts = opts,
        .groups = CLI_G_MEMORY | CLI_G_SPACE, .min_operands = 1, .max_operands = 1,
        .about = "List what the page tables of --root, the vCPU's CR3 or (--pid) a process\n"
                 "map, merging neighbouring pages with the same rights into ranges. With\n"
                 "--pid under KPTI, --user lists the user PGD (what user mode runs on),\n"
                 "otherwise the process's kernel PGD.",
    };
    table_out out = {0};
    json j;
    cli_space sp;
    const char *source;
    int first, rc;

    if ((first = cli_parse(&spec, argc, argv, &c)) < 0)
        return -first;
    if (user && kernel)
        return cli_usage("pagetable", "--user and --kernel exclude each other");
    int only_user = user ? 1 : kernel ? 0 : -1;
    if ((rc = cli_space_open("pagetable", argv[first], &c, false, false, &sp)))
        return rc;
    vmic_core *core = sp.core;
    /* A process's user PGD for --user, else its kernel PGD (the same without KPTI). */
    vmic_ctx_t ctx = cli_space_ctx(&sp, only_user == 1 ? 0 : UINT64_MAX, &source);
    vmic_range_merger_t merger = {.emit = print_range, .arg = &out};
    filter f = {.only_user = only_user,
                .next = pages ? print_range : vmic_range_merger_add,
                .next_arg = pages ? (void *)&out : (void *)&merger};
    uint64_t skipped = 0;

    if (c.json) {
        json_init(&j, stdout);
        json_object_begin(&j, NULL);
        json_hex(&j, "root", ctx.root.addr);
        cli_rows_begin_in(&out.rows, &schema, &j, "mappings");
    } else {
        printf("root 0x%" PRIx64 " (%s)\n", ctx.root.addr, source);
        printf("%-33s  %-16s  %10s  %s\n", "virtual range", "physical", "size", "rights");
        cli_rows_begin(&out.rows, &schema, false);
    }
    vmic_status s = vmic_mappings(core, ctx, max_leaves, filter_mapping, &f, &skipped);
    if (!pages)
        vmic_range_merger_flush(&merger);
    /* VMIC_E_RANGE: a budget (leaves or tables) ran out, so what was printed
     * is a prefix of the mappings; say so in the output itself. */
    bool cut = s == VMIC_E_RANGE;
    cli_rows_end(&out.rows);
    uint64_t ranges = out.rows.n;
    if (c.json) {
        json_u64(&j, "skipped_entries", skipped);
        json_bool(&j, "cut", cut);
        if (cut)
            json_str(&j, "cut_reason", vmic_errmsg());
        json_object_end(&j);
        json_done(&j);
    } else {
        char size[32];
        printf("%" PRIu64 " range%s, %s mapped", ranges, ranges == 1 ? "" : "s",
               cli_size(out.bytes, size, sizeof size));
        if (skipped)
            printf(", %" PRIu64 " malformed or looping entr%s skipped", skipped,
                   skipped == 1 ? "y" : "ies");
        printf("%s\n", cut ? " (output cut: see below)" : "");
    }
    if (cut)
        rc = cli_fail("pagetable", s, "output cut after %" PRIu64 " leaves (--max-leaves)",
                      max_leaves);
    else if (s)
        rc = cli_fail("pagetable", s, "the walk stopped early");
    cli_space_close(&sp);
    return rc;
}
