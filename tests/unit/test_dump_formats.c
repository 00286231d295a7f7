/*
 * The dump driver over generated images: raw, ELF cores laid out as QEMU's
 * dump-guest-memory writes them (PT_NOTE with NT_PRSTATUS and QEMU notes,
 * then PT_LOADs) and LiME, plus broken variants of each. The generated images
 * test the parser; tests/real/test_dump_real.c checks it against real dumps.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vmic/driver.h>

#include "harness.h"

/* ---- writing little-endian fields -------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The byte every generated image holds at guest-physical address pa. */
static uint8_t pattern(uint64_t pa)
{
    return (uint8_t)(pa ^ (pa >> 8) ^ (pa >> 16) ^ 0x5a);
}

static void fill_pattern(uint8_t *p, uint64_t pa, uint64_t size)
{
    for (uint64_t i = 0; i < size; i++)
        p[i] = pattern(pa + i);
}

/* ---- known register values -------------------------------------------- */

enum gpr {
    G_RAX, G_RBX, G_RCX, G_RDX, G_RSI, G_RDI, G_RSP, G_RBP,
    G_R8, G_R9, G_R10, G_R11, G_R12, G_R13, G_R14, G_R15, G_RIP, G_RFLAGS,
};
enum seg { S_CS, S_DS, S_ES, S_FS, S_GS, S_SS, S_LDT, S_TR, S_GDT, S_IDT };

static uint64_t gpr_value(uint32_t cpu, enum gpr g)
{
    return ((uint64_t)(cpu + 1) << 56) | ((uint64_t)g << 8) | 0x11;
}

static uint16_t seg_selector(uint32_t cpu, enum seg s)
{
    return (uint16_t)(0x10 + 8 * s + cpu);
}

static uint64_t seg_base(uint32_t cpu, enum seg s)
{
    return 0xffff880000000000ull + ((uint64_t)cpu << 20) + ((uint64_t)s << 12);
}

static uint64_t cr3_value(uint32_t cpu)
{
    return 0x1000ull * (cpu + 1) + 0x123000;
}

/* cs is a long-mode code segment, every other one a flat data segment. */
static uint32_t seg_flags(enum seg s)
{
    return s == S_CS ? 0x00af9b00u : 0x00cf9300u;
}

/* ---- ELF cores ------------------------------------------------------------ */

typedef struct load_spec {
    uint64_t pa, filesz, memsz;
} load_spec_t;

typedef struct elf_spec {
    const load_spec_t *loads;
    uint32_t nloads;
    uint32_t ncpus;
    bool prstatus;
    bool qemu;
    uint32_t qemu_size;  /* QEMUCPUState size: 440 (QEMU >= 3.x) or 432 */
    bool extra_note;     /* an NT_X86_XSTATE "LINUX" note first, to be skipped */
} elf_spec_t;

typedef struct elf_image {
    uint8_t *bytes;
    size_t size;
    uint64_t note_offset;       /* the PT_NOTE segment (phdr 0 when present) */
    uint64_t note_size;
    uint64_t first_prstatus;    /* offset of the first NT_PRSTATUS note header */
    uint64_t first_qemu;        /* offset of the first QEMU note header */
    uint64_t load_offset[8];    /* file offset of each PT_LOAD's bytes */
    uint32_t load_phdr[8];      /* program header index of each PT_LOAD */
} elf_image_t;

#define EHDR_SIZE 64u
#define PHDR_SIZE 56u
#define PRSTATUS_SIZE 336u

static uint64_t phdr_at(uint32_t i)
{
    return EHDR_SIZE + (uint64_t)i * PHDR_SIZE;
}

static uint64_t note_size(uint32_t namesz, uint32_t descsz)
{
    return 12 + ((namesz + 3u) & ~3u) + ((descsz + 3u) & ~3u);
}

static uint8_t *put_note(uint8_t *p, const char *name, uint32_t type, uint32_t descsz)
{
    uint32_t namesz = (uint32_t)strlen(name) + 1;
    put32(p, namesz);
    put32(p + 4, descsz);
    put32(p + 8, type);
    memcpy(p + 12, name, namesz);
    return p + 12 + ((namesz + 3u) & ~3u); /* the descriptor */
}

static void put_prstatus(uint8_t *desc, uint32_t cpu)
{
    static const int order[] = {
        G_R15, G_R14, G_R13, G_R12, G_RBP, G_RBX, G_R11, G_R10, G_R9, G_R8,
        G_RAX, G_RCX, G_RDX, G_RSI, G_RDI,
    };
    uint8_t *regs = desc + 112;

    put32(desc + 32, cpu); /* pr_pid */
    for (int i = 0; i < 15; i++)
        put64(regs + 8 * i, gpr_value(cpu, order[i]));
    put64(regs + 8 * 15, 0xdead);                        /* orig_rax */
    put64(regs + 8 * 16, gpr_value(cpu, G_RIP));
    put64(regs + 8 * 17, seg_selector(cpu, S_CS));
    put64(regs + 8 * 18, gpr_value(cpu, G_RFLAGS));
    put64(regs + 8 * 19, gpr_value(cpu, G_RSP));
    put64(regs + 8 * 20, seg_selector(cpu, S_SS));
    put64(regs + 8 * 21, seg_base(cpu, S_FS));
    put64(regs + 8 * 22, seg_base(cpu, S_GS));
    put64(regs + 8 * 23, seg_selector(cpu, S_DS));
    put64(regs + 8 * 24, seg_selector(cpu, S_ES));
    put64(regs + 8 * 25, seg_selector(cpu, S_FS));
    put64(regs + 8 * 26, seg_selector(cpu, S_GS));
}

static void put_qemu_state(uint8_t *desc, uint32_t cpu, uint32_t size)
{
    put32(desc, 1);
    put32(desc + 4, size);
    for (int g = G_RAX; g <= G_RFLAGS; g++)
        put64(desc + 8 + 8 * g, gpr_value(cpu, (enum gpr)g));
    for (int s = S_CS; s <= S_IDT; s++) {
        uint8_t *p = desc + 152 + 24 * s;
        put32(p, seg_selector(cpu, (enum seg)s));
        put32(p + 4, 0xfff00 + (uint32_t)s);
        put32(p + 8, seg_flags((enum seg)s));
        put32(p + 12, 0);
        put64(p + 16, seg_base(cpu, (enum seg)s));
    }
    put64(desc + 392, 0x80050033);        /* cr0 */
    put64(desc + 400, 0x1111);            /* cr1: reserved */
    put64(desc + 408, 0x2222 + cpu);      /* cr2 */
    put64(desc + 416, cr3_value(cpu));    /* cr3 */
    put64(desc + 424, 0x6f0);             /* cr4 */
    if (size >= 440)
        put64(desc + 432, 0xffff888000000000ull + cpu); /* kernel_gs_base */
}

