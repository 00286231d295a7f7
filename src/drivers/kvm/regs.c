/*
 * Registers on KVM. The run page carries a copy of the registers on every
 * exit (KVM_CAP_SYNC_REGS) and takes changes back on the next KVM_RUN, so
 * events and responses cost no register ioctl. Reading or writing the
 * registers of a vCPU needs it stopped (at an event, or paused).
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm.h"

#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SFMASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_TSC_AUX 0xc0000103
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_PAT 0x277

static vmic_amd64_segment_t seg_from_kvm(const struct kvm_segment *k)
{
    vmic_amd64_segment_t s = {.base = k->base, .limit = k->limit, .selector = k->selector};
    s.attr = (uint16_t)((k->type & 0xf) | (k->s & 1) << 4 | (k->dpl & 3) << 5 |
                        (k->present & 1) << 7 | (k->avl & 1) << 8 | (k->l & 1) << 9 |
                        (k->db & 1) << 10 | (k->g & 1) << 11);
    return s;
}

static void seg_to_kvm(const vmic_amd64_segment_t *s, struct kvm_segment *k)
{
    k->base = s->base;
    k->limit = s->limit;
    k->selector = s->selector;
    k->type = s->attr & 0xf;
    k->s = (s->attr >> 4) & 1;
    k->dpl = (s->attr >> 5) & 3;
    k->present = (s->attr >> 7) & 1;
    k->avl = (s->attr >> 8) & 1;
    k->l = (s->attr >> 9) & 1;
    k->db = (s->attr >> 10) & 1;
    k->g = (s->attr >> 11) & 1;
    k->unusable = !k->present;
}

void regs_from_run(const struct kvm_run *run, vmic_amd64_regs_t *r)
{
    const struct kvm_regs *g = &run->s.regs.regs;
    const struct kvm_sregs *s = &run->s.regs.sregs;

    r->valid = VMIC_REGS_GPR | VMIC_REGS_SEG | VMIC_REGS_CR | VMIC_REGS_DT | VMIC_REGS_EFER;
    r->rax = g->rax, r->rbx = g->rbx, r->rcx = g->rcx, r->rdx = g->rdx;
    r->rsi = g->rsi, r->rdi = g->rdi, r->rbp = g->rbp, r->rsp = g->rsp;
    r->r8 = g->r8, r->r9 = g->r9, r->r10 = g->r10, r->r11 = g->r11;
    r->r12 = g->r12, r->r13 = g->r13, r->r14 = g->r14, r->r15 = g->r15;
    r->rip = g->rip, r->rflags = g->rflags;
    r->cs = seg_from_kvm(&s->cs), r->ds = seg_from_kvm(&s->ds), r->es = seg_from_kvm(&s->es);
    r->fs = seg_from_kvm(&s->fs), r->gs = seg_from_kvm(&s->gs), r->ss = seg_from_kvm(&s->ss);
    r->tr = seg_from_kvm(&s->tr), r->ldtr = seg_from_kvm(&s->ldt);
    r->gdtr.base = s->gdt.base, r->gdtr.limit = s->gdt.limit;
    r->idtr.base = s->idt.base, r->idtr.limit = s->idt.limit;
    r->cr0 = s->cr0, r->cr2 = s->cr2, r->cr3 = s->cr3, r->cr4 = s->cr4, r->cr8 = s->cr8;
    r->efer = s->efer;
}

void regs_to_run(struct kvm_run *run, const vmic_amd64_regs_t *r)
{
    struct kvm_regs *g = &run->s.regs.regs;
    struct kvm_sregs *s = &run->s.regs.sregs;

    if (r->valid & VMIC_REGS_GPR) {
        g->rax = r->rax, g->rbx = r->rbx, g->rcx = r->rcx, g->rdx = r->rdx;
        g->rsi = r->rsi, g->rdi = r->rdi, g->rbp = r->rbp, g->rsp = r->rsp;
        g->r8 = r->r8, g->r9 = r->r9, g->r10 = r->r10, g->r11 = r->r11;
        g->r12 = r->r12, g->r13 = r->r13, g->r14 = r->r14, g->r15 = r->r15;
        g->rip = r->rip, g->rflags = r->rflags;
        run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
    }
    if (r->valid & VMIC_REGS_SEG) {
        seg_to_kvm(&r->cs, &s->cs), seg_to_kvm(&r->ds, &s->ds), seg_to_kvm(&r->es, &s->es);
        seg_to_kvm(&r->fs, &s->fs), seg_to_kvm(&r->gs, &s->gs), seg_to_kvm(&r->ss, &s->ss);
        seg_to_kvm(&r->tr, &s->tr), seg_to_kvm(&r->ldtr, &s->ldt);
    }
    if (r->valid & VMIC_REGS_DT) {
        s->gdt.base = r->gdtr.base, s->gdt.limit = r->gdtr.limit;
        s->idt.base = r->idtr.base, s->idt.limit = r->idtr.limit;
    }
    if (r->valid & VMIC_REGS_CR) {
        s->cr0 = r->cr0, s->cr2 = r->cr2, s->cr3 = r->cr3, s->cr4 = r->cr4, s->cr8 = r->cr8;
    }
    if (r->valid & VMIC_REGS_EFER)
        s->efer = r->efer;
    if (r->valid & (VMIC_REGS_SEG | VMIC_REGS_DT | VMIC_REGS_CR | VMIC_REGS_EFER))
        run->kvm_dirty_regs |= KVM_SYNC_X86_SREGS;
}

void regs_merge(vmic_amd64_regs_t *dst, const vmic_amd64_regs_t *src)
{
    vmic_amd64_regs_t out = *dst;
    if (src->valid & VMIC_REGS_GPR) {
        memcpy(&out.rax, &src->rax, (size_t)((char *)&src->cs - (char *)&src->rax));
    }
    if (src->valid & VMIC_REGS_SEG) {
        out.cs = src->cs, out.ds = src->ds, out.es = src->es, out.fs = src->fs;
        out.gs = src->gs, out.ss = src->ss, out.tr = src->tr, out.ldtr = src->ldtr;
    }
    if (src->valid & VMIC_REGS_DT)
        out.gdtr = src->gdtr, out.idtr = src->idtr;
    if (src->valid & VMIC_REGS_CR)
        out.cr0 = src->cr0, out.cr2 = src->cr2, out.cr3 = src->cr3, out.cr4 = src->cr4,
        out.cr8 = src->cr8;
    if (src->valid & VMIC_REGS_EFER)
        out.efer = src->efer;
    out.valid = dst->valid | src->valid;
    *dst = out;
}

/* ---- reading and writing a stopped vCPU's registers ------------------------------------ */

