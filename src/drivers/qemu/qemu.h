/*
 * The qemu driver's private interface: what its files share.
 *
 *   endpoint.c    "unix:PATH" / "HOST:PORT" endpoints, connecting and socket
 *                 I/O with a deadline on every wait
 *   gdb_remote.c  the gdb remote-protocol client: framing, checksums, acks,
 *                 run-length encoding, binary escapes, asynchronous stop replies
 *   gdb_stop.c    parsing stop replies ("T05thread:01;watch:...;")
 *   gdb_run.c     run control on top of it: interrupt, continue, step,
 *                 breakpoints and watchpoints (Z/z), waiting for a stop
 *   gdb_target.c  the register layout from the stub's target description
 *   registers.c   that layout <-> vmic_amd64_regs_t ('g', 'p', 'P')
 *   qmp.c         the QMP client (src/base/json.h)
 *   mtree.c       the guest-physical RAM ranges in HMP's "info mtree -f"
 *   memory.c      finding the RAM backend, mmap of its file, the regions
 *   target.c      TARGET strings ("qemu:gdb=...,qmp=...,mem=..." or "qemu:DIR")
 *   qemu.c        the driver: open, close, info, memory, registers, pause/resume
 *   lock.c        the session lock (DIR/vmic.lock): which vmic holds the gdbstub
 *   stub.c        whether the gdbstub has a client (QMP query-chardev)
 *   guard.c       the process that detaches for a vmic that died attached
 *   shared.c      a session through QMP alone, beside another gdb client
 *   hmp_regs.c    registers from HMP "info registers -a"
 *   recover.c     vmic_qemu_recover: a VM back from whatever was left on it
 *   points.c      breakpoints and watchpoints vmic inserted (Z1, Z2-Z4)
 *   events.c      the event thread: stop replies become events
 *   respond.c     what each response does, and which ones QEMU cannot honour
 *   plugin.c      whether libvmic-qemu.so runs in this QEMU (DIR/plugin.ctl)
 *   watch.c       vmic_qemu_watch_*: exec watches through it, without the gdbstub
 *   plugin_client.c, plugin_kick.c  vmic's side of the plugin's control
 *                 block (plugin_client.h; the protocol: plugin/vmic_plugin_abi.h)
 *
 * Everything QEMU sends is treated as hostile input: lengths are bounded,
 * every wait has a deadline, a peer that closes or stalls is an error that
 * names the endpoint, never a hang or a crash.
 */
#ifndef VMIC_DRIVERS_QEMU_H
#define VMIC_DRIVERS_QEMU_H

#include <pthread.h>
#include <stdarg.h>
#include <sys/types.h>

#include <vmic/event.h>
#include <vmic/driver.h>
#include <vmic/qemu.h>
#include "base/clock.h"
#include "plugin_client.h"

#define QEMU_DEFAULT_TIMEOUT_MS 5000

/* ---- endpoints and sockets (endpoint.c) ------------------------------------ */

typedef struct qemu_endpoint {
    bool tcp;
    char path[108];     /* unix socket path (sun_path size) */
    char host[256];
    char port[8];
    char name[400];     /* "unix:/run/x.sock" or "tcp:host:port", for messages */
} qemu_endpoint_t;

/* what: "gdb" or "QMP", for messages. Forms: "unix:PATH", "tcp:HOST:PORT",
 * "HOST:PORT" (the part after the last colon all digits, no slash), else a
 * unix socket path. */
vmic_status endpoint_parse(const char *what, const char *spec, qemu_endpoint_t *out);

/* Connects (non-blocking socket, close-on-exec, TCP_NODELAY) within timeout_ms. */
vmic_status endpoint_connect(const char *what, const qemu_endpoint_t *ep, int timeout_ms,
                             int *fd);
/* The same, calling before(arg, fd) on the socket: for a unix endpoint
 * before connect() (so whoever it hands the socket to holds it from the
 * first byte QEMU can see), for TCP right after. A failing hook ends it. */
typedef vmic_status (*endpoint_hook)(void *arg, int fd);
vmic_status endpoint_connect_hooked(const char *what, const qemu_endpoint_t *ep, int timeout_ms,
                                    endpoint_hook before, void *arg, int *fd);


/* Sends all of buf before the deadline. MSG_NOSIGNAL: a peer that is gone is
 * EPIPE, an error naming `name`, never SIGPIPE. */
vmic_status sock_send_all(int fd, const char *name, const void *buf, size_t len,
                          int64_t deadline);

/* Receives at least one byte (at most cap) before the deadline. EOF is
 * VMIC_E_IO ("closed by the peer"), the deadline VMIC_E_TIMEOUT. With
 * deadline <= now it only takes what has already arrived. */
vmic_status sock_recv_some(int fd, const char *name, void *buf, size_t cap,
                           int64_t deadline, size_t *got);

