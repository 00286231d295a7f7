/*
 * vmic's side of libvmic-qemu.so's control block (vmic_plugin_abi.h):
 * attach, set the watched addresses, take events, answer held ones.
 * The driver's own (internal); probe.c and bench_plugin link it through
 * vmic_internal. The ABI and futex helpers stay with the plugin (plugin/).
 *
 * One thread uses a client. Calls return 0 or a negative errno and leave a
 * message in vmic__plugin_error().
 */
#ifndef VMIC_QEMU_PLUGIN_CLIENT_H
#define VMIC_QEMU_PLUGIN_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmic/event.h>

#include "vmic_plugin_abi.h"

/* A QMP stop + cont under way (qmp_kick.c). */
typedef struct vmic__plugin_kick {
    int fd;
    int replies;
    size_t have;
    char buf[4096];
} vmic__plugin_kick;

typedef struct vmic__plugin_client {
    struct vmic_plugin_ctl *ctl;
    struct vmic_plugin_vcpu *vcpus;
    size_t size;
    uint32_t nvcpus;
    uint32_t tail[VMIC_PLUGIN_MAX_VCPUS];  /* ring records taken, per vCPU */
    bool held[VMIC_PLUGIN_MAX_VCPUS];      /* a sync event returned, not answered */
    uint32_t next_vcpu;                    /* where the next scan starts: fairness */
    uint64_t received;                     /* events returned by vmic__plugin_poll */
    uint32_t kicks;                        /* QMP stop/cont used to apply watches */
    uint64_t base_events, base_dropped;    /* the plugin's counters at attach */
} vmic__plugin_client;

/* Gets events that arrive while vmic__plugin_watch waits for the plugin. */
typedef void vmic__plugin_event_fn(void *arg, const struct vmic_plugin_record *rec);

const char *vmic__plugin_error(void);

/* Whether the block at h (file_size bytes of path) was written by a plugin of
 * this protocol and layout: magic, version, sizes, vCPU areas inside the
 * file. Reads only the identification fields. */
int vmic__plugin_check_layout(const struct vmic_plugin_ctl *h, size_t file_size,
                              const char *path);

/* Maps the control block at path, checks its layout, attaches (waits up to
 * timeout_ms for the plugin's acknowledgement). */
int vmic__plugin_attach(vmic__plugin_client *c, const char *path, int timeout_ms);
void vmic__plugin_detach(vmic__plugin_client *c);

/* Replaces the watched guest-physical addresses (n <= max_watches) and the
 * delivery mode, and waits until the plugin applied them. A busy guest may
 * run no plugin callback at all: after a short wait the plugin is given one
 * with QMP stop + cont on qmp_path (NULL: only wait). Events of the old set
 * that come meanwhile go to fn (NULL: dropped here, still counted as
 * received), and held vCPUs are answered: the reset waits for them. */
int vmic__plugin_watch(vmic__plugin_client *c, const uint64_t *pa, const uint8_t *programs,
                       uint32_t n, enum vmic_plugin_mode mode, const char *qmp_path,
                       int timeout_ms, vmic__plugin_event_fn *fn, void *arg);
/* The capture programs and their inputs into the block, for the next
 * vmic__plugin_watch (the plugin takes them with the watch generation);
 * NULL: none. */
void vmic__plugin_capture(vmic__plugin_client *c, const vmic_capture_spec_t *spec);

/* The pages without X (gfn[i] lacks X in the views of bit mask views[i]),
 * n <= VMIC_PLUGIN_MAX_NX, for the next vmic__plugin_watch like the
 * capture programs. */
void vmic__plugin_nx(vmic__plugin_client *c, const uint64_t *gfn, const uint64_t *views,
                     uint32_t n);
/* vCPU vcpu's view, in force at its next fetch callback (no reset). */
void vmic__plugin_set_view(vmic__plugin_client *c, uint32_t vcpu, uint32_t view);

/* Up to max events (ring records and held sync events), waiting up to
 * timeout_ms (-1: forever) for the first. Returns how many (0 on timeout).
 * A sync event's vCPU stays held until vmic__plugin_answer. */
int vmic__plugin_poll(vmic__plugin_client *c, struct vmic_plugin_record *ev, int max, int timeout_ms);
void vmic__plugin_answer(vmic__plugin_client *c, uint32_t vcpu);
/* A record taken by poll is done with: a held sync event is answered, a
 * held capture record lets its vCPU go; nothing for the rest. */
void vmic__plugin_done(vmic__plugin_client *c, const struct vmic_plugin_record *rec);

/* The plugin's counters since this client attached: events made and
 * dropped over all vCPUs. With the watches gone (all events delivered),
 * events - dropped == c->received means nothing was lost. */
void vmic__plugin_counters(const vmic__plugin_client *c, uint64_t *events, uint64_t *dropped);

/* QMP stop then cont (forces the idle and resume callbacks), sent at once;
 * the replies are read by vmic__plugin_kick_poll (1 when both are in), so that the
 * caller can answer held vCPUs meanwhile: QEMU's stop waits for them. */
int vmic__plugin_kick_start(vmic__plugin_kick *k, const char *qmp_path);
int vmic__plugin_kick_poll(vmic__plugin_kick *k);
void vmic__plugin_kick_close(vmic__plugin_kick *k);
/* The same, waiting for the replies (up to 5 s): only with no vCPU held. */
int vmic__plugin_stop_cont(const char *qmp_path);

#endif
