/*
 * Hostile guest memory for the walks of issue 15 (sockets, mounts,
 * environment): a real dump mapped copy-on-write (hostile_dump.h) and corrupted one field at a
 * time, the way test_os_hostile does for the task list. A corrupted socket
 * pointer costs that socket (listed, flagged partial), a cycle in a chain
 * of the kernel's socket hash tables or a garbage table costs that chain or
 * table (an error after the rest is listed), a cycle in the mount
 * namespace ends the walk with an error after each mount once, and an
 * environment range far past its start is refused at once; nothing hangs.
 *
 *   test_netmounts_hostile FIXTURE_DIR
 *
 * Skips (77) on a fixture without the vmic-sockets process (truth/sockets.txt).
 */
#include "hostile_dump.h"

static int marker_pid, sockets_pid;

/* ---- sockets ---------------------------------------------------------------- */

typedef struct socks {
    size_t n, partial, loose; /* loose: in the hash tables, held by no fd */
    uint64_t file[64];
    uint64_t inode[64];
    uint64_t loose_sock[16];
    uint8_t loose_state[16];
    uint16_t loose_protocol[16], loose_family[16];
} socks;

static int add_sock(void *arg, const vmic_socket_t *s)
{
    socks *c = arg;
    if (c->n < 64) {
        c->file[c->n] = s->file.addr;
        c->inode[c->n] = s->inode;
    }
    if (s->fd < 0 && c->loose < 16) {
        c->loose_sock[c->loose] = s->sock.addr;
        c->loose_state[c->loose] = s->state;
        c->loose_protocol[c->loose] = s->protocol;
        c->loose_family[c->loose] = s->family;
    }
    c->loose += s->fd < 0;
    c->n++;
    c->partial += s->partial;
    return 0;
}

static socks base_socks;

static void test_sockets_intact(void)
{
    vmic_process_t p;
    CHECK_OK(vmic_os_process_find(os, sockets_pid, &p));
    CHECK_OK(vmic_os_sockets(os, &p, add_sock, &base_socks));
    CHECK_EQ(base_socks.n, 11); /* tests/fixtures/sockets.c: eleven in its own fd table */
    CHECK_EQ(base_socks.partial, 0);
}

/* file->private_data (the struct socket) and socket->sk of the third
 * socket, each made garbage in turn: that socket is partial, the others not. */
static void test_socket_pointers_garbage(void)
{
    vmic_process_t p;
    CHECK_OK(vmic_os_process_find(os, sockets_pid, &p));
    uint64_t file = base_socks.file[2];
    uint64_t sock = get64(file + off("file.private_data"));
    uint64_t ram_top = vmic_core_info(core)->max_pa.addr;
    vmic_va_t pob;
    CHECK_OK(vmic_os_symbol(os, "page_offset_base", &pob));
    uint64_t page_offset = get64(pob.addr);
    const struct { uint64_t where, value; } bad[] = {
        {file + off("file.private_data"), 0x4141414141414141ull},
        {sock + off("socket.sk"), page_offset + ram_top + (1ull << 30)}, /* unmapped */
        {sock + off("socket.sk"), 0x1000},                               /* user space */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        socks c = {0};
        CHECK(put64(bad[i].where, bad[i].value));
        vmic_status s = TIMED(vmic_os_sockets(os, &p, add_sock, &c), 1.0);
        restore();
        CHECK_OK(s);
        CHECK_EQ(c.n, base_socks.n);
        CHECK_EQ(c.partial, 1);
        CHECK_EQ(c.inode[2], base_socks.inode[2]); /* the inode comes from the file */
    }
}

/* A garbage fd table of one process costs its sockets, not the others': the
 * walk of every process still lists the rest and then says what failed. Of
 * its sockets, the one no other process shares (the accepted end of the
 * orphan's connection, fd 13) is still found, in the hash tables. */