/* ---- gdb remote protocol (gdb_remote.c, gdb_stop.c) --------------------- */

/* Longest packet vmic accepts from a stub, raw and decoded: QEMU's are at
 * most 4 KiB; this only bounds what a broken or hostile peer can make us
 * allocate. */
#define GDB_MAX_PACKET (1u << 20)
/* How often one packet is retransmitted on a NAK, and how many corrupt
 * packets in a row are NAK'd, before giving up. */
#define GDB_MAX_RETRIES 5
/* Stop replies kept while waiting for something else. */
#define GDB_MAX_PENDING 16

typedef enum gdb_stop_kind {
    GDB_STOP_SIGNAL = 1,   /* 'T' or 'S': the target stopped */
    GDB_STOP_EXITED,       /* 'W': the process (the VM) exited; signal = status */
    GDB_STOP_KILLED,       /* 'X': terminated by a signal */
} gdb_stop_kind;

typedef enum gdb_watch_kind {
    GDB_WATCH_NONE = 0,
    GDB_WATCH_WRITE,       /* "watch:ADDR" */
    GDB_WATCH_READ,        /* "rwatch:ADDR" */
    GDB_WATCH_ACCESS,      /* "awatch:ADDR" */
} gdb_watch_kind;

typedef struct gdb_stop {
    gdb_stop_kind kind;
    uint8_t signal;        /* GDB signal number (2 = SIGINT, 5 = SIGTRAP) or exit status */
    bool has_thread;
    uint32_t thread;       /* "thread:ID" (hex); vCPU index + 1 on QEMU */
    gdb_watch_kind watch;
    uint64_t watch_addr;   /* guest-virtual address that triggered the watchpoint */
    bool swbreak, hwbreak; /* stop reasons, when the stub reports them */
} gdb_stop_t;

typedef struct gdb_remote {
    int fd;                /* owned; -1 when closed */
    char name[420];        /* "gdb unix:/path", for messages */
    int timeout_ms;        /* per command or reply */
    bool ack_mode;         /* '+'/'-' acknowledgements (until QStartNoAckMode) */
    bool dead;             /* the connection failed: every call fails at once */
    char why_dead[512];    /* the message of the failure that killed it */
    bool running;          /* the stub is running the target (no stop reply since 'c') */
    uint32_t packet_size;  /* the stub's PacketSize: longest packet it takes */
    bool has_xfer_features;
    bool has_vcont;
    /* bytes received and not yet consumed */
    uint8_t in[16384];
    size_t in_pos, in_len;
    /* the packet being received: raw (for the checksum), then decoded */
    char *raw;
    size_t raw_len, raw_cap;
    char *pkt;             /* decoded, NUL-terminated */
    size_t pkt_len, pkt_cap;
    /* the last packet sent, framed, for retransmission on a NAK */
    char *out;
    size_t out_len, out_cap;
    bool out_acked;
    unsigned out_naks;
    /* stop replies that arrived while waiting for something else */
    gdb_stop_t pending[GDB_MAX_PENDING];
    unsigned npending;
    /* what happened on the wire, for tests and diagnostics */
    struct {
        uint64_t packets_sent, packets_received;
        uint64_t naks_sent, naks_received, retransmits;
        uint64_t async_stops, stale_stops, garbage_bytes;
    } stats;
} gdb_remote_t;

/* Takes ownership of fd (made non-blocking). name: the endpoint. */
vmic_status gdb_init(gdb_remote_t *g, int fd, const char *name, int timeout_ms);
void gdb_close(gdb_remote_t *g);

/* qSupported, then QStartNoAckMode when the stub offers it. */
vmic_status gdb_handshake(gdb_remote_t *g);

/* Sends one packet (payload len bytes, framed and checksummed). */
vmic_status gdb_send_packet(gdb_remote_t *g, const char *payload, size_t len);
/* Sends raw bytes with no framing (the 0x03 interrupt). */
vmic_status gdb_send_raw(gdb_remote_t *g, const void *bytes, size_t len);

/* Receives one packet before the deadline: acks, NAKs and retransmission,
 * checksum, run-length decoding. g->pkt / g->pkt_len hold it. */
vmic_status gdb_recv_packet(gdb_remote_t *g, int64_t deadline);

/*
 * Sends a command and returns its reply (g->pkt, valid until the next call).
 * Stop replies that arrive meanwhile (the VM stopped by someone else, or by
 * this very packet, see gdb_remote.c) are queued in g->pending, not
 * returned; "O" console-output packets are skipped.
 */
vmic_status gdb_command(gdb_remote_t *g, const char *cmd, const char **reply, size_t *len);
vmic_status gdb_commandf(gdb_remote_t *g, const char **reply, size_t *len, const char *fmt, ...)
    VMIC_PRINTF(4, 5);
