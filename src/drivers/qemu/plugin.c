/*
 * Is vmic's QEMU plugin (libvmic-qemu.so) in this QEMU? Its control block,
 * DIR/plugin.ctl next to the gdb socket (target.h), says so. The plugin
 * removes it when QEMU exits, but a QEMU killed outright leaves it behind,
 * and a file of another build has another layout: so it is checked, read
 * only and without attaching (attaching is what a tracer does), and a bad
 * or stale one means "no plugin", with the reason as a note.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "futex.h"
#include "plugin_client.h"
#include "qemu.h"

bool qemu_plugin_ctl_path(const qemu_endpoint_t *gdb, char *path, size_t size)
{
    if (gdb->tcp)
        return false;
    const char *slash = strrchr(gdb->path, '/');
    int n = slash ? snprintf(path, size, "%.*s/%s", (int)(slash - gdb->path), gdb->path,
                             VMIC_QEMU_DIR_PLUGIN)
                  : snprintf(path, size, "%s", VMIC_QEMU_DIR_PLUGIN);
    return n > 0 && (size_t)n < size;
}

static bool pid_alive(uint32_t pid)
{
    return pid > 0 && pid <= INT_MAX && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

int qemu_plugin_check(const char *path, const char *mem_path, char *why, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(why, size, "no plugin: %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (size_t)st.st_size < sizeof(struct vmic_plugin_ctl)) {
        close(fd);
        snprintf(why, size, "no plugin: %s is too small for a control block", path);
        return -1;
    }
    /* Only the header: the identification fields are all this reads. */
    const struct vmic_plugin_ctl *h =
        mmap(NULL, sizeof *h, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (h == MAP_FAILED) {
        snprintf(why, size, "no plugin: %s: mmap: %s", path, strerror(errno));
        return -1;
    }
    int rc = -1;
    char ram[sizeof h->ram_path + 1], mine[PATH_MAX], theirs[PATH_MAX];
    if (vmic__plugin_check_layout(h, (size_t)st.st_size, path)) {
        snprintf(why, size, "no plugin: %s", vmic__plugin_error());
    } else if (!pid_alive(VMIC_LOAD(&h->qemu_pid))) {
        snprintf(why, size, "no plugin: %s is stale (its QEMU, pid %u, is gone)", path,
                 h->qemu_pid);
    } else {
        memcpy(ram, h->ram_path, sizeof h->ram_path);
        ram[sizeof h->ram_path] = '\0';
        if (!realpath(mem_path, mine) || !realpath(ram, theirs) || strcmp(mine, theirs) != 0)
            snprintf(why, size, "no plugin: %s belongs to another QEMU (pid %u, RAM file %s)",
                     path, h->qemu_pid, ram);
        else
            rc = 0;
    }
    munmap((void *)h, sizeof *h);
    return rc;
}

void qemu_plugin_detect(qemu_driver_t *q, const char *mem_path)
{
    char path[sizeof q->gdb_ep.path + 16];
    q->info.plugin = q->plugin;
    if (!qemu_plugin_ctl_path(&q->gdb_ep, path, sizeof path)) {
        snprintf(q->plugin, sizeof q->plugin, "no plugin: the gdbstub is not a unix socket, "
                 "so there is no directory to find %s in", VMIC_QEMU_DIR_PLUGIN);
        return;
    }
    if (qemu_plugin_check(path, mem_path, q->plugin, sizeof q->plugin) == 0) {
        snprintf(q->plugin, sizeof q->plugin, "%s", path);
        q->info.flags |= VMIC_DRIVER_INFO_PLUGIN;
    }
}
