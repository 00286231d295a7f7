/* vmic pagetable: every mapping of a root, coalesced into ranges. */
#include <inttypes.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: vmic pagetable [OPTIONS] TARGET\n\n"
    "List what the page tables of --root (or the vCPU's CR3) map, merging\n"
    "neighbouring pages with the same rights into ranges.\n\n"
    "Options:\n"
    "      --pages         one line per page, no merging\n"
    "      --user          only user-accessible mappings\n"
    "      --kernel        only supervisor mappings\n" CLI_COMMON_HELP;

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

typedef struct pagetable_opts {
    bool pages;
    int only_user;
} pagetable_opts;

static int pagetable_option(void *arg, int opt, const char *value)
{
    pagetable_opts *o = arg;
    switch (opt) {
    case 'P': o->pages = true; return 0;
    case 'u': o->only_user = 1; return 0;
    case 'k': o->only_user = 0; return 0;
    }
    return cli_usage("pagetable", "bad option");
}

int cmd_pagetable(int argc, char **argv)
{
    static const struct option own[] = {
        {"pages", no_argument, NULL, 'P'},
        {"user", no_argument, NULL, 'u'},
        {"kernel", no_argument, NULL, 'k'},
        {0}};
    cli_common c = {0};
    pagetable_opts o = {.only_user = -1};
    table_out out = {0};
    vmic_core *core;
    vmic_ctx_t ctx;
    const char *source;
    int first, rc;

    if ((first = cli_parse("pagetable", help, argc, argv, own, NULL, pagetable_option, &o, &c, 1,
                           1)) < 0)
        return -first;
    if ((rc = cli_open_ctx("pagetable", argv[first], &c, &core, &ctx, &source)))
        return rc;
    bool pages = o.pages;
    out.only_user = o.only_user;

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
    vmic_status s = vmic_mappings(core, ctx, 0, filter_mapping, &f, &skipped);
    if (!pages)
        vmic_range_merger_flush(&merger);
    if (out.json) {
        json_array_end(&out.j);
        json_u64(&out.j, "skipped_entries", skipped);
        json_object_end(&out.j);
        json_done(&out.j);
    } else {
        char size[32];
        printf("%" PRIu64 " range%s, %s mapped", out.ranges, out.ranges == 1 ? "" : "s",
               cli_size(out.bytes, size, sizeof size));
        if (skipped)
            printf(", %" PRIu64 " malformed entr%s skipped", skipped, skipped == 1 ? "y" : "ies");
        printf("\n");
    }
    if (s)
        rc = cli_fail("pagetable", s, "the walk stopped early");
    vmic_core_close(core);
    return rc;
}
