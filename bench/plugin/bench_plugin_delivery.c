/*
 * bench_plugin_delivery: the plugin's delivery path alone, without a guest.
 *
 * This process plays QEMU (the plugin's sources with tests/plugin's stand-in
 * API) and calls the exec callback of one watched instruction as fast as it
 * can; a forked child is vmic (plugin/client.c): it attaches, watches, takes
 * every event and answers the sync ones. Events per second in sync mode
 * (one round trip between the two processes per event) and ring mode (the
 * vCPU waits only for room) are the plugin's ceiling; bench_plugin.py
 * measures them on a live guest, where TCG sets the pace.
 *
 * usage: bench_plugin_delivery [EVENTS]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "drivers/qemu/plugin_client.h"
#include "futex.h"
#include "qemu_stub.h"

#define ID 1

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int run_client(const char *ctl, enum vmic_plugin_mode mode, long n)
{
    vmic__plugin_client c;
    uint64_t pa = 0x1000;
    if (vmic__plugin_attach(&c, ctl, 5000) || vmic__plugin_watch(&c, &pa, NULL, 1, mode, NULL, 10000, NULL, NULL)) {
        fprintf(stderr, "client: %s\n", vmic__plugin_error());
        return 1;
    }
    static struct vmic_plugin_record ev[256];
    long got = 0;
    while (got < n) {
        int k = vmic__plugin_poll(&c, ev, 256, 5000);
        if (k == 0) {
            fprintf(stderr, "client: no event for 5 s after %ld\n", got);
            return 1;
        }
        for (int i = 0; i < k; i++)
            vmic__plugin_done(&c, &ev[i]);
        got += k;
    }
    vmic__plugin_detach(&c);
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    struct stub_files sf;
    if (stub_files_make(&sf, "/dev/shm/vmic-bench-delivery.XXXXXX") != 0)
        return 1;
    const char *dir = sf.dir, *ram_path = sf.ram_path, *ctl_path = sf.ctl_path;
    char *ram_arg = sf.ram_arg, *ctl_arg = sf.ctl_arg, *ram = sf.ram;
    int fd;
    qemu_info_t info = {.version = {1, 1}, .system_emulation = true};
    info.system.smp_vcpus = info.system.max_vcpus = 1;
    char *args[] = {ram_arg, ctl_arg};
    if (qemu_plugin_install(ID, &info, 2, args) != 0)
        return fprintf(stderr, "install: %s\n", stub.last_message), 1;
    fd = open(ctl_path, O_RDONLY);
    struct vmic_plugin_ctl *ctl = mmap(NULL, sizeof *ctl, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);

    struct qemu_plugin_tb tb = {.n = 1, .insn = {{0xffffffff81001000ull, ram + 0x1000}}};
    const char *names[] = {"sync", "ring"};
    int rc = 0;
    for (int mode = 0; mode < 2 && rc == 0; mode++) {
        uint32_t gen0 = VMIC_LOAD(&ctl->watch_gen);
        pid_t child = fork();
        if (child == 0)
            _exit(run_client(ctl_path, (enum vmic_plugin_mode)mode, n));
        /* Play the vCPU: idle callbacks until the child's watch is in. */
        double end = now_s() + 10;
        while (now_s() < end && !(VMIC_LOAD(&ctl->watch_gen) != gen0 &&
                                  VMIC_LOAD(&ctl->watch_applied) == VMIC_LOAD(&ctl->watch_gen))) {
            if (stub.idle)
                stub.idle(ID, 0);
            usleep(1000);
        }
        if (stub.trans)
            stub.trans(ID, &tb);
        if (stub.nexec != 1) {
            fprintf(stderr, "%s: the watch was not applied\n", names[mode]);
            kill(child, SIGKILL);
            rc = 1;
        } else {
            double t0 = now_s();
            for (long i = 0; i < n; i++)
                stub.exec[0].cb(0, stub.exec[0].userdata);
            double t = now_s() - t0;
            printf("%s: %ld events in %.3f s: %.0f events/s\n", names[mode], n, t, (double)n / t);
        }
        int st;
        waitpid(child, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            rc = 1;
    }
    stub.atexit(ID, NULL);
    unlink(ram_path);
    rmdir(dir);
    return rc;
}
