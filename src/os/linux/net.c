/*
 * Sockets, as /proc/net/{tcp,tcp6,udp,udp6,unix} show them, found where a
 * process holds them: every file of its fd table that lives on sockfs is a
 * struct socket (file->private_data), whose sk is the struct sock. The
 * common part of every sock (sock_common) has the family, state, ports and
 * addresses of an inet socket and its network namespace; a UNIX socket's
 * bound name is in unix_sock.addr.
 *
 * Walking fd tables rather than the kernel's hash tables gives the owner of
 * each socket (pid, fd), which is what an analyst asks; sockets no process
 * holds (TIME_WAIT, kernel sockets) are not listed.
 *
 * Hostile input: a socket whose objects do not read is still listed with
 * what was read and flagged partial; the walk goes on.
 */
#include <stdio.h>
#include <string.h>

#include "os_internal.h"

#define SOCKFS_NAME "socket:["

typedef struct net_off {
    lx_fld private_data, sk, sock_state;
    lx_fld family, state, num, dport, daddr, rcv_saddr, v6_daddr, v6_rcv_saddr, net;
    lx_fld sk_type, sk_protocol;
    lx_fld unix_addr, ua_len, ua_name;
    lx_fld ns_inum;
} net_off;

static vmic_status net_offsets(vmic_os *os, net_off *o)
{
    vmic_status s;
    memset(o, 0, sizeof *o);
#define REQ(fld, p) if ((s = lx_field(os, p, &o->fld, true))) return s
#define OPT(fld, p) if ((s = lx_field(os, p, &o->fld, false))) return s
    REQ(private_data, "file.private_data");
    REQ(sk, "socket.sk");
    OPT(sock_state, "socket.state");
    REQ(family, "sock.__sk_common.skc_family");
    REQ(state, "sock.__sk_common.skc_state");
    REQ(num, "sock.__sk_common.skc_num");
    REQ(dport, "sock.__sk_common.skc_dport");
    REQ(daddr, "sock.__sk_common.skc_daddr");
    REQ(rcv_saddr, "sock.__sk_common.skc_rcv_saddr");
    /* Only with CONFIG_IPV6. */
    OPT(v6_daddr, "sock.__sk_common.skc_v6_daddr");
    OPT(v6_rcv_saddr, "sock.__sk_common.skc_v6_rcv_saddr");
    /* Only with CONFIG_NET_NS. */
    OPT(net, "sock.__sk_common.skc_net.net");
    REQ(sk_type, "sock.sk_type");
    REQ(sk_protocol, "sock.sk_protocol");
    /* Only with CONFIG_UNIX. */
    OPT(unix_addr, "unix_sock.addr");
    OPT(ua_len, "unix_address.len");
    OPT(ua_name, "unix_address.name");
    OPT(ns_inum, "net.ns.inum");
#undef REQ
#undef OPT
    return VMIC_OK;
}

/* One field of the object at base, bitfields included (0 if absent). */
static vmic_status get(vmic_os *os, uint64_t base, const lx_fld *f, uint64_t *v)
{
    uint8_t buf[8] = {0};
    *v = 0;
    if (!f->ok)
        return VMIC_OK;
    size_t n = f->bit_size || f->size > 8 ? 8 : f->size;
    vmic_status s = lx_read(os, base + f->off, buf, n);
    if (s == VMIC_OK)
        *v = lx_get_at(buf, n, f, f->off);
    return s;
}

static vmic_status get_bytes(vmic_os *os, uint64_t base, const lx_fld *f, uint8_t *out,
                             size_t len)
{
    if (!f->ok || f->size < len)
        return VMIC_OK;
    return lx_read(os, base + f->off, out, len);
}

/* The bound name of a UNIX socket as /proc/net/unix prints it: the path
 * without its NUL, or '@' and the abstract name with each NUL as '@'. */
static vmic_status unix_path(vmic_os *os, const net_off *o, uint64_t sk, vmic_socket_t *out)
{
    uint64_t addr, len;
    uint8_t name[2 + 108];
    vmic_status s;
    if (!o->unix_addr.ok || !o->ua_len.ok || !o->ua_name.ok)
        return VMIC_OK;
    if ((s = get(os, sk, &o->unix_addr, &addr)) || addr == 0)
        return s;
    if (!lx_kptr(os, addr))
        return vmic_fail(VMIC_E_FORMAT, "unix_sock.addr 0x%llx is not a kernel address",
                         (unsigned long long)addr);
    if ((s = get(os, addr, &o->ua_len, &len)))
        return s;
    /* len counts sun_family (2 bytes) and, for a path, its NUL. */
    if (len < 2 || len > sizeof name)
        return vmic_fail(VMIC_E_FORMAT, "unix address at 0x%llx of %llu bytes",
                         (unsigned long long)addr, (unsigned long long)len);
    if ((s = lx_read(os, addr + o->ua_name.off, name, (size_t)len)))
        return s;
    const uint8_t *p = name + 2;
    size_t n = (size_t)len - 2, i = 0, at = 0;
    if (n == 0)
        return VMIC_OK;
    if (p[0]) {
        n--; /* the path's NUL */
    } else {
        out->path[at++] = '@';
        i = 1;
    }
    for (; i < n && at + 1 < sizeof out->path; i++)
        out->path[at++] = p[i] ? (char)p[i] : '@';
    out->path[at] = '\0';
    return VMIC_OK;
}

