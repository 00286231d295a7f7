/*
 * Arguments: how each is shown, decided once per syscall from the C type
 * and name the kernel's metadata gives it, and decoding the values of one
 * call from the calling process's memory.
 *
 * The rules, in order: a char/void pointer followed by a length argument is
 * a buffer (read by the call if const, else filled by it); another const
 * char pointer is a string; const char *const * is an array of strings;
 * another pointer is shown as an address; a directory fd may be AT_FDCWD;
 * open and openat's flags are O_* names; umode_t is octal; integers are
 * signed or unsigned, 4 or 8 bytes, as their type says.
 *
 * Every read is bounded (string_max, buffer_max, TRACE_MAX_ARRAY) and a
 * pointer that does not translate is shown as its address, never followed
 * further.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace_internal.h"

#define AT_FDCWD (-100)

/* ---- shapes ---------------------------------------------------------------------- */

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static int stars(const char *type)
{
    int n = 0;
    for (; *type; type++)
        n += *type == '*';
    return n;
}

static bool is_length(const vmic_syscall_arg_t *a)
{
    static const char *const names[] = {"count", "len", "size", "bufsiz", "nbytes", NULL};
    return stars(a->type) == 0 && in_list(a->name, names);
}

static arg_shape integer_shape(const char *type)
{
    static const char *const s32[] = {"int", "pid_t", "key_serial_t", "clockid_t", "timer_t",
                                      "mqd_t", "rwf_t", "key_t", NULL};
    static const char *const u32[] = {"unsigned int", "unsigned", "u32", "__u32", "uid_t",
                                      "gid_t", "qid_t", "umode_t", "old_uid_t", "old_gid_t",
                                      NULL};
    static const char *const u64[] = {"unsigned long", "size_t", "u64", "__u64",
                                      "unsigned long long", "aio_context_t", NULL};
    if (in_list(type, s32))
        return (arg_shape){.cls = ARG_SIGNED, .width = 4};
    if (in_list(type, u32))
        return (arg_shape){.cls = ARG_UNSIGNED, .width = 4};
    if (in_list(type, u64))
        return (arg_shape){.cls = ARG_UNSIGNED, .width = 8};
    return (arg_shape){.cls = ARG_SIGNED, .width = 8}; /* long, off_t, loff_t, ... */
}

static arg_shape shape_arg(const vmic_syscall_t *sc, int i)
{
    static const char *const reads_void[] = {"sendto", NULL};
    static const char *const open_calls[] = {"open", "openat", NULL};
    const vmic_syscall_arg_t *a = &sc->args[i];
    const vmic_syscall_arg_t *next = i + 1 < sc->nargs ? &sc->args[i + 1] : NULL;
    bool is_const = strstr(a->type, "const") != NULL;
    bool char_ptr = stars(a->type) == 1 && strstr(a->type, "char");
    bool void_ptr = stars(a->type) == 1 && strstr(a->type, "void");

    if ((char_ptr || void_ptr) && next && is_length(next)) {
        bool input = is_const || in_list(sc->name, reads_void);
        return (arg_shape){.cls = input ? ARG_BUF_IN : ARG_BUF_OUT, .len_arg = (int8_t)(i + 1)};
    }
    if (char_ptr && is_const)
        return (arg_shape){.cls = ARG_STRING};
    if (stars(a->type) == 2 && strstr(a->type, "char") && is_const)
        return (arg_shape){.cls = ARG_STRINGS};
    if (stars(a->type) > 0)
        return (arg_shape){.cls = ARG_HEX};
    size_t n = strlen(a->name);
    if (strcmp(a->type, "int") == 0 && (n >= 3 && strcmp(a->name + n - 3, "dfd") == 0))
        return (arg_shape){.cls = ARG_DIRFD, .width = 4};
    if (strcmp(a->name, "flags") == 0 && in_list(sc->name, open_calls))
        return (arg_shape){.cls = ARG_OPEN_FLAGS, .width = 4};
    if (strcmp(a->type, "umode_t") == 0)
        return (arg_shape){.cls = ARG_MODE, .width = 4};
    return integer_shape(a->type);
}

void shape_unknown(syscall_shape *out)
{
    memset(out, 0, sizeof *out);
    out->nargs = VMIC_SYSCALL_MAX_ARGS;
    for (int i = 0; i < VMIC_SYSCALL_MAX_ARGS; i++)
        out->args[i] = (arg_shape){.cls = ARG_HEX};
    out->wanted = true;
}