static vmic_status stopped_vcpu(kvm_vm *vm, vmic_vcpu_t vcpu, kvm_vcpu **out)
{
    if (vcpu >= vm->nvcpus)
        return vmic_fail(VMIC_E_INVAL, "kvm: no vCPU %u (the VM has %u)", vcpu, vm->nvcpus);
    kvm_vcpu *v = &vm->vcpus[vcpu];
    if (v->in_run)
        return vmic_fail(VMIC_E_BUSY, "kvm: vCPU %u is running: pause the VM, or read it from "
                         "one of its events", vcpu);
    *out = v;
    return VMIC_OK;
}

static void read_msrs(kvm_vcpu *v, vmic_amd64_regs_t *r)
{
    static const uint32_t index[] = {MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SFMASK,
                                     MSR_KERNEL_GS_BASE, MSR_SYSENTER_CS, MSR_SYSENTER_ESP,
                                     MSR_SYSENTER_EIP, MSR_PAT, MSR_TSC_AUX};
    enum { N = sizeof index / sizeof index[0] };
    struct kvm_msr_entry e[N];
    uint64_t *dst[N] = {&r->star, &r->lstar, &r->cstar, &r->sfmask, &r->kernel_gs_base,
                        &r->sysenter_cs, &r->sysenter_esp, &r->sysenter_eip, &r->pat,
                        &r->tsc_aux};

    memset(e, 0, sizeof e);
    for (int i = 0; i < N; i++)
        e[i].index = index[i];
    int got = msrs_ioctl(v->fd, KVM_GET_MSRS, e, N);
    for (int i = 0; i < got && i < N; i++)
        *dst[i] = e[i].data;
    if (got == N)
        r->valid |= VMIC_REGS_MSR;
}

