/*
 * vmic_qemu_watch_*: exec watches through the plugin's control block alone
 * (include/vmic/qemu.h). No gdbstub, no session lock: nothing here stops the
 * guest, so a watcher beside a trace or a gdb is fine. Ring mode, so that a
 * vCPU is never held for this process (only a full ring makes it wait).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_client.h"
#include "qemu.h"

struct vmic_qemu_watch {
    vmic__plugin_client c;
    char ctl[160];
};

/* Events of the previous watch set that come while the new one is applied:
 * a fresh watcher had none, so there is nothing to keep. */
static void drop_early(void *arg, const struct vmic_plugin_record *ev)
{
    (void)arg;
    (void)ev;
}

vmic_status vmic_qemu_watch_open(const char *target, const vmic_pa_t *pa, uint32_t n,
                                 unsigned timeout_ms, vmic_qemu_watch_t **out)
{
    vmic_qemu_target_t *t = NULL;
    qemu_endpoint_t gdb, qmp;
    char why[512];
    vmic_status s;

    *out = NULL;
    if (!pa || n == 0 || n > VMIC_PLUGIN_MAX_WATCHES)
        return vmic_fail(VMIC_E_INVAL, "qemu watch: 1 to %u addresses, not %u",
                         VMIC_PLUGIN_MAX_WATCHES, n);
    int timeout = timeout_ms ? (int)timeout_ms : QEMU_DEFAULT_TIMEOUT_MS;
    if (!(t = malloc(sizeof *t)))
        return vmic_fail(VMIC_E_NOMEM, "qemu watch: no memory");
    vmic_qemu_watch_t *w = calloc(1, sizeof *w);
    if (!w) {
        free(t);
        return vmic_fail(VMIC_E_NOMEM, "qemu watch: no memory");
    }
    if ((s = vmic_qemu_parse_target(target, t)) || (s = endpoint_parse("gdb", t->gdb, &gdb)) ||
        (s = endpoint_parse("QMP", t->qmp, &qmp)))
        goto fail;
    if (!qemu_plugin_ctl_path(&gdb, w->ctl, sizeof w->ctl)) {
        s = vmic_fail(VMIC_E_UNSUPPORTED, "%s: no directory to find %s in (the gdbstub is "
                      "not a unix socket)", target, VMIC_QEMU_DIR_PLUGIN);
        goto fail;
    }
    if (qemu_plugin_check(w->ctl, t->mem, why, sizeof why)) {
        s = vmic_fail(VMIC_E_UNSUPPORTED, "%s: %s (boot it with 'vmic boot --plugin')", target,
                      why);
        goto fail;
    }
    int r = vmic__plugin_attach(&w->c, w->ctl, timeout);
    if (r) {
        s = vmic_fail(r == -EBUSY ? VMIC_E_BUSY : VMIC_E_IO, "%s", vmic__plugin_error());
        goto fail;
    }
    uint64_t *addr = malloc(n * sizeof *addr);
    if (!addr) {
        vmic__plugin_detach(&w->c);
        s = vmic_fail(VMIC_E_NOMEM, "qemu watch: no memory");
        goto fail;
    }
    for (uint32_t i = 0; i < n; i++)
        addr[i] = pa[i].addr;
    r = vmic__plugin_watch(&w->c, addr, NULL, n, VMIC_PLUGIN_MODE_RING, qmp.tcp ? NULL : qmp.path,
                           timeout, drop_early, NULL);
    free(addr);
    if (r) {
        s = vmic_fail(r == -ETIMEDOUT ? VMIC_E_TIMEOUT : VMIC_E_IO, "%s", vmic__plugin_error());
        vmic__plugin_detach(&w->c);
        goto fail;
    }
    free(t);
    *out = w;
    return VMIC_OK;
fail:
    free(t);
    free(w);
    return s;
}

vmic_status vmic_qemu_watch_poll(vmic_qemu_watch_t *w, vmic_qemu_exec_t *ev, size_t max,
                                 int timeout_ms, size_t *got)
{
    struct vmic_plugin_record buf[16];
    *got = 0;
    if (!w || !ev || max == 0)
        return vmic_fail(VMIC_E_INVAL, "qemu watch: nothing to poll into");
    int want = max < 16 ? (int)max : 16;
    int r = vmic__plugin_poll(&w->c, buf, want, timeout_ms);
    if (r < 0)
        return vmic_fail(r == -EINTR ? VMIC_E_INTERRUPTED : VMIC_E_IO, "%s",
                         vmic__plugin_error());
    for (int i = 0; i < r; i++) {
        const struct vmic_plugin_event *e = &buf[i].ev;
        ev[i] = (vmic_qemu_exec_t){.seq = e->seq, .vcpu = e->vcpu,
                                   .flags = VMIC_QEMU_EXEC_NO_REGS, .pc = vmic_va(e->pc),
                                   .pa = vmic_pa(e->pa)};
    }
    *got = (size_t)r;
    return VMIC_OK;
}

void vmic_qemu_watch_counters(const vmic_qemu_watch_t *w, uint64_t *made, uint64_t *dropped,
                              uint64_t *received)
{
    uint64_t m = 0, d = 0;
    if (w)
        vmic__plugin_counters(&w->c, &m, &d);
    if (made)
        *made = m;
    if (dropped)
        *dropped = d;
    if (received)
        *received = w ? w->c.received : 0;
}

void vmic_qemu_watch_close(vmic_qemu_watch_t *w)
{
    if (!w)
        return;
    vmic__plugin_detach(&w->c);
    free(w);
}