static void test_one_fd_table_garbage(void)
{
    vmic_process_t p;
    socks all = {0}, c = {0};
    CHECK_OK(vmic_os_sockets(os, NULL, add_sock, &all));
    CHECK_OK(vmic_os_process_find(os, sockets_pid, &p));
    CHECK(put64(p.task.addr + off("task_struct.files"), 0x4141414141414141ull));
    vmic_status s = TIMED(vmic_os_sockets(os, NULL, add_sock, &c), 2.0);
    restore();
    CHECK_EQ(s, VMIC_E_FORMAT);
    CHECK_ERRMSG("sockets of pid");
    CHECK_EQ(c.n, all.n - base_socks.n + 1);
    CHECK_EQ(c.loose, all.loose + 1);
}

/* ---- the kernel's socket hash tables --------------------------------------------- */

static socks all_socks;

/* The fixture's five no fd holds: a listener, a UDP and a UNIX socket in
 * flight, an orphan in FIN_WAIT2, a TIME_WAIT sock. */
static void test_hashed_sockets_intact(void)
{
    CHECK_OK(vmic_os_sockets(os, NULL, add_sock, &all_socks));
    CHECK_EQ(all_socks.loose, 5);
    CHECK_EQ(all_socks.partial, 0);
}

static size_t loose_index(uint8_t state)
{
    for (size_t i = 0; i < all_socks.loose && i < 16; i++)
        if (all_socks.loose_state[i] == state)
            return i;
    return SIZE_MAX;
}

/* The TIME_WAIT sock's link made to point at itself: that chain ends with
 * an error naming the cycle, every other socket is still listed. */
static void test_hash_chain_cycle(void)
{
    size_t i = loose_index(6);
    CHECK(i != SIZE_MAX);
    if (i == SIZE_MAX)
        return;
    uint64_t node = all_socks.loose_sock[i] + off("sock.__sk_common.skc_node");
    socks c = {0};
    CHECK(put64(node, node));
    vmic_status s = TIMED(vmic_os_sockets(os, NULL, add_sock, &c), 2.0);
    restore();
    CHECK_EQ(s, VMIC_E_FORMAT);
    CHECK_ERRMSG("tcp_hashinfo.ehash: cycle at");
    CHECK_EQ(c.n, all_socks.n);
}

/* tcp_hashinfo's established table: a mask of 2^32 - 1 buckets (over the
 * ceiling) and a garbage bucket pointer. Each costs that table: the
 * listeners and UDP sockets still come, then the error. */
