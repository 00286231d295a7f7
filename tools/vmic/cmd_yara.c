/*
 * vmic yara: YARA rules over guest memory, by libyara (yara_scan.h). Every
 * user process by default, one with --pid, or the kernel (its image and
 * its modules' memory) with --kernel. Only present memory is read: the
 * page tables are enumerated first (vmic_mappings), so a huge reserved
 * region costs nothing; each present run inside a region is one buffer
 * for libyara, at most SCAN_CHUNK bytes (a string across two chunks or
 * across a hole is not found).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli_os.h"
#include "cli_table.h"
#include "yara_scan.h"

#define SCAN_CHUNK (16u << 20)
#define MAX_PRESENT (1u << 20)     /* present runs of one address space */

static const cli_col cols[] = {
    {.head = "PID", .key = "pid", .type = CLI_COL_INT, .width = 6},
    {.head = "COMM", .key = "comm", .type = CLI_COL_STR, .width = -16},
    {.head = "RULE", .key = "rule", .type = CLI_COL_STR, .width = -20},
    {.head = "STRING", .key = "string", .type = CLI_COL_STR, .width = -8},
    {.head = "ADDRESS", .key = "addr", .type = CLI_COL_HEX, .width = 16, .digits = 16},
    {.head = "LEN", .key = "length", .type = CLI_COL_UINT, .width = 4},
    {.head = "REGION", .key = "region_start", .type = CLI_COL_HEX, .width = 16, .digits = 16},
    {.key = "region_end", .type = CLI_COL_HEX, .digits = 16, .sep = "-"},
    {.head = "PERMS", .key = "perms", .type = CLI_COL_STR, .width = 5},
    {.head = "WHERE", .key = "path", .type = CLI_COL_STR},
    {.key = "namespace", .type = CLI_COL_STR, .flags = CLI_COL_JSON_ONLY},
};
enum { PID, COMM, RULE, STRING, ADDR, LEN, RSTART, REND, PERMS, PATH, NS, NCOLS };
static const unsigned char json_order[] = {PID, COMM, RULE, NS, STRING, ADDR, LEN,
                                           RSTART, REND, PERMS, PATH};
static const cli_schema schema = {cols, NCOLS, json_order, false};

typedef struct range {
    uint64_t start, end;
} range;

/* What is being scanned now, for the rows its matches make. */
typedef struct scanning {
    cli_rows *rows;
    bool kernel;
    int32_t pid;
    const char *comm;
    range region;
    const char *perms;
    const char *path;
    uint64_t matches;
} scanning;

/* ---- present memory ----------------------------------------------------------------- */

typedef struct present {
    range *r;
    size_t n;
    bool user_only;
    bool full;
} present;

static int add_present(void *arg, const vmic_mapping_t *m)
{
    present *p = arg;
    if (p->user_only && !m->user)
        return 0;
    if (p->n == MAX_PRESENT) {
        p->full = true;
        return 1;
    }
    p->r[p->n++] = (range){m->va.addr, m->va.addr + m->size};
    return 0;
}

/* The present runs of ctx, in va order, consecutive ones merged. */
static vmic_status present_runs(vmic_core *core, vmic_ctx_t ctx, bool user_only, present *p)
{
    p->r = malloc(MAX_PRESENT * sizeof *p->r);
    p->n = 0;
    p->user_only = user_only;
    p->full = false;
    if (!p->r)
        return vmic_fail(VMIC_E_NOMEM, "yara: no memory");
    vmic_range_merger_t rm = {.by_va_only = true, .emit = add_present, .arg = p};
    vmic_status s = vmic_mappings(core, ctx, 0, vmic_range_merger_add, &rm, NULL);
    vmic_range_merger_flush(&rm);
    return s;
}

/* ---- scanning ----------------------------------------------------------------------- */

static int on_match(void *arg, const yara_match *m)
{
    scanning *sc = arg;
    cli_val v[NCOLS] = {
        [PID] = CLI_I(sc->pid), [COMM] = CLI_S(sc->comm), [RULE] = CLI_S(m->rule),
        [STRING] = CLI_S(m->string), [ADDR] = CLI_U(m->addr), [LEN] = CLI_U(m->length),
        [RSTART] = CLI_U(sc->region.start), [REND] = CLI_U(sc->region.end),
        [PERMS] = CLI_S(sc->perms), [PATH] = CLI_S(sc->path), [NS] = CLI_S(m->ns),
    };
    v[PID].blank = sc->kernel;
    cli_rows_add(sc->rows, v);
    sc->matches++;
    return 0;
}

