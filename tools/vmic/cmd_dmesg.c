/* vmic dmesg: the kernel log from the printk ring buffer. */
#include <inttypes.h>
#include <string.h>

#include "cli_os.h"

static const char help[] =
    "usage: vmic dmesg [OPTIONS] TARGET\n\n"
    "Print the kernel log still in the printk ring buffer (the lockless format\n"
    "of Linux 5.10 and later), oldest first, as util-linux dmesg prints it: a\n"
    "record's first line after its timestamp, its further lines (a record holds\n"
    "several when its text has newlines) indented as far. Tabs and UTF-8 are\n"
    "printed as they are; other control bytes as \\xNN, so that guest text\n"
    "cannot drive the terminal.\n\n"
    "Options:\n"
    "      --syslog        every line after the record's timestamp, as the kernel's\n"
    "                      syslog(2) gives it (and busybox dmesg prints it)\n"
    CLI_OS_COMMON_HELP;

/* One line of a record's text: bytes as the kernel stored them, except the
 * control bytes a terminal would act on. */
static void print_line(const char *p, const char *stop)
{
    for (const char *q = p; q < stop; q++) {
        unsigned char c = (unsigned char)*q;
        if (c == '\t' || (c >= 0x20 && c != 0x7f))
            putchar(c);
        else
            printf("\\x%02x", c);
    }
    putchar('\n');
}

typedef struct log_ctx {
    json *j;
    bool as_json;
    bool syslog; /* continuation lines get the timestamp too */
    size_t n;
} log_ctx;

static int show(void *arg, const vmic_log_record_t *r)
{
    log_ctx *c = arg;
    c->n++;
    if (c->as_json) {
        json_object_begin(c->j, NULL);
        json_u64(c->j, "seq", r->seq);
        json_u64(c->j, "ts_nsec", r->ts_nsec);
        json_u64(c->j, "level", r->level);
        json_u64(c->j, "facility", r->facility);
        json_strn(c->j, "text", r->text, r->len);
        json_object_end(c->j);
        return 0;
    }
    const char *p = r->text, *end = r->text + r->len;
    int width = printf("[%5" PRIu64 ".%06" PRIu64 "] ", r->ts_nsec / 1000000000u,
                       (r->ts_nsec % 1000000000u) / 1000u);
    for (bool first = true;; first = false) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        if (!first && c->syslog)
            printf("[%5" PRIu64 ".%06" PRIu64 "] ", r->ts_nsec / 1000000000u,
                   (r->ts_nsec % 1000000000u) / 1000u);
        else if (!first)
            printf("%*s", width, ""); /* a continuation line, as util-linux dmesg */
        print_line(p, stop);
        p = nl ? nl + 1 : end;
        if (p >= end)
            break;
    }
    return 0;
}

int cmd_dmesg(int argc, char **argv)
{
    cli_os_opts o;
    vmic_core *core;
    vmic_os *os;
    bool syslog = false;
    /* --syslog is this command's own; take it out before the common parser. */
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--syslog") == 0)
            syslog = true;
        else
            argv[n++] = argv[i];
    }
    argc = n;
    int rc = cli_os_parse("dmesg", argc, argv, help, &o);
    if (rc >= 0)
        return rc;
    if (argc - optind != 1)
        return cli_usage("dmesg", "needs exactly one TARGET");
    if ((rc = cli_os_open("dmesg", argv[optind], &o, &core, &os)))
        return rc;
    json j;
    json_init(&j, stdout);
    log_ctx c = {.j = &j, .as_json = o.c.json, .syslog = syslog};
    if (o.c.json)
        json_array_begin(&j, NULL);
    vmic_status s = vmic_os_dmesg(os, show, &c);
    if (o.c.json) {
        json_array_end(&j);
        json_done(&j);
    }
    rc = cli_os_walk_status("dmesg", s, c.n);
    cli_os_close(core, os);
    return rc;
}
