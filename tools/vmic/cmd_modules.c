/* vmic modules: loaded kernel modules, as /proc/modules lists them. */
#include <inttypes.h>

#include "cli_os.h"

static const char help[] =
    "usage: vmic modules [OPTIONS] TARGET\n\n"
    "List the kernel's loaded modules from its module list: name, size and\n"
    "base address as /proc/modules shows them, state and struct module address.\n\n"
    "Options:\n" CLI_OS_COMMON_HELP;

typedef struct mod_ctx {
    json *j;
    bool as_json;
    size_t n;
} mod_ctx;

static const char *state_name(int32_t s)
{
    static const char *const names[] = {"Live", "Loading", "Unloading", "Unformed"};
    return s >= 0 && s < 4 ? names[s] : "?";
}

static int show(void *arg, const vmic_module_t *m)
{
    mod_ctx *c = arg;
    c->n++;
    if (c->as_json) {
        json_object_begin(c->j, NULL);
        json_str(c->j, "name", m->name);
        json_u64(c->j, "size", m->size);
        json_hex(c->j, "base", m->base.addr);
        json_str(c->j, "state", state_name(m->state));
        json_hex(c->j, "module", m->module.addr);
        json_object_end(c->j);
        return 0;
    }
    printf("%-24s %8" PRIu64 " 0x%016" PRIx64 " %-9s 0x%016" PRIx64 "\n", m->name, m->size,
           m->base.addr, state_name(m->state), m->module.addr);
    return 0;
}

int cmd_modules(int argc, char **argv)
{
    cli_os_opts o;
    vmic_core *core;
    vmic_os *os;
    int rc = cli_os_parse("modules", argc, argv, help, &o);
    if (rc >= 0)
        return rc;
    if (argc - optind != 1)
        return cli_usage("modules", "needs exactly one TARGET");
    if ((rc = cli_os_open("modules", argv[optind], &o, &core, &os)))
        return rc;
    json j;
    json_init(&j, stdout);
    mod_ctx c = {.j = &j, .as_json = o.c.json};
    if (o.c.json)
        json_array_begin(&j, NULL);
    else
        printf("%-24s %8s %-18s %-9s %s\n", "NAME", "SIZE", "BASE", "STATE", "MODULE");
    vmic_status s = vmic_os_modules(os, show, &c);
    if (o.c.json) {
        json_array_end(&j);
        json_done(&j);
    }
    rc = cli_os_walk_status("modules", s, c.n);
    cli_os_close(core, os);
    return rc;
}
