/*
 * tmpfs's own super options, as shmem_show_options() prints them after the
 * generic ones in mountinfo: the kernel computes them from the superblock's
 * shmem_sb_info (sb->s_fs_info), so they are data vmic can read.
 *
 * A superblock is shmem's when its s_op is &shmem_ops: tmpfs, but also
 * devtmpfs (a tmpfs mounted by the kernel, type name "devtmpfs") and the
 * initramfs's rootfs when it is tmpfs-backed (type name "rootfs"), which the
 * type name alone does not tell from a ramfs one.
 *
 * What the kernel prints, in its order (6.1 and 6.12):
 *   size=%luk      max_blocks, when not the default totalram_pages()/2
 *   nr_inodes=%lu  max_inodes, when not the default min(totalram_pages() -
 *                  totalhigh_pages(), totalram_pages()/2) (6.12 adds a bound,
 *                  ULONG_MAX/BOGO_INODE_SIZE, no x86-64 memory reaches);
 *                  totalhigh_pages() is 0 on x86-64
 *   mode=%03ho     the root's mode, when not 01777
 *   uid=, gid=     when not root
 *   inode64/32     always, with CONFIG_TMPFS_INODE64 (assumed: Debian's)
 *   huge=          when set (CONFIG_TRANSPARENT_HUGEPAGE only sets it)
 *   mpol=          a memory policy other than the default: not rendered,
 *                  the row is flagged partial
 *   noswap         (6.4+)
 *   quota options  (CONFIG_TMPFS_QUOTA, 6.6+: shmem_sb_info.qlimits)
 * The defaults follow the memory the kernel has now (_totalram_pages), not
 * at mount time: rootfs and devtmpfs, mounted before the init memory is
 * freed, show size= and nr_inodes= for that reason.
 *
 * Hostile input: every read is bounded and checked; what does not read, or
 * reads as a value the kernel would not hold, fails, and the caller keeps
 * the generic part and flags the row partial.
 */
#include <stdio.h>
#include <string.h>

#include "os_internal.h"

#define KIB_PER_PAGE 4u       /* PAGE_SHIFT 12 */
#define DEFAULT_MODE 01777u   /* 0777 | S_ISVTX */
#define OVERFLOW_ID 65534u    /* from_kuid_munged() of an unmapped id */
#define MPOL_DEFAULT 0u
#define MAXQUOTAS 3u
#define USRQUOTA 0u
#define GRPQUOTA 1u
#define SBINFO_MAX 1024u      /* the fields vmic reads lie in the first bytes */

typedef struct shmem_off {
    lx_fld s_op, s_fs_info, s_dquot_flags;
    lx_fld max_blocks, max_inodes, mode, huge, uid, gid, full_inums, noswap, mpol;
    lx_fld usr_bhard, usr_ihard, grp_bhard, grp_ihard;
    lx_fld mpol_mode;
} shmem_off;

static vmic_status shmem_offsets(vmic_os *os, shmem_off *o)
{
    vmic_status s;
    memset(o, 0, sizeof *o);
#define REQ(fld, p) if ((s = lx_field(os, p, &o->fld, true))) return s
#define OPT(fld, p) if ((s = lx_field(os, p, &o->fld, false))) return s
    REQ(s_op, "super_block.s_op");
    REQ(s_fs_info, "super_block.s_fs_info");
    OPT(s_dquot_flags, "super_block.s_dquot.flags");
    REQ(max_blocks, "shmem_sb_info.max_blocks");
    REQ(max_inodes, "shmem_sb_info.max_inodes");
    REQ(mode, "shmem_sb_info.mode");
    REQ(huge, "shmem_sb_info.huge");
    REQ(uid, "shmem_sb_info.uid");
    REQ(gid, "shmem_sb_info.gid");
    REQ(full_inums, "shmem_sb_info.full_inums");
    OPT(noswap, "shmem_sb_info.noswap");
    REQ(mpol, "shmem_sb_info.mpol");
    OPT(usr_bhard, "shmem_sb_info.qlimits.usrquota_bhardlimit");
    OPT(usr_ihard, "shmem_sb_info.qlimits.usrquota_ihardlimit");
    OPT(grp_bhard, "shmem_sb_info.qlimits.grpquota_bhardlimit");
    OPT(grp_ihard, "shmem_sb_info.qlimits.grpquota_ihardlimit");
    REQ(mpol_mode, "mempolicy.mode");
#undef REQ
#undef OPT
    return VMIC_OK;
}

/* The fields read from one copy of shmem_sb_info. */
typedef struct shmem_info {
    uint64_t max_blocks, max_inodes, mpol;
    uint32_t mode, huge, uid, gid;
    bool full_inums, noswap;
    uint64_t usr_bhard, usr_ihard, grp_bhard, grp_ihard;
} shmem_info;

static uint32_t field_end(const lx_fld *f)
{
    return f->ok ? f->off + f->size : 0;
}

