/*
 * The super options of the filesystems systemd mounts on every Debian
 * guest, as each one's show_options() prints them after the generic ones
 * (6.1 to 6.12); tmpfs's are in mounts_shmem.c. Each comes from data the
 * superblock points to, read from guest memory:
 *
 *   devpts     pts_fs_info.mount_opts (sb->s_fs_info): uid= and gid= when
 *              set, mode= and ptmxmode= always (%03o), max= below 2^20
 *   cgroup2    cgrp_dfl_root.flags: nsdelegate, favordynmods,
 *              memory_localevents, memory_recursiveprot,
 *              memory_hugetlb_accounting, pids_localevents, in that order,
 *              each bit's value from the kernel's own enum (BTF)
 *   bpf        the root inode (sb->s_root's d_inode): uid=, gid= when not
 *              root, mode=%o when not 0777 (the delegate_* options of 6.9+,
 *              unset unless a user namespace asks, are not read)
 *   ramfs      ramfs_fs_info.mount_opts.mode (also an initramfs rootfs
 *              that is not tmpfs): mode=%o when not 0755
 *   hugetlbfs  hugetlbfs_sb_info: uid=, gid=, mode= when not the defaults,
 *              nr_inodes= when bounded, pagesize= (from hstate.order), then
 *              size= and min_size= of its subpool when bounded
 *
 *   autofs     autofs_sb_info (sb->s_fs_info), a type of the autofs module's
 *              own BTF: fd=, uid= and gid= of the root inode when not root,
 *              pgrp= (its number in the initial pid namespace), timeout=
 *              in seconds (jiffies / HZ, HZ from tick_nsec), minproto=,
 *              maxproto=, offset|direct|indirect, strictexpire, ignore,
 *              pipe_ino= (CONFIG_CHECKPOINT_RESTORE, as Debian's kernels)
 *
 * Others' (ext4's, ...) are not rendered: only the generic part.
 * Hostile input: every pointer is checked, a value outside what the kernel
 * stores fails, and the caller keeps the generic part and flags the row.
 */
#include <stdio.h>
#include <string.h>

#include "os_internal.h"

#define NR_UNIX98_PTY_MAX (1u << 20) /* 1 << MINORBITS */
#define RAMFS_DEFAULT_MODE 0755u
#define BPF_DEFAULT_MODE 0777u       /* S_IRWXUGO */
#define HUGETLBFS_DEFAULT_MODE 0755u
#define S_IALLUGO_NO_SVTX 06777u     /* S_IALLUGO & ~S_ISVTX */
#define PAGE_SHIFT 12u
/* fs/autofs/autofs_i.h and include/uapi/linux/auto_fs.h */
#define AUTOFS_SBI_STRICTEXPIRE 0x0002u
#define AUTOFS_SBI_IGNORE 0x0004u
#define AUTOFS_TYPE_DIRECT 2u
#define AUTOFS_TYPE_OFFSET 4u

typedef struct opts_buf {
    char *buf;
    size_t size, at;
    bool full;
} opts_buf;

/* One option more, after a comma unless it is the first. */
static void add_str(opts_buf *b, const char *one)
{
    int n = snprintf(b->buf + b->at, b->size - b->at, "%s%s", b->at ? "," : "", one);
    if (n < 0 || (size_t)n >= b->size - b->at)
        b->full = true;
    else
        b->at += (size_t)n;
}

static void add(opts_buf *b, const char *fmt, unsigned long long v)
{
    char one[64];
    snprintf(one, sizeof one, fmt, v);
    add_str(b, one);
}

static vmic_status field_u64(vmic_os *os, uint64_t base, const char *path, uint64_t *v)
{
    lx_fld f;
    vmic_status s;
    *v = 0;
    if ((s = lx_field(os, path, &f, true)))
        return s;
    if ((s = lx_read_field(os, base, &f, v)))
        return vmic_fail_wrap(s, "%s at 0x%llx", path, (unsigned long long)base);
    return VMIC_OK;
}

/* A kernel pointer field of the object at base. */
static vmic_status field_ptr(vmic_os *os, uint64_t base, const char *path, uint64_t *v)
{
    vmic_status s = field_u64(os, base, path, v);
    if (s == VMIC_OK && !lx_kptr(os, *v))
        return vmic_fail(VMIC_E_FORMAT, "%s of 0x%llx is 0x%llx, not a kernel address", path,
                         (unsigned long long)base, (unsigned long long)*v);
    return s;
}

