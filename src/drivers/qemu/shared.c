/*
 * A session through QMP alone, for when another client holds the gdbstub
 * (a `vmic trace`, a gdb): `vmic ps` and the other read-only commands work
 * alongside it instead of queueing on the stub (see lock.c for why they
 * must not connect there).
 *
 * Memory comes from the shared RAM file as always. Registers come from HMP
 * "info registers -a". A consistent view needs the VM paused, and QEMU has
 * one run state and no pause count, so vmic pauses it with QMP "stop" and
 * resumes it with "cont" only if it was vmic's stop that paused it. While
 * the gdbstub's client has the VM stopped at one of its events (status
 * "debug") a "stop" does nothing and the client would resume the VM under
 * us: so vmic waits until query-status says "paused", which only a stop of
 * a running VM gives. The gdb client sees that stop as a plain pause (a
 * stop reply with SIGINT) and leaves the VM paused until vmic's "cont";
 * `vmic trace` then goes on where it was.
 *
 * QMP serves one client at a time, so it stays connected for the whole
 * session, and the guard (guard.c) holds a copy to send "cont" should vmic
 * die while the VM is paused for it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qemu.h"

/* How long vmic waits for the gdb client to let a stopped VM run, at most. */
#define SHARED_DEBUG_WAIT_MS 3000

static void nap_ms(long ms)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Pauses the VM for vmic; *paused_it: it ran, and vmic's stop paused it. */
static vmic_status shared_stop(qemu_driver_t *q, bool *paused_it)
{
    int wait = q->qmp.timeout_ms < SHARED_DEBUG_WAIT_MS ? q->qmp.timeout_ms : SHARED_DEBUG_WAIT_MS;
    int64_t deadline = mono_ms() + wait;
    for (;;) {
        bool running;
        char status[32];
        vmic_status s = qmp_running(&q->qmp, &running, status, sizeof status);
        if (s)
            return s;
        if (!running && strcmp(status, "debug") != 0)
            return VMIC_OK;   /* paused (by us or by someone), or not running at all */
        if (running) {
            if ((s = qmp_execute(&q->qmp, "stop", NULL, 0, NULL)))
                return s;
            *paused_it = true;
            continue;
        }
        if (mono_ms() > deadline)
            return vmic_fail(VMIC_E_BUSY, "the gdbstub's client keeps the VM stopped at "
                             "its debug stop for over %d ms: vmic cannot pause it for a "
                             "consistent view ('vmic resume' detaches a stuck client)", wait);
        nap_ms(2);
    }
}

static vmic_status shared_pause(vmic_driver *d)
{
    qemu_driver_t *q = qemu_of(d);
    pthread_mutex_lock(&q->lock);
    vmic_status s = shared_stop(q, &q->shared_paused);
    pthread_mutex_unlock(&q->lock);
    return s;
}

static vmic_status shared_resume(vmic_driver *d)
{
    qemu_driver_t *q = qemu_of(d);
    pthread_mutex_lock(&q->lock);
    vmic_status s = qmp_execute(&q->qmp, "cont", NULL, 0, NULL);
    if (s == VMIC_OK)
        q->shared_paused = false;
    pthread_mutex_unlock(&q->lock);
    return s;
}

static vmic_status shared_regs(qemu_driver_t *q, vmic_vcpu_t vcpu, vmic_amd64_regs_t *regs)
{
    char *text;
    vmic_status s = qmp_hmp(&q->qmp, "info registers -a", &text);
    if (s)
        return s;
    s = hmp_regs_parse(text, vcpu, regs);
    free(text);
    return s;
}

static vmic_status shared_get_regs(vmic_driver *d, vmic_vcpu_t vcpu, vmic_amd64_regs_t *regs)
{
    qemu_driver_t *q = qemu_of(d);
    if (vcpu >= q->nthreads)
        return vmic_fail(VMIC_E_INVAL, "%s: vCPU %u out of range (the VM has %u vCPUs)",
                         q->info.source, vcpu, q->nthreads);
    pthread_mutex_lock(&q->lock);
    vmic_status s = shared_regs(q, vcpu, regs);
    pthread_mutex_unlock(&q->lock);
    return s;
}

static const vmic_driver_info_t *shared_info(vmic_driver *d)
{
    return &qemu_of(d)->info;
}

static vmic_status shared_read(vmic_driver *d, vmic_pa_t pa, void *buf, size_t len)
{
    return qemu_rw(qemu_of(d), pa.addr, buf, len, false);
}

static vmic_status shared_write(vmic_driver *d, vmic_pa_t pa, const void *buf, size_t len)
{
    return qemu_rw(qemu_of(d), pa.addr, (uint8_t *)(uintptr_t)buf, len, true);
}

/* Everything a QMP-only session lacks has one reason. */
static const char *shared_explain(vmic_driver *d, uint64_t missing)
{
    (void)d, (void)missing;
    return "another client holds QEMU's gdbstub, so this session goes through QMP alone "
           "(memory, pause and resume, registers read from HMP)";
}

static const vmic_memory_ops_t shared_memory = {
    .read = shared_read,
    .write = shared_write,
};

static const vmic_memory_ops_t shared_memory_read_only = {
    .read = shared_read,
};

/* Read from HMP's text; QMP cannot load registers. */
static const vmic_register_ops_t shared_registers = {
    .get = shared_get_regs,
};

static const vmic_control_ops_t shared_control = {
    .pause = shared_pause,
    .resume = shared_resume,
};

vmic_status qemu_open_shared(qemu_driver_t *q, const vmic_qemu_config_t *cfg)
{
    vmic_amd64_regs_t regs;
    char *text;
    vmic_status s;

    q->shared = true;
    q->ops = (vmic_driver_ops_t){
        .name = "qemu",
        .close = qemu_close_driver,
        .info = shared_info,
        .explain = shared_explain,
        .memory = q->mem.writable ? &shared_memory : &shared_memory_read_only,
        .registers = &shared_registers,
        .control = &shared_control,
    };
    q->base.ops = &q->ops;
    if (cfg->stay_paused && (s = shared_stop(q, &q->shared_paused)))
        return s;
    if (cfg->guard && (s = guard_start(&q->guard, GUARD_QMP, q->qmp.fd, -1, q->shared_paused)))
        return s;
    if ((s = qmp_hmp(&q->qmp, "info registers -a", &text)))
        return s;
    q->nthreads = hmp_regs_count(text);
    s = hmp_regs_parse(text, 0, &regs);
    free(text);
    if (s)
        return s;
    q->info.caps = vmic_driver_caps(&q->ops);
    return VMIC_OK;
}
