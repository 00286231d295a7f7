#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* --json was asked for: errors go to stdout as JSON too. */
static bool json_errors;

void cli_begin(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--json") == 0)
            json_errors = true;
}

static void json_error(const char *cmd, const char *message, const char *status, int exit_code)
{
    if (!json_errors || json_documents_begun() > 0)
        return;
    json j;
    json_init(&j, stdout);
    json_object_begin(&j, NULL);
    json_object_begin(&j, "error");
    json_str(&j, "command", cmd);
    json_str(&j, "message", message);
    json_str(&j, "status", status);
    json_i64(&j, "exit", exit_code);
    json_object_end(&j);
    json_object_end(&j);
    json_done(&j);
    fflush(stdout);
}

int cli_fail(const char *cmd, vmic_status status, const char *fmt, ...)
{
    char msg[2048] = "";
    size_t n = 0;
    va_list ap;
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        n = strlen(msg);
    }
    if (status != VMIC_OK)
        snprintf(msg + n, sizeof msg - n, "%s%s", fmt ? ": " : "",
                 *vmic_errmsg() ? vmic_errmsg() : vmic_status_name(status));
    fflush(stdout); /* what was printed before the failure comes first */
    fprintf(stderr, "vmic %s: %s\n", cmd, msg);
    json_error(cmd, msg, status != VMIC_OK ? vmic_status_name(status) : "failed", EXIT_FAIL);
    return EXIT_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "vmic %s: %s\nTry 'vmic %s --help'.\n", cmd, msg, cmd);
    json_error(cmd, msg, "usage", EXIT_USAGE);
    return EXIT_USAGE;
}

bool cli_parse_u64(const char *s, uint64_t *v)
{
    char *end;
    if (!s || !*s || *s == '-')
        return false;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (errno || *end)
        return false;
    *v = x;
    return true;
}

bool cli_parse_hex(const char *s, uint64_t *v)
{
    char *end;
    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 16); /* takes a leading 0x itself */
    if (errno || *end || end == s)
        return false;
    *v = x;
    return true;
}

static bool parse_format(const char *s, vmic_dump_format *fmt)
{
    static const struct { const char *name; vmic_dump_format fmt; } formats[] = {
        {"auto", VMIC_DUMP_AUTO}, {"raw", VMIC_DUMP_RAW},
        {"elf", VMIC_DUMP_ELF}, {"lime", VMIC_DUMP_LIME},
    };
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        if (strcmp(s, formats[i].name) == 0) {
            *fmt = formats[i].fmt;
            return true;
        }
    }
    return false;
}

int cli_open(const char *cmd, const char *target, const cli_common *c, vmic_core **core)
{
    /* A live QEMU: paused while the command looks at it (its registers
     * are readable only then, and memory holds still), resumed at close
     * if it was running. */
    vmic_qemu_config_t live = {.stay_paused = true, .guard = true, .end = &cli_live_end,
                               /* only trace needs the gdbstub itself */
                               .shared_ok = strcmp(cmd, "trace") != 0};
    vmic_target_options_t opt = {.live = &live};
    vmic_driver *drv;
    vmic_status s;

    if (c->format && vmic_qemu_is_target(target))
        return cli_usage(cmd, "--format is for dumps, not for a live target");
    if (c->format && !parse_format(c->format, &opt.format))
        return cli_usage(cmd, "unknown format '%s' (auto, raw, elf, lime)", c->format);
    if ((s = vmic_open_target(target, &opt, &drv)))
        return cli_fail(cmd, s, NULL); /* the message names the target */
    if ((s = vmic_core_open(drv, NULL, core)))
        return cli_fail(cmd, s, "cannot start a session on %s", target);
    if (c->paging) {
        /* The user knows better than CR4 (or there are no registers). */
        vmic_paging_t pg = vmic_core_paging(*core);
        pg.mode = c->paging == 5 ? VMIC_PAGING_5LEVEL : VMIC_PAGING_4LEVEL;
        vmic_core_set_paging(*core, &pg);
    }
    return EXIT_OK;
}

int cli_context(const char *cmd, vmic_core *core, const cli_common *c, vmic_ctx_t *ctx,
                const char **source)
{
    static char from_vcpu[48];
    vmic_amd64_regs_t regs;
    vmic_status s;

    if (c->have_root) {
        *ctx = vmic_ctx(vmic_pa(c->root));
        *source = "--root";
        return EXIT_OK;
    }
    if (!vmic_core_has(core, VMIC_CAP_REGISTERS) || vmic_vcpu_count(core) == 0)
        return cli_fail(cmd, VMIC_OK, "%s has no vCPU registers to take a page-table root "
                        "from: give --root CR3", vmic_core_info(core)->source);
    if ((s = vmic_get_regs(core, c->vcpu, &regs)))
        return cli_fail(cmd, s, "cannot read the registers of vCPU %u", c->vcpu);
    if (!(regs.valid & VMIC_REGS_CR))
        return cli_fail(cmd, VMIC_OK, "vCPU %u has no control registers in %s: give --root CR3",
                        c->vcpu, vmic_core_info(core)->source);
    *ctx = vmic_ctx(vmic_pa(regs.cr3));
    snprintf(from_vcpu, sizeof from_vcpu, "vCPU %u CR3", c->vcpu);
    *source = from_vcpu;
    return EXIT_OK;
}

int cli_open_ctx(const char *cmd, const char *target, const cli_common *c, vmic_core **core,
                 vmic_ctx_t *ctx, const char **source)
{
    int rc = cli_open(cmd, target, c, core);
    if (rc)
        return rc;
    if ((rc = cli_context(cmd, *core, c, ctx, source))) {
        vmic_core_close(*core);
        *core = NULL;
    }
    return rc;
}

const char *cli_size(uint64_t bytes, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    unsigned u = 0;
    uint64_t whole = bytes;

    while (whole >= 1024 && u + 1 < sizeof units / sizeof units[0] && whole % 1024 == 0) {
        whole /= 1024;
        u++;
    }
    if (whole < 1024 || u + 1 == sizeof units / sizeof units[0]) {
        snprintf(buf, size, "%" PRIu64 " %s", whole, units[u]);
        return buf;
    }
    /* Not a whole number of the next unit: one decimal. */
    double x = (double)bytes;
    u = 0;
    while (x >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        x /= 1024;
        u++;
    }
    snprintf(buf, size, "%.1f %s", x, units[u]);
    return buf;
}

const char *cli_access(vmic_access_t a, char buf[4])
{
    buf[0] = a & VMIC_ACCESS_R ? 'r' : '-';
    buf[1] = a & VMIC_ACCESS_W ? 'w' : '-';
    buf[2] = a & VMIC_ACCESS_X ? 'x' : '-';
    buf[3] = '\0';
    return buf;
}
