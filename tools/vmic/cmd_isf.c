/* vmic isf: a Volatility 3 symbol table of the guest's kernel, from its
 * own BTF and kallsyms. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lzma.h>

#include "cli_os.h"

/* Fast, at a quarter more bytes than the default 6: a table is read once. */
#define XZ_PRESET 2

/* Where the document goes: a file or stdout, through xz or not. */
typedef struct isf_sink {
    FILE *out;
    bool xz;
    lzma_stream lz;
    uint8_t buf[1 << 16];
    bool failed;
} isf_sink;

static bool put(isf_sink *k, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, k->out) != n)
        k->failed = true;
    return !k->failed;
}

/* Runs the encoder over in (action LZMA_RUN) or to its end (LZMA_FINISH). */
static bool squeeze(isf_sink *k, const uint8_t *in, size_t n, lzma_action action)
{
    k->lz.next_in = in;
    k->lz.avail_in = n;
    for (;;) {
        k->lz.next_out = k->buf;
        k->lz.avail_out = sizeof k->buf;
        lzma_ret r = lzma_code(&k->lz, action);
        if (r != LZMA_OK && r != LZMA_STREAM_END) {
            k->failed = true;
            return false;
        }
        if (!put(k, k->buf, sizeof k->buf - k->lz.avail_out))
            return false;
        if (r == LZMA_STREAM_END || (action == LZMA_RUN && k->lz.avail_in == 0))
            return true;
    }
}

static int sink_write(void *arg, const void *buf, size_t len)
{
    isf_sink *k = arg;
    bool ok = k->xz ? squeeze(k, buf, len, LZMA_RUN) : put(k, buf, len);
    return ok ? 0 : -1;
}

static bool sink_finish(isf_sink *k)
{
    if (k->xz && !k->failed)
        squeeze(k, NULL, 0, LZMA_FINISH);
    if (fflush(k->out) != 0)
        k->failed = true;
    return !k->failed;
}

static void report(const char *out_path, bool as_json, const vmic_isf_stats_t *st)
{
    if (as_json && out_path) {
        json j;
        json_init(&j, stdout);
        json_object_begin(&j, NULL);
        json_str(&j, "output", out_path);
        json_u64(&j, "user_types", st->user_types);
        json_u64(&j, "enums", st->enums);
        json_u64(&j, "base_types", st->base_types);
        json_u64(&j, "symbols", st->symbols);
        json_u64(&j, "typed_symbols", st->typed_symbols);
        json_u64(&j, "globals_missing", st->globals_missing);
        json_object_end(&j);
        json_done(&j);
        return;
    }
    fprintf(stderr, "vmic isf: %zu user types, %zu enums, %zu base types, %zu symbols (%zu of "
            "the global table typed, %zu absent or untyped) to %s\n", st->user_types, st->enums,
            st->base_types, st->symbols, st->typed_symbols, st->globals_missing,
            out_path ? out_path : "stdout");
}

int cmd_isf(int argc, char **argv)
{
    static bool xz;
    static const char *out_path;
    static const cli_opt opts[] = {
        CLI_FLAG("xz", 0, &xz, "compress with xz (name the file .json.xz, as Volatility wants)"),
        CLI_STR("out", 'o', "FILE", &out_path, "where to write (default, or -: stdout)"),
        CLI_END,
    };
    static const cli_spec spec = {
        .cmd = "isf", .usage = "[--xz] [-o FILE] TARGET", .groups = CLI_G_GUEST, .opts = opts,
        .min_operands = 1, .max_operands = 1,
        .about = "Write a Volatility 3 symbol table (ISF JSON, dwarf2json's layout) of the\n"
                 "guest's kernel made from its own BTF and kallsyms, for a kernel that has\n"
                 "no debug package: the structs, unions and enums Volatility's Linux plugins\n"
                 "use and all they reach; every symbol of the kernel image at its link-time\n"
                 "address (Volatility finds the KASLR shift itself); types for the global\n"
                 "symbols the plugins take objects from (init_task, modules, prb,\n"
                 "sys_call_table, idt_table ...); and linux_banner's bytes, which Volatility\n"
                 "matches the image against. Put the file under Volatility's\n"
                 "symbols/linux/ directory (or give its directory with -s).",
        .json_help = "errors as JSON; with -o FILE, a summary object on stdout",
    };
    cli_common c = {0};
    int first = cli_parse(&spec, argc, argv, &c);
    if (first < 0)
        return -first;
    if (c.profile)
        return cli_usage("isf", "--profile: an ISF is made from the guest's own BTF and "
                         "kallsyms, not from another profile");
    if (out_path && strcmp(out_path, "-") == 0)
        out_path = NULL;
    vmic_core *core;
    vmic_os *os;
    int rc = cli_os_open("isf", argv[first], &c, &core, &os);
    if (rc)
        return rc;

    isf_sink k = {.out = stdout, .xz = xz, .lz = LZMA_STREAM_INIT};
    struct stat sb;
    if (out_path && !(k.out = fopen(out_path, "wb"))) {
        rc = cli_fail("isf", VMIC_E_IO, "cannot write %s: %s", out_path, strerror(errno));
        cli_os_close(core, os);
        return rc;
    }
    /* Only a file of our own is removed after a failure, never a device. */
    bool regular = out_path && fstat(fileno(k.out), &sb) == 0 && S_ISREG(sb.st_mode);
    if (xz && lzma_easy_encoder(&k.lz, XZ_PRESET, LZMA_CHECK_CRC64) != LZMA_OK) {
        rc = cli_fail("isf", VMIC_E_NOMEM, "cannot start the xz encoder");
        goto out;
    }
    vmic_isf_stats_t st;
    vmic_status s = vmic_os_write_isf(os, sink_write, &k, &st);
    bool finished = sink_finish(&k);
    if (s != VMIC_OK)
        rc = cli_fail("isf", s, NULL);
    else if (!finished)
        rc = cli_fail("isf", VMIC_E_IO, "cannot write %s: %s", out_path ? out_path : "stdout",
                      strerror(errno));
    else
        report(out_path, c.json, &st);
out:
    if (xz)
        lzma_end(&k.lz);
    if (out_path) {
        if (fclose(k.out) != 0 && rc == EXIT_OK)
            rc = cli_fail("isf", VMIC_E_IO, "cannot write %s: %s", out_path, strerror(errno));
        if (rc != EXIT_OK && regular)
            unlink(out_path); /* half a symbol table would pass for a whole one */
    }
    cli_os_close(core, os);
    return rc;
}
