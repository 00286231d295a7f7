/*
 * The paging configuration a vCPU's registers describe.
 */
#include <inttypes.h>

#include <vmic/arch.h>

/*
 * MAXPHYADDR comes from CPUID leaf 0x80000008, which no register set carries.
 * 52 is the architectural maximum: it never calls a real frame address
 * reserved, at the cost of not flagging bits a smaller CPU would reject.
 */
#define ASSUMED_MAXPHYADDR 52

vmic_status vmic_amd64_paging_from_regs(const vmic_amd64_regs_t *r, vmic_paging_t *out)
{
    if (!r || !out)
        return vmic_fail(VMIC_E_INVAL, "paging from registers: %s is NULL",
                         !r ? "register set" : "output");
    if (!(r->valid & VMIC_REGS_CR))
        return vmic_fail(VMIC_E_INVAL,
                         "paging mode unknown: the register set has no control registers");
    if (!(r->cr0 & VMIC_CR0_PG))
        return vmic_fail(VMIC_E_UNSUPPORTED,
                         "paging is off (CR0.PG clear, cr0 0x%" PRIx64 ")", r->cr0);
    if (!(r->cr4 & VMIC_CR4_PAE))
        return vmic_fail(VMIC_E_UNSUPPORTED,
                         "32-bit paging (CR4.PAE clear, cr4 0x%" PRIx64 ") is not supported",
                         r->cr4);

    const bool have_efer = (r->valid & VMIC_REGS_EFER) != 0;
    if (have_efer && !(r->efer & VMIC_EFER_LMA))
        return vmic_fail(VMIC_E_UNSUPPORTED,
                         "PAE paging (EFER.LMA clear, efer 0x%" PRIx64 ") is not supported",
                         r->efer);

    out->mode = (r->cr4 & VMIC_CR4_LA57) ? VMIC_PAGING_5LEVEL : VMIC_PAGING_4LEVEL;
    out->maxphyaddr = ASSUMED_MAXPHYADDR;
    /* Without EFER (QEMU's ELF notes) assume NXE: every 64-bit kernel sets it,
     * and assuming it off would make every NX entry look reserved. */
    out->nxe = have_efer ? (r->efer & VMIC_EFER_NXE) != 0 : true;
    return VMIC_OK;
}
