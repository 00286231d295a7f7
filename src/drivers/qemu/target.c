/*
 * TARGET strings for a live QEMU, accepted wherever a dump path is:
 *
 *   qemu:gdb=EP,qmp=EP,mem=FILE   the three endpoints, in any order
 *   qemu:DIR                      DIR/gdb.sock, DIR/qmp.sock, DIR/ram
 *                                 (the layout `vmic boot` creates)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qemu.h"

bool vmic_qemu_is_target(const char *target)
{
    return target && strncmp(target, VMIC_QEMU_PREFIX, strlen(VMIC_QEMU_PREFIX)) == 0;
}

static bool has_key(const char *s)
{
    return strncmp(s, "gdb=", 4) == 0 || strncmp(s, "qmp=", 4) == 0 ||
           strncmp(s, "mem=", 4) == 0;
}

static vmic_status parse_keys(const char *target, const char *spec, vmic_qemu_target_t *out)
{
    const char *p = spec;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char *dst = NULL;
        if (len >= 4 && strncmp(p, "gdb=", 4) == 0)
            dst = out->gdb;
        else if (len >= 4 && strncmp(p, "qmp=", 4) == 0)
            dst = out->qmp;
        else if (len >= 4 && strncmp(p, "mem=", 4) == 0)
            dst = out->mem;
        if (!dst)
            return vmic_fail(VMIC_E_INVAL, "%s: unknown item '%.*s' (expected gdb=, qmp=, mem=)",
                             target, (int)(len < 40 ? len : 40), p);
        if (*dst)
            return vmic_fail(VMIC_E_INVAL, "%s: '%.4s' given twice", target, p);
        if (len == 4)
            return vmic_fail(VMIC_E_INVAL, "%s: empty '%.4s'", target, p);
        if (len - 4 >= VMIC_QEMU_SPEC_MAX)
            return vmic_fail(VMIC_E_INVAL, "%s: '%.4s' too long", target, p);
        memcpy(dst, p + 4, len - 4);
        dst[len - 4] = '\0';
        if (!comma)
            break;
        p = comma + 1;
    }
    const char *missing = !*out->gdb ? "gdb=" : !*out->qmp ? "qmp=" : !*out->mem ? "mem=" : NULL;
    if (missing)
        return vmic_fail(VMIC_E_INVAL, "%s: no %s (a live QEMU target is "
                         "qemu:gdb=EP,qmp=EP,mem=FILE or qemu:DIR)", target, missing);
    return VMIC_OK;
}

/*
 * Whether the files of a boot directory can be trusted: vmic maps DIR/ram
 * as guest RAM and talks to DIR's sockets, so a directory another user owns
 * or can write could hand vmic their own "guest" (or read what vmic writes).
 */
static vmic_status check_trusted(const char *target, const char *what, const struct stat *st)
{
    if (st->st_uid != geteuid())
        return vmic_fail(VMIC_E_INVAL, "%s: %s is owned by uid %u, not by you (uid %u): "
                         "refusing to attach to files another user controls", target, what,
                         (unsigned)st->st_uid, (unsigned)geteuid());
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return vmic_fail(VMIC_E_INVAL, "%s: %s is writable by %s (mode %04o): refusing to "
                         "attach to files others can replace", target, what,
                         st->st_mode & S_IWOTH ? "others" : "its group",
                         (unsigned)(st->st_mode & 07777));
    return VMIC_OK;
}

static vmic_status check_dir_trusted(const char *target, const char *dir, const char *mem)
{
    struct stat st;
    vmic_status s = VMIC_OK;

    if (stat(dir, &st) == 0)
        s = check_trusted(target, dir, &st);
    if (s == VMIC_OK && lstat(mem, &st) == 0) {
        if (S_ISLNK(st.st_mode))
            return vmic_fail(VMIC_E_INVAL, "%s: %s is a symlink: refusing to map what it points "
                             "to as guest RAM", target, mem);
        s = check_trusted(target, mem, &st);
    }
    return s;
}

static vmic_status parse_dir(const char *target, const char *dir, vmic_qemu_target_t *out)
{
    struct stat st;
    if (!*dir)
        return vmic_fail(VMIC_E_INVAL, "%s: no directory (a live QEMU target is "
                         "qemu:gdb=EP,qmp=EP,mem=FILE or qemu:DIR)", target);
    if (stat(dir, &st) != 0)
        return vmic_fail(VMIC_E_IO, "%s: %s: %s", target, dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return vmic_fail(VMIC_E_INVAL, "%s: %s is not a directory", target, dir);
    const char *slash = dir[strlen(dir) - 1] == '/' ? "" : "/";
    int a = snprintf(out->gdb, sizeof out->gdb, "%s%s%s", dir, slash, VMIC_QEMU_DIR_GDB);
    int b = snprintf(out->qmp, sizeof out->qmp, "%s%s%s", dir, slash, VMIC_QEMU_DIR_QMP);
    int c = snprintf(out->mem, sizeof out->mem, "%s%s%s", dir, slash, VMIC_QEMU_DIR_MEM);
    if (a < 0 || b < 0 || c < 0 || (size_t)a >= sizeof out->gdb || (size_t)b >= sizeof out->qmp ||
        (size_t)c >= sizeof out->mem)
        return vmic_fail(VMIC_E_INVAL, "%s: directory path too long", target);
    /* Socket endpoints cannot hold commas (QEMU's option separator). */
    if (strchr(dir, ','))
        return vmic_fail(VMIC_E_INVAL, "%s: a boot directory path must not contain ','", target);
    return check_dir_trusted(target, dir, out->mem);
}

vmic_status vmic_qemu_parse_target(const char *target, vmic_qemu_target_t *out)
{
    memset(out, 0, sizeof *out);
    if (!vmic_qemu_is_target(target))
        return vmic_fail(VMIC_E_INVAL, "'%s' is not a live QEMU target (qemu:...)",
                         target ? target : "(null)");
    const char *spec = target + strlen(VMIC_QEMU_PREFIX);
    return has_key(spec) ? parse_keys(target, spec, out) : parse_dir(target, spec, out);
}
