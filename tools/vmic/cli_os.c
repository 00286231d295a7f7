#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_os.h"

void cli_progress(const char *msg)
{
    static bool shown;
    if (!isatty(STDERR_FILENO))
        return;
    if (msg) {
        fprintf(stderr, "\r\033[K%s", msg);
        shown = true;
    } else if (shown) {
        fprintf(stderr, "\r\033[K");
        shown = false;
    }
    fflush(stderr);
}

int cli_os_open(const char *cmd, const char *target, const cli_common *c, vmic_core **core,
                vmic_os **os)
{
    int rc;
    vmic_status s;
    *os = NULL;
    if ((rc = cli_open(cmd, target, c, core)))
        return rc;
    vmic_os_config_t cfg = {.profile = c->profile, .root = c->have_root ? c->root : 0,
                            .paging = c->paging};
    cli_progress(c->profile ? "vmic: loading the profile and finding the kernel..."
                            : "vmic: finding the kernel, kallsyms and BTF...");
    s = vmic_os_open(*core, &cfg, os);
    cli_progress(NULL);
    if (s == VMIC_OK && *vmic_os_kernel(*os)->degraded)
        fprintf(stderr, "vmic %s: note: %s\n", cmd, vmic_os_kernel(*os)->degraded);
    if (s) {
        rc = cli_fail(cmd, s, "no Linux kernel found in %s", target);
        vmic_core_close(*core);
        *core = NULL;
        return rc;
    }
    return EXIT_OK;
}

void cli_os_close(vmic_core *core, vmic_os *os)
{
    vmic_os_close(os);
    vmic_core_close(core);
}

int cli_os_process(const char *cmd, vmic_os *os, const char *pid, vmic_process_t *p)
{
    uint64_t v;
    if (!cli_parse_u64(pid, &v) || v > INT32_MAX)
        return cli_usage(cmd, "'%s' is not a pid", pid);
    vmic_status s = vmic_os_process_find(os, (int32_t)v, p);
    if (s)
        return cli_fail(cmd, s, NULL);
    return EXIT_OK;
}

int cli_query_failed(const char *cmd, json *j, bool as_json, const char *query, vmic_status s)
{
    if (as_json) {
        json_object_begin(j, NULL);
        json_str(j, "query", query);
        json_str(j, "error", vmic_errmsg());
        json_str(j, "status", vmic_status_name(s));
        json_object_end(j);
    }
    return cli_fail(cmd, s, NULL);
}

int cli_os_walk_status(const char *cmd, vmic_status s, size_t shown)
{
    if (s == VMIC_OK)
        return EXIT_OK;
    return cli_fail(cmd, s, "incomplete: %zu entries shown, then", shown);
}

const char *cli_perms(const vmic_region_t *r, char buf[5])
{
    buf[0] = r->access & VMIC_ACCESS_R ? 'r' : '-';
    buf[1] = r->access & VMIC_ACCESS_W ? 'w' : '-';
    buf[2] = r->access & VMIC_ACCESS_X ? 'x' : '-';
    buf[3] = r->shared ? 's' : 'p';
    buf[4] = '\0';
    return buf;
}
