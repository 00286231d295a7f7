/*
 * The mounts of a mount namespace, as /proc/PID/mountinfo shows them:
 * task->nsproxy->mnt_ns holds every struct mount of the namespace, on a
 * list (mnt_namespace.list through mount.mnt_list) up to 6.7 and in a
 * red-black tree keyed by mount id (mnt_namespace.mounts through
 * mount.mnt_node) from 6.8. Both give mountinfo's order: creation order.
 *
 * /proc/PID/mountinfo shows only the mounts under the process's root
 * (fs->root) and names their mount points from there: the mount point is
 * built through the mount tree as d_path does, ending at that root, and a
 * mount whose path never meets it is not visible (initramfs's rootfs under
 * systemd; everything outside a chroot).
 *
 * Per mount: ids, the superblock's device and type, the mount's root in
 * its filesystem, the mount point through the mount tree, the source
 * (mnt_devname), and the options mountinfo prints from the mount's flags
 * and the superblock's generic flags. A filesystem's own options come from
 * its code (s_op->show_options); tmpfs's (devtmpfs's, a tmpfs rootfs's)
 * are rendered from its shmem_sb_info as that code does (mounts_shmem.c),
 * the others' are not given.
 *
 * Hostile input: the list is cycle-checked and the tree walk bounded in
 * depth and count; a mount whose fields do not read is listed, flagged
 * partial; a broken link ends the walk with an error.
 */
#include <stdio.h>
#include <string.h>

#include "os_internal.h"

#define RB_MAX_DEPTH 128 /* a red-black tree of 2^63 nodes is shallower */
#define MNT_SHARED 0x1000u
#define MNT_UNBINDABLE 0x2000u
#define SB_SYNCHRONOUS 0x10u
#define SB_MANDLOCK 0x40u
#define SB_DIRSYNC 0x80u
#define SB_LAZYTIME 0x2000000u

typedef struct mnt_off {
    lx_fld fs, fs_root, path_mnt, path_dentry, nsproxy, mnt_ns, ns_list, ns_mounts, mnt_list, mnt_node, rb_node, rb_left, rb_right;
    lx_fld mnt, mnt_parent, mnt_id, mnt_devname, mnt_group_id, mnt_master;
    lx_fld mnt_root, mnt_sb, mnt_flags;
    lx_fld s_dev, s_flags, s_type, s_subtype, fs_name;
} mnt_off;

static vmic_status mnt_offsets(vmic_os *os, mnt_off *o)
{
    vmic_status s;
    memset(o, 0, sizeof *o);
#define REQ(fld, p) if ((s = lx_field(os, p, &o->fld, true))) return s
#define OPT(fld, p) if ((s = lx_field(os, p, &o->fld, false))) return s
    REQ(fs, "task_struct.fs");
    REQ(fs_root, "fs_struct.root");
    REQ(path_mnt, "path.mnt");
    REQ(path_dentry, "path.dentry");
    REQ(nsproxy, "task_struct.nsproxy");
    REQ(mnt_ns, "nsproxy.mnt_ns");
    OPT(ns_list, "mnt_namespace.list");
    OPT(ns_mounts, "mnt_namespace.mounts");
    OPT(mnt_list, "mount.mnt_list");
    OPT(mnt_node, "mount.mnt_node");
    OPT(rb_node, "rb_root.rb_node");
    OPT(rb_left, "rb_node.rb_left");
    OPT(rb_right, "rb_node.rb_right");
    REQ(mnt, "mount.mnt");
    REQ(mnt_parent, "mount.mnt_parent");
    REQ(mnt_id, "mount.mnt_id");
    REQ(mnt_devname, "mount.mnt_devname");
    OPT(mnt_group_id, "mount.mnt_group_id");
    OPT(mnt_master, "mount.mnt_master");
    REQ(mnt_root, "vfsmount.mnt_root");
    REQ(mnt_sb, "vfsmount.mnt_sb");
    REQ(mnt_flags, "vfsmount.mnt_flags");
    REQ(s_dev, "super_block.s_dev");
    REQ(s_flags, "super_block.s_flags");
    REQ(s_type, "super_block.s_type");
    OPT(s_subtype, "super_block.s_subtype");
    REQ(fs_name, "file_system_type.name");
#undef REQ
#undef OPT
    bool list = o->ns_list.ok && o->mnt_list.ok;
    bool tree = o->ns_mounts.ok && o->mnt_node.ok && o->rb_node.ok && o->rb_left.ok &&
                o->rb_right.ok;
    if (!list && !tree)
        return vmic_fail(VMIC_E_UNSUPPORTED, "%s: the mount namespace has neither a mount list "
                         "(mnt_namespace.list) nor a tree (mnt_namespace.mounts)",
                         lx_types_source(os->types));
    if (tree && !list)
        o->ns_list.ok = false; /* the tree is the one to walk */
    return VMIC_OK;
}

