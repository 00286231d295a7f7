/*
 * The guest-physical layout of big guests: 4.5 GiB of RAM on the pc (i440fx)
 * and q35 machines, where QEMU splits RAM around the PCI hole below 4 GiB
 * (pc: [0, 3 GiB) + [4 GiB, 5.5 GiB); q35: [0, 2 GiB) + [4 GiB, 6.5 GiB)), the
 * part above 4 GiB continuing in the RAM file where the low part ends. No
 * kernel: the firmware runs and finds nothing to boot; the RAM file is
 * sparse, so this costs neither time nor memory.
 *
 *   argv[1]  the vmic binary
 *
 * Truth: QEMU's own "xp" reading guest-physical addresses, for bytes vmic
 * writes at both ends of both parts and for what the firmware left in low
 * memory.
 */
#include <inttypes.h>

#include "harness.h"
#include "live.h"

static const char *vmic_bin;

typedef struct machine {
    const char *name;
    uint64_t low;   /* RAM below the PCI hole */
} machine;

static vmic_core *core;
static live_qmp qmp;

static void check_layout(const machine *m, const char *dir, const char *target)
{
    const uint64_t total = 4608ull << 20, high = total - m->low;
    vmic_driver *drv = NULL;

    vmic_qemu_config_t cfg = {.timeout_ms = 5000};
    CHECK_OK(vmic_qemu_open_target(target, &cfg, &drv));
    CHECK_OK(vmic_core_open(drv, NULL, &core));
    const vmic_driver_info_t *info = vmic_core_info(core);
    fprintf(stderr, "  %s: %zu regions\n", m->name, info->nregions);
    for (size_t i = 0; i < info->nregions; i++)
        fprintf(stderr, "    [0x%09" PRIx64 ", 0x%09" PRIx64 ") file offset 0x%" PRIx64 "\n",
                info->regions[i].start.addr, info->regions[i].start.addr + info->regions[i].size,
                info->regions[i].file_offset);

    /* Low RAM may have firmware holes (VGA on q35 is off with -nodefaults):
     * what matters is where it ends and where the rest continues. */
    CHECK(info->nregions >= 2);
    const vmic_mem_region_t *lo = &info->regions[info->nregions - 2];
    const vmic_mem_region_t *hi = &info->regions[info->nregions - 1];
    CHECK_EQ(lo->start.addr + lo->size, m->low);
    CHECK_EQ(lo->file_offset + lo->size, m->low);
    CHECK_EQ(hi->start.addr, 4ull << 30);
    CHECK_EQ(hi->size, high);
    CHECK_EQ(hi->file_offset, m->low);
    CHECK_EQ(info->mem_size, total);
    CHECK_EQ(info->max_pa.addr, (4ull << 30) + high);
    CHECK(lo->writable && hi->writable);

    CHECK_OK(vmic_pause(core));
    live_qmp_open(&qmp, dir);
    CHECK(qmp.open);

    /* vmic's writes at both ends of both parts, read back by QEMU. */
    const uint64_t where[] = {0x1000, m->low - 8, 4ull << 30, (4ull << 30) + high - 8,
                              (4ull << 30) + 0x12345678};
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        uint64_t mark = 0x564d4943000000ull ^ where[i], seen = 0, back = 0;
        CHECK_OK(vmic_write_pa(core, vmic_pa(where[i]), &mark, sizeof mark));
        CHECK(live_xp64(&qmp, where[i], &seen));
        CHECK_MSG(seen == mark, "%s pa 0x%" PRIx64 ": QEMU reads 0x%" PRIx64 ", vmic wrote 0x%"
                  PRIx64, m->name, where[i], seen, mark);
        CHECK_OK(vmic_read_u64_pa(core, vmic_pa(where[i]), &back));
        CHECK_EQ(back, mark);
    }
    /* The firmware's own bytes (the BIOS copy at 0xf0000, its data area),
     * as QEMU reads them. */
    const uint64_t firmware[] = {0xffff0, 0xf0000, 0x400, 0x9fc00};
    for (size_t i = 0; i < sizeof firmware / sizeof firmware[0]; i++) {
        uint64_t mine, seen;
        CHECK_OK(vmic_read_u64_pa(core, vmic_pa(firmware[i]), &mine));
        CHECK(live_xp64(&qmp, firmware[i], &seen));
        CHECK_MSG(seen == mine, "%s pa 0x%" PRIx64 ": QEMU 0x%" PRIx64 " vmic 0x%" PRIx64,
                  m->name, firmware[i], seen, mine);
    }
    /* The hole is not RAM. */
    uint64_t v;
    CHECK_ERR(vmic_read_u64_pa(core, vmic_pa(m->low), &v), VMIC_E_UNMAPPED);
    CHECK_ERR(vmic_read_u64_pa(core, vmic_pa((4ull << 30) - 8), &v), VMIC_E_UNMAPPED);
    CHECK_ERR(vmic_read_u64_pa(core, vmic_pa((4ull << 30) + high), &v), VMIC_E_UNMAPPED);
    live_qmp_close(&qmp);
    CHECK_OK(vmic_resume(core));
}

/* Boots, checks, and always stops QEMU again, whatever failed. */
static void check_machine(const machine *m)
{
    char dir[256], target[300], out[4096];

    live_tmpdir(dir, sizeof dir, "layout");   /* new, empty, 0700: boot takes it */
    snprintf(target, sizeof target, "qemu:%s", dir);
    char *boot[] = {(char *)vmic_bin, "boot", "-q", "--no-kernel", "--machine", (char *)m->name,
                    "-m", "4608", "--dir", dir, NULL};
    int rc = live_run(boot, out, sizeof out, 60);
    CHECK_MSG(rc == 0, "vmic boot --machine %s -m 4608: exit %d", m->name, rc);

    check_layout(m, dir, target);
    live_qmp_close(&qmp);
    if (core)
        vmic_core_close(core);
    core = NULL;
    CHECK_EQ(live_stop(vmic_bin, dir), 0);
}

static void test_pc_4608m(void)
{
    static const machine pc = {"pc", 3ull << 30};
    check_machine(&pc);
}

static void test_q35_4608m(void)
{
    static const machine q35 = {"q35", 2ull << 30};
    check_machine(&q35);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s VMIC_BINARY\n", argv[0]);
        return 2;
    }
    live_require_qemu("qemu layout tests");
    vmic_bin = argv[1];
    RUN(test_pc_4608m);
    RUN(test_q35_4608m);
    return HARNESS_RESULT();
}
