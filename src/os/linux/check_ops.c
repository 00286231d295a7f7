/*
 * Hooked operation tables. A rootkit hides its sockets from netstat by
 * replacing the show function of /proc/net/tcp's seq_operations, and logs
 * keystrokes by replacing a tty driver's operations or tty_fops' read and
 * write: the table stays where it was, one pointer in it now leads into the
 * rootkit. The check reads well-known tables as they are now, every
 * function pointer member of them (their types from BTF), and a pointer
 * that is neither in the kernel's text nor in a listed module's memory is a
 * finding (a module may own such a table legitimately: a tty driver, or
 * ipv6 where it is one).
 *
 * The tables: the seq_operations of /proc/net (tcp, udp, raw, ping, unix,
 * packet, netlink; those this kernel has, found by name through kallsyms),
 * the tty file_operations (tty_fops, ptmx_fops, console_fops,
 * hung_up_tty_fops), and the tty_operations of every tty_driver on
 * tty_drivers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_internal.h"

#define MAX_FN_MEMBERS 128
#define MAX_TABLE_SIZE 4096
#define MAX_TTY_DRIVERS 4096

/* The function-pointer members of one struct type. */
typedef struct fn_members {
    const char *type;
    uint64_t size;
    size_t n;
    uint32_t off[MAX_FN_MEMBERS];
    char name[MAX_FN_MEMBERS][32];
} fn_members;

static int keep_member(void *arg, const vmic_member_t *m)
{
    fn_members *fm = arg;
    const vmic_field_t *f = &m->field;
    if (f->kind != VMIC_TYPE_POINTER || strncmp(f->type_name, "function", 8) != 0 ||
        f->size != 8 || fm->n == MAX_FN_MEMBERS || f->offset + 8 > fm->size)
        return 0;
    fm->off[fm->n] = (uint32_t)f->offset;
    snprintf(fm->name[fm->n], sizeof fm->name[0], "%s", m->name);
    fm->n++;
    return 0;
}

static vmic_status fn_members_of(vmic_os *os, const char *type, fn_members *fm)
{
    vmic_type_kind kind;
    memset(fm, 0, sizeof *fm);
    fm->type = type;
    /* The size first, so keep_member can bound each offset by it. */
    vmic_status s = vmic_os_type_size(os, type, &fm->size);
    if (!s)
        s = vmic_os_type_members(os, type, &kind, &fm->size, keep_member, fm);
    if (s)
        return vmic_fail_wrap(s, "the function pointers of struct %s", type);
    if (fm->size > MAX_TABLE_SIZE)
        return vmic_fail(VMIC_E_FORMAT, "struct %s is %llu bytes: not an ops table", type,
                         (unsigned long long)fm->size);
    return VMIC_OK;
}

typedef struct ops_walk {
    vmic_os *os;
    lx_text_map map;
    vmic_check_fn fn;
    void *arg;
    size_t checked;
    int stop;
} ops_walk;

/* Every function pointer of the table at va, of type fm; label names it. */
static vmic_status check_table(ops_walk *w, const fn_members *fm, uint64_t va, const char *label)
{
    uint8_t buf[MAX_TABLE_SIZE];
    vmic_status s = lx_read(w->os, va, buf, fm->size);
    if (s)
        return vmic_fail_wrap(s, "%s (struct %s) at 0x%llx", label, fm->type,
                              (unsigned long long)va);
    for (size_t i = 0; i < fm->n && !w->stop; i++) {
        uint64_t p;
        memcpy(&p, buf + fm->off[i], 8);
        if (!p)
            continue;
        w->checked++;
        if (lx_in_text(&w->map, p) || lx_module_at(&w->map, p))
            continue;
        vmic_check_finding_t f;
        lx_finding_init(&f, VMIC_CHECK_OPS, -1);
        snprintf(f.name, sizeof f.name, "%s.%s", label, fm->name[i]);
        f.addr = vmic_va(p);
        snprintf(f.detail, sizeof f.detail, "struct %s at 0x%llx: outside the kernel's text "
                 "and every module", fm->type, (unsigned long long)va);
        w->stop = w->fn(w->arg, &f);
    }
    return VMIC_OK;
}

