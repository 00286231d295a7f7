/*
 * The sockets of the kernel's TCP and UDP hash tables, for those no fd table
 * holds: a TIME_WAIT or request sock (which have no file), an orphan still
 * closing, a kernel socket, a socket in flight in a UNIX socket's queue.
 *
 * tcp_hashinfo.ehash holds established, closing, TIME_WAIT and request
 * socks: buckets of hlist_nulls chains through sock_common.skc_nulls_node,
 * each ending on an odd "nulls" value. tcp_hashinfo.lhash2 holds the
 * listeners: hlist_nulls chains through the same link from 5.19, before
 * that hlist chains through inet_connection_sock.icsk_listen_portaddr_node
 * (when the bucket has a `head`). udp_table.hash holds every bound UDP
 * socket (IPv4 and IPv6), hlist chains through sock_common.skc_node.
 * Network namespaces share these tables unless a sysctl made a child's own
 * (tcp_child_ehash_entries, udp_child_hash_entries: 6.1 and 6.2 on); those
 * are not walked.
 *
 * /proc/net/tcp prints a TIME_WAIT sock's tw_substate and a request sock as
 * SYN_RECV, with inode 0; a full sock's inode is its struct socket's, which
 * lives in a socket_alloc beside its inode.
 *
 * Hostile input: every chain is bounded by one set of the socks seen (a
 * cycle or a sock in two chains ends that chain), the table sizes have a
 * ceiling, and a chain that does not read costs that chain only.
 */
#include <stdio.h>
#include <string.h>

#include "net_internal.h"

#define BATCH_BYTES 8192   /* of buckets read at once */
#define UNIX_HASH_SIZE 512 /* net/unix/af_unix.c: 256 * 2 (unbound sockets, bound ones) */
#define MAX_NETNS 65536u   /* namespaces walked on net_namespace_list */
#define MAX_BUCKET 512     /* bytes: a bucket holds a lock, which PREEMPT_RT and
                              lockdep make large (40 bytes on 6.1-rt) */

typedef struct chain_kind {
    const char *table;  /* "tcp_hashinfo.ehash", for messages */
    uint64_t head_off;  /* of the chain's head in a bucket */
    uint64_t bucket_size;
    uint64_t link_off;  /* of the link in the sock */
    bool nulls;         /* hlist_nulls (ends on an odd value), else hlist (NULL) */
} chain_kind;

typedef struct hash_walk {
    vmic_os *os;
    const net_off *o;
    lx_seen *held;
    lx_seen seen;
    vmic_socket_fn fn;
    void *arg;
    bool stopped;
    lx_first_error err; /* a table that does not read costs its sockets only */
} hash_walk;

/* What a full sock's struct socket says: its inode and state (0 for an
 * orphan, which has none). */
static vmic_status sock_socket(hash_walk *w, uint64_t sk, vmic_socket_t *so)
{
    const net_off *o = w->o;
    uint64_t sock, state;
    vmic_status s;
    if (!o->sk_socket.ok || !o->alloc_socket.ok || !o->alloc_inode.ok || !o->i_ino.ok)
        return VMIC_OK;
    if ((s = lx_read_kptr_field(w->os, sk, &o->sk_socket, &sock)) || sock == 0)
        return s;
    uint64_t inode = sock - o->alloc_socket.off + o->alloc_inode.off;
    if ((s = lx_read_field(w->os, sock, &o->sock_state, &state)))
        return s;
    so->socket_state = (uint8_t)state;
    return lx_read_field(w->os, inode, &o->i_ino, &so->inode);
}

/* One sock of a chain, unless an fd table holds it. */
static void emit(hash_walk *w, uint64_t sk)
{
    if (lx_seen_add(w->held, sk) == 0)
        return;
    vmic_socket_t so = {.pid = 0, .fd = -1, .sock = vmic_va(sk)};
    vmic_status s = lx_read_sock_common(w->os, w->o, sk, &so);
    if (s == VMIC_OK && (so.state == LX_TCP_TIME_WAIT || so.state == LX_TCP_NEW_SYN_RECV)) {
        /* Not a full sock: nothing past sock_common is read but tw_substate. */
        uint64_t sub = so.state;
        if (so.state == LX_TCP_NEW_SYN_RECV)
            sub = LX_TCP_SYN_RECV;
        else if (w->o->tw_substate.ok)
            s = lx_read_field(w->os, sk, &w->o->tw_substate, &sub);
        so.state = (uint8_t)sub;
        so.type = 1;     /* SOCK_STREAM */
        so.protocol = 6; /* IPPROTO_TCP */
    } else if (s == VMIC_OK && (s = lx_read_sock_full(w->os, w->o, sk, &so)) == VMIC_OK) {
        s = sock_socket(w, sk, &so);
    }
    so.partial = s != VMIC_OK;
    vmic_clear_error();
    if (w->fn(w->arg, &so))
        w->stopped = true;
}

