/*
 * Breakpoints and watchpoints vmic inserted into QEMU through the gdbstub,
 * remembered here so that every one of them can be removed when a session
 * ends or the driver closes: QEMU keeps a client's points after it goes
 * away, and the first hit would then stop the VM with nobody to resume it.
 *
 * vmic_hw_breakpoint_set is gdb's Z1 (a "hardware" breakpoint). Under TCG,
 * QEMU treats Z0 and Z1 alike: a check in its translated code, guest memory
 * untouched, no limit on their number. Under KVM, Z1 takes one of the four
 * debug registers, while Z0 would write an INT3 into guest memory, which the
 * guest could see: Z1 is what matches the call's meaning on both.
 *
 * Watchpoints are Z2 (write), Z3 (read) and Z4 (access), on guest-virtual
 * addresses of any vCPU. QEMU reports them after the access has completed.
 *
 * The VM must be stopped to talk to the stub: a running VM is stopped for
 * the insertion and runs on after it (qemu_stop_to_talk, qemu_run_on).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu.h"
#include "base/grow.h"

static qemu_point_t *find(qemu_driver_t *q, gdb_point_type type, vmic_va_t va, uint32_t len)
{
    for (size_t i = 0; i < q->npoints; i++) {
        qemu_point_t *p = &q->points[i];
        if (p->type == type && p->va == va.addr && p->len == len)
            return p;
    }
    return NULL;
}

bool points_has_break(const qemu_driver_t *q, vmic_va_t va)
{
    for (size_t i = 0; i < q->npoints; i++)
        if (q->points[i].type == GDB_POINT_HW_BREAK && q->points[i].va == va.addr)
            return true;
    return false;
}

bool points_has_watch(const qemu_driver_t *q, gdb_watch_kind kind, vmic_va_t va)
{
    gdb_point_type type = kind == GDB_WATCH_WRITE ? GDB_POINT_WRITE_WATCH
                          : kind == GDB_WATCH_READ ? GDB_POINT_READ_WATCH
                                                   : GDB_POINT_ACCESS_WATCH;
    for (size_t i = 0; i < q->npoints; i++)
        if (q->points[i].type == type && q->points[i].va == va.addr)
            return true;
    return false;
}

static vmic_status remember(qemu_driver_t *q, gdb_point_type type, vmic_va_t va, uint32_t len)
{
    if (!VMIC_GROW(q->points, q->npoints, q->points_cap, 16))
        return vmic_fail(VMIC_E_NOMEM, "%s: no memory for the breakpoint table",
                         q->info.source);
    q->points[q->npoints++] = (qemu_point_t){.type = type, .va = va.addr, .len = len};
    return VMIC_OK;
}

static void forget(qemu_driver_t *q, qemu_point_t *p)
{
    size_t i = (size_t)(p - q->points);
    memmove(&q->points[i], &q->points[i + 1], (q->npoints - i - 1) * sizeof *p);
    q->npoints--;
}

static const char *point_name(gdb_point_type type)
{
    switch (type) {
    case GDB_POINT_HW_BREAK: return "breakpoint";
    case GDB_POINT_WRITE_WATCH: return "write watchpoint";
    case GDB_POINT_READ_WATCH: return "read watchpoint";
    case GDB_POINT_ACCESS_WATCH: return "access watchpoint";
    default: return "point";
    }
}

/* Inserts or removes one point, the VM stopped for it if it runs. */
static vmic_status change(qemu_driver_t *q, gdb_point_type type, vmic_va_t at, uint32_t len,
                          bool insert)
{
    uint64_t va = at.addr; /* as the gdbstub takes it */
    qemu_point_t *p = find(q, type, at, len);
    vmic_status s;
    bool was_running;

    /* Inserting twice is one point; so is removing one that is not there. */
    if (insert == (p != NULL))
        return insert ? VMIC_OK
                      : vmic_fail(VMIC_E_NOTFOUND, "%s: no %s at 0x%" PRIx64 " (%" PRIu32
                                  " bytes) was set", q->info.source, point_name(type), va, len);
    if (insert && q->npoints >= QEMU_MAX_POINTS)
        return vmic_fail(VMIC_E_RANGE, "%s: more than %u breakpoints and watchpoints",
                         q->info.source, QEMU_MAX_POINTS);
    if ((s = qemu_stop_to_talk(q, &was_running)))
        return s;
    if (insert) {
        s = remember(q, type, at, len);
        if (s == VMIC_OK && (s = gdb_insert_point(&q->gdb, type, va, len)))
            q->npoints--;
    } else {
        /* One taken out for a step-over is not in QEMU just now. */
        s = p->out ? VMIC_OK : gdb_remove_point(&q->gdb, type, va, len);
        if (s == VMIC_OK || q->gdb.dead)
            forget(q, p);
    }
    if (s)
        s = vmic_fail_wrap(s, "%s: %s the %s at 0x%" PRIx64 "%s", q->info.source,
                           insert ? "inserting" : "removing", point_name(type), va,
                           insert && type == GDB_POINT_HW_BREAK && s == VMIC_E_IO
                               ? " (under KVM QEMU has 4 debug registers for them)" : "");
    if (was_running) {
        vmic_status r = qemu_run_on(q);
        if (s == VMIC_OK)
            s = r;
    }
    return s;
}