static uint64_t notes_total(const elf_spec_t *spec)
{
    uint64_t total = 0;
    if (spec->extra_note)
        total += note_size(6, 16);
    if (spec->prstatus)
        total += spec->ncpus * note_size(5, PRSTATUS_SIZE);
    if (spec->qemu)
        total += spec->ncpus * note_size(5, spec->qemu_size);
    return total;
}

static void write_notes(const elf_spec_t *spec, elf_image_t *img)
{
    uint8_t *p = img->bytes + img->note_offset;

    if (spec->extra_note) {
        put_note(p, "LINUX", 0x202, 16);
        p += note_size(6, 16);
    }
    img->first_prstatus = (uint64_t)(p - img->bytes);
    for (uint32_t cpu = 0; spec->prstatus && cpu < spec->ncpus; cpu++) {
        put_prstatus(put_note(p, "CORE", 1, PRSTATUS_SIZE), cpu);
        p += note_size(5, PRSTATUS_SIZE);
    }
    img->first_qemu = (uint64_t)(p - img->bytes);
    for (uint32_t cpu = 0; spec->qemu && cpu < spec->ncpus; cpu++) {
        put_qemu_state(put_note(p, "QEMU", 0, spec->qemu_size), cpu, spec->qemu_size);
        p += note_size(5, spec->qemu_size);
    }
}

static void put_phdr(uint8_t *p, uint32_t type, uint64_t offset, uint64_t paddr,
                     uint64_t filesz, uint64_t memsz)
{
    put32(p, type);
    put32(p + 4, 0);
    put64(p + 8, offset);
    put64(p + 16, 0);        /* vaddr: QEMU writes 0 without paging */
    put64(p + 24, paddr);
    put64(p + 32, filesz);
    put64(p + 40, memsz);
    put64(p + 48, 0);
}

/* Header, program headers, notes, then each PT_LOAD's bytes in order. */
static elf_image_t build_elf(const elf_spec_t *spec)
{
    elf_image_t img = {0};
    bool has_notes = spec->prstatus || spec->qemu || spec->extra_note;
    uint32_t nphdrs = spec->nloads + (has_notes ? 1 : 0);

    img.note_offset = phdr_at(nphdrs);
    img.note_size = notes_total(spec);
    img.size = img.note_offset + img.note_size;
    for (uint32_t i = 0; i < spec->nloads; i++) {
        img.load_offset[i] = img.size;
        img.size += spec->loads[i].filesz;
    }
    img.bytes = calloc(1, img.size);

    uint8_t *b = img.bytes;
    memcpy(b, "\x7f" "ELF", 4);
    b[4] = 2; /* ELFCLASS64 */
    b[5] = 1; /* little-endian */
    b[6] = 1; /* EV_CURRENT */
    put16(b + 16, 4);   /* ET_CORE */
    put16(b + 18, 62);  /* EM_X86_64 */
    put32(b + 20, 1);
    put64(b + 32, EHDR_SIZE);
    put16(b + 52, EHDR_SIZE);
    put16(b + 54, PHDR_SIZE);
    put16(b + 56, (uint16_t)nphdrs);

    uint32_t phdr = 0;
    if (has_notes) {
        put_phdr(b + phdr_at(phdr++), 4, img.note_offset, 0, img.note_size, img.note_size);
        write_notes(spec, &img);
    }
    for (uint32_t i = 0; i < spec->nloads; i++) {
        const load_spec_t *l = &spec->loads[i];
        img.load_phdr[i] = phdr;
        put_phdr(b + phdr_at(phdr++), 1, img.load_offset[i], l->pa, l->filesz, l->memsz);
        fill_pattern(b + img.load_offset[i], l->pa, l->filesz);
    }
    return img;
}

/* The standard image: like QEMU's for a small guest with two vCPUs. Loads 1
 * and 2 continue each other in pa and in the file, so they become one region. */
static const load_spec_t std_loads[] = {
    {0x0, 0xa000, 0xa000},
    {0x10000, 0x3000, 0x3000},
    {0x13000, 0x2000, 0x2000},
};

static elf_image_t build_std_elf(void)
{
    elf_spec_t spec = {
        .loads = std_loads, .nloads = 3, .ncpus = 2,
        .prstatus = true, .qemu = true, .qemu_size = 440, .extra_note = true,
    };
    return build_elf(&spec);
}

/* ---- LiME ------------------------------------------------------------------ */

typedef struct lime_range {
    uint64_t s_addr, e_addr;
} lime_range_t;

static uint8_t *build_lime(const lime_range_t *ranges, int n, size_t *size)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += 32 + (ranges[i].e_addr - ranges[i].s_addr + 1);
    uint8_t *b = calloc(1, total);
    uint8_t *p = b;
    for (int i = 0; i < n; i++) {
        uint64_t len = ranges[i].e_addr - ranges[i].s_addr + 1;
        put32(p, 0x4C694D45);
        put32(p + 4, 1);
        put64(p + 8, ranges[i].s_addr);
        put64(p + 16, ranges[i].e_addr);
        fill_pattern(p + 32, ranges[i].s_addr, len);
        p += 32 + len;
    }
    *size = total;
    return b;
}

/* ---- checks shared by the tests ------------------------------------------- */

/* Every byte of every region is the pattern of its pa. */
static bool regions_hold_pattern(const vmic_driver_info_t *info)
{
    for (size_t i = 0; i < info->nregions; i++) {
        const vmic_mem_region_t *r = &info->regions[i];
        for (uint64_t k = 0; k < r->size; k++) {
            if (r->host[k] != pattern(r->start.addr + k))
                return false;
        }
    }
    return true;
}

static bool region_is(const vmic_mem_region_t *r, uint64_t start, uint64_t size,
                      const uint8_t *host, uint64_t file_offset)
{
    return r->start.addr == start && r->size == size && r->host == host &&
           r->file_offset == file_offset && !r->writable;
}

