/*
 * Loading a guest: an ELF64 x86-64 executable, each PT_LOAD segment copied to
 * its physical address (p_paddr), and what a vCPU needs to enter it in 64-bit
 * long mode. The image is hostile input: every offset and size is checked
 * against the file and against guest RAM.
 *
 * The boot protocol: vmic builds page tables and a GDT at the top of RAM
 * (RAM mapped 1:1 with 2 MiB pages, every segment whose virtual address
 * differs mapped there with 4 KiB pages), and each vCPU starts at e_entry
 * with rdi = its number, rsi = RAM size, rsp = a small stack of its own, and
 * interrupts off. The guest may keep these tables or load its own.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm.h"

#define IMAGE_MAX_BYTES (256u << 20)
#define BOOT_STACK_PAGES 2
#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_PS 0x80ull
#define GIB (1ull << 30)
#define MIB2 (2ull << 20)

/* ---- reading the file ---------------------------------------------------------------- */

static vmic_status read_file(const char *path, uint8_t **buf, size_t *len)
{
    /* O_NONBLOCK: a FIFO named as the image must not wait for a writer; it is
     * refused below, as anything but a regular file is. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;

    if (fd < 0)
        return vmic_fail(VMIC_E_IO, "%s: cannot open the guest image: %s", path, strerror(errno));
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        close(fd);
        return vmic_fail(VMIC_E_IO, "%s: not a regular file (a FIFO, device or directory "
                         "cannot be a guest image)", path);
    }
    if (fstat(fd, &st) < 0 || st.st_size <= 0 || (uint64_t)st.st_size > IMAGE_MAX_BYTES) {
        close(fd);
        return vmic_fail(VMIC_E_FORMAT, "%s: empty, unreadable or larger than %u MiB", path,
                         IMAGE_MAX_BYTES >> 20);
    }
    *len = (size_t)st.st_size;
    *buf = malloc(*len);
    if (!*buf) {
        close(fd);
        return vmic_fail(VMIC_E_NOMEM, "%s: no memory to read the image", path);
    }
    size_t got = 0;
    while (got < *len) {
        ssize_t n = read(fd, *buf + got, *len - got);
        if (n <= 0) {
            close(fd);
            free(*buf);
            return vmic_fail(VMIC_E_IO, "%s: read failed at offset %zu", path, got);
        }
        got += (size_t)n;
    }
    close(fd);
    return VMIC_OK;
}

static bool in_file(size_t len, uint64_t off, uint64_t size)
{
    return off <= len && size <= len - off;
}

static vmic_status check_header(const char *path, const uint8_t *buf, size_t len)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;

    if (len < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
        return vmic_fail(VMIC_E_FORMAT, "%s: not an ELF file", path);
    if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
        eh->e_machine != EM_X86_64)
        return vmic_fail(VMIC_E_FORMAT, "%s: not a little-endian ELF64 x86-64 image", path);
    if (eh->e_type != ET_EXEC)
        return vmic_fail(VMIC_E_FORMAT, "%s: ELF type %u, expected an executable (ET_EXEC)",
                         path, eh->e_type);
    if (eh->e_phentsize != sizeof(Elf64_Phdr) ||
        !in_file(len, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
        return vmic_fail(VMIC_E_FORMAT, "%s: program headers at offset 0x%llx lie outside the "
                         "file", path, (unsigned long long)eh->e_phoff);
    return VMIC_OK;
}

/* ---- segments --------------------------------------------------------------------- */

static vmic_status load_segments(kvm_vm *vm, const char *path, const uint8_t *buf, size_t len)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(buf + eh->e_phoff);
    uint64_t ram = vm->ram_pages << VMIC_PAGE_SHIFT;
    kvm_image *img = &vm->image;

    img->segs = calloc(eh->e_phnum ? eh->e_phnum : 1, sizeof *img->segs);
    if (!img->segs)
        return vmic_fail(VMIC_E_NOMEM, "%s: no memory for the segment list", path);
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *p = &ph[i];
        if (p->p_type != PT_LOAD || p->p_memsz == 0)
            continue;
        if (p->p_filesz > p->p_memsz || !in_file(len, p->p_offset, p->p_filesz))
            return vmic_fail(VMIC_E_FORMAT, "%s: segment %u (offset 0x%llx, 0x%llx bytes) lies "
                             "outside the file", path, i, (unsigned long long)p->p_offset,
                             (unsigned long long)p->p_filesz);
        if (p->p_paddr >= ram || p->p_memsz > ram - p->p_paddr)
            return vmic_fail(VMIC_E_RANGE, "%s: segment %u at pa 0x%llx+0x%llx does not fit in "
                             "%llu MiB of RAM", path, i, (unsigned long long)p->p_paddr,
                             (unsigned long long)p->p_memsz, (unsigned long long)(ram >> 20));
        /* Its va range must end below 2^64, or mapping it page by page would
         * wrap to va 0 and never reach the end. */
        if (p->p_memsz > UINT64_MAX - p->p_vaddr)
            return vmic_fail(VMIC_E_FORMAT, "%s: segment %u at va 0x%llx+0x%llx ends past the "
                             "top of the address space", path, i,
                             (unsigned long long)p->p_vaddr, (unsigned long long)p->p_memsz);
        memcpy(vm->mem + p->p_paddr, buf + p->p_offset, p->p_filesz);
        memset(vm->mem + p->p_paddr + p->p_filesz, 0, p->p_memsz - p->p_filesz);
        img->segs[img->nsegs++] = (kvm_segment_map){p->p_vaddr, p->p_paddr, p->p_memsz};
    }
    if (img->nsegs == 0)
        return vmic_fail(VMIC_E_FORMAT, "%s: no loadable segment", path);
    img->entry = eh->e_entry;
    return VMIC_OK;
}

