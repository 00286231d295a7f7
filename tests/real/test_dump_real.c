/*
 * The dump driver against dumps of a real guest (argv[1] = fixture dir):
 *
 *   dump.elf       QEMU `dump-guest-memory` of the stopped guest
 *   dump.raw       QEMU `pmemsave 0 <ramsize>` of the same stopped guest
 *   registers.txt  QEMU's own `info registers -a` at that moment
 *
 * Checks that the raw and ELF dumps give identical bytes for every page they
 * both hold, that every ELF page below the raw dump's end is in the raw dump,
 * that the registers from the ELF notes are the ones QEMU itself printed, and
 * that a LiME file written from the raw dump (by the writer below, with the
 * ELF's ranges) reads back identically. Exit 77 when the fixture is missing.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <vmic/driver.h>

#include "harness.h"

static char elf_path[4096], raw_path[4096], regs_path[4096];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

static void print_regions(const char *what, const vmic_driver_info_t *info)
{
    fprintf(stderr, "  %s (%s): %zu regions, %" PRIu64 " MiB, %" PRIu32 " vCPUs\n", what,
            info->driver, info->nregions, info->mem_size >> 20, info->vcpu_count);
    for (size_t i = 0; i < info->nregions && i < 16; i++)
        fprintf(stderr, "    [0x%09" PRIx64 ", 0x%09" PRIx64 ") file offset 0x%" PRIx64 "\n",
                info->regions[i].start.addr,
                info->regions[i].start.addr + info->regions[i].size,
                info->regions[i].file_offset);
}

/*
 * A guest with RAM above the 4 GiB PCI hole has its raw dump made range by
 * range (scripts/make-fixture.sh), pa = file offset, so the hole reads as
 * zeros there while the ELF has the BIOS ROM at its top: [hole_lo, hole_hi)
 * is no RAM and is left out of every comparison. Empty for small guests.
 */
static uint64_t hole_lo, hole_hi;

static uint64_t hole_bytes(uint64_t lo, uint64_t hi)
{
    uint64_t a = lo > hole_lo ? lo : hole_lo, b = hi < hole_hi ? hi : hole_hi;
    return b > a ? b - a : 0;
}

/*
 * Compares a and b page by page (4 KiB pieces of every intersection of their
 * regions). Returns the pages that differ; *compared counts the bytes.
 */
static uint64_t compare_dumps(const vmic_driver_info_t *a, const vmic_driver_info_t *b,
                              uint64_t *compared)
{
    uint64_t differ = 0;

    *compared = 0;
    for (size_t i = 0; i < a->nregions; i++) {
        const vmic_mem_region_t *ra = &a->regions[i];
        for (size_t j = 0; j < b->nregions; j++) {
            const vmic_mem_region_t *rb = &b->regions[j];
            uint64_t lo = ra->start.addr > rb->start.addr ? ra->start.addr : rb->start.addr;
            uint64_t ea = ra->start.addr + ra->size, eb = rb->start.addr + rb->size;
            uint64_t hi = ea < eb ? ea : eb;
            for (uint64_t pa = lo; pa < hi; pa += VMIC_PAGE_SIZE - vmic_page_offset(pa)) {
                uint64_t n = VMIC_PAGE_SIZE - vmic_page_offset(pa);
                if (n > hi - pa)
                    n = hi - pa;
                if (pa >= hole_lo && pa < hole_hi)
                    continue;
                const uint8_t *pa_ = ra->host + (pa - ra->start.addr);
                const uint8_t *pb = rb->host + (pa - rb->start.addr);
                if (memcmp(pa_, pb, n) != 0) {
                    if (differ < 5)
                        fprintf(stderr, "    page at pa 0x%" PRIx64 " differs\n", pa);
                    differ++;
                }
                *compared += n;
            }
        }
    }
    return differ;
}

/* Bytes of `info` below `limit`. */
static uint64_t bytes_below(const vmic_driver_info_t *info, uint64_t limit)
{
    uint64_t total = 0;
    for (size_t i = 0; i < info->nregions; i++) {
        const vmic_mem_region_t *r = &info->regions[i];
        if (r->start.addr >= limit)
            continue;
        uint64_t end = r->start.addr + r->size;
        end = end < limit ? end : limit;
        total += end - r->start.addr - hole_bytes(r->start.addr, end);
    }
    return total;
}