static void test_hash_table_garbage(void)
{
    vmic_va_t hashinfo;
    CHECK_OK(vmic_os_symbol(os, "tcp_hashinfo", &hashinfo));
    const struct { uint64_t where, value; vmic_status want; const char *msg; } bad[] = {
        {hashinfo.addr + off("inet_hashinfo.ehash_mask"), 0xffffffffull, VMIC_E_RANGE,
         "tcp_hashinfo.ehash: a mask of 0xffffffff is more than"},
        {hashinfo.addr + off("inet_hashinfo.ehash"), 0x4141414141414141ull, VMIC_E_FORMAT,
         "tcp_hashinfo.ehash: buckets at 0x4141414141414141, not a kernel address"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        socks c = {0};
        CHECK(put64(bad[i].where, bad[i].value));
        vmic_status s = TIMED(vmic_os_sockets(os, NULL, add_sock, &c), 2.0);
        restore();
        CHECK_EQ(s, bad[i].want);
        CHECK_ERRMSG(bad[i].msg);
        /* Gone: the orphan and the TIME_WAIT sock (established table);
         * still there: the listener, the UDP and UNIX sockets in flight. */
        CHECK_EQ(c.loose, 3);
        for (size_t k = 0; k < c.loose; k++)
            CHECK(c.loose_state[k] == 10 || c.loose_protocol[k] == 17 ||
                  c.loose_family[k] == VMIC_AF_UNIX);
    }
}

/* The UNIX table of init's namespace made garbage: the in-flight UNIX
 * socket is gone, with an error; the other tables' sockets are still there. */
static void test_unix_table_garbage(void)
{
    vmic_va_t init_net;
    CHECK_OK(vmic_os_symbol(os, "init_net", &init_net));
    if (off("net.unx.table.buckets") == UINT64_MAX)
        return; /* before 6.0 */
    socks c = {0};
    CHECK(put64(init_net.addr + off("net.unx.table.buckets"), 0x4141414141414141ull));
    vmic_status s = TIMED(vmic_os_sockets(os, NULL, add_sock, &c), 2.0);
    restore();
    CHECK_EQ(s, VMIC_E_FORMAT);
    CHECK_ERRMSG("unx.table.buckets 0x4141414141414141 is not a kernel address");
    CHECK_EQ(c.loose, all_socks.loose - 1);
}

/* The in-flight listener's sk_socket made garbage: listed, partial. */
static void test_hashed_sock_socket_garbage(void)
{
    size_t i = loose_index(10);
    CHECK(i != SIZE_MAX);
    if (i == SIZE_MAX)
        return;
    socks c = {0};
    CHECK(put64(all_socks.loose_sock[i] + off("sock.sk_socket"), 0x4141414141414141ull));
    vmic_status s = TIMED(vmic_os_sockets(os, NULL, add_sock, &c), 2.0);
    restore();
    CHECK_OK(s);
    CHECK_EQ(c.n, all_socks.n);
    CHECK_EQ(c.partial, 1);
}

/* ---- mounts ------------------------------------------------------------------- */

typedef struct mounts {
    size_t n, partial, hidden;
    uint64_t mount[64];
    char fstype[64][64];
    bool partial_at[64];
} mounts;

static int add_mount(void *arg, const vmic_mount_t *m)
{
    mounts *c = arg;
    if (c->n < 64) {
        c->mount[c->n] = m->mount.addr;
        snprintf(c->fstype[c->n], sizeof c->fstype[c->n], "%s", m->fstype);
        c->partial_at[c->n] = m->partial;
    }
    c->n++;
    c->partial += m->partial;
    c->hidden += !m->visible;
    return 0;
}

static mounts base_mounts;
static vmic_process_t init_proc;

static void test_mounts_intact(void)
{
    CHECK_OK(vmic_os_process_find(os, 1, &init_proc));
    CHECK_OK(vmic_os_mounts(os, &init_proc, add_mount, &base_mounts));
    CHECK(base_mounts.n >= 6); /* rootfs, dev, proc, sys and the fixture's two */
    CHECK_EQ(base_mounts.partial, 0);
}

/* The list (to 6.7): the third mount's mnt_list.next back to the second.
 * The tree (6.8+): a node's rb_right to itself. Either way each mount is
 * listed at most once and the walk ends with "cycle". */
static void test_mount_cycle(void)
{
    mounts c = {0};
    bool list = off("mnt_namespace.list") != UINT64_MAX;
    uint64_t link;
    if (list) {
        uint64_t ml = off("mount.mnt_list");
        CHECK(put64(base_mounts.mount[2] + ml, base_mounts.mount[1] + ml));
    } else {
        link = base_mounts.mount[2] + off("mount.mnt_node");
        CHECK(put64(link + off("rb_node.rb_right"), link));
    }
    vmic_status s = TIMED(vmic_os_mounts(os, &init_proc, add_mount, &c), 1.0);
    restore();
    CHECK_EQ(s, VMIC_E_FORMAT);
    CHECK_ERRMSG("cycle");
    CHECK(c.n <= base_mounts.n);
    if (list)
        CHECK_EQ(c.n, 3);
    for (size_t i = 0; i < c.n && i < 64; i++)
        CHECK_EQ(c.mount[i], base_mounts.mount[i]);
}

/* The tree's left spine looping on itself: bounded by depth, not a hang. */
static void test_mount_tree_left_loop(void)
{
    if (off("mnt_namespace.mounts") == UINT64_MAX || off("mnt_namespace.list") != UINT64_MAX)
        return; /* a list kernel (6.1): the cycle test covers it */
    mounts c = {0};
    uint64_t link = base_mounts.mount[0] + off("mount.mnt_node");
    CHECK(put64(link + off("rb_node.rb_left"), link));
    vmic_status s = TIMED(vmic_os_mounts(os, &init_proc, add_mount, &c), 1.0);
    restore();
    CHECK_EQ(s, VMIC_E_FORMAT);
    CHECK_EQ(c.n, 0);
}

/* The superblock data behind each filesystem's own super options
 * (s_fs_info: devpts's pts_fs_info, hugetlbfs's sb_info, tmpfs's
 * shmem_sb_info, ramfs's, autofs's autofs_sb_info; s_root for bpf) made
 * garbage: that mount is
 * listed, flagged partial, the others are whole. */
static void test_super_options_garbage(void)
{
    static const char *const types[] = {"devpts", "hugetlbfs", "tmpfs", "ramfs", "bpf",
                                        "autofs"};
    size_t tried = 0;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        size_t i = 0;
        while (i < base_mounts.n && i < 64 && strcmp(base_mounts.fstype[i], types[t]))
            i++;
        if (i == base_mounts.n || i == 64)
            continue; /* a fixture older than those mounts */
        tried++;
        uint64_t sb = get64(base_mounts.mount[i] + off("mount.mnt.mnt_sb"));
        const char *field = strcmp(types[t], "bpf") ? "super_block.s_fs_info" : "super_block.s_root";
        mounts c = {0};
        CHECK(put64(sb + off(field), 0x4141414141414141ull));
        vmic_status s = TIMED(vmic_os_mounts(os, &init_proc, add_mount, &c), 1.0);
        restore();
        CHECK_OK(s);
        CHECK_EQ(c.n, base_mounts.n);
        CHECK_MSG(c.partial_at[i], "%s's row is not partial", types[t]);
        /* Only the mounts of that superblock (a bind shares it). */
        for (size_t k = 0; k < c.n && k < 64; k++)
            if (c.partial_at[k])
                CHECK(get64(base_mounts.mount[k] + off("mount.mnt.mnt_sb")) == sb);
    }
    CHECK_MSG(tried == 0 || tried == sizeof types / sizeof types[0], "%zu of the %zu", tried,
              sizeof types / sizeof types[0]);
}

