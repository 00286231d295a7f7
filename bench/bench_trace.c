/*
 * What tracing costs the guest (figures, not verdicts): the fixture guest
 * (vmic.workload) times its own loop of getpid() + open/close("/dev/null")
 * (tests/fixtures/workload.c, "loop N": 3 syscalls a round) untraced, under
 * `vmic trace --no-syscalls` (fork/exec/exit breakpoints only, which the
 * loop never hits) and under `vmic trace` (every syscall stops the guest
 * twice, at entry and return). The guest's own clock times the loop; vmic's
 * summary says how many breakpoint hits it took.
 *
 *   bench_trace [VMIC_BINARY [FIXTURE_DIR]]     boots its own guest (6.1)
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "../tests/qemu/live.h"

#define UNTRACED_ROUNDS 20000
#define TRACED_ROUNDS 200

static char dir[300], target[310];
static int port = -1;

/* The command port is ours, not vmic boot's: it goes first, or --stop
 * leaves the directory behind. */
static void stop_guest(const char *vmic)
{
    char path[400];
    snprintf(path, sizeof path, "%s/ttyS2.sock", dir);
    unlink(path);
    live_stop(vmic, dir);
}

__attribute__((noreturn)) static void die(const char *what)
{
    fprintf(stderr, "bench_trace: %s\n", what);
    if (dir[0])
        stop_guest(getenv("VMIC") ? getenv("VMIC") : "build/release/vmic");
    exit(1);
}

static size_t serial_size(void)
{
    char path[400];
    struct stat st;
    snprintf(path, sizeof path, "%s/serial1.log", dir);
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

/* Waits for "W loop n=N ns=T" after offset `from`; returns T. */
static double loop_ns(size_t from, long rounds, int timeout_s)
{
    char path[400], line[512], want[64];
    snprintf(path, sizeof path, "%s/serial1.log", dir);
    snprintf(want, sizeof want, "W loop n=%ld ns=", rounds);
    double deadline = live_now() + timeout_s;
    while (live_now() < deadline) {
        FILE *f = fopen(path, "r");
        if (f && fseek(f, (long)from, SEEK_SET) == 0)
            while (fgets(line, sizeof line, f))
                if (strncmp(line, want, strlen(want)) == 0) {
                    fclose(f);
                    return atof(line + strlen(want));
                }
        if (f)
            fclose(f);
        live_sleep_ms(100);
    }
    die("the guest did not finish its loop");
}

static double run_loop(long rounds, int timeout_s)
{
    char cmd[64];
    size_t from = serial_size();
    int n = snprintf(cmd, sizeof cmd, "loop %ld\n", rounds);
    if (write(port, cmd, (size_t)n) != n)
        die("writing to the guest's command port");
    return loop_ns(from, rounds, timeout_s);
}

/* vmic trace in the background (stdout thrown away, as a fast reader
 * would), its stderr -- the summary -- into errfd. */
static pid_t start_trace(const char *vmic, const char *mode, int errfd)
{
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(errfd, 2);
        if (mode)
            execl(vmic, vmic, "trace", mode, target, (char *)NULL);
        else
            execl(vmic, vmic, "trace", target, (char *)NULL);
        _exit(127);
    }
    char buf[4096];
    double deadline = live_now() + 30;
    while (live_now() < deadline) { /* until it says its breakpoints are in */
        ssize_t n = pread(errfd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        if (strstr(buf, "tracing"))
            return pid;
        live_sleep_ms(50);
    }
    die("vmic trace did not start");
}

/* SIGINT, then the breakpoint hits its summary counted. */
static uint64_t stop_trace(pid_t pid, int errfd)
{
    char buf[16384];
    int status;
    kill(pid, SIGINT);
    waitpid(pid, &status, 0);
    ssize_t n = pread(errfd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    const char *p = strstr(buf, "events from ");
    return p ? strtoull(p + 12, NULL, 10) : 0;
}

static double traced(const char *vmic, const char *mode, long rounds, uint64_t *hits)
{
    char path[] = "/tmp/vmic-bench-trace.XXXXXX";
    int errfd = mkstemp(path);
    if (errfd < 0)
        die("mkstemp");
    unlink(path);
    pid_t pid = start_trace(vmic, mode, errfd);
    double t0 = live_now();
    double ns = run_loop(rounds, 600);
    *hits = stop_trace(pid, errfd);
    fprintf(stderr, "  %s: %ld rounds in %.1f s, %" PRIu64 " breakpoint hits\n",
            mode ? mode : "all", rounds, live_now() - t0, *hits);
    close(errfd);
    return ns;
}

static void boot(const char *vmic, const char *fixture)
{
    char kernel[400], initrd[400], serial2[400], out[4096];
    snprintf(kernel, sizeof kernel, "%s/vmlinuz", fixture);
    snprintf(initrd, sizeof initrd, "%s/initrd.gz", fixture);
    live_tmpdir(dir, sizeof dir, "bench-trace");
    rmdir(dir);
    snprintf(target, sizeof target, "qemu:%s", dir);
    snprintf(serial2, sizeof serial2, "unix:%s/ttyS2.sock,server=on,wait=off", dir);
    char *argv[] = {(char *)vmic, "boot", "--quiet", "--dir", dir, "--kernel", kernel,
                    "--initrd", initrd, "--append", "console=ttyS0 panic=-1 vmic.workload=1",
                    "--wait-serial", LIVE_READY, "--timeout", "150", "--", "-serial", serial2,
                    NULL};
    if (live_run(argv, out, sizeof out, 170) != 0)
        die("vmic boot failed");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(dir) + sizeof "/ttyS2.sock" > sizeof sa.sun_path)
        die("the boot directory path is too long for a socket");
    snprintf(sa.sun_path, sizeof sa.sun_path, "%.90s/ttyS2.sock", dir);
    port = socket(AF_UNIX, SOCK_STREAM, 0);
    if (port < 0 || connect(port, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("connecting to the guest's command port");
}

int main(int argc, char **argv)
{
    const char *vmic = argc > 1 ? argv[1] : "build/release/vmic";
    const char *fixture = argc > 2 ? argv[2] : "build/fixtures/6.1";
    live_require_qemu("bench_trace");
    setenv("VMIC", vmic, 1);
    boot(vmic, fixture);

    run_loop(1000, 60); /* warm the guest's page cache and TB cache */
    double plain = run_loop(UNTRACED_ROUNDS, 120) / UNTRACED_ROUNDS;
    uint64_t hits_proc, hits_all;
    double proc = traced(vmic, "--no-syscalls", UNTRACED_ROUNDS, &hits_proc) / UNTRACED_ROUNDS;
    double all = traced(vmic, NULL, TRACED_ROUNDS, &hits_all) / TRACED_ROUNDS;

    printf("QEMU TCG, 1 vCPU; the guest's loop of getpid() + open/close(\"/dev/null\") "
           "(3 syscalls a round), timed by the guest\n");
    printf("%-44s %10.2f us/round\n", "untraced", plain / 1e3);
    printf("%-44s %10.2f us/round  %8.2fx\n", "vmic trace --no-syscalls (process events)",
           proc / 1e3, proc / plain);
    printf("%-44s %10.2f us/round  %8.0fx\n", "vmic trace (every syscall)", all / 1e3,
           all / plain);
    printf("%-44s %10.3f ms  (%" PRIu64 " hits for %d rounds)\n",
           "  per breakpoint hit (entry and return)", (all - plain) / 6 / 1e6, hits_all,
           TRACED_ROUNDS);
    stop_guest(vmic);
    return 0;
}