static vmic_driver *elf, *raw;

static void test_open(void)
{
    double t0 = now();
    CHECK_OK(vmic_dump_open(elf_path, VMIC_DUMP_AUTO, &elf));
    double t1 = now();
    CHECK_OK(vmic_dump_open(raw_path, VMIC_DUMP_AUTO, &raw));
    double t2 = now();
    fprintf(stderr, "  open: elf %.3f ms, raw %.3f ms\n", (t1 - t0) * 1e3, (t2 - t1) * 1e3);

    const vmic_driver_info_t *ei = elf->ops->info(elf), *ri = raw->ops->info(raw);
    print_regions("dump.elf", ei);
    print_regions("dump.raw", ri);
    CHECK_STR(ei->driver, "elf");
    CHECK_STR(ri->driver, "raw");
    CHECK(ei->vcpu_count >= 1);
    CHECK_EQ(ei->caps, VMIC_CAP_READ | VMIC_CAP_REGISTERS);
    CHECK_EQ(ri->caps, VMIC_CAP_READ);
    CHECK_EQ(ri->nregions, 1);
    CHECK(ei->nregions >= 1);
    if (ri->max_pa.addr > (1ull << 32) && ei->regions[0].size < (1ull << 32)) {
        hole_lo = ei->regions[0].start.addr + ei->regions[0].size;
        hole_hi = 1ull << 32;
        fprintf(stderr, "  PCI hole [0x%" PRIx64 ", 0x%" PRIx64 ") is not RAM: not compared\n",
                hole_lo, hole_hi);
    }
    for (size_t i = 1; i < ei->nregions; i++)
        CHECK(ei->regions[i - 1].start.addr + ei->regions[i - 1].size <=
              ei->regions[i].start.addr);
}

static void test_raw_equals_elf(void)
{
    CHECK(elf && raw);
    const vmic_driver_info_t *ei = elf->ops->info(elf), *ri = raw->ops->info(raw);
    uint64_t compared;

    double t0 = now();
    uint64_t differ = compare_dumps(ei, ri, &compared);
    double t1 = now();
    fprintf(stderr, "  compared %" PRIu64 " MiB (%" PRIu64 " pages) in %.0f ms: %" PRIu64
            " pages differ\n", compared >> 20, compared >> 12, (t1 - t0) * 1e3, differ);
    CHECK_EQ(differ, 0);
    /* Every ELF byte below the raw dump's end was compared: no ELF range
     * inside RAM was missed or misplaced. */
    CHECK_EQ(compared, bytes_below(ei, ri->max_pa.addr));
    CHECK(compared >= ri->mem_size / 2);
}

/* ---- registers.txt ---------------------------------------------------------- */

typedef struct qemu_seg {
    bool seen;
    uint64_t selector, base, limit, flags;
} qemu_seg_t;

typedef struct qemu_cpu {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t rip, rfl, cr0, cr2, cr3, cr4;
    uint32_t seen;  /* bit per value above, in order */
    qemu_seg_t es, cs, ss, ds, fs, gs, ldt, tr, gdt, idt;
} qemu_cpu_t;

#define MAX_CPUS 64

static struct {
    const char *name;
    size_t offset;
} const qemu_fields[] = {
#define F(n, f) {n, offsetof(qemu_cpu_t, f)}
    F("RAX", rax), F("RBX", rbx), F("RCX", rcx), F("RDX", rdx), F("RSI", rsi),
    F("RDI", rdi), F("RBP", rbp), F("RSP", rsp), F("R8", r8), F("R9", r9),
    F("R10", r10), F("R11", r11), F("R12", r12), F("R13", r13), F("R14", r14),
    F("R15", r15), F("RIP", rip), F("RFL", rfl), F("CR0", cr0), F("CR2", cr2),
    F("CR3", cr3), F("CR4", cr4),
#undef F
};

static struct {
    const char *name;
    size_t offset;
} const qemu_segs[] = {
#define S(n, f) {n, offsetof(qemu_cpu_t, f)}
    S("ES", es), S("CS", cs), S("SS", ss), S("DS", ds), S("FS", fs), S("GS", gs),
    S("LDT", ldt), S("TR", tr), S("GDT", gdt), S("IDT", idt),
#undef S
};