/* A mount whose name pointer is garbage is listed, flagged partial. */
static void test_mount_devname_garbage(void)
{
    mounts c = {0};
    CHECK(put64(base_mounts.mount[1] + off("mount.mnt_devname"), 0x4141414141414141ull));
    CHECK_OK(TIMED(vmic_os_mounts(os, &init_proc, add_mount, &c), 1.0));
    restore();
    CHECK_EQ(c.n, base_mounts.n);
    CHECK_EQ(c.partial, 1);
}

/* A mount point whose dentry is garbage: that mount is partial and still
 * shown (visible), not mistaken for one outside the process's root. */
static void test_mountpoint_garbage(void)
{
    mounts c = {0};
    CHECK_EQ(base_mounts.hidden, 0);
    CHECK(put64(base_mounts.mount[4] + off("mount.mnt_mountpoint"), 0x4141414141414141ull));
    CHECK_OK(TIMED(vmic_os_mounts(os, &init_proc, add_mount, &c), 1.0));
    restore();
    CHECK_EQ(c.n, base_mounts.n);
    CHECK_EQ(c.partial, 1);
    CHECK_EQ(c.hidden, 0);
}

/* nsproxy garbage: a clear error, nothing listed. */
static void test_nsproxy_garbage(void)
{
    mounts c = {0};
    CHECK(put64(init_proc.task.addr + off("task_struct.nsproxy"), 0x1000));
    vmic_status s = TIMED(vmic_os_mounts(os, &init_proc, add_mount, &c), 1.0);
    restore();
    CHECK_EQ(s, VMIC_E_FORMAT);
    CHECK_ERRMSG("not a kernel address");
    CHECK_EQ(c.n, 0);
}

