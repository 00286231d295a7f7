/*
 * Views on QEMU, through vmic's plugin: the memory controller of vmi-rs
 * where the only access a page can lose is X. The plugin sees every
 * instruction QEMU translates, by its guest-physical page, so a page
 * without X in a view makes each instruction fetched from it, by a vCPU in
 * that view, an event (VMIC_EVENT_MEMORY_ACCESS, access X, no registers).
 * It sees no reads or writes (API v1 has memory callbacks, but they cannot
 * stop the access either), so an access without R or W is refused, as are
 * remapped and spare gfns: views here are exec_only (driver.h).
 *
 * The plugin cannot withhold the instruction: the vCPU waits in a
 * callback, and the answer lets it run. So Continue and FastSinglestep both
 * mean "the instruction runs and the view is what it was" (on KVM a
 * Continue from the same view faults again); Continue with a new view
 * switches the vCPU, as on KVM, from its next instruction.
 *
 * State lives with the plugin's (pl->lock): the pages go to the plugin with
 * the exec watches (a reset: translations bind callbacks); a vCPU's view is
 * one word of the control block the callbacks read each time, so a switch
 * costs nothing and needs no reset.
 */
#include <string.h>

#include "qemu.h"

static qemu_plugin_events_t *pl_of(vmic_driver *d)
{
    return &qemu_of(d)->pl;
}

static const char *src(vmic_driver *d)
{
    return qemu_of(d)->info.source;
}

/* Under pl->lock: the default view, or one made and not destroyed. */
static bool view_in_use(const qemu_plugin_events_t *pl, vmic_view_t view)
{
    return view == VMIC_VIEW_DEFAULT || (view < VMIC_PLUGIN_MAX_VIEWS && pl->view_used[view]);
}

/* Under pl->lock. */
static vmic_status check_view(vmic_driver *d, vmic_view_t view)
{
    if (!view_in_use(pl_of(d), view))
        return vmic_fail(VMIC_E_NOTFOUND, "%s: there is no view %u", src(d), view);
    return VMIC_OK;
}

static vmic_status check_gfn(vmic_driver *d, vmic_gfn_t gfn)
{
    const vmic_driver_info_t *info = &qemu_of(d)->info;
    if (gfn.num >= (info->max_pa.addr >> VMIC_PAGE_SHIFT))
        return vmic_fail(VMIC_E_UNMAPPED, "%s: gfn 0x%llx is beyond guest RAM", info->source,
                         (unsigned long long)gfn.num);
    return VMIC_OK;
}

static int nx_find(const qemu_plugin_events_t *pl, vmic_view_t view, uint64_t gfn)
{
    for (uint32_t i = 0; i < pl->nnx; i++)
        if (pl->nx[i].view == view && pl->nx[i].gfn == gfn)
            return (int)i;
    return -1;
}

static void nx_remove_at(qemu_plugin_events_t *pl, uint32_t i)
{
    pl->nx[i] = pl->nx[--pl->nnx];
    pl->dirty = true;
}

/* Under pl->lock: a vCPU's view, into the block if a client is there (and
 * at the next attach otherwise). */
static void put_vcpu_view(qemu_plugin_events_t *pl, uint32_t vcpu, vmic_view_t view)
{
    pl->vcpu_view[vcpu] = view;
    if (pl->attached)
        vmic__plugin_set_view(&pl->c, vcpu, view);
}

bool qemu_view_exists(qemu_driver_t *q, vmic_view_t view)
{
    qemu_plugin_events_t *pl = &q->pl;
    pthread_mutex_lock(&pl->lock);
    bool ok = view_in_use(pl, view);
    pthread_mutex_unlock(&pl->lock);
    return ok;
}

void qemu_view_switch_vcpu(qemu_driver_t *q, vmic_vcpu_t vcpu, vmic_view_t view)
{
    qemu_plugin_events_t *pl = &q->pl;
    pthread_mutex_lock(&pl->lock);
    if (vcpu < q->info.vcpu_count && vcpu < VMIC_PLUGIN_MAX_VCPUS && view_in_use(pl, view))
        put_vcpu_view(pl, vcpu, view);
    pthread_mutex_unlock(&pl->lock);
}

/* Under pl->lock: every view but 0 gone, every vCPU in view 0. */
void qemu_views_clear(qemu_plugin_events_t *pl)
{
    memset(pl->view_used, 0, sizeof pl->view_used);
    for (uint32_t i = 0; i < VMIC_PLUGIN_MAX_VCPUS; i++)
        if (pl->vcpu_view[i])
            put_vcpu_view(pl, i, VMIC_VIEW_DEFAULT);
    if (pl->nnx)
        pl->dirty = true;
    pl->nnx = 0;
}

