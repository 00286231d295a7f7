/* The directory of a QEMU started by `vmic boot`, and stopping it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "boot_dir.h"
#include "cli.h"

bool boot_path(char *buf, size_t size, const char *dir, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);
    return n > 0 && (size_t)n < size;
}

/* Whether dir holds anything but "." and "..". */
static bool is_empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool empty = true;
    const struct dirent *e;
    while (empty && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            empty = false;
    closedir(d);
    return empty;
}

int boot_make_dir(const char *cmd, const char *dir)
{
    struct stat st;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return cli_fail(cmd, VMIC_OK, "cannot create %s: %s", dir, strerror(errno));
    /* lstat, not stat: a symlink named DIR would put QEMU's files elsewhere.
     * Checked also when mkdir made it (EEXIST from a race is the same case as
     * an old directory), and the mode must be exactly 0700 either way. */
    if (lstat(dir, &st) != 0)
        return cli_fail(cmd, VMIC_OK, "%s: %s", dir, strerror(errno));
    if (S_ISLNK(st.st_mode))
        return cli_fail(cmd, VMIC_OK, "%s is a symlink: refusing to put QEMU's files where it "
                        "points (give a new directory)", dir);
    if (!S_ISDIR(st.st_mode))
        return cli_fail(cmd, VMIC_OK, "%s exists and is not a directory", dir);
    if (st.st_uid != geteuid())
        return cli_fail(cmd, VMIC_OK, "%s is owned by uid %u, not by you (uid %u): another user "
                        "could swap the files QEMU and vmic create there (give a new "
                        "directory)", dir, (unsigned)st.st_uid, (unsigned)geteuid());
    if ((st.st_mode & 07777) != 0700)
        return cli_fail(cmd, VMIC_OK, "%s has mode %04o, not 0700: others could plant or read "
                        "files there, guest RAM included (give a new directory)", dir,
                        (unsigned)(st.st_mode & 07777));
    if (!is_empty_dir(dir))
        return cli_fail(cmd, VMIC_OK, "%s is not empty: vmic boot needs an empty directory "
                        "(or a new one) so that no file in it was made by someone else", dir);
    return EXIT_OK;
}

int boot_create(const char *dir, const char *name)
{
    char path[4096];
    if (!boot_path(path, sizeof path, dir, name)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

pid_t boot_read_pid(const char *dir)
{
    char path[4096], text[32] = "";
    if (!boot_path(path, sizeof path, dir, BOOT_PID))
        return 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    bool ok = fgets(text, sizeof text, f) != NULL;
    fclose(f);
    long pid = ok ? strtol(text, NULL, 10) : 0;
    return pid > 1 && pid < (1L << 22) ? (pid_t)pid : 0;
}

bool boot_pid_is_ours(pid_t pid, const char *dir)
{
    char path[64], sock[4096], needle[4200], cmdline[65536];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    if (!boot_path(sock, sizeof sock, dir, VMIC_QEMU_DIR_QMP))
        return false;
    /* The -qmp argument boot gave it: "unix:DIR/qmp.sock,server=on,...". */
    snprintf(needle, sizeof needle, "unix:%s,", sock);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
    close(fd);
    if (n <= 0)
        return false;
    cmdline[n] = '\0';
    /* Arguments are NUL-separated: look at each one. */
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(cmdline + i) + 1)
        if (strncmp(cmdline + i, needle, strlen(needle)) == 0)
            return true;
    return false;
}

static bool alive(pid_t pid)
{
    return kill(pid, 0) == 0 || errno == EPERM;
}

/* Waits up to ms for pid to go away. QEMU is not our child (it daemonized),
 * so there is nothing to wait() for: poll its existence. */
static bool wait_gone(pid_t pid, unsigned ms)
{
    for (unsigned waited = 0; waited <= ms; waited += 10) {
        if (!alive(pid))
            return true;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return !alive(pid);
}

static const char *const boot_files[] = {
    VMIC_QEMU_DIR_GDB, VMIC_QEMU_DIR_QMP, VMIC_QEMU_DIR_MEM, BOOT_PID, BOOT_CONSOLE,
    BOOT_SERIAL1, BOOT_LOG, BOOT_ERR, BOOT_TARGET, BOOT_CMDLINE, VMIC_QEMU_DIR_LOCK,
    BOOT_PLUGIN_CTL,
};

int boot_remove(const char *cmd, const char *dir, unsigned timeout_ms, bool quiet)
{
    char path[4096];
    pid_t pid = boot_read_pid(dir);

    if (pid && boot_pid_is_ours(pid, dir)) {
        /* SIGTERM: QEMU shuts the VM down and exits cleanly. */
        kill(pid, SIGTERM);
        if (!wait_gone(pid, timeout_ms)) {
            kill(pid, SIGKILL);
            if (!wait_gone(pid, 2000))
                return cli_fail(cmd, VMIC_OK, "QEMU (pid %d) does not exit even on SIGKILL",
                                (int)pid);
        }
        if (!quiet)
            printf("stopped QEMU pid %d\n", (int)pid);
    } else if (!quiet) {
        printf("QEMU of %s is not running any more\n", dir);
    }

    for (size_t i = 0; i < sizeof boot_files / sizeof boot_files[0]; i++)
        if (boot_path(path, sizeof path, dir, boot_files[i]))
            unlink(path);
    if (rmdir(dir) != 0) {
        fprintf(stderr, "vmic %s: left %s in place: %s (files vmic did not make?)\n", cmd, dir,
                strerror(errno));
        return EXIT_OK;
    }
    if (!quiet)
        printf("removed %s\n", dir);
    return EXIT_OK;
}

int boot_stop(const char *cmd, const char *target, unsigned timeout_ms, bool quiet)
{
    const char *dir = target;
    char path[4096];
    struct stat st;

    if (vmic_qemu_is_target(target))
        dir = target + strlen(VMIC_QEMU_PREFIX);
    if (strchr(dir, '=') || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cli_fail(cmd, VMIC_OK, "--stop wants the directory of a QEMU started by 'vmic "
                        "boot' (qemu:DIR or DIR), not '%s'", target);
    /* Nor one another user made, or can write: its pid file would name a
     * process of theirs choosing. */
    if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)))
        return cli_fail(cmd, VMIC_OK, "%s is owned by uid %u (you are %u) with mode %04o: not a "
                        "directory vmic boot made for you; left alone", dir, (unsigned)st.st_uid,
                        (unsigned)geteuid(), (unsigned)(st.st_mode & 07777));
    /* Never empty a directory boot did not make. */
    if (!boot_path(path, sizeof path, dir, BOOT_CMDLINE) || stat(path, &st) != 0)
        return cli_fail(cmd, VMIC_OK, "%s was not made by 'vmic boot' (no %s)", dir,
                        BOOT_CMDLINE);
    return boot_remove(cmd, dir, timeout_ms, quiet);
}