/* "CS =0010 base limit flags ..." or "GDT=     base limit". */
static void parse_segment_line(const char *line, qemu_cpu_t *cpu)
{
    char name[8];
    int n = 0;
    if (sscanf(line, "%7[A-Z] =%n", name, &n) < 1 || n == 0)
        return;
    for (size_t i = 0; i < sizeof qemu_segs / sizeof qemu_segs[0]; i++) {
        if (strcmp(name, qemu_segs[i].name) != 0)
            continue;
        qemu_seg_t *s = (qemu_seg_t *)((char *)cpu + qemu_segs[i].offset);
        const char *p = line + n;
        if (!strcmp(name, "GDT") || !strcmp(name, "IDT"))
            s->seen = sscanf(p, "%" SCNx64 " %" SCNx64, &s->base, &s->limit) == 2;
        else
            s->seen = sscanf(p, "%" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64, &s->selector,
                             &s->base, &s->limit, &s->flags) == 4;
    }
}

/* "RAX=... RBX=..." and "R8 =...": every NAME=HEX pair on the line. */
static void parse_value_line(const char *line, qemu_cpu_t *cpu)
{
    for (const char *eq = strchr(line, '='); eq; eq = strchr(eq + 1, '=')) {
        const char *end = eq;
        while (end > line && end[-1] == ' ')
            end--;
        const char *start = end;
        while (start > line && isalnum((unsigned char)start[-1]))
            start--;
        size_t len = (size_t)(end - start);
        for (size_t i = 0; i < sizeof qemu_fields / sizeof qemu_fields[0]; i++) {
            if (strlen(qemu_fields[i].name) == len && !strncmp(start, qemu_fields[i].name, len)) {
                uint64_t *v = (uint64_t *)((char *)cpu + qemu_fields[i].offset);
                *v = strtoull(eq + 1, NULL, 16);
                cpu->seen |= 1u << i;
            }
        }
    }
}

/* Returns the number of CPUs found (a file without "CPU#" headers is CPU 0). */
static int parse_registers(const char *path, qemu_cpu_t *cpus)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int current = -1, count = 0;

    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        const char *cpu_tag = strstr(line, "CPU#");
        if (cpu_tag) {
            current = atoi(cpu_tag + 4);
            if (current < 0 || current >= MAX_CPUS)
                current = -1;
            else if (current + 1 > count)
                count = current + 1;
            continue;
        }
        if (current < 0 && strstr(line, "RAX=")) {
            current = 0;
            count = 1;
        }
        if (current < 0)
            continue;
        parse_segment_line(line, &cpus[current]);
        parse_value_line(line, &cpus[current]);
    }
    fclose(f);
    return count;
}

/* QEMU's flags (descriptor high dword) as vmic's 12-bit attr, spelled out
 * field by field (the driver shifts groups of bits). */
static uint16_t attr_of_flags(uint64_t f)
{
    unsigned type = (f >> 8) & 15, s = (f >> 12) & 1, dpl = (f >> 13) & 3, p = (f >> 15) & 1;
    unsigned avl = (f >> 20) & 1, l = (f >> 21) & 1, db = (f >> 22) & 1, g = (f >> 23) & 1;
    return (uint16_t)(type | s << 4 | dpl << 5 | p << 7 | avl << 8 | l << 9 | db << 10 | g << 11);
}

static bool segment_matches(const char *name, const vmic_amd64_segment_t *mine,
                            const qemu_seg_t *q, int cpu)
{
    if (!q->seen) {
        fprintf(stderr, "    CPU#%d: %s missing from registers.txt\n", cpu, name);
        return false;
    }
    if (mine->selector == q->selector && mine->base == q->base && mine->limit == q->limit &&
        mine->attr == attr_of_flags(q->flags))
        return true;
    fprintf(stderr, "    CPU#%d %s: elf %04x %016" PRIx64 " %08x attr %03x, qemu %04" PRIx64
            " %016" PRIx64 " %08" PRIx64 " flags %08" PRIx64 "\n", cpu, name, mine->selector,
            mine->base, mine->limit, mine->attr, q->selector, q->base, q->limit, q->flags);
    return false;
}

