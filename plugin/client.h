/*
 * vmic's side of libvmic-qemu.so's control block (vmic_plugin_abi.h):
 * attach, set the watched addresses, take events, answer held ones.
 * It moves into src/drivers/qemu once the driver area settles.
 *
 * One thread uses a client. Calls return 0 or a negative errno and leave a
 * message in vp_client_error().
 */
#ifndef VMIC_PLUGIN_CLIENT_H
#define VMIC_PLUGIN_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmic_plugin_abi.h"

/* A QMP stop + cont under way (qmp_kick.c). */
typedef struct vp_qmp_kick {
    int fd;
    int replies;
    size_t have;
    char buf[4096];
} vp_qmp_kick;

typedef struct vp_client {
    struct vmic_plugin_ctl *ctl;
    struct vmic_plugin_vcpu *vcpus;
    size_t size;
    uint32_t nvcpus;
    uint32_t tail[VMIC_PLUGIN_MAX_VCPUS];  /* ring records taken, per vCPU */
    bool held[VMIC_PLUGIN_MAX_VCPUS];      /* a sync event returned, not answered */
    uint32_t next_vcpu;                    /* where the next scan starts: fairness */
    uint64_t received;                     /* events returned by vp_client_poll */
    uint32_t kicks;                        /* QMP stop/cont used to apply watches */
    uint64_t base_events, base_dropped;    /* the plugin's counters at attach */
} vp_client;

/* Gets events that arrive while vp_client_watch waits for the plugin. */
typedef void vp_event_fn(void *arg, const struct vmic_plugin_event *ev);

const char *vp_client_error(void);

/* Maps the control block at path, checks its layout, attaches (waits up to
 * timeout_ms for the plugin's acknowledgement). */
int vp_client_attach(vp_client *c, const char *path, int timeout_ms);
void vp_client_detach(vp_client *c);

/* Replaces the watched guest-physical addresses (n <= max_watches) and the
 * delivery mode, and waits until the plugin applied them. A busy guest may
 * run no plugin callback at all: after a short wait the plugin is given one
 * with QMP stop + cont on qmp_path (NULL: only wait). Events of the old set
 * that come meanwhile go to fn (NULL: dropped here, still counted as
 * received), and held vCPUs are answered: the reset waits for them. */
int vp_client_watch(vp_client *c, const uint64_t *pa, uint32_t n, enum vmic_plugin_mode mode,
                    const char *qmp_path, int timeout_ms, vp_event_fn *fn, void *arg);

/* Up to max events (ring records and held sync events), waiting up to
 * timeout_ms (-1: forever) for the first. Returns how many (0 on timeout).
 * A sync event's vCPU stays held until vp_client_answer. */
int vp_client_poll(vp_client *c, struct vmic_plugin_event *ev, int max, int timeout_ms);
void vp_client_answer(vp_client *c, uint32_t vcpu);

/* The plugin's counters since this client attached: events made and
 * dropped over all vCPUs. With the watches gone (all events delivered),
 * events - dropped == c->received means nothing was lost. */
void vp_client_counters(const vp_client *c, uint64_t *events, uint64_t *dropped);

/* QMP stop then cont (forces the idle and resume callbacks), sent at once;
 * the replies are read by vp_qmp_kick_poll (1 when both are in), so that the
 * caller can answer held vCPUs meanwhile: QEMU's stop waits for them. */
int vp_qmp_kick_start(vp_qmp_kick *k, const char *qmp_path);
int vp_qmp_kick_poll(vp_qmp_kick *k);
void vp_qmp_kick_close(vp_qmp_kick *k);
/* The same, waiting for the replies (up to 5 s): only with no vCPU held. */
int vp_qmp_stop_cont(const char *qmp_path);

#endif