static char *write_temp(const void *bytes, size_t size)
{
    static char path[64];
    strcpy(path, "/tmp/vmic-test-dump-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    if (size && write(fd, bytes, size) != (ssize_t)size) {
        close(fd);
        return NULL;
    }
    close(fd);
    return path;
}

/* Opens buf as fmt expecting failure `code` with `needle` in the message. */
#define CHECK_OPEN_FAILS(buf, len, fmt, code, needle)                          \
    do {                                                                       \
        vmic_driver *d_ = (vmic_driver *)1;                                    \
        CHECK_ERR(vmic_dump_open_buffer((buf), (len), (fmt), "t.dump", &d_), (code)); \
        CHECK(d_ == NULL);                                                     \
        CHECK_ERRMSG("t.dump: ");                                              \
        CHECK_ERRMSG(needle);                                                  \
    } while (0)

/* ---- raw -------------------------------------------------------------------- */

static void test_raw_buffer(void)
{
    size_t size = 3 * 4096 + 5;
    uint8_t *buf = malloc(size);
    fill_pattern(buf, 0, size);

    for (int fmt = VMIC_DUMP_AUTO; fmt <= VMIC_DUMP_RAW; fmt++) {
        vmic_driver *d;
        CHECK_OK(vmic_dump_open_buffer(buf, size, (vmic_dump_format)fmt, "mem.raw", &d));
        const vmic_driver_info_t *info = d->ops->info(d);
        CHECK_STR(info->driver, "raw");
        CHECK_STR(info->source, "mem.raw");
        CHECK_EQ(info->caps, VMIC_CAP_READ);
        CHECK_EQ(info->vcpu_count, 0);
        CHECK_EQ(info->nregions, 1);
        CHECK(region_is(&info->regions[0], 0, size, buf, 0));
        CHECK_EQ(info->mem_size, size);
        CHECK_EQ(info->max_pa.addr, size);
        CHECK(d->ops->registers == NULL);
        CHECK(d->ops->memory->write == NULL && d->ops->control == NULL && d->ops->registers == NULL);
        vmic_driver_close(d);
    }
    free(buf);
}

static void test_raw_file(void)
{
    size_t size = 5 * 4096;
    uint8_t *buf = malloc(size);
    fill_pattern(buf, 0, size);
    char *path = write_temp(buf, size);
    CHECK(path);

    vmic_driver *d;
    CHECK_OK(vmic_dump_open(path, VMIC_DUMP_AUTO, &d));
    const vmic_driver_info_t *info = d->ops->info(d);
    CHECK_STR(info->source, path);
    CHECK_EQ(info->nregions, 1);
    CHECK_EQ(info->regions[0].size, size);
    CHECK(memcmp(info->regions[0].host, buf, size) == 0);

    uint8_t out[100];
    CHECK_OK(d->ops->memory->read(d, vmic_pa(4090), out, sizeof out));
    CHECK(memcmp(out, buf + 4090, sizeof out) == 0);
    CHECK_ERR(d->ops->memory->read(d, vmic_pa(size - 10), out, sizeof out), VMIC_E_UNMAPPED);
    CHECK_ERRMSG("physical address 0x5000 is not in the dump");
    vmic_driver_close(d);
    unlink(path);
    free(buf);
}

static void test_empty(void)
{
    static const uint8_t none[1];
    for (int fmt = VMIC_DUMP_AUTO; fmt <= VMIC_DUMP_LIME; fmt++)
        CHECK_OPEN_FAILS(none, 0, (vmic_dump_format)fmt, VMIC_E_FORMAT, "empty file");

    char *path = write_temp(none, 0);
    CHECK(path);
    vmic_driver *d;
    CHECK_ERR(vmic_dump_open(path, VMIC_DUMP_AUTO, &d), VMIC_E_FORMAT);
    CHECK_ERRMSG(path);
    CHECK_ERRMSG("empty file");
    unlink(path);
}

static void test_missing_file(void)
{
    vmic_driver *d;
    CHECK_ERR(vmic_dump_open("/nonexistent/vmic.dump", VMIC_DUMP_AUTO, &d), VMIC_E_IO);
    CHECK_ERRMSG("/nonexistent/vmic.dump: cannot open");
    CHECK_ERR(vmic_dump_open("/tmp", VMIC_DUMP_AUTO, &d), VMIC_E_IO);
    CHECK_ERRMSG("not a regular file");
}

/* ---- ELF: good images ---------------------------------------------------- */

/* Checks the GPRs of cpu: the same whichever note they came from. */
static bool gprs_match(const vmic_amd64_regs_t *r, uint32_t cpu)
{
    return r->rax == gpr_value(cpu, G_RAX) && r->rbx == gpr_value(cpu, G_RBX) &&
           r->rcx == gpr_value(cpu, G_RCX) && r->rdx == gpr_value(cpu, G_RDX) &&
           r->rsi == gpr_value(cpu, G_RSI) && r->rdi == gpr_value(cpu, G_RDI) &&
           r->rsp == gpr_value(cpu, G_RSP) && r->rbp == gpr_value(cpu, G_RBP) &&
           r->r8 == gpr_value(cpu, G_R8) && r->r9 == gpr_value(cpu, G_R9) &&
           r->r10 == gpr_value(cpu, G_R10) && r->r11 == gpr_value(cpu, G_R11) &&
           r->r12 == gpr_value(cpu, G_R12) && r->r13 == gpr_value(cpu, G_R13) &&
           r->r14 == gpr_value(cpu, G_R14) && r->r15 == gpr_value(cpu, G_R15) &&
           r->rip == gpr_value(cpu, G_RIP) && r->rflags == gpr_value(cpu, G_RFLAGS);
}

static bool selectors_match(const vmic_amd64_regs_t *r, uint32_t cpu)
{
    return r->cs.selector == seg_selector(cpu, S_CS) &&
           r->ds.selector == seg_selector(cpu, S_DS) &&
           r->es.selector == seg_selector(cpu, S_ES) &&
           r->fs.selector == seg_selector(cpu, S_FS) &&
           r->gs.selector == seg_selector(cpu, S_GS) &&
           r->ss.selector == seg_selector(cpu, S_SS) &&
           r->fs.base == seg_base(cpu, S_FS) && r->gs.base == seg_base(cpu, S_GS);
}

