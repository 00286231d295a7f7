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
 * capture programs read guest memory through the guest's page tables as
 * asked and, random, stay inside their record and never hang; and the
 * plugin goes back to no callbacks; exit removes the block.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
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

/* The Python tests read these fields of a live block by offset
 * (tests/plugin/test_plugin.py): a layout change must change them too. */
_Static_assert(offsetof(struct vmic_plugin_ctl, attached_pid) == 332,
               "test_plugin.py ATTACHED_PID");
_Static_assert(offsetof(struct vmic_plugin_ctl, watches_active) == 352,
               "test_plugin.py WATCHES_ACTIVE");
_Static_assert(offsetof(struct vmic_plugin_ctl, dropped) == 368, "test_plugin.py DROPPED");

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


/* ---- capture programs ------------------------------------------------------------------ */

/* 4-level tables in the RAM file: va 0x400000.. maps pa 0.. (one 2 MiB
 * page), so a program's va 0x400000 + x reads pa x. */
#define CAP_ROOT 0x10000u
#define CAP_VA 0x400000ull
static void cap_tables(char *ram)
{
    uint64_t pdpt = 0x11000 | 3, pd = 0x12000 | 3, big = 0x0 | 0x83;
    memcpy(ram + CAP_ROOT, &pdpt, 8);
    memcpy(ram + 0x11000, &pd, 8);
    memcpy(ram + 0x12000 + 2 * 8, &big, 8);
}

static struct vmic_plugin_op cap_op(uint8_t code, uint8_t dst, uint8_t a, uint32_t len,
                                    int64_t imm)
{
    return (struct vmic_plugin_op){code, dst, a, VMIC_PLUGIN_ROOT_KERNEL, len, imm};
}

/* The client's side of one record: every item inside data_len. */
static bool items_in_bounds(const struct vmic_plugin_record *r)
{
    if (r->data_len > VMIC_PLUGIN_DATA)
        return false;
    uint32_t at = 0;
    while (at + sizeof(struct vmic_plugin_item) <= r->data_len) {
        struct vmic_plugin_item it;
        memcpy(&it, r->data + at, sizeof it);
        if (it.len > VMIC_PLUGIN_ITEM_MAX || at + sizeof it + it.len > VMIC_PLUGIN_DATA)
            return false;
        at += (uint32_t)sizeof it + ((it.len + 7u) & ~7u);
    }
    return true;
}

/* A program that works: pointers followed through the tables, a load, a
 * copy, a string, a syscall argument; then the same slots with random
 * programs, tables and inputs, which must stay in bounds and never hang. */
