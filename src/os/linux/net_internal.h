/*
 * Sockets (net.c, net_sock.c, net_hash.c): the offsets of the kernel's socket
 * objects, reading one struct sock into a vmic_socket_t, and walking the TCP
 * and UDP hash tables for the sockets no fd table holds.
 */
#ifndef VMIC_LX_NET_INTERNAL_H
#define VMIC_LX_NET_INTERNAL_H

#include "os_internal.h"

/* TCP states that are not full socks: their objects end after sock_common. */
#define LX_TCP_SYN_RECV 3
#define LX_TCP_TIME_WAIT 6
#define LX_TCP_NEW_SYN_RECV 12

typedef struct net_off {
    lx_fld private_data, sk, sock_state;
    lx_fld family, state, num, dport, daddr, rcv_saddr, v6_daddr, v6_rcv_saddr, net;
    lx_fld sk_type, sk_protocol, sk_socket;
    lx_fld unix_addr, ua_len, ua_name;
    lx_fld ns_inum;
    lx_fld alloc_socket, alloc_inode, i_ino; /* socket_alloc: a socket's inode */
    lx_fld tw_substate;
} net_off;

vmic_status lx_net_offsets(vmic_os *os, net_off *o);

/* The family, state, ports, addresses and namespace of the sock_common at
 * sk (every socket, and TIME_WAIT and request socks too). */
vmic_status lx_read_sock_common(vmic_os *os, const net_off *o, uint64_t sk, vmic_socket_t *out);

/* What only a full struct sock has: type, protocol, a UNIX socket's name. */
vmic_status lx_read_sock_full(vmic_os *os, const net_off *o, uint64_t sk, vmic_socket_t *out);

/* The TCP, UDP and UNIX sockets in the kernel's hash tables (tcp_hashinfo's
 * established and listening tables, udp_table, each namespace's UNIX
 * table) whose struct sock is not in
 * held, given to fn with pid 0 and fd -1; each one listed is added to held.
 * A chain that does not read ends that chain, not the walk: the first such
 * error is returned after it. *stopped when fn asked to stop. */
vmic_status lx_hashed_sockets(vmic_os *os, const net_off *o, lx_seen *held, vmic_socket_fn fn,
                              void *arg, bool *stopped);

#endif
