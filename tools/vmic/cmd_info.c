/* vmic info: what a target is, its memory layout, vCPUs and registers. */
#include <inttypes.h>
#include <stdlib.h>

#include "cli_space.h"

typedef struct named_u64 {
    const char *name;
    uint64_t value;
} named_u64;

#define GPRS(r)                                                                   \
    {"rax", (r)->rax}, {"rbx", (r)->rbx}, {"rcx", (r)->rcx}, {"rdx", (r)->rdx},   \
    {"rsi", (r)->rsi}, {"rdi", (r)->rdi}, {"rbp", (r)->rbp}, {"rsp", (r)->rsp},   \
    {"r8", (r)->r8}, {"r9", (r)->r9}, {"r10", (r)->r10}, {"r11", (r)->r11},       \
    {"r12", (r)->r12}, {"r13", (r)->r13}, {"r14", (r)->r14}, {"r15", (r)->r15},   \
    {"rip", (r)->rip}, {"rflags", (r)->rflags}

#define CRS(r) {"cr0", (r)->cr0}, {"cr2", (r)->cr2}, {"cr3", (r)->cr3}, {"cr4", (r)->cr4}

#define MSRS(r)                                                                   \
    {"star", (r)->star}, {"lstar", (r)->lstar}, {"cstar", (r)->cstar},            \
    {"sfmask", (r)->sfmask}, {"kernel_gs_base", (r)->kernel_gs_base},             \
    {"sysenter_cs", (r)->sysenter_cs}, {"sysenter_esp", (r)->sysenter_esp},       \
    {"sysenter_eip", (r)->sysenter_eip}, {"pat", (r)->pat}

typedef struct named_seg {
    const char *name;
    const vmic_amd64_segment_t *seg;
} named_seg;

#define SEGS(r)                                                                   \
    {"cs", &(r)->cs}, {"ss", &(r)->ss}, {"ds", &(r)->ds}, {"es", &(r)->es},       \
    {"fs", &(r)->fs}, {"gs", &(r)->gs}, {"tr", &(r)->tr}, {"ldtr", &(r)->ldtr}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void print_u64_rows(const named_u64 *v, size_t n, size_t per_row)
{
    for (size_t i = 0; i < n; i++)
        printf("%s%-6s %016" PRIx64 "%s", i % per_row ? "  " : "  ", v[i].name, v[i].value,
               (i % per_row == per_row - 1 || i == n - 1) ? "\n" : "");
}

static void print_regs_table(unsigned vcpu, const vmic_amd64_regs_t *r)
{
    printf("\nvCPU %u\n", vcpu);
    if (r->valid & VMIC_REGS_GPR) {
        named_u64 g[] = {GPRS(r)};
        print_u64_rows(g, COUNT(g), 4);
    }
    if (r->valid & VMIC_REGS_CR) {
        named_u64 c[] = {CRS(r)};
        print_u64_rows(c, COUNT(c), 4);
    }
    if (r->valid & VMIC_REGS_EFER)
        printf("  efer   %016" PRIx64 "\n", r->efer);
    if (r->valid & VMIC_REGS_SEG) {
        /* Limits, attributes, TR and LDTR come with the descriptor tables
         * (QEMU's ELF notes); ELF NT_PRSTATUS and the gdbstub give only
         * selectors and the fs/gs bases: print no zeros for the rest. */
        bool full = r->valid & VMIC_REGS_DT;
        named_seg s[] = {SEGS(r)};
        for (size_t i = 0; i < COUNT(s) - (full ? 0 : 2); i++) {
            printf("  %-4s   sel %04x base %016" PRIx64, s[i].name, s[i].seg->selector,
                   s[i].seg->base);
            if (full)
                printf(" limit %08x attr %04x", s[i].seg->limit, s[i].seg->attr);
            printf("\n");
        }
    }
    if (r->valid & VMIC_REGS_DT)
        printf("  gdtr   %016" PRIx64 "/%04x  idtr %016" PRIx64 "/%04x\n", r->gdtr.base,
               r->gdtr.limit, r->idtr.base, r->idtr.limit);
    if (r->valid & VMIC_REGS_MSR) {
        named_u64 m[] = {MSRS(r)};
        print_u64_rows(m, COUNT(m), 3);
    }
}

