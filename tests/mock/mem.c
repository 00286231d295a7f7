/*
 * The in-memory test backend: zeroed, writable physical memory from pa 0.
 * It proves nothing about real guests; it lets unit tests build page tables
 * and watch what the core's caches send to a backend.
 */
#include <stdlib.h>
#include <string.h>

#include "vmic_mem.h"

#define MEM_MAX_VCPUS 64

typedef struct mem_driver {
    vmic_driver base;
    vmic_mem_options_t opt;
    uint8_t *bytes;
    vmic_mem_region_t region;
    vmic_driver_info_t info;
    vmic_mem_stats_t stats;
    vmic_amd64_regs_t regs[MEM_MAX_VCPUS];
} mem_driver;

static mem_driver *mem_of(vmic_driver *d)
{
    return (mem_driver *)d;
}

static vmic_status mem_check_range(mem_driver *m, vmic_pa_t pa, size_t len)
{
    if (pa.addr >= m->opt.size || len > m->opt.size - pa.addr)
        return vmic_fail(VMIC_E_UNMAPPED,
                         "mem: [0x%llx, +0x%zx) is beyond guest memory (0x%llx bytes)",
                         (unsigned long long)pa.addr, len, (unsigned long long)m->opt.size);
    return VMIC_OK;
}

static void mem_close(vmic_driver *d)
{
    mem_driver *m = mem_of(d);
    free(m->bytes);
    free(m);
}

static const vmic_driver_info_t *mem_info(vmic_driver *d)
{
    return &mem_of(d)->info;
}

static vmic_status mem_read(vmic_driver *d, vmic_pa_t pa, void *buf, size_t len)
{
    mem_driver *m = mem_of(d);
    vmic_status s = mem_check_range(m, pa, len);
    if (s)
        return s;
    m->stats.reads++;
    memcpy(buf, m->bytes + pa.addr, len);
    return VMIC_OK;
}

static vmic_status mem_write(vmic_driver *d, vmic_pa_t pa, const void *buf, size_t len)
{
    mem_driver *m = mem_of(d);
    vmic_status s = mem_check_range(m, pa, len);
    if (s)
        return s;
    m->stats.writes++;
    memcpy(m->bytes + pa.addr, buf, len);
    return VMIC_OK;
}

static vmic_status mem_map_page(vmic_driver *d, vmic_gfn_t gfn, const uint8_t **page)
{
    mem_driver *m = mem_of(d);
    vmic_status s = mem_check_range(m, vmic_gfn_to_pa(gfn), VMIC_PAGE_SIZE);
    if (s)
        return s;
    m->stats.maps++;
    *page = m->bytes + vmic_gfn_to_pa(gfn).addr;
    return VMIC_OK;
}

static void mem_unmap_page(vmic_driver *d, vmic_gfn_t gfn, const uint8_t *page)
{
    mem_of(d)->stats.unmaps++;
}

static vmic_status mem_get_regs(vmic_driver *d, vmic_vcpu_t vcpu, vmic_amd64_regs_t *regs)
{
    mem_driver *m = mem_of(d);
    if (vcpu >= m->opt.vcpus)
        return vmic_fail(VMIC_E_INVAL, "mem: no vCPU %u (the guest has %u)", vcpu, m->opt.vcpus);
    *regs = m->regs[vcpu];
    return VMIC_OK;
}

static vmic_status mem_set_regs(vmic_driver *d, vmic_vcpu_t vcpu, const vmic_amd64_regs_t *regs)
{
    mem_driver *m = mem_of(d);
    if (vcpu >= m->opt.vcpus)
        return vmic_fail(VMIC_E_INVAL, "mem: no vCPU %u (the guest has %u)", vcpu, m->opt.vcpus);
    m->regs[vcpu] = *regs;
    return VMIC_OK;
}

static const vmic_memory_ops_t mem_memory = {.read = mem_read, .write = mem_write};
static const vmic_memory_ops_t mem_memory_map_pages = {
    .write = mem_write, .map_page = mem_map_page, .unmap_page = mem_unmap_page};
static const vmic_register_ops_t mem_registers = {.get = mem_get_regs, .set = mem_set_regs};

static const vmic_driver_ops_t mem_ops = {
    .name = "mem", .close = mem_close, .info = mem_info,
    .memory = &mem_memory, .registers = &mem_registers,
};

static const vmic_driver_ops_t mem_ops_map_pages = {
    .name = "mem", .close = mem_close, .info = mem_info,
    .memory = &mem_memory_map_pages, .registers = &mem_registers,
};

vmic_status vmic_mem_open(const vmic_mem_options_t *opt, vmic_driver **out)
{
    if (!opt || opt->size == 0 || opt->size % VMIC_PAGE_SIZE)
        return vmic_fail(VMIC_E_INVAL, "mem: size must be a non-zero multiple of 4 KiB");
    if (opt->vcpus > MEM_MAX_VCPUS)
        return vmic_fail(VMIC_E_INVAL, "mem: at most %d vCPUs", MEM_MAX_VCPUS);

    mem_driver *m = calloc(1, sizeof *m);
    if (!m)
        return vmic_fail(VMIC_E_NOMEM, "mem: no memory for the driver");
    m->bytes = calloc(1, opt->size);
    if (!m->bytes) {
        free(m);
        return vmic_fail(VMIC_E_NOMEM, "mem: cannot allocate 0x%llx bytes of guest memory",
                         (unsigned long long)opt->size);
    }
    m->opt = *opt;
    m->base.ops = opt->map_pages ? &mem_ops_map_pages : &mem_ops;
    m->region = (vmic_mem_region_t){
        .start = vmic_pa(0), .size = opt->size,
        .host = opt->copy_only || opt->map_pages ? NULL : m->bytes,
        .writable = true, .file_offset = UINT64_MAX,
    };
    m->info = (vmic_driver_info_t){
        .driver = "mem", .source = "memory",
        .caps = vmic_driver_caps(m->base.ops),
        .mem_size = opt->size, .max_pa = vmic_pa(opt->size), .vcpu_count = opt->vcpus,
        .regions = &m->region,
        .nregions = 1,
    };
    *out = &m->base;
    return VMIC_OK;
}

uint8_t *vmic_mem_bytes(vmic_driver *d)
{
    return mem_of(d)->bytes;
}

vmic_mem_stats_t vmic_mem_stats(vmic_driver *d)
{
    return mem_of(d)->stats;
}

vmic_status vmic_mem_set_regs(vmic_driver *d, vmic_vcpu_t vcpu, const vmic_amd64_regs_t *regs)
{
    return mem_set_regs(d, vcpu, regs);
}
