/*
 * vCPU threads. Each runs: gate (wait until allowed to run, load what the
 * session changed), KVM_RUN, exit handling, again. A thread that must get the
 * others out of KVM_RUN (pause, slot changes, a step that must run alone)
 * kicks them: immediate_exit = 1 and a signal, the KVM way to interrupt
 * KVM_RUN or to make the next one return at once. The signal handler does
 * nothing; the flags under vm->lock say what to do.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kvm.h"
#include "base/clock.h"

#define KICK_SIGNAL (SIGRTMIN + 4)
#define KICK_INTERVAL_MS 10

static _Thread_local kvm_vcpu *tls_vcpu;

kvm_vcpu *vcpu_self(kvm_vm *vm)
{
    return tls_vcpu && tls_vcpu->vm == vm ? tls_vcpu : NULL;
}

static void kick_handler(int sig)
{
    (void)sig; /* its only job is to interrupt KVM_RUN */
}

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;

static void kick_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = kick_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(KICK_SIGNAL, &sa, NULL);
}

/* ---- creating and destroying ----------------------------------------------------- */

static vmic_status set_cpuid(kvm_vcpu *v)
{
    kvm_vm *vm = v->vm;
    int n = 256;
    struct kvm_cpuid2 *cpuid = calloc(1, sizeof *cpuid + n * sizeof(struct kvm_cpuid_entry2));
    if (!cpuid)
        return vmic_fail(VMIC_E_NOMEM, "kvm: no memory for CPUID");
    cpuid->nent = n;
    vmic_status s = VMIC_OK;
    if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0 ||
        ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0)
        s = vmic_fail(VMIC_E_IO, "kvm: setting CPUID of vCPU %u: %s", v->index, strerror(errno));
    free(cpuid);
    return s;
}

/* Fills the run page's register copy, so that it is valid before the first exit. */
static vmic_status sync_regs_init(kvm_vcpu *v)
{
    struct kvm_run *run = v->run;
    if (ioctl(v->fd, KVM_GET_REGS, &run->s.regs.regs) < 0 ||
        ioctl(v->fd, KVM_GET_SREGS, &run->s.regs.sregs) < 0 ||
        ioctl(v->fd, KVM_GET_VCPU_EVENTS, &run->s.regs.events) < 0)
        return vmic_fail(VMIC_E_IO, "kvm: reading the registers of vCPU %u: %s", v->index,
                         strerror(errno));
    run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;
    run->kvm_dirty_regs = 0;
    return VMIC_OK;
}

vmic_status vcpu_create(kvm_vm *vm, uint32_t index)
{
    kvm_vcpu *v = &vm->vcpus[index];
    vmic_status s;

    memset(v, 0, sizeof *v);
    v->vm = vm;
    v->index = index;
    v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, index);
    if (v->fd < 0)
        return vmic_fail(VMIC_E_IO, "kvm: creating vCPU %u: %s", index, strerror(errno));
    int size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (size <= 0)
        return vmic_fail(VMIC_E_IO, "kvm: KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
    v->run_size = (size_t)size;
    v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        v->run = NULL;
        return vmic_fail(VMIC_E_IO, "kvm: mapping the run page of vCPU %u: %s", index,
                         strerror(errno));
    }
    if ((s = set_cpuid(v)) || (s = boot_vcpu(vm, v)) || (s = sync_regs_init(v)))
        return s;
    v->debug_dirty = false;
    return VMIC_OK;
}

void vcpu_destroy(kvm_vcpu *v)
{
    if (v->run)
        munmap(v->run, v->run_size);
    if (v->fd > 0)
        close(v->fd);
    v->run = NULL;
    v->fd = -1;
}

/* ---- the gate ------------------------------------------------------------------ */

static bool vm_over(const kvm_vm *vm)
{
    return vm->state.state == VMIC_GUEST_EXITED || vm->state.state == VMIC_GUEST_FAILED;
}

static bool may_run(const kvm_vm *vm, const kvm_vcpu *v)
{
    return !vm->paused && vm->holds == 0 &&
           (vm->exclusive == KVM_NO_VCPU || vm->exclusive == (int)v->index);
}

/* What the session left for this vCPU while it was stopped, taken under the
 * lock and loaded into KVM after it. */
typedef struct gate_work {
    bool regs, inject, debug;
    uint8_t rip_advance;
    vmic_amd64_regs_t pending_regs;
    vmic_injection_t injection;
    struct kvm_guest_debug dbg;
} gate_work;

