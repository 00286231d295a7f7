/*
 * vmic dump: guest memory to files. A process's regions (every one, or
 * those parts inside --range), its executable as the file it was mapped
 * from (--exe), or a module's memory (--module), or the kernel's or a
 * module's BTF as the guest's /sys/kernel/btf serves it (--btf). Pages that are not present
 * are left as holes (the files are sparse: lseek over them, never zeros
 * written), so a file's size is the region's and its data is only what the
 * guest had. A listing (listing.txt) says what each file holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_list.h"

#define PAGE 4096ull
/* Pages per file: a region of more than 16 GiB is refused (a forged VMA
 * could claim the whole user half); --range takes a part of one. */
#define MAX_PAGES (1ull << 22)

static const char *pid_arg, *range_arg, *module_arg, *out_dir;
static bool exe, btf;

static const cli_col cols[] = {
    {.head = "FILE", .key = "file", .type = CLI_COL_STR, .width = -44},
    {.head = "START", .key = "start", .type = CLI_COL_HEX, .width = 16, .digits = 16},
    {.head = "END", .key = "end", .type = CLI_COL_HEX, .width = 16, .digits = 16},
    {.head = "PERMS", .key = "perms", .type = CLI_COL_STR, .width = 5},
    {.head = "PRESENT", .key = "present", .type = CLI_COL_UINT, .width = 10},
    {.head = "SIZE", .key = "size", .type = CLI_COL_UINT, .width = 10},
    {.head = "SOURCE", .key = "source", .type = CLI_COL_STR, .sep = "  "},
    {.key = "file_offset", .type = CLI_COL_HEX, .flags = CLI_COL_JSON_ONLY},
};
enum { FILE_, START, END, PERMS, PRESENT, SIZE, SOURCE, FOFF, NCOLS };
static const cli_schema schema = {cols, NCOLS, NULL, false};

typedef struct dumper {
    vmic_os *os;
    vmic_core *core;
    const vmic_process_t *p; /* NULL: kernel memory (a module) */
    int fd;                  /* the file being written */
    FILE *listing;
    cli_rows rows;
    size_t files;
} dumper;

/* One page of guest memory; *there false (and VMIC_OK) when it is not
 * present, which is no error: it becomes a hole. */
static vmic_status page_of(dumper *d, uint64_t va, uint8_t *buf, bool *there)
{
    vmic_status s = d->p ? vmic_os_process_read(d->os, d->p, vmic_va(va), buf, PAGE)
                         : vmic_read_va(d->core, vmic_os_kernel_ctx(d->os), vmic_va(va), buf, PAGE);
    *there = s == VMIC_OK;
    if (s == VMIC_E_TRANSLATE || s == VMIC_E_UNMAPPED) {
        vmic_clear_error();
        return VMIC_OK;
    }
    return s;
}

/* Copies guest [va, va + len) to file offset off of d->fd, present pages
 * only. *present gets the bytes written. */
static vmic_status copy_out(dumper *d, uint64_t va, uint64_t len, uint64_t off, uint64_t *present)
{
    static uint8_t buf[PAGE];
    if (len / PAGE > MAX_PAGES)
        return vmic_fail(VMIC_E_RANGE, "0x%" PRIx64 "-0x%" PRIx64 " is more than %llu GiB: "
                         "take part of it with --range", va, va + len, MAX_PAGES * PAGE >> 30);
    for (uint64_t at = 0; at < len; at += PAGE) {
        uint64_t n = len - at < PAGE ? len - at : PAGE;
        bool there;
        vmic_status s = page_of(d, va + at, buf, &there);
        if (s)
            return vmic_fail_wrap(s, "reading 0x%" PRIx64, va + at);
        if (!there)
            continue;
        if (pwrite(d->fd, buf, n, (off_t)(off + at)) != (ssize_t)n)
            return vmic_fail(VMIC_E_IO, "writing the dump: %s", strerror(errno));
        *present += n;
    }
    return VMIC_OK;
}

static vmic_status open_out(dumper *d, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    d->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (d->fd < 0)
        return vmic_fail(VMIC_E_IO, "%s: %s", path, strerror(errno));
    return VMIC_OK;
}

