/*
 * QMP stop + cont: the one way to make a busy guest's vCPUs run a plugin
 * callback (idle on stop, resume on cont) when none is registered on the
 * code they run. The plugin applies a new watch set from those callbacks.
 *
 * Asynchronous on purpose: QEMU's stop waits until every vCPU has stopped,
 * and a vCPU held in a sync event stops only once the client answers it. A
 * client blocked on the stop's reply would never answer: so the commands
 * are sent at once and their replies read while the caller goes on taking
 * and answering events. QEMU serves one QMP client at a time, so the
 * connection is closed as soon as both replies are in.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "plugin_client.h"

int vmic__plugin_kick_start(vmic__plugin_kick *k, const char *qmp_path)
{
    memset(k, 0, sizeof *k);
    k->fd = -1;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(qmp_path) >= sizeof a.sun_path)
        return -ENAMETOOLONG;
    strcpy(a.sun_path, qmp_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    /* QEMU reads them after its greeting, in order. */
    static const char cmds[] = "{\"execute\":\"qmp_capabilities\"}\n"
                               "{\"execute\":\"stop\"}\n"
                               "{\"execute\":\"cont\"}\n";
    if (write(fd, cmds, sizeof cmds - 1) != (ssize_t)(sizeof cmds - 1)) {
        close(fd);
        return -EIO;
    }
    k->fd = fd;
    return 0;
}

/* 1 once the three replies are in, 0 while waiting, < 0 on an error. */
int vmic__plugin_kick_poll(vmic__plugin_kick *k)
{
    if (k->fd < 0)
        return -EBADF;
    for (;;) {
        char *nl;
        while ((nl = memchr(k->buf, '\n', k->have))) {
            size_t len = (size_t)(nl - k->buf) + 1;
            *nl = 0;
            if (strstr(k->buf, "\"error\"")) {
                vmic__plugin_kick_close(k);
                return -EIO;
            }
            if (strstr(k->buf, "\"return\"") && ++k->replies == 3) {
                vmic__plugin_kick_close(k);
                return 1;
            }
            memmove(k->buf, k->buf + len, k->have - len);
            k->have -= len;
        }
        if (k->have >= sizeof k->buf - 1)
            k->have = 0; /* a line longer than we care about (an event): skipped */
        ssize_t n = read(k->fd, k->buf + k->have, sizeof k->buf - 1 - k->have);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return 0;
        if (n <= 0) {
            vmic__plugin_kick_close(k);
            return -EIO;
        }
        k->have += (size_t)n;
    }
}

void vmic__plugin_kick_close(vmic__plugin_kick *k)
{
    if (k->fd >= 0)
        close(k->fd);
    k->fd = -1;
}

int vmic__plugin_stop_cont(const char *qmp_path)
{
    vmic__plugin_kick k;
    int r = vmic__plugin_kick_start(&k, qmp_path);
    for (int i = 0; r == 0 && i < 5000; i++) {
        struct pollfd p = {.fd = k.fd, .events = POLLIN};
        poll(&p, 1, 1);
        r = vmic__plugin_kick_poll(&k);
    }
    if (r == 0) {
        vmic__plugin_kick_close(&k);
        r = -ETIMEDOUT;
    }
    return r < 0 ? r : 0;
}