static void test_elf_good(void)
{
    elf_image_t img = build_std_elf();
    vmic_driver *d;

    CHECK_OK(vmic_dump_open_buffer(img.bytes, img.size, VMIC_DUMP_AUTO, "core.elf", &d));
    const vmic_driver_info_t *info = d->ops->info(d);
    CHECK_STR(info->driver, "elf");
    CHECK_EQ(info->caps, VMIC_CAP_READ | VMIC_CAP_REGISTERS);
    CHECK_EQ(info->vcpu_count, 2);
    CHECK_EQ(info->nregions, 2);
    CHECK(region_is(&info->regions[0], 0, 0xa000, img.bytes + img.load_offset[0],
                    img.load_offset[0]));
    CHECK(region_is(&info->regions[1], 0x10000, 0x5000, img.bytes + img.load_offset[1],
                    img.load_offset[1]));
    CHECK_EQ(info->mem_size, 0xf000);
    CHECK_EQ(info->max_pa.addr, 0x15000);
    CHECK(regions_hold_pattern(info));

    for (uint32_t cpu = 0; cpu < 2; cpu++) {
        vmic_amd64_regs_t r;
        CHECK_OK(d->ops->registers->get(d, cpu, &r));
        CHECK_EQ(r.valid, VMIC_REGS_GPR | VMIC_REGS_SEG | VMIC_REGS_CR | VMIC_REGS_DT);
        CHECK(gprs_match(&r, cpu));
        CHECK(selectors_match(&r, cpu));
        CHECK_EQ(r.cs.attr, 0xa9b);  /* type b, S, P, L, G */
        CHECK_EQ(r.ss.attr, 0xc93);  /* type 3, S, P, DB, G */
        CHECK_EQ(r.cs.limit, 0xfff00);
        CHECK_EQ(r.cs.base, seg_base(cpu, S_CS));
        CHECK_EQ(r.tr.selector, seg_selector(cpu, S_TR));
        CHECK_EQ(r.tr.base, seg_base(cpu, S_TR));
        CHECK_EQ(r.ldtr.selector, seg_selector(cpu, S_LDT));
        CHECK_EQ(r.gdtr.base, seg_base(cpu, S_GDT));
        CHECK_EQ(r.gdtr.limit, (uint16_t)(0xfff00 + S_GDT));
        CHECK_EQ(r.idtr.base, seg_base(cpu, S_IDT));
        CHECK_EQ(r.cr0, 0x80050033);
        CHECK_EQ(r.cr2, 0x2222 + cpu);
        CHECK_EQ(r.cr3, cr3_value(cpu));
        CHECK_EQ(r.cr4, 0x6f0);
        CHECK_EQ(r.kernel_gs_base, 0xffff888000000000ull + cpu);
        CHECK_EQ(r.efer, 0);
    }

    vmic_amd64_regs_t r;
    CHECK_ERR(d->ops->registers->get(d, 2, &r), VMIC_E_INVAL);
    CHECK_ERRMSG("core.elf: vCPU 2 out of range (the dump has 2 vCPUs)");

    /* read spans the two merged loads, stops at the hole. */
    uint8_t out[0x20];
    CHECK_OK(d->ops->memory->read(d, vmic_pa(0x12ff0), out, sizeof out));
    for (unsigned k = 0; k < sizeof out; k++)
        CHECK_EQ(out[k], pattern(0x12ff0 + k));
    CHECK_ERR(d->ops->memory->read(d, vmic_pa(0x9ff0), out, sizeof out), VMIC_E_UNMAPPED);
    CHECK_ERRMSG("physical address 0xa000 is not in the dump");

    vmic_driver_close(d);
    free(img.bytes);
}

static void test_elf_file(void)
{
    elf_image_t img = build_std_elf();
    char *path = write_temp(img.bytes, img.size);
    CHECK(path);
    vmic_driver *d;
    CHECK_OK(vmic_dump_open(path, VMIC_DUMP_ELF, &d));
    const vmic_driver_info_t *info = d->ops->info(d);
    CHECK_EQ(info->nregions, 2);
    CHECK_EQ(info->regions[1].file_offset, img.load_offset[1]);
    CHECK(regions_hold_pattern(info));
    vmic_amd64_regs_t r;
    CHECK_OK(d->ops->registers->get(d, 1, &r));
    CHECK_EQ(r.cr3, cr3_value(1));
    vmic_driver_close(d);
    unlink(path);
    free(img.bytes);
}

static void test_elf_prstatus_only(void)
{
    elf_spec_t spec = {.loads = std_loads, .nloads = 1, .ncpus = 3, .prstatus = true};
    elf_image_t img = build_elf(&spec);
    vmic_driver *d;

    CHECK_OK(vmic_dump_open_buffer(img.bytes, img.size, VMIC_DUMP_ELF, "core.elf", &d));
    CHECK_EQ(d->ops->info(d)->vcpu_count, 3);
    for (uint32_t cpu = 0; cpu < 3; cpu++) {
        vmic_amd64_regs_t r;
        CHECK_OK(d->ops->registers->get(d, cpu, &r));
        CHECK_EQ(r.valid, VMIC_REGS_GPR | VMIC_REGS_SEG);
        CHECK(gprs_match(&r, cpu));
        CHECK(selectors_match(&r, cpu));
        CHECK_EQ(r.cr3, 0);
    }
    vmic_driver_close(d);
    free(img.bytes);
}

/* A QEMU older than kernel_gs_base writes size 432: everything but that. */
static void test_elf_qemu_note_432(void)
{
    elf_spec_t spec = {.loads = std_loads, .nloads = 1, .ncpus = 1, .qemu = true,
                       .qemu_size = 432};
    elf_image_t img = build_elf(&spec);
    vmic_driver *d;

    CHECK_OK(vmic_dump_open_buffer(img.bytes, img.size, VMIC_DUMP_ELF, "core.elf", &d));
    vmic_amd64_regs_t r;
    CHECK_OK(d->ops->registers->get(d, 0, &r));
    CHECK_EQ(r.valid, VMIC_REGS_GPR | VMIC_REGS_SEG | VMIC_REGS_CR | VMIC_REGS_DT);
    CHECK(gprs_match(&r, 0));
    CHECK_EQ(r.cr3, cr3_value(0));
    CHECK_EQ(r.kernel_gs_base, 0);
    vmic_driver_close(d);
    free(img.bytes);
}

