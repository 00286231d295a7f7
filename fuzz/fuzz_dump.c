/*
 * libFuzzer target for the dump driver: the input is a dump file, opened as
 * each format in turn (auto-detected, ELF, LiME, raw). An open that succeeds
 * must describe only memory inside the input: every region is touched at its
 * first and last byte (ASan catches anything outside), regions must be sorted
 * and disjoint, and get_regs must answer for exactly vcpu_count vCPUs.
 * Any broken promise traps, which libFuzzer reports as a crash.
 */
#include <stddef.h>
#include <stdint.h>

#include <vmic/driver.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)              \
    do {                           \
        if (!(cond))               \
            __builtin_trap();      \
    } while (0)

static void check_regions(const vmic_driver_info_t *info, const uint8_t *data, size_t size)
{
    uint64_t total = 0;

    for (size_t i = 0; i < info->nregions; i++) {
        const vmic_mem_region_t *r = &info->regions[i];
        REQUIRE(r->size > 0 && r->host != NULL && !r->writable);
        REQUIRE(r->host >= data && r->size <= size &&
                (size_t)(r->host - data) <= size - r->size);
        REQUIRE(r->file_offset == (uint64_t)(r->host - data));
        if (i > 0)
            REQUIRE(info->regions[i - 1].start.addr + info->regions[i - 1].size <=
                    r->start.addr);
        volatile uint8_t first = r->host[0];
        volatile uint8_t last = r->host[r->size - 1];
        (void)first;
        (void)last;
        total += r->size;
    }
    REQUIRE(total == info->mem_size);
}

static void check_registers(vmic_driver *d, const vmic_driver_info_t *info)
{
    vmic_amd64_regs_t regs;

    REQUIRE((info->vcpu_count > 0) == ((info->caps & VMIC_CAP_REGISTERS) != 0));
    if (!d->ops->registers) {
        REQUIRE(info->vcpu_count == 0);
        return;
    }
    for (uint32_t vcpu = 0; vcpu < info->vcpu_count; vcpu++)
        REQUIRE(d->ops->registers->get(d, vcpu, &regs) == VMIC_OK);
    REQUIRE(d->ops->registers->get(d, info->vcpu_count, &regs) == VMIC_E_INVAL);
}

static void check_read(vmic_driver *d, const vmic_driver_info_t *info)
{
    uint8_t byte;

    if (info->nregions == 0)
        return;
    const vmic_mem_region_t *last = &info->regions[info->nregions - 1];
    REQUIRE(d->ops->memory->read(d, info->regions[0].start, &byte, 1) == VMIC_OK);
    REQUIRE(byte == info->regions[0].host[0]);
    REQUIRE(d->ops->memory->read(d, vmic_pa(last->start.addr + last->size - 1), &byte, 1) == VMIC_OK);
    REQUIRE(byte == last->host[last->size - 1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const vmic_dump_format formats[] = {
        VMIC_DUMP_AUTO, VMIC_DUMP_ELF, VMIC_DUMP_LIME, VMIC_DUMP_RAW,
    };

    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        vmic_driver *d;
        if (vmic_dump_open_buffer(data, size, formats[i], "fuzz", &d) != VMIC_OK) {
            REQUIRE(d == NULL);
            continue;
        }
        const vmic_driver_info_t *info = d->ops->info(d);
        check_regions(info, data, size);
        check_registers(d, info);
        check_read(d, info);
        vmic_driver_close(d);
    }
    return 0;
}
