/*
 * The session lock: one file next to the gdbstub's socket (DIR/vmic.lock
 * for a `vmic boot` directory) that says which vmic holds the gdbstub.
 *
 * QEMU's gdbstub takes one client; a second connection waits in the listen
 * backlog and is accepted when the first leaves, and that accept stops the
 * VM with nobody left to resume it. So a vmic takes this lock (flock, not
 * blocking) before it connects, and a vmic that cannot get it never
 * connects: it reads the file to say who holds what, and read-only commands
 * go on through QMP instead (shared.c). The kernel drops a flock when its
 * last holder dies, so a killed vmic never leaves a stale lock; its guard
 * (guard.c) holds a copy and drops it once it has detached.
 *
 * TCP gdb endpoints have no directory of their own: no lock file, only the
 * query-chardev check (stub.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "qemu.h"

static bool lock_path(const qemu_endpoint_t *gdb, char *path, size_t size)
{
    if (gdb->tcp)
        return false;
    const char *slash = strrchr(gdb->path, '/');
    int n = slash ? snprintf(path, size, "%.*s/%s", (int)(slash - gdb->path), gdb->path,
                             VMIC_QEMU_DIR_LOCK)
                  : snprintf(path, size, "%s", VMIC_QEMU_DIR_LOCK);
    return n > 0 && (size_t)n < size;
}

/* "vmic ps qemu:/dev/shm/x": this process's command line, NULs as spaces. */
static void own_command(char *buf, size_t size)
{
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, size - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0) {
        snprintf(buf, size, "?");
        return;
    }
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0' || buf[i] == '\n')
            buf[i] = ' ';
    while (n > 0 && buf[n - 1] == ' ')
        n--;
    buf[n] = '\0';
}

static void read_holder(int fd, char *holder, size_t size)
{
    ssize_t n = pread(fd, holder, size - 1, 0);
    if (n < 0)
        n = 0;
    holder[n] = '\0';
    char *nl = strchr(holder, '\n');
    if (nl)
        *nl = '\0';
    if (!holder[0]) {
        snprintf(holder, size, "another vmic (its lock file says nothing more)");
        return;
    }
    /* A vmic killed a moment ago: the lock is its guard's until the guard
     * has put the VM back, which is what the user waits for. */
    int pid;
    size_t len = strlen(holder);
    if (sscanf(holder, "vmic pid %d", &pid) == 1 && pid > 0 && kill(pid, 0) != 0 &&
        errno == ESRCH && len + 1 < size)
        snprintf(holder + len, size - len, ", which is gone: its guard is putting the VM "
                 "back (try again in a moment)");
}

vmic_status lock_take(qemu_lock_t *l, const qemu_endpoint_t *gdb, bool *busy, char *holder,
                      size_t size)
{
    *busy = false;
    l->fd = -1;
    if (!lock_path(gdb, l->path, sizeof l->path)) {
        l->path[0] = '\0';
        return VMIC_OK;
    }
    /* O_NOFOLLOW: a symlink planted there must not make vmic write elsewhere. */
    l->fd = open(l->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (l->fd < 0 && errno != ELOOP) {
        /* No such directory (connecting will say so) or not ours to write
         * in: no lock, query-chardev alone keeps a second client off. */
        l->path[0] = '\0';
        return VMIC_OK;
    }
    if (l->fd < 0)
        return vmic_fail(VMIC_E_IO, "session lock %s is a symbolic link: not followed",
                         l->path);
    if (flock(l->fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        if (err == EWOULDBLOCK) {
            *busy = true;
            read_holder(l->fd, holder, size);
        }
        close(l->fd);
        l->fd = -1;
        if (err != EWOULDBLOCK)
            return vmic_fail(VMIC_E_IO, "session lock %s: flock: %s", l->path, strerror(err));
        return VMIC_OK;
    }
    char cmd[256], line[512];
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&now, &tm));
    own_command(cmd, sizeof cmd);
    int n = snprintf(line, sizeof line, "vmic pid %d (%s) since %s\n",
                     (int)getpid(), cmd, when);
    if (ftruncate(l->fd, 0) != 0 || pwrite(l->fd, line, (size_t)n, 0) != n)
        return vmic_fail(VMIC_E_IO, "session lock %s: writing: %s", l->path, strerror(errno));
    return VMIC_OK;
}

void lock_release(qemu_lock_t *l)
{
    if (l->fd < 0)
        return;
    if (ftruncate(l->fd, 0) != 0) {
        /* Unlocked is what matters; a stale line is only a message. */
    }
    close(l->fd);
    l->fd = -1;
}

bool lock_peek(const qemu_endpoint_t *gdb, char *holder, size_t size)
{
    char path[sizeof ((qemu_lock_t *)0)->path];
    if (!lock_path(gdb, path, sizeof path))
        return false;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    if (held)
        read_holder(fd, holder, size);
    close(fd);
    return held;
}
