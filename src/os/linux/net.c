/*
 * Sockets, as /proc/net/{tcp,tcp6,udp,udp6,unix} show them, found first where
 * a process holds them: every file of its fd table that lives on sockfs is a
 * struct socket (file->private_data), whose sk is the struct sock
 * (net_sock.c reads it). That gives the owner of each socket (pid, fd),
 * which is what an analyst asks. Then, for every process at once, the
 * kernel's TCP and UDP hash tables (net_hash.c) add the sockets no fd table
 * holds: TIME_WAIT, orphans closing, kernel sockets, and sockets in flight
 * in a UNIX socket's queue (SCM_RIGHTS), a place to hide one.
 *
 * Hostile input: a socket whose objects do not read is still listed with
 * what was read and flagged partial; the walk goes on.
 */
#include <stdio.h>
#include <string.h>

#include "net_internal.h"

#define SOCKFS_NAME "socket:["

/* The socket behind one sockfs file. */
static void read_socket(vmic_os *os, const net_off *o, uint64_t file, vmic_socket_t *out)
{
    uint64_t sock, sk = 0, sstate = 0;
    vmic_status s;
    if ((s = lx_read_field(os, file, &o->private_data, &sock)) || !lx_kptr(os, sock) ||
        (s = lx_read_field(os, sock, &o->sk, &sk)) ||
        (s = lx_read_field(os, sock, &o->sock_state, &sstate)) ||
        (sk && !lx_kptr(os, sk))) {
        out->partial = true;
        vmic_clear_error();
        return;
    }
    out->socket_state = (uint8_t)sstate;
    out->sock = vmic_va(sk);
    if (sk && (lx_read_sock_common(os, o, sk, out) || lx_read_sock_full(os, o, sk, out)))
        out->partial = true;
    vmic_clear_error();
}

typedef struct sock_walk {
    vmic_os *os;
    const net_off *o;
    int32_t pid;
    vmic_socket_fn fn;
    void *arg;
    lx_seen *held; /* every process's walk: the socks fd tables hold */
    bool stopped;
} sock_walk;

static int one_file(void *arg, const vmic_open_file_t *f)
{
    sock_walk *w = arg;
    if (strncmp(f->path, SOCKFS_NAME, sizeof SOCKFS_NAME - 1) != 0)
        return 0;
    vmic_socket_t so = {.pid = w->pid, .fd = f->fd, .file = f->file, .inode = f->inode};
    read_socket(w->os, w->o, f->file.addr, &so);
    if (w->held && so.sock.addr)
        (void)lx_seen_add(w->held, so.sock.addr); /* full: listed twice at worst */
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
    lx_first_error err;
} all_walk;

/* A process whose fd table does not read costs its sockets, not the
 * others': the first such error is kept and returned after the walk. */
static int one_process(void *arg, const vmic_process_t *p)
{
    all_walk *a = arg;
    vmic_status s = process_sockets(a->w, p);
    if (s)
        lx_keep_error(&a->err, vmic_fail_wrap(s, "sockets of pid %d", (int)p->tgid));
    return a->w->stopped;
}

vmic_status vmic_os_sockets(vmic_os *os, const vmic_process_t *p, vmic_socket_fn fn, void *arg)
{
    net_off o;
    lx_seen held;
    vmic_status s;
    if ((s = lx_net_offsets(os, &o)))
        return vmic_fail_wrap(s, "sockets");
    sock_walk w = {.os = os, .o = &o, .fn = fn, .arg = arg};
    if (p)
        return process_sockets(&w, p);
    if ((s = lx_seen_init(&held, LX_MAX_SOCKETS)))
        return s;
    w.held = &held;
    all_walk a = {.w = &w};
    s = vmic_os_processes(os, one_process, &a);
    if (s == VMIC_OK && !w.stopped)
        s = lx_hashed_sockets(os, &o, &held, fn, arg, &w.stopped);
    /* The hash tables' sockets must not hide an error of the fd walk, nor
     * the other way round: the first is returned. */
    lx_keep_error(&a.err, s);
    lx_seen_free(&held);
    return lx_kept_error(&a.err);
}
