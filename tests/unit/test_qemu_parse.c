/*
 * The qemu driver's text parsers: the guest-physical RAM layout in HMP's
 * "info mtree -f" (QEMU 7.2's own output for a 256 MiB and a 4.5 GiB pc
 * guest, and a q35 layout with a VGA hole), TARGET strings and endpoints.
 * The live counterpart is tests/qemu/.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/qemu/qemu.h"
#include "harness.h"

/* As QMP hands HMP's output over: \r\n line ends. */
static const char mtree_256m[] =
    "FlatView #0\r\n"
    " AS \"cpu-smm-0\", root: memory\r\n"
    " Root memory region: memory\r\n"
    "  0000000000000000-00000000000c2fff (prio 0, ram): ram0\r\n"
    "  00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios\r\n"
    "\r\n"
    "FlatView #2\r\n"
    " AS \"memory\", root: system\r\n"
    " AS \"cpu-memory-0\", root: system\r\n"
    " Root memory region: system\r\n"
    "  0000000000000000-00000000000c2fff (prio 0, ram): ram0\r\n"
    "  00000000000c3000-00000000000e7fff (prio 0, rom): ram0 @00000000000c3000\r\n"
    "  00000000000e8000-00000000000effff (prio 0, ram): ram0 @00000000000e8000\r\n"
    "  00000000000f0000-00000000000fffff (prio 0, rom): ram0 @00000000000f0000\r\n"
    "  0000000000100000-000000000fffffff (prio 0, ram): ram0 @0000000000100000\r\n"
    "  00000000fec00000-00000000fec00fff (prio 0, i/o): ioapic\r\n"
    "  00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios\r\n"
    "\r\n"
    "FlatView #3\r\n"
    " AS \"I/O\", root: io\r\n"
    " Root memory region: io\r\n"
    "  0000000000000000-0000000000000007 (prio 0, i/o): dma-chan\r\n";

static const char mtree_pc_4608m[] =
    "FlatView #0\n"
    " AS \"memory\", root: system\n"
    " AS \"cpu-memory-0\", root: system\n"
    " Root memory region: system\n"
    "  0000000000000000-00000000000c2fff (prio 0, ram): ram0\n"
    "  00000000000c3000-00000000000e7fff (prio 0, rom): ram0 @00000000000c3000\n"
    "  00000000000e8000-00000000000effff (prio 0, ram): ram0 @00000000000e8000\n"
    "  00000000000f0000-00000000000fffff (prio 0, rom): ram0 @00000000000f0000\n"
    "  0000000000100000-00000000bfffffff (prio 0, ram): ram0 @0000000000100000\n"
    "  00000000fec00000-00000000fec00fff (prio 0, i/o): ioapic\n"
    "  00000000fed00000-00000000fed003ff (prio 0, i/o): hpet\n"
    "  00000000fee00000-00000000feefffff (prio 4096, i/o): apic-msi\n"
    "  00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios\n"
    "  0000000100000000-000000015fffffff (prio 0, ram): ram0 @00000000c0000000\n";

/* q35 with 6.5 GiB and a VGA window (as -vga std adds): a hole in low RAM at
 * 0xa0000 too. */
static const char mtree_q35_vga[] =
    "FlatView #1\n"
    " AS \"memory\", root: system\n"
    " AS \"cpu-memory-0\", root: system\n"
    " Root memory region: system\n"
    "  0000000000000000-000000000009ffff (prio 0, ram): ram0\n"
    "  00000000000a0000-00000000000bffff (prio 1, i/o): vga-lowmem\n"
    "  00000000000c0000-00000000000dffff (prio 0, rom): ram0 @00000000000c0000\n"
    "  00000000000e0000-000000007fffffff (prio 0, ram): ram0 @00000000000e0000\n"
    "  00000000b0000000-00000000bfffffff (prio 0, i/o): pcie-mmcfg-mmio\n"
    "  0000000100000000-000000018fffffff (prio 0, ram): ram0 @0000000080000000\n";

static void test_mtree_256m(void)
{
    qemu_ram_range_t *r;
    size_t n;
    CHECK_OK(mtree_ram_ranges(mtree_256m, "memory", "ram0", &r, &n));
    /* Five lines, one contiguous range at file offset 0. */
    CHECK_EQ(n, 1);
    CHECK_EQ(r[0].pa, 0);
    CHECK_EQ(r[0].size, 0x10000000);
    CHECK_EQ(r[0].offset, 0);
    free(r);
}

