/*
 * x86-64 disassembly for the command (vmic malfind), through capstone when
 * the build found it (VMIC_HAVE_CAPSTONE); the library never disassembles.
 */
#ifndef VMIC_TOOL_CLI_DISASM_H
#define VMIC_TOOL_CLI_DISASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cli_insn {
    uint64_t addr;
    uint8_t size;
    char mnemonic[32];
    char operands[160];
} cli_insn;

/* What to say instead of a disassembly when there is none. */
#define CLI_DISASM_MISSING "disassembly needs libcapstone-dev (rebuild vmic with it installed)"

/* What `vmic malfind --help` says about this build. */
#ifdef VMIC_HAVE_CAPSTONE
#define CLI_DISASM_HELP "This vmic disassembles with capstone.\n"
#else
#define CLI_DISASM_HELP "This vmic was built without capstone: no disassembly (install\n" \
                        "libcapstone-dev and build it again).\n"
#endif

/* Whether this vmic can disassemble. */
bool cli_disasm_available(void);

/*
 * Decodes up to max instructions of code[len], the first at addr, into out;
 * stops at the first byte sequence that is no instruction. Returns how many
 * were decoded (0 also without capstone).
 */
size_t cli_disasm(const uint8_t *code, size_t len, uint64_t addr, cli_insn *out, size_t max);

#endif
