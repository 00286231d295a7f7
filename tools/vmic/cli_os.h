/* What the guest-OS subcommands (ps, threads, modules, maps, files, dmesg,
 * banner, sym, type) share: opening the OS layer on a target,
 * finding a process by pid, and progress on stderr. */
#ifndef VMIC_TOOL_CLI_OS_H
#define VMIC_TOOL_CLI_OS_H

#include "cli.h"

/* Opens TARGET and the OS layer on it. */
int cli_os_open(const char *cmd, const char *target, const cli_common *c, vmic_core **core,
                vmic_os **os);
void cli_os_close(vmic_core *core, vmic_os *os);

/* The process with this pid (argument text). */
int cli_os_process(const char *cmd, vmic_os *os, const char *pid, vmic_process_t *p);

/* A line of progress on stderr, only when it is a terminal; NULL clears it. */
void cli_progress(const char *msg);

/* One query of several that failed (vmic sym, vmic type): with --json an
 * element {"query","error","status"} of the array j is writing, so the
 * others still come out; and the message on stderr. */
int cli_query_failed(const char *cmd, json *j, bool as_json, const char *query, vmic_status s);

/* Reports a walk that stopped early: on stderr, after what was printed. */
int cli_os_walk_status(const char *cmd, vmic_status s, size_t shown);

/* "R", "rw-p" ... helpers for tables. */
const char *cli_perms(const vmic_region_t *r, char buf[5]);

#endif
