/* vmic mounts: the mounts of a mount namespace, like /proc/PID/mountinfo. */
#include <stdio.h>

#include "cli_list.h"

static const cli_col cols[] = {
    {.head = "ID", .key = "id", .type = CLI_COL_INT, .width = 4},
    {.head = "PARENT", .key = "parent_id", .type = CLI_COL_INT, .width = 6},
    {.head = "DEV", .key = "dev", .type = CLI_COL_STR, .width = 7},
    {.head = "ROOT", .key = "root", .type = CLI_COL_STR, .width = -6, .flags = CLI_COL_ESCAPE},
    {.head = "MOUNTPOINT", .key = "mount_point", .type = CLI_COL_STR, .width = -20,
     .flags = CLI_COL_ESCAPE},
    {.head = "OPTIONS", .key = "options", .type = CLI_COL_STR, .width = -28},
    {.head = "TYPE", .key = "fstype", .type = CLI_COL_STR, .width = -10,
     .flags = CLI_COL_ESCAPE},
    {.head = "SOURCE", .key = "source", .type = CLI_COL_STR, .width = -12,
     .flags = CLI_COL_ESCAPE},
    {.head = "SUPER", .key = "super_options", .type = CLI_COL_STR, .width = -8},
    {.head = "PROPAGATION", .key = "propagation", .type = CLI_COL_STR},
    {.key = "partial", .type = CLI_COL_BOOL, .sep = "  ", .mark = "(partial)",
     .flags = CLI_COL_TABLE_IF_SET},
    {.type = CLI_COL_BOOL, .sep = "  ", .mark = "(outside the root)",
     .flags = CLI_COL_TABLE_IF_SET},
    {.key = "visible", .type = CLI_COL_BOOL, .flags = CLI_COL_JSON_ONLY},
    {.key = "mnt_flags", .type = CLI_COL_HEX, .flags = CLI_COL_JSON_ONLY},
    {.key = "sb_flags", .type = CLI_COL_HEX, .flags = CLI_COL_JSON_ONLY},
    {.key = "mount", .type = CLI_COL_HEX, .flags = CLI_COL_JSON_ONLY},
};
enum { ID, PARENT, DEV, ROOT, POINT, OPTIONS, FSTYPE, SOURCE, SUPER, PROPAGATION, PARTIAL,
       HIDDEN, VISIBLE, MNT_FLAGS, SB_FLAGS, MOUNT, NCOLS };
/* HIDDEN is the table's mark only (no key): JSON says visible. */
static const unsigned char json_order[] = {ID, PARENT, DEV, ROOT, POINT, OPTIONS, PROPAGATION,
                                           FSTYPE, SOURCE, SUPER, VISIBLE, MNT_FLAGS, SB_FLAGS,
                                           MOUNT, PARTIAL, HIDDEN};
_Static_assert(sizeof json_order == NCOLS, "json_order names every column once");
static const cli_schema schema = {cols, NCOLS, json_order, false};

static uint64_t opt_pid = 1;
static bool opt_all;

static int row(void *arg, const vmic_mount_t *m)
{
    cli_walk *w = arg;
    char dev[24];
    if (!m->visible && !opt_all)
        return 0;
    snprintf(dev, sizeof dev, "%u:%u", m->dev_major, m->dev_minor);
    cli_val v[NCOLS] = {
        [ID] = CLI_I(m->id), [PARENT] = CLI_I(m->parent_id), [DEV] = CLI_S(dev),
        [ROOT] = CLI_S(m->root), [POINT] = CLI_S(m->point), [OPTIONS] = CLI_S(m->options),
        [FSTYPE] = CLI_S(m->fstype), [SOURCE] = CLI_S(m->source),
        [SUPER] = CLI_S(m->super_options), [PROPAGATION] = CLI_S(m->propagation),
        [PARTIAL] = CLI_B(m->partial), [HIDDEN] = CLI_B(!m->visible),
        [VISIBLE] = CLI_B(m->visible),
        [MNT_FLAGS] = CLI_U(m->mnt_flags), [SB_FLAGS] = CLI_U(m->sb_flags),
        [MOUNT] = CLI_U(m->mount.addr),
    };
    cli_rows_add(&w->rows, v);
    return 0;
}

static vmic_status walk(cli_walk *w)
{
    return vmic_os_mounts(w->os, &w->proc, row, w);
}

int cmd_mounts(int argc, char **argv)
{
    static const cli_opt opts[] = {
        CLI_U64("pid", 0, "PID", &opt_pid, 0, INT32_MAX,
                "the mount namespace of process PID (default 1, init's)"),
        CLI_FLAG("all", 'a', &opt_all,
                 "also the mounts outside the process's root, which its mountinfo\n"
                 "does not show (initramfs's rootfs under systemd)"),
        CLI_END,
    };
    static const cli_list_cmd mounts = {
        .spec = {
            .cmd = "mounts", .usage = "[OPTIONS] TARGET", .groups = CLI_G_GUEST, .opts = opts,
            .min_operands = 1, .max_operands = 1,
            .about =
                "List the mounts of a mount namespace in /proc/PID/mountinfo's order: mount\n"
                "id, parent id, device, the mount's root in its filesystem, the mount point,\n"
                "the per-mount options (ro/rw, nosuid, nodev, noexec, noatime, relatime...),\n"
                "filesystem type, source, the superblock's generic options (ro/rw, sync,\n"
                "dirsync, mand, lazytime; not a filesystem's own, such as tmpfs's size=)\n"
                "and the propagation (shared:N, master:N, unbindable; not propagate_from).",
        },
        .schema = &schema, .walk = walk, .pid_option = &opt_pid,
    };
    return cli_list(&mounts, argc, argv);
}
