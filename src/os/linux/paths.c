/*
 * Paths of files, as d_path() makes them: the dentry chain up to the root of
 * its mount, then on from the mountpoint in the parent mount, until the
 * namespace's root. Pseudo filesystems name their files themselves (pipes,
 * sockets, anonymous inodes, namespaces, pidfds: each d_dname), told apart
 * by the superblock's magic.
 *
 * Hostile input: each step is bounded (depth, name length); a broken chain
 * ends the path with an error, never a loop. A path longer than the
 * caller's buffer is no error: it keeps its last components that fit and is
 * flagged truncated, once the chain is seen to reach a root (a loop makes a
 * "path" of any length, and stays an error).
 */
#include <stdio.h>
#include <string.h>

#include "os_internal.h"

#define PIPEFS_MAGIC 0x50495045u
#define SOCKFS_MAGIC 0x534F434Bu
#define ANON_INODE_FS_MAGIC 0x09041934u
#define NSFS_MAGIC 0x6e736673u
#define PIDFS_MAGIC 0x50494446u /* 6.9+: pidfds have a filesystem of their own */
#define NAME_MAX_LEN 255

static vmic_status lx_path_offsets(vmic_os *os, lx_path_off *o)
{
    vmic_status s;
    memset(o, 0, sizeof *o);
#define REQ(fld, p) if ((s = lx_field(os, p, &o->fld, true))) return s
#define OPT(fld, p) if ((s = lx_field(os, p, &o->fld, false))) return s
    REQ(path_mnt, "path.mnt");
    REQ(path_dentry, "path.dentry");
    REQ(d_parent, "dentry.d_parent");
    REQ(d_name, "dentry.d_name");
    REQ(qstr_name, "qstr.name");
    REQ(qstr_len, "qstr.len");
    REQ(d_sb, "dentry.d_sb");
    OPT(d_inode, "dentry.d_inode");
    OPT(d_hash_pprev, "dentry.d_hash.pprev");
    REQ(mnt_root, "vfsmount.mnt_root");
    REQ(mount_mnt, "mount.mnt");
    REQ(mnt_parent, "mount.mnt_parent");
    REQ(mnt_mountpoint, "mount.mnt_mountpoint");
    REQ(s_magic, "super_block.s_magic");
    REQ(s_dev, "super_block.s_dev");
    REQ(i_ino, "inode.i_ino");
    REQ(i_sb, "inode.i_sb");
    REQ(f_path, "file.f_path");
    REQ(f_inode, "file.f_inode");
    OPT(f_flags, "file.f_flags");
    OPT(f_pos, "file.f_pos");
    OPT(i_private, "inode.i_private");
    OPT(ns_common_ops, "ns_common.ops");
    OPT(ns_ops_name, "proc_ns_operations.name");
#undef REQ
#undef OPT
    o->ok = true;
    return VMIC_OK;
}

/* Prepends "/name" to the path being built right to left in buf[*pos..];
 * when it does not fit, leaves buf as it was and sets *full. */
static vmic_status prepend_name(vmic_os *os, const lx_path_off *o, uint64_t dentry, char *buf,
                                size_t *pos, bool *full)
{
    uint64_t name;
    uint32_t len;
    vmic_status s;
    uint64_t q = dentry + o->d_name.off;
    if ((s = lx_read_kptr_field(os, q, &o->qstr_name, &name)) ||
        (s = lx_u32(os, q + o->qstr_len.off, &len)))
        return s;
    if (len == 0 || len > NAME_MAX_LEN || !name)
        return vmic_fail(VMIC_E_FORMAT, "dentry 0x%llx has a name of %u bytes",
                         (unsigned long long)dentry, len);
    if (len + 1 > *pos) {
        *full = true;
        return VMIC_OK;
    }
    *pos -= len;
    if ((s = lx_read(os, name, buf + *pos, len)))
        return s;
    buf[--*pos] = '/';
    return VMIC_OK;
}

/* A process's root, where a path may end before the namespace's root. */
typedef struct path_root {
    uint64_t mount, dentry; /* the struct mount and dentry of fs->root */
    bool reached;           /* the path went through it */
} path_root;

/* The path into out[size]; *truncated when it kept only its tail. With
 * stop, the path is from stop's root when it goes through it (as d_path
 * makes it for a chrooted reader). */