vmic_status qemu_set_hw_breakpoint(vmic_driver *d, vmic_va_t va, bool enable)
{
    qemu_driver_t *q = qemu_of(d);
    pthread_mutex_lock(&q->lock);
    vmic_status s = change(q, GDB_POINT_HW_BREAK, va, 1, enable);
    pthread_mutex_unlock(&q->lock);
    return s;
}

vmic_status qemu_set_watchpoint(vmic_driver *d, vmic_va_t va, uint32_t len,
                                vmic_access_t access, bool enable)
{
    qemu_driver_t *q = qemu_of(d);
    gdb_point_type type;

    switch (access) {
    case VMIC_ACCESS_W: type = GDB_POINT_WRITE_WATCH; break;
    case VMIC_ACCESS_R: type = GDB_POINT_READ_WATCH; break;
    case VMIC_ACCESS_RW: type = GDB_POINT_ACCESS_WATCH; break;
    default:
        return vmic_fail(access & VMIC_ACCESS_X ? VMIC_E_UNSUPPORTED : VMIC_E_INVAL,
                         "%s: a watchpoint watches reads, writes or both, not access 0x%x%s",
                         q->info.source, access,
                         access & VMIC_ACCESS_X ? " (execution: use vmic_hw_breakpoint_set)"
                                                : "");
    }
    if (len == 0 || va.addr + (len - 1) < va.addr)
        return vmic_fail(VMIC_E_INVAL, "%s: a watchpoint of %" PRIu32 " bytes at 0x%" PRIx64,
                         q->info.source, len, va.addr);
    pthread_mutex_lock(&q->lock);
    vmic_status s = change(q, type, va, len, enable);
    pthread_mutex_unlock(&q->lock);
    return s;
}

vmic_status points_remove_all(qemu_driver_t *q)
{
    vmic_status first = VMIC_OK;
    char why[512] = "";
    size_t failed = 0;

    /* Newest first, each one tried even after a failure. */
    while (q->npoints > 0) {
        qemu_point_t p = q->points[--q->npoints];
        if (p.out)
            continue;
        vmic_status s = gdb_remove_point(&q->gdb, p.type, p.va, p.len);
        if (s && first == VMIC_OK) {
            first = s;
            snprintf(why, sizeof why, "%s at 0x%" PRIx64 ": %s", point_name(p.type), p.va,
                     vmic_errmsg());
        }
        failed += s != VMIC_OK;
    }
    if (first)
        return vmic_fail(first, "%s: %zu breakpoint(s)/watchpoint(s) could not be removed "
                         "(first: %s)", q->info.source, failed, why);
    return VMIC_OK;
}

vmic_status points_take_out(qemu_driver_t *q, vmic_va_t va)
{
    qemu_point_t *p = find(q, GDB_POINT_HW_BREAK, va, 1);
    if (!p || p->out)
        return VMIC_OK;
    vmic_status s = gdb_remove_point(&q->gdb, p->type, p->va, p->len);
    if (s == VMIC_OK)
        p->out = true;
    return s;
}

vmic_status points_put_back(qemu_driver_t *q)
{
    for (size_t i = 0; i < q->npoints; i++) {
        qemu_point_t *p = &q->points[i];
        if (!p->out)
            continue;
        vmic_status s = gdb_insert_point(&q->gdb, p->type, p->va, p->len);
        if (s)
            return vmic_fail_wrap(s, "%s: putting the breakpoint at 0x%" PRIx64 " back after "
                                  "stepping over it", q->info.source, p->va);
        p->out = false;
    }
    return VMIC_OK;
}