/* Same, and the reply must be "OK": "" is VMIC_E_UNSUPPORTED, "Exx" VMIC_E_IO. */
vmic_status gdb_command_ok(gdb_remote_t *g, const char *cmd);

/* Waits for the stub's '+' for our last packet (ack mode; at once without);
 * see gdb_remote.c for why stop replies before it are dropped. */
vmic_status gdb_wait_ack(gdb_remote_t *g);

/* Reads whatever has already arrived without waiting, queueing stop replies. */
vmic_status gdb_drain(gdb_remote_t *g);
/* Whether bytes from the stub wait in the client's buffer (then polling the
 * socket would not see them). */
static inline bool gdb_buffered(const gdb_remote_t *g)
{
    return g->in_pos < g->in_len;
}

/* Decodes binary data ('}' escapes) in place; returns the new length, or
 * SIZE_MAX for a '}' at the end. */
size_t gdb_unescape_binary(char *buf, size_t len);

/* Whether a packet is a stop reply ('T'/'S'/'W'/'X' followed by two hex digits). */
bool gdb_is_stop_reply(const char *p, size_t len);
vmic_status gdb_parse_stop(const char *p, size_t len, gdb_stop_t *out);
void gdb_queue_stop(gdb_remote_t *g, const gdb_stop_t *stop);

/* Hex helpers shared by the gdb files. */
int gdb_hexval(int c);   /* -1 if not a hex digit */
/* Parses up to 16 hex digits of p[0..len); returns the digits used (0 on failure). */
size_t gdb_parse_hex64(const char *p, size_t len, uint64_t *v);

/* ---- run control (gdb_run.c): the primitives events will build on --------- */

typedef enum gdb_point_type {
    GDB_POINT_SW_BREAK = 0,   /* Z0 */
    GDB_POINT_HW_BREAK = 1,   /* Z1 */
    GDB_POINT_WRITE_WATCH = 2,/* Z2 */
    GDB_POINT_READ_WATCH = 3, /* Z3 */
    GDB_POINT_ACCESS_WATCH = 4, /* Z4 */
} gdb_point_type;

/* Stops the target; idempotent (works whether it runs or not, whoever
 * started it). Stop replies it causes are queued in g->pending. */
vmic_status gdb_interrupt(gdb_remote_t *g);
/* Resumes every vCPU ('c'); does not wait for the stop. Stop replies still
 * queued are dropped as past: take them with gdb_wait_stop(g, 0, ..) first. */
vmic_status gdb_continue(gdb_remote_t *g);
/* Single-steps one thread (vCPU) ('vCont;s:ID', else 'Hc' + 's'); does not wait. */
vmic_status gdb_step(gdb_remote_t *g, uint32_t thread);
/* The next stop reply: a queued one, else the next to arrive before timeout_ms. */
vmic_status gdb_wait_stop(gdb_remote_t *g, int timeout_ms, gdb_stop_t *stop);
/* Z/z packets: addr is guest-virtual, kind the breakpoint kind (1 for x86
 * int3) or the watched length. */
vmic_status gdb_insert_point(gdb_remote_t *g, gdb_point_type type, uint64_t addr, unsigned kind);
vmic_status gdb_remove_point(gdb_remote_t *g, gdb_point_type type, uint64_t addr, unsigned kind);
/* The thread ids (vCPUs), in the stub's order; *ids is malloc'd. */
vmic_status gdb_thread_list(gdb_remote_t *g, uint32_t **ids, uint32_t *n);
/* Hg: the thread that g/G/p/P/m/M act on. */
vmic_status gdb_select_thread(gdb_remote_t *g, uint32_t thread);

/* ---- register layout (gdb_target.c) -------------------------------------- */

#define GDB_MAX_REGS 1024
#define GDB_MAX_XML (1u << 20)   /* all target description documents together */

typedef struct gdb_reg {
    char name[32];
    uint32_t regnum;
    uint32_t bits;
    uint32_t g_offset;   /* byte offset in the 'g' reply, UINT32_MAX if unknown */
} gdb_reg_t;

typedef struct gdb_regmap {
    gdb_reg_t *regs;
    size_t n;
    char arch[64];       /* <architecture>, e.g. "i386:x86-64" */
    char features[512];  /* feature names, comma separated, for `vmic info` and reports */
} gdb_regmap_t;

/* Reads target.xml and what it includes (qXfer:features:read). */
vmic_status gdb_target_read(gdb_remote_t *g, gdb_regmap_t *map);

/* The XML fetcher gdb_target_parse calls for an include; returns a malloc'd
 * document in *doc. */
typedef vmic_status (*gdb_xml_fetch)(void *ctx, const char *annex, char **doc, size_t *len);
/* Parses one document (and its includes, through fetch) into map; the
 * parser without the transport, for unit tests. */