bool image_va_to_pa(const kvm_image *img, uint64_t va, uint64_t *pa)
{
    for (size_t i = 0; i < img->nsegs; i++) {
        const kvm_segment_map *s = &img->segs[i];
        if (va >= s->vaddr && va - s->vaddr < s->memsz) {
            *pa = s->paddr + (va - s->vaddr);
            return true;
        }
    }
    return false;
}

/* ---- symbols ---------------------------------------------------------------------- */

static int cmp_symbol(const void *a, const void *b)
{
    return strcmp(((const kvm_symbol *)a)->name, ((const kvm_symbol *)b)->name);
}

/* The symbol table is optional: a stripped image loads, it has no names. */
static vmic_status load_symbols(kvm_vm *vm, const uint8_t *buf, size_t len)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;
    kvm_image *img = &vm->image;

    if (eh->e_shentsize != sizeof(Elf64_Shdr) ||
        !in_file(len, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))
        return VMIC_OK;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(buf + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum ||
            sh[i].sh_entsize != sizeof(Elf64_Sym) || !in_file(len, sh[i].sh_offset, sh[i].sh_size))
            continue;
        const Elf64_Shdr *strs = &sh[sh[i].sh_link];
        if (!in_file(len, strs->sh_offset, strs->sh_size))
            continue;
        const Elf64_Sym *sym = (const Elf64_Sym *)(buf + sh[i].sh_offset);
        const char *names = (const char *)(buf + strs->sh_offset);
        size_t n = sh[i].sh_size / sizeof *sym;
        img->syms = calloc(n ? n : 1, sizeof *img->syms);
        if (!img->syms)
            return vmic_fail(VMIC_E_NOMEM, "no memory for the image's symbols");
        for (size_t k = 0; k < n; k++) {
            if (sym[k].st_name == 0 || sym[k].st_name >= strs->sh_size ||
                sym[k].st_shndx == SHN_UNDEF)
                continue;
            const char *name = names + sym[k].st_name;
            size_t max = strs->sh_size - sym[k].st_name;
            size_t nlen = strnlen(name, max);
            if (nlen == max)
                continue; /* not terminated inside the table */
            char *copy = strndup(name, nlen);
            if (!copy)
                return vmic_fail(VMIC_E_NOMEM, "no memory for the image's symbols");
            img->syms[img->nsyms++] = (kvm_symbol){copy, sym[k].st_value};
        }
        qsort(img->syms, img->nsyms, sizeof *img->syms, cmp_symbol);
        break;
    }
    return VMIC_OK;
}

const kvm_symbol *image_symbol(const kvm_image *img, const char *name)
{
    kvm_symbol key = {.name = (char *)name};
    return img->nsyms ? bsearch(&key, img->syms, img->nsyms, sizeof key, cmp_symbol) : NULL;
}

vmic_status image_load(kvm_vm *vm, const char *path)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    vmic_status s = read_file(path, &buf, &len);
    if (s)
        return s;
    if (!(s = check_header(path, buf, len)) && !(s = load_segments(vm, path, buf, len)))
        s = load_symbols(vm, buf, len);
    free(buf);
    return s;
}

