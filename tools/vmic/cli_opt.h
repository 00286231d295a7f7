/*
 * The one option parser of every vmic subcommand. A command describes its
 * options in a table (name, value, help, where the value goes) and says
 * which common groups it takes; the same tables parse argv and write
 * --help, so each option is listed once, with the one meaning it has for
 * that command, and every command reports a bad command line the same way.
 */
#ifndef VMIC_TOOL_CLI_OPT_H
#define VMIC_TOOL_CLI_OPT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The common groups; their values land in cli_common (cli.h). */
enum {
    CLI_G_JSON = 1 << 0,    /* --json */
    CLI_G_TARGET = 1 << 1,  /* --format, --vcpu, --paging: how TARGET is opened */
    CLI_G_ROOT = 1 << 2,    /* --root CR3: the root for virtual addresses */
    CLI_G_OS = 1 << 3,      /* --root as the kernel's root, --profile for the OS layer */
    CLI_G_SPACE = 1 << 4,   /* --pid, and --profile for the memory commands */
    CLI_G_TARGET_HELP = 1 << 5, /* what TARGET may be, after the options */
};
/* What the memory and guest-OS commands take. */
#define CLI_G_MEMORY (CLI_G_JSON | CLI_G_TARGET | CLI_G_ROOT | CLI_G_TARGET_HELP)
#define CLI_G_GUEST (CLI_G_JSON | CLI_G_TARGET | CLI_G_OS | CLI_G_TARGET_HELP)

typedef enum cli_arg_kind {
    CLI_ARG_FLAG,  /* no value: dst is a bool, set true */
    CLI_ARG_STR,   /* dst is a const char *, set to the value */
    CLI_ARG_U64,   /* dst is a uint64_t, the value a number in [min, max] */
    CLI_ARG_FN,    /* fn parses the value into dst */
    CLI_ARG_OPT,   /* an optional value, given only as --name=VALUE: dst is a
                      const char *, set to the value, or to "" without one */
} cli_arg_kind;

/* Parses value into dst: 0, or the exit code of cli_usage. */
typedef int (*cli_set_fn)(const char *cmd, const char *value, void *dst);

typedef struct cli_opt {
    const char *name;    /* long name, without "--"; NULL ends a table */
    char letter;         /* one-letter form, or 0 */
    const char *arg;     /* what the value is ("FILE"), NULL for a flag */
    const char *help;    /* its lines, '\n' between them */
    cli_arg_kind kind;
    void *dst;
    uint64_t min, max;   /* CLI_ARG_U64 */
    cli_set_fn fn;       /* CLI_ARG_FN */
} cli_opt;

#define CLI_FLAG(name, letter, dst, help) {name, letter, NULL, help, CLI_ARG_FLAG, dst, 0, 0, NULL}
#define CLI_STR(name, letter, arg, dst, help) \
    {name, letter, arg, help, CLI_ARG_STR, dst, 0, 0, NULL}
#define CLI_U64(name, letter, arg, dst, lo, hi, help) \
    {name, letter, arg, help, CLI_ARG_U64, dst, lo, hi, NULL}
#define CLI_FN(name, letter, arg, fn, dst, help) \
    {name, letter, arg, help, CLI_ARG_FN, dst, 0, 0, fn}
/* --name or --name=ARG (help shows "--name[=ARG]"). */
#define CLI_OPT(name, arg, dst, help) {name, 0, arg, help, CLI_ARG_OPT, dst, 0, 0, NULL}
#define CLI_END {0}

typedef struct cli_spec {
    const char *cmd;
    const char *usage;      /* after "usage: vmic CMD "; more lines may follow */
    const char *about;      /* what the command does, before the options */
    const cli_opt *opts;    /* the command's own, CLI_END-terminated; may be NULL */
    unsigned groups;        /* CLI_G_* */
    const char *json_help;  /* what --json means here, if more than a table's JSON */
    const char *epilog;     /* after the options (and TARGET's help), or NULL */
    int min_operands, max_operands;
    bool stop_at_operand;   /* what follows the first operand is not ours (boot) */
} cli_spec;

struct cli_common;

/*
 * Parses argv (argv[0] is the command's name) by spec into the command's own
 * destinations and c. Prints the help and exits for --help. Returns the index
 * of the first operand, or -(exit code) after reporting a usage error (as
 * JSON on stdout too with --json).
 */
int cli_parse(const cli_spec *spec, int argc, char **argv, struct cli_common *c);

/* The help text cli_parse prints for --help. */
void cli_help(const cli_spec *spec, FILE *out);

#endif
