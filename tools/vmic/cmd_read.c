/* vmic read: hexdump (or raw bytes of) guest memory. */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: vmic read [OPTIONS] TARGET ADDRESS [LENGTH]\n\n"
    "Print LENGTH bytes (default 256) of guest memory at ADDRESS as a hexdump.\n"
    "ADDRESS is virtual, translated through --root or the vCPU's CR3, unless\n"
    "--pa makes it physical.\n\n"
    "Options:\n"
    "  -p, --pa            ADDRESS is guest-physical\n"
    "      --raw           write the bytes themselves to stdout\n" CLI_COMMON_HELP;

#define CHUNK 65536
#define MAX_LENGTH (1ull << 32)

typedef struct read_job {
    vmic_core *core;
    bool physical;
    vmic_ctx_t ctx;
} read_job;

static vmic_status read_chunk(const read_job *job, uint64_t addr, uint8_t *buf, size_t n)
{
    if (job->physical)
        return vmic_read_pa(job->core, vmic_pa(addr), buf, n);
    return vmic_read_va(job->core, job->ctx, vmic_va(addr), buf, n);
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

typedef struct read_opts {
    bool physical, raw;
} read_opts;

static int read_option(void *arg, int opt, const char *value)
{
    read_opts *o = arg;
    switch (opt) {
    case 'p': o->physical = true; return 0;
    case 'r': o->raw = true; return 0;
    }
    return cli_usage("read", "bad option");
}

int cmd_read(int argc, char **argv)
{
    static const struct option own[] = {
        {"pa", no_argument, NULL, 'p'}, {"raw", no_argument, NULL, 'r'}, {0}};
    cli_common c = {0};
    read_opts o = {0};
    read_job job = {0};
    uint64_t addr, length = 256;
    const char *ctx_source = "physical";
    int first, rc;

    if ((first = cli_parse("read", help, argc, argv, own, "p", read_option, &o, &c, 2, 3)) < 0)
        return -first;
    if (!cli_parse_u64(argv[first + 1], &addr))
        return cli_usage("read", "'%s' is not an address", argv[first + 1]);
    if (argc - first == 3 && (!cli_parse_u64(argv[first + 2], &length) || length == 0 ||
                              length > MAX_LENGTH))
        return cli_usage("read", "LENGTH must be between 1 and 4 GiB, not '%s'", argv[first + 2]);

    job.physical = o.physical;
    bool raw = o.raw;
    if (job.physical)
        rc = cli_open("read", argv[first], &c, &job.core);
    else
        rc = cli_open_ctx("read", argv[first], &c, &job.core, &job.ctx, &ctx_source);
    if (rc)
        return rc;

    uint8_t *buf = malloc(c.json ? length : CHUNK);
    if (!buf) {
        vmic_core_close(job.core);
        return cli_fail("read", VMIC_E_NOMEM, "cannot allocate %" PRIu64 " bytes", length);
    }

    rc = EXIT_OK;
    if (c.json) {
        vmic_status s = read_chunk(&job, addr, buf, length);
        if (s) {
            rc = cli_fail("read", s, "cannot read 0x%" PRIx64 " bytes at 0x%" PRIx64, length, addr);
        } else {
            json j;
            json_init(&j, stdout);
            json_object_begin(&j, NULL);
            json_hex(&j, "address", addr);
            json_str(&j, "space", job.physical ? "physical" : "virtual");
            if (!job.physical)
                json_hex(&j, "root", job.ctx.root.addr);
            json_u64(&j, "length", length);
            json_bytes(&j, buf, length);
            json_object_end(&j);
            json_done(&j);
        }
    } else {
        for (uint64_t done = 0; done < length;) {
            size_t n = length - done < CHUNK ? (size_t)(length - done) : CHUNK;
            vmic_status s = read_chunk(&job, addr + done, buf, n);
            if (s) {
                fflush(stdout);
                rc = cli_fail("read", s, "stopped at 0x%" PRIx64, addr + done);
                break;
            }
            if (raw)
                fwrite(buf, 1, n, stdout);
            else
                for (size_t i = 0; i < n; i += 16)
                    hexdump_line(addr + done + i, buf + i, n - i < 16 ? n - i : 16);
            done += n;
        }
    }
    free(buf);
    vmic_core_close(job.core);
    return rc;
}
