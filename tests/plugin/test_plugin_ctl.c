/*
 * libvmic-qemu.so's handling of its control block, without QEMU: the
 * plugin's sources linked with qemu_stub.c, and this test playing a hostile
 * client that writes whatever it likes into the block. Checked: bad plugin
 * arguments refuse to load; nothing is registered until a client attaches;
 * an impossible pid attaches no one; a watch count of 2^32-1 and an unknown
 * mode are clamped; translation instruments only watched pas in the RAM
 * file (found through /proc/self/maps); a foreign slot state or a tail ahead
 * of head makes the vCPU wait, never read or write out of bounds; a vCPU
 * index past the block is dropped and counted; the client's death (pidfd)
 * releases a waiting vCPU, later events are dropped and counted, and the
 * plugin goes back to no callbacks; exit removes the block.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "futex.h"
#include "qemu_stub.h"
#include "vmic_plugin_abi.h"

static int failures;
#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            failures++;                                                                        \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                    \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
        }                                                                                      \
    } while (0)

#define ID 7
static struct vmic_plugin_ctl *ctl;
static struct vmic_plugin_vcpu *vcpus;

/* Waits up to 2 s for cond, polling: the monitor thread acts on its own. */
#define WAIT_FOR(cond)                                                                         \
    do {                                                                                       \
        for (int w_ = 0; w_ < 400 && !(cond); w_++)                                            \
            usleep(5000);                                                                      \
    } while (0)

static void attach(uint32_t pid)
{
    VMIC_STORE(&ctl->client_pid, pid);
    uint32_t seq = __atomic_add_fetch(&ctl->attach_seq, 1, __ATOMIC_SEQ_CST);
    vmic_futex_wake(&ctl->attach_seq);
    WAIT_FOR(VMIC_LOAD(&ctl->attach_ack) == seq);
    CHECK(VMIC_LOAD(&ctl->attach_ack) == seq, "attach of %u acknowledged", pid);
}

static void new_generation(void)
{
    uint32_t gen = __atomic_add_fetch(&ctl->watch_gen, 1, __ATOMIC_SEQ_CST);
    CHECK(stub.idle != NULL, "an idle callback is registered while a client is attached");
    if (stub.idle)
        stub.idle(ID, 0); /* the vCPU callback in which the plugin applies it */
    CHECK(VMIC_LOAD(&ctl->watch_applied) == gen, "generation %u applied (%u)", gen,
          ctl->watch_applied);
}

static struct qemu_plugin_tb tb;

static void translate(void)
{
    CHECK(stub.trans != NULL, "a translation callback is registered with watches");
    if (stub.trans)
        stub.trans(ID, &tb);
}

struct exec_arg {
    unsigned vcpu;
    int done;
};

