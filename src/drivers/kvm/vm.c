/*
 * The VM: /dev/kvm, guest memory, vCPUs, and the driver table. Guest RAM and
 * the spare pages (gfns vmic_alloc_gfn hands out, right above RAM) are one
 * anonymous mapping, so a gfn's host page is always mem + gfn * 4 KiB and a
 * memslot can show any gfn's page anywhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kvm.h"

#define DEFAULT_MEM (64ull << 20)
#define MAX_MEM (64ull << 30)
#define DEFAULT_SPARE_PAGES 256
#define MAX_SPARE_PAGES 65536
#define MIB2 (2ull << 20)

/* ---- state ---------------------------------------------------------------------- */

void vm_set_state(kvm_vm *vm, vmic_run_state st, int code, const char *fmt, ...)
{
    va_list ap;
    if (vm->state.state == VMIC_GUEST_EXITED || vm->state.state == VMIC_GUEST_FAILED)
        return; /* the first ending is the one that counts */
    vm->state.state = st;
    vm->state.exit_code = code;
    va_start(ap, fmt);
    vsnprintf(vm->state.message, sizeof vm->state.message, fmt, ap);
    va_end(ap);
    pthread_cond_broadcast(&vm->gate_cond);
    pthread_cond_broadcast(&vm->state_cond);
}

void vm_notify_stopped(kvm_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->stop_notified || !vm->has_sink) {
        vm->stop_notified = true;
        pthread_mutex_unlock(&vm->lock);
        return;
    }
    vm->stop_notified = true;
    vmic_event_sink_t sink = vm->sink;
    vm->in_sink++;
    pthread_mutex_unlock(&vm->lock);
    if (sink.guest_stopped)
        sink.guest_stopped(sink.ctx);
    pthread_mutex_lock(&vm->lock);
    vm->in_sink--;
    if (vm->settle_waiters)
        pthread_cond_broadcast(&vm->settle_cond);
    pthread_mutex_unlock(&vm->lock);
}

static vmic_status kvm_guest_state(vmic_driver *d, vmic_guest_state_t *st)
{
    kvm_vm *vm = kvm_of(d);
    pthread_mutex_lock(&vm->lock);
    *st = vm->state;
    if (st->state == VMIC_GUEST_PAUSED || st->state == VMIC_GUEST_RUNNING)
        st->state = vm->paused ? VMIC_GUEST_PAUSED : VMIC_GUEST_RUNNING;
    pthread_mutex_unlock(&vm->lock);
    return VMIC_OK;
}

/* Everything the event model changed, back as it was, with the VM stopped. */
static vmic_status kvm_reset_events(vmic_driver *d)
{
    kvm_vm *vm = kvm_of(d);

    /* Paused, and every vCPU done with the exit it was handling, so that no
     * exit handled half before and half after the reset. */
    pthread_mutex_lock(&vm->lock);
    bool was_paused = vm->paused;
    vm->paused = true;
    vmic_status s = vcpus_settle(vm, vcpu_self(vm), true);
    step_cancel_all(vm);
    monitors_reset(vm);
    views_reset(vm);
    vmic_status r = views_relayout(vm, NULL, 0, true);
    vm->generation++;
    vm->paused = was_paused;
    pthread_cond_broadcast(&vm->gate_cond);
    pthread_mutex_unlock(&vm->lock);
    return s ? s : r;
}

/* ---- memory ----------------------------------------------------------------------- */

static const vmic_driver_info_t *kvm_info(vmic_driver *d)
{
    return &kvm_of(d)->info;
}

/* RAM and the spare pages are one mapping from pa 0, published as writable
 * regions: the core reads and writes them in place, and comes here only for
 * what lies beyond. */
