/*
 * Views on KVM: each view keeps only the pages that differ from "rwx at its
 * own gfn"; the memslot layout is derived from the views the vCPUs are in.
 * While a vCPU runs alone (an exclusive step) the layout is exactly its view,
 * plus the pages it steps through; otherwise it is the most restrictive
 * combination of the views in use, and exits are judged per vCPU (exits.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "kvm.h"
#include "base/grow.h"
#include "base/search.h"
#include "base/clock.h"

/* ---- one view's pages ------------------------------------------------------------ */

static size_t page_index(const kvm_view *vw, uint64_t gfn)
{
    return VMIC__LOWER_BOUND(vw->pages, vw->n, gfn, gfn);
}

void view_lookup(const kvm_vm *vm, vmic_view_t view, uint64_t gfn, vmic_access_t *access,
                 uint64_t *backing)
{
    const kvm_view *vw = &vm->views[view];
    size_t i = page_index(vw, gfn);

    if (i < vw->n && vw->pages[i].gfn == gfn) {
        *access = vw->pages[i].access;
        *backing = vw->pages[i].backing;
        return;
    }
    *access = VMIC_ACCESS_RWX;
    *backing = gfn;
}

/* Records a page's state; a page back at rwx on its own gfn is forgotten. */
static vmic_status view_put(kvm_view *vw, uint64_t gfn, vmic_access_t access, uint64_t backing)
{
    size_t i = page_index(vw, gfn);
    bool present = i < vw->n && vw->pages[i].gfn == gfn;
    bool plain = access == VMIC_ACCESS_RWX && backing == gfn;

    if (plain) {
        if (present) {
            memmove(&vw->pages[i], &vw->pages[i + 1], (vw->n - i - 1) * sizeof vw->pages[0]);
            vw->n--;
        }
        return VMIC_OK;
    }
    if (!present) {
        if (!VMIC_GROW(vw->pages, vw->n, vw->cap, 16))
            return vmic_fail(VMIC_E_NOMEM, "kvm: no memory for view pages");
        memmove(&vw->pages[i + 1], &vw->pages[i], (vw->n - i) * sizeof vw->pages[0]);
        vw->n++;
    }
    vw->pages[i] = (view_page){.gfn = gfn, .backing = backing, .access = access};
    return VMIC_OK;
}

static void view_clear(kvm_view *vw)
{
    free(vw->pages);
    memset(vw, 0, sizeof *vw);
}

vmic_view_t vcpu_effective_view(const kvm_vcpu *v)
{
    return v->fast_step ? v->fast_view : v->view;
}

/* ---- the layout target -------------------------------------------------------------- */