static void append(char *buf, size_t size, const char *opt)
{
    size_t n = strlen(buf);
    snprintf(buf + n, size - n, "%s%s", n ? "," : "", opt);
}

/* mountinfo's 6th column: show_mnt_opts()'s flags, in its order. */
static void mount_options(uint32_t f, char *buf, size_t size)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } opts[] = {{VMIC_MNT_NOSUID, "nosuid"},         {VMIC_MNT_NODEV, "nodev"},
                {VMIC_MNT_NOEXEC, "noexec"},         {VMIC_MNT_NOATIME, "noatime"},
                {VMIC_MNT_NODIRATIME, "nodiratime"}, {VMIC_MNT_RELATIME, "relatime"},
                {VMIC_MNT_NOSYMFOLLOW, "nosymfollow"}};
    buf[0] = '\0';
    append(buf, size, f & VMIC_MNT_READONLY ? "ro" : "rw");
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (f & opts[i].bit)
            append(buf, size, opts[i].name);
}

/* The super options' generic start: show_sb_opts() after ro/rw. */
static void super_options(uint32_t f, char *buf, size_t size)
{
    buf[0] = '\0';
    append(buf, size, f & VMIC_SB_RDONLY ? "ro" : "rw");
    if (f & SB_SYNCHRONOUS)
        append(buf, size, "sync");
    if (f & SB_DIRSYNC)
        append(buf, size, "dirsync");
    if (f & SB_MANDLOCK)
        append(buf, size, "mand");
    if (f & SB_LAZYTIME)
        append(buf, size, "lazytime");
}

static vmic_status fs_type(vmic_os *os, const mnt_off *o, uint64_t sb, vmic_mount_t *m)
{
    uint64_t type, name, sub = 0;
    char subtype[32] = "";
    vmic_status s;
    if ((s = lx_read_kptr_field(os, sb, &o->s_type, &type)) || !type ||
        (s = lx_read_kptr_field(os, type, &o->fs_name, &name)) || !name ||
        (s = lx_str(os, name, m->fstype, sizeof m->fstype)))
        return s ? s : vmic_fail(VMIC_E_FORMAT, "superblock 0x%llx has no type name",
                                 (unsigned long long)sb);
    /* fuse.sshfs and the like: type.subtype */
    if (o->s_subtype.ok && lx_read_kptr_field(os, sb, &o->s_subtype, &sub) == VMIC_OK && sub &&
        lx_str(os, sub, subtype, sizeof subtype) == VMIC_OK && subtype[0]) {
        size_t n = strlen(m->fstype);
        snprintf(m->fstype + n, sizeof m->fstype - n, ".%s", subtype);
    }
    vmic_clear_error();
    return VMIC_OK;
}

/* The filesystem's own super options after the generic ones (those
 * mounts_fsopts.c renders); on failure the generic part stays and the
 * caller flags the row. */
static vmic_status fs_options(vmic_os *os, uint64_t sb, vmic_mount_t *m)
{
    char own[256];
    vmic_status s = lx_fs_options(os, sb, m->fstype, own, sizeof own);
    if (s || !own[0])
        return s;
    if (strlen(m->super_options) + 1 + strlen(own) >= sizeof m->super_options)
        return vmic_fail(VMIC_E_RANGE, "super options \"%s,%s\" do not fit %zu bytes",
                         m->super_options, own, sizeof m->super_options);
    append(m->super_options, sizeof m->super_options, own);
    return VMIC_OK;
}

/* mountinfo's optional fields: the peer group of a shared mount, the one
 * a slave receives from (propagate_from, which needs the namespace's root
 * to work out, is not given), unbindable. */