/* Every present byte of want through ctx, chunk by chunk. A chunk that does
 * not read (a page gone since the enumeration) is skipped. */
static int scan_range(vmic_core *core, vmic_ctx_t ctx, yara_rules *rules, const present *p,
                      range want, uint8_t *buf, scanning *sc)
{
    char err[512];
    for (size_t i = 0; i < p->n; i++) {
        uint64_t a = p->r[i].start > want.start ? p->r[i].start : want.start;
        uint64_t b = p->r[i].end < want.end ? p->r[i].end : want.end;
        for (uint64_t at = a; at < b; at += SCAN_CHUNK) {
            size_t len = b - at < SCAN_CHUNK ? (size_t)(b - at) : SCAN_CHUNK;
            if (vmic_read_va(core, ctx, vmic_va(at), buf, len) != VMIC_OK) {
                vmic_clear_error();
                continue;
            }
            if (yara_scan(rules, buf, len, at, on_match, sc, err, sizeof err))
                return cli_fail("yara", VMIC_OK, "%s", err);
        }
    }
    return EXIT_OK;
}

typedef struct regions {
    vmic_region_t *r;
    size_t n, cap;
} regions;

static int add_region(void *arg, const vmic_region_t *r)
{
    regions *rs = arg;
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? 2 * rs->cap : 64;
        vmic_region_t *more = realloc(rs->r, cap * sizeof *more);
        if (!more)
            return 1;
        rs->r = more;
        rs->cap = cap;
    }
    rs->r[rs->n++] = *r;
    return 0;
}

static int scan_process(vmic_os *os, yara_rules *rules, const vmic_process_t *proc,
                        uint8_t *buf, cli_rows *rows, uint64_t *matches)
{
    vmic_core *core = vmic_os_core(os);
    vmic_ctx_t ctx;
    regions rs = {0};
    present p = {0};
    int rc = EXIT_OK;

    if (proc->kernel_thread || vmic_os_process_ctx(os, proc, &ctx) != VMIC_OK) {
        vmic_clear_error();
        return EXIT_OK; /* no user memory */
    }
    vmic_status s = vmic_os_regions(os, proc, add_region, &rs);
    if (s == VMIC_OK)
        s = present_runs(core, ctx, true, &p);
    if (s != VMIC_OK || p.full) {
        fprintf(stderr, "vmic yara: pid %d (%s): %s\n", proc->pid, proc->comm,
                s ? vmic_errmsg() : "too many present runs: scanned in part");
        vmic_clear_error();
    }
    for (size_t i = 0; i < rs.n && rc == EXIT_OK; i++) {
        char perms[5];
        scanning sc = {.rows = rows, .pid = proc->tgid, .comm = proc->comm,
                       .region = {rs.r[i].start.addr, rs.r[i].end.addr},
                       .perms = cli_perms(&rs.r[i], perms), .path = rs.r[i].path};
        rc = scan_range(core, ctx, rules, &p, sc.region, buf, &sc);
        *matches += sc.matches;
    }
    free(rs.r);
    free(p.r);
    return rc;
}

typedef struct all_walk {
    vmic_os *os;
    yara_rules *rules;
    uint8_t *buf;
    cli_rows *rows;
    uint64_t matches, scanned;
    int rc;
} all_walk;

static int each_process(void *arg, const vmic_process_t *p)
{
    all_walk *w = arg;
    char msg[64];
    snprintf(msg, sizeof msg, "vmic yara: pid %d", p->pid);
    cli_progress(msg);
    w->scanned++;
    w->rc = scan_process(w->os, w->rules, p, w->buf, w->rows, &w->matches);
    return w->rc != EXIT_OK;
}

typedef struct kernel_walk {
    vmic_core *core;
    vmic_ctx_t ctx;
    yara_rules *rules;
    uint8_t *buf;
    cli_rows *rows;
    const present *p;
    uint64_t matches;
    int rc;
} kernel_walk;

static int each_module(void *arg, const vmic_module_t *m)
{
    kernel_walk *w = arg;
    for (unsigned i = 0; i < m->nranges && w->rc == EXIT_OK; i++) {
        scanning sc = {.rows = w->rows, .kernel = true, .comm = "[kernel]",
                       .region = {m->ranges[i].base.addr, m->ranges[i].base.addr +
                                                              m->ranges[i].size},
                       .perms = "", .path = m->name};
        w->rc = scan_range(w->core, w->ctx, w->rules, w->p, sc.region, w->buf, &sc);
        w->matches += sc.matches;
    }
    return w->rc != EXIT_OK;
}