static page_kind kind_of(vmic_access_t a)
{
    if (a == VMIC_ACCESS_RWX)
        return PAGE_RW;
    if (a == VMIC_ACCESS_RX)
        return PAGE_RO;
    return PAGE_HOLE;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The views whose pages shape the layout now, and pages forced in. */
static uint64_t views_in_use(const kvm_vm *vm, uint64_t forced[2], vmic_view_t *forced_view)
{
    forced[0] = forced[1] = UINT64_MAX;
    if (vm->exclusive != KVM_NO_VCPU) {
        const kvm_vcpu *v = &vm->vcpus[vm->exclusive];
        if (v->through) {
            forced[0] = v->through_gfn[0];
            forced[1] = v->through_gfn[1];
        }
        *forced_view = vcpu_effective_view(v);
        return 1ull << *forced_view;
    }
    uint64_t mask = 0;
    for (uint32_t i = 0; i < vm->nvcpus; i++)
        if (!vm->vcpus[i].finished)
            mask |= 1ull << vm->vcpus[i].view;
    return mask ? mask : 1;
}

static vmic_status targets_reserve(kvm_vm *vm, size_t n)
{
    if (n <= vm->targets_cap)
        return VMIC_OK;
    page_target *p = realloc(vm->targets, n * sizeof *p);
    if (!p)
        return vmic_fail(VMIC_E_NOMEM, "kvm: no memory for the slot layout target");
    vm->targets = p;
    vm->targets_cap = n;
    return VMIC_OK;
}

/* One page, combined over the views in mask. */
static page_target combine(const kvm_vm *vm, uint64_t mask, uint64_t gfn, const uint64_t forced[2],
                           vmic_view_t forced_view)
{
    vmic_access_t access = VMIC_ACCESS_RWX;
    uint64_t backing = UINT64_MAX;
    bool agree = true;

    for (unsigned vi = 0; vi < KVM_MAX_VIEWS; vi++) {
        if (!(mask & (1ull << vi)))
            continue;
        vmic_access_t a;
        uint64_t b;
        view_lookup(vm, (vmic_view_t)vi, gfn, &a, &b);
        access &= a;
        if (backing != UINT64_MAX && b != backing)
            agree = false;
        backing = b;
    }
    page_target t = {.gfn = gfn, .backing = backing, .kind = (uint8_t)kind_of(access)};
    if (!agree)
        t.kind = PAGE_HOLE;
    if (gfn == forced[0] || gfn == forced[1]) {
        /* Stepping through: mapped, and writable only if the view allows. */
        vmic_access_t a;
        view_lookup(vm, forced_view, gfn, &a, &t.backing);
        t.kind = (a & VMIC_ACCESS_W) ? PAGE_RW : PAGE_RO;
    }
    return t;
}

/* Fills vm->targets; returns their count in *n. */
static vmic_status build_targets(kvm_vm *vm, size_t *n)
{
    uint64_t forced[2];
    vmic_view_t forced_view = 0;
    uint64_t mask = views_in_use(vm, forced, &forced_view);
    size_t total = 2;
    vmic_status s;

    for (unsigned vi = 0; vi < KVM_MAX_VIEWS; vi++)
        if (mask & (1ull << vi))
            total += vm->views[vi].n;
    uint64_t *gfns = malloc(total * sizeof *gfns);
    if (!gfns)
        return vmic_fail(VMIC_E_NOMEM, "kvm: no memory for the slot layout target");
    size_t ng = 0;
    for (unsigned vi = 0; vi < KVM_MAX_VIEWS; vi++)
        if (mask & (1ull << vi))
            for (size_t i = 0; i < vm->views[vi].n; i++)
                gfns[ng++] = vm->views[vi].pages[i].gfn;
    for (int i = 0; i < 2; i++)
        if (forced[i] != UINT64_MAX)
            gfns[ng++] = forced[i];
    qsort(gfns, ng, sizeof *gfns, cmp_u64);

    if ((s = targets_reserve(vm, ng ? ng : 1))) {
        free(gfns);
        return s;
    }
    size_t nt = 0;
    for (size_t i = 0; i < ng; i++) {
        if (i > 0 && gfns[i] == gfns[i - 1])
            continue;
        page_target t = combine(vm, mask, gfns[i], forced, forced_view);
        if (t.kind == PAGE_RW && t.backing == t.gfn)
            continue;
        vm->targets[nt++] = t;
    }
    free(gfns);
    *n = nt;
    return VMIC_OK;
}

/* ---- applying a layout: each slot change with every other vCPU out of KVM_RUN ---- */

typedef struct relayout_ctx {
    kvm_vm *vm;
    bool stopped;
} relayout_ctx;

static vmic_status apply_slot(void *arg, const kvm_slot *s, bool add)
{
    relayout_ctx *c = arg;
    kvm_vm *vm = c->vm;

    if (!c->stopped) {
        vmic_status st = world_stop(vm, vcpu_self(vm));
        if (st)
            return st;
        c->stopped = true;
    }
    struct kvm_userspace_memory_region r = {
        .slot = s->id,
        .flags = add && s->readonly ? KVM_MEM_READONLY : 0,
        .guest_phys_addr = s->gfn << VMIC_PAGE_SHIFT,
        .memory_size = add ? s->npages << VMIC_PAGE_SHIFT : 0,
        .userspace_addr = (uint64_t)(uintptr_t)kvm_page(vm, vmic_gfn(s->backing)),
    };
    uint64_t t0 = vmic__mono_ns();
    int rc = ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
    vm->slot_ns += vmic__mono_ns() - t0;
    if (rc < 0)
        return vmic_fail(VMIC_E_IO, "kvm: %s memslot %u (gfn 0x%llx, %llu pages%s): %s",
                         add ? "setting" : "deleting", s->id, (unsigned long long)s->gfn,
                         (unsigned long long)s->npages, s->readonly ? ", read-only" : "",
                         strerror(errno));
    return VMIC_OK;
}

vmic_status views_relayout(kvm_vm *vm, const uint64_t *coalesce, size_t n, bool coalesce_all)
{
    relayout_ctx c = {.vm = vm};
    size_t nt = 0;
    vmic_status s = build_targets(vm, &nt);
    if (s)
        return s;
    uint64_t before = vm->layout.changes;
    s = layout_apply(&vm->layout, vm->targets, nt, coalesce, n, coalesce_all, apply_slot, &c);
    vm->relayouts++;
    if (vm->layout.changes != before)
        vm->layout_gen++;
    if (c.stopped)
        world_start(vm);
    return s;
}

void views_reset(kvm_vm *vm)
{
    for (unsigned i = 1; i < KVM_MAX_VIEWS; i++)
        view_clear(&vm->views[i]);
    view_clear(&vm->views[0]);
    vm->views[0].used = true;
    for (uint32_t i = 0; i < vm->nvcpus; i++)
        vm->vcpus[i].view = VMIC_VIEW_DEFAULT;
}

/* ---- the driver operations ------------------------------------------------------------ */

static vmic_status check_view(const kvm_vm *vm, vmic_view_t view)
{
    if (view >= KVM_MAX_VIEWS || !vm->views[view].used)
        return vmic_fail(VMIC_E_NOTFOUND, "kvm: there is no view %u", view);
    return VMIC_OK;
}

static vmic_status check_ram_gfn(const kvm_vm *vm, vmic_gfn_t gfn)
{
    if (gfn.num >= vm->ram_pages)
        return vmic_fail(VMIC_E_UNMAPPED, "kvm: gfn 0x%llx is beyond guest RAM (0x%llx pages)",
                         (unsigned long long)gfn.num, (unsigned long long)vm->ram_pages);
    return VMIC_OK;
}

vmic_status kvm_create_view(vmic_driver *d, vmic_view_t *view)
{
    kvm_vm *vm = kvm_of(d);
    pthread_mutex_lock(&vm->lock);
    for (unsigned i = 1; i < KVM_MAX_VIEWS; i++) {
        if (!vm->views[i].used) {
            vm->views[i].used = true;
            *view = (vmic_view_t)i;
            pthread_mutex_unlock(&vm->lock);
            return VMIC_OK;
        }
    }
    pthread_mutex_unlock(&vm->lock);
    return vmic_fail(VMIC_E_RANGE, "kvm: all %d views are in use", KVM_MAX_VIEWS);
}

/* gfns of a view's pages, for coalescing once they are gone. */
static uint64_t *view_gfns(const kvm_view *vw)
{
    uint64_t *g = malloc((vw->n ? vw->n : 1) * sizeof *g);
    if (g)
        for (size_t i = 0; i < vw->n; i++)
            g[i] = vw->pages[i].gfn;
    return g;
}

vmic_status kvm_destroy_view(vmic_driver *d, vmic_view_t view)
{
    kvm_vm *vm = kvm_of(d);
    vmic_status s;

    if (view == VMIC_VIEW_DEFAULT)
        return vmic_fail(VMIC_E_INVAL, "kvm: view 0 is the default view and cannot be destroyed");
    pthread_mutex_lock(&vm->lock);
    if ((s = check_view(vm, view))) {
        pthread_mutex_unlock(&vm->lock);
        return s;
    }
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        if (vm->vcpus[i].view == view)
            vm->vcpus[i].view = VMIC_VIEW_DEFAULT;
        if (vm->vcpus[i].fast_step && vm->vcpus[i].fast_view == view)
            vm->vcpus[i].fast_view = VMIC_VIEW_DEFAULT;
    }
    size_t n = vm->views[view].n;
    uint64_t *gfns = view_gfns(&vm->views[view]);
    view_clear(&vm->views[view]);
    s = views_relayout(vm, gfns, gfns ? n : 0, gfns == NULL);
    free(gfns);
    pthread_mutex_unlock(&vm->lock);
    return s;
}