/* No notes at all: memory only, no registers capability. */
static void test_elf_no_notes(void)
{
    elf_spec_t spec = {.loads = std_loads, .nloads = 3};
    elf_image_t img = build_elf(&spec);
    vmic_driver *d;

    CHECK_OK(vmic_dump_open_buffer(img.bytes, img.size, VMIC_DUMP_ELF, "core.elf", &d));
    CHECK_EQ(d->ops->info(d)->caps, VMIC_CAP_READ);
    CHECK_EQ(d->ops->info(d)->vcpu_count, 0);
    CHECK(d->ops->registers == NULL);
    vmic_driver_close(d);
    free(img.bytes);
}

/* p_memsz > p_filesz: only the file-backed part is published. */
static void test_elf_memsz_beyond_filesz(void)
{
    static const load_spec_t loads[] = {{0x0, 0x2000, 0x8000}, {0x8000, 0x1000, 0x1000}};
    elf_spec_t spec = {.loads = loads, .nloads = 2};
    elf_image_t img = build_elf(&spec);
    vmic_driver *d;

    CHECK_OK(vmic_dump_open_buffer(img.bytes, img.size, VMIC_DUMP_ELF, "core.elf", &d));
    const vmic_driver_info_t *info = d->ops->info(d);
    CHECK_EQ(info->nregions, 2);
    CHECK_EQ(info->regions[0].size, 0x2000);
    CHECK_EQ(info->regions[1].start.addr, 0x8000);
    CHECK_EQ(info->mem_size, 0x3000);
    vmic_driver_close(d);
    free(img.bytes);
}

/* PT_LOADs out of pa order, and one with no file bytes at all. */
static void test_elf_unsorted_and_empty_loads(void)
{
    static const load_spec_t loads[] = {
        {0x100000, 0x1000, 0x1000}, {0x0, 0x1000, 0x1000}, {0x50000, 0, 0x1000},
    };
    elf_spec_t spec = {.loads = loads, .nloads = 3};
    elf_image_t img = build_elf(&spec);
    vmic_driver *d;

    CHECK_OK(vmic_dump_open_buffer(img.bytes, img.size, VMIC_DUMP_ELF, "core.elf", &d));
    const vmic_driver_info_t *info = d->ops->info(d);
    CHECK_EQ(info->nregions, 2);
    CHECK_EQ(info->regions[0].start.addr, 0);
    CHECK_EQ(info->regions[1].start.addr, 0x100000);
    CHECK(regions_hold_pattern(info));
    vmic_driver_close(d);
    free(img.bytes);
}

/* Adjacent in pa but not in the file: two regions. */
static void test_elf_adjacent_not_merged(void)
{
    static const load_spec_t loads[] = {{0x1000, 0x1000, 0x1000}, {0x0, 0x1000, 0x1000}};
    elf_spec_t spec = {.loads = loads, .nloads = 2};
    elf_image_t img = build_elf(&spec);
    vmic_driver *d;

    CHECK_OK(vmic_dump_open_buffer(img.bytes, img.size, VMIC_DUMP_ELF, "core.elf", &d));
    const vmic_driver_info_t *info = d->ops->info(d);
    CHECK_EQ(info->nregions, 2);
    CHECK(regions_hold_pattern(info));
    vmic_driver_close(d);
    free(img.bytes);
}

/* ---- ELF: broken images -------------------------------------------------- */

static void test_elf_bad_identity(void)
{
    elf_image_t img = build_std_elf();
    uint8_t *b = img.bytes;

    b[0] = 'X';
    CHECK_OPEN_FAILS(b, img.size, VMIC_DUMP_ELF, VMIC_E_FORMAT, "offset 0x0: no ELF magic");
    b[0] = 0x7f;
    b[4] = 1;
    CHECK_OPEN_FAILS(b, img.size, VMIC_DUMP_AUTO, VMIC_E_FORMAT,
                     "offset 0x4: ELF class 1 is not ELFCLASS64");
    b[4] = 2;
    b[5] = 2;
    CHECK_OPEN_FAILS(b, img.size, VMIC_DUMP_AUTO, VMIC_E_FORMAT,
                     "offset 0x5: ELF data encoding 2 is not little-endian");
    b[5] = 1;
    put16(b + 16, 2);
    CHECK_OPEN_FAILS(b, img.size, VMIC_DUMP_AUTO, VMIC_E_FORMAT,
                     "offset 0x10: ELF type 2 is not ET_CORE");
    put16(b + 16, 4);
    put16(b + 18, 3);
    CHECK_OPEN_FAILS(b, img.size, VMIC_DUMP_AUTO, VMIC_E_FORMAT,
                     "offset 0x12: ELF machine 3 is not EM_X86_64");
    put16(b + 18, 62);
    put16(b + 54, 32);
    CHECK_OPEN_FAILS(b, img.size, VMIC_DUMP_AUTO, VMIC_E_FORMAT,
                     "offset 0x36: program header size 32 is below 56");
    put16(b + 54, PHDR_SIZE);
    put16(b + 56, 0);
    CHECK_OPEN_FAILS(b, img.size, VMIC_DUMP_AUTO, VMIC_E_FORMAT, "no program headers");
    free(img.bytes);
}

/* Cut the file at several points: each names what it cut. */
static void test_elf_truncated(void)
{
    elf_image_t img = build_std_elf();

    CHECK_OPEN_FAILS(img.bytes, 40, VMIC_DUMP_AUTO, VMIC_E_FORMAT,
                     "ELF header truncated, file is 40 bytes but the header is 64");
    CHECK_OPEN_FAILS(img.bytes, phdr_at(2) + 10, VMIC_DUMP_AUTO, VMIC_E_FORMAT,
                     "offset 0x20: program header table [0x40,+0xe0) (4 x 56 bytes)"
                     " runs past end of file");
    /* In the notes: the PT_NOTE segment (phdr 0) runs past the end. */
    char want[160];
    snprintf(want, sizeof want,
             "program header 0 at offset 0x40: segment [0x%" PRIx64 ",+0x%" PRIx64
             ") runs past end of file (size 0x%" PRIx64 ")",
             img.note_offset, img.note_size, img.first_qemu + 100);
    CHECK_OPEN_FAILS(img.bytes, img.first_qemu + 100, VMIC_DUMP_AUTO, VMIC_E_FORMAT, want);
    /* In the last load's bytes. */
    size_t cut = img.size - 0x800;
    snprintf(want, sizeof want,
             "program header 3 at offset 0xe8: segment [0x%" PRIx64 ",+0x2000)"
             " runs past end of file (size 0x%zx)", img.load_offset[2], cut);
    CHECK_OPEN_FAILS(img.bytes, cut, VMIC_DUMP_AUTO, VMIC_E_FORMAT, want);
    free(img.bytes);
}