static void test_mtree_pci_hole(void)
{
    qemu_ram_range_t *r;
    size_t n;
    CHECK_OK(mtree_ram_ranges(mtree_pc_4608m, "memory", "ram0", &r, &n));
    CHECK_EQ(n, 2);
    CHECK_EQ(r[0].pa, 0);
    CHECK_EQ(r[0].size, 0xc0000000ull);
    CHECK_EQ(r[0].offset, 0);
    CHECK_EQ(r[1].pa, 0x100000000ull);
    CHECK_EQ(r[1].size, 0x60000000ull);
    CHECK_EQ(r[1].offset, 0xc0000000ull);
    free(r);

    CHECK_OK(mtree_ram_ranges(mtree_q35_vga, "memory", "ram0", &r, &n));
    CHECK_EQ(n, 3);
    CHECK_EQ(r[0].size, 0xa0000);
    CHECK_EQ(r[1].pa, 0xc0000);
    CHECK_EQ(r[1].offset, 0xc0000);
    CHECK_EQ(r[1].size, 0x80000000ull - 0xc0000);
    CHECK_EQ(r[2].pa, 0x100000000ull);
    CHECK_EQ(r[2].offset, 0x80000000ull);
    free(r);
}

static void test_mtree_other_regions_and_errors(void)
{
    qemu_ram_range_t *r;
    size_t n;

    /* Another backend, or a name that only starts like ours: not ours. */
    CHECK_OK(mtree_ram_ranges(mtree_256m, "memory", "ram", &r, &n));
    CHECK_EQ(n, 0);
    CHECK_OK(mtree_ram_ranges(mtree_256m, "memory", "pc.bios", &r, &n));
    CHECK_EQ(n, 1);
    CHECK_EQ(r[0].pa, 0xfffc0000ull);
    free(r);

    CHECK_ERR(mtree_ram_ranges("info mtree: unknown option\r\n", "memory", "ram0", &r, &n),
              VMIC_E_FORMAT);
    CHECK_ERRMSG("no flat view");

    static const char overlap[] =
        "FlatView #0\n AS \"memory\", root: system\n"
        "  0000000000000000-0000000000ffffff (prio 0, ram): ram0\n"
        "  0000000000800000-0000000000ffffff (prio 0, ram): ram0 @0000000000800000\n";
    CHECK_ERR(mtree_ram_ranges(overlap, "memory", "ram0", &r, &n), VMIC_E_FORMAT);
    CHECK_ERRMSG("overlap");

    /* Broken numbers and lines are skipped, not misread. */
    static const char junk[] =
        "FlatView #0\n AS \"memory\", root: system\n"
        "  00000000000000zz-0000000000ffffff (prio 0, ram): ram0\n"
        "  0000000000100000-00000000000fffff (prio 0, ram): ram0\n"
        "  0000000000000000-ffffffffffffffff (prio 0, ram): ram0\n"
        "  0000000000200000-0000000000200fff (prio 0, ram): ram0 @12\n"
        "  0000000000300000-0000000000300fff (prio 0, ram) ram0\n"
        "  0000000000400000-0000000000400fff (prio 0, ram): ram0 @0000000000001000 extra\n"
        "  fffffffffffff000-ffffffffffffffff (prio 0, ram): ram0 @ffffffffffff0000\n";
    CHECK_OK(mtree_ram_ranges(junk, "memory", "ram0", &r, &n));
    CHECK_EQ(n, 2);
    CHECK_EQ(r[0].pa, 0x400000);
    CHECK_EQ(r[0].offset, 0x1000);
    CHECK_EQ(r[1].pa, 0xfffffffffffff000ull);
    CHECK_EQ(r[1].size, 0x1000);
    free(r);

    /* Only the first view of the address space counts. */
    static const char twice[] =
        "FlatView #0\n AS \"memory\", root: system\n"
        "  0000000000000000-0000000000000fff (prio 0, ram): ram0\n"
        "FlatView #1\n AS \"memory\", root: system\n"
        "  0000000000001000-0000000000001fff (prio 0, ram): ram0\n";
    CHECK_OK(mtree_ram_ranges(twice, "memory", "ram0", &r, &n));
    CHECK_EQ(n, 1);
    CHECK_EQ(r[0].size, 0x1000);
    free(r);
}

