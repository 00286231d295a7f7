#include <stdio.h>

#include "cli_disasm.h"

#ifdef VMIC_HAVE_CAPSTONE
#include <capstone/capstone.h>

bool cli_disasm_available(void)
{
    return true;
}

size_t cli_disasm(const uint8_t *code, size_t len, uint64_t addr, cli_insn *out, size_t max)
{
    csh h;
    cs_insn *insn = NULL;
    if (max == 0 || cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
        return 0;
    /* Intel syntax, capstone's default for x86: "mov rbp, rsp". */
    size_t n = cs_disasm(h, code, len, addr, max, &insn);
    for (size_t i = 0; i < n; i++) {
        out[i].addr = insn[i].address;
        out[i].size = (uint8_t)insn[i].size;
        snprintf(out[i].mnemonic, sizeof out[i].mnemonic, "%s", insn[i].mnemonic);
        snprintf(out[i].operands, sizeof out[i].operands, "%s", insn[i].op_str);
    }
    if (n)
        cs_free(insn, n);
    cs_close(&h);
    return n;
}

#else

bool cli_disasm_available(void)
{
    return false;
}

size_t cli_disasm(const uint8_t *code, size_t len, uint64_t addr, cli_insn *out, size_t max)
{
    (void)code, (void)len, (void)addr, (void)out, (void)max;
    return 0;
}

#endif
