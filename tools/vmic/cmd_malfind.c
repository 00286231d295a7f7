/*
 * vmic malfind: code where no file says there should be. For each process,
 * the regions that are executable and not backed by a file (what an
 * injected or unpacked payload lives in), and every region that is both
 * writable and executable; each with its first bytes as a hexdump and
 * their disassembly. The kernel's own special mappings ([vdso], [vvar],
 * [uprobes]) are executable without a file by design and are left out.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli_disasm.h"
#include "cli_list.h"

#define PEEK 64      /* bytes shown of each region */
#define MAX_INSNS 8  /* instructions disassembled of them */

static const char *pid_arg; /* --pid */

typedef struct malfind {
    cli_walk w;     /* first: cli_each_process hands this back */
    bool as_json;
    json j;
    size_t shown;
} malfind;

typedef struct hit {
    vmic_region_t r;
    bool anon_exec, wx;
} hit;

typedef struct hits {
    hit *v;
    size_t n, cap;
} hits;

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Memory a file stands behind. A memfd or shared anonymous memory (shmem's
 * "/dev/zero (deleted)") has a struct file but no file on any disk: it is
 * anonymous memory under another name, and counted as such. */
static bool file_backed(const vmic_region_t *r)
{
    return r->path[0] == '/' && !starts(r->path, "/memfd:") &&
           !starts(r->path, "/dev/zero (deleted)");
}

/* [vdso], [vvar], [uprobes]: made by the kernel, not by the process. */
static bool special(const vmic_region_t *r)
{
    return r->path[0] == '[' && strcmp(r->path, "[heap]") != 0 && strcmp(r->path, "[stack]") != 0;
}

static int pick(void *arg, const vmic_region_t *r)
{
    hits *h = arg;
    bool x = r->access & VMIC_ACCESS_X, w = r->access & VMIC_ACCESS_W;
    hit c = {.anon_exec = x && !file_backed(r) && !special(r), .wx = x && w};
    if (!c.anon_exec && !c.wx)
        return 0;
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 8;
        hit *v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return 1;
        h->v = v;
        h->cap = cap;
    }
    c.r = *r;
    h->v[h->n++] = c;
    return 0;
}

static const char *why(const hit *h)
{
    return h->anon_exec && h->wx ? "writable and executable, no file"
           : h->anon_exec        ? "executable, no file"
                                 : "writable and executable";
}