static vmic_status kvm_copy(kvm_vm *vm, vmic_pa_t pa, void *buf, size_t len, bool write)
{
    if (pa.addr > vm->mem_map_size || len > vm->mem_map_size - pa.addr)
        return vmic_fail(VMIC_E_UNMAPPED, "kvm: pa 0x%llx (%zu bytes) is neither RAM nor a "
                         "spare page", (unsigned long long)pa.addr, len);
    if (write)
        memcpy(vm->mem + pa.addr, buf, len);
    else
        memcpy(buf, vm->mem + pa.addr, len);
    return VMIC_OK;
}

static vmic_status kvm_read(vmic_driver *d, vmic_pa_t pa, void *buf, size_t len)
{
    return kvm_copy(kvm_of(d), pa, buf, len, false);
}

static vmic_status kvm_write(vmic_driver *d, vmic_pa_t pa, const void *buf, size_t len)
{
    return kvm_copy(kvm_of(d), pa, (void *)(uintptr_t)buf, len, true);
}

static vmic_status open_memory(kvm_vm *vm, uint64_t mem_size, uint64_t spare_pages)
{
    vm->ram_pages = mem_size >> VMIC_PAGE_SHIFT;
    vm->spare_pages = spare_pages;
    vm->mem_map_size = (size_t)((vm->ram_pages + spare_pages) << VMIC_PAGE_SHIFT);
    vm->mem = mmap(NULL, vm->mem_map_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (vm->mem == MAP_FAILED) {
        vm->mem = NULL;
        return vmic_fail(VMIC_E_NOMEM, "kvm: cannot map %llu MiB of guest memory: %s",
                         (unsigned long long)(mem_size >> 20), strerror(errno));
    }
    vm->spare_used = calloc(spare_pages ? spare_pages : 1, 1);
    vm->console = malloc(KVM_CONSOLE_MAX + 1);
    if (!vm->spare_used || !vm->console)
        return vmic_fail(VMIC_E_NOMEM, "kvm: no memory for the VM's bookkeeping");
    vm->console[0] = '\0';
    vm->regions[0] = (vmic_mem_region_t){.start = vmic_pa(0), .size = mem_size, .host = vm->mem,
                                         .writable = true, .file_offset = UINT64_MAX};
    vm->regions[1] = (vmic_mem_region_t){
        .start = vmic_pa(mem_size), .size = spare_pages << VMIC_PAGE_SHIFT,
        .host = vm->mem + mem_size, .writable = true, .file_offset = UINT64_MAX};
    return VMIC_OK;
}

/* ---- /dev/kvm ------------------------------------------------------------------------ */

static vmic_status need_cap(kvm_vm *vm, int cap, int want, const char *name)
{
    int have = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, cap);
    if (have < 0 || (have & want) != want)
        return vmic_fail(VMIC_E_UNSUPPORTED, "kvm: this KVM lacks %s", name);
    return VMIC_OK;
}

static vmic_status open_kvm(kvm_vm *vm)
{
    vmic_status s;

    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0)
        return vmic_fail(VMIC_E_IO, "kvm: cannot open /dev/kvm: %s", strerror(errno));
    if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
        return vmic_fail(VMIC_E_UNSUPPORTED, "kvm: /dev/kvm speaks another API version");
    if ((s = need_cap(vm, KVM_CAP_SYNC_REGS,
                      KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS,
                      "KVM_CAP_SYNC_REGS")) ||
        (s = need_cap(vm, KVM_CAP_READONLY_MEM, 1, "KVM_CAP_READONLY_MEM")) ||
        (s = need_cap(vm, KVM_CAP_IMMEDIATE_EXIT, 1, "KVM_CAP_IMMEDIATE_EXIT")))
        return s;
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0)
        return vmic_fail(VMIC_E_IO, "kvm: KVM_CREATE_VM: %s", strerror(errno));

    int nslots = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
    layout_init(&vm->layout, vm->ram_pages, nslots > 0 ? (uint32_t)nslots : 32);

    struct kvm_enable_cap cap = {.cap = KVM_CAP_X86_USER_SPACE_MSR,
                                 .args = {KVM_MSR_EXIT_REASON_FILTER}};
    vm->user_msr_enabled = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_MSR_FILTER) > 0 &&
                           ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) == 0;
    return VMIC_OK;
}

