/*
 * vmic-plugin-probe: the client side driven from a test or bench script.
 *
 *   vmic_plugin_probe CTL [--qmp SOCK] [--mode sync|ring] [--pc VA]
 *                     [--hold] --watch PA [--watch PA ...]
 *
 * Attaches, watches, prints {"applied_ms":...} once the watches are in,
 * then takes events (answering sync ones at once, or with --hold never:
 * prints {"held":VCPU} and sleeps, to be killed) until SIGINT or SIGTERM;
 * then removes the watches, prints one JSON line of counts and detaches.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "drivers/qemu/plugin_client.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    stop = 1;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct tally {
    uint64_t pc, pc_events, first_pa, total, gaps;
    uint64_t last_seq[VMIC_PLUGIN_MAX_VCPUS];
    uint64_t per_vcpu[VMIC_PLUGIN_MAX_VCPUS];
    double first, last;
};

static void count(void *arg, const struct vmic_plugin_record *rec)
{
    const struct vmic_plugin_event *ev = &rec->ev;
    struct tally *t = arg;
    double now = now_s();
    if (t->total == 0)
        t->first = now;
    t->last = now;
    t->total++;
    if (ev->vcpu < VMIC_PLUGIN_MAX_VCPUS) {
        /* Per vCPU the plugin numbers events from 1: a gap is an event
         * made and never seen (dropped or lost). */
        if (t->last_seq[ev->vcpu] && ev->seq != t->last_seq[ev->vcpu] + 1)
            t->gaps++;
        t->last_seq[ev->vcpu] = ev->seq;
        t->per_vcpu[ev->vcpu]++;
    }
    if (ev->pc == t->pc) {
        if (t->pc_events++ == 0)
            t->first_pa = ev->pa;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CTL [--qmp SOCK] [--mode sync|ring] [--pc VA] [--hold] "
                        "--watch PA...\n", argv[0]);
        return 2;
    }
    const char *ctl = argv[1], *qmp = NULL;
    enum vmic_plugin_mode mode = VMIC_PLUGIN_MODE_SYNC;
    bool hold = false;
    uint64_t watches[VMIC_PLUGIN_MAX_WATCHES];
    uint32_t nw = 0;
    static struct tally t;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--hold") == 0)
            hold = true;
        else if (i + 1 < argc && strcmp(argv[i], "--qmp") == 0)
            qmp = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--mode") == 0)
            mode = strcmp(argv[++i], "ring") == 0 ? VMIC_PLUGIN_MODE_RING : VMIC_PLUGIN_MODE_SYNC;
        else if (i + 1 < argc && strcmp(argv[i], "--pc") == 0)
            t.pc = strtoull(argv[++i], NULL, 0);
        else if (i + 1 < argc && strcmp(argv[i], "--watch") == 0 && nw < VMIC_PLUGIN_MAX_WATCHES)
            watches[nw++] = strtoull(argv[++i], NULL, 0);
        else {
            fprintf(stderr, "%s: unexpected '%s'\n", argv[0], argv[i]);
            return 2;
        }
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    vmic__plugin_client c;
    if (vmic__plugin_attach(&c, ctl, 5000) != 0) {
        fprintf(stderr, "attach: %s\n", vmic__plugin_error());
        return 1;
    }
    double t0 = now_s();
    if (vmic__plugin_watch(&c, watches, NULL, nw, mode, qmp, 10000, count, &t) != 0) {
        fprintf(stderr, "watch: %s\n", vmic__plugin_error());
        return 1;
    }
    printf("{\"applied_ms\": %.1f, \"kicks\": %u, \"below_4g\": %" PRIu64 ", \"ram_size\": %"
           PRIu64 "}\n", (now_s() - t0) * 1e3, c.kicks, c.ctl->ram_below_4g, c.ctl->ram_size);
    fflush(stdout);

    static struct vmic_plugin_record ev[256];
    while (!stop) {
        int n = vmic__plugin_poll(&c, ev, 256, 100);
        for (int i = 0; i < n; i++) {
            count(&t, &ev[i]);
            if (!c.held[ev[i].ev.vcpu])
                continue;
            if (hold) {
                printf("{\"held\": %u, \"pc\": %" PRIu64 "}\n", ev[i].ev.vcpu, ev[i].ev.pc);
                fflush(stdout);
                for (;;)
                    pause(); /* until killed: the test's SIGKILL */
            }
            vmic__plugin_done(&c, &ev[i]);
        }
    }
    double first_ms = t.total ? (t.first - t0) * 1e3 : -1;
    double span = t.last - t.first;
    if (vmic__plugin_watch(&c, NULL, NULL, 0, mode, qmp, 10000, count, &t) != 0)
        fprintf(stderr, "unwatch: %s\n", vmic__plugin_error());
    uint64_t made, dropped;
    vmic__plugin_counters(&c, &made, &dropped);
    printf("{\"received\": %" PRIu64 ", \"pc_events\": %" PRIu64 ", \"pa\": %" PRIu64
           ", \"plugin_events\": %" PRIu64 ", \"plugin_dropped\": %" PRIu64 ", \"gaps\": %" PRIu64
           ", \"first_event_ms\": %.1f, \"rate\": %.0f, \"vcpus\": [",
           c.received, t.pc_events, t.first_pa, made, dropped, t.gaps, first_ms,
           span > 0 ? (double)t.total / span : 0.0);
    for (uint32_t i = 0; i < c.nvcpus; i++)
        printf("%s%" PRIu64, i ? ", " : "", t.per_vcpu[i]);
    printf("]}\n");
    fflush(stdout);
    vmic__plugin_detach(&c);
    return 0;
}
