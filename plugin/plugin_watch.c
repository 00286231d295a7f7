/*
 * The watch set: from the control block to instrumented translations.
 *
 * QEMU binds a plugin's callbacks when it translates, so a new set of
 * watched addresses takes effect only through qemu_plugin_reset: every
 * callback is removed, all translated code is dropped, and vp_on_reset
 * registers again for the new set. The reset must be asked for from a vCPU
 * thread (QEMU only flushes code then), which is why the generation is
 * checked in vCPU callbacks and never in the monitor thread.
 */
#include <stdlib.h>
#include <string.h>

#include "futex.h"
#include "plugin_internal.h"

/* Userdata of one instrumented instruction. Kept for the plugin's life (a
 * reset drops the callbacks that point here, not the memory; the same
 * (pc, pa) retranslated reuses its entry). An exec watch's entry has
 * views 0; a fetch check's has its page's views and program 0. */
struct watched_insn {
    uint64_t pc, pa;
    uint32_t program; /* 1 + capture program, 0 none */
    uint64_t views;   /* bit v: the page lacks X in view v */
    struct watched_insn *next;
};

#define INSN_BUCKETS 4096
#define INSN_MAX (1u << 20) /* distinct (pc, pa) pairs: bounded memory */
static struct watched_insn *insn_table[INSN_BUCKETS];
static uint32_t insn_count;
static pthread_mutex_t insn_lock = PTHREAD_MUTEX_INITIALIZER;

static struct watched_insn *insn_entry(uint64_t pc, uint64_t pa, uint32_t program,
                                       uint64_t views)
{
    unsigned b = (unsigned)((pc ^ (pa * 0x9e3779b97f4a7c15ull)) >> 20) % INSN_BUCKETS;
    pthread_mutex_lock(&insn_lock);
    struct watched_insn *w = insn_table[b];
    while (w && (w->pc != pc || w->pa != pa || w->program != program || w->views != views))
        w = w->next;
    if (!w && insn_count < INSN_MAX && (w = malloc(sizeof *w))) {
        *w = (struct watched_insn){pc, pa, program, views, insn_table[b]};
        insn_table[b] = w;
        insn_count++;
    }
    pthread_mutex_unlock(&insn_lock);
    return w;
}

/* The index of pa in the active set, or -1. */
static int watched(const struct plugin *p, uint64_t pa)
{
    uint32_t lo = 0, hi = p->nactive;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (p->active[mid] == pa)
            return (int)mid;
        if (p->active[mid] < pa)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* The views in which the page gfn lacks X (0: none). */
static uint64_t nx_views(const struct plugin *p, uint64_t gfn)
{
    uint32_t lo = 0, hi = p->nnx;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (p->nx[mid].gfn == gfn)
            return p->nx[mid].views;
        if (p->nx[mid].gfn < gfn)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* The translation is shared by every vCPU, whatever its view: the view is
 * judged here, at run time. The index comes from the client's block, so it
 * is checked before it selects a bit. */
static void on_fetch(unsigned int vcpu, void *userdata)
{
    const struct watched_insn *w = userdata;
    struct plugin *p = &vp_plugin;
    if (vcpu < p->nvcpus) {
        uint32_t view = VMIC_LOAD(&p->ctl->vcpu_view[vcpu]);
        if (view < VMIC_PLUGIN_MAX_VIEWS && (w->views >> view & 1))
            vp_deliver_fetch(p, vcpu, w->pc, w->pa, view);
    }
    vp_maybe_apply(p);
}

static void on_exec(unsigned int vcpu, void *userdata)
{
    const struct watched_insn *w = userdata;
    vp_deliver(&vp_plugin, vcpu, w->pc, w->pa, w->program);
    vp_maybe_apply(&vp_plugin);
}

static void instrument(struct plugin *p, struct qemu_plugin_insn *insn,
                       void (*cb)(unsigned int, void *), struct watched_insn *w)
{
    if (w)
        qemu_plugin_register_vcpu_insn_exec_cb(insn, cb, QEMU_PLUGIN_CB_NO_REGS, w);
    else
        __atomic_fetch_add(&p->ctl->untracked, 1, __ATOMIC_RELAXED);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    struct plugin *p = &vp_plugin;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pa;
        if (!vp_host_to_pa(p, qemu_plugin_insn_haddr(insn), &pa))
            continue;
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        /* The fetch first, as on hardware: a page without X faults before
         * the instruction (and a watch on it) runs. */
        uint64_t views = nx_views(p, pa >> 12);
        if (views)
            instrument(p, insn, on_fetch, insn_entry(pc, pa, 0, views));
        int at = watched(p, pa);
        if (at >= 0)
            instrument(p, insn, on_exec, insn_entry(pc, pa, p->active_program[at], 0));
    }
    vp_maybe_apply(p);
}

static void on_idle_or_resume(qemu_plugin_id_t id, unsigned int vcpu)
{
    vp_maybe_apply(&vp_plugin);
}

/* The callbacks through which the plugin notices a new generation while
 * a client is attached: a vCPU going idle or waking up (QMP stop/cont
 * forces both on a busy guest). */
void vp_register_idle(struct plugin *p)
{
    qemu_plugin_register_vcpu_idle_cb(p->id, on_idle_or_resume);
    qemu_plugin_register_vcpu_resume_cb(p->id, on_idle_or_resume);
}

struct watch_pair {
    uint64_t pa;
    uint8_t program;
};

static int cmp_pair(const void *a, const void *b)
{
    uint64_t x = ((const struct watch_pair *)a)->pa, y = ((const struct watch_pair *)b)->pa;
    return x < y ? -1 : x > y;
}

static int cmp_nx(const void *a, const void *b)
{
    uint64_t x = ((const struct nx_page *)a)->gfn, y = ((const struct nx_page *)b)->gfn;
    return x < y ? -1 : x > y;
}

/* The client's pages without X: count clamped, sorted, a page given twice
 * merged (its views or'ed), pages in no view left out. */
static void snapshot_nx(struct plugin *p)
{
    struct vmic_plugin_ctl *c = p->ctl;
    uint32_t n = VMIC_LOAD(&c->nx_count);
    if (n > VMIC_PLUGIN_MAX_NX)
        n = VMIC_PLUGIN_MAX_NX;
    static struct nx_page pages[VMIC_PLUGIN_MAX_NX]; /* one reset at a time */
    for (uint32_t i = 0; i < n; i++)
        pages[i] = (struct nx_page){__atomic_load_n(&c->nx_gfn[i], __ATOMIC_RELAXED),
                                    __atomic_load_n(&c->nx_views[i], __ATOMIC_RELAXED)};
    qsort(pages, n, sizeof pages[0], cmp_nx);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!pages[i].views)
            continue;
        if (k > 0 && p->next_nx[k - 1].gfn == pages[i].gfn)
            p->next_nx[k - 1].views |= pages[i].views;
        else
            p->next_nx[k++] = pages[i];
    }
    p->nnext_nx = k;
}

