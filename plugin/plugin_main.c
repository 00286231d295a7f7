/*
 * libvmic-qemu.so: a QEMU TCG plugin that reports, to a vmic process, each
 * execution of watched guest-physical instruction addresses.
 *
 *   qemu-system-x86_64 -accel tcg ... \
 *     -plugin libvmic-qemu.so,ram=RAMFILE[,ctl=PATH][,below4g=BYTES][,machine=q35]
 *
 * ram=     the memory-backend-file's mem-path (the file vmic boot makes):
 *          how the plugin turns an instruction's host address into a pa
 * ctl=     the control block (vmic_plugin_abi.h); default
 *          /dev/shm/vmic-plugin.<QEMU pid>. Created new (O_EXCL), 0600,
 *          removed at exit
 * below4g= where QEMU split RAM at the PCI hole, if -machine
 *          max-ram-below-4g moved it (default: QEMU 7.2's rule for pc/q35)
 *
 * Loaded with no vmic attached, it registers no callback at all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "futex.h"
#include "plugin_internal.h"

VMIC_QEMU_EXPORT int qemu_plugin_version = 1;

struct plugin vp_plugin = {.ram_lock = PTHREAD_MUTEX_INITIALIZER, .pidfd = -1};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(line, sizeof line, "libvmic-qemu: ");
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    strcat(line, "\n");
    qemu_plugin_outs(line);
    fputs(line, stderr);
}

static bool copy_path(char *dst, size_t size, const char *src)
{
    size_t len = strlen(src);
    if (len == 0 || len >= size)
        return false;
    memcpy(dst, src, len + 1);
    return true;
}

static bool parse_args(struct plugin *p, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        char *end;
        if (strncmp(a, "ram=", 4) == 0) {
            if (!copy_path(p->ram_path, sizeof p->ram_path, a + 4))
                return say("ram= wants a path shorter than %zu bytes", sizeof p->ram_path), false;
        } else if (strncmp(a, "ctl=", 4) == 0) {
            if (!copy_path(p->ctl_path, sizeof p->ctl_path, a + 4))
                return say("ctl= wants a path shorter than %zu bytes", sizeof p->ctl_path), false;
        } else if (strncmp(a, "below4g=", 8) == 0) {
            errno = 0;
            p->below_4g = strtoull(a + 8, &end, 0);
            if (errno || *end || a[8] == 0)
                return say("below4g= wants a byte count, not '%s'", a + 8), false;
            p->below_4g_given = true;
        } else if (strcmp(a, "machine=q35") == 0) {
            p->q35 = true;
        } else if (strcmp(a, "machine=pc") == 0) {
            p->q35 = false;
        } else {
            return say("unknown argument '%s' (ram=, ctl=, below4g=, machine=)", a), false;
        }
    }
    if (!p->ram_path[0])
        return say("ram=FILE (the memory-backend-file's mem-path) is required"), false;
    if (!p->ctl_path[0])
        snprintf(p->ctl_path, sizeof p->ctl_path, "/dev/shm/vmic-plugin.%d", (int)getpid());
    return true;
}

static bool make_ctl(struct plugin *p)
{
    uint64_t header = (sizeof(struct vmic_plugin_ctl) + 4095) & ~4095ull;
    uint64_t size = header + (uint64_t)p->nvcpus * sizeof(struct vmic_plugin_vcpu);
    int fd = open(p->ctl_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return say("cannot create %s: %s", p->ctl_path, strerror(errno)), false;
    void *m = MAP_FAILED;
    if (ftruncate(fd, (off_t)size) == 0)
        m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int err = errno;
    close(fd);
    if (m == MAP_FAILED) {
        unlink(p->ctl_path);
        return say("cannot map %s: %s", p->ctl_path, strerror(err)), false;
    }
    struct vmic_plugin_ctl *c = m;
    c->version = VMIC_PLUGIN_VERSION;
    c->header_size = sizeof *c;
    c->vcpu_offset = (uint32_t)header;
    c->vcpu_stride = sizeof(struct vmic_plugin_vcpu);
    c->vcpu_count = p->nvcpus;
    c->ring_records = VMIC_PLUGIN_RING_RECORDS;
    c->max_watches = VMIC_PLUGIN_MAX_WATCHES;
    c->qemu_pid = (uint32_t)getpid();
    c->total_size = size;
    memcpy(c->ram_path, p->ram_path, sizeof c->ram_path);
    /* The magic last: a client that sees it sees a complete header. */
    VMIC_STORE(&c->magic, VMIC_PLUGIN_MAGIC);
    p->ctl = c;
    p->ctl_size = size;
    p->vcpus = (struct vmic_plugin_vcpu *)((char *)m + header);
    return true;
}

static void at_exit(qemu_plugin_id_t id, void *userdata)
{
    struct plugin *p = &vp_plugin;
    vp_monitor_stop(p);
    unlink(p->ctl_path);
}

VMIC_QEMU_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                         char **argv);
VMIC_QEMU_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                         char **argv)
{
    struct plugin *p = &vp_plugin;
    p->id = id;
    if (!info->system_emulation)
        return say("works in system emulation only"), -1;
    if (!parse_args(p, argc, argv))
        return -1;
    int max = info->system.max_vcpus;
    if (max < 1 || (unsigned)max > VMIC_PLUGIN_MAX_VCPUS)
        return say("%d vCPUs: supports 1 to %u", max, VMIC_PLUGIN_MAX_VCPUS), -1;
    p->nvcpus = (uint32_t)max;
    if (!make_ctl(p))
        return -1;
    if (vp_monitor_start(p) != 0) {
        unlink(p->ctl_path);
        return say("cannot start its monitor thread"), -1;
    }
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