vmic_status kvm_switch_view(vmic_driver *d, vmic_view_t view)
{
    kvm_vm *vm = kvm_of(d);
    vmic_status s;

    pthread_mutex_lock(&vm->lock);
    if (!(s = check_view(vm, view))) {
        for (uint32_t i = 0; i < vm->nvcpus; i++)
            vm->vcpus[i].view = view;
        s = views_relayout(vm, NULL, 0, false);
    }
    pthread_mutex_unlock(&vm->lock);
    return s;
}

vmic_status kvm_vcpu_view(vmic_driver *d, vmic_vcpu_t vcpu, vmic_view_t *view)
{
    kvm_vm *vm = kvm_of(d);
    if (vcpu >= vm->nvcpus)
        return vmic_fail(VMIC_E_INVAL, "kvm: no vCPU %u (the VM has %u)", vcpu, vm->nvcpus);
    pthread_mutex_lock(&vm->lock);
    *view = vm->vcpus[vcpu].view;
    pthread_mutex_unlock(&vm->lock);
    return VMIC_OK;
}

vmic_status kvm_get_access(vmic_driver *d, vmic_view_t view, vmic_gfn_t gfn, vmic_access_t *a)
{
    kvm_vm *vm = kvm_of(d);
    uint64_t backing;
    vmic_status s = check_ram_gfn(vm, gfn);
    if (s)
        return s;
    pthread_mutex_lock(&vm->lock);
    if (!(s = check_view(vm, view)))
        view_lookup(vm, view, gfn.num, a, &backing);
    pthread_mutex_unlock(&vm->lock);
    return s;
}

