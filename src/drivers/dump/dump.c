/*
 * The dump driver: a memory dump file (raw, ELF core, LiME) mapped once,
 * read-only, and published as regions that point into the mapping, so the
 * core reads guest memory with no driver call and no copy.
 *
 * Opening parses the whole structure up front (headers, segments, register
 * notes) and fails with a message naming the file and offset; after that the
 * driver is constant: info, regions and registers never change.
 *
 * No MAP_POPULATE. Measured on a 256 MiB raw dump already in the page cache:
 * with it, open takes 9-11 ms instead of 0.01 ms; without it, the first touch
 * of a random page costs ~2.4 us (2000 random pages: 4.9 ms vs 0.14 ms) and a
 * first sequential pass over all of it 7 ms (the kernel maps 16 pages per
 * fault). Introspection touches a few thousand pages (a process list is
 * start-up dominated), so populating would cost more than it saves; and for
 * a dump not in the page cache it would read the whole file at open.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sigbus.h"
#include "dump.h"

typedef struct dump_driver {
    vmic_driver base;
    vmic_driver_info_t info;
    vmic_mem_region_t *regions;
    vmic_amd64_regs_t *regs;   /* info.vcpu_count entries, or NULL */
    void *mapping;             /* NULL when opened over a caller's buffer */
    size_t mapping_size;
    char *source;
} dump_driver_t;

static dump_driver_t *dump_of(vmic_driver *d)
{
    return (dump_driver_t *)d;
}

/* ---- operations ------------------------------------------------------- */

static void dump_close(vmic_driver *d)
{
    dump_driver_t *dump = dump_of(d);

    if (dump->mapping) {
        vmic_sigbus_unwatch(dump->mapping);
        munmap(dump->mapping, dump->mapping_size);
    }
    free(dump->regions);
    free(dump->regs);
    free(dump->source);
    free(dump);
}

static const vmic_driver_info_t *dump_info(vmic_driver *d)
{
    return &dump_of(d)->info;
}