void image_free(kvm_image *img)
{
    for (size_t i = 0; i < img->nsyms; i++)
        free(img->syms[i].name);
    free(img->syms);
    free(img->segs);
    memset(img, 0, sizeof *img);
}

/* ---- boot page tables, GDT, stacks -------------------------------------------------- */

/* Pages handed out from the boot area, downwards from the top of RAM. */
typedef struct boot_area {
    kvm_vm *vm;
    uint64_t next;     /* pa of the next free page, going down */
    uint64_t floor;    /* lowest pa it may use */
} boot_area;

static vmic_status boot_page(boot_area *b, uint64_t *pa)
{
    if (b->next < b->floor + VMIC_PAGE_SIZE)
        return vmic_fail(VMIC_E_RANGE, "kvm: the boot page tables do not fit in RAM");
    b->next -= VMIC_PAGE_SIZE;
    memset(b->vm->mem + b->next, 0, VMIC_PAGE_SIZE);
    *pa = b->next;
    return VMIC_OK;
}

static uint64_t *table_at(kvm_vm *vm, uint64_t pa)
{
    return (uint64_t *)(vm->mem + pa);
}

/* The next-level table under entry e, made if absent. */
static vmic_status next_table(boot_area *b, uint64_t *e, uint64_t *pa)
{
    if (*e & PTE_PS)
        return vmic_fail(VMIC_E_FORMAT, "kvm: a segment's virtual range overlaps the 1:1 map "
                         "of RAM at a different physical address");
    if (!(*e & PTE_P)) {
        vmic_status s = boot_page(b, pa);
        if (s)
            return s;
        *e = *pa | PTE_P | PTE_RW;
    }
    *pa = *e & 0x000ffffffffff000ull;
    return VMIC_OK;
}

static vmic_status map_4k(boot_area *b, vmic_pa_t pml4, vmic_va_t va, vmic_pa_t pa)
{
    static const int shifts[] = {39, 30, 21};
    uint64_t table = pml4.addr;
    vmic_status s;

    for (int i = 0; i < 3; i++) {
        uint64_t *e = &table_at(b->vm, table)[(va.addr >> shifts[i]) & 511];
        if ((s = next_table(b, e, &table)))
            return s;
    }
    table_at(b->vm, table)[(va.addr >> 12) & 511] = pa.addr | PTE_P | PTE_RW;
    return VMIC_OK;
}

static vmic_status map_identity(boot_area *b, uint64_t pml4, uint64_t ram)
{
    uint64_t pdpt = 0, pd = 0;
    vmic_status s;

    if ((s = boot_page(b, &pdpt)))
        return s;
    table_at(b->vm, pml4)[0] = pdpt | PTE_P | PTE_RW;
    for (uint64_t gib = 0; gib * GIB < ram; gib++) {
        if ((s = boot_page(b, &pd)))
            return s;
        table_at(b->vm, pdpt)[gib] = pd | PTE_P | PTE_RW;
        for (uint64_t i = 0; i < 512 && gib * GIB + i * MIB2 < ram; i++)
            table_at(b->vm, pd)[i] = (gib * GIB + i * MIB2) | PTE_P | PTE_RW | PTE_PS;
    }
    return VMIC_OK;
}

static vmic_status map_segments(boot_area *b, uint64_t pml4)
{
    const kvm_image *img = &b->vm->image;
    for (size_t i = 0; i < img->nsegs; i++) {
        const kvm_segment_map *seg = &img->segs[i];
        if (seg->vaddr == seg->paddr)
            continue;
        /* Counted in pages rather than compared with an end address: the
         * segment may end in the top page, where va += 4 KiB wraps to 0. */
        uint64_t first = seg->vaddr & VMIC_PAGE_MASK;
        uint64_t pages = (seg->vaddr - first + seg->memsz + VMIC_PAGE_SIZE - 1) >> VMIC_PAGE_SHIFT;
        for (uint64_t n = 0; n < pages; n++) {
            uint64_t va = first + (n << VMIC_PAGE_SHIFT);
            vmic_status s = map_4k(b, vmic_pa(pml4), vmic_va(va), vmic_pa(seg->paddr - (seg->vaddr - va)));
            if (s)
                return s;
        }
    }
    return VMIC_OK;
}

/* Lowest pa the boot area may reach: above every segment. */
static uint64_t segments_top(const kvm_image *img)
{
    uint64_t top = 0;
    for (size_t i = 0; i < img->nsegs; i++)
        if (img->segs[i].paddr + img->segs[i].memsz > top)
            top = img->segs[i].paddr + img->segs[i].memsz;
    return (top + VMIC_PAGE_SIZE - 1) & VMIC_PAGE_MASK;
}