vmic_status kvm_get_regs(vmic_driver *d, vmic_vcpu_t vcpu, vmic_amd64_regs_t *regs)
{
    kvm_vm *vm = kvm_of(d);
    kvm_vcpu *v = NULL;
    struct kvm_debugregs dr;

    pthread_mutex_lock(&vm->lock);
    vmic_status s = stopped_vcpu(vm, vcpu, &v);
    if (s == VMIC_OK) {
        memset(regs, 0, sizeof *regs);
        regs_from_run(v->run, regs);
        if (v->regs_dirty)
            regs_merge(regs, &v->pending_regs);
        if (ioctl(v->fd, KVM_GET_DEBUGREGS, &dr) == 0) {
            regs->dr0 = dr.db[0], regs->dr1 = dr.db[1], regs->dr2 = dr.db[2];
            regs->dr3 = dr.db[3], regs->dr6 = dr.dr6, regs->dr7 = dr.dr7;
            regs->valid |= VMIC_REGS_DR;
        }
        read_msrs(v, regs);
    }
    pthread_mutex_unlock(&vm->lock);
    return s;
}

vmic_status kvm_set_regs(vmic_driver *d, vmic_vcpu_t vcpu, const vmic_amd64_regs_t *regs)
{
    kvm_vm *vm = kvm_of(d);
    const uint32_t loadable = VMIC_REGS_GPR | VMIC_REGS_SEG | VMIC_REGS_CR | VMIC_REGS_DT |
                              VMIC_REGS_EFER;
    kvm_vcpu *v = NULL;

    if (regs->valid & ~loadable)
        return vmic_fail(VMIC_E_UNSUPPORTED, "kvm: only the GPR, SEG, CR, DT and EFER register "
                         "groups can be written (got 0x%x)", regs->valid & ~loadable);
    pthread_mutex_lock(&vm->lock);
    vmic_status s = stopped_vcpu(vm, vcpu, &v);
    if (s == VMIC_OK) {
        if (v->regs_dirty)
            regs_merge(&v->pending_regs, regs);
        else
            v->pending_regs = *regs;
        v->regs_dirty = true;
    }
    pthread_mutex_unlock(&vm->lock);
    return s;
}

/* ---- translating through the vCPU's page tables ------------------------------------------- */

static const uint64_t *read_table(void *ctx, vmic_pa_t table)
{
    kvm_vm *vm = ctx;
    vmic_gfn_t gfn = vmic_pa_to_gfn(table);
    return gfn.num < vm->ram_pages ? (const uint64_t *)kvm_page(vm, gfn) : NULL;
}

vmic_status vcpu_translate(kvm_vcpu *v, vmic_va_t va, vmic_pa_t *pa)
{
    const struct kvm_sregs *s = &v->run->s.regs.sregs;
    vmic_amd64_regs_t r;
    vmic_paging_t pg;
    vmic_translation_t t;

    if (!(s->cr0 & VMIC_CR0_PG)) {
        *pa = vmic_pa(va.addr); /* paging off: addresses are physical */
        return VMIC_OK;
    }
    memset(&r, 0, sizeof r);
    r.valid = VMIC_REGS_CR | VMIC_REGS_EFER;
    r.cr0 = s->cr0, r.cr3 = s->cr3, r.cr4 = s->cr4, r.efer = s->efer;
    vmic_status st = vmic_amd64_paging_from_regs(&r, &pg);
    if (st)
        return st;
    st = vmic_amd64_translate(&pg, vmic_cr3_to_root(s->cr3), va, read_table, v->vm, &t);
    if (st)
        return st;
    *pa = t.pa;
    return VMIC_OK;
}