void shape_syscall(const vmic_syscall_t *sc, syscall_shape *out)
{
    static const char *const hex_results[] = {"mmap", "brk", "mremap", "shmat", NULL};
    static const char *const exits[] = {"exit", "exit_group", NULL};
    static const char *const forks[] = {"clone", "clone3", "fork", "vfork", NULL};

    shape_unknown(out);
    if (sc->nargs >= 0) {
        out->nargs = sc->nargs;
        for (int i = 0; i < sc->nargs; i++)
            out->args[i] = shape_arg(sc, i);
    }
    out->ret_hex = in_list(sc->name, hex_results);
    out->never_returns = in_list(sc->name, exits);
    out->is_fork = in_list(sc->name, forks);
    out->exec_filename = -1;
    if (strcmp(sc->name, "execve") == 0 || strcmp(sc->name, "execveat") == 0) {
        out->is_exec = true;
        for (int i = 0; i < out->nargs; i++)
            if (out->args[i].cls == ARG_STRING && out->exec_filename < 0)
                out->exec_filename = (int8_t)i;
    }
}

/* ---- values --------------------------------------------------------------------------- */

static void set_text(vmic_trace_value_t *v, vmic_trace_value_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_text(vmic_trace_value_t *v, vmic_trace_value_kind kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->text, sizeof v->text, fmt, ap);
    va_end(ap);
    v->kind = kind;
}

static void set_address(vmic_trace_value_t *v, vmic_trace_value_kind kind)
{
    if (v->raw == 0)
        set_text(v, kind, "NULL");
    else
        set_text(v, kind, "0x%" PRIx64, v->raw);
}

/* "bytes"... into v->text; marks truncation when the bytes or the text ran out. */
static void set_quoted(vmic_trace_value_t *v, vmic_trace_value_kind kind, const uint8_t *bytes,
                       size_t len, bool more)
{
    char *t = v->text;
    size_t room = sizeof v->text - 5; /* quotes, "..." */
    t[0] = '"';
    size_t n = text_escape(t + 1, room, bytes, len);
    bool cut = more || n + 1 >= room; /* the escape stopped early */
    snprintf(t + 1 + n, sizeof v->text - 1 - n, "\"%s", cut ? "..." : "");
    v->kind = kind;
    v->truncated = cut;
}

static bool read_string(vmic_tracer *t, vmic_ctx_t ctx, uint64_t va, uint8_t *buf, size_t max,
                        size_t *len, bool *more)
{
    vmic_status s = vmic_read_str_va(t->core, ctx, vmic_va(va), (char *)buf, max, len);
    *more = s == VMIC_E_RANGE;
    if (s == VMIC_OK || s == VMIC_E_RANGE)
        return true;
    vmic_clear_error();
    return false;
}

static void decode_string(vmic_tracer *t, vmic_ctx_t ctx, vmic_trace_value_t *v)
{
    size_t max = t->opt.string_max, len;
    uint8_t *buf = malloc(max + 1);
    bool more;
    if (v->raw && buf && read_string(t, ctx, v->raw, buf, max, &len, &more))
        set_quoted(v, VMIC_VALUE_STRING, buf, len, more);
    else
        set_address(v, v->raw ? VMIC_VALUE_UNREADABLE : VMIC_VALUE_HEX);
    free(buf);
}

static void decode_buffer(vmic_tracer *t, vmic_ctx_t ctx, uint64_t len, vmic_trace_value_t *v)
{
    uint8_t buf[TRACE_STRING_MAX_LIMIT];
    size_t n = len < t->opt.buffer_max ? (size_t)len : t->opt.buffer_max;
    if (n > sizeof buf)
        n = sizeof buf;
    if (!v->raw) {
        set_address(v, VMIC_VALUE_HEX);
        return;
    }
    if (vmic_read_va(t->core, ctx, vmic_va(v->raw), buf, n) != VMIC_OK) {
        vmic_clear_error();
        set_address(v, VMIC_VALUE_UNREADABLE);
        return;
    }
    set_quoted(v, VMIC_VALUE_BUFFER, buf, n, n < len);
}