vmic_status gdb_target_parse(const char *annex, gdb_xml_fetch fetch, void *ctx,
                             gdb_regmap_t *map);
const gdb_reg_t *gdb_regmap_find(const gdb_regmap_t *map, const char *name);
void gdb_regmap_free(gdb_regmap_t *map);

/* ---- registers (registers.c) ------------------------------------------- */

/* Reads the registers of the selected thread ('g', then 'p' for any not in it). */
vmic_status regs_read(gdb_remote_t *g, const gdb_regmap_t *map, vmic_amd64_regs_t *out);
/* Writes what differs from cur ('P' per register), for the groups in
 * want->valid that the layout has; a group it cannot write is
 * VMIC_E_UNSUPPORTED (checked before anything is written). */
vmic_status regs_write(gdb_remote_t *g, const gdb_regmap_t *map, const vmic_amd64_regs_t *cur,
                       const vmic_amd64_regs_t *want);
/* The VMIC_REGS_* groups the layout can fill. */
uint32_t regs_groups(const gdb_regmap_t *map);
/* Decodes a 'g'/'p' reply of hex digits into bytes; 'x' digits (an
 * unavailable register) mark the byte in avail as 0. Returns bytes, or
 * SIZE_MAX on bad input. */
size_t regs_decode_hex(const char *hex, size_t len, uint8_t *out, uint8_t *avail, size_t cap);

/* ---- QMP (qmp.c) ---------------------------------------------------------- */

#define QMP_MAX_MESSAGE (16u << 20)

typedef struct qmp_client {
    int fd;
    char name[420];      /* "QMP unix:/path" */
    int timeout_ms;
    bool dead;
    char *buf;           /* received, not yet consumed */
    size_t len, cap;
    unsigned next_id;
    char version[64];    /* "7.2.22" from the greeting */
} qmp_client_t;

/* One member of a command's "arguments": vmic sends only strings. */
typedef struct qmp_arg {
    const char *key, *value;
} qmp_arg_t;

/* Connects, reads the greeting, negotiates capabilities. */
vmic_status qmp_open(qmp_client_t *q, const qemu_endpoint_t *ep, int timeout_ms);
void qmp_close(qmp_client_t *q);
/* qmp_open's part after the connect: the greeting (past messages a previous
 * client left), then qmp_capabilities. */
vmic_status qmp_handshake(qmp_client_t *q);
/* Runs a command with nargs string arguments (args may be NULL when 0);
 * *ret (may be NULL) gets its "return" value as JSON text, malloc'd, to
 * parse with src/base/json.h. An "error" reply is VMIC_E_IO with QEMU's
 * description. */
vmic_status qmp_execute(qmp_client_t *q, const char *command, const qmp_arg_t *args,
                        size_t nargs, char **ret);
/* human-monitor-command: the HMP output, malloc'd. */
vmic_status qmp_hmp(qmp_client_t *q, const char *command_line, char **out);
/* query-status: whether the VM runs. */
vmic_status qmp_running(qmp_client_t *q, bool *running, char *status, size_t size);

/* ---- who holds the gdbstub (stub.c, lock.c), the guard (guard.c) ----------- */

typedef enum stub_state {
    STUB_UNKNOWN,          /* no gdb chardev found in query-chardev */
    STUB_FREE,             /* "disconnected:..." */
    STUB_BUSY,             /* a client is connected */
} stub_state;

/* The gdb chardev's state in a query-chardev reply (JSON text); pure. */
stub_state stub_state_parse(const char *json, const qemu_endpoint_t *gdb);
vmic_status stub_query(qmp_client_t *q, const qemu_endpoint_t *gdb, stub_state *st);

typedef struct qemu_lock {
    int fd;                /* -1: none held */
    char path[200];
} qemu_lock_t;

/* Takes DIR/vmic.lock next to the gdb socket (none for TCP). *busy: another
 * vmic holds it, and holder says who (its lock file's line). */
vmic_status lock_take(qemu_lock_t *l, const qemu_endpoint_t *gdb, bool *busy, char *holder,
                      size_t size);
void lock_release(qemu_lock_t *l);
/* Whether a live vmic holds the lock, and who (holder). */
bool lock_peek(const qemu_endpoint_t *gdb, char *holder, size_t size);

typedef enum guard_mode { GUARD_GDB, GUARD_QMP } guard_mode;
typedef struct qemu_guard {
    int ctl;               /* vmic's end of the socketpair; -1: no guard */
} qemu_guard_t;

/* Forks the guard over peer_fd (the gdb or QMP connection) and lock_fd (-1:
 * none). resume: the VM ran at attach, so it is resumed if vmic dies. */