/* Ends the file at size (holes up to it) and lists it. */
static vmic_status close_out(dumper *d, const char *name, uint64_t start, uint64_t end,
                             const char *perms, uint64_t present, uint64_t size,
                             const char *source, uint64_t file_off)
{
    bool ok = ftruncate(d->fd, (off_t)size) == 0;
    int err = errno;
    close(d->fd);
    d->fd = -1;
    if (!ok)
        return vmic_fail(VMIC_E_IO, "%s/%s: %s", out_dir, name, strerror(err));
    cli_val v[NCOLS] = {
        [FILE_] = CLI_S(name), [START] = CLI_U(start), [END] = CLI_U(end), [PERMS] = CLI_S(perms),
        [PRESENT] = CLI_U(present), [SIZE] = CLI_U(size), [SOURCE] = CLI_S(source),
        [FOFF] = CLI_U(file_off),
    };
    cli_rows_add(&d->rows, v);
    fprintf(d->listing, "%s %016" PRIx64 "-%016" PRIx64 " %s %" PRIu64 "/%" PRIu64 " %s\n", name,
            start, end, perms, present, size, source);
    d->files++;
    return VMIC_OK;
}

/* ---- a process's regions -------------------------------------------------- */

typedef struct regions {
    vmic_region_t *v;
    size_t n, cap;
} regions;

static int collect(void *arg, const vmic_region_t *r)
{
    regions *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        vmic_region_t *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return 1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *r;
    return 0;
}

static vmic_status dump_regions(dumper *d, const regions *l, uint64_t lo, uint64_t hi)
{
    if (d->p && range_arg) {
        bool any = false;
        for (size_t i = 0; i < l->n && !any; i++)
            any = l->v[i].start.addr < hi && l->v[i].end.addr > lo;
        if (!any)
            return vmic_fail(VMIC_E_NOTFOUND, "pid %d has no memory in %s (see vmic maps)",
                             (int)d->p->tgid, range_arg);
    }
    for (size_t i = 0; i < l->n; i++) {
        const vmic_region_t *r = &l->v[i];
        uint64_t a = r->start.addr > lo ? r->start.addr : lo;
        uint64_t b = r->end.addr < hi ? r->end.addr : hi;
        if (a >= b)
            continue;
        char name[96], perms[5];
        uint64_t present = 0;
        vmic_status s;
        snprintf(name, sizeof name, "pid-%d-%016" PRIx64 "-%016" PRIx64 ".bin", (int)d->p->tgid,
                 a, b);
        if ((s = open_out(d, name)) || (s = copy_out(d, a, b - a, 0, &present)) ||
            (s = close_out(d, name, a, b, cli_perms(r, perms), present, b - a, r->path,
                           r->offset + (a - r->start.addr))))
            return s;
    }
    return VMIC_OK;
}

/* The main executable: the file of the lowest file-backed region (the
 * program is mapped below its libraries and the dynamic loader, and a
 * static one below everything). Every region of that file is written at
 * its file offset; writable ones first, so that where a private copy and a
 * read-only mapping cover the same offset the file's own bytes win. */
static vmic_status dump_exe(dumper *d, const regions *l)
{
    const vmic_region_t *first = NULL;
    for (size_t i = 0; i < l->n && !first; i++)
        if (l->v[i].path[0] == '/' && l->v[i].inode)
            first = &l->v[i];
    if (!first)
        return vmic_fail(VMIC_E_NOTFOUND, "pid %d maps no file: no executable to write",
                         (int)d->p->tgid);
    const char *base = strrchr(first->path, '/') + 1;
    char name[96];
    uint64_t present = 0, size = 0, lo = first->start.addr, hi = first->end.addr;
    vmic_status s;
    snprintf(name, sizeof name, "pid-%d-exe-%.60s", (int)d->p->tgid, base);
    /* The guest names the file: nothing in it may act on a shell or a
     * terminal ("x (deleted)" becomes "x__deleted_"). */
    for (char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '-' || *c == '_' || *c == '+'))
            *c = '_';
    if ((s = open_out(d, name)))
        return s;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < l->n; i++) {
            const vmic_region_t *r = &l->v[i];
            bool writable = r->access & VMIC_ACCESS_W;
            if (r->inode != first->inode || r->dev_major != first->dev_major ||
                r->dev_minor != first->dev_minor || strcmp(r->path, first->path) != 0 ||
                writable != (pass == 0))
                continue;
            uint64_t len = r->end.addr - r->start.addr;
            if ((s = copy_out(d, r->start.addr, len, r->offset, &present))) {
                close(d->fd);
                return s;
            }
            if (r->offset + len > size)
                size = r->offset + len;
            lo = r->start.addr < lo ? r->start.addr : lo;
            hi = r->end.addr > hi ? r->end.addr : hi;
        }
    return close_out(d, name, lo, hi, "file", present, size, first->path, 0);
}

