/*
 * The guard: a small process that puts the VM back when vmic dies without
 * cleaning up (SIGKILL, a crash, a signal nobody handled).
 *
 * It is forked at attach, in a session of its own (setsid: a Ctrl-C to
 * vmic's process group does not reach it), holding a copy of vmic's
 * connection to QEMU and of the session lock, and one end of a socketpair
 * whose other end only vmic holds. It does nothing else and reads nothing
 * from QEMU while vmic lives. When vmic closes the session it writes 'R'
 * (released) and waits until the guard has closed its copies; when vmic's
 * end goes away without that, the guard takes over the connection:
 *
 *   gdb   0x03 (stops the VM if it runs), '?' (QEMU 7.2 removes every
 *         breakpoint and watchpoint), its answer, a pause for a debug stop
 *         still pending (see take_over), then 'D' (detach: QEMU resumes
 *         the VM) if it ran when vmic attached; a VM found paused is left paused,
 *         by closing without 'D' after a last command (qAttached) answered.
 *   QMP   "cont", if vmic paused a VM it found running (shared.c).
 *
 * The packets are sent whole: a packet vmic was writing when it died was
 * written whole too (one small send() on a local socket), and QEMU
 * processes bytes in order. A byte that reaches a running VM only stops
 * it, which is why 0x03 goes first. The guard then notes what it did in the
 * lock file and exits, dropping the lock.
 *
 * vmic changes registers in one packet each; where an update takes more
 * than one (a PUSH carried out past a breakpoint: RSP, then RIP), vmic
 * first hands the guard the packets that put them back (guard_undo), so
 * that a death between the two leaves no half-done update to run from.
 *
 * It is forked from the thread that opens the driver; the child only makes
 * system calls (no malloc, no stdio), so a multithreaded caller is safe.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qemu.h"

enum { FD_CTL = 3, FD_PEER = 4, FD_LOCK = 5, GUARD_WAIT_MS = 3000 };

/* Reads from the peer until `want` has been seen or the time is up. */
static bool await_text(int fd, const char *want, int ms)
{
    char buf[4096];
    size_t have = 0, wlen = strlen(want);
    int64_t deadline = vmic__mono_ms() + ms;
    for (;;) {
        int left = (int)(deadline - vmic__mono_ms());
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            continue;
        ssize_t n = read(fd, buf + have, sizeof buf - have);
        if (n <= 0)
            return false;
        have += (size_t)n;
        if (memmem(buf, have, want, wlen))
            return true;
        /* Keep the tail, where `want` may have begun. */
        if (have > wlen) {
            memmove(buf, buf + have - wlen, wlen);
            have = wlen;
        }
    }
}

static void put(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
        if (n <= 0 && errno != EINTR)
            return;
        if (n > 0) {
            s += n;
            len -= (size_t)n;
        }
    }
}

/* The packets that undo a register update vmic has under way (guard_undo). */
static char undo[GUARD_UNDO_MAX];
static size_t undo_len;

static const char *take_over(guard_mode mode, bool resume)
{
    if (mode == GUARD_QMP) {
        if (!resume)
            return "vmic died; the VM was paused when it attached and stays paused";
        put(FD_PEER, "\n{\"execute\":\"cont\",\"id\":\"vmic-guard\"}\n");
        return await_text(FD_PEER, "\"vmic-guard\"", GUARD_WAIT_MS)
                   ? "vmic died; its guard resumed the VM through QMP (cont)"
                   : "vmic died; its guard sent QMP cont and got no answer";
    }
    /* '+' first: in ack mode it acknowledges whatever QEMU sent last. */
    put(FD_PEER, "+\x03$?#3f");
    /* A breakpoint hit or a step that ended just before the VM stopped
     * leaves a debug stop pending in QEMU's main loop (7.2: its
     * debug_requested), which a resume does not cancel: 'D' sent now would
     * run the VM, then that stop would freeze it with nobody attached. So
     * 'D' waits for the answer to '?' and one more turn of the main loop. */
    bool answered = await_text(FD_PEER, "$T05", GUARD_WAIT_MS);
    struct timespec settle = {0, 50 * 1000000L};
    nanosleep(&settle, NULL);
    /* Registers vmic was changing in more than one packet go back to what
     * they were, a state the CPU can run from (guard_undo). */
    if (answered && undo_len) {
        undo[undo_len] = '\0';
        put(FD_PEER, undo);
        put(FD_PEER, "$qAttached#8f");
        answered = await_text(FD_PEER, "$1#31", GUARD_WAIT_MS);
    }
    if (resume) {
        if (!answered)
            return "vmic died; its guard stopped the VM and got no answer";
        put(FD_PEER, "$D#44");
        return await_text(FD_PEER, "$OK#9a", GUARD_WAIT_MS)
                   ? "vmic died; its guard removed every breakpoint and detached (the VM runs)"
                   : "vmic died; its guard sent the detach and got no answer";
    }
    put(FD_PEER, "$qAttached#8f");
    return answered && await_text(FD_PEER, "$1#31", GUARD_WAIT_MS)
               ? "vmic died; its guard removed every breakpoint and left the VM paused, as "
                 "vmic found it"
               : "vmic died; its guard asked to remove the breakpoints and got no answer";
}