vmic_status guard_start(qemu_guard_t *g, guard_mode mode, int peer_fd, int lock_fd, bool resume);
/* An update of several registers of one vCPU (gdb thread) is under way:
 * should vmic die before guard_undo_done, the guard writes these values
 * back before it detaches. */
#define GUARD_UNDO_MAX 256
void guard_undo(qemu_guard_t *g, uint32_t thread, const gdb_reg_t *const *regs,
                const uint64_t *values, size_t n);
void guard_undo_done(qemu_guard_t *g);
/* vmic cleaned up itself: the guard closes its copies (waited for, bounded). */
void guard_release(qemu_guard_t *g);

/* ---- registers from HMP "info registers -a" (hmp_regs.c) ------------------ */

vmic_status hmp_regs_parse(const char *text, unsigned vcpu, vmic_amd64_regs_t *out);
/* How many vCPUs the text describes ("CPU#N" lines; 1 without any). */
unsigned hmp_regs_count(const char *text);

/* ---- memory layout (mtree.c, memory.c) ------------------------------------ */

typedef struct qemu_ram_range {
    uint64_t pa;
    uint64_t size;
    uint64_t offset;     /* into the RAM backend (= its file) */
} qemu_ram_range_t;

#define MTREE_MAX_RANGES 4096

/*
 * The ranges of `region` (a memory region name, the memdev id) mapped into
 * the flat view of address space `as` ("memory") in the text of HMP "info
 * mtree -f": sorted, contiguous ones merged. *out is malloc'd.
 */
vmic_status mtree_ram_ranges(const char *text, const char *as, const char *region,
                             qemu_ram_range_t **out, size_t *n);

typedef struct qemu_memory {
    uint8_t *map;
    size_t map_size;
    bool writable;
    char memdev[128];    /* the backend's id */
    vmic_mem_region_t *regions;
    size_t nregions;
    uint64_t mem_size;
} qemu_memory_t;

/* Finds the memory-backend-file of `path` through QMP, its layout in the
 * guest-physical address space, and maps the file. */
vmic_status qemu_memory_open(qmp_client_t *q, const char *path, qemu_memory_t *mem);
void qemu_memory_close(qemu_memory_t *mem);

/* ---- the driver and its events ------------------------------------------------------ */
/*
 * Events come from the gdbstub's stop replies, all on the one gdb
 * connection. QEMU's gdbstub is all-stop: a stop halts every vCPU and names
 * one (thread:N), so events are serialized by QEMU itself. The event thread
 * (alive while a session is attached) waits for a stop reply, turns it into
 * an event for that vCPU, hands it to the session with every vCPU stopped,
 * carries out the response and lets the VM run again:
 *
 *   stop reply                  event                        (QEMU 7.2, TCG)
 *   T05 at a vmic breakpoint    BREAKPOINT {va = rip, pa}    before the instruction
 *   T05 after a step vmic asked SINGLESTEP {pa of rip}       after one instruction
 *   T05 watch/rwatch/awatch:VA  MEMORY_ACCESS {va, pa, W/R/RW} after the access
 *   T02 and other signals       none: the VM was paused (vmic_pause, QMP stop)
 *   W/X, or the socket closing  none: the guest state becomes EXITED/FAILED
 *
 * Two vCPUs that stop at once give one stop reply (QEMU reports the one that
 * called last): a breakpoint the other one reached is reported when it runs
 * again (QEMU checks breakpoints before an instruction), a watchpoint it
 * triggered is lost -- and QEMU 7.2 keeps that hit on the vCPU and names it
 * in the vCPU's next stop reply, whatever stopped it then (seen here: a
 * breakpoint hit reported as an old write watchpoint). So a watchpoint in a
 * stop reply counts only if vmic has that very watchpoint in; otherwise the
 * stop is judged like any other SIGTRAP (a step, or a breakpoint at RIP).
 * Responses (respond.c):
 *
 *   Continue         resume every vCPU; from a breakpoint, first move that
 *                    vCPU past it (QEMU would stop on it again at once):
 *                    by carrying the instruction out when it is a NOP or a
 *                    PUSH (step_over.c), else by a step with the breakpoint
 *                    taken out, as gdb does
 *   Singlestep       'vCont;s' that vCPU alone (QEMU steps with interrupts
 *                    and timers off), then a SINGLESTEP event; after a
 *                    watchpoint the instruction is already done: at once
 *   FastSinglestep   one silent step (none after a watchpoint), then resume
 *   Deny, Emulate, ReinjectInterrupt, views other than 0: VMIC_E_UNSUPPORTED
 *
 * Locking: q->lock guards the gdb connection and everything below it. The
 * event thread never holds it while the session has an event (the handler
 * calls back into the driver), nor while it waits for a stop reply.
 */

#define QEMU_MAX_POINTS 4096
#define QEMU_OVER_RETRIES 8

