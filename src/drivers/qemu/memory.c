/*
 * Guest RAM of a running QEMU, mapped into this process.
 *
 * QEMU started with
 *   -object memory-backend-file,id=ram0,size=S,mem-path=FILE,share=on
 *   -machine memory-backend=ram0
 * keeps guest RAM in FILE, mapped MAP_SHARED: mapping the same file shared
 * here gives the very same page-cache pages, so vmic reads what the guest
 * wrote a moment ago and QEMU sees vmic's writes at once. No copy, no call
 * per access.
 *
 * Through QMP: query-memdev lists the backends, qom-get of each one's
 * mem-path finds the one whose file is ours (same device and inode, so any
 * spelling of the path works), share=on is checked (with share=off QEMU's
 * mapping is private: guest writes never reach the file and vmic would read
 * stale bytes), and "info mtree -f" says where its bytes appear in the
 * guest-physical address space: for a pc machine with more than ~3 GiB, RAM
 * is split at the PCI hole into [0, 3 GiB) and [4 GiB, ...), the second part
 * continuing at file offset 3 GiB. The regions published point at those
 * offsets of the mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/json.h"
#include "qemu.h"

typedef struct memdev {
    char id[128];
    uint64_t size;
    bool share;
} memdev;

/* The mem-path of a backend, or false if it has none (not a file backend)
 * or it does not fit in size bytes. */
static bool backend_path(qmp_client_t *q, const char *id, char *path, size_t size)
{
    char qom[200], *ret, *s = NULL;
    size_t len = 0;
    snprintf(qom, sizeof qom, "/objects/%s", id);
    const qmp_arg_t args[] = {{"path", qom}, {"property", "mem-path"}};
    if (qmp_execute(q, "qom-get", args, 2, &ret) != VMIC_OK) {
        vmic_clear_error();
        return false;
    }
    jp j;
    jp_init(&j, ret, strlen(ret));
    bool ok = jp_peek(&j) == JP_STRING && jp_string_alloc(&j, &s, &len) && jp_finish(&j) &&
              len < size && strlen(s) == len;
    if (ok)
        memcpy(path, s, len + 1);
    free(s);
    free(ret);
    return ok;
}

#define MAX_MEMDEVS 1024

/* One element of query-memdev's list: {"id": ..., "size": ..., "share": ...}.
 * Devices without an id or size, or with an id vmic cannot use in a QOM
 * path, are left out (*keep false). */
static bool parse_memdev(jp *j, memdev *m, bool *keep)
{
    bool have_id = false, have_size = false, ok = true;
    memset(m, 0, sizeof *m);
    *keep = false;
    if (!jp_begin_object(j))
        return false;
    while (ok && jp_next_key(j)) {
        if (strcmp(j->key, "id") == 0 && jp_peek(j) == JP_STRING) {
            char *id;
            size_t len;
            ok = jp_string_alloc(j, &id, &len);
            if (ok && len < sizeof m->id && strlen(id) == len && !strchr(id, '/')) {
                memcpy(m->id, id, len + 1);
                have_id = true;
            }
            free(id);
        } else if (strcmp(j->key, "size") == 0 && jp_peek(j) == JP_NUMBER) {
            ok = have_size = jp_u64(j, &m->size);
        } else if (strcmp(j->key, "share") == 0 &&
                   (jp_peek(j) == JP_TRUE || jp_peek(j) == JP_FALSE)) {
            ok = jp_bool(j, &m->share);
        } else {
            ok = jp_skip(j);
        }
    }
    /* QEMU before 2.x omitted ids of anonymous backends. */
    *keep = have_id && have_size;
    return !j->failed;
}

static vmic_status list_memdevs(qmp_client_t *q, memdev **out, size_t *n)
{
    char *ret;
    *out = NULL;
    *n = 0;
    vmic_status s = qmp_execute(q, "query-memdev", NULL, 0, &ret);
    if (s)
        return s;
    memdev *v = calloc(MAX_MEMDEVS, sizeof *v);
    if (!v) {
        free(ret);
        return vmic_fail(VMIC_E_NOMEM, "%s: no memory", q->name);
    }
    jp j;
    size_t k = 0;
    jp_init(&j, ret, strlen(ret));
    if (jp_peek(&j) != JP_ARRAY)
        jp_fail(&j, "not a list");
    else if (jp_begin_array(&j)) {
        while (jp_next_element(&j)) {
            memdev m;
            bool keep;
            if (!parse_memdev(&j, &m, &keep))
                break;
            if (keep && k < MAX_MEMDEVS)
                v[k++] = m;
        }
    }
    free(ret);
    if (j.failed) {
        free(v);
        return vmic_fail(VMIC_E_FORMAT, "%s: query-memdev: %s", q->name, j.error);
    }
    *out = v;
    *n = k;
    return VMIC_OK;
}

