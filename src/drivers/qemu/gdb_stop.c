/*
 * Stop replies: how a gdbstub says the target stopped.
 *
 *   S05                          signal 5 (SIGTRAP)
 *   T05thread:01;                signal, then key:value; pairs
 *   T05thread:02;watch:ffff8880012345a0;     a write watchpoint hit (rwatch,
 *                                awatch: read, access); QEMU 7.2's format
 *   W00 / X09                    the process exited / was killed
 *
 * Unknown keys (register values "06:...", "core", "swbreak" from other
 * stubs) are skipped, and malformed pairs end the parse without failing: the
 * reply still says the target stopped, which is what the caller must learn.
 */
#include <string.h>

#include "qemu.h"

bool gdb_is_stop_reply(const char *p, size_t len)
{
    if (len < 3)
        return false;
    if (p[0] != 'T' && p[0] != 'S' && p[0] != 'W' && p[0] != 'X')
        return false;
    if (gdb_hexval((unsigned char)p[1]) < 0 || gdb_hexval((unsigned char)p[2]) < 0)
        return false;
    /* S and W/X replies are the two digits, optionally ";process:PID". */
    if (p[0] != 'T')
        return len == 3 || p[3] == ';';
    return true;
}

/* "p1.2" (multiprocess) or "2": the thread part, in hex. */
static bool parse_thread_id(const char *v, size_t len, uint32_t *tid)
{
    const char *dot = memchr(v, '.', len);
    if (len > 0 && v[0] == 'p' && dot) {
        len -= (size_t)(dot + 1 - v);
        v = dot + 1;
    }
    uint64_t x;
    if (len == 0 || gdb_parse_hex64(v, len, &x) != len || x > UINT32_MAX)
        return false;
    *tid = (uint32_t)x;
    return true;
}

static bool key_is(const char *k, size_t klen, const char *name)
{
    return klen == strlen(name) && memcmp(k, name, klen) == 0;
}

vmic_status gdb_parse_stop(const char *p, size_t len, gdb_stop_t *out)
{
    memset(out, 0, sizeof *out);
    if (!gdb_is_stop_reply(p, len))
        return vmic_fail(VMIC_E_FORMAT, "gdb: not a stop reply: '%.*s'",
                         (int)(len < 40 ? len : 40), p);
    out->kind = p[0] == 'W' ? GDB_STOP_EXITED : p[0] == 'X' ? GDB_STOP_KILLED : GDB_STOP_SIGNAL;
    out->signal = (uint8_t)(gdb_hexval((unsigned char)p[1]) << 4 |
                            gdb_hexval((unsigned char)p[2]));
    if (p[0] != 'T')
        return VMIC_OK;

    size_t i = 3;
    while (i < len) {
        const char *k = p + i;
        const char *colon = memchr(k, ':', len - i);
        const char *semi = memchr(k, ';', len - i);
        if (!colon || (semi && semi < colon)) {
            /* "swbreak;" style keys without a value, or a broken pair. */
            size_t klen = semi ? (size_t)(semi - k) : len - i;
            if (key_is(k, klen, "swbreak"))
                out->swbreak = true;
            else if (key_is(k, klen, "hwbreak"))
                out->hwbreak = true;
            if (!semi)
                break;
            i = (size_t)(semi - p) + 1;
            continue;
        }
        size_t klen = (size_t)(colon - k);
        const char *v = colon + 1;
        size_t vlen = semi ? (size_t)(semi - v) : len - (size_t)(v - p);

        uint64_t addr;
        if (key_is(k, klen, "thread")) {
            out->has_thread = parse_thread_id(v, vlen, &out->thread);
        } else if (key_is(k, klen, "watch") || key_is(k, klen, "rwatch") ||
                   key_is(k, klen, "awatch")) {
            if (vlen > 0 && gdb_parse_hex64(v, vlen, &addr) == vlen) {
                out->watch = k[0] == 'r' ? GDB_WATCH_READ
                             : k[0] == 'a' ? GDB_WATCH_ACCESS : GDB_WATCH_WRITE;
                out->watch_addr = addr;
            }
        } else if (key_is(k, klen, "swbreak")) {
            out->swbreak = true;
        } else if (key_is(k, klen, "hwbreak")) {
            out->hwbreak = true;
        }
        if (!semi)
            break;
        i = (size_t)(semi - p) + 1;
    }
    return VMIC_OK;
}
