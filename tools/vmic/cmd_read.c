/* vmic read: hexdump (or raw bytes of) guest memory. */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli_space.h"

#define CHUNK 65536
#define PAGE 4096u
#define MAX_LENGTH (1ull << 32)

typedef struct read_job {
    cli_space sp;
    bool physical;
} read_job;

static vmic_status read_piece(read_job *job, uint64_t addr, uint8_t *buf, size_t n)
{
    if (job->physical)
        return vmic_read_pa(job->sp.core, vmic_pa(addr), buf, n);
    const char *source;
    return vmic_read_va(job->sp.core, cli_space_ctx(&job->sp, addr, &source), vmic_va(addr), buf,
                        n);
}

/* Reads n bytes at addr; when that fails, page by page, so that *got says
 * how many bytes before the first unreadable page were read. */
static vmic_status read_chunk(read_job *job, uint64_t addr, uint8_t *buf, size_t n, size_t *got)
{
    vmic_status s = read_piece(job, addr, buf, n);
    *got = s ? 0 : n;
    if (s == VMIC_OK)
        return VMIC_OK;
    while (*got < n) {
        uint64_t at = addr + *got;
        size_t piece = PAGE - (size_t)(at % PAGE);
        if (piece > n - *got)
            piece = n - *got;
        if ((s = read_piece(job, at, buf + *got, piece)))
            return s;
        *got += piece;
    }
    return VMIC_OK; /* whole after all (a page that came back) */
}

static void hexdump_line(uint64_t addr, const uint8_t *p, size_t n)
{
    printf("%016" PRIx64 "  ", addr);
    for (size_t i = 0; i < 16; i++) {
        if (i < n)
            printf("%02x ", p[i]);
        else
            printf("   ");
        if (i == 7)
            putchar(' ');
    }
    printf(" |");
    for (size_t i = 0; i < n; i++)
        putchar(isprint(p[i]) ? p[i] : '.');
    printf("|\n");
}

static void json_bytes(json *j, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *hex = malloc(2 * n + 1);
    if (!hex) {
        json_null(j, "bytes");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[p[i] >> 4];
        hex[2 * i + 1] = digits[p[i] & 15];
    }
    json_strn(j, "bytes", hex, 2 * n);
    free(hex);
}

static int print_json(read_job *job, uint64_t addr, uint64_t length, uint8_t *buf)
{
    size_t got;
    const char *source;
    vmic_status s = read_chunk(job, addr, buf, length, &got);
    if (s && got == 0) /* nothing to show: the error object alone */
        return cli_fail("read", s, "cannot read 0x%" PRIx64 " bytes at 0x%" PRIx64, length, addr);
    vmic_ctx_t ctx = cli_space_ctx(&job->sp, addr, &source);
    json j;
    json_init(&j, stdout);
    json_object_begin(&j, NULL);
    json_hex(&j, "address", addr);
    json_str(&j, "space", job->physical ? "physical" : "virtual");
    if (!job->physical)
        json_hex(&j, "root", ctx.root.addr);
    if (job->sp.have_process)
        json_i64(&j, "pid", job->sp.proc.tgid);
    json_u64(&j, "length", got);
    json_bytes(&j, buf, got);
    if (s) {
        json_u64(&j, "requested", length);
        json_hex(&j, "stopped_at", addr + got);
        json_str(&j, "error", vmic_errmsg());
    }
    json_object_end(&j);
    json_done(&j);
    if (s)
        return cli_fail("read", s, "stopped at 0x%" PRIx64 " after %zu of %" PRIu64 " bytes",
                        addr + got, got, length);
    return EXIT_OK;
}

static int print_dump(read_job *job, uint64_t addr, uint64_t length, uint8_t *buf, bool raw)
{
    for (uint64_t done = 0; done < length;) {
        size_t n = length - done < CHUNK ? (size_t)(length - done) : CHUNK, got;
        vmic_status s = read_chunk(job, addr + done, buf, n, &got);
        if (raw)
            fwrite(buf, 1, got, stdout);
        else
            for (size_t i = 0; i < got; i += 16)
                hexdump_line(addr + done + i, buf + i, got - i < 16 ? got - i : 16);
        done += got;
        if (s)
            return cli_fail("read", s, "stopped at 0x%" PRIx64 " after %" PRIu64 " of %" PRIu64
                            " bytes", addr + done, done, length);
    }
    return EXIT_OK;
}

int cmd_read(int argc, char **argv)
{
    cli_common c = {0};
    bool physical = false, raw = false;
    const cli_opt opts[] = {
        CLI_FLAG("pa", 'p', &physical, "ADDRESS is guest-physical"),
        CLI_FLAG("raw", 0, &raw, "write the bytes themselves to stdout"),
        CLI_END,
    };
    const cli_spec spec = {
        .cmd = "read", .usage = "[OPTIONS] TARGET ADDRESS [LENGTH]", .opts = opts,
        .groups = CLI_G_MEMORY | CLI_G_SPACE, .min_operands = 2, .max_operands = 3,
        .about = "Print LENGTH bytes (default 256) of guest memory at ADDRESS as a hexdump.\n"
                 "ADDRESS is virtual, translated through --root, the vCPU's CR3 or (--pid)\n"
                 "a process's page tables, unless --pa makes it physical. ADDRESS may be a\n"
                 "kernel or module symbol (linux_banner). Where the memory stops being\n"
                 "readable (the end of RAM, an unmapped page) the bytes before it are\n"
                 "printed, then where and why it stopped, and vmic exits 1.",
    };
    read_job job = {0};
    uint64_t addr, length = 256;
    int first, rc;

    if ((first = cli_parse(&spec, argc, argv, &c)) < 0)
        return -first;
    const char *where = argv[first + 1];
    bool symbol = !cli_parse_u64(where, &addr);
    if (symbol && physical)
        return cli_usage("read", "'%s' is not a physical address", where);
    if (argc - first == 3 && (!cli_parse_u64(argv[first + 2], &length) || length == 0 ||
                              length > MAX_LENGTH))
        return cli_usage("read", "LENGTH must be between 1 and 4 GiB, not '%s'", argv[first + 2]);

    job.physical = physical;
    if ((rc = cli_space_open("read", argv[first], &c, symbol, physical, &job.sp)))
        return rc;
    if ((rc = cli_space_address("read", &job.sp, where, &addr))) {
        cli_space_close(&job.sp);
        return rc;
    }
    uint8_t *buf = malloc(c.json ? length : CHUNK);
    if (!buf) {
        cli_space_close(&job.sp);
        return cli_fail("read", VMIC_E_NOMEM, "cannot allocate %" PRIu64 " bytes", length);
    }
    rc = c.json ? print_json(&job, addr, length, buf) : print_dump(&job, addr, length, buf, raw);
    free(buf);
    cli_space_close(&job.sp);
    return rc;
}
