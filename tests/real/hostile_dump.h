/*
 * The hostile tests' guest: a fixture's dump.raw mapped private
 * (copy-on-write: corruptions stay in the test's process, the fixture is
 * never written), opened from that buffer, and corrupted one field at a
 * time through its kernel virtual addresses. One header for every
 * tests/real/test_*_hostile.c; each is one translation unit.
 */
#ifndef VMIC_TEST_HOSTILE_DUMP_H
#define VMIC_TEST_HOSTILE_DUMP_H

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <vmic/vmic.h>

#include "harness.h"
#include "truth.h"

#define HOSTILE_UNUSED __attribute__((unused))

static uint8_t *mem;     /* the guest's physical memory (dump.raw), private */
static size_t mem_size;
static vmic_core *core;
static vmic_os *os;

static HOSTILE_UNUSED double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Where len bytes at kernel va live in the copy (NULL: not in it). */
static HOSTILE_UNUSED uint8_t *at_len(uint64_t va, size_t len)
{
    vmic_pa_t pa;
    if (vmic_translate(core, vmic_os_kernel_ctx(os), vmic_va(va), &pa) != VMIC_OK ||
        pa.addr + len > mem_size)
        return NULL;
    return mem + pa.addr;
}

static HOSTILE_UNUSED uint8_t *at(uint64_t va)
{
    return at_len(va, 8);
}

static HOSTILE_UNUSED uint64_t get64(uint64_t va)
{
    uint64_t v = 0;
    uint8_t *p = at(va);
    if (p)
        memcpy(&v, p, 8);
    return v;
}

/* Up to eight corruptions at once, undone by restore(). */
static struct { uint8_t *p; uint64_t old; size_t len; } saved[8];
static int nsaved;

/* The low len bytes of v (1..8) written at va. */
static HOSTILE_UNUSED bool put(uint64_t va, uint64_t v, size_t len)
{
    uint8_t *p = len <= 8 ? at_len(va, len) : NULL;
    if (!p || nsaved == 8)
        return false;
    saved[nsaved].p = p;
    saved[nsaved].len = len;
    memcpy(&saved[nsaved].old, p, len);
    nsaved++;
    memcpy(p, &v, len);
    return true;
}

static HOSTILE_UNUSED bool put64(uint64_t va, uint64_t v)
{
    return put(va, v, 8);
}

static HOSTILE_UNUSED void restore(void)
{
    while (nsaved > 0) {
        nsaved--;
        memcpy(saved[nsaved].p, &saved[nsaved].old, saved[nsaved].len);
    }
    if (core)
        vmic_flush_tlb(core); /* page tables are not corrupted here, but be sure */
}

/* A field's offset (UINT64_MAX: this kernel has no such field). */
static HOSTILE_UNUSED uint64_t off(const char *path)
{
    vmic_field_t f;
    if (vmic_os_field(os, path, &f) != VMIC_OK)
        return UINT64_MAX;
    return f.offset;
}

/* A symbol's address (0, and no error left, when there is none). */
static HOSTILE_UNUSED uint64_t sym(const char *name)
{
    vmic_va_t va = {0};
    if (vmic_os_symbol(os, name, &va) != VMIC_OK)
        vmic_clear_error();
    return va.addr;
}

/* expr's status, after checking it took less than secs seconds. */
#define TIMED(expr, secs)                                                   \
    ({                                                                      \
        double t0_ = now();                                                 \
        vmic_status ts_ = (expr);                                           \
        double dt_ = now() - t0_;                                           \
        CHECK_MSG(dt_ < (secs), "%s took %.3f s", #expr, dt_);             \
        ts_;                                                                \
    })

/* A fresh session (core, os) over the copy as it is now: for what a
 * vmic_os reads once and keeps (nr_cpu_ids, module symbols). */
static HOSTILE_UNUSED bool hostile_reopen(void)
{
    vmic_driver *drv;
    if (os)
        vmic_os_close(os);
    if (core)
        vmic_core_close(core);
    os = NULL;
    core = NULL;
    if (vmic_dump_open_buffer(mem, mem_size, VMIC_DUMP_RAW, "hostile", &drv) != VMIC_OK ||
        vmic_core_open(drv, NULL, &core) != VMIC_OK || vmic_os_open(core, NULL, &os) != VMIC_OK) {
        fprintf(stderr, "  cannot open the copy: %s\n", vmic_errmsg());
        return false;
    }
    return true;
}

/* The fixture's dump size, to skip one too big for a test (0: none). */
static HOSTILE_UNUSED size_t hostile_dump_size(const char *fixture)
{
    char path[4096];
    struct stat st;
    fixture_path(path, sizeof path, fixture, "dump.raw");
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

/* The fixture's dump mapped and opened (core, os); false, said on stderr,
 * when it cannot be. */
static HOSTILE_UNUSED bool hostile_open(const char *fixture)
{
    char path[4096];
    struct stat st;
    fixture_path(path, sizeof path, fixture, "dump.raw");
    int fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "cannot open %s\n", path);
        return false;
    }
    mem_size = (size_t)st.st_size;
    mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd);
    if (mem == MAP_FAILED) {
        fprintf(stderr, "cannot map %s\n", path);
        return false;
    }
    return hostile_reopen();
}

static HOSTILE_UNUSED void hostile_close(void)
{
    if (os)
        vmic_os_close(os);
    if (core)
        vmic_core_close(core);
    munmap(mem, mem_size);
}

#endif