static vmic_status read_info(vmic_os *os, const shmem_off *o, uint64_t sbinfo, shmem_info *in)
{
    const lx_fld *all[] = {&o->max_blocks, &o->max_inodes, &o->mode,      &o->huge,
                           &o->uid,        &o->gid,        &o->full_inums, &o->noswap,
                           &o->mpol,       &o->usr_bhard,  &o->usr_ihard,  &o->grp_bhard,
                           &o->grp_ihard};
    uint8_t buf[SBINFO_MAX];
    uint32_t len = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (field_end(all[i]) > len)
            len = field_end(all[i]);
    if (len > sizeof buf)
        return vmic_fail(VMIC_E_UNSUPPORTED, "shmem_sb_info: fields beyond %u bytes", SBINFO_MAX);
    vmic_status s = lx_read(os, sbinfo, buf, len);
    if (s)
        return vmic_fail_wrap(s, "shmem_sb_info at 0x%llx", (unsigned long long)sbinfo);
    in->max_blocks = lx_get(buf, len, &o->max_blocks);
    in->max_inodes = lx_get(buf, len, &o->max_inodes);
    in->mode = (uint32_t)lx_get(buf, len, &o->mode);
    in->huge = (uint32_t)lx_get(buf, len, &o->huge);
    in->uid = (uint32_t)lx_get(buf, len, &o->uid);
    in->gid = (uint32_t)lx_get(buf, len, &o->gid);
    in->full_inums = lx_get(buf, len, &o->full_inums) != 0;
    in->noswap = lx_get(buf, len, &o->noswap) != 0;
    in->mpol = lx_get(buf, len, &o->mpol);
    in->usr_bhard = lx_get(buf, len, &o->usr_bhard);
    in->usr_ihard = lx_get(buf, len, &o->usr_ihard);
    in->grp_bhard = lx_get(buf, len, &o->grp_bhard);
    in->grp_ihard = lx_get(buf, len, &o->grp_ihard);
    return VMIC_OK;
}

static void add(char *buf, size_t size, const char *opt)
{
    size_t n = strlen(buf);
    snprintf(buf + n, size - n, "%s%s", n ? "," : "", opt);
}

static void add_u64(char *buf, size_t size, const char *name, uint64_t v, const char *unit)
{
    char opt[64];
    snprintf(opt, sizeof opt, "%s=%llu%s", name, (unsigned long long)v, unit);
    add(buf, size, opt);
}

/* uid= and gid= as from_kuid_munged(&init_user_ns): an id the identity map
 * does not hold (-1) shows as the overflow id. */
static void add_id(char *buf, size_t size, const char *name, uint32_t id)
{
    if (id)
        add_u64(buf, size, name, id == UINT32_MAX ? OVERFLOW_ID : id, "");
}

/* shmem_format_huge(): sbinfo->huge is an unsigned char, deny and force
 * are -1 and -2 in it. */
static vmic_status add_huge(char *buf, size_t size, uint32_t huge)
{
    static const struct {
        uint32_t value;
        const char *name;
    } names[] = {{1, "always"}, {2, "within_size"}, {3, "advise"}, {0xff, "deny"},
                 {0xfe, "force"}};
    if (!huge)
        return VMIC_OK;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].value == huge) {
            char opt[32];
            snprintf(opt, sizeof opt, "huge=%s", names[i].name);
            add(buf, size, opt);
            return VMIC_OK;
        }
    return vmic_fail(VMIC_E_FORMAT, "shmem_sb_info.huge is %u, no huge= value", huge);
}

/* A memory policy other than the default would show as mpol=MODE:NODES;
 * vmic does not render it. */
static vmic_status check_mpol(vmic_os *os, const shmem_off *o, uint64_t mpol)
{
    uint32_t mode;
    vmic_status s;
    if (!mpol)
        return VMIC_OK;
    if (!lx_kptr(os, mpol))
        return vmic_fail(VMIC_E_FORMAT, "shmem_sb_info.mpol 0x%llx is not a kernel address",
                         (unsigned long long)mpol);
    if ((s = lx_u32(os, mpol + o->mpol_mode.off, &mode)))
        return vmic_fail_wrap(s, "mempolicy at 0x%llx", (unsigned long long)mpol);
    if ((mode & 0xffffu) != MPOL_DEFAULT)
        return vmic_fail(VMIC_E_UNSUPPORTED, "tmpfs mpol= (mode %u) is not rendered",
                         mode & 0xffffu);
    return VMIC_OK;
}

/* sb_has_quota_active(): usage or limits enabled for the type, and not
 * suspended; each state a bit per quota type in s_dquot.flags. */
static bool quota_active(uint32_t flags, uint32_t type)
{
    uint32_t usage = 1u << type, limits = 1u << (MAXQUOTAS + type),
             suspended = 1u << (2 * MAXQUOTAS + type);
    return (flags & (usage | limits)) && !(flags & suspended);
}