vmic_status qemu_create_view(vmic_driver *d, vmic_view_t *view)
{
    qemu_plugin_events_t *pl = pl_of(d);
    pthread_mutex_lock(&pl->lock);
    for (unsigned i = 1; i < VMIC_PLUGIN_MAX_VIEWS; i++) {
        if (!pl->view_used[i]) {
            pl->view_used[i] = true;
            *view = (vmic_view_t)i;
            pthread_mutex_unlock(&pl->lock);
            return VMIC_OK;
        }
    }
    pthread_mutex_unlock(&pl->lock);
    return vmic_fail(VMIC_E_RANGE, "%s: all %u views are in use", src(d), VMIC_PLUGIN_MAX_VIEWS);
}

vmic_status qemu_destroy_view(vmic_driver *d, vmic_view_t view)
{
    qemu_plugin_events_t *pl = pl_of(d);
    if (view == VMIC_VIEW_DEFAULT)
        return vmic_fail(VMIC_E_INVAL, "%s: view 0 is the default view and cannot be destroyed",
                         src(d));
    pthread_mutex_lock(&pl->lock);
    vmic_status s = check_view(d, view);
    if (s == VMIC_OK) {
        for (uint32_t i = 0; i < VMIC_PLUGIN_MAX_VCPUS; i++)
            if (pl->vcpu_view[i] == view)
                put_vcpu_view(pl, i, VMIC_VIEW_DEFAULT);
        for (uint32_t i = pl->nnx; i-- > 0;)
            if (pl->nx[i].view == view)
                nx_remove_at(pl, i);
        pl->view_used[view] = false;
    }
    pthread_mutex_unlock(&pl->lock);
    return s;
}

vmic_status qemu_switch_view(vmic_driver *d, vmic_view_t view)
{
    qemu_plugin_events_t *pl = pl_of(d);
    uint32_t n = qemu_of(d)->info.vcpu_count;
    pthread_mutex_lock(&pl->lock);
    vmic_status s = check_view(d, view);
    for (uint32_t i = 0; s == VMIC_OK && i < n && i < VMIC_PLUGIN_MAX_VCPUS; i++)
        put_vcpu_view(pl, i, view);
    pthread_mutex_unlock(&pl->lock);
    return s;
}

vmic_status qemu_vcpu_view(vmic_driver *d, vmic_vcpu_t vcpu, vmic_view_t *view)
{
    qemu_plugin_events_t *pl = pl_of(d);
    uint32_t n = qemu_of(d)->info.vcpu_count;
    if (vcpu >= n || vcpu >= VMIC_PLUGIN_MAX_VCPUS)
        return vmic_fail(VMIC_E_INVAL, "%s: no vCPU %u (the VM has %u)", src(d), vcpu, n);
    pthread_mutex_lock(&pl->lock);
    *view = pl->vcpu_view[vcpu];
    pthread_mutex_unlock(&pl->lock);
    return VMIC_OK;
}

vmic_status qemu_get_access(vmic_driver *d, vmic_view_t view, vmic_gfn_t gfn,
                            vmic_access_t *access)
{
    qemu_plugin_events_t *pl = pl_of(d);
    vmic_status s = check_gfn(d, gfn);
    if (s)
        return s;
    pthread_mutex_lock(&pl->lock);
    if ((s = check_view(d, view)) == VMIC_OK)
        *access = nx_find(pl, view, gfn.num) >= 0 ? VMIC_ACCESS_RW : VMIC_ACCESS_RWX;
    pthread_mutex_unlock(&pl->lock);
    return s;
}

vmic_status qemu_set_access(vmic_driver *d, vmic_view_t view, vmic_gfn_t gfn,
                            vmic_access_t access)
{
    qemu_plugin_events_t *pl = pl_of(d);
    vmic_status s = check_gfn(d, gfn);
    if (s)
        return s;
    if (access & ~VMIC_ACCESS_RWX)
        return vmic_fail(VMIC_E_INVAL, "%s: access 0x%x has bits other than R, W, X", src(d),
                         access);
    if ((access & VMIC_ACCESS_RW) != VMIC_ACCESS_RW)
        return vmic_fail(VMIC_E_UNSUPPORTED, "%s: a page can only lose X here: vmic's QEMU "
                         "plugin sees instructions, not reads and writes (QEMU's plugin API "
                         "v1 cannot stop a data access); data traps are "
                         "vmic_watchpoint_set through the gdbstub", src(d));
    pthread_mutex_lock(&pl->lock);
    if ((s = check_view(d, view)) == VMIC_OK) {
        int at = nx_find(pl, view, gfn.num);
        bool want_nx = !(access & VMIC_ACCESS_X);
        if (want_nx && at < 0 && pl->nnx == VMIC_PLUGIN_MAX_NX)
            s = vmic_fail(VMIC_E_RANGE, "%s: at most %u pages without X over all views",
                          src(d), VMIC_PLUGIN_MAX_NX);
        else if (want_nx && at < 0) {
            pl->nx[pl->nnx++] = (qemu_nx_page_t){.gfn = gfn.num, .view = view};
            pl->dirty = true;
        } else if (!want_nx && at >= 0)
            nx_remove_at(pl, (uint32_t)at);
    }
    pthread_mutex_unlock(&pl->lock);
    return s;
}
