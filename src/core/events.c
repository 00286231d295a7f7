/*
 * The event session: one handler, its callbacks serialized by one lock, the
 * session thread waiting on an eventfd that vCPU threads write when the
 * session must look (stop asked, an error, the guest stopped) and, when the
 * caller opted in (vmic_core_take_signals), a signalfd (SIGINT, SIGTERM,
 * SIGHUP). No work is done in a signal handler: the signals stay blocked in
 * the session's thread and are read from the signalfd. Without the opt-in
 * the process's signals are none of the session's business.
 *
 * However the session ends, the same sequence runs: no more events for the
 * handler; every vCPU paused; the handler's cleanup; vmic undoes what the
 * session changed (software breakpoints, then the driver's views, monitors,
 * steps, debug registers); the driver is detached; the vCPUs resume if they
 * were running.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "core_internal.h"
#include "base/clock.h"

typedef struct vmic_session {
    vmic_core *core;
    const vmic_event_handler_t *h;
    pthread_mutex_t lock;      /* held around every handler callback */
    int wake_fd;
    bool stopping;             /* the handler gets no more events */
    atomic_bool guest_stopped;
    vmic_status error;         /* the first failure in a vCPU thread */
    char error_msg[512];
    uint64_t last_event_ns;
} vmic_session;

static void wake(vmic_session *s)
{
    uint64_t one = 1;
    ssize_t n = write(s->wake_fd, &one, sizeof one);
    (void)n; /* a full counter still wakes the reader */
}

vmic_status vmic_check_response(vmic_core *core, const vmic_event_t *ev,
                                const vmic_event_response_t *resp)
{
    vmic_status s = core_need(core, VMIC_CAP_EVENTS, "checking an event response");
    return s ? s : core->drv->ops->events->check_response(core->drv, ev, resp);
}

/* ---- what vCPU threads call ------------------------------------------------------- */

/* Under s->lock: the session ends with this error (the first one counts). */
static void session_fail(vmic_session *s, vmic_status st)
{
    if (s->error == VMIC_OK) {
        s->error = st;
        strncpy(s->error_msg, vmic_errmsg(), sizeof s->error_msg - 1);
    }
    s->stopping = true;
    wake(s);
}

static bool session_deliver(void *ctx, const vmic_event_t *ev, vmic_event_response_t *resp)
{
    vmic_session *s = ctx;
    const vmic_event_handler_t *h = s->h;

    pthread_mutex_lock(&s->lock);
    if (s->stopping) {
        pthread_mutex_unlock(&s->lock);
        return false;
    }
    vmic_status st = h->on_event(s->core, ev, resp, h->arg);
    if (st == VMIC_OK)
        st = vmic_check_response(s->core, ev, resp);
    if (st != VMIC_OK) {
        session_fail(s, st);
        /* Every driver honours Continue for every event. */
        memset(resp, 0, sizeof *resp);
        resp->action = VMIC_ACTION_CONTINUE;
    } else if (h->should_stop && h->should_stop(s->core, h->arg)) {
        s->stopping = true;
        wake(s);
    }
    s->last_event_ns = vmic__mono_ns();
    pthread_mutex_unlock(&s->lock);
    return true;
}

static void session_guest_stopped(void *ctx)
{
    vmic_session *s = ctx;
    atomic_store(&s->guest_stopped, true);
    wake(s);
}

/* ---- the session thread -------------------------------------------------------------- */

static bool guest_over(vmic_core *core)
{
    vmic_guest_state_t st;
    return vmic_guest_state(core, &st) == VMIC_OK &&
           (st.state == VMIC_GUEST_EXITED || st.state == VMIC_GUEST_FAILED);
}

/* Waits for a signal, a wake-up or the timeout; returns the signal, or 0.
 * sig_fd is -1 when the session takes no signals: poll skips it. */
static int session_wait(vmic_session *s, int sig_fd, uint32_t timeout_ms)
{
    struct pollfd fds[2] = {{.fd = sig_fd, .events = POLLIN}, {.fd = s->wake_fd, .events = POLLIN}};
    int wait_ms = -1;

    if (timeout_ms) {
        uint64_t idle_ms = (vmic__mono_ns() - s->last_event_ns) / 1000000u;
        wait_ms = idle_ms >= timeout_ms ? 0 : (int)(timeout_ms - idle_ms);
    }
    if (poll(fds, 2, wait_ms) < 0)
        return 0; /* EINTR: look again */
    if (fds[0].revents & POLLIN) {
        struct signalfd_siginfo si;
        if (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si)
            return (int)si.ssi_signo;
    }
    if (fds[1].revents & POLLIN) {
        uint64_t n;
        ssize_t r = read(s->wake_fd, &n, sizeof n);
        (void)r;
    }
    return 0;
}