/* Which backend is backed by the file `st` describes. */
static vmic_status find_backend(qmp_client_t *q, const char *path, const struct stat *st,
                                memdev *found)
{
    memdev *devs;
    size_t n;
    char seen[1024] = "";
    size_t used = 0;
    vmic_status s = list_memdevs(q, &devs, &n);
    if (s)
        return s;

    for (size_t i = 0; i < n; i++) {
        char mp[4096];
        struct stat mst;
        bool file = backend_path(q, devs[i].id, mp, sizeof mp);
        bool found_it = file && stat(mp, &mst) == 0;
        if ((found_it && mst.st_dev == st->st_dev && mst.st_ino == st->st_ino) ||
            (file && !found_it && strcmp(mp, path) == 0)) {
            *found = devs[i];
            free(devs);
            if (!found->share)
                return vmic_fail(VMIC_E_UNSUPPORTED, "QEMU's memory backend %s (%s) has "
                                 "share=off: its RAM is a private copy that never reaches the "
                                 "file; start QEMU with share=on", found->id, path);
            return VMIC_OK;
        }
        /* mem-path=DIR makes QEMU keep RAM in a file it deletes at once. */
        bool dir = found_it && S_ISDIR(mst.st_mode);
        int w = snprintf(seen + used, sizeof seen - used, "%s%s%s%s%s", used ? ", " : "",
                         devs[i].id, file ? " mem-path=" : " (not a file backend)",
                         file ? mp : "", dir ? " (a directory: RAM in a deleted file)" : "");
        if (w > 0 && (size_t)w < sizeof seen - used)
            used += (size_t)w;
    }
    free(devs);
    return vmic_fail(VMIC_E_NOTFOUND, "%s is not the RAM of this QEMU: its memory backends are: "
                     "%s. Start QEMU with -object memory-backend-file,id=ram0,size=SIZE,"
                     "mem-path=%s,share=on -machine memory-backend=ram0", path,
                     n ? seen : "none", path);
}

vmic_status qemu_memory_open(qmp_client_t *q, const char *path, qemu_memory_t *mem)
{
    struct stat st;
    memdev dev;
    qemu_ram_range_t *ranges = NULL;
    size_t nranges = 0;
    char *mtree = NULL;
    vmic_status s;

    memset(mem, 0, sizeof *mem);
    if (stat(path, &st) != 0)
        return vmic_fail(VMIC_E_IO, "guest RAM file %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return vmic_fail(VMIC_E_IO, "guest RAM file %s: not a regular file", path);
    if ((s = find_backend(q, path, &st, &dev)))
        return s;
    snprintf(mem->memdev, sizeof mem->memdev, "%s", dev.id);

    if ((s = qmp_hmp(q, "info mtree -f", &mtree)))
        return s;
    s = mtree_ram_ranges(mtree, "memory", dev.id, &ranges, &nranges);
    free(mtree);
    if (s)
        return s;
    if (nranges == 0)
        return vmic_fail(VMIC_E_NOTFOUND, "QEMU's memory backend %s (%s) is not mapped into "
                         "guest-physical memory (is it the machine's RAM? -machine "
                         "memory-backend=%s)", dev.id, path, dev.id);
    for (size_t i = 0; i < nranges; i++) {
        if (ranges[i].offset > dev.size || ranges[i].size > dev.size - ranges[i].offset) {
            s = vmic_fail(VMIC_E_FORMAT, "info mtree: range 0x%" PRIx64 "+0x%" PRIx64 " at "
                          "offset 0x%" PRIx64 " is beyond backend %s's 0x%" PRIx64 " bytes",
                          ranges[i].pa, ranges[i].size, ranges[i].offset, dev.id, dev.size);
            free(ranges);
            return s;
        }
    }

    /* Read-write if we may; a read-only file still gives a read-only view. */
    mem->writable = true;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM)) {
        mem->writable = false;
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        s = vmic_fail(VMIC_E_IO, "guest RAM file %s: %s", path, strerror(errno));
        free(ranges);
        return s;
    }
    /* QEMU sized the file to the backend; a shorter file would turn reads
     * past its end into SIGBUS. */
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < dev.size || dev.size == 0 ||
        dev.size > SIZE_MAX) {
        close(fd);
        free(ranges);
        return vmic_fail(VMIC_E_FORMAT, "guest RAM file %s: %" PRIu64 " bytes, but QEMU's "
                         "backend %s has %" PRIu64, path, (uint64_t)st.st_size, dev.id, dev.size);
    }
    void *map = mmap(NULL, (size_t)dev.size, PROT_READ | (mem->writable ? PROT_WRITE : 0),
                     MAP_SHARED, fd, 0);
    int err = errno;
    close(fd);
    if (map == MAP_FAILED) {
        free(ranges);
        return vmic_fail(VMIC_E_IO, "guest RAM file %s: cannot mmap %" PRIu64 " bytes: %s", path,
                         dev.size, strerror(err));
    }

    mem->regions = calloc(nranges, sizeof *mem->regions);
    if (!mem->regions) {
        munmap(map, (size_t)dev.size);
        free(ranges);
        return vmic_fail(VMIC_E_NOMEM, "no memory for %zu regions", nranges);
    }
    mem->map = map;
    mem->map_size = (size_t)dev.size;
    for (size_t i = 0; i < nranges; i++) {
        mem->regions[i] = (vmic_mem_region_t){
            .start = vmic_pa(ranges[i].pa),
            .size = ranges[i].size,
            .host = mem->map + ranges[i].offset,
            .writable = mem->writable,
            .file_offset = ranges[i].offset,
        };
        mem->mem_size += ranges[i].size;
    }
    mem->nregions = nranges;
    free(ranges);
    return VMIC_OK;
}

void qemu_memory_close(qemu_memory_t *mem)
{
    if (mem->map)
        munmap(mem->map, mem->map_size);
    free(mem->regions);
    memset(mem, 0, sizeof *mem);
}