/* Guest text for a terminal: control bytes shown as '?'. */
static const char *printable(const char *s, char *buf, size_t size)
{
    size_t i = 0;
    for (; s[i] && i + 1 < size; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    buf[i] = '\0';
    return buf;
}

static void text_region(const vmic_process_t *p, const hit *h, const uint8_t *b, size_t got,
                        const cli_insn *in, size_t ni)
{
    char perms[5], comm[VMIC_COMM_LEN + 1], path[VMIC_PATH_LEN];
    printf("pid %d %s  %016" PRIx64 "-%016" PRIx64 " %s  %s%s%s\n", (int)p->tgid,
           printable(p->comm, comm, sizeof comm), h->r.start.addr, h->r.end.addr,
           cli_perms(&h->r, perms), why(h), h->r.path[0] ? "  " : "",
           printable(h->r.path, path, sizeof path));
    if (got == 0)
        printf("  (first page not present: never touched, or swapped out)\n");
    for (size_t off = 0; off < got; off += 16) {
        printf("  %016" PRIx64 " ", h->r.start.addr + off);
        for (size_t i = off; i < off + 16; i++)
            printf(i < got ? " %02x" : "   ", b[i < got ? i : 0]);
        printf("  ");
        for (size_t i = off; i < off + 16 && i < got; i++)
            putchar(b[i] >= 0x20 && b[i] < 0x7f ? b[i] : '.');
        printf("\n");
    }
    if (got && !cli_disasm_available())
        printf("  (%s)\n", CLI_DISASM_MISSING);
    for (size_t i = 0; i < ni; i++)
        printf("  %016" PRIx64 "  %s%s%s\n", in[i].addr, in[i].mnemonic,
               in[i].operands[0] ? " " : "", in[i].operands);
    printf("\n");
}

static void json_region(json *j, const vmic_process_t *p, const hit *h, const uint8_t *b,
                        size_t got, const cli_insn *in, size_t ni)
{
    char perms[5], hex[2 * PEEK + 1];
    for (size_t i = 0; i < got; i++)
        snprintf(hex + 2 * i, 3, "%02x", b[i]);
    hex[2 * got] = '\0';
    json_object_begin(j, NULL);
    json_i64(j, "pid", p->tgid);
    json_str(j, "comm", p->comm);
    json_hex(j, "start", h->r.start.addr);
    json_hex(j, "end", h->r.end.addr);
    json_str(j, "perms", cli_perms(&h->r, perms));
    json_str(j, "path", h->r.path);
    json_bool(j, "anonymous_exec", h->anon_exec);
    json_bool(j, "writable_exec", h->wx);
    json_hex(j, "vma", h->r.vma.addr);
    json_bool(j, "present", got > 0);
    json_str(j, "bytes", hex);
    if (got && !cli_disasm_available()) {
        json_null(j, "disasm");
        json_str(j, "disasm_note", CLI_DISASM_MISSING);
    } else {
        json_array_begin(j, "disasm");
        for (size_t i = 0; i < ni; i++) {
            json_object_begin(j, NULL);
            json_hex(j, "addr", in[i].addr);
            json_u64(j, "size", in[i].size);
            json_str(j, "mnemonic", in[i].mnemonic);
            json_str(j, "operands", in[i].operands);
            json_object_end(j);
        }
        json_array_end(j);
    }
    json_object_end(j);
}

/* The first bytes of a region: as many as are readable from its start
 * (0 when its first page is not present). */
static size_t peek(vmic_os *os, const vmic_process_t *p, const vmic_region_t *r, uint8_t *b)
{
    uint64_t len = r->end.addr - r->start.addr < PEEK ? r->end.addr - r->start.addr : PEEK;
    if (vmic_os_process_read(os, p, r->start, b, len) == VMIC_OK)
        return len;
    vmic_clear_error();
    return 0;
}

static vmic_status scan(cli_walk *w, const vmic_process_t *p)
{
    malfind *m = (malfind *)w;
    hits h = {0};
    if (p->kernel_thread)
        return VMIC_OK;
    vmic_status s = vmic_os_regions(w->os, p, pick, &h);
    for (size_t i = 0; i < h.n; i++) {
        uint8_t b[PEEK];
        cli_insn in[MAX_INSNS];
        size_t got = peek(w->os, p, &h.v[i].r, b);
        size_t ni = cli_disasm(b, got, h.v[i].r.start.addr, in, MAX_INSNS);
        if (m->as_json)
            json_region(&m->j, p, &h.v[i], b, got, in, ni);
        else
            text_region(p, &h.v[i], b, got, in, ni);
        m->shown++;
    }
    free(h.v);
    return s;
}

int cmd_malfind(int argc, char **argv)
{
    static const cli_opt opts[] = {
        CLI_STR("pid", 0, "PID", &pid_arg, "only this process"),
        CLI_END,
    };
    static const cli_spec spec = {
        .cmd = "malfind", .usage = "[OPTIONS] TARGET", .groups = CLI_G_GUEST, .opts = opts,
        .epilog = CLI_DISASM_HELP,
        .min_operands = 1, .max_operands = 1,
        .about = "Find code where no file says there should be: in each process (or --pid's),\n"
                 "every memory region that is executable and not backed by a file (a memfd\n"
                 "or shared anonymous memory counts as no file), and every region that is\n"
                 "writable and executable. The kernel's own [vdso], [vvar] and [uprobes]\n"
                 "are left out. Each comes with a hexdump of its first 64 bytes and the\n"
                 "disassembly of its first instructions (x86-64, capstone; a vmic built\n"
                 "without libcapstone-dev says so and shows the bytes only).",
    };
    cli_common c = {0};
    malfind m = {0};
    vmic_core *core;
    int first = cli_parse(&spec, argc, argv, &c);
    if (first < 0)
        return -first;
    int rc = cli_os_open("malfind", argv[first], &c, &core, &m.w.os);
    if (rc)
        return rc;
    vmic_process_t one;
    if (pid_arg && (rc = cli_os_process("malfind", m.w.os, pid_arg, &one))) {
        cli_os_close(core, m.w.os);
        return rc;
    }
    m.as_json = c.json;
    if (m.as_json) {
        json_init(&m.j, stdout);
        json_array_begin(&m.j, NULL);
    }
    vmic_status s = pid_arg ? scan(&m.w, &one) : cli_each_process(&m.w, scan);
    if (m.as_json) {
        json_array_end(&m.j);
        json_done(&m.j);
    } else if (m.shown == 0 && s == VMIC_OK) {
        printf("nothing found: no executable memory without a file, no writable code\n");
    }
    rc = cli_os_walk_status("malfind", s, m.shown);
    cli_os_close(core, m.w.os);
    return rc;
}
