/*
 * What a call points at, read from the calling process and shown as
 * Debian 12's strace 6.1 shows it: clone3's struct clone_args, the status
 * wait4 writes, signal sets and struct sigaction, the fds pipe2 returns,
 * struct __kernel_timespec.
 * The layouts are the x86-64 uapi's (fixed for every guest); every read is
 * of a known, bounded size, and a pointer that does not translate is shown
 * as its address.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "trace_internal.h"
#include "base/le.h"

/* clone3's struct clone_args (uapi, fixed layout: 88 bytes in 5.7 and
 * later, 64 in the first version), the fields strace shows: those the
 * flags give a meaning, and always exit_signal, stack and stack_size. */
enum {
    CA_FLAGS = 0, CA_PIDFD = 8, CA_CHILD_TID = 16, CA_PARENT_TID = 24, CA_EXIT_SIGNAL = 32,
    CA_STACK = 40, CA_STACK_SIZE = 48, CA_TLS = 56, CA_SET_TID = 64, CA_SET_TID_SIZE = 72,
    CA_CGROUP = 80, CA_SIZE = 88, CA_SIZE_VER0 = 64,
};
#define CLONE_PIDFD 0x1000ull
#define CLONE_SETTLS 0x80000ull
#define CLONE_PARENT_SETTID 0x100000ull
#define CLONE_CHILD_CLEARTID 0x200000ull
#define CLONE_CHILD_SETTID 0x1000000ull
#define CLONE_INTO_CGROUP 0x200000000ull

/* ", name=value" after the struct's first field: an address (NULL for 0)
 * or a number in hex. */
static void put_field(char *out, size_t size, size_t *n, const char *name, bool address,
                      uint64_t v)
{
    if (*n >= size)
        return;
    int w;
    if (address && v == 0)
        w = snprintf(out + *n, size - *n, ", %s=NULL", name);
    else
        w = snprintf(out + *n, size - *n, ", %s=%#" PRIx64, name, v);
    if (w > 0)
        *n += (size_t)w;
}

void decode_clone_args(vmic_tracer *t, vmic_ctx_t ctx, uint64_t size,
                              vmic_trace_value_t *v)
{
    uint8_t b[CA_SIZE] = {0};
    char set[160];
    if (!v->raw || size < CA_SIZE_VER0) {
        value_address(v, VMIC_VALUE_HEX);
        return;
    }
    size_t len = size < CA_SIZE ? (size_t)size : CA_SIZE;
    if (trace_read(t, ctx, v->raw, b, len) != VMIC_OK) {
        vmic_clear_error();
        value_address(v, VMIC_VALUE_UNREADABLE);
        return;
    }
    uint64_t flags = vmic__le64(b + CA_FLAGS);
    char *out = v->text;
    size_t room = sizeof v->text, n = 0;
    value_set_text(SET_CLONE3_FLAGS, flags, set, sizeof set);
    n += (size_t)snprintf(out, room, "{flags=%s", set);
    if (flags & CLONE_PIDFD)
        put_field(out, room, &n, "pidfd", true, vmic__le64(b + CA_PIDFD));
    if (flags & (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID))
        put_field(out, room, &n, "child_tid", true, vmic__le64(b + CA_CHILD_TID));
    if (flags & CLONE_PARENT_SETTID)
        put_field(out, room, &n, "parent_tid", true, vmic__le64(b + CA_PARENT_TID));
    value_set_text(SET_SIGNAL, vmic__le64(b + CA_EXIT_SIGNAL), set, sizeof set);
    if (n < room)
        n += (size_t)snprintf(out + n, room - n, ", exit_signal=%s", set);
    put_field(out, room, &n, "stack", true, vmic__le64(b + CA_STACK));
    put_field(out, room, &n, "stack_size", false, vmic__le64(b + CA_STACK_SIZE));
    if (flags & CLONE_SETTLS)
        put_field(out, room, &n, "tls", true, vmic__le64(b + CA_TLS));
    if (len >= CA_SET_TID_SIZE + 8 && vmic__le64(b + CA_SET_TID_SIZE)) {
        put_field(out, room, &n, "set_tid", true, vmic__le64(b + CA_SET_TID));
        put_field(out, room, &n, "set_tid_size", false, vmic__le64(b + CA_SET_TID_SIZE));
    }
    if (len >= CA_CGROUP + 8 && (flags & CLONE_INTO_CGROUP))
        put_field(out, room, &n, "cgroup", false, vmic__le64(b + CA_CGROUP));
    if (n < room)
        snprintf(out + n, room - n, "}");
    v->kind = VMIC_VALUE_STRUCT;
    v->truncated = n + 1 >= room;
}

/* wait4's status, written when a child was reaped (the return > 0). */
void decode_wait_status(vmic_tracer *t, vmic_ctx_t ctx, vmic_trace_value_t *v)
{
    uint32_t status;
    if (!v->raw)
        return;
    if (trace_read(t, ctx, v->raw, &status, sizeof status) != VMIC_OK) {
        vmic_clear_error();
        value_address(v, VMIC_VALUE_UNREADABLE);
        return;
    }
    wait_status_text(status, v->text, sizeof v->text);
    v->kind = VMIC_VALUE_STRUCT;
}

/* The two fds pipe2 and socketpair return. */
void decode_fd_pair(vmic_tracer *t, vmic_ctx_t ctx, vmic_trace_value_t *v)
{
    int32_t fds[2];
    if (!v->raw)
        return;
    if (trace_read(t, ctx, v->raw, fds, sizeof fds) != VMIC_OK) {
        vmic_clear_error();
        value_address(v, VMIC_VALUE_UNREADABLE);
        return;
    }
    value_printf(v, VMIC_VALUE_STRUCT, "[%d, %d]", fds[0], fds[1]);
}

#define KERNEL_SIGSET_SIZE 8  /* x86-64's sigset_t: what sigsetsize must be */

/* A sigset_t or a struct sigaction read from the process, when the call's
 * sigsetsize (its last argument) is the kernel's: else, as strace, the
 * address. */
void decode_signals(vmic_tracer *t, vmic_ctx_t ctx, bool action, uint64_t sigsetsize,
                           vmic_trace_value_t *v)
{
    uint8_t b[SIGACTION_SIZE];
    size_t len = action ? SIGACTION_SIZE : 8;
    value_address(v, VMIC_VALUE_HEX);
    if (!v->raw || sigsetsize != KERNEL_SIGSET_SIZE)
        return;
    if (trace_read(t, ctx, v->raw, b, len) != VMIC_OK) {
        vmic_clear_error();
        value_address(v, VMIC_VALUE_UNREADABLE);
        return;
    }
    if (action) {
        sigaction_text(b, v->text, sizeof v->text);
    } else {
        uint64_t set;
        memcpy(&set, b, sizeof set);
        sigset_text(set, v->text, sizeof v->text);
    }
    v->kind = VMIC_VALUE_STRUCT;
}

/* {tv_sec=1557, tv_nsec=722108248} */
void decode_timespec(vmic_tracer *t, vmic_ctx_t ctx, vmic_trace_value_t *v)
{
    int64_t ts[2];
    if (!v->raw)
        return;
    if (trace_read(t, ctx, v->raw, ts, sizeof ts) != VMIC_OK) {
        vmic_clear_error();
        value_address(v, VMIC_VALUE_UNREADABLE);
        return;
    }
    value_printf(v, VMIC_VALUE_STRUCT, "{tv_sec=%" PRId64 ", tv_nsec=%" PRId64 "}", ts[0], ts[1]);
}
