/* vmic banner: which kernel this is, and where vmic found it. */
#include <inttypes.h>

#include "cli_os.h"

static const cli_spec spec = {
    .cmd = "banner", .usage = "[OPTIONS] TARGET", .groups = CLI_G_GUEST,
    .min_operands = 1, .max_operands = 1,
    .about = "Print the kernel's version banner (linux_banner) and what vmic found on\n"
             "the way: the page-table root and where it came from, the kernel image and\n"
             "its KASLR slide, where the symbols and types come from, and the task each\n"
             "CPU runs (read from the per-CPU areas, so raw dumps have it too).",
};

/* The task each CPU runs, found from memory alone (__per_cpu_offset), so a
 * raw dump has it too. A kernel whose per-CPU layout vmic cannot read (an ISF
 * profile without struct pcpu_hot) gets a note, not a failed command. */
static void cpus_text(vmic_os *os)
{
    uint32_t n = 0;
    printf("cpus     ");
    if (vmic_os_cpu_count(os, &n) != VMIC_OK) {
        printf("unknown: %s\n", vmic_errmsg());
        vmic_clear_error();
        return;
    }
    for (uint32_t cpu = 0; cpu < n; cpu++) {
        vmic_va_t task;
        vmic_process_t t;
        printf("%s%u: ", cpu ? ", " : "", cpu);
        if (vmic_os_current_task_of_cpu(os, cpu, &task) != VMIC_OK ||
            vmic_os_task(os, task, &t) != VMIC_OK) {
            printf("unknown (%s)", vmic_errmsg());
            vmic_clear_error();
            continue;
        }
        printf("%s (pid %d)", t.comm, (int)t.pid);
    }
    printf("\n");
}

static void cpus_json(json *j, vmic_os *os)
{
    uint32_t n = 0;
    if (vmic_os_cpu_count(os, &n) != VMIC_OK) {
        json_str(j, "cpus_error", vmic_errmsg());
        vmic_clear_error();
        return;
    }
    json_array_begin(j, "cpus");
    for (uint32_t cpu = 0; cpu < n; cpu++) {
        vmic_va_t task;
        vmic_process_t t;
        json_object_begin(j, NULL);
        json_u64(j, "cpu", cpu);
        if (vmic_os_current_task_of_cpu(os, cpu, &task) != VMIC_OK ||
            vmic_os_task(os, task, &t) != VMIC_OK) {
            json_str(j, "error", vmic_errmsg());
            vmic_clear_error();
        } else {
            json_hex(j, "task", task.addr);
            json_i64(j, "pid", t.pid);
            json_str(j, "comm", t.comm);
        }
        json_object_end(j);
    }
    json_array_end(j);
}

int cmd_banner(int argc, char **argv)
{
    cli_common o = {0};
    vmic_core *core;
    vmic_os *os;
    int rc, first = cli_parse(&spec, argc, argv, &o);
    if (first < 0)
        return -first;
    if ((rc = cli_os_open("banner", argv[first], &o, &core, &os)))
        return rc;
    vmic_os_check_symbols(os); /* banner describes the symbols: say if some are lost */
    const vmic_os_kernel_t *k = vmic_os_kernel(os);
    if (o.json) {
        json j;
        json_init(&j, stdout);
        json_object_begin(&j, NULL);
        json_str(&j, "banner", k->banner);
        json_str(&j, "release", k->release);
        json_hex(&j, "root", k->root.addr);
        json_str(&j, "root_source", k->root_source);
        json_u64(&j, "paging_levels", (uint64_t)k->paging);
        json_str(&j, "paging_source", k->paging_source ? k->paging_source : "");
        json_bool(&j, "pti", k->pti);
        json_hex(&j, "page_offset_base", k->page_offset_base.addr);
        json_hex(&j, "vmalloc_base", k->vmalloc_base.addr);
        json_hex(&j, "vmemmap_base", k->vmemmap_base.addr);
        json_str(&j, "layout_source", k->layout_source ? k->layout_source : "");
        json_hex(&j, "text", k->text.addr);
        json_hex(&j, "end", k->end.addr);
        json_hex(&j, "text_pa", k->text_pa.addr);
        json_hex(&j, "kaslr_slide", k->slide);
        json_str(&j, "symbols", k->symbols);
        json_u64(&j, "nsymbols", k->nsymbols);
        json_hex(&j, "kallsyms", k->kallsyms.addr);
        json_str(&j, "types", k->types);
        json_str(&j, "degraded", k->degraded ? k->degraded : "");
        json_hex(&j, "btf", k->btf.addr);
        json_u64(&j, "btf_size", k->btf_size);
        cpus_json(&j, os);
        json_object_end(&j);
        json_done(&j);
    } else {
        printf("%s\n", k->banner);
        printf("root     0x%" PRIx64 " (%s), %d-level paging%s\n", k->root.addr, k->root_source,
               (int)k->paging, k->pti ? ", PTI on" : "");
        printf("paging   %d-level: %s\n", (int)k->paging, k->paging_source ? k->paging_source : "");
        printf("layout   direct map 0x%016" PRIx64 ", vmalloc 0x%016" PRIx64
               ", vmemmap 0x%016" PRIx64 " (%s)\n", k->page_offset_base.addr,
               k->vmalloc_base.addr, k->vmemmap_base.addr,
               k->layout_source ? k->layout_source : "");
        printf("image    0x%016" PRIx64 "-0x%016" PRIx64 " at pa 0x%" PRIx64
               ", KASLR slide 0x%" PRIx64 "\n",
               k->text.addr, k->end.addr, k->text_pa.addr, k->slide);
        printf("symbols  %s, %zu", k->symbols, k->nsymbols);
        if (k->kallsyms.addr)
            printf(" (names at 0x%" PRIx64 ")", k->kallsyms.addr);
        printf("\ntypes    %s", k->types);
        if (k->btf.addr)
            printf(", %" PRIu64 " bytes at 0x%" PRIx64, k->btf_size, k->btf.addr);
        printf("\n");
        cpus_text(os);
        if (k->degraded && *k->degraded)
            printf("degraded %s\n", k->degraded);
    }
    cli_os_close(core, os);
    return EXIT_OK;
}