static void json_regs(json *j, const vmic_amd64_regs_t *r)
{
    if (r->valid & VMIC_REGS_GPR) {
        named_u64 g[] = {GPRS(r)};
        for (size_t i = 0; i < COUNT(g); i++)
            json_hex(j, g[i].name, g[i].value);
    }
    if (r->valid & VMIC_REGS_CR) {
        named_u64 c[] = {CRS(r)};
        for (size_t i = 0; i < COUNT(c); i++)
            json_hex(j, c[i].name, c[i].value);
    }
    if (r->valid & VMIC_REGS_EFER)
        json_hex(j, "efer", r->efer);
    if (r->valid & VMIC_REGS_SEG) {
        bool full = r->valid & VMIC_REGS_DT;   /* as in print_regs_table */
        named_seg s[] = {SEGS(r)};
        for (size_t i = 0; i < COUNT(s) - (full ? 0 : 2); i++) {
            json_object_begin(j, s[i].name);
            json_hex(j, "selector", s[i].seg->selector);
            json_hex(j, "base", s[i].seg->base);
            if (full) {
                json_hex(j, "limit", s[i].seg->limit);
                json_hex(j, "attr", s[i].seg->attr);
            }
            json_object_end(j);
        }
    }
    if (r->valid & VMIC_REGS_DT) {
        json_object_begin(j, "gdtr");
        json_hex(j, "base", r->gdtr.base);
        json_hex(j, "limit", r->gdtr.limit);
        json_object_end(j);
        json_object_begin(j, "idtr");
        json_hex(j, "base", r->idtr.base);
        json_hex(j, "limit", r->idtr.limit);
        json_object_end(j);
    }
    if (r->valid & VMIC_REGS_MSR) {
        named_u64 m[] = {MSRS(r)};
        for (size_t i = 0; i < COUNT(m); i++)
            json_hex(j, m[i].name, m[i].value);
    }
}

static void print_table(vmic_core *core)
{
    const vmic_driver_info_t *info = vmic_core_info(core);
    vmic_paging_t pg = vmic_core_paging(core);
    char caps[256], size[32];

    vmic_caps_describe(info->caps, caps, sizeof caps);
    printf("target    %s\n", info->source);
    printf("driver    %s\n", info->driver);
    printf("caps      %s\n", caps);
    printf("memory    %s in %zu region%s\n", cli_size(info->mem_size, size, sizeof size),
           info->nregions, info->nregions == 1 ? "" : "s");
    for (size_t i = 0; i < info->nregions; i++) {
        const vmic_mem_region_t *r = &info->regions[i];
        printf("          %016" PRIx64 "-%016" PRIx64 "  %10s", r->start.addr,
               r->start.addr + r->size - 1, cli_size(r->size, size, sizeof size));
        if (r->file_offset != UINT64_MAX)
            printf("  file offset 0x%" PRIx64, r->file_offset);
        printf("\n");
    }
    printf("paging    %d-level, NX %s, %u-bit physical\n", (int)pg.mode, pg.nxe ? "on" : "off",
           pg.maxphyaddr);
    printf("vcpus     %u\n", info->vcpu_count);
    if (info->plugin)
        printf("plugin    %s\n", info->flags & VMIC_DRIVER_INFO_PLUGIN ? info->plugin
                                                                 : "none");
    if (info->plugin && !(info->flags & VMIC_DRIVER_INFO_PLUGIN))
        printf("          (%s)\n", info->plugin);
}

static void json_kernel(json *j, vmic_os *os)
{
    const vmic_os_kernel_t *k = vmic_os_kernel(os);
    json_object_begin(j, "kernel");
    json_str(j, "banner", k->banner);
    json_hex(j, "text", k->text.addr);
    json_hex(j, "slide", k->slide);
    json_hex(j, "root", k->root.addr);
    json_str(j, "symbols", k->symbols);
    json_str(j, "types", k->types);
    json_object_end(j);
}

static void print_kernel(vmic_os *os)
{
    const vmic_os_kernel_t *k = vmic_os_kernel(os);
    printf("kernel    %s\n", k->banner);
    printf("          _text 0x%" PRIx64 ", KASLR slide 0x%" PRIx64 ", root 0x%" PRIx64
           ", symbols %s, types %s\n", k->text.addr, k->slide, k->root.addr, k->symbols,
           k->types);
}

