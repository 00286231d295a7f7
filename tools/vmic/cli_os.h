/* What the guest-OS subcommands (ps, threads, modules, maps, files, dmesg,
 * banner, sym, type) share: --profile, opening the OS layer on a target,
 * finding a process by pid, and progress on stderr. */
#ifndef VMIC_TOOL_CLI_OS_H
#define VMIC_TOOL_CLI_OS_H

#include "cli.h"

typedef struct cli_os_opts {
    cli_common c;
    const char *profile;  /* --profile FILE */
} cli_os_opts;

#define CLI_OS_LONGOPTS CLI_COMMON_LONGOPTS, {"profile", required_argument, NULL, 'P'}

#define CLI_OS_HELP                                                                   \
    "      --profile FILE  ISF profile (Volatility 3 JSON, .json or .json.xz) for\n"  \
    "                      symbols and types, instead of the kernel's own kallsyms\n" \
    "                      and BTF found in guest memory\n"
#define CLI_OS_ROOT_HELP                                                              \
    "      --root CR3      the kernel page-table root, in hex (0x optional; default:\n" \
    "                      the vCPU's CR3, or a search of memory when the dump has\n"  \
    "                      no registers)\n"
/* The same for a command that describes --json itself (trace). */
#define CLI_OS_COMMON_HELP_OWN_JSON                                                   \
    CLI_HELP_HELP CLI_TARGET_OPTIONS_HELP CLI_OS_ROOT_HELP CLI_OS_HELP "\n" CLI_TARGET_HELP
/* Every option of a guest-OS command, each once, then what TARGET is. */
#define CLI_OS_COMMON_HELP                                                            \
    CLI_HELP_HELP CLI_JSON_HELP CLI_TARGET_OPTIONS_HELP CLI_OS_ROOT_HELP CLI_OS_HELP    \
    "\n" CLI_TARGET_HELP

/* Parses the options of a guest-OS command; optind is left at TARGET.
 * Returns -1 to go on, else the exit code (help printed, usage error). */
int cli_os_parse(const char *cmd, int argc, char **argv, const char *help, cli_os_opts *o);

/* Opens TARGET and the OS layer on it. */
int cli_os_open(const char *cmd, const char *target, const cli_os_opts *o, vmic_core **core,
                vmic_os **os);
void cli_os_close(vmic_core *core, vmic_os *os);

/* The process with this pid (argument text). */
int cli_os_process(const char *cmd, vmic_os *os, const char *pid, vmic_process_t *p);

/* A line of progress on stderr, only when it is a terminal; NULL clears it. */
void cli_progress(const char *msg);

/* Reports a walk that stopped early: on stderr, after what was printed. */
int cli_os_walk_status(const char *cmd, vmic_status s, size_t shown);

/* "R", "rw-p" ... helpers for tables. */
const char *cli_perms(const vmic_region_t *r, char buf[5]);

#endif