static void test_registers(void)
{
    CHECK(elf);
    static qemu_cpu_t cpus[MAX_CPUS];
    int n = parse_registers(regs_path, cpus);
    CHECK_MSG(n > 0, "no CPU registers in %s", regs_path);
    CHECK_EQ(elf->ops->info(elf)->vcpu_count, n);

    for (int c = 0; c < n; c++) {
        const qemu_cpu_t *q = &cpus[c];
        vmic_amd64_regs_t r;
        CHECK_MSG(q->seen == (1u << 22) - 1, "CPU#%d: registers.txt lacks some values (0x%x)",
                  c, q->seen);
        CHECK_OK(elf->ops->registers->get(elf, (vmic_vcpu_t)c, &r));
        fprintf(stderr, "  CPU#%d: rip %016" PRIx64 " rsp %016" PRIx64 " cr3 %016" PRIx64
                " (registers.txt: %016" PRIx64 " %016" PRIx64 " %016" PRIx64 ")\n",
                c, r.rip, r.rsp, r.cr3, q->rip, q->rsp, q->cr3);
        CHECK_EQ(r.valid, VMIC_REGS_GPR | VMIC_REGS_SEG | VMIC_REGS_CR | VMIC_REGS_DT);
        CHECK_EQ(r.cr3, q->cr3);
        CHECK_EQ(r.rip, q->rip);
        CHECK_EQ(r.rsp, q->rsp);
        CHECK_EQ(r.rax, q->rax);
        CHECK_EQ(r.rbx, q->rbx);
        CHECK_EQ(r.rcx, q->rcx);
        CHECK_EQ(r.rdx, q->rdx);
        CHECK_EQ(r.rsi, q->rsi);
        CHECK_EQ(r.rdi, q->rdi);
        CHECK_EQ(r.rbp, q->rbp);
        CHECK_EQ(r.r8, q->r8);
        CHECK_EQ(r.r9, q->r9);
        CHECK_EQ(r.r10, q->r10);
        CHECK_EQ(r.r11, q->r11);
        CHECK_EQ(r.r12, q->r12);
        CHECK_EQ(r.r13, q->r13);
        CHECK_EQ(r.r14, q->r14);
        CHECK_EQ(r.r15, q->r15);
        CHECK_EQ(r.rflags, q->rfl);
        CHECK_EQ(r.cr0, q->cr0);
        CHECK_EQ(r.cr2, q->cr2);
        CHECK_EQ(r.cr4, q->cr4);
        CHECK(segment_matches("CS", &r.cs, &q->cs, c));
        CHECK(segment_matches("DS", &r.ds, &q->ds, c));
        CHECK(segment_matches("ES", &r.es, &q->es, c));
        CHECK(segment_matches("FS", &r.fs, &q->fs, c));
        CHECK(segment_matches("GS", &r.gs, &q->gs, c));
        CHECK(segment_matches("SS", &r.ss, &q->ss, c));
        CHECK(segment_matches("LDT", &r.ldtr, &q->ldt, c));
        CHECK(segment_matches("TR", &r.tr, &q->tr, c));
        CHECK(q->gdt.seen && q->idt.seen);
        CHECK_EQ(r.gdtr.base, q->gdt.base);
        CHECK_EQ(r.gdtr.limit, q->gdt.limit);
        CHECK_EQ(r.idtr.base, q->idt.base);
        CHECK_EQ(r.idtr.limit, q->idt.limit);
    }
    vmic_amd64_regs_t r;
    CHECK_ERR(elf->ops->registers->get(elf, (vmic_vcpu_t)n, &r), VMIC_E_INVAL);
    CHECK_ERRMSG("out of range");
}

/* ---- LiME written from the raw dump ------------------------------------------ */

