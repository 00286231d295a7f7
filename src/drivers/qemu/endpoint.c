/*
 * Endpoints and socket I/O for the gdbstub and QMP connections.
 *
 * Sockets are non-blocking and every wait goes through poll() with what is
 * left of a deadline, so a QEMU that stops answering (or a peer that trickles
 * one byte at a time) costs at most the timeout. Sends use MSG_NOSIGNAL: a
 * QEMU that died turns into EPIPE and a message naming the endpoint, never
 * into SIGPIPE killing the process that embeds libvmic.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "qemu.h"

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static vmic_status parse_tcp(const char *what, const char *spec, const char *hostport,
                             qemu_endpoint_t *out)
{
    const char *colon = strrchr(hostport, ':');
    if (!colon || !all_digits(colon + 1) || strlen(colon + 1) > 5)
        return vmic_fail(VMIC_E_INVAL, "%s endpoint '%s': expected HOST:PORT", what, spec);
    size_t hlen = (size_t)(colon - hostport);
    const char *host = hostport;
    /* [::1]:1234 */
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        host++;
        hlen -= 2;
    }
    if (hlen >= sizeof out->host)
        return vmic_fail(VMIC_E_INVAL, "%s endpoint '%s': host name too long", what, spec);
    unsigned long port = strtoul(colon + 1, NULL, 10);
    if (port == 0 || port > 65535)
        return vmic_fail(VMIC_E_INVAL, "%s endpoint '%s': port %s out of range", what, spec,
                         colon + 1);
    out->tcp = true;
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    if (hlen == 0)
        snprintf(out->host, sizeof out->host, "localhost");
    snprintf(out->port, sizeof out->port, "%lu", port);
    snprintf(out->name, sizeof out->name, "tcp:%s:%s", out->host, out->port);
    return VMIC_OK;
}

vmic_status endpoint_parse(const char *what, const char *spec, qemu_endpoint_t *out)
{
    memset(out, 0, sizeof *out);
    if (!spec || !*spec)
        return vmic_fail(VMIC_E_INVAL, "no %s endpoint given", what);
    if (strncmp(spec, "tcp:", 4) == 0)
        return parse_tcp(what, spec, spec + 4, out);

    const char *path = spec;
    if (strncmp(spec, "unix:", 5) == 0) {
        path = spec + 5;
    } else if (!strchr(spec, '/')) {
        const char *colon = strrchr(spec, ':');
        if (colon && all_digits(colon + 1))
            return parse_tcp(what, spec, spec, out);
    }
    /* QEMU's own option syntax may follow the path (",server=on,wait=off"):
     * people paste it; say what is wrong instead of failing to connect. */
    if (strchr(path, ','))
        return vmic_fail(VMIC_E_INVAL, "%s endpoint '%s': a socket path with a comma "
                         "(give only the path, not QEMU's ',server=on' options)", what, spec);
    if (!*path)
        return vmic_fail(VMIC_E_INVAL, "%s endpoint '%s': empty socket path", what, spec);
    if (strlen(path) >= sizeof out->path)
        return vmic_fail(VMIC_E_INVAL, "%s endpoint '%s': a unix socket path is at most %zu "
                         "bytes", what, spec, sizeof out->path - 1);
    out->tcp = false;
    snprintf(out->path, sizeof out->path, "%s", path);
    snprintf(out->name, sizeof out->name, "unix:%s", path);
    return VMIC_OK;
}

/* Waits for events on fd until the deadline; 0 when ready, else the status. */
static vmic_status wait_fd(int fd, short events, int64_t deadline, const char *name,
                           const char *doing)
{
    for (;;) {
        int64_t left = deadline - vmic__mono_ms();
        if (left < 0)
            left = 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)(left > 0x7fffffff ? 0x7fffffff : left));
        if (n > 0)
            return VMIC_OK;
        if (n == 0)
            return vmic_fail(VMIC_E_TIMEOUT, "%s: timed out %s", name, doing);
        if (errno != EINTR)
            return vmic_fail(VMIC_E_IO, "%s: poll: %s", name, strerror(errno));
    }
}