/* ---- opening and closing ----------------------------------------------------------------- */

static void kvm_close(vmic_driver *d)
{
    kvm_vm *vm = kvm_of(d);

    pthread_mutex_lock(&vm->lock);
    vm->closing = true;
    vcpus_kick(vm, NULL);
    pthread_cond_broadcast(&vm->gate_cond);
    pthread_mutex_unlock(&vm->lock);
    for (uint32_t i = 0; i < vm->nvcpus; i++)
        if (vm->vcpus[i].thread_started)
            pthread_join(vm->vcpus[i].thread, NULL);
    for (uint32_t i = 0; i < vm->nvcpus; i++)
        vcpu_destroy(&vm->vcpus[i]);
    for (unsigned i = 0; i < KVM_MAX_VIEWS; i++)
        free(vm->views[i].pages);
    layout_free(&vm->layout);
    image_free(&vm->image);
    free(vm->targets);
    free(vm->spare_used);
    free(vm->console);
    if (vm->vm_fd > 0)
        close(vm->vm_fd);
    if (vm->kvm_fd > 0)
        close(vm->kvm_fd);
    if (vm->mem)
        munmap(vm->mem, vm->mem_map_size);
    pthread_mutex_destroy(&vm->lock);
    pthread_cond_destroy(&vm->gate_cond);
    pthread_cond_destroy(&vm->settle_cond);
    pthread_cond_destroy(&vm->state_cond);
    free(vm);
}

static vmic_status check_options(const vmic_kvm_options_t *o, uint64_t *mem, uint32_t *vcpus,
                                 uint64_t *spare)
{
    if (!o || !o->image)
        return vmic_fail(VMIC_E_INVAL, "kvm: no guest image given");
    *mem = o->mem_size ? o->mem_size : DEFAULT_MEM;
    *vcpus = o->vcpus ? o->vcpus : 1;
    *spare = o->spare_pages ? o->spare_pages : DEFAULT_SPARE_PAGES;
    if (*mem % MIB2 || *mem < 2 * MIB2 || *mem > MAX_MEM)
        return vmic_fail(VMIC_E_INVAL, "kvm: guest memory must be a multiple of 2 MiB between "
                         "4 MiB and %llu GiB (got %llu bytes)",
                         (unsigned long long)(MAX_MEM >> 30), (unsigned long long)*mem);
    if (*vcpus > KVM_MAX_VCPUS)
        return vmic_fail(VMIC_E_INVAL, "kvm: at most %d vCPUs (got %u)", KVM_MAX_VCPUS, *vcpus);
    if (*spare > MAX_SPARE_PAGES)
        return vmic_fail(VMIC_E_INVAL, "kvm: at most %d spare pages (got %llu)", MAX_SPARE_PAGES,
                         (unsigned long long)*spare);
    return VMIC_OK;
}

static void fill_info(kvm_vm *vm, const char *image)
{
    snprintf(vm->source, sizeof vm->source, "kvm:%s", image);
    vm->base.ops = vm->user_msr_enabled ? &kvm_ops_msr : &kvm_ops;
    vm->info = (vmic_driver_info_t){
        .driver = "kvm",
        .source = vm->source,
        .caps = vmic_driver_caps(vm->base.ops),
        .mem_size = vm->ram_pages << VMIC_PAGE_SHIFT,
        .max_pa = vmic_pa((vm->ram_pages + vm->spare_pages) << VMIC_PAGE_SHIFT),
        .vcpu_count = vm->nvcpus,
        .regions = vm->regions,
        .nregions = vm->spare_pages ? 2 : 1,
    };
}