static vmic_status devpts_options(vmic_os *os, uint64_t sb, opts_buf *b)
{
    uint64_t info = 0, setuid = 0, setgid = 0, uid = 0, gid = 0, mode = 0, ptmxmode = 0, max = 0;
    vmic_status s;
    if ((s = field_ptr(os, sb, "super_block.s_fs_info", &info)) ||
        (s = field_u64(os, info, "pts_fs_info.mount_opts.setuid", &setuid)) ||
        (s = field_u64(os, info, "pts_fs_info.mount_opts.setgid", &setgid)) ||
        (s = field_u64(os, info, "pts_fs_info.mount_opts.uid", &uid)) ||
        (s = field_u64(os, info, "pts_fs_info.mount_opts.gid", &gid)) ||
        (s = field_u64(os, info, "pts_fs_info.mount_opts.mode", &mode)) ||
        (s = field_u64(os, info, "pts_fs_info.mount_opts.ptmxmode", &ptmxmode)) ||
        (s = field_u64(os, info, "pts_fs_info.mount_opts.max", &max)))
        return s;
    if (setuid)
        add(b, "uid=%llu", uid);
    if (setgid)
        add(b, "gid=%llu", gid);
    add(b, "mode=%03llo", mode);
    add(b, "ptmxmode=%03llo", ptmxmode);
    if ((int32_t)max < (int32_t)NR_UNIX98_PTY_MAX)
        add(b, "max=%llu", (unsigned long long)(int32_t)max);
    return VMIC_OK;
}

static vmic_status cgroup2_options(vmic_os *os, opts_buf *b)
{
    static const struct { const char *bit, *name; } flags[] = {
        {"CGRP_ROOT_NS_DELEGATE", "nsdelegate"},
        {"CGRP_ROOT_FAVOR_DYNMODS", "favordynmods"},
        {"CGRP_ROOT_MEMORY_LOCAL_EVENTS", "memory_localevents"},
        {"CGRP_ROOT_MEMORY_RECURSIVE_PROT", "memory_recursiveprot"},
        {"CGRP_ROOT_MEMORY_HUGETLB_ACCOUNTING", "memory_hugetlb_accounting"},
        {"CGRP_ROOT_PIDS_LOCAL_EVENTS", "pids_localevents"},
    };
    uint64_t root = 0, v = 0;
    vmic_status s;
    if ((s = lx_need_sym(os, "cgrp_dfl_root", &root)) ||
        (s = field_u64(os, root, "cgroup_root.flags", &v)))
        return s;
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        int64_t bit;
        /* A kernel without the option has no such enumerator. */
        if (lx_types_enum(os->types, flags[i].bit, &bit) != VMIC_OK) {
            vmic_clear_error();
            continue;
        }
        if (bit > 0 && (v & (uint64_t)bit))
            add_str(b, flags[i].name);
    }
    return VMIC_OK;
}

/* bpf: the root inode's owner and mode. */
static vmic_status bpf_options(vmic_os *os, uint64_t sb, opts_buf *b)
{
    uint64_t root = 0, inode = 0, mode = 0, uid = 0, gid = 0;
    vmic_status s;
    if ((s = field_ptr(os, sb, "super_block.s_root", &root)) ||
        (s = field_ptr(os, root, "dentry.d_inode", &inode)) ||
        (s = field_u64(os, inode, "inode.i_mode", &mode)) ||
        (s = field_u64(os, inode, "inode.i_uid", &uid)) ||
        (s = field_u64(os, inode, "inode.i_gid", &gid)))
        return s;
    if (uid)
        add(b, "uid=%llu", uid);
    if (gid)
        add(b, "gid=%llu", gid);
    mode &= S_IALLUGO_NO_SVTX;
    if (mode != BPF_DEFAULT_MODE)
        add(b, "mode=%llo", mode);
    return VMIC_OK;
}

static vmic_status ramfs_options(vmic_os *os, uint64_t sb, opts_buf *b)
{
    uint64_t info = 0, mode = 0;
    vmic_status s;
    if ((s = field_ptr(os, sb, "super_block.s_fs_info", &info)) ||
        (s = field_u64(os, info, "ramfs_fs_info.mount_opts.mode", &mode)))
        return s;
    if (mode != RAMFS_DEFAULT_MODE)
        add(b, "mode=%llo", mode);
    return VMIC_OK;
}