static bool write_all(FILE *f, const void *p, size_t n)
{
    return fwrite(p, 1, n, f) == n;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* One LiME range per ELF region inside the raw dump (clipped to it), the way
 * LiME writes one per "System RAM" range, with the bytes from raw. */
static bool write_lime(const char *path, const vmic_driver_info_t *ei,
                       const vmic_driver_info_t *ri, int *nranges)
{
    const vmic_mem_region_t *rr = &ri->regions[0];
    FILE *f = fopen(path, "wb");
    bool ok = f != NULL;

    *nranges = 0;
    for (size_t i = 0; ok && i < ei->nregions; i++) {
        uint64_t s = ei->regions[i].start.addr, e = s + ei->regions[i].size;
        if (e > rr->size)
            e = rr->size;
        if (s < hole_hi && e > hole_lo) { /* around the PCI hole */
            if (s < hole_lo) {
                e = hole_lo;
            } else {
                s = hole_hi;
            }
        }
        if (s >= e)
            continue;
        uint8_t h[32] = {0};
        put_le(h, 0x4C694D45, 4);
        put_le(h + 4, 1, 4);
        put_le(h + 8, s, 8);
        put_le(h + 16, e - 1, 8);
        ok = write_all(f, h, sizeof h) && write_all(f, rr->host + s, e - s);
        (*nranges)++;
    }
    if (f && fclose(f) != 0)
        ok = false;
    return ok;
}

static void test_lime_from_raw(void)
{
    CHECK(elf && raw);
    const vmic_driver_info_t *ei = elf->ops->info(elf), *ri = raw->ops->info(raw);
    if (ri->mem_size > (1ull << 30)) {
        /* Writing and reading back a LiME copy of a 5 GiB guest costs minutes
         * on a loaded machine and proves what the small guests prove. */
        fprintf(stderr, "  note: %" PRIu64 " MiB of RAM: no LiME copy made\n", ri->mem_size >> 20);
        return;
    }
    char dir[] = "/tmp/vmic-dump-real-XXXXXX";
    char path[64];
    int nranges;

    CHECK(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/dump.lime", dir);
    bool written = write_lime(path, ei, ri, &nranges);
    if (!written) {
        unlink(path);
        rmdir(dir);
        FAIL_("cannot write %s: %s", path, strerror(errno));
    }

    vmic_driver *lime;
    vmic_status s = vmic_dump_open(path, VMIC_DUMP_AUTO, &lime);
    unlink(path); /* the mapping keeps the bytes */
    rmdir(dir);
    CHECK_OK(s);
    const vmic_driver_info_t *li = lime->ops->info(lime);
    print_regions("dump.lime", li);
    CHECK_STR(li->driver, "lime");
    CHECK_EQ(li->nregions, (size_t)nranges);
    CHECK_EQ(li->mem_size, bytes_below(ei, ri->max_pa.addr));
    for (size_t i = 0; i < li->nregions; i++)
        CHECK_EQ(li->regions[i].start.addr,
                 ei->regions[i].start.addr >= hole_lo && ei->regions[i].start.addr < hole_hi
                     ? hole_hi : ei->regions[i].start.addr);

    uint64_t compared_raw, compared_elf;
    uint64_t differ_raw = compare_dumps(li, ri, &compared_raw);
    uint64_t differ_elf = compare_dumps(li, ei, &compared_elf);
    fprintf(stderr, "  lime vs raw: %" PRIu64 " MiB, %" PRIu64 " pages differ; vs elf: %"
            PRIu64 " MiB, %" PRIu64 " differ\n", compared_raw >> 20, differ_raw,
            compared_elf >> 20, differ_elf);
    CHECK_EQ(differ_raw, 0);
    CHECK_EQ(differ_elf, 0);
    CHECK_EQ(compared_raw, li->mem_size);
    CHECK_EQ(compared_elf, li->mem_size);
    vmic_driver_close(lime);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR (skipping)\n", argv[0]);
        return TEST_SKIP;
    }
    snprintf(elf_path, sizeof elf_path, "%s/dump.elf", argv[1]);
    snprintf(raw_path, sizeof raw_path, "%s/dump.raw", argv[1]);
    snprintf(regs_path, sizeof regs_path, "%s/registers.txt", argv[1]);
    const char *need[] = {elf_path, raw_path, regs_path};
    for (int i = 0; i < 3; i++) {
        if (!is_file(need[i])) {
            fprintf(stderr, "skip: fixture file %s is missing or empty"
                    " (scripts/make-fixture.sh builds it)\n", need[i]);
            return TEST_SKIP;
        }
    }

    RUN(test_open);
    RUN(test_raw_equals_elf);
    RUN(test_registers);
    RUN(test_lime_from_raw);
    vmic_driver_close(elf);
    vmic_driver_close(raw);
    return HARNESS_RESULT();
}