static void gate_take(kvm_vcpu *v, gate_work *w)
{
    w->regs = v->regs_dirty;
    w->inject = v->inject_pending;
    w->debug = v->debug_dirty;
    w->rip_advance = v->rip_advance;
    if (w->regs)
        w->pending_regs = v->pending_regs;
    if (w->inject)
        w->injection = v->injection;
    if (w->debug)
        debug_state(v, &w->dbg);
    v->regs_dirty = v->inject_pending = v->debug_dirty = false;
    v->rip_advance = 0;
}

static void gate_load(kvm_vcpu *v, const gate_work *w)
{
    vmic_status s = VMIC_OK;

    if (w->regs)
        regs_to_run(v->run, &w->pending_regs);
    if (w->rip_advance) {
        v->run->s.regs.regs.rip += w->rip_advance;
        v->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
    }
    if (w->inject)
        s = inject_now(v, &w->injection);
    if (s == VMIC_OK && w->debug && ioctl(v->fd, KVM_SET_GUEST_DEBUG, &w->dbg) < 0)
        s = vmic_fail(VMIC_E_IO, "kvm: KVM_SET_GUEST_DEBUG on vCPU %u: %s", v->index,
                      strerror(errno));
    if (s) {
        kvm_vm *vm = v->vm;
        pthread_mutex_lock(&vm->lock);
        vm_set_state(vm, VMIC_GUEST_FAILED, 0, "vCPU %u: %s", v->index, vmic_errmsg());
        pthread_mutex_unlock(&vm->lock);
        vm_notify_stopped(vm);
    }
}

/* Waits until the vCPU may run; false when it never will again. */
static bool gate_enter(kvm_vcpu *v)
{
    kvm_vm *vm = v->vm;
    gate_work w;

    pthread_mutex_lock(&vm->lock);
    for (;;) {
        /* Cleared before the checks, so a kick after them is not lost. */
        __atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_RELAXED);
        if (vm->closing || v->finished || vm_over(vm)) {
            pthread_mutex_unlock(&vm->lock);
            return false;
        }
        if (may_run(vm, v))
            break;
        v->busy = false;
        if (vm->settle_waiters)
            pthread_cond_broadcast(&vm->settle_cond);
        pthread_cond_wait(&vm->gate_cond, &vm->lock);
    }
    v->in_run = true;
    v->busy = false;
    v->layout_gen_at_entry = vm->layout_gen;
    /* New registers or an injection must wait until KVM has finished the
     * instruction the last exit left open, or it would overwrite them: this
     * KVM_RUN only completes it (immediate_exit), the next one loads them. */
    bool complete_first = v->io_pending && (v->regs_dirty || v->inject_pending || v->rip_advance);
    if (!complete_first)
        gate_take(v, &w);
    pthread_mutex_unlock(&vm->lock);

    if (complete_first)
        __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELAXED);
    else
        gate_load(v, &w);
    return true;
}

static void gate_leave(kvm_vcpu *v)
{
    kvm_vm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    v->in_run = false;
    v->busy = true;
    v->exit_gen = vm->generation;
    v->io_pending = false;
    if (vm->settle_waiters)
        pthread_cond_broadcast(&vm->settle_cond);
    pthread_mutex_unlock(&vm->lock);
}

static void *vcpu_main(void *arg)
{
    kvm_vcpu *v = arg;
    kvm_vm *vm = v->vm;
    sigset_t kick;

    tls_vcpu = v;
    sigemptyset(&kick);
    sigaddset(&kick, KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &kick, NULL);

    pthread_mutex_lock(&vm->lock);
    v->busy = true;
    pthread_mutex_unlock(&vm->lock);
    while (gate_enter(v)) {
        int rc = ioctl(v->fd, KVM_RUN, 0);
        int err = errno;
        gate_leave(v);
        if (rc < 0) {
            if (err == EINTR || err == EAGAIN)
                continue;
            pthread_mutex_lock(&vm->lock);
            vm_set_state(vm, VMIC_GUEST_FAILED, 0, "KVM_RUN failed on vCPU %u: %s", v->index,
                         strerror(err));
            pthread_mutex_unlock(&vm->lock);
            vm_notify_stopped(vm);
            break;
        }
        atomic_fetch_add(&vm->exits, 1);
        exit_handle(v);
    }
    pthread_mutex_lock(&vm->lock);
    v->busy = false;
    if (vm->settle_waiters)
        pthread_cond_broadcast(&vm->settle_cond);
    pthread_mutex_unlock(&vm->lock);
    return NULL;
}

