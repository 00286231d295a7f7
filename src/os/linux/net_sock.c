/*
 * One socket's kernel objects read into a vmic_socket_t. The common part of
 * every sock (sock_common) has the family, state, ports and addresses of an
 * inet socket and its network namespace; TIME_WAIT and request socks are
 * only that much. A full struct sock adds its type and protocol, and a UNIX
 * socket's bound name in unix_sock.addr.
 */
#include <string.h>

#include "net_internal.h"

vmic_status lx_net_offsets(vmic_os *os, net_off *o)
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
    /* For the hash tables' sockets, which have no file: the inode. */
    OPT(sk_socket, "sock.sk_socket");
    OPT(alloc_socket, "socket_alloc.socket");
    OPT(alloc_inode, "socket_alloc.vfs_inode");
    OPT(i_ino, "inode.i_ino");
    OPT(tw_substate, "inet_timewait_sock.tw_substate");
    /* Only with CONFIG_UNIX. */
    OPT(unix_addr, "unix_sock.addr");
    OPT(ua_len, "unix_address.len");
    OPT(ua_name, "unix_address.name");
    OPT(ns_inum, "net.ns.inum");
#undef REQ
#undef OPT
    return VMIC_OK;
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
    if ((s = lx_read_field(os, sk, &o->unix_addr, &addr)) || addr == 0)
        return s;
    if (!lx_kptr(os, addr))
        return vmic_fail(VMIC_E_FORMAT, "unix_sock.addr 0x%llx is not a kernel address",
                         (unsigned long long)addr);
    if ((s = lx_read_field(os, addr, &o->ua_len, &len)))
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

vmic_status lx_read_sock_common(vmic_os *os, const net_off *o, uint64_t sk, vmic_socket_t *out)
{
    uint64_t family, state, num, dport, net = 0, inum;
    vmic_status s;
    if ((s = lx_read_field(os, sk, &o->family, &family)) ||
        (s = lx_read_field(os, sk, &o->state, &state)) ||
        (s = lx_read_field(os, sk, &o->num, &num)) ||
        (s = lx_read_field(os, sk, &o->dport, &dport)) ||
        (s = lx_read_field(os, sk, &o->net, &net)))
        return s;
    out->family = (uint16_t)family;
    out->state = (uint8_t)state;
    if (net && o->ns_inum.ok) {
        if (!lx_kptr(os, net))
            return vmic_fail(VMIC_E_FORMAT, "sock 0x%llx: namespace pointer 0x%llx is not a "
                             "kernel address", (unsigned long long)sk, (unsigned long long)net);
        if ((s = lx_read_field(os, net, &o->ns_inum, &inum)))
            return s;
        out->netns = (uint32_t)inum;
    }
    if (out->family != VMIC_AF_INET && out->family != VMIC_AF_INET6)
        return VMIC_OK;
    out->local_port = (uint16_t)num;
    out->remote_port = (uint16_t)(((dport & 0xff) << 8) | ((dport >> 8) & 0xff));
    if (out->family == VMIC_AF_INET)
        return (s = get_bytes(os, sk, &o->rcv_saddr, out->local_addr, 4))
                   ? s
                   : get_bytes(os, sk, &o->daddr, out->remote_addr, 4);
    return (s = get_bytes(os, sk, &o->v6_rcv_saddr, out->local_addr, 16))
               ? s
               : get_bytes(os, sk, &o->v6_daddr, out->remote_addr, 16);
}

vmic_status lx_read_sock_full(vmic_os *os, const net_off *o, uint64_t sk, vmic_socket_t *out)
{
    uint64_t type, proto;
    vmic_status s;
    if ((s = lx_read_field(os, sk, &o->sk_type, &type)) ||
        (s = lx_read_field(os, sk, &o->sk_protocol, &proto)))
        return s;
    out->type = (uint16_t)type;
    out->protocol = (uint16_t)proto;
    return out->family == VMIC_AF_UNIX ? unix_path(os, o, sk, out) : VMIC_OK;
}