static vmic_status hugetlbfs_options(vmic_os *os, uint64_t sb, opts_buf *b)
{
    uint64_t info = 0, uid = 0, gid = 0, mode = 0, max_inodes = 0, hstate = 0, order = 0, spool = 0;
    uint64_t max_hp = 0, min_hp = 0;
    vmic_status s;
    if ((s = field_ptr(os, sb, "super_block.s_fs_info", &info)) ||
        (s = field_u64(os, info, "hugetlbfs_sb_info.uid", &uid)) ||
        (s = field_u64(os, info, "hugetlbfs_sb_info.gid", &gid)) ||
        (s = field_u64(os, info, "hugetlbfs_sb_info.mode", &mode)) ||
        (s = field_u64(os, info, "hugetlbfs_sb_info.max_inodes", &max_inodes)) ||
        (s = field_ptr(os, info, "hugetlbfs_sb_info.hstate", &hstate)) ||
        (s = field_u64(os, hstate, "hstate.order", &order)) ||
        (s = field_u64(os, info, "hugetlbfs_sb_info.spool", &spool)))
        return s;
    /* x86-64's huge pages: 2 MiB (order 9) and 1 GiB (order 18). */
    if (order > 18)
        return vmic_fail(VMIC_E_FORMAT, "hugetlbfs superblock 0x%llx: hstate order %llu",
                         (unsigned long long)sb, (unsigned long long)order);
    if (uid)
        add(b, "uid=%llu", uid);
    if (gid)
        add(b, "gid=%llu", gid);
    if (mode != HUGETLBFS_DEFAULT_MODE)
        add(b, "mode=%llo", mode);
    if ((int64_t)max_inodes != -1)
        add(b, "nr_inodes=%llu", max_inodes);
    unsigned shift = (unsigned)order + PAGE_SHIFT;
    unsigned long long kib = (1ull << shift) / 1024;
    add(b, kib >= 1024 ? "pagesize=%lluM" : "pagesize=%lluK", kib >= 1024 ? kib / 1024 : kib);
    if (!spool)
        return VMIC_OK;
    if (!lx_kptr(os, spool))
        return vmic_fail(VMIC_E_FORMAT, "hugetlbfs superblock 0x%llx: spool 0x%llx",
                         (unsigned long long)sb, (unsigned long long)spool);
    if ((s = field_u64(os, spool, "hugepage_subpool.max_hpages", &max_hp)) ||
        (s = field_u64(os, spool, "hugepage_subpool.min_hpages", &min_hp)))
        return s;
    if ((int64_t)max_hp != -1)
        add(b, "size=%llu", (unsigned long long)(max_hp << shift));
    if ((int64_t)min_hp != -1)
        add(b, "min_size=%llu", (unsigned long long)(min_hp << shift));
    return VMIC_OK;
}

/* The kernel's HZ: tick_nsec is NSEC_PER_SEC / HZ, give or take NTP's
 * frequency correction (a few hundred ppm). */
static vmic_status kernel_hz(vmic_os *os, uint64_t *hz)
{
    uint64_t at, tick;
    vmic_status s;
    if ((s = lx_need_sym(os, "tick_nsec", &at)) || (s = lx_u64(os, at, &tick)))
        return s;
    if (tick < 1000000 || tick > 10000000) /* HZ 100 .. 1000 */
        return vmic_fail(VMIC_E_FORMAT, "tick_nsec is %llu: no HZ from it",
                         (unsigned long long)tick);
    *hz = (1000000000ull + tick / 2) / tick;
    return VMIC_OK;
}