vmic_status vcpu_start(kvm_vcpu *v)
{
    sigset_t all, old;

    pthread_once(&kick_once, kick_install);
    /* The thread starts with every signal blocked (SIGINT and SIGTERM belong
     * to the session) and unblocks only the kick. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&v->thread, NULL, vcpu_main, v);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc)
        return vmic_fail(VMIC_E_NOMEM, "kvm: cannot start the thread of vCPU %u: %s", v->index,
                         strerror(rc));
    v->thread_started = true;
    return VMIC_OK;
}

/* ---- getting vCPUs out of KVM_RUN -------------------------------------------------- */

void vcpus_kick(kvm_vm *vm, const kvm_vcpu *except)
{
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        kvm_vcpu *v = &vm->vcpus[i];
        if (v == except || !v->in_run || !v->thread_started)
            continue;
        __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELAXED);
        pthread_kill(v->thread, KICK_SIGNAL);
    }
}

static const kvm_vcpu *unsettled_vcpu(const kvm_vm *vm, const kvm_vcpu *except, bool idle)
{
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        const kvm_vcpu *v = &vm->vcpus[i];
        if (v != except && (v->in_run || (idle && v->busy)))
            return v;
    }
    return NULL;
}

vmic_status vcpus_settle(kvm_vm *vm, const kvm_vcpu *except, bool idle)
{
    struct timespec deadline, tick;
    const kvm_vcpu *busy;

    deadline = vmic__deadline_after_ms(KVM_SETTLE_TIMEOUT_MS);
    while ((busy = unsettled_vcpu(vm, except, idle))) {
        if (vmic__deadline_passed(&deadline))
            return vmic_fail(VMIC_E_TIMEOUT, "kvm: vCPU %u did not stop within %d ms (%s)",
                             busy->index, KVM_SETTLE_TIMEOUT_MS,
                             busy->in_run ? "stuck inside KVM_RUN?" : "stuck handling an exit");
        vcpus_kick(vm, except);
        tick = vmic__deadline_after_ms(KICK_INTERVAL_MS);
        vm->settle_waiters++;
        pthread_cond_timedwait(&vm->settle_cond, &vm->lock, &tick);
        vm->settle_waiters--;
    }
    return VMIC_OK;
}

vmic_status world_stop(kvm_vm *vm, const kvm_vcpu *self)
{
    vm->holds++;
    vmic_status s = vcpus_settle(vm, self, false);
    if (s)
        world_start(vm);
    return s;
}

void world_start(kvm_vm *vm)
{
    if (--vm->holds == 0)
        pthread_cond_broadcast(&vm->gate_cond);
}

vmic_status vcpu_pause(vmic_driver *d)
{
    kvm_vm *vm = kvm_of(d);
    pthread_mutex_lock(&vm->lock);
    vm->paused = true;
    vmic_status s = vcpus_settle(vm, vcpu_self(vm), true);
    pthread_mutex_unlock(&vm->lock);
    return s;
}

vmic_status vcpu_resume(vmic_driver *d)
{
    kvm_vm *vm = kvm_of(d);
    pthread_mutex_lock(&vm->lock);
    vm->paused = false;
    pthread_cond_broadcast(&vm->gate_cond);
    pthread_mutex_unlock(&vm->lock);
    return VMIC_OK;
}

void vcpu_finish(kvm_vcpu *v, const char *why)
{
    kvm_vm *vm = v->vm;

    v->finished = true;
    if (v->exclusive) {
        /* It stopped in the middle of a step it ran alone: give the others
         * their layout back. */
        v->exclusive = false;
        v->through = v->fast_step = false;
        vm->exclusive = KVM_NO_VCPU;
        views_relayout(vm, NULL, 0, false);
    }
    for (uint32_t i = 0; i < vm->nvcpus; i++)
        if (!vm->vcpus[i].finished)
            goto others_run;
    if (!vm_over(vm))
        vm_set_state(vm, VMIC_GUEST_EXITED, 0, "every vCPU stopped (last: vCPU %u %s)", v->index,
                     why);
others_run:
    pthread_cond_broadcast(&vm->gate_cond);
}
