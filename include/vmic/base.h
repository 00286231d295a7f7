/*
 * vmic base layer: address types, access rights, views, vCPU ids, status
 * codes and the error discipline every other layer uses.
 *
 * Errors: every fallible call returns a vmic_status (VMIC_OK == 0). On failure
 * the call also leaves a message in a thread-local buffer, read with
 * vmic_errmsg(), that says what failed and where (address, page-walk level,
 * file offset). The message stays until the next failure on the same thread.
 *
 * Threads. libvmic keeps no state of its own between calls: every cache
 * lives in the object it belongs to (a vmic_core's page and translation
 * caches, a vmic_os's symbols, types and structure offsets), so nothing is
 * shared behind the caller's back. Calls on different objects may run at the
 * same time on different threads, where an object counts together with what
 * it borrows: a vmic_os, a tap, a breakpoint manager or a tracer is one
 * object with its core, and a core with its driver. Calls on one object
 * (or on objects sharing one core) must not overlap: the caller serializes
 * them. The exception is the event session (vmic_run_events, <vmic/core.h>):
 * while it runs its callbacks come on the driver's vCPU threads, serialized
 * by the session, and may use the core; no other thread may meanwhile. The
 * functions here, vmic_status_name and the name tables of the other headers
 * may be called from any thread at any time.
 *
 * Signals. By default libvmic installs no signal handler and changes no
 * thread's signal mask, with one exception of a driver's own: the KVM driver
 * (vmic_kvm_open) installs, as it starts its first vCPU thread, a handler
 * that does nothing for SIGRTMIN+4 and sends that signal only to its own
 * vCPU threads, to interrupt KVM_RUN; those threads block every other
 * signal. Sockets are written with MSG_NOSIGNAL, so a peer that went away is
 * an error return, never SIGPIPE.
 * The QEMU driver forks a guard process, which ignores SIGINT, SIGHUP and
 * SIGPIPE itself and touches nothing in the caller's process. Two things
 * are opt-in and process-wide or thread-wide by nature, and their calls say
 * so: the SIGBUS guard for dumps that shrink under a mapping
 * (vmic_sigbus_guard_enable, <vmic/driver.h>) and an event session that ends
 * on SIGINT, SIGTERM or SIGHUP (vmic_core_take_signals, <vmic/core.h>).
 */
#ifndef VMIC_BASE_H
#define VMIC_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmic/version.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the library's public functions: libvmic is built with hidden
 * visibility, so only what carries this mark is exported. */
#if defined(__GNUC__)
#define VMIC_API __attribute__((visibility("default")))
#else
#define VMIC_API
#endif

/* The library that runs, which may be newer than the headers compiled
 * against (VMIC_VERSION_STRING, VMIC_VERSION_NUMBER in vmic/version.h). */
VMIC_API const char *vmic_version(void);
VMIC_API uint32_t vmic_version_number(void);

#if defined(__GNUC__)
#define VMIC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define VMIC_NODISCARD __attribute__((warn_unused_result))
#else
#define VMIC_PRINTF(f, a)
#define VMIC_NODISCARD
#endif

/*
 * Addresses are wrapped in one-member structs so that the compiler rejects a
 * guest-physical address where a virtual one is expected (the classic VMI
 * bug). They are passed in registers exactly like a bare uint64_t.
 */
typedef struct vmic_pa { uint64_t addr; } vmic_pa_t;   /* guest-physical */
typedef struct vmic_va { uint64_t addr; } vmic_va_t;   /* guest-virtual */
typedef struct vmic_gfn { uint64_t num; } vmic_gfn_t;  /* guest frame number */

#define VMIC_PAGE_SHIFT 12
#define VMIC_PAGE_SIZE ((uint64_t)1 << VMIC_PAGE_SHIFT)
#define VMIC_PAGE_MASK (~(VMIC_PAGE_SIZE - 1))

static inline vmic_pa_t vmic_pa(uint64_t a) { vmic_pa_t p = {a}; return p; }
static inline vmic_va_t vmic_va(uint64_t a) { vmic_va_t v = {a}; return v; }
static inline vmic_gfn_t vmic_gfn(uint64_t n) { vmic_gfn_t g = {n}; return g; }
static inline vmic_gfn_t vmic_pa_to_gfn(vmic_pa_t pa)
{
    return vmic_gfn(pa.addr >> VMIC_PAGE_SHIFT);
}
static inline vmic_pa_t vmic_gfn_to_pa(vmic_gfn_t gfn)
{
    return vmic_pa(gfn.num << VMIC_PAGE_SHIFT);
}
static inline uint64_t vmic_page_offset(uint64_t addr) { return addr & (VMIC_PAGE_SIZE - 1); }

/* Access rights: bit flags, combinable (R|X, W, ...). */
typedef uint8_t vmic_access_t;
enum {
    VMIC_ACCESS_NONE = 0,
    VMIC_ACCESS_R = 1u << 0,
    VMIC_ACCESS_W = 1u << 1,
    VMIC_ACCESS_X = 1u << 2,
    VMIC_ACCESS_RW = VMIC_ACCESS_R | VMIC_ACCESS_W,
    VMIC_ACCESS_RX = VMIC_ACCESS_R | VMIC_ACCESS_X,
    VMIC_ACCESS_RWX = VMIC_ACCESS_R | VMIC_ACCESS_W | VMIC_ACCESS_X,
};

/* A view is one set of page permissions and gfn remappings; view 0 is the default. */
typedef uint16_t vmic_view_t;
#define VMIC_VIEW_DEFAULT ((vmic_view_t)0)

typedef uint32_t vmic_vcpu_t;

typedef enum vmic_status {
    VMIC_OK = 0,
    VMIC_E_INVAL,        /* bad argument from the caller */
    VMIC_E_NOMEM,        /* host allocation failed */
    VMIC_E_IO,           /* host I/O failed (open, mmap, read, socket) */
    VMIC_E_FORMAT,       /* input file or guest structure is malformed */
    VMIC_E_UNMAPPED,     /* physical address not backed by guest memory */
    VMIC_E_TRANSLATE,    /* virtual address does not translate */
    VMIC_E_UNSUPPORTED,  /* not supported by this driver or this guest */
    VMIC_E_NOTFOUND,     /* symbol, process, field ... not found */
    VMIC_E_RANGE,        /* a length or index beyond a bound */
    VMIC_E_TIMEOUT,
    VMIC_E_INTERRUPTED,
    VMIC_E_BUSY,
    VMIC_E_INTERNAL,
} vmic_status;

/* Stable short name of a status ("unmapped", "translate", ...). */
VMIC_API const char *vmic_status_name(vmic_status s);

/* The message of the last failure on this thread ("" if none). */
VMIC_API const char *vmic_errmsg(void);

/* Record a failure: formats the message, returns code, so callers can write
 * `return vmic_fail(VMIC_E_FORMAT, "%s: bad magic at offset %u", path, off);` */
VMIC_API vmic_status vmic_fail(vmic_status code, const char *fmt, ...) VMIC_PRINTF(2, 3);

/* Prefix the current message with more context ("reading task 12: " + old). */
VMIC_API vmic_status vmic_fail_wrap(vmic_status code, const char *fmt, ...) VMIC_PRINTF(2, 3);

VMIC_API void vmic_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