static vmic_status autofs_options(vmic_os *os, uint64_t sb, opts_buf *b)
{
    const char *mod;
    char p[8][96];
    static const char *const fields[] = {"pipefd", "oz_pgrp", "exp_timeout", "min_proto",
                                         "max_proto", "type", "flags", "pipe"};
    uint64_t v[8] = {0}, info = 0, root = 0, inode = 0, uid = 0, gid = 0;
    vmic_status s;
    if ((s = lx_module_defining(os, "autofs_sb_info", &mod)))
        return s;
    for (size_t i = 0; i < 8; i++)
        snprintf(p[i], sizeof p[i], "%s:autofs_sb_info.%s", mod, fields[i]);
    if ((s = field_ptr(os, sb, "super_block.s_fs_info", &info)) ||
        (s = field_ptr(os, sb, "super_block.s_root", &root)) ||
        (s = field_ptr(os, root, "dentry.d_inode", &inode)) ||
        (s = field_u64(os, inode, "inode.i_uid", &uid)) ||
        (s = field_u64(os, inode, "inode.i_gid", &gid)))
        return s;
    for (size_t i = 0; i < 8; i++)
        if ((s = field_u64(os, info, p[i], &v[i])))
            return s;
    add(b, "fd=%lld", (long long)(int32_t)v[0]);
    if (uid)
        add(b, "uid=%llu", uid);
    if (gid)
        add(b, "gid=%llu", gid);
    /* numbers[] is a flexible array (of one upid per namespace level):
     * numbers[0].nr is the number in the initial namespace. */
    uint32_t pgrp = 0;
    lx_fld numbers, nr;
    if (v[1] && !lx_kptr(os, v[1]))
        return vmic_fail(VMIC_E_FORMAT, "autofs superblock 0x%llx: oz_pgrp 0x%llx",
                         (unsigned long long)sb, (unsigned long long)v[1]);
    if (v[1] && ((s = lx_field(os, "pid.numbers", &numbers, true)) ||
                 (s = lx_field(os, "upid.nr", &nr, true)) ||
                 (s = lx_u32(os, v[1] + numbers.off + nr.off, &pgrp))))
        return s;
    add(b, "pgrp=%lld", (long long)(int32_t)pgrp);
    uint64_t hz = 1;
    if (v[2] && (s = kernel_hz(os, &hz)))
        return s;
    add(b, "timeout=%llu", v[2] / hz);
    add(b, "minproto=%lld", (long long)(int32_t)v[3]);
    add(b, "maxproto=%lld", (long long)(int32_t)v[4]);
    add_str(b, v[5] == AUTOFS_TYPE_OFFSET ? "offset"
               : v[5] == AUTOFS_TYPE_DIRECT ? "direct" : "indirect");
    if (v[6] & AUTOFS_SBI_STRICTEXPIRE)
        add_str(b, "strictexpire");
    if (v[6] & AUTOFS_SBI_IGNORE)
        add_str(b, "ignore");
    uint64_t pipe_inode = 0, ino = 0;
    if (!v[7]) {
        add_str(b, "pipe_ino=-1");
        return VMIC_OK;
    }
    if ((s = field_ptr(os, v[7], "file.f_inode", &pipe_inode)) ||
        (s = field_u64(os, pipe_inode, "inode.i_ino", &ino)))
        return s;
    add(b, "pipe_ino=%llu", ino);
    return VMIC_OK;
}

vmic_status lx_fs_options(vmic_os *os, uint64_t sb, const char *fstype, char *buf, size_t size)
{
    opts_buf b = {.buf = buf, .size = size};
    vmic_status s;
    buf[0] = '\0';
    if (!strcmp(fstype, "devpts"))
        s = devpts_options(os, sb, &b);
    else if (!strcmp(fstype, "cgroup2"))
        s = cgroup2_options(os, &b);
    else if (!strcmp(fstype, "bpf"))
        s = bpf_options(os, sb, &b);
    else if (!strcmp(fstype, "ramfs"))
        s = ramfs_options(os, sb, &b);
    else if (!strcmp(fstype, "hugetlbfs"))
        s = hugetlbfs_options(os, sb, &b);
    else if (!strcmp(fstype, "autofs"))
        s = autofs_options(os, sb, &b);
    else if ((s = lx_shmem_options(os, sb, fstype, buf, size)) || buf[0] ||
             strcmp(fstype, "rootfs"))
        return s;
    else
        s = ramfs_options(os, sb, &b); /* a rootfs that is not tmpfs is ramfs */
    if (s)
        return vmic_fail_wrap(s, "%s options", fstype);
    if (b.full)
        return vmic_fail(VMIC_E_RANGE, "%s options of superblock 0x%llx: more than %zu bytes",
                         fstype, (unsigned long long)sb, size - 1);
    return VMIC_OK;
}
