/*
 * The syscall-entry check's MSR half (vmic_os_check_syscall_entry): each
 * vCPU's MSR_LSTAR against entry_SYSCALL_64. No fixture carries LSTAR (QEMU's
 * ELF notes and its gdbstub do not, and the kvm driver runs vmic's own test
 * guests, not Linux), so the fixture's real memory is copied into the tests'
 * in-memory backend (tests/mock/mem.c), which gives registers, and only the
 * two vCPUs' LSTARs are made up: the kernel's own entry, its direct-map alias
 * (the same bytes), another kernel function, a module's code and a user
 * address. Everything else the check reads is the real kernel's.
 *
 *   test_check_lstar FIXTURE_DIR
 *
 * Skips (77) on a fixture whose dump is over 1 GiB (a private copy of it is
 * more than this test needs; 6.1 and 6.12 cover both paging modes).
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vmic/vmic.h>

#include "harness.h"
#include "truth.h"
#include "mock/vmic_mem.h"

#define NVCPU 2

static vmic_driver *drv;
static vmic_core *core;
static vmic_os *os;
static uint64_t entry;

typedef struct found {
    size_t n;
    vmic_check_finding_t last;
} found_t;

static int on_finding(void *arg, const vmic_check_finding_t *f)
{
    found_t *c = arg;
    c->n++;
    c->last = *f;
    return 0;
}

/* vCPU i's LSTAR is lstar[i]; valid 0 gives a vCPU without MSRs. */
static void set_lstars(const uint64_t lstar[NVCPU], uint32_t valid)
{
    for (uint32_t i = 0; i < NVCPU; i++) {
        vmic_amd64_regs_t r = {.valid = valid, .lstar = lstar[i]};
        CHECK_OK(vmic_mem_set_regs(drv, i, &r));
    }
}

/* The check with vCPU 0's LSTAR lstar0 and vCPU 1's lstar1 (a failed check
 * counts SIZE_MAX findings). */
static found_t check_with(uint64_t lstar0, uint64_t lstar1, size_t *checked)
{
    found_t c = {0};
    set_lstars((const uint64_t[NVCPU]){lstar0, lstar1}, VMIC_REGS_MSR);
    if (vmic_os_check_syscall_entry(os, on_finding, &c, checked) != VMIC_OK) {
        fprintf(stderr, "  check: %s\n", vmic_errmsg());
        c.n = SIZE_MAX;
    }
    return c;
}

/* Without MSRs only the entry's first instruction is looked at. */
static void test_no_msrs(void)
{
    found_t c = {0};
    size_t checked = 0;
    set_lstars((const uint64_t[NVCPU]){0, 0}, 0);
    CHECK_OK(vmic_os_check_syscall_entry(os, on_finding, &c, &checked));
    CHECK_EQ(checked, 1);
    CHECK_EQ(c.n, 0);
}

static void test_lstar_is_the_entry(void)
{
    size_t checked = 0;
    found_t c = check_with(entry, entry, &checked);
    CHECK_EQ(checked, NVCPU + 1);
    CHECK_EQ(c.n, 0);
}

/* The direct map's view of the entry's page is the same code. */
static void test_lstar_direct_map_alias(void)
{
    vmic_pa_t pa;
    vmic_va_t pob;
    size_t checked;
    CHECK_OK(vmic_translate(core, vmic_os_kernel_ctx(os), vmic_va(entry), &pa));
    CHECK_OK(vmic_os_symbol(os, "page_offset_base", &pob));
    uint64_t page_offset = 0;
    CHECK_OK(vmic_read_va(core, vmic_os_kernel_ctx(os), pob, &page_offset, 8));
    found_t c = check_with(entry, page_offset + pa.addr, &checked);
    CHECK_EQ(c.n, 0);
}

