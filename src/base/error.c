/*
 * The error discipline: a status code returned, a message kept per thread.
 * Messages are formatted only on failure, so the success path costs nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <vmic/base.h>

#define ERRMSG_SIZE 512

static _Thread_local char errmsg[ERRMSG_SIZE];

const char *vmic_status_name(vmic_status s)
{
    switch (s) {
    case VMIC_OK: return "ok";
    case VMIC_E_INVAL: return "invalid argument";
    case VMIC_E_NOMEM: return "out of memory";
    case VMIC_E_IO: return "I/O error";
    case VMIC_E_FORMAT: return "bad format";
    case VMIC_E_UNMAPPED: return "unmapped physical address";
    case VMIC_E_TRANSLATE: return "translation failed";
    case VMIC_E_UNSUPPORTED: return "not supported";
    case VMIC_E_NOTFOUND: return "not found";
    case VMIC_E_RANGE: return "out of range";
    case VMIC_E_TIMEOUT: return "timed out";
    case VMIC_E_INTERRUPTED: return "interrupted";
    case VMIC_E_BUSY: return "busy";
    case VMIC_E_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *vmic_errmsg(void)
{
    return errmsg;
}

void vmic_clear_error(void)
{
    errmsg[0] = '\0';
}

vmic_status vmic_fail(vmic_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
    return code;
}

vmic_status vmic_fail_wrap(vmic_status code, const char *fmt, ...)
{
    char old[ERRMSG_SIZE];
    va_list ap;

    memcpy(old, errmsg, sizeof old);
    va_start(ap, fmt);
    int n = vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n + 3 < sizeof errmsg) {
        /* Truncating the old message is fine: the prefix says where. */
        size_t room = sizeof errmsg - (size_t)n - 3;
        memcpy(errmsg + n, ": ", 2);
        size_t oldlen = strnlen(old, room);
        memcpy(errmsg + n + 2, old, oldlen);
        errmsg[n + 2 + oldlen] = '\0';
    }
    return code;
}