static void test_elf_overlap(void)
{
    static const load_spec_t loads[] = {
        {0x0, 0x3000, 0x3000}, {0x10000, 0x1000, 0x1000}, {0x2000, 0x2000, 0x2000},
    };
    elf_spec_t spec = {.loads = loads, .nloads = 3};
    elf_image_t img = build_elf(&spec);

    CHECK_OPEN_FAILS(img.bytes, img.size, VMIC_DUMP_ELF, VMIC_E_FORMAT,
                     "program header 0 at offset 0x40: physical range [0x0,+0x3000) overlaps"
                     " program header 2 at offset 0xb0: [0x2000,+0x2000)");

    /* Identical ranges overlap too. */
    put64(img.bytes + phdr_at(2) + 24, 0);
    put64(img.bytes + phdr_at(2) + 32, 0x3000);
    put64(img.bytes + phdr_at(2) + 40, 0x3000);
    put64(img.bytes + phdr_at(2) + 8, img.load_offset[0]);
    CHECK_OPEN_FAILS(img.bytes, img.size, VMIC_DUMP_ELF, VMIC_E_FORMAT,
                     "program header 0 at offset 0x40: physical range [0x0,+0x3000) overlaps"
                     " program header 2 at offset 0xb0");
    free(img.bytes);
}

static void test_elf_bad_load_fields(void)
{
    elf_image_t img = build_std_elf();
    uint8_t *ph = img.bytes + phdr_at(1);  /* load 0 */

    /* filesz > memsz */
    put64(ph + 40, 0x1000);
    CHECK_OPEN_FAILS(img.bytes, img.size, VMIC_DUMP_ELF, VMIC_E_FORMAT,
                     "program header 1 at offset 0x78: p_filesz 0xa000 exceeds p_memsz 0x1000");
    put64(ph + 40, 0xa000);
    /* pa + memsz wraps */
    put64(ph + 24, 0xfffffffffffff000ull);
    CHECK_OPEN_FAILS(img.bytes, img.size, VMIC_DUMP_ELF, VMIC_E_FORMAT,
                     "program header 1 at offset 0x78: physical range"
                     " [0xfffffffffffff000,+0xa000) wraps");
    put64(ph + 24, 0);
    /* offset + filesz wraps */
    put64(ph + 8, 0xfffffffffffff000ull);
    CHECK_OPEN_FAILS(img.bytes, img.size, VMIC_DUMP_ELF, VMIC_E_FORMAT,
                     "program header 1 at offset 0x78: segment [0xfffffffffffff000,+0xa000)"
                     " runs past end of file");
    /* huge filesz */
    put64(ph + 8, img.load_offset[0]);
    put64(ph + 32, 0x7fffffffffffffffull);
    put64(ph + 40, 0x7fffffffffffffffull);
    CHECK_OPEN_FAILS(img.bytes, img.size, VMIC_DUMP_ELF, VMIC_E_FORMAT,
                     "program header 1 at offset 0x78: segment");
    free(img.bytes);
}

static void test_elf_too_many_phdrs(void)
{
    elf_image_t img = build_std_elf();

    put16(img.bytes + 56, 0xfffe);
    CHECK_OPEN_FAILS(img.bytes, img.size, VMIC_DUMP_ELF, VMIC_E_FORMAT,
                     "offset 0x20: program header table [0x40,+0x37ff90) (65534 x 56 bytes)"
                     " runs past end of file");

    /* PN_XNUM: the count comes from section header 0, here in the file's
     * last 64 bytes (inside load data, which is fine for the parser). */
    uint64_t shoff = img.size - 64;
    put16(img.bytes + 56, 0xffff);
    put64(img.bytes + 40, shoff);
    put16(img.bytes + 58, 64);
    put32(img.bytes + shoff + 44, 0x7fffffff);
    CHECK_OPEN_FAILS(img.bytes, img.size, VMIC_DUMP_ELF, VMIC_E_FORMAT,
                     "offset 0x38: 2147483647 program headers is absurd");
    put32(img.bytes + shoff + 44, 0x10000);
    CHECK_OPEN_FAILS(img.bytes, img.size, VMIC_DUMP_ELF, VMIC_E_FORMAT,
                     "(65536 x 56 bytes) runs past end of file");
    put64(img.bytes + 40, img.size - 10);
    CHECK_OPEN_FAILS(img.bytes, img.size, VMIC_DUMP_ELF, VMIC_E_FORMAT,
                     "offset 0x28: e_phnum is PN_XNUM but section header 0");
    free(img.bytes);
}

/* PN_XNUM with the real (small) count: opens like the plain image. */
static void test_elf_pn_xnum(void)
{
    elf_image_t img = build_std_elf();
    size_t size = img.size + 64;
    uint8_t *b = calloc(1, size);
    memcpy(b, img.bytes, img.size);
    put16(b + 56, 0xffff);
    put64(b + 40, img.size);
    put16(b + 58, 64);
    put16(b + 60, 1);
    put32(b + img.size + 44, 4);

    vmic_driver *d;
    CHECK_OK(vmic_dump_open_buffer(b, size, VMIC_DUMP_ELF, "core.elf", &d));
    CHECK_EQ(d->ops->info(d)->nregions, 2);
    CHECK_EQ(d->ops->info(d)->vcpu_count, 2);
    vmic_driver_close(d);
    free(b);
    free(img.bytes);
}