static vmic_status propagation(vmic_os *os, const mnt_off *o, uint64_t mount, uint32_t flags,
                               char *buf, size_t size)
{
    uint32_t group = 0;
    uint64_t master = 0;
    vmic_status s;
    buf[0] = '\0';
    if (!o->mnt_group_id.ok || !o->mnt_master.ok)
        return VMIC_OK;
    if ((flags & MNT_SHARED) && (s = lx_u32(os, mount + o->mnt_group_id.off, &group)))
        return s;
    if (group)
        snprintf(buf, size, "shared:%u", group);
    if ((s = lx_read_kptr_field(os, mount, &o->mnt_master, &master)))
        return s;
    if (master && (s = lx_u32(os, master + o->mnt_group_id.off, &group)))
        return s;
    if (master) {
        size_t n = strlen(buf);
        snprintf(buf + n, size - n, "%smaster:%u", n ? " " : "", group);
    }
    if (flags & MNT_UNBINDABLE) {
        size_t n = strlen(buf);
        snprintf(buf + n, size - n, "%sunbindable", n ? " " : "");
    }
    return VMIC_OK;
}

/* The process's root: where mount points start, and what is visible. */
typedef struct proc_root {
    uint64_t mnt, dentry; /* its vfsmount and dentry; 0 if unknown */
} proc_root;

/* One struct mount; what does not read leaves the mount partial. */
static vmic_status read_mount(vmic_os *os, const mnt_off *o, const proc_root *pr, uint64_t mount,
                              vmic_mount_t *m)
{
    uint64_t vfs = mount + o->mnt.off, parent, root, sb, name;
    uint32_t id, flags, pid = 0, dev;
    uint64_t sflags;
    bool cut;
    vmic_status s;
    m->mount = vmic_va(mount);
    if ((s = lx_u32(os, mount + o->mnt_id.off, &id)) ||
        (s = lx_read_kptr_field(os, mount, &o->mnt_parent, &parent)) ||
        (parent && (s = lx_u32(os, parent + o->mnt_id.off, &pid))) ||
        (s = lx_read_kptr_field(os, vfs, &o->mnt_root, &root)) ||
        (s = lx_read_kptr_field(os, vfs, &o->mnt_sb, &sb)) ||
        (s = lx_u32(os, vfs + o->mnt_flags.off, &flags)) || !sb || !root)
        return s ? s : vmic_fail(VMIC_E_FORMAT, "mount 0x%llx has no superblock or root",
                                 (unsigned long long)mount);
    m->id = (int32_t)id;
    m->parent_id = (int32_t)pid;
    m->mnt_flags = flags;
    mount_options(flags, m->options, sizeof m->options);
    if (lx_u32(os, sb + o->s_dev.off, &dev) == VMIC_OK) {
        m->dev_major = dev >> 20; /* MINORBITS */
        m->dev_minor = dev & 0xfffff;
    } else
        m->partial = true;
    if (lx_u64(os, sb + o->s_flags.off, &sflags) == VMIC_OK) {
        m->sb_flags = (uint32_t)sflags;
        super_options(m->sb_flags, m->super_options, sizeof m->super_options);
    } else
        m->partial = true;
    if (fs_type(os, o, sb, m))
        m->partial = true;
    if (m->super_options[0] && fs_options(os, sb, m))
        m->partial = true;
    if (propagation(os, o, mount, flags, m->propagation, sizeof m->propagation))
        m->partial = true;
    if (lx_read_kptr_field(os, mount, &o->mnt_devname, &name) || !name ||
        lx_str(os, name, m->source, sizeof m->source))
        m->partial = true;
    if (lx_fs_path(os, root, m->root, sizeof m->root, &cut) || cut)
        m->partial = true;
    /* As mountinfo: the path of the mount's own root, from the process's. */
    if (lx_mount_path(os, vfs, root, pr->mnt, pr->dentry, m->point, sizeof m->point, &cut,
                      &m->visible)) {
        m->partial = true;
        m->visible = true; /* not known: shown, flagged, rather than hidden */
    } else if (cut) {
        m->partial = true;
    }
    vmic_clear_error();
    return VMIC_OK;
}

typedef struct mnt_walk {
    vmic_os *os;
    const mnt_off *o;
    proc_root root;
    lx_seen seen;
    size_t count;
    vmic_mount_fn fn;
    void *arg;
    bool stopped;
} mnt_walk;

/* One mount found by the walk; 1 to stop. */
static vmic_status visit(mnt_walk *w, uint64_t mount)
{
    int added = lx_seen_add(&w->seen, mount);
    if (added <= 0)
        return added == 0 ? vmic_fail(VMIC_E_FORMAT, "mount namespace: cycle at mount 0x%llx "
                                      "after %zu mounts; truncated", (unsigned long long)mount,
                                      w->count)
                          : vmic_fail(VMIC_E_RANGE, "mount namespace: more than %u mounts",
                                      (unsigned)LX_MAX_MOUNTS);
    vmic_mount_t m = {0};
    vmic_status s = read_mount(w->os, w->o, &w->root, mount, &m);
    if (s)
        return vmic_fail_wrap(s, "mount 0x%llx (entry %zu)", (unsigned long long)mount,
                              w->count);
    w->count++;
    w->stopped = w->fn(w->arg, &m) != 0;
    return VMIC_OK;
}

