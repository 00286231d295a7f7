/*
 * The paging configuration read from a vCPU's registers.
 */
#include <vmic/arch.h>

#include "harness.h"

#define CR0_PE 0x1ull
#define EFER_LME (1ull << 8)

/* What a 64-bit Linux kernel runs with: CR0 0x80050033, CR4 with PAE,
 * EFER 0xd01 (SCE, LME, LMA, NXE). */
static vmic_amd64_regs_t long_mode_regs(void)
{
    vmic_amd64_regs_t r;
    memset(&r, 0, sizeof r);
    r.valid = VMIC_REGS_CR | VMIC_REGS_EFER;
    r.cr0 = 0x80050033;
    r.cr3 = 0x1234000;
    r.cr4 = 0x3006f0;
    r.efer = 0xd01;
    return r;
}

static void test_long_mode_4level(void)
{
    vmic_amd64_regs_t r = long_mode_regs();
    vmic_paging_t pg;
    CHECK_OK(vmic_amd64_paging_from_regs(&r, &pg));
    CHECK_EQ(pg.mode, VMIC_PAGING_4LEVEL);
    CHECK_EQ(pg.maxphyaddr, 52);
    CHECK(pg.nxe);
}

static void test_la57_5level(void)
{
    vmic_amd64_regs_t r = long_mode_regs();
    r.cr4 |= VMIC_CR4_LA57;
    vmic_paging_t pg;
    CHECK_OK(vmic_amd64_paging_from_regs(&r, &pg));
    CHECK_EQ(pg.mode, VMIC_PAGING_5LEVEL);
}

static void test_nxe_from_efer(void)
{
    vmic_amd64_regs_t r = long_mode_regs();
    r.efer = 0x501;  /* SCE, LME, LMA: no NXE */
    vmic_paging_t pg;
    CHECK_OK(vmic_amd64_paging_from_regs(&r, &pg));
    CHECK(!pg.nxe);
}

static void test_no_efer_assumes_long_mode_and_nxe(void)
{
    /* QEMU's ELF notes: control registers, no EFER (the field stays 0). */
    vmic_amd64_regs_t r = long_mode_regs();
    r.valid = VMIC_REGS_CR | VMIC_REGS_GPR;
    r.efer = 0;
    vmic_paging_t pg;
    CHECK_OK(vmic_amd64_paging_from_regs(&r, &pg));
    CHECK_EQ(pg.mode, VMIC_PAGING_4LEVEL);
    CHECK(pg.nxe);
}

static void test_unsupported_modes(void)
{
    vmic_paging_t pg;
    vmic_amd64_regs_t r = long_mode_regs();
    r.cr0 = CR0_PE;
    CHECK_ERR(vmic_amd64_paging_from_regs(&r, &pg), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("paging is off (CR0.PG clear, cr0 0x1)");

    r = long_mode_regs();
    r.cr4 = 0x10;  /* PSE only */
    CHECK_ERR(vmic_amd64_paging_from_regs(&r, &pg), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("32-bit paging (CR4.PAE clear, cr4 0x10) is not supported");

    r = long_mode_regs();
    r.efer = EFER_LME | VMIC_EFER_NXE;  /* LME set, long mode not yet active */
    CHECK_ERR(vmic_amd64_paging_from_regs(&r, &pg), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("PAE paging (EFER.LMA clear, efer 0x900) is not supported");
}

static void test_missing_control_registers(void)
{
    vmic_paging_t pg;
    vmic_amd64_regs_t r = long_mode_regs();
    r.valid = VMIC_REGS_GPR | VMIC_REGS_EFER;
    CHECK_ERR(vmic_amd64_paging_from_regs(&r, &pg), VMIC_E_INVAL);
    CHECK_ERRMSG("no control registers");
    CHECK_ERR(vmic_amd64_paging_from_regs(NULL, &pg), VMIC_E_INVAL);
}

int main(void)
{
    RUN(test_long_mode_4level);
    RUN(test_la57_5level);
    RUN(test_nxe_from_efer);
    RUN(test_no_efer_assumes_long_mode_and_nxe);
    RUN(test_unsupported_modes);
    RUN(test_missing_control_registers);
    return HARNESS_RESULT();
}