/* The kernel image (_text to _end) and every module's memory. */
static int scan_kernel(vmic_os *os, yara_rules *rules, uint8_t *buf, cli_rows *rows,
                       uint64_t *matches)
{
    vmic_core *core = vmic_os_core(os);
    vmic_va_t text, end;
    present p = {0};
    vmic_status s;

    if ((s = vmic_os_symbol(os, "_text", &text)) || (s = vmic_os_symbol(os, "_end", &end)))
        return cli_fail("yara", s, "the kernel image's extent");
    kernel_walk w = {.core = core, .ctx = vmic_os_kernel_ctx(os), .rules = rules, .buf = buf,
                     .rows = rows, .p = &p};
    if ((s = present_runs(core, w.ctx, false, &p))) {
        free(p.r);
        return cli_fail("yara", s, "the kernel's page tables");
    }
    scanning sc = {.rows = rows, .kernel = true, .comm = "[kernel]",
                   .region = {text.addr, end.addr}, .perms = "", .path = "[kernel image]"};
    w.rc = scan_range(core, w.ctx, rules, &p, sc.region, buf, &sc);
    w.matches = sc.matches;
    if (w.rc == EXIT_OK && (s = vmic_os_modules(os, each_module, &w)) && w.rc == EXIT_OK) {
        fprintf(stderr, "vmic yara: the module list: %s (scanned in part)\n", vmic_errmsg());
        vmic_clear_error();
    }
    free(p.r);
    *matches = w.matches;
    return w.rc;
}

int cmd_yara(int argc, char **argv)
{
    const char *pid = NULL;
    bool kernel = false;
    const cli_opt opts[] = {
        CLI_STR("pid", 'p', "PID", &pid, "scan this process only (default: every process)"),
        CLI_FLAG("kernel", 'k', &kernel, "scan the kernel image and its modules' memory"),
        CLI_END,
    };
    const cli_spec spec = {
        .cmd = "yara", .usage = "[OPTIONS] RULES TARGET", .groups = CLI_G_GUEST, .opts = opts,
        .min_operands = 2, .max_operands = 2,
        .about = "Scan guest memory with YARA rules (libyara): RULES is a rules file or a\n"
                 "directory of .yar/.yara files. Each match is a row: process, rule,\n"
                 "string, its address and length, and the region it is in (a VMA, the\n"
                 "kernel image or a module). Only present memory is read. Exits 0\n"
                 "whether or not anything matched.",
    };
    cli_common c = {0};
    char why[1024];
    int first = cli_parse(&spec, argc, argv, &c);
    if (first < 0)
        return -first;
    if (pid && kernel)
        return cli_usage("yara", "--pid and --kernel exclude each other");
    if (!yara_available(why, sizeof why))
        return cli_fail("yara", VMIC_E_UNSUPPORTED, "%s", why);
    yara_rules *rules = yara_load(argv[first], why, sizeof why);
    if (!rules)
        return cli_fail("yara", VMIC_E_INVAL, "%s", why);
    uint8_t *buf = malloc(SCAN_CHUNK);
    vmic_core *core;
    vmic_os *os;
    int rc = buf ? cli_os_open("yara", argv[first + 1], &c, &core, &os)
                 : cli_fail("yara", VMIC_E_NOMEM, "no memory for a scan buffer");
    if (rc) {
        free(buf);
        yara_free(rules);
        return rc;
    }
    cli_rows rows;
    uint64_t matches = 0, scanned = 0;
    cli_rows_begin(&rows, &schema, c.json);
    if (kernel) {
        rc = scan_kernel(os, rules, buf, &rows, &matches);
    } else if (pid) {
        vmic_process_t p;
        if ((rc = cli_os_process("yara", os, pid, &p)) == EXIT_OK)
            rc = scan_process(os, rules, &p, buf, &rows, &matches);
        scanned = 1;
    } else {
        all_walk w = {.os = os, .rules = rules, .buf = buf, .rows = &rows};
        vmic_status s = vmic_os_processes(os, each_process, &w);
        cli_progress(NULL);
        rc = w.rc != EXIT_OK ? w.rc : cli_os_walk_status("yara", s, w.scanned);
        matches = w.matches;
        scanned = w.scanned;
    }
    cli_rows_end(&rows);
    if (rc == EXIT_OK && !c.json && kernel)
        fprintf(stderr, "vmic yara: %" PRIu64 " matches in the kernel\n", matches);
    else if (rc == EXIT_OK && !c.json)
        fprintf(stderr, "vmic yara: %" PRIu64 " matches in %" PRIu64 " processes\n", matches,
                scanned);
    free(buf);
    yara_free(rules);
    cli_os_close(core, os);
    return rc;
}