static bool parse_range(const char *s, uint64_t *lo, uint64_t *hi)
{
    char a[32], b[32];
    const char *dash = strchr(s, '-');
    if (!dash || dash - s >= (long)sizeof a || strlen(dash + 1) >= sizeof b)
        return false;
    memcpy(a, s, (size_t)(dash - s));
    a[dash - s] = '\0';
    strcpy(b, dash + 1);
    return cli_parse_hex(a, lo) && cli_parse_hex(b, hi) && *lo < *hi;
}

/* ---- a module --------------------------------------------------------------- */

typedef struct module_find {
    const char *name;
    vmic_module_t m;
    bool found;
} module_find;

static int find_module(void *arg, const vmic_module_t *m)
{
    module_find *f = arg;
    if (strcmp(m->name, f->name) != 0)
        return 0;
    f->m = *m;
    f->found = true;
    return 1;
}

static vmic_status dump_module(dumper *d)
{
    module_find f = {.name = module_arg};
    vmic_status s = vmic_os_modules(d->os, find_module, &f);
    if (!f.found)
        return s ? s : vmic_fail(VMIC_E_NOTFOUND, "no module named '%s' (see vmic modules)",
                                 module_arg);
    vmic_clear_error();
    for (unsigned i = 0; i < f.m.nranges && i < VMIC_MODULE_MAX_RANGES; i++) {
        const vmic_module_range_t *r = &f.m.ranges[i];
        char name[128];
        uint64_t present = 0;
        snprintf(name, sizeof name, "module-%s-%016" PRIx64 ".bin", f.m.name, r->base.addr);
        if ((s = open_out(d, name)) || (s = copy_out(d, r->base.addr, r->size, 0, &present)) ||
            (s = close_out(d, name, r->base.addr, r->base.addr + r->size, "kmem", present,
                           r->size, f.m.name, 0)))
            return s;
    }
    return VMIC_OK;
}

/* ---- BTF ---------------------------------------------------------------- */

/* vmlinux.btf, or module-NAME.btf: split BTF, read with vmlinux.btf as its
 * base (bpftool btf dump file module-NAME.btf base vmlinux.btf). */
static vmic_status dump_btf(dumper *d)
{
    const uint8_t *data;
    size_t len;
    char name[128];
    vmic_status s = vmic_os_btf(d->os, module_arg, &data, &len);
    if (s)
        return s;
    if (module_arg)
        snprintf(name, sizeof name, "module-%s.btf", module_arg);
    else
        snprintf(name, sizeof name, "vmlinux.btf");
    if ((s = open_out(d, name)))
        return s;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(d->fd, data + done, len - done);
        if (n <= 0) {
            close(d->fd);
            d->fd = -1;
            return vmic_fail(VMIC_E_IO, "writing %s/%s: %s", out_dir, name, strerror(errno));
        }
        done += (size_t)n;
    }
    close(d->fd);
    d->fd = -1;
    cli_val v[NCOLS] = {
        [FILE_] = CLI_S(name), [START] = {.blank = true}, [END] = {.blank = true},
        [PERMS] = CLI_S("btf"), [PRESENT] = CLI_U(len), [SIZE] = CLI_U(len),
        [SOURCE] = CLI_S(module_arg ? module_arg : "vmlinux"), [FOFF] = CLI_U(0),
    };
    cli_rows_add(&d->rows, v);
    fprintf(d->listing, "%s - btf %zu/%zu %s\n", name, len, len,
            module_arg ? module_arg : "vmlinux");
    d->files++;
    return VMIC_OK;
}

/* ---- the command ---------------------------------------------------------- */

