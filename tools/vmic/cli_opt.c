#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---- the common groups ----------------------------------------------------------- */

static int set_root(const char *cmd, const char *value, void *dst)
{
    cli_common *c = dst;
    if (!cli_parse_hex(value, &c->root))
        return cli_usage(cmd, "--root wants a page-table root in hex (0x optional), not '%s'",
                         value);
    c->have_root = true;
    return 0;
}

static int set_vcpu(const char *cmd, const char *value, void *dst)
{
    uint64_t v;
    if (!cli_parse_u64(value, &v) || v > UINT32_MAX)
        return cli_usage(cmd, "--vcpu wants a vCPU number, not '%s'", value);
    *(unsigned *)dst = (unsigned)v;
    return 0;
}

static int set_paging(const char *cmd, const char *value, void *dst)
{
    if (strcmp(value, "4") != 0 && strcmp(value, "5") != 0)
        return cli_usage(cmd, "--paging wants 4 or 5 (levels), not '%s'", value);
    *(int *)dst = value[0] - '0';
    return 0;
}

#define JSON_HELP                                                           \
    "print JSON instead of a table; an error before any\n"                  \
    "output is {\"error\":{\"command\",\"message\",\"status\",\n"           \
    "\"exit\"}} on stdout (and a message on stderr)"

#define MAX_OPTS 48

/* Every option spec takes, its own first, with the common ones pointing into c. */
static size_t gather(const cli_spec *spec, cli_common *c, cli_opt *all)
{
    size_t n = 0;
    for (const cli_opt *o = spec->opts; o && o->name && n < MAX_OPTS - 12; o++)
        all[n++] = *o;
    all[n++] = (cli_opt)CLI_FLAG("help", 'h', NULL, "show this help");
    if (spec->groups & CLI_G_JSON)
        all[n++] = (cli_opt)CLI_FLAG("json", 0, &c->json,
                                     spec->json_help ? spec->json_help : JSON_HELP);
    if (spec->groups & CLI_G_TARGET) {
        all[n++] = (cli_opt)CLI_STR("format", 0, "FMT", &c->format,
                                    "dump format: auto (default), raw, elf, lime");
        all[n++] = (cli_opt)CLI_FN("vcpu", 0, "N", set_vcpu, &c->vcpu,
                                   "take the root from this vCPU's CR3 (default 0)");
        all[n++] = (cli_opt)CLI_FN("paging", 0, "4|5", set_paging, &c->paging,
                                   "the guest's paging levels (default: from CR4.LA57,\n"
                                   "or from the kernel itself on a raw dump)");
    }
    if (spec->groups & CLI_G_ROOT)
        all[n++] = (cli_opt)CLI_FN("root", 0, "CR3", set_root, c,
                                   "page-table root for virtual addresses, in hex as\n"
                                   "'ps' and 'info' print it (0x optional)");
    if (spec->groups & CLI_G_OS) {
        all[n++] = (cli_opt)CLI_FN("root", 0, "CR3", set_root, c,
                                   "the kernel page-table root, in hex (0x optional; default:\n"
                                   "the vCPU's CR3, or a search of memory when the dump has\n"
                                   "no registers)");
        all[n++] = (cli_opt)CLI_STR("profile", 0, "FILE", &c->profile,
                                    "ISF profile (Volatility 3 JSON, .json or .json.xz) for\n"
                                    "symbols and types, instead of the kernel's own kallsyms\n"
                                    "and BTF found in guest memory");
    }
    if (spec->groups & CLI_G_SPACE) {
        all[n++] = (cli_opt)CLI_STR("pid", 0, "PID", &c->pid,
                                    "in the address space of process PID, from the page\n"
                                    "tables the guest kernel keeps for it (no --root to copy\n"
                                    "from 'ps'); with KPTI, user addresses go through its\n"
                                    "user PGD and kernel addresses through its kernel PGD");
        all[n++] = (cli_opt)CLI_STR("profile", 0, "FILE", &c->profile,
                                    "ISF profile (Volatility 3 JSON, .json or .json.xz) for\n"
                                    "the guest's symbols and types when the guest OS is\n"
                                    "looked at (--pid, a symbol NAME); with it alone,\n"
                                    "addresses go through the kernel's page-table root");
    }
    all[n] = (cli_opt)CLI_END;
    return n;
}

/* ---- help ----------------------------------------------------------------------- */

static int label(const cli_opt *o, char *buf, size_t size)
{
    if (o->kind == CLI_ARG_OPT)
        return snprintf(buf, size, "      --%s[=%s]", o->name, o->arg);
    if (o->letter)
        return snprintf(buf, size, "  -%c, --%s%s%s", o->letter, o->name, o->arg ? " " : "",
                        o->arg ? o->arg : "");
    return snprintf(buf, size, "      --%s%s%s", o->name, o->arg ? " " : "",
                    o->arg ? o->arg : "");
}