static bool chain_end(const chain_kind *k, uint64_t node)
{
    return node == 0 || (k->nulls && (node & 1));
}

static vmic_status walk_chain(hash_walk *w, const chain_kind *k, uint64_t node)
{
    vmic_status s;
    for (size_t count = 0; !chain_end(k, node) && !w->stopped; count++) {
        if ((s = lx_list_step(w->os, &w->seen, node, k->table, "sockets", count)))
            return s;
        emit(w, node - k->link_off);
        /* next is the first word of hlist_node and hlist_nulls_node alike */
        if ((s = lx_u64(w->os, node, &node)))
            return vmic_fail_wrap(s, "%s: after %zu sockets", k->table, count + 1);
    }
    return VMIC_OK;
}

/* Every chain of a table of n buckets at va. */
static void walk_table(hash_walk *w, const chain_kind *k, uint64_t va, uint64_t n)
{
    uint8_t buf[BATCH_BYTES];
    if (k->bucket_size == 0 || k->bucket_size > MAX_BUCKET || k->head_off + 8 > k->bucket_size) {
        lx_keep_error(&w->err, vmic_fail(VMIC_E_FORMAT, "%s: buckets of %llu bytes", k->table,
                                         (unsigned long long)k->bucket_size));
        return;
    }
    const uint64_t batch = BATCH_BYTES / k->bucket_size;
    for (uint64_t i = 0; i < n && !w->stopped; i += batch) {
        uint64_t m = n - i < batch ? n - i : batch;
        vmic_status s = lx_read(w->os, va + i * k->bucket_size, buf, (size_t)(m * k->bucket_size));
        if (s) {
            lx_keep_error(&w->err, vmic_fail_wrap(s, "%s: buckets %llu..%llu", k->table,
                                                  (unsigned long long)i,
                                                  (unsigned long long)(i + m - 1)));
            continue;
        }
        for (uint64_t j = 0; j < m && !w->stopped; j++) {
            uint64_t first;
            memcpy(&first, buf + j * k->bucket_size + k->head_off, 8);
            if (!chain_end(k, first))
                lx_keep_error(&w->err, walk_chain(w, k, first));
        }
    }
}

/* A table's bucket array and size: a pointer and a mask (n = mask + 1). */
static vmic_status table_at(hash_walk *w, const char *what, uint64_t base, const char *ptr_path,
                            const char *mask_path, uint64_t *va, uint64_t *n)
{
    lx_fld ptr, mask;
    uint64_t m;
    vmic_status s;
    if ((s = lx_field(w->os, ptr_path, &ptr, true)) ||
        (s = lx_field(w->os, mask_path, &mask, true)) ||
        (s = lx_read_field(w->os, base, &ptr, va)) || (s = lx_read_field(w->os, base, &mask, &m)))
        return vmic_fail_wrap(s, "%s", what);
    if (m >= LX_MAX_HASH_BUCKETS)
        return vmic_fail(VMIC_E_RANGE, "%s: a mask of 0x%llx is more than %u buckets", what,
                         (unsigned long long)m, LX_MAX_HASH_BUCKETS);
    if (!lx_kptr(w->os, *va))
        return vmic_fail(VMIC_E_FORMAT, "%s: buckets at 0x%llx, not a kernel address", what,
                         (unsigned long long)*va);
    *n = m + 1;
    return VMIC_OK;
}

static vmic_status bucket(vmic_os *os, const char *type, const char *head, chain_kind *k)
{
    lx_fld f;
    vmic_status s;
    if ((s = lx_field(os, head, &f, true)) || (s = lx_types_size(os->types, type, &k->bucket_size)))
        return s;
    k->head_off = f.off;
    return VMIC_OK;
}

