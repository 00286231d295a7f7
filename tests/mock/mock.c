/*
 * The mock driver: opening it, its memory and registers, and the one table
 * that wires every operation (the other files implement them).
 */
#include <stdlib.h>
#include <string.h>

#include "mock_internal.h"

#define DEFAULT_SPARE_PAGES 16

static vmic_status check_range(vmic_mock *m, vmic_pa_t pa, size_t len)
{
    uint64_t size = m->npages * VMIC_PAGE_SIZE;
    if (pa.addr >= size || len > size - pa.addr)
        return vmic_fail(VMIC_E_UNMAPPED,
                         "mock: [0x%llx, +0x%zx) is beyond guest memory (0x%llx bytes)",
                         (unsigned long long)pa.addr, len, (unsigned long long)size);
    return VMIC_OK;
}

static void mock_close(vmic_driver *d)
{
    vmic_mock *m = mock_from(d);
    mock_events_free(m);
    mock_views_free(m);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->mu);
    free(m->records);
    free(m->spare_used);
    free(m->bytes);
    free(m);
}

static const vmic_driver_info_t *mock_info(vmic_driver *d)
{
    return &mock_from(d)->info;
}

static vmic_status mock_read(vmic_driver *d, vmic_pa_t pa, void *buf, size_t len)
{
    vmic_mock *m = mock_from(d);
    mock_lock(m);
    vmic_status s = mock_fault_check(m, VMIC_MOCK_READ, pa.addr >> VMIC_PAGE_SHIFT,
                                     (pa.addr + (len ? len - 1 : 0)) >> VMIC_PAGE_SHIFT,
                                     "physical memory");
    if (s == VMIC_OK && (s = check_range(m, pa, len)) == VMIC_OK) {
        m->stats.reads++;
        memcpy(buf, m->bytes + pa.addr, len);
    }
    mock_unlock(m);
    return s;
}

static vmic_status mock_write(vmic_driver *d, vmic_pa_t pa, const void *buf, size_t len)
{
    vmic_mock *m = mock_from(d);
    mock_lock(m);
    vmic_status s = mock_fault_check(m, VMIC_MOCK_WRITE, pa.addr >> VMIC_PAGE_SHIFT,
                                     (pa.addr + (len ? len - 1 : 0)) >> VMIC_PAGE_SHIFT,
                                     "physical memory");
    if (s == VMIC_OK && (s = check_range(m, pa, len)) == VMIC_OK) {
        m->stats.writes++;
        memcpy(m->bytes + pa.addr, buf, len);
    }
    mock_unlock(m);
    return s;
}

static vmic_status no_vcpu(const vmic_mock *m, vmic_vcpu_t vcpu)
{
    return vmic_fail(VMIC_E_INVAL, "mock: no vCPU %u (the guest has %u)", vcpu, m->opt.vcpus);
}

static vmic_status mock_get_regs(vmic_driver *d, vmic_vcpu_t vcpu, vmic_amd64_regs_t *regs)
{
    vmic_mock *m = mock_from(d);
    if (vcpu >= m->opt.vcpus)
        return no_vcpu(m, vcpu);
    mock_lock(m);
    *regs = m->vcpus[vcpu].regs;
    mock_unlock(m);
    return VMIC_OK;
}

static vmic_status mock_set_regs_op(vmic_driver *d, vmic_vcpu_t vcpu,
                                    const vmic_amd64_regs_t *regs)
{
    vmic_mock *m = mock_from(d);
    if (vcpu >= m->opt.vcpus)
        return no_vcpu(m, vcpu);
    mock_lock(m);
    m->vcpus[vcpu].regs = *regs;
    mock_unlock(m);
    return VMIC_OK;
}

/* Every operation of the mock, in one place, grouped as driver.h asks. */
static const vmic_memory_ops_t mock_memory = {.read = mock_read, .write = mock_write};
static const vmic_register_ops_t mock_registers = {.get = mock_get_regs,
                                                   .set = mock_set_regs_op};
static const vmic_control_ops_t mock_control = {.pause = mock_pause, .resume = mock_resume};
static const vmic_event_ops_t mock_events = {
    .attach = mock_attach_events, .check_response = mock_check_response,
    .guest_state = mock_guest_state, .reset = mock_reset_events,
};
/* The INT3 monitor is the only kind the mock models. */
static const vmic_monitor_ops_t mock_monitors = {.interrupt = mock_monitor};
static const vmic_breakpoint_ops_t mock_breakpoints = {.set = mock_set_hw_breakpoint};
static const vmic_view_ops_t mock_views = {
    .create = mock_create_view, .destroy = mock_destroy_view, .switch_to = mock_switch_view,
    .vcpu_view = mock_vcpu_view_op, .get_access = mock_get_access,
    .set_access = mock_set_access, .remap_gfn = mock_remap_gfn,
    .alloc_gfn = mock_alloc_gfn, .free_gfn = mock_free_gfn,
};

static const vmic_driver_ops_t mock_ops = {
    .name = "mock",
    .close = mock_close,
    .info = mock_info,
    .memory = &mock_memory,
    .registers = &mock_registers,
    .control = &mock_control,
    .events = &mock_events,
    .monitors = &mock_monitors,
    .breakpoints = &mock_breakpoints,
    .views = &mock_views,
};