static vmic_status start(kvm_vm *vm, const vmic_kvm_options_t *o)
{
    vmic_status s;

    if ((s = open_kvm(vm)))
        return s;
    pthread_mutex_lock(&vm->lock);
    s = views_relayout(vm, NULL, 0, true); /* one slot over RAM */
    pthread_mutex_unlock(&vm->lock);
    if (s || (s = image_load(vm, o->image)) || (s = boot_prepare(vm)))
        return s;
    for (uint32_t i = 0; i < vm->nvcpus; i++)
        if ((s = vcpu_create(vm, i)))
            return s;
    fill_info(vm, o->image);
    for (uint32_t i = 0; i < vm->nvcpus; i++)
        if ((s = vcpu_start(&vm->vcpus[i])))
            return s;
    return VMIC_OK;
}

vmic_status vmic_kvm_open(const vmic_kvm_options_t *o, vmic_driver **out)
{
    uint64_t mem = 0, spare = 0;
    uint32_t vcpus = 0;
    vmic_status s = check_options(o, &mem, &vcpus, &spare);

    *out = NULL;
    if (s)
        return s;
    kvm_vm *vm = calloc(1, sizeof *vm);
    if (!vm)
        return vmic_fail(VMIC_E_NOMEM, "kvm: no memory for the VM");
    vm->base.ops = &kvm_ops;
    vm->kvm_fd = vm->vm_fd = -1;
    vm->nvcpus = vcpus;
    vm->paused = true;
    vm->exclusive = KVM_NO_VCPU;
    vm->console_out = o->console;
    vm->views[0].used = true;
    vm->state.state = VMIC_GUEST_PAUSED;
    pthread_mutex_init(&vm->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&vm->gate_cond, &ca);
    pthread_cond_init(&vm->settle_cond, &ca);
    pthread_cond_init(&vm->state_cond, &ca);
    pthread_condattr_destroy(&ca);

    if ((s = open_memory(vm, mem, spare)) || (s = start(vm, o))) {
        kvm_close(&vm->base);
        return s;
    }
    *out = &vm->base;
    return VMIC_OK;
}

/* ---- kvm-only calls ---------------------------------------------------------------------- */

static kvm_vm *as_kvm(vmic_driver *d)
{
    return d && (d->ops == &kvm_ops || d->ops == &kvm_ops_msr) ? kvm_of(d) : NULL;
}

bool vmic_kvm_available(char *why, size_t size)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, size, "cannot open /dev/kvm: %s", strerror(errno));
        return false;
    }
    int vmfd = ioctl(fd, KVM_CREATE_VM, 0);
    if (vmfd < 0) {
        snprintf(why, size, "/dev/kvm refuses KVM_CREATE_VM: %s", strerror(errno));
        close(fd);
        return false;
    }
    close(vmfd);
    close(fd);
    snprintf(why, size, "ok");
    return true;
}

vmic_status vmic_kvm_wait(vmic_driver *d, uint32_t timeout_ms)
{
    kvm_vm *vm = as_kvm(d);
    struct timespec deadline;
    vmic_status s = VMIC_OK;

    if (!vm)
        return vmic_fail(VMIC_E_INVAL, "vmic_kvm_wait: not a kvm driver");
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&vm->lock);
    while (vm->state.state != VMIC_GUEST_EXITED && vm->state.state != VMIC_GUEST_FAILED) {
        if (pthread_cond_timedwait(&vm->state_cond, &vm->lock, &deadline) == ETIMEDOUT) {
            s = vmic_fail(VMIC_E_TIMEOUT, "kvm: the guest still runs after %u ms", timeout_ms);
            break;
        }
    }
    pthread_mutex_unlock(&vm->lock);
    return s;
}

const char *vmic_kvm_console(vmic_driver *d, size_t *len)
{
    kvm_vm *vm = as_kvm(d);
    if (!vm || !vm->console) {
        if (len)
            *len = 0;
        return "";
    }
    pthread_mutex_lock(&vm->lock);
    if (len)
        *len = vm->console_len;
    pthread_mutex_unlock(&vm->lock);
    return vm->console;
}