static vmic_status build_path(vmic_os *os, const lx_path_off *o, uint64_t mnt, uint64_t dentry,
                              char *out, size_t size, bool *truncated, path_root *stop)
{
    char buf[VMIC_PATH_LEN];
    size_t room = size < sizeof buf ? size : sizeof buf;
    size_t pos = room - 1;
    bool full = false;
    vmic_status s;
    buf[pos] = '\0';
    uint64_t mount = mnt - o->mount_mnt.off;

    for (int depth = 0;; depth++) {
        if (depth > LX_MAX_PATH_DEPTH && full)
            return vmic_fail(VMIC_E_RANGE, "path longer than %zu bytes and deeper than %d "
                             "components (a loop?)", room - 1, LX_MAX_PATH_DEPTH);
        if (depth > LX_MAX_PATH_DEPTH)
            return vmic_fail(VMIC_E_RANGE, "path deeper than %d components (a loop?)",
                             LX_MAX_PATH_DEPTH);
        uint64_t root, parent;
        if (stop && mount == stop->mount && dentry == stop->dentry) {
            stop->reached = true;
            break;
        }
        if ((s = lx_read_kptr_field(os, mnt, &o->mnt_root, &root)) ||
            (s = lx_read_kptr_field(os, dentry, &o->d_parent, &parent)))
            return s;
        if (dentry == root || dentry == parent) {
            uint64_t up, mp;
            if ((s = lx_read_kptr_field(os, mount, &o->mnt_parent, &up)))
                return s;
            if (!up || up == mount)
                break; /* the namespace's root */
            if ((s = lx_read_kptr_field(os, mount, &o->mnt_mountpoint, &mp)))
                return s;
            mount = up;
            mnt = up + o->mount_mnt.off;
            dentry = mp;
            continue;
        }
        /* Once full, the walk goes on only to see the chain reach a root. */
        if (!full && (s = prepend_name(os, o, dentry, buf, &pos, &full)))
            return s;
        dentry = parent;
    }
    if (buf[pos] == '\0')
        buf[--pos] = '/';
    *truncated = full;
    snprintf(out, size, "%s", buf + pos);
    return VMIC_OK;
}

/* A namespace file (/proc/PID/ns/net opened): "net:[4026531840]", as
 * ns_dname names it: the namespace (inode->i_private, a struct ns_common)
 * and its operations' name. */
static bool ns_name(vmic_os *os, const lx_path_off *o, uint64_t inode, uint64_t ino, char *out,
                    size_t size)
{
    uint64_t ns, ops, name;
    char kind[24];
    if (!inode || !o->i_private.ok || !o->ns_common_ops.ok || !o->ns_ops_name.ok ||
        lx_read_kptr_field(os, inode, &o->i_private, &ns) || !ns ||
        lx_read_kptr_field(os, ns, &o->ns_common_ops, &ops) ||
        !ops || lx_read_kptr_field(os, ops, &o->ns_ops_name, &name) || !name ||
        lx_str(os, name, kind, sizeof kind - 1) != VMIC_OK)
        return false;
    /* "net", "mnt", "pid", "cgroup", ...: anything else is not a name. */
    for (const char *c = kind; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || *c == '_'))
            return false;
    if (!kind[0])
        return false;
    snprintf(out, size, "%s:[%llu]", kind, (unsigned long long)ino);
    return true;
}

/* d_dname of the pseudo filesystems, by superblock magic. */
static bool pseudo_name(vmic_os *os, const lx_path_off *o, uint64_t dentry, uint64_t inode,
                        char *out, size_t size)
{
    uint64_t sb, ino = 0;
    uint32_t magic;
    if (lx_read_kptr_field(os, dentry, &o->d_sb, &sb) || !sb ||
        lx_u32(os, sb + o->s_magic.off, &magic))
        return false;
    if (inode)
        (void)lx_u64(os, inode + o->i_ino.off, &ino);
    switch (magic) {
    case PIPEFS_MAGIC:
        snprintf(out, size, "pipe:[%llu]", (unsigned long long)ino);
        return true;
    case SOCKFS_MAGIC:
        snprintf(out, size, "socket:[%llu]", (unsigned long long)ino);
        return true;
    case PIDFS_MAGIC:
        snprintf(out, size, "anon_inode:[pidfd]"); /* pidfs_dname */
        return true;
    case NSFS_MAGIC:
        return ns_name(os, o, inode, ino, out, size);
    case ANON_INODE_FS_MAGIC: {
        char name[VMIC_PATH_LEN];
        size_t pos = sizeof name - 1;
        bool full = false;
        name[pos] = '\0';
        if (prepend_name(os, o, dentry, name, &pos, &full) != VMIC_OK || full)
            return false;
        snprintf(out, size, "anon_inode:%s", name + pos + 1);
        return true;
    }
    }
    return false;
}

/* Kept in the os: its types do not change while it is open. */
static vmic_status path_offsets(vmic_os *os, const lx_path_off **o)
{
    vmic_status s;
    if (!os->path.ok && (s = lx_path_offsets(os, &os->path)))
        return s;
    *o = &os->path;
    return VMIC_OK;
}