static int print_json(vmic_core *core, const char *cmd, vmic_os *os)
{
    const vmic_driver_info_t *info = vmic_core_info(core);
    vmic_paging_t pg = vmic_core_paging(core);
    char caps[256];
    json j;

    vmic_caps_describe(info->caps, caps, sizeof caps);
    json_init(&j, stdout);
    json_object_begin(&j, NULL);
    json_str(&j, "target", info->source);
    json_str(&j, "driver", info->driver);
    json_str(&j, "caps", caps);
    json_u64(&j, "memory_size", info->mem_size);
    json_hex(&j, "max_pa", info->max_pa.addr);
    if (info->plugin) {
        /* qemu: vmic's QEMU plugin; path when present, note when not. */
        bool has = info->flags & VMIC_DRIVER_INFO_PLUGIN;
        json_object_begin(&j, "plugin");
        json_bool(&j, "present", has);
        json_str(&j, has ? "ctl" : "note", info->plugin);
        json_object_end(&j);
    }
    json_array_begin(&j, "regions");
    for (size_t i = 0; i < info->nregions; i++) {
        const vmic_mem_region_t *r = &info->regions[i];
        json_object_begin(&j, NULL);
        json_hex(&j, "start", r->start.addr);
        json_u64(&j, "size", r->size);
        if (r->file_offset != UINT64_MAX)
            json_hex(&j, "file_offset", r->file_offset);
        json_object_end(&j);
    }
    json_array_end(&j);
    json_object_begin(&j, "paging");
    json_u64(&j, "levels", (uint64_t)pg.mode);
    json_bool(&j, "nx", pg.nxe);
    json_u64(&j, "maxphyaddr", pg.maxphyaddr);
    json_object_end(&j);
    json_array_begin(&j, "vcpus");
    for (unsigned v = 0; v < info->vcpu_count; v++) {
        vmic_amd64_regs_t regs;
        vmic_status s = vmic_get_regs(core, v, &regs);
        if (s)
            return cli_fail(cmd, s, "cannot read the registers of vCPU %u", v);
        json_object_begin(&j, NULL);
        json_u64(&j, "vcpu", v);
        json_regs(&j, &regs);
        json_object_end(&j);
    }
    json_array_end(&j);
    if (os)
        json_kernel(&j, os);
    json_object_end(&j);
    json_done(&j);
    return EXIT_OK;
}

static int report(const char *cmd, vmic_core *core, const cli_common *c, vmic_os *os)
{
    if (c->json)
        return print_json(core, cmd, os);
    print_table(core);
    if (os)
        print_kernel(os);
    for (unsigned v = 0; v < vmic_vcpu_count(core); v++) {
        vmic_amd64_regs_t regs;
        vmic_status s = vmic_get_regs(core, v, &regs);
        if (s)
            return cli_fail(cmd, s, "cannot read the registers of vCPU %u", v);
        print_regs_table(v, &regs);
    }
    return EXIT_OK;
}

int info_report(const char *cmd, vmic_core *core, const cli_common *c)
{
    return report(cmd, core, c, NULL);
}


int cmd_info(int argc, char **argv)
{
    cli_common c = {0};
    const cli_opt opts[] = {
        CLI_STR("profile", 0, "FILE", &c.profile,
                "ISF profile (Volatility 3 JSON, .json or .json.xz) of\n"
                "the guest's kernel"),
        CLI_END,
    };
    const cli_spec spec = {
        .cmd = "info", .usage = "[OPTIONS] TARGET", .opts = opts, .groups = CLI_G_MEMORY,
        .min_operands = 1, .max_operands = 1,
        .about = "Show the driver, the guest-physical memory layout, the paging mode and\n"
                 "every vCPU's registers of TARGET. A live QEMU is paused while they are\n"
                 "read and resumed afterwards. With --profile, also the Linux kernel found\n"
                 "with it (its banner and KASLR slide): a check that the profile fits.",
    };
    cli_space sp;
    int first, rc;

    if ((first = cli_parse(&spec, argc, argv, &c)) < 0)
        return -first;
    if ((rc = cli_space_open("info", argv[first], &c, false, true, &sp)))
        return rc;
    rc = report("info", sp.core, &c, sp.os);
    cli_space_close(&sp);
    return rc;
}
