/* What every vmic subcommand shares: opening a target, parsing numbers,
 * reporting errors, choosing an address context. */
#ifndef VMIC_TOOL_CLI_H
#define VMIC_TOOL_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <vmic/vmic.h>

#include "cli_opt.h"
#include "json.h"

/* Exit codes: 0 done, 1 the operation failed, 2 the command line was wrong. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} cli_command;

/* The values of the common option groups (cli_opt.h). */
typedef struct cli_common {
    bool json;
    const char *format;   /* --format raw|elf|lime (dumps) */
    bool have_root;       /* --root CR3 given */
    uint64_t root;
    unsigned vcpu;        /* --vcpu N: whose CR3 is the default root */
    int paging;           /* --paging 4|5: the guest's paging mode; 0: decide */
    const char *profile;  /* --profile FILE */
    const char *pid;      /* --pid PID (the memory commands) */
} cli_common;

/* Sees --json in argv before options are parsed, so that even a usage error
 * is reported as JSON. cli_parse calls it. */
void cli_begin(int argc, char **argv);

/* "vmic CMD: message" on stderr, with the library's message appended when
 * status is not VMIC_OK (fmt NULL: the library's message alone). Returns
 * EXIT_FAIL. With --json, the same as a JSON error object on stdout, unless
 * a JSON document was begun there already (then stdout holds the result so
 * far, the exit code says it is incomplete, and a command that can say which
 * element failed does so in the document). */
int cli_fail(const char *cmd, vmic_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

bool cli_parse_u64(const char *s, uint64_t *v);
/* A hexadecimal number, with or without 0x (page-table roots, as vmic and
 * QEMU's 'info registers' print them). */
bool cli_parse_hex(const char *s, uint64_t *v);

/* What TARGET may be, for every command's help. */
#define CLI_TARGET_HELP                                                          \
    "TARGET is a memory dump (raw, ELF core, LiME) or a live QEMU:\n"             \
    "  qemu:DIR                       a directory made by 'vmic boot'\n"          \
    "  qemu:gdb=EP,qmp=EP,mem=FILE    gdbstub and QMP endpoints (unix:PATH,\n"    \
    "                                 a socket path, or HOST:PORT) and the file\n"  \
    "                                 behind guest RAM (see 'vmic attach --help')\n"

/* Opens TARGET (a dump file, or a live QEMU: qemu:...) into a core session. */
int cli_open(const char *cmd, const char *target, const cli_common *c, vmic_core **core);

/* The address context: --root, else --vcpu's CR3. */
int cli_context(const char *cmd, vmic_core *core, const cli_common *c, vmic_ctx_t *ctx,
                const char **source);

/* cli_open and cli_context together; on failure nothing stays open. */
int cli_open_ctx(const char *cmd, const char *target, const cli_common *c, vmic_core **core,
                 vmic_ctx_t *ctx, const char **source);

/* "4 KiB", "2 MiB", "640 KiB", "1.5 GiB" */
const char *cli_size(uint64_t bytes, char *buf, size_t size);
/* "rwx" string of access rights. */
const char *cli_access(vmic_access_t a, char buf[4]);

/* The subcommands. */
int cmd_info(int argc, char **argv);
int cmd_read(int argc, char **argv);
int cmd_translate(int argc, char **argv);
int cmd_pagetable(int argc, char **argv);
/* Linux guests (the OS layer): see cli_os.h. */
int cmd_ps(int argc, char **argv);
int cmd_threads(int argc, char **argv);
int cmd_modules(int argc, char **argv);
int cmd_maps(int argc, char **argv);
int cmd_files(int argc, char **argv);
int cmd_netstat(int argc, char **argv);
int cmd_mounts(int argc, char **argv);
int cmd_env(int argc, char **argv);
int cmd_pstree(int argc, char **argv);
int cmd_malfind(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_dmesg(int argc, char **argv);
int cmd_banner(int argc, char **argv);
int cmd_sym(int argc, char **argv);
int cmd_yara(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_type(int argc, char **argv);
int cmd_isf(int argc, char **argv);
int cmd_boot(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_detach(int argc, char **argv);
/* Guests hosted on /dev/kvm (the kvm driver). */
int cmd_run(int argc, char **argv);

/* Filled by a live QEMU session when it closes (cli_live.c); main() then
 * reports what the command left, and whether QEMU died under it. */
extern vmic_qemu_end_t cli_live_end;
int cli_live_finish(const char *cmd, int rc);

/* vmic info's report on an open target (also what `vmic attach` prints). */
int info_report(const char *cmd, vmic_core *core, const cli_common *c);

#endif
