/* vmic translate: one virtual address, the page walk level by level. */
#include <inttypes.h>
#include <string.h>

#include "cli_space.h"

static void entry_flags(uint64_t e, int level, char *buf, size_t size)
{
    /* D and G mean something only in the entry that maps the page. */
    bool leaf = level == VMIC_LEVEL_PT ||
                ((level == VMIC_LEVEL_PD || level == VMIC_LEVEL_PDPT) && (e & VMIC_PTE_PS));
    snprintf(buf, size, "%s%s%s%s%s%s%s%s", e & VMIC_PTE_P ? "P" : "-",
             e & VMIC_PTE_RW ? " RW" : " RO", e & VMIC_PTE_US ? " US" : " S",
             e & VMIC_PTE_A ? " A" : "", leaf && (e & VMIC_PTE_D) ? " D" : "",
             leaf && level != VMIC_LEVEL_PT ? " PS" : "", leaf && (e & VMIC_PTE_G) ? " G" : "",
             e & VMIC_PTE_NX ? " NX" : "");
}

static void print_walk(const vmic_translation_t *t, vmic_ctx_t ctx, const char *source,
                       const vmic_paging_t *pg)
{
    char flags[48], size[32], rights[4];

    printf("va 0x%016" PRIx64 "  root 0x%" PRIx64 " (%s), %d-level\n", t->va.addr,
           ctx.root.addr, source, (int)pg->mode);
    for (unsigned i = 0; i < t->nsteps; i++) {
        const vmic_walk_step_t *st = &t->steps[i];
        char name[16];
        entry_flags(st->entry, st->level, flags, sizeof flags);
        snprintf(name, sizeof name, "%s[%u]", vmic_level_name(st->level), st->index);
        printf("  %-10s @ pa 0x%012" PRIx64 " = 0x%016" PRIx64 "  %s\n", name,
               st->table.addr + 8u * st->index, st->entry, flags);
    }
    if (t->fault == VMIC_WALK_OK) {
        printf("  -> pa 0x%016" PRIx64 "  %s page  %s %s%s\n", t->pa.addr,
               cli_size(t->page_size, size, sizeof size), cli_access(t->access, rights),
               t->user ? "user" : "kernel", t->global ? " global" : "");
    } else {
        char why[256];
        vmic_walk_describe(t, why, sizeof why);
        printf("  -> fault: %s\n", why);
    }
}

static void json_walk(json *j, const vmic_translation_t *t, vmic_ctx_t ctx)
{
    char rights[4];

    json_object_begin(j, NULL);
    json_hex(j, "va", t->va.addr);
    json_hex(j, "root", ctx.root.addr);
    json_array_begin(j, "steps");
    for (unsigned i = 0; i < t->nsteps; i++) {
        const vmic_walk_step_t *st = &t->steps[i];
        json_object_begin(j, NULL);
        json_str(j, "level", vmic_level_name(st->level));
        json_u64(j, "index", st->index);
        json_hex(j, "entry_pa", st->table.addr + 8u * st->index);
        json_hex(j, "entry", st->entry);
        json_object_end(j);
    }
    json_array_end(j);
    if (t->fault == VMIC_WALK_OK) {
        json_hex(j, "pa", t->pa.addr);
        json_u64(j, "page_size", t->page_size);
        json_str(j, "access", cli_access(t->access, rights));
        json_bool(j, "user", t->user);
        json_bool(j, "global", t->global);
    } else {
        char why[256];
        vmic_walk_describe(t, why, sizeof why);
        json_str(j, "fault", vmic_walk_fault_name(t->fault));
        json_str(j, "fault_level", vmic_level_name(t->fault_level));
        json_str(j, "error", why);
    }
    json_object_end(j);
}

int cmd_translate(int argc, char **argv)
{
    static const cli_spec spec = {
        .cmd = "translate", .usage = "[OPTIONS] TARGET VA...",
        .groups = CLI_G_MEMORY | CLI_G_SPACE, .min_operands = 2, .max_operands = INT32_MAX,
        .about = "Translate each virtual address VA through the page tables of --root, the\n"
                 "vCPU's CR3 or (--pid) a process's, and show every entry the walk read,\n"
                 "with its flags. VA may be a kernel or module symbol. Exits 1 if any\n"
                 "address does not translate.",
    };
    cli_common c = {0};
    cli_space sp;
    int first, rc;

    if ((first = cli_parse(&spec, argc, argv, &c)) < 0)
        return -first;
    bool symbols = false;
    for (int i = first + 1; i < argc; i++) {
        uint64_t va;
        symbols |= !cli_parse_u64(argv[i], &va);
    }
    if ((rc = cli_space_open("translate", argv[first], &c, symbols, false, &sp)))
        return rc;

    vmic_paging_t pg = vmic_core_paging(sp.core);
    json j;
    json_init(&j, stdout);
    if (c.json)
        json_array_begin(&j, NULL);
    for (int i = first + 1; i < argc; i++) {
        uint64_t va;
        const char *source;
        vmic_translation_t t;
        if (cli_space_address("translate", &sp, argv[i], &va)) {
            rc = EXIT_FAIL;
            continue;
        }
        vmic_ctx_t ctx = cli_space_ctx(&sp, va, &source);
        if (vmic_translate_walk(sp.core, ctx, vmic_va(va), &t) != VMIC_OK)
            rc = EXIT_FAIL;
        if (c.json)
            json_walk(&j, &t, ctx);
        else
            print_walk(&t, ctx, source, &pg);
    }
    if (c.json) {
        json_array_end(&j);
        json_done(&j);
    }
    cli_space_close(&sp);
    return rc;
}
