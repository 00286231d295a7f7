/* vmic pagetable: every mapping of a root, coalesced into ranges. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli_space.h"

/*
 * The default leaf budget. 2^20 leaves are 4 GiB of 4 KiB pages, more than a
 * real process or kernel maps with small pages (direct maps use 2 MiB and
 * 1 GiB ones); with --pages it is ~70 MB of text, not the terabytes that
 * four aliased tables describe.
 */
#define DEFAULT_MAX_LEAVES (1ull << 20)

typedef struct table_out {
    bool json;
    int only_user;  /* -1 all, 0 kernel, 1 user */
    json j;
    uint64_t ranges, bytes;
} table_out;

static int print_range(void *arg, const vmic_mapping_t *m)
{
    table_out *o = arg;
    char rights[4], size[32];

    o->ranges++;
    o->bytes += m->size;
    if (o->json) {
        json_object_begin(&o->j, NULL);
        json_hex(&o->j, "va", m->va.addr);
        json_hex(&o->j, "pa", m->pa.addr);
        json_u64(&o->j, "size", m->size);
        json_str(&o->j, "access", cli_access(m->access, rights));
        json_bool(&o->j, "user", m->user);
        json_bool(&o->j, "global", m->global);
        json_object_end(&o->j);
        return 0;
    }
    printf("%016" PRIx64 "-%016" PRIx64 "  %016" PRIx64 "  %10s  %s %c%c\n", m->va.addr,
           m->va.addr + m->size - 1, m->pa.addr, cli_size(m->size, size, sizeof size),
           cli_access(m->access, rights), m->user ? 'u' : 'k', m->global ? 'g' : '-');
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
    out.only_user = only_user;

    out.json = c.json;
    vmic_range_merger_t merger = {.emit = print_range, .arg = &out};
    filter f = {.only_user = out.only_user,
                .next = pages ? print_range : vmic_range_merger_add,
                .next_arg = pages ? (void *)&out : (void *)&merger};
    uint64_t skipped = 0;

    if (out.json) {
        json_init(&out.j, stdout);
        json_object_begin(&out.j, NULL);
        json_hex(&out.j, "root", ctx.root.addr);
        json_array_begin(&out.j, "mappings");
    } else {
        printf("root 0x%" PRIx64 " (%s)\n", ctx.root.addr, source);
        printf("%-33s  %-16s  %10s  %s\n", "virtual range", "physical", "size", "rights");
    }
    vmic_status s = vmic_mappings(core, ctx, max_leaves, filter_mapping, &f, &skipped);
    if (!pages)
        vmic_range_merger_flush(&merger);
    /* VMIC_E_RANGE: a budget (leaves or tables) ran out, so what was printed
     * is a prefix of the mappings; say so in the output itself. */
    bool cut = s == VMIC_E_RANGE;
    if (out.json) {
        json_array_end(&out.j);
        json_u64(&out.j, "skipped_entries", skipped);
        json_bool(&out.j, "cut", cut);
        if (cut)
            json_str(&out.j, "cut_reason", vmic_errmsg());
        json_object_end(&out.j);
        json_done(&out.j);
    } else {
        char size[32];
        printf("%" PRIu64 " range%s, %s mapped", out.ranges, out.ranges == 1 ? "" : "s",
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
