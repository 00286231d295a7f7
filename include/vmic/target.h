/*
 * Opening a TARGET: the one string a user names a guest with, a memory dump
 * or a live QEMU, opened as a driver (driver layer; vmic_core_open next).
 *
 *   PATH                          a dump: raw, ELF core or LiME, by magic
 *   qemu:DIR                      a vmic boot directory (below)
 *   qemu:gdb=EP,qmp=EP,mem=FILE   a live QEMU's three endpoints (qemu.h)
 *
 * ---- the vmic boot directory ----------------------------------------------
 * A directory that holds one QEMU's endpoints under fixed names, so that
 * "qemu:DIR" is a complete TARGET. `vmic boot` makes one (mode 0700, owned
 * by the user: QEMU takes paths, not descriptors); anything else that starts
 * QEMU may make one too. What vmic_open_target needs:
 *
 *   gdb.sock     the gdbstub:    -gdb unix:DIR/gdb.sock,server=on,wait=off
 *   qmp.sock     QMP:            -qmp unix:DIR/qmp.sock,server=on,wait=off
 *   ram          guest RAM:      -object memory-backend-file,id=ram0,
 *                                  size=SIZE,mem-path=DIR/ram,share=on
 *                                -machine memory-backend=ram0
 *
 * What vmic writes there while it holds the gdbstub:
 *
 *   vmic.lock    the session lock: one line naming the holder (pid, command)
 *
 * What `vmic boot` adds, for people and for `vmic boot --stop`:
 *
 *   qemu.pid     QEMU's pid (-pidfile)
 *   console.log  ttyS0, the kernel console
 *   serial1.log  ttyS1 (the test fixtures' guest writes its truth there)
 *   qemu.log     QEMU's -D log
 *   qemu.err     QEMU's stderr until it daemonizes
 *   target       the TARGET string, for scripts
 *   cmdline.txt  the QEMU command line (written before QEMU starts)
 *
 * What `vmic boot --plugin` adds (a QEMU started otherwise may have it too:
 * see `vmic attach --help`):
 *
 *   plugin.ctl   libvmic-qemu.so's control block (plugin/vmic_plugin_abi.h):
 *                  -plugin libvmic-qemu.so,ram=DIR/ram,ctl=DIR/plugin.ctl
 *                made by the plugin when QEMU starts, removed when it exits
 *                (and by `vmic boot --stop`, should QEMU have been killed).
 *                The qemu driver looks for it at open (qemu.h).
 */
#ifndef VMIC_TARGET_H
#define VMIC_TARGET_H

#include <vmic/driver.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMIC_QEMU_PREFIX "qemu:"

/* The boot directory's files (above). */
#define VMIC_QEMU_DIR_GDB "gdb.sock"
#define VMIC_QEMU_DIR_QMP "qmp.sock"
#define VMIC_QEMU_DIR_MEM "ram"
#define VMIC_QEMU_DIR_LOCK "vmic.lock"
#define VMIC_QEMU_DIR_PID "qemu.pid"
#define VMIC_QEMU_DIR_CONSOLE "console.log"
#define VMIC_QEMU_DIR_SERIAL1 "serial1.log"
#define VMIC_QEMU_DIR_LOG "qemu.log"
#define VMIC_QEMU_DIR_ERR "qemu.err"
#define VMIC_QEMU_DIR_TARGET "target"
#define VMIC_QEMU_DIR_CMDLINE "cmdline.txt"
#define VMIC_QEMU_DIR_PLUGIN "plugin.ctl"

struct vmic_qemu_config;

typedef struct vmic_target_options {
    /* A dump: its format; VMIC_DUMP_AUTO (0) by magic. A live target with
     * another format is VMIC_E_INVAL. */
    vmic_dump_format format;
    /* A live QEMU: how to attach (qemu.h: stay_paused, guard, shared_ok,
     * timeout_ms, end; its endpoints are ignored). NULL: the defaults. */
    const struct vmic_qemu_config *live;
    uint64_t reserved[4];  /* zero */
} vmic_target_options_t;

/* Opens TARGET (above); opt may be NULL. On failure *out is NULL and the
 * message names the target. */
VMIC_API vmic_status vmic_open_target(const char *target, const vmic_target_options_t *opt,
                                      vmic_driver **out);

#ifdef __cplusplus
}
#endif
#endif
