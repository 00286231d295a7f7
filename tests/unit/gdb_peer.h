/*
 * A scripted fake gdbstub for protocol unit tests: one end of a socketpair
 * for the client under test, the other driven by a thread that plays a
 * script: wait until the client has sent some text (as a stub answers only
 * what it received), write byte strings with delays between them (packets
 * split anywhere, corrupt checksums, trickled bytes), close early. All the
 * client sent is kept for the test to check afterwards.
 */
#ifndef VMIC_TEST_GDB_PEER_H
#define VMIC_TEST_GDB_PEER_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct peer_step {
    int delay_ms;        /* before this step */
    const char *data;    /* bytes to send (NULL: close the connection) */
    size_t len;          /* 0: strlen(data) */
    int repeat;          /* send it this many times (0 = once) */
    const char *expect;  /* instead: wait (5 s at most) until the client sent this */
} peer_step;

#define PEER_MAX_STEPS 64

typedef struct peer {
    int fd;              /* the fake stub's end */
    int client_fd;       /* handed to the code under test */
    peer_step steps[PEER_MAX_STEPS];
    size_t nsteps;
    pthread_t thread;
    bool started;
    char log[65536];     /* what the client sent */
    size_t log_len;
    size_t expect_from;  /* where the next expect starts looking */
} peer;

static inline void peer_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Reads what the client sent into the log, waiting up to ms for more. */
static inline bool peer_read_log(peer *p, int ms)
{
    struct pollfd pf = {.fd = p->fd, .events = POLLIN};
    if (poll(&pf, 1, ms) <= 0)
        return false;
    ssize_t r = recv(p->fd, p->log + p->log_len, sizeof p->log - 1 - p->log_len, MSG_DONTWAIT);
    if (r <= 0)
        return false;
    p->log_len += (size_t)r;
    p->log[p->log_len] = '\0';
    return true;
}

static inline void peer_expect(peer *p, const char *text)
{
    for (int waited = 0; waited < 5000; waited += 10) {
        /* The client's bytes are text here (0x03 aside): strstr works. */
        char *at = strstr(p->log + p->expect_from, text);
        if (at) {
            p->expect_from = (size_t)(at - p->log) + strlen(text);
            return;
        }
        peer_read_log(p, 10);
    }
}

static inline void *peer_main(void *arg)
{
    peer *p = arg;
    for (size_t i = 0; i < p->nsteps; i++) {
        const peer_step *s = &p->steps[i];
        if (s->delay_ms)
            peer_sleep_ms(s->delay_ms);
        if (s->expect) {
            peer_expect(p, s->expect);
            continue;
        }
        if (!s->data) {
            shutdown(p->fd, SHUT_RDWR);
            return NULL;
        }
        size_t len = s->len ? s->len : strlen(s->data);
        for (int r = 0; r <= s->repeat; r++) {
            if (send(p->fd, s->data, len, MSG_NOSIGNAL) < 0)
                return NULL;   /* the client went away: the test is over */
        }
    }
    return NULL;
}

static inline void peer_init(peer *p)
{
    int sv[2];
    memset(p, 0, sizeof *p);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        perror("socketpair");
        _exit(1);
    }
    p->fd = sv[0];
    p->client_fd = sv[1];
}

static inline void peer_add(peer *p, int delay_ms, const char *data)
{
    if (p->nsteps < PEER_MAX_STEPS)
        p->steps[p->nsteps++] = (peer_step){.delay_ms = delay_ms, .data = data};
}

static inline void peer_add_n(peer *p, int delay_ms, const char *data, size_t len, int repeat)
{
    if (p->nsteps < PEER_MAX_STEPS)
        p->steps[p->nsteps++] =
            (peer_step){.delay_ms = delay_ms, .data = data, .len = len, .repeat = repeat};
}

/* The script waits until the client has sent `text`. */
static inline void peer_expect_step(peer *p, const char *text)
{
    if (p->nsteps < PEER_MAX_STEPS)
        p->steps[p->nsteps++] = (peer_step){.expect = text};
}

static inline void peer_start(peer *p)
{
    pthread_create(&p->thread, NULL, peer_main, p);
    p->started = true;
}

/* Waits for the script to end, then returns all the client sent. */
static inline size_t peer_received(peer *p, char *buf, size_t cap)
{
    if (p->started) {
        pthread_join(p->thread, NULL);
        p->started = false;
    }
    while (peer_read_log(p, 0))
        ;
    size_t n = p->log_len < cap - 1 ? p->log_len : cap - 1;
    memcpy(buf, p->log, n);
    buf[n] = '\0';
    return n;
}

/* Ends the fake stub: a script still writing then fails and stops. The
 * client's fd belongs to the code under test, which closes it. */
static inline void peer_finish(peer *p)
{
    if (p->fd >= 0)
        shutdown(p->fd, SHUT_RDWR);
    if (p->started)
        pthread_join(p->thread, NULL);
    p->started = false;
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

/* "$payload#cs" into out. */
static inline const char *frame(char *out, size_t size, const char *payload)
{
    unsigned sum = 0;
    for (const char *c = payload; *c; c++)
        sum += (unsigned char)*c;
    snprintf(out, size, "$%s#%02x", payload, sum & 0xff);
    return out;
}

static inline double peer_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