vmic_status lx_file_path(vmic_os *os, uint64_t file, char *buf, size_t size, uint64_t *inode_no,
                         bool *truncated)
{
    const lx_path_off *o;
    vmic_status s;
    if ((s = path_offsets(os, &o)))
        return s;
    uint64_t mnt, dentry, inode = 0;
    uint64_t p = file + o->f_path.off;
    buf[0] = '\0';
    *truncated = false;
    if (size < 2)
        return vmic_fail(VMIC_E_INVAL, "lx_file_path: a %zu-byte buffer", size);
    if ((s = lx_read_kptr_field(os, p, &o->path_mnt, &mnt)) ||
        (s = lx_read_kptr_field(os, p, &o->path_dentry, &dentry)) ||
        (s = lx_read_kptr_field(os, file, &o->f_inode, &inode)))
        return vmic_fail_wrap(s, "file 0x%llx", (unsigned long long)file);
    if (!mnt || !dentry)
        return vmic_fail(VMIC_E_FORMAT, "file 0x%llx has no path", (unsigned long long)file);
    if (inode_no) {
        *inode_no = 0;
        if (inode)
            (void)lx_u64(os, inode + o->i_ino.off, inode_no);
    }
    if (pseudo_name(os, o, dentry, inode, buf, size)) {
        vmic_clear_error();
        return VMIC_OK;
    }
    vmic_clear_error();
    if ((s = build_path(os, o, mnt, dentry, buf, size, truncated, NULL)))
        return vmic_fail_wrap(s, "path of file 0x%llx", (unsigned long long)file);
    /* An unhashed dentry that is not a root was deleted. */
    uint64_t pprev = 1, parent = 0;
    if (o->d_hash_pprev.ok && lx_u64(os, dentry + o->d_hash_pprev.off, &pprev) == VMIC_OK &&
        lx_u64(os, dentry + o->d_parent.off, &parent) == VMIC_OK && pprev == 0 &&
        parent != dentry) {
        size_t n = strlen(buf);
        if (snprintf(buf + n, size - n, " (deleted)") >= (int)(size - n))
            *truncated = true;
    }
    vmic_clear_error();
    return VMIC_OK;
}

vmic_status lx_file_dev(vmic_os *os, uint64_t file, uint32_t *major, uint32_t *minor,
                        uint64_t *ino)
{
    const lx_path_off *o;
    uint64_t inode, sb;
    uint32_t dev;
    vmic_status s;
    if ((s = path_offsets(os, &o)) ||
        (s = lx_read_kptr_field(os, file, &o->f_inode, &inode)) || !inode ||
        (s = lx_u64(os, inode + o->i_ino.off, ino)) ||
        (s = lx_read_kptr_field(os, inode, &o->i_sb, &sb)) || !sb ||
        (s = lx_u32(os, sb + o->s_dev.off, &dev)))
        return s ? s : vmic_fail(VMIC_E_FORMAT, "file 0x%llx has no inode or superblock",
                                 (unsigned long long)file);
    *major = dev >> 20; /* MINORBITS */
    *minor = dev & 0xfffff;
    return VMIC_OK;
}

/* ---- mount points and mount roots (mounts.c) ------------------------------- */

vmic_status lx_mount_path(vmic_os *os, uint64_t mnt, uint64_t dentry, uint64_t root_mnt,
                          uint64_t root_dentry, char *buf, size_t size, bool *truncated,
                          bool *under_root)
{
    const lx_path_off *o;
    vmic_status s;
    *truncated = false;
    *under_root = false;
    if ((s = path_offsets(os, &o)))
        return s;
    path_root stop = {.mount = root_mnt - o->mount_mnt.off, .dentry = root_dentry};
    s = build_path(os, o, mnt, dentry, buf, size, truncated, root_mnt ? &stop : NULL);
    *under_root = !root_mnt || stop.reached;
    return s;
}

/* Up the d_parent chain to the dentry that is its own parent. */
vmic_status lx_fs_path(vmic_os *os, uint64_t dentry, char *out, size_t size, bool *truncated)
{
    const lx_path_off *o;
    char buf[VMIC_PATH_LEN];
    size_t room = size < sizeof buf ? size : sizeof buf, pos = room - 1;
    bool full = false;
    vmic_status s;
    *truncated = false;
    if ((s = path_offsets(os, &o)))
        return s;
    buf[pos] = '\0';
    for (int depth = 0;; depth++) {
        uint64_t parent;
        if (depth > LX_MAX_PATH_DEPTH)
            return vmic_fail(VMIC_E_RANGE, "path deeper than %d components (a loop?)",
                             LX_MAX_PATH_DEPTH);
        if ((s = lx_read_kptr_field(os, dentry, &o->d_parent, &parent)))
            return s;
        if (!parent || parent == dentry)
            break;
        if (!full && (s = prepend_name(os, o, dentry, buf, &pos, &full)))
            return s;
        dentry = parent;
    }
    if (buf[pos] == '\0')
        buf[--pos] = '/';
    *truncated = full;
    snprintf(out, size, "%s", buf + pos);
    return VMIC_OK;
}
