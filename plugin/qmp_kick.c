/*
 * QMP stop + cont: the one way to make a busy guest's vCPUs run a plugin
 * callback (idle on stop, resume on cont) when none is registered on the
 * code they run. The plugin applies a new watch set from those callbacks.
 * QEMU serves one QMP client at a time, so the connection is closed at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"

/* Reads until a line holding "return" or "error" (events are skipped);
 * 0 for a return. */
static int reply(int fd, char *buf, size_t size, size_t *have)
{
    for (;;) {
        char *nl;
        while ((nl = memchr(buf, '\n', *have))) {
            size_t len = (size_t)(nl - buf) + 1;
            nl[0] = 0;
            int r = strstr(buf, "\"return\"") ? 0 : strstr(buf, "\"error\"") ? -EIO : 1;
            memmove(buf, buf + len, *have - len);
            *have -= len;
            if (r <= 0)
                return r;
        }
        if (*have >= size - 1)
            *have = 0; /* a line longer than we care about: skipped */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0)
            return -ETIMEDOUT;
        ssize_t n = read(fd, buf + *have, size - 1 - *have);
        if (n <= 0)
            return -EIO;
        *have += (size_t)n;
    }
}

int vp_qmp_stop_cont(const char *qmp_path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(qmp_path) >= sizeof a.sun_path)
        return -ENAMETOOLONG;
    strcpy(a.sun_path, qmp_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return -err;
    }
    char buf[8192];
    size_t have = 0;
    /* The greeting has neither key: wait for its line, then the commands. */
    int r = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (!memchr(buf, '\n', have) && r == 0) {
        if (poll(&p, 1, 5000) <= 0) {
            r = -ETIMEDOUT;
            break;
        }
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0)
            r = -EIO;
        else
            have += (size_t)n;
    }
    if (r == 0) {
        char *nl = memchr(buf, '\n', have);
        size_t len = (size_t)(nl - buf) + 1;
        memmove(buf, buf + len, have - len);
        have -= len;
    }
    const char *cmds[] = {"{\"execute\":\"qmp_capabilities\"}\n", "{\"execute\":\"stop\"}\n",
                          "{\"execute\":\"cont\"}\n"};
    for (int i = 0; i < 3 && r == 0; i++) {
        size_t len = strlen(cmds[i]);
        if (write(fd, cmds[i], len) != (ssize_t)len)
            r = -EIO;
        else
            r = reply(fd, buf, sizeof buf, &have);
    }
    close(fd);
    return r;
}