/* vCPU 1 enters another function of the kernel's text: still a hook. */
static void test_lstar_elsewhere_in_text(void)
{
    vmic_va_t getpid;
    size_t checked;
    CHECK_OK(vmic_os_symbol(os, "__x64_sys_getpid", &getpid));
    found_t c = check_with(entry, getpid.addr, &checked);
    CHECK_EQ(c.n, 1);
    CHECK_EQ(c.last.kind, VMIC_CHECK_SYSCALL_ENTRY);
    CHECK_EQ(c.last.nr, 1);
    CHECK_EQ(c.last.addr.addr, getpid.addr);
    CHECK(strcmp(c.last.name, "LSTAR") == 0);
    CHECK_MSG(strstr(c.last.detail, "vCPU 1's MSR_LSTAR is not entry_SYSCALL_64 (it is in the "
                                    "kernel's text)") != NULL, "detail: %s", c.last.detail);
    CHECK(c.last.module[0] == '\0');
}

static int first_module(void *arg, const vmic_module_t *m)
{
    *(vmic_module_t *)arg = *m;
    return 1;
}

/* vCPU 0 enters a module's code: the finding names the module. */
static void test_lstar_in_a_module(void)
{
    vmic_module_t m = {0};
    size_t checked;
    vmic_status s = vmic_os_modules(os, first_module, &m);
    CHECK_MSG(s == VMIC_OK || s == VMIC_E_IO, "modules: %s", vmic_errmsg());
    CHECK_MSG(m.base.addr != 0, "the fixture loads modules (truth/modules.txt)");
    if (!m.base.addr)
        return;
    found_t c = check_with(m.base.addr + 16, entry, &checked);
    CHECK_EQ(c.n, 1);
    CHECK_EQ(c.last.nr, 0);
    CHECK_MSG(strcmp(c.last.module, m.name) == 0, "module %s, want %s", c.last.module, m.name);
}

/* Both vCPUs at a user address: two findings, one per vCPU. */
static void test_lstar_user_address(void)
{
    size_t checked;
    found_t c = check_with(0x401000, 0x401000, &checked);
    CHECK_EQ(c.n, NVCPU);
    CHECK_EQ(c.last.nr, 1);
    CHECK(strstr(c.last.detail, "in the kernel's text") == NULL);
}

int main(int argc, char **argv)
{
    char path[4096];
    if (argc < 2 || !fixture_present(argv[1])) {
        fprintf(stderr, "skip: no fixture\n");
        return TEST_SKIP;
    }
    fixture_path(path, sizeof path, argv[1], "dump.raw");
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        return 1;
    if (st.st_size > (1ll << 30)) {
        fprintf(stderr, "skip: %s is over 1 GiB; the smaller fixtures test LSTAR\n", path);
        close(fd);
        return TEST_SKIP;
    }
    uint8_t *dump = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    vmic_mem_options_t opt = {.size = (uint64_t)st.st_size, .vcpus = NVCPU};
    if (dump == MAP_FAILED || vmic_mem_open(&opt, &drv) != VMIC_OK)
        return 1;
    memcpy(vmic_mem_bytes(drv), dump, (size_t)st.st_size);
    munmap(dump, (size_t)st.st_size);
    vmic_va_t e;
    if (vmic_core_open(drv, NULL, &core) != VMIC_OK || vmic_os_open(core, NULL, &os) != VMIC_OK ||
        vmic_os_symbol(os, "entry_SYSCALL_64", &e) != VMIC_OK) {
        fprintf(stderr, "cannot open the copy: %s\n", vmic_errmsg());
        return 1;
    }
    entry = e.addr;
    RUN(test_no_msrs);
    RUN(test_lstar_is_the_entry);
    RUN(test_lstar_direct_map_alias);
    RUN(test_lstar_elsewhere_in_text);
    RUN(test_lstar_in_a_module);
    RUN(test_lstar_user_address);
    vmic_os_close(os);
    vmic_core_close(core);
    return HARNESS_RESULT();
}