/* Where the boot structures sit, top of RAM downwards: a stack per vCPU, the
 * GDT, the PML4, then the other tables as they are needed. */
typedef struct boot_layout {
    uint64_t pml4, gdt, stacks;
} boot_layout;

static boot_layout boot_layout_of(const kvm_vm *vm)
{
    uint64_t top = vm->ram_pages << VMIC_PAGE_SHIFT;
    boot_layout at;
    at.stacks = top - (uint64_t)vm->nvcpus * BOOT_STACK_PAGES * VMIC_PAGE_SIZE;
    at.gdt = at.stacks - VMIC_PAGE_SIZE;
    at.pml4 = at.gdt - VMIC_PAGE_SIZE;
    return at;
}

vmic_status boot_prepare(kvm_vm *vm)
{
    boot_layout at = boot_layout_of(vm);
    uint64_t floor = segments_top(&vm->image);
    uint64_t ram = vm->ram_pages << VMIC_PAGE_SHIFT;

    if (at.pml4 < floor + VMIC_PAGE_SIZE)
        return vmic_fail(VMIC_E_RANGE, "kvm: the image reaches pa 0x%llx, where vmic puts its "
                         "boot page tables: give the VM more memory",
                         (unsigned long long)floor);
    memset(vm->mem + at.pml4, 0, ram - at.pml4);
    uint64_t *gdt = table_at(vm, at.gdt);
    gdt[1] = 0x00af9b000000ffffull; /* 0x08: 64-bit code, DPL 0 */
    gdt[2] = 0x00cf93000000ffffull; /* 0x10: data, DPL 0 */
    gdt[3] = 0x00008b0000000067ull; /* 0x18: 64-bit TSS (busy), base 0 */

    boot_area b = {.vm = vm, .next = at.pml4, .floor = floor};
    vmic_status s = map_identity(&b, at.pml4, ram);
    if (s == VMIC_OK)
        s = map_segments(&b, at.pml4);
    return s;
}

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, bool code)
{
    struct kvm_segment s = {.base = 0, .limit = 0xffffffff, .selector = selector, .type = type,
                            .present = 1, .dpl = 0, .s = 1, .g = 1};
    s.l = code;
    s.db = !code;
    return s;
}

vmic_status boot_vcpu(kvm_vm *vm, kvm_vcpu *v)
{
    boot_layout at = boot_layout_of(vm);
    struct kvm_sregs sr;
    struct kvm_regs r;

    if (ioctl(v->fd, KVM_GET_SREGS, &sr) < 0)
        return vmic_fail(VMIC_E_IO, "kvm: KVM_GET_SREGS on vCPU %u: %s", v->index, strerror(errno));
    sr.cs = flat_segment(0x08, 0xb, true);
    sr.ds = sr.es = sr.fs = sr.gs = sr.ss = flat_segment(0x10, 0x3, false);
    sr.tr = (struct kvm_segment){.selector = 0x18, .limit = 0x67, .type = 0xb, .present = 1};
    sr.ldt = (struct kvm_segment){.type = 0x2, .present = 1, .unusable = 1};
    sr.gdt.base = at.gdt;
    sr.gdt.limit = 4 * 8 - 1;
    sr.idt.base = 0;
    sr.idt.limit = 0;
    sr.cr3 = at.pml4;
    sr.cr4 = 0x620;      /* PAE, OSFXSR, OSXMMEXCPT */
    sr.cr0 = 0x80050033; /* PG, AM, WP, NE, ET, MP, PE */
    sr.efer = 0xd01;     /* NXE, LMA, LME, SCE */
    if (ioctl(v->fd, KVM_SET_SREGS, &sr) < 0)
        return vmic_fail(VMIC_E_IO, "kvm: entering long mode on vCPU %u (KVM_SET_SREGS): %s",
                         v->index, strerror(errno));
    memset(&r, 0, sizeof r);
    r.rip = vm->image.entry;
    r.rflags = 0x2;
    r.rdi = v->index;
    r.rsi = vm->ram_pages << VMIC_PAGE_SHIFT;
    r.rsp = at.stacks + (uint64_t)(v->index + 1) * BOOT_STACK_PAGES * VMIC_PAGE_SIZE;
    if (ioctl(v->fd, KVM_SET_REGS, &r) < 0)
        return vmic_fail(VMIC_E_IO, "kvm: KVM_SET_REGS on vCPU %u: %s", v->index, strerror(errno));
    return VMIC_OK;
}