static void publish(vmic_mock *m)
{
    uint64_t ram = m->ram_pages * VMIC_PAGE_SIZE, spare = m->npages * VMIC_PAGE_SIZE - ram;
    uint8_t *host = m->opt.copy_only ? NULL : m->bytes;
    m->regions[0] = (vmic_mem_region_t){.start = vmic_pa(0), .size = ram, .host = host,
                                        .writable = true, .file_offset = UINT64_MAX};
    m->regions[1] = (vmic_mem_region_t){.start = vmic_pa(ram), .size = spare,
                                        .host = host ? host + ram : NULL, .writable = true,
                                        .file_offset = UINT64_MAX};
    m->info = (vmic_driver_info_t){
        .driver = "mock", .source = "mock guest", .caps = vmic_driver_caps(&mock_ops),
        .mem_size = ram + spare, .max_pa = vmic_pa(ram + spare), .vcpu_count = m->opt.vcpus,
        .regions = m->regions, .nregions = 2,
    };
}

vmic_status vmic_mock_open(const vmic_mock_options_t *opt, vmic_driver **out)
{
    *out = NULL;
    if (!opt || opt->ram_size == 0 || opt->ram_size % VMIC_PAGE_SIZE)
        return vmic_fail(VMIC_E_INVAL, "mock: RAM must be a non-zero multiple of 4 KiB");
    if (opt->vcpus > MOCK_MAX_VCPUS)
        return vmic_fail(VMIC_E_INVAL, "mock: at most %d vCPUs", MOCK_MAX_VCPUS);
    vmic_mock *m = calloc(1, sizeof *m);
    if (!m)
        return vmic_fail(VMIC_E_NOMEM, "mock: no memory for the driver");
    m->opt = *opt;
    m->opt.vcpus = opt->vcpus ? opt->vcpus : 1;
    m->opt.spare_pages = opt->spare_pages ? opt->spare_pages : DEFAULT_SPARE_PAGES;
    m->ram_pages = opt->ram_size / VMIC_PAGE_SIZE;
    m->npages = m->ram_pages + m->opt.spare_pages;
    m->base.ops = &mock_ops;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cond, NULL);
    m->bytes = calloc(m->npages, VMIC_PAGE_SIZE);
    m->spare_used = calloc(m->opt.spare_pages, sizeof *m->spare_used);
    if (!m->bytes || !m->spare_used || mock_views_init(m)) {
        mock_close(&m->base);
        return vmic_fail(VMIC_E_NOMEM, "mock: no memory for 0x%llx pages of guest memory",
                         (unsigned long long)opt->ram_size / VMIC_PAGE_SIZE);
    }
    m->state = VMIC_GUEST_PAUSED;
    publish(m);
    *out = &m->base;
    return VMIC_OK;
}

vmic_mock *vmic_mock_of(vmic_driver *d)
{
    return d && d->ops == &mock_ops ? mock_from(d) : NULL;
}

uint8_t *vmic_mock_memory(vmic_mock *m)
{
    return m->bytes;
}

vmic_gfn_t vmic_mock_first_spare(vmic_mock *m)
{
    return vmic_gfn(m->ram_pages);
}

vmic_status vmic_mock_set_regs(vmic_mock *m, vmic_vcpu_t vcpu, const vmic_amd64_regs_t *regs)
{
    return mock_set_regs_op(&m->base, vcpu, regs);
}

vmic_status vmic_mock_get_regs(vmic_mock *m, vmic_vcpu_t vcpu, vmic_amd64_regs_t *regs)
{
    return mock_get_regs(&m->base, vcpu, regs);
}

vmic_view_t vmic_mock_vcpu_view(vmic_mock *m, vmic_vcpu_t vcpu)
{
    mock_lock(m);
    vmic_view_t v = vcpu < m->opt.vcpus ? m->vcpus[vcpu].view : VMIC_VIEW_DEFAULT;
    mock_unlock(m);
    return v;
}

size_t vmic_mock_records(vmic_mock *m, const vmic_mock_record_t **out)
{
    mock_lock(m);
    size_t n = m->nrecords;
    if (out)
        *out = m->records;
    mock_unlock(m);
    return n;
}

void vmic_mock_clear_records(vmic_mock *m)
{
    mock_lock(m);
    m->nrecords = 0;
    mock_unlock(m);
}

vmic_mock_stats_t vmic_mock_stats(vmic_mock *m)
{
    mock_lock(m);
    vmic_mock_stats_t st = m->stats;
    st.views = 0;
    for (size_t v = 1; v < MOCK_MAX_VIEWS; v++)
        st.views += m->views[v].live;
    st.spare_in_use = 0;
    for (size_t i = 0; i < m->opt.spare_pages; i++)
        st.spare_in_use += m->spare_used[i];
    st.int3_monitor = m->int3_monitor;
    st.hw_breakpoints = 0;
    for (size_t i = 0; i < MOCK_HW_SLOTS; i++)
        st.hw_breakpoints += m->hw_used[i];
    mock_unlock(m);
    return st;
}