static void capture_cases(char *ram)
{
    cap_tables(ram);
    uint64_t task_va = CAP_VA + 0x40000;
    memcpy(ram + 0x30000, &task_va, 8);              /* the "current task" slot */
    uint32_t pid = 4242;
    memcpy(ram + 0x40010, &pid, 4);
    memcpy(ram + 0x40020, "comm-of-task\0\0\0\0", 16);
    strcpy(ram + 0x40100, "/dev/null");
    ctl->levels = 4;
    ctl->kernel_root = CAP_ROOT;
    ctl->anchors[0][0] = 0x30000;
    struct vmic_plugin_program *pr = &ctl->programs[0];
    memset(pr, 0, sizeof *pr);
    pr->ops[0] = cap_op(VMIC_PLUGIN_OP_ANCHOR, 8, 0, 0, 0);
    pr->ops[1] = cap_op(VMIC_PLUGIN_OP_LOAD, 11, 8, 4, 0x10);
    pr->ops[2] = cap_op(VMIC_PLUGIN_OP_COPY, 0, 8, 16, 0x20);
    pr->ops[3] = cap_op(VMIC_PLUGIN_OP_ADD, 1, 0, 0, 2);     /* r1 = 2: open */
    pr->ops[4] = cap_op(VMIC_PLUGIN_OP_ADD, 2, 8, 0, 0x100); /* its path */
    pr->ops[5] = cap_op(VMIC_PLUGIN_OP_ARGS, 0, 0, 0, 0);
    pr->ops[6] = cap_op(VMIC_PLUGIN_OP_PA, 9, 8, 0, 0);
    pr->nops = 7;
    memset(ctl->nrs, 0, sizeof ctl->nrs);
    ctl->nrs[2].arg[0].kind[0] = VMIC_PLUGIN_ARG_STR;
    ctl->nrs[2].arg[0].max[0] = 64;
    ctl->nprograms = 1;
    ctl->watch_program[0] = 1;
    ctl->watch_count = 1;
    new_generation();
    translate();
    uint32_t h0 = vcpus[0].head;
    stub.exec[0].cb(0, stub.exec[0].userdata);
    const struct vmic_plugin_record *r = &vcpus[0].ring[h0 & (VMIC_PLUGIN_RING_RECORDS - 1)];
    CHECK(vcpus[0].head == h0 + 1 && (r->ev.flags & VMIC_PLUGIN_RECORD_CAPTURE) &&
          !(r->ev.flags & (VMIC_PLUGIN_RECORD_PARTIAL | VMIC_PLUGIN_RECORD_HELD)) &&
          r->program == 1, "a capture record, whole, not held (flags %#x)", r->ev.flags);
    CHECK(r->r[8] == task_va && r->r[11] == 4242 && r->r[9] == 0x40000,
          "registers: task %#llx pid %llu pa %#llx", (unsigned long long)r->r[8],
          (unsigned long long)r->r[11], (unsigned long long)r->r[9]);
    struct vmic_plugin_item it;
    memcpy(&it, r->data, sizeof it);
    CHECK(it.len == 16 && memcmp(r->data + sizeof it, "comm-of-task", 12) == 0,
          "the copy (len %u)", it.len);
    memcpy(&it, r->data + sizeof it + 16, sizeof it);
    CHECK(it.tag == 32 && it.len == 10 && it.status == VMIC_PLUGIN_ITEM_OK &&
          memcmp(r->data + 2 * sizeof it + 16, "/dev/null", 10) == 0,
          "the string argument (tag %u len %u status %u)", it.tag, it.len, it.status);
    VMIC_STORE(&vcpus[0].tail, vcpus[0].head);

    /* Hostile: random programs, argument tables, anchors, levels. */
    srand(7);
    uint64_t partial0 = ctl->capture_partial;
    int bad = 0;
    for (int round = 0; round < 300; round++) {
        for (uint32_t k = 0; k < VMIC_PLUGIN_MAX_PROGRAMS; k++) {
            struct vmic_plugin_program *q = &ctl->programs[k];
            q->nops = (uint32_t)rand() % 40;
            q->flags = 0; /* a held record would wait for this test: covered below */
            for (uint32_t i = 0; i < VMIC_PLUGIN_MAX_OPS; i++) {
                int64_t imms[] = {0, 0x10, 0x20, 0x100, -8, INT64_MAX, (int64_t)rand() << 20,
                                  (int64_t)(CAP_VA + (uint64_t)(rand() % 0x100000))};
                q->ops[i] = (struct vmic_plugin_op){(uint8_t)(rand() % 10), (uint8_t)rand(),
                                                    (uint8_t)rand(),
                                                    rand() % 2 ? VMIC_PLUGIN_ROOT_KERNEL
                                                               : (uint8_t)rand(),
                                                    (uint32_t)(rand() % 3 ? rand() % 600
                                                                          : rand()),
                                                    imms[rand() % 8]};
            }
        }
        for (int i = 0; i < 64; i++) {
            struct vmic_plugin_nr *n = &ctl->nrs[rand() % VMIC_PLUGIN_NR_MAX];
            for (int a = 0; a < 6; a++)
                n->arg[a] = (struct vmic_plugin_arg){{(uint8_t)(rand() % 7), (uint8_t)(rand() % 7)},
                                                     (uint8_t)rand(), 0,
                                                     {(uint16_t)rand(), (uint16_t)rand()}};
            n->hold = 0;
        }
        ctl->anchors[0][rand() % 2] = (uint64_t)rand() << (rand() % 40);
        ctl->levels = (uint32_t)rand() % 7;
        ctl->kernel_root = rand() % 2 ? CAP_ROOT : (uint64_t)rand() << 12;
        /* Counts past MAX_PROGRAMS are clamped to it. (A watch whose
         * program the set lacks is a plain sync event, which would wait for
         * this test to answer: not asked for here.) */
        uint32_t counts[] = {4, 5, 1000, 0xffffffffu};
        ctl->nprograms = counts[rand() % 4];
        ctl->watch_program[0] = (uint8_t)(1 + rand() % 4);
        new_generation();
        translate();
        for (int e = 0; e < 4 && stub.nexec > 0; e++) {
            uint32_t h = vcpus[0].head;
            stub.exec[0].cb(0, stub.exec[0].userdata);
            if (!items_in_bounds(&vcpus[0].ring[h & (VMIC_PLUGIN_RING_RECORDS - 1)]))
                bad++;
            VMIC_STORE(&vcpus[0].tail, vcpus[0].head);
        }
    }
    CHECK(bad == 0, "%d records with items out of bounds", bad);
    CHECK(ctl->capture_partial > partial0, "failed ops are counted partial");

    /* A held record waits for its answer. */
    cap_tables(ram);
    ctl->levels = 4;
    ctl->kernel_root = CAP_ROOT;
    ctl->anchors[0][0] = 0x30000;
    memset(pr, 0, sizeof *pr);
    pr->ops[0] = cap_op(VMIC_PLUGIN_OP_ANCHOR, 8, 0, 0, 0);
    pr->nops = 1;
    pr->flags = VMIC_PLUGIN_PROGRAM_HOLD;
    ctl->nprograms = 1;
    ctl->watch_program[0] = 1;
    new_generation();
    translate();
    struct exec_arg a = {0, 0};
    pthread_t t;
    uint32_t h = vcpus[0].head;
    pthread_create(&t, NULL, exec_thread, &a);
    WAIT_FOR(VMIC_LOAD(&vcpus[0].head) == h + 1);
    usleep(50000);
    const struct vmic_plugin_record *held = &vcpus[0].ring[h & (VMIC_PLUGIN_RING_RECORDS - 1)];
    CHECK(!__atomic_load_n(&a.done, __ATOMIC_ACQUIRE) &&
          (held->ev.flags & VMIC_PLUGIN_RECORD_HELD), "a held record holds its vCPU");
    VMIC_STORE(&vcpus[0].answered, (uint32_t)held->ev.seq);
    vmic_futex_wake(&vcpus[0].answered);
    pthread_join(t, NULL);
    CHECK(a.done, "its answer lets the vCPU go");
    VMIC_STORE(&vcpus[0].tail, vcpus[0].head);
    ctl->watch_program[0] = 0;
    ctl->nprograms = 0;
}

