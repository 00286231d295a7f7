/*
 * Finding the kernel when its image is not mapped the way the fixture's
 * happens to be. On a systemd guest the freed text/rodata gap of the image
 * ("Freeing unused kernel image (text/rodata gap) memory") is often reused,
 * and its alias in the image mapping turns read-only in small pieces: the
 * first read-only run after the text is then not rodata. Here the real dump
 * is made to look like that, deterministically, by rewriting the leaf
 * entries of the gap pages in a copy of guest memory; discovery must still
 * find kallsyms (every symbol of the guest's /proc/kallsyms) and BTF.
 *
 *   test_kernel_discovery FIXTURE_DIR
 */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <vmic/vmic.h>

#include "harness.h"
#include "truth.h"

#define PTE_RW (1ull << 1)
#define PTE_NX (1ull << 63)

static const char *dir;
static uint8_t *mem;
static size_t mem_size;
static truth_sym *syms;
static size_t nsyms;

static bool load_raw(void)
{
    char path[4096];
    fixture_path(path, sizeof path, dir, "dump.raw");
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    fseek(f, 0, SEEK_END);
    mem_size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    mem = malloc(mem_size);
    bool ok = mem && fread(mem, 1, mem_size, f) == mem_size;
    fclose(f);
    return ok;
}

static vmic_status open_os(vmic_core **core, vmic_os **os)
{
    vmic_driver *drv;
    vmic_status s;
    *core = NULL;
    *os = NULL;
    if ((s = vmic_dump_open_buffer(mem, mem_size, VMIC_DUMP_RAW, "mutated dump.raw", &drv)))
        return s;
    if ((s = vmic_core_open(drv, NULL, core)))
        return s;
    return vmic_os_open(*core, NULL, os);
}

static uint64_t truth_addr(const char *name)
{
    const truth_sym *s = truth_find_sym(syms, nsyms, name);
    return s ? s->addr : 0;
}

static int count_none(void *arg, const vmic_process_t *p)
{
    (void)p;
    ++*(size_t *)arg;
    return 0;
}

/* The leaf entry that maps va, in our copy of memory. */
static uint64_t *leaf_of(vmic_core *core, vmic_ctx_t ctx, uint64_t va, uint64_t *size)
{
    vmic_translation_t t;
    if (vmic_translate_walk(core, ctx, vmic_va(va), &t) != VMIC_OK || t.nsteps == 0)
        return NULL;
    const vmic_walk_step_t *st = &t.steps[t.nsteps - 1];
    uint64_t at = st->table.addr + 8ull * st->index;
    if (at + 8 > mem_size)
        return NULL;
    *size = t.page_size;
    return (uint64_t *)(mem + at);
}

/*
 * Makes the gap [_etext, __start_rodata) a patchwork: read-only pages
 * (as a reused page's alias becomes), writable ones between them. Returns
 * how many leaves were rewritten.
 */
static int split_gap(uint64_t etext, uint64_t rodata)
{
    vmic_core *core;
    vmic_os *os;
    if (open_os(&core, &os) != VMIC_OK)
        return -1;
    vmic_ctx_t ctx = vmic_os_kernel_ctx(os);
    int n = 0, i = 0;
    uint64_t va = (etext + 0xfff) & ~0xfffull;
    while (va < rodata) {
        uint64_t size = 4096;
        uint64_t *e = leaf_of(core, ctx, va, &size);
        uint64_t leaf = va & ~(size - 1);
        if (e && leaf >= ((etext + 0xfff) & ~0xfffull) && leaf + size <= rodata) {
            /* Pieces of one, two and three pages read-only, then one writable. */
            bool ro = (i % 4) != 3;
            *e = (*e | PTE_NX) & ~(ro ? PTE_RW : 0);
            if (!ro)
                *e |= PTE_RW;
            n++;
        }
        i++;
        va = (va & ~(size - 1)) + size;
    }
    vmic_os_close(os);
    vmic_core_close(core);
    return n;
}

static void test_split_gap_still_finds_kallsyms(void)
{
    uint64_t etext = truth_addr("_etext"), rodata = truth_addr("__start_rodata");
    CHECK_MSG(etext && rodata, "no _etext/__start_rodata in the truth");
    if (rodata <= ((etext + 0xfff) & ~0xfffull)) {
        /* 6.12 ends its text on the 2 MiB boundary where rodata starts. */
        fprintf(stderr, "  note: this kernel has no text/rodata gap to split\n");
        return;
    }
    int patched = split_gap(etext, rodata);
    CHECK_MSG(patched > 0, "the gap 0x%" PRIx64 "-0x%" PRIx64 " has no leaf of its own to patch",
              etext, rodata);
    fprintf(stderr, "  gap 0x%" PRIx64 "-0x%" PRIx64 ": %d leaves made read-only/writable pieces\n",
            etext, rodata, patched);

    vmic_core *core;
    vmic_os *os;
    CHECK_OK(open_os(&core, &os));
    const vmic_os_kernel_t *k = vmic_os_kernel(os);
    CHECK_STR(k->symbols, "kallsyms");
    CHECK_STR(k->types, "btf");
    /* Every kernel-image symbol of the guest's own /proc/kallsyms. */
    size_t checked = 0, wrong = 0;
    for (size_t i = 0; i < nsyms; i++) {
        if (syms[i].module)
            continue;
        vmic_va_t a;
        if (vmic_os_symbol(os, syms[i].name, &a) != VMIC_OK)
            wrong++;
        checked++;
    }
    vmic_clear_error();
    uint64_t text = truth_addr("_text");
    CHECK_EQ(k->text.addr, text);
    vmic_os_close(os);
    vmic_core_close(core);
    CHECK_MSG(wrong == 0, "%zu of %zu kallsyms names not found", wrong, checked);
}