typedef struct qemu_point {
    gdb_point_type type;
    uint64_t va;
    uint32_t len;          /* watched bytes; 1 (the kind) for breakpoints */
    bool out;              /* taken out of QEMU while a vCPU steps over it */
} qemu_point_t;

typedef struct qemu_events {
    pthread_t thread;
    bool thread_started;
    bool quit;             /* the thread ends at its next look */
    int wake_fd;           /* eventfd: wakes the thread out of poll */
    vmic_event_sink_t sink;
    uint64_t seq;
    bool at_event;         /* the session has an event (the VM stopped for it) */
    /* Continue from a breakpoint: step over_vcpu past over_va first. */
    bool over;
    vmic_vcpu_t over_vcpu;
    uint64_t over_va;
    /* That step is under way. QEMU's TCG single-step now and then stops
     * before running the instruction (seen here: ~0.6% of steps, RIP
     * unchanged); it is then taken again, at most QEMU_OVER_RETRIES times,
     * or the breakpoint would be reported twice. */
    bool over_stepping;
    unsigned over_retries;
    /* How continuing from breakpoints went: the instruction carried out
     * by vmic (step_over.c), or stepped with the breakpoint taken out. */
    uint64_t over_emulated, over_stepped;
    /* A step asked for: the next stop of step_vcpu completes it; a silent
     * one (FastSinglestep, stepping over a breakpoint) reports nothing. */
    bool stepping, step_silent;
    vmic_vcpu_t step_vcpu;
    /* The instruction is done already (after a watchpoint): report the
     * SINGLESTEP event without running anything. */
    bool step_due;
    vmic_vcpu_t due_vcpu;
    uint64_t generation;   /* bumped by reset: a response that straddles one
                              refers to what is gone, and is dropped */
    bool failed;           /* a response could not be carried out: the */
    char failure[512];     /* session ends with this */
} qemu_events_t;

/* A page without X in one view (views.c). */
typedef struct qemu_nx_page {
    uint64_t gfn;
    vmic_view_t view;
} qemu_nx_page_t;

/* Exec watches and views through the plugin (plugin_events.c, views.c). */
typedef struct qemu_plugin_events {
    pthread_mutex_t lock;       /* the watch set, the sink, attach state */
    vmic__plugin_client c;      /* the plugin thread's alone while it runs */
    bool attached;
    uint64_t want[VMIC_PLUGIN_MAX_WATCHES]; /* guest-physical */
    uint8_t want_program[VMIC_PLUGIN_MAX_WATCHES]; /* by want[] index: 1 + program */
    uint32_t nwant;
    vmic_capture_spec_t *capture; /* the capture programs, NULL none */
    bool dirty;                 /* want differs from what the plugin has */
    bool may_kick;              /* the user wants the VM running: QMP stop/cont is harmless */
    bool paused;                /* atomic: vmic_pause was asked; no apply until resumed */
    bool reset_due;             /* detach once the thread has stopped */
    pthread_t thread;
    bool thread_started;
    bool quit;                  /* atomic: the thread ends at its next look */
    vmic_event_sink_t sink;
    uint64_t seq;
    vmic_qemu_plugin_stats_t stats; /* made/dropped/kicks refreshed at detach */
    uint64_t base_made, base_dropped; /* earlier attaches' counters */
    /* Views: 0 always exists; the pages without X go to the plugin with
     * the watches (dirty), a vCPU's view straight into the block. */
    bool view_used[VMIC_PLUGIN_MAX_VIEWS];
    vmic_view_t vcpu_view[VMIC_PLUGIN_MAX_VCPUS];
    qemu_nx_page_t nx[VMIC_PLUGIN_MAX_NX];
    uint32_t nnx;
} qemu_plugin_events_t;

typedef struct qemu_driver {
    vmic_driver base;
    vmic_driver_ops_t ops;      /* base.ops: groups picked at open by what QEMU offers */
    vmic_driver_info_t info;
    char *source;
    pthread_mutex_t lock;       /* see above */
    gdb_remote_t gdb;
    gdb_regmap_t regmap;
    qemu_memory_t mem;
    uint32_t *threads;          /* gdb thread id of each vCPU */
    uint32_t nthreads;
    uint32_t selected;          /* thread that Hg selected ... */
    uint64_t selected_stops;    /* ... valid while no stop reply came since */
    bool has_selected;
    bool implicit_pause;        /* stopped by our attach, ran before */
    bool want_running;          /* the user's run state: vmic_pause/vmic_resume */
    bool held;                  /* stopped by somebody else: not resumed behind them */
    bool exited;                /* QEMU said the VM ended ('W', 'X') */
    int exit_code;
    char gone[512];             /* why the connection is gone, once it is */
    /* Who else may be there (see lock.c, guard.c, shared.c). */
    qemu_endpoint_t gdb_ep, qmp_ep;
    qemu_lock_t lockf;          /* the session lock, held while attached to gdb */
    qemu_guard_t guard;
    bool found_running;         /* the VM ran when vmic attached */
    bool shared;                /* the gdbstub is someone else's: QMP only */
    qmp_client_t qmp;           /* open for the whole session when shared */
    bool shared_paused;         /* shared: vmic paused a VM it found running */
    char holder[256];           /* shared: who holds the gdbstub */
    vmic_qemu_end_t *end;       /* filled at close (config.end) */
    qemu_point_t *points;       /* inserted by vmic, in insertion order */
    size_t npoints, points_cap;
    qemu_events_t ev;
    char plugin[512];           /* info.plugin: the control block's path, or why none */
    qemu_plugin_events_t pl;
} qemu_driver_t;