/* ---- views: pages without X ---------------------------------------------------------- */

/* Runs exec[0] on vcpu; returns whether it posted a fetch event (then it
 * is checked and answered). */
static bool fetch_on(unsigned vcpu, uint32_t want_view)
{
    struct exec_arg a = {vcpu, 0};
    pthread_t t;
    uint64_t f0 = ctl->fetches;
    pthread_create(&t, NULL, exec_thread, &a);
    WAIT_FOR(__atomic_load_n(&a.done, __ATOMIC_ACQUIRE) ||
             VMIC_LOAD(&vcpus[vcpu].slot_state) == VMIC_PLUGIN_SLOT_POSTED);
    bool posted = VMIC_LOAD(&vcpus[vcpu].slot_state) == VMIC_PLUGIN_SLOT_POSTED;
    if (posted) {
        const struct vmic_plugin_event *e = &vcpus[vcpu].slot;
        CHECK((e->flags & VMIC_PLUGIN_RECORD_FETCH) && e->view == want_view &&
              e->pa == 0x3008 && e->pc == 0xffffffff81003008ull && ctl->fetches == f0 + 1,
              "vCPU %u's fetch event: flags 0x%x, view %u, pa 0x%llx", vcpu, e->flags, e->view,
              (unsigned long long)e->pa);
        VMIC_STORE(&vcpus[vcpu].slot_state, VMIC_PLUGIN_SLOT_ANSWERED);
        vmic_futex_wake(&vcpus[vcpu].slot_state);
    }
    pthread_join(t, NULL);
    return posted;
}

/* The client's nx set is hostile too: a count past the array, a page given
 * twice (its views merge), a page in no view; vCPU views past the 64 a
 * mask has. Translated code is shared, so the view is judged at run time. */
static void fetch_cases(char *ram)
{
    uint32_t watches = ctl->watch_count;
    ctl->watch_count = 0;
    memset(ctl->nx_gfn, 0, sizeof ctl->nx_gfn);
    memset(ctl->nx_views, 0, sizeof ctl->nx_views);
    ctl->nx_gfn[0] = 3, ctl->nx_views[0] = 1u << 1;
    ctl->nx_gfn[1] = 3, ctl->nx_views[1] = 1u << 2;
    ctl->nx_gfn[2] = 5, ctl->nx_views[2] = 0;
    ctl->nx_count = 0xffffffffu;
    new_generation();
    CHECK(ctl->nx_active == 1, "one page without X taken (%u)", ctl->nx_active);
    struct qemu_plugin_tb saved = tb;
    tb.n = 2;
    tb.insn[0] = (struct qemu_plugin_insn){0xffffffff81003008ull, ram + 0x3008};
    tb.insn[1] = (struct qemu_plugin_insn){0xffffffff81005000ull, ram + 0x5000};
    translate();
    CHECK(stub.nexec == 1 && stub.exec[0].vaddr == 0xffffffff81003008ull,
          "only the instruction on the page without X is instrumented (%d)", stub.nexec);
    if (stub.nexec == 1) {
        VMIC_STORE(&ctl->vcpu_view[0], 1);
        VMIC_STORE(&ctl->vcpu_view[1], 0xffffffffu);
        CHECK(fetch_on(0, 1), "vCPU 0 in view 1 fetches from the page: an event");
        CHECK(!fetch_on(1, 0), "vCPU 1 in view 2^32-1 (no such view): no event");
        VMIC_STORE(&ctl->vcpu_view[0], 2);
        CHECK(fetch_on(0, 2), "the page given twice lacks X in view 2 too");
        VMIC_STORE(&ctl->vcpu_view[0], 0);
        CHECK(!fetch_on(0, 0), "view 0 keeps X: no event, same translation");
        VMIC_STORE(&ctl->vcpu_view[1], 0);
    }
    tb = saved;
    ctl->nx_count = 0;
    ctl->watch_count = watches;
    new_generation();
    CHECK(ctl->nx_active == 0, "the nx set emptied");
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

    capture_cases(ram);
    fetch_cases(ram);

    /* Ring: ten records, then a tail ahead of head = full: the vCPU waits. */
    ctl->mode = VMIC_PLUGIN_MODE_RING;
    ctl->watch_count = 1;
    new_generation();
    translate();
    for (int i = 0; i < 10; i++)
        stub.exec[0].cb(1, stub.exec[0].userdata);
    CHECK(vcpus[1].head == 10 && vcpus[1].ring[9].ev.seq == 10 && vcpus[1].ring[9].ev.pa == 0x1000,
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