static const char *const seq_tables[] = {
    "tcp4_seq_ops", "tcp6_seq_ops", "udp_seq_ops", "udp6_seq_ops", "raw_seq_ops",
    "raw6_seq_ops", "ping_v4_seq_ops", "ping_v6_seq_ops", "unix_seq_ops", "packet_seq_ops",
    "netlink_seq_ops",
};
static const char *const tty_file_tables[] = {
    "tty_fops", "ptmx_fops", "console_fops", "hung_up_tty_fops",
};

static vmic_status check_named(ops_walk *w, const char *type, const char *const *names,
                               size_t n)
{
    fn_members fm;
    vmic_status s = fn_members_of(w->os, type, &fm);
    for (size_t i = 0; i < n && !s && !w->stop; i++) {
        vmic_va_t va;
        if (vmic_os_symbol(w->os, names[i], &va) != VMIC_OK) {
            vmic_clear_error(); /* not in this kernel (or its module not loaded) */
            continue;
        }
        s = check_table(w, &fm, va.addr, names[i]);
    }
    return s;
}

/* The ops of every driver on tty_drivers (tty_driver.tty_drivers). */
static vmic_status check_tty_drivers(ops_walk *w)
{
    vmic_os *os = w->os;
    fn_members fm;
    lx_fld link, ops, dname;
    uint64_t head, node;
    vmic_status s;
    if ((s = lx_need_sym(os, "tty_drivers", &head)) ||
        (s = lx_field(os, "tty_driver.tty_drivers", &link, true)) ||
        (s = lx_field(os, "tty_driver.ops", &ops, true)) ||
        (s = lx_field(os, "tty_driver.driver_name", &dname, true)) ||
        (s = fn_members_of(os, "tty_operations", &fm)))
        return vmic_fail_wrap(s, "the tty drivers");
    if ((s = lx_u64(os, head, &node)))
        return vmic_fail_wrap(s, "tty_drivers at 0x%llx", (unsigned long long)head);
    lx_seen seen;
    if ((s = lx_seen_init(&seen, MAX_TTY_DRIVERS)))
        return s;
    size_t count = 0;
    while (node != head && !w->stop) {
        int added = lx_kptr(os, node) ? lx_seen_add(&seen, node) : -2;
        if (added <= 0) {
            s = vmic_fail(VMIC_E_FORMAT, "tty_drivers: %s at 0x%llx after %zu drivers",
                          added == -2 ? "a pointer that is not a kernel address"
                          : added == 0 ? "a cycle" : "too many drivers",
                          (unsigned long long)node, count);
            break;
        }
        uint64_t drv = node - link.off, table, name_va;
        char name[48] = "?";
        if ((s = lx_u64(os, drv + ops.off, &table)) ||
            (s = lx_u64(os, drv + dname.off, &name_va))) {
            s = vmic_fail_wrap(s, "tty_driver 0x%llx", (unsigned long long)drv);
            break;
        }
        if (!lx_kptr(os, name_va) || lx_str(os, name_va, name, 24) != VMIC_OK)
            snprintf(name, sizeof name, "driver@%llx", (unsigned long long)drv);
        vmic_clear_error();
        count++;
        char label[64];
        snprintf(label, sizeof label, "tty_driver %s ops", name);
        if (!lx_kptr(os, table)) {
            s = vmic_fail(VMIC_E_FORMAT, "%s: 0x%llx is not a kernel address", label,
                          (unsigned long long)table);
            break;
        }
        if ((s = check_table(w, &fm, table, label)))
            break;
        if ((s = lx_u64(os, node, &node))) {
            s = vmic_fail_wrap(s, "tty_drivers after %s", name);
            break;
        }
    }
    lx_seen_free(&seen);
    return s;
}

vmic_status vmic_os_check_ops(vmic_os *os, vmic_check_fn fn, void *arg, size_t *checked)
{
    ops_walk w = {.os = os, .fn = fn, .arg = arg};
    if (checked)
        *checked = 0;
    vmic_status s = lx_text_map_init(os, &w.map);
    if (s)
        return vmic_fail_wrap(s, "checking the ops tables");
    s = check_named(&w, "seq_operations", seq_tables, sizeof seq_tables / sizeof *seq_tables);
    if (!s && !w.stop)
        s = check_named(&w, "file_operations", tty_file_tables,
                        sizeof tty_file_tables / sizeof *tty_file_tables);
    if (!s && !w.stop)
        s = check_tty_drivers(&w);
    if (checked)
        *checked = w.checked;
    lx_text_map_free(&w.map);
    return s;
}