static int run(const char *cmd, dumper *d, const cli_common *c, uint64_t lo, uint64_t hi)
{
    vmic_process_t p;
    regions l = {0};
    vmic_status s = VMIC_OK;
    int rc;
    if (pid_arg) {
        if ((rc = cli_os_process(cmd, d->os, pid_arg, &p)))
            return rc;
        if (p.kernel_thread)
            return cli_fail(cmd, VMIC_E_NOTFOUND, "pid %s is a kernel thread: it has no "
                            "memory of its own (--module NAME writes a module)", pid_arg);
        d->p = &p;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/listing.txt", out_dir);
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST)
        return cli_fail(cmd, VMIC_E_IO, "cannot make %s: %s", out_dir, strerror(errno));
    if (!(d->listing = fopen(path, "w")))
        return cli_fail(cmd, VMIC_E_IO, "cannot write %s: %s", path, strerror(errno));
    cli_rows_begin(&d->rows, &schema, c->json);
    if (btf) {
        s = dump_btf(d);
    } else if (module_arg) {
        s = dump_module(d);
    } else {
        s = vmic_os_regions(d->os, &p, collect, &l);
        if (s == VMIC_OK)
            s = exe ? dump_exe(d, &l) : dump_regions(d, &l, lo, hi);
    }
    cli_rows_end(&d->rows);
    fclose(d->listing);
    free(l.v);
    return cli_os_walk_status(cmd, s, d->files);
}

int cmd_dump(int argc, char **argv)
{
    static const cli_opt opts[] = {
        CLI_STR("pid", 0, "PID", &pid_arg, "the process whose memory to write"),
        CLI_STR("range", 0, "VA-VA", &range_arg,
                "only the parts of its regions in [VA, VA) (hex, as maps prints them)"),
        CLI_FLAG("exe", 0, &exe,
                 "write its executable instead: every region of the main program's file\n"
                 "at its file offset, so each present page holds the file's own bytes"),
        CLI_STR("module", 0, "NAME", &module_arg,
                "write the memory of kernel module NAME (each of its ranges) instead"),
        CLI_FLAG("btf", 0, &btf,
                 "write BTF instead: the kernel's (vmlinux.btf) or, with --module, that\n"
                 "module's own split BTF (module-NAME.btf), as /sys/kernel/btf serves them"),
        CLI_STR("out", 'o', "DIR", &out_dir, "where to write (made if missing)"),
        CLI_END,
    };
    static const cli_spec spec = {
        .cmd = "dump",
        .usage = "[OPTIONS] TARGET (--pid PID [--range VA-VA | --exe] | --module NAME | --btf "
                 "[--module NAME]) -o DIR",
        .groups = CLI_G_GUEST, .opts = opts, .min_operands = 1, .max_operands = 1,
        .about = "Write guest memory to files in DIR: each memory region of process PID\n"
                 "(pid-PID-START-END.bin), its executable (pid-PID-exe-NAME), or a kernel\n"
                 "module's memory (module-NAME-BASE.bin). Pages that are not present are\n"
                 "holes in sparse files, not zeros. DIR/listing.txt (rewritten by each run)\n"
                 "and the table (or --json) say what each file holds and how many of its\n"
                 "bytes were present. The executable is the file of the lowest file-backed\n"
                 "region (the program is mapped below its libraries); where a private\n"
                 "copy (relocated or written data) and a read-only mapping cover the same\n"
                 "file offset, the read-only page is written. --btf writes the kernel's\n"
                 "BTF or a module's, byte for byte as the guest's /sys/kernel/btf has it.",
    };
    cli_common c = {0};
    dumper d = {.fd = -1};
    uint64_t lo = 0, hi = UINT64_MAX;
    int first = cli_parse(&spec, argc, argv, &c);
    if (first < 0)
        return -first;
    if (!out_dir)
        return cli_usage("dump", "-o DIR is needed: where to write");
    if (btf && pid_arg)
        return cli_usage("dump", "--btf is the kernel's or a module's (--module), not a process's");
    if (!btf && !pid_arg == !module_arg)
        return cli_usage("dump", "give either --pid PID or --module NAME (or --btf)");
    if ((range_arg || exe) && !pid_arg)
        return cli_usage("dump", "--range and --exe are for a process (--pid)");
    if (range_arg && exe)
        return cli_usage("dump", "--range or --exe, not both");
    if (range_arg && !parse_range(range_arg, &lo, &hi))
        return cli_usage("dump", "--range wants START-END in hex with START < END, not '%s'",
                         range_arg);
    int rc = cli_os_open("dump", argv[first], &c, &d.core, &d.os);
    if (rc)
        return rc;
    rc = run("dump", &d, &c, lo, hi);
    cli_os_close(d.core, d.os);
    return rc;
}