static void tcp_tables(hash_walk *w, uint64_t link)
{
    vmic_os *os = w->os;
    uint64_t hashinfo, va, n;
    lx_fld old_head, portaddr;
    vmic_status s;
    if ((s = lx_need_sym(os, "tcp_hashinfo", &hashinfo)))
        return lx_keep_error(&w->err, vmic_fail_wrap(s, "TCP sockets no process holds"));

    chain_kind est = {.table = "tcp_hashinfo.ehash", .link_off = link, .nulls = true};
    if ((s = bucket(os, "inet_ehash_bucket", "inet_ehash_bucket.chain", &est)) ||
        (s = table_at(w, est.table, hashinfo, "inet_hashinfo.ehash", "inet_hashinfo.ehash_mask",
                      &va, &n)))
        lx_keep_error(&w->err, s);
    else
        walk_table(w, &est, va, n);

    chain_kind lis = {.table = "tcp_hashinfo.lhash2", .link_off = link, .nulls = true};
    if ((s = lx_field(os, "inet_listen_hashbucket.head", &old_head, false)))
        return lx_keep_error(&w->err, s);
    if (old_head.ok) {
        if ((s = lx_field(os, "inet_connection_sock.icsk_listen_portaddr_node", &portaddr, true)))
            return lx_keep_error(&w->err, s);
        lis.link_off = portaddr.off;
        lis.nulls = false;
    }
    if ((s = bucket(os, "inet_listen_hashbucket",
                    old_head.ok ? "inet_listen_hashbucket.head" : "inet_listen_hashbucket.nulls_head",
                    &lis)) ||
        (s = table_at(w, lis.table, hashinfo, "inet_hashinfo.lhash2", "inet_hashinfo.lhash2_mask",
                      &va, &n)))
        return lx_keep_error(&w->err, s);
    walk_table(w, &lis, va, n);
}

static void udp_tables(hash_walk *w, uint64_t link)
{
    vmic_os *os = w->os;
    uint64_t table, va, n;
    vmic_status s;
    chain_kind k = {.table = "udp_table.hash", .link_off = link, .nulls = false};
    if ((s = lx_need_sym(os, "udp_table", &table)))
        return lx_keep_error(&w->err, vmic_fail_wrap(s, "UDP sockets no process holds"));
    if ((s = bucket(os, "udp_hslot", "udp_hslot.head", &k)) ||
        (s = table_at(w, k.table, table, "udp_table.hash", "udp_table.mask", &va, &n)))
        return lx_keep_error(&w->err, s);
    walk_table(w, &k, va, n);
}

/* Each namespace's UNIX table. */
static void unix_tables(hash_walk *w, uint64_t link)
{
    vmic_os *os = w->os;
    uint64_t head, node, buckets;
    lx_fld list, table;
    lx_seen nets;
    vmic_status s;
    chain_kind k = {.table = "net.unx.table.buckets", .head_off = 0, .bucket_size = 8,
                    .link_off = link, .nulls = false};
    if ((s = lx_field(os, "net.unx.table.buckets", &table, false)) || !table.ok)
        return lx_keep_error(&w->err, s); /* before 6.0: one global table, not walked */
    if ((s = lx_field(os, "net.list", &list, true)) ||
        (s = lx_need_sym(os, "net_namespace_list", &head)) || (s = lx_u64(os, head, &node)))
        return lx_keep_error(&w->err, vmic_fail_wrap(s, "UNIX sockets no process holds"));
    if ((s = lx_seen_init(&nets, MAX_NETNS)))
        return lx_keep_error(&w->err, s);
    for (size_t count = 0; node != head && !w->stopped; count++) {
        if ((s = lx_list_step(os, &nets, node, "net_namespace_list", "namespaces", count)))
            break;
        /* A namespace whose table does not read costs its sockets only. */
        uint64_t net = node - list.off;
        if ((s = lx_u64(os, net + table.off, &buckets)) == VMIC_OK && !lx_kptr(os, buckets))
            s = vmic_fail(VMIC_E_FORMAT, "net 0x%llx: unx.table.buckets 0x%llx is not a kernel "
                          "address", (unsigned long long)net, (unsigned long long)buckets);
        if (s == VMIC_OK)
            walk_table(w, &k, buckets, UNIX_HASH_SIZE);
        lx_keep_error(&w->err, s);
        if ((s = lx_u64(os, node, &node)))
            break;
    }
    lx_seen_free(&nets);
    lx_keep_error(&w->err, s);
}

vmic_status lx_hashed_sockets(vmic_os *os, const net_off *o, lx_seen *held, vmic_socket_fn fn,
                              void *arg, bool *stopped)
{
    lx_fld link;
    vmic_status s;
    if ((s = lx_field(os, "sock.__sk_common.skc_node", &link, true)))
        return vmic_fail_wrap(s, "sockets no process holds");
    hash_walk w = {.os = os, .o = o, .held = held, .fn = fn, .arg = arg};
    if ((s = lx_seen_init(&w.seen, LX_MAX_SOCKETS)))
        return s;
    tcp_tables(&w, link.off);
    if (!w.stopped)
        udp_tables(&w, link.off);
    if (!w.stopped)
        unix_tables(&w, link.off);
    lx_seen_free(&w.seen);
    *stopped = w.stopped;
    return lx_kept_error(&w.err);
}