/* The client's set, copied: count clamped, then sorted and deduplicated
 * (the copy is what counts; later writes to the block change nothing). */
static void snapshot(struct plugin *p, uint32_t gen)
{
    struct vmic_plugin_ctl *c = p->ctl;
    uint32_t n = VMIC_LOAD(&c->watch_count);
    if (n > VMIC_PLUGIN_MAX_WATCHES)
        n = VMIC_PLUGIN_MAX_WATCHES;
    static struct watch_pair pairs[VMIC_PLUGIN_MAX_WATCHES]; /* one reset at a time */
    vp_capture_snapshot(c, &p->next_capture);
    for (uint32_t i = 0; i < n; i++) {
        pairs[i].pa = __atomic_load_n(&c->watches[i], __ATOMIC_RELAXED);
        uint8_t prog = __atomic_load_n(&c->watch_program[i], __ATOMIC_RELAXED);
        /* A program the set does not have is no program. */
        pairs[i].program = prog <= p->next_capture.nprograms ? prog : 0;
    }
    qsort(pairs, n, sizeof pairs[0], cmp_pair);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (k == 0 || p->next[k - 1] != pairs[i].pa) {
            p->next[k] = pairs[i].pa;
            p->next_program[k++] = pairs[i].program;
        }
    p->nnext = k;
    snapshot_nx(p);
    uint32_t mode = VMIC_LOAD(&c->mode);
    p->next_mode = mode == VMIC_PLUGIN_MODE_RING ? VMIC_PLUGIN_MODE_RING : VMIC_PLUGIN_MODE_SYNC;
    p->next_gen = gen;
}

void vp_maybe_apply(struct plugin *p)
{
    if (__atomic_load_n(&p->reset_in_flight, __ATOMIC_ACQUIRE))
        return;
    bool alive = __atomic_load_n(&p->alive, __ATOMIC_ACQUIRE);
    uint32_t gen = VMIC_LOAD(&p->ctl->watch_gen);
    bool change = alive ? gen != p->applied_gen : p->nactive > 0 || p->nnx > 0;
    if (!change)
        return;
    int idle = 0;
    if (!__atomic_compare_exchange_n(&p->reset_in_flight, &idle, 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED))
        return;
    if (alive) {
        snapshot(p, gen);
    } else {
        /* No client: nothing watched, no callbacks, and the next client's
         * first generation is applied whatever its number. */
        p->nnext = 0;
        p->nnext_nx = 0;
        p->next_mode = VMIC_PLUGIN_MODE_SYNC;
        p->next_gen = p->applied_gen;
    }
    qemu_plugin_reset(p->id, vp_on_reset);
}

/* Runs with every vCPU outside guest code (QEMU's exclusive section), all
 * callbacks already removed: the set can change under no one's feet. */
void vp_on_reset(qemu_plugin_id_t id)
{
    struct plugin *p = &vp_plugin;
    memcpy(p->active, p->next, p->nnext * sizeof p->next[0]);
    memcpy(p->active_program, p->next_program, p->nnext);
    p->capture = p->next_capture;
    p->nactive = p->nnext;
    memcpy(p->nx, p->next_nx, p->nnext_nx * sizeof p->nx[0]);
    p->nnx = p->nnext_nx;
    p->mode = p->next_mode;
    p->applied_gen = p->next_gen;
    struct vmic_plugin_ctl *c = p->ctl;
    c->watches_active = p->nactive;
    c->nx_active = p->nnx;
    c->resets++;
    if (__atomic_load_n(&p->alive, __ATOMIC_ACQUIRE)) {
        vp_register_idle(p);
        if (p->nactive > 0 || p->nnx > 0)
            qemu_plugin_register_vcpu_tb_trans_cb(p->id, on_translate);
        VMIC_STORE(&c->watch_applied, p->applied_gen);
        vmic_futex_wake(&c->watch_applied);
    }
    __atomic_store_n(&p->reset_in_flight, 0, __ATOMIC_RELEASE);
}