/* Family, type, state, addresses and namespace of the struct sock at sk. */
static vmic_status read_sock(vmic_os *os, const net_off *o, uint64_t sk, vmic_socket_t *out)
{
    uint64_t family, state, num, dport, type, proto, net = 0, inum;
    vmic_status s;
    if ((s = get(os, sk, &o->family, &family)) || (s = get(os, sk, &o->state, &state)) ||
        (s = get(os, sk, &o->num, &num)) || (s = get(os, sk, &o->dport, &dport)) ||
        (s = get(os, sk, &o->sk_type, &type)) || (s = get(os, sk, &o->sk_protocol, &proto)) ||
        (s = get(os, sk, &o->net, &net)))
        return s;
    out->family = (uint16_t)family;
    out->state = (uint8_t)state;
    out->type = (uint16_t)type;
    out->protocol = (uint16_t)proto;
    if (net && o->ns_inum.ok) {
        if (!lx_kptr(os, net))
            return vmic_fail(VMIC_E_FORMAT, "sock 0x%llx: namespace pointer 0x%llx is not a "
                             "kernel address", (unsigned long long)sk, (unsigned long long)net);
        if ((s = get(os, net, &o->ns_inum, &inum)))
            return s;
        out->netns = (uint32_t)inum;
    }
    switch (out->family) {
    case VMIC_AF_INET:
        out->local_port = (uint16_t)num;
        out->remote_port = (uint16_t)(((dport & 0xff) << 8) | ((dport >> 8) & 0xff));
        if ((s = get_bytes(os, sk, &o->rcv_saddr, out->local_addr, 4)) ||
            (s = get_bytes(os, sk, &o->daddr, out->remote_addr, 4)))
            return s;
        break;
    case VMIC_AF_INET6:
        out->local_port = (uint16_t)num;
        out->remote_port = (uint16_t)(((dport & 0xff) << 8) | ((dport >> 8) & 0xff));
        if ((s = get_bytes(os, sk, &o->v6_rcv_saddr, out->local_addr, 16)) ||
            (s = get_bytes(os, sk, &o->v6_daddr, out->remote_addr, 16)))
            return s;
        break;
    case VMIC_AF_UNIX:
        return unix_path(os, o, sk, out);
    }
    return VMIC_OK;
}

/* The socket behind one sockfs file. */
static void read_socket(vmic_os *os, const net_off *o, uint64_t file, vmic_socket_t *out)
{
    uint64_t sock, sk = 0, sstate = 0;
    vmic_status s;
    if ((s = get(os, file, &o->private_data, &sock)) || !lx_kptr(os, sock) ||
        (s = get(os, sock, &o->sk, &sk)) || (s = get(os, sock, &o->sock_state, &sstate)) ||
        (sk && !lx_kptr(os, sk))) {
        out->partial = true;
        vmic_clear_error();
        return;
    }
    out->socket_state = (uint8_t)sstate;
    out->sock = vmic_va(sk);
    if (sk && read_sock(os, o, sk, out))
        out->partial = true;
    vmic_clear_error();
}

typedef struct sock_walk {
    vmic_os *os;
    const net_off *o;
    int32_t pid;
    vmic_socket_fn fn;
    void *arg;
    bool stopped;
} sock_walk;

static int one_file(void *arg, const vmic_open_file_t *f)
{
    sock_walk *w = arg;
    if (strncmp(f->path, SOCKFS_NAME, sizeof SOCKFS_NAME - 1) != 0)
        return 0;
    vmic_socket_t so = {.pid = w->pid, .fd = f->fd, .file = f->file, .inode = f->inode};
    read_socket(w->os, w->o, f->file.addr, &so);
    if (w->fn(w->arg, &so))
        w->stopped = true;
    return w->stopped;
}

static vmic_status process_sockets(sock_walk *w, const vmic_process_t *p)
{
    w->pid = p->tgid;
    if (p->kernel_thread)
        return VMIC_OK;
    return vmic_os_files(w->os, p, one_file, w);
}

typedef struct all_walk {
    sock_walk *w;
    vmic_status s;
    char msg[256]; /* its message: later reads clear the error state */
} all_walk;

/* A process whose fd table does not read costs its sockets, not the
 * others': the first such error is kept and returned after the walk. */
static int one_process(void *arg, const vmic_process_t *p)
{
    all_walk *a = arg;
    vmic_status s = process_sockets(a->w, p);
    if (s && !a->s) {
        a->s = vmic_fail_wrap(s, "sockets of pid %d", (int)p->tgid);
        snprintf(a->msg, sizeof a->msg, "%s", vmic_errmsg());
    }
    return a->w->stopped;
}

vmic_status vmic_os_sockets(vmic_os *os, const vmic_process_t *p, vmic_socket_fn fn, void *arg)
{
    net_off o;
    vmic_status s;
    if ((s = net_offsets(os, &o)))
        return vmic_fail_wrap(s, "sockets");
    sock_walk w = {.os = os, .o = &o, .fn = fn, .arg = arg};
    if (p)
        return process_sockets(&w, p);
    all_walk a = {.w = &w};
    if ((s = vmic_os_processes(os, one_process, &a)))
        return s;
    return a.s ? vmic_fail(a.s, "%s", a.msg) : VMIC_OK;
}
