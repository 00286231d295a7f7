/*
 * A test hook, loaded with LD_PRELOAD: the first time the process maps a
 * regular file larger than $VMIC_TEST_SHRINK_TO bytes, the file is truncated
 * to that size right after the mapping is made. That is the race of a dump
 * shrinking while vmic has it mapped, with no timing in it: every access past
 * the new end raises SIGBUS, on every run.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off);

static int done;

static void shrink(int fd)
{
    const char *to = getenv("VMIC_TEST_SHRINK_TO");
    struct stat st;
    if (done || !to || fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    long long size = atoll(to);
    if (size < 0 || st.st_size <= size)
        return;
    /* The descriptor vmic mapped with is read-only: reopen it for writing. */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int wfd = open(path, O_WRONLY | O_CLOEXEC);
    if (wfd < 0)
        return;
    if (ftruncate(wfd, (off_t)size) == 0) {
        done = 1;
        fprintf(stderr, "shrink_preload: truncated the mapped file to %lld bytes\n", size);
    }
    close(wfd);
}

static void *real_mmap(const char *name, void *addr, size_t len, int prot, int flags, int fd,
                       off_t off)
{
    mmap_fn next = (mmap_fn)dlsym(RTLD_NEXT, name);
    void *m = next(addr, len, prot, flags, fd, off);
    if (m != MAP_FAILED)
        shrink(fd);
    return m;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return real_mmap("mmap", addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return real_mmap("mmap64", addr, len, prot, flags, fd, off);
}