static void note(const char *what)
{
    char line[256];
    size_t n = strlen(what);
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    memcpy(line, what, n);
    line[n++] = '\n';
    if (ftruncate(FD_LOCK, 0) == 0 && pwrite(FD_LOCK, line, n, 0) < 0) {
        /* only a message */
    }
}

/* Messages from vmic: 'R' (released), "U<packets>\n" (an undo to keep),
 * 'u' (that update is done). Returns at EOF: vmic is gone. */
static bool listen_to_vmic(void)
{
    char buf[GUARD_UNDO_MAX + 2];
    size_t have = 0;
    bool in_undo = false;
    for (;;) {
        ssize_t n = read(FD_CTL, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        for (ssize_t i = 0; i < n; i++) {
            char c = buf[i];
            if (in_undo) {
                if (c == '\n') {
                    in_undo = false;
                    undo_len = have;
                } else if (have + 1 < sizeof undo) {
                    undo[have++] = c;
                }
            } else if (c == 'R') {
                return true;
            } else if (c == 'U') {
                in_undo = true;
                have = undo_len = 0;
            } else if (c == 'u') {
                undo_len = 0;
            }
        }
    }
}

static _Noreturn void guard_main(guard_mode mode, bool resume)
{
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    if (listen_to_vmic())
        _exit(0);
    note(take_over(mode, resume));
    _exit(0);
}

/* In the grandchild: the three descriptors at known numbers, nothing else. */
static void keep_only(int ctl, int peer, int lock_fd)
{
    /* Above every number used below, so no dup2 overwrites a source. */
    int c = fcntl(ctl, F_DUPFD, 10), p = fcntl(peer, F_DUPFD, 10);
    int l = lock_fd >= 0 ? fcntl(lock_fd, F_DUPFD, 10) : open("/dev/null", O_RDWR);
    int null = open("/dev/null", O_RDWR);
    if (c < 0 || p < 0 || l < 0 || null < 0)
        _exit(1);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    dup2(c, FD_CTL);
    dup2(p, FD_PEER);
    dup2(l, FD_LOCK);
    for (int fd = FD_LOCK + 1; fd < 1024; fd++)
        close(fd);
}

vmic_status guard_start(qemu_guard_t *g, guard_mode mode, int peer_fd, int lock_fd, bool resume)
{
    int sv[2];
    g->ctl = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return vmic_fail(VMIC_E_IO, "guard: socketpair: %s", strerror(errno));
    pid_t child = fork();
    if (child < 0) {
        int err = errno;
        close(sv[0]);
        close(sv[1]);
        return vmic_fail(VMIC_E_IO, "guard: fork: %s", strerror(err));
    }
    if (child == 0) {
        setsid();
        if (fork() != 0)
            _exit(0);   /* the guard is the grandchild: nobody has to reap it */
        keep_only(sv[1], peer_fd, lock_fd);
        guard_main(mode, resume);
    }
    close(sv[1]);
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
    }
    g->ctl = sv[0];
    return VMIC_OK;
}

/* "$PAYLOAD#CS" appended to out (size cap); false if it does not fit. */
static bool append_packet(char *out, size_t cap, const char *payload)
{
    unsigned sum = 0;
    for (const char *p = payload; *p; p++)
        sum += (unsigned char)*p;
    size_t used = strlen(out);
    int n = snprintf(out + used, cap - used, "$%s#%02x", payload, sum & 0xff);
    return n > 0 && (size_t)n < cap - used;
}

void guard_undo(qemu_guard_t *g, uint32_t thread, const gdb_reg_t *const *regs,
                const uint64_t *values, size_t n)
{
    char msg[GUARD_UNDO_MAX + 2] = "U", payload[64];
    if (g->ctl < 0)
        return;
    snprintf(payload, sizeof payload, "Hg%" PRIx32, thread);
    bool ok = append_packet(msg, sizeof msg - 1, payload);
    for (size_t i = 0; ok && i < n; i++) {
        int len = snprintf(payload, sizeof payload, "P%" PRIx32 "=", regs[i]->regnum);
        for (uint32_t b = 0; b < regs[i]->bits / 8 && b < 8; b++)
            len += snprintf(payload + len, sizeof payload - (size_t)len, "%02x",
                            (unsigned)(values[i] >> (8 * b)) & 0xff);
        ok = append_packet(msg, sizeof msg - 1, payload);
    }
    if (!ok)
        return;
    strcat(msg, "\n");
    if (send(g->ctl, msg, strlen(msg), MSG_NOSIGNAL) < 0) {
        /* the guard is gone: nothing to tell */
    }
}

void guard_undo_done(qemu_guard_t *g)
{
    if (g->ctl >= 0 && send(g->ctl, "u", 1, MSG_NOSIGNAL) < 0) {
        /* the guard is gone */
    }
}

void guard_release(qemu_guard_t *g)
{
    if (g->ctl < 0)
        return;
    if (send(g->ctl, "R", 1, MSG_NOSIGNAL) == 1) {
        /* The guard's exit closes its end: then it holds no copy of the
         * connection, and QEMU sees vmic's close as the client leaving. */
        char c;
        struct pollfd p = {.fd = g->ctl, .events = POLLIN};
        if (poll(&p, 1, GUARD_WAIT_MS) > 0 && read(g->ctl, &c, 1) < 0) {
            /* EOF or an error: either way it is gone */
        }
    }
    close(g->ctl);
    g->ctl = -1;
}