static vmic_status session_loop(vmic_session *s, int sig_fd, uint32_t timeout_ms)
{
    vmic_core *core = s->core;
    const vmic_event_handler_t *h = s->h;

    for (;;) {
        pthread_mutex_lock(&s->lock);
        bool done = s->stopping || atomic_load(&s->guest_stopped) || guest_over(core);
        if (!done && h->should_stop && h->should_stop(core, h->arg))
            done = s->stopping = true;
        pthread_mutex_unlock(&s->lock);
        if (done)
            return VMIC_OK;

        int sig = session_wait(s, sig_fd, timeout_ms);
        pthread_mutex_lock(&s->lock);
        if (sig) {
            s->stopping = true;
            if (h->on_interrupted)
                h->on_interrupted(core, sig, h->arg);
            pthread_mutex_unlock(&s->lock);
            return vmic_fail(VMIC_E_INTERRUPTED, "event session interrupted by signal %d", sig);
        }
        if (timeout_ms && !s->stopping &&
            (vmic__mono_ns() - s->last_event_ns) / 1000000u >= timeout_ms) {
            if (h->on_timeout)
                h->on_timeout(core, h->arg);
            s->last_event_ns = vmic__mono_ns();
        }
        pthread_mutex_unlock(&s->lock);
    }
}

/* Undoes what the session changed. Runs however the session ended. */
static void session_end(vmic_session *s)
{
    vmic_core *core = s->core;
    vmic_guest_state_t st;

    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    bool was_running = vmic_guest_state(core, &st) == VMIC_OK && st.state == VMIC_GUEST_RUNNING;
    pthread_mutex_unlock(&s->lock);
    /* Paused outside the lock: a vCPU that waits for its event's answer
     * inside a driver's callback (an exec watch in QEMU's plugin) keeps
     * QEMU from stopping, and its driver thread needs the lock to learn
     * that the session takes no more events and to let it go. */
    vmic_status paused = was_running ? vmic_pause(core) : VMIC_OK;
    pthread_mutex_lock(&s->lock);
    if (paused != VMIC_OK && s->error == VMIC_OK)
        session_fail(s, VMIC_E_TIMEOUT);
    if (s->h->cleanup)
        s->h->cleanup(core, s->h->arg);
    vmic_status r = core_restore_events(core);
    if (r && s->error == VMIC_OK)
        session_fail(s, r);
    pthread_mutex_unlock(&s->lock);

    /* Outside the lock: detaching waits for vCPU threads inside the sink,
     * which need the lock to see that the session is over. */
    core->drv->ops->events->attach(core->drv, NULL);
    if (was_running)
        vmic_resume(core);
}

void vmic_core_take_signals(vmic_core *core, bool take)
{
    core->take_signals = take;
}

/* Blocks the session's signals in this thread and opens their signalfd, if
 * the caller opted in; *old gets the mask to restore. -1 when none (or on
 * failure, errno set). */
static int take_signals(sigset_t *old)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);   /* a closed terminal detaches too */
    pthread_sigmask(SIG_BLOCK, &sigs, old);
    int fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        pthread_sigmask(SIG_SETMASK, old, NULL);
        errno = e;
    }
    return fd;
}

static void give_back_signals(int sig_fd, const sigset_t *old)
{
    if (sig_fd < 0)
        return;
    close(sig_fd);
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

vmic_status vmic_run_events(vmic_core *core, const vmic_event_handler_t *h, uint32_t timeout_ms)
{
    vmic_session s;
    sigset_t old;
    vmic_status st;

    if (!h || !h->on_event)
        return vmic_fail(VMIC_E_INVAL, "vmic_run_events: the handler needs on_event");
    if ((st = core_need(core, VMIC_CAP_EVENTS, "running events")))
        return st;
    if (core->in_session)
        return vmic_fail(VMIC_E_BUSY, "vmic_run_events: a session already runs on this core");

    memset(&s, 0, sizeof s);
    s.core = core;
    s.h = h;
    s.last_event_ns = vmic__mono_ns();
    int sig_fd = -1;
    sigemptyset(&old);
    if (core->take_signals && (sig_fd = take_signals(&old)) < 0)
        return vmic_fail(VMIC_E_IO, "vmic_run_events: signalfd: %s", strerror(errno));
    s.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s.wake_fd < 0) {
        st = vmic_fail(VMIC_E_IO, "vmic_run_events: eventfd: %s", strerror(errno));
        give_back_signals(sig_fd, &old);
        return st;
    }
    pthread_mutex_init(&s.lock, NULL);
    core->in_session = true;

    vmic_event_sink_t sink = {.deliver = session_deliver, .guest_stopped = session_guest_stopped,
                              .ctx = &s};
    st = core->drv->ops->events->attach(core->drv, &sink);
    if (st == VMIC_OK)
        st = session_loop(&s, sig_fd, timeout_ms);
    char loop_msg[512];
    strncpy(loop_msg, vmic_errmsg(), sizeof loop_msg - 1);
    loop_msg[sizeof loop_msg - 1] = '\0';
    session_end(&s);

    core->in_session = false;
    pthread_mutex_destroy(&s.lock);
    close(s.wake_fd);
    give_back_signals(sig_fd, &old);
    if (s.error != VMIC_OK)
        return vmic_fail(s.error, "%s", s.error_msg);
    if (st != VMIC_OK)
        return vmic_fail(st, "%s", loop_msg);
    return VMIC_OK;
}

vmic_status vmic_guest_state(vmic_core *core, vmic_guest_state_t *st)
{
    vmic_status s = core_need(core, VMIC_CAP_EVENTS, "the guest's run state");
    return s ? s : core->drv->ops->events->guest_state(core->drv, st);
}