static void test_elf_bad_notes(void)
{
    elf_image_t img = build_std_elf();
    uint8_t *prs = img.bytes + img.first_prstatus;
    uint8_t *qemu = img.bytes + img.first_qemu;
    char want[200];

    /* The last note's descriptor runs past the PT_NOTE segment. */
    uint64_t last_qemu = img.first_qemu + note_size(5, 440);
    put32(img.bytes + last_qemu + 4, 448);
    snprintf(want, sizeof want,
             "note at offset 0x%" PRIx64 ": name (0x5 bytes) and descriptor (0x1c0 bytes)"
             " run past the end of the PT_NOTE segment of program header 0 at offset 0x40"
             " (segment ends at 0x%" PRIx64 ")",
             last_qemu, img.note_offset + img.note_size);
    CHECK_OPEN_FAILS(img.bytes, img.size, VMIC_DUMP_ELF, VMIC_E_FORMAT, want);
    put32(img.bytes + last_qemu + 4, 440);
    /* A huge namesz. */
    put32(prs, 0xffffffff);
    CHECK_OPEN_FAILS(img.bytes, img.size, VMIC_DUMP_ELF, VMIC_E_FORMAT,
                     "name (0xffffffff bytes)");
    put32(prs, 5);

    /* NT_PRSTATUS too short for x86-64: shrink it in place. */
    put32(prs + 4, 200);
    /* the next notes are now misaligned garbage, but the first one fails first */
    snprintf(want, sizeof want,
             "NT_PRSTATUS note at offset 0x%" PRIx64 ": descriptor is 0xc8 bytes,"
             " an x86-64 prstatus needs 0x148", img.first_prstatus);
    CHECK_OPEN_FAILS(img.bytes, img.size, VMIC_DUMP_ELF, VMIC_E_FORMAT, want);
    put32(prs + 4, PRSTATUS_SIZE);

    /* QEMUCPUState: unknown version, size beyond the descriptor, size too small. */
    uint8_t *state = qemu + 20;
    put32(state, 2);
    snprintf(want, sizeof want,
             "QEMU note at offset 0x%" PRIx64 ": QEMUCPUState version 2 is unknown",
             img.first_qemu);
    CHECK_OPEN_FAILS(img.bytes, img.size, VMIC_DUMP_ELF, VMIC_E_UNSUPPORTED, want);
    put32(state, 1);
    put32(state + 4, 441);
    CHECK_OPEN_FAILS(img.bytes, img.size, VMIC_DUMP_ELF, VMIC_E_FORMAT,
                     "QEMUCPUState size 0x1b9 exceeds its descriptor (0x1b8)");
    put32(state + 4, 400);
    CHECK_OPEN_FAILS(img.bytes, img.size, VMIC_DUMP_ELF, VMIC_E_FORMAT,
                     "QEMUCPUState size 0x190 is below 0x1b0");
    put32(state + 4, 440);
    put32(qemu + 4, 4);
    CHECK_OPEN_FAILS(img.bytes, img.size, VMIC_DUMP_ELF, VMIC_E_FORMAT,
                     "too short for version and size");
    put32(qemu + 4, 440);

    /* Renaming the first QEMU note leaves 2 NT_PRSTATUS but 1 QEMU note. */
    memcpy(qemu + 12, "QEMX", 4);
    CHECK_OPEN_FAILS(img.bytes, img.size, VMIC_DUMP_ELF, VMIC_E_FORMAT,
                     "2 NT_PRSTATUS notes but 1 QEMU notes");
    memcpy(qemu + 12, "QEMU", 4);

    /* Sanity: the repaired image opens. */
    vmic_driver *d;
    CHECK_OK(vmic_dump_open_buffer(img.bytes, img.size, VMIC_DUMP_ELF, "core.elf", &d));
    vmic_driver_close(d);
    free(img.bytes);
}

/* Notes of unknown names and types are skipped, whatever their content. */
static void test_elf_unknown_notes_skipped(void)
{
    vmic_driver *d;

    /* Only an NT_X86_XSTATE "LINUX" note: memory opens, no registers. */
    elf_spec_t spec = {.loads = std_loads, .nloads = 1, .extra_note = true};
    elf_image_t img = build_elf(&spec);
    CHECK_OK(vmic_dump_open_buffer(img.bytes, img.size, VMIC_DUMP_ELF, "core.elf", &d));
    CHECK_EQ(d->ops->info(d)->vcpu_count, 0);
    vmic_driver_close(d);

    /* Type 1 under another name is not NT_PRSTATUS (its 16 bytes would be too
     * short for one). */
    put32(img.bytes + img.note_offset + 8, 1);
    CHECK_OK(vmic_dump_open_buffer(img.bytes, img.size, VMIC_DUMP_ELF, "core.elf", &d));
    CHECK_EQ(d->ops->info(d)->vcpu_count, 0);
    vmic_driver_close(d);
    free(img.bytes);

    /* "CORE" with another type (NT_PRFPREG) is skipped too. */
    elf_spec_t one = {.loads = std_loads, .nloads = 1, .ncpus = 1, .prstatus = true};
    img = build_elf(&one);
    put32(img.bytes + img.first_prstatus + 8, 2);
    CHECK_OK(vmic_dump_open_buffer(img.bytes, img.size, VMIC_DUMP_ELF, "core.elf", &d));
    CHECK_EQ(d->ops->info(d)->vcpu_count, 0);
    vmic_driver_close(d);
    free(img.bytes);
}

static void test_elf_no_loads(void)
{
    elf_spec_t spec = {.ncpus = 1, .prstatus = true};
    elf_image_t img = build_elf(&spec);
    CHECK_OPEN_FAILS(img.bytes, img.size, VMIC_DUMP_ELF, VMIC_E_FORMAT,
                     "program header table at offset 0x40: no PT_LOAD segment");
    free(img.bytes);
}

/* ---- LiME ------------------------------------------------------------------- */

static void test_lime_good(void)
{
    /* Ranges out of order in the file; one of odd length. */
    static const lime_range_t ranges[] = {
        {0x100000, 0x101fff}, {0x0, 0x9ffff}, {0x200000, 0x200002},
    };
    size_t size;
    uint8_t *b = build_lime(ranges, 3, &size);

    for (int fmt = VMIC_DUMP_AUTO; fmt <= VMIC_DUMP_LIME; fmt += VMIC_DUMP_LIME) {
        vmic_driver *d;
        CHECK_OK(vmic_dump_open_buffer(b, size, (vmic_dump_format)fmt, "mem.lime", &d));
        const vmic_driver_info_t *info = d->ops->info(d);
        CHECK_STR(info->driver, "lime");
        CHECK_EQ(info->caps, VMIC_CAP_READ);
        CHECK_EQ(info->nregions, 3);
        uint64_t second = 32 + 0x2000;
        CHECK(region_is(&info->regions[0], 0, 0xa0000, b + second + 32, second + 32));
        CHECK(region_is(&info->regions[1], 0x100000, 0x2000, b + 32, 32));
        CHECK_EQ(info->regions[2].size, 3);
        CHECK_EQ(info->mem_size, 0xa0000 + 0x2000 + 3);
        CHECK_EQ(info->max_pa.addr, 0x200003);
        CHECK(regions_hold_pattern(info));
        vmic_driver_close(d);
    }

    char *path = write_temp(b, size);
    CHECK(path);
    vmic_driver *d;
    CHECK_OK(vmic_dump_open(path, VMIC_DUMP_AUTO, &d));
    CHECK_EQ(d->ops->info(d)->nregions, 3);
    CHECK(regions_hold_pattern(d->ops->info(d)));
    vmic_driver_close(d);
    unlink(path);
    free(b);
}