static void print_options(const cli_opt *all, size_t n, FILE *out)
{
    char buf[128];
    int column = 22; /* where help text starts; further right if a label is long */
    for (size_t i = 0; i < n; i++) {
        int w = label(&all[i], buf, sizeof buf);
        if (w + 2 > column)
            column = w + 2;
    }
    for (size_t i = 0; i < n; i++) {
        int w = label(&all[i], buf, sizeof buf);
        fprintf(out, "%s%*s", buf, column - w, "");
        for (const char *p = all[i].help;;) {
            size_t len = strcspn(p, "\n");
            fprintf(out, "%.*s\n", (int)len, p);
            if (!p[len])
                break;
            p += len + 1;
            fprintf(out, "%*s", column, "");
        }
    }
}

void cli_help(const cli_spec *spec, FILE *out)
{
    cli_common scratch = {0};
    cli_opt all[MAX_OPTS];
    size_t n = gather(spec, &scratch, all);

    fprintf(out, "usage: vmic %s %s\n\n%s\n\nOptions:\n", spec->cmd, spec->usage, spec->about);
    print_options(all, n, out);
    if (spec->groups & CLI_G_TARGET_HELP)
        fputs("\n" CLI_TARGET_HELP, out);
    if (spec->epilog)
        fprintf(out, "\n%s", spec->epilog);
}

/* ---- parsing --------------------------------------------------------------------- */

static int set_value(const char *cmd, const cli_opt *o, const char *value)
{
    switch (o->kind) {
    case CLI_ARG_FLAG:
        *(bool *)o->dst = true;
        return 0;
    case CLI_ARG_STR:
        *(const char **)o->dst = value;
        return 0;
    case CLI_ARG_OPT:
        *(const char **)o->dst = value ? value : "";
        return 0;
    case CLI_ARG_U64: {
        uint64_t v;
        if ((!cli_parse_u64(value, &v) || v < o->min) && o->max == UINT64_MAX)
            return cli_usage(cmd, "--%s wants a number of at least %" PRIu64 ", not '%s'",
                             o->name, o->min, value);
        if (!cli_parse_u64(value, &v) || v < o->min || v > o->max)
            return cli_usage(cmd, "--%s wants a number from %" PRIu64 " to %" PRIu64
                             ", not '%s'", o->name, o->min, o->max, value);
        *(uint64_t *)o->dst = v;
        return 0;
    }
    case CLI_ARG_FN:
        return o->fn(cmd, value, o->dst);
    }
    return 0;
}

/* The option getopt_long returned as val: its index in all, or n. */
static size_t option_index(const cli_opt *all, size_t n, int val)
{
    if (val >= 256)
        return (size_t)val - 256;
    size_t i = 0;
    while (i < n && (val == 0 || all[i].letter != val))
        i++;
    return i;
}

/* Says what was wrong with the option getopt_long refused: getopt_long
 * returns ':' for a missing value and '?' otherwise, with optopt naming the
 * option it recognised (0 for none). */
static int bad_option(const char *cmd, const cli_opt *all, size_t n, const char *word, int opt,
                      int which)
{
    size_t i = option_index(all, n, which);
    if (i < n && opt == ':')
        return cli_usage(cmd, "%s needs a value: --%s %s", word, all[i].name, all[i].arg);
    if (i < n && which >= 256)
        return cli_usage(cmd, "%s: --%s takes no value", word, all[i].name);
    return cli_usage(cmd, "unknown option '%s'", word);
}

int cli_parse(const cli_spec *spec, int argc, char **argv, cli_common *c)
{
    cli_opt all[MAX_OPTS];
    struct option longopts[MAX_OPTS + 1];
    char shorts[2 * MAX_OPTS + 3], *s = shorts;
    size_t n = gather(spec, c, all);
    int opt, rc;

    cli_begin(argc, argv);
    if (spec->stop_at_operand)
        *s++ = '+';
    *s++ = ':'; /* a missing value is told apart from an unknown option */
    for (size_t i = 0; i < n; i++) {
        int has = all[i].kind == CLI_ARG_OPT ? optional_argument
                  : all[i].arg                 ? required_argument
                                               : no_argument;
        longopts[i] = (struct option){all[i].name, has, NULL, 256 + (int)i};
        if (all[i].letter) {
            *s++ = all[i].letter;
            if (all[i].arg)
                *s++ = ':';
        }
    }
    *s = '\0';
    longopts[n] = (struct option){0};

    opterr = 0;
    optind = 0; /* glibc: start afresh, even for a second parse */
    while ((opt = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
        if (opt == '?' || opt == ':')
            return -bad_option(spec->cmd, all, n, argv[optind - 1], opt, optopt);
        size_t i = option_index(all, n, opt);
        if (strcmp(all[i].name, "help") == 0) {
            cli_help(spec, stdout);
            exit(EXIT_OK);
        }
        if ((rc = set_value(spec->cmd, &all[i], optarg)))
            return -rc;
    }
    int operands = argc - optind;
    if (operands < spec->min_operands || operands > spec->max_operands)
        return -cli_usage(spec->cmd, "%s operands; usage: vmic %s %.*s",
                          operands < spec->min_operands ? "too few" : "too many", spec->cmd,
                          (int)strcspn(spec->usage, "\n"), spec->usage);
    return optind;
}
