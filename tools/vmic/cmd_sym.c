/* vmic sym: kernel symbols by name or address. */
#include <inttypes.h>
#include <string.h>

#include "cli_os.h"

static const char help[] =
    "usage: vmic sym [OPTIONS] TARGET NAME|ADDR...\n"
    "       vmic sym --all [OPTIONS] TARGET\n\n"
    "Look kernel symbols up: a NAME gives its address, an ADDR (a number)\n"
    "gives the symbol at or below it and the offset (name+0x10). --all lists\n"
    "every symbol as /proc/kallsyms does. Exits 1 if any lookup fails.\n\n"
    "Options:\n"
    "      --all           list every symbol\n" CLI_COMMON_HELP CLI_OS_HELP;

static bool is_number(const char *s)
{
    uint64_t v;
    return cli_parse_u64(s, &v);
}

int cmd_sym(int argc, char **argv)
{
    cli_os_opts o;
    vmic_core *core;
    vmic_os *os;
    bool all = false;
    /* --all is this command's own; take it out before the common parser. */
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--all") == 0)
            all = true;
        else
            argv[n++] = argv[i];
    }
    argc = n;
    int rc = cli_os_parse("sym", argc, argv, help, &o);
    if (rc >= 0)
        return rc;
    if (argc - optind < (all ? 1 : 2) || (all && argc - optind != 1))
        return cli_usage("sym", all ? "--all takes only TARGET" : "needs TARGET and a NAME or ADDR");
    if ((rc = cli_os_open("sym", argv[optind], &o, &core, &os)))
        return rc;
    json j;
    json_init(&j, stdout);
    if (o.c.json)
        json_array_begin(&j, NULL);
    if (all) {
        size_t count = vmic_os_symbol_count(os);
        for (size_t i = 0; i < count; i++) {
            vmic_symbol_t s;
            if (vmic_os_symbol_get(os, i, &s)) {
                rc = cli_fail("sym", VMIC_E_FORMAT, NULL);
                break;
            }
            if (o.c.json) {
                char t[2] = {s.type, 0};
                json_object_begin(&j, NULL);
                json_str(&j, "name", s.name);
                json_hex(&j, "addr", s.addr.addr);
                json_str(&j, "type", t);
                json_object_end(&j);
            } else {
                printf("%016" PRIx64 " %c %s\n", s.addr.addr, s.type, s.name);
            }
        }
    }
    for (int i = optind + 1; i < argc; i++) {
        const char *q = argv[i];
        vmic_status s;
        if (is_number(q)) {
            uint64_t a, off = 0;
            vmic_symbol_t sym;
            cli_parse_u64(q, &a);
            s = vmic_os_symbol_at(os, vmic_va(a), &sym, &off);
            if (s) {
                rc = cli_fail("sym", s, NULL);
                continue;
            }
            if (o.c.json) {
                char t[2] = {sym.type, 0};
                json_object_begin(&j, NULL);
                json_hex(&j, "query", a);
                json_str(&j, "name", sym.name);
                json_hex(&j, "addr", sym.addr.addr);
                json_u64(&j, "offset", off);
                json_str(&j, "type", t);
                json_object_end(&j);
            } else if (off) {
                printf("%016" PRIx64 " %s+0x%" PRIx64 "\n", a, sym.name, off);
            } else {
                printf("%016" PRIx64 " %s\n", a, sym.name);
            }
        } else {
            vmic_va_t a;
            s = vmic_os_symbol(os, q, &a);
            if (s) {
                rc = cli_fail("sym", s, NULL);
                continue;
            }
            if (o.c.json) {
                json_object_begin(&j, NULL);
                json_str(&j, "name", q);
                json_hex(&j, "addr", a.addr);
                json_object_end(&j);
            } else {
                printf("%016" PRIx64 " %s\n", a.addr, q);
            }
        }
    }
    if (o.c.json) {
        json_array_end(&j);
        json_done(&j);
    }
    cli_os_close(core, os);
    return rc;
}