/* ---- environment ------------------------------------------------------------------ */

static int count_var(void *arg, const char *var, size_t len)
{
    (void)var;
    (void)len;
    ++*(size_t *)arg;
    return 0;
}

static void test_environ_far_end(void)
{
    vmic_process_t p;
    size_t n = 0;
    CHECK_OK(vmic_os_process_find(os, marker_pid, &p));
    CHECK_OK(vmic_os_environ(os, &p, count_var, &n));
    CHECK(n >= 6);
    uint64_t start = get64(p.mm.addr + off("mm_struct.env_start"));
    uint64_t endf = p.mm.addr + off("mm_struct.env_end");
    const uint64_t bad[] = {start + (1ull << 40), start - 1, 0xffffffffffffff00ull};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = 0;
        CHECK(put64(endf, bad[i]));
        vmic_status s = TIMED(vmic_os_environ(os, &p, count_var, &n), 1.0);
        restore();
        CHECK_EQ(s, VMIC_E_FORMAT);
        CHECK_ERRMSG("not a plausible range");
        CHECK_EQ(n, 0);
    }
    /* Within the bound but past the stack's end: a read error that says
     * where, nothing listed. */
    n = 0;
    CHECK(put64(endf, start + (2u << 20) - 1));
    vmic_status s = TIMED(vmic_os_environ(os, &p, count_var, &n), 1.0);
    restore();
    CHECK(s != VMIC_OK);
    CHECK_ERRMSG("environment of pid");
    CHECK_EQ(n, 0);
}

static void test_everything_intact_again(void)
{
    socks c = {0};
    mounts m = {0};
    vmic_process_t p;
    CHECK_OK(vmic_os_process_find(os, sockets_pid, &p));
    CHECK_OK(vmic_os_sockets(os, &p, add_sock, &c));
    CHECK_EQ(c.n, base_socks.n);
    CHECK_EQ(c.partial, 0);
    socks a = {0};
    CHECK_OK(vmic_os_sockets(os, NULL, add_sock, &a));
    CHECK_EQ(a.n, all_socks.n);
    CHECK_EQ(a.loose, all_socks.loose);
    CHECK_OK(vmic_os_mounts(os, &init_proc, add_mount, &m));
    CHECK_EQ(m.n, base_mounts.n);
}

int main(int argc, char **argv)
{
    char line[256];
    if (argc < 2 || !fixture_present(argv[1])) {
        fprintf(stderr, "skip: no fixture\n");
        return TEST_SKIP;
    }
    if (!truth_line(argv[1], "sockets.txt", line, sizeof line) ||
        sscanf(line, "pid=%d", &sockets_pid) != 1) {
        fprintf(stderr, "skip: this fixture's truth/ has no sockets.txt (made by an older "
                        "scripts/make-fixture.sh): rebuild it to test netstat on it\n");
        return TEST_SKIP;
    }
    if (!truth_line(argv[1], "marker.txt", line, sizeof line) ||
        sscanf(line, "pid=%d", &marker_pid) != 1)
        return 1;
    if (!hostile_open(argv[1]))
        return 1;
    RUN(test_sockets_intact);
    RUN(test_socket_pointers_garbage);
    RUN(test_one_fd_table_garbage);
    RUN(test_hashed_sockets_intact);
    RUN(test_hash_chain_cycle);
    RUN(test_hash_table_garbage);
    RUN(test_unix_table_garbage);
    RUN(test_hashed_sock_socket_garbage);
    RUN(test_mounts_intact);
    RUN(test_mount_cycle);
    RUN(test_mount_tree_left_loop);
    RUN(test_mount_devname_garbage);
    RUN(test_super_options_garbage);
    RUN(test_mountpoint_garbage);
    RUN(test_nsproxy_garbage);
    RUN(test_environ_far_end);
    RUN(test_everything_intact_again);
    hostile_close();
    return HARNESS_RESULT();
}
