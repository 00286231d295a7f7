/* vmic type: struct layouts from the kernel's BTF (or a profile). */
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include "cli_os.h"

static const cli_spec spec = {
    .cmd = "type", .usage = "[OPTIONS] TARGET STRUCT|STRUCT.FIELD[.FIELD...]...",
    .groups = CLI_G_GUEST, .min_operands = 2, .max_operands = INT_MAX,
    .about = "Show the layout of a struct or union (every member with its offset, size\n"
             "and type; members of anonymous structs and unions indented under them),\n"
             "or one field by path (task_struct.mm, mm_struct.mm_mt.ma_root).\n"
             "A type the kernel's BTF lacks is looked up in the loaded modules' own BTF\n"
             "(the first that defines it); MODULE:STRUCT asks one module's\n"
             "(ext4:ext4_sb_info, minix:minix_sb_info.s_ninodes).",
};

typedef struct type_ctx {
    json *j;
    bool as_json;
} type_ctx;

static void field_json(json *j, const char *name, const vmic_field_t *f)
{
    json_str(j, "name", name);
    json_u64(j, "offset", f->offset);
    json_u64(j, "size", f->size);
    json_str(j, "type", f->type_name);
    json_str(j, "kind", vmic_type_kind_name(f->kind));
    if (f->bit_size) {
        json_u64(j, "bit_offset", f->bit_offset);
        json_u64(j, "bit_size", f->bit_size);
    }
}

/* q as asked, or "MODULE:q" when the kernel's types lack q's struct and a
 * loaded module's BTF defines it. */
static const char *with_module(vmic_os *os, const char *q, char *buf, size_t size)
{
    char root[128], module[VMIC_MODULE_NAME_LEN + 1];
    uint64_t ignored;
    size_t n = strcspn(q, ".");
    if (strchr(q, ':') || n >= sizeof root)
        return q;
    memcpy(root, q, n);
    root[n] = '\0';
    if (vmic_os_type_size(os, root, &ignored) != VMIC_E_NOTFOUND ||
        vmic_os_type_module(os, root, module, sizeof module) != VMIC_OK ||
        snprintf(buf, size, "%s:%s", module, q) >= (int)size) {
        vmic_clear_error();
        return q;
    }
    return buf;
}

/* One argument, split once: what the library is asked, the module whose
 * types those are ("" for the kernel's) and the name shown without it. */
typedef struct type_query {
    const char *ask;    /* the argument, or "MODULE:argument" */
    const char *name;   /* ask after "MODULE:" */
    char module[VMIC_MODULE_NAME_LEN + 1];
    char buf[256];
} type_query;

static void query_of(vmic_os *os, const char *arg, type_query *q)
{
    q->ask = with_module(os, arg, q->buf, sizeof q->buf);
    const char *colon = strchr(q->ask, ':');
    q->name = colon ? colon + 1 : q->ask;
    snprintf(q->module, sizeof q->module, "%.*s", colon ? (int)(colon - q->ask) : 0, q->ask);
}

/* "module": its module, when a module's. */
static void json_module(json *j, const type_query *q)
{
    if (q->module[0])
        json_str(j, "module", q->module);
}

static int show_member(void *arg, const vmic_member_t *m)
{
    type_ctx *c = arg;
    const vmic_field_t *f = &m->field;
    if (c->as_json) {
        json_object_begin(c->j, NULL);
        field_json(c->j, m->name, f);
        json_u64(c->j, "depth", (uint64_t)m->depth);
        json_object_end(c->j);
        return 0;
    }
    char where[32];
    if (f->bit_size)
        snprintf(where, sizeof where, "%" PRIu64 ":%" PRIu64, f->offset, f->bit_offset % 8);
    else
        snprintf(where, sizeof where, "%" PRIu64, f->offset);
    printf("  %8s %6" PRIu64 "  %*s%s %s", where, f->size, 2 * m->depth, "", f->type_name,
           *m->name ? m->name : "(anonymous)");
    if (f->bit_size)
        printf(" : %u", f->bit_size);
    printf("\n");
    return 0;
}

int cmd_type(int argc, char **argv)
{
    cli_common o = {0};
    vmic_core *core;
    vmic_os *os;
    int rc, first = cli_parse(&spec, argc, argv, &o);
    if (first < 0)
        return -first;
    if ((rc = cli_os_open("type", argv[first], &o, &core, &os)))
        return rc;
    json j;
    json_init(&j, stdout);
    type_ctx c = {.j = &j, .as_json = o.json};
    if (o.json)
        json_array_begin(&j, NULL);
    for (int i = first + 1; i < argc; i++) {
        type_query tq;
        query_of(os, argv[i], &tq);
        const char *q = tq.ask;
        vmic_status s;
        if (strchr(q, '.')) {
            vmic_field_t f;
            if ((s = vmic_os_field(os, q, &f))) {
                rc = cli_query_failed("type", &j, o.json, argv[i], s);
                continue;
            }
            if (o.json) {
                json_object_begin(&j, NULL);
                json_module(&j, &tq);
                field_json(&j, tq.name, &f);
                json_object_end(&j);
            } else {
                printf("%s: offset %" PRIu64, q, f.offset);
                if (f.bit_size)
                    printf(" bit %" PRIu64 " (%u bits)", f.bit_offset % 8, f.bit_size);
                printf(", size %" PRIu64 ", %s\n", f.size, f.type_name);
            }
            continue;
        }
        vmic_type_kind kind;
        uint64_t size;
        if ((s = vmic_os_type_members(os, q, &kind, &size, NULL, NULL))) {
            rc = cli_query_failed("type", &j, o.json, argv[i], s);
            continue;
        }
        if (o.json) {
            json_object_begin(&j, NULL);
            json_module(&j, &tq);
            json_str(&j, "name", tq.name);
            json_str(&j, "kind", vmic_type_kind_name(kind));
            json_u64(&j, "size", size);
            json_array_begin(&j, "members");
        } else {
            printf("%s %s (%" PRIu64 " bytes, from %s%s%s)\n", vmic_type_kind_name(kind),
                   tq.name, size, vmic_os_kernel(os)->types, tq.module[0] ? " of module " : "",
                   tq.module);
            printf("  %8s %6s  %s\n", "OFFSET", "SIZE", "MEMBER");
        }
        (void)vmic_os_type_members(os, q, NULL, NULL, show_member, &c);
        if (o.json) {
            json_array_end(&j);
            json_object_end(&j);
        }
    }
    if (o.json) {
        json_array_end(&j);
        json_done(&j);
    }
    cli_os_close(core, os);
    return rc;
}