/* Changes one page of one view and brings the slots along. */
static vmic_status put_page(kvm_vm *vm, vmic_view_t view, uint64_t gfn, vmic_access_t access,
                            uint64_t backing)
{
    vmic_status s = check_view(vm, view);
    if (s)
        return s;
    if ((s = view_put(&vm->views[view], gfn, access, backing)))
        return s;
    bool plain = access == VMIC_ACCESS_RWX && backing == gfn;
    return views_relayout(vm, &gfn, plain ? 1 : 0, false);
}

vmic_status kvm_set_access(vmic_driver *d, vmic_view_t view, vmic_gfn_t gfn, vmic_access_t a)
{
    kvm_vm *vm = kvm_of(d);
    vmic_access_t old;
    uint64_t backing;
    vmic_status s = check_ram_gfn(vm, gfn);
    if (s)
        return s;
    if (a & ~VMIC_ACCESS_RWX)
        return vmic_fail(VMIC_E_INVAL, "kvm: access 0x%x has bits other than R, W, X", a);
    pthread_mutex_lock(&vm->lock);
    if (!(s = check_view(vm, view))) {
        view_lookup(vm, view, gfn.num, &old, &backing);
        s = put_page(vm, view, gfn.num, a, backing);
    }
    pthread_mutex_unlock(&vm->lock);
    return s;
}

static bool gfn_backs_memory(const kvm_vm *vm, uint64_t gfn)
{
    if (gfn < vm->ram_pages)
        return true;
    uint64_t i = gfn - vm->ram_pages;
    return i < vm->spare_pages && vm->spare_used[i];
}

vmic_status kvm_remap_gfn(vmic_driver *d, vmic_view_t view, vmic_gfn_t gfn, vmic_gfn_t to)
{
    kvm_vm *vm = kvm_of(d);
    vmic_access_t access;
    uint64_t backing;
    vmic_status s = check_ram_gfn(vm, gfn);
    if (s)
        return s;
    pthread_mutex_lock(&vm->lock);
    if (!gfn_backs_memory(vm, to.num))
        s = vmic_fail(VMIC_E_UNMAPPED, "kvm: cannot remap gfn 0x%llx to 0x%llx: neither RAM nor "
                      "an allocated spare gfn", (unsigned long long)gfn.num,
                      (unsigned long long)to.num);
    else if (!(s = check_view(vm, view))) {
        view_lookup(vm, view, gfn.num, &access, &backing);
        s = put_page(vm, view, gfn.num, access, to.num);
    }
    pthread_mutex_unlock(&vm->lock);
    return s;
}

vmic_status kvm_alloc_gfn(vmic_driver *d, vmic_gfn_t *gfn)
{
    kvm_vm *vm = kvm_of(d);
    pthread_mutex_lock(&vm->lock);
    for (uint64_t i = 0; i < vm->spare_pages; i++) {
        if (!vm->spare_used[i]) {
            vm->spare_used[i] = 1;
            memset(kvm_page(vm, vmic_gfn(vm->ram_pages + i)), 0, VMIC_PAGE_SIZE);
            *gfn = vmic_gfn(vm->ram_pages + i);
            pthread_mutex_unlock(&vm->lock);
            return VMIC_OK;
        }
    }
    pthread_mutex_unlock(&vm->lock);
    return vmic_fail(VMIC_E_RANGE, "kvm: all %llu spare gfns are allocated (raise spare_pages)",
                     (unsigned long long)vm->spare_pages);
}

static bool gfn_remapped_to(const kvm_vm *vm, uint64_t target)
{
    for (unsigned vi = 0; vi < KVM_MAX_VIEWS; vi++)
        for (size_t i = 0; i < vm->views[vi].n; i++)
            if (vm->views[vi].pages[i].backing == target)
                return true;
    return false;
}

vmic_status kvm_free_gfn(vmic_driver *d, vmic_gfn_t gfn)
{
    kvm_vm *vm = kvm_of(d);
    vmic_status s = VMIC_OK;
    pthread_mutex_lock(&vm->lock);
    if (gfn.num < vm->ram_pages || !gfn_backs_memory(vm, gfn.num))
        s = vmic_fail(VMIC_E_INVAL, "kvm: gfn 0x%llx is not an allocated spare gfn",
                      (unsigned long long)gfn.num);
    else if (gfn_remapped_to(vm, gfn.num))
        s = vmic_fail(VMIC_E_BUSY, "kvm: gfn 0x%llx still backs a remapped gfn in some view",
                      (unsigned long long)gfn.num);
    else
        vm->spare_used[gfn.num - vm->ram_pages] = 0;
    pthread_mutex_unlock(&vm->lock);
    return s;
}
