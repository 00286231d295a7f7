/*
 * The kvm driver's image loader on hand-built ELF files, good and hostile:
 * segments land at their physical addresses, symbols resolve, the boot page
 * tables map RAM 1:1 and each segment at its virtual address; truncated,
 * wrong-class, out-of-file and out-of-RAM images fail with a message naming
 * what is wrong. No KVM needed: the loader runs on a VM's memory only.
 */
#include <elf.h>
#include <stdlib.h>
#include <unistd.h>

#include "drivers/kvm/kvm.h"
#include "harness.h"

#define RAM (16u << 20)
#define KVA 0xffffffff80000000ull

typedef struct elf_spec {
    uint16_t machine;
    uint8_t cls;
    uint64_t paddr, vaddr, filesz, memsz, offset;
    bool symbols, bad_name;
} elf_spec;

static const uint8_t payload[16] = {0xc3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

/* An executable with one PT_LOAD of `payload`, optionally a symbol table with
 * "entry" and "data" (or a name running off its string table). */
static size_t build_elf(const elf_spec *sp, uint8_t *out)
{
    const size_t data_off = 0x1000, str_off = 0x1100, sym_off = 0x1200, sh_off = 0x1300;
    static const char strtab[] = "\0entry\0data";
    Elf64_Ehdr *eh = (Elf64_Ehdr *)out;
    Elf64_Phdr *ph = (Elf64_Phdr *)(out + sizeof *eh);

    memset(out, 0, 0x2000);
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = sp->cls ? sp->cls : ELFCLASS64;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_type = ET_EXEC;
    eh->e_machine = sp->machine ? sp->machine : EM_X86_64;
    eh->e_entry = sp->vaddr;
    eh->e_phoff = sizeof *eh;
    eh->e_phentsize = sizeof *ph;
    eh->e_phnum = 1;
    eh->e_shentsize = sizeof(Elf64_Shdr);
    ph->p_type = PT_LOAD;
    ph->p_offset = sp->offset ? sp->offset : data_off;
    ph->p_paddr = sp->paddr;
    ph->p_vaddr = sp->vaddr;
    ph->p_filesz = sp->filesz;
    ph->p_memsz = sp->memsz;
    memcpy(out + data_off, payload, sizeof payload);
    if (!sp->symbols)
        return 0x1400;

    memcpy(out + str_off, strtab, sizeof strtab);
    Elf64_Sym *sym = (Elf64_Sym *)(out + sym_off);
    sym[1] = (Elf64_Sym){.st_name = 1, .st_shndx = 1, .st_value = sp->vaddr};
    sym[2] = (Elf64_Sym){.st_name = sp->bad_name ? 0x4000 : 7, .st_shndx = 1,
                         .st_value = sp->vaddr + 8};
    Elf64_Shdr *sh = (Elf64_Shdr *)(out + sh_off);
    sh[1] = (Elf64_Shdr){.sh_type = SHT_STRTAB, .sh_offset = str_off, .sh_size = sizeof strtab};
    sh[2] = (Elf64_Shdr){.sh_type = SHT_SYMTAB, .sh_offset = sym_off, .sh_size = 3 * sizeof *sym,
                         .sh_link = 1, .sh_entsize = sizeof *sym};
    eh->e_shoff = sh_off;
    eh->e_shnum = 3;
    return 0x1400;
}

typedef struct fake_vm {
    kvm_vm vm;
    char path[64];
} fake_vm;

static fake_vm *fake_open(void)
{
    fake_vm *f = calloc(1, sizeof *f);
    f->vm.mem = calloc(1, RAM);
    f->vm.ram_pages = RAM >> VMIC_PAGE_SHIFT;
    f->vm.nvcpus = 2;
    strcpy(f->path, "/tmp/vmic-loader-XXXXXX");
    int fd = mkstemp(f->path);
    if (fd >= 0)
        close(fd);
    return f;
}

static void fake_close(fake_vm *f)
{
    unlink(f->path);
    image_free(&f->vm.image);
    free(f->vm.mem);
    free(f);
}

static vmic_status load(fake_vm *f, const uint8_t *bytes, size_t len)
{
    FILE *fp = fopen(f->path, "wb");
    if (!fp || fwrite(bytes, 1, len, fp) != len) {
        if (fp)
            fclose(fp);
        return vmic_fail(VMIC_E_IO, "cannot write the test image");
    }
    fclose(fp);
    image_free(&f->vm.image);
    return image_load(&f->vm, f->path);
}

static const uint64_t *read_table(void *ctx, vmic_pa_t table)
{
    kvm_vm *vm = ctx;
    return table.addr < RAM ? (const uint64_t *)(vm->mem + table.addr) : NULL;
}

static uint8_t image[0x2000];

static void test_good_image(void)
{
    fake_vm *f = fake_open();
    elf_spec sp = {.paddr = 0x100000, .vaddr = KVA + 0x100000, .filesz = 16, .memsz = 0x2000,
                   .symbols = true};
    size_t len = build_elf(&sp, image);
    vmic_va_t va;
    vmic_pa_t pa;
    uint64_t p;
    vmic_translation_t t;
    vmic_paging_t pg = vmic_paging_default();

    f->vm.mem[0x100000 + 0x1000] = 0xaa; /* inside memsz: must be zeroed */
    CHECK_OK(load(f, image, len));
    CHECK(memcmp(f->vm.mem + 0x100000, payload, sizeof payload) == 0);
    CHECK_EQ(f->vm.mem[0x101000], 0);
    CHECK_EQ(f->vm.image.entry, KVA + 0x100000);
    const kvm_symbol *s = image_symbol(&f->vm.image, "data");
    CHECK(s && s->value == KVA + 0x100008);
    CHECK(image_symbol(&f->vm.image, "nope") == NULL);
    CHECK(image_va_to_pa(&f->vm.image, KVA + 0x100008, &p) && p == 0x100008);
    CHECK(!image_va_to_pa(&f->vm.image, KVA + 0x200000, &p));
    (void)va, (void)pa;

    /* The boot tables: the segment at its virtual address, RAM 1:1. */
    CHECK_OK(boot_prepare(&f->vm));
    uint64_t pml4 = RAM - 2 * 2 * VMIC_PAGE_SIZE - 2 * VMIC_PAGE_SIZE;
    CHECK_OK(vmic_amd64_walk(&pg, vmic_pa(pml4), vmic_va(KVA + 0x101234), read_table, &f->vm, &t));
    CHECK_EQ(t.pa.addr, 0x101234);
    CHECK_OK(vmic_amd64_walk(&pg, vmic_pa(pml4), vmic_va(0xabcdef), read_table, &f->vm, &t));
    CHECK_EQ(t.pa.addr, 0xabcdef);
    CHECK_ERR(vmic_amd64_walk(&pg, vmic_pa(pml4), vmic_va(RAM + 0x200000), read_table, &f->vm, &t),
              VMIC_E_TRANSLATE);
    fake_close(f);
}

static void test_hostile_images(void)
{
    fake_vm *f = fake_open();
    elf_spec good = {.paddr = 0x100000, .vaddr = KVA + 0x100000, .filesz = 16, .memsz = 16};
    size_t len;
    elf_spec sp;

    CHECK_ERR(load(f, (const uint8_t *)"", 0), VMIC_E_FORMAT);
    static const uint8_t not_elf[80] = "MZ\x90\x00 a DOS header, not an ELF file";
    CHECK_ERR(load(f, not_elf, sizeof not_elf), VMIC_E_FORMAT);
    CHECK_ERRMSG("not an ELF");

    sp = good, sp.cls = ELFCLASS32;
    len = build_elf(&sp, image);
    CHECK_ERR(load(f, image, len), VMIC_E_FORMAT);
    CHECK_ERRMSG("ELF64");

    sp = good, sp.machine = EM_AARCH64;
    len = build_elf(&sp, image);
    CHECK_ERR(load(f, image, len), VMIC_E_FORMAT);

    len = build_elf(&good, image);
    ((Elf64_Ehdr *)image)->e_phoff = 0x7ffffff0;
    CHECK_ERR(load(f, image, len), VMIC_E_FORMAT);
    CHECK_ERRMSG("program headers");

    sp = good, sp.offset = 0x1ff8; /* 16 bytes from 8 before the end */
    len = build_elf(&sp, image);
    CHECK_ERR(load(f, image, len), VMIC_E_FORMAT);
    CHECK_ERRMSG("outside the file");

    sp = good, sp.filesz = 32, sp.memsz = 16;
    len = build_elf(&sp, image);
    CHECK_ERR(load(f, image, len), VMIC_E_FORMAT);

    sp = good, sp.paddr = RAM - 8;
    len = build_elf(&sp, image);
    CHECK_ERR(load(f, image, len), VMIC_E_RANGE);
    CHECK_ERRMSG("does not fit");

    sp = good, sp.paddr = UINT64_MAX - 4;
    len = build_elf(&sp, image);
    CHECK_ERR(load(f, image, len), VMIC_E_RANGE);

    /* A symbol name beyond its string table: that symbol is dropped. */
    sp = good, sp.symbols = true, sp.bad_name = true;
    len = build_elf(&sp, image);
    CHECK_OK(load(f, image, len));
    CHECK(image_symbol(&f->vm.image, "entry") != NULL);
    CHECK_EQ(f->vm.image.nsyms, 1);

    /* An image reaching where the boot tables go. */
    sp = good, sp.paddr = RAM - 0x3000, sp.vaddr = RAM - 0x3000;
    len = build_elf(&sp, image);
    CHECK_OK(load(f, image, len));
    CHECK_ERR(boot_prepare(&f->vm), VMIC_E_RANGE);
    CHECK_ERRMSG("boot page tables");
    fake_close(f);
}

int main(void)
{
    RUN(test_good_image);
    RUN(test_hostile_images);
    return HARNESS_RESULT();
}
