/*
 * The directory `vmic boot` runs a QEMU in: its sockets, RAM file, pid file
 * and logs, under fixed names, so that "qemu:DIR" is a complete TARGET.
 * The names and what each file holds are vmic's public format (target.h).
 */
#ifndef VMIC_TOOL_BOOT_DIR_H
#define VMIC_TOOL_BOOT_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <vmic/target.h>

#define BOOT_PID VMIC_QEMU_DIR_PID
#define BOOT_CONSOLE VMIC_QEMU_DIR_CONSOLE   /* ttyS0: the kernel console */
#define BOOT_SERIAL1 VMIC_QEMU_DIR_SERIAL1   /* ttyS1: the fixture guest's truth */
#define BOOT_LOG VMIC_QEMU_DIR_LOG           /* QEMU's -D log */
#define BOOT_ERR VMIC_QEMU_DIR_ERR           /* QEMU's stderr until it daemonizes */
#define BOOT_TARGET VMIC_QEMU_DIR_TARGET     /* the TARGET string, for scripts */
#define BOOT_CMDLINE VMIC_QEMU_DIR_CMDLINE   /* the QEMU command line */
#define BOOT_PLUGIN_CTL VMIC_QEMU_DIR_PLUGIN /* the plugin's control block (--plugin) */

/*
 * The directory for `vmic boot --dir DIR`. QEMU takes paths, not
 * descriptors (its RAM file, logs, pid file), so its files are safe only in a
 * directory nobody else can write: DIR is created 0700, or, if it exists,
 * accepted only when it is a real directory (not a symlink), owned by the
 * caller, mode 0700 and empty. Otherwise prints why and returns EXIT_FAIL.
 */
int boot_make_dir(const char *cmd, const char *dir);

/* Creates DIR/name for writing (O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600):
 * never follows a planted symlink, never reuses a planted file. -1 and errno
 * on failure. */
int boot_create(const char *dir, const char *name);

/* DIR/name into buf; false if it does not fit. */
bool boot_path(char *buf, size_t size, const char *dir, const char *name);

/* The QEMU pid recorded in dir, or 0. */
pid_t boot_read_pid(const char *dir);

/* Whether pid is alive and is the QEMU started for dir (its command line
 * names dir's QMP socket), so a recycled pid is never signalled. */
bool boot_pid_is_ours(pid_t pid, const char *dir);

/* Stops dir's QEMU if it runs (SIGTERM, then SIGKILL after timeout_ms) and
 * removes the files boot makes, then the directory if that empties it.
 * Prints what it did unless quiet. Returns an exit code. */
int boot_remove(const char *cmd, const char *dir, unsigned timeout_ms, bool quiet);

/* `vmic boot --stop TARGET`: boot_remove for a directory boot made (it holds
 * cmdline.txt, written before QEMU starts). */
int boot_stop(const char *cmd, const char *target, unsigned timeout_ms, bool quiet);

#endif