static void test_target_strings(void)
{
    vmic_qemu_target_t t;
    CHECK(vmic_qemu_is_target("qemu:/x"));
    CHECK(!vmic_qemu_is_target("dump.elf"));
    CHECK(!vmic_qemu_is_target(NULL));

    CHECK_OK(vmic_qemu_parse_target("qemu:gdb=/r/g.sock,qmp=localhost:4444,mem=/dev/shm/ram",
                                    &t));
    CHECK_STR(t.gdb, "/r/g.sock");
    CHECK_STR(t.qmp, "localhost:4444");
    CHECK_STR(t.mem, "/dev/shm/ram");
    CHECK_OK(vmic_qemu_parse_target("qemu:mem=m,qmp=unix:q,gdb=tcp:h:1", &t));
    CHECK_STR(t.gdb, "tcp:h:1");

    CHECK_ERR(vmic_qemu_parse_target("qemu:gdb=a,qmp=b", &t), VMIC_E_INVAL);
    CHECK_ERRMSG("no mem=");
    CHECK_ERR(vmic_qemu_parse_target("qemu:gdb=a,gdb=b,qmp=c,mem=d", &t), VMIC_E_INVAL);
    CHECK_ERRMSG("twice");
    CHECK_ERR(vmic_qemu_parse_target("qemu:gdb=a,qmp=b,mem=c,cpu=d", &t), VMIC_E_INVAL);
    CHECK_ERRMSG("unknown item");
    CHECK_ERR(vmic_qemu_parse_target("qemu:gdb=,qmp=b,mem=c", &t), VMIC_E_INVAL);
    CHECK_ERR(vmic_qemu_parse_target("dump.raw", &t), VMIC_E_INVAL);

    char dir[] = "/tmp/vmic-test-target.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char target[128];
    snprintf(target, sizeof target, "qemu:%s", dir);
    CHECK_OK(vmic_qemu_parse_target(target, &t));
    char want[256];
    snprintf(want, sizeof want, "%s/gdb.sock", dir);
    CHECK_STR(t.gdb, want);
    snprintf(want, sizeof want, "%s/ram", dir);
    CHECK_STR(t.mem, want);
    rmdir(dir);
    CHECK_ERR(vmic_qemu_parse_target(target, &t), VMIC_E_IO);
    CHECK_ERRMSG(dir);
    CHECK_ERR(vmic_qemu_parse_target("qemu:", &t), VMIC_E_INVAL);
}

static void test_endpoints(void)
{
    qemu_endpoint_t ep;
    CHECK_OK(endpoint_parse("gdb", "unix:/run/g.sock", &ep));
    CHECK(!ep.tcp);
    CHECK_STR(ep.path, "/run/g.sock");
    CHECK_STR(ep.name, "unix:/run/g.sock");
    CHECK_OK(endpoint_parse("gdb", "/run/x:1234", &ep));   /* a path: has a slash */
    CHECK(!ep.tcp);
    CHECK_OK(endpoint_parse("gdb", "relative.sock", &ep));
    CHECK(!ep.tcp);
    CHECK_OK(endpoint_parse("gdb", "localhost:1234", &ep));
    CHECK(ep.tcp);
    CHECK_STR(ep.host, "localhost");
    CHECK_STR(ep.port, "1234");
    CHECK_OK(endpoint_parse("gdb", ":1234", &ep));
    CHECK_STR(ep.host, "localhost");
    CHECK_OK(endpoint_parse("gdb", "tcp:[::1]:5", &ep));
    CHECK_STR(ep.host, "::1");
    CHECK_STR(ep.name, "tcp:::1:5");

    CHECK_ERR(endpoint_parse("gdb", "h:99999", &ep), VMIC_E_INVAL);
    CHECK_ERRMSG("out of range");
    CHECK_ERR(endpoint_parse("gdb", "tcp:nohost", &ep), VMIC_E_INVAL);
    CHECK_ERR(endpoint_parse("QMP", "unix:/x/q.sock,server=on", &ep), VMIC_E_INVAL);
    CHECK_ERRMSG("server=on");
    CHECK_ERR(endpoint_parse("QMP", "", &ep), VMIC_E_INVAL);
    char longpath[200];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    CHECK_ERR(endpoint_parse("gdb", longpath, &ep), VMIC_E_INVAL);
    CHECK_ERRMSG("at most");
}

static void test_connect_failures(void)
{
    qemu_endpoint_t ep;
    int fd;

    CHECK_OK(endpoint_parse("gdb", "/nonexistent/vmic-test.sock", &ep));
    CHECK_ERR(endpoint_connect("gdb", &ep, 500, &fd), VMIC_E_IO);
    CHECK_ERRMSG("unix:/nonexistent/vmic-test.sock");
    CHECK_ERRMSG("no such socket");

    /* A regular file where the socket should be. */
    char path[] = "/tmp/vmic-test-notsock.XXXXXX";
    int f = mkstemp(path);
    CHECK(f >= 0);
    close(f);
    CHECK_OK(endpoint_parse("QMP", path, &ep));
    CHECK_ERR(endpoint_connect("QMP", &ep, 500, &fd), VMIC_E_IO);
    CHECK_ERRMSG("cannot connect");
    unlink(path);

    /* Nothing listens on this port (the kernel refuses at once). */
    CHECK_OK(endpoint_parse("gdb", "127.0.0.1:1", &ep));
    CHECK_ERR(endpoint_connect("gdb", &ep, 500, &fd), VMIC_E_IO);
    CHECK_ERRMSG("refused");
}

int main(void)
{
    RUN(test_mtree_256m);
    RUN(test_mtree_pci_hole);
    RUN(test_mtree_other_regions_and_errors);
    RUN(test_target_strings);
    RUN(test_endpoints);
    RUN(test_connect_failures);
    return HARNESS_RESULT();
}