/* ---- the plugin (plugin.c) -------------------------------------------------- */

/* Looks for libvmic-qemu.so's control block next to the gdb socket
 * (DIR/plugin.ctl) and checks it without attaching: its layout, that the
 * QEMU it names lives, that its RAM file is mem_path. Sets
 * VMIC_DRIVER_INFO_PLUGIN in info.flags if so; info.plugin says which file
 * or why none. Never fails the open: no plugin is a normal QEMU. */
void qemu_plugin_detect(qemu_driver_t *q, const char *mem_path);
/* Exec watches through the plugin (plugin_events.c): the group's op, and
 * the session's attach, detach and reset, which events.c calls. */
void qemu_plugin_events_init(qemu_driver_t *q);
vmic_status qemu_set_exec_watch(vmic_driver *d, vmic_pa_t pa, bool enable);
vmic_status qemu_exec_capture(vmic_driver *d, const vmic_capture_spec_t *spec);
vmic_status qemu_exec_watch_program(vmic_driver *d, vmic_pa_t pa, uint32_t program);
vmic_status qemu_plugin_events_attach(qemu_driver_t *q, const vmic_event_sink_t *sink);
vmic_status qemu_plugin_events_resume(qemu_driver_t *q);
void qemu_plugin_events_detach(qemu_driver_t *q);
void qemu_plugin_events_reset(qemu_driver_t *q);
void qemu_plugin_events_close(qemu_driver_t *q);

/* Views through the plugin (views.c): the group's operations, and what
 * plugin_events.c and respond.c need of them. */
vmic_status qemu_create_view(vmic_driver *d, vmic_view_t *view);
vmic_status qemu_destroy_view(vmic_driver *d, vmic_view_t view);
vmic_status qemu_switch_view(vmic_driver *d, vmic_view_t view);
vmic_status qemu_vcpu_view(vmic_driver *d, vmic_vcpu_t vcpu, vmic_view_t *view);
vmic_status qemu_get_access(vmic_driver *d, vmic_view_t view, vmic_gfn_t gfn,
                            vmic_access_t *access);
vmic_status qemu_set_access(vmic_driver *d, vmic_view_t view, vmic_gfn_t gfn,
                            vmic_access_t access);
bool qemu_view_exists(qemu_driver_t *q, vmic_view_t view);
void qemu_view_switch_vcpu(qemu_driver_t *q, vmic_vcpu_t vcpu, vmic_view_t view);
void qemu_views_clear(qemu_plugin_events_t *pl); /* under pl->lock */

/* DIR/plugin.ctl for the gdb socket DIR/...; false for TCP or too long. */
bool qemu_plugin_ctl_path(const qemu_endpoint_t *gdb, char *path, size_t size);
/* The block at path checked as above: 0, or -1 and "no plugin: why" in why. */
int qemu_plugin_check(const char *path, const char *mem_path, char *why, size_t size);

static inline qemu_driver_t *qemu_of(vmic_driver *d)
{
    return (qemu_driver_t *)d;
}

/* qemu.c (under q->lock) */
/* The vCPU of a gdb thread id, or -1. */
int qemu_vcpu_of_thread(const qemu_driver_t *q, uint32_t thread);
/* QEMU points Hg at the vCPU a stop reply names: no Hg needed for it. */
void qemu_note_stopped_thread(qemu_driver_t *q, uint32_t thread);
vmic_status qemu_read_vcpu(qemu_driver_t *q, vmic_vcpu_t vcpu, const char *doing,
                           vmic_amd64_regs_t *regs);
/* Guest-virtual to guest-physical through the page tables regs describe. */
vmic_status qemu_translate(qemu_driver_t *q, const vmic_amd64_regs_t *regs, vmic_va_t va,
                           vmic_pa_t *pa);
/* The same, with the rights of the mapping (paging on). */
vmic_status qemu_walk(qemu_driver_t *q, const vmic_amd64_regs_t *regs, vmic_va_t va,
                      vmic_translation_t *t);