static void *exec_thread(void *p)
{
    struct exec_arg *a = p;
    stub.exec[0].cb(a->vcpu, stub.exec[0].userdata);
    __atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

int main(void)
{
    struct stub_files sf;
    if (stub_files_make(&sf, "/tmp/vmic-plugin-ctl.XXXXXX") != 0)
        return 1;
    const char *dir = sf.dir, *ram_path = sf.ram_path, *ctl_path = sf.ctl_path;
    char *ram_arg = sf.ram_arg, *ctl_arg = sf.ctl_arg, *ram = sf.ram;
    int fd;

    qemu_info_t info = {.target_name = "x86_64", .version = {1, 1}, .system_emulation = true};
    info.system.smp_vcpus = info.system.max_vcpus = 2;
    char *bad1[] = {"bogus=1"}, *bad2[] = {ctl_arg}, *bad3[] = {ram_arg, "below4g=12x"};
    CHECK(qemu_plugin_install(ID, &info, 1, bad1) != 0, "an unknown argument refuses");
    CHECK(qemu_plugin_install(ID, &info, 1, bad2) != 0, "no ram= refuses");
    CHECK(qemu_plugin_install(ID, &info, 2, bad3) != 0, "a bad below4g= refuses");
    CHECK(access(ctl_path, F_OK) != 0, "refusals leave no control block");
    char *args[] = {ram_arg, ctl_arg};
    CHECK(qemu_plugin_install(ID, &info, 2, args) == 0, "install: %s", stub.last_message);
    CHECK(!stub.idle && !stub.resume && !stub.trans, "nothing registered without a client");

    fd = open(ctl_path, O_RDWR);
    if (fd < 0)
        return perror(ctl_path), 1;
    ctl = mmap(NULL, sizeof *ctl, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(ctl->magic == VMIC_PLUGIN_MAGIC && ctl->version == VMIC_PLUGIN_VERSION &&
          ctl->vcpu_count == 2, "header: magic, version, 2 vCPUs");
    size_t size = ctl->total_size;
    munmap(ctl, sizeof *ctl);
    ctl = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    vcpus = (struct vmic_plugin_vcpu *)((char *)ctl + ctl->vcpu_offset);

    attach(0xffffffffu);
    CHECK(ctl->attached_pid == 0 && !stub.idle, "pid 2^32-1 attaches no one");
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    attach((uint32_t)child);
    CHECK(ctl->attached_pid == (uint32_t)child, "the child is the client");
    WAIT_FOR(stub.idle != NULL);

    /* A count far past the array and an unknown mode. */
    ctl->watches[0] = 0x1000;
    ctl->watch_count = 0xffffffffu;
    ctl->mode = 77;
    new_generation();
    CHECK(ctl->watches_active == 2, "2^32-1 watches clamped and deduplicated: %u active",
          ctl->watches_active);
    CHECK(ctl->ram_size == 1 << 20 && ctl->ram_below_4g == 1 << 20, "RAM file found mapped");

    int not_ram = 0;
    tb.n = 4;
    tb.insn[0] = (struct qemu_plugin_insn){0xffffffff81001000ull, ram + 0x1000};
    tb.insn[1] = (struct qemu_plugin_insn){0xffffffff81002000ull, ram + 0x2000};
    tb.insn[2] = (struct qemu_plugin_insn){0xffffffff81003000ull, &not_ram};
    tb.insn[3] = (struct qemu_plugin_insn){0xffffffff81004000ull, NULL};
    translate();
    CHECK(stub.nexec == 1 && stub.exec[0].vaddr == 0xffffffff81001000ull,
          "only the watched pa is instrumented (%d)", stub.nexec);
    if (stub.nexec < 1)
        return 1;

    /* Sync (the unknown mode): the vCPU waits for ANSWERED, whatever else
     * the client writes. */
    struct exec_arg a = {0, 0};
    pthread_t t;
    pthread_create(&t, NULL, exec_thread, &a);
    WAIT_FOR(VMIC_LOAD(&vcpus[0].slot_state) == VMIC_PLUGIN_SLOT_POSTED);
    CHECK(vcpus[0].slot.pc == 0xffffffff81001000ull && vcpus[0].slot.pa == 0x1000 &&
          vcpus[0].slot.vcpu == 0 && vcpus[0].slot.seq == 1, "the held event: pc, pa, vCPU");
    VMIC_STORE(&vcpus[0].slot_state, 99);
    vmic_futex_wake(&vcpus[0].slot_state);
    usleep(50000);
    CHECK(!__atomic_load_n(&a.done, __ATOMIC_ACQUIRE), "a foreign slot state is no answer");
    VMIC_STORE(&vcpus[0].slot_state, VMIC_PLUGIN_SLOT_ANSWERED);
    vmic_futex_wake(&vcpus[0].slot_state);
    pthread_join(t, NULL);
    CHECK(a.done, "the answer lets the vCPU go");

    stub.exec[0].cb(5000, stub.exec[0].userdata);
    CHECK(ctl->dropped == 1, "a vCPU index past the block is dropped and counted");

    /* Ring: ten records, then a tail ahead of head = full: the vCPU waits. */
    ctl->mode = VMIC_PLUGIN_MODE_RING;
    ctl->watch_count = 1;
    new_generation();
    translate();
    for (int i = 0; i < 10; i++)
        stub.exec[0].cb(1, stub.exec[0].userdata);
    CHECK(vcpus[1].head == 10 && vcpus[1].ring[9].seq == 10 && vcpus[1].ring[9].pa == 0x1000,
          "ten ring records on vCPU 1");
    VMIC_STORE(&vcpus[1].tail, vcpus[1].head + 12345);
    a = (struct exec_arg){1, 0};
    pthread_create(&t, NULL, exec_thread, &a);
    usleep(50000);
    CHECK(!__atomic_load_n(&a.done, __ATOMIC_ACQUIRE), "a tail ahead of head reads as full");

    /* The client dies: the waiting vCPU goes on, its event counted dropped. */
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    WAIT_FOR(__atomic_load_n(&a.done, __ATOMIC_ACQUIRE));
    CHECK(a.done, "the client's death releases the waiting vCPU");
    pthread_join(t, NULL);
    CHECK(ctl->dropped == 2 && ctl->attached_pid == 0, "dropped %llu, attached %u",
          (unsigned long long)ctl->dropped, ctl->attached_pid);
    CHECK(vcpus[1].head == 10, "nothing written past the full ring");
    stub.exec[0].cb(1, stub.exec[0].userdata);
    CHECK(ctl->dropped == 3, "events after the death are dropped and counted");
    CHECK(ctl->watches_active == 0 && !stub.idle && !stub.trans && stub.nexec == 0,
          "without a client the plugin went back to no callbacks");

    stub.atexit(ID, NULL);
    CHECK(access(ctl_path, F_OK) != 0, "exit removes the control block");
    unlink(ram_path);
    rmdir(dir);
    fprintf(stderr, "%d failure(s)\n", failures);
    return failures != 0;
}