/* Completes a non-blocking connect. */
static vmic_status finish_connect(int fd, int rc, const char *what, const qemu_endpoint_t *ep,
                                  int64_t deadline)
{
    int err = rc == 0 ? 0 : errno;

    if (rc != 0 && (err == EINPROGRESS || err == EAGAIN)) {
        char doing[64];
        snprintf(doing, sizeof doing, "connecting (%s)", what);
        vmic_status s = wait_fd(fd, POLLOUT, deadline, ep->name, doing);
        if (s)
            return s;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
    }
    if (err == 0)
        return VMIC_OK;
    const char *hint = "";
    if (err == ENOENT)
        hint = ep->tcp ? "" : " (no such socket: is QEMU running with this endpoint?)";
    else if (err == ECONNREFUSED)
        hint = " (nothing listens there: QEMU exited, or was started without it?)";
    else if (err == ENOTSOCK)
        hint = " (that file is not a socket)";
    return vmic_fail(VMIC_E_IO, "%s endpoint %s: cannot connect: %s%s", what, ep->name,
                     strerror(err), hint);
}

static vmic_status connect_unix(const char *what, const qemu_endpoint_t *ep, int64_t deadline,
                                endpoint_hook before, void *arg, int *out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, ep->path, strlen(ep->path) + 1);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return vmic_fail(VMIC_E_IO, "%s endpoint %s: socket: %s", what, ep->name,
                         strerror(errno));
    vmic_status s = before ? before(arg, fd) : VMIC_OK;
    if (s) {
        close(fd);
        return s;
    }
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    s = finish_connect(fd, rc, what, ep, deadline);
    if (s) {
        close(fd);
        return s;
    }
    *out = fd;
    return VMIC_OK;
}

static vmic_status connect_tcp(const char *what, const qemu_endpoint_t *ep, int64_t deadline,
                               int *out)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(ep->host, ep->port, &hints, &res);
    if (rc != 0)
        return vmic_fail(VMIC_E_IO, "%s endpoint %s: cannot resolve '%s': %s", what, ep->name,
                         ep->host, gai_strerror(rc));

    vmic_status s = vmic_fail(VMIC_E_IO, "%s endpoint %s: no address", what, ep->name);
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                        ai->ai_protocol);
        if (fd < 0) {
            s = vmic_fail(VMIC_E_IO, "%s endpoint %s: socket: %s", what, ep->name,
                          strerror(errno));
            continue;
        }
        rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        s = finish_connect(fd, rc, what, ep, deadline);
        if (s == VMIC_OK) {
            /* One small packet per command: do not let Nagle hold it back. */
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            *out = fd;
            break;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return s;
}

vmic_status endpoint_connect(const char *what, const qemu_endpoint_t *ep, int timeout_ms,
                             int *fd)
{
    return endpoint_connect_hooked(what, ep, timeout_ms, NULL, NULL, fd);
}

vmic_status endpoint_connect_hooked(const char *what, const qemu_endpoint_t *ep, int timeout_ms,
                                    endpoint_hook before, void *arg, int *fd)
{
    int64_t deadline = vmic__mono_ms() + timeout_ms;
    *fd = -1;
    if (!ep->tcp)
        return connect_unix(what, ep, deadline, before, arg, fd);
    vmic_status s = connect_tcp(what, ep, deadline, fd);
    if (s == VMIC_OK && before && (s = before(arg, *fd)) != VMIC_OK) {
        close(*fd);
        *fd = -1;
    }
    return s;
}

vmic_status sock_send_all(int fd, const char *name, const void *buf, size_t len,
                          int64_t deadline)
{
    const uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            vmic_status s = wait_fd(fd, POLLOUT, deadline, name, "sending");
            if (s)
                return s;
            continue;
        }
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
            return vmic_fail(VMIC_E_IO, "%s: connection closed by the peer while sending "
                             "(did QEMU exit?)", name);
        return vmic_fail(VMIC_E_IO, "%s: send: %s", name, n < 0 ? strerror(errno) : "0 bytes");
    }
    return VMIC_OK;
}

vmic_status sock_recv_some(int fd, const char *name, void *buf, size_t cap,
                           int64_t deadline, size_t *got)
{
    *got = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, cap, 0);
        if (n > 0) {
            *got = (size_t)n;
            return VMIC_OK;
        }
        if (n == 0)
            return vmic_fail(VMIC_E_IO, "%s: connection closed by the peer (did QEMU exit?)",
                             name);
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            vmic_status s = wait_fd(fd, POLLIN, deadline, name, "waiting for a reply");
            if (s)
                return s;
            continue;
        }
        if (errno == ECONNRESET)
            return vmic_fail(VMIC_E_IO, "%s: connection reset by the peer (did QEMU exit?)",
                             name);
        return vmic_fail(VMIC_E_IO, "%s: recv: %s", name, strerror(errno));
    }
}