static vmic_status walk_list(mnt_walk *w, uint64_t ns)
{
    const mnt_off *o = w->o;
    uint64_t head = ns + o->ns_list.off, node;
    vmic_status s;
    if ((s = lx_u64(w->os, head, &node)))
        return vmic_fail_wrap(s, "mount list at 0x%llx", (unsigned long long)head);
    while (node != head && !w->stopped) {
        if (!lx_kptr(w->os, node))
            return vmic_fail(VMIC_E_FORMAT, "mount list: pointer 0x%llx after %zu mounts is not "
                             "a kernel address; truncated", (unsigned long long)node, w->count);
        if ((s = visit(w, node - o->mnt_list.off)))
            return s;
        if ((s = lx_u64(w->os, node, &node)))
            return vmic_fail_wrap(s, "mount list after %zu mounts", w->count);
    }
    return VMIC_OK;
}

/* In order, without recursion: left spine onto a stack, visit, go right. */
static vmic_status walk_tree(mnt_walk *w, uint64_t ns)
{
    const mnt_off *o = w->o;
    uint64_t stack[RB_MAX_DEPTH], node;
    int depth = 0;
    vmic_status s;
    if ((s = lx_read_kptr_field(w->os, ns + o->ns_mounts.off, &o->rb_node, &node)))
        return vmic_fail_wrap(s, "mount tree of namespace 0x%llx", (unsigned long long)ns);
    while ((node || depth) && !w->stopped) {
        if (node) {
            if (depth == RB_MAX_DEPTH)
                return vmic_fail(VMIC_E_FORMAT, "mount tree deeper than %d (a loop?) after %zu "
                                 "mounts; truncated", RB_MAX_DEPTH, w->count);
            stack[depth++] = node;
            if ((s = lx_read_kptr_field(w->os, node, &o->rb_left, &node)))
                return vmic_fail_wrap(s, "mount tree after %zu mounts", w->count);
            continue;
        }
        node = stack[--depth];
        if ((s = visit(w, node - o->mnt_node.off)))
            return s;
        if ((s = lx_read_kptr_field(w->os, node, &o->rb_right, &node)))
            return vmic_fail_wrap(s, "mount tree after %zu mounts", w->count);
    }
    return VMIC_OK;
}

vmic_status vmic_os_mounts(vmic_os *os, const vmic_process_t *p, vmic_mount_fn fn, void *arg)
{
    mnt_off o;
    uint64_t nsproxy, ns;
    vmic_status s;
    if ((s = mnt_offsets(os, &o)))
        return vmic_fail_wrap(s, "mounts");
    if ((s = lx_read_kptr_field(os, p->task.addr, &o.nsproxy, &nsproxy)) ||
        (nsproxy && (s = lx_read_kptr_field(os, nsproxy, &o.mnt_ns, &ns))))
        return vmic_fail_wrap(s, "mounts of pid %d", (int)p->tgid);
    if (!nsproxy || !ns)
        return vmic_fail(VMIC_E_NOTFOUND, "mounts of pid %d: it has no mount namespace (it has "
                         "exited); try --pid 1", (int)p->tgid);
    /* The process's root, if it has an fs_struct that reads; else mount
     * points are from the namespace's root and every mount is visible. */
    proc_root root = {0};
    uint64_t fs = 0;
    if (lx_read_kptr_field(os, p->task.addr, &o.fs, &fs) == VMIC_OK && fs &&
        (lx_read_kptr_field(os, fs + o.fs_root.off, &o.path_mnt, &root.mnt) ||
         lx_read_kptr_field(os, fs + o.fs_root.off, &o.path_dentry, &root.dentry) || !root.dentry))
        root.mnt = root.dentry = 0;
    vmic_clear_error();
    mnt_walk w = {.os = os, .o = &o, .root = root, .fn = fn, .arg = arg};
    if ((s = lx_seen_init(&w.seen, LX_MAX_MOUNTS)))
        return s;
    s = o.ns_list.ok ? walk_list(&w, ns) : walk_tree(&w, ns);
    lx_seen_free(&w.seen);
    return s;
}
