/*
 * libFuzzer target for the Linux OS layer over a whole guest. The input is not
 * a dump (a kernel worth introspecting is hundreds of MiB) but a list of
 * patches to a real one: the 6.1 fixture's raw dump (or $VMIC_FUZZ_OS_DUMP),
 * loaded once. Each patch lands in one of the structures the OS layer reads,
 * found on the pristine dump by the OS layer itself: task_structs, an mm and
 * its maple tree root, kallsyms, the BTF blob, the printk ring, the kernel's
 * top page table, the first module's BTF (btf_modules, its btf, its blob). Then the dump is opened from memory and every OS query runs
 * over it (processes and their threads, memory maps, files, sockets and
 * environments, init's mounts, modules, the log, symbols, a module's types;
 * with bit 2 the
 * walk of every socket, the kernel's socket hash tables included, and every
 * `vmic check` check); the patches are undone before the next input.
 * The areas include the socket hash tables, sys_call_table and idt_table.
 *
 * Input: byte 0 holds flags (bit 0: give the kernel root instead of letting
 * vmic search for it; bit 1: also look a symbol up by address; bit 2: the
 * sockets and checks); then records of [area u8][offset u16][len u8][len bytes].
 * ASan/UBSan reports and the invariants below (REQUIRE) are the findings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmic/vmic.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)         \
    do {                      \
        if (!(cond))          \
            __builtin_trap(); \
    } while (0)

#define DEFAULT_DUMP "build/fixtures/6.1/dump.raw"
#define MAX_AREAS 32
#define MAX_PATCH_BYTES 4096
#define MAX_PROCESSES 64

/* A stretch of guest-physical memory that the OS layer reads. */
typedef struct area {
    uint64_t pa;
    uint32_t size;
} area_t;

static uint8_t *base;   /* the dump, patched in place and restored */
static size_t base_size;
static area_t areas[MAX_AREAS];
static unsigned nareas;
static uint64_t kernel_root;

/* ---- the pristine dump and where to aim ------------------------------------------ */