/* Guest RAM by physical address, copied. */
vmic_status qemu_rw(qemu_driver_t *q, vmic_pa_t at, uint8_t *buf, size_t len, bool write);
/* Notes that the gdb connection is gone (the current message says why). */
void qemu_mark_gone(qemu_driver_t *q);
/* Why QEMU is gone: whichever thread saw the connection fail first. */
const char *qemu_gone_why(const qemu_driver_t *q);
/* The VM stopped: lets it go on if the user wants it running -- a step a
 * response asked for, or every vCPU (one stopped at a breakpoint is stepped
 * past it first). Does nothing while a stop the event thread must see is
 * pending. */
vmic_status qemu_run_on(qemu_driver_t *q);
/* Stops the VM if it runs, to talk to the stub; *was_running says whether
 * it did (then qemu_run_on afterwards). */
vmic_status qemu_stop_to_talk(qemu_driver_t *q, bool *was_running);
/* Wakes the event thread, if any. */
void qemu_wake_events(qemu_driver_t *q);

/* qemu.c: closes either kind of session (the ops' close). */
void qemu_close_driver(vmic_driver *d);

/* shared.c: a session through QMP alone, when another client holds the
 * gdbstub; q->qmp is open, q->mem mapped. */
vmic_status qemu_open_shared(qemu_driver_t *q, const vmic_qemu_config_t *cfg);
/* What the session leaves: QEMU's run state after detaching (QMP), or that
 * QEMU is gone (close, both modes). */
void qemu_report_end(qemu_driver_t *q, bool gone, const char *why);

/* step_over.c (under q->lock, the VM stopped) */
/* Moves over_vcpu past the instruction at its breakpoint by carrying it
 * out, when it is one vmic_amd64_decode_simple knows; *done false: step it. */
vmic_status qemu_emulate_over(qemu_driver_t *q, bool *done);

/* points.c */
vmic_status qemu_set_hw_breakpoint(vmic_driver *d, vmic_va_t va, bool enable);
vmic_status qemu_set_watchpoint(vmic_driver *d, vmic_va_t va, uint32_t len,
                                vmic_access_t access, bool enable);
bool points_has_break(const qemu_driver_t *q, vmic_va_t va);
/* Whether a watchpoint of that kind starts at va (QEMU reports the start). */
bool points_has_watch(const qemu_driver_t *q, gdb_watch_kind kind, vmic_va_t va);
/* Removes every point vmic inserted (the VM stopped); the first failure
 * counts, the others are still tried. */
vmic_status points_remove_all(qemu_driver_t *q);
/* Stepping over a breakpoint: takes it out of QEMU for the step, and puts
 * every point taken out back before the VM runs on (the VM stopped). */
vmic_status points_take_out(qemu_driver_t *q, vmic_va_t va);
vmic_status points_put_back(qemu_driver_t *q);

/* events.c */
typedef enum stop_reason {
    STOP_EXITED,           /* 'W'/'X': the VM ended */
    STOP_UNKNOWN,          /* names no vCPU vmic knows */
    STOP_PAUSED,           /* not a SIGTRAP: an interrupt, QMP stop */
    STOP_WATCH,            /* a watchpoint vmic has in */
    STOP_STEPPED,          /* the step a response asked for */
    STOP_STEPPED_SILENTLY, /* FastSinglestep, or stepping over a breakpoint */
    STOP_TRAP,             /* any other SIGTRAP: a breakpoint if one is at RIP */
} stop_reason;
/* Why the VM stopped, and which vCPU (or -1): what the stop reply says,
 * judged against what vmic asked for. Pure, for unit tests. */
stop_reason qemu_stop_reason(const qemu_driver_t *q, const gdb_stop_t *stop, int *vcpu);
vmic_status qemu_attach_events(vmic_driver *d, const vmic_event_sink_t *sink);
vmic_status qemu_guest_state(vmic_driver *d, vmic_guest_state_t *st);
vmic_status qemu_reset_events(vmic_driver *d);
void qemu_stop_event_thread(qemu_driver_t *q);

/* respond.c */
vmic_status qemu_check_response(vmic_driver *d, const vmic_event_t *ev,
                                const vmic_event_response_t *resp);
/* Carries out the response to the event q->ev holds (event thread, lock held). */
void qemu_respond(qemu_driver_t *q, const vmic_event_t *ev, const vmic_event_response_t *resp);
/* Why the table has no monitors, injection or views (the table's explain). */
const char *qemu_explain(vmic_driver *d, uint64_t missing);
/* What a monitor or an injection would be refused with, in the same words
 * (the core never calls these: the groups are absent). */
vmic_status qemu_monitor(vmic_driver *d, const vmic_monitor_t *m, bool enable);
vmic_status qemu_inject(vmic_driver *d, vmic_vcpu_t vcpu, const vmic_injection_t *inj);

#endif