/* With no read-only run holding kallsyms, the error says what was searched. */
static void test_no_rodata_says_what_was_searched(void)
{
    uint64_t rodata = truth_addr("__start_rodata"), end = truth_addr("__end_rodata");
    CHECK(rodata && end > rodata);
    vmic_core *core;
    vmic_os *os;
    CHECK_OK(open_os(&core, &os));
    vmic_ctx_t ctx = vmic_os_kernel_ctx(os);
    /* Rodata made writable: not rodata to a page-rights scan any more. */
    for (uint64_t va = rodata; va < end;) {
        uint64_t size = 4096;
        uint64_t *e = leaf_of(core, ctx, va, &size);
        if (e)
            *e |= PTE_RW;
        va = (va & ~(size - 1)) + size;
    }
    vmic_os_close(os);
    vmic_core_close(core);
    vmic_status s = open_os(&core, &os);
    vmic_os_close(os);
    vmic_core_close(core);
    CHECK_MSG(s != VMIC_OK, "a kernel with no read-only rodata still opened");
    CHECK_ERRMSG("read-only");
    CHECK_ERRMSG("--profile");
}

/*
 * A 64 GiB sparse raw file with no kernel in it: the root search must give
 * up within its budget (seconds, not the minutes a full read takes) with a
 * message that says what it searched and what to give instead, and keep
 * its resident memory bounded (scanned pages are released). Run first, so
 * the peak RSS is this test's alone.
 */
static void test_huge_sparse_dump_gives_up(void)
{
    char path[] = "/tmp/vmic-sparse-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    bool sized = ftruncate(fd, 64ll << 30) == 0;
    close(fd);
    if (!sized) {
        unlink(path);
        FAIL_("cannot make a 64 GiB sparse file in /tmp");
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vmic_driver *drv;
    vmic_core *core = NULL;
    vmic_os *os = NULL;
    vmic_status s = vmic_dump_open(path, VMIC_DUMP_RAW, &drv);
    unlink(path);
    CHECK_OK(s);
    CHECK_OK(vmic_core_open(drv, NULL, &core));
    s = vmic_os_open(core, NULL, &os);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr, "  64 GiB sparse: %.1f s, peak RSS %ld MiB: %s\n", secs, ru.ru_maxrss >> 10,
            vmic_errmsg());
    vmic_os_close(os);
    vmic_core_close(core);
    CHECK_ERR(s, VMIC_E_NOTFOUND);
    CHECK_ERRMSG("give --root");
    CHECK_MSG(secs < 6.0, "the search took %.1f s", secs);
    CHECK_MSG(ru.ru_maxrss < (256l << 10), "peak RSS %ld KiB", ru.ru_maxrss);
}

/* One bad BTF header costs the types, not the session: symbols and the
 * banner need none, and the kernel says what was lost. */
static void test_bad_btf_degrades(void)
{
    vmic_core *core;
    vmic_os *os;
    CHECK_OK(open_os(&core, &os));
    uint64_t btf = vmic_os_kernel(os)->btf.addr;
    vmic_pa_t pa;
    CHECK_OK(vmic_translate(core, vmic_os_kernel_ctx(os), vmic_va(btf), &pa));
    vmic_os_close(os);
    vmic_core_close(core);
    CHECK(pa.addr + 12 <= mem_size);
    memset(mem + pa.addr + 8, 0xff, 4); /* hdr_len: absurd */

    CHECK_OK(open_os(&core, &os));
    const vmic_os_kernel_t *k = vmic_os_kernel(os);
    char version[512];
    CHECK_STR(k->types, "none");
    CHECK_MSG(strstr(k->degraded, "btf"), "degraded: '%s'", k->degraded);
    CHECK(truth_line(dir, "version.txt", version, sizeof version));
    CHECK_STR(k->banner, version);
    vmic_va_t a;
    CHECK_OK(vmic_os_symbol(os, "init_task", &a));
    CHECK_EQ(a.addr, truth_addr("init_task"));
    size_t n = 0;
    CHECK_ERR(vmic_os_processes(os, count_none, &n), VMIC_E_NOTFOUND);
    CHECK_ERRMSG("no type information");
    vmic_os_close(os);
    vmic_core_close(core);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !fixture_present(argv[1])) {
        fprintf(stderr, "skip: no fixture at %s (scripts/make-fixture.sh makes it)\n",
                argc > 1 ? argv[1] : "(none)");
        return 77;
    }
    dir = argv[1];
    RUN(test_huge_sparse_dump_gives_up);
    syms = truth_kallsyms(dir, &nsyms);
    if (!syms || !load_raw()) {
        fprintf(stderr, "FAIL: cannot read %s/dump.raw or its kallsyms truth\n", dir);
        return 1;
    }
    if (mem_size > (2ull << 30)) {
        /* A copy of a big guest's memory costs more than it proves here. */
        fprintf(stderr, "skip: dump.raw is %zu MiB; this test mutates small guests\n",
                mem_size >> 20);
        return 77;
    }
    RUN(test_split_gap_still_finds_kallsyms);
    free(mem);
    if (!load_raw())
        return 1;
    RUN(test_no_rodata_says_what_was_searched);
    free(mem);
    if (!load_raw())
        return 1;
    RUN(test_bad_btf_degrades);
    free(mem);
    free(syms);
    return HARNESS_RESULT();
}