static vmic_status add_quota(vmic_os *os, const shmem_off *o, uint64_t sb,
                             const shmem_info *in, char *buf, size_t size)
{
    uint32_t flags = 0;
    vmic_status s;
    if (!o->usr_bhard.ok) /* a kernel before tmpfs quotas (6.6) */
        return VMIC_OK;
    if (o->s_dquot_flags.ok && (s = lx_u32(os, sb + o->s_dquot_flags.off, &flags)))
        return vmic_fail_wrap(s, "quota flags of superblock 0x%llx", (unsigned long long)sb);
    if (quota_active(flags, USRQUOTA))
        add(buf, size, "usrquota");
    if (quota_active(flags, GRPQUOTA))
        add(buf, size, "grpquota");
    if (in->usr_bhard)
        add_u64(buf, size, "usrquota_block_hardlimit", in->usr_bhard >> 10, "k");
    if (in->grp_bhard)
        add_u64(buf, size, "grpquota_block_hardlimit", in->grp_bhard >> 10, "k");
    if (in->usr_ihard)
        add_u64(buf, size, "usrquota_inode_hardlimit", in->usr_ihard, "");
    if (in->grp_ihard)
        add_u64(buf, size, "grpquota_inode_hardlimit", in->grp_ihard, "");
    return VMIC_OK;
}

static vmic_status render(vmic_os *os, const shmem_off *o, uint64_t sb, const shmem_info *in,
                          uint64_t totalram, char *buf, size_t size)
{
    vmic_status s;
    uint64_t default_blocks = totalram / 2, default_inodes = totalram / 2;
    if (in->max_blocks != default_blocks)
        add_u64(buf, size, "size", in->max_blocks * KIB_PER_PAGE, "k");
    if (in->max_inodes != default_inodes)
        add_u64(buf, size, "nr_inodes", in->max_inodes, "");
    if (in->mode != DEFAULT_MODE) {
        char opt[32];
        snprintf(opt, sizeof opt, "mode=%03o", in->mode & 0xffffu);
        add(buf, size, opt);
    }
    add_id(buf, size, "uid", in->uid);
    add_id(buf, size, "gid", in->gid);
    /* The kernel prints inode32 only under CONFIG_TMPFS_INODE64, which the
     * guest's memory does not tell; Debian's kernels have it. */
    add(buf, size, in->full_inums ? "inode64" : "inode32");
    if ((s = add_huge(buf, size, in->huge)) || (s = check_mpol(os, o, in->mpol)))
        return s;
    if (in->noswap)
        add(buf, size, "noswap");
    return add_quota(os, o, sb, in, buf, size);
}

/* Is the superblock shmem's? Without the shmem_ops symbol it is not known:
 * a failure for a type that is tmpfs by name, else none to show. */
static vmic_status is_shmem(vmic_os *os, const shmem_off *o, uint64_t sb, const char *fstype,
                            bool *yes)
{
    uint64_t ops, sop;
    vmic_status s;
    *yes = false;
    if (!lx_sym(os, "shmem_ops", &ops))
        return strcmp(fstype, "tmpfs") && strcmp(fstype, "devtmpfs")
                   ? VMIC_OK
                   : vmic_fail(VMIC_E_NOTFOUND, "no shmem_ops symbol: tmpfs options not known");
    if ((s = lx_u64(os, sb + o->s_op.off, &sop)))
        return vmic_fail_wrap(s, "s_op of superblock 0x%llx", (unsigned long long)sb);
    *yes = sop == ops;
    return VMIC_OK;
}

vmic_status lx_shmem_options(vmic_os *os, uint64_t sb, const char *fstype, char *buf,
                             size_t size)
{
    shmem_off o;
    shmem_info in = {0};
    uint64_t sbinfo, totalram_sym, totalram;
    bool shmem;
    vmic_status s;
    buf[0] = '\0';
    if ((s = lx_field(os, "super_block.s_op", &o.s_op, true)) ||
        (s = is_shmem(os, &o, sb, fstype, &shmem)) || !shmem)
        return s;
    if ((s = shmem_offsets(os, &o)) || (s = lx_need_sym(os, "_totalram_pages", &totalram_sym)) ||
        (s = lx_u64(os, totalram_sym, &totalram)))
        return vmic_fail_wrap(s, "tmpfs options");
    if ((s = lx_u64(os, sb + o.s_fs_info.off, &sbinfo)))
        return vmic_fail_wrap(s, "s_fs_info of superblock 0x%llx", (unsigned long long)sb);
    if (!lx_kptr(os, sbinfo))
        return vmic_fail(VMIC_E_FORMAT, "tmpfs superblock 0x%llx: s_fs_info 0x%llx is not a "
                         "kernel address", (unsigned long long)sb, (unsigned long long)sbinfo);
    if ((s = read_info(os, &o, sbinfo, &in)) ||
        (s = render(os, &o, sb, &in, totalram, buf, size)))
        return s;
    if (strlen(buf) + 1 >= size)
        return vmic_fail(VMIC_E_RANGE, "tmpfs options of superblock 0x%llx: more than %zu bytes",
                         (unsigned long long)sb, size - 2);
    return VMIC_OK;
}