/* ["a", "b", ...]: at most TRACE_MAX_ARRAY strings, each bounded. */
static void decode_strings(vmic_tracer *t, vmic_ctx_t ctx, vmic_trace_value_t *v)
{
    char *out = v->text;
    size_t size = sizeof v->text, n = 0;
    uint64_t va = v->raw;
    if (!va) {
        set_address(v, VMIC_VALUE_HEX);
        return;
    }
    out[n++] = '[';
    for (int i = 0;; i++) {
        uint64_t p;
        if (vmic_read_u64_va(t->core, ctx, vmic_va(va + 8u * (unsigned)i), &p) != VMIC_OK) {
            vmic_clear_error();
            if (i == 0) {
                set_address(v, VMIC_VALUE_UNREADABLE);
                return;
            }
            n += (size_t)snprintf(out + n, size - n, "%s?", i ? ", " : "");
            break;
        }
        if (p == 0)
            break;
        if (i == TRACE_MAX_ARRAY) {
            n += (size_t)snprintf(out + n, size - n, ", ...");
            v->truncated = true;
            break;
        }
        vmic_trace_value_t one = {.raw = p};
        decode_string(t, ctx, &one);
        n += (size_t)snprintf(out + n, size - n, "%s%s", i ? ", " : "", one.text);
        if (n >= size - 8) {
            v->truncated = true;
            n = size - 8;
            n += (size_t)snprintf(out + n, size - n, "...");
            break;
        }
    }
    snprintf(out + n, size - n, "]");
    v->kind = VMIC_VALUE_STRINGS;
}

static void decode_integer(const arg_shape *a, vmic_trace_value_t *v)
{
    if (a->cls == ARG_SIGNED)
        set_text(v, VMIC_VALUE_INT, "%" PRId64,
                 a->width == 4 ? (int64_t)(int32_t)v->raw : (int64_t)v->raw);
    else
        set_text(v, VMIC_VALUE_INT, "%" PRIu64, a->width == 4 ? (uint32_t)v->raw : v->raw);
}

static void decode_one(vmic_tracer *t, const syscall_shape *sh, int i, vmic_ctx_t ctx,
                       const uint64_t *args, vmic_trace_value_t *v)
{
    const arg_shape *a = &sh->args[i];
    switch (a->cls) {
    case ARG_SIGNED:
    case ARG_UNSIGNED:
        decode_integer(a, v);
        break;
    case ARG_HEX:
    case ARG_BUF_OUT: /* filled by the call: read at the return */
        set_address(v, VMIC_VALUE_HEX);
        break;
    case ARG_DIRFD:
        if ((int32_t)v->raw == AT_FDCWD)
            set_text(v, VMIC_VALUE_FLAGS, "AT_FDCWD");
        else
            set_text(v, VMIC_VALUE_INT, "%d", (int32_t)v->raw);
        break;
    case ARG_STRING:
        decode_string(t, ctx, v);
        break;
    case ARG_STRINGS:
        decode_strings(t, ctx, v);
        break;
    case ARG_BUF_IN:
        decode_buffer(t, ctx, args[a->len_arg], v);
        break;
    case ARG_OPEN_FLAGS:
        open_flags_text(v->raw, v->text, sizeof v->text);
        v->kind = VMIC_VALUE_FLAGS;
        break;
    case ARG_MODE:
        set_text(v, VMIC_VALUE_INT, "%#" PRIo32, (uint32_t)v->raw & 07777);
        break;
    }
}

void decode_inputs(vmic_tracer *t, const syscall_shape *sh, const vmic_syscall_t *sc,
                   vmic_ctx_t ctx, const uint64_t *args, vmic_trace_value_t *vals)
{
    static const char *const names[] = {"arg0", "arg1", "arg2", "arg3", "arg4", "arg5"};
    bool named = sc && sc->has_metadata;
    for (int i = 0; i < sh->nargs; i++) {
        vmic_trace_value_t *v = &vals[i];
        memset(v, 0, sizeof *v);
        v->name = named ? sc->args[i].name : names[i];
        v->type = named ? sc->args[i].type : "";
        v->raw = args[i];
        decode_one(t, sh, i, ctx, args, v);
    }
}

void decode_outputs(vmic_tracer *t, const syscall_shape *sh, vmic_ctx_t ctx, const uint64_t *args,
                    int64_t ret, bool retry_inputs, vmic_trace_value_t *vals)
{
    for (int i = 0; i < sh->nargs; i++) {
        vmic_trace_value_t *v = &vals[i];
        if (sh->args[i].cls == ARG_BUF_OUT && ret > 0)
            decode_buffer(t, ctx, (uint64_t)ret, v);
        else if (retry_inputs && v->kind == VMIC_VALUE_UNREADABLE)
            decode_one(t, sh, i, ctx, args, v);
    }
}

void decode_return(const syscall_shape *sh, int64_t ret, char *text, size_t size,
                   const char **error)
{
    *error = NULL;
    if (ret < 0 && ret >= -4095) {
        const char *name = errno_name(-ret);
        *error = name;
        if (name)
            snprintf(text, size, "-1 %s (%s)", name, errno_text(-ret));
        else
            snprintf(text, size, "-1 (errno %" PRId64 ")", -ret);
        return;
    }
    if (sh->ret_hex)
        snprintf(text, size, "0x%" PRIx64, (uint64_t)ret);
    else
        snprintf(text, size, "%" PRId64, ret);
}
