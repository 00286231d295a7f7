/*
 * Where `vmic boot --plugin` finds libvmic-qemu.so, vmic's QEMU TCG plugin
 * (plugin/README.md). The lookup is fixed and written down, so that a user
 * can tell which file QEMU loads:
 *
 *   1. --plugin=PATH
 *   2. $VMIC_PLUGIN
 *   3. EXEDIR/plugin/libvmic-qemu.so           vmic run from its build tree
 *   4. EXEDIR/../LIBDIR/vmic/libvmic-qemu.so   an installed prefix, moved or not
 *   5. PREFIX/LIBDIR/vmic/libvmic-qemu.so      the configured install prefix
 *
 * EXEDIR is the directory of the running vmic (/proc/self/exe), LIBDIR and
 * PREFIX what CMake installed with (plugin/CMakeLists.txt).
 */
#ifndef VMIC_TOOL_BOOT_PLUGIN_H
#define VMIC_TOOL_BOOT_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>

#define BOOT_PLUGIN_NAME "libvmic-qemu.so"

/* The plugin to load: given (--plugin=PATH; NULL or "" to search) or the
 * lookup above, resolved (realpath) into out (PATH_MAX bytes). Returns an
 * exit code, after saying what was tried. */
int boot_find_plugin(const char *cmd, const char *given, char *out);

/* The default (no --plugin, no --no-plugin): $VMIC_PLUGIN or the lookup's
 * first file, quietly; false when there is none (QEMU runs without). */
bool boot_plugin_found(char *out);

#endif