static bool load_dump(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    base = size > 0 ? malloc((size_t)size) : NULL;
    bool ok = base && fread(base, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    base_size = ok ? (size_t)size : 0;
    return ok;
}

/* Adds the area holding va (to the end of its page, at most size bytes). */
static void add_area(vmic_core *core, vmic_ctx_t ctx, uint64_t va, uint32_t size)
{
    vmic_pa_t pa;
    if (!va || nareas == MAX_AREAS || vmic_translate(core, ctx, vmic_va(va), &pa) != VMIC_OK)
        return;
    uint32_t to_page_end = (uint32_t)(VMIC_PAGE_SIZE - vmic_page_offset(pa.addr));
    if (pa.addr >= base_size)
        return;
    areas[nareas++] = (area_t){pa.addr, size < to_page_end ? size : to_page_end};
}

static int add_process(void *arg, const vmic_process_t *p)
{
    vmic_os *os = arg;
    vmic_core *core = vmic_os_core(os);
    vmic_ctx_t ctx = vmic_ctx(vmic_os_kernel(os)->root);
    static unsigned seen;

    /* Init's and the last few processes: the walk's start and the marker. */
    if (seen++ > 1 && p->tgid < 80)
        return 0;
    add_area(core, ctx, p->task.addr, 4096);
    add_area(core, ctx, p->task.addr + 4096, 4096);
    add_area(core, ctx, p->mm.addr, 1024);
    return nareas >= MAX_AREAS - 8;
}

static void find_areas(void)
{
    vmic_driver *drv;
    vmic_core *core;
    vmic_os *os;

    if (vmic_dump_open_buffer(base, base_size, VMIC_DUMP_RAW, "fuzz", &drv) != VMIC_OK ||
        vmic_core_open(drv, NULL, &core) != VMIC_OK)
        return;
    if (vmic_os_open(core, NULL, &os) != VMIC_OK) {
        vmic_core_close(core);
        return;
    }
    const vmic_os_kernel_t *k = vmic_os_kernel(os);
    vmic_ctx_t ctx = vmic_ctx(k->root);
    kernel_root = k->root.addr;
    areas[nareas++] = (area_t){k->root.addr & VMIC_PAGE_MASK, 4096};
    add_area(core, ctx, k->kallsyms.addr, 4096);
    add_area(core, ctx, k->kallsyms.addr + 0x10000, 4096);
    add_area(core, ctx, k->btf.addr, 4096);
    add_area(core, ctx, k->btf.addr + k->btf_size / 2, 4096);
    vmic_va_t prb;
    if (vmic_os_symbol(os, "prb", &prb) == VMIC_OK)
        add_area(core, ctx, prb.addr, 256);
    /* The checks' tables, and where the socket hash tables start. */
    static const char *const tables[] = {"tcp_hashinfo", "udp_table", "sys_call_table",
                                         "idt_table"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        vmic_va_t va;
        if (vmic_os_symbol(os, tables[i], &va) == VMIC_OK)
            add_area(core, ctx, va.addr, 4096);
    }
    /* Modules' BTF: the list head, the first btf_module, its btf, its blob. */
    vmic_va_t head;
    vmic_field_t list, bf, data;
    uint64_t node, btf, blob;
    if (vmic_os_symbol(os, "btf_modules", &head) == VMIC_OK &&
        vmic_os_field(os, "btf_module.list", &list) == VMIC_OK &&
        vmic_os_field(os, "btf_module.btf", &bf) == VMIC_OK &&
        vmic_os_field(os, "btf.data", &data) == VMIC_OK &&
        vmic_read_u64_va(core, ctx, head, &node) == VMIC_OK &&
        vmic_read_u64_va(core, ctx, vmic_va(node - list.offset + bf.offset), &btf) == VMIC_OK &&
        vmic_read_u64_va(core, ctx, vmic_va(btf + data.offset), &blob) == VMIC_OK) {
        add_area(core, ctx, head.addr, 16);
        add_area(core, ctx, node - list.offset, 64);
        add_area(core, ctx, btf, 256);
        add_area(core, ctx, blob, 4096);
    }
    vmic_os_processes(os, add_process, os);
    vmic_os_close(os);
    vmic_core_close(core);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *path = getenv("VMIC_FUZZ_OS_DUMP");
    if (!path)
        path = DEFAULT_DUMP;
    if (!load_dump(path)) {
        fprintf(stderr, "fuzz_os: cannot read %s (set VMIC_FUZZ_OS_DUMP to a fixture's "
                "dump.raw): nothing to fuzz\n", path);
        exit(0);
    }
    find_areas();
    if (nareas < 4) {
        fprintf(stderr, "fuzz_os: the OS layer found too little in %s\n", path);
        exit(0);
    }
    fprintf(stderr, "fuzz_os: %s, %u areas to patch\n", path, nareas);
    return 0;
}

/* ---- one input -------------------------------------------------------------------- */

typedef struct undo {
    uint64_t pa;
    uint32_t len;
    uint8_t bytes[255];
} undo_t;

static undo_t undo[MAX_PATCH_BYTES / 4];

/* Applies the patches; returns how many to undo. */
static size_t apply(const uint8_t *data, size_t size)
{
    size_t n = 0, at = 1;
    while (at + 4 <= size && n < sizeof undo / sizeof undo[0]) {
        const area_t *a = &areas[data[at] % nareas];
        uint32_t offset = (uint32_t)(data[at + 1] | data[at + 2] << 8) % a->size;
        uint32_t len = data[at + 3];
        at += 4;
        if (len > size - at)
            len = (uint32_t)(size - at);
        if (len > a->size - offset)
            len = a->size - offset;
        undo[n] = (undo_t){.pa = a->pa + offset, .len = len};
        memcpy(undo[n].bytes, base + a->pa + offset, len);
        memcpy(base + a->pa + offset, data + at, len);
        at += len;
        n++;
    }
    return n;
}

static void restore(size_t n)
{
    while (n-- > 0)
        memcpy(base + undo[n].pa, undo[n].bytes, undo[n].len);
}

static int on_thread(void *arg, const vmic_process_t *t)
{
    REQUIRE(memchr(t->comm, 0, sizeof t->comm) != NULL);
    return 0;
}

static int on_region(void *arg, const vmic_region_t *r)
{
    return 0;
}

static int on_file(void *arg, const vmic_open_file_t *f)
{
    return 0;
}

/* issue 15: network, mounts, environment. Their walks over the same
 * patched guest; a socket or mount's strings must stay terminated. */
static int on_socket(void *arg, const vmic_socket_t *s)
{
    REQUIRE(memchr(s->path, 0, sizeof s->path) != NULL);
    return 0;
}

static int on_mount(void *arg, const vmic_mount_t *m)
{
    REQUIRE(memchr(m->point, 0, sizeof m->point) && memchr(m->fstype, 0, sizeof m->fstype) &&
            memchr(m->options, 0, sizeof m->options));
    return 0;
}

static int on_env(void *arg, const char *var, size_t len)
{
    REQUIRE(len < (1u << 21));
    return 0;
}

static void net_mount_env(vmic_os *os, const vmic_process_t *p)
{
    vmic_os_sockets(os, p, on_socket, NULL);
    vmic_os_environ(os, p, on_env, NULL);
    if (p->tgid == 1)
        vmic_os_mounts(os, p, on_mount, NULL);
}
/* (end of issue 15 block) */

static int on_process(void *arg, const vmic_process_t *p)
{
    vmic_os *os = arg;
    char cmdline[256];
    size_t len;
    static unsigned count;

    REQUIRE(memchr(p->comm, 0, sizeof p->comm) != NULL);
    if (++count % 8 != 0 && p->tgid != 1)
        return 0;   /* a few processes in depth: each query costs */
    vmic_os_threads(os, p, on_thread, NULL);
    vmic_os_regions(os, p, on_region, NULL);
    vmic_os_files(os, p, on_file, NULL);
    vmic_os_process_cmdline(os, p, cmdline, sizeof cmdline, &len);
    net_mount_env(os, p);
    return 0;
}

static int on_module(void *arg, const vmic_module_t *m)
{
    return 0;
}

static int on_log(void *arg, const vmic_log_record_t *r)
{
    return 0;
}

static int on_hook(void *arg, const vmic_syscall_hook_t *h)
{
    REQUIRE(memchr(h->name, 0, sizeof h->name) && memchr(h->module, 0, sizeof h->module));
    return 0;
}

static int on_finding(void *arg, const vmic_check_finding_t *f)
{
    REQUIRE(memchr(f->name, 0, sizeof f->name) && memchr(f->module, 0, sizeof f->module) &&
            memchr(f->detail, 0, sizeof f->detail));
    return 0;
}

/* Every socket (the hash tables' too) and every check of `vmic check`. */
static void sockets_and_checks(vmic_os *os)
{
    size_t n;
    vmic_os_sockets(os, NULL, on_socket, NULL);
    vmic_os_check_syscall_table(os, on_hook, NULL, &n);
    vmic_os_check_tasks(os, on_finding, NULL, &n);
    vmic_os_check_modules(os, on_finding, NULL, &n);
    vmic_os_check_creds(os, on_finding, NULL, &n);
    vmic_os_check_idt(os, on_finding, NULL, &n);
    vmic_os_check_syscall_entry(os, on_finding, NULL, &n);
    vmic_os_check_ops(os, on_finding, NULL, &n);
}

/* with_all_symbols: a lookup by address decodes every kallsyms name, half the
 * cost of an input; only inputs that ask for it pay it. */
static void query(vmic_os *os, bool with_all_symbols)
{
    vmic_os_processes(os, on_process, os);
    vmic_os_modules(os, on_module, NULL);
    vmic_os_dmesg(os, on_log, NULL);
    vmic_va_t va;
    vmic_symbol_t sym;
    uint64_t offset;
    if (vmic_os_symbol(os, "init_task", &va) == VMIC_OK && with_all_symbols)
        vmic_os_symbol_at(os, vmic_va(va.addr + 16), &sym, &offset);
    vmic_field_t field;
    vmic_os_field(os, "task_struct.mm", &field);
    /* Modules' BTF, read at the first question (the fixture loads minix). */
    const uint8_t *blob;
    size_t len;
    char module[VMIC_MODULE_NAME_LEN + 1];
    if (vmic_os_btf(os, "minix", &blob, &len) == VMIC_OK)
        REQUIRE(len >= 24 && blob[0] == 0x9f && blob[1] == 0xeb);
    vmic_os_field(os, "minix:minix_sb_info.s_ninodes", &field);
    if (vmic_os_type_module(os, "minix_sb_info", module, sizeof module) == VMIC_OK)
        REQUIRE(module[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || !base)
        return 0;
    size_t patched = apply(data, size);
    vmic_driver *drv;
    vmic_core *core;
    if (vmic_dump_open_buffer(base, base_size, VMIC_DUMP_RAW, "fuzz", &drv) == VMIC_OK &&
        vmic_core_open(drv, NULL, &core) == VMIC_OK) {
        vmic_os_config_t cfg = {.root = data[0] & 1 ? kernel_root : 0};
        vmic_os *os;
        if (vmic_os_open(core, &cfg, &os) == VMIC_OK) {
            query(os, data[0] & 2);
            if (data[0] & 4)
                sockets_and_checks(os);
            vmic_os_close(os);
        }
        vmic_core_close(core);
    }
    restore(patched);
    return 0;
}
