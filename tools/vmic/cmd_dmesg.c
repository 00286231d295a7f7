/* vmic dmesg: the kernel log from the printk ring buffer. */
#include "cli_list.h"

static const cli_col cols[] = {
    {.key = "seq", .type = CLI_COL_UINT, .flags = CLI_COL_JSON_ONLY},
    {.key = "ts_nsec", .type = CLI_COL_KTIME},
    {.key = "level", .type = CLI_COL_UINT, .flags = CLI_COL_JSON_ONLY},
    {.key = "facility", .type = CLI_COL_UINT, .flags = CLI_COL_JSON_ONLY},
    {.key = "text", .type = CLI_COL_STR, .flags = CLI_COL_LINES | CLI_COL_ESCAPE},
};
enum { SEQ, TS, LEVEL, FACILITY, TEXT, NCOLS };
static const cli_schema schema = {cols, NCOLS, NULL, true};

/* --syslog: continuation lines get the timestamp too. */
static bool syslog_lines;

static int row(void *arg, const vmic_log_record_t *r)
{
    cli_walk *w = arg;
    cli_val v[NCOLS] = {
        [SEQ] = CLI_U(r->seq), [TS] = CLI_U(r->ts_nsec), [LEVEL] = CLI_U(r->level),
        [FACILITY] = CLI_U(r->facility), [TEXT] = CLI_SN(r->text, r->len),
    };
    cli_rows_add(&w->rows, v);
    return 0;
}

static vmic_status walk(cli_walk *w)
{
    w->rows.repeat_prefix = syslog_lines;
    return vmic_os_dmesg(w->os, row, w);
}

int cmd_dmesg(int argc, char **argv)
{
    static const cli_opt opts[] = {
        CLI_FLAG("syslog", 0, &syslog_lines,
                 "every line after the record's timestamp, as the kernel's\n"
                 "syslog(2) gives it (and busybox dmesg prints it)"),
        CLI_END,
    };
    static const cli_list_cmd dmesg = {
        .spec = {
            .cmd = "dmesg", .usage = "[OPTIONS] TARGET", .groups = CLI_G_GUEST, .opts = opts,
            .min_operands = 1, .max_operands = 1,
            .about =
                "Print the kernel log still in the printk ring buffer (the lockless format\n"
                "of Linux 5.10 and later), oldest first, as util-linux dmesg prints it: a\n"
                "record's first line after its timestamp, its further lines (a record holds\n"
                "several when its text has newlines) indented as far. Tabs and UTF-8 are\n"
                "printed as they are; other control bytes as \\xNN, so that guest text\n"
                "cannot drive the terminal.",
        },
        .schema = &schema, .walk = walk,
    };
    return cli_list(&dmesg, argc, argv);
}
