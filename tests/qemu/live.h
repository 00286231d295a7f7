/*
 * Helpers for tests against a real QEMU: booting one through `vmic boot`
 * (the code path users take), asking QEMU itself for the truth through HMP
 * (QMP human-monitor-command: "info registers", "xp"), splitting the truth a
 * fixture guest writes to its second serial port, stopping QEMU.
 * Header-only so each live test stays one file.
 */
#ifndef VMIC_TEST_LIVE_H
#define VMIC_TEST_LIVE_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vmic/vmic.h>

#include "drivers/qemu/qemu.h"

static inline double live_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void live_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* qemu-system-x86_64 on PATH, else exit 77 saying so loudly. */
static inline void live_require_qemu(const char *test)
{
    if (system("command -v qemu-system-x86_64 >/dev/null 2>&1") != 0) {
        fprintf(stderr, "\n*** SKIP %s: qemu-system-x86_64 is not installed "
                        "(Debian package qemu-system-x86; scripts/install-deps.sh) ***\n\n",
                test);
        exit(77);
    }
}

/*
 * Runs argv, waits at most timeout_s; stdout into out (NUL-terminated,
 * truncated to cap), stderr passed through. Returns the exit status, or -1.
 */
static inline int live_run(char *const argv[], char *out, size_t cap, int timeout_s)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
    size_t n = 0;
    int status = -1;
    double deadline = live_now() + timeout_s;
    for (;;) {
        char buf[4096];
        ssize_t r = read(pipefd[0], buf, sizeof buf);
        if (r > 0) {
            size_t take = (size_t)r < cap - 1 - n ? (size_t)r : cap - 1 - n;
            memcpy(out + n, buf, take);
            n += take;
            continue;
        }
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            while ((r = read(pipefd[0], buf, sizeof buf)) > 0) {
                size_t take = (size_t)r < cap - 1 - n ? (size_t)r : cap - 1 - n;
                memcpy(out + n, buf, take);
                n += take;
            }
            break;
        }
        if (live_now() > deadline) {
            fprintf(stderr, "  %s did not finish within %d s: killed\n", argv[0], timeout_s);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            status = -1;
            break;
        }
        live_sleep_ms(20);
    }
    close(pipefd[0]);
    out[n] = '\0';
    return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A directory for QEMU's files: short (socket paths), on tmpfs if there is one. */