/* The region holding pa, or NULL. Regions are sorted and disjoint. */
static const vmic_mem_region_t *find_region(const dump_driver_t *dump, uint64_t pa)
{
    size_t lo = 0, hi = dump->info.nregions;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const vmic_mem_region_t *r = &dump->regions[mid];
        if (pa < r->start.addr)
            hi = mid;
        else if (pa - r->start.addr >= r->size)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

/* Every byte is in a host region already; read is for callers that want a
 * copy (tools, tests) and spans regions when they are contiguous. */
static vmic_status dump_read(vmic_driver *d, vmic_pa_t pa, void *buf, size_t len)
{
    dump_driver_t *dump = dump_of(d);
    uint8_t *to = buf;
    uint64_t at = pa.addr;

    while (len > 0) {
        const vmic_mem_region_t *r = find_region(dump, at);
        if (!r)
            return vmic_fail(VMIC_E_UNMAPPED, "%s: physical address 0x%" PRIx64
                             " is not in the dump", dump->info.source, at);
        uint64_t in_region = r->size - (at - r->start.addr);
        size_t n = in_region < len ? (size_t)in_region : len;
        uint64_t fault;
        const char *file;
        if (!vmic_guarded_copy(to, r->host + (at - r->start.addr), n, &fault, &file))
            return vmic_fail(VMIC_E_IO, "%s: the file shrank while mapped: reading pa 0x%"
                             PRIx64 " faulted at file offset 0x%" PRIx64, file, at, fault);
        to += n;
        at += n;
        len -= n;
    }
    return VMIC_OK;
}

/* Pages of the file mapping inside [pa, pa + len), dropped from the process:
 * the mapping is private and never written, so nothing is lost. */
static void dump_release(vmic_driver *d, vmic_pa_t pa, uint64_t len)
{
    dump_driver_t *dump = dump_of(d);
    const vmic_mem_region_t *r = find_region(dump, pa.addr);
    long page = sysconf(_SC_PAGESIZE);
    if (!dump->mapping || !r || page <= 0)
        return;
    uint64_t in_region = r->size - (pa.addr - r->start.addr);
    if (len > in_region)
        len = in_region;
    uintptr_t lo = (uintptr_t)(r->host + (pa.addr - r->start.addr));
    uintptr_t hi = lo + (uintptr_t)len;
    lo = (lo + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    hi &= ~((uintptr_t)page - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

static vmic_status dump_get_regs(vmic_driver *d, vmic_vcpu_t vcpu, vmic_amd64_regs_t *regs)
{
    dump_driver_t *dump = dump_of(d);

    if (vcpu >= dump->info.vcpu_count)
        return vmic_fail(VMIC_E_INVAL, "%s: vCPU %" PRIu32 " out of range (the dump has %"
                         PRIu32 " vCPUs)", dump->info.source, vcpu, dump->info.vcpu_count);
    *regs = dump->regs[vcpu];
    return VMIC_OK;
}

static const vmic_memory_ops_t dump_memory = {
    .read = dump_read,
    .release = dump_release,
};

static const vmic_register_ops_t dump_registers = {
    .get = dump_get_regs,
};

static const vmic_driver_ops_t dump_ops = {
    .name = "dump",
    .close = dump_close,
    .info = dump_info,
    .memory = &dump_memory,
};

/* Same, for dumps that carry registers (ELF notes). */
static const vmic_driver_ops_t dump_ops_with_regs = {
    .name = "dump",
    .close = dump_close,
    .info = dump_info,
    .memory = &dump_memory,
    .registers = &dump_registers,
};

/* ---- opening ---------------------------------------------------------- */

static vmic_status parse(const dump_image_t *img, vmic_dump_format fmt, dump_layout_t *layout)
{
    if (img->size == 0)
        return vmic_fail(VMIC_E_FORMAT, "%s: empty file at offset 0x0: not a memory dump",
                         img->name);
    switch (fmt) {
    case VMIC_DUMP_AUTO:
        if (dump_is_elf(img))
            return dump_parse_elf(img, layout);
        if (dump_is_lime(img))
            return dump_parse_lime(img, layout);
        return dump_parse_raw(img, layout);
    case VMIC_DUMP_RAW:
        return dump_parse_raw(img, layout);
    case VMIC_DUMP_ELF:
        return dump_parse_elf(img, layout);
    case VMIC_DUMP_LIME:
        return dump_parse_lime(img, layout);
    }
    return vmic_fail(VMIC_E_INVAL, "%s: unknown dump format %d", img->name, (int)fmt);
}

static void fill_info(dump_driver_t *dump, const dump_layout_t *layout, size_t nregions)
{
    vmic_driver_info_t *info = &dump->info;

    info->driver = layout->driver_name;
    info->source = dump->source;
    info->caps = vmic_driver_caps(dump->base.ops);
    info->vcpu_count = layout->nvcpus;
    info->regions = dump->regions;
    info->nregions = nregions;
    for (size_t i = 0; i < nregions; i++)
        info->mem_size += dump->regions[i].size;
    if (nregions)
        info->max_pa = vmic_pa(dump->regions[nregions - 1].start.addr +
                               dump->regions[nregions - 1].size);
}

static vmic_status new_driver(const dump_image_t *img, dump_driver_t **out)
{
    dump_driver_t *dump = calloc(1, sizeof *dump);
    char *source = strdup(img->name);

    if (!dump || !source) {
        free(dump);
        free(source);
        return vmic_fail(VMIC_E_NOMEM, "%s: no memory for the dump driver", img->name);
    }
    dump->source = source;
    *out = dump;
    return VMIC_OK;
}

/* Parses img and builds the driver over it; on failure nothing is kept. */
static vmic_status build(const dump_image_t *img, vmic_dump_format fmt, dump_driver_t **out)
{
    dump_layout_t layout = {0};
    vmic_mem_region_t *regions = NULL;
    size_t nregions = 0;
    dump_driver_t *dump = NULL;

    vmic_status s = parse(img, fmt, &layout);
    if (s == VMIC_OK)
        s = dump_layout_build_regions(img, &layout, &regions, &nregions);
    if (s == VMIC_OK)
        s = new_driver(img, &dump);
    if (s != VMIC_OK) {
        free(regions);
        dump_layout_free(&layout);
        return s;
    }

    dump->base.ops = layout.nvcpus ? &dump_ops_with_regs : &dump_ops;
    dump->regions = regions;
    dump->regs = layout.regs;   /* the driver owns them now */
    layout.regs = NULL;
    fill_info(dump, &layout, nregions);
    dump_layout_free(&layout);
    *out = dump;
    return VMIC_OK;
}

vmic_status vmic_dump_open_buffer(const void *buf, size_t len, vmic_dump_format fmt,
                                  const char *name, vmic_driver **out)
{
    dump_driver_t *dump;
    dump_image_t img = {.bytes = buf, .size = len, .name = name ? name : "buffer"};

    *out = NULL;
    if (!buf && len > 0)
        return vmic_fail(VMIC_E_INVAL, "%s: NULL buffer of %zu bytes", img.name, len);
    vmic_status s = build(&img, fmt, &dump);
    if (s != VMIC_OK)
        return s;
    *out = &dump->base;
    return VMIC_OK;
}

/* What a dump path names, when it is not a regular file: the message says
 * why vmic refuses rather than just "not a regular file". */
static const char *kind_of(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "of an unknown file type";
}

/*
 * Opens path for mapping. O_NONBLOCK: opening a FIFO for reading would
 * otherwise wait for a writer forever, and a device could block too; the
 * file is checked by fstat on the descriptor (not the name, which could be
 * swapped in between) before anything else. The flag is harmless for a
 * regular file, whose reads never block.
 */
static vmic_status open_regular(const char *path, int *fd, struct stat *st)
{
    *fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (*fd < 0)
        return vmic_fail(VMIC_E_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(*fd, st) != 0) {
        int err = errno;
        close(*fd);
        return vmic_fail(VMIC_E_IO, "%s: cannot stat: %s", path, strerror(err));
    }
    if (!S_ISREG(st->st_mode)) {
        close(*fd);
        return vmic_fail(VMIC_E_IO, "%s: %s, not a regular file (vmic maps a dump in "
                         "place, so it takes regular files only: save a stream or a device "
                         "to one first)", path, kind_of(st->st_mode));
    }
    return VMIC_OK;
}

/* Maps the whole file read-only; an empty file maps nothing (*map = NULL). */
static vmic_status map_file(const char *path, void **map, size_t *size)
{
    struct stat st;
    int fd;

    *map = NULL;
    *size = 0;
    vmic_status s = open_regular(path, &fd, &st);
    if (s != VMIC_OK)
        return s;
    if (st.st_size == 0) {
        close(fd);
        return VMIC_OK;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return vmic_fail(VMIC_E_IO, "%s: %" PRIu64 " bytes do not fit this address space",
                         path, (uint64_t)st.st_size);
    }
    /* The driver keeps the mapping, not the descriptor. A file truncated by
     * someone else while mapped raises SIGBUS on access: the SIGBUS guard
     * (vmic_sigbus_guard_enable) turns that into an error. */
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (m == MAP_FAILED)
        return vmic_fail(VMIC_E_IO, "%s: cannot mmap %" PRIu64 " bytes: %s", path,
                         (uint64_t)st.st_size, strerror(err));
    *map = m;
    *size = (size_t)st.st_size;
    return VMIC_OK;
}

vmic_status vmic_dump_open(const char *path, vmic_dump_format fmt, vmic_driver **out)
{
    void *map;
    size_t size;
    dump_driver_t *dump;

    *out = NULL;
    if (!path)
        return vmic_fail(VMIC_E_INVAL, "dump: NULL path");
    vmic_status s = map_file(path, &map, &size);
    if (s != VMIC_OK)
        return s;

    /* Watched from the first header read on (unguarded only if 64 dumps are
     * open at once); under the driver's own copy of the name once built. */
    if (map)
        vmic_sigbus_watch(map, size, path);
    dump_image_t img = {.bytes = map, .size = size, .name = path};
    s = build(&img, fmt, &dump);
    if (map)
        vmic_sigbus_unwatch(map);
    if (s != VMIC_OK) {
        if (map)
            munmap(map, size);
        return s;
    }
    dump->mapping = map;
    dump->mapping_size = size;
    if (map)
        vmic_sigbus_watch(map, size, dump->source);
    *out = &dump->base;
    return VMIC_OK;
}
