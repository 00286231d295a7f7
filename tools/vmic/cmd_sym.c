/* vmic sym: kernel symbols by name or address. */
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include "cli_os.h"
#include "cli_table.h"

static bool all_symbols; /* --all */

static const cli_opt opts[] = {
    CLI_FLAG("all", 0, &all_symbols, "list every symbol"),
    CLI_END,
};

static const cli_spec spec = {
    .cmd = "sym", .usage = "[OPTIONS] TARGET NAME|ADDR...\n       vmic sym --all [OPTIONS] TARGET",
    .groups = CLI_G_GUEST, .opts = opts, .min_operands = 1, .max_operands = INT_MAX,
    .about =
        "Look symbols of the kernel and its loaded modules up. A NAME gives its\n"
        "address: the kernel's own symbol first, then the first module's that has\n"
        "it; MODULE:NAME looks in that module only. An ADDR (a number) gives the\n"
        "symbol at or below it and the offset, with the module in brackets\n"
        "(uni2char+0x10 [nls_cp437]), when ADDR lies in the kernel image, its\n"
        "per-CPU area or a module's memory; anywhere else there is no symbol.\n"
        "--all lists every symbol as /proc/kallsyms does, modules last.\n"
        "Exits 1 if any lookup fails.",
};

/* --all, as /proc/kallsyms lists them. */
static const cli_col cols[] = {
    {.key = "addr", .type = CLI_COL_HEX, .digits = 16},
    {.key = "type", .type = CLI_COL_STR},
    {.key = "name", .type = CLI_COL_STR},
    {.key = "module", .type = CLI_COL_STR, .sep = "\t",
     .flags = CLI_COL_BRACKETS | CLI_COL_TABLE_IF_SET | CLI_COL_JSON_IF_SET},
};
enum { ADDR, TYPE, NAME, MODULE, NCOLS };
static const unsigned char json_order[] = {NAME, ADDR, TYPE, MODULE};
static const cli_schema schema = {cols, NCOLS, json_order, true};

static bool is_number(const char *s)
{
    uint64_t v;
    return cli_parse_u64(s, &v);
}

static void print_symbol(cli_rows *rows, const vmic_symbol_t *s)
{
    char type[2] = {s->type, 0};
    cli_val v[NCOLS] = {[ADDR] = CLI_U(s->addr.addr), [TYPE] = CLI_S(type), [NAME] = CLI_S(s->name),
                        [MODULE] = CLI_S(s->module)};
    cli_rows_add(rows, v);
}

/* Every symbol: the kernel's, then the modules', as /proc/kallsyms. */
static int list_all(vmic_os *os, cli_rows *rows)
{
    size_t count = vmic_os_symbol_count(os), nmod = 0, bad = 0;
    vmic_symbol_t s;
    vmic_status st;
    for (size_t i = 0; i < count; i++) {
        /* A name that does not decode costs that symbol, not the list. */
        if ((st = vmic_os_symbol_get(os, i, &s)) == VMIC_E_FORMAT) {
            if (bad++ == 0)
                fprintf(stderr, "vmic sym: %s (skipped)\n", vmic_errmsg());
            continue;
        }
        if (st)
            return cli_fail("sym", st, "kernel symbol %zu", i);
        print_symbol(rows, &s);
    }
    if (bad)
        fprintf(stderr, "vmic sym: %zu of %zu kernel symbols skipped: their names do not "
                "decode\n", bad, count);
    vmic_status modules = vmic_os_module_symbols(os, &nmod);
    for (size_t i = 0; i < nmod; i++) {
        if ((st = vmic_os_module_symbol_get(os, i, &s)))
            return cli_fail("sym", st, "module symbol %zu", i);
        print_symbol(rows, &s);
    }
    if (modules)
        return cli_fail("sym", modules, "incomplete: %zu module symbols shown, then", nmod);
    return EXIT_OK;
}

static int lookup_failed(json *j, bool as_json, const char *query, vmic_status s)
{
    return cli_query_failed("sym", j, as_json, query, s);
}

static int by_address(vmic_os *os, json *j, bool as_json, const char *q, uint64_t a)
{
    uint64_t off = 0;
    vmic_symbol_t sym;
    vmic_status s = vmic_os_symbol_at(os, vmic_va(a), &sym, &off);
    if (s)
        return lookup_failed(j, as_json, q, s);
    if (as_json) {
        char t[2] = {sym.type, 0};
        json_object_begin(j, NULL);
        json_hex(j, "query", a);
        json_str(j, "name", sym.name);
        json_hex(j, "addr", sym.addr.addr);
        json_u64(j, "offset", off);
        json_str(j, "type", t);
        if (sym.module)
            json_str(j, "module", sym.module);
        json_object_end(j);
        return EXIT_OK;
    }
    printf("%016" PRIx64 " %s", a, sym.name);
    if (off)
        printf("+0x%" PRIx64, off);
    if (sym.module)
        printf(" [%s]", sym.module);
    putchar('\n');
    return EXIT_OK;
}

static int by_name(vmic_os *os, json *j, bool as_json, const char *q)
{
    vmic_va_t a;
    vmic_status s = vmic_os_symbol(os, q, &a);
    if (s)
        return lookup_failed(j, as_json, q, s);
    /* Which module it is in, when it is a module's. */
    vmic_symbol_t at;
    uint64_t off = 1;
    const char *module = NULL;
    if (vmic_os_symbol_at(os, a, &at, &off) == VMIC_OK && off == 0)
        module = at.module;
    vmic_clear_error();
    if (as_json) {
        json_object_begin(j, NULL);
        json_str(j, "name", q);
        json_hex(j, "addr", a.addr);
        if (module)
            json_str(j, "module", module);
        json_object_end(j);
    } else if (module) {
        printf("%016" PRIx64 " %s [%s]\n", a.addr, q, module);
    } else {
        printf("%016" PRIx64 " %s\n", a.addr, q);
    }
    return EXIT_OK;
}

int cmd_sym(int argc, char **argv)
{
    cli_common o = {0};
    vmic_core *core;
    vmic_os *os;
    int rc, first = cli_parse(&spec, argc, argv, &o);
    if (first < 0)
        return -first;
    if (all_symbols ? argc - first != 1 : argc - first < 2)
        return cli_usage("sym", all_symbols ? "--all takes only TARGET"
                                            : "needs TARGET and a NAME or ADDR");
    if ((rc = cli_os_open("sym", argv[first], &o, &core, &os)))
        return rc;
    if (all_symbols) {
        cli_rows rows;
        cli_rows_begin(&rows, &schema, o.json);
        rc = list_all(os, &rows);
        cli_rows_end(&rows);
        cli_os_close(core, os);
        return rc;
    }
    json j;
    json_init(&j, stdout);
    if (o.json)
        json_array_begin(&j, NULL);
    for (int i = first + 1; i < argc; i++) {
        uint64_t a;
        int one = is_number(argv[i]) && cli_parse_u64(argv[i], &a)
                      ? by_address(os, &j, o.json, argv[i], a)
                      : by_name(os, &j, o.json, argv[i]);
        if (one)
            rc = one;
    }
    if (o.json) {
        json_array_end(&j);
        json_done(&j);
    }
    cli_os_close(core, os);
    return rc;
}
