/* The address space of the memory commands (read, translate, pagetable):
 * --root, the vCPU's CR3, or with --pid a process's own page tables found
 * by the OS layer (which --profile, or a symbol name for an address, also
 * opens). */
#ifndef VMIC_TOOL_CLI_SPACE_H
#define VMIC_TOOL_CLI_SPACE_H

#include "cli_os.h"

typedef struct cli_space {
    vmic_core *core;
    vmic_os *os;          /* when --pid, --profile or a symbol needed it */
    bool have_process;
    vmic_process_t proc;
    vmic_ctx_t ctx;       /* without --pid: --root, the vCPU's CR3 or the kernel's */
    const char *source;
    char source_buf[96];
} cli_space;

/* Opens TARGET and, when --pid or --profile is given or need_os, the OS
 * layer on it. physical: the command reads physical addresses (no root). */
int cli_space_open(const char *cmd, const char *target, const cli_common *c, bool need_os,
                   bool physical, cli_space *sp);
/* The root for va: a process's user PGD for user addresses under KPTI. */
vmic_ctx_t cli_space_ctx(cli_space *sp, uint64_t va, const char **source);
/* A number, or (with the OS layer open) a symbol's address. */
int cli_space_address(const char *cmd, cli_space *sp, const char *text, uint64_t *va);
void cli_space_close(cli_space *sp);

#endif