vmic_status vmic_kvm_symbol(vmic_driver *d, const char *name, vmic_va_t *va, vmic_pa_t *pa)
{
    kvm_vm *vm = as_kvm(d);
    if (!vm)
        return vmic_fail(VMIC_E_INVAL, "vmic_kvm_symbol: not a kvm driver");
    const kvm_symbol *sym = image_symbol(&vm->image, name);
    if (!sym)
        return vmic_fail(VMIC_E_NOTFOUND, "kvm: the image has no symbol '%s'", name);
    uint64_t p = 0;
    if (va)
        *va = vmic_va(sym->value);
    if (pa)
        *pa = vmic_pa(image_va_to_pa(&vm->image, sym->value, &p) ? p : 0);
    return VMIC_OK;
}

vmic_status vmic_kvm_stats(vmic_driver *d, vmic_kvm_stats_t *st)
{
    kvm_vm *vm = as_kvm(d);
    if (!vm)
        return vmic_fail(VMIC_E_INVAL, "vmic_kvm_stats: not a kvm driver");
    pthread_mutex_lock(&vm->lock);
    *st = (vmic_kvm_stats_t){0};
    st->exits = atomic_load(&vm->exits);
    st->events = vm->events;
    st->slot_changes = vm->layout.changes;
    st->slot_change_ns = vm->slot_ns;
    st->relayouts = vm->relayouts;
    st->slots = (uint32_t)vm->layout.nslots;
    pthread_mutex_unlock(&vm->lock);
    return VMIC_OK;
}

static const vmic_memory_ops_t kvm_memory = {
    .read = kvm_read,
    .write = kvm_write,
};

static const vmic_register_ops_t kvm_registers = {
    .get = kvm_get_regs,
    .set = kvm_set_regs,
};

static const vmic_control_ops_t kvm_control = {
    .pause = vcpu_pause,
    .resume = vcpu_resume,
};

static const vmic_event_ops_t kvm_events = {
    .attach = kvm_attach_events,
    .check_response = kvm_check_response,
    .guest_state = kvm_guest_state,
    .reset = kvm_reset_events,
};

static const vmic_monitor_ops_t kvm_monitors = {
    .interrupt = kvm_monitor,
    .singlestep = kvm_monitor,
    .io = kvm_monitor,
};

/* With KVM_CAP_X86_USER_SPACE_MSR and KVM_CAP_X86_MSR_FILTER. */
static const vmic_monitor_ops_t kvm_monitors_msr = {
    .interrupt = kvm_monitor,
    .singlestep = kvm_monitor,
    .msr_write = kvm_monitor,
    .io = kvm_monitor,
};

static const vmic_breakpoint_ops_t kvm_breakpoints = {
    .set = kvm_set_hw_breakpoint,
};

static const vmic_injection_ops_t kvm_injection = {
    .inject = kvm_inject,
};

static const vmic_view_ops_t kvm_views = {
    .create = kvm_create_view,
    .destroy = kvm_destroy_view,
    .switch_to = kvm_switch_view,
    .vcpu_view = kvm_vcpu_view,
    .get_access = kvm_get_access,
    .set_access = kvm_set_access,
    .remap_gfn = kvm_remap_gfn,
    .alloc_gfn = kvm_alloc_gfn,
    .free_gfn = kvm_free_gfn,
};

#define KVM_OPS(monitor_ops)                                                   \
    {                                                                          \
        .name = "kvm", .close = kvm_close, .info = kvm_info,                   \
        .memory = &kvm_memory, .registers = &kvm_registers,                    \
        .control = &kvm_control, .events = &kvm_events,                        \
        .monitors = &(monitor_ops), .breakpoints = &kvm_breakpoints,           \
        .injection = &kvm_injection, .views = &kvm_views,                      \
    }

const vmic_driver_ops_t kvm_ops = KVM_OPS(kvm_monitors);
const vmic_driver_ops_t kvm_ops_msr = KVM_OPS(kvm_monitors_msr);