static inline void live_tmpdir(char *dir, size_t size, const char *tag)
{
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0
                           ? "/dev/shm" : "/tmp";
    snprintf(dir, size, "%s/vmic-%s.XXXXXX", base, tag);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static inline int live_stop(const char *vmic, const char *dir)
{
    char target[600], out[4096];
    snprintf(target, sizeof target, "qemu:%s", dir);
    char *argv[] = {(char *)vmic, "boot", "--stop", target, NULL};
    return live_run(argv, out, sizeof out, 30);
}

/* ---- QEMU's own view, through HMP --------------------------------------------- */

typedef struct live_qmp {
    qmp_client_t q;
    bool open;
} live_qmp;

static inline vmic_status live_qmp_open(live_qmp *l, const char *dir)
{
    char path[600];
    qemu_endpoint_t ep;
    snprintf(path, sizeof path, "%s/qmp.sock", dir);
    vmic_status s = endpoint_parse("QMP", path, &ep);
    /* Generous: the truth must not time out on a loaded machine (two cores
     * running several TCG guests answer HMP in seconds, not milliseconds). */
    if (s == VMIC_OK)
        s = qmp_open(&l->q, &ep, 30000);
    l->open = s == VMIC_OK;
    return s;
}

static inline void live_qmp_close(live_qmp *l)
{
    if (l->open)
        qmp_close(&l->q);
    l->open = false;
}

/* One HMP command's output (malloc'd), or NULL with the error printed. */
static inline char *live_hmp(live_qmp *l, const char *cmd)
{
    char *out = NULL;
    if (qmp_hmp(&l->q, cmd, &out) != VMIC_OK) {
        fprintf(stderr, "  HMP %s: %s\n", cmd, vmic_errmsg());
        return NULL;
    }
    return out;
}

/* "xp /1gx PA": the 8 bytes at pa as QEMU reads them. */
static inline bool live_xp64(live_qmp *l, uint64_t pa, uint64_t *v)
{
    char cmd[64];
    snprintf(cmd, sizeof cmd, "xp /1gx 0x%llx", (unsigned long long)pa);
    char *out = live_hmp(l, cmd);
    if (!out)
        return false;
    char *colon = strchr(out, ':');
    bool ok = colon && sscanf(colon + 1, " %llx", (unsigned long long *)v) == 1;
    if (!ok)
        fprintf(stderr, "  unexpected xp output: %s\n", out);
    free(out);
    return ok;
}

/* The value after `key` ("RAX=", "R8 =", "CS =") in one CPU's block of
 * "info registers -a". */
static inline bool live_hmp_reg(const char *block, const char *key, uint64_t *v)
{
    const char *p = strstr(block, key);
    return p && sscanf(p + strlen(key), "%llx", (unsigned long long *)v) == 1;
}

/* A segment line "CS =0010 0000000000000000 ffffffff 00af9b00": selector, base. */
static inline bool live_hmp_seg(const char *block, const char *key, uint64_t *sel,
                                uint64_t *base)
{
    const char *p = strstr(block, key);
    return p && sscanf(p + strlen(key), "%llx %llx", (unsigned long long *)sel,
                       (unsigned long long *)base) == 2;
}

/* The block of CPU n in "info registers -a" output, copied into buf. */
static inline const char *live_cpu_block(const char *text, unsigned n, char *buf, size_t size)
{
    char tag[32];
    snprintf(tag, sizeof tag, "CPU#%u", n);
    const char *p = strstr(text, tag);
    if (!p)
        return NULL;
    snprintf(tag, sizeof tag, "CPU#%u", n + 1);
    const char *next = strstr(p, tag);
    size_t len = next ? (size_t)(next - p) : strlen(p);
    if (len >= size)
        len = size - 1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    return buf;
}

/* ---- the fixture guest's truth ---------------------------------------------------- */

/* Splits "=== BEGIN name ===" ... "=== END name ===" sections of the guest's
 * ttyS1 output into dir/truth/name.txt (as scripts/make-fixture.sh does), so
 * tests/real/truth.h reads this boot's truth. */
static inline bool live_split_truth(const char *serial, const char *dir)
{
    char path[700];
    snprintf(path, sizeof path, "%s/truth", dir);
    mkdir(path, 0700);
    FILE *in = fopen(serial, "r");
    if (!in)
        return false;
    FILE *out = NULL;
    char line[8192];
    while (fgets(line, sizeof line, in)) {
        line[strcspn(line, "\r\n")] = '\0';
        char name[64];
        if (sscanf(line, "=== BEGIN %63[A-Za-z0-9_.-] ===", name) == 1) {
            if (out)
                fclose(out);
            snprintf(path, sizeof path, "%s/truth/%s.txt", dir, name);
            out = fopen(path, "w");
            continue;
        }
        if (strncmp(line, "=== END ", 8) == 0) {
            if (out)
                fclose(out);
            out = NULL;
            continue;
        }
        if (out)
            fprintf(out, "%s\n", line);
    }
    if (out)
        fclose(out);
    fclose(in);
    return true;
}

/*
 * Boots the fixture kernel of fixture_dir through `vmic boot` (the path users
 * take) into a new directory under dir (tag names it), with smp vCPUs and
 * `append` as the kernel command line (NULL: vmic's default); waits until
 * the guest has written its truth and splits it into a new truth_dir.
 * Returns 0, 77 (no QEMU or no fixture kernel: a loud skip) or 1.
 */
#define LIVE_READY "=== VMIC-FIXTURE-READY ==="

static inline int live_boot(const char *vmic, const char *fixture_dir, const char *tag, int smp,
                            const char *append, char *dir, size_t dir_size, char *truth_dir,
                            size_t truth_size)
{
    char kernel[600], initrd[600], smp_s[16], target[400];
    static char out[8192];

    if (system("command -v qemu-system-x86_64 >/dev/null 2>&1") != 0) {
        fprintf(stderr, "\n*** SKIP: qemu-system-x86_64 is not installed (Debian package "
                        "qemu-system-x86; scripts/install-deps.sh) ***\n\n");
        return 77;
    }
    snprintf(kernel, sizeof kernel, "%s/vmlinuz", fixture_dir);
    snprintf(initrd, sizeof initrd, "%s/initrd.gz", fixture_dir);
    if (access(kernel, R_OK) != 0 || access(initrd, R_OK) != 0) {
        fprintf(stderr, "*** SKIP: no fixture kernel in %s (scripts/make-fixture.sh) ***\n",
                fixture_dir);
        return 77;
    }
    /* mkdtemp's directory is new, empty, ours and 0700: what vmic boot --dir
     * accepts. Removing it to let boot recreate it would open a window for
     * anyone to plant one of their own under the same name. */
    live_tmpdir(dir, dir_size, tag);
    live_tmpdir(truth_dir, truth_size, "truth");
    snprintf(target, sizeof target, "qemu:%s", dir);
    snprintf(smp_s, sizeof smp_s, "%d", smp);
    char *argv[20];
    int n = 0;
    argv[n++] = (char *)vmic;
    argv[n++] = "boot";
    argv[n++] = "--quiet";
    argv[n++] = "--dir";
    argv[n++] = dir;
    argv[n++] = "--kernel";
    argv[n++] = kernel;
    argv[n++] = "--initrd";
    argv[n++] = initrd;
    argv[n++] = "--smp";
    argv[n++] = smp_s;
    if (append) {
        argv[n++] = "--append";
        argv[n++] = (char *)append;
    }
    argv[n++] = "--wait-serial";
    argv[n++] = LIVE_READY;
    argv[n++] = "--timeout";
    argv[n++] = "150";
    argv[n] = NULL;
    double t0 = live_now();
    int rc = live_run(argv, out, sizeof out, 170);
    fprintf(stderr, "  vmic boot: exit %d after %.1f s: %s", rc, live_now() - t0, out);
    if (rc != 0 || strncmp(out, target, strlen(target)) != 0) {
        live_stop(vmic, dir);
        return 1;
    }
    char serial[600];
    snprintf(serial, sizeof serial, "%s/serial1.log", dir);
    return live_split_truth(serial, truth_dir) ? 0 : 1;
}

/* The pid of the QEMU that `vmic boot` started in dir, or 0. */
static inline pid_t live_qemu_pid(const char *dir)
{
    char path[600];
    int pid = 0;
    snprintf(path, sizeof path, "%s/qemu.pid", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    if (fscanf(f, "%d", &pid) != 1)
        pid = 0;
    fclose(f);
    return pid > 1 ? (pid_t)pid : 0;
}

#endif