static void test_lime_bad(void)
{
    static const lime_range_t ranges[] = {{0x0, 0xfff}, {0x2000, 0x2fff}};
    size_t size;
    uint8_t *b = build_lime(ranges, 2, &size);
    uint8_t *h1 = b + 32 + 0x1000; /* header 1 at 0x1020 */

    /* Explicit LiME on something else. */
    static const uint8_t junk[64] = "not a lime file";
    CHECK_OPEN_FAILS(junk, sizeof junk, VMIC_DUMP_LIME, VMIC_E_FORMAT,
                     "offset 0x0: no LiME magic 0x4c694d45");

    put64(h1 + 16, 0x1fff);
    CHECK_OPEN_FAILS(b, size, VMIC_DUMP_AUTO, VMIC_E_FORMAT,
                     "LiME header 1 at offset 0x1020: end address 0x1fff is below start"
                     " address 0x2000");
    put64(h1 + 8, 0);
    put64(h1 + 16, UINT64_MAX);
    CHECK_OPEN_FAILS(b, size, VMIC_DUMP_AUTO, VMIC_E_FORMAT,
                     "LiME header 1 at offset 0x1020: range [0x0,0xffffffffffffffff] with"
                     " data at offset 0x1040 runs past end of file (size 0x2040)");
    put64(h1 + 8, 0x2000);
    put64(h1 + 16, 0x2fff);
    put32(h1, 0x12345678);
    CHECK_OPEN_FAILS(b, size, VMIC_DUMP_AUTO, VMIC_E_FORMAT,
                     "LiME header 1 at offset 0x1020: magic 0x12345678 is not 0x4c694d45");
    put32(h1, 0x4C694D45);
    put32(h1 + 4, 2);
    CHECK_OPEN_FAILS(b, size, VMIC_DUMP_AUTO, VMIC_E_FORMAT,
                     "LiME header 1 at offset 0x1020: version 2 is not 1");
    put32(h1 + 4, 1);

    /* Truncated: inside header 1, inside range 1's data. */
    CHECK_OPEN_FAILS(b, 0x1020 + 10, VMIC_DUMP_AUTO, VMIC_E_FORMAT,
                     "LiME header 1 at offset 0x1020: truncated, 10 bytes left");
    CHECK_OPEN_FAILS(b, size - 1, VMIC_DUMP_AUTO, VMIC_E_FORMAT,
                     "LiME header 1 at offset 0x1020: range [0x2000,0x2fff]");
    CHECK_OPEN_FAILS(b, 20, VMIC_DUMP_LIME, VMIC_E_FORMAT,
                     "LiME header 0 at offset 0x0: truncated, 20 bytes left");

    /* Overlapping ranges. */
    put64(h1 + 8, 0x800);
    put64(h1 + 16, 0x17ff);
    CHECK_OPEN_FAILS(b, size, VMIC_DUMP_AUTO, VMIC_E_FORMAT,
                     "LiME header 0 at offset 0x0: physical range [0x0,+0x1000) overlaps"
                     " LiME header 1 at offset 0x1020: [0x800,+0x1000)");
    free(b);
}

/* ---- format detection ------------------------------------------------------ */

static void test_auto_detection(void)
{
    /* Neither magic: raw, even when it starts with part of one. */
    static const uint8_t almost_elf[8] = {0x7f, 'E', 'L', 'G'};
    vmic_driver *d;
    CHECK_OK(vmic_dump_open_buffer(almost_elf, sizeof almost_elf, VMIC_DUMP_AUTO, "x", &d));
    CHECK_STR(d->ops->info(d)->driver, "raw");
    vmic_driver_close(d);

    /* A raw dump is whatever it is, even an ELF. */
    elf_image_t img = build_std_elf();
    CHECK_OK(vmic_dump_open_buffer(img.bytes, img.size, VMIC_DUMP_RAW, "x", &d));
    CHECK_STR(d->ops->info(d)->driver, "raw");
    CHECK_EQ(d->ops->info(d)->regions[0].size, img.size);
    vmic_driver_close(d);
    /* ELF requested on LiME bytes fails on the magic. */
    size_t size;
    static const lime_range_t r = {0, 0xff};
    uint8_t *lime = build_lime(&r, 1, &size);
    CHECK_OPEN_FAILS(lime, size, VMIC_DUMP_ELF, VMIC_E_FORMAT, "no ELF magic");
    CHECK_OPEN_FAILS(lime, size, (vmic_dump_format)42, VMIC_E_INVAL, "unknown dump format 42");
    free(lime);
    free(img.bytes);
}

int main(void)
{
    RUN(test_raw_buffer);
    RUN(test_raw_file);
    RUN(test_empty);
    RUN(test_missing_file);
    RUN(test_elf_good);
    RUN(test_elf_file);
    RUN(test_elf_prstatus_only);
    RUN(test_elf_qemu_note_432);
    RUN(test_elf_no_notes);
    RUN(test_elf_memsz_beyond_filesz);
    RUN(test_elf_unsorted_and_empty_loads);
    RUN(test_elf_adjacent_not_merged);
    RUN(test_elf_bad_identity);
    RUN(test_elf_truncated);
    RUN(test_elf_overlap);
    RUN(test_elf_bad_load_fields);
    RUN(test_elf_too_many_phdrs);
    RUN(test_elf_pn_xnum);
    RUN(test_elf_bad_notes);
    RUN(test_elf_unknown_notes_skipped);
    RUN(test_elf_no_loads);
    RUN(test_lime_good);
    RUN(test_lime_bad);
    RUN(test_auto_detection);
    return HARNESS_RESULT();
}
