/*
 * The qemu driver's reader of HMP "info registers -a" (what vmic uses for
 * registers while another client holds the gdbstub) on the fixture's
 * registers.txt, QEMU's own output for the stopped guest, against the
 * registers in the ELF notes of dump.elf, taken by QEMU at the same stop:
 * two independent outputs of QEMU. argv[1] = fixture dir; 77 without it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmic/vmic.h>

#include "drivers/qemu/qemu.h"
#include "harness.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *text = calloc(1, 1 << 20);
    size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (text)
        text[n] = '\0';
    return text;
}

#define SAME(field) CHECK_MSG(hmp.field == elf.field, "vCPU %u " #field ": HMP %" PRIx64      \
                              ", ELF notes %" PRIx64, v, (uint64_t)hmp.field, (uint64_t)elf.field)

static void compare(const char *text, vmic_core *core)
{
    unsigned n = vmic_vcpu_count(core);
    CHECK_EQ(hmp_regs_count(text), n);
    for (unsigned v = 0; v < n; v++) {
        vmic_amd64_regs_t hmp, elf;
        CHECK_OK(hmp_regs_parse(text, v, &hmp));
        CHECK_OK(vmic_get_regs(core, v, &elf));
        CHECK(hmp.valid & VMIC_REGS_GPR);
        CHECK(hmp.valid & VMIC_REGS_CR);
        SAME(rax); SAME(rbx); SAME(rcx); SAME(rdx); SAME(rsi); SAME(rdi); SAME(rbp); SAME(rsp);
        SAME(r8); SAME(r9); SAME(r10); SAME(r11); SAME(r12); SAME(r13); SAME(r14); SAME(r15);
        SAME(rip); SAME(rflags); SAME(cr0); SAME(cr2); SAME(cr3); SAME(cr4);
        if (elf.valid & VMIC_REGS_SEG) {
            SAME(cs.selector); SAME(ss.selector); SAME(gs.base); SAME(fs.base); SAME(tr.base);
        }
        printf("vCPU %u: rip %016" PRIx64 " cr3 %" PRIx64 " the same in HMP and the ELF notes\n",
               v, hmp.rip, hmp.cr3);
    }
}

int main(int argc, char **argv)
{
    char path[4096];
    vmic_driver *drv;
    vmic_core *core = NULL;
    if (argc < 2)
        return TEST_SKIP;
    snprintf(path, sizeof path, "%s/registers.txt", argv[1]);
    char *text = slurp(path);
    snprintf(path, sizeof path, "%s/dump.elf", argv[1]);
    if (!text || vmic_dump_open(path, VMIC_DUMP_ELF, &drv) != VMIC_OK) {
        fprintf(stderr, "no fixture in %s\n", argv[1]);
        free(text);
        return TEST_SKIP;
    }
    if (vmic_core_open(drv, NULL, &core) != VMIC_OK) {
        fprintf(stderr, "cannot open a session on %s: %s\n", path, vmic_errmsg());
        free(text);
        return 1;
    }
    compare(text, core);
    vmic_core_close(core);
    free(text);
    return HARNESS_RESULT();
}
